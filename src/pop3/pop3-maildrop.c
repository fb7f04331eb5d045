/* pop3-maildrop.c - the TRANSACTION and UPDATE states (RFC 1939 5, 6).
 *
 * Snapshot: at login we read the mailbox's records once (UID, RFC822.SIZE,
 * GUID) and number the messages 1..n; messages already flagged \Deleted
 * (by an IMAP client, waiting for EXPUNGE) are left out. Message numbers
 * and the list never change during the session, whatever IMAP sessions do
 * meanwhile; a message that was expunged elsewhere after the snapshot
 * answers RETR/TOP with "-ERR [SYS/PERM] Message was deleted by another
 * session" (its content is never guessed).
 *
 * Sizes (LIST, STAT): the exact octets RETR sends (pop3_wire_size: CRLF
 * line endings, dot-stuffing, a final CRLF). They are computed lazily, the
 * first time a command needs one, by one memchr pass over the mapped
 * message file, and cached per session and in a small per-worker cache
 * keyed by GUID (message files are immutable, so a GUID's wire size never
 * changes; repeated logins of the same user in a worker cost nothing). A
 * message expunged elsewhere before its size was needed reports its
 * RFC822.SIZE.
 *
 * UIDL: "<UIDVALIDITY>.<UID>" in decimal: unique within the mailbox and
 * stable across sessions and restarts (both are stored), and it changes
 * if the mailbox is ever recreated, as it must (RFC 1939 7).
 *
 * UPDATE (QUIT): one mailbox_store adding \Deleted to exactly the DELE'd
 * UIDs, then one mailbox_expunge of exactly those UIDs; storage commits
 * and notifies other sessions (IMAP IDLE clients see EXPUNGE). A session
 * that ends any other way deletes nothing.
 *
 * IN-USE (RFC 2449 8.1.2): one POP3 session per mailbox across all worker
 * processes, enforced with flock() on DATADIR/run/pop3/<sha256>.lock held
 * until QUIT or the end of the connection (the kernel drops it when the
 * process dies). The same
 * file records the last successful login (its mtime) for LOGIN-DELAY.
 *
 * Off the loop (issue 10, jobs.h): reading the records at login (with the
 * IN-USE lock), computing wire sizes, reading messages for RETR/TOP (and
 * RETR's \Seen) and the UPDATE state's store and expunge run as jobs on
 * the worker's pool while the session waits parked (pop3_park); the loop
 * only formats and writes. Kinds: "maildrop" (login), "sizes" (STAT,
 * LIST), "retr" (RETR, TOP, and each further window of a big message
 * made resident before it is sent), "update" (QUIT).
 */
#include "pop3-private.h"
#include "access.h"
#include "config.h"
#include "connlimits.h"
#include "jobs.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XFER_CHUNK (64 * 1024)
#define XFER_RESIDENT (4 * 1024 * 1024)   /* message data made resident per job */
#define LIST_LINES_PER_ROUND 1024
#define SIZE_CACHE_SLOTS 4096

/* ---- per-worker wire-size cache ---------------------------------------- */

struct size_slot {
    char guid[33];
    uint64_t size;
};
static struct size_slot *g_size_cache;

static size_t slot_of(const char *guid)
{
    /* GUIDs are random hex: the first characters are a good hash */
    size_t h = 0;
    for (int i = 0; i < 8 && guid[i]; i++)
        h = h * 31 + (unsigned char)guid[i];
    return h % SIZE_CACHE_SLOTS;
}

static bool size_cache_get(const char *guid, uint64_t *out)
{
    if (!g_size_cache || !guid[0])
        return false;
    struct size_slot *sl = &g_size_cache[slot_of(guid)];
    if (strcmp(sl->guid, guid) != 0)
        return false;
    *out = sl->size;
    return true;
}

static void size_cache_put(const char *guid, uint64_t size)
{
    if (!guid[0])
        return;
    if (!g_size_cache)
        g_size_cache = xcalloc(SIZE_CACHE_SLOTS, sizeof(*g_size_cache));
    struct size_slot *sl = &g_size_cache[slot_of(guid)];
    snprintf(sl->guid, sizeof(sl->guid), "%s", guid);
    sl->size = size;
}

