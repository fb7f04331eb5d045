/* storage.c - backend-neutral half of the storage API.
 *
 * Validation that needs no database, the process-wide table of shared
 * user handles, append transactions (body files are written and parsed
 * here, so every backend stores the same files and the same cache) and
 * dispatch through struct storage_backend_ops.
 */
#include "storage-private.h"
#include "partition.h"
#include "notify.h"
#include "log.h"
#include "buf.h"
#include "mime.h"
#include "sortkey.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <ftw.h>
#include <time.h>
#include <unistd.h>

static char *g_datadir;
static char *g_tmpdir;
static struct mail_user *g_users;   /* shared handles, few per process */
static uint64_t g_linger_ms;        /* storage_set_linger */
static size_t g_nlinger;            /* handles in g_users with refcount 0 */
/* The thread that owns g_users: the one that called storage_init (a
 * worker's event loop, the CLI's main thread). Any other thread (a pool
 * thread running a job, jobs.h) keeps a table of its own (t_users): the
 * handles it opens are private to it, with their own database
 * connection, so code that opens stores by name (the access layer's
 * checked operations, account operations) runs unchanged in a job and no
 * connection is ever used by two threads. */
static pthread_t g_owner;
static bool g_owner_set;
static _Thread_local struct mail_user *t_users;

static struct mail_user **users_table(void)
{
    return !g_owner_set || pthread_equal(pthread_self(), g_owner) ? &g_users : &t_users;
}
static char *g_hold_dir;            /* DARIUS_TEST_HOLD_DIR (tests only) */

const char *storage_strerror(int err)
{
    switch (err) {
    case STORAGE_OK: return "Success";
    case STORAGE_ERR_NOTFOUND: return "No such mailbox or message";
    case STORAGE_ERR_EXISTS: return "Mailbox already exists";
    case STORAGE_ERR_INVALID: return "Invalid name or argument";
    case STORAGE_ERR_IO: return "Internal storage error";
    case STORAGE_ERR_BUSY: return "Mailbox is locked, try again later";
    case STORAGE_ERR_NOPERM: return "Permission denied";
    case STORAGE_ERR_HASCHILDREN: return "Mailbox has children";
    case STORAGE_ERR_LIMIT: return "Limit exceeded";
    case STORAGE_ERR_OVERQUOTA: return "Over quota";
    case STORAGE_ERR_MODIFIED: return "Message was modified";
    case STORAGE_ERR_EXPUNGED: return "Message has been expunged";
    case STORAGE_ERR_MAXSCRIPTS: return "Too many Sieve scripts";
    case STORAGE_ERR_MAXSIZE: return "Sieve script too large";
    case STORAGE_ERR_ACTIVE: return "Sieve script is active";
    default: return "Unknown storage error";
    }
}

/* ---- global set-up ------------------------------------------------------ */

int storage_init(const char *datadir)
{
    if (!datadir || !*datadir)
        return STORAGE_ERR_INVALID;
    free(g_datadir);
    free(g_tmpdir);
    g_datadir = xstrdup(datadir);
    g_tmpdir = xasprintf("%s/tmp", datadir);
    g_owner = pthread_self();
    g_owner_set = true;
    free(g_hold_dir);
    const char *hold = getenv("DARIUS_TEST_HOLD_DIR");
    g_hold_dir = hold && *hold ? xstrdup(hold) : NULL;
    char *user = xasprintf("%s/user", datadir);
    char *run = xasprintf("%s/run/notify", datadir);
    int r = 0;
    if (msgfile_mkdirs(g_datadir) < 0 || msgfile_mkdirs(user) < 0 || msgfile_mkdirs(g_tmpdir) < 0 ||
        msgfile_mkdirs(run) < 0) {
        log_err("storage: cannot create directories under %s: %s", datadir, strerror(errno));
        r = STORAGE_ERR_IO;
    }
    free(user);
    free(run);
    return r;
}

void storage_shutdown(void)
{
    /* Lingering handles go quietly; handles still open are a caller bug:
     * close them so the databases are checkpointed cleanly. */
    storage_linger_drop(NULL, 0);
    g_linger_ms = 0;
    while (g_users) {
        struct mail_user *u = g_users;
        log_warn("storage: user %s still open at shutdown", u->name);
        u->refcount = 1;
        mail_user_close(u);
    }
    free(g_datadir);
    free(g_tmpdir);
    free(g_hold_dir);
    g_datadir = g_tmpdir = g_hold_dir = NULL;
}

const char *storage_tmpdir(void) { return g_tmpdir ? g_tmpdir : "/tmp"; }
const char *storage_datadir(void) { return g_datadir ? g_datadir : ""; }

/* ---- validation helpers ------------------------------------------------- */

/* A DNS domain in lowercase: labels of [a-z0-9-], no leading/trailing
 * '-', no empty label, at most 253 octets (RFC 1035 2.3.4). */
static bool valid_domain(const char *d)
{
    size_t n = strlen(d), label = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i <= n; i++) {
        char c = d[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || d[i - 1] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            if (label == 0 && c == '-')
                return false;
            label++;
        } else {
            return false;
        }
    }
    return true;
}

bool storage_valid_username(const char *name)
{
    /* Shared stores (access.h): "%shared" and "%shared@DOMAIN". '%' can
     * never start a user name, so these never collide with users. */
    if (name && name[0] == '%')
        return strcmp(name, "%shared") == 0 || (strncmp(name, "%shared@", 8) == 0 && valid_domain(name + 8));
    /* Auth has validated already; this is defence in depth because the
     * name becomes a path component. */
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 255 || name[0] == '.' || name[0] == '-' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' || c == '-'))
            return false;
    }
    return true;
}

/* Strict UTF-8 check (no overlongs, no surrogates). */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; }
        else return false;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

bool storage_valid_mailbox_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > STORAGE_MAX_MAILBOX_NAME)
        return false;
    if (name[0] == '/' || name[n - 1] == '/' || strstr(name, "//"))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return valid_utf8((const unsigned char *)name, n);
}

static bool atom_char(unsigned char c)
{
    /* RFC 9051 ATOM-CHAR minus resp-specials: any CHAR except
     * atom-specials ( ) { SP CTL % * " \ ] */
    if (c <= 0x20 || c >= 0x7f)
        return false;
    return !strchr("(){%*\"\\]", c);
}

