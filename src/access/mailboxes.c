/* mailboxes.c - the checked mailbox operations: open/create/delete/rename
 * with rights, SETACL/DELETEACL/GETACL/LISTRIGHTS/MYRIGHTS, account
 * administration ("user/bob" by admins) and the rights side of LIST.
 *
 * Every operation resolves the client name (namespace.c), opens the
 * store, reads the mailbox's ACL and evaluates it for the identity
 * (acl.c) before touching anything. Visibility (RFC 4314 4): a mailbox on
 * which the identity has neither "l" nor the needed right answers exactly
 * like a missing one.
 *
 * Admins of a domain may, as in Cyrus, create and delete any mailbox of
 * that domain (including users' top-level mailboxes and whole accounts)
 * without holding k/x themselves: that is what cyradm expects.
 */
#include "access-private.h"
#include "config.h"
#include "log.h"

#include <stdlib.h>
#include <strings.h>
#include <unistd.h>


static bool is_shared_store(const char *store)
{
    return store[0] == '%';
}

/* Rights check with the visibility rule. */
static int judge(acl_rights_t have, acl_rights_t need)
{
    if ((have & need) == need)
        return 0;
    return (have & ACL_LOOKUP) ? ACCESS_ERR_NOPERM : ACCESS_ERR_NONEXISTENT;
}

static int map_storage(int rc)
{
    return rc == STORAGE_ERR_NOTFOUND ? ACCESS_ERR_NONEXISTENT : rc;
}

static int map_auth(int rc)
{
    switch (rc) {
    case AUTH_OK: return 0;
    case AUTH_ERR_NOUSER: return ACCESS_ERR_NONEXISTENT;
    case AUTH_ERR_EXISTS: return STORAGE_ERR_EXISTS;
    case AUTH_ERR_INVALID: return ACCESS_ERR_INVALID;
    default: return STORAGE_ERR_IO;
    }
}

/* defaultacl ("anyone lrs" - Cyrus's space-separated pairs) as stored
 * ACL text. Invalid pairs are skipped with a warning. */
static char *default_shared_acl(const char *store)
{
    char *acl = xstrdup("");
    char *spec = xstrdup(config_str(CFG_DEFAULTACL));
    char *save = NULL;
    for (char *id = strtok_r(spec, " \t", &save); id; id = strtok_r(NULL, " \t", &save)) {
        char *rights = strtok_r(NULL, " \t", &save);
        if (!rights) {
            log_warn("access: defaultacl: identifier %s without rights ignored", id);
            break;
        }
        char canon[ACL_MAX_IDENTIFIER + 2];
        bool neg = id[0] == '-';
        canon[0] = '-';
        char *next = NULL;
        if (!access_id_from_client(NULL, store, id + neg, canon + 1, sizeof(canon) - 1) ||
            acl_modify(acl, canon + !neg, rights, &next) != 0) {
            log_warn("access: defaultacl: bad entry \"%s %s\" ignored", id, rights);
            continue;
        }
        free(acl);
        acl = next;
    }
    free(spec);
    return acl;
}

int access_open_store(const struct mbox_ref *ref, struct mail_user **out)
{
    *out = NULL;
    return map_storage(mail_user_open(ref->store, false, out));
}

/* Effective rights on (u, name); NONEXISTENT when missing. acl_out may
 * be NULL, else holds STORAGE_MAX_ACL+1 bytes. */
