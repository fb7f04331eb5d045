/* test-sasl-exchange.c - the SASL exchange driver every protocol uses
 * (sasl-exchange.h): initial responses, challenges, the password check
 * round trip, final server data both ways, and every way an exchange
 * ends early. */
#include "unit.h"
#include "auth.h"
#include "base64.h"
#include "config.h"
#include "log.h"
#include "sasl-exchange.h"

/* RFC 5802 5 (the example exchange for "user"/"pencil") */
#define CFIRST "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define SNONCE "3rfcNHYJY1ZVvWVs7j"
#define SFIRST "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
#define CFINAL "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define SFINAL "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="

static const struct sasl_params tls_params = {.tls = true};
static const struct sasl_params clear_params = {.tls = false, .allow_plaintext = false};
static const struct sasl_ex_options opts = {.proto = "test", .peer = "192.0.2.1"};

/* base64 of s, in a static buffer (one at a time) */
static const char *b64(const char *s, size_t len)
{
    static char out[512];
    struct buf b = BUF_INIT;
    base64_encode((const unsigned char *)s, len, &b);
    snprintf(out, sizeof(out), "%s", buf_cstr(&b));
    buf_free(&b);
    return out;
}

static const char *data_str(const struct sasl_exchange *ex)
{
    static char out[512];
    size_t len;
    const unsigned char *d = sasl_ex_data(ex, &len);
    snprintf(out, sizeof(out), "%.*s", (int)len, (const char *)d);
    return out;
}

static struct auth_reply reply(enum auth_status st, const char *user)
{
    struct auth_reply r = {.status = st};
    snprintf(r.user, sizeof(r.user), "%s", user);
    return r;
}

static void test_plain(void)
{
    struct sasl_exchange ex = {0};
    /* initial response: straight to the password check */
    const char *ir = b64("\0user\0pencil", 12);
    CHECK_INT(sasl_ex_start(&ex, "plain", &tls_params, &opts, ir, strlen(ir)), SASL_EX_VERIFY);
    CHECK(sasl_ex_verifying(&ex) && !sasl_ex_waiting(&ex));
    CHECK_STR(sasl_ex_mech(&ex), "PLAIN");
    const char *cid, *pw;
    sasl_ex_credentials(&ex, &cid, &pw);
    CHECK_STR(cid, "user");
    CHECK_STR(pw, "pencil");
    sasl_ex_forget_password(&ex);
    struct auth_reply ok = reply(AUTH_STATUS_OK, "user");
    CHECK_INT(sasl_ex_verified(&ex, &ok), SASL_EX_SUCCESS);
    CHECK_STR(sasl_ex_user(&ex), "user");
    CHECK(!sasl_ex_verifying(&ex) && !sasl_ex_waiting(&ex));
    /* an answer that comes again (a second callback) is not a login */
    CHECK_INT(sasl_ex_verified(&ex, &ok), SASL_EX_FAILED);

    /* no initial response: an empty challenge, then the response */
    CHECK_INT(sasl_ex_start(&ex, "PLAIN", &tls_params, &opts, NULL, 0), SASL_EX_CHALLENGE);
    CHECK(sasl_ex_waiting(&ex));
    CHECK_STR(data_str(&ex), "");
    const char *r = b64("\0user\0wrong", 11);
    CHECK_INT(sasl_ex_response(&ex, r, strlen(r)), SASL_EX_VERIFY);
    struct auth_reply bad = reply(AUTH_STATUS_WRONG, "");
    CHECK_INT(sasl_ex_verified(&ex, &bad), SASL_EX_FAILED);
    CHECK_STR(sasl_ex_attempted(&ex), "user");

    /* the authentication service could not answer */
    CHECK_INT(sasl_ex_start(&ex, "PLAIN", &tls_params, &opts, ir, strlen(ir)), SASL_EX_VERIFY);
    struct auth_reply temp = reply(AUTH_STATUS_TEMPFAIL, "");
    CHECK_INT(sasl_ex_verified(&ex, &temp), SASL_EX_TEMPFAIL);
    CHECK_STR(sasl_ex_attempted(&ex), "user");

    /* "=": an empty initial response (RFC 4959), not invalid base64;
     * PLAIN then asks for its message */
    CHECK_INT(sasl_ex_start(&ex, "PLAIN", &tls_params, &opts, "=", 1), SASL_EX_CHALLENGE);
    CHECK_INT(sasl_ex_start(&ex, "PLAIN", &tls_params, &opts, "==", 2), SASL_EX_BAD_BASE64);
    sasl_ex_reset(&ex);
    CHECK_STR(sasl_ex_user(&ex), "");
    CHECK_STR(sasl_ex_mech(&ex), "");
}

