/* sieve-parse.c - lexer and parser for the Sieve grammar (RFC 5228 8).
 *
 * Recursive descent over the source, building the tree of
 * sieve-private.h. Everything is bounded by the limits: the script size,
 * the nesting of blocks and tests (each level is one C stack frame, so
 * this bound is also what keeps the parser's stack small), the bytes of a
 * string, the strings of a list and the number of commands and tests.
 * Errors carry the line and column (1-based, columns counted in bytes) of
 * the token where they were found; parsing stops at the first error, as
 * the grammar gives no safe point to resume from.
 */
#include "sieve-private.h"
#include "utf8.h"

#include <ctype.h>
#include <stdarg.h>

struct lexer {
    const char *p, *end, *start;
    unsigned line;
    const char *line_start;
    const struct sieve_limits *lim;
    struct sieve_diags *diags;
    unsigned ncommands;
    bool failed;
};

enum tok { T_EOF, T_ERR, T_IDENT, T_TAG, T_NUM, T_STR, T_LBRACKET, T_RBRACKET, T_LPAREN, T_RPAREN,
           T_LBRACE, T_RBRACE, T_COMMA, T_SEMI };

struct token {
    enum tok type;
    unsigned line, col;
    char *text;      /* IDENT/TAG (lowercase), STR (bytes) */
    size_t len;
    uint64_t num;
};

void sv_diag(struct sieve_diags *d, unsigned line, unsigned col, bool warning, const char *fmt, ...)
{
    if (!d)
        return;
    va_list ap;
    va_start(ap, fmt);
    struct buf b = BUF_INIT;
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    ARRAY_GROW(d->v, d->n, d->cap);
    d->v[d->n].line = line;
    d->v[d->n].col = col;
    d->v[d->n].warning = warning;
    d->v[d->n].msg = buf_release(&b);
    d->n++;
    if (!warning)
        d->nerrors++;
}

void sieve_diags_free(struct sieve_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].msg);
    free(d->v);
    memset(d, 0, sizeof(*d));
}

void sieve_diags_format(const struct sieve_diags *d, struct buf *out)
{
    for (size_t i = 0; i < d->n; i++)
        buf_printf(out, "%u:%u: %s: %s\n", d->v[i].line, d->v[i].col, d->v[i].warning ? "warning" : "error",
                   d->v[i].msg);
}

static unsigned col_of(const struct lexer *lx, const char *p)
{
    return (unsigned)(p - lx->line_start) + 1;
}

static void lx_error(struct lexer *lx, unsigned line, unsigned col, const char *fmt, ...) ATTR_PRINTF(4, 5);
static void lx_error(struct lexer *lx, unsigned line, unsigned col, const char *fmt, ...)
{
    if (lx->failed)
        return;
    lx->failed = true;
    va_list ap;
    va_start(ap, fmt);
    struct buf b = BUF_INIT;
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    sv_diag(lx->diags, line, col, false, "%s", buf_cstr(&b));
    buf_free(&b);
}

static void newline(struct lexer *lx, const char *after)
{
    lx->line++;
    lx->line_start = after;
}

/* Skip white space and comments (RFC 5228 8.1: hash-comment to the line
 * end, bracket-comment "/" "*" ... "*" "/", which does not nest). */
static bool skip_ws(struct lexer *lx)
{
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == ' ' || c == '\t' || c == '\r') {
            lx->p++;
        } else if (c == '\n') {
            lx->p++;
            newline(lx, lx->p);
        } else if (c == '#') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
            unsigned l = lx->line, co = col_of(lx, lx->p);
            lx->p += 2;
            for (;;) {
                if (lx->p + 1 >= lx->end) {
                    lx_error(lx, l, co, "unterminated comment");
                    return false;
                }
                if (lx->p[0] == '*' && lx->p[1] == '/') {
                    lx->p += 2;
                    break;
                }
                if (*lx->p == '\n')
                    newline(lx, lx->p + 1);
                lx->p++;
            }
        } else {
            break;
        }
    }
    return true;
}

