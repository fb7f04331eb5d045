/* notify.c - notify mode: NOTIFY fan-out (RFC 5465) to many sessions of
 * one user.
 *
 * -c sessions of the user log in, SELECT INBOX and ask for
 * "NOTIFY SET (SELECTED (MessageNew (UID) MessageExpunge))", then sit
 * without sending anything (NOTIFY makes the server send the news on its
 * own, outside IDLE). Another session of the user then APPENDs a message
 * -r times; each time the mode waits until every session has seen the new
 * "* N EXISTS" and records two figures: from the APPEND being sent to the
 * last session's EXISTS, and from the APPEND's tagged OK (the commit) to
 * the last session's EXISTS, which is the fan-out itself. Issue 12 asks
 * for 1,000 sessions within 100 ms of a delivery.
 */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

/* Read what is there on session i (non-blocking) and tell whether a line
 * "* <want> EXISTS" has arrived. The tail of the previous read is kept so
 * that a line split over two reads is still found. */
struct watcher {
    char tail[64];
    size_t tlen;
    bool seen;
};

static bool watch_read(int fd, struct watcher *w, const char *needle)
{
    char buf[8192 + sizeof(w->tail)];
    for (;;) {
        memcpy(buf, w->tail, w->tlen);
        ssize_t r = recv(fd, buf + w->tlen, 8192, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (r <= 0)
            return false;
        size_t len = w->tlen + (size_t)r;
        if (memmem(buf, len, needle, strlen(needle)))
            w->seen = true;
        w->tlen = MIN(len, sizeof(w->tail) - 1);
        memmove(w->tail, buf + len - w->tlen, w->tlen);
    }
}

int bench_mode_notify(void)
{
    char user[256];
    bench_user_name(0, user, sizeof user);
    int n = bench_opts.clients > 0 ? bench_opts.clients : 1000;
    int runs = bench_opts.runs > 0 ? bench_opts.runs : 5;
    printf("notify: user %s, %d NOTIFY sessions, %d deliveries by APPEND, %s:%d\n", user, n, runs,
           bench_opts.host, bench_opts.port);
    fflush(stdout);
    struct bconn *c = xcalloc((size_t)n + 1, sizeof(*c));
    struct watcher *w = xcalloc((size_t)n, sizeof(*w));
    struct pollfd *pf = xcalloc((size_t)n, sizeof(*pf));
    double *sent = xcalloc((size_t)runs, sizeof(double)), *fan = xcalloc((size_t)runs, sizeof(double));
    struct buf msg = BUF_INIT, res = BUF_INIT;
    uint64_t rng = 99;
    int rc = 1, opened = 0;
    struct bconn *app = &c[n];
    bconn_init(app, n);
    if (!bsync_login_select(app, user, "INBOX"))
        goto out;
    double t0 = bench_now_sec();
    for (int i = 0; i < n; i++, opened++) {
        bconn_init(&c[i], i);
        if (!bsync_login_select(&c[i], user, "INBOX"))
            goto out;
        if (bsync_cmd(&c[i], NULL, OP_NOOP, "NOTIFY SET (SELECTED (MessageNew (UID) MessageExpunge))") != ST_OK) {
            fprintf(stderr, "dariusbench: NOTIFY SET failed: %s\n", c[i].status_text);
            goto out;
        }
    }
    printf("notify: %d sessions set up in %.1f s\n", n, bench_now_sec() - t0);
    unsigned long count = app->exists;
    for (int r = 0; r < runs; r++) {
        unsigned long want = ++count;
        char needle[48];
        snprintf(needle, sizeof needle, "* %lu EXISTS\r\n", want);
        for (int i = 0; i < n; i++) {
            w[i] = (struct watcher){0};
            /* whatever the last run left unread (its own EXISTS) */
            if (!watch_read(c[i].fd, &w[i], "\r\n\r\n")) {
                fprintf(stderr, "dariusbench: session %d closed\n", i);
                goto out;
            }
            w[i] = (struct watcher){0};
        }
        bench_make_message(&msg, 2048, (unsigned long)r, &rng);
        double ts = bench_now_sec();
        if (bsync_append(app, &msg) != ST_OK) {
            fprintf(stderr, "dariusbench: APPEND failed: %s\n", app->status_text);
            goto out;
        }
        double tok = bench_now_sec();
        int left = n;
        double deadline = ts + bench_opts.timeout;
        while (left > 0) {
            int np = 0;
            for (int i = 0; i < n; i++)
                if (!w[i].seen)
                    pf[np++] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
            double now = bench_now_sec();
            if (now > deadline) {
                fprintf(stderr, "dariusbench: %d sessions never saw %s", left, needle);
                goto out;
            }
            if (poll(pf, (nfds_t)np, (int)((deadline - now) * 1000) + 1) < 0 && errno != EINTR)
                goto out;
            for (int i = 0; i < n; i++) {
                if (w[i].seen)
                    continue;
                if (!watch_read(c[i].fd, &w[i], needle)) {
                    fprintf(stderr, "dariusbench: session %d closed\n", i);
                    goto out;
                }
                if (w[i].seen)
                    left--;
            }
        }
        double tl = bench_now_sec();
        sent[r] = tl - ts;
        fan[r] = tl - tok;
        printf("run %d: APPEND OK after %.1f ms, last of %d sessions notified %.1f ms after the OK\n", r + 1,
               (tok - ts) * 1e3, n, fan[r] * 1e3);
        fflush(stdout);
    }
    qsort(sent, (size_t)runs, sizeof(double), bench_cmp_double);
    qsort(fan, (size_t)runs, sizeof(double), bench_cmp_double);
    buf_printf(&res, "RESULT mode=notify sessions=%d runs=%d fanout_median_ms=%.1f fanout_max_ms=%.1f "
               "append_to_last_median_ms=%.1f append_to_last_max_ms=%.1f",
               n, runs, fan[runs / 2] * 1e3, fan[runs - 1] * 1e3, sent[runs / 2] * 1e3, sent[runs - 1] * 1e3);
    printf("%s\n", buf_cstr(&res));
    rc = 0;
out:
    if (rc)
        printf("RESULT mode=notify failed=yes\n");
    for (int i = 0; i < opened; i++)
        bconn_free(&c[i]);
    bconn_free(app);
    buf_free(&msg);
    buf_free(&res);
    free(c);
    free(w);
    free(pf);
    free(sent);
    free(fan);
    return rc;
}
