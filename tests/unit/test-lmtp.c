/* test-lmtp.c - the LMTP front-end in-process: a session on a socketpair
 * driven by the real event loop. Whole pipelined conversations (RFC 2920)
 * are written at once and the replies checked in order: LHLO, MAIL/RCPT
 * errors, DATA with dot-unstuffing, BDAT, RSET, limits, and a seeded
 * stream of random garbage that must never crash (ASan/UBSan). */
#include "unit.h"
#include "delivery-harness.h"
#include "buf.h"
#include "connlimits.h"
#include "event.h"
#include "lmtp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static struct event_loop *loop;

struct run {
    int fd;
    const char *in;
    size_t len, off;
    bool eof;           /* shut down our side once everything is sent */
    bool shut;
    struct buf out;
    uint64_t deadline;
};

static void tick(struct event_loop *l, void *arg)
{
    struct run *r = arg;
    /* feed input as the socket accepts it, collect output */
    while (r->off < r->len) {
        ssize_t w = send(r->fd, r->in + r->off, r->len - r->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w <= 0)
            break;
        r->off += (size_t)w;
    }
    if (r->eof && !r->shut && r->off == r->len) {
        shutdown(r->fd, SHUT_WR);
        r->shut = true;
    }
    char b[65536];
    for (;;) {
        ssize_t n = recv(r->fd, b, sizeof(b), MSG_DONTWAIT);
        if (n <= 0)
            break;
        buf_append(&r->out, b, (size_t)n);
    }
    if ((lmtp_session_count() == 0 && r->off == r->len) || event_loop_now(l) > r->deadline) {
        event_loop_stop(l);
        return;
    }
    ev_timer_add(l, 2, tick, r);
}

/* Run one conversation over the unix-socket path; returns the replies. */
static char *converse_eof(const char *in, size_t len, bool is_unix, bool eof)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return strdup("");
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    lmtp_accept(sv[0], NULL, 0, is_unix);
    struct run r = {sv[1], in, len, 0, eof, false, BUF_INIT, event_loop_now(loop) + 10000};
    ev_timer_add(loop, 0, tick, &r);
    event_loop_run(loop);
    /* drain what is left */
    char b[65536];
    for (;;) {
        ssize_t n = recv(sv[1], b, sizeof(b), MSG_DONTWAIT);
        if (n <= 0)
            break;
        buf_append(&r.out, b, (size_t)n);
    }
    close(sv[1]);
    CHECK_INT(lmtp_session_count(), 0);
    char *s = strdup(buf_cstr(&r.out));
    buf_free(&r.out);
    return s;
}

static char *converse(const char *in, size_t len, bool is_unix)
{
    return converse_eof(in, len, is_unix, false);
}

/* The reply codes in order, space separated ("220 250 ..."), one per
 * final reply line. */
static char *codes(const char *replies)
{
    struct buf b = BUF_INIT;
    const char *p = replies;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        if (nl - p >= 4 && p[3] == ' ')
            buf_printf(&b, "%s%.3s", b.len ? " " : "", p);
        p = nl + 1;
    }
    char *s = strdup(buf_cstr(&b));
    buf_free(&b);
    return s;
}

#define CONV(input, want)                                                                          \
    do {                                                                                           \
        char *out_ = converse(input, sizeof(input) - 1, true);                                     \
        char *c_ = codes(out_);                                                                    \
        CHECK_STR(c_, want);                                                                       \
        if (strcmp(c_, want) != 0)                                                                 \
            fprintf(stderr, "%s\n", out_);                                                         \
        free(c_);                                                                                  \
        free(out_);                                                                                \
    } while (0)

static void test_basic(void)
{
    CONV("LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nRCPT TO:<nobody>\r\nRCPT TO:<carol@any.domain>\r\n"
         "DATA\r\nSubject: t\r\nMessage-ID: <u1@x>\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n",
         "220 250 250 250 550 250 354 250 250 221");
    char *out = converse("LHLO x\r\nQUIT\r\n", 14, true);
    CHECK(strstr(out, "250-PIPELINING\r\n") && strstr(out, "250-CHUNKING\r\n") && strstr(out, "250 IGNOREQUOTA\r\n"));
    CHECK(strstr(out, "STARTTLS") == NULL);
    free(out);
}

