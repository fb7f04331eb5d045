/* test-auth-cache.c - the credential cache (src/auth/auth-cache.c) and
 * the authentication service's queue, concurrency bound and use of the
 * cache (src/auth/auth-service.c) on a real job pool, with a fake passdb.
 *
 * The cache tests pass their own clock. The service tests run the event
 * loop on this thread and wait for conditions by polling them from a
 * loop timer, with unit_deadline turning a hang into a failure; the fake
 * passdb's verify can be held at a gate, as a slow hash would be. Also
 * built and run under ThreadSanitizer (make test-tsan).
 */
#include "unit.h"
#include "auth-cache.h"
#include "auth-service.h"
#include "config.h"
#include "event.h"
#include "jobs.h"
#include "log.h"
#include <openssl/sha.h>
#include <pthread.h>

static const unsigned char KEY1[AUTH_CACHE_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char KEY2[AUTH_CACHE_KEY_LEN] = "fedcba9876543210fedcba9876543210";

static enum auth_cache_hit look(struct auth_cache *c, const char *u, const char *p, const char *fp, uint64_t now)
{
    struct auth_cache_key k;
    auth_cache_key(c, u, p, fp, &k);
    return auth_cache_lookup(c, &k, now);
}

static void put(struct auth_cache *c, const char *u, const char *p, const char *fp, bool positive, uint64_t now)
{
    struct auth_cache_key k;
    auth_cache_key(c, u, p, fp, &k);
    auth_cache_insert(c, &k, positive, now);
}

/* ---- the cache ------------------------------------------------------------ */

static void test_hit_and_miss(void)
{
    struct auth_cache *c = auth_cache_new(KEY1);
    auth_cache_configure(c, 1000, 500, 10);
    CHECK_INT(look(c, "alice", "pw1", "$y$hash1", 0), AUTH_CACHE_MISS);
    put(c, "alice", "pw1", "$y$hash1", true, 0);
    CHECK_INT(look(c, "alice", "pw1", "$y$hash1", 10), AUTH_CACHE_POSITIVE);
    /* another password, another user, another stored hash: all misses */
    CHECK_INT(look(c, "alice", "pw2", "$y$hash1", 10), AUTH_CACHE_MISS);
    CHECK_INT(look(c, "bob", "pw1", "$y$hash1", 10), AUTH_CACHE_MISS);
    CHECK_INT(look(c, "alice", "pw1", "$y$hash2", 10), AUTH_CACHE_MISS);
    /* no field boundary ambiguity: ("alic", "epw1") is not ("alice", "pw1") */
    CHECK_INT(look(c, "alic", "epw1", "$y$hash1", 10), AUTH_CACHE_MISS);
    CHECK_INT(auth_cache_count(c), 1);
    /* the same inputs under another key are another MAC */
    struct auth_cache *c2 = auth_cache_new(KEY2);
    struct auth_cache_key k1, k2;
    auth_cache_key(c, "alice", "pw1", "$y$hash1", &k1);
    auth_cache_key(c2, "alice", "pw1", "$y$hash1", &k2);
    CHECK(memcmp(k1.mac, k2.mac, sizeof(k1.mac)) != 0);
    CHECK(memcmp(k1.utag, k2.utag, sizeof(k1.utag)) != 0);
    auth_cache_free(c2);
    /* a fresh random key: two caches never agree */
    struct auth_cache *r1 = auth_cache_new(NULL), *r2 = auth_cache_new(NULL);
    auth_cache_key(r1, "alice", "pw1", "", &k1);
    auth_cache_key(r2, "alice", "pw1", "", &k2);
    CHECK(memcmp(k1.mac, k2.mac, sizeof(k1.mac)) != 0);
    auth_cache_free(r1);
    auth_cache_free(r2);
    auth_cache_free(c);
}

static void test_expiry(void)
{
    struct auth_cache *c = auth_cache_new(KEY1);
    auth_cache_configure(c, 1000, 500, 10);
    put(c, "alice", "right", "h", true, 100);
    put(c, "alice", "wrong", "h", false, 100);
    CHECK_INT(look(c, "alice", "right", "h", 1099), AUTH_CACHE_POSITIVE);
    CHECK_INT(look(c, "alice", "wrong", "h", 599), AUTH_CACHE_NEGATIVE);
    CHECK_INT(look(c, "alice", "wrong", "h", 600), AUTH_CACHE_MISS); /* negative TTL over */
    CHECK_INT(look(c, "alice", "right", "h", 1100), AUTH_CACHE_MISS); /* TTL over */
    CHECK_INT(auth_cache_count(c), 0);                                /* expired entries dropped */
    /* A hit does not extend the life of an entry: the TTL counts from the
     * verification. */
    put(c, "bob", "pw", "h", true, 0);
    CHECK_INT(look(c, "bob", "pw", "h", 900), AUTH_CACHE_POSITIVE);
    CHECK_INT(look(c, "bob", "pw", "h", 1000), AUTH_CACHE_MISS);
    /* New TTLs (a reload) apply to what is cached already. */
    put(c, "carol", "pw", "h", true, 0);
    auth_cache_configure(c, 200, 500, 10);
    CHECK_INT(look(c, "carol", "pw", "h", 199), AUTH_CACHE_POSITIVE);
    CHECK_INT(look(c, "carol", "pw", "h", 200), AUTH_CACHE_MISS);
    /* TTL 0: that kind is not cached at all */
    auth_cache_configure(c, 0, 500, 10);
    put(c, "dave", "pw", "h", true, 0);
    CHECK_INT(auth_cache_count(c), 0);
    put(c, "dave", "bad", "h", false, 0);
    CHECK_INT(look(c, "dave", "bad", "h", 1), AUTH_CACHE_NEGATIVE);
    auth_cache_configure(c, 1000, 0, 10);
    CHECK_INT(look(c, "dave", "bad", "h", 2), AUTH_CACHE_MISS);
    /* a clock that went backwards never makes an entry younger */
    put(c, "erin", "pw", "h", true, 5000);
    CHECK_INT(look(c, "erin", "pw", "h", 4000), AUTH_CACHE_MISS);
    auth_cache_free(c);
}

static void test_negative(void)
{
    struct auth_cache *c = auth_cache_new(KEY1);
    auth_cache_configure(c, 1000, 1000, 10);
    put(c, "alice", "guess", "h", false, 0);
    put(c, "nobody", "guess", "", false, 0);
    CHECK_INT(look(c, "alice", "guess", "h", 1), AUTH_CACHE_NEGATIVE);
    CHECK_INT(look(c, "nobody", "guess", "", 1), AUTH_CACHE_NEGATIVE);
    /* a negative entry says nothing about another password */
    CHECK_INT(look(c, "alice", "right", "h", 1), AUTH_CACHE_MISS);
    /* the password set later (another stored hash) is not answered by the
     * old negative entry, nor is a user created later */
    CHECK_INT(look(c, "alice", "guess", "h2", 1), AUTH_CACHE_MISS);
    CHECK_INT(look(c, "nobody", "guess", "$y$new", 1), AUTH_CACHE_MISS);
    /* a verification's new outcome replaces the entry */
    put(c, "alice", "guess", "h", true, 2);
    CHECK_INT(look(c, "alice", "guess", "h", 3), AUTH_CACHE_POSITIVE);
    CHECK_INT(auth_cache_count(c), 2);
    auth_cache_free(c);
}

static void test_flush_user(void)
{
    struct auth_cache *c = auth_cache_new(KEY1);
    auth_cache_configure(c, 1000, 1000, 100);
    put(c, "alice", "pw1", "h", true, 0);
    put(c, "alice", "pw2", "h", false, 0);
    put(c, "alice", "pw3", "h-old", true, 0);
    put(c, "bob", "pw1", "h", true, 0);
    put(c, "alicex", "pw1", "h", true, 0);
    for (int i = 0; i < 50; i++) { /* other users in the same buckets, maybe */
        char u[16];
        snprintf(u, sizeof(u), "u%d", i);
        put(c, u, "pw", "h", true, 0);
    }
    CHECK_INT(auth_cache_flush_user(c, "alice"), 3);
    CHECK_INT(look(c, "alice", "pw1", "h", 1), AUTH_CACHE_MISS);
    CHECK_INT(look(c, "alice", "pw2", "h", 1), AUTH_CACHE_MISS);
    CHECK_INT(look(c, "bob", "pw1", "h", 1), AUTH_CACHE_POSITIVE);
    CHECK_INT(look(c, "alicex", "pw1", "h", 1), AUTH_CACHE_POSITIVE);
    CHECK_INT(look(c, "u17", "pw", "h", 1), AUTH_CACHE_POSITIVE);
    CHECK_INT(auth_cache_flush_user(c, "alice"), 0);
    CHECK_INT(auth_cache_flush_user(c, "nosuchuser"), 0);
    CHECK_INT(auth_cache_count(c), 52);
    auth_cache_clear(c);
    CHECK_INT(auth_cache_count(c), 0);
    auth_cache_free(c);
}

static void test_size_bound(void)
{
    struct auth_cache *c = auth_cache_new(KEY1);
    auth_cache_configure(c, 100000, 100000, 3);
    put(c, "a", "pw", "h", true, 0);
    put(c, "b", "pw", "h", true, 1);
    put(c, "c", "pw", "h", true, 2);
    /* using "a" makes "b" the least recently used */
    CHECK_INT(look(c, "a", "pw", "h", 3), AUTH_CACHE_POSITIVE);
    put(c, "d", "pw", "h", false, 4);
    CHECK_INT(auth_cache_count(c), 3);
    CHECK_INT(look(c, "b", "pw", "h", 5), AUTH_CACHE_MISS);
    CHECK_INT(look(c, "a", "pw", "h", 5), AUTH_CACHE_POSITIVE);
    CHECK_INT(look(c, "c", "pw", "h", 5), AUTH_CACHE_POSITIVE);
    CHECK_INT(look(c, "d", "pw", "h", 5), AUTH_CACHE_NEGATIVE);
    /* a smaller limit (a reload) evicts at once, least recent first */
    auth_cache_configure(c, 100000, 100000, 1);
    CHECK_INT(auth_cache_count(c), 1);
    CHECK_INT(look(c, "d", "pw", "h", 6), AUTH_CACHE_NEGATIVE);
    /* limit 0: nothing cached */
    auth_cache_configure(c, 100000, 100000, 0);
    CHECK_INT(auth_cache_count(c), 0);
    put(c, "e", "pw", "h", true, 7);
    CHECK_INT(auth_cache_count(c), 0);
    /* many entries: the tables grow, the bound holds, lookups still work */
    auth_cache_configure(c, 100000, 100000, 1000);
    char u[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(u, sizeof(u), "user%d", i);
        put(c, u, "pw", "h", i % 2 == 0, 10);
    }
    CHECK_INT(auth_cache_count(c), 1000);
    int pos = 0, neg = 0, miss = 0;
    for (int i = 4000; i < 5000; i++) {
        snprintf(u, sizeof(u), "user%d", i);
        enum auth_cache_hit h = look(c, u, "pw", "h", 11);
        pos += h == AUTH_CACHE_POSITIVE;
        neg += h == AUTH_CACHE_NEGATIVE;
        miss += h == AUTH_CACHE_MISS;
    }
    CHECK_INT(pos, 500);
    CHECK_INT(neg, 500);
    CHECK_INT(miss, 0);
    snprintf(u, sizeof(u), "user%d", 3999);
    CHECK_INT(look(c, u, "pw", "h", 11), AUTH_CACHE_MISS);
    auth_cache_free(c);
}

static bool holds(const struct buf *b, const void *needle, size_t len)
{
    return len && b->len >= len && memmem(b->data, b->len, needle, len) != NULL;
}

/* Every byte the cache keeps for its entries: no password, no user name,
 * no user+password in any plain arrangement, and no unkeyed (fast to
 * attack without the key) hash of them. */
static void test_no_plaintext_in_entries(void)
{
    static const char *const users[] = {"alice", "bob@example.org", "carol.long-name_1"};
    static const char *const pws[] = {"Tr0ub4dor&3", "correct horse battery staple", "pässwörd"};
    struct auth_cache *c = auth_cache_new(NULL);
    auth_cache_configure(c, 100000, 100000, 100);
    for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
        put(c, users[i], pws[i], "$y$j9T$salt$hash", true, 0);
        put(c, users[i], "wrong-guess-123", "$y$j9T$salt$hash", false, 0);
    }
    struct buf dump = BUF_INIT;
    auth_cache_dump_entries(c, &dump);
    CHECK(dump.len > 0);
    int found = 0;
    for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
        const char *u = users[i], *p = pws[i];
        struct buf t = BUF_INIT;
        found += holds(&dump, p, strlen(p));
        found += holds(&dump, "wrong-guess-123", 15);
        found += holds(&dump, u, strlen(u));
        /* prefixes that are long enough to mean something */
        found += holds(&dump, p, 6);
        found += holds(&dump, u, strlen(u) >= 5 ? 5 : strlen(u));
        buf_printf(&t, "%s%s", u, p);
        found += holds(&dump, t.data, t.len);
        buf_reset(&t);
        buf_printf(&t, "%s:%s", u, p);
        found += holds(&dump, t.data, t.len);
        buf_reset(&t);
        buf_printf(&t, "%s%s", p, u);
        found += holds(&dump, t.data, t.len);
        buf_reset(&t);
        buf_append(&t, u, strlen(u) + 1);
        buf_append(&t, p, strlen(p));
        found += holds(&dump, t.data, t.len);
        /* unkeyed digests of the password and of user+password */
        unsigned char d[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)p, strlen(p), d);
        found += holds(&dump, d, 8);
        buf_reset(&t);
        buf_printf(&t, "%s%s", u, p);
        SHA256((const unsigned char *)t.data, t.len, d);
        found += holds(&dump, d, 8);
        buf_free(&t);
    }
    CHECK_INT(found, 0);
    buf_free(&dump);
    auth_cache_free(c);
}

