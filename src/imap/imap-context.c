/* imap-context.c - updating search contexts: RETURN (UPDATE) of SEARCH,
 * UID SEARCH, SORT and UID SORT, and CANCELUPDATE (RFC 5267 4.3,
 * CONTEXT=SEARCH and CONTEXT=SORT).
 *
 * Design. A context keeps the search program (taken over from the
 * command), the UIDs of its current result in the requested order
 * (ascending UIDs for SEARCH; sort order for SORT, with each result's
 * sort values), and is kept by the selected view: it ends with the
 * selection or CANCELUPDATE. It is updated where the session tells the
 * client of changes (imap-sync.c):
 *   - expunges: before the EXPUNGE responses (or VANISHED), the expunged
 *     results are reported in REMOVEFROM with the message numbers still
 *     valid (RFC 5267 4.3.4), then dropped;
 *   - new messages and changed flags: imap_sync already reads every new
 *     and changed message record from storage (mailbox_sync); each
 *     context's program is evaluated on those records as they pass
 *     (update_ctx_eval), and once the EXISTS and FETCH responses are out
 *     the differences are reported: REMOVEFROM, then ADDTO (RFC 5267
 *     4.3.3: after EXISTS, so the message numbers are valid).
 * Only programs that the message records answer are tracked (flags,
 * keywords, sizes, internal and save dates, UIDs, MODSEQ, object ids), and
 * for SORT only the ARRIVAL and SIZE criteria: then an update costs no
 * storage access beyond what the sync reads anyway and never blocks the
 * event loop. Programs that read headers or bodies (whose evaluation on
 * new messages would read the store), message numbers and "$" (fixed when
 * the command ran, RFC 5267 4.3), \Recent and OLDER/YOUNGER (which change
 * without the mailbox changing) are refused with an untagged
 * NO [NOUPDATE "tag"] (RFC 5267 4.3.1), as are contexts beyond
 * UPDATE_CTX_MAX per selection; the other return options are answered
 * as usual.
 * Cost per sync: O(changed records x contexts) record evaluations, and per
 * context with changes one merge pass over its result (O(n + k log k)).
 */
#include "imap-search.h"
#include "log.h"

#include <stdlib.h>

struct uctx_ent {
    uint32_t uid;
    uint64_t size;      /* SORT only */
    int64_t idate;      /* SORT only */
};

struct update_ctx {
    char *tag;
    bool uid;                   /* results as UIDs (UID SEARCH/SORT) */
    bool sort;
    struct skey *root;
    struct search_state *state;
    uint32_t max_uid;           /* "*" in UID sets: as when the command ran */
    struct update_crit crit[UPDATE_CTX_MAX_CRIT];
    size_t ncrit;
    struct uctx_ent *ent;       /* the result in the requested order */
    size_t n, cap;
};

/* One new or changed message seen by a sync: which contexts it matches
 * (bit i: view->uctx[i]). */
struct update_note {
    uint32_t uid;
    uint32_t match;
    uint64_t size;
    int64_t idate;
};

_Static_assert(UPDATE_CTX_MAX <= 32, "update_note.match holds one bit per context");

static void ctx_free(struct update_ctx *c)
{
    if (!c)
        return;
    free(c->tag);
    skey_free(c->root);
    search_state_free(c->state);
    free(c->ent);
    free(c);
}

void update_ctx_free_all(struct imap_view *v)
{
    for (size_t i = 0; i < v->nuctx; i++)
        ctx_free(v->uctx[i]);
    free(v->uctx);
    v->uctx = NULL;
    v->nuctx = 0;
}

bool update_ctx_tag_in_use(const struct imap_view *v, const char *tag)
{
    for (size_t i = 0; i < v->nuctx; i++)
        if (strcmp(v->uctx[i]->tag, tag) == 0)
            return true;
    return false;
}

/* Can the message records alone answer k, with the same answer at any
 * later time for the same record? */
static bool record_only(const struct skey *k)
{
    switch (k->op) {
    case SK_ALL:
    case SK_FLAGS_ON:
    case SK_FLAGS_OFF:
    case SK_KEYWORD:
    case SK_UNKEYWORD:
    case SK_LARGER:
    case SK_SMALLER:
    case SK_BEFORE:
    case SK_ON:
    case SK_SINCE:
    case SK_SAVEDBEFORE:
    case SK_SAVEDON:
    case SK_SAVEDSINCE:
    case SK_SAVEDATESUPPORTED:
    case SK_MODSEQ:
    case SK_EMAILID:
    case SK_THREADID:
        return true;
    case SK_UID:
        return !k->set.dollar;
    case SK_AND:
    case SK_OR:
    case SK_NOT:
        for (size_t i = 0; i < k->nkids; i++)
            if (!record_only(k->kids[i]))
                return false;
        return true;
    default:
        /* SK_SEQ (and "$"), \Recent, OLDER/YOUNGER, SENT*, HEADER, BODY, TEXT */
        return false;
    }
}

