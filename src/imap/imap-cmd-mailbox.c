/* imap-cmd-mailbox.c - SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE
 * UNSUBSCRIBE NAMESPACE STATUS. */
#include "imap.h"
#include "config.h"
#include "log.h"

void imap_reply_storage_error(struct imap_session *s, struct imap_cmd *cmd, int err)
{
    switch (err) {
    case STORAGE_ERR_NOTFOUND:
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox does not exist");
        break;
    case STORAGE_ERR_EXISTS:
        imap_tagged(s, cmd, "NO", "[ALREADYEXISTS] Mailbox already exists");
        break;
    case STORAGE_ERR_INVALID:
        imap_tagged(s, cmd, "NO", "[CANNOT] Invalid mailbox name");
        break;
    case STORAGE_ERR_NOPERM:
        imap_tagged(s, cmd, "NO", "[CANNOT] Operation not permitted");
        break;
    case STORAGE_ERR_HASCHILDREN:
        imap_tagged(s, cmd, "NO", "[HASCHILDREN] Mailbox has children");
        break;
    case STORAGE_ERR_LIMIT:
        imap_tagged(s, cmd, "NO", "[LIMIT] Limit reached");
        break;
    case STORAGE_ERR_OVERQUOTA:
        imap_tagged(s, cmd, "NO", "[OVERQUOTA] Quota exceeded");
        break;
    case STORAGE_ERR_BUSY:
        imap_tagged(s, cmd, "NO", "[INUSE] Mailbox busy, try again later");
        break;
    case STORAGE_ERR_EXPUNGED:
        imap_tagged(s, cmd, "NO", "[EXPUNGEISSUED] Message was expunged");
        break;
    default:
        imap_tagged(s, cmd, "NO", "[SERVERBUG] Internal error: %s", storage_strerror(err));
        break;
    }
}

/* Parse a mailbox argument into out (internal form). On failure a reply
 * has been sent. strip_sep: CREATE ignores one trailing separator (RFC
 * 9051 6.3.4). */
static bool arg_mailbox(struct imap_session *s, struct imap_cmd *cmd, char *out, bool strip_sep,
                        const char *code)
{
    struct imap_parser *ps = &cmd->ps;
    char *name;
    if (!imap_p_sp(ps) || !(name = imap_p_astring_cstr(ps, cmd))) {
        imap_tagged(s, cmd, "BAD", "Invalid mailbox argument: %s", ps->error ? ps->error : "syntax");
        return false;
    }
    size_t len = strlen(name);
    if (strip_sep && len > 1 && name[len - 1] == imap_hier_sep())
        len--;
    const char *why = NULL;
    if (!imap_mailbox_from_client(s, name, len, out, &why)) {
        imap_tagged(s, cmd, "NO", "[%s] %s", code, why ? why : "Invalid mailbox name");
        return false;
    }
    return true;
}

/* SP mailbox as the raw astring, for imap_resolve. */
static bool arg_name(struct imap_session *s, struct imap_cmd *cmd, struct imap_str *out)
{
    struct imap_parser *ps = &cmd->ps;
    if (!imap_p_sp(ps) || !imap_p_astring(ps, cmd, out)) {
        imap_tagged(s, cmd, "BAD", "Invalid mailbox argument: %s", ps->error ? ps->error : "syntax");
        return false;
    }
    return true;
}

static bool expect_end(struct imap_session *s, struct imap_cmd *cmd)
{
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected extra arguments");
        return false;
    }
    return true;
}

/* ---- SELECT / EXAMINE ------------------------------------------------- */

struct qresync_params {
    bool present;
    uint32_t uidvalidity;
    uint64_t modseq;
    struct seqset known;
    bool has_known;
};

static int cmp_range(const void *a, const void *b)
{
    const struct seqrange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort and merge known-uids so membership is a binary search ('*' is
 * the highest UID, i.e. uidnext - 1). */
static void normalize_known(struct seqset *set, uint32_t maxuid)
{
    for (size_t i = 0; i < set->n; i++) {
        uint32_t lo = seq_value(set->r[i].lo, maxuid);
        uint32_t hi = seq_value(set->r[i].hi, maxuid);
        set->r[i].lo = MIN(lo, hi);
        set->r[i].hi = MAX(lo, hi);
    }
    if (set->n > 1)
        qsort(set->r, set->n, sizeof(*set->r), cmp_range);
    size_t m = 0;
    for (size_t i = 1; i < set->n; i++) {
        if (set->r[i].lo <= set->r[m].hi || set->r[i].lo - 1 == set->r[m].hi)
            set->r[m].hi = MAX(set->r[m].hi, set->r[i].hi);
        else
            set->r[++m] = set->r[i];
    }
    if (set->n)
        set->n = m + 1;
}

static bool known_contains(const struct seqset *set, uint32_t uid)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->r[mid].hi < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < set->n && set->r[lo].lo <= uid;
}

/* RFC 7162 section 7: known-uids, known-sequence-set and known-uid-set
 * are sequence-sets where "*" is not allowed. */
static bool has_star(const char *from, const char *to)
{
    return to > from && memchr(from, '*', (size_t)(to - from)) != NULL;
}

