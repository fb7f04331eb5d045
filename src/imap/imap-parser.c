/* imap-parser.c - tokenizer over a complete command text.
 *
 * The reader (imap-reader.c) hands us the whole command with literals
 * inline: "{N}\r\n" followed by N bytes (the reader normalises "{N+}" to
 * "{N}"), "~{N}\r\n" for RFC 3516 binary literals, and for literals that
 * were spilled to a temporary file only the marker, with the data in
 * ct->files[] (matched by the marker's text offset). Grammar references
 * are to RFC 9051 section 9 (Formal Syntax).
 *
 * Every function returns false (or NULL) on a syntax error and records the
 * first error text in ps->error; callers answer BAD.
 */
#include "imap.h"
#include "datetime.h"

/* ---- command-owned allocations ----------------------------------------- */

void *cmd_alloc(struct imap_cmd *cmd, size_t n)
{
    void *p = xmalloc(n ? n : 1);
    ARRAY_GROW(cmd->allocs, cmd->nallocs, cmd->allocs_cap);
    cmd->allocs[cmd->nallocs++] = p;
    return p;
}

char *cmd_strndup(struct imap_cmd *cmd, const char *s, size_t n)
{
    char *p = cmd_alloc(cmd, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- character classes -------------------------------------------------- */

/* ATOM-CHAR: any CHAR except atom-specials: "(" ")" "{" SP CTL "%" "*"
 * DQUOTE "\" "]" (RFC 9051 9). CHAR is 7-bit, so 8-bit octets are out. */
bool imap_is_atom_char(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7f)
        return false;
    switch (c) {
    case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']':
        return false;
    default:
        return true;
    }
}

static bool is_astring_char(unsigned char c)
{
    return imap_is_atom_char(c) || c == ']';
}

static bool is_list_char(unsigned char c)
{
    return is_astring_char(c) || c == '%' || c == '*';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
bool imap_valid_tag(const char *t, size_t len)
{
    if (len == 0 || len > IMAP_MAX_TAG)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_astring_char((unsigned char)t[i]) || t[i] == '+')
            return false;
    return true;
}

static bool fail(struct imap_parser *ps, const char *why)
{
    if (!ps->error)
        ps->error = why;
    return false;
}

/* ---- basics -------------------------------------------------------------- */

void imap_parser_init(struct imap_parser *ps, const struct imap_cmdtext *ct, size_t offset, bool utf8)
{
    const char *base = ct->text.data ? ct->text.data : "";
    size_t len = ct->text.len;
    if (offset > len)
        offset = len;
    ps->p = base + offset;
    ps->end = base + len;
    ps->ct = ct;
    ps->next_file = 0;
    ps->utf8 = utf8;
    ps->error = NULL;
}

bool imap_p_sp(struct imap_parser *ps)
{
    if (ps->p < ps->end && *ps->p == ' ') {
        ps->p++;
        return true;
    }
    return fail(ps, "Expected space");
}

bool imap_p_char(struct imap_parser *ps, char c)
{
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

bool imap_p_peek(struct imap_parser *ps, char c)
{
    return ps->p < ps->end && *ps->p == c;
}

bool imap_p_end(struct imap_parser *ps)
{
    return ps->p >= ps->end;
}

static size_t span(struct imap_parser *ps, bool (*cls)(unsigned char))
{
    const char *q = ps->p;
    while (q < ps->end && cls((unsigned char)*q))
        q++;
    return (size_t)(q - ps->p);
}

char *imap_p_atom(struct imap_parser *ps, struct imap_cmd *cmd)
{
    size_t n = span(ps, imap_is_atom_char);
    if (n == 0) {
        fail(ps, "Expected atom");
        return NULL;
    }
    char *r = cmd_strndup(cmd, ps->p, n);
    ps->p += n;
    return r;
}

char *imap_p_astring_chars(struct imap_parser *ps, struct imap_cmd *cmd)
{
    size_t n = span(ps, is_astring_char);
    if (n == 0) {
        fail(ps, "Expected atom");
        return NULL;
    }
    char *r = cmd_strndup(cmd, ps->p, n);
    ps->p += n;
    return r;
}

/* ---- strings ------------------------------------------------------------- */

/* Validate one UTF-8 sequence starting at p (first byte >= 0x80); returns
 * its length or 0 when invalid (overlongs, surrogates, > U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static bool p_quoted(struct imap_parser *ps, struct imap_cmd *cmd, struct imap_str *out)
{
    const char *q = ps->p + 1; /* after DQUOTE */
    /* First pass: find the end and the unescaped length. */
    size_t n = 0;
    const char *e = q;
    for (;;) {
        if (e >= ps->end)
            return fail(ps, "Unterminated quoted string");
        unsigned char c = (unsigned char)*e;
        if (c == '"')
            break;
        if (c == '\\') {
            if (e + 1 >= ps->end || (e[1] != '\\' && e[1] != '"'))
                return fail(ps, "Invalid escape in quoted string");
            e += 2;
            n++;
            continue;
        }
        if (c == '\r' || c == '\n' || c == '\0')
            return fail(ps, "Invalid character in quoted string");
        if (c >= 0x80) {
            if (!ps->utf8)
                return fail(ps, "8-bit character in quoted string");
            size_t k = utf8_seq((const unsigned char *)e, (const unsigned char *)ps->end);
            if (k == 0)
                return fail(ps, "Invalid UTF-8 in quoted string");
            e += k;
            n += k;
            continue;
        }
        e++;
        n++;
    }
    char *d = cmd_alloc(cmd, n + 1);
    size_t j = 0;
    for (const char *x = q; x < e; x++) {
        if (*x == '\\')
            x++;
        d[j++] = *x;
    }
    d[j] = '\0';
    out->s = d;
    out->len = n;
    out->literal = false;
    out->binary = false;
    out->file = NULL;
    ps->p = e + 1;
    return true;
}

static bool p_literal(struct imap_parser *ps, struct imap_str *out, bool allow_binary)
{
    const char *start = ps->p;
    const char *q = ps->p;
    bool binary = false;
    if (q < ps->end && *q == '~') {
        if (!allow_binary)
            return fail(ps, "Binary literal not allowed here");
        binary = true;
        q++;
    }
    if (q >= ps->end || *q != '{')
        return fail(ps, "Expected literal");
    q++;
    uint64_t n = 0;
    const char *d0 = q;
    while (q < ps->end && *q >= '0' && *q <= '9') {
        n = n * 10 + (uint64_t)(*q - '0');
        if (n > 0xffffffffu)
            return fail(ps, "Literal too big");
        q++;
    }
    if (q == d0)
        return fail(ps, "Bad literal size");
    if (q < ps->end && *q == '+')
        q++;
    if (ps->end - q < 3 || q[0] != '}' || q[1] != '\r' || q[2] != '\n')
        return fail(ps, "Bad literal");
    q += 3;
    size_t off = (size_t)(start - ps->ct->text.data);
    out->s = NULL;
    out->len = (size_t)n;
    out->literal = true;
    out->binary = binary;
    out->file = NULL;
    if (ps->next_file < ps->ct->nfiles && ps->ct->files[ps->next_file].text_off == off) {
        const struct imap_literal_file *f = &ps->ct->files[ps->next_file++];
        if (f->len != n)
            return fail(ps, "Literal size mismatch");
        out->file = f;
        out->s = "";
        ps->p = q;
        return true;
    }
    if ((size_t)(ps->end - q) < n)
        return fail(ps, "Truncated literal");
    out->s = q;
    ps->p = q + n;
    /* A non-binary literal must not contain NUL (RFC 9051 4.3). */
    if (!binary && memchr(out->s, '\0', out->len))
        return fail(ps, "NUL in literal");
    return true;
}

bool imap_p_string(struct imap_parser *ps, struct imap_cmd *cmd, struct imap_str *out)
{
    if (ps->p >= ps->end)
        return fail(ps, "Expected string");
    if (*ps->p == '"')
        return p_quoted(ps, cmd, out);
    if (*ps->p == '{' || *ps->p == '~')
        return p_literal(ps, out, true);
    return fail(ps, "Expected string");
}

bool imap_p_astring(struct imap_parser *ps, struct imap_cmd *cmd, struct imap_str *out)
{
    if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '{'))
        return imap_p_string(ps, cmd, out);
    size_t n = span(ps, is_astring_char);
    if (n == 0)
        return fail(ps, "Expected astring");
    out->s = cmd_strndup(cmd, ps->p, n);
    out->len = n;
    out->literal = false;
    out->binary = false;
    out->file = NULL;
    ps->p += n;
    return true;
}

