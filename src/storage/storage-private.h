/* storage-private.h - what storage.c shares with its backends.
 *
 * storage.c implements the public API of storage.h in a backend-neutral
 * way: argument checks, the per-process table of shared user handles, the
 * message files (msgfile.c) and the MIME cache computed at append time.
 * Everything that touches metadata goes through struct storage_backend_ops
 * so a second backend (PostgreSQL) only has to provide another vtable; the
 * message file layout and the parse-at-append logic stay shared.
 */
#ifndef DARIUS_STORAGE_PRIVATE_H
#define DARIUS_STORAGE_PRIVATE_H

#include "storage.h"
#include <pthread.h>

struct storage_backend_ops;

/* The Sieve limits in force for one call (storage-sieve.c reads them
 * from the configuration). */
struct sieve_store_limits {
    uint64_t max_size;          /* bytes of source */
    int64_t max_scripts;        /* per user */
};

/* One user's store, shared by every session of that user in this process
 * (many IMAP connections of the same user keep one database connection). */
struct mail_user {
    char *name;
    char *dir;                  /* DATADIR/user/<c>/<name> */
    int lockfd;                 /* shared flock on the store lock (partition.c), -1 none */
    /* Atomic: a job that holds the store (storage_job_begin) may open and
     * close mailboxes of it, which take and drop references, while the
     * loop opens and closes the handle; the count never reaches 0 in a
     * job (the submitter holds a reference until the job is done). */
    _Atomic int refcount;
    const struct storage_backend_ops *ops;
    void *be;                   /* backend state (e.g. struct sq_user) */
    struct mail_user *next;     /* process-wide handle list */
    /* The backend created the store's database in the open that made this
     * handle (mail_user_is_new); cleared by mail_user_clear_new. */
    bool is_new;
    /* Off-loop work (storage_job_begin): a second backend connection used
     * only by the pool thread that holds job_mu, so the loop's connection
     * (be) and the job's are never used by two threads at once. Opened on
     * first use, closed with the handle. */
    void *be_job;
    pthread_mutex_t job_mu;
    /* Read-only jobs (storage_read_begin): up to STORAGE_READERS_MAX more
     * connections, each used by one pool thread at a time, so searches and
     * fetches of one store run in parallel (WAL: readers never block each
     * other or the writer). Idle ones wait in readers[]. */
    pthread_mutex_t readers_mu;
    pthread_cond_t readers_cv;
    void *readers[8];
    int nidle, nreaders;
    /* Handles of this process that show a client the store's mailboxes
     * (mailbox_keep_expunged; sqlite-retain.c), shared by the loop's
     * connection and the job connection: an expunge running as a job must
     * see the loop's viewers. viewers_mu guards the list, every viewer's
     * `told` and viewer_rows_stale (short sections, no I/O under it). */
    pthread_mutex_t viewers_mu;
    /* closed but kept open for a while (storage_set_linger) */
    bool lingering;
    /* No other handle of this process had the store open when this one
     * was opened (storage.c, process-wide count by name): only then may
     * the open treat viewer rows under this process's pid as a failed
     * close's (sqlite-retain.c). A pool thread opens private handles of
     * stores the loop may have open with viewers. */
    bool first_in_process;
    uint64_t idle_since;
    struct mailbox *viewers;
    bool viewer_rows_stale;     /* a viewer row of this process could not be updated */
};

/* Set by mailbox_claim_recent_nowait for the duration of the call. */
extern _Thread_local bool storage_nowait;

/* The stores whose job connection (storage_job_begin) or one of whose
 * reader connections (storage_read_begin) the calling thread holds, with
 * that connection's backend state; the backend picks it for them. */
#define STORAGE_JOB_MAX_USERS 4
struct storage_job_slot {
    struct mail_user *u;
    void *be;
    bool reader;
};
extern _Thread_local struct storage_job_slot storage_job_slots[STORAGE_JOB_MAX_USERS];
static inline void *storage_backend_of(const struct mail_user *u)
{
    for (int i = 0; i < STORAGE_JOB_MAX_USERS; i++)
        if (storage_job_slots[i].u == u)
            return storage_job_slots[i].be;
    return u->be;
}

/* An open mailbox: deliberately tiny, no connection of its own. The info
 * block is what mailbox_get_info() hands out. */
