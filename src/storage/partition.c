/* partition.c - where stores live, and moving/renaming/deleting them
 * while the server runs.
 *
 * Locations. Partition "default" is DATADIR itself: a user's store is
 * DATADIR/user/<c>/<name> (the layout Darius always had, so existing
 * stores need nothing). Any other partition is a "partition-NAME: PATH"
 * config line: PATH/user/<c>/<name>. A "partition-default" line is
 * ignored: "default" is always DATADIR, otherwise changing the config
 * would silently orphan every existing store. Shared stores ("%shared",
 * "%shared@DOMAIN") live in DATADIR/shared/<DOMAIN or "%"> and never
 * move.
 *
 * DATADIR/stores.db (SQLite, WAL, synchronous=FULL) has one row per store
 * that is not on the default partition or that is in the middle of an
 * operation:
 *     store(name PRIMARY KEY, partition, state, target, pid, since)
 * No row means: default partition, state normal. The recorded partition
 * is always the truth about where the store is.
 *   state normal     nothing going on
 *         moving     being copied to partition `target`
 *         cleanup    switched to `partition`; the old copy on `target`
 *                    is being removed
 *         renaming   being renamed to `target` (which has a row "reserved")
 *         reserved   placeholder for the new name of a rename
 *         deleting   being removed
 * Any state but normal makes mail_user_open answer STORAGE_ERR_BUSY.
 *
 * The store lock. Every process holding a store open has a shared flock
 * on DATADIR/run/lock/<name>.lock (taken with LOCK_NB: an opener never
 * waits behind a move; it gets BUSY). An operation (move, rename, delete)
 *   1. marks the store busy in stores.db (one transaction, which also
 *      checks nobody else's operation is running: the state is the mutex),
 *   2. kicks the user's sessions in every process (notify_user_kick),
 *   3. waits, bounded, for the exclusive flock, repeating the kick every
 *      second (a session may have opened the store just before step 1
 *      and missed the first kick); on timeout the mark is cleared and the
 *      answer is BUSY,
 *   4. does the work holding the exclusive lock, records the result in
 *      stores.db, clears the mark, then drops the lock.
 * An opener takes the shared lock first and reads the state second, so it
 * either sees the mark (and backs off) or holds the lock the operation
 * waits for. Lock files are never removed: unlinking a lock file that
 * someone may have just opened breaks mutual exclusion, and an empty file
 * per ever-existing store costs nothing.
 *
 * Crash safety of a move (the only long operation). Crash points:
 *   a. before/while marking: the row is unchanged or says moving.
 *   b. while copying: PATH/user/<c>/.<name>.moving holds a partial copy;
 *      the final target name does not exist yet (the copy is renamed into
 *      place only once every file and directory is fsync'd).
 *   c. after the rename into place, before the switch: the target is
 *      complete but stores.db still records the old partition.
 *   d. after the switch (partition=new, state cleanup, target=old):
 *      both copies exist; the new one is the truth.
 *   e. while removing the old copy: a partial old copy remains.
 * Recovery (storage_partitions_recover at startup, or lazily when an open
 * or a new operation finds a mark whose process is dead) trusts the
 * recorded partition: for "moving" (a-c) it discards the temporary and
 * the target copy, for "cleanup" (d-e) it removes what is left of the old
 * copy; then it clears the mark. Nothing the store's owner wrote is lost
 * at any point: no writer can exist while the exclusive lock is held, and
 * the copy that stores.db names is always complete.
 * Rename is one rename(2); recovery looks at which directory exists.
 * A delete that crashed is completed (the operator asked for it).
 */
#include "partition.h"
#include "storage-private.h"
#include "notify.h"
#include "config.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS_DEFAULT 30000
#define KICK_EVERY_MS 1000
#define POLL_MS 20
#define COPY_MAX_DEPTH 8    /* a store is msg/<xx>/<guid>: depth 2 */

static int g_wait_ms = WAIT_MS_DEFAULT;

void storage_set_store_wait_ms(int ms) { g_wait_ms = ms > 0 ? ms : WAIT_MS_DEFAULT; }

/* ---- small file helpers -------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static bool same_inode(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int fsync_parent(const char *path)
{
    char *p = xstrdup(path);
    char *slash = strrchr(p, '/');
    int r = 0;
    if (slash && slash != p) {
        *slash = '\0';
        r = msgfile_fsync_dir(p);
    }
    free(p);
    return r;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
    if (r < 0 && errno != ENOENT) {
        log_warn("storage: cannot remove %s: %s", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* Remove a directory tree (absent is fine); fsync the parent so the
 * removal is durable before stores.db says it happened. */
static int rm_tree(const char *path)
{
    if (!exists(path))
        return 0;
    int r = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (r != 0 || exists(path))
        return -1;
    fsync_parent(path);
    return 0;
}

static int copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return -1;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    int r = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -1;
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                r = -1;
                break;
            }
            off += w;
        }
        if (r < 0)
            break;
    }
    if (r == 0 && fsync(out) < 0)
        r = -1;
    int e = errno;
    close(in);
    if (close(out) < 0 && r == 0)
        r = -1;
    errno = e;
    return r;
}

/* Copy regular files and directories (a store has nothing else; anything
 * else is skipped with a warning). The SQLite -shm file is not copied: it
 * is a rebuildable index of the -wal, and no connection is open. Every
 * file and directory is fsync'd. */
