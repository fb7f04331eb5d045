/* sqlite-internal.h - shared by the sqlite-*.c files of the SQLite backend.
 *
 * One database connection per user per process (struct sq_user, hung off
 * struct mail_user), with every statement prepared once and cached for
 * the connection's life: statement preparation costs more than most of
 * the queries we run.
 */
#ifndef DARIUS_SQLITE_INTERNAL_H
#define DARIUS_SQLITE_INTERNAL_H

#include "storage-private.h"
#include <sqlite3.h>

/* Cached statements; the SQL text for each is in sqlite-store.c. */
enum sq_stmt_id {
    SQ_BEGIN_IMMEDIATE,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_META_GET,
    SQ_META_SET,
    SQ_MB_BY_NAME,
    SQ_MB_BY_ID,
    SQ_MB_LIST,
    SQ_MB_COUNT,
    SQ_MB_INSERT,
    SQ_MB_SET_RECENT,
    SQ_MB_BUMP,
    SQ_MB_SPECIAL,
    SQ_MB_DELETE,
    SQ_MB_EXISTS,
    SQ_MB_RENAME,
    SQ_MB_CHILD_CONFLICT,
    SQ_MB_SET_COUNTERS,
    SQ_MB_IDS,
    SQ_SUB_ADD,
    SQ_SUB_DEL,
    SQ_SUB_LIST,
    SQ_MSG_UIDS,
    SQ_MSG_RANGE,
    SQ_MSG_ONE,
    SQ_MSG_SINCE,
    SQ_MSG_INSERT,
    SQ_MSG_SETFLAGS,
    SQ_MSG_DELETE,
    SQ_MSG_DELETED_UIDS,
    SQ_MSG_GUIDS_OF_MAILBOX,
    SQ_MSG_DELETE_MAILBOX,
    SQ_MSG_MOVE_ALL,
    SQ_MSG_COUNTERS,
    SQ_EXP_INSERT,
    SQ_EXP_SINCE,
    SQ_EXP_DELETE_MAILBOX,
    SQ_EXP_FROM_MAILBOX,
    SQ_BLOB_INSERT,
    SQ_BLOB_REF,
    SQ_BLOB_DEAD,
    SQ_BLOB_DEAD_DEL,
    SQ_BLOB_CACHE,
    SQ_BLOB_EXISTS,
    SQ_BLOB_ALL,
    SQ_BLOB_REFCHECK,
    SQ_BLOB_SETREF,
    SQ_MSG_NOBLOB,
    SQ_MSG_GUID,
    SQ_KW_LIST,
    SQ_KW_COUNT,
    SQ_KW_ADD,
    SQ_KW_HAS,
    SQ_KW_DELETE_MAILBOX,
    SQ_KW_COPY,
    SQ_RANGE_LIST,
    SQ_RANGE_LAST,
    SQ_RANGE_FIND,
    SQ_RANGE_INSERT,
    SQ_RANGE_SET_HI,
    SQ_RANGE_DELETE_ONE,
    SQ_RANGE_DELETE_MAILBOX,
    SQ_RANGE_MOVE_ALL,
    SQ_RANGE_REBUILD,
    SQ_RANGE_BAD,
    SQ_MSG_FIRST_UNSEEN,
    SQ_MB_NEXT_ID,
    SQ_MB_ALIVE,
    SQ_QR_BUMP,
    SQ_QR_LIST,
    SQ_QR_GET,
    SQ_QR_COVERING,
    SQ_QR_UPSERT,
    SQ_QR_DELETE,
    SQ_QR_CLEAR,
    SQ_QR_RENAME,
    SQ_QR_RESYNC,
    SQ_QR_ACTUAL,
    SQ_QR_SET_USED,
    SQ_MB_DELETED_SIZE,
    SQ_MSG_RANGE_AS,
    SQ_MSG_ONE_AS,
    SQ_MSG_SETFLAGS_KEEPSEEN,
    SQ_MSG_FIRST_UNSEEN_AS,
    SQ_SEEN_COUNT,
    SQ_SEEN_ADD,
    SQ_SEEN_DEL,
    SQ_SEEN_DELETE_UID,
    SQ_SEEN_DELETE_MAILBOX,
    SQ_SEEN_MOVE_ALL,
    SQ_MB_SET_ACL,
    SQ_MB_SET_ACL_ID,
    SQ_MB_GET_ACL,
    SQ_MB_SET_SHAREDSEEN,
    SQ_BLOB_ROW,
    SQ_HF_PUT,
    SQ_HF_DEAD_DEL,
    SQ_HF_SEARCH_F,
    SQ_HF_SEARCH_R,
    SQ_HF_SEARCH_FR,
    SQ_BLOB_HEADER,
    SQ_SK_PUT,
    SQ_PV_PUT,
    SQ_PV_DEAD_DEL,
    SQ_PV_GET,
    SQ_RET_PV_GET,
    SQ_SK_DEAD_DEL,
    SQ_SK_READ,
    SQ_MMAP_ON,
    SQ_MMAP_OFF,
    SQ_TH_GET,
    SQ_TH_PUT,
    /* retained expunged messages and their viewers (sqlite-retain.c) */
    SQ_RET_INSERT,
    SQ_RET_RANGE,
    SQ_RET_ONE,
    SQ_RET_CACHE,
    SQ_RET_GUID,
    SQ_RET_ANY_UPTO,
    SQ_RET_ANY,
    SQ_RET_ANY_FREEABLE,
    SQ_RET_FREEABLE,
    SQ_RET_FREE,
    SQ_RET_MAILBOXES,
    SQ_RET_GUIDS_OF_MAILBOX,
    SQ_RET_DELETE_MAILBOX,
    SQ_RET_NOBLOB,
    SQ_VW_UPSERT,
    SQ_VW_DELETE,
    SQ_VW_OF_MAILBOX,
    SQ_VW_ALL,
    SQ_VW_DELETE_PID,
    SQ_VW_OWN_ANY,
    SQ_VW_DELETE_MAILBOX,
    SQ_SYNC_NORMAL,
    SQ_SYNC_FULL,
    /* Sieve scripts (schema 8, sqlite-sieve.c) */
    SQ_SV_LIST,
    SQ_SV_GET,
    SQ_SV_GET_ACTIVE,
    SQ_SV_STATE,
    SQ_SV_UPSERT,
    SQ_SV_SET_COMPILED,
    SQ_SV_DEACTIVATE,
    SQ_SV_ACTIVATE,
    SQ_SV_DELETE,
    SQ_SV_RENAME,
    SQ_SV_BADSIZE,
    SQ_SV_FIXSIZE,
    SQ_SV_STAT,
    SQ_SV_STAT_ACTIVE,
    SQ_QR_BUMP_USER,
    SQ__COUNT
};