struct mailbox {
    struct mail_user *user;
    int64_t id;
    bool readonly;
    /* Set once an operation found the mailbox's row gone (or replaced:
     * the row with this id no longer carries info.mailboxid, which is
     * captured at open and never changes for a mailbox). Sticky: ids are
     * never reused, so a deleted mailbox never comes back. */
    bool deleted;
    char *kwcopy;               /* backing store for msg_record.keywords of get_record */
    /* mailbox_open_as by a reader other than the store's owner: "" for the
     * owner. While the mailbox is not sharedseen (info.sharedseen, read
     * at open and at each sync), \Seen is this reader's own. Such a
     * handle never claims \Recent. */
    char reader[256];
    /* mailbox_keep_expunged: this handle shows a client UIDs that must
     * stay readable until the client is told they were expunged
     * (RFC 2180 4.1.1). told: every expunge with a modseq up to it has
     * been reported to the client; expunges_seen: a sync reported
     * expunges since the last mailbox_expunges_told. The backend keeps
     * such handles in a per-store list (SQLite: sqlite-retain.c). */
    bool keep_expunged;
    bool close_work_done;       /* mailbox_close_work ran (in a job) */
    bool expunges_seen;
    uint64_t told;
    struct mailbox *next_viewer;
    struct mailbox_info info;
};

/* The reader whose own \Seen this handle shows, or NULL when the message
 * rows' \Seen applies (owner, or a sharedseen mailbox). */
static inline const char *mailbox_seen_reader(const struct mailbox *mb)
{
    return mb->reader[0] && !mb->info.sharedseen ? mb->reader : NULL;
}

/* One message prepared by mailbox_append_add: the body file is written,
 * fsync'd and linked in its final place; commit fsyncs its directory
 * (once per directory for all the messages it commits) and writes the
 * metadata. */
struct append_item {
    char guid[33];
    uint64_t size;
    uint32_t flags;
    char *keywords;             /* normalised, space-separated, "" when none */
    int64_t internaldate;
    int internaldate_tz;
    /* MIME cache (parsed once here so FETCH never re-parses) */
    char *envelope, *bodystructure, *body, *header;
    size_t header_len;
    char *hfields;              /* mime_hfields_build of the whole header */
    size_t hfields_len;
    char *sortkeys;             /* mime_sortkeys_build of the whole header */
    size_t sortkeys_len;
    char *preview;              /* mime_preview_build (RFC 8970) */
    uint32_t lines;
    bool ignore_quota;          /* append_msg.ignore_quota */
};

struct append_txn {
    struct mailbox *mb;
    struct append_item *items;
    size_t n, cap;
    bool failed;                /* an add failed: commit refuses */
    /* The msg/<gg>/ directory of every file of the transaction (and of
     * every transaction of a group commit): one directory fsync covers
     * them all. Chosen at random per transaction or group, so stores
     * still spread over the 256 directories. */
    char gg[3];
};

/* One transaction of a group commit, as the backend sees it. */
struct append_commit {
    struct mailbox *mb;
    struct append_item *items;
    size_t n;
    uint32_t *uids;             /* room for maxuids, may be NULL */
    size_t maxuids;
    uint32_t uidvalidity;       /* out */
    int result;                 /* in: != 0 skips it; out: its result */
    struct mailbox *xmb;        /* append_req.expunge_mb (REPLACE), or NULL */
    uint32_t xuid;
};

/* The vtable. Semantics and return codes are those of the public function
 * of the same name in storage.h; storage.c has already validated names and
 * arguments that do not need the database. Backends call
 * notify_mailbox_changed() after each commit and unlink unreferenced
 * message files (msgfile_unlink) only after the commit that dropped them. */
struct storage_backend_ops {
    const char *name;
    int (*user_open)(struct mail_user *u, bool create);
    void (*user_close)(struct mail_user *u);
    /* A second connection to an opened store for a pool thread (be_job). */
    int (*job_open)(struct mail_user *u);
    void (*job_close)(struct mail_user *u);
    /* One more connection to an opened store, returned (NULL: failed),
     * and its close. */
    void *(*conn_open)(struct mail_user *u);
    void (*conn_close)(void *be);
    /* A reader connection's job starts and ends (storage_read_begin/end):
     * the backend may hold one read snapshot across the job (NULL: no
     * such thing). */
    void (*read_hold)(void *be);
    void (*read_release)(void *be);

