/* auth-service.h - the authentication service: every password a client
 * sends (IMAP LOGIN and AUTHENTICATE PLAIN/LOGIN, POP3 USER/PASS and AUTH,
 * LMTP AUTH, later ManageSieve) is checked here, off the event loop.
 *
 * A protocol front-end calls auth_verify() on its loop thread with what
 * the client sent, parks the session (input paused, kept alive) and gets
 * the answer in a callback on the same loop thread: ok, wrong password,
 * unknown user, locked account, or a temporary failure. It applies the
 * failed-login delays (connlimits.h) to every failure exactly as before;
 * the service never answers faster than a protocol would let a client see.
 *
 * A request goes through two stages, each a job on the worker's pool
 * (jobs.h), each with a FIFO queue of its own on the loop thread (waiting
 * requests take no pool thread):
 *
 *   lookup  (job kind "auth-lookup", at most AUTH_LOOKUP_CONCURRENCY at
 *           once): the passdb finds the user and a fingerprint of the
 *           stored credential (users.db: the crypt hash);
 *   cache   (loop thread): HMAC of (user, password, fingerprint) looked up
 *           in the credential cache (auth-cache.h); a hit answers at once;
 *   verify  (job kind "auth", at most auth_hash_concurrency at once): the
 *           passdb checks the password (yescrypt: tens of milliseconds of
 *           CPU; a login storm never takes more cores than that bound),
 *           and the outcome is cached: successes for auth_cache_ttl,
 *           wrong passwords and unknown users for auth_cache_negative_ttl.
 *
 * An unknown user, an invalid name and a locked account also pay a
 * (dummy) hash in the verify stage, so that the time to the answer does
 * not tell them from a wrong password; a negative cache hit is as fast as
 * a positive one. Locked accounts are never cached: the lookup, which
 * every login makes, reads the lock.
 *
 * Flushes: userdb_set_change_hook (auth.h) lets the daemon and the CLI
 * send NOTIFY_AUTH_FLUSH (notify.h) after any change of an account; each
 * worker then calls auth_service_flush_user. Correctness does not depend
 * on the datagram arriving: the fingerprint in the MAC already makes the
 * old password's entry unreachable after a password change, and the
 * lookup sees deletes and locks.
 *
 * ---- passdb backends --------------------------------------------------
 *
 * Where passwords are checked is a table of operations (struct
 * auth_passdb); users.db is the one backend today (passdb-userdb.c).
 * PAM, LDAP and SQL (issue 13) plug in by adding a struct auth_passdb
 * and listing it in auth-service.c's passdb table (chosen by a "passdb"
 * setting), with no change to any protocol: the front-ends only ever see
 * auth_verify and its reply. A backend's two functions run on pool
 * threads and must not touch the configuration, the event loop or the
 * log (they report through the entry; errors are logged by the service
 * on the loop); they may block (network lookups), which is why they run
 * there. Guidelines:
 *   - lookup fills the entry's status and a fingerprint of the stored
 *     credential: anything that changes whenever the password changes
 *     (LDAP: pwdChangedTime or the userPassword value; SQL: the hash
 *     column). A backend whose answer depends on the service (PAM stacks
 *     per service) appends the service to the fingerprint, so that the
 *     cache keeps the services apart. A backend that cannot tell (PAM) may
 *     leave it empty: the cache then relies on its TTL and the flushes.
 *     Put what verify needs into the private part (priv, up to
 *     AUTH_PASSDB_PRIV_MAX bytes); it is wiped after the request.
 *   - verify checks the password against the entry (PAM: pam_authenticate;
 *     LDAP: a bind) and is called for every status, so that a backend can
 *     spend comparable time on unknown users.
 */
#ifndef DARIUS_AUTH_SERVICE_H
#define DARIUS_AUTH_SERVICE_H

#include "auth.h"

