/* test-conn-compress.c - COMPRESS=DEFLATE in the connection layer
 * (conn_compress_start, src/net/conn.c) over socketpairs: the reply
 * queued before the start goes out uncompressed, everything after it is
 * one raw deflate stream that is sync-flushed so each reply decodes at
 * once; input already buffered behind the command is taken as
 * compressed; back-pressure (on_drain) works with compression and a
 * large output arrives intact; file chunks are compressed; an idle
 * connection holds the inflater only; a second start is refused; a
 * corrupt stream closes the connection. */
#include "unit.h"
#include "common.h"
#include "conn.h"
#include "event.h"
#include "log.h"
#include <fcntl.h>
#include <sys/socket.h>
#include <zlib.h>

struct srv {
    struct conn *c;
    int drains;
    bool closed;
    size_t big_left;   /* bytes still to write for "BIG" */
    int file_fd;
};

static struct srv S;

static void big_more(struct conn *c)
{
    static char block[4096];
    for (size_t i = 0; i < sizeof(block); i++)
        block[i] = (char)('a' + (i * 7 + S.big_left / 4096) % 26);
    while (S.big_left && !conn_output_full(c)) {
        size_t n = MIN(S.big_left, sizeof(block));
        conn_write(c, block, n);
        S.big_left -= n;
    }
    if (S.big_left)
        conn_want_drain(c);
}

/* Lines: "Z" -> "OK\r\n" then compression on; "BIG n" -> n bytes; "FILE"
 * -> the file chunk; anything else echoed. */
static void s_input(struct conn *c, void *arg)
{
    (void)arg;
    struct buf *in = conn_input(c);
    for (;;) {
        char *nl = memchr(in->data, '\n', in->len);
        if (!nl)
            return;
        size_t n = (size_t)(nl - in->data) + 1;
        if (n == 2 && in->data[0] == 'Z') {
            buf_consume(in, n);
            conn_puts(c, "OK\r\n");
            CHECK(conn_compress_start(c) == 0);
            CHECK(conn_is_compressed(c));
            CHECK(conn_compress_start(c) < 0);
            continue;
        }
        if (n > 4 && memcmp(in->data, "BIG ", 4) == 0) {
            S.big_left = strtoul(in->data + 4, NULL, 10);
            buf_consume(in, n);
            big_more(c);
            continue;
        }
        if (n == 5 && memcmp(in->data, "FILE", 4) == 0) {
            buf_consume(in, n);
            conn_puts(c, "<");
            conn_write_file(c, S.file_fd, 0, 100000);
            conn_puts(c, ">\r\n");
            continue;
        }
        conn_write(c, in->data, n);
        buf_consume(in, n);
    }
}

static void s_drain(struct conn *c, void *arg)
{
    (void)arg;
    S.drains++;
    big_more(c);
}

static void s_close(struct conn *c, void *arg)
{
    (void)c;
    (void)arg;
    S.closed = true;
    S.c = NULL;
}

static const struct conn_callbacks cb = {s_input, s_drain, s_close};

/* ---- the client side: plain bytes, then deflate/inflate ---------------- */

struct cli {
    int fd;
    bool z;
    z_stream def, inf;
    struct buf got;     /* received, inflated once z */
    bool eof;
};

static void cli_send(struct cli *k, const char *data, size_t len)
{
    unsigned char out[65536];
    if (!k->z) {
        CHECK(write(k->fd, data, len) == (ssize_t)len);
        return;
    }
    k->def.next_in = (Bytef *)(uintptr_t)data;
    k->def.avail_in = (uInt)len;
    do {
        k->def.next_out = out;
        k->def.avail_out = sizeof(out);
        deflate(&k->def, Z_SYNC_FLUSH);
        size_t n = sizeof(out) - k->def.avail_out;
        CHECK(write(k->fd, out, n) == (ssize_t)n);
    } while (k->def.avail_out == 0);
}

