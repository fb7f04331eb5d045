/* cli-user.c - "darius user ..." commands.
 *
 * --json shapes:
 *   user list:           [{"name":N,"partition":P|null},...]   (null: no store yet)
 *   user info:           {"name":N,"partition":P|null,"mailboxes":N,"messages":N,"size":BYTES,
 *                         "quota":{"storage":{"used":KIB,"limit":KIB|null},
 *                                  "message":{...},"mailbox":{...}}|null}
 *   user rename:         {"from":OLD,"to":NEW}
 *   user move-partition: {"name":N,"from":P,"to":P,"moved":BOOL}
 */
#include "cli.h"
#include "access.h"
#include "auth.h"
#include "config.h"
#include "notify.h"
#include "storage.h"

/* A partition name the configuration knows: "default" (the data
 * directory) or a "partition-NAME" entry. */
static bool known_partition(const char *p)
{
    return strcmp(p, "default") == 0 || config_partition(p) != NULL;
}

static int64_t parse_quota_opt(const char *v, bool *ok)
{
    *ok = true;
    if (strcasecmp(v, "none") == 0 || strcasecmp(v, "unlimited") == 0)
        return QUOTA_UNLIMITED;
    if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 18) {
        *ok = false;
        return 0;
    }
    long long n = strtoll(v, NULL, 10);
    if (n > QUOTA_MAX_LIMIT)
        *ok = false;
    return n;
}

/* Create the user's store (INBOX, autocreate folders) right away on the
 * chosen partition so that mailbox commands and a first login find it,
 * then the storage limit of the user's quota root. */
static int create_store(const char *name, const char *partition, bool have_quota, int64_t quota_kb)
{
    int r = access_provision_user(name, partition);
    if (r != 0) {
        cli_error("cannot create the mail store of %s: %s", name, access_strerror(r));
        return r == STORAGE_ERR_IO ? EX_IOERR : r == STORAGE_ERR_INVALID ? EX_DATAERR : EX_CANTCREAT;
    }
    if (!have_quota)
        return 0;
    struct mail_user *u = NULL;
    r = mail_user_open(name, false, &u);
    if (r == 0) {
        struct quota_root q;
        int64_t msg = QUOTA_UNLIMITED, mbx = QUOTA_UNLIMITED;
        /* keep other limits (autocreatequota may have set some) */
        if (quota_get(u, "", &q) == 0) {
            msg = q.message_limit;
            mbx = q.mailbox_limit;
        }
        r = quota_set(u, "", quota_kb, msg, mbx);
        mail_user_close(u);
    }
    if (r != 0) {
        cli_error("cannot set the quota of %s: %s", name, storage_strerror(r));
        return EX_IOERR;
    }
    return 0;
}

static int auth_exit(int r, const char *name)
{
    switch (r) {
    case AUTH_OK: return 0;
    case AUTH_ERR_NOUSER: cli_error("no such user: %s", name); return EX_NOUSER;
    case AUTH_ERR_EXISTS: cli_error("user already exists: %s", name); return EX_CANTCREAT;
    case AUTH_ERR_INVALID: cli_error("invalid user name or password: %s", name); return EX_DATAERR;
    default: cli_error("user database error (%s)", auth_strerror(r)); return EX_IOERR;
    }
}

static int add_common(const char *arg, const char *hash)
{
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(arg, name))
        return EX_USAGE;
    /* Check every option before anything is written. */
    if (cli_opt_partition && !known_partition(cli_opt_partition)) {
        cli_error("unknown partition: %s (configure partition-%s: PATH)", cli_opt_partition, cli_opt_partition);
        return EX_DATAERR;
    }
    bool qok = true;
    int64_t quota_kb = cli_opt_quota ? parse_quota_opt(cli_opt_quota, &qok) : 0;
    if (!qok) {
        cli_error("invalid --quota: %s (KiB, or none)", cli_opt_quota);
        return EX_USAGE;
    }
    /* Finish a rename/delete of this name interrupted by a crash first:
     * its outcome decides whether the name is free. */
    int st = access_account_settle(name);
    if (st < 0) {
        cli_error("an account operation on %s is in progress (%s); try again", name, access_strerror(st));
        return st == STORAGE_ERR_BUSY ? EX_TEMPFAIL : EX_IOERR;
    }
    int ex = userdb_exists(name);
    if (ex < 0)
        return auth_exit(AUTH_ERR_IO, name);
    if (ex == 1)
        return auth_exit(AUTH_ERR_EXISTS, name);
    /* A store without a user is someone's old mail (an account deleted
     * or renamed outside Darius, or by an old version): never adopt it. */
    char part[128];
    if (mail_user_partition(name, part, sizeof(part)) == 0) {
        cli_error("a mail store for %s already exists but %s is not a user (orphan store on partition %s); "
                  "remove or rename it first", name, name, part);
        return EX_CANTCREAT;
    }
    int r;
    if (cli_opt_locked) {
        r = userdb_add_locked(name);
    } else if (hash) {
        if (!password_hash_supported(hash)) {
            cli_error("unsupported password hash (accepted: $y$, $6$, $2b$, $argon2id$)");
            return EX_DATAERR;
        }
        r = userdb_add_hash(name, hash);
    } else {
        char *pw = cli_read_password();
        if (!pw)
            return CLI_EX_OTHER;
        r = userdb_add(name, pw);
        explicit_bzero(pw, strlen(pw));
        free(pw);
    }
    if (r != AUTH_OK)
        return auth_exit(r, name);
    int s = create_store(name, cli_opt_partition, cli_opt_quota != NULL, quota_kb);
    if (s != 0) {
        /* Do not leave a user without a store behind. */
        userdb_delete(name);
        return s;
    }
    printf("user %s added\n", name);
    return 0;
}