static bool str_add(struct lexer *lx, struct buf *b, const char *p, size_t n, unsigned line, unsigned col)
{
    if (b->len + n > lx->lim->max_string) {
        lx_error(lx, line, col, "string longer than %zu bytes", lx->lim->max_string);
        return false;
    }
    buf_append(b, p, n);
    return true;
}

/* quoted-string (8.1): backslash escapes any character; an escape other
 * than \\ and \" stands for the character itself (2.4.2). */
static bool lex_quoted(struct lexer *lx, struct token *t)
{
    struct buf b = BUF_INIT;
    lx->p++;
    for (;;) {
        if (lx->p >= lx->end) {
            lx_error(lx, t->line, t->col, "unterminated string");
            buf_free(&b);
            return false;
        }
        char c = *lx->p;
        if (c == '"') {
            lx->p++;
            break;
        }
        if (c == '\\') {
            if (lx->p + 1 >= lx->end) {
                lx_error(lx, t->line, t->col, "unterminated string");
                buf_free(&b);
                return false;
            }
            lx->p++;
            c = *lx->p;
        }
        if (c == '\n')
            newline(lx, lx->p + 1);
        if (!str_add(lx, &b, &c, 1, t->line, t->col)) {
            buf_free(&b);
            return false;
        }
        lx->p++;
    }
    t->type = T_STR;
    t->len = b.len;
    buf_putc(&b, '\0');
    t->text = buf_release(&b);
    return true;
}

/* multi-line (8.1): "text:" [WSP] (hash-comment / CRLF), then lines up to
 * a line holding only ".", with a leading "." of a line removed
 * (dot-stuffing). Bare LF line ends are accepted as CRLF; the string keeps
 * CRLF line ends as in the RFC's examples. */
static bool lex_multiline(struct lexer *lx, struct token *t)
{
    lx->p += 5;
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t'))
        lx->p++;
    if (lx->p < lx->end && *lx->p == '#') {
        while (lx->p < lx->end && *lx->p != '\n')
            lx->p++;
    }
    if (lx->p < lx->end && *lx->p == '\r')
        lx->p++;
    if (lx->p >= lx->end || *lx->p != '\n') {
        lx_error(lx, t->line, t->col, "\"text:\" must be followed by a line end");
        return false;
    }
    lx->p++;
    newline(lx, lx->p);
    struct buf b = BUF_INIT;
    for (;;) {
        if (lx->p >= lx->end) {
            lx_error(lx, t->line, t->col, "unterminated multi-line string (no \".\" line)");
            buf_free(&b);
            return false;
        }
        const char *nl = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));
        const char *le = nl ? nl : lx->end;
        const char *content_end = le > lx->p && le[-1] == '\r' ? le - 1 : le;
        const char *s = lx->p;
        if (s < content_end && *s == '.') {
            if (content_end - s == 1) {
                if (!nl) {
                    lx_error(lx, t->line, t->col, "the \".\" ending a multi-line string needs a line end");
                    buf_free(&b);
                    return false;
                }
                lx->p = nl + 1;
                newline(lx, lx->p);
                break;
            }
            s++;
        }
        if (!nl) {
            lx_error(lx, t->line, t->col, "unterminated multi-line string (no \".\" line)");
            buf_free(&b);
            return false;
        }
        if (!str_add(lx, &b, s, (size_t)(content_end - s), t->line, t->col) ||
            !str_add(lx, &b, "\r\n", 2, t->line, t->col)) {
            buf_free(&b);
            return false;
        }
        lx->p = nl + 1;
        newline(lx, lx->p);
    }
    t->type = T_STR;
    t->len = b.len;
    buf_putc(&b, '\0');
    t->text = buf_release(&b);
    return true;
}

