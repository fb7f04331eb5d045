/* notify.c - cross-process "mailbox changed" hints (see notify.h).
 *
 * Datagram sockets rather than a broker process: no single point of
 * failure, no ordering or delivery guarantees needed (the database is the
 * truth; a lost hint only delays a session until its next command).
 */
#include "notify.h"
#include "storage.h"
#include "log.h"

#include <dirent.h>
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

void notify_listener_read(int fd, void (*cb)(const char *user, int64_t mailbox_id, void *arg), void *arg)
{
    char msg[512];
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
         * kick (NOTIFY_KICK_USER) and credential cache flush
         * (NOTIFY_AUTH_FLUSH). */
        if (errno || end == id || *end || (v <= 0 && v != NOTIFY_KICK_USER && v != NOTIFY_AUTH_FLUSH))
            continue;
        cb(msg, (int64_t)v, arg);
    }
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

/* One datagram "user\0id" to every listener socket in run/notify. */
static void send_all(const char *user, int64_t mailbox_id)
{
    char dirpath[4096];
    snprintf(dirpath, sizeof(dirpath), "%s/run/notify", storage_datadir());
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "%s%c%lld", user, '\0', (long long)mailbox_id);
    if (n <= 0 || (size_t)n >= sizeof(msg))
        return;
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
        if (sendto(g_send_fd, msg, (size_t)n, 0, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
            if (errno == ECONNREFUSED || errno == ENOENT) {
                unlink(sa->sun_path);   /* listener died: stale socket file */
                g_peers_valid = false;
            }
            /* EAGAIN: receiver queue full; drop, it catches up later */
        }
    }
    pthread_mutex_unlock(&g_send_mu);
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