static uint64_t msg_size(struct pop3_session *s, struct pop3_msg *m)
{
    if (m->popsize != POP3_SIZE_UNKNOWN)
        return m->popsize;
    uint64_t sz;
    if (size_cache_get(m->guid, &sz)) {
        m->popsize = sz;
        return sz;
    }
    struct msg_content c;
    int err = mailbox_get_content(s->mb, m->uid, &c);
    if (err < 0) {
        /* gone (expunged elsewhere) or unreadable: report the stored size */
        m->popsize = m->rawsize;
        return m->popsize;
    }
    m->popsize = pop3_wire_size(c.data, c.len);
    msg_content_release(&c);
    size_cache_put(m->guid, m->popsize);
    return m->popsize;
}

/* ---- the IN-USE lock ------------------------------------------------------ */

static char *lock_path(const char *user, const char *folder)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    struct buf key = BUF_INIT;
    buf_puts(&key, user);
    buf_putc(&key, '\0');
    buf_puts(&key, folder);
    if (!EVP_Digest(key.data, key.len, md, &mdlen, EVP_sha256(), NULL)) {
        buf_free(&key);
        return NULL;
    }
    buf_free(&key);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return xasprintf("%s/run/pop3/%s.lock", storage_datadir(), hex);
}

/* Returns the fd, or -1 with *err set. minpoll: popminpoll (minutes).
 * Runs on a pool thread (file system calls only). */
static int take_lock(const char *user, const char *folder, long long minpoll, const char **err)
{
    char *dir = xasprintf("%s/run", storage_datadir());
    if (mkdir(dir, 0750) < 0 && errno != EEXIST)
        log_warn("pop3: mkdir %s: %s", dir, strerror(errno));
    free(dir);
    dir = xasprintf("%s/run/pop3", storage_datadir());
    if (mkdir(dir, 0750) < 0 && errno != EEXIST)
        log_warn("pop3: mkdir %s: %s", dir, strerror(errno));
    free(dir);
    char *path = lock_path(user, folder);
    if (!path) {
        *err = "[SYS/TEMP] Cannot lock the maildrop";
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_err("pop3: open %s: %s", path, strerror(errno));
        free(path);
        *err = "[SYS/TEMP] Cannot lock the maildrop";
        return -1;
    }
    free(path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            *err = "[IN-USE] Maildrop already in use by another POP3 session";
        } else {
            log_err("pop3: flock: %s", strerror(e));
            *err = "[SYS/TEMP] Cannot lock the maildrop";
        }
        return -1;
    }
    /* RFC 2449 6.5 / 8.1.1: minimum time between logins. The file is empty
     * until the first successful login; afterwards its mtime is the time
     * of the last one. */
    struct stat st;
    if (minpoll > 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        long long elapsed = (long long)now.tv_sec - (long long)st.st_mtim.tv_sec;
        /* The file's time may be a moment ahead of the clock read here
         * (the kernel stamps files from its own, differently rounded
         * clock): a login in the same second is not "in the future". A
         * clock set back by more than that lets the user in. */
        if (elapsed < 0 && elapsed > -60)
            elapsed = 0;
        if (elapsed >= 0 && elapsed < minpoll * 60) {
            close(fd);
            *err = "[LOGIN-DELAY] Minimum time between mail checks violation";
            return -1;
        }
    }
    if (pwrite(fd, "x", 1, 0) != 1 || futimens(fd, NULL) < 0)
        log_warn("pop3: cannot record the login time: %s", strerror(errno));
    return fd;
}

/* ---- open / close ------------------------------------------------------------ */

struct snap {
    struct pop3_msg *v;
    uint32_t n, cap;
};

static int snap_cb(const struct msg_record *rec, void *arg)
{
    struct snap *sn = arg;
    if (rec->flags & MSG_DELETED)
        return 0; /* waiting for an IMAP EXPUNGE: not part of the maildrop */
    ARRAY_GROW(sn->v, sn->n, sn->cap);
    struct pop3_msg *m = &sn->v[sn->n++];
    memset(m, 0, sizeof(*m));
    m->uid = rec->uid;
    m->rawsize = rec->size;
    m->popsize = POP3_SIZE_UNKNOWN;
    snprintf(m->guid, sizeof(m->guid), "%s", rec->guid);
    return 0;
}

/* The login's maildrop load: opened on the loop, locked and read on the
 * pool. */
struct maildrop_load {
    char *user;
    char *folder;               /* NULL: INBOX */
    const char *name;           /* folder or "INBOX" */
    long long minpoll;
    struct mail_user *mu;
    struct mailbox *mb;
    int lock_fd;
    struct snap sn;
    const char *err;
    pop3_opened_fn done;
    void *arg;
};