static bool p_select_params(struct imap_session *s, struct imap_cmd *cmd, bool *condstore,
                            struct qresync_params *q)
{
    struct imap_parser *ps = &cmd->ps;
    if (imap_p_end(ps))
        return true;
    if (!imap_p_sp(ps) || !imap_p_char(ps, '('))
        return false;
    bool first = true;
    while (!imap_p_char(ps, ')')) {
        if (!first && !imap_p_sp(ps))
            return false;
        first = false;
        char *a = imap_p_atom(ps, cmd);
        if (!a)
            return false;
        if (strcasecmp(a, "CONDSTORE") == 0) {
            *condstore = true;
        } else if (strcasecmp(a, "QRESYNC") == 0) {
            /* RFC 7162 3.2.5: only after ENABLE QRESYNC */
            if (!(s->enabled & EN_QRESYNC) || q->present)
                return false;
            q->present = true;
            if (!imap_p_sp(ps) || !imap_p_char(ps, '(') || !imap_p_nznumber(ps, &q->uidvalidity) ||
                !imap_p_sp(ps) || !imap_p_number64(ps, &q->modseq))
                return false;
            if (imap_p_char(ps, ' ')) {
                if (!imap_p_peek(ps, '(')) {
                    const char *start = ps->p;
                    if (!imap_p_seqset(ps, &q->known) || q->known.dollar || has_star(start, ps->p))
                        return false;
                    q->has_known = true;
                    if (!imap_p_char(ps, ' '))
                        goto close;
                }
                /* seq-match-data: we remember every expunge (horizon 0), so
                 * it is parsed and ignored (RFC 7162 3.2.5.2). It holds
                 * message numbers: BAD once UIDONLY is on (RFC 9586 3.7). */
                if (s->enabled & EN_UIDONLY)
                    return false;
                struct seqset a1 = {0}, a2 = {0};
                const char *start = ps->p;
                bool ok = imap_p_char(ps, '(') && imap_p_seqset(ps, &a1) && imap_p_sp(ps) &&
                          imap_p_seqset(ps, &a2) && imap_p_char(ps, ')') && !has_star(start, ps->p) &&
                          !a1.dollar && !a2.dollar;
                seqset_free(&a1);
                seqset_free(&a2);
                if (!ok)
                    return false;
            }
        close:
            if (!imap_p_char(ps, ')'))
                return false;
        } else {
            return false;
        }
    }
    return imap_p_end(ps);
}

struct qr_ctx {
    struct imap_session *s;
    struct qresync_params *q;
    struct buf out;
    uint32_t *uids;
    size_t n, cap;
};

static int qr_vanished(uint32_t uid, void *arg)
{
    struct qr_ctx *c = arg;
    if (c->q->has_known && !known_contains(&c->q->known, uid))
        return 0;
    ARRAY_GROW(c->uids, c->n, c->cap);
    c->uids[c->n++] = uid;
    return 0;
}

static int qr_changed(const struct msg_record *rec, void *arg)
{
    struct qr_ctx *c = arg;
    struct imap_view *v = c->s->view;
    uint32_t msn = imap_view_msn(v, rec->uid);
    if (!msn)
        return 0;
    if (c->q->has_known && !known_contains(&c->q->known, rec->uid))
        return 0;
    if (c->s->enabled & EN_UIDONLY)
        buf_printf(&c->out, "* %u UIDFETCH (FLAGS ", rec->uid);   /* RFC 9586 3.6 */
    else
        buf_printf(&c->out, "* %u FETCH (UID %u FLAGS ", msn, rec->uid);
    imap_write_flag_list(&c->out, rec->flags, rec->keywords,
                         imap_view_recent(v, rec->uid));
    buf_printf(&c->out, " MODSEQ (%llu))\r\n", (unsigned long long)rec->modseq);
    if (c->out.len > 65536) {
        imap_write(c->s, c->out.data, c->out.len);
        buf_reset(&c->out);
    }
    return 0;
}

static void close_selected(struct imap_session *s)
{
    if (s->view) {
        imap_view_free(s->view);
        s->view = NULL;
    }
    if (s->state == IMAP_SELECTED)
        s->state = IMAP_AUTH;
}

/* Rights that let a session change anything in a selected mailbox: a
 * SELECT without any of them is [READ-ONLY] (RFC 4314 5.2). */
#define SELECT_WRITE_RIGHTS (ACL_SEEN | ACL_WRITE | ACL_DELETEMSG | ACL_EXPUNGE | ACL_INSERT)

/* SELECT/EXAMINE: opening the mailbox may write (the \Recent claim of an
 * IMAP4rev1 read-write SELECT, the viewer registration that keeps
 * messages other sessions expunge readable, RFC 2180 4.1.1) and reads the
 * whole UID list, so it runs as a job (kind "select", keyed on the
 * store); the untagged responses are written by select_finish on the
 * loop. */
struct select_job {
    struct mail_user *store;    /* reference from imap_resolve */
    struct mbox_ref ref;
    char reader[AUTH_MAX_USERNAME + 1];
    bool own, readonly, claim;
    acl_rights_t rights;
    bool condstore;
    struct qresync_params q;
    /* results */
    int err;
    uint32_t floor;
    struct mailbox *mb;
    struct imap_view *v;
};

