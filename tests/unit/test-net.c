/* test-net.c - event loop, conn (plain and TLS), listeners, limits. */
#include "unit.h"
#include "common.h"
#include "config.h"
#include "conn.h"
#include "event.h"
#include "connlimits.h"
#include "log.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

struct waiter {
    bool *flag;
    bool timed_out;
    uint64_t deadline;
};

static void wait_tick(struct event_loop *l, void *arg)
{
    struct waiter *w = arg;
    if (*w->flag) {
        event_loop_stop(l);
        return;
    }
    if (event_loop_now(l) >= w->deadline) {
        w->timed_out = true;
        event_loop_stop(l);
        return;
    }
    ev_timer_add(l, 1, wait_tick, w);
}

/* Run the loop until *flag becomes true (checked every millisecond), at
 * most timeout_ms. Returns the flag. */
static bool run_until(struct event_loop *l, bool *flag, uint64_t timeout_ms)
{
    struct waiter w = {flag, false, event_loop_now(l) + timeout_ms};
    ev_timer_add(l, 0, wait_tick, &w);
    event_loop_run(l);
    return *flag;
}

static void stop_cb(struct event_loop *l, void *arg)
{
    (void)l;
    bool *b = arg;
    *b = true;
}

/* Let the loop turn for a while (used only to show that something does
 * NOT happen, e.g. no input while paused). */
static void run_for(struct event_loop *l, uint64_t ms)
{
    bool done = false;
    ev_timer_add(l, ms, stop_cb, &done);
    run_until(l, &done, ms + 1000);
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void set_cfg(const char *k, const char *v)
{
    char err[256];
    if (!config_set(config_current(), k, v, err, sizeof(err)))
        fprintf(stderr, "config_set: %s\n", err);
}

/* ---- event loop -------------------------------------------------------------- */

static int order[16];
static int norder;

static void rec_cb(struct event_loop *l, void *arg)
{
    (void)l;
    if (norder < 16)
        order[norder++] = (int)(intptr_t)arg;
}

static void test_timers(void)
{
    struct event_loop *l = event_loop_new();
    norder = 0;
    ev_timer_add(l, 30, rec_cb, (void *)3);
    ev_timer_add(l, 10, rec_cb, (void *)1);
    uint64_t c = ev_timer_add(l, 15, rec_cb, (void *)99);
    ev_timer_add(l, 20, rec_cb, (void *)2);
    ev_timer_add(l, 20, rec_cb, (void *)22); /* same deadline: FIFO */
    CHECK(c > 0);
    ev_timer_cancel(l, c);
    ev_timer_cancel(l, c); /* twice: harmless */
    ev_defer(l, rec_cb, (void *)0);
    bool done = false;
    ev_timer_add(l, 40, stop_cb, &done);
    CHECK(run_until(l, &done, 2000));
    CHECK_INT(norder, 5);
    CHECK_INT(order[0], 0);
    CHECK_INT(order[1], 1);
    CHECK_INT(order[2], 2);
    CHECK_INT(order[3], 22);
    CHECK_INT(order[4], 3);
    ev_timer_cancel(l, c); /* after it would have fired: harmless */
    event_loop_free(l);
}

static void test_timer_compaction(void)
{
    struct event_loop *l = event_loop_new();
    /* Re-arming an idle timer many times must not grow the heap forever. */
    uint64_t id = 0;
    for (int i = 0; i < 10000; i++) {
        ev_timer_cancel(l, id);
        id = ev_timer_add(l, 60000, rec_cb, NULL);
    }
    CHECK_INT(event_loop_timer_count(l), 1);
    /* Ids are never reused while live: cancelling a stale id does not
     * cancel the live timer that took its slot. */
    uint64_t a = ev_timer_add(l, 5, rec_cb, (void *)7);
    ev_timer_cancel(l, a);
    uint64_t b = ev_timer_add(l, 5, rec_cb, (void *)8);
    CHECK(a != b);
    ev_timer_cancel(l, a);
    norder = 0;
    bool done = false;
    ev_timer_add(l, 20, stop_cb, &done);
    run_until(l, &done, 2000);
    CHECK_INT(norder, 1);
    CHECK_INT(order[0], 8);
    event_loop_free(l);
}

static int defer_count;
static void defer_again(struct event_loop *l, void *arg)
{
    if (++defer_count < 5)
        ev_defer(l, defer_again, arg);
}

static void test_defer_no_starvation(void)
{
    struct event_loop *l = event_loop_new();
    defer_count = 0;
    ev_defer(l, defer_again, NULL);
    bool done = false;
    ev_timer_add(l, 0, stop_cb, &done);
    run_until(l, &done, 1000);
    /* A self-re-deferring call runs once per iteration, so the timer got
     * its turn before all five ran. */
    CHECK(defer_count < 5);
    done = false;
    ev_timer_add(l, 10, stop_cb, &done);
    run_until(l, &done, 1000);
    CHECK_INT(defer_count, 5);
    event_loop_free(l);
}

static int sigs_seen;
static void on_sig(struct event_loop *l, void *arg)
{
    (void)l;
    sigs_seen++;
    *(bool *)arg = true;
}

static void test_signal(void)
{
    struct event_loop *l = event_loop_new();
    bool got = false;
    CHECK_INT(ev_signal_add(l, SIGUSR1, on_sig, &got), 0);
    kill(getpid(), SIGUSR1);
    CHECK(run_until(l, &got, 2000));
    CHECK_INT(sigs_seen, 1);
    event_loop_free(l);
}

/* ---- plain conn ------------------------------------------------------------- */

struct srv {
    struct conn *c;
    struct buf got;
    int inputs, drains, closes;
    bool echo;
    bool abort_on_input;
    bool close_on_input;
    bool starttls_on_input;
    struct tls_ctx *tls;
    bool flag;
    int file_on_input;      /* > 0: answer input with 1 MB + this file */
    size_t file_len;
};

static void s_input(struct conn *c, void *arg)
{
    struct srv *s = arg;
    struct buf *in = conn_input(c);
    s->inputs++;
    if (s->starttls_on_input) {
        char *nl = memchr(in->data, '\n', in->len);
        if (!nl)
            return;
        buf_append(&s->got, in->data, (size_t)(nl - in->data) + 1);
        buf_consume(in, (size_t)(nl - in->data) + 1);
        conn_puts(c, "OK Begin TLS\r\n");
        CHECK_INT(conn_starttls(c, s->tls), 0);
        CHECK_INT(conn_starttls(c, s->tls), -1); /* only once */
        /* Written after STARTTLS: must travel encrypted. */
        conn_puts(c, "* after\r\n");
        s->starttls_on_input = false;
        return;
    }
    buf_append(&s->got, in->data, in->len);
    if (s->file_on_input > 0) {
        char block[4096];
        for (int i = 0; i < 256; i++) {
            memset(block, 'a' + i % 26, sizeof(block));
            conn_write(c, block, sizeof(block));
        }
        conn_write_file(c, s->file_on_input, 0, s->file_len);
        conn_puts(c, "END\r\n");
        s->file_on_input = 0;
    }
    if (s->echo)
        conn_write(c, in->data, in->len);
    buf_consume(in, in->len);
    s->flag = true;
    if (s->abort_on_input) {
        conn_abort(c);
        conn_abort(c);
        conn_write(c, "x", 1); /* ignored */
    }
    if (s->close_on_input)
        conn_close(c);
}

static void s_drain(struct conn *c, void *arg)
{
    (void)c;
    struct srv *s = arg;
    s->drains++;
}

static void s_close(struct conn *c, void *arg)
{
    (void)c;
    struct srv *s = arg;
    s->closes++;
    s->c = NULL;
    s->flag = true;
}

static const struct conn_callbacks srv_cb = {s_input, s_drain, s_close};

/* Reads everything the client end gets. */
struct cli {
    int fd;
    struct buf got;
    bool eof;
    bool reading;
    size_t want;
    bool flag;
};

static void cli_read(struct event_loop *l, int fd, int events, void *arg)
{
    (void)events;
    struct cli *k = arg;
    char tmp[16384];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n > 0) {
            buf_append(&k->got, tmp, (size_t)n);
            if (k->want && k->got.len >= k->want)
                k->flag = true;
            continue;
        }
        if (n == 0) {
            k->eof = true;
            k->flag = true;
            ev_fd_del(l, fd);
        }
        break;
    }
}