const char *update_ctx_refusal(const struct imap_view *v, const struct skey *root, size_t n)
{
    if (v->nuctx >= UPDATE_CTX_MAX)
        return "Too many updating contexts";
    size_t held = n;
    for (size_t i = 0; i < v->nuctx; i++)
        held += v->uctx[i]->n;
    if (held > UPDATE_CTX_MAX_RESULTS)
        return "Too many results to keep updated";
    if (!record_only(root))
        return "Updates are only provided for searches on flags, keywords, sizes, dates and UIDs";
    return NULL;
}

static struct update_ctx *ctx_new(struct imap_view *v, const char *tag, bool uid, struct skey *root,
                                  uint32_t max_uid)
{
    struct update_ctx *c = xcalloc(1, sizeof(*c));
    c->tag = xstrdup(tag);
    c->uid = uid;
    c->root = root;
    c->state = search_state_new(root);
    c->max_uid = max_uid;
    ARRAY_GROW(v->uctx, v->nuctx, v->cuctx);
    v->uctx[v->nuctx++] = c;
    return c;
}

void update_ctx_add_search(struct imap_view *v, const char *tag, bool uid, struct skey *root, uint32_t max_uid,
                           const uint32_t *uids, size_t n)
{
    struct update_ctx *c = ctx_new(v, tag, uid, root, max_uid);
    c->cap = n ? n : 1;
    c->ent = xmalloc(c->cap * sizeof(*c->ent));
    for (size_t i = 0; i < n; i++)
        c->ent[i] = (struct uctx_ent){.uid = uids[i]};
    c->n = n;
}

void update_ctx_add_sort(struct imap_view *v, const char *tag, bool uid, struct skey *root, uint32_t max_uid,
                         const struct update_crit *crit, size_t ncrit, const uint32_t *uids, const uint64_t *sizes,
                         const int64_t *idates, const uint32_t *order, size_t n)
{
    struct update_ctx *c = ctx_new(v, tag, uid, root, max_uid);
    c->sort = true;
    c->ncrit = MIN(ncrit, (size_t)UPDATE_CTX_MAX_CRIT);
    memcpy(c->crit, crit, c->ncrit * sizeof(*crit));
    c->cap = n ? n : 1;
    c->ent = xmalloc(c->cap * sizeof(*c->ent));
    for (size_t i = 0; i < n; i++)
        c->ent[i] = (struct uctx_ent){.uid = uids[order[i]], .size = sizes[order[i]], .idate = idates[order[i]]};
    c->n = n;
}

bool update_ctx_cancel(struct imap_view *v, const char *tag)
{
    for (size_t i = 0; i < v->nuctx; i++) {
        if (strcmp(v->uctx[i]->tag, tag) == 0) {
            ctx_free(v->uctx[i]);
            memmove(v->uctx + i, v->uctx + i + 1, (v->nuctx - i - 1) * sizeof(*v->uctx));
            v->nuctx--;
            return true;
        }
    }
    return false;
}

/* ---- evaluation while a sync reads the changes ---- */

static bool no_text(void *arg, const char **s, size_t *len)
{
    (void)arg;
    (void)s;
    (void)len;
    return false;   /* never asked: record_only programs */
}

void update_ctx_eval(const struct imap_view *v, const struct msg_record *rec, struct update_batch *ub)
{
    if (v->nuctx == 0)
        return;
    uint32_t mask = 0;
    for (size_t i = 0; i < v->nuctx; i++) {
        struct update_ctx *c = v->uctx[i];
        struct search_msg m = {
            .state = c->state,
            .rec = rec,
            .max_uid = c->max_uid,
            .arg = NULL,
            .get_header = no_text,
            .get_body_text = no_text,
        };
        search_state_next(c->state);
        if (search_eval(c->root, &m))
            mask |= 1u << i;
    }
    ARRAY_GROW(ub->notes, ub->n, ub->cap);
    ub->notes[ub->n++] = (struct update_note){.uid = rec->uid, .match = mask, .size = rec->size,
                                              .idate = rec->internaldate};
}

void update_batch_free(struct update_batch *ub)
{
    free(ub->notes);
    memset(ub, 0, sizeof(*ub));
}

/* ---- reporting ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static bool uid_in(const uint32_t *a, size_t n, uint32_t uid)
{
    return bsearch(&uid, a, n, sizeof(*a), cmp_u32) != NULL;
}

/* Sort order of two results: the criteria, then the UID (= message
 * number order, RFC 5256's implicit last criterion). */
