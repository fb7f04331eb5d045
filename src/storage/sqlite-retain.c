/* sqlite-retain.c - SQLite backend: expunged messages stay readable until
 * the sessions that still show them have been told (RFC 2180 4.1.1).
 *
 * An IMAP session may not be sent EXPUNGE while it answers FETCH, STORE
 * or SEARCH (RFC 9051 7.5.1), and a session that is not in IDLE hears of
 * another session's expunge only at its next command. Until then its
 * client still names the message by its sequence number, and a FETCH of
 * it should get the data, not an error (clients and benchmarks count
 * `NO [EXPUNGEISSUED]` as a failure).
 *
 * The model (schema 7, sqlite-schema.c):
 *  - A handle that shows a client the mailbox (mailbox_keep_expunged) is a
 *    "viewer". Each process keeps its viewers in a list on the store's
 *    connection (struct sq_user), each with `told`, the modseq up to which
 *    its client has been told of expunges. In the database each process
 *    has one viewer row per mailbox it views: the process id and start
 *    time (which tell a live process from a dead one or a reused pid) and
 *    a lower bound of its viewers' `told`. The row is written when the
 *    process's first viewer of the mailbox opens and removed when its last
 *    one closes; in between it is raised only when that frees something.
 *  - An expunge (any handle, any process: IMAP, POP3 QUIT, MOVE, the CLI)
 *    asks, inside its write transaction, whether another viewer of the
 *    mailbox exists: another handle in this process, or a row of another
 *    live process (rows of dead processes are deleted on the way). If
 *    none, the message goes as it always did (row and blob reference in
 *    the transaction, file after the commit): the usual single-session
 *    expunge costs one indexed read more. Otherwise the record moves to
 *    `retained` with the expunge's modseq and keeps the blob reference.
 *    Either way the message row, counters, quota, UID ranges and the
 *    `expunged` row (VANISHED) are those of any expunge.
 *  - Ordering makes this exact: a viewer registers (row committed, or
 *    listed in this process) before it reads the mailbox's UID list, and
 *    writers are serialised by the database lock, so an expunge either
 *    sees the viewer or committed before the viewer read the UIDs (and
 *    the viewer never knew the message).
 *  - A retained message goes once every live viewer row of its mailbox
 *    is at or past its expunge modseq (no row at all: at once). That is
 *    checked when a viewer's client is told of expunges
 *    (mailbox_expunges_told, only after a sync saw some), when a viewer
 *    closes, and whenever a process opens the store: then rows of dead
 *    processes are dropped and whatever a crash left behind is released
 *    (blob reference, then the file after the commit).
 *  - The bookkeeping transactions (viewer rows, releases) commit without
 *    an fsync (synchronous=NORMAL: safe in WAL mode, the next durable
 *    commit syncs them along). Losing one in a power failure loses
 *    nothing: after a restart every viewer row is dead and the store's
 *    next open releases what they held.
 * Reads of a viewer (mailbox_foreach_expunged, and mailbox_get_cache /
 * mailbox_get_content falling back to `retained`) see only messages
 * expunged after what its client was told.
 */
#include "sqlite-internal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- processes ------------------------------------------------------------- */

/* Start time of process pid (clock ticks after boot, field 22 of
 * /proc/PID/stat): with the pid it names one process, also after the pid
 * is reused. 0 when it cannot be read. */
static int64_t proc_starttime(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* Field 2, the command name, is in parentheses and may hold spaces
     * and parentheses: count from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    for (int field = 3; field < 22; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    while (*p == ' ')
        p++;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno)
        return 0;
    return (int64_t)MIN(v, (unsigned long long)INT64_MAX);
}

/* This process (recomputed after a fork). */
static void self_id(int64_t *pid, int64_t *start)
{
    static pid_t cached_pid;
    static int64_t cached_start;
    pid_t p = getpid();
    if (p != cached_pid) {
        cached_pid = p;
        cached_start = proc_starttime(p);
    }
    *pid = p;
    *start = cached_start;
}

/* Is the process of a viewer row still running? When its start time
 * cannot be read (/proc mounted with hidepid) an existing pid counts as
 * alive: a retained message then waits longer, it is never released
 * under a session that may still read it. */
