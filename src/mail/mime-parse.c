/* mime-parse.c - the MIME tree parser (RFC 2045, 2046, 2183, 2231).
 *
 * One pass per nesting level: a multipart's body is scanned line by line
 * (memchr for LF), and only lines starting with "--" are compared with the
 * boundary, so the cost is O(size * depth) with depth <= MIME_MAX_DEPTH.
 * The parser never fails; malformed structure degrades the way deployed
 * servers degrade it (see the comments at each decision).
 */
#include "mime-internal.h"
#include <ctype.h>

#define MAX_PARAMS 64           /* per header; more are dropped (bounds the O(n^2) RFC 2231 join) */
#define MAX_BOUNDARY_LEN 256    /* RFC 2046 says <= 70; be generous, but bounded */
#define MAX_COMMENT_DEPTH 64

struct pctx {
    const char *d;
    size_t nparts; /* parts allocated so far (bounded by MIME_MAX_PARTS) */
};

static char *lowerdup(const char *s, size_t n)
{
    char *r = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        r[i] = (char)tolower((unsigned char)s[i]);
    r[n] = '\0';
    return r;
}

/* ---------- RFC 2045 lexical helpers ---------- */

static void skip_cfws(const char *s, size_t n, size_t *i)
{
    while (*i < n) {
        char c = s[*i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            (*i)++;
        } else if (c == '(') {
            /* RFC 5322 3.2.2 comment: nested, with quoted-pairs. */
            int depth = 0;
            while (*i < n) {
                c = s[*i];
                if (c == '\\' && *i + 1 < n) {
                    *i += 2;
                    continue;
                }
                (*i)++;
                if (c == '(' && depth < MAX_COMMENT_DEPTH)
                    depth++;
                else if (c == ')' && --depth == 0)
                    break;
            }
        } else {
            break;
        }
    }
}

static bool is_tspecial(char c)
{
    return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool is_token_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 32 && u != 127 && !is_tspecial(c);
}

static size_t read_token(const char *s, size_t n, size_t i)
{
    while (i < n && is_token_char(s[i]))
        i++;
    return i;
}

/* Quoted string starting at s[*i] == '"'; appends the unquoted content. */
static void read_quoted(const char *s, size_t n, size_t *i, struct buf *out)
{
    (*i)++;
    while (*i < n) {
        char c = s[*i];
        if (c == '"') {
            (*i)++;
            return;
        }
        if (c == '\\' && *i + 1 < n) {
            buf_putc(out, s[*i + 1]);
            *i += 2;
            continue;
        }
        if (c != '\r' && c != '\n')
            buf_putc(out, c);
        (*i)++;
    }
}

/* ---------- parameters and RFC 2231 ---------- */

struct rawparam {
    char *name;   /* lowercase, as written (may contain '*') */
    char *value;
    size_t baselen; /* RFC 2231 split of name, see split_2231() */
    long section;
    bool ext;
};

/* RFC 2231 section 7 attribute-char: what may appear unencoded in an
 * extended value. Used to %-encode plain segments joined to extended ones. */
static bool is_attr_char(unsigned char c)
{
    return c > 32 && c < 127 && !strchr("*'%()<>@,;:\\\"/[]?=", (char)c);
}

/* Split "name*3*" into base length, section number (-1 = none) and the
 * extended flag. */
static void split_2231(const char *name, size_t *baselen, long *section, bool *ext)
{
    size_t n = strlen(name);
    *section = -1;
    *ext = false;
    const char *star = strchr(name, '*');
    if (!star) {
        *baselen = n;
        return;
    }
    *baselen = (size_t)(star - name);
    const char *p = star + 1;
    if (*p == '\0') {
        *ext = true;
        return;
    }
    if (isdigit((unsigned char)*p)) {
        long v = 0;
        while (isdigit((unsigned char)*p) && v < 100000)
            v = v * 10 + (*p++ - '0');
        if (*p == '*') {
            *ext = true;
            p++;
        }
        if (*p == '\0') {
            *section = v;
            return;
        }
    }
    /* Unrecognised star syntax: treat the whole thing as a plain name. */
    *baselen = n;
    *ext = false;
}

