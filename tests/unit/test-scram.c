/* test-scram.c - SCRAM-SHA-1/-256 server against the RFC 5802 and RFC 7677
 * example exchanges, plus failure paths and channel binding. */
#include "unit.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include <crypt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static enum sasl_result step(struct sasl_session *s, const char *in, struct buf *out)
{
    buf_reset(out);
    return sasl_step(s, (const unsigned char *)in, strlen(in), out);
}

/* Put the RFC example keys for "user"/"pencil" into the database. */
static void set_rfc_keys(enum scram_hash h, const char *salt_b64)
{
    struct buf salt = BUF_INIT;
    CHECK(base64_decode_strict(salt_b64, strlen(salt_b64), &salt));
    struct scram_keys k;
    CHECK(scram_derive_keys(h, "pencil", (const unsigned char *)salt.data, salt.len, 4096, &k));
    CHECK_INT(userdb_set_scram("user", h, &k), AUTH_OK);
    buf_free(&salt);
}

#define SHA1_CFIRST "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define SHA1_SNONCE "3rfcNHYJY1ZVvWVs7j"
#define SHA1_SFIRST "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
#define SHA1_CFINAL "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define SHA1_SFINAL "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="

#define SHA256_CFIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define SHA256_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define SHA256_SFIRST "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define SHA256_CFINAL                                                                                   \
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define SHA256_SFINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void test_rfc5802(void)
{
    struct sasl_params p = {0};
    struct buf out = BUF_INIT;
    sasl_test_set_server_nonce(SHA1_SNONCE);
    struct sasl_session *s = sasl_start("SCRAM-SHA-1", &p);
    CHECK_INT(step(s, SHA1_CFIRST, &out), SASL_CONTINUE);
    CHECK_STR(buf_cstr(&out), SHA1_SFIRST);
    CHECK_INT(step(s, SHA1_CFINAL, &out), SASL_DONE);
    CHECK_STR(buf_cstr(&out), SHA1_SFINAL);
    CHECK_STR(sasl_username(s), "user");
    sasl_free(s);

    /* Same exchange with no initial response. */
    s = sasl_start("SCRAM-SHA-1", &p);
    buf_reset(&out);
    CHECK_INT(sasl_step(s, NULL, 0, &out), SASL_CONTINUE);
    CHECK_INT(out.len, 0);
    CHECK_INT(step(s, SHA1_CFIRST, &out), SASL_CONTINUE);
    CHECK_STR(buf_cstr(&out), SHA1_SFIRST);
    CHECK_INT(step(s, SHA1_CFINAL, &out), SASL_DONE);
    CHECK_STR(buf_cstr(&out), SHA1_SFINAL);
    sasl_free(s);
    buf_free(&out);
}

static void test_rfc7677(void)
{
    struct sasl_params p = {0};
    struct buf out = BUF_INIT;
    sasl_test_set_server_nonce(SHA256_SNONCE);
    struct sasl_session *s = sasl_start("SCRAM-SHA-256", &p);
    CHECK_INT(step(s, SHA256_CFIRST, &out), SASL_CONTINUE);
    CHECK_STR(buf_cstr(&out), SHA256_SFIRST);
    CHECK_INT(step(s, SHA256_CFINAL, &out), SASL_DONE);
    CHECK_STR(buf_cstr(&out), SHA256_SFINAL);
    CHECK_STR(sasl_username(s), "user");
    sasl_free(s);
    buf_free(&out);
}

static void expect_final(const char *mech, const char *snonce, const char *cfirst, const char *cfinal,
                         enum sasl_result want)
{
    struct sasl_params p = {0};
    struct buf out = BUF_INIT;
    sasl_test_set_server_nonce(snonce);
    struct sasl_session *s = sasl_start(mech, &p);
    CHECK_INT(step(s, cfirst, &out), SASL_CONTINUE);
    CHECK_INT(step(s, cfinal, &out), want);
    CHECK_STR(sasl_username(s), "");
    sasl_free(s);
    buf_free(&out);
}

