/* auth-cache.c - the credential cache (see auth-cache.h).
 *
 * Two chained hash tables over the same entries: by MAC (lookups) and by
 * user tag (per-user flush). Both index with the first bytes of an HMAC
 * output, which are uniformly distributed whatever the names are, so no
 * client can aim many entries at one chain. The tables double when the
 * entries outnumber the buckets. A doubly linked list in order of use
 * gives the entry to evict when the cache is full.
 */
#include "auth-cache.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIN_BUCKETS 64u
#define MAX_BUCKETS (1u << 24)

struct entry {
    struct entry *mnext;        /* chain of its MAC bucket */
    struct entry *unext;        /* chain of its user-tag bucket */
    struct entry *prev, *next;  /* use order: head most recent */
    uint64_t created_ms;        /* when the verification was done */
    unsigned char mac[AUTH_CACHE_MAC_LEN];
    unsigned char utag[AUTH_CACHE_UTAG_LEN];
    bool positive;
};

struct auth_cache {
    unsigned char *key;         /* in its own page: no core dump, no swap */
    size_t key_map_len;
    struct entry **by_mac, **by_user;
    size_t nbuckets;            /* power of two */
    struct entry *head, *tail;
    size_t count;
    uint64_t ttl_ms, neg_ttl_ms;
    size_t max;
};

static uint64_t bucket_bits(const unsigned char *b)
{
    uint64_t v;
    memcpy(&v, b, sizeof(v));
    return v;
}

static size_t mac_slot(const struct auth_cache *c, const unsigned char *mac)
{
    return (size_t)(bucket_bits(mac) & (c->nbuckets - 1));
}

static size_t user_slot(const struct auth_cache *c, const unsigned char *utag)
{
    return (size_t)(bucket_bits(utag) & (c->nbuckets - 1));
}

struct auth_cache *auth_cache_new(const unsigned char *key)
{
    struct auth_cache *c = xcalloc(1, sizeof(*c));
    long page = sysconf(_SC_PAGESIZE);
    c->key_map_len = page > 0 ? (size_t)page : 4096;
    void *m = mmap(NULL, c->key_map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        c->key_map_len = 0;
        c->key = xmalloc(AUTH_CACHE_KEY_LEN);
    } else {
        c->key = m;
        /* Best effort: a core file must not carry the key (without it the
         * MACs are useless), nor may the key reach the swap device. */
        (void)madvise(m, c->key_map_len, MADV_DONTDUMP);
        (void)mlock(m, c->key_map_len);
    }
    if (key)
        memcpy(c->key, key, AUTH_CACHE_KEY_LEN);
    else if (RAND_bytes(c->key, AUTH_CACHE_KEY_LEN) != 1)
        abort(); /* no randomness: nothing about the cache could be trusted */
    c->nbuckets = MIN_BUCKETS;
    c->by_mac = xcalloc(c->nbuckets, sizeof(*c->by_mac));
    c->by_user = xcalloc(c->nbuckets, sizeof(*c->by_user));
    return c;
}

void auth_cache_free(struct auth_cache *c)
{
    if (!c)
        return;
    auth_cache_clear(c);
    free(c->by_mac);
    free(c->by_user);
    OPENSSL_cleanse(c->key, AUTH_CACHE_KEY_LEN);
    if (c->key_map_len) {
        munlock(c->key, c->key_map_len);
        munmap(c->key, c->key_map_len);
    } else {
        free(c->key);
    }
    free(c);
}

/* ---- keys ----------------------------------------------------------------- */

static void put_field(unsigned char *buf, size_t *off, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    buf[(*off)++] = (unsigned char)(n >> 24);
    buf[(*off)++] = (unsigned char)(n >> 16);
    buf[(*off)++] = (unsigned char)(n >> 8);
    buf[(*off)++] = (unsigned char)n;
    if (n)
        memcpy(buf + *off, s, n);
    *off += n;
}

static void hmac(const struct auth_cache *c, const unsigned char *in, size_t len, unsigned char out[32])
{
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), c->key, AUTH_CACHE_KEY_LEN, in, len, out, &olen) || olen != 32)
        abort(); /* OpenSSL cannot compute an HMAC: nothing sane to do */
}

void auth_cache_key(const struct auth_cache *c, const char *user, const char *password, const char *fingerprint,
                    struct auth_cache_key *out)
{
    /* Length-prefixed fields (no two different triples give the same
     * input), with a domain byte so that a user tag can never equal an
     * entry MAC. The buffer holds the password for a moment: wiped. */
    size_t need = 1 + 3 * 4 + (user ? strlen(user) : 0) + (password ? strlen(password) : 0) +
                  (fingerprint ? strlen(fingerprint) : 0);
    unsigned char stackbuf[2048];
    unsigned char *buf = need <= sizeof(stackbuf) ? stackbuf : xmalloc(need);
    size_t off = 0;
    buf[off++] = 'P';
    put_field(buf, &off, user);
    put_field(buf, &off, password);
    put_field(buf, &off, fingerprint);
    hmac(c, buf, off, out->mac);
    OPENSSL_cleanse(buf, off);
    off = 0;
    buf[off++] = 'U';
    put_field(buf, &off, user);
    unsigned char t[32];
    hmac(c, buf, off, t);
    memcpy(out->utag, t, sizeof(out->utag));
    OPENSSL_cleanse(buf, off);
    if (buf != stackbuf)
        free(buf);
}