/*
 * RFC 2231 handling, a deliberate choice: continuations (name*0, name*1*,
 * ...) are joined, but the charset'language'%XX form is NOT decoded. The
 * joined parameter is emitted as "name*" with the raw charset''value, the
 * way Dovecot reports it in BODYSTRUCTURE. Reasons: BODYSTRUCTURE strings
 * must be 7-bit-clean quoted strings for most clients, decoding would need
 * a charset conversion whose result we could not represent faithfully in
 * a quoted string, and clients (Thunderbird, Apple Mail, mutt) decode the
 * "name*" form themselves. mime_param_decoded() gives the decoded UTF-8
 * value to code that needs it (SEARCH, filenames).
 */
static void join_2231(struct rawparam *raw, size_t nraw, struct mime_param **out, size_t *nout)
{
    struct mime_param *res = NULL;
    size_t cnt = 0, cap = 0;
    bool *used = xcalloc(nraw ? nraw : 1, sizeof(bool));
    for (size_t i = 0; i < nraw; i++)
        split_2231(raw[i].name, &raw[i].baselen, &raw[i].section, &raw[i].ext);
    for (size_t i = 0; i < nraw; i++) {
        if (used[i])
            continue;
        size_t blen = raw[i].baselen;
        ARRAY_GROW(res, cnt, cap);
        if (raw[i].section < 0) {
            used[i] = true;
            res[cnt].name = xstrdup(raw[i].name);
            res[cnt].value = xstrdup(raw[i].value);
            cnt++;
            continue;
        }
        /* Gather the sections 0, 1, 2, ... of this base name, in order;
         * a gap ends the value (RFC 2231 3: sections must be contiguous). */
        struct buf v = BUF_INIT;
        bool first_ext = false;
        for (long want = 0;; want++) {
            size_t found = nraw;
            for (size_t j = i; j < nraw; j++) {
                if (!used[j] && raw[j].section == want && raw[j].baselen == blen &&
                    memcmp(raw[j].name, raw[i].name, blen) == 0) {
                    found = j;
                    break;
                }
            }
            if (found == nraw)
                break;
            used[found] = true;
            if (want == 0)
                first_ext = raw[found].ext;
            if (first_ext && !raw[found].ext) {
                for (const char *p = raw[found].value; *p; p++) {
                    if (is_attr_char((unsigned char)*p))
                        buf_putc(&v, *p);
                    else
                        buf_printf(&v, "%%%02X", (unsigned char)*p);
                }
            } else {
                buf_puts(&v, raw[found].value);
            }
        }
        if (!used[i]) {
            /* No section 0: keep the stray section as an ordinary param. */
            used[i] = true;
            buf_free(&v);
            res[cnt].name = xstrdup(raw[i].name);
            res[cnt].value = xstrdup(raw[i].value);
            cnt++;
            continue;
        }
        res[cnt].name = first_ext ? xasprintf("%.*s*", (int)blen, raw[i].name) : xstrndup(raw[i].name, blen);
        res[cnt].value = buf_release(&v);
        cnt++;
    }
    free(used);
    *out = res;
    *nout = cnt;
}

