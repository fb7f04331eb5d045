/* imap-cmd-sort.c - SORT and UID SORT (RFC 5256), the DISPLAYFROM and
 * DISPLAYTO keys (RFC 5957, SORT=DISPLAY), and RETURN options answered
 * with ESEARCH (RFC 5267 3, ESORT; RFC 5182 SAVE).
 *
 * The search is SEARCH's own (imap-search.h search_run_*); the keys are
 * the records stored with each message at append time (storage.h
 * mailbox_sort_keys, sortkey.h): strings are i;unicode-casemap keys
 * (RFC 5051) compared with memcmp, so sorting parses and decodes
 * nothing. Both the scan and the sort run as one job on the pool, unless
 * the search is cheap enough to stay on the loop and every criterion is
 * in the message records (ARRIVAL, SIZE).
 */
#include "imap-search.h"
#include "sortkey.h"
#include "config.h"
#include "log.h"

#include <stdatomic.h>
#include <stdlib.h>

enum sort_key {
    SO_ARRIVAL,
    SO_CC,
    SO_DATE,
    SO_FROM,
    SO_SIZE,
    SO_SUBJECT,
    SO_TO,
    SO_DISPLAYFROM,
    SO_DISPLAYTO,
};

/* More criteria than keys only repeats keys: the bound keeps a hostile
 * list from making every comparison long. */
#define SORT_MAX_CRITERIA 16
/* an updating context copies the criteria (imap-context.c) */
_Static_assert(SORT_MAX_CRITERIA <= UPDATE_CTX_MAX_CRIT, "SORT criteria fit an updating context");
/* The string keys, in the order of struct sort_keys's off/len. */
#define SORT_NSTR 6
_Static_assert(SORT_NSTR == UPDATE_NSTR, "an updating context keeps the same string keys");

struct sort_crit {
    enum sort_key key;
    bool reverse;
};

/* The stored keys of the matches, as parallel arrays indexed like the
 * matches, only for what the criteria use: one string key costs 12 bytes
 * a message (100,000 matches: 1.2 MB), not a record of every key. */
struct sort_keys {
    int64_t *date;                  /* sent date (or INTERNALDATE: RFC 5256 2.2); NULL without DATE */
    size_t *off[SORT_NSTR];         /* into the arena (which may pass 4 GiB); NULL if unused */
    uint32_t *len[SORT_NSTR];       /* at most SORTKEY_MAX_KEY */
};

/* What qsort moves: the first criterion's key folded into two 64-bit
 * words (a string's first 16 octets: base subjects often share their
 * first 8) so that most comparisons read only the array being sorted
 * (sequentially, in a merge sort) and never the keys (randomly). Equal
 * prefixes fall back to the full comparison, which decides. */
struct sort_item {
    uint64_t pfx[2];
    uint32_t idx;
};

/* What a cached result depends on besides the command: the view it was
 * numbered in (taken on the loop at the command) and the mailbox as
 * stored (read on the pool in the job's read transaction). */
struct sort_fp {
    uint32_t count, uidnext, recent_count;
    uint64_t modseq;
    size_t npexp;
};
struct sort_state {
    uint32_t uidvalidity, uidnext, messages;
    uint64_t highestmodseq;
};

struct sort_run {
    struct search_run *sr;
    struct sort_crit crit[SORT_MAX_CRITERIA];
    size_t ncrit;
    unsigned ret;                   /* enum search_ret */
    struct partial_range partial;   /* SR_PARTIAL */
    bool esearch, uses_modseq;
    bool need_keys;                 /* a criterion needs the stored records */
    /* the result: indexes into the matches, in sort order */
    struct search_matches m;
    struct sort_keys k;
    uint32_t *order;
    struct buf arena;
    size_t cursor;                  /* keys callback: next match index */
    int rc;
    /* order[wlo..whi) hold results (top-k: a part), and always order[0]
     * and order[n-1] */
    size_t wlo, whi;
    /* the result cache (see sort_cache) */
    const char *ktext;              /* the criteria in the command text */
    char *key;                      /* NULL: not cacheable */
    size_t keylen;
    struct sort_fp fp;
    struct sort_cache *cache;       /* taken from the view: used if st matches */
    struct sort_state st;
    bool have_state, hit;
};

/* A selected mailbox's last SORT result (imap_view.sortcache), so that a
 * webmail's paging (RETURN (PARTIAL 1:50), then 51:100, ...) or a repeated
 * SORT costs a slice of it instead of a scan, the keys and a sort. Keyed
 * by the command text from the criteria on (criteria, charset, search
 * program: RETURN options may differ), the view's numbering and the
 * mailbox's UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and message count:
 * every flag change, append or expunge, by any session, raises one of
 * them, so a stale result is never used. The store's values are read in
 * the job (mailbox_peek_info), in the same read transaction as a scan
 * would be. Not cached: programs whose result depends on more than the
 * messages ("$", \Recent, OLDER/YOUNGER: the clock), commands with
 * spilled literals, RETURN (UPDATE), results of more than
 * SORT_CACHE_MAX matches or SORT_CACHE_VIEW_MAX octets (the run's arrays
 * are sized for the whole view), or past the worker's budget. One
 * entry a view, replaced by the next cacheable SORT, dropped by any
 * other SORT and with the view (imap_view_free). */
