/* test-managesieve-reader.c - the ManageSieve command reader (RFC 5804
 * section 4) and string output, including hostile input. */
#include "unit.h"
#include "managesieve-reader.h"
#include "utf8.h"

struct run {
    struct msv_reader r;
    struct buf in;
};

static void run_init(struct run *t, size_t max_literal)
{
    msv_reader_init(&t->r, max_literal);
    buf_init(&t->in);
}

static void run_free(struct run *t)
{
    msv_reader_reset(&t->r);
    buf_free(&t->in);
}

/* Feed s in pieces of `step` octets (0 = all at once) and return the first
 * non-MORE status. */
static enum msv_read_status feed(struct run *t, const char *s, size_t step, struct msv_command *out)
{
    size_t n = strlen(s), i = 0;
    enum msv_read_status st = MSV_READ_MORE;
    if (step == 0)
        step = n ? n : 1;
    while (i < n) {
        size_t k = n - i < step ? n - i : step;
        buf_append(&t->in, s + i, k);
        i += k;
        st = msv_reader_input(&t->r, &t->in, out);
        if (st != MSV_READ_MORE) {
            /* keep the rest for the next call */
            buf_append(&t->in, s + i, n - i);
            return st;
        }
    }
    return st;
}

static void test_simple_commands(void)
{
    struct run t;
    run_init(&t, 1000);
    struct msv_command c;
    CHECK(feed(&t, "CAPABILITY\r\n", 0, &c) == MSV_READ_COMMAND);
    CHECK(c.nargs == 1);
    CHECK_STR(c.args[0].data, "CAPABILITY");
    CHECK(c.args[0].type == MSV_ARG_ATOM);
    msv_command_clear(&c);
    CHECK(feed(&t, "noop \"tag\\\"x\\\\\"\r\n", 0, &c) == MSV_READ_COMMAND);
    CHECK(c.nargs == 2);
    CHECK_STR(c.args[0].data, "noop");
    CHECK(c.args[1].type == MSV_ARG_STRING && !c.args[1].literal);
    CHECK_STR(c.args[1].data, "tag\"x\\");
    msv_command_clear(&c);
    CHECK(feed(&t, "HAVESPACE \"myscript\" 999999\r\n", 0, &c) == MSV_READ_COMMAND);
    CHECK(c.nargs == 3);
    CHECK_STR(c.args[2].data, "999999");
    CHECK(c.args[2].type == MSV_ARG_ATOM);
    msv_command_clear(&c);
    /* an empty line is no command; a bare LF ends a line */
    CHECK(feed(&t, "\r\nLOGOUT\n", 0, &c) == MSV_READ_COMMAND);
    CHECK_STR(c.args[0].data, "LOGOUT");
    msv_command_clear(&c);
    CHECK(!msv_reader_busy(&t.r));
    run_free(&t);
}

static void test_literals(void)
{
    /* RFC 5804 section 2.6 example, byte by byte and at once */
    const char *put = "Putscript \"foo\" {31+}\r\n#comment\r\nInvalidSieveCommand\r\n\r\n";
    for (size_t step = 0; step <= 1; step++) {
        struct run t;
        run_init(&t, 1000);
        struct msv_command c;
        CHECK(feed(&t, put, step, &c) == MSV_READ_COMMAND);
        CHECK(c.nargs == 3);
        CHECK_STR(c.args[1].data, "foo");
        CHECK(c.args[2].literal);
        CHECK(c.args[2].len == 31);
        CHECK_STR(c.args[2].data, "#comment\r\nInvalidSieveCommand\r\n");
        msv_command_clear(&c);
        CHECK(t.in.len == 0);
        run_free(&t);
    }
    /* a synchronising literal is read the same way; arguments after a literal */
    struct run t;
    run_init(&t, 1000);
    struct msv_command c;
    CHECK(feed(&t, "HAVESPACE {3}\r\nfoo 100\r\n", 0, &c) == MSV_READ_COMMAND);
    CHECK(c.nargs == 3);
    CHECK_STR(c.args[1].data, "foo");
    CHECK_STR(c.args[2].data, "100");
    msv_command_clear(&c);
    /* literal with NUL and CRLF inside, empty literal */
    CHECK(feed(&t, "PUTSCRIPT {0+}\r\n {2+}\r\nab\r\n", 0, &c) == MSV_READ_COMMAND);
    CHECK(c.nargs == 3 && c.args[1].len == 0 && c.args[2].len == 2);
    msv_command_clear(&c);
    /* an AUTHENTICATE response: a lone string, quoted or literal */
    CHECK(feed(&t, "\"AGZvbwBiYXI=\"\r\n", 0, &c) == MSV_READ_COMMAND);
    CHECK(c.nargs == 1 && c.args[0].type == MSV_ARG_STRING);
    msv_command_clear(&c);
    CHECK(feed(&t, "{4+}\r\nYWJj\r\n", 0, &c) == MSV_READ_COMMAND);
    CHECK(c.nargs == 1 && c.args[0].literal && c.args[0].len == 4);
    msv_command_clear(&c);
    run_free(&t);
}

