/* imap-cmd-store.c - commands that change messages of the selected mailbox
 * or leave it: STORE (RFC 9051 6.4.6, RFC 7162 UNCHANGEDSINCE), COPY and
 * MOVE (RFC 9051 6.4.7, RFC 6851, RFC 4315 COPYUID), EXPUNGE and UID
 * EXPUNGE (RFC 4315), CLOSE, UNSELECT, CHECK.
 *
 * The storage write of STORE, EXPUNGE, CLOSE's expunge, COPY and MOVE
 * runs as a job on the pool (imap_cmd_job, jobs.h), keyed by the store it
 * writes, so its transaction and fsyncs never hold up the event loop.
 * The handler parses, checks rights and syncs the view on the loop, as
 * before; the job gets the selected mailbox's handle and copies of
 * everything else and touches nothing of the session (the view belongs
 * to the loop); its finish step, back on the loop, updates the view and
 * writes the untagged responses and the tagged reply exactly as the
 * inline code did. A session runs one command at a time and is parked
 * while its job runs, so no sync can come between the write and the
 * finish: the view's own-modseq bookkeeping (imap-sync.c) gets the same
 * values in the same order.
 */
#include "imap-fetch.h"
#include "log.h"

#include <strings.h>

/* ---- shared helpers ----------------------------------------------------- */

const char *imap_storage_code(int err)
{
    switch (err) {
    case STORAGE_ERR_NOTFOUND:
        return "NONEXISTENT";
    case STORAGE_ERR_EXISTS:
        return "ALREADYEXISTS";
    case STORAGE_ERR_INVALID:
        return "CANNOT";
    case STORAGE_ERR_BUSY:
        return "INUSE";
    case STORAGE_ERR_NOPERM:
        return "NOPERM";
    case STORAGE_ERR_LIMIT:
        return "LIMIT";
    case STORAGE_ERR_OVERQUOTA:
        return "OVERQUOTA";
    case STORAGE_ERR_EXPUNGED:
        return "EXPUNGEISSUED";
    default:
        return "SERVERBUG";
    }
}

static const struct {
    const char *name;
    uint32_t flag;
} sys_flags[] = {
    {"\\Seen", MSG_SEEN},       {"\\Answered", MSG_ANSWERED}, {"\\Flagged", MSG_FLAGGED},
    {"\\Deleted", MSG_DELETED}, {"\\Draft", MSG_DRAFT},
};

#define MAX_FLAGS_PER_CMD 256

static bool keyword_listed(const struct buf *kw, const char *k)
{
    size_t kl = strlen(k);
    const char *p = buf_cstr(kw);
    while (*p) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == kl && strncasecmp(p, k, kl) == 0)
            return true;
        p += l;
        while (*p == ' ')
            p++;
    }
    return false;
}

bool imap_parse_flags(struct imap_parser *ps, struct imap_cmd *cmd, bool list_only, uint32_t *flags,
                      struct buf *keywords, const char **err)
{
    *flags = 0;
    bool paren = imap_p_char(ps, '(');
    if (!paren && list_only) {
        *err = "Flag list expected";
        return false;
    }
    if (paren && imap_p_char(ps, ')'))
        return true;
    for (size_t count = 0;; count++) {
        char *f;
        if (count >= MAX_FLAGS_PER_CMD) {
            *err = "Too many flags";
            return false;
        }
        if (!imap_p_flag(ps, cmd, &f)) {
            *err = "Invalid flag";
            return false;
        }
        if (f[0] == '\\') {
            uint32_t bit = 0;
            for (size_t i = 0; i < ARRAY_SIZE(sys_flags); i++)
                if (strcasecmp(f, sys_flags[i].name) == 0)
                    bit = sys_flags[i].flag;
            if (!bit) {
                *err = strcasecmp(f, "\\Recent") == 0 ? "\\Recent cannot be set" : "Unknown system flag";
                return false;
            }
            *flags |= bit;
        } else {
            if (strlen(f) > STORAGE_MAX_KEYWORD) {
                *err = "Keyword too long";
                return false;
            }
            if (!keyword_listed(keywords, f)) {
                if (keywords->len)
                    buf_putc(keywords, ' ');
                buf_puts(keywords, f);
            }
        }
        if (paren && imap_p_char(ps, ')'))
            return true;
        if (!paren && (imap_p_end(ps) || imap_p_peek(ps, ')')))
            return true;
        if (!imap_p_sp(ps)) {
            *err = paren ? "Expected SP or ')' in flag list" : "Expected SP between flags";
            return false;
        }
    }
}

/* Non-UID sets must name existing messages. */
static bool msn_set_ok(const struct seqset *set, uint32_t count)
{
    if (set->dollar)
        return true;
    for (size_t i = 0; i < set->n; i++) {
        uint32_t lo = set->r[i].lo, hi = set->r[i].hi;
        if (count == 0 || (lo != SEQ_STAR && lo > count) || (hi != SEQ_STAR && hi > count))
            return false;
    }
    return true;
}

static bool need_selected(struct imap_session *s, struct imap_cmd *cmd)
{
    if (s->state != IMAP_SELECTED || !s->view) {
        imap_tagged(s, cmd, "BAD", "No mailbox selected");
        return false;
    }
    return true;
}

/* Parse " sequence-set" and resolve it. NULL set->n after BAD written. */
static bool parse_set(struct imap_session *s, struct imap_cmd *cmd, uint32_t **uids, size_t *n)
{
    struct seqset set = {0};
    *uids = NULL;
    *n = 0;
    if (!imap_p_sp(&cmd->ps) || !imap_p_seqset(&cmd->ps, &set)) {
        seqset_free(&set);
        imap_tagged(s, cmd, "BAD", "Invalid sequence set");
        return false;
    }
    if (!cmd->uid && !msn_set_ok(&set, s->view->count)) {
        seqset_free(&set);
        imap_tagged(s, cmd, "BAD", "Invalid message sequence number");
        return false;
    }
    *uids = imap_view_resolve(s, &set, cmd->uid, n);
    seqset_free(&set);
    if (!*uids)
        *n = 0;
    return true;
}