static int rights_in(const struct access_who *w, struct mail_user *u, const char *store, const char *name,
                     acl_rights_t *out, char *acl_out)
{
    char local[STORAGE_MAX_ACL + 1];
    char *acl = acl_out ? acl_out : local;
    *out = 0;
    if (is_shared_store(store) && strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
        return ACCESS_ERR_NONEXISTENT;
    int rc = mailbox_get_acl(u, name, acl);
    if (rc != 0)
        return map_storage(rc);
    *out = acl_evaluate(acl, w, store);
    return 0;
}

int access_rights(const struct access_who *w, const struct mbox_ref *ref, acl_rights_t *out)
{
    *out = 0;
    struct mail_user *u;
    int rc = access_open_store(ref, &u);
    if (rc != 0)
        return rc;
    rc = rights_in(w, u, ref->store, ref->name, out, NULL);
    mail_user_close(u);
    return rc;
}

int access_check(const struct access_who *w, const struct mbox_ref *ref, acl_rights_t need)
{
    acl_rights_t r;
    int rc = access_rights(w, ref, &r);
    return rc != 0 ? rc : judge(r, need);
}

static bool admin_of_store(const struct access_who *w, const char *store)
{
    return access_is_admin_of_store(w, store);
}

static bool owns(const struct access_who *w, const struct mbox_ref *ref)
{
    return !w->anonymous && !is_shared_store(ref->store) && strcmp(ref->store, w->user) == 0;
}

/* May w create `name` in ref's store (u open)? On success *acl_out is
 * the new mailbox's ACL (caller frees): the nearest existing ancestor's,
 * or for a top-level mailbox the owner entry / defaultacl. */
static int may_create(const struct access_who *w, const struct mbox_ref *ref, struct mail_user *u,
                      const char *name, char **acl_out)
{
    *acl_out = NULL;
    bool admin = admin_of_store(w, ref->store);
    char parent[STORAGE_MAX_MAILBOX_NAME + 1];
    snprintf(parent, sizeof(parent), "%s", name);
    char *slash;
    char acl[STORAGE_MAX_ACL + 1];
    while ((slash = strrchr(parent, '/')) != NULL) {
        *slash = '\0';
        acl_rights_t r;
        int rc = rights_in(w, u, ref->store, parent, &r, acl);
        if (rc == ACCESS_ERR_NONEXISTENT)
            continue;
        if (rc != 0)
            return rc;
        if (!admin && (rc = judge(r, ACL_CREATE)) != 0)
            return rc;
        *acl_out = xstrdup(acl);
        return 0;
    }
    if (is_shared_store(ref->store)) {
        if (!admin)
            return ACCESS_ERR_NOPERM;
        *acl_out = default_shared_acl(ref->store);
        return 0;
    }
    if (!owns(w, ref) && !admin) {
        /* Someone else's top level ("Other Users/bob/Foo"): seen from the
         * client its parent is the account, bob's INBOX, as in Cyrus
         * (user.bob.Foo below user.bob). So k on INBOX allows it and the
         * new mailbox copies INBOX's ACL; otherwise the answer depends
         * only on what w may see of INBOX, never on what else exists. */
        acl_rights_t r;
        int rc = rights_in(w, u, ref->store, "INBOX", &r, acl);
        if (rc != 0)
            return rc;
        if ((rc = judge(r, ACL_CREATE)) != 0)
            return rc;
        *acl_out = xstrdup(acl);
        return 0;
    }
    *acl_out = xstrdup("");   /* the owner's rights need no entry (acl_evaluate) */
    return 0;
}

static bool is_account_level(const struct mbox_ref *ref)
{
    return ref->ns == NS_OTHER && strcmp(ref->name, "INBOX") == 0;
}

static int create_account(const struct access_who *w, const struct mbox_ref *ref, const char *partition)
{
    if (!admin_of_store(w, ref->store)) {
        acl_rights_t r;
        int rc = access_rights(w, ref, &r);
        if (rc != 0)
            return rc;
        return (r & ACL_LOOKUP) ? STORAGE_ERR_EXISTS : ACCESS_ERR_NONEXISTENT;
    }
    int st = access_account_settle(ref->store);
    if (st < 0)
        return st;
    int ex = userdb_exists(ref->store);
    if (ex < 0)
        return STORAGE_ERR_IO;
    if (ex == 0) {
        /* A store without a user (left by an old delete or rename) is
         * someone's old mail: never adopted by a new account. */
        char part[128];
        if (mail_user_partition(ref->store, part, sizeof(part)) == 0) {
            log_warn("access: %s: CREATE of account %s refused: an orphan store of that name exists", w->user,
                     ref->store);
            return STORAGE_ERR_EXISTS;
        }
        int rc = userdb_add_locked(ref->store);
        if (rc != AUTH_OK && rc != AUTH_ERR_EXISTS)
            return map_auth(rc);
        log_info("access: %s created account %s", w->user, ref->store);
    } else {
        struct mail_user *u;
        if (mail_user_open(ref->store, false, &u) == 0) {
            mail_user_close(u);
            return STORAGE_ERR_EXISTS;
        }
    }
    return access_provision_user(ref->store, partition);
}

int access_create(const struct access_who *w, const char *name, uint32_t special_use)
{
    return access_create_ex(w, name, special_use, NULL);
}

/* A partition only chooses where a new account's store goes: every
 * mailbox of a store lives on the store's partition. Naming the one the
 * store is already on is harmless; another one cannot be honoured. */
static int check_partition(const struct access_who *w, const struct mbox_ref *ref, const char *partition)
{
    if (!admin_of_store(w, ref->store))
        return ACCESS_ERR_NOPERM;   /* as Cyrus: only admins choose partitions */
    char cur[80];
    if (mail_user_partition(ref->store, cur, sizeof(cur)) == 0 && strcmp(cur, partition) == 0)
        return 0;
    return ACCESS_ERR_CANNOT;
}

int access_create_ex(const struct access_who *w, const char *name, uint32_t special_use, const char *partition)
{
    struct mbox_ref ref;
    bool any_admin = !w->anonymous && (w->admin || w->domain_admin);
    int rc = access_resolve_ex(w, name, any_admin, &ref);
    if (rc != 0)
        return rc;
    if (partition && !*partition)
        partition = NULL;
    if (is_account_level(&ref)) {
        if (partition && strcmp(partition, "default") != 0 && !config_partition(partition))
            return admin_of_store(w, ref.store) ? ACCESS_ERR_INVALID : ACCESS_ERR_NOPERM;
        return create_account(w, &ref, partition);
    }
    if (partition && (rc = check_partition(w, &ref, partition)) != 0)
        return rc;
    /* The name rules hold for every caller (the CLI too), not only for
     * names that came through IMAP's parser. */
    if (!access_valid_mailbox_name(ref.name))
        return ACCESS_ERR_INVALID;
    struct mail_user *u;
    bool create_store = ref.ns == NS_SHARED && admin_of_store(w, ref.store);
    rc = map_storage(mail_user_open(ref.store, create_store, &u));
    if (rc == ACCESS_ERR_NONEXISTENT && ref.ns == NS_SHARED)
        return ACCESS_ERR_NOPERM;   /* only admins create shared top levels */
    if (rc != 0)
        return rc;
    if (create_store && mail_user_is_new(u))
        mail_user_clear_new(u);
    char *acl = NULL;
    rc = may_create(w, &ref, u, ref.name, &acl);
    if (rc == 0) {
        /* Hint first: a crash after the create leaves an extra hint, never
         * a shared mailbox LIST cannot find. */
        share_hint_add(ref.store, ref.name, ref.owner, acl);
        rc = mailbox_create_acl(u, ref.name, special_use, acl);
    }
    free(acl);
    mail_user_close(u);
    return rc;
}

int access_create_posted(const struct access_who *w, struct mail_user *u, const char *store, const char *owner,
                         const char *name, bool create)
{
    if (is_shared_store(store) || !owner[0] || !access_valid_mailbox_name(name) || strcmp(name, "INBOX") == 0)
        return ACCESS_ERR_INVALID;
    char parent[STORAGE_MAX_MAILBOX_NAME + 1];
    snprintf(parent, sizeof(parent), "%s", name);
    char *acl = xmalloc(STORAGE_MAX_ACL + 1);
    bool found = false;
    char *slash;
    while (!found && (slash = strrchr(parent, '/')) != NULL) {
        *slash = '\0';
        int rc = mailbox_get_acl(u, parent, acl);
        if (rc == STORAGE_ERR_NOTFOUND)
            continue;
        if (rc != 0) {
            free(acl);
            return rc;
        }
        found = true;
    }
    if (found) {
        /* k by the ACL alone, like p for the delivery itself: being an
         * admin (every authenticated LMTP client is one) gives neither. */
        if (!(acl_evaluate(acl, w, store) & ACL_CREATE)) {
            free(acl);
            return ACCESS_ERR_NOPERM;
        }
    } else {
        /* Stored ACL text "id\trights\t" (access.h): the owner, every right. */
        snprintf(acl, STORAGE_MAX_ACL + 1, "%s\tlrswipkxtean\t", owner);
    }
    int rc = 0;
    if (create) {
        /* As CREATE: hint first, so LIST never misses a shared child. */
        share_hint_add(store, name, owner, acl);
        rc = mailbox_create_acl(u, name, 0, acl);
    }
    free(acl);
    return rc;
}

static int delete_account(const struct access_who *w, const struct mbox_ref *ref);

int access_delete(const struct access_who *w, const char *name)
{
    struct mbox_ref ref;
    int rc = access_resolve(w, name, &ref);
    if (rc != 0)
        return rc;
    bool admin = admin_of_store(w, ref.store);
    if (is_account_level(&ref) && admin)
        return delete_account(w, &ref);
    struct mail_user *u;
    if ((rc = access_open_store(&ref, &u)) != 0)
        return rc;
    acl_rights_t r;
    rc = rights_in(w, u, ref.store, ref.name, &r, NULL);
    if (rc == 0 && !admin)
        rc = judge(r, ACL_DELETEMBOX);
    if (rc == 0)
        rc = mailbox_delete(u, ref.name);
    if (rc == 0)
        share_hint_prune(ref.store, ref.name, ref.owner, NULL);
    mail_user_close(u);
    return rc;
}

/* Replace identifier `from` by `to` (positive and negative entries); when
 * the ACL already has an entry for `to` of the same sign, the rights are
 * merged into it instead of leaving two entries. to NULL removes the
 * entries (account deleted). NULL when unchanged. */
static char *acl_rename_id(const char *acl, const char *from, const char *to)
{
    struct acl_entry *e;
    size_t n;
    if (!acl_parse(acl, &e, &n))
        return NULL;
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].id, from) != 0)
            continue;
        changed = true;
        size_t j = n;
        if (!to) {
            j = i;   /* removes entry i below */
        } else {
            for (j = 0; j < n; j++)
                if (j != i && e[j].negative == e[i].negative && strcmp(e[j].id, to) == 0)
                    break;
        }
        if (j == i) {
            memmove(&e[i], &e[i + 1], (n - i - 1) * sizeof(*e));
            n--;
            i--;
            continue;
        }
        if (j < n) {
            e[j].rights |= e[i].rights;
            memmove(&e[i], &e[i + 1], (n - i - 1) * sizeof(*e));
            n--;
            i--;
        } else {
            snprintf(e[i].id, sizeof(e[i].id), "%s", to);
        }
    }
    char *t = changed ? acl_format(e, n) : NULL;
    free(e);
    return t;
}