bool storage_keyword_in(const char *list, const char *kw, size_t kwlen)
{
    const char *p = list;
    while (p && *p) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == kwlen && strncasecmp(p, kw, l) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

char *storage_keywords_normalise(const char *in)
{
    struct buf out = BUF_INIT;
    buf_puts(&out, "");
    const char *p = in ? in : "";
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != ' ')
            p++;
        size_t l = (size_t)(p - s);
        bool ok = l <= STORAGE_MAX_KEYWORD && s[0] != '\\';
        for (size_t i = 0; ok && i < l; i++)
            ok = atom_char((unsigned char)s[i]);
        if (!ok) {
            buf_free(&out);
            return NULL;
        }
        if (storage_keyword_in(buf_cstr(&out), s, l))
            continue;
        if (out.len)
            buf_putc(&out, ' ');
        buf_append(&out, s, l);
    }
    return buf_release(&out);
}

void storage_random(void *out, size_t bytes)
{
    unsigned char *p = out;
    while (bytes) {
        ssize_t r = getrandom(p, bytes, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fatal("getrandom: %s", strerror(errno));
        }
        p += r;
        bytes -= (size_t)r;
    }
}

void storage_new_objectid(char prefix, char *out, size_t outlen)
{
    /* RFC 8474 objectid: 1-255 of [A-Za-z0-9_-]; a letter prefix keeps it
     * from ever starting with '-' and tells object kinds apart in logs. */
    unsigned char r[12];
    storage_random(r, sizeof(r));
    static const char hex[] = "0123456789abcdef";
    if (outlen < 26)
        return;
    out[0] = prefix;
    for (size_t i = 0; i < sizeof(r); i++) {
        out[1 + 2 * i] = hex[r[i] >> 4];
        out[2 + 2 * i] = hex[r[i] & 15];
    }
    out[25] = '\0';
}

/* ---- user handles -------------------------------------------------------- */

static void user_really_close(struct mail_user *u);

/* How many handles of each store this process has (the loop's shared
 * table and every pool thread's private ones). Few entries: the stores
 * open at once in one worker. */
struct open_count {
    struct open_count *next;
    char *name;
    unsigned n;
};
static struct open_count *g_open;
static pthread_mutex_t g_open_mu = PTHREAD_MUTEX_INITIALIZER;

/* Count one more handle of name; true when it is the only one. */
static bool open_count_inc(const char *name)
{
    pthread_mutex_lock(&g_open_mu);
    struct open_count *c = g_open;
    while (c && strcmp(c->name, name) != 0)
        c = c->next;
    if (!c) {
        c = xcalloc(1, sizeof(*c));
        c->name = xstrdup(name);
        c->next = g_open;
        g_open = c;
    }
    bool first = c->n++ == 0;
    pthread_mutex_unlock(&g_open_mu);
    return first;
}

static void open_count_dec(const char *name)
{
    pthread_mutex_lock(&g_open_mu);
    for (struct open_count **pc = &g_open; *pc; pc = &(*pc)->next) {
        struct open_count *c = *pc;
        if (strcmp(c->name, name) == 0) {
            if (--c->n == 0) {
                *pc = c->next;
                free(c->name);
                free(c);
            }
            break;
        }
    }
    pthread_mutex_unlock(&g_open_mu);
}

bool mail_user_cached(const char *username)
{
    for (struct mail_user *u = *users_table(); u; u = u->next)
        if (strcmp(u->name, username) == 0)
            return !u->is_new;
    return false;
}

int mail_user_open(const char *username, bool create, struct mail_user **out)
{
    *out = NULL;
    if (!g_datadir)
        return STORAGE_ERR_IO;
    if (!storage_valid_username(username))
        return STORAGE_ERR_INVALID;
    struct mail_user **table = users_table();
    for (struct mail_user *u = *table; u; u = u->next) {
        if (strcmp(u->name, username) == 0) {
            if (u->lingering) {
                /* Nobody had it open: what happened to the store meanwhile
                 * (an operation's mark, maybe of a process that died) is
                 * for the full open below to see and repair. */
                if (partition_store_check(username) != 0) {
                    user_really_close(u);
                    break;
                }
                u->lingering = false;
                g_nlinger--;
            }
            u->refcount++;
            *out = u;
            return STORAGE_OK;
        }
    }
    /* Where the store is (partition.c), holding the shared store lock
     * for the handle's life; BUSY while it is moved/renamed/deleted. */
    char *dir;
    int lockfd;
    int pr = partition_store_acquire(username, create, &dir, &lockfd);
    if (pr < 0)
        return pr;
    struct mail_user *u = xcalloc(1, sizeof(*u));
    u->name = xstrdup(username);
    u->dir = dir;
    u->lockfd = lockfd;
    u->refcount = 1;
    u->ops = &storage_sqlite_ops;
    pthread_mutex_init(&u->job_mu, NULL);
    pthread_mutex_init(&u->viewers_mu, NULL);
    pthread_mutex_init(&u->readers_mu, NULL);
    pthread_cond_init(&u->readers_cv, NULL);
    u->first_in_process = open_count_inc(username);
    int r = u->ops->user_open(u, create);
    if (r < 0) {
        open_count_dec(username);
        pthread_mutex_destroy(&u->job_mu);
        pthread_mutex_destroy(&u->viewers_mu);
        pthread_mutex_destroy(&u->readers_mu);
        pthread_cond_destroy(&u->readers_cv);
        partition_store_release(u->lockfd);
        free(u->name);
        free(u->dir);
        free(u);
        return r;
    }
    u->next = *table;
    *table = u;
    *out = u;
    return STORAGE_OK;
}

/* Closed handles linger (storage_set_linger): a user who logs in again
 * a moment later - webmail does on every page view - finds the database
 * open, instead of paying the open, the schema check and the creation of
 * SQLite's -wal and -shm files on every login. Only the loop thread's
 * shared handles linger. */
#define LINGER_MAX 256

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The handle's resources: its database connections (the last close of
 * a store checkpoints its WAL, with fsyncs), the store lock. Any thread,
 * once the handle is out of every table. */
static void user_free(struct mail_user *u)
{
    u->ops->user_close(u);
    open_count_dec(u->name);
    pthread_mutex_destroy(&u->job_mu);
    pthread_mutex_destroy(&u->viewers_mu);
    pthread_mutex_destroy(&u->readers_mu);
    pthread_cond_destroy(&u->readers_cv);
    partition_store_release(u->lockfd);
    free(u->name);
    free(u->dir);
    free(u);
}