static void cli_start_z(struct cli *k)
{
    k->z = true;
    memset(&k->def, 0, sizeof(k->def));
    memset(&k->inf, 0, sizeof(k->inf));
    CHECK(deflateInit2(&k->def, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    CHECK(inflateInit2(&k->inf, -15) == Z_OK);
}

/* Read what is there; with z, inflate it (every sync-flushed byte comes
 * out at once: nothing may stay inside the inflater). */
static void cli_read(struct cli *k)
{
    unsigned char tmp[65536], out[262144];
    for (;;) {
        ssize_t n = recv(k->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n == 0)
            k->eof = true;
        if (n <= 0)
            return;
        if (!k->z) {
            buf_append(&k->got, tmp, (size_t)n);
            continue;
        }
        k->inf.next_in = tmp;
        k->inf.avail_in = (uInt)n;
        do {
            k->inf.next_out = out;
            k->inf.avail_out = sizeof(out);
            int r = inflate(&k->inf, Z_SYNC_FLUSH);
            CHECK(r == Z_OK || r == Z_BUF_ERROR);
            buf_append(&k->got, out, sizeof(out) - k->inf.avail_out);
            if (r != Z_OK)
                break;
        } while (k->inf.avail_in > 0 || k->inf.avail_out == 0);
    }
}

struct want {
    struct cli *k;
    size_t len;
    bool done;
    uint64_t deadline;
};

static void want_tick(struct event_loop *l, void *arg)
{
    struct want *w = arg;
    cli_read(w->k);
    if (w->k->got.len >= w->len || w->k->eof || event_loop_now(l) >= w->deadline) {
        w->done = w->k->got.len >= w->len;
        event_loop_stop(l);
        return;
    }
    ev_timer_add(l, 1, want_tick, w);
}

/* Run the loop until the client holds len bytes (at most 10 s). */
static bool cli_wait(struct event_loop *l, struct cli *k, size_t len)
{
    struct want w = {k, len, false, event_loop_now(l) + 10000};
    ev_timer_add(l, 0, want_tick, &w);
    event_loop_run(l);
    return w.done;
}

static void cli_free(struct cli *k)
{
    if (k->z) {
        deflateEnd(&k->def);
        inflateEnd(&k->inf);
    }
    buf_free(&k->got);
    close(k->fd);
}

static struct event_loop *setup(struct cli *k)
{
    memset(&S, 0, sizeof(S));
    memset(k, 0, sizeof(*k));
    struct event_loop *l = event_loop_new();
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    S.c = conn_new(l, sv[0], NULL, 0, NULL, &cb, NULL);
    k->fd = sv[1];
    return l;
}

static void stop_loop(struct event_loop *l, void *arg)
{
    (void)arg;
    event_loop_stop(l);
}

/* One more turn of the loop (deferred calls such as on_close run). */
static void turn(struct event_loop *l)
{
    ev_timer_add(l, 1, stop_loop, NULL);
    event_loop_run(l);
}

static void teardown(struct event_loop *l, struct cli *k)
{
    if (S.c)
        conn_abort(S.c);
    cli_free(k);
    /* let the conn's deferred finalize run */
    for (int i = 0; i < 3; i++)
        turn(l);
    event_loop_free(l);
}

static void test_start_and_flush(void)
{
    struct cli k;
    struct event_loop *l = setup(&k);
    cli_send(&k, "hello\n", 6);
    CHECK(cli_wait(l, &k, 6));
    CHECK(k.got.len == 6 && memcmp(k.got.data, "hello\n", 6) == 0);
    buf_reset(&k.got);
    cli_send(&k, "Z\n", 2);
    CHECK(cli_wait(l, &k, 4));
    /* the OK exactly, uncompressed, and nothing behind it */
    CHECK(k.got.len == 4 && memcmp(k.got.data, "OK\r\n", 4) == 0);
    buf_reset(&k.got);
    cli_start_z(&k);
    for (int i = 0; i < 3; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "line %d\n", i);
        cli_send(&k, line, (size_t)n);
        /* each reply decodes completely with no more bytes from us:
         * the server sync-flushed */
        CHECK(cli_wait(l, &k, (size_t)n));
        CHECK(k.got.len == (size_t)n && memcmp(k.got.data, line, (size_t)n) == 0);
        buf_reset(&k.got);
    }
    /* idle: the deflater is gone, the inflater (state + 32 KiB window) stays */
    size_t mem = conn_memory(S.c);
    CHECK(mem > 32 * 1024 && mem < 48 * 1024);
    teardown(l, &k);
}

static void test_pipelined_behind_command(void)
{
    struct cli k;
    struct event_loop *l = setup(&k);
    /* "Z\n" and the first compressed line in one write */
    z_stream d;
    memset(&d, 0, sizeof(d));
    CHECK(deflateInit2(&d, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    unsigned char buf[256];
    memcpy(buf, "Z\n", 2);
    d.next_in = (Bytef *)"early\n";
    d.avail_in = 6;
    d.next_out = buf + 2;
    d.avail_out = sizeof(buf) - 2;
    deflate(&d, Z_SYNC_FLUSH);
    size_t n = sizeof(buf) - d.avail_out;
    CHECK(write(k.fd, buf, n) == (ssize_t)n);
    CHECK(cli_wait(l, &k, 4));
    CHECK(k.got.len >= 4 && memcmp(k.got.data, "OK\r\n", 4) == 0);
    /* whatever came behind the OK is compressed */
    struct buf rest = BUF_INIT;
    buf_append(&rest, k.got.data + 4, k.got.len - 4);
    buf_reset(&k.got);
    cli_start_z(&k);
    deflateEnd(&k.def);
    CHECK(deflateCopy(&k.def, &d) == Z_OK); /* the client's stream goes on */
    deflateEnd(&d);
    if (rest.len) {
        unsigned char out[256];
        k.inf.next_in = (Bytef *)rest.data;
        k.inf.avail_in = (uInt)rest.len;
        k.inf.next_out = out;
        k.inf.avail_out = sizeof(out);
        inflate(&k.inf, Z_SYNC_FLUSH);
        buf_append(&k.got, out, sizeof(out) - k.inf.avail_out);
    }
    buf_free(&rest);
    CHECK(cli_wait(l, &k, 6));
    CHECK(k.got.len == 6 && memcmp(k.got.data, "early\n", 6) == 0);
    teardown(l, &k);
}

static void test_backpressure_and_file(void)
{
    struct cli k;
    struct event_loop *l = setup(&k);
    char path[] = "/tmp/darius-test-z-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    static char fdata[100000];
    for (size_t i = 0; i < sizeof(fdata); i++)
        fdata[i] = (char)('A' + (i % 23));
    CHECK(write(fd, fdata, sizeof(fdata)) == (ssize_t)sizeof(fdata));
    S.file_fd = fd;
    cli_send(&k, "Z\n", 2);
    CHECK(cli_wait(l, &k, 4));
    buf_reset(&k.got);
    cli_start_z(&k);
    /* 3 MiB: well over the high-water mark, so on_drain must come */
    size_t big = 3u * 1024 * 1024;
    cli_send(&k, "BIG 3145728\n", 12);
    CHECK(cli_wait(l, &k, big));
    CHECK(k.got.len == big);
    CHECK(S.drains > 0);
    buf_reset(&k.got);
    cli_send(&k, "FILE\n", 5);
    CHECK(cli_wait(l, &k, sizeof(fdata) + 4));
    CHECK(k.got.len == sizeof(fdata) + 4 && k.got.data[0] == '<' &&
          memcmp(k.got.data + 1, fdata, sizeof(fdata)) == 0 && memcmp(k.got.data + 1 + sizeof(fdata), ">\r\n", 3) == 0);
    close(fd);
    teardown(l, &k);
}

static void test_corrupt_closes(void)
{
    struct cli k;
    struct event_loop *l = setup(&k);
    cli_send(&k, "Z\n", 2);
    CHECK(cli_wait(l, &k, 4));
    CHECK(write(k.fd, "\xff\xff\xff\xff\xff\xff", 6) == 6);
    CHECK(!cli_wait(l, &k, 1000)); /* ends at EOF, not with data */
    CHECK(k.eof);
    turn(l);
    CHECK(S.closed);
    teardown(l, &k);
}

int main(void)
{
    log_init("test-conn-compress", true, false, NULL);
    log_set_level(LOG_LVL_WARN);
    RUN(test_start_and_flush);
    RUN(test_pipelined_behind_command);
    RUN(test_backpressure_and_file);
    RUN(test_corrupt_closes);
    return unit_done();
}
