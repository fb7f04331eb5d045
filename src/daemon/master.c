/* master.c - the dariusd master process.
 *
 * Prepares the data directory (first-start conveniences: a self-signed
 * certificate and a demo user), binds every listener (a TCP listener as
 * one SO_REUSEPORT socket per worker, daemon.h), creates the shared
 * limits region and the worker slot table, drops privileges and forks the
 * workers, which inherit the listening sockets. Then it only supervises:
 * restarts workers that die (with back-off when they crash in a loop),
 * forwards SIGHUP after re-reading the configuration, and on SIGTERM/SIGINT
 * stops the workers (SIGKILL after 5 s) and exits 0. Signals arrive through signalfd in the
 * master's own event loop, so no handler runs asynchronously.
 */
#include "auth.h"
#include "daemon.h"
#include "event.h"
#include "connlimits.h"
#include "spool-limits.h"
#include "log.h"
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RESTART_WINDOW_MS 10000
#define RESTART_MAX 10
#define RESTART_BACKOFF_MS 10000
#define STOP_TIMEOUT_MS 5000

struct worker {
    pid_t pid;          /* 0 when not running */
    bool restart_pending;
};

static struct event_loop *mloop;
static struct worker *workers;
static size_t nworkers;
static struct worker_slot *slots; /* shared with the workers (daemon.h) */
static struct listener *listeners;
static size_t nlisteners;
static bool stopping;
static uint64_t stop_timer;
static uint64_t restart_times[RESTART_MAX];
static size_t restart_pos;
static const char *config_file;

/* ---- first start ------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = mkdir(p, mode) < 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

static bool prepare_tls(void)
{
    const char *crt = config_str(CFG_TLS_SERVER_CERT);
    const char *key = config_str(CFG_TLS_SERVER_KEY);
    char *tlsdir = xasprintf("%s/tls", config_str(CFG_DATADIR));
    bool ours = strncmp(crt, tlsdir, strlen(tlsdir)) == 0;
    if (ours) {
        if (mkdir_p(tlsdir, 0700) < 0) {
            log_err("cannot create %s: %s", tlsdir, strerror(errno));
            free(tlsdir);
            return false;
        }
        char cn[256] = "";
        snprintf(cn, sizeof(cn), "%s", config_str(CFG_SERVERNAME));
        if (!*cn && gethostname(cn, sizeof(cn) - 1) < 0)
            strcpy(cn, "localhost");
        cn[sizeof(cn) - 1] = '\0';
        struct stat st;
        bool existed = stat(crt, &st) == 0 && stat(key, &st) == 0;
        char err[512];
        if (!tls_generate_selfsigned(crt, key, cn, err, sizeof(err))) {
            log_err("cannot create a self-signed certificate: %s", err);
            free(tlsdir);
            return false;
        }
        if (!existed)
            log_notice("created a self-signed certificate for \"%s\" in %s (clients will warn about it; "
                       "set tls_server_cert/tls_server_key to use a real one)",
                       cn, tlsdir);
    }
    free(tlsdir);
    /* Fail at start-up, not on the first connection. */
    char err[512];
    struct tls_ctx *t = daemon_tls_ctx(err, sizeof(err));
    if (!t) {
        log_err("TLS: %s", err);
        return false;
    }
    tls_ctx_unref(t);
    return true;
}

/* Returns 1 when the demo user exists, 0 when not, -1 on error. */
static int prepare_users(void)
{
    int rc = userdb_open(config_str(CFG_DATADIR));
    if (rc != 0) {
        log_err("cannot open the user database in %s: %s", config_str(CFG_DATADIR), auth_strerror(rc));
        return -1;
    }
    int n = userdb_count();
    if (n == 0) {
        rc = userdb_add("demo", "demo");
        if (rc != 0)
            log_warn("cannot create the demo user: %s", auth_strerror(rc));
        else
            log_notice("no users yet: created user \"demo\" with password \"demo\" "
                       "(add real users with: darius user add NAME; remove this one with: darius user del demo)");
    }
    int demo = userdb_exists("demo") == 1 ? 1 : 0;
    /* No SQLite handle may cross fork(). */
    userdb_close();
    return demo;
}

