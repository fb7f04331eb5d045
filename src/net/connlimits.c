/* connlimits.c - connection/login limits shared by all workers (connlimits.h).
 *
 * One anonymous MAP_SHARED region, created before fork. The global
 * connection count is a lock-free atomic. The per-key tables (client
 * address, user name, auth failures) are open-addressing hashes keyed by a
 * 64-bit hash of the key (shm-table.h; collisions of 64-bit hashes are
 * accepted: at worst two keys share a counter). Updating a table takes a robust
 * process-shared mutex: the critical sections are a few probes long, and
 * a worker that dies holding the lock cannot wedge the others (the next
 * locker gets EOWNERDEAD and takes over). Entries whose count drops to 0
 * are deleted with backward-shift deletion, so the tables do not fill up
 * with stale addresses.
 *
 * A worker that crashes leaks the per-key login counts of its
 * connections; the global count is repaired by the master
 * (limits_worker_exited), which keeps per-worker totals, and so are the
 * dead worker's pre-auth places (the eviction table records the owner).
 *
 * Pre-auth connections (connlimits.h): a per-host count table like the
 * others, plus the eviction table: fixed slots on a free list, the live
 * ones on a doubly linked list in connect order (slots are taken under
 * the lock with the monotonic clock read under it, so the head is always
 * the oldest; eviction is O(1)). A slot's tag (generation << 2 | state)
 * is atomic so that a worker can ask "was mine evicted?" without the lock;
 * generations are never reused, so a stale handle never matches a reused
 * slot.
 */
#include "connlimits.h"
#include "config.h"
#include "log.h"
#include "shm-table.h"
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define HOST_SLOTS 16384
#define USER_SLOTS 16384
#define FAIL_SLOTS 8192
#define FAIL_WINDOW_S 600
#define FAIL_DELAY_CAP_MS 30000
#define PREAUTH_HOST_SLOTS 16384
/* Pre-auth connections that can be evicted at once over all workers;
 * beyond it (more than maxconnections would need, in practice) a
 * pre-auth connection is still capped and timed but never evicted. */
#define PA_SLOTS 65536
/* Evictions asked for but not yet carried out by their workers: each
 * lets one connection in over maxconnections until the evicted one is
 * gone, so a wedged worker cannot let the total grow without bound. */
#define EVICT_INFLIGHT_MAX 128

struct slot {
    uint64_t key;       /* 0 = empty */
    uint32_t count;
    uint32_t stamp;     /* auth failures: monotonic seconds of last failure */
    uint64_t next_ms;   /* auth failures: release time of the last scheduled event */
};
static_assert(offsetof(struct slot, key) == 0, "shm-table.h: the key is a slot's first member");
static_assert((HOST_SLOTS & (HOST_SLOTS - 1)) == 0 && (USER_SLOTS & (USER_SLOTS - 1)) == 0 &&
                  (FAIL_SLOTS & (FAIL_SLOTS - 1)) == 0 && (PREAUTH_HOST_SLOTS & (PREAUTH_HOST_SLOTS - 1)) == 0,
              "shm-table.h: table sizes are powers of two");

enum { PA_FREE = 0, PA_ACTIVE = 1, PA_EVICT = 2 };

struct pa_slot {
    _Atomic uint64_t tag;   /* generation << 2 | PA_*; 0 = free */
    uint64_t start_ms;      /* monotonic ms at accept */
    uint64_t host;          /* key counted in pahosts, 0 = none */
    int32_t owner;          /* worker index */
    int32_t prev, next;     /* live list (PA_ACTIVE) or free list (next) */
};

struct shared {
    atomic_uint total;
    atomic_uint per_worker[LIMITS_MAX_WORKERS];
    pthread_mutex_t lock;
    struct slot hosts[HOST_SLOTS];
    struct slot users[USER_SLOTS];
    struct slot fails[FAIL_SLOTS];
    /* pre-auth (under lock) */
    struct slot pahosts[PREAUTH_HOST_SLOTS];
    int32_t pa_head, pa_tail;   /* live list: oldest first */
    int32_t pa_free;            /* free list */
    int32_t pa_hwm;             /* slots [0, pa_hwm) have been used */
    uint32_t evicting;          /* PA_EVICT slots */
    uint64_t pa_gen;
    struct pa_slot pa[PA_SLOTS];
};

