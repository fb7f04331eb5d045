/* imap-fetch-batch.c - reading message records for a sorted UID list in
 * bounded batches. One range query per batch (not one per message), and
 * the records are copied out so the caller may call other storage
 * functions (cache, content, store) while handling them: nothing runs
 * inside the storage iteration callback but the copy.
 */
#include "imap-fetch.h"

#define BATCH_MAX_GAP 256   /* UIDs between requested ones read and skipped */

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
    if (b->n >= b->max)
        return 1;
    return 0;
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
        size_t saved_n = b->nuids;
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
