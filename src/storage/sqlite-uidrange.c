/* sqlite-uidrange.c - SQLite backend: the per-mailbox UID range table.
 *
 * uidrange(mailbox_id, lo, hi) holds the UIDs present in a mailbox as
 * disjoint, non-adjacent ranges (why: see the schema 1 -> 2 migration in
 * sqlite-schema.c). Every function here runs inside the write transaction
 * of the change that adds or removes the message rows, so the ranges can
 * never disagree with the rows after a crash; mail_user_check verifies and
 * rebuilds them should anything else (a bug, manual SQL) break them.
 *
 * Invariant used by sq_ranges_add: new UIDs always come from UIDNEXT, so
 * they are above every UID present and only ever touch the last range.
 */
#include "sqlite-internal.h"
#include "log.h"

static int range_insert(struct mail_user *u, int64_t mbid, uint64_t lo, uint64_t hi)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_RANGE_INSERT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_int64(st, 2, (int64_t)lo);
    sqlite3_bind_int64(st, 3, (int64_t)hi);
    return sq_run(u, st, "uid range");
}

/* The range with the greatest lo <= uid (any range when uid is
 * UINT32_MAX+1); 0 = found, NOTFOUND = none. */
static int range_find(struct mail_user *u, int64_t mbid, uint64_t uid, uint64_t *lo, uint64_t *hi)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_RANGE_FIND);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_int64(st, 2, (int64_t)uid);
    int rc = sqlite3_step(st);
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        *lo = (uint64_t)sqlite3_column_int64(st, 0);
        *hi = (uint64_t)sqlite3_column_int64(st, 1);
    } else {
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(u, rc, "uid range");
    }
    sqlite3_reset(st);
    return r;
}

int sq_ranges_add(struct mail_user *u, int64_t mbid, uint32_t lo, uint32_t hi)
{
    if (lo > hi)
        return STORAGE_OK;
    uint64_t llo, lhi;
    int r = range_find(u, mbid, (uint64_t)UINT32_MAX + 1, &llo, &lhi);
    if (r == STORAGE_ERR_NOTFOUND || (r == 0 && lhi + 1 < lo))
        return range_insert(u, mbid, lo, hi);   /* empty mailbox, or a hole before lo */
    if (r < 0)
        return r;
    /* Appending the next UID (the common case): extend the last range.
     * lhi >= lo would mean the ranges claim UIDs at or above UIDNEXT;
     * taking the union keeps them a superset of the rows, and check
     * reports and repairs the surplus. */
    if (lhi >= lo)
        log_warn("storage: %s: uid range %llu:%llu overlaps new uids %u:%u", u->name, (unsigned long long)llo,
                 (unsigned long long)lhi, lo, hi);
    if (hi <= lhi)
        return STORAGE_OK;
    sqlite3_stmt *st = sq_stmt(u, SQ_RANGE_SET_HI);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    sqlite3_bind_int64(st, 2, (int64_t)llo);
    sqlite3_bind_int64(st, 3, hi);
    return sq_run(u, st, "uid range");
}

int sq_ranges_remove(struct mail_user *u, int64_t mbid, const uint32_t *uids, size_t n)
{
    /* One lookup per range touched, not per UID: all removed UIDs that fall
     * into the same range are handled together by deleting the range and
     * inserting what is left of it. An expunge of everything is therefore
     * one delete per range. */
    size_t i = 0;
    while (i < n) {
        uint64_t lo, hi;
        int r = range_find(u, mbid, uids[i], &lo, &hi);
        if (r < 0 && r != STORAGE_ERR_NOTFOUND)
            return r;
        if (r == STORAGE_ERR_NOTFOUND || hi < uids[i]) {
            /* Not covered: the ranges already lacked this UID (only after
             * outside damage; check repairs it). Nothing to remove. */
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && uids[j] <= hi)
            j++;
        sqlite3_stmt *st = sq_stmt(u, SQ_RANGE_DELETE_ONE);
        if (!st)
            return STORAGE_ERR_IO;
        sqlite3_bind_int64(st, 1, mbid);
        sqlite3_bind_int64(st, 2, (int64_t)lo);
        if ((r = sq_run(u, st, "uid range")) < 0)
            return r;
        uint64_t cur = lo;   /* first UID not yet accounted for */
        for (size_t k = i; k < j; k++) {
            if (uids[k] < cur)
                continue;    /* duplicate in the input */
            if (uids[k] > cur && (r = range_insert(u, mbid, cur, uids[k] - 1)) < 0)
                return r;
            cur = (uint64_t)uids[k] + 1;
        }
        if (cur <= hi && (r = range_insert(u, mbid, cur, hi)) < 0)
            return r;
        i = j;
    }
    return STORAGE_OK;
}