#define SORT_CACHE_MAX 262144
#define SORT_CACHE_MAX_KEY 8192
/* What every cached result of one worker process may hold together: a
 * thousand sessions each sorting a 100,000-message mailbox would
 * otherwise keep 4 GB. Past it a result is simply not kept (the next
 * page is a sort again), so the memory of an idle session stays small. */
#define SORT_CACHE_WORKER_BUDGET ((size_t)64 << 20)
#define SORT_CACHE_VIEW_MAX ((size_t)16 << 20)   /* and one view's at most */
static _Atomic size_t sort_cache_total;
struct sort_cache {
    char *key;
    size_t keylen;
    size_t bytes;                   /* counted in sort_cache_total */
    struct sort_fp fp;
    struct sort_state st;
    struct sort_run *run;           /* sr, m, order; no keys */
};

static const struct {
    const char *name;
    enum sort_key key;
} sort_keys[] = {
    {"ARRIVAL", SO_ARRIVAL}, {"CC", SO_CC},           {"DATE", SO_DATE},
    {"FROM", SO_FROM},       {"SIZE", SO_SIZE},       {"SUBJECT", SO_SUBJECT},
    {"TO", SO_TO},           {"DISPLAYFROM", SO_DISPLAYFROM}, {"DISPLAYTO", SO_DISPLAYTO},
};

/* Index of a string key in struct sort_keys, -1 for the others. */
static int str_slot(enum sort_key k)
{
    switch (k) {
    case SO_SUBJECT: return 0;
    case SO_FROM: return 1;
    case SO_TO: return 2;
    case SO_CC: return 3;
    case SO_DISPLAYFROM: return 4;
    case SO_DISPLAYTO: return 5;
    default: return -1;
    }
}

static const enum sk_str slot_field[SORT_NSTR] = {SK_SUBJECT, SK_FROM, SK_TO, SK_CC, SK_DISPLAYFROM, SK_DISPLAYTO};

/* sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
 * sort-criterion = ["REVERSE" SP] sort-key */
static bool parse_criteria(void *arg, struct imap_parser *ps, struct imap_cmd *cmd, const char **err)
{
    struct sort_run *r = arg;
    r->ktext = ps->p;
    if (!imap_p_char(ps, '(')) {
        *err = "Sort criteria must be a parenthesized list";
        return false;
    }
    for (;;) {
        bool reverse = false;
        char *atom = imap_p_atom(ps, cmd);
        if (atom && strcasecmp(atom, "REVERSE") == 0) {
            reverse = true;
            if (!imap_p_sp(ps) || !(atom = imap_p_atom(ps, cmd))) {
                *err = "REVERSE needs a sort key";
                return false;
            }
            if (strcasecmp(atom, "REVERSE") == 0) {
                *err = "REVERSE applies to a sort key, not to REVERSE";
                return false;
            }
        }
        if (!atom) {
            *err = "Missing sort key";
            return false;
        }
        size_t i;
        for (i = 0; i < ARRAY_SIZE(sort_keys); i++)
            if (strcasecmp(atom, sort_keys[i].name) == 0)
                break;
        if (i == ARRAY_SIZE(sort_keys)) {
            *err = "Unknown sort key";
            return false;
        }
        if (r->ncrit == SORT_MAX_CRITERIA) {
            *err = "Too many sort criteria";
            return false;
        }
        r->crit[r->ncrit].key = sort_keys[i].key;
        r->crit[r->ncrit].reverse = reverse;
        r->ncrit++;
        if (imap_p_char(ps, ')'))
            return true;
        if (!imap_p_sp(ps)) {
            *err = "Expected SP or ')' in sort criteria";
            return false;
        }
    }
}

/* ---- sorting (on the pool, or the loop for cheap ones) ---- */

static void keys_cb(void *arg, uint32_t uid, const char *rec, size_t len)
{
    struct sort_run *r = arg;
    while (r->cursor < r->m.n && r->m.uids[r->cursor] < uid)
        r->cursor++;
    if (r->cursor >= r->m.n || r->m.uids[r->cursor] != uid)
        return;
    size_t i = r->cursor++;
    struct mime_sortkeys k;
    if (!mime_sortkeys_parse(rec, len, &k))
        return;
    if (r->k.date && (k.flags & SK_F_DATE))
        r->k.date[i] = k.sent;
    for (int sl = 0; sl < SORT_NSTR; sl++) {
        if (!r->k.len[sl])
            continue;
        enum sk_str f = slot_field[sl];
        r->k.off[sl][i] = r->arena.len;
        r->k.len[sl][i] = (uint32_t)k.len[f];
        buf_append(&r->arena, k.s[f], k.len[f]);
    }
}

