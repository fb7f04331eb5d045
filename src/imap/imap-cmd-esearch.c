/* imap-cmd-esearch.c - the ESEARCH command (MULTISEARCH, RFC 7377): one
 * search over several mailboxes, answered with one ESEARCH response per
 * mailbox that has matches, correlated by TAG, MAILBOX and UIDVALIDITY.
 *
 * On the loop: parsing (source options, then the SEARCH program by
 * search_parse), the mailboxes the source options name (RFC 7377 2.2;
 * the RFC 5465 6 filter-mailboxes, "selected-delayed" excluded,
 * "subtree-one" added), their rights ("r", and "l" for those not named
 * explicitly; others are silently left out) and their stores opened.
 * At most imap_multisearch_max_mailboxes mailboxes (NO [LIMIT], RFC 7377
 * 2.4). The searching is one job on the pool (kind "search", no key): the
 * selected mailbox through the session's view snapshot, as SEARCH, every
 * other mailbox opened read-only in the job, searched and closed there.
 * The loop writes the ESEARCH responses and the tagged reply when the job
 * is done; the session is parked meanwhile (one command at a time, so
 * pipelined ESEARCH commands and SEARCHRES are answered in order). */
#include "imap-search.h"
#include "imap-fetch.h"
#include "config.h"
#include "jobs.h"
#include "log.h"

#define ES_MAX_NAMED 100    /* mailbox names in the source options */

enum {
    ES_SELECTED = 1,
    ES_INBOXES = 2,
    ES_PERSONAL = 4,
    ES_SUBSCRIBED = 8,
};

enum es_kind { ES_SUBTREE, ES_SUBTREE_ONE, ES_MAILBOXES };

struct es_named {
    enum es_kind kind;
    char *name;         /* internal client name; NULL: invalid (matches nothing) */
};

/* A candidate mailbox (internal client name) and whether the client
 * named it (then "r" suffices, else "l" is needed too). */
struct es_cand {
    char *name;
    bool named;
};

struct es_target {
    char *cname;                /* internal client name: the MAILBOX correlator */
    struct mbox_ref ref;
    struct mail_user *store;    /* a reference opened on the loop; NULL: selected */
    bool own;
    struct search_run *run;
    uint32_t uidvalidity;
    int rc;
};

struct es_job {
    struct search_query q;
    char reader[AUTH_MAX_USERNAME + 1];
    size_t maxtext;
    struct es_target *t;
    size_t n;
};

struct es_ctx {
    struct imap_session *s;
    struct es_cand *c;
    size_t n, cap, max;
    bool over;
    /* mailbox_list of one store: the filter */
    const char *store;
    const char *root;   /* subtree root (internal client name), NULL: all */
    bool one_level;
};

static void cand_add(struct es_ctx *x, const char *name, bool named)
{
    if (x->n >= x->max) {
        x->over = true;
        return;
    }
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->c = xrealloc(x->c, x->cap * sizeof(*x->c));
    }
    x->c[x->n].name = xstrdup(name);
    x->c[x->n].named = named;
    x->n++;
}

/* Is name root itself or below it (one level only when one_level)? */
static bool in_subtree(const char *name, const char *root, bool one_level)
{
    size_t rl = strlen(root);
    if (strcmp(name, root) == 0)
        return true;
    if (strncmp(name, root, rl) != 0 || name[rl] != '/')
        return false;
    return !one_level || !strchr(name + rl + 1, '/');
}

static void list_cb(const struct mailbox_info *info, void *arg)
{
    struct es_ctx *x = arg;
    /* Not named: "l" and "r" (checked again with access_rights later);
     * filtering here keeps mailboxes the user cannot see out of the
     * imap_multisearch_max_mailboxes count, which would reveal them. */
    acl_rights_t r = acl_evaluate(info->acl, &x->s->who, x->store);
    if ((r & (ACL_READ | ACL_LOOKUP)) != (ACL_READ | ACL_LOOKUP))
        return;
    struct buf cn = BUF_INIT;
    access_client_name(&x->s->who, x->store, info->name, &cn);
    const char *name = buf_cstr(&cn);
    /* the root itself is added as named by the caller */
    if (!x->root || (strcmp(name, x->root) != 0 && in_subtree(name, x->root, x->one_level)))
        cand_add(x, name, false);
    buf_free(&cn);
}

static void sub_cb(const char *name, void *arg)
{
    cand_add(arg, name, false);
}