static void test_conn_echo(void)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.echo = true;
    s.c = conn_new(l, sv[0], NULL, 0, NULL, &srv_cb, &s);
    CHECK_INT(conn_count(), 1);
    CHECK_STR(conn_peer_addr(s.c), "unknown");
    CHECK(!conn_is_tls(s.c));
    CHECK(!conn_tls_exporter(s.c, (unsigned char[32]){0}));
    CHECK_STR(conn_tls_desc(s.c), "");
    struct cli k = {.fd = sv[1], .want = 12};
    ev_fd_add(l, sv[1], EV_READ, cli_read, &k);
    CHECK_INT(write(sv[1], "hello world\n", 12), 12);
    CHECK(run_until(l, &k.flag, 2000));
    CHECK_STR(buf_cstr(&s.got), "hello world\n");
    CHECK_STR(buf_cstr(&k.got), "hello world\n");
    /* Idle: input buffer released. */
    CHECK(conn_memory(s.c) < 1024);
    conn_printf(s.c, "%s %d\r\n", "num", 42);
    k.flag = false;
    k.want = 12 + 8;
    CHECK(run_until(l, &k.flag, 2000));
    CHECK_STR(buf_cstr(&k.got), "hello world\nnum 42\r\n");
    /* Peer EOF -> on_close exactly once. */
    s.flag = false;
    ev_fd_del(l, sv[1]);
    close(sv[1]);
    CHECK(run_until(l, &s.flag, 2000));
    CHECK_INT(s.closes, 1);
    run_for(l, 5);
    CHECK_INT(s.closes, 1);
    CHECK_INT(conn_count(), 0);
    buf_free(&s.got);
    buf_free(&k.got);
    event_loop_free(l);
}

static void test_conn_backpressure(void)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.c = conn_new(l, sv[0], NULL, 0, NULL, &srv_cb, &s);
    /* Produce until full, as a protocol would. */
    size_t total = 0;
    char block[10000];
    while (!conn_output_full(s.c)) {
        for (size_t i = 0; i < sizeof(block); i++)
            block[i] = (char)('a' + (total + i) % 26);
        conn_write(s.c, block, sizeof(block));
        total += sizeof(block);
    }
    CHECK(conn_output_pending(s.c) >= CONN_HIGH_WATER - sizeof(block));
    CHECK(conn_memory(s.c) > CONN_HIGH_WATER / 2);
    /* Nobody reads: no drain however long we wait. */
    run_for(l, 20);
    CHECK_INT(s.drains, 0);
    CHECK(conn_output_pending(s.c) > CONN_LOW_WATER);
    struct cli k = {.fd = sv[1], .want = total};
    ev_fd_add(l, sv[1], EV_READ, cli_read, &k);
    CHECK(run_until(l, &k.flag, 5000));
    CHECK(s.drains >= 1);
    CHECK_INT(k.got.len, total);
    bool ok = true;
    for (size_t i = 0; i < k.got.len; i++)
        if (k.got.data[i] != (char)('a' + i % 26)) {
            ok = false;
            break;
        }
    CHECK(ok);
    CHECK_INT(conn_output_pending(s.c), 0);
    CHECK(conn_memory(s.c) < 1024);
    /* want_drain with nothing queued: called back (once), not inline. */
    int before = s.drains;
    conn_want_drain(s.c);
    CHECK_INT(s.drains, before);
    run_for(l, 5);
    CHECK_INT(s.drains, before + 1);
    conn_abort(s.c);
    run_for(l, 2);
    CHECK_INT(s.closes, 1);
    close(sv[1]);
    buf_free(&k.got);
    event_loop_free(l);
}

/* A protocol streaming a long response the way IMAP FETCH does: write
 * until full, then conn_want_drain and continue from on_drain. When the
 * socket takes everything at once, many rounds happen back to back; none
 * may be lost. */
static int stream_rounds;
static void stream_more(struct conn *c, void *arg)
{
    (void)arg;
    static char block[8192]; /* below the direct-write size: queued */
    if (stream_rounds >= 40)
        return;
    stream_rounds++;
    while (!conn_output_full(c))
        conn_write(c, block, sizeof(block));
    conn_want_drain(c);
}

static void test_conn_stream_rounds(void)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    /* A send buffer larger than a round, so the socket takes each round
     * at once (FORCE needs root; otherwise this just runs slower). */
    int big = 32 << 20;
    if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    static const struct conn_callbacks cb = {NULL, stream_more, NULL};
    stream_rounds = 0;
    struct conn *c = conn_new(l, sv[0], NULL, 0, NULL, &cb, NULL);
    stream_more(c, NULL);
    struct cli k = {.fd = sv[1]};
    ev_fd_add(l, sv[1], EV_READ, cli_read, &k);
    bool never = false;
    for (int i = 0; i < 2000 && stream_rounds < 40; i++) {
        ev_timer_add(l, 1, stop_cb, &never);
        run_until(l, &never, 100);
        never = false;
    }
    CHECK_INT(stream_rounds, 40);
    conn_abort(c);
    run_for(l, 1);
    close(sv[1]);
    buf_free(&k.got);
    event_loop_free(l);
}

static void test_conn_pause(void)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.c = conn_new(l, sv[0], NULL, 0, NULL, &srv_cb, &s);
    conn_pause_input(s.c);
    CHECK_INT(write(sv[1], "abc", 3), 3);
    run_for(l, 20);
    CHECK_INT(s.inputs, 0);
    conn_resume_input(s.c);
    CHECK(run_until(l, &s.flag, 2000));
    CHECK_STR(buf_cstr(&s.got), "abc");
    conn_abort(s.c);
    run_for(l, 1);
    close(sv[1]);
    buf_free(&s.got);
    event_loop_free(l);
}

static void test_conn_close_flushes(void)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.c = conn_new(l, sv[0], NULL, 0, NULL, &srv_cb, &s);
    size_t total = 600 * 1024;
    char *big = xmalloc(total);
    memset(big, 'z', total);
    conn_write(s.c, big, total);
    conn_puts(s.c, "* BYE\r\n");
    conn_close(s.c);
    CHECK(conn_is_closing(s.c));
    conn_puts(s.c, "ignored");
    struct cli k = {.fd = sv[1]};
    ev_fd_add(l, sv[1], EV_READ, cli_read, &k);
    CHECK(run_until(l, &k.eof, 5000));
    CHECK_INT(k.got.len, total + 7);
    CHECK(k.got.len > 7 && memcmp(k.got.data + k.got.len - 7, "* BYE\r\n", 7) == 0);
    run_for(l, 2);
    CHECK_INT(s.closes, 1);
    close(sv[1]);
    free(big);
    buf_free(&k.got);
    event_loop_free(l);
}

