/* test-imap-fetch.c - the message commands end to end (APPEND, FETCH,
 * SEARCH, STORE, COPY, MOVE, EXPUNGE, CLOSE) over a socketpair through the
 * real event loop, session, storage and MIME layers, with a store in a
 * temporary directory. The loop runs until the expected tagged reply
 * arrives (a guard timer only catches hangs). */
#include "unit.h"
#include "imap.h"
#include "auth.h"
#include "config.h"
#include "connlimits.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct event_loop *loop;
static int cfd = -1;
static struct buf got;
static const char *want;
static bool eof;

static void on_client(struct event_loop *l, int fd, int events, void *arg)
{
    char tmp[65536];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n > 0) {
            buf_append(&got, tmp, (size_t)n);
            continue;
        }
        if (n == 0) {
            eof = true;
            ev_fd_del(l, fd);
            event_loop_stop(l);
        }
        break;
    }
    /* only the tail can hold a new tagged line */
    if (want) {
        size_t wl = strlen(want), from = got.len > wl + 65536 + 64 ? got.len - wl - 65536 - 64 : 0;
        if (memmem(got.data + from, got.len - from, want, wl))
            event_loop_stop(l);
    }
}

static void guard(struct event_loop *l, void *arg)
{
    *(bool *)arg = true;
    event_loop_stop(l);
}

static bool contains(const char *s)
{
    return got.len && memmem(got.data, got.len, s, strlen(s)) != NULL;
}

static bool has(const char *s)
{
    bool ok = got.len && memmem(got.data, got.len, s, strlen(s)) != NULL;
    if (!ok && getenv("TEST_VERBOSE"))
        fprintf(stderr, "--- not found: %s\n--- in: %.*s\n", s, (int)MIN(got.len, 2000), buf_cstr(&got));
    return ok;
}

static bool exchange(const char *data, size_t len, const char *until)
{
    size_t off = 0;
    while (data && off < len) {
        ssize_t w = write(cfd, data + off, len - off);
        if (w < 0 && errno == EAGAIN) {
            bool fired = false;
            uint64_t t = ev_timer_add(loop, 1, guard, &fired);
            event_loop_run(loop);
            ev_timer_cancel(loop, t);
            continue;
        }
        if (w <= 0)
            return false;
        off += (size_t)w;
    }
    want = until;
    bool timed_out = false;
    if (!contains(until) && !eof) {
        uint64_t t = ev_timer_add(loop, 20000, guard, &timed_out);
        event_loop_run(loop);
        ev_timer_cancel(loop, t);
    }
    want = NULL;
    return contains(until);
}
#define SEND(s, until) exchange((s), strlen(s), (until))

static void start_session(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("socketpair");
        exit(2);
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    cfd = sv[1];
    eof = false;
    buf_reset(&got);
    ev_fd_add(loop, cfd, EV_READ, on_client, NULL);
    struct sockaddr_un peer = {.sun_family = AF_UNIX};
    imap_accept(sv[0], (struct sockaddr *)&peer, sizeof(peer), false);
    exchange(NULL, 0, "\r\n");
    buf_reset(&got);
}

static void end_session(void)
{
    if (!eof)
        ev_fd_del(loop, cfd);
    close(cfd);
    cfd = -1;
    bool fired = false;
    for (int i = 0; i < 50 && imap_session_count() > 0; i++) {
        uint64_t t = ev_timer_add(loop, 2, guard, &fired);
        event_loop_run(loop);
        ev_timer_cancel(loop, t);
    }
}

static const char MSG1[] = "From: Alice <alice@example.com>\r\n"
                           "To: bob@example.org\r\n"
                           "Subject: hello there\r\n"
                           "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
                           "\r\n"
                           "Hello world\r\n";
static const char MSG2[] = "From: bob@example.org\r\n"
                           "Subject: parts\r\n"
                           "MIME-Version: 1.0\r\n"
                           "Content-Type: multipart/mixed; boundary=XX\r\n"
                           "\r\n"
                           "--XX\r\n"
                           "Content-Type: text/plain\r\n"
                           "\r\n"
                           "part one\r\n"
                           "--XX\r\n"
                           "Content-Type: application/octet-stream\r\n"
                           "Content-Transfer-Encoding: base64\r\n"
                           "\r\n"
                           "AAECAwQ=\r\n"
                           "--XX--\r\n";

static void append_msg(const char *tag, const char *mbox, const char *flags, const char *msg)
{
    struct buf b = BUF_INIT;
    char until[64];
    buf_printf(&b, "%s APPEND %s %s{%zu+}\r\n%s\r\n", tag, mbox, flags, strlen(msg), msg);
    snprintf(until, sizeof(until), "%s OK", tag);
    CHECK(exchange(b.data, b.len, until));
    buf_free(&b);
}

