/* sqlite-message.c - SQLite backend: message rows (read, append, store,
 * expunge, copy/move).
 *
 * Every change runs in one BEGIN IMMEDIATE transaction that also bumps the
 * mailbox's highestmodseq, stamps the changed rows with it and adjusts the
 * counters, so a crash can never leave counters, modseqs and rows out of
 * step. Callbacks that report changes run after the commit: a caller never
 * announces something that was then rolled back, and callbacks may call
 * back into storage.
 */
#include "sqlite-internal.h"
#include "mime.h"
#include "sortkey.h"
#include "notify.h"
#include "log.h"
#include "buf.h"

#include <time.h>

void sq_row_to_record(sqlite3_stmt *st, struct msg_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->uid = (uint32_t)sqlite3_column_int64(st, 0);
    rec->flags = (uint32_t)sqlite3_column_int64(st, 1);
    const char *kw = (const char *)sqlite3_column_text(st, 2);
    rec->keywords = kw ? kw : "";
    rec->modseq = (uint64_t)sqlite3_column_int64(st, 3);
    rec->internaldate = sqlite3_column_int64(st, 4);
    rec->internaldate_tz = sqlite3_column_int(st, 5);
    rec->savedate = sqlite3_column_int64(st, 6);
    rec->size = (uint64_t)sqlite3_column_int64(st, 7);
    /* memcpy with explicit bounds: this runs once per row of a FETCH 1:*. */
    const char *g = (const char *)sqlite3_column_text(st, 8);
    size_t gl = g ? MIN((size_t)sqlite3_column_bytes(st, 8), sizeof(rec->guid) - 1) : 0;
    if (gl)
        memcpy(rec->guid, g, gl);
    rec->guid[gl] = '\0';
    const char *t = (const char *)sqlite3_column_text(st, 9);
    size_t tl = t ? MIN((size_t)sqlite3_column_bytes(st, 9), sizeof(rec->threadid) - 1) : 0;
    if (tl)
        memcpy(rec->threadid, t, tl);
    rec->threadid[tl] = '\0';
}

/* A record that outlives its statement (reported after commit). */
struct saved_rec {
    struct msg_record rec;
    char *kw;
};

static void save_rec(struct saved_rec **v, size_t *n, size_t *cap, const struct msg_record *rec)
{
    ARRAY_GROW(*v, *n, *cap);
    (*v)[*n].rec = *rec;
    (*v)[*n].kw = xstrdup(rec->keywords ? rec->keywords : "");
    (*v)[*n].rec.keywords = (*v)[*n].kw;
    (*n)++;
}

static void free_recs(struct saved_rec *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].kw);
    free(v);
}

/* Load one message row; NOTFOUND when the UID does not exist. The record's
 * keywords are copied into *kwbuf (caller frees). rec->flags is what mb
 * shows (a reader's own \Seen, schema 5); *raw (may be NULL) gets the
 * row's own flags, which the mailbox counters count. */
static int load_msg(struct mailbox *mb, uint32_t uid, struct msg_record *rec, char **kwbuf, uint32_t *raw)
{
    struct mail_user *u = mb->user;
    const char *reader = mailbox_seen_reader(mb);
    sqlite3_stmt *st = sq_stmt(u, reader ? SQ_MSG_ONE_AS : SQ_MSG_ONE);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_int64(st, 2, uid);
    sqlite3_bind_text(st, 3, mb->info.mailboxid, -1, SQLITE_STATIC);
    if (reader)
        sqlite3_bind_text(st, 20, reader, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        sq_row_to_record(st, rec);
        if (raw)
            *raw = reader ? (uint32_t)sqlite3_column_int64(st, 10) : rec->flags;
        *kwbuf = xstrdup(rec->keywords);
        rec->keywords = *kwbuf;
    } else {
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(u, rc, "load message");
    }
    sqlite3_reset(st);
    return r;
}

/* ---- reading ------------------------------------------------------------ */

int sq_get_uids(struct mailbox *mb, uint32_t **uids, uint32_t *count)
{
    return sq_ranges_get_uids(mb, uids, count);   /* sqlite-uidrange.c */
}

int sq_first_unseen(struct mailbox *mb, uint32_t *uid)
{
    /* A reader's own \Seen: the first message without the reader's seen
     * row (a walk of the primary key with one point lookup per message up
     * to it; reader handles are shared folders, not the 1M-message INBOX
     * the owner's partial index exists for). */
    const char *reader = mailbox_seen_reader(mb);
    sqlite3_stmt *st = sq_stmt(mb->user, reader ? SQ_MSG_FIRST_UNSEEN_AS : SQ_MSG_FIRST_UNSEEN);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_text(st, 2, mb->info.mailboxid, -1, SQLITE_STATIC);
    if (reader)
        sqlite3_bind_text(st, 3, reader, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *uid = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return sq_if_gone(mb, STORAGE_OK);   /* none unseen, or no mailbox */
    return rc == SQLITE_ROW ? STORAGE_OK : sq_error(mb->user, rc, "first unseen");
}

int sq_get_keywords(struct mailbox *mb, char **out)
{
    sqlite3_stmt *st = sq_stmt(mb->user, SQ_KW_LIST);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_text(st, 2, mb->info.mailboxid, -1, SQLITE_STATIC);
    struct buf b = BUF_INIT;
    buf_puts(&b, "");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (b.len)
            buf_putc(&b, ' ');
        buf_puts(&b, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        buf_free(&b);
        return sq_error(mb->user, rc, "keywords");
    }
    if (b.len == 0 && sq_if_gone(mb, 0) == STORAGE_ERR_NOTFOUND) {
        buf_free(&b);
        return STORAGE_ERR_NOTFOUND;
    }
    *out = buf_release(&b);
    return STORAGE_OK;
}

/* A large scan (the sort keys of a SORT or THREAD, the records of a
 * SEARCH over a big mailbox) reads its pages through a memory map for
 * its duration: no page-cache allocation and no pread per page, which
 * with the small cache of a connection (sq_open) were a quarter of a
 * SORT over 100,000 messages. Only inside a transaction, where the
 * snapshot cannot change and SQLite never drops the mapping mid-scan
 * (sq_open says why connections otherwise run without one), and given
 * back at the end: one munmap per large scan. Past the first GiB
 * (SQ_MMAP_ON) the file is read as before. */
#define SCAN_MMAP_MIN_ROWS 4096

static bool scan_mmap_begin(struct mail_user *u, uint64_t rows)
{
    if (rows < SCAN_MMAP_MIN_ROWS || sqlite3_get_autocommit(sq(u)->db))
        return false;
    return sq_run(u, sq_stmt(u, SQ_MMAP_ON), "mmap on") == STORAGE_OK;
}

static void scan_mmap_end(struct mail_user *u, bool on)
{
    if (on)
        (void)sq_run(u, sq_stmt(u, SQ_MMAP_OFF), "mmap off");
}

/* Rows per batch of mailbox_foreach_record: no cursor is held while the
 * callback runs (SQLite leaves a cursor's results undefined when the same
 * connection writes, and FETCH sets \\Seen from inside the callback), yet
 * memory stays bounded for a FETCH 1:* over a million messages. */
#define FOREACH_BATCH 256

int sq_foreach_record(struct mailbox *mb, uint32_t lo, uint32_t hi, msg_record_cb cb, void *arg)
{
    struct saved_rec *v = NULL;
    size_t n = 0, cap = 0;
    int r = STORAGE_OK;
    uint64_t next = lo;
    size_t total = 0;
    bool mapped = scan_mmap_begin(mb->user, (uint64_t)hi - lo + 1);
    while (next <= hi) {
        const char *reader = mailbox_seen_reader(mb);
        sqlite3_stmt *st = sq_stmt(mb->user, reader ? SQ_MSG_RANGE_AS : SQ_MSG_RANGE);
        if (!st) {
            r = STORAGE_ERR_IO;
            break;
        }
        if (reader)
            sqlite3_bind_text(st, 20, reader, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 1, mb->id);
        sqlite3_bind_int64(st, 2, (int64_t)next);
        sqlite3_bind_int64(st, 3, hi);
        sqlite3_bind_int(st, 4, FOREACH_BATCH);
        sqlite3_bind_text(st, 5, mb->info.mailboxid, -1, SQLITE_STATIC);
        int rc;
        struct msg_record rec;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            sq_row_to_record(st, &rec);
            save_rec(&v, &n, &cap, &rec);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            r = sq_error(mb->user, rc, "records");
            for (size_t i = 0; i < n; i++)
                free(v[i].kw);
            break;
        }
        size_t got = n;
        total += got;
        bool stop = false;
        if (got)
            next = (uint64_t)v[got - 1].rec.uid + 1;
        for (size_t i = 0; i < got && !stop; i++)
            if (cb(&v[i].rec, arg))
                stop = true;
        for (size_t i = 0; i < got; i++)
            free(v[i].kw);
        n = 0;
        if (stop || got < FOREACH_BATCH)
            break;
    }
    free(v);
    scan_mmap_end(mb->user, mapped);
    /* Rows are only returned while mb's row is still mb (MB_IS in the
     * statement); an empty result must tell "no such UIDs" from "no
     * mailbox". */
    if (r == 0 && total == 0)
        r = sq_if_gone(mb, r);
    return r;
}

