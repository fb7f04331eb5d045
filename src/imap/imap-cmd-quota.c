/* imap-cmd-quota.c - GETQUOTA GETQUOTAROOT SETQUOTA (RFC 9208), and the
 * quotawarn ALERT sent at SELECT.
 *
 * Quota root names (opaque to clients, RFC 9208 3.2) follow Cyrus, so
 * cyradm and other admin tools work: "user/NAME" is NAME's whole store
 * and "user/NAME/MAILBOX" a sub-root covering MAILBOX and its children,
 * with the configured hierarchy separator ("user.NAME.MAILBOX" when
 * unixhierarchysep is no; then a '.' inside a user name is written '^',
 * as Cyrus does). MAILBOX is in the session's mailbox-name encoding.
 *
 * Storage keeps the roots (storage.h "quota"); STORAGE is reported in
 * KiB rounded up (RFC 9208 5.1). Only the resources that have a limit
 * appear in a QUOTA response ("resources not named in the list are not
 * limited", 4.2.1).
 */
#include "imap.h"
#include "auth.h"
#include "config.h"
#include "log.h"

/* A quota root resolved to a store and an internal root name. */
struct qroot {
    char user[AUTH_MAX_USERNAME + 16];             /* a user id or a shared store name */
    char name[STORAGE_MAX_MAILBOX_NAME + 1];   /* "" = whole store */
    struct mail_user *mu;                      /* s->mu or an opened other store */
    bool other;                                /* mu must be closed */
};

/* The store name to spell identifiers against: the session's own, or
 * its domain's shared store for sessions without one. */
static char idstore[AUTH_MAX_USERNAME + 16];
static const char *mail_user_name_or(struct imap_session *s)
{
    if (s->mu)
        return mail_user_name(s->mu);
    access_shared_store(s->who.domain, idstore, sizeof(idstore));
    return idstore;
}

static void qroot_release(struct qroot *q)
{
    if (q->other && q->mu)
        mail_user_close(q->mu);
    q->mu = NULL;
}

/* The root's client-visible name, appended unquoted. user is a store
 * name: a user ("user/NAME", NAME without the session's own domain under
 * virtdomains) or a shared store (the shared namespace prefix). */
static void root_name(struct imap_session *s, struct buf *b, const char *user, const char *internal)
{
    char sep = imap_hier_sep();
    if (user[0] == '%') {
        struct buf n = BUF_INIT;
        buf_puts(&n, access_shared_prefix(&s->who));
        /* another domain's shared store (global admins): "<prefix>@DOMAIN",
         * as access_client_name spells its mailboxes */
        const char *at = strchr(user, '@');
        if (at && strcmp(at + 1, s->who.domain) != 0)
            buf_puts(&n, at);
        if (*internal) {
            buf_putc(&n, '/');
            buf_puts(&n, internal);
        }
        imap_mailbox_to_client(s, buf_cstr(&n), b);
        buf_free(&n);
        return;
    }
    /* "@DOMAIN" is left out only for the session's own domain: a global
     * admin (default domain) must see "user/carol@example.com", the name
     * that GETQUOTA/SETQUOTA resolve back to the same store (stripping
     * relative to the store's own domain would name a default-domain
     * "carol" instead). The same rule as access_client_name. */
    size_t ul = strlen(user);
    const char *dom = access_user_domain(user);
    if (*dom && strcmp(dom, s->who.domain) == 0)
        ul = (size_t)(dom - 1 - user);
    buf_printf(b, "user%c", sep);
    for (size_t i = 0; i < ul; i++)
        buf_putc(b, sep == '.' && user[i] == '.' ? '^' : user[i]);
    if (*internal) {
        buf_putc(b, sep);
        imap_mailbox_to_client(s, internal, b);
    }
}

static void append_root(struct imap_session *s, struct buf *out, const char *user, const char *internal)
{
    struct buf n = BUF_INIT;
    root_name(s, &n, user, internal);
    imap_append_string(out, buf_cstr(&n), n.len);
    buf_free(&n);
}