/* ---- privileges ---------------------------------------------------------- */

/* Hand the data directory tree to the unprivileged account. This runs as
 * root over a tree that account can write to, so it must not be
 * redirectable: every step is relative to an fd opened with O_NOFOLLOW
 * (a directory swapped for a symlink mid-walk makes openat fail instead
 * of leading root into /etc), and entries are changed with fchownat
 * AT_SYMLINK_NOFOLLOW, so a symlink itself is changed, never its target.
 * Depth is bounded; the store is at most a few levels deep. */
static void chown_tree(int dirfd, uid_t uid, gid_t gid, int depth)
{
    if (fchown(dirfd, uid, gid) < 0)
        log_warn("chown: %s", strerror(errno));
    if (depth > 16)
        return;
    int fd = dup(dirfd);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            chown_tree(sub, uid, gid, depth + 1);
            close(sub);
        } else if (fchownat(dirfd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT) {
            log_warn("chown %s: %s", e->d_name, strerror(errno));
        }
    }
    closedir(d);
}

static bool drop_privileges(void)
{
    const char *user = config_str(CFG_USER);
    if (!*user) {
        if (geteuid() == 0)
            log_warn("running as root; set \"user\" to an unprivileged account");
        return true;
    }
    if (geteuid() != 0) {
        log_debug("not started as root: \"user: %s\" ignored", user);
        return true;
    }
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        log_err("user \"%s\" (config \"user\") does not exist", user);
        return false;
    }
    /* Everything we created as root (users.db, the TLS key, the store)
     * must belong to the unprivileged user. */
    /* The datadir path itself is the operator's (it may be a symlink to
     * another disk); only what lies inside it is the account's. */
    int top = open(config_str(CFG_DATADIR), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) {
        log_err("datadir %s: %s", config_str(CFG_DATADIR), strerror(errno));
        return false;
    }
    chown_tree(top, pw->pw_uid, pw->pw_gid, 0);
    close(top);
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        log_err("cannot switch to user %s: %s", user, strerror(errno));
        return false;
    }
    if (setuid(0) == 0) {
        log_err("privileges could not be dropped");
        return false;
    }
    log_info("running as user %s", user);
    return true;
}

/* ---- listeners ----------------------------------------------------------- */

/* An LMTP unix-domain listener at an absolute path. A stale socket file
 * (left by a crash: nobody accepts on it) is replaced; a live one, or any
 * other kind of file, is an error. The socket is made 0666 so the MTA
 * (Postfix runs its lmtp client as "postfix") can connect; access control
 * is the directory's permissions. The master unlinks it on exit. */