/* Criterion c on matches ia and ib, REVERSE not applied. */
static int cmp_crit(const struct sort_run *r, size_t c, uint32_t ia, uint32_t ib)
{
    switch (r->crit[c].key) {
    case SO_ARRIVAL:
        return (r->m.idates[ia] > r->m.idates[ib]) - (r->m.idates[ia] < r->m.idates[ib]);
    case SO_DATE:
        return (r->k.date[ia] > r->k.date[ib]) - (r->k.date[ia] < r->k.date[ib]);
    case SO_SIZE:
        return (r->m.sizes[ia] > r->m.sizes[ib]) - (r->m.sizes[ia] < r->m.sizes[ib]);
    default: {
        /* i;unicode-casemap keys: octet order, the empty string first */
        int sl = str_slot(r->crit[c].key);
        uint32_t la = r->k.len[sl][ia], lb = r->k.len[sl][ib];
        int v = 0;
        if (la && lb)
            v = memcmp(r->arena.data + r->k.off[sl][ia], r->arena.data + r->k.off[sl][ib], la < lb ? la : lb);
        return v ? v : (la > lb) - (la < lb);
    }
    }
}

static int cmp_ent(const struct sort_run *r, uint32_t ia, uint32_t ib)
{
    for (size_t c = 0; c < r->ncrit; c++) {
        int v = cmp_crit(r, c, ia, ib);
        if (v)
            return r->crit[c].reverse ? -v : v;
    }
    /* RFC 5256: the implicit last criterion, sequence number (REVERSE
     * never applies to it); matches are in sequence order */
    return (ia > ib) - (ia < ib);
}

static int cmp_item(const void *pa, const void *pb, void *ctx)
{
    const struct sort_item *a = pa, *b = pb;
    if (a->pfx[0] != b->pfx[0])
        return a->pfx[0] < b->pfx[0] ? -1 : 1;
    if (a->pfx[1] != b->pfx[1])
        return a->pfx[1] < b->pfx[1] ? -1 : 1;
    return cmp_ent(ctx, a->idx, b->idx);
}

/* The first criterion's key of match i as two unsigned words ordered as
 * the criterion orders (REVERSE included): numbers with the sign bit
 * flipped (the second word 0); strings by their first 16 octets,
 * big-endian and zero-padded (a key that is a prefix of another gets a
 * prefix no greater than the other's, as octet order with the shorter
 * string first wants). */
static void sort_prefix(const struct sort_run *r, uint32_t i, uint64_t p[2])
{
    p[1] = 0;
    switch (r->crit[0].key) {
    case SO_ARRIVAL:
        p[0] = (uint64_t)r->m.idates[i] ^ (UINT64_C(1) << 63);
        break;
    case SO_DATE:
        p[0] = (uint64_t)r->k.date[i] ^ (UINT64_C(1) << 63);
        break;
    case SO_SIZE:
        p[0] = r->m.sizes[i];
        break;
    default: {
        int sl = str_slot(r->crit[0].key);
        uint32_t l = r->k.len[sl][i];
        const unsigned char *d = l ? (const unsigned char *)r->arena.data + r->k.off[sl][i] : NULL;
        for (uint32_t w = 0; w < 2; w++) {
            uint64_t v = 0;
            for (uint32_t j = 8 * w; j < 8 * w + 8; j++)
                v = (v << 8) | (j < l ? d[j] : 0);
            p[w] = v;
        }
        break;
    }
    }
    if (r->crit[0].reverse) {
        p[0] = ~p[0];
        p[1] = ~p[1];
    }
}

/* ---- PARTIAL with a small range: top-k selection ----
 *
 * RETURN (PARTIAL a:b) alone (RFC 9394 3.1; with MIN, MAX, COUNT or SAVE
 * too, not with ALL or UPDATE) reads only order[a..e) and the first and
 * last in sort order. When the range lies within the first or the last
 * n/TOPK_DIV results, a bounded heap of the h = e (or n - start) items
 * that come first (or last) replaces sorting all n: n log h comparisons
 * instead of n log n, and the comparison is the same total order
 * (cmp_item ends with the sequence number, RFC 5256), so the answer is
 * identical to slicing the full sort. Then only order[a..e), order[0] and
 * order[n-1] hold results. */
#define TOPK_DIV 8

static bool topk_range(const struct sort_run *r, size_t *a, size_t *e)
{
    if (!(r->ret & SR_PARTIAL) || (r->ret & (SR_ALL | SR_UPDATE)))
        return false;
    size_t n = r->m.n;
    partial_range_slice(&r->partial, n, a, e);
    size_t h = r->partial.neg ? n - *a : *e;
    return h > 0 && h <= n / TOPK_DIV;
}

/* The results a top-k keeps: at least TOPK_PREFETCH, so that the next
 * pages of a PARTIAL paging come from the result cache. Past the first
 * h, a heap of more items costs little: most items lose to its root. */
