/* loop.c - the epoll event loop and the session scripts of the concurrent
 * modes (mix, append, idle, and the load phases of login, searchload and
 * imapmix, whose set-up and reports are in storm.c).
 *
 * Each client runs one command at a time (no pipelining) and its script
 * advances in on_tagged() when the tagged response (or the greeting) of
 * the previous command arrives. Level-triggered epoll; EPOLLOUT is only
 * registered while output is queued or a connect is in progress.
 */
#include "bench.h"
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum step {
    S_GREET, S_LOGIN, S_SELECT, S_FETCHENV, S_BODY, S_STORE1, S_STORE2, S_APPEND, S_DEL,
    S_EXPUNGE, S_LOGOUT, S_IDLE, S_IDLE_DONE, S_SEARCH, S_RANGE, S_SEEN, S_COPY, S_EXPUNGE_ALL
};

unsigned long *bench_client_cmds;
pid_t *bench_client_pid;
int bench_load_ready, bench_probe_ready;
const char *bench_search_word = "kumquat";
long bench_search_expect = -1;

/* imapmix: the 100-message range FETCH of a mail client listing a folder. */
#define IMAPMIX_RANGE 100
#define IMAPMIX_COPY_TO "Archive"

struct worker {
    int tid;
    int epfd;
    enum bmode mode;
    struct bconn **conns;     /* the clients this thread owns */
    int nconns;
    struct stats st;
    double start, deadline;   /* mix: stop issuing at deadline */
    double last_done;         /* append: completion time of the last client */
    int ndone;                /* clients that finished their script */
    int nfailed;              /* idle/append: clients that gave up */
    int nidle;                /* idle: clients in IDLE */
    int next_start;           /* idle: next client to connect (ramp) */
    int setup_inflight;       /* idle: clients between connect and IDLE */
    bool release;             /* idle: send DONE to everyone */
    int nstarted;             /* search: clients started (one after another) */
    bool ready;               /* search: all started */
    bool measuring;           /* search: ... and the probe logged in */
    struct buf msg;           /* scratch message for APPEND */
    unsigned long seq;
    pthread_t th;
};

#define IDLE_RAMP 256         /* concurrent connection set-ups in idle mode */

/* Modes that run for bench_opts.seconds and start a client's next session
 * when one ends (as opposed to append and idle, which run a fixed script). */
static bool timed(const struct worker *w)
{
    return w->mode != M_APPEND && w->mode != M_IDLE;
}

static void ep_update(struct worker *w, struct bconn *c, bool add)
{
    bool want = c->connecting || c->out.len > c->wpos || c->tls_want_write;
    if (!add && want == c->want_write)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(w->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) < 0)
        perror("dariusbench: epoll_ctl");
    c->want_write = want;
}

static void start_client(struct worker *w, struct bconn *c)
{
    c->step = S_GREET;
    c->retry_at = 0;
    if (!bconn_connect(c, false)) {
        w->st.connect_fail++;
        if (timed(w)) {
            c->retry_at = bench_now_sec() + 0.2;
        } else {
            c->done = true;
            w->ndone++;
            w->nfailed++;
        }
        return;
    }
    ep_update(w, c, true);
}

/* The client is finished with the current connection. */
static void end_conn(struct worker *w, struct bconn *c, bool failed)
{
    bconn_close(c); /* close() also removes it from the epoll set */
    if (w->mode == M_IDLE && c->sub) {
        c->sub = 0; /* was still setting up: frees a ramp slot */
        w->setup_inflight--;
    }
    if (c->idling) {
        c->idling = false;
        w->nidle--;
    }
    if (timed(w)) {
        c->sessions++;
        /* Reconnect at once after a clean LOGOUT; back off a little after
         * an error so a dead server does not turn into a busy loop. */
        c->retry_at = bench_now_sec() + (failed ? 0.2 : 0);
        if (!failed && bench_now_sec() < w->deadline)
            start_client(w, c);
        return;
    }
    if (!c->done) {
        c->done = true;
        w->ndone++;
        if (failed)
            w->nfailed++;
        if (w->mode == M_APPEND)
            w->last_done = bench_now_sec();
    }
}

