/* imap-cmd-thread.c - THREAD and UID THREAD (RFC 5256 BASE.6.4.THREAD):
 * "THREAD alg charset search-keys". The search is SEARCH's (search_run_*
 * in imap-search.h), always in a `thread` read job; in the same job and
 * read transaction the matches' sort-key
 * records (sortkey.h, computed when each message was stored, read with
 * mailbox_sort_keys) become
 * imap-thread.h records and are threaded; the loop only writes the
 * "* THREAD" line.
 */
#include "imap-search.h"
#include "imap-thread.h"
#include "sortkey.h"
#include "config.h"
#include "jobs.h"
#include "log.h"

#include <strings.h>

struct thread_cmd {
    enum thread_alg alg;
    bool uid;
    struct search_run *run;
    int rc;
    /* Built on the pool: */
    struct thread_msg *msgs;
    size_t n;
    const struct search_matches *m;
    size_t cursor;              /* next match for the keys callback */
    struct buf strings;         /* every string, NUL-terminated, by offset */
    size_t *subj, *mid;         /* offsets into strings; SIZE_MAX = none */
    size_t *ref0, *nref;        /* message i: refs[ref0[i] .. +nref[i]) */
    size_t *refs;               /* reference offsets into strings */
    size_t nrefs, refcap;
    struct buf out;             /* the thread lists */
};

static void thread_cmd_free(void *arg)
{
    struct thread_cmd *t = arg;
    search_run_free(t->run);
    free(t->msgs);
    free(t->subj);
    free(t->mid);
    free(t->ref0);
    free(t->nref);
    free(t->refs);
    buf_free(&t->strings);
    buf_free(&t->out);
    free(t);
}

static size_t add_string(struct thread_cmd *t, const char *s, size_t len)
{
    size_t off = t->strings.len;
    buf_append(&t->strings, s, len);
    buf_putc(&t->strings, '\0');
    return off;
}

static void add_ref(struct thread_cmd *t, const char *id, size_t len)
{
    ARRAY_GROW(t->refs, t->nrefs, t->refcap);
    t->refs[t->nrefs++] = add_string(t, id, len);
}

/* One message's sort-key record (in UID order, a subset of the matches:
 * an expunged message has none and keeps the defaults). */
static void take_keys(void *arg, uint32_t uid, const char *rec, size_t len)
{
    struct thread_cmd *t = arg;
    const struct search_matches *m = t->m;
    while (t->cursor < m->n && m->uids[t->cursor] < uid)
        t->cursor++;
    if (t->cursor >= m->n || m->uids[t->cursor] != uid)
        return;
    size_t i = t->cursor++;
    struct mime_sortkeys k;
    if (!mime_sortkeys_parse(rec, len, &k))
        return;
    struct thread_msg *tm = &t->msgs[i];
    /* RFC 5256 2.2: no usable Date: the INTERNALDATE (already there). */
    if (k.flags & SK_F_DATE)
        tm->sent = k.sent;
    tm->is_reply = (k.flags & SK_F_REPLY) != 0;
    t->subj[i] = add_string(t, k.s[SK_SUBJECT], k.len[SK_SUBJECT]);
    if (k.len[SK_MESSAGEID] > 0)
        t->mid[i] = add_string(t, k.s[SK_MESSAGEID], k.len[SK_MESSAGEID]);
    /* Section 3, REFERENCES: the References' Message IDs, or else the
     * first valid In-Reply-To one (the record holds only that one). */
    t->ref0[i] = t->nrefs;
    size_t pos = 0;
    const char *id;
    size_t idlen;
    while (mime_sortkeys_next_ref(&k, &pos, &id, &idlen))
        if (idlen > 0)
            add_ref(t, id, idlen);
    if (t->nrefs == t->ref0[i] && k.len[SK_INREPLYTO] > 0)
        add_ref(t, k.s[SK_INREPLYTO], k.len[SK_INREPLYTO]);
    t->nref[i] = t->nrefs - t->ref0[i];
}

/* On the pool, in the search's read transaction. */
static int thread_post(const struct search_matches *m, void *arg)
{
    struct thread_cmd *t = arg;
    size_t n = m->n;
    if (n == 0)
        return 0;
    t->n = n;
    t->m = m;
    t->msgs = xcalloc(n, sizeof(*t->msgs));
    t->subj = xmalloc(n * sizeof(*t->subj));
    t->mid = xmalloc(n * sizeof(*t->mid));
    t->ref0 = xcalloc(n, sizeof(*t->ref0));
    t->nref = xcalloc(n, sizeof(*t->nref));
    /* a subject and a Message-ID of some 30 octets each: the arena is
     * then rarely copied as it grows */
    buf_reserve(&t->strings, n * 64);
    for (size_t i = 0; i < n; i++) {
        t->subj[i] = t->mid[i] = SIZE_MAX;
        t->msgs[i].id = t->uid ? m->uids[i] : m->msns[i];
        t->msgs[i].seq = m->msns[i];
        t->msgs[i].sent = m->idates[i];
    }
    int rc = mailbox_sort_keys(m->mb, m->uids, n, take_keys, t);
    t->m = NULL;
    if (rc < 0)
        return rc;
    /* Offsets to pointers, now that strings no longer grows. */
    const char **refp = xmalloc((t->nrefs ? t->nrefs : 1) * sizeof(*refp));
    const char *base = buf_cstr(&t->strings);
    for (size_t r = 0; r < t->nrefs; r++)
        refp[r] = base + t->refs[r];
    for (size_t i = 0; i < n; i++) {
        struct thread_msg *tm = &t->msgs[i];
        tm->subject = t->subj[i] != SIZE_MAX ? base + t->subj[i] : "";
        tm->message_id = t->mid[i] != SIZE_MAX ? base + t->mid[i] : NULL;
        tm->refs = refp + t->ref0[i];
        tm->nrefs = t->nref[i];
    }
    thread_run(t->alg, t->msgs, n, &t->out);
    free(refp);
    return 0;
}