struct u32vec {
    uint32_t *v;
    size_t n, cap;
};

static void u32_push(struct u32vec *a, uint32_t x)
{
    ARRAY_GROW(a->v, a->n, a->cap);
    a->v[a->n++] = x;
}

static int u32_push_cb(uint32_t uid, void *arg)
{
    u32_push(arg, uid);
    return 0;
}

static bool u32_has(const struct u32vec *a, uint32_t x)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->v[mid] == x)
            return true;
        if (a->v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Modseqs of this session's own change transactions, collected in a job
 * (which must not touch the view) and handed to imap_view_note_own by
 * the finish step. Consecutive duplicates are dropped: one transaction
 * has one modseq (imap-sync.c). */
struct own_list {
    uint64_t *v;
    size_t n, cap;
};

static void own_push(struct own_list *o, uint64_t modseq)
{
    if (o->n && o->v[o->n - 1] == modseq)
        return;
    ARRAY_GROW(o->v, o->n, o->cap);
    o->v[o->n++] = modseq;
}

static void own_apply(struct imap_session *s, struct own_list *o)
{
    if (s->view)
        for (size_t i = 0; i < o->n; i++)
            imap_view_note_own(s->view, 0, o->v[i]);
    free(o->v);
    memset(o, 0, sizeof(*o));
}

/* ---- STORE ---------------------------------------------------------------- */

struct store_changed {
    struct own_list own;
    struct u32vec uids;
};

static int store_changed_cb(const struct msg_record *rec, void *arg)
{
    struct store_changed *c = arg;
    own_push(&c->own, rec->modseq);
    u32_push(&c->uids, rec->uid);
    return 0;
}

/* The output half of STORE: untagged FETCH with the resulting flags, for
 * every message unless .SILENT; with UNCHANGEDSINCE, .SILENT still reports
 * MODSEQ of the changed ones (RFC 7162 3.1.3). Records are read after the
 * store, so they show the committed state. "STORE 1:* FLAGS (...)" on a
 * million messages answers with a million lines: they are produced one
 * record batch at a time and the command suspends (CMD_MORE) while the
 * connection's output is full, so the queue stays bounded. */
struct store_out {
    uint32_t *uids;
    struct u32vec changed, failed;
    struct rec_batch batch;
    size_t bi;                  /* next record of batch to write */
    bool silent, has_unchanged, emit;
};

static void store_out_free(void *p)
{
    struct store_out *so = p;
    free(so->uids);
    free(so->changed.v);
    free(so->failed.v);
    rec_batch_free(&so->batch);
    free(so);
}

static enum cmd_result store_output(struct imap_session *s, struct imap_cmd *cmd)
{
    struct store_out *so = cmd->state;
    struct imap_view *v = s->view;
    if (!v) {
        imap_tagged(s, cmd, "NO", "Mailbox closed");
        return CMD_DONE;
    }
    while (so->emit && s->conn && !s->closed) {
        if (conn_output_full(s->conn)) {
            cmd->resume = store_output;
            return CMD_MORE;
        }
        if (so->bi >= so->batch.n) {
            int r = rec_batch_next(v->mb, &so->batch);
            so->bi = 0;
            if (r < 0 || so->batch.n == 0)
                break;
        }
        /* Lines can be long (many keywords): stop at the high-water mark
         * even in the middle of a batch. */
        struct buf out = BUF_INIT;
        while (so->bi < so->batch.n && !conn_output_full(s->conn)) {
            const struct msg_record *rec = &so->batch.recs[so->bi++];
            bool changed = u32_has(&so->changed, rec->uid);
            if (u32_has(&so->failed, rec->uid))
                continue;
            if (so->silent && !changed)
                continue;
            uint32_t msn = imap_view_msn(v, rec->uid);
            if (!msn)
                continue;
            bool uidonly = (s->enabled & EN_UIDONLY) != 0;
            v->flag_reports++;
            if (uidonly)
                buf_printf(&out, "* %u UIDFETCH (", rec->uid);   /* RFC 9586 3.3 */
            else
                buf_printf(&out, "* %u FETCH (", msn);
            bool sp = false;
            /* RFC 7162 3.2.4 (we advertise QRESYNC): once CONDSTORE is
             * enabled, every untagged FETCH caused by a STORE carries
             * UID and MODSEQ (a UIDFETCH has it in front). */
            if (!uidonly && (cmd->uid || v->condstore)) {
                buf_printf(&out, "UID %u", rec->uid);
                sp = true;
            }
            if (!so->silent) {
                buf_puts(&out, sp ? " FLAGS " : "FLAGS ");
                imap_write_flag_list(&out, rec->flags, rec->keywords, imap_view_recent(v, rec->uid));
                sp = true;
            }
            if (v->condstore)
                buf_printf(&out, "%sMODSEQ (%llu)", sp ? " " : "", (unsigned long long)rec->modseq);
            buf_puts(&out, ")\r\n");
            if (out.len > 16 * 1024) {
                imap_write(s, out.data, out.len);
                buf_reset(&out);
            }
        }
        imap_write(s, out.data, out.len);
        buf_free(&out);
    }

    if (so->failed.n > 0) {
        struct buf set = BUF_INIT;
        if (cmd->uid) {
            seqset_write_uids(&set, so->failed.v, so->failed.n);
        } else {
            uint32_t *msns = xmalloc(so->failed.n * sizeof(uint32_t));
            size_t m = 0;
            for (size_t i = 0; i < so->failed.n; i++) {
                uint32_t msn = imap_view_msn(v, so->failed.v[i]);
                if (msn)
                    msns[m++] = msn;
            }
            seqset_write_uids(&set, msns, m);
            free(msns);
        }
        /* RFC 9738 3.1: the tagged reply has a code already */
        if (*imap_msglimit_code(s))
            imap_untagged(s, "NO %sStore completed for the last %u messages", imap_msglimit_code(s),
                          imap_messagelimit());
        imap_tagged(s, cmd, "OK", "[MODIFIED %s] Conditional STORE failed", buf_cstr(&set));
        buf_free(&set);
    } else if (*imap_msglimit_code(s)) {
        imap_tagged(s, cmd, "OK", "%sStore completed for the last %u messages", imap_msglimit_code(s),
                    imap_messagelimit());
    } else {
        imap_tagged(s, cmd, "OK", "Store completed");
    }
    return CMD_DONE;
}

/* STORE FLAGS (replace) when the rights cover only some flags (RFC 4314
 * 4): the flags outside `mask` (and, without "w", the keywords) keep each
 * message's current value; only the permitted ones are replaced. Storage
 * replaces a whole flag set per request, so the messages are grouped by
 * the part that must be kept and each group gets one REPLACE with its
 * kept flags added back. Every message is stored exactly once, so
 * UNCHANGEDSINCE keeps its meaning. The records were brought up to date
 * by the sync just before; a change another session commits between that
 * read and the store can be overwritten (the same one-transaction window
 * the plain STORE has). */
static int store_partial_replace(struct mailbox *mb, const uint32_t *uids, size_t n, const struct store_req *base,
                                 uint32_t mask, bool kw_ok, struct store_changed *ch, struct u32vec *failed)
{
    struct rec_batch b = {.uids = uids, .nuids = n, .max = 4096};
    bool *done = NULL;
    uint32_t *grp = NULL;
    size_t cap = 0;
    int r = 0;
    while (r == 0) {
        r = rec_batch_next(mb, &b);
        if (r < 0 || b.n == 0)
            break;
        if (b.n > cap) {
            cap = b.n;
            done = xrealloc(done, cap * sizeof(*done));
            grp = xrealloc(grp, cap * sizeof(*grp));
        }
        memset(done, 0, b.n * sizeof(*done));
        for (size_t i = 0; i < b.n && r == 0; i++) {
            if (done[i])
                continue;
            uint32_t keep = b.recs[i].flags & ~mask;
            const char *keep_kw = b.recs[i].keywords;
            size_t m = 0;
            for (size_t j = i; j < b.n; j++) {
                if (done[j] || (b.recs[j].flags & ~mask) != keep ||
                    (!kw_ok && strcmp(b.recs[j].keywords, keep_kw) != 0))
                    continue;
                done[j] = true;
                grp[m++] = b.recs[j].uid;
            }
            struct store_req req = *base;
            req.mode = STORE_REPLACE;
            req.flags = (base->flags & mask) | keep;
            if (!kw_ok)
                req.keywords = keep_kw;
            r = mailbox_store(mb, grp, m, &req, store_changed_cb, ch, u32_push_cb, failed);
        }
    }
    free(done);
    free(grp);
    rec_batch_free(&b);
    return r;
}

/* After the write: announce new keywords, then the untagged FETCH
 * responses and the tagged reply (store_output). Takes uids, changed and
 * failed. */
static enum cmd_result store_reply(struct imap_session *s, struct imap_cmd *cmd, uint32_t *uids, size_t n,
                                   struct u32vec *changed, struct u32vec *failed, const char *kw,
                                   enum store_mode mode, bool silent, bool has_unchanged)
{
    if (changed->n > 1)
        qsort(changed->v, changed->n, sizeof(uint32_t), cmp_u32);
    if (failed->n > 1)
        qsort(failed->v, failed->n, sizeof(uint32_t), cmp_u32);
    /* New keywords are announced (FLAGS) before any FETCH shows them. */
    if (kw && *kw && mode != STORE_REMOVE && changed->n > 0)
        imap_view_announce_keywords(s, kw);
    /* The untagged FETCH responses and the tagged reply are written by
     * store_output, which can suspend when the client does not read. */
    struct store_out *so = xcalloc(1, sizeof(*so));
    so->uids = uids;
    so->changed = *changed;
    so->failed = *failed;
    so->silent = silent;
    so->has_unchanged = has_unchanged;
    so->batch.uids = uids;
    so->batch.nuids = n;
    so->batch.max = 4096;
    so->emit = n > 0 && (!silent || (has_unchanged && so->changed.n > 0));
    memset(changed, 0, sizeof(*changed));
    memset(failed, 0, sizeof(*failed));
    cmd->state = so;
    cmd->state_free = store_out_free;
    return store_output(s, cmd);
}

/* STORE's write as a job (key: the mailbox's store). */
struct store_job {
    struct mailbox *mb;         /* the view's handle, used only by the job */
    uint32_t *uids;
    size_t n;
    struct store_req req;
    char *keywords;             /* what req.keywords points to (or NULL) */
    bool partial, kw_ok, silent, has_unchanged;
    uint32_t mask;
    int r;                      /* results */
    struct store_changed ch;
    struct u32vec failed;
};

static void store_job_free(struct store_job *j)
{
    free(j->uids);
    free(j->keywords);
    free(j->ch.own.v);
    free(j->ch.uids.v);
    free(j->failed.v);
    free(j);
}

static void store_job_run(struct job *job, void *arg)
{
    (void)job;
    struct store_job *j = arg;
    struct mail_user *u = mailbox_user(j->mb);
    if ((j->r = storage_job_begin(u, NULL)) < 0)
        return;
    j->r = j->partial ? store_partial_replace(j->mb, j->uids, j->n, &j->req, j->mask, j->kw_ok, &j->ch, &j->failed)
                      : mailbox_store(j->mb, j->uids, j->n, &j->req, store_changed_cb, &j->ch, u32_push_cb,
                                      &j->failed);
    storage_job_end(u, NULL);
}

static enum cmd_result store_job_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct store_job *j = arg;
    if (!s) {
        store_job_free(j);
        return CMD_DONE;
    }
    /* Before anything that may sync (a partial failure committed some). */
    own_apply(s, &j->ch.own);
    if (j->r < 0) {
        if (imap_view_gone_err(s, j->r)) {
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox was deleted");
        } else {
            log_err("STORE in %s: %s", s->view ? mailbox_get_info(s->view->mb)->name : "?", storage_strerror(j->r));
            imap_tagged(s, cmd, "NO", "[%s] Store failed", imap_storage_code(j->r));
        }
        store_job_free(j);
        return CMD_DONE;
    }
    uint32_t *uids = j->uids;
    j->uids = NULL;
    enum cmd_result r = store_reply(s, cmd, uids, j->n, &j->ch.uids, &j->failed, j->keywords, j->req.mode,
                                    j->silent, j->has_unchanged);
    store_job_free(j);
    return r;
}

