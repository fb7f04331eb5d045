/* notify.c - cross-process "mailbox changed" hints (see notify.h).
 *
 * Datagram sockets rather than a broker process: no single point of
 * failure, no ordering guarantees needed (the database is the truth). A
 * datagram a listener's full queue refuses is not lost silently: the
 * listener is sent a resync marker as soon as its queue has room
 * (pending_add, notify_retry_pending), and re-reads what it may have
 * missed.
 */
#include "notify.h"
#include "storage.h"
#include "log.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int g_fd = -1;
static char g_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static bool make_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return false;
    strcpy(sa->sun_path, path);
    return true;
}

int notify_listener_open(void)
{
    if (g_fd >= 0)
        return g_fd;
    char path[4096];
    snprintf(path, sizeof(path), "%s/run/notify/%d.sock", storage_datadir(), (int)getpid());
    struct sockaddr_un sa;
    if (!make_addr(&sa, path)) {
        log_err("notify: socket path too long: %s", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_err("notify: socket: %s", strerror(errno));
        return -1;
    }
    unlink(path);   /* a previous process with our pid died without cleanup */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        log_err("notify: bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    strcpy(g_path, sa.sun_path);
    g_fd = fd;
    return fd;
}

void notify_listener_close(void)
{
    if (g_fd < 0)
        return;
    close(g_fd);
    unlink(g_path);
    g_fd = -1;
    g_path[0] = '\0';
}

/* The largest datagram: a user name, an id, and for an event two mailbox
 * names (RENAME) or a name and up to NOTIFY_EXTRA_MAX octets of metadata
 * entry names, plus the actor. */
#define NOTIFY_MSG_MAX (NOTIFY_EXTRA_MAX + 2 * STORAGE_MAX_MAILBOX_NAME + 2048)

void notify_listener_read_ev(int fd,
                             void (*cb)(const char *user, int64_t mailbox_id, const struct notify_event *ev,
                                        void *arg),
                             void *arg)
{
    char msg[NOTIFY_MSG_MAX + 1];
    for (;;) {
        ssize_t n = recv(fd, msg, sizeof(msg) - 1, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;   /* EAGAIN: drained */
        }
        msg[n] = '\0';
        /* "user\0mailbox_id": anything malformed is ignored (the socket
         * directory is ours, but be strict anyway). */
        size_t ul = strnlen(msg, (size_t)n);
        if (ul == 0 || ul >= (size_t)n)
            continue;
        const char *id = msg + ul + 1;
        char *end;
        errno = 0;
        long long v = strtoll(id, &end, 10);
        /* Mailbox ids are positive; the negative values are the per-user
         * kick (NOTIFY_KICK_USER), credential cache flush
         * (NOTIFY_AUTH_FLUSH) and an event without a mailbox
         * (NOTIFY_EVENT_ONLY). */
        if (errno || end == id || *end ||
            (v <= 0 && v != NOTIFY_KICK_USER && v != NOTIFY_AUTH_FLUSH && v != NOTIFY_EVENT_ONLY &&
             v != NOTIFY_RESYNC_HINTS && v != NOTIFY_RESYNC_ALL))
            continue;
        if (v == NOTIFY_RESYNC_HINTS || v == NOTIFY_RESYNC_ALL) {
            /* a sender lost datagrams to us (its notify_lost marker) */
            cb(msg, (int64_t)v, NULL, arg);
            continue;
        }
        /* An event follows the id's NUL: "kind\0name\0extra\0actor". */
        const char *p = end + 1, *lim = msg + n;
        if (p >= lim) {
            if (v != NOTIFY_EVENT_ONLY)
                cb(msg, (int64_t)v, NULL, arg);
            continue;
        }
        const char *f[5] = {"", "", "", "", ""};
        int nf = 0;
        while (nf < 5 && p < lim) {
            f[nf++] = p;
            p += strnlen(p, (size_t)(lim - p)) + 1;
        }
        if (nf < 4 || v == NOTIFY_KICK_USER || v == NOTIFY_AUTH_FLUSH)
            continue;
        int kind = atoi(f[0]);
        if (kind < NOTIFY_EV_CREATE || kind > NOTIFY_EV_MAX_)
            continue;
        struct notify_event ev = {(enum notify_event_kind)kind, f[1], f[2], f[3], f[4]};
        cb(msg, (int64_t)v, &ev, arg);
    }
}

struct plain_cb {
    void (*cb)(const char *user, int64_t mailbox_id, void *arg);
    void *arg;
};

static void plain_one(const char *user, int64_t mailbox_id, const struct notify_event *ev, void *arg)
{
    (void)ev;
    const struct plain_cb *p = arg;
    if (mailbox_id != NOTIFY_EVENT_ONLY)
        p->cb(user, mailbox_id, p->arg);
}

void notify_listener_read(int fd, void (*cb)(const char *user, int64_t mailbox_id, void *arg), void *arg)
{
    struct plain_cb p = {cb, arg};
    notify_listener_read_ev(fd, plain_one, &p);
}

/* The listener sockets of run/notify, cached: every commit sends a hint,
 * and reading the directory and opening a socket for each one cost more
 * system calls than the commit's own statements. The list is read again
 * when the directory changes (a worker started, exited or was found dead)
 * and while a change is recent: a directory's mtime has the granularity of
 * the kernel's clock tick, so a socket bound in the same tick as the last
 * change we saw would not move it. One socket sends to all (datagrams to
 * unbound addresses; any thread). */
#define NOTIFY_RESCAN_NS 1000000000LL   /* a change this recent: read again */

static pthread_mutex_t g_send_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_send_fd = -1;
static struct sockaddr_un *g_peers;
static size_t g_npeers, g_cpeers;
static bool g_peers_valid;
static struct timespec g_dir_mtime;
static ino_t g_dir_ino;
static struct timespec g_scanned_at;

static long long ts_ns(const struct timespec *t) { return (long long)t->tv_sec * 1000000000LL + t->tv_nsec; }

static void rescan(const char *dirpath)
{
    g_npeers = 0;
    g_peers_valid = false;
    DIR *d = opendir(dirpath);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".sock") != 0)
            continue;
        char path[4096 + 256];
        snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
        struct sockaddr_un sa;
        if (!make_addr(&sa, path))
            continue;
        ARRAY_GROW(g_peers, g_npeers, g_cpeers);
        g_peers[g_npeers++] = sa;
    }
    closedir(d);
    g_peers_valid = true;
}

