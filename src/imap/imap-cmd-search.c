/* imap-cmd-search.c - SEARCH and UID SEARCH: running a parsed key tree
 * (imap-search-key.c) over the selected mailbox and writing SEARCH or
 * ESEARCH results (RFC 9051 6.4.4, 7.3.4; RFC 4731; RFC 5182; RFC 7162).
 */
#include "imap-search.h"
#include "imap-fetch.h"
#include "mime.h"
#include "config.h"
#include "jobs.h"
#include "log.h"

#include <time.h>

/* Lazily loaded per-message data for the evaluator (each is asked for
 * at most once per message: the evaluator's search_state remembers). */
struct search_load {
    struct mailbox *mb;
    uint32_t uid;
    /* Fetched for the whole batch (mailbox_search_headers), or NULL. */
    const struct msg_search_hdr *sh;
    bool hdr_tried, hdr_ok;
    struct msg_cache cache;
    bool have_cache;
    struct msg_content content;   /* header not cached (too long): from the file */
    bool have_content;
    bool body_tried, body_ok;
    struct buf bodytext;
    bool gone;              /* message vanished under us */
    size_t maxtext;         /* maxmessagesize, read on the loop (config) */
};

static bool load_header(void *arg, const char **hdr, size_t *len)
{
    struct search_load *l = arg;
    if (l->sh && l->sh->header) {
        *hdr = l->sh->header;
        *len = l->sh->header_len;
        return true;
    }
    if (!l->hdr_tried) {
        l->hdr_tried = true;
        int r = mailbox_get_cache(l->mb, l->uid, &l->cache);
        l->have_cache = r == 0;
        if (r == 0 && !l->cache.header) {
            /* Headers longer than STORAGE_HEADER_CACHE_MAX are not cached. */
            r = mailbox_get_content(l->mb, l->uid, &l->content);
            l->have_content = r == 0;
        }
        l->hdr_ok = r == 0;
        if (r == STORAGE_ERR_NOTFOUND || r == STORAGE_ERR_EXPUNGED)
            l->gone = true;
    }
    if (!l->hdr_ok)
        return false;
    if (l->cache.header) {
        *hdr = l->cache.header;
        *len = l->cache.header_len;
    } else {
        *hdr = l->content.data;
        *len = mime_header_length(l->content.data, l->content.len);
    }
    return true;
}

static bool load_body(void *arg, const char **text, size_t *len)
{
    struct search_load *l = arg;
    if (!l->body_tried) {
        l->body_tried = true;
        struct msg_content c;
        int r = mailbox_get_content(l->mb, l->uid, &c);
        if (r == 0) {
            struct mime_message *m = mime_parse(c.data, c.len);
            /* Decoded text can outgrow the message (Latin-1, UTF-16 and
             * invalid bytes grow in UTF-8): at most maxmessagesize bytes
             * of it are kept for the message being evaluated. */
            mime_search_text_body_max(&l->bodytext, m, l->maxtext);
            mime_free(m);
            msg_content_release(&c);
            l->body_ok = true;
        } else if (r == STORAGE_ERR_NOTFOUND || r == STORAGE_ERR_EXPUNGED) {
            l->gone = true;
        }
    }
    if (!l->body_ok)
        return false;
    *text = buf_cstr(&l->bodytext);
    *len = l->bodytext.len;
    return true;
}

static void load_reset(struct search_load *l)
{
    if (l->have_cache)
        msg_cache_free(&l->cache);
    if (l->have_content)
        msg_content_release(&l->content);
    buf_free(&l->bodytext);
    struct mailbox *mb = l->mb;
    size_t maxtext = l->maxtext;
    memset(l, 0, sizeof(*l));
    l->mb = mb;
    l->maxtext = maxtext;
}

/* One SEARCH command: everything the evaluation needs, copied on the
 * loop, so that it can run as a job on the pool (jobs.h), which may not
 * touch the session: the parsed program, the part of the view to search
 * (v: UIDs, MSNs, \Recent, "$"), the mailbox handle (used on the pool
 * only through storage_job_begin: the session is parked meanwhile and
 * does not use it). */
