/* managesieve-reader.c - reading ManageSieve commands (RFC 5804 section 4).
 *
 * Input is consumed a line at a time; a line that ends in a literal
 * marker switches to copying the literal's octets, after which the
 * command continues with the next line. The command is complete at a
 * line end that is not a literal marker. See managesieve-reader.h.
 */
#include "managesieve-reader.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

void msv_reader_init(struct msv_reader *r, size_t max_literal)
{
    memset(r, 0, sizeof(*r));
    r->max_literal = max_literal;
}

void msv_command_clear(struct msv_command *c)
{
    for (size_t i = 0; i < c->nargs; i++)
        free(c->args[i].data);
    memset(c, 0, sizeof(*c));
}

void msv_reader_reset(struct msv_reader *r)
{
    size_t max = r->max_literal;
    msv_command_clear(&r->cmd);
    msv_reader_init(r, max);
}

bool msv_reader_busy(const struct msv_reader *r)
{
    return r->cmd.nargs > 0 || r->lit != NULL || r->skipping;
}

enum msv_read_error msv_reader_error(const struct msv_reader *r)
{
    return r->err;
}

const char *msv_reader_error_command(const struct msv_reader *r)
{
    return r->err_cmd;
}

const char *msv_read_error_text(enum msv_read_error e)
{
    switch (e) {
    case MSV_ERR_NONE: return "No error";
    case MSV_ERR_SYNTAX: return "Syntax error in command";
    case MSV_ERR_TOOLONG: return "Command too long";
    case MSV_ERR_LITERAL: return "String too long";
    case MSV_ERR_UTF8: return "String is not valid UTF-8";
    }
    return "Error";
}

static bool is_atom_char(unsigned char c)
{
    /* ATOM-CHAR: any CHAR except ATOM-SPECIALS "(" ")" "{" SP CTL '"' '\' */
    return c > 0x20 && c < 0x7F && c != '(' && c != ')' && c != '{' && c != '"' && c != '\\';
}

/* Start skipping the rest of a bad command (the first error is kept). */
static void fail(struct msv_reader *r, enum msv_read_error e)
{
    if (!r->skipping) {
        r->err = e;
        r->err_cmd[0] = '\0';
        if (r->cmd.nargs > 0 && r->cmd.args[0].type == MSV_ARG_ATOM)
            snprintf(r->err_cmd, sizeof(r->err_cmd), "%s", r->cmd.args[0].data);
    }
    r->skipping = true;
    msv_command_clear(&r->cmd);
    r->lit = NULL;
    r->lit_left = 0;
}

/* Find a literal marker "{N}" or "{N+}" at the end of line[0..len);
 * returns true and *n, *start (offset of '{') if present. A marker whose
 * number is malformed or does not fit 32 bits (RFC 5804 "number") gives
 * *bad = true. */
static bool find_marker(const char *line, size_t len, uint64_t *n, size_t *start, bool *bad)
{
    *bad = false;
    if (len < 3 || line[len - 1] != '}')
        return false;
    size_t e = len - 1;
    if (line[e - 1] == '+')
        e--;
    size_t d = e;
    while (d > 0 && line[d - 1] >= '0' && line[d - 1] <= '9')
        d--;
    if (d == 0 || line[d - 1] != '{')
        return false;
    *start = d - 1;
    if (d == e || e - d > 10 || (e - d > 1 && line[d] == '0')) {
        *bad = true;
        return true;
    }
    uint64_t v = 0;
    for (size_t i = d; i < e; i++)
        v = v * 10 + (uint64_t)(line[i] - '0');
    if (v > UINT32_MAX) {
        *bad = true;
        return true;
    }
    *n = v;
    return true;
}

static struct msv_arg *new_arg(struct msv_reader *r, enum msv_arg_type t)
{
    if (r->cmd.nargs >= MSV_MAX_ARGS)
        return NULL;
    struct msv_arg *a = &r->cmd.args[r->cmd.nargs++];
    memset(a, 0, sizeof(*a));
    a->type = t;
    return a;
}