static void test_errors_resync(void)
{
    struct run t;
    run_init(&t, 16);
    struct msv_command c;
    /* a literal over the limit: refused, its octets skipped, next command read */
    CHECK(feed(&t, "PUTSCRIPT \"a\" {20+}\r\n01234567890123456789\r\nNOOP\r\n", 0, &c) == MSV_READ_ERROR);
    CHECK(msv_reader_error(&t.r) == MSV_ERR_LITERAL);
    CHECK_STR(msv_reader_error_command(&t.r), "PUTSCRIPT");
    CHECK(msv_reader_input(&t.r, &t.in, &c) == MSV_READ_COMMAND);
    CHECK_STR(c.args[0].data, "NOOP");
    msv_command_clear(&c);
    /* bad escape, unterminated quote, control char, parens, bad marker */
    const char *bad[] = {
        "NOOP \"a\\b\"\r\n", "NOOP \"abc\r\n", "NOOP \x01\r\n", "NOOP (x)\r\n",
        "NOOP {01+}\r\n", "NOOP {99999999999+}\r\n", "NOOP\"x\"\r\n",
        /* a marker glued to an atom is no literal, but its octets come: skipped */
        "NOOP x{3+}\r\nabc\r\n",
        " {3+}\r\nabc\r\n", "NOOP \"\xff\"\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(feed(&t, bad[i], 0, &c) == MSV_READ_ERROR);
        CHECK(msv_reader_error(&t.r) != MSV_ERR_NONE);
        CHECK(!msv_reader_busy(&t.r));
        CHECK(t.in.len == 0);
    }
    CHECK(msv_reader_error(&t.r) == MSV_ERR_UTF8);
    /* an error before a literal on the same command: the literal is skipped */
    CHECK(feed(&t, "PUTSCRIPT \"a\\q\" {3+}\r\nabc\r\nLOGOUT\r\n", 0, &c) == MSV_READ_ERROR);
    CHECK(msv_reader_error(&t.r) == MSV_ERR_SYNTAX);
    CHECK(msv_reader_input(&t.r, &t.in, &c) == MSV_READ_COMMAND);
    CHECK_STR(c.args[0].data, "LOGOUT");
    msv_command_clear(&c);
    /* too many arguments */
    CHECK(feed(&t, "NOOP a b c d e f g\r\n", 0, &c) == MSV_READ_ERROR);
    CHECK(msv_reader_error(&t.r) == MSV_ERR_TOOLONG);
    run_free(&t);
}

static void test_bounds(void)
{
    struct run t;
    run_init(&t, 100);
    struct msv_command c;
    /* a quoted string of 1025 octets is too long; 1024 is fine */
    struct buf s = BUF_INIT;
    buf_puts(&s, "NOOP \"");
    for (int i = 0; i < 1024; i++)
        buf_putc(&s, 'x');
    buf_puts(&s, "\"\r\n");
    CHECK(feed(&t, buf_cstr(&s), 0, &c) == MSV_READ_COMMAND);
    CHECK(c.args[1].len == 1024);
    msv_command_clear(&c);
    buf_reset(&s);
    buf_puts(&s, "NOOP \"");
    for (int i = 0; i < 1025; i++)
        buf_putc(&s, 'x');
    buf_puts(&s, "\"\r\n");
    CHECK(feed(&t, buf_cstr(&s), 0, &c) == MSV_READ_ERROR);
    CHECK(msv_reader_error(&t.r) == MSV_ERR_TOOLONG);
    /* a line without an end is dropped as it grows; the reader stays bounded */
    buf_reset(&s);
    for (int i = 0; i < 3 * MSV_MAX_LINE; i++)
        buf_putc(&s, 'a');
    CHECK(feed(&t, buf_cstr(&s), 1000, &c) == MSV_READ_MORE);
    CHECK(t.in.len <= MSV_MAX_LINE + 1000);
    CHECK(feed(&t, "aaa\r\nNOOP\r\n", 0, &c) == MSV_READ_ERROR);
    CHECK(msv_reader_error(&t.r) == MSV_ERR_TOOLONG);
    CHECK(msv_reader_input(&t.r, &t.in, &c) == MSV_READ_COMMAND);
    CHECK_STR(c.args[0].data, "NOOP");
    msv_command_clear(&c);
    buf_free(&s);
    /* a partly read command is freed by reset */
    CHECK(feed(&t, "PUTSCRIPT \"a\" {50+}\r\nabc", 0, &c) == MSV_READ_MORE);
    CHECK(msv_reader_busy(&t.r));
    run_free(&t);
}