static void load_run(struct job *job, void *arg)
{
    (void)job;
    struct maildrop_load *l = arg;
    int err = storage_job_begin(l->mu, NULL);
    if (err < 0) {
        log_err("pop3: cannot read %s of %s: %s", l->name, l->user, storage_strerror(err));
        l->err = "[SYS/TEMP] Mailbox unavailable";
        return;
    }
    l->lock_fd = take_lock(l->user, l->name, l->minpoll, &l->err);
    if (l->lock_fd >= 0) {
        err = mailbox_foreach_record(l->mb, 1, UINT32_MAX, snap_cb, &l->sn);
        if (err < 0) {
            log_err("pop3: cannot list %s of %s: %s", l->name, l->user, storage_strerror(err));
            l->err = "[SYS/TEMP] Mailbox unavailable";
            close(l->lock_fd);
            l->lock_fd = -1;
        }
    }
    storage_job_end(l->mu, NULL);
}

static void load_finish(struct pop3_session *s, bool gone, void *arg)
{
    struct maildrop_load *l = arg;
    if (!l->err && !gone) {
        s->mu = l->mu;
        s->mb = l->mb;
        s->lock_fd = l->lock_fd;
        s->msgs = l->sn.v;
        s->nmsgs = l->sn.n;
        s->uidvalidity = mailbox_get_info(l->mb)->uidvalidity;
        free(s->folder);
        s->folder = l->folder;
        l->folder = NULL;
    } else {
        if (l->lock_fd >= 0)
            close(l->lock_fd);
        free(l->sn.v);
        mailbox_close(l->mb);
        mail_user_close(l->mu);
    }
    l->done(s, gone, l->user, l->err, l->arg);
    free(l->user);
    free(l->folder);
    free(l);
}

/* Step 1 of opening: the account's store is provisioned on the pool (the
 * first login creates it with its autocreate folders, and every login
 * reads the account journal: neither may run on the loop). Logins of one
 * name queue on one key so they do not race to create the same store. */
struct maildrop_provision {
    char *user, *folder;
    pop3_opened_fn done;
    void *arg;
    int err;
};

static void provision_run(struct job *job, void *arg)
{
    (void)job;
    struct maildrop_provision *p = arg;
    p->err = access_provision_user(p->user, NULL);
}

static void open_provisioned(struct pop3_session *s, const char *user, const char *folder, int err,
                             pop3_opened_fn done, void *arg);

static void provision_finish(struct pop3_session *s, bool gone, void *arg)
{
    struct maildrop_provision *p = arg;
    if (gone)
        p->done(s, true, p->user, NULL, p->arg);
    else
        open_provisioned(s, p->user, p->folder, p->err, p->done, p->arg);
    free(p->user);
    free(p->folder);
    free(p);
}

void pop3_maildrop_open(struct pop3_session *s, const char *user, const char *folder, pop3_opened_fn done,
                        void *arg)
{
    if (mail_user_cached(user)) {   /* provisioned and open here: no store open, no job */
        open_provisioned(s, user, folder, access_provision_user(user, NULL), done, arg);
        return;
    }
    struct maildrop_provision *p = xcalloc(1, sizeof(*p));
    p->user = xstrdup(user);
    p->folder = folder ? xstrdup(folder) : NULL;
    p->done = done;
    p->arg = arg;
    pop3_park(s, "provision", access_provision_key(user), provision_run, provision_finish, p);
}

/* Step 2, on the loop: open the store and the mailbox (the handles are
 * shared by the worker's sessions), then read the maildrop on the pool. */