/* Out of the calling thread's table; false (logged) when it is not there. */
static bool user_detach(struct mail_user *u)
{
    bool found = false;
    for (struct mail_user **pp = users_table(); *pp; pp = &(*pp)->next) {
        if (*pp == u) {
            *pp = u->next;
            found = true;
            break;
        }
    }
    if (!found) {
        /* A handle of another thread's table (a caller bug): freeing it
         * would leave that table pointing at freed memory. */
        log_err("storage: %s: handle closed by a thread that did not open it", u->name);
        return false;
    }
    u->next = NULL;
    if (u->lingering) {
        u->lingering = false;
        g_nlinger--;
    }
    return true;
}

static void user_really_close(struct mail_user *u)
{
    if (user_detach(u))
        user_free(u);
}

void storage_linger_expire(uint64_t older_than_ms, void (*dispose)(struct mail_user *u))
{
    if (users_table() != &g_users)
        return;
    uint64_t now = mono_ms();
    struct mail_user *u = g_users;
    while (u) {
        struct mail_user *next = u->next;
        if (u->lingering && now - u->idle_since >= older_than_ms && user_detach(u)) {
            if (dispose)
                dispose(u);
            else
                user_free(u);
        }
        u = next;
    }
}

void mail_user_free_detached(struct mail_user *u)
{
    if (u)
        user_free(u);
}

void storage_set_linger(uint64_t ms)
{
    g_linger_ms = ms;
}

void storage_linger_drop(const char *username, uint64_t older_than_ms)
{
    if (users_table() != &g_users)
        return;
    uint64_t now = mono_ms();
    struct mail_user *u = g_users;
    while (u) {
        struct mail_user *next = u->next;
        if (u->lingering && (!username || strcmp(u->name, username) == 0) &&
            now - u->idle_since >= older_than_ms)
            user_really_close(u);
        u = next;
    }
}

void mail_user_close(struct mail_user *u)
{
    if (!u || --u->refcount > 0)
        return;
    if (g_linger_ms && users_table() == &g_users) {
        u->lingering = true;
        u->idle_since = mono_ms();
        if (++g_nlinger > LINGER_MAX) {
            /* the longest idle goes */
            struct mail_user *oldest = NULL;
            for (struct mail_user *x = g_users; x; x = x->next)
                if (x->lingering && (!oldest || x->idle_since < oldest->idle_since))
                    oldest = x;
            if (oldest)
                user_really_close(oldest);
        }
        return;
    }
    user_really_close(u);
}

const char *mail_user_name(const struct mail_user *u) { return u->name; }

/* ---- off-loop access (storage_job_begin) ---------------------------------- */

_Thread_local struct storage_job_slot storage_job_slots[STORAGE_JOB_MAX_USERS];

/* A free slot of this thread, or -1; *held: u is already in one. */
static int slot_for(const struct mail_user *u, bool *held)
{
    int slot = -1;
    *held = false;
    for (int i = 0; i < STORAGE_JOB_MAX_USERS; i++) {
        if (storage_job_slots[i].u == u)
            *held = true;
        if (!storage_job_slots[i].u && slot < 0)
            slot = i;
    }
    return slot;
}

static int job_take(struct mail_user *u)
{
    bool held;
    int slot = slot_for(u, &held);
    if (held)
        return STORAGE_OK; /* already held by this thread */
    if (slot < 0)
        return STORAGE_ERR_LIMIT;
    pthread_mutex_lock(&u->job_mu);
    int r = u->ops->job_open(u);
    if (r < 0) {
        pthread_mutex_unlock(&u->job_mu);
        return r;
    }
    storage_job_slots[slot] = (struct storage_job_slot){u, u->be_job, false};
    return STORAGE_OK;
}

int storage_job_begin(struct mail_user *a, struct mail_user *b)
{
    /* Two stores (COPY/MOVE across users): always lock in address order,
     * so two jobs crossing the same pair the other way round cannot
     * deadlock. */
    if (a && b && (uintptr_t)b < (uintptr_t)a) {
        struct mail_user *t = a;
        a = b;
        b = t;
    }
    int r = a ? job_take(a) : STORAGE_OK;
    if (r == 0 && b && b != a) {
        r = job_take(b);
        if (r < 0 && a)
            storage_job_end(a, NULL);
    }
    return r;
}

void storage_job_end(struct mail_user *a, struct mail_user *b)
{
    for (int i = 0; i < STORAGE_JOB_MAX_USERS; i++) {
        struct storage_job_slot *sl = &storage_job_slots[i];
        if (sl->u && !sl->reader && (sl->u == a || sl->u == b)) {
            struct mail_user *u = sl->u;
            *sl = (struct storage_job_slot){0};
            pthread_mutex_unlock(&u->job_mu);
        }
    }
}

int storage_read_begin(struct mail_user *u)
{
    bool held;
    int slot = slot_for(u, &held);
    if (held)
        return STORAGE_OK;
    if (slot < 0)
        return STORAGE_ERR_LIMIT;
    void *be = NULL;
    pthread_mutex_lock(&u->readers_mu);
    for (;;) {
        if (u->nidle > 0) {
            be = u->readers[--u->nidle];
            break;
        }
        if (u->nreaders < (int)ARRAY_SIZE(u->readers)) {
            u->nreaders++;
            break; /* open one below, outside the lock */
        }
        /* every reader busy (more pool threads than readers): a pool
         * thread may wait, the loop never gets here */
        pthread_cond_wait(&u->readers_cv, &u->readers_mu);
    }
    pthread_mutex_unlock(&u->readers_mu);
    if (!be) {
        be = u->ops->conn_open(u);
        if (!be) {
            pthread_mutex_lock(&u->readers_mu);
            u->nreaders--;
            pthread_cond_signal(&u->readers_cv);
            pthread_mutex_unlock(&u->readers_mu);
            return STORAGE_ERR_IO;
        }
    }
    storage_job_slots[slot] = (struct storage_job_slot){u, be, true};
    if (u->ops->read_hold)
        u->ops->read_hold(be);
    return STORAGE_OK;
}

void storage_read_end(struct mail_user *u)
{
    for (int i = 0; i < STORAGE_JOB_MAX_USERS; i++) {
        struct storage_job_slot *sl = &storage_job_slots[i];
        if (sl->u == u && sl->reader) {
            if (u->ops->read_release)
                u->ops->read_release(sl->be);
            pthread_mutex_lock(&u->readers_mu);
            u->readers[u->nidle++] = sl->be;
            pthread_cond_signal(&u->readers_cv);
            pthread_mutex_unlock(&u->readers_mu);
            *sl = (struct storage_job_slot){0};
        }
    }
}

bool storage_in_job(const struct mail_user *u)
{
    for (int i = 0; i < STORAGE_JOB_MAX_USERS; i++)
        if (storage_job_slots[i].u == u)
            return true;
    return false;
}