static void select_run(struct job *job, void *arg)
{
    (void)job;
    struct select_job *j = arg;
    j->err = storage_job_begin(j->store, NULL);
    if (j->err < 0)
        return;
    /* Someone else's mailbox: the reader's own \Seen, never \Recent
     * claims (storage.h mailbox_open_as). */
    j->err = j->own ? mailbox_open(j->store, j->ref.name, j->readonly, j->claim, &j->floor, &j->mb)
                    : mailbox_open_as(j->store, j->ref.name, j->reader, j->readonly, &j->floor, &j->mb);
    if (j->err == 0) {
        j->v = imap_view_new(j->mb, j->readonly);
        if (!j->v)
            mailbox_close_work(j->mb);
    }
    storage_job_end(j->store, NULL);
}

static enum cmd_result select_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct select_job *j = arg;
    struct qresync_params q = j->q;
    if (!s || j->err < 0 || !j->v) {
        if (j->v)
            imap_view_free(j->v); /* closes the mailbox too (off the loop) */
        else if (j->mb)
            mailbox_close(j->mb);
        mail_user_close(j->store);
        seqset_free(&q.known);
        if (s && j->err < 0)
            imap_reply_access_error(s, cmd, j->err);
        else if (s)
            imap_tagged(s, cmd, "NO", "[SERVERBUG] Cannot read mailbox");
        free(j);
        return CMD_DONE;
    }
    struct imap_view *v = j->v;
    struct mailbox *mb = j->mb;
    bool readonly = j->readonly;
    bool rev2 = (s->enabled & EN_IMAP4REV2) != 0;
    v->store = j->store; /* the view's own reference, released by imap_view_free */
    v->rights = j->rights;
    imap_view_set_recent_floor(v, rev2 ? UINT32_MAX : j->floor);
    if (j->condstore || q.present)
        s->enabled |= EN_CONDSTORE; /* RFC 7162 3.1: CONDSTORE-enabling */
    v->condstore = (s->enabled & (EN_CONDSTORE | EN_QRESYNC)) != 0;
    s->view = v;
    s->state = IMAP_SELECTED;
    struct buf cname = BUF_INIT;
    access_client_name(&s->who, j->ref.store, j->ref.name, &cname);
    const char *name = buf_cstr(&cname);
    free(j);

    /* RFC 9051 6.3.2 (order is not mandated; this is the customary one) */
    const struct mailbox_info *info = mailbox_get_info(mb);
    imap_view_write_flags_line(s);
    imap_untagged(s, "%u EXISTS", v->count);
    if (!rev2) {
        imap_untagged(s, "%u RECENT", v->recent_count);
        /* An index lookup, not a walk: a mostly-read 1M-message mailbox
         * must still SELECT in milliseconds. */
        uint32_t first_uid = 0;
        /* [UNSEEN n] is a message number: not with UIDONLY (RFC 9586 3) */
        if (info->unseen > 0 && !(s->enabled & EN_UIDONLY) && mailbox_first_unseen(mb, &first_uid) == 0 &&
            first_uid) {
            uint32_t msn = imap_view_msn(v, first_uid);
            if (msn)
                imap_untagged(s, "OK [UNSEEN %u] First unseen message", msn);
        }
    }
    imap_view_write_permanentflags(s);
    imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", info->uidvalidity);
    imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID", info->uidnext);
    if (v->condstore)
        imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest", (unsigned long long)v->modseq);
    if (info->mailboxid[0])
        imap_untagged(s, "OK [MAILBOXID (%s)] Ok", info->mailboxid);
    /* RFC 4467 8 (URLMECH): the URL authorization mechanisms, in an
     * untagged OK to SELECT and EXAMINE (only INTERNAL here) */
    imap_untagged(s, "OK [URLMECH INTERNAL] URLAUTH mechanisms");
    if (rev2)
        imap_list_one(s, name);
    imap_quota_warn(s, name);

    if (q.present && q.uidvalidity == info->uidvalidity) {
        /* RFC 7162 3.2.5.2: VANISHED (EARLIER) then FETCH for changes. */
        if (q.has_known)
            normalize_known(&q.known, info->uidnext ? info->uidnext - 1 : 0);
        struct qr_ctx c = {0};
        c.s = s;
        c.q = &q;
        mailbox_vanished_since(mb, q.modseq, qr_vanished, &c);
        /* only UIDs the client can know about and that are not in the view */
        size_t k = 0;
        for (size_t i = 0; i < c.n; i++)
            if (c.uids[i] < info->uidnext && !imap_view_msn(v, c.uids[i]))
                c.uids[k++] = c.uids[i];
        if (k) {
            buf_puts(&c.out, "* VANISHED (EARLIER) ");
            seqset_write_uids(&c.out, c.uids, k);
            buf_puts(&c.out, "\r\n");
        }
        imap_write(s, c.out.data, c.out.len);
        buf_reset(&c.out);
        free(c.uids);
        c.uids = NULL;
        c.n = 0;
        /* changed records: everything with modseq > client's */
        struct qr_ctx c2 = {0};
        c2.s = s;
        c2.q = &q;
        uint64_t keep = v->modseq;
        mailbox_sync(mb, q.modseq, qr_changed, &c2, NULL, NULL);
        imap_write(s, c2.out.data, c2.out.len);
        buf_free(&c2.out);
        buf_free(&c.out);
        v->modseq = keep; /* the regular sync reports anything newer */
    }
    seqset_free(&q.known);
    buf_free(&cname);
    imap_tagged(s, cmd, "OK", "[%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE",
                strcmp(cmd->name, "EXAMINE") == 0 ? "EXAMINE" : "SELECT");
    return CMD_DONE;
}