static void test_conn_abort_in_callback(void)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.abort_on_input = true;
    s.c = conn_new(l, sv[0], NULL, 0, NULL, &srv_cb, &s);
    CHECK_INT(write(sv[1], "x\n", 2), 2);
    bool got = false;
    run_until(l, &s.flag, 2000);
    s.flag = false;
    run_until(l, &s.flag, 2000); /* on_close */
    CHECK_INT(s.closes, 1);
    char c;
    set_nonblock(sv[1]);
    CHECK_INT(read(sv[1], &c, 1), 0); /* closed */
    (void)got;
    close(sv[1]);
    buf_free(&s.got);
    event_loop_free(l);
}

static void test_conn_close_in_callback(void)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.echo = true;
    s.close_on_input = true;
    s.c = conn_new(l, sv[0], NULL, 0, NULL, &srv_cb, &s);
    CHECK_INT(write(sv[1], "LOGOUT\r\n", 8), 8);
    struct cli k = {.fd = sv[1]};
    ev_fd_add(l, sv[1], EV_READ, cli_read, &k);
    CHECK(run_until(l, &k.eof, 2000));
    CHECK_STR(buf_cstr(&k.got), "LOGOUT\r\n");
    run_for(l, 2);
    CHECK_INT(s.closes, 1);
    close(sv[1]);
    buf_free(&s.got);
    buf_free(&k.got);
    event_loop_free(l);
}

static void test_conn_write_file(void)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    char path[300];
    snprintf(path, sizeof(path), "%s/f", unit_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    size_t flen = 300000;
    char *data = xmalloc(flen);
    for (size_t i = 0; i < flen; i++)
        data[i] = (char)(i * 7 + 3);
    CHECK_INT(write(fd, data, flen), flen);
    struct srv s = {0};
    s.c = conn_new(l, sv[0], NULL, 0, NULL, &srv_cb, &s);
    conn_puts(s.c, "A");
    conn_write_file(s.c, fd, 1000, flen - 2000);
    close(fd); /* dup'd */
    conn_puts(s.c, "Z");
    CHECK(conn_output_full(s.c));
    struct cli k = {.fd = sv[1], .want = flen - 2000 + 2};
    ev_fd_add(l, sv[1], EV_READ, cli_read, &k);
    CHECK(run_until(l, &k.flag, 5000));
    CHECK_INT(k.got.len, flen - 2000 + 2);
    CHECK(k.got.len == flen - 2000 + 2 && k.got.data[0] == 'A' && k.got.data[k.got.len - 1] == 'Z' &&
          memcmp(k.got.data + 1, data + 1000, flen - 2000) == 0);
    conn_abort(s.c);
    run_for(l, 1);
    close(sv[1]);
    free(data);
    buf_free(&k.got);
    event_loop_free(l);
}

/* ---- TLS ---------------------------------------------------------------------- */

struct tcli {
    int fd;
    SSL *ssl;
    int state;       /* 0 plain-wait-OK, 1 handshake, 2 wait reply, 3 done, -1 failed */
    struct buf got;
    const char *send_after;
    const char *expect;
    size_t expect_len;
    bool flag;
    struct event_loop *l;
};

static void tcli_want(struct tcli *t, int r)
{
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        ev_fd_modify(t->l, t->fd, EV_READ);
    else if (e == SSL_ERROR_WANT_WRITE)
        ev_fd_modify(t->l, t->fd, EV_WRITE);
    else {
        t->state = -1;
        t->flag = true;
    }
}

static void tcli_event(struct event_loop *l, int fd, int events, void *arg)
{
    (void)events;
    struct tcli *t = arg;
    char tmp[4096];
    if (t->state == 0) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n > 0)
            buf_append(&t->got, tmp, (size_t)n);
        if (!strstr(buf_cstr(&t->got), "\r\n"))
            return;
        CHECK_STR(buf_cstr(&t->got), "OK Begin TLS\r\n");
        t->state = 1;
    }
    if (t->state == 1) {
        int r = SSL_connect(t->ssl);
        if (r != 1) {
            tcli_want(t, r);
            return;
        }
        t->state = 2;
        ev_fd_modify(l, fd, EV_READ);
        buf_reset(&t->got);
        r = SSL_write(t->ssl, t->send_after, (int)strlen(t->send_after));
        CHECK_INT(r, (int)strlen(t->send_after));
    }
    if (t->state == 2) {
        for (;;) {
            int r = SSL_read(t->ssl, tmp, sizeof(tmp));
            if (r <= 0) {
                tcli_want(t, r);
                break;
            }
            buf_append(&t->got, tmp, (size_t)r);
        }
        if (t->got.len >= (t->expect_len ? t->expect_len : strlen(t->expect))) {
            t->state = 3;
            t->flag = true;
        }
    }
}

static SSL_CTX *client_ctx(int maxver)
{
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cc, SSL_VERIFY_NONE, NULL);
    if (maxver)
        SSL_CTX_set_max_proto_version(cc, maxver);
    return cc;
}

static void run_tls(struct tls_ctx *tls, int maxver, bool starttls)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.echo = true;
    s.tls = tls;
    s.starttls_on_input = starttls;
    s.c = conn_new(l, sv[0], NULL, 0, starttls ? NULL : tls, &srv_cb, &s);
    CHECK(conn_is_tls(s.c) == !starttls);
    SSL_CTX *cc = client_ctx(maxver);
    struct tcli t = {.fd = sv[1], .l = l, .send_after = "ping\r\n",
                     .expect = starttls ? "* after\r\nping\r\n" : "ping\r\n"};
    t.ssl = SSL_new(cc);
    SSL_set_fd(t.ssl, sv[1]);
    if (starttls) {
        /* The injected line travels in the clear behind STARTTLS and
         * must be discarded by the server. */
        const char *cmd = "a STARTTLS\r\nb INJECTED\r\n";
        CHECK_INT(write(sv[1], cmd, strlen(cmd)), strlen(cmd));
        t.state = 0;
        ev_fd_add(l, sv[1], EV_READ, tcli_event, &t);
    } else {
        t.state = 1;
        ev_fd_add(l, sv[1], EV_WRITE, tcli_event, &t);
    }
    CHECK(run_until(l, &t.flag, 5000));
    CHECK_INT(t.state, 3);
    CHECK_STR(buf_cstr(&t.got), t.expect);
    if (starttls)
        CHECK_STR(buf_cstr(&s.got), "a STARTTLS\r\nping\r\n");
    else
        CHECK_STR(buf_cstr(&s.got), "ping\r\n");
    CHECK(conn_is_tls(s.c));
    unsigned char ex[32], cex[32];
    bool have = conn_tls_exporter(s.c, ex);
    if (maxver == TLS1_2_VERSION) {
        CHECK(!have);
        CHECK(strncmp(conn_tls_desc(s.c), "TLSv1.2 ", 8) == 0);
    } else {
        CHECK(have);
        CHECK(strncmp(conn_tls_desc(s.c), "TLSv1.3 ", 8) == 0);
        static const char label[] = "EXPORTER-Channel-Binding";
        CHECK_INT(SSL_export_keying_material(t.ssl, cex, 32, label, sizeof(label) - 1, NULL, 0, 0), 1);
        CHECK(memcmp(ex, cex, 32) == 0);
    }
    /* Graceful close: client sees close_notify then EOF. */
    conn_close(s.c);
    run_for(l, 5);
    CHECK_INT(s.closes, 1);
    SSL_free(t.ssl);
    SSL_CTX_free(cc);
    close(sv[1]);
    buf_free(&t.got);
    buf_free(&s.got);
    event_loop_free(l);
}

