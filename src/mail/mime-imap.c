/* mime-imap.c - ENVELOPE and BODYSTRUCTURE texts (RFC 9051 7.5.2 / 9).
 *
 * Conventions (chosen to match the RFC 3501/9051 examples):
 *  - type, subtype, encoding, disposition type and parameter names are
 *    uppercased; parameter values and all other strings are kept as given;
 *  - header-derived strings are raw (RFC 2047 words are NOT decoded);
 *  - strings are quoted when safe, else sent as literals (8-bit, CR, LF).
 */
#include "mime-internal.h"
#include <ctype.h>

#define QUOTED_MAX 4096 /* longer strings are sent as literals */

void mime_write_imap_string(struct buf *out, const char *s, size_t len)
{
    bool quotable = len <= QUOTED_MAX;
    for (size_t i = 0; i < len && quotable; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0 || c == '\r' || c == '\n' || c >= 0x80)
            quotable = false;
    }
    if (!quotable) {
        buf_printf(out, "{%zu}\r\n", len);
        buf_append(out, s, len);
        return;
    }
    buf_reserve(out, len + 2);
    buf_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_putc(out, '\\');
        buf_putc(out, s[i]);
    }
    buf_putc(out, '"');
}

void mime_write_nstring(struct buf *out, const char *s)
{
    if (!s)
        buf_puts(out, "NIL");
    else
        mime_write_imap_string(out, s, strlen(s));
}

static void write_upper(struct buf *out, const char *s)
{
    size_t n = strlen(s);
    char *u = xmalloc(n + 1);
    for (size_t i = 0; i <= n; i++)
        u[i] = (char)toupper((unsigned char)s[i]);
    mime_write_imap_string(out, u, n);
    free(u);
}

/* ---------- RFC 5322 address lists ---------- */

enum tok_type { T_WORD, T_QUOTED, T_DOMLIT, T_COMMENT, T_SPECIAL };

struct tok {
    enum tok_type type;
    char ch;            /* T_SPECIAL */
    bool ws_before;     /* whitespace or comment before it */
    size_t off, len;    /* into text (content for quoted/comment) */
    char *unq;          /* T_QUOTED: unescaped content */
};

struct toks {
    struct tok *t;
    size_t n, cap;
};

static bool is_addr_special(char c)
{
    return strchr("()<>[]:;@\\,\"", c) != NULL;
}

static void tokenize(const char *s, struct toks *tk)
{
    size_t n = strlen(s), i = 0;
    bool ws = false;
    while (i < n) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ws = true;
            i++;
            continue;
        }
        ARRAY_GROW(tk->t, tk->n, tk->cap);
        struct tok *t = &tk->t[tk->n];
        memset(t, 0, sizeof(*t));
        t->ws_before = ws;
        ws = false;
        if (c == '(') {
            size_t st = ++i;
            int depth = 1;
            while (i < n) {
                if (s[i] == '\\' && i + 1 < n) {
                    i += 2;
                    continue;
                }
                if (s[i] == '(' && depth < 64)
                    depth++;
                else if (s[i] == ')' && --depth == 0)
                    break;
                i++;
            }
            t->type = T_COMMENT;
            t->off = st;
            t->len = (i < n ? i : n) - st;
            if (i < n)
                i++;
            ws = true;
        } else if (c == '"') {
            struct buf b = BUF_INIT;
            i++;
            while (i < n && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                buf_putc(&b, s[i]);
                i++;
            }
            if (i < n)
                i++;
            t->type = T_QUOTED;
            t->unq = buf_release(&b);
        } else if (c == '[') {
            size_t st = i;
            while (i < n && s[i] != ']')
                i++;
            if (i < n)
                i++;
            t->type = T_DOMLIT;
            t->off = st;
            t->len = i - st;
        } else if (is_addr_special(c)) {
            t->type = T_SPECIAL;
            t->ch = c;
            i++;
        } else {
            size_t st = i;
            while (i < n && !is_addr_special(s[i]) && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
                   s[i] != '\n')
                i++;
            t->type = T_WORD;
            t->off = st;
            t->len = i - st;
        }
        tk->n++;
    }
}

struct aparse {
    const char *s;
    struct toks tk;
    size_t i;
    struct buf *out;
    bool any;     /* something written */
};

static bool at_special(struct aparse *a, const char *set)
{
    return a->i < a->tk.n && a->tk.t[a->i].type == T_SPECIAL && strchr(set, a->tk.t[a->i].ch);
}

/* A phrase (display name): words separated by one space where the
 * original had white space. */
