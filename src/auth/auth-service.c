/* auth-service.c - the authentication service (see auth-service.h).
 *
 * Everything here runs on the worker's loop thread except the passdb
 * calls, which run as jobs on the pool (jobs.h) and touch only their
 * request. A request is owned by the service from auth_verify until its
 * reply is delivered; its password copy is wiped then.
 */
#include "auth-service.h"
#include "auth-cache.h"
#include "config.h"
#include "jobs.h"
#include "log.h"
#include <openssl/crypto.h>
#include <time.h>

/* The one passdb today; issue 13 adds PAM, LDAP and SQL next to it,
 * chosen by a "passdb" setting (auth_service_set_passdb). */
static const struct auth_passdb *passdb = &auth_passdb_userdb;

struct areq {
    struct areq *next;                  /* in a stage queue */
    const struct auth_passdb *pdb;
    char service[16];
    char peer[64];
    char user[AUTH_MAX_USERNAME + 1];   /* canonical, or the raw name when invalid */
    bool valid;
    char *password;
    struct auth_passdb_entry entry;
    struct auth_cache_key key;
    bool have_key;
    bool verified;                      /* verify's answer */
    auth_reply_fn cb;
    void *ctx;
    struct auth_reply *sync_out;        /* set while auth_verify runs */
    bool *sync_done;
};

struct stage {
    struct areq *head, *tail;
    unsigned running;
    const char *kind;
    job_run_fn run;
    job_done_fn done;
};

static void lookup_run(struct job *job, void *arg);
static void lookup_done(void *arg);
static void verify_run(struct job *job, void *arg);
static void verify_done(void *arg);

