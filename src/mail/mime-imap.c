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

/* Length of the longest prefix of s[0..len) that is at most max bytes and
 * does not end inside a UTF-8 sequence: a truncated string stays valid
 * UTF-8 when it was (and 8-bit garbage stays garbage, never worse). */
static size_t trunc_len(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* s[n] is the first byte cut off. When it continues a sequence that
     * began before n, that sequence goes too. */
    if (((unsigned char)s[n] & 0xc0) == 0x80) {
        size_t k = n;
        while (k > 0 && n - k < 3 && ((unsigned char)s[k - 1] & 0xc0) == 0x80)
            k--;
        if (k > 0 && (unsigned char)s[k - 1] >= 0xc0)
            n = k - 1;
    }
    return n;
}

static void write_string_max(struct buf *out, const char *s, size_t max)
{
    mime_write_imap_string(out, s, trunc_len(s, strlen(s), max));
}

static void write_nstring_max(struct buf *out, const char *s, size_t max)
{
    if (!s)
        buf_puts(out, "NIL");
    else
        write_string_max(out, s, max);
}

/* Tokens (type, subtype, encoding, parameter and disposition names) are
 * uppercased; a hostile one may be megabytes long, so it is cut. */
static void write_upper(struct buf *out, const char *s, size_t max)
{
    size_t n = trunc_len(s, strlen(s), max);
    char *u = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        u[i] = (char)toupper((unsigned char)s[i]);
    u[n] = '\0';
    mime_write_imap_string(out, u, n);
    free(u);
}

/* ---------- RFC 5322 address lists ---------- */

/* The address list of one header field is parsed from a stream of tokens
 * read one at a time: nothing is allocated per token, and parsing stops as
 * soon as MIME_ENV_MAX_ADDRESSES addresses or MIME_ENV_MAX_LIST bytes have
 * been written, so a 10 MB From header costs one bounded pass over at most
 * the part of it that is used. Every string an address is made of is
 * collected in a buffer capped at MIME_ENV_MAX_ADDR_PART bytes. */

enum tok_type { T_WORD, T_QUOTED, T_DOMLIT, T_COMMENT, T_SPECIAL };

struct tok {
    enum tok_type type;
    char ch;            /* T_SPECIAL */
    bool ws_before;     /* whitespace or comment before it */
    size_t off, len;    /* into text; T_QUOTED/T_COMMENT: the content, escapes kept */
};

struct aparse {
    const char *s;
    size_t n, pos;       /* input and read position */
    bool ws;             /* white space seen since the last token */
    struct tok cur;      /* the next token, valid when have */
    bool have, eof;
    size_t ntok;         /* tokens consumed (progress checks) */
    struct buf *out;
    size_t out_start;    /* out->len when this field began */
    size_t naddr;        /* addresses and group starts written */
    bool full;           /* a limit was reached: write no more addresses */
    bool group_open;     /* a group start was written and not yet closed */
    bool any;            /* something written */
    /* mime_address_each: each mailbox goes to cb instead of out. */
    void (*cb)(void *arg, const char *name, const char *local, const char *domain);
    void *cb_arg;
};

static bool is_addr_special(char c)
{
    return strchr("()<>[]:;@\\,\"", c) != NULL;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Read the next token into a->cur (a->eof at the end of the input). */
static void lex(struct aparse *a)
{
    const char *s = a->s;
    size_t n = a->n, i = a->pos;
    while (i < n && is_ws(s[i])) {
        a->ws = true;
        i++;
    }
    if (i >= n) {
        a->pos = i;
        a->eof = true;
        a->have = false;
        return;
    }
    struct tok *t = &a->cur;
    memset(t, 0, sizeof(*t));
    t->ws_before = a->ws;
    a->ws = false;
    char c = s[i];
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
        a->ws = true;
    } else if (c == '"') {
        size_t st = ++i;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\' && i + 1 < n)
                i++;
            i++;
        }
        t->type = T_QUOTED;
        t->off = st;
        t->len = (i < n ? i : n) - st;
        if (i < n)
            i++;
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
        while (i < n && !is_addr_special(s[i]) && !is_ws(s[i]))
            i++;
        t->type = T_WORD;
        t->off = st;
        t->len = i - st;
    }
    a->pos = i;
    a->have = true;
}

