/* sqlite-quota.c - SQLite backend: quota roots (RFC 9208).
 *
 * Usage lives in the quotaroot table (schema 4) and is changed by the
 * same write transaction as the change that causes it: sq_mailbox_bump
 * (every message count/size change), create_row (+1 mailbox), mailbox
 * delete (the mailbox's counters and the mailbox) and rename (a resync
 * from the mailbox counters, since whole subtrees may change roots). So
 * usage is always the sum of the covered mailboxes' counters, which
 * STATUS SIZE also reports, and a crash can never leave it wrong.
 *
 * Enforcement is at commit (sq_commit -> sq_quota_verdict): each change
 * of usage is remembered per root for the running transaction, and a
 * transaction whose net effect raised a root that is now over a limit is
 * rolled back with STORAGE_ERR_OVERQUOTA. Checking the net effect is what
 * lets a MOVE inside one root succeed even when the root is over its
 * limit (the limit may have been lowered below the usage), and lets every
 * removal succeed.
 *
 * Deleting a mailbox that is a quota root keeps the root (it still
 * covers any children, and a mailbox created again under that name);
 * renaming moves the roots inside the renamed subtree along with it.
 */
#include "sqlite-internal.h"
#include "config.h"
#include "log.h"

static void row_to_root(sqlite3_stmt *st, struct quota_root *q)
{
    memset(q, 0, sizeof(*q));
    const char *n = (const char *)sqlite3_column_text(st, 0);
    snprintf(q->name, sizeof(q->name), "%s", n ? n : "");
    int64_t *lim[3] = {&q->storage_limit_kb, &q->message_limit, &q->mailbox_limit};
    for (int i = 0; i < 3; i++)
        *lim[i] = sqlite3_column_type(st, 1 + i) == SQLITE_NULL ? QUOTA_UNLIMITED : sqlite3_column_int64(st, 1 + i);
    q->storage_used = sqlite3_column_int64(st, 4);
    q->message_used = sqlite3_column_int64(st, 5);
    q->mailbox_used = sqlite3_column_int64(st, 6);
}

void sq_quota_forget(struct mail_user *u)
{
    struct sq_user *s = sq(u);
    for (size_t i = 0; i < s->nqd; i++)
        free(s->qd[i].name);
    s->nqd = 0;
}

/* Remember a root's change (d) and its state after it (q). */
static void note(struct mail_user *u, const struct quota_root *q, const int64_t d[3])
{
    struct sq_user *s = sq(u);
    struct sq_qdelta *e = NULL;
    for (size_t i = 0; i < s->nqd && !e; i++)
        if (strcmp(s->qd[i].name, q->name) == 0)
            e = &s->qd[i];
    if (!e) {
        ARRAY_GROW(s->qd, s->nqd, s->cqd);
        e = &s->qd[s->nqd++];
        memset(e, 0, sizeof(*e));
        e->name = xstrdup(q->name);
    }
    for (int i = 0; i < 3; i++)
        e->d[i] += d[i];
    e->used[0] = q->storage_used;
    e->used[1] = q->message_used;
    e->used[2] = q->mailbox_used;
    /* Storage limits are KiB (RFC 9208 5.1); QUOTA_MAX_LIMIT keeps *1024 in range. */
    e->limit[0] = q->storage_limit_kb < 0                 ? -1
                  : q->storage_limit_kb > QUOTA_MAX_LIMIT ? INT64_MAX   /* only via raw SQL */
                                                          : q->storage_limit_kb * 1024;
    e->limit[1] = q->message_limit;
    e->limit[2] = q->mailbox_limit;
}

int sq_quota_verdict(struct mail_user *u)
{
    struct sq_user *s = sq(u);
    int r = STORAGE_OK;
    for (size_t i = 0; i < s->nqd && r == 0 && !s->quota_bypass; i++) {
        const struct sq_qdelta *e = &s->qd[i];
        for (int k = 0; k < 3; k++)
            if (e->d[k] > 0 && e->limit[k] >= 0 && e->used[k] > e->limit[k])
                r = STORAGE_ERR_OVERQUOTA;
    }
    sq_quota_forget(u);
    return r;
}

int sq_quota_bump(struct mail_user *u, int64_t mbid, int64_t dstorage, int64_t dmessages, int64_t dmailboxes)
{
    if (!dstorage && !dmessages && !dmailboxes)
        return STORAGE_OK;
    sqlite3_stmt *st = sq_stmt(u, SQ_QR_BUMP);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, dstorage);
    sqlite3_bind_int64(st, 2, dmessages);
    sqlite3_bind_int64(st, 3, dmailboxes);
    sqlite3_bind_int64(st, 4, mbid);
    const int64_t d[3] = {dstorage, dmessages, dmailboxes};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct quota_root q;
        row_to_root(st, &q);
        note(u, &q, d);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "quota usage");
}

