/* cli-sieve.c - "darius sieve ..." commands: users' Sieve scripts
 * (RFC 5228) as stored in their stores (storage.h, "Sieve scripts"), the
 * command-line counterpart of ManageSieve (RFC 5804).
 *
 *   sieve list USER [--json]
 *   sieve get USER [NAME] [--json]        (no NAME: the active script)
 *   sieve put USER NAME [FILE|-] [--activate]
 *   sieve activate USER NAME
 *   sieve deactivate USER
 *   sieve delete USER NAME
 *   sieve rename USER OLD NEW
 *   sieve check USER NAME | sieve check USER --file FILE   [--json]
 *   sieve test USER SCRIPTFILE MESSAGEFILE [--from A] [--to B] [--json]
 *   sieve import [--dry-run] [--json] USER DIR   (cli-sieve-import.c)
 *   sieve log [--json] USER | sieve log --clear USER   (run-time errors at
 *       delivery, kept in DATADIR/duplicate.db by delivery-sieve.c)
 *
 * Refusals name the RFC 5804 response code a ManageSieve client would
 * get (NONEXISTENT, ALREADYEXISTS, ACTIVE, QUOTA/MAXSIZE,
 * QUOTA/MAXSCRIPTS, QUOTA), so scripts can tell them apart; the exit
 * codes are the usual ones (darius --help).
 *
 * --json of "sieve list": an array of
 *   {"name":NAME,"active":BOOL,"size":BYTES,"mtime":EPOCH,
 *    "compiled_version":N|null}
 * and of "sieve get": one such object plus "source" (the text; JSON
 * strings cannot hold every byte string, so use the plain form to copy a
 * script exactly).
 */
#include "cli.h"
#include "auth.h"
#include "config.h"
#include "delivery-sieve.h"
#include "sieve.h"
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

/* Print why r refused what (for script name) and return the exit code. */
static int sieve_exit(int r, const char *what, const char *user, const char *name)
{
    const char *n = name ? name : "";
    switch (r) {
    case STORAGE_OK:
        return 0;
    case STORAGE_ERR_NOTFOUND:
        if (name)
            cli_error("%s: NONEXISTENT: %s has no Sieve script \"%s\"", what, user, n);
        else
            cli_error("%s: NONEXISTENT: %s has no active Sieve script", what, user);
        return CLI_EX_OTHER;
    case STORAGE_ERR_EXISTS:
        cli_error("%s: ALREADYEXISTS: %s already has a Sieve script \"%s\"", what, user, n);
        return EX_CANTCREAT;
    case STORAGE_ERR_ACTIVE:
        cli_error("%s: ACTIVE: \"%s\" is %s's active script; deactivate it first", what, n, user);
        return CLI_EX_OTHER;
    case STORAGE_ERR_MAXSIZE:
        cli_error("%s: QUOTA/MAXSIZE: the script is larger than sieve_maxscriptsize (%lld KiB)", what,
                  config_int(CFG_SIEVE_MAXSCRIPTSIZE));
        return CLI_EX_OTHER;
    case STORAGE_ERR_MAXSCRIPTS:
        cli_error("%s: QUOTA/MAXSCRIPTS: %s already has sieve_maxscripts (%lld) scripts", what, user,
                  config_int(CFG_SIEVE_MAXSCRIPTS));
        return CLI_EX_OTHER;
    case STORAGE_ERR_OVERQUOTA:
        cli_error("%s: QUOTA: the script would take %s over the storage quota", what, user);
        return CLI_EX_OTHER;
    case STORAGE_ERR_INVALID:
        cli_error("%s: invalid script name (RFC 5804 1.6: 1-%d bytes of UTF-8 without control characters)",
                  what, SIEVE_STORE_NAME_MAX);
        return EX_DATAERR;
    case STORAGE_ERR_BUSY:
        cli_error("%s: the mail store of %s is busy: %s", what, user, storage_strerror(r));
        return EX_TEMPFAIL;
    default:
        cli_error("%s: %s", what, storage_strerror(r));
        return EX_IOERR;
    }
}