static const struct tok *peek(struct aparse *a)
{
    if (!a->have && !a->eof)
        lex(a);
    return a->have ? &a->cur : NULL;
}

/* Consume the next token and return a copy of it (tokens hold only
 * offsets into the input, so copies stay valid). */
static struct tok take(struct aparse *a)
{
    peek(a);
    struct tok t = a->cur;
    a->have = false;
    a->ntok++;
    return t;
}

static bool more(struct aparse *a)
{
    return peek(a) != NULL;
}

static bool at_special(struct aparse *a, const char *set)
{
    const struct tok *t = peek(a);
    return t && t->type == T_SPECIAL && strchr(set, t->ch);
}

/* Capped appends: a part stops growing at MIME_ENV_MAX_ADDR_PART (+1, so
 * that the truncation is visible to trunc_len at write time). */
static void cap_append(struct buf *b, const char *s, size_t n)
{
    size_t room = MIME_ENV_MAX_ADDR_PART + 4 > b->len ? MIME_ENV_MAX_ADDR_PART + 4 - b->len : 0;
    buf_append(b, s, n < room ? n : room);
}

static void cap_putc(struct buf *b, char c)
{
    cap_append(b, &c, 1);
}

/* Unescaped content of a quoted string token. */
static void append_unquoted(struct aparse *a, const struct tok *t, struct buf *b)
{
    const char *s = a->s + t->off;
    for (size_t i = 0; i < t->len && b->len < MIME_ENV_MAX_ADDR_PART + 4; i++) {
        if (s[i] == '\\' && i + 1 < t->len)
            i++;
        buf_putc(b, s[i]);
    }
}

/* A phrase (display name): words separated by one space where the
 * original had white space. */
static void append_phrase_tok(struct aparse *a, const struct tok *t, struct buf *b)
{
    if (b->len && t->ws_before)
        cap_putc(b, ' ');
    if (t->type == T_QUOTED)
        append_unquoted(a, t, b);
    else
        cap_append(b, a->s + t->off, t->len);
}

/* Quoted content that is atext only needs no quotes to rebuild the
 * address (RFC 5322 3.2.3). */
static bool atext_only(const struct buf *u)
{
    if (u->len == 0 || u->data[0] == '.')
        return false;
    for (size_t i = 0; i < u->len; i++) {
        char c = u->data[i];
        if (is_addr_special(c) || c == ' ' || c == '\t' || (unsigned char)c < 32)
            return false;
    }
    return true;
}

/* Local part: no spaces; a quoted string is kept quoted when its content
 * needs it, so the client can rebuild a valid address. */
static void append_local_tok(struct aparse *a, const struct tok *t, struct buf *b)
{
    if (t->type == T_QUOTED) {
        struct buf u = BUF_INIT;
        append_unquoted(a, t, &u);
        if (atext_only(&u)) {
            cap_append(b, u.data, u.len);
        } else {
            cap_putc(b, '"');
            for (size_t i = 0; i < u.len; i++) {
                if (u.data[i] == '"' || u.data[i] == '\\')
                    cap_putc(b, '\\');
                cap_putc(b, u.data[i]);
            }
            cap_putc(b, '"');
        }
        buf_free(&u);
    } else if (t->type == T_SPECIAL) {
        cap_putc(b, t->ch);
    } else if (t->type != T_COMMENT) {
        cap_append(b, a->s + t->off, t->len);
    }
}

/* Room for one more address in this field? Checked before each one, so a
 * field is at most MIME_ENV_MAX_LIST plus one address (four parts of at
 * most MIME_ENV_MAX_ADDR_PART bytes) plus a group end. */
static bool room(struct aparse *a)
{
    if (!a->full && (a->naddr >= MIME_ENV_MAX_ADDRESSES || a->out->len - a->out_start >= MIME_ENV_MAX_LIST))
        a->full = true;
    return !a->full;
}

