/* imap-context.c - updating search contexts: RETURN (UPDATE) of SEARCH,
 * UID SEARCH, SORT and UID SORT, and CANCELUPDATE (RFC 5267 4.3,
 * CONTEXT=SEARCH and CONTEXT=SORT).
 *
 * Design. A context keeps the search program (taken over from the
 * command), the UIDs of its current result in the requested order
 * (ascending UIDs for SEARCH; sort order for SORT, with each result's
 * sort values: size, INTERNALDATE, sent date and the stored string keys
 * of its criteria, sortkey.h), and is kept by the selected view: it ends
 * with the selection or CANCELUPDATE. It is updated where the session
 * tells the client of changes (imap-sync.c):
 *   - expunges: before the EXPUNGE responses (or VANISHED), the expunged
 *     results are reported in REMOVEFROM with the message numbers still
 *     valid (RFC 5267 4.3.4), then dropped;
 *   - new messages and changed flags: imap_sync already reads every new
 *     and changed message record from storage (mailbox_sync); each
 *     context's program is evaluated on those records as they pass
 *     (update_ctx_eval) as far as the record answers it: header, body and
 *     sent-date keys are "unknown" there (three-valued: AND with a false
 *     record key is false, OR with a true one true). Once the EXISTS and
 *     FETCH responses are out the decided differences are reported:
 *     REMOVEFROM, then ADDTO (RFC 5267 4.3.3: after EXISTS, so the message
 *     numbers are valid).
 *   - what the records leave undecided - a new message for a program with
 *     header or body keys, a flag change where the rest of the program
 *     needs the message, and every new result of a SORT by DATE, SUBJECT,
 *     FROM, TO, CC, DISPLAYFROM or DISPLAYTO (its stored sort keys) - waits
 *     in the view's pending list, and one job at a time per selection
 *     (kind "context", keyed by the store so that it runs before the
 *     view's close job) evaluates the full programs on those messages on
 *     the pool (search_run_new_other: the message files and stored header
 *     fields, as SEARCH reads them) and reads their stored sort keys
 *     (mailbox_sort_keys). Its results are reported when it finishes if
 *     the session is between commands or in IDLE, else at the next sync
 *     (the end of the running command): the message numbers are those of
 *     the view at that moment, and a message expunged meanwhile is left
 *     out. A message changed again while its evaluation is pending or
 *     running is evaluated again by the next job, whose answer wins. A
 *     flag change cannot change the answer of a program without flag,
 *     keyword or MODSEQ keys: no job then.
 *   - SORT positions (ADDTO, REMOVEFROM): from the stored keys of the
 *     results, compared as SORT compares them (imap-cmd-sort.c): nothing
 *     is read or parsed on the loop.
 * Bounds: UPDATE_CTX_MAX contexts per selection, UPDATE_CTX_MAX_RESULTS
 * results and UPDATE_CTX_MAX_KEYBYTES key octets held when one starts,
 * and UPDATE_CTX_MAX_PENDING messages waiting for a job per context: a
 * sync that leaves more ends the context with an untagged
 * NO [NOUPDATE "tag"] (the form of RFC 5267 4.3.1).
 * Programs with message numbers or "$" (fixed when the command ran, RFC
 * 5267 4.3), \Recent, NEW, OLD and OLDER/YOUNGER (which change without
 * the mailbox changing) are refused with NOUPDATE when the command runs;
 * the other return options are answered as usual.
 * Cost per sync on the loop: O(changed records x contexts) record
 * evaluations, and per context with changes one merge pass over its
 * result (O(n + k log k)).
 */
#include "imap-fetch.h"
#include "imap-search.h"
#include "sortkey.h"
#include "config.h"
#include "jobs.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(UPDATE_CRIT_DISPLAYTO - UPDATE_CRIT_SUBJECT + 1 == UPDATE_NSTR, "one string slot per string key");
_Static_assert(SK_SUBJECT == 0 && SK_FROM == 1 && SK_TO == 2 && SK_CC == 3 && SK_DISPLAYFROM == 4 &&
                   SK_DISPLAYTO == 5,
               "string slots are sortkey.h's fields");

struct uctx_ent {
    uint32_t uid;
    uint64_t size;      /* SORT only */
    int64_t idate;      /* SORT only */
    int64_t date;       /* SORT by stored keys only */
    size_t koff;        /* SORT by stored keys: its keys in the arena */
};

/* The program, shared with the evaluation job that may be running (the
 * count is changed on the loop only). */
struct uctx_prog {
    struct skey *root;
    unsigned refs;
};