/* Datagrams a listener's full queue refused (EAGAIN: its worker's loop
 * has not read the max_dgram_qlen ones before them). They are not kept -
 * one may be 12 KiB, and the state they announce is in the database - but
 * the loss is: each such listener owes a marker (NOTIFY_RESYNC_*), sent
 * before the next datagram to it and retried by notify_retry_pending (the
 * worker's loop, on a timer, without waiting) until its queue has room
 * or it is gone. At most one marker per listener is pending, so this is
 * bounded by the number of listeners. */
#define NOTIFY_PENDING_MAX 256
struct pending_marker {
    struct sockaddr_un sa;
    bool events;                /* an event datagram was lost, not only hints */
};
static struct pending_marker g_pending[NOTIFY_PENDING_MAX];
static size_t g_npending;
static atomic_bool g_any_pending;
static bool g_async_retry;      /* a loop calls notify_retry_pending */
static unsigned long g_lost_total;

static size_t pending_find(const struct sockaddr_un *sa)
{
    for (size_t i = 0; i < g_npending; i++)
        if (strcmp(g_pending[i].sa.sun_path, sa->sun_path) == 0)
            return i;
    return SIZE_MAX;
}

static void pending_drop(size_t i)
{
    g_pending[i] = g_pending[--g_npending];
    atomic_store(&g_any_pending, g_npending > 0);
}

/* The datagram was refused: remember that this listener lost one. (With
 * the table full - hundreds of dead-slow listeners - the oldest entry's
 * marker becomes an "everything" marker for the newcomer's slot; a
 * listener is never forgotten while it is owed one.) */