bool imap_p_nstring(struct imap_parser *ps, struct imap_cmd *cmd, struct imap_str *out, bool *is_nil)
{
    if (ps->end - ps->p >= 3 && strncasecmp(ps->p, "NIL", 3) == 0 &&
        (ps->end - ps->p == 3 || !is_astring_char((unsigned char)ps->p[3]))) {
        ps->p += 3;
        *is_nil = true;
        memset(out, 0, sizeof(*out));
        return true;
    }
    *is_nil = false;
    return imap_p_string(ps, cmd, out);
}

char *imap_p_astring_cstr(struct imap_parser *ps, struct imap_cmd *cmd)
{
    struct imap_str s;
    if (!imap_p_astring(ps, cmd, &s))
        return NULL;
    if (s.file) {
        fail(ps, "String too long");
        return NULL;
    }
    if (memchr(s.s, '\0', s.len)) {
        fail(ps, "NUL in string");
        return NULL;
    }
    if (s.literal || s.s[s.len] != '\0')
        return cmd_strndup(cmd, s.s, s.len);
    return (char *)s.s;
}

char *imap_p_list_mailbox(struct imap_parser *ps, struct imap_cmd *cmd)
{
    if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '{'))
        return imap_p_astring_cstr(ps, cmd);
    size_t n = span(ps, is_list_char);
    if (n == 0) {
        fail(ps, "Expected mailbox pattern");
        return NULL;
    }
    char *r = cmd_strndup(cmd, ps->p, n);
    ps->p += n;
    return r;
}

