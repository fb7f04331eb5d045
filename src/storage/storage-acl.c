/* storage-acl.c - public half of the multi-user additions to storage.h:
 * mailbox ACL text, sharedseen, handles of readers other than the store's
 * owner (per-reader \Seen), copy/move between stores, and the "store was
 * just created" flag. Argument checks that need no database, then
 * dispatch through struct storage_backend_ops (storage-private.h).
 */
#include "storage-private.h"
#include "log.h"

bool mail_user_is_new(const struct mail_user *u) { return u && u->is_new; }

void mail_user_clear_new(struct mail_user *u)
{
    if (u)
        u->is_new = false;
}

static bool valid_acl(const char *acl) { return !acl || strlen(acl) <= STORAGE_MAX_ACL; }

int mailbox_create_acl(struct mail_user *u, const char *name, uint32_t special_use, const char *acl)
{
    if (!storage_valid_mailbox_name(name) || (special_use & ~SPECIAL_USE_ALL) || !valid_acl(acl))
        return STORAGE_ERR_INVALID;
    return u->ops->create_acl(u, name, special_use, acl ? acl : "");
}

int mailbox_set_acl(struct mail_user *u, const char *name, const char *acl)
{
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    if (!valid_acl(acl))
        return STORAGE_ERR_INVALID;
    return u->ops->set_acl(u, name, acl ? acl : "");
}

int mailbox_update_acl(struct mail_user *u, const char *name,
                       int (*modify)(const char *old, char **newacl, void *arg), void *arg)
{
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    return u->ops->update_acl(u, name, modify, arg);
}

int mailbox_get_acl(struct mail_user *u, const char *name, char *out)
{
    out[0] = '\0';
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    return u->ops->get_acl(u, name, out);
}

int mailbox_get_acl_open(struct mailbox *mb, char *out)
{
    out[0] = '\0';
    if (mb->deleted)
        return STORAGE_ERR_NOTFOUND;
    return mb->user->ops->get_acl_mb(mb, out);
}

int mailbox_set_sharedseen(struct mail_user *u, const char *name, bool shared)
{
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    return u->ops->set_sharedseen(u, name, shared);
}

/* A reader whose \Seen may differ from the owner's: NULL for the owner. */
static const char *other_reader(const struct mail_user *u, const char *reader)
{
    return reader && strcmp(reader, u->name) != 0 ? reader : NULL;
}

int mailbox_status_as(struct mail_user *u, const char *name, const char *reader, struct mailbox_info *out)
{
    reader = other_reader(u, reader);
    if (!reader)
        return mailbox_status(u, name, out);
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    if (strlen(reader) >= sizeof(((struct mailbox *)0)->reader) || !storage_valid_username(reader))
        return STORAGE_ERR_INVALID;
    return u->ops->status_as(u, name, reader, out);
}

int mailbox_open_as(struct mail_user *u, const char *name, const char *reader, bool readonly,
                    uint32_t *recent_uid_floor, struct mailbox **out)
{
    *out = NULL;
    reader = other_reader(u, reader);
    if (!reader)   /* the owner: a normal SELECT (claims \Recent) or EXAMINE */
        return mailbox_open(u, name, readonly, !readonly, recent_uid_floor, out);
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    struct mailbox *mb = xcalloc(1, sizeof(*mb));
    size_t rl = strlen(reader);
    if (rl >= sizeof(mb->reader) || !storage_valid_username(reader)) {
        free(mb);
        return STORAGE_ERR_INVALID;
    }
    memcpy(mb->reader, reader, rl + 1);
    mb->user = u;
    mb->readonly = readonly;
    /* Never claims \Recent: those messages are the owner's sessions'. */
    int r = u->ops->open(mb, name, false, recent_uid_floor);
    if (r < 0) {
        free(mb);
        return r;
    }
    u->refcount++;   /* the mailbox keeps its user alive (as mailbox_open) */
    *out = mb;
    return STORAGE_OK;
}

int mailbox_copy_to(struct mailbox *src, const uint32_t *uids, size_t n, struct mail_user *dest,
                    const char *dest_name, bool move, uint32_t *dest_uidvalidity, uint32_t *src_uids,
                    uint32_t *dst_uids, size_t *ncopied, int (*expunged_cb)(uint32_t uid, void *arg), void *earg)
{
    if (ncopied)
        *ncopied = 0;
    if (!dest || dest == src->user)
        return mailbox_copy(src, uids, n, dest_name, move, dest_uidvalidity, src_uids, dst_uids, ncopied,
                            expunged_cb, earg);
    if (move && src->readonly)
        return STORAGE_ERR_NOPERM;
    if (!storage_valid_mailbox_name(dest_name))
        return STORAGE_ERR_NOTFOUND;
    if (dest->ops != src->user->ops) {
        log_err("storage: copy from %s to %s: stores on different backends", src->user->name, dest->name);
        return STORAGE_ERR_IO;
    }
    return src->user->ops->copy_to(src, uids, n, dest, dest_name, move, dest_uidvalidity, src_uids, dst_uids,
                                   ncopied, expunged_cb, earg);
}