static int ent_cmp(const struct update_ctx *c, const struct uctx_ent *a, const struct uctx_ent *b)
{
    for (size_t i = 0; i < c->ncrit; i++) {
        int r;
        if (c->crit[i].key == UPDATE_CRIT_SIZE)
            r = (a->size > b->size) - (a->size < b->size);
        else
            r = (a->idate > b->idate) - (a->idate < b->idate);
        if (r)
            return c->crit[i].reverse ? -r : r;
    }
    return (a->uid > b->uid) - (a->uid < b->uid);
}

static int ent_qcmp(const void *a, const void *b, void *ctx)
{
    return ent_cmp(ctx, a, b);
}

static uint32_t num_of(const struct imap_session *s, const struct update_ctx *c, uint32_t uid)
{
    return c->uid ? uid : imap_view_msn(s->view, uid);
}

static void start_line(struct buf *b, const struct update_ctx *c)
{
    buf_printf(b, "* ESEARCH (TAG \"%s\")%s", c->tag, c->uid ? " UID" : "");
}

static void write_numset(struct imap_session *s, const struct update_ctx *c, struct buf *b, const uint32_t *uids,
                         size_t n)
{
    /* ascending UIDs have ascending message numbers */
    uint32_t *nums = xmalloc(n * sizeof(*nums));
    for (size_t i = 0; i < n; i++)
        nums[i] = num_of(s, c, uids[i]);
    seqset_write_uids(b, nums, n);
    free(nums);
}

/* Drop the results whose UID is in del (sorted, n > 0), reporting them in
 * one REMOVEFROM data item. SEARCH: context position 0 and the set;
 * SORT: (position, number) pairs, positions counted before removal and
 * given from the last so that each stays valid. */
static void remove_uids(struct imap_session *s, struct update_ctx *c, struct buf *b, const uint32_t *del, size_t n)
{
    uint32_t *hit = xmalloc(n * sizeof(*hit));     /* at most n: del is unique */
    size_t *pos = xmalloc(n * sizeof(*pos));
    size_t nhit = 0, w = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (nhit < n && uid_in(del, n, c->ent[i].uid)) {
            hit[nhit] = c->ent[i].uid;
            pos[nhit] = i + 1;
            nhit++;
            continue;
        }
        c->ent[w++] = c->ent[i];
    }
    if (nhit) {
        buf_puts(b, " REMOVEFROM (");
        if (!c->sort) {
            buf_puts(b, "0 ");
            write_numset(s, c, b, hit, nhit);   /* ent ascending: hit too */
        } else {
            for (size_t k = nhit; k-- > 0;)
                buf_printf(b, "%s%zu %u", k + 1 < nhit ? " " : "", pos[k], num_of(s, c, hit[k]));
        }
        buf_putc(b, ')');
    }
    c->n = w;
    free(hit);
    free(pos);
}

void update_ctx_expunged(struct imap_session *s, const uint32_t *uids, size_t n)
{
    struct imap_view *v = s->view;
    if (!v || v->nuctx == 0 || n == 0)
        return;
    uint32_t *del = xmemdup(uids, n * sizeof(*uids));
    qsort(del, n, sizeof(*del), cmp_u32);
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < v->nuctx; i++) {
        struct update_ctx *c = v->uctx[i];
        buf_reset(&b);
        start_line(&b, c);
        size_t mark = b.len;
        remove_uids(s, c, &b, del, n);
        if (b.len > mark) {
            buf_puts(&b, "\r\n");
            imap_write(s, b.data, b.len);
        }
    }
    buf_free(&b);
    free(del);
}

/* SEARCH contexts: is uid a result (ent ascending by UID)? */
static bool ent_find(const struct update_ctx *c, uint32_t uid)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->ent[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n && c->ent[lo].uid == uid;
}

static int cmp_note(const void *a, const void *b)
{
    const struct update_note *x = a, *y = b;
    return (x->uid > y->uid) - (x->uid < y->uid);
}

