/* test-auth.c - user database, password hashes, base64, PLAIN/LOGIN. */
#include "unit.h"
#include "auth.h"
#include "auth-service.h"
#include "config.h"
#include "log.h"
#include <argon2.h>
#include <crypt.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_normalize(void)
{
    static const struct {
        const char *in, *out; /* out NULL = rejected */
    } cases[] = {
        {"alice", "alice"},
        {"Alice", "alice"},
        {"BOB@Example.COM", "bob@example.com"},
        {"a.b_c-d", "a.b_c-d"},
        {"0user", "0user"},
        {"x", "x"},
        {"a-.b", "a-.b"},
        {"", NULL},
        {".alice", NULL},
        {"-alice", NULL},
        {"a..b", NULL},
        {"al ice", NULL},
        {"alice+tag", NULL},
        {"a/b", NULL},
        {"caf\xc3\xa9", NULL},
        {"a\tb", NULL},
        {"a%b", NULL},
        {"..", NULL},
    };
    char out[AUTH_MAX_USERNAME + 1];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool ok = userdb_normalize_name(cases[i].in, out);
        if (cases[i].out) {
            CHECK(ok);
            if (ok)
                CHECK_STR(out, cases[i].out);
        } else {
            if (ok)
                fprintf(stderr, "accepted: %s\n", cases[i].in);
            CHECK(!ok);
        }
    }
    char longname[AUTH_MAX_USERNAME + 2];
    memset(longname, 'a', sizeof(longname));
    longname[AUTH_MAX_USERNAME] = '\0';
    CHECK(userdb_normalize_name(longname, out));
    longname[AUTH_MAX_USERNAME] = 'a';
    longname[AUTH_MAX_USERNAME + 1] = '\0';
    CHECK(!userdb_normalize_name(longname, out));
    CHECK(!userdb_normalize_name(NULL, out));
}

static void test_base64(void)
{
    struct buf b = BUF_INIT;
    base64_encode((const unsigned char *)"", 0, &b);
    CHECK_STR(buf_cstr(&b), "");
    buf_reset(&b);
    base64_encode((const unsigned char *)"f", 1, &b);
    CHECK_STR(b.data, "Zg==");
    buf_reset(&b);
    base64_encode((const unsigned char *)"fo", 2, &b);
    CHECK_STR(b.data, "Zm8=");
    buf_reset(&b);
    base64_encode((const unsigned char *)"foobar", 6, &b);
    CHECK_STR(b.data, "Zm9vYmFy");
    buf_reset(&b);
    CHECK(base64_decode_strict("Zm9vYmE=", 8, &b));
    CHECK_INT(b.len, 5);
    CHECK(memcmp(b.data, "fooba", 5) == 0);
    buf_reset(&b);
    CHECK(base64_decode_strict("", 0, &b));
    CHECK_INT(b.len, 0);
    CHECK(!base64_decode_strict("Zm9", 3, &b));
    CHECK(!base64_decode_strict("Zm 9", 4, &b));
    CHECK(!base64_decode_strict("Zg=a", 4, &b));
    CHECK(!base64_decode_strict("Zh==", 4, &b)); /* non-zero pad bits */
    CHECK(!base64_decode_strict("Zg==Zg==", 8, &b));
    CHECK(!base64_decode_strict("====", 4, &b));
    CHECK_INT(b.len, 0);
    buf_free(&b);
}

static void test_password_hashes(void)
{
    char *h = password_hash("secret");
    CHECK(h != NULL);
    if (h) {
        CHECK(strncmp(h, "$y$", 3) == 0);
        CHECK(password_verify("secret", h));
        CHECK(!password_verify("Secret", h));
        CHECK(!password_verify("", h));
        CHECK(password_hash_supported(h));
        free(h);
    }
    CHECK(!password_hash_supported("plaintext"));
    CHECK(!password_hash_supported("$1$abc$def"));
    CHECK(!password_hash_supported("$y$garbage"));
    CHECK(!password_hash_supported("$argon2id$v=19$m=65536,t=3,p=4$bad"));
    CHECK(!password_verify("x", "x"));
    CHECK(!password_verify("x", "*"));
}

