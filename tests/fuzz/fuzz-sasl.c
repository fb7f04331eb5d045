/* fuzz-sasl.c - the server side of the SASL mechanisms (src/auth/sasl.c,
 * scram.c): PLAIN (RFC 4616), LOGIN, SCRAM-SHA-1/-256 and their -PLUS
 * variants (RFC 5802, 7677, 9266) and ANONYMOUS (RFC 4505), with proxy
 * authorization (authzid) and the strict base64 the protocols decode
 * client lines with.
 *
 * A user database in a temporary directory holds "fuzz", "proxy" (listed
 * in proxyservers), "bob@a.test" and "dproxy@a.test" (a proxyserver of
 * domain a.test), all with FUZZ_PASSWORD, and SCRAM keys with a fixed salt
 * ("fuzzsaltfuzzsalt", 4096 iterations); the server nonce is fixed
 * ("SNONCE", sasl_test_set_server_nonce) so that a recorded exchange with
 * a valid proof replays (tests/fuzz/corpus/sasl/).
 *
 * Input: byte 0 = flags: bits 0-2 the mechanism (SCRAM-SHA-256-PLUS,
 * SCRAM-SHA-256, SCRAM-SHA-1-PLUS, SCRAM-SHA-1, PLAIN, LOGIN, ANONYMOUS;
 * 7: the first line names it), bit 3 TLS, bit 4 allowplaintext, bit 5
 * channel binding data present (32 bytes 0x01..0x20), bit 6 the lines are
 * base64 (as on the wire; a line that does not decode ends the exchange),
 * bit 7 virtdomains. Then the client messages, one per line (LF); an
 * empty first line means "no initial response".
 *
 * Checked besides the sanitizers: a successful exchange names an
 * existing user or is anonymous; a proxy login's authentication identity
 * is listed in proxyservers and, for a proxyserver with a domain, the
 * user is in that domain. */
#include "support.h"
#include "auth.h"
#include "auth-service.h"
#include "base64.h"
#include "config.h"

static const char *const mechs[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1",
                                    "PLAIN", "LOGIN", "ANONYMOUS"};
