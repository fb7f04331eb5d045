/* userdb.c - the user database, DATADIR/users.db (SQLite).
 *
 * One row per user: the crypt(3) hash and the SCRAM keys for SHA-1 and
 * SHA-256, each stored as "iterations$salt_b64$storedkey_b64$serverkey_b64"
 * (RFC 5802 3: the server needs only StoredKey and ServerKey, never the
 * password), and the lock flag (userdb_set_locked). The file is mode 0600;
 * WAL + synchronous=FULL so an acknowledged "user add" survives a crash.
 *
 * Threads: the connection is process-global and used by the event loop
 * (SCRAM keys, account operations) and by pool threads (the users.db
 * passdb of the authentication service looks up hashes there). db_mu is
 * held around every use of it - each statement from prepare to finalize,
 * with the sqlite3_changes()/errcode reads that belong to it - and never
 * while a password is hashed (derive_all runs before the lock is taken,
 * password_verify after it is released), so a login's hash never makes
 * another thread wait for the database.
 */
#include "auth.h"
#include "config.h"
#include "log.h"
#include <strings.h>
#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCRAM_SALT_LEN 16
#define BUSY_TIMEOUT_MS 5000

/* A fixed yescrypt hash of a random password; verified against when the
 * user is unknown (or cannot log in) so that the response time does not
 * reveal whether a user exists. (Here, not in password.c: the fuzz
 * targets replace password_verify at link time, which reaches calls from
 * other files only.) */
static const char dummy_hash[] = "$y$j9T$vVluYr/HhYqssGv65IP.M0$92jMxhdbBTQVofNXbwhRiUSfR6tn3B7Ixs/vGelxcLB";

void password_verify_dummy(const char *password)
{
    (void)password_verify(password ? password : "", dummy_hash);
}

/* Hash column of an account created by userdb_add_locked: not a crypt(3)
 * string, so no password can ever match it (crypt would not even parse
 * it; userdb_verify_password refuses it before trying). */
#define LOCKED_HASH "!locked"

static pthread_mutex_t db_mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *db;
static pid_t db_pid;      /* process that opened db */
static char *db_datadir;  /* for re-opening after fork */
static unsigned char install_secret[32];
static bool have_secret;
static void (*change_hook)(const char *name);

static void db_lock(void)
{
    pthread_mutex_lock(&db_mu);
}

static void db_unlock(void)
{
    pthread_mutex_unlock(&db_mu);
}

void userdb_set_change_hook(void (*hook)(const char *name))
{
    change_hook = hook;
}

/* After a committed change of name's credentials or state (outside
 * db_mu: the hook sends datagrams). */
static void changed(const char *name)
{
    if (change_hook)
        change_hook(name);
}

const char *auth_strerror(int err)
{
    switch (err) {
    case AUTH_OK: return "success";
    case AUTH_ERR_NOUSER: return "no such user";
    case AUTH_ERR_EXISTS: return "user already exists";
    case AUTH_ERR_INVALID: return "invalid user name or hash";
    case AUTH_ERR_IO: return "user database error";
    case AUTH_ERR_LOCKED: return "account locked";
    default: return "unknown error";
    }
}

/* Under virtdomains the users of defaultdomain are stored without a
 * domain part (Cyrus): "bob@DEFAULTDOMAIN" -> "bob". The comparison is
 * case-insensitive because the configured domain may be written in any
 * case while the name is already lowercased. A name that is only a
 * domain ("@example.com") or ends in '@' is invalid: it names no user. */
static bool strip_default_domain(char *name)
{
    char *at = strrchr(name, '@');
    if (!at)
        return true;
    if (at == name || at[1] == '\0')
        return false;
    const char *dd = config_str(CFG_DEFAULTDOMAIN);
    if (*dd && strcasecmp(at + 1, dd) == 0) {
        *at = '\0';
        /* "bob@x@defaultdomain" keeps an '@': still a qualified name */
        if (at[-1] == '@')
            return false;
    }
    return true;
}

bool userdb_normalize_name(const char *in, char *out)
{
    if (!in)
        return false;
    size_t n = strlen(in);
    if (n == 0 || n > AUTH_MAX_USERNAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' || c == '-'))
            return false;
        out[i] = (char)c;
    }
    out[n] = '\0';
    if (out[0] == '.' || out[0] == '-' || strstr(out, ".."))
        return false;
    if (config_bool(CFG_VIRTDOMAINS))
        return strip_default_domain(out);
    return true;
}