static void open_provisioned(struct pop3_session *s, const char *user, const char *folder, int err,
                             pop3_opened_fn done, void *arg)
{
    const char *name = folder ? folder : "INBOX";
    struct mail_user *mu = NULL;
    if (err >= 0)
        err = mail_user_open(user, false, &mu);
    if (err == STORAGE_ERR_BUSY) {
        /* a partition move or account rename holds the store */
        log_notice("pop3: login deferred, mail store busy: user=%s", user);
        done(s, false, user, "[SYS/TEMP] Mail store is being moved, try again later", arg);
        return;
    }
    if (err < 0) {
        log_err("pop3: cannot open mail store of %s: %s", user, storage_strerror(err));
        done(s, false, user, "[SYS/TEMP] Mail store unavailable", arg);
        return;
    }
    struct mailbox *mb = NULL;
    err = mailbox_open(mu, name, false, false, NULL, &mb);
    if (err < 0) {
        mail_user_close(mu);
        if (err == STORAGE_ERR_NOTFOUND || err == STORAGE_ERR_INVALID) {
            done(s, false, user, "[SYS/PERM] No such folder", arg);
            return;
        }
        log_err("pop3: cannot open %s of %s: %s", name, user, storage_strerror(err));
        done(s, false, user, "[SYS/TEMP] Mailbox unavailable", arg);
        return;
    }
    struct maildrop_load *l = xcalloc(1, sizeof(*l));
    l->user = xstrdup(user);
    l->folder = folder ? xstrdup(folder) : NULL;
    l->name = l->folder ? l->folder : "INBOX";
    l->minpoll = config_int(CFG_POPMINPOLL);
    l->mu = mu;
    l->mb = mb;
    l->lock_fd = -1;
    l->done = done;
    l->arg = arg;
    /* Key: the store (its job connection) */
    pop3_park(s, "maildrop", mu, load_run, load_finish, l);
}

void pop3_job_free(struct pop3_session *s)
{
    if (s->job.have_content)
        msg_content_release(&s->job.content);
    memset(&s->job, 0, sizeof(s->job));
    s->job.kind = JOB_NONE;
}

void pop3_maildrop_close(struct pop3_session *s)
{
    pop3_job_free(s);
    if (s->mb)
        mailbox_close(s->mb);
    s->mb = NULL;
    if (s->mu)
        mail_user_close(s->mu);
    s->mu = NULL;
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    s->lock_fd = -1;
    free(s->msgs);
    s->msgs = NULL;
    s->nmsgs = 0;
}

/* ---- resident message data ------------------------------------------------- */

/* (pool) Make data[pos...] resident: XFER_RESIDENT bytes, then on to the
 * end of the line there - the encoder reads whole lines, and one call
 * (XFER_CHUNK of output) starts no line past pos + XFER_CHUNK. Returns
 * the end of what is resident. */
static size_t xfer_prefault(const char *data, size_t len, size_t pos)
{
    if (pos >= len)
        return len;
    size_t end = pos + MIN(len - pos, (size_t)XFER_RESIDENT);
    msg_content_prefault(data + pos, end - pos);
    if (end < len) {
        const char *nl = memchr(data + end, '\n', len - end);  /* reads those pages too */
        end = nl ? (size_t)(nl - data) + 1 : len;
    }
    return end;
}

struct xfer_window {
    const char *data;
    size_t len, pos, resident;
};

static void window_run(struct job *job, void *arg)
{
    (void)job;
    struct xfer_window *w = arg;
    w->resident = xfer_prefault(w->data, w->len, w->pos);
}

static void window_finish(struct pop3_session *s, bool gone, void *arg)
{
    struct xfer_window *w = arg;
    if (!gone && s->job.kind == JOB_XFER) {
        s->job.resident = w->resident;
        pop3_job_run(s);    /* the rest of the response, as on_drain would */
    }
    free(w);
}

/* Is the next XFER_CHUNK of the message resident? If not, have a job make
 * it so (the loop never waits for the disk) and return false. */
static bool xfer_ready(struct pop3_session *s)
{
    struct pop3_job *j = &s->job;
    if (j->resident >= j->xfer.len || j->xfer.pos + XFER_CHUNK <= j->resident)
        return true;
    if (!jobs_running()) {
        /* unit tests, fuzz targets: here */
        j->resident = xfer_prefault(j->xfer.data, j->xfer.len, j->xfer.pos);
        return true;
    }
    struct xfer_window *w = xcalloc(1, sizeof(*w));
    w->data = j->xfer.data;
    w->len = j->xfer.len;
    w->pos = j->xfer.pos;
    /* no storage: no key; the mapping stays while the session is parked */
    pop3_park(s, "retr", NULL, window_run, window_finish, w);
    return false;
}

/* ---- multi-line output with back-pressure -------------------------------- */

