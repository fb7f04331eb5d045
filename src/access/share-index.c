/* share-index.c - DATADIR/shares.db: which stores have mailboxes shared
 * with whom.
 *
 * One row per (store, mailbox, identifier) for every identifier other
 * than the owner that a mailbox's ACL grants any right to. LIST for a
 * user then opens only the stores that hold a row for one of the user's
 * identifiers (the user id, "anyone", its groups; "anonymous" for
 * anonymous sessions), so a user nobody shares with costs one indexed
 * query and no store opens.
 *
 * The index is a hint, never the authority: rows are added before the
 * ACL change that needs them commits and removed after the change that
 * makes them stale commits, so a crash leaves at worst an extra row (LIST
 * still checks the real ACL). access_reindex() rebuilds it from scratch.
 * synchronous=FULL: a hint must be on disk before the ACL change that
 * relies on it commits, also across a power loss (hint writes are rare).
 */
#include "access-private.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

static sqlite3 *sdb;
static pid_t sdb_pid;
static char *sdb_path;
/* The connection is process-wide and used from the event loop (LIST) and
 * from jobs on the pool (CREATE, RENAME, SETACL, account operations,
 * jobs.h): every public function holds smu while it uses it - one
 * statement or one transaction, never a callback (share_hint_stores
 * calls its callback after unlocking). Recursive: a few functions are
 * built from others. */