struct name_list {
    char **v;
    size_t n, cap;
};

static void collect_name(const struct mailbox_info *info, void *arg)
{
    struct name_list *l = arg;
    ARRAY_GROW(l->v, l->n, l->cap);
    l->v[l->n++] = xstrdup(info->name);
}

static void name_list_free(struct name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

struct rename_ctx {
    const char *store, *mailbox, *owner;
    const char *from, *to;
};

static int rename_id_cb(const char *old, char **newacl, void *arg)
{
    struct rename_ctx *c = arg;
    char *na = acl_rename_id(old, c->from, c->to);
    *newacl = na ? na : xstrdup(old);
    if (na)
        share_hint_add(c->store, c->mailbox, c->owner, na);   /* before the commit */
    return 0;
}

static void collect_store(const char *store, void *arg)
{
    struct name_list *l = arg;
    ARRAY_GROW(l->v, l->n, l->cap);
    l->v[l->n++] = xstrdup(store);
}

struct naming_ctx {
    struct name_list names;
    const char *id;
};

/* Mailboxes whose ACL text mentions id (a cheap filter: the update
 * callback parses and changes only real entries). */
static void collect_acl_naming(const struct mailbox_info *info, void *arg)
{
    struct naming_ctx *c = arg;
    if (strstr(info->acl, c->id))
        collect_name(info, &c->names);
}

static void collect_shared_store(const char *store, void *arg)
{
    if (store[0] == '%')
        collect_store(store, arg);
}

/* After an account rename: entries naming the old id in other users' and
 * shared mailboxes follow the account, negative ones included (a "-bob"
 * next to "anyone lr" must keep excluding the renamed bob). The stores to
 * look at are those with any share hint (a user-store ACL naming someone
 * else always grants someone something, or its negative entries have
 * nothing to subtract from) plus the shared stores. Each change is atomic
 * (mailbox_update_acl); hints follow. */
static void rename_id_elsewhere(const char *from, const char *to)
{
    /* to NULL: the account was deleted - its entries go, so that a new
     * account of the same name inherits nothing. */
    struct name_list stores = {0};
    share_hint_stores(NULL, 0, collect_store, &stores);
    mail_user_list_stores(collect_shared_store, &stores);
    for (size_t i = 0; i < stores.n; i++) {
        const char *st = stores.v[i];
        if ((to && strcmp(st, to) == 0) || strcmp(st, from) == 0)
            continue;   /* the renamed store itself: done above */
        struct mail_user *u;
        if (mail_user_open(st, false, &u) != 0)
            continue;
        /* The reader's own \Seen rows first: once the ACL no longer names
         * it, a resumed operation might not come back to this store. */
        if (mail_user_rename_reader(u, from, to) != 0)
            log_warn("access: account %s: cannot move the \\Seen state of %s in %s", to ? "rename" : "delete", from, st);
        struct naming_ctx nc = {{0}, from};
        mailbox_list(u, collect_acl_naming, &nc);
        struct name_list names = nc.names;
        const char *owner = st[0] == '%' ? "" : st;
        for (size_t k = 0; k < names.n; k++) {
            struct rename_ctx c = {st, names.v[k], owner, from, to};
            if (mailbox_update_acl(u, names.v[k], rename_id_cb, &c) != 0) {
                log_warn("access: account rename: cannot rewrite the ACL of %s/%s", st, names.v[k]);
                continue;
            }
            char acl[STORAGE_MAX_ACL + 1];
            if (mailbox_get_acl(u, names.v[k], acl) == 0)
                share_hint_prune(st, names.v[k], owner, acl);
        }
        name_list_free(&names);
        mail_user_close(u);
    }
    name_list_free(&stores);
}

/* ---- account operations (rename, delete) -------------------------------
 *
 * An account is a store, a user database row and ACL entries naming it
 * in other stores: three databases, no common transaction. Each
 * operation is journaled (account_op in shares.db, committed before the
 * first step, deleted after the last) and every step is idempotent, so
 * an operation interrupted by a crash is finished by the next process
 * that touches one of its names (access_account_settle, from
 * provisioning = every login and delivery, and from every account
 * operation) or by access_recover_accounts. Until then logins and
 * deliveries for its names get STORAGE_ERR_BUSY. All account operations
 * hold one exclusive lock (account_ops_lock), which also tells a
 * recovering process whether the operation's own process is still
 * running. */

/* DARIUS_TEST_CRASH_AT=<point>: die at that point (system tests of the
 * crash windows; read only on these code paths). */
static void crash_point(const char *point)
{
    const char *e = getenv("DARIUS_TEST_CRASH_AT");
    if (e && strcmp(e, point) == 0)
        _exit(99);
}

static bool store_exists(const char *store)
{
    char part[128];
    return mail_user_partition(store, part, sizeof(part)) == 0;
}

/* The steps of a rename; idempotent. live: the first run (undo on a
 * definite user database refusal), else a recovery. */
static void (*g_account_hook)(const char *old, const char *new_);

void access_set_account_hook(void (*fn)(const char *old, const char *new_))
{
    g_account_hook = fn;
}

static int run_rename(const char *from, const char *to, bool live)
{
    int rc;
    bool have_from = store_exists(from), have_to = store_exists(to);
    bool moved = false;
    if (have_from && have_to) {
        log_err("access: account rename %s -> %s: both stores exist; left for the administrator", from, to);
        return STORAGE_ERR_EXISTS;
    }
    if (have_from) {
        if ((rc = mail_user_rename_store(from, to)) != 0)
            return rc;
        moved = true;
    }
    crash_point("rename-after-store");
    int eo = userdb_exists(from), en = userdb_exists(to);
    if (eo < 0 || en < 0)
        return STORAGE_ERR_IO;
    if (eo == 1 && en == 1) {
        log_err("access: account rename %s -> %s: both users exist; left for the administrator", from, to);
        return STORAGE_ERR_EXISTS;
    }
    if (eo == 1) {
        rc = userdb_rename(from, to);
        if (rc != AUTH_OK) {
            if (live && rc != AUTH_ERR_IO) {
                int back = moved ? mail_user_rename_store(to, from) : 0;
                if (back != 0) {
                    log_err("access: account rename %s -> %s: user database failed and the store could not be "
                            "moved back: %s", from, to, storage_strerror(back));
                    return STORAGE_ERR_IO;
                }
                return map_auth(rc) ? map_auth(rc) : STORAGE_ERR_IO;
            }
            return map_auth(rc) ? map_auth(rc) : STORAGE_ERR_IO;
        }
    }
    crash_point("rename-after-userdb");
    /* Owner entries of stores created before owners stopped being stored
     * follow the account (they must, or a new account of the old name
     * would hold all rights here). */
    struct mail_user *u;
    if (mail_user_open(to, false, &u) == 0) {
        struct name_list names = {0};
        mailbox_list(u, collect_name, &names);
        for (size_t i = 0; i < names.n; i++) {
            char acl[STORAGE_MAX_ACL + 1];
            if (mailbox_get_acl(u, names.v[i], acl) != 0)
                continue;
            char *na = acl_rename_id(acl, from, to);
            if (na && mailbox_set_acl(u, names.v[i], na) != 0)
                log_warn("access: account rename: cannot rewrite the ACL of %s/%s", to, names.v[i]);
            free(na);
        }
        name_list_free(&names);
        mail_user_close(u);
    }
    share_hint_rename_store(from, to);
    rename_id_elsewhere(from, to);
    if (g_account_hook)
        g_account_hook(from, to);
    return 0;
}

/* The steps of a delete; idempotent. */
static int run_delete(const char *name)
{
    int rc = mail_user_delete_store(name);
    if (rc != 0 && rc != STORAGE_ERR_NOTFOUND)
        return rc;
    crash_point("delete-after-store");
    rc = userdb_delete(name);
    if (rc != AUTH_OK && rc != AUTH_ERR_NOUSER)
        return map_auth(rc) ? map_auth(rc) : STORAGE_ERR_IO;
    share_hint_drop_store(name);
    rename_id_elsewhere(name, NULL);
    if (g_account_hook)
        g_account_hook(name, NULL);
    return 0;
}

static int run_op(const struct account_op *op, bool live)
{
    if (strcmp(op->kind, "rename") == 0)
        return run_rename(op->old, op->new_, live);
    if (strcmp(op->kind, "delete") == 0)
        return run_delete(op->old);
    log_err("access: unknown pending account operation \"%s\" dropped", op->kind);
    return 0;
}

/* Finish pending operations (lock held): only those naming `name`, or
 * all (NULL). Returns how many were finished, or an error. */
static int recover_locked(const char *name)
{
    int done = 0;
    struct account_op op;
    int f;
    while ((f = account_op_find(name, &op)) == 1) {
        log_info("access: finishing interrupted account %s of %s%s%s", op.kind, op.old, op.new_[0] ? " -> " : "",
                 op.new_);
        int rc = run_op(&op, false);
        if (rc != 0) {
            log_err("access: cannot finish the account %s of %s: %s", op.kind, op.old, access_strerror(rc));
            return rc;
        }
        if ((rc = account_op_end(op.id)) != 0)
            return rc;
        done++;
    }
    return f < 0 ? f : done;
}

int access_recover_accounts(void)
{
    struct account_op op;
    int f = account_op_find(NULL, &op);
    if (f <= 0)
        return f;
    int fd = account_ops_lock(true);
    if (fd < 0)
        return fd;
    int rc = recover_locked(NULL);
    account_ops_unlock(fd);
    return rc;
}

int access_account_settle(const char *name)
{
    struct account_op op;
    int f = account_op_find(name, &op);
    if (f <= 0)
        return f;
    /* Not waiting: when the lock is held, the operation is running in
     * another process right now. */
    int fd = account_ops_lock(false);
    if (fd < 0)
        return fd == STORAGE_ERR_BUSY ? STORAGE_ERR_BUSY : fd;
    int rc = recover_locked(name);
    account_ops_unlock(fd);
    return rc < 0 ? rc : rc > 0 ? 1 : 0;
}

/* Journal, run, clear. Called with the lock held. */
static int journaled(const char *kind, const char *old, const char *new_)
{
    struct account_op op = {0};
    snprintf(op.kind, sizeof(op.kind), "%s", kind);
    snprintf(op.old, sizeof(op.old), "%s", old);
    snprintf(op.new_, sizeof(op.new_), "%s", new_ ? new_ : "");
    int rc = account_op_begin(kind, old, new_, &op.id);
    if (rc != 0)
        return rc;
    rc = run_op(&op, true);
    /* A refused rename was undone: nothing is pending. Any other failure
     * leaves the record for recovery. */
    if (rc == 0 || (strcmp(kind, "rename") == 0 && rc != STORAGE_ERR_IO && rc != STORAGE_ERR_BUSY &&
                    !store_exists(new_) && userdb_exists(new_) == 0))
        account_op_end(op.id);
    return rc;
}

static int rename_account(const struct access_who *w, const struct mbox_ref *from, const struct mbox_ref *to)
{
    int fd = account_ops_lock(true);
    if (fd < 0)
        return fd;
    /* Interrupted operations on these names first (only these: one that
     * cannot be finished must not block every other account). */
    int rc = recover_locked(from->store);
    if (rc >= 0)
        rc = recover_locked(to->store);
    if (rc >= 0) {
        int ex = userdb_exists(to->store), fx = userdb_exists(from->store);
        if (ex < 0 || fx < 0)
            rc = STORAGE_ERR_IO;
        else if (ex > 0 || store_exists(to->store))
            rc = STORAGE_ERR_EXISTS;   /* also an orphan store: never merged into */
        else if (fx == 0 && !store_exists(from->store))
            rc = ACCESS_ERR_NONEXISTENT;
        else
            rc = journaled("rename", from->store, to->store);
    }
    account_ops_unlock(fd);
    if (rc == 0)
        log_info("access: %s renamed account %s to %s", w->user, from->store, to->store);
    return rc < 0 ? rc : 0;
}

static int delete_account(const struct access_who *w, const struct mbox_ref *ref)
{
    int fd = account_ops_lock(true);
    if (fd < 0)
        return fd;
    int rc = recover_locked(ref->store);
    if (rc >= 0) {
        int ex = userdb_exists(ref->store);
        if (ex < 0)
            rc = STORAGE_ERR_IO;
        else if (ex == 0 && !store_exists(ref->store))
            rc = ACCESS_ERR_NONEXISTENT;
        else
            rc = journaled("delete", ref->store, NULL);
    }
    account_ops_unlock(fd);
    if (rc == 0)
        log_info("access: %s deleted account %s", w->user, ref->store);
    return rc < 0 ? rc : 0;
}

/* RENAME moves the whole subtree: like DELETE of each mailbox, every
 * child needs x too (RFC 4314 4, as Cyrus checks each), unless the
 * caller owns the store or administers it. */
static int children_deletable(const struct access_who *w, struct mail_user *u, const struct mbox_ref *rf)
{
    struct name_list names = {0};
    int rc = mailbox_list(u, collect_name, &names);
    size_t plen = strlen(rf->name);
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        const char *n = names.v[i];
        if (strncmp(n, rf->name, plen) != 0 || n[plen] != '/')
            continue;
        acl_rights_t r;
        rc = rights_in(w, u, rf->store, n, &r, NULL);
        if (rc == ACCESS_ERR_NONEXISTENT)
            rc = 0;   /* deleted meanwhile */
        else if (rc == 0 && (r & ACL_DELETEMBOX) == 0)
            rc = ACCESS_ERR_NOPERM;   /* the source is visible: no need to hide anything */
    }
    name_list_free(&names);
    return rc;
}

