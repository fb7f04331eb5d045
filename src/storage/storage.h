/* storage.h - the mail storage API.
 *
 * This is the only interface protocol code (IMAP, later POP3/LMTP/Sieve)
 * and the admin CLI use to reach mail. The embedded backend keeps one
 * SQLite database (WAL mode) per user plus immutable message files; a
 * PostgreSQL backend will implement the same functions (dispatch goes
 * through struct storage_backend_ops in storage-private.h).
 *
 * Names: mailbox names here are internal names: UTF-8, '/' as hierarchy
 * separator, "INBOX" spelled exactly so. Converting from/to what a client
 * sends (modified UTF-7, '.' separator, case-insensitive INBOX) is the
 * protocol layer's job. Storage never turns a mailbox name into a file
 * path: mailboxes are rows; message files are named by a random GUID.
 *
 * Errors: functions returning int return 0 on success or a negative
 * enum storage_error; storage_strerror() gives text for logs/NO replies.
 *
 * Durability: every function that changes state commits a transaction
 * before returning; message bodies are fsync'd (file and directory) before
 * the metadata commit that references them. Callers may answer OK to the
 * client as soon as the call returns 0.
 *
 * Notification: every committed change calls notify_mailbox_changed()
 * (notify.h) so other sessions in any process learn of it; they then call
 * mailbox_sync() to read the change from the database, which is the one
 * source of truth.
 */
#ifndef DARIUS_STORAGE_H
#define DARIUS_STORAGE_H

#include "common.h"
#include <time.h>

enum storage_error {
    STORAGE_OK = 0,
    STORAGE_ERR_NOTFOUND = -1,     /* mailbox / message / user does not exist */
    STORAGE_ERR_EXISTS = -2,       /* mailbox already exists */
    STORAGE_ERR_INVALID = -3,      /* invalid name or argument */
    STORAGE_ERR_IO = -4,           /* disk/database failure (logged) */
    STORAGE_ERR_BUSY = -5,         /* lock timeout; retry later */
    STORAGE_ERR_NOPERM = -6,       /* e.g. delete INBOX */
    STORAGE_ERR_HASCHILDREN = -7,  /* delete of a \Noselect parent with children */
    STORAGE_ERR_LIMIT = -8,        /* a configured limit was hit */
    STORAGE_ERR_OVERQUOTA = -9,
    STORAGE_ERR_MODIFIED = -10,    /* UNCHANGEDSINCE failed (per message) */
    STORAGE_ERR_EXPUNGED = -11,    /* message is gone */
    /* Sieve scripts (sieve_script_*; RFC 5804 response codes in brackets): */
    STORAGE_ERR_MAXSCRIPTS = -12,  /* sieve_maxscripts reached [QUOTA/MAXSCRIPTS] */
    STORAGE_ERR_MAXSIZE = -13,     /* script over sieve_maxscriptsize [QUOTA/MAXSIZE] */
    STORAGE_ERR_ACTIVE = -14,      /* delete of the active script [ACTIVE] */
};
const char *storage_strerror(int err);

/* System flags as bits; keywords are strings. \Recent is not stored per
 * message: it is derived per session (see mailbox_open). */
enum msg_flag {
    MSG_SEEN = 1u << 0,
    MSG_ANSWERED = 1u << 1,
    MSG_FLAGGED = 1u << 2,
    MSG_DELETED = 1u << 3,
    MSG_DRAFT = 1u << 4,
};

/* RFC 6154 special-use attributes (and RFC 8457's \Important). */
enum special_use {
    SPECIAL_ALL = 1u << 0,
    SPECIAL_ARCHIVE = 1u << 1,
    SPECIAL_DRAFTS = 1u << 2,
    SPECIAL_FLAGGED = 1u << 3,
    SPECIAL_JUNK = 1u << 4,
    SPECIAL_SENT = 1u << 5,
    SPECIAL_TRASH = 1u << 6,
    SPECIAL_IMPORTANT = 1u << 7,    /* RFC 8457 */
};
#define SPECIAL_USE_ALL 0xffu           /* every bit above */

#define STORAGE_MAX_MAILBOX_NAME 1024   /* bytes, internal UTF-8 form */
#define STORAGE_MAX_KEYWORD 128         /* bytes */
#define STORAGE_MAX_KEYWORDS_PER_MAILBOX 256
#define STORAGE_MAX_ACL 4096            /* bytes of ACL text (access.h format) */

/* Global set-up: datadir root. Creates directories as needed. Must be
 * called once per process before anything else. */
int storage_init(const char *datadir);
void storage_shutdown(void);
/* DATADIR/tmp: for temporary files on the same filesystem as the store, so
 * a spilled APPEND literal can be linked into place instead of copied. */
const char *storage_tmpdir(void);
const char *storage_datadir(void);

/* ---- users' stores ---------------------------------------------------- */

struct mail_user;

/* Open (creating on first use when create=true) the store of a user whose
 * name has already been validated by the user database. Handles are
 * reference counted and shared within a process: opening the same user
 * twice returns the same object with refcount+1. INBOX always exists.
 * Threads: the shared handles belong to the thread that called
 * storage_init (a worker's event loop). Another thread (a job on the
 * pool, jobs.h) that opens a store gets a handle private to that thread,
 * with a database connection of its own, shared only by that thread's
 * own opens of the same store; it must close it on that thread. (A job
 * holding a shared handle through storage_job_begin must not also open
 * the same store by name while it has a write transaction open: the two
 * connections would wait for each other.) */
int mail_user_open(const char *username, bool create, struct mail_user **out);
void mail_user_close(struct mail_user *u);
/* Keep handles of the calling (loop) thread open for ms after their last
 * close (0, the default: close at once), at most 256 of them: a user who
 * comes back soon finds the store open. A lingering handle still holds
 * the store's shared lock, so whatever needs every process to let go of
 * a store (move, rename, delete: the kick) must drop it:
 * storage_linger_drop(user, 0). storage_linger_drop(NULL, ms) closes every
 * handle idle for at least ms (a periodic sweep; NULL, 0: all). */
void storage_set_linger(uint64_t ms);
void storage_linger_drop(const char *username, uint64_t older_than_ms);
/* The periodic sweep without closing on the calling thread: every handle
 * idle for at least ms leaves the table (nobody can find it any more) and
 * goes to dispose, which must end it with mail_user_free_detached - on
 * any thread, e.g. a pool thread, because closing a store's database
 * checkpoints its WAL (fsyncs). dispose NULL: closed here. */
void storage_linger_expire(uint64_t older_than_ms, void (*dispose)(struct mail_user *u));
void mail_user_free_detached(struct mail_user *u);
const char *mail_user_name(const struct mail_user *u);