static void do_login(struct bconn *c)
{
    char user[256];
    struct buf b = BUF_INIT;
    bench_user_name(c->idx, user, sizeof user);
    buf_puts(&b, "LOGIN ");
    bench_put_quoted(&b, user);
    buf_putc(&b, ' ');
    bench_put_quoted(&b, bench_opts.password);
    bconn_cmd(c, OP_LOGIN, "%s", buf_cstr(&b));
    buf_free(&b);
    c->step = S_LOGIN;
}

static void do_append(struct worker *w, struct bconn *c, size_t size, bool plus)
{
    bench_make_message(&w->msg, size, ++w->seq + (unsigned long)c->idx * 1000000ul, &c->rng);
    bconn_append(c, size > 16384 ? OP_APPEND_BIG : OP_APPEND, &w->msg,
                 plus && c->caps_literal_plus && bench_opts.literal_plus);
    c->step = S_APPEND;
}

static uint32_t pick_uid(struct bconn *c)
{
    return c->nuids ? c->uids[bench_rng_next(&c->rng) % (uint64_t)c->nuids] : 0;
}

static void do_logout(struct bconn *c)
{
    bconn_cmd(c, OP_LOGOUT, "LOGOUT");
    c->step = S_LOGOUT;
}

/* mix: after APPEND (+ \Deleted), maybe expunge, then log out. */
static void mix_tail(struct bconn *c)
{
    if (c->ndel >= 4 || (c->ndel > 0 && c->sessions % 3 == 0)) {
        struct buf set = BUF_INIT;
        for (int i = 0; i < c->ndel; i++)
            buf_printf(&set, "%s%u", i ? "," : "", c->deluids[i]);
        /* RFC 4315 2.1: UID EXPUNGE removes only the listed messages, so
         * clients sharing a mailbox never expunge each other's \Deleted. */
        bconn_cmd(c, OP_EXPUNGE, "UID EXPUNGE %s", buf_cstr(&set));
        buf_free(&set);
        c->ndel = 0;
        c->step = S_EXPUNGE;
        return;
    }
    do_logout(c);
}

static void mix_next(struct worker *w, struct bconn *c)
{
    switch (c->step) {
    case S_LOGIN:
        bconn_cmd(c, OP_SELECT, "SELECT INBOX");
        c->step = S_SELECT;
        return;
    case S_SELECT:
        if (c->exists > 0) {
            /* A client opening a mailbox fetches the headers of the most
             * recent screenful of messages. */
            unsigned long lo = c->exists > 50 ? c->exists - 49 : 1;
            c->nuids = 0;
            bconn_cmd(c, OP_FETCH_ENV, "FETCH %lu:* (UID FLAGS ENVELOPE)", lo);
            c->step = S_FETCHENV;
            c->sub = 1 + (int)(bench_rng_next(&c->rng) % 3);
            return;
        }
        do_append(w, c, 4096, c->sessions & 1);
        return;
    case S_FETCHENV:
    case S_BODY:
        if (c->sub > 0 && c->nuids > 0) {
            c->sub--;
            bconn_cmd(c, OP_FETCH_BODY, "UID FETCH %u BODY.PEEK[]", pick_uid(c));
            c->step = S_BODY;
            return;
        }
        if (c->nuids > 0) {
            bconn_cmd(c, OP_STORE, "UID STORE %u +FLAGS (\\Seen)", pick_uid(c));
            c->step = S_STORE1;
            return;
        }
        do_append(w, c, 4096, c->sessions & 1);
        return;
    case S_STORE1:
        bconn_cmd(c, OP_STORE, "UID STORE %u -FLAGS (\\Seen)", pick_uid(c));
        c->step = S_STORE2;
        return;
    case S_STORE2: {
        bool big = bench_rng_next(&c->rng) % 10 == 0;
        do_append(w, c, big ? 60 * 1024 : 4096, c->sessions & 1);
        return;
    }
    case S_APPEND:
        if (c->appenduid && c->ndel < (int)ARRAY_SIZE(c->deluids)) {
            c->deluids[c->ndel++] = c->appenduid;
            bconn_cmd(c, OP_STORE, "UID STORE %u +FLAGS (\\Deleted)", c->appenduid);
            c->step = S_DEL;
            return;
        }
        mix_tail(c);
        return;
    case S_DEL:
        mix_tail(c);
        return;
    case S_EXPUNGE:
        do_logout(c);
        return;
    default:
        do_logout(c);
        return;
    }
}