static int copy_tree(const char *src, const char *dst, int depth)
{
    if (depth > COPY_MAX_DEPTH) {
        log_err("storage: move: %s: too deep", src);
        return -1;
    }
    if (mkdir(dst, 0700) < 0 && errno != EEXIST)
        return -1;
    DIR *d = opendir(src);
    if (!d)
        return -1;
    int r = 0;
    struct dirent *de;
    while (r == 0 && (errno = 0, de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        size_t l = strlen(n);
        if (l > 4 && strcmp(n + l - 4, "-shm") == 0)
            continue;
        char *sp = xasprintf("%s/%s", src, n);
        char *dp = xasprintf("%s/%s", dst, n);
        struct stat st;
        if (lstat(sp, &st) < 0)
            r = -1;
        else if (S_ISDIR(st.st_mode))
            r = copy_tree(sp, dp, depth + 1);
        else if (S_ISREG(st.st_mode))
            r = copy_file(sp, dp);
        else
            log_warn("storage: move: skipping %s (not a file or directory)", sp);
        if (r < 0)
            log_err("storage: move: copy %s -> %s: %s", sp, dp, strerror(errno));
        free(sp);
        free(dp);
    }
    if (r == 0 && errno != 0)
        r = -1;
    closedir(d);
    if (r == 0 && msgfile_fsync_dir(dst) < 0)
        r = -1;
    return r;
}

/* ---- names and locations ------------------------------------------------- */

static bool is_shared(const char *name) { return name[0] == '%'; }

static const char *default_partition(void)
{
    const char *d = config_str(CFG_DEFAULTPARTITION);
    return *d ? d : "default";
}

static bool partition_known(const char *part)
{
    return part && (strcmp(part, "default") == 0 || config_partition(part) != NULL);
}

static const char *partition_root(const char *part)
{
    if (strcmp(part, "default") == 0)
        return storage_datadir();
    return config_partition(part);
}

char *partition_store_dir(const char *name, const char *part)
{
    if (is_shared(name)) {
        if (strcmp(part, "default") != 0)
            return NULL;
        const char *dom = name[7] == '@' ? name + 8 : "%";
        return xasprintf("%s/shared/%s", storage_datadir(), dom);
    }
    const char *root = partition_root(part);
    if (!root)
        return NULL;
    return xasprintf("%s/user/%c/%s", root, name[0], name);
}

/* Where a move builds its copy before renaming it into place. Store names
 * never start with '.', so this can never be a store. */
static char *partition_tmp_dir(const char *name, const char *part)
{
    const char *root = partition_root(part);
    if (!root || is_shared(name))
        return NULL;
    return xasprintf("%s/user/%c/.%s.moving", root, name[0], name);
}

/* ---- stores.db ----------------------------------------------------------- */

/* Threads: a worker's event loop opens and closes stores while a job on
 * the pool (jobs.h) may run an account operation (an admin's IMAP
 * DELETE or RENAME of an account) or open stores of its own. g_mu guards
 * the process-wide state of this file - the stores.db connection, the
 * list of held stores (g_held) and of this process's running operations
 * (g_ops) - for each database transaction or list access: short
 * critical sections, never held across a wait for another process, a
 * kick, or a copy. Recursive, because an open recovers a stale mark
 * under it. */
static pthread_mutex_t g_mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
#define LOCK() pthread_mutex_lock(&g_mu)
#define UNLOCK() pthread_mutex_unlock(&g_mu)

/* One connection per process, reopened after fork (a SQLite connection
 * must never be used across fork: the child forgets the parent's handle
 * without closing it) or when the data directory changes (tests). */
static sqlite3 *g_db;
static pid_t g_db_pid;
static char *g_db_path;

static sqlite3 *db_get(void)
{
    if (!storage_datadir()[0])
        return NULL;   /* storage_init not called: never touch "/stores.db" */
    char *path = xasprintf("%s/stores.db", storage_datadir());
    if (g_db && g_db_pid == getpid() && strcmp(path, g_db_path) == 0) {
        free(path);
        return g_db;
    }
    if (g_db && g_db_pid == getpid())
        sqlite3_close(g_db);
    g_db = NULL;
    free(g_db_path);
    g_db_path = NULL;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_err("storage: open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        free(path);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    rc = sqlite3_exec(db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                      "CREATE TABLE IF NOT EXISTS store(name TEXT PRIMARY KEY, partition TEXT NOT NULL,"
                      " state TEXT NOT NULL DEFAULT 'normal', target TEXT, pid INTEGER, since INTEGER);",
                      NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        log_err("storage: %s: %s", path, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
        free(path);
        return NULL;
    }
    g_db = db;
    g_db_pid = getpid();
    g_db_path = path;
    return db;
}

static int db_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        log_err("storage: stores.db: %s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        return sqlite3_errcode(db) == SQLITE_BUSY ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
    }
    return 0;
}

static int db_begin(sqlite3 *db) { return db_exec(db, "BEGIN IMMEDIATE"); }
static int db_commit(sqlite3 *db) { return db_exec(db, "COMMIT"); }
static void db_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

struct store_row {
    bool found;
    char partition[72];
    char state[16];
    char target[300];
    long long pid;
};

static int row_get(sqlite3 *db, const char *name, struct store_row *row)
{
    memset(row, 0, sizeof(*row));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT partition,state,coalesce(target,''),coalesce(pid,0) FROM store WHERE name=?",
                           -1, &st, NULL) != SQLITE_OK) {
        log_err("storage: stores.db: %s", sqlite3_errmsg(db));
        return STORAGE_ERR_IO;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = 0;
    if (rc == SQLITE_ROW) {
        row->found = true;
        snprintf(row->partition, sizeof(row->partition), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(row->state, sizeof(row->state), "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(row->target, sizeof(row->target), "%s", (const char *)sqlite3_column_text(st, 2));
        row->pid = sqlite3_column_int64(st, 3);
    } else if (rc != SQLITE_DONE) {
        log_err("storage: stores.db: %s", sqlite3_errmsg(db));
        r = rc == SQLITE_BUSY ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
    }
    sqlite3_finalize(st);
    return r;
}

static int row_put(sqlite3 *db, const char *name, const char *part, const char *state, const char *target)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO store(name,partition,state,target,pid,since) "
                               "VALUES(?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK) {
        log_err("storage: stores.db: %s", sqlite3_errmsg(db));
        return STORAGE_ERR_IO;
    }
    bool busy = strcmp(state, "normal") != 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, part, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
    if (target)
        sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC);
    if (busy) {
        sqlite3_bind_int64(st, 5, (sqlite3_int64)getpid());
        sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_err("storage: stores.db: %s", sqlite3_errmsg(db));
        return STORAGE_ERR_IO;
    }
    return 0;
}