/* Every mailbox of ref's store (its own namespace view), filtered. */
static void list_store(struct es_ctx *x, const struct mbox_ref *ref, const char *root, bool one_level)
{
    struct mail_user *u = NULL;
    struct imap_session *s = x->s;
    int r = s->mu && strcmp(ref->store, mail_user_name(s->mu)) == 0 ? mail_user_open(ref->store, false, &u)
                                                                     : access_open_store(ref, &u);
    if (r < 0 || !u)
        return;
    x->store = ref->store;
    x->root = root;
    x->one_level = one_level;
    (void)mailbox_list(u, list_cb, x);
    mail_user_close(u);
}

static int cmp_cand(const void *a, const void *b)
{
    const struct es_cand *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : (int)y->named - (int)x->named;
}

static void es_job_free(struct es_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->t[i].cname);
        search_run_free(j->t[i].run);
        mail_user_close(j->t[i].store);
    }
    free(j->t);
    search_query_free(&j->q);
    free(j);
}

/* On the pool: each mailbox in turn. */
static void es_job_run(struct job *job, void *arg)
{
    (void)job;
    struct es_job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        struct es_target *t = &j->t[i];
        if (!t->store) {
            search_run_job_scan(t->run);    /* the selected mailbox */
            continue;
        }
        if ((t->rc = storage_job_begin(t->store, NULL)) < 0)
            continue;
        /* read-only, no \Recent claim; someone else's mailbox with the
         * reader's own \Seen (storage.h mailbox_open_as) */
        struct mailbox *mb = NULL;
        t->rc = t->own ? mailbox_open(t->store, t->ref.name, true, false, NULL, &mb)
                       : mailbox_open_as(t->store, t->ref.name, j->reader, true, NULL, &mb);
        if (t->rc == 0) {
            uint32_t *uids = NULL, count = 0;
            t->rc = mailbox_get_uids(mb, &uids, &count);
            if (t->rc == 0) {
                t->uidvalidity = mailbox_get_info(mb)->uidvalidity;
                t->run = search_run_new_other(&j->q, mb, uids, count, j->maxtext);
                search_run_exec(t->run);
            } else {
                free(uids);
            }
            mailbox_close(mb);  /* the loop holds the store: not its last reference */
        }
        storage_job_end(t->store, NULL);
    }
}

/* RFC 5182 2.1 (as SEARCH): the saved result; with MIN/MAX (and no
 * ALL/COUNT) only those. */
static void save_result(struct imap_view *v, unsigned ret, const struct search_matches *m)
{
    free(v->searchres);
    v->searchres = NULL;
    v->nsearchres = 0;
    if (m->n > 0 && (ret & (SR_MIN | SR_MAX)) && !(ret & (SR_ALL | SR_COUNT))) {
        v->searchres = xmalloc(2 * sizeof(uint32_t));
        if (ret & SR_MIN)
            v->searchres[v->nsearchres++] = m->uids[0];
        if ((ret & SR_MAX) && (!(ret & SR_MIN) || m->n > 1))
            v->searchres[v->nsearchres++] = m->uids[m->n - 1];
    } else if (m->n > 0) {
        v->searchres = xmemdup(m->uids, m->n * sizeof(uint32_t));
        v->nsearchres = m->n;
    }
}

