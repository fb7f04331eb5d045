/* storm.c - the login, searchload and imapmix modes: set-up, the load
 * phase (bench_run_timed, scripts in loop.c) and their reports.
 *
 *   login       -c clients (8) loop connect, LOGIN, LOGOUT for -d seconds
 *               (each login a new TCP connection) while the NOOP probe
 *               (probe.c, user -N) measures how long another user's
 *               selected session waits: logins/s and NOOP p50/p99/max.
 *   searchload  fill the INBOX of user -u to -n messages (400) of about -s
 *               bytes (50 KB) of realistic text (corpus.c), time -r single
 *               `SEARCH BODY <word>` runs alone, then -c clients (4) loop
 *               SEARCH BODY for -d seconds while the NOOP probe runs:
 *               searches/s, single-search median, NOOP p50/p99/max.
 *   imapmix     -c clients (10) over users -u/-U run the mail-client cycle
 *               of loop.c (imapmix_next) for -d seconds, logging in again
 *               every cycle (about ten commands), or with --persistent
 *               never logging out: tagged commands per second, NO and BAD
 *               answers counted separately.
 */
#include "bench.h"

#define NOOP_INTERVAL 0.020   /* the probe's NOOP period, seconds */

static bool have_probe_user(void)
{
    if (!bench_opts.probe_user)
        fprintf(stderr, "dariusbench: %s needs -N USER (the NOOP probe's user)\n", bench_opts.mode);
    return bench_opts.probe_user != NULL;
}

/* Which server process served each session, from bench_client_pid: the
 * workers accept connections as they come, so with persistent sessions
 * the split is luck, and it decides what a probe shares its worker with.
 * Prints "server processes: pid A 3 sessions, pid B 1 session" and, when
 * probe_pid > 0, how many share the probe's process (returned; -1 if
 * unknown). */
static int placement(const char *mode, pid_t probe_pid)
{
    int n = bench_opts.clients, shared = 0;
    bool known = probe_pid > 0;
    pid_t seen[64];
    int count[64], nseen = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = bench_client_pid[i];
        if (pid <= 0) {
            known = false;
            continue;
        }
        if (pid == probe_pid)
            shared++;
        int k = 0;
        while (k < nseen && seen[k] != pid)
            k++;
        if (k == nseen && nseen < (int)ARRAY_SIZE(seen)) {
            seen[nseen] = pid;
            count[nseen++] = 0;
        }
        if (k < nseen)
            count[k]++;
    }
    printf("%s: sessions per server process:", mode);
    for (int k = 0; k < nseen; k++)
        printf(" pid %d: %d%s", (int)seen[k], count[k], seen[k] == probe_pid ? " (and the probe)" : "");
    if (probe_pid > 0 && shared == 0)
        printf(" (the probe: pid %d)", (int)probe_pid);
    if (nseen == 0)
        printf(" unknown");
    printf("\n");
    return known ? shared : -1;
}

/* ---- login ---- */

int bench_mode_login(void)
{
    printf("login: %d clients (users %s, %d of them) LOGIN/LOGOUT for %.0f s, each login a new "
           "connection; NOOP probe as %s every %.0f ms, %s:%d\n",
           bench_opts.clients, bench_opts.userfmt, MIN(bench_opts.users, bench_opts.clients),
           bench_opts.seconds, bench_opts.probe_user ? bench_opts.probe_user : "?",
           NOOP_INTERVAL * 1e3, bench_opts.host, bench_opts.port);
    fflush(stdout);
    if (!have_probe_user())
        return 1;
    /* The probe logs in first, on an idle server; the storm's connections
     * come and go, so every worker serves some of its logins. */
    struct probe *p = probe_new(bench_opts.probe_user, NOOP_INTERVAL);
    if (!probe_connect(p)) {
        struct buf ignored = BUF_INIT;
        probe_finish(p, &ignored, NULL);
        buf_free(&ignored);
        return 1;
    }
    struct stats st = {0};
    double elapsed;
    probe_start(p, NULL, NULL, NULL);
    bench_run_timed(M_LOGIN, &st, &elapsed);
    struct buf res = BUF_INIT, pres = BUF_INIT;
    unsigned long perr = probe_finish(p, &pres, NULL);
    bstats_report(&st, elapsed, &res);
    size_t logins = st.n[OP_LOGIN];
    /* bstats_report sorted the samples */
    double rate = elapsed > 0 ? (double)logins / elapsed : 0;
    printf("login: %zu logins in %.1f s: %.1f logins/s\n", logins, elapsed, rate);
    unsigned long errs = bstats_errors(&st);
    printf("RESULT mode=login clients=%d seconds=%.1f logins=%zu logins_per_s=%.1f login_p50=%.2f "
           "login_p99=%.2f%s errors=%lu\n",
           bench_opts.clients, elapsed, logins, rate,
           bench_percentile_ms(st.lat[OP_LOGIN], st.n[OP_LOGIN], 50),
           bench_percentile_ms(st.lat[OP_LOGIN], st.n[OP_LOGIN], 99), buf_cstr(&pres), errs + perr);
    buf_free(&res);
    buf_free(&pres);
    bstats_free(&st);
    return logins > 0 ? (errs + perr ? 2 : 0) : 1;
}