int mail_user_delete_store(const char *username)
{
    if (!g_datadir)
        return STORAGE_ERR_IO;
    if (!storage_valid_username(username))
        return STORAGE_ERR_INVALID;
    /* Kicks the user's sessions (this process's synchronously, through
     * the local kick hook) and waits for every process to let go of the
     * store; BUSY when one still holds it after the wait (partition.c). */
    return partition_delete_store(username);
}

/* ---- mailboxes (dispatch) ---------------------------------------------- */

int mailbox_list(struct mail_user *u, mailbox_list_cb cb, void *arg)
{
    return u->ops->list(u, cb, arg);
}

int mailbox_list_subscriptions(struct mail_user *u, void (*cb)(const char *name, void *arg), void *arg)
{
    return u->ops->list_subscriptions(u, cb, arg);
}

int mailbox_subscribe(struct mail_user *u, const char *name, bool subscribe)
{
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_INVALID;
    return u->ops->subscribe(u, name, subscribe);
}

int mailbox_status(struct mail_user *u, const char *name, struct mailbox_info *out)
{
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    return u->ops->status(u, name, out);
}

int mailbox_status_by_id(struct mail_user *u, int64_t id, struct mailbox_info *out)
{
    if (id <= 0)
        return STORAGE_ERR_NOTFOUND;
    return u->ops->status_id(u, id, out);
}

int mailbox_create(struct mail_user *u, const char *name, uint32_t special_use)
{
    if (!storage_valid_mailbox_name(name) || (special_use & ~SPECIAL_USE_ALL))
        return STORAGE_ERR_INVALID;
    return u->ops->create(u, name, special_use);
}

int mailbox_delete(struct mail_user *u, const char *name)
{
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    if (strcmp(name, "INBOX") == 0)
        return STORAGE_ERR_NOPERM;
    return u->ops->delete_mailbox(u, name);
}

int mailbox_rename(struct mail_user *u, const char *oldname, const char *newname)
{
    if (!storage_valid_mailbox_name(oldname) || !storage_valid_mailbox_name(newname))
        return STORAGE_ERR_INVALID;
    if (strcmp(newname, "INBOX") == 0)
        return STORAGE_ERR_EXISTS;   /* INBOX always exists */
    size_t ol = strlen(oldname);
    /* A mailbox cannot become its own descendant. */
    if (strcmp(oldname, "INBOX") != 0 && strncmp(newname, oldname, ol) == 0 && newname[ol] == '/')
        return STORAGE_ERR_INVALID;
    if (strcmp(oldname, newname) == 0)
        return STORAGE_ERR_EXISTS;
    return u->ops->rename(u, oldname, newname);
}

int mailbox_set_special_use(struct mail_user *u, const char *name, uint32_t special_use)
{
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    if (special_use & ~SPECIAL_USE_ALL)
        return STORAGE_ERR_INVALID;
    return u->ops->set_special_use(u, name, special_use);
}

/* ---- open mailbox ---------------------------------------------------------- */

int mailbox_open(struct mail_user *u, const char *name, bool readonly, bool claim_recent,
                 uint32_t *recent_uid_floor, struct mailbox **out)
{
    *out = NULL;
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    struct mailbox *mb = xcalloc(1, sizeof(*mb));
    mb->user = u;
    mb->readonly = readonly;
    /* EXAMINE never claims \Recent (RFC 9051 6.3.3 / 3501 6.3.2). */
    int r = u->ops->open(mb, name, claim_recent && !readonly, recent_uid_floor);
    if (r < 0) {
        free(mb);
        return r;
    }
    /* The mailbox keeps its user alive. The count is atomic: a mailbox may
     * be opened on a pool thread (a SELECT job, a COPY's target) while the
     * loop opens and closes the same handle; the job's submitter holds a
     * reference of its own meanwhile, so no pool thread ever drops the
     * last one. */
    u->refcount++;
    *out = mb;
    return STORAGE_OK;
}

void mailbox_close(struct mailbox *mb)
{
    if (!mb)
        return;
    struct mail_user *u = mb->user;
    if (u->ops->close && !mb->close_work_done)
        u->ops->close(mb);
    free(mb->kwcopy);
    free(mb);
    mail_user_close(u);
}

void mailbox_close_work(struct mailbox *mb)
{
    if (!mb || mb->close_work_done)
        return;
    if (mb->user->ops->close)
        mb->user->ops->close(mb);
    mb->close_work_done = true;
}

const struct mailbox_info *mailbox_get_info(struct mailbox *mb) { return &mb->info; }
struct mail_user *mailbox_user(struct mailbox *mb) { return mb->user; }

int mailbox_peek_info(struct mailbox *mb, struct mailbox_info *out)
{
    if (!out)
        return STORAGE_ERR_INVALID;
    return mb->user->ops->peek_info(mb, out);
}

bool mailbox_is_deleted(struct mailbox *mb)
{
    if (mb->deleted)
        return true;
    /* An error (busy, I/O) is not proof of deletion: report "exists" and
     * let the next real operation surface the error. */
    return mb->user->ops->is_deleted(mb) == 1;
}

_Thread_local bool storage_nowait;

int mailbox_claim_recent_nowait(struct mailbox *mb, uint32_t *floor_out, uint32_t *claimed_hi)
{
    storage_nowait = true;
    int r = mailbox_claim_recent(mb, floor_out, claimed_hi);
    storage_nowait = false;
    return r;
}

int mailbox_claim_recent(struct mailbox *mb, uint32_t *floor_out, uint32_t *claimed_hi)
{
    uint32_t f = 0, h = 0;
    int r = STORAGE_OK;
    /* EXAMINE never claims (RFC 3501 6.3.2): an empty range, no database
     * access at all. */
    if (!mb->readonly)
        r = mb->user->ops->claim_recent(mb, &f, &h);
    if (floor_out)
        *floor_out = f;
    if (claimed_hi)
        *claimed_hi = h;
    return r;
}

int mailbox_get_uids(struct mailbox *mb, uint32_t **uids, uint32_t *count)
{
    *uids = NULL;
    *count = 0;
    return mb->user->ops->get_uids(mb, uids, count);
}

int mailbox_first_unseen(struct mailbox *mb, uint32_t *uid)
{
    *uid = 0;
    return mb->user->ops->first_unseen(mb, uid);
}

int mailbox_get_keywords(struct mailbox *mb, char **out)
{
    *out = NULL;
    return mb->user->ops->get_keywords(mb, out);
}