static void pending_add(const struct sockaddr_un *sa, bool events)
{
    g_lost_total++;
    size_t i = pending_find(sa);
    if (i == SIZE_MAX) {
        if (g_npending == NOTIFY_PENDING_MAX) {
            log_warn("notify: %d listeners owe a lost-notification marker; forgetting %s", NOTIFY_PENDING_MAX,
                     g_pending[0].sa.sun_path);
            pending_drop(0);
        }
        i = g_npending++;
        g_pending[i].sa = *sa;
        g_pending[i].events = false;
    }
    g_pending[i].events |= events;
    atomic_store(&g_any_pending, true);
}

/* Try to send listener i its marker; true when it need no longer be
 * retried (sent, or the listener is gone). Caller holds g_send_mu. */
static bool pending_try(size_t i)
{
    char msg[32];
    int n = snprintf(msg, sizeof(msg), "-%c%d", '\0',
                     g_pending[i].events ? NOTIFY_RESYNC_ALL : NOTIFY_RESYNC_HINTS);
    struct sockaddr_un *sa = &g_pending[i].sa;
    /* sendto returns the octets sent; errno only means something when it
     * failed (a stale ECONNREFUSED must not count, nor a success as a
     * failure: the marker would be re-sent every few milliseconds) */
    ssize_t r = sendto(g_send_fd, msg, (size_t)n, 0, (struct sockaddr *)sa, sizeof(*sa));
    if (r == (ssize_t)n)
        return true;
    return r < 0 && (errno == ECONNREFUSED || errno == ENOENT);
}

/* one pass over the pending markers; caller holds g_send_mu */
static void pending_pass(void)
{
    for (size_t i = 0; i < g_npending;) {
        if (pending_try(i))
            pending_drop(i);
        else
            i++;
    }
}

bool notify_retry_pending(void)
{
    if (!atomic_load(&g_any_pending))
        return false;
    pthread_mutex_lock(&g_send_mu);
    if (g_send_fd >= 0)
        pending_pass();
    bool left = g_npending > 0;
    pthread_mutex_unlock(&g_send_mu);
    return left;
}

bool notify_retry_wanted(void)
{
    return atomic_load(&g_any_pending);
}

void notify_set_async_retry(bool on)
{
    g_async_retry = on;
}

unsigned long notify_lost_count(void)
{
    pthread_mutex_lock(&g_send_mu);
    unsigned long n = g_lost_total;
    pthread_mutex_unlock(&g_send_mu);
    return n;
}

static _Thread_local char t_origin[NOTIFY_ORIGIN_MAX];

void notify_set_origin(const char *origin)
{
    snprintf(t_origin, sizeof(t_origin), "%s", origin ? origin : "");
}

/* One datagram "user\0id" (ev: and the event after it) to every listener
 * socket in run/notify. */