static void test_login_mech(void)
{
    struct sasl_exchange ex = {0};
    CHECK_INT(sasl_ex_start(&ex, "LOGIN", &tls_params, &opts, NULL, 0), SASL_EX_CHALLENGE);
    CHECK_STR(data_str(&ex), "Username:");
    const char *r = b64("user", 4);
    CHECK_INT(sasl_ex_response(&ex, r, strlen(r)), SASL_EX_CHALLENGE);
    CHECK_STR(data_str(&ex), "Password:");
    r = b64("pencil", 6);
    CHECK_INT(sasl_ex_response(&ex, r, strlen(r)), SASL_EX_VERIFY);
    const char *cid, *pw;
    sasl_ex_credentials(&ex, &cid, &pw);
    CHECK_STR(pw, "pencil");
    sasl_ex_reset(&ex);
    CHECK(!sasl_ex_verifying(&ex));
}

static void test_ends(void)
{
    struct sasl_exchange ex = {0};
    /* "*" cancels (RFC 4422 3.5) */
    CHECK_INT(sasl_ex_start(&ex, "PLAIN", &tls_params, &opts, NULL, 0), SASL_EX_CHALLENGE);
    CHECK_INT(sasl_ex_response(&ex, "*", 1), SASL_EX_CANCELLED);
    CHECK(!sasl_ex_waiting(&ex));
    /* a response when none is due */
    CHECK_INT(sasl_ex_response(&ex, "", 0), SASL_EX_UNEXPECTED);
    /* invalid base64, in a response and in the initial response */
    CHECK_INT(sasl_ex_start(&ex, "PLAIN", &tls_params, &opts, NULL, 0), SASL_EX_CHALLENGE);
    CHECK_INT(sasl_ex_response(&ex, "a$b=", 4), SASL_EX_BAD_BASE64);
    CHECK(!sasl_ex_waiting(&ex));
    CHECK_INT(sasl_ex_start(&ex, "PLAIN", &tls_params, &opts, "%%%", 3), SASL_EX_BAD_BASE64);
    /* unknown, overlong, and plaintext mechanisms without TLS */
    CHECK_INT(sasl_ex_start(&ex, "NTLM", &tls_params, &opts, NULL, 0), SASL_EX_NO_MECH);
    CHECK_INT(sasl_ex_start(&ex, "SCRAM-SHA-256-PLUS-AND-MORE-AND-MORE", &tls_params, &opts, NULL, 0),
              SASL_EX_NO_MECH);
    CHECK_INT(sasl_ex_start(&ex, "PLAIN", &clear_params, &opts, NULL, 0), SASL_EX_PLAINTEXT);
    CHECK_INT(sasl_ex_start(&ex, "login", &clear_params, &opts, NULL, 0), SASL_EX_PLAINTEXT);
    /* without TLS SCRAM is still offered */
    CHECK_INT(sasl_ex_start(&ex, "SCRAM-SHA-1", &clear_params, &opts, NULL, 0), SASL_EX_CHALLENGE);
    sasl_ex_reset(&ex);
}

/* SCRAM's final server data: a challenge answered by an empty response
 * (IMAP, POP3, LMTP), or with the success (ManageSieve). */
