/* delivery.h - local delivery shared by the LMTP server and `darius deliver`.
 *
 * One message, many recipients, one copy on disk:
 *
 *   1. dspool_new() opens an unlinked temporary file in storage_tmpdir()
 *      and writes the trace header (Return-Path, Received) first;
 *   2. dspool_write() takes the message as received (already dot-unstuffed
 *      by LMTP DATA; raw for BDAT and the CLI), turns bare LF into CRLF,
 *      applies the 8-bit/NUL header rules (reject8bit/munge8bit) and the
 *      size and line-length limits, and notes whether a Message-ID exists;
 *   3. dspool_finish() adds a Message-ID when configured, fsyncs ONCE and
 *      extracts the Message-ID for duplicate suppression;
 *   4. delivery_deliver() per recipient hard-links that one file into the
 *      recipient's store (append_msg.shared_spool) and commits the
 *      metadata; when it returns DELIVER_OK the copy is durable.
 * LMTP runs the file I/O of 2 and 3 and the commit of 4 on its worker's
 * pool (dspool writer, dspool_finish_sync, delivery_prepare/_finish
 * around mailbox_append_batch), where commits into one store coincide
 * and are group-committed; `darius deliver` runs the same steps inline.
 *
 * Bodies are immutable, so one inode may back many users' copies. For the
 * same reason nothing per-recipient may be written into the file: the
 * Received "for <rcpt>" clause is added only for a single recipient.
 */
#ifndef DARIUS_DELIVERY_H
#define DARIUS_DELIVERY_H

#include "common.h"
#include "access.h"
#include "auth.h"

/* RFC 5321 4.5.3.1.3 allows 512 octets for a path; we accept more (UTF-8,
 * long detail parts) but bound it. */
#define DELIVERY_MAX_ADDR 1024
/* A line longer than this (64 KiB) makes the message unacceptable: no
 * legitimate MTA sends one (RFC 5321 4.5.3.1.6: 1000), and header parsers
 * downstream need a bound. */
#define DELIVERY_MAX_LINE 65536

enum dspool_status {
    DSPOOL_OK = 0,
    DSPOOL_TOOBIG,      /* over maxmessagesize: 552 5.3.4 */
    DSPOOL_8BIT,        /* 8-bit header byte with reject8bit: 554 5.6.0 */
    DSPOOL_NUL,         /* NUL byte with reject8bit: 554 5.6.0 */
    DSPOOL_LINE,        /* line longer than DELIVERY_MAX_LINE: 554 5.6.0 */
    DSPOOL_IO,          /* disk full, I/O error: 451 4.3.0 */
};

struct dspool;

struct dspool_opts {
    const char *return_path;    /* MAIL FROM address without <>, "" for null; NULL = no Return-Path */
    const char *received;       /* complete "Received: ...\r\n" field(s) or NULL */
    bool smtputf8;              /* RFC 6531: UTF-8 headers are legitimate, never munged */
    uint64_t max_size;          /* 0 = config maxmessagesize */
};

/* NULL on failure (errno set, logged). */
struct dspool *dspool_new(const struct dspool_opts *o);
/* Feed message bytes. Errors are sticky and reported by dspool_status()
 * and dspool_finish(); feeding after an error only counts bytes, so a
 * protocol can keep consuming the client's data. */
void dspool_write(struct dspool *s, const void *data, size_t len);
enum dspool_status dspool_status(const struct dspool *s);
/* Complete the message (adds a final CRLF when missing, the Message-ID
 * when lmtp_add_messageid and none present), fsync. */
enum dspool_status dspool_finish(struct dspool *s);
/* dspool_finish in two steps: _begin completes the content in memory (on
 * the spool's own thread: it reads the configuration); _sync writes what
 * is left, fdatasyncs and finds the Message-ID, and may run on another
 * thread (a pool's) while the owner does not touch the spool. */
enum dspool_status dspool_finish_begin(struct dspool *s);
enum dspool_status dspool_finish_sync(struct dspool *s);
/* Write elsewhere (LMTP: on the pool, so no write(2) of the message runs
 * on the event loop): each full buffer is handed to writer(arg, chunk)
 * instead of being written. The writer calls dspool_chunk_write(chunk)
 * on any thread (a pwrite at the chunk's offset; a failure makes the
 * spool's status DSPOOL_IO) and then dspool_chunk_done(chunk) on the
 * spool's own thread. dspool_finish_sync must run after every chunk
 * written. dspool_free while chunks are out defers the free to the last
 * dspool_chunk_done. */
struct dspool_chunk;
void dspool_set_writer(struct dspool *s, void (*writer)(void *arg, struct dspool_chunk *c), void *arg);
void dspool_chunk_write(struct dspool_chunk *c);
void dspool_chunk_done(struct dspool_chunk *c);
int dspool_fd(const struct dspool *s);
size_t dspool_size(const struct dspool *s);            /* bytes in the file */
const char *dspool_message_id(const struct dspool *s);  /* "<...>" or NULL */
void dspool_free(struct dspool *s);

