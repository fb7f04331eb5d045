/* test-imap-session.c - the IMAP front-end before login, driven over a
 * socketpair through the real event loop and conn layer: greeting,
 * dispatch, tags, literals (sync, LITERAL-), overlong lines, pipelining,
 * LOGOUT. The loop runs until the expected tagged reply arrives (a 5 s
 * guard timer only catches hangs). */
#include "unit.h"
/* a 5 s guard: nothing here should take long */
#define IMAP_HARNESS_WAIT_MS 5000
#include "imap-harness.h"

static void test_greeting_and_basics(void)
{
    connect_session();
    CHECK(exchange(NULL, 0, "ready.\r\n"));
    CHECK(strncmp(buf_cstr(&got), "* OK [CAPABILITY IMAP4rev1 IMAP4rev2", 36) == 0);
    CHECK(strstr(buf_cstr(&got), "LITERAL-") != NULL);
    CHECK_INT(imap_session_count(), 1);
    buf_reset(&got);
    CHECK(SEND("a1 CAPABILITY\r\n", "a1 OK"));
    CHECK(strstr(buf_cstr(&got), "* CAPABILITY IMAP4rev1") != NULL);
    buf_reset(&got);
    CHECK(SEND("a2 FROB\r\n", "a2 BAD Unknown command"));
    CHECK(SEND("a3 SELECT INBOX\r\n", "a3 BAD Command not allowed in this state"));
    CHECK(SEND("a4 UID NOOP\r\n", "a4 BAD"));
    CHECK(SEND("a+5 NOOP\r\n", "* BAD Invalid tag"));
    CHECK(SEND("a6\r\n", "a6 BAD"));
    CHECK(SEND("a7 noop\n", "a7 OK")); /* bare LF accepted */
    CHECK(SEND("a8 ENABLE IMAP4rev2\r\n", "a8 BAD"));
    CHECK(SEND("a9 ID (\"name\" \"unit\")\r\n", "a9 OK"));
    CHECK(strstr(buf_cstr(&got), "* ID (\"name\" \"Darius\"") != NULL);
    CHECK(SEND("a10 ID (\"name\")\r\n", "a10 BAD"));
    buf_reset(&got);
    /* pipelining: replies in order */
    CHECK(SEND("p1 NOOP\r\np2 NOOP\r\np3 NOOP\r\n", "p3 OK"));
    const char *g = buf_cstr(&got);
    CHECK(strstr(g, "p1 OK") && strstr(g, "p2 OK") && strstr(g, "p1 OK") < strstr(g, "p2 OK") &&
          strstr(g, "p2 OK") < strstr(g, "p3 OK"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    CHECK(strstr(buf_cstr(&got), "* BYE Logging out") != NULL);
    end_session();
    CHECK_INT(imap_session_count(), 0);
}

static void test_literals(void)
{
    connect_session();
    CHECK(exchange(NULL, 0, "ready.\r\n"));
    buf_reset(&got);
    /* synchronising literal: continuation first, then the command runs */
    CHECK(SEND("b1 ID ({4}\r\n", "+ Ready for literal data\r\n"));
    CHECK(strstr(buf_cstr(&got), "b1 ") == NULL);
    CHECK(SEND("name NIL)\r\n", "b1 OK"));
    /* non-synchronising literal within the LITERAL- limit */
    buf_reset(&got);
    CHECK(SEND("b2 ID ({4+}\r\nname \"x\")\r\n", "b2 OK"));
    CHECK(strstr(buf_cstr(&got), "+ Ready") == NULL);
    /* {0} still needs a continuation */
    buf_reset(&got);
    CHECK(SEND("b3 ID ({0}\r\n", "+ Ready"));
    CHECK(SEND(" NIL)\r\n", "b3 OK"));
    /* LITERAL- before login: > 4096 octets is refused; the server does
     * not read the announced data but closes the connection (RFC 7888 5) */
    buf_reset(&got);
    CHECK(SEND("b4 ID ({5000+}\r\n", "* BYE"));
    const char *bad = strstr(buf_cstr(&got), "b4 BAD [TOOBIG]");
    const char *bye = strstr(buf_cstr(&got), "* BYE");
    CHECK(bad != NULL && bye != NULL && bad < bye);
    CHECK(exchange(NULL, 0, "never sent") == false && eof);
    end_session();
    /* a big synchronising literal before login: refused without "+", and
     * the connection stays usable */
    connect_session();
    CHECK(exchange(NULL, 0, "ready.\r\n"));
    buf_reset(&got);
    CHECK(SEND("b6 LOGIN {100000}\r\n", "b6 BAD [TOOBIG]"));
    CHECK(strstr(buf_cstr(&got), "+ Ready") == NULL);
    CHECK(SEND("b7 NOOP\r\n", "b7 OK"));
    end_session();
}

static void test_long_line(void)
{
    connect_session();
    CHECK(exchange(NULL, 0, "ready.\r\n"));
    buf_reset(&got);
    struct buf big = BUF_INIT;
    buf_puts(&big, "c1 NOOP ");
    for (int i = 0; i < 300000; i++)
        buf_putc(&big, 'y');
    buf_puts(&big, "\r\nc2 NOOP\r\n");
    CHECK(exchange(big.data, big.len, "c2 OK"));
    CHECK(strstr(buf_cstr(&got), "c1 BAD [TOOBIG] Line too long") != NULL);
    /* an overlong line ending in a non-sync literal: the literal is skipped */
    buf_reset(&got);
    buf_reset(&big);
    buf_puts(&big, "c3 NOOP ");
    for (int i = 0; i < 300000; i++)
        buf_putc(&big, 'y');
    buf_puts(&big, " {6+}\r\nc4 BAD\r\nc5 NOOP\r\n");
    CHECK(exchange(big.data, big.len, "c5 OK"));
    CHECK(strstr(buf_cstr(&got), "c3 BAD [TOOBIG]") != NULL);
    CHECK(strstr(buf_cstr(&got), "c4 ") == NULL);
    buf_free(&big);
    end_session();
}

int main(void)
{
    imap_harness_config(NULL);
    imap_harness_start();
    RUN(test_greeting_and_basics);
    RUN(test_literals);
    RUN(test_long_line);
    imap_harness_stop();
    config_install(NULL);
    return unit_done();
}
