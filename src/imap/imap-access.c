/* imap-access.c - from a mailbox name as the client sent it to a store, a
 * mailbox inside it and the session's rights on it (RFC 4314), and the
 * replies for the failures on the way.
 *
 * Visibility (RFC 4314 4, access.h): a mailbox the session may not see
 * (no "l" and not the right the command needs) answers exactly like one
 * that does not exist, so the NO texts below never depend on whether a
 * hidden mailbox exists.
 */
#include "imap.h"
#include "log.h"

/* RFC 9051 6.3.3 / 6.3.12 / 6.4.7: APPEND, COPY, MOVE (and REPLACE) to a mailbox
 * that does not exist answer [TRYCREATE]. A hidden mailbox must answer the
 * same, so this depends only on the command. */
static bool cmd_wants_trycreate(const struct imap_cmd *cmd)
{
    if (!cmd)
        return false;
    return strcmp(cmd->name, "APPEND") == 0 || strcmp(cmd->name, "COPY") == 0 ||
           strcmp(cmd->name, "MOVE") == 0 || strcmp(cmd->name, "UID COPY") == 0 ||
           strcmp(cmd->name, "UID MOVE") == 0 || strcmp(cmd->name, "REPLACE") == 0 ||
           strcmp(cmd->name, "UID REPLACE") == 0;   /* RFC 8508 3.4: as APPEND */
}

void imap_reply_access_error(struct imap_session *s, struct imap_cmd *cmd, int err)
{
    switch (err) {
    case ACCESS_ERR_NONEXISTENT:
        if (cmd_wants_trycreate(cmd))
            imap_tagged(s, cmd, "NO", "[TRYCREATE] Mailbox does not exist");
        else
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox does not exist");
        break;
    case ACCESS_ERR_NOPERM:
        imap_tagged(s, cmd, "NO", "[NOPERM] Permission denied");
        break;
    case ACCESS_ERR_INVALID:
        imap_tagged(s, cmd, "NO", "[CANNOT] Invalid mailbox name");
        break;
    case ACCESS_ERR_CANNOT:
        imap_tagged(s, cmd, "NO", "[CANNOT] Operation not possible on these mailboxes");
        break;
    case ACCESS_ERR_ACLFULL:
        imap_tagged(s, cmd, "NO", "[LIMIT] Too many access control entries");
        break;
    case STORAGE_ERR_NOTFOUND:
        /* a store or mailbox vanished between the checks: same as missing */
        imap_reply_access_error(s, cmd, ACCESS_ERR_NONEXISTENT);
        break;
    default:
        imap_reply_storage_error(s, cmd, err);
        break;
    }
}

/* Open the store of ref. The session's own store is the handle it already
 * holds (storage shares handles within a process, so this only takes a
 * reference; it never opens the database a second time). */
static int open_store(struct imap_session *s, const struct mbox_ref *ref, struct mail_user **out)
{
    *out = NULL;
    if (s->mu && strcmp(ref->store, mail_user_name(s->mu)) == 0)
        return mail_user_open(mail_user_name(s->mu), false, out);
    return access_open_store(ref, out);
}