    int (*list)(struct mail_user *u, mailbox_list_cb cb, void *arg);
    int (*list_subscriptions)(struct mail_user *u, void (*cb)(const char *name, void *arg), void *arg);
    int (*subscribe)(struct mail_user *u, const char *name, bool subscribe);
    int (*status)(struct mail_user *u, const char *name, struct mailbox_info *out);
    int (*status_id)(struct mail_user *u, int64_t id, struct mailbox_info *out);   /* (NOTIFY) */
    int (*create)(struct mail_user *u, const char *name, uint32_t special_use);
    int (*delete_mailbox)(struct mail_user *u, const char *name);
    int (*rename)(struct mail_user *u, const char *oldname, const char *newname);
    int (*set_special_use)(struct mail_user *u, const char *name, uint32_t special_use);

    int (*open)(struct mailbox *mb, const char *name, bool claim_recent, uint32_t *recent_uid_floor);
    int (*refresh_info)(struct mailbox *mb);
    /* mailbox_peek_info: the row as stored now; mb->info unchanged */
    int (*peek_info)(struct mailbox *mb, struct mailbox_info *out);
    int (*claim_recent)(struct mailbox *mb, uint32_t *floor_out, uint32_t *claimed_hi);
    /* 1 deleted, 0 exists, <0 error */
    int (*is_deleted)(struct mailbox *mb);
    int (*get_uids)(struct mailbox *mb, uint32_t **uids, uint32_t *count);
    int (*get_keywords)(struct mailbox *mb, char **out);
    int (*first_unseen)(struct mailbox *mb, uint32_t *uid);
    int (*foreach_record)(struct mailbox *mb, uint32_t lo, uint32_t hi, msg_record_cb cb, void *arg);
    int (*get_record)(struct mailbox *mb, uint32_t uid, struct msg_record *out);
    int (*sync)(struct mailbox *mb, uint64_t since, msg_record_cb changed, void *carg,
                int (*expunged)(uint32_t uid, void *arg), void *earg);
    int (*vanished_since)(struct mailbox *mb, uint64_t since, int (*cb)(uint32_t uid, void *arg), void *arg);
    int (*get_cache)(struct mailbox *mb, uint32_t uid, struct msg_cache *out);
    int (*get_preview)(struct mailbox *mb, uint32_t uid, char **text, char guid[33]);
    void (*save_previews)(struct mail_user *u, const char (*guids)[33], char *const *texts, size_t n);
    int (*get_guid)(struct mailbox *mb, uint32_t uid, char guid[33]);
    /* mailbox_search_headers (uids checked ascending, what valid, n > 0);
     * hfields missing or not mime_hfields_current are computed with
     * storage_hfields_compute and saved when the database allows it
     * without waiting. */
    int (*search_headers)(struct mailbox *mb, const uint32_t *uids, size_t n, unsigned what,
                          struct search_hdr_batch *b);
    /* mailbox_sort_keys (uids checked ascending, n > 0); records missing
     * or of another format are built from the cached raw header and saved
     * when the database allows it without waiting. */
    int (*sort_keys)(struct mailbox *mb, const uint32_t *uids, size_t n, sort_keys_cb cb, void *arg);

    /* Commit c[0..n) (all of one store, every file already durable) in
     * one write transaction, each in its own savepoint with its own quota
     * verdict (group commit); sets each c[i].result. */
    void (*append_commit)(struct append_commit *c, size_t n);
    int (*store)(struct mailbox *mb, const uint32_t *uids, size_t n, const struct store_req *req,
                 msg_record_cb changed_cb, void *carg, int (*failed_cb)(uint32_t uid, void *arg), void *farg);
    int (*expunge)(struct mailbox *mb, const uint32_t *uids, size_t n, int (*cb)(uint32_t uid, void *arg),
                   void *arg);
    int (*expunge_uids)(struct mailbox *mb, const uint32_t *uids, size_t n, int (*cb)(uint32_t uid, void *arg),
                        void *arg);
    int (*copy)(struct mailbox *src, const uint32_t *uids, size_t n, const char *dest_name, bool move,
                uint32_t *dest_uidvalidity, uint32_t *src_uids, uint32_t *dst_uids, size_t *ncopied,
                int (*expunged_cb)(uint32_t uid, void *arg), void *earg);
    int (*check)(struct mail_user *u, bool fix, void (*cb)(const char *problem, void *arg), void *arg);