/* ---- numbers -------------------------------------------------------------- */

static bool p_digits(struct imap_parser *ps, uint64_t max, uint64_t *out)
{
    const char *q = ps->p;
    uint64_t n = 0;
    while (q < ps->end && *q >= '0' && *q <= '9') {
        unsigned d = (unsigned)(*q - '0');
        if (n > (max - d) / 10)
            return fail(ps, "Number out of range");
        n = n * 10 + d;
        q++;
    }
    if (q == ps->p)
        return fail(ps, "Expected number");
    ps->p = q;
    *out = n;
    return true;
}

bool imap_p_number(struct imap_parser *ps, uint32_t *out)
{
    uint64_t n;
    if (!p_digits(ps, 0xffffffffu, &n))
        return false;
    *out = (uint32_t)n;
    return true;
}

bool imap_p_nznumber(struct imap_parser *ps, uint32_t *out)
{
    if (!imap_p_number(ps, out))
        return false;
    if (*out == 0)
        return fail(ps, "Zero is not a valid number here");
    return true;
}

/* mod-sequence-value = 1*DIGIT, at most 2^63-1 (RFC 7162 7). */
bool imap_p_number64(struct imap_parser *ps, uint64_t *out)
{
    return p_digits(ps, (uint64_t)INT64_MAX, out);
}

/* ---- sequence sets ---------------------------------------------------- */

void seqset_free(struct seqset *s)
{
    free(s->r);
    s->r = NULL;
    s->n = s->cap = 0;
    s->dollar = false;
    s->star = false;
}

void seqset_add(struct seqset *s, uint32_t lo, uint32_t hi)
{
    if (lo > hi) {
        uint32_t t = lo;
        lo = hi;
        hi = t;
    }
    ARRAY_GROW(s->r, s->n, s->cap);
    s->r[s->n].lo = lo;
    s->r[s->n].hi = hi;
    s->n++;
}

bool seqset_contains(const struct seqset *s, uint32_t n, uint32_t max)
{
    for (size_t i = 0; i < s->n; i++) {
        uint32_t lo = seq_value(s->r[i].lo, max);
        uint32_t hi = seq_value(s->r[i].hi, max);
        if (lo > hi) {
            uint32_t t = lo;
            lo = hi;
            hi = t;
        }
        if (n >= lo && n <= hi)
            return true;
    }
    return false;
}

void seqset_write_uids(struct buf *out, const uint32_t *uids, size_t n)
{
    size_t i = 0;
    bool first = true;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && uids[j + 1] == uids[j] + 1)
            j++;
        if (!first)
            buf_putc(out, ',');
        first = false;
        buf_put_uint(out, uids[i]);
        if (j > i) {
            buf_putc(out, ':');
            buf_put_uint(out, uids[j]);
        }
        i = j + 1;
    }
}

static bool p_seqnum(struct imap_parser *ps, uint32_t *out)
{
    if (imap_p_char(ps, '*')) {
        *out = SEQ_STAR;
        return true;
    }
    return imap_p_nznumber(ps, out);
}

#define SEQSET_MAX_RANGES 100000

bool imap_p_seqset(struct imap_parser *ps, struct seqset *out)
{
    if (imap_p_char(ps, '$')) {
        out->dollar = true;
        return true;
    }
    for (;;) {
        uint32_t lo, hi;
        if (!p_seqnum(ps, &lo))
            return fail(ps, "Invalid sequence set");
        hi = lo;
        if (imap_p_char(ps, ':') && !p_seqnum(ps, &hi))
            return fail(ps, "Invalid sequence set");
        if (out->n >= SEQSET_MAX_RANGES)
            return fail(ps, "Sequence set too long");
        /* '*' is kept as SEQ_STAR; a range with '*' resolves later, and
         * either order is the same range (RFC 9051 9, seq-range). */
        if (lo == SEQ_STAR || hi == SEQ_STAR)
            out->star = true;
        seqset_add(out, lo, hi);
        if (!imap_p_char(ps, ','))
            break;
    }
    return true;
}

