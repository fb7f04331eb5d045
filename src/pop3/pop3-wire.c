/* pop3-wire.c - pure POP3 helpers: command splitting, numbers, and the
 * RETR/TOP transfer encoding with its exact size.
 *
 * Why a separate size computation: RFC 1939 (LIST, STAT) asks for the
 * size in octets; clients such as fetchmail compare it with what RETR
 * delivers. Darius stores messages as received (usually CRLF, but bare LF
 * is possible), so RFC822.SIZE can differ from what goes on the wire. We
 * count exactly what pop3_xfer_run produces, with the same loop.
 */
#include "pop3.h"
#include <ctype.h>

bool pop3_parse_line(char *line, struct pop3_cmdline *out)
{
    memset(out, 0, sizeof(*out));
    out->rest = line + strlen(line);
    char *p = line;
    size_t kl = 0;
    while (p[kl] && p[kl] != ' ')
        kl++;
    if (kl == 0 || kl > 4)
        return false;
    for (size_t i = 0; i < kl; i++) {
        if (!isalpha((unsigned char)p[i]) && !(i > 0 && isdigit((unsigned char)p[i])))
            return false;
        out->keyword[i] = (char)toupper((unsigned char)p[i]);
    }
    out->keyword[kl] = '\0';
    if (!p[kl])
        return true;
    /* p[kl] == ' ' */
    out->rest = p + kl + 1;
    char *a = p + kl + 1;
    for (;;) {
        char *sp = strchr(a, ' ');
        if (sp)
            *sp = '\0';
        if (!*a)
            return false; /* empty argument: double space or trailing space */
        if (out->argc < POP3_MAX_ARGS)
            out->argv[out->argc++] = a;
        else
            out->too_many = true;
        if (!sp)
            break;
        a = sp + 1;
    }
    return true;
}

bool pop3_parse_msgnum(const char *s, uint32_t max, uint32_t *out)
{
    if (!s || !*s || strlen(s) > 10)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0 || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool pop3_parse_count(const char *s, long *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (v < 0x80000000ull)
            v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v > 0x7fffffffull ? 0x7fffffffL : (long)v;
    return true;
}

void pop3_xfer_init(struct pop3_xfer *x, const char *data, size_t len, long top_lines)
{
    memset(x, 0, sizeof(*x));
    x->data = data;
    x->len = len;
    x->body_lines = top_lines;
}

/* One line: [pos, end) of content (without its line ending), next = where
 * the following line starts. */
static bool next_line(const struct pop3_xfer *x, size_t *end, size_t *next)
{
    if (x->pos >= x->len)
        return false;
    const char *nl = memchr(x->data + x->pos, '\n', x->len - x->pos);
    if (!nl) {
        *end = x->len;
        *next = x->len;
        return true;
    }
    size_t e = (size_t)(nl - x->data);
    *next = e + 1;
    if (e > x->pos && x->data[e - 1] == '\r')
        e--;
    *end = e;
    return true;
}

/* Process lines; out may be NULL (size only). Adds to *count the octets
 * produced. Stops after at least max octets (when out != NULL). */
static bool xfer_lines(struct pop3_xfer *x, struct buf *out, size_t max, uint64_t *count)
{
    size_t added = 0;
    while (!x->done) {
        if (out && added >= max)
            return false;
        size_t end, next;
        if (x->body_lines == 0 && x->in_body) {
            x->done = true;
            break;
        }
        if (!next_line(x, &end, &next)) {
            x->done = true;
            break;
        }
        size_t n = end - x->pos;
        bool dot = n > 0 && x->data[x->pos] == '.';
        size_t produced = n + 2 + (dot ? 1 : 0);
        if (out) {
            if (dot)
                buf_putc(out, '.');
            buf_append(out, x->data + x->pos, n);
            buf_append(out, "\r\n", 2);
        }
        added += produced;
        if (count)
            *count += produced;
        if (x->in_body) {
            if (x->body_lines > 0)
                x->body_lines--;
        } else if (n == 0) {
            x->in_body = true; /* the blank line ending the header */
        }
        x->pos = next;
    }
    return true;
}

bool pop3_xfer_run(struct pop3_xfer *x, struct buf *out, size_t max)
{
    return xfer_lines(x, out, max, NULL);
}

uint64_t pop3_wire_size(const char *data, size_t len)
{
    struct pop3_xfer x;
    pop3_xfer_init(&x, data, len, -1);
    uint64_t n = 0;
    xfer_lines(&x, NULL, 0, &n);
    return n;
}
