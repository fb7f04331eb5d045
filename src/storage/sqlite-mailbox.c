/* sqlite-mailbox.c - SQLite backend: mailbox rows (list, create, delete,
 * rename, subscriptions, open).
 */
#include "sqlite-internal.h"
#include "notify.h"
#include "log.h"

#include <stddef.h>
#include <time.h>

/* Columns 0..15 of MBCOLS (sqlite-store.c) into info. */
static void row_to_info(struct mail_user *u, sqlite3_stmt *st, struct mailbox_info *info, uint32_t *recent_uid)
{
    memset(info, 0, sizeof(*info));
    info->id = sqlite3_column_int64(st, 0);
    snprintf(info->name, sizeof(info->name), "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(info->mailboxid, sizeof(info->mailboxid), "%s", (const char *)sqlite3_column_text(st, 2));
    info->uidvalidity = (uint32_t)sqlite3_column_int64(st, 3);
    info->uidnext = (uint32_t)sqlite3_column_int64(st, 4);
    info->highestmodseq = (uint64_t)sqlite3_column_int64(st, 5);
    info->special_use = (uint32_t)sqlite3_column_int64(st, 6);
    if (recent_uid)
        *recent_uid = (uint32_t)sqlite3_column_int64(st, 7);
    info->messages = (uint32_t)sqlite3_column_int64(st, 8);
    info->unseen = (uint32_t)sqlite3_column_int64(st, 9);
    info->deleted = (uint32_t)sqlite3_column_int64(st, 10);
    info->size = (uint64_t)sqlite3_column_int64(st, 11);
    info->subscribed = sqlite3_column_int(st, 12) != 0;
    info->recent = (uint32_t)sqlite3_column_int64(st, 13);
    const char *acl = (const char *)sqlite3_column_text(st, 14);
    size_t al = acl ? MIN((size_t)sqlite3_column_bytes(st, 14), (size_t)STORAGE_MAX_ACL) : 0;
    struct sq_user *s = sq(u);
    if (s->aclcap < al + 1) {
        s->aclcap = al + 1 < 256 ? 256 : al + 1;
        s->aclbuf = xrealloc(s->aclbuf, s->aclcap);
    }
    if (al)
        memcpy(s->aclbuf, acl, al);
    s->aclbuf[al] = '\0';
    info->acl = s->aclbuf;
    info->sharedseen = sqlite3_column_int(st, 15) != 0;
}

static int load(struct mail_user *u, sqlite3_stmt *st, struct mailbox_info *info, uint32_t *recent_uid)
{
    if (!st)
        return STORAGE_ERR_IO;
    int rc = sqlite3_step(st);
    int r;
    if (rc == SQLITE_ROW) {
        row_to_info(u, st, info, recent_uid);
        r = STORAGE_OK;
    } else if (rc == SQLITE_DONE) {
        r = STORAGE_ERR_NOTFOUND;
    } else {
        r = sq_error(u, rc, "load mailbox");
    }
    sqlite3_reset(st);
    return r;
}

int sq_mailbox_load_name(struct mail_user *u, const char *name, struct mailbox_info *info, uint32_t *recent_uid)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_BY_NAME);
    if (st)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return load(u, st, info, recent_uid);
}

int sq_mailbox_load_id(struct mail_user *u, int64_t id, struct mailbox_info *info, uint32_t *recent_uid)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_BY_ID);
    if (st)
        sqlite3_bind_int64(st, 1, id);
    return load(u, st, info, recent_uid);
}

int sq_mailbox_load_mb(struct mailbox *mb, struct mailbox_info *info, uint32_t *recent_uid)
{
    if (mb->deleted)
        return STORAGE_ERR_NOTFOUND;
    int r = sq_mailbox_load_id(mb->user, mb->id, info, recent_uid);
    if (r == 0)
        info->acl = "";   /* an open handle's info never carries the ACL */
    if (r == 0 && strcmp(info->mailboxid, mb->info.mailboxid) != 0)
        r = STORAGE_ERR_NOTFOUND;   /* same id, another mailbox: never ours */
    if (r == STORAGE_ERR_NOTFOUND)
        mb->deleted = true;
    return r;
}