int sq_get_record(struct mailbox *mb, uint32_t uid, struct msg_record *out)
{
    char *kw = NULL;
    int r = load_msg(mb, uid, out, &kw, NULL);
    if (r == 0) {
        free(mb->kwcopy);
        mb->kwcopy = kw;
    } else if (r == STORAGE_ERR_NOTFOUND) {
        r = sq_if_gone(mb, r);   /* NOTFOUND either way; notes a deleted mailbox */
    }
    return r;
}

static int cmp_uid(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int report_uids(struct mailbox *mb, uint64_t since, uint64_t upto,
                       int (*cb)(uint32_t uid, void *arg), void *arg, size_t *found)
{
    struct mail_user *u = mb->user;
    /* Collected first so cb may call into storage. */
    sqlite3_stmt *st = sq_stmt(u, SQ_EXP_SINCE);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_text(st, 4, mb->info.mailboxid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)MIN(since, (uint64_t)INT64_MAX));
    sqlite3_bind_int64(st, 3, (int64_t)MIN(upto, (uint64_t)INT64_MAX));
    uint32_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ARRAY_GROW(v, n, cap);
        v[n++] = (uint32_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    int r = rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "expunged");
    if (n > 1)   /* callers get them in UID order; the index gives modseq order */
        qsort(v, n, sizeof(*v), cmp_uid);
    if (found)
        *found = n;
    for (size_t i = 0; r == 0 && i < n; i++)
        if (cb(v[i], arg))
            break;
    free(v);
    return r;
}

struct sync_filter {
    const uint32_t *uids;
    size_t n;
    msg_record_cb cb;
    void *arg;
};

static int sync_filter_cb(const struct msg_record *rec, void *arg)
{
    struct sync_filter *f = arg;
    if (!bsearch(&rec->uid, f->uids, f->n, sizeof(*f->uids), cmp_uid))
        return 0;
    return f->cb(rec, f->arg);
}

int sq_sync(struct mailbox *mb, uint64_t since, msg_record_cb changed, void *carg,
            int (*expunged)(uint32_t uid, void *arg), void *earg)
{
    struct mail_user *u = mb->user;
    int r = sq_refresh_info(mb);
    if (r < 0)
        return r;
    /* Bounded by the highestmodseq just read, so what is reported matches
     * mailbox_get_info(); anything committed meanwhile has a higher modseq
     * and is picked up by the next sync. */
    uint64_t upto = mb->info.highestmodseq;
    if (since >= upto)
        return STORAGE_OK;
    if (changed) {
        /* UIDs first (a covering scan of the modseq index), then each
         * record by primary key with no cursor open while the callback
         * runs. A record changed again meanwhile is reported in its newer
         * state; one expunged meanwhile is skipped (the expunge has a
         * higher modseq and shows up in the next sync). */
        sqlite3_stmt *st = sq_stmt(u, SQ_MSG_SINCE);
        if (!st)
            return STORAGE_ERR_IO;
        sqlite3_bind_int64(st, 1, mb->id);
        sqlite3_bind_int64(st, 2, (int64_t)since);
        sqlite3_bind_int64(st, 3, (int64_t)upto);
        sqlite3_bind_text(st, 4, mb->info.mailboxid, -1, SQLITE_STATIC);
        uint32_t *v = NULL;
        size_t n = 0, cap = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            ARRAY_GROW(v, n, cap);
            v[n++] = (uint32_t)sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            free(v);
            return sq_error(u, rc, "sync");
        }
        if (n > 1)
            qsort(v, n, sizeof(*v), cmp_uid);
        if (n > 64 && n > mb->info.messages / 8) {
            /* Many changes (a full resync): one batched scan of the UID
             * range beats a point lookup per record by ~10x. */
            struct sync_filter f = {v, n, changed, carg};
            r = sq_foreach_record(mb, v[0], v[n - 1], sync_filter_cb, &f);
            n = 0;
        }
        for (size_t i = 0; i < n && r == 0; i++) {
            struct msg_record rec;
            char *kw = NULL;
            r = load_msg(mb, v[i], &rec, &kw, NULL);
            if (r == STORAGE_ERR_NOTFOUND) {
                r = 0;
                continue;
            }
            int stop = r == 0 ? changed(&rec, carg) : 0;
            free(kw);
            if (stop)
                break;
        }
        free(v);
        if (r < 0)
            return r;
    }
    if (expunged) {
        size_t found = 0;
        r = report_uids(mb, since, upto, expunged, earg, &found);
        /* A viewer may now be told of them (mailbox_expunges_told). */
        if (r == 0 && found)
            mb->expunges_seen = true;
    }
    return r;
}

int sq_vanished_since(struct mailbox *mb, uint64_t since, int (*cb)(uint32_t uid, void *arg), void *arg)
{
    if (mb->deleted)
        return STORAGE_ERR_NOTFOUND;
    size_t found = 0;
    int r = report_uids(mb, since, INT64_MAX, cb, arg, &found);
    return r == 0 && found == 0 ? sq_if_gone(mb, r) : r;
}

/* A point lookup of (mb, uid) by statement id: the message row's, or for
 * a viewer whose message is gone, the retained one's (bound ?4: only what
 * was expunged after its client was last told). */
static sqlite3_stmt *point_lookup(struct mailbox *mb, enum sq_stmt_id id, enum sq_stmt_id retained_id, uint32_t uid,
                                  int *rc)
{
    sqlite3_stmt *st = sq_stmt(mb->user, id);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_int64(st, 2, uid);
    sqlite3_bind_text(st, 3, mb->info.mailboxid, -1, SQLITE_STATIC);
    *rc = sqlite3_step(st);
    if (*rc != SQLITE_DONE || !mb->keep_expunged)
        return st;
    sqlite3_reset(st);
    if (!(st = sq_stmt(mb->user, retained_id)))
        return NULL;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_int64(st, 2, uid);
    sqlite3_bind_text(st, 3, mb->info.mailboxid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)MIN(mb->told, (uint64_t)INT64_MAX));
    *rc = sqlite3_step(st);
    return st;
}

int sq_get_cache(struct mailbox *mb, uint32_t uid, struct msg_cache *out)
{
    int rc = SQLITE_ERROR;
    sqlite3_stmt *st = point_lookup(mb, SQ_BLOB_CACHE, SQ_RET_CACHE, uid, &rc);
    if (!st)
        return STORAGE_ERR_IO;
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        const char *e = (const char *)sqlite3_column_text(st, 0);
        out->envelope = xstrdup(e ? e : "");
        const char *bs = (const char *)sqlite3_column_text(st, 1);
        out->bodystructure = xstrdup(bs ? bs : "");
        const char *b = (const char *)sqlite3_column_text(st, 2);
        out->body = xstrdup(b ? b : "");
        const void *h = sqlite3_column_blob(st, 3);
        size_t hl = (size_t)sqlite3_column_bytes(st, 3);
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {   /* NULL: not cached (too long) */
            out->header = xmalloc(hl + 1);
            if (hl)
                memcpy(out->header, h, hl);
            out->header[hl] = '\0';
            out->header_len = hl;
        }
        out->lines = (uint32_t)sqlite3_column_int64(st, 4);
    } else {
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(mb->user, rc, "cache");
        if (r == STORAGE_ERR_NOTFOUND) {
            sqlite3_reset(st);
            return sq_if_gone(mb, r);
        }
    }
    sqlite3_reset(st);
    return r;
}

int sq_get_guid(struct mailbox *mb, uint32_t uid, char guid[33])
{
    int rc = SQLITE_ERROR;
    sqlite3_stmt *st = point_lookup(mb, SQ_MSG_GUID, SQ_RET_GUID, uid, &rc);
    if (!st)
        return STORAGE_ERR_IO;
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 0);
        snprintf(guid, 33, "%s", g ? g : "");
    } else {
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(mb->user, rc, "guid");
        if (r == STORAGE_ERR_NOTFOUND) {
            sqlite3_reset(st);
            return sq_if_gone(mb, r);
        }
    }
    sqlite3_reset(st);
    return r;
}

/* ---- header data for SEARCH --------------------------------------------------- */

/* A batch of mailbox_search_headers holds at most about this much: the
 * caller evaluates it and asks for the rest. */
#define SEARCH_HDR_BUDGET ((size_t)4 << 20)

/* Where a batch entry's data is in b->mem while the arena may still move. */
struct hdr_off {
    size_t hf, hfl, h, hl;
    bool has_hf, has_h;
};

/* A blob whose hfields are missing (stored before schema 6) or of another
 * format: decoded now and saved. */
struct hdr_fill {
    size_t idx;
    char guid[33];
};

static size_t arena_put(struct search_hdr_batch *b, const void *p, size_t n)
{
    if (!b->mem || b->memcap - b->memlen < n) {
        size_t cap = b->memcap ? b->memcap : 64 * 1024;
        while (cap - b->memlen < n)
            cap *= 2;
        b->mem = xrealloc(b->mem, cap);
        b->memcap = cap;
    }
    size_t off = b->memlen;
    if (n)
        memcpy(b->mem + off, p, n);
    b->memlen += n;
    return off;
}

int sq_hfields_put(struct mail_user *u, const char *guid, const char *data, size_t len)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_HF_PUT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, guid, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, len ? data : "", (int)MIN(len, (size_t)INT32_MAX), SQLITE_STATIC);
    return sq_run(u, st, "insert hdrfields");
}

/* A cache fill (rows computed lazily for older blobs: hfields, sort keys,
 * previews) never waits for the write lock: with another writer the
 * next command computes them again, and a failure never fails the
 * command, which has its answer already. cache_fill_begin: false when
 * the transaction could not start at once. */
