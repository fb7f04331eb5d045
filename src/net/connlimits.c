/* connlimits.c - connection/login limits shared by all workers (connlimits.h).
 *
 * One anonymous MAP_SHARED region, created before fork. The global
 * connection count is a lock-free atomic. The per-key tables (client
 * address, user name, auth failures) are open-addressing hashes keyed by a
 * 64-bit hash of the key (collisions of 64-bit hashes are accepted: at
 * worst two keys share a counter). Updating a table takes a robust
 * process-shared mutex: the critical sections are a few probes long, and
 * a worker that dies holding the lock cannot wedge the others (the next
 * locker gets EOWNERDEAD and takes over). Entries whose count drops to 0
 * are deleted with backward-shift deletion, so the tables do not fill up
 * with stale addresses.
 *
 * A worker that crashes leaks the per-key counts of its connections; the
 * global count is repaired by the master (limits_worker_exited), which
 * keeps per-worker totals.
 */
#include "connlimits.h"
#include "config.h"
#include "log.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

#define HOST_SLOTS 16384
#define USER_SLOTS 16384
#define FAIL_SLOTS 8192
#define MAX_PROBE 64
#define FAIL_WINDOW_S 600
#define FAIL_DELAY_CAP_MS 30000

struct slot {
    uint64_t key;       /* 0 = empty */
    uint32_t count;
    uint32_t stamp;     /* auth failures: monotonic seconds of last failure */
};

struct shared {
    atomic_uint total;
    atomic_uint per_worker[LIMITS_MAX_WORKERS];
    pthread_mutex_t lock;
    struct slot hosts[HOST_SLOTS];
    struct slot users[USER_SLOTS];
    struct slot fails[FAIL_SLOTS];
};

static struct shared *sh;
static int my_worker = -1;

bool limits_init(void)
{
    if (sh)
        return true;
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        log_err("limits: mmap: %m");
        return false;
    }
    sh = p; /* zero-filled by the kernel */
    atomic_init(&sh->total, 0);
    for (int i = 0; i < LIMITS_MAX_WORKERS; i++)
        atomic_init(&sh->per_worker[i], 0);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&sh->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0) {
        munmap(p, sizeof(struct shared));
        sh = NULL;
        return false;
    }
    return true;
}

static bool ensure(void)
{
    return sh || limits_init();
}

void limits_set_worker(int idx)
{
    my_worker = idx >= 0 && idx < LIMITS_MAX_WORKERS ? idx : -1;
}

void limits_worker_exited(int idx)
{
    if (!sh || idx < 0 || idx >= LIMITS_MAX_WORKERS)
        return;
    unsigned n = atomic_exchange(&sh->per_worker[idx], 0);
    if (!n)
        return;
    /* Subtract what the dead worker held, never going below 0. */
    unsigned cur = atomic_load(&sh->total);
    while (!atomic_compare_exchange_weak(&sh->total, &cur, cur >= n ? cur - n : 0))
        ;
}

static void lock(void)
{
    int rc = pthread_mutex_lock(&sh->lock);
    if (rc == EOWNERDEAD)
        pthread_mutex_consistent(&sh->lock);
}

static void unlock(void)
{
    pthread_mutex_unlock(&sh->lock);
}

/* FNV-1a, then a splitmix64 finaliser for better spread of the low bits
 * used for the table index. Never returns 0 (the empty marker). */
static uint64_t key_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}

/* Find key's slot; with create, claim an empty one. NULL when absent (or
 * the neighbourhood is full). */
static struct slot *find(struct slot *t, size_t n, uint64_t key, bool create)
{
    size_t i = (size_t)(key & (n - 1));
    for (int probe = 0; probe < MAX_PROBE; probe++, i = (i + 1) & (n - 1)) {
        if (t[i].key == key)
            return &t[i];
        if (t[i].key == 0) {
            if (!create)
                return NULL;
            t[i].key = key;
            t[i].count = 0;
            t[i].stamp = 0;
            return &t[i];
        }
    }
    return NULL;
}

/* Backward-shift deletion keeps every remaining key reachable from its
 * home slot without tombstones. */
static void erase(struct slot *t, size_t n, struct slot *s)
{
    size_t i = (size_t)(s - t);
    size_t j = i;
    for (;;) {
        j = (j + 1) & (n - 1);
        if (t[j].key == 0)
            break;
        size_t home = (size_t)(t[j].key & (n - 1));
        /* Can t[j] move to i? Only if its home is not in (i, j]. */
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (between)
            continue;
        t[i] = t[j];
        i = j;
    }
    t[i].key = 0;
    t[i].count = 0;
    t[i].stamp = 0;
}

static bool table_acquire(struct slot *t, size_t n, const char *key, long long max)
{
    uint64_t h = key_hash(key);
    bool ok = true;
    lock();
    struct slot *s = find(t, n, h, true);
    if (s) {
        if (max > 0 && s->count >= (unsigned long long)max)
            ok = false;
        else
            s->count++;
    } /* else: table full, fail open */
    unlock();
    return ok;
}

static void table_release(struct slot *t, size_t n, const char *key)
{
    uint64_t h = key_hash(key);
    lock();
    struct slot *s = find(t, n, h, false);
    if (s) {
        if (s->count > 1)
            s->count--;
        else
            erase(t, n, s);
    }
    unlock();
}