/* RENAME into another store is never done, but the refusal must not tell
 * whether the target exists: a target the identity could not create
 * answers as may_create says (NONEXISTENT when nothing there is visible),
 * only a permissible one gets ACCESS_ERR_CANNOT. */
static int cross_store_answer(const struct access_who *w, const struct mbox_ref *rt)
{
    struct mail_user *ut;
    int rc = access_open_store(rt, &ut);
    if (rc != 0)
        return rt->ns == NS_SHARED && rc == ACCESS_ERR_NONEXISTENT ? ACCESS_ERR_NOPERM : rc;
    char *acl = NULL;
    rc = may_create(w, rt, ut, rt->name, &acl);
    free(acl);
    mail_user_close(ut);
    return rc != 0 ? rc : ACCESS_ERR_CANNOT;
}

int access_rename(const struct access_who *w, const char *from, const char *to)
{
    struct mbox_ref rf, rt;
    bool any_admin = !w->anonymous && (w->admin || w->domain_admin);
    int rc = access_resolve(w, from, &rf);
    if (rc != 0)
        return rc;
    if ((rc = access_resolve_ex(w, to, any_admin, &rt)) != 0)
        return rc;
    if (!is_account_level(&rt) && !access_valid_mailbox_name(rt.name))
        return ACCESS_ERR_INVALID;
    if (is_account_level(&rf) && is_account_level(&rt) && strcmp(rf.store, rt.store) != 0 &&
        admin_of_store(w, rf.store) && admin_of_store(w, rt.store))
        return rename_account(w, &rf, &rt);
    struct mail_user *u;
    if ((rc = access_open_store(&rf, &u)) != 0)
        return rc;
    acl_rights_t r;
    char srcacl[STORAGE_MAX_ACL + 1];
    rc = rights_in(w, u, rf.store, rf.name, &r, srcacl);
    if (rc == 0 && !admin_of_store(w, rf.store))
        rc = judge(r, ACL_DELETEMBOX);
    if (rc == 0 && !admin_of_store(w, rf.store) && !owns(w, &rf) && strcmp(rf.name, "INBOX") != 0)
        rc = children_deletable(w, u, &rf);
    if (rc == 0 && strcmp(rf.store, rt.store) != 0)
        rc = cross_store_answer(w, &rt);
    char *acl = NULL;
    if (rc == 0)
        rc = may_create(w, &rt, u, rt.name, &acl);
    free(acl);
    bool inbox = strcmp(rf.name, "INBOX") == 0;
    if (rc == 0) {
        if (inbox)
            share_hint_add(rt.store, rt.name, rt.owner, srcacl);
        else
            share_hint_copy_tree(rf.store, rf.name, rt.name);
        rc = mailbox_rename(u, rf.name, rt.name);
    }
    if (rc == 0) {
        if (inbox) {
            /* RFC 9051 6.3.6: INBOX stays; the new mailbox holding its
             * messages gets INBOX's ACL. */
            int src = mailbox_set_acl(u, rt.name, srcacl);
            if (src != 0)
                log_warn("access: rename INBOX: cannot set the ACL of %s: %s", rt.name, storage_strerror(src));
        } else {
            share_hint_drop_tree(rf.store, rf.name);
        }
    }
    mail_user_close(u);
    return rc;
}

