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
 *
 * Bodies are immutable, so one inode may back many users' copies. For the
 * same reason nothing per-recipient may be written into the file: the
 * Received "for <rcpt>" clause is added only for a single recipient.
 */
#ifndef DARIUS_DELIVERY_H
#define DARIUS_DELIVERY_H

#include "common.h"
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

struct delivery_rcpt {
    char user[AUTH_MAX_USERNAME + 1];       /* normalized user name */
    char mailbox[1024];                     /* internal mailbox name: "INBOX" or the detail folder */
    bool has_detail;
};
enum rcpt_result { RCPT_OK = 0, RCPT_SYNTAX = -1, RCPT_NOUSER = -2, RCPT_TEMPFAIL = -3 };
/* Resolve an address ("user", "user+detail", "user@domain", "user+detail@domain")
 * to a local user and target mailbox. Domains: "user@domain" is tried as a
 * whole user name first (users may be named with their domain); otherwise
 * the domain is ignored and the local part is the user (no virtual
 * domains yet). lmtp_downcase_rcpt lowercases the user part (not the
 * detail). The detail is mapped to a mailbox name (see
 * delivery_detail_mailbox) but not looked up yet. */
enum rcpt_result delivery_resolve(const char *addr, struct delivery_rcpt *out);
/* Map a detail / -m argument to an internal mailbox name: with the
 * netnews separator ('.', unixhierarchysep: no) '.' becomes the internal
 * '/'; "inbox" in any case is INBOX. False when not a valid mailbox name
 * (empty components, control characters, invalid UTF-8, too long). */
bool delivery_detail_mailbox(const char *detail, char *out, size_t outlen);

/* ---- delivering ------------------------------------------------------------ */

enum deliver_result {
    DELIVER_OK = 0,         /* stored (durable) */
    DELIVER_DUPLICATE,      /* already delivered (duplicatesuppression): accept, not stored */
    DELIVER_NOUSER,
    DELIVER_OVERQUOTA,
    DELIVER_TEMPFAIL,       /* I/O, busy */
    DELIVER_PERMFAIL,       /* invalid data */
};

struct deliver_opts {
    bool ignore_quota;      /* IGNOREQUOTA / deliver -q: deliver even over quota */
    bool dupcheck;          /* duplicate suppression for this delivery */
    uint32_t flags;         /* enum msg_flag bits to set */
    const char *keywords;   /* space-separated or NULL */
};

/* Deliver the finished spool to rcpt. When the detail folder does not
 * exist: createonpost creates it, else INBOX. */
enum deliver_result delivery_deliver(struct dspool *s, const struct delivery_rcpt *rcpt,
                                     const struct deliver_opts *o);

/* ---- duplicate suppression (DATADIR/duplicate.db) -------------------------- */

/* 1 seen within duplicate_expire days, 0 not seen, <0 error (treat as not seen). */
int duplicate_check(const char *msgid, const char *user, const char *mailbox);
void duplicate_mark(const char *msgid, const char *user, const char *mailbox);
/* Remove entries older than days days; returns the count removed or -1. */
long duplicate_prune(int days);
void duplicate_close(void);

#endif