IMAP_CMD(cmd_store)
{
    if (!need_selected(s, cmd))
        return CMD_DONE;
    struct imap_view *v = s->view;
    struct imap_parser *ps = &cmd->ps;
    uint32_t *uids;
    size_t n;
    if (!parse_set(s, cmd, &uids, &n))
        return CMD_DONE;
    imap_messagelimit_apply(s, uids, &n);   /* RFC 9738: the highest N */

    uint64_t unchangedsince = 0;
    bool has_unchanged = false;
    const char *err = "Invalid STORE arguments";
    struct buf kw = BUF_INIT;
    struct store_changed ch = {{0}, {0}};
    struct u32vec failed = {0};

    if (!imap_p_sp(ps))
        goto bad;
    if (imap_p_char(ps, '(')) {
        /* store-modifiers: only UNCHANGEDSINCE is known (RFC 7162). */
        char *m = imap_p_atom(ps, cmd);
        if (!m || strcasecmp(m, "UNCHANGEDSINCE") != 0 || !imap_p_sp(ps) ||
            !imap_p_number64(ps, &unchangedsince) || !imap_p_char(ps, ')') || !imap_p_sp(ps)) {
            err = "Invalid STORE modifier";
            goto bad;
        }
        has_unchanged = true;
    }
    char *item = imap_p_atom(ps, cmd);
    if (!item) {
        err = "Expected FLAGS, +FLAGS or -FLAGS";
        goto bad;
    }
    enum store_mode mode = STORE_REPLACE;
    const char *name = item;
    if (*name == '+' || *name == '-') {
        mode = *name == '+' ? STORE_ADD : STORE_REMOVE;
        name++;
    }
    bool silent;
    if (strcasecmp(name, "FLAGS") == 0)
        silent = false;
    else if (strcasecmp(name, "FLAGS.SILENT") == 0)
        silent = true;
    else {
        err = "Expected FLAGS, +FLAGS or -FLAGS";
        goto bad;
    }
    uint32_t flags;
    if (!imap_p_sp(ps) || !imap_parse_flags(ps, cmd, false, &flags, &kw, &err))
        goto bad;
    if (!imap_p_end(ps)) {
        err = "Junk after flags";
        goto bad;
    }
    if (v->readonly) {
        imap_tagged(s, cmd, "NO", "[READ-ONLY] Mailbox is read-only");
        goto out;
    }
    /* RFC 4314 4: \Seen needs s, \Deleted t, every other flag and keyword
     * w. The RFC says a STORE SHOULD NOT fail when the user may change at
     * least one of the flags it names (deployed clients handle a NO to
     * STORE badly), so - as Cyrus does - the flags the user may not change
     * are silently left alone and the rest is stored. Only when nothing
     * at all could be changed is the answer NO [NOPERM]: +FLAGS/-FLAGS
     * naming only forbidden flags, or FLAGS (replace, which changes every
     * flag) without any of s, t, w. Forbidden flags are also left out of
     * the keywords announced in FLAGS. */
    acl_rights_t rights = imap_view_rights(v);
    uint32_t mask = imap_rights_flag_mask(rights);
    bool kw_ok = (rights & ACL_WRITE) != 0;
    bool partial = false;
    if (mode == STORE_REPLACE) {
        if (mask == 0) {
            imap_tagged(s, cmd, "NO", "[NOPERM] You may not change flags in this mailbox");
            goto out;
        }
        partial = mask != (MSG_SEEN | MSG_DELETED | MSG_ANSWERED | MSG_FLAGGED | MSG_DRAFT) || !kw_ok;
    } else {
        bool named = flags != 0 || kw.len > 0;
        if (!kw_ok)
            buf_reset(&kw);
        if (named && (flags & mask) == 0 && kw.len == 0) {
            imap_tagged(s, cmd, "NO", "[NOPERM] You may not change these flags in this mailbox");
            goto out;
        }
        flags &= mask;
    }
    if (mode == STORE_REPLACE && !kw_ok)
        buf_reset(&kw);
    if (has_unchanged)
        imap_enable_condstore(s); /* RFC 7162 3.1: enables CONDSTORE */

    /* Bring the view up to date first. Otherwise a change another session
     * made to one of these messages since our last sync would be lost to
     * the client: our STORE gives the message a new modseq, which is our
     * own (view->own) and so is never reported, and with .SILENT nothing
     * shows the other change at all. Expunges are held back for a non-UID
     * STORE (RFC 9051 7.5.1), so the MSNs resolved above stay valid; for
     * UID STORE, UIDs expunged meanwhile simply no longer resolve to an
     * MSN and are skipped. Remaining race: a change committed by another
     * session between this sync and the store's transaction (in the job
     * below: the window is as wide as the job's wait in its queue) is
     * still superseded silently (storage does not tell us the previous
     * modseq of a record it changes). */
    imap_sync(s, cmd->uid);
    if (!s->view || s->view->gone) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox was deleted");
        goto out;
    }

    if (n > 0 && has_unchanged && unchangedsince == 0) {
        /* Every message has a modseq above 0: all fail (RFC 7162 3.1.3). */
        for (size_t i = 0; i < n; i++)
            u32_push(&failed, uids[i]);
    } else if (n > 0) {
        /* The write runs on the pool: "STORE 1:* +FLAGS" on a big
         * mailbox is one long transaction with its fsync. */
        struct store_job *j = xcalloc(1, sizeof(*j));
        j->mb = v->mb;
        j->uids = uids;
        j->n = n;
        j->keywords = kw.len ? xstrdup(buf_cstr(&kw)) : NULL;
        j->req = (struct store_req){
            .mode = mode,
            .flags = flags,
            .keywords = j->keywords ? j->keywords : (mode == STORE_REPLACE ? "" : NULL),
            .unchangedsince = has_unchanged ? unchangedsince : 0,
        };
        j->partial = partial;
        j->mask = mask;
        j->kw_ok = kw_ok;
        j->silent = silent;
        j->has_unchanged = has_unchanged;
        buf_free(&kw);
        imap_progress_start(s, 0);  /* INPROGRESS keepalives (RFC 9585) */
        return imap_cmd_job(s, cmd, "store", mailbox_user(v->mb), store_job_run, store_job_finish, j);
    }
    {
        enum cmd_result r = store_reply(s, cmd, uids, n, &ch.uids, &failed, kw.len ? buf_cstr(&kw) : NULL, mode,
                                        silent, has_unchanged);
        buf_free(&kw);
        return r;
    }