/* Resolve, open and require `a`; on success u is open and acl filled. */
static int admin_op_begin(const struct access_who *w, const char *name, struct mbox_ref *ref,
                          struct mail_user **u, char *acl)
{
    *u = NULL;
    int rc = access_resolve(w, name, ref);
    if (rc != 0)
        return rc;
    if ((rc = access_open_store(ref, u)) != 0)
        return rc;
    acl_rights_t r;
    rc = rights_in(w, *u, ref->store, ref->name, &r, acl);
    if (rc == 0)
        rc = judge(r, ACL_ADMIN);
    if (rc != 0) {
        mail_user_close(*u);
        *u = NULL;
    }
    return rc;
}

/* Client identifier ("[-]name") to the stored spelling. */
static bool canon_id(const struct access_who *w, const char *store, const char *id, char *out, size_t outlen)
{
    bool neg = id[0] == '-';
    if (outlen < 2)
        return false;
    out[0] = '-';
    if (!access_id_from_client(w, store, id + neg, out + 1, outlen - 1))
        return false;
    if (!neg)
        memmove(out, out + 1, strlen(out + 1) + 1);
    return true;
}

/* SETACL/DELETEACL: the read-modify-write runs inside one storage
 * transaction (mailbox_update_acl), so two admins changing one ACL at
 * the same moment never lose an update. The share hint for the new text
 * is written before that transaction commits and pruned after. */
struct acl_change {
    const struct mbox_ref *ref;
    const char *cid;
    const char *mod;            /* NULL: DELETEACL */
    char *result;               /* copy of the text committed */
};