/* Off-loop use of opened stores (a job on the pool, jobs.h). Between
 * storage_job_begin and storage_job_end on one thread, every storage call
 * on a or b from that thread uses the store's second database connection,
 * held exclusively (one job per store at a time; the loop keeps its own
 * connection for reads), so no SQLite connection is ever used by two
 * threads at once. a or b may be NULL; two stores are locked in a fixed
 * order (no deadlock between jobs crossing the same pair). The handles
 * must stay open meanwhile: the submitter holds its references until the
 * job's done callback. Opening and closing the shared handles
 * (mail_user_open/close) stays on the loop thread; a job that opens a
 * store by name gets a private handle (see mail_user_open). Returns 0
 * or a storage error. */
int storage_job_begin(struct mail_user *a, struct mail_user *b);
void storage_job_end(struct mail_user *a, struct mail_user *b);
bool storage_in_job(const struct mail_user *u);
/* The same for a job that only reads (SEARCH, FETCH without \Seen): one
 * of the store's reader connections (up to 8, opened on demand, kept with
 * the handle) instead of its one job connection, so read jobs of one
 * store run in parallel with each other and with its writer (WAL). Such a
 * job needs no key. Writes through a reader connection must never wait
 * (only best-effort cache fills, which skip when the store is busy). */
int storage_read_begin(struct mail_user *u);
void storage_read_end(struct mail_user *u);
/* Remove a user's whole store (CLI "user del"). */
int mail_user_delete_store(const char *username);
/* Store names: a user id (validated by auth) or a shared store
 * "%shared" / "%shared@DOMAIN" (access.h). */
/* True when the last mail_user_open(create=true) of this handle created
 * the store (first login/delivery: autocreate folders, quota). Cleared
 * by mail_user_clear_new. */
bool mail_user_is_new(const struct mail_user *u);
/* Does the calling thread's table hold a handle of this store (open, or
 * lingering after its last close) that is not new? On the loop: the
 * store exists and was provisioned, so a login can finish without a job
 * (the provisioning left to do is an indexed read, not a store open). */
bool mail_user_cached(const char *username);
void mail_user_clear_new(struct mail_user *u);

/* ---- partitions (partition.c) ----------------------------------------- */
/* A store lives on a partition: "default" is DATADIR itself (store dir
 * DATADIR/user/<c>/<name>), any other is a "partition-NAME: PATH" config
 * entry (store dir PATH/user/<c>/<name>). Which partition a store is on
 * is recorded in DATADIR/stores.db when it is not the default one.
 * Shared stores live in DATADIR/shared/<domain or "%">. */
/* Create a store on partition (NULL = config defaultpartition); EXISTS
 * when it exists, INVALID for an unknown partition. */
int mail_user_create(const char *username, const char *partition);
/* Name of the partition a store is on ("default" ...); NOTFOUND when the
 * store does not exist. */
int mail_user_partition(const char *username, char *out, size_t outlen);
/* Move a store to another partition while the server runs: marks it
 * busy (mail_user_open returns STORAGE_ERR_BUSY meanwhile, LMTP answers
 * 4xx, logins are refused), disconnects the user's sessions in every
 * process (notify_user_kick), waits for every process to close it, copies
 * it with fsync, switches stores.db, removes the old copy. Restartable
 * after a crash at any point. */
int mail_user_move_partition(const char *username, const char *partition);
/* Rename a store (account rename): same partition, same locking as a
 * move. EXISTS when newname has a store. */
int mail_user_rename_store(const char *oldname, const char *newname);
/* Every store name (users and shared stores), any order. */
int mail_user_list_stores(void (*cb)(const char *name, void *arg), void *arg);
/* Finish or undo moves/renames/deletes interrupted by a crash (their
 * process is gone). Call once at startup after storage_init (dariusd
 * master, CLI); opens and new operations also recover a store lazily.
 * Returns how many stores were recovered, or an error. */
int storage_partitions_recover(void);
/* How long move/rename/delete wait for other processes to close the
 * store after the kick (default 30000 ms; <= 0 restores it). A server
 * process runs them in a job on its pool (IMAP admin DELETE/RENAME of
 * user/NAME), where they also wait that long at most for the process's
 * own event loop to close its sessions of the store; it may want less
 * than the CLI (the admin's command waits for the answer). */
void storage_set_store_wait_ms(int ms);

/* ---- mailboxes -------------------------------------------------------- */

struct mailbox_info {
    int64_t id;                 /* internal row id, stable for the mailbox's life and
                                   never reused for another mailbox of the user */
    char name[STORAGE_MAX_MAILBOX_NAME + 1];
    char mailboxid[40];         /* RFC 8474 MAILBOXID */
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint64_t highestmodseq;
    uint32_t special_use;       /* enum special_use bits */
    bool subscribed;
    /* Counters (kept current in the database, cheap to read): */
    uint32_t messages;
    uint32_t unseen;            /* messages without \Seen */
    uint32_t recent;            /* UIDs above the mailbox's recent watermark */
    uint32_t deleted;           /* messages with \Deleted */
    uint64_t size;              /* sum of RFC822.SIZE */
    /* Access control (access.h): the ACL text, and whether \Seen is
     * shared by every reader instead of kept per reader. acl is never
     * NULL. It is valid during a mailbox_list callback, and for
     * mailbox_status/_as until the next storage call on the same store
     * in this process; an open handle's info (mailbox_get_info) has ""
     * (rights are taken at open by the caller, with mailbox_get_acl).
     * A pointer, not an array: every open mailbox of every connection
     * holds a mailbox_info, and a 4 KiB array there doubled the memory
     * of an idle IMAP connection. */
    const char *acl;
    bool sharedseen;
};

typedef void (*mailbox_list_cb)(const struct mailbox_info *info, void *arg);

/* All of the user's mailboxes (counters filled in), sorted by name. */
int mailbox_list(struct mail_user *u, mailbox_list_cb cb, void *arg);
/* Subscribed names, including names of mailboxes that no longer exist. */
int mailbox_list_subscriptions(struct mail_user *u, void (*cb)(const char *name, void *arg), void *arg);
int mailbox_subscribe(struct mail_user *u, const char *name, bool subscribe);

int mailbox_status(struct mail_user *u, const char *name, struct mailbox_info *out);
/* (NOTIFY) The same by the mailbox's id, as a change hint names it (one
 * indexed read, like mailbox_status). NOTFOUND: no such mailbox (any
 * more). */
int mailbox_status_by_id(struct mail_user *u, int64_t id, struct mailbox_info *out);
int mailbox_create(struct mail_user *u, const char *name, uint32_t special_use);
/* Delete a mailbox and its messages. Children are not deleted (IMAP keeps
 * them; the caller decides on \Noselect semantics). INBOX: NOPERM. */