static int64_t kib_up(int64_t bytes) { return bytes / 1024 + (bytes % 1024 != 0); }

/* "* QUOTA root (STORAGE u l MESSAGE u l MAILBOX u l)" */
static void write_quota(struct imap_session *s, const char *user, const struct quota_root *q)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "* QUOTA ");
    append_root(s, &b, user, q->name);
    buf_puts(&b, " (");
    size_t start = b.len;
    const struct {
        const char *res;
        int64_t used, limit;
    } r[] = {{"STORAGE", kib_up(q->storage_used), q->storage_limit_kb},
             {"MESSAGE", q->message_used, q->message_limit},
             {"MAILBOX", q->mailbox_used, q->mailbox_limit}};
    for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
        if (r[i].limit < 0)
            continue;
        if (b.len > start)
            buf_putc(&b, ' ');
        buf_printf(&b, "%s %lld %lld", r[i].res, (long long)MAX(r[i].used, 0), (long long)r[i].limit);
    }
    buf_puts(&b, ")\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

/* May the session see (and, when admin_only, set) the quotas of store?
 * Its own; a global admin everything; a domain admin the stores of its
 * domain. */
static bool may_see_store(struct imap_session *s, const char *store)
{
    if (s->mu && strcmp(store, mail_user_name(s->mu)) == 0)
        return true;
    return access_is_admin_of_store(&s->who, store);
}

static bool open_root_store(struct imap_session *s, struct imap_cmd *cmd, struct qroot *q, bool create)
{
    if (s->mu && strcmp(q->user, mail_user_name(s->mu)) == 0) {
        q->mu = s->mu;
        return true;
    }
    int r = mail_user_open(q->user, create && q->user[0] != '%', &q->mu);
    if (r < 0) {
        q->mu = NULL;
        if (r == STORAGE_ERR_NOTFOUND)
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root");
        else
            imap_reply_storage_error(s, cmd, r);
        return false;
    }
    q->other = true;
    return true;
}

/* Resolve a client's quota root name. On failure a tagged reply has been
 * sent and false returned. "user/NAME[/MAILBOX]" names a user's store
 * (NAME as in the other users namespace: a user of the session's domain,
 * "name@domain" for global admins); "<shared prefix>[/MAILBOX]" the
 * domain's shared store. A root of another store needs an admin of its
 * domain; that store is opened (created when create is set and the user
 * exists). Roots the session may not see answer like missing ones. */
static bool resolve_root(struct imap_session *s, struct imap_cmd *cmd, const char *arg, bool create,
                         struct qroot *q)
{
    memset(q, 0, sizeof(*q));
    char sep = imap_hier_sep();
    size_t len = strlen(arg);
    const char *why = NULL;
    if (len >= 6 && strncmp(arg, "user", 4) == 0 && arg[4] == sep) {
        const char *u = arg + 5;
        const char *e = strchr(u, sep);
        size_t ul = e ? (size_t)(e - u) : strlen(u);
        char raw[AUTH_MAX_USERNAME + 1];
        if (ul == 0 || ul > AUTH_MAX_USERNAME) {
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root");
            return false;
        }
        for (size_t i = 0; i < ul; i++)
            raw[i] = sep == '.' && u[i] == '^' ? '.' : u[i];
        raw[ul] = '\0';
        /* the identifier spelling rules: a bare name is of the session's
         * domain; another domain only for global admins */
        char qual[AUTH_MAX_USERNAME + 1];
        if (!access_id_from_client(&s->who, mail_user_name_or(s), raw, qual, sizeof(qual)) ||
            !userdb_normalize_name(qual, q->user) || strcmp(qual, q->user) != 0) {
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root");
            return false;
        }
        if (e) {
            if (!e[1] || !imap_store_mailbox_from_client(s, e + 1, strlen(e + 1), q->name, &why)) {
                imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root");
                return false;
            }
        }
        if (!(s->mu && strcmp(q->user, mail_user_name(s->mu)) == 0)) {
            if (!may_see_store(s, q->user)) {
                imap_tagged(s, cmd, "NO", "[NOPERM] Permission denied");
                return false;
            }
            int ex = userdb_exists(q->user);
            if (ex < 0) {
                imap_tagged(s, cmd, "NO", "[UNAVAILABLE] User database unavailable");
                return false;
            }
            if (ex == 0) {
                imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root");
                return false;
            }
        }
        return open_root_store(s, cmd, q, create);
    }
    /* the shared namespace: "<prefix>" is the whole shared store */
    char internal[IMAP_MAX_CLIENT_NAME + 1];
    const char *shp = access_shared_prefix(&s->who);
    size_t pl = strlen(shp);
    if (!imap_mailbox_from_client(s, arg, len, internal, &why) || pl == 0 || strncmp(internal, shp, pl) != 0 ||
        (internal[pl] != '\0' && internal[pl] != '/' && internal[pl] != '@')) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root");
        return false;
    }
    if (internal[pl] == '@') {
        /* "<prefix>@DOMAIN[/MAILBOX]": resolve through the namespace code
         * (global admins only; it validates the domain) */
        struct mbox_ref r;
        char probe[IMAP_MAX_CLIENT_NAME + 16];
        const char *sl = strchr(internal + pl, '/');
        snprintf(probe, sizeof(probe), "%.*s/x", (int)(sl ? (size_t)(sl - internal) : strlen(internal)), internal);
        if (access_resolve(&s->who, sl ? internal : probe, &r) != 0 || r.ns != NS_SHARED) {
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root");
            return false;
        }
        snprintf(q->user, sizeof(q->user), "%s", r.store);
        if (sl)
            snprintf(q->name, sizeof(q->name), "%s", r.name);
    } else {
        access_shared_store(s->who.domain, q->user, sizeof(q->user));
        if (internal[pl] == '/')
            snprintf(q->name, sizeof(q->name), "%s", internal + pl + 1);
    }
    if (!may_see_store(s, q->user)) {
        imap_tagged(s, cmd, "NO", "[NOPERM] Permission denied");
        return false;
    }
    return open_root_store(s, cmd, q, create);
}