void update_ctx_apply(struct imap_session *s, struct update_batch *ub)
{
    struct imap_view *v = s->view;
    if (!v || v->nuctx == 0 || ub->n == 0)
        return;
    /* One note per UID, the last one read wins (the newest record). */
    qsort(ub->notes, ub->n, sizeof(*ub->notes), cmp_note);
    size_t nn = 0;
    for (size_t i = 0; i < ub->n; i++) {
        if (nn && ub->notes[nn - 1].uid == ub->notes[i].uid)
            ub->notes[nn - 1] = ub->notes[i];
        else
            ub->notes[nn++] = ub->notes[i];
    }
    ub->n = nn;
    uint32_t *inset = xmalloc(nn * sizeof(*inset));
    uint32_t *del = xmalloc(nn * sizeof(*del));
    struct uctx_ent *add = xmalloc(nn * sizeof(*add));
    struct buf b = BUF_INIT;
    for (size_t ci = 0; ci < v->nuctx && ci < UPDATE_CTX_MAX; ci++) {
        struct update_ctx *c = v->uctx[ci];
        /* which noted UIDs are in the result now: SEARCH results are
         * ascending UIDs (O(k log n)); SORT results are looked through */
        size_t nin = 0;
        if (!c->sort) {
            for (size_t i = 0; i < nn; i++)
                if (ent_find(c, ub->notes[i].uid))
                    inset[nin++] = ub->notes[i].uid;
        } else {
            for (size_t i = 0; i < c->n; i++) {
                struct update_note key = {.uid = c->ent[i].uid};
                if (nin < nn && bsearch(&key, ub->notes, nn, sizeof(*ub->notes), cmp_note))
                    inset[nin++] = c->ent[i].uid;
            }
            qsort(inset, nin, sizeof(*inset), cmp_u32);
        }
        size_t ndel = 0, nadd = 0;
        for (size_t i = 0; i < nn; i++) {
            const struct update_note *no = &ub->notes[i];
            if (!imap_view_msn(v, no->uid))
                continue;   /* not (or no longer) in this session's view */
            bool match = (no->match >> ci) & 1u;
            bool in = uid_in(inset, nin, no->uid);
            if (in && !match)
                del[ndel++] = no->uid;
            else if (!in && match)
                add[nadd++] = (struct uctx_ent){.uid = no->uid, .size = no->size, .idate = no->idate};
        }
        if (ndel == 0 && nadd == 0)
            continue;
        buf_reset(&b);
        start_line(&b, c);
        if (ndel)
            remove_uids(s, c, &b, del, ndel);
        if (nadd) {
            if (c->n + nadd > c->cap) {
                c->cap = c->n + nadd + c->n / 4 + 16;
                c->ent = xrealloc(c->ent, c->cap * sizeof(*c->ent));
            }
            qsort_r(add, nadd, sizeof(*add), ent_qcmp, c);  /* SEARCH: ascending UIDs (no criteria) */
            buf_puts(&b, " ADDTO (");
            if (!c->sort) {
                uint32_t *au = xmalloc(nadd * sizeof(*au));
                for (size_t i = 0; i < nadd; i++)
                    au[i] = add[i].uid;
                buf_puts(&b, "0 ");
                write_numset(s, c, &b, au, nadd);
                free(au);
            }
            /* merge from the end: each added result's final position */
            size_t i = c->n, j = nadd, k = c->n + nadd;
            size_t *fpos = c->sort ? xmalloc(nadd * sizeof(*fpos)) : NULL;
            while (j > 0) {
                if (i > 0 && ent_cmp(c, &c->ent[i - 1], &add[j - 1]) > 0) {
                    c->ent[--k] = c->ent[--i];
                } else {
                    c->ent[--k] = add[--j];
                    if (fpos)
                        fpos[j] = k + 1;
                }
            }
            c->n += nadd;
            if (c->sort) {
                /* ascending final positions: each insertion is valid when made */
                for (size_t a = 0; a < nadd; a++)
                    buf_printf(&b, "%s%zu %u", a ? " " : "", fpos[a], num_of(s, c, add[a].uid));
                free(fpos);
            }
            buf_putc(&b, ')');
        }
        buf_puts(&b, "\r\n");
        imap_write(s, b.data, b.len);
    }
    buf_free(&b);
    free(inset);
    free(del);
    free(add);
}

/* CANCELUPDATE 1*(SP quoted) (RFC 5267 4.3.5) */
#define CANCELUPDATE_MAX_ARGS 64

IMAP_CMD(cmd_cancelupdate)
{
    if (s->state != IMAP_SELECTED || !s->view) {
        imap_tagged(s, cmd, "BAD", "No mailbox selected");
        return CMD_DONE;
    }
    char *tags[CANCELUPDATE_MAX_ARGS];
    size_t n = 0;
    while (imap_p_sp(&cmd->ps)) {
        struct imap_str t;
        if (n == CANCELUPDATE_MAX_ARGS) {
            imap_tagged(s, cmd, "BAD", "[LIMIT] Too many tags");
            return CMD_DONE;
        }
        if (!imap_p_string(&cmd->ps, cmd, &t) || t.file || memchr(t.s, '\0', t.len)) {
            imap_tagged(s, cmd, "BAD", "CANCELUPDATE needs quoted tags");
            return CMD_DONE;
        }
        tags[n++] = (char *)t.s;
    }
    if (n == 0 || !imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "CANCELUPDATE needs quoted tags");
        return CMD_DONE;
    }
    /* A tag without a context (never one, refused with NOUPDATE, or
     * cancelled already) is not an error: afterwards no context of that
     * tag sends updates, which is what was asked. */
    for (size_t i = 0; i < n; i++)
        (void)update_ctx_cancel(s->view, tags[i]);
    imap_tagged(s, cmd, "OK", "No further updates");
    return CMD_DONE;
}
