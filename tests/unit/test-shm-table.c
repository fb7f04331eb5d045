/* test-shm-table.c - the shared-memory hash table (src/net/shm-table.c):
 * linear probing with wrap-around at the end of the table, the probe
 * limit, backward-shift deletion keeping every remaining key reachable
 * (against a reference model on random operations, and in a full table),
 * and the hash values, pinned to those connlimits.c and spool-limits.c
 * computed before they shared this module. */
#include "unit.h"
#include "shm-table.h"
#include <inttypes.h>

/* A 16-byte slot: key first, as the module requires. */
struct small {
    uint64_t key;
    uint32_t v, w;
};

/* A 32-byte slot like spool-limits.c's. */
struct big {
    uint64_t key;
    uint64_t val;
    uint64_t user;
    uint32_t tag, pad;
};

static size_t idx_of(const struct small *t, const struct small *s)
{
    return s ? (size_t)(s - t) : (size_t)-1;
}

static struct small *sfind(struct small *t, size_t n, uint64_t key, bool create)
{
    return shm_table_find(t, n, sizeof(*t), key, create);
}

/* Keys sharing a home slot near the end of the table run over it into
 * slots 0, 1, ...; erasing shifts them back across the end. */
static void test_wrap_and_erase(void)
{
    struct small t[16];
    memset(t, 0, sizeof(t));
    /* home 14: 14, 15, then wrap to 0, 1 */
    uint64_t k[] = {0x10e, 0x20e, 0x30e, 0x40e};
    for (uint32_t i = 0; i < 4; i++) {
        struct small *s = sfind(t, 16, k[i], true);
        CHECK(s != NULL);
        if (s)
            s->v = 100 + i;
    }
    CHECK_INT(idx_of(t, sfind(t, 16, k[0], false)), 14);
    CHECK_INT(idx_of(t, sfind(t, 16, k[1], false)), 15);
    CHECK_INT(idx_of(t, sfind(t, 16, k[2], false)), 0);
    CHECK_INT(idx_of(t, sfind(t, 16, k[3], false)), 1);
    /* home 0 is taken by a wrapped key: goes to 2. home 1 likewise: 3. */
    struct small *h0 = sfind(t, 16, 0x500, true);
    CHECK_INT(idx_of(t, h0), 2);
    if (h0)
        h0->v = 200;
    struct small *h1 = sfind(t, 16, 0x601, true);
    CHECK_INT(idx_of(t, h1), 3);
    if (h1)
        h1->v = 201;
    /* an unrelated key at its own home stays put */
    struct small *h5 = sfind(t, 16, 0x705, true);
    CHECK_INT(idx_of(t, h5), 5);
    if (h5)
        h5->v = 202;
    /* absent key whose probe crosses the end: not found, nothing claimed */
    CHECK(sfind(t, 16, 0x80f, false) == NULL);
    CHECK_INT(t[4].key, 0);

    /* Erase the run's first entry (slot 14): 0x20e, 0x30e, 0x40e move back
     * one each, across the end; 0x500 (home 0) moves to 1, 0x601 (home 1)
     * to 2. Payloads travel with their keys. */
    shm_table_erase(t, 16, sizeof(t[0]), &t[14]);
    CHECK_INT(t[14].key, 0x20e);
    CHECK_INT(t[14].v, 101);
    CHECK_INT(t[15].key, 0x30e);
    CHECK_INT(t[0].key, 0x40e);
    CHECK_INT(t[1].key, 0x500);
    CHECK_INT(t[1].v, 200);
    CHECK_INT(t[2].key, 0x601);
    CHECK_INT(t[2].v, 201);
    CHECK_INT(t[3].key, 0);
    CHECK_INT(t[3].v, 0);       /* the freed slot is zero-filled */
    CHECK_INT(t[5].key, 0x705);
    CHECK(sfind(t, 16, k[0], false) == NULL);

    /* Erase 0x500 (now at 1, home 0): 0x601 (at 2, home 1) moves back to
     * its home. */
    shm_table_erase(t, 16, sizeof(t[0]), &t[1]);
    CHECK_INT(t[1].key, 0x601);
    CHECK_INT(t[2].key, 0);

    /* Erase at slot 15 with 0x40e at 0 (home 14) behind it: it moves back
     * across the end to 15; 0x601 at its home 1 stays. */
    shm_table_erase(t, 16, sizeof(t[0]), &t[15]);
    CHECK_INT(t[15].key, 0x40e);
    CHECK_INT(t[0].key, 0);
    CHECK_INT(t[1].key, 0x601);
    CHECK_INT(t[14].key, 0x20e);
    for (size_t i = 0; i < 16; i++)
        if (t[i].key)
            CHECK(sfind(t, 16, t[i].key, false) == &t[i]);

    /* An entry at its home is never moved back past it: erase the slot
     * before 0x601 (make one first: home 0 key lands at 0). */
    struct small *z = sfind(t, 16, 0x900, true);
    CHECK_INT(idx_of(t, z), 0);
    shm_table_erase(t, 16, sizeof(t[0]), &t[0]);
    CHECK_INT(t[0].key, 0);
    CHECK_INT(t[1].key, 0x601);
}

