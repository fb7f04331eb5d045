/* worker.c - a dariusd worker process.
 *
 * Each worker runs its own event loop over the listening sockets it
 * inherited from the master: those of its own slot (a TCP listener is one
 * SO_REUSEPORT socket per worker, daemon.h) and the shared ones (a unix
 * socket, or every listener when there is one worker), registered with
 * EPOLLEXCLUSIVE so a new connection on a shared socket wakes one worker,
 * not all of them. The woken worker accepts until EAGAIN and hands every
 * socket to the IMAP, POP3, LMTP or ManageSieve layer (by listener). Every
 * WORKER_BEAT_MS it records that its loop turns in the shared slot table
 * and adopts the sockets of any other slot whose worker is dead (waiting
 * for its restart) or stuck, until that one turns its loop again.
 * Cross-process change hints arrive on the worker's notify socket and are
 * passed to imap_notify(); user kicks (NOTIFY_KICK_USER) go to every
 * front-end through the front-end layer (fe_kick_user_all; a POP3 session
 * works on the snapshot taken at login and needs nothing else).
 *
 * Cyrus shutdown file (DATADIR/msg/shutdown or DATADIR/shutdown): checked
 * every NOTICE_CHECK_MS and before handing over new connections; while it
 * exists new connections are refused with its first line and open ones
 * are told and closed; once it is gone service resumes (no restart). The
 * motd (DATADIR/msg/motd or DATADIR/motd) is read at the same times and
 * handed to the front-end layer, which IMAP asks at each login
 * (notice.c). The protocols read neither file.
 *
 * SIGTERM/SIGINT: stop accepting, let the IMAP layer say BYE, exit when
 * the last session is gone (at most 4 s). SIGHUP: reload the
 * configuration and the TLS context; open connections keep theirs.
 */
#include "access.h"
#include "auth.h"
#include "auth-service.h"
#include "daemon.h"
#include "delivery.h"
#include "event.h"
#include "frontend.h"
#include "imap.h"
#include "jobs.h"
#include "pop3.h"
#include "lmtp.h"
#include "managesieve.h"
#include "connlimits.h"
#include "spool-limits.h"
#include "log.h"
#include "notify.h"
#include "storage.h"
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#define WORKER_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_LSAN 1
#endif
#endif
#ifdef WORKER_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define SHUTDOWN_GRACE_MS 4000
#define ACCEPT_RETRY_MS 200
#define ACCEPTS_PER_EVENT 256
#define NOTICE_CHECK_MS 1000
/* How long a store handle stays open after its last session closed
 * (storage_set_linger): a user logging in again within it (webmail does
 * on every page view) finds the store open. */
#define STORE_LINGER_MS 10000

static struct event_loop *wloop;
static struct listener *wls;
static size_t nwls;
static struct worker_slot *wslots; /* shared slot table (daemon.h), or NULL */
static size_t nwslots;
static int wslot;                  /* our own index */
static bool *adopted;              /* per slot: we accept from its sockets too */
static bool shutting_down;
static uint64_t shutdown_deadline;
static bool have_tls;
static int notify_fd = -1;
static bool notice_active;
static char notice_line[256];

/* Look at the notice files (notice.c). The shutdown file: tell the
 * front-ends when it appeared, changed or went away. The motd: what IMAP
 * sends after a login from now on. Two failed open()s each when there is
 * none. */
static void check_notice(void)
{
    char line[256];
    fe_set_motd(daemon_read_notice("motd", line, sizeof(line)) ? line : NULL);
    if (daemon_read_notice("shutdown", line, sizeof(line))) {
        if (!notice_active || strcmp(line, notice_line) != 0)
            log_notice("shutdown file present: %s", line);
        notice_active = true;
        snprintf(notice_line, sizeof(notice_line), "%s", line);
        fe_set_shutdown_notice_all(line);
    } else if (notice_active) {
        log_info("shutdown file removed, accepting connections again");
        notice_active = false;
        fe_set_shutdown_notice_all(NULL);
    }
}

/* A store handle idle past STORE_LINGER_MS: closing its database
 * checkpoints the WAL (fsyncs), so that runs on the pool. */
static void close_store_run(struct job *job, void *arg)
{
    (void)job;
    mail_user_free_detached(arg);
}

static void close_store_done(void *arg)
{
    (void)arg;
}

static void close_store_off_loop(struct mail_user *u)
{
    jobs_submit("store-close", NULL, close_store_run, close_store_done, u);
}

