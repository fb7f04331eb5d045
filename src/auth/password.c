/* password.c - crypt(3)-style password hashes.
 *
 * New hashes are yescrypt ("$y$", libcrypt's default cost). For imported
 * hashes we verify sha512-crypt ("$6$"), bcrypt ("$2b$", when this
 * libcrypt supports it) through crypt_r, and Argon2id ("$argon2id$")
 * through libargon2. Results are compared in constant time.
 */
#include "auth.h"
#include "log.h"
#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>

/* Hashes read from an admin-supplied import could name absurd costs;
 * cap Argon2 parameters so a bad import cannot exhaust memory/CPU. */
#define ARGON2_MAX_M_KIB (1u << 20) /* 1 GiB */
#define ARGON2_MAX_T 64u
#define ARGON2_MAX_P 64u
#define HASH_MAX_LEN PASSWORD_HASH_MAX_LEN

static bool is_crypt_prefix(const char *hash)
{
    return strncmp(hash, "$y$", 3) == 0 || strncmp(hash, "$6$", 3) == 0 || strncmp(hash, "$2b$", 4) == 0;
}

static bool is_argon2id(const char *hash)
{
    return strncmp(hash, "$argon2id$", 10) == 0;
}

/* "$argon2id$v=19$m=65536,t=3,p=4$salt$hash": check the cost fields. */
static bool argon2_params_ok(const char *hash)
{
    const char *p = strstr(hash, "$m=");
    unsigned m, t, par;
    int n = 0;
    if (!p || sscanf(p, "$m=%u,t=%u,p=%u$%n", &m, &t, &par, &n) != 3 || n == 0)
        return false;
    return m >= 8 && m <= ARGON2_MAX_M_KIB && t >= 1 && t <= ARGON2_MAX_T && par >= 1 && par <= ARGON2_MAX_P;
}

char *password_hash(const char *password)
{
    if (!password || strlen(password) > AUTH_MAX_PASSWORD)
        return NULL;
    char *salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
    if (!salt) {
        log_err("crypt_gensalt($y$) failed");
        return NULL;
    }
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    char *res = crypt_r(password, salt, cd);
    char *out = NULL;
    if (res && res[0] == '$')
        out = xstrdup(res);
    else
        log_err("crypt_r(yescrypt) failed");
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    free(salt);
    return out;
}

bool password_verify(const char *password, const char *hash)
{
    if (!password || !hash)
        return false;
    size_t plen = strlen(password), hlen = strlen(hash);
    if (plen > AUTH_MAX_PASSWORD || hlen == 0 || hlen > HASH_MAX_LEN)
        return false;
    if (is_argon2id(hash)) {
        if (!argon2_params_ok(hash))
            return false;
        /* argon2id_verify compares with its own constant-time routine. */
        return argon2id_verify(hash, password, plen) == ARGON2_OK;
    }
    if (!is_crypt_prefix(hash))
        return false;
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *res = crypt_r(password, hash, cd);
    bool ok = false;
    /* crypt_r returns a string starting with '*' on failure. */
    if (res && res[0] == '$' && strlen(res) == hlen)
        ok = CRYPTO_memcmp(res, hash, hlen) == 0;
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}

bool password_hash_supported(const char *hash)
{
    if (!hash)
        return false;
    size_t hlen = strlen(hash);
    if (hlen == 0 || hlen > HASH_MAX_LEN)
        return false;
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)hash[i] <= ' ' || (unsigned char)hash[i] >= 0x7f)
            return false;
    if (is_argon2id(hash)) {
        if (!argon2_params_ok(hash))
            return false;
        /* A well-formed hash fails with a mismatch, a malformed one with a
         * decoding error. */
        return argon2id_verify(hash, "", 0) == ARGON2_VERIFY_MISMATCH;
    }
    if (!is_crypt_prefix(hash))
        return false;
    /* Let libcrypt parse it: re-hashing with the hash as setting must give
     * a result of the same shape (same length, same setting prefix). */
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *res = crypt_r("", hash, cd);
    bool ok = res && res[0] == '$' && strlen(res) == hlen;
    free(cd);
    return ok;
}
