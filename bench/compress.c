/* compress.c - dariusbench compress: what COMPRESS=DEFLATE (RFC 4978)
 * costs the server, measured in process on the real connection layer
 * (src/net/conn.c) over socketpairs, no server needed:
 *
 *   - memory of an idle connection: -c connections each get one
 *     compressed command and answer it (so both inflater and deflater have
 *     run), then sit idle; heap in use (mallinfo2) and conn_memory per
 *     connection, with compression and without;
 *   - CPU per MB sent: one connection streams 64 MiB of mail text (the
 *     messages of tests/corpus/, or synthetic text) through
 *     conn_write/on_drain back-pressure to a reader that discards it;
 *     process CPU (getrusage) with compression minus without, and the
 *     ratio on the wire.
 *
 * Numbers from this are in docs/architecture.md ("Compression"). */
#include "bench.h"
#include "conn.h"
#include "event.h"
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#define STREAM_TOTAL (64u * 1024 * 1024)
#define PIECE (64 * 1024)

struct zb_state {
    struct event_loop *loop;
    size_t want;            /* connections still to answer / clients to hear back */
    struct buf text;        /* the stream's plaintext (one period) */
    size_t sent;            /* plaintext written so far */
    size_t wire;            /* bytes the reader got */
    size_t peak_mem;        /* largest conn_memory of the stream's conn */
    struct conn *stream;
    int reader_fd;
};

static struct zb_state zb;

static void idle_on_input(struct conn *c, void *arg)
{
    (void)arg;
    struct buf *in = conn_input(c);
    char *nl = memchr(in->data, '\n', in->len);
    if (!nl)
        return;
    buf_consume(in, (size_t)(nl - in->data) + 1);
    conn_puts(c, "a OK NOOP completed\r\n");
}

static void nop_drain(struct conn *c, void *arg)
{
    (void)c;
    (void)arg;
}

static void nop_close(struct conn *c, void *arg)
{
    (void)c;
    (void)arg;
}

static const struct conn_callbacks idle_cb = {idle_on_input, nop_drain, nop_close};

static void client_read(struct event_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
    if (n > 0) {
        ev_fd_del(loop, fd);
        if (--zb.want == 0)
            event_loop_stop(loop);
    }
}

/* The compressed form of "a NOOP\r\n" as a fresh client stream sends it. */
static size_t compressed_noop(unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    static const char cmd[] = "a NOOP\r\n";
    z.next_in = (Bytef *)(uintptr_t)cmd;
    z.avail_in = sizeof(cmd) - 1;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_SYNC_FLUSH);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return n;
}

static void stop_cb(struct event_loop *loop, void *arg)
{
    (void)arg;
    event_loop_stop(loop);
}

static void idle_memory(int nconn, bool compress, double *heap_per, double *conn_per)
{
    struct conn **conns = xcalloc((size_t)nconn, sizeof(*conns));
    int *cfd = xcalloc((size_t)nconn, sizeof(*cfd));
    unsigned char znoop[64];
    size_t zlen = compressed_noop(znoop, sizeof(znoop));
    malloc_trim(0);
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < nconn; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            perror("socketpair");
            exit(1);
        }
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        conns[i] = conn_new(zb.loop, sv[0], NULL, 0, NULL, &idle_cb, NULL);
        if (compress)
            conn_compress_start(conns[i]);
        cfd[i] = sv[1];
        if (compress)
            (void)!write(sv[1], znoop, zlen);
        else
            (void)!write(sv[1], "a NOOP\r\n", 8);
        ev_fd_add(zb.loop, sv[1], EV_READ, client_read, NULL);
    }
    zb.want = (size_t)nconn;
    event_loop_run(zb.loop);
    struct mallinfo2 after = mallinfo2();
    size_t cm = 0;
    for (int i = 0; i < nconn; i++)
        cm += conn_memory(conns[i]);
    *heap_per = ((double)after.uordblks - (double)before.uordblks) / nconn;
    *conn_per = (double)cm / nconn;
    for (int i = 0; i < nconn; i++) {
        conn_abort(conns[i]);
        close(cfd[i]);
    }
    /* let the deferred finalizers run */
    zb.want = 0;
    for (int k = 0; k < 2; k++) {
        uint64_t t = ev_timer_add(zb.loop, 1, stop_cb, NULL);
        (void)t;
        event_loop_run(zb.loop);
    }
    free(conns);
    free(cfd);
}

/* ---- CPU per MB --------------------------------------------------------- */

