/* delivery-deliver.c - put one spooled message into one recipient's store.
 *
 * The spool file is linked, not copied (append_msg.shared_spool); storage
 * fsyncs the user's message directory and commits the metadata before
 * mailbox_append_by_name returns, so DELIVER_OK means durable.
 *
 * Which mailbox (Cyrus lmtpd semantics, see delivery.h):
 *   - INBOX of a user: always allowed (that is what an address is for);
 *   - a user's +detail folder: only when its ACL grants p (RFC 4314 2.1,
 *     "post") to the poster - the authenticated LMTP client / deliver -a,
 *     else an identity that matches nothing but "anyone". Otherwise the
 *     message silently goes to INBOX (the sender cannot tell folders
 *     apart). createonpost creates a missing folder by the rules of IMAP
 *     CREATE - a valid name, k on the nearest existing ancestor for the
 *     poster (access_create_posted) - and delivers there;
 *   - a shared mailbox or an address-map target ("exact"): must exist and
 *     grant p, else the recipient is unknown (550 5.1.1 - the answer is
 *     the same for "missing" and "not allowed", revealing nothing).
 */
#include "delivery.h"
#include "access.h"
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
    case STORAGE_ERR_BUSY:
        return DELIVER_BUSY;
    default:
        return DELIVER_TEMPFAIL;
    }
}

/* The identity posting: an authenticated user, or - unauthenticated - a
 * name that can never be a user id ('%' is not allowed in user names, and
 * it is not a store name either), so only "anyone" entries match it. It
 * is not "anonymous": anonymous IMAP sessions are a different audience
 * (RFC 4314 3: "anyone" vs "anonymous" in Cyrus). The domain is the
 * target's, so a domain-scoped "anyone" matches. */
struct poster {
    struct access_who w;
    bool initialized;   /* by access_who_init (needs access_who_free) */
};

static void poster_init(struct poster *p, const char *poster, const char *domain)
{
    memset(p, 0, sizeof(*p));
    if (poster && *poster) {
        access_who_init(&p->w, poster);
        p->initialized = true;
        return;
    }
    snprintf(p->w.user, sizeof(p->w.user), "%%post");
    snprintf(p->w.domain, sizeof(p->w.domain), "%s", domain ? domain : "");
}

static void poster_free(struct poster *p)
{
    if (p->initialized)
        access_who_free(&p->w);
}

/* 1 the poster may post into name, 0 not, STORAGE_ERR_NOTFOUND no such
 * mailbox, other <0 storage errors. */
static int may_post(struct mail_user *u, const struct delivery_rcpt *rc, const char *name, const char *poster)
{
    char *acl = xmalloc(STORAGE_MAX_ACL + 1);
    int r = mailbox_get_acl(u, name, acl);
    if (r < 0) {
        free(acl);
        return r;
    }
    struct poster p;
    poster_init(&p, poster, rc->domain);
    acl_rights_t rights = acl_evaluate(acl, &p.w, rc->store);
    poster_free(&p);
    free(acl);
    return (rights & ACL_POST) ? 1 : 0;
}

/* The folder to deliver into. create: createonpost may create a missing
 * detail folder (at delivery; at RCPT time we only look). Returns
 * DELIVER_OK with name set, DELIVER_NOUSER for an exact target that is
 * missing or not allowed, or an error. */