/* create claims a zero-filled slot whatever the free slot held; finding an
 * existing key returns it untouched. */
static void test_create_zero_fills(void)
{
    struct small t[8];
    memset(t, 0, sizeof(t));
    t[3].v = 77;
    t[3].w = 88;
    struct small *s = sfind(t, 8, 0x13, true);
    CHECK(s == &t[3]);
    CHECK_INT(t[3].v, 0);
    CHECK_INT(t[3].w, 0);
    t[3].v = 5;
    CHECK(sfind(t, 8, 0x13, true) == &t[3]);
    CHECK_INT(t[3].v, 5);
    CHECK(sfind(t, 8, 0x13, false) == &t[3]);
}

/* A key finds a place only within SHM_TABLE_MAX_PROBE slots of its home;
 * a lookup stops there too. */
static void test_probe_limit(void)
{
    enum { N = 256 };
    static struct small t[N];
    memset(t, 0, sizeof(t));
    /* SHM_TABLE_MAX_PROBE keys with home N-10: they fill N-10 .. wrapping */
    for (uint64_t i = 0; i < SHM_TABLE_MAX_PROBE; i++)
        CHECK(sfind(t, N, ((i + 1) << 8) | (N - 10), true) != NULL);
    uint64_t extra = ((uint64_t)(SHM_TABLE_MAX_PROBE + 1) << 8) | (N - 10);
    CHECK(sfind(t, N, extra, true) == NULL);
    CHECK(sfind(t, N, extra, false) == NULL);
    /* a key homed one slot later still reaches the free slot just past
     * the run */
    CHECK(sfind(t, N, 0x7700 | (N - 9), true) != NULL);
    shm_table_erase(t, N, sizeof(t[0]), sfind(t, N, 0x7700 | (N - 9), false));
    /* free one slot of the run: the extra key fits, and all are found */
    shm_table_erase(t, N, sizeof(t[0]), sfind(t, N, (5 << 8) | (N - 10), false));
    CHECK(sfind(t, N, extra, true) != NULL);
    for (uint64_t i = 0; i < SHM_TABLE_MAX_PROBE; i++)
        if (i != 4)
            CHECK(sfind(t, N, ((i + 1) << 8) | (N - 10), false) != NULL);
    CHECK(sfind(t, N, extra, false) != NULL);
}

/* Every slot taken: erase must end (it has no empty slot to stop at),
 * free exactly one slot and keep every other key where a lookup finds
 * it. Tables smaller than, equal to and larger than the probe limit. */
