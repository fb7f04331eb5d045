/* test-auth-multi.c - multi-user additions to auth: defaultdomain
 * stripping under virtdomains, locked accounts, account rename, reserved
 * names and SASL ANONYMOUS (RFC 4505). */
#include "unit.h"
#include "auth.h"
#include "auth-service.h"
#include "config.h"
#include "log.h"
#include <sqlite3.h>

static void set_cfg(const char *key, const char *value)
{
    char err[256];
    CHECK(config_set(config_current(), key, value, err, sizeof(err)));
}

/* One client message, and for PLAIN/LOGIN the password check a
 * front-end makes (SASL_VERIFY): without a pool the authentication
 * service answers at once. */
static enum sasl_result step(struct sasl_session *s, const char *in, size_t len, struct buf *out)
{
    buf_reset(out);
    enum sasl_result r = sasl_step(s, (const unsigned char *)in, len, out);
    if (r == SASL_VERIFY) {
        const char *cid, *pw;
        sasl_verify_credentials(s, &cid, &pw);
        struct auth_request rq = {"test", cid, pw, "127.0.0.1"};
        struct auth_reply rep;
        CHECK(auth_verify(&rq, NULL, NULL, &rep));
        r = sasl_verify_result(s, rep.status == AUTH_STATUS_OK, rep.user);
    }
    return r;
}

static void check_norm(const char *in, const char *want)
{
    char out[AUTH_MAX_USERNAME + 1];
    bool ok = userdb_normalize_name(in, out);
    if (want) {
        CHECK(ok);
        if (ok)
            CHECK_STR(out, want);
    } else {
        if (ok)
            fprintf(stderr, "accepted: %s -> %s\n", in, out);
        CHECK(!ok);
    }
}

static void test_normalize_virtdomains(void)
{
    /* Outside virtdomains: unchanged behaviour, domains kept. */
    set_cfg("virtdomains", "no");
    set_cfg("defaultdomain", "example.com");
    check_norm("bob@example.com", "bob@example.com");
    check_norm("Bob", "bob");

    set_cfg("virtdomains", "yes");
    check_norm("bob", "bob");
    check_norm("bob@example.com", "bob");
    check_norm("BOB@EXAMPLE.COM", "bob");
    check_norm("bob@other.example", "bob@other.example");
    check_norm("bob@sub.example.com", "bob@sub.example.com");
    check_norm("bob@example.com.evil", "bob@example.com.evil");
    check_norm("@example.com", NULL);
    check_norm("bob@", NULL);
    check_norm("@", NULL);
    check_norm("a@@example.com", NULL);
    check_norm("a..b@example.com", NULL);

    /* Configured domain in upper case still matches. */
    set_cfg("defaultdomain", "Example.COM");
    check_norm("carol@example.com", "carol");

    /* No defaultdomain: nothing is stripped. */
    set_cfg("defaultdomain", "");
    check_norm("bob@example.com", "bob@example.com");

    set_cfg("virtdomains", "no");
    set_cfg("defaultdomain", "");
}

static void test_locked(void)
{
    CHECK_INT(userdb_add_locked("Locky"), AUTH_OK);
    CHECK_INT(userdb_exists("locky"), 1);
    CHECK_INT(userdb_add_locked("locky"), AUTH_ERR_EXISTS);
    CHECK_INT(userdb_add("locky", "pw"), AUTH_ERR_EXISTS);
    CHECK_INT(userdb_add_locked("bad name"), AUTH_ERR_INVALID);
    /* No password matches, not even the marker itself or empty. */
    CHECK(!userdb_verify_password("locky", ""));
    CHECK(!userdb_verify_password("locky", "!locked"));
    CHECK(!userdb_verify_password("locky", "*"));
    struct scram_keys k;
    CHECK(userdb_get_scram("locky", SCRAM_SHA256, &k) != AUTH_OK);

    /* SCRAM and PLAIN fail for it. */
    struct sasl_params p = {.tls = true};
    struct buf out = BUF_INIT;
    struct sasl_session *s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, "\0locky\0!locked", 14, &out), SASL_FAIL);
    sasl_free(s);
    s = sasl_start("SCRAM-SHA-256", &p);
    const char cf[] = "n,,n=locky,r=rOprNGfwEbeRWgbNEkqO";
    enum sasl_result r = step(s, cf, strlen(cf), &out);
    CHECK_INT(r, SASL_CONTINUE); /* fake exchange: fails at the end */
    const char cfin[] = "c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHpbdjmc6Tb6QYjWnK9b8Rr4Nte8+J3K2xd6bLhZA/I=";
    if (r == SASL_CONTINUE) {
        /* the nonce the server appended is not ours: BADPROT or FAIL */
        r = step(s, cfin, strlen(cfin), &out);
        CHECK(r == SASL_FAIL || r == SASL_BADPROT);
    }
    sasl_free(s);

    /* Setting a password unlocks it. */
    CHECK_INT(userdb_set_password("locky", "now-open"), AUTH_OK);
    CHECK(userdb_verify_password("locky", "now-open"));
    CHECK_INT(userdb_get_scram("locky", SCRAM_SHA256, &k), AUTH_OK);
    buf_free(&out);
}