bool pop3_job_run(struct pop3_session *s)
{
    struct buf b = BUF_INIT;
    bool done = false;
    while (!done && !s->parked && s->conn && !s->closed && !conn_output_full(s->conn)) {
        buf_reset(&b);
        switch (s->job.kind) {
        case JOB_XFER:
            if (!xfer_ready(s))
                break;
            if (pop3_xfer_run(&s->job.xfer, &b, XFER_CHUNK)) {
                buf_puts(&b, ".\r\n");
                done = true;
            }
            break;
        case JOB_LIST:
        case JOB_UIDL:
            for (int i = 0; i < LIST_LINES_PER_ROUND && s->job.next < s->nmsgs; i++) {
                uint32_t k = s->job.next++;
                struct pop3_msg *m = &s->msgs[k];
                if (m->deleted)
                    continue;
                if (s->job.kind == JOB_LIST)
                    buf_printf(&b, "%u %llu\r\n", k + 1, (unsigned long long)msg_size(s, m));
                else
                    buf_printf(&b, "%u %u.%u\r\n", k + 1, s->uidvalidity, m->uid);
            }
            if (s->job.next >= s->nmsgs) {
                buf_puts(&b, ".\r\n");
                done = true;
            }
            break;
        case JOB_NONE:
            done = true;
            break;
        }
        if (b.len)
            pop3_write(s, b.data, b.len);
    }
    buf_free(&b);
    if ((done || !s->conn || s->closed) && !s->parked)
        pop3_job_free(s);
    /* Not done: output is full; the conn calls on_drain when it falls
     * below the low-water mark and we continue from there. */
    return s->job.kind == JOB_NONE;
}

static void start_job(struct pop3_session *s)
{
    pop3_job_run(s);
}

/* ---- commands ---------------------------------------------------------------- */

/* The message for a number argument, or NULL after answering -ERR. */
static struct pop3_msg *get_msg(struct pop3_session *s, const char *arg, uint32_t *num)
{
    uint32_t n;
    if (!pop3_parse_msgnum(arg, s->nmsgs, &n)) {
        pop3_printf(s, "-ERR No such message\r\n");
        return NULL;
    }
    struct pop3_msg *m = &s->msgs[n - 1];
    if (m->deleted) {
        pop3_printf(s, "-ERR Message %u already deleted\r\n", n);
        return NULL;
    }
    if (num)
        *num = n;
    return m;
}

/* ---- wire sizes off the loop -------------------------------------------- */

/* The sizes a command needs that are not known yet (not in the session,
 * not in the worker's cache) are computed by a job; then the command
 * runs again from the start (with every size known it does not park). */
struct sizes_job {
    struct mailbox *mb;
    size_t n;
    uint32_t *idx;              /* message indexes */
    uint32_t *uids;
    uint64_t *sizes;            /* UINT64_MAX: unreadable (RFC822.SIZE used) */
    char line[64];              /* the command, to run again */
};

static void sizes_run(struct job *job, void *arg)
{
    (void)job;
    struct sizes_job *z = arg;
    struct mail_user *u = mailbox_user(z->mb);
    bool locked = storage_job_begin(u, NULL) == 0;
    for (size_t i = 0; i < z->n; i++) {
        struct msg_content c;
        z->sizes[i] = UINT64_MAX;
        if (locked && mailbox_get_content(z->mb, z->uids[i], &c) == 0) {
            z->sizes[i] = pop3_wire_size(c.data, c.len);
            msg_content_release(&c);
        }
    }
    if (locked)
        storage_job_end(u, NULL);
}

static void sizes_finish(struct pop3_session *s, bool gone, void *arg)
{
    struct sizes_job *z = arg;
    if (!gone) {
        for (size_t i = 0; i < z->n; i++) {
            struct pop3_msg *m = &s->msgs[z->idx[i]];
            if (z->sizes[i] == UINT64_MAX) {
                /* gone (expunged elsewhere) or unreadable: the stored size */
                m->popsize = m->rawsize;
            } else {
                m->popsize = z->sizes[i];
                size_cache_put(m->guid, m->popsize);
            }
        }
        struct pop3_cmdline cl;
        if (pop3_parse_line(z->line, &cl))
            pop3_transaction_command(s, &cl);
    }
    free(z->idx);
    free(z->uids);
    free(z->sizes);
    free(z);
}

/* Are the sizes of message k (or of every message not deleted, when k is
 * UINT32_MAX) known? If not, a job computes them and the command cl runs
 * again afterwards: returns false (nothing answered yet). */