/* searchload: one session per client, SEARCH BODY in a loop. */
static void search_next(struct worker *w, struct bconn *c)
{
    if (c->step == S_LOGIN) {
        bconn_cmd(c, OP_SELECT, "SELECT INBOX");
        c->step = S_SELECT;
        return;
    }
    bool first = c->step == S_SELECT;
    if (first) {
        c->server_pid = bench_peer_pid(c->fd); /* once per session */
        if (bench_client_pid)
            __atomic_store_n(&bench_client_pid[c->idx], c->server_pid, __ATOMIC_RELAXED);
    }
    bconn_cmd(c, OP_SEARCH, "SEARCH BODY %s", bench_search_word);
    c->step = S_SEARCH;
    if (first && !w->ready) {
        if (w->nstarted < w->nconns) {
            /* The next client connects while this one's search keeps
             * its worker busy (see bench_mode_searchload). */
            start_client(w, w->conns[w->nstarted++]);
            return;
        }
        /* Everyone is searching: the probe may log in (run_loop starts
         * the measuring window when it has). */
        w->ready = true;
        __atomic_store_n(&bench_load_ready, 1, __ATOMIC_RELEASE);
    }
}

/* imapmix: a random sequence number among the last IMAPMIX_RANGE messages
 * (the ones the range FETCH listed). */
static unsigned long imapmix_pick(struct bconn *c)
{
    unsigned long lo = c->exists > IMAPMIX_RANGE ? c->exists - IMAPMIX_RANGE + 1 : 1;
    return lo + bench_rng_next(&c->rng) % (c->exists - lo + 1);
}

static void imapmix_range(struct worker *w, struct bconn *c)
{
    if (c->exists == 0) {
        do_append(w, c, 4096, true);
        return;
    }
    unsigned long lo = c->exists > IMAPMIX_RANGE ? c->exists - IMAPMIX_RANGE + 1 : 1;
    bconn_cmd(c, OP_FETCH_RANGE,
              "FETCH %lu:%lu (UID FLAGS ENVELOPE BODYSTRUCTURE "
              "BODY.PEEK[HEADER.FIELDS (From To Subject Date)])",
              lo, c->exists);
    c->step = S_RANGE;
}

/* imapmix: LOGIN, SELECT INBOX, then FETCH of the newest 100 messages,
 * one full body, STORE \Seen, COPY, APPEND, STORE \Deleted, EXPUNGE, and
 * LOGOUT (a new connection and LOGIN follow at once), about ten tagged
 * commands a session. With --persistent the session never logs out: the
 * cycle restarts at the range FETCH.
 *
 * The mailbox neither grows nor shrinks: each cycle appends one message
 * and flags \Deleted the one this client appended in its previous cycle
 * (kept in deluids[0] across sessions), so two clients sharing a mailbox
 * never flag the same message, and every appended message stays visible
 * to the other sessions for a cycle (they may FETCH it while it is being
 * expunged, as real clients do). EXPUNGE removes every \Deleted message of
 * the mailbox, the other client's too: each is removed once either way. */
