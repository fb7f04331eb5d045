/* tls.c - OpenSSL server contexts and self-signed certificate generation.
 *
 * A tls_ctx is reference counted: a SIGHUP reload builds a new one and
 * hands it to the protocol layer, while connections that already hold the
 * old context keep it until they close.
 */
#include "tls-int.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

void tls_log_errors(bool client_caused, const char *what)
{
    unsigned long e;
    char msg[256];
    bool any = false;
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, msg, sizeof(msg));
        if (client_caused)
            log_debug("%s: %s", what, msg);
        else
            log_err("%s: %s", what, msg);
        any = true;
    }
    if (!any && !client_caused)
        log_err("%s: unknown TLS error", what);
}

static void errq(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char msg[256] = "";
    if (e)
        ERR_error_string_n(e, msg, sizeof(msg));
    ERR_clear_error();
    snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "", *msg ? msg : "failed");
}

/* Session ticket keys shared by every context of this process tree: the
 * master generates them before forking, so a ticket issued by one worker
 * resumes on any other (connections are spread over workers by the
 * kernel). They live as long as the master; a restart rotates them. */
static unsigned char ticket_keys[80];
static bool have_ticket_keys;

bool tls_ticket_keys_init(void)
{
    if (RAND_bytes(ticket_keys, sizeof(ticket_keys)) != 1)
        return false;
    have_ticket_keys = true;
    return true;
}

struct tls_ctx *tls_ctx_new(const char *cert_file, const char *key_file, const char *ciphers,
                            const char *ciphersuites, long session_timeout_s, char *err, size_t errlen)
{
    /* OpenSSL writes to the socket with write(2): a peer that vanished
     * would kill the process with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        errq(err, errlen, "SSL_CTX_new", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* IGNORE_UNEXPECTED_EOF: a client vanishing without close_notify is a
     * plain EOF for us (IMAP is self-delimiting, truncation is harmless),
     * not an error to log. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Partial writes: conn.c sends whatever fits and keeps the rest
     * queued. Moving buffer: a retried write may come from a fresh
     * pread of the same file bytes. Release buffers: idle connections
     * should not pin ~34 KiB of OpenSSL read/write buffers each. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_ecdh_auto(ctx, 1);
    /* Built-in RFC 7919 groups, so the DHE suites of the default
     * tls_ciphers are usable without a DH parameter file. */
    SSL_CTX_set_dh_auto(ctx, 1);
    if (ciphers && *ciphers && !SSL_CTX_set_cipher_list(ctx, ciphers)) {
        errq(err, errlen, "tls_ciphers", ciphers);
        goto fail;
    }
    if (ciphersuites && *ciphersuites && !SSL_CTX_set_ciphersuites(ctx, ciphersuites)) {
        errq(err, errlen, "tls_ciphersuites", ciphersuites);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        errq(err, errlen, "cannot load certificate", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        errq(err, errlen, "cannot load private key", key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        errq(err, errlen, "private key does not match certificate", key_file);
        goto fail;
    }
    /* Resumption: TLS 1.2 session ids (cache per process, so they resume
     * only on the worker that issued them) and tickets (shared keys, see
     * tls_ticket_keys_init, so they resume on any worker). */
    static const unsigned char sid_ctx[] = "darius";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20000);
    if (session_timeout_s > 0) {
        SSL_CTX_set_timeout(ctx, session_timeout_s);
        if (have_ticket_keys)
            SSL_CTX_set_tlsext_ticket_keys(ctx, ticket_keys, sizeof(ticket_keys));
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }

    struct tls_ctx *t = xcalloc(1, sizeof(*t));
    t->ctx = ctx;
    t->refs = 1;
    return t;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    (void)ssl;
    struct tls_ctx *t = arg;
    if (!t->alpn_len)
        return SSL_TLSEXT_ERR_NOACK;
    /* in: a list of length-prefixed protocol ids. */
    for (unsigned int i = 0; i < inlen;) {
        unsigned int l = in[i];
        if (i + 1 + l > inlen)
            break;
        if (l == t->alpn_len && memcmp(in + i + 1, t->alpn, l) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)l;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + l;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
}

void tls_ctx_set_alpn(struct tls_ctx *t, const char *proto)
{
    size_t l = proto ? strlen(proto) : 0;
    if (l >= sizeof(t->alpn))
        l = 0;
    memcpy(t->alpn, proto ? proto : "", l);
    t->alpn_len = l;
    SSL_CTX_set_alpn_select_cb(t->ctx, l ? alpn_select : NULL, l ? t : NULL);
}

void tls_ctx_ref(struct tls_ctx *t)
{
    if (t)
        t->refs++;
}

void tls_ctx_unref(struct tls_ctx *t)
{
    if (!t || --t->refs > 0)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ---- self-signed certificate ----------------------------------------- */

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Write PEM via a callback to path atomically (tmp + fsync + rename). */
static bool write_atomic(const char *path, mode_t mode, bool (*writer)(FILE *f, void *arg), void *arg, char *err,
                         size_t errlen)
{
    char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return false;
    }
    fchmod(fd, mode); /* umask must not widen or narrow what we intend */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return false;
    }
    bool ok = writer(f, arg);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ok = false;
    if (fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

static bool write_key(FILE *f, void *arg)
{
    return PEM_write_PrivateKey(f, arg, NULL, NULL, 0, NULL, NULL) == 1;
}

static bool write_cert(FILE *f, void *arg)
{
    return PEM_write_X509(f, arg) == 1;
}

static bool add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return false;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1;
}

bool tls_generate_selfsigned(const char *cert_file, const char *key_file, const char *cn, char *err,
                             size_t errlen)
{
    if (file_exists(cert_file) && file_exists(key_file))
        return true;
    ERR_clear_error();
    bool ok = false;
    X509 *x = NULL;
    /* P-256: small, fast, and accepted by every client we care about. */
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    if (!pkey) {
        errq(err, errlen, "key generation", NULL);
        return false;
    }
    x = X509_new();
    if (!x)
        goto done;
    X509_set_version(x, 2); /* v3 */
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        goto done;
    serial[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
        BN_free(bn);
        goto done;
    }
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 366 * 24 * 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    char cnbuf[64];
    snprintf(cnbuf, sizeof(cnbuf), "%s", cn && *cn ? cn : "localhost"); /* CN is at most 64 chars */
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Darius", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cnbuf, -1, -1, 0);
    X509_set_issuer_name(x, name);
    char san[400];
    snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1", cnbuf);
    if (!add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        !add_ext(x, NID_ext_key_usage, "serverAuth") || !add_ext(x, NID_subject_alt_name, san) ||
        !add_ext(x, NID_subject_key_identifier, "hash"))
        goto done;
    if (!X509_sign(x, pkey, EVP_sha256()))
        goto done;
    if (!write_atomic(key_file, 0600, write_key, pkey, err, errlen))
        goto out;
    if (!write_atomic(cert_file, 0644, write_cert, x, err, errlen))
        goto out;
    ok = true;
    goto out;
done:
    errq(err, errlen, "certificate generation", NULL);
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return ok;
}