struct search_run {
    struct search_query *q;
    struct search_query query;      /* q points here */
    struct imap_view_snap v;
    struct mailbox *mb;
    struct search_load load;
    struct search_state *state;     /* matchers for the whole command */
    int64_t now;
    uint32_t max_uid;
    int rc;                         /* storage error of the scan */
    /* matches */
    uint32_t *uids, *msns;
    size_t n, cap;
    uint64_t maxmodseq;
    uint64_t first_modseq, last_modseq;   /* of the MIN / MAX match (UID order) */
    /* want_recs (SORT, THREAD): each match's size and INTERNALDATE too */
    bool want_recs;
    uint64_t *sizes;
    int64_t *idates;
    uint64_t *modseqs;
};

/* rec with its header data fetched for the batch (sh; NULL: loaded per
 * message when a key needs it). */
static void search_one(struct search_run *r, const struct msg_record *rec, const struct msg_search_hdr *sh)
{
    const struct imap_view_snap *v = &r->v;
    imap_progress_add(1);   /* INPROGRESS (RFC 9585): one more examined */
    uint32_t msn = imap_view_snap_msn(v, rec->uid);
    if (msn == 0)
        return;     /* not (yet) in this session's view */
    struct search_msg m = {
        .state = r->state,
        .rec = rec,
        .msn = msn,
        .max_msn = v->count,
        .max_uid = r->max_uid,
        .recent = imap_view_snap_recent(v, rec->uid),
        .now = r->now,
        .searchres = v->searchres,
        .nsearchres = v->nsearchres,
        .arg = &r->load,
        .get_header = load_header,
        .get_body_text = load_body,
        .hfields = sh ? sh->hfields : NULL,
        .hfields_len = sh ? sh->hfields_len : 0,
    };
    r->load.uid = rec->uid;
    r->load.sh = sh;
    search_state_next(r->state);
    bool match = search_eval(r->q->root, &m);
    load_reset(&r->load);
    if (match) {
        if (r->n >= r->cap) {
            /* At first room for every message of the view: arrays not
             * copied as they grow, and pages never written (few matches)
             * are never touched. */
            r->cap = r->cap ? r->cap * 2 : MAX((size_t)r->v.n, 256);
            r->uids = xrealloc(r->uids, r->cap * sizeof(*r->uids));
            r->msns = xrealloc(r->msns, r->cap * sizeof(*r->msns));
            if (r->want_recs) {
                r->sizes = xrealloc(r->sizes, r->cap * sizeof(*r->sizes));
                r->idates = xrealloc(r->idates, r->cap * sizeof(*r->idates));
                r->modseqs = xrealloc(r->modseqs, r->cap * sizeof(*r->modseqs));
            }
        }
        if (r->want_recs) {
            r->sizes[r->n] = rec->size;
            r->idates[r->n] = rec->internaldate;
            r->modseqs[r->n] = rec->modseq;
        }
        r->uids[r->n] = rec->uid;
        r->msns[r->n] = msn;
        r->n++;
        if (rec->modseq > r->maxmodseq)
            r->maxmodseq = rec->modseq;
        if (r->n == 1)
            r->first_modseq = rec->modseq;
        r->last_modseq = rec->modseq;
    }
}

static void flush_if_big(struct imap_session *s, struct buf *b)
{
    if (b->len >= 64 * 1024) {
        imap_write(s, b->data, b->len);
        buf_reset(b);
    }
}