static void imapmix_next(struct worker *w, struct bconn *c)
{
    switch (c->step) {
    case S_LOGIN:
        bconn_cmd(c, OP_SELECT, "SELECT INBOX");
        c->step = S_SELECT;
        return;
    case S_SELECT:
        if (bench_opts.persistent)
            c->server_pid = bench_peer_pid(c->fd); /* once per session */
        imapmix_range(w, c);
        return;
    case S_RANGE:
        if (c->exists == 0)
            break;
        bconn_cmd(c, OP_FETCH_BODY, "FETCH %lu BODY.PEEK[]", imapmix_pick(c));
        c->step = S_BODY;
        return;
    case S_BODY:
        if (c->exists == 0)
            break;
        bconn_cmd(c, OP_STORE, "STORE %lu +FLAGS (\\Seen)", imapmix_pick(c));
        c->step = S_SEEN;
        return;
    case S_SEEN:
        if (c->exists == 0)
            break;
        bconn_cmd(c, OP_COPY, "COPY %lu " IMAPMIX_COPY_TO, imapmix_pick(c));
        c->step = S_COPY;
        return;
    case S_COPY:
        break;
    case S_APPEND: {
        uint32_t prev = c->ndel > 0 ? c->deluids[0] : 0;
        c->ndel = 0;
        if (c->appenduid) {
            c->deluids[0] = c->appenduid;
            c->ndel = 1;
        }
        if (prev) {
            bconn_cmd(c, OP_STORE, "UID STORE %u +FLAGS (\\Deleted)", prev);
            c->step = S_DEL;
            return;
        }
        bconn_cmd(c, OP_EXPUNGE_ALL, "EXPUNGE");
        c->step = S_EXPUNGE_ALL;
        return;
    }
    case S_DEL:
        bconn_cmd(c, OP_EXPUNGE_ALL, "EXPUNGE");
        c->step = S_EXPUNGE_ALL;
        return;
    case S_EXPUNGE_ALL:
        if (bench_opts.persistent)
            imapmix_range(w, c);
        else
            do_logout(c);
        return;
    default:
        do_logout(c);
        return;
    }
    /* after COPY (or with an empty mailbox): the ~4 KB APPEND */
    do_append(w, c, 4096, true);
}

static void append_next(struct worker *w, struct bconn *c)
{
    if (c->appended < bench_opts.count) {
        c->appended++;
        do_append(w, c, bench_opts.msgsize, true);
        return;
    }
    do_logout(c);
}

static void idle_next(struct worker *w, struct bconn *c)
{
    (void)w;
    switch (c->step) {
    case S_LOGIN:
        bconn_cmd(c, OP_SELECT, "SELECT INBOX");
        c->step = S_SELECT;
        return;
    case S_SELECT:
        bconn_cmd(c, OP_IDLE, "IDLE");
        c->step = S_IDLE;
        return;
    default:
        do_logout(c);
        return;
    }
}

/* Show the first NO/BAD responses: the counts in the table say how many,
 * these say why. Only a few: 10,000 identical lines help nobody. */
static void report_failure(const struct bconn *c)
{
    static unsigned long reported;
    unsigned long k = __atomic_fetch_add(&reported, 1, __ATOMIC_RELAXED);
    if (k < 10)
        fprintf(stderr, "dariusbench: client %d: %s failed: %s\n", c->idx, bench_op_name(c->op),
                c->status_text);
    else if (k == 10)
        fprintf(stderr, "dariusbench: (further NO/BAD responses not shown)\n");
}