/* Net usage change of one quota root within the current write
 * transaction, with the root's usage and limits as last seen in it:
 * sq_commit refuses to commit when a root whose usage grew is over a
 * limit (sqlite-quota.c). */
struct sq_qdelta {
    char *name;
    int64_t d[3];       /* storage bytes, messages, mailboxes */
    int64_t used[3];
    int64_t limit[3];   /* storage in bytes; < 0 unlimited */
};

struct sq_user {
    sqlite3 *db;
    sqlite3_stmt *st[SQ__COUNT];
    struct sq_qdelta *qd;
    size_t nqd, cqd;
    bool quota_bypass;  /* the transaction being committed may exceed quota */
    char *aclbuf;       /* mailbox_info.acl of the last row loaded */
    size_t aclcap;
    /* A reader connection holds one read transaction (a plain BEGIN:
     * SQLite takes the WAL read lock at its first SELECT) for a whole
     * read-only job, rather than one per statement: a 100-message FETCH
     * otherwise takes and drops the database and WAL locks (fcntl) twice
     * per message, and it reads one snapshot throughout. */
    bool read_held;
};

/* The connection of the calling thread: the job connection while it holds
 * the store for a job (storage_job_begin), the loop's otherwise. */
static inline struct sq_user *sq(const struct mail_user *u) { return (struct sq_user *)storage_backend_of(u); }