static struct shared *sh;
static int my_worker = -1;
/* eventfds, inherited from the master (process-local numbers) */
static int wake_fds[LIMITS_MAX_WORKERS];
static size_t nwake;

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
    sh->pa_head = sh->pa_tail = sh->pa_free = -1;
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

static void preauth_worker_gone(int idx);

void limits_worker_exited(int idx)
{
    if (!sh || idx < 0 || idx >= LIMITS_MAX_WORKERS)
        return;
    preauth_worker_gone(idx);
    unsigned n = atomic_exchange(&sh->per_worker[idx], 0);
    if (!n)
        return;
    /* Subtract what the dead worker held, never going below 0. */
    unsigned cur = atomic_load(&sh->total);
    while (!atomic_compare_exchange_weak(&sh->total, &cur, cur >= n ? cur - n : 0))
        ;
}

static void pa_rebuild(void);

static void lock(void)
{
    int rc = pthread_mutex_lock(&sh->lock);
    if (rc == EOWNERDEAD) {
        /* A process died inside a critical section: the eviction lists
         * may be half-linked; rebuild them from the slots' tags. */
        pa_rebuild();
        pthread_mutex_consistent(&sh->lock);
    }
}

static void unlock(void)
{
    pthread_mutex_unlock(&sh->lock);
}

/* Find key's slot; with create, claim an empty one (zero-filled). NULL
 * when absent (or the neighbourhood is full). The lock is held. */
static struct slot *find(struct slot *t, size_t n, uint64_t key, bool create)
{
    return shm_table_find(t, n, sizeof(*t), key, create);
}

static void erase(struct slot *t, size_t n, struct slot *s)
{
    shm_table_erase(t, n, sizeof(*t), s);
}

static bool table_acquire(struct slot *t, size_t n, const char *key, long long max)
{
    uint64_t h = shm_hash_str(key);
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

/* Caller holds the lock. */
static void table_release_locked(struct slot *t, size_t n, uint64_t h)
{
    struct slot *s = find(t, n, h, false);
    if (s) {
        if (s->count > 1)
            s->count--;
        else
            erase(t, n, s);
    }
}

static void table_release(struct slot *t, size_t n, const char *key)
{
    uint64_t h = shm_hash_str(key);
    lock();
    table_release_locked(t, n, h);
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

/* ---- pre-authentication connections ------------------------------------ */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The per-host key: the address, or for IPv6 its /64 (one host or site
 * usually holds a whole /64, so counting single IPv6 addresses would be
 * no cap at all). */
static const char *host_key(const char *addr, char *out, size_t outlen)
{
    struct in6_addr a6;
    char t[INET6_ADDRSTRLEN];
    if (strchr(addr, ':') && inet_pton(AF_INET6, addr, &a6) == 1) {
        memset(a6.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a6, t, sizeof(t))) {
            snprintf(out, outlen, "%s/64", t);
            return out;
        }
    }
    return addr;
}

static void pa_unlink(int32_t i)
{
    struct pa_slot *p = &sh->pa[i];
    if (p->prev >= 0)
        sh->pa[p->prev].next = p->next;
    else
        sh->pa_head = p->next;
    if (p->next >= 0)
        sh->pa[p->next].prev = p->prev;
    else
        sh->pa_tail = p->prev;
    p->prev = p->next = -1;
}

/* Take a slot for this worker (the lock is held). -1 when none is free. */
static int32_t pa_take(uint64_t host, uint64_t *tag)
{
    int32_t i = sh->pa_free;
    if (i >= 0)
        sh->pa_free = sh->pa[i].next;
    else if (sh->pa_hwm < PA_SLOTS)
        i = sh->pa_hwm++;
    else
        return -1;
    struct pa_slot *p = &sh->pa[i];
    p->start_ms = now_ms();
    p->host = host;
    p->owner = my_worker;
    p->next = -1;
    p->prev = sh->pa_tail;
    if (sh->pa_tail >= 0)
        sh->pa[sh->pa_tail].next = i;
    else
        sh->pa_head = i;
    sh->pa_tail = i;
    *tag = (++sh->pa_gen << 2) | PA_ACTIVE;
    atomic_store(&p->tag, *tag);
    return i;
}

/* Free a taken slot (ACTIVE or EVICT; the lock is held). */
static void pa_free(int32_t i)
{
    struct pa_slot *p = &sh->pa[i];
    uint64_t t = atomic_load(&p->tag);
    if ((t & 3) == PA_ACTIVE)
        pa_unlink(i);
    else if ((t & 3) == PA_EVICT && sh->evicting)
        sh->evicting--;
    atomic_store(&p->tag, (uint64_t)PA_FREE);
    p->host = 0;
    p->owner = -1;
    p->prev = -1;
    p->next = sh->pa_free;
    sh->pa_free = i;
}

bool limits_init_wakeups(size_t nworkers)
{
    if (nworkers > LIMITS_MAX_WORKERS)
        nworkers = LIMITS_MAX_WORKERS;
    for (size_t i = nwake; i < nworkers; i++) {
        /* Inherited by the forked workers (CLOEXEC only keeps it from
         * programs anyone might exec). */
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            log_err("limits: eventfd: %m");
            return false;
        }
        wake_fds[nwake++] = fd;
    }
    return true;
}

