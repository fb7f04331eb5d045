/* cli-mailbox.c - "darius mailbox ..." commands.
 *
 * Two ways to name mailboxes:
 *   - "mailbox create USER MAILBOX...": a user and internal mailbox names
 *     of that user's store (UTF-8, '/' as separator; "INBOX" is
 *     case-insensitive, as in IMAP, RFC 9051 5.1). Storage operations
 *     directly, as before there were ACLs.
 *   - "mailbox create NAME...", NAME in the admin namespace ("user/bob",
 *     "user/bob/Sent", "Shared Folders/news"): the access layer's checked
 *     operations, so ACLs are inherited, accounts created/renamed/deleted
 *     as a whole and the share index kept. A mailbox inside a user's
 *     store is handled as that user (the owner holds every right, an
 *     admin only l and a); accounts and shared mailboxes as the admin.
 * The first operand tells them apart: a user name never contains '/',
 * an admin-namespace name always does.
 *
 * --json of "mailbox list" (USER or --all): an array of
 *   {"name":ADMIN-NAME,"store":STORE,"mailbox":INTERNAL,"messages":N,
 *    "unseen":N,"size":BYTES,"sharedseen":BOOL}
 */
#include "cli.h"
#include "access.h"
#include "auth.h"
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

/* Well-formed UTF-8 without control characters. */
static bool valid_utf8_name(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!*p)
        return false;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((p[k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
            return false;
        p += n + 1;
    }
    return true;
}

/* Normalize "inbox" / "Inbox/sub" to "INBOX" / "INBOX/sub". Returns a new
 * string or NULL (after printing) when the name is unusable. */
static char *mailbox_arg(const char *arg)
{
    size_t len = strlen(arg);
    if (len > STORAGE_MAX_MAILBOX_NAME || !valid_utf8_name(arg)) {
        cli_error("invalid mailbox name: %s", arg);
        return NULL;
    }
    char *name = xstrdup(arg);
    if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
        memcpy(name, "INBOX", 5);
    return name;
}

/* Check the user and open the store. Returns 0 or an exit code. */
static int open_user(const char *arg, struct mail_user **u)
{
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(arg, name))
        return EX_USAGE;
    int r = cli_require_user(name);
    if (r)
        return r;
    r = mail_user_open(name, true, u);
    if (r != 0) {
        cli_error("cannot open the mail store of %s: %s", name, storage_strerror(r));
        return storage_exit(r) == EX_CANTCREAT ? EX_IOERR : storage_exit(r);
    }
    return 0;
}


/* ---- admin-namespace forms ----------------------------------------------------- */

static bool admin_form(const char *first)
{
    return strchr(first, '/') != NULL;
}

static bool admin_name_ok(const char *name)
{
    if (strlen(name) > STORAGE_MAX_MAILBOX_NAME + 2 * AUTH_MAX_USERNAME || !valid_utf8_name(name) ||
        !cli_is_admin_name(name)) {
        cli_error("invalid mailbox name: %s (want user/NAME[/MAILBOX] or the shared prefix/NAME)", name);
        return false;
    }
    return true;
}

/* The identity that performs an operation on name: the owner for a
 * mailbox inside a user's store (not the account itself), else the
 * admin. *inner gets the name to hand to access_* (the owner's personal
 * name, or name itself). */
static int acting_who(const char *name, struct access_who *w, char **inner)
{
    struct access_who admin;
    cli_admin_who(&admin);
    struct mbox_ref ref;
    int r = access_resolve(&admin, name, &ref);
    if (r != 0) {
        access_who_free(&admin);
        return r;
    }
    if (ref.ns == NS_OTHER && ref.owner[0] && strcmp(ref.name, "INBOX") != 0) {
        access_who_free(&admin);
        access_who_init(w, ref.owner);
        *inner = xstrdup(ref.name);
    } else {
        *w = admin;
        *inner = xstrdup(name);
    }
    return 0;
}