static enum deliver_result choose_mailbox(struct mail_user *u, const struct delivery_rcpt *rc, const char *poster,
                                          bool create, char *name, size_t namelen)
{
    snprintf(name, namelen, "INBOX");
    bool inbox = strcmp(rc->mailbox, "INBOX") == 0;
    if (rc->exact) {
        if (inbox && rc->user[0])
            return DELIVER_OK;   /* a user's INBOX: no p needed */
        int r = may_post(u, rc, rc->mailbox, poster);
        if (r == 1) {
            snprintf(name, namelen, "%s", rc->mailbox);
            return DELIVER_OK;
        }
        if (r == 0 || r == STORAGE_ERR_NOTFOUND) {
            log_info("delivery: store=%s mailbox=%s: %s", rc->store, rc->mailbox,
                     r == 0 ? "no p right for the poster" : "no such mailbox");
            return DELIVER_NOUSER;
        }
        return map_err(r);
    }
    if (!rc->has_detail || inbox)
        return DELIVER_OK;
    int r = may_post(u, rc, rc->mailbox, poster);
    if (r == 1) {
        snprintf(name, namelen, "%s", rc->mailbox);
        return DELIVER_OK;
    }
    if (r == 0) {
        log_info("delivery: user=%s folder %s does not grant p to the poster; INBOX", rc->user, rc->mailbox);
        return DELIVER_OK;
    }
    if (r == STORAGE_ERR_NOTFOUND && config_bool(CFG_CREATEONPOST)) {
        /* The rules of IMAP CREATE (access_create_posted): a valid name
         * and k on the nearest existing ancestor for the poster, so a
         * sender cannot add folders to a tree its owner shares with
         * others (the child would inherit that ACL). Otherwise INBOX, as
         * for any unusable detail (Cyrus). */
        struct poster p;
        poster_init(&p, poster, rc->domain);
        int c = access_create_posted(&p.w, u, rc->store, rc->user, rc->mailbox, create);
        poster_free(&p);
        if (c == STORAGE_ERR_EXISTS) {
            /* created meanwhile by someone else: its ACL decides */
            if (may_post(u, rc, rc->mailbox, poster) == 1)
                snprintf(name, namelen, "%s", rc->mailbox);
            return DELIVER_OK;
        }
        if (c == 0) {
            if (create)
                log_info("delivery: created %s for %s (createonpost)", rc->mailbox, rc->user);
            snprintf(name, namelen, "%s", rc->mailbox);   /* at RCPT: would be created */
            return DELIVER_OK;
        }
        if (c == ACCESS_ERR_NOPERM || c == ACCESS_ERR_INVALID)
            log_info("delivery: user=%s: the poster may not create %s (%s); INBOX", rc->user, rc->mailbox,
                     c == ACCESS_ERR_NOPERM ? "no k on its parent" : "invalid name");
        else
            log_warn("delivery: createonpost %s for %s: %s; delivering to INBOX", rc->mailbox, rc->user,
                     access_strerror(c));
        return DELIVER_OK;
    }
    if (r != STORAGE_ERR_NOTFOUND)
        log_warn("delivery: user=%s folder %s: %s; delivering to INBOX", rc->user, rc->mailbox, storage_strerror(r));
    return DELIVER_OK;
}

/* Open the target store. A user's account is provisioned on first
 * delivery (store, autocreate_inbox_folders). provision=false (RCPT
 * time): a missing user store is reported as *u = NULL, DELIVER_OK. */
static enum deliver_result open_store(const struct delivery_rcpt *rc, bool provision, struct mail_user **u)
{
    *u = NULL;
    int r = mail_user_open(rc->store, false, u);
    if (r == STORAGE_ERR_NOTFOUND && rc->user[0]) {
        if (!provision)
            return DELIVER_OK;
        r = access_provision_user(rc->store, NULL);
        if (r == 0)
            r = mail_user_open(rc->store, false, u);
        else if (r != STORAGE_ERR_BUSY)
            log_err("delivery: cannot provision the account %s: %s", rc->store, access_strerror(r));
    }
    if (r == 0)
        return DELIVER_OK;
    *u = NULL;
    if (r == STORAGE_ERR_BUSY) {
        log_notice("delivery: store %s is busy (being moved); temporary failure", rc->store);
        return DELIVER_BUSY;
    }
    if (r == STORAGE_ERR_NOTFOUND)
        return DELIVER_NOUSER;
    log_err("delivery: cannot open the store %s: %s", rc->store, access_strerror(r));
    return DELIVER_TEMPFAIL;
}

struct quota_ctx {
    uint64_t size;
    bool over;
    char root[STORAGE_MAX_MAILBOX_NAME + 1];
};

static int quota_cb(const struct quota_root *q, void *arg)
{
    struct quota_ctx *c = arg;
    uint64_t add = c->size ? c->size : 1;
    if (q->storage_limit_kb >= 0 && q->storage_used >= 0 &&
        (uint64_t)q->storage_used + add > (uint64_t)q->storage_limit_kb * 1024u)
        c->over = true;
    if (q->message_limit >= 0 && q->message_used + 1 > q->message_limit)
        c->over = true;
    if (c->over) {
        snprintf(c->root, sizeof(c->root), "%s", q->name);
        return 1;
    }
    return 0;
}