int mailbox_delete(struct mail_user *u, const char *name);
/* Rename a mailbox and all its children ("a" -> "b" moves "a/x" to "b/x").
 * Renaming INBOX moves its messages to a new mailbox named newname and
 * leaves INBOX empty (RFC 9051 6.3.6). Missing parents are not created;
 * the name hierarchy is implicit. UIDVALIDITY of renamed mailboxes is
 * kept; MAILBOXID is kept. */
int mailbox_rename(struct mail_user *u, const char *oldname, const char *newname);
int mailbox_set_special_use(struct mail_user *u, const char *name, uint32_t special_use);
/* CREATE with an initial ACL (text as access.h; NULL = ""), atomically. */
int mailbox_create_acl(struct mail_user *u, const char *name, uint32_t special_use, const char *acl);
/* Replace the ACL text of a mailbox (one transaction; INVALID when longer
 * than STORAGE_MAX_ACL). The text is opaque to storage. */
int mailbox_set_acl(struct mail_user *u, const char *name, const char *acl);
int mailbox_get_acl(struct mail_user *u, const char *name, char *out /* STORAGE_MAX_ACL+1 */);
/* The ACL text of an open mailbox, found by its id (so it follows a
 * RENAME, and never reads another mailbox that took the name); NOTFOUND
 * once the mailbox was deleted. A session re-evaluates its rights on the
 * selected mailbox with it (the ACL may change while it is selected). */
struct mailbox;
int mailbox_get_acl_open(struct mailbox *mb, char *out /* STORAGE_MAX_ACL+1 */);
/* Change an ACL atomically: modify gets the current text and returns 0
 * with a malloc'd new text in *newacl (or an error, which aborts); the
 * read and the write are one transaction, so concurrent SETACLs never
 * lose an update. */
int mailbox_update_acl(struct mail_user *u, const char *name,
                       int (*modify)(const char *old, char **newacl, void *arg), void *arg);
int mailbox_set_sharedseen(struct mail_user *u, const char *name, bool shared);

/* Readers other than the store's owner (shared folders, Other Users):
 * unless the mailbox has sharedseen, such a reader's \Seen is its own,
 * kept in the store per (mailbox, reader). mailbox_status_as fills
 * unseen (and first unseen) for that reader. */
int mailbox_status_as(struct mail_user *u, const char *name, const char *reader, struct mailbox_info *out);
/* Account rename/delete: move every per-reader \Seen row and /private
 * METADATA entry of reader `from` in this store to reader `to` (rows `to`
 * already has are kept), or drop them when to is NULL. One transaction;
 * idempotent. */
int mail_user_rename_reader(struct mail_user *u, const char *from, const char *to);

/* ---- an open mailbox -------------------------------------------------- */

struct mailbox;

/* Per-message metadata record. */
struct msg_record {
    uint32_t uid;
    uint32_t flags;             /* enum msg_flag */
    const char *keywords;       /* space-separated, "" when none; valid until next call */
    uint64_t modseq;
    int64_t internaldate;       /* seconds since epoch (UTC) */
    int internaldate_tz;        /* offset east of UTC in minutes, for display */
    int64_t savedate;           /* RFC 8514 */
    uint64_t size;              /* RFC822.SIZE: exact octets of the stored message */
    char guid[33];              /* body reference (hex), also EMAILID basis */
    char threadid[33];          /* RFC 8474 THREADID ("" when not computed) */
};

typedef int (*msg_record_cb)(const struct msg_record *rec, void *arg); /* non-zero stops */

/* Behaviour notes:
 *  - mailbox_info.recent is always the mailbox-wide count of UIDs above
 *    the stored watermark; after a claiming open it is 0. A session's own
 *    \Recent set is "UIDs > *recent_uid_floor" (readonly opens never claim).
 *  - Every callback runs with no database cursor or transaction open
 *    (store/expunge/copy callbacks after the commit; foreach_record in
 *    bounded batches), so callbacks may call back into storage, including
 *    changes (FETCH setting \Seen). Exception: mail_user_check's callback
 *    runs inside its transaction and must only report. */

/* A deleted mailbox (DELETE, or RENAME away is NOT a deletion: a renamed
 * mailbox keeps its id and an open handle follows it). Every operation on
 * an open handle whose mailbox was deleted returns STORAGE_ERR_NOTFOUND
 * and never touches another mailbox: mailbox_sync, mailbox_get_uids,
 * mailbox_foreach_record, mailbox_get_record, mailbox_get_cache,
 * mailbox_get_content, mailbox_first_unseen, mailbox_get_keywords,
 * mailbox_vanished_since, mailbox_claim_recent, mailbox_store,
 * mailbox_expunge, mailbox_copy (source), mailbox_append_begin/commit.
 * (Ids are never reused, and the MAILBOXID captured at open is compared
 * too, so a mailbox created later can never be mistaken for it.)
 * The IMAP layer notices through mailbox_sync() returning NOTFOUND (the
 * call it makes anyway after a notification); mailbox_is_deleted() answers
 * the same question directly. RENAME of INBOX is not a deletion either:
 * INBOX stays, and its messages show up as expunged in mailbox_sync. */

/* Open a mailbox. readonly=true for EXAMINE. When claim_recent is true
 * (a read-write SELECT), the messages above the mailbox's \Recent
 * watermark are this session's recent messages and the watermark moves to
 * UIDNEXT-1 in the same transaction; *recent_uid_floor (may be NULL) gets
 * the old watermark: UIDs above it are \Recent for this session. */
int mailbox_open(struct mail_user *u, const char *name, bool readonly, bool claim_recent,
                 uint32_t *recent_uid_floor, struct mailbox **out);
/* Open for a reader other than the store owner (reader = user id; NULL or
 * the owner's name = mailbox_open). Without sharedseen, every record this
 * handle returns (foreach_record, get_record, sync, first_unseen, info
 * .unseen) carries the reader's own \Seen, and mailbox_store of \Seen
 * through it changes only the reader's state (the message still gets a
 * new modseq, so CONDSTORE/QRESYNC see the change; other sessions may see
 * a FETCH with unchanged flags, which RFC 7162 allows). Such a handle
 * never claims \Recent (recent_uid_floor gets UINT32_MAX: nothing is
 * \Recent for it). mailbox_copy from it copies the reader's flags. */
int mailbox_open_as(struct mail_user *u, const char *name, const char *reader, bool readonly,
                    uint32_t *recent_uid_floor, struct mailbox **out);
void mailbox_close(struct mailbox *mb);
/* The part of closing that may write (a viewer's row, releasing expunged
 * messages kept for it): call it on a pool thread holding the store
 * (storage_job_begin), then mailbox_close on the loop thread frees the
 * handle without touching the database. Without it, mailbox_close does
 * both. */
