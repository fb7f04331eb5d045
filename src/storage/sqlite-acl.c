/* sqlite-acl.c - SQLite backend: mailbox ACL text, sharedseen and the
 * per-reader \Seen state of shared mailboxes (schema 5).
 *
 * The ACL is stored as the text access.h produces; storage never parses
 * it. Each change is a single UPDATE (atomic and durable on its own) and
 * is announced with notify_mailbox_changed() so sessions that cache
 * rights re-read them; nothing else (modseq, counters) changes.
 *
 * Per-reader \Seen (the Cyrus bulletin-board case): a reader other than
 * the store's owner, on a mailbox without sharedseen, has a row in seen
 * for each message it has seen. The message rows keep the owner's \Seen
 * and the mailbox counters count those; a reader's unseen count is the
 * mailbox's messages minus its seen rows (expunge and delete drop the
 * rows, so they never count a message that is gone).
 */
#include "sqlite-internal.h"
#include "notify.h"
#include "log.h"

static int notify_name(struct mail_user *u, const char *name)
{
    struct mailbox_info *info = xmalloc(sizeof(*info));
    if (sq_mailbox_load_name(u, name, info, NULL) == 0)
        notify_mailbox_changed(u->name, info->id);
    free(info);
    return STORAGE_OK;
}

int sq_create_acl(struct mail_user *u, const char *name, uint32_t special_use, const char *acl)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    int64_t id = 0;
    r = sq_create_locked(u, name, special_use, &id);
    if (r == 0 && acl && *acl) {
        sqlite3_stmt *st = sq_stmt(u, SQ_MB_SET_ACL_ID);
        if (!st) {
            r = STORAGE_ERR_IO;
        } else {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_text(st, 2, acl, -1, SQLITE_STATIC);
            r = sq_run(u, st, "create mailbox acl");
        }
    }
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    if (r == 0) {
        /* the hint and, for NOTIFY's MailboxName (RFC 5465 5.4), the name */
        struct notify_event ev = {NOTIFY_EV_CREATE, name, "", "", NULL};
        notify_mailbox_event(u->name, id, &ev);
    }
    return r;
}

int sq_set_acl(struct mail_user *u, const char *name, const char *acl)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_SET_ACL);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, acl, -1, SQLITE_STATIC);
    int r = sq_run(u, st, "set acl");   /* one statement: autocommit is a transaction */
    if (r == 0 && sqlite3_changes(sq(u)->db) == 0)
        r = STORAGE_ERR_NOTFOUND;
    if (r == 0)
        notify_name(u, name);
    return r;
}

/* Read-modify-write in one IMMEDIATE transaction, so two SETACLs on the
 * same mailbox from different sessions or processes cannot lose one. */
int sq_update_acl(struct mail_user *u, const char *name,
                  int (*modify)(const char *old, char **newacl, void *arg), void *arg)
{
    char *old = xmalloc(STORAGE_MAX_ACL + 1);
    char *newacl = NULL;
    int r = sq_begin(u);
    if (r < 0) {
        free(old);
        return r;
    }
    r = sq_get_acl(u, name, old);
    if (r == 0)
        r = modify(old, &newacl, arg);
    if (r == 0 && (!newacl || strlen(newacl) > STORAGE_MAX_ACL))
        r = STORAGE_ERR_INVALID;
    if (r == 0 && strcmp(old, newacl) != 0) {
        sqlite3_stmt *st = sq_stmt(u, SQ_MB_SET_ACL);
        if (!st) {
            r = STORAGE_ERR_IO;
        } else {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, newacl, -1, SQLITE_STATIC);
            r = sq_run(u, st, "update acl");
        }
    }
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    if (r == 0 && strcmp(old, newacl) != 0)
        notify_name(u, name);
    free(old);
    free(newacl);
    return r;
}

