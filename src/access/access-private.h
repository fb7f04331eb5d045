/* access-private.h - shared between the files of the access layer only. */
#ifndef DARIUS_ACCESS_PRIVATE_H
#define DARIUS_ACCESS_PRIVATE_H

#include "access.h"

/* access_resolve, optionally accepting a user component that is not (yet)
 * in the user database (admin CREATE/RENAME of an account). */
int access_resolve_ex(const struct access_who *w, const char *name, bool allow_unknown, struct mbox_ref *out);
/* "group:NAME" for every group of the group file user is in, as the file
 * is now; returns the count, *out caller-freed (each entry and array). */
size_t access_groups_of(const char *user, char ***out);
/* Is the local part id[0..len) one of the ACL's special identifiers
 * ("anyone", "anonymous", "group:...", a "-" negative prefix)? */
bool access_reserved_local(const char *id, size_t len);
/* Domain of a store name (user id or "%shared@DOMAIN"). */
const char *access_store_domain(const char *store);

/* ---- share index (share-index.c) ---- */
/* Record every identifier other than owner that acl grants rights to, for
 * (store, mailbox). Call BEFORE committing the ACL. */
int share_hint_add(const char *store, const char *mailbox, const char *owner, const char *acl);
/* Drop the hints of (store, mailbox) that acl no longer justifies (acl
 * NULL = all of them). Call AFTER the change committed. */
int share_hint_prune(const char *store, const char *mailbox, const char *owner, const char *acl);
/* Copy the hints of mailbox `from` and its children to `to` (before a
 * rename commits); drop the old ones with share_hint_drop_tree after. */
int share_hint_copy_tree(const char *store, const char *from, const char *to);
int share_hint_drop_tree(const char *store, const char *from);
/* Whole stores: delete, rename. */
int share_hint_drop_store(const char *store);
int share_hint_rename_store(const char *from, const char *to);
/* Stores holding a hint for any of ids[] (distinct, any order); ids NULL:
 * every store holding any hint. */
int share_hint_stores(const char *const *ids, size_t nids, void (*cb)(const char *store, void *arg), void *arg);
/* Rebuild (access_reindex): collect rows in a set, then replace the
 * whole index with it in one transaction. */
struct share_hint_set;
struct share_hint_set *share_hint_set_new(void);
void share_hint_set_add(struct share_hint_set *set, const char *store, const char *mailbox, const char *owner,
                        const char *acl);
int share_hint_replace_all(const struct share_hint_set *set);
void share_hint_set_free(struct share_hint_set *set);
/* Account operation journal (table account_op of shares.db): kind
 * "rename" (old -> new_) or "delete" (old). begin commits the row
 * (synchronous=FULL) before the operation's first step. */
struct account_op {
    int64_t id;
    char kind[16];
    char old[AUTH_MAX_USERNAME + 1];
    char new_[AUTH_MAX_USERNAME + 1];
};
int account_op_begin(const char *kind, const char *old, const char *new_, int64_t *id);
int account_op_end(int64_t id);
/* Oldest pending operation naming `name` (old or new; NULL = any): 1 and
 * *out filled, 0 none, < 0 error. */
int account_op_find(const char *name, struct account_op *out);
/* Exclusive lock of account operations (DATADIR/account-ops.lock, flock):
 * a file descriptor >= 0, STORAGE_ERR_BUSY when !wait and it is held. */
int account_ops_lock(bool wait);
void account_ops_unlock(int fd);
/* Close the database (tests; after fork the child reopens by itself). */
void share_index_close(void);

#endif
