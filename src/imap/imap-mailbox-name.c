/* imap-mailbox-name.c - mailbox names between the client and storage.
 *
 * Internal names (storage.h) are UTF-8 with '/' as the hierarchy
 * separator and "INBOX" spelled exactly so. Clients see either modified
 * UTF-7 (RFC 3501 5.1.3) or, after ENABLE UTF8=ACCEPT / IMAP4rev2, UTF-8
 * (RFC 6855 3, RFC 9051 5.1), and the configured separator: '/' with
 * unixhierarchysep: yes, '.' otherwise.
 */
#include "imap.h"
#include "base64.h"
#include "config.h"
#include "utf8.h"

#define MAX_DEPTH 64

char imap_hier_sep(void)
{
    return config_bool(CFG_UNIXHIERARCHYSEP) ? '/' : '.';
}

static bool session_utf8(const struct imap_session *s)
{
    return s && (s->enabled & (EN_UTF8 | EN_IMAP4REV2));
}

/* ---- modified UTF-7 ------------------------------------------------------ */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Modified base64 (RFC 3501 5.1.3): ',' replaces '/'. */
static int b64val(unsigned char c)
{
    return base64_value(c, ',');
}

/* Strict: rejects everything RFC 3501 5.1.3 says must not be produced, so
 * one mailbox cannot have two spellings: printable ASCII inside a shift,
 * "&-" other than for '&', adjacent shifted runs ("-&"), non-zero or too
 * many padding bits, unpaired surrogates, raw 8-bit or control octets. */
bool mutf7_to_utf8(const char *in, size_t len, struct buf *out)
{
    size_t i = 0;
    bool prev_shift_end = false;
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c > 0x7e)
            return false;
        if (c != '&') {
            buf_putc(out, (char)c);
            i++;
            prev_shift_end = false;
            continue;
        }
        i++;
        if (i < len && in[i] == '-') {
            buf_putc(out, '&');
            i++;
            prev_shift_end = false;
            continue;
        }
        if (prev_shift_end)
            return false; /* "-&": two shifted runs must be one */
        uint32_t bits = 0;
        int nbits = 0;
        uint32_t hi_sur = 0;
        size_t units = 0;
        for (;;) {
            if (i >= len)
                return false; /* unterminated */
            unsigned char d = (unsigned char)in[i++];
            if (d == '-')
                break;
            int v = b64val(d);
            if (v < 0)
                return false;
            bits = (bits << 6) | (uint32_t)v;
            nbits += 6;
            if (nbits >= 16) {
                nbits -= 16;
                uint32_t u = (bits >> nbits) & 0xffff;
                bits &= (1u << nbits) - 1;
                units++;
                if (hi_sur) {
                    if (u < 0xdc00 || u > 0xdfff)
                        return false;
                    utf8_put(out, 0x10000 + ((hi_sur - 0xd800) << 10) + (u - 0xdc00));
                    hi_sur = 0;
                } else if (u >= 0xd800 && u <= 0xdbff) {
                    hi_sur = u;
                } else if (u >= 0xdc00 && u <= 0xdfff) {
                    return false;
                } else {
                    if (u >= 0x20 && u <= 0x7e)
                        return false; /* must be represented directly */
                    utf8_put(out, u);
                }
            }
        }
        if (units == 0 || hi_sur || nbits >= 6 || bits != 0)
            return false;
        prev_shift_end = true;
    }
    return true;
}

static void flush_b64(struct buf *out, const uint16_t *u, size_t n)
{
    uint32_t bits = 0;
    int nbits = 0;
    buf_putc(out, '&');
    for (size_t i = 0; i < n; i++) {
        bits = (bits << 16) | u[i];
        nbits += 16;
        while (nbits >= 6) {
            nbits -= 6;
            buf_putc(out, b64chars[(bits >> nbits) & 0x3f]);
        }
        bits &= (1u << nbits) - 1;
    }
    if (nbits > 0)
        buf_putc(out, b64chars[(bits << (6 - nbits)) & 0x3f]);
    buf_putc(out, '-');
}

/* Decode one UTF-8 code point (lenient: invalid bytes become U+FFFD). */
static uint32_t next_cp(const unsigned char *p, size_t len, size_t *adv)
{
    unsigned c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
        *adv = 1;
        return c;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        *adv = 1;
        return 0xfffd;
    }
    if (len < n) {
        *adv = 1;
        return 0xfffd;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *adv = 1;
            return 0xfffd;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    *adv = n;
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0xfffd;
    return cp;
}