bool imap_resolve(struct imap_session *s, struct imap_cmd *cmd, const struct imap_str *name, acl_rights_t need,
                  bool must_exist, struct mbox_ref *ref, struct mail_user **store, acl_rights_t *rights)
{
    *store = NULL;
    *rights = 0;
    memset(ref, 0, sizeof(*ref));
    /* (modified UTF-7 takes at most 4 bytes per character of the
     * internal form; imap_mailbox_from_client checks the real length) */
    if (!name || !name->s || name->file || name->len > 4 * IMAP_MAX_CLIENT_NAME) {
        imap_tagged(s, cmd, "NO", "[%s] Mailbox name too long", must_exist ? "NONEXISTENT" : "CANNOT");
        return false;
    }
    char internal[IMAP_MAX_CLIENT_NAME + 1];
    const char *why = NULL;
    /* Invalid names get a NO with the reason (issue 3: "refused with a
     * clear NO"); such a mailbox can never exist. */
    if (!imap_mailbox_from_client(s, name->s, name->len, internal, &why)) {
        imap_tagged(s, cmd, "NO", "[%s] %s", must_exist ? "NONEXISTENT" : "CANNOT",
                    why ? why : "Invalid mailbox name");
        return false;
    }
    int err = access_resolve(&s->who, internal, ref);
    if (err < 0) {
        if (err == ACCESS_ERR_INVALID)
            imap_tagged(s, cmd, "NO", "[%s] Invalid mailbox name", must_exist ? "NONEXISTENT" : "CANNOT");
        else
            imap_reply_access_error(s, cmd, err);
        return false;
    }
    err = open_store(s, ref, store);
    if (err < 0) {
        *store = NULL;
        /* an unknown account is a missing mailbox, never a server error */
        imap_reply_access_error(s, cmd, err == STORAGE_ERR_NOTFOUND ? ACCESS_ERR_NONEXISTENT : err);
        return false;
    }
    acl_rights_t r = 0;
    err = access_rights(&s->who, ref, &r);
    if (!must_exist) {
        *rights = err < 0 ? 0 : r;
        return true;
    }
    if (err < 0) {
        mail_user_close(*store);
        *store = NULL;
        imap_reply_access_error(s, cmd, err == STORAGE_ERR_NOTFOUND ? ACCESS_ERR_NONEXISTENT : err);
        return false;
    }
    /* need 0 (MYRIGHTS): any right at all. Otherwise every needed right;
     * without "l" a refusal looks like a missing mailbox (RFC 4314 4). */
    bool ok = need ? (r & need) == need : r != 0;
    if (!ok) {
        mail_user_close(*store);
        *store = NULL;
        imap_reply_access_error(s, cmd, (r & ACL_LOOKUP) ? ACCESS_ERR_NOPERM : ACCESS_ERR_NONEXISTENT);
        return false;
    }
    *rights = r;
    return true;
}

void imap_append_store_mailbox(struct imap_session *s, struct buf *b, const char *store, const char *internal)
{
    struct buf n = BUF_INIT;
    access_client_name(&s->who, store, internal, &n);
    imap_append_mailbox(s, b, buf_cstr(&n));
    buf_free(&n);
}

bool imap_is_own_store(const struct imap_session *s, const struct mail_user *store)
{
    return store && s->mu && (store == s->mu || strcmp(mail_user_name(store), mail_user_name(s->mu)) == 0);
}

/* The storage counts the UIDs no session has claimed as \Recent yet.
 * For the mailbox this read-write session has selected, the messages it
 * holds \Recent on count too (RFC 3501 2.3.2, 6.3.10: STATUS RECENT is the
 * number with \Recent set, which this session sees); the two are
 * disjoint. A read-only view claims nothing: its \Recent messages are
 * among the unclaimed ones already. */
void imap_status_add_recent(struct imap_session *s, const char *store, struct mailbox_info *info)
{
    struct imap_view *v = s->state == IMAP_SELECTED ? s->view : NULL;
    if (!v || !v->mb || v->gone || v->readonly || !info->mailboxid[0] || !store)
        return;
    const struct mailbox_info *sel = mailbox_get_info(v->mb);
    struct mail_user *vu = mailbox_user(v->mb);
    if (sel && vu && strcmp(sel->mailboxid, info->mailboxid) == 0 && strcmp(mail_user_name(vu), store) == 0)
        info->recent += v->recent_count;
}

int imap_mailbox_status(struct imap_session *s, struct mail_user *store, const char *name, struct mailbox_info *out)
{
    int r = imap_is_own_store(s, store) ? mailbox_status(store, name, out)
                                        : mailbox_status_as(store, name, s->who.user, out);
    if (r == 0)
        imap_status_add_recent(s, mail_user_name(store), out);
    return r;
}