static bool proc_alive(int64_t pid, int64_t start)
{
    if (pid <= 0 || pid > INT_MAX)
        return false;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return false;
    int64_t now = proc_starttime((pid_t)pid);
    return now == 0 || start == 0 || now == start;
}

/* ---- transactions without fsync ------------------------------------------- */

static void light_restore(struct mail_user *u)
{
    if (sq_run(u, sq_stmt(u, SQ_SYNC_FULL), "synchronous") < 0 &&
        sqlite3_exec(sq(u)->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
        log_err("storage: %s: cannot restore synchronous=FULL", u->name);
}

static int light_begin(struct mail_user *u)
{
    (void)sq_run(u, sq_stmt(u, SQ_SYNC_NORMAL), "synchronous");
    int r = sq_begin(u);
    if (r < 0)
        light_restore(u);
    return r;
}

static int light_end(struct mail_user *u, int r)
{
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    light_restore(u);
    return r;
}

/* ---- rows ------------------------------------------------------------------ */

/* Lowest `told` of this process's viewers of mailbox mbid; false when it
 * has none. */
static bool local_min(struct mail_user *u, int64_t mbid, uint64_t *min)
{
    bool any = false;
    uint64_t m = UINT64_MAX;
    pthread_mutex_lock(&u->viewers_mu);
    for (struct mailbox *v = u->viewers; v; v = v->next_viewer) {
        if (v->id == mbid) {
            any = true;
            m = MIN(m, v->told);
        }
    }
    pthread_mutex_unlock(&u->viewers_mu);
    *min = m;
    return any;
}

static bool rows_stale(struct mail_user *u)
{
    pthread_mutex_lock(&u->viewers_mu);
    bool st = u->viewer_rows_stale;
    pthread_mutex_unlock(&u->viewers_mu);
    return st;
}

static void set_rows_stale(struct mail_user *u, bool st)
{
    pthread_mutex_lock(&u->viewers_mu);
    u->viewer_rows_stale = st;
    pthread_mutex_unlock(&u->viewers_mu);
}

/* Does statement id (with nparams parameters a, b) return a row? */
static int exists_query(struct mail_user *u, enum sq_stmt_id id, int nparams, int64_t a, int64_t b, bool *found)
{
    sqlite3_stmt *st = sq_stmt(u, id);
    *found = false;
    if (!st)
        return STORAGE_ERR_IO;
    if (nparams > 0)
        sqlite3_bind_int64(st, 1, a);
    if (nparams > 1)
        sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        *found = true;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "retained");
}

/* Retained messages of mbid expunged at or below modseq? */
static bool retained_upto(struct mail_user *u, int64_t mbid, uint64_t modseq)
{
    bool found = false;
    (void)exists_query(u, SQ_RET_ANY_UPTO, 2, mbid, (int64_t)MIN(modseq, (uint64_t)INT64_MAX), &found);
    return found;
}

/* Inside a write transaction: this process's viewer row of mbid as its
 * viewers say (none: no row). A mailbox deleted meanwhile refuses the
 * row (foreign key): nothing to keep then. */
static int own_row_sync(struct mail_user *u, int64_t mbid)
{
    int64_t pid, start;
    self_id(&pid, &start);
    uint64_t m;
    sqlite3_stmt *st;
    if (local_min(u, mbid, &m)) {
        if (!(st = sq_stmt(u, SQ_VW_UPSERT)))
            return STORAGE_ERR_IO;
        sqlite3_bind_int64(st, 1, mbid);
        sqlite3_bind_int64(st, 2, pid);
        sqlite3_bind_int64(st, 3, start);
        sqlite3_bind_int64(st, 4, (int64_t)MIN(m, (uint64_t)INT64_MAX));
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE || (rc & 0xff) == SQLITE_CONSTRAINT)
            return STORAGE_OK;
        return sq_error(u, rc, "viewer");
    }
    if (!(st = sq_stmt(u, SQ_VW_DELETE)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_int64(st, 2, pid);
    return sq_run(u, st, "viewer");
}

/* Inside a write transaction, after a transaction that should have
 * updated this process's viewer rows failed (busy): every row of this
 * process again as its viewers say. A row left behind for a mailbox this
 * process no longer views would keep later expunges for nobody. */
static int own_rows_repair(struct mail_user *u)
{
    int64_t self, self_start;
    self_id(&self, &self_start);
    sqlite3_stmt *st;
    if (!(st = sq_stmt(u, SQ_VW_DELETE_PID)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, self);
    int r = sq_run(u, st, "viewer");
    /* the mailbox ids first (own_row_sync takes viewers_mu itself) */
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&u->viewers_mu);
    for (struct mailbox *v = u->viewers; v; v = v->next_viewer) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            ids = xrealloc(ids, cap * sizeof(*ids));
        }
        ids[n++] = v->id;
    }
    pthread_mutex_unlock(&u->viewers_mu);
    for (size_t i = 0; r == 0 && i < n; i++)
        r = own_row_sync(u, ids[i]);
    free(ids);
    if (r == 0)
        set_rows_stale(u, false);
    return r;
}