static void notice_timer(struct event_loop *loop, void *arg)
{
    (void)arg;
    if (shutting_down)
        return;
    check_notice();
    storage_linger_expire(STORE_LINGER_MS, close_store_off_loop);
    ev_timer_add(loop, NOTICE_CHECK_MS, notice_timer, NULL);
}

static void accept_ready(struct event_loop *loop, int fd, int events, void *arg);

/* Do we accept from l now: a shared socket, our slot's, or an adopted
 * slot's? */
static bool serves(const struct listener *l)
{
    if (l->slot < 0 || l->slot == wslot)
        return true;
    return adopted && (size_t)l->slot < nwslots && adopted[l->slot];
}

/* Register l with the loop, or take it out, as it should be now. */
static bool update_watch(struct listener *l)
{
    bool on = !shutting_down && !l->paused && l->fd >= 0 && serves(l);
    if (on == l->watched)
        return true;
    if (!on) {
        ev_fd_del(wloop, l->fd);
        l->watched = false;
        return true;
    }
    if (ev_fd_add_exclusive(wloop, l->fd, accept_ready, l) < 0) {
        log_err("cannot watch listener %s: %s", l->spec, strerror(errno));
        return false;
    }
    l->watched = true;
    return true;
}

static void listener_resume(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct listener *l = arg;
    if (!l->paused)
        return;
    l->paused = false;
    update_watch(l);
}

/* Every WORKER_BEAT_MS: tell the others our loop turns, and adopt (or
 * give back) the sockets of the other slots (daemon.h). The kernel hashes
 * a connection to one socket of a group, and it waits in that socket's
 * backlog until someone accepts it: the slot's own worker, or while that
 * one is dead or stuck, the others. An adopted socket is watched with
 * EPOLLEXCLUSIVE by every adopter (and by its own worker when it comes
 * back), so a connection wakes one of them. */
static void slot_timer(struct event_loop *loop, void *arg)
{
    (void)arg;
    if (shutting_down)
        return;
    uint64_t now = event_loop_now(loop);
    atomic_store(&wslots[wslot].beat, now);
    for (size_t k = 0; k < nwslots; k++) {
        if ((int)k == wslot)
            continue;
        uint64_t beat = atomic_load(&wslots[k].beat);
        bool orphan = beat == 0 || (now > beat && now - beat > WORKER_STUCK_MS);
        if (orphan == adopted[k])
            continue;
        adopted[k] = orphan;
        for (size_t i = 0; i < nwls; i++)
            if (wls[i].slot == (int)k)
                update_watch(&wls[i]);
        if (!orphan)
            log_notice("worker %zu accepts its connections again; leaving them to it", k);
        else if (beat == 0)
            log_warn("worker %zu is not running: accepting its connections here too until it is back", k);
        else
            log_warn("worker %zu has not turned its event loop for %llu ms: accepting its connections here too "
                     "until it does",
                     k, (unsigned long long)(now - beat));
    }
    ev_timer_add(loop, WORKER_BEAT_MS, slot_timer, NULL);
}

static void accept_ready(struct event_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    struct listener *l = arg;
    /* New connections must see a shutdown file written a moment ago. */
    check_notice();
    for (int i = 0; i < ACCEPTS_PER_EVENT && !shutting_down; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the pending connection stays in the
                 * backlog; stop polling this listener for a moment rather
                 * than spinning on it. */
                log_warn("accept on %s: %s; pausing %d ms", l->spec, strerror(errno), ACCEPT_RETRY_MS);
                l->paused = true;
                update_watch(l);
                ev_timer_add(loop, ACCEPT_RETRY_MS, listener_resume, l);
                return;
            }
            log_err("accept on %s: %s", l->spec, strerror(errno));
            return;
        }
        if (l->implicit_tls && !have_tls) {
            close(c); /* no usable certificate: nothing sensible to say */
            continue;
        }
        if (l->proto == PROTO_LMTP)
            lmtp_accept(c, (struct sockaddr *)&ss, sl, l->is_unix);
        else if (l->proto == PROTO_SIEVE)
            managesieve_accept(c, (struct sockaddr *)&ss, sl, l->is_unix);
        else if (l->proto == PROTO_POP3)
            pop3_accept(c, (struct sockaddr *)&ss, sl, l->implicit_tls);
        else
            imap_accept(c, (struct sockaddr *)&ss, sl, l->implicit_tls);
    }
}