void mailbox_close_work(struct mailbox *mb);
const struct mailbox_info *mailbox_get_info(struct mailbox *mb); /* refreshed by mailbox_sync */
/* The mailbox's row as the database holds it now (within a read
 * transaction: as of its snapshot): UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ
 * (raised by every flag change, append and expunge) and the counters,
 * without refreshing mailbox_get_info (a session's view of the mailbox
 * follows mailbox_sync only). The unseen counter is the owner's. One
 * primary-key read; NOTFOUND once the mailbox was deleted. For a cache
 * that must notice any change (SORT's result cache, imap-cmd-sort.c). */
int mailbox_peek_info(struct mailbox *mb, struct mailbox_info *out);
/* True when the open mailbox no longer exists (deleted since open). One
 * primary-key lookup, none once deletion has been seen (it is sticky). A
 * database error counts as "not deleted" (the next operation reports it). */
bool mailbox_is_deleted(struct mailbox *mb);
/* RFC 3501 2.3.2 \Recent for a session that is already selected: claim
 * the messages that arrived since the mailbox's \Recent watermark was
 * last moved (by this or any session's SELECT or claim). Call it when a
 * sync shows new messages. Atomically moves the watermark to UIDNEXT-1
 * (the database's current value, which may be past what this session has
 * synced yet) and reports the claimed range: UIDs u with
 * *floor_out < u <= *claimed_hi are \Recent for this session and for no
 * other. The range is empty (*floor_out == *claimed_hi) when nothing is
 * new; that case is a plain read and never takes the write lock. A
 * read-only handle (EXAMINE) never claims: empty range 0,0, STORAGE_OK,
 * no database access. Either pointer may be NULL. NOTFOUND when the
 * mailbox was deleted. */
int mailbox_claim_recent(struct mailbox *mb, uint32_t *floor_out, uint32_t *claimed_hi);
/* The same for the event loop: never waits for another connection's
 * write lock (STORAGE_ERR_BUSY, nothing claimed: try at the next sync)
 * and commits without an fsync (a claim lost in a power failure only
 * shows a message as \Recent once more). */
int mailbox_claim_recent_nowait(struct mailbox *mb, uint32_t *floor_out, uint32_t *claimed_hi);
struct mail_user *mailbox_user(struct mailbox *mb);

/* All UIDs currently in the mailbox, ascending. Caller frees *uids. */
int mailbox_get_uids(struct mailbox *mb, uint32_t **uids, uint32_t *count);
/* Lowest UID without \Seen, 0 when every message is seen (IMAP4rev1
 * SELECT's [UNSEEN n]). An index lookup, not a scan: use this instead of
 * walking the records when the first unseen message may be far in. */
int mailbox_first_unseen(struct mailbox *mb, uint32_t *uid);
/* Keywords defined in the mailbox (for the FLAGS response), space-separated. */
int mailbox_get_keywords(struct mailbox *mb, char **out);

/* Records for UIDs in [uid_lo, uid_hi] in ascending order. For a sparse
 * list pass the whole range and filter, or call per range. */
int mailbox_foreach_record(struct mailbox *mb, uint32_t uid_lo, uint32_t uid_hi, msg_record_cb cb, void *arg);
int mailbox_get_record(struct mailbox *mb, uint32_t uid, struct msg_record *out);

/* What changed since modseq (exclusive): records whose modseq is higher
 * (flag changes and new messages), and UIDs expunged with a higher modseq.
 * Either callback may be NULL. Refreshes mailbox_get_info(). This is how a
 * session learns what other sessions did (notify.h only says "look"). */
int mailbox_sync(struct mailbox *mb, uint64_t since_modseq, msg_record_cb changed, void *carg,
                 int (*expunged)(uint32_t uid, void *arg), void *earg);
/* mailbox_sync returns STORAGE_ERR_NOTFOUND (and calls no callback) once
 * the mailbox has been deleted; the session should then tell the client
 * (e.g. untagged BYE, or deselect with a NO for the next command). */
/* Expunged UIDs with modseq > since, ascending (QRESYNC VANISHED). Also
 * usable for UIDs never seen: storage remembers every expunge. */
int mailbox_vanished_since(struct mailbox *mb, uint64_t since_modseq,
                           int (*cb)(uint32_t uid, void *arg), void *arg);
/* RFC 7162 3.2.10: lowest modseq whose expunges are still remembered - 1;
 * 0 when all are remembered (we never forget, so this is 0). */
uint64_t mailbox_expunge_horizon(struct mailbox *mb);

/* ---- expunged messages a session still shows (RFC 2180 4.1.1) ---------- */

/* A client with a mailbox selected knows its messages by sequence number
 * and may not be sent EXPUNGE at every moment (RFC 9051 7.5.1: never
 * while answering FETCH, STORE or SEARCH), so a message another session
 * expunges stays in its view for a while. Call mailbox_keep_expunged right
 * after mailbox_open/_as, before reading the UID list, on a handle that
 * shows a client the mailbox's messages (IMAP SELECT/EXAMINE): from then
 * on a message another handle (of any process) expunges stays readable
 * through this handle - mailbox_foreach_expunged gives its record as last
 * known, mailbox_get_cache and mailbox_get_content its data - until
 * mailbox_expunges_told says the client was told, or the handle is
 * closed. The message row goes at once (counters, quota, UID list and
 * VANISHED are those of any expunge); only its record and file are kept,
 * and they go once no handle of a live process can still see them (a
 * crash's leftovers go at the next open of the store). Expunges through
 * this handle itself are not kept for it. An error is logged and only
 * means the protection may be missing (a FETCH then finds the message
 * gone, as without it). */
int mailbox_keep_expunged(struct mailbox *mb);
/* mb's client has been told of every expunge with a modseq <= modseq
 * (none is held back). Cheap unless it lets retained messages go. */
void mailbox_expunges_told(struct mailbox *mb, uint64_t modseq);
/* The same in two halves, so the loop thread never writes: the note (no
 * I/O) returns true when kept messages may now go, and then
 * mailbox_release_kept (it writes; run it as a job with the store held,
 * storage_job_begin, before mb is closed) lets them go. */
bool mailbox_expunges_noted(struct mailbox *mb, uint64_t modseq);
void mailbox_release_kept(struct mailbox *mb);
/* Records, as last known, of the messages in [uid_lo, uid_hi] expunged
 * after what mb's client was last told and kept for it, ascending.
 * Nothing for a handle without mailbox_keep_expunged. */
int mailbox_foreach_expunged(struct mailbox *mb, uint32_t uid_lo, uint32_t uid_hi, msg_record_cb cb, void *arg);

/* ---- message content -------------------------------------------------- */