static int listen_unix(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long (max %zu bytes)", sizeof(sa.sun_path) - 1);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket", path);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(probe);
            snprintf(err, errlen, "%s is in use by another process", path);
            return -1;
        }
        if (probe >= 0)
            close(probe);
        if (unlink(path) < 0) {
            snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
            return -1;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

static void add_listener(int fd, bool tls, const char *spec, int proto, bool is_unix, int slot)
{
    listeners = xrealloc(listeners, (nlisteners + 1) * sizeof(*listeners));
    listeners[nlisteners++] = (struct listener){.fd = fd,
                                                .implicit_tls = tls,
                                                .spec = xstrdup(spec),
                                                .proto = proto,
                                                .is_unix = is_unix,
                                                .slot = slot};
}

/* Every listener, before privileges are dropped (ports below 1024). A TCP
 * listener gets one socket per worker (nworkers, daemon.h); a unix socket
 * one for all. */
static bool bind_all(void)
{
    static const struct {
        enum config_key key;
        const char *name;
        bool tls;
        int proto;
    } kinds[] = {
        {CFG_LISTEN_IMAP, "listen_imap", false, PROTO_IMAP},
        {CFG_LISTEN_IMAPS, "listen_imaps", true, PROTO_IMAP},
        {CFG_LISTEN_POP3, "listen_pop3", false, PROTO_POP3},
        {CFG_LISTEN_POP3S, "listen_pop3s", true, PROTO_POP3},
        {CFG_LISTEN_LMTP, "listen_lmtp", false, PROTO_LMTP},
        {CFG_LISTEN_SIEVE, "listen_sieve", false, PROTO_SIEVE},
    };
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        char **v;
        size_t n = listen_split(config_str(kinds[k].key), &v);
        for (size_t i = 0; i < n; i++) {
            char err[512];
            bool is_unix = (kinds[k].proto == PROTO_LMTP || kinds[k].proto == PROTO_SIEVE) && v[i][0] == '/';
            /* SO_REUSEPORT does not apply to unix sockets (one path, one
             * socket), and one worker needs no group. */
            size_t nfds = is_unix ? 1 : nworkers;
            int *fds = xcalloc(nfds, sizeof(*fds));
            int rc = is_unix ? ((fds[0] = listen_unix(v[i], err, sizeof(err))) < 0 ? -1 : 0)
                             : listen_tcp_group(v[i], fds, nfds, err, sizeof(err));
            if (rc < 0) {
                log_err("cannot listen on %s (%s): %s", v[i], kinds[k].name, err);
                free(fds);
                listen_split_free(v, n);
                return false;
            }
            for (size_t j = 0; j < nfds; j++)
                add_listener(fds[j], kinds[k].tls, v[i], kinds[k].proto, is_unix, nfds == 1 ? -1 : (int)j);
            free(fds);
        }
        listen_split_free(v, n);
    }
    if (!nlisteners) {
        log_err("nothing to listen on (listen_imap, listen_imaps, listen_pop3, listen_pop3s, listen_lmtp and "
                "listen_sieve are all empty)");
        return false;
    }
    return true;
}

/* Printable "host:port" for the ready line and the example command. */
static const char *connect_addr(const char *spec, char *out, size_t len)
{
    if (spec[0] == '*' || spec[0] == ':')
        snprintf(out, len, "127.0.0.1%s", strchr(spec, ':'));
    else
        snprintf(out, len, "%s", spec);
    return out;
}