static char changed_names[8][64];
static int nchanged;
static void on_change(const char *name)
{
    if (nchanged < 8)
        snprintf(changed_names[nchanged++], sizeof(changed_names[0]), "%s", name);
}

/* userdb_set_locked: the password is kept, no mechanism logs in, not even
 * as a proxy target; unlock restores it. Every change calls the hook
 * (what sends NOTIFY_AUTH_FLUSH in the daemon and the CLI). */
static void test_lock_unlock(void)
{
    nchanged = 0;
    userdb_set_change_hook(on_change);
    CHECK_INT(userdb_add("Lenny", "lenny-pw"), AUTH_OK);
    CHECK_INT(userdb_set_locked("lenny", true), AUTH_OK);
    CHECK(!userdb_verify_password("lenny", "lenny-pw"));
    CHECK_INT(userdb_can_login("lenny"), 0);
    struct scram_keys k;
    CHECK_INT(userdb_get_scram("lenny", SCRAM_SHA256, &k), AUTH_ERR_LOCKED);
    char hash[PASSWORD_HASH_MAX_LEN + 1];
    CHECK_INT(userdb_lookup_hash("lenny", hash, sizeof(hash)), AUTH_ERR_LOCKED);
    struct sasl_params p = {.tls = true};
    struct buf out = BUF_INIT;
    struct sasl_session *s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, "\0lenny\0lenny-pw", 15, &out), SASL_FAIL);
    sasl_free(s);
    /* a password change does not unlock */
    CHECK_INT(userdb_set_password("lenny", "lenny-pw2"), AUTH_OK);
    CHECK(!userdb_verify_password("lenny", "lenny-pw2"));
    CHECK_INT(userdb_set_locked("lenny", false), AUTH_OK);
    CHECK(userdb_verify_password("lenny", "lenny-pw2"));
    CHECK_INT(userdb_can_login("lenny"), 1);
    CHECK_INT(userdb_get_scram("lenny", SCRAM_SHA256, &k), AUTH_OK);
    CHECK_INT(userdb_lookup_hash("lenny", hash, sizeof(hash)), AUTH_OK);
    CHECK(strncmp(hash, "$y$", 3) == 0);
    CHECK_INT(userdb_lookup_hash("Lenny", hash, sizeof(hash)), AUTH_ERR_NOUSER); /* canonical names only */
    CHECK_INT(userdb_set_locked("nobody-here", true), AUTH_ERR_NOUSER);
    CHECK_INT(userdb_rename("lenny", "lenny2"), AUTH_OK);
    CHECK_INT(userdb_delete("lenny2"), AUTH_OK);
    /* add, lock, password, unlock, rename (both names), delete */
    static const char *const want[] = {"lenny", "lenny", "lenny", "lenny", "lenny", "lenny2", "lenny2"};
    CHECK_INT(nchanged, 7);
    for (int i = 0; i < nchanged && i < 7; i++)
        CHECK_STR(changed_names[i], want[i]);
    userdb_set_change_hook(NULL);
    buf_free(&out);
}