#define TOPK_PREFETCH 1000

/* dir > 0: a max-heap (its root the greatest of the items kept, the
 * first to leave when a smaller one comes); dir < 0: a min-heap. */
static void heap_down(struct sort_item *hp, size_t h, size_t i, int dir, struct sort_run *r)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h)
            return;
        if (c + 1 < h && dir * cmp_item(&hp[c + 1], &hp[c], r) > 0)
            c++;
        if (dir * cmp_item(&hp[c], &hp[i], r) <= 0)
            return;
        struct sort_item t = hp[c];
        hp[c] = hp[i];
        hp[i] = t;
        i = c;
    }
}

static void sort_topk(struct sort_run *r, struct sort_item *it, size_t n, size_t a, size_t e)
{
    bool last = r->partial.neg;
    size_t h = last ? n - a : e;
    if (h < TOPK_PREFETCH)
        h = MIN((size_t)TOPK_PREFETCH, n / TOPK_DIV);
    if (h < (last ? n - a : e))
        h = last ? n - a : e;
    int dir = last ? -1 : 1;
    /* the h smallest (largest) items gather in it[0..h) */
    for (size_t i = h / 2; i-- > 0;)
        heap_down(it, h, i, dir, r);
    for (size_t i = h; i < n; i++) {
        if (dir * cmp_item(&it[i], &it[0], r) < 0) {
            /* swapped, not overwritten: it[] stays a permutation for
             * the MIN/MAX scan below */
            struct sort_item t = it[0];
            it[0] = it[i];
            it[i] = t;
            heap_down(it, h, 0, dir, r);
        }
    }
    /* the extremes (MIN/MAX, and a range's own ends) before it[] is
     * reordered: a linear scan each */
    size_t lo = 0, hi = 0;
    for (size_t i = 1; i < n; i++) {
        if (cmp_item(&it[i], &it[lo], r) < 0)
            lo = i;
        if (cmp_item(&it[i], &it[hi], r) > 0)
            hi = i;
    }
    uint32_t first = it[lo].idx, lastidx = it[hi].idx;
    qsort_r(it, h, sizeof(*it), cmp_item, r);
    size_t base = last ? n - h : 0;   /* the sort position of it[0] */
    for (size_t i = 0; i < h; i++)
        r->order[base + i] = it[i].idx;
    r->wlo = base;
    r->whi = base + h;
    r->order[0] = first;
    r->order[n - 1] = lastidx;
}

static void sort_matches(struct sort_run *r)
{
    search_run_matches(r->sr, &r->m);
    r->rc = r->m.rc;
    if (r->rc < 0 || r->m.n == 0)
        return;
    size_t n = r->m.n;
    for (size_t c = 0; c < r->ncrit; c++) {
        int sl = str_slot(r->crit[c].key);
        if (sl >= 0 && !r->k.len[sl]) {
            r->k.len[sl] = xcalloc(n, sizeof(uint32_t));
            r->k.off[sl] = xcalloc(n, sizeof(size_t));
        } else if (r->crit[c].key == SO_DATE && !r->k.date) {
            r->k.date = xmalloc(n * sizeof(int64_t));
            memcpy(r->k.date, r->m.idates, n * sizeof(int64_t)); /* no stored record: INTERNALDATE */
        }
    }
    if (r->need_keys) {
        /* Messages another session expunged (still shown here) have no
         * row: they keep empty keys and their INTERNALDATE. */
        r->cursor = 0;
        int rc = mailbox_sort_keys(r->m.mb, r->m.uids, n, keys_cb, r);
        if (rc < 0 && rc != STORAGE_ERR_NOTFOUND) {
            r->rc = rc;
            return;
        }
    }
    struct sort_item *it = xmalloc(n * sizeof(*it));
    for (size_t i = 0; i < n; i++) {
        it[i].idx = (uint32_t)i;
        sort_prefix(r, (uint32_t)i, it[i].pfx);
    }
    r->order = xmalloc(n * sizeof(*r->order));
    size_t a, e;
    if (topk_range(r, &a, &e)) {
        sort_topk(r, it, n, a, e);
    } else {
        qsort_r(it, n, sizeof(*it), cmp_item, r);
        for (size_t i = 0; i < n; i++)
            r->order[i] = it[i].idx;
        r->wlo = 0;
        r->whi = n;
    }
    free(it);
}

static void sort_job(struct job *job, void *arg)
{
    (void)job;
    struct sort_run *r = arg;
    struct search_matches m;
    search_run_matches(r->sr, &m);
    struct mail_user *u = mailbox_user(m.mb);
    r->rc = storage_read_begin(u);
    if (r->rc < 0)
        return;
    struct mailbox_info mi;
    if (r->key && mailbox_peek_info(m.mb, &mi) == 0) {
        r->st = (struct sort_state){.uidvalidity = mi.uidvalidity, .uidnext = mi.uidnext,
                                    .messages = mi.messages, .highestmodseq = mi.highestmodseq};
        r->have_state = true;
        const struct sort_state *c = r->cache ? &r->cache->st : NULL;
        if (c && c->uidvalidity == r->st.uidvalidity && c->uidnext == r->st.uidnext &&
            c->messages == r->st.messages && c->highestmodseq == r->st.highestmodseq) {
            r->hit = true;  /* nothing changed: sort_done answers from it */
            storage_read_end(u);
            return;
        }
    }
    search_run_exec(r->sr);
    sort_matches(r);
    storage_read_end(u);
}

