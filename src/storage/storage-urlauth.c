/* storage-urlauth.c - URLAUTH mailbox access keys (RFC 4467 2.2; the API
 * in storage.h): argument checks and dispatch through the backend's ops
 * (sqlite-urlauth.c).
 */
#include "storage-private.h"

int urlauth_key(struct mail_user *u, const char *store, const char *mailboxid, enum urlauth_key_op op,
                unsigned char key[URLAUTH_KEY_LEN])
{
    if (!u)
        return STORAGE_ERR_INVALID;
    if (op != URLAUTH_KEY_DROP_ALL && (!store || !*store || !mailboxid || !*mailboxid || !key))
        return STORAGE_ERR_INVALID;
    if (!u->ops->urlauth_key)
        return STORAGE_ERR_INVALID;
    return u->ops->urlauth_key(u, store, mailboxid, op, key);
}