static int change_acl_cb(const char *old, char **newacl, void *arg)
{
    struct acl_change *c = arg;
    int rc = c->mod ? acl_modify(old, c->cid, c->mod, newacl) : acl_remove(old, c->cid, newacl);
    if (rc != 0)
        return rc;
    share_hint_add(c->ref->store, c->ref->name, c->ref->owner, *newacl);
    free(c->result);
    c->result = xstrdup(*newacl);
    return 0;
}

static int change_acl(const struct access_who *w, const char *name, const char *id, const char *mod)
{
    struct mbox_ref ref;
    struct mail_user *u;
    char acl[STORAGE_MAX_ACL + 1];
    int rc = admin_op_begin(w, name, &ref, &u, acl);
    if (rc != 0)
        return rc;
    char cid[ACL_MAX_IDENTIFIER + 2];
    if (!id || !canon_id(w, ref.store, id, cid, sizeof(cid))) {
        mail_user_close(u);
        return ACCESS_ERR_INVALID;
    }
    struct acl_change c = {&ref, cid, mod, NULL};
    rc = mailbox_update_acl(u, ref.name, change_acl_cb, &c);
    if (rc == 0 && c.result)
        share_hint_prune(ref.store, ref.name, ref.owner, c.result);
    free(c.result);
    mail_user_close(u);
    return map_storage(rc);
}

int access_setacl(const struct access_who *w, const char *name, const char *id, const char *mod)
{
    if (!mod)
        return ACCESS_ERR_INVALID;
    return change_acl(w, name, id, mod);
}

int access_deleteacl(const struct access_who *w, const char *name, const char *id)
{
    return change_acl(w, name, id, NULL);
}

int access_getacl(const struct access_who *w, const char *name,
                  void (*cb)(const char *id, const char *rights, void *arg), void *arg)
{
    struct mbox_ref ref;
    struct mail_user *u;
    char acl[STORAGE_MAX_ACL + 1];
    int rc = admin_op_begin(w, name, &ref, &u, acl);
    if (rc != 0)
        return rc;
    mail_user_close(u);
    struct acl_entry *e;
    size_t n;
    if (!acl_parse(acl, &e, &n))
        return STORAGE_ERR_IO;
    if (!is_shared_store(ref.store)) {
        /* The owner's rights are implicit (not stored); show them as
         * Cyrus does, unless an entry for the owner is stored (older
         * stores). */
        bool stored = false;
        for (size_t i = 0; i < n && !stored; i++)
            stored = !e[i].negative && strcmp(e[i].id, ref.store) == 0;
        if (!stored) {
            char shown[ACL_MAX_IDENTIFIER + 2], rs[16];
            access_id_to_client(w, ref.store, ref.store, shown, sizeof(shown));
            acl_format_rights(ACL_ALL, rs);
            cb(shown, rs, arg);
        }
    }
    for (size_t i = 0; i < n; i++) {
        char full[ACL_MAX_IDENTIFIER + 2], shown[ACL_MAX_IDENTIFIER + 2], rs[16];
        snprintf(full, sizeof(full), "%s%s", e[i].negative ? "-" : "", e[i].id);
        access_id_to_client(w, ref.store, full, shown, sizeof(shown));
        acl_format_rights(e[i].rights, rs);
        cb(shown, rs, arg);
    }
    free(e);
    return 0;
}

int access_listrights(const struct access_who *w, const char *name, const char *id, acl_rights_t *required,
                      acl_rights_t *optional)
{
    *required = *optional = 0;
    struct mbox_ref ref;
    struct mail_user *u;
    char acl[STORAGE_MAX_ACL + 1];
    int rc = admin_op_begin(w, name, &ref, &u, acl);
    if (rc != 0)
        return rc;
    mail_user_close(u);
    char cid[ACL_MAX_IDENTIFIER + 2];
    if (!id || id[0] == '-' || !canon_id(w, ref.store, id, cid, sizeof(cid)))
        return ACCESS_ERR_INVALID;
    acl_rights_t req = 0, max = ACL_ALL;
    if (strcmp(cid, "anonymous") == 0) {
        max = ACL_ANONYMOUS_MAX;
    } else if (strcmp(cid, "anyone") != 0 && strncmp(cid, "group:", 6) != 0) {
        if (!is_shared_store(ref.store) && strcmp(cid, ref.store) == 0) {
            req = ACL_ALL;
        } else {
            struct access_who other;
            access_who_init(&other, cid);
            if (admin_of_store(&other, ref.store))
                req = ACL_LOOKUP | ACL_ADMIN;
            access_who_free(&other);
        }
    }
    *required = req;
    *optional = max & ~req;
    return 0;
}

int access_myrights(const struct access_who *w, const char *name, acl_rights_t *out)
{
    *out = 0;
    struct mbox_ref ref;
    int rc = access_resolve(w, name, &ref);
    if (rc != 0)
        return rc;
    if ((rc = access_rights(w, &ref, out)) != 0)
        return rc;
    /* RFC 4314 4: MYRIGHTS needs any of l r i k x a; a mailbox on which
     * the identity holds only e.g. "p" answers as a missing one. */
    const acl_rights_t any = ACL_LOOKUP | ACL_READ | ACL_INSERT | ACL_CREATE | ACL_DELETEMBOX | ACL_ADMIN;
    return (*out & any) ? 0 : ACCESS_ERR_NONEXISTENT;
}

/* ---- LIST ------------------------------------------------------------- */

/* Could LIST pattern p match `s` or a name below it ("s/...")? '*'
 * matches anything, '%' anything but '/'. Conservative (true) when the
 * pattern is too complex to decide cheaply. */