int limits_wake_fd(void)
{
    return my_worker >= 0 && (size_t)my_worker < nwake ? wake_fds[my_worker] : -1;
}

void limits_wake_drain(void)
{
    int fd = limits_wake_fd();
    uint64_t v;
    if (fd >= 0 && read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("limits: wake fd: %m");
}

static void wake(int worker)
{
    uint64_t one = 1;
    if (worker >= 0 && (size_t)worker < nwake && write(wake_fds[worker], &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("limits: waking worker %d: %m", worker);
}

static bool total_try_add(long long max)
{
    unsigned now = atomic_fetch_add(&sh->total, 1) + 1;
    if (max > 0 && now > (unsigned long long)max) {
        atomic_fetch_sub(&sh->total, 1);
        return false;
    }
    return true;
}

/* Mark the oldest pre-auth connection for eviction (the lock is held):
 * it leaves the live list, counts as in flight, and its owner is
 * returned in *owner (-1: a process without a worker index) with its age
 * in *age_ms. False when there is none or too many are in flight. */
static bool pa_evict_head(int *owner, uint64_t *age_ms)
{
    int32_t i = sh->pa_head;
    if (i < 0 || sh->evicting >= EVICT_INFLIGHT_MAX)
        return false;
    struct pa_slot *p = &sh->pa[i];
    pa_unlink(i);
    atomic_store(&p->tag, (atomic_load(&p->tag) & ~(uint64_t)3) | PA_EVICT);
    sh->evicting++;
    *owner = p->owner;
    uint64_t now = now_ms();
    *age_ms = now > p->start_ms ? now - p->start_ms : 0;
    return true;
}

enum limits_admit limits_conn_admit(const char *addr, bool preauth, struct limits_preauth *pa)
{
    *pa = (struct limits_preauth)LIMITS_PREAUTH_INIT;
    if (!ensure())
        return LIMITS_ADMITTED;
    long long max = config_int(CFG_MAXCONNECTIONS);
    long long cap = config_int(CFG_MAXCONNECTIONS_PER_HOST_PREAUTH);
    char kb[INET6_ADDRSTRLEN + 8];
    uint64_t host = preauth ? shm_hash_str(host_key(addr ? addr : "", kb, sizeof(kb))) : 0;
    bool evicted = false;
    int victim = -1;
    uint64_t victim_age = 0;
    lock();
    if (preauth && cap > 0) {
        struct slot *h = find(sh->pahosts, PREAUTH_HOST_SLOTS, host, false);
        if (h && h->count >= (unsigned long long)cap) {
            unlock();
            return LIMITS_HOST_PREAUTH;
        }
    }
    if (!total_try_add(max)) {
        /* Full: the oldest pre-auth connection makes room (connlimits.h). */
        if (!pa_evict_head(&victim, &victim_age)) {
            unlock();
            return LIMITS_FULL;
        }
        evicted = true;
        atomic_fetch_add(&sh->total, 1);
    }
    if (my_worker >= 0)
        atomic_fetch_add(&sh->per_worker[my_worker], 1);
    if (preauth) {
        struct slot *h = find(sh->pahosts, PREAUTH_HOST_SLOTS, host, true);
        if (h) {
            h->count++;
            pa->host = host;
        } /* else: table full, fail open */
        if (limits_wake_fd() >= 0)
            pa->slot = pa_take(pa->host, &pa->tag);
    }
    unlock();
    if (evicted) {
        log_notice("limits: maxconnections reached: evicting the oldest unauthenticated connection "
                   "(worker %d, connected %llu.%llu s ago) to admit addr=%s",
                   victim, (unsigned long long)(victim_age / 1000), (unsigned long long)(victim_age % 1000 / 100),
                   addr ? addr : "-");
        wake(victim);
    }
    return LIMITS_ADMITTED;
}

void limits_preauth_end(struct limits_preauth *pa)
{
    if (!sh || (pa->slot < 0 && !pa->host))
        return;
    lock();
    if (pa->slot >= 0 && pa->slot < PA_SLOTS) {
        /* Only our own generation: the master may have freed the slot
         * already (it never does for a live worker, but be strict). */
        uint64_t t = atomic_load(&sh->pa[pa->slot].tag);
        if (t >> 2 == pa->tag >> 2)
            pa_free(pa->slot);
    }
    if (pa->host)
        table_release_locked(sh->pahosts, PREAUTH_HOST_SLOTS, pa->host);
    unlock();
    *pa = (struct limits_preauth)LIMITS_PREAUTH_INIT;
}

void limits_preauth_login(struct limits_preauth *pa)
{
    if (!sh || (pa->slot < 0 && !pa->host)) {
        *pa = (struct limits_preauth)LIMITS_PREAUTH_INIT;
        return;
    }
    bool owed = false, passed = false;
    int victim = -1;
    uint64_t age = 0;
    lock();
    if (pa->slot >= 0 && pa->slot < PA_SLOTS) {
        uint64_t t = atomic_load(&sh->pa[pa->slot].tag);
        if (t >> 2 == pa->tag >> 2) {
            /* Chosen for eviction, but it logged in before its worker
             * closed it: it stays (logged-in sessions are never evicted),
             * and the place it was to free for the connection admitted
             * over maxconnections is owed. The next oldest pre-auth
             * connection pays it; otherwise every login that wins this
             * race (easily timed: LOGIN while the worker is busy, then a
             * new connection) would leave the total one over for good. */
            owed = (t & 3) == PA_EVICT;
            pa_free(pa->slot);
            if (owed)
                passed = pa_evict_head(&victim, &age);
        }
    }
    if (pa->host)
        table_release_locked(sh->pahosts, PREAUTH_HOST_SLOTS, pa->host);
    unlock();
    *pa = (struct limits_preauth)LIMITS_PREAUTH_INIT;
    if (passed) {
        log_notice("limits: a connection chosen for eviction logged in first: evicting the next oldest "
                   "unauthenticated connection instead (worker %d, connected %llu.%llu s ago)",
                   victim, (unsigned long long)(age / 1000), (unsigned long long)(age % 1000 / 100));
        wake(victim);
    } else if (owed) {
        log_notice("limits: a connection chosen for eviction logged in first and no unauthenticated "
                   "connection is left: over maxconnections until one ends");
    }
}

bool limits_preauth_evicted(const struct limits_preauth *pa)
{
    if (!sh || pa->slot < 0 || pa->slot >= PA_SLOTS)
        return false;
    return atomic_load(&sh->pa[pa->slot].tag) == ((pa->tag & ~(uint64_t)3) | PA_EVICT);
}

static int32_t rebuild_buf[PA_SLOTS];

static int by_start(const void *a, const void *b)
{
    uint64_t x = sh->pa[*(const int32_t *)a].start_ms, y = sh->pa[*(const int32_t *)b].start_ms;
    return x < y ? -1 : x > y;
}

/* The lists and the eviction count from the tags alone (the lock is
 * held): ACTIVE slots linked oldest first, EVICT ones counted, the rest
 * freed (a slot half taken by the dead process included). */
static void pa_rebuild(void)
{
    size_t n = 0;
    sh->pa_free = -1;
    sh->evicting = 0;
    if (sh->pa_hwm < 0 || sh->pa_hwm > PA_SLOTS)
        sh->pa_hwm = PA_SLOTS;
    for (int32_t i = sh->pa_hwm; i-- > 0;) {
        struct pa_slot *p = &sh->pa[i];
        uint64_t st = atomic_load(&p->tag) & 3;
        if (st == PA_ACTIVE) {
            rebuild_buf[n++] = i;
        } else if (st == PA_EVICT) {
            sh->evicting++;
        } else {
            atomic_store(&p->tag, (uint64_t)PA_FREE);
            p->prev = -1;
            p->next = sh->pa_free;
            sh->pa_free = i;
        }
    }
    qsort(rebuild_buf, n, sizeof(rebuild_buf[0]), by_start);
    sh->pa_head = sh->pa_tail = -1;
    for (size_t k = 0; k < n; k++) {
        struct pa_slot *p = &sh->pa[rebuild_buf[k]];
        p->prev = sh->pa_tail;
        p->next = -1;
        if (sh->pa_tail >= 0)
            sh->pa[sh->pa_tail].next = rebuild_buf[k];
        else
            sh->pa_head = rebuild_buf[k];
        sh->pa_tail = rebuild_buf[k];
    }
}

/* The master reaped worker idx: its pre-auth places go (the worker's
 * connections are gone with it). */
static void preauth_worker_gone(int idx)
{
    lock();
    for (int32_t i = 0; i < sh->pa_hwm; i++) {
        struct pa_slot *p = &sh->pa[i];
        if (atomic_load(&p->tag) == PA_FREE || p->owner != idx)
            continue;
        if (p->host)
            table_release_locked(sh->pahosts, PREAUTH_HOST_SLOTS, p->host);
        pa_free(i);
    }
    unlock();
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

/* An entry expires when its last failure is 10 minutes old and nothing
 * it scheduled is still to come. */
static bool fail_expired(const struct slot *s, uint32_t now, uint64_t nowms)
{
    return now - s->stamp > FAIL_WINDOW_S && s->next_ms <= nowms;
}

/* Current failure count for h, expiring an idle entry. Caller holds the
 * lock. */
static struct slot *fail_slot(uint64_t h, bool create, uint32_t now)
{
    uint64_t nowms = now_ms();
    struct slot *s = find(sh->fails, FAIL_SLOTS, h, false);
    if (s && fail_expired(s, now, nowms)) {
        erase(sh->fails, FAIL_SLOTS, s);
        s = NULL;
    }
    if (!s && create) {
        s = find(sh->fails, FAIL_SLOTS, h, true);
        if (!s) {
            /* Neighbourhood full: evict expired entries and retry. */
            for (size_t i = 0; i < FAIL_SLOTS; i++)
                while (sh->fails[i].key && fail_expired(&sh->fails[i], now, nowms))
                    erase(sh->fails, FAIL_SLOTS, &sh->fails[i]);
            s = find(sh->fails, FAIL_SLOTS, h, true);
        }
    }
    return s;
}

/* Schedule one throttled event of the address (the lock is held): one
 * step after the release of the last event scheduled for it, or one step
 * from now when none is pending. Returns the wait in ms. This is what
 * keeps N parked attempts from being released together (connlimits.h).
 * An event that could only run past preauth_timeout reserves nothing:
 * its connection hits its pre-auth deadline first, and a reservation
 * nobody uses would only push later attempts further out. */
static unsigned schedule(struct slot *s, unsigned step)
{
    if (step == 0)
        return 0;
    uint64_t now = now_ms();
    uint64_t at = MAX(now, s->next_ms) + step;
    uint64_t wait = at - now;
    if (wait <= (uint64_t)config_int(CFG_PREAUTH_TIMEOUT) * 1000)
        s->next_ms = at;
    return wait > UINT_MAX ? UINT_MAX : (unsigned)wait;
}

/* Failed logins are counted per host like pre-auth connections: an IPv6
 * client holds its whole /64, and keyed by the single address it would
 * get a fresh count (no delay growth, no predelay) for every one of its
 * 2^64 source addresses. */
static uint64_t fail_key(const char *addr)
{
    char kb[INET6_ADDRSTRLEN + 8];
    return shm_hash_str(host_key(addr ? addr : "", kb, sizeof(kb)));
}

unsigned limits_auth_failure(const char *addr)
{
    if (!ensure())
        return 0;
    uint64_t h = fail_key(addr);
    uint32_t now = now_s();
    unsigned delay;
    lock();
    struct slot *s = fail_slot(h, true, now);
    if (s) {
        if (s->count < UINT32_MAX)
            s->count++;
        s->stamp = now;
        delay = schedule(s, delay_for(s->count));
    } else {
        delay = delay_for(1); /* table full: fail open, unserialised */
    }
    unlock();
    return delay;
}

void limits_auth_success(const char *addr)
{
    if (!sh)
        return;
    uint64_t h = fail_key(addr);
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
    uint64_t h = fail_key(addr);
    unsigned delay = 0;
    lock();
    struct slot *s = fail_slot(h, false, now_s());
    if (s && s->count >= (unsigned long long)limit)
        delay = schedule(s, delay_for(s->count));
    unlock();
    return delay;
}