static void write_results(struct imap_session *s, struct imap_cmd *cmd, struct search_run *r)
{
    struct search_query *q = r->q;
    const uint32_t *nums = cmd->uid ? r->uids : r->msns;
    struct buf b = BUF_INIT;
    bool esearch = q->esearch || (s->enabled & EN_IMAP4REV2);
    unsigned ret = q->ret;
    if (esearch && !q->esearch)
        ret = SR_ALL;   /* rev2 client without RETURN: ESEARCH ALL */

    size_t pstart = 0, pend = 0;
    if (ret & SR_PARTIAL)
        partial_range_slice(&q->partial, r->n, &pstart, &pend);
    if (ret & SR_SAVE) {
        /* RFC 5182 2.1: with MIN/MAX (and no ALL/COUNT) only those are saved. */
        struct imap_view *v = s->view;
        free(v->searchres);
        v->searchres = NULL;
        v->nsearchres = 0;
        if (r->n > 0 && (ret & SR_PARTIAL) && !(ret & (SR_ALL | SR_COUNT))) {
            /* RFC 9394 3.2 table 1: the PARTIAL results, and MIN and/or
             * MAX when asked for (ascending UIDs, as always) */
            v->searchres = xmalloc((pend - pstart + 2) * sizeof(uint32_t));
            if ((ret & SR_MIN) && (pstart > 0 || pend == 0))
                v->searchres[v->nsearchres++] = r->uids[0];
            for (size_t i = pstart; i < pend; i++)
                v->searchres[v->nsearchres++] = r->uids[i];
            if ((ret & SR_MAX) && pend < r->n && !(v->nsearchres && v->searchres[v->nsearchres - 1] == r->uids[r->n - 1]))
                v->searchres[v->nsearchres++] = r->uids[r->n - 1];
        } else if (r->n > 0 && (ret & (SR_MIN | SR_MAX)) && !(ret & (SR_ALL | SR_COUNT))) {
            v->searchres = xmalloc(2 * sizeof(uint32_t));
            if (ret & SR_MIN)
                v->searchres[v->nsearchres++] = r->uids[0];
            if ((ret & SR_MAX) && (!(ret & SR_MIN) || r->n > 1))
                v->searchres[v->nsearchres++] = r->uids[r->n - 1];
        } else if (r->n > 0) {
            v->searchres = xmalloc(r->n * sizeof(uint32_t));
            memcpy(v->searchres, r->uids, r->n * sizeof(uint32_t));
            v->nsearchres = r->n;
        }
        /* SAVE alone: no ESEARCH response (RFC 5182 2.1). */
        if (!(ret & ~(SR_SAVE | SR_UPDATE | SR_CONTEXT)))
            return;
    }

    if (!esearch) {
        buf_puts(&b, "* SEARCH");
        for (size_t i = 0; i < r->n; i++) {
            buf_putc(&b, ' ');
            buf_put_uint(&b, nums[i]);
            flush_if_big(s, &b);
        }
        if (q->uses_modseq && r->n > 0)
            buf_printf(&b, " (MODSEQ %llu)", (unsigned long long)r->maxmodseq);
        buf_puts(&b, "\r\n");
    } else {
        buf_printf(&b, "* ESEARCH (TAG \"%s\")", cmd->tag);
        if (cmd->uid)
            buf_puts(&b, " UID");
        if ((ret & SR_MIN) && r->n > 0)
            buf_printf(&b, " MIN %u", nums[0]);
        if ((ret & SR_MAX) && r->n > 0)
            buf_printf(&b, " MAX %u", nums[r->n - 1]);
        if (ret & SR_COUNT)
            buf_printf(&b, " COUNT %zu", r->n);
        if ((ret & SR_ALL) && r->n > 0) {
            buf_puts(&b, " ALL ");
            seqset_write_uids(&b, nums, r->n);
        }
        if (ret & SR_PARTIAL) {
            /* RFC 9394 3.1: the requested range, then its results in
             * mailbox order, or NIL */
            buf_puts(&b, " PARTIAL (");
            partial_range_write(&b, &q->partial);
            if (pend > pstart) {
                buf_putc(&b, ' ');
                seqset_write_uids(&b, nums + pstart, pend - pstart);
            } else {
                buf_puts(&b, " NIL");
            }
            buf_putc(&b, ')');
        }
        if (q->uses_modseq && r->n > 0) {
            /* RFC 4731 3.2 / RFC 7162 3.1.10: the highest mod-sequence of
             * the messages returned: with only MIN and/or MAX those are
             * just the lowest and/or highest match. */
            uint64_t ms = r->maxmodseq;
            if (!(ret & (SR_ALL | SR_COUNT)) && (ret & (SR_MIN | SR_MAX | SR_PARTIAL))) {
                ms = 0;
                if (ret & SR_MIN)
                    ms = r->first_modseq;
                if ((ret & SR_MAX) && r->last_modseq > ms)
                    ms = r->last_modseq;
                /* PARTIAL: of the messages in the range (want_recs) */
                for (size_t i = pstart; i < pend && r->modseqs; i++)
                    if (r->modseqs[i] > ms)
                        ms = r->modseqs[i];
            }
            if (ms)     /* none returned: no MODSEQ */
                buf_printf(&b, " MODSEQ %llu", (unsigned long long)ms);
        }
        buf_puts(&b, "\r\n");
    }
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

static size_t first_at_least(const struct imap_view *v, uint32_t uid)
{
    size_t lo = 0, hi = v->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->uids[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Restrict the messages to examine when the program is (or is an AND
 * containing) a UID or sequence-number set: "UID SEARCH UID 900000:*"
 * then reads only that part of a large mailbox. [*from, *to) are
 * indexes into the view. */
static void narrow_range(const struct skey *k, const struct imap_view *v, size_t *from, size_t *to)
{
    if (k->op == SK_AND) {
        for (size_t i = 0; i < k->nkids; i++)
            narrow_range(k->kids[i], v, from, to);
        return;
    }
    if (k->op == SK_NOT && k->kids[0]->op == SK_ALL) {
        *to = *from;    /* matches nothing ("UIDBEFORE 1", RFC 9738 3.2) */
        return;
    }
    if ((k->op != SK_UID && k->op != SK_SEQ) || k->set.dollar || k->set.n == 0 || v->count == 0)
        return;
    uint32_t max = k->op == SK_UID ? v->uids[v->count - 1] : v->count;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < k->set.n; i++) {
        uint32_t a = seq_value(k->set.r[i].lo, max);
        uint32_t b = seq_value(k->set.r[i].hi, max);
        lo = MIN(lo, MIN(a, b));
        hi = MAX(hi, MAX(a, b));
    }
    if (k->set.star) {      /* a normalized "a:*" reads a:4294967295 */
        lo = MIN(lo, max);
        hi = MAX(hi, max);
    }
    size_t f, t;
    if (k->op == SK_UID) {
        f = first_at_least(v, lo);
        t = hi == UINT32_MAX ? v->count : first_at_least(v, hi + 1);
    } else {
        f = lo > 0 ? lo - 1 : 0;
        t = MIN((size_t)hi, (size_t)v->count);
    }
    if (f > *from)
        *from = f;
    if (t < *to)
        *to = t;
}

/* Searches that stay on the event loop: every key answered from the
 * message records (flags, dates, sizes, UIDs, modseqs: SK_COST_RECORD)
 * over at most this many messages. Measured handler times on the 2-core
 * test machine (median, 90th percentile): 256 messages 0.18/0.24 ms,
 * 1024 0.77/1.1 ms, 4096 3.9 ms. Anything else - header or body keys, or
 * more messages - is a job on the pool (docs/architecture.md). */
#define SEARCH_INLINE_MAX 256

/* Evaluate the program over the messages of r->v (the loop or a pool
 * thread). Records are read in batches and evaluated outside the storage
 * iteration, so header/body loading may query storage freely. */
static void search_scan(struct search_run *r)
{
    r->state = search_state_new(r->q->root);
    /* Messages another session expunged that this client has not been
     * told of are searched as they were (RFC 2180 4.3 allows leaving
     * them out; answering as FETCH does keeps the two consistent). */
    struct rec_batch b = {.uids = r->v.uids, .nuids = r->v.n, .max = 4096, .expunged_too = true};
    /* Header keys read what was stored at append time for the whole
     * batch in one query (decoded Subject/From/To/Cc/Bcc, the raw header
     * block), never the message files. */
    unsigned need = search_needs(r->q->root);
    struct search_hdr_batch hb = {0};
    uint32_t *buids = NULL;
    size_t bcap = 0;
    int rc = 0;
    for (;;) {
        rc = rec_batch_next(r->mb, &b);
        if (rc < 0 || b.n == 0)
            break;
        if (!need) {
            for (size_t i = 0; i < b.n; i++)
                search_one(r, &b.recs[i], NULL);
            continue;
        }
        if (bcap < b.n) {
            bcap = b.n;
            buids = xrealloc(buids, bcap * sizeof(*buids));
        }
        for (size_t i = 0; i < b.n; i++)
            buids[i] = b.recs[i].uid;
        for (size_t i = 0; i < b.n;) {
            int k = mailbox_search_headers(r->mb, buids + i, b.n - i, need, &hb);
            if (k <= 0) {
                /* Evaluated as before, each message loading its header
                 * when a key needs it (and failing the key if it cannot). */
                for (; i < b.n; i++)
                    search_one(r, &b.recs[i], NULL);
                break;
            }
            for (size_t j = 0; j < (size_t)k; j++, i++)
                search_one(r, &b.recs[i], hb.v[j].uid ? &hb.v[j] : NULL);
        }
    }
    search_hdr_batch_free(&hb);
    free(buids);
    rec_batch_free(&b);
    load_reset(&r->load);
    search_state_free(r->state);
    r->state = NULL;
    r->rc = rc;
}

/* On the pool: the scan on one of the store's reader connections
 * (storage_read_begin): searches only read, so several of one store run
 * at once, on every core, beside its writer (WAL snapshots). */
static void search_job(struct job *job, void *arg)
{
    (void)job;
    struct search_run *r = arg;
    struct mail_user *u = mailbox_user(r->mb);
    r->rc = storage_read_begin(u);
    if (r->rc < 0)
        return;
    search_scan(r);
    storage_read_end(u);
}

void search_run_free(struct search_run *r)
{
    if (!r)
        return;
    free(r->uids);
    free(r->msns);
    free(r->sizes);
    free(r->idates);
    free(r->modseqs);
    imap_view_snap_free(&r->v);
    search_query_free(&r->query);
    free(r);
}

/* On the loop: the answer, exactly as an inline search gives it. s is
 * NULL when the client went away meanwhile. */
static enum cmd_result search_done(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct search_run *r = arg;
    if (!s) {
        search_run_free(r);
        return CMD_DONE;
    }
    int rc = r->rc;
    if (!s->view) {
        imap_tagged(s, cmd, "NO", "Mailbox closed");
    } else if (imap_view_gone_err(s, rc)) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox was deleted");
    } else if (rc < 0) {
        log_err("SEARCH in %s failed: %s", mailbox_get_info(s->view->mb)->name, storage_strerror(rc));
        imap_tagged(s, cmd, "NO", "[SERVERBUG] Search failed");
    } else {
        write_results(s, cmd, r);
        if (r->q->ret & SR_UPDATE) {
            /* RFC 5267 4.3: the context starts from this result; changes
             * from here on are reported (the sync before the tagged OK
             * already may). Refused: untagged NO [NOUPDATE] (4.3.1). */
            const char *why = update_ctx_refusal(s->view, r->q->root, r->n);
            if (!why && update_ctx_tag_in_use(s->view, cmd->tag))
                why = "Tag in use";
            if (why) {
                imap_untagged(s, "NO [NOUPDATE \"%s\"] %s", cmd->tag, why);
            } else {
                update_ctx_add_search(s->view, cmd->tag, cmd->uid, r->q->root, r->max_uid, r->uids, r->n);
                r->q->root = NULL;
            }
        }
        if (*imap_msglimit_code(s))
            imap_tagged(s, cmd, "OK", "%sSearch completed with %u partial results", imap_msglimit_code(s),
                        imap_messagelimit());
        else
            imap_tagged(s, cmd, "OK", "Search completed");
    }
    search_run_free(r);
    return CMD_DONE;
}

struct skey *search_run_take_root(struct search_run *r)
{
    struct skey *k = r->q->root;
    r->q->root = NULL;
    return k;
}

uint32_t search_run_max_uid(const struct search_run *r)
{
    return r->max_uid;
}

void search_run_set_max_uid(struct search_run *r, uint32_t max_uid)
{
    r->max_uid = max_uid;
}

/* RFC 5267 4.3: "An attempt to use UPDATE where a tag is already in use
 * with a previous searching command that itself used UPDATE SHALL result
 * in the server rejecting the searching command with a BAD response." */
bool search_update_tag_reused(struct imap_session *s, struct imap_cmd *cmd, unsigned ret)
{
    if (!(ret & SR_UPDATE) || !update_ctx_tag_in_use(s->view, cmd->tag))
        return false;
    imap_tagged(s, cmd, "BAD", "[CLIENTBUG] Tag reuse: an updating context has this tag");
    return true;
}

bool search_has_msn_key(const struct skey *k)
{
    if (k->op == SK_SEQ && !k->set.dollar)
        return true;
    for (size_t i = 0; i < k->nkids; i++)
        if (search_has_msn_key(k->kids[i]))
            return true;
    return false;
}

/* Everything a scan needs from the session, copied on the loop. limit:
 * SEARCH examines at most imap_messagelimit messages, the highest UIDs
 * (RFC 9738 3.1: the count of messages searched, not of matches; SORT
 * and THREAD are not limited, docs/imap-capabilities.md). */
static void search_run_setup(struct imap_session *s, struct search_run *r, bool limit)
{
    struct imap_view *v = s->view;
    if (!r->q)
        r->q = &r->query;   /* else borrowed (search_run_new_selected) */
    r->now = (int64_t)time(NULL);
    r->mb = v->mb;
    r->load.mb = v->mb;
    r->load.maxtext = (size_t)config_int(CFG_MAXMESSAGESIZE);
    r->max_uid = v->count ? v->uids[v->count - 1] : 0;
    size_t from = 0, to = v->count;
    narrow_range(r->q->root, v, &from, &to);
    uint32_t lim = limit ? imap_messagelimit() : 0;
    if (lim && to > from && to - from > lim) {
        from = to - lim;
        imap_messagelimit_note(s, v->uids[from]);
    }
    imap_view_snap_range(&r->v, v, from, to);
}

/* ---- for commands built on SEARCH (imap-search.h) ---- */

struct search_run *search_run_new(struct imap_session *s, struct search_query *q, bool want_recs)
{
    struct search_run *r = xcalloc(1, sizeof(*r));
    r->query = *q;
    memset(q, 0, sizeof(*q));
    r->want_recs = want_recs;
    search_run_setup(s, r, false);
    return r;
}

bool search_run_inline_ok(const struct search_run *r)
{
    return r->q->root->cost == SK_COST_RECORD && r->v.n <= SEARCH_INLINE_MAX;
}

size_t search_run_size(const struct search_run *r)
{
    return r->v.n;
}

void search_run_exec(struct search_run *r)
{
    search_scan(r);
}

struct search_run *search_run_new_selected(struct imap_session *s, struct search_query *q)
{
    struct search_run *r = xcalloc(1, sizeof(*r));
    r->want_recs = true;
    r->q = q;   /* borrowed: r->query stays empty */
    search_run_setup(s, r, false);
    return r;
}

struct search_run *search_run_new_other(struct search_query *q, struct mailbox *mb, uint32_t *uids, size_t n,
                                        size_t maxtext)
{
    struct search_run *r = xcalloc(1, sizeof(*r));
    r->want_recs = true;
    r->q = q;
    r->now = (int64_t)time(NULL);
    r->mb = mb;
    r->load.mb = mb;
    r->load.maxtext = maxtext;
    r->max_uid = n ? uids[n - 1] : 0;
    r->v.uids = uids;
    r->v.n = n;
    r->v.count = (uint32_t)n;
    r->v.max_uid = r->max_uid;
    r->v.recent.recent_floor = UINT32_MAX;  /* nothing is \Recent */
    return r;
}

void search_run_job_scan(struct search_run *r)
{
    search_job(NULL, r);
}

size_t search_run_mem(const struct search_run *r)
{
    if (!r)
        return 0;
    size_t per = sizeof(*r->uids) + sizeof(*r->msns) +
                 (r->want_recs ? sizeof(*r->sizes) + sizeof(*r->idates) + sizeof(*r->modseqs) : 0);
    return sizeof(*r) + r->cap * per + r->v.n * sizeof(uint32_t) * (r->v.msns ? 2 : 1) +
           r->v.nsearchres * sizeof(uint32_t);
}

void search_run_matches(const struct search_run *r, struct search_matches *m)
{
    m->uids = r->uids;
    m->msns = r->msns;
    m->sizes = r->sizes;
    m->idates = r->idates;
    m->modseqs = r->modseqs;
    m->n = r->n;
    m->rc = r->rc;
    m->mb = r->mb;
    m->maxmodseq = r->maxmodseq;
}

IMAP_CMD(cmd_search)
{
    if (s->state != IMAP_SELECTED || !s->view) {
        imap_tagged(s, cmd, "BAD", "No mailbox selected");
        return CMD_DONE;
    }
    struct search_run *r = xcalloc(1, sizeof(*r));
    struct search_query *qp = &r->query;
    const char *status, *code, *err;
    int maxdepth = (int)config_int(CFG_SEARCH_MAXDEPTH);
    if (!search_parse(&cmd->ps, cmd, maxdepth, qp, &status, &code, &err)) {
        /* RFC 5182 2.1: a SEARCH with SAVE answered NO empties the saved
         * result; a BAD leaves it alone. */
        if ((qp->ret & SR_SAVE) && strcmp(status, "NO") == 0) {
            free(s->view->searchres);
            s->view->searchres = NULL;
            s->view->nsearchres = 0;
        }
        if (code)
            imap_tagged(s, cmd, status, "[%s] %s", code, err);
        else
            imap_tagged(s, cmd, status, "%s", err);
        search_run_free(r);
        return CMD_DONE;
    }
    if ((s->enabled & EN_UIDONLY) && search_has_msn_key(qp->root)) {
        imap_tagged(s, cmd, "BAD", "[UIDREQUIRED] Message numbers are not allowed once UIDONLY is enabled");
        search_run_free(r);
        return CMD_DONE;
    }
    if (search_update_tag_reused(s, cmd, qp->ret)) {
        search_run_free(r);
        return CMD_DONE;
    }
    if (qp->uses_modseq)
        imap_enable_condstore(s);   /* RFC 7162 3.1: MODSEQ search enables CONDSTORE */
    /* the MODSEQ of a PARTIAL answer is that of its messages */
    r->want_recs = qp->uses_modseq && (qp->ret & SR_PARTIAL);

    search_run_setup(s, r, true);
    if (search_run_inline_ok(r)) {
        search_scan(r);
        return search_done(s, cmd, r);
    }
    /* No key: a read job (reader connection), in parallel with the
     * store's other jobs. RFC 9051 7.5.1 holds as before: the session is
     * parked, nothing is sent to it until search_done writes the result
     * and the tagged reply. */
    imap_progress_start(s, r->v.n);
    return imap_cmd_job(s, cmd, "search", NULL, search_job, search_done, r);
}