static void append_phrase_tok(struct aparse *a, const struct tok *t, struct buf *b)
{
    if (b->len && t->ws_before)
        buf_putc(b, ' ');
    if (t->type == T_QUOTED)
        buf_puts(b, t->unq);
    else
        buf_append(b, a->s + t->off, t->len);
}

static bool atext_only(const char *s)
{
    if (!*s || *s == '.')
        return false;
    for (const char *p = s; *p; p++)
        if (is_addr_special(*p) || *p == ' ' || *p == '\t' || (unsigned char)*p < 32)
            return false;
    return true;
}

/* Local part: no spaces; a quoted string is kept quoted when its content
 * needs it, so the client can rebuild a valid address. */
static void append_local_tok(struct aparse *a, const struct tok *t, struct buf *b)
{
    if (t->type == T_QUOTED) {
        if (atext_only(t->unq)) {
            buf_puts(b, t->unq);
        } else {
            buf_putc(b, '"');
            for (const char *p = t->unq; *p; p++) {
                if (*p == '"' || *p == '\\')
                    buf_putc(b, '\\');
                buf_putc(b, *p);
            }
            buf_putc(b, '"');
        }
    } else if (t->type == T_SPECIAL) {
        buf_putc(b, t->ch);
    } else if (t->type != T_COMMENT) {
        buf_append(b, a->s + t->off, t->len);
    }
}

static void emit_addr(struct aparse *a, const char *name, const char *adl, const char *mbox, const char *host)
{
    if (!a->any)
        buf_putc(a->out, '(');
    a->any = true;
    buf_putc(a->out, '(');
    mime_write_nstring(a->out, name && *name ? name : NULL);
    buf_putc(a->out, ' ');
    mime_write_nstring(a->out, adl && *adl ? adl : NULL);
    buf_putc(a->out, ' ');
    mime_write_nstring(a->out, mbox);
    buf_putc(a->out, ' ');
    mime_write_nstring(a->out, host);
    buf_putc(a->out, ')');
}

/* A missing host must not be written as NIL: (x NIL "y" NIL) means
 * "start of group y" in IMAP. Dovecot's placeholders are used instead. */
static void emit_mailbox(struct aparse *a, const char *name, const char *adl, struct buf *local, struct buf *dom)
{
    emit_addr(a, name, adl, local->len ? buf_cstr(local) : "MISSING_MAILBOX",
              dom->len ? buf_cstr(dom) : "MISSING_DOMAIN");
}

static void parse_domain(struct aparse *a, struct buf *dom, const char *stop)
{
    while (a->i < a->tk.n && !at_special(a, stop)) {
        const struct tok *t = &a->tk.t[a->i++];
        if (t->type == T_COMMENT)
            continue;
        if (t->type == T_QUOTED)
            buf_puts(dom, t->unq);
        else if (t->type == T_SPECIAL)
            buf_putc(dom, t->ch);
        else
            buf_append(dom, a->s + t->off, t->len);
    }
}

static void parse_angle(struct aparse *a, const char *name)
{
    struct buf adl = BUF_INIT, local = BUF_INIT, dom = BUF_INIT;
    a->i++; /* '<' */
    if (at_special(a, "@")) {
        /* obs-route: "@a,@b:" (RFC 5322 4.4), kept as the IMAP adl. */
        while (a->i < a->tk.n && !at_special(a, ":>")) {
            const struct tok *t = &a->tk.t[a->i++];
            append_local_tok(a, t, &adl);
        }
        if (at_special(a, ":"))
            a->i++;
    }
    while (a->i < a->tk.n && !at_special(a, "@>,;<")) {
        const struct tok *t = &a->tk.t[a->i++];
        append_local_tok(a, t, &local);
    }
    if (at_special(a, "@")) {
        a->i++;
        parse_domain(a, &dom, ">,;<");
    }
    if (at_special(a, ">"))
        a->i++;
    if (local.len || dom.len)
        emit_mailbox(a, name, buf_cstr(&adl), &local, &dom);
    buf_free(&adl);
    buf_free(&local);
    buf_free(&dom);
}