/* ---- the service on a pool, with a fake passdb ------------------------------ */

static struct event_loop *loop;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool hold;              /* verify waits while set */
    int arrived;            /* verify calls started */
    int inflight, max_inflight;
    int lookups, verifies;
    char order[16][32];
    int norder;
    int fp_version;         /* "password changes" bump it */
} F = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void fake_lookup(const char *service, const char *user, struct auth_passdb_entry *out)
{
    (void)service;
    pthread_mutex_lock(&F.mu);
    F.lookups++;
    int v = F.fp_version;
    pthread_mutex_unlock(&F.mu);
    if (strncmp(user, "nouser", 6) == 0) {
        out->status = PASSDB_NOUSER;
    } else if (strncmp(user, "locked", 6) == 0) {
        out->status = PASSDB_LOCKED;
    } else if (strncmp(user, "broken", 6) == 0) {
        out->status = PASSDB_TEMPFAIL;
        out->error = "test";
    } else {
        out->status = PASSDB_FOUND;
        snprintf(out->fingerprint, sizeof(out->fingerprint), "fp%d", v);
    }
}

static bool fake_verify(const char *service, const char *user, const char *password,
                        const struct auth_passdb_entry *e)
{
    (void)service;
    pthread_mutex_lock(&F.mu);
    F.arrived++;
    if (++F.inflight > F.max_inflight)
        F.max_inflight = F.inflight;
    if (F.norder < 16)
        snprintf(F.order[F.norder++], sizeof(F.order[0]), "%s", user);
    while (F.hold)
        pthread_cond_wait(&F.cv, &F.mu);
    F.inflight--;
    F.verifies++;
    pthread_mutex_unlock(&F.mu);
    return e->status == PASSDB_FOUND && strcmp(password, "right") == 0;
}