static enum cmd_result do_select(struct imap_session *s, struct imap_cmd *cmd, bool readonly)
{
    struct imap_str nm;
    bool condstore = false;
    struct qresync_params q = {0};
    if (!arg_name(s, cmd, &nm))
        return CMD_DONE;
    if (!p_select_params(s, cmd, &condstore, &q)) {
        seqset_free(&q.known);
        imap_tagged(s, cmd, "BAD", "Invalid SELECT parameters");
        return CMD_DONE;
    }
    /* RFC 9051 6.3.1 / RFC 7162 3.2.11: selecting closes the current
     * mailbox first, even if the new SELECT fails. */
    if (s->view) {
        close_selected(s);
        imap_untagged(s, "OK [CLOSED] Previous mailbox is now closed");
    }
    struct select_job *j = xcalloc(1, sizeof(*j));
    if (!imap_resolve(s, cmd, &nm, ACL_READ, true, &j->ref, &j->store, &j->rights)) {
        seqset_free(&q.known);
        free(j);
        return CMD_DONE;
    }
    if (!(j->rights & SELECT_WRITE_RIGHTS))
        readonly = true;
    j->own = imap_is_own_store(s, j->store);
    j->readonly = readonly;
    j->claim = !readonly && !(s->enabled & EN_IMAP4REV2);
    snprintf(j->reader, sizeof(j->reader), "%s", s->who.user);
    j->condstore = condstore;
    j->q = q;
    return imap_cmd_job(s, cmd, "select", j->store, select_run, select_finish, j);
}

IMAP_CMD(cmd_select)
{
    return do_select(s, cmd, false);
}

IMAP_CMD(cmd_examine)
{
    return do_select(s, cmd, true);
}

/* ---- CREATE / DELETE / RENAME ------------------------------------------ */

/* CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE write as jobs on the
 * pool (imap_cmd_job, jobs.h). The handler parses and checks what needs
 * no database on the loop; the job runs the access layer's checked
 * operation, which resolves the names, checks rights, writes the store,
 * the ACLs and the share index (shares.db) and, for an admin's CREATE,
 * DELETE or RENAME of a whole account ("user/bob"), does the account
 * operation with its wait for every process to let go of the store. It
 * opens the stores it needs itself (a pool thread gets handles of its
 * own, storage.h) and works on a copy of the session's identity; the
 * finish step writes the reply on the loop. Key: the store the command
 * writes, opened here on the loop to name it (its handle is held until
 * the finish step); none for an account-level operation, which the
 * account-operation lock serialises and which waits for this process to
 * close the store: a handle held here would only make it wait in vain. */
enum mbox_op { MB_CREATE, MB_DELETE, MB_RENAME, MB_SUBSCRIBE };

struct mbox_job {
    enum mbox_op op;
    struct access_who who;      /* the session's identity (a copy) */
    char *own_store;            /* the session's own store name, NULL when anonymous */
    struct mail_user *mu;       /* SUBSCRIBE: the session's store (not a reference) */
    struct mail_user *keyref;   /* a reference taken for the key, or NULL */
    char *name, *to;            /* internal client names (RENAME: from, to) */
    uint32_t use;               /* CREATE: special-use */
    char *partition;            /* CREATE: partition or NULL */
    bool sub;                   /* SUBSCRIBE or UNSUBSCRIBE */
    int err;                    /* results */
    char mailboxid[40];         /* CREATE: the new mailbox's MAILBOXID */
};

static void mbox_job_free(struct mbox_job *j)
{
    if (j->keyref)
        mail_user_close(j->keyref);  /* on the loop: the finish step frees */
    access_who_free(&j->who);
    free(j->own_store);
    free(j->name);
    free(j->to);
    free(j->partition);
    free(j);
}

/* The job for op on name, its key and kind; the caller fills in the rest. */
static struct mbox_job *mbox_job_new(struct imap_session *s, enum mbox_op op, const char *name, const void **key,
                                     const char **kind)
{
    struct mbox_job *j = xcalloc(1, sizeof(*j));
    j->op = op;
    access_who_copy(&j->who, &s->who);
    j->own_store = s->mu ? xstrdup(mail_user_name(s->mu)) : NULL;
    j->mu = s->mu;
    j->name = xstrdup(name);
    *key = s->mu;
    *kind = op == MB_SUBSCRIBE ? "subscribe" : "mailbox";
    struct mbox_ref ref;
    if (op == MB_SUBSCRIBE || access_resolve(&s->who, name, &ref) != 0)
        return j;   /* the job answers for a name that does not resolve */
    if (ref.ns == NS_OTHER && strcmp(ref.name, "INBOX") == 0 && access_is_admin_of_store(&s->who, ref.store)) {
        *key = NULL;
        *kind = "account";
    } else if (!s->mu || strcmp(ref.store, mail_user_name(s->mu)) != 0) {
        *key = mail_user_open(ref.store, false, &j->keyref) == 0 ? j->keyref : NULL;
    }
    return j;
}