int sq_quota_bump_user(struct mail_user *u, int64_t dstorage)
{
    if (!dstorage)
        return STORAGE_OK;
    sqlite3_stmt *st = sq_stmt(u, SQ_QR_BUMP_USER);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, dstorage);
    const int64_t d[3] = {dstorage, 0, 0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct quota_root q;
        row_to_root(st, &q);
        note(u, &q, d);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "quota usage");
}

/* Read every root into *v (caller frees). */
static int read_roots(struct mail_user *u, enum sq_stmt_id id, const char *bind, struct quota_root **v, size_t *n)
{
    sqlite3_stmt *st = sq_stmt(u, id);
    if (!st)
        return STORAGE_ERR_IO;
    if (bind)
        sqlite3_bind_text(st, 1, bind, -1, SQLITE_STATIC);
    size_t cap = 0;
    *v = NULL;
    *n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ARRAY_GROW(*v, *n, cap);
        row_to_root(st, &(*v)[(*n)++]);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(*v);
        *v = NULL;
        *n = 0;
        return sq_error(u, rc, "quota roots");
    }
    return STORAGE_OK;
}

int sq_quota_resync(struct mail_user *u)
{
    struct quota_root *before = NULL;
    size_t nb = 0;
    int r = read_roots(u, SQ_QR_LIST, NULL, &before, &nb);
    if (r < 0)
        return r;
    struct quota_root *after = NULL;
    size_t na = 0;
    r = read_roots(u, SQ_QR_RESYNC, NULL, &after, &na);
    for (size_t i = 0; r == 0 && i < na; i++) {
        int64_t d[3] = {after[i].storage_used, after[i].message_used, after[i].mailbox_used};
        for (size_t j = 0; j < nb; j++)
            if (strcmp(before[j].name, after[i].name) == 0) {
                d[0] -= before[j].storage_used;
                d[1] -= before[j].message_used;
                d[2] -= before[j].mailbox_used;
                break;
            }
        note(u, &after[i], d);
    }
    free(before);
    free(after);
    return r;
}

int sq_quota_rename(struct mail_user *u, const char *oldname, const char *newname)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_QR_RENAME);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, oldname, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, newname, -1, SQLITE_STATIC);
    return sq_run(u, st, "rename quota root");
}

int sq_quota_autocreate(struct mail_user *u)
{
    /* Cyrus: autocreatequota in KiB, autocreatequotamsg in messages; a
     * value <= 0 means no limit. */
    long long kb = config_int(CFG_AUTOCREATEQUOTA), msgs = config_int(CFG_AUTOCREATEQUOTAMSG);
    if (kb <= 0 && msgs <= 0)
        return STORAGE_OK;
    sqlite3_stmt *st = sq_stmt(u, SQ_QR_UPSERT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, "", -1, SQLITE_STATIC);
    if (kb > 0)
        sqlite3_bind_int64(st, 2, MIN((int64_t)kb, QUOTA_MAX_LIMIT));
    if (msgs > 0)
        sqlite3_bind_int64(st, 3, (int64_t)msgs);
    return sq_run(u, st, "autocreatequota");
}

/* ---- ops ------------------------------------------------------------------- */

int sq_quota_list(struct mail_user *u, const char *covering, int (*cb)(const struct quota_root *q, void *arg),
                  void *arg)
{
    /* Collected first so cb may call back into storage. */
    struct quota_root *v = NULL;
    size_t n = 0;
    int r = read_roots(u, covering ? SQ_QR_COVERING : SQ_QR_LIST, covering, &v, &n);
    for (size_t i = 0; r == 0 && i < n; i++)
        if (cb(&v[i], arg))
            break;
    free(v);
    return r;
}

int sq_quota_get(struct mail_user *u, const char *root, struct quota_root *out)
{
    struct quota_root *v = NULL;
    size_t n = 0;
    int r = read_roots(u, SQ_QR_GET, root, &v, &n);
    if (r == 0 && n == 0)
        r = STORAGE_ERR_NOTFOUND;
    if (r == 0)
        *out = v[0];
    free(v);
    return r;
}

static void bind_limit(sqlite3_stmt *st, int idx, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(st, idx, v);
    else
        sqlite3_bind_null(st, idx);
}