static int cmd_add(int argc, char **argv)
{
    (void)argc;
    return add_common(argv[0], NULL);
}

static int cmd_import(int argc, char **argv)
{
    (void)argc;
    return add_common(argv[0], argv[1]);
}

static int cmd_passwd(int argc, char **argv)
{
    (void)argc;
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(argv[0], name))
        return EX_USAGE;
    int r = cli_require_user(name);
    if (r)
        return r;
    char *pw = cli_read_password();
    if (!pw)
        return CLI_EX_OTHER;
    r = userdb_set_password(name, pw);
    explicit_bzero(pw, strlen(pw));
    free(pw);
    if (r != AUTH_OK)
        return auth_exit(r, name);
    printf("password of %s changed\n", name);
    return 0;
}

static int lock_common(const char *arg, bool lock)
{
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(arg, name))
        return EX_USAGE;
    int r = cli_require_user(name);
    if (r)
        return r;
    r = userdb_set_locked(name, lock);
    if (r != AUTH_OK)
        return auth_exit(r, name);
    /* The change hook has told every worker to drop the user's cached
     * verifications (and every login reads the lock anyway); a lock also
     * ends the sessions already open, as a rename or delete does. */
    if (lock)
        notify_user_kick(name);
    printf("user %s %s\n", name, lock ? "locked" : "unlocked");
    return 0;
}

static int cmd_lock(int argc, char **argv)
{
    (void)argc;
    return lock_common(argv[0], true);
}

static int cmd_unlock(int argc, char **argv)
{
    (void)argc;
    return lock_common(argv[0], false);
}

static int cmd_del(int argc, char **argv)
{
    (void)argc;
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(argv[0], name))
        return EX_USAGE;
    int r = cli_require_user(name);
    if (r)
        return r;
    /* The account delete of the access layer (as an admin's IMAP DELETE
     * "user/NAME"): store, user entry, the ACL entries naming the user in
     * other users' and shared mailboxes and its \Seen state there, so a
     * new user of the same name inherits nothing; journaled, finished
     * after a crash. */
    struct access_who w;
    cli_admin_who(&w);
    const char *pre = access_other_prefix(&w);
    size_t l = strlen(pre) + strlen(name) + 2;
    char *mb = xmalloc(l);
    snprintf(mb, l, "%s/%s", pre, name);
    r = access_delete(&w, mb);
    access_who_free(&w);
    free(mb);
    if (r != 0) {
        char what[AUTH_MAX_USERNAME + 32];
        snprintf(what, sizeof(what), "user del %s", name);
        return cli_access_exit(r, what);
    }
    printf("user %s deleted\n", name);
    return 0;
}

/* ---- list / info ------------------------------------------------------------------ */

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

/* Partition of a user's store into out; false when there is no store. */
static bool partition_of(const char *name, char *out, size_t outlen)
{
    return mail_user_partition(name, out, outlen) == 0;
}