static struct tls_ctx *make_tls(const char *dir)
{
    char cert[300], key[300], err[512];
    snprintf(cert, sizeof(cert), "%s/server.crt", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    bool ok = tls_generate_selfsigned(cert, key, "test.example", err, sizeof(err));
    if (!ok)
        fprintf(stderr, "%s\n", err);
    CHECK(ok);
    struct stat st;
    CHECK(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600);
    struct tls_ctx *t = tls_ctx_new(cert, key, config_str(CFG_TLS_CIPHERS), config_str(CFG_TLS_CIPHERSUITES), 3600,
                                    err, sizeof(err));
    if (!t)
        fprintf(stderr, "%s\n", err);
    CHECK(t != NULL);
    return t;
}

static void test_tls(void)
{
    const char *dir = unit_tmpdir();
    struct tls_ctx *t = make_tls(dir);
    if (!t)
        return;
    /* Second call with files present: no regeneration. */
    char cert[300], key[300], err[256];
    snprintf(cert, sizeof(cert), "%s/server.crt", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    struct stat a, b;
    stat(cert, &a);
    CHECK(tls_generate_selfsigned(cert, key, "x", err, sizeof(err)));
    stat(cert, &b);
    CHECK(a.st_ino == b.st_ino);
    run_tls(t, 0, false);
    run_tls(t, TLS1_2_VERSION, false);
    run_tls(t, 0, true);
    tls_ctx_unref(t);
}

/* Large output under TLS: partial SSL_writes, WANT_WRITE retries and the
 * pread path for file chunks. */
static void test_tls_bulk(void)
{
    const char *dir = unit_tmpdir();
    struct tls_ctx *tls = make_tls(dir);
    if (!tls)
        return;
    char path[300];
    snprintf(path, sizeof(path), "%s/body", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    size_t flen = 200001;
    char *data = xmalloc(flen);
    for (size_t i = 0; i < flen; i++)
        data[i] = (char)(i * 13 + 1);
    CHECK_INT(write(fd, data, flen), flen);
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.file_on_input = fd;
    s.file_len = flen;
    s.c = conn_new(l, sv[0], NULL, 0, tls, &srv_cb, &s);
    SSL_CTX *cc = client_ctx(0);
    size_t total = 256 * 4096 + flen + 5;
    struct tcli t = {.fd = sv[1], .l = l, .send_after = "go\r\n", .expect = "", .expect_len = total};
    t.ssl = SSL_new(cc);
    SSL_set_fd(t.ssl, sv[1]);
    t.state = 1;
    ev_fd_add(l, sv[1], EV_WRITE, tcli_event, &t);
    CHECK(run_until(l, &t.flag, 10000));
    CHECK_INT(t.got.len, total);
    if (t.got.len == total) {
        CHECK(t.got.data[0] == 'a' && t.got.data[256 * 4096 - 1] == (char)('a' + 255 % 26));
        CHECK(memcmp(t.got.data + 256 * 4096, data, flen) == 0);
        CHECK(memcmp(t.got.data + total - 5, "END\r\n", 5) == 0);
    }
    CHECK(s.drains >= 1);
    CHECK_INT(conn_output_pending(s.c), 0);
    conn_abort(s.c);
    run_for(l, 2);
    CHECK_INT(s.closes, 1);
    SSL_free(t.ssl);
    SSL_CTX_free(cc);
    close(sv[1]);
    close(fd);
    free(data);
    buf_free(&t.got);
    buf_free(&s.got);
    tls_ctx_unref(tls);
    event_loop_free(l);
}

/* ALPN: "imap" selected when offered; a client asking only for another
 * protocol (cross-protocol attack, ALPACA) is refused; none offered is
 * fine. Returns the selected protocol or NULL when the handshake failed. */
static const char *alpn_try(struct tls_ctx *tls, const char *offer, char *sel, size_t sellen)
{
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.echo = true;
    s.c = conn_new(l, sv[0], NULL, 0, tls, &srv_cb, &s);
    SSL_CTX *cc = client_ctx(0);
    if (offer) {
        unsigned char wire[64];
        size_t n = strlen(offer);
        wire[0] = (unsigned char)n;
        memcpy(wire + 1, offer, n);
        SSL_CTX_set_alpn_protos(cc, wire, (unsigned)(n + 1));
    }
    struct tcli t = {.fd = sv[1], .l = l, .send_after = "x\r\n", .expect = "x\r\n"};
    t.ssl = SSL_new(cc);
    SSL_set_fd(t.ssl, sv[1]);
    t.state = 1;
    ev_fd_add(l, sv[1], EV_WRITE, tcli_event, &t);
    run_until(l, &t.flag, 5000);
    const char *ret = NULL;
    if (t.state == 3) {
        const unsigned char *p;
        unsigned int pl;
        SSL_get0_alpn_selected(t.ssl, &p, &pl);
        snprintf(sel, sellen, "%.*s", (int)pl, (const char *)p);
        ret = sel;
    }
    ERR_clear_error();
    if (s.c)
        conn_abort(s.c);
    run_for(l, 1);
    SSL_free(t.ssl);
    SSL_CTX_free(cc);
    close(sv[1]);
    buf_free(&t.got);
    buf_free(&s.got);
    event_loop_free(l);
    return ret;
}

static void test_tls_alpn(void)
{
    struct tls_ctx *tls = make_tls(unit_tmpdir());
    if (!tls)
        return;
    tls_ctx_set_alpn(tls, "imap");
    char sel[64];
    CHECK_STR(alpn_try(tls, "imap", sel, sizeof(sel)), "imap");
    CHECK_STR(alpn_try(tls, NULL, sel, sizeof(sel)), "");
    CHECK(alpn_try(tls, "http/1.1", sel, sizeof(sel)) == NULL);
    tls_ctx_unref(tls);
}

static void test_tls_errors(void)
{
    char err[512] = "";
    const char *dir = unit_tmpdir();
    char cert[300], key[300];
    snprintf(cert, sizeof(cert), "%s/nope.crt", dir);
    snprintf(key, sizeof(key), "%s/nope.key", dir);
    CHECK(tls_ctx_new(cert, key, "", "", 60, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "nope.crt") != NULL);
    struct tls_ctx *t = make_tls(dir);
    tls_ctx_unref(t);
    snprintf(cert, sizeof(cert), "%s/server.crt", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    CHECK(tls_ctx_new(cert, key, "NOSUCHCIPHER", "", 60, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "tls_ciphers") != NULL);
    /* Garbage instead of a ClientHello: the conn closes, no crash. */
    t = tls_ctx_new(cert, key, "", "", 60, err, sizeof(err));
    CHECK(t != NULL);
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct srv s = {0};
    s.c = conn_new(l, sv[0], NULL, 0, t, &srv_cb, &s);
    tls_ctx_unref(t); /* the conn holds its own reference */
    CHECK_INT(write(sv[1], "GET / HTTP/1.0\r\n\r\n", 18), 18);
    CHECK(run_until(l, &s.flag, 2000));
    CHECK_INT(s.closes, 1);
    CHECK_INT(s.inputs, 0);
    close(sv[1]);
    event_loop_free(l);
}

/* ---- TCP ---------------------------------------------------------------------- */

static void test_listen(void)
{
    char err[256];
    const char *bad[] = {"", "nope", "1.2.3.4:", "127.0.0.1:99999", "::1:143", "[::1]143", "127.0.0.1:abc",
                         "[]:143", "127.0.0.1:-1", "no.such.host.invalid:143"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err[0] = '\0';
        int fd = listen_tcp(bad[i], err, sizeof(err));
        CHECK(fd < 0);
        if (fd >= 0) {
            fprintf(stderr, "accepted bad spec \"%s\"\n", bad[i]);
            close(fd);
        }
        CHECK(err[0] != '\0');
    }
    const char *good[] = {"127.0.0.1:0", "*:0", ":0", "localhost:0"};
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        int fd = listen_tcp(good[i], err, sizeof(err));
        CHECK(fd >= 0);
        if (fd < 0) {
            fprintf(stderr, "%s: %s\n", good[i], err);
            continue;
        }
        CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
    }
    int fd = listen_tcp("[::1]:0", err, sizeof(err));
    if (fd >= 0) { /* only when the host has IPv6 loopback */
        int v6only = 0;
        socklen_t sl = sizeof(v6only);
        getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &sl);
        CHECK_INT(v6only, 1);
        close(fd);
    }
    char **v;
    size_t n = listen_split(" 127.0.0.1:143, [::1]:143 ,,", &v);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(v[0], "127.0.0.1:143");
        CHECK_STR(v[1], "[::1]:143");
    }
    listen_split_free(v, n);
    CHECK_INT(listen_split("", &v), 0);
    listen_split_free(v, 0);
}

static int port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* listen_tcp_group: n sockets on one address (SO_REUSEPORT), the kernel
 * spreads connections over them, and the address must be free. */
static void test_listen_group(void)
{
    char err[256];
    int fds[3];
    CHECK_INT(listen_tcp_group("127.0.0.1:0", fds, 3, err, sizeof(err)), 0);
    int port = port_of(fds[0]);
    CHECK(port > 0);
    for (int i = 0; i < 3; i++) {
        int one = 0;
        socklen_t ol = sizeof(one);
        CHECK_INT(port_of(fds[i]), port);
        CHECK(getsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &one, &ol) == 0 && one == 1);
        CHECK(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
        CHECK(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
    }
    /* Taken: neither a second group (which SO_REUSEPORT alone would let
     * join) nor a single socket. */
    char spec[64];
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
    int other[2];
    err[0] = '\0';
    CHECK(listen_tcp_group(spec, other, 2, err, sizeof(err)) < 0);
    CHECK(strstr(err, "in use") != NULL);
    CHECK(listen_tcp(spec, err, sizeof(err)) < 0);
    /* 90 connections, hashed over the three sockets: each gets some
     * (a fair hash leaves one empty with probability 3*(2/3)^90, 4e-16). */
    enum { NCONN = 90 };
    int cl[NCONN];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < NCONN; i++) {
        cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(cl[i] >= 0 && connect(cl[i], (struct sockaddr *)&sa, sizeof(sa)) == 0);
    }
    /* A connection reaches its accept queue when the handshake's last
     * ACK has been processed: poll until all have (with a bound). */
    int got[3] = {0, 0, 0}, total = 0;
    for (int round = 0; total < NCONN && round < 100; round++) {
        struct pollfd pfd[3];
        for (int i = 0; i < 3; i++)
            pfd[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        if (poll(pfd, 3, 100) <= 0)
            continue;
        for (int i = 0; i < 3; i++) {
            int c;
            while ((c = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                got[i]++;
                total++;
                close(c);
            }
        }
    }
    CHECK_INT(total, NCONN);
    for (int i = 0; i < 3; i++)
        CHECK(got[i] > 0);
    for (int i = 0; i < NCONN; i++)
        close(cl[i]);
    /* One socket: an ordinary one. */
    int one = 1;
    socklen_t ol = sizeof(one);
    CHECK_INT(listen_tcp_group("127.0.0.1:0", other, 1, err, sizeof(err)), 0);
    CHECK(getsockopt(other[0], SOL_SOCKET, SO_REUSEPORT, &one, &ol) == 0 && one == 0);
    close(other[0]);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    /* Released: the port can be bound again. */
    int fd = listen_tcp(spec, err, sizeof(err));
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    CHECK(listen_tcp_group("127.0.0.1:0", fds, 0, err, sizeof(err)) < 0);
}

static void accept_cb(struct event_loop *l, int fd, int events, void *arg)
{
    (void)events;
    struct srv *s = arg;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return;
    s->echo = true;
    s->c = conn_new(l, c, (struct sockaddr *)&ss, sl, NULL, &srv_cb, s);
}

static void test_tcp_conn(void)
{
    char err[256];
    int lfd = listen_tcp("127.0.0.1:0", err, sizeof(err));
    CHECK(lfd >= 0);
    if (lfd < 0)
        return;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    struct event_loop *l = event_loop_new();
    struct srv s = {0};
    CHECK_INT(ev_fd_add_exclusive(l, lfd, accept_cb, &s), 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(cfd, (struct sockaddr *)&sa, sl);
    CHECK(r == 0 || errno == EINPROGRESS);
    struct cli k = {.fd = cfd, .want = 4};
    ev_fd_add(l, cfd, EV_READ, cli_read, &k);
    /* Wait for the accept, then talk. */
    while (!s.c) {
        bool never = false;
        ev_timer_add(l, 1, stop_cb, &never);
        run_until(l, &never, 100);
    }
    CHECK_STR(conn_peer_addr(s.c), "127.0.0.1");
    CHECK(conn_peer_port(s.c) > 0);
    int nd = 0;
    socklen_t ndl = sizeof(nd);
    getsockopt(conn_fd(s.c), IPPROTO_TCP, 1 /* TCP_NODELAY */, &nd, &ndl);
    CHECK(nd != 0);
    CHECK_INT(write(cfd, "abcd", 4), 4);
    CHECK(run_until(l, &k.flag, 2000));
    CHECK_STR(buf_cstr(&k.got), "abcd");
    conn_abort(s.c);
    run_for(l, 1);
    close(cfd);
    close(lfd);
    buf_free(&s.got);
    buf_free(&k.got);
    event_loop_free(l);
}

/* A paused conn (epoll interest 0) whose peer resets the connection still
 * gets on_close: EPOLLERR/EPOLLHUP are reported regardless of interest. */
static void test_tcp_reset_while_paused(void)
{
    char err[256];
    int lfd = listen_tcp("127.0.0.1:0", err, sizeof(err));
    CHECK(lfd >= 0);
    if (lfd < 0)
        return;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    struct event_loop *l = event_loop_new();
    struct srv s = {0};
    ev_fd_add(l, lfd, EV_READ, accept_cb, &s);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_INT(connect(cfd, (struct sockaddr *)&sa, sl), 0);
    for (int i = 0; i < 1000 && !s.c; i++) {
        bool never = false;
        ev_timer_add(l, 1, stop_cb, &never);
        run_until(l, &never, 100);
    }
    CHECK(s.c != NULL);
    if (!s.c)
        return;
    conn_pause_input(s.c);
    run_for(l, 2);
    struct linger lg = {1, 0};
    setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(cfd); /* RST */
    CHECK(run_until(l, &s.flag, 2000));
    CHECK_INT(s.closes, 1);
    close(lfd);
    buf_free(&s.got);
    event_loop_free(l);
}

/* ---- limits ------------------------------------------------------------------- */

/* A wait computed from the clock a few ms after the reference: at most
 * want, not 50 ms less. */
static bool near_ms(unsigned got, unsigned want)
{
    return got <= want && got + 50 >= want;
}

static void test_limits(void)
{
    CHECK(limits_init());
    /* Connections: only the global maxconnections applies at accept. */
    set_cfg("maxconnections", "3");
    set_cfg("maxlogins_per_host", "1");
    CHECK(limits_conn_acquire("10.0.0.1"));
    CHECK(limits_conn_acquire("10.0.0.1"));
    CHECK(limits_conn_acquire("10.0.0.2"));
    CHECK(!limits_conn_acquire("10.0.0.3")); /* global */
    CHECK_INT(limits_conn_total(), 3);
    limits_conn_release("10.0.0.1");
    CHECK(limits_conn_acquire("10.0.0.3"));
    CHECK(!limits_conn_acquire("10.0.0.4"));
    limits_conn_release("10.0.0.1");
    limits_conn_release("10.0.0.2");
    limits_conn_release("10.0.0.3");
    CHECK_INT(limits_conn_total(), 0);

    /* Crashed worker: its connections leave the global count. */
    set_cfg("maxconnections", "0");
    limits_set_worker(3);
    CHECK(limits_conn_acquire("10.1.1.1"));
    CHECK(limits_conn_acquire("10.1.1.2"));
    CHECK_INT(limits_conn_total(), 2);
    limits_worker_exited(3);
    CHECK_INT(limits_conn_total(), 0);
    limits_set_worker(-1);

    /* Logins: per user and per host (Cyrus maxlogins_per_user/_host). */
    const char *which = NULL;
    set_cfg("maxlogins_per_user", "1");
    set_cfg("maxlogins_per_host", "0");
    CHECK(limits_login_acquire("alice", "10.0.0.1", &which));
    CHECK(!limits_login_acquire("alice", "10.0.0.2", &which));
    CHECK_STR(which, "user");
    CHECK(limits_login_acquire("bob", "10.0.0.1", &which));
    limits_login_release("alice", "10.0.0.1");
    CHECK(limits_login_acquire("alice", "10.0.0.2", &which));
    limits_login_release("alice", "10.0.0.2");
    limits_login_release("bob", "10.0.0.1");
    set_cfg("maxlogins_per_user", "0");
    for (int i = 0; i < 5; i++)
        CHECK(limits_login_acquire("carol", "10.0.0.9", NULL));
    for (int i = 0; i < 5; i++)
        limits_login_release("carol", "10.0.0.9");

    set_cfg("maxlogins_per_host", "2");
    CHECK(limits_login_acquire("u1", "10.5.5.5", &which));
    CHECK(limits_login_acquire("u2", "10.5.5.5", &which));
    CHECK(!limits_login_acquire("u3", "10.5.5.5", &which));
    CHECK_STR(which, "host");
    /* A refused login takes nothing: u3 can still log in elsewhere, and
     * with maxlogins_per_user 1 that proves no user slot leaked. */
    set_cfg("maxlogins_per_user", "1");
    CHECK(limits_login_acquire("u3", "10.5.5.6", &which));
    limits_login_release("u3", "10.5.5.6");
    limits_login_release("u1", "10.5.5.5");
    CHECK(limits_login_acquire("u3", "10.5.5.5", &which));
    limits_login_release("u3", "10.5.5.5");
    limits_login_release("u2", "10.5.5.5");
    set_cfg("maxlogins_per_user", "0");

    /* Many distinct addresses come and go: entries are deleted, the
     * table never fills. */
    set_cfg("maxlogins_per_host", "1");
    for (int i = 0; i < 100000; i++) {
        char a[32];
        snprintf(a, sizeof(a), "192.0.%d.%d", i / 256, i % 256);
        if (!limits_login_acquire("x", a, NULL)) {
            CHECK(!"acquire failed");
            break;
        }
        limits_login_release("x", a);
    }
    CHECK(limits_login_acquire("x", "10.9.9.9", NULL));
    CHECK(!limits_login_acquire("y", "10.9.9.9", NULL));
    limits_login_release("x", "10.9.9.9");

    /* Failed logins: the step grows past auth_failures_per_host, and every
     * delayed event of an address (a failure's answer, an over-limit
     * attempt) is scheduled one step after the previous one's release,
     * so back-to-back events get 1, 2, 3 ... steps, never the same
     * moment (issue 9: no bursts). The calls below run within a few ms
     * of each other: waits are checked to within 50 ms below. */
    set_cfg("auth_failure_delay", "1");
    set_cfg("auth_failures_per_host", "3");
    set_cfg("preauth_timeout", "60");
#define NEAR(got, want) CHECK(near_ms((got), (want)))
    CHECK_INT(limits_auth_predelay("10.2.2.2"), 0);
    NEAR(limits_auth_failure("10.2.2.2"), 1000);
    NEAR(limits_auth_failure("10.2.2.2"), 2000);   /* after the first */
    CHECK_INT(limits_auth_predelay("10.2.2.2"), 0); /* 2 < 3: checked at once */
    NEAR(limits_auth_failure("10.2.2.2"), 3000);
    NEAR(limits_auth_predelay("10.2.2.2"), 4000);  /* at the limit: parked, in turn */
    NEAR(limits_auth_predelay("10.2.2.2"), 5000);
    NEAR(limits_auth_failure("10.2.2.2"), 7000);   /* 4 failures: step 2 s */
    NEAR(limits_auth_failure("10.2.2.2"), 11000);  /* 5: step 4 s */
    NEAR(limits_auth_predelay("10.2.2.2"), 15000);
    CHECK_INT(limits_auth_predelay("10.2.2.3"), 0); /* other address */
    NEAR(limits_auth_failure("10.2.2.3"), 1000);   /* its own schedule */
    /* Past preauth_timeout nothing is reserved: the connection hits its
     * deadline first, and later attempts are not pushed out by it. */
    NEAR(limits_auth_failure("10.2.2.2"), 23000);  /* 6: step 8 s */
    NEAR(limits_auth_failure("10.2.2.2"), 39000);  /* 7: step 16 s */
    unsigned far = limits_auth_failure("10.2.2.2"); /* 8: 30 s (capped): 69 s */
    NEAR(far, 69000);
    NEAR(limits_auth_predelay("10.2.2.2"), 69000); /* not reserved either */
    /* The step is capped at 30 s. */
    set_cfg("preauth_timeout", "3600");
    for (int i = 0; i < 10; i++)
        limits_auth_failure("10.2.2.2");
    unsigned a1 = limits_auth_failure("10.2.2.2");
    unsigned a2 = limits_auth_failure("10.2.2.2");
    NEAR(a2 - a1, 30000);
    set_cfg("preauth_timeout", "60");
    limits_auth_success("10.2.2.2");               /* clears count and schedule */
    CHECK_INT(limits_auth_predelay("10.2.2.2"), 0);
    NEAR(limits_auth_failure("10.2.2.2"), 1000);
    limits_auth_success("10.2.2.2");
    limits_auth_success("10.2.2.3");
    set_cfg("auth_failure_delay", "0");
    CHECK_INT(limits_auth_failure("10.2.2.4"), 0);
#undef NEAR

    /* Shared between processes: a child's acquisitions count here. */
    set_cfg("maxconnections", "0");
    set_cfg("maxlogins_per_host", "1");
    unsigned before = limits_conn_total();
    pid_t pid = fork();
    if (pid == 0)
        _exit(limits_conn_acquire("10.3.3.3") && limits_login_acquire("z", "10.3.3.3", NULL) ? 0 : 1);
    int st = -1;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_INT(limits_conn_total(), before + 1);
    CHECK(!limits_login_acquire("w", "10.3.3.3", NULL)); /* held by the child */
    limits_conn_release("10.3.3.3");
    limits_login_release("z", "10.3.3.3");
    CHECK_INT(limits_conn_total(), before);
    CHECK(limits_login_acquire("w", "10.3.3.3", NULL));
    limits_login_release("w", "10.3.3.3");
}

/* ---- pre-auth connections --------------------------------------------------- */

static bool wake_pending(int timeout_ms)
{
    struct pollfd p = {limits_wake_fd(), POLLIN, 0};
    return p.fd >= 0 && poll(&p, 1, timeout_ms) == 1;
}

static void test_preauth_limits(void)
{
    CHECK(limits_init());
    CHECK(limits_init_wakeups(2));
    limits_set_worker(0);
    unsigned base = limits_conn_total();
    set_cfg("maxconnections", "0");
    set_cfg("maxconnections_per_host_preauth", "2");
    struct limits_preauth a, b, c, d, e, f;

    /* Per-host cap on unauthenticated connections; over it nothing is
     * taken. */
    CHECK_INT(limits_conn_admit("10.7.0.1", true, &a), LIMITS_ADMITTED);
    CHECK(a.slot >= 0 && a.host != 0);
    CHECK_INT(limits_conn_admit("10.7.0.1", true, &b), LIMITS_ADMITTED);
    CHECK_INT(limits_conn_admit("10.7.0.1", true, &c), LIMITS_HOST_PREAUTH);
    CHECK(c.slot < 0 && c.host == 0);
    CHECK_INT(limits_conn_total(), base + 2);
    CHECK_INT(limits_conn_admit("10.7.0.2", true, &c), LIMITS_ADMITTED); /* other address */
    /* Not pre-auth (unix-socket LMTP): not counted per host. */
    CHECK_INT(limits_conn_admit("10.7.0.1", false, &d), LIMITS_ADMITTED);
    CHECK(d.slot < 0 && d.host == 0);
    /* Authenticating (or closing) frees the place at once. */
    limits_preauth_end(&a);
    CHECK(a.slot < 0 && a.host == 0);
    limits_preauth_end(&a); /* idempotent */
    CHECK_INT(limits_conn_admit("10.7.0.1", true, &a), LIMITS_ADMITTED);
    CHECK_INT(limits_conn_admit("10.7.0.1", true, &e), LIMITS_HOST_PREAUTH);
    /* IPv6 counts per /64. */
    struct limits_preauth v1, v2, v3;
    CHECK_INT(limits_conn_admit("2001:db8:1:2::1", true, &v1), LIMITS_ADMITTED);
    CHECK_INT(limits_conn_admit("2001:db8:1:2:ffff::7", true, &v2), LIMITS_ADMITTED);
    CHECK_INT(limits_conn_admit("2001:db8:1:2::99", true, &v3), LIMITS_HOST_PREAUTH);
    CHECK_INT(limits_conn_admit("2001:db8:1:3::1", true, &v3), LIMITS_ADMITTED);
    limits_preauth_end(&v1);
    limits_preauth_end(&v2);
    limits_preauth_end(&v3);
    for (int i = 0; i < 3; i++)
        limits_conn_release("x");
    set_cfg("maxconnections_per_host_preauth", "0"); /* unlimited */
    struct limits_preauth many[30];
    for (int i = 0; i < 30; i++)
        CHECK_INT(limits_conn_admit("10.7.0.9", true, &many[i]), LIMITS_ADMITTED);
    for (int i = 0; i < 30; i++) {
        limits_preauth_end(&many[i]);
        limits_conn_release("10.7.0.9");
    }

    /* Full: the oldest pre-auth connection (b, then c, then a) is marked
     * and its worker (here: this one) woken; the new one is admitted. A
     * connection that is not pre-auth (d) is never chosen. */
    CHECK_INT(limits_conn_total(), base + 5); /* b c d, a (logged in), a */
    char max[16];
    snprintf(max, sizeof(max), "%u", base + 5);
    set_cfg("maxconnections", max);
    while (wake_pending(0))
        limits_wake_drain();
    CHECK(!limits_preauth_evicted(&b));
    CHECK_INT(limits_conn_admit("10.8.0.1", true, &e), LIMITS_ADMITTED);
    CHECK(limits_preauth_evicted(&b));
    CHECK(!limits_preauth_evicted(&c) && !limits_preauth_evicted(&a) && !limits_preauth_evicted(&e));
    CHECK(wake_pending(0));
    limits_wake_drain();
    CHECK(!wake_pending(0));
    CHECK_INT(limits_conn_total(), base + 6); /* over by the eviction in flight */
    struct limits_preauth stale = b;
    limits_preauth_end(&b); /* the evicted connection closes */
    limits_conn_release("10.7.0.1");
    CHECK(!limits_preauth_evicted(&stale));
    CHECK_INT(limits_conn_admit("10.8.0.2", false, &f), LIMITS_ADMITTED); /* evicts c */
    CHECK(limits_preauth_evicted(&c));
    /* c logs in before its worker closed it: it stays (end frees the
     * slot; the total stays over until someone leaves). */
    limits_preauth_end(&c);
    CHECK(!limits_preauth_evicted(&stale)); /* slot reused: other generation */
    struct limits_preauth g, h;
    CHECK_INT(limits_conn_admit("10.8.0.3", true, &g), LIMITS_ADMITTED); /* evicts a */
    CHECK(limits_preauth_evicted(&a));
    CHECK_INT(limits_conn_admit("10.8.0.4", true, &h), LIMITS_ADMITTED); /* evicts e */
    CHECK(limits_preauth_evicted(&e));
    CHECK(!limits_preauth_evicted(&g));
    limits_preauth_end(&g); /* g authenticates: nothing pre-auth but h */
    CHECK_INT(limits_conn_admit("10.8.0.5", true, &g), LIMITS_ADMITTED); /* evicts h */
    CHECK(limits_preauth_evicted(&h));
    limits_preauth_end(&g);
    /* No pre-auth connection left: refused as before. */
    struct limits_preauth r;
    CHECK_INT(limits_conn_admit("10.8.0.6", true, &r), LIMITS_FULL);
    CHECK(r.slot < 0 && r.host == 0);
    limits_preauth_end(&a);
    limits_preauth_end(&e);
    limits_preauth_end(&h);
    unsigned over = limits_conn_total() - base;
    for (unsigned i = 0; i < over; i++)
        limits_conn_release("x");
    while (wake_pending(0))
        limits_wake_drain();

    /* Across processes: a child (worker 1) holds a pre-auth connection;
     * this process, full, evicts it; the child is woken through its wake
     * fd and sees its connection marked. */
    set_cfg("maxconnections", "0");
    int go[2], ready[2];
    CHECK(pipe(go) == 0 && pipe(ready) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        limits_set_worker(1);
        struct limits_preauth mine;
        if (limits_conn_admit("10.9.0.1", true, &mine) != LIMITS_ADMITTED)
            _exit(2);
        char x = 'r';
        if (write(ready[1], &x, 1) != 1)
            _exit(3);
        if (!wake_pending(10000))
            _exit(4);
        limits_wake_drain();
        if (!limits_preauth_evicted(&mine))
            _exit(5);
        limits_preauth_end(&mine);
        limits_conn_release("10.9.0.1");
        _exit(0);
    }
    char x;
    CHECK(read(ready[0], &x, 1) == 1);
    snprintf(max, sizeof(max), "%u", limits_conn_total());
    set_cfg("maxconnections", max);
    CHECK_INT(limits_conn_admit("10.9.0.2", true, &r), LIMITS_ADMITTED);
    int st = -1;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    limits_preauth_end(&r);
    limits_conn_release("10.9.0.2");
    close(go[0]);
    close(go[1]);
    close(ready[0]);
    close(ready[1]);

    /* A worker that dies gives back its pre-auth places (per-host counts
     * included): the master cleans up after it. */
    set_cfg("maxconnections", "0");
    set_cfg("maxconnections_per_host_preauth", "1");
    limits_set_worker(1);
    struct limits_preauth dead;
    CHECK_INT(limits_conn_admit("10.9.9.9", true, &dead), LIMITS_ADMITTED);
    limits_set_worker(0);
    CHECK_INT(limits_conn_admit("10.9.9.9", true, &r), LIMITS_HOST_PREAUTH);
    limits_worker_exited(1);
    CHECK_INT(limits_conn_admit("10.9.9.9", true, &r), LIMITS_ADMITTED);
    limits_preauth_end(&r);
    limits_conn_release("10.9.9.9");
    CHECK_INT(limits_conn_total(), base);
    limits_set_worker(-1);
    set_cfg("maxconnections_per_host_preauth", "20");
}

/* A connection chosen for eviction that logs in before its worker closed
 * it stays, and the next oldest pre-auth connection goes in its place:
 * otherwise each login won against an eviction (LOGIN sent while the
 * worker is busy, a new connection at the same time) would leave the
 * total over maxconnections for good. */
static void test_preauth_login_owed(void)
{
    CHECK(limits_init());
    CHECK(limits_init_wakeups(2));
    limits_set_worker(0);
    set_cfg("maxconnections_per_host_preauth", "0");
    set_cfg("maxconnections", "0");
    unsigned base = limits_conn_total();
    struct limits_preauth p1, p2, p3, n1, n2, n3;
    CHECK_INT(limits_conn_admit("10.11.0.1", true, &p1), LIMITS_ADMITTED);
    CHECK_INT(limits_conn_admit("10.11.0.2", true, &p2), LIMITS_ADMITTED);
    CHECK_INT(limits_conn_admit("10.11.0.3", true, &p3), LIMITS_ADMITTED);
    char max[16];
    snprintf(max, sizeof(max), "%u", base + 3);
    set_cfg("maxconnections", max);
    while (wake_pending(0))
        limits_wake_drain();
    CHECK_INT(limits_conn_admit("10.11.0.9", true, &n1), LIMITS_ADMITTED); /* evicts p1 */
    CHECK(limits_preauth_evicted(&p1));
    limits_wake_drain();
    /* p1 logs in first: p2 is chosen instead, its worker woken */
    limits_preauth_login(&p1);
    CHECK(p1.slot < 0 && p1.host == 0);
    CHECK(limits_preauth_evicted(&p2));
    CHECK(!limits_preauth_evicted(&p3) && !limits_preauth_evicted(&n1));
    CHECK(wake_pending(0));
    limits_wake_drain();
    limits_preauth_login(&p1); /* idempotent */
    CHECK(!limits_preauth_evicted(&p3));
    /* p2 is closed: back at maxconnections, not over it */
    limits_preauth_end(&p2);
    limits_conn_release("10.11.0.2");
    CHECK_INT(limits_conn_total(), base + 3);
    /* A plain login (not chosen) passes nothing on. */
    limits_preauth_login(&n1);
    CHECK(!limits_preauth_evicted(&p3));
    CHECK(!wake_pending(0));
    /* Chosen, logged in, nothing pre-auth left to choose: over by one
     * until some connection ends (nothing else can be done). */
    CHECK_INT(limits_conn_admit("10.11.0.8", false, &n2), LIMITS_ADMITTED); /* evicts p3 */
    CHECK(limits_preauth_evicted(&p3));
    limits_preauth_login(&p3);
    CHECK_INT(limits_conn_total(), base + 4);
    CHECK_INT(limits_conn_admit("10.11.0.7", true, &n3), LIMITS_FULL);
    for (int i = 0; i < 4; i++)
        limits_conn_release("x");
    CHECK_INT(limits_conn_total(), base);
    while (wake_pending(0))
        limits_wake_drain();
    set_cfg("maxconnections", "0");
    set_cfg("maxconnections_per_host_preauth", "20");
    limits_set_worker(-1);
}

/* Failed logins count per host like pre-auth connections: an IPv6
 * client cannot escape the delays by moving within its /64. */
static void test_auth_failures_per_64(void)
{
    CHECK(limits_init());
    set_cfg("auth_failure_delay", "1");
    set_cfg("auth_failures_per_host", "2");
    set_cfg("preauth_timeout", "60");
    CHECK_INT(limits_auth_predelay("2001:db8:5:6::1"), 0);
    CHECK(limits_auth_failure("2001:db8:5:6::1") > 0);
    CHECK(limits_auth_failure("2001:db8:5:6::2") > 1000); /* the same host: its second, in turn */
    CHECK(limits_auth_predelay("2001:db8:5:6:abcd::3") > 0); /* at the limit */
    CHECK_INT(limits_auth_predelay("2001:db8:5:7::1"), 0);  /* another /64 */
    CHECK_INT(limits_auth_predelay("10.12.0.1"), 0);
    limits_auth_success("2001:db8:5:6::99");               /* clears the /64 */
    CHECK_INT(limits_auth_predelay("2001:db8:5:6::1"), 0);
    set_cfg("auth_failure_delay", "0");
    set_cfg("auth_failures_per_host", "10");
}

/* Failed logins from enough distinct hosts fill the failures table to
 * its last slot (about 10,000 do: each host's entry stays for 10 minutes
 * and a full neighbourhood only refuses new hosts). Deleting from a full
 * table must still end: it used to loop for ever holding the limits
 * lock, which hung every worker at its next connection or login. */
static void test_auth_failures_table_full(void)
{
    CHECK(limits_init());
    set_cfg("auth_failure_delay", "0");
    unit_deadline(120);
    enum { HOSTS = 20000 };
    char a[32];
    for (int i = 0; i < HOSTS; i++) {
        snprintf(a, sizeof(a), "100.64.%d.%d", i / 256, i % 256);
        limits_auth_failure(a);
    }
    limits_auth_success("100.64.0.0");  /* the first: surely in the table */
    for (int i = 0; i < HOSTS; i++) {
        snprintf(a, sizeof(a), "100.64.%d.%d", i / 256, i % 256);
        limits_auth_success(a);
    }
    /* the table works on: a host past the limit is delayed again */
    set_cfg("auth_failure_delay", "1");
    set_cfg("auth_failures_per_host", "1");
    CHECK(limits_auth_failure("100.64.0.0") > 0);
    CHECK(limits_auth_predelay("100.64.0.0") > 0);
    limits_auth_success("100.64.0.0");
    CHECK_INT(limits_auth_predelay("100.64.0.0"), 0);
    unit_deadline(0);
    set_cfg("auth_failure_delay", "0");
    set_cfg("auth_failures_per_host", "10");
}

int main(void)
{
    log_init("test-net", true, false, NULL);
    log_set_level(LOG_LVL_WARN);
    RUN(test_timers);
    RUN(test_timer_compaction);
    RUN(test_defer_no_starvation);
    RUN(test_signal);
    RUN(test_conn_echo);
    RUN(test_conn_backpressure);
    RUN(test_conn_stream_rounds);
    RUN(test_conn_pause);
    RUN(test_conn_close_flushes);
    RUN(test_conn_abort_in_callback);
    RUN(test_conn_close_in_callback);
    RUN(test_conn_write_file);
    RUN(test_tls);
    RUN(test_tls_bulk);
    RUN(test_tls_alpn);
    RUN(test_tls_errors);
    RUN(test_listen);
    RUN(test_listen_group);
    RUN(test_tcp_conn);
    RUN(test_tcp_reset_while_paused);
    RUN(test_limits);
    RUN(test_preauth_limits);
    RUN(test_preauth_login_owed);
    RUN(test_auth_failures_per_64);
    RUN(test_auth_failures_table_full);
    return unit_done();
}