/* Tokenise line[0..len) (no CRLF, no trailing literal marker) into
 * arguments. cont: the line continues a command after a literal, so it
 * must start with SP or be empty. */
static enum msv_read_error tokenise(struct msv_reader *r, const char *line, size_t len, bool cont)
{
    size_t i = 0;
    bool need_sp = cont;
    while (i < len) {
        if (need_sp) {
            if (line[i] != ' ')
                return MSV_ERR_SYNTAX;
            i++;
            /* a literal marker after the SP is handled by the caller */
            if (i == len)
                return MSV_ERR_NONE;
        }
        need_sp = true;
        unsigned char c = (unsigned char)line[i];
        if (c == '"') {
            struct buf v = BUF_INIT;
            i++;
            bool closed = false;
            while (i < len) {
                unsigned char q = (unsigned char)line[i];
                if (q == '"') {
                    closed = true;
                    i++;
                    break;
                }
                if (q == '\\') {
                    /* QUOTED-CHAR: only '"' and '\' may be escaped */
                    if (i + 1 >= len || (line[i + 1] != '"' && line[i + 1] != '\\')) {
                        buf_free(&v);
                        return MSV_ERR_SYNTAX;
                    }
                    q = (unsigned char)line[i + 1];
                    i++;
                } else if (q == '\0' || q == '\r' || q == '\n') {
                    buf_free(&v);
                    return MSV_ERR_SYNTAX;
                }
                buf_putc(&v, (char)q);
                i++;
                if (v.len > MSV_MAX_QUOTED) {
                    buf_free(&v);
                    return MSV_ERR_TOOLONG;
                }
            }
            if (!closed) {
                buf_free(&v);
                return MSV_ERR_SYNTAX;
            }
            if (!utf8_valid(v.data ? v.data : "", v.len)) {
                buf_free(&v);
                return MSV_ERR_UTF8;
            }
            struct msv_arg *a = new_arg(r, MSV_ARG_STRING);
            if (!a) {
                buf_free(&v);
                return MSV_ERR_TOOLONG;
            }
            a->len = v.len;
            if (v.data) {
                a->data = buf_release(&v);
            } else {
                a->data = xmalloc(1);
                a->data[0] = '\0';
            }
        } else if (is_atom_char(c)) {
            size_t s = i;
            while (i < len && is_atom_char((unsigned char)line[i]))
                i++;
            if (i - s > MSV_MAX_ATOM)
                return MSV_ERR_TOOLONG;
            struct msv_arg *a = new_arg(r, MSV_ARG_ATOM);
            if (!a)
                return MSV_ERR_TOOLONG;
            a->data = xmalloc(i - s + 1);
            memcpy(a->data, line + s, i - s);
            a->data[i - s] = '\0';
            a->len = i - s;
        } else {
            return MSV_ERR_SYNTAX;  /* "(", ")", "{" not at the end, control characters */
        }
    }
    return MSV_ERR_NONE;
}

enum line_result { LINE_MORE, LINE_DONE, LINE_BAD_DONE };

