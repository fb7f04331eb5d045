/* test-pop3.c - POP3 command parsing, message numbers and the RETR/TOP
 * transfer encoding with its exact size. */
#include "unit.h"
#include "pop3.h"

static void test_parse_line(void)
{
    struct pop3_cmdline cl;
    char l1[] = "user alice";
    CHECK(pop3_parse_line(l1, &cl));
    CHECK_STR(cl.keyword, "USER");
    CHECK_INT(cl.argc, 1);
    CHECK_STR(cl.argv[0], "alice");
    CHECK_STR(cl.rest, "alice");

    char l2[] = "STAT";
    CHECK(pop3_parse_line(l2, &cl));
    CHECK_STR(cl.keyword, "STAT");
    CHECK_INT(cl.argc, 0);
    CHECK_STR(cl.rest, "");

    char l3[] = "TOP 1 10";
    CHECK(pop3_parse_line(l3, &cl));
    CHECK_INT(cl.argc, 2);
    CHECK_STR(cl.argv[1], "10");

    char l4[] = "LIST  1"; /* double space: empty argument */
    CHECK(!pop3_parse_line(l4, &cl));
    char l5[] = "LIST 1 "; /* trailing space */
    CHECK(!pop3_parse_line(l5, &cl));
    char l6[] = "TOOLONG 1"; /* keywords are 3-4 characters */
    CHECK(!pop3_parse_line(l6, &cl));
    char l7[] = " STAT";
    CHECK(!pop3_parse_line(l7, &cl));
    char l8[] = "ST\x01T";
    CHECK(!pop3_parse_line(l8, &cl));
    char l9[] = "AUTH a b c d";
    CHECK(pop3_parse_line(l9, &cl));
    CHECK_INT(cl.argc, 3);
    CHECK(cl.too_many);
    char l10[] = "utf8";
    CHECK(pop3_parse_line(l10, &cl));
    CHECK_STR(cl.keyword, "UTF8");
}

static void test_msgnum(void)
{
    uint32_t n = 0;
    CHECK(pop3_parse_msgnum("1", 5, &n));
    CHECK_INT(n, 1);
    CHECK(pop3_parse_msgnum("5", 5, &n));
    CHECK_INT(n, 5);
    CHECK(!pop3_parse_msgnum("6", 5, &n));
    CHECK(!pop3_parse_msgnum("0", 5, &n));
    CHECK(!pop3_parse_msgnum("-1", 5, &n));
    CHECK(!pop3_parse_msgnum("+1", 5, &n));
    CHECK(!pop3_parse_msgnum("1x", 5, &n));
    CHECK(!pop3_parse_msgnum("", 5, &n));
    CHECK(!pop3_parse_msgnum("99999999999999999999", UINT32_MAX, &n));
    CHECK(pop3_parse_msgnum("4294967295", UINT32_MAX, &n));
    CHECK(!pop3_parse_msgnum("4294967296", UINT32_MAX, &n));
    long c = -1;
    CHECK(pop3_parse_count("0", &c));
    CHECK_INT(c, 0);
    CHECK(pop3_parse_count("99999999999999999999", &c));
    CHECK_INT(c, 0x7fffffffL);
    CHECK(!pop3_parse_count("-3", &c));
    CHECK(!pop3_parse_count("", &c));
}

static char *xfer(const char *msg, long top)
{
    struct pop3_xfer x;
    struct buf out = BUF_INIT;
    pop3_xfer_init(&x, msg, strlen(msg), top);
    int rounds = 0;
    while (!pop3_xfer_run(&x, &out, 4) && rounds < 10000) /* small chunks: resumable */
        rounds++;
    buf_putc(&out, '\0');
    char *r = xstrdup(out.data);
    buf_free(&out);
    return r;
}

static void check_retr(const char *msg, const char *want)
{
    char *got = xfer(msg, -1);
    CHECK_STR(got, want);
    CHECK_INT(pop3_wire_size(msg, strlen(msg)), strlen(want));
    free(got);
}

static void test_xfer(void)
{
    check_retr("", "");
    check_retr("a\r\nb\r\n", "a\r\nb\r\n");
    check_retr("a\nb\n", "a\r\nb\r\n");             /* bare LF */
    check_retr("a\r\nb", "a\r\nb\r\n");             /* no final line ending */
    check_retr(".\r\n..x\r\n.", "..\r\n...x\r\n..\r\n"); /* dot-stuffing */
    check_retr("S: x\n\n.\nend\n", "S: x\r\n\r\n..\r\nend\r\n");
    check_retr("a\rb\r\n", "a\rb\r\n");             /* bare CR kept */
    check_retr("\n\n", "\r\n\r\n");
    check_retr("x\r\r\n", "x\r\r\n");               /* only one CR belongs to the ending */
}

static void test_top(void)
{
    const char *m = "H: 1\r\nH: 2\r\n\r\nl1\r\n.l2\r\nl3\r\n";
    char *g = xfer(m, 0);
    CHECK_STR(g, "H: 1\r\nH: 2\r\n\r\n");
    free(g);
    g = xfer(m, 2);
    CHECK_STR(g, "H: 1\r\nH: 2\r\n\r\nl1\r\n..l2\r\n");
    free(g);
    g = xfer(m, 100);
    CHECK_STR(g, "H: 1\r\nH: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n");
    free(g);
    /* no header/body separator: everything is header */
    g = xfer("H: 1\nH: 2", 0);
    CHECK_STR(g, "H: 1\r\nH: 2\r\n");
    free(g);
    /* bare-LF message */
    g = xfer("H: 1\n\nb1\nb2\n", 1);
    CHECK_STR(g, "H: 1\r\n\r\nb1\r\n");
    free(g);
}

static void test_size_large(void)
{
    /* many lines: size equals the produced output */
    struct buf m = BUF_INIT;
    for (int i = 0; i < 5000; i++)
        buf_printf(&m, "%s%d\n", i % 7 == 0 ? "." : "", i);
    char *got = xfer(m.data, -1);
    CHECK_INT(pop3_wire_size(m.data, m.len), strlen(got));
    free(got);
    buf_free(&m);
}

int main(void)
{
    RUN(test_parse_line);
    RUN(test_msgnum);
    RUN(test_xfer);
    RUN(test_top);
    RUN(test_size_large);
    return unit_done();
}
