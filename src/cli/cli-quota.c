/* cli-quota.c - "darius quota ..." commands (RFC 9208 quota roots).
 *
 * Quota roots are named as IMAP clients and cyradm see them: "user/NAME"
 * is the whole store of NAME, "user/NAME/MAILBOX" a sub-root covering
 * MAILBOX and the mailboxes below it (internal mailbox name, '/'
 * separator); the shared prefix ("Shared Folders") is the whole shared
 * store and "Shared Folders/MAILBOX" a sub-root in it, as an admin's
 * IMAP SETQUOTA names them (the default domain's shared folders).
 * Storage limits are in KiB, as RFC 9208 counts STORAGE.
 * Every command takes --json for scripts (one JSON value on stdout).
 */
#include "cli.h"
#include "access.h"
#include "auth.h"
#include "buf.h"
#include "storage.h"

static int storage_exit(int r)
{
    switch (r) {
    case STORAGE_OK: return 0;
    case STORAGE_ERR_EXISTS: return EX_CANTCREAT;
    case STORAGE_ERR_INVALID: return EX_DATAERR;
    case STORAGE_ERR_IO: case STORAGE_ERR_BUSY: return EX_IOERR;
    default: return CLI_EX_OTHER;
    }
}

/* A store name: a user id or a shared store ("%shared"). */
#define STORE_NAME_MAX (AUTH_MAX_USERNAME + 16)

static bool is_shared_store(const char *store) { return store[0] == '%'; }

/* The shared namespace prefix as the admin sees it ("Shared Folders"). */
static const char *shared_prefix(void)
{
    struct access_who w;
    cli_admin_who(&w);
    const char *p = access_shared_prefix(&w);
    access_who_free(&w);
    return p;
}

/* "<shared prefix>[/MAILBOX]": the default domain's shared store. */
static bool parse_shared_root(const char *arg, char user[STORE_NAME_MAX], char **root, bool *matched)
{
    const char *pre = shared_prefix();
    size_t pl = strlen(pre);
    *matched = false;
    if (pl == 0 || strncmp(arg, pre, pl) != 0 || (arg[pl] != '\0' && arg[pl] != '/'))
        return false;
    *matched = true;
    const char *mb = arg[pl] ? arg + pl + 1 : "";
    /* every store has a storage INBOX; the shared one is never a folder */
    if ((arg[pl] && !*mb) || strlen(mb) > STORAGE_MAX_MAILBOX_NAME ||
        (strncasecmp(mb, "INBOX", 5) == 0 && (mb[5] == '\0' || mb[5] == '/'))) {
        cli_error("invalid quota root: %s", arg);
        return false;
    }
    access_shared_store("", user, STORE_NAME_MAX);
    *root = xstrdup(mb);
    return true;
}

/* "user/NAME[/MAILBOX]" (or the shared prefix forms) into a store name and
 * an internal root name ("" = the whole store). Prints why and returns
 * false when malformed. */
static bool parse_root(const char *arg, char user[STORE_NAME_MAX], char **root)
{
    bool shared;
    bool ok = parse_shared_root(arg, user, root, &shared);
    if (shared)
        return ok;
    /* A bare user name is that user's whole store, as in "quota list
     * USER" (and what scripts written for other servers pass). */
    if (!strchr(arg, '/') && strlen(arg) <= AUTH_MAX_USERNAME && userdb_normalize_name(arg, user)) {
        *root = xstrdup("");
        return true;
    }
    if (strncmp(arg, "user/", 5) != 0) {
        cli_error("invalid quota root: %s (want NAME, user/NAME, user/NAME/MAILBOX or %s[/MAILBOX])", arg,
                  shared_prefix());
        return false;
    }
    const char *n = arg + 5;
    const char *slash = strchr(n, '/');
    size_t ul = slash ? (size_t)(slash - n) : strlen(n);
    if (ul == 0 || ul > AUTH_MAX_USERNAME) {
        cli_error("invalid quota root: %s", arg);
        return false;
    }
    char raw[AUTH_MAX_USERNAME + 1];
    memcpy(raw, n, ul);
    raw[ul] = '\0';
    if (!cli_user_name(raw, user))
        return false;
    const char *mb = slash ? slash + 1 : "";
    if (slash && (!*mb || strlen(mb) > STORAGE_MAX_MAILBOX_NAME)) {
        cli_error("invalid quota root: %s", arg);
        return false;
    }
    *root = xstrdup(mb);
    /* INBOX is case-insensitive (RFC 9051 5.1) */
    if (strncasecmp(*root, "INBOX", 5) == 0 && ((*root)[5] == '\0' || (*root)[5] == '/'))
        memcpy(*root, "INBOX", 5);
    return true;
}