/* notify_user_kick on this worker's loop thread: close our own sessions
 * of the user at once. (From a job on the pool - an admin's IMAP DELETE
 * or RENAME of an account - notify.c does not call it: the loop closes
 * them when it reads its own kick datagram.) */
static void local_kick(const char *user)
{
    fe_kick_user_all(user);
    /* the store must be let go of: no lingering handle either */
    storage_linger_drop(user, 0);
}

static void notify_cb(const char *user, int64_t mailbox_id, const struct notify_event *ev, void *arg)
{
    (void)arg;
    if (ev) {
        /* NOTIFY events (RFC 5465): a hint too when it names a mailbox */
        imap_notify_event(user, mailbox_id, ev);
        if (mailbox_id == NOTIFY_EVENT_ONLY)
            return;
    }
    if (mailbox_id == NOTIFY_AUTH_FLUSH) {
        auth_service_flush_user(user);
        return;
    }
    if (mailbox_id == NOTIFY_RESYNC_HINTS || mailbox_id == NOTIFY_RESYNC_ALL) {
        /* our queue refused datagrams: re-read what they may have said */
        imap_notify_resync(mailbox_id == NOTIFY_RESYNC_ALL);
        return;
    }
    if (mailbox_id == NOTIFY_KICK_USER) {
        fe_kick_user_all(user);
        storage_linger_drop(user, 0);
    } else {
        imap_notify(user, mailbox_id);
    }
}

/* Test hook: with DARIUS_TEST_HOLD_DIR set, the notify socket is not
 * read while the file "notify-read" exists there (its queue fills up as
 * behind a busy loop); the socket is unwatched meanwhile and a timer
 * looks again, so the loop never waits. */
static char *notify_hold_path;
static void notify_ready(struct event_loop *loop, int fd, int events, void *arg);

static void notify_hold_check(struct event_loop *loop, void *arg)
{
    (void)arg;
    if (notify_fd < 0 || shutting_down)
        return;
    if (access(notify_hold_path, F_OK) == 0) {
        ev_timer_add(loop, 5, notify_hold_check, NULL);
        return;
    }
    if (ev_fd_add(loop, notify_fd, EV_READ, notify_ready, NULL) < 0)
        log_warn("cannot watch the notify socket: %s", strerror(errno));
    notify_listener_read_ev(notify_fd, notify_cb, NULL);
}

static void notify_ready(struct event_loop *loop, int fd, int events, void *arg)
{
    (void)events; (void)arg;
    if (notify_hold_path && access(notify_hold_path, F_OK) == 0) {
        ev_fd_del(loop, fd);
        ev_timer_add(loop, 5, notify_hold_check, NULL);
        return;
    }
    notify_listener_read_ev(fd, notify_cb, NULL);
}

/* Markers owed to listeners whose queue refused our datagrams
 * (notify.h): retried every NOTIFY_RETRY_MS while any is owed, looked
 * for every NOTIFY_RETRY_IDLE_MS otherwise (a send from a pool thread
 * may have left one), and at every send. */
#define NOTIFY_RETRY_MS 5
#define NOTIFY_RETRY_IDLE_MS 50

static void notify_retry_timer(struct event_loop *loop, void *arg)
{
    (void)arg;
    if (shutting_down)
        return;
    bool left = notify_retry_pending();
    ev_timer_add(loop, left ? NOTIFY_RETRY_MS : NOTIFY_RETRY_IDLE_MS, notify_retry_timer, NULL);
}

/* Another worker (or this one) admitted a connection in place of one of
 * our unauthenticated ones (connlimits.h): close those. */
static void wake_ready(struct event_loop *loop, int fd, int events, void *arg)
{
    (void)loop; (void)fd; (void)events; (void)arg;
    limits_wake_drain();
    fe_evict_marked_all();
}

