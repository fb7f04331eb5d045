/* delivery-sieve.c - Sieve (RFC 5228) at final delivery: load and run the
 * scripts for one recipient and carry out their actions (delivery-sieve.h).
 *
 * Runs on a job thread (LMTP) or inline (`darius deliver`): no
 * configuration is read here but in dsieve_opts_from_config, on the loop.
 * The store handle is the one delivery_prepare opened on the loop; the
 * script and the mailbox tests use its job connection (storage_job_begin),
 * the copies are committed with mailbox_append_batch like any delivery.
 */
#include "delivery-sieve.h"
#include "access.h"
#include "config.h"
#include "log.h"
#include "mime.h"
#include "storage.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- options (loop thread) ---------------------------------------------- */

static void split_paths(const char *list, char **out, size_t *n, const char *key)
{
    *n = 0;
    const char *p = list;
    while (*p) {
        p += strspn(p, " \t,");
        size_t l = strcspn(p, " \t,");
        if (!l)
            break;
        if (*n >= DSIEVE_MAX_GLOBAL) {
            log_warn("sieve: %s names more than %d scripts; the rest are ignored", key, DSIEVE_MAX_GLOBAL);
            break;
        }
        out[(*n)++] = xstrndup(p, l);
        p += l;
    }
}

void dsieve_opts_from_config(struct dsieve_opts *o)
{
    memset(o, 0, sizeof(*o));
    sendmail_opts_from_config(&o->sendmail);
    snprintf(o->servername, sizeof(o->servername), "%s", delivery_servername());
    sieve_limits_default(&o->limits);
    o->limits.max_script_size = (size_t)config_int(CFG_SIEVE_MAXSCRIPTSIZE) * 1024;
    long long mr = config_int(CFG_SIEVE_MAXREDIRECTS);
    o->redirect_allowed = mr > 0;
    if (mr > 0)
        o->limits.max_redirects = (unsigned)mr;
    split_paths(config_str(CFG_SIEVE_BEFORE), o->before, &o->nbefore, "sieve_before");
    split_paths(config_str(CFG_SIEVE_AFTER), o->after, &o->nafter, "sieve_after");
    const char *gd = config_str(CFG_SIEVE_GLOBAL_DIR);
    o->global_dir = *gd ? xstrdup(gd) : NULL;
    o->vacation_min = config_int(CFG_SIEVE_VACATION_MIN_RESPONSE);
    o->vacation_max = config_int(CFG_SIEVE_VACATION_MAX_RESPONSE);
    o->sep = config_bool(CFG_UNIXHIERARCHYSEP) ? '/' : '.';
    o->userprefix = xstrdup(config_str(CFG_USERPREFIX));
    o->sharedprefix = xstrdup(config_str(CFG_SHAREDPREFIX));
    const char *dom = config_str(CFG_DEFAULTDOMAIN);
    o->domain_buf = xstrdup(*dom ? dom : o->servername);
    o->host_buf = xstrdup(o->servername);
    o->run.domain = o->domain_buf;
    o->run.host = o->host_buf;
    o->run.location = "MDA";
    o->run.phase = "during";
    /* spamtest/virustest (RFC 5235): without a configured field the
     * tests still compile and yield "0", the RFC's "not tested" */
    const char *sh = config_str(CFG_SIEVE_SPAMTEST_STATUS_HEADER);
    const char *vh = config_str(CFG_SIEVE_VIRUSTEST_STATUS_HEADER);
    o->spam_buf = *sh ? xstrdup(sh) : NULL;
    o->virus_buf = *vh ? xstrdup(vh) : NULL;
    o->run.spam_header = o->spam_buf;
    o->run.virus_header = o->virus_buf;
    o->run.spam_max = strtod(config_str(CFG_SIEVE_SPAMTEST_MAX_VALUE), NULL); /* checked by the config */
    o->run.spam_strlen = strcmp(config_str(CFG_SIEVE_SPAMTEST_STATUS_TYPE), "strlen") == 0;
}

void dsieve_opts_free(struct dsieve_opts *o)
{
    for (size_t i = 0; i < o->nbefore; i++)
        free(o->before[i]);
    for (size_t i = 0; i < o->nafter; i++)
        free(o->after[i]);
    free(o->global_dir);
    free(o->userprefix);
    free(o->sharedprefix);
    free(o->domain_buf);
    free(o->host_buf);
    free(o->spam_buf);
    free(o->virus_buf);
    memset(o, 0, sizeof(*o));
}

void dsieve_begin(struct delivery_sieve *ds, const struct delivery_job *j)
{
    access_who_init(&ds->owner, j->store);
    ds->have_owner = true;
}

void dsieve_end(struct delivery_sieve *ds)
{
    if (ds->have_owner)
        access_who_free(&ds->owner);
    ds->have_owner = false;
    free(ds->reject);
    ds->reject = NULL;
}

bool dsieve_wanted(const struct delivery_job *j, const struct delivery_rcpt *rcpt)
{
    /* A shared mailbox or an address-map target is a mailbox, not a
     * person: no personal script runs for it (Cyrus runs none either). */
    if (!rcpt->user[0] || rcpt->exact || !j->u)
        return false;
    if (*config_str(CFG_SIEVE_BEFORE) || *config_str(CFG_SIEVE_AFTER))
        return true;
    struct sieve_store_info info;
    return sieve_store_stat(j->u, NULL, &info) == 0;
}

/* ---- loaded scripts: kept per process ------------------------------------- */

/* Loading a compiled script validates its whole tree again (sieve.h) and
 * costs about three times a run of it, and every delivery used to load
 * the user's script and each global one. Loaded scripts are immutable and
 * may be run by several job threads at once, so each is kept with the
 * exact bytes it was loaded from: a delivery whose compiled form is
 * byte-for-byte the same reuses it. Comparing the bytes (a few KiB, a
 * memcmp) rather than a generation number or a time stamp means no
 * account re-created under an old name and no edit within the same second
 * can be served a stale script. A reference count keeps a script alive
 * for a run that still uses it after its entry was replaced or evicted.
 * Bounded by entries and by the bytes of the compiled forms; a change of
 * the limits (SIGHUP) empties it, since loading checks against them. */
struct loaded {
    struct sieve_script *s;
    unsigned char *bin;
    size_t binlen;
    unsigned refs;          /* the cache's own reference counts as one */
};
#define LOADED_CACHE_MAX 128
#define LOADED_CACHE_BYTES ((size_t)8 << 20)
struct loaded_slot {
    char *key;              /* "u:" store name, or "g:" global script path */
    struct loaded *l;
    uint64_t used;
};
static struct loaded_slot l_cache[LOADED_CACHE_MAX];
static size_t l_n, l_bytes;
static uint64_t l_clock;
static struct sieve_limits l_limits;
static char *l_ext;
static bool l_limits_set;
static pthread_mutex_t l_mu = PTHREAD_MUTEX_INITIALIZER;

static void loaded_unref_locked(struct loaded *l)
{
    if (--l->refs == 0) {
        sieve_script_free(l->s);
        free(l->bin);
        free(l);
    }
}

static void loaded_drop_slot_locked(size_t i)
{
    l_bytes -= l_cache[i].l->binlen;
    loaded_unref_locked(l_cache[i].l);
    free(l_cache[i].key);
    l_cache[i] = l_cache[--l_n];
}

static bool str_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Are these the limits the cached scripts were loaded with? If not, empty
 * the cache and remember them. */
