/* managesieve-script.c - the script commands of RFC 5804: HAVESPACE
 * (2.5), PUTSCRIPT (2.6), LISTSCRIPTS (2.7), SETACTIVE (2.8), GETSCRIPT
 * (2.9), DELETESCRIPT (2.10), RENAMESCRIPT (2.11), CHECKSCRIPT (2.12).
 *
 * Each runs as one job on the worker's pool (keyed by the user's store,
 * so one user's changes are serial), never on the event loop: the store
 * calls write and fsync, and compiling a script costs CPU. The session
 * waits parked meanwhile; pipelined commands follow in order.
 *
 * PUTSCRIPT compiles the script first: a script with errors is refused
 * with each error's line:column and nothing is stored; otherwise source
 * and compiled form are stored in one transaction (storage.h), and
 * warnings are returned in OK (WARNINGS). Storage results map to the
 * response codes as storage.h lists them.
 */
#include "managesieve-private.h"
#include "config.h"
#include "delivery.h"
#include "jobs.h"
#include "log.h"
#include "sieve.h"

enum sop { SOP_HAVESPACE, SOP_PUT, SOP_CHECK, SOP_LIST, SOP_SETACTIVE, SOP_GET, SOP_DELETE, SOP_RENAME };

#define ERR_COMPILE 1   /* not a storage error: the script did not compile */

struct script_job {
    enum sop op;
    struct mail_user *mu;
    char *user;                 /* CHECKSCRIPT: whose delivery errors to show */
    char *name, *name2;
    char *data;                 /* PUTSCRIPT/CHECKSCRIPT: the script */
    size_t len;
    uint64_t size;              /* HAVESPACE */
    struct sieve_limits limits;
    /* results */
    int err;
    struct buf diags;           /* line:col: error/warning lines */
    bool warnings;
    struct buf out;             /* LISTSCRIPTS lines, GETSCRIPT's string */
};

/* Compile the source; on success *bin holds the compiled form. */
static bool compile(struct script_job *j, unsigned char **bin, size_t *binlen)
{
    struct sieve_diags d = {0};
    bool ok = sieve_compile(j->data, j->len, &j->limits, bin, binlen, &d);
    struct buf lf = BUF_INIT;
    sieve_diags_format(&d, &lf);
    /* the last line's newline would end up in the response string */
    while (lf.len && lf.data[lf.len - 1] == '\n')
        lf.data[--lf.len] = '\0';
    /* RFC 5804 2.12: several messages in one string are separated by CRLF */
    for (size_t i = 0; i < lf.len; i++) {
        if (lf.data[i] == '\n')
            buf_putc(&j->diags, '\r');
        buf_putc(&j->diags, lf.data[i]);
    }
    buf_free(&lf);
    j->warnings = ok && d.n > 0;
    sieve_diags_free(&d);
    return ok;
}

static int list_cb(const struct sieve_store_info *info, void *arg)
{
    struct buf *out = arg;
    /* 2.7: each script as a string, the active one followed by ACTIVE */
    msv_put_string(out, info->name, strlen(info->name));
    if (info->active)
        buf_puts(out, " ACTIVE");
    buf_puts(out, "\r\n");
    return 0;
}

/* Issue 11: run-time errors at delivery are shown to the user - in
 * `darius sieve log` and as CHECKSCRIPT warnings (RFC 5804 2.12 allows
 * OK (WARNINGS) with any human-readable text): the newest few from the
 * log in duplicate.db, after the script's own diagnostics. */
#define CHECK_SHOW_ERRORS 5

struct log_ctx {
    struct buf lines[CHECK_SHOW_ERRORS];   /* a ring of the newest */
    size_t n;
};

static void log_cb(void *arg, int64_t t, const char *script, const char *message)
{
    struct log_ctx *c = arg;
    struct buf *b = &c->lines[c->n++ % CHECK_SHOW_ERRORS];
    buf_reset(b);
    char when[32];
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    else
        snprintf(when, sizeof(when), "?");
    buf_printf(b, "run-time error at delivery (%s, script \"%s\"): %s", when, script ? script : "", message);
}

static void add_delivery_errors(struct script_job *j)
{
    struct log_ctx c;
    memset(&c, 0, sizeof(c));
    if (sieve_log_list(j->user, log_cb, &c) < 0 || c.n == 0)
        return;
    size_t first = c.n > CHECK_SHOW_ERRORS ? c.n - CHECK_SHOW_ERRORS : 0;
    for (size_t i = first; i < c.n; i++) {
        if (j->diags.len)
            buf_puts(&j->diags, "\r\n");
        buf_append(&j->diags, c.lines[i % CHECK_SHOW_ERRORS].data, c.lines[i % CHECK_SHOW_ERRORS].len);
    }
    for (size_t i = 0; i < CHECK_SHOW_ERRORS; i++)
        buf_free(&c.lines[i]);
    j->warnings = true;
}