static pthread_mutex_t smu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS hint("
    " store TEXT NOT NULL, mailbox TEXT NOT NULL, ident TEXT NOT NULL,"
    " PRIMARY KEY(store, mailbox, ident)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS hint_ident ON hint(ident, store);"
    /* Account operations in progress (mailboxes.c): a row is committed
     * before the first step and deleted after the last, so a crash leaves
     * it behind for access_recover_accounts(). */
    "CREATE TABLE IF NOT EXISTS account_op("
    " id INTEGER PRIMARY KEY, kind TEXT NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL);";

void share_index_close(void)
{
    pthread_mutex_lock(&smu);
    /* After fork() the inherited handle must not be used or closed by the
     * child (SQLite's rule); it is simply abandoned there. */
    if (sdb && sdb_pid == getpid())
        sqlite3_close_v2(sdb);
    sdb = NULL;
    free(sdb_path);
    sdb_path = NULL;
    pthread_mutex_unlock(&smu);
}

static sqlite3 *db(void)
{
    const char *dd = storage_datadir();
    if (!dd || !*dd)
        return NULL;
    char *path = xasprintf("%s/shares.db", dd);
    if (sdb && (sdb_pid != getpid() || strcmp(path, sdb_path) != 0)) {
        if (sdb_pid != getpid())
            sdb = NULL;
        share_index_close();
    }
    if (sdb) {
        free(path);
        return sdb;
    }
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        log_err("access: cannot open %s: %s", path, h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close_v2(h);
        free(path);
        return NULL;
    }
    sqlite3_busy_timeout(h, 10000);
    char *err = NULL;
    if (sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(h, schema, NULL, NULL, &err) != SQLITE_OK) {
        log_err("access: %s: %s", path, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close_v2(h);
        free(path);
        return NULL;
    }
    sdb = h;
    sdb_pid = getpid();
    sdb_path = path;
    return sdb;
}

/* Run one statement with up to 4 text parameters. */
static int exec4_locked(const char *sql, const char *a, const char *b, const char *c, const char *d);

static int exec4(const char *sql, const char *a, const char *b, const char *c, const char *d)
{
    pthread_mutex_lock(&smu);
    int rc = exec4_locked(sql, a, b, c, d);
    pthread_mutex_unlock(&smu);
    return rc;
}

static int exec4_locked(const char *sql, const char *a, const char *b, const char *c, const char *d)
{
    sqlite3 *h = db();
    if (!h)
        return STORAGE_ERR_IO;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        log_err("access: shares.db: %s", sqlite3_errmsg(h));
        return STORAGE_ERR_IO;
    }
    const char *v[4] = {a, b, c, d};
    for (int i = 0; i < 4 && i < sqlite3_bind_parameter_count(st); i++)
        sqlite3_bind_text(st, i + 1, v[i] ? v[i] : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_err("access: shares.db: %s", sqlite3_errmsg(h));
        return rc == SQLITE_BUSY ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
    }
    return 0;
}

static bool grants_to(const struct acl_entry *e, const char *owner)
{
    return !e->negative && e->rights && strcmp(e->id, owner) != 0;
}

int share_hint_add(const char *store, const char *mailbox, const char *owner, const char *acl)
{
    if (store[0] == '%')
        return 0;   /* shared stores are always enumerated */
    struct acl_entry *e;
    size_t n;
    if (!acl_parse(acl, &e, &n))
        return 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (grants_to(&e[i], owner))
            rc = exec4("INSERT OR IGNORE INTO hint(store, mailbox, ident) VALUES(?, ?, ?)", store, mailbox,
                       e[i].id, NULL);
    free(e);
    return rc;
}

static int share_hint_prune_locked(const char *store, const char *mailbox, const char *owner,
                                   const struct acl_entry *e, size_t n);

int share_hint_prune(const char *store, const char *mailbox, const char *owner, const char *acl)
{
    if (store[0] == '%')
        return 0;
    struct acl_entry *e = NULL;
    size_t n = 0;
    if (acl && !acl_parse(acl, &e, &n))
        return 0;   /* keep hints we cannot judge */
    pthread_mutex_lock(&smu);
    int rc = share_hint_prune_locked(store, mailbox, owner, e, n);
    pthread_mutex_unlock(&smu);
    free(e);
    return rc;
}

static int share_hint_prune_locked(const char *store, const char *mailbox, const char *owner,
                                   const struct acl_entry *e, size_t n)
{
    sqlite3 *h = db();
    if (!h)
        return STORAGE_ERR_IO;
    /* Collect the current rows, then delete those not granted any more. */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, "SELECT ident FROM hint WHERE store = ? AND mailbox = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC);
    char **stale = NULL;
    size_t ns = 0, cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (!id)
            continue;
        bool keep = false;
        for (size_t i = 0; i < n && !keep; i++)
            keep = grants_to(&e[i], owner) && strcmp(e[i].id, id) == 0;
        if (!keep) {
            ARRAY_GROW(stale, ns, cap);
            stale[ns++] = xstrdup(id);
        }
    }
    sqlite3_finalize(st);
    int rc = 0;
    for (size_t i = 0; i < ns; i++) {
        if (rc == 0)
            rc = exec4("DELETE FROM hint WHERE store = ? AND mailbox = ? AND ident = ?", store, mailbox, stale[i],
                       NULL);
        free(stale[i]);
    }
    free(stale);
    return rc;
}

/* LIKE-free prefix match: mailbox = from OR substr(mailbox, 1, len+1) = from || '/'. */
int share_hint_copy_tree(const char *store, const char *from, const char *to)
{
    if (store[0] == '%')
        return 0;
    return exec4("INSERT OR IGNORE INTO hint(store, mailbox, ident)"
                 " SELECT store, ?3 || substr(mailbox, length(?2) + 1), ident FROM hint"
                 " WHERE store = ?1 AND (mailbox = ?2 OR substr(mailbox, 1, length(?2) + 1) = ?2 || '/')",
                 store, from, to, NULL);
}

int share_hint_drop_tree(const char *store, const char *from)
{
    if (store[0] == '%')
        return 0;
    return exec4("DELETE FROM hint WHERE store = ?1 AND (mailbox = ?2 OR substr(mailbox, 1, length(?2) + 1) = ?2 || '/')",
                 store, from, NULL, NULL);
}

int share_hint_drop_store(const char *store)
{
    return exec4("DELETE FROM hint WHERE store = ?", store, NULL, NULL, NULL);
}