static void write_one(struct imap_session *s, struct imap_cmd *cmd, const struct es_job *j,
                      const struct es_target *t, const struct search_matches *m, unsigned ret)
{
    /* RFC 7377 2.1: no response for a mailbox without matches, even
     * for COUNT; always UIDs. */
    if (m->n == 0 || !(ret & ~SR_SAVE))
        return;
    struct buf b = BUF_INIT;
    buf_printf(&b, "* ESEARCH (TAG \"%s\" MAILBOX ", cmd->tag);
    imap_append_mailbox(s, &b, t->cname);
    buf_printf(&b, " UIDVALIDITY %u) UID", t->uidvalidity);
    if (ret & SR_MIN)
        buf_printf(&b, " MIN %u", m->uids[0]);
    if (ret & SR_MAX)
        buf_printf(&b, " MAX %u", m->uids[m->n - 1]);
    if (ret & SR_COUNT)
        buf_printf(&b, " COUNT %zu", m->n);
    if (ret & SR_ALL) {
        buf_puts(&b, " ALL ");
        seqset_write_uids(&b, m->uids, m->n);
    }
    if (j->q.uses_modseq) {
        /* RFC 4731 3.2 / RFC 7162 3.1.10, as SEARCH */
        uint64_t ms = m->maxmodseq;
        if (!(ret & (SR_ALL | SR_COUNT)) && (ret & (SR_MIN | SR_MAX))) {
            ms = 0;
            if (ret & SR_MIN)
                ms = m->modseqs[0];
            if ((ret & SR_MAX) && m->modseqs[m->n - 1] > ms)
                ms = m->modseqs[m->n - 1];
        }
        buf_printf(&b, " MODSEQ %llu", (unsigned long long)ms);
    }
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

static enum cmd_result es_job_done(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct es_job *j = arg;
    if (!s) {
        es_job_free(j);
        return CMD_DONE;
    }
    unsigned ret = j->q.esearch ? j->q.ret : SR_ALL;    /* RFC 7377 2.1: ALL by default */
    bool failed = false;
    for (size_t i = 0; i < j->n; i++) {
        struct es_target *t = &j->t[i];
        if (!t->store) {
            /* the selected mailbox: still the one searched? */
            if (!s->view || !t->run)
                continue;
            t->uidvalidity = mailbox_get_info(s->view->mb)->uidvalidity;
        }
        struct search_matches m = {0};
        if (t->run)
            search_run_matches(t->run, &m);
        int rc = t->rc < 0 ? t->rc : m.rc;
        if (rc == STORAGE_ERR_NOTFOUND)
            continue;   /* deleted meanwhile: as if it had not been there */
        if (rc < 0) {
            log_err("ESEARCH in %s failed: %s", t->cname, storage_strerror(rc));
            failed = true;
            continue;
        }
        if (!t->store && (ret & SR_SAVE))
            save_result(s->view, ret, &m);
        write_one(s, cmd, j, t, &m, ret);
    }
    if (failed)
        imap_tagged(s, cmd, "NO", "[SERVERBUG] Search failed in some mailboxes");
    else
        imap_tagged(s, cmd, "OK", "ESEARCH completed");
    es_job_free(j);
    return CMD_DONE;
}

static bool has_dollar(const struct skey *k)
{
    if ((k->op == SK_SEQ || k->op == SK_UID) && k->set.dollar)
        return true;
    for (size_t i = 0; i < k->nkids; i++)
        if (has_dollar(k->kids[i]))
            return true;
    return false;
}

/* one-or-more-mailbox (RFC 5465 6): mailbox / "(" mailbox *(SP mailbox) ")" */
static bool parse_names(struct imap_session *s, struct imap_cmd *cmd, enum es_kind kind, struct es_named *nv,
                        size_t *nn, const char **err)
{
    struct imap_parser *ps = &cmd->ps;
    bool list = imap_p_char(ps, '(');
    do {
        struct imap_str name;
        if (!imap_p_astring(ps, cmd, &name) || name.file) {
            *err = "Mailbox name expected";
            return false;
        }
        if (*nn >= ES_MAX_NAMED) {
            *err = NULL;    /* NO [LIMIT] */
            return false;
        }
        char internal[IMAP_MAX_CLIENT_NAME + 1];
        const char *why = NULL;
        nv[*nn].kind = kind;
        nv[*nn].name = name.len <= 4 * IMAP_MAX_CLIENT_NAME && !memchr(name.s, '\0', name.len) &&
                               imap_mailbox_from_client(s, name.s, name.len, internal, &why)
                           ? xstrdup(internal)
                           : NULL;
        (*nn)++;
    } while (list && imap_p_sp(ps));
    if (list && !imap_p_char(ps, ')')) {
        *err = "Expected ) after the mailbox names";
        return false;
    }
    return true;
}

/* "IN (" source-mbox [SP "(" scope-options ")"] ")" after "IN (". */
static bool parse_sources(struct imap_session *s, struct imap_cmd *cmd, unsigned *flags, struct es_named *nv,
                          size_t *nn, const char **err)
{
    struct imap_parser *ps = &cmd->ps;
    bool first = true;
    for (;;) {
        if (!first && imap_p_char(ps, ')'))
            return true;
        if (!first && !imap_p_sp(ps)) {
            *err = "Invalid source options";
            return false;
        }
        if (!first && imap_p_peek(ps, '(')) {
            /* scope options: none is defined (RFC 7377 4) */
            *err = "Unknown scope option";
            return false;
        }
        first = false;
        char *a = imap_p_atom(ps, cmd);
        if (!a) {
            *err = "Source option expected";
            return false;
        }
        if (strcasecmp(a, "selected") == 0) {
            *flags |= ES_SELECTED;
        } else if (strcasecmp(a, "inboxes") == 0) {
            *flags |= ES_INBOXES;
        } else if (strcasecmp(a, "personal") == 0) {
            *flags |= ES_PERSONAL;
        } else if (strcasecmp(a, "subscribed") == 0) {
            *flags |= ES_SUBSCRIBED;
        } else if (strcasecmp(a, "subtree") == 0 || strcasecmp(a, "subtree-one") == 0 ||
                   strcasecmp(a, "mailboxes") == 0) {
            enum es_kind k = strcasecmp(a, "subtree") == 0       ? ES_SUBTREE
                             : strcasecmp(a, "subtree-one") == 0 ? ES_SUBTREE_ONE
                                                                 : ES_MAILBOXES;
            if (!imap_p_sp(ps)) {
                *err = "Mailbox name expected";
                return false;
            }
            if (!parse_names(s, cmd, k, nv, nn, err))
                return false;
        } else {
            /* "selected-delayed" is not valid here (RFC 7377 2.2) */
            *err = "Unknown source option";
            return false;
        }
    }
}

/* The selected mailbox's internal client name (into out). */
static void selected_name(struct imap_session *s, struct buf *out)
{
    struct imap_view *v = s->view;
    access_client_name(&s->who, mail_user_name(imap_view_store(v)), mailbox_get_info(v->mb)->name, out);
}

IMAP_CMD(cmd_esearch)
{
    struct es_named nv[ES_MAX_NAMED];
    size_t nn = 0;
    unsigned flags = 0;
    const char *err = "Invalid ESEARCH arguments";
    struct es_job *j = xcalloc(1, sizeof(*j));
    struct es_ctx x = {.s = s, .max = (size_t)config_int(CFG_IMAP_MULTISEARCH_MAX_MAILBOXES)};
    struct buf selname = BUF_INIT;
    struct imap_parser *ps = &cmd->ps;

    /* [SP "IN" SP "(" ...] */
    const char *save = ps->p;
    size_t savefile = ps->next_file;
    char *in = imap_p_sp(ps) ? imap_p_atom(ps, cmd) : NULL;
    if (in && strcasecmp(in, "IN") == 0) {
        if (!imap_p_sp(ps) || !imap_p_char(ps, '(')) {
            err = "Expected IN (source options)";
            goto bad;
        }
        if (!parse_sources(s, cmd, &flags, nv, &nn, &err)) {
            if (!err) {
                imap_tagged(s, cmd, "NO", "[LIMIT] Too many mailboxes named (at most %d)", ES_MAX_NAMED);
                goto out;
            }
            goto bad;
        }
    } else {
        ps->p = save;
        ps->next_file = savefile;
        ps->error = NULL;
        flags = ES_SELECTED;    /* RFC 7377 2.2: the default */
    }
    const char *status, *code;
    int maxdepth = (int)config_int(CFG_SEARCH_MAXDEPTH);
    if (!search_parse(ps, cmd, maxdepth, &j->q, &status, &code, &err)) {
        if (code)
            imap_tagged(s, cmd, status, "[%s] %s", code, err);
        else
            imap_tagged(s, cmd, status, "%s", err);
        goto out;
    }
    if (j->q.ret & ~(unsigned)(SR_MIN | SR_MAX | SR_ALL | SR_COUNT | SR_SAVE)) {
        /* return options of other extensions (CONTEXT, PARTIAL) are not
         * implemented per mailbox here */
        err = "RETURN option not supported by ESEARCH";
        goto bad;
    }
    bool only_selected = flags == ES_SELECTED && nn == 0;
    if ((flags & ES_SELECTED) && (s->state != IMAP_SELECTED || !s->view)) {
        err = "No mailbox selected";    /* RFC 7377 2.2: BAD */
        goto bad;
    }
    if ((j->q.ret & SR_SAVE) && !only_selected) {
        err = "SAVE needs the selected mailbox as the only source";   /* RFC 7377 2.2 */
        goto bad;
    }
    if (has_dollar(j->q.root) && !only_selected) {
        err = "$ refers to the selected mailbox only";
        goto bad;
    }
    if ((s->enabled & EN_UIDONLY) && search_has_msn_key(j->q.root)) {
        imap_tagged(s, cmd, "BAD", "[UIDREQUIRED] Message numbers are not allowed once UIDONLY is enabled");
        goto out;
    }
    if (j->q.uses_modseq)
        imap_enable_condstore(s);   /* RFC 7162 3.1 */

    /* The candidates, by internal client name. */
    if (flags & ES_SELECTED) {
        selected_name(s, &selname);
        cand_add(&x, buf_cstr(&selname), true);
    }
    if (s->mu && !s->who.anonymous) {
        if (flags & ES_INBOXES)
            cand_add(&x, "INBOX", false);   /* the only mailbox delivery targets by default */
        if (flags & ES_PERSONAL) {
            struct mbox_ref own = {.ns = NS_PERSONAL};
            snprintf(own.store, sizeof(own.store), "%s", mail_user_name(s->mu));
            list_store(&x, &own, NULL, false);
        }
        if (flags & ES_SUBSCRIBED)
            (void)mailbox_list_subscriptions(s->mu, sub_cb, &x);
    }
    for (size_t i = 0; i < nn && !x.over; i++) {
        if (!nv[i].name)
            continue;
        cand_add(&x, nv[i].name, true);
        if (nv[i].kind == ES_MAILBOXES)
            continue;
        /* RFC 7377 2.2: subtree loops cannot happen (names are strings in
         * one store), only the store of the root is listed */
        struct mbox_ref ref;
        if (access_resolve(&s->who, nv[i].name, &ref) == 0)
            list_store(&x, &ref, nv[i].name, nv[i].kind == ES_SUBTREE_ONE);
    }
    if (x.over) {
        imap_tagged(s, cmd, "NO", "[LIMIT] Too many mailboxes to search (at most %zu)", x.max);
        goto out;
    }
    qsort(x.c, x.n, sizeof(*x.c), cmp_cand);

    /* Rights and stores; duplicates once (a name named explicitly sorts
     * first among equal names). */
    j->t = xcalloc(x.n ? x.n : 1, sizeof(*j->t));
    snprintf(j->reader, sizeof(j->reader), "%s", s->who.user);
    j->maxtext = (size_t)config_int(CFG_MAXMESSAGESIZE);
    /* the selected mailbox is searched through the view wherever it
     * comes from (selected, personal, ...) */
    if (s->view && selname.len == 0)
        selected_name(s, &selname);
    const char *sel = s->view ? buf_cstr(&selname) : NULL;
    for (size_t i = 0; i < x.n; i++) {
        if (i > 0 && strcmp(x.c[i].name, x.c[i - 1].name) == 0)
            continue;
        struct es_target *t = &j->t[j->n];
        struct mbox_ref ref;
        if (access_resolve(&s->who, x.c[i].name, &ref) < 0)
            continue;
        acl_rights_t need = x.c[i].named ? ACL_READ : ACL_READ | ACL_LOOKUP;
        acl_rights_t r = 0;
        if (sel && strcmp(x.c[i].name, sel) == 0) {
            r = imap_view_rights(s->view);
            if ((r & need) != need)
                continue;
            t->cname = xstrdup(x.c[i].name);
            t->run = search_run_new_selected(s, &j->q);
            j->n++;
            continue;
        }
        if (access_rights(&s->who, &ref, &r) < 0 || (r & need) != need)
            continue;   /* RFC 7377 2.2: ignored */
        struct mail_user *u = NULL;
        bool own = s->mu && strcmp(ref.store, mail_user_name(s->mu)) == 0;
        if ((own ? mail_user_open(ref.store, false, &u) : access_open_store(&ref, &u)) < 0 || !u)
            continue;
        t->cname = xstrdup(x.c[i].name);
        t->ref = ref;
        t->store = u;
        t->own = own;
        j->n++;
    }
    for (size_t i = 0; i < x.n; i++)
        free(x.c[i].name);
    free(x.c);
    for (size_t i = 0; i < nn; i++)
        free(nv[i].name);
    buf_free(&selname);
    if (j->n == 0) {
        imap_tagged(s, cmd, "OK", "ESEARCH completed");
        es_job_free(j);
        return CMD_DONE;
    }
    imap_progress_start(s, 0);      /* INPROGRESS (RFC 9585): messages searched so far */
    return imap_cmd_job(s, cmd, "search", NULL, es_job_run, es_job_done, j);

bad:
    imap_tagged(s, cmd, "BAD", "%s", err);
out:
    for (size_t i = 0; i < x.n; i++)
        free(x.c[i].name);
    free(x.c);
    for (size_t i = 0; i < nn; i++)
        free(nv[i].name);
    buf_free(&selname);
    es_job_free(j);
    return CMD_DONE;
}