/* Inside a write transaction: delete the viewer rows of mbid whose
 * process is gone; *other_live (may be NULL) is set when a live process
 * other than this one has a row. This process's row is left alone (its
 * viewer list is the truth for it), unless it is a previous process's
 * that had the same pid. */
static int prune_mailbox(struct mail_user *u, int64_t mbid, bool *other_live)
{
    int64_t self, self_start;
    self_id(&self, &self_start);
    if (other_live)
        *other_live = false;
    sqlite3_stmt *st = sq_stmt(u, SQ_VW_OF_MAILBOX);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    int64_t *dead = NULL;
    size_t ndead = 0, cdead = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t pid = sqlite3_column_int64(st, 0), start = sqlite3_column_int64(st, 1);
        if (pid == self && start == self_start)
            continue;
        if (pid != self && proc_alive(pid, start)) {
            if (other_live)
                *other_live = true;
        } else {
            ARRAY_GROW(dead, ndead, cdead);
            dead[ndead++] = pid;
        }
    }
    sqlite3_reset(st);
    int r = rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "viewers");
    for (size_t i = 0; r == 0 && i < ndead; i++) {
        if (!(st = sq_stmt(u, SQ_VW_DELETE))) {
            r = STORAGE_ERR_IO;
            break;
        }
        sqlite3_bind_int64(st, 1, mbid);
        sqlite3_bind_int64(st, 2, dead[i]);
        r = sq_run(u, st, "viewer");
    }
    free(dead);
    return r;
}

static int blob_unref(struct mail_user *u, const char *guid)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_BLOB_REF);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int(st, 1, -1);
    sqlite3_bind_text(st, 2, guid, -1, SQLITE_TRANSIENT);
    return sq_run(u, st, "retained blob");
}

/* Inside a write transaction: release the retained messages of mbid that
 * no viewer row needs (blob references here; the caller collects the
 * dead blobs and unlinks their files after the commit). */
