/* imap-sync.c - the selected mailbox as this session knows it.
 *
 * The view holds the UIDs the client knows, in MSN order (uids[msn-1]),
 * and the highest modseq reported. The database is the truth: imap_sync()
 * asks storage what changed since view->modseq and tells the client in
 * the order RFC 9051 7.4.1/7.5 requires:
 *   1. expunges ("* n EXPUNGE", or "* VANISHED" with QRESYNC, RFC 7162
 *      3.2.10) - only when allowed (never during non-UID FETCH/STORE/
 *      SEARCH, RFC 9051 7.5.1); otherwise they wait in view->pexp and the
 *      messages keep their MSNs;
 *   2. new messages ("* n EXISTS", "* n RECENT" for IMAP4rev1);
 *   3. FLAGS / PERMANENTFLAGS when new keywords appeared;
 *   4. flag changes ("* n FETCH (UID u FLAGS (...) [MODSEQ (m)])") for
 *      messages the client already knows, except changes this session made
 *      itself and already reported (view->own).
 * MSNs are found by binary search; expunges are removed in one compaction
 * pass, so a sync stays O(changes * log n + n) for million-message views.
 */
#include "jobs.h"
#include "imap-fetch.h"
#include "imap-search.h"
#include "log.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t sort_unique(uint32_t *a, size_t n)
{
    if (n < 2)
        return n;
    qsort(a, n, sizeof(*a), cmp_u32);
    size_t j = 1;
    for (size_t i = 1; i < n; i++)
        if (a[i] != a[j - 1])
            a[j++] = a[i];
    return j;
}