int mailbox_foreach_record(struct mailbox *mb, uint32_t uid_lo, uint32_t uid_hi, msg_record_cb cb, void *arg)
{
    if (uid_lo > uid_hi || !cb)
        return STORAGE_ERR_INVALID;
    return mb->user->ops->foreach_record(mb, uid_lo, uid_hi, cb, arg);
}

int mailbox_get_record(struct mailbox *mb, uint32_t uid, struct msg_record *out)
{
    return mb->user->ops->get_record(mb, uid, out);
}

int mailbox_sync(struct mailbox *mb, uint64_t since_modseq, msg_record_cb changed, void *carg,
                 int (*expunged)(uint32_t uid, void *arg), void *earg)
{
    return mb->user->ops->sync(mb, since_modseq, changed, carg, expunged, earg);
}

int mailbox_vanished_since(struct mailbox *mb, uint64_t since_modseq, int (*cb)(uint32_t uid, void *arg),
                           void *arg)
{
    if (!cb)
        return STORAGE_ERR_INVALID;
    return mb->user->ops->vanished_since(mb, since_modseq, cb, arg);
}

uint64_t mailbox_expunge_horizon(struct mailbox *mb)
{
    (void)mb;
    return 0;   /* every expunge is remembered forever */
}

int mailbox_keep_expunged(struct mailbox *mb)
{
    if (mb->keep_expunged)
        return STORAGE_OK;
    return mb->user->ops->keep_expunged(mb);
}

bool mailbox_expunges_noted(struct mailbox *mb, uint64_t modseq)
{
    if (mb->keep_expunged && modseq > mb->told)
        return mb->user->ops->expunges_told(mb, modseq);
    return false;
}

void mailbox_release_kept(struct mailbox *mb)
{
    if (mb->keep_expunged)
        mb->user->ops->release_kept(mb);
}

void mailbox_expunges_told(struct mailbox *mb, uint64_t modseq)
{
    if (mailbox_expunges_noted(mb, modseq))
        mailbox_release_kept(mb);
}

int mailbox_foreach_expunged(struct mailbox *mb, uint32_t uid_lo, uint32_t uid_hi, msg_record_cb cb, void *arg)
{
    if (uid_lo > uid_hi || !cb)
        return STORAGE_ERR_INVALID;
    if (!mb->keep_expunged)
        return STORAGE_OK;
    return mb->user->ops->foreach_expunged(mb, uid_lo, uid_hi, cb, arg);
}

/* ---- content ------------------------------------------------------------- */

int mailbox_get_cache(struct mailbox *mb, uint32_t uid, struct msg_cache *out)
{
    memset(out, 0, sizeof(*out));
    return mb->user->ops->get_cache(mb, uid, out);
}

void msg_cache_free(struct msg_cache *c)
{
    if (!c)
        return;
    free(c->envelope);
    free(c->bodystructure);
    free(c->body);
    free(c->header);
    memset(c, 0, sizeof(*c));
}

int mailbox_get_content(struct mailbox *mb, uint32_t uid, struct msg_content *out)
{
    memset(out, 0, sizeof(*out));
    char guid[33];
    int r = mb->user->ops->get_guid(mb, uid, guid);
    if (r < 0)
        return r;
    return msgfile_map(mb->user, guid, out);
}

void msg_content_release(struct msg_content *c)
{
    if (!c)
        return;
    if (c->heap)
        free(c->priv);
    else if (c->priv && c->len)
        munmap(c->priv, c->len);
    memset(c, 0, sizeof(*c));
}

int mailbox_search_headers(struct mailbox *mb, const uint32_t *uids, size_t n, unsigned what,
                           struct search_hdr_batch *b)
{
    b->n = 0;
    b->memlen = 0;
    if (n == 0)
        return 0;
    if (!uids || !(what & (SEARCH_HDR_FIELDS | SEARCH_HDR_RAW)) || (what & ~(SEARCH_HDR_FIELDS | SEARCH_HDR_RAW)))
        return STORAGE_ERR_INVALID;
    for (size_t i = 1; i < n; i++)
        if (uids[i] <= uids[i - 1])
            return STORAGE_ERR_INVALID;
    return mb->user->ops->search_headers(mb, uids, n, what, b);
}

void search_hdr_batch_free(struct search_hdr_batch *b)
{
    if (!b)
        return;
    free(b->v);
    free(b->mem);
    memset(b, 0, sizeof(*b));
}

int storage_hfields_compute(const struct mail_user *u, const char *guid, const char *hdr, size_t hdr_len,
                            struct buf *out)
{
    if (hdr) {
        mime_hfields_build(out, hdr, hdr_len);
        return STORAGE_OK;
    }
    /* Header too long to be cached: the file, this once. */
    struct msg_content c;
    int r = msgfile_map(u, guid, &c);
    if (r < 0)
        return r;
    size_t hl = mime_header_length(c.data, c.len);
    mime_hfields_build(out, c.data, MIN(hl, c.len));
    msg_content_release(&c);
    return STORAGE_OK;
}

int storage_sortkeys_compute(const struct mail_user *u, const char *guid, const char *hdr, size_t hdr_len,
                             struct buf *out)
{
    if (hdr) {
        mime_sortkeys_build(out, hdr, hdr_len);
        return STORAGE_OK;
    }
    struct msg_content c;
    int r = msgfile_map(u, guid, &c);
    if (r < 0)
        return r;
    size_t hl = mime_header_length(c.data, c.len);
    mime_sortkeys_build(out, c.data, MIN(hl, c.len));
    msg_content_release(&c);
    return STORAGE_OK;
}

int mailbox_get_preview(struct mailbox *mb, uint32_t uid, char **text, char guid[33])
{
    *text = NULL;
    if (guid)
        guid[0] = '\0';
    return mb->user->ops->get_preview(mb, uid, text, guid);
}

void mailbox_save_previews(struct mailbox *mb, const char (*guids)[33], char *const *texts, size_t n)
{
    if (n > 0)
        mb->user->ops->save_previews(mb->user, guids, texts, n);
}

int mailbox_sort_keys(struct mailbox *mb, const uint32_t *uids, size_t n, sort_keys_cb cb, void *arg)
{
    if (n == 0)
        return 0;
    if (!uids || !cb)
        return STORAGE_ERR_INVALID;
    for (size_t i = 1; i < n; i++)
        if (uids[i] <= uids[i - 1])
            return STORAGE_ERR_INVALID;
    return mb->user->ops->sort_keys(mb, uids, n, cb, arg);
}