static void loaded_check_limits_locked(const struct sieve_limits *x)
{
    const struct sieve_limits *y = &l_limits;
    if (l_limits_set && x->max_script_size == y->max_script_size && x->max_nesting == y->max_nesting &&
        x->max_string == y->max_string && x->max_list == y->max_list && x->max_commands == y->max_commands &&
        x->max_errors == y->max_errors && str_same(x->extensions, l_ext) && x->max_steps == y->max_steps &&
        x->max_actions == y->max_actions && x->max_redirects == y->max_redirects &&
        x->max_include_depth == y->max_include_depth && x->max_variables == y->max_variables &&
        x->max_variable_size == y->max_variable_size && x->max_regex == y->max_regex && x->max_body == y->max_body)
        return;
    while (l_n)
        loaded_drop_slot_locked(l_n - 1);
    free(l_ext);
    l_limits = *x;
    l_ext = x->extensions ? xstrdup(x->extensions) : NULL;
    l_limits.extensions = l_ext;
    l_limits_set = true;
}

/* A referenced loaded script for key whose compiled form is bin, from the
 * cache or loaded now (outside the lock: other threads go on meanwhile);
 * NULL when it does not load (*ls tells why). Give it back with
 * loaded_put. */
static struct loaded *loaded_get(const char *key, const void *bin, size_t binlen, const struct sieve_limits *limits,
                                 enum sieve_load_status *ls)
{
    pthread_mutex_lock(&l_mu);
    loaded_check_limits_locked(limits);
    for (size_t i = 0; i < l_n; i++) {
        struct loaded *c = l_cache[i].l;
        if (strcmp(l_cache[i].key, key) == 0 && c->binlen == binlen && memcmp(c->bin, bin, binlen) == 0) {
            c->refs++;
            l_cache[i].used = ++l_clock;
            pthread_mutex_unlock(&l_mu);
            *ls = SIEVE_LOAD_OK;
            return c;
        }
    }
    pthread_mutex_unlock(&l_mu);

    struct sieve_script *s = sieve_binary_load(bin, binlen, limits, ls);
    if (!s)
        return NULL;
    struct loaded *l = xcalloc(1, sizeof(*l));
    l->s = s;
    l->bin = xmalloc(binlen ? binlen : 1);
    memcpy(l->bin, bin, binlen);
    l->binlen = binlen;
    l->refs = 1;
    if (binlen > LOADED_CACHE_BYTES / 4)
        return l;   /* too big to keep: this delivery only */

    pthread_mutex_lock(&l_mu);
    loaded_check_limits_locked(limits);
    for (size_t i = 0; i < l_n; i++)
        if (strcmp(l_cache[i].key, key) == 0) {
            loaded_drop_slot_locked(i);   /* the script was replaced */
            break;
        }
    while (l_n && (l_n == LOADED_CACHE_MAX || l_bytes + binlen > LOADED_CACHE_BYTES)) {
        size_t lru = 0;
        for (size_t i = 1; i < l_n; i++)
            if (l_cache[i].used < l_cache[lru].used)
                lru = i;
        loaded_drop_slot_locked(lru);
    }
    l_cache[l_n].key = xstrdup(key);
    l_cache[l_n].l = l;
    l_cache[l_n].used = ++l_clock;
    l_n++;
    l_bytes += binlen;
    l->refs++;
    pthread_mutex_unlock(&l_mu);
    return l;
}

static void loaded_put(struct loaded *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l_mu);
    loaded_unref_locked(l);
    pthread_mutex_unlock(&l_mu);
}

/* A script loaded outside the cache (just recompiled), with the same
 * lifetime rules. */
static struct loaded *loaded_wrap(struct sieve_script *s)
{
    struct loaded *l = xcalloc(1, sizeof(*l));
    l->s = s;
    l->bin = xmalloc(1);
    l->refs = 1;
    return l;
}

/* ---- global scripts: compiled on first use, kept per process ------------- */

/* The compiled form of each global script file, valid while the file's
 * identity and modification time stay the same (an operator's edit is
 * picked up at the next delivery, without a reload). Shared by the job
 * threads: one mutex, held while a file is read and compiled (rare). */
#define GLOBAL_CACHE_MAX 32
struct global_entry {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    unsigned char *bin;     /* NULL: the file does not compile (logged once) */
    size_t binlen;
};
static struct global_entry g_cache[GLOBAL_CACHE_MAX];
static size_t g_ncache;
static pthread_mutex_t g_cache_mu = PTHREAD_MUTEX_INITIALIZER;

/* Read at most max bytes of a file: NULL on error or when larger. */
static char *read_file_bounded(const char *path, size_t max, size_t *len, struct stat *st_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        close(fd);
        errno = EFBIG;
        return NULL;
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = xmalloc(n + 1);
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    if (st_out)
        *st_out = st;
    return buf;
}

static void log_diags(const char *who, const char *what, const struct sieve_diags *d)
{
    struct buf b = BUF_INIT;
    sieve_diags_format(d, &b);
    /* one line per diagnostic is what an operator greps for */
    char *text = xstrdup(b.len ? buf_cstr(&b) : "");
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        log_warn("sieve: %s: script %s: %s", who, what, line);
    free(text);
    buf_free(&b);
}

/* A loaded global script, or NULL (missing file, errors: logged). */
static struct loaded *global_load(const char *path, const struct sieve_limits *limits)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        log_warn("sieve: global script %s: %s", path, strerror(errno));
        return NULL;
    }
    pthread_mutex_lock(&g_cache_mu);
    struct global_entry *e = NULL;
    for (size_t i = 0; i < g_ncache; i++)
        if (strcmp(g_cache[i].path, path) == 0) {
            e = &g_cache[i];
            break;
        }
    bool fresh = e && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
                 e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec;
    if (!fresh) {
        if (!e) {
            if (g_ncache == GLOBAL_CACHE_MAX) {
                free(g_cache[0].path);
                free(g_cache[0].bin);
                memmove(&g_cache[0], &g_cache[1], (GLOBAL_CACHE_MAX - 1) * sizeof(g_cache[0]));
                g_ncache--;
            }
            e = &g_cache[g_ncache++];
            memset(e, 0, sizeof(*e));
            e->path = xstrdup(path);
        }
        free(e->bin);
        e->bin = NULL;
        e->binlen = 0;
        size_t len = 0;
        struct stat fst;
        char *src = read_file_bounded(path, limits->max_script_size, &len, &fst);
        if (!src) {
            /* Not cached: a read that failed (EMFILE, ENOMEM, EACCES fixed
             * by a chmod, which leaves the mtime alone) is tried again
             * at the next delivery instead of skipping the script until
             * the file changes. */
            log_warn("sieve: global script %s: %s", path, strerror(errno));
            memset(&st, 0, sizeof(st));
        } else {
            struct sieve_diags d = {0};
            if (!sieve_compile(src, len, limits, &e->bin, &e->binlen, &d))
                log_diags("global", path, &d);
            else
                log_info("sieve: compiled global script %s", path);
            sieve_diags_free(&d);
            free(src);
            st = fst;
        }
        e->dev = st.st_dev;
        e->ino = st.st_ino;
        e->size = st.st_size;
        e->mtime = st.st_mtim;
    }
    struct loaded *s = NULL;
    if (e->bin) {
        enum sieve_load_status ls;
        char key[4096];
        snprintf(key, sizeof(key), "g:%s", path);
        s = loaded_get(key, e->bin, e->binlen, limits, &ls);
    }
    pthread_mutex_unlock(&g_cache_mu);
    return s;
}

/* ---- the user's script -------------------------------------------------- */