static int admin_create(int argc, char **argv)
{
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        if (!admin_name_ok(argv[i])) {
            rc = EX_DATAERR;
            continue;
        }
        struct access_who w;
        char *inner = NULL;
        int r = acting_who(argv[i], &w, &inner);
        if (r == ACCESS_ERR_NONEXISTENT) {
            /* "user/bob" for an unknown bob resolves to nothing; the admin's
             * CREATE makes the account (access_create). */
            struct access_who admin;
            cli_admin_who(&admin);
            w = admin;
            inner = xstrdup(argv[i]);
            r = 0;
        }
        if (r == 0) {
            r = access_create(&w, inner, 0);
            access_who_free(&w);
        }
        free(inner);
        if (r != 0) {
            int e = cli_access_exit(r, argv[i]);
            if (!rc)
                rc = e;
        } else {
            printf("mailbox %s created\n", argv[i]);
        }
    }
    return rc;
}

static int admin_delete(int argc, char **argv)
{
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        if (!admin_name_ok(argv[i])) {
            rc = EX_DATAERR;
            continue;
        }
        struct access_who w;
        char *inner = NULL;
        int r = acting_who(argv[i], &w, &inner);
        if (r == 0) {
            r = access_delete(&w, inner);
            access_who_free(&w);
        }
        free(inner);
        if (r != 0) {
            int e = cli_access_exit(r, argv[i]);
            if (!rc)
                rc = e;
        } else {
            printf("mailbox %s deleted\n", argv[i]);
        }
    }
    return rc;
}

static int admin_rename(const char *from, const char *to)
{
    if (!admin_name_ok(from) || !admin_name_ok(to))
        return EX_DATAERR;
    struct access_who admin;
    cli_admin_who(&admin);
    struct mbox_ref rf, rt;
    int r = access_resolve(&admin, from, &rf);
    int rr = r == 0 ? access_resolve(&admin, to, &rt) : r;
    if (r == 0 && rr == ACCESS_ERR_NONEXISTENT) {
        /* "user/new" for an account that does not exist yet: account
         * rename, done by the admin. */
        memset(&rt, 0, sizeof(rt));
        rt.ns = NS_OTHER;
        snprintf(rt.name, sizeof(rt.name), "INBOX");
        rr = 0;
    }
    if (r == 0 && rr != 0)
        r = rr;
    if (r == 0) {
        bool inside = rf.ns == NS_OTHER && rt.ns == NS_OTHER && rf.owner[0] && strcmp(rf.owner, rt.owner) == 0 &&
                      strcmp(rf.name, "INBOX") != 0 && strcmp(rt.name, "INBOX") != 0;
        if (inside) {
            struct access_who ow;
            access_who_init(&ow, rf.owner);
            r = access_rename(&ow, rf.name, rt.name);
            access_who_free(&ow);
        } else {
            r = access_rename(&admin, from, to);
        }
    }
    access_who_free(&admin);
    if (r != 0) {
        char what[2 * (STORAGE_MAX_MAILBOX_NAME + 2 * AUTH_MAX_USERNAME) + 16];
        snprintf(what, sizeof(what), "%s -> %s", from, to);
        return cli_access_exit(r, what);
    }
    printf("mailbox %s renamed to %s\n", from, to);
    return 0;
}

/* ---- USER forms ------------------------------------------------------------------ */

static int cmd_create(int argc, char **argv)
{
    if (admin_form(argv[0]))
        return admin_create(argc, argv);
    if (argc < 2) {
        cli_error("mailbox create: want USER MAILBOX... or admin-namespace names (user/NAME/MAILBOX)");
        return EX_USAGE;
    }
    struct mail_user *u;
    int rc = open_user(argv[0], &u);
    if (rc)
        return rc;
    for (int i = 1; i < argc; i++) {
        char *name = mailbox_arg(argv[i]);
        if (!name) {
            rc = EX_DATAERR;
            continue;
        }
        int r = mailbox_create(u, name, 0);
        if (r != 0) {
            cli_error("cannot create mailbox %s: %s", name, storage_strerror(r));
            rc = storage_exit(r);
        } else {
            printf("mailbox %s created\n", name);
        }
        free(name);
    }
    mail_user_close(u);
    return rc;
}