static int cmd_list(int argc, char **argv)
{
    (void)argc; (void)argv;
    struct names ns = {0};
    int r = userdb_list(add_name, &ns);
    if (r != AUTH_OK) {
        free_names(&ns);
        return auth_exit(r, "");
    }
    struct buf b = BUF_INIT;
    if (cli_opt_json) {
        struct cli_json j;
        cli_json_init(&j, &b);
        cli_json_begin_array(&j);
        for (size_t i = 0; i < ns.n; i++) {
            char part[128];
            cli_json_begin_object(&j);
            cli_json_kv_string(&j, "name", ns.v[i]);
            cli_json_key(&j, "partition");
            if (partition_of(ns.v[i], part, sizeof(part)))
                cli_json_string(&j, part);
            else
                cli_json_null(&j);
            cli_json_end_object(&j);
        }
        cli_json_end_array(&j);
        buf_putc(&b, '\n');
    } else {
        for (size_t i = 0; i < ns.n; i++)
            buf_printf(&b, "%s\n", ns.v[i]);
    }
    cli_print_buf(&b);
    free_names(&ns);
    return 0;
}

struct count_ctx {
    int64_t mailboxes, messages, size;
};

static void count_mailbox(const struct mailbox_info *info, void *arg)
{
    struct count_ctx *c = arg;
    c->mailboxes++;
    c->messages += info->messages;
    c->size += (int64_t)info->size;
}

static int64_t kib(int64_t bytes) { return bytes / 1024 + (bytes % 1024 != 0); }

static void json_res(struct cli_json *j, const char *key, int64_t used, int64_t limit)
{
    cli_json_key(j, key);
    cli_json_begin_object(j);
    cli_json_kv_int(j, "used", used);
    cli_json_key(j, "limit");
    if (limit < 0)
        cli_json_null(j);
    else
        cli_json_int(j, limit);
    cli_json_end_object(j);
}

static void text_limit(struct buf *b, int64_t limit, const char *unit)
{
    if (limit < 0)
        buf_printf(b, "unlimited");
    else
        buf_printf(b, "%lld%s", (long long)limit, unit);
}

static int cmd_info(int argc, char **argv)
{
    (void)argc;
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(argv[0], name))
        return EX_USAGE;
    int r = cli_require_user(name);
    if (r)
        return r;
    char part[128];
    bool have_store = partition_of(name, part, sizeof(part));
    struct count_ctx cnt = {0, 0, 0};
    struct quota_root q;
    bool have_quota = false;
    if (have_store) {
        struct mail_user *u;
        r = mail_user_open(name, false, &u);
        if (r != 0) {
            cli_error("cannot open the mail store of %s: %s", name, storage_strerror(r));
            return r == STORAGE_ERR_BUSY ? EX_TEMPFAIL : EX_IOERR;
        }
        r = mailbox_list(u, count_mailbox, &cnt);
        if (r == 0)
            have_quota = quota_get(u, "", &q) == 0;
        mail_user_close(u);
        if (r != 0) {
            cli_error("cannot list the mailboxes of %s: %s", name, storage_strerror(r));
            return EX_IOERR;
        }
    }
    struct buf b = BUF_INIT;
    if (cli_opt_json) {
        struct cli_json j;
        cli_json_init(&j, &b);
        cli_json_begin_object(&j);
        cli_json_kv_string(&j, "name", name);
        cli_json_key(&j, "partition");
        if (have_store)
            cli_json_string(&j, part);
        else
            cli_json_null(&j);
        cli_json_kv_int(&j, "mailboxes", cnt.mailboxes);
        cli_json_kv_int(&j, "messages", cnt.messages);
        cli_json_kv_int(&j, "size", cnt.size);
        cli_json_key(&j, "quota");
        if (have_quota) {
            cli_json_begin_object(&j);
            json_res(&j, "storage", kib(q.storage_used), q.storage_limit_kb);
            json_res(&j, "message", q.message_used, q.message_limit);
            json_res(&j, "mailbox", q.mailbox_used, q.mailbox_limit);
            cli_json_end_object(&j);
        } else {
            cli_json_null(&j);
        }
        cli_json_end_object(&j);
        buf_putc(&b, '\n');
    } else {
        buf_printf(&b, "user: %s\npartition: %s\nmailboxes: %lld\nmessages: %lld\nsize: %lld bytes\n", name,
                   have_store ? part : "(no store yet)", (long long)cnt.mailboxes, (long long)cnt.messages,
                   (long long)cnt.size);
        if (have_quota) {
            buf_printf(&b, "quota: storage %lld/", (long long)kib(q.storage_used));
            text_limit(&b, q.storage_limit_kb, " KiB");
            buf_printf(&b, "  messages %lld/", (long long)q.message_used);
            text_limit(&b, q.message_limit, "");
            buf_printf(&b, "  mailboxes %lld/", (long long)q.mailbox_used);
            text_limit(&b, q.mailbox_limit, "");
            buf_putc(&b, '\n');
        }
    }
    cli_print_buf(&b);
    return 0;
}