    /* expunged messages readable until told (RFC 2180 4.1.1) */
    int (*keep_expunged)(struct mailbox *mb);
    /* expunges_told: the in-memory part (no I/O); true when a release
     * may be due, which release_kept does (it writes). */
    bool (*expunges_told)(struct mailbox *mb, uint64_t modseq);
    void (*release_kept)(struct mailbox *mb);
    int (*foreach_expunged)(struct mailbox *mb, uint32_t lo, uint32_t hi, msg_record_cb cb, void *arg);
    /* the handle is about to be freed (may be NULL) */
    void (*close)(struct mailbox *mb);

    /* access control (storage-acl.c dispatches; acl length checked) */
    int (*create_acl)(struct mail_user *u, const char *name, uint32_t special_use, const char *acl);
    int (*set_acl)(struct mail_user *u, const char *name, const char *acl);
    int (*get_acl)(struct mail_user *u, const char *name, char *out);
    int (*get_acl_mb)(struct mailbox *mb, char *out);
    int (*update_acl)(struct mail_user *u, const char *name,
                      int (*modify)(const char *old, char **newacl, void *arg), void *arg);
    int (*set_sharedseen)(struct mail_user *u, const char *name, bool shared);
    /* status with unseen counted for reader (NULL: as status) */
    int (*status_as)(struct mail_user *u, const char *name, const char *reader, struct mailbox_info *out);
    /* copy/move to a mailbox of another store of the same backend */
    int (*copy_to)(struct mailbox *src, const uint32_t *uids, size_t n, struct mail_user *dest,
                   const char *dest_name, bool move, uint32_t *dest_uidvalidity, uint32_t *src_uids,
                   uint32_t *dst_uids, size_t *ncopied, int (*expunged_cb)(uint32_t uid, void *arg), void *earg);

    /* quota: names are validated by storage.c */
    int (*quota_list)(struct mail_user *u, const char *covering, int (*cb)(const struct quota_root *q, void *arg),
                      void *arg);   /* covering NULL: all roots, else the roots covering that mailbox */
    int (*quota_get)(struct mail_user *u, const char *root, struct quota_root *out);
    int (*quota_set)(struct mail_user *u, const char *root, int64_t storage_kb, int64_t messages,
                     int64_t mailboxes);
    int (*quota_remove)(struct mail_user *u, const char *root);
    int (*deleted_size)(struct mail_user *u, const char *name, uint64_t *out);
    int (*quota_recalc)(struct mail_user *u, bool fix,
                        void (*cb)(const struct quota_root *before, const struct quota_root *after, void *arg),
                        void *arg);

    /* Sieve scripts (storage-sieve.c dispatches): names, sizes and the
     * put's fields are validated there, and the configured limits come
     * in lim, so a backend reads no configuration. The source's bytes
     * count in the storage usage of quota root "" (only), changed in the
     * put's or delete's transaction and judged at its commit. */
    int (*sieve_list)(struct mail_user *u, int (*cb)(const struct sieve_store_info *info, void *arg), void *arg);
    int (*sieve_get)(struct mail_user *u, const char *name, bool want_compiled, struct sieve_store_script *out);
    int (*sieve_stat)(struct mail_user *u, const char *name, struct sieve_store_info *out);
    int (*sieve_put)(struct mail_user *u, const char *name, const struct sieve_store_put *p,
                     const struct sieve_store_limits *lim);
    int (*sieve_havespace)(struct mail_user *u, const char *name, uint64_t size, const struct sieve_store_limits *lim);
    int (*sieve_set_compiled)(struct mail_user *u, const char *name, int64_t generation, const void *compiled,
                              size_t compiled_len, uint32_t compiled_version);
    int (*sieve_activate)(struct mail_user *u, const char *name);   /* NULL: deactivate */
    int (*sieve_delete)(struct mail_user *u, const char *name);
    int (*sieve_rename)(struct mail_user *u, const char *oldname, const char *newname);

    /* METADATA (storage-metadata.c validates names and values and
     * passes the entry limit in max_entries). */
    int (*metadata_get)(struct mail_user *u, const char *mailbox, const char *reader, const char *entry, int depth,
                        int (*cb)(const char *name, const void *value, size_t len, void *arg), void *arg);
    int (*metadata_set)(struct mail_user *u, const char *mailbox, const char *reader,
                        const struct metadata_change *c, size_t n, int64_t special_use, int64_t max_entries);