void utf8_to_mutf7(const char *in, size_t len, struct buf *out)
{
    uint16_t units[64];
    size_t nu = 0;
    bool shifted = false;
    struct buf tmp = BUF_INIT; /* UTF-16 units of one run, when longer than units[] */
    size_t i = 0;
    while (i < len) {
        size_t adv;
        uint32_t cp = next_cp((const unsigned char *)in + i, len - i, &adv);
        i += adv;
        if (cp >= 0x20 && cp <= 0x7e) {
            if (shifted) {
                flush_b64(out, tmp.len ? (const uint16_t *)(const void *)tmp.data : units,
                          tmp.len ? tmp.len / 2 : nu);
                buf_reset(&tmp);
                nu = 0;
                shifted = false;
            }
            if (cp == '&')
                buf_puts(out, "&-");
            else
                buf_putc(out, (char)cp);
            continue;
        }
        shifted = true;
        uint16_t u[2];
        size_t k;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            u[0] = (uint16_t)(0xd800 + (cp >> 10));
            u[1] = (uint16_t)(0xdc00 + (cp & 0x3ff));
            k = 2;
        } else {
            u[0] = (uint16_t)cp;
            k = 1;
        }
        for (size_t j = 0; j < k; j++) {
            if (tmp.len == 0 && nu < ARRAY_SIZE(units)) {
                units[nu++] = u[j];
            } else {
                if (tmp.len == 0)
                    buf_append(&tmp, units, nu * 2);
                buf_append(&tmp, &u[j], 2);
            }
        }
    }
    if (shifted)
        flush_b64(out, tmp.len ? (const uint16_t *)(const void *)tmp.data : units, tmp.len ? tmp.len / 2 : nu);
    buf_free(&tmp);
}

/* ---- validation --------------------------------------------------------- */

/* Validate an internal name: non-empty levels, no controls, no
 * wildcards, bounded length and depth. */
static bool valid_internal(const char *n, size_t len, size_t maxlen, unsigned max_depth, const char **why)
{
    if (len == 0) {
        *why = "Empty mailbox name";
        return false;
    }
    if (len > maxlen) {
        *why = "Mailbox name too long";
        return false;
    }
    unsigned depth = 1;
    /* "." and ".." levels mean nothing here (names are rows, not paths),
     * but they look like path tricks ("Other Users/alice/../bob") and no
     * client needs them: refuse them as Cyrus does. */
    for (size_t st = 0; st < len;) {
        size_t e = st;
        while (e < len && n[e] != '/')
            e++;
        if ((e - st == 1 && n[st] == '.') || (e - st == 2 && n[st] == '.' && n[st + 1] == '.')) {
            *why = "Mailbox name levels \".\" and \"..\" are not allowed";
            return false;
        }
        st = e + 1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n[i];
        if (c < 0x20 || c == 0x7f) {
            *why = "Invalid character in mailbox name";
            return false;
        }
        if (c == '*' || c == '%') {
            *why = "Wildcards not allowed in mailbox names";
            return false;
        }
        if (c == '/') {
            if (i == 0 || i + 1 == len || n[i + 1] == '/') {
                *why = "Invalid hierarchy in mailbox name";
                return false;
            }
            if (++depth > max_depth) {
                *why = "Mailbox hierarchy too deep";
                return false;
            }
        }
    }
    return true;
}

static unsigned count_char(const char *p, char c)
{
    unsigned n = 0;
    for (; *p; p++)
        n += *p == c;
    return n;
}

/* Does name start with prefix followed by the end or '/'? (as access
 * layer namespace matching: exact bytes) *rest = what follows the '/'. */
static bool ns_prefix(const char *name, const char *prefix, const char **rest)
{
    size_t pl = strlen(prefix);
    if (pl == 0 || strncmp(name, prefix, pl) != 0 || (name[pl] != '\0' && name[pl] != '/'))
        return false;
    *rest = name[pl] ? name + pl + 1 : name + pl;
    return true;
}

/* The part of an internal client name that is a mailbox name inside its
 * store: after "<other>/USER/" (the account level itself is INBOX), after
 * "<shared>/", else all of it. */