static void sort_run_free(struct sort_run *r);

void sort_cache_free(struct sort_cache *c)
{
    if (!c)
        return;
    atomic_fetch_sub(&sort_cache_total, c->bytes);
    sort_run_free(c->run);
    free(c->key);
    free(c);
}

static void sort_keys_free(struct sort_run *r)
{
    free(r->k.date);
    r->k.date = NULL;
    for (int sl = 0; sl < SORT_NSTR; sl++) {
        free(r->k.off[sl]);
        free(r->k.len[sl]);
        r->k.off[sl] = NULL;
        r->k.len[sl] = NULL;
    }
    buf_free(&r->arena);
}

static void sort_run_free(struct sort_run *r)
{
    if (!r)
        return;
    sort_cache_free(r->cache);
    free(r->key);
    search_run_free(r->sr);
    free(r->k.date);
    for (int sl = 0; sl < SORT_NSTR; sl++) {
        free(r->k.off[sl]);
        free(r->k.len[sl]);
    }
    free(r->order);
    buf_free(&r->arena);
    free(r);
}

/* order[lo..hi) that the answer reads (beyond order[0] and order[n-1]) */
static void sort_needs(const struct sort_run *r, size_t n, size_t *lo, size_t *hi)
{
    *lo = *hi = 0;
    if (!r->esearch || (r->ret & (SR_ALL | SR_UPDATE))) {
        *hi = n;
    } else if (r->ret & SR_PARTIAL) {
        partial_range_slice(&r->partial, n, lo, hi);
    }
}

static bool skey_cacheable(const struct skey *k)
{
    switch (k->op) {
    case SK_SEQ:
    case SK_UID:
        if (k->set.dollar)
            return false;
        break;
    case SK_RECENT:
    case SK_NEW:
    case SK_OLD:
    case SK_OLDER:
    case SK_YOUNGER:
        return false;
    default:
        break;
    }
    for (size_t i = 0; i < k->nkids; i++)
        if (!skey_cacheable(k->kids[i]))
            return false;
    return true;
}

static struct sort_fp view_fp(const struct imap_view *v)
{
    return (struct sort_fp){.count = v->count, .uidnext = v->uidnext, .recent_count = v->recent_count,
                            .modseq = v->modseq, .npexp = v->npexp};
}

static bool fp_eq(const struct sort_fp *a, const struct sort_fp *b)
{
    return a->count == b->count && a->uidnext == b->uidnext && a->recent_count == b->recent_count &&
           a->modseq == b->modseq && a->npexp == b->npexp;
}

/* On the loop, at the command: take the view's cached result if it may
 * answer r (the store is checked in the job); any other is dropped. */
static void cache_take(struct imap_session *s, struct sort_run *r)
{
    struct sort_cache *c = s->view->sortcache;
    s->view->sortcache = NULL;
    if (!c)
        return;
    size_t lo, hi;
    sort_needs(r, c->run->m.n, &lo, &hi);
    if (r->key && c->keylen == r->keylen && memcmp(c->key, r->key, r->keylen) == 0 && fp_eq(&c->fp, &r->fp) &&
        (lo >= hi || (lo >= c->run->wlo && hi <= c->run->whi)))
        r->cache = c;
    else
        sort_cache_free(c);
}

/* In sort_done, answering from the cache: its result becomes r's (and
 * r's unused search run the cache's, freed with it). */
static void cache_use(struct sort_run *r)
{
    struct sort_run *c = r->cache->run;
#define SWAP(T, f) do { T t_ = r->f; r->f = c->f; c->f = t_; } while (0)
    SWAP(struct search_run *, sr);
    SWAP(struct search_matches, m);
    SWAP(uint32_t *, order);
    SWAP(size_t, wlo);
    SWAP(size_t, whi);
#undef SWAP
}

/* After the answer: keep r (without its keys) as the view's cache.
 * False: r is not kept (the caller frees it). */
