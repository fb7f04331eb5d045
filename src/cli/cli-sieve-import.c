/* cli-sieve-import.c - "darius sieve import": a user's Sieve scripts from
 * the server being replaced.
 *
 *   sieve import [--dry-run] [--json] USER DIR
 *
 * DIR is one of:
 *   - a Cyrus sievedir (sievedir/u/user/ and the like): NAME.script are
 *     the sources, NAME.bc Cyrus's bytecode (ignored: we compile the
 *     source), and the symbolic link "defaultbc" -> NAME.bc names the
 *     active script;
 *   - a Dovecot (Pigeonhole) home directory holding sieve/NAME.sieve and
 *     the link .dovecot.sieve -> sieve/NAME.sieve for the active script;
 *     a regular file .dovecot.sieve is the active script itself and is
 *     imported as "dovecot.orig", the name Pigeonhole gives it when it
 *     moves such a file into its script directory;
 *   - Dovecot's script directory itself (NAME.sieve files); the active
 *     link is then looked for as ../.dovecot.sieve.
 * Compiled forms (*.bc, *.svbin) and Dovecot's tmp/ are skipped.
 *
 * Every script is compiled as it is stored (so delivery need not), with
 * the same limits as a ManageSieve PUTSCRIPT. A script that does not
 * compile is still imported - it is the user's text, and failing the
 * whole migration for one script that uses an extension we lack would
 * lose the others - but it is reported with its errors (line:column)
 * and never made active: delivery keeps mail in INBOX instead of running
 * half a filter. The exit status is 0 when every script was imported
 * cleanly, 1 otherwise.
 *
 * --json: {"format":"cyrus"|"dovecot","scripts":[{"name","file","size",
 * "active","imported","errors":[...]}...]}.
 */
#include "cli.h"
#include "auth.h"
#include "config.h"
#include "sieve.h"
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMPORT_MAX_SCRIPTS 1000     /* files looked at in one directory */

struct import_script {
    char name[SIEVE_STORE_NAME_MAX + 1];
    char *path;
    bool active;
    bool imported;
    uint64_t size;
    struct buf errors;              /* "line:col: error: ...\n" lines or a refusal */
};

struct import {
    const char *format;             /* "cyrus", "dovecot" */
    char *dir;                      /* where the scripts are */
    char active[SIEVE_STORE_NAME_MAX + 1];  /* "" = none */
    struct import_script *v;
    size_t n, cap;
};

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a > b && strcmp(s + a - b, suf) == 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The script name a link target ("NAME.bc", "sieve/NAME.sieve") points at. */
static void name_from_link(const char *target, const char *suffix, char *out, size_t outlen)
{
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    size_t len = strlen(base), sl = strlen(suffix);
    out[0] = '\0';
    if (len > sl && strcmp(base + len - sl, suffix) == 0 && len - sl < outlen) {
        memcpy(out, base, len - sl);
        out[len - sl] = '\0';
    }
}

static void add_script(struct import *im, const char *name, const char *path)
{
    ARRAY_GROW(im->v, im->n, im->cap);
    struct import_script *s = &im->v[im->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->path = xstrdup(path);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct import_script *)a)->name, ((const struct import_script *)b)->name);
}

/* Collect DIR's files ending in suffix. 0 or an exit code. */
static int scan(struct import *im, const char *suffix)
{
    DIR *d = opendir(im->dir);
    if (!d) {
        cli_error("sieve import: %s: %s", im->dir, strerror(errno));
        return EX_NOINPUT;
    }
    struct dirent *e;
    size_t seen = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_suffix(e->d_name, suffix))
            continue;
        if (++seen > IMPORT_MAX_SCRIPTS) {
            cli_error("sieve import: %s: more than %d scripts; stopping", im->dir, IMPORT_MAX_SCRIPTS);
            break;
        }
        struct buf path = BUF_INIT;
        buf_printf(&path, "%s/%s", im->dir, e->d_name);
        struct stat st;
        if (stat(buf_cstr(&path), &st) == 0 && S_ISREG(st.st_mode)) {
            char name[NAME_MAX + 1];
            size_t len = strlen(e->d_name) - strlen(suffix);
            memcpy(name, e->d_name, len);
            name[len] = '\0';
            add_script(im, name, buf_cstr(&path));
        }
        buf_free(&path);
    }
    closedir(d);
    qsort(im->v, im->n, sizeof(*im->v), by_name);
    return 0;
}

/* The target of the symbolic link at path ("" if none). */
static void read_link(const char *path, char *out, size_t outlen)
{
    ssize_t k = readlink(path, out, outlen - 1);
    out[k > 0 ? k : 0] = '\0';
}