static bool p_root_arg(struct imap_session *s, struct imap_cmd *cmd, char **out)
{
    struct imap_parser *ps = &cmd->ps;
    if (!imap_p_sp(ps) || !(*out = imap_p_astring_cstr(ps, cmd))) {
        imap_tagged(s, cmd, "BAD", "Invalid quota root argument: %s", ps->error ? ps->error : "syntax");
        return false;
    }
    return true;
}

/* ---- GETQUOTA ------------------------------------------------------------ */

IMAP_CMD(cmd_getquota)
{
    char *arg;
    if (!p_root_arg(s, cmd, &arg))
        return CMD_DONE;
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected extra arguments");
        return CMD_DONE;
    }
    struct qroot q;
    if (!resolve_root(s, cmd, arg, false, &q))
        return CMD_DONE;
    struct quota_root qr;
    int r = quota_get(q.mu, q.name, &qr);
    if (r == STORAGE_ERR_NOTFOUND) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root");
    } else if (r < 0) {
        imap_reply_storage_error(s, cmd, r);
    } else {
        write_quota(s, q.user, &qr);
        imap_tagged(s, cmd, "OK", "GETQUOTA completed");
    }
    qroot_release(&q);
    return CMD_DONE;
}

/* ---- GETQUOTAROOT ------------------------------------------------------- */

struct roots {
    struct quota_root *v;
    size_t n, cap;
};

static int collect_root(const struct quota_root *q, void *arg)
{
    struct roots *c = arg;
    ARRAY_GROW(c->v, c->n, c->cap);
    c->v[c->n++] = *q;
    return 0;
}

