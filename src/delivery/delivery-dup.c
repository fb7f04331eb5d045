/* delivery-dup.c - duplicate delivery suppression (DATADIR/duplicate.db).
 *
 * Key: (Message-ID, user, mailbox); value: time of delivery. SQLite in
 * WAL mode with a busy timeout and one statement per transaction, so
 * `darius expire` can prune from cron while dariusd and `darius deliver`
 * write. A database problem never blocks mail: it is logged and the
 * message is delivered (a possible duplicate is the lesser evil).
 *
 * Threads: deliveries are committed on the worker's pool threads (issue
 * 10), several at once, and the one connection (g_db) is opened without
 * SQLite's own mutex. Every use of it is therefore inside g_mu: each
 * critical section is one statement on a small indexed table (no fsync:
 * synchronous=NORMAL in WAL mode). g_mu also guards the list of
 * deliveries in flight (duplicate_begin/_end).
 */
#include "delivery.h"
#include "config.h"
#include "log.h"
#include "storage.h"

#include <pthread.h>
#include <sqlite3.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *g_db;
static bool g_failed;

/* (msgid, user, mailbox) of the deliveries between duplicate_begin and
 * duplicate_end in this process: a second delivery of the same message
 * to the same mailbox meanwhile (an MTA that timed out and tries again
 * on another connection) must not slip past the check, which the first
 * has not recorded yet. Few entries: one per delivery being committed. */
struct inflight {
    struct inflight *next;
    char *msgid, *user, *mailbox;
};
static struct inflight *g_inflight;