static void load_tls(bool initial)
{
    char err[1024];
    struct tls_ctx *t = daemon_tls_ctx(err, sizeof(err));
    if (!t) {
        log_err("TLS: %s%s", err, initial ? "" : " (keeping the previous certificate)");
        if (initial) {
            imap_set_tls(NULL);
            pop3_set_tls(NULL);
            lmtp_set_tls(NULL);
            managesieve_set_tls(NULL);
            have_tls = false;
        }
        return;
    }
    /* POP3 gets its own context: the ALPN id differs ("pop3"). */
    struct tls_ctx *p = daemon_tls_ctx_alpn("pop3", err, sizeof(err));
    if (!p) {
        log_err("TLS (pop3): %s", err);
        p = t;
        tls_ctx_ref(p);
    }
    imap_set_tls(t); /* takes its own reference */
    tls_ctx_unref(t);
    pop3_set_tls(p);
    tls_ctx_unref(p);
    /* LMTP STARTTLS: ALPN id "lmtp" (a client offering only other
     * protocols is refused, as for IMAP and POP3). */
    struct tls_ctx *l = daemon_tls_ctx_alpn("lmtp", err, sizeof(err));
    if (!l) {
        log_err("TLS (lmtp): %s", err);
    } else {
        lmtp_set_tls(l);
        tls_ctx_unref(l);
    }
    /* ManageSieve STARTTLS: ALPN id "managesieve" (IANA). */
    struct tls_ctx *m = daemon_tls_ctx_alpn("managesieve", err, sizeof(err));
    if (!m) {
        log_err("TLS (managesieve): %s", err);
    } else {
        managesieve_set_tls(m);
        tls_ctx_unref(m);
    }
    have_tls = true;
}

static size_t session_count(void)
{
    return fe_session_count_all();
}

static void check_done(struct event_loop *loop, void *arg)
{
    (void)arg;
    if (session_count() == 0 || event_loop_now(loop) >= shutdown_deadline) {
        if (session_count())
            log_warn("%zu sessions still open after %d s; exiting anyway", session_count(),
                     SHUTDOWN_GRACE_MS / 1000);
        event_loop_stop(loop);
        return;
    }
    ev_timer_add(loop, 50, check_done, NULL);
}

static void on_term(struct event_loop *loop, void *arg)
{
    (void)arg;
    if (shutting_down)
        return;
    shutting_down = true;
    /* Every socket, also those of other slots: the master keeps its own
     * copies, so nothing is unbound before it exits. */
    for (size_t i = 0; i < nwls; i++) {
        update_watch(&wls[i]);
        close(wls[i].fd);
        wls[i].fd = -1;
    }
    fe_shutdown_all("Server shutting down");
    shutdown_deadline = event_loop_now(loop) + SHUTDOWN_GRACE_MS;
    check_done(loop, NULL);
}

static void on_hup(struct event_loop *loop, void *arg)
{
    (void)loop;
    const char *path = config_path();
    if (path) {
        char err[1024];
        struct config *c = daemon_load_config(path, err, sizeof(err));
        if (!c) {
            log_err("reload failed, keeping the running configuration: %s", err);
            return;
        }
        config_install(c);
        /* configurations replaced earlier go once no job can hold one */
        if (jobs_pending() == 0)
            config_free_retired();
    }
    char role[32];
    snprintf(role, sizeof(role), "worker %d", (int)(intptr_t)arg);
    daemon_setup_logging(role);
    load_tls(false);
    auth_service_reload();
    log_debug("configuration reloaded");
}