bool limits_conn_acquire(const char *addr)
{
    (void)addr;
    if (!ensure())
        return true;
    long long max = config_int(CFG_MAXCONNECTIONS);
    unsigned now = atomic_fetch_add(&sh->total, 1) + 1;
    if (max > 0 && now > (unsigned long long)max) {
        atomic_fetch_sub(&sh->total, 1);
        return false;
    }
    if (my_worker >= 0)
        atomic_fetch_add(&sh->per_worker[my_worker], 1);
    return true;
}

void limits_conn_release(const char *addr)
{
    (void)addr;
    if (!sh)
        return;
    unsigned cur = atomic_load(&sh->total);
    while (cur && !atomic_compare_exchange_weak(&sh->total, &cur, cur - 1))
        ;
    if (my_worker >= 0) {
        cur = atomic_load(&sh->per_worker[my_worker]);
        while (cur && !atomic_compare_exchange_weak(&sh->per_worker[my_worker], &cur, cur - 1))
            ;
    }
}

unsigned limits_conn_total(void)
{
    return sh ? atomic_load(&sh->total) : 0;
}

bool limits_login_acquire(const char *user, const char *addr, const char **which)
{
    if (which)
        *which = NULL;
    if (!ensure())
        return true;
    if (!table_acquire(sh->users, USER_SLOTS, user ? user : "", config_int(CFG_MAXLOGINS_PER_USER))) {
        if (which)
            *which = "user";
        return false;
    }
    if (!table_acquire(sh->hosts, HOST_SLOTS, addr ? addr : "", config_int(CFG_MAXLOGINS_PER_HOST))) {
        table_release(sh->users, USER_SLOTS, user ? user : "");
        if (which)
            *which = "host";
        return false;
    }
    return true;
}

void limits_login_release(const char *user, const char *addr)
{
    if (!sh)
        return;
    table_release(sh->users, USER_SLOTS, user ? user : "");
    table_release(sh->hosts, HOST_SLOTS, addr ? addr : "");
}

/* ---- authentication failures ---------------------------------------- */

static uint32_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)ts.tv_sec + 1; /* never 0 */
}

/* Delay for an address with count recent failures. */
static unsigned delay_for(unsigned count)
{
    long long base = config_int(CFG_AUTH_FAILURE_DELAY) * 1000;
    long long limit = config_int(CFG_AUTH_FAILURES_PER_HOST);
    if (base <= 0 || count == 0)
        return 0;
    long long d = base;
    if (limit > 0 && count > (unsigned long long)limit) {
        unsigned long long over = count - (unsigned long long)limit;
        for (unsigned long long i = 0; i < over && d < FAIL_DELAY_CAP_MS; i++)
            d *= 2;
    }
    return (unsigned)(d > FAIL_DELAY_CAP_MS ? FAIL_DELAY_CAP_MS : d);
}

/* Current failure count for h, expiring an entry idle for 10 minutes.
 * Caller holds the lock. */
static struct slot *fail_slot(uint64_t h, bool create, uint32_t now)
{
    struct slot *s = find(sh->fails, FAIL_SLOTS, h, false);
    if (s && now - s->stamp > FAIL_WINDOW_S) {
        erase(sh->fails, FAIL_SLOTS, s);
        s = NULL;
    }
    if (!s && create) {
        s = find(sh->fails, FAIL_SLOTS, h, true);
        if (!s) {
            /* Neighbourhood full: evict expired entries and retry. */
            for (size_t i = 0; i < FAIL_SLOTS; i++)
                while (sh->fails[i].key && now - sh->fails[i].stamp > FAIL_WINDOW_S)
                    erase(sh->fails, FAIL_SLOTS, &sh->fails[i]);
            s = find(sh->fails, FAIL_SLOTS, h, true);
        }
    }
    return s;
}

unsigned limits_auth_failure(const char *addr)
{
    if (!ensure())
        return 0;
    uint64_t h = key_hash(addr ? addr : "");
    uint32_t now = now_s();
    unsigned count = 1;
    lock();
    struct slot *s = fail_slot(h, true, now);
    if (s) {
        if (s->count < UINT32_MAX)
            s->count++;
        s->stamp = now;
        count = s->count;
    }
    unlock();
    return delay_for(count);
}

void limits_auth_success(const char *addr)
{
    if (!sh)
        return;
    uint64_t h = key_hash(addr ? addr : "");
    lock();
    struct slot *s = find(sh->fails, FAIL_SLOTS, h, false);
    if (s)
        erase(sh->fails, FAIL_SLOTS, s);
    unlock();
}

unsigned limits_auth_predelay(const char *addr)
{
    if (!sh)
        return 0;
    long long limit = config_int(CFG_AUTH_FAILURES_PER_HOST);
    if (limit <= 0)
        return 0;
    uint64_t h = key_hash(addr ? addr : "");
    unsigned count = 0;
    lock();
    struct slot *s = fail_slot(h, false, now_s());
    if (s)
        count = s->count;
    unlock();
    return count >= (unsigned long long)limit ? delay_for(count) : 0;
}