enum deliver_result delivery_check(const struct delivery_rcpt *rc, const struct deliver_opts *o, uint64_t size)
{
    struct delivery_rcpt copy = *rc;
    copy.hold = NULL;
    enum deliver_result dr = delivery_check_hold(&copy, o, size);
    delivery_rcpt_release(&copy);
    return dr;
}

void delivery_rcpt_release(struct delivery_rcpt *rc)
{
    if (rc->hold)
        mail_user_close(rc->hold);
    rc->hold = NULL;
}

enum deliver_result delivery_check_hold(struct delivery_rcpt *rc, const struct deliver_opts *o, uint64_t size)
{
    delivery_rcpt_release(rc);
    struct mail_user *u;
    enum deliver_result dr = open_store(rc, false, &u);
    if (dr != DELIVER_OK)
        return dr;
    if (!u) {
        /* A known user without a store yet: an exact folder target cannot
         * exist; INBOX will be provisioned at delivery. */
        return rc->exact && strcmp(rc->mailbox, "INBOX") != 0 ? DELIVER_NOUSER : DELIVER_OK;
    }
    char name[STORAGE_MAX_MAILBOX_NAME + 1];
    dr = choose_mailbox(u, rc, o->poster, false, name, sizeof(name));
    if (dr == DELIVER_OK && !o->ignore_quota) {
        /* Cyrus checks the quota at RCPT too, so a full mailbox is refused
         * before the client sends the message (RFC 1870 SIZE makes it
         * exact for the announced size). */
        struct quota_ctx q = {.size = size};
        int r = quota_roots_of(u, name, quota_cb, &q);
        if (r < 0 && r != STORAGE_ERR_NOTFOUND)
            log_warn("delivery: quota of %s/%s: %s", rc->store, name, storage_strerror(r));
        else if (q.over) {
            log_info("delivery: store=%s mailbox=%s: quota root \"%s\" full at RCPT", rc->store, name, q.root);
            dr = DELIVER_OVERQUOTA;
        }
    }
    if (dr == DELIVER_OK)
        rc->hold = u;
    else
        mail_user_close(u);
    return dr;
}

enum deliver_result delivery_deliver(struct dspool *s, const struct delivery_rcpt *rcpt,
                                     const struct deliver_opts *o)
{
    struct mail_user *u;
    enum deliver_result dr = open_store(rcpt, true, &u);
    if (dr != DELIVER_OK)
        return dr;
    if (!u)
        return DELIVER_TEMPFAIL;   /* not reached: provisioning opens it */
    char name[STORAGE_MAX_MAILBOX_NAME + 1];
    dr = choose_mailbox(u, rcpt, o->poster, true, name, sizeof(name));
    if (dr != DELIVER_OK) {
        mail_user_close(u);
        return dr;
    }
    const char *msgid = dspool_message_id(s);
    if (o->dupcheck && msgid && duplicate_check(msgid, rcpt->store, name) == 1) {
        log_info("delivery: duplicate suppressed: store=%s mailbox=%s msgid=%s", rcpt->store, name, msgid);
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
    int r = mailbox_append_by_name(u, name, &m, &uidv, &uid);
    if (r == STORAGE_ERR_NOTFOUND && strcmp(name, "INBOX") != 0) {
        if (rcpt->exact) {
            mail_user_close(u);
            return DELIVER_NOUSER;   /* deleted meanwhile */
        }
        /* The folder was deleted meanwhile: INBOX. */
        snprintf(name, sizeof(name), "INBOX");
        r = mailbox_append_by_name(u, name, &m, &uidv, &uid);
    }
    if (r < 0) {
        log_warn("delivery: store=%s mailbox=%s: %s", rcpt->store, name, storage_strerror(r));
        mail_user_close(u);
        return map_err(r);
    }
    log_info("delivery: delivered store=%s mailbox=%s uid=%u size=%zu%s%s%s%s", rcpt->store, name, uid, m.len,
             msgid ? " msgid=" : "", msgid ? msgid : "", o->poster ? " poster=" : "", o->poster ? o->poster : "");
    if (o->dupcheck && msgid)
        duplicate_mark(msgid, rcpt->store, name);
    mail_user_close(u);
    return DELIVER_OK;
}