/* The literals of one command together stay within one literal's limit
 * plus a line: six maximal literals would otherwise be held at once. */
static void test_literal_total(void)
{
    struct run t;
    run_init(&t, 10000);
    struct msv_command c;
    struct buf s = BUF_INIT;
    buf_puts(&s, "PUTSCRIPT {9500+}\r\n");
    for (int i = 0; i < 9500; i++)
        buf_putc(&s, 'a');
    buf_puts(&s, " {9500+}\r\n");
    for (int i = 0; i < 9500; i++)
        buf_putc(&s, 'b');
    buf_puts(&s, "\r\nNOOP\r\n");
    CHECK(feed(&t, buf_cstr(&s), 0, &c) == MSV_READ_ERROR);
    CHECK(msv_reader_error(&t.r) == MSV_ERR_LITERAL);
    CHECK(msv_reader_input(&t.r, &t.in, &c) == MSV_READ_COMMAND);
    CHECK_STR(c.args[0].data, "NOOP");
    msv_command_clear(&c);
    /* one of them alone is fine, and the count starts again per command */
    buf_reset(&s);
    buf_puts(&s, "PUTSCRIPT \"x\" {9000+}\r\n");
    for (int i = 0; i < 9000; i++)
        buf_putc(&s, 'a');
    buf_puts(&s, "\r\n");
    for (int k = 0; k < 2; k++) {
        CHECK(feed(&t, buf_cstr(&s), 0, &c) == MSV_READ_COMMAND);
        CHECK(c.nargs == 3 && c.args[2].len == 9000);
        msv_command_clear(&c);
    }
    buf_free(&s);
    run_free(&t);
}

static void test_put_string(void)
{
    struct buf b = BUF_INIT;
    msv_put_string(&b, "a\"b\\c", 5);
    CHECK_STR(buf_cstr(&b), "\"a\\\"b\\\\c\"");
    buf_reset(&b);
    msv_put_string(&b, "x\r\ny", 4);
    CHECK_STR(buf_cstr(&b), "{4}\r\nx\r\ny");
    buf_reset(&b);
    msv_put_string(&b, "\xc3\xa9", 2);
    CHECK_STR(buf_cstr(&b), "\"\xc3\xa9\"");
    buf_reset(&b);
    msv_put_string(&b, "\xc3", 1);
    CHECK_STR(buf_cstr(&b), "{1}\r\n\xc3");
    buf_free(&b);
}

static void test_utf8(void)
{
    CHECK(utf8_valid("", 0));
    CHECK(utf8_valid("abc\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 12));
    CHECK(!utf8_valid("\xc0\xaf", 2));              /* overlong '/' */
    CHECK(!utf8_valid("\xe0\x80\xaf", 3));          /* overlong */
    CHECK(!utf8_valid("\xed\xa0\x80", 3));          /* surrogate */
    CHECK(!utf8_valid("\xf4\x90\x80\x80", 4));      /* above U+10FFFF */
    CHECK(!utf8_valid("\xe2\x82", 2));              /* truncated */
    CHECK(!utf8_valid("\x80", 1));
    CHECK(!utf8_valid("\xff", 1));
}

int main(void)
{
    RUN(test_simple_commands);
    RUN(test_literals);
    RUN(test_errors_resync);
    RUN(test_bounds);
    RUN(test_literal_total);
    RUN(test_put_string);
    RUN(test_utf8);
    return unit_done();
}