static int row_del(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM store WHERE name=?", -1, &st, NULL) != SQLITE_OK)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : STORAGE_ERR_IO;
}

/* Back to "normal" on partition part: no row at all for the default one. */
static int row_settle(sqlite3 *db, const char *name, const char *part)
{
    if (strcmp(part, "default") == 0)
        return row_del(db, name);
    return row_put(db, name, part, "normal", NULL);
}

static int settle_commit(const char *name, const char *part)
{
    LOCK();
    sqlite3 *db = db_get();
    if (!db) {
        UNLOCK();
        return STORAGE_ERR_IO;
    }
    int r = db_begin(db);
    if (r == 0)
        r = row_settle(db, name, part);
    if (r == 0)
        r = db_commit(db);
    if (r < 0)
        db_rollback(db);
    UNLOCK();
    return r;
}

/* Stores with an operation (move, rename, delete) running in this
 * process, on any thread: their marks carry our pid but are not stale. */
struct op_name {
    char *name;
    struct op_name *next;
};
static struct op_name *g_ops;

static void ops_add(const char *name)
{
    struct op_name *o = xcalloc(1, sizeof(*o));
    o->name = xstrdup(name);
    LOCK();
    o->next = g_ops;
    g_ops = o;
    UNLOCK();
}

static void ops_del(const char *name)
{
    LOCK();
    for (struct op_name **pp = &g_ops; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            struct op_name *o = *pp;
            *pp = o->next;
            free(o->name);
            free(o);
            break;
        }
    }
    UNLOCK();
}

static bool op_running_here(const char *name)
{
    LOCK();
    bool found = false;
    for (struct op_name *o = g_ops; o && !found; o = o->next)
        found = strcmp(o->name, name) == 0;
    UNLOCK();
    return found;
}

static bool row_busy(const struct store_row *row) { return row->found && strcmp(row->state, "normal") != 0; }

/* The process that set the mark is gone. This process counts as gone
 * too unless one of its threads is running an operation on the store
 * (g_ops: an account operation in a job while the loop opens stores);
 * otherwise one that failed to clear its mark left it behind. */
static bool row_stale(const char *name, const struct store_row *row)
{
    if (row->pid <= 0)
        return true;
    if ((pid_t)row->pid == getpid())
        return !op_running_here(name);
    return kill((pid_t)row->pid, 0) < 0 && errno == ESRCH;
}

/* ---- the store lock ------------------------------------------------------- */

/* Stores open in this process (their lock fds), to refuse operations on
 * them at once instead of waiting for ourselves. */
struct held {
    char *name;
    int fd;
    struct held *next;
};
static struct held *g_held;

static bool held_here(const char *name)
{
    LOCK();
    bool found = false;
    for (struct held *h = g_held; h && !found; h = h->next)
        found = strcmp(h->name, name) == 0;
    UNLOCK();
    return found;
}

static int lock_open(const char *name)
{
    if (!storage_datadir()[0])
        return -1;
    char *dir = xasprintf("%s/run/lock", storage_datadir());
    char *path = xasprintf("%s/%s.lock", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == ENOENT && msgfile_mkdirs(dir) == 0)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        log_err("storage: lock %s: %s", path, strerror(errno));
    free(dir);
    free(path);
    return fd;
}

/* flock without waiting; 1 taken, 0 held by someone else, <0 error. */
static int try_flock(int fd, int op)
{
    for (;;) {
        if (flock(fd, op | LOCK_NB) == 0)
            return 1;
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK ? 0 : -1;
    }
}

/* Step 2-3 of the protocol: kick the user's sessions everywhere and wait,
 * bounded, for every process to close the store. Polling is deliberate:
 * the holders are other processes; there is nothing to wait on but the
 * lock itself, and a blocking flock could not be bounded. */