/* How long a statement waits for another connection's lock. */
#define SQ_BUSY_TIMEOUT_MS 5000
/* Make db wait up to SQ_BUSY_TIMEOUT_MS for another connection's lock
 * (instead of sqlite3_busy_timeout: see sq_busy_cb for the steps);
 * sqlite3_busy_timeout(db, 0) still makes it fail at once. */
void sq_busy_wait(sqlite3 *db);

/* The cached statement, reset and with bindings cleared; NULL (logged) if
 * it cannot be prepared. Callers must not nest two uses of the same id. */
sqlite3_stmt *sq_stmt(struct mail_user *u, enum sq_stmt_id id);
/* Map a SQLite result code to a storage error, logging real failures. */
int sq_error(struct mail_user *u, int rc, const char *what);
/* Run a cached statement that returns no rows; returns storage error. */
int sq_run(struct mail_user *u, sqlite3_stmt *st, const char *what);
/* End a reader job's read snapshot (storage_read_begin) before a write. */
void sq_read_drop(struct mail_user *u);
int sq_begin(struct mail_user *u);       /* BEGIN IMMEDIATE */
/* BEGIN IMMEDIATE that answers STORAGE_ERR_BUSY quietly (no log line):
 * for callers that never wait and simply try again later. */
int sq_try_begin(struct mail_user *u);
int sq_commit(struct mail_user *u);
void sq_rollback(struct mail_user *u);

/* The UID ranges of message rows matching cond (SQL over message's
 * columns), as (mailbox_id, lo, hi) rows: within a run of consecutive UIDs
 * uid - row_number() is constant. Used by the schema migration, the
 * rebuild and the consistency check, so all three agree by construction. */
#define SQ_UIDRANGE_ISLANDS(cond)                                                                  \
    "SELECT mailbox_id, min(uid), max(uid) FROM (SELECT mailbox_id, uid, uid - row_number() OVER " \
    "(PARTITION BY mailbox_id ORDER BY uid) AS g FROM message WHERE " cond ") GROUP BY mailbox_id, g"

/* sqlite-schema.c */
int sq_schema_init(struct mail_user *u);

/* sqlite-mailbox.c */
/* Load a mailbox row into info (recent and subscribed included).
 * Returns STORAGE_ERR_NOTFOUND when absent. */
int sq_mailbox_load_name(struct mail_user *u, const char *name, struct mailbox_info *info, uint32_t *recent_uid);
int sq_mailbox_load_id(struct mail_user *u, int64_t id, struct mailbox_info *info, uint32_t *recent_uid);
/* The row of the open mailbox mb: NOTFOUND (and mb->deleted set) when the
 * row with mb's id is gone or is not the mailbox that was opened (its
 * MAILBOXID differs, e.g. the store was recreated). Use this, never
 * sq_mailbox_load_id(mb->id), inside the transactions of changes. */
int sq_mailbox_load_mb(struct mailbox *mb, struct mailbox_info *info, uint32_t *recent_uid);
/* Cheap existence check of the open mailbox (one primary-key lookup);
 * STORAGE_OK, NOTFOUND (sets mb->deleted) or an error. Only called when a
 * read found nothing: reads of an open mailbox carry the same check in
 * their own statement (MB_IS in sqlite-store.c), so a read that returned
 * rows returned mb's rows. */
int sq_mailbox_alive(struct mailbox *mb);
/* After a read that found no rows: NOTFOUND when the mailbox is gone, else
 * the original result r. */
int sq_if_gone(struct mailbox *mb, int r);
/* Counter and modseq update of one mailbox: highestmodseq and uidnext are
 * raised to at least the given values, counters get the deltas. */
int sq_mailbox_bump(struct mail_user *u, int64_t id, uint64_t modseq, uint32_t uidnext, int64_t dmessages,
                    int64_t dunseen, int64_t ddeleted, int64_t dsize);
/* Add keywords to the mailbox's FLAGS list; STORAGE_ERR_LIMIT past
 * STORAGE_MAX_KEYWORDS_PER_MAILBOX. */
int sq_keywords_register(struct mail_user *u, int64_t mailbox_id, const char *keywords);
int sq_create_locked(struct mail_user *u, const char *name, uint32_t special_use, int64_t *id);
/* Collect guids of blobs whose refcount dropped to 0 and delete their
 * rows (inside the transaction); the files go after commit. */
