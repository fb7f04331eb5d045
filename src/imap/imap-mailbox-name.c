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

static bool valid_utf8(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t adv;
        uint32_t cp = next_cp((const unsigned char *)s + i, len - i, &adv);
        if (cp == 0xfffd && !(adv == 3 && (unsigned char)s[i] == 0xef))
            return false;
        i += adv;
    }
    return true;
}

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
        if (!valid_utf8(name, len)) {
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

/* Dynamic programming over (pattern position, name position) so that
 * hostile patterns like "*%*%*%*a" cannot make matching exponential.
 * '*' matches anything, '%' anything but sep. The "INBOX" prefix of a
 * name matches case-insensitively. */
bool imap_list_match(const char *pattern, const char *name, char sep)
{
    size_t m = strlen(pattern), n = strlen(name);
    bool inbox = n >= 5 && memcmp(name, "INBOX", 5) == 0 && (n == 5 || name[5] == sep);
    bool small[2][256];
    bool *prev, *cur, *heap = NULL;
    if (n + 1 <= 256) {
        prev = small[0];
        cur = small[1];
    } else {
        heap = xmalloc(2 * (n + 1));
        prev = heap;
        cur = heap + n + 1;
    }
    /* prev[j]: pattern[0..i) matches name[0..j) */
    memset(prev, 0, n + 1);
    prev[0] = true;
    for (size_t i = 0; i < m; i++) {
        char pc = pattern[i];
        memset(cur, 0, n + 1);
        if (pc == '*') {
            bool any = false;
            for (size_t j = 0; j <= n; j++) {
                any = any || prev[j];
                cur[j] = any;
            }
        } else if (pc == '%') {
            bool any = false;
            for (size_t j = 0; j <= n; j++) {
                if (j > 0 && name[j - 1] == sep)
                    any = false;
                any = any || prev[j];
                cur[j] = any;
            }
        } else {
            for (size_t j = 1; j <= n; j++) {
                if (!prev[j - 1])
                    continue;
                char nc = name[j - 1];
                bool eq = nc == pc;
                if (!eq && inbox && j <= 5 && (unsigned char)pc < 0x80)
                    eq = (nc | 0x20) == (pc | 0x20);
                cur[j] = eq;
            }
        }
        bool *t = prev;
        prev = cur;
        cur = t;
    }
    bool r = prev[n];
    free(heap);
    return r;
}