/* index of the first element >= key */
static size_t lower_bound(const uint32_t *a, size_t n, uint32_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct imap_view *imap_view_new(struct mailbox *mb, bool readonly)
{
    struct imap_view *v = xcalloc(1, sizeof(*v));
    uint32_t *uids = NULL, count = 0;
    /* Before the UID list is read: a message another session expunges
     * from now on stays readable for this client until it is told
     * (RFC 2180 4.1.1; storage.h). A failure only loses that (logged). */
    (void)mailbox_keep_expunged(mb);
    if (mailbox_get_uids(mb, &uids, &count) < 0) {
        free(v);
        return NULL;
    }
    v->mb = mb;
    v->readonly = readonly;
    v->uids = uids;
    v->count = count;
    v->cap = count;
    const struct mailbox_info *info = mailbox_get_info(mb);
    v->mbid = info->id;
    v->modseq = info->highestmodseq;
    v->uidnext = info->uidnext;
    char *kw = NULL;
    if (mailbox_get_keywords(mb, &kw) < 0)
        kw = NULL;
    v->keywords = kw ? kw : xstrdup("");
    return v;
}

/* Closing a selected mailbox may write (the viewer row of RFC 2180
 * retention, releasing messages kept for this session, unlinking their
 * files): that part runs as a job on the store's key, after anything
 * queued for it (a release of kept messages below); the handle is freed
 * back on the loop. The session need not wait for it. */
static void close_run(struct job *job, void *arg)
{
    (void)job;
    struct mailbox *mb = arg;
    struct mail_user *u = mailbox_user(mb);
    if (storage_job_begin(u, NULL) == 0) {
        mailbox_close_work(mb);
        storage_job_end(u, NULL);
    }
}

static void close_done(void *arg)
{
    mailbox_close(arg); /* frees; the database work is done (or falls back here) */
}

static void release_run(struct job *job, void *arg)
{
    (void)job;
    struct mailbox *mb = arg;
    struct mail_user *u = mailbox_user(mb);
    if (storage_job_begin(u, NULL) == 0) {
        mailbox_release_kept(mb);
        storage_job_end(u, NULL);
    }
}

static void release_done(void *arg)
{
    (void)arg;
}

/* The client has been told of every expunge up to modseq: messages kept
 * for it may go (storage.h), written off the loop. The job is queued on
 * the store's key before any close of mb (imap_view_free), so mb is
 * still open when it runs. */
static void told_expunges(struct imap_view *v, uint64_t modseq)
{
    if (!mailbox_expunges_noted(v->mb, modseq))
        return;
    jobs_submit("release", mailbox_user(v->mb), release_run, release_done, v->mb);
}

void imap_view_free(struct imap_view *v)
{
    if (!v)
        return;
    if (v->mb)
        jobs_submit("close", mailbox_user(v->mb), close_run, close_done, v->mb);
    /* One store reference per view, handed over by SELECT; released after
     * the mailbox handle, which lives in that store. */
    if (v->store)
        mail_user_close(v->store);
    update_ctx_free_all(v);
    sort_cache_free(v->sortcache);
    free(v->uids);
    free(v->keywords);
    free(v->searchres);
    free(v->own);
    free(v->pexp);
    free(v->vanished);
    free(v->claimed);
    free(v);
}

acl_rights_t imap_view_rights(const struct imap_view *v)
{
    return v->store ? v->rights : ACL_ALL;
}

struct mail_user *imap_view_store(const struct imap_view *v)
{
    return v->store ? v->store : mailbox_user(v->mb);
}

uint32_t imap_rights_flag_mask(acl_rights_t r)
{
    uint32_t m = 0;
    if (r & ACL_SEEN)
        m |= MSG_SEEN;
    if (r & ACL_DELETEMSG)
        m |= MSG_DELETED;
    if (r & ACL_WRITE)
        m |= MSG_ANSWERED | MSG_FLAGGED | MSG_DRAFT;
    return m;
}

bool imap_view_may_set_seen(const struct imap_view *v)
{
    return !v->readonly && (imap_view_rights(v) & ACL_SEEN);
}

uint32_t imap_view_msn(const struct imap_view *v, uint32_t uid)
{
    size_t i = lower_bound(v->uids, v->count, uid);
    return i < v->count && v->uids[i] == uid ? (uint32_t)(i + 1) : 0;
}

bool imap_view_recent(const struct imap_view *v, uint32_t uid)
{
    if (v->recent_floor == UINT32_MAX || uid <= v->recent_floor)
        return false;
    if (uid <= v->recent_hi)
        return true;
    size_t lo = 0, hi = v->nclaimed;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->claimed[mid].hi < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->nclaimed && v->claimed[lo].lo <= uid;
}

/* ---- snapshots for jobs (issue 10) -------------------------------------- */

static void snap_common(struct imap_view_snap *sn, const struct imap_view *v)
{
    sn->count = v->count;
    sn->max_uid = v->count ? v->uids[v->count - 1] : 0;
    /* only what imap_view_recent reads */
    sn->recent.recent_floor = v->recent_floor;
    sn->recent.recent_hi = v->recent_hi;
    sn->recent.nclaimed = v->nclaimed;
    sn->recent.claimed = v->nclaimed ? xmemdup(v->claimed, v->nclaimed * sizeof(*v->claimed)) : NULL;
}

void imap_view_snap_range(struct imap_view_snap *sn, const struct imap_view *v, size_t from, size_t to)
{
    memset(sn, 0, sizeof(*sn));
    snap_common(sn, v);
    if (to > v->count)
        to = v->count;
    if (from < to) {
        sn->n = to - from;
        sn->uids = xmemdup(v->uids + from, sn->n * sizeof(uint32_t));
    }
    sn->base = (uint32_t)from;
    if (v->nsearchres) {
        sn->searchres = xmemdup(v->searchres, v->nsearchres * sizeof(uint32_t));
        sn->nsearchres = v->nsearchres;
    }
}

void imap_view_snap_uids(struct imap_view_snap *sn, const struct imap_view *v, const uint32_t *uids, size_t n)
{
    memset(sn, 0, sizeof(*sn));
    snap_common(sn, v);
    if (n == 0)
        return;
    sn->n = n;
    sn->uids = xmemdup(uids, n * sizeof(uint32_t));
    sn->msns = xmalloc(n * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        sn->msns[i] = imap_view_msn(v, uids[i]);
}

uint32_t imap_view_snap_msn(const struct imap_view_snap *sn, uint32_t uid)
{
    size_t i = lower_bound(sn->uids, sn->n, uid);
    if (i >= sn->n || sn->uids[i] != uid)
        return 0;
    return sn->msns ? sn->msns[i] : sn->base + (uint32_t)i + 1;
}

bool imap_view_snap_recent(const struct imap_view_snap *sn, uint32_t uid)
{
    return imap_view_recent(&sn->recent, uid);
}

void imap_view_snap_free(struct imap_view_snap *sn)
{
    free(sn->uids);
    free(sn->msns);
    free(sn->recent.claimed);
    free(sn->searchres);
    memset(sn, 0, sizeof(*sn));
}

/* number of view UIDs in [lo, hi] */
static uint32_t count_in(const struct imap_view *v, uint32_t lo, uint32_t hi)
{
    if (lo > hi)
        return 0;
    size_t a = lower_bound(v->uids, v->count, lo);
    size_t b = hi == UINT32_MAX ? v->count : lower_bound(v->uids, v->count, hi + 1);
    return b > a ? (uint32_t)(b - a) : 0;
}

static void view_recount_recent(struct imap_view *v)
{
    if (v->recent_floor == UINT32_MAX) {
        v->recent_count = 0;
        return;
    }
    uint32_t n = count_in(v, v->recent_floor + 1, v->recent_hi);
    for (size_t i = 0; i < v->nclaimed; i++)
        n += count_in(v, v->claimed[i].lo, v->claimed[i].hi);
    v->recent_count = n;
}

/* RFC 3501 2.3.2: new messages found by a sync of a read-write IMAP4rev1
 * session are \Recent for it only if it is the first session to be told
 * of them: claim them in storage (an atomic watermark move) and remember
 * the claimed range. Another session that claimed first keeps them.
 * Returns a storage error (NOTFOUND: mailbox deleted). */
static int view_claim_recent(struct imap_session *s)
{
    struct imap_view *v = s->view;
    if (v->readonly || v->recent_floor == UINT32_MAX || (s->enabled & EN_IMAP4REV2))
        return 0;
    uint32_t lo = 0, hi = 0;
    int err = mailbox_claim_recent_nowait(v->mb, &lo, &hi);
    if (err < 0)
        return err;
    /* keep the ranges ascending and disjoint whatever storage says */
    uint32_t above = v->nclaimed ? v->claimed[v->nclaimed - 1].hi : MAX(v->recent_hi, v->recent_floor);
    if (lo < above)
        lo = above;
    if (hi <= lo)
        return 0;
    if (v->nclaimed && v->claimed[v->nclaimed - 1].hi == lo) {
        v->claimed[v->nclaimed - 1].hi = hi; /* adjacent: extend */
        return 0;
    }
    ARRAY_GROW(v->claimed, v->nclaimed, v->cclaimed);
    v->claimed[v->nclaimed].lo = lo + 1;
    v->claimed[v->nclaimed].hi = hi;
    v->nclaimed++;
    return 0;
}

uint32_t *imap_view_resolve(struct imap_session *s, const struct seqset *set, bool uid, size_t *n)
{
    struct imap_view *v = s->view;
    *n = 0;
    if (!v)
        return xmalloc(sizeof(uint32_t));
    if (set->dollar) {
        uint32_t *out = xmalloc((v->nsearchres ? v->nsearchres : 1) * sizeof(uint32_t));
        size_t k = 0;
        for (size_t i = 0; i < v->nsearchres; i++)
            if (imap_view_msn(v, v->searchres[i]))
                out[k++] = v->searchres[i];
        *n = sort_unique(out, k);
        return out;
    }
    /* Resolve '*' and order each range, then merge overlapping ranges so
     * that hostile sets like "1:*,1:*,..." cost no more than one "1:*". */
    uint32_t maxv = uid ? (v->count ? v->uids[v->count - 1] : 0) : v->count;
    struct seqrange *r = xmalloc((set->n ? set->n : 1) * sizeof(*r));
    size_t nr = 0;
    for (size_t i = 0; i < set->n; i++) {
        uint32_t lo = seq_value(set->r[i].lo, maxv);
        uint32_t hi = seq_value(set->r[i].hi, maxv);
        if (lo > hi) {
            uint32_t t = lo;
            lo = hi;
            hi = t;
        }
        if (hi == 0)
            continue;
        if (lo == 0)
            lo = 1;
        r[nr].lo = lo;
        r[nr].hi = hi;
        nr++;
    }
    if (nr > 1) {
        uint64_t *keys = xmalloc(nr * sizeof(uint64_t));
        for (size_t i = 0; i < nr; i++)
            keys[i] = ((uint64_t)r[i].lo << 32) | r[i].hi;
        qsort(keys, nr, sizeof(uint64_t), cmp_u64);
        for (size_t i = 0; i < nr; i++) {
            r[i].lo = (uint32_t)(keys[i] >> 32);
            r[i].hi = (uint32_t)keys[i];
        }
        free(keys);
        size_t m = 0;
        for (size_t i = 1; i < nr; i++) {
            if (r[i].lo <= r[m].hi || r[i].lo - 1 == r[m].hi) {
                if (r[i].hi > r[m].hi)
                    r[m].hi = r[i].hi;
            } else {
                r[++m] = r[i];
            }
        }
        nr = m + 1;
    }
    /* count */
    size_t total = 0;
    for (size_t i = 0; i < nr; i++) {
        if (uid) {
            size_t a = lower_bound(v->uids, v->count, r[i].lo);
            size_t b = r[i].hi == UINT32_MAX ? v->count : lower_bound(v->uids, v->count, r[i].hi + 1);
            total += b > a ? b - a : 0;
        } else {
            uint32_t hi = MIN(r[i].hi, v->count);
            total += hi >= r[i].lo ? hi - r[i].lo + 1 : 0;
        }
    }
    uint32_t *out = xmalloc((total ? total : 1) * sizeof(uint32_t));
    size_t k = 0;
    for (size_t i = 0; i < nr; i++) {
        if (uid) {
            size_t a = lower_bound(v->uids, v->count, r[i].lo);
            size_t b = r[i].hi == UINT32_MAX ? v->count : lower_bound(v->uids, v->count, r[i].hi + 1);
            for (size_t j = a; j < b; j++)
                out[k++] = v->uids[j];
        } else {
            uint32_t hi = MIN(r[i].hi, v->count);
            for (uint32_t msn = r[i].lo; msn <= hi && msn >= 1; msn++) {
                out[k++] = v->uids[msn - 1];
                if (msn == UINT32_MAX)
                    break;
            }
        }
    }
    free(r);
    *n = k;
    return out;
}

/* ---- flags ------------------------------------------------------------- */

void imap_write_flag_list(struct buf *b, uint32_t flags, const char *keywords, bool recent)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } sys[] = {{MSG_SEEN, "\\Seen"},       {MSG_ANSWERED, "\\Answered"}, {MSG_FLAGGED, "\\Flagged"},
               {MSG_DELETED, "\\Deleted"}, {MSG_DRAFT, "\\Draft"}};
    bool first = true;
    buf_putc(b, '(');
    for (size_t i = 0; i < ARRAY_SIZE(sys); i++) {
        if (flags & sys[i].bit) {
            if (!first)
                buf_putc(b, ' ');
            buf_puts(b, sys[i].name);
            first = false;
        }
    }
    if (keywords && *keywords) {
        if (!first)
            buf_putc(b, ' ');
        buf_puts(b, keywords);
        first = false;
    }
    if (recent) {
        if (!first)
            buf_putc(b, ' ');
        buf_puts(b, "\\Recent");
    }
    buf_putc(b, ')');
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    bool in = false;
    for (; *s; s++) {
        if (*s == ' ')
            in = false;
        else if (!in) {
            in = true;
            n++;
        }
    }
    return n;
}