int sq_mailbox_alive(struct mailbox *mb)
{
    if (mb->deleted)
        return STORAGE_ERR_NOTFOUND;
    sqlite3_stmt *st = sq_stmt(mb->user, SQ_MB_ALIVE);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_text(st, 2, mb->info.mailboxid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return STORAGE_OK;
    if (rc != SQLITE_DONE)
        return sq_error(mb->user, rc, "mailbox exists");
    mb->deleted = true;
    return STORAGE_ERR_NOTFOUND;
}

int sq_if_gone(struct mailbox *mb, int r)
{
    int a = sq_mailbox_alive(mb);
    return a == STORAGE_ERR_NOTFOUND ? a : r;
}

int sq_is_deleted(struct mailbox *mb)
{
    int r = sq_mailbox_alive(mb);
    return r == STORAGE_ERR_NOTFOUND ? 1 : r;
}

int sq_mailbox_bump(struct mail_user *u, int64_t id, uint64_t modseq, uint32_t uidnext, int64_t dmessages,
                    int64_t dunseen, int64_t ddeleted, int64_t dsize)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_BUMP);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, (int64_t)modseq);
    sqlite3_bind_int64(st, 2, uidnext);
    sqlite3_bind_int64(st, 3, dmessages);
    sqlite3_bind_int64(st, 4, dunseen);
    sqlite3_bind_int64(st, 5, ddeleted);
    sqlite3_bind_int64(st, 6, dsize);
    sqlite3_bind_int64(st, 7, id);
    int r = sq_run(u, st, "update mailbox");
    /* Quota usage moves with the counters, in the same transaction. */
    if (r == 0)
        r = sq_quota_bump(u, id, dsize, dmessages, 0);
    return r;
}

int sq_keywords_register(struct mail_user *u, int64_t mailbox_id, const char *keywords)
{
    const char *p = keywords;
    while (p && *p) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        sqlite3_stmt *st = sq_stmt(u, SQ_KW_HAS);
        if (!st)
            return STORAGE_ERR_IO;
        sqlite3_bind_int64(st, 1, mailbox_id);
        sqlite3_bind_text(st, 2, p, (int)l, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            st = sq_stmt(u, SQ_KW_COUNT);
            if (!st)
                return STORAGE_ERR_IO;
            sqlite3_bind_int64(st, 1, mailbox_id);
            int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
            sqlite3_reset(st);
            if (n >= STORAGE_MAX_KEYWORDS_PER_MAILBOX)
                return STORAGE_ERR_LIMIT;
            st = sq_stmt(u, SQ_KW_ADD);
            if (!st)
                return STORAGE_ERR_IO;
            sqlite3_bind_int64(st, 1, mailbox_id);
            sqlite3_bind_text(st, 2, p, (int)l, SQLITE_STATIC);
            int r = sq_run(u, st, "add keyword");
            if (r < 0)
                return r;
        } else if (rc != SQLITE_ROW) {
            return sq_error(u, rc, "keyword lookup");
        }
        p = e ? e + 1 : NULL;
    }
    return STORAGE_OK;
}

int sq_collect_dead(struct mail_user *u, char (**guids)[33], size_t *n)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_BLOB_DEAD);
    if (!st)
        return STORAGE_ERR_IO;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 0);
        ARRAY_GROW(*guids, *n, cap);
        snprintf((*guids)[*n], 33, "%s", g ? g : "");
        (*n)++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sq_error(u, rc, "dead blobs");
    if (*n == 0)
        return STORAGE_OK;
    int r = sq_run(u, sq_stmt(u, SQ_HF_DEAD_DEL), "delete hdrfields");
    if (r < 0)
        return r;
    if ((r = sq_run(u, sq_stmt(u, SQ_SK_DEAD_DEL), "delete sortkeys")) < 0)
        return r;
    if ((r = sq_run(u, sq_stmt(u, SQ_PV_DEAD_DEL), "delete preview")) < 0)
        return r;
    return sq_run(u, sq_stmt(u, SQ_BLOB_DEAD_DEL), "delete blobs");
}

void sq_unlink_dead(struct mail_user *u, char (*guids)[33], size_t n)
{
    for (size_t i = 0; i < n; i++)
        msgfile_unlink(u, guids[i]);
}