/* Does the session see the target name of a RENAME or one of its
 * ancestors (for another user's store: up to that user's INBOX)? In
 * RENAME's job: w is the session's identity, own_store its own store's
 * name (NULL when anonymous). */
static bool target_place_visible(const struct access_who *w, const char *own_store, const char *to);

static void mbox_job_run(struct job *job, void *arg)
{
    (void)job;
    struct mbox_job *j = arg;
    switch (j->op) {
    case MB_CREATE: {
        j->err = access_create_ex(&j->who, j->name, j->use, j->partition);
        if (j->err < 0)
            break;
        /* RFC 8474 4.1: the tagged OK carries the new mailbox's
         * MAILBOXID. */
        struct mbox_ref ref;
        struct mail_user *store = NULL;
        struct mailbox_info info;
        if (access_resolve(&j->who, j->name, &ref) == 0 && access_open_store(&ref, &store) == 0) {
            if (mailbox_status(store, ref.name, &info) == 0)
                snprintf(j->mailboxid, sizeof(j->mailboxid), "%s", info.mailboxid);
            mail_user_close(store);
        }
        break;
    }
    case MB_DELETE:
        j->err = access_delete(&j->who, j->name);
        break;
    case MB_RENAME:
        j->err = access_rename(&j->who, j->name, j->to);
        /* A target in another store is "not possible" only where the
         * session can see that the place exists; otherwise the answer
         * must not differ from one for a missing user or mailbox (RFC
         * 4314 4). */
        if (j->err == ACCESS_ERR_CANNOT && !target_place_visible(&j->who, j->own_store, j->to))
            j->err = ACCESS_ERR_NONEXISTENT;
        break;
    case MB_SUBSCRIBE:
        if ((j->err = storage_job_begin(j->mu, NULL)) < 0)
            break;
        j->err = mailbox_subscribe(j->mu, j->name, j->sub);
        storage_job_end(j->mu, NULL);
        break;
    }
}

static bool special_use_bit(const char *a, uint32_t *bit)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } t[] = {{"\\All", SPECIAL_ALL},     {"\\Archive", SPECIAL_ARCHIVE}, {"\\Drafts", SPECIAL_DRAFTS},
             {"\\Flagged", SPECIAL_FLAGGED}, {"\\Important", SPECIAL_IMPORTANT}, {"\\Junk", SPECIAL_JUNK},   {"\\Sent", SPECIAL_SENT},
             {"\\Trash", SPECIAL_TRASH}};
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        if (strcasecmp(a, t[i].name) == 0) {
            *bit = t[i].bit;
            return true;
        }
    }
    return false;
}

static enum cmd_result create_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct mbox_job *j = arg;
    int err = j->err;
    if (s) {
        if (err == ACCESS_ERR_INVALID && j->partition)
            imap_tagged(s, cmd, "NO", "[CANNOT] No such partition");
        else if (err == ACCESS_ERR_CANNOT && j->partition)
            imap_tagged(s, cmd, "NO", "[CANNOT] A mailbox lives on its account's partition");
        else if (err < 0)
            imap_reply_access_error(s, cmd, err);
        else if (j->mailboxid[0])
            imap_tagged(s, cmd, "OK", "[MAILBOXID (%s)] CREATE completed", j->mailboxid);
        else
            imap_tagged(s, cmd, "OK", "CREATE completed");
    }
    mbox_job_free(j);
    return CMD_DONE;
}