static void test_userdb(void)
{
    const char *dir = unit_tmpdir();
    CHECK_INT(userdb_open(dir), AUTH_OK);
    char *path = xasprintf("%s/users.db", dir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    free(path);

    CHECK_INT(userdb_count(), 0);
    CHECK_INT(userdb_add("Alice", "wonderland"), AUTH_OK);
    CHECK_INT(userdb_add("alice", "other"), AUTH_ERR_EXISTS);
    CHECK_INT(userdb_add("bad name", "x"), AUTH_ERR_INVALID);
    CHECK_INT(userdb_add("bob", "builder"), AUTH_OK);
    CHECK_INT(userdb_exists("alice"), 1);
    CHECK_INT(userdb_exists("ALICE"), 1);
    CHECK_INT(userdb_exists("carol"), 0);
    CHECK_INT(userdb_count(), 2);
    CHECK(userdb_verify_password("alice", "wonderland"));
    CHECK(userdb_verify_password("ALICE", "wonderland"));
    CHECK(!userdb_verify_password("alice", "wonderlan"));
    CHECK(!userdb_verify_password("carol", "wonderland"));
    CHECK(!userdb_verify_password("bad name", "wonderland"));

    struct scram_keys k;
    CHECK_INT(userdb_get_scram("alice", SCRAM_SHA256, &k), AUTH_OK);
    CHECK_INT(k.key_len, 32);
    CHECK_INT(k.iterations, SCRAM_DEFAULT_ITERATIONS);
    struct scram_keys k2;
    CHECK(scram_derive_keys(SCRAM_SHA256, "wonderland", k.salt, k.salt_len, k.iterations, &k2));
    CHECK(memcmp(k.stored_key, k2.stored_key, 32) == 0);
    CHECK(memcmp(k.server_key, k2.server_key, 32) == 0);
    CHECK_INT(userdb_get_scram("alice", SCRAM_SHA1, &k), AUTH_OK);
    CHECK_INT(k.key_len, 20);
    CHECK_INT(userdb_get_scram("carol", SCRAM_SHA1, &k), AUTH_ERR_NOUSER);

    CHECK_INT(userdb_set_password("alice", "looking-glass"), AUTH_OK);
    CHECK(!userdb_verify_password("alice", "wonderland"));
    CHECK(userdb_verify_password("alice", "looking-glass"));
    CHECK_INT(userdb_set_password("carol", "x"), AUTH_ERR_NOUSER);

    CHECK_INT(userdb_delete("bob"), AUTH_OK);
    CHECK_INT(userdb_delete("bob"), AUTH_ERR_NOUSER);
    CHECK_INT(userdb_exists("bob"), 0);
    CHECK(!userdb_verify_password("bob", "builder"));
    CHECK_INT(userdb_count(), 1);
    CHECK_INT(userdb_delete("alice"), AUTH_OK);
    userdb_close();

    /* Reopen: data persisted, secret stable. */
    unsigned char s1[32], s2[32];
    CHECK_INT(userdb_open(dir), AUTH_OK);
    CHECK(userdb_install_secret(s1));
    CHECK_INT(userdb_add("dave", "pw"), AUTH_OK);
    userdb_close();
    CHECK(!userdb_install_secret(s2));
    CHECK_INT(userdb_open(dir), AUTH_OK);
    CHECK(userdb_install_secret(s2));
    CHECK(memcmp(s1, s2, 32) == 0);
    CHECK(userdb_verify_password("dave", "pw"));
    CHECK_INT(userdb_delete("dave"), AUTH_OK);
}

static void list_cb(const char *name, void *arg)
{
    struct buf *b = arg;
    buf_puts(b, name);
    buf_putc(b, ' ');
}

static void test_list(void)
{
    CHECK_INT(userdb_add("zed", "a"), AUTH_OK);
    CHECK_INT(userdb_add("amy", "b"), AUTH_OK);
    struct buf b = BUF_INIT;
    CHECK_INT(userdb_list(list_cb, &b), AUTH_OK);
    CHECK_STR(buf_cstr(&b), "amy zed ");
    buf_free(&b);
}

static void test_import(void)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    char *h6 = xstrdup(crypt_r("sha512pw", "$6$saltsaltsalt$", cd));
    free(cd);
    CHECK(strncmp(h6, "$6$", 3) == 0);
    CHECK(password_hash_supported(h6));
    CHECK_INT(userdb_add_hash("six", h6), AUTH_OK);
    CHECK_INT(userdb_add_hash("six", h6), AUTH_ERR_EXISTS);
    CHECK(userdb_verify_password("six", "sha512pw"));
    CHECK(!userdb_verify_password("six", "sha512pX"));
    struct scram_keys k;
    CHECK(userdb_get_scram("six", SCRAM_SHA256, &k) != AUTH_OK);
    free(h6);

    char enc[256];
    const unsigned char salt[16] = "0123456789abcdef";
    CHECK_INT(argon2id_hash_encoded(2, 1024, 1, "argonpw", 7, salt, sizeof(salt), 32, enc, sizeof(enc)), ARGON2_OK);
    CHECK(password_hash_supported(enc));
    CHECK_INT(userdb_add_hash("argon", enc), AUTH_OK);
    CHECK(userdb_verify_password("argon", "argonpw"));
    CHECK(!userdb_verify_password("argon", "argonpx"));

    CHECK_INT(userdb_add_hash("junk", "not-a-hash"), AUTH_ERR_INVALID);
    CHECK_INT(userdb_add_hash("junk", "$argon2id$v=19$m=99999999,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAA"),
              AUTH_ERR_INVALID);
    CHECK_INT(userdb_exists("junk"), 0);

    /* Setting a password later gives SCRAM keys. */
    CHECK_INT(userdb_set_password("six", "newpw"), AUTH_OK);
    CHECK_INT(userdb_get_scram("six", SCRAM_SHA256, &k), AUTH_OK);
    CHECK(userdb_verify_password("six", "newpw"));
}