static void next(struct lexer *lx, struct token *t)
{
    memset(t, 0, sizeof(*t));
    if (lx->failed || !skip_ws(lx)) {
        t->type = T_ERR;
        return;
    }
    t->line = lx->line;
    t->col = col_of(lx, lx->p);
    if (lx->p >= lx->end) {
        t->type = T_EOF;
        return;
    }
    unsigned char c = (unsigned char)*lx->p;
    switch (c) {
    case '[': t->type = T_LBRACKET; lx->p++; return;
    case ']': t->type = T_RBRACKET; lx->p++; return;
    case '(': t->type = T_LPAREN; lx->p++; return;
    case ')': t->type = T_RPAREN; lx->p++; return;
    case '{': t->type = T_LBRACE; lx->p++; return;
    case '}': t->type = T_RBRACE; lx->p++; return;
    case ',': t->type = T_COMMA; lx->p++; return;
    case ';': t->type = T_SEMI; lx->p++; return;
    case '"':
        if (!lex_quoted(lx, t))
            t->type = T_ERR;
        else if (!utf8_valid(t->text, t->len)) {
            lx_error(lx, t->line, t->col, "string is not valid UTF-8");
            free(t->text);
            t->text = NULL;
            t->type = T_ERR;
        }
        return;
    default:
        break;
    }
    if (isdigit(c)) {
        uint64_t v = 0;
        while (lx->p < lx->end && isdigit((unsigned char)*lx->p)) {
            unsigned d = (unsigned)(*lx->p - '0');
            if (v > (UINT64_MAX - d) / 10) {
                lx_error(lx, t->line, t->col, "number too large");
                t->type = T_ERR;
                return;
            }
            v = v * 10 + d;
            lx->p++;
        }
        /* QUANTIFIER (8.1): K, M, G = 2^10, 2^20, 2^30 */
        if (lx->p < lx->end) {
            int shift = 0;
            switch (*lx->p) {
            case 'k': case 'K': shift = 10; break;
            case 'm': case 'M': shift = 20; break;
            case 'g': case 'G': shift = 30; break;
            default: break;
            }
            if (shift) {
                if (v > (UINT64_MAX >> shift)) {
                    lx_error(lx, t->line, t->col, "number too large");
                    t->type = T_ERR;
                    return;
                }
                v <<= shift;
                lx->p++;
            }
        }
        if (lx->p < lx->end && (isalpha((unsigned char)*lx->p) || *lx->p == '_')) {
            lx_error(lx, t->line, t->col, "bad number");
            t->type = T_ERR;
            return;
        }
        t->type = T_NUM;
        t->num = v;
        return;
    }
    bool tag = false;
    const char *s = lx->p;
    if (c == ':') {
        tag = true;
        s++;
    }
    if (s < lx->end && (isalpha((unsigned char)*s) || *s == '_')) {
        const char *e = s;
        while (e < lx->end && (isalnum((unsigned char)*e) || *e == '_'))
            e++;
        size_t n = (size_t)(e - s);
        if (n > 128) {
            lx_error(lx, t->line, t->col, "identifier too long");
            t->type = T_ERR;
            return;
        }
        /* "text:" starts a multi-line string (8.1) */
        if (!tag && n == 4 && strncasecmp(s, "text", 4) == 0 && e < lx->end && *e == ':') {
            if (!lex_multiline(lx, t))
                t->type = T_ERR;
            else if (!utf8_valid(t->text, t->len)) {
                lx_error(lx, t->line, t->col, "string is not valid UTF-8");
                free(t->text);
                t->text = NULL;
                t->type = T_ERR;
            }
            return;
        }
        t->type = tag ? T_TAG : T_IDENT;
        t->text = xstrndup(s, n);
        for (char *q = t->text; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        t->len = n;
        lx->p = e;
        return;
    }
    if (c >= 0x20 && c < 0x7f)
        lx_error(lx, t->line, t->col, "unexpected character '%c'", c);
    else
        lx_error(lx, t->line, t->col, "unexpected byte 0x%02x", c);
    t->type = T_ERR;
}

/* One token of lookahead. */
struct parser {
    struct lexer lx;
    struct token tok;
};

static void advance(struct parser *ps)
{
    free(ps->tok.text);
    next(&ps->lx, &ps->tok);
}

static const char *tok_name(enum tok t)
{
    switch (t) {
    case T_EOF: return "end of script";
    case T_ERR: return "error";
    case T_IDENT: return "identifier";
    case T_TAG: return "tag";
    case T_NUM: return "number";
    case T_STR: return "string";
    case T_LBRACKET: return "'['";
    case T_RBRACKET: return "']'";
    case T_LPAREN: return "'('";
    case T_RPAREN: return "')'";
    case T_LBRACE: return "'{'";
    case T_RBRACE: return "'}'";
    case T_COMMA: return "','";
    case T_SEMI: return "';'";
    }
    return "?";
}

static void unexpected(struct parser *ps, const char *wanted)
{
    if (ps->tok.type == T_ERR)
        return;
    lx_error(&ps->lx, ps->tok.line, ps->tok.col, "expected %s, found %s", wanted, tok_name(ps->tok.type));
}

static void args_free(struct sv_arg *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].tag);
        for (size_t j = 0; j < a[i].nstrs; j++)
            free(a[i].strs[j].s);
        free(a[i].strs);
    }
    free(a);
}