static bool cache_keep(struct imap_session *s, struct sort_run *r)
{
    if (!r->key || !r->have_state || r->rc < 0 || r->m.n > SORT_CACHE_MAX || r->m.mb != s->view->mb)
        return false;
    /* what the kept run really holds: the search run's arrays are sized
     * for every message of the view, not for the matches */
    size_t bytes = search_run_mem(r->sr) + r->m.n * sizeof(*r->order) + r->keylen;
    if (bytes > SORT_CACHE_VIEW_MAX)
        return false;
    size_t held = (r->cache ? r->cache->bytes : 0) + (s->view->sortcache ? s->view->sortcache->bytes : 0);
    if (atomic_load(&sort_cache_total) - held + bytes > SORT_CACHE_WORKER_BUDGET)
        return false;
    struct sort_cache *c = r->cache ? r->cache : xcalloc(1, sizeof(*c));
    r->cache = NULL;
    atomic_fetch_sub(&sort_cache_total, c->bytes);
    c->bytes = bytes;
    atomic_fetch_add(&sort_cache_total, bytes);
    sort_run_free(c->run);
    free(c->key);
    c->key = r->key;
    c->keylen = r->keylen;
    r->key = NULL;
    c->fp = r->fp;
    c->st = r->st;
    sort_keys_free(r);
    c->run = r;
    sort_cache_free(s->view->sortcache);
    s->view->sortcache = c;
    return true;
}

/* ---- the answer ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* RFC 5182 2.1 with RFC 5267: the saved result is the set of matches;
 * with only MIN and/or MAX, just those (the first and last in sort
 * order). Kept as ascending UIDs, as SEARCH keeps it. */
static void save_result(struct imap_session *s, const struct sort_run *r)
{
    struct imap_view *v = s->view;
    size_t n = r->m.n;
    free(v->searchres);
    v->searchres = NULL;
    v->nsearchres = 0;
    if (n == 0)
        return;
    if ((r->ret & SR_PARTIAL) && !(r->ret & (SR_ALL | SR_COUNT))) {
        /* RFC 9394 3.2 table 1: the PARTIAL results (in sort order) and
         * the MIN and/or MAX ones */
        size_t a, e;
        partial_range_slice(&r->partial, n, &a, &e);
        v->searchres = xmalloc((e - a + 2) * sizeof(uint32_t));
        for (size_t i = a; i < e; i++)
            v->searchres[v->nsearchres++] = r->m.uids[r->order[i]];
        if (r->ret & SR_MIN)
            v->searchres[v->nsearchres++] = r->m.uids[r->order[0]];
        if (r->ret & SR_MAX)
            v->searchres[v->nsearchres++] = r->m.uids[r->order[n - 1]];
        qsort(v->searchres, v->nsearchres, sizeof(uint32_t), cmp_u32);
        size_t w = 0;
        for (size_t i = 0; i < v->nsearchres; i++)
            if (w == 0 || v->searchres[w - 1] != v->searchres[i])
                v->searchres[w++] = v->searchres[i];
        v->nsearchres = w;
    } else if ((r->ret & (SR_MIN | SR_MAX)) && !(r->ret & (SR_ALL | SR_COUNT))) {
        v->searchres = xmalloc(2 * sizeof(uint32_t));
        if (r->ret & SR_MIN)
            v->searchres[v->nsearchres++] = r->m.uids[r->order[0]];
        if ((r->ret & SR_MAX) && (!(r->ret & SR_MIN) || n > 1))
            v->searchres[v->nsearchres++] = r->m.uids[r->order[n - 1]];
        if (v->nsearchres == 2 && v->searchres[0] > v->searchres[1]) {
            uint32_t t = v->searchres[0];
            v->searchres[0] = v->searchres[1];
            v->searchres[1] = t;
        }
    } else {
        v->searchres = xmalloc(n * sizeof(uint32_t));
        memcpy(v->searchres, r->m.uids, n * sizeof(uint32_t)); /* ascending already */
        v->nsearchres = n;
        qsort(v->searchres, n, sizeof(uint32_t), cmp_u32);
    }
}

static void flush_if_big(struct imap_session *s, struct buf *b)
{
    if (b->len >= 64 * 1024) {
        imap_write(s, b->data, b->len);
        buf_reset(b);
    }
}

/* order[from..to) as a sequence-set in sort order; a range only for
 * ascending runs (RFC 5267 3.2) */
static void write_sorted_set(struct imap_session *s, struct buf *b, const uint32_t *nums, const uint32_t *order,
                             size_t from, size_t to)
{
    for (size_t i = from; i < to;) {
        size_t j = i;
        while (j + 1 < to && nums[order[j + 1]] == nums[order[j]] + 1)
            j++;
        if (i > from)
            buf_putc(b, ',');
        buf_put_uint(b, nums[order[i]]);
        if (j > i) {
            buf_putc(b, ':');
            buf_put_uint(b, nums[order[j]]);
        }
        i = j + 1;
        flush_if_big(s, b);
    }
}

