/* spool-limits.h - how much client data the server holds on its behalf
 * before it is committed (IMAP APPEND literals), per user and in total,
 * over all worker processes.
 *
 * A front-end reserves the announced size of a literal BEFORE accepting
 * it (before the "+" continuation of a synchronising literal, before
 * reading a non-synchronising one) and releases the reservation when the
 * data is committed or thrown away, or the connection dies. Limits:
 * spool_max_per_user and spool_max_total (bytes, 0 = unlimited), read at
 * each reservation so a reload applies at once.
 *
 * The counters live in one anonymous MAP_SHARED region that the master
 * creates before forking (spool_limits_init). Each reservation is also
 * booked to the worker that made it, so when a worker dies with data
 * spooled (its temporary files vanish with it: they are unlinked) the
 * master gives the dead worker's bytes back (spool_limits_worker_exited),
 * per user and in total, as connlimits does for connections.
 *
 * Tables are fixed-size; if a user's entry cannot be placed (thousands of
 * users spooling at once) the per-user limit fails open for that
 * reservation, the total is always enforced.
 */
#ifndef DARIUS_SPOOL_LIMITS_H
#define DARIUS_SPOOL_LIMITS_H

#include "common.h"

/* What one holder (e.g. one IMAP command being read) has reserved.
 * Zero-initialised = nothing. All of it belongs to one user. */
struct spool_resv {
    uint64_t user;          /* key of the user (0 when nothing counted per user) */
    uint64_t bytes;         /* counted in the total */
    uint64_t user_bytes;    /* of which counted against the user */
};

enum spool_verdict {
    SPOOL_OK,
    SPOOL_OVER_USER,        /* spool_max_per_user would be exceeded */
    SPOOL_OVER_TOTAL,       /* spool_max_total would be exceeded */
};

/* Create the shared region (master, before fork). Without it (a single
 * process: tests, CLI) the first use makes private memory. */
bool spool_limits_init(void);
void spool_limits_set_worker(int idx);      /* in the worker after fork */
void spool_limits_worker_exited(int idx);   /* in the master when it reaps one */

/* Add n bytes for user to r. On a refusal nothing is added. user NULL:
 * counted in the total only (data nobody logged in for: LMTP). */
enum spool_verdict spool_reserve(struct spool_resv *r, const char *user, uint64_t n);
/* Give back everything in r (r is zeroed). No-op for an empty r. */
void spool_release(struct spool_resv *r);

/* Current counts (diagnostics and tests). */
uint64_t spool_reserved_total(void);
uint64_t spool_reserved_user(const char *user);

#endif