/* The cached parse results stored at append time. Strings are NUL
 * terminated, valid until mailbox_msg_cache_free. Every field is bounded:
 * ENVELOPE and BODYSTRUCTURE by the limits in mime.h (MIME_ENV_*,
 * MIME_BODYSTRUCTURE_MAX), and a header block longer than
 * STORAGE_HEADER_CACHE_MAX is not cached at all (header NULL): readers
 * take it from the message file, so BODY[HEADER] stays exact while the
 * database and every cache load stay small. */
#define STORAGE_HEADER_CACHE_MAX (64 * 1024)
struct msg_cache {
    char *envelope;         /* IMAP ENVELOPE, parenthesised list */
    char *bodystructure;    /* BODYSTRUCTURE with extension data */
    char *body;             /* BODY (no extension data) */
    char *header;           /* raw header block including the blank line; NULL = not cached */
    size_t header_len;
    uint32_t lines;         /* body lines (for text parts in BODY) */
};
/* Also for a message kept for mb (mailbox_keep_expunged), as
 * mailbox_get_content. */
int mailbox_get_cache(struct mailbox *mb, uint32_t uid, struct msg_cache *out);
void msg_cache_free(struct msg_cache *c);

/* The full message, read-only. Implementation maps the file; release
 * with msg_content_release. */
struct msg_content {
    const char *data;
    size_t len;
    void *priv;     /* what msg_content_release gives back: a mapping, or (heap) a buffer */
    bool heap;
};
int mailbox_get_content(struct mailbox *mb, uint32_t uid, struct msg_content *out);
void msg_content_release(struct msg_content *c);
/* Make the pages of [p, p+len) resident (readahead, then one read per
 * page), typically a range of a mapped message. A job on the pool calls
 * this for what the event loop is about to send, so the loop never waits
 * for the disk (jobs.h). Any readable memory may be passed. */
void msg_content_prefault(const void *p, size_t len);

/* What SEARCH reads of many messages' headers at once, from data stored
 * when each message was appended, never from the message files:
 *  - hfields (SEARCH_HDR_FIELDS): the fields Subject, From, To, Cc and
 *    Bcc, every occurrence, unfolded, RFC 2047 decoded and converted to
 *    UTF-8 once at append time (format and reader: mime_hfields_* in
 *    mime.h). NULL only for a message whose decoded fields exceed
 *    MIME_HFIELDS_MAX: decode them from the raw header then. Messages
 *    stored before schema 6 have none yet: they are decoded from the
 *    cached raw header on first use and saved, so that happens once.
 *  - header (SEARCH_HDR_RAW): the raw header block, as msg_cache.header;
 *    NULL when not asked for or not cached (longer than
 *    STORAGE_HEADER_CACHE_MAX: only the message file has it).
 * For uids[0..n) (ascending), fills b->v[0..k) for the first k of them
 * and returns k: 1 <= k <= n, fewer when the data passes a few MB (call
 * again for the rest), 0 when n is 0, or a negative error. v[i].uid is 0
 * when uids[i] has no message (expunged). The data stays valid until the
 * next call with b or search_hdr_batch_free. */
enum { SEARCH_HDR_FIELDS = 1u << 0, SEARCH_HDR_RAW = 1u << 1 };
struct msg_search_hdr {
    uint32_t uid;
    const char *hfields;
    size_t hfields_len;
    const char *header;
    size_t header_len;
};
struct search_hdr_batch {
    struct msg_search_hdr *v;
    size_t n;
    /* private to storage */
    size_t cap;
    char *mem;
    size_t memlen, memcap;
};
int mailbox_search_headers(struct mailbox *mb, const uint32_t *uids, size_t n, unsigned what,
                           struct search_hdr_batch *b);
void search_hdr_batch_free(struct search_hdr_batch *b);

/* What SORT and THREAD compare (RFC 5256, RFC 5957), computed once when a
 * message was stored: for uids[0..n) (ascending), cb gets each message's
 * sort-key record (sortkey.h: read it with mime_sortkeys_parse; always a
 * current, well-formed one), in UID order, from one scan of the message
 * rows. A uid without a message (expunged) is skipped. Size and
 * INTERNALDATE (ARRIVAL, and the sent date when the record has none: RFC
 * 5256 2.2) are in the message records. The pointer is valid during the
 * call only. Messages stored before schema 9 get their record built from
 * the cached raw header on first use and saved. A job on the pool calls
 * this (it reads every message row of the range). */
typedef void (*sort_keys_cb)(void *arg, uint32_t uid, const char *rec, size_t len);
int mailbox_sort_keys(struct mailbox *mb, const uint32_t *uids, size_t n, sort_keys_cb cb, void *arg);

/* PREVIEW (RFC 8970): the stored preview text of message uid (also of a
 * message kept for mb, as mailbox_get_cache), computed when it was
 * appended (mime.h mime_preview_build). *text (free) is NULL when the
 * message has none stored (appended before schema 13): the caller
 * computes it from the content and may save it with
 * mailbox_save_previews. guid (may be NULL) gets the message's guid. */
int mailbox_get_preview(struct mailbox *mb, uint32_t uid, char **text, char guid[33]);
/* Save computed previews of messages by guid (a cache fill: best effort,
 * never waits for the write lock, silently skipped when busy). */
void mailbox_save_previews(struct mailbox *mb, const char (*guids)[33], char *const *texts, size_t n);

/* ---- changes ---------------------------------------------------------- */

/* Append, possibly several messages atomically (MULTIAPPEND, RFC 3502).
 * The source is either memory (data,len) or an open fd (read from offset 0
 * to len; a temporary file may be linked into place instead of copied).
 * internaldate 0 = now. Each add writes and fsyncs the body; commit
 * commits metadata and fills uids (one per add, in order). On any error
 * abort removes the bodies; nothing becomes visible. */
struct append_txn;
struct append_msg {
    const char *data;       /* or NULL when fd is used */
    int fd;                 /* -1 when data is used */
    size_t len;
    uint32_t flags;
    const char *keywords;   /* space-separated or NULL */
    int64_t internaldate;
    int internaldate_tz;
    /* fd is a delivery spool file the caller created itself in
     * storage_tmpdir() and will never modify: it may be hard-linked into
     * this and other users' stores even when it already has links
     * (single-instance store for LMTP/deliver to many recipients). */
    bool shared_spool;
    /* Deliver even when a quota root is full (LMTP IGNOREQUOTA, deliver
     * -q, as in Cyrus): the usage is still counted, only the check is
     * skipped, so the user is over quota afterwards. */
    bool ignore_quota;
};
int mailbox_append_begin(struct mailbox *mb, struct append_txn **out);
int mailbox_append_add(struct append_txn *t, const struct append_msg *m);
int mailbox_append_commit(struct append_txn *t, uint32_t *uidvalidity, uint32_t *uids, size_t maxuids);
void mailbox_append_abort(struct append_txn *t);
/* Append to a mailbox by name without opening it (LMTP/CLI use). */
int mailbox_append_by_name(struct mail_user *u, const char *name, const struct append_msg *m,
                           uint32_t *uidvalidity, uint32_t *uid);