void sv_nodes_free(struct sv_node *n, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(n[i].name);
        args_free(n[i].args, n[i].nargs);
        sv_nodes_free(n[i].tests, n[i].ntests);
        sv_nodes_free(n[i].block, n[i].nblock);
    }
    free(n);
}

static bool count_command(struct parser *ps)
{
    if (++ps->lx.ncommands > ps->lx.lim->max_commands) {
        lx_error(&ps->lx, ps->tok.line, ps->tok.col, "more than %u commands and tests", ps->lx.lim->max_commands);
        return false;
    }
    return true;
}

static bool parse_test(struct parser *ps, struct sv_node *n, unsigned depth);

static struct sv_str str_take(struct token *t)
{
    struct sv_str s = {t->text, t->len, false};
    t->text = NULL;
    return s;
}

/* arguments = *argument [ test / test-list ] */
static bool parse_arguments(struct parser *ps, struct sv_node *n, unsigned depth)
{
    size_t cap = 0;
    for (;;) {
        struct token *t = &ps->tok;
        if (t->type != T_TAG && t->type != T_NUM && t->type != T_STR && t->type != T_LBRACKET)
            break;
        if (n->nargs >= 64) {
            lx_error(&ps->lx, t->line, t->col, "too many arguments");
            return false;
        }
        ARRAY_GROW(n->args, n->nargs, cap);
        struct sv_arg *a = &n->args[n->nargs++];
        memset(a, 0, sizeof(*a));
        a->line = t->line;
        a->col = t->col;
        if (t->type == T_TAG) {
            a->kind = SV_ARG_TAG;
            a->tag = t->text;
            t->text = NULL;
            advance(ps);
        } else if (t->type == T_NUM) {
            a->kind = SV_ARG_NUM;
            a->num = t->num;
            advance(ps);
        } else if (t->type == T_STR) {
            a->kind = SV_ARG_STR;
            a->strs = xmalloc(sizeof(*a->strs));
            a->strs[0] = str_take(t);
            a->nstrs = 1;
            advance(ps);
        } else {
            a->kind = SV_ARG_LIST;
            size_t scap = 0;
            advance(ps);
            for (;;) {
                if (ps->tok.type != T_STR) {
                    unexpected(ps, "string in string list");
                    return false;
                }
                if (a->nstrs >= ps->lx.lim->max_list) {
                    lx_error(&ps->lx, ps->tok.line, ps->tok.col, "string list longer than %zu strings",
                             ps->lx.lim->max_list);
                    return false;
                }
                ARRAY_GROW(a->strs, a->nstrs, scap);
                a->strs[a->nstrs++] = str_take(&ps->tok);
                advance(ps);
                if (ps->tok.type == T_COMMA) {
                    advance(ps);
                    continue;
                }
                if (ps->tok.type == T_RBRACKET) {
                    advance(ps);
                    break;
                }
                unexpected(ps, "',' or ']'");
                return false;
            }
        }
    }
    if (ps->tok.type == T_IDENT) {
        n->has_tests = true;
        n->tests = xcalloc(1, sizeof(*n->tests));
        n->ntests = 1;
        return parse_test(ps, &n->tests[0], depth + 1);
    }
    if (ps->tok.type == T_LPAREN) {
        n->has_tests = true;
        size_t tcap = 0;
        advance(ps);
        for (;;) {
            if (ps->tok.type != T_IDENT) {
                unexpected(ps, "test");
                return false;
            }
            ARRAY_GROW(n->tests, n->ntests, tcap);
            memset(&n->tests[n->ntests], 0, sizeof(n->tests[0]));
            n->ntests++;
            if (!parse_test(ps, &n->tests[n->ntests - 1], depth + 1))
                return false;
            if (ps->tok.type == T_COMMA) {
                advance(ps);
                continue;
            }
            if (ps->tok.type == T_RPAREN) {
                advance(ps);
                break;
            }
            unexpected(ps, "',' or ')'");
            return false;
        }
    }
    return ps->tok.type != T_ERR;
}