int share_hint_rename_store(const char *from, const char *to)
{
    pthread_mutex_lock(&smu);
    int rc = exec4("INSERT OR IGNORE INTO hint(store, mailbox, ident) SELECT ?2, mailbox, ident FROM hint WHERE store = ?1",
                   from, to, NULL, NULL);
    if (rc == 0)
        rc = share_hint_drop_store(from);
    pthread_mutex_unlock(&smu);
    return rc;
}

struct share_hint_set {
    char **v;   /* store, mailbox, ident triples */
    size_t n, cap;
};

struct share_hint_set *share_hint_set_new(void)
{
    return xcalloc(1, sizeof(struct share_hint_set));
}

void share_hint_set_add(struct share_hint_set *set, const char *store, const char *mailbox, const char *owner,
                        const char *acl)
{
    struct acl_entry *e;
    size_t n;
    if (store[0] == '%' || !acl_parse(acl, &e, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        if (!grants_to(&e[i], owner))
            continue;
        while (set->n + 3 > set->cap) {
            set->cap = set->cap ? set->cap * 2 : 48;
            set->v = xrealloc(set->v, set->cap * sizeof(*set->v));
        }
        set->v[set->n++] = xstrdup(store);
        set->v[set->n++] = xstrdup(mailbox);
        set->v[set->n++] = xstrdup(e[i].id);
    }
    free(e);
}

static int share_hint_replace_all_locked(const struct share_hint_set *set);

void share_hint_set_free(struct share_hint_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i]);
    free(set->v);
    free(set);
}

int share_hint_replace_all(const struct share_hint_set *set)
{
    pthread_mutex_lock(&smu);
    int rc = share_hint_replace_all_locked(set);
    pthread_mutex_unlock(&smu);
    return rc;
}

static int share_hint_replace_all_locked(const struct share_hint_set *set)
{
    sqlite3 *h = db();
    if (!h)
        return STORAGE_ERR_IO;
    int rc = exec4("BEGIN IMMEDIATE", NULL, NULL, NULL, NULL);
    if (rc != 0)
        return rc;
    rc = exec4("DELETE FROM hint", NULL, NULL, NULL, NULL);
    for (size_t i = 0; i + 2 < set->n && rc == 0; i += 3)
        rc = exec4("INSERT OR IGNORE INTO hint(store, mailbox, ident) VALUES(?, ?, ?)", set->v[i], set->v[i + 1],
                   set->v[i + 2], NULL);
    if (rc == 0)
        rc = exec4("COMMIT", NULL, NULL, NULL, NULL);
    if (rc != 0)
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int hint_stores_query(const char *const *ids, size_t nids, char ***found_out, size_t *n_out);

int share_hint_stores(const char *const *ids, size_t nids, void (*cb)(const char *store, void *arg), void *arg)
{
    char **found = NULL;
    size_t n = 0;
    pthread_mutex_lock(&smu);
    int rc = hint_stores_query(ids, nids, &found, &n);
    pthread_mutex_unlock(&smu);
    /* Callbacks outside the lock and after the statement is finalized:
     * they open stores. */
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            cb(found[i], arg);
        free(found[i]);
    }
    free(found);
    return rc;
}