static sqlite3 *db(void)
{
    if (g_db || g_failed)
        return g_db;
    char path[4096];
    snprintf(path, sizeof(path), "%s/duplicate.db", storage_datadir());
    sqlite3 *d = NULL;
    if (sqlite3_open_v2(path, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        log_err("delivery: cannot open %s: %s", path, d ? sqlite3_errmsg(d) : "out of memory");
        sqlite3_close(d);
        g_failed = true;
        return NULL;
    }
    sqlite3_busy_timeout(d, 5000);
    char *err = NULL;
    if (sqlite3_exec(d,
                     "PRAGMA journal_mode=WAL;"
                     "PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS duplicate ("
                     " msgid TEXT NOT NULL, user TEXT NOT NULL, mailbox TEXT NOT NULL,"
                     " time INTEGER NOT NULL, PRIMARY KEY (msgid, user, mailbox)) WITHOUT ROWID;"
                     "CREATE INDEX IF NOT EXISTS duplicate_time ON duplicate(time);"
                     /* Vacation response tracking (RFC 5230 4.2): when
                      * the last reply for (user, sender, handle) went out.
                      * Kept by sent time, not expiry, so a script that
                      * shortens its :days takes effect at once. */
                     "CREATE TABLE IF NOT EXISTS vacation ("
                     " user TEXT NOT NULL, sender TEXT NOT NULL, handle TEXT NOT NULL,"
                     " time INTEGER NOT NULL, PRIMARY KEY (user, sender, handle)) WITHOUT ROWID;"
                     "CREATE INDEX IF NOT EXISTS vacation_time ON vacation(time);"
                     /* The Sieve "duplicate" test (RFC 7352): unique ids
                      * per user and :handle, until expires (unix time).
                      * The id is a BLOB: compared byte for byte (3.1:
                      * "matched case-sensitively"). */
                     "CREATE TABLE IF NOT EXISTS sieve_duplicate ("
                     " user TEXT NOT NULL, handle TEXT NOT NULL, id BLOB NOT NULL,"
                     " expires INTEGER NOT NULL, PRIMARY KEY (user, handle, id)) WITHOUT ROWID;"
                     "CREATE INDEX IF NOT EXISTS sieve_duplicate_expires ON sieve_duplicate(expires);"
                     /* Sieve run-time errors shown to the user (`darius
                      * sieve log`): the last SIEVE_LOG_KEEP per user. */
                     "CREATE TABLE IF NOT EXISTS sieve_log ("
                     " seq INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL,"
                     " time INTEGER NOT NULL, script TEXT NOT NULL, message TEXT NOT NULL);"
                     "CREATE INDEX IF NOT EXISTS sieve_log_user ON sieve_log(user, seq);",
                     NULL, NULL, &err) != SQLITE_OK) {
        log_err("delivery: %s: %s", path, err ? err : "error");
        sqlite3_free(err);
        sqlite3_close(d);
        /* Not sticky: a busy database at first open may work next time. */
        return NULL;
    }
    g_db = d;
    return g_db;
}

/* With g_mu held. */
static int check_locked(const char *msgid, const char *user, const char *mailbox, int64_t horizon)
{
    sqlite3 *d = db();
    if (!d)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(d, "SELECT time FROM duplicate WHERE msgid=?1 AND user=?2 AND mailbox=?3", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, mailbox, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = 0;
    if (rc == SQLITE_ROW) {
        int64_t t = sqlite3_column_int64(st, 0);
        r = t >= horizon ? 1 : 0;
    } else if (rc != SQLITE_DONE) {
        log_warn("delivery: duplicate check: %s", sqlite3_errmsg(d));
        r = -1;
    }
    sqlite3_finalize(st);
    return r;
}

int64_t duplicate_horizon(void)
{
    return (int64_t)time(NULL) - (int64_t)config_int(CFG_DUPLICATE_EXPIRE) * 86400;
}

int duplicate_check(const char *msgid, const char *user, const char *mailbox)
{
    int64_t horizon = duplicate_horizon();
    pthread_mutex_lock(&g_mu);
    int r = check_locked(msgid, user, mailbox, horizon);
    pthread_mutex_unlock(&g_mu);
    return r;
}

/* With g_mu held. */
static void mark_locked(const char *msgid, const char *user, const char *mailbox)
{
    sqlite3 *d = db();
    if (!d)
        return;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(d, "INSERT OR REPLACE INTO duplicate(msgid,user,mailbox,time) VALUES(?1,?2,?3,?4)", -1,
                           &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, mailbox, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
    if (sqlite3_step(st) != SQLITE_DONE)
        log_warn("delivery: duplicate mark: %s", sqlite3_errmsg(d));
    sqlite3_finalize(st);
}

void duplicate_mark(const char *msgid, const char *user, const char *mailbox)
{
    pthread_mutex_lock(&g_mu);
    mark_locked(msgid, user, mailbox);
    pthread_mutex_unlock(&g_mu);
}

static struct inflight **inflight_find(const char *msgid, const char *user, const char *mailbox)
{
    struct inflight **pp = &g_inflight;
    while (*pp && (strcmp((*pp)->msgid, msgid) != 0 || strcmp((*pp)->user, user) != 0 ||
                   strcmp((*pp)->mailbox, mailbox) != 0))
        pp = &(*pp)->next;
    return pp;
}

int duplicate_begin(const char *msgid, const char *user, const char *mailbox, int64_t horizon)
{
    pthread_mutex_lock(&g_mu);
    int r;
    if (*inflight_find(msgid, user, mailbox)) {
        r = 2;
    } else if (check_locked(msgid, user, mailbox, horizon) == 1) {
        r = 1;
    } else {
        struct inflight *e = xcalloc(1, sizeof(*e));
        e->msgid = xstrdup(msgid);
        e->user = xstrdup(user);
        e->mailbox = xstrdup(mailbox);
        e->next = g_inflight;
        g_inflight = e;
        r = 0;
    }
    pthread_mutex_unlock(&g_mu);
    return r;
}

void duplicate_end(const char *msgid, const char *user, const char *mailbox, bool delivered)
{
    pthread_mutex_lock(&g_mu);
    if (delivered)
        mark_locked(msgid, user, mailbox);
    struct inflight **pp = inflight_find(msgid, user, mailbox);
    struct inflight *e = *pp;
    if (e) {
        *pp = e->next;
        free(e->msgid);
        free(e->user);
        free(e->mailbox);
        free(e);
    }
    pthread_mutex_unlock(&g_mu);
}

static long prune_locked(int days)
{
    sqlite3 *d = db();
    if (!d)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(d, "DELETE FROM duplicate WHERE time < ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (int64_t)time(NULL) - (int64_t)days * 86400);
    long n = -1;
    if (sqlite3_step(st) == SQLITE_DONE)
        n = (long)sqlite3_changes(d);
    else
        log_err("delivery: duplicate prune: %s", sqlite3_errmsg(d));
    sqlite3_finalize(st);
    return n;
}

long duplicate_prune(int days)
{
    pthread_mutex_lock(&g_mu);
    long n = prune_locked(days);
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* ---- vacation response tracking ---- */

/* With g_mu held: check and, when free, record in one critical section,
 * so two deliveries from the same sender at once send one reply. */
static int vacation_claim_locked(const char *user, const char *sender, const char *handle, int64_t period,
                                 int64_t now)
{
    sqlite3 *d = db();
    if (!d)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(d, "SELECT time FROM vacation WHERE user=?1 AND sender=?2 AND handle=?3", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, handle, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = 1;
    if (rc == SQLITE_ROW) {
        int64_t t = sqlite3_column_int64(st, 0);
        /* A time in the future (clock stepped back) counts as now. */
        if (now - t < period)
            r = 0;
    } else if (rc != SQLITE_DONE) {
        log_warn("delivery: vacation check: %s", sqlite3_errmsg(d));
        r = -1;
    }
    sqlite3_finalize(st);
    if (r != 1)
        return r;
    if (sqlite3_prepare_v2(d, "INSERT OR REPLACE INTO vacation(user,sender,handle,time) VALUES(?1,?2,?3,?4)", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, handle, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    if (sqlite3_step(st) != SQLITE_DONE) {
        log_warn("delivery: vacation record: %s", sqlite3_errmsg(d));
        r = -1;
    }
    sqlite3_finalize(st);
    return r;
}

/* Senders compare case-insensitively: stored lowercase. */
static char *lower(const char *s)
{
    char *l = xstrdup(s);
    for (char *p = l; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return l;
}

int vacation_claim(const char *user, const char *sender, const char *handle, int64_t period, int64_t now)
{
    char *ls = lower(sender);
    sender = ls;
    pthread_mutex_lock(&g_mu);
    int r = vacation_claim_locked(user, sender, handle, period, now);
    free(ls);
    pthread_mutex_unlock(&g_mu);
    return r;
}

void vacation_unclaim(const char *user, const char *sender, const char *handle)
{
    char *ls = lower(sender);
    sender = ls;
    pthread_mutex_lock(&g_mu);
    sqlite3 *d = db();
    sqlite3_stmt *st;
    if (d && sqlite3_prepare_v2(d, "DELETE FROM vacation WHERE user=?1 AND sender=?2 AND handle=?3", -1, &st,
                                NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, handle, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            log_warn("delivery: vacation unclaim: %s", sqlite3_errmsg(d));
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&g_mu);
    free(ls);
}

long vacation_prune(int64_t before)
{
    pthread_mutex_lock(&g_mu);
    sqlite3 *d = db();
    sqlite3_stmt *st;
    long n = -1;
    if (d && sqlite3_prepare_v2(d, "DELETE FROM vacation WHERE time < ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, before);
        if (sqlite3_step(st) == SQLITE_DONE)
            n = (long)sqlite3_changes(d);
        else
            log_err("delivery: vacation prune: %s", sqlite3_errmsg(d));
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* ---- the Sieve "duplicate" test (RFC 7352) ---- */

int sieve_dup_check(const char *user, const char *handle, const void *id, size_t idlen, int64_t now)
{
    if (idlen > SIEVE_DUP_MAX_ID)
        return 0;
    pthread_mutex_lock(&g_mu);
    sqlite3 *d = db();
    sqlite3_stmt *st;
    int r = -1;
    if (d && sqlite3_prepare_v2(d, "SELECT expires FROM sieve_duplicate WHERE user=?1 AND handle=?2 AND id=?3", -1,
                                &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, handle, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, idlen ? id : "", (int)idlen, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            r = sqlite3_column_int64(st, 0) > now ? 1 : 0;
        else if (rc == SQLITE_DONE)
            r = 0;
        else
            log_warn("delivery: sieve duplicate check: %s", sqlite3_errmsg(d));
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&g_mu);
    return r;
}

int sieve_dup_record(const char *user, const char *handle, const void *id, size_t idlen, int64_t seconds, bool last,
                     int64_t now)
{
    if (idlen > SIEVE_DUP_MAX_ID || seconds <= 0)
        return 0;
    /* RFC 7352 3.3: without :last the entry expires relative to its
     * creation, so a live entry is left alone; with :last every run that
     * checked it moves the expiry. An expired entry is a new one. */
    pthread_mutex_lock(&g_mu);
    sqlite3 *d = db();
    sqlite3_stmt *st;
    int r = -1;
    if (d && sqlite3_prepare_v2(d,
                                "INSERT INTO sieve_duplicate(user,handle,id,expires) VALUES(?1,?2,?3,?4)"
                                " ON CONFLICT(user,handle,id) DO UPDATE SET expires=excluded.expires"
                                " WHERE ?5 OR sieve_duplicate.expires <= ?6",
                                -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, handle, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, idlen ? id : "", (int)idlen, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now + seconds);
        sqlite3_bind_int(st, 5, last ? 1 : 0);
        sqlite3_bind_int64(st, 6, now);
        if (sqlite3_step(st) == SQLITE_DONE)
            r = 0;
        else
            log_warn("delivery: sieve duplicate record: %s", sqlite3_errmsg(d));
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&g_mu);
    return r;
}

long sieve_dup_prune(int64_t now)
{
    pthread_mutex_lock(&g_mu);
    sqlite3 *d = db();
    sqlite3_stmt *st;
    long n = -1;
    if (d && sqlite3_prepare_v2(d, "DELETE FROM sieve_duplicate WHERE expires <= ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now);
        if (sqlite3_step(st) == SQLITE_DONE)
            n = (long)sqlite3_changes(d);
        else
            log_err("delivery: sieve duplicate prune: %s", sqlite3_errmsg(d));
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* ---- Sieve run-time errors shown to the user ---- */

/* Control characters (a hostile mailbox name carries CR/LF or ESC) become
 * spaces; at most max bytes, cut at a UTF-8 character boundary. */
static char *clean_text(const char *s, size_t max)
{
    size_t l = strlen(s);
    if (l > max) {
        l = max;
        while (l > 0 && ((unsigned char)s[l] & 0xc0) == 0x80)
            l--;
    }
    char *o = xmalloc(l + 1);
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)s[i];
        o[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    o[l] = '\0';
    return o;
}

int sieve_log_add(const char *user, const char *script, const char *message, int64_t now)
{
    char *sc = clean_text(script, 256);
    char *msg = clean_text(message, SIEVE_LOG_MAX_TEXT);
    pthread_mutex_lock(&g_mu);
    sqlite3 *d = db();
    sqlite3_stmt *st;
    int r = -1;
    if (d && sqlite3_prepare_v2(d, "INSERT INTO sieve_log(user,time,script,message) VALUES(?1,?2,?3,?4)", -1, &st,
                                NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_text(st, 3, sc, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, msg, -1, SQLITE_STATIC);
        r = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize(st);
    }
    /* keep the newest SIEVE_LOG_KEEP: a script failing on every message
     * must not grow the database */
    if (r == 0 && sqlite3_prepare_v2(d,
                                     "DELETE FROM sieve_log WHERE user=?1 AND seq <= (SELECT seq FROM sieve_log "
                                     "WHERE user=?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                                     -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, SIEVE_LOG_KEEP);
        if (sqlite3_step(st) != SQLITE_DONE)
            r = -1;
        sqlite3_finalize(st);
    }
    if (r != 0)
        log_warn("delivery: sieve log for %s: %s", user, d ? sqlite3_errmsg(d) : "no database");
    pthread_mutex_unlock(&g_mu);
    free(sc);
    free(msg);
    return r;
}

int sieve_log_list(const char *user, void (*cb)(void *arg, int64_t time, const char *script, const char *message),
                   void *arg)
{
    pthread_mutex_lock(&g_mu);
    sqlite3 *d = db();
    sqlite3_stmt *st;
    int r = -1;
    if (d && sqlite3_prepare_v2(d, "SELECT time, script, message FROM sieve_log WHERE user=?1 ORDER BY seq", -1,
                                &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            cb(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2));
        r = rc == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&g_mu);
    return r;
}

long sieve_log_clear(const char *user)
{
    pthread_mutex_lock(&g_mu);
    sqlite3 *d = db();
    sqlite3_stmt *st;
    long n = -1;
    if (d && sqlite3_prepare_v2(d, "DELETE FROM sieve_log WHERE user=?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE)
            n = (long)sqlite3_changes(d);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

void duplicate_account_changed(const char *old, const char *new_)
{
    static const char *const tables[] = {"duplicate", "vacation", "sieve_duplicate", "sieve_log"};
    pthread_mutex_lock(&g_mu);
    sqlite3 *d = db();
    bool ok = d && sqlite3_exec(d, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < ARRAY_SIZE(tables); i++) {
        char sql[128];
        /* OR REPLACE: rows of a finished earlier attempt, or of an account
         * that had the new name before, give way to the renamed one's */
        if (new_)
            snprintf(sql, sizeof(sql), "UPDATE OR REPLACE %s SET user=?2 WHERE user=?1", tables[i]);
        else
            snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE user=?1", tables[i]);
        sqlite3_stmt *st;
        ok = sqlite3_prepare_v2(d, sql, -1, &st, NULL) == SQLITE_OK;
        if (!ok)
            break;
        sqlite3_bind_text(st, 1, old, -1, SQLITE_STATIC);
        if (new_)
            sqlite3_bind_text(st, 2, new_, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
    }
    if (ok)
        ok = sqlite3_exec(d, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok && d) {
        log_warn("delivery: duplicate.db: account %s of %s: %s", new_ ? "rename" : "delete", old,
                 sqlite3_errmsg(d));
        sqlite3_exec(d, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&g_mu);
}

void duplicate_close(void)
{
    pthread_mutex_lock(&g_mu);
    if (g_db)
        sqlite3_close(g_db);
    g_db = NULL;
    g_failed = false;
    pthread_mutex_unlock(&g_mu);
}