static bool pat_reach(const char *p, const char *s, unsigned *steps)
{
    for (;;) {
        if (*steps == 0)
            return true;
        (*steps)--;
        if (*s == '\0')
            return true;
        if (*p == '\0')
            return false;
        if (*p == '*')
            return true;
        if (*p == '%') {
            if (pat_reach(p + 1, s, steps))
                return true;
            if (*s == '/')
                return false;
            s++;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
}

static bool pat_may_reach(const char *p, const char *s)
{
    unsigned steps = 20000;   /* bounds "%%%%..." patterns; true when exhausted */
    return pat_reach(p, s, &steps);
}

struct list_ctx {
    const struct access_who *w;
    const char *pattern;
    int (*cb)(const struct access_listed *e, void *arg);
    void *arg;
    int rc;
    bool other_root_done, shared_root_done;
    struct buf name;
    /* stores to visit (other users) */
    char **stores;
    size_t nstores, cap;
};

static bool shared_inbox(const char *store, const char *name)
{
    return is_shared_store(store) && strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/');
}

static int emit(struct list_ctx *c, const char *name, const struct mailbox_info *info, const struct mbox_ref *ref,
                acl_rights_t rights)
{
    if (c->rc)
        return c->rc;
    struct access_listed e = {.name = name, .info = info, .ref = ref, .rights = rights};
    c->rc = c->cb(&e, c->arg);
    return c->rc;
}

static int emit_level(struct list_ctx *c, const char *name)
{
    return emit(c, name, NULL, NULL, 0);
}

/* One store being listed: mailboxes are passed on as storage reports
 * them (its callback may call back into storage), nothing is copied. */
struct store_walk {
    struct list_ctx *c;
    struct mbox_ref ref;
    bool any, inbox_seen;
    bool count_only;   /* only find out whether anything is visible */
};

static void walk_mailbox(const struct mailbox_info *info, void *arg)
{
    struct store_walk *sw = arg;
    struct list_ctx *c = sw->c;
    const char *store = sw->ref.store;
    if (c->rc || (sw->count_only && sw->any) || shared_inbox(store, info->name))
        return;
    acl_rights_t r = acl_evaluate(info->acl, c->w, store);
    if (!(r & ACL_LOOKUP))
        return;
    sw->any = true;
    if (sw->count_only)
        return;
    if (sw->ref.ns == NS_OTHER && !c->other_root_done) {
        c->other_root_done = true;
        emit_level(c, access_other_prefix(c->w));
    }
    if (sw->ref.ns == NS_SHARED && !c->shared_root_done) {
        c->shared_root_done = true;
        emit_level(c, access_shared_prefix(c->w));
    }
    if (strcmp(info->name, "INBOX") == 0)
        sw->inbox_seen = true;
    snprintf(sw->ref.name, sizeof(sw->ref.name), "%s", info->name);
    buf_reset(&c->name);
    access_client_name(c->w, store, info->name, &c->name);
    emit(c, buf_cstr(&c->name), info, &sw->ref, r);
}

/* List one store's visible mailboxes (count_only: just say whether there
 * is one). A store that cannot be opened is skipped with a log line: one
 * broken account must not break everybody's LIST. */
static bool list_store(struct list_ctx *c, const char *store, enum access_ns ns, bool count_only)
{
    struct mail_user *u;
    int rc = mail_user_open(store, false, &u);
    if (rc != 0) {
        if (rc != STORAGE_ERR_NOTFOUND)
            log_warn("access: LIST: cannot open store %s: %s", store, storage_strerror(rc));
        return false;
    }
    struct store_walk sw = {.c = c, .ref = {.ns = ns}, .count_only = count_only};
    snprintf(sw.ref.store, sizeof(sw.ref.store), "%s", store);
    if (ns != NS_SHARED)
        snprintf(sw.ref.owner, sizeof(sw.ref.owner), "%s", store);
    rc = mailbox_list(u, walk_mailbox, &sw);
    mail_user_close(u);
    if (rc != 0)
        log_warn("access: LIST: store %s: %s", store, storage_strerror(rc));
    if (!count_only && ns == NS_OTHER && sw.any && !sw.inbox_seen && !c->rc) {
        buf_reset(&c->name);
        access_client_name(c->w, store, "INBOX", &c->name);
        emit_level(c, buf_cstr(&c->name));
    }
    return sw.any;
}

static void add_store(const char *store, void *arg)
{
    struct list_ctx *c = arg;
    if (is_shared_store(store))
        return;
    if (!c->w->anonymous && strcmp(store, c->w->user) == 0)
        return;
    /* Other users' namespace lists only the same domain; a global admin
     * sees every domain. */
    if (!c->w->admin && strcmp(access_user_domain(store), c->w->domain) != 0)
        return;
    ARRAY_GROW(c->stores, c->nstores, c->cap);
    c->stores[c->nstores++] = xstrdup(store);
}

static void add_shared_store(const char *store, void *arg)
{
    struct list_ctx *c = arg;
    if (!is_shared_store(store))
        return;
    ARRAY_GROW(c->stores, c->nstores, c->cap);
    c->stores[c->nstores++] = xstrdup(store);
}

int access_list(const struct access_who *w, const char *pattern,
                int (*cb)(const struct access_listed *e, void *arg), void *arg)
{
    struct list_ctx c = {.w = w, .pattern = pattern && *pattern ? pattern : "*", .cb = cb, .arg = arg};
    buf_init(&c.name);
    int rc = 0;
    /* Own store. */
    if (!w->anonymous && w->user[0])
        list_store(&c, w->user, NS_PERSONAL, false);
    /* Other users' stores. */
    if (!c.rc) {
        if (w->admin || w->domain_admin) {
            rc = mail_user_list_stores(add_store, &c);
        } else {
            /* Groups as they are now (the file may have changed since
             * login), like acl_evaluate's live lookup. */
            char **groups = NULL;
            size_t ngroups = w->anonymous ? 0 : access_groups_of(w->user, &groups);
            const char **ids = xcalloc(ngroups + 2, sizeof(*ids));
            size_t nids = 0;
            if (w->anonymous) {
                ids[nids++] = "anonymous";
            } else {
                ids[nids++] = w->user;
                ids[nids++] = "anyone";
                for (size_t i = 0; i < ngroups; i++)
                    ids[nids++] = groups[i];
            }
            rc = share_hint_stores(ids, nids, add_store, &c);
            free(ids);
            for (size_t i = 0; i < ngroups; i++)
                free(groups[i]);
            free(groups);
        }
        if (rc != 0)
            log_warn("access: LIST: enumerating other users failed: %s", access_strerror(rc));
        rc = 0;
        const char *root = access_other_prefix(w);
        bool root_wanted = pat_may_reach(c.pattern, root);
        for (size_t i = 0; i < c.nstores && !c.rc; i++) {
            buf_reset(&c.name);
            access_client_name(w, c.stores[i], "INBOX", &c.name);
            if (pat_may_reach(c.pattern, buf_cstr(&c.name))) {
                list_store(&c, c.stores[i], NS_OTHER, false);
            } else if (root_wanted && !c.other_root_done) {
                /* The pattern cannot reach this account but may list the
                 * root: it exists for w when any account shows something. */
                if (list_store(&c, c.stores[i], NS_OTHER, true)) {
                    c.other_root_done = true;
                    emit_level(&c, root);
                }
            }
        }
    }
    /* The domain's shared store: few, always enumerated; a global admin
     * also sees every other domain's ("Shared Folders@DOMAIN/..."). */
    if (!c.rc) {
        char shared[AUTH_MAX_USERNAME + 16];
        access_shared_store(w->domain, shared, sizeof(shared));
        list_store(&c, shared, NS_SHARED, false);
        if (w->admin && !w->anonymous && config_bool(CFG_VIRTDOMAINS)) {
            struct list_ctx *cp = &c;
            for (size_t i = 0; i < cp->nstores; i++)
                free(cp->stores[i]);
            cp->nstores = 0;
            (void)mail_user_list_stores(add_shared_store, cp);
            for (size_t i = 0; i < cp->nstores && !cp->rc; i++)
                if (strcmp(cp->stores[i], shared) != 0)
                    list_store(cp, cp->stores[i], NS_SHARED, false);
        }
    }
    for (size_t i = 0; i < c.nstores; i++)
        free(c.stores[i]);
    free(c.stores);
    buf_free(&c.name);
    return c.rc;
}

/* ---- provisioning ----------------------------------------------------- */

static uint32_t special_use_by_name(const char *name)
{
    static const struct {
        const char *name;
        uint32_t use;
    } known[] = {
        {"Drafts", SPECIAL_DRAFTS}, {"Sent", SPECIAL_SENT},       {"Trash", SPECIAL_TRASH},
        {"Junk", SPECIAL_JUNK},     {"Spam", SPECIAL_JUNK},       {"Archive", SPECIAL_ARCHIVE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (strcasecmp(name, known[i].name) == 0)
            return known[i].use;
    return 0;
}

/* Split a "a | b, c" list; calls fn for each trimmed, sane name. */
static void foreach_listed(const char *list, void (*fn)(const char *name, void *arg), void *arg)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '|' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != '|' && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        size_t len = (size_t)(t - p);
        if (len > 0 && len <= STORAGE_MAX_MAILBOX_NAME) {
            char *n = xstrndup(p, len);
            bool ok = n[0] != '/' && n[len - 1] != '/' && !strstr(n, "//");
            for (size_t i = 0; i < len && ok; i++)
                ok = (unsigned char)n[i] >= 0x20 && n[i] != 0x7f;
            if (ok)
                fn(strcasecmp(n, "INBOX") == 0 ? "INBOX" : n, arg);
            else
                log_warn("access: ignoring invalid folder name \"%s\" in configuration", n);
            free(n);
        }
        p = e;
    }
}

struct prov_ctx {
    struct mail_user *u;
    const char *acl;
    int rc;
};

static void prov_create(const char *name, void *arg)
{
    struct prov_ctx *p = arg;
    if (strcmp(name, "INBOX") == 0)
        return;
    int rc = mailbox_create_acl(p->u, name, special_use_by_name(name), p->acl);
    if (rc != 0 && rc != STORAGE_ERR_EXISTS) {
        log_warn("access: autocreate %s for %s: %s", name, mail_user_name(p->u), storage_strerror(rc));
        if (!p->rc)
            p->rc = rc;
    }
}

static void prov_subscribe(const char *name, void *arg)
{
    struct prov_ctx *p = arg;
    int rc = mailbox_subscribe(p->u, name, true);
    if (rc != 0 && !p->rc)
        p->rc = rc;
}

const void *access_provision_key(const char *user)
{
    static char keys[64];
    size_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = h * 33 + *p;
    return &keys[h % sizeof(keys)];
}

int access_provision_user(const char *user, const char *partition)
{
    /* An account operation naming this user is pending: finish it first
     * (when its process is gone). Either way this attempt fails: the
     * account may just have been renamed away or deleted, and its store
     * must not be recreated by this login or delivery. */
    if (!is_shared_store(user)) {
        int st = access_account_settle(user);
        if (st != 0)
            return st > 0 ? STORAGE_ERR_BUSY : st;
    }
    bool created = false;
    if (partition && *partition) {
        int rc = mail_user_create(user, partition);
        if (rc != 0 && rc != STORAGE_ERR_EXISTS)
            return rc;
        created = rc == 0;
    }
    struct mail_user *u;
    int rc = mail_user_open(user, !partition || !*partition, &u);
    if (rc != 0)
        return rc;
    if (is_shared_store(user)) {
        if (mail_user_is_new(u))
            mail_user_clear_new(u);
        mail_user_close(u);
        return 0;
    }
    if (created || mail_user_is_new(u)) {
        /* No owner entry is stored: the owner holds every right by the
         * store's name (acl_evaluate), and an entry naming the owner would
         * outlive an account rename interrupted by a crash (GETACL shows
         * one anyway). */
        struct prov_ctx p = {.u = u, .acl = ""};
        foreach_listed(config_str(CFG_AUTOCREATE_INBOX_FOLDERS), prov_create, &p);
        /* As Cyrus's autocreate: INBOX is subscribed along with the
         * configured folders - only when autocreation is configured at
         * all, so a plain installation's subscriptions stay the client's. */
        const char *sub = config_str(CFG_AUTOSUBSCRIBE_INBOX_FOLDERS);
        if (*sub || *config_str(CFG_AUTOCREATE_INBOX_FOLDERS))
            prov_subscribe("INBOX", &p);
        foreach_listed(sub, prov_subscribe, &p);
        rc = p.rc;
        /* Only a complete provisioning clears "new": after a failure the
         * next login or delivery tries again. */
        if (rc == 0)
            mail_user_clear_new(u);
    }
    mail_user_close(u);
    return rc;
}

/* ---- share index rebuild ------------------------------------------------ */

struct reindex_ctx {
    char **stores;
    size_t n, cap;
};

static void reindex_collect(const char *store, void *arg)
{
    struct reindex_ctx *r = arg;
    ARRAY_GROW(r->stores, r->n, r->cap);
    r->stores[r->n++] = xstrdup(store);
}

struct reindex_store {
    const char *store;
    struct share_hint_set *set;
};

static void reindex_mailbox(const struct mailbox_info *info, void *arg)
{
    struct reindex_store *s = arg;
    share_hint_set_add(s->set, s->store, info->name, s->store, info->acl);
}

int access_reindex(void (*progress)(const char *store, void *arg), void *arg)
{
    struct reindex_ctx r = {0};
    struct share_hint_set *set = share_hint_set_new();
    int rc = mail_user_list_stores(reindex_collect, &r);
    for (size_t i = 0; i < r.n; i++) {
        if (rc == 0 && !is_shared_store(r.stores[i])) {
            struct mail_user *u;
            int orc = mail_user_open(r.stores[i], false, &u);
            if (orc == 0) {
                struct reindex_store s = {.store = r.stores[i], .set = set};
                orc = mailbox_list(u, reindex_mailbox, &s);
                mail_user_close(u);
            }
            if (orc != 0 && orc != STORAGE_ERR_NOTFOUND)
                rc = orc;
            if (progress)
                progress(r.stores[i], arg);
        }
        free(r.stores[i]);
    }
    free(r.stores);
    /* One transaction: LIST never sees a half-built index. */
    if (rc == 0)
        rc = share_hint_replace_all(set);
    share_hint_set_free(set);
    return rc;
}