/* One mailbox or group. */
static void parse_address(struct aparse *a, bool in_group)
{
    struct buf phrase = BUF_INIT, local = BUF_INIT, comment = BUF_INIT;
    size_t start = a->i;
    while (a->i < a->tk.n && !at_special(a, "<>@:,;")) {
        const struct tok *t = &a->tk.t[a->i++];
        if (t->type == T_COMMENT) {
            buf_reset(&comment);
            buf_append(&comment, a->s + t->off, t->len);
            continue;
        }
        append_phrase_tok(a, t, &phrase);
        append_local_tok(a, t, &local);
    }
    char c = a->i < a->tk.n ? a->tk.t[a->i].ch : '\0';
    if (c == ':' && !in_group && phrase.len) {
        /* group: display-name ":" [group-list] ";" (RFC 5322 3.4) */
        a->i++;
        emit_addr(a, NULL, NULL, buf_cstr(&phrase), NULL);
        while (a->i < a->tk.n && !at_special(a, ";")) {
            if (at_special(a, ",")) {
                a->i++;
                continue;
            }
            size_t before = a->i;
            parse_address(a, true);
            if (a->i == before)
                a->i++; /* stray token: always make progress */
        }
        if (at_special(a, ";"))
            a->i++;
        emit_addr(a, NULL, NULL, NULL, NULL);
    } else if (c == '<') {
        parse_angle(a, buf_cstr(&phrase));
    } else if (c == '@') {
        a->i++;
        struct buf dom = BUF_INIT;
        /* addr-spec; a trailing comment is the name ("a@b (Name)"). */
        while (a->i < a->tk.n && !at_special(a, "<>@:,;")) {
            const struct tok *t = &a->tk.t[a->i++];
            if (t->type == T_COMMENT) {
                buf_reset(&comment);
                buf_append(&comment, a->s + t->off, t->len);
                continue;
            }
            append_local_tok(a, t, &dom);
        }
        if (at_special(a, "<")) {
            /* "a@b <c@d>": broken, but the angle address is the real one. */
            parse_angle(a, buf_cstr(&phrase));
        } else if (local.len || dom.len) {
            emit_mailbox(a, comment.len ? buf_cstr(&comment) : NULL, NULL, &local, &dom);
        }
        buf_free(&dom);
    } else if (a->i > start && phrase.len) {
        /* A bare word without domain ("undisclosed-recipients"). */
        struct buf dom = BUF_INIT;
        emit_mailbox(a, NULL, NULL, &local, &dom);
    } else if (a->i < a->tk.n && (c == '>' || c == ':' || c == '@')) {
        a->i++; /* junk */
    }
    buf_free(&phrase);
    buf_free(&local);
    buf_free(&comment);
}

void mime_write_addresses(struct buf *out, const char *value)
{
    if (!value) {
        buf_puts(out, "NIL");
        return;
    }
    struct aparse a = {.s = value, .out = out};
    tokenize(value, &a.tk);
    while (a.i < a.tk.n) {
        if (at_special(&a, ",;")) {
            a.i++;
            continue;
        }
        size_t before = a.i;
        parse_address(&a, false);
        if (a.i == before)
            a.i++;
    }
    if (a.any)
        buf_putc(out, ')');
    else
        buf_puts(out, "NIL");
    for (size_t i = 0; i < a.tk.n; i++)
        free(a.tk.t[i].unq);
    free(a.tk.t);
}

/* ---------- ENVELOPE ---------- */

void mime_write_envelope(struct buf *out, const char *data, const struct mime_part *p)
{
    const char *h = data + p->hdr_off;
    size_t hl = p->hdr_len;
    char *date = mime_header_get(h, hl, "date");
    char *subject = mime_header_get(h, hl, "subject");
    char *from = mime_header_get(h, hl, "from");
    char *sender = mime_header_get(h, hl, "sender");
    char *reply = mime_header_get(h, hl, "reply-to");
    char *to = mime_header_get(h, hl, "to");
    char *cc = mime_header_get(h, hl, "cc");
    char *bcc = mime_header_get(h, hl, "bcc");
    char *irt = mime_header_get(h, hl, "in-reply-to");
    char *mid = mime_header_get(h, hl, "message-id");

    buf_putc(out, '(');
    mime_write_nstring(out, date);
    buf_putc(out, ' ');
    mime_write_nstring(out, subject);
    buf_putc(out, ' ');
    mime_write_addresses(out, from);
    buf_putc(out, ' ');
    /* RFC 9051 7.5.2: sender and reply-to default to from. An empty or
     * unparsable field also defaults, as Dovecot and Cyrus do. */
    struct buf tmp = BUF_INIT;
    mime_write_addresses(&tmp, sender);
    if (!strcmp(buf_cstr(&tmp), "NIL"))
        mime_write_addresses(out, from);
    else
        buf_append(out, tmp.data, tmp.len);
    buf_putc(out, ' ');
    buf_reset(&tmp);
    mime_write_addresses(&tmp, reply);
    if (!strcmp(buf_cstr(&tmp), "NIL"))
        mime_write_addresses(out, from);
    else
        buf_append(out, tmp.data, tmp.len);
    buf_free(&tmp);
    buf_putc(out, ' ');
    mime_write_addresses(out, to);
    buf_putc(out, ' ');
    mime_write_addresses(out, cc);
    buf_putc(out, ' ');
    mime_write_addresses(out, bcc);
    buf_putc(out, ' ');
    mime_write_nstring(out, irt);
    buf_putc(out, ' ');
    mime_write_nstring(out, mid);
    buf_putc(out, ')');

    free(date);
    free(subject);
    free(from);
    free(sender);
    free(reply);
    free(to);
    free(cc);
    free(bcc);
    free(irt);
    free(mid);
}