void imap_view_write_flags_line(struct imap_session *s)
{
    struct imap_view *v = s->view;
    if (!v)
        return;
    const char *kw = v->keywords ? v->keywords : "";
    struct buf b = BUF_INIT;
    buf_puts(&b, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    if (*kw) {
        buf_putc(&b, ' ');
        buf_puts(&b, kw);
    }
    buf_puts(&b, ")\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

void imap_view_write_permanentflags(struct imap_session *s)
{
    struct imap_view *v = s->view;
    if (!v)
        return;
    const char *kw = v->keywords ? v->keywords : "";
    struct buf b = BUF_INIT;
    /* RFC 4314 5.1.1: PERMANENTFLAGS reflects the user's rights: \Seen
     * with s, \Deleted with t, the other flags, the keywords and "\*"
     * with w. A read-only view (EXAMINE, or SELECT without any of
     * s w t e i) may change nothing. */
    acl_rights_t r = v->readonly ? 0 : imap_view_rights(v);
    uint32_t m = imap_rights_flag_mask(r);
    if (!m) {
        buf_printf(&b, "* OK [PERMANENTFLAGS ()] %s\r\n",
                   v->readonly ? "Read-only mailbox." : "No flags may be changed.");
    } else {
        static const struct {
            uint32_t bit;
            const char *name;
        } order[] = {{MSG_ANSWERED, "\\Answered"}, {MSG_FLAGGED, "\\Flagged"}, {MSG_DELETED, "\\Deleted"},
                     {MSG_SEEN, "\\Seen"},         {MSG_DRAFT, "\\Draft"}};
        buf_puts(&b, "* OK [PERMANENTFLAGS (");
        bool sp = false;
        for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
            if (m & order[i].bit) {
                buf_puts(&b, sp ? " " : "");
                buf_puts(&b, order[i].name);
                sp = true;
            }
        }
        if (r & ACL_WRITE) {
            if (*kw) {
                buf_putc(&b, ' ');
                buf_puts(&b, kw);
            }
            /* "\*": new keywords may be created (RFC 9051 7.1), unless the
             * mailbox is at its keyword limit. */
            if (count_words(kw) < STORAGE_MAX_KEYWORDS_PER_MAILBOX)
                buf_puts(&b, " \\*");
        }
        buf_puts(&b, ")] Flags permitted.\r\n");
    }
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

void imap_view_write_flags(struct imap_session *s)
{
    imap_view_write_flags_line(s);
    imap_view_write_permanentflags(s);
}

static bool keyword_known(const char *list, const char *kw, size_t len)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == len && strncasecmp(p, kw, len) == 0)
            return true;
        p = e;
    }
    return false;
}