void mime_parse_ctype(const char *v, char **first, char **second, struct mime_param **params, size_t *nparams)
{
    size_t n = strlen(v), i = 0, e;
    *first = NULL;
    if (second)
        *second = NULL;
    *params = NULL;
    *nparams = 0;

    skip_cfws(v, n, &i);
    e = read_token(v, n, i);
    if (e > i)
        *first = lowerdup(v + i, e - i);
    i = e;
    if (second) {
        skip_cfws(v, n, &i);
        if (i < n && v[i] == '/') {
            i++;
            skip_cfws(v, n, &i);
            e = read_token(v, n, i);
            if (e > i)
                *second = lowerdup(v + i, e - i);
            i = e;
        }
    }

    struct rawparam raw[MAX_PARAMS];
    size_t nraw = 0;
    while (i < n) {
        /* Find the next ';' (junk before it is ignored). */
        while (i < n && v[i] != ';') {
            if (v[i] == '"') {
                struct buf junk = BUF_INIT;
                read_quoted(v, n, &i, &junk);
                buf_free(&junk);
            } else if (v[i] == '(') {
                skip_cfws(v, n, &i);
            } else {
                i++;
            }
        }
        if (i >= n)
            break;
        i++; /* ';' */
        skip_cfws(v, n, &i);
        e = read_token(v, n, i);
        if (e == i)
            continue;
        size_t ns = i, ne = e;
        i = e;
        skip_cfws(v, n, &i);
        if (i >= n || v[i] != '=')
            continue;
        i++;
        skip_cfws(v, n, &i);
        struct buf val = BUF_INIT;
        if (i < n && v[i] == '"') {
            read_quoted(v, n, &i, &val);
        } else {
            /* Lenient unquoted value: real mail has tspecials such as '='
             * and '/' unquoted (boundary=----=_Part_1). Stop at WSP, ';',
             * '(' and '"' so "charset=us-ascii (Plain text)" works. */
            size_t s = i;
            while (i < n && v[i] != ';' && v[i] != ' ' && v[i] != '\t' && v[i] != '(' && v[i] != '"' &&
                   v[i] != '\r' && v[i] != '\n')
                i++;
            buf_append(&val, v + s, i - s);
        }
        if (nraw < MAX_PARAMS) {
            raw[nraw].name = lowerdup(v + ns, ne - ns);
            raw[nraw].value = buf_release(&val);
            nraw++;
        } else {
            buf_free(&val);
        }
    }
    if (nraw)
        join_2231(raw, nraw, params, nparams);
    for (size_t k = 0; k < nraw; k++) {
        free(raw[k].name);
        free(raw[k].value);
    }
}

static void free_params(struct mime_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
    free(p);
}

const char *mime_param_get(const struct mime_param *params, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(params[i].name, name) == 0)
            return params[i].value;
    return NULL;
}

/* ---------- the tree ---------- */

/* Lines = number of LF characters in the body. A multipart child's last
 * line therefore does not count when its CRLF was taken by the boundary
 * ("text\r\n--b" is 0 lines): this is what both Cyrus and Dovecot report,
 * and clients compare BODYSTRUCTURE across servers. */
static size_t count_lines(const char *s, size_t n)
{
    size_t lines = 0;
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        lines++;
        p = nl + 1;
    }
    return lines;
}

static void set_type(struct mime_part *p, const char *t, const char *s)
{
    free(p->type);
    free(p->subtype);
    p->type = xstrdup(t);
    p->subtype = xstrdup(s);
}

/* Depth or part-count limit reached, or an encoded composite: the part
 * becomes an opaque leaf. Its type is rewritten to application/octet-stream
 * so that BODYSTRUCTURE stays well-formed (a multipart must have children,
 * a message/rfc822 must have an envelope) and clients treat it as data. */
static void make_opaque(struct mime_part *p)
{
    set_type(p, "application", "octet-stream");
}

static bool identity_encoding(const char *enc)
{
    return !enc || !strcmp(enc, "7bit") || !strcmp(enc, "8bit") || !strcmp(enc, "binary");
}

static void parse_part(struct pctx *c, struct mime_part *p, size_t off, size_t len, int depth, bool digest_child);

/* Boundary line test (RFC 2046 5.1.1): "--" boundary, then either "--"
 * (close delimiter; anything after it is ignored) or only linear white
 * space up to the line end. */