/* A Received: trace field. proto is "LMTP", "LMTPA", "LMTPS", "LMTPSA"
 * (RFC 3848) or "local"; helo/peer may be NULL; rcpt NULL unless there is
 * exactly one recipient. Returns an xmalloc'd "Received: ...\r\n". */
char *delivery_received(const char *helo, const char *peer, const char *proto, const char *tls_desc,
                        const char *rcpt);
/* RFC 5322 date "Sat, 21 Nov 2026 19:40:00 +0000" for t (local zone). */
void delivery_date(time_t t, char *out, size_t outlen);
/* The configured servername, or the host name. */
const char *delivery_servername(void);

/* ---- addresses and recipients -------------------------------------------- */

/* Extract the path from "<...>" at *p (after "FROM:"/"TO:"), leaving *p
 * after the '>'. Handles "<>", source routes (dropped), quoted local
 * parts. out gets the address (unquoted form kept as sent). Returns false
 * on syntax errors (control characters, missing brackets, too long,
 * invalid UTF-8). */
bool delivery_parse_path(const char **p, char *out, size_t outlen);

/* A resolved recipient: a store (a user's or a domain's shared store) and
 * a mailbox in it. Kinds (Cyrus lmtpd semantics):
 *   - "user" / "user@domain": the user's INBOX;
 *   - "user+detail": the user's folder "detail" when it exists and grants
 *     the p right to the poster (deliver_opts.poster, or anyone), created
 *     with createonpost; otherwise INBOX, silently (has_detail, !exact);
 *   - "postuser+folder[.sub]": the shared mailbox "folder/sub" of the
 *     address's domain; it must exist and grant p, else 550 5.1.1 (exact);
 *   - an lmtp_address_map entry: the mapped mailbox (exact; p needed
 *     unless it is a user's INBOX).
 * The separator inside a detail is the IMAP one (unixhierarchysep: '/'
 * when yes, '.' when no), as clients see mailbox names. */
struct delivery_rcpt {
    char user[AUTH_MAX_USERNAME + 1];       /* owning user id; "" for a shared mailbox */
    char store[AUTH_MAX_USERNAME + 16];     /* store to deliver into (user id or "%shared[@dom]") */
    char domain[ACCESS_MAX_DOMAIN + 1];     /* the store's domain ("" = default) */
    char mailbox[1024];                     /* internal mailbox name: "INBOX" or the detail folder */
    bool has_detail;
    bool exact;                             /* must exist and grant p; no INBOX fallback */
    /* A reference to the store taken by delivery_check_hold and kept
     * until delivery_rcpt_release (end of the LMTP transaction; LMTP then
     * keeps it a second longer for the next transaction), so the
     * delivery after DATA reuses the open database instead of opening
     * and closing it again (each last close of a SQLite WAL database
     * checkpoints it: several fsyncs per recipient). NULL otherwise. */
    struct mail_user *hold;
};
enum rcpt_result { RCPT_OK = 0, RCPT_SYNTAX = -1, RCPT_NOUSER = -2, RCPT_TEMPFAIL = -3 };
/* Resolve an address ("user", "user+detail", "user@domain",
 * "user+detail@domain", "postuser+folder@domain", a mapped address) to a
 * store and target mailbox. Without virtdomains, "user@domain" is tried as
 * a whole user name first, then the domain is ignored. With virtdomains,
 * the user id is "user@domain" canonicalised by userdb_normalize_name
 * (the defaultdomain is stripped); no fallback. lmtp_downcase_rcpt
 * lowercases the user part (not the detail); domains are always
 * case-insensitive. A local part containing '@' once unquoted
 * ("a@b"@c, a@b@c, "u+d@b"@c) is RCPT_NOUSER: it would name another
 * domain's user through this one. Existence of the detail/shared mailbox
 * and the p right are checked by delivery_check / delivery_deliver. */
enum rcpt_result delivery_resolve(const char *addr, struct delivery_rcpt *out);
/* Map a detail / -m argument to an internal mailbox name: with the
 * netnews separator ('.', unixhierarchysep: no) '.' becomes the internal
 * '/' (and a '/' is refused); "inbox" in any case is INBOX. False when
 * not a name IMAP CREATE would accept (access_valid_mailbox_name: empty,
 * "." or ".." levels, more than 64 levels, wildcards, control
 * characters; also invalid UTF-8, too long). */
bool delivery_detail_mailbox(const char *detail, char *out, size_t outlen);
/* The same for a user's +detail (or `deliver -m` with users): also false
 * for a name under the other-users or shared prefix, which would name
 * another store for IMAP clients. The caller delivers to INBOX then. */