bad:
    imap_tagged(s, cmd, "BAD", "%s", err);
out:
    buf_free(&kw);
    free(ch.own.v);
    free(ch.uids.v);
    free(failed.v);
    free(uids);
    return CMD_DONE;
}

/* ---- COPY / MOVE ---------------------------------------------------------- */

bool imap_resolve_target(struct imap_session *s, struct imap_cmd *cmd, const struct imap_str *name,
                         struct mbox_ref *ref, struct mail_user **store, acl_rights_t *rights)
{
    /* imap_resolve answers a missing or invisible target of APPEND/COPY/
     * MOVE with [TRYCREATE] and a visible one without "i" with [NOPERM]. */
    return imap_resolve(s, cmd, name, ACL_INSERT, true, ref, store, rights);
}

/* imap_open_target without the session (a job): own = the session's own
 * store, reader = its user id. */
static int open_target_as(struct mail_user *store, const char *name, bool own, const char *reader,
                          struct mailbox **out)
{
    /* The owner's handle must not claim \Recent: the new messages are
     * \Recent for the next session that selects the mailbox. */
    if (own)
        return mailbox_open(store, name, false, false, NULL, out);
    return mailbox_open_as(store, name, reader, false, NULL, out);
}

int imap_open_target(struct imap_session *s, struct mail_user *store, const char *name, struct mailbox **out)
{
    return open_target_as(store, name, imap_is_own_store(s, store), s->who.user, out);
}