static void print_ready(bool demo)
{
    struct buf b = BUF_INIT;
    struct buf imap = BUF_INIT, imaps = BUF_INIT, pop3 = BUF_INIT, pop3s = BUF_INIT, lmtp = BUF_INIT;
    struct buf sieve = BUF_INIT;
    char a[300];
    const char *first_imaps = NULL, *first_imap = NULL;
    for (size_t i = 0; i < nlisteners; i++) {
        bool tls = listeners[i].implicit_tls;
        if (listeners[i].slot > 0)
            continue; /* the same address as its slot 0 */
        if (listeners[i].proto == PROTO_LMTP || listeners[i].proto == PROTO_SIEVE) {
            struct buf *t = listeners[i].proto == PROTO_LMTP ? &lmtp : &sieve;
            buf_printf(t, "%s%s", t->len ? ", " : "",
                       listeners[i].is_unix ? listeners[i].spec : connect_addr(listeners[i].spec, a, sizeof(a)));
            continue;
        }
        struct buf *t = listeners[i].proto == PROTO_POP3 ? (tls ? &pop3s : &pop3) : (tls ? &imaps : &imap);
        buf_printf(t, "%s%s", t->len ? ", " : "", connect_addr(listeners[i].spec, a, sizeof(a)));
        if (listeners[i].proto != PROTO_IMAP)
            continue;
        /* The example prefers an IPv4 address: it works everywhere. */
        const char **first = tls ? &first_imaps : &first_imap;
        if (!*first || (**first == '[' && listeners[i].spec[0] != '['))
            *first = listeners[i].spec;
    }
    buf_puts(&b, "darius: ready -");
    const char *sep = "";
    if (imap.len) {
        buf_printf(&b, " IMAP %s (STARTTLS)", imap.data);
        sep = ",";
    }
    if (imaps.len) {
        buf_printf(&b, "%s IMAPS %s", sep, imaps.data);
        sep = ",";
    }
    if (pop3.len) {
        buf_printf(&b, "%s POP3 %s (STLS)", sep, pop3.data);
        sep = ",";
    }
    if (pop3s.len) {
        buf_printf(&b, "%s POP3S %s", sep, pop3s.data);
        sep = ",";
    }
    if (lmtp.len) {
        buf_printf(&b, "%s LMTP %s", sep, lmtp.data);
        sep = ",";
    }
    if (sieve.len)
        buf_printf(&b, "%s ManageSieve %s (STARTTLS)", sep, sieve.data);
    if (demo) {
        if (first_imaps)
            buf_printf(&b, "; log in as demo / demo (e.g. mutt -f imaps://demo@%s/)",
                       connect_addr(first_imaps, a, sizeof(a)));
        else if (first_imap)
            buf_printf(&b, "; log in as demo / demo (e.g. mutt -f imap://demo@%s/)",
                       connect_addr(first_imap, a, sizeof(a)));
        else
            buf_puts(&b, "; log in as demo / demo");
    }
    fprintf(stderr, "%s\n", b.data);
    fflush(stderr);
    if (config_bool(CFG_SYSLOG))
        log_notice("%s", b.data + strlen("darius: "));
    buf_free(&b);
    buf_free(&imap);
    buf_free(&imaps);
    buf_free(&pop3);
    buf_free(&pop3s);
    buf_free(&lmtp);
    buf_free(&sieve);
}

/* ---- workers ---------------------------------------------------------------- */

/* The clock of worker_slot.beat (the workers' event loop time). */
static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void start_worker(size_t idx)
{
    pid_t master = getpid();
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        log_err("fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        event_loop_free_after_fork(mloop);
        mloop = NULL;
        worker_run((int)idx, listeners, nlisteners, slots, slots ? nworkers : 0, master);
    }
    /* Start-up grace: until the worker's loop runs, the others leave its
     * sockets alone for WORKER_STUCK_MS (daemon.h). */
    if (slots)
        atomic_store(&slots[idx].beat, mono_ms());
    workers[idx].pid = pid;
    workers[idx].restart_pending = false;
    log_debug("worker %zu started (pid %d)", idx, (int)pid);
}

static void restart_due(struct event_loop *loop, void *arg)
{
    (void)loop;
    size_t idx = (size_t)(uintptr_t)arg;
    if (stopping || workers[idx].pid)
        return;
    start_worker(idx);
}

/* Restart a dead worker, at most RESTART_MAX times per window. */
static void schedule_restart(size_t idx)
{
    uint64_t now = event_loop_now(mloop);
    uint64_t oldest = restart_times[restart_pos];
    if (oldest && now - oldest < RESTART_WINDOW_MS) {
        log_err("workers are crashing repeatedly (%d restarts within %d s); waiting %d s before restarting worker %zu",
                RESTART_MAX, RESTART_WINDOW_MS / 1000, RESTART_BACKOFF_MS / 1000, idx);
        workers[idx].restart_pending = true;
        ev_timer_add(mloop, RESTART_BACKOFF_MS, restart_due, (void *)(uintptr_t)idx);
        restart_times[restart_pos] = now + RESTART_BACKOFF_MS;
        restart_pos = (restart_pos + 1) % RESTART_MAX;
        return;
    }
    restart_times[restart_pos] = now;
    restart_pos = (restart_pos + 1) % RESTART_MAX;
    start_worker(idx);
}

static size_t running_workers(void)
{
    size_t n = 0;
    for (size_t i = 0; i < nworkers; i++)
        if (workers[i].pid)
            n++;
    return n;
}