static int db_err(const char *what)
{
    log_err("users.db: %s: %s", what, db ? sqlite3_errmsg(db) : "not open");
    return AUTH_ERR_IO;
}

static int exec_sql(const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_err("users.db: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return AUTH_ERR_IO;
    }
    return AUTH_OK;
}

static int load_secret(void)
{
    sqlite3_stmt *st = NULL;
    unsigned char fresh[32];
    if (RAND_bytes(fresh, sizeof(fresh)) != 1)
        return db_err("RAND_bytes");
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO meta(key, value) VALUES('scram_secret', ?)", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_bind_blob(st, 1, fresh, sizeof(fresh), SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_finalize(st);
        return db_err("store secret");
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'scram_secret'", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW || sqlite3_column_bytes(st, 0) != (int)sizeof(install_secret)) {
        sqlite3_finalize(st);
        return db_err("load secret");
    }
    memcpy(install_secret, sqlite3_column_blob(st, 0), sizeof(install_secret));
    sqlite3_finalize(st);
    have_secret = true;
    return AUTH_OK;
}

/* The "locked" column came after the first release: add it to a users.db
 * made before. Two processes may race here; the loser's ALTER fails with
 * "duplicate column" and the second probe succeeds. */
static int add_locked_column(void)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT locked FROM user LIMIT 0", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_finalize(st);
        return AUTH_OK;
    }
    sqlite3_exec(db, "ALTER TABLE user ADD COLUMN locked INTEGER NOT NULL DEFAULT 0", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, "SELECT locked FROM user LIMIT 0", -1, &st, NULL) != SQLITE_OK)
        return db_err("add the locked column");
    sqlite3_finalize(st);
    return AUTH_OK;
}

static void close_unlocked(void);

static int open_unlocked(const char *datadir)
{
    if (db && db_pid == getpid())
        return AUTH_OK;
    /* A connection inherited across fork() must not be used (SQLite
     * "How To Corrupt"): forget it without closing, open our own. */
    db = NULL;
    if (datadir != db_datadir) {
        free(db_datadir);
        db_datadir = xstrdup(datadir);
    }
    if (mkdir(datadir, 0750) != 0 && errno != EEXIST) {
        log_err("mkdir %s: %s", datadir, strerror(errno));
        return AUTH_ERR_IO;
    }
    char *path = xasprintf("%s/users.db", datadir);
    /* Create the file (and its -wal/-shm, which SQLite gives the same mode)
     * private to the server user. */
    mode_t old = umask(077);
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        umask(old);
        log_err("open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        db = NULL;
        free(path);
        return AUTH_ERR_IO;
    }
    db_pid = getpid();
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    int r = exec_sql("PRAGMA journal_mode=WAL");
    if (r == AUTH_OK)
        r = exec_sql("PRAGMA synchronous=FULL");
    if (r == AUTH_OK)
        r = exec_sql("CREATE TABLE IF NOT EXISTS user ("
                     " name TEXT PRIMARY KEY NOT NULL,"
                     " hash TEXT NOT NULL,"
                     " scram_sha1 TEXT,"
                     " scram_sha256 TEXT,"
                     " created INTEGER NOT NULL,"
                     " updated INTEGER NOT NULL,"
                     " locked INTEGER NOT NULL DEFAULT 0)");
    if (r == AUTH_OK)
        r = add_locked_column();
    if (r == AUTH_OK)
        r = exec_sql("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value BLOB)");
    if (r == AUTH_OK)
        r = load_secret();
    umask(old);
    if (r == AUTH_OK && chmod(path, 0600) != 0)
        log_warn("chmod %s: %s", path, strerror(errno));
    free(path);
    if (r != AUTH_OK)
        close_unlocked();
    return r;
}

int userdb_open(const char *datadir)
{
    db_lock();
    int r = open_unlocked(datadir);
    db_unlock();
    return r;
}

static void close_unlocked(void)
{
    if (db && db_pid == getpid())
        sqlite3_close(db);
    db = NULL;
    have_secret = false;
    explicit_bzero(install_secret, sizeof(install_secret));
}

void userdb_close(void)
{
    db_lock();
    close_unlocked();
    db_unlock();
}

/* The connection of this process, opening it again in a forked child.
 * Called with db_mu held. */
static bool db_ready(void)
{
    if (db && db_pid == getpid())
        return true;
    if (!db || !db_datadir)
        return false;
    return open_unlocked(db_datadir) == AUTH_OK;
}