static void test_rename(void)
{
    CHECK_INT(userdb_add("ren1", "secret1"), AUTH_OK);
    struct scram_keys before, after;
    CHECK_INT(userdb_get_scram("ren1", SCRAM_SHA1, &before), AUTH_OK);
    CHECK_INT(userdb_rename("REN1", "ren2"), AUTH_OK);
    CHECK_INT(userdb_exists("ren1"), 0);
    CHECK_INT(userdb_exists("ren2"), 1);
    CHECK(userdb_verify_password("ren2", "secret1"));
    CHECK(!userdb_verify_password("ren1", "secret1"));
    CHECK_INT(userdb_get_scram("ren2", SCRAM_SHA1, &after), AUTH_OK);
    CHECK(before.key_len == after.key_len && memcmp(before.stored_key, after.stored_key, before.key_len) == 0);

    CHECK_INT(userdb_rename("ren1", "ren3"), AUTH_ERR_NOUSER);
    CHECK_INT(userdb_add("ren3", "secret3"), AUTH_OK);
    CHECK_INT(userdb_rename("ren2", "ren3"), AUTH_ERR_EXISTS);
    /* the failed rename changed nothing */
    CHECK(userdb_verify_password("ren2", "secret1"));
    CHECK(userdb_verify_password("ren3", "secret3"));
    CHECK_INT(userdb_rename("ren2", "ren2"), AUTH_ERR_EXISTS);
    CHECK_INT(userdb_rename("ren2", "bad/name"), AUTH_ERR_INVALID);
    CHECK_INT(userdb_rename("ren2", "anonymous"), AUTH_ERR_INVALID);

    /* A locked account keeps being locked under its new name. */
    CHECK_INT(userdb_add_locked("ren4"), AUTH_OK);
    CHECK_INT(userdb_rename("ren4", "ren5"), AUTH_OK);
    CHECK(!userdb_verify_password("ren5", "!locked"));

    /* Under virtdomains the default domain is stripped on both sides. */
    set_cfg("virtdomains", "yes");
    set_cfg("defaultdomain", "example.com");
    CHECK_INT(userdb_rename("ren5@example.com", "ren6@other.example"), AUTH_OK);
    CHECK_INT(userdb_exists("ren6@other.example"), 1);
    CHECK_INT(userdb_rename("ren6@other.example", "ren7@EXAMPLE.com"), AUTH_OK);
    CHECK_INT(userdb_exists("ren7"), 1);
    set_cfg("virtdomains", "no");
    set_cfg("defaultdomain", "");
}

static void test_reserved(void)
{
    CHECK_INT(userdb_add("anonymous", "x"), AUTH_ERR_INVALID);
    CHECK_INT(userdb_add("Anyone", "x"), AUTH_ERR_INVALID);
    CHECK_INT(userdb_add_locked("anonymous"), AUTH_ERR_INVALID);
    CHECK_INT(userdb_exists("anonymous"), 0);
    CHECK(!userdb_verify_password("anonymous", "x"));
}