static void script_run(struct job *job, void *arg)
{
    (void)job;
    struct script_job *j = arg;
    unsigned char *bin = NULL;
    size_t binlen = 0;
    if (j->op == SOP_CHECK) {
        j->err = compile(j, &bin, &binlen) ? 0 : ERR_COMPILE;
        free(bin);
        if (j->err == 0)
            add_delivery_errors(j);
        return;
    }
    if (j->op == SOP_PUT) {
        /* the size limit first: a quota code is what the client needs */
        if (j->len > j->limits.max_script_size) {
            j->err = STORAGE_ERR_MAXSIZE;
            return;
        }
        if (!compile(j, &bin, &binlen)) {
            j->err = ERR_COMPILE;
            return;
        }
    }
    int err = storage_job_begin(j->mu, NULL);
    if (err < 0) {
        free(bin);
        j->err = err;
        return;
    }
    switch (j->op) {
    case SOP_HAVESPACE:
        err = sieve_store_havespace(j->mu, j->name, j->size);
        break;
    case SOP_PUT: {
        struct sieve_store_put p = {
            .source = j->data,
            .source_len = j->len,
            .compiled = bin,
            .compiled_len = binlen,
            .compiled_version = SIEVE_BINARY_VERSION,
        };
        err = sieve_store_put(j->mu, j->name, &p);
        break;
    }
    case SOP_LIST:
        err = sieve_store_list(j->mu, list_cb, &j->out);
        break;
    case SOP_SETACTIVE:
        err = sieve_store_activate(j->mu, j->name);
        break;
    case SOP_GET: {
        struct sieve_store_script sc;
        err = sieve_store_get(j->mu, j->name, false, &sc);
        if (err >= 0) {
            /* 2.9: the script as a string (a literal: scripts have lines) */
            buf_printf(&j->out, "{%zu}\r\n", sc.source_len);
            buf_append(&j->out, sc.source, sc.source_len);
            buf_puts(&j->out, "\r\n");
            sieve_store_free(&sc);
        }
        break;
    }
    case SOP_DELETE:
        err = sieve_store_delete(j->mu, j->name);
        break;
    case SOP_RENAME:
        err = sieve_store_rename(j->mu, j->name, j->name2);
        break;
    case SOP_CHECK:
        break;
    }
    storage_job_end(j->mu, NULL);
    free(bin);
    j->err = err < 0 ? err : 0;
}

static void job_free(struct script_job *j)
{
    free(j->user);
    free(j->name);
    free(j->name2);
    if (j->data) {
        explicit_bzero(j->data, j->len);
        free(j->data);
    }
    buf_free(&j->diags);
    buf_free(&j->out);
    free(j);
}

/* A storage result as the NO response RFC 5804 asks for. */
static void reply_storage_error(struct msv_session *s, const struct script_job *j)
{
    switch (j->err) {
    case STORAGE_ERR_NOTFOUND:
        msv_reply(s, "NO", "NONEXISTENT", "There is no script by that name");
        return;
    case STORAGE_ERR_EXISTS:
        msv_reply(s, "NO", "ALREADYEXISTS", "A script by that name already exists");
        return;
    case STORAGE_ERR_ACTIVE:
        msv_reply(s, "NO", "ACTIVE", "The script is active; deactivate it first (SETACTIVE \"\")");
        return;
    case STORAGE_ERR_MAXSIZE:
        msv_reply(s, "NO", "QUOTA/MAXSIZE", "Script is larger than sieve_maxscriptsize");
        return;
    case STORAGE_ERR_MAXSCRIPTS:
        msv_reply(s, "NO", "QUOTA/MAXSCRIPTS", "Too many scripts (sieve_maxscripts)");
        return;
    case STORAGE_ERR_OVERQUOTA:
        msv_reply(s, "NO", "QUOTA", "Over quota");
        return;
    case STORAGE_ERR_INVALID:
        msv_reply(s, "NO", NULL, "Invalid script name");
        return;
    case STORAGE_ERR_BUSY:
        msv_reply(s, "NO", "TRYLATER", "Store busy, try again later");
        return;
    default:
        log_err("managesieve: script operation failed: user=%s: %s", s->user ? s->user : "-",
                storage_strerror(j->err));
        msv_reply(s, "NO", "TRYLATER", "Internal error, try again later");
        return;
    }
}

static void script_finish(struct msv_session *s, bool gone, void *arg)
{
    struct script_job *j = arg;
    if (gone) {
        job_free(j);
        return;
    }
    if (j->err == ERR_COMPILE) {
        msv_reply(s, "NO", NULL, j->diags.len ? j->diags.data : "Script has errors");
    } else if (j->err < 0) {
        reply_storage_error(s, j);
    } else {
        if (j->out.len)
            msv_write(s, j->out.data, j->out.len);
        if ((j->op == SOP_PUT || j->op == SOP_CHECK) && j->warnings)
            msv_reply(s, "OK", "WARNINGS", j->diags.data);
        else
            msv_reply(s, "OK", NULL, NULL);
        if (j->op == SOP_PUT || j->op == SOP_SETACTIVE || j->op == SOP_DELETE || j->op == SOP_RENAME)
            log_info("managesieve: %s: user=%s script=%s%s%s",
                     j->op == SOP_PUT         ? "putscript"
                     : j->op == SOP_SETACTIVE ? "setactive"
                     : j->op == SOP_DELETE    ? "deletescript"
                                              : "renamescript",
                     s->user, j->name, j->name2 ? " to=" : "", j->name2 ? j->name2 : "");
    }
    job_free(j);
}