int sq_quota_set(struct mail_user *u, const char *root, int64_t storage_kb, int64_t messages, int64_t mailboxes)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    if (*root) {
        struct mailbox_info info;
        struct quota_root q;
        /* A new sub-root needs its mailbox (as Cyrus); an existing one may
         * outlive it and still be changed. */
        r = sq_quota_get(u, root, &q);
        if (r == STORAGE_ERR_NOTFOUND)
            r = sq_mailbox_load_name(u, root, &info, NULL);
        if (r < 0)
            goto out;
    }
    sqlite3_stmt *st = sq_stmt(u, SQ_QR_UPSERT);
    if (!st) {
        r = STORAGE_ERR_IO;
        goto out;
    }
    sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
    bind_limit(st, 2, storage_kb);
    bind_limit(st, 3, messages);
    bind_limit(st, 4, mailboxes);
    if ((r = sq_run(u, st, "set quota")) < 0)
        goto out;
    /* A new root's usage; cheap (mailbox counters), and harmless for others. */
    r = sq_quota_resync(u);
    /* A limit below the usage is allowed (RFC 9208 4.3 leaves it to the
     * server; then only removals succeed), so this commit is not judged. */
    sq_quota_forget(u);
out:
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    return r;
}

int sq_quota_remove(struct mail_user *u, const char *root)
{
    sqlite3_stmt *st = sq_stmt(u, *root ? SQ_QR_DELETE : SQ_QR_CLEAR);
    if (!st)
        return STORAGE_ERR_IO;
    if (*root)
        sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
    int r = sq_run(u, st, "remove quota");   /* one statement: autocommit is a transaction */
    if (r == 0 && sqlite3_changes(sq(u)->db) == 0)
        r = STORAGE_ERR_NOTFOUND;
    return r;
}

int sq_quota_recalc(struct mail_user *u, bool fix,
                    void (*cb)(const struct quota_root *before, const struct quota_root *after, void *arg),
                    void *arg)
{
    int r = sq_begin(u);   /* a consistent view, and the fix is atomic */
    if (r < 0)
        return r;
    struct quota_root *v = NULL;
    size_t n = 0;
    int drift = 0;
    struct quota_root *after = NULL;
    if ((r = read_roots(u, SQ_QR_LIST, NULL, &v, &n)) < 0)
        goto out;
    after = xcalloc(n ? n : 1, sizeof(*after));
    for (size_t i = 0; r == 0 && i < n; i++) {
        sqlite3_stmt *st = sq_stmt(u, SQ_QR_ACTUAL);
        if (!st) {
            r = STORAGE_ERR_IO;
            break;
        }
        sqlite3_bind_text(st, 1, v[i].name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        after[i] = v[i];
        if (rc == SQLITE_ROW) {
            after[i].storage_used = sqlite3_column_int64(st, 0);
            after[i].message_used = sqlite3_column_int64(st, 1);
            after[i].mailbox_used = sqlite3_column_int64(st, 2);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) {
            r = sq_error(u, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "quota recalc");
            break;
        }
        bool differs = after[i].storage_used != v[i].storage_used || after[i].message_used != v[i].message_used ||
                       after[i].mailbox_used != v[i].mailbox_used;
        if (!differs)
            continue;
        drift++;
        log_warn("storage: %s: quota root \"%s\" usage drifted: storage %lld/%lld messages %lld/%lld "
                 "mailboxes %lld/%lld (stored/actual)%s",
                 u->name, v[i].name, (long long)v[i].storage_used, (long long)after[i].storage_used,
                 (long long)v[i].message_used, (long long)after[i].message_used, (long long)v[i].mailbox_used,
                 (long long)after[i].mailbox_used, fix ? ", fixed" : "");
        if (fix) {
            if (!(st = sq_stmt(u, SQ_QR_SET_USED))) {
                r = STORAGE_ERR_IO;
                break;
            }
            sqlite3_bind_text(st, 1, v[i].name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, after[i].storage_used);
            sqlite3_bind_int64(st, 3, after[i].message_used);
            sqlite3_bind_int64(st, 4, after[i].mailbox_used);
            r = sq_run(u, st, "quota recalc");
        }
    }
out:
    if (r == 0 && fix && drift)
        r = sq_commit(u);
    else
        sq_rollback(u);
    for (size_t i = 0; r == 0 && cb && i < n; i++)
        cb(&v[i], &after[i], arg);
    free(v);
    free(after);
    return r < 0 ? r : drift;
}

int sq_deleted_size(struct mail_user *u, const char *name, uint64_t *out)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_DELETED_SIZE);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = STORAGE_OK;
    if (rc != SQLITE_ROW)
        r = sq_error(u, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "deleted size");
    else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        r = STORAGE_ERR_NOTFOUND;
    else
        *out = (uint64_t)sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    return r;
}