/* On the pool: the search, then the threading, in one read transaction
 * of a reader connection. */
static void thread_job(struct job *job, void *arg)
{
    (void)job;
    struct thread_cmd *t = arg;
    struct search_matches m;
    search_run_matches(t->run, &m);
    struct mail_user *u = mailbox_user(m.mb);
    t->rc = storage_read_begin(u);
    if (t->rc < 0)
        return;
    search_run_exec(t->run);
    search_run_matches(t->run, &m);
    t->rc = m.rc < 0 ? m.rc : thread_post(&m, t);
    storage_read_end(u);
}

/* On the loop: "* THREAD" and the lists, in pieces of 64 KiB. */
static void thread_write(struct imap_session *s, struct thread_cmd *t)
{
    imap_write(s, "* THREAD", 8);
    if (t->out.len > 0) {
        imap_write(s, " ", 1);
        for (size_t off = 0; off < t->out.len;) {
            size_t k = MIN(t->out.len - off, (size_t)64 * 1024);
            imap_write(s, t->out.data + off, k);
            off += k;
        }
    }
    imap_write(s, "\r\n", 2);
}

static enum cmd_result thread_done(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct thread_cmd *t = arg;
    if (!s) {
        thread_cmd_free(t);
        return CMD_DONE;
    }
    int rc = t->rc;
    if (!s->view) {
        imap_tagged(s, cmd, "NO", "Mailbox closed");
    } else if (imap_view_gone_err(s, rc)) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] Mailbox was deleted");
    } else if (rc < 0) {
        log_err("THREAD in %s failed: %s", mailbox_get_info(s->view->mb)->name, storage_strerror(rc));
        imap_tagged(s, cmd, "NO", "[SERVERBUG] Thread failed");
    } else {
        thread_write(s, t);
        imap_tagged(s, cmd, "OK", "Thread completed");
    }
    thread_cmd_free(t);
    return CMD_DONE;
}

IMAP_CMD(cmd_thread)
{
    if (s->state != IMAP_SELECTED || !s->view) {
        imap_tagged(s, cmd, "BAD", "No mailbox selected");
        return CMD_DONE;
    }
    struct imap_parser *ps = &cmd->ps;
    enum thread_alg alg;
    char *name = imap_p_sp(ps) ? imap_p_atom(ps, cmd) : NULL;
    if (!name) {
        imap_tagged(s, cmd, "BAD", "Missing threading algorithm");
        return CMD_DONE;
    }
    if (!thread_alg_parse(name, &alg)) {
        /* RFC 5256: BAD for arguments that are invalid; only the
         * algorithms advertised as THREAD= exist. */
        imap_tagged(s, cmd, "BAD", "Unknown threading algorithm");
        return CMD_DONE;
    }
    struct imap_str cs;
    if (!imap_p_sp(ps) || !imap_p_astring(ps, cmd, &cs) || cs.file || cs.len == 0 || cs.len > 64 ||
        memchr(cs.s, '\0', cs.len)) {
        imap_tagged(s, cmd, "BAD", "Missing charset");
        return CMD_DONE;
    }
    /* The charset is mandatory here (unlike SEARCH); US-ASCII and UTF-8
     * are the ones RFC 5256 requires, and the ones offered. */
    if (!(cs.len == 8 && strncasecmp(cs.s, "US-ASCII", 8) == 0) && !(cs.len == 5 && strncasecmp(cs.s, "UTF-8", 5) == 0)) {
        imap_tagged(s, cmd, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
        return CMD_DONE;
    }
    struct search_query q;
    const char *status, *code, *err;
    int maxdepth = (int)config_int(CFG_SEARCH_MAXDEPTH);
    if (!search_parse(ps, cmd, maxdepth, &q, &status, &code, &err)) {
        if (code)
            imap_tagged(s, cmd, status, "[%s] %s", code, err);
        else
            imap_tagged(s, cmd, status, "%s", err);
        return CMD_DONE;
    }
    /* search_parse takes SEARCH's RETURN and CHARSET prefixes; THREAD's
     * grammar has neither (the charset came before). */
    if (q.esearch || q.ret || q.charset) {
        search_query_free(&q);
        imap_tagged(s, cmd, "BAD", "Invalid search criteria");
        return CMD_DONE;
    }
    if ((s->enabled & EN_UIDONLY) && search_has_msn_key(q.root)) {   /* RFC 9586 3.8 */
        search_query_free(&q);
        imap_tagged(s, cmd, "BAD", "[UIDREQUIRED] Message numbers are not allowed once UIDONLY is enabled");
        return CMD_DONE;
    }
    if (q.uses_modseq)
        imap_enable_condstore(s);   /* RFC 7162 3.1, as SEARCH */
    struct thread_cmd *t = xcalloc(1, sizeof(*t));
    t->alg = alg;
    t->uid = cmd->uid;
    t->run = search_run_new(s, &q, true);
    /* Always a job: the keys are read from the store even when the
     * search itself could be answered from the records. The session is
     * parked meanwhile, so no EXPUNGE can come between. */
    imap_progress_start(s, search_run_size(t->run));
    return imap_cmd_job(s, cmd, "thread", NULL, thread_job, thread_done, t);
}