static const char *store_part(const struct imap_session *s, const char *name)
{
    const struct access_who *w = s ? &s->who : NULL;
    const char *rest;
    if (ns_prefix(name, access_other_prefix(w), &rest)) {
        const char *slash = strchr(rest, '/');
        return slash ? slash + 1 : "INBOX";
    }
    if (ns_prefix(name, access_shared_prefix(w), &rest))
        return rest;
    return name;
}

static bool from_client(struct imap_session *s, const char *name, size_t len, char *out, size_t maxlen,
                        unsigned max_depth, const char **why);

bool imap_mailbox_from_client(struct imap_session *s, const char *name, size_t len, char *out, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    const struct access_who *w = s ? &s->who : NULL;
    /* the namespace prefix and the user level add levels of their own */
    unsigned extra = 2 + MAX(count_char(access_other_prefix(w), '/'), count_char(access_shared_prefix(w), '/'));
    if (!from_client(s, name, len, out, IMAP_MAX_CLIENT_NAME, MAX_DEPTH + extra, why))
        return false;
    const char *part = store_part(s, out);
    if (strlen(part) > STORAGE_MAX_MAILBOX_NAME) {
        *why = "Mailbox name too long";
        return false;
    }
    if (count_char(part, '/') >= MAX_DEPTH) {
        *why = "Mailbox hierarchy too deep";
        return false;
    }
    return true;
}

bool imap_store_mailbox_from_client(struct imap_session *s, const char *name, size_t len, char *out,
                                    const char **why)
{
    const char *dummy;
    return from_client(s, name, len, out, STORAGE_MAX_MAILBOX_NAME, MAX_DEPTH, why ? why : &dummy);
}

static bool from_client(struct imap_session *s, const char *name, size_t len, char *out, size_t maxlen,
                        unsigned max_depth, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    struct buf b = BUF_INIT;
    char sep = imap_hier_sep();
    if (memchr(name, '\0', len)) {
        *why = "Invalid character in mailbox name";
        return false;
    }
    if (session_utf8(s)) {
        if (!utf8_valid(name, len)) {
            *why = "Invalid UTF-8 in mailbox name";
            return false;
        }
        buf_append(&b, name, len);
    } else if (!mutf7_to_utf8(name, len, &b)) {
        buf_free(&b);
        *why = "Invalid modified UTF-7 in mailbox name";
        return false;
    }
    char *n = b.data ? b.data : (char *)"";
    size_t nl = b.len;
    if (sep != '/') {
        for (size_t i = 0; i < nl; i++) {
            if (n[i] == '/') {
                buf_free(&b);
                *why = "'/' is not allowed in mailbox names";
                return false;
            }
            if (n[i] == sep)
                n[i] = '/';
        }
    }
    if (!valid_internal(n, nl, maxlen, max_depth, why)) {
        buf_free(&b);
        return false;
    }
    /* INBOX is case-insensitive, also as the first level (RFC 9051 5.1). */
    if (nl >= 5 && strncasecmp(n, "INBOX", 5) == 0 && (nl == 5 || n[5] == '/'))
        memcpy(n, "INBOX", 5);
    memcpy(out, n, nl);
    out[nl] = '\0';
    buf_free(&b);
    return true;
}

void imap_mailbox_to_client(struct imap_session *s, const char *internal, struct buf *b)
{
    char sep = imap_hier_sep();
    size_t len = strlen(internal);
    size_t start = b->len;
    if (session_utf8(s))
        buf_append(b, internal, len);
    else
        utf8_to_mutf7(internal, len, b);
    if (sep != '/') {
        for (size_t i = start; i < b->len; i++)
            if (b->data[i] == '/')
                b->data[i] = sep;
    }
}

/* ---- LIST pattern matching ---------------------------------------------- */

