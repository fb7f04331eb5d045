/* lmtp.c - dariusbench lmtp mode: LMTP delivery throughput.
 *
 *   dariusbench lmtp -p LMTPPORT -c CONNS -n MSGS -R RCPTS -s BYTES
 *
 * CONNS threads, each with one LMTP connection, each delivering MSGS
 * messages of about BYTES bytes to RCPTS recipients (users from -u/-U,
 * rotating). Each transaction is pipelined as an MTA would (RFC 2920):
 * MAIL, every RCPT and DATA in one write, then the message, then one reply
 * per recipient. A message counts when every recipient answered 250, i.e.
 * every copy is on disk (fsync is always on). Reports messages/s,
 * deliveries/s (messages x recipients) and per-message latency.
 */
#include "bench.h"
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

struct lworker {
    pthread_t th;
    int idx;
    long done;          /* messages fully delivered */
    long errors;        /* non-250 replies or protocol trouble */
    uint32_t *lat;      /* microseconds per message */
    size_t nlat;
};

static int lconnect(void)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", bench_opts.port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(bench_opts.host, port, &hints, &res) != 0 || !res)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct timeval tv = {.tv_sec = bench_opts.timeout};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read one complete reply (multi-line aware); returns its code or -1. */
static int read_reply(int fd, struct buf *in)
{
    for (;;) {
        /* a complete final line "ddd " + ... + LF at the start of in? */
        size_t pos = 0;
        while (pos < in->len) {
            char *nl = memchr(in->data + pos, '\n', in->len - pos);
            if (!nl)
                break;
            size_t end = (size_t)(nl - in->data) + 1;
            if (end - pos >= 4 && in->data[pos + 3] != '-') {
                int code = atoi(in->data + pos);
                buf_consume(in, end);
                return code;
            }
            pos = end;
        }
        char b[4096];
        ssize_t n = recv(fd, b, sizeof(b), 0);
        if (n <= 0)
            return -1;
        buf_append(in, b, (size_t)n);
    }
}

static void *lworker_run(void *arg)
{
    struct lworker *w = arg;
    struct buf in = BUF_INIT, out = BUF_INIT, msg = BUF_INIT;
    uint64_t rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(w->idx + 1) * 0x1000193ULL;
    w->lat = xcalloc((size_t)bench_opts.count, sizeof(uint32_t));
    int fd = lconnect();
    if (fd < 0 || read_reply(fd, &in) != 220) {
        w->errors++;
        goto out;
    }
    if (!send_all(fd, "LHLO bench.example\r\n", 20) || read_reply(fd, &in) != 250) {
        w->errors++;
        goto out;
    }
    for (long i = 0; i < bench_opts.count; i++) {
        double t0 = bench_now_sec();
        bench_make_message(&msg, bench_opts.msgsize, (unsigned long)w->idx * 100000000UL + (unsigned long)i, &rng);
        buf_reset(&out);
        buf_puts(&out, "MAIL FROM:<sender@bench.example>\r\n");
        for (int r = 0; r < bench_opts.rcpts; r++) {
            char user[128];
            bench_user_name(w->idx * bench_opts.rcpts + r, user, sizeof(user));
            buf_printf(&out, "RCPT TO:<%s@bench.example>\r\n", user);
        }
        buf_puts(&out, "DATA\r\n");
        if (!send_all(fd, out.data, out.len)) {
            w->errors++;
            break;
        }
        bool ok = read_reply(fd, &in) == 250;
        for (int r = 0; r < bench_opts.rcpts; r++)
            ok = (read_reply(fd, &in) == 250) && ok;
        if (read_reply(fd, &in) != 354) {
            w->errors++;
            break;
        }
        /* generated messages have no line starting with '.' */
        buf_reset(&out);
        buf_append(&out, msg.data, msg.len);
        buf_puts(&out, ".\r\n");
        if (!send_all(fd, out.data, out.len)) {
            w->errors++;
            break;
        }
        for (int r = 0; r < bench_opts.rcpts; r++) {
            int code = read_reply(fd, &in);
            if (code < 0) {
                ok = false;
                w->errors++;
                goto out;
            }
            ok = code == 250 && ok;
        }
        if (!ok) {
            w->errors++;
            continue;
        }
        w->lat[w->nlat++] = (uint32_t)MIN((bench_now_sec() - t0) * 1e6, 4e9);
        w->done++;
    }
    send_all(fd, "QUIT\r\n", 6);
out:
    if (fd >= 0)
        close(fd);
    buf_free(&in);
    buf_free(&out);
    buf_free(&msg);
    return NULL;
}

int bench_mode_lmtp(void)
{
    int n = bench_opts.clients;
    struct lworker *ws = xcalloc((size_t)n, sizeof(*ws));
    double t0 = bench_now_sec();
    for (int i = 0; i < n; i++) {
        ws[i].idx = i;
        if (pthread_create(&ws[i].th, NULL, lworker_run, &ws[i]) != 0) {
            fprintf(stderr, "dariusbench: pthread_create failed\n");
            return 1;
        }
    }
    long done = 0, errors = 0;
    size_t nlat = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].th, NULL);
        done += ws[i].done;
        errors += ws[i].errors;
        nlat += ws[i].nlat;
    }
    double elapsed = bench_now_sec() - t0;
    uint32_t *all = xcalloc(nlat ? nlat : 1, sizeof(uint32_t));
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(all + k, ws[i].lat, ws[i].nlat * sizeof(uint32_t));
        k += ws[i].nlat;
        free(ws[i].lat);
    }
    qsort(all, nlat, sizeof(uint32_t), bench_cmp_u32);
    double mps = elapsed > 0 ? (double)done / elapsed : 0;
    double dps = mps * bench_opts.rcpts;
    double p50 = bench_percentile_ms(all, nlat, 50), p99 = bench_percentile_ms(all, nlat, 99);
    if (!bench_opts.quiet) {
        printf("%-12s %8s %8s %10s %12s %9s %9s %7s\n", "mode", "conns", "rcpts", "messages", "deliveries/s",
               "p50 ms", "p99 ms", "errors");
        printf("%-12s %8d %8d %10ld %12.1f %9.2f %9.2f %7ld\n", "lmtp", n, bench_opts.rcpts, done, dps, p50, p99,
               errors);
    }
    printf("RESULT mode=lmtp conns=%d rcpts=%d messages=%ld msgs_per_s=%.1f deliveries_per_s=%.1f p50=%.2f "
           "p99=%.2f errors=%ld elapsed_s=%.2f\n",
           n, bench_opts.rcpts, done, mps, dps, p50, p99, errors, elapsed);
    free(all);
    free(ws);
    return errors ? 2 : 0;
}