static void send_all_ev(const char *user, int64_t mailbox_id, const struct notify_event *ev)
{
    char dirpath[4096];
    snprintf(dirpath, sizeof(dirpath), "%s/run/notify", storage_datadir());
    char msg[NOTIFY_MSG_MAX];
    int n = snprintf(msg, sizeof(msg), "%s%c%lld", user, '\0', (long long)mailbox_id);
    if (n <= 0 || (size_t)n >= sizeof(msg))
        return;
    if (ev) {
        int m = snprintf(msg + n + 1, sizeof(msg) - (size_t)n - 1, "%d%c%s%c%s%c%s%c%s", (int)ev->kind, '\0',
                         ev->name ? ev->name : "", '\0', ev->extra ? ev->extra : "", '\0',
                         ev->actor ? ev->actor : "", '\0', t_origin);
        if (m <= 0 || (size_t)m >= sizeof(msg) - (size_t)n - 1)
            return;
        n += 1 + m + 1;   /* the id's NUL, the fields, the last NUL */
    }
    struct stat st;
    if (stat(dirpath, &st) < 0)
        return;
    pthread_mutex_lock(&g_send_mu);
    if (g_send_fd < 0)
        g_send_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (g_send_fd < 0) {
        pthread_mutex_unlock(&g_send_mu);
        return;
    }
    if (!g_peers_valid || st.st_ino != g_dir_ino || ts_ns(&st.st_mtim) != ts_ns(&g_dir_mtime) ||
        ts_ns(&g_scanned_at) - ts_ns(&st.st_mtim) < NOTIFY_RESCAN_NS) {
        clock_gettime(CLOCK_REALTIME, &g_scanned_at);
        g_dir_ino = st.st_ino;
        g_dir_mtime = st.st_mtim;
        rescan(dirpath);
    }
    for (size_t i = 0; i < g_npeers; i++) {
        struct sockaddr_un *sa = &g_peers[i];
        /* a listener owed a marker gets it first: a datagram must not
         * get through while the loss before it is still unannounced */
        size_t pi = g_npending ? pending_find(sa) : SIZE_MAX;
        if (pi != SIZE_MAX) {
            if (!pending_try(pi)) {
                g_pending[pi].events |= ev != NULL;
                g_lost_total++;
                continue;
            }
            pending_drop(pi);
        }
        if (sendto(g_send_fd, msg, (size_t)n, 0, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
            if (errno == ECONNREFUSED || errno == ENOENT) {
                unlink(sa->sun_path);   /* listener died: stale socket file */
                g_peers_valid = false;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == ENOMEM) {
                /* its queue is full: never wait (this may be a loop);
                 * the listener is told of the loss instead */
                pending_add(sa, ev != NULL);
            }
        }
    }
    /* A process without a loop to retry (the CLI: darius deliver and
     * friends) may wait, a little, for the listeners to read. */
    for (int k = 0; !g_async_retry && g_npending && k < 2000; k++) {
        pending_pass();
        if (!g_npending)
            break;
        pthread_mutex_unlock(&g_send_mu);
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&g_send_mu);
    }
    pthread_mutex_unlock(&g_send_mu);
}

static void send_all(const char *user, int64_t mailbox_id)
{
    send_all_ev(user, mailbox_id, NULL);
}

void notify_mailbox_event(const char *user, int64_t mailbox_id, const struct notify_event *ev)
{
    if (!user || !ev || (mailbox_id <= 0 && mailbox_id != NOTIFY_EVENT_ONLY))
        return;
    send_all_ev(user, mailbox_id, ev);
}

void notify_mailbox_changed(const char *user, int64_t mailbox_id)
{
    if (mailbox_id <= 0)
        return;   /* not a mailbox: never let a bad id turn into a kick */
    send_all(user, mailbox_id);
}

/* A kick is only a request: the process that moves/renames/deletes the
 * store still waits for the store lock (partition.c) and repeats the kick
 * while it waits, so a lost datagram (full queue, listener started just
 * after the send) only delays it. */
static void (*local_kick_hook)(const char *user);
static pthread_t local_kick_thread;   /* the thread that registered it */

void notify_set_local_kick_hook(void (*hook)(const char *user))
{
    local_kick_hook = hook;
    local_kick_thread = pthread_self();
}

bool notify_user_kick(const char *user)
{
    if (!user || !*user)
        return true;
    /* This process's own sessions first, synchronously, when the caller
     * is the event loop itself: it is about to block waiting for the
     * store lock, so a datagram to ourselves would only be read after
     * the wait had timed out. From a pool thread the hook must not run
     * (sessions belong to the loop); the loop is free and closes them
     * when the datagram below arrives. */
    bool sync = true;
    if (local_kick_hook) {
        if (pthread_equal(pthread_self(), local_kick_thread))
            local_kick_hook(user);
        else
            sync = false;
    }
    send_all(user, NOTIFY_KICK_USER);
    return sync;
}

void notify_auth_flush(const char *user)
{
    if (user && *user)
        send_all(user, NOTIFY_AUTH_FLUSH);
}