IMAP_CMD(cmd_getquotaroot)
{
    struct imap_parser *ps = &cmd->ps;
    struct imap_str nm;
    if (!imap_p_sp(ps) || !imap_p_astring(ps, cmd, &nm)) {
        imap_tagged(s, cmd, "BAD", "Invalid mailbox argument: %s", ps->error ? ps->error : "syntax");
        return CMD_DONE;
    }
    if (!imap_p_end(ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected extra arguments");
        return CMD_DONE;
    }
    /* RFC 9208 4.1.2: the mailbox need not exist (which roots would
     * apply once it is created) - in a store the session owns or
     * administers. In any other store the root's usage is the owner's
     * business: the session needs "r" on the (existing) mailbox (RFC 9208
     * 6: STORAGE and MESSAGE usage "requires 'r' right on the mailbox in
     * question"); "l" or "p" alone only tell it that the mailbox exists. Without "l" it
     * answers like a missing mailbox (RFC 4314 4). */
    struct mbox_ref ref;
    struct mail_user *store = NULL;
    acl_rights_t rights = 0;
    if (!imap_resolve(s, cmd, &nm, 0, false, &ref, &store, &rights))
        return CMD_DONE;
    if (!imap_is_own_store(s, store) && !may_see_store(s, ref.store) && !(rights & ACL_READ)) {
        mail_user_close(store);
        imap_reply_access_error(s, cmd, (rights & ACL_LOOKUP) ? ACCESS_ERR_NOPERM : ACCESS_ERR_NONEXISTENT);
        return CMD_DONE;
    }
    struct roots c = {0};
    int r = quota_roots_of(store, ref.name, collect_root, &c);
    if (r < 0) {
        free(c.v);
        mail_user_close(store);
        imap_reply_storage_error(s, cmd, r);
        return CMD_DONE;
    }
    struct buf b = BUF_INIT;
    buf_puts(&b, "* QUOTAROOT ");
    imap_append_store_mailbox(s, &b, ref.store, ref.name);
    for (size_t i = 0; i < c.n; i++) {
        buf_putc(&b, ' ');
        append_root(s, &b, ref.store, c.v[i].name);
    }
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
    for (size_t i = 0; i < c.n; i++)
        write_quota(s, ref.store, &c.v[i]);
    free(c.v);
    mail_user_close(store);
    imap_tagged(s, cmd, "OK", "GETQUOTAROOT completed");
    return CMD_DONE;
}

/* ---- SETQUOTA -------------------------------------------------------------- */

/* The change (and a new root's usage, computed over its mailboxes) runs
 * as a job on the pool (imap_cmd_job, jobs.h) on the root's store, opened
 * on the loop by resolve_root and held until the finish step; key: that
 * store. */
struct setquota_job {
    struct qroot q;
    int64_t limit[3];
    bool any;                   /* some resource named: set, else remove */
    int r;                      /* results */
    bool have;
    struct quota_root qr;
};

static void setquota_run(struct job *job, void *arg)
{
    (void)job;
    struct setquota_job *j = arg;
    if ((j->r = storage_job_begin(j->q.mu, NULL)) < 0)
        return;
    /* "()" removes every limit: the root goes, except the user's root,
     * which always exists and is left without limits. */
    j->r = j->any ? quota_set(j->q.mu, j->q.name, j->limit[0], j->limit[1], j->limit[2])
                  : quota_remove(j->q.mu, j->q.name);
    j->have = j->r == 0 && (j->any || !*j->q.name) && quota_get(j->q.mu, j->q.name, &j->qr) == 0;
    storage_job_end(j->q.mu, NULL);
}

static enum cmd_result setquota_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct setquota_job *j = arg;
    int r = j->r;
    if (s) {
        if (j->have)
            write_quota(s, j->q.user, &j->qr);
        if (r == STORAGE_ERR_NOTFOUND)
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root or mailbox");
        else if (r < 0)
            imap_reply_storage_error(s, cmd, r);
        else
            imap_tagged(s, cmd, "OK", "SETQUOTA completed");
        if (r == 0)
            log_info("imap: %s set quota of %s/%s", s->user, j->q.user, j->q.name);
    }
    qroot_release(&j->q);
    free(j);
    return CMD_DONE;
}