struct sieve_script *dsieve_load_stored(struct mail_user *u, struct sieve_store_script *sc,
                                        const struct sieve_limits *limits, char **err)
{
    *err = NULL;
    enum sieve_load_status ls = SIEVE_LOAD_CORRUPT;
    if (sc->compiled && sc->info.compiled_version == SIEVE_BINARY_VERSION) {
        struct sieve_script *s = sieve_binary_load(sc->compiled, sc->compiled_len, limits, &ls);
        if (s)
            return s;
    } else if (sc->compiled) {
        ls = SIEVE_LOAD_VERSION;
    }
    /* No compiled form, one of another format version, or a damaged one:
     * the source is the truth (RFC 5804 keeps it); compile and cache. */
    unsigned char *bin = NULL;
    size_t binlen = 0;
    struct sieve_diags d = {0};
    if (!sieve_compile(sc->source, sc->source_len, limits, &bin, &binlen, &d)) {
        struct buf b = BUF_INIT;
        sieve_diags_format(&d, &b);
        *err = xstrdup(b.len ? buf_cstr(&b) : "does not compile");
        buf_free(&b);
        sieve_diags_free(&d);
        return NULL;
    }
    sieve_diags_free(&d);
    int r = sieve_store_set_compiled(u, sc->info.name, sc->info.generation, bin, binlen, SIEVE_BINARY_VERSION);
    log_info("sieve: user=%s script=%s: recompiled (%s)%s", mail_user_name(u), sc->info.name,
             !sc->compiled ? "no compiled form" : ls == SIEVE_LOAD_VERSION ? "other format version" : "damaged",
             r == 0 ? ", cached" : "");
    struct sieve_script *s = sieve_binary_load(bin, binlen, limits, &ls);
    free(bin);
    if (!s)
        *err = xstrdup("the compiled form does not load");
    return s;
}

/* ---- callbacks ------------------------------------------------------------ */

static bool cb_mailbox_exists(void *ctx, const char *name)
{
    struct dsieve_cbctx *c = ctx;
    char in[STORAGE_MAX_MAILBOX_NAME + 1];
    if (!delivery_folder_name(name, c->o->sep, c->o->userprefix, c->o->sharedprefix, in, sizeof(in)))
        return false;
    struct mailbox_info info;
    return mailbox_status(c->u, in, &info) == 0;
}

static uint32_t special_use_bit(const char *flag)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } t[] = {{"\\All", SPECIAL_ALL},     {"\\Archive", SPECIAL_ARCHIVE}, {"\\Drafts", SPECIAL_DRAFTS},
             {"\\Flagged", SPECIAL_FLAGGED}, {"\\Important", SPECIAL_IMPORTANT}, {"\\Junk", SPECIAL_JUNK},     {"\\Sent", SPECIAL_SENT},
             {"\\Trash", SPECIAL_TRASH}};
    for (size_t i = 0; i < ARRAY_SIZE(t); i++)
        if (strcasecmp(flag, t[i].name) == 0)
            return t[i].bit;
    return 0;
}

/* A mailbox by special-use bit or by MAILBOXID (mailbox_list). */
struct find_ctx {
    uint32_t bit;
    const char *id;
    const char *only;       /* restrict to this internal name, or NULL */
    char found[STORAGE_MAX_MAILBOX_NAME + 1];
};

static void find_cb(const struct mailbox_info *info, void *arg)
{
    struct find_ctx *f = arg;
    if (f->found[0])
        return;
    if (f->only && strcmp(f->only, info->name) != 0)
        return;
    if ((f->bit && (info->special_use & f->bit)) || (f->id && strcmp(f->id, info->mailboxid) == 0))
        snprintf(f->found, sizeof(f->found), "%s", info->name);
}

static bool cb_specialuse_exists(void *ctx, const char *mailbox, const char *flag)
{
    struct dsieve_cbctx *c = ctx;
    struct find_ctx f = {.bit = special_use_bit(flag)};
    if (!f.bit)
        return false;
    char in[STORAGE_MAX_MAILBOX_NAME + 1];
    if (mailbox) {
        if (!delivery_folder_name(mailbox, c->o->sep, c->o->userprefix, c->o->sharedprefix, in, sizeof(in)))
            return false;
        f.only = in;
    }
    return mailbox_list(c->u, find_cb, &f) == 0 && f.found[0];
}

static bool cb_mailboxid_exists(void *ctx, const char *id)
{
    struct dsieve_cbctx *c = ctx;
    struct find_ctx f = {.id = id};
    return mailbox_list(c->u, find_cb, &f) == 0 && f.found[0];
}

static char *cb_include_load(void *ctx, const char *name, bool global, size_t *len)
{
    struct dsieve_cbctx *c = ctx;
    if (global) {
        /* RFC 6609 2.2: the global location; a name is one file name */
        if (!c->o->global_dir || !*name || strchr(name, '/') || name[0] == '.')
            return NULL;
        char path[4096];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s.sieve", c->o->global_dir, name) >= sizeof(path))
            return NULL;
        return read_file_bounded(path, c->o->limits.max_script_size, len, NULL);
    }
    if (!sieve_store_name_valid(name))
        return NULL;
    struct sieve_store_script sc;
    if (sieve_store_get(c->u, name, false, &sc) != 0)
        return NULL;
    char *src = sc.source;
    *len = sc.source_len;
    sc.source = NULL;
    sieve_store_free(&sc);
    return src;
}

/* One unique id a duplicate test checked in this run. */
struct dsieve_dup_pending {
    char *handle;
    char *id;
    size_t idlen;
    uint64_t seconds;
    bool last;
};
/* Distinct (handle, id) pairs tracked per run: a script that tests more
 * is answered from the database but only the first ones are recorded. */
#define DSIEVE_DUP_MAX 32

static bool cb_duplicate(void *ctx, const char *handle, const char *value, size_t vlen, uint64_t seconds, bool last)
{
    struct dsieve_cbctx *c = ctx;
    /* RFC 7352 3.3: :seconds 0 is "false" unconditionally (and nothing
     * to track); an id too long to track is never a duplicate. */
    if (!c->user || seconds == 0 || vlen > SIEVE_DUP_MAX_ID)
        return false;
    int64_t now = c->now ? c->now : (int64_t)time(NULL);
    /* RFC 7352 3: only earlier runs count, so every test of one run
     * with the same arguments gives the same answer: the database is
     * written after the run, never during it. */
    int r = sieve_dup_check(c->user, handle, value, vlen, now);
    struct dsieve_dup_pending *p = NULL;
    for (size_t i = 0; i < c->ndup && !p; i++)
        if (c->dup[i].idlen == vlen && memcmp(c->dup[i].id, value, vlen) == 0 &&
            strcmp(c->dup[i].handle, handle) == 0)
            p = &c->dup[i];
    if (!p && c->ndup < DSIEVE_DUP_MAX) {
        ARRAY_GROW(c->dup, c->ndup, c->capdup);
        p = &c->dup[c->ndup++];
        p->handle = xstrdup(handle);
        p->id = xmalloc(vlen + 1);
        memcpy(p->id, value, vlen);
        p->idlen = vlen;
    }
    if (p) {
        /* 3.3: the arguments of the test evaluated last */
        p->seconds = seconds;
        p->last = last;
    }
    return r == 1;
}

void dsieve_dup_commit(struct dsieve_cbctx *c)
{
    int64_t now = c->now ? c->now : (int64_t)time(NULL);
    for (size_t i = 0; i < c->ndup; i++)
        sieve_dup_record(c->user, c->dup[i].handle, c->dup[i].id, c->dup[i].idlen, (int64_t)c->dup[i].seconds,
                         c->dup[i].last, now);
    dsieve_dup_free(c);
}

