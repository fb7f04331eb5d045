/* imap-url.c - the IMAP URL parser (RFC 5092 section 11 ABNF, with the
 * URLAUTH parts of RFC 4467 section 7 / RFC 5092). See imap-url.h.
 *
 * Every byte comes from a client: the input is bounded (IMAP_URL_MAX),
 * only the characters the ABNF allows in each component are accepted,
 * %-escapes must be two hex digits and must not decode to NUL, numbers
 * are nz-number (1..4294967295) where the ABNF says so, and nothing is
 * allocated beyond a copy of each component.
 */
#include "imap-url.h"
#include "datetime.h"

#include <strings.h>

#define URL_MAX_TOKEN 256   /* enc-urlauth: 32*HEXDIG; ours are 40 */
#define URL_MAX_MECH 64

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hexval(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/* unreserved / sub-delims-sh (RFC 5092 11); '%' is checked separately */
static bool is_uchar(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '!' || c == '$' ||
           c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',';
}

static bool is_achar(unsigned char c)
{
    return is_uchar(c) || c == '&' || c == '=';
}

static bool is_bchar(unsigned char c)
{
    return is_achar(c) || c == ':' || c == '@' || c == '/';
}

char *imap_url_pct_decode(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2])) {
                free(out);
                return NULL;
            }
            c = (unsigned char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            if (c == 0) {
                free(out);
                return NULL;
            }
            i += 2;
        } else if (c == 0) {
            free(out);
            return NULL;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

/* A run of characters of class cls (or %-escapes) from *p; returns its
 * length (0: none). A bad %-escape stops the run and sets *bad. */
static size_t run(const char *p, const char *end, bool (*cls)(unsigned char), bool *bad)
{
    const char *q = p;
    while (q < end) {
        if (*q == '%') {
            if (end - q < 3 || !is_hex((unsigned char)q[1]) || !is_hex((unsigned char)q[2])) {
                *bad = true;
                return (size_t)(q - p);
            }
            q += 3;
        } else if (cls((unsigned char)*q)) {
            q++;
        } else {
            break;
        }
    }
    return (size_t)(q - p);
}

/* Case-insensitive prefix test and skip. */
static bool skip_kw(const char **p, const char *end, const char *kw)
{
    size_t n = strlen(kw);
    if ((size_t)(end - *p) < n || strncasecmp(*p, kw, n) != 0)
        return false;
    *p += n;
    return true;
}

/* number (nz: at least 1) up to 4294967295, no leading '+'/'-'. */
static bool parse_u32(const char **p, const char *end, bool nz, uint32_t *out)
{
    const char *q = *p;
    uint64_t v = 0;
    if (nz && q < end && *q == '0')
        return false;   /* nz-number = digit-nz *DIGIT */
    while (q < end && is_digit((unsigned char)*q)) {
        v = v * 10 + (uint64_t)(*q - '0');
        if (v > UINT32_MAX)
            return false;
        q++;
        if (q - *p > 10)
            return false;
    }
    if (q == *p || (nz && v == 0))
        return false;
    *p = q;
    *out = (uint32_t)v;
    return true;
}

static bool parse_digits(const char **p, const char *end, size_t n, int *out)
{
    if ((size_t)(end - *p) < n)
        return false;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* RFC 3339 date-time: full-date "T" partial-time time-offset. */
static bool parse_rfc3339(const char **p, const char *end, int64_t *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *q = *p;
    if (!parse_digits(&q, end, 4, &y) || q >= end || *q++ != '-' || !parse_digits(&q, end, 2, &mo) || q >= end ||
        *q++ != '-' || !parse_digits(&q, end, 2, &d) || q >= end || (*q != 'T' && *q != 't'))
        return false;
    q++;
    if (!parse_digits(&q, end, 2, &h) || q >= end || *q++ != ':' || !parse_digits(&q, end, 2, &mi) || q >= end ||
        *q++ != ':' || !parse_digits(&q, end, 2, &sec))
        return false;
    if (q < end && *q == '.') {
        q++;
        const char *f = q;
        while (q < end && is_digit((unsigned char)*q) && q - f < 12)
            q++;
        if (q == f || (q < end && is_digit((unsigned char)*q)))
            return false;
    }
    if (q < end && (*q == 'Z' || *q == 'z')) {
        q++;
    } else if (q < end && (*q == '+' || *q == '-')) {
        sign = *q == '-' ? -1 : 1;
        q++;
        if (!parse_digits(&q, end, 2, &oh) || q >= end || *q++ != ':' || !parse_digits(&q, end, 2, &om))
            return false;
    } else {
        return false;
    }
    if (y < 1 || !date_valid_ymd(y, mo, d) || h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
        return false;
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + MIN(sec, 59);
    t -= (int64_t)sign * (oh * 3600 + om * 60);
    *p = q;
    *out = t;
    return true;
}

static bool is_host_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

void imap_url_free(struct imap_url *u)
{
    free(u->user);
    free(u->auth_type);
    free(u->host);
    free(u->mailbox);
    free(u->search);
    free(u->section);
    free(u->access_user);
    free(u->mech);
    free(u->token);
    memset(u, 0, sizeof(*u));
}

/* iserver = [iuserinfo "@"] host [":" port], ending at '/', '?' or the end. */
static bool parse_server(const char **pp, const char *end, struct imap_url *u, const char **err)
{
    const char *p = *pp;
    const char *aend = p;
    while (aend < end && *aend != '/' && *aend != '?')
        aend++;
    const char *at = NULL;
    for (const char *q = p; q < aend; q++)
        if (*q == '@')
            at = q;   /* host has no '@': the last one ends the userinfo */
    if (at) {
        /* iuserinfo = enc-user [iauth] / [enc-user] iauth */
        bool bad = false;
        size_t n = run(p, at, is_achar, &bad);
        if (bad) {
            *err = "Bad %-escape in the URL's user";
            return false;
        }
        if (n > 0 && !(u->user = imap_url_pct_decode(p, n))) {
            *err = "Bad user in URL";
            return false;
        }
        const char *q = p + n;
        if (q < at) {
            if (!skip_kw(&q, at, ";AUTH=")) {
                *err = "Bad userinfo in URL";
                return false;
            }
            size_t m = (q < at && *q == '*') ? 1 : run(q, at, is_achar, &bad);
            if (bad || m == 0 || q + m != at || !(u->auth_type = imap_url_pct_decode(q, m))) {
                *err = "Bad ;AUTH= in URL";
                return false;
            }
        } else if (n == 0) {
            *err = "Empty userinfo in URL";
            return false;
        }
        p = at + 1;
    }
    const char *h = p;
    if (p < aend && *p == '[') {
        p++;
        while (p < aend && (is_hex((unsigned char)*p) || *p == ':' || *p == '.'))
            p++;
        if (p >= aend || *p != ']' || p - h < 3) {
            *err = "Bad IP literal in URL";
            return false;
        }
        p++;
    } else {
        while (p < aend && is_host_char((unsigned char)*p))
            p++;
    }
    if (p == h || p - h > 255) {
        *err = "Bad host in URL";
        return false;
    }
    u->host = xstrndup(h, (size_t)(p - h));
    for (char *c = u->host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (p < aend && *p == ':') {
        p++;
        uint32_t port;
        if (!parse_u32(&p, aend, true, &port) || port > 65535) {
            *err = "Bad port in URL";
            return false;
        }
        u->port = port;
    }
    if (p != aend) {
        *err = "Bad server in URL";
        return false;
    }
    u->has_server = true;
    *pp = p;
    return true;
}

/* [expire] ";URLAUTH=" access [":" mech ":" token], then the end. */
static bool parse_urlauth(const char *start, const char **pp, const char *end, struct imap_url *u, const char **err)
{
    const char *p = *pp;
    if (skip_kw(&p, end, ";EXPIRE=")) {
        if (!parse_rfc3339(&p, end, &u->expire)) {
            *err = "Bad ;EXPIRE= date-time in URL";
            return false;
        }
        u->has_expire = true;
    }
    if (!skip_kw(&p, end, ";URLAUTH=")) {
        *err = u->has_expire ? "EXPIRE without URLAUTH in URL" : "Junk at the end of the URL";
        return false;
    }
    bool bad = false;
    if (skip_kw(&p, end, "anonymous")) {
        u->access = URL_ACCESS_ANONYMOUS;
    } else if (skip_kw(&p, end, "authuser")) {
        u->access = URL_ACCESS_AUTHUSER;
    } else if (skip_kw(&p, end, "submit+") || skip_kw(&p, end, "user+")) {
        u->access = (p[-2] == 't' || p[-2] == 'T') ? URL_ACCESS_SUBMIT : URL_ACCESS_USER;
        size_t n = run(p, end, is_achar, &bad);
        if (bad || n == 0 || !(u->access_user = imap_url_pct_decode(p, n))) {
            *err = "Bad user in URLAUTH access identifier";
            return false;
        }
        p += n;
    } else {
        *err = "Unknown URLAUTH access identifier";
        return false;
    }
    u->rump_len = (size_t)(p - start);
    if (p < end) {
        if (*p != ':') {
            *err = "Junk after the URLAUTH access identifier";
            return false;
        }
        p++;
        const char *m = p;
        while (p < end && (is_alpha((unsigned char)*p) || is_digit((unsigned char)*p) || *p == '-' || *p == '.'))
            p++;
        if (p == m || p - m > URL_MAX_MECH || p >= end || *p != ':') {
            *err = "Bad URLAUTH mechanism";
            return false;
        }
        u->mech = xstrndup(m, (size_t)(p - m));
        p++;
        const char *t = p;
        while (p < end && is_hex((unsigned char)*p))
            p++;
        if (p != end || p - t < 32 || p - t > URL_MAX_TOKEN) {
            *err = "Bad URLAUTH token";
            return false;
        }
        u->token = xstrndup(t, (size_t)(p - t));
    }
    *pp = p;
    return true;
}

static bool parse_url(const char *s, size_t len, struct imap_url *u, const char **err)
{
    const char *p = s, *end = s + len;
    if (len == 0) {
        *err = "Empty URL";
        return false;
    }
    if (len > IMAP_URL_MAX) {
        *err = "URL too long";
        return false;
    }
    if (memchr(s, '\0', len)) {
        *err = "NUL in URL";
        return false;
    }
    if (skip_kw(&p, end, "imap://") || ((end - p) >= 2 && p[0] == '/' && p[1] == '/' && (p += 2))) {
        if (!parse_server(&p, end, u, err))
            return false;
        if (p == end)
            return true;    /* the server itself */
    } else if (is_alpha((unsigned char)*p)) {
        /* some other scheme ("http:", "imaps:" ...)? */
        const char *q = p;
        while (q < end && (is_alpha((unsigned char)*q) || is_digit((unsigned char)*q) || *q == '+' || *q == '-' ||
                           *q == '.'))
            q++;
        if (q < end && *q == ':') {
            *err = "Not an imap URL";
            return false;
        }
    }
    if (p < end && *p == '/') {
        u->has_path = true;
        p++;
        if (p < end && *p == '/') {
            *err = "Empty mailbox in URL";
            return false;
        }
        if (p == end)
            return true;
    } else if (u->has_server) {
        *err = "Bad URL path";
        return false;
    }
    bool bad = false;
    /* the mailbox: 1*bchar up to ';' or '?' (a '/' just before ";UID="
     * belongs to the separator) */
    size_t n = run(p, end, is_bchar, &bad);
    if (bad) {
        *err = "Bad %-escape in URL mailbox";
        return false;
    }
    size_t mlen = n;
    if (p + n < end && p[n] == ';' && n > 0 && p[n - 1] == '/')
        mlen--;
    if (mlen > 0) {
        if (!(u->mailbox = imap_url_pct_decode(p, mlen))) {
            *err = "Bad mailbox name in URL";
            return false;
        }
    } else if (n > 0 || u->has_path) {
        *err = "Empty mailbox in URL";
        return false;
    }
    p += mlen;
    if (u->mailbox && skip_kw(&p, end, ";UIDVALIDITY=")) {
        if (!parse_u32(&p, end, true, &u->uidvalidity)) {
            *err = "Bad UIDVALIDITY in URL";
            return false;
        }
    }
    if (p < end && *p == '?') {
        /* imessagelist: the mailbox and a search */
        p++;
        size_t k = 0;
        while (p + k < end && (is_bchar((unsigned char)p[k]) || p[k] == '?' || p[k] == '%'))
            k++;
        if (p + k != end || k == 0 || !(u->search = imap_url_pct_decode(p, k))) {
            *err = "Bad search in URL";
            return false;
        }
        return true;
    }
    if (p == end)
        return u->mailbox != NULL || (*err = "Empty URL path", false);
    if (u->mailbox) {
        if (*p != '/') {
            *err = "Bad URL after the mailbox";
            return false;
        }
        p++;
    }
    if (!skip_kw(&p, end, ";UID=")) {
        *err = "Expected ;UID= in URL";
        return false;
    }
    if (!parse_u32(&p, end, true, &u->uid)) {
        *err = "Bad UID in URL";
        return false;
    }
    const char *q = p;
    if (skip_kw(&q, end, "/;SECTION=")) {
        p = q;
        size_t k = run(p, end, is_bchar, &bad);
        if (bad) {
            *err = "Bad %-escape in URL section";
            return false;
        }
        size_t sl = k;
        if (p + k < end && p[k] == ';' && k > 0 && p[k - 1] == '/')
            sl--;
        if (sl == 0 || !(u->section = imap_url_pct_decode(p, sl))) {
            *err = "Bad section in URL";
            return false;
        }
        p += sl;
    }
    q = p;
    if (skip_kw(&q, end, "/;PARTIAL=")) {
        p = q;
        if (!parse_u32(&p, end, false, &u->partial_off)) {
            *err = "Bad PARTIAL offset in URL";
            return false;
        }
        if (p < end && *p == '.') {
            p++;
            if (!parse_u32(&p, end, true, &u->partial_len)) {
                *err = "Bad PARTIAL length in URL";
                return false;
            }
        }
        u->has_partial = true;
    }
    if (p == end)
        return true;
    /* URLAUTH only on an absolute URL (authimapurl, RFC 5092 11) */
    if (!u->has_server) {
        *err = "Junk at the end of the URL";
        return false;
    }
    return parse_urlauth(s, &p, end, u, err);
}

bool imap_url_parse(const char *s, size_t len, struct imap_url *u, const char **err)
{
    const char *dummy;
    if (!err)
        err = &dummy;
    memset(u, 0, sizeof(*u));
    *err = NULL;
    if (!parse_url(s, len, u, err)) {
        if (!*err)
            *err = "Bad URL";
        imap_url_free(u);
        return false;
    }
    return true;
}