static void write_results(struct imap_session *s, struct imap_cmd *cmd, struct sort_run *r)
{
    const uint32_t *nums = cmd->uid ? r->m.uids : r->m.msns;
    size_t n = r->m.n;
    unsigned ret = r->ret;
    if (ret & SR_SAVE) {
        save_result(s, r);
        if (!(ret & ~(SR_SAVE | SR_UPDATE | SR_CONTEXT)))
            return; /* SAVE alone: no ESEARCH response (RFC 5182 2.1) */
    }
    struct buf b = BUF_INIT;
    if (!r->esearch) {
        buf_puts(&b, "* SORT");
        for (size_t i = 0; i < n; i++) {
            buf_putc(&b, ' ');
            buf_put_uint(&b, nums[r->order[i]]);
            flush_if_big(s, &b);
        }
        if (r->uses_modseq && n > 0)
            buf_printf(&b, " (MODSEQ %llu)", (unsigned long long)r->m.maxmodseq);
    } else {
        buf_printf(&b, "* ESEARCH (TAG \"%s\")", cmd->tag);
        if (cmd->uid)
            buf_puts(&b, " UID");
        /* RFC 5267 3.1: MIN and MAX are the first and last in sort order */
        if ((ret & SR_MIN) && n > 0)
            buf_printf(&b, " MIN %u", nums[r->order[0]]);
        if ((ret & SR_MAX) && n > 0)
            buf_printf(&b, " MAX %u", nums[r->order[n - 1]]);
        if (ret & SR_COUNT)
            buf_printf(&b, " COUNT %zu", n);
        if ((ret & SR_ALL) && n > 0) {
            /* in sort order; a range only for ascending runs (RFC 5267 3.2) */
            buf_puts(&b, " ALL ");
            write_sorted_set(s, &b, nums, r->order, 0, n);
        }
        if (ret & SR_PARTIAL) {
            /* RFC 9394 3.1 / RFC 5267 4.4: the range of the results in
             * sort order */
            size_t a, e;
            partial_range_slice(&r->partial, n, &a, &e);
            buf_puts(&b, " PARTIAL (");
            partial_range_write(&b, &r->partial);
            if (e > a) {
                buf_putc(&b, ' ');
                write_sorted_set(s, &b, nums, r->order, a, e);
            } else {
                buf_puts(&b, " NIL");
            }
            buf_putc(&b, ')');
        }
        if (r->uses_modseq && n > 0) {
            /* RFC 4731 3.2 / RFC 7162 3.1.10: the highest mod-sequence of
             * the messages returned: with only MIN and/or MAX, of those
             * (the first and last in sort order) */
            uint64_t ms = r->m.maxmodseq;
            if (!(ret & (SR_ALL | SR_COUNT)) && (ret & (SR_MIN | SR_MAX | SR_PARTIAL))) {
                ms = 0;
                if (ret & SR_MIN)
                    ms = r->m.modseqs[r->order[0]];
                if ((ret & SR_MAX) && r->m.modseqs[r->order[n - 1]] > ms)
                    ms = r->m.modseqs[r->order[n - 1]];
                if (ret & SR_PARTIAL) {     /* of the messages in the range */
                    size_t a, e;
                    partial_range_slice(&r->partial, n, &a, &e);
                    for (size_t i = a; i < e; i++)
                        if (r->m.modseqs[r->order[i]] > ms)
                            ms = r->m.modseqs[r->order[i]];
                }
            }
            if (ms)     /* none returned: no MODSEQ */
                buf_printf(&b, " MODSEQ %llu", (unsigned long long)ms);
        }
    }
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

/* The i-th result in sort order for its updating context. */
static void context_ent(void *arg, size_t i, struct update_sort_ent *e)
{
    const struct sort_run *r = arg;
    uint32_t x = r->order[i];
    e->uid = r->m.uids[x];
    e->size = r->m.sizes[x];
    e->idate = r->m.idates[x];
    e->date = r->k.date ? r->k.date[x] : r->m.idates[x];
    for (int sl = 0; sl < SORT_NSTR; sl++) {
        if (!r->k.len[sl])
            continue;
        e->len[sl] = r->k.len[sl][x];
        e->s[sl] = e->len[sl] ? r->arena.data + r->k.off[sl][x] : NULL;
    }
}

/* RFC 5267 4.3 (CONTEXT=SORT): the context keeps each result's sort
 * values (the stored keys of the criteria), so that a new result's
 * position is found without reading the store (imap-context.c). */
static void start_context(struct imap_session *s, struct imap_cmd *cmd, struct sort_run *r)
{
    struct update_crit crit[UPDATE_CTX_MAX_CRIT];
    for (size_t c = 0; c < r->ncrit; c++) {
        enum update_crit_key k = UPDATE_CRIT_ARRIVAL;
        switch (r->crit[c].key) {
        case SO_ARRIVAL: k = UPDATE_CRIT_ARRIVAL; break;
        case SO_SIZE: k = UPDATE_CRIT_SIZE; break;
        case SO_DATE: k = UPDATE_CRIT_DATE; break;
        case SO_SUBJECT: k = UPDATE_CRIT_SUBJECT; break;
        case SO_FROM: k = UPDATE_CRIT_FROM; break;
        case SO_TO: k = UPDATE_CRIT_TO; break;
        case SO_CC: k = UPDATE_CRIT_CC; break;
        case SO_DISPLAYFROM: k = UPDATE_CRIT_DISPLAYFROM; break;
        case SO_DISPLAYTO: k = UPDATE_CRIT_DISPLAYTO; break;
        }
        crit[c] = (struct update_crit){.key = k, .reverse = r->crit[c].reverse};
    }
    struct search_matches m;
    search_run_matches(r->sr, &m);
    struct skey *root = search_run_take_root(r->sr);
    const char *why = update_ctx_refusal(s->view, root, m.n);
    if (!why && update_ctx_tag_in_use(s->view, cmd->tag))
        why = "Tag in use";
    if (!why)
        why = update_ctx_add_sort(s->view, cmd->tag, cmd->uid, root, search_run_max_uid(r->sr), crit, r->ncrit,
                                  context_ent, r, m.n);
    else
        skey_free(root);
    if (why)
        imap_untagged(s, "NO [NOUPDATE \"%s\"] %s", cmd->tag, why);
}

static enum cmd_result sort_done(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct sort_run *r = arg;
    if (!s) {
        sort_run_free(r);
        return CMD_DONE;
    }
    int rc = r->rc;
    if (!s->view) {
        imap_tagged(s, cmd, "NO", "Mailbox closed");
    } else if (imap_view_gone_err(s, rc)) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox was deleted");
    } else if (rc < 0) {
        log_err("SORT in %s failed: %s", mailbox_get_info(s->view->mb)->name, storage_strerror(rc));
        imap_tagged(s, cmd, "NO", "[SERVERBUG] Sort failed");
    } else {
        if (r->hit)
            cache_use(r);
        write_results(s, cmd, r);
        if (r->ret & SR_UPDATE)
            start_context(s, cmd, r);
        imap_tagged(s, cmd, "OK", "Sort completed");
        if (cache_keep(s, r))
            return CMD_DONE;
    }
    sort_run_free(r);
    return CMD_DONE;
}