static bool sizes_known(struct pop3_session *s, const struct pop3_cmdline *cl, uint32_t k)
{
    size_t n = 0;
    uint32_t lo = k == UINT32_MAX ? 0 : k, hi = k == UINT32_MAX ? s->nmsgs : k + 1;
    for (uint32_t i = lo; i < hi; i++) {
        struct pop3_msg *m = &s->msgs[i];
        uint64_t sz;
        if (m->deleted || m->popsize != POP3_SIZE_UNKNOWN)
            continue;
        if (size_cache_get(m->guid, &sz))
            m->popsize = sz;
        else
            n++;
    }
    if (n == 0)
        return true;
    struct sizes_job *z = xcalloc(1, sizeof(*z));
    z->mb = s->mb;
    z->idx = xmalloc(n * sizeof(*z->idx));
    z->uids = xmalloc(n * sizeof(*z->uids));
    z->sizes = xmalloc(n * sizeof(*z->sizes));
    for (uint32_t i = lo; i < hi; i++) {
        struct pop3_msg *m = &s->msgs[i];
        if (m->deleted || m->popsize != POP3_SIZE_UNKNOWN)
            continue;
        z->idx[z->n] = i;
        z->uids[z->n] = m->uid;
        z->n++;
    }
    /* STAT, LIST or "LIST n" (n as parsed) */
    if (k == UINT32_MAX)
        snprintf(z->line, sizeof(z->line), "%s", cl->keyword);
    else
        snprintf(z->line, sizeof(z->line), "%s %u", cl->keyword, k + 1);
    pop3_park(s, "sizes", mailbox_user(s->mb), sizes_run, sizes_finish, z);
    return false;
}

static void cmd_stat(struct pop3_session *s, const struct pop3_cmdline *cl)
{
    if (!sizes_known(s, cl, UINT32_MAX))
        return;
    uint32_t count = 0;
    uint64_t total = 0;
    for (uint32_t i = 0; i < s->nmsgs; i++) {
        if (s->msgs[i].deleted)
            continue;
        count++;
        total += msg_size(s, &s->msgs[i]);
    }
    pop3_printf(s, "+OK %u %llu\r\n", count, (unsigned long long)total);
}

static void cmd_list_uidl(struct pop3_session *s, const struct pop3_cmdline *cl, bool uidl)
{
    if (cl->argc > 1 || cl->too_many) {
        pop3_printf(s, "-ERR Too many arguments\r\n");
        return;
    }
    if (cl->argc == 1) {
        uint32_t n;
        struct pop3_msg *m = get_msg(s, cl->argv[0], &n);
        if (!m)
            return;
        if (uidl)
            pop3_printf(s, "+OK %u %u.%u\r\n", n, s->uidvalidity, m->uid);
        else if (sizes_known(s, cl, n - 1))
            pop3_printf(s, "+OK %u %llu\r\n", n, (unsigned long long)msg_size(s, m));
        return;
    }
    if (uidl) {
        pop3_printf(s, "+OK Unique-ID listing follows\r\n");
    } else {
        if (!sizes_known(s, cl, UINT32_MAX))
            return;
        uint32_t count = 0;
        uint64_t total = 0;
        for (uint32_t i = 0; i < s->nmsgs; i++)
            if (!s->msgs[i].deleted) {
                count++;
                total += msg_size(s, &s->msgs[i]);
            }
        pop3_printf(s, "+OK %u messages (%llu octets)\r\n", count, (unsigned long long)total);
    }
    s->job.kind = uidl ? JOB_UIDL : JOB_LIST;
    s->job.next = 0;
    start_job(s);
}

/* RETR and TOP: the message is read (mapped, its wire size computed,
 * the first window made resident) and RETR's \Seen set by a job; the
 * loop sends it. */
struct retr_job {
    struct mailbox *mb;
    uint32_t uid;
    uint32_t idx;               /* message index */
    bool top;
    long lines;
    bool need_size;
    int err;
    int seen_err;
    struct msg_content c;
    uint64_t popsize;
    size_t resident;
};