static bool cache_fill_begin(struct mail_user *u)
{
    sqlite3 *db = sq(u)->db;
    sq_read_drop(u);    /* a reader job's snapshot: the write cannot nest in it */
    if (!sqlite3_get_autocommit(db))
        return false;
    sqlite3_busy_timeout(db, 0);
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sq_busy_wait(db);
    if (rc != SQLITE_OK)
        return false;
    sq_quota_forget(u);
    return true;
}

static void cache_fill_end(struct mail_user *u, int r, const char *what, size_t n)
{
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    if (r == 0)
        log_debug("storage: %s: saved the %s of %zu older messages", u->name, what, n);
}

/* Save lazily computed hfields (a cache fill). */
static void save_hfields(struct mail_user *u, const struct hdr_fill *fills, size_t nfills, const struct buf *vals)
{
    if (nfills == 0 || !cache_fill_begin(u))
        return;
    int r = 0;
    for (size_t i = 0; i < nfills && r == 0; i++)
        if (vals[i].len)
            r = sq_hfields_put(u, fills[i].guid, vals[i].data, vals[i].len);
    cache_fill_end(u, r, "search fields", nfills);
}

int sq_search_headers(struct mailbox *mb, const uint32_t *uids, size_t n, unsigned what, struct search_hdr_batch *b)
{
    struct mail_user *u = mb->user;
    bool want_f = what & SEARCH_HDR_FIELDS, want_r = what & SEARCH_HDR_RAW;
    sqlite3_stmt *st = sq_stmt(u, want_f && want_r ? SQ_HF_SEARCH_FR : want_f ? SQ_HF_SEARCH_F : SQ_HF_SEARCH_R);
    if (!st)
        return STORAGE_ERR_IO;
    if (b->cap < n) {
        b->v = xrealloc(b->v, n * sizeof(*b->v));
        b->cap = n;
    }
    memset(b->v, 0, n * sizeof(*b->v));
    struct hdr_off *off = xcalloc(n, sizeof(*off));
    struct hdr_fill *fills = NULL;
    size_t nfills = 0, cfills = 0, rows = 0;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_int64(st, 2, uids[0]);
    sqlite3_bind_int64(st, 3, uids[n - 1]);
    sqlite3_bind_text(st, 4, mb->info.mailboxid, -1, SQLITE_STATIC);
    size_t i = 0, k = n;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
        while (i < n && uids[i] < uid)
            i++;            /* no row: expunged, uid stays 0 */
        if (i == n)
            break;
        if (uids[i] != uid)
            continue;       /* in the range, not asked for */
        b->v[i].uid = uid;
        if (want_f) {
            const char *hf = sqlite3_column_blob(st, 2);
            size_t hfl = (size_t)sqlite3_column_bytes(st, 2);
            if (hf && mime_hfields_complete(hf, hfl)) {
                off[i].hf = arena_put(b, hf, hfl);
                off[i].hfl = hfl;
                off[i].has_hf = true;
            } else if (!hf || !mime_hfields_current(hf, hfl)) {
                ARRAY_GROW(fills, nfills, cfills);
                fills[nfills].idx = i;
                const char *g = (const char *)sqlite3_column_text(st, 1);
                snprintf(fills[nfills].guid, sizeof(fills[nfills].guid), "%s", g ? g : "");
                nfills++;
            }   /* else "too large": the caller decodes the raw header */
        }
        if (want_r && sqlite3_column_type(st, 3) != SQLITE_NULL) {
            const void *h = sqlite3_column_blob(st, 3);
            off[i].hl = (size_t)sqlite3_column_bytes(st, 3);
            off[i].h = arena_put(b, h, off[i].hl);
            off[i].has_h = true;
        }
        i++;
        if (b->memlen >= SEARCH_HDR_BUDGET && i < n) {
            k = i;
            break;
        }
    }
    sqlite3_reset(st);
    int r = 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = sq_error(u, rc, "search headers");
    else if (rows == 0)
        r = sq_if_gone(mb, 0);

    /* Older blobs: decoded once from the cached raw header (the file only
     * when the header was too long to cache) and saved for next time. */
    struct buf *vals = nfills ? xcalloc(nfills, sizeof(*vals)) : NULL;
    for (size_t f = 0; r == 0 && f < nfills; f++) {
        if (b->memlen >= 2 * SEARCH_HDR_BUDGET) {
            /* Decoded values can be up to MIME_HFIELDS_MAX each: the batch
             * ends before this message (f > 0 here: the scan stopped below
             * SEARCH_HDR_BUDGET plus one row), the rest comes next call. */
            k = fills[f].idx;
            nfills = f;
            break;
        }
        struct hdr_off *o = &off[fills[f].idx];
        int e;
        if (o->has_h) {
            /* copied out first: b->mem moves as it grows */
            struct buf h = BUF_INIT;
            buf_append(&h, b->mem + o->h, o->hl);
            e = storage_hfields_compute(u, fills[f].guid, buf_cstr(&h), h.len, &vals[f]);
            buf_free(&h);
        } else {
            sqlite3_stmt *q = sq_stmt(u, SQ_BLOB_HEADER);
            if (!q)
                break;
            sqlite3_bind_text(q, 1, fills[f].guid, -1, SQLITE_STATIC);
            int qrc = sqlite3_step(q);
            if (qrc == SQLITE_ROW) {
                const char *h = sqlite3_column_blob(q, 0);
                size_t hl = (size_t)sqlite3_column_bytes(q, 0);
                bool cached = sqlite3_column_type(q, 0) != SQLITE_NULL;
                e = storage_hfields_compute(u, fills[f].guid, cached ? (h ? h : "") : NULL, hl, &vals[f]);
            } else {
                e = STORAGE_ERR_NOTFOUND;   /* blob gone meanwhile: the caller's fallback says so */
            }
            sqlite3_reset(q);
        }
        if (e < 0) {
            buf_free(&vals[f]);
            continue;
        }
        if (mime_hfields_complete(vals[f].data, vals[f].len)) {
            o->hf = arena_put(b, vals[f].data, vals[f].len);
            o->hfl = vals[f].len;
            o->has_hf = true;
        }
    }
    if (r == 0)
        save_hfields(u, fills, nfills, vals);
    for (size_t f = 0; f < nfills; f++)
        buf_free(&vals[f]);
    free(vals);
    free(fills);
    if (r == 0) {
        for (size_t j = 0; j < k; j++) {
            if (off[j].has_hf) {
                b->v[j].hfields = b->mem + off[j].hf;
                b->v[j].hfields_len = off[j].hfl;
            }
            if (off[j].has_h) {
                b->v[j].header = b->mem + off[j].h;
                b->v[j].header_len = off[j].hl;
            }
        }
        b->n = k;
    }
    free(off);
    return r < 0 ? r : (int)MIN(k, (size_t)INT32_MAX);
}

/* ---- PREVIEW (RFC 8970) ------------------------------------------------------ */

int sq_preview_put(struct mail_user *u, const char *guid, const char *text)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_PV_PUT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, guid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    return sq_run(u, st, "insert preview");
}

int sq_get_preview(struct mailbox *mb, uint32_t uid, char **text, char guid[33])
{
    int rc = SQLITE_ERROR;
    sqlite3_stmt *st = point_lookup(mb, SQ_PV_GET, SQ_RET_PV_GET, uid, &rc);
    if (!st)
        return STORAGE_ERR_IO;
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t)
            *text = xstrdup(t);
        const char *g = (const char *)sqlite3_column_text(st, 1);
        if (guid)
            snprintf(guid, 33, "%s", g ? g : "");
    } else {
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(mb->user, rc, "preview");
        if (r == STORAGE_ERR_NOTFOUND) {
            sqlite3_reset(st);
            return sq_if_gone(mb, r);
        }
    }
    sqlite3_reset(st);
    return r;
}

/* Save lazily computed previews (a cache fill). */
void sq_save_previews(struct mail_user *u, const char (*guids)[33], char *const *texts, size_t n)
{
    if (!cache_fill_begin(u))
        return;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = sq_preview_put(u, guids[i], texts[i]);
    cache_fill_end(u, r, "previews", n);
}

/* ---- sort keys for SORT and THREAD ---------------------------------------- */

int sq_sortkeys_put(struct mail_user *u, const char *guid, const char *data, size_t len)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_SK_PUT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, guid, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, len ? data : "", (int)MIN(len, (size_t)INT32_MAX), SQLITE_STATIC);
    return sq_run(u, st, "insert sortkeys");
}

struct sk_fill {
    char guid[33];
    struct buf rec;
};

/* Save lazily built records (a cache fill). */
static void save_sortkeys(struct mail_user *u, const struct sk_fill *fills, size_t nfills)
{
    if (nfills == 0 || !cache_fill_begin(u))
        return;
    int r = 0;
    for (size_t i = 0; i < nfills && r == 0; i++)
        r = sq_sortkeys_put(u, fills[i].guid, fills[i].rec.data, fills[i].rec.len);
    cache_fill_end(u, r, "sort keys", nfills);
}

/* The record of an older blob, from its cached raw header (or its file
 * when the header was too long to cache). */