bool delivery_user_folder(const char *detail, char *out, size_t outlen);
/* delivery_user_folder with the configuration passed in (for a job
 * thread, which reads no configuration: Sieve's fileinto names): sep is
 * the IMAP separator ('/' or '.'), the prefixes those of the other-users
 * and shared namespaces. */
bool delivery_folder_name(const char *name, char sep, const char *userprefix, const char *sharedprefix, char *out,
                          size_t outlen);
/* An explicit target in the admin namespace form, '/' as separator:
 * "<sharedprefix>/news/x" (shared store of domain), "user/bob" or
 * "user/bob/Lists" (also "<userprefix>/bob/..."); '^' in a user component
 * stands for '.'. Under virtdomains a user without "@" is of domain.
 * out->exact is set. RCPT_NOUSER when the user is unknown or the name is
 * not of that form / invalid. */
enum rcpt_result delivery_target(const char *name, const char *domain, struct delivery_rcpt *out);
/* lmtp_address_map: "address  mailbox" lines ('#' comments), mailbox as
 * for delivery_target. Addresses compare case-insensitively. The file is
 * re-read when it changes (mtime/size/inode); bounded (DELIVERY_MAP_MAX_*).
 * 1 found (target copied), 0 not mapped / no map, -1 the map cannot be
 * read (temporary failure). */
#define DELIVERY_MAP_MAX_BYTES (8 * 1024 * 1024)
#define DELIVERY_MAP_MAX_ENTRIES 100000
int delivery_map_lookup(const char *addr, char *target, size_t targetlen);
void delivery_map_free(void);

/* ---- delivering ------------------------------------------------------------ */

enum deliver_result {
    DELIVER_OK = 0,         /* stored (durable) */
    DELIVER_DUPLICATE,      /* already delivered (duplicatesuppression): accept, not stored */
    DELIVER_NOUSER,
    DELIVER_OVERQUOTA,
    DELIVER_TEMPFAIL,       /* I/O, busy */
    DELIVER_PERMFAIL,       /* invalid data */
    DELIVER_BUSY,           /* the store is being moved (STORAGE_ERR_BUSY): 451 4.2.0 */
    DELIVER_REJECTED,       /* refused by the recipient's Sieve script (reject/ereject): 550 5.7.1 */
};

struct deliver_opts {
    bool ignore_quota;      /* IGNOREQUOTA / deliver -q: deliver even over quota */
    bool dupcheck;          /* duplicate suppression for this delivery */
    uint32_t flags;         /* enum msg_flag bits to set */
    const char *keywords;   /* space-separated or NULL */
    /* Identity for the p right: the authenticated LMTP client or
     * `deliver -a`; NULL = unauthenticated, which holds only what the
     * ACL grants to "anyone". */
    const char *poster;
};

/* RCPT-time checks (Cyrus verify_user): an exact target exists and grants
 * p (else DELIVER_NOUSER, not revealing which), the store is not busy
 * (DELIVER_BUSY), and unless o->ignore_quota no quota root of the target
 * is already at or over a limit - storage usage + max(size, 1) or message
 * count + 1 above it (DELIVER_OVERQUOTA). size = MAIL FROM SIZE= or 0.
 * A user without a store yet passes (provisioned at delivery). */
enum deliver_result delivery_check(const struct delivery_rcpt *rcpt, const struct deliver_opts *o, uint64_t size);
/* The same, keeping the store open in rcpt->hold when the answer is
 * DELIVER_OK; the caller releases it with delivery_rcpt_release. */
enum deliver_result delivery_check_hold(struct delivery_rcpt *rcpt, const struct deliver_opts *o, uint64_t size);
void delivery_rcpt_release(struct delivery_rcpt *rcpt);

/* Deliver the finished spool to rcpt. Provisions a user's account on
 * first delivery (access_provision_user). A detail folder is used when
 * it grants p to the poster; when it does not exist createonpost creates
 * it by IMAP CREATE's rules (access_create_posted: k for the poster on
 * the nearest existing ancestor, whose ACL it copies; a folder without
 * one gets the owner's) and delivers there; else INBOX.
 * An exact target that is missing or lacks p gives DELIVER_NOUSER.
 * It is delivery_prepare, the commit (mailbox_append_batch of one) and
 * delivery_finish in a row: the same code path as LMTP's, without a pool
 * (`darius deliver`, tests). */
enum deliver_result delivery_deliver(struct dspool *s, const struct delivery_rcpt *rcpt,
                                     const struct deliver_opts *o);

/* The same in steps, so that the commit can run on a pool thread and be
 * group-committed with other appends into the same store (LMTP):
 *   1. delivery_prepare, on the loop thread: opens the store (provisioning
 *      a new account), chooses the mailbox (createonpost), reads what it
 *      needs of the configuration. DELIVER_OK: j->req is ready to commit;
 *      any other value is the final result and there is nothing more to do.
 *   2. mailbox_append_batch with &j->req (on a pool thread: jobs_submit_
 *      batch keyed by j->req.store, which batches it with other appends
 *      into that store): duplicate suppression, the link into the store,
 *      the metadata commit; the copy is durable when it returns.
 *   3. delivery_finish, back on the loop thread: the result; closes the
 *      store. The spool must stay open until then. */