/* args[from..] are exactly n strings. */
static bool want_strings(const struct msv_command *cmd, size_t n)
{
    if (cmd->nargs != n + 1)
        return false;
    for (size_t i = 1; i <= n; i++)
        if (cmd->args[i].type != MSV_ARG_STRING)
            return false;
    return true;
}

/* A script name must be a string without NULs (storage judges the rest). */
static bool name_ok(const struct msv_arg *a)
{
    return !memchr(a->data, '\0', a->len);
}

/* RFC 5804 4: number = (NZDIGIT *DIGIT) / "0", 0..4294967295. */
static bool parse_number(const struct msv_arg *a, uint64_t *out)
{
    if (a->type != MSV_ARG_ATOM || a->len == 0 || a->len > 10 || (a->len > 1 && a->data[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < a->len; i++) {
        if (a->data[i] < '0' || a->data[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(a->data[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = v;
    return true;
}

static char *take_string(struct msv_arg *a, size_t *len)
{
    char *d = a->data;
    *len = a->len;
    a->data = NULL;
    a->len = 0;
    return d;
}

bool msv_script_command(struct msv_session *s, const char *name, struct msv_command *cmd)
{
    static const struct {
        const char *name;
        enum sop op;
        size_t nargs;
        const char *usage;
    } cmds[] = {
        {"HAVESPACE", SOP_HAVESPACE, 2, "Usage: HAVESPACE \"name\" size"},
        {"PUTSCRIPT", SOP_PUT, 2, "Usage: PUTSCRIPT \"name\" {size+}"},
        {"CHECKSCRIPT", SOP_CHECK, 1, "Usage: CHECKSCRIPT {size+}"},
        {"LISTSCRIPTS", SOP_LIST, 0, "Usage: LISTSCRIPTS"},
        {"SETACTIVE", SOP_SETACTIVE, 1, "Usage: SETACTIVE \"name\""},
        {"GETSCRIPT", SOP_GET, 1, "Usage: GETSCRIPT \"name\""},
        {"DELETESCRIPT", SOP_DELETE, 1, "Usage: DELETESCRIPT \"name\""},
        {"RENAMESCRIPT", SOP_RENAME, 2, "Usage: RENAMESCRIPT \"old\" \"new\""},
    };
    size_t k = 0;
    while (k < ARRAY_SIZE(cmds) && strcmp(cmds[k].name, name) != 0)
        k++;
    if (k == ARRAY_SIZE(cmds))
        return false;
    enum sop op = cmds[k].op;
    bool ok;
    if (op == SOP_HAVESPACE)
        ok = cmd->nargs == 3 && cmd->args[1].type == MSV_ARG_STRING && name_ok(&cmd->args[1]);
    else
        ok = want_strings(cmd, cmds[k].nargs);
    uint64_t size = 0;
    if (ok && op == SOP_HAVESPACE && !parse_number(&cmd->args[2], &size))
        ok = false;
    /* names (not script bodies) must not hide NULs from storage */
    if (ok && op != SOP_CHECK && op != SOP_LIST && op != SOP_HAVESPACE) {
        size_t nnames = op == SOP_RENAME ? 2 : 1;
        for (size_t i = 1; i <= nnames; i++)
            if (!name_ok(&cmd->args[i]))
                ok = false;
    }
    if (!ok) {
        msv_reply(s, "NO", NULL, cmds[k].usage);
        return true;
    }
    if (!s->mu) {
        msv_reply(s, "NO", "TRYLATER", "Store unavailable");
        return true;
    }
    struct script_job *j = xcalloc(1, sizeof(*j));
    j->op = op;
    j->mu = s->mu;
    j->size = size;
    sieve_limits_default(&j->limits);
    j->limits.max_script_size = (size_t)config_int(CFG_SIEVE_MAXSCRIPTSIZE) * 1024;
    switch (op) {
    case SOP_CHECK:
        j->user = xstrdup(s->user);
        j->data = take_string(&cmd->args[1], &j->len);
        break;
    case SOP_PUT:
        j->name = xstrdup(cmd->args[1].data);
        j->data = take_string(&cmd->args[2], &j->len);
        break;
    case SOP_LIST:
        break;
    case SOP_RENAME:
        j->name2 = xstrdup(cmd->args[2].data);
        j->name = xstrdup(cmd->args[1].data);
        break;
    default:
        j->name = xstrdup(cmd->args[1].data);
        break;
    }
    /* CHECKSCRIPT touches no store: no key, runs beside the user's jobs */
    msv_park(s, "managesieve", op == SOP_CHECK ? NULL : (const void *)s->mu, script_run, script_finish, j);
    return true;
}