IMAP_CMD(cmd_sort)
{
    if (s->state != IMAP_SELECTED || !s->view) {
        imap_tagged(s, cmd, "BAD", "No mailbox selected");
        return CMD_DONE;
    }
    struct sort_run *r = xcalloc(1, sizeof(*r));
    buf_init(&r->arena);
    struct search_query q;
    const char *status, *code, *err;
    int maxdepth = (int)config_int(CFG_SEARCH_MAXDEPTH);
    if (!search_parse_sort(&cmd->ps, cmd, maxdepth, true, parse_criteria, r, &q, &status, &code, &err)) {
        /* RFC 5182 2.1: NO with SAVE empties the saved result, BAD not */
        if ((q.ret & SR_SAVE) && strcmp(status, "NO") == 0) {
            free(s->view->searchres);
            s->view->searchres = NULL;
            s->view->nsearchres = 0;
        }
        if (code)
            imap_tagged(s, cmd, status, "[%s] %s", code, err);
        else
            imap_tagged(s, cmd, status, "%s", err);
        sort_run_free(r);
        return CMD_DONE;
    }
    if ((s->enabled & EN_UIDONLY) && search_has_msn_key(q.root)) {
        search_query_free(&q);
        sort_run_free(r);
        imap_tagged(s, cmd, "BAD", "[UIDREQUIRED] Message numbers are not allowed once UIDONLY is enabled");
        return CMD_DONE;
    }
    if (search_update_tag_reused(s, cmd, q.ret)) {
        search_query_free(&q);
        sort_run_free(r);
        return CMD_DONE;
    }
    if (q.uses_modseq)
        imap_enable_condstore(s);
    r->ret = q.ret;
    r->partial = q.partial;
    r->esearch = q.esearch;
    r->uses_modseq = q.uses_modseq;
    for (size_t c = 0; c < r->ncrit; c++)
        if (r->crit[c].key != SO_ARRIVAL && r->crit[c].key != SO_SIZE)
            r->need_keys = true;
    bool cacheable = !(q.ret & SR_UPDATE) && skey_cacheable(q.root) && r->ktext && cmd->ps.end > r->ktext &&
                     (size_t)(cmd->ps.end - r->ktext) <= SORT_CACHE_MAX_KEY && !(cmd->ps.ct && cmd->ps.ct->nfiles);
    r->sr = search_run_new(s, &q, true);
    if (!r->need_keys && search_run_inline_ok(r->sr)) {
        if (s->view->sortcache) {       /* any other SORT drops it */
            sort_cache_free(s->view->sortcache);
            s->view->sortcache = NULL;
        }
        search_run_exec(r->sr);
        sort_matches(r);
        return sort_done(s, cmd, r);
    }
    if (cacheable) {
        r->keylen = (size_t)(cmd->ps.end - r->ktext);
        r->key = xmalloc(r->keylen);
        memcpy(r->key, r->ktext, r->keylen);
        r->fp = view_fp(s->view);
    }
    cache_take(s, r);
    imap_progress_start(s, search_run_size(r->sr));
    return imap_cmd_job(s, cmd, "sort", NULL, sort_job, sort_done, r);
}