static void test_anonymous(void)
{
    struct buf b = BUF_INIT, out = BUF_INIT;
    struct sasl_params p = {.tls = false, .allow_anonymous = true};

    /* Off by default: neither offered nor accepted. */
    set_cfg("allowanonymouslogin", "no");
    sasl_mechanisms(&p, &b);
    CHECK(strstr(buf_cstr(&b), "ANONYMOUS") == NULL);
    CHECK(sasl_start("ANONYMOUS", &p) == NULL);

    set_cfg("allowanonymouslogin", "yes");
    buf_reset(&b);
    sasl_mechanisms(&p, &b);
    CHECK_STR(buf_cstr(&b), "SCRAM-SHA-256 SCRAM-SHA-1 ANONYMOUS");

    /* A protocol without anonymous sessions (POP3, LMTP) never gets it. */
    struct sasl_params q = {.tls = true};
    buf_reset(&b);
    sasl_mechanisms(&q, &b);
    CHECK(strstr(buf_cstr(&b), "ANONYMOUS") == NULL);
    CHECK(sasl_start("ANONYMOUS", &q) == NULL);

    /* Initial response with trace information. */
    struct sasl_session *s = sasl_start("anonymous", &p);
    CHECK(s != NULL);
    CHECK(!sasl_is_anonymous(s));
    CHECK_INT(step(s, "sirhc@example.org", 17, &out), SASL_DONE);
    CHECK_STR(sasl_username(s), "anonymous");
    CHECK(sasl_is_anonymous(s));
    CHECK_INT(out.len, 0);
    CHECK_INT(step(s, "x", 1, &out), SASL_BADPROT);
    sasl_free(s);

    /* No initial response: empty challenge, then an empty message (the
     * trace is optional). */
    s = sasl_start("ANONYMOUS", &p);
    CHECK_INT(step(s, NULL, 0, &out), SASL_CONTINUE);
    CHECK_INT(out.len, 0);
    CHECK_INT(step(s, "", 0, &out), SASL_DONE);
    CHECK(sasl_is_anonymous(s));
    sasl_free(s);

    /* Hostile traces: control characters are fine (logged as '?'), NUL
     * and over-long are refused. */
    s = sasl_start("ANONYMOUS", &p);
    CHECK_INT(step(s, "a\r\nb\x1b", 5, &out), SASL_DONE);
    sasl_free(s);
    s = sasl_start("ANONYMOUS", &p);
    CHECK_INT(step(s, "a\0b", 3, &out), SASL_BADPROT);
    CHECK(!sasl_is_anonymous(s));
    CHECK_STR(sasl_username(s), "");
    sasl_free(s);
    char *big = xmalloc(SASL_ANONYMOUS_MAX_TRACE + 1);
    memset(big, 't', SASL_ANONYMOUS_MAX_TRACE + 1);
    s = sasl_start("ANONYMOUS", &p);
    CHECK_INT(step(s, big, SASL_ANONYMOUS_MAX_TRACE + 1, &out), SASL_BADPROT);
    sasl_free(s);
    s = sasl_start("ANONYMOUS", &p);
    CHECK_INT(step(s, big, SASL_ANONYMOUS_MAX_TRACE, &out), SASL_DONE);
    sasl_free(s);
    free(big);
    auth_log_anonymous("test", "127.0.0.1", "x\ty", 3);

    /* Other mechanisms never report anonymous. */
    CHECK_INT(userdb_add("anontest", "pw"), AUTH_OK);
    struct sasl_params t = {.tls = true, .allow_anonymous = true};
    s = sasl_start("PLAIN", &t);
    CHECK_INT(step(s, "\0anontest\0pw", 12, &out), SASL_DONE);
    CHECK(!sasl_is_anonymous(s));
    sasl_free(s);
    CHECK(!sasl_is_anonymous(NULL));

    set_cfg("allowanonymouslogin", "no");
    buf_free(&b);
    buf_free(&out);
}

/* A users.db made before the lock flag existed gets the column at open;
 * its accounts keep working and can be locked. */
static void test_old_users_db(void)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    char path[300];
    snprintf(path, sizeof(path), "%s/users.db", dir);
    sqlite3 *old = NULL;
    CHECK_INT(sqlite3_open(path, &old), SQLITE_OK);
    /* sha512-crypt of "importpw" with salt "saltsalt" */
    CHECK_INT(sqlite3_exec(old,
                           "CREATE TABLE user (name TEXT PRIMARY KEY NOT NULL, hash TEXT NOT NULL,"
                           " scram_sha1 TEXT, scram_sha256 TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
                           "INSERT INTO user VALUES('olduser', '$6$saltsalt$jMepohnzfmdCbk8Kg4JyKy9odBBsz9ri4dQy2xwcWAZr7"
                           "bFzOU1DKYXluz0FW0dVRhu3PPEM5HoTB5eHXVBMq0', NULL, NULL, 0, 0);",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(old);
    CHECK_INT(userdb_open(dir), AUTH_OK);
    CHECK(userdb_verify_password("olduser", "importpw"));
    CHECK_INT(userdb_set_locked("olduser", true), AUTH_OK);
    CHECK(!userdb_verify_password("olduser", "importpw"));
    userdb_close();
    /* opened again: the column is there, nothing is added twice */
    CHECK_INT(userdb_open(dir), AUTH_OK);
    CHECK_INT(userdb_can_login("olduser"), 0);
    userdb_close();
}

int main(void)
{
    log_init("test", false, false, NULL);
    const char *dir = unit_tmpdir();
    if (userdb_open(dir) != AUTH_OK) {
        fprintf(stderr, "cannot open users.db in %s\n", dir);
        return 1;
    }
    RUN(test_normalize_virtdomains);
    RUN(test_locked);
    RUN(test_lock_unlock);
    RUN(test_rename);
    RUN(test_reserved);
    RUN(test_anonymous);
    userdb_close();
    RUN(test_old_users_db);
    return unit_done();
}