static int cmd_delete(int argc, char **argv)
{
    if (admin_form(argv[0]))
        return admin_delete(argc, argv);
    if (argc < 2) {
        cli_error("mailbox delete: want USER MAILBOX... or admin-namespace names (user/NAME/MAILBOX)");
        return EX_USAGE;
    }
    struct mail_user *u;
    int rc = open_user(argv[0], &u);
    if (rc)
        return rc;
    for (int i = 1; i < argc; i++) {
        char *name = mailbox_arg(argv[i]);
        if (!name) {
            rc = EX_DATAERR;
            continue;
        }
        int r = mailbox_delete(u, name);
        if (r != 0) {
            cli_error("cannot delete mailbox %s: %s", name, storage_strerror(r));
            rc = storage_exit(r);
        } else {
            printf("mailbox %s deleted\n", name);
        }
        free(name);
    }
    mail_user_close(u);
    return rc;
}

static int cmd_rename(int argc, char **argv)
{
    if (argc == 2) {
        if (!admin_form(argv[0])) {
            cli_error("mailbox rename: want USER OLD NEW or OLD NEW in the admin namespace (user/NAME/MAILBOX)");
            return EX_USAGE;
        }
        return admin_rename(argv[0], argv[1]);
    }
    struct mail_user *u;
    int rc = open_user(argv[0], &u);
    if (rc)
        return rc;
    char *from = mailbox_arg(argv[1]), *to = mailbox_arg(argv[2]);
    if (!from || !to) {
        rc = EX_DATAERR;
    } else {
        int r = mailbox_rename(u, from, to);
        if (r != 0) {
            cli_error("cannot rename mailbox %s to %s: %s", from, to, storage_strerror(r));
            rc = storage_exit(r);
        } else {
            printf("mailbox %s renamed to %s\n", from, to);
        }
    }
    free(from);
    free(to);
    mail_user_close(u);
    return rc;
}

/* ---- list -------------------------------------------------------------------------- */

struct list_ctx {
    const struct access_who *w;
    const char *store;
    struct buf *b;
    struct cli_json *j;
    bool admin_names;   /* text output in the admin namespace (--all) */
};

static void list_one(const struct mailbox_info *info, void *arg)
{
    struct list_ctx *c = arg;
    /* A shared store's INBOX is a storage artefact (every store has one);
     * the access layer never shows it, nor may it be created there. */
    if (c->store[0] == '%' && strncmp(info->name, "INBOX", 5) == 0 &&
        (info->name[5] == '\0' || info->name[5] == '/'))
        return;
    struct buf name = BUF_INIT;
    access_client_name(c->w, c->store, info->name, &name);
    if (cli_opt_json) {
        cli_json_begin_object(c->j);
        cli_json_kv_string(c->j, "name", buf_cstr(&name));
        cli_json_kv_string(c->j, "store", c->store);
        cli_json_kv_string(c->j, "mailbox", info->name);
        cli_json_kv_int(c->j, "messages", info->messages);
        cli_json_kv_int(c->j, "unseen", info->unseen);
        cli_json_kv_int(c->j, "size", (int64_t)info->size);
        cli_json_kv_bool(c->j, "sharedseen", info->sharedseen);
        cli_json_end_object(c->j);
    } else {
        buf_printf(c->b, "%s %u message%s\n", c->admin_names ? buf_cstr(&name) : info->name, info->messages,
                   info->messages == 1 ? "" : "s");
    }
    buf_free(&name);
}

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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_list(int argc, char **argv)
{
    if (cli_opt_all != (argc == 0)) {
        cli_error("mailbox list: want USER or --all");
        return EX_USAGE;
    }
    struct access_who w;
    cli_admin_who(&w);
    struct buf b = BUF_INIT;
    struct cli_json j;
    cli_json_init(&j, &b);
    struct list_ctx c = {&w, NULL, &b, &j, cli_opt_all};
    struct names ns = {0};
    int rc = 0;
    if (cli_opt_all) {
        int r = mail_user_list_stores(add_name, &ns);
        if (r != 0) {
            cli_error("cannot list the stores: %s", storage_strerror(r));
            rc = storage_exit(r);
        }
        if (ns.n > 1)
            qsort(ns.v, ns.n, sizeof(*ns.v), cmp_str);
    } else {
        char name[AUTH_MAX_USERNAME + 1];
        if (!cli_user_name(argv[0], name))
            rc = EX_USAGE;
        else if ((rc = cli_require_user(name)) == 0)
            add_name(name, &ns);
    }
    if (cli_opt_json)
        cli_json_begin_array(&j);
    for (size_t i = 0; rc == 0 && i < ns.n; i++) {
        struct mail_user *u;
        /* Only "mailbox list USER" creates a missing store (as before);
         * --all reports what exists. */
        int r = mail_user_open(ns.v[i], !cli_opt_all, &u);
        if (r == STORAGE_ERR_NOTFOUND && cli_opt_all)
            continue;   /* removed since it was listed */
        if (r != 0) {
            cli_error("cannot open the mail store of %s: %s", ns.v[i], storage_strerror(r));
            /* One busy store (being moved) must not hide the others. */
            rc = storage_exit(r) == EX_CANTCREAT ? EX_IOERR : storage_exit(r);
            if (cli_opt_all && r == STORAGE_ERR_BUSY) {
                rc = 0;
                continue;
            }
            break;
        }
        c.store = ns.v[i];
        r = mailbox_list(u, list_one, &c);
        if (r != 0) {
            cli_error("cannot list mailboxes of %s: %s", ns.v[i], storage_strerror(r));
            rc = storage_exit(r);
        }
        mail_user_close(u);
    }
    if (cli_opt_json) {
        cli_json_end_array(&j);
        buf_putc(&b, '\n');
    }
    if (rc == 0)
        cli_print_buf(&b);
    else
        buf_free(&b);
    for (size_t i = 0; i < ns.n; i++)
        free(ns.v[i]);
    free(ns.v);
    access_who_free(&w);
    return rc;
}