static bool keywords_all_known(const char *list, const char *kws)
{
    const char *p = kws;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p && !keyword_known(list, p, (size_t)(e - p)))
            return false;
        p = e;
    }
    return true;
}

/* ---- own changes ---------------------------------------------------------- */

/* Storage gives every change transaction one fresh modseq
 * (highestmodseq + 1 under the write lock; sqlite-message.c), so a modseq
 * names exactly one transaction, and one of ours names only changes this
 * session made. Instead of (uid, modseq) pairs - a million of them after
 * "STORE 1:* +FLAGS" on a big mailbox - we therefore remember the set of
 * modseqs our own transactions produced: a "STORE 1:*" is one entry. A
 * record is our own iff its current modseq is in the set; if another
 * session changed the message after us, its modseq is newer and the change
 * is reported. The set is kept sorted (our modseqs only grow, so appends
 * are O(1)) and looked up by binary search; it is emptied by every
 * successful imap_sync and capped, so it cannot grow without bound between
 * syncs (dropping entries only costs the client a redundant FETCH).
 *
 * Representation: the view's own[] array of imap.h, using only .modseq
 * (.uid is unused and 0). */
#define OWN_MAX 65536

struct own_entry {
    uint32_t uid;
    uint64_t modseq;
};
_Static_assert(sizeof(struct own_entry) == sizeof(((struct imap_view *)0)->own[0]), "own layout");