/* A line (without its line end) of the current command. */
static enum line_result take_line(struct msv_reader *r, const char *line, size_t len)
{
    uint64_t n = 0;
    size_t st = len;
    bool bad = false;
    bool lit = find_marker(line, len, &n, &st, &bad);
    if (r->skipping) {
        /* The command is bad: its announced literals are still coming
         * (the client does not wait for us, RFC 5804 has no continuation
         * request) and are discarded; the command ends at the first line
         * without one. A malformed marker cannot be trusted for a size,
         * so it ends the command too. */
        if (lit && !bad) {
            r->skip_left = (size_t)n;
            return LINE_MORE;
        }
        r->skipping = false;
        return LINE_BAD_DONE;
    }
    bool cont = r->cmd.nargs > 0;
    r->text_len += len;
    if (r->text_len > MSV_MAX_LINE) {
        fail(r, MSV_ERR_TOOLONG);
        return take_line(r, line, len);
    }
    if (lit && bad) {
        fail(r, MSV_ERR_SYNTAX);
        return take_line(r, line, len);
    }
    size_t tlen = lit ? st : len;
    /* A literal is an argument: it follows a SP, or starts the line (an
     * AUTHENTICATE response, or right after another literal's data). */
    if (lit && tlen > 0 && line[tlen - 1] != ' ') {
        fail(r, MSV_ERR_SYNTAX);
        return take_line(r, line, len);
    }
    enum msv_read_error e = tokenise(r, line, lit && tlen > 0 ? tlen - 1 : tlen, cont);
    if (e == MSV_ERR_NONE && lit && tlen == 1 && !cont)
        e = MSV_ERR_SYNTAX;     /* " {N}": no command name */
    if (e != MSV_ERR_NONE) {
        fail(r, e);
        return take_line(r, line, len);
    }
    if (!lit)
        return r->cmd.nargs > 0 ? LINE_DONE : LINE_MORE;   /* an empty line is no command */
    size_t max = r->max_literal ? r->max_literal : MSV_MAX_LINE;
    /* One big string per command is all any command needs (PUTSCRIPT's
     * script): the literals of a command together stay within one
     * literal's limit plus one line. */
    bool over_total = r->lit_total + n > (uint64_t)max + MSV_MAX_LINE;
    if (n > max || over_total || r->cmd.nargs >= MSV_MAX_ARGS) {
        fail(r, n > max || over_total ? MSV_ERR_LITERAL : MSV_ERR_TOOLONG);
        r->skip_left = (size_t)n;
        return LINE_MORE;
    }
    struct msv_arg *a = new_arg(r, MSV_ARG_STRING);
    a->literal = true;
    a->data = xmalloc((size_t)n + 1);
    a->data[n] = '\0';
    a->len = 0;
    r->lit = a;
    r->lit_left = (size_t)n;
    r->lit_total += (size_t)n;
    return LINE_MORE;
}

enum msv_read_status msv_reader_input(struct msv_reader *r, struct buf *in, struct msv_command *out)
{
    for (;;) {
        if (r->skip_left > 0) {
            size_t k = MIN(r->skip_left, in->len);
            buf_consume(in, k);
            r->skip_left -= k;
            if (r->skip_left > 0)
                return MSV_READ_MORE;
            continue;
        }
        if (r->lit) {
            size_t k = MIN(r->lit_left, in->len);
            if (k) {
                memcpy(r->lit->data + r->lit->len, in->data, k);
                r->lit->len += k;
                r->lit_left -= k;
                buf_consume(in, k);
            }
            if (r->lit_left > 0)
                return MSV_READ_MORE;
            r->lit = NULL;
            continue;
        }
        char *nl = in->len ? memchr(in->data, '\n', in->len) : NULL;
        if (!nl) {
            if (in->len > MSV_MAX_LINE) {
                /* No line end in sight: drop it and skip to the line end. */
                fail(r, MSV_ERR_TOOLONG);
                buf_consume(in, in->len);
            }
            return MSV_READ_MORE;
        }
        size_t ll = (size_t)(nl - in->data);
        size_t len = ll;
        if (len > 0 && in->data[len - 1] == '\r')
            len--;      /* a bare LF ends a line too, as in most servers */
        enum line_result lr = take_line(r, in->data, len);
        buf_consume(in, ll + 1);
        if (lr == LINE_DONE) {
            *out = r->cmd;
            memset(&r->cmd, 0, sizeof(r->cmd));
            r->text_len = 0;
            r->lit_total = 0;
            return MSV_READ_COMMAND;
        }
        if (lr == LINE_BAD_DONE) {
            r->text_len = 0;
            r->lit_total = 0;
            return MSV_READ_ERROR;
        }
    }
}

void msv_put_string(struct buf *out, const char *s, size_t len)
{
    bool quoted = len <= MSV_MAX_QUOTED && utf8_valid(s, len);
    for (size_t i = 0; quoted && i < len; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            quoted = false;
    if (!quoted) {
        buf_printf(out, "{%zu}\r\n", len);
        buf_append(out, s, len);
        return;
    }
    buf_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_putc(out, '\\');
        buf_putc(out, s[i]);
    }
    buf_putc(out, '"');
}