void dsieve_dup_free(struct dsieve_cbctx *c)
{
    for (size_t i = 0; i < c->ndup; i++) {
        free(c->dup[i].handle);
        free(c->dup[i].id);
    }
    free(c->dup);
    c->dup = NULL;
    c->ndup = c->capdup = 0;
}

void dsieve_callbacks(struct sieve_callbacks *cb, struct dsieve_cbctx *ctx)
{
    memset(cb, 0, sizeof(*cb));
    cb->ctx = ctx;
    cb->mailbox_exists = cb_mailbox_exists;
    cb->specialuse_exists = cb_specialuse_exists;
    cb->mailboxid_exists = cb_mailboxid_exists;
    cb->include_load = cb_include_load;
    cb->duplicate = cb_duplicate;
}

/* ---- carrying out the actions --------------------------------------------- */

/* ---- run-time errors: logged, and recorded for the user ------------------ */

/* How a script appears in the user's log: the user's own by its name, a
 * global one (a path, sieve_before/after) by its file name only - the
 * server's paths are none of the user's business. */
static const char *shown_script(const char *script)
{
    if (!script || !*script)
        return "-";
    const char *sl = strrchr(script, '/');
    return sl ? sl + 1 : script;
}

/* A run-time error (RFC 5228 2.10.6: the message is kept): the log line
 * "sieve: user=U script=S: MSG" (or "sieve: user=U: MSG" when
 * log_script is false), and an entry in the user's Sieve log (`darius
 * sieve log`, sieve_log_add), so the user learns why a rule did not act. */
static void runtime_error(const char *user, const char *script, bool log_script, const char *fmt, ...)
    ATTR_PRINTF(4, 5);
static void runtime_error(const char *user, const char *script, bool log_script, const char *fmt, ...)
{
    char msg[SIEVE_LOG_MAX_TEXT + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_script)
        log_warn("sieve: user=%s script=%s: %s", user, script ? script : "-", msg);
    else
        log_warn("sieve: user=%s: %s", user, msg);
    sieve_log_add(user, shown_script(script), msg, (int64_t)time(NULL));
}

/* One copy to store. */
struct target {
    char name[STORAGE_MAX_MAILBOX_NAME + 1];
    uint32_t flags;
    struct buf kw;
    bool create;
    uint32_t special_use;   /* for :create with :specialuse */
    const char *what;       /* for the log: "keep", "fileinto X" */
    const char *script;     /* the script whose action it is (for the user's log) */
    int res;                /* storage result; 1 = suppressed as a duplicate */
    int dup;                /* duplicate_begin's answer, -1 not checked */
    /* :fcc (RFC 8580): a copy of a message we sent, not of the incoming
     * one; it neither counts as kept nor falls back to INBOX */
    char *own_data;
    size_t own_len;
    bool done;
};

struct run {
    struct delivery_job *j;
    struct delivery_sieve *ds;
    const struct dsieve_opts *o;
    const char *user;
    const char *script;     /* name for the log: the user's script or a path */
    const char *data;       /* the message as spooled */
    size_t len;
    char *edited;           /* editheader's new message, or NULL */
    size_t edited_len;
    size_t edited_hdr_len;  /* its header block's length */
    size_t body_off;        /* where the body starts in the spool file */
    struct target *t;
    size_t nt, capt;
    bool kept;              /* a copy is durable */
    bool inbox_done;
    int last_err;
};

static struct target *add_target(struct run *r, const char *name, const char *what)
{
    for (size_t i = 0; i < r->nt; i++)
        if (strcmp(r->t[i].name, name) == 0)
            return &r->t[i];   /* RFC 5228 2.10.3: one copy per mailbox */
    ARRAY_GROW(r->t, r->nt, r->capt);
    struct target *t = &r->t[r->nt++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->what = what;
    t->script = r->script;
    t->flags = r->j->msg.flags;
    if (r->j->msg.keywords)
        buf_puts(&t->kw, r->j->msg.keywords);
    return t;
}

/* RFC 5232: the action's flags; a keyword storage cannot hold is left
 * out (logged), the rest is set. */
static void set_flags(struct run *r, struct target *t, const struct sieve_action *a)
{
    if (!a->flags_set)
        return;
    static const struct {
        const char *name;
        uint32_t bit;
    } sys[] = {{"\\Seen", MSG_SEEN}, {"\\Answered", MSG_ANSWERED}, {"\\Flagged", MSG_FLAGGED},
               {"\\Deleted", MSG_DELETED}, {"\\Draft", MSG_DRAFT}};
    for (size_t k = 0; k < a->nflags; k++) {
        const char *f = a->flags[k];
        bool is_sys = false;
        for (size_t i = 0; i < ARRAY_SIZE(sys); i++)
            if (strcasecmp(f, sys[i].name) == 0) {
                t->flags |= sys[i].bit;
                is_sys = true;
            }
        if (is_sys)
            continue;
        /* RFC 9051 flag-keyword = atom: no specials, no '\' */
        size_t l = strlen(f);
        bool ok = l > 0 && l <= STORAGE_MAX_KEYWORD;
        for (size_t i = 0; ok && i < l; i++) {
            unsigned char ch = (unsigned char)f[i];
            if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch))
                ok = false;
        }
        if (!ok) {
            log_info("sieve: user=%s script=%s: flag \"%.64s\" cannot be stored; left out", r->user, r->script,
                     f);
            continue;
        }
        if (t->kw.len)
            buf_putc(&t->kw, ' ');
        buf_puts(&t->kw, f);
    }
}