struct delivery_job {
    struct append_req req;      /* storage's batch item */
    /* private to delivery-deliver.c */
    struct append_msg msg;
    uint32_t uid;
    struct mail_user *u;
    char name[STORAGE_MAX_MAILBOX_NAME + 1];
    char store[AUTH_MAX_USERNAME + 16];
    bool exact;
    char *msgid, *poster, *keywords;
    bool dupcheck;
    int64_t horizon;
    int dup;                    /* duplicate_begin's answer */
    bool finished;              /* the after step mapped the result */
    enum deliver_result result;
};
enum deliver_result delivery_prepare(struct delivery_job *j, struct dspool *s, const struct delivery_rcpt *rcpt,
                                     const struct deliver_opts *o);
enum deliver_result delivery_finish(struct delivery_job *j);

/* ---- duplicate suppression (DATADIR/duplicate.db) -------------------------- */

/* Every function here may be called from any thread (one mutex inside).
 * 1 seen within duplicate_expire days, 0 not seen, <0 error (treat as not seen). */
int duplicate_check(const char *msgid, const char *user, const char *mailbox);
void duplicate_mark(const char *msgid, const char *user, const char *mailbox);
/* The oldest delivery time that still counts (now - duplicate_expire
 * days): read from the configuration, so on the loop thread. */
int64_t duplicate_horizon(void);
/* For a delivery being committed (on a pool thread): 1 a duplicate
 * (delivered since horizon), 2 the same message is being delivered to
 * the same mailbox by another delivery of this process right now, 0 not
 * seen: then it is registered as in flight until duplicate_end, which
 * records it when delivered. */
int duplicate_begin(const char *msgid, const char *user, const char *mailbox, int64_t horizon);
void duplicate_end(const char *msgid, const char *user, const char *mailbox, bool delivered);
/* Remove entries older than days days; returns the count removed or -1. */
long duplicate_prune(int days);

/* The Sieve "duplicate" test (RFC 7352), table sieve_duplicate: unique
 * ids per (user, :handle) with an expiry time. sieve_dup_check: 1 when
 * id is tracked and not expired at now, 0 not, <0 a database error (the
 * test is then false: RFC 7352 3 forbids an erroneous "true").
 * sieve_dup_record: after a successful run only (RFC 7352 3), track id
 * for seconds from now: a live entry keeps its expiry unless last
 * (:last, 3.3). Ids longer than SIEVE_DUP_MAX_ID bytes are never
 * tracked (the test is false for them). sieve_dup_prune (`darius
 * expire`): drop the expired entries; their number, <0 on error. */
#define SIEVE_DUP_MAX_ID 4096
int sieve_dup_check(const char *user, const char *handle, const void *id, size_t idlen, int64_t now);
int sieve_dup_record(const char *user, const char *handle, const void *id, size_t idlen, int64_t seconds, bool last,
                     int64_t now);
long sieve_dup_prune(int64_t now);

/* Sieve run-time errors per user, for the user to see (`darius sieve
 * log`; table sieve_log): the newest SIEVE_LOG_KEEP are kept, script
 * names cut to 256 bytes and messages to SIEVE_LOG_MAX_TEXT, control
 * characters replaced by spaces. sieve_log_add: 0 or <0 (logged; never
 * blocks delivery). sieve_log_list calls cb oldest first (message and
 * script valid during the call): 0 or <0. sieve_log_clear: entries
 * removed, <0 on error. Any thread (the duplicate database's mutex). */
#define SIEVE_LOG_KEEP 50
#define SIEVE_LOG_MAX_TEXT 1000
int sieve_log_add(const char *user, const char *script, const char *message, int64_t now);
int sieve_log_list(const char *user, void (*cb)(void *arg, int64_t time, const char *script, const char *message),
                   void *arg);
long sieve_log_clear(const char *user);
/* An account was renamed (new_ its new name) or deleted (new_ NULL):
 * its rows in every table here follow it or go (access_set_account_hook;
 * idempotent). */
void duplicate_account_changed(const char *old, const char *new_);
void duplicate_close(void);


/* ---- mail that leaves the server: the local MTA (delivery-sendmail.c) ------
 *
 * Sieve's redirect, vacation, reject (as an MDN) and notify mailto hand
 * their messages to the configured `sendmail` program (Cyrus's key, as
 * Cyrus and Pigeonhole do): never SMTP of our own, so the MTA's queue,
 * retries, DKIM signing and relay policy apply. The call blocks (a
 * process runs) and is meant for a job thread, never the event loop. */

#define SENDMAIL_MAX_PROGRAM 1024
/* Bounds: a redirect to more recipients than this is refused by the
 * caller; the captured output of the program is cut at this size. */