/* A forked child gets its own connection transparently. */
static void test_fork(void)
{
    CHECK_INT(userdb_add("forky", "pw"), AUTH_OK);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int ok = userdb_exists("forky") == 1 && userdb_verify_password("forky", "pw") &&
                 userdb_add("child", "pw") == AUTH_OK;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(userdb_exists("child"), 1);
    CHECK_INT(userdb_delete("child"), AUTH_OK);
    CHECK_INT(userdb_delete("forky"), AUTH_OK);
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

static void test_mechanisms(void)
{
    struct sasl_params p = {0};
    struct buf b = BUF_INIT;
    sasl_mechanisms(&p, &b);
    CHECK_STR(buf_cstr(&b), "SCRAM-SHA-256 SCRAM-SHA-1");
    CHECK(sasl_start("PLAIN", &p) == NULL);
    CHECK(sasl_start("SCRAM-SHA-256-PLUS", &p) == NULL);
    CHECK(sasl_start("CRAM-MD5", &p) == NULL);
    p.tls = true;
    buf_reset(&b);
    sasl_mechanisms(&p, &b);
    CHECK_STR(b.data, "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN");
    p.cb_len = 32;
    buf_reset(&b);
    sasl_mechanisms(&p, &b);
    CHECK_STR(b.data, "SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 PLAIN LOGIN");
    p.tls = false;
    p.allow_plaintext = true;
    p.cb_len = 0;
    buf_reset(&b);
    sasl_mechanisms(&p, &b);
    CHECK_STR(b.data, "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN");
    struct sasl_session *s = sasl_start("plain", &p);
    CHECK(s != NULL);
    sasl_free(s);
    buf_free(&b);
}

static void test_plain(void)
{
    struct sasl_params p = {.tls = true};
    struct buf out = BUF_INIT;
    CHECK_INT(userdb_add("tim", "tanstaaftanstaaf"), AUTH_OK);

    struct sasl_session *s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, "\0tim\0tanstaaftanstaaf", 21, &out), SASL_DONE);
    CHECK_STR(sasl_username(s), "tim");
    CHECK_INT(step(s, "x", 1, &out), SASL_BADPROT); /* after the end */
    sasl_free(s);

    /* Upper-case authcid, authzid equal to authcid. */
    s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, "Tim\0TIM\0tanstaaftanstaaf", 24, &out), SASL_DONE);
    CHECK_STR(sasl_username(s), "tim");
    sasl_free(s);

    /* No initial response: empty challenge, then the credentials. */
    s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, NULL, 0, &out), SASL_CONTINUE);
    CHECK_INT(out.len, 0);
    CHECK_INT(step(s, "\0tim\0tanstaaftanstaaf", 21, &out), SASL_DONE);
    sasl_free(s);

    s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, "\0tim\0wrong", 10, &out), SASL_FAIL);
    CHECK_STR(sasl_attempted_user(s), "tim");
    CHECK_STR(sasl_username(s), "");
    sasl_free(s);

    s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, "\0nobody\0tanstaaftanstaaf", 24, &out), SASL_FAIL);
    sasl_free(s);

    /* Malformed. */
    static const struct {
        const char *m;
        size_t len;
    } bad[] = {
        {"timtanstaaf", 11},            /* no NUL */
        {"\0timtanstaaf", 12},          /* one NUL */
        {"\0tim\0pw\0x", 9},            /* three NULs */
        {"\0\0tanstaaftanstaaf", 18},   /* empty authcid */
        {"\0tim\0", 5},                 /* empty password */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = sasl_start("PLAIN", &p);
        CHECK_INT(step(s, bad[i].m, bad[i].len, &out), SASL_BADPROT);
        sasl_free(s);
    }
    /* Too long password / user / message. */
    size_t big = 9000;
    char *m = calloc(1, big);
    memset(m + 5, 'x', big - 5);
    memcpy(m, "\0tim\0", 5);
    s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, m, AUTH_MAX_PASSWORD + 6, &out), SASL_BADPROT);
    sasl_free(s);
    s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, m, big, &out), SASL_BADPROT);
    sasl_free(s);
    memset(m, 'a', big);
    m[0] = '\0';
    m[300] = '\0';
    s = sasl_start("PLAIN", &p);
    CHECK_INT(step(s, m, 310, &out), SASL_BADPROT);
    sasl_free(s);
    free(m);
    buf_free(&out);
}