IMAP_CMD(cmd_create)
{
    char name[IMAP_MAX_CLIENT_NAME + 1];
    if (!arg_mailbox(s, cmd, name, true, "CANNOT"))
        return CMD_DONE;
    uint32_t use = 0;
    char *partition = NULL;
    struct imap_parser *ps = &cmd->ps;
    if (imap_p_char(ps, ' ')) {
        if (!imap_p_peek(ps, '(')) {
            /* Cyrus: "CREATE mailbox partition" (what cyradm's
             * "cm --partition" sends without a special-use). */
            if (!(partition = imap_p_astring_cstr(ps, cmd))) {
                imap_tagged(s, cmd, "BAD", "Invalid CREATE parameters");
                return CMD_DONE;
            }
        } else {
            /* RFC 4466 2.2 create-params: "(" param *(SP param) ")", the
             * ones known here being RFC 6154 3 "USE (attr...)" and Cyrus's
             * "PARTITION name". */
            (void)imap_p_char(ps, '(');
            bool firstp = true;
            while (!imap_p_char(ps, ')')) {
                char *a;
                if ((!firstp && !imap_p_sp(ps)) || !(a = imap_p_atom(ps, cmd)) || !imap_p_sp(ps)) {
                    imap_tagged(s, cmd, "BAD", "Invalid CREATE parameters");
                    return CMD_DONE;
                }
                firstp = false;
                if (strcasecmp(a, "PARTITION") == 0) {
                    if (partition || !(partition = imap_p_astring_cstr(ps, cmd))) {
                        imap_tagged(s, cmd, "BAD", "Invalid PARTITION parameter");
                        return CMD_DONE;
                    }
                    continue;
                }
                if (strcasecmp(a, "USE") != 0 || !imap_p_char(ps, '(')) {
                    imap_tagged(s, cmd, "BAD", "Invalid CREATE parameters");
                    return CMD_DONE;
                }
                bool first = true;
                while (!imap_p_char(ps, ')')) {
                    char *f;
                    uint32_t bit;
                    if ((!first && !imap_p_sp(ps)) || !imap_p_flag(ps, cmd, &f)) {
                        imap_tagged(s, cmd, "BAD", "Invalid USE attributes");
                        return CMD_DONE;
                    }
                    first = false;
                    if (!special_use_bit(f, &bit)) {
                        imap_tagged(s, cmd, "NO", "[USEATTR] Unsupported special-use attribute");
                        return CMD_DONE;
                    }
                    use |= bit;
                }
            }
        }
    }
    if (!expect_end(s, cmd))
        return CMD_DONE;
    if (strcmp(name, "INBOX") == 0) {
        imap_tagged(s, cmd, "NO", "[ALREADYEXISTS] INBOX always exists");
        return CMD_DONE;
    }
    /* rights (k on the parent, ownership, admin) are the access layer's */
    const void *key;
    const char *kind;
    struct mbox_job *j = mbox_job_new(s, MB_CREATE, name, &key, &kind);
    j->use = use;
    j->partition = partition ? xstrdup(partition) : NULL;
    return imap_cmd_job(s, cmd, kind, key, mbox_job_run, create_finish, j);
}

/* An admin's DELETE or RENAME of a whole account ("user/bob") while this
 * session has a mailbox of that account selected: the operation kicks
 * the account's sessions and then needs the store closed in this process
 * (partition.c), but this session is the one running the command, so the
 * kick cannot close it. Deselect first (RFC 7162 3.2.11 [CLOSED] tells
 * the client). Returns true when it did. */
static bool deselect_account(struct imap_session *s, const char *name)
{
    if (!s->view || !s->view->store || imap_is_own_store(s, s->view->store))
        return false;
    struct mbox_ref ref;
    if (access_resolve(&s->who, name, &ref) != 0 || ref.ns != NS_OTHER || strcmp(ref.name, "INBOX") != 0 ||
        strcmp(ref.store, mail_user_name(s->view->store)) != 0 ||
        !access_is_admin_of_store(&s->who, ref.store))
        return false;
    close_selected(s);
    imap_untagged(s, "OK [CLOSED] Selected mailbox's account is being changed");
    return true;
}

static enum cmd_result delete_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct mbox_job *j = arg;
    int err = j->err;
    mbox_job_free(j);
    if (!s)
        return CMD_DONE;
    if (err < 0) {
        imap_reply_access_error(s, cmd, err);
        return CMD_DONE;
    }
    /* This session deleted its own selected mailbox: deselect it (back to
     * the authenticated state), as if by CLOSE without expunge, and say
     * so with the CLOSED code (RFC 7162 3.2.11) instead of the BYE another
     * session's DELETE would cause. */
    if (s->view && mailbox_is_deleted(s->view->mb)) {
        close_selected(s);
        imap_untagged(s, "OK [CLOSED] Selected mailbox was deleted");
    }
    imap_tagged(s, cmd, "OK", "DELETE completed");
    return CMD_DONE;
}

IMAP_CMD(cmd_delete)
{
    char name[IMAP_MAX_CLIENT_NAME + 1];
    if (!arg_mailbox(s, cmd, name, false, "NONEXISTENT") || !expect_end(s, cmd))
        return CMD_DONE;
    if (strcmp(name, "INBOX") == 0) {
        imap_tagged(s, cmd, "NO", "[CANNOT] INBOX cannot be deleted");
        return CMD_DONE;
    }
    deselect_account(s, name);
    const void *key;
    const char *kind;
    struct mbox_job *j = mbox_job_new(s, MB_DELETE, name, &key, &kind);
    return imap_cmd_job(s, cmd, kind, key, mbox_job_run, delete_finish, j);
}