int sq_collect_dead(struct mail_user *u, char (**guids)[33], size_t *n);
void sq_unlink_dead(struct mail_user *u, char (*guids)[33], size_t n);

/* sqlite-uidrange.c: the uidrange table (see the schema 1 -> 2 migration).
 * All run inside the caller's write transaction. */
/* UIDs [lo, hi] were added; lo is above every UID in the mailbox (new
 * UIDs always come from UIDNEXT). */
int sq_ranges_add(struct mail_user *u, int64_t mbid, uint32_t lo, uint32_t hi);
/* The UIDs uids[0..n) (ascending, unique) were removed. */
int sq_ranges_remove(struct mail_user *u, int64_t mbid, const uint32_t *uids, size_t n);
/* Recompute one mailbox's ranges from its message rows. */
int sq_ranges_rebuild(struct mail_user *u, int64_t mbid);
/* Expand the ranges into an ascending UID array (mailbox_get_uids). */
int sq_ranges_get_uids(struct mailbox *mb, uint32_t **uids, uint32_t *count);

/* sqlite-quota.c. All but the ops run inside the caller's write
 * transaction. */
/* Add usage to every root covering mailbox id (the row must exist). */
int sq_quota_bump(struct mail_user *u, int64_t mbid, int64_t dstorage, int64_t dmessages, int64_t dmailboxes);
/* Add dstorage bytes to the user root "" alone (Sieve scripts: in the
 * store, in no mailbox). */
int sq_quota_bump_user(struct mail_user *u, int64_t dstorage);
/* Recompute every root's usage from the mailbox counters (after a rename). */
int sq_quota_resync(struct mail_user *u);
/* Roots move with their mailbox on rename. */
int sq_quota_rename(struct mail_user *u, const char *oldname, const char *newname);
/* Apply autocreatequota limits to the user root (store creation). */
int sq_quota_autocreate(struct mail_user *u);
/* STORAGE_ERR_OVERQUOTA when a root whose usage grew in this transaction
 * is over one of its limits; always forgets the transaction's deltas. */
int sq_quota_verdict(struct mail_user *u);
void sq_quota_forget(struct mail_user *u);
int sq_quota_list(struct mail_user *u, const char *covering, int (*cb)(const struct quota_root *q, void *arg),
                  void *arg);
int sq_quota_get(struct mail_user *u, const char *root, struct quota_root *out);
int sq_quota_set(struct mail_user *u, const char *root, int64_t storage_kb, int64_t messages, int64_t mailboxes);
int sq_quota_remove(struct mail_user *u, const char *root);
int sq_deleted_size(struct mail_user *u, const char *name, uint64_t *out);
int sq_quota_recalc(struct mail_user *u, bool fix,
                    void (*cb)(const struct quota_root *before, const struct quota_root *after, void *arg),
                    void *arg);

/* sqlite-message.c: fill a msg_record from SQ_MSG_* row columns 0..9. */
void sq_row_to_record(sqlite3_stmt *st, struct msg_record *rec);

/* ops implemented in sqlite-mailbox.c / sqlite-message.c */
int sq_list(struct mail_user *u, mailbox_list_cb cb, void *arg);
int sq_list_subscriptions(struct mail_user *u, void (*cb)(const char *name, void *arg), void *arg);
int sq_subscribe(struct mail_user *u, const char *name, bool subscribe);
int sq_status(struct mail_user *u, const char *name, struct mailbox_info *out);
int sq_status_id(struct mail_user *u, int64_t id, struct mailbox_info *out);
int sq_create(struct mail_user *u, const char *name, uint32_t special_use);
int sq_delete_mailbox(struct mail_user *u, const char *name);
int sq_rename(struct mail_user *u, const char *oldname, const char *newname);
int sq_set_special_use(struct mail_user *u, const char *name, uint32_t special_use);
int sq_open(struct mailbox *mb, const char *name, bool claim_recent, uint32_t *recent_uid_floor);
int sq_refresh_info(struct mailbox *mb);
int sq_peek_info(struct mailbox *mb, struct mailbox_info *out);
int sq_claim_recent(struct mailbox *mb, uint32_t *floor_out, uint32_t *claimed_hi);
int sq_is_deleted(struct mailbox *mb);