enum auth_status {
    AUTH_STATUS_OK,         /* the password is right and the account may log in */
    AUTH_STATUS_WRONG,      /* wrong password for an existing account */
    AUTH_STATUS_NOUSER,     /* no such account (or an invalid name) */
    AUTH_STATUS_LOCKED,     /* the account exists but may not log in */
    AUTH_STATUS_TEMPFAIL,   /* the passdb could not answer (I/O error) */
};

struct auth_request {
    const char *service;    /* "imap", "pop", "lmtp", "sieve" */
    const char *user;       /* as the client sent it (normalized here) */
    const char *password;   /* at most AUTH_MAX_PASSWORD bytes, no NUL */
    const char *peer;       /* the client's address, for logs and backends */
};

struct auth_reply {
    enum auth_status status;
    /* the canonical user id (userdb_normalize_name) when the name was
     * valid, else "" */
    char user[AUTH_MAX_USERNAME + 1];
    bool cached;            /* answered from the credential cache */
};

typedef void (*auth_reply_fn)(const struct auth_reply *reply, void *ctx);

/* Check a password, on the loop thread. The request is copied (the caller
 * may wipe its password as soon as this returns). Returns true when the
 * answer is already in *now (no pool: unit tests, fuzz targets, the CLI)
 * and cb is never called; otherwise false, and cb(reply, ctx) is called
 * exactly once later from the event loop - also when the client went
 * away meanwhile (the front-end keeps ctx alive until then). */
bool auth_verify(const struct auth_request *req, auth_reply_fn cb, void *ctx, struct auth_reply *now);

/* Worker start: a fresh random cache key and the cache sized by the
 * configuration. Without it (unit tests, fuzz targets, the CLI) nothing
 * is cached and every request is verified. */
void auth_service_init(void);
/* SIGHUP: new TTLs apply to the entries already cached, a smaller
 * auth_cache_size evicts at once. */
void auth_service_reload(void);
/* NOTIFY_AUTH_FLUSH for user: forget its cached verifications. */
void auth_service_flush_user(const char *user);
/* Worker exit (after jobs_drain): free the cache, wipe its key. */
void auth_service_shutdown(void);

/* Requests not yet answered (tests, stats), and of them those waiting in
 * the verify stage's queue for a hash slot (not on the pool). */
size_t auth_service_pending(void);
size_t auth_service_queued(void);

/* ---- passdb interface (see the top) ---------------------------------- */

enum auth_passdb_status {
    PASSDB_FOUND,           /* the account exists and may log in */
    PASSDB_NOUSER,
    PASSDB_LOCKED,
    PASSDB_TEMPFAIL,
};

#define AUTH_PASSDB_FP_MAX 512
#define AUTH_PASSDB_PRIV_MAX 512

struct auth_passdb_entry {
    enum auth_passdb_status status;
    char fingerprint[AUTH_PASSDB_FP_MAX + 1];
    unsigned char priv[AUTH_PASSDB_PRIV_MAX];   /* backend's own (wiped) */
    const char *error;      /* static text for the log on TEMPFAIL */
};

struct auth_passdb {
    const char *name;
    /* Pool thread. user is canonical (normalized on the loop). */
    void (*lookup)(const char *service, const char *user, struct auth_passdb_entry *out);
    /* Pool thread, at most auth_hash_concurrency at once per worker.
     * Called for every lookup status but TEMPFAIL; true only when status
     * is FOUND and the password is right. */
    bool (*verify)(const char *service, const char *user, const char *password,
                   const struct auth_passdb_entry *entry);
};

extern const struct auth_passdb auth_passdb_userdb;
/* The passdb requests go to (users.db by default): what a "passdb"
 * setting will choose (issue 13); unit tests install a fake one. Only
 * while no request is pending. */
void auth_service_set_passdb(const struct auth_passdb *pdb);

/* At most this many lookups at once per worker (users.db lookups take
 * microseconds; directory backends will want their own bound). */
#define AUTH_LOOKUP_CONCURRENCY 2

#endif
