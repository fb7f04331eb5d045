/* connlimits.h - connection and login limits shared by all worker processes.
 *
 * The master creates one anonymous MAP_SHARED region before forking
 * workers; counters in it are updated with atomics, so every worker sees
 * the same totals. Tables are fixed-size open-addressing hashes keyed by
 * address / user name hash; on overflow we fail open for the per-key
 * limits (never refuse service because a table is full) but always
 * enforce the global maxconnections.
 *
 * Protocol-neutral: IMAP now, POP3/LMTP/ManageSieve later use it.
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

/* Logged-in sessions: maxlogins_per_user per user and maxlogins_per_host
 * per client address (0 = unlimited for each). Returns false (and takes
 * nothing) when either would be exceeded; *which (may be NULL) then says
 * "user" or "host". Release with the same user and addr. */
bool limits_login_acquire(const char *user, const char *addr, const char **which);
void limits_login_release(const char *user, const char *addr);

/* Failed-authentication throttling per client address. record_failure
 * returns the delay in milliseconds to apply before answering (grows with
 * recent failures: auth_failure_delay seconds, doubling past
 * auth_failures_per_host failures within 10 minutes, capped at 30 s).
 * A success clears the address's count. */
unsigned limits_auth_failure(const char *addr);
void limits_auth_success(const char *addr);
/* Delay to apply before even trying (address already over the limit). */
unsigned limits_auth_predelay(const char *addr);

#endif