bool userdb_install_secret(unsigned char out[32])
{
    db_lock();
    bool ok = have_secret;
    if (ok)
        memcpy(out, install_secret, sizeof(install_secret));
    db_unlock();
    return ok;
}

/* "iterations$salt$stored$server" */
static char *scram_encode(const struct scram_keys *k)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%u$", k->iterations);
    base64_encode(k->salt, k->salt_len, &b);
    buf_putc(&b, '$');
    base64_encode(k->stored_key, k->key_len, &b);
    buf_putc(&b, '$');
    base64_encode(k->server_key, k->key_len, &b);
    return buf_release(&b);
}

static bool scram_decode(const char *s, size_t key_len, struct scram_keys *k)
{
    memset(k, 0, sizeof(*k));
    char *end;
    errno = 0;
    unsigned long it = strtoul(s, &end, 10);
    if (errno || end == s || *end != '$' || it < 1 || it > 10000000)
        return false;
    k->iterations = (unsigned)it;
    k->key_len = key_len;
    const char *parts[3];
    size_t lens[3];
    const char *p = end + 1;
    for (int i = 0; i < 3; i++) {
        const char *e = strchr(p, '$');
        if (i < 2 && !e)
            return false;
        if (i == 2) {
            if (e)
                return false;
            e = p + strlen(p);
        }
        parts[i] = p;
        lens[i] = (size_t)(e - p);
        p = e + 1;
    }
    struct buf b = BUF_INIT;
    bool ok = base64_decode_strict(parts[0], lens[0], &b) && b.len >= 1 && b.len <= sizeof(k->salt);
    if (ok) {
        memcpy(k->salt, b.data, b.len);
        k->salt_len = b.len;
    }
    buf_reset(&b);
    ok = ok && base64_decode_strict(parts[1], lens[1], &b) && b.len == key_len;
    if (ok)
        memcpy(k->stored_key, b.data, key_len);
    buf_reset(&b);
    ok = ok && base64_decode_strict(parts[2], lens[2], &b) && b.len == key_len;
    if (ok)
        memcpy(k->server_key, b.data, key_len);
    buf_free(&b);
    return ok;
}

static bool make_scram(enum scram_hash h, const char *password, char **out)
{
    unsigned char salt[SCRAM_SALT_LEN];
    struct scram_keys k;
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return false;
    if (!scram_derive_keys(h, password, salt, sizeof(salt), SCRAM_DEFAULT_ITERATIONS, &k))
        return false;
    *out = scram_encode(&k);
    explicit_bzero(&k, sizeof(k));
    return true;
}

/* Hash + both SCRAM key sets for a new password. */
static int derive_all(const char *password, char **hash, char **s1, char **s256)
{
    *hash = *s1 = *s256 = NULL;
    if (!password || strlen(password) > AUTH_MAX_PASSWORD)
        return AUTH_ERR_INVALID;
    *hash = password_hash(password);
    if (!*hash || !make_scram(SCRAM_SHA1, password, s1) || !make_scram(SCRAM_SHA256, password, s256)) {
        free(*hash);
        free(*s1);
        *hash = *s1 = NULL;
        return AUTH_ERR_IO;
    }
    return AUTH_OK;
}

/* Identifiers with a meaning of their own in ACLs (RFC 4314 2): an
 * account with one of these names would be confused with them. */
static bool reserved_name(const char *norm)
{
    /* The local part counts: under virtdomains "anyone@example.com"
     * would be shown as "anyone" inside example.com (GETACL strips the
     * domain of the mailbox's own domain). '-' (negative entries) and
     * "group:" cannot occur: userdb_normalize_name refuses a leading '-'
     * and ':'. */
    const char *at = strchr(norm, '@');
    size_t len = at ? (size_t)(at - norm) : strlen(norm);
    return (len == 9 && strncmp(norm, "anonymous", 9) == 0) || (len == 6 && strncmp(norm, "anyone", 6) == 0) ||
           norm[0] == '-' || strncmp(norm, "group:", 6) == 0;
}