/* ---- group commit (docs/architecture.md "Durability rules") -------------
 * Independent appends into ONE store (IMAP APPEND/MULTIAPPEND sessions,
 * LMTP deliveries) that coincide are committed together: every message
 * file is written and fsync'd and linked into msg/ (the files of one
 * batch share one msg/<gg>/ directory), each distinct directory is
 * fsync'd once, then ONE write transaction commits every request's rows
 * (one WAL commit and its fsyncs). Each request still succeeds or fails
 * on its own: it runs inside its own savepoint, and its quota is checked
 * as if it had been committed alone after the ones before it in the batch
 * (one over quota fails alone; the others commit). Nothing is durable -
 * and no result is 0 - before that commit returned.
 *
 * mailbox_append_batch runs on the thread that does the work (a pool
 * thread, or the caller's own without a pool): it takes the store's job
 * connection itself (storage_job_begin), so the handles and mailboxes
 * must be kept open by the submitter until it returned. */
struct append_req {
    /* in */
    struct mail_user *store;        /* every request of a batch: the same store */
    struct mailbox *mb;             /* the target, or NULL: ... */
    const char *mailbox;            /* ... opened by this name (as mailbox_append_by_name) */
    const struct append_msg *msgs;  /* all or none of them (RFC 3502) */
    size_t nmsgs;
    /* Optional steps of the caller, run on the same thread with the store
     * held. before: first, before anything is written; a non-zero return
     * ends the request with result = that value (callers use positive
     * values of their own, e.g. a duplicate delivery) and nothing is
     * written. after: once the batch is committed and result is final
     * (e.g. a reader's own \Seen, duplicate bookkeeping); it may make
     * further storage calls on the store. */
    int (*before)(struct append_req *r);
    void (*after)(struct append_req *r);
    /* REPLACE (RFC 8508 3.4): when expunge_mb is set (a mailbox of the
     * same store, open for writing), its message expunge_uid is expunged,
     * whatever its flags, in the same transaction as the append (the
     * quota verdict sees both: only the net change counts). When that
     * message no longer exists the request fails with
     * STORAGE_ERR_EXPUNGED and nothing is appended. */
    struct mailbox *expunge_mb;
    uint32_t expunge_uid;
    /* out */
    int result;                     /* 0 (durable), a storage error or before's value */
    uint32_t uidvalidity;
    uint32_t *uids;                 /* the caller's array of nmsgs UIDs, or NULL */
};
/* items: struct append_req * each (void ** so that the pool can run it as
 * a batch job directly, jobs_submit_batch); n >= 1. */
void mailbox_append_batch(void **items, size_t n);

enum store_mode { STORE_REPLACE, STORE_ADD, STORE_REMOVE };
struct store_req {
    enum store_mode mode;
    uint32_t flags;             /* system flags */
    const char *keywords;       /* space-separated or NULL */
    uint64_t unchangedsince;    /* 0 = no condition (RFC 7162 3.1.3) */
};
/* Apply to each UID in uids[] (ascending, may contain UIDs that no longer
 * exist: they are skipped). For every message whose flags actually
 * changed, cb gets the new record (new modseq). UIDs that failed the
 * UNCHANGEDSINCE test are reported via failed_cb. One transaction. */
int mailbox_store(struct mailbox *mb, const uint32_t *uids, size_t n, const struct store_req *req,
                  msg_record_cb changed_cb, void *carg, int (*failed_cb)(uint32_t uid, void *arg),
                  void *farg);

/* Expunge the UIDs in uids[] whatever their flags (MOVE, REPLACE of
 * another store's message). cb as mailbox_expunge's. */
int mailbox_expunge_uids(struct mailbox *mb, const uint32_t *uids, size_t n, int (*cb)(uint32_t uid, void *arg),
                         void *arg);
/* Expunge: the UIDs in uids[] that have \Deleted (uids NULL = every
 * \Deleted message). cb gets each expunged UID in ascending order. */
int mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n,
                    int (*cb)(uint32_t uid, void *arg), void *arg);

/* Copy (or move: copy + expunge from source in one transaction when the
 * destination belongs to the same user) uids[] into the named mailbox.
 * Bodies are shared, never copied. src_uids/dst_uids receive the mapping
 * for COPYUID (arrays of n entries, caller-allocated; *ncopied set). */
int mailbox_copy(struct mailbox *src, const uint32_t *uids, size_t n, const char *dest_name, bool move,
                 uint32_t *dest_uidvalidity, uint32_t *src_uids, uint32_t *dst_uids, size_t *ncopied,
                 int (*expunged_cb)(uint32_t uid, void *arg), void *earg);

/* Copy or move to a mailbox of another store (Other Users, shared
 * folders). Message files are hard-linked when on the same filesystem
 * (copied otherwise, e.g. another partition); the destination's quota
 * applies. A move commits the copy first and then expunges the source
 * UIDs (two transactions in two databases: a crash in between leaves the
 * message in both, never in neither). dest == mailbox_user(src) is
 * mailbox_copy. */
int mailbox_copy_to(struct mailbox *src, const uint32_t *uids, size_t n, struct mail_user *dest,
                    const char *dest_name, bool move, uint32_t *dest_uidvalidity, uint32_t *src_uids,
                    uint32_t *dst_uids, size_t *ncopied, int (*expunged_cb)(uint32_t uid, void *arg), void *earg);

/* ---- quota (RFC 9208) ------------------------------------------------- */

/* A quota root covers the mailbox named like it and every mailbox below it
 * ("Archive" covers "Archive" and "Archive/x"); the root named "" is the
 * user's whole store and always exists. Nested roots all count a mailbox.
 * Usage is changed in the same transaction as every change that causes it;
 * a change that would raise the usage of a root above one of its limits
 * fails with STORAGE_ERR_OVERQUOTA and nothing is committed. Removals are
 * always allowed, and a limit may be set below the current usage. */