/* UIDVALIDITY: time-based so that a recreated store (or mailbox) never
 * reuses an old value, and strictly increasing per user so two mailboxes
 * created in the same second still differ (RFC 9051 2.3.1.1). */
static int new_uidvalidity(struct mail_user *u, uint32_t *out)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_META_GET);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, "last_uidvalidity", -1, SQLITE_STATIC);
    int64_t last = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    int64_t now = (int64_t)time(NULL);
    int64_t v = MAX(now, last + 1);
    if (v > (int64_t)UINT32_MAX || v <= 0)
        v = 1;   /* past 2106: wrap (UIDVALIDITY need only differ) */
    st = sq_stmt(u, SQ_META_SET);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, "last_uidvalidity", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    *out = (uint32_t)v;
    return sq_run(u, st, "uidvalidity");
}

static int create_row(struct mail_user *u, const char *name, uint32_t special_use, uint32_t uidnext,
                      uint64_t modseq, int64_t *id)
{
    uint32_t uv;
    int r = new_uidvalidity(u, &uv);
    if (r < 0)
        return r;
    /* A fresh id from the persistent counter, never max(id)+1: an id
     * whose mailbox was deleted may still be held by an open session
     * (schema 2 -> 3 migration). */
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_NEXT_ID);
    if (!st)
        return STORAGE_ERR_IO;
    int rc = sqlite3_step(st);
    int64_t newid = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return sq_error(u, rc, "mailbox id");
    if (newid <= 0)
        return STORAGE_ERR_LIMIT;   /* 2^63 mailboxes created: not in this universe */
    if (!(st = sq_stmt(u, SQ_META_SET)))
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, "last_mailbox_id", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, newid);
    if ((r = sq_run(u, st, "mailbox id")) < 0)
        return r;
    char mbid[40];
    storage_new_objectid('F', mbid, sizeof(mbid));
    if (!(st = sq_stmt(u, SQ_MB_INSERT)))
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, mbid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, uv);
    sqlite3_bind_int64(st, 4, uidnext);
    sqlite3_bind_int64(st, 5, (int64_t)modseq);
    sqlite3_bind_int64(st, 6, special_use);
    sqlite3_bind_int64(st, 7, (int64_t)time(NULL));
    sqlite3_bind_int64(st, 8, newid);
    r = sq_run(u, st, "create mailbox");
    if (r == 0)
        r = sq_quota_bump(u, newid, 0, 0, 1);
    if (r == 0)
        *id = newid;
    return r;
}

int sq_create_locked(struct mail_user *u, const char *name, uint32_t special_use, int64_t *id)
{
    return create_row(u, name, special_use, 1, 1, id);
}

/* ---- ops ------------------------------------------------------------------ */

int sq_list(struct mail_user *u, mailbox_list_cb cb, void *arg)
{
    /* Rows are collected first so the callback may call back into storage
     * (e.g. STATUS of each listed mailbox) without disturbing the cursor. */
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_LIST);
    if (!st)
        return STORAGE_ERR_IO;
    /* Rows are collected first so callbacks run with no cursor open; the
     * ACL text is copied per row (info.acl points at the store's buffer,
     * which the next row overwrites). */
    struct lrow {
        char head[offsetof(struct mailbox_info, acl)];
        char *acl;
        bool sharedseen;
    } *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    struct mailbox_info *info = xmalloc(sizeof(*info));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ARRAY_GROW(v, n, cap);
        row_to_info(u, st, info, NULL);
        memcpy(v[n].head, info, sizeof(v[n].head));
        v[n].acl = xstrdup(info->acl);
        v[n].sharedseen = info->sharedseen;
        n++;
    }
    sqlite3_reset(st);
    int r = rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "list");
    for (size_t i = 0; i < n; i++) {
        if (r == 0) {
            memcpy(info, v[i].head, sizeof(v[i].head));
            info->acl = v[i].acl;
            info->sharedseen = v[i].sharedseen;
            cb(info, arg);
        }
        free(v[i].acl);
    }
    free(info);
    free(v);
    return r;
}