#define SENDMAIL_MAX_RCPTS 100
#define SENDMAIL_MAX_OUTPUT 2048

/* Copied out of the configuration on the loop thread (config is read
 * there), then handed to the job. */
struct sendmail_opts {
    char program[SENDMAIL_MAX_PROGRAM];     /* `sendmail`, default /usr/sbin/sendmail */
    unsigned timeout;                       /* seconds: `sendmail_timeout` */
};
void sendmail_opts_from_config(struct sendmail_opts *o);

/* The message: head (in memory, may be NULL) followed by fd_len bytes
 * of fd from offset fd_off (fd < 0: none), e.g. a redirect's added
 * header then the spooled original after its Return-Path. CRLF line ends are given to the program as LF:
 * local submission takes the system's text convention on stdin (Postfix,
 * Exim and sendmail all accept it; bare CR is left alone). */
struct sendmail_msg {
    const char *head;
    size_t head_len;
    int fd;
    uint64_t fd_off, fd_len;
};

enum sendmail_status {
    SENDMAIL_OK = 0,        /* exit status 0: the MTA has the message */
    SENDMAIL_EXIT,          /* exited non-zero (detail = status) */
    SENDMAIL_SIGNAL,        /* killed by a signal (detail = signal) */
    SENDMAIL_TIMEOUT,       /* ran past the timeout: killed */
    SENDMAIL_SPAWN,         /* could not be started (detail = errno) */
    SENDMAIL_IO,            /* pipe or read error (detail = errno) */
    SENDMAIL_BADARG,        /* an address unfit for a command line */
};
struct sendmail_result {
    enum sendmail_status status;
    int detail;
    char output[SENDMAIL_MAX_OUTPUT + 1];   /* stdout+stderr, cut, NUL-terminated */
    size_t output_len;
};

/* Run `PROGRAM -i -f SENDER -- RCPT...` with the message on stdin.
 * sender "" is the null reverse-path and is passed as "-f <>" (the form
 * Postfix, Exim and sendmail all read as the null sender). Recipients
 * are passed after "--", so none can be taken for an option; an address
 * that is empty, longer than DELIVERY_MAX_ADDR or holds a control
 * character or space is refused (SENDMAIL_BADARG) before anything runs.
 * The program gets a clean environment (PATH only), an empty signal mask
 * and default dispositions, its own process group, and no file
 * descriptors but 0, 1, 2; after opts->timeout seconds the group is
 * killed. Anything but SENDMAIL_OK is a temporary failure for the caller:
 * the message was not handed over and must not be considered sent (keep
 * it, 451). The outcome is logged (the program's output, cut, when it
 * failed). Thread-safe; res may be NULL. */
enum sendmail_status delivery_sendmail(const struct sendmail_opts *opts, const char *sender,
                                       const char *const *rcpts, size_t nrcpts, const struct sendmail_msg *msg,
                                       struct sendmail_result *res);


/* ---- Sieve vacation (RFC 5230, RFC 3834; delivery-vacation.c) -------------
 *
 * The building blocks the Sieve interpreter's vacation action calls, in
 * order: vacation_check (is a reply allowed at all), vacation_claim (has
 * this sender had this reply within the period; records it), then
 * vacation_compose and delivery_sendmail with the null sender; when the
 * sending fails, vacation_unclaim, so the next message tries again.
 * Nothing here reads the configuration: the caller passes the period
 * bounds and the server name (read on the loop thread). */

/* The incoming message and its recipient. */
struct vacation_msg {
    const char *hdr;            /* the message's header block */
    size_t hdr_len;
    const char *envelope_from;  /* MAIL FROM without <>, "" for the null sender */
    const char *envelope_to;    /* the final envelope recipient (RFC 5230 4.5 item 2) */
    /* Addresses known to be the user's (RFC 5230 4.5 item 1), e.g. the
     * user's canonical address; may be NULL/0. */
    const char *const *own;
    size_t nown;
};

/* The action's arguments, as the script gave them (UTF-8). */
struct vacation_params {
    const char *reason;         /* the body text, or with mime the MIME entity */
    const char *subject;        /* :subject or NULL */
    const char *from;           /* :from or NULL */
    const char *handle;         /* :handle or NULL (then see vacation_handle) */
    bool mime;                  /* :mime */
    const char *const *addresses;   /* :addresses */
    size_t naddresses;
};

