/* delivery-sieve.h - Sieve (RFC 5228) at final delivery: the user's active
 * script and the global sieve_before / sieve_after scripts run for one
 * recipient, and their actions carried out (stored, sent, refused).
 *
 * Used by LMTP (the run is a job on the worker's pool, keyed by the
 * recipient's store) and by `darius deliver` (inline). Steps:
 *   1. on the loop thread: delivery_prepare (store open, the keep target
 *      chosen: INBOX or the +detail folder), dsieve_wanted (does this
 *      recipient run Sieve at all), dsieve_opts_from_config (once per
 *      transaction: everything the job needs of the configuration);
 *   2. on any thread (a job): delivery_sieve_run - loads the script
 *      (recompiling and caching it when its compiled form is missing or
 *      of another format version), runs the scripts, stores the copies
 *      (each committed before it returns), sends what leaves the server
 *      through `sendmail`; the outcome is in the job (j->result) and,
 *      for reject/ereject, in ds->reject;
 *   3. on the loop thread: delivery_finish, as without Sieve.
 *
 * Semantics (docs/admin.md, "Sieve at delivery"):
 *   - run-time errors (a script that fails, a fileinto into a bad or full
 *     mailbox, a redirect refused as a loop or to a bad address) keep the
 *     message in INBOX and are logged with user and script: nothing is
 *     lost;
 *   - the copies are stored first, and when none could be stored (the
 *     outcome is then a temporary failure) nothing is sent: the MTA
 *     delivers again and would otherwise get every redirect again;
 *   - a message that must leave the server (redirect, vacation, reject
 *     MDN, notify) and cannot be handed to sendmail now (OUTGOING_FAILED)
 *     makes the outcome a temporary failure, unless a copy was stored or
 *     another of its messages went out (then the message is kept in
 *     INBOX: failing would send that one again); one that can never be
 *     sent (OUTGOING_ERROR: an address unfit for a command line, an
 *     invalid mailto URI) is a run-time error and the message is kept;
 *   - reject and ereject refuse the message for this recipient at LMTP
 *     time (550 5.7.1) when possible, else as an MDN (RFC 5429).
 */
#ifndef DARIUS_DELIVERY_SIEVE_H
#define DARIUS_DELIVERY_SIEVE_H

#include "delivery.h"
#include "sieve.h"

/* At most this many global scripts before and after the user's. */
#define DSIEVE_MAX_GLOBAL 8

/* Copied from the configuration on the loop thread (dsieve_opts_from_
 * config), shared read-only by the jobs of one transaction. */
struct dsieve_opts {
    struct sendmail_opts sendmail;
    char servername[256];
    struct sieve_limits limits;
    struct sieve_run_config run;
    char *before[DSIEVE_MAX_GLOBAL], *after[DSIEVE_MAX_GLOBAL];  /* paths */
    size_t nbefore, nafter;
    char *global_dir;               /* sieve_global_dir: include :global; NULL none */
    bool redirect_allowed;          /* sieve_maxredirects > 0 */
    int64_t vacation_min, vacation_max;
    char sep;                       /* IMAP hierarchy separator */
    char *userprefix, *sharedprefix;
    char *domain_buf, *host_buf;    /* owned strings behind run.domain/host */
    char *spam_buf, *virus_buf;     /* ... and run.spam_header/virus_header (NULL: not configured) */
};
void dsieve_opts_from_config(struct dsieve_opts *o);
void dsieve_opts_free(struct dsieve_opts *o);

/* One recipient's run. In: the envelope (strings owned by the caller,
 * valid until the run returns); lmtp: a refusal can be given in the
 * protocol (550 5.7.1); otherwise reject is sent as an MDN and ereject
 * is reported in ds->reject (`darius deliver` exits EX_NOPERM). Out:
 * reject (xmalloc'd, US-ASCII, for the reply), or NULL. */
struct delivery_sieve {
    const struct dsieve_opts *o;
    struct sieve_envelope env;
    bool lmtp;
    char *reject;
    /* private: the owner's identity for fileinto :create (the rules of
     * IMAP CREATE), made on the loop (it reads the configuration) */
    struct access_who owner;
    bool have_owner;
};
/* On the loop thread, after filling o, env and lmtp: what the run needs
 * of the recipient's identity. dsieve_end (loop) frees it and reject. */
void dsieve_begin(struct delivery_sieve *ds, const struct delivery_job *j);
void dsieve_end(struct delivery_sieve *ds);

/* Does rcpt run Sieve: a user's own address (not an exact shared or
 * mapped target) whose store has an active script, or any global script
 * configured. j: prepared by delivery_prepare. Loop thread (it reads the
 * configuration; one indexed lookup). */
bool dsieve_wanted(const struct delivery_job *j, const struct delivery_rcpt *rcpt);

/* Step 2 above: instead of mailbox_append_batch for the prepared job j.
 * Blocking (scripts, commits, sendmail): a job thread or the CLI. Sets
 * j's result (read by delivery_finish). */
void delivery_sieve_run(struct delivery_job *j, struct delivery_sieve *ds);

/* The mailbox tests of a run (RFC 5490 mailboxexists, RFC 8579, RFC 9042)
 * against store u (the caller holds its job connection, or owns it). */
struct dsieve_dup_pending;
struct dsieve_cbctx {
    struct mail_user *u;
    const struct dsieve_opts *o;
    /* The "duplicate" test (RFC 7352): the store name whose entries it
     * reads (NULL: the test is always false, as in `darius sieve test`)
     * and the run's time; the (handle, id) pairs it saw are collected
     * here and tracked by dsieve_dup_commit only when the whole run
     * succeeded (RFC 7352 3), else dropped by dsieve_dup_free. */
    const char *user;
    int64_t now;
    struct dsieve_dup_pending *dup;
    size_t ndup, capdup;
};
void dsieve_callbacks(struct sieve_callbacks *cb, struct dsieve_cbctx *ctx);
void dsieve_dup_commit(struct dsieve_cbctx *ctx);
void dsieve_dup_free(struct dsieve_cbctx *ctx);

/* Load a script from its stored binary, recompiling the source when the
 * binary is missing, damaged or of another format version; the new
 * binary is cached in the store (sieve_store_set_compiled). NULL when the
 * source does not compile (*err: the first diagnostics, xmalloc'd). The
 * caller holds u's job connection (or owns u). */
struct sieve_script *dsieve_load_stored(struct mail_user *u, struct sieve_store_script *sc,
                                        const struct sieve_limits *limits, char **err);

/* delivery_deliver with Sieve, all inline (`darius deliver`): *reject
 * gets an ereject's reason (the caller refuses the message for this
 * recipient: exit EX_NOPERM, which the MTA turns into a bounce); reject
 * is sent as an MDN. */
enum deliver_result delivery_deliver_sieve(struct dspool *s, const struct delivery_rcpt *rcpt,
                                           const struct deliver_opts *o, const struct dsieve_opts *so,
                                           const struct sieve_envelope *env, char **reject);

#endif