/* index of the first own entry with modseq >= key */
static size_t own_lower_bound(const struct imap_view *v, uint64_t key)
{
    size_t lo = 0, hi = v->nown;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->own[mid].modseq < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void imap_view_note_own(struct imap_view *v, uint32_t uid, uint64_t modseq)
{
    (void)uid;
    if (v->nown && v->own[v->nown - 1].modseq == modseq)
        return; /* the common case: the rest of the same transaction */
    size_t at = v->nown;
    if (v->nown && v->own[v->nown - 1].modseq > modseq) {
        /* out of order (not expected): keep the array sorted */
        at = own_lower_bound(v, modseq);
        if (at < v->nown && v->own[at].modseq == modseq)
            return;
    }
    if (v->nown >= OWN_MAX)
        return; /* bounded: worst case the client sees a redundant FETCH */
    ARRAY_GROW(v->own, v->nown, v->ownc);
    memmove(v->own + at + 1, v->own + at, (v->nown - at) * sizeof(*v->own));
    v->own[at].uid = 0;
    v->own[at].modseq = modseq;
    v->nown++;
}

static bool is_own(const struct imap_view *v, uint64_t modseq)
{
    size_t i = own_lower_bound(v, modseq);
    return i < v->nown && v->own[i].modseq == modseq;
}

/* ---- expunges ------------------------------------------------------------- */

static void remove_from_pexp(struct imap_view *v, uint32_t uid)
{
    size_t i = lower_bound(v->pexp, v->npexp, uid);
    if (i < v->npexp && v->pexp[i] == uid) {
        memmove(v->pexp + i, v->pexp + i + 1, (v->npexp - i - 1) * sizeof(uint32_t));
        v->npexp--;
    }
}

void imap_view_expunged(struct imap_session *s, uint32_t uid)
{
    struct imap_view *v = s->view;
    if (!v)
        return;
    uint32_t msn = imap_view_msn(v, uid);
    if (!msn)
        return;
    update_ctx_expunged(s, &uid, 1);    /* RFC 5267 4.3.4: before the EXPUNGE */
    remove_from_pexp(v, uid);
    memmove(v->uids + msn - 1, v->uids + msn, (size_t)(v->count - msn) * sizeof(uint32_t));
    v->count--;
    if (imap_view_recent(v, uid) && v->recent_count)
        v->recent_count--;
    if (s->enabled & (EN_QRESYNC | EN_UIDONLY)) {   /* RFC 9586 3.4, 3.6: VANISHED */
        ARRAY_GROW(v->vanished, v->nvanished, v->cvanished);
        v->vanished[v->nvanished++] = uid;
    } else {
        imap_untagged(s, "%u EXPUNGE", msn);
    }
}

void imap_view_flush_vanished(struct imap_session *s)
{
    struct imap_view *v = s->view;
    if (!v || v->nvanished == 0)
        return;
    v->nvanished = sort_unique(v->vanished, v->nvanished);
    struct buf b = BUF_INIT;
    buf_puts(&b, "* VANISHED ");
    seqset_write_uids(&b, v->vanished, v->nvanished);
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
    v->nvanished = 0;
}

/* Report and remove the sorted UIDs exp[0..n) (all present in the view):
 * one compaction pass; with EXPUNGE responses each MSN accounts for the
 * messages already removed before it. */
static void report_expunges(struct imap_session *s, const uint32_t *exp, size_t n)
{
    struct imap_view *v = s->view;
    bool qresync = (s->enabled & (EN_QRESYNC | EN_UIDONLY)) != 0;   /* VANISHED (RFC 9586 3.4) */
    update_ctx_expunged(s, exp, n);     /* RFC 5267 4.3.4: before the EXPUNGEs */
    struct buf b = BUF_INIT;
    size_t w = 0, k = 0;
    for (size_t i = 0; i < v->count; i++) {
        uint32_t u = v->uids[i];
        if (k < n && exp[k] == u) {
            if (!qresync)
                buf_printf(&b, "* %zu EXPUNGE\r\n", i + 1 - k);
            k++;
            if (b.len > 16384) {
                imap_write(s, b.data, b.len);
                buf_reset(&b);
            }
            continue;
        }
        v->uids[w++] = u;
    }
    v->count = (uint32_t)w;
    if (qresync && n) {
        buf_puts(&b, "* VANISHED ");
        seqset_write_uids(&b, exp, n);
        buf_puts(&b, "\r\n");
    }
    imap_write(s, b.data, b.len);
    buf_free(&b);
    view_recount_recent(v);
}

/* ---- sync ------------------------------------------------------------------ */

struct changed_rec {
    uint32_t uid;
    uint32_t flags;
    uint64_t modseq;
    char *keywords;
};

struct sync_ctx {
    struct imap_view *v;
    uint32_t last_uid;
    uint32_t *exp;
    size_t nexp, cexp;
    uint32_t *newu;
    size_t nnew, cnew;
    struct changed_rec *ch;
    size_t nch, cch;
    struct update_batch ub;     /* RFC 5267 4.3 updating contexts */
};

static int sync_changed(const struct msg_record *rec, void *arg)
{
    struct sync_ctx *c = arg;
    /* Updating contexts see every new and changed message, this
     * session's own changes too (its STORE may change a result). */
    if (c->v->nuctx && (rec->uid > c->last_uid || imap_view_msn(c->v, rec->uid)))
        update_ctx_eval(c->v, rec, &c->ub);
    if (rec->uid > c->last_uid) {
        ARRAY_GROW(c->newu, c->nnew, c->cnew);
        c->newu[c->nnew++] = rec->uid;
        return 0;
    }
    /* Our own changes are skipped here, before anything is copied: after
     * "STORE 1:* ..." on a million messages the sync that follows sees a
     * million changed records, all ours. */
    if (is_own(c->v, rec->modseq) || !imap_view_msn(c->v, rec->uid))
        return 0;
    ARRAY_GROW(c->ch, c->nch, c->cch);
    struct changed_rec *r = &c->ch[c->nch++];
    r->uid = rec->uid;
    r->flags = rec->flags;
    r->modseq = rec->modseq;
    r->keywords = xstrdup(rec->keywords ? rec->keywords : "");
    return 0;
}

static int sync_expunged(uint32_t uid, void *arg)
{
    struct sync_ctx *c = arg;
    if (!imap_view_msn(c->v, uid))
        return 0;
    ARRAY_GROW(c->exp, c->nexp, c->cexp);
    c->exp[c->nexp++] = uid;
    return 0;
}

/* BYE because of the selected mailbox, then close. Inside a command the
 * session closes once the command has written its tagged reply
 * (imap-session.c handle_result); otherwise (IDLE notification, timer) at
 * once. */
static void view_bye(struct imap_session *s, const char *bye)
{
    imap_untagged(s, "%s", bye);
    if (s->conn)
        conn_pause_input(s->conn);
    if (s->in_cmd)
        s->close_after_cmd = true;
    else
        imap_session_close(s, NULL);
}

/* The selected mailbox was deleted by another session (storage answers
 * NOTFOUND for every operation on the handle and never touches another
 * mailbox). RFC 9051 has no way to tell a client that its selected
 * mailbox is gone; like other servers we say so in an untagged BYE and
 * disconnect: the client reconnects and sees the current mailbox list,
 * and no stale MSN can ever be applied to other data. */
static void view_gone(struct imap_session *s)
{
    struct imap_view *v = s->view;
    v->gone = true;
    log_info("imap: selected mailbox deleted, disconnecting: user=%s addr=%s", s->user ? s->user : "-",
             s->peer);
    view_bye(s, "BYE [NONEXISTENT] Selected mailbox was deleted, have to disconnect");
}

bool imap_view_check_gone(struct imap_session *s)
{
    struct imap_view *v = s->view;
    if (!v)
        return false;
    if (!v->gone && mailbox_is_deleted(v->mb))
        view_gone(s);
    return v->gone;
}

bool imap_view_gone_err(struct imap_session *s, int err)
{
    return err == STORAGE_ERR_NOTFOUND && imap_view_check_gone(s);
}

/* ---- rights changing while selected (issue 9) ------------------------------ */

/* The rights that make a selection read-write (imap-cmd-mailbox.c
 * SELECT_WRITE_RIGHTS): without any of them it is READ-ONLY. */
#define VIEW_WRITE_RIGHTS (ACL_SEEN | ACL_WRITE | ACL_DELETEMSG | ACL_EXPUNGE | ACL_INSERT)

/* "r" was taken away. RFC 4314 4 lets a server that checks rights per
 * command either send BYE or refuse every selected-state command until
 * the mailbox is closed, and warns that clients cope badly with the
 * latter. IMAP4rev2 has a clean third way: an unsolicited "OK [CLOSED]"
 * moves the session to the authenticated state (RFC 9051 3, transition
 * (6)); later selected-state commands get BAD like any command in the
 * wrong state. IMAP4rev1 (RFC 3501), even with CONDSTORE/QRESYNC whose
 * CLOSED code (RFC 7162 3.2.11) only ever accompanies a new SELECT, has
 * no such transition: a client there would go on sending FETCH and STORE
 * for a mailbox it believes selected, so it gets BYE, as for a selected
 * mailbox that was deleted (view_gone). Either way nothing more of the
 * mailbox is sent, and the view (and its store reference) is dropped. */
static void view_revoked(struct imap_session *s)
{
    log_info("imap: read access to the selected mailbox revoked, closing it: user=%s addr=%s mailbox=%s",
             s->user ? s->user : "-", s->peer, mailbox_get_info(s->view->mb)->name);
    imap_view_free(s->view);
    s->view = NULL;
    s->state = IMAP_AUTH;
    if (s->enabled & EN_IMAP4REV2) {
        imap_untagged(s, "OK [CLOSED] Access to the selected mailbox was revoked");
        return;
    }
    view_bye(s, "BYE [NOPERM] Access to the selected mailbox was revoked, have to disconnect");
}

bool imap_view_recheck_rights(struct imap_session *s)
{
    struct imap_view *v = s->view;
    if (!v || s->closed || v->gone)
        return v && !v->gone;
    /* The owner holds every right whatever the ACL says (acl_evaluate),
     * and a view without a store reference is the own store too. */
    if (!v->store || imap_is_own_store(s, v->store))
        return true;
    char *acl = xmalloc(STORAGE_MAX_ACL + 1);
    int err = mailbox_get_acl_open(v->mb, acl);
    if (err < 0) {
        free(acl);
        if (err == STORAGE_ERR_NOTFOUND)
            return !imap_view_check_gone(s);
        /* busy or I/O: keep the rights as they were; checked again before
         * the next command */
        log_warn("imap: cannot re-read the ACL of the selected mailbox for %s: %s", s->user ? s->user : "-",
                 storage_strerror(err));
        return true;
    }
    acl_rights_t r = acl_evaluate(acl, &s->who, mail_user_name(v->store));
    free(acl);
    acl_rights_t old = v->rights;
    if (r == old)
        return true;
    v->rights = r;
    char was[32], now[32];
    acl_format_rights(old, was);
    acl_format_rights(r, now);
    log_info("imap: rights on the selected mailbox changed: user=%s addr=%s mailbox=%s rights=%s -> %s",
             s->user ? s->user : "-", s->peer, mailbox_get_info(v->mb)->name, was, now);
    if (!(r & ACL_READ)) {
        view_revoked(s);
        return false;
    }
    if (v->readonly)
        return true; /* EXAMINE, or selected without write rights: nothing to announce */
    /* RFC 9051 7.1: READ-ONLY / READ-WRITE also say that "its access while
     * selected has changed". The handle stays read-write: regaining a
     * right makes it usable again without a new SELECT. */
    bool was_rw = (old & VIEW_WRITE_RIGHTS) != 0, now_rw = (r & VIEW_WRITE_RIGHTS) != 0;
    if (was_rw != now_rw)
        imap_untagged(s, "OK [%s] Access rights changed", now_rw ? "READ-WRITE" : "READ-ONLY");
    /* RFC 4314 4: a server checking rights per command SHOULD send
     * PERMANENTFLAGS when they change (s: \Seen, t: \Deleted, w: the
     * rest and keywords). FLAGS (the defined flags) do not depend on
     * rights. */
    if (imap_rights_flag_mask(old) != imap_rights_flag_mask(r) || ((old ^ r) & ACL_WRITE))
        imap_view_write_permanentflags(s);
    return true;
}

void imap_sync(struct imap_session *s, bool allow_expunge)
{
    struct imap_view *v = s->view;
    if (!v || s->closed || v->gone)
        return;
    struct sync_ctx c = {0};
    c.v = v;
    c.last_uid = v->count ? v->uids[v->count - 1] : 0;
    int err = mailbox_sync(v->mb, v->modseq, sync_changed, &c, sync_expunged, &c);
    if (err == STORAGE_ERR_NOTFOUND) {
        view_gone(s);
        goto out;
    }
    if (err < 0) {
        log_warn("imap: sync of mailbox failed for %s: %s", s->user ? s->user : "-", storage_strerror(err));
        goto out;
    }
    /* 1. expunges (including those held back earlier) */
    for (size_t i = 0; i < v->npexp; i++) {
        ARRAY_GROW(c.exp, c.nexp, c.cexp);
        c.exp[c.nexp++] = v->pexp[i];
    }
    v->npexp = 0;
    c.nexp = sort_unique(c.exp, c.nexp);
    if (allow_expunge) {
        imap_view_flush_vanished(s);
        if (c.nexp)
            report_expunges(s, c.exp, c.nexp);
    } else if (c.nexp) {
        if (c.nexp > v->cpexp) {
            v->cpexp = c.nexp;
            v->pexp = xrealloc(v->pexp, v->cpexp * sizeof(uint32_t));
        }
        memcpy(v->pexp, c.exp, c.nexp * sizeof(uint32_t));
        v->npexp = c.nexp;
    }

    /* 2. new messages */
    c.nnew = sort_unique(c.newu, c.nnew);
    if (c.nnew) {
        if (v->count + c.nnew > v->cap) {
            v->cap = (uint32_t)(v->count + c.nnew + v->count / 4 + 16);
            v->uids = xrealloc(v->uids, (size_t)v->cap * sizeof(uint32_t));
        }
        memcpy(v->uids + v->count, c.newu, c.nnew * sizeof(uint32_t));
        v->count += (uint32_t)c.nnew;
        int cerr = view_claim_recent(s);
        if (cerr == STORAGE_ERR_NOTFOUND) {
            view_gone(s);
            goto out;
        }
        /* BUSY: another connection is writing; the loop does not wait
         * and the next sync claims them (sq_claim_recent) */
        if (cerr == STORAGE_ERR_BUSY)
            log_debug("imap: \\Recent claim deferred (store busy) for %s", s->user ? s->user : "-");
        else if (cerr < 0)
            log_warn("imap: claiming \\Recent failed for %s: %s", s->user ? s->user : "-",
                     storage_strerror(cerr));
        imap_untagged(s, "%u EXISTS", v->count);
        if (!(s->enabled & EN_IMAP4REV2)) {
            view_recount_recent(v);
            imap_untagged(s, "%u RECENT", v->recent_count);
        }
        /* NOTIFY MessageNew attributes follow EXISTS (RFC 5465 5.2) */
        if (s->notify)
            imap_notify_new_messages(s, c.newu, c.nnew);
    }
    const struct mailbox_info *info = mailbox_get_info(v->mb);
    if (info->uidnext > v->uidnext)
        v->uidnext = info->uidnext;

    /* 3. new keywords -> FLAGS first, so FETCH never shows an unknown flag */
    bool newkw = false;
    for (size_t i = 0; i < c.nch && !newkw; i++)
        if (!keywords_all_known(v->keywords ? v->keywords : "", c.ch[i].keywords))
            newkw = true;
    if (newkw) {
        char *kw = NULL;
        if (mailbox_get_keywords(v->mb, &kw) >= 0 && kw) {
            free(v->keywords);
            v->keywords = kw;
        }
        imap_view_write_flags(s);
    }

    /* 4. flag changes */
    bool condstore = v->condstore || (s->enabled & (EN_CONDSTORE | EN_QRESYNC));
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < c.nch; i++) {
        struct changed_rec *r = &c.ch[i];
        uint32_t msn = imap_view_msn(v, r->uid);
        if (!msn)
            continue;
        if (s->enabled & EN_UIDONLY)
            buf_printf(&b, "* %u UIDFETCH (FLAGS ", r->uid);    /* RFC 9586 3.6 */
        else
            buf_printf(&b, "* %u FETCH (UID %u FLAGS ", msn, r->uid);
        imap_write_flag_list(&b, r->flags, r->keywords, imap_view_recent(v, r->uid));
        v->flag_reports++;
        if (condstore)
            buf_printf(&b, " MODSEQ (%llu)", (unsigned long long)r->modseq);
        buf_puts(&b, ")\r\n");
        if (b.len > 16384) {
            imap_write(s, b.data, b.len);
            buf_reset(&b);
        }
    }
    imap_write(s, b.data, b.len);
    buf_free(&b);
    /* 5. RFC 5267 4.3.2: ADDTO/REMOVEFROM once EXISTS and FETCH are out */
    update_ctx_apply(s, &c.ub);
    if (info->highestmodseq > v->modseq)
        v->modseq = info->highestmodseq;
    v->nown = 0;
    v->pending = false;
    /* With nothing held back, the client now knows of every expunge up to
     * v->modseq: messages kept for it may go (storage.h). */
    if (v->npexp == 0)
        told_expunges(v, v->modseq);
out:
    for (size_t i = 0; i < c.nch; i++)
        free(c.ch[i].keywords);
    free(c.ch);
    free(c.exp);
    free(c.newu);
    update_batch_free(&c.ub);
}