static void test_append(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    append_msg("a1", "INBOX", "(\\Flagged $Junk) \"17-Jul-1996 02:44:25 -0700\" ", MSG1);
    CHECK(has("a1 OK [APPENDUID "));
    append_msg("a2", "INBOX", "", MSG2);
    /* MULTIAPPEND: atomic, consecutive UIDs */
    struct buf b = BUF_INIT;
    buf_printf(&b, "a3 APPEND INBOX {%zu+}\r\n%s (\\Seen) {%zu+}\r\n%s\r\n", strlen(MSG1), MSG1, strlen(MSG1),
               MSG1);
    CHECK(exchange(b.data, b.len, "a3 OK"));
    CHECK(has(" 3:4] Append completed"));
    buf_free(&b);
    CHECK(SEND("a4 APPEND Nope {3+}\r\nabc\r\n", "a4 NO [TRYCREATE]"));
    CHECK(SEND("a5 APPEND INBOX (\\Recent) {3+}\r\nabc\r\n", "a5 BAD"));
    CHECK(SEND("a6 APPEND INBOX {0+}\r\n\r\n", "a6 NO"));
    CHECK(SEND("a7 APPEND INBOX \"bad date\" {3+}\r\nabc\r\n", "a7 BAD"));
    CHECK(SEND("a8 APPEND INBOX (\\Seen\r\n", "a8 BAD"));
    /* binary literal with a NUL */
    CHECK(exchange("a9 APPEND INBOX ~{21+}\r\nSubject: b\r\n\r\nab\0cd\r\n\r\n", 47, "a9 OK"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

static void test_fetch(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("s SELECT INBOX\r\n", "s OK"));
    buf_reset(&got);
    CHECK(SEND("f1 FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)\r\n", "f1 OK"));
    CHECK(has("* 1 FETCH (FLAGS (\\Flagged $Junk \\Recent) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
              "RFC822.SIZE 129 UID 1)"));
    buf_reset(&got);
    CHECK(SEND("f2 UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT]<0.5>)\r\n", "f2 OK"));
    CHECK(has("* 1 FETCH (UID 1 BODY[HEADER.FIELDS (Subject)] {24}\r\nSubject: hello there\r\n\r\n "
              "BODY[TEXT]<0> {5}\r\nHello)"));
    buf_reset(&got);
    CHECK(SEND("f3 FETCH 2 (BODY[1] BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[2.MIME])\r\n", "f3 OK"));
    CHECK(has("BODY[1] {8}\r\npart one"));
    CHECK(has("BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04"));
    CHECK(has("BINARY.SIZE[2] 5"));
    CHECK(has("BODY[2.MIME] {77}\r\nContent-Type: application/octet-stream\r\n"));
    CHECK(has("FLAGS (\\Seen \\Recent)"));  /* BODY[1] set \Seen */
    buf_reset(&got);
    CHECK(SEND("f4 FETCH 1 (ENVELOPE BODYSTRUCTURE)\r\n", "f4 OK"));
    CHECK(has("ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"hello there\" ((\"Alice\" NIL \"alice\" "
              "\"example.com\"))"));
    CHECK(has("BODYSTRUCTURE (\"TEXT\" \"PLAIN\""));
    buf_reset(&got);
    CHECK(SEND("f5 FETCH 1 (MODSEQ EMAILID SAVEDATE)\r\n", "f5 OK"));
    CHECK(has("MODSEQ ("));
    CHECK(has("EMAILID (M"));
    CHECK(SEND("f6 FETCH 99 FLAGS\r\n", "f6 BAD"));
    CHECK(SEND("f7 FETCH 1 BODY[MIME]\r\n", "f7 BAD"));
    CHECK(SEND("f8 UID FETCH 99 FLAGS\r\n", "f8 OK"));
    CHECK(SEND("f9 FETCH 1 (FLAGS) (VANISHED)\r\n", "f9 BAD"));
    buf_reset(&got);
    CHECK(SEND("f10 FETCH 1:* (FLAGS) (CHANGEDSINCE 1)\r\n", "f10 OK"));
    CHECK(has("MODSEQ ("));
    buf_reset(&got);
    CHECK(SEND("f11 UID FETCH 1,4,1000:2000,4000000000 (UID)\r\n", "f11 OK"));
    CHECK(has("* 1 FETCH (UID 1)\r\n* 4 FETCH (UID 4)\r\nf11 OK"));
    buf_reset(&got);
    CHECK(SEND("f12 FETCH 2:3 (BINARY.PEEK[1] BINARY.SIZE[1])\r\n", "f12 OK"));
    CHECK(has("* 2 FETCH (BINARY[1] {8}\r\npart one BINARY.SIZE[1] 8)"));
    CHECK(has("* 3 FETCH (BINARY[1] {13}\r\nHello world\r\n BINARY.SIZE[1] 13)"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

static void test_search_store(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("s SELECT INBOX\r\n", "s OK"));
    buf_reset(&got);
    CHECK(SEND("s1 SEARCH FLAGGED\r\n", "s1 OK"));
    CHECK(has("* SEARCH 1\r\n"));
    CHECK(SEND("s2 SEARCH FROM alice SUBJECT hello\r\n", "s2 OK"));
    CHECK(has("* SEARCH 1 3 4\r\n"));
    CHECK(SEND("s3 UID SEARCH RETURN (MIN MAX COUNT ALL) BODY \"part one\"\r\n", "s3 OK"));
    CHECK(has("* ESEARCH (TAG \"s3\") UID MIN 2 MAX 2 COUNT 1 ALL 2\r\n"));
    CHECK(SEND("s4 SEARCH RETURN (SAVE) SENTON 7-Feb-1994\r\n", "s4 OK"));
    CHECK(SEND("s5 FETCH $ (UID)\r\n", "s5 OK"));
    CHECK(has("* 4 FETCH (UID 4)"));
    CHECK(SEND("s6 SEARCH CHARSET FOO ALL\r\n", "s6 NO [BADCHARSET"));
    CHECK(SEND("s7 SEARCH FOO\r\n", "s7 BAD"));
    buf_reset(&got);
    CHECK(SEND("t1 STORE 1 +FLAGS (\\Deleted newkw)\r\n", "t1 OK"));
    CHECK(has("* FLAGS ("));   /* newkw announced first */
    CHECK(has("* 1 FETCH (FLAGS (\\Flagged \\Deleted $Junk newkw))"));
    buf_reset(&got);
    CHECK(SEND("t2 STORE 1 -FLAGS.SILENT (newkw)\r\n", "t2 OK"));
    CHECK(!has("FETCH"));
    CHECK(SEND("t3 STORE 1:2 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)\r\n", "t3 OK [MODIFIED 1:2]"));
    CHECK(SEND("t4 STORE 1 +FLAGS (\\Recent)\r\n", "t4 BAD"));
    buf_reset(&got);
    CHECK(SEND("t5 UID STORE 2 FLAGS.SILENT (\\Seen)\r\n", "t5 OK"));
    CHECK(!has("FETCH"));
    CHECK(SEND("c1 CREATE Archive\r\n", "c1 OK"));
    CHECK(SEND("c2 COPY 1:2 Archive\r\n", "c2 OK [COPYUID "));
    CHECK(has(" 1:2 1:2] "));
    CHECK(SEND("c3 COPY 1 Nope\r\n", "c3 NO [TRYCREATE]"));
    buf_reset(&got);
    CHECK(SEND("c4 MOVE 2 Archive\r\n", "c4 OK"));
    CHECK(has("* OK [COPYUID "));
    CHECK(has("* 2 EXPUNGE\r\n"));
    buf_reset(&got);
    CHECK(SEND("e1 EXPUNGE\r\n", "e1 OK"));
    CHECK(has("* 1 EXPUNGE\r\n"));
    CHECK(SEND("e2 UID EXPUNGE 1:*\r\n", "e2 OK"));
    CHECK(SEND("e3 CLOSE\r\n", "e3 OK"));
    CHECK(SEND("e4 FETCH 1 FLAGS\r\n", "e4 BAD"));
    CHECK(SEND("e5 EXAMINE Archive\r\n", "e5 OK"));
    CHECK(SEND("e6 STORE 1 +FLAGS (\\Seen)\r\n", "e6 NO"));
    CHECK(SEND("e7 UNSELECT\r\n", "e7 OK"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

/* A big FETCH streams through the 256 KB output window and completes. */
static void test_big_fetch(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("c CREATE Big\r\n", "c OK"));
    struct buf msg = BUF_INIT;
    buf_puts(&msg, "Subject: big\r\n\r\n");
    while (msg.len < 300000)
        buf_puts(&msg, "0123456789012345678901234567890123456789012345678901234567890123456789012\r\n");
    struct buf cmd = BUF_INIT;
    buf_puts(&cmd, "a APPEND Big");
    for (int i = 0; i < 20; i++)
        buf_printf(&cmd, " {%zu+}\r\n%s", msg.len, buf_cstr(&msg));
    buf_puts(&cmd, "\r\n");
    CHECK(exchange(cmd.data, cmd.len, "a OK"));
    CHECK(SEND("s SELECT Big\r\n", "s OK"));
    buf_reset(&got);
    CHECK(SEND("f FETCH 1:* (BODY.PEEK[])\r\n", "f OK Fetch completed"));
    CHECK(got.len > 20 * msg.len);
    CHECK(has("* 20 FETCH (BODY[] {"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    buf_free(&msg);
    buf_free(&cmd);
    end_session();
}

int main(void)
{
    log_init("test", false, false, NULL);
    const char *dir = unit_tmpdir();
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    config_set(c, "allowplaintext", "yes", err, sizeof(err));
    config_set(c, "datadir", dir, err, sizeof(err));
    config_install(c);
    limits_init();
    if (storage_init(dir) != 0 || userdb_open(dir) != 0 || userdb_add("alice", "secret") != 0) {
        fprintf(stderr, "setup failed\n");
        return 2;
    }
    loop = event_loop_new();
    imap_init(loop);
    RUN(test_append);
    RUN(test_fetch);
    RUN(test_search_store);
    RUN(test_big_fetch);
    buf_free(&got);
    event_loop_free(loop);
    userdb_close();
    storage_shutdown();
    config_install(NULL);
    return unit_done();
}
