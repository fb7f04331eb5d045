/* store-harness.h - a storage layer over a fresh temporary datadir, and raw
 * SQLite access to a user's mail.db for the storage tests (storage, ACL,
 * quota) that inspect or damage the schema behind the API's back.
 *
 *   #include "unit.h"
 *   #include "store-harness.h"
 *   int main(void) {
 *       if (store_harness_init("test-x") != 0) return 2;
 *       RUN(...);
 *       storage_shutdown();
 *       return unit_done();
 *   }
 *
 * Everything is static inline so that a test using only part of it
 * still builds with -Werror (no -Wunused-function). */
#ifndef DARIUS_STORE_HARNESS_H
#define DARIUS_STORE_HARNESS_H

#include "storage.h"
#include "log.h"
#include <sqlite3.h>
#include <stdint.h>

static char g_dir[256];          /* DATADIR of the test */

/* The upgrade tests take a store of this build back to an old schema and
 * reopen it. STORE_UNDO_TO_5 undoes every migration after schema 5 (each
 * new migration adds its undo here, newest first); STORE_SCHEMA_VERSION
 * is the version an upgraded store ends at. */
#define STORE_UNDO_TO_5 "DROP TABLE preview; DROP TABLE urlauth_key; DROP TABLE thread_msgid; DROP TABLE sortkeys; DROP TRIGGER metadata_mailbox_gone; DROP TABLE metadata; DROP TABLE sieve_script; DROP TABLE viewer; DROP TABLE retained; DROP TABLE hdrfields; "
#define STORE_SCHEMA_VERSION 13

/* Logging (errors only), g_dir = a new temporary directory, storage_init
 * on it. 0, or -1 (reported) when the store cannot be set up. */
static inline int store_harness_init(const char *name)
{
    log_init(name, true, false, NULL);
    log_set_level(LOG_LVL_ERR);
    snprintf(g_dir, sizeof(g_dir), "%s", unit_tmpdir());
    if (storage_init(g_dir) != 0) {
        fprintf(stderr, "storage_init failed\n");
        return -1;
    }
    return 0;
}

/* A direct connection to USER's mail.db (close with sqlite3_close). */
static inline sqlite3 *raw_db(const char *user)
{
    char db[512];
    snprintf(db, sizeof(db), "%s/user/%c/%s/mail.db", g_dir, user[0], user);
    sqlite3 *h = NULL;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    return h;
}

static inline void raw_exec(const char *user, const char *sql)
{
    sqlite3 *h = raw_db(user);
    char *err = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "raw_exec: %s: %s\n", sql, err ? err : "?");
    CHECK(rc == SQLITE_OK);
    sqlite3_free(err);
    sqlite3_close(h);
}

/* The first column of the first row of SQL, or -1 when there is none. */
static inline int64_t raw_int(const char *user, const char *sql)
{
    sqlite3 *h = raw_db(user);
    sqlite3_stmt *st;
    int64_t v = -1;
    CHECK(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

#endif
