/* sieve-match.c - comparators (RFC 4790, RFC 5228 2.7.3), the :matches
 * wildcard match (2.7.1) and the address parsing of the address and
 * envelope tests (5.1, 2.7.4).
 */
#include "sieve-private.h"

#include <ctype.h>

static inline unsigned char fold(int cmp, unsigned char c)
{
    return cmp == SV_CMP_CASEMAP && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* i;ascii-numeric (RFC 4790 9.1): the value is the leading digits of the
 * string; a string not starting with a digit is positive infinity, equal
 * only to another such string. Compared without converting (any length). */
static int numeric_order(const char *a, size_t al, const char *b, size_t bl)
{
    size_t da = 0, db = 0;
    while (da < al && isdigit((unsigned char)a[da]))
        da++;
    while (db < bl && isdigit((unsigned char)b[db]))
        db++;
    if (da == 0 || db == 0)
        return (da == 0) - (db == 0);
    size_t ia = 0, ib = 0;
    while (ia < da - 1 && a[ia] == '0')
        ia++;
    while (ib < db - 1 && b[ib] == '0')
        ib++;
    size_t la = da - ia, lb = db - ib;
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = memcmp(a + ia, b + ib, la);
    return c < 0 ? -1 : c > 0;
}

int sv_cmp_order(int cmp, const char *a, size_t al, const char *b, size_t bl)
{
    if (cmp == SV_CMP_NUMERIC)
        return numeric_order(a, al, b, bl);
    size_t n = MIN(al, bl);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = fold(cmp, (unsigned char)a[i]), y = fold(cmp, (unsigned char)b[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return al == bl ? 0 : al < bl ? -1 : 1;
}

bool sv_cmp_eq(int cmp, const char *a, size_t al, const char *b, size_t bl)
{
    return sv_cmp_order(cmp, a, al, b, bl) == 0;
}

/* Substring search in linear time (glibc's memmem is the two-way
 * algorithm): a 64 KiB key against a 1 MiB body must not cost their
 * product. i;ascii-casemap folds copies of both first. */
bool sv_cmp_contains(int cmp, const char *hay, size_t hl, const char *needle, size_t nl)
{
    if (nl == 0)
        return true;
    if (nl > hl)
        return false;
    if (cmp != SV_CMP_CASEMAP)
        return memmem(hay, hl, needle, nl) != NULL;
    char *h = xmalloc(hl), *n = xmalloc(nl);
    for (size_t i = 0; i < hl; i++)
        h[i] = (char)fold(cmp, (unsigned char)hay[i]);
    for (size_t i = 0; i < nl; i++)
        n[i] = (char)fold(cmp, (unsigned char)needle[i]);
    bool found = memmem(h, hl, n, nl) != NULL;
    free(h);
    free(n);
    return found;
}

/* Can glibc compile and run this POSIX ERE in bounded time and memory?
 * Backreferences make matching exponential. glibc expands "x+" into
 * "xx*" and "x{m,n}" into n copies of x, duplicating x's whole subtree,
 * so stacked or nested repetitions ("[A-Z]+++...", "((a{9}){9}){9}")
 * grow the compiled tree exponentially (fuzz-sieve ran it out of
 * memory). This estimates the size of the tree glibc builds and refuses
 * patterns past 2000 nodes. */
bool sv_regex_safe(const char *p, size_t n)
{
    uint64_t stack[64];
    int sp = 0;
    uint64_t cur = 0, last = 0;
    const uint64_t max = 2000;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            if (p[i + 1] >= '1' && p[i + 1] <= '9')
                return false;
            i++;
            last = 1;
            cur += 1;
        } else if (c == '[') {
            /* a bracket expression is one node; ']' first is literal */
            size_t j = i + 1;
            if (j < n && p[j] == '^')
                j++;
            if (j < n && p[j] == ']')
                j++;
            while (j < n && p[j] != ']') {
                if (p[j] == '[' && j + 1 < n && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
                    char close = p[j + 1];
                    j += 2;
                    while (j + 1 < n && !(p[j] == close && p[j + 1] == ']'))
                        j++;
                    j++;
                }
                j++;
            }
            i = j;
            last = 1;
            cur += 1;
        } else if (c == '(') {
            if (sp >= (int)ARRAY_SIZE(stack))
                return false;
            stack[sp++] = cur;
            cur = 0;
            last = 0;
        } else if (c == ')') {
            uint64_t g = cur + 1;
            cur = sp > 0 ? stack[--sp] : 0;
            cur += g;
            last = g;
        } else if (c == '|') {
            cur += 1;
            last = 0;
        } else if (c == '*' || c == '?') {
            cur += 1;
            last += 1;
        } else if (c == '+') {
            cur += last;
            last *= 2;
        } else if (c == '{') {
            uint64_t lo = 0, hi;
            size_t j = i + 1;
            while (j < n && p[j] >= '0' && p[j] <= '9' && lo < 100000)
                lo = lo * 10 + (uint64_t)(p[j++] - '0');
            hi = lo;
            if (j < n && p[j] == ',') {
                j++;
                bool any = false;
                hi = 0;
                while (j < n && p[j] >= '0' && p[j] <= '9' && hi < 100000) {
                    hi = hi * 10 + (uint64_t)(p[j++] - '0');
                    any = true;
                }
                if (!any)
                    hi = lo + 1; /* "{m,}": m copies and a star */
            }
            uint64_t f = MAX(MAX(lo, hi), 1);
            cur += last * (f - 1) + 1;
            last *= f;
        } else {
            cur += 1;
            last = 1;
        }
        if (cur > max || last > max)
            return false;
        for (int k = 0; k < sp; k++)
            if (stack[k] + cur > max)
                return false;
    }
    return true;
}

/* Length of the UTF-8 character at s (1 for a stray byte): "?" matches
 * one character, not one byte (RFC 5228 2.7.1). */
static size_t char_len(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (k > n)
        return 1;
    for (size_t i = 1; i < k; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            return 1;
    return k;
}

/* The pattern compiled into tokens: literal runs, '?' and '*' ("\\" quotes
 * the next character, 2.7.1). */
struct ptok {
    char kind; /* 'l', '?', '*' */
    size_t off, len;
};

/* Iterative wildcard match with the classic single backtrack point for
 * the last '*' (linear in text x pattern at worst), then a second pass
 * to fill the captures: each '*' takes as little as possible from the
 * left, as RFC 5229 3.2 asks ("non-greedy"). */
bool sv_cmp_matches(int cmp, const char *text, size_t tl, const char *pat, size_t pl, struct sv_cap *caps,
                    size_t *ncaps, uint64_t *steps, uint64_t max_steps)
{
    /* unescape into a literal buffer with tokens */
    struct ptok tk[256];
    size_t nt = 0;
    char *lit = xmalloc(pl + 1);
    size_t ll = 0;
    bool ok = true;
    for (size_t i = 0; i < pl;) {
        if (nt >= ARRAY_SIZE(tk) - 1) {
            ok = false; /* pattern too complex: no match */
            break;
        }
        char c = pat[i];
        if (c == '*' || c == '?') {
            /* "**" stays two wildcards: RFC 5229 3.2 numbers each one
             * ("coyote@**.com": ${1} is empty, ${2} the rest) */
            tk[nt].kind = c;
            tk[nt].off = tk[nt].len = 0;
            nt++;
            i++;
            continue;
        }
        if (c == '\\' && i + 1 < pl)
            i++;
        if (!nt || tk[nt - 1].kind != 'l') {
            tk[nt].kind = 'l';
            tk[nt].off = ll;
            tk[nt].len = 0;
            nt++;
        }
        lit[ll++] = pat[i++];
        tk[nt - 1].len++;
    }
    if (!ok) {
        free(lit);
        return false;
    }
    /* match: positions per token recorded for the captures */
    size_t start[256], end[256];
    size_t ti = 0, pos = 0;
    size_t star_ti = SIZE_MAX, star_pos = 0;
    bool matched = false;
    for (;;) {
        if (steps && ++*steps > max_steps)
            break; /* out of budget: no match, the caller reports it */
        if (ti == nt) {
            if (pos == tl) {
                matched = true;
                break;
            }
        } else {
            const struct ptok *t = &tk[ti];
            if (t->kind == '*') {
                star_ti = ti;
                star_pos = pos;
                start[ti] = pos;
                end[ti] = pos;
                ti++;
                continue;
            }
            if (t->kind == '?' && pos < tl) {
                start[ti] = pos;
                pos += char_len(text + pos, tl - pos);
                end[ti] = pos;
                ti++;
                continue;
            }
            if (t->kind == 'l' && tl - pos >= t->len) {
                size_t k = 0;
                while (k < t->len && fold(cmp, (unsigned char)text[pos + k]) == fold(cmp, (unsigned char)lit[t->off + k]))
                    k++;
                if (steps)
                    *steps += k; /* compared characters count too */
                if (k == t->len) {
                    start[ti] = pos;
                    pos += t->len;
                    end[ti] = pos;
                    ti++;
                    continue;
                }
            }
        }
        /* mismatch: let the last '*' take one more character */
        if (star_ti == SIZE_MAX || star_pos >= tl)
            break;
        star_pos += char_len(text + star_pos, tl - star_pos);
        end[star_ti] = star_pos;
        pos = star_pos;
        ti = star_ti + 1;
    }
    free(lit);
    if (matched && caps && ncaps) {
        /* ${0} is the whole text, ${1}.. the wildcards in order */
        size_t n = 0;
        caps[n].off = 0;
        caps[n].len = tl;
        n++;
        for (size_t i = 0; i < nt && n < SV_MAX_CAPS; i++) {
            if (tk[i].kind == 'l')
                continue;
            caps[n].off = start[i];
            caps[n].len = end[i] - start[i];
            n++;
        }
        *ncaps = n;
    }
    return matched;
}

/* ---- addresses (RFC 5322 3.4, as RFC 5228 5.1 asks) ---- */

static void skip_cfws(const char *v, size_t len, size_t *i)
{
    int depth = 0;
    while (*i < len) {
        char c = v[*i];
        if (depth) {
            if (c == '\\' && *i + 1 < len)
                (*i)++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            (*i)++;
        } else if (c == '(') {
            depth = 1;
            (*i)++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            (*i)++;
        } else {
            break;
        }
        if (depth > 100)
            depth = 100; /* bounded, no recursion anyway */
    }
}

/* Parse an address list into addr-specs. Display names, comments, groups
 * and routes are dropped; a mailbox is "local@domain" from inside <...>
 * or the bare addr-spec. Quoted local parts keep their content unquoted.
 * Garbage yields what it can; at most max addresses. */
size_t sv_parse_addresses(const char *v, size_t len, struct sv_addr **out, size_t max)
{
    *out = NULL;
    size_t n = 0, cap = 0;
    size_t i = 0;
    struct buf word = BUF_INIT;   /* the current mailbox candidate (outside <>) */
    struct buf angle = BUF_INIT;  /* inside <> */
    bool in_angle = false, had_angle = false;
    while (i <= len && n < max) {
        char c = i < len ? v[i] : ',';
        if (!in_angle && (c == ',' || c == ';' || (c == ':' && !had_angle))) {
            if (c == ':') {
                /* a group name (or garbage): forget it */
                buf_reset(&word);
                i++;
                continue;
            }
            struct buf *src = had_angle ? &angle : &word;
            /* strip whitespace */
            const char *s = buf_cstr(src);
            size_t sl = src->len;
            while (sl && (s[sl - 1] == ' ' || s[sl - 1] == '\t'))
                sl--;
            while (sl && (*s == ' ' || *s == '\t'))
                s++, sl--;
            if (had_angle) {
                /* drop a source route "@a,@b:" */
                const char *colon = memchr(s, ':', sl);
                if (sl && s[0] == '@' && colon) {
                    sl -= (size_t)(colon + 1 - s);
                    s = colon + 1;
                }
            }
            if (sl > 0) {
                ARRAY_GROW(*out, n, cap);
                const char *at = NULL;
                for (size_t k = sl; k > 0; k--)
                    if (s[k - 1] == '@') {
                        at = s + k - 1;
                        break;
                    }
                if (at) {
                    (*out)[n].local = xstrndup(s, (size_t)(at - s));
                    (*out)[n].domain = xstrndup(at + 1, sl - (size_t)(at - s) - 1);
                } else {
                    (*out)[n].local = xstrndup(s, sl);
                    (*out)[n].domain = NULL;
                }
                n++;
            }
            buf_reset(&word);
            buf_reset(&angle);
            had_angle = false;
            i++;
            continue;
        }
        if (c == '(') {
            skip_cfws(v, len, &i);
            if (!in_angle)
                buf_putc(&word, ' ');
            continue;
        }
        if (c == '"') {
            /* quoted string: content without the quotes and escapes */
            struct buf *dst = in_angle ? &angle : &word;
            i++;
            while (i < len && v[i] != '"') {
                if (v[i] == '\\' && i + 1 < len)
                    i++;
                if (v[i] != '\r' && v[i] != '\n')
                    buf_putc(dst, v[i]);
                i++;
            }
            i++;
            continue;
        }
        if (c == '<' && !in_angle) {
            in_angle = true;
            had_angle = true;
            buf_reset(&angle);
            i++;
            continue;
        }
        if (c == '>' && in_angle) {
            in_angle = false;
            i++;
            continue;
        }
        if (c == '\r' || c == '\n') {
            i++;
            continue;
        }
        if (in_angle) {
            if (c != ' ' && c != '\t')
                buf_putc(&angle, c);
        } else if (!had_angle) {
            /* a bare addr-spec has no spaces; words before '<' are the
             * display name and get replaced when '<' comes */
            buf_putc(&word, c);
        }
        i++;
    }
    buf_free(&word);
    buf_free(&angle);
    return n;
}

void sv_addrs_free(struct sv_addr *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].local);
        free(a[i].domain);
    }
    free(a);
}