static const char *const users[] = {"fuzz", "proxy", "bob@a.test", "dproxy@a.test"};

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz-sasl: %s: %s\n", what, detail);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-sasl");
    const char *dir = fuzz_tmpdir();
    fuzz_config(dir);
    fuzz_set("allowanonymouslogin", "yes");
    fuzz_set("proxyservers", "proxy dproxy@a.test");
    fuzz_set("admins", "admin dadmin@a.test");
    fuzz_set("defaultdomain", "main.test");
    if (userdb_open(dir) != AUTH_OK)
        fail("userdb_open", dir);
    static const unsigned char salt[] = "fuzzsaltfuzzsalt";
    for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
        /* names with a domain are only valid under virtdomains */
        fuzz_set("virtdomains", strchr(users[i], '@') ? "yes" : "no");
        fuzz_add_user(users[i]);
        for (int h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
            struct scram_keys k;
            if (!scram_derive_keys((enum scram_hash)h, FUZZ_PASSWORD, salt, 16, 4096, &k) ||
                userdb_set_scram(users[i], (enum scram_hash)h, &k) != AUTH_OK)
                fail("SCRAM keys", users[i]);
        }
    }
    sasl_test_set_server_nonce("SNONCE");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t f = data[0];
    fuzz_set("virtdomains", f & 0x80 ? "yes" : "no");
    struct sasl_params p;
    memset(&p, 0, sizeof(p));
    p.tls = f & 0x08;
    p.allow_plaintext = f & 0x10;
    p.allow_anonymous = true;
    if (f & 0x20) {
        for (size_t i = 0; i < 32; i++)
            p.cb_data[i] = (unsigned char)(i + 1);
        p.cb_len = 32;
    }
    bool b64 = f & 0x40;
    const uint8_t *rest = data + 1;
    size_t rlen = size - 1;

    char *mech;
    if ((f & 7) == 7) {
        const uint8_t *l;
        size_t ll;
        fuzz_split(rest, rlen, "\n", &l, &ll, &rest, &rlen);
        mech = xstrndup((const char *)l, ll);
    } else {
        mech = xstrdup(mechs[f & 7]);
    }
    struct buf out = BUF_INIT;
    sasl_mechanisms(&p, &out);
    struct sasl_session *s = sasl_start(mech, &p);
    free(mech);
    if (!s) {
        buf_free(&out);
        return 0;
    }
    enum sasl_result r = SASL_CONTINUE;
    bool first = true;
    for (int step = 0; step < 8 && r == SASL_CONTINUE; step++) {
        if (rlen == 0 && !first)
            break;
        const uint8_t *l;
        size_t ll;
        fuzz_split(rest, rlen, "\n", &l, &ll, &rest, &rlen);
        buf_reset(&out);
        if (first && ll == 0) {
            r = sasl_step(s, NULL, 0, &out);
        } else if (b64) {
            struct buf dec = BUF_INIT;
            if (!base64_decode_strict((const char *)l, ll, &dec)) {
                buf_free(&dec);
                break;
            }
            r = sasl_step(s, (const unsigned char *)(dec.data ? dec.data : ""), dec.len, &out);
            buf_free(&dec);
        } else {
            /* exactly ll bytes, so ASan sees any read past the message */
            unsigned char *m = xmalloc(ll ? ll : 1);
            memcpy(m, l, ll);
            r = sasl_step(s, m, ll, &out);
            free(m);
        }
        first = false;
        if (r == SASL_VERIFY) {
            /* PLAIN/LOGIN: the password check a front-end makes; without a
             * pool the authentication service answers at once */
            const char *cid, *pw;
            sasl_verify_credentials(s, &cid, &pw);
            struct auth_request rq = {"fuzz", cid, pw, "127.0.0.1"};
            struct auth_reply rep;
            if (!auth_verify(&rq, NULL, NULL, &rep))
                abort();
            r = sasl_verify_result(s, rep.status == AUTH_STATUS_OK, rep.user);
        }
        /* what the protocols send back as a challenge */
        struct buf enc = BUF_INIT;
        base64_encode((const unsigned char *)buf_cstr(&out), out.len, &enc);
        buf_free(&enc);
    }
    if (getenv("DARIUS_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz-sasl: result %s, user \"%s\", proxy \"%s\"\n",
                r == SASL_DONE ? "DONE" : r == SASL_FAIL ? "FAIL" : r == SASL_BADPROT ? "BADPROT" : "CONTINUE",
                r == SASL_DONE ? sasl_username(s) : sasl_attempted_user(s),
                sasl_proxy_authcid(s) ? sasl_proxy_authcid(s) : "");
    if (r == SASL_DONE) {
        const char *u = sasl_username(s);
        const char *proxy = sasl_proxy_authcid(s);
        if (!u || !*u)
            fail("authenticated without a user name", "");
        if (sasl_is_anonymous(s)) {
            if (strcmp(u, AUTH_ANONYMOUS_USER) != 0)
                fail("anonymous login with a user name", u);
        } else if (userdb_exists(u) != 1) {
            fail("authenticated as a user that does not exist", u);
        }
        if (proxy) {
            if (!config_is_proxyserver(proxy))
                fail("proxy login by an identity not in proxyservers", proxy);
            const char *at = strrchr(proxy, '@');
            const char *uat = strrchr(u, '@');
            if (config_bool(CFG_VIRTDOMAINS) && at && (!uat || strcmp(at, uat) != 0))
                fail("a domain proxyserver acted outside its domain", u);
        }
    } else if (r == SASL_FAIL) {
        (void)sasl_attempted_user(s);
    }
    sasl_free(s);
    buf_free(&out);
    return 0;
}
