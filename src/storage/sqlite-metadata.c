/* sqlite-metadata.c - SQLite backend: METADATA annotations (RFC 5464;
 * table metadata, its migration in sqlite-schema.c; the API in
 * storage.h).
 *
 * Rows: (mailbox_id, owner, name) -> value. mailbox_id 0 holds the
 * store's server entries; owner '' the /shared entries, '~' the store
 * owner's /private ones (not the owner's id, so they follow the account
 * when it is renamed), another user id that reader's /private ones.
 * A mailbox's rows go with it through a trigger (schema), and a rename
 * keeps its id, so no mailbox operation needs code here except RENAME
 * INBOX, which copies (sq_metadata_copy).
 *
 * Metadata is rarely used, so its statements are prepared per call
 * rather than cached (sq_stmt's table is shared by every sqlite file).
 * Every change is one IMMEDIATE transaction committed with
 * synchronous=FULL (sq_commit), like every other write of the store.
 */
#include "sqlite-internal.h"
#include "notify.h"
#include "log.h"
#include "buf.h"

/* The owner column of reader's /private entries in store u. */
static const char *owner_of(const struct mail_user *u, const char *reader)
{
    return strcmp(reader, u->name) == 0 ? "~" : reader;
}

/* The mailbox's id (0: the server entries). */
static int mailbox_id(struct mail_user *u, const char *mailbox, int64_t *id)
{
    *id = 0;
    if (!mailbox)
        return STORAGE_OK;
    struct mailbox_info info;
    int r = sq_mailbox_load_name(u, mailbox, &info, NULL);
    if (r == 0)
        *id = info.id;
    return r;
}