void worker_run(int idx, struct listener *ls, size_t nls, struct worker_slot *slots, size_t nslots,
                pid_t master_pid)
{
    char role[32];
    snprintf(role, sizeof(role), "worker %d", idx);
    daemon_setup_logging(role);
    /* Never outlive the master (e.g. after it was SIGKILLed). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master_pid)
        _exit(0);
    signal(SIGPIPE, SIG_IGN);
    limits_set_worker(idx);
    spool_limits_set_worker(idx);

    wloop = event_loop_new();
    if (!wloop)
        _exit(EX_OS_ERR);
    /* Signals first: they are still blocked from the master, so nothing
     * sent since fork() is lost. */
    if (ev_signal_add(wloop, SIGTERM, on_term, NULL) < 0 || ev_signal_add(wloop, SIGINT, on_term, NULL) < 0 ||
        ev_signal_add(wloop, SIGHUP, on_hup, (void *)(intptr_t)idx) < 0) {
        log_err("signalfd: %s", strerror(errno));
        _exit(EX_OS_ERR);
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);

    int rc = storage_init(config_str(CFG_DATADIR));
    if (rc != 0) {
        log_err("storage_init(%s) failed (%d)", config_str(CFG_DATADIR), rc);
        _exit(EX_OS_ERR);
    }
    rc = userdb_open(config_str(CFG_DATADIR));
    if (rc != 0) {
        log_err("cannot open the user database: %s", auth_strerror(rc));
        _exit(EX_OS_ERR);
    }
    /* An account move/rename/delete run by an admin session (a job on
     * the pool; the loop stays free to close this worker's sessions of
     * the store) waits for every process to let go of the store: seconds,
     * not the CLI's 30 s, since the admin waits for the answer and
     * retries on BUSY. */
    storage_set_store_wait_ms(5000);
    storage_set_linger(STORE_LINGER_MS);
    notify_set_local_kick_hook(local_kick);
    /* Account changes made in this worker (an admin's DELETE or RENAME of
     * user/NAME) reach every worker's credential cache, this one's too
     * (its own datagram): may run on any thread, so it only sends. */
    userdb_set_change_hook(notify_auth_flush);
    /* Finish store moves/renames/deletes and account operations that a
     * crash interrupted (both are idempotent and serialised by locks, so
     * every worker may try; only dead operations are touched). Opens and
     * logins would also do it lazily, name by name. */
    int nrec = storage_partitions_recover();
    if (nrec > 0)
        log_notice("recovered %d interrupted store operation(s)", nrec);
    access_set_account_hook(duplicate_account_changed);
    int arec = access_recover_accounts();
    if (arec > 0)
        log_notice("finished %d interrupted account operation(s)", arec);
    /* The thread pool for everything slow (jobs.h); without it the
     * front-ends would run jobs inline, so a worker that cannot start
     * threads is no use. */
    if (!jobs_init(wloop, (unsigned)config_int(CFG_JOB_THREADS)))
        _exit(EX_OS_ERR);
    /* Password checks and the credential cache, with a key of this
     * process's own (never written anywhere). */
    auth_service_init();
    imap_init(wloop);
    pop3_init(wloop);
    lmtp_init(wloop);
    managesieve_init(wloop);
    load_tls(true);

    notify_fd = notify_listener_open();
    if (notify_fd < 0)
        log_warn("no notify socket: changes made by other processes are seen at the next command only");
    else if (ev_fd_add(wloop, notify_fd, EV_READ, notify_ready, NULL) < 0)
        log_warn("cannot watch the notify socket: %s", strerror(errno));
    notify_set_async_retry(true);
    ev_timer_add(wloop, NOTIFY_RETRY_IDLE_MS, notify_retry_timer, NULL);
    {
        const char *hold = getenv("DARIUS_TEST_HOLD_DIR");
        if (hold && *hold) {
            size_t l = strlen(hold) + sizeof("/notify-read");
            notify_hold_path = xmalloc(l);
            snprintf(notify_hold_path, l, "%s/notify-read", hold);
        }
    }

    int wake_fd = limits_wake_fd();
    if (wake_fd >= 0 && ev_fd_add(wloop, wake_fd, EV_READ, wake_ready, NULL) < 0)
        log_warn("cannot watch the eviction wake fd: %s", strerror(errno));

    check_notice();
    ev_timer_add(wloop, NOTICE_CHECK_MS, notice_timer, NULL);

    wls = ls;
    nwls = nls;
    wslot = idx;
    for (size_t i = 0; i < nls; i++) {
        ls[i].paused = false;
        ls[i].watched = false;
        if (!update_watch(&ls[i]))
            _exit(EX_OS_ERR);
    }
    if (slots && (size_t)idx < nslots) {
        wslots = slots;
        nwslots = nslots;
        adopted = xcalloc(nslots, sizeof(*adopted));
        /* First beat at the first turn of the loop (its clock is fresh
         * then), taking over from the master's start-up grace. */
        ev_timer_add(wloop, 0, slot_timer, NULL);
    }

    event_loop_run(wloop);

    /* Jobs still queued or running (a session whose client went away
     * keeps its job until done): wait for them within what is left of
     * the grace period, so nothing a client was told is lost; their done
     * callbacks run here. */
    uint64_t now = event_loop_now(wloop);
    jobs_drain(shutting_down && shutdown_deadline > now ? shutdown_deadline - now + 500 : 1000);
    storage_linger_drop(NULL, 0); /* checkpointed and closed cleanly */
    auth_service_shutdown();
    notify_listener_close();
    free(notify_hold_path);
    notify_hold_path = NULL;
    userdb_close();
    free(adopted);
    adopted = NULL;
    log_debug("exiting");
    fflush(stderr);
#ifdef WORKER_LSAN
    /* _exit skips LeakSanitizer's check at exit: run it here, so the
     * ASan suite sees what sessions torn down in a worker leave behind. */
    __lsan_do_leak_check();
#endif
    /* _exit: no atexit handlers or stdio buffers inherited from the
     * master may run twice, and the kernel frees everything at once. */
    _exit(0);
}