static void on_sigchld(struct event_loop *loop, void *arg)
{
    (void)loop; (void)arg;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        size_t idx = nworkers;
        for (size_t i = 0; i < nworkers; i++)
            if (workers[i].pid == pid)
                idx = i;
        if (idx == nworkers)
            continue;
        workers[idx].pid = 0;
        /* Nobody accepts from its sockets until the restart (at once, or
         * after a back-off): the other workers adopt them meanwhile. */
        if (slots)
            atomic_store(&slots[idx].beat, 0);
        limits_worker_exited((int)idx);
        spool_limits_worker_exited((int)idx);
        if (stopping)
            continue;
        if (WIFSIGNALED(status))
            log_err("worker %zu (pid %d) killed by signal %d (%s); restarting", idx, (int)pid, WTERMSIG(status),
                    strsignal(WTERMSIG(status)));
        else
            log_err("worker %zu (pid %d) exited with status %d; restarting", idx, (int)pid, WEXITSTATUS(status));
        schedule_restart(idx);
    }
    if (stopping && running_workers() == 0)
        event_loop_stop(mloop);
}

static void stop_timeout(struct event_loop *loop, void *arg)
{
    (void)loop; (void)arg;
    stop_timer = 0;
    for (size_t i = 0; i < nworkers; i++)
        if (workers[i].pid) {
            log_warn("worker %zu (pid %d) did not stop within %d s; killing it", i, (int)workers[i].pid,
                     STOP_TIMEOUT_MS / 1000);
            kill(workers[i].pid, SIGKILL);
        }
}

static void on_sigterm(struct event_loop *loop, void *arg)
{
    (void)loop; (void)arg;
    if (stopping)
        return;
    stopping = true;
    log_info("shutting down");
    for (size_t i = 0; i < nworkers; i++)
        if (workers[i].pid)
            kill(workers[i].pid, SIGTERM);
    if (running_workers() == 0) {
        event_loop_stop(mloop);
        return;
    }
    stop_timer = ev_timer_add(mloop, STOP_TIMEOUT_MS, stop_timeout, NULL);
}

static void on_sighup(struct event_loop *loop, void *arg)
{
    (void)loop; (void)arg;
    if (config_file) {
        char err[1024];
        struct config *c = daemon_load_config(config_file, err, sizeof(err));
        if (!c) {
            log_err("reload failed, keeping the running configuration: %s", err);
            return; /* workers keep theirs as well */
        }
        if (strcmp(cfg_str(c, CFG_LISTEN_IMAP), config_str(CFG_LISTEN_IMAP)) != 0 ||
            strcmp(cfg_str(c, CFG_LISTEN_IMAPS), config_str(CFG_LISTEN_IMAPS)) != 0 ||
            strcmp(cfg_str(c, CFG_LISTEN_POP3), config_str(CFG_LISTEN_POP3)) != 0 ||
            strcmp(cfg_str(c, CFG_LISTEN_POP3S), config_str(CFG_LISTEN_POP3S)) != 0 ||
            strcmp(cfg_str(c, CFG_LISTEN_LMTP), config_str(CFG_LISTEN_LMTP)) != 0 ||
            strcmp(cfg_str(c, CFG_LISTEN_SIEVE), config_str(CFG_LISTEN_SIEVE)) != 0 ||
            strcmp(cfg_str(c, CFG_DATADIR), config_str(CFG_DATADIR)) != 0 ||
            cfg_int(c, CFG_WORKERS) != config_int(CFG_WORKERS) || strcmp(cfg_str(c, CFG_USER), config_str(CFG_USER)))
            log_warn("reload: changes to listen_imap, listen_imaps, listen_pop3, listen_pop3s, listen_lmtp, listen_sieve, datadir, "
                     "workers "
                     "and user take effect "
                     "only after a restart");
        config_install(c);
        config_free_retired(); /* the master runs no jobs */
        daemon_setup_logging("master");
    }
    log_info("configuration reloaded");
    for (size_t i = 0; i < nworkers; i++)
        if (workers[i].pid)
            kill(workers[i].pid, SIGHUP);
}