int sq_ranges_rebuild(struct mail_user *u, int64_t mbid)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_RANGE_DELETE_MAILBOX);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    int r = sq_run(u, st, "uid range");
    if (r < 0)
        return r;
    if (!(st = sq_stmt(u, SQ_RANGE_REBUILD)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mbid);
    return sq_run(u, st, "uid range");
}

/* Counters come from the database too: a damaged one must not become a
 * giant allocation. Beyond this many UIDs the arrays grow by doubling. */
#define PREALLOC_MAX ((size_t)1 << 22)

/* The old way, kept as the fallback when the ranges disagree with the
 * message counter: one ordered scan of the mailbox's message rows. */
static int uids_from_messages(struct mailbox *mb, size_t cap, uint32_t **uids, uint32_t *count)
{
    struct mail_user *u = mb->user;
    sqlite3_stmt *st = sq_stmt(u, SQ_MSG_UIDS);
    if (!st)
        return STORAGE_ERR_IO;
    cap = MIN(MAX(cap, (size_t)16), PREALLOC_MAX);
    uint32_t *v = xmalloc(cap * sizeof(*v));
    size_t n = 0;
    sqlite3_bind_int64(st, 1, mb->id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = (uint32_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(v);
        return sq_error(u, rc, "uids");
    }
    *uids = v;
    *count = (uint32_t)n;
    return STORAGE_OK;
}

int sq_ranges_get_uids(struct mailbox *mb, uint32_t **uids, uint32_t *count)
{
    struct mail_user *u = mb->user;
    /* Existence first: an empty mailbox has no range rows, a deleted one
     * must still be NOTFOUND. */
    if (mb->deleted)
        return STORAGE_ERR_NOTFOUND;
    sqlite3_stmt *st = sq_stmt(u, SQ_MB_COUNT);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_text(st, 2, mb->info.mailboxid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t c64 = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    size_t counted = c64 > 0 ? (size_t)MIN(c64, (int64_t)UINT32_MAX) : 0;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        mb->deleted = true;
        return STORAGE_ERR_NOTFOUND;
    }
    if (rc != SQLITE_ROW)
        return sq_error(u, rc, "uids");

    if (!(st = sq_stmt(u, SQ_RANGE_LIST)))
        return STORAGE_ERR_IO;
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_text(st, 2, mb->info.mailboxid, -1, SQLITE_STATIC);
    uint32_t *v = NULL;
    size_t n = 0, cap = 0, messages = 0;
    bool bad = false;
    uint64_t prev_hi = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t lo = (uint64_t)sqlite3_column_int64(st, 0);
        uint64_t hi = (uint64_t)sqlite3_column_int64(st, 1);
        if (!v) {
            /* Exact size from the counter read in the same snapshot as
             * the ranges (a concurrent commit cannot fall in between). */
            int64_t m = sqlite3_column_int64(st, 2);
            messages = m > 0 ? (size_t)MIN(m, (int64_t)UINT32_MAX) : 0;
            cap = MIN(MAX(messages, (size_t)1), PREALLOC_MAX);
            v = xmalloc(cap * sizeof(*v));
        }
        /* Never trust the rows to size memory: a damaged range such as
         * 1:4294967295 must not turn into a 16 GB allocation. Ranges that
         * overrun the counter, overlap or are out of bounds send us to the
         * row scan instead. */
        if (lo == 0 || hi < lo || hi > UINT32_MAX || lo <= prev_hi || hi - lo + 1 > messages - n) {
            bad = true;
            break;
        }
        while (cap - n < hi - lo + 1) {
            cap = MIN(cap * 2, messages);
            v = xrealloc(v, cap * sizeof(*v));
        }
        for (uint64_t x = lo; x <= hi; x++)
            v[n++] = (uint32_t)x;
        prev_hi = hi;
    }
    sqlite3_reset(st);
    if (!bad && rc != SQLITE_DONE) {
        free(v);
        return sq_error(u, rc, "uids");
    }
    if (!v && counted) {
        /* No ranges although the counter (read a moment earlier) says
         * there are messages: damage, or everything was just expunged. */
        bad = true;
        messages = counted;
    }
    if (bad || n != messages) {
        /* n < messages: either damaged ranges, or the counter itself is
         * off; the rows decide. mail_user_check repairs both. */
        log_warn("storage: %s: uid ranges of mailbox id %lld disagree with its %zu messages; "
                 "scanning messages (run a store check)",
                 u->name, (long long)mb->id, messages);
        free(v);
        return uids_from_messages(mb, messages, uids, count);
    }
    if (!v)
        v = xmalloc(sizeof(*v));   /* empty mailbox: callers free() a real pointer */
    *uids = v;
    *count = (uint32_t)n;
    return STORAGE_OK;
}