void msg_content_prefault(const void *p, size_t len)
{
    if (!p || len == 0)
        return;
    static const uintptr_t pg = 4096;   /* a read per 4 KiB touches every page of any page size */
    uintptr_t start = (uintptr_t)p, end = start + len;
    uintptr_t a = start & ~(pg - 1);
    /* Readahead of the whole range at once (a file mapping; on heap memory
     * it does nothing useful and its error is ignored), then a read of
     * each page, which waits until the page is in. */
    (void)madvise((void *)a, end - a, MADV_WILLNEED);
    for (uintptr_t q = start; q < end; q = (q & ~(pg - 1)) + pg)
        (void)*(volatile const unsigned char *)q;
}

/* ---- append ---------------------------------------------------------------- */

int mailbox_append_begin(struct mailbox *mb, struct append_txn **out)
{
    *out = NULL;
    if (mb->readonly)
        return STORAGE_ERR_NOPERM;
    /* Refuse before any body is written; commit re-checks under the lock. */
    if (mailbox_is_deleted(mb))
        return STORAGE_ERR_NOTFOUND;
    struct append_txn *t = xcalloc(1, sizeof(*t));
    t->mb = mb;
    msgfile_new_subdir(t->gg);
    *out = t;
    return STORAGE_OK;
}

static void item_free(const struct mail_user *u, struct append_item *it, bool remove_file)
{
    if (remove_file && it->guid[0])
        msgfile_unlink(u, it->guid);
    free(it->keywords);
    free(it->envelope);
    free(it->bodystructure);
    free(it->body);
    free(it->header);
    free(it->hfields);
    free(it->sortkeys);
    free(it->preview);
}

/* Parse once at append time and keep the IMAP texts, so FETCH ENVELOPE /
 * BODYSTRUCTURE / headers and SEARCH on header fields never touch the
 * message file again. */
static void fill_cache(struct append_item *it, const char *data, size_t len)
{
    struct mime_message *m = mime_parse(data, len);
    struct buf b = BUF_INIT;
    mime_write_envelope(&b, data, &m->root);
    it->envelope = xstrdup(buf_cstr(&b));
    buf_reset(&b);
    mime_write_bodystructure(&b, data, &m->root, true);
    it->bodystructure = xstrdup(buf_cstr(&b));
    buf_reset(&b);
    mime_write_bodystructure(&b, data, &m->root, false);
    it->body = xstrdup(buf_cstr(&b));
    buf_free(&b);
    it->header_len = mime_header_length(data, len);
    if (it->header_len > len)
        it->header_len = len;
    if (it->header_len > STORAGE_HEADER_CACHE_MAX) {
        /* Not cached (stored as NULL): a hostile 10 MB header would be
         * copied into the database and out of it on every FETCH ENVELOPE. */
        it->header = NULL;
        it->header_len = 0;
    } else {
        /* Copy by length: a header from a binary APPEND may contain NUL,
         * and header_len is what gets stored and served. */
        it->header = xmalloc(it->header_len + 1);
        memcpy(it->header, data, it->header_len);
        it->header[it->header_len] = '\0';
    }
    /* SEARCH SUBJECT/FROM/TO/CC/BCC read these, decoded here once, never
     * the file; built from the whole header even when it is too long to
     * be cached. */
    struct buf hf = BUF_INIT;
    mime_hfields_build(&hf, data, MIN(mime_header_length(data, len), len));
    it->hfields_len = hf.len;
    it->hfields = buf_release(&hf);
    /* SORT and THREAD keys (sortkey.h), likewise once. */
    struct buf sk = BUF_INIT;
    mime_sortkeys_build(&sk, data, MIN(mime_header_length(data, len), len));
    it->sortkeys_len = sk.len;
    it->sortkeys = buf_release(&sk);
    /* The PREVIEW text (RFC 8970), from the parse just made. */
    struct buf pv = BUF_INIT;
    mime_preview_build(&pv, m);
    it->preview = xstrdup(buf_cstr(&pv));
    buf_free(&pv);
    it->lines = (uint32_t)MIN(m->root.body_lines, (size_t)UINT32_MAX);
    mime_free(m);
}

int mailbox_append_add(struct append_txn *t, const struct append_msg *m)
{
    if (t->failed)
        return STORAGE_ERR_INVALID;
    if ((!m->data && m->fd < 0) || (m->flags & ~0x1fu) || m->len > (size_t)INT64_MAX) {
        t->failed = true;
        return STORAGE_ERR_INVALID;
    }
    char *kw = storage_keywords_normalise(m->keywords);
    if (!kw) {
        t->failed = true;
        return STORAGE_ERR_INVALID;
    }
    struct append_item it;
    memset(&it, 0, sizeof(it));
    it.keywords = kw;
    it.size = m->len;
    it.flags = m->flags;
    it.ignore_quota = m->ignore_quota;
    it.internaldate = m->internaldate ? m->internaldate : (int64_t)time(NULL);
    it.internaldate_tz = (m->internaldate_tz >= -1440 && m->internaldate_tz <= 1440) ? m->internaldate_tz : 0;
    int r = msgfile_store(t->mb->user, m, t->gg, it.guid);
    if (r < 0) {
        it.guid[0] = '\0';
        item_free(t->mb->user, &it, false);
        t->failed = true;
        return r;
    }
    if (m->data) {
        fill_cache(&it, m->data, m->len);
    } else {
        /* fd source: parse the durable file itself (mapped), never the fd
         * offset which the caller may have moved. */
        struct msg_content c;
        r = msgfile_map(t->mb->user, it.guid, &c);
        if (r < 0) {
            item_free(t->mb->user, &it, true);
            t->failed = true;
            return r;
        }
        fill_cache(&it, c.data, c.len);
        msg_content_release(&c);
    }
    ARRAY_GROW(t->items, t->n, t->cap);
    t->items[t->n++] = it;
    return STORAGE_OK;
}

static void txn_free(struct append_txn *t, bool remove_files)
{
    for (size_t i = 0; i < t->n; i++)
        item_free(t->mb->user, &t->items[i], remove_files);
    free(t->items);
    free(t);
}

/* Test hook, as the pool's (jobs.h): with DARIUS_TEST_HOLD_DIR set, wait
 * while the file <name> exists there, creating <name>.started first, so
 * a test can freeze a group commit at a chosen point (and SIGKILL the
 * server there). Polling is fine: tests only, on a pool thread. */
