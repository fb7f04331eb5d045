/* imap-fetch-batch.c - reading message records for a sorted UID list in
 * bounded batches. One range query per batch (not one per message), and
 * the records are copied out so the caller may call other storage
 * functions (cache, content, store) while handling them: nothing runs
 * inside the storage iteration callback but the copy.
 */
#include "imap-fetch.h"

#define BATCH_MAX_GAP 256   /* UIDs between requested ones read and skipped */

static void batch_push(struct rec_batch *b, const struct msg_record *rec)
{
    if (b->n >= b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->recs = xrealloc(b->recs, b->cap * sizeof(*b->recs));
        b->kwoff = xrealloc(b->kwoff, b->cap * sizeof(*b->kwoff));
    }
    b->recs[b->n] = *rec;
    b->kwoff[b->n] = b->kw.len;
    const char *kw = rec->keywords ? rec->keywords : "";
    buf_append(&b->kw, kw, strlen(kw) + 1);
    b->n++;
}

struct batch_cb {
    struct rec_batch *b;
};

static int batch_rec_cb(const struct msg_record *rec, void *arg)
{
    struct batch_cb *cb = arg;
    struct rec_batch *b = cb->b;
    while (b->pos < b->nuids && b->uids[b->pos] < rec->uid) {
        b->missing++;
        b->pos++;
    }
    if (b->pos >= b->nuids)
        return 1;   /* past the range's last wanted UID */
    if (b->uids[b->pos] != rec->uid)
        return 0;   /* a record we did not ask for */
    b->pos++;
    batch_push(b, rec);
    if (b->n >= b->max)
        return 1;
    return 0;
}

/* Records of expunged messages kept for the session, for the wanted UIDs
 * uids[from, to) that had no message record. */
struct ghost_cb {
    struct rec_batch *b;
    size_t from, to;
    size_t found;
};

static int ghost_rec_cb(const struct msg_record *rec, void *arg)
{
    struct ghost_cb *g = arg;
    struct rec_batch *b = g->b;
    size_t lo = g->from, hi = g->to;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->uids[mid] < rec->uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < g->to && b->uids[lo] == rec->uid) {
        batch_push(b, rec);
        g->found++;
    }
    return 0;
}

static int cmp_rec_index(const void *a, const void *b, void *arg)
{
    const struct msg_record *r = arg;
    uint32_t x = r[*(const size_t *)a].uid, y = r[*(const size_t *)b].uid;
    return x < y ? -1 : x > y;
}

/* The batch's records [0, n) are two ascending runs, [0, mid) and
 * [mid, n): put them in one UID order (kwoff moves with its record). The
 * runs are short (a batch), and this only happens when another session
 * expunged some of them: a sort of indexes is plenty. */
static void merge_runs(struct rec_batch *b, size_t mid)
{
    if (mid == 0 || mid == b->n)
        return;
    size_t n = b->n;
    size_t *idx = xmalloc(n * sizeof(*idx));
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), cmp_rec_index, b->recs);
    struct msg_record *recs = xmalloc(n * sizeof(*recs));
    size_t *kwoff = xmalloc(n * sizeof(*kwoff));
    for (size_t i = 0; i < n; i++) {
        recs[i] = b->recs[idx[i]];
        kwoff[i] = b->kwoff[idx[i]];
    }
    memcpy(b->recs, recs, n * sizeof(*recs));
    memcpy(b->kwoff, kwoff, n * sizeof(*kwoff));
    free(recs);
    free(kwoff);
    free(idx);
}

int rec_batch_next(struct mailbox *mb, struct rec_batch *b)
{
    b->n = 0;
    buf_reset(&b->kw);
    if (b->max == 0)
        b->max = 1024;
    /* A range of only vanished UIDs yields nothing: go on to the next. */
    while (b->n == 0 && b->pos < b->nuids) {
        /* The range of this query: up to max UIDs, ending early at a
         * large gap, so a sparse set ("1,1000000") costs two indexed
         * lookups rather than a scan of every record in between. */
        size_t end = b->pos;
        while (end + 1 < b->nuids && end + 1 - b->pos < b->max &&
               b->uids[end + 1] - b->uids[end] <= BATCH_MAX_GAP)
            end++;
        size_t saved_n = b->nuids, start = b->pos, missing0 = b->missing, n0 = b->n;
        b->nuids = end + 1;     /* the callback stops at the end of the range */
        struct batch_cb cb = {.b = b};
        int r = mailbox_foreach_record(mb, b->uids[b->pos], b->uids[end], batch_rec_cb, &cb);
        b->nuids = saved_n;
        if (r < 0)
            return r;
        if (b->pos <= end) {
            /* The range ran out before these: no record, expunged. */
            b->missing += end + 1 - b->pos;
            b->pos = end + 1;
        }
        if (b->expunged_too && b->missing > missing0) {
            /* Rare (another session expunged, this one not told yet): one
             * more indexed read over the range just consumed. */
            struct ghost_cb g = {.b = b, .from = start, .to = b->pos};
            r = mailbox_foreach_expunged(mb, b->uids[start], b->uids[b->pos - 1], ghost_rec_cb, &g);
            if (r < 0)
                return r;
            b->missing -= MIN(g.found, b->missing - missing0);
            if (g.found && b->n > n0)
                merge_runs(b, b->n - g.found);
        }
    }
    for (size_t i = 0; i < b->n; i++)
        b->recs[i].keywords = b->kw.data + b->kwoff[i];
    return 0;
}

void rec_batch_free(struct rec_batch *b)
{
    free(b->recs);
    free(b->kwoff);
    buf_free(&b->kw);
    b->recs = NULL;
    b->kwoff = NULL;
    b->n = b->cap = 0;
}