static int build_sortkeys(struct mail_user *u, const char *guid, struct buf *out)
{
    sqlite3_stmt *q = sq_stmt(u, SQ_BLOB_HEADER);
    if (!q)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(q, 1, guid, -1, SQLITE_STATIC);
    int e, qrc = sqlite3_step(q);
    if (qrc == SQLITE_ROW) {
        const char *h = sqlite3_column_blob(q, 0);
        size_t hl = (size_t)sqlite3_column_bytes(q, 0);
        bool cached = sqlite3_column_type(q, 0) != SQLITE_NULL;
        e = storage_sortkeys_compute(u, guid, cached ? (h ? h : "") : NULL, hl, out);
    } else {
        e = STORAGE_ERR_NOTFOUND;
    }
    sqlite3_reset(q);
    return e;
}

/* Records built for older blobs that one call keeps to save: a store of
 * a million messages from before schema 9 is filled over several SORTs,
 * never with all its records in memory at once. */
#define SORT_FILL_MAX 16384

int sq_sort_keys(struct mailbox *mb, const uint32_t *uids, size_t n, sort_keys_cb cb, void *arg)
{
    struct mail_user *u = mb->user;
    sqlite3_stmt *st = sq_stmt(u, SQ_SK_READ);
    if (!st)
        return STORAGE_ERR_IO;
    /* One primary-key lookup of sortkeys per message row: with the small
     * page cache of a connection (sqlite-store.c) the two tables' pages
     * keep evicting each other and every lookup becomes preads. */
    bool mapped = scan_mmap_begin(u, n);
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_int64(st, 2, uids[0]);
    sqlite3_bind_int64(st, 3, uids[n - 1]);
    sqlite3_bind_text(st, 4, mb->info.mailboxid, -1, SQLITE_STATIC);
    struct sk_fill *fills = NULL;
    size_t nfills = 0, cfills = 0, i = 0, rows = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);
        while (i < n && uids[i] < uid)
            i++;
        if (i == n)
            break;
        if (uids[i] != uid)
            continue;
        i++;
        const char *d = sqlite3_column_blob(st, 2);
        size_t dl = (size_t)sqlite3_column_bytes(st, 2);
        if (d && mime_sortkeys_parse(d, dl, NULL)) {
            cb(arg, uid, d, dl);
            continue;
        }
        /* Stored before schema 9 (or of an older format): built now. */
        const char *g = (const char *)sqlite3_column_text(st, 1);
        struct sk_fill f = {.rec = BUF_INIT};
        snprintf(f.guid, sizeof(f.guid), "%s", g ? g : "");
        if (build_sortkeys(u, f.guid, &f.rec) < 0) {
            buf_free(&f.rec);
            buf_puts(&f.rec, ""); /* unreadable: sorts with empty keys */
            mime_sortkeys_build(&f.rec, "", 0);
            cb(arg, uid, f.rec.data, f.rec.len);
            buf_free(&f.rec);
            continue;
        }
        cb(arg, uid, f.rec.data, f.rec.len);
        if (nfills == SORT_FILL_MAX) { /* saved by a later call */
            buf_free(&f.rec);
            continue;
        }
        ARRAY_GROW(fills, nfills, cfills);
        fills[nfills++] = f;
    }
    sqlite3_reset(st);
    scan_mmap_end(u, mapped);
    int r = 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = sq_error(u, rc, "sort keys");
    else if (rows == 0)
        r = sq_if_gone(mb, 0);
    if (r == 0)
        save_sortkeys(u, fills, nfills);
    for (size_t f = 0; f < nfills; f++)
        buf_free(&fills[f].rec);
    free(fills);
    return r;
}

/* ---- writing ------------------------------------------------------------- */

static int insert_msg(struct mail_user *u, int64_t mbid, uint32_t uid, uint64_t modseq, const struct msg_record *r)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_MSG_INSERT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_int64(st, 2, uid);
    sqlite3_bind_int64(st, 3, (int64_t)modseq);
    sqlite3_bind_int64(st, 4, r->flags);
    sqlite3_bind_text(st, 5, r->keywords ? r->keywords : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, r->internaldate);
    sqlite3_bind_int(st, 7, r->internaldate_tz);
    sqlite3_bind_int64(st, 8, r->savedate);
    sqlite3_bind_int64(st, 9, (int64_t)r->size);
    sqlite3_bind_text(st, 10, r->guid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, r->threadid, -1, SQLITE_STATIC);
    return sq_run(u, st, "insert message");
}

static int blob_ref(struct mail_user *u, const char *guid, int delta)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_BLOB_REF);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int(st, 1, delta);
    sqlite3_bind_text(st, 2, guid, -1, SQLITE_STATIC);
    return sq_run(u, st, "blob refcount");
}

/* Remove one message row inside a transaction: record it as expunged
 * (forever, for QRESYNC) and drop its blob reference - or, with retain
 * (another session may still show it: sqlite-retain.c), keep its record
 * and the reference in the retained table. */
static int expunge_one(struct mail_user *u, int64_t mbid, const struct msg_record *rec, uint64_t modseq,
                       bool retain)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_MSG_DELETE);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_int64(st, 2, rec->uid);
    int r = sq_run(u, st, "expunge");
    if (r < 0)
        return r;
    if (!(st = sq_stmt(u, SQ_EXP_INSERT)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_int64(st, 2, rec->uid);
    sqlite3_bind_int64(st, 3, (int64_t)modseq);
    if ((r = sq_run(u, st, "expunge")) < 0)
        return r;
    /* Every reader's own \Seen of the message goes with it. */
    if (!(st = sq_stmt(u, SQ_SEEN_DELETE_UID)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_int64(st, 2, rec->uid);
    if ((r = sq_run(u, st, "expunge")) < 0)
        return r;
    if (retain)
        return sq_retain_insert(u, mbid, rec, modseq);
    return blob_ref(u, rec->guid, -1);
}

/* Whether this transaction's expunges by mb are kept for other sessions
 * (sq_retain_needed), asked once, at the first message expunged: an
 * EXPUNGE that removes nothing costs nothing more. *state: -1 not asked
 * yet, else 0/1. */
static int retain_state(struct mailbox *mb, int *state)
{
    if (*state >= 0)
        return STORAGE_OK;
    bool retain = false;
    int r = sq_retain_needed(mb, &retain);
    if (r == 0)
        *state = retain;
    return r;
}

static int th_lookup(struct mail_user *u, const char *id, size_t len, char threadid[33], bool *found)
{
    sqlite3_stmt *q = sq_stmt(u, SQ_TH_GET);
    if (!q)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(q, 1, id, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        size_t tl = t ? (size_t)sqlite3_column_bytes(q, 0) : 0;
        if (tl > 0 && tl < 33) {
            memcpy(threadid, t, tl);
            threadid[tl] = '\0';
            *found = true;
        }
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "thread lookup");
}

static int th_put(struct mail_user *u, const char *id, size_t len, const char *threadid)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_TH_PUT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, id, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, threadid, -1, SQLITE_STATIC);
    return sq_run(u, st, "thread insert");
}

enum { TH_MAXIDS = SORTKEY_MAX_REFS + 2 };

/* The Message-IDs a sort-key record names: References oldest first, then
 * In-Reply-To, then the message's own. */
static size_t thread_ids(const char *sortkeys, size_t len, const char *ids[TH_MAXIDS], size_t lens[TH_MAXIDS])
{
    struct mime_sortkeys k;
    if (!sortkeys || !mime_sortkeys_parse(sortkeys, len, &k))
        return 0;
    size_t n = 0, pos = 0;
    const char *id;
    size_t idlen;
    while (n < SORTKEY_MAX_REFS && mime_sortkeys_next_ref(&k, &pos, &id, &idlen))
        if (idlen > 0) {
            ids[n] = id;
            lens[n++] = idlen;
        }
    if (k.len[SK_INREPLYTO] > 0) {
        ids[n] = k.s[SK_INREPLYTO];
        lens[n++] = k.len[SK_INREPLYTO];
    }
    if (k.len[SK_MESSAGEID] > 0) {
        ids[n] = k.s[SK_MESSAGEID];
        lens[n++] = k.len[SK_MESSAGEID];
    }
    return n;
}

/* Map every id of the record to threadid, unless already mapped. Also
 * for a copy into another store (sq_copy_to): the copy keeps its
 * THREADID, and mail stored there later joins it. */
/* Rows are never deleted, so what one message may add is bounded: its
 * own Message-ID, In-Reply-To, the first Reference (the conversation's
 * root) and the last TH_REG_TAIL ones (its nearest ancestors). A message
 * that names a middle ancestor still finds the thread through that
 * ancestor's own Message-ID once it is stored; the lookup itself
 * (assign_threadid) reads every id. Without the bound one sender could
 * add 66 rows per message. */
enum { TH_REG_TAIL = 4 };

static int thread_register(struct mail_user *u, const char *sortkeys, size_t len, const char *threadid)
{
    const char *ids[TH_MAXIDS];
    size_t lens[TH_MAXIDS];
    size_t n = thread_ids(sortkeys, len, ids, lens);
    struct mime_sortkeys k;
    size_t nrefs = n;   /* ids[] holds the references first, then In-Reply-To and the Message-ID */
    if (sortkeys && mime_sortkeys_parse(sortkeys, len, &k))
        nrefs -= (k.len[SK_INREPLYTO] > 0) + (k.len[SK_MESSAGEID] > 0);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && i < nrefs && i + TH_REG_TAIL < nrefs)
            continue;   /* a middle reference */
        int r = th_put(u, ids[i], lens[i], threadid);
        if (r < 0)
            return r;
    }
    return STORAGE_OK;
}