/* A LIST pattern is compiled once per command into tokens: literal runs,
 * '%' and '*', with runs of wildcards collapsed ("**" and "%*" are "*",
 * "%%" is "%": they match the same names). Matching then walks the tokens
 * over the set of name positions the pattern prefix can end at (a byte
 * per position):
 *   '*'      the set becomes [min, n];
 *   '%'      every member extends rightwards up to the next separator;
 *   literal  the members at which the literal occurs, moved past it; the
 *            occurrences are found with Knuth-Morris-Pratt, so one token
 *            costs O(n) whatever the pattern looks like.
 * A match costs O(tokens x name length) with no backtracking, and stops
 * as soon as the set is empty. The earlier matcher was a plain
 * O(pattern x name) dynamic programme: "%*%*...%*x" of 1 MiB took most of
 * a second per long mailbox name. LIST also bounds the patterns
 * themselves (imap_list_pattern_limit): IMAP_LIST_MAX_WILDCARDS
 * wildcards in all the patterns of a command, so the work per listed
 * name is at most about (2 * IMAP_LIST_MAX_WILDCARDS + patterns) passes
 * over the name (~0.15 ms for a 1,600-byte name at the worst).
 *
 * The "INBOX" level of a name ("INBOX" or "INBOX/...") matches
 * case-insensitively (RFC 9051 5.1); only name positions 0..4 compare that
 * way, so literal occurrences starting there are checked directly and
 * KMP handles the rest with exact comparison. */

enum { LTOK_LIT, LTOK_PCT, LTOK_STAR };

struct list_tok {
    unsigned char type;
    size_t off, len;            /* LTOK_LIT: bytes lit[off..off+len), fail[off..] */
};

struct imap_list_pattern {
    char sep;
    struct list_tok *tok;
    size_t ntok;
    char *lit;                  /* the literal runs, concatenated */
    size_t *fail;               /* KMP failure function of each run */
};

struct imap_list_pattern *imap_list_pattern_new(const char *pattern, char sep)
{
    struct imap_list_pattern *p = xcalloc(1, sizeof(*p));
    size_t m = strlen(pattern);
    p->sep = sep;
    p->tok = xmalloc((m + 1) * sizeof(*p->tok));
    p->lit = xmalloc(m + 1);
    p->fail = xmalloc((m + 1) * sizeof(*p->fail));
    size_t nlit = 0;
    for (size_t i = 0; i < m; i++) {
        char c = pattern[i];
        if (c == '*' || c == '%') {
            unsigned char t = c == '*' ? LTOK_STAR : LTOK_PCT;
            struct list_tok *last = p->ntok ? &p->tok[p->ntok - 1] : NULL;
            if (last && last->type != LTOK_LIT) {
                if (t == LTOK_STAR)
                    last->type = LTOK_STAR;
            } else {
                p->tok[p->ntok++] = (struct list_tok){.type = t};
            }
            continue;
        }
        struct list_tok *last = p->ntok ? &p->tok[p->ntok - 1] : NULL;
        if (!last || last->type != LTOK_LIT) {
            p->tok[p->ntok++] = (struct list_tok){.type = LTOK_LIT, .off = nlit, .len = 0};
            last = &p->tok[p->ntok - 1];
        }
        p->lit[nlit++] = c;
        last->len++;
    }
    p->lit[nlit] = '\0';
    for (size_t t = 0; t < p->ntok; t++) {
        if (p->tok[t].type != LTOK_LIT)
            continue;
        const char *l = p->lit + p->tok[t].off;
        size_t *f = p->fail + p->tok[t].off;
        size_t len = p->tok[t].len, k = 0;
        f[0] = 0;
        for (size_t i = 1; i < len; i++) {
            while (k > 0 && l[i] != l[k])
                k = f[k - 1];
            if (l[i] == l[k])
                k++;
            f[i] = k;
        }
    }
    return p;
}

void imap_list_pattern_free(struct imap_list_pattern *p)
{
    if (!p)
        return;
    free(p->tok);
    free(p->lit);
    free(p->fail);
    free(p);
}

/* Does literal l (len bytes) occur in name at position q? */
static bool lit_at(const char *name, size_t q, const char *l, size_t len, bool inbox)
{
    for (size_t i = 0; i < len; i++) {
        char nc = name[q + i], pc = l[i];
        if (nc == pc)
            continue;
        if (inbox && q + i < 5 && (unsigned char)pc < 0x80 && (nc | 0x20) == (pc | 0x20))
            continue;
        return false;
    }
    return true;
}