static int wait_exclusive(const char *name, int *fd_out)
{
    *fd_out = -1;
    int fd = lock_open(name);
    if (fd < 0)
        return STORAGE_ERR_IO;
    long long deadline = now_ms() + g_wait_ms, last_kick = 0;
    for (;;) {
        int t = try_flock(fd, LOCK_EX);
        if (t == 1) {
            *fd_out = fd;
            return 0;
        }
        if (t < 0) {
            log_err("storage: flock %s: %s", name, strerror(errno));
            close(fd);
            return STORAGE_ERR_IO;
        }
        long long now = now_ms();
        if (now >= deadline) {
            log_warn("storage: %s: still open elsewhere after %d ms, giving up", name, g_wait_ms);
            close(fd);
            return STORAGE_ERR_BUSY;
        }
        if (last_kick == 0 || now - last_kick >= KICK_EVERY_MS) {
            notify_user_kick(name);
            last_kick = now;
        }
        sleep_ms(POLL_MS);
    }
}

/* Is the store still open in this process after asking our own sessions
 * to let go of it? notify_user_kick first runs the process's local kick
 * hook (notify.h), which closes this process's sessions of the user
 * synchronously when the caller is the event loop itself; without a hook
 * (the CLI) or with a handle the caller itself still holds, the store
 * stays open here and the answer is BUSY - waiting for ourselves would
 * only time out. An operation run as a job on the pool (an admin's IMAP
 * DELETE or RENAME of an account, jobs.h) cannot close the loop's
 * sessions itself: the loop, which stays free, closes them when it reads
 * the kick datagram, so here we wait for that, bounded like the wait for
 * other processes and kicking again every second (a datagram may be
 * dropped). The kick also tells the other processes, as step 2 would. */
static bool still_held_here(const char *name)
{
    if (!held_here(name))
        return false;
    if (notify_user_kick(name))
        return held_here(name);
    long long start = now_ms(), last_kick = start;
    while (held_here(name)) {
        long long now = now_ms();
        if (now - start >= g_wait_ms)
            return true;
        if (now - last_kick >= KICK_EVERY_MS) {
            notify_user_kick(name);
            last_kick = now;
        }
        sleep_ms(POLL_MS);
    }
    return false;
}

/* ---- recovery ------------------------------------------------------------ */

static int recover_store(const char *name, int depth);

/* Finish or undo the interrupted operation on one store whose mark is
 * stale. Needs the exclusive lock (never waits for it). */
static int recover_locked(sqlite3 *db, const char *name, const struct store_row *row, int depth)
{
    const char *st = row->state;
    int r = 0;
    if (strcmp(st, "moving") == 0 || strcmp(st, "cleanup") == 0) {
        /* partition = truth; target = the other copy to discard. */
        char *cur = partition_store_dir(name, row->partition);
        char *other = partition_known(row->target) ? partition_store_dir(name, row->target) : NULL;
        char *tmp = partition_known(row->target) ? partition_tmp_dir(name, row->target) : NULL;
        if (tmp && rm_tree(tmp) < 0)
            r = STORAGE_ERR_IO;
        if (other && cur && !same_inode(cur, other) && rm_tree(other) < 0)
            r = STORAGE_ERR_IO;
        if (!cur)
            log_err("storage: %s: recorded partition %s is not configured", name, row->partition);
        free(cur);
        free(other);
        free(tmp);
        log_info("storage: %s: recovered an interrupted move (%s), store is on partition %s", name, st,
                 row->partition);
        if (r == 0)
            r = settle_commit(name, row->partition);
    } else if (strcmp(st, "renaming") == 0) {
        char *oldd = partition_store_dir(name, row->partition);
        char *newd = storage_valid_username(row->target) ? partition_store_dir(row->target, row->partition) : NULL;
        if (!oldd || !newd) {
            r = STORAGE_ERR_IO;
        } else if (r = db_begin(db), r == 0) {
            if (is_dir(oldd) || !is_dir(newd)) {
                /* rename(2) did not happen: undo */
                struct store_row nr;
                if (row_get(db, row->target, &nr) == 0 && nr.found && strcmp(nr.state, "reserved") == 0)
                    r = row_del(db, row->target);
                if (r == 0)
                    r = row_settle(db, name, row->partition);
                log_info("storage: %s: undid an interrupted rename to %s", name, row->target);
            } else {
                r = row_del(db, name);
                if (r == 0)
                    r = row_settle(db, row->target, row->partition);
                log_info("storage: %s: completed an interrupted rename to %s", name, row->target);
            }
            if (r == 0)
                r = db_commit(db);
            if (r < 0)
                db_rollback(db);
        }
        free(oldd);
        free(newd);
    } else if (strcmp(st, "reserved") == 0) {
        /* Belongs to a rename: recover that one, which settles this row. */
        const char *from = row->target;
        struct store_row fr;
        if (storage_valid_username(from) && depth == 0 && row_get(db, from, &fr) == 0 && fr.found &&
            strcmp(fr.state, "renaming") == 0 && strcmp(fr.target, name) == 0)
            return recover_store(from, depth + 1);
        r = row_del(db, name);   /* orphan placeholder: no store behind it */
    } else if (strcmp(st, "deleting") == 0) {
        char *dir = partition_store_dir(name, row->partition);
        if (dir && rm_tree(dir) < 0)
            r = STORAGE_ERR_IO;
        free(dir);
        if (r == 0) {
            r = row_del(db, name);
            log_info("storage: %s: completed an interrupted delete", name);
        }
    } else {
        log_err("storage: %s: unknown state \"%s\" in stores.db", name, st);
        r = STORAGE_ERR_IO;
    }
    return r;
}

/* 0 when the store is (now) normal; BUSY when its operation is alive.
 * Called with g_mu held. */
