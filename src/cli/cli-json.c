/* cli-json.c - the JSON writer behind every "--json" of the darius CLI.
 *
 * Output is compact (no insignificant whitespace) so that a command's
 * JSON is one line and scripts can also grep it. Strings follow RFC 8259
 * section 7: '"' and '\' are escaped, control characters (and DEL) are
 * written as \u00XX. Names come from stores and the user database and are
 * expected to be UTF-8, but the writer never trusts that: any byte that
 * does not start a well-formed, shortest-form UTF-8 sequence is replaced
 * by U+FFFD, so the output always parses (RFC 8259 section 8.1).
 */
#include "cli.h"

/* Length of the well-formed UTF-8 sequence at p (1..4), 0 when malformed. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80)   /* also stops at the terminating NUL */
            return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void cli_json_quote(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            buf_printf(b, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            buf_putc(b, (char)c);
            p++;
        } else {
            size_t n = utf8_seq(p);
            if (n == 0) {
                buf_puts(b, "\\ufffd");
                p++;
            } else {
                buf_append(b, p, n);
                p += n;
            }
        }
    }
    buf_putc(b, '"');
}

void cli_json_init(struct cli_json *j, struct buf *b)
{
    memset(j, 0, sizeof(*j));
    j->b = b;
}

/* Before any value: a comma when it is not the first in its container
 * (a value right after its key never takes one). */
static void before_value(struct cli_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->need_comma[j->depth])
        buf_putc(j->b, ',');
    j->need_comma[j->depth] = true;
}

static void open_container(struct cli_json *j, char c)
{
    before_value(j);
    buf_putc(j->b, c);
    /* Our own output has a fixed, small nesting; deeper would be a bug. */
    if (j->depth < CLI_JSON_MAX_DEPTH)
        j->depth++;
    j->need_comma[j->depth] = false;
}

static void close_container(struct cli_json *j, char c)
{
    buf_putc(j->b, c);
    if (j->depth > 0)
        j->depth--;
}

void cli_json_begin_object(struct cli_json *j) { open_container(j, '{'); }
void cli_json_end_object(struct cli_json *j) { close_container(j, '}'); }
void cli_json_begin_array(struct cli_json *j) { open_container(j, '['); }
void cli_json_end_array(struct cli_json *j) { close_container(j, ']'); }

void cli_json_key(struct cli_json *j, const char *key)
{
    before_value(j);
    cli_json_quote(j->b, key);
    buf_putc(j->b, ':');
    j->after_key = true;
}

void cli_json_string(struct cli_json *j, const char *s)
{
    before_value(j);
    cli_json_quote(j->b, s ? s : "");
}

void cli_json_int(struct cli_json *j, int64_t v)
{
    before_value(j);
    buf_printf(j->b, "%lld", (long long)v);
}

void cli_json_bool(struct cli_json *j, bool v)
{
    before_value(j);
    buf_puts(j->b, v ? "true" : "false");
}

void cli_json_null(struct cli_json *j)
{
    before_value(j);
    buf_puts(j->b, "null");
}

void cli_json_kv_string(struct cli_json *j, const char *key, const char *s)
{
    cli_json_key(j, key);
    cli_json_string(j, s);
}

void cli_json_kv_int(struct cli_json *j, const char *key, int64_t v)
{
    cli_json_key(j, key);
    cli_json_int(j, v);
}

void cli_json_kv_bool(struct cli_json *j, const char *key, bool v)
{
    cli_json_key(j, key);
    cli_json_bool(j, v);
}

void cli_print_buf(struct buf *b)
{
    fwrite(b->data ? b->data : "", 1, b->len, stdout);
    buf_free(b);
}