bool imap_list_pattern_match(const struct imap_list_pattern *p, const char *name)
{
    size_t n = strlen(name);
    char sep = p->sep;
    if (p->ntok == 0)
        return n == 0;
    if (p->ntok == 1 && p->tok[0].type == LTOK_STAR)
        return true;
    bool inbox = n >= 5 && memcmp(name, "INBOX", 5) == 0 && (n == 5 || name[5] == sep);
    unsigned char small[2][512];
    unsigned char *cur, *nxt, *heap = NULL;
    if (n + 1 <= sizeof(small[0])) {
        cur = small[0];
        nxt = small[1];
    } else {
        heap = xmalloc(2 * (n + 1));
        cur = heap;
        nxt = heap + n + 1;
    }
    /* cur[j]: the tokens so far can match name[0..j); members in [lo, hi] */
    memset(cur, 0, n + 1);
    cur[0] = 1;
    size_t lo = 0, hi = 0;
    bool result = false;
    for (size_t t = 0; t < p->ntok; t++) {
        const struct list_tok *k = &p->tok[t];
        bool last = t + 1 == p->ntok;
        if (k->type == LTOK_STAR) {
            if (last) {
                result = true; /* the set is not empty */
                goto out;
            }
            memset(cur + lo, 1, n + 1 - lo);
            hi = n;
        } else if (k->type == LTOK_PCT) {
            bool run = false;
            size_t top = hi; /* the last member before extending */
            for (size_t j = lo; j <= n; j++) {
                if (j > lo && name[j - 1] == sep)
                    run = false;
                if (!run && j > top)
                    break; /* nothing further is reachable */
                run = run || cur[j];
                cur[j] = run;
                if (run)
                    hi = j;
            }
        } else {
            const char *l = p->lit + k->off;
            size_t len = k->len;
            if (len > n || lo > n - len) {
                result = false;
                goto out;
            }
            if (last) {
                /* only an occurrence that ends the name counts */
                result = cur[n - len] && lit_at(name, n - len, l, len, inbox);
                goto out;
            }
            size_t qmax = MIN(hi, n - len); /* last possible start */
            memset(nxt, 0, n + 1);
            size_t nlo = SIZE_MAX, nhi = 0;
            size_t q = lo;
            /* starts inside "INBOX" compare case-insensitively: directly;
             * a single start (the pattern's leading literal) too */
            size_t direct_end = lo == hi ? qmax + 1 : inbox ? MIN(qmax + 1, (size_t)5) : lo;
            for (; q < direct_end; q++) {
                if (cur[q] && lit_at(name, q, l, len, inbox)) {
                    nxt[q + len] = 1;
                    nlo = MIN(nlo, q + len);
                    nhi = q + len;
                }
            }
            if (q <= qmax) {
                /* KMP over name[q .. qmax+len): exact comparison */
                const size_t *f = p->fail + k->off;
                size_t mlen = 0;
                for (size_t i = q; i < qmax + len; i++) {
                    while (mlen > 0 && l[mlen] != name[i])
                        mlen = f[mlen - 1];
                    if (l[mlen] == name[i])
                        mlen++;
                    if (mlen == len) {
                        size_t start = i + 1 - len;
                        if (cur[start]) {
                            nxt[i + 1] = 1;
                            nlo = MIN(nlo, i + 1);
                            nhi = i + 1;
                        }
                        mlen = f[len - 1];
                    }
                }
            }
            if (nlo == SIZE_MAX) {
                result = false;
                goto out;
            }
            unsigned char *tmp = cur;
            cur = nxt;
            nxt = tmp;
            lo = nlo;
            hi = nhi;
        }
    }
    result = cur[n] != 0;
out:
    free(heap);
    return result;
}

bool imap_list_match(const char *pattern, const char *name, char sep)
{
    struct imap_list_pattern *p = imap_list_pattern_new(pattern, sep);
    bool r = imap_list_pattern_match(p, name);
    imap_list_pattern_free(p);
    return r;
}

static unsigned count_wildcards(const char *p)
{
    unsigned w = 0;
    for (; *p; p++)
        w += *p == '*' || *p == '%';
    return w;
}

const char *imap_list_pattern_limit(const char *ref, const char *const *pats, size_t np)
{
    if (np > IMAP_LIST_MAX_PATTERNS)
        return "[LIMIT] Too many mailbox patterns";
    size_t rl = strlen(ref);
    unsigned rw = count_wildcards(ref), w = 0;
    for (size_t i = 0; i < np; i++) {
        if (rl + strlen(pats[i]) > IMAP_LIST_MAX_PATTERN_LEN)
            return "[LIMIT] Mailbox pattern too long";
        /* the reference is part of every pattern it is joined to */
        w += rw + count_wildcards(pats[i]);
    }
    if (w > IMAP_LIST_MAX_WILDCARDS)
        return "[LIMIT] Too many wildcards in mailbox patterns";
    return NULL;
}