#define ALL_SYS_FLAGS (MSG_SEEN | MSG_ANSWERED | MSG_FLAGGED | MSG_DELETED | MSG_DRAFT)

/* Add the words of list to set (space-separated, no duplicates). */
static void keywords_union(struct buf *set, const char *list)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p) {
            char k[STORAGE_MAX_KEYWORD + 1];
            size_t l = MIN((size_t)(e - p), sizeof(k) - 1);
            memcpy(k, p, l);
            k[l] = '\0';
            if (!keyword_listed(set, k)) {
                if (set->len)
                    buf_putc(set, ' ');
                buf_puts(set, k);
            }
        }
        p = e;
    }
}

/* After a COPY/MOVE into `name` of `store` has committed: make the new
 * messages' flags what the rights and the \Seen model say (storage copies
 * every flag as the source handle shows it, into the message rows).
 *  - RFC 4314 4: a copied message keeps only the flags the user may set
 *    in the target: \Seen with s, \Deleted with t, the rest with w. COPY
 *    does not fail because of that.
 *  - Per-reader \Seen: in a mailbox of another store without sharedseen,
 *    the rows' \Seen is the owner's state; the copier's \Seen belongs to
 *    the copier (as the reader handle stores it), not to the owner.
 * Done in follow-up transactions in the target (a failure is logged; the
 * copy itself stands and is reported). Runs in COPY's job: own says
 * whether store is the session's own, reader is the session's user id. */