/* ---------- BODYSTRUCTURE ---------- */

static void write_params(struct buf *out, const struct mime_param *ps, size_t n)
{
    if (!n) {
        buf_puts(out, "NIL");
        return;
    }
    buf_putc(out, '(');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ' ');
        write_upper(out, ps[i].name);
        buf_putc(out, ' ');
        mime_write_imap_string(out, ps[i].value, strlen(ps[i].value));
    }
    buf_putc(out, ')');
}

static void write_disposition(struct buf *out, const struct mime_part *p)
{
    if (!p->disposition) {
        buf_puts(out, "NIL");
        return;
    }
    buf_putc(out, '(');
    write_upper(out, p->disposition);
    buf_putc(out, ' ');
    write_params(out, p->disp_params, p->ndisp_params);
    buf_putc(out, ')');
}

/* body-fld-lang: nstring / "(" string *(SP string) ")" from the
 * comma-separated Content-Language (RFC 3282). */
static void write_language(struct buf *out, const char *lang)
{
    if (!lang) {
        buf_puts(out, "NIL");
        return;
    }
    const char *items[64];
    size_t lens[64], n = 0;
    const char *p = lang;
    while (*p && n < ARRAY_SIZE(items)) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '(') { /* comment */
            while (*p && *p != ')')
                p++;
            if (*p)
                p++;
            continue;
        }
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '(')
            p++;
        if (p > s) {
            items[n] = s;
            lens[n] = (size_t)(p - s);
            n++;
        }
    }
    if (n == 0) {
        buf_puts(out, "NIL");
    } else if (n == 1) {
        mime_write_imap_string(out, items[0], lens[0]);
    } else {
        buf_putc(out, '(');
        for (size_t i = 0; i < n; i++) {
            if (i)
                buf_putc(out, ' ');
            mime_write_imap_string(out, items[i], lens[i]);
        }
        buf_putc(out, ')');
    }
}

void mime_write_bodystructure(struct buf *out, const char *data, const struct mime_part *p, bool extended)
{
    buf_putc(out, '(');
    if (p->nchildren) {
        for (size_t i = 0; i < p->nchildren; i++)
            mime_write_bodystructure(out, data, &p->children[i], extended);
        buf_putc(out, ' ');
        write_upper(out, p->subtype);
        if (extended) {
            buf_putc(out, ' ');
            write_params(out, p->params, p->nparams);
            buf_putc(out, ' ');
            write_disposition(out, p);
            buf_putc(out, ' ');
            write_language(out, p->language);
            buf_putc(out, ' ');
            mime_write_nstring(out, p->location);
        }
        buf_putc(out, ')');
        return;
    }
    write_upper(out, p->type);
    buf_putc(out, ' ');
    write_upper(out, p->subtype);
    buf_putc(out, ' ');
    write_params(out, p->params, p->nparams);
    buf_putc(out, ' ');
    mime_write_nstring(out, p->id);
    buf_putc(out, ' ');
    mime_write_nstring(out, p->description);
    buf_putc(out, ' ');
    write_upper(out, p->encoding ? p->encoding : "7bit");
    buf_printf(out, " %zu", p->body_len);
    if (p->message) {
        buf_putc(out, ' ');
        mime_write_envelope(out, data, p->message);
        buf_putc(out, ' ');
        mime_write_bodystructure(out, data, p->message, extended);
        buf_printf(out, " %zu", p->body_lines);
    } else if (!strcmp(p->type, "text")) {
        buf_printf(out, " %zu", p->body_lines);
    }
    if (extended) {
        buf_putc(out, ' ');
        mime_write_nstring(out, p->md5);
        buf_putc(out, ' ');
        write_disposition(out, p);
        buf_putc(out, ' ');
        write_language(out, p->language);
        buf_putc(out, ' ');
        mime_write_nstring(out, p->location);
    }
    buf_putc(out, ')');
}
