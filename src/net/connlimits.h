/* connlimits.h - connection and login limits shared by all worker processes.
 *
 * The master creates one anonymous MAP_SHARED region before forking
 * workers; counters in it are updated with atomics, so every worker sees
 * the same totals. Tables are fixed-size open-addressing hashes keyed by
 * address / user name hash; on overflow we fail open for the per-key
 * limits (never refuse service because a table is full) but always
 * enforce the global maxconnections.
 *
 * Protocol-neutral: IMAP, POP3 and LMTP use it (ManageSieve later).
 */
#ifndef DARIUS_CONNLIMITS_H
#define DARIUS_CONNLIMITS_H

#include "common.h"

/* Create the shared region (master, before fork). Safe to call in a single
 * process (tests, CLI): then it is just private memory. */
bool limits_init(void);

/* Per-worker bookkeeping so the master can repair the global count when
 * a worker dies with connections open (their per-address counts leak;
 * the total does not). */
#define LIMITS_MAX_WORKERS 256
void limits_set_worker(int idx);       /* in the worker after fork */
void limits_worker_exited(int idx);    /* in the master when it reaps one */

/* Connection accounting: maxconnections over all workers and protocols.
 * acquire returns false when it would be exceeded; then do not release.
 * addr is kept for symmetry and logging; per-address limits apply to
 * logins (below), as Cyrus's maxlogins_per_host does. */
bool limits_conn_acquire(const char *addr);
void limits_conn_release(const char *addr);
unsigned limits_conn_total(void);

/* ---- pre-authentication connections ------------------------------------
 *
 * A connection is "pre-auth" from accept until it authenticates (IMAP,
 * POP3) or, for LMTP over TCP, until AUTH or its first accepted MAIL
 * (lmtp-server.c explains why). Pre-auth connections
 *  - are capped per client address over all workers and protocols
 *    (maxconnections_per_host_preauth; IPv6 addresses count per /64, as
 *    one host usually owns the whole /64), and
 *  - can be evicted: when maxconnections is reached, a new connection
 *    takes the place of the oldest pre-auth connection of any worker and
 *    protocol instead of being refused. The acceptor marks that
 *    connection's slot in the shared region (under the table lock, so two
 *    acceptors never pick the same one) and wakes its worker through the
 *    worker's wake fd (an eventfd created by the master before fork); the
 *    worker closes every session whose handle limits_preauth_evicted()
 *    reports, unless it authenticated meanwhile (then it stays: logged-in
 *    sessions are never evicted). Until the evicted connection is gone
 *    the total may exceed maxconnections by the evictions in flight
 *    (bounded).
 * The pre-auth deadline (preauth_timeout) is enforced by each front-end's
 * own timer. */
struct limits_preauth {
    int32_t slot;       /* eviction table index, -1 = not evictable */
    uint64_t tag;       /* the slot's tag when taken (generation) */
    uint64_t host;      /* per-host key counted, 0 = none */
};
#define LIMITS_PREAUTH_INIT {-1, 0, 0}

enum limits_admit {
    LIMITS_ADMITTED,        /* counted in maxconnections; release as usual */
    LIMITS_FULL,            /* maxconnections reached, nothing to evict */
    LIMITS_HOST_PREAUTH,    /* maxconnections_per_host_preauth reached */
};

/* At accept, instead of limits_conn_acquire: count the connection and,
 * with preauth, its pre-auth place for addr (filled into *pa; end it with
 * limits_preauth_end). Takes nothing unless LIMITS_ADMITTED. */
enum limits_admit limits_conn_admit(const char *addr, bool preauth, struct limits_preauth *pa);
/* The connection is closing: free its per-host count and eviction slot.
 * Idempotent. */
void limits_preauth_end(struct limits_preauth *pa);
/* The connection logged in: the same, and if it had been chosen for
 * eviction meanwhile (it stays: logged-in sessions are never evicted),
 * the next oldest pre-auth connection is chosen in its place, so that
 * the connection admitted for it does not leave the total over
 * maxconnections for good. Idempotent. */
void limits_preauth_login(struct limits_preauth *pa);
/* True when another worker chose this connection for eviction. */
bool limits_preauth_evicted(const struct limits_preauth *pa);
/* Master, before forking n workers: one wake fd per worker. Without it
 * (CLI, tests) pre-auth connections are still capped but not evicted. */
bool limits_init_wakeups(size_t nworkers);
/* This worker's wake fd (readable after an eviction was asked of it), or
 * -1; limits_wake_drain() clears it before the sessions are scanned. */
int limits_wake_fd(void);
void limits_wake_drain(void);

/* Logged-in sessions: maxlogins_per_user per user and maxlogins_per_host
 * per client address (0 = unlimited for each). Returns false (and takes
 * nothing) when either would be exceeded; *which (may be NULL) then says
 * "user" or "host". Release with the same user and addr. */
bool limits_login_acquire(const char *user, const char *addr, const char **which);
void limits_login_release(const char *user, const char *addr);

/* Failed-authentication throttling per client address (an IPv6 address
 * counts for its /64, as for the pre-auth cap). limits_auth_failure
 * records a failure and returns the delay in milliseconds to apply before
 * answering; the step grows with recent failures (auth_failure_delay
 * seconds, doubling past auth_failures_per_host failures within 10
 * minutes, capped at 30 s). limits_auth_predelay returns the delay to
 * apply before even checking an attempt from an address already at
 * auth_failures_per_host (0 below it).
 *
 * Both are serialised per address: every delayed event (a failure's
 * answer, an over-limit attempt) is scheduled one step after the
 * previous one of that address is released, never at the same moment,
 * so N parked attempts are released one per step rather than in a burst.
 * An event that could only run beyond preauth_timeout from now reserves
 * nothing: its connection reaches its pre-auth deadline first.
 * A success clears the address's count and schedule. */
unsigned limits_auth_failure(const char *addr);
void limits_auth_success(const char *addr);
unsigned limits_auth_predelay(const char *addr);

#endif