/* Commit every target not yet done (one group commit). */
static void store_pending(struct run *r)
{
    struct delivery_job *j = r->j;
    size_t n = 0;
    struct append_req *reqs = xcalloc(r->nt ? r->nt : 1, sizeof(*reqs));
    struct append_msg *msgs = xcalloc(r->nt ? r->nt : 1, sizeof(*msgs));
    uint32_t *uids = xcalloc(r->nt ? r->nt : 1, sizeof(*uids));
    void **items = xcalloc(r->nt ? r->nt : 1, sizeof(*items));
    size_t *idx = xcalloc(r->nt ? r->nt : 1, sizeof(*idx));
    for (size_t i = 0; i < r->nt; i++) {
        struct target *t = &r->t[i];
        if (t->done)
            continue;
        /* duplicate suppression per mailbox, as without Sieve; the
         * horizon was read on the loop (delivery_prepare) */
        t->dup = j->dupcheck && !t->own_data ? duplicate_begin(j->msgid, j->store, t->name, j->horizon) : -1;
        if (t->dup == 1) {
            log_info("delivery: duplicate suppressed: store=%s mailbox=%s msgid=%s", j->store, t->name, j->msgid);
            t->res = 1;
            t->done = true;
            r->kept = true;
            continue;
        }
        if (t->create) {
            /* :create (RFC 5490 3.2): the rules of IMAP CREATE for the
             * owner; a failure shows as the append's NOTFOUND below. */
            if (r->ds->have_owner && storage_job_begin(j->u, NULL) == 0) {
                struct mailbox_info info;
                if (mailbox_status(j->u, t->name, &info) == STORAGE_ERR_NOTFOUND) {
                    int c = access_create_posted(&r->ds->owner, j->u, j->store, j->store, t->name, true);
                    if (c == 0) {
                        log_info("sieve: user=%s script=%s: created %s (fileinto :create)", r->user, r->script,
                                 t->name);
                        if (t->special_use)
                            mailbox_set_special_use(j->u, t->name, t->special_use);
                    } else if (c != STORAGE_ERR_EXISTS) {
                        log_info("sieve: user=%s script=%s: cannot create %s: %s", r->user, r->script, t->name,
                                 access_strerror(c));
                    }
                }
                storage_job_end(j->u, NULL);
            }
        }
        struct append_msg *m = &msgs[n];
        *m = j->msg;
        if (t->own_data) {
            m->data = t->own_data;
            m->fd = -1;
            m->len = t->own_len;
            m->shared_spool = false;
            m->internaldate = 0;
        } else if (r->edited) {
            m->data = r->edited;
            m->fd = -1;
            m->len = r->edited_len;
            m->shared_spool = false;
        }
        m->flags = t->flags;
        m->keywords = t->kw.len ? buf_cstr(&t->kw) : NULL;
        reqs[n].store = j->u;
        reqs[n].mailbox = t->name;
        reqs[n].msgs = m;
        reqs[n].nmsgs = 1;
        reqs[n].uids = &uids[n];
        items[n] = &reqs[n];
        idx[n] = i;
        n++;
    }
    if (n)
        mailbox_append_batch(items, n);
    for (size_t k = 0; k < n; k++) {
        struct target *t = &r->t[idx[k]];
        t->done = true;
        t->res = reqs[k].result;
        if (t->own_data) {
            if (t->res == 0)
                log_info("sieve: user=%s: %s stored in %s", r->user, t->what, t->name);
            else
                runtime_error(r->user, t->script, false, "%s could not be stored in %s: %s", t->what, t->name,
                              storage_strerror(t->res));
        } else if (t->res == 0) {
            r->kept = true;
            if (strcmp(t->name, "INBOX") == 0)
                r->inbox_done = true;
            if (t->dup == 2)   /* being delivered by another connection too */
                duplicate_mark(j->msgid, j->store, t->name);
            log_info("delivery: delivered store=%s mailbox=%s uid=%u size=%zu%s%s (sieve: %s)", j->store, t->name,
                     uids[k], msgs[k].len, j->msgid ? " msgid=" : "", j->msgid ? j->msgid : "", t->what);
        } else {
            r->last_err = t->res;
        }
        if (t->dup == 0)
            duplicate_end(j->msgid, j->store, t->name, t->res == 0);
        free(t->own_data);
        t->own_data = NULL;
    }
    free(reqs);
    free(msgs);
    free(uids);
    free(items);
    free(idx);
}

/* A run-time error: keep in INBOX (RFC 5228 2.10.6), logged by the caller. */
static void keep_inbox(struct run *r)
{
    struct target *t = add_target(r, "INBOX", "keep after an error");
    (void)t;
}

/* RFC 8580 :fcc - file the message we just sent (CRLF text) into the
 * user's mailbox, with the action's :create and :flags. A failure is
 * logged, nothing else: the message went out. */
static void fcc_store(struct run *r, const struct sieve_action *a, const char *data, size_t len, const char *what)
{
    char in[STORAGE_MAX_MAILBOX_NAME + 1];
    if (!delivery_folder_name(a->mailbox, r->o->sep, r->o->userprefix, r->o->sharedprefix, in, sizeof(in))) {
        runtime_error(r->user, r->script, true, ":fcc \"%.200s\": not a valid mailbox name", a->mailbox);
        return;
    }
    ARRAY_GROW(r->t, r->nt, r->capt);
    struct target *t = &r->t[r->nt++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", in);
    t->what = what;
    t->script = r->script;
    t->create = a->create;
    t->flags = MSG_SEEN;   /* our own message, as a Sent copy */
    t->own_data = xmalloc(len ? len : 1);
    memcpy(t->own_data, data, len);
    t->own_len = len;
    set_flags(r, t, a);
    store_pending(r);
}

/* Vacation (RFC 5230) with :fcc: the steps of delivery_vacation_send,
 * keeping the reply to file it. */
static enum outgoing_result vacation_fcc(struct run *r, const struct sieve_action *a, const struct vacation_msg *vm,
                                         const struct vacation_params *vp, int64_t period)
{
    const char *sender = vm->envelope_from ? vm->envelope_from : "";
    enum vacation_verdict v = vacation_check(vm, vp);
    if (v != VACATION_REPLY) {
        log_info("vacation: user %s: no reply to <%s>: %s", r->user, sender, vacation_verdict_name(v));
        return OUTGOING_SUPPRESSED;
    }
    char hbuf[VACATION_HANDLE_LEN + 1];
    const char *handle = vp->handle;
    if (!handle) {
        vacation_handle(vp->subject, vp->from, vp->mime, vp->reason, hbuf);
        handle = hbuf;
    }
    time_t now = time(NULL);
    int c = vacation_claim(r->user, sender, handle, period, (int64_t)now);
    if (c == 0)
        return OUTGOING_SUPPRESSED;
    if (c < 0)
        return OUTGOING_FAILED;
    size_t len = 0;
    char *reply = vacation_compose(vm, vp, r->o->servername, now, &len);
    if (!reply) {
        vacation_unclaim(r->user, sender, handle);
        return OUTGOING_ERROR;
    }
    const char *rcpts[] = {sender};
    struct sendmail_msg sm = {.head = reply, .head_len = len, .fd = -1};
    enum sendmail_status sst = delivery_sendmail(&r->o->sendmail, "", rcpts, 1, &sm, NULL);
    if (sst != SENDMAIL_OK) {
        vacation_unclaim(r->user, sender, handle);
        free(reply);
        return outgoing_from_sendmail(sst);
    }
    log_info("vacation: user %s: replied to <%s>", r->user, sender);
    fcc_store(r, a, reply, len, "vacation reply (:fcc)");
    free(reply);
    return OUTGOING_SENT;
}

/* Only what may stand in an LMTP reply line (RFC 5429 2.1.1: US-ASCII;
 * no CR/LF, which would end the reply early); NULL when not ASCII. */
static char *reply_text(const char *reason)
{
    size_t l = strlen(reason);
    if (l > 400)
        l = 400;
    char *out = xmalloc(l + 1);
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)reason[i];
        if (c >= 0x80) {
            free(out);
            return NULL;
        }
        out[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[l] = '\0';
    /* trailing spaces (a reason ending in a newline) */
    while (l && out[l - 1] == ' ')
        out[--l] = '\0';
    if (!l) {
        free(out);
        return xstrdup("Message refused by the recipient's mail filter");
    }
    return out;
}

static size_t header_len(const char *data, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (data[i] == '\n' && data[i + 1] == '\n')
            return i + 2;
        if (data[i] == '\n' && data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')
            return i + 3;
    }
    return len;
}

/* ---- notify :fcc (RFC 5436, RFC 8580) ---- */

/* Notify with :fcc: the steps of delivery_notify_mailto_send, keeping
 * the notification to file it. */
static enum outgoing_result notify_fcc(struct run *r, const struct sieve_action *a, const struct notify_msg *nm)
{
    char *as = mime_header_get(nm->hdr, nm->hdr_len, "Auto-Submitted");
    if (as) {
        /* RFC 5436 2.7: none for a message that is itself automatic */
        size_t i = strspn(as, " \t");
        bool no = strncasecmp(as + i, "no", 2) == 0 && (!as[i + 2] || strchr(" \t;(", as[i + 2]));
        free(as);
        if (!no) {
            log_info("notify: no notification for an auto-submitted message");
            return OUTGOING_SUPPRESSED;
        }
    }
    struct mailto u;
    char err[128] = "";
    if (!mailto_parse(a->address ? a->address : "", &u, err, sizeof(err))) {
        log_warn("notify: %s", err);
        return OUTGOING_ERROR;
    }
    const char *sender = "";
    size_t len = 0;
    char *m = mailto_compose(&u, nm, a->from, a->text, r->o->servername, time(NULL), &sender, &len);
    if (!m) {
        mailto_free(&u);
        return OUTGOING_ERROR;
    }
    const char **rcpts = xcalloc(u.nto + u.ncc + u.nbcc + 1, sizeof(char *));
    size_t nr = 0;
    for (size_t i = 0; i < u.nto; i++)
        rcpts[nr++] = u.to[i];
    for (size_t i = 0; i < u.ncc; i++)
        rcpts[nr++] = u.cc[i];
    for (size_t i = 0; i < u.nbcc; i++)
        rcpts[nr++] = u.bcc[i];
    struct sendmail_msg sm = {.head = m, .head_len = len, .fd = -1};
    enum sendmail_status st = nr ? delivery_sendmail(&r->o->sendmail, sender, rcpts, nr, &sm, NULL) : SENDMAIL_BADARG;
    free(rcpts);
    mailto_free(&u);
    if (st == SENDMAIL_OK)
        fcc_store(r, a, m, len, "notification (:fcc)");
    free(m);
    return outgoing_from_sendmail(st);
}

/* ---- the run ---------------------------------------------------------------- */

#define MAX_SCRIPTS (2 * DSIEVE_MAX_GLOBAL + 1)

static enum deliver_result map_store_err(int e)
{
    switch (e) {
    case STORAGE_ERR_OVERQUOTA:
        return DELIVER_OVERQUOTA;
    case STORAGE_ERR_BUSY:
        return DELIVER_BUSY;
    case STORAGE_ERR_INVALID:
        return DELIVER_PERMFAIL;
    default:
        return DELIVER_TEMPFAIL;
    }
}

/* The message, read-only. Small messages are read into memory: a job
 * thread's munmap makes the kernel flush the TLBs of every other thread
 * of the worker (an IPI per core), which costs more than copying a few
 * KiB; large ones are mapped so a 50 MB message is not copied. */
#define MESSAGE_READ_MAX ((size_t)256 << 10)
static void *message_map(int fd, size_t len)
{
    if (len == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (len > MESSAGE_READ_MAX) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        return m == MAP_FAILED ? NULL : m;
    }
    char *b = xmalloc(len + 1);
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, b + got, len - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;   /* the spool file is shorter than it was */
            free(b);
            return NULL;
        }
        got += (size_t)n;
    }
    b[len] = '\0';
    return b;
}