/* Find the format and the scripts. 0 or an exit code. */
static int discover(struct import *im, const char *arg)
{
    char link[PATH_MAX];
    struct buf path = BUF_INIT;
    struct stat st;
    int rc;
    if (!is_dir(arg)) {
        cli_error("sieve import: %s: not a directory", arg);
        return EX_NOINPUT;
    }
    buf_printf(&path, "%s/defaultbc", arg);
    bool cyrus = lstat(buf_cstr(&path), &st) == 0;
    if (!cyrus) {
        DIR *d = opendir(arg);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL)
            if (has_suffix(e->d_name, ".script"))
                cyrus = true;
        if (d)
            closedir(d);
    }
    if (cyrus) {
        im->format = "cyrus";
        im->dir = xstrdup(arg);
        read_link(buf_cstr(&path), link, sizeof(link));
        name_from_link(link, ".bc", im->active, sizeof(im->active));
        buf_free(&path);
        return scan(im, ".script");
    }
    im->format = "dovecot";
    struct buf home = BUF_INIT;
    buf_reset(&path);
    buf_printf(&path, "%s/sieve", arg);
    if (is_dir(buf_cstr(&path))) {
        im->dir = buf_release(&path);
        buf_puts(&home, arg);
    } else {
        im->dir = xstrdup(arg);
        buf_printf(&home, "%s/..", arg);
    }
    rc = scan(im, ".sieve");
    if (rc == 0) {
        buf_reset(&path);
        buf_printf(&path, "%s/.dovecot.sieve", buf_cstr(&home));
        if (lstat(buf_cstr(&path), &st) == 0) {
            if (S_ISLNK(st.st_mode)) {
                read_link(buf_cstr(&path), link, sizeof(link));
                name_from_link(link, ".sieve", im->active, sizeof(im->active));
            } else if (S_ISREG(st.st_mode)) {
                /* Pigeonhole's name for a plain .dovecot.sieve it adopts */
                snprintf(im->active, sizeof(im->active), "dovecot.orig");
                add_script(im, im->active, buf_cstr(&path));
            }
        }
    }
    buf_free(&path);
    buf_free(&home);
    return rc;
}