static int free_mailbox(struct mail_user *u, int64_t mbid, size_t *freed)
{
    sqlite3_stmt *q = sq_stmt(u, SQ_RET_FREEABLE);
    if (!q)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(q, 1, mbid);
    int rc, r = STORAGE_OK;
    size_t n = 0;
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        r = blob_unref(u, (const char *)sqlite3_column_text(q, 0));
        n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sq_error(u, rc, "retained");
    sqlite3_reset(q);
    if (r < 0 || n == 0)
        return r;
    if (!(q = sq_stmt(u, SQ_RET_FREE)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(q, 1, mbid);
    r = sq_run(u, q, "retained");
    if (r == 0 && freed)
        *freed += n;
    return r;
}

/* One light transaction: this process's row of mbid brought up to date,
 * dead rows dropped, what nobody needs any more released. */
static int sweep(struct mail_user *u, int64_t mbid)
{
    char (*dead)[33] = NULL;
    size_t ndead = 0, freed = 0;
    int r = light_begin(u);
    if (r < 0) {
        set_rows_stale(u, true);
        return r;
    }
    if (rows_stale(u))
        r = own_rows_repair(u);
    if (r == 0 && (r = own_row_sync(u, mbid)) == 0 && (r = prune_mailbox(u, mbid, NULL)) == 0 &&
        (r = free_mailbox(u, mbid, &freed)) == 0 && freed)
        r = sq_collect_dead(u, &dead, &ndead);
    r = light_end(u, r);
    if (r == 0)
        sq_unlink_dead(u, dead, ndead);   /* files only after the commit */
    else
        set_rows_stale(u, true);
    free(dead);
    return r;
}

/* ---- ops --------------------------------------------------------------------- */

int sq_keep_expunged(struct mailbox *mb)
{
    struct mail_user *u = mb->user;
    uint64_t others;
    bool had = local_min(u, mb->id, &others);
    pthread_mutex_lock(&u->viewers_mu);
    mb->told = mb->info.highestmodseq;
    mb->expunges_seen = false;
    mb->keep_expunged = true;
    mb->next_viewer = u->viewers;
    u->viewers = mb;
    pthread_mutex_unlock(&u->viewers_mu);
    /* Another viewer of this process already holds a row at or below
     * ours: nothing to write (the common case of several sessions of one
     * user in one worker). */
    if (had && others <= mb->told)
        return STORAGE_OK;
    int r = light_begin(u);
    if (r == 0 && rows_stale(u))
        r = own_rows_repair(u);
    if (r == 0)
        r = own_row_sync(u, mb->id);
    r = light_end(u, r);
    if (r < 0) {
        set_rows_stale(u, true);
        log_warn("storage: %s: cannot register a viewer of mailbox %lld: %s", u->name, (long long)mb->id,
                 storage_strerror(r));
    }
    return r;
}

bool sq_expunges_told(struct mailbox *mb, uint64_t modseq)
{
    struct mail_user *u = mb->user;
    pthread_mutex_lock(&u->viewers_mu);
    mb->told = modseq;
    pthread_mutex_unlock(&u->viewers_mu);
    /* Only expunges this handle's syncs reported can be held for it
     * (its syncs cover every modseq above its first told). */
    if (!mb->expunges_seen)
        return false;
    mb->expunges_seen = false;
    return true;
}

/* The write half of a told: let go of what no viewer needs any more. May
 * run on a pool thread (the loop only notes `told`, sq_expunges_told). */
void sq_release_kept(struct mailbox *mb)
{
    struct mail_user *u = mb->user;
    uint64_t m;
    (void)local_min(u, mb->id, &m);
    if (!retained_upto(u, mb->id, m) && !rows_stale(u))
        return;
    int r = sweep(u, mb->id);
    if (r < 0)
        log_warn("storage: %s: releasing expunged messages of mailbox %lld: %s", u->name, (long long)mb->id,
                 storage_strerror(r));
}

void sq_mailbox_closing(struct mailbox *mb)
{
    if (!mb->keep_expunged)
        return;
    struct mail_user *u = mb->user;
    pthread_mutex_lock(&u->viewers_mu);
    for (struct mailbox **pp = &u->viewers; *pp; pp = &(*pp)->next_viewer) {
        if (*pp == mb) {
            *pp = mb->next_viewer;
            break;
        }
    }
    mb->keep_expunged = false;
    mb->next_viewer = NULL;
    pthread_mutex_unlock(&u->viewers_mu);
    if (!u->be)
        return;
    uint64_t m;
    /* The last viewer of this process goes: its row must go too, or it
     * would keep every later expunge of the mailbox for nobody. Another
     * stays: the row may rise, which matters only if that frees something. */
    if (local_min(u, mb->id, &m) && !retained_upto(u, mb->id, m) && !rows_stale(u))
        return;
    int r = sweep(u, mb->id);
    if (r < 0)
        log_warn("storage: %s: closing a viewer of mailbox %lld: %s (retried at the next change of a viewer)",
                 u->name, (long long)mb->id, storage_strerror(r));
}

int sq_retain_needed(struct mailbox *mb, bool *retain)
{
    *retain = false;
    struct mail_user *u = mb->user;
    pthread_mutex_lock(&u->viewers_mu);
    for (struct mailbox *v = u->viewers; v; v = v->next_viewer) {
        if (v != mb && v->id == mb->id) {
            *retain = true;
            break;
        }
    }
    pthread_mutex_unlock(&u->viewers_mu);
    if (*retain)
        return STORAGE_OK;
    return prune_mailbox(mb->user, mb->id, retain);
}

int sq_retain_insert(struct mail_user *u, int64_t mbid, const struct msg_record *rec, uint64_t expunge_modseq)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_RET_INSERT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_int64(st, 2, rec->uid);
    sqlite3_bind_int64(st, 3, (int64_t)expunge_modseq);
    sqlite3_bind_int64(st, 4, (int64_t)rec->modseq);
    sqlite3_bind_int64(st, 5, rec->flags);
    sqlite3_bind_text(st, 6, rec->keywords ? rec->keywords : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, rec->internaldate);
    sqlite3_bind_int(st, 8, rec->internaldate_tz);
    sqlite3_bind_int64(st, 9, rec->savedate);
    sqlite3_bind_int64(st, 10, (int64_t)rec->size);
    sqlite3_bind_text(st, 11, rec->guid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, rec->threadid, -1, SQLITE_STATIC);
    return sq_run(u, st, "retain");
}

int sq_retained_load(struct mailbox *mb, uint32_t uid, struct msg_record *rec, char **kwbuf)
{
    if (!mb->keep_expunged)
        return STORAGE_ERR_NOTFOUND;
    struct mail_user *u = mb->user;
    sqlite3_stmt *st = sq_stmt(u, SQ_RET_ONE);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_int64(st, 2, uid);
    sqlite3_bind_text(st, 3, mb->info.mailboxid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)MIN(mb->told, (uint64_t)INT64_MAX));
    int rc = sqlite3_step(st);
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        sq_row_to_record(st, rec);
        *kwbuf = xstrdup(rec->keywords);
        rec->keywords = *kwbuf;
    } else {
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(u, rc, "retained");
    }
    sqlite3_reset(st);
    return r;
}