#define QUOTA_UNLIMITED (-1)
/* Largest accepted limit: storage_limit_kb * 1024 must fit in int64. */
#define QUOTA_MAX_LIMIT (INT64_MAX / 1024)
struct quota_root {
    char name[STORAGE_MAX_MAILBOX_NAME + 1];   /* internal mailbox name prefix, "" = whole user */
    int64_t storage_limit_kb;   /* QUOTA_UNLIMITED or KiB (RFC 9208 STORAGE unit) */
    int64_t message_limit;      /* QUOTA_UNLIMITED or messages */
    int64_t mailbox_limit;      /* QUOTA_UNLIMITED or mailboxes */
    int64_t storage_used;       /* bytes: the sum of the covered mailboxes' sizes */
    int64_t message_used;
    int64_t mailbox_used;
};
/* Every root of the user, sorted by name ("" first). cb returning non-zero stops. */
int quota_list(struct mail_user *u, int (*cb)(const struct quota_root *q, void *arg), void *arg);
/* One root by name; NOTFOUND when there is none. */
int quota_get(struct mail_user *u, const char *root, struct quota_root *out);
/* The roots covering mailbox name (which need not exist), outermost first
 * (so "" first). Always at least one. */
int quota_roots_of(struct mail_user *u, const char *mailbox, int (*cb)(const struct quota_root *q, void *arg),
                   void *arg);
/* Create or change a root's limits (QUOTA_UNLIMITED for none). A new root
 * other than "" needs an existing mailbox of that name (NOTFOUND); its usage
 * is computed at once. Limits below the usage are accepted. */
int quota_set(struct mail_user *u, const char *root, int64_t storage_limit_kb, int64_t message_limit,
              int64_t mailbox_limit);
/* Remove a root; the user root "" stays but loses its limits. */
int quota_remove(struct mail_user *u, const char *root);
/* Recompute every root's usage from the message and mailbox rows. cb gets
 * each root with the stored usage (before) and the recomputed one (after);
 * with fix the recomputed values are stored. Returns the number of roots
 * whose usage drifted (>= 0) or an error. */
int quota_recalc(struct mail_user *u, bool fix,
                 void (*cb)(const struct quota_root *before, const struct quota_root *after, void *arg), void *arg);
/* Highest usage among the roots covering mailbox, in percent of the
 * corresponding limit (0 when no covering root has a limit), for the
 * quotawarn ALERT. */
int quota_usage_percent(struct mail_user *u, const char *mailbox, int *percent);
/* Total size of the messages with \Deleted in mailbox name: what an
 * EXPUNGE would free (STATUS DELETED-STORAGE, RFC 9208 4.1.4). Counts
 * rows, so it costs a scan of the mailbox's messages. */
int mailbox_deleted_size(struct mail_user *u, const char *name, uint64_t *out);

/* ---- Sieve scripts (RFC 5228; managed as RFC 5804 describes) ------------
 * (Prefix sieve_store_: what storage keeps; the Sieve language itself -
 * parser, compiler, interpreter - lives in its own layer.)
 * Each user's scripts live in the user's store, so they move with the
 * account (user rename, partition move) and go with it (user delete).
 * A script is its name, its source (opaque bytes: the Sieve compiler, not
 * storage, judges the text), an optional compiled form with the version
 * of its format (opaque to storage; the compiler recompiles when the
 * version is not its own), size, modification time and a generation that
 * changes with every put. At most one script is active.
 *
 * Every change is one transaction, committed (fsync'd) before the call
 * returns: a put either replaces the whole script (source and compiled
 * form together) or changes nothing.
 *
 * Limits (config): sieve_maxscriptsize (KiB, of the source),
 * sieve_maxscripts (scripts per user); and quota: the source bytes count
 * in the storage usage of the user's quota root "" (the whole store) -
 * only that root, since scripts are in no mailbox.
 *
 * Results, mapped by ManageSieve to RFC 5804 response codes:
 *   STORAGE_ERR_INVALID     a name that is not valid (sieve_store_name_valid;
 *                           for every call) or a bad argument
 *   STORAGE_ERR_NOTFOUND    no such script                  NONEXISTENT
 *   STORAGE_ERR_EXISTS      rename onto an existing script  ALREADYEXISTS
 *   STORAGE_ERR_ACTIVE      delete of the active script     ACTIVE
 *   STORAGE_ERR_MAXSIZE     source over sieve_maxscriptsize QUOTA/MAXSIZE
 *   STORAGE_ERR_MAXSCRIPTS  a new script over sieve_maxscripts  QUOTA/MAXSCRIPTS
 *   STORAGE_ERR_OVERQUOTA   the user's storage quota        QUOTA
 */
/* RFC 5804 1.6: servers MUST allow 128 Unicode characters, up to 512
 * bytes of UTF-8; longer names are refused, never truncated. */
#define SIEVE_STORE_NAME_MAX 512
/* Hard bound of a compiled form (the compiler is ours, but a store is
 * never asked to hold an unbounded blob). */
#define SIEVE_STORE_COMPILED_MAX (64u * 1024 * 1024)

/* RFC 5804 1.6: at least one octet, at most SIEVE_STORE_NAME_MAX bytes
 * of well-formed UTF-8 (no overlongs, no surrogates), without the
 * control characters U+0000-001F, U+007F, U+0080-009F, nor U+2028 and
 * U+2029. (Net-Unicode's NFC normalisation is not checked: names are
 * compared as octets, so a client gets back exactly what it stored.) */
bool sieve_store_name_valid(const char *name);

struct sieve_store_info {
    char name[SIEVE_STORE_NAME_MAX + 1];
    uint64_t size;              /* bytes of source */
    int64_t mtime;              /* last put (seconds since the epoch); a rename keeps it */
    bool active;
    int64_t generation;         /* changes with every put of this name (sieve_store_set_compiled) */
    uint32_t compiled_version;  /* 0: no compiled form stored */
    uint64_t compiled_size;
};

/* A whole script (sieve_store_get). source is NUL-terminated (the NUL
 * is not counted in source_len); compiled is NULL unless asked for and
 * stored. Free with sieve_store_free. */
struct sieve_store_script {
    struct sieve_store_info info;
    char *source;
    size_t source_len;
    void *compiled;
    size_t compiled_len;
};
void sieve_store_free(struct sieve_store_script *s);

/* Every script of the user, sorted by name (octets). cb returning
 * non-zero stops. */
int sieve_store_list(struct mail_user *u, int (*cb)(const struct sieve_store_info *info, void *arg), void *arg);
/* One script by name, or the active one when name is NULL (NOTFOUND when
 * none is active). want_compiled: also load the compiled form. */
int sieve_store_get(struct mail_user *u, const char *name, bool want_compiled, struct sieve_store_script *out);

/* The information of one script (name NULL: the active one; NOTFOUND
 * when there is none) without reading its source: one indexed lookup,
 * cheap enough for every delivery to ask whether a cached compiled
 * script is still current (same name and generation). */
int sieve_store_stat(struct mail_user *u, const char *name, struct sieve_store_info *out);