static void test_failures(void)
{
    /* Wrong proof (one character changed). */
    expect_final("SCRAM-SHA-1", SHA1_SNONCE, SHA1_CFIRST,
                 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tt=", SASL_BADPROT);
    expect_final("SCRAM-SHA-1", SHA1_SNONCE, SHA1_CFIRST,
                 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=w0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL);
    /* Proof of the wrong length. */
    expect_final("SCRAM-SHA-1", SHA1_SNONCE, SHA1_CFIRST,
                 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=dGVzdA==", SASL_FAIL);
    /* Tampered nonce. */
    expect_final("SCRAM-SHA-1", SHA1_SNONCE, SHA1_CFIRST,
                 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7k,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL);
    expect_final("SCRAM-SHA-1", SHA1_SNONCE, SHA1_CFIRST,
                 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL);
    /* Channel binding data mismatch (c= claims "y,,"). */
    expect_final("SCRAM-SHA-1", SHA1_SNONCE, SHA1_CFIRST,
                 "c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_FAIL);
    /* Missing proof / garbage. */
    expect_final("SCRAM-SHA-1", SHA1_SNONCE, SHA1_CFIRST, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
                 SASL_BADPROT);
    expect_final("SCRAM-SHA-1", SHA1_SNONCE, SHA1_CFIRST, "garbage", SASL_BADPROT);
    /* Bad derive parameters. */
    struct scram_keys k;
    CHECK(!scram_derive_keys(SCRAM_SHA256, "pencil", (const unsigned char *)"x", 0, 4096, &k));
    CHECK(!scram_derive_keys(SCRAM_SHA256, "pencil", (const unsigned char *)"x", 1, 0, &k));
}

static void test_unknown_user(void)
{
    struct sasl_params p = {0};
    struct buf out = BUF_INIT, out2 = BUF_INIT;
    sasl_test_set_server_nonce("SERVERNONCE");
    struct sasl_session *s = sasl_start("SCRAM-SHA-256", &p);
    CHECK_INT(step(s, "n,,n=nosuchuser,r=abc", &out), SASL_CONTINUE);
    CHECK(strncmp(buf_cstr(&out), "r=abcSERVERNONCE,s=", 19) == 0);
    CHECK(strstr(buf_cstr(&out), ",i=4096") != NULL);
    CHECK_INT(step(s, "c=biws,r=abcSERVERNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &out2), SASL_FAIL);
    CHECK_STR(sasl_attempted_user(s), "nosuchuser");
    sasl_free(s);
    /* The fake salt is stable for a name: same server-first again. */
    s = sasl_start("SCRAM-SHA-256", &p);
    CHECK_INT(step(s, "n,,n=nosuchuser,r=abc", &out2), SASL_CONTINUE);
    CHECK_STR(buf_cstr(&out2), buf_cstr(&out));
    sasl_free(s);
    s = sasl_start("SCRAM-SHA-256", &p);
    CHECK_INT(step(s, "n,,n=otheruser,r=abc", &out2), SASL_CONTINUE);
    CHECK(strcmp(buf_cstr(&out2), buf_cstr(&out)) != 0);
    sasl_free(s);
    buf_free(&out);
    buf_free(&out2);
}

static void test_malformed_first(void)
{
    static const char *bad[] = {
        "",                               /* handled as "no initial response" on step 0: see below */
        "x,,n=user,r=abc",                /* bad flag */
        "n,n=user,r=abc",                 /* missing authzid field */
        "n,,m=ext,n=user,r=abc",          /* mandatory extension */
        "n,,n=user",                      /* no nonce */
        "n,,n=user,r=",                   /* empty nonce */
        "n,,n=us=41er,r=abc",             /* bad escape */
        "n,,n=,r=abc",                    /* empty name */
        "n,,r=abc,n=user",                /* wrong order */
        "n,,n=user,r=abc,1x",             /* bad extension */
        "n,a=,n=user,r=abc",              /* empty authzid */
        "p,,n=user,r=abc",                /* p without name */
    };
    struct sasl_params p = {0};
    struct buf out = BUF_INIT;
    for (size_t i = 1; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sasl_session *s = sasl_start("SCRAM-SHA-1", &p);
        enum sasl_result r = step(s, bad[i], &out);
        if (r != SASL_BADPROT)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_INT(r, SASL_BADPROT);
        sasl_free(s);
    }
    /* p= on a non-PLUS mechanism fails. */
    struct sasl_session *s = sasl_start("SCRAM-SHA-1", &p);
    CHECK_INT(step(s, "p=tls-exporter,,n=user,r=abc", &out), SASL_FAIL);
    sasl_free(s);
    /* Over-long message, over-long user name. */
    struct buf big = BUF_INIT;
    buf_puts(&big, "n,,n=user,r=");
    for (int i = 0; i < 9000; i++)
        buf_putc(&big, 'x');
    s = sasl_start("SCRAM-SHA-1", &p);
    CHECK_INT(step(s, big.data, &out), SASL_BADPROT);
    sasl_free(s);
    buf_reset(&big);
    buf_puts(&big, "n,,n=");
    for (int i = 0; i < 300; i++)
        buf_putc(&big, 'u');
    buf_puts(&big, ",r=abc");
    s = sasl_start("SCRAM-SHA-1", &p);
    CHECK_INT(step(s, big.data, &out), SASL_BADPROT);
    sasl_free(s);
    buf_free(&big);
    /* Escaped names are unescaped ("us=2Cer" = "us,er": invalid user, fake). */
    s = sasl_start("SCRAM-SHA-1", &p);
    CHECK_INT(step(s, "n,,n=us=2Cer,r=abc", &out), SASL_CONTINUE);
    sasl_free(s);
    buf_free(&out);
}

/* A minimal SCRAM client (test only): runs a full exchange, parsing the
 * server-first message for nonce, salt and iterations. cb_for_c is the
 * binding data the client puts in c= (NULL: none). Returns the result of
 * the final step (or of the first step when that did not CONTINUE). */
static enum sasl_result scram_client(const char *mech, const struct sasl_params *p, const char *gs2,
                                     const unsigned char *cb_for_c, const char *user, const char *password,
                                     char *username_out)
{
    bool sha1 = strncmp(mech, "SCRAM-SHA-1", 11) == 0;
    const EVP_MD *md = sha1 ? EVP_sha1() : EVP_sha256();
    size_t kl = sha1 ? 20 : 32;
    struct buf out = BUF_INIT, cfirst_bare = BUF_INIT, msg = BUF_INIT, salt = BUF_INIT, am = BUF_INIT;
    sasl_test_set_server_nonce(NULL);
    struct sasl_session *s = sasl_start(mech, p);
    enum sasl_result r = SASL_BADPROT;
    if (!s)
        goto done;
    buf_printf(&cfirst_bare, "n=%s,r=clientnonce123", user);
    buf_printf(&msg, "%s%s", gs2, cfirst_bare.data);
    r = step(s, msg.data, &out);
    if (r != SASL_CONTINUE)
        goto done;
    /* r=...,s=...,i=... */
    char *sf = xstrdup(out.data);
    char *nonce = sf + 2, *sp = strstr(sf, ",s="), *ip = strstr(sf, ",i=");
    CHECK(sp && ip);
    *sp = '\0';
    *ip = '\0';
    CHECK(strncmp(nonce, "clientnonce123", 14) == 0 && strlen(nonce) == 14 + 32);
    CHECK(base64_decode_strict(sp + 3, strlen(sp + 3), &salt));
    unsigned iters = (unsigned)atoi(ip + 3);
    unsigned char salted[32], ckey[32], skey[32], sig[32], proof[32];
    unsigned int ol;
    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (unsigned char *)salt.data, (int)salt.len, (int)iters, md,
                      (int)kl, salted);
    HMAC(md, salted, (int)kl, (const unsigned char *)"Client Key", 10, ckey, &ol);
    EVP_Digest(ckey, kl, skey, &ol, md, NULL);
    buf_reset(&msg);
    buf_puts(&msg, "c=");
    struct buf cb = BUF_INIT;
    buf_puts(&cb, gs2);
    if (cb_for_c)
        buf_append(&cb, cb_for_c, 32);
    base64_encode((const unsigned char *)cb.data, cb.len, &msg);
    buf_free(&cb);
    buf_printf(&msg, ",r=%s", nonce);
    /* Restore the server-first text for the AuthMessage. */
    *sp = ',';
    *ip = ',';
    buf_printf(&am, "%s,%s,%s", cfirst_bare.data, sf, msg.data);
    HMAC(md, skey, (int)kl, (const unsigned char *)am.data, am.len, sig, &ol);
    for (size_t i = 0; i < kl; i++)
        proof[i] = ckey[i] ^ sig[i];
    buf_puts(&msg, ",p=");
    base64_encode(proof, kl, &msg);
    free(sf);
    r = step(s, msg.data, &out);
    if (r == SASL_DONE)
        CHECK(strncmp(out.data, "v=", 2) == 0);
done:
    if (username_out)
        snprintf(username_out, AUTH_MAX_USERNAME + 1, "%s", s ? sasl_username(s) : "");
    sasl_free(s);
    buf_free(&out);
    buf_free(&cfirst_bare);
    buf_free(&msg);
    buf_free(&salt);
    buf_free(&am);
    return r;
}

static void test_random_exchange(void)
{
    struct sasl_params p = {0};
    char who[AUTH_MAX_USERNAME + 1];
    CHECK_INT(userdb_add("Walter", "correct horse"), AUTH_OK);
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "n,,", NULL, "walter", "correct horse", who), SASL_DONE);
    CHECK_STR(who, "walter");
    CHECK_INT(scram_client("SCRAM-SHA-1", &p, "n,,", NULL, "WALTER", "correct horse", who), SASL_DONE);
    CHECK_STR(who, "walter");
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "n,,", NULL, "walter", "battery staple", who), SASL_FAIL);
    CHECK_STR(who, "");
    /* "y": client supports binding, server did not advertise it: fine. */
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "y,,", NULL, "walter", "correct horse", who), SASL_DONE);
    /* authzid = self */
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "n,a=walter,", NULL, "walter", "correct horse", who), SASL_DONE);
    CHECK_STR(who, "walter");
    /* authzid = other user, walter is no proxyserver */
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "n,a=user,", NULL, "walter", "correct horse", who), SASL_FAIL);
}