/* ---- sharedseen ------------------------------------------------------------------- */

static int cmd_sharedseen(int argc, char **argv)
{
    (void)argc;
    const char *name = argv[0];
    bool on;
    if (strcmp(argv[1], "yes") == 0 || strcmp(argv[1], "on") == 0 || strcmp(argv[1], "true") == 0)
        on = true;
    else if (strcmp(argv[1], "no") == 0 || strcmp(argv[1], "off") == 0 || strcmp(argv[1], "false") == 0)
        on = false;
    else {
        cli_error("mailbox sharedseen: want yes or no, not %s", argv[1]);
        return EX_USAGE;
    }
    if (!admin_name_ok(name))
        return EX_DATAERR;
    struct access_who w;
    cli_admin_who(&w);
    struct mbox_ref ref;
    int r = access_resolve(&w, name, &ref);
    if (r == 0)
        r = access_check(&w, &ref, ACL_ADMIN);   /* also: NONEXISTENT when missing */
    if (r == 0) {
        struct mail_user *u;
        r = access_open_store(&ref, &u);
        if (r == 0) {
            r = mailbox_set_sharedseen(u, ref.name, on);
            mail_user_close(u);
        }
    }
    access_who_free(&w);
    if (r != 0)
        return cli_access_exit(r, name);
    printf("mailbox %s: \\Seen %s\n", name, on ? "shared by all readers" : "kept per reader");
    return 0;
}

const struct cli_cmd cli_mailbox_cmds[] = {
    {"mailbox", "create", "USER MAILBOX... | NAME...",
     "Create mailboxes: of USER (internal names: UTF-8, '/' separator), or NAMEs in the admin namespace: "
     "user/bob (a whole account), user/bob/Work, Shared Folders/news (ACL from the parent, defaultacl for a "
     "new shared top level).",
     1, -1, cmd_create},
    {"mailbox", "delete", "USER MAILBOX... | NAME...",
     "Delete mailboxes and their messages; user/bob in the admin namespace deletes the whole account.", 1, -1,
     cmd_delete},
    {"mailbox", "rename", "USER OLD NEW | OLD NEW",
     "Rename a mailbox and its children; user/a -> user/b in the admin namespace renames the account.", 2, 3,
     cmd_rename},
    {"mailbox", "list", "[--json] USER | --all [--json]",
     "List the user's mailboxes (internal names), or with --all every mailbox of every store (admin-namespace "
     "names), with message counts (\"INBOX 12 messages\"); --json: [{\"name\",\"store\",\"mailbox\","
     "\"messages\",\"unseen\",\"size\",\"sharedseen\"},...].",
     0, 1, cmd_list},
    {"mailbox", "sharedseen", "MAILBOX yes|no",
     "Share \\Seen among all readers of MAILBOX (admin namespace), or keep it per reader (the default).", 2, 2,
     cmd_sharedseen},
};
const size_t cli_mailbox_ncmds = ARRAY_SIZE(cli_mailbox_cmds);