static void stream_more(struct conn *c)
{
    while (zb.sent < STREAM_TOTAL && !conn_output_full(c)) {
        size_t off = zb.sent % zb.text.len;
        size_t n = MIN((size_t)PIECE, zb.text.len - off);
        n = MIN(n, STREAM_TOTAL - zb.sent);
        conn_write(c, zb.text.data + off, n);
        zb.sent += n;
    }
    if (zb.sent < STREAM_TOTAL)
        conn_want_drain(c);
}

static void stream_drain(struct conn *c, void *arg)
{
    (void)arg;
    stream_more(c);
}

static void stream_input(struct conn *c, void *arg)
{
    (void)arg;
    buf_consume(conn_input(c), conn_input(c)->len);
}

static const struct conn_callbacks stream_cb = {stream_input, stream_drain, nop_close};

static void reader_read(struct event_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    static char tmp[256 * 1024];
    for (;;) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n <= 0)
            break;
        zb.wire += (size_t)n;
    }
    zb.peak_mem = MAX(zb.peak_mem, conn_memory(zb.stream));
    if (zb.sent >= STREAM_TOTAL && conn_output_pending(zb.stream) == 0)
        event_loop_stop(loop);
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static double stream_cpu(bool compress, size_t *wire)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        exit(1);
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    zb.sent = zb.wire = zb.peak_mem = 0;
    double t0 = cpu_now();
    zb.stream = conn_new(zb.loop, sv[0], NULL, 0, NULL, &stream_cb, NULL);
    if (compress)
        conn_compress_start(zb.stream);
    ev_fd_add(zb.loop, sv[1], EV_READ, reader_read, NULL);
    stream_more(zb.stream);
    event_loop_run(zb.loop);
    double cpu = cpu_now() - t0;
    *wire = zb.wire;
    ev_fd_del(zb.loop, sv[1]);
    conn_abort(zb.stream);
    close(sv[1]);
    uint64_t t = ev_timer_add(zb.loop, 1, stop_cb, NULL);
    (void)t;
    event_loop_run(zb.loop);
    return cpu;
}

static void load_text(void)
{
    DIR *d = opendir("tests/corpus");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof(path), "tests/corpus/%s", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        char tmp[65536];
        ssize_t n;
        while ((n = read(fd, tmp, sizeof(tmp))) > 0)
            buf_append(&zb.text, tmp, (size_t)n);
        close(fd);
    }
    if (d)
        closedir(d);
    if (zb.text.len < 4096) {
        /* no corpus here: synthetic mail-like text */
        uint64_t rng = 42;
        for (int i = 0; zb.text.len < 1024 * 1024; i++)
            buf_printf(&zb.text, "* %d FETCH (UID %d FLAGS (\\Seen) BODY[HEADER.FIELDS (SUBJECT)] {40}\r\n"
                                 "Subject: report %016llx\r\n\r\n)\r\n",
                       i + 1, i + 1000, (unsigned long long)bench_rng_next(&rng));
    }
}

int bench_mode_compress(void)
{
    zb.loop = event_loop_new();
    int n = bench_opts.clients > 0 ? bench_opts.clients : 1000;
    double heap_plain, conn_plain, heap_z, conn_z;
    idle_memory(n, false, &heap_plain, &conn_plain); /* warm-up of the loop's own arrays */
    idle_memory(n, false, &heap_plain, &conn_plain);
    idle_memory(n, true, &heap_z, &conn_z);
    printf("idle connection, %d connections: heap %.0f B/conn plain, %.0f B/conn compressed "
           "(conn_memory %.0f / %.0f B)\n",
           n, heap_plain, heap_z, conn_plain, conn_z);
    load_text();
    size_t wire_plain, wire_z;
    double cpu_plain = stream_cpu(false, &wire_plain);
    size_t peak_plain = zb.peak_mem;
    double cpu_z = stream_cpu(true, &wire_z);
    size_t peak_z = zb.peak_mem;
    double mb = (double)STREAM_TOTAL / (1024.0 * 1024.0);
    printf("stream of %.0f MiB (%zu bytes of text repeated, deflate level %d, window %d bytes, memLevel %d): "
           "CPU %.3f s plain, %.3f s compressed: %.2f ms per MiB for compression; "
           "%.1f%% of the bytes on the wire\n",
           mb, zb.text.len, CONN_DEFLATE_LEVEL, 1 << CONN_DEFLATE_WBITS, CONN_DEFLATE_MEMLEVEL, cpu_plain, cpu_z,
           (cpu_z - cpu_plain) * 1000.0 / mb, 100.0 * (double)wire_z / (double)wire_plain);
    printf("while streaming: conn_memory peaks at %zu B plain, %zu B compressed (output queue included)\n",
           peak_plain, peak_z);
    buf_free(&zb.text);
    event_loop_free(zb.loop);
    return 0;
}