struct update_ctx {
    char *tag;
    uint64_t id;                /* per view, for the job's answers */
    unsigned slot;              /* bit in the masks (update_note, pending) */
    bool uid;                   /* results as UIDs (UID SEARCH/SORT) */
    bool sort;
    bool store;                 /* header/body keys: the records do not decide */
    bool mut;                   /* keys on flags, keywords or MODSEQ */
    bool keys;                  /* SORT by stored keys (a job reads a new result's) */
    struct uctx_prog *prog;
    struct search_state *state;
    uint32_t max_uid;           /* "*" in UID sets: as when the command ran */
    struct update_crit crit[UPDATE_CTX_MAX_CRIT];
    size_t ncrit;
    struct uctx_ent *ent;       /* the result in the requested order */
    size_t n, cap;
    /* keys: per result its UPDATE_NSTR string keys, each a 32-bit length
     * and the octets (only the criteria's; the others empty) */
    struct buf arena;
    size_t garbage;             /* octets of removed results */
};

/* One new or changed message seen by a sync: per context slot, does the
 * program match, is the answer left to a job (defer), or can the change
 * not affect the result (skip)? */
struct update_note {
    uint32_t uid;
    uint32_t match, defer, skip;
    uint64_t size;
    int64_t idate;
};

struct upend_item {
    uint32_t uid;
    uint32_t mask;              /* context slots to evaluate it for */
};

struct uctx_job;

/* The view's evaluation work: messages waiting (ascending UIDs, unique,
 * between syncs) and the job in flight or finished and not reported. */
struct update_pending {
    struct upend_item *p;
    size_t n, cap;
    struct uctx_job *job;
    uint32_t slots;             /* context slots in use */
    uint64_t next_id;
};

_Static_assert(UPDATE_CTX_MAX <= 32, "masks hold one bit per context");

static struct update_pending *pend_get(struct imap_view *v)
{
    if (!v->upend)
        v->upend = xcalloc(1, sizeof(*v->upend));
    return v->upend;
}

static void prog_unref(struct uctx_prog *p)
{
    if (p && --p->refs == 0) {
        skey_free(p->root);
        free(p);
    }
}

static void ctx_free(struct update_ctx *c)
{
    if (!c)
        return;
    free(c->tag);
    prog_unref(c->prog);
    search_state_free(c->state);
    free(c->ent);
    buf_free(&c->arena);
    free(c);
}

static void job_detach(struct uctx_job *j);

void update_ctx_free_all(struct imap_view *v)
{
    for (size_t i = 0; i < v->nuctx; i++)
        ctx_free(v->uctx[i]);
    free(v->uctx);
    v->uctx = NULL;
    v->nuctx = 0;
    if (v->upend) {
        if (v->upend->job)
            job_detach(v->upend->job);
        free(v->upend->p);
        free(v->upend);
        v->upend = NULL;
    }
}

bool update_ctx_tag_in_use(const struct imap_view *v, const char *tag)
{
    for (size_t i = 0; i < v->nuctx; i++)
        if (strcmp(v->uctx[i]->tag, tag) == 0)
            return true;
    return false;
}

/* Does k's answer for a message stay the same while the mailbox does not
 * change (no message numbers, "$", \Recent or age)? */
static bool updatable(const struct skey *k)
{
    switch (k->op) {
    case SK_SEQ:
    case SK_RECENT:
    case SK_NEW:
    case SK_OLD:
    case SK_OLDER:
    case SK_YOUNGER:
        return false;
    case SK_UID:
        return !k->set.dollar;
    default:
        for (size_t i = 0; i < k->nkids; i++)
            if (!updatable(k->kids[i]))
                return false;
        return true;
    }
}

/* Does k read what a flag change changes (flags, keywords, MODSEQ)? */
static bool has_mutable(const struct skey *k)
{
    switch (k->op) {
    case SK_FLAGS_ON:
    case SK_FLAGS_OFF:
    case SK_KEYWORD:
    case SK_UNKEYWORD:
    case SK_MODSEQ:
        return true;
    default:
        for (size_t i = 0; i < k->nkids; i++)
            if (has_mutable(k->kids[i]))
                return true;
        return false;
    }
}

static size_t held_keybytes(const struct imap_view *v)
{
    size_t b = 0;
    for (size_t i = 0; i < v->nuctx; i++)
        b += v->uctx[i]->arena.len - v->uctx[i]->garbage;
    return b;
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
    if (!updatable(root))
        return "Updates are not provided for searches on message numbers, $, \\Recent, NEW, OLD, OLDER or YOUNGER";
    return NULL;
}

