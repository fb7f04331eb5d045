/* storage-sieve.c - Sieve scripts in users' stores: the backend-neutral
 * half (storage.h, "Sieve scripts"): name validation (RFC 5804 1.6),
 * argument and limit checks, dispatch through the backend's ops.
 *
 * The configured limits are read here, once per call, and handed to the
 * backend, which applies the ones that need the database (how many
 * scripts exist, quota) inside the transaction that changes them.
 */
#include "storage-private.h"
#include "config.h"

/* Decode one UTF-8 sequence at s[0..n): its code point and length, or
 * length 0 when it is not well-formed (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    size_t k;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        k = 1;
        v = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        k = 2;
        v = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        k = 3;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (k >= n)
        return 0;
    for (size_t j = 1; j <= k; j++) {
        if ((s[j] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[j] & 0x3F);
    }
    if ((k == 1 && v < 0x80) || (k == 2 && v < 0x800) || (k == 3 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return k + 1;
}

bool sieve_store_name_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = strnlen(name, SIEVE_STORE_NAME_MAX + 1);
    /* RFC 5804 1.6: at least one octet ("" means "no script" to
     * SETACTIVE); over our limit: refused, never truncated. */
    if (n == 0 || n > SIEVE_STORE_NAME_MAX)
        return false;
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_decode(s + i, n - i, &cp);
        if (l == 0)
            return false;
        /* the characters RFC 5804 1.6 prohibits besides Net-Unicode's */
        if (cp <= 0x1F || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029)
            return false;
        i += l;
    }
    return true;
}

void sieve_store_free(struct sieve_store_script *s)
{
    if (!s)
        return;
    free(s->source);
    free(s->compiled);
    s->source = NULL;
    s->compiled = NULL;
    s->source_len = s->compiled_len = 0;
}

static void limits(struct sieve_store_limits *lim)
{
    lim->max_size = (uint64_t)config_int(CFG_SIEVE_MAXSCRIPTSIZE) * 1024;
    lim->max_scripts = (int64_t)config_int(CFG_SIEVE_MAXSCRIPTS);
}

int sieve_store_list(struct mail_user *u, int (*cb)(const struct sieve_store_info *info, void *arg), void *arg)
{
    if (!u || !cb)
        return STORAGE_ERR_INVALID;
    return u->ops->sieve_list(u, cb, arg);
}

int sieve_store_get(struct mail_user *u, const char *name, bool want_compiled, struct sieve_store_script *out)
{
    if (!u || !out)
        return STORAGE_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    if (name && !sieve_store_name_valid(name))
        return STORAGE_ERR_INVALID;
    return u->ops->sieve_get(u, name, want_compiled, out);
}

int sieve_store_stat(struct mail_user *u, const char *name, struct sieve_store_info *out)
{
    if (!u || !out)
        return STORAGE_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    if (name && !sieve_store_name_valid(name))
        return STORAGE_ERR_INVALID;
    return u->ops->sieve_stat(u, name, out);
}

int sieve_store_put(struct mail_user *u, const char *name, const struct sieve_store_put *p)
{
    if (!u || !p || (!p->source && p->source_len))
        return STORAGE_ERR_INVALID;
    if (!sieve_store_name_valid(name))
        return STORAGE_ERR_INVALID;
    if (p->compiled ? (p->compiled_version == 0 || p->compiled_len > SIEVE_STORE_COMPILED_MAX)
                    : (p->compiled_len != 0))
        return STORAGE_ERR_INVALID;
    struct sieve_store_limits lim;
    limits(&lim);
    if (p->source_len > lim.max_size)
        return STORAGE_ERR_MAXSIZE;
    return u->ops->sieve_put(u, name, p, &lim);
}

int sieve_store_havespace(struct mail_user *u, const char *name, uint64_t size)
{
    if (!u || !sieve_store_name_valid(name))
        return STORAGE_ERR_INVALID;
    struct sieve_store_limits lim;
    limits(&lim);
    if (size > lim.max_size)
        return STORAGE_ERR_MAXSIZE;
    return u->ops->sieve_havespace(u, name, size, &lim);
}

int sieve_store_set_compiled(struct mail_user *u, const char *name, int64_t generation, const void *compiled,
                              size_t compiled_len, uint32_t compiled_version)
{
    if (!u || !compiled || compiled_version == 0 || compiled_len > SIEVE_STORE_COMPILED_MAX)
        return STORAGE_ERR_INVALID;
    if (!sieve_store_name_valid(name))
        return STORAGE_ERR_INVALID;
    return u->ops->sieve_set_compiled(u, name, generation, compiled, compiled_len, compiled_version);
}

int sieve_store_activate(struct mail_user *u, const char *name)
{
    if (!u)
        return STORAGE_ERR_INVALID;
    if (name && !*name)
        name = NULL;
    if (name && !sieve_store_name_valid(name))
        return STORAGE_ERR_INVALID;
    return u->ops->sieve_activate(u, name);
}

int sieve_store_delete(struct mail_user *u, const char *name)
{
    if (!u)
        return STORAGE_ERR_INVALID;
    if (!sieve_store_name_valid(name))
        return STORAGE_ERR_INVALID;
    return u->ops->sieve_delete(u, name);
}

int sieve_store_rename(struct mail_user *u, const char *oldname, const char *newname)
{
    if (!u)
        return STORAGE_ERR_INVALID;
    if (!sieve_store_name_valid(oldname) || !sieve_store_name_valid(newname))
        return STORAGE_ERR_INVALID;
    return u->ops->sieve_rename(u, oldname, newname);
}