static void fix_copied_flags(struct mail_user *store, bool own, const char *reader, const char *name,
                             const uint32_t *dst, size_t n, acl_rights_t rights)
{
    uint32_t allowed = imap_rights_flag_mask(rights);
    bool kw_ok = (rights & ACL_WRITE) != 0;
    bool other = !own;
    if (n == 0 || (allowed == ALL_SYS_FLAGS && kw_ok && !other))
        return;
    struct mailbox *rb = NULL, *ob = NULL;
    int r = open_target_as(store, name, own, reader, &rb);
    bool reader_seen = r == 0 && other && !mailbox_get_info(rb)->sharedseen;
    if (r == 0 && reader_seen)
        r = mailbox_open(store, name, false, false, NULL, &ob);   /* the rows as stored */
    if (r < 0) {
        log_warn("COPY: cannot open %s/%s to fix flags: %s", mail_user_name(store), name, storage_strerror(r));
        if (rb)
            mailbox_close(rb);
        return;
    }
    struct mailbox *rows = reader_seen ? ob : rb;
    if (!reader_seen && allowed == ALL_SYS_FLAGS && kw_ok) {
        mailbox_close(rb);
        return;
    }
    uint32_t *sorted = xmalloc(n * sizeof(uint32_t));
    memcpy(sorted, dst, n * sizeof(uint32_t));
    qsort(sorted, n, sizeof(uint32_t), cmp_u32);
    struct rec_batch b = {.uids = sorted, .nuids = n, .max = 4096};
    uint32_t drop = reader_seen ? MSG_SEEN : 0;
    struct buf kw = BUF_INIT;
    struct u32vec seen = {0};
    while ((r = rec_batch_next(rows, &b)) == 0 && b.n > 0) {
        for (size_t i = 0; i < b.n; i++) {
            drop |= b.recs[i].flags & ~allowed;
            if (!kw_ok && kw.len < 64 * 1024)
                keywords_union(&kw, b.recs[i].keywords);
            if (reader_seen && (b.recs[i].flags & MSG_SEEN) && (allowed & MSG_SEEN))
                u32_push(&seen, b.recs[i].uid);
        }
    }
    if (r == 0 && (drop || kw.len)) {
        struct store_req req = {.mode = STORE_REMOVE, .flags = drop, .keywords = kw.len ? buf_cstr(&kw) : NULL};
        r = mailbox_store(rows, sorted, n, &req, NULL, NULL, NULL, NULL);
    }
    if (r == 0 && seen.n > 0) {
        struct store_req req = {.mode = STORE_ADD, .flags = MSG_SEEN};
        r = mailbox_store(rb, seen.v, seen.n, &req, NULL, NULL, NULL, NULL);
    }
    if (r < 0)
        log_warn("COPY: fixing flags in %s/%s failed: %s", mail_user_name(store), name, storage_strerror(r));
    rec_batch_free(&b);
    buf_free(&kw);
    free(seen.v);
    free(sorted);
    if (ob)
        mailbox_close(ob);
    mailbox_close(rb);
}

struct copy_job {
    struct mailbox *mb;         /* the view's handle (source), used only by the job */
    struct mail_user *sstore;   /* its store (the view's reference) */
    struct mail_user *dstore;   /* the target's store: a reference of the job's */
    bool same;                  /* one store: mailbox_copy */
    bool own;                   /* dstore is the session's own store */
    char reader[AUTH_MAX_USERNAME + 1];
    char *dname;                /* target mailbox inside dstore */
    acl_rights_t drights;
    uint32_t *uids;
    size_t n;
    bool move;
    int r;                      /* results */
    uint32_t uidvalidity;
    uint32_t *src, *dst;
    size_t ncopied;
    struct u32vec expunged;
};

static void copy_job_free(struct copy_job *j)
{
    mail_user_close(j->dstore);  /* on the loop: finish calls this */
    free(j->dname);
    free(j->uids);
    free(j->src);
    free(j->dst);
    free(j->expunged.v);
    free(j);
}

static void copy_job_run(struct job *job, void *arg)
{
    (void)job;
    struct copy_job *j = arg;
    if ((j->r = storage_job_begin(j->sstore, j->dstore)) < 0)
        return;
    if (j->same)
        j->r = mailbox_copy(j->mb, j->uids, j->n, j->dname, j->move, &j->uidvalidity, j->src, j->dst, &j->ncopied,
                            j->move ? u32_push_cb : NULL, &j->expunged);
    else
        j->r = mailbox_copy_to(j->mb, j->uids, j->n, j->dstore, j->dname, j->move, &j->uidvalidity, j->src, j->dst,
                               &j->ncopied, j->move ? u32_push_cb : NULL, &j->expunged);
    if (j->r == 0)
        fix_copied_flags(j->dstore, j->own, j->reader, j->dname, j->dst, j->ncopied, j->drights);
    storage_job_end(j->sstore, j->dstore);
}

static enum cmd_result copy_job_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct copy_job *j = arg;
    if (!s) {
        copy_job_free(j);
        return CMD_DONE;
    }
    int r = j->r;
    bool move = j->move;
    if (r < 0) {
        if (imap_view_gone_err(s, r))
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] Selected mailbox was deleted");
        else if (r == STORAGE_ERR_NOTFOUND)
            imap_tagged(s, cmd, "NO", "[TRYCREATE] Mailbox does not exist");
        else if (r == STORAGE_ERR_EXPUNGED)
            imap_tagged(s, cmd, "NO", "[EXPUNGEISSUED] Some messages were expunged");
        else {
            if (r == STORAGE_ERR_IO)
                log_err("%s to %s/%s: %s", cmd->name, mail_user_name(j->dstore), j->dname, storage_strerror(r));
            imap_tagged(s, cmd, "NO", "[%s] %s failed: %s", imap_storage_code(r), move ? "Move" : "Copy",
                        storage_strerror(r));
        }
        copy_job_free(j);
        return CMD_DONE;
    }
    struct buf code = BUF_INIT;
    if (j->ncopied > 0) {
        buf_printf(&code, "[COPYUID %u ", j->uidvalidity);
        seqset_write_uids(&code, j->src, j->ncopied);
        buf_putc(&code, ' ');
        seqset_write_uids(&code, j->dst, j->ncopied);
        buf_puts(&code, "] ");
    }
    if (move) {
        /* RFC 6851 3.3: COPYUID in an untagged OK, then the expunges, then
         * the tagged OK. */
        if (code.len)
            imap_untagged(s, "OK %sMoved", buf_cstr(&code));
        imap_view_expunged_many(s, j->expunged.v, j->expunged.n);
        if (*imap_msglimit_code(s))
            imap_tagged(s, cmd, "OK", "%sMove completed for the last %u messages", imap_msglimit_code(s),
                        imap_messagelimit());
        else
            imap_tagged(s, cmd, "OK", "Move completed");
    } else {
        imap_tagged(s, cmd, "OK", "%sCopy completed", buf_cstr(&code));
    }
    buf_free(&code);
    copy_job_free(j);
    return CMD_DONE;
}

