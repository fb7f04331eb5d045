/* lmtp-private.h - internals shared by lmtp-server.c and lmtp-cmd.c. */
#ifndef DARIUS_LMTP_PRIVATE_H
#define DARIUS_LMTP_PRIVATE_H

#include "lmtp.h"
#include "auth.h"
#include "sasl-exchange.h"
#include "buf.h"
#include "connlimits.h"
#include "frontend.h"
#include "delivery.h"
#include "spool-limits.h"

#define LMTP_KEEP_MAX 16
#define LMTP_KEEP_MS 1000

struct lmtp_rcpt {
    char *addr;                 /* as sent, for replies and logs */
    struct delivery_rcpt r;
    bool ignorequota;
    char *orcpt;                /* RFC 3461 ORCPT=rfc822;ADDR, decoded (Sieve's original recipient) or NULL */
};

enum lmtp_in { IN_CMD, IN_DATA, IN_BDAT };
enum dot_state { D_BOL, D_DOT, D_DOTCR, D_MID };

struct lmtp_session {
    struct fe_link link;        /* the worker's LMTP sessions (frontend.h) */
    struct conn *conn;
    char peer[64];
    bool is_unix;
    bool tls;
    bool closed, quitting;
    int busy;
    bool counted_conn;
    uint64_t timeout_timer;
    uint64_t last_activity;
    bool discarding;            /* skipping the rest of an overlong line */

    char *helo;                 /* NULL until LHLO */
    char *authuser;             /* after AUTH */
    /* (added) a domain admin's AUTH: recipients only in auth_domain ("" =
     * the default domain); a global admin's session has no such bound */
    bool auth_scoped;
    char auth_domain[ACCESS_MAX_DOMAIN + 1];
    bool ignorequota_logged;    /* an ignored IGNOREQUOTA was logged (once per session) */

    /* SASL exchange in progress (sasl-exchange.h) */
    struct sasl_exchange sx;

    /* transaction */
    bool have_mail;
    char *mail_from;
    bool mail_ignorequota;
    uint64_t mail_size;         /* MAIL FROM SIZE= (RFC 1870), 0 when not given */
    bool smtputf8;
    struct lmtp_rcpt *rcpts;
    size_t nrcpt, caprcpt;

    /* message input */
    enum lmtp_in in;
    enum dot_state dot;
    struct dspool *spool;
    uint64_t bdat_left;
    bool bdat_last;
    const char *bdat_err;       /* reply to give after the chunk is read (no transaction) */
    bool bdat_started;          /* a BDAT sequence is in progress */

    /* (added) pre-authentication (lmtp-server.c): TCP sessions until AUTH
     * or their first accepted MAIL; the place held in the shared limits
     * and the connect time the preauth_timeout deadline counts from */
    bool preauth;
    struct limits_preauth pa;
    uint64_t connected_at;
    /* (added) failed AUTHs: answered after the shared per-address delay */
    unsigned auth_failures;
    uint64_t auth_timer;        /* the delayed 535 is due, or a parked AUTH
                                   (auth_parked) its turn; input paused */
    char *auth_parked;          /* AUTH arguments waiting out the predelay
                                   (may hold a password: wiped) */
    bool auth_wait;             /* AUTH's password is being checked
                                   (lmtp_verify_password); input paused,
                                   the session kept alive until the answer */
    /* (added) message data spooled in this transaction, reserved against
     * spool_max_total (spool-limits.h) as it comes; spool_full: refused,
     * the rest is discarded and every recipient answered 452 4.3.1 */
    struct spool_resv spool_resv;
    bool spool_full;

    /* (added, issue 10) the slow steps of a transaction run on the pool
     * (jobs.h): spool writes, the spool's fsync and each recipient's
     * commit. dlv: the end of the message is being delivered; the
     * session is parked (no input read, the session kept alive) until
     * every recipient has its reply. spool_jobs: spool chunk writes in
     * flight; with too many the input waits (spool_wait). reading: inside
     * the reader loop (a delivery finishing synchronously, without a
     * pool, must not start another reader). close_after_dlv: shutdown
     * arrived during a delivery: 421 once its replies are written. */
    struct lmtp_dlv *dlv;
    unsigned spool_jobs;
    bool spool_wait;
    bool reading;
    char *close_after_dlv;
    /* (added, issue 10) the stores of the last transaction, kept open
     * for LMTP_KEEP_MS after it: an MTA delivers to the same users again
     * and again, and the last close of a store checkpoints its WAL (three
     * or four fsyncs, on the loop). Released when the next transaction
     * ends (after it opened its own), by the timer, or with the session. */
    struct mail_user *keep[LMTP_KEEP_MAX];
    size_t nkeep;
    uint64_t keep_timer;
};

/* lmtp-server.c */
struct tls_ctx *lmtp_tls(void);
void lmtp_printf(struct lmtp_session *s, const char *fmt, ...) ATTR_PRINTF(2, 3);
void lmtp_session_close(struct lmtp_session *s, const char *line);
/* A failed AUTH (wrong credentials, or a non-admin): the 535 is sent after
 * the per-address failed-login delay (connlimits.h), input waits
 * meanwhile, and the connection ends after the third failure - as for
 * IMAP and POP3 logins. */
void lmtp_auth_failed(struct lmtp_session *s);
/* An AUTH from an address over auth_failures_per_host: its arguments are
 * kept and lmtp_auth_begin runs them after ms (input paused meanwhile). */
void lmtp_auth_park(struct lmtp_session *s, unsigned ms, const char *arg);
/* Keep these store references (taken over from the transaction that
 * ends) open for LMTP_KEEP_MS; the ones kept before are released. */
void lmtp_session_keep_stores(struct lmtp_session *s, struct mail_user **u, size_t n);
/* Keep the session alive across a job (jobs.h) / let it go. */
void lmtp_session_enter(struct lmtp_session *s);
void lmtp_session_leave(struct lmtp_session *s);
/* A parked session may read again (a job's done callback): resume input,
 * re-arm the timer and process what the client already sent, unless
 * called from inside the reader itself. */
void lmtp_session_unpark(struct lmtp_session *s);

/* Have an AUTH's user/password checked by the authentication service
 * (auth-service.h), off the event loop: the session waits (no input read,
 * kept alive) and finish(s, reply) runs on the loop with the answer -
 * right away without a pool - unless the client went away meanwhile. The
 * caller wipes its password copy when this returns. */
struct auth_reply;
typedef void (*lmtp_verified_fn)(struct lmtp_session *s, const struct auth_reply *reply);
void lmtp_verify_password(struct lmtp_session *s, const char *user, const char *password, lmtp_verified_fn finish);

/* lmtp-cmd.c */
void lmtp_greeting(struct lmtp_session *s);
void lmtp_execute(struct lmtp_session *s, char *line, size_t len);
void lmtp_sasl_line(struct lmtp_session *s, char *line, size_t len);
void lmtp_auth_reset(struct lmtp_session *s);
/* AUTH past its checks and predelay: "mechanism [initial-response]". */
void lmtp_auth_begin(struct lmtp_session *s, char *arg);
void lmtp_txn_reset(struct lmtp_session *s);
/* DATA input ended (terminating dot seen): deliver and reply. */
void lmtp_data_done(struct lmtp_session *s);
/* A BDAT chunk was read completely. */
void lmtp_bdat_done(struct lmtp_session *s);

#endif