/* RFC 7162 3.1: CONDSTORE is enabled for the rest of the session by the
 * first CONDSTORE-enabling command; "A first CONDSTORE enabling command
 * executed in the session with a mailbox selected MUST cause the server
 * to return HIGHESTMODSEQ (Section 3.1.2.1) for the mailbox" (example 5
 * of 3.1.3 shows it as an untagged OK before the command's other output).
 * The value is the highest modseq this session has reported: a client
 * that resynchronizes from it cannot miss a change not yet reported. */
void imap_enable_condstore(struct imap_session *s)
{
    s->enabled |= EN_CONDSTORE;
    struct imap_view *v = s->view;
    if (v && !v->condstore) {
        v->condstore = true;
        imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest", (unsigned long long)v->modseq);
    }
}

void imap_view_set_recent_floor(struct imap_view *v, uint32_t floor)
{
    v->recent_floor = floor;
    /* read-write: SELECT claimed up to its UIDNEXT-1; later arrivals are
     * claimed by imap_sync. Read-only (EXAMINE) never claims: everything
     * above the watermark looks recent to it (RFC 3501 2.3.2). */
    v->recent_hi = v->readonly ? UINT32_MAX : MAX(floor, v->uidnext ? v->uidnext - 1 : 0);
    if (floor == UINT32_MAX)
        v->nclaimed = 0;
    view_recount_recent(v);
}