static struct update_ctx *ctx_new(struct imap_view *v, const char *tag, bool uid, struct skey *root,
                                  uint32_t max_uid)
{
    struct update_pending *up = pend_get(v);
    struct update_ctx *c = xcalloc(1, sizeof(*c));
    c->tag = xstrdup(tag);
    c->id = ++up->next_id;
    c->slot = 0;
    while (up->slots & (1u << c->slot))
        c->slot++;      /* nuctx < UPDATE_CTX_MAX (update_ctx_refusal): one is free */
    up->slots |= 1u << c->slot;
    c->uid = uid;
    c->prog = xcalloc(1, sizeof(*c->prog));
    c->prog->root = root;
    c->prog->refs = 1;
    c->store = root->cost != SK_COST_RECORD;
    c->mut = has_mutable(root);
    c->state = search_state_new(root);
    c->max_uid = max_uid;
    buf_init(&c->arena);
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

static bool crit_str(enum update_crit_key k)
{
    return k >= UPDATE_CRIT_SUBJECT && k <= UPDATE_CRIT_DISPLAYTO;
}

/* Append a result's string keys (those of the criteria) to the arena. */
static size_t keys_put(struct update_ctx *c, const char *const *str, const uint32_t *len)
{
    size_t off = c->arena.len;
    unsigned used = 0;
    for (size_t i = 0; i < c->ncrit; i++)
        if (crit_str(c->crit[i].key))
            used |= 1u << (c->crit[i].key - UPDATE_CRIT_SUBJECT);
    for (unsigned sl = 0; sl < UPDATE_NSTR; sl++) {
        uint32_t l = (used & (1u << sl)) && str[sl] ? MIN(len[sl], (uint32_t)SORTKEY_MAX_KEY) : 0;
        buf_append(&c->arena, &l, sizeof(l));
        if (l)
            buf_append(&c->arena, str[sl], l);
    }
    return off;
}

/* String key sl of a result, and the size of its whole key record. */
static const char *keys_get(const struct update_ctx *c, size_t off, unsigned sl, uint32_t *len)
{
    const char *p = c->arena.data + off;
    for (unsigned i = 0;; i++) {
        uint32_t l;
        memcpy(&l, p, sizeof(l));
        if (i == sl) {
            *len = l;
            return p + sizeof(l);
        }
        p += sizeof(l) + l;
    }
}

static size_t keys_size(const struct update_ctx *c, size_t off)
{
    uint32_t l;
    const char *last = keys_get(c, off, UPDATE_NSTR - 1, &l);
    return (size_t)(last + l - (c->arena.data + off));
}

/* Drop the key records of removed results once they are most of the
 * arena. */
static void keys_compact(struct update_ctx *c)
{
    if (!c->keys || c->garbage < 65536 || c->garbage < c->arena.len / 2)
        return;
    struct buf nb = BUF_INIT;
    for (size_t i = 0; i < c->n; i++) {
        size_t sz = keys_size(c, c->ent[i].koff);
        size_t off = nb.len;
        buf_append(&nb, c->arena.data + c->ent[i].koff, sz);
        c->ent[i].koff = off;
    }
    buf_free(&c->arena);
    c->arena = nb;
    c->garbage = 0;
}

const char *update_ctx_add_sort(struct imap_view *v, const char *tag, bool uid, struct skey *root, uint32_t max_uid,
                                const struct update_crit *crit, size_t ncrit,
                                void (*get)(void *arg, size_t i, struct update_sort_ent *e), void *arg, size_t n)
{
    struct update_ctx *c = ctx_new(v, tag, uid, root, max_uid);
    c->sort = true;
    c->ncrit = MIN(ncrit, (size_t)UPDATE_CTX_MAX_CRIT);
    memcpy(c->crit, crit, c->ncrit * sizeof(*crit));
    for (size_t i = 0; i < c->ncrit; i++)
        if (c->crit[i].key != UPDATE_CRIT_ARRIVAL && c->crit[i].key != UPDATE_CRIT_SIZE)
            c->keys = true;
    c->cap = n ? n : 1;
    c->ent = xmalloc(c->cap * sizeof(*c->ent));
    for (size_t i = 0; i < n; i++) {
        struct update_sort_ent e;
        memset(&e, 0, sizeof(e));
        get(arg, i, &e);
        c->ent[i] = (struct uctx_ent){.uid = e.uid, .size = e.size, .idate = e.idate, .date = e.date};
        if (c->keys)
            c->ent[i].koff = keys_put(c, e.s, e.len);
    }
    c->n = n;
    if (c->keys && held_keybytes(v) > UPDATE_CTX_MAX_KEYBYTES) {
        update_ctx_cancel(v, tag);
        return "Too many sort keys to keep updated";
    }
    return NULL;
}

static void ctx_remove_at(struct imap_view *v, size_t i)
{
    struct update_ctx *c = v->uctx[i];
    struct update_pending *up = v->upend;
    if (up) {
        uint32_t bit = 1u << c->slot;
        up->slots &= ~bit;
        size_t w = 0;
        for (size_t k = 0; k < up->n; k++) {
            up->p[k].mask &= ~bit;
            if (up->p[k].mask)
                up->p[w++] = up->p[k];
        }
        up->n = w;
    }
    ctx_free(c);
    memmove(v->uctx + i, v->uctx + i + 1, (v->nuctx - i - 1) * sizeof(*v->uctx));
    v->nuctx--;
}

bool update_ctx_cancel(struct imap_view *v, const char *tag)
{
    for (size_t i = 0; i < v->nuctx; i++) {
        if (strcmp(v->uctx[i]->tag, tag) == 0) {
            ctx_remove_at(v, i);
            return true;
        }
    }
    return false;
}

/* ---- pending evaluations ---- */

static int cmp_item(const void *a, const void *b)
{
    const struct upend_item *x = a, *y = b;
    return (x->uid > y->uid) - (x->uid < y->uid);
}

static bool items_have(const struct upend_item *it, size_t n, uint32_t uid, uint32_t bit)
{
    struct upend_item key = {.uid = uid};
    const struct upend_item *f = bsearch(&key, it, n, sizeof(*it), cmp_item);
    return f && (f->mask & bit);
}

struct uctx_job_ctx {
    uint64_t id;
    unsigned slot;
    struct uctx_prog *prog;
    uint32_t max_uid;
    bool keys;
};

/* One evaluation job: the messages (ascending UIDs) with the contexts to
 * evaluate each for, copies of what the pool needs, and the answers. */
struct uctx_job {
    struct imap_session *s;
    bool detached;              /* the view went away: free when done */
    bool finished;              /* done ran: answers to report */
    /* The job opens a read-only handle of its own by name and checks the
     * id: the view's handle is the loop's, whose sync rewrites its
     * mailbox_info while the job would read it (a data race). */
    struct mail_user *store;    /* a reference of the job's own */
    char *name, *reader;        /* reader: someone else's mailbox (as SELECT) */
    int64_t mbid;
    size_t maxtext;
    struct upend_item *it;
    size_t n;
    struct uctx_job_ctx c[UPDATE_CTX_MAX];
    size_t nc;
    /* per message */
    uint32_t *match;            /* slots whose program matched */
    uint64_t *size;
    int64_t *idate, *date;
    uint32_t (*len)[UPDATE_NSTR];       /* the stored string keys: */
    size_t (*soff)[UPDATE_NSTR];        /* their offsets into arena */
    struct buf arena;
    int rc;
};

/* Is uid waiting for, or in, an evaluation for the context in slot? */
static bool pend_busy(const struct update_pending *up, uint32_t uid, unsigned slot)
{
    if (!up)
        return false;
    uint32_t bit = 1u << slot;
    if (up->n && items_have(up->p, up->n, uid, bit))
        return true;
    return up->job && items_have(up->job->it, up->job->n, uid, bit);
}

static void pend_add(struct update_pending *up, uint32_t uid, uint32_t bit)
{
    ARRAY_GROW(up->p, up->n, up->cap);
    up->p[up->n++] = (struct upend_item){.uid = uid, .mask = bit};
}

/* Ascending and unique again after pend_add (masks merged). */
static void pend_sort(struct update_pending *up)
{
    if (up->n < 2)
        return;
    qsort(up->p, up->n, sizeof(*up->p), cmp_item);
    size_t w = 0;
    for (size_t i = 0; i < up->n; i++) {
        if (w && up->p[w - 1].uid == up->p[i].uid)
            up->p[w - 1].mask |= up->p[i].mask;
        else
            up->p[w++] = up->p[i];
    }
    up->n = w;
}

/* ---- evaluation while a sync reads the changes ---- */

static bool no_text(void *arg, const char **s, size_t *len)
{
    (void)arg;
    (void)s;
    (void)len;
    return false;   /* never asked: only record keys are evaluated here */
}

enum { T3_FALSE, T3_TRUE, T3_UNKNOWN };

/* k on a message record alone: keys on its header or body are unknown. */
static int eval3(const struct skey *k, const struct search_msg *m)
{
    switch (k->op) {
    case SK_AND: {
        int r = T3_TRUE;
        for (size_t i = 0; i < k->nkids; i++) {
            int x = eval3(k->kids[i], m);
            if (x == T3_FALSE)
                return T3_FALSE;
            if (x == T3_UNKNOWN)
                r = T3_UNKNOWN;
        }
        return r;
    }
    case SK_OR: {
        int r = T3_FALSE;
        for (size_t i = 0; i < k->nkids; i++) {
            int x = eval3(k->kids[i], m);
            if (x == T3_TRUE)
                return T3_TRUE;
            if (x == T3_UNKNOWN)
                r = T3_UNKNOWN;
        }
        return r;
    }
    case SK_NOT: {
        int x = eval3(k->kids[0], m);
        return x == T3_UNKNOWN ? x : x == T3_TRUE ? T3_FALSE : T3_TRUE;
    }
    default:
        if (k->cost != SK_COST_RECORD)
            return T3_UNKNOWN;
        return search_eval(k, m) ? T3_TRUE : T3_FALSE;
    }
}

void update_ctx_eval(const struct imap_view *v, const struct msg_record *rec, struct update_batch *ub)
{
    if (v->nuctx == 0)
        return;
    bool isnew = imap_view_msn(v, rec->uid) == 0;   /* new UIDs join the view after the sync */
    uint32_t match = 0, defer = 0, skip = 0;
    for (size_t i = 0; i < v->nuctx; i++) {
        struct update_ctx *c = v->uctx[i];
        uint32_t bit = 1u << c->slot;
        if (c->store && !isnew && !c->mut) {
            skip |= bit;    /* a flag change cannot change the answer */
            continue;
        }
        if (pend_busy(v->upend, rec->uid, c->slot)) {
            defer |= bit;   /* the next job decides, with the newest record */
            continue;
        }
        struct search_msg m = {
            .state = c->state,
            .rec = rec,
            .max_uid = c->max_uid,
            .arg = NULL,
            .get_header = no_text,
            .get_body_text = no_text,
        };
        search_state_next(c->state);
        int r = c->store ? eval3(c->prog->root, &m) : search_eval(c->prog->root, &m) ? T3_TRUE : T3_FALSE;
        if (r == T3_TRUE)
            match |= bit;
        else if (r == T3_UNKNOWN)
            defer |= bit;
    }
    ARRAY_GROW(ub->notes, ub->n, ub->cap);
    ub->notes[ub->n++] = (struct update_note){.uid = rec->uid, .match = match, .defer = defer, .skip = skip,
                                              .size = rec->size, .idate = rec->internaldate};
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

/* Criterion i on a and b, REVERSE not applied: as imap-cmd-sort.c
 * cmp_crit compares (i;unicode-casemap keys in octet order, the shorter
 * first). */
static int crit_cmp(const struct update_ctx *c, size_t i, const struct uctx_ent *a, const struct uctx_ent *b)
{
    switch (c->crit[i].key) {
    case UPDATE_CRIT_SIZE:
        return (a->size > b->size) - (a->size < b->size);
    case UPDATE_CRIT_ARRIVAL:
        return (a->idate > b->idate) - (a->idate < b->idate);
    case UPDATE_CRIT_DATE:
        return (a->date > b->date) - (a->date < b->date);
    default: {
        unsigned sl = (unsigned)(c->crit[i].key - UPDATE_CRIT_SUBJECT);
        uint32_t la, lb;
        const char *pa = keys_get(c, a->koff, sl, &la);
        const char *pb = keys_get(c, b->koff, sl, &lb);
        int r = 0;
        if (la && lb)
            r = memcmp(pa, pb, la < lb ? la : lb);
        if (r)
            return r < 0 ? -1 : 1;
        return (la > lb) - (la < lb);
    }
    }
}

/* Sort order of two results: the criteria, then the UID (= message
 * number order, RFC 5256's implicit last criterion). */
static int ent_cmp(const struct update_ctx *c, const struct uctx_ent *a, const struct uctx_ent *b)
{
    for (size_t i = 0; i < c->ncrit; i++) {
        int r = crit_cmp(c, i, a, b);
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
            if (c->keys)
                c->garbage += keys_size(c, c->ent[i].koff);
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
        keys_compact(c);
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

/* Which of the ascending, unique uids[0..n) are results now: into in
 * (ascending). SEARCH results are ascending UIDs (O(k log n)); SORT
 * results are looked through. */
static size_t results_among(const struct update_ctx *c, const uint32_t *uids, size_t n, uint32_t *in)
{
    size_t nin = 0;
    if (!c->sort) {
        for (size_t i = 0; i < n; i++)
            if (ent_find(c, uids[i]))
                in[nin++] = uids[i];
    } else {
        for (size_t i = 0; i < c->n && nin < n; i++)
            if (uid_in(uids, n, c->ent[i].uid))
                in[nin++] = c->ent[i].uid;
        qsort(in, nin, sizeof(*in), cmp_u32);
    }
    return nin;
}

/* Report one context's changes in one ESEARCH response: REMOVEFROM of
 * del (ascending UIDs, results now), then ADDTO of add (not results;
 * for SORT with their sort values; reordered here). */
static void report(struct imap_session *s, struct update_ctx *c, const uint32_t *del, size_t ndel,
                   struct uctx_ent *add, size_t nadd)
{
    if (ndel == 0 && nadd == 0)
        return;
    struct buf b = BUF_INIT;
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
    buf_free(&b);
    /* not before: the added results' keys are at the arena's end */
    keys_compact(c);
}

/* ---- the evaluation job ---- */

static void job_free(struct uctx_job *j)
{
    for (size_t k = 0; k < j->nc; k++)
        prog_unref(j->c[k].prog);
    free(j->it);
    free(j->match);
    free(j->size);
    free(j->idate);
    free(j->date);
    free(j->len);
    free(j->soff);
    buf_free(&j->arena);
    if (j->store)
        mail_user_close(j->store);
    free(j->name);
    free(j->reader);
    free(j);
}

/* The view goes away: a running job frees itself when done; a finished
 * one (its answers were waiting for a sync) goes now. */
static void job_detach(struct uctx_job *j)
{
    if (j->finished) {
        job_free(j);
        return;
    }
    j->detached = true;
    j->s = NULL;
}

static size_t job_index(const struct uctx_job *j, uint32_t uid)
{
    struct upend_item key = {.uid = uid};
    const struct upend_item *f = bsearch(&key, j->it, j->n, sizeof(*j->it), cmp_item);
    return f ? (size_t)(f - j->it) : SIZE_MAX;
}

static void job_keys_cb(void *arg, uint32_t uid, const char *rec, size_t len)
{
    struct uctx_job *j = arg;
    size_t i = job_index(j, uid);
    struct mime_sortkeys k;
    if (i == SIZE_MAX || !mime_sortkeys_parse(rec, len, &k))
        return;
    if (k.flags & SK_F_DATE)
        j->date[i] = k.sent;
    for (unsigned sl = 0; sl < UPDATE_NSTR; sl++) {
        size_t l = MIN(k.len[sl], (size_t)SORTKEY_MAX_KEY);
        j->soff[i][sl] = j->arena.len;
        j->len[i][sl] = (uint32_t)l;
        buf_append(&j->arena, k.s[sl], l);
    }
}

/* On the pool: each context's program on its messages (as SEARCH runs
 * it on a list of UIDs), then the stored sort keys of the matches of
 * contexts that sort by them. */
static void job_run(struct job *job, void *arg)
{
    (void)job;
    struct uctx_job *j = arg;
    if (!j->store) {
        j->rc = STORAGE_ERR_IO;
        return;
    }
    if ((j->rc = storage_job_begin(j->store, NULL)) < 0)
        return;
    struct mailbox *mb = NULL;
    j->rc = j->reader ? mailbox_open_as(j->store, j->name, j->reader, true, NULL, &mb)
                      : mailbox_open(j->store, j->name, true, false, NULL, &mb);
    if (j->rc == 0 && mailbox_get_info(mb)->id != j->mbid)
        j->rc = STORAGE_ERR_NOTFOUND;   /* renamed away and another made under its name */
    if (j->rc < 0) {
        if (mb)
            mailbox_close(mb);
        storage_job_end(j->store, NULL);
        return;
    }
    uint32_t *u = xmalloc(j->n * sizeof(*u));
    uint32_t keymask = 0;
    for (size_t k = 0; k < j->nc && j->rc >= 0; k++) {
        uint32_t bit = 1u << j->c[k].slot;
        if (j->c[k].keys)
            keymask |= bit;
        size_t nu = 0;
        for (size_t i = 0; i < j->n; i++)
            if (j->it[i].mask & bit)
                u[nu++] = j->it[i].uid;
        if (nu == 0)
            continue;
        struct search_query q = {.root = j->c[k].prog->root};
        struct search_run *r = search_run_new_other(&q, mb, xmemdup(u, nu * sizeof(*u)), nu, j->maxtext);
        search_run_set_max_uid(r, j->c[k].max_uid);
        search_run_job_scan(r);
        struct search_matches m;
        search_run_matches(r, &m);
        if (m.rc < 0)
            j->rc = m.rc;
        for (size_t x = 0; x < m.n; x++) {
            size_t i = job_index(j, m.uids[x]);
            if (i == SIZE_MAX)
                continue;
            j->match[i] |= bit;
            j->size[i] = m.sizes[x];
            j->idate[i] = m.idates[x];
            j->date[i] = m.idates[x];   /* without a sent date: INTERNALDATE (RFC 5256 2.2) */
        }
        search_run_free(r);
    }
    size_t nu = 0;
    for (size_t i = 0; i < j->n; i++)
        if (j->match[i] & keymask)
            u[nu++] = j->it[i].uid;
    if (nu && j->rc >= 0) {
        struct mail_user *mu = mailbox_user(mb);
        int rc = storage_read_begin(mu);
        if (rc >= 0) {
            rc = mailbox_sort_keys(mb, u, nu, job_keys_cb, j);
            storage_read_end(mu);
        }
        if (rc < 0 && rc != STORAGE_ERR_NOTFOUND)   /* expunged meanwhile: empty keys, as SORT */
            j->rc = rc;
    }
    free(u);
    mailbox_close(mb);   /* j->store holds the store: not its last reference */
    storage_job_end(j->store, NULL);
}

static void job_report(struct imap_session *s);
static void job_start(struct imap_session *s);

/* Can an untagged response go out now? Between commands and in IDLE;
 * during a command (whose output may be a literal in progress) the sync
 * before its tagged reply reports. */
static bool may_write_now(const struct imap_session *s)
{
    /* as NOTIFY's: not after LOGOUT's answer, not inside a literal the
     * reader is taking in */
    return s->conn && !s->closed && !s->logout && !s->close_after_cmd && !s->in_cmd && !s->in_job &&
           (!s->cmd || s->idling) && !imap_reader_busy(s);
}

static void job_done(void *arg)
{
    struct uctx_job *j = arg;
    if (j->detached) {
        job_free(j);
        return;
    }
    j->finished = true;
    struct imap_session *s = j->s;
    if (may_write_now(s)) {
        imap_session_enter(s);
        job_report(s);
        job_start(s);
        imap_session_leave(s);
    }
}

static struct update_ctx *ctx_by_id(const struct imap_view *v, uint64_t id)
{
    for (size_t i = 0; i < v->nuctx; i++)
        if (v->uctx[i]->id == id)
            return v->uctx[i];
    return NULL;
}

/* The finished job's answers, per context still there: a message in the
 * view whose evaluation is not pending again is added or removed. */
static void job_report(struct imap_session *s)
{
    struct imap_view *v = s->view;
    struct update_pending *up = v ? v->upend : NULL;
    if (!up || !up->job || !up->job->finished)
        return;
    struct uctx_job *j = up->job;
    up->job = NULL;
    for (size_t k = 0; k < j->nc; k++) {
        struct update_ctx *c = ctx_by_id(v, j->c[k].id);
        if (!c)
            continue;   /* cancelled meanwhile */
        if (j->rc < 0) {
            log_warn("imap: updating context %s: evaluation failed: %s", c->tag, storage_strerror(j->rc));
            imap_untagged(s, "NO [NOUPDATE \"%s\"] Updates failed", c->tag);
            for (size_t i = 0; i < v->nuctx; i++)
                if (v->uctx[i] == c)
                    ctx_remove_at(v, i);
            continue;
        }
        uint32_t bit = 1u << c->slot;
        uint32_t *cand = xmalloc(j->n * sizeof(*cand));
        size_t ncand = 0;
        for (size_t i = 0; i < j->n; i++)
            if ((j->it[i].mask & bit) && imap_view_msn(v, j->it[i].uid) &&
                !(up->n && items_have(up->p, up->n, j->it[i].uid, bit)))
                cand[ncand++] = j->it[i].uid;
        uint32_t *in = xmalloc((ncand ? ncand : 1) * sizeof(*in));
        uint32_t *del = xmalloc((ncand ? ncand : 1) * sizeof(*del));
        struct uctx_ent *add = xmalloc((ncand ? ncand : 1) * sizeof(*add));
        size_t nin = results_among(c, cand, ncand, in), ndel = 0, nadd = 0;
        for (size_t x = 0; x < ncand; x++) {
            size_t i = job_index(j, cand[x]);
            bool match = (j->match[i] & bit) != 0, isin = uid_in(in, nin, cand[x]);
            if (isin && !match) {
                del[ndel++] = cand[x];
            } else if (!isin && match) {
                struct uctx_ent e = {.uid = cand[x], .size = j->size[i], .idate = j->idate[i], .date = j->date[i]};
                if (c->keys) {
                    const char *str[UPDATE_NSTR];
                    for (unsigned sl = 0; sl < UPDATE_NSTR; sl++)
                        str[sl] = j->len[i][sl] ? j->arena.data + j->soff[i][sl] : NULL;
                    e.koff = keys_put(c, str, j->len[i]);
                }
                add[nadd++] = e;
            }
        }
        report(s, c, del, ndel, add, nadd);
        free(cand);
        free(in);
        free(del);
        free(add);
    }
    job_free(j);
}

/* Hand what is pending to a job, unless one is running or unreported. */
static void job_start(struct imap_session *s)
{
    struct imap_view *v = s->view;
    struct update_pending *up = v ? v->upend : NULL;
    if (!up || up->job || up->n == 0 || v->nuctx == 0)
        return;
    struct uctx_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    struct mail_user *vstore = imap_view_store(v);
    if (vstore && mail_user_open(mail_user_name(vstore), false, &j->store) < 0)
        j->store = NULL;   /* the job answers STORAGE_ERR_IO: NOUPDATE */
    j->name = xstrdup(mailbox_get_info(v->mb)->name);
    j->reader = vstore && strcmp(mail_user_name(vstore), s->who.user) != 0 ? xstrdup(s->who.user) : NULL;
    j->mbid = v->mbid;
    j->maxtext = (size_t)config_int(CFG_MAXMESSAGESIZE);
    j->it = up->p;
    j->n = up->n;
    up->p = NULL;
    up->n = up->cap = 0;
    uint32_t any = 0;
    for (size_t i = 0; i < j->n; i++)
        any |= j->it[i].mask;
    for (size_t i = 0; i < v->nuctx; i++) {
        struct update_ctx *c = v->uctx[i];
        if (!(any & (1u << c->slot)))
            continue;
        c->prog->refs++;
        j->c[j->nc++] = (struct uctx_job_ctx){.id = c->id, .slot = c->slot, .prog = c->prog,
                                               .max_uid = c->max_uid, .keys = c->keys};
    }
    j->match = xcalloc(j->n, sizeof(*j->match));
    j->size = xcalloc(j->n, sizeof(*j->size));
    j->idate = xcalloc(j->n, sizeof(*j->idate));
    j->date = xcalloc(j->n, sizeof(*j->date));
    j->len = xcalloc(j->n, sizeof(*j->len));
    j->soff = xcalloc(j->n, sizeof(*j->soff));
    buf_init(&j->arena);
    up->job = j;
    /* Keyed by the store: storage_job_begin takes the store's job lock,
     * and a job waiting for it must wait in the store's queue, not park a
     * pool thread that other users' jobs need (jobs.h). */
    jobs_submit("context", j->store, job_run, job_done, j);
}

/* UPDATE_CTX_MAX_PENDING: end the contexts with too much waiting. */
static void pend_limit(struct imap_session *s)
{
    struct imap_view *v = s->view;
    struct update_pending *up = v->upend;
    if (!up)
        return;
    for (size_t i = 0; i < v->nuctx;) {
        struct update_ctx *c = v->uctx[i];
        uint32_t bit = 1u << c->slot;
        size_t n = 0;
        for (size_t k = 0; k < up->n; k++)
            n += (up->p[k].mask & bit) != 0;
        if (up->job)
            for (size_t k = 0; k < up->job->n; k++)
                n += (up->job->it[k].mask & bit) != 0;
        if (n > UPDATE_CTX_MAX_PENDING) {
            imap_untagged(s, "NO [NOUPDATE \"%s\"] Too many changes to keep the result updated", c->tag);
            ctx_remove_at(v, i);
            continue;
        }
        i++;
    }
}

static int cmp_note(const void *a, const void *b)
{
    const struct update_note *x = a, *y = b;
    return (x->uid > y->uid) - (x->uid < y->uid);
}

void update_ctx_apply(struct imap_session *s, struct update_batch *ub)
{
    struct imap_view *v = s->view;
    if (!v || v->nuctx == 0)
        return;
    /* a finished job first: its answers are older than this sync's */
    job_report(s);
    if (ub->n && v->nuctx) {
        struct update_pending *up = pend_get(v);
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
        uint32_t *uids = xmalloc(nn * sizeof(*uids));
        for (size_t i = 0; i < nn; i++)
            uids[i] = ub->notes[i].uid;
        uint32_t *inset = xmalloc(nn * sizeof(*inset));
        uint32_t *del = xmalloc(nn * sizeof(*del));
        struct uctx_ent *add = xmalloc(nn * sizeof(*add));
        for (size_t ci = 0; ci < v->nuctx; ci++) {
            struct update_ctx *c = v->uctx[ci];
            uint32_t bit = 1u << c->slot;
            size_t nin = results_among(c, uids, nn, inset);
            size_t ndel = 0, nadd = 0;
            for (size_t i = 0; i < nn; i++) {
                const struct update_note *no = &ub->notes[i];
                if (!imap_view_msn(v, no->uid) || (no->skip & bit))
                    continue;   /* not (or no longer) in this session's view; or unaffected */
                if (no->defer & bit) {
                    pend_add(up, no->uid, bit);
                    continue;
                }
                bool match = (no->match & bit) != 0;
                bool in = uid_in(inset, nin, no->uid);
                if (in && !match)
                    del[ndel++] = no->uid;
                else if (!in && match && c->keys)
                    pend_add(up, no->uid, bit);     /* its sort keys are in the store */
                else if (!in && match)
                    add[nadd++] = (struct uctx_ent){.uid = no->uid, .size = no->size, .idate = no->idate};
            }
            report(s, c, del, ndel, add, nadd);
        }
        free(uids);
        free(inset);
        free(del);
        free(add);
        pend_sort(up);
        pend_limit(s);
    }
    job_start(s);
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
