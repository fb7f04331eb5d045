/* delivery-deliver.c - put one spooled message into one recipient's store.
 *
 * The spool file is linked, not copied (append_msg.shared_spool); storage
 * fsyncs the user's message directory and commits the metadata before
 * mailbox_append_batch returns, so DELIVER_OK means durable. Three steps
 * (delivery.h): prepare on the loop thread (store, mailbox, the
 * configuration), the commit on any thread (a pool's: group commit with
 * other appends into the store; duplicate suppression around it), finish
 * on the loop thread (the store is closed there).
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

/* ---- the commit step (pool thread: nothing here reads the configuration,
 * which a reload may replace meanwhile, nor touches the loop's state) ---- */

/* Positive results of the before step (storage.h: append_req.before). */
enum { DUP_SEEN = 1, DUP_INFLIGHT = 2 };

static int commit_before(struct append_req *r)
{
    struct delivery_job *j = (struct delivery_job *)r;
    if (!j->dupcheck)
        return 0;
    j->dup = duplicate_begin(j->msgid, j->store, j->name, j->horizon);
    return j->dup == 1 ? DUP_SEEN : j->dup == 2 ? DUP_INFLIGHT : 0;
}

static void commit_after(struct append_req *r)
{
    struct delivery_job *j = (struct delivery_job *)r;
    int res = r->result;
    if (res == DUP_INFLIGHT) {
        /* Another delivery of this message to this mailbox was in the
         * same batch (two recipients naming one mailbox, or the same
         * message on two connections): deliveries into one store run one
         * batch at a time, and the earlier one's after step has run, so
         * its outcome is known now. Delivered: this one is a duplicate;
         * failed: this one is delivered now, on its own. */
        j->dup = duplicate_begin(j->msgid, j->store, j->name, j->horizon);
        if (j->dup == 0) {
            uint32_t uidv = 0;
            res = mailbox_append_by_name(j->u, j->name, &j->msg, &uidv, &j->uid);
        } else {
            res = j->dup == 1 ? DUP_SEEN : DUP_INFLIGHT;
        }
    }
    bool reserved = j->dupcheck && j->dup == 0;   /* by commit_before (or just above) */
    if (res == STORAGE_ERR_NOTFOUND && strcmp(j->name, "INBOX") != 0 && !j->exact) {
        /* The folder was deleted meanwhile: INBOX (one more commit of
         * its own, on this thread; rare), recorded as delivered there. */
        if (reserved)
            duplicate_end(j->msgid, j->store, j->name, false);
        snprintf(j->name, sizeof(j->name), "INBOX");
        uint32_t uidv = 0;
        res = mailbox_append_by_name(j->u, j->name, &j->msg, &uidv, &j->uid);
        if (res == 0 && reserved)
            duplicate_mark(j->msgid, j->store, j->name);
    } else if (reserved) {
        duplicate_end(j->msgid, j->store, j->name, res == 0);
    }
    if (res == DUP_SEEN) {
        log_info("delivery: duplicate suppressed: store=%s mailbox=%s msgid=%s", j->store, j->name, j->msgid);
        j->result = DELIVER_DUPLICATE;
    } else if (res == DUP_INFLIGHT) {
        /* (not reached: see above) the outcome of the other delivery is
         * not known: the MTA tries again later */
        log_info("delivery: store=%s mailbox=%s msgid=%s: being delivered by another connection; temporary failure",
                 j->store, j->name, j->msgid);
        j->result = DELIVER_TEMPFAIL;
    } else if (res == STORAGE_ERR_NOTFOUND && j->exact) {
        j->result = DELIVER_NOUSER;   /* deleted meanwhile */
    } else if (res < 0) {
        log_warn("delivery: store=%s mailbox=%s: %s", j->store, j->name, storage_strerror(res));
        j->result = map_err(res);
    } else {
        log_info("delivery: delivered store=%s mailbox=%s uid=%u size=%zu%s%s%s%s", j->store, j->name, j->uid,
                 j->msg.len, j->msgid ? " msgid=" : "", j->msgid ? j->msgid : "", j->poster ? " poster=" : "",
                 j->poster ? j->poster : "");
        j->result = DELIVER_OK;
    }
    j->finished = true;
}

/* ---- the steps --------------------------------------------------------- */

enum deliver_result delivery_prepare(struct delivery_job *j, struct dspool *s, const struct delivery_rcpt *rcpt,
                                     const struct deliver_opts *o)
{
    memset(j, 0, sizeof(*j));
    struct mail_user *u;
    enum deliver_result dr = open_store(rcpt, true, &u);
    if (dr != DELIVER_OK)
        return dr;
    if (!u)
        return DELIVER_TEMPFAIL;   /* not reached: provisioning opens it */
    dr = choose_mailbox(u, rcpt, o->poster, true, j->name, sizeof(j->name));
    if (dr != DELIVER_OK) {
        mail_user_close(u);
        return dr;
    }
    j->u = u;
    snprintf(j->store, sizeof(j->store), "%s", rcpt->store);
    j->exact = rcpt->exact;
    const char *msgid = dspool_message_id(s);
    j->msgid = msgid ? xstrdup(msgid) : NULL;
    j->poster = o->poster ? xstrdup(o->poster) : NULL;
    j->keywords = o->keywords ? xstrdup(o->keywords) : NULL;
    j->dupcheck = o->dupcheck && msgid;
    if (j->dupcheck)
        j->horizon = duplicate_horizon();
    j->msg.fd = dspool_fd(s);
    j->msg.len = dspool_size(s);
    j->msg.flags = o->flags;
    j->msg.keywords = j->keywords;
    j->msg.shared_spool = true;
    j->msg.ignore_quota = o->ignore_quota;
    j->req.store = u;
    j->req.mailbox = j->name;
    j->req.msgs = &j->msg;
    j->req.nmsgs = 1;
    j->req.uids = &j->uid;
    j->req.before = commit_before;
    j->req.after = commit_after;
    j->result = DELIVER_TEMPFAIL;
    return DELIVER_OK;
}

enum deliver_result delivery_finish(struct delivery_job *j)
{
    if (!j->finished) {
        /* the store could not be taken for the commit (after never ran) */
        log_warn("delivery: store=%s mailbox=%s: %s", j->store, j->name, storage_strerror(j->req.result));
        j->result = j->req.result < 0 ? map_err(j->req.result) : DELIVER_TEMPFAIL;
    }
    if (j->u)
        mail_user_close(j->u);
    j->u = NULL;
    free(j->msgid);
    free(j->poster);
    free(j->keywords);
    j->msgid = j->poster = j->keywords = NULL;
    return j->result;
}

enum deliver_result delivery_deliver(struct dspool *s, const struct delivery_rcpt *rcpt,
                                     const struct deliver_opts *o)
{
    struct delivery_job j;
    enum deliver_result dr = delivery_prepare(&j, s, rcpt, o);
    if (dr != DELIVER_OK)
        return dr;
    void *item = &j.req;
    mailbox_append_batch(&item, 1);
    return delivery_finish(&j);
}