static void test_full_table(void)
{
    static struct small t[128];
    static const size_t sizes[] = {16, SHM_TABLE_MAX_PROBE, 128};
    uint64_t r = 0x2545f4914f6cdd1dULL;
    unit_deadline(60);  /* erase used to loop for ever on a full table */
    for (size_t si = 0; si < 3; si++) {
        size_t n = sizes[si];
        for (int round = 0; round < 300; round++) {
            memset(t, 0, sizeof(t));
            size_t used = 0;
            for (uint64_t k = 1; used < n; k++) {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                /* half the keys crowd the last slots, so runs cross the end */
                uint64_t home = r % 2 ? n - 1 - (r >> 8) % 3 : (r >> 8) % n;
                struct small *s = sfind(t, n, (k << 8) | home, true);
                if (s) {
                    s->v = (uint32_t)k;
                    used++;
                }
            }
            size_t victim = (size_t)(r >> 20) % n;
            uint64_t gone = t[victim].key;
            shm_table_erase(t, n, sizeof(t[0]), &t[victim]);
            size_t left = 0;
            for (size_t i = 0; i < n; i++) {
                if (!t[i].key)
                    continue;
                left++;
                CHECK(sfind(t, n, t[i].key, false) == &t[i]);
                CHECK_INT(t[i].v, t[i].key >> 8);   /* payload moved with its key */
            }
            CHECK_INT(left, n - 1);
            CHECK(sfind(t, n, gone, false) == NULL);
            /* the freed place is usable again (by the erased key when the
             * whole table is within its probe window) */
            if (n <= SHM_TABLE_MAX_PROBE)
                CHECK(sfind(t, n, gone, true) != NULL);
        }
    }
    unit_deadline(0);
}

/* ---- random operations against a reference model ---------------------- */

enum { RN = 256, POOL = 400 };

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure repeats */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* The model: which pool keys are present, with their values. */
struct model {
    uint64_t key[POOL];
    bool present[POOL];
    uint64_t val[POOL];
};

/* Every model key is found with its value; nothing else is in the table;
 * every entry lies within SHM_TABLE_MAX_PROBE of its home with no empty
 * slot between (what makes it reachable). Returns false on the first
 * difference (reported once). */
static bool consistent(struct big *t, const struct model *m, uint64_t seed, int step)
{
    size_t used = 0, want = 0;
    for (size_t i = 0; i < POOL; i++) {
        struct big *s = shm_table_find(t, RN, sizeof(*t), m->key[i], false);
        if (m->present[i]) {
            want++;
            if (!s || s->val != m->val[i] || s->user != ~m->key[i]) {
                fprintf(stderr, "seed %" PRIu64 " step %d: key %#" PRIx64 " lost or wrong\n", seed, step, m->key[i]);
                return false;
            }
        } else if (s) {
            fprintf(stderr, "seed %" PRIu64 " step %d: erased key %#" PRIx64 " found\n", seed, step, m->key[i]);
            return false;
        }
    }
    for (size_t p = 0; p < RN; p++) {
        if (!t[p].key) {
            if (t[p].val || t[p].user || t[p].tag) {
                fprintf(stderr, "seed %" PRIu64 " step %d: free slot %zu not zeroed\n", seed, step, p);
                return false;
            }
            continue;
        }
        used++;
        size_t home = (size_t)(t[p].key & (RN - 1));
        size_t dist = (p - home) & (RN - 1);
        bool gap = false;
        for (size_t q = home; q != p; q = (q + 1) & (RN - 1))
            gap |= t[q].key == 0;
        if (dist >= SHM_TABLE_MAX_PROBE || gap) {
            fprintf(stderr, "seed %" PRIu64 " step %d: slot %zu (home %zu) unreachable\n", seed, step, p, home);
            return false;
        }
    }
    if (used != want) {
        fprintf(stderr, "seed %" PRIu64 " step %d: %zu entries, model has %zu\n", seed, step, used, want);
        return false;
    }
    return true;
}