static void retr_run(struct job *job, void *arg)
{
    (void)job;
    struct retr_job *r = arg;
    struct mail_user *u = mailbox_user(r->mb);
    r->err = storage_job_begin(u, NULL);
    if (r->err < 0)
        return;
    r->err = mailbox_get_content(r->mb, r->uid, &r->c);
    if (r->err == 0 && !r->top) {
        /* RETR sets \Seen (as Cyrus does); TOP does not. */
        struct store_req req = {STORE_ADD, MSG_SEEN, NULL, 0};
        r->seen_err = mailbox_store(r->mb, &r->uid, 1, &req, NULL, NULL, NULL, NULL);
    }
    storage_job_end(u, NULL);
    if (r->err == 0) {
        if (r->need_size)
            r->popsize = pop3_wire_size(r->c.data, r->c.len);
        r->resident = xfer_prefault(r->c.data, r->c.len, 0);
    }
}

static void retr_finish(struct pop3_session *s, bool gone, void *arg)
{
    struct retr_job *r = arg;
    struct pop3_msg *m = gone ? NULL : &s->msgs[r->idx];
    if (gone) {
        msg_content_release(&r->c);
    } else if (r->err == STORAGE_ERR_NOTFOUND || r->err == STORAGE_ERR_EXPUNGED) {
        pop3_printf(s, "-ERR [SYS/PERM] Message was deleted by another session\r\n");
    } else if (r->err < 0) {
        log_err("pop3: cannot read message %u of %s: %s", r->uid, s->user, storage_strerror(r->err));
        pop3_printf(s, "-ERR [SYS/TEMP] Cannot read the message\r\n");
    } else {
        if (r->top) {
            pop3_printf(s, "+OK Top of message follows\r\n");
        } else {
            if (m->popsize == POP3_SIZE_UNKNOWN) {
                m->popsize = r->need_size ? r->popsize : pop3_wire_size(r->c.data, r->c.len);
                size_cache_put(m->guid, m->popsize);
            }
            pop3_printf(s, "+OK %llu octets\r\n", (unsigned long long)m->popsize);
            if (r->seen_err < 0 && r->seen_err != STORAGE_ERR_NOTFOUND)
                log_warn("pop3: cannot set \\Seen on %u of %s: %s", r->uid, s->user, storage_strerror(r->seen_err));
        }
        s->job.kind = JOB_XFER;
        s->job.content = r->c;
        s->job.have_content = true;
        s->job.resident = r->resident;
        pop3_xfer_init(&s->job.xfer, r->c.data, r->c.len, r->lines);
        start_job(s);
    }
    free(r);
}

static void cmd_retr_top(struct pop3_session *s, const struct pop3_cmdline *cl, bool top)
{
    if (cl->argc != (top ? 2 : 1) || cl->too_many) {
        pop3_printf(s, top ? "-ERR Usage: TOP msg n\r\n" : "-ERR Usage: RETR msg\r\n");
        return;
    }
    long lines = -1;
    if (top && !pop3_parse_count(cl->argv[1], &lines)) {
        pop3_printf(s, "-ERR Invalid line count\r\n");
        return;
    }
    uint32_t n;
    struct pop3_msg *m = get_msg(s, cl->argv[0], &n);
    if (!m)
        return;
    struct retr_job *r = xcalloc(1, sizeof(*r));
    r->mb = s->mb;
    r->uid = m->uid;
    r->idx = n - 1;
    r->top = top;
    r->lines = lines;
    if (!top && m->popsize == POP3_SIZE_UNKNOWN) {
        uint64_t sz;
        if (size_cache_get(m->guid, &sz))
            m->popsize = sz;
        else
            r->need_size = true;
    }
    pop3_park(s, "retr", mailbox_user(s->mb), retr_run, retr_finish, r);
}

static void cmd_dele(struct pop3_session *s, const struct pop3_cmdline *cl)
{
    if (cl->argc != 1 || cl->too_many) {
        pop3_printf(s, "-ERR Usage: DELE msg\r\n");
        return;
    }
    uint32_t n;
    struct pop3_msg *m = get_msg(s, cl->argv[0], &n);
    if (!m)
        return;
    m->deleted = true;
    pop3_printf(s, "+OK Message %u deleted\r\n", n);
}

static void cmd_rset(struct pop3_session *s)
{
    for (uint32_t i = 0; i < s->nmsgs; i++)
        s->msgs[i].deleted = false;
    pop3_printf(s, "+OK %u messages\r\n", s->nmsgs);
}

/* RFC 1939 6: the UPDATE state. The store and expunge run as a job (they
 * commit and fsync); the answer follows on the loop. */
struct update_job {
    struct mailbox *mb;
    uint32_t *uids;
    size_t n;
    uint32_t left;
    int err;
};