/* ---- table ------------------------------------------------------------------ */

static void unlink_use(struct auth_cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_use(struct auth_cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void remove_entry(struct auth_cache *c, struct entry *e)
{
    struct entry **pp = &c->by_mac[mac_slot(c, e->mac)];
    while (*pp && *pp != e)
        pp = &(*pp)->mnext;
    if (*pp)
        *pp = e->mnext;
    pp = &c->by_user[user_slot(c, e->utag)];
    while (*pp && *pp != e)
        pp = &(*pp)->unext;
    if (*pp)
        *pp = e->unext;
    unlink_use(c, e);
    c->count--;
    OPENSSL_cleanse(e, sizeof(*e));
    free(e);
}

static void grow(struct auth_cache *c)
{
    if (c->count < c->nbuckets || c->nbuckets >= MAX_BUCKETS)
        return;
    size_t n = c->nbuckets * 2;
    struct entry **bm = xcalloc(n, sizeof(*bm)), **bu = xcalloc(n, sizeof(*bu));
    free(c->by_mac);
    free(c->by_user);
    c->by_mac = bm;
    c->by_user = bu;
    c->nbuckets = n;
    for (struct entry *e = c->head; e; e = e->next) {
        size_t m = mac_slot(c, e->mac), u = user_slot(c, e->utag);
        e->mnext = bm[m];
        bm[m] = e;
        e->unext = bu[u];
        bu[u] = e;
    }
}

static struct entry *find(const struct auth_cache *c, const unsigned char *mac)
{
    for (struct entry *e = c->by_mac[mac_slot(c, mac)]; e; e = e->mnext)
        if (CRYPTO_memcmp(e->mac, mac, AUTH_CACHE_MAC_LEN) == 0)
            return e;
    return NULL;
}

static bool expired(const struct auth_cache *c, const struct entry *e, uint64_t now_ms)
{
    uint64_t ttl = e->positive ? c->ttl_ms : c->neg_ttl_ms;
    return ttl == 0 || now_ms < e->created_ms || now_ms - e->created_ms >= ttl;
}

static void trim(struct auth_cache *c, size_t max)
{
    while (c->count > max && c->tail)
        remove_entry(c, c->tail);
}

void auth_cache_configure(struct auth_cache *c, uint64_t ttl_ms, uint64_t negative_ttl_ms, size_t max_entries)
{
    c->ttl_ms = ttl_ms;
    c->neg_ttl_ms = negative_ttl_ms;
    c->max = max_entries;
    trim(c, max_entries);
}

enum auth_cache_hit auth_cache_lookup(struct auth_cache *c, const struct auth_cache_key *k, uint64_t now_ms)
{
    struct entry *e = find(c, k->mac);
    if (!e)
        return AUTH_CACHE_MISS;
    if (expired(c, e, now_ms)) {
        remove_entry(c, e);
        return AUTH_CACHE_MISS;
    }
    unlink_use(c, e);
    push_use(c, e);
    return e->positive ? AUTH_CACHE_POSITIVE : AUTH_CACHE_NEGATIVE;
}

void auth_cache_insert(struct auth_cache *c, const struct auth_cache_key *k, bool positive, uint64_t now_ms)
{
    if (c->max == 0 || (positive ? c->ttl_ms : c->neg_ttl_ms) == 0)
        return;
    struct entry *e = find(c, k->mac);
    if (e) {
        e->positive = positive;
        e->created_ms = now_ms;
        unlink_use(c, e);
        push_use(c, e);
        return;
    }
    trim(c, c->max - 1);
    e = xcalloc(1, sizeof(*e));
    memcpy(e->mac, k->mac, sizeof(e->mac));
    memcpy(e->utag, k->utag, sizeof(e->utag));
    e->positive = positive;
    e->created_ms = now_ms;
    size_t m = mac_slot(c, e->mac), u = user_slot(c, e->utag);
    e->mnext = c->by_mac[m];
    c->by_mac[m] = e;
    e->unext = c->by_user[u];
    c->by_user[u] = e;
    push_use(c, e);
    c->count++;
    grow(c);
}

size_t auth_cache_flush_user(struct auth_cache *c, const char *user)
{
    struct auth_cache_key k;
    auth_cache_key(c, user, "", "", &k);
    size_t n = 0;
    struct entry *e = c->by_user[user_slot(c, k.utag)];
    while (e) {
        struct entry *nx = e->unext;
        if (CRYPTO_memcmp(e->utag, k.utag, sizeof(k.utag)) == 0) {
            remove_entry(c, e);
            n++;
        }
        e = nx;
    }
    return n;
}

void auth_cache_clear(struct auth_cache *c)
{
    while (c->head)
        remove_entry(c, c->head);
}

size_t auth_cache_count(const struct auth_cache *c)
{
    return c->count;
}

void auth_cache_dump_entries(const struct auth_cache *c, struct buf *out)
{
    for (const struct entry *e = c->head; e; e = e->next)
        buf_append(out, (const char *)e, sizeof(*e));
}