/* ---- rename / move-partition --------------------------------------------------------- */

static int cmd_rename(int argc, char **argv)
{
    (void)argc;
    char from[AUTH_MAX_USERNAME + 1], to[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(argv[0], from) || !cli_user_name(argv[1], to))
        return EX_USAGE;
    int r = cli_require_user(from);
    if (r)
        return r;
    if (strcmp(from, to) == 0) {
        cli_error("user rename: %s and %s are the same user", argv[0], argv[1]);
        return EX_USAGE;
    }
    int ex = userdb_exists(to);
    if (ex < 0)
        return auth_exit(AUTH_ERR_IO, to);
    if (ex == 1)
        return auth_exit(AUTH_ERR_EXISTS, to);
    /* The account rename of the admin namespace (as cyradm's "rename
     * user/a user/b"): store, user entry and the owner's ACL entries in
     * one operation of the access layer, which disconnects a's sessions. */
    struct access_who w;
    cli_admin_who(&w);
    const char *pre = access_other_prefix(&w);
    size_t fl = strlen(pre) + strlen(from) + 2, tl = strlen(pre) + strlen(to) + 2;
    char *f = xmalloc(fl), *t = xmalloc(tl);
    snprintf(f, fl, "%s/%s", pre, from);
    snprintf(t, tl, "%s/%s", pre, to);
    r = access_rename(&w, f, t);
    access_who_free(&w);
    free(f);
    free(t);
    if (r != 0) {
        char what[2 * AUTH_MAX_USERNAME + 32];
        snprintf(what, sizeof(what), "user rename %s %s", from, to);
        return cli_access_exit(r, what);
    }
    if (cli_opt_json) {
        struct buf b = BUF_INIT;
        struct cli_json j;
        cli_json_init(&j, &b);
        cli_json_begin_object(&j);
        cli_json_kv_string(&j, "from", from);
        cli_json_kv_string(&j, "to", to);
        cli_json_end_object(&j);
        buf_putc(&b, '\n');
        cli_print_buf(&b);
    } else {
        printf("user %s renamed to %s\n", from, to);
    }
    return 0;
}

static int cmd_move_partition(int argc, char **argv)
{
    (void)argc;
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(argv[0], name))
        return EX_USAGE;
    const char *to = argv[1];
    if (!known_partition(to)) {
        cli_error("unknown partition: %s (configure partition-%s: PATH)", to, to);
        return EX_DATAERR;
    }
    int r = cli_require_user(name);
    if (r)
        return r;
    char from[128];
    r = mail_user_partition(name, from, sizeof(from));
    if (r == STORAGE_ERR_NOTFOUND) {
        cli_error("%s has no mail store yet", name);
        return CLI_EX_OTHER;
    }
    if (r != 0) {
        cli_error("cannot find the store of %s: %s", name, storage_strerror(r));
        return r == STORAGE_ERR_BUSY ? EX_TEMPFAIL : EX_IOERR;
    }
    bool moved = false;
    if (strcmp(from, to) != 0) {
        /* Disconnects the user's sessions and waits until every process
         * has closed the store; restartable after a crash (storage.h). */
        r = mail_user_move_partition(name, to);
        if (r != 0) {
            cli_error("cannot move %s from %s to %s: %s", name, from, to, storage_strerror(r));
            return r == STORAGE_ERR_BUSY ? EX_TEMPFAIL : r == STORAGE_ERR_INVALID ? EX_DATAERR : EX_IOERR;
        }
        moved = true;
    }
    if (cli_opt_json) {
        struct buf b = BUF_INIT;
        struct cli_json j;
        cli_json_init(&j, &b);
        cli_json_begin_object(&j);
        cli_json_kv_string(&j, "name", name);
        cli_json_kv_string(&j, "from", from);
        cli_json_kv_string(&j, "to", to);
        cli_json_kv_bool(&j, "moved", moved);
        cli_json_end_object(&j);
        buf_putc(&b, '\n');
        cli_print_buf(&b);
    } else if (moved) {
        const char *path = strcmp(to, "default") == 0 ? config_str(CFG_DATADIR) : config_partition(to);
        printf("user %s moved from partition %s to %s (%s); its sessions were disconnected\n", name, from, to,
               path ? path : "?");
    } else {
        printf("user %s is already on partition %s\n", name, to);
    }
    return 0;
}