static void update_run(struct job *job, void *arg)
{
    (void)job;
    struct update_job *u = arg;
    struct mail_user *mu = mailbox_user(u->mb);
    u->err = storage_job_begin(mu, NULL);
    if (u->err < 0)
        return;
    struct store_req req = {STORE_ADD, MSG_DELETED, NULL, 0};
    u->err = mailbox_store(u->mb, u->uids, u->n, &req, NULL, NULL, NULL, NULL);
    if (u->err >= 0)
        u->err = mailbox_expunge(u->mb, u->uids, u->n, NULL, NULL);
    storage_job_end(mu, NULL);
}

static void update_done(struct pop3_session *s, bool gone, size_t n, uint32_t left, int err)
{
    /* Release the mailbox and the IN-USE lock before answering, so a
     * client that logs in again right after our +OK is never refused. */
    pop3_maildrop_close(s);
    if (s->counted_user && s->user) {
        limits_login_release(s->user, s->peer);
        s->counted_user = false;
    }
    if (err < 0)
        log_err("pop3: UPDATE failed for %s: %s", s->user, storage_strerror(err));
    else if (n)
        log_info("pop3: user=%s deleted %zu message%s", s->user, n, n == 1 ? "" : "s");
    if (gone)
        return;
    const char *product = fe_server_product();
    if (err < 0)
        pop3_printf(s, "-ERR [SYS/TEMP] Some deleted messages were not removed\r\n");
    else
        pop3_printf(s, "+OK %s%sPOP3 server signing off (%u messages left)\r\n", product, *product ? " " : "",
                    left);
    pop3_session_close(s, NULL);
}

static void update_finish(struct pop3_session *s, bool gone, void *arg)
{
    struct update_job *u = arg;
    update_done(s, gone, u->n, u->left, u->err);
    free(u->uids);
    free(u);
}

static void cmd_quit(struct pop3_session *s)
{
    s->state = POP3_UPDATE;
    uint32_t *uids = NULL;
    size_t n = 0;
    uint32_t left = 0;
    for (uint32_t i = 0; i < s->nmsgs; i++) {
        if (s->msgs[i].deleted) {
            if (!uids)
                uids = xmalloc(s->nmsgs * sizeof(*uids));
            uids[n++] = s->msgs[i].uid; /* ascending: snapshot is in UID order */
        } else {
            left++;
        }
    }
    if (n == 0) {
        update_done(s, false, 0, left, 0);
        return;
    }
    struct update_job *u = xcalloc(1, sizeof(*u));
    u->mb = s->mb;
    u->uids = uids;
    u->n = n;
    u->left = left;
    /* The client asked for the UPDATE state: it completes even if the
     * client goes away meanwhile (update_done with gone). */
    pop3_park(s, "update", mailbox_user(s->mb), update_run, update_finish, u);
}

void pop3_transaction_command(struct pop3_session *s, const struct pop3_cmdline *cl)
{
    const char *k = cl->keyword;
    bool noargs = cl->argc == 0;
    if (strcmp(k, "STAT") == 0 && noargs)
        cmd_stat(s, cl);
    else if (strcmp(k, "LIST") == 0)
        cmd_list_uidl(s, cl, false);
    else if (strcmp(k, "UIDL") == 0)
        cmd_list_uidl(s, cl, true);
    else if (strcmp(k, "RETR") == 0)
        cmd_retr_top(s, cl, false);
    else if (strcmp(k, "TOP") == 0)
        cmd_retr_top(s, cl, true);
    else if (strcmp(k, "DELE") == 0)
        cmd_dele(s, cl);
    else if (strcmp(k, "NOOP") == 0 && noargs)
        pop3_printf(s, "+OK\r\n");
    else if (strcmp(k, "RSET") == 0 && noargs)
        cmd_rset(s);
    else if (strcmp(k, "QUIT") == 0 && noargs)
        cmd_quit(s);
    else if (strcmp(k, "LAST") == 0)
        pop3_printf(s, "-ERR LAST is obsolete (removed in RFC 1939)\r\n");
    else if (strcmp(k, "STAT") == 0 || strcmp(k, "NOOP") == 0 || strcmp(k, "RSET") == 0 ||
             strcmp(k, "QUIT") == 0)
        pop3_printf(s, "-ERR Unexpected arguments\r\n");
    else
        pop3_printf(s, "-ERR Unknown command\r\n");
}