static int open_store(const char *user, bool create, struct mail_user **u)
{
    int r;
    if (is_shared_store(user)) {
        /* The shared store exists once a shared folder was created; a
         * quota on nothing would only make an empty store. */
        r = mail_user_open(user, false, u);
        if (r == STORAGE_ERR_NOTFOUND) {
            cli_error("no shared folders yet: create one first (mailbox create \"%s/NAME\")", shared_prefix());
            return CLI_EX_OTHER;
        }
        if (r != 0) {
            cli_error("cannot open the shared store: %s", storage_strerror(r));
            return storage_exit(r);
        }
        return 0;
    }
    r = cli_require_user(user);
    if (r)
        return r;
    r = mail_user_open(user, create, u);
    if (r != 0) {
        if (r == STORAGE_ERR_NOTFOUND && !create)
            return -1;   /* no store yet: nothing to report */
        cli_error("cannot open the mail store of %s: %s", user, storage_strerror(r));
        return r == STORAGE_ERR_EXISTS ? EX_IOERR : storage_exit(r);
    }
    return 0;
}

/* ---- output ------------------------------------------------------------------ */

static void root_label(struct buf *b, const char *user, const char *root)
{
    if (is_shared_store(user))
        buf_printf(b, "%s%s%s", shared_prefix(), *root ? "/" : "", root);
    else
        buf_printf(b, "user/%s%s%s", user, *root ? "/" : "", root);
}

static int64_t kib(int64_t bytes) { return bytes / 1024 + (bytes % 1024 != 0); }

static void json_res(struct buf *b, const char *key, int64_t used, int64_t limit)
{
    buf_printf(b, "\"%s\":{\"used\":%lld,\"limit\":", key, (long long)used);
    if (limit < 0)
        buf_puts(b, "null");
    else
        buf_printf(b, "%lld", (long long)limit);
    buf_putc(b, '}');
}

static void json_root(struct buf *b, const char *user, const struct quota_root *q)
{
    struct buf l = BUF_INIT;
    root_label(&l, user, q->name);
    buf_puts(b, "{\"root\":");
    cli_json_quote(b, buf_cstr(&l));
    /* "user": null for the shared store (nobody owns it) */
    buf_puts(b, ",\"user\":");
    if (is_shared_store(user))
        buf_puts(b, "null");
    else
        cli_json_quote(b, user);
    /* the root's mailbox inside the store ("" = the whole store); not
     * "mailbox", which is the RFC 9208 MAILBOX resource below */
    buf_puts(b, ",\"root_mailbox\":");
    cli_json_quote(b, q->name);
    buf_printf(b, ",\"storage_bytes\":%lld,", (long long)q->storage_used);
    json_res(b, "storage", kib(q->storage_used), q->storage_limit_kb);
    buf_putc(b, ',');
    json_res(b, "message", q->message_used, q->message_limit);
    buf_putc(b, ',');
    json_res(b, "mailbox", q->mailbox_used, q->mailbox_limit);
    buf_putc(b, '}');
    buf_free(&l);
}

static void text_res(struct buf *b, const char *what, int64_t used, int64_t limit, const char *unit)
{
    buf_printf(b, "  %s %lld", what, (long long)used);
    if (limit < 0)
        buf_printf(b, "/unlimited%s", unit);
    else
        buf_printf(b, "/%lld%s", (long long)limit, unit);
}

static void text_root(struct buf *b, const char *user, const struct quota_root *q)
{
    root_label(b, user, q->name);
    text_res(b, "storage", kib(q->storage_used), q->storage_limit_kb, " KiB");
    text_res(b, "messages", q->message_used, q->message_limit, "");
    text_res(b, "mailboxes", q->mailbox_used, q->mailbox_limit, "");
    buf_putc(b, '\n');
}

/* ---- set ------------------------------------------------------------------------ */

/* "storage=N" etc.; value "none" = unlimited. */
static bool parse_assignment(const char *a, int64_t *storage, int64_t *message, int64_t *mailbox)
{
    static const struct {
        const char *key;
        int which;
    } keys[] = {{"storage", 0}, {"message", 1}, {"messages", 1}, {"mailbox", 2}, {"mailboxes", 2}};
    int64_t *dst[] = {storage, message, mailbox};
    const char *eq = strchr(a, '=');
    if (!eq)
        goto bad;
    size_t kl = (size_t)(eq - a);
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        if (strlen(keys[i].key) != kl || strncasecmp(a, keys[i].key, kl) != 0)
            continue;
        const char *v = eq + 1;
        if (strcasecmp(v, "none") == 0 || strcasecmp(v, "unlimited") == 0) {
            *dst[keys[i].which] = QUOTA_UNLIMITED;
            return true;
        }
        if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 18)
            goto bad;
        long long n = strtoll(v, NULL, 10);
        if (n > QUOTA_MAX_LIMIT)
            goto bad;
        *dst[keys[i].which] = n;
        return true;
    }