int sq_list_subscriptions(struct mail_user *u, void (*cb)(const char *name, void *arg), void *arg)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_SUB_LIST);
    if (!st)
        return STORAGE_ERR_IO;
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ARRAY_GROW(v, n, cap);
        v[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_reset(st);
    int r = rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "subscriptions");
    for (size_t i = 0; i < n; i++) {
        if (r == 0)
            cb(v[i], arg);
        free(v[i]);
    }
    free(v);
    return r;
}

int sq_subscribe(struct mail_user *u, const char *name, bool subscribe)
{
    sqlite3_stmt *st = sq_stmt(u, subscribe ? SQ_SUB_ADD : SQ_SUB_DEL);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = sq_run(u, st, "subscribe");   /* one statement: autocommit is a transaction */
    if (r == 0) {
        /* NOTIFY's SubscriptionChange (RFC 5465 5.5); no mailbox hint */
        struct notify_event ev = {subscribe ? NOTIFY_EV_SUBSCRIBE : NOTIFY_EV_UNSUBSCRIBE, name, "", "", NULL};
        notify_mailbox_event(u->name, NOTIFY_EVENT_ONLY, &ev);
    }
    return r;
}

int sq_status(struct mail_user *u, const char *name, struct mailbox_info *out)
{
    return sq_mailbox_load_name(u, name, out, NULL);
}

int sq_status_id(struct mail_user *u, int64_t id, struct mailbox_info *out)
{
    return sq_mailbox_load_id(u, id, out, NULL);
}

int sq_create(struct mail_user *u, const char *name, uint32_t special_use)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    int64_t id = 0;
    r = sq_create_locked(u, name, special_use, &id);
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

int sq_delete_mailbox(struct mail_user *u, const char *name)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    char (*dead)[33] = NULL;
    size_t ndead = 0;
    struct mailbox_info info;
    r = sq_mailbox_load_name(u, name, &info, NULL);
    if (r < 0)
        goto out;
    /* Drop one blob reference per message; walking the mailbox's guids is
     * O(n log n), a correlated count per blob would be quadratic. */
    sqlite3_stmt *g = sq_stmt(u, SQ_MSG_GUIDS_OF_MAILBOX);
    if (!g) {
        r = STORAGE_ERR_IO;
        goto out;
    }
    sqlite3_bind_int64(g, 1, info.id);
    int rc;
    while ((rc = sqlite3_step(g)) == SQLITE_ROW) {
        sqlite3_stmt *b = sq_stmt(u, SQ_BLOB_REF);
        if (!b) {
            r = STORAGE_ERR_IO;
            break;
        }
        sqlite3_bind_int(b, 1, -1);
        sqlite3_bind_text(b, 2, (const char *)sqlite3_column_text(g, 0), -1, SQLITE_TRANSIENT);
        if ((r = sq_run(u, b, "unref blob")) < 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sq_error(u, rc, "delete mailbox");
    sqlite3_reset(g);
    /* Expunged messages kept for sessions that still show the mailbox
     * (sqlite-retain.c) go with it: those sessions are told it is gone. */
    if (r == 0)
        r = sq_retained_drop_mailbox(u, info.id);
    /* Before the row goes: the bump finds the covering roots by its name. */
    if (r == 0)
        r = sq_quota_bump(u, info.id, -(int64_t)info.size, -(int64_t)info.messages, -1);
    static const enum sq_stmt_id dels[] = {SQ_MSG_DELETE_MAILBOX, SQ_EXP_DELETE_MAILBOX, SQ_KW_DELETE_MAILBOX,
                                           SQ_RANGE_DELETE_MAILBOX, SQ_SEEN_DELETE_MAILBOX, SQ_MB_DELETE};
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(dels); i++) {
        sqlite3_stmt *st = sq_stmt(u, dels[i]);
        if (!st) {
            r = STORAGE_ERR_IO;
            break;
        }
        sqlite3_bind_int64(st, 1, info.id);
        r = sq_run(u, st, "delete mailbox");
    }
    if (r == 0)
        r = sq_collect_dead(u, &dead, &ndead);
out:
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    if (r == 0) {
        sq_unlink_dead(u, dead, ndead);
        struct notify_event ev = {NOTIFY_EV_DELETE, name, "", "", NULL};   /* hint + MailboxName */
        notify_mailbox_event(u->name, info.id, &ev);
    }
    free(dead);
    return r;
}