/* SASL proxy authorization (issue 9, critical): only "proxyservers" may
 * act as another user; "admins" grants nothing; a proxyserver (or anyone)
 * with a domain part never leaves its domain. */
static bool plain_as(const char *msg, size_t len, const char *want)
{
    struct sasl_params p = {.tls = true};
    struct buf out = BUF_INIT;
    struct sasl_session *s = sasl_start("PLAIN", &p);
    enum sasl_result r = step(s, msg, len, &out);
    bool ok = want ? (r == SASL_DONE && strcmp(sasl_username(s), want) == 0) : r == SASL_FAIL;
    if (!ok)
        fprintf(stderr, "  PLAIN %s -> %d %s (want %s)\n", msg + strlen(msg) + 1, (int)r,
                r == SASL_DONE ? sasl_username(s) : "-", want ? want : "FAIL");
    if (ok && want && strcmp(msg, want) == 0 && strcmp(msg + strlen(msg) + 1, want) != 0)
        ok = sasl_proxy_authcid(s) != NULL;
    sasl_free(s);
    buf_free(&out);
    return ok;
}
#define AS(lit, want) plain_as(lit, sizeof(lit) - 1, want)

static void test_authzid(void)
{
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    CHECK(c && config_set(c, "admins", "root", err, sizeof(err)));
    CHECK(config_set(c, "proxyservers", "proxy", err, sizeof(err)));
    config_install(c);
    CHECK_INT(userdb_add("root", "rootpw"), AUTH_OK);
    CHECK_INT(userdb_add("proxy", "proxypw"), AUTH_OK);

    CHECK(AS("tim\0proxy\0proxypw", "tim"));     /* a proxyserver may */
    CHECK(AS("root\0proxy\0proxypw", "root"));   /* ... act as an admin too (Cyrus) */
    CHECK(AS("ghost\0proxy\0proxypw", NULL));    /* no such user */
    CHECK(AS("tim\0proxy\0wrong", NULL));        /* wrong password */
    CHECK(AS("tim\0root\0rootpw", NULL));        /* admins are no proxies */
    CHECK(AS("root\0root\0rootpw", "root"));     /* authzid = authcid */
    CHECK(AS("\0root\0rootpw", "root"));
    CHECK(AS("root\0tim\0tanstaaftanstaaf", NULL)); /* tim is nobody's proxy */
}

static void test_authzid_domains(void)
{
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    CHECK(c && config_set(c, "virtdomains", "yes", err, sizeof(err)));
    CHECK(config_set(c, "admins", "admin dadmin@a.test", err, sizeof(err)));
    CHECK(config_set(c, "proxyservers", "gproxy dproxy@a.test", err, sizeof(err)));
    config_install(c);
    CHECK_INT(userdb_add("admin", "adminpw"), AUTH_OK);
    CHECK_INT(userdb_add("dadmin@a.test", "dpw"), AUTH_OK);
    CHECK_INT(userdb_add("dproxy@a.test", "ppw"), AUTH_OK);
    CHECK_INT(userdb_add("gproxy", "gpw"), AUTH_OK);
    CHECK_INT(userdb_add("bob@b.test", "bobpw"), AUTH_OK);
    CHECK_INT(userdb_add("carol@a.test", "cpw"), AUTH_OK);

    /* The reported attack: a domain admin becoming the global admin or a
     * user of another domain. */
    CHECK(AS("admin\0dadmin@a.test\0dpw", NULL));
    CHECK(AS("bob@b.test\0dadmin@a.test\0dpw", NULL));
    CHECK(AS("carol@a.test\0dadmin@a.test\0dpw", NULL)); /* not a proxy at all */
    /* A domain-scoped proxy stays in its domain. */
    CHECK(AS("carol@a.test\0dproxy@a.test\0ppw", "carol@a.test"));
    CHECK(AS("bob@b.test\0dproxy@a.test\0ppw", NULL));
    CHECK(AS("admin\0dproxy@a.test\0ppw", NULL));
    /* A global proxy reaches every domain. */
    CHECK(AS("bob@b.test\0gproxy\0gpw", "bob@b.test"));
    /* The global admin is no proxy either. */
    CHECK(AS("bob@b.test\0admin\0adminpw", NULL));
}