bad:
    cli_error("invalid limit: %s (want storage=KIB, message=N or mailbox=N; 'none' for no limit)", a);
    return false;
}

/* One root, as text or (--json) one JSON line: what set and get print. */
static void print_root(const char *user, const struct quota_root *q)
{
    struct buf b = BUF_INIT;
    if (cli_opt_json) {
        json_root(&b, user, q);
        buf_putc(&b, '\n');
    } else {
        text_root(&b, user, q);
    }
    cli_print_buf(&b);
}

static int cmd_set(int argc, char **argv)
{
    char user[STORE_NAME_MAX];
    char *root = NULL;
    if (!parse_root(argv[0], user, &root))
        return EX_USAGE;
    const int64_t KEEP = -2;
    int64_t s = KEEP, m = KEEP, mb = KEEP;
    for (int i = 1; i < argc; i++)
        if (!parse_assignment(argv[i], &s, &m, &mb)) {
            free(root);
            return EX_USAGE;
        }
    struct mail_user *u;
    int rc = open_store(user, true, &u);
    if (rc) {
        free(root);
        return rc;
    }
    struct quota_root q;
    int r = quota_get(u, root, &q);
    if (r == STORAGE_ERR_NOTFOUND) {
        q.storage_limit_kb = q.message_limit = q.mailbox_limit = QUOTA_UNLIMITED;
        r = 0;
    }
    if (r == 0)
        r = quota_set(u, root, s == KEEP ? q.storage_limit_kb : s, m == KEEP ? q.message_limit : m,
                      mb == KEEP ? q.mailbox_limit : mb);
    if (r == 0)
        r = quota_get(u, root, &q);
    if (r != 0) {
        cli_error("cannot set quota of %s: %s", argv[0],
                  r == STORAGE_ERR_NOTFOUND ? "no such mailbox" : storage_strerror(r));
        rc = storage_exit(r);
    } else {
        print_root(user, &q);
    }
    mail_user_close(u);
    free(root);
    return rc;
}

/* ---- get -------------------------------------------------------------------------- */

static int cmd_get(int argc, char **argv)
{
    (void)argc;
    char user[STORE_NAME_MAX];
    char *root = NULL;
    if (!parse_root(argv[0], user, &root))
        return EX_USAGE;
    struct mail_user *u;
    int rc = open_store(user, true, &u);
    if (rc) {
        free(root);
        return rc;
    }
    struct quota_root q;
    int r = quota_get(u, root, &q);
    if (r != 0) {
        cli_error("%s: %s", argv[0], r == STORAGE_ERR_NOTFOUND ? "no such quota root" : storage_strerror(r));
        rc = storage_exit(r);
    } else {
        print_root(user, &q);
    }
    mail_user_close(u);
    free(root);
    return rc;
}

/* ---- list / recalc over users -------------------------------------------------------- */

struct names {
    char **v;
    size_t n, cap;
};

static void add_name(const char *name, void *arg)
{
    struct names *ns = arg;
    ARRAY_GROW(ns->v, ns->n, ns->cap);
    ns->v[ns->n++] = xstrdup(name);
}

static void free_names(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
}

/* The users named on the command line (validated), or every user. */
static int collect_users(int argc, char **argv, struct names *ns)
{
    if (argc == 0) {
        if (userdb_list(add_name, ns) != AUTH_OK) {
            cli_error("user database error");
            return EX_IOERR;
        }
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        char user[AUTH_MAX_USERNAME + 1];
        if (!cli_user_name(argv[i], user))
            return EX_USAGE;
        int r = cli_require_user(user);
        if (r)
            return r;
        add_name(user, ns);
    }
    return 0;
}

struct list_ctx {
    struct buf *b;
    const char *user;
    bool first;
};

static int list_cb(const struct quota_root *q, void *arg)
{
    struct list_ctx *c = arg;
    if (cli_opt_json) {
        if (!c->first)
            buf_putc(c->b, ',');
        json_root(c->b, c->user, q);
    } else {
        text_root(c->b, c->user, q);
    }
    c->first = false;
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    struct names ns = {0};
    int rc = collect_users(argc, argv, &ns);
    struct buf b = BUF_INIT;
    if (cli_opt_json)
        buf_putc(&b, '[');
    struct list_ctx c = {&b, NULL, true};
    for (size_t i = 0; rc == 0 && i < ns.n; i++) {
        struct mail_user *u;
        int o = open_store(ns.v[i], false, &u);
        if (o == -1)
            continue;   /* never logged in: no store, no quota yet */
        if (o) {
            rc = o;
            break;
        }
        c.user = ns.v[i];
        int r = quota_list(u, list_cb, &c);
        if (r != 0) {
            cli_error("%s: %s", ns.v[i], storage_strerror(r));
            rc = storage_exit(r);
        }
        mail_user_close(u);
    }
    if (cli_opt_json)
        buf_puts(&b, "]\n");
    if (rc == 0)
        cli_print_buf(&b);
    else
        buf_free(&b);
    free_names(&ns);
    return rc;
}