static void message_unmap(void *m, size_t len)
{
    if (len > MESSAGE_READ_MAX)
        munmap(m, len);
    else
        free(m);
}

void delivery_sieve_run(struct delivery_job *j, struct delivery_sieve *ds)
{
    const struct dsieve_opts *o = ds->o;
    struct run r = {.j = j, .ds = ds, .o = o, .user = j->store, .script = "(none)"};
    ds->reject = NULL;
    j->finished = true;
    j->result = DELIVER_TEMPFAIL;

    /* the message: the spool file, read-only (it is never modified) */
    void *map = message_map(j->msg.fd, j->msg.len);
    if (!map) {
        log_err("sieve: user=%s: cannot read the message: %s", r.user, strerror(errno));
        return;
    }
    r.data = map;
    r.len = j->msg.len;

    /* the scripts: sieve_before..., the user's, sieve_after... */
    struct loaded *scripts[MAX_SCRIPTS];
    const char *names[MAX_SCRIPTS];
    size_t ns = 0;
    for (size_t i = 0; i < o->nbefore; i++)
        if ((scripts[ns] = global_load(o->before[i], &o->limits)) != NULL)
            names[ns++] = o->before[i];
    struct sieve_store_script sc;
    bool have_sc = false, user_error = false;
    char user_script[SIEVE_STORE_NAME_MAX + 1] = "";
    struct sieve_result *results[MAX_SCRIPTS];
    size_t nres = 0;
    bool error = false;
    struct sieve_run_config cfg = o->run;
    cfg.now = (int64_t)time(NULL);
    struct dsieve_cbctx cbc = {.u = j->u, .o = o, .user = j->store, .now = cfg.now};
    struct sieve_callbacks cb;
    dsieve_callbacks(&cb, &cbc);

    int jr = storage_job_begin(j->u, NULL);
    if (jr != 0) {
        log_warn("sieve: user=%s: the store is busy: %s", r.user, storage_strerror(jr));
        j->result = map_store_err(jr);
        for (size_t i = 0; i < ns; i++)
            loaded_put(scripts[i]);
        message_unmap(map, j->msg.len);
        return;
    }
    int gr = sieve_store_get(j->u, NULL, true, &sc);
    if (gr == 0) {
        have_sc = true;
        snprintf(user_script, sizeof(user_script), "%s", sc.info.name);
        char *err = NULL;
        struct loaded *s = NULL;
        if (sc.compiled && sc.info.compiled_version == SIEVE_BINARY_VERSION) {
            enum sieve_load_status ls;
            char key[sizeof(j->store) + 8];
            snprintf(key, sizeof(key), "u:%s", j->store);
            s = loaded_get(key, sc.compiled, sc.compiled_len, &o->limits, &ls);
        }
        if (!s) {
            /* none, another version or damaged: recompiled and cached in
             * the store, so the next delivery finds it in the cache */
            struct sieve_script *ss = dsieve_load_stored(j->u, &sc, &o->limits, &err);
            if (ss)
                s = loaded_wrap(ss);
        }
        if (s) {
            scripts[ns] = s;
            names[ns++] = user_script;
        } else {
            /* a stored script that does not compile (stored before
             * compile-at-upload, or by a newer language): keep */
            runtime_error(r.user, user_script, true, "does not compile, message kept: %s", err ? err : "");
            user_error = true;
        }
        free(err);
    } else if (gr != STORAGE_ERR_NOTFOUND) {
        log_warn("sieve: user=%s: cannot read the active script: %s; message kept", r.user, storage_strerror(gr));
        user_error = true;
    }
    for (size_t i = 0; i < o->nafter; i++)
        if ((scripts[ns] = global_load(o->after[i], &o->limits)) != NULL)
            names[ns++] = o->after[i];

    /* Each script sees the message as the scripts before it left it: an
     * editheader change of a sieve_before script is visible to the
     * user's tests (RFC 5293 4: later tests see the edited header). The
     * header buffers are kept until the end (a result may point into
     * the message it ran on). MAXREDIRECTS bounds one delivery, not one
     * script: redirects are counted across all the scripts. */
    char *edits[MAX_SCRIPTS];
    size_t nedits = 0;
    const char *cur = r.data;
    size_t curlen = r.len;
    unsigned max_redirects = o->limits.max_redirects, redirects = 0;
    if (max_redirects == 0) {
        struct sieve_limits dl;
        sieve_limits_default(&dl);
        max_redirects = dl.max_redirects;
    }
    for (size_t i = 0; i < ns && !error; i++) {
        struct sieve_result *res = NULL;
        enum sieve_run_status st = sieve_run(scripts[i]->s, cur, curlen, &ds->env, &cb, &cfg, &o->limits, &res);
        results[nres++] = res;
        if (st != SIEVE_RUN_OK) {
            runtime_error(r.user, names[i], true, "run-time error, message kept: %s",
                          sieve_result_error(res) ? sieve_result_error(res) : "error");
            error = true;
            break;
        }
        for (size_t k = 0; k < sieve_result_count(res); k++)
            if (sieve_result_action(res, k)->type == SIEVE_ACT_REDIRECT)
                redirects++;
        if (redirects > max_redirects) {
            runtime_error(r.user, names[i], true,
                          "more than %u redirects in this delivery (sieve_maxredirects), message kept",
                          max_redirects);
            error = true;
            break;
        }
        size_t hl, bo;
        const char *nh = sieve_result_header(res, &hl, &bo);
        if (nh && bo <= curlen) {
            size_t nlen = hl + (curlen - bo);
            char *e = xmalloc(nlen + 1);
            memcpy(e, nh, hl);
            memcpy(e + hl, cur + bo, curlen - bo);
            e[nlen] = '\0';
            edits[nedits++] = e;
            cur = e;
            curlen = nlen;
            /* the body is never edited: it starts where it did in the
             * spool file, which the outgoing actions read */
            r.edited_hdr_len = hl;
            r.body_off = r.len - (nlen - hl);
        }
    }
    if (!error && nedits) {
        /* editheader (RFC 5293): the stored copies get the new header */
        r.edited = edits[nedits - 1];
        r.edited_len = curlen;
    }
    storage_job_end(j->u, NULL);
    for (size_t i = 0; i < ns; i++)
        loaded_put(scripts[i]);
    if (have_sc)
        sieve_store_free(&sc);

    /* Combine: explicit actions in script order; the implicit keep
     * (RFC 5228 2.10.2) only when no script cancelled it. */
    const struct sieve_action **acts = xcalloc(1, sizeof(*acts));
    const char **act_script = xcalloc(1, sizeof(*act_script));
    size_t na = 0, capa = 0;
    const struct sieve_action *implicit = NULL;
    bool all_implicit = true;
    for (size_t i = 0; i < nres && !error; i++) {
        bool has_implicit = false;
        for (size_t k = 0; k < sieve_result_count(results[i]); k++) {
            const struct sieve_action *a = sieve_result_action(results[i], k);
            if (a->type == SIEVE_ACT_KEEP && a->implicit) {
                has_implicit = true;
                implicit = a;
                continue;
            }
            size_t oldcap = capa;
            ARRAY_GROW(acts, na, capa);
            if (capa != oldcap)
                act_script = xrealloc(act_script, capa * sizeof(*act_script));
            act_script[na] = names[i];
            acts[na++] = a;
        }
        if (!has_implicit)
            all_implicit = false;
    }
    if (!error && nres == 0 && !user_error)
        all_implicit = true;   /* nothing ran (scripts gone meanwhile): keep */

    size_t hdrlen = header_len(r.data, r.len);
    const struct sieve_action *reject = NULL;
    bool out_failed = false, need_inbox = error || user_error;
    /* the keep target: INBOX, or the +detail folder delivery_prepare chose */
    if (error || user_error) {
        keep_inbox(&r);
    } else {
        for (size_t i = 0; i < na; i++) {
            const struct sieve_action *a = acts[i];
            r.script = act_script[i];
            if (a->type == SIEVE_ACT_KEEP) {
                set_flags(&r, add_target(&r, j->name, "keep"), a);
            } else if (a->type == SIEVE_ACT_FILEINTO) {
                char in[STORAGE_MAX_MAILBOX_NAME + 1] = "";
                struct find_ctx f = {0};
                if (a->mailboxid) {
                    /* RFC 9042 3.1: the mailbox with that id, if any */
                    f.id = a->mailboxid;
                } else if (a->specialuse) {
                    /* RFC 8579 4: the mailbox with that use, if any */
                    f.bit = special_use_bit(a->specialuse);
                }
                if ((f.id || f.bit) && storage_job_begin(j->u, NULL) == 0) {
                    mailbox_list(j->u, find_cb, &f);
                    storage_job_end(j->u, NULL);
                }
                if (f.found[0])
                    snprintf(in, sizeof(in), "%s", f.found);
                else if (!delivery_folder_name(a->mailbox, o->sep, o->userprefix, o->sharedprefix, in, sizeof(in))) {
                    runtime_error(r.user, r.script, true,
                                  "fileinto \"%.200s\": not a valid mailbox name; kept in INBOX", a->mailbox);
                    need_inbox = true;
                    continue;
                }
                struct target *t = add_target(&r, in, "fileinto");
                t->create = t->create || a->create;
                if (a->create && a->specialuse)
                    t->special_use = special_use_bit(a->specialuse);
                set_flags(&r, t, a);
            } else if (a->type == SIEVE_ACT_REJECT || a->type == SIEVE_ACT_EREJECT) {
                if (!reject)
                    reject = a;
            }
        }
        if (all_implicit && implicit) {
            r.script = names[nres - 1];
            set_flags(&r, add_target(&r, j->name, "implicit keep"), implicit);
        } else if (all_implicit && !implicit && nres == 0) {
            add_target(&r, j->name, "keep");
        }
    }

    const char *from = ds->env.from ? ds->env.from : "";
    /* What the outgoing actions need (delivery_sieve_action_send): the
     * envelope, the user's addresses (RFC 5230 4.5: the recipient as
     * addressed, the account's own address - user@domain, the default
     * domain or the server name -, the original recipient), the message
     * and its header, as the script left it (editheader). */
    char acct[AUTH_MAX_USERNAME + 320];
    if (strchr(j->store, '@'))
        snprintf(acct, sizeof(acct), "%s", j->store);
    else
        snprintf(acct, sizeof(acct), "%s@%s", j->store, o->domain_buf);
    const char *own[2];
    size_t nown = 0;
    own[nown++] = acct;
    if (ds->env.orig_to)
        own[nown++] = ds->env.orig_to;
    struct outgoing_ctx ctx = {
        .sendmail = o->sendmail,
        .servername = o->servername,
        .now = time(NULL),
        .vacation_min = o->vacation_min,
        .vacation_max = o->vacation_max,
        .user = j->store,
        .rcpt = ds->env.to,
        .own = own,
        .nown = nown,
        .envelope_from = from,
        .fd = j->msg.fd,
        .size = j->msg.len,
        .hdr = r.edited ? r.edited : r.data,
        .hdr_len = r.edited ? r.edited_hdr_len : hdrlen,
        .hdr_edited = r.edited != NULL,
        .body_off = r.edited ? r.body_off : 0,
    };

    if (reject && !need_inbox) {
        /* RFC 5429: reject cancels every other copy; the refusal is the
         * recipient's reply when it can be (2.1.1), else an MDN (2.2.1) */
        r.script = "";
        for (size_t i = 0; i < na; i++)
            if (acts[i] == reject)
                r.script = act_script[i];
        bool e = reject->type == SIEVE_ACT_EREJECT;
        char *txt = reply_text(reject->text ? reject->text : "");
        if (e || (ds->lmtp && txt && *from)) {
            /* ereject's non-ASCII reason is replaced (RFC 5429 2.1.1) */
            ds->reject = txt ? txt : xstrdup("Message refused by the recipient's mail filter");
            txt = NULL;
            log_info("sieve: user=%s script=%s: %s from <%s>: %s", r.user, r.script, e ? "ereject" : "reject", from,
                     ds->reject);
            j->result = DELIVER_REJECTED;
        } else if (!*from) {
            log_info("sieve: user=%s script=%s: reject of a message with the null sender: discarded, no MDN "
                     "(RFC 5429 2.2.1)",
                     r.user, r.script);
            j->result = DELIVER_OK;
        } else {
            enum outgoing_result orr = delivery_sieve_action_send(reject, &ctx);
            if (orr == OUTGOING_ERROR) {
                /* an MDN that can never be sent: a run-time error, so
                 * the message is kept (RFC 5228 2.10.6) */
                runtime_error(r.user, r.script, true, "the reject MDN cannot be sent; kept in INBOX");
                need_inbox = true;
            } else {
                j->result = orr == OUTGOING_FAILED ? DELIVER_TEMPFAIL : DELIVER_OK;
                if (orr == OUTGOING_FAILED)
                    runtime_error(r.user, r.script, true, "the reject MDN could not be sent; temporary failure");
            }
        }
        free(txt);
        if (!need_inbox)
            goto done;
    }

    /* 1. the copies, durable before anything is sent */
    if (need_inbox)
        keep_inbox(&r);
    store_pending(&r);
    for (size_t i = 0; i < r.nt; i++) {
        struct target *t = &r.t[i];
        if (t->res < 0 && strcmp(t->name, "INBOX") != 0) {
            runtime_error(r.user, t->script, false, "%s into %s failed (%s); kept in INBOX", t->what, t->name,
                          storage_strerror(t->res));
            need_inbox = true;
        }
    }
    if (need_inbox && !r.inbox_done) {
        keep_inbox(&r);
        store_pending(&r);
    }
    if (!r.kept && r.last_err) {
        /* No copy could be stored: the answer is a temporary failure and
         * the MTA delivers again, so nothing may leave the server now
         * (every retry would send the redirect or notification again). */
        j->result = map_store_err(r.last_err);
        goto done;
    }

    /* 2. what leaves the server */
    size_t nsent = 0;
    for (size_t i = 0; i < na; i++) {
        const struct sieve_action *a = acts[i];
        r.script = act_script[i];
        enum outgoing_result orr = OUTGOING_SUPPRESSED;
        if (a->type == SIEVE_ACT_REDIRECT) {
            if (!o->redirect_allowed) {
                runtime_error(r.user, r.script, true, "redirect to <%s> refused (sieve_maxredirects 0); kept in INBOX",
                              a->address);
                need_inbox = true;
                continue;
            }
            orr = delivery_sieve_action_send(a, &ctx);
            if (orr == OUTGOING_SUPPRESSED) {
                runtime_error(r.user, r.script, true, "redirect to <%s> refused (a mail loop); kept in INBOX",
                              a->address);
                need_inbox = true;
            } else if (orr == OUTGOING_SENT) {
                log_info("sieve: user=%s script=%s: redirected to <%s>", r.user, r.script, a->address);
            }
        } else if (a->type == SIEVE_ACT_VACATION && a->mailbox) {
            const char *vown[3] = {ds->env.to, acct, ds->env.orig_to};
            struct vacation_msg vm = {.hdr = ctx.hdr, .hdr_len = ctx.hdr_len, .envelope_from = from,
                                      .envelope_to = ds->env.to, .own = vown, .nown = ds->env.orig_to ? 3 : 2};
            struct vacation_params vp = {.reason = a->text ? a->text : "", .subject = a->subject, .from = a->from,
                                         .handle = a->handle, .mime = a->mime,
                                         .addresses = (const char *const *)a->addresses,
                                         .naddresses = a->naddresses};
            int64_t period = vacation_period((int64_t)a->seconds, o->vacation_min, o->vacation_max);
            orr = vacation_fcc(&r, a, &vm, &vp, period);
        } else if (a->type == SIEVE_ACT_NOTIFY && a->mailbox) {
            struct notify_msg nm = {.hdr = ctx.hdr, .hdr_len = ctx.hdr_len, .envelope_from = from,
                                    .envelope_to = ds->env.to};
            orr = notify_fcc(&r, a, &nm);
        } else if (a->type == SIEVE_ACT_VACATION || a->type == SIEVE_ACT_NOTIFY) {
            orr = delivery_sieve_action_send(a, &ctx);
        } else {
            continue;
        }
        const char *what = a->type == SIEVE_ACT_REDIRECT   ? "redirect"
                           : a->type == SIEVE_ACT_VACATION ? "vacation"
                                                           : "notify";
        if (orr == OUTGOING_SENT) {
            nsent++;
        } else if (orr == OUTGOING_ERROR) {
            /* never sendable as asked: a run-time error, keep (RFC 5228
             * 2.10.6); failing temporarily would only repeat it */
            runtime_error(r.user, r.script, true, "%s cannot be sent; kept in INBOX", what);
            need_inbox = true;
        } else if (orr == OUTGOING_FAILED) {
            runtime_error(r.user, r.script, true, "%s could not be sent", what);
            out_failed = true;
        }
    }
    if (out_failed && nsent > 0 && !r.kept) {
        /* Some mail went out and some did not: a temporary failure would
         * make the MTA deliver again and send what went out a second
         * time, so keep the message instead. */
        need_inbox = true;
    }
    if (need_inbox && !r.inbox_done) {
        keep_inbox(&r);
        store_pending(&r);
    }

    if (r.kept) {
        j->result = DELIVER_OK;
        if (out_failed)
            log_warn("sieve: user=%s: the message is stored, but a message it caused could not be sent (logged "
                     "above)",
                     r.user);
    } else if (r.last_err) {
        j->result = map_store_err(r.last_err);
    } else if (out_failed) {
        /* nothing stored and the mail that was to leave did not: the
         * MTA tries again (a redirect-only script must not lose it) */
        log_warn("sieve: user=%s: outgoing mail failed and no copy is stored; temporary failure", r.user);
        j->result = DELIVER_TEMPFAIL;
    } else {
        j->result = DELIVER_OK;   /* discarded, or redirected, or rejected by MDN */
        if (!r.nt)
            log_info("delivery: store=%s msgid=%s: not stored (sieve: %s)", j->store, j->msgid ? j->msgid : "-",
                     na ? "discard/redirect" : "discard");
    }

done:
    /* RFC 7352 3: the ids the duplicate tests saw are tracked only when
     * the run finished successfully: no run-time error in the scripts or
     * in carrying out their actions, and an outcome the MTA will not
     * retry (a retry must see the same answers, or a "discard if
     * duplicate" would drop the retried message). */
    if (!need_inbox && !out_failed && (j->result == DELIVER_OK || j->result == DELIVER_REJECTED))
        dsieve_dup_commit(&cbc);
    else
        dsieve_dup_free(&cbc);
    for (size_t i = 0; i < r.nt; i++) {
        buf_free(&r.t[i].kw);
        free(r.t[i].own_data);
    }
    free(r.t);
    free(acts);
    free(act_script);
    for (size_t i = 0; i < nres; i++)
        sieve_result_free(results[i]);
    for (size_t i = 0; i < nedits; i++)
        free(edits[i]);   /* r.edited is the last of them */
    message_unmap(map, j->msg.len);
}

/* ---- `darius deliver`: the three steps inline ------------------------------ */

enum deliver_result delivery_deliver_sieve(struct dspool *s, const struct delivery_rcpt *rcpt,
                                           const struct deliver_opts *o, const struct dsieve_opts *so,
                                           const struct sieve_envelope *env, char **reject)
{
    *reject = NULL;
    struct delivery_job j;
    enum deliver_result dr = delivery_prepare(&j, s, rcpt, o);
    if (dr != DELIVER_OK)
        return dr;
    if (dsieve_wanted(&j, rcpt)) {
        struct delivery_sieve ds = {.o = so, .env = *env, .lmtp = false};
        dsieve_begin(&ds, &j);
        delivery_sieve_run(&j, &ds);
        *reject = ds.reject;
        ds.reject = NULL;
        dsieve_end(&ds);
    } else {
        void *item = &j.req;
        mailbox_append_batch(&item, 1);
    }
    return delivery_finish(&j);
}