enum vacation_verdict {
    VACATION_REPLY = 0,         /* a reply is allowed */
    VACATION_NULL_SENDER,       /* envelope sender <> (RFC 3834 2) */
    VACATION_SYSTEM_SENDER,     /* MAILER-DAEMON, owner-*, *-request, ... (RFC 5230 4.6) */
    VACATION_OWN_SENDER,        /* the sender is one of the user's addresses */
    VACATION_AUTO_SUBMITTED,    /* Auto-Submitted other than "no" (RFC 3834 2, RFC 5230 4.6) */
    VACATION_LIST,              /* List-Id or another RFC 2369 List-* field (RFC 5230 4.6) */
    VACATION_PRECEDENCE,        /* Precedence: bulk, list or junk (RFC 3834 2) */
    VACATION_NOT_ADDRESSED,     /* none of the user's addresses in To/Cc/Bcc/Resent-* (RFC 5230 4.5) */
};
enum vacation_verdict vacation_check(const struct vacation_msg *m, const struct vacation_params *p);
const char *vacation_verdict_name(enum vacation_verdict v);

/* The tracking period in seconds for :days (seconds = days * 86400) or
 * :seconds (RFC 6131), requested < 0 when neither was given (RFC 5230
 * 4.1: 7 days, or the minimum when that is larger), clamped to
 * [min, max] (sieve_vacation_min_response / _max_response; max 0 = no
 * maximum). */
int64_t vacation_period(int64_t requested, int64_t min, int64_t max);

/* The handle of a vacation without :handle (RFC 5230 4.2): a hash of
 * :subject, :from, :mime and the reason as counted strings, so that a
 * value in one argument never equals another's. The interpreter must
 * pass the arguments BEFORE variable expansion (RFC 5230 4.2). out: 64
 * hex digits and a NUL. */
#define VACATION_HANDLE_LEN 64
void vacation_handle(const char *subject, const char *from, bool mime, const char *reason,
                     char out[VACATION_HANDLE_LEN + 1]);

/* Tracking in DATADIR/duplicate.db (table vacation, delivery-dup.c): the
 * sender (compared case-insensitively) is claimed for (user, handle)
 * unless a reply went to it less than period seconds before now.
 * 1 claimed: send now; 0 replied within the period: do not; <0 the
 * database failed: do not (a flood of replies is worse than a missed
 * one). period 0 always claims. Any thread. */
int vacation_claim(const char *user, const char *sender, const char *handle, int64_t period, int64_t now);
/* Forget a claim whose reply could not be sent. */
void vacation_unclaim(const char *user, const char *sender, const char *handle);
/* `darius expire`: drop records of replies sent before `before`. */
long vacation_prune(int64_t before);

/* Compose the reply (RFC 5230 5, RFC 3834 3), CRLF line ends:
 * From :from (when a valid address list without control characters)
 * else the user's address that the message was addressed to (else the
 * envelope recipient); To the envelope sender; Subject :subject or
 * "Auto: " and the original subject (decoded, then RFC 2047 encoded
 * again when not ASCII; "Automated reply" without one); In-Reply-To and
 * References (RFC 5322 3.6.4, at most VACATION_MAX_REFS ids kept);
 * Auto-Submitted: auto-replied; Date (now), Message-ID (random @
 * servername), MIME-Version; the reason as text/plain UTF-8
 * (quoted-printable when not 7-bit) or, with :mime, the reason's own
 * Content-* header fields and body (other fields in it dropped). NULL
 * when :mime is given and the entity has 8-bit header bytes (RFC 5230 5:
 * SHOULD reject). The envelope of the reply: sender "" (RFC 5230 5.1),
 * recipient m->envelope_from. xmalloc'd, *len set. */
#define VACATION_MAX_REFS 20
#define VACATION_MAX_SUBJECT 900
char *vacation_compose(const struct vacation_msg *m, const struct vacation_params *p, const char *servername,
                       time_t now, size_t *len);

/* ---- Sieve redirect (RFC 5228 4.2; delivery-redirect.c) --------------------
 *
 * A redirected message keeps its header and body; what is added is one
 * trace field naming the redirecting user, so that the same message
 * coming back to that user (a loop through other systems' forwards) is
 * recognised and not sent again: "X-Darius-Redirected: <user address>"
 * (the same idea as Delivered-To / X-Loop). A message that already went
 * through more than REDIRECT_MAX_RECEIVED Received fields is also
 * refused (RFC 5321 6.3: counting Received fields is the classic loop
 * test; the threshold there should be at least 100). The per-message
 * limit (sieve_maxredirects, advertised as MAXREDIRECTS) is the
 * interpreter's, counting redirect actions in one run. */
#define REDIRECT_HEADER "X-Darius-Redirected"
#define REDIRECT_MAX_RECEIVED 100
enum redirect_verdict {
    REDIRECT_OK = 0,
    REDIRECT_LOOP,              /* our marker for this user is present */
    REDIRECT_TOO_MANY_HOPS,     /* more than REDIRECT_MAX_RECEIVED Received fields */
};
/* hdr: the message's header block; user_addr: the redirecting user's
 * address (compared case-insensitively). */
enum redirect_verdict redirect_check(const char *hdr, size_t hdr_len, const char *user_addr);
/* The length of the Return-Path field(s) at the start of a stored
 * message: a message sent on must not carry one (RFC 5321 4.4: the
 * final delivery adds it; the next one will add its own). The redirect
 * sends from this offset (sendmail_msg.fd_off). */