static void on_tagged(struct worker *w, struct bconn *c)
{
    double lat = bench_now_sec() - c->t_start;
    enum op op = c->op;
    if (c->status == ST_NO || c->status == ST_BAD)
        report_failure(c);
    if (c->status == ST_OK && op == OP_SEARCH && bench_search_expect >= 0 &&
        c->search_hits != bench_search_expect) {
        /* Every search runs on the same unchanging mailbox: a different
         * number of hits is a wrong answer, not a slow one. */
        static unsigned long shown;
        if (__atomic_fetch_add(&shown, 1, __ATOMIC_RELAXED) < 5)
            fprintf(stderr, "dariusbench: client %d: SEARCH found %ld messages, expected %ld\n",
                    c->idx, c->search_hits, bench_search_expect);
        w->st.search_mismatch++;
    }
    if (c->status == ST_OK) {
        /* The IDLE's tagged OK after DONE measures how long we idled, not
         * the server: its latency was recorded at the "+" (on_cont). */
        if (c->step != S_IDLE_DONE)
            bstats_add(&w->st, op, lat);
    }
    else if (c->status == ST_NO) {
        w->st.no[op]++;
        /* RFC 5530 3: FETCH of messages another session expunged. */
        if (strstr(c->status_text, "[EXPUNGEISSUED]"))
            w->st.no_expungeissued++;
    }
    else if (c->status == ST_BYE) {
        w->st.connect_fail++;
        end_conn(w, c, true);
        return;
    } else
        w->st.bad[op]++;

    if (c->step != S_GREET)
        c->ncmds++;
    if (c->step == S_GREET) {
        do_login(c);
        return;
    }
    if (c->step == S_LOGOUT) {
        end_conn(w, c, false);
        return;
    }
    if (c->status != ST_OK && (c->step == S_LOGIN || c->step == S_SELECT)) {
        /* Without a login or a selected mailbox the script is pointless. */
        end_conn(w, c, true);
        return;
    }
    if (timed(w) && bench_now_sec() >= w->deadline) {
        end_conn(w, c, false);
        return;
    }
    switch (w->mode) {
    case M_MIX:
        mix_next(w, c);
        break;
    case M_LOGIN:
        /* Login storm: every session is LOGIN, LOGOUT, a new connection. */
        do_logout(c);
        break;
    case M_SEARCH:
        search_next(w, c);
        break;
    case M_IMAPMIX:
        imapmix_next(w, c);
        break;
    case M_APPEND:
        append_next(w, c);
        break;
    case M_IDLE:
        if (c->step == S_IDLE) {
            /* IDLE refused or ended before our DONE. */
            end_conn(w, c, true);
            return;
        }
        if (c->step == S_IDLE_DONE) {
            do_logout(c);
            return;
        }
        idle_next(w, c);
        break;
    }
}

static void on_cont(struct worker *w, struct bconn *c)
{
    if (w->mode == M_IDLE && c->step == S_IDLE && !c->idling) {
        /* RFC 2177: the "+" means the server is now idling for us. */
        bstats_add(&w->st, OP_IDLE, bench_now_sec() - c->t_start);
        c->idling = true;
        w->nidle++;
        if (c->sub) {
            c->sub = 0;
            w->setup_inflight--;
        }
    }
}

static void handle_event(struct worker *w, struct bconn *c, uint32_t events)
{
    if (c->closed)
        return;
    if (c->connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
            w->st.connect_fail++;
            end_conn(w, c, true);
            return;
        }
        c->connecting = false;
        if (bench_opts.tls && !bconn_tls_start(c)) {
            w->st.connect_fail++;
            end_conn(w, c, true);
            return;
        }
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || (c->tls_want_write && (events & EPOLLOUT))) {
        bool tagged, cont;
        if (bconn_read(c, &tagged, &cont) < 0) {
            if (!(c->step == S_LOGOUT && c->bye)) {
                w->st.disconnects++;
                if (c->busy)
                    w->st.lost[c->op]++;
            }
            end_conn(w, c, !(c->step == S_LOGOUT && c->bye));
            return;
        }
        if (cont)
            on_cont(w, c);
        if (tagged)
            on_tagged(w, c);
        if (c->closed)
            return;
    }
    if (bconn_flush(c) < 0) {
        w->st.disconnects++;
        end_conn(w, c, true);
        return;
    }
    ep_update(w, c, false);
}

static void check_timers(struct worker *w, double t)
{
    for (int i = 0; i < w->nconns; i++) {
        struct bconn *c = w->conns[i];
        if (c->done)
            continue;
        if (c->closed) {
            if (timed(w) && c->retry_at > 0 && t >= c->retry_at && t < w->deadline)
                start_client(w, c);
            continue;
        }
        if (c->busy && !c->idling && bench_opts.timeout > 0 && t - c->t_start > bench_opts.timeout) {
            w->st.timeouts++;
            w->st.lost[c->op]++;
            end_conn(w, c, true);
        }
    }
}

/* Idle mode: start more clients while below the ramp limit. */
static void idle_ramp(struct worker *w)
{
    while (w->next_start < w->nconns && w->setup_inflight < IDLE_RAMP) {
        struct bconn *c = w->conns[w->next_start++];
        w->setup_inflight++;
        c->sub = 1;
        start_client(w, c);
        if (c->done) {
            c->sub = 0;
            w->setup_inflight--;
        }
    }
}