/* RFC 9051 6.3.6: renaming INBOX moves all its messages to a new mailbox
 * and leaves INBOX empty; INBOX's children are not renamed. The new
 * mailbox gets a fresh UIDVALIDITY, so UIDs can be kept; INBOX keeps its
 * UIDVALIDITY and records the moved UIDs as expunged so QRESYNC clients
 * see them vanish. */
static int rename_inbox(struct mail_user *u, const char *newname, int64_t *inbox_id, int64_t *new_id)
{
    struct mailbox_info in;
    int r = sq_mailbox_load_name(u, "INBOX", &in, NULL);
    if (r < 0)
        return r;
    /* in.acl points at a buffer the next load overwrites: keep a copy */
    char inacl[STORAGE_MAX_ACL + 1];
    snprintf(inacl, sizeof(inacl), "%s", in.acl);
    *inbox_id = in.id;
    uint64_t ms = in.highestmodseq + 1;
    r = create_row(u, newname, 0, in.uidnext, ms, new_id);
    if (r < 0)
        return r;
    sqlite3_stmt *st = sq_stmt(u, SQ_EXP_FROM_MAILBOX);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, in.id);
    sqlite3_bind_int64(st, 2, (int64_t)ms);
    if ((r = sq_run(u, st, "rename INBOX")) < 0)
        return r;
    if (!(st = sq_stmt(u, SQ_MSG_MOVE_ALL)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, in.id);
    sqlite3_bind_int64(st, 2, *new_id);
    sqlite3_bind_int64(st, 3, (int64_t)ms);
    if ((r = sq_run(u, st, "rename INBOX")) < 0)
        return r;
    /* The UIDs are kept, so INBOX's ranges simply change owner. */
    if (!(st = sq_stmt(u, SQ_RANGE_MOVE_ALL)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, in.id);
    sqlite3_bind_int64(st, 2, *new_id);
    if ((r = sq_run(u, st, "rename INBOX")) < 0)
        return r;
    if (!(st = sq_stmt(u, SQ_KW_COPY)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, in.id);
    sqlite3_bind_int64(st, 2, *new_id);
    if ((r = sq_run(u, st, "rename INBOX")) < 0)
        return r;
    /* Readers' own \Seen follows the messages; the new mailbox keeps
     * INBOX's ACL (a rename keeps the ACL, RFC 4314 4). */
    if (!(st = sq_stmt(u, SQ_SEEN_MOVE_ALL)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, in.id);
    sqlite3_bind_int64(st, 2, *new_id);
    if ((r = sq_run(u, st, "rename INBOX")) < 0)
        return r;
    if (!(st = sq_stmt(u, SQ_MB_SET_ACL_ID)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, *new_id);
    sqlite3_bind_text(st, 2, inacl, -1, SQLITE_STATIC);
    if ((r = sq_run(u, st, "rename INBOX")) < 0)
        return r;
    r = sq_mailbox_bump(u, *new_id, ms, in.uidnext, in.messages, in.unseen, in.deleted, (int64_t)in.size);
    if (r == 0)
        r = sq_mailbox_bump(u, in.id, ms, in.uidnext, -(int64_t)in.messages, -(int64_t)in.unseen,
                            -(int64_t)in.deleted, -(int64_t)in.size);
    /* RFC 5464 4.1: the new mailbox gets a copy of INBOX's annotations,
     * INBOX keeps its own */
    if (r == 0)
        r = sq_metadata_copy(u, in.id, *new_id);
    return r;
}

int sq_rename(struct mail_user *u, const char *oldname, const char *newname)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    int64_t id1 = 0, id2 = 0;
    struct mailbox_info info;
    if ((r = sq_mailbox_load_name(u, newname, &info, NULL)) == 0) {
        r = STORAGE_ERR_EXISTS;
        goto out;
    } else if (r != STORAGE_ERR_NOTFOUND) {
        goto out;
    }
    if (strcmp(oldname, "INBOX") == 0) {
        r = rename_inbox(u, newname, &id1, &id2);
        goto out;
    }
    if ((r = sq_mailbox_load_name(u, oldname, &info, NULL)) < 0)
        goto out;
    id1 = info.id;
    /* Any child "old/x" whose new name "new/x" is taken makes the whole
     * rename fail before anything changes. */
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_CHILD_CONFLICT);
    if (!st) {
        r = STORAGE_ERR_IO;
        goto out;
    }
    sqlite3_bind_text(st, 1, oldname, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, newname, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        r = STORAGE_ERR_EXISTS;
        goto out;
    } else if (rc != SQLITE_DONE) {
        r = sq_error(u, rc, "rename");
        goto out;
    }
    if (!(st = sq_stmt(u, SQ_MB_RENAME))) {
        r = STORAGE_ERR_IO;
        goto out;
    }
    sqlite3_bind_text(st, 1, oldname, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, newname, -1, SQLITE_STATIC);
    r = sq_run(u, st, "rename");
    /* Quota roots move with their mailboxes; a subtree that changes roots
     * takes its usage along (checked against the new roots at commit). */
    if (r == 0)
        r = sq_quota_rename(u, oldname, newname);
    if (r == 0)
        r = sq_quota_resync(u);
    /* A renamed child could now exceed the name length limit. */
    if (r == 0) {
        sqlite3_stmt *chk;
        if (sqlite3_prepare_v2(sq(u)->db, "SELECT 1 FROM mailbox WHERE length(CAST(name AS BLOB))>?", -1, &chk,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_int(chk, 1, STORAGE_MAX_MAILBOX_NAME);
            if (sqlite3_step(chk) == SQLITE_ROW)
                r = STORAGE_ERR_INVALID;
            sqlite3_finalize(chk);
        }
    }
out:
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    if (r == 0) {
        /* hint + MailboxName with the old name (RFC 5465 5.4: OLDNAME) */
        struct notify_event ev = {NOTIFY_EV_RENAME, newname, oldname, "", NULL};
        notify_mailbox_event(u->name, id1, &ev);
        if (id2)
            notify_mailbox_changed(u->name, id2);
    }
    return r;
}

int sq_set_special_use(struct mail_user *u, const char *name, uint32_t special_use)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_SPECIAL);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, special_use);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int r = sq_run(u, st, "special-use");
    if (r == 0 && sqlite3_changes(sq(u)->db) == 0)
        r = STORAGE_ERR_NOTFOUND;
    if (r == 0) {
        struct mailbox_info info;
        if (sq_mailbox_load_name(u, name, &info, NULL) == 0)
            notify_mailbox_changed(u->name, info.id);
    }
    return r;
}