static const struct auth_passdb fake_passdb = {"fake", fake_lookup, fake_verify};

static void hold(bool on)
{
    pthread_mutex_lock(&F.mu);
    F.hold = on;
    pthread_cond_broadcast(&F.cv);
    pthread_mutex_unlock(&F.mu);
}

static int fget(const int *field)
{
    pthread_mutex_lock(&F.mu);
    int v = *field;
    pthread_mutex_unlock(&F.mu);
    return v;
}

static void freset(void)
{
    pthread_mutex_lock(&F.mu);
    F.arrived = F.inflight = F.max_inflight = F.lookups = F.verifies = F.norder = 0;
    pthread_mutex_unlock(&F.mu);
}

struct answer {
    bool done;
    bool on_loop;
    struct auth_reply rep;
};
static pthread_t loop_thread;
static int ndone;

static void replied(const struct auth_reply *rep, void *ctx)
{
    struct answer *a = ctx;
    a->done = true;
    a->on_loop = pthread_equal(pthread_self(), loop_thread);
    a->rep = *rep;
    ndone++;
}

static void ask(const char *user, const char *password, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    struct auth_request rq = {"test", user, password, "192.0.2.1"};
    struct auth_reply now;
    /* with a pool the answer always comes through the callback */
    CHECK(!auth_verify(&rq, replied, a, &now));
}

