/* spool-limits.c - spooled client data per user and in total, shared by
 * all workers (spool-limits.h).
 *
 * One anonymous MAP_SHARED region created by the master before fork,
 * guarded by a robust process-shared mutex (a worker dying inside the
 * few-probe critical section cannot wedge the others: the next locker
 * gets EOWNERDEAD and takes over). Two open-addressing tables keyed by
 * 64-bit hashes with backward-shift deletion (shm-table.h; entries at 0
 * bytes are removed):
 *   users   user -> bytes reserved by that user (what the limit checks)
 *   owners  (user, worker) -> the part of those bytes held by one worker,
 *           so that the master can subtract exactly what a dead worker
 *           held from each user (and per_worker[] from the total).
 */
#include "spool-limits.h"
#include "config.h"
#include "log.h"
#include "shm-table.h"
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>

#define SPOOL_MAX_WORKERS 256
#define USER_SLOTS 4096
#define OWNER_SLOTS 8192

struct slot {
    uint64_t key;       /* 0 = empty */
    uint64_t user;      /* owners: the user key */
    uint64_t bytes;
    int32_t worker;     /* owners: worker index, -1 outside a worker */
    uint32_t pad;
};
static_assert(offsetof(struct slot, key) == 0, "shm-table.h: the key is a slot's first member");
static_assert((USER_SLOTS & (USER_SLOTS - 1)) == 0 && (OWNER_SLOTS & (OWNER_SLOTS - 1)) == 0,
              "shm-table.h: table sizes are powers of two");

struct shared {
    pthread_mutex_t lock;
    uint64_t total;
    uint64_t per_worker[SPOOL_MAX_WORKERS];
    struct slot users[USER_SLOTS];
    struct slot owners[OWNER_SLOTS];
};

static struct shared *sh;
static int my_worker = -1;

bool spool_limits_init(void)
{
    if (sh)
        return true;
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        log_err("spool limits: mmap: %s", strerror(errno));
        return false;
    }
    struct shared *s = p; /* zero-filled by the kernel */
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&s->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0) {
        munmap(p, sizeof(struct shared));
        return false;
    }
    sh = s;
    return true;
}

static bool ensure(void)
{
    return sh || spool_limits_init();
}

void spool_limits_set_worker(int idx)
{
    my_worker = idx >= 0 && idx < SPOOL_MAX_WORKERS ? idx : -1;
}

static void lock(void)
{
    if (pthread_mutex_lock(&sh->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&sh->lock);
}

static void unlock(void)
{
    pthread_mutex_unlock(&sh->lock);
}

static uint64_t user_key(const char *s)
{
    return shm_hash_str(s ? s : "");
}

static uint64_t owner_key(uint64_t user, int worker)
{
    return shm_hash_mix(user + (uint64_t)(worker + 2) * 0x9e3779b97f4a7c15ULL);
}

/* The tables' operations, typed for struct slot (the lock is held). */
static struct slot *find(struct slot *t, size_t n, uint64_t key, bool create)
{
    return shm_table_find(t, n, sizeof(*t), key, create);
}

static void erase(struct slot *t, size_t n, struct slot *s)
{
    shm_table_erase(t, n, sizeof(*t), s);
}

static void sub(uint64_t *v, uint64_t n)
{
    *v = *v >= n ? *v - n : 0;
}

/* Take n bytes off a table entry, removing it at 0. */
static void take(struct slot *t, size_t n, uint64_t key, uint64_t bytes)
{
    struct slot *s = find(t, n, key, false);
    if (!s)
        return;
    sub(&s->bytes, bytes);
    if (s->bytes == 0)
        erase(t, n, s);
}

enum spool_verdict spool_reserve(struct spool_resv *r, const char *user, uint64_t n)
{
    if (!ensure())
        return SPOOL_OK;    /* no shared memory at all: fail open */
    long long max_total = config_int(CFG_SPOOL_MAX_TOTAL);
    long long max_user = config_int(CFG_SPOOL_MAX_PER_USER);
    uint64_t uk = user_key(user);
    enum spool_verdict v = SPOOL_OK;
    lock();
    if (max_total > 0 && (n > (uint64_t)max_total || sh->total > (uint64_t)max_total - n)) {
        v = SPOOL_OVER_TOTAL;
        goto out;
    }
    /* One user per reservation (a session does not change users). */
    bool per_user = user && (r->user_bytes == 0 || r->user == uk);
    struct slot *u = per_user ? find(sh->users, USER_SLOTS, uk, true) : NULL;
    struct slot *o = u ? find(sh->owners, OWNER_SLOTS, owner_key(uk, my_worker), true) : NULL;
    if (u && !o) {
        /* owners neighbourhood full: fail open for the per-user part */
        if (u->bytes == 0)
            erase(sh->users, USER_SLOTS, u);
        u = NULL;
    }
    if (u) {
        if (max_user > 0 && (n > (uint64_t)max_user || u->bytes > (uint64_t)max_user - n)) {
            if (o->bytes == 0)
                erase(sh->owners, OWNER_SLOTS, o);
            if (u->bytes == 0)
                erase(sh->users, USER_SLOTS, u);
            v = SPOOL_OVER_USER;
            goto out;
        }
        u->bytes += n;
        o->bytes += n;
        o->user = uk;
        o->worker = my_worker;
        r->user = uk;
        r->user_bytes += n;
    }
    sh->total += n;
    if (my_worker >= 0)
        sh->per_worker[my_worker] += n;
    r->bytes += n;
out:
    unlock();
    return v;
}

void spool_release(struct spool_resv *r)
{
    if (!r->bytes && !r->user_bytes)
        return;
    if (sh) {
        lock();
        sub(&sh->total, r->bytes);
        if (my_worker >= 0)
            sub(&sh->per_worker[my_worker], r->bytes);
        if (r->user_bytes) {
            take(sh->users, USER_SLOTS, r->user, r->user_bytes);
            take(sh->owners, OWNER_SLOTS, owner_key(r->user, my_worker), r->user_bytes);
        }
        unlock();
    }
    memset(r, 0, sizeof(*r));
}

void spool_limits_worker_exited(int idx)
{
    if (!sh || idx < 0 || idx >= SPOOL_MAX_WORKERS)
        return;
    lock();
    sub(&sh->total, sh->per_worker[idx]);
    sh->per_worker[idx] = 0;
    /* Erasing shifts later entries back into slot i: look at i again. */
    for (size_t i = 0; i < OWNER_SLOTS; i++) {
        while (sh->owners[i].key && sh->owners[i].worker == idx) {
            take(sh->users, USER_SLOTS, sh->owners[i].user, sh->owners[i].bytes);
            erase(sh->owners, OWNER_SLOTS, &sh->owners[i]);
        }
    }
    unlock();
}

uint64_t spool_reserved_total(void)
{
    if (!sh)
        return 0;
    lock();
    uint64_t t = sh->total;
    unlock();
    return t;
}

uint64_t spool_reserved_user(const char *user)
{
    if (!sh)
        return 0;
    uint64_t uk = user_key(user);
    lock();
    struct slot *u = find(sh->users, USER_SLOTS, uk, false);
    uint64_t b = u ? u->bytes : 0;
    unlock();
    return b;
}