static enum cmd_result copy_or_move(struct imap_session *s, struct imap_cmd *cmd, bool move)
{
    if (!need_selected(s, cmd))
        return CMD_DONE;
    struct imap_view *v = s->view;
    uint32_t *uids;
    size_t n;
    if (!parse_set(s, cmd, &uids, &n))
        return CMD_DONE;
    struct imap_str mbox;
    if (!imap_p_sp(&cmd->ps) || !imap_p_astring(&cmd->ps, cmd, &mbox) || mbox.file || !imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Expected: %s sequence-set mailbox", move ? "MOVE" : "COPY");
        free(uids);
        return CMD_DONE;
    }
    if (move && v->readonly) {
        imap_tagged(s, cmd, "NO", "[READ-ONLY] Mailbox is read-only");
        free(uids);
        return CMD_DONE;
    }
    /* RFC 6851 4.2: MOVE needs the rights of UID STORE \Deleted ("t"),
     * UID COPY ("i" on the target) and UID EXPUNGE ("e") - checked before
     * anything is copied, so a refused MOVE moves nothing. */
    if (move && (imap_view_rights(v) & (ACL_DELETEMSG | ACL_EXPUNGE)) != (ACL_DELETEMSG | ACL_EXPUNGE)) {
        imap_tagged(s, cmd, "NO", "[NOPERM] You may not move messages out of this mailbox");
        free(uids);
        return CMD_DONE;
    }
    struct mbox_ref ref;
    struct mail_user *dstore = NULL;
    acl_rights_t drights = 0;
    if (!imap_resolve_target(s, cmd, &mbox, &ref, &dstore, &drights)) {
        free(uids);
        return CMD_DONE;
    }
    /* RFC 9738 3.1: COPY is atomic, so more than the limit copies
     * nothing (NO); MOVE moves the highest N and says so in its OK. */
    if (imap_messagelimit_apply(s, uids, &n) && !move) {
        imap_tagged(s, cmd, "NO", "%sToo many messages to copy, try a smaller subset", imap_msglimit_code(s));
        mail_user_close(dstore);
        free(uids);
        return CMD_DONE;
    }
    if (n == 0) {
        /* Nothing matched (UID set of vanished messages); the target was
         * still checked so the client learns about TRYCREATE. */
        imap_tagged(s, cmd, "OK", "No messages %s", move ? "moved" : "copied");
        mail_user_close(dstore);
        free(uids);
        return CMD_DONE;
    }
    /* The copy (and a move's expunge) runs on the pool, holding both
     * stores' job connections (storage_job_begin locks them in a fixed
     * order); key: the destination store. */
    struct copy_job *j = xcalloc(1, sizeof(*j));
    j->mb = v->mb;
    j->sstore = imap_view_store(v);
    j->dstore = dstore;
    j->same = strcmp(mail_user_name(j->sstore), mail_user_name(dstore)) == 0;
    j->own = imap_is_own_store(s, dstore);
    snprintf(j->reader, sizeof(j->reader), "%s", s->who.user);
    j->dname = xstrdup(ref.name);
    j->drights = drights;
    j->uids = uids;
    j->n = n;
    j->move = move;
    j->src = xmalloc(n * sizeof(uint32_t));
    j->dst = xmalloc(n * sizeof(uint32_t));
    imap_progress_start(s, 0);      /* INPROGRESS keepalives (RFC 9585) */
    return imap_cmd_job(s, cmd, move ? "move" : "copy", dstore, copy_job_run, copy_job_finish, j);
}

IMAP_CMD(cmd_copy)
{
    return copy_or_move(s, cmd, false);
}

IMAP_CMD(cmd_move)
{
    return copy_or_move(s, cmd, true);
}

/* ---- EXPUNGE / UID EXPUNGE ------------------------------------------------ */

/* The expunge transaction as a job (key: the mailbox's store); also
 * CLOSE's silent expunge. */
struct expunge_job {
    struct mailbox *mb;         /* the view's handle, used only by the job */
    uint32_t *uids;             /* UID EXPUNGE's set, NULL: every \Deleted message */
    size_t n;
    bool report;                /* collect the expunged UIDs (not for CLOSE) */
    uint32_t limit;             /* RFC 9738 MESSAGELIMIT for UID EXPUNGE, 0: none */
    uint32_t limit_uid;         /* results: the lowest UID expunged when limited */
    int r;
    struct u32vec gone;
};

/* RFC 9738 3.1: UID EXPUNGE removes at most `limit` \Deleted messages
 * of its set, those with the highest UIDs; j->uids becomes them. (Only
 * called when the set is larger than the limit.) */
static int expunge_apply_limit(struct expunge_job *j)
{
    uint32_t *del = xmalloc(j->n * sizeof(uint32_t));
    size_t k = 0;
    struct rec_batch b = {.uids = j->uids, .nuids = j->n, .max = 4096};
    int r;
    while ((r = rec_batch_next(j->mb, &b)) >= 0 && b.n > 0)
        for (size_t i = 0; i < b.n; i++)
            if (b.recs[i].flags & MSG_DELETED)
                del[k++] = b.recs[i].uid;
    rec_batch_free(&b);
    if (r < 0) {
        free(del);
        return r;
    }
    if (k > j->limit) {
        memmove(del, del + (k - j->limit), j->limit * sizeof(uint32_t));
        k = j->limit;
        j->limit_uid = del[0];
    }
    free(j->uids);
    j->uids = del;
    j->n = k;
    return 0;
}

static void expunge_job_free(struct expunge_job *j)
{
    free(j->uids);
    free(j->gone.v);
    free(j);
}

