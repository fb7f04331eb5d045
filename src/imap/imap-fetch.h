/* imap-fetch.h - FETCH item parsing (imap-fetch-parse.c), record batches
 * (imap-fetch-batch.c) and helpers shared by the message commands.
 */
#ifndef DARIUS_IMAP_FETCH_H
#define DARIUS_IMAP_FETCH_H

#include "imap.h"

/* ---- record batches ---------------------------------------------------- */

struct rec_batch {
    const uint32_t *uids;       /* sorted, unique: what to read */
    size_t nuids;
    size_t pos;                 /* next index into uids[] */
    size_t max;                 /* records per batch (default 1024) */
    struct msg_record *recs;    /* this batch; keywords point into kw */
    size_t n, cap;
    struct buf kw;
    size_t *kwoff;
    size_t missing;             /* requested UIDs that had no record (expunged) */
    /* Also the records of messages another session expunged that are
     * kept for this session's client until it is told (FETCH, SEARCH:
     * RFC 2180 4.1.1, 4.3; mailbox_foreach_expunged), merged in UID
     * order; they are not counted as missing. */
    bool expunged_too;
};
/* Load the next batch (b->n == 0 and b->pos == b->nuids when done). */
int rec_batch_next(struct mailbox *mb, struct rec_batch *b);
void rec_batch_free(struct rec_batch *b);

/* ---- FETCH items ------------------------------------------------------- */

enum fetch_sec_kind {
    SEC_ALL,            /* BODY[] or BODY[1.2] (part content) */
    SEC_HEADER,
    SEC_HEADER_FIELDS,
    SEC_HEADER_FIELDS_NOT,
    SEC_TEXT,
    SEC_MIME,
};

#define FETCH_MAX_PART_DEPTH 32
#define FETCH_MAX_FIELDS 256

struct fetch_section {
    char part[FETCH_MAX_PART_DEPTH * 11];   /* "1.2.3", "" for the whole message */
    enum fetch_sec_kind kind;
    char **fields;      /* HEADER.FIELDS(.NOT) names */
    size_t nfields;
};

enum fetch_item_type {
    FI_ENVELOPE,
    FI_FLAGS,
    FI_INTERNALDATE,
    FI_RFC822_SIZE,
    FI_UID,
    FI_BODY,            /* BODY (structure without extension data) */
    FI_BODYSTRUCTURE,
    FI_SECTION,         /* BODY[...] / BODY.PEEK[...] / RFC822 / RFC822.HEADER / RFC822.TEXT */
    FI_BINARY,          /* BINARY[...] / BINARY.PEEK[...] */
    FI_BINARY_SIZE,
    FI_MODSEQ,
    FI_SAVEDATE,
    FI_EMAILID,
    FI_THREADID,
    FI_PREVIEW,         /* RFC 8970 */
};

struct fetch_item {
    enum fetch_item_type type;
    bool peek;                  /* does not set \Seen */
    struct fetch_section sec;
    bool partial;
    uint64_t offset, count;     /* <offset.count>: number64 "." nz-number64 (RFC 9051 9) */
    char *name;                 /* response item name, e.g. "BODY[HEADER]" or "RFC822" */
    bool lazy;                  /* PREVIEW (LAZY): NIL when not stored (RFC 8970 4.1) */
};

struct fetch_req {
    struct fetch_item *items;
    size_t nitems;
    bool has[FI_PREVIEW + 1];   /* which types are present */
    bool sets_seen;             /* a non-peek content item */
    bool need_cache;            /* ENVELOPE, BODY(STRUCTURE), HEADER of the whole message */
    bool need_content;          /* anything reading the message itself */
    uint64_t changedsince;
    bool has_changedsince;
    bool vanished;
    /* RFC 9394 3.3: PARTIAL a:b / -a:-b (struct partial_range) */
    bool has_partial, partial_neg;
    uint32_t partial_a, partial_b;
};

/* Parse "att" or "(att ...)" plus the optional modifiers "(CHANGEDSINCE
 * n [VANISHED])" up to the end of the command. On error returns false and
 * *err is a static text for a tagged BAD. */
bool fetch_parse(struct imap_parser *ps, struct imap_cmd *cmd, struct fetch_req *req, const char **err);
void fetch_req_free(struct fetch_req *req);
/* (NOTIFY) Only "(att ...)", stopping after the ')' (imap-cmd-notify.c). */
bool fetch_parse_att_list(struct imap_parser *ps, struct imap_cmd *cmd, struct fetch_req *req, const char **err);

/* (NOTIFY, RFC 5465 5.2) MessageNew's FETCH attributes, shared by a
 * NOTIFY SET and the jobs that answer it (reference counted, loop thread
 * only). fetch_notify_spec_new takes req over. */