int sq_get_acl(struct mail_user *u, const char *name, char *out)
{
    out[0] = '\0';
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_GET_ACL);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0);
        size_t l = a ? MIN((size_t)sqlite3_column_bytes(st, 0), (size_t)STORAGE_MAX_ACL) : 0;
        if (l)
            memcpy(out, a, l);
        out[l] = '\0';
    } else {
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(u, rc, "get acl");
    }
    sqlite3_reset(st);
    return r;
}

/* By id, checking the MAILBOXID captured at open as every handle
 * operation does (sq_mailbox_load_mb), so a deleted mailbox is never
 * mistaken for another; the ACL column comes with the row. */
int sq_get_acl_mb(struct mailbox *mb, char *out)
{
    out[0] = '\0';
    if (mb->deleted)
        return STORAGE_ERR_NOTFOUND;
    struct mailbox_info *info = xmalloc(sizeof(*info));
    int r = sq_mailbox_load_id(mb->user, mb->id, info, NULL);
    if (r == 0 && strcmp(info->mailboxid, mb->info.mailboxid) != 0)
        r = STORAGE_ERR_NOTFOUND;
    if (r == STORAGE_ERR_NOTFOUND)
        mb->deleted = true;
    if (r == 0)
        snprintf(out, STORAGE_MAX_ACL + 1, "%s", info->acl ? info->acl : "");
    free(info);
    return r;
}

int sq_set_sharedseen(struct mail_user *u, const char *name, bool shared)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_SET_SHAREDSEEN);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, shared ? 1 : 0);
    int r = sq_run(u, st, "set sharedseen");
    if (r == 0 && sqlite3_changes(sq(u)->db) == 0)
        r = STORAGE_ERR_NOTFOUND;
    if (r == 0)
        notify_name(u, name);
    return r;
}

int sq_reader_unseen(struct mail_user *u, const char *reader, struct mailbox_info *info)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_SEEN_COUNT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, info->id);
    sqlite3_bind_text(st, 2, reader, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t seen = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return sq_error(u, rc, "reader seen");
    info->unseen = seen >= (int64_t)info->messages ? 0 : info->messages - (uint32_t)seen;
    return STORAGE_OK;
}

int sq_reader_seen_set(struct mail_user *u, int64_t mbid, const char *reader, uint32_t uid, bool seen)
{
    sqlite3_stmt *st = sq_stmt(u, seen ? SQ_SEEN_ADD : SQ_SEEN_DEL);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_text(st, 2, reader, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, uid);
    return sq_run(u, st, "reader seen");
}

int sq_status_as(struct mail_user *u, const char *name, const char *reader, struct mailbox_info *out)
{
    int r = sq_mailbox_load_name(u, name, out, NULL);
    if (r == 0 && reader && !out->sharedseen)
        r = sq_reader_unseen(u, reader, out);
    return r;
}

/* Public (storage.h) although in the backend file: SQLite is the only
 * backend, and this needs no entry in the ops table. */
int mail_user_rename_reader(struct mail_user *u, const char *from, const char *to)
{
    if (!u || !from || !*from || strlen(from) > STORAGE_MAX_ACL || (to && (!*to || strlen(to) > STORAGE_MAX_ACL)))
        return STORAGE_ERR_INVALID;
    int r = sq_begin(u);
    if (r < 0)
        return r;
    /* the reader's /private METADATA entries (sqlite-metadata.c) follow
     * it the same way */
    static const char *const sql[4] = {
        "UPDATE OR IGNORE seen SET reader=?2 WHERE reader=?1",   /* keep rows `to` already has */
        "DELETE FROM seen WHERE reader=?1",
        "UPDATE OR IGNORE metadata SET owner=?2 WHERE owner=?1",
        "DELETE FROM metadata WHERE owner=?1",
    };
    for (int i = 0; i < 4 && r == 0; i++) {
        if (!to && i % 2 == 0)
            continue;
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(sq(u)->db, sql[i], -1, &st, NULL);
        if (rc != SQLITE_OK) {
            r = sq_error(u, rc, "rename reader");
            break;
        }
        sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
        if (i % 2 == 0)
            sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = sq_error(u, rc, "rename reader");
        sqlite3_finalize(st);
    }
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    return r;
}