/* Read at most max+1 bytes of path; *fsize = the file's size. */
static char *read_file(const char *path, size_t max, size_t *len, uint64_t *fsize, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    struct stat st;
    *fsize = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    char *b = xmalloc(max + 2);
    size_t n = 0;
    while (n < max + 1) {
        ssize_t k = read(fd, b + n, max + 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            *err = errno;
            close(fd);
            free(b);
            return NULL;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    b[n] = '\0';
    *len = n;
    return b;
}

/* Import one script (or, with --dry-run, only compile it). */
static void import_one(struct mail_user *u, struct import_script *s, const struct sieve_limits *lim)
{
    size_t max = lim->max_script_size, len = 0;
    int err = 0;
    if (!sieve_store_name_valid(s->name)) {
        buf_printf(&s->errors, "not a valid script name (RFC 5804 1.6)\n");
        return;
    }
    char *src = read_file(s->path, max, &len, &s->size, &err);
    if (!src) {
        buf_printf(&s->errors, "cannot read: %s\n", strerror(err));
        return;
    }
    if (len > max) {
        buf_printf(&s->errors, "QUOTA/MAXSIZE: larger than sieve_maxscriptsize (%zu KiB)\n", max / 1024);
        free(src);
        return;
    }
    unsigned char *bin = NULL;
    size_t binlen = 0;
    struct sieve_diags diags = {0};
    bool ok = sieve_compile(src, len, lim, &bin, &binlen, &diags);
    if (!ok)
        sieve_diags_format(&diags, &s->errors);
    sieve_diags_free(&diags);
    if (cli_opt_dry_run) {
        free(bin);
        free(src);
        return;
    }
    struct sieve_store_put p = {.source = src, .source_len = len};
    if (ok) {
        p.compiled = bin;
        p.compiled_len = binlen;
        p.compiled_version = SIEVE_BINARY_VERSION;
    }
    int r = sieve_store_put(u, s->name, &p);
    if (r == 0)
        s->imported = true;
    else
        buf_printf(&s->errors, "not stored: %s\n", r == STORAGE_ERR_MAXSCRIPTS ? "QUOTA/MAXSCRIPTS: sieve_maxscripts reached"
                                                   : r == STORAGE_ERR_OVERQUOTA ? "QUOTA: over the storage quota"
                                                                                : storage_strerror(r));
    free(bin);
    free(src);
}

static void report(const struct import *im, bool activated)
{
    struct buf b = BUF_INIT;
    if (cli_opt_json) {
        struct cli_json j;
        cli_json_init(&j, &b);
        cli_json_begin_object(&j);
        cli_json_kv_string(&j, "format", im->format);
        cli_json_kv_bool(&j, "dry_run", cli_opt_dry_run);
        cli_json_key(&j, "scripts");
        cli_json_begin_array(&j);
        for (size_t i = 0; i < im->n; i++) {
            const struct import_script *s = &im->v[i];
            cli_json_begin_object(&j);
            cli_json_kv_string(&j, "name", s->name);
            cli_json_kv_string(&j, "file", s->path);
            cli_json_kv_int(&j, "size", (int64_t)s->size);
            cli_json_kv_bool(&j, "active", s->active && activated);
            cli_json_kv_bool(&j, "imported", s->imported);
            cli_json_key(&j, "errors");
            cli_json_begin_array(&j);
            const char *p = buf_cstr(&s->errors);
            while (*p) {
                const char *nl = strchr(p, '\n');
                size_t l = nl ? (size_t)(nl - p) : strlen(p);
                char *line = xmalloc(l + 1);
                memcpy(line, p, l);
                line[l] = '\0';
                cli_json_string(&j, line);
                free(line);
                p += l + (nl ? 1 : 0);
            }
            cli_json_end_array(&j);
            cli_json_end_object(&j);
        }
        cli_json_end_array(&j);
        cli_json_end_object(&j);
        buf_putc(&b, '\n');
    } else {
        for (size_t i = 0; i < im->n; i++) {
            const struct import_script *s = &im->v[i];
            const char *what = cli_opt_dry_run ? (s->errors.len ? "would import, with errors" : "would import")
                               : s->imported   ? (s->errors.len ? "imported, with errors" : "imported")
                                               : "NOT imported";
            char shown[sizeof(s->name)];
            size_t k = 0;
            for (const char *c = s->name; *c && k + 1 < sizeof(shown); c++)
                shown[k++] = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
            shown[k] = '\0';
            buf_printf(&b, "%s: %s (%llu bytes)%s\n", shown, what, (unsigned long long)s->size,
                       s->active ? (activated ? ", active" : ", was active: NOT activated") : "");
            const char *p = buf_cstr(&s->errors);
            while (*p) {
                const char *nl = strchr(p, '\n');
                size_t l = nl ? (size_t)(nl - p) : strlen(p);
                buf_printf(&b, "  %.*s\n", (int)l, p);
                p += l + (nl ? 1 : 0);
            }
        }
        if (im->n == 0)
            buf_printf(&b, "no %s Sieve scripts in %s\n", im->format, im->dir);
    }
    cli_print_buf(&b);
}

int cli_sieve_import(int argc, char **argv)
{
    (void)argc;
    struct import im = {0};
    int rc = discover(&im, argv[1]);
    if (rc)
        return rc;
    for (size_t i = 0; i < im.n; i++)
        if (im.active[0] && strcmp(im.v[i].name, im.active) == 0)
            im.v[i].active = true;
    struct sieve_limits lim;
    sieve_limits_default(&lim);
    lim.max_script_size = (size_t)config_int(CFG_SIEVE_MAXSCRIPTSIZE) * 1024;
    lim.max_redirects = (unsigned)config_int(CFG_SIEVE_MAXREDIRECTS);
    char user[AUTH_MAX_USERNAME + 1];
    struct mail_user *u = NULL;
    if (!cli_opt_dry_run && (rc = cli_sieve_open_user(argv[0], user, &u)) != 0)
        goto out;
    if (cli_opt_dry_run && (!cli_user_name(argv[0], user) || (rc = cli_require_user(user)) != 0)) {
        rc = rc ? rc : EX_USAGE;
        goto out;
    }
    bool all_ok = true, activated = false;
    for (size_t i = 0; i < im.n; i++) {
        import_one(u, &im.v[i], &lim);
        if (im.v[i].errors.len)
            all_ok = false;
    }
    for (size_t i = 0; i < im.n; i++) {
        struct import_script *s = &im.v[i];
        if (!s->active)
            continue;
        if (cli_opt_dry_run)
            activated = s->errors.len == 0;
        else if (s->imported && s->errors.len == 0) {
            int r = sieve_store_activate(u, s->name);
            activated = r == 0;
            if (r != 0) {
                buf_printf(&s->errors, "not activated: %s\n", storage_strerror(r));
                all_ok = false;
            }
        }
    }
    if (u)
        mail_user_close(u);
    report(&im, activated);
    rc = all_ok ? 0 : CLI_EX_OTHER;
out:
    for (size_t i = 0; i < im.n; i++) {
        free(im.v[i].path);
        buf_free(&im.v[i].errors);
    }
    free(im.v);
    free(im.dir);
    return rc;
}