size_t redirect_skip_return_path(const char *data, size_t len);
/* The field to put in front of the message when sending it on
 * (delivery_sendmail's msg.head), "X-Darius-Redirected: ADDR\r\n";
 * xmalloc'd. The envelope of the redirect: the original envelope sender
 * (RFC 5228 4.2 leaves it to the implementation; keeping it sends
 * bounces to the author, not to the user), the new recipient. NULL when
 * user_addr has control characters or is too long. */
char *redirect_header(const char *user_addr);

/* ---- Sieve reject as an MDN (RFC 5429 2.1, RFC 8098; delivery-mdn.c) -------
 *
 * When the reject cannot be given in the LMTP reply (the message was
 * accepted for other recipients, or it came through `darius deliver`),
 * it is sent as a Message Disposition Notification to the envelope
 * sender, with the null sender; never when the original's envelope
 * sender is null (RFC 5429 2.1 / RFC 3834 2: no replies to bounces). */
struct mdn_msg {
    const char *hdr;            /* the original header block */
    size_t hdr_len;
    const char *envelope_from;  /* the original MAIL FROM ("" null: no MDN) */
    const char *final_rcpt;     /* the recipient whose script rejected */
    const char *reason;         /* the reject string (UTF-8) */
};
/* multipart/report; report-type=disposition-notification (RFC 8098 3):
 * a text/plain UTF-8 part with the reason, the
 * message/disposition-notification part (Reporting-UA, Final-Recipient,
 * Original-Message-ID, Disposition: automatic-action/
 * MDN-sent-automatically; deleted), and the original header as
 * text/rfc822-headers (RFC 6522). From the recipient, To the envelope
 * sender, Subject "Rejected: ...", Auto-Submitted: auto-replied
 * (rejected). NULL when no MDN is to be sent (null sender). */
char *mdn_reject_compose(const struct mdn_msg *m, const char *servername, time_t now, size_t *len);


/* ---- the actions, end to end (delivery-outgoing.c) -------------------------
 *
 * What the Sieve interpreter's job calls for each outgoing action: the
 * checks, the message, delivery_sendmail, and (vacation) the tracking.
 * Blocking, for a job thread; no configuration read (opts, limits and
 * servername are copied on the loop thread). */
enum outgoing_result {
    OUTGOING_SENT = 0,          /* the MTA has it */
    OUTGOING_SUPPRESSED,        /* not to be sent (a rule said no): not an error */
    OUTGOING_FAILED,            /* could not be sent now (sendmail failed, timed out, a database
                                 * was unavailable): worth trying again */
    OUTGOING_ERROR,             /* can never be sent as asked (an address unfit for the command
                                 * line or a header, an invalid mailto URI): a run-time error,
                                 * keep the message (RFC 5228 2.10.6) rather than fail again */
};
/* OUTGOING_SENT for SENDMAIL_OK, OUTGOING_ERROR for SENDMAIL_BADARG,
 * else OUTGOING_FAILED. */
enum outgoing_result outgoing_from_sendmail(enum sendmail_status st);

/* Vacation: vacation_check, vacation_claim for (user, envelope sender,
 * handle) over period seconds (see vacation_period), vacation_compose,
 * delivery_sendmail from <> to the envelope sender; the claim is undone
 * when sending fails. p->handle: the :handle or, without one,
 * vacation_handle of the arguments before variable expansion (RFC 5230
 * 4.2; only the interpreter has them); NULL hashes p's (expanded)
 * arguments instead. *why (may be NULL)
 * gets the check's verdict; a suppression by tracking is VACATION_REPLY
 * with OUTGOING_SUPPRESSED. Logged. */
enum outgoing_result delivery_vacation_send(const struct sendmail_opts *opts, const char *user,
                                            const struct vacation_msg *m, const struct vacation_params *p,
                                            int64_t period, const char *servername, time_t now,
                                            enum vacation_verdict *why);

/* Redirect the stored message (fd, size bytes: the spool or a message
 * file, starting with our Return-Path) to `to`, keeping envelope_from as
 * the sender: redirect_check on its header (loop: OUTGOING_SUPPRESSED, a
 * run-time error for the script but nothing to keep twice), then the
 * marker, the message without Return-Path, delivery_sendmail. The header
 * is read from the first REDIRECT_MAX_HEADER bytes. */
#define REDIRECT_MAX_HEADER (256 * 1024)
enum outgoing_result delivery_redirect_send(const struct sendmail_opts *opts, int fd, uint64_t size,
                                            const char *envelope_from, const char *user_addr, const char *to,
                                            enum redirect_verdict *why);

/* Reject by MDN: mdn_reject_compose (null sender: OUTGOING_SUPPRESSED,
 * logged, RFC 5429 2.2), delivery_sendmail from <> to the envelope
 * sender. */