static int hint_stores_query(const char *const *ids, size_t nids, char ***found_out, size_t *n_out)
{
    sqlite3 *h = db();
    if (!h)
        return STORAGE_ERR_IO;
    /* One query, deduplicated by SQLite; the identifier list is short
     * (user, anyone, groups) and capped below SQLite's variable limit. */
    if (ids && nids == 0)
        return 0;
    if (nids > 900)
        nids = 900;
    struct buf sql;
    buf_init(&sql);
    if (!ids) {
        nids = 0;   /* every store with a hint */
        buf_puts(&sql, "SELECT DISTINCT store FROM hint");
    } else {
        buf_puts(&sql, "SELECT DISTINCT store FROM hint WHERE ident IN (");
        for (size_t k = 0; k < nids; k++)
            buf_puts(&sql, k ? ",?" : "?");
        buf_puts(&sql, ")");
    }
    sqlite3_stmt *st = NULL;
    int prc = sqlite3_prepare_v2(h, buf_cstr(&sql), -1, &st, NULL);
    buf_free(&sql);
    if (prc != SQLITE_OK) {
        log_err("access: shares.db: %s", sqlite3_errmsg(h));
        return STORAGE_ERR_IO;
    }
    for (size_t k = 0; k < nids; k++)
        sqlite3_bind_text(st, (int)k + 1, ids[k], -1, SQLITE_STATIC);
    char **found = NULL;
    size_t n = 0, cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *store = (const char *)sqlite3_column_text(st, 0);
        if (!store)
            continue;
        ARRAY_GROW(found, n, cap);
        found[n++] = xstrdup(store);
    }
    int rc = s == SQLITE_DONE ? 0 : s == SQLITE_BUSY ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
    sqlite3_finalize(st);
    *found_out = found;
    *n_out = n;
    return rc;
}

/* ---- account operation journal ---- */

int account_op_begin(const char *kind, const char *old, const char *new_, int64_t *id)
{
    *id = 0;
    pthread_mutex_lock(&smu);   /* the rowid of this INSERT, not another thread's */
    int rc = exec4("INSERT INTO account_op(kind, old, new) VALUES(?, ?, ?)", kind, old, new_ ? new_ : "", NULL);
    if (rc == 0)
        *id = sqlite3_last_insert_rowid(sdb);
    pthread_mutex_unlock(&smu);
    return rc;
}

int account_op_end(int64_t id)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)id);
    return exec4("DELETE FROM account_op WHERE id = CAST(? AS INTEGER)", num, NULL, NULL, NULL);
}

static int account_op_find_locked(const char *name, struct account_op *out);

int account_op_find(const char *name, struct account_op *out)
{
    pthread_mutex_lock(&smu);
    int rc = account_op_find_locked(name, out);
    pthread_mutex_unlock(&smu);
    return rc;
}

static int account_op_find_locked(const char *name, struct account_op *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3 *h = db();
    if (!h)
        return STORAGE_ERR_IO;
    sqlite3_stmt *st = NULL;
    const char *sql = name ? "SELECT id, kind, old, new FROM account_op WHERE old = ?1 OR new = ?1 ORDER BY id LIMIT 1"
                           : "SELECT id, kind, old, new FROM account_op ORDER BY id LIMIT 1";
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        log_err("access: shares.db: %s", sqlite3_errmsg(h));
        return STORAGE_ERR_IO;
    }
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    int rc = 0;
    if (s == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        const char *k = (const char *)sqlite3_column_text(st, 1);
        const char *o = (const char *)sqlite3_column_text(st, 2);
        const char *n = (const char *)sqlite3_column_text(st, 3);
        snprintf(out->kind, sizeof(out->kind), "%s", k ? k : "");
        snprintf(out->old, sizeof(out->old), "%s", o ? o : "");
        snprintf(out->new_, sizeof(out->new_), "%s", n ? n : "");
        rc = 1;
    } else if (s != SQLITE_DONE) {
        rc = s == SQLITE_BUSY ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
    }
    sqlite3_finalize(st);
    return rc;
}

int account_ops_lock(bool wait)
{
    const char *dd = storage_datadir();
    if (!dd || !*dd)
        return STORAGE_ERR_IO;
    char *path = xasprintf("%s/account-ops.lock", dd);
    /* 0644 and a read-only fallback: flock needs no write access, and the
     * file may have been created by the CLI as root before dariusd's
     * start gives the data directory to the server user. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EACCES)
        fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_err("access: open %s: %s", path, strerror(errno));
        free(path);
        return STORAGE_ERR_IO;
    }
    free(path);
    /* flock: released by the kernel when the holder dies, so a crashed
     * operation never blocks its own recovery. */
    int r;
    while ((r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? STORAGE_ERR_BUSY : STORAGE_ERR_IO;
    }
    return fd;
}

void account_ops_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