static void emit_addr(struct aparse *a, const char *name, const char *adl, const char *mbox, const char *host)
{
    if (a->cb)
        return; /* group starts and ends: the callback sees mailboxes only */
    if (!a->any)
        buf_putc(a->out, '(');
    a->any = true;
    buf_putc(a->out, '(');
    write_nstring_max(a->out, name && *name ? name : NULL, MIME_ENV_MAX_ADDR_PART);
    buf_putc(a->out, ' ');
    write_nstring_max(a->out, adl && *adl ? adl : NULL, MIME_ENV_MAX_ADDR_PART);
    buf_putc(a->out, ' ');
    write_nstring_max(a->out, mbox, MIME_ENV_MAX_ADDR_PART);
    buf_putc(a->out, ' ');
    write_nstring_max(a->out, host, MIME_ENV_MAX_ADDR_PART);
    buf_putc(a->out, ')');
}

/* A missing host must not be written as NIL: (x NIL "y" NIL) means
 * "start of group y" in IMAP. Dovecot's placeholders are used instead. */
static void emit_mailbox(struct aparse *a, const char *name, const char *adl, struct buf *local, struct buf *dom)
{
    if (!room(a))
        return;
    a->naddr++;
    if (a->cb) {
        a->cb(a->cb_arg, name ? name : "", buf_cstr(local), buf_cstr(dom));
        return;
    }
    emit_addr(a, name, adl, local->len ? buf_cstr(local) : "MISSING_MAILBOX",
              dom->len ? buf_cstr(dom) : "MISSING_DOMAIN");
}

static void parse_domain(struct aparse *a, struct buf *dom, const char *stop)
{
    while (more(a) && !at_special(a, stop)) {
        struct tok t = take(a);
        if (t.type == T_COMMENT)
            continue;
        if (t.type == T_QUOTED)
            append_unquoted(a, &t, dom);
        else if (t.type == T_SPECIAL)
            cap_putc(dom, t.ch);
        else
            cap_append(dom, a->s + t.off, t.len);
    }
}