/* RFC 8474 THREADID of a message being stored: the conversation's, found
 * through the Message-IDs it names (References oldest first - the root
 * is the likeliest to be known -, In-Reply-To, its own Message-ID, which
 * an earlier reply may have named), else a new one: its own guid. Then
 * every one of those Message-IDs maps to the result (first mapping
 * wins: a THREADID never changes, so two conversations a message joins
 * stay two). The keys are the normalized ids of its sort-key record (at
 * most 64 references); a message without any keeps its own thread. The
 * subject is not compared: a message that names a conversation's ids
 * joins it, as REFERENCES threading would link it. */
static int assign_threadid(struct mail_user *u, const struct append_item *it, char threadid[33])
{
    memcpy(threadid, it->guid, 33);
    const char *ids[TH_MAXIDS];
    size_t lens[TH_MAXIDS];
    size_t n = thread_ids(it->sortkeys, it->sortkeys_len, ids, lens);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        int r = th_lookup(u, ids[i], lens[i], threadid, &found);
        if (r < 0)
            return r;
    }
    return thread_register(u, it->sortkeys, it->sortkeys_len, threadid);
}

/* The rows of one append transaction, inside the caller's write
 * transaction: UIDs from the mailbox's current UIDNEXT (re-read here, so
 * the transactions of a group commit get consecutive, distinct UIDs). */
static int append_rows(struct append_commit *c)
{
    struct mailbox *mb = c->mb;
    struct mail_user *u = mb->user;
    struct append_item *items = c->items;
    size_t n = c->n;
    struct mailbox_info info;
    /* Re-read inside the lock: uidnext/modseq may have moved, or the
     * mailbox may have been deleted since it was opened. */
    int r = sq_mailbox_load_mb(mb, &info, NULL);
    if (r < 0)
        return r;
    if ((uint64_t)info.uidnext + n > UINT32_MAX)
        return STORAGE_ERR_LIMIT;
    uint64_t modseq = info.highestmodseq + 1;
    uint32_t uid = info.uidnext;
    int64_t now = (int64_t)time(NULL);
    int64_t dunseen = 0, ddeleted = 0, dsize = 0;
    for (size_t i = 0; i < n && r == 0; i++, uid++) {
        struct append_item *it = &items[i];
        if ((r = sq_keywords_register(u, mb->id, it->keywords)) < 0)
            break;
        sqlite3_stmt *st = sq_stmt(u, SQ_BLOB_INSERT);
        if (!st) {
            r = STORAGE_ERR_IO;
            break;
        }
        sqlite3_bind_text(st, 1, it->guid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)it->size);
        sqlite3_bind_text(st, 3, it->envelope, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, it->bodystructure, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, it->body, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, it->header, (int)MIN(it->header_len, (size_t)INT32_MAX), SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, it->lines);
        if ((r = sq_run(u, st, "insert blob")) < 0)
            break;
        if (it->hfields && (r = sq_hfields_put(u, it->guid, it->hfields, it->hfields_len)) < 0)
            break;
        if (it->sortkeys && (r = sq_sortkeys_put(u, it->guid, it->sortkeys, it->sortkeys_len)) < 0)
            break;
        if (it->preview && (r = sq_preview_put(u, it->guid, it->preview)) < 0)
            break;
        struct msg_record rec;
        memset(&rec, 0, sizeof(rec));
        rec.flags = it->flags;
        rec.keywords = it->keywords;
        rec.internaldate = it->internaldate;
        rec.internaldate_tz = it->internaldate_tz;
        rec.savedate = now;
        rec.size = it->size;
        memcpy(rec.guid, it->guid, 33);
        if ((r = assign_threadid(u, it, rec.threadid)) < 0)
            break;
        if ((r = insert_msg(u, mb->id, uid, modseq, &rec)) < 0)
            break;
        if (!(it->flags & MSG_SEEN))
            dunseen++;
        if (it->flags & MSG_DELETED)
            ddeleted++;
        dsize += (int64_t)it->size;
        if (i < c->maxuids && c->uids)
            c->uids[i] = uid;
    }
    if (r == 0 && n)
        r = sq_ranges_add(u, mb->id, info.uidnext, uid - 1);
    if (r == 0)
        r = sq_mailbox_bump(u, mb->id, modseq, uid, (int64_t)n, dunseen, ddeleted, dsize);
    if (r == 0)
        c->uidvalidity = info.uidvalidity;
    return r;
}

/* REPLACE (RFC 8508): the replaced message's expunge, inside the append's
 * transaction (or savepoint), after its rows: as expunge_common does for
 * one UID, whatever its flags. */
static int replace_expunge(struct append_commit *c)
{
    struct mailbox *mb = c->xmb;
    struct mail_user *u = mb->user;
    struct mailbox_info info;
    int r = sq_mailbox_load_mb(mb, &info, NULL);
    if (r < 0)
        return r;
    struct msg_record rec;
    char *kw = NULL;
    uint32_t raw = 0;
    r = load_msg(mb, c->xuid, &rec, &kw, &raw);
    if (r == STORAGE_ERR_NOTFOUND)
        r = STORAGE_ERR_EXPUNGED;
    uint64_t modseq = info.highestmodseq + 1;
    int retain = -1;
    if (r == 0)
        r = retain_state(mb, &retain);
    if (r == 0)
        r = expunge_one(u, mb->id, &rec, modseq, retain > 0);
    free(kw);
    if (r == 0)
        r = sq_ranges_remove(u, mb->id, &c->xuid, 1);
    if (r == 0)
        r = sq_mailbox_bump(u, mb->id, modseq, 0, -1, -(int64_t)!(raw & MSG_SEEN), -(int64_t)!!(raw & MSG_DELETED),
                            -(int64_t)rec.size);
    return r;
}

static int savepoint(struct mail_user *u, const char *sql)
{
    int rc = sqlite3_exec(sq(u)->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? STORAGE_OK : sq_error(u, rc, "savepoint");
}

void sq_append_commit(struct append_commit *c, size_t n)
{
    struct mail_user *u = NULL;
    size_t live = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].result == 0) {
            u = c[i].mb->user;
            live++;
        }
    if (!live)
        return;
    int r = sq_begin(u);
    for (size_t i = 0; r < 0 && i < n; i++)
        if (c[i].result == 0)
            c[i].result = r;
    if (r < 0)
        return;
    /* Group commit: each transaction in its own savepoint, with its own
     * quota verdict, so one that fails (over quota, its mailbox deleted,
     * a keyword limit) is rolled back alone and the others still commit
     * in this one write transaction. A single transaction needs no
     * savepoint: its failure is the whole transaction's. */
    bool group = live > 1;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].result != 0)
            continue;
        int rr = group ? savepoint(u, "SAVEPOINT append") : STORAGE_OK;
        if (rr == 0)
            rr = append_rows(&c[i]);
        if (rr == 0 && c[i].xmb)
            rr = replace_expunge(&c[i]);
        if (rr == 0) {
            /* The quota as if this transaction were committed alone after
             * the ones before it: every root it raised must be within its
             * limits now. IGNOREQUOTA only when every message of the
             * transaction asked for it (a delivery is one message;
             * MULTIAPPEND never asks). */
            bool bypass = c[i].n > 0;
            for (size_t k = 0; k < c[i].n; k++)
                bypass = bypass && c[i].items[k].ignore_quota;
            sq(u)->quota_bypass = bypass;
            rr = sq_quota_verdict(u);   /* also forgets this transaction's deltas */
            sq(u)->quota_bypass = false;
        } else {
            sq_quota_forget(u);
        }
        if (group) {
            if (rr < 0 && savepoint(u, "ROLLBACK TO append") < 0) {
                /* cannot undo this one alone: nothing of the batch commits */
                for (size_t k = 0; k < n; k++)
                    if (c[k].result == 0 && k != i)
                        c[k].result = STORAGE_ERR_IO;
                c[i].result = rr;
                sq_rollback(u);
                return;
            }
            int rel = savepoint(u, "RELEASE append");
            if (rr == 0 && rel < 0)
                rr = rel;
        }
        c[i].result = rr;
        if (rr == 0)
            ok++;
        else if (!group)
            break;
    }
    /* A REPLACE may have dropped a body's last reference: its row goes
     * now, its file after the commit. */
    char (*dead)[33] = NULL;
    size_t ndead = 0;
    bool replaced = false;
    for (size_t i = 0; i < n; i++)
        replaced = replaced || (c[i].result == 0 && c[i].xmb);
    r = !ok ? STORAGE_ERR_IO : replaced ? sq_collect_dead(u, &dead, &ndead) : STORAGE_OK;
    if (r == 0)
        r = sq_commit(u);
    else if (ok) {
        sq_rollback(u);
        free(dead);
        for (size_t i = 0; i < n; i++)
            if (c[i].result == 0)
                c[i].result = r;
        return;
    }
    if (!ok) {
        sq_rollback(u);
        return;
    }
    if (r == 0)
        sq_unlink_dead(u, dead, ndead);
    free(dead);
    if (r < 0) {
        /* sq_commit rolled back: nothing of the batch is there */
        for (size_t i = 0; i < n; i++)
            if (c[i].result == 0)
                c[i].result = r;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (c[i].result != 0)
            continue;
        bool told = false;
        for (size_t k = 0; k < i && !told; k++)
            told = c[k].result == 0 && c[k].mb->id == c[i].mb->id;
        if (!told)
            notify_mailbox_changed(u->name, c[i].mb->id);
        if (c[i].xmb && c[i].xmb->id != c[i].mb->id)
            notify_mailbox_changed(u->name, c[i].xmb->id);
    }
}

