/* big.c - bigmailbox mode (one huge mailbox, sequential commands) and the
 * "does the server still answer" check.
 *
 * The fill doubles the mailbox with UID COPY 1:* (Darius shares message
 * files on COPY, so a million messages costs metadata only), then tops up
 * with a COPY of a sequence range to land on exactly N.
 */
#include "bench.h"

static bool login_select(struct bconn *c, const char *user)
{
    return bsync_login_select(c, user, "INBOX");
}

/* Current message count: NOOP lets the server report EXISTS. */
static bool refresh_exists(struct bconn *c)
{
    return bsync_cmd(c, NULL, OP_NOOP, "NOOP") == ST_OK;
}

static bool fill(struct bconn *c, unsigned long n)
{
    double t0 = bench_now_sec();
    if (c->exists == 0) {
        struct buf msg = BUF_INIT;
        uint64_t rng = 42;
        bench_make_message(&msg, 2048, 1, &rng);
        enum cstatus st = bsync_append(c, &msg);
        buf_free(&msg);
        if (st != ST_OK) {
            fprintf(stderr, "dariusbench: APPEND failed: %s\n", c->status_text);
            return false;
        }
        if (!refresh_exists(c))
            return false;
    }
    while (c->exists < n) {
        unsigned long have = c->exists;
        double secs;
        enum cstatus st;
        if (have * 2 <= n)
            st = bsync_cmd(c, &secs, OP_COPY, "UID COPY 1:* INBOX");
        else
            st = bsync_cmd(c, &secs, OP_COPY, "COPY 1:%lu INBOX", n - have);
        if (st != ST_OK) {
            fprintf(stderr, "dariusbench: COPY failed at %lu messages: %s\n", have, c->status_text);
            return false;
        }
        if (!refresh_exists(c))
            return false;
        if (!bench_opts.quiet)
            printf("  fill: %lu -> %lu messages (copy %.2f s)\n", have, c->exists, secs);
        fflush(stdout);
        if (c->exists <= have) {
            fprintf(stderr, "dariusbench: COPY did not grow the mailbox (%lu)\n", have);
            return false;
        }
    }
    printf("bigmailbox: filled to %lu messages in %.1f s\n", c->exists, bench_now_sec() - t0);
    return true;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_mode_bigmailbox(void)
{
    char user[256];
    bench_user_name(0, user, sizeof user);
    unsigned long n = bench_opts.count > 0 ? (unsigned long)bench_opts.count : 1000000ul;
    int runs = bench_opts.runs > 0 ? bench_opts.runs : 5;
    struct bconn c;
    bconn_init(&c, 0);
    printf("bigmailbox: user %s, target %lu messages, %d timing runs, %s:%d\n", user, n, runs,
           bench_opts.host, bench_opts.port);
    fflush(stdout);
    int rc = 1;
    double *sel = xcalloc((size_t)runs, sizeof *sel);
    double *fet = xcalloc((size_t)runs, sizeof *fet);
    unsigned long lines = 0, exists = 0;
    bool count_ok = true;
    if (!login_select(&c, user))
        goto out;
    if (c.exists >= n)
        printf("bigmailbox: mailbox already has %lu messages, skipping the fill\n", c.exists);
    else if (!fill(&c, n))
        goto out;
    for (int r = 0; r < runs; r++) {
        c.exists = 0;
        if (bsync_cmd(&c, &sel[r], OP_SELECT, "SELECT INBOX") != ST_OK) {
            fprintf(stderr, "dariusbench: SELECT failed: %s\n", c.status_text);
            goto out;
        }
        exists = c.exists;
        c.fetch_lines = 0;
        if (bsync_cmd(&c, &fet[r], OP_FETCH_FLAGS, "UID FETCH 1:* (FLAGS)") != ST_OK) {
            fprintf(stderr, "dariusbench: UID FETCH failed: %s\n", c.status_text);
            goto out;
        }
        lines = c.fetch_lines;
        if (lines != exists)
            count_ok = false;
        printf("  run %d: SELECT %.2f ms (EXISTS %lu), UID FETCH 1:* (FLAGS) %.2f ms (%lu lines)\n",
               r + 1, sel[r] * 1e3, exists, fet[r] * 1e3, lines);
        fflush(stdout);
    }
    bsync_cmd(&c, NULL, OP_LOGOUT, "LOGOUT");
    double smin = sel[0], fmin = fet[0];
    for (int r = 1; r < runs; r++) {
        smin = MIN(smin, sel[r]);
        fmin = MIN(fmin, fet[r]);
    }
    double smed = median(sel, runs), fmed = median(fet, runs);
    printf("%-28s %10s %10s\n", "operation (wall clock)", "min ms", "median ms");
    printf("%-28s %10.2f %10.2f\n", "SELECT INBOX", smin * 1e3, smed * 1e3);
    printf("%-28s %10.2f %10.2f\n", "UID FETCH 1:* (FLAGS)", fmin * 1e3, fmed * 1e3);
    if (!count_ok || exists < n)
        printf("bigmailbox: WARNING: EXISTS %lu, FETCH lines %lu, expected %lu\n", exists, lines, n);
    printf("RESULT mode=bigmailbox messages=%lu fetch_lines=%lu select_min_ms=%.2f "
           "select_median_ms=%.2f fetch_min_ms=%.2f fetch_median_ms=%.2f count_ok=%s\n",
           exists, lines, smin * 1e3, smed * 1e3, fmin * 1e3, fmed * 1e3,
           (count_ok && exists >= n) ? "yes" : "no");
    rc = (count_ok && exists >= n) ? 0 : 2;
out:
    if (rc == 1)
        printf("RESULT mode=bigmailbox failed=yes\n");
    free(sel);
    free(fet);
    bconn_free(&c);
    return rc;
}

int bench_verify_server(void)
{
    struct bconn c;
    bconn_init(&c, 0);
    int rc = 1;
    char user[256];
    bench_user_name(0, user, sizeof user);
    if (login_select(&c, user) && bsync_cmd(&c, NULL, OP_NOOP, "NOOP") == ST_OK) {
        bsync_cmd(&c, NULL, OP_LOGOUT, "LOGOUT");
        rc = 0;
    }
    bconn_free(&c);
    return rc;
}