static sqlite3_stmt *prep(struct mail_user *u, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(sq(u)->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        log_err("storage: %s: prepare \"%s\": %s", u->name, sql, sqlite3_errmsg(sq(u)->db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

struct md_row {
    char *name;
    void *value;
    size_t len;
};

int sq_metadata_get(struct mail_user *u, const char *mailbox, const char *reader, const char *entry, int depth,
                    int (*cb)(const char *name, const void *value, size_t len, void *arg), void *arg)
{
    bool priv = strncmp(entry, "/private", 8) == 0;
    if (priv && (!reader || !*reader))
        return STORAGE_OK;      /* nobody's private entries to show */
    int64_t id;
    int r = mailbox_id(u, mailbox, &id);
    if (r < 0)
        return r;
    /* the entry itself and, with a depth, what is below it: children
     * have no further '/' after the entry's name and its '/' */
    sqlite3_stmt *st = prep(u, "SELECT name,value FROM metadata WHERE mailbox_id=?1 AND owner=?2 AND "
                               "(name=?3 OR (?4!=0 AND substr(name,1,length(?3)+1)=?3||'/' AND "
                               "(?4<0 OR instr(substr(name,length(?3)+2),'/')=0))) ORDER BY name");
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, priv ? owner_of(u, reader) : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, entry, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, depth);
    /* Collected first, so cb runs with no statement open. */
    struct md_row *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ARRAY_GROW(v, n, cap);
        const char *nm = (const char *)sqlite3_column_text(st, 0);
        size_t l = (size_t)sqlite3_column_bytes(st, 1);
        const void *val = sqlite3_column_blob(st, 1);
        v[n].name = xstrdup(nm ? nm : "");
        v[n].value = xmalloc(l + 1);
        if (l)
            memcpy(v[n].value, val, l);
        ((char *)v[n].value)[l] = '\0';
        v[n].len = l;
        n++;
    }
    r = rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "get metadata");
    sqlite3_finalize(st);
    for (size_t i = 0; r == 0 && i < n; i++)
        if (cb(v[i].name, v[i].value, v[i].len, arg))
            break;
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
    return r;
}

/* Entries of owner in the store (the metadata_max_entries count). */
static int count_owner(struct mail_user *u, const char *owner, int64_t *n)
{
    sqlite3_stmt *st = prep(u, "SELECT count(*) FROM metadata WHERE owner=?");
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int r = rc == SQLITE_ROW ? STORAGE_OK : sq_error(u, rc, "count metadata");
    sqlite3_finalize(st);
    return r;
}

int sq_metadata_set(struct mail_user *u, const char *mailbox, const char *reader, const struct metadata_change *c,
                    size_t n, int64_t special_use, int64_t max_entries)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    int64_t id;
    sqlite3_stmt *put = NULL, *del = NULL;
    const char *owners[2] = {"", reader ? owner_of(u, reader) : NULL};
    int64_t before[2] = {0, 0};
    if ((r = mailbox_id(u, mailbox, &id)) < 0)
        goto out;
    for (int k = 0; k < 2; k++)
        if (owners[k] && (r = count_owner(u, owners[k], &before[k])) < 0)
            goto out;
    put = prep(u, "INSERT OR REPLACE INTO metadata(mailbox_id,owner,name,value) VALUES(?1,?2,?3,?4)");
    del = prep(u, "DELETE FROM metadata WHERE mailbox_id=?1 AND owner=?2 AND name=?3");
    if (!put || !del) {
        r = STORAGE_ERR_IO;
        goto out;
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        sqlite3_stmt *st = c[i].value ? put : del;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, strncmp(c[i].entry, "/private", 8) == 0 ? owners[1] : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c[i].entry, -1, SQLITE_STATIC);
        if (c[i].value)
            sqlite3_bind_blob64(st, 4, c[i].len ? c[i].value : "", c[i].len, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = sq_error(u, rc, "set metadata");
    }
    /* RFC 5464 4.3: TOOMANY only for a change that adds entries past
     * the limit; replacing or removing is always possible, also when the
     * limit was lowered below what is stored. */
    for (int k = 0; k < 2 && r == 0; k++) {
        int64_t after;
        if (!owners[k] || (r = count_owner(u, owners[k], &after)) < 0)
            continue;
        if (after > before[k] && after > max_entries)
            r = STORAGE_ERR_LIMIT;
    }
    if (r == 0 && special_use >= 0) {
        sqlite3_stmt *st = prep(u, "UPDATE mailbox SET special_use=?1 WHERE id=?2");
        if (!st) {
            r = STORAGE_ERR_IO;
        } else {
            sqlite3_bind_int64(st, 1, special_use);
            sqlite3_bind_int64(st, 2, id);
            int rc = sqlite3_step(st);
            if (rc != SQLITE_DONE)
                r = sq_error(u, rc, "set special-use");
            sqlite3_finalize(st);
        }
    }
out:
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    /* NOTIFY's MailboxMetadataChange / ServerMetadataChange (RFC 5465
     * 5.6, 5.7): the changed entries, '\n'-separated (an entry name has
     * no control character, RFC 5464 3.2), the /shared and the /private
     * ones apart, the latter with their owner so that only that user
     * hears of them; a datagram per NOTIFY_EXTRA_MAX octets of names (a
     * burst of datagrams would overrun a worker's receive queue,
     * net.unix.max_dgram_qlen). */
    for (int pass = 0; r == 0 && pass < 2; pass++) {
        struct buf names = BUF_INIT;
        for (size_t i = 0; i <= n; i++) {
            bool flush = i == n;
            if (!flush) {
                bool priv = strncmp(c[i].entry, "/private", 8) == 0;
                if (priv != (pass == 1))
                    continue;
                if (names.len + strlen(c[i].entry) + 1 > NOTIFY_EXTRA_MAX)
                    flush = true;
            }
            if (flush && names.len) {
                struct notify_event ev = {NOTIFY_EV_METADATA, mailbox ? mailbox : "", buf_cstr(&names),
                                          pass == 1 && reader ? reader : "", NULL};
                notify_mailbox_event(u->name, mailbox ? id : NOTIFY_EVENT_ONLY, &ev);
                buf_reset(&names);
            }
            if (i < n && (strncmp(c[i].entry, "/private", 8) == 0) == (pass == 1)) {
                if (names.len)
                    buf_putc(&names, '\n');
                buf_puts(&names, c[i].entry);
            }
        }
        buf_free(&names);
    }
    return r;
}

int sq_metadata_copy(struct mail_user *u, int64_t from, int64_t to)
{
    sqlite3_stmt *st = prep(u, "INSERT OR REPLACE INTO metadata(mailbox_id,owner,name,value) "
                               "SELECT ?2,owner,name,value FROM metadata WHERE mailbox_id=?1");
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "copy metadata");
    sqlite3_finalize(st);
    return r;
}