/* New keyword list for a STORE. */
static char *apply_keywords(enum store_mode mode, const char *old, const char *req)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "");
    if (mode == STORE_REPLACE) {
        buf_puts(&b, req);
        return buf_release(&b);
    }
    /* keep old ones (minus removed) */
    const char *p = old;
    while (p && *p) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l && !(mode == STORE_REMOVE && storage_keyword_in(req, p, l))) {
            if (b.len)
                buf_putc(&b, ' ');
            buf_append(&b, p, l);
        }
        p = e ? e + 1 : NULL;
    }
    if (mode == STORE_ADD) {
        p = req;
        while (p && *p) {
            const char *e = strchr(p, ' ');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l && !storage_keyword_in(buf_cstr(&b), p, l)) {
                if (b.len)
                    buf_putc(&b, ' ');
                buf_append(&b, p, l);
            }
            p = e ? e + 1 : NULL;
        }
    }
    return buf_release(&b);
}

/* Same set of keywords regardless of order/case. */
static bool same_keywords(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    for (const char *p = a; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l) {
            na++;
            if (!storage_keyword_in(b, p, l))
                return false;
        }
        p = e ? e + 1 : p + l;
    }
    for (const char *p = b; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l)
            nb++;
        p = e ? e + 1 : p + l;
    }
    return na == nb;
}

int sq_store(struct mailbox *mb, const uint32_t *uids, size_t n, const struct store_req *req,
             msg_record_cb changed_cb, void *carg, int (*failed_cb)(uint32_t uid, void *arg), void *farg)
{
    struct mail_user *u = mb->user;
    char *reqkw = storage_keywords_normalise(req->keywords);
    if (!reqkw)
        return STORAGE_ERR_INVALID;
    int r = sq_begin(u);
    if (r < 0) {
        free(reqkw);
        return r;
    }
    struct saved_rec *changed = NULL;
    size_t nchanged = 0, cchanged = 0;
    uint32_t *failed = NULL;
    size_t nfailed = 0, cfailed = 0;
    struct mailbox_info info;
    if ((r = sq_mailbox_load_mb(mb, &info, NULL)) < 0)
        goto out;
    uint64_t modseq = info.highestmodseq + 1;
    int64_t dunseen = 0, ddeleted = 0;
    /* The row read under the lock decides whose \Seen this STORE sets. */
    mb->info.sharedseen = info.sharedseen;
    const char *reader = mailbox_seen_reader(mb);
    if (req->mode != STORE_REMOVE && (r = sq_keywords_register(u, mb->id, reqkw)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct msg_record rec;
        char *kw = NULL;
        uint32_t raw = 0;
        r = load_msg(mb, uids[i], &rec, &kw, &raw);
        if (r == STORAGE_ERR_NOTFOUND) {
            r = 0;
            continue;   /* expunged meanwhile: skipped */
        }
        if (r < 0)
            break;
        /* RFC 7162 3.1.3: a message modified after UNCHANGEDSINCE is left
         * alone and reported (MODIFIED response code). */
        if (req->unchangedsince && rec.modseq > req->unchangedsince) {
            ARRAY_GROW(failed, nfailed, cfailed);
            failed[nfailed++] = rec.uid;
            free(kw);
            continue;
        }
        uint32_t nf = req->mode == STORE_REPLACE ? req->flags
                      : req->mode == STORE_ADD   ? (rec.flags | req->flags)
                                                 : (rec.flags & ~req->flags);
        char *nkw = apply_keywords(req->mode, rec.keywords, reqkw);
        if (nf == rec.flags && same_keywords(nkw, rec.keywords)) {
            /* Nothing changes: no modseq bump (RFC 7162 3.1.3 lets the
             * server skip it and clients expect none). */
            free(kw);
            free(nkw);
            continue;
        }
        /* A reader with its own \Seen: the row keeps its \Seen bit (the
         * owner's), the reader's goes to the seen table; the row still
         * gets the new modseq so the reader's CONDSTORE/QRESYNC sync
         * reports the change (other sessions see an unchanged FETCH,
         * RFC 7162 allows that). */
        sqlite3_stmt *st = sq_stmt(u, reader ? SQ_MSG_SETFLAGS_KEEPSEEN : SQ_MSG_SETFLAGS);
        if (!st) {
            free(kw);
            free(nkw);
            r = STORAGE_ERR_IO;
            break;
        }
        sqlite3_bind_int64(st, 1, nf);
        sqlite3_bind_text(st, 2, nkw, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)modseq);
        sqlite3_bind_int64(st, 4, mb->id);
        sqlite3_bind_int64(st, 5, rec.uid);
        r = sq_run(u, st, "store");
        if (r == 0 && reader && (nf & MSG_SEEN) != (rec.flags & MSG_SEEN))
            r = sq_reader_seen_set(u, mb->id, reader, rec.uid, (nf & MSG_SEEN) != 0);
        if (r == 0) {
            /* The counters count the row's own flags. */
            uint32_t nraw = reader ? ((raw & MSG_SEEN) | (nf & ~(uint32_t)MSG_SEEN)) : nf;
            dunseen += (int64_t)!(nraw & MSG_SEEN) - (int64_t)!(raw & MSG_SEEN);
            ddeleted += (int64_t)!!(nraw & MSG_DELETED) - (int64_t)!!(raw & MSG_DELETED);
            rec.flags = nf;
            rec.keywords = nkw;
            rec.modseq = modseq;
            save_rec(&changed, &nchanged, &cchanged, &rec);
        }
        free(kw);
        free(nkw);
        if (r < 0)
            break;
    }
    if (r == 0 && nchanged)
        r = sq_mailbox_bump(u, mb->id, modseq, 0, 0, dunseen, ddeleted, 0);
out:
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    free(reqkw);
    if (r == 0) {
        if (nchanged) {
            notify_mailbox_changed(u->name, mb->id);
            mb->info.highestmodseq = MAX(mb->info.highestmodseq, modseq);
        }
        for (size_t i = 0; failed_cb && i < nfailed; i++)
            if (failed_cb(failed[i], farg))
                break;
        for (size_t i = 0; changed_cb && i < nchanged; i++)
            if (changed_cb(&changed[i].rec, carg))
                break;
    }
    free(failed);
    free_recs(changed, nchanged);
    return r;
}

/* any: expunge the listed UIDs whether or not they have \Deleted. */
static int expunge_common(struct mailbox *mb, const uint32_t *uids, size_t n, bool any,
                          int (*cb)(uint32_t uid, void *arg), void *arg)
{
    struct mail_user *u = mb->user;
    int r = sq_begin(u);
    if (r < 0)
        return r;
    uint32_t *gone = NULL;
    size_t ngone = 0, cgone = 0;
    char (*dead)[33] = NULL;
    size_t ndead = 0;
    uint32_t *cand = NULL;
    size_t ncand = 0, ccand = 0;
    struct mailbox_info info;
    if ((r = sq_mailbox_load_mb(mb, &info, NULL)) < 0)
        goto out;
    uint64_t modseq = info.highestmodseq + 1;
    if (!uids) {
        sqlite3_stmt *st = sq_stmt(u, SQ_MSG_DELETED_UIDS);
        if (!st) {
            r = STORAGE_ERR_IO;
            goto out;
        }
        sqlite3_bind_int64(st, 1, mb->id);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            ARRAY_GROW(cand, ncand, ccand);
            cand[ncand++] = (uint32_t)sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            r = sq_error(u, rc, "expunge");
            goto out;
        }
        uids = cand;
        n = ncand;
    }
    int64_t dunseen = 0, dsize = 0, ddeleted = 0;
    int retain = -1;
    for (size_t i = 0; i < n; i++) {
        struct msg_record rec;
        char *kw = NULL;
        uint32_t raw = 0;
        r = load_msg(mb, uids[i], &rec, &kw, &raw);
        if (r == STORAGE_ERR_NOTFOUND) {
            free(kw);
            r = 0;
            continue;
        }
        if (r == 0 && !(rec.flags & MSG_DELETED) && !any) {
            free(kw);
            continue;
        }
        if (r == 0)
            r = retain_state(mb, &retain);
        /* (the record's keywords are kept with it when it is retained) */
        if (r == 0)
            r = expunge_one(u, mb->id, &rec, modseq, retain > 0);
        free(kw);
        if (r < 0)
            break;
        ARRAY_GROW(gone, ngone, cgone);
        gone[ngone++] = rec.uid;
        dunseen -= !(raw & MSG_SEEN);
        ddeleted -= !!(raw & MSG_DELETED);
        dsize -= (int64_t)rec.size;
    }
    if (r == 0 && ngone) {
        /* Ascending for the range update (the callbacks below want that
         * order too). */
        qsort(gone, ngone, sizeof(*gone), cmp_uid);
        r = sq_ranges_remove(u, mb->id, gone, ngone);
    }
    if (r == 0 && ngone) {
        r = sq_mailbox_bump(u, mb->id, modseq, 0, -(int64_t)ngone, dunseen, ddeleted, dsize);
        if (r == 0)
            r = sq_collect_dead(u, &dead, &ndead);
    }
out:
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    free(cand);
    if (r == 0 && ngone) {
        /* Files only after the commit: a crash before this leaves an
         * orphan (harmless, found by check), never a dangling row. */
        sq_unlink_dead(u, dead, ndead);
        notify_mailbox_changed(u->name, mb->id);
        /* gone is ascending (sorted above) regardless of the caller's order. */
        for (size_t i = 0; cb && i < ngone; i++)
            if (cb(gone[i], arg))
                break;
    }
    free(gone);
    free(dead);
    return r;
}