int master_run(const char *file)
{
    config_file = file;
    /* Start-up (certificate, user database, binding) can take a moment; a
     * SIGTERM/SIGINT/SIGHUP arriving meanwhile must not kill us with the
     * default action. Blocked now, it stays pending and is read through
     * the signalfd below, taking the normal shutdown/reload path. */
    sigset_t early;
    sigemptyset(&early);
    sigaddset(&early, SIGTERM);
    sigaddset(&early, SIGINT);
    sigaddset(&early, SIGHUP);
    sigprocmask(SIG_BLOCK, &early, NULL);
    const char *dd = config_str(CFG_DATADIR);
    if (mkdir_p(dd, 0750) < 0) {
        log_err("cannot create datadir %s: %s", dd, strerror(errno));
        return EX_OS_ERR;
    }
    if (!tls_ticket_keys_init())
        log_warn("no shared TLS ticket keys: sessions resume only on the worker that issued them");
    if (!prepare_tls())
        return EX_CONFIG_ERR;
    int demo = prepare_users();
    if (demo < 0)
        return EX_OS_ERR;
    long n = config_int(CFG_WORKERS);
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    if (n > LIMITS_MAX_WORKERS)
        n = LIMITS_MAX_WORKERS;
    nworkers = (size_t)n;
    if (!bind_all())
        return EX_OS_ERR;
    if (!limits_init())
        return EX_OS_ERR;
    if (!spool_limits_init())
        return EX_OS_ERR;
    if (!drop_privileges())
        return EX_OS_ERR;

    signal(SIGPIPE, SIG_IGN);
    mloop = event_loop_new();
    if (!mloop)
        return EX_OS_ERR;
    if (ev_signal_add(mloop, SIGCHLD, on_sigchld, NULL) < 0 || ev_signal_add(mloop, SIGTERM, on_sigterm, NULL) < 0 ||
        ev_signal_add(mloop, SIGINT, on_sigterm, NULL) < 0 || ev_signal_add(mloop, SIGHUP, on_sighup, NULL) < 0) {
        log_err("signalfd: %s", strerror(errno));
        return EX_OS_ERR;
    }
    /* One wake fd per worker, inherited by all: a worker that evicts an
     * unauthenticated connection of another to admit a new one when the
     * server is full wakes the owner (connlimits.h). */
    if (!limits_init_wakeups(nworkers))
        log_warn("unauthenticated connections cannot be evicted when the server is full");
    if (nworkers > 1) {
        void *p = mmap(NULL, nworkers * sizeof(*slots), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            /* Each slot is then served by its own worker only. */
            log_warn("worker slot table: mmap: %s; a dead or stuck worker's connections wait for it",
                     strerror(errno));
        } else {
            slots = p;
            /* All in their start-up grace before the first fork. */
            for (size_t i = 0; i < nworkers; i++)
                atomic_init(&slots[i].beat, mono_ms());
        }
    }
    workers = xcalloc(nworkers, sizeof(*workers));
    for (size_t i = 0; i < nworkers; i++)
        start_worker(i);
    log_info("dariusd %s started: %zu worker%s, datadir %s", DARIUS_VERSION, nworkers, nworkers == 1 ? "" : "s",
             config_str(CFG_DATADIR));
    print_ready(demo == 1);

    event_loop_run(mloop);

    if (stop_timer)
        ev_timer_cancel(mloop, stop_timer);
    for (size_t i = 0; i < nlisteners; i++) {
        close(listeners[i].fd);
        if (listeners[i].is_unix && unlink(listeners[i].spec) < 0 && errno != ENOENT)
            log_warn("cannot remove %s: %s", listeners[i].spec, strerror(errno));
        free(listeners[i].spec);
    }
    free(listeners);
    free(workers);
    if (slots)
        munmap(slots, nworkers * sizeof(*slots));
    event_loop_free(mloop);
    log_info("stopped");
    return 0;
}