/* ---- searchload ---- */

/* The search word is in every tenth message. */
static bool has_word(unsigned long seq)
{
    return seq % 10 == 7;
}

/* Append the generated messages exists+1..n (1-based sequence numbers of
 * the generation, not of the mailbox). */
static bool search_fill(struct bconn *c, unsigned long n)
{
    double t0 = bench_now_sec();
    unsigned long from = c->exists;
    struct buf msg = BUF_INIT;
    unsigned long long bytes = 0;
    bool ok = true;
    for (unsigned long seq = from + 1; seq <= n; seq++) {
        bench_make_text_message(&msg, bench_opts.msgsize, seq, has_word(seq) ? bench_search_word : NULL);
        bytes += msg.len;
        if (bsync_append(c, &msg) != ST_OK) {
            fprintf(stderr, "dariusbench: APPEND of message %lu failed: %s\n", seq, c->status_text);
            ok = false;
            break;
        }
    }
    buf_free(&msg);
    if (ok && n > from)
        printf("searchload: appended %lu messages (%.1f MB) in %.1f s\n", n - from, (double)bytes / 1e6,
               bench_now_sec() - t0);
    return ok;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The probe's placement test: does its server process serve a search
 * session? (The searchers' pids are all stored before bench_load_ready.) */
static bool serves_search_session(pid_t pid)
{
    for (int i = 0; i < bench_opts.clients; i++)
        if (pid > 0 && __atomic_load_n(&bench_client_pid[i], __ATOMIC_RELAXED) == pid)
            return true;
    return false;
}

int bench_mode_searchload(void)
{
    char user[256];
    bench_user_name(0, user, sizeof user);
    unsigned long n = (unsigned long)bench_opts.count;
    int runs = bench_opts.runs > 0 ? bench_opts.runs : 5;
    printf("searchload: user %s, %lu messages of about %zu bytes, SEARCH BODY %s: %d single runs, "
           "then %d clients for %.0f s with a NOOP probe as %s every %.0f ms, %s:%d\n",
           user, n, bench_opts.msgsize, bench_search_word, runs, bench_opts.clients,
           bench_opts.seconds, bench_opts.probe_user ? bench_opts.probe_user : "?",
           NOOP_INTERVAL * 1e3, bench_opts.host, bench_opts.port);
    fflush(stdout);
    if (!have_probe_user())
        return 1;
    struct bconn c;
    bconn_init(&c, 0);
    double *single = xcalloc((size_t)runs, sizeof *single);
    int rc = 1;
    long hits = -1;
    if (!bsync_login_select(&c, user, "INBOX"))
        goto out;
    if (c.exists < n && !search_fill(&c, n))
        goto out;
    if (c.exists < n && bsync_cmd(&c, NULL, OP_NOOP, "NOOP") != ST_OK)
        goto out;
    unsigned long messages = c.exists;
    c.size_sum = 0;
    if (bsync_cmd(&c, NULL, OP_FETCH_FLAGS, "FETCH 1:* (RFC822.SIZE)") != ST_OK) {
        fprintf(stderr, "dariusbench: FETCH RFC822.SIZE failed: %s\n", c.status_text);
        goto out;
    }
    double mbytes = (double)c.size_sum / 1e6;
    printf("searchload: mailbox has %lu messages, %.1f MB\n", messages, mbytes);
    /* A search alone (nothing else running): the cost of one search. */
    for (int r = 0; r < runs; r++) {
        if (bsync_cmd(&c, &single[r], OP_SEARCH, "SEARCH BODY %s", bench_search_word) != ST_OK) {
            fprintf(stderr, "dariusbench: SEARCH failed: %s\n", c.status_text);
            goto out;
        }
        if (r > 0 && c.search_hits != hits)
            fprintf(stderr, "dariusbench: SEARCH found %ld messages, the first run %ld\n",
                    c.search_hits, hits);
        hits = c.search_hits;
        printf("  single SEARCH BODY %s: %.2f ms, %ld hits\n", bench_search_word, single[r] * 1e3, hits);
    }
    (void)bsync_cmd(&c, NULL, OP_LOGOUT, "LOGOUT");
    bconn_close(&c);
    double single_med = median_of(single, runs);
    double single_min = single[0];
    /* Every concurrent search must find what the single ones found. */
    bench_search_expect = hits;

    /* The clients start one after the other, each once the one before is
     * searching; the probe logs in once all are searching. The server
     * hashes each connection to a worker (SO_REUSEPORT; an older server
     * woke the same idle worker for every connection), so the probe may
     * land on a worker without searches, which would measure nothing:
     * then it connects again. The measuring window starts when the probe is
     * logged in (its LOGIN waits behind the searches too). */
    struct probe *p = probe_new(bench_opts.probe_user, NOOP_INTERVAL);
    struct stats st = {0};
    double elapsed;
    pid_t probe_pid = -1;
    bench_client_pid = xcalloc((size_t)bench_opts.clients, sizeof *bench_client_pid);
    probe_start(p, &bench_load_ready, &bench_probe_ready, serves_search_session);
    bench_run_timed(M_SEARCH, &st, &elapsed);
    struct buf res = BUF_INIT, pres = BUF_INIT;
    unsigned long perr = probe_finish(p, &pres, &probe_pid);
    int shared = placement("searchload", probe_pid);
    free(bench_client_pid);
    bench_client_pid = NULL;
    bstats_report(&st, elapsed, &res);
    size_t searches = st.n[OP_SEARCH];
    double rate = elapsed > 0 ? (double)searches / elapsed : 0;
    printf("searchload: %zu searches in %.1f s: %.2f searches/s; alone: median %.2f ms, min %.2f ms\n",
           searches, elapsed, rate, single_med * 1e3, single_min * 1e3);
    unsigned long errs = bstats_errors(&st);
    printf("RESULT mode=searchload clients=%d seconds=%.1f messages=%lu mbytes=%.1f word=%s hits=%ld "
           "single_median_ms=%.2f single_min_ms=%.2f searches=%zu searches_per_s=%.2f search_p50=%.2f "
           "search_p99=%.2f%s probe_shares_worker_with=%d errors=%lu\n",
           bench_opts.clients, elapsed, messages, mbytes, bench_search_word, hits, single_med * 1e3,
           single_min * 1e3, searches, rate,
           bench_percentile_ms(st.lat[OP_SEARCH], st.n[OP_SEARCH], 50),
           bench_percentile_ms(st.lat[OP_SEARCH], st.n[OP_SEARCH], 99), buf_cstr(&pres), shared,
           errs + perr);
    rc = searches > 0 ? (errs + perr ? 2 : 0) : 1;
    buf_free(&res);
    buf_free(&pres);
    bstats_free(&st);
out:
    if (rc == 1)
        printf("RESULT mode=searchload failed=yes\n");
    free(single);
    bconn_free(&c);
    return rc;
}

/* ---- imapmix ---- */

/* Per user: create the COPY target (an existing one is fine) and count the
 * messages of INBOX and of the target, to show the mailboxes stay the
 * size they were. */
static bool imapmix_census(bool create, unsigned long *inbox, unsigned long *copies)
{
    int users = MIN(bench_opts.users, bench_opts.clients);
    bool ok = true;
    for (int u = 0; u < users; u++) {
        char user[256];
        bench_user_name(u, user, sizeof user);
        struct bconn c;
        bconn_init(&c, 0);
        if (!bsync_login_select(&c, user, NULL)) {
            bconn_free(&c);
            return false;
        }
        if (create)
            (void)bsync_cmd(&c, NULL, OP_SELECT, "CREATE Archive"); /* NO [ALREADYEXISTS] is fine */
        c.exists = 0;
        if (bsync_cmd(&c, NULL, OP_SELECT, "EXAMINE Archive") != ST_OK) {
            fprintf(stderr, "dariusbench: EXAMINE Archive as %s failed: %s\n", user, c.status_text);
            ok = false;
        }
        copies[u] = c.exists;
        c.exists = 0;
        if (bsync_cmd(&c, NULL, OP_SELECT, "EXAMINE INBOX") != ST_OK) {
            fprintf(stderr, "dariusbench: EXAMINE INBOX as %s failed: %s\n", user, c.status_text);
            ok = false;
        }
        inbox[u] = c.exists;
        (void)bsync_cmd(&c, NULL, OP_LOGOUT, "LOGOUT");
        bconn_free(&c);
    }
    return ok;
}

static int cmp_ulong(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

static void print_counts(const char *what, const unsigned long *v, int n)
{
    printf("imapmix: %s:", what);
    for (int i = 0; i < n; i++)
        printf(" %lu", v[i]);
    printf("\n");
}

int bench_mode_imapmix(void)
{
    int users = MIN(bench_opts.users, bench_opts.clients);
    printf("imapmix: %d clients, %d users, %.0f s, %s, %s:%d\n", bench_opts.clients, users,
           bench_opts.seconds, bench_opts.persistent ? "persistent sessions" : "a new LOGIN every cycle",
           bench_opts.host, bench_opts.port);
    fflush(stdout);
    unsigned long *in0 = xcalloc((size_t)users, sizeof *in0), *in1 = xcalloc((size_t)users, sizeof *in1);
    unsigned long *cp0 = xcalloc((size_t)users, sizeof *cp0), *cp1 = xcalloc((size_t)users, sizeof *cp1);
    int rc = 1;
    if (!imapmix_census(true, in0, cp0))
        goto out;
    print_counts("INBOX messages per user before", in0, users);
    for (int u = 0; u < users; u++)
        if (in0[u] < 100)
            printf("imapmix: WARNING: user %d has only %lu messages (the range FETCH wants 100)\n", u,
                   in0[u]);
    struct stats st = {0};
    double elapsed;
    bench_client_cmds = xcalloc((size_t)bench_opts.clients, sizeof *bench_client_cmds);
    bench_client_pid = xcalloc((size_t)bench_opts.clients, sizeof *bench_client_pid);
    bench_run_timed(M_IMAPMIX, &st, &elapsed);
    if (bench_opts.persistent)
        (void)placement("imapmix", 0);
    free(bench_client_pid);
    bench_client_pid = NULL;
    struct buf res = BUF_INIT;
    bstats_report(&st, elapsed, &res);
    /* Keep the per-operation keys; ops/ops_per_s/errors of the report count
     * OK answers only and are replaced by the keys below. */
    const char *tail = strstr(buf_cstr(&res), " ops=");
    if (tail)
        buf_truncate(&res, (size_t)(tail - res.data));
    /* Every tagged answer is a command done, OK or not (LOGIN and LOGOUT
     * included; the greeting is not a command). */
    unsigned long ok = 0, no = 0, bad = 0;
    for (int i = 0; i < OP__COUNT; i++) {
        if (i != OP_CONNECT)
            ok += st.n[i];
        no += st.no[i];
        bad += st.bad[i];
    }
    unsigned long cmds = ok + no + bad;
    double rate = elapsed > 0 ? (double)cmds / elapsed : 0;
    unsigned long other = bstats_errors(&st) - no - bad;
    printf("imapmix: %lu tagged commands in %.1f s: %.1f commands/s; %lu OK, %lu NO (%lu of them "
           "[EXPUNGEISSUED]), %lu BAD, %lu other errors (disconnects, timeouts)\n",
           cmds, elapsed, rate, ok, no, st.no_expungeissued, bad, other);
    /* How evenly were the clients served? (A server that stalls some
     * sessions behind others shows a wide spread.) */
    qsort(bench_client_cmds, (size_t)bench_opts.clients, sizeof *bench_client_cmds, cmp_ulong);
    unsigned long cmin = bench_client_cmds[0], cmax = bench_client_cmds[bench_opts.clients - 1];
    unsigned long cmed = bench_client_cmds[bench_opts.clients / 2];
    printf("imapmix: tagged answers per client: min %lu, median %lu, max %lu\n", cmin, cmed, cmax);
    free(bench_client_cmds);
    bench_client_cmds = NULL;
    if (imapmix_census(false, in1, cp1)) {
        print_counts("INBOX messages per user after ", in1, users);
        print_counts("Archive messages per user before", cp0, users);
        print_counts("Archive messages per user after ", cp1, users);
    }
    long growth = 0;
    for (int u = 0; u < users; u++)
        growth += (long)in1[u] - (long)in0[u];
    printf("RESULT mode=imapmix persistent=%s clients=%d users=%d seconds=%.1f commands=%lu "
           "cmds_per_s=%.1f ok=%lu no=%lu no_expungeissued=%lu bad=%lu sessions=%zu "
           "inbox_growth=%ld client_min=%lu client_max=%lu%s errors=%lu\n",
           bench_opts.persistent ? "yes" : "no", bench_opts.clients, users, elapsed, cmds, rate, ok, no,
           st.no_expungeissued, bad, st.n[OP_LOGIN], growth, cmin, cmax, buf_cstr(&res),
           bstats_errors(&st));
    rc = cmds > 0 ? (bstats_errors(&st) ? 2 : 0) : 1;
    buf_free(&res);
    bstats_free(&st);
out:
    if (rc == 1)
        printf("RESULT mode=imapmix failed=yes\n");
    free(in0);
    free(in1);
    free(cp0);
    free(cp1);
    return rc;
}