static void test_hold(const char *name)
{
    if (!g_hold_dir)
        return;
    char path[4096], started[4200];
    snprintf(path, sizeof(path), "%s/%s", g_hold_dir, name);
    if (access(path, F_OK) != 0)
        return;
    snprintf(started, sizeof(started), "%s.started", path);
    int fd = open(started, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    struct timespec ts = {0, 2 * 1000 * 1000};
    for (int i = 0; i < 60 * 500 && access(path, F_OK) == 0; i++)
        nanosleep(&ts, NULL);
}

/* Commit transactions of one store together (group commit): the files
 * of every transaction are already written, fsync'd and linked (by
 * mailbox_append_add); now each distinct msg/<gg>/ directory is fsync'd
 * once, then the backend commits every transaction's rows in one write
 * transaction. c[i].result: in, != 0 skips that transaction (its files
 * are removed like those of every transaction that fails). Frees t[]. */
static void commit_group(struct append_txn **t, struct append_commit *c, size_t n)
{
    struct mail_user *u = NULL;
    char (*dirs)[3] = xcalloc(n, sizeof(*dirs));
    size_t ndirs = 0, live = 0;
    for (size_t i = 0; i < n; i++) {
        c[i].mb = t[i]->mb;
        c[i].items = t[i]->items;
        c[i].n = t[i]->n;
        if (c[i].result == 0 && t[i]->failed)
            c[i].result = STORAGE_ERR_INVALID;
        if (c[i].result != 0 || t[i]->n == 0)
            continue;
        live++;
        u = t[i]->mb->user;
        bool seen = false;
        for (size_t d = 0; d < ndirs && !seen; d++)
            seen = memcmp(dirs[d], t[i]->gg, 2) == 0;
        if (!seen)
            memcpy(dirs[ndirs++], t[i]->gg, 3);
    }
    /* Durability rule 2: every link of the batch is on disk before any
     * row references it - one fsync per directory, not one per file. */
    int r = STORAGE_OK;
    for (size_t d = 0; d < ndirs && r == 0; d++)
        r = msgfile_fsync_subdir(u, dirs[d]);
    free(dirs);
    for (size_t i = 0; r < 0 && i < n; i++)
        if (c[i].result == 0)
            c[i].result = r;
    if (r == 0 && live) {
        /* tests: every file of the batch durable, no row yet */
        test_hold("append-commit");
        u->ops->append_commit(c, n);
    }
    /* On failure nothing of that transaction was committed: its files
     * must go too. */
    for (size_t i = 0; i < n; i++)
        txn_free(t[i], c[i].result != 0);
}

int mailbox_append_commit(struct append_txn *t, uint32_t *uidvalidity, uint32_t *uids, size_t maxuids)
{
    struct append_commit c = {.uids = uids, .maxuids = maxuids};
    commit_group(&t, &c, 1);
    if (c.result == 0 && uidvalidity)
        *uidvalidity = c.uidvalidity;
    return c.result;
}

void mailbox_append_abort(struct append_txn *t)
{
    if (t)
        txn_free(t, true);
}

int mailbox_append_by_name(struct mail_user *u, const char *name, const struct append_msg *m,
                           uint32_t *uidvalidity, uint32_t *uid)
{
    struct mailbox *mb;
    int r = mailbox_open(u, name, false, false, NULL, &mb);
    if (r < 0)
        return r;
    struct append_txn *t;
    r = mailbox_append_begin(mb, &t);
    if (r == 0) {
        r = mailbox_append_add(t, m);
        if (r < 0)
            mailbox_append_abort(t);
        else
            r = mailbox_append_commit(t, uidvalidity, uid, 1);
    }
    mailbox_close(mb);
    return r;
}

/* ---- group commit (storage.h: mailbox_append_batch) ------------------------ */

void mailbox_append_batch(void **items, size_t n)
{
    if (n == 0)
        return;
    struct append_req **reqs = xcalloc(n, sizeof(*reqs));
    for (size_t i = 0; i < n; i++)
        reqs[i] = items[i];
    struct mail_user *u = reqs[0]->store;
    struct append_txn **t = xcalloc(n, sizeof(*t));
    struct append_commit *c = xcalloc(n, sizeof(*c));
    struct mailbox **own = xcalloc(n, sizeof(*own));
    int jr = storage_job_begin(u, NULL);
    /* One directory for every file of the batch: one fsync for all. */
    char gg[3];
    msgfile_new_subdir(gg);
    size_t nmsgs = 0;
    for (size_t i = 0; i < n; i++) {
        struct append_req *q = reqs[i];
        q->result = 0;
        q->uidvalidity = 0;
        if (jr < 0 || q->store != u) {
            /* (a store other than the batch's cannot happen: the pool
             * batches by store handle) */
            q->result = jr < 0 ? jr : STORAGE_ERR_INVALID;
            continue;
        }
        if (q->expunge_mb && (q->expunge_mb->user != u || q->expunge_mb->readonly || !q->expunge_uid)) {
            q->result = q->expunge_mb->readonly ? STORAGE_ERR_NOPERM : STORAGE_ERR_INVALID;
            continue;
        }
        if (q->before && (q->result = q->before(q)) != 0)
            continue;
        struct mailbox *mb = q->mb;
        if (!mb) {
            if ((q->result = mailbox_open(u, q->mailbox ? q->mailbox : "", false, false, NULL, &own[i])) < 0)
                continue;
            mb = own[i];
        }
        if ((q->result = mailbox_append_begin(mb, &t[i])) < 0)
            continue;
        memcpy(t[i]->gg, gg, 3);
        for (size_t k = 0; k < q->nmsgs && q->result == 0; k++)
            q->result = mailbox_append_add(t[i], &q->msgs[k]);
        if (q->result < 0) {
            mailbox_append_abort(t[i]);
            t[i] = NULL;
            continue;
        }
        nmsgs += q->nmsgs;
    }
    /* The transactions that got this far commit together. */
    size_t m = 0;
    struct append_txn **tl = xcalloc(n, sizeof(*tl));
    size_t *idx = xcalloc(n, sizeof(*idx));
    for (size_t i = 0; i < n; i++) {
        if (!t[i])
            continue;
        tl[m] = t[i];
        c[m].uids = reqs[i]->uids;
        c[m].maxuids = reqs[i]->uids ? reqs[i]->nmsgs : 0;
        c[m].xmb = reqs[i]->expunge_mb;
        c[m].xuid = reqs[i]->expunge_uid;
        idx[m++] = i;
    }
    if (m)
        commit_group(tl, c, m);
    size_t nok = 0;
    for (size_t k = 0; k < m; k++) {
        struct append_req *q = reqs[idx[k]];
        q->result = c[k].result;
        q->uidvalidity = c[k].uidvalidity;
        nok += q->result == 0;
    }
    if (jr == 0 && n > 1)
        log_debug("storage: %s: group commit of %zu requests (%zu messages), %zu committed, %zu failed or skipped",
                  u->name, n, nmsgs, nok, n - nok);
    for (size_t i = 0; i < n; i++) {
        if (own[i])
            mailbox_close(own[i]);
        if (jr == 0 && reqs[i]->after)
            reqs[i]->after(reqs[i]);
    }
    if (jr == 0)
        storage_job_end(u, NULL);
    free(idx);
    free(tl);
    free(own);
    free(c);
    free(t);
    free(reqs);
}

/* ---- changes ----------------------------------------------------------------- */

int mailbox_store(struct mailbox *mb, const uint32_t *uids, size_t n, const struct store_req *req,
                  msg_record_cb changed_cb, void *carg, int (*failed_cb)(uint32_t uid, void *arg), void *farg)
{
    if (mb->readonly)
        return STORAGE_ERR_NOPERM;
    if ((req->flags & ~0x1fu) || (req->mode != STORE_REPLACE && req->mode != STORE_ADD &&
                                  req->mode != STORE_REMOVE))
        return STORAGE_ERR_INVALID;
    if (n == 0)
        return STORAGE_OK;
    return mb->user->ops->store(mb, uids, n, req, changed_cb, carg, failed_cb, farg);
}

int mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n, int (*cb)(uint32_t uid, void *arg),
                    void *arg)
{
    if (mb->readonly)
        return STORAGE_ERR_NOPERM;
    if (uids && n == 0)
        return STORAGE_OK;
    return mb->user->ops->expunge(mb, uids, n, cb, arg);
}