static void parse_angle(struct aparse *a, const char *name)
{
    struct buf adl = BUF_INIT, local = BUF_INIT, dom = BUF_INIT;
    take(a); /* '<' */
    if (at_special(a, "@")) {
        /* obs-route: "@a,@b:" (RFC 5322 4.4), kept as the IMAP adl. */
        while (more(a) && !at_special(a, ":>")) {
            struct tok t = take(a);
            append_local_tok(a, &t, &adl);
        }
        if (at_special(a, ":"))
            take(a);
    }
    while (more(a) && !at_special(a, "@>,;<")) {
        struct tok t = take(a);
        append_local_tok(a, &t, &local);
    }
    if (at_special(a, "@")) {
        take(a);
        parse_domain(a, &dom, ">,;<");
    }
    if (at_special(a, ">"))
        take(a);
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
    size_t start = a->ntok;
    while (more(a) && !at_special(a, "<>@:,;")) {
        struct tok t = take(a);
        if (t.type == T_COMMENT) {
            buf_reset(&comment);
            cap_append(&comment, a->s + t.off, t.len);
            continue;
        }
        append_phrase_tok(a, &t, &phrase);
        append_local_tok(a, &t, &local);
    }
    const struct tok *nt = peek(a);
    char c = nt ? nt->ch : '\0';
    if (c == ':' && !in_group && phrase.len) {
        /* group: display-name ":" [group-list] ";" (RFC 5322 3.4) */
        take(a);
        if (room(a)) {
            a->naddr++;
            emit_addr(a, NULL, NULL, buf_cstr(&phrase), NULL);
            a->group_open = true;
        }
        while (more(a) && !at_special(a, ";") && !a->full) {
            if (at_special(a, ",")) {
                take(a);
                continue;
            }
            size_t before = a->ntok;
            parse_address(a, true);
            if (a->ntok == before)
                take(a); /* stray token: always make progress */
        }
        if (at_special(a, ";"))
            take(a);
        /* The group end is written whenever its start was, even past the
         * limits: the list stays well-formed (RFC 9051 7.5.2). */
        if (a->group_open) {
            emit_addr(a, NULL, NULL, NULL, NULL);
            a->group_open = false;
        }
    } else if (c == '<') {
        parse_angle(a, buf_cstr(&phrase));
    } else if (c == '@') {
        take(a);
        struct buf dom = BUF_INIT;
        /* addr-spec; a trailing comment is the name ("a@b (Name)"). */
        while (more(a) && !at_special(a, "<>@:,;")) {
            struct tok t = take(a);
            if (t.type == T_COMMENT) {
                buf_reset(&comment);
                cap_append(&comment, a->s + t.off, t.len);
                continue;
            }
            append_local_tok(a, &t, &dom);
        }
        if (at_special(a, "<")) {
            /* "a@b <c@d>": broken, but the angle address is the real one. */
            parse_angle(a, buf_cstr(&phrase));
        } else if (local.len || dom.len) {
            emit_mailbox(a, comment.len ? buf_cstr(&comment) : NULL, NULL, &local, &dom);
        }
        buf_free(&dom);
    } else if (a->ntok > start && phrase.len) {
        /* A bare word without domain ("undisclosed-recipients"). */
        struct buf dom = BUF_INIT;
        emit_mailbox(a, NULL, NULL, &local, &dom);
    } else if (nt && (c == '>' || c == ':' || c == '@')) {
        take(a); /* junk */
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
    struct aparse a = {.s = value, .n = strlen(value), .out = out, .out_start = out->len};
    while (more(&a) && !a.full) {
        if (at_special(&a, ",;")) {
            take(&a);
            continue;
        }
        size_t before = a.ntok;
        parse_address(&a, false);
        if (a.ntok == before)
            take(&a);
    }
    if (a.any)
        buf_putc(out, ')');
    else
        buf_puts(out, "NIL");
}

void mime_address_each(const char *value, size_t len,
                       void (*cb)(void *arg, const char *name, const char *local, const char *domain), void *arg)
{
    struct buf scratch = BUF_INIT;
    struct aparse a = {.s = value, .n = len, .out = &scratch, .cb = cb, .cb_arg = arg};
    while (more(&a) && !a.full) {
        if (at_special(&a, ",;")) {
            take(&a);
            continue;
        }
        size_t before = a.ntok;
        parse_address(&a, false);
        if (a.ntok == before)
            take(&a);
    }
    buf_free(&scratch);
}

/* ---------- ENVELOPE ---------- */

/* Every string of an ENVELOPE is bounded (mime.h, MIME_ENV_*): a hostile
 * 10 MB From header gives at most MIME_ENV_MAX_LIST bytes of addresses,
 * written once and copied for Sender and Reply-To when they default to it. */
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
    write_nstring_max(out, date, MIME_ENV_MAX_STRING);
    buf_putc(out, ' ');
    write_nstring_max(out, subject, MIME_ENV_MAX_STRING);
    buf_putc(out, ' ');
    struct buf fromlist = BUF_INIT, tmp = BUF_INIT;
    mime_write_addresses(&fromlist, from);
    buf_append(out, fromlist.data, fromlist.len);
    buf_putc(out, ' ');
    /* RFC 9051 7.5.2: sender and reply-to default to from. An empty or
     * unparsable field also defaults, as Dovecot and Cyrus do. */
    mime_write_addresses(&tmp, sender);
    if (!strcmp(buf_cstr(&tmp), "NIL"))
        buf_append(out, fromlist.data, fromlist.len);
    else
        buf_append(out, tmp.data, tmp.len);
    buf_putc(out, ' ');
    buf_reset(&tmp);
    mime_write_addresses(&tmp, reply);
    if (!strcmp(buf_cstr(&tmp), "NIL"))
        buf_append(out, fromlist.data, fromlist.len);
    else
        buf_append(out, tmp.data, tmp.len);
    buf_free(&tmp);
    buf_free(&fromlist);
    buf_putc(out, ' ');
    mime_write_addresses(out, to);
    buf_putc(out, ' ');
    mime_write_addresses(out, cc);
    buf_putc(out, ' ');
    mime_write_addresses(out, bcc);
    buf_putc(out, ' ');
    write_nstring_max(out, irt, MIME_ENV_MAX_STRING);
    buf_putc(out, ' ');
    write_nstring_max(out, mid, MIME_ENV_MAX_STRING);
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

/* Output budget of one BODYSTRUCTURE/BODY text (mime.h): once the text
 * is MIME_BODYSTRUCTURE_MAX long, the remaining parts are written lean -
 * every optional item NIL (parameters, id, description, md5, disposition,
 * language, location, the envelopes of message/rfc822 parts) and tokens
 * cut to MIME_BS_LEAN_TOKEN - so the text stays well-formed and complete
 * in structure (part numbers, types, sizes) and its size is bounded by
 * about MIME_BODYSTRUCTURE_MAX + MIME_MAX_PARTS * 200 bytes. */
struct bs_ctx {
    struct buf *out;
    const char *data;
    bool extended;
    size_t limit;       /* out->len at which lean writing starts */
};

static bool lean(const struct bs_ctx *c)
{
    return c->out->len >= c->limit;
}

static size_t token_max(const struct bs_ctx *c)
{
    return lean(c) ? MIME_BS_LEAN_TOKEN : MIME_BS_MAX_TOKEN;
}

static void write_params(const struct bs_ctx *c, const struct mime_param *ps, size_t n)
{
    struct buf *out = c->out;
    if (!n || lean(c)) {
        buf_puts(out, "NIL");
        return;
    }
    buf_putc(out, '(');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ' ');
        write_upper(out, ps[i].name, MIME_BS_MAX_TOKEN);
        buf_putc(out, ' ');
        write_string_max(out, ps[i].value, MIME_ENV_MAX_STRING);
    }
    buf_putc(out, ')');
}