/* SCRAM's a= authzid follows the same proxy rule as PLAIN: "admins"
 * grants nothing, "proxyservers" does. */
static void test_proxy(void)
{
    char err[256], who[AUTH_MAX_USERNAME + 1];
    struct sasl_params p = {0};
    struct config *c = config_load(NULL, err, sizeof(err));
    CHECK(c && config_set(c, "admins", "walter", err, sizeof(err)));
    config_install(c);
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "n,a=user,", NULL, "walter", "correct horse", who), SASL_FAIL);
    c = config_load(NULL, err, sizeof(err));
    CHECK(c && config_set(c, "proxyservers", "walter", err, sizeof(err)));
    config_install(c);
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "n,a=user,", NULL, "walter", "correct horse", who), SASL_DONE);
    CHECK_STR(who, "user");
    CHECK_INT(scram_client("SCRAM-SHA-1", &p, "n,a=nosuchuser,", NULL, "walter", "correct horse", who), SASL_FAIL);
    config_install(config_load(NULL, err, sizeof(err)));
}

static void test_channel_binding(void)
{
    struct sasl_params p = {.tls = true, .cb_len = 32};
    unsigned char other[32];
    for (int i = 0; i < 32; i++) {
        p.cb_data[i] = (unsigned char)i;
        other[i] = (unsigned char)(i + 1);
    }
    const char *gs2 = "p=tls-exporter,,";
    CHECK_INT(scram_client("SCRAM-SHA-256-PLUS", &p, gs2, p.cb_data, "walter", "correct horse", NULL), SASL_DONE);
    CHECK_INT(scram_client("SCRAM-SHA-1-PLUS", &p, gs2, p.cb_data, "walter", "correct horse", NULL), SASL_DONE);
    /* Client saw different exporter data (MITM): fail. */
    CHECK_INT(scram_client("SCRAM-SHA-256-PLUS", &p, gs2, other, "walter", "correct horse", NULL), SASL_FAIL);
    /* Binding type we do not offer. */
    CHECK_INT(scram_client("SCRAM-SHA-256-PLUS", &p, "p=tls-unique,,", p.cb_data, "walter", "correct horse", NULL),
              SASL_FAIL);
    /* -PLUS without binding is a protocol error. */
    CHECK_INT(scram_client("SCRAM-SHA-256-PLUS", &p, "n,,", NULL, "walter", "correct horse", NULL), SASL_BADPROT);
    /* Downgrade: -PLUS advertised (cb data present) but client says "y". */
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "y,,", NULL, "walter", "correct horse", NULL), SASL_FAIL);
    /* Non-PLUS without binding while -PLUS is available: allowed. */
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "n,,", NULL, "walter", "correct horse", NULL), SASL_DONE);
    /* -PLUS is not available without cb data. */
    struct sasl_params nocb = {.tls = true};
    CHECK(sasl_start("SCRAM-SHA-256-PLUS", &nocb) == NULL);
}

static void test_imported_user(void)
{
    /* A user with only an imported hash has no SCRAM keys: SCRAM fails. */
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    CHECK_INT(userdb_add_hash("imported", crypt_r("pw", "$6$abcdefgh$", cd)), AUTH_OK);
    free(cd);
    struct sasl_params p = {0};
    CHECK_INT(scram_client("SCRAM-SHA-256", &p, "n,,", NULL, "imported", "pw", NULL), SASL_FAIL);
}

int main(void)
{
    log_init("test", false, false, NULL);
    const char *dir = unit_tmpdir();
    CHECK_INT(userdb_open(dir), AUTH_OK);
    CHECK_INT(userdb_add("user", "pencil"), AUTH_OK);
    set_rfc_keys(SCRAM_SHA1, "QSXCR+Q6sek8bf92");
    set_rfc_keys(SCRAM_SHA256, "W22ZaJ0SNY7soEsUEjb6gQ==");
    RUN(test_rfc5802);
    RUN(test_rfc7677);
    RUN(test_failures);
    RUN(test_unknown_user);
    RUN(test_malformed_first);
    RUN(test_random_exchange);
    RUN(test_proxy);
    RUN(test_channel_binding);
    RUN(test_imported_user);
    userdb_close();
    return unit_done();
}