static void expunge_job_run(struct job *job, void *arg)
{
    (void)job;
    struct expunge_job *j = arg;
    struct mail_user *u = mailbox_user(j->mb);
    if ((j->r = storage_job_begin(u, NULL)) < 0)
        return;
    if (j->uids && j->limit && j->n > j->limit && (j->r = expunge_apply_limit(j)) < 0) {
        storage_job_end(u, NULL);
        return;
    }
    if (j->uids && j->n == 0)
        j->r = 0;   /* none of the set is \Deleted */
    else
        j->r = mailbox_expunge(j->mb, j->uids, j->n, j->report ? u32_push_cb : NULL, &j->gone);
    storage_job_end(u, NULL);
}

static enum cmd_result expunge_job_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct expunge_job *j = arg;
    if (!s) {
        expunge_job_free(j);
        return CMD_DONE;
    }
    int r = j->r;
    if (imap_view_gone_err(s, r)) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox was deleted");
    } else if (r < 0) {
        log_err("EXPUNGE in %s: %s", s->view ? mailbox_get_info(s->view->mb)->name : "?", storage_strerror(r));
        imap_tagged(s, cmd, "NO", "[%s] Expunge failed", imap_storage_code(r));
    } else {
        imap_view_expunged_many(s, j->gone.v, j->gone.n);
        if (j->limit_uid)
            imap_tagged(s, cmd, "OK", "[MESSAGELIMIT %u %u] UID EXPUNGE completed for the last %u messages",
                        j->limit, j->limit_uid, j->limit);
        else
            imap_tagged(s, cmd, "OK", "Expunge completed");
    }
    expunge_job_free(j);
    return CMD_DONE;
}

IMAP_CMD(cmd_expunge)
{
    if (!need_selected(s, cmd))
        return CMD_DONE;
    struct imap_view *v = s->view;
    uint32_t *uids = NULL;
    size_t n = 0;
    if (cmd->uid) {
        if (!parse_set(s, cmd, &uids, &n))
            return CMD_DONE;
    }
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Junk after EXPUNGE");
        free(uids);
        return CMD_DONE;
    }
    if (v->readonly) {
        imap_tagged(s, cmd, "NO", "[READ-ONLY] Mailbox is read-only");
        free(uids);
        return CMD_DONE;
    }
    /* RFC 4314 4: EXPUNGE and UID EXPUNGE need "e". */
    if (!(imap_view_rights(v) & ACL_EXPUNGE)) {
        imap_tagged(s, cmd, "NO", "[NOPERM] You may not expunge messages in this mailbox");
        free(uids);
        return CMD_DONE;
    }
    if (cmd->uid && n == 0) {
        /* nothing named exists: nothing to write */
        imap_tagged(s, cmd, "OK", "Expunge completed");
        free(uids);
        return CMD_DONE;
    }
    struct expunge_job *j = xcalloc(1, sizeof(*j));
    j->mb = v->mb;
    j->uids = cmd->uid ? uids : NULL;
    j->n = n;
    j->report = true;
    /* EXPUNGE (and CLOSE) MUST NOT be limited (RFC 9738 3.1) */
    j->limit = cmd->uid ? imap_messagelimit() : 0;
    if (!cmd->uid)
        free(uids);
    imap_progress_start(s, 0);      /* INPROGRESS keepalives (RFC 9585) */
    return imap_cmd_job(s, cmd, "expunge", mailbox_user(v->mb), expunge_job_run, expunge_job_finish, j);
}

/* ---- CLOSE / UNSELECT / CHECK --------------------------------------------- */

static void leave_selected(struct imap_session *s)
{
    imap_view_free(s->view);    /* closes the mailbox */
    s->view = NULL;
    s->state = IMAP_AUTH;
}

static enum cmd_result close_job_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct expunge_job *j = arg;
    if (s) {
        if (j->r < 0)
            log_warn("CLOSE: expunge in %s failed: %s", s->view ? mailbox_get_info(s->view->mb)->name : "?",
                     storage_strerror(j->r));
        if (s->view)
            leave_selected(s);
        imap_tagged(s, cmd, "OK", "Close completed");
    }
    expunge_job_free(j);
    return CMD_DONE;
}

IMAP_CMD(cmd_close)
{
    if (!need_selected(s, cmd))
        return CMD_DONE;
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "CLOSE takes no arguments");
        return CMD_DONE;
    }
    /* RFC 9051 6.4.1: silently expunge when read-write; no EXPUNGE
     * responses. A failure here is not reported: CLOSE still closes.
     * RFC 4314 4: without "e" the expunge is skipped and CLOSE still
     * answers OK. The expunge runs on the pool (the same job as
     * EXPUNGE's); the view is left when it is done. */
    if (!s->view->readonly && (imap_view_rights(s->view) & ACL_EXPUNGE)) {
        struct expunge_job *j = xcalloc(1, sizeof(*j));
        j->mb = s->view->mb;
        return imap_cmd_job(s, cmd, "expunge", mailbox_user(s->view->mb), expunge_job_run, close_job_finish, j);
    }
    leave_selected(s);
    imap_tagged(s, cmd, "OK", "Close completed");
    return CMD_DONE;
}

IMAP_CMD(cmd_unselect)
{
    if (!need_selected(s, cmd))
        return CMD_DONE;
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "UNSELECT takes no arguments");
        return CMD_DONE;
    }
    leave_selected(s);
    imap_tagged(s, cmd, "OK", "Unselect completed");
    return CMD_DONE;
}

IMAP_CMD(cmd_check)
{
    if (!need_selected(s, cmd))
        return CMD_DONE;
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "CHECK takes no arguments");
        return CMD_DONE;
    }
    imap_tagged(s, cmd, "OK", "Check completed");
    return CMD_DONE;
}