int sq_foreach_expunged(struct mailbox *mb, uint32_t lo, uint32_t hi, msg_record_cb cb, void *arg)
{
    struct mail_user *u = mb->user;
    sqlite3_stmt *st = sq_stmt(u, SQ_RET_RANGE);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_int64(st, 2, lo);
    sqlite3_bind_int64(st, 3, hi);
    sqlite3_bind_int64(st, 4, (int64_t)MIN(mb->told, (uint64_t)INT64_MAX));
    sqlite3_bind_text(st, 5, mb->info.mailboxid, -1, SQLITE_STATIC);
    /* Collected first: callbacks run with no cursor open (storage.h). */
    struct msg_record *v = NULL;
    char **kw = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof(*v));
            kw = xrealloc(kw, cap * sizeof(*kw));
        }
        sq_row_to_record(st, &v[n]);
        kw[n] = xstrdup(v[n].keywords);
        v[n].keywords = kw[n];
        n++;
    }
    sqlite3_reset(st);
    int r = rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "retained");
    for (size_t i = 0; i < n; i++) {
        if (r == 0 && cb(&v[i], arg))
            r = 1;
        free(kw[i]);
    }
    free(v);
    free(kw);
    return r < 0 ? r : STORAGE_OK;
}

int sq_retained_drop_mailbox(struct mail_user *u, int64_t mbid)
{
    sqlite3_stmt *q = sq_stmt(u, SQ_RET_GUIDS_OF_MAILBOX);
    if (!q)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(q, 1, mbid);
    int rc, r = STORAGE_OK;
    while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW)
        r = blob_unref(u, (const char *)sqlite3_column_text(q, 0));
    if (r == 0 && rc != SQLITE_DONE)
        r = sq_error(u, rc, "retained");
    sqlite3_reset(q);
    static const enum sq_stmt_id dels[] = {SQ_RET_DELETE_MAILBOX, SQ_VW_DELETE_MAILBOX};
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(dels); i++) {
        sqlite3_stmt *st = sq_stmt(u, dels[i]);
        if (!st)
            return STORAGE_ERR_IO;
        sqlite3_bind_int64(st, 1, mbid);
        r = sq_run(u, st, "delete mailbox");
    }
    return r;
}