/* Run the loop until pred() holds, looking every millisecond. */
static bool (*until)(void);
static void poll_cb(struct event_loop *l, void *arg)
{
    (void)arg;
    if (until())
        event_loop_stop(l);
    else
        ev_timer_add(l, 1, poll_cb, NULL);
}
static void run_until(bool (*pred)(void))
{
    if (pred())
        return;
    until = pred;
    ev_timer_add(loop, 1, poll_cb, NULL);
    event_loop_run(loop);
}

static int want_done, want_arrived;
static size_t want_queued;
static bool p_done(void) { return ndone >= want_done; }
static bool p_arrived_queued(void)
{
    return fget(&F.arrived) >= want_arrived && auth_service_queued() >= want_queued;
}

static void set_cfg(const char *k, const char *v)
{
    char err[256];
    CHECK(config_set(config_current(), k, v, err, sizeof(err)));
}

/* auth_hash_concurrency hashes at most; the others wait in the service's
 * queue, not on pool threads (4 threads here: they would all start). */
static void test_service_concurrency_bound(void)
{
    set_cfg("auth_hash_concurrency", "2");
    freset();
    hold(true);
    struct answer a[4];
    ndone = 0;
    const char *users[] = {"c1", "c2", "c3", "c4"};
    for (int i = 0; i < 4; i++)
        ask(users[i], "right", &a[i]);
    want_arrived = 2;
    want_queued = 2;
    run_until(p_arrived_queued);
    CHECK_INT(fget(&F.arrived), 2);
    CHECK_INT(jobs_pending(), 2); /* two hashes on the pool, nothing else */
    CHECK_INT(auth_service_pending(), 4);
    CHECK_INT(ndone, 0);
    hold(false);
    want_done = 4;
    run_until(p_done);
    CHECK_INT(fget(&F.max_inflight), 2);
    for (int i = 0; i < 4; i++) {
        CHECK(a[i].done && a[i].on_loop);
        CHECK_INT(a[i].rep.status, AUTH_STATUS_OK);
        CHECK_STR(a[i].rep.user, users[i]);
    }
    CHECK_INT(auth_service_pending(), 0);
    set_cfg("auth_hash_concurrency", "1");
}