static void test_scram_final(void)
{
    struct sasl_exchange ex = {0};
    sasl_test_set_server_nonce(SNONCE);
    char ir[128];
    snprintf(ir, sizeof(ir), "%s", b64(CFIRST, strlen(CFIRST)));
    CHECK_INT(sasl_ex_start(&ex, "SCRAM-SHA-1", &tls_params, &opts, ir, strlen(ir)), SASL_EX_CHALLENGE);
    CHECK_STR(data_str(&ex), SFIRST);
    const char *r = b64(CFINAL, strlen(CFINAL));
    CHECK_INT(sasl_ex_response(&ex, r, strlen(r)), SASL_EX_CHALLENGE);
    CHECK_STR(data_str(&ex), SFINAL);
    struct buf enc = BUF_INIT;
    sasl_ex_data_b64(&ex, &enc);
    CHECK_STR(buf_cstr(&enc), b64(SFINAL, strlen(SFINAL)));
    buf_free(&enc);
    /* data instead of the empty response */
    CHECK_INT(sasl_ex_response(&ex, "eA==", 4), SASL_EX_UNEXPECTED);
    CHECK_STR(sasl_ex_user(&ex), "user"); /* authenticated, but not logged in */

    sasl_test_set_server_nonce(SNONCE);
    CHECK_INT(sasl_ex_start(&ex, "SCRAM-SHA-1", &tls_params, &opts, ir, strlen(ir)), SASL_EX_CHALLENGE);
    r = b64(CFINAL, strlen(CFINAL));
    CHECK_INT(sasl_ex_response(&ex, r, strlen(r)), SASL_EX_CHALLENGE);
    CHECK_INT(sasl_ex_response(&ex, "", 0), SASL_EX_SUCCESS);
    CHECK_STR(sasl_ex_user(&ex), "user");

    /* ManageSieve: OK (SASL "...") carries it (RFC 5804 2.1) */
    const struct sasl_ex_options with = {.proto = "sieve", .peer = "192.0.2.1", .final_with_success = true};
    sasl_test_set_server_nonce(SNONCE);
    CHECK_INT(sasl_ex_start(&ex, "SCRAM-SHA-1", &tls_params, &with, ir, strlen(ir)), SASL_EX_CHALLENGE);
    r = b64(CFINAL, strlen(CFINAL));
    CHECK_INT(sasl_ex_response(&ex, r, strlen(r)), SASL_EX_SUCCESS);
    CHECK_STR(data_str(&ex), SFINAL);
    CHECK(!sasl_ex_waiting(&ex));

    /* a wrong proof */
    sasl_test_set_server_nonce(SNONCE);
    CHECK_INT(sasl_ex_start(&ex, "SCRAM-SHA-1", &tls_params, &opts, ir, strlen(ir)), SASL_EX_CHALLENGE);
    static const char wrong[] = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=AAAAv3Bz2T0CJGbJQyF0X+HI4Ts=";
    r = b64(wrong, strlen(wrong));
    CHECK_INT(sasl_ex_response(&ex, r, strlen(r)), SASL_EX_FAILED);
    CHECK_STR(sasl_ex_attempted(&ex), "user");
    sasl_ex_reset(&ex);
}

static void set_rfc_keys(void)
{
    struct buf salt = BUF_INIT;
    CHECK(base64_decode_strict("QSXCR+Q6sek8bf92", 16, &salt));
    struct scram_keys k;
    CHECK(scram_derive_keys(SCRAM_SHA1, "pencil", (const unsigned char *)salt.data, salt.len, 4096, &k));
    CHECK_INT(userdb_set_scram("user", SCRAM_SHA1, &k), AUTH_OK);
    buf_free(&salt);
}

int main(void)
{
    log_init("test", false, false, NULL);
    const char *dir = unit_tmpdir();
    CHECK_INT(userdb_open(dir), AUTH_OK);
    CHECK_INT(userdb_add("user", "pencil"), AUTH_OK);
    set_rfc_keys();
    RUN(test_plain);
    RUN(test_login_mech);
    RUN(test_ends);
    RUN(test_scram_final);
    userdb_close();
    return unit_done();
}