static int insert_user(const char *name, const char *hash, const char *s1, const char *s256)
{
    char norm[AUTH_MAX_USERNAME + 1];
    if (!userdb_normalize_name(name, norm) || reserved_name(norm))
        return AUTH_ERR_INVALID;
    db_lock();
    int r;
    sqlite3_stmt *st = NULL;
    if (!db_ready()) {
        r = db_err("insert");
    } else if (sqlite3_prepare_v2(db, "INSERT INTO user(name, hash, scram_sha1, scram_sha256, created, updated)"
                                      " VALUES(?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK) {
        r = db_err("prepare insert");
    } else {
        int64_t now = (int64_t)time(NULL);
        sqlite3_bind_text(st, 1, norm, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
        if (s1)
            sqlite3_bind_text(st, 3, s1, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, 3);
        if (s256)
            sqlite3_bind_text(st, 4, s256, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, now);
        int rc = sqlite3_step(st);
        int ext = sqlite3_extended_errcode(db);
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE)
            r = AUTH_OK;
        else if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
            r = AUTH_ERR_EXISTS;
        else
            r = db_err("insert user");
    }
    db_unlock();
    /* a name that was unknown may have negative cache entries */
    if (r == AUTH_OK)
        changed(norm);
    return r;
}

int userdb_add(const char *name, const char *password)
{
    char norm[AUTH_MAX_USERNAME + 1];
    if (!userdb_normalize_name(name, norm))
        return AUTH_ERR_INVALID;
    /* Cheap pre-check so a duplicate add does not pay for hashing. */
    int ex = userdb_exists(norm);
    if (ex < 0)
        return ex;
    if (ex == 1)
        return AUTH_ERR_EXISTS;
    char *hash, *s1, *s256;
    int r = derive_all(password, &hash, &s1, &s256);
    if (r != AUTH_OK)
        return r;
    r = insert_user(norm, hash, s1, s256);
    free(hash);
    free(s1);
    free(s256);
    return r;
}

int userdb_add_hash(const char *name, const char *hash)
{
    char norm[AUTH_MAX_USERNAME + 1];
    if (!userdb_normalize_name(name, norm))
        return AUTH_ERR_INVALID;
    if (!password_hash_supported(hash))
        return AUTH_ERR_INVALID;
    return insert_user(norm, hash, NULL, NULL);
}

int userdb_add_locked(const char *name)
{
    return insert_user(name, LOCKED_HASH, NULL, NULL);
}

int userdb_rename(const char *oldname, const char *newname)
{
    char from[AUTH_MAX_USERNAME + 1], to[AUTH_MAX_USERNAME + 1];
    if (!userdb_normalize_name(oldname, from) || !userdb_normalize_name(newname, to) || reserved_name(to))
        return AUTH_ERR_INVALID;
    if (strcmp(from, to) == 0)
        return userdb_exists(from) == 1 ? AUTH_ERR_EXISTS : AUTH_ERR_NOUSER;
    /* One UPDATE of the primary key is one transaction: the hash and the
     * SCRAM keys move with the row, and a name already taken fails the
     * UNIQUE constraint without changing anything. */
    db_lock();
    int r;
    sqlite3_stmt *st = NULL;
    if (!db_ready()) {
        r = db_err("rename");
    } else if (sqlite3_prepare_v2(db, "UPDATE user SET name = ?, updated = ? WHERE name = ?", -1, &st, NULL) !=
               SQLITE_OK) {
        r = db_err("prepare rename");
    } else {
        sqlite3_bind_text(st, 1, to, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
        sqlite3_bind_text(st, 3, from, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        int ext = sqlite3_extended_errcode(db);
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE)
            r = sqlite3_changes(db) > 0 ? AUTH_OK : AUTH_ERR_NOUSER;
        else if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
            r = AUTH_ERR_EXISTS;
        else
            r = db_err("rename user");
    }
    db_unlock();
    if (r == AUTH_OK) {
        changed(from);
        changed(to);
    }
    return r;
}

/* Run an UPDATE/DELETE with the name bound last; NOUSER when no row.
 * Tells the change hook on success. */
static int modify(const char *sql, const char *name, const char *const *texts, int ntexts)
{
    char norm[AUTH_MAX_USERNAME + 1];
    if (!userdb_normalize_name(name, norm))
        return AUTH_ERR_INVALID;
    db_lock();
    int r;
    sqlite3_stmt *st = NULL;
    if (!db_ready()) {
        r = db_err("modify");
    } else if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        r = db_err("prepare");
    } else {
        int i;
        for (i = 0; i < ntexts; i++)
            sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, i + 1, norm, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            r = db_err("update");
        else
            r = sqlite3_changes(db) > 0 ? AUTH_OK : AUTH_ERR_NOUSER;
    }
    db_unlock();
    if (r == AUTH_OK)
        changed(norm);
    return r;
}

int userdb_set_password(const char *name, const char *password)
{
    char norm[AUTH_MAX_USERNAME + 1];
    if (!userdb_normalize_name(name, norm))
        return AUTH_ERR_INVALID;
    int ex = userdb_exists(norm);
    if (ex < 0)
        return ex;
    if (ex == 0)
        return AUTH_ERR_NOUSER;
    char *hash, *s1, *s256;
    int r = derive_all(password, &hash, &s1, &s256);
    if (r != AUTH_OK)
        return r;
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    const char *t[] = {hash, s1, s256, now};
    r = modify("UPDATE user SET hash = ?, scram_sha1 = ?, scram_sha256 = ?, updated = CAST(? AS INTEGER)"
               " WHERE name = ?", norm, t, 4);
    free(hash);
    free(s1);
    free(s256);
    return r;
}

int userdb_set_scram(const char *name, enum scram_hash h, const struct scram_keys *keys)
{
    if (!keys || keys->key_len != (h == SCRAM_SHA1 ? 20u : 32u) || keys->salt_len < 1 ||
        keys->salt_len > sizeof(keys->salt) || keys->iterations < 1)
        return AUTH_ERR_INVALID;
    char *enc = scram_encode(keys);
    const char *t[] = {enc};
    int r = modify(h == SCRAM_SHA1 ? "UPDATE user SET scram_sha1 = ? WHERE name = ?"
                                   : "UPDATE user SET scram_sha256 = ? WHERE name = ?",
                   name, t, 1);
    free(enc);
    return r;
}

int userdb_set_locked(const char *name, bool locked)
{
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    const char *t[] = {locked ? "1" : "0", now};
    return modify("UPDATE user SET locked = CAST(? AS INTEGER), updated = CAST(? AS INTEGER) WHERE name = ?", name,
                  t, 2);
}

int userdb_delete(const char *name)
{
    return modify("DELETE FROM user WHERE name = ?", name, NULL, 0);
}

int userdb_exists(const char *name)
{
    char norm[AUTH_MAX_USERNAME + 1];
    if (!userdb_normalize_name(name, norm))
        return 0;
    db_lock();
    int r;
    sqlite3_stmt *st = NULL;
    if (!db_ready()) {
        r = db_err("exists");
    } else if (sqlite3_prepare_v2(db, "SELECT 1 FROM user WHERE name = ?", -1, &st, NULL) != SQLITE_OK) {
        r = db_err("prepare exists");
    } else {
        sqlite3_bind_text(st, 1, norm, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_err("exists");
    }
    db_unlock();
    return r;
}

int userdb_count(void)
{
    db_lock();
    int n = AUTH_ERR_IO;
    sqlite3_stmt *st = NULL;
    if (!db_ready()) {
        n = db_err("count");
    } else if (sqlite3_prepare_v2(db, "SELECT count(*) FROM user", -1, &st, NULL) != SQLITE_OK) {
        n = db_err("prepare count");
    } else {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    db_unlock();
    return n;
}

int userdb_list(void (*cb)(const char *name, void *arg), void *arg)
{
    /* The names are collected under the lock and handed to cb after it
     * is released: cb may well call userdb functions itself. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    int r = AUTH_OK;
    db_lock();
    sqlite3_stmt *st = NULL;
    if (!db_ready()) {
        r = db_err("list");
    } else if (sqlite3_prepare_v2(db, "SELECT name FROM user ORDER BY name", -1, &st, NULL) != SQLITE_OK) {
        r = db_err("prepare list");
    } else {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *v = sqlite3_column_text(st, 0);
            if (!v)
                continue;
            ARRAY_GROW(names, n, cap);
            names[n++] = xstrdup((const char *)v);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            r = db_err("list");
    }
    db_unlock();
    for (size_t i = 0; i < n; i++) {
        if (r == AUTH_OK)
            cb(names[i], arg);
        free(names[i]);
    }
    free(names);
    return r;
}

/* The row of a user (name already normalized): hash, lock flag and, when
 * col is not NULL, one more text column into *extra. Called with db_mu
 * held. AUTH_OK, NOUSER, or IO (quiet: logged by the caller, which may be
 * a pool thread). */
static int fetch_row(const char *norm, const char *col, char **hash, bool *locked, char **extra)
{
    *hash = NULL;
    *locked = false;
    if (extra)
        *extra = NULL;
    if (!db_ready())
        return AUTH_ERR_IO;
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT hash, locked%s%s FROM user WHERE name = ?", col ? ", " : "", col ? col : "");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return AUTH_ERR_IO;
    sqlite3_bind_text(st, 1, norm, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int r;
    if (rc == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(st, 0);
        *hash = h ? xstrdup((const char *)h) : NULL;
        *locked = sqlite3_column_int(st, 1) != 0;
        if (col && extra) {
            const unsigned char *v = sqlite3_column_text(st, 2);
            *extra = v ? xstrdup((const char *)v) : NULL;
        }
        r = AUTH_OK;
    } else {
        r = rc == SQLITE_DONE ? AUTH_ERR_NOUSER : AUTH_ERR_IO;
    }
    sqlite3_finalize(st);
    return r;
}

/* A name as userdb_normalize_name makes it, checked without the
 * configuration (pool threads must not read it: a reload may replace it
 * meanwhile). */
static bool normalized_shape(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > AUTH_MAX_USERNAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' || c == '-'))
            return false;
    }
    return true;
}

static void free_hash(char *hash)
{
    if (hash) {
        explicit_bzero(hash, strlen(hash));
        free(hash);
    }
}

int userdb_lookup_hash(const char *norm, char *hash, size_t cap)
{
    hash[0] = '\0';
    if (!normalized_shape(norm))
        return AUTH_ERR_NOUSER;
    char *h = NULL;
    bool locked = false;
    db_lock();
    int r = fetch_row(norm, NULL, &h, &locked, NULL);
    db_unlock();
    if (r == AUTH_OK) {
        if (!h || locked || strcmp(h, LOCKED_HASH) == 0)
            r = AUTH_ERR_LOCKED;
        else if (strlen(h) >= cap)
            r = AUTH_ERR_INVALID;
        else
            memcpy(hash, h, strlen(h) + 1);
    }
    free_hash(h);
    return r;
}

int userdb_can_login(const char *name)
{
    char norm[AUTH_MAX_USERNAME + 1];
    if (!userdb_normalize_name(name, norm))
        return 0;
    char *hash = NULL;
    bool locked = false;
    db_lock();
    int r = fetch_row(norm, NULL, &hash, &locked, NULL);
    if (r == AUTH_ERR_IO)
        r = db_err("can login");
    db_unlock();
    int ok = r == AUTH_OK ? hash && strcmp(hash, LOCKED_HASH) != 0 && !locked : r == AUTH_ERR_NOUSER ? 0 : r;
    free_hash(hash);
    return ok;
}

bool userdb_verify_password(const char *name, const char *password)
{
    char norm[AUTH_MAX_USERNAME + 1];
    if (!password || strlen(password) > AUTH_MAX_PASSWORD)
        return false;
    char hash[PASSWORD_HASH_MAX_LEN + 1];
    if (!userdb_normalize_name(name, norm) || userdb_lookup_hash(norm, hash, sizeof(hash)) != AUTH_OK) {
        password_verify_dummy(password);
        return false;
    }
    bool ok = password_verify(password, hash);
    explicit_bzero(hash, sizeof(hash));
    return ok;
}

int userdb_get_scram(const char *name, enum scram_hash h, struct scram_keys *out)
{
    char norm[AUTH_MAX_USERNAME + 1];
    if (!userdb_normalize_name(name, norm))
        return AUTH_ERR_NOUSER;
    char *hash = NULL, *enc = NULL;
    bool locked = false;
    db_lock();
    int r = fetch_row(norm, h == SCRAM_SHA1 ? "scram_sha1" : "scram_sha256", &hash, &locked, &enc);
    if (r == AUTH_ERR_IO)
        db_err("fetch SCRAM keys");
    db_unlock();
    bool no_password = hash && strcmp(hash, LOCKED_HASH) == 0;
    free_hash(hash);
    if (r == AUTH_OK && (locked || no_password))
        r = AUTH_ERR_LOCKED; /* the exchange runs on fake keys and fails */
    else if (r == AUTH_OK && !enc)
        r = AUTH_ERR_INVALID; /* imported hash: no SCRAM keys yet */
    if (r != AUTH_OK) {
        free(enc);
        return r;
    }
    bool ok = scram_decode(enc, h == SCRAM_SHA1 ? 20 : 32, out);
    free(enc);
    if (!ok) {
        log_err("users.db: bad SCRAM entry for %s", norm);
        return AUTH_ERR_INVALID;
    }
    return AUTH_OK;
}