int sq_retained_recover(struct mail_user *u)
{
    int64_t self, self_start;
    self_id(&self, &self_start);
    bool any_retained = false, own_rows = false;
    int r = exists_query(u, SQ_RET_ANY, 0, 0, 0, &any_retained);
    /* Rows under this pid are a failed close's only when no other handle
     * of this process has the store: a pool thread's private handle is
     * opened while the loop's may have viewers registered (their rows
     * must stay, or another process's expunge would not keep the
     * messages those sessions still show). */
    if (r == 0 && u->first_in_process)
        r = exists_query(u, SQ_VW_OWN_ANY, 1, self, 0, &own_rows);
    if (r < 0 || (!any_retained && !own_rows))
        return r;
    /* Messages are retained: for a session still selected somewhere, or
     * left by one that is gone. Write only in the second case (this open
     * may be a delivery while some session idles for half an hour). */
    bool work = own_rows;
    sqlite3_stmt *st;
    if (!work && (st = sq_stmt(u, SQ_VW_ALL))) {
        while (!work && sqlite3_step(st) == SQLITE_ROW)
            work = !proc_alive(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
        sqlite3_reset(st);
    }
    if (!work && (r = exists_query(u, SQ_RET_ANY_FREEABLE, 0, 0, 0, &work)) < 0)
        return r;
    if (!work)
        return STORAGE_OK;
    if ((r = light_begin(u)) < 0)
        return r;
    char (*dead)[33] = NULL;
    size_t ndead = 0, freed = 0;
    /* A process that opens a store it had no other handle of has no
     * viewer of it: rows under its pid are a failed close's, or a
     * previous process's with that pid. */
    if (!u->first_in_process) {
        r = 0;
    } else if (!(st = sq_stmt(u, SQ_VW_DELETE_PID))) {
        r = STORAGE_ERR_IO;
    } else {
        sqlite3_bind_int64(st, 1, self);
        r = sq_run(u, st, "viewer");
    }
    /* Rows of processes that are gone (a crash, a killed worker). */
    struct prow { int64_t pid, start; } *gone = NULL;
    size_t ngone = 0, cgone = 0;
    if (r == 0 && (st = sq_stmt(u, SQ_VW_ALL))) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t pid = sqlite3_column_int64(st, 0), start = sqlite3_column_int64(st, 1);
            if (!proc_alive(pid, start)) {
                ARRAY_GROW(gone, ngone, cgone);
                gone[ngone++] = (struct prow){pid, start};
            }
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            r = sq_error(u, rc, "viewers");
    } else if (r == 0) {
        r = STORAGE_ERR_IO;
    }
    for (size_t i = 0; r == 0 && i < ngone; i++) {
        if (!(st = sq_stmt(u, SQ_VW_DELETE_PID))) {
            r = STORAGE_ERR_IO;
            break;
        }
        sqlite3_bind_int64(st, 1, gone[i].pid);
        sqlite3_bind_int64(st, 2, gone[i].start);
        r = sq_run(u, st, "viewer");
    }
    free(gone);
    /* Then every mailbox's retained messages no live viewer needs. */
    int64_t *mbids = NULL;
    size_t nmb = 0, cmb = 0;
    if (r == 0 && any_retained && (st = sq_stmt(u, SQ_RET_MAILBOXES))) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            ARRAY_GROW(mbids, nmb, cmb);
            mbids[nmb++] = sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            r = sq_error(u, rc, "retained");
    }
    for (size_t i = 0; r == 0 && i < nmb; i++)
        r = free_mailbox(u, mbids[i], &freed);
    free(mbids);
    if (r == 0 && freed)
        r = sq_collect_dead(u, &dead, &ndead);
    r = light_end(u, r);
    if (r == 0) {
        sq_unlink_dead(u, dead, ndead);
        if (freed)
            log_info("storage: %s: released %zu expunged messages no session can see any more", u->name, freed);
    }
    free(dead);
    return r;
}
