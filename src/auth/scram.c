/* scram.c - SCRAM-SHA-1/-256 server side (RFC 5802, RFC 7677) with
 * tls-exporter channel binding (RFC 9266) for the -PLUS variants.
 *
 *   client-first   gs2-header client-first-bare
 *                  gs2-header = ("n" / "y" / "p=" cb-name) "," [ "a=" saslname ] ","
 *                  client-first-bare = "n=" saslname ",r=" c-nonce ["," extensions]
 *   server-first   "r=" c-nonce s-nonce ",s=" salt ",i=" iterations
 *   client-final   "c=" base64(gs2-header [cb-data]) ",r=" nonce ["," ext] ",p=" proof
 *   server-final   "v=" base64(ServerSignature)
 *
 * Unknown users (and users with only an imported hash) get a salt derived
 * from their name with an HMAC keyed by a per-install secret, so the
 * server-first message looks the same whether or not the user exists
 * (RFC 5802 9: do not disclose user existence); the exchange fails at the
 * proof check.
 *
 * Passwords are used as UTF-8 bytes without SASLprep (RFC 4013); for
 * ASCII passwords that is identical.
 */
#include "auth-private.h"
#include "log.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SCRAM_NONCE_BYTES 24
#define SCRAM_MAX_ITERATIONS 10000000u

static const char *test_server_nonce;

void sasl_test_set_server_nonce(const char *nonce)
{
    test_server_nonce = nonce;
}

static const EVP_MD *scram_md(enum scram_hash h)
{
    return h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

static size_t scram_len(enum scram_hash h)
{
    return h == SCRAM_SHA1 ? 20 : 32;
}

static bool hmac(enum scram_hash h, const unsigned char *key, size_t klen, const void *data, size_t dlen,
                 unsigned char *out)
{
    unsigned int olen = 0;
    return HMAC(scram_md(h), key, (int)klen, data, dlen, out, &olen) != NULL && olen == scram_len(h);
}

static bool digest(enum scram_hash h, const unsigned char *in, size_t len, unsigned char *out)
{
    unsigned int olen = 0;
    return EVP_Digest(in, len, out, &olen, scram_md(h), NULL) == 1 && olen == scram_len(h);
}

bool scram_derive_keys(enum scram_hash h, const char *password, const unsigned char *salt, size_t salt_len,
                       unsigned iterations, struct scram_keys *out)
{
    size_t kl = scram_len(h);
    unsigned char salted[32], client_key[32];
    memset(out, 0, sizeof(*out));
    if (!password || strlen(password) > AUTH_MAX_PASSWORD || salt_len < 1 || salt_len > sizeof(out->salt) ||
        iterations < 1 || iterations > SCRAM_MAX_ITERATIONS)
        return false;
    bool ok = PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations, scram_md(h),
                                (int)kl, salted) == 1 &&
              hmac(h, salted, kl, "Client Key", 10, client_key) && digest(h, client_key, kl, out->stored_key) &&
              hmac(h, salted, kl, "Server Key", 10, out->server_key);
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
    if (!ok) {
        memset(out, 0, sizeof(*out));
        return false;
    }
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    out->key_len = kl;
    return true;
}

/* Fake keys for a user we cannot authenticate by SCRAM. Only salt and
 * iterations are ever shown to the client; the keys are random. */
static bool fake_keys(enum scram_hash h, const char *name, struct scram_keys *k)
{
    static unsigned char fallback[32];
    static bool have_fallback;
    unsigned char secret[32], mac[32];
    if (!userdb_install_secret(secret)) {
        if (!have_fallback) {
            if (RAND_bytes(fallback, sizeof(fallback)) != 1)
                return false;
            have_fallback = true;
        }
        memcpy(secret, fallback, sizeof(secret));
    }
    struct buf msg = BUF_INIT;
    buf_printf(&msg, "scram-fake-salt:%d:%s", (int)h, name);
    unsigned int olen = 0;
    bool ok = HMAC(EVP_sha256(), secret, sizeof(secret), (const unsigned char *)msg.data, msg.len, mac, &olen) != NULL;
    buf_free(&msg);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (!ok)
        return false;
    memset(k, 0, sizeof(*k));
    memcpy(k->salt, mac, 16);
    k->salt_len = 16;
    k->iterations = SCRAM_DEFAULT_ITERATIONS;
    k->key_len = scram_len(h);
    return RAND_bytes(k->stored_key, (int)k->key_len) == 1 && RAND_bytes(k->server_key, (int)k->key_len) == 1;
}

/* Parse a saslname (RFC 5802 5.1) from [p, end) up to ',' or end:
 * "=2C" -> ',', "=3D" -> '='; any other '=' is an error. */
static bool parse_saslname(const char *p, const char *end, struct buf *out)
{
    while (p < end && *p != ',') {
        if (*p == '=') {
            if (end - p < 3)
                return false;
            if (p[1] == '2' && p[2] == 'C')
                buf_putc(out, ',');
            else if (p[1] == '3' && p[2] == 'D')
                buf_putc(out, '=');
            else
                return false;
            p += 3;
        } else {
            buf_putc(out, *p++);
        }
    }
    if (!out->data)
        buf_append(out, "", 0);
    return true;
}