static struct {
    struct auth_cache *cache;           /* NULL: not a worker, nothing cached */
    struct stage lookup, verify;
    size_t pending;
} S = {
    .lookup = {.kind = "auth-lookup", .run = lookup_run, .done = lookup_done},
    .verify = {.kind = "auth", .run = verify_run, .done = verify_done},
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void configure_cache(void)
{
    if (S.cache)
        auth_cache_configure(S.cache, (uint64_t)config_int(CFG_AUTH_CACHE_TTL) * 1000,
                             (uint64_t)config_int(CFG_AUTH_CACHE_NEGATIVE_TTL) * 1000,
                             (size_t)config_int(CFG_AUTH_CACHE_SIZE));
}

/* ---- stages ----------------------------------------------------------------- */

static unsigned stage_limit(const struct stage *st)
{
    if (st == &S.lookup)
        return AUTH_LOOKUP_CONCURRENCY;
    long long n = config_int(CFG_AUTH_HASH_CONCURRENCY);
    return n < 1 ? 1 : (unsigned)n;
}

/* Start queued requests while the stage has room. Without a pool a job
 * runs right inside jobs_submit, done callback included, so this may
 * recurse through a whole request; the counters are consistent at every
 * submit. */
static void stage_pump(struct stage *st)
{
    while (st->head && st->running < stage_limit(st)) {
        struct areq *r = st->head;
        st->head = r->next;
        if (!st->head)
            st->tail = NULL;
        r->next = NULL;
        st->running++;
        jobs_submit(st->kind, NULL, st->run, st->done, r);
    }
}

static void stage_push(struct stage *st, struct areq *r)
{
    r->next = NULL;
    if (st->tail)
        st->tail->next = r;
    else
        st->head = r;
    st->tail = r;
    stage_pump(st);
}

/* ---- the end of a request ------------------------------------------------------ */

static const char *status_name(enum auth_status s)
{
    switch (s) {
    case AUTH_STATUS_OK: return "ok";
    case AUTH_STATUS_WRONG: return "wrong password";
    case AUTH_STATUS_NOUSER: return "unknown user";
    case AUTH_STATUS_LOCKED: return "locked";
    case AUTH_STATUS_TEMPFAIL: return "temporary failure";
    }
    return "?";
}

static void finish(struct areq *r, enum auth_status status, bool cached)
{
    struct auth_reply rep;
    memset(&rep, 0, sizeof(rep));
    rep.status = status;
    rep.cached = cached;
    if (r->valid)
        snprintf(rep.user, sizeof(rep.user), "%s", r->user);
    if (cached)
        log_debug("auth: %s: user=%s answered from the cache (%s)", r->service, r->user, status_name(status));
    if (r->password) {
        OPENSSL_cleanse(r->password, strlen(r->password));
        free(r->password);
    }
    auth_reply_fn cb = r->cb;
    void *ctx = r->ctx;
    struct auth_reply *out = r->sync_out;
    bool *done = r->sync_done;
    OPENSSL_cleanse(r, sizeof(*r));
    free(r);
    S.pending--;
    if (out) {
        *out = rep;
        *done = true;
        return;
    }
    cb(&rep, ctx);
}

/* ---- lookup ------------------------------------------------------------------------ */

static void lookup_run(struct job *job, void *arg)
{
    (void)job;
    struct areq *r = arg;
    r->pdb->lookup(r->service, r->user, &r->entry);
}

static void after_lookup(struct areq *r)
{
    switch (r->entry.status) {
    case PASSDB_TEMPFAIL:
        log_err("auth: %s: passdb %s cannot look up user=%s addr=%s: %s", r->service, r->pdb->name, r->user,
                r->peer, r->entry.error ? r->entry.error : "error");
        finish(r, AUTH_STATUS_TEMPFAIL, false);
        return;
    case PASSDB_LOCKED:
        /* never cached: each login reads the lock; the dummy hash keeps
         * the answer as slow as a wrong password's */
        stage_push(&S.verify, r);
        return;
    case PASSDB_FOUND:
    case PASSDB_NOUSER:
        break;
    }
    if (S.cache) {
        configure_cache(); /* TTLs as configured now (SIGHUP) */
        auth_cache_key(S.cache, r->user, r->password, r->entry.status == PASSDB_FOUND ? r->entry.fingerprint : "",
                       &r->key);
        r->have_key = true;
        enum auth_cache_hit hit = auth_cache_lookup(S.cache, &r->key, now_ms());
        if (hit == AUTH_CACHE_POSITIVE && r->entry.status == PASSDB_FOUND) {
            finish(r, AUTH_STATUS_OK, true);
            return;
        }
        if (hit == AUTH_CACHE_NEGATIVE) {
            finish(r, r->entry.status == PASSDB_FOUND ? AUTH_STATUS_WRONG : AUTH_STATUS_NOUSER, true);
            return;
        }
    }
    stage_push(&S.verify, r);
}

static void lookup_done(void *arg)
{
    struct areq *r = arg;
    S.lookup.running--;
    stage_pump(&S.lookup);
    after_lookup(r);
}

/* ---- verify ------------------------------------------------------------------------ */

static void verify_run(struct job *job, void *arg)
{
    (void)job;
    struct areq *r = arg;
    r->verified = r->pdb->verify(r->service, r->user, r->password, &r->entry);
}

static void verify_done(void *arg)
{
    struct areq *r = arg;
    S.verify.running--;
    stage_pump(&S.verify);
    enum auth_status st;
    switch (r->entry.status) {
    case PASSDB_FOUND:
        st = r->verified ? AUTH_STATUS_OK : AUTH_STATUS_WRONG;
        break;
    case PASSDB_LOCKED:
        st = AUTH_STATUS_LOCKED;
        break;
    default:
        st = AUTH_STATUS_NOUSER;
        break;
    }
    if (S.cache && r->have_key && st != AUTH_STATUS_LOCKED)
        auth_cache_insert(S.cache, &r->key, st == AUTH_STATUS_OK, now_ms());
    finish(r, st, false);
}

/* ---- interface ----------------------------------------------------------------------- */

bool auth_verify(const struct auth_request *req, auth_reply_fn cb, void *ctx, struct auth_reply *now)
{
    struct areq *r = xcalloc(1, sizeof(*r));
    S.pending++;
    r->pdb = passdb;
    snprintf(r->service, sizeof(r->service), "%s", req->service ? req->service : "?");
    snprintf(r->peer, sizeof(r->peer), "%s", req->peer ? req->peer : "-");
    const char *u = req->user ? req->user : "";
    r->valid = strlen(u) <= AUTH_MAX_USERNAME && userdb_normalize_name(u, r->user);
    if (!r->valid) {
        /* Only ever part of a cache key's MAC (an unknown user). */
        snprintf(r->user, sizeof(r->user), "%s", u);
    }
    r->password = xstrdup(req->password ? req->password : "");
    r->cb = cb;
    r->ctx = ctx;
    bool done = false;
    r->sync_out = now;
    r->sync_done = &done;
    if (r->valid) {
        stage_push(&S.lookup, r);
    } else {
        r->entry.status = PASSDB_NOUSER;
        after_lookup(r);
    }
    if (done)
        return true;
    /* still in a queue or on the pool: r is alive */
    r->sync_out = NULL;
    r->sync_done = NULL;
    return false;
}

void auth_service_init(void)
{
    if (!S.cache)
        S.cache = auth_cache_new(NULL);
    configure_cache();
}

void auth_service_reload(void)
{
    configure_cache();
}

void auth_service_flush_user(const char *user)
{
    if (!S.cache || !user)
        return;
    size_t n = auth_cache_flush_user(S.cache, user);
    if (n)
        log_info("auth: dropped %zu cached verification(s) of user=%s", n, user);
    else
        log_debug("auth: nothing cached for user=%s", user);
}

void auth_service_shutdown(void)
{
    auth_cache_free(S.cache);
    S.cache = NULL;
}

size_t auth_service_pending(void)
{
    return S.pending;
}

size_t auth_service_queued(void)
{
    size_t n = 0;
    for (const struct areq *r = S.verify.head; r; r = r->next)
        n++;
    return n;
}

void auth_service_set_passdb(const struct auth_passdb *pdb)
{
    passdb = pdb ? pdb : &auth_passdb_userdb;
}