/* What to store (sieve_store_put). The compiled form is optional: a
 * caller that compiled the source at upload (ManageSieve PUTSCRIPT, darius
 * sieve put) passes it with its format version (> 0), and it is stored in
 * the same transaction as the source; otherwise the script has none until
 * sieve_store_set_compiled. */
struct sieve_store_put {
    const char *source;
    size_t source_len;
    const void *compiled;       /* NULL: none */
    size_t compiled_len;
    uint32_t compiled_version;  /* > 0 when compiled is given */
    bool activate;              /* also make it the active script, atomically */
};
/* Create or replace script name. Replacing keeps its active state. */
int sieve_store_put(struct mail_user *u, const char *name, const struct sieve_store_put *p);
/* Would a put of size bytes as name succeed now (RFC 5804 HAVESPACE)?
 * 0, MAXSIZE, MAXSCRIPTS (name is new and the user is at the limit) or
 * OVERQUOTA (replacing name's current source by size bytes would raise
 * the storage usage over the limit). A later put may still fail. */
int sieve_store_havespace(struct mail_user *u, const char *name, uint64_t size);
/* Store the compiled form of the script as of generation (from
 * sieve_store_get); MODIFIED when the script was put again since (the
 * blob belongs to another source), NOTFOUND when it is gone. Does not
 * count against quota (the source does) nor change mtime. */
int sieve_store_set_compiled(struct mail_user *u, const char *name, int64_t generation, const void *compiled,
                              size_t compiled_len, uint32_t compiled_version);
/* Make name the active script (the previous one, if any, stops being
 * active in the same transaction); name NULL or "" deactivates (RFC 5804
 * SETACTIVE ""), which succeeds when none is active. */
int sieve_store_activate(struct mail_user *u, const char *name);
/* Delete a script: NOTFOUND, or ACTIVE when it is the active one (RFC
 * 5804 2.10: the client deactivates first). */
int sieve_store_delete(struct mail_user *u, const char *name);
/* Rename: NOTFOUND (old), EXISTS (new); an active script stays active
 * (RFC 5804 2.11). Renaming a script to its own name is EXISTS: the
 * new name exists. */
int sieve_store_rename(struct mail_user *u, const char *oldname, const char *newname);

/* ---- metadata (RFC 5464 annotations) ------------------------------------
 *
 * Entries of one store: per mailbox (mailbox = its name in the store),
 * or the store's server entries (mailbox NULL). An entry name is the
 * whole RFC 5464 name, "/shared/..." or "/private/...", checked by
 * metadata_entry_valid and kept in lower case (names are
 * case-insensitive, RFC 5464 3.2). /shared entries have one value per
 * mailbox; /private ones one per reader: reader is the user id of the
 * session's user (the store's owner's own entries are kept so that they
 * move with the account when it is renamed). Entries live in the
 * mailbox's rows: a rename keeps them (RENAME INBOX copies INBOX's to
 * the new mailbox, RFC 5464 4.1), a delete drops them, and the whole
 * store moves with the account. Values are opaque octets (NUL allowed).
 *
 * Limits (config): metadata_max_value_size (octets of one value: larger
 * ones are MAXSIZE), metadata_max_entries (entries one owner may hold in
 * one store - the /shared entries of the store together, each reader's
 * /private ones apart: more is LIMIT; a change that does not add to a
 * count over the limit is always allowed).
 */
#define METADATA_MAX_ENTRY_NAME 256     /* octets of an entry name */

/* Is entry a valid entry name (RFC 5464 3.2: "/private" or "/shared"
 * then at least one more component; printable ASCII without '*' and
 * '%'; no "//", no trailing '/'; at most METADATA_MAX_ENTRY_NAME)?
 * With bare_scope, "/private" and "/shared" alone are valid too (as a
 * GETMETADATA DEPTH base). */
bool metadata_entry_valid(const char *entry, size_t len, bool bare_scope);
/* Is entry (valid) a /private one? */
bool metadata_entry_private(const char *entry);
/* The configured limits (octets of a value; entries per owner). */
size_t metadata_max_value_size(void);
int64_t metadata_max_entries(void);

/* Entries named entry (lower case) and, depth 1, its children or,
 * depth -1 (infinity), all its descendants, of mailbox (NULL: server
 * entries), visible to reader (used for /private entries; NULL: none
 * are visible). cb(name, value, len) in name order (values are not
 * NUL-terminated); a non-zero return stops. NOTFOUND: no such mailbox. */
int metadata_get(struct mail_user *u, const char *mailbox, const char *reader, const char *entry, int depth,
                 int (*cb)(const char *name, const void *value, size_t len, void *arg), void *arg);

/* One change of metadata_set: value NULL removes the entry. */
struct metadata_change {
    const char *entry;          /* valid, lower case */
    const void *value;
    size_t len;
};
/* Apply every change (all or none) to mailbox (NULL: the server
 * entries) in one transaction; /private entries are reader's (NULL
 * reader with a /private change: INVALID). special_use >= 0 sets the
 * mailbox's special-use bits in the same transaction (RFC 6154 4's
 * /private/specialuse). Errors: NOTFOUND (mailbox), MAXSIZE (a value
 * over the limit), LIMIT (the entries of an owner would grow past
 * metadata_max_entries), INVALID. */
int metadata_set(struct mail_user *u, const char *mailbox, const char *reader, const struct metadata_change *c,
                 size_t n, int64_t special_use);

/* ---- URLAUTH mailbox access keys (RFC 4467 2.2) ------------------------ */

/* The table of the store owner's keys, one per mailbox the owner
 * authorizes URLs for (in any store: store is that mailbox's store name,
 * mailboxid its RFC 8474 MAILBOXID). The caller makes the keys (random,
 * 128 bits); run these as a job (they write). Ops:
 *  GET: the key into key; NOTFOUND when there is none;
 *  GEN: the existing key into key, or key (the caller's new random one)
 *       stored when there is none;
 *  SET: key stored, replacing any (RESETKEY with a mailbox);
 *  DROP_ALL: every key of the table removed (RESETKEY alone; store,
 *       mailboxid and key unused, may be NULL). */
#define URLAUTH_KEY_LEN 16
enum urlauth_key_op { URLAUTH_KEY_GET, URLAUTH_KEY_GEN, URLAUTH_KEY_SET, URLAUTH_KEY_DROP_ALL };
int urlauth_key(struct mail_user *u, const char *store, const char *mailboxid, enum urlauth_key_op op,
                unsigned char key[URLAUTH_KEY_LEN]);

/* ---- consistency ------------------------------------------------------ */

/* Check (and with fix=true repair) a user's store: counters, orphan
 * files, missing files. Reports problems through cb. Returns number of
 * problems found (>=0) or an error. */
int mail_user_check(struct mail_user *u, bool fix, void (*cb)(const char *problem, void *arg), void *arg);

#endif