/* printable = %x21-2B / %x2D-7E (no ',') */
static bool valid_nonce(const char *p, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x21 || c > 0x7e || c == ',')
            return false;
    }
    return true;
}

/* attr-val extensions: ALPHA "=" value; values must not contain ','. */
static bool valid_extension(const char *p, size_t len)
{
    return len >= 2 && ((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')) && p[1] == '=';
}

static bool valid_cbname(const char *p, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static enum sasl_result client_first(struct sasl_session *s, const char *in, size_t len, struct buf *out)
{
    const char *p = in, *end = in + len;
    /* gs2-cbind-flag */
    if (p < end && (*p == 'n' || *p == 'y')) {
        s->cbflag = *p++;
    } else if (end - p >= 2 && p[0] == 'p' && p[1] == '=') {
        const char *n = p + 2, *e = memchr(n, ',', (size_t)(end - n));
        if (!e || !valid_cbname(n, (size_t)(e - n)))
            return SASL_BADPROT;
        /* RFC 5802 6 / RFC 9266: we offer only tls-exporter. A client asking
         * for another type, or for binding on a non-PLUS mechanism, fails. */
        if (!s->plus || (size_t)(e - n) != 12 || memcmp(n, "tls-exporter", 12) != 0)
            return SASL_FAIL;
        s->cbflag = 'p';
        p = e;
    } else {
        return SASL_BADPROT;
    }
    if (p >= end || *p++ != ',')
        return SASL_BADPROT;
    /* The -PLUS mechanisms require the client to bind. */
    if (s->plus && s->cbflag != 'p')
        return SASL_BADPROT;
    /* "y": the client supports binding but thinks we do not. If we
     * advertised -PLUS (we have binding data), a MITM removed it. */
    if (s->cbflag == 'y' && s->p.cb_len == 32)
        return SASL_FAIL;
    /* [ "a=" saslname ] */
    if (end - p >= 2 && p[0] == 'a' && p[1] == '=') {
        struct buf az = BUF_INIT;
        const char *e = memchr(p + 2, ',', (size_t)(end - p - 2));
        if (!e || !parse_saslname(p + 2, e, &az) || az.len == 0 || az.len > AUTH_MAX_USERNAME) {
            buf_free(&az);
            return SASL_BADPROT;
        }
        s->authzid = buf_release(&az);
        p = e;
    }
    if (p >= end || *p++ != ',')
        return SASL_BADPROT;
    buf_append(&s->gs2_header, in, (size_t)(p - in));
    /* client-first-bare */
    const char *bare = p;
    if (end - p >= 2 && p[0] == 'm' && p[1] == '=')
        return SASL_BADPROT; /* mandatory extension we do not support */
    if (end - p < 2 || p[0] != 'n' || p[1] != '=')
        return SASL_BADPROT;
    const char *ne = memchr(p + 2, ',', (size_t)(end - p - 2));
    if (!ne)
        return SASL_BADPROT;
    struct buf name = BUF_INIT;
    if (!parse_saslname(p + 2, ne, &name) || name.len == 0 || name.len > AUTH_MAX_USERNAME) {
        buf_free(&name);
        return SASL_BADPROT;
    }
    sasl_set_attempted(s, name.data, name.len);
    bool valid = strlen(name.data) == name.len && userdb_normalize_name(name.data, s->authcid);
    buf_free(&name);
    p = ne + 1;
    if (end - p < 2 || p[0] != 'r' || p[1] != '=')
        return SASL_BADPROT;
    const char *nonce = p + 2;
    const char *re = memchr(nonce, ',', (size_t)(end - nonce));
    if (!re)
        re = end;
    if (!valid_nonce(nonce, (size_t)(re - nonce)))
        return SASL_BADPROT;
    /* extensions */
    for (const char *q = re; q < end;) {
        q++; /* ',' */
        const char *qe = memchr(q, ',', (size_t)(end - q));
        if (!qe)
            qe = end;
        if (!valid_extension(q, (size_t)(qe - q)))
            return SASL_BADPROT;
        q = qe;
    }
    buf_append(&s->client_first_bare, bare, (size_t)(end - bare));

    if (valid)
        sasl_set_attempted(s, s->authcid, strlen(s->authcid));
    if (!valid || userdb_get_scram(s->authcid, s->hash, &s->keys) != AUTH_OK || s->keys.key_len != scram_len(s->hash)) {
        s->fake = true;
        if (!fake_keys(s->hash, valid ? s->authcid : "", &s->keys))
            return SASL_FAIL;
    }

    /* server nonce */
    struct buf nb = BUF_INIT;
    buf_append(&nb, nonce, (size_t)(re - nonce));
    if (test_server_nonce) {
        buf_puts(&nb, test_server_nonce);
    } else {
        unsigned char rnd[SCRAM_NONCE_BYTES];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            buf_free(&nb);
            return SASL_FAIL;
        }
        base64_encode(rnd, sizeof(rnd), &nb);
    }
    s->nonce = buf_release(&nb);
    buf_printf(&s->server_first, "r=%s,s=", s->nonce);
    base64_encode(s->keys.salt, s->keys.salt_len, &s->server_first);
    buf_printf(&s->server_first, ",i=%u", s->keys.iterations);
    buf_append(out, s->server_first.data, s->server_first.len);
    return SASL_CONTINUE;
}

static enum sasl_result client_final(struct sasl_session *s, const char *in, size_t len, struct buf *out)
{
    const char *end = in + len;
    /* The proof is the last attribute: find the last ",p=". */
    const char *pp = NULL;
    for (const char *q = end; q - in >= 3; q--) {
        if (q[-3] == ',' && q[-2] == 'p' && q[-1] == '=') {
            pp = q - 3;
            break;
        }
    }
    if (!pp)
        return SASL_BADPROT;
    const char *proof_b64 = pp + 3;
    if (memchr(proof_b64, ',', (size_t)(end - proof_b64)))
        return SASL_BADPROT;
    /* c= */
    if (len < 2 || in[0] != 'c' || in[1] != '=')
        return SASL_BADPROT;
    const char *ce = memchr(in + 2, ',', (size_t)(pp - in - 2) + 1);
    if (!ce || ce > pp)
        return SASL_BADPROT;
    struct buf cb = BUF_INIT, want = BUF_INIT, proof = BUF_INIT, am = BUF_INIT;
    enum sasl_result r = SASL_BADPROT;
    if (!base64_decode_strict(in + 2, (size_t)(ce - in - 2), &cb))
        goto out;
    /* r= */
    const char *rp = ce + 1;
    if (rp >= pp || pp - rp < 2 || rp[0] != 'r' || rp[1] != '=')
        goto out;
    const char *re = memchr(rp, ',', (size_t)(pp - rp) + 1);
    if (!re)
        goto out;
    for (const char *q = re; q < pp;) {
        q++;
        const char *qe = memchr(q, ',', (size_t)(pp - q) + 1);
        if (!qe || !valid_extension(q, (size_t)(qe - q)))
            goto out;
        q = qe;
    }
    if (!base64_decode_strict(proof_b64, (size_t)(end - proof_b64), &proof))
        goto out;
    r = SASL_FAIL;
    size_t nlen = strlen(s->nonce);
    if ((size_t)(re - rp - 2) != nlen || memcmp(rp + 2, s->nonce, nlen) != 0)
        goto out;
    /* Channel binding: c= must be exactly the gs2 header, followed by the
     * tls-exporter data when the client bound (RFC 5802 7, RFC 9266). */
    buf_append(&want, s->gs2_header.data, s->gs2_header.len);
    if (s->cbflag == 'p')
        buf_append(&want, s->p.cb_data, s->p.cb_len);
    if (cb.len != want.len || CRYPTO_memcmp(cb.data, want.data, want.len) != 0)
        goto out;
    if (proof.len != s->keys.key_len)
        goto out;
    /* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
    buf_append(&am, s->client_first_bare.data, s->client_first_bare.len);
    buf_putc(&am, ',');
    buf_append(&am, s->server_first.data, s->server_first.len);
    buf_putc(&am, ',');
    buf_append(&am, in, (size_t)(pp - in));
    unsigned char sig[32], ckey[32], stored[32];
    size_t kl = s->keys.key_len;
    if (!hmac(s->hash, s->keys.stored_key, kl, am.data, am.len, sig))
        goto out;
    for (size_t i = 0; i < kl; i++)
        ckey[i] = (unsigned char)proof.data[i] ^ sig[i];
    if (!digest(s->hash, ckey, kl, stored))
        goto out;
    bool match = CRYPTO_memcmp(stored, s->keys.stored_key, kl) == 0;
    OPENSSL_cleanse(ckey, sizeof(ckey));
    if (!match || s->fake)
        goto out;
    if (!sasl_authorize(s, s->authcid, s->authzid ? s->authzid : ""))
        goto out;
    unsigned char ssig[32];
    if (!hmac(s->hash, s->keys.server_key, kl, am.data, am.len, ssig))
        goto out;
    buf_puts(out, "v=");
    base64_encode(ssig, kl, out);
    r = SASL_DONE;
out:
    buf_free(&cb);
    buf_free(&want);
    buf_free(&proof);
    buf_free(&am);
    return r;
}

enum sasl_result scram_step(struct sasl_session *s, const char *in, size_t len, struct buf *out)
{
    switch (s->state) {
    case 0:
        /* No initial response: send an empty challenge (RFC 4422 5). */
        if (len == 0) {
            s->state = 1;
            return SASL_CONTINUE;
        }
        /* fall through */
    case 1:
        s->state = 2;
        return client_first(s, in, len, out);
    case 2:
        s->state = 3;
        return client_final(s, in, len, out);
    default:
        return SASL_BADPROT;
    }
}

void scram_session_free(struct sasl_session *s)
{
    free(s->authzid);
    free(s->nonce);
    buf_free(&s->gs2_header);
    buf_free(&s->client_first_bare);
    buf_free(&s->server_first);
    OPENSSL_cleanse(&s->keys, sizeof(s->keys));
}