int mailbox_expunge_uids(struct mailbox *mb, const uint32_t *uids, size_t n, int (*cb)(uint32_t uid, void *arg),
                         void *arg)
{
    if (mb->readonly)
        return STORAGE_ERR_NOPERM;
    if (!uids)
        return STORAGE_ERR_INVALID;
    if (n == 0)
        return STORAGE_OK;
    return mb->user->ops->expunge_uids(mb, uids, n, cb, arg);
}

int mailbox_copy(struct mailbox *src, const uint32_t *uids, size_t n, const char *dest_name, bool move,
                 uint32_t *dest_uidvalidity, uint32_t *src_uids, uint32_t *dst_uids, size_t *ncopied,
                 int (*expunged_cb)(uint32_t uid, void *arg), void *earg)
{
    if (ncopied)
        *ncopied = 0;
    if (move && src->readonly)
        return STORAGE_ERR_NOPERM;
    if (!storage_valid_mailbox_name(dest_name))
        return STORAGE_ERR_NOTFOUND;
    return src->user->ops->copy(src, uids, n, dest_name, move, dest_uidvalidity, src_uids, dst_uids, ncopied,
                                expunged_cb, earg);
}

int mail_user_check(struct mail_user *u, bool fix, void (*cb)(const char *problem, void *arg), void *arg)
{
    return u->ops->check(u, fix, cb, arg);
}

/* ---- quota --------------------------------------------------------------------- */

static bool valid_root_name(const char *root) { return root && (!*root || storage_valid_mailbox_name(root)); }

static bool valid_limit(int64_t v) { return v == QUOTA_UNLIMITED || (v >= 0 && v <= QUOTA_MAX_LIMIT); }

int quota_list(struct mail_user *u, int (*cb)(const struct quota_root *q, void *arg), void *arg)
{
    return u->ops->quota_list(u, NULL, cb, arg);
}

int quota_get(struct mail_user *u, const char *root, struct quota_root *out)
{
    if (!valid_root_name(root))
        return STORAGE_ERR_NOTFOUND;
    return u->ops->quota_get(u, root, out);
}

int quota_roots_of(struct mail_user *u, const char *mailbox, int (*cb)(const struct quota_root *q, void *arg),
                   void *arg)
{
    if (!storage_valid_mailbox_name(mailbox))
        return STORAGE_ERR_INVALID;
    return u->ops->quota_list(u, mailbox, cb, arg);
}

int quota_set(struct mail_user *u, const char *root, int64_t storage_limit_kb, int64_t message_limit,
              int64_t mailbox_limit)
{
    if (!valid_root_name(root))
        return STORAGE_ERR_INVALID;
    if (!valid_limit(storage_limit_kb) || !valid_limit(message_limit) || !valid_limit(mailbox_limit))
        return STORAGE_ERR_INVALID;
    return u->ops->quota_set(u, root, storage_limit_kb, message_limit, mailbox_limit);
}

int quota_remove(struct mail_user *u, const char *root)
{
    if (!valid_root_name(root))
        return STORAGE_ERR_NOTFOUND;
    return u->ops->quota_remove(u, root);
}

int quota_recalc(struct mail_user *u, bool fix,
                 void (*cb)(const struct quota_root *before, const struct quota_root *after, void *arg), void *arg)
{
    return u->ops->quota_recalc(u, fix, cb, arg);
}

struct pct_ctx {
    int pct;
};

static int pct_of(int64_t used, int64_t limit)
{
    if (limit < 0)
        return 0;
    if (limit == 0)
        return used > 0 ? 100 : 0;   /* a zero limit is "full" once anything is there */
    long double p = (long double)used * 100.0L / (long double)limit;
    return p > 1000000.0L ? 1000000 : (int)p;
}

static int pct_cb(const struct quota_root *q, void *arg)
{
    struct pct_ctx *c = arg;
    /* STORAGE compares in KiB, rounded up, as reported to clients. */
    int64_t kb = q->storage_used / 1024 + (q->storage_used % 1024 != 0);
    int p[3] = {pct_of(kb, q->storage_limit_kb), pct_of(q->message_used, q->message_limit),
                pct_of(q->mailbox_used, q->mailbox_limit)};
    for (int i = 0; i < 3; i++)
        c->pct = MAX(c->pct, p[i]);
    return 0;
}

int quota_usage_percent(struct mail_user *u, const char *mailbox, int *percent)
{
    struct pct_ctx c = {0};
    int r = quota_roots_of(u, mailbox, pct_cb, &c);
    *percent = c.pct;
    return r;
}

int mailbox_deleted_size(struct mail_user *u, const char *name, uint64_t *out)
{
    *out = 0;
    if (!storage_valid_mailbox_name(name))
        return STORAGE_ERR_NOTFOUND;
    return u->ops->deleted_size(u, name, out);
}