int sq_get_uids(struct mailbox *mb, uint32_t **uids, uint32_t *count);
int sq_get_keywords(struct mailbox *mb, char **out);
int sq_first_unseen(struct mailbox *mb, uint32_t *uid);
int sq_foreach_record(struct mailbox *mb, uint32_t lo, uint32_t hi, msg_record_cb cb, void *arg);
int sq_get_record(struct mailbox *mb, uint32_t uid, struct msg_record *out);
int sq_sync(struct mailbox *mb, uint64_t since, msg_record_cb changed, void *carg,
            int (*expunged)(uint32_t uid, void *arg), void *earg);
int sq_vanished_since(struct mailbox *mb, uint64_t since, int (*cb)(uint32_t uid, void *arg), void *arg);
int sq_get_cache(struct mailbox *mb, uint32_t uid, struct msg_cache *out);
/* PREVIEW (schema 13): the stored text (mailbox_get_preview), saving
 * lazily computed ones, and the put inside a write transaction. */
int sq_get_preview(struct mailbox *mb, uint32_t uid, char **text, char guid[33]);
void sq_save_previews(struct mail_user *u, const char (*guids)[33], char *const *texts, size_t n);
int sq_preview_put(struct mail_user *u, const char *guid, const char *text);
int sq_get_guid(struct mailbox *mb, uint32_t uid, char guid[33]);
int sq_search_headers(struct mailbox *mb, const uint32_t *uids, size_t n, unsigned what, struct search_hdr_batch *b);
/* Store the hfields of blob guid (hdrfields), inside a write transaction. */
int sq_hfields_put(struct mail_user *u, const char *guid, const char *data, size_t len);
/* Store the sort-key record (sortkey.h) of blob guid, inside a write transaction. */
int sq_sortkeys_put(struct mail_user *u, const char *guid, const char *data, size_t len);
int sq_sort_keys(struct mailbox *mb, const uint32_t *uids, size_t n, sort_keys_cb cb, void *arg);
void sq_append_commit(struct append_commit *c, size_t n);
int sq_store(struct mailbox *mb, const uint32_t *uids, size_t n, const struct store_req *req,
             msg_record_cb changed_cb, void *carg, int (*failed_cb)(uint32_t uid, void *arg), void *farg);
int sq_expunge(struct mailbox *mb, const uint32_t *uids, size_t n, int (*cb)(uint32_t uid, void *arg), void *arg);
int sq_copy(struct mailbox *src, const uint32_t *uids, size_t n, const char *dest_name, bool move,
            uint32_t *dest_uidvalidity, uint32_t *src_uids, uint32_t *dst_uids, size_t *ncopied,
            int (*expunged_cb)(uint32_t uid, void *arg), void *earg);
int sq_check(struct mail_user *u, bool fix, void (*cb)(const char *problem, void *arg), void *arg);

/* sqlite-acl.c: ACL text, sharedseen, per-reader \Seen, cross-store copy */
int sq_create_acl(struct mail_user *u, const char *name, uint32_t special_use, const char *acl);
int sq_set_acl(struct mail_user *u, const char *name, const char *acl);
int sq_get_acl(struct mail_user *u, const char *name, char *out);
int sq_get_acl_mb(struct mailbox *mb, char *out);
int sq_update_acl(struct mail_user *u, const char *name,
                  int (*modify)(const char *old, char **newacl, void *arg), void *arg);
int sq_set_sharedseen(struct mail_user *u, const char *name, bool shared);
int sq_status_as(struct mail_user *u, const char *name, const char *reader, struct mailbox_info *out);
/* info->unseen for reader (messages without a seen row of reader). */
int sq_reader_unseen(struct mail_user *u, const char *reader, struct mailbox_info *info);
/* Set (seen=true) or clear reader's \Seen of uid, inside a transaction. */
int sq_reader_seen_set(struct mail_user *u, int64_t mbid, const char *reader, uint32_t uid, bool seen);
int sq_copy_to(struct mailbox *src, const uint32_t *uids, size_t n, struct mail_user *dest, const char *dest_name,
               bool move, uint32_t *dest_uidvalidity, uint32_t *src_uids, uint32_t *dst_uids, size_t *ncopied,
               int (*expunged_cb)(uint32_t uid, void *arg), void *earg);