/* The verify stage is first come, first served. */
static void test_service_fifo(void)
{
    set_cfg("auth_hash_concurrency", "1");
    freset();
    hold(true);
    struct answer a[4];
    ndone = 0;
    const char *users[] = {"f0", "f1", "f2", "f3"};
    ask(users[0], "right", &a[0]);
    want_arrived = 1;
    want_queued = 0;
    run_until(p_arrived_queued);
    for (int i = 1; i < 4; i++) {
        ask(users[i], "right", &a[i]);
        want_queued = (size_t)i;
        run_until(p_arrived_queued);
    }
    CHECK_INT(fget(&F.arrived), 1);
    hold(false);
    want_done = 4;
    run_until(p_done);
    pthread_mutex_lock(&F.mu);
    CHECK_INT(F.norder, 4);
    for (int i = 0; i < 4 && i < F.norder; i++)
        CHECK_STR(F.order[i], users[i]);
    pthread_mutex_unlock(&F.mu);
}

static void one(const char *user, const char *password, struct answer *a)
{
    ndone = 0;
    ask(user, password, a);
    want_done = 1;
    run_until(p_done);
}

static void test_service_cache(void)
{
    set_cfg("auth_cache_ttl", "3600");
    set_cfg("auth_cache_negative_ttl", "300");
    set_cfg("auth_cache_size", "100");
    auth_service_init();
    freset();
    hold(false);
    struct answer a;
    /* miss, then hit: the second answer needs no hash */
    one("Alice", "right", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_OK);
    CHECK_STR(a.rep.user, "alice");
    CHECK(!a.rep.cached);
    CHECK_INT(fget(&F.verifies), 1);
    one("alice", "right", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_OK);
    CHECK(a.rep.cached);
    CHECK_INT(fget(&F.verifies), 1);
    /* a warm login is answered while hashes are held; a cold one waits */
    hold(true);
    struct answer cold;
    ndone = 0;
    ask("bob", "right", &cold);
    want_arrived = 2;
    want_queued = 0;
    run_until(p_arrived_queued);
    ask("alice", "right", &a);
    want_done = 1;
    run_until(p_done);
    CHECK(a.done && a.rep.cached && a.rep.status == AUTH_STATUS_OK);
    CHECK(!cold.done);
    hold(false);
    want_done = 2;
    run_until(p_done);
    CHECK(cold.done && !cold.rep.cached && cold.rep.status == AUTH_STATUS_OK);
    /* negative entries: a wrong password, an unknown user; still failures */
    freset();
    one("alice", "guess", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_WRONG);
    CHECK(!a.rep.cached);
    one("alice", "guess", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_WRONG);
    CHECK(a.rep.cached);
    one("nouser1", "x", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_NOUSER);
    one("nouser1", "x", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_NOUSER);
    CHECK(a.rep.cached);
    CHECK_INT(fget(&F.verifies), 2); /* one hash each, the dummy one for nouser1 */
    /* an invalid name is an unknown user that costs a (dummy) hash too */
    one("Not Valid", "x", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_NOUSER);
    CHECK_STR(a.rep.user, "");
    CHECK_INT(fget(&F.verifies), 3);
    /* locked accounts and temporary failures are never cached */
    one("locked1", "right", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_LOCKED);
    one("locked1", "right", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_LOCKED);
    CHECK(!a.rep.cached);
    CHECK_INT(fget(&F.verifies), 5);
    one("broken1", "right", &a);
    CHECK_INT(a.rep.status, AUTH_STATUS_TEMPFAIL);
    CHECK(!a.rep.cached);
    CHECK_INT(fget(&F.verifies), 5); /* nothing to verify against */
    /* a changed stored credential: the old entry cannot answer */
    pthread_mutex_lock(&F.mu);
    F.fp_version++;
    pthread_mutex_unlock(&F.mu);
    one("alice", "right", &a);
    CHECK(!a.rep.cached);
    one("alice", "right", &a);
    CHECK(a.rep.cached);
    one("bob", "right", &a);
    CHECK(!a.rep.cached);
    /* a flush (NOTIFY_AUTH_FLUSH) drops the user's entries */
    auth_service_flush_user("alice");
    one("alice", "right", &a);
    CHECK(!a.rep.cached);
    CHECK_INT(a.rep.status, AUTH_STATUS_OK);
    one("bob", "right", &a);
    CHECK(a.rep.cached);
    /* a reload with TTL 0 stops answering from the cache */
    set_cfg("auth_cache_ttl", "0");
    auth_service_reload();
    one("bob", "right", &a);
    CHECK(!a.rep.cached);
    CHECK_INT(a.rep.status, AUTH_STATUS_OK);
    set_cfg("auth_cache_ttl", "3600");
    CHECK_INT(auth_service_pending(), 0);
    auth_service_shutdown();
}

int main(void)
{
    unit_deadline(120);
    log_init("test", false, false, NULL); /* the TEMPFAIL case logs an error */
    RUN(test_hit_and_miss);
    RUN(test_expiry);
    RUN(test_negative);
    RUN(test_flush_user);
    RUN(test_size_bound);
    RUN(test_no_plaintext_in_entries);

    loop = event_loop_new();
    loop_thread = pthread_self();
    if (!loop || !jobs_init(loop, 4)) {
        fprintf(stderr, "cannot start the pool\n");
        return 1;
    }
    auth_service_set_passdb(&fake_passdb);
    RUN(test_service_concurrency_bound);
    RUN(test_service_fifo);
    RUN(test_service_cache);
    auth_service_set_passdb(NULL);
    jobs_drain(5000);
    event_loop_free(loop);
    return unit_done();
}