static void write_disposition(const struct bs_ctx *c, const struct mime_part *p)
{
    struct buf *out = c->out;
    if (!p->disposition || lean(c)) {
        buf_puts(out, "NIL");
        return;
    }
    buf_putc(out, '(');
    write_upper(out, p->disposition, MIME_BS_MAX_TOKEN);
    buf_putc(out, ' ');
    write_params(c, p->disp_params, p->ndisp_params);
    buf_putc(out, ')');
}

/* body-fld-lang: nstring / "(" string *(SP string) ")" from the
 * comma-separated Content-Language (RFC 3282). */
static void write_language(const struct bs_ctx *c, const char *lang)
{
    struct buf *out = c->out;
    if (!lang || lean(c)) {
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
            lens[n] = trunc_len(s, (size_t)(p - s), MIME_BS_MAX_TOKEN);
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

static void write_opt_nstring(const struct bs_ctx *c, const char *s)
{
    write_nstring_max(c->out, lean(c) ? NULL : s, MIME_ENV_MAX_STRING);
}

static void write_bs(const struct bs_ctx *c, const struct mime_part *p)
{
    struct buf *out = c->out;
    buf_putc(out, '(');
    if (p->nchildren) {
        for (size_t i = 0; i < p->nchildren; i++)
            write_bs(c, &p->children[i]);
        buf_putc(out, ' ');
        write_upper(out, p->subtype, token_max(c));
        if (c->extended) {
            buf_putc(out, ' ');
            write_params(c, p->params, p->nparams);
            buf_putc(out, ' ');
            write_disposition(c, p);
            buf_putc(out, ' ');
            write_language(c, p->language);
            buf_putc(out, ' ');
            write_opt_nstring(c, p->location);
        }
        buf_putc(out, ')');
        return;
    }
    write_upper(out, p->type, token_max(c));
    buf_putc(out, ' ');
    write_upper(out, p->subtype, token_max(c));
    buf_putc(out, ' ');
    write_params(c, p->params, p->nparams);
    buf_putc(out, ' ');
    write_opt_nstring(c, p->id);
    buf_putc(out, ' ');
    write_opt_nstring(c, p->description);
    buf_putc(out, ' ');
    write_upper(out, p->encoding ? p->encoding : "7bit", token_max(c));
    buf_printf(out, " %zu", p->body_len);
    if (p->message) {
        buf_putc(out, ' ');
        if (lean(c))
            buf_puts(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
        else
            mime_write_envelope(out, c->data, p->message);
        buf_putc(out, ' ');
        write_bs(c, p->message);
        buf_printf(out, " %zu", p->body_lines);
    } else if (!strcmp(p->type, "text")) {
        buf_printf(out, " %zu", p->body_lines);
    }
    if (c->extended) {
        buf_putc(out, ' ');
        write_opt_nstring(c, p->md5);
        buf_putc(out, ' ');
        write_disposition(c, p);
        buf_putc(out, ' ');
        write_language(c, p->language);
        buf_putc(out, ' ');
        write_opt_nstring(c, p->location);
    }
    buf_putc(out, ')');
}

void mime_write_bodystructure(struct buf *out, const char *data, const struct mime_part *p, bool extended)
{
    struct bs_ctx c = {.out = out, .data = data, .extended = extended, .limit = out->len + MIME_BODYSTRUCTURE_MAX};
    write_bs(&c, p);
}