/* ---- flags --------------------------------------------------------------- */

bool imap_p_flag(struct imap_parser *ps, struct imap_cmd *cmd, char **out)
{
    const char *start = ps->p;
    if (imap_p_char(ps, '\\')) {
        size_t n = span(ps, imap_is_atom_char);
        if (n == 0)
            return fail(ps, "Invalid flag");
        ps->p += n;
    } else {
        size_t n = span(ps, imap_is_atom_char);
        if (n == 0)
            return fail(ps, "Invalid flag");
        if (n > STORAGE_MAX_KEYWORD)
            return fail(ps, "Keyword too long");
        ps->p += n;
    }
    *out = cmd_strndup(cmd, start, (size_t)(ps->p - start));
    return true;
}

/* ---- dates ----------------------------------------------------------------- */

static bool p_fixed_digits(struct imap_parser *ps, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return false;
        v = v * 10 + (*ps->p - '0');
        ps->p++;
    }
    *out = v;
    return true;
}

static bool p_month(struct imap_parser *ps, int *m)
{
    if (ps->end - ps->p < 3 || !(*m = month_from_abbrev(ps->p)))
        return false;
    ps->p += 3;
    return true;
}

/* date-text = date-day "-" date-month "-" date-year; date-day = 1*2DIGIT */
static bool p_date_text(struct imap_parser *ps, int *y, int *m, int *d)
{
    int dd = 0, n = 0;
    while (n < 2 && ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        dd = dd * 10 + (*ps->p - '0');
        ps->p++;
        n++;
    }
    if (n == 0 || !imap_p_char(ps, '-') || !p_month(ps, m) || !imap_p_char(ps, '-') ||
        !p_fixed_digits(ps, 4, y))
        return false;
    *d = dd;
    return date_valid_ymd(*y, *m, *d);
}

bool imap_p_date(struct imap_parser *ps, int64_t *t)
{
    bool q = imap_p_char(ps, '"');
    int y, m, d;
    if (!p_date_text(ps, &y, &m, &d) || (q && !imap_p_char(ps, '"')))
        return fail(ps, "Invalid date");
    *t = days_from_civil(y, (unsigned)m, (unsigned)d) * 86400;
    return true;
}

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP
 * zone DQUOTE; date-day-fixed = (SP DIGIT) / 2DIGIT */
bool imap_p_datetime(struct imap_parser *ps, int64_t *t, int *tz)
{
    int y, mo, d, hh, mm, ss, zh, zm;
    if (!imap_p_char(ps, '"'))
        return fail(ps, "Invalid date-time");
    if (imap_p_char(ps, ' ')) {
        if (!p_fixed_digits(ps, 1, &d))
            return fail(ps, "Invalid date-time");
    } else if (!p_fixed_digits(ps, 2, &d)) {
        return fail(ps, "Invalid date-time");
    }
    if (!imap_p_char(ps, '-') || !p_month(ps, &mo) || !imap_p_char(ps, '-') || !p_fixed_digits(ps, 4, &y) ||
        !imap_p_char(ps, ' ') || !p_fixed_digits(ps, 2, &hh) || !imap_p_char(ps, ':') ||
        !p_fixed_digits(ps, 2, &mm) || !imap_p_char(ps, ':') || !p_fixed_digits(ps, 2, &ss) ||
        !imap_p_char(ps, ' '))
        return fail(ps, "Invalid date-time");
    bool neg;
    if (imap_p_char(ps, '+'))
        neg = false;
    else if (imap_p_char(ps, '-'))
        neg = true;
    else
        return fail(ps, "Invalid time zone");
    if (!p_fixed_digits(ps, 2, &zh) || !p_fixed_digits(ps, 2, &zm) || !imap_p_char(ps, '"'))
        return fail(ps, "Invalid date-time");
    if (!date_valid_ymd(y, mo, d) || hh > 23 || mm > 59 || ss > 60 || zm > 59)
        return fail(ps, "Invalid date-time");
    int off = zh * 60 + zm;
    if (neg)
        off = -off;
    int64_t local = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
    *t = local - (int64_t)off * 60;
    *tz = off;
    return true;
}