static bool target_place_visible(const struct access_who *w, const char *own_store, const char *to)
{
    struct mbox_ref ref;
    if (access_resolve(w, to, &ref) < 0)
        return false;
    if (own_store && strcmp(ref.store, own_store) == 0)
        return true;
    for (;;) {
        acl_rights_t r = 0;
        if (access_rights(w, &ref, &r) == 0 && r)
            return true;
        char *slash = strrchr(ref.name, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
    if (ref.ns == NS_OTHER && strcmp(ref.name, "INBOX") != 0) {
        acl_rights_t r = 0;
        snprintf(ref.name, sizeof(ref.name), "INBOX");
        if (access_rights(w, &ref, &r) == 0 && r)
            return true;
    }
    return false;
}

static enum cmd_result rename_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct mbox_job *j = arg;
    int err = j->err;
    mbox_job_free(j);
    if (!s)
        return CMD_DONE;
    if (err < 0)
        imap_reply_access_error(s, cmd, err);
    else
        imap_tagged(s, cmd, "OK", "RENAME completed");
    return CMD_DONE;
}

IMAP_CMD(cmd_rename)
{
    char from[IMAP_MAX_CLIENT_NAME + 1], to[IMAP_MAX_CLIENT_NAME + 1];
    if (!arg_mailbox(s, cmd, from, false, "NONEXISTENT") || !arg_mailbox(s, cmd, to, true, "CANNOT") ||
        !expect_end(s, cmd))
        return CMD_DONE;
    if (strcmp(to, "INBOX") == 0) {
        imap_tagged(s, cmd, "NO", "[ALREADYEXISTS] INBOX already exists");
        return CMD_DONE;
    }
    size_t fl = strlen(from);
    if (strncmp(to, from, fl) == 0 && to[fl] == '/') {
        imap_tagged(s, cmd, "NO", "[CANNOT] Cannot rename a mailbox into itself");
        return CMD_DONE;
    }
    deselect_account(s, from);
    const void *key;
    const char *kind;
    struct mbox_job *j = mbox_job_new(s, MB_RENAME, from, &key, &kind);
    j->to = xstrdup(to);
    return imap_cmd_job(s, cmd, kind, key, mbox_job_run, rename_finish, j);
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------- */

static enum cmd_result subscribe_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct mbox_job *j = arg;
    int err = j->err;
    bool sub = j->sub;
    mbox_job_free(j);
    if (!s)
        return CMD_DONE;
    if (err < 0 && !(err == STORAGE_ERR_NOTFOUND && !sub))
        imap_reply_storage_error(s, cmd, err);
    else
        imap_tagged(s, cmd, "OK", "%s completed", sub ? "SUBSCRIBE" : "UNSUBSCRIBE");
    return CMD_DONE;
}

static enum cmd_result do_subscribe(struct imap_session *s, struct imap_cmd *cmd, bool sub)
{
    char name[IMAP_MAX_CLIENT_NAME + 1];
    if (!arg_mailbox(s, cmd, name, false, "NONEXISTENT") || !expect_end(s, cmd))
        return CMD_DONE;
    /* Any valid name in any namespace: subscriptions are names (RFC 9051
     * 6.3.7 - the mailbox need not exist), kept in the session's own
     * store in internal client form ("Other Users/bob/Sent"). Anonymous
     * sessions have nowhere to keep them. */
    if (!s->mu) {
        imap_tagged(s, cmd, "NO", "[CANNOT] Subscriptions are not available to anonymous users");
        return CMD_DONE;
    }
    struct mbox_ref ref;
    int rerr = access_resolve(&s->who, name, &ref);
    if (rerr == ACCESS_ERR_INVALID) {
        imap_tagged(s, cmd, "NO", "[CANNOT] Invalid mailbox name");
        return CMD_DONE;
    }
    const void *key;
    const char *kind;
    struct mbox_job *j = mbox_job_new(s, MB_SUBSCRIBE, name, &key, &kind);
    j->sub = sub;
    return imap_cmd_job(s, cmd, kind, key, mbox_job_run, subscribe_finish, j);
}

IMAP_CMD(cmd_subscribe)
{
    return do_subscribe(s, cmd, true);
}

IMAP_CMD(cmd_unsubscribe)
{
    return do_subscribe(s, cmd, false);
}

/* ---- NAMESPACE ---------------------------------------------------------- */

/* One namespace: (("prefix" "sep")), the prefix in the session's
 * mailbox-name encoding with a trailing separator (RFC 2342 5). */
static void put_namespace(struct imap_session *s, struct buf *b, const char *prefix)
{
    char sep = imap_hier_sep();
    buf_puts(b, "((");
    struct buf p = BUF_INIT;
    if (*prefix) {
        buf_puts(&p, prefix);
        buf_putc(&p, '/');
    }
    imap_append_mailbox(s, b, buf_cstr(&p));
    buf_free(&p);
    buf_printf(b, " \"%s%c\"))", sep == '\\' || sep == '"' ? "\\" : "", sep);
}

IMAP_CMD(cmd_namespace)
{
    if (!expect_end(s, cmd))
        return CMD_DONE;
    /* RFC 2342: personal (none for anonymous sessions), other users
     * ("user" for admins, Cyrus's admin namespace; anonymous sessions see
     * there what is shared with "anonymous"), shared. */
    struct buf b = BUF_INIT;
    buf_puts(&b, "NAMESPACE ");
    if (s->mu && !s->who.anonymous)
        put_namespace(s, &b, "");
    else
        buf_puts(&b, "NIL");
    buf_putc(&b, ' ');
    put_namespace(s, &b, access_other_prefix(&s->who));
    buf_putc(&b, ' ');
    put_namespace(s, &b, access_shared_prefix(&s->who));
    imap_untagged(s, "%s", buf_cstr(&b));
    buf_free(&b);
    imap_tagged(s, cmd, "OK", "NAMESPACE completed");
    return CMD_DONE;
}

/* ---- STATUS ------------------------------------------------------------------ */

bool imap_p_status_items(struct imap_parser *ps, struct imap_cmd *cmd, unsigned *items)
{
    static const struct {
        const char *name;
        unsigned bit;
    } t[] = {{"MESSAGES", ST_MESSAGES},       {"UIDNEXT", ST_UIDNEXT},         {"UIDVALIDITY", ST_UIDVALIDITY},
             {"UNSEEN", ST_UNSEEN},           {"DELETED", ST_DELETED},         {"SIZE", ST_SIZE},
             {"RECENT", ST_RECENT},           {"HIGHESTMODSEQ", ST_HIGHESTMODSEQ},
             {"MAILBOXID", ST_MAILBOXID},     {"APPENDLIMIT", ST_APPENDLIMIT},
             {"DELETED-STORAGE", ST_DELETED_STORAGE}};
    *items = 0;
    if (!imap_p_char(ps, '('))
        return false;
    bool first = true;
    while (!imap_p_char(ps, ')')) {
        if (!first && !imap_p_sp(ps))
            return false;
        first = false;
        char *a = imap_p_atom(ps, cmd);
        if (!a)
            return false;
        size_t i;
        for (i = 0; i < ARRAY_SIZE(t); i++)
            if (strcasecmp(a, t[i].name) == 0)
                break;
        if (i == ARRAY_SIZE(t))
            return false;
        *items |= t[i].bit;
    }
    return *items != 0;
}

void imap_write_status(struct imap_session *s, const struct mailbox_info *info, unsigned items)
{
    imap_write_status_as(s, s->mu, info->name, info, items);
}

void imap_format_status(struct imap_session *s, struct mail_user *store, const char *client_name,
                        const struct mailbox_info *info, unsigned items, struct buf *out)
{
    struct buf b = *out;
    buf_puts(&b, "* STATUS ");
    imap_append_mailbox(s, &b, client_name);
    buf_puts(&b, " (");
    size_t start = b.len;
#define SEP() do { if (b.len > start) buf_putc(&b, ' '); } while (0)
    if (items & ST_MESSAGES) {
        SEP();
        buf_printf(&b, "MESSAGES %u", info->messages);
    }
    if (items & ST_UIDNEXT) {
        SEP();
        buf_printf(&b, "UIDNEXT %u", info->uidnext);
    }
    if (items & ST_UIDVALIDITY) {
        SEP();
        buf_printf(&b, "UIDVALIDITY %u", info->uidvalidity);
    }
    if (items & ST_UNSEEN) {
        SEP();
        buf_printf(&b, "UNSEEN %u", info->unseen);
    }
    if (items & ST_DELETED) {
        SEP();
        buf_printf(&b, "DELETED %u", info->deleted);
    }
    if (items & ST_SIZE) {
        SEP();
        buf_printf(&b, "SIZE %llu", (unsigned long long)info->size);
    }
    if (items & ST_DELETED_STORAGE) {
        /* RFC 9208 4.1.4: what an EXPUNGE would free */
        uint64_t ds = 0;
        if (store)
            (void)mailbox_deleted_size(store, info->name, &ds);
        SEP();
        buf_printf(&b, "DELETED-STORAGE %llu", (unsigned long long)ds);
    }
    if (items & ST_RECENT) {
        SEP();
        buf_printf(&b, "RECENT %u", info->recent);
    }
    if (items & ST_HIGHESTMODSEQ) {
        SEP();
        buf_printf(&b, "HIGHESTMODSEQ %llu", (unsigned long long)info->highestmodseq);
    }
    if (items & ST_MAILBOXID) {
        SEP();
        buf_printf(&b, "MAILBOXID (%s)", info->mailboxid);
    }
    if (items & ST_APPENDLIMIT) {
        SEP();
        buf_printf(&b, "APPENDLIMIT %lld", config_int(CFG_MAXMESSAGESIZE));
    }
#undef SEP
    buf_puts(&b, ")\r\n");
    *out = b;
}

void imap_write_status_as(struct imap_session *s, struct mail_user *store, const char *client_name,
                          const struct mailbox_info *info, unsigned items)
{
    struct buf b = BUF_INIT;
    imap_format_status(s, store, client_name, info, items, &b);
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

IMAP_CMD(cmd_status)
{
    struct imap_str nm;
    unsigned items;
    if (!arg_name(s, cmd, &nm))
        return CMD_DONE;
    if (!imap_p_sp(&cmd->ps) || !imap_p_status_items(&cmd->ps, cmd, &items) || !imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Invalid STATUS items");
        return CMD_DONE;
    }
    /* RFC 4314 4: STATUS needs "r" */
    struct mbox_ref ref;
    struct mail_user *store = NULL;
    acl_rights_t rights;
    if (!imap_resolve(s, cmd, &nm, ACL_READ, true, &ref, &store, &rights))
        return CMD_DONE;
    if (items & ST_HIGHESTMODSEQ)
        imap_enable_condstore(s); /* RFC 7162 3.1 */
    struct mailbox_info info;
    int err = imap_mailbox_status(s, store, ref.name, &info);
    if (err < 0) {
        mail_user_close(store);
        imap_reply_access_error(s, cmd, err);
        return CMD_DONE;
    }
    struct buf cname = BUF_INIT;
    access_client_name(&s->who, ref.store, ref.name, &cname);
    imap_write_status_as(s, store, buf_cstr(&cname), &info, items);
    buf_free(&cname);
    mail_user_close(store);
    imap_tagged(s, cmd, "OK", "STATUS completed");
    return CMD_DONE;
}