/* Review of issue 9 item 1: a proxyserver listed with the default domain
 * ("webmail@main.test": its id is "webmail", the default domain being
 * stripped) is confined to the default domain as "admins" treats that
 * form - not refused altogether, and never a global admin (who lives in
 * the default domain, bare); and nobody authorizes as a locked account
 * (it cannot log in until a password is set, so not through a proxy
 * either). */
static void test_authzid_default_domain(void)
{
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    CHECK(c && config_set(c, "virtdomains", "yes", err, sizeof(err)));
    CHECK(config_set(c, "defaultdomain", "main.test", err, sizeof(err)));
    CHECK(config_set(c, "admins", "admin", err, sizeof(err)));
    CHECK(config_set(c, "proxyservers", "gproxy webmail@main.test", err, sizeof(err)));
    config_install(c);
    CHECK_INT(userdb_add("webmail", "wpw"), AUTH_OK);
    CHECK_INT(userdb_add("dave", "dpw"), AUTH_OK);
    CHECK_INT(userdb_add("erin@b.test", "epw"), AUTH_OK);
    CHECK_INT(userdb_add_locked("frozen"), AUTH_OK);
    /* "admin" and "gproxy" exist from test_authzid_domains */

    CHECK(AS("dave\0webmail\0wpw", "dave"));                  /* its own domain */
    CHECK(AS("dave@main.test\0webmail@main.test\0wpw", "dave"));
    CHECK(AS("erin@b.test\0webmail\0wpw", NULL));             /* another domain */
    CHECK(AS("admin\0webmail\0wpw", NULL));                   /* a global admin */
    CHECK(AS("frozen\0webmail\0wpw", NULL));                  /* locked */
    CHECK(AS("frozen\0gproxy\0gpw", NULL));                   /* locked, global proxy too */
    CHECK(AS("dave\0gproxy\0gpw", "dave"));
    CHECK(AS("erin@b.test\0gproxy\0gpw", "erin@b.test"));
    CHECK(AS("admin\0gproxy\0gpw", "admin"));                 /* a global proxy may (documented) */
}

static void test_login(void)
{
    struct sasl_params p = {.allow_plaintext = true};
    struct buf out = BUF_INIT;
    struct sasl_session *s = sasl_start("LOGIN", &p);
    CHECK_INT(step(s, NULL, 0, &out), SASL_CONTINUE);
    CHECK_STR(buf_cstr(&out), "Username:");
    CHECK_INT(step(s, "tim", 3, &out), SASL_CONTINUE);
    CHECK_STR(buf_cstr(&out), "Password:");
    CHECK_INT(step(s, "tanstaaftanstaaf", 16, &out), SASL_DONE);
    CHECK_STR(sasl_username(s), "tim");
    sasl_free(s);

    s = sasl_start("LOGIN", &p);
    CHECK_INT(step(s, "tim", 3, &out), SASL_CONTINUE); /* initial response */
    CHECK_STR(buf_cstr(&out), "Password:");
    CHECK_INT(step(s, "nope", 4, &out), SASL_FAIL);
    CHECK_STR(sasl_attempted_user(s), "tim");
    sasl_free(s);

    s = sasl_start("LOGIN", &p);
    CHECK_INT(step(s, NULL, 0, &out), SASL_CONTINUE);
    CHECK_INT(step(s, "", 0, &out), SASL_BADPROT);
    sasl_free(s);

    s = sasl_start("LOGIN", &p);
    CHECK_INT(step(s, "t\0m", 3, &out), SASL_BADPROT);
    sasl_free(s);
    buf_free(&out);
}

int main(void)
{
    log_init("test", false, false, NULL);
    RUN(test_normalize);
    RUN(test_base64);
    RUN(test_password_hashes);
    RUN(test_userdb);
    RUN(test_list);
    RUN(test_import);
    RUN(test_fork);
    RUN(test_mechanisms);
    RUN(test_plain);
    RUN(test_authzid);
    RUN(test_authzid_domains);
    RUN(test_authzid_default_domain);
    RUN(test_login);
    userdb_close();
    return unit_done();
}