int sq_expunge(struct mailbox *mb, const uint32_t *uids, size_t n, int (*cb)(uint32_t uid, void *arg), void *arg)
{
    return expunge_common(mb, uids, n, false, cb, arg);
}

int sq_expunge_uids(struct mailbox *mb, const uint32_t *uids, size_t n, int (*cb)(uint32_t uid, void *arg),
                    void *arg)
{
    if (!uids)
        return STORAGE_ERR_INVALID;
    return expunge_common(mb, uids, n, true, cb, arg);
}

int sq_copy(struct mailbox *src, const uint32_t *uids, size_t n, const char *dest_name, bool move,
            uint32_t *dest_uidvalidity, uint32_t *src_uids, uint32_t *dst_uids, size_t *ncopied,
            int (*expunged_cb)(uint32_t uid, void *arg), void *earg)
{
    struct mail_user *u = src->user;
    int r = sq_begin(u);
    if (r < 0)
        return r;
    uint32_t *gone = NULL, *gone_ghosts = NULL;
    size_t ngone = 0, cgone = 0, done = 0, ngg = 0, cgg = 0;
    struct mailbox_info sinfo, dinfo;
    if ((r = sq_mailbox_load_mb(src, &sinfo, NULL)) < 0)
        goto out;
    if ((r = sq_mailbox_load_name(u, dest_name, &dinfo, NULL)) < 0)
        goto out;
    if ((uint64_t)dinfo.uidnext + n > UINT32_MAX) {
        r = STORAGE_ERR_LIMIT;
        goto out;
    }
    uint64_t dmodseq = dinfo.highestmodseq + 1;
    uint64_t smodseq = sinfo.highestmodseq + 1;
    if (dinfo.id == sinfo.id)
        smodseq = dmodseq;
    uint32_t uid = dinfo.uidnext;
    int64_t now = (int64_t)time(NULL);
    int64_t dunseen = 0, ddeleted = 0, dsize = 0;
    int64_t s_unseen = 0, s_deleted = 0, s_size = 0;
    int retain = -1;
    for (size_t i = 0; i < n; i++) {
        struct msg_record rec;
        char *kw = NULL;
        uint32_t raw = 0;
        bool ghost = false;
        r = load_msg(src, uids[i], &rec, &kw, &raw);
        if (r == STORAGE_ERR_NOTFOUND) {
            /* Expunged by another session, and its client not told yet:
             * the message is still readable for it (RFC 2180 4.4.2 lets
             * COPY copy it: "the messages ... at the start of the COPY
             * command"); otherwise it is skipped. */
            r = sq_retained_load(src, uids[i], &rec, &kw);
            if (r == STORAGE_ERR_NOTFOUND) {
                r = 0;
                continue;
            }
            ghost = true;
        }
        if (r < 0)
            break;
        struct msg_record nrec = rec;
        nrec.savedate = now;
        if ((r = sq_keywords_register(u, dinfo.id, rec.keywords)) == 0 &&
            (r = insert_msg(u, dinfo.id, uid, dmodseq, &nrec)) == 0 && (r = blob_ref(u, rec.guid, +1)) == 0 &&
            move && !ghost && (r = retain_state(src, &retain)) == 0)
            r = expunge_one(u, src->id, &rec, smodseq, retain > 0);
        free(kw);
        if (r < 0)
            break;
        if (src_uids)
            src_uids[done] = rec.uid;
        if (dst_uids)
            dst_uids[done] = uid;
        done++;
        uid++;
        dunseen += !(rec.flags & MSG_SEEN);
        ddeleted += !!(rec.flags & MSG_DELETED);
        dsize += (int64_t)rec.size;
        if (move && ghost) {
            /* already gone from the source: reported as expunged with the
             * others (the MOVE's EXPUNGE), nothing left to remove */
            ARRAY_GROW(gone_ghosts, ngg, cgg);
            gone_ghosts[ngg++] = rec.uid;
        } else if (move) {
            ARRAY_GROW(gone, ngone, cgone);
            gone[ngone++] = rec.uid;
            s_unseen -= !(raw & MSG_SEEN);
            s_deleted -= !!(raw & MSG_DELETED);
            s_size -= (int64_t)rec.size;
        }
    }
    if (r == 0 && done)
        r = sq_ranges_add(u, dinfo.id, dinfo.uidnext, uid - 1);
    if (r == 0 && ngone) {
        /* A sorted copy: expunged_cb keeps reporting in processing order. */
        uint32_t *sorted = xmalloc(ngone * sizeof(*sorted));
        memcpy(sorted, gone, ngone * sizeof(*sorted));
        qsort(sorted, ngone, sizeof(*sorted), cmp_uid);
        r = sq_ranges_remove(u, sinfo.id, sorted, ngone);
        free(sorted);
    }
    if (r == 0 && done) {
        r = sq_mailbox_bump(u, dinfo.id, dmodseq, uid, (int64_t)done, dunseen, ddeleted, dsize);
        if (r == 0 && move && ngone)
            r = sq_mailbox_bump(u, sinfo.id, smodseq, 0, -(int64_t)ngone, s_unseen, s_deleted, s_size);
    }
out:
    if (r == 0)
        r = sq_commit(u);
    else
        sq_rollback(u);
    if (r == 0) {
        if (ncopied)
            *ncopied = done;
        if (dest_uidvalidity)
            *dest_uidvalidity = dinfo.uidvalidity;
        if (done) {
            notify_mailbox_changed(u->name, dinfo.id);
            if (move && dinfo.id != sinfo.id)
                notify_mailbox_changed(u->name, sinfo.id);
        }
        bool stop = false;
        for (size_t i = 0; expunged_cb && i < ngone && !stop; i++)
            stop = expunged_cb(gone[i], earg) != 0;
        for (size_t i = 0; expunged_cb && i < ngg && !stop; i++)
            stop = expunged_cb(gone_ghosts[i], earg) != 0;
    }
    free(gone);
    free(gone_ghosts);
    return r;
}

/* ---- copy to another store ---------------------------------------------------- */

/* One source message of a cross-store copy, read before the destination
 * transaction (no lock on the source is held meanwhile). */
struct xitem {
    struct msg_record rec;      /* flags as the source handle shows them; guid: the destination's */
    char sguid[33];             /* the body's guid in the source store */
    char *kw;
    uint64_t bsize;
    char *envelope, *bodystructure, *body;
    void *header;
    size_t header_len;
    int64_t lines;
    void *hfields;              /* NULL: the source has none (yet) */
    size_t hfields_len;
    void *sortkeys;             /* NULL: the source has none (yet) */
    size_t sortkeys_len;
    char *preview;              /* NULL: the source has none (yet) */
    bool linked;                /* its file was created in the destination by this copy */
    bool skip;                  /* gone from the source meanwhile */
    bool ghost;                 /* expunged, kept for the source handle's client */
};

static char *col_dup(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? xstrdup(t) : NULL;
}

static int read_blob_row(struct mail_user *u, struct xitem *x)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_BLOB_ROW);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, x->rec.guid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        x->bsize = (uint64_t)sqlite3_column_int64(st, 0);
        x->envelope = col_dup(st, 1);
        x->bodystructure = col_dup(st, 2);
        x->body = col_dup(st, 3);
        size_t hl = (size_t)sqlite3_column_bytes(st, 4);
        const void *h = sqlite3_column_blob(st, 4);
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) {   /* NULL (not cached) is copied as NULL */
            x->header = xmalloc(hl + 1);
            if (hl && h)
                memcpy(x->header, h, hl);
            x->header_len = h ? hl : 0;
        }
        x->lines = sqlite3_column_int64(st, 5);
        const void *hf = sqlite3_column_blob(st, 6);
        size_t hfl = (size_t)sqlite3_column_bytes(st, 6);
        if (hf && mime_hfields_current(hf, hfl)) {
            x->hfields = xmalloc(hfl);
            memcpy(x->hfields, hf, hfl);
            x->hfields_len = hfl;
        }
        const void *sk = sqlite3_column_blob(st, 7);
        size_t skl = (size_t)sqlite3_column_bytes(st, 7);
        if (sk && mime_sortkeys_parse(sk, skl, NULL)) {
            x->sortkeys = xmalloc(skl);
            memcpy(x->sortkeys, sk, skl);
            x->sortkeys_len = skl;
        }
        x->preview = col_dup(st, 8);
    } else {
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(u, rc, "blob row");
    }
    sqlite3_reset(st);
    return r;
}

static bool blob_exists(struct mail_user *u, const char *guid, int *err)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_BLOB_EXISTS);
    *err = 0;
    if (!st) {
        *err = STORAGE_ERR_IO;
        return false;
    }
    sqlite3_bind_text(st, 1, guid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        *err = sq_error(u, rc, "blob lookup");
    return rc == SQLITE_ROW;
}

/* Give x a body file in dest. The source guid is kept when dest has no
 * file of that name; a file of that name without a blob row (an orphan,
 * or a body whose last reference another process is just removing) is
 * never reused: the copy gets a fresh guid instead. */
static int link_body(struct mail_user *su, struct mail_user *dest, struct xitem *x, bool fresh)
{
    if (fresh)
        msgfile_new_guid(x->rec.guid);
    int r = msgfile_link_into(su, x->sguid, dest, x->rec.guid, &x->linked);
    if (r == 0 && !x->linked) {
        msgfile_new_guid(x->rec.guid);
        r = msgfile_link_into(su, x->sguid, dest, x->rec.guid, &x->linked);
        if (r == 0 && !x->linked)
            r = STORAGE_ERR_IO;   /* a random 128-bit name taken: not in this universe */
    }
    return r;
}