static bool loop_finished(struct worker *w, double t)
{
    switch (w->mode) {
    case M_MIX:
    case M_LOGIN:
    case M_SEARCH:
    case M_IMAPMIX:
        return t >= w->deadline;
    case M_APPEND:
        return w->ndone >= w->nconns;
    case M_IDLE:
        if (!w->release)
            return w->next_start >= w->nconns && w->nidle + w->nfailed >= w->nconns &&
                   w->setup_inflight <= 0;
        return w->ndone >= w->nconns;
    }
    return true;
}

static void run_loop(struct worker *w)
{
    struct epoll_event evs[256];
    double last_timer = bench_now_sec();
    double last_progress = last_timer;
    for (;;) {
        double t = bench_now_sec();
        if (w->mode == M_IDLE && !w->release)
            idle_ramp(w);
        if (loop_finished(w, t))
            break;
        /* searchload waiting for the probe: look at its flag often */
        int wait_ms = (w->mode == M_SEARCH && w->ready && !w->measuring) ? 2 : 100;
        int n = epoll_wait(w->epfd, evs, (int)ARRAY_SIZE(evs), wait_ms);
        if (n < 0 && errno != EINTR) {
            perror("dariusbench: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++)
            handle_event(w, evs[i].data.ptr, evs[i].events);
        t = bench_now_sec();
        if (w->mode == M_SEARCH && !w->measuring) {
            if (w->ready && __atomic_load_n(&bench_probe_ready, __ATOMIC_ACQUIRE)) {
                /* The window starts: what happened so far was set-up. */
                bstats_free(&w->st);
                w->measuring = true;
                w->deadline = t + bench_opts.seconds;
            } else if (t - w->start > bench_opts.timeout) {
                fprintf(stderr, "dariusbench: the search clients and the probe did not all start "
                                "within %d s\n", bench_opts.timeout);
                w->deadline = t;
            }
        }
        if (t - last_timer >= 0.1) {
            check_timers(w, t);
            last_timer = t;
        }
        /* Ramping up thousands of logins can take minutes (password
         * hashing): show that it is moving. */
        if (w->mode == M_IDLE && !w->release && !bench_opts.quiet && t - last_progress >= 10) {
            printf("idle: ... %d idling, %d failed, %d connecting/logging in\n", w->nidle,
                   w->nfailed, w->setup_inflight);
            last_progress = t;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (w->mode == M_SEARCH) {
        /* One client now, the next when it is searching (search_next);
         * the deadline is set when the last one is. */
        w->deadline = w->start + 1e9;
        start_client(w, w->conns[w->nstarted++]);
    } else if (w->mode != M_IDLE) {
        for (int i = 0; i < w->nconns; i++)
            start_client(w, w->conns[i]);
    }
    run_loop(w);
    return NULL;
}

static void worker_setup(struct worker *w, int tid, enum bmode mode, struct bconn *all, int n,
                         int nthreads)
{
    memset(w, 0, sizeof *w);
    w->tid = tid;
    w->mode = mode;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0) {
        perror("dariusbench: epoll_create1");
        exit(1);
    }
    w->conns = xcalloc((size_t)n / (size_t)nthreads + 1, sizeof *w->conns);
    for (int i = tid; i < n; i += nthreads) {
        all[i].thread = tid;
        w->conns[w->nconns++] = &all[i];
    }
}

static void worker_cleanup(struct worker *w)
{
    for (int i = 0; i < w->nconns; i++)
        bconn_close(w->conns[i]);
    close(w->epfd);
    free(w->conns);
    buf_free(&w->msg);
}

/* Run mix, append or a timed mode with -j threads; returns merged stats and
 * elapsed. */
static void run_threads(enum bmode mode, struct stats *out, double *elapsed)
{
    int n = bench_opts.clients;
    int nt = bench_opts.threads < 1 ? 1 : MIN(bench_opts.threads, n);
    if (mode == M_SEARCH)
        nt = 1; /* the staggered start is one event loop's business */
    struct bconn *all = xcalloc((size_t)n, sizeof *all);
    for (int i = 0; i < n; i++)
        bconn_init(&all[i], i);
    struct worker *ws = xcalloc((size_t)nt, sizeof *ws);
    double start = bench_now_sec();
    for (int t = 0; t < nt; t++) {
        worker_setup(&ws[t], t, mode, all, n, nt);
        ws[t].start = start;
        ws[t].deadline = start + bench_opts.seconds;
    }
    for (int t = 0; t < nt; t++)
        if (pthread_create(&ws[t].th, NULL, worker_main, &ws[t]) != 0) {
            perror("dariusbench: pthread_create");
            exit(1);
        }
    double end = start;
    for (int t = 0; t < nt; t++) {
        pthread_join(ws[t].th, NULL);
        bstats_merge(out, &ws[t].st);
        if (ws[t].last_done > end)
            end = ws[t].last_done;
    }
    *elapsed = (mode == M_APPEND || mode == M_IDLE) ? end - start : bench_opts.seconds;
    if (bench_client_cmds)
        for (int i = 0; i < n; i++)
            bench_client_cmds[i] = all[i].ncmds;
    if (bench_client_pid)
        for (int i = 0; i < n; i++)
            __atomic_store_n(&bench_client_pid[i], all[i].server_pid ? all[i].server_pid : -1,
                             __ATOMIC_RELAXED);
    for (int t = 0; t < nt; t++) {
        worker_cleanup(&ws[t]);
        bstats_free(&ws[t].st);
    }
    for (int i = 0; i < n; i++)
        bconn_free(&all[i]);
    free(ws);
    free(all);
}

void bench_run_timed(enum bmode mode, struct stats *out, double *elapsed)
{
    run_threads(mode, out, elapsed);
}

int bench_mode_mix(void)
{
    struct stats st = {0};
    double elapsed;
    printf("mix: %d clients, %d users, %.0f s, %d thread(s), %s:%d\n", bench_opts.clients,
           bench_opts.users, bench_opts.seconds, bench_opts.threads, bench_opts.host, bench_opts.port);
    fflush(stdout);
    bench_run_timed(M_MIX, &st, &elapsed);
    struct buf res = BUF_INIT;
    bstats_report(&st, elapsed, &res);
    printf("RESULT mode=mix clients=%d seconds=%.1f%s\n", bench_opts.clients, elapsed, buf_cstr(&res));
    unsigned long errs = bstats_errors(&st);
    size_t done = 0;
    for (int i = 0; i < OP__COUNT; i++)
        done += st.n[i];
    buf_free(&res);
    bstats_free(&st);
    return done > 0 ? (errs ? 2 : 0) : 1;
}

int bench_mode_append(void)
{
    struct stats st = {0};
    double elapsed;
    printf("append: %d clients x %ld messages of %zu bytes, %s:%d\n", bench_opts.clients,
           bench_opts.count, bench_opts.msgsize, bench_opts.host, bench_opts.port);
    fflush(stdout);
    run_threads(M_APPEND, &st, &elapsed);
    struct buf res = BUF_INIT;
    bstats_report(&st, elapsed, &res);
    size_t msgs = st.n[OP_APPEND] + st.n[OP_APPEND_BIG];
    double rate = elapsed > 0 ? (double)msgs / elapsed : 0;
    /* stats_report sorted the samples already. */
    printf("appended %zu messages in %.2f s: %.1f msg/s (%.2f MB/s)\n", msgs, elapsed, rate,
           rate * (double)bench_opts.msgsize / 1e6);
    printf("RESULT mode=append clients=%d messages=%zu seconds=%.2f msgs_per_s=%.1f p50=%.2f "
           "p90=%.2f p99=%.2f max=%.2f errors=%lu\n",
           bench_opts.clients, msgs, elapsed, rate,
           bench_percentile_ms(st.lat[OP_APPEND], st.n[OP_APPEND], 50),
           bench_percentile_ms(st.lat[OP_APPEND], st.n[OP_APPEND], 90),
           bench_percentile_ms(st.lat[OP_APPEND], st.n[OP_APPEND], 99),
           bench_percentile_ms(st.lat[OP_APPEND], st.n[OP_APPEND], 100), bstats_errors(&st));
    unsigned long errs = bstats_errors(&st);
    buf_free(&res);
    bstats_free(&st);
    return msgs > 0 ? (errs ? 2 : 0) : 1;
}

int bench_mode_idle(void)
{
    int n = bench_opts.clients;
    long lim = bench_raise_nofile((long)n + 64);
    if (lim < (long)n + 16) {
        int can = lim > 32 ? (int)lim - 32 : 0;
        printf("idle: RLIMIT_NOFILE is %ld: cannot open %d connections, using %d\n", lim, n, can);
        n = can;
    }
    if (n <= 0)
        return 1;
    const char *what = "?";
    int nproc = 0;
    long long before = -1, after = -1;
    if (bench_opts.master_pid > 0) {
        before = bench_settled_memory(bench_opts.master_pid, &nproc, &what);
        if (before < 0)
            printf("idle: cannot read memory of pid %d\n", (int)bench_opts.master_pid);
    }
    struct bconn *all = xcalloc((size_t)n, sizeof *all);
    for (int i = 0; i < n; i++)
        bconn_init(&all[i], i);
    struct worker w;
    worker_setup(&w, 0, M_IDLE, all, n, 1);
    printf("idle: opening %d connections to %s:%d\n", n, bench_opts.host, bench_opts.port);
    fflush(stdout);
    double t0 = bench_now_sec();
    run_loop(&w);
    double ramp = bench_now_sec() - t0;
    int idling = w.nidle;
    printf("idle: %d of %d connections idling after %.2f s (%d failed)\n", idling, n, ramp,
           w.nfailed);
    if (bench_opts.master_pid > 0 && before >= 0)
        after = bench_settled_memory(bench_opts.master_pid, &nproc, &what);
    if (after >= 0) {
        double per = idling > 0 ? (double)(after - before) / idling : 0;
        printf("idle: server memory (%s, %d processes): before %.1f MB, with %d idling %.1f MB, "
               "%.1f KB per connection\n",
               what, nproc, (double)before / 1048576.0, idling, (double)after / 1048576.0,
               per / 1024.0);
    }
    /* Release: DONE every IDLE, then LOGOUT (on_tagged). */
    w.release = true;
    for (int i = 0; i < w.nconns; i++) {
        struct bconn *c = w.conns[i];
        if (c->idling && !c->closed) {
            /* No longer idling: from here the command timeout applies to
             * the server's answer to DONE. */
            c->idling = false;
            w.nidle--;
            c->t_start = bench_now_sec();
            c->step = S_IDLE_DONE;
            bconn_raw(c, "DONE\r\n");
            if (bconn_flush(c) < 0) {
                w.st.disconnects++;
                end_conn(&w, c, true);
                continue;
            }
            ep_update(&w, c, false);
        }
    }
    run_loop(&w);
    int ok = bench_verify_server();
    printf("idle: server %s after releasing the connections\n", ok == 0 ? "answers" : "DOES NOT answer");
    struct buf res = BUF_INIT;
    bstats_report(&w.st, ramp, &res);
    printf("RESULT mode=idle requested=%d idling=%d failed=%d ramp_s=%.2f mem=%s "
           "before_bytes=%lld after_bytes=%lld bytes_per_conn=%.0f server_ok=%s errors=%lu\n",
           bench_opts.clients, idling, w.nfailed, ramp, what, before, after,
           (after >= 0 && idling > 0) ? (double)(after - before) / idling : -1.0,
           ok == 0 ? "yes" : "no", bstats_errors(&w.st));
    buf_free(&res);
    bstats_free(&w.st);
    worker_cleanup(&w);
    for (int i = 0; i < n; i++)
        bconn_free(&all[i]);
    free(all);
    return (ok == 0 && idling == bench_opts.clients) ? 0 : 2;
}