struct fetch_notify_spec;
struct fetch_notify_spec *fetch_notify_spec_new(struct fetch_req *req);
void fetch_notify_spec_unref(struct fetch_notify_spec *sp);
bool fetch_notify_spec_needs_job(const struct fetch_notify_spec *sp);
/* Build the FETCH responses of the new messages uids (sorted) of the
 * selected mailbox as a job on the pool (a handle of its own, read-only,
 * never setting \Seen), then call done on the loop with the MSN snapshot
 * they were numbered with and their text (literals inlined), or too_big
 * when it would pass max_text octets. The session is held meanwhile;
 * done must check that it still wants them (closed, another mailbox
 * selected, NOTIFY changed). */
typedef void (*fetch_notify_done_fn)(struct imap_session *s, int64_t mbid, const struct imap_view_snap *vs,
                                     const struct buf *text, bool too_big, uint64_t cookie);
/* cookie: given back to done (NOTIFY: the view's modseq at submit).
 * False: not submitted (done will not be called). */
bool fetch_notify_submit(struct imap_session *s, struct fetch_notify_spec *spec, const uint32_t *uids, size_t n,
                         size_t max_text, fetch_notify_done_fn done, uint64_t cookie);

/* Parse a section spec "1.2.HEADER.FIELDS (A B)" from just after '['
 * through the closing ']'. binary: only part numbers are allowed. */
bool fetch_parse_section(struct imap_parser *ps, struct imap_cmd *cmd, bool binary, struct fetch_section *sec,
                         const char **err);
/* Write the section spec as echoed in responses ("1.HEADER.FIELDS (A B)"). */
void fetch_section_write(struct buf *b, const struct fetch_section *sec);
/* Apply <offset.count> to a length: returns the slice start/length. */
/* Never overflows: offset and count may be anything up to 2^63-1. */
void fetch_partial_slice(size_t len, bool partial, uint64_t offset, uint64_t count, size_t *start, size_t *n);

/* RFC 5530 response code for a storage error ("NONEXISTENT", "OVERQUOTA",
 * "LIMIT", "SERVERBUG", ...). */
const char *imap_storage_code(int err);
/* Flags for STORE/APPEND: "(f1 f2)" or (list_only=false) "f1 f2". System
 * flags become bits, keywords are appended space-separated (deduplicated)
 * to keywords. \Recent and unknown \Flags are rejected. */
bool imap_parse_flags(struct imap_parser *ps, struct imap_cmd *cmd, bool list_only, uint32_t *flags,
                      struct buf *keywords, const char **err);

/* ---- rights inside the selected mailbox and on targets (RFC 4314) ----- */

/* The session's rights in the selected mailbox: view->rights as SELECT
 * set them, or ACL_ALL for a view without a store reference of its own
 * (a view of the session's own store opened before SELECT filled in
 * ref/store/rights). imap-sync.c. */
acl_rights_t imap_view_rights(const struct imap_view *v);
/* The store the selected mailbox lives in (view->store, else the store of
 * the mailbox handle). No reference is taken. imap-sync.c. */
struct mail_user *imap_view_store(const struct imap_view *v);
/* The system flags the rights allow to set or clear (RFC 4314 4):
 * \Seen with s, \Deleted with t, \Answered \Flagged \Draft with w.
 * Keywords need w as well (ACL_WRITE). */
uint32_t imap_rights_flag_mask(acl_rights_t r);
/* May the session set the implicit \Seen of FETCH BODY[] etc. in the
 * selected mailbox (s right and a read-write view)? */
bool imap_view_may_set_seen(const struct imap_view *v);
/* The target of APPEND/COPY/MOVE (imap-cmd-store.c): resolve the client
 * name (imap_resolve) and require "i". A mailbox that does not exist, or
 * that the session may not see, answers NO [TRYCREATE] (RFC 9051 6.3.12,
 * 6.4.7; RFC 4314 4: invisible = nonexistent); one the session sees but
 * may not insert into, NO [NOPERM]. On success *store holds a reference
 * (mail_user_close) and *rights the session's rights on the target
 * (which decide the flags the new messages keep). On failure the tagged
 * reply was written. */
bool imap_resolve_target(struct imap_session *s, struct imap_cmd *cmd, const struct imap_str *name,
                         struct mbox_ref *ref, struct mail_user **store, acl_rights_t *rights);

/* Open mailbox `name` of `store` (from imap_resolve_target) to add
 * messages: the session's own store as its owner, never claiming \Recent;
 * another store as a reader (mailbox_open_as: that reader's own \Seen). */
int imap_open_target(struct imap_session *s, struct mail_user *store, const char *name, struct mailbox **out);

/* "17-Jul-1996 02:44:25 -0700" */
void imap_format_datetime(struct buf *b, int64_t t, int tz_minutes);

#endif