void imap_view_announce_keywords(struct imap_session *s, const char *keywords)
{
    struct imap_view *v = s->view;
    if (!v || !keywords || !*keywords)
        return;
    if (keywords_all_known(v->keywords ? v->keywords : "", keywords))
        return;
    char *kw = NULL;
    if (mailbox_get_keywords(v->mb, &kw) < 0 || !kw)
        return;
    free(v->keywords);
    v->keywords = kw;
    imap_view_write_flags(s);
}

void imap_view_expunged_many(struct imap_session *s, const uint32_t *uids, size_t n)
{
    struct imap_view *v = s->view;
    if (!v || n == 0)
        return;
    uint32_t *present = xmalloc(n * sizeof(uint32_t));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (imap_view_msn(v, uids[i]))
            present[k++] = uids[i];
    k = sort_unique(present, k);
    /* Drop them from the held-back expunges in one merge pass (both
     * sorted), not one memmove per UID. */
    if (v->npexp && k) {
        size_t w = 0, j = 0;
        for (size_t i = 0; i < v->npexp; i++) {
            while (j < k && present[j] < v->pexp[i])
                j++;
            if (j < k && present[j] == v->pexp[i])
                continue;
            v->pexp[w++] = v->pexp[i];
        }
        v->npexp = w;
    }
    if (k) {
        imap_view_flush_vanished(s);
        report_expunges(s, present, k);
    }
    free(present);
}