    /* URLAUTH mailbox access keys (storage-urlauth.c checks arguments) */
    int (*urlauth_key)(struct mail_user *u, const char *store, const char *mailboxid, enum urlauth_key_op op,
                       unsigned char key[URLAUTH_KEY_LEN]);
};

extern const struct storage_backend_ops storage_sqlite_ops;

/* ---- helpers shared by backends (storage.c) ---------------------------- */

bool storage_valid_mailbox_name(const char *name);
bool storage_valid_username(const char *name);
/* Validate and normalise a space-separated keyword list: drops duplicates
 * (case-insensitive, RFC 9051 keywords are case-insensitive), rejects
 * non-atom characters, leading '\' and over-long words. Returns
 * xmalloc'd "" when in is NULL/empty, NULL when invalid. */
char *storage_keywords_normalise(const char *in);
/* Case-insensitive membership test of one keyword in a list. */
bool storage_keyword_in(const char *list, const char *kw, size_t kwlen);
/* 'bytes' random bytes from the kernel CSPRNG (getrandom); aborts on failure. */
void storage_random(void *out, size_t bytes);
/* RFC 8474 object id: prefix char + 24 hex chars. */
void storage_new_objectid(char prefix, char *out, size_t outlen);

/* The hfields (mime.h) of a stored message, appended to out: from its
 * cached raw header (hdr), or when that is NULL (not cached: too long)
 * from its file. For messages stored before hfields existed. */
struct buf;
int storage_hfields_compute(const struct mail_user *u, const char *guid, const char *hdr, size_t hdr_len,
                            struct buf *out);
/* The same for the sort-key record (sortkey.h mime_sortkeys_build). */
int storage_sortkeys_compute(const struct mail_user *u, const char *guid, const char *hdr, size_t hdr_len,
                             struct buf *out);

/* ---- message files (msgfile.c) ------------------------------------------ */

/* New random GUID: 32 lowercase hex chars. */
void msgfile_new_guid(char guid[33]);
bool msgfile_valid_guid(const char *guid);
/* DATADIR/user/<c>/<name>/msg/<g0g1>/<guid> into out. */
void msgfile_path(const struct mail_user *u, const char *guid, char *out, size_t outlen);
/* Store a message body under a new guid (from memory or fd) whose first
 * two characters are gg (so in msg/<gg>/): written, fsync'd and renamed
 * (or linked) into place. The directory is NOT fsync'd: the caller does
 * that once for every file it put there (msgfile_fsync_subdir) before the
 * commit that references them. */
int msgfile_store(const struct mail_user *u, const struct append_msg *m, const char gg[3], char guid[33]);
/* A random msg/<gg>/ name for a new transaction or group ("" + NUL). */
void msgfile_new_subdir(char gg[3]);
/* fsync msg/<gg>/ of u: makes the files linked there durable. */
int msgfile_fsync_subdir(const struct mail_user *u, const char gg[3]);
/* Map a message file read-only. */
int msgfile_map(const struct mail_user *u, const char *guid, struct msg_content *out);
/* Remove a body file (after the commit that dropped its last reference). */
void msgfile_unlink(const struct mail_user *u, const char *guid);
/* Call cb for every file under msg/ (guid name, or the raw name when not
 * a valid guid). Used by mail_user_check to find orphans. */
int msgfile_scan(const struct mail_user *u, void (*cb)(const char *name, const char *path, void *arg), void *arg);
bool msgfile_exists(const struct mail_user *u, const char *guid);
/* Make sguid's file of store src the file guid of store dst: a hard link,
 * or (EXDEV: another partition or filesystem) a copy written to a
 * temporary name in the destination directory, fsync'd and renamed; the
 * destination directory is fsync'd either way. *created is true when
 * this call made the file; false (and STORAGE_OK) when a file of that
 * name was already there. NOTFOUND when the source file is gone. */
int msgfile_link_into(const struct mail_user *src, const char *sguid, const struct mail_user *dst, const char *guid,
                      bool *created);
/* Test hook: when true, every link/rename between directories behaves as
 * if they were on different filesystems (EXDEV), so the copy fallbacks
 * run. Never set outside tests. */
extern bool msgfile_test_exdev;
/* fsync a directory (after rename/link/unlink in it). */
int msgfile_fsync_dir(const char *path);
/* Make dir and missing parents (mode 0700). */
int msgfile_mkdirs(const char *path);

#endif