/* sqlite-retain.c: expunged messages kept for the sessions that still
 * show them (RFC 2180 4.1.1; the model is described there). */
int sq_keep_expunged(struct mailbox *mb);
bool sq_expunges_told(struct mailbox *mb, uint64_t modseq);
void sq_release_kept(struct mailbox *mb);
int sq_foreach_expunged(struct mailbox *mb, uint32_t lo, uint32_t hi, msg_record_cb cb, void *arg);
void sq_mailbox_closing(struct mailbox *mb);
/* Inside an expunge's write transaction by mb: must the messages be kept
 * (a viewer of the mailbox other than mb, in this or a live process)? */
int sq_retain_needed(struct mailbox *mb, bool *retain);
/* Inside that transaction: keep rec (its blob reference moves to the
 * retained row). */
int sq_retain_insert(struct mail_user *u, int64_t mbid, const struct msg_record *rec, uint64_t expunge_modseq);
/* A message kept for mb (expunged after what its client was told), as
 * load_msg; NOTFOUND when there is none or mb is no viewer. */
int sq_retained_load(struct mailbox *mb, uint32_t uid, struct msg_record *rec, char **kwbuf);
/* Inside mailbox delete: drop the mailbox's retained messages (blob
 * references) and viewer rows. */
int sq_retained_drop_mailbox(struct mail_user *u, int64_t mbid);
/* At store open: drop viewer rows of dead processes (and this process's:
 * it has no viewer of a store it is opening) and release what no live
 * viewer needs. */
int sq_retained_recover(struct mail_user *u);

/* sqlite-sieve.c: Sieve scripts (storage.h), the ops */
int sq_sieve_list(struct mail_user *u, int (*cb)(const struct sieve_store_info *info, void *arg), void *arg);
int sq_sieve_get(struct mail_user *u, const char *name, bool want_compiled, struct sieve_store_script *out);
int sq_sieve_stat(struct mail_user *u, const char *name, struct sieve_store_info *out);
int sq_sieve_put(struct mail_user *u, const char *name, const struct sieve_store_put *p, const struct sieve_store_limits *lim);
int sq_sieve_havespace(struct mail_user *u, const char *name, uint64_t size, const struct sieve_store_limits *lim);
int sq_sieve_set_compiled(struct mail_user *u, const char *name, int64_t generation, const void *compiled,
                          size_t compiled_len, uint32_t compiled_version);
int sq_sieve_activate(struct mail_user *u, const char *name);
int sq_sieve_delete(struct mail_user *u, const char *name);
int sq_sieve_rename(struct mail_user *u, const char *oldname, const char *newname);

/* sqlite-metadata.c: RFC 5464 annotations (storage.h), the ops */
int sq_metadata_get(struct mail_user *u, const char *mailbox, const char *reader, const char *entry, int depth,
                    int (*cb)(const char *name, const void *value, size_t len, void *arg), void *arg);
int sq_metadata_set(struct mail_user *u, const char *mailbox, const char *reader, const struct metadata_change *c,
                    size_t n, int64_t special_use, int64_t max_entries);
/* Inside RENAME INBOX's transaction: copy mailbox from's entries to to
 * (RFC 5464 4.1: INBOX keeps its own). */
int sq_metadata_copy(struct mail_user *u, int64_t from, int64_t to);
/* sqlite-urlauth.c */
int sq_urlauth_key(struct mail_user *u, const char *store, const char *mailboxid, enum urlauth_key_op op,
                   unsigned char key[URLAUTH_KEY_LEN]);

/* sqlite-message.c: expunge uids[] (ascending or not) whatever their
 * \Deleted flag (the source half of a cross-store move). */
int sq_expunge_uids(struct mailbox *mb, const uint32_t *uids, size_t n, int (*cb)(uint32_t uid, void *arg),
                    void *arg);

#endif