int sq_open(struct mailbox *mb, const char *name, bool claim_recent, uint32_t *recent_uid_floor)
{
    struct mail_user *u = mb->user;
    uint32_t ruid = 0;
    int r = sq_mailbox_load_name(u, name, &mb->info, &ruid);
    if (r < 0)
        return r;
    mb->info.acl = "";      /* see mailbox_info.acl: not kept in open handles */
    mb->id = mb->info.id;   /* with info.mailboxid: what every later call checks */
    if (mailbox_seen_reader(mb) && (r = sq_reader_unseen(u, mb->reader, &mb->info)) < 0)
        return r;
    if (mb->reader[0]) {
        /* Another user's mailbox: \Recent belongs to the owner's sessions. */
        if (recent_uid_floor)
            *recent_uid_floor = UINT32_MAX;
        return STORAGE_OK;
    }
    if (claim_recent && ruid + 1 < mb->info.uidnext) {
        /* Only a write when there is something to claim: most SELECTs of a
         * busy mailbox find the watermark already current. The re-read
         * under the write lock makes two racing SELECTs split the recent
         * messages instead of both claiming them. */
        if ((r = sq_begin(u)) < 0)
            return r;
        struct mailbox_info info;
        r = sq_mailbox_load_mb(mb, &info, &ruid);   /* deleted meanwhile: NOTFOUND */
        if (r == 0)
            mb->info = info;
        if (r == 0 && ruid + 1 < mb->info.uidnext) {
            sqlite3_stmt *st = sq_stmt(u, SQ_MB_SET_RECENT);
            if (!st) {
                r = STORAGE_ERR_IO;
            } else {
                sqlite3_bind_int64(st, 1, (int64_t)mb->info.uidnext - 1);
                sqlite3_bind_int64(st, 2, mb->id);
                r = sq_run(u, st, "claim recent");
            }
        }
        if (r == 0)
            r = sq_commit(u);
        else
            sq_rollback(u);
        if (r < 0)
            return r;
        mb->info.recent = 0;   /* the mailbox-wide count is now zero */
    }
    if (recent_uid_floor)
        *recent_uid_floor = ruid;
    return STORAGE_OK;
}