static void xitems_free(struct xitem *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].kw);
        free(v[i].envelope);
        free(v[i].bodystructure);
        free(v[i].body);
        free(v[i].header);
        free(v[i].hfields);
        free(v[i].sortkeys);
        free(v[i].preview);
    }
    free(v);
}

/* The destination half: one transaction in dest's database. */
static int copy_into(struct mail_user *su, struct mail_user *dest, const char *dest_name, struct xitem *v, size_t n,
                     uint32_t *uv, uint32_t *dst_uids, size_t *done_out, int64_t *dest_id)
{
    int r = sq_begin(dest);
    if (r < 0)
        return r;
    struct mailbox_info *dinfo = xmalloc(sizeof(*dinfo));
    size_t done = 0;
    if ((r = sq_mailbox_load_name(dest, dest_name, dinfo, NULL)) < 0)
        goto out;
    if ((uint64_t)dinfo->uidnext + n > UINT32_MAX) {
        r = STORAGE_ERR_LIMIT;
        goto out;
    }
    uint64_t modseq = dinfo->highestmodseq + 1;
    uint32_t uid = dinfo->uidnext;
    int64_t now = (int64_t)time(NULL);
    int64_t dunseen = 0, ddeleted = 0, dsize = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct xitem *x = &v[i];
        if (x->skip)
            continue;
        int e;
        bool have = blob_exists(dest, x->rec.guid, &e);
        if (e < 0) {
            r = e;
            break;
        }
        if (!have && !x->linked) {
            /* The body was in dest when looked at outside the lock and is
             * gone now: link it here, under the lock, under a new name (the
             * old one's file may still be on its way out). */
            r = link_body(su, dest, x, true);
            if (r == STORAGE_ERR_NOTFOUND) {   /* expunged from the source */
                x->skip = true;
                r = 0;
                continue;
            }
            if (r < 0)
                break;
        }
        if (have) {
            r = blob_ref(dest, x->rec.guid, +1);
        } else {
            sqlite3_stmt *st = sq_stmt(dest, SQ_BLOB_INSERT);
            if (!st) {
                r = STORAGE_ERR_IO;
                break;
            }
            sqlite3_bind_text(st, 1, x->rec.guid, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, (int64_t)x->bsize);
            sqlite3_bind_text(st, 3, x->envelope, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, x->bodystructure, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, x->body, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 6, x->header, (int)MIN(x->header_len, (size_t)INT32_MAX), SQLITE_STATIC);
            sqlite3_bind_int64(st, 7, x->lines);
            r = sq_run(dest, st, "insert blob");
            if (r == 0 && x->hfields)
                r = sq_hfields_put(dest, x->rec.guid, x->hfields, x->hfields_len);
            if (r == 0 && x->sortkeys)
                r = sq_sortkeys_put(dest, x->rec.guid, x->sortkeys, x->sortkeys_len);
            if (r == 0 && x->preview)
                r = sq_preview_put(dest, x->rec.guid, x->preview);
        }
        if (r < 0)
            break;
        struct msg_record nrec = x->rec;
        nrec.savedate = now;
        if ((r = sq_keywords_register(dest, dinfo->id, nrec.keywords)) < 0 ||
            (r = insert_msg(dest, dinfo->id, uid, modseq, &nrec)) < 0)
            break;
        /* A new blob here: its ids lead later mail of this store to the
         * copy's conversation (an existing blob registered them already). */
        if (!have && x->sortkeys && nrec.threadid[0] &&
            (r = thread_register(dest, x->sortkeys, x->sortkeys_len, nrec.threadid)) < 0)
            break;
        if (dst_uids)
            dst_uids[done] = uid;
        done++;
        uid++;
        dunseen += !(nrec.flags & MSG_SEEN);
        ddeleted += !!(nrec.flags & MSG_DELETED);
        dsize += (int64_t)nrec.size;
    }
    if (r == 0 && done)
        r = sq_ranges_add(dest, dinfo->id, dinfo->uidnext, uid - 1);
    if (r == 0 && done)
        r = sq_mailbox_bump(dest, dinfo->id, modseq, uid, (int64_t)done, dunseen, ddeleted, dsize);
out:
    /* sq_commit enforces the destination's quota roots: OVERQUOTA rolls
     * everything back. */
    if (r == 0)
        r = sq_commit(dest);
    else
        sq_rollback(dest);
    if (r == 0) {
        *uv = dinfo->uidvalidity;
        *done_out = done;
        *dest_id = dinfo->id;
    }
    free(dinfo);
    return r;
}

int sq_copy_to(struct mailbox *src, const uint32_t *uids, size_t n, struct mail_user *dest, const char *dest_name,
               bool move, uint32_t *dest_uidvalidity, uint32_t *src_uids, uint32_t *dst_uids, size_t *ncopied,
               int (*expunged_cb)(uint32_t uid, void *arg), void *earg)
{
    struct mail_user *su = src->user;
    if (dest == su)
        return sq_copy(src, uids, n, dest_name, move, dest_uidvalidity, src_uids, dst_uids, ncopied, expunged_cb,
                       earg);
    /* Refuse early (before linking anything) when the target is missing
     * or the source mailbox is gone. */
    struct mailbox_info *tmp = xmalloc(sizeof(*tmp));
    int r = sq_mailbox_load_name(dest, dest_name, tmp, NULL);
    free(tmp);
    if (r < 0)
        return r;
    if ((r = sq_mailbox_alive(src)) < 0)
        return r;

    /* 1. Source records and blob rows, as plain reads (each statement its
     * own snapshot; a message expunged meanwhile is skipped). */
    struct xitem *v = xcalloc(n ? n : 1, sizeof(*v));
    size_t nv = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct xitem *x = &v[nv];
        char *kw = NULL;
        r = load_msg(src, uids[i], &x->rec, &kw, NULL);
        if (r == STORAGE_ERR_NOTFOUND) {
            /* kept for this session (RFC 2180 4.4.2), as in sq_copy */
            r = sq_retained_load(src, uids[i], &x->rec, &kw);
            x->ghost = r == 0;
            if (r == STORAGE_ERR_NOTFOUND) {
                r = 0;
                continue;
            }
        }
        if (r < 0)
            break;
        x->kw = kw;
        x->rec.keywords = kw;
        memcpy(x->sguid, x->rec.guid, sizeof(x->sguid));
        r = read_blob_row(su, x);
        if (r == STORAGE_ERR_NOTFOUND) {
            /* a message row always has its blob; gone means expunged */
            free(x->kw);
            memset(x, 0, sizeof(*x));
            r = 0;
            continue;
        }
        nv++;
    }
    /* 2. Message files into the destination store (link, or copy across
     * filesystems), durable before the metadata that references them. */
    for (size_t i = 0; i < nv && r == 0; i++) {
        struct xitem *x = &v[i];
        int e;
        if (blob_exists(dest, x->rec.guid, &e))
            continue;   /* an earlier copy of the same body is there */
        if ((r = e) < 0)
            break;
        r = link_body(su, dest, x, false);
        if (r == STORAGE_ERR_NOTFOUND) {
            x->skip = true;   /* expunged (file removed) since it was read */
            r = 0;
        }
    }
    /* 3. Metadata in the destination, one transaction. */
    size_t done = 0;
    uint32_t uv = 0;
    int64_t dest_id = 0;
    if (r == 0)
        r = copy_into(su, dest, dest_name, v, nv, &uv, dst_uids, &done, &dest_id);
    if (r < 0) {
        /* Nothing committed: remove the files this call created, unless a
         * concurrent copy has committed a reference to the same body. */
        for (size_t i = 0; i < nv; i++) {
            int e;
            if (v[i].linked && !blob_exists(dest, v[i].rec.guid, &e) && e == 0)
                msgfile_unlink(dest, v[i].rec.guid);
        }
        xitems_free(v, nv);
        return r;
    }
    size_t k = 0, kg = 0;
    uint32_t *moved = xmalloc((nv ? nv : 1) * sizeof(*moved));
    uint32_t *ghosts = xmalloc((nv ? nv : 1) * sizeof(*ghosts));
    for (size_t i = 0; i < nv; i++) {
        if (v[i].skip)
            continue;
        if (src_uids)
            src_uids[k + kg] = v[i].rec.uid;
        if (v[i].ghost)
            ghosts[kg++] = v[i].rec.uid;   /* already expunged from the source */
        else
            moved[k++] = v[i].rec.uid;
    }
    xitems_free(v, nv);
    if (ncopied)
        *ncopied = done;
    if (dest_uidvalidity)
        *dest_uidvalidity = uv;
    if (done)
        notify_mailbox_changed(dest->name, dest_id);
    /* 4. MOVE: expunge the copied source messages in a second
     * transaction. A crash before it leaves the message in both mailboxes,
     * never in neither. */
    if (move && k) {
        r = sq_expunge_uids(src, moved, k, expunged_cb, earg);
        if (r < 0)
            log_err("storage: %s: move to %s: copied, but expunging the source failed: %s", su->name, dest->name,
                    storage_strerror(r));
    }
    for (size_t i = 0; r == 0 && move && expunged_cb && i < kg; i++)
        if (expunged_cb(ghosts[i], earg))
            break;
    free(moved);
    free(ghosts);
    return r;
}