static bool parse_test(struct parser *ps, struct sv_node *n, unsigned depth)
{
    if (depth > ps->lx.lim->max_nesting) {
        lx_error(&ps->lx, ps->tok.line, ps->tok.col, "tests nested deeper than %u", ps->lx.lim->max_nesting);
        return false;
    }
    if (!count_command(ps))
        return false;
    n->name = ps->tok.text;
    ps->tok.text = NULL;
    n->line = ps->tok.line;
    n->col = ps->tok.col;
    advance(ps);
    return parse_arguments(ps, n, depth);
}

static bool parse_commands(struct parser *ps, struct sv_node **out, size_t *nout, unsigned depth, bool in_block);

/* command = identifier arguments (";" / block) */
static bool parse_command(struct parser *ps, struct sv_node *n, unsigned depth)
{
    if (!count_command(ps))
        return false;
    n->name = ps->tok.text;
    ps->tok.text = NULL;
    n->line = ps->tok.line;
    n->col = ps->tok.col;
    advance(ps);
    if (!parse_arguments(ps, n, depth))
        return false;
    if (ps->tok.type == T_SEMI) {
        advance(ps);
        return true;
    }
    if (ps->tok.type == T_LBRACE) {
        if (depth + 1 > ps->lx.lim->max_nesting) {
            lx_error(&ps->lx, ps->tok.line, ps->tok.col, "blocks nested deeper than %u", ps->lx.lim->max_nesting);
            return false;
        }
        n->has_block = true;
        advance(ps);
        if (!parse_commands(ps, &n->block, &n->nblock, depth + 1, true))
            return false;
        advance(ps); /* the '}' */
        return true;
    }
    unexpected(ps, "';' or '{'");
    return false;
}

static bool parse_commands(struct parser *ps, struct sv_node **out, size_t *nout, unsigned depth, bool in_block)
{
    size_t cap = 0;
    for (;;) {
        if (ps->tok.type == T_RBRACE && in_block)
            return true;
        if (ps->tok.type == T_EOF && !in_block)
            return true;
        if (ps->tok.type != T_IDENT) {
            unexpected(ps, in_block ? "command or '}'" : "command");
            return false;
        }
        ARRAY_GROW(*out, *nout, cap);
        memset(&(*out)[*nout], 0, sizeof(**out));
        (*nout)++;
        if (!parse_command(ps, &(*out)[*nout - 1], depth))
            return false;
    }
}

bool sv_parse(const char *src, size_t len, const struct sieve_limits *l, struct sv_node **cmds, size_t *ncmds,
              struct sieve_diags *diags)
{
    *cmds = NULL;
    *ncmds = 0;
    if (len > l->max_script_size) {
        sv_diag(diags, 1, 1, false, "script larger than %zu bytes", l->max_script_size);
        return false;
    }
    struct parser ps;
    memset(&ps, 0, sizeof(ps));
    ps.lx.p = ps.lx.start = ps.lx.line_start = src;
    ps.lx.end = src + len;
    ps.lx.line = 1;
    ps.lx.lim = l;
    ps.lx.diags = diags;
    advance(&ps);
    bool ok = parse_commands(&ps, cmds, ncmds, 0, false) && !ps.lx.failed;
    free(ps.tok.text);
    if (!ok) {
        sv_nodes_free(*cmds, *ncmds);
        *cmds = NULL;
        *ncmds = 0;
    }
    return ok;
}
