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
/* Close the database (tests; after fork the child reopens by itself). */
void share_index_close(void);

#endif