static bool boundary_line(const char *s, size_t lend, const char *b, size_t blen, bool *close)
{
    if (lend < 2 + blen || s[0] != '-' || s[1] != '-' || memcmp(s + 2, b, blen) != 0)
        return false;
    size_t i = 2 + blen;
    if (i + 1 < lend && s[i] == '-' && s[i + 1] == '-') {
        *close = true;
        return true;
    }
    for (; i < lend; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    *close = false;
    return true;
}

struct range {
    size_t off, len;
};

static void parse_multipart(struct pctx *c, struct mime_part *p, const char *boundary)
{
    const char *d = c->d;
    size_t start = p->body_off, end = p->body_off + p->body_len;
    struct range *r = NULL;
    size_t nr = 0, cap = 0;
    size_t blen = boundary ? strlen(boundary) : 0;

    if (blen > 0 && blen <= MAX_BOUNDARY_LEN) {
        size_t pos = start;
        bool in_part = false, closed = false;
        size_t part_start = 0;
        while (pos < end) {
            const char *nl = memchr(d + pos, '\n', end - pos);
            size_t le = nl ? (size_t)(nl - d) + 1 : end;
            bool close = false;
            if (d[pos] == '-' && boundary_line(d + pos, le - pos, boundary, blen, &close)) {
                if (in_part) {
                    /* The line end before the boundary belongs to the
                     * boundary (RFC 2046 5.1.1). */
                    size_t ce = pos;
                    if (ce > part_start && d[ce - 1] == '\n')
                        ce--;
                    if (ce > part_start && d[ce - 1] == '\r')
                        ce--;
                    ARRAY_GROW(r, nr, cap);
                    r[nr].off = part_start;
                    r[nr].len = ce - part_start;
                    nr++;
                }
                if (close) {
                    closed = true; /* the rest is epilogue */
                    in_part = false;
                    break;
                }
                in_part = true;
                part_start = le;
                if (c->nparts + nr + 1 >= MIME_MAX_PARTS) {
                    /* Part budget exhausted: the rest is one leaf. */
                    ARRAY_GROW(r, nr, cap);
                    r[nr].off = part_start;
                    r[nr].len = end - part_start;
                    nr++;
                    in_part = false;
                    break;
                }
            }
            pos = le;
        }
        /* Missing close delimiter: the last part runs to the end. */
        if (in_part && !closed) {
            ARRAY_GROW(r, nr, cap);
            r[nr].off = part_start;
            r[nr].len = end - part_start;
            nr++;
        }
    }
    if (nr == 0) {
        /* No boundary found (or none declared): IMAP requires at least one
         * child, so the whole body becomes a single text/plain part
         * without headers, keeping the content reachable as BODY[1]. */
        p->children = xcalloc(1, sizeof(struct mime_part));
        p->nchildren = 1;
        c->nparts++;
        struct mime_part *ch = &p->children[0];
        ch->depth = p->depth + 1;
        ch->hdr_off = start;
        ch->hdr_len = 0;
        ch->body_off = start;
        ch->body_len = end - start;
        ch->body_lines = count_lines(d + start, end - start);
        set_type(ch, "text", "plain");
        ch->params = xcalloc(1, sizeof(struct mime_param));
        ch->params[0].name = xstrdup("charset");
        ch->params[0].value = xstrdup("US-ASCII");
        ch->nparams = 1;
        free(r);
        return;
    }
    c->nparts += nr;
    p->children = xcalloc(nr, sizeof(struct mime_part));
    p->nchildren = nr;
    bool digest = !strcmp(p->subtype, "digest");
    for (size_t i = 0; i < nr; i++)
        parse_part(c, &p->children[i], r[i].off, r[i].len, p->depth + 1, digest);
    free(r);
}

static void parse_part(struct pctx *c, struct mime_part *p, size_t off, size_t len, int depth, bool digest_child)
{
    const char *d = c->d;
    p->depth = depth;
    p->hdr_off = off;
    p->hdr_len = mime_header_length(d + off, len);
    p->body_off = off + p->hdr_len;
    p->body_len = len - p->hdr_len;
    p->body_lines = count_lines(d + p->body_off, p->body_len);

    const char *hdr = d + off;
    size_t pos = 0;
    struct hdr_field f;
    char *ctype = NULL, *cte = NULL, *cdisp = NULL;
    while (hdr_next_field(hdr, p->hdr_len, &pos, &f)) {
        if (f.name_len < 10 || strncasecmp(hdr + f.start, "content-", 8) != 0)
            continue;
        const char *nm = hdr + f.start + 8;
        size_t nl = f.name_len - 8;
        char **slot = NULL;
        if (mime_ascii_ieq(nm, nl, "type"))
            slot = &ctype;
        else if (mime_ascii_ieq(nm, nl, "transfer-encoding"))
            slot = &cte;
        else if (mime_ascii_ieq(nm, nl, "disposition"))
            slot = &cdisp;
        else if (mime_ascii_ieq(nm, nl, "id"))
            slot = &p->id;
        else if (mime_ascii_ieq(nm, nl, "description"))
            slot = &p->description;
        else if (mime_ascii_ieq(nm, nl, "md5"))
            slot = &p->md5;
        else if (mime_ascii_ieq(nm, nl, "language"))
            slot = &p->language;
        else if (mime_ascii_ieq(nm, nl, "location"))
            slot = &p->location;
        /* The first occurrence wins. */
        if (slot && !*slot)
            *slot = hdr_unfold(hdr + f.value_off, f.end - f.value_off);
    }

    if (ctype) {
        mime_parse_ctype(ctype, &p->type, &p->subtype, &p->params, &p->nparams);
        free(ctype);
    }
    if (!p->type || !p->subtype) {
        /* Absent or unparsable Content-Type: RFC 2045 5.2 default, or
         * message/rfc822 inside multipart/digest (RFC 2046 5.1.5). */
        free_params(p->params, p->nparams);
        p->params = NULL;
        p->nparams = 0;
        if (digest_child) {
            set_type(p, "message", "rfc822");
        } else {
            set_type(p, "text", "plain");
            p->params = xcalloc(1, sizeof(struct mime_param));
            p->params[0].name = xstrdup("charset");
            p->params[0].value = xstrdup("US-ASCII");
            p->nparams = 1;
        }
    }
    if (cte) {
        char *t;
        struct mime_param *pp;
        size_t np;
        mime_parse_ctype(cte, &t, NULL, &pp, &np);
        free_params(pp, np);
        p->encoding = t;
        free(cte);
    }
    if (cdisp) {
        mime_parse_ctype(cdisp, &p->disposition, NULL, &p->disp_params, &p->ndisp_params);
        free(cdisp);
    }

    bool multi = !strcmp(p->type, "multipart");
    bool msg = !strcmp(p->type, "message") && (!strcmp(p->subtype, "rfc822") || !strcmp(p->subtype, "global"));
    if (!multi && !msg)
        return;
    if (depth >= MIME_MAX_DEPTH || c->nparts >= MIME_MAX_PARTS || !identity_encoding(p->encoding)) {
        make_opaque(p);
        return;
    }
    if (multi) {
        parse_multipart(c, p, mime_param_get(p->params, p->nparams, "boundary"));
    } else {
        c->nparts++;
        p->message = xcalloc(1, sizeof(struct mime_part));
        parse_part(c, p->message, p->body_off, p->body_len, depth + 1, false);
    }
}

struct mime_message *mime_parse(const char *data, size_t len)
{
    struct mime_message *m = xcalloc(1, sizeof(*m));
    m->data = data;
    m->len = len;
    struct pctx c = {data ? data : "", 1};
    if (!data)
        len = 0;
    parse_part(&c, &m->root, 0, len, 0, false);
    return m;
}

static void free_part(struct mime_part *p)
{
    free(p->type);
    free(p->subtype);
    free_params(p->params, p->nparams);
    free(p->id);
    free(p->description);
    free(p->encoding);
    free(p->md5);
    free(p->disposition);
    free_params(p->disp_params, p->ndisp_params);
    free(p->language);
    free(p->location);
    for (size_t i = 0; i < p->nchildren; i++)
        free_part(&p->children[i]);
    free(p->children);
    if (p->message) {
        free_part(p->message);
        free(p->message);
    }
}

void mime_free(struct mime_message *m)
{
    if (!m)
        return;
    free_part(&m->root);
    free(m);
}