static void run_random(uint64_t seed)
{
    static struct big t[RN];
    struct model m;
    memset(t, 0, sizeof(t));
    memset(&m, 0, sizeof(m));
    rng_state = seed;
    /* Pool keys crowd a few homes, half of them around the end of the
     * table, so runs are long, cross the end, and sometimes reach the
     * probe limit. Distinct high bits keep the keys distinct and != 0. */
    static const size_t homes[] = {RN - 3, RN - 2, RN - 1, 0, 1, 2, 100, 101};
    for (size_t i = 0; i < POOL; i++) {
        size_t home = i % 4 ? homes[rnd() % 8] : (size_t)(rnd() % RN);
        m.key[i] = ((uint64_t)(i + 1) << 32) | (rnd() & 0xffffff00u) | home;
    }
    for (int step = 0; step < 3000; step++) {
        size_t i = (size_t)(rnd() % POOL);
        if (rnd() % 100 < 55) {
            struct big *s = shm_table_find(t, RN, sizeof(*t), m.key[i], true);
            if (!s) {
                /* Only a full window may refuse: every one of the probe
                 * slots from the key's home holds another key. */
                CHECK(!m.present[i]);
                size_t home = (size_t)(m.key[i] & (RN - 1));
                for (size_t d = 0; d < SHM_TABLE_MAX_PROBE; d++)
                    CHECK(t[(home + d) & (RN - 1)].key != 0);
            } else {
                CHECK(m.present[i] || (s->val == 0 && s->user == 0 && s->tag == 0));
                m.present[i] = true;
                m.val[i] = rnd();
                s->val = m.val[i];
                s->user = ~m.key[i];
                s->tag = (uint32_t)i;
            }
        } else {
            struct big *s = shm_table_find(t, RN, sizeof(*t), m.key[i], false);
            CHECK((s != NULL) == m.present[i]);
            if (s) {
                shm_table_erase(t, RN, sizeof(*t), s);
                m.present[i] = false;
            }
        }
        if (!consistent(t, &m, seed, step)) {
            CHECK(false);   /* consistent() said where */
            return;
        }
    }
    /* Erase everything, in pool order: the table ends empty. */
    for (size_t i = 0; i < POOL; i++) {
        if (!m.present[i])
            continue;
        struct big *s = shm_table_find(t, RN, sizeof(*t), m.key[i], false);
        CHECK(s != NULL);
        if (s)
            shm_table_erase(t, RN, sizeof(*t), s);
        m.present[i] = false;
        if (!consistent(t, &m, seed, -1)) {
            CHECK(false);
            return;
        }
    }
    struct big zero[RN];
    memset(zero, 0, sizeof(zero));
    CHECK(memcmp(t, zero, sizeof(t)) == 0);
}

static void test_random_against_model(void)
{
    for (uint64_t seed = 1; seed <= 6; seed++)
        run_random(seed * 0x9e3779b97f4a7c15ULL);
}

/* The values connlimits.c (key_hash) and spool-limits.c (user_key, mix)
 * computed with their own copies before this module. */
static void test_hash_values(void)
{
    CHECK(shm_hash_str("") == 0xf52a15e9a9b5e89bULL);
    CHECK(shm_hash_str("alice") == 0xc5d1556d66774a5cULL);
    CHECK(shm_hash_str("127.0.0.1") == 0x360fa4ade68d5adaULL);
    CHECK(shm_hash_str("2001:db8::/64") == 0x7cdfd8fcfe025338ULL);
    CHECK(shm_hash_str("\xff\x80 bytes") == 0x3245cce95e3273bfULL);  /* bytes are unsigned */
    CHECK(shm_hash_mix(0) == 1);                                      /* never the empty key */
    CHECK(shm_hash_mix(1) == 0x5692161d100b05e5ULL);
    CHECK(shm_hash_mix(UINT64_MAX) == 0xb4d055fcf2cbbd7bULL);
    /* spool-limits.c's owner key for ("alice", worker 3) */
    CHECK(shm_hash_mix(0xc5d1556d66774a5cULL + 5 * 0x9e3779b97f4a7c15ULL) == 0x88192b73b4aaffa0ULL);
}

int main(void)
{
    RUN(test_wrap_and_erase);
    RUN(test_create_zero_fills);
    RUN(test_probe_limit);
    RUN(test_full_table);
    RUN(test_random_against_model);
    RUN(test_hash_values);
    return unit_done();
}