static int recover_store(const char *name, int depth)
{
    sqlite3 *db = db_get();
    if (!db)
        return STORAGE_ERR_IO;
    int fd = lock_open(name);
    if (fd < 0)
        return STORAGE_ERR_IO;
    int t = try_flock(fd, LOCK_EX);
    if (t != 1) {
        close(fd);
        return t == 0 ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
    }
    struct store_row row;
    int r = row_get(db, name, &row);
    if (r == 0 && row_busy(&row))
        r = row_stale(name, &row) ? recover_locked(db, name, &row, depth) : STORAGE_ERR_BUSY;
    close(fd);
    return r;
}

static int partitions_recover(void);

int storage_partitions_recover(void)
{
    LOCK();
    int r = partitions_recover();
    UNLOCK();
    return r;
}

static int partitions_recover(void)
{
    sqlite3 *db = db_get();
    if (!db)
        return STORAGE_ERR_IO;
    char **names = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT name FROM store WHERE state<>'normal'", -1, &st, NULL) != SQLITE_OK)
        return STORAGE_ERR_IO;
    while (sqlite3_step(st) == SQLITE_ROW) {
        ARRAY_GROW(names, n, cap);
        names[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    int done = 0;
    for (size_t i = 0; i < n; i++) {
        struct store_row row;
        /* A rename's "reserved" row may have been settled already. */
        if (row_get(db, names[i], &row) == 0 && row_busy(&row) && recover_store(names[i], 0) == 0)
            done++;
        free(names[i]);
    }
    free(names);
    return done;
}

/* Mark a store busy for an operation (step 1). Finds stale marks and
 * recovers them first. *row gets the store's row as it was. */
static int mark_busy(sqlite3 *db, const char *name, const char *state, const char *target,
                     struct store_row *row)
{
    for (int attempt = 0;; attempt++) {
        int r = db_begin(db);
        if (r < 0)
            return r;
        r = row_get(db, name, row);
        if (r == 0 && row_busy(row)) {
            db_rollback(db);
            if (attempt == 0 && row_stale(name, row) && recover_store(name, 0) == 0)
                continue;
            return STORAGE_ERR_BUSY;
        }
        const char *part = row->found ? row->partition : "default";
        char *dir = r == 0 ? partition_store_dir(name, part) : NULL;
        if (r == 0 && !dir) {
            log_err("storage: %s: recorded partition %s is not configured", name, part);
            r = STORAGE_ERR_IO;
        } else if (r == 0 && !is_dir(dir)) {
            r = STORAGE_ERR_NOTFOUND;
        }
        free(dir);
        if (r == 0)
            r = row_put(db, name, part, state, target);
        if (r == 0)
            return 0;   /* transaction left open: caller adds to it and commits */
        db_rollback(db);
        return r;
    }
}

/* ---- open ------------------------------------------------------------------ */

static int store_acquire(const char *name, bool create, char **dir_out, int *lockfd);

int partition_store_check(const char *name)
{
    LOCK();
    sqlite3 *db = db_get();
    int r = db ? STORAGE_OK : STORAGE_ERR_IO;
    struct store_row row;
    if (r == 0 && (r = row_get(db, name, &row)) == 0 && row_busy(&row))
        r = STORAGE_ERR_BUSY;
    UNLOCK();
    return r;
}

int partition_store_acquire(const char *name, bool create, char **dir_out, int *lockfd)
{
    LOCK();
    int r = store_acquire(name, create, dir_out, lockfd);
    UNLOCK();
    return r;
}

static int store_acquire(const char *name, bool create, char **dir_out, int *lockfd)
{
    *dir_out = NULL;
    *lockfd = -1;
    sqlite3 *db = db_get();
    if (!db)
        return STORAGE_ERR_IO;
    for (int attempt = 0;; attempt++) {
        int fd = lock_open(name);
        if (fd < 0)
            return STORAGE_ERR_IO;
        int t = try_flock(fd, LOCK_SH);
        if (t != 1) {
            close(fd);
            return t == 0 ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
        }
        struct store_row row;
        int r = row_get(db, name, &row);
        if (r == 0 && row_busy(&row)) {
            close(fd);
            if (attempt == 0 && row_stale(name, &row) && recover_store(name, 0) == 0)
                continue;
            return STORAGE_ERR_BUSY;
        }
        if (r == 0 && !row.found && create && !is_shared(name)) {
            /* A new store goes to defaultpartition, unless it already
             * exists on the default one (every store made before
             * partitions existed). */
            const char *dp = default_partition();
            char *ddir = partition_store_dir(name, "default");
            if (strcmp(dp, "default") != 0 && !is_dir(ddir)) {
                if (!partition_known(dp)) {
                    log_err("storage: defaultpartition %s is not configured", dp);
                    r = STORAGE_ERR_INVALID;
                } else if ((r = db_begin(db)) == 0) {
                    r = row_get(db, name, &row);
                    if (r == 0 && !row.found) {
                        r = row_put(db, name, dp, "normal", NULL);
                        if (r == 0)
                            r = row_get(db, name, &row);
                    }
                    if (r == 0)
                        r = db_commit(db);
                    if (r < 0)
                        db_rollback(db);
                }
            }
            free(ddir);
        }
        char *dir = NULL;
        if (r == 0) {
            const char *part = row.found ? row.partition : "default";
            dir = partition_store_dir(name, part);
            if (!dir) {
                log_err("storage: %s: recorded partition %s is not configured", name, part);
                r = STORAGE_ERR_IO;
            }
        }
        if (r < 0) {
            close(fd);
            return r;
        }
        struct held *h = xcalloc(1, sizeof(*h));
        h->name = xstrdup(name);
        h->fd = fd;
        h->next = g_held;
        g_held = h;
        *dir_out = dir;
        *lockfd = fd;
        return 0;
    }
}

void partition_store_release(int lockfd)
{
    if (lockfd < 0)
        return;
    LOCK();
    for (struct held **pp = &g_held; *pp; pp = &(*pp)->next) {
        if ((*pp)->fd == lockfd) {
            struct held *h = *pp;
            *pp = h->next;
            free(h->name);
            free(h);
            break;
        }
    }
    UNLOCK();
    close(lockfd);   /* drops the shared flock */
}

/* ---- public API ------------------------------------------------------------ */

int mail_user_create(const char *username, const char *partition)
{
    if (!storage_datadir()[0])
        return STORAGE_ERR_IO;
    if (!storage_valid_username(username))
        return STORAGE_ERR_INVALID;
    const char *part = partition ? partition : default_partition();
    if (is_shared(username) && !partition)
        part = "default";
    if (!partition_known(part) || (is_shared(username) && strcmp(part, "default") != 0))
        return STORAGE_ERR_INVALID;
    LOCK();
    sqlite3 *db = db_get();
    if (!db) {
        UNLOCK();
        return STORAGE_ERR_IO;
    }
    int r = db_begin(db);
    if (r < 0) {
        UNLOCK();
        return r;
    }
    struct store_row row;
    r = row_get(db, username, &row);
    char *ddir = partition_store_dir(username, "default");
    char *pdir = partition_store_dir(username, part);
    if (r == 0 && row.found)
        r = row_busy(&row) ? STORAGE_ERR_BUSY : STORAGE_ERR_EXISTS;
    else if (r == 0 && (is_dir(ddir) || is_dir(pdir)))
        r = STORAGE_ERR_EXISTS;
    /* Record the choice first (also for "default": mail_user_open below
     * must not apply defaultpartition), then create the store there. */
    if (r == 0)
        r = row_put(db, username, part, "normal", NULL);
    if (r == 0)
        r = db_commit(db);
    else
        db_rollback(db);
    UNLOCK();
    free(ddir);
    free(pdir);
    if (r < 0)
        return r;
    struct mail_user *u;
    r = mail_user_open(username, true, &u);
    if (r == 0)
        mail_user_close(u);
    if (r < 0 || strcmp(part, "default") == 0) {
        /* default: the directory says it now; failure: forget the choice */
        int r2 = settle_commit(username, "default");
        if (r == 0)
            r = r2;
    }
    return r;
}

int mail_user_partition(const char *username, char *out, size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    if (!storage_valid_username(username))
        return STORAGE_ERR_INVALID;
    LOCK();
    sqlite3 *db = db_get();
    struct store_row row;
    int r = db ? row_get(db, username, &row) : STORAGE_ERR_IO;
    UNLOCK();
    if (r < 0)
        return r;
    if (row.found && strcmp(row.state, "reserved") == 0)
        return STORAGE_ERR_NOTFOUND;
    const char *part = row.found ? row.partition : "default";
    char *dir = partition_store_dir(username, part);
    r = dir && is_dir(dir) ? 0 : STORAGE_ERR_NOTFOUND;
    free(dir);
    if (r == 0 && (size_t)snprintf(out, outlen, "%s", part) >= outlen)
        r = STORAGE_ERR_INVALID;
    return r;
}

static int move_partition(const char *username, const char *partition);

int mail_user_move_partition(const char *username, const char *partition)
{
    if (!storage_valid_username(username) || !partition || !partition_known(partition))
        return STORAGE_ERR_INVALID;
    if (is_shared(username))
        return strcmp(partition, "default") == 0 ? STORAGE_OK : STORAGE_ERR_INVALID;
    ops_add(username);
    int r = move_partition(username, partition);
    ops_del(username);
    return r;
}

static int move_partition(const char *username, const char *partition)
{
    if (still_held_here(username))
        return STORAGE_ERR_BUSY;
    LOCK();
    sqlite3 *db = db_get();
    if (!db) {
        UNLOCK();
        return STORAGE_ERR_IO;
    }
    struct store_row row;
    int r = mark_busy(db, username, "moving", partition, &row);
    if (r < 0) {
        UNLOCK();
        return r;
    }
    const char *cur = row.found ? row.partition : "default";
    if (strcmp(cur, partition) == 0) {
        db_rollback(db);   /* already there */
        UNLOCK();
        return STORAGE_OK;
    }
    if ((r = db_commit(db)) < 0) {
        db_rollback(db);
        UNLOCK();
        return r;
    }
    UNLOCK();
    char *src = partition_store_dir(username, cur);
    char *dst = partition_store_dir(username, partition);
    char *tmp = partition_tmp_dir(username, partition);
    int exfd = -1;
    r = wait_exclusive(username, &exfd);
    if (r < 0)
        goto undo;
    log_info("storage: %s: moving from partition %s to %s", username, cur, partition);
    /* Two partitions naming the same directory: nothing to copy. */
    bool alias = is_dir(dst) && same_inode(src, dst);
    if (!alias) {
        /* Leftovers of an earlier crashed move (crash points b, c): the
         * recorded partition is the truth, so these are garbage. */
        if (rm_tree(tmp) < 0 || rm_tree(dst) < 0) {
            r = STORAGE_ERR_IO;
            goto undo;
        }
        char *parent = xstrdup(dst);
        *strrchr(parent, '/') = '\0';
        if (msgfile_mkdirs(parent) < 0) {
            log_err("storage: move %s: mkdir %s: %s", username, parent, strerror(errno));
            free(parent);
            r = STORAGE_ERR_IO;
            goto undo;
        }
        /* make the bucket and user/ durable too */
        fsync_parent(parent);
        msgfile_fsync_dir(parent);
        free(parent);
        if (copy_tree(src, tmp, 0) < 0 || rename(tmp, dst) < 0 || fsync_parent(dst) < 0) {
            log_err("storage: move %s: copy to %s failed: %s", username, dst, strerror(errno));
            rm_tree(tmp);
            rm_tree(dst);
            r = STORAGE_ERR_IO;
            goto undo;
        }
    }
    /* The switch: from here the new copy is the store (crash point d). */
    LOCK();
    r = db_begin(db);
    if (r == 0)
        r = row_put(db, username, partition, "cleanup", cur);
    if (r == 0)
        r = db_commit(db);
    if (r < 0)
        db_rollback(db);
    UNLOCK();
    if (r < 0) {
        if (!alias)
            rm_tree(dst);
        goto undo;
    }
    if (!alias && rm_tree(src) < 0)
        log_warn("storage: %s: old copy %s not fully removed; recovery will retry", username, src);
    else if (settle_commit(username, partition) < 0)
        log_warn("storage: %s: could not clear the move mark; recovery will", username);
    log_info("storage: %s: now on partition %s", username, partition);
    close(exfd);
    free(src);
    free(dst);
    free(tmp);
    return STORAGE_OK;
undo:
    if (settle_commit(username, cur) < 0)
        log_err("storage: %s: could not clear the move mark; recovery will", username);
    if (exfd >= 0)
        close(exfd);
    free(src);
    free(dst);
    free(tmp);
    return r;
}

static int rename_store(const char *oldname, const char *newname);

int mail_user_rename_store(const char *oldname, const char *newname)
{
    if (!storage_valid_username(oldname) || !storage_valid_username(newname) ||
        is_shared(oldname) != is_shared(newname))
        return STORAGE_ERR_INVALID;
    if (strcmp(oldname, newname) == 0)
        return STORAGE_ERR_EXISTS;
    ops_add(oldname);
    ops_add(newname);
    int r = rename_store(oldname, newname);
    ops_del(oldname);
    ops_del(newname);
    return r;
}

static int rename_store(const char *oldname, const char *newname)
{
    if (still_held_here(oldname) || still_held_here(newname))
        return STORAGE_ERR_BUSY;
    LOCK();
    sqlite3 *db = db_get();
    if (!db) {
        UNLOCK();
        return STORAGE_ERR_IO;
    }
    struct store_row row, nrow;
    int r = mark_busy(db, oldname, "renaming", newname, &row);
    if (r < 0) {
        UNLOCK();
        return r;
    }
    const char *part = row.found ? row.partition : "default";
    char *src = partition_store_dir(oldname, part);
    char *dst = partition_store_dir(newname, part);
    char *ddst = partition_store_dir(newname, "default");
    r = row_get(db, newname, &nrow);
    if (r == 0 && nrow.found)
        r = row_busy(&nrow) ? STORAGE_ERR_BUSY : STORAGE_ERR_EXISTS;
    else if (r == 0 && (!dst || is_dir(dst) || is_dir(ddst)))
        r = STORAGE_ERR_EXISTS;
    if (r == 0)
        r = row_put(db, newname, part, "reserved", oldname);
    if (r == 0)
        r = db_commit(db);
    free(ddst);
    if (r < 0)
        db_rollback(db);
    UNLOCK();
    if (r < 0) {
        free(src);
        free(dst);
        return r;
    }
    int exfd = -1, nfd = -1;
    r = wait_exclusive(oldname, &exfd);
    if (r == 0) {
        /* Nobody can hold the new name open (it is reserved and had no
         * store), but a failed open may still be between lock and check. */
        nfd = lock_open(newname);
        if (nfd < 0 || try_flock(nfd, LOCK_EX) != 1)
            r = STORAGE_ERR_BUSY;
    }
    if (r == 0) {
        char *parent = xstrdup(dst);
        *strrchr(parent, '/') = '\0';
        if (msgfile_mkdirs(parent) < 0 || rename(src, dst) < 0) {
            log_err("storage: rename %s -> %s: %s", src, dst, strerror(errno));
            r = STORAGE_ERR_IO;
        } else {
            fsync_parent(parent);
            msgfile_fsync_dir(parent);
            fsync_parent(src);
        }
        free(parent);
    }
    LOCK();
    if (r == 0) {
        if ((r = db_begin(db)) == 0 && (r = row_del(db, oldname)) == 0 && (r = row_settle(db, newname, part)) == 0)
            r = db_commit(db);
        if (r < 0) {
            /* The directory moved; recovery sees that and completes. */
            db_rollback(db);
            log_err("storage: rename %s -> %s: stores.db not updated; recovery will finish it", oldname, newname);
            r = 0;
        } else {
            log_info("storage: store %s renamed to %s", oldname, newname);
        }
    } else {
        if (db_begin(db) == 0) {
            if (row_del(db, newname) == 0 && row_settle(db, oldname, part) == 0)
                db_commit(db);
            db_rollback(db);
        }
    }
    UNLOCK();
    if (nfd >= 0)
        close(nfd);
    if (exfd >= 0)
        close(exfd);
    free(src);
    free(dst);
    return r;
}

static int delete_store(const char *name);

int partition_delete_store(const char *name)
{
    ops_add(name);
    int r = delete_store(name);
    ops_del(name);
    return r;
}

static int delete_store(const char *name)
{
    if (still_held_here(name))
        return STORAGE_ERR_BUSY;   /* still open in this process */
    LOCK();
    sqlite3 *db = db_get();
    if (!db) {
        UNLOCK();
        return STORAGE_ERR_IO;
    }
    struct store_row row;
    int r = mark_busy(db, name, "deleting", NULL, &row);
    if (r == 0 && (r = db_commit(db)) < 0)
        db_rollback(db);
    UNLOCK();
    if (r < 0)
        return r;
    const char *part = row.found ? row.partition : "default";
    int exfd = -1;
    r = wait_exclusive(name, &exfd);
    if (r < 0) {
        settle_commit(name, part);
        return r;
    }
    char *dir = partition_store_dir(name, part);
    if (rm_tree(dir) < 0) {
        /* Half removed: leave the mark, recovery completes the delete. */
        log_err("storage: delete %s: cannot remove %s", name, dir);
        r = STORAGE_ERR_IO;
    } else {
        LOCK();
        sqlite3 *d2 = db_get();
        r = d2 && db_begin(d2) == 0 && row_del(d2, name) == 0 && db_commit(d2) == 0 ? 0 : STORAGE_ERR_IO;
        if (r < 0 && d2)
            db_rollback(d2);
        UNLOCK();
        log_info("storage: store %s deleted", name);
    }
    free(dir);
    close(exfd);
    return r;
}

/* ---- listing ---------------------------------------------------------------- */

struct name_list {
    char **v;
    size_t n, cap;
};

static void names_add(struct name_list *l, const char *name)
{
    ARRAY_GROW(l->v, l->n, l->cap);
    l->v[l->n++] = xstrdup(name);
}

/* Is name's store really on part (as recorded)? Filters the other copy
 * during a move and partitions sharing a directory. */
static bool recorded_on(sqlite3 *db, const char *name, const char *part)
{
    struct store_row row;
    LOCK();
    int r = row_get(db, name, &row);
    UNLOCK();
    if (r < 0)
        return strcmp(part, "default") == 0;
    if (row.found && strcmp(row.state, "reserved") == 0)
        return false;
    return strcmp(row.found ? row.partition : "default", part) == 0;
}

static void walk_user_root(sqlite3 *db, const char *part, struct name_list *out)
{
    const char *root = partition_root(part);
    if (!root)
        return;
    char *udir = xasprintf("%s/user", root);
    DIR *d = opendir(udir);
    if (d) {
        struct dirent *b;
        while ((b = readdir(d))) {
            if (b->d_name[0] == '.' || strlen(b->d_name) != 1)
                continue;
            char *bdir = xasprintf("%s/%s", udir, b->d_name);
            DIR *bd = opendir(bdir);
            struct dirent *e;
            while (bd && (e = readdir(bd))) {
                const char *n = e->d_name;
                /* bucket must match; dot entries are move temporaries */
                if (n[0] != b->d_name[0] || !storage_valid_username(n) || is_shared(n))
                    continue;
                char *sdir = xasprintf("%s/%s", bdir, n);
                if (is_dir(sdir) && recorded_on(db, n, part))
                    names_add(out, n);
                free(sdir);
            }
            if (bd)
                closedir(bd);
            free(bdir);
        }
        closedir(d);
    }
    free(udir);
}

struct walk_ctx {
    sqlite3 *db;
    struct name_list *out;
};

static void walk_partition_cb(const char *name, const char *path, void *arg)
{
    (void)path;
    struct walk_ctx *c = arg;
    if (strcmp(name, "default") != 0)
        walk_user_root(c->db, name, c->out);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int mail_user_list_stores(void (*cb)(const char *name, void *arg), void *arg)
{
    if (!storage_datadir()[0])
        return STORAGE_ERR_IO;
    LOCK();
    sqlite3 *db = db_get();
    UNLOCK();
    if (!db)
        return STORAGE_ERR_IO;
    struct name_list l = {0};
    walk_user_root(db, "default", &l);
    struct walk_ctx c = {db, &l};
    config_partition_foreach(walk_partition_cb, &c);
    char *sdir = xasprintf("%s/shared", storage_datadir());
    DIR *d = opendir(sdir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *name = strcmp(e->d_name, "%") == 0 ? xstrdup("%shared") : xasprintf("%%shared@%s", e->d_name);
        char *p = xasprintf("%s/%s", sdir, e->d_name);
        if (storage_valid_username(name) && is_dir(p) && recorded_on(db, name, "default"))
            names_add(&l, name);
        free(p);
        free(name);
    }
    if (d)
        closedir(d);
    free(sdir);
    if (l.n)
        qsort(l.v, l.n, sizeof(l.v[0]), cmp_str);
    for (size_t i = 0; i < l.n; i++) {
        if (i == 0 || strcmp(l.v[i], l.v[i - 1]) != 0)
            cb(l.v[i], arg);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
    return STORAGE_OK;
}