struct recalc_ctx {
    struct buf *b;
    const char *user;
    bool first;
    bool fix;
};

static void recalc_cb(const struct quota_root *before, const struct quota_root *after, void *arg)
{
    struct recalc_ctx *c = arg;
    bool drift = before->storage_used != after->storage_used || before->message_used != after->message_used ||
                 before->mailbox_used != after->mailbox_used;
    if (cli_opt_json) {
        if (!c->first)
            buf_putc(c->b, ',');
        struct buf l = BUF_INIT;
        root_label(&l, c->user, before->name);
        buf_puts(c->b, "{\"root\":");
        cli_json_quote(c->b, buf_cstr(&l));
        buf_free(&l);
        buf_printf(c->b, ",\"drift\":%s,\"fixed\":%s,\"before\":{\"storage_bytes\":%lld,\"message\":%lld,"
                         "\"mailbox\":%lld},\"after\":{\"storage_bytes\":%lld,\"message\":%lld,\"mailbox\":%lld}}",
                   drift ? "true" : "false", drift && c->fix ? "true" : "false", (long long)before->storage_used,
                   (long long)before->message_used, (long long)before->mailbox_used, (long long)after->storage_used,
                   (long long)after->message_used, (long long)after->mailbox_used);
    } else {
        root_label(c->b, c->user, before->name);
        if (!drift) {
            buf_puts(c->b, ": ok\n");
        } else {
            buf_printf(c->b, ": drift: storage %lld -> %lld bytes, messages %lld -> %lld, mailboxes %lld -> %lld%s\n",
                       (long long)before->storage_used, (long long)after->storage_used,
                       (long long)before->message_used, (long long)after->message_used,
                       (long long)before->mailbox_used, (long long)after->mailbox_used,
                       c->fix ? " (fixed)" : " (not fixed: --dry-run)");
        }
    }
    c->first = false;
}

static int cmd_recalc(int argc, char **argv)
{
    struct names ns = {0};
    int rc = collect_users(argc, argv, &ns);
    struct buf b = BUF_INIT;
    if (cli_opt_json)
        buf_putc(&b, '[');
    struct recalc_ctx c = {&b, NULL, true, !cli_opt_dry_run};
    for (size_t i = 0; rc == 0 && i < ns.n; i++) {
        struct mail_user *u;
        int o = open_store(ns.v[i], false, &u);
        if (o == -1)
            continue;
        if (o) {
            rc = o;
            break;
        }
        c.user = ns.v[i];
        int r = quota_recalc(u, c.fix, recalc_cb, &c);
        if (r < 0) {
            cli_error("%s: %s", ns.v[i], storage_strerror(r));
            rc = storage_exit(r);
        }
        mail_user_close(u);
    }
    if (cli_opt_json)
        buf_puts(&b, "]\n");
    if (rc == 0)
        cli_print_buf(&b);
    else
        buf_free(&b);
    free_names(&ns);
    return rc;
}

const struct cli_cmd cli_quota_cmds[] = {
    {"quota", "set", "[--json] ROOT [storage=KIB] [message=N] [mailbox=N]",
     "Set limits of a quota root: user/NAME or NAME (the whole store) or user/NAME/MAILBOX (that mailbox and those "
     "below it, which must exist); \"Shared Folders\" (the shared prefix: every shared folder) or "
     "\"Shared Folders/MAILBOX\". Unnamed limits are kept; 'none' removes one.",
     1, 4, cmd_set},
    {"quota", "get", "[--json] ROOT", "Show a quota root's usage and limits (storage in KiB); ROOT as for set.", 1,
     1, cmd_get},
    {"quota", "list", "[--json] [USER]", "List the quota roots of a user, or of every user with a store.", 0, 1,
     cmd_list},
    {"quota", "recalc", "[--json] [--dry-run] [USER...]",
     "Recount quota usage from the stored messages, report any drift per root and fix it (not with --dry-run).",
     0, -1, cmd_recalc},
};
const size_t cli_quota_ncmds = ARRAY_SIZE(cli_quota_cmds);