static void test_errors(void)
{
    CONV("MAIL FROM:<a@b>\r\nLHLO\r\nFOO\r\nLHLO h\r\nRCPT TO:<alice>\r\nDATA\r\nMAIL FROM:<a@b> X=Y\r\n"
         "MAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\nDATA\r\nRCPT TO:<a lice>\r\nRCPT TO:<alice> FOO\r\nQUIT\r\n",
         "220 503 501 500 250 503 503 555 250 503 503 501 555 221");
    /* VRFY, EXPN, HELP, NOOP, RSET, EHLO */
    CONV("VRFY x\r\nEXPN x\r\nHELP\r\nNOOP\r\nRSET\r\nEHLO x\r\nQUIT\r\n", "220 252 502 214 250 250 500 221");
    /* over-long command line, then recovery */
    size_t n = 10000;
    char *big = malloc(n + 32);
    memset(big, 'A', n);
    memcpy(big + n, "\r\nNOOP\r\nQUIT\r\n", 15);
    char *out = converse(big, strlen(big), true);
    char *c = codes(out);
    CHECK_STR(c, "220 500 250 221");
    free(c);
    free(out);
    free(big);
    /* STARTTLS and AUTH are not available on a unix socket */
    CONV("LHLO h\r\nSTARTTLS\r\nAUTH PLAIN\r\nQUIT\r\n", "220 250 502 502 221");
}

static void test_bdat(void)
{
    CONV("LHLO x\r\nBDAT 3\r\nabcMAIL FROM:<>\r\nRCPT TO:<alice>\r\nBDAT 11\r\nSubject: \r\nBDAT 14 LAST\r\n"
         "x: y\r\n\r\nbody\r\nQUIT\r\n",
         "220 250 503 250 250 250 250 221");
    /* BDAT with a size that cannot be followed closes the session */
    CONV("LHLO x\r\nBDAT x\r\nNOOP\r\n", "220 250 501");
    CONV("LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<alice>\r\nBDAT 5\r\nabcdeDATA\r\nRSET\r\nQUIT\r\n",
         "220 250 250 250 250 503 250 221");
}

static void test_limits(void)
{
    set("lmtp_max_recipients", "2");
    CONV("LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<alice>\r\nRCPT TO:<alice>\r\nRCPT TO:<alice>\r\nQUIT\r\n",
         "220 250 250 250 250 452 221");
    set("lmtp_max_recipients", "1000");
    set("maxmessagesize", "1024");
    CONV("LHLO x\r\nMAIL FROM:<> SIZE=2000\r\nMAIL FROM:<> SIZE=100\r\nRCPT TO:<alice>\r\nRCPT TO:<carol>\r\nDATA\r\n"
         "Subject: big\r\n\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
         ".\r\nQUIT\r\n",
         "220 250 552 250 250 250 354 552 552 221");
    set("maxmessagesize", "52428800");
}

/* Seeded random input: commands, fragments, binary junk. The session must
 * end (QUIT at the end, or a close) and the process must survive. */
static void test_garbage(void)
{
    static const char *const frag[] = {"LHLO x\r\n", "MAIL FROM:<a@b>\r\n", "RCPT TO:<alice>\r\n", "DATA\r\n",
                                       "BDAT 7\r\n", "BDAT 0 LAST\r\n", ".\r\n", "\r\n", "RSET\r\n",
                                       "\x00\xff\r\n", "MAIL FROM:<\"x\\\r\n", "RCPT TO:<@a,@b:c>\r\n",
                                       "AUTH PLAIN\r\n", "*\r\n", "....\r\n", "\n", "\r", "<<<>>>\r\n",
                                       "RCPT TO:<alice+x..y>\r\n", "MAIL FROM:<> SIZE=99999999999999999999\r\n"};
    unsigned seed = 12345;
    const char *env = getenv("DARIUS_FUZZ_SEED");
    if (env)
        seed = (unsigned)strtoul(env, NULL, 10);
    for (int round = 0; round < 40; round++) {
        struct buf in = BUF_INIT;
        int parts = 5 + (int)(rand_r(&seed) % 40);
        for (int i = 0; i < parts; i++) {
            if (rand_r(&seed) % 5 == 0) {
                int n = (int)(rand_r(&seed) % 64);
                for (int k = 0; k < n; k++)
                    buf_putc(&in, (char)(rand_r(&seed) & 0xff));
            } else {
                buf_puts(&in, frag[rand_r(&seed) % (sizeof(frag) / sizeof(frag[0]))]);
            }
        }
        /* the conversation ends with QUIT if the session is back in the
         * command state, else with our EOF (SASL or DATA may swallow it) */
        buf_puts(&in, "\r\n.\r\n*\r\nQUIT\r\n");
        char *out = converse_eof(in.data, in.len, round % 2 == 0, true);
        CHECK(strncmp(out, "220 ", 4) == 0);
        free(out);
        buf_free(&in);
    }
}

int main(void)
{
    if (delivery_harness_init("test-lmtp", "lmtp.test") != 0)
        return 2;
    set("lmtp_timeout", "10");
    userdb_add("alice", "pw");
    userdb_add("carol", "pw");
    limits_init();
    loop = event_loop_new();
    lmtp_init(loop);
    RUN(test_basic);
    RUN(test_errors);
    RUN(test_bdat);
    RUN(test_limits);
    RUN(test_garbage);
    lmtp_shutdown(NULL);
    event_loop_free(loop);
    delivery_harness_done();
    return unit_done();
}