IMAP_CMD(cmd_setquota)
{
    struct imap_parser *ps = &cmd->ps;
    char *arg;
    if (!p_root_arg(s, cmd, &arg))
        return CMD_DONE;
    /* setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")" */
    int64_t limit[3] = {QUOTA_UNLIMITED, QUOTA_UNLIMITED, QUOTA_UNLIMITED};
    bool seen[3] = {false, false, false};
    const char *unsupported = NULL;
    if (!imap_p_sp(ps) || !imap_p_char(ps, '(')) {
        imap_tagged(s, cmd, "BAD", "Invalid SETQUOTA resource list");
        return CMD_DONE;
    }
    bool first = true;
    while (!imap_p_char(ps, ')')) {
        char *res;
        uint64_t v;
        if ((!first && !imap_p_sp(ps)) || !(res = imap_p_atom(ps, cmd)) || !imap_p_sp(ps) ||
            !imap_p_number64(ps, &v)) {
            imap_tagged(s, cmd, "BAD", "Invalid SETQUOTA resource list");
            return CMD_DONE;
        }
        first = false;
        int k = strcasecmp(res, "STORAGE") == 0 ? 0 : strcasecmp(res, "MESSAGE") == 0 ? 1
                : strcasecmp(res, "MAILBOX") == 0 ? 2 : -1;
        if (k < 0) {
            /* resource-name-ext is valid syntax: we just cannot set it
             * (RFC 9208 4.1.3 "NO - can't set that data"). */
            if (!unsupported)
                unsupported = res;
            continue;
        }
        if (seen[k]) {
            imap_tagged(s, cmd, "BAD", "Resource %s given twice", res);
            return CMD_DONE;
        }
        seen[k] = true;
        if (v > (uint64_t)QUOTA_MAX_LIMIT) {
            imap_tagged(s, cmd, "NO", "[LIMIT] Quota limit for %s is too large", res);
            return CMD_DONE;
        }
        limit[k] = (int64_t)v;
    }
    if (!imap_p_end(ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected extra arguments");
        return CMD_DONE;
    }
    if (!s->is_admin) {
        imap_tagged(s, cmd, "NO", "[NOPERM] Only administrators may set quotas");
        return CMD_DONE;
    }
    if (unsupported) {
        imap_tagged(s, cmd, "NO", "[CANNOT] Unsupported quota resource %s", unsupported);
        return CMD_DONE;
    }
    struct setquota_job *j = xcalloc(1, sizeof(*j));
    if (!resolve_root(s, cmd, arg, true, &j->q)) {
        free(j);
        return CMD_DONE;
    }
    memcpy(j->limit, limit, sizeof(j->limit));
    j->any = seen[0] || seen[1] || seen[2];
    return imap_cmd_job(s, cmd, "quota", j->q.mu, setquota_run, setquota_finish, j);
}

/* ---- quotawarn --------------------------------------------------------------- */

void imap_quota_warn(struct imap_session *s, const char *internal_name)
{
    long long warn = config_int(CFG_QUOTAWARN);
    if (warn <= 0)
        return;
    /* The selected mailbox's store: the warning is for the owner (own
     * store) and for those who administer the store, not for every
     * reader of a shared folder. */
    struct mail_user *mu = s->mu;
    const char *name = internal_name;
    if (s->view && s->view->store) {
        mu = s->view->store;
        name = mailbox_get_info(s->view->mb)->name;
        if (!imap_is_own_store(s, mu) && !access_is_admin_of_store(&s->who, mail_user_name(mu)))
            return;
    }
    if (!mu)
        return;
    int pct = 0;
    if (quota_usage_percent(mu, name, &pct) == 0 && pct >= warn)
        imap_untagged(s, "OK [ALERT] Mailbox is at %d%% of quota", pct);
}