/* Check the user and open the store (created when missing: a new
 * account's first script). 0 or an exit code. */
static int open_user(const char *arg, char name[AUTH_MAX_USERNAME + 1], struct mail_user **u)
{
    if (!cli_user_name(arg, name))
        return EX_USAGE;
    int r = cli_require_user(name);
    if (r)
        return r;
    r = mail_user_open(name, true, u);
    if (r != 0) {
        cli_error("cannot open the mail store of %s: %s", name, storage_strerror(r));
        return r == STORAGE_ERR_BUSY ? EX_TEMPFAIL : EX_IOERR;
    }
    return 0;
}

/* For the other sieve command files (cli-sieve-import.c). */
int cli_sieve_exit(int r, const char *what, const char *user, const char *name)
{
    return sieve_exit(r, what, user, name);
}

int cli_sieve_open_user(const char *arg, char *name, struct mail_user **u)
{
    return open_user(arg, name, u);
}

/* An operand that must be a valid script name; prints why not. */
static bool name_arg(const char *cmd, const char *name)
{
    if (sieve_store_name_valid(name))
        return true;
    sieve_exit(STORAGE_ERR_INVALID, cmd, "", name);
    return false;
}

static void json_info(struct cli_json *j, const struct sieve_store_info *i)
{
    cli_json_kv_string(j, "name", i->name);
    cli_json_kv_bool(j, "active", i->active);
    cli_json_kv_int(j, "size", (int64_t)i->size);
    cli_json_kv_int(j, "mtime", i->mtime);
    cli_json_key(j, "compiled_version");
    if (i->compiled_version)
        cli_json_int(j, i->compiled_version);
    else
        cli_json_null(j);
}

struct list_ctx {
    struct buf *b;
    struct cli_json *j;
};

static int list_one(const struct sieve_store_info *i, void *arg)
{
    struct list_ctx *c = arg;
    if (cli_opt_json) {
        cli_json_begin_object(c->j);
        json_info(c->j, i);
        cli_json_end_object(c->j);
    } else {
        buf_printf(c->b, "%s %llu byte%s%s\n", i->name, (unsigned long long)i->size, i->size == 1 ? "" : "s",
                   i->active ? " active" : "");
    }
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    (void)argc;
    char user[AUTH_MAX_USERNAME + 1];
    struct mail_user *u;
    int rc = open_user(argv[0], user, &u);
    if (rc)
        return rc;
    struct buf b = BUF_INIT;
    struct cli_json j;
    cli_json_init(&j, &b);
    struct list_ctx c = {&b, &j};
    if (cli_opt_json)
        cli_json_begin_array(&j);
    int r = sieve_store_list(u, list_one, &c);
    if (cli_opt_json) {
        cli_json_end_array(&j);
        buf_putc(&b, '\n');
    }
    mail_user_close(u);
    if (r != 0) {
        buf_free(&b);
        return sieve_exit(r, "sieve list", user, NULL);
    }
    cli_print_buf(&b);
    return 0;
}

static int cmd_get(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : NULL;
    if (name && !name_arg("sieve get", name))
        return EX_DATAERR;
    char user[AUTH_MAX_USERNAME + 1];
    struct mail_user *u;
    int rc = open_user(argv[0], user, &u);
    if (rc)
        return rc;
    struct sieve_store_script s;
    int r = sieve_store_get(u, name, false, &s);
    mail_user_close(u);
    if (r != 0)
        return sieve_exit(r, "sieve get", user, name);
    if (cli_opt_json) {
        struct buf b = BUF_INIT;
        struct cli_json j;
        cli_json_init(&j, &b);
        cli_json_begin_object(&j);
        json_info(&j, &s.info);
        cli_json_kv_string(&j, "source", s.source);
        cli_json_end_object(&j);
        buf_putc(&b, '\n');
        cli_print_buf(&b);
    } else {
        /* exactly the stored bytes */
        fwrite(s.source, 1, s.source_len, stdout);
    }
    sieve_store_free(&s);
    return 0;
}