/* `user check`: mail_user_check over whole stores (storage.h), e.g.
 * after a crash or a restore. */
static void check_cb(const char *problem, void *arg)
{
    printf("%s: %s\n", (const char *)arg, problem);
}

static int cmd_check(int argc, char **argv)
{
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        char name[AUTH_MAX_USERNAME + 1];
        if (!cli_user_name(argv[i], name))
            return EX_USAGE;
        int r = cli_require_user(name);
        if (r)
            return r;
        struct mail_user *u;
        r = mail_user_open(name, false, &u);
        if (r == STORAGE_ERR_NOTFOUND) {
            printf("%s: no mail store yet\n", name);
            continue;
        }
        if (r != 0) {
            cli_error("cannot open the mail store of %s: %s", name, storage_strerror(r));
            return r == STORAGE_ERR_BUSY ? EX_TEMPFAIL : EX_IOERR;
        }
        int n = mail_user_check(u, !cli_opt_dry_run, check_cb, name);
        mail_user_close(u);
        if (n < 0) {
            cli_error("cannot check the mail store of %s: %s", name, storage_strerror(n));
            return n == STORAGE_ERR_BUSY ? EX_TEMPFAIL : EX_IOERR;
        }
        if (n == 0)
            printf("%s: ok\n", name);
        else
            printf("%s: %d problem(s)%s\n", name, n, cli_opt_dry_run ? " (not repaired: --dry-run)" : " repaired");
        if (n > 0 && cli_opt_dry_run)
            rc = CLI_EX_OTHER;
    }
    fflush(stdout);
    return rc;
}

const struct cli_cmd cli_user_cmds[] = {
    {"user", "add", "[--partition P] [--quota KIB] [--password-stdin | --locked] NAME",
     "Add a user and create the mail store (INBOX, autocreate_inbox_folders) on partition P (default: "
     "defaultpartition) with a storage limit of KIB KiB. The password is read from standard input (one line), "
     "or prompted for twice without echo on a terminal (--password-stdin: always standard input); --locked "
     "creates an account that cannot log in until 'user passwd'.", 1, 1, cmd_add},
    {"user", "passwd", "[--password-stdin] NAME", "Set a user's password (read like for 'user add').", 1, 1,
     cmd_passwd},
    {"user", "del", "NAME", "Delete a user and the user's whole mail store.", 1, 1, cmd_del},
    {"user", "lock", "NAME",
     "Lock an account: it keeps its password and mail (deliveries go on) but cannot log in by any mechanism "
     "until 'user unlock'; its open sessions are closed.", 1, 1, cmd_lock},
    {"user", "unlock", "NAME", "Let a locked account log in again (with its old password).", 1, 1, cmd_unlock},
    {"user", "list", "[--json]",
     "List all users, one per line; --json: [{\"name\":N,\"partition\":P or null (no store yet)},...].", 0, 0,
     cmd_list},
    {"user", "import", "[--partition P] [--quota KIB] NAME HASH",
     "Add a user with an existing crypt(3) hash ($y$, $6$, $2b$, $argon2id$); "
     "SCRAM logins work once the password is next set.", 2, 2, cmd_import},
    {"user", "info", "[--json] NAME",
     "Show a user's partition, mailbox and message counts and quota; --json: {\"name\",\"partition\","
     "\"mailboxes\",\"messages\",\"size\",\"quota\":{\"storage\":{\"used\",\"limit\"},\"message\":{...},"
     "\"mailbox\":{...}} or null}.", 1, 1, cmd_info},
    {"user", "rename", "[--json] OLD NEW",
     "Rename an account: its store, user entry (password kept) and ACL entries; OLD's sessions are "
     "disconnected. NEW must not exist.", 2, 2, cmd_rename},
    {"user", "move-partition", "[--json] NAME PARTITION",
     "Move a user's store to another partition (\"default\" or a partition-NAME entry), also while dariusd "
     "runs: the user's sessions are disconnected, nothing is lost; --json: {\"name\",\"from\",\"to\","
     "\"moved\"}.", 2, 2, cmd_move_partition},
    {"user", "check", "[--dry-run] NAME...",
     "Check users' mail stores and repair what is found: mailbox counters, UID ranges, blob reference counts, "
     "missing message files, message files without a row (left by a crash between a file's fsync and its "
     "commit: removed); one line per problem (quota usage: 'quota recalc'). --dry-run: only report, exit "
     "status 1 when something is wrong.", 1, -1,
     cmd_check},
};
const size_t cli_user_ncmds = ARRAY_SIZE(cli_user_cmds);