enum outgoing_result delivery_reject_mdn_send(const struct sendmail_opts *opts, const struct mdn_msg *m,
                                              const char *servername, time_t now);


/* ---- Sieve notify, method mailto (RFC 5435, RFC 5436; delivery-mailto.c) ---
 *
 * mailto_parse reads a mailto URI (RFC 6068): the addresses of its path
 * and its to/cc/bcc header fields (each a plain ASCII local@domain, no
 * white space, quotes or brackets; at most
 * MAILTO_MAX_RCPTS in all), subject and body (percent-decoded UTF-8),
 * and up to 16 other header fields it may set (Reply-To, Keywords, ...).
 * The fields RFC 5436 2.7 calls unsafe, and those the notification sets
 * itself, are dropped: from, sender, auto-submitted, received,
 * return-path, message-id, date, resent-*, mime-version, content-*,
 * references, in-reply-to. A field (but body) whose decoded value has a
 * control character, a bad %-escape or an encoded NUL, or
 * whose name is not a field name, makes the URI invalid (a script's
 * valid_notify_method answers false; at run time the action fails). */
#define MAILTO_MAX_RCPTS 20
#define MAILTO_MAX_URI 8192
struct mailto_hdr {
    char *name, *value;
};
struct mailto {
    char **to, **cc, **bcc;
    size_t nto, ncc, nbcc;
    char *subject, *body;           /* NULL when absent */
    struct mailto_hdr *hdrs;        /* the other fields, names as given */
    size_t nhdrs;
};
bool mailto_parse(const char *uri, struct mailto *out, char *err, size_t errlen);
void mailto_free(struct mailto *m);

/* The triggering message and its recipient (the script's owner). */
struct notify_msg {
    const char *hdr;
    size_t hdr_len;
    const char *envelope_from;      /* "" null */
    const char *envelope_to;        /* the user's address: default From, owner-email */
};
/* The notification (RFC 5436 2.7): envelope sender <> when the trigger's
 * was null, else a valid :from, else the user's address; recipients the
 * URI's to, cc and bcc; From :from or the user's address; To and Cc
 * from the URI; Subject :message, else the URI's subject, else the
 * trigger's; References to the trigger; the URI's body (UTF-8) or an
 * empty one; its other safe fields; Date and Message-ID of its own;
 * "Auto-Submitted: auto-notified; owner-email=..." first. *sender gets
 * the envelope sender (pointing into m or from). NULL if unusable. */
char *mailto_compose(const struct mailto *u, const struct notify_msg *m, const char *from, const char *message,
                     const char *servername, time_t now, const char **sender, size_t *len);
/* End to end for a job: no notification for a trigger with an
 * Auto-Submitted field other than "no" (RFC 5436 2.7: SHOULD NOT;
 * OUTGOING_SUPPRESSED), an invalid URI is OUTGOING_FAILED, else compose
 * and delivery_sendmail. */
enum outgoing_result delivery_notify_mailto_send(const struct sendmail_opts *opts, const char *uri,
                                                 const struct notify_msg *m, const char *from,
                                                 const char *message, const char *servername, time_t now);


/* ---- from a Sieve result to the MTA (delivery-outgoing.c) -------------------
 *
 * One call per outgoing action of a sieve_run result (REDIRECT,
 * VACATION, NOTIFY, and REJECT/EREJECT when the refusal cannot be the
 * LMTP reply), on a job thread. Everything it needs is copied into the
 * context on the loop thread. */
struct sieve_action;
struct outgoing_ctx {
    struct sendmail_opts sendmail;      /* sendmail_opts_from_config */
    const char *servername;             /* delivery_servername() */
    time_t now;
    int64_t vacation_min, vacation_max; /* sieve_vacation_min_response / _max_response */
    const char *user;                   /* the user id (vacation tracking) */
    const char *rcpt;                   /* the recipient address the script ran for */
    const char *const *own;             /* the user's other known addresses; may be NULL/0 */
    size_t nown;
    const char *envelope_from;          /* MAIL FROM, "" null */
    /* The message: its stored file (starting with our Return-Path) ... */
    int fd;
    uint64_t size;
    /* ... and its header block, read by the caller (the first part of
     * the file, or sieve_result_header's edited one: then a redirect
     * sends that header followed by the file from body_off). */
    const char *hdr;
    size_t hdr_len;
    bool hdr_edited;
    uint64_t body_off;                  /* with hdr_edited: where the body starts in the file */
};
/* OUTGOING_SENT, OUTGOING_SUPPRESSED (a rule said no: vacation not due
 * or not allowed, a redirect loop, no MDN to <>, an auto-submitted
 * trigger of notify), or OUTGOING_FAILED (a run-time error: keep the
 * message). Other action types: OUTGOING_SUPPRESSED. */
enum outgoing_result delivery_sieve_action_send(const struct sieve_action *a, const struct outgoing_ctx *c);

#endif