int sq_peek_info(struct mailbox *mb, struct mailbox_info *out)
{
    return sq_mailbox_load_mb(mb, out, NULL);
}

int sq_refresh_info(struct mailbox *mb)
{
    struct mailbox_info info;
    int r = sq_mailbox_load_mb(mb, &info, NULL);
    /* sharedseen may have changed since open: the fresh row decides. */
    if (r == 0 && mb->reader[0] && !info.sharedseen)
        r = sq_reader_unseen(mb->user, mb->reader, &info);
    if (r == 0)
        mb->info = info;
    return r;
}

/* RFC 3501 2.3.2: a message is \Recent in exactly one session, the first
 * to learn of it. mailbox_open claims at SELECT; a session already selected
 * read-write claims what arrived since through here. */
int sq_claim_recent(struct mailbox *mb, uint32_t *floor_out, uint32_t *claimed_hi)
{
    struct mail_user *u = mb->user;
    struct mailbox_info info;
    uint32_t ruid = 0;
    if (mb->reader[0]) {
        /* A reader other than the owner never claims (mailbox_open_as). */
        *floor_out = *claimed_hi = UINT32_MAX;
        return STORAGE_OK;
    }
    /* Plain read first (WAL: never waits for a writer): the common case is
     * that nothing new arrived, and that must not take the write lock. */
    int r = sq_mailbox_load_mb(mb, &info, &ruid);
    if (r < 0)
        return r;
    if (ruid + 1 < info.uidnext) {
        /* Re-read under the write lock: of two racing claimers the second
         * finds the watermark moved and claims only what is left.
         * On the loop thread (IMAP sync, mailbox_claim_recent_nowait) the
         * claim must never wait: no
         * busy wait for another connection's write lock (a job's commit)
         * and no fsync (losing a claim in a power failure only shows a
         * message as \Recent once more). A busy database leaves the
         * watermark where it is; the next sync claims (STORAGE_ERR_BUSY,
         * logged at debug level by the caller). */
        bool loop = storage_nowait;
        if (loop) {
            sqlite3_busy_timeout(sq(u)->db, 0);
            (void)sq_run(u, sq_stmt(u, SQ_SYNC_NORMAL), "synchronous");
        }
        r = loop ? sq_try_begin(u) : sq_begin(u);
        if (loop) {
            sq_busy_wait(sq(u)->db);
            if (r < 0)
                (void)sq_run(u, sq_stmt(u, SQ_SYNC_FULL), "synchronous");
        }
        if (r < 0)
            return r;
        r = sq_mailbox_load_mb(mb, &info, &ruid);
        if (r == 0 && ruid + 1 < info.uidnext) {
            sqlite3_stmt *st = sq_stmt(u, SQ_MB_SET_RECENT);
            if (!st) {
                r = STORAGE_ERR_IO;
            } else {
                sqlite3_bind_int64(st, 1, (int64_t)info.uidnext - 1);
                sqlite3_bind_int64(st, 2, mb->id);
                r = sq_run(u, st, "claim recent");
            }
            if (r == 0)
                r = sq_commit(u);
            else
                sq_rollback(u);
            if (loop)
                (void)sq_run(u, sq_stmt(u, SQ_SYNC_FULL), "synchronous");
            if (r < 0)
                return r;
            *floor_out = ruid;
            *claimed_hi = info.uidnext - 1;
            mb->info.recent = 0;
            return STORAGE_OK;
        }
        sq_rollback(u);   /* nothing written: a rollback is just the unlock */
        if (loop)
            (void)sq_run(u, sq_stmt(u, SQ_SYNC_FULL), "synchronous");
        if (r < 0)
            return r;
    }
    *floor_out = *claimed_hi = ruid;
    return STORAGE_OK;
}
