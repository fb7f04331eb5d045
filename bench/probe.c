/* probe.c - the NOOP probe of the login and searchload modes.
 *
 * One IMAP session of a user the load does not touch, with INBOX selected,
 * sends NOOP every 20 ms from its own thread while the load runs, and
 * records the latency of every single NOOP: the CLOCK_MONOTONIC time just
 * before the command is written to the socket to the time just after the
 * read that brought its tagged OK. The percentiles are computed from all
 * samples (nothing is bucketed or sampled). This is what a user with a
 * mail client open sees while other users log in or search: with an
 * event loop that never blocks, it stays well under a millisecond.
 *
 * The probe is a blocking socket in a thread of its own, so the load
 * generator's event loop (which may be busy parsing a 20 MB SEARCH or a
 * large FETCH) never delays reading a NOOP answer. One command at a time:
 * when an answer takes longer than the interval, the next NOOP is sent as
 * soon as it arrives, so a server stall of 700 ms yields one 700 ms
 * sample, not 35 (the same as a real client, which does not pipeline).
 */
#include "bench.h"
#include <errno.h>
#include <pthread.h>
#include <time.h>

#define PROBE_PLACE_TRIES 10

struct probe {
    struct bconn c;
    char user[256];
    pthread_t th;
    bool running;
    int stop;                 /* set by probe_finish (atomic) */
    double interval;
    uint32_t *lat;            /* microseconds, one per NOOP answered OK */
    size_t n, cap;
    unsigned long no, bad, failed;
    char err[160];
    pid_t server_pid;
    bool connected;
    const int *go;            /* probe_start: wait for *go, then connect */
    int *started;             /* set once connected (or failed to) */
    bool (*placed)(pid_t);    /* is the session where it should be? */
    int tries;                /* connections made to get there */
};

struct probe *probe_new(const char *user, double interval)
{
    struct probe *p = xcalloc(1, sizeof *p);
    snprintf(p->user, sizeof p->user, "%s", user);
    p->interval = interval;
    bconn_init(&p->c, 0);
    p->server_pid = -1;
    return p;
}

bool probe_connect(struct probe *p)
{
    if (!bsync_login_select(&p->c, p->user, "INBOX")) {
        snprintf(p->err, sizeof p->err, "cannot log in and select INBOX");
        p->failed++;
        return false;
    }
    p->connected = true;
    p->server_pid = bench_peer_pid(p->c.fd);
    return true;
}

static void sleep_until(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* One NOOP; false when the connection is unusable. */
static bool probe_noop(struct probe *p)
{
    struct bconn *c = &p->c;
    /* bconn_cmd queues "Pn NOOP"; the clock starts right before the write. */
    bconn_cmd(c, OP_NOOP, "NOOP");
    double t0 = bench_now_sec();
    c->t_start = t0;
    if (bconn_flush(c) < 0 || c->out.len > 0) {
        snprintf(p->err, sizeof p->err, "cannot write NOOP");
        return false;
    }
    double t1 = t0;
    while (c->busy) {
        bool tagged, cont;
        if (bconn_read(c, &tagged, &cont) < 0) {
            snprintf(p->err, sizeof p->err, "connection lost waiting for NOOP");
            return false;
        }
        t1 = bench_now_sec();
        /* recv() wakes up every -t seconds (SO_RCVTIMEO) to get here. */
        if (c->busy && bench_opts.timeout > 0 && t1 - t0 > bench_opts.timeout) {
            snprintf(p->err, sizeof p->err, "no answer to NOOP within %d s", bench_opts.timeout);
            return false;
        }
    }
    if (c->status == ST_OK) {
        ARRAY_GROW(p->lat, p->n, p->cap);
        double us = (t1 - t0) * 1e6;
        p->lat[p->n++] = (uint32_t)MIN(us, 4e9);
    } else if (c->status == ST_NO) {
        p->no++;
    } else {
        p->bad++;
    }
    return true;
}

static void *probe_main(void *arg)
{
    struct probe *p = arg;
    if (p->go) {
        /* Poll for the load to be running (a 5 ms poll interval, not a
         * sleep used as synchronisation), then log in. */
        while (!__atomic_load_n(p->go, __ATOMIC_ACQUIRE)) {
            if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
                return NULL;
            sleep_until(bench_now_sec() + 0.005);
        }
        bool ok = probe_connect(p);
        p->tries = 1;
        /* A probe on a worker that serves none of the load measures
         * nothing: connect again (a few times at most) until it shares a
         * worker with some of the load. */
        while (ok && p->placed && !p->placed(p->server_pid) && p->tries < PROBE_PLACE_TRIES &&
               !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
            (void)bsync_cmd(&p->c, NULL, OP_LOGOUT, "LOGOUT");
            bconn_close(&p->c);
            p->connected = false;
            ok = probe_connect(p);
            p->tries++;
        }
        if (p->started)
            __atomic_store_n(p->started, 1, __ATOMIC_RELEASE);
        if (!ok)
            return NULL;
    }
    double next = bench_now_sec();
    while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
        sleep_until(next);
        if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
            break;
        double sent = bench_now_sec();
        if (!probe_noop(p)) {
            p->failed++;
            break;
        }
        next = sent + p->interval;
        double now = bench_now_sec();
        if (next < now)
            next = now;
    }
    return NULL;
}

void probe_start(struct probe *p, const int *go, int *started, bool (*placed)(pid_t))
{
    p->go = go;
    p->placed = placed;
    p->started = started;
    if (pthread_create(&p->th, NULL, probe_main, p) != 0) {
        perror("dariusbench: pthread_create");
        exit(1);
    }
    p->running = true;
}

unsigned long probe_finish(struct probe *p, struct buf *res, pid_t *server_pid)
{
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    if (p->running)
        pthread_join(p->th, NULL);
    if (p->connected && !p->failed)
        (void)bsync_cmd(&p->c, NULL, OP_LOGOUT, "LOGOUT");
    if (p->n > 1)
        qsort(p->lat, p->n, sizeof *p->lat, bench_cmp_u32);
    double p50 = bench_percentile_ms(p->lat, p->n, 50);
    double p90 = bench_percentile_ms(p->lat, p->n, 90);
    double p99 = bench_percentile_ms(p->lat, p->n, 99);
    double mx = bench_percentile_ms(p->lat, p->n, 100);
    double sum = 0;
    for (size_t i = 0; i < p->n; i++)
        sum += p->lat[i];
    unsigned long errors = p->no + p->bad + p->failed;
    printf("noop probe (%s, every %.0f ms): %zu NOOPs, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, "
           "max %.2f ms, mean %.2f ms, errors %lu%s%s\n",
           p->user, p->interval * 1e3, p->n, p50, p90, p99, mx,
           p->n ? sum / (double)p->n / 1e3 : 0.0, errors, p->err[0] ? ": " : "", p->err);
    if (p->tries > 1)
        printf("noop probe: connected %d times to share a server process with the load%s\n", p->tries,
               p->placed && p->connected && !p->placed(p->server_pid) ? " (in vain)" : "");
    buf_printf(res, " noop_n=%zu noop_p50=%.2f noop_p90=%.2f noop_p99=%.2f noop_max=%.2f noop_errors=%lu",
               p->n, p50, p90, p99, mx, errors);
    if (server_pid)
        *server_pid = p->server_pid;
    bconn_free(&p->c);
    free(p->lat);
    free(p);
    return errors;
}
