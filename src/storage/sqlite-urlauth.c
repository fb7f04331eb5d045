/* sqlite-urlauth.c - SQLite backend: URLAUTH mailbox access keys (RFC
 * 4467 2.2; table urlauth_key, schema 12 in sqlite-schema.c; the API in
 * storage.h).
 *
 * Rows: (store, mailboxid) -> key, the store owner's key for that
 * mailbox. Rarely used: statements are prepared per call. A write is one
 * IMMEDIATE transaction committed like every other write (sq_commit).
 */
#include "sqlite-internal.h"
#include "log.h"

static int step_done(struct mail_user *u, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, what);
}

static int get_key(struct mail_user *u, const char *store, const char *mailboxid, unsigned char *key)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(sq(u)->db, "SELECT key FROM urlauth_key WHERE store=?1 AND mailboxid=?2", -1, &st,
                                NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return sq_error(u, rc, "prepare urlauth key");
    }
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, mailboxid, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    int r;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == URLAUTH_KEY_LEN) {
        memcpy(key, sqlite3_column_blob(st, 0), URLAUTH_KEY_LEN);
        r = STORAGE_OK;
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        r = STORAGE_ERR_NOTFOUND;
    } else {
        r = sq_error(u, rc, "get urlauth key");
    }
    sqlite3_finalize(st);
    return r;
}

int sq_urlauth_key(struct mail_user *u, const char *store, const char *mailboxid, enum urlauth_key_op op,
                   unsigned char key[URLAUTH_KEY_LEN])
{
    if (op == URLAUTH_KEY_GET)
        return get_key(u, store, mailboxid, key);
    int r = sq_begin(u);
    if (r < 0)
        return r;
    sqlite3_stmt *st = NULL;
    const char *sql = op == URLAUTH_KEY_DROP_ALL ? "DELETE FROM urlauth_key"
                      : op == URLAUTH_KEY_GEN    ? "INSERT OR IGNORE INTO urlauth_key(store,mailboxid,key) VALUES(?1,?2,?3)"
                                                 : "INSERT OR REPLACE INTO urlauth_key(store,mailboxid,key) VALUES(?1,?2,?3)";
    int rc = sqlite3_prepare_v2(sq(u)->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        r = sq_error(u, rc, "prepare urlauth key");
    } else {
        if (op != URLAUTH_KEY_DROP_ALL) {
            sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, mailboxid, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, key, URLAUTH_KEY_LEN, SQLITE_STATIC);
        }
        r = step_done(u, st, "set urlauth key");
    }
    sqlite3_finalize(st);
    /* GEN: the key that is stored now (ours, or the one already there) */
    if (r == 0 && op == URLAUTH_KEY_GEN)
        r = get_key(u, store, mailboxid, key);
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    return r;
}
