/* delivery-deliver.c - put one spooled message into one recipient's store.
 *
 * The spool file is linked, not copied (append_msg.shared_spool); storage
 * fsyncs the user's message directory and commits the metadata before
 * mailbox_append_by_name returns, so DELIVER_OK means durable.
 */
#include "delivery.h"
#include "config.h"
#include "log.h"
#include "storage.h"

static enum deliver_result map_err(int r)
{
    switch (r) {
    case STORAGE_ERR_OVERQUOTA:
        return DELIVER_OVERQUOTA;
    case STORAGE_ERR_INVALID:
        return DELIVER_PERMFAIL;
    default:
        return DELIVER_TEMPFAIL;
    }
}

/* The folder to deliver into: the detail folder when it exists (created
 * first with createonpost), else INBOX. */
static void choose_mailbox(struct mail_user *u, const struct delivery_rcpt *rcpt, char *name, size_t namelen)
{
    snprintf(name, namelen, "INBOX");
    if (!rcpt->has_detail || strcmp(rcpt->mailbox, "INBOX") == 0)
        return;
    struct mailbox_info *info = xmalloc(sizeof(*info));
    int r = mailbox_status(u, rcpt->mailbox, info);
    free(info);
    if (r == 0) {
        snprintf(name, namelen, "%s", rcpt->mailbox);
        return;
    }
    if (r == STORAGE_ERR_NOTFOUND && config_bool(CFG_CREATEONPOST)) {
        r = mailbox_create(u, rcpt->mailbox, 0);
        if (r == 0 || r == STORAGE_ERR_EXISTS) {
            log_info("delivery: created %s for %s (createonpost)", rcpt->mailbox, rcpt->user);
            snprintf(name, namelen, "%s", rcpt->mailbox);
            return;
        }
        log_warn("delivery: createonpost %s for %s: %s; delivering to INBOX", rcpt->mailbox, rcpt->user,
                 storage_strerror(r));
    }
}

enum deliver_result delivery_deliver(struct dspool *s, const struct delivery_rcpt *rcpt,
                                     const struct deliver_opts *o)
{
    struct mail_user *u;
    int r = mail_user_open(rcpt->user, true, &u);
    if (r < 0) {
        log_err("delivery: cannot open the store of %s: %s", rcpt->user, storage_strerror(r));
        return r == STORAGE_ERR_NOTFOUND ? DELIVER_NOUSER : DELIVER_TEMPFAIL;
    }
    char name[STORAGE_MAX_MAILBOX_NAME + 1];
    choose_mailbox(u, rcpt, name, sizeof(name));
    const char *msgid = dspool_message_id(s);
    if (o->dupcheck && msgid && duplicate_check(msgid, rcpt->user, name) == 1) {
        log_info("delivery: duplicate suppressed: user=%s mailbox=%s msgid=%s", rcpt->user, name, msgid);
        mail_user_close(u);
        return DELIVER_DUPLICATE;
    }
    struct append_msg m;
    memset(&m, 0, sizeof(m));
    m.fd = dspool_fd(s);
    m.len = dspool_size(s);
    m.flags = o->flags;
    m.keywords = o->keywords;
    m.shared_spool = true;
    m.ignore_quota = o->ignore_quota;
    uint32_t uidv = 0, uid = 0;
    r = mailbox_append_by_name(u, name, &m, &uidv, &uid);
    if (r == STORAGE_ERR_NOTFOUND && strcmp(name, "INBOX") != 0) {
        /* The folder was deleted meanwhile: INBOX. */
        snprintf(name, sizeof(name), "INBOX");
        r = mailbox_append_by_name(u, name, &m, &uidv, &uid);
    }
    if (r < 0) {
        log_warn("delivery: user=%s mailbox=%s: %s", rcpt->user, name, storage_strerror(r));
        mail_user_close(u);
        return map_err(r);
    }
    log_info("delivery: delivered user=%s mailbox=%s uid=%u size=%zu%s%s", rcpt->user, name, uid, m.len,
             msgid ? " msgid=" : "", msgid ? msgid : "");
    if (o->dupcheck && msgid)
        duplicate_mark(msgid, rcpt->user, name);
    mail_user_close(u);
    return DELIVER_OK;
}