/* Read the script from path ("-" or NULL: standard input), at most max
 * bytes: *too_big when there is more (the rest is not read). 0 or an
 * exit code. */
static int read_script(const char *path, size_t max, char **out, size_t *len, bool *too_big)
{
    int fd = STDIN_FILENO;
    bool from_file = path && strcmp(path, "-") != 0;
    if (from_file && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        cli_error("sieve put: %s: %s", path, strerror(errno));
        return EX_NOINPUT;
    }
    size_t cap = max + 1, n = 0;
    char *buf = xmalloc(cap + 1);
    int rc = 0;
    while (n < cap) {
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            cli_error("sieve put: reading %s: %s", from_file ? path : "standard input", strerror(errno));
            rc = EX_IOERR;
            break;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    if (from_file)
        close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *too_big = n > max;
    *out = buf;
    *len = n;
    return 0;
}

static void limits_from_config(struct sieve_limits *l)
{
    sieve_limits_default(l);
    l->max_script_size = (size_t)config_int(CFG_SIEVE_MAXSCRIPTSIZE) * 1024;
    long long mr = config_int(CFG_SIEVE_MAXREDIRECTS);
    if (mr > 0)
        l->max_redirects = (unsigned)mr;
}

/* Print a compile's diagnostics to stderr, each "WHAT: line:col: error: text". */
static void print_diags(const char *what, const struct sieve_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        cli_error("%s: %u:%u: %s: %s", what, d->v[i].line, d->v[i].col, d->v[i].warning ? "warning" : "error",
                  d->v[i].msg);
}

/* Compile-at-upload (issue 11): a script with errors is refused, with
 * line and column (as ManageSieve's PUTSCRIPT); otherwise its compiled
 * form is stored with the source in one transaction, so that delivery
 * need not compile it. 0 or an exit code; *owned gets memory to free
 * after the put. */
static int prepare_put(const char *name, struct sieve_store_put *p, void **owned)
{
    *owned = NULL;
    struct sieve_limits lim;
    limits_from_config(&lim);
    unsigned char *bin = NULL;
    size_t binlen = 0;
    struct sieve_diags d = {0};
    char what[SIEVE_STORE_NAME_MAX + 32];
    snprintf(what, sizeof(what), "sieve put: %s", name);
    bool ok = sieve_compile(p->source, p->source_len, &lim, &bin, &binlen, &d);
    print_diags(what, &d);
    sieve_diags_free(&d);
    if (!ok) {
        cli_error("sieve put: the script has errors; nothing stored");
        return EX_DATAERR;
    }
    p->compiled = bin;
    p->compiled_len = binlen;
    p->compiled_version = SIEVE_BINARY_VERSION;
    *owned = bin;
    return 0;
}

static int cmd_put(int argc, char **argv)
{
    const char *name = argv[1];
    if (!name_arg("sieve put", name))
        return EX_DATAERR;
    char user[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(argv[0], user))
        return EX_USAGE;
    int rc = cli_require_user(user);
    if (rc)
        return rc;
    /* Read no more than the limit allows: a huge input is refused
     * without being held in memory. */
    size_t max = (size_t)config_int(CFG_SIEVE_MAXSCRIPTSIZE) * 1024;
    char *src = NULL;
    size_t len = 0;
    bool too_big = false;
    if ((rc = read_script(argc > 2 ? argv[2] : NULL, max, &src, &len, &too_big)) != 0)
        return rc;
    if (too_big) {
        free(src);
        return sieve_exit(STORAGE_ERR_MAXSIZE, "sieve put", user, name);
    }
    struct sieve_store_put p = {.source = src, .source_len = len, .activate = cli_opt_activate};
    void *owned = NULL;
    if ((rc = prepare_put(name, &p, &owned)) != 0) {
        free(src);
        return rc;
    }
    struct mail_user *u;
    char uname[AUTH_MAX_USERNAME + 1];
    rc = open_user(user, uname, &u);
    if (rc == 0) {
        int r = sieve_store_put(u, name, &p);
        mail_user_close(u);
        rc = sieve_exit(r, "sieve put", user, name);
        if (rc == 0)
            printf("stored Sieve script \"%s\" of %s (%zu byte%s)%s\n", name, user, len, len == 1 ? "" : "s",
                   p.activate ? ", active" : "");
    }
    free(owned);
    free(src);
    return rc;
}

static int cmd_activate(int argc, char **argv)
{
    (void)argc;
    if (!name_arg("sieve activate", argv[1]))
        return EX_DATAERR;
    char user[AUTH_MAX_USERNAME + 1];
    struct mail_user *u;
    int rc = open_user(argv[0], user, &u);
    if (rc)
        return rc;
    int r = sieve_store_activate(u, argv[1]);
    mail_user_close(u);
    if ((rc = sieve_exit(r, "sieve activate", user, argv[1])) == 0)
        printf("Sieve script \"%s\" of %s is active\n", argv[1], user);
    return rc;
}

static int cmd_deactivate(int argc, char **argv)
{
    (void)argc;
    char user[AUTH_MAX_USERNAME + 1];
    struct mail_user *u;
    int rc = open_user(argv[0], user, &u);
    if (rc)
        return rc;
    int r = sieve_store_activate(u, NULL);
    mail_user_close(u);
    if ((rc = sieve_exit(r, "sieve deactivate", user, NULL)) == 0)
        printf("%s has no active Sieve script\n", user);
    return rc;
}

static int cmd_delete(int argc, char **argv)
{
    (void)argc;
    if (!name_arg("sieve delete", argv[1]))
        return EX_DATAERR;
    char user[AUTH_MAX_USERNAME + 1];
    struct mail_user *u;
    int rc = open_user(argv[0], user, &u);
    if (rc)
        return rc;
    int r = sieve_store_delete(u, argv[1]);
    mail_user_close(u);
    if ((rc = sieve_exit(r, "sieve delete", user, argv[1])) == 0)
        printf("deleted Sieve script \"%s\" of %s\n", argv[1], user);
    return rc;
}

static int cmd_rename(int argc, char **argv)
{
    (void)argc;
    if (!name_arg("sieve rename", argv[1]) || !name_arg("sieve rename", argv[2]))
        return EX_DATAERR;
    char user[AUTH_MAX_USERNAME + 1];
    struct mail_user *u;
    int rc = open_user(argv[0], user, &u);
    if (rc)
        return rc;
    int r = sieve_store_rename(u, argv[1], argv[2]);
    mail_user_close(u);
    /* NONEXISTENT names the old name, ALREADYEXISTS the new one */
    if ((rc = sieve_exit(r, "sieve rename", user, r == STORAGE_ERR_EXISTS ? argv[2] : argv[1])) == 0)
        printf("renamed Sieve script \"%s\" of %s to \"%s\"\n", argv[1], user, argv[2]);
    return rc;
}

/* Read a whole file (for check --file and test), at most max bytes. */
static int read_named(const char *what, const char *path, size_t max, char **out, size_t *len)
{
    bool too_big = false;
    int rc = read_script(path, max, out, len, &too_big);
    if (rc)
        return rc;
    if (too_big) {
        cli_error("%s: %s is larger than %zu bytes", what, path, max);
        free(*out);
        *out = NULL;
        return EX_DATAERR;
    }
    return 0;
}

static void json_diags(struct cli_json *j, const struct sieve_diags *d)
{
    cli_json_key(j, "diagnostics");
    cli_json_begin_array(j);
    for (size_t i = 0; i < d->n; i++) {
        cli_json_begin_object(j);
        cli_json_kv_int(j, "line", d->v[i].line);
        cli_json_kv_int(j, "column", d->v[i].col);
        cli_json_kv_string(j, "severity", d->v[i].warning ? "warning" : "error");
        cli_json_kv_string(j, "message", d->v[i].msg);
        cli_json_end_object(j);
    }
    cli_json_end_array(j);
}

/* sieve check USER NAME | sieve check USER --file F: compile, print the
 * diagnostics (line:col), exit 0 or EX_DATAERR (65). */
static int cmd_check(int argc, char **argv)
{
    char user[AUTH_MAX_USERNAME + 1];
    char *src = NULL;
    size_t len = 0;
    const char *label;
    if (cli_opt_file) {
        if (argc > 1) {
            cli_error("sieve check: give NAME or --file, not both");
            return EX_USAGE;
        }
        if (!cli_user_name(argv[0], user))
            return EX_USAGE;
        int rc = cli_require_user(user);
        if (rc)
            return rc;
        rc = read_named("sieve check", cli_opt_file, (size_t)config_int(CFG_SIEVE_MAXSCRIPTSIZE) * 1024, &src,
                            &len);
        if (rc)
            return rc;
        label = cli_opt_file;
    } else {
        if (argc < 2) {
            cli_error("sieve check: give a script NAME or --file FILE");
            return EX_USAGE;
        }
        if (!name_arg("sieve check", argv[1]))
            return EX_DATAERR;
        struct mail_user *u;
        int rc = open_user(argv[0], user, &u);
        if (rc)
            return rc;
        struct sieve_store_script sc;
        int r = sieve_store_get(u, argv[1], false, &sc);
        mail_user_close(u);
        if (r != 0)
            return sieve_exit(r, "sieve check", user, argv[1]);
        src = sc.source;
        len = sc.source_len;
        sc.source = NULL;
        sieve_store_free(&sc);
        label = argv[1];
    }
    struct sieve_limits lim;
    limits_from_config(&lim);
    unsigned char *bin = NULL;
    size_t binlen = 0;
    struct sieve_diags d = {0};
    bool ok = sieve_compile(src, len, &lim, &bin, &binlen, &d);
    free(bin);
    free(src);
    if (cli_opt_json) {
        struct buf b = BUF_INIT;
        struct cli_json j;
        cli_json_init(&j, &b);
        cli_json_begin_object(&j);
        cli_json_kv_string(&j, "script", label);
        cli_json_kv_bool(&j, "ok", ok);
        json_diags(&j, &d);
        cli_json_end_object(&j);
        buf_putc(&b, '\n');
        cli_print_buf(&b);
    } else {
        for (size_t i = 0; i < d.n; i++)
            printf("%s:%u:%u: %s: %s\n", label, d.v[i].line, d.v[i].col, d.v[i].warning ? "warning" : "error",
                   d.v[i].msg);
        if (ok)
            printf("%s: OK\n", label);
    }
    sieve_diags_free(&d);
    return ok ? 0 : EX_DATAERR;
}

static const char *action_name(enum sieve_action_type t)
{
    switch (t) {
    case SIEVE_ACT_KEEP: return "keep";
    case SIEVE_ACT_FILEINTO: return "fileinto";
    case SIEVE_ACT_REDIRECT: return "redirect";
    case SIEVE_ACT_DISCARD: return "discard";
    case SIEVE_ACT_REJECT: return "reject";
    case SIEVE_ACT_EREJECT: return "ereject";
    case SIEVE_ACT_VACATION: return "vacation";
    case SIEVE_ACT_NOTIFY: return "notify";
    case SIEVE_ACT_ADDHEADER: return "addheader";
    case SIEVE_ACT_DELETEHEADER: return "deleteheader";
    }
    return "?";
}

static void json_opt_string(struct cli_json *j, const char *key, const char *v)
{
    if (v)
        cli_json_kv_string(j, key, v);
}

static void json_action(struct cli_json *j, const struct sieve_action *a)
{
    cli_json_begin_object(j);
    cli_json_kv_string(j, "action", action_name(a->type));
    if (a->type == SIEVE_ACT_KEEP)
        cli_json_kv_bool(j, "implicit", a->implicit);
    if (a->type == SIEVE_ACT_FILEINTO || ((a->type == SIEVE_ACT_VACATION || a->type == SIEVE_ACT_NOTIFY) && a->mailbox))
        json_opt_string(j, a->type == SIEVE_ACT_FILEINTO ? "mailbox" : "fcc", a->mailbox);
    if (a->type == SIEVE_ACT_REDIRECT)
        json_opt_string(j, "address", a->address);
    if (a->type == SIEVE_ACT_NOTIFY)
        json_opt_string(j, "method", a->address);
    if (a->type == SIEVE_ACT_ADDHEADER || a->type == SIEVE_ACT_DELETEHEADER)
        json_opt_string(j, "field", a->address);
    json_opt_string(j, a->type == SIEVE_ACT_ADDHEADER ? "value" : a->type == SIEVE_ACT_NOTIFY ? "message" : "reason",
                    a->text);
    if (a->copy)
        cli_json_kv_bool(j, "copy", true);
    if (a->create)
        cli_json_kv_bool(j, "create", true);
    json_opt_string(j, "specialuse", a->specialuse);
    json_opt_string(j, "mailboxid", a->mailboxid);
    if (a->flags_set) {
        cli_json_key(j, "flags");
        cli_json_begin_array(j);
        for (size_t k = 0; k < a->nflags; k++)
            cli_json_string(j, a->flags[k]);
        cli_json_end_array(j);
    }
    if (a->type == SIEVE_ACT_VACATION) {
        cli_json_kv_int(j, "seconds", (int64_t)a->seconds);
        json_opt_string(j, "subject", a->subject);
        json_opt_string(j, "from", a->from);
        json_opt_string(j, "handle", a->handle);
        cli_json_kv_bool(j, "mime", a->mime);
    }
    if (a->type == SIEVE_ACT_NOTIFY) {
        json_opt_string(j, "from", a->from);
        json_opt_string(j, "importance", a->importance);
    }
    if (a->naddresses) {
        cli_json_key(j, a->type == SIEVE_ACT_NOTIFY ? "options" : "addresses");
        cli_json_begin_array(j);
        for (size_t k = 0; k < a->naddresses; k++)
            cli_json_string(j, a->addresses[k]);
        cli_json_end_array(j);
    }
    cli_json_end_object(j);
}

/* sieve test USER SCRIPTFILE MESSAGEFILE [--from A] [--to B]: run the
 * script against the message as delivery would for USER (the mailbox
 * tests and personal includes see USER's store) and print the actions;
 * nothing is delivered or sent (Pigeonhole's sieve-test). */
static int cmd_test(int argc, char **argv)
{
    (void)argc;
    char user[AUTH_MAX_USERNAME + 1];
    size_t maxscript = (size_t)config_int(CFG_SIEVE_MAXSCRIPTSIZE) * 1024;
    char *src = NULL, *msg = NULL;
    size_t slen = 0, mlen = 0;
    int rc = read_named("sieve test", argv[1], maxscript, &src, &slen);
    if (rc)
        return rc;
    rc = read_named("sieve test", argv[2], (size_t)config_int(CFG_MAXMESSAGESIZE), &msg, &mlen);
    if (rc) {
        free(src);
        return rc;
    }
    struct sieve_limits lim;
    limits_from_config(&lim);
    unsigned char *bin = NULL;
    size_t binlen = 0;
    struct sieve_diags d = {0};
    bool ok = sieve_compile(src, slen, &lim, &bin, &binlen, &d);
    free(src);
    print_diags(argv[1], &d);
    sieve_diags_free(&d);
    if (!ok) {
        free(msg);
        return EX_DATAERR;
    }
    enum sieve_load_status ls;
    struct sieve_script *script = sieve_binary_load(bin, binlen, &lim, &ls);
    free(bin);
    struct mail_user *u = NULL;
    rc = script ? open_user(argv[0], user, &u) : EX_SOFTWARE;
    if (rc) {
        sieve_script_free(script);
        free(msg);
        return rc;
    }
    struct dsieve_opts o;
    dsieve_opts_from_config(&o);
    o.limits = lim;
    struct dsieve_cbctx cbc = {.u = u, .o = &o};
    struct sieve_callbacks cb;
    dsieve_callbacks(&cb, &cbc);
    struct sieve_envelope env = {.from = cli_opt_from ? cli_opt_from : "", .to = cli_opt_to ? cli_opt_to : user};
    struct sieve_result *res = NULL;
    enum sieve_run_status st = sieve_run(script, msg, mlen, &env, &cb, &o.run, &lim, &res);
    struct buf b = BUF_INIT;
    if (cli_opt_json) {
        struct cli_json j;
        cli_json_init(&j, &b);
        cli_json_begin_object(&j);
        cli_json_key(&j, "error");
        if (st != SIEVE_RUN_OK && sieve_result_error(res))
            cli_json_string(&j, sieve_result_error(res));
        else
            cli_json_null(&j);
        cli_json_key(&j, "actions");
        cli_json_begin_array(&j);
        for (size_t i = 0; i < sieve_result_count(res); i++)
            json_action(&j, sieve_result_action(res, i));
        cli_json_end_array(&j);
        cli_json_end_object(&j);
        buf_putc(&b, '\n');
    } else {
        if (st != SIEVE_RUN_OK)
            buf_printf(&b, "run-time error: %s\n", sieve_result_error(res) ? sieve_result_error(res) : "error");
        sieve_result_describe(res, &b);
    }
    cli_print_buf(&b);
    sieve_result_free(res);
    sieve_script_free(script);
    dsieve_opts_free(&o);
    mail_user_close(u);
    free(msg);
    return 0;
}

/* ---- sieve log: the user's run-time errors (delivery-dup.c) ---- */

static void log_one(void *arg, int64_t t, const char *script, const char *message)
{
    struct list_ctx *c = arg;
    char when[32] = "?";
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (cli_opt_json) {
        cli_json_begin_object(c->j);
        cli_json_kv_int(c->j, "time", t);
        cli_json_kv_string(c->j, "date", when);
        cli_json_kv_string(c->j, "script", script ? script : "");
        cli_json_kv_string(c->j, "message", message ? message : "");
        cli_json_end_object(c->j);
    } else {
        buf_printf(c->b, "%s %s: %s\n", when, script ? script : "-", message ? message : "");
    }
}

static int cmd_log(int argc, char **argv)
{
    (void)argc;
    char user[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(argv[0], user))
        return EX_USAGE;
    /* an account that is gone may still have entries: --clear works
     * for it, listing asks for an existing user */
    if (!cli_opt_clear) {
        int rc = cli_require_user(user);
        if (rc)
            return rc;
    }
    if (cli_opt_clear) {
        long n = sieve_log_clear(user);
        duplicate_close();
        if (n < 0) {
            cli_error("sieve log: cannot clear the log of %s", user);
            return EX_IOERR;
        }
        printf("sieve log: removed %ld entr%s for %s\n", n, n == 1 ? "y" : "ies", user);
        return 0;
    }
    struct buf b = BUF_INIT;
    struct cli_json j;
    cli_json_init(&j, &b);
    struct list_ctx c = {&b, &j};
    if (cli_opt_json)
        cli_json_begin_array(&j);
    int r = sieve_log_list(user, log_one, &c);
    if (cli_opt_json) {
        cli_json_end_array(&j);
        buf_putc(&b, '\n');
    }
    duplicate_close();
    if (r != 0) {
        buf_free(&b);
        cli_error("sieve log: cannot read the log of %s", user);
        return EX_IOERR;
    }
    cli_print_buf(&b);
    return 0;
}

const struct cli_cmd cli_sieve_cmds[] = {
    {"sieve", "list", "[--json] USER",
     "List the user's Sieve scripts (\"NAME SIZE bytes [active]\"); --json: [{\"name\",\"active\",\"size\","
     "\"mtime\",\"compiled_version\"},...].",
     1, 1, cmd_list},
    {"sieve", "get", "[--json] USER [NAME]",
     "Print a script's source exactly as stored (no NAME: the active script); --json: its list entry plus "
     "\"source\".",
     1, 2, cmd_get},
    {"sieve", "put", "[--activate] USER NAME [FILE|-]",
     "Store (create or replace, atomically) a script read from FILE or standard input; --activate also makes "
     "it the active script. Refused over sieve_maxscriptsize (QUOTA/MAXSIZE), sieve_maxscripts "
     "(QUOTA/MAXSCRIPTS) or the user's storage quota (QUOTA). The script is compiled first: one with errors is "
     "refused (each error as line:column; exit 65) and its compiled form is stored with it.",
     2, 3, cmd_put},
    {"sieve", "check", "[--json] USER NAME | [--json] USER --file FILE",
     "Compile the user's stored script NAME (or FILE) and print its errors and warnings as FILE:line:column: "
     "...; exit 65 when it has errors. --json: {\"script\",\"ok\",\"diagnostics\":[{\"line\",\"column\","
     "\"severity\",\"message\"}]}.",
     1, 2, cmd_check},
    {"sieve", "test", "[--json] [--from ADDR] [--to ADDR] USER SCRIPTFILE MESSAGEFILE",
     "Run SCRIPTFILE against MESSAGEFILE for USER (envelope from ADDR, default <>; to ADDR, default USER) and "
     "print the actions, one a line; nothing is delivered or sent (as Pigeonhole's sieve-test). --json: "
     "{\"error\",\"actions\":[{\"action\",...}]}.",
     3, 3, cmd_test},
    {"sieve", "activate", "USER NAME", "Make NAME the user's active script (only one is active).", 2, 2,
     cmd_activate},
    {"sieve", "deactivate", "USER", "Leave the user without an active script.", 1, 1, cmd_deactivate},
    {"sieve", "delete", "USER NAME", "Delete a script; the active script must be deactivated first (ACTIVE).",
     2, 2, cmd_delete},
    {"sieve", "rename", "USER OLD NEW",
     "Rename a script (NONEXISTENT, ALREADYEXISTS); the active script stays active.", 3, 3, cmd_rename},
    {"sieve", "log", "[--json] USER | --clear USER",
     "Print the run-time errors of the user's Sieve scripts at delivery (the last 50, oldest first), one a line "
     "as \"DATE SCRIPT: MESSAGE\" (DATE in UTC; a global script by its file name); --json: [{\"time\",\"date\","
     "\"script\",\"message\"},...]. --clear removes them.",
     1, 1, cmd_log},
    {"sieve", "import", "[--dry-run] [--json] USER DIR",
     "Import the user's scripts from a Cyrus sievedir (NAME.script, the defaultbc link) or a Dovecot home "
     "(sieve/NAME.sieve, the .dovecot.sieve link) or script directory; each is compiled, the active one "
     "activated unless it has errors (scripts with errors are stored but reported; exit 1).",
     2, 2, cli_sieve_import},
};
const size_t cli_sieve_ncmds = ARRAY_SIZE(cli_sieve_cmds);
