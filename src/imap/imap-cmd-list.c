/* imap-cmd-list.c - LIST (RFC 9051 6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819
 * LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 9590 LIST-METADATA) and LSUB
 * (IMAP4rev1).
 *
 * The hierarchy is implicit: "a/b" may exist without "a". We build one
 * sorted table of names: existing mailboxes, subscribed names and every
 * ancestor of either, with flags propagated upwards (has an existing
 * descendant, has a subscribed descendant). An ancestor that does not
 * exist is shown as "\NonExistent \HasChildren" (RFC 9051 6.3.9.6) - or
 * "\Noselect \HasChildren" to IMAP4rev1 clients using plain LIST.
 */
#include "imap.h"
#include "config.h"
#include "auth.h"

enum {
    SEL_SUBSCRIBED = 1u << 0,
    SEL_REMOTE = 1u << 1,
    SEL_RECURSIVEMATCH = 1u << 2,
    SEL_SPECIALUSE = 1u << 3,
    RET_SUBSCRIBED = 1u << 8,
    RET_CHILDREN = 1u << 9,
    RET_SPECIALUSE = 1u << 10,
    RET_STATUS = 1u << 11,
    RET_MYRIGHTS = 1u << 12,    /* RFC 8440 */
    RET_METADATA = 1u << 13,    /* RFC 9590 */
};

#define MAX_PATTERNS IMAP_LIST_MAX_PATTERNS

struct node {
    char *name;
    bool exists;
    bool subscribed;
    bool has_child;         /* an existing descendant */
    bool has_sub_desc;      /* a subscribed descendant */
    uint32_t special_use;
    int info;               /* index into infos or -1 */
    bool level;             /* a namespace root or an account level
                               ("Other Users/bob"): \Noselect, never
                               \NonExistent (it is a real level) */
    acl_rights_t rights;    /* the session's rights (existing mailboxes) */
    /* LIST-EXTENDED selection (filled by mark_selection) */
    bool matched;           /* matches one of the patterns */
    bool meets;             /* meets the selection criteria itself */
    bool sel_desc;          /* a descendant meets the selection criteria */
    bool sel_desc_unlisted; /* ... and does not match the patterns */
};

struct list_ctx {
    struct node *n;
    size_t count, cap;
    struct mailbox_info *infos;
    char (*stores)[AUTH_MAX_USERNAME + 16];     /* store of infos[i] */
    size_t ninfos, cinfos;
    bool want_info;
};

static void add_node(struct list_ctx *c, const char *name, bool exists, bool subscribed, uint32_t use, int info)
{
    ARRAY_GROW(c->n, c->count, c->cap);
    struct node *x = &c->n[c->count++];
    memset(x, 0, sizeof(*x));
    x->name = xstrdup(name);
    x->exists = exists;
    x->subscribed = subscribed;
    x->has_child = false;
    x->has_sub_desc = false;
    x->special_use = use;
    x->info = info;
}

/* One entry of access_list: an existing mailbox of any namespace, or a
 * \Noselect level. Subscriptions come from the session's own store
 * (sub_cb), never from the owner's flags of a foreign mailbox. */
static int list_cb(const struct access_listed *e, void *arg)
{
    struct list_ctx *c = arg;
    if (!e->info) {
        add_node(c, e->name, false, false, 0, -1);
        c->n[c->count - 1].level = true;
        return 0;
    }
    int idx = -1;
    if (c->want_info && e->ref) {
        if (c->ninfos == c->cinfos) {
            size_t nc = c->cinfos ? c->cinfos * 2 : 16;
            c->infos = xrealloc(c->infos, nc * sizeof(*c->infos));
            c->stores = xrealloc(c->stores, nc * sizeof(*c->stores));
            c->cinfos = nc;
        }
        c->infos[c->ninfos] = *e->info;
        snprintf(c->stores[c->ninfos], sizeof(c->stores[0]), "%s", e->ref->store);
        idx = (int)c->ninfos++;
    }
    add_node(c, e->name, true, false, e->info->special_use, idx);
    c->n[c->count - 1].rights = e->rights;
    return 0;
}

static void sub_cb(const char *name, void *arg)
{
    add_node(arg, name, false, true, 0, -1);
}

static int cmp_node(const void *a, const void *b)
{
    const struct node *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    if (r)
        return r;
    /* existing entries first so the merge keeps their data */
    return (int)y->exists - (int)x->exists;
}

static struct node *find(struct list_ctx *c, const char *name, size_t len)
{
    size_t lo = 0, hi = c->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strncmp(c->n[mid].name, name, len);
        if (r == 0 && c->n[mid].name[len] != '\0')
            r = 1;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->count && strncmp(c->n[lo].name, name, len) == 0 && c->n[lo].name[len] == '\0')
        return &c->n[lo];
    return NULL;
}

static void sort_merge(struct list_ctx *c)
{
    if (c->count == 0)
        return;
    qsort(c->n, c->count, sizeof(*c->n), cmp_node);
    size_t w = 0;
    for (size_t i = 0; i < c->count; i++) {
        if (w > 0 && strcmp(c->n[w - 1].name, c->n[i].name) == 0) {
            c->n[w - 1].subscribed |= c->n[i].subscribed;
            c->n[w - 1].level |= c->n[i].level;
            free(c->n[i].name);
            continue;
        }
        c->n[w++] = c->n[i];
    }
    c->count = w;
}

/* Add every missing ancestor, then propagate flags upwards. */
static void build_tree(struct list_ctx *c)
{
    sort_merge(c);
    size_t orig = c->count;
    for (size_t i = 0; i < orig; i++) {
        const char *name = c->n[i].name; /* heap string: stable while c->n grows */
        for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
            ARRAY_GROW(c->n, c->count, c->cap);
            struct node *x = &c->n[c->count++];
            memset(x, 0, sizeof(*x));
            x->name = xstrndup(name, (size_t)(p - name));
            x->info = -1;
        }
    }
    sort_merge(c);
    for (size_t i = 0; i < c->count; i++) {
        struct node *x = &c->n[i];
        if (!x->exists && !x->subscribed)
            continue;
        const char *name = x->name;
        for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
            struct node *a = find(c, name, (size_t)(p - name));
            if (!a)
                continue;
            if (x->exists)
                a->has_child = true;
            if (x->subscribed)
                a->has_sub_desc = true;
        }
    }
}

static void list_ctx_free(struct list_ctx *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->n[i].name);
    free(c->n);
    free(c->infos);
    free(c->stores);
}

/* Client pattern (reference + pattern) to internal form. */
static char *pattern_to_internal(struct imap_session *s, const char *ref, const char *pat)
{
    struct buf raw = BUF_INIT, out = BUF_INIT;
    buf_puts(&raw, ref);
    buf_puts(&raw, pat);
    bool ok;
    if (s->enabled & (EN_UTF8 | EN_IMAP4REV2)) {
        buf_append(&out, raw.data ? raw.data : "", raw.len);
        ok = true;
    } else {
        ok = mutf7_to_utf8(raw.data ? raw.data : "", raw.len, &out);
    }
    buf_free(&raw);
    if (!ok) {
        buf_free(&out);
        return NULL;
    }
    char sep = imap_hier_sep();
    if (sep != '/') {
        for (size_t i = 0; i < out.len; i++) {
            if (out.data[i] == '/')
                out.data[i] = '\x01'; /* a literal '/' never matches */
            else if (out.data[i] == sep)
                out.data[i] = '/';
        }
    }
    if (!out.data)
        buf_puts(&out, "");
    return buf_release(&out);
}

static bool match_any(struct imap_list_pattern **pats, size_t np, const char *name)
{
    for (size_t i = 0; i < np; i++)
        if (imap_list_pattern_match(pats[i], name))
            return true;
    return false;
}

/* LSUB: does some subscribed descendant of x also match (so x itself is
 * not needed as a \Noselect placeholder, RFC 3501 6.3.9)? All names with
 * x's prefix are contiguous in the sorted table. */
static bool sub_desc_matches(struct list_ctx *c, const struct node *x, struct imap_list_pattern **pats, size_t np)
{
    size_t len = strlen(x->name);
    for (size_t i = (size_t)(x - c->n) + 1; i < c->count; i++) {
        const char *nm = c->n[i].name;
        int r = strncmp(nm, x->name, len);
        if (r > 0)
            break;
        if (r < 0 || nm[len] != '/')
            continue;
        if (c->n[i].subscribed && match_any(pats, np, nm))
            return true;
    }
    return false;
}

/* RFC 9051 6.3.9.1: every selection option given restricts the result,
 * so a name meets the criteria only if it satisfies all of them. Only
 * called with SUBSCRIBED and/or SPECIAL-USE selected. */
static bool meets_selection(const struct node *x, unsigned opts)
{
    if ((opts & SEL_SUBSCRIBED) && !x->subscribed)
        return false;
    /* RFC 6154 5.1: only mailboxes with a special-use attribute */
    if ((opts & SEL_SPECIALUSE) && !(x->exists && x->special_use))
        return false;
    return true;
}

/* Compute matched/meets for every node, then push "has a descendant
 * that meets the criteria" (and "... that this command does not return
 * because it does not match the patterns") up to every ancestor. All
 * ancestors are in the table (build_tree), so find() cannot miss. */
static void mark_selection(struct list_ctx *c, unsigned opts, struct imap_list_pattern **pats, size_t np)
{
    for (size_t i = 0; i < c->count; i++) {
        struct node *x = &c->n[i];
        x->matched = match_any(pats, np, x->name);
        x->meets = meets_selection(x, opts);
    }
    for (size_t i = 0; i < c->count; i++) {
        const struct node *x = &c->n[i];
        if (!x->meets)
            continue;
        const char *name = x->name;
        for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
            struct node *a = find(c, name, (size_t)(p - name));
            if (!a)
                continue;
            a->sel_desc = true;
            if (!x->matched)
                a->sel_desc_unlisted = true;
        }
    }
}

static void put_childinfo(struct buf *b, unsigned opts)
{
    buf_puts(b, " (\"CHILDINFO\" (");
    bool first = true;
    if (opts & SEL_SUBSCRIBED) {
        buf_puts(b, "\"SUBSCRIBED\"");
        first = false;
    }
    if (opts & SEL_SPECIALUSE) {
        if (!first)
            buf_putc(b, ' ');
        buf_puts(b, "\"SPECIAL-USE\"");
    }
    buf_puts(b, "))");
}

static void put_attr(struct buf *b, bool *first, const char *a)
{
    if (!*first)
        buf_putc(b, ' ');
    buf_puts(b, a);
    *first = false;
}

static void put_special(struct buf *b, bool *first, uint32_t use)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } t[] = {{SPECIAL_ALL, "\\All"},         {SPECIAL_ARCHIVE, "\\Archive"}, {SPECIAL_DRAFTS, "\\Drafts"},
             {SPECIAL_FLAGGED, "\\Flagged"}, {SPECIAL_IMPORTANT, "\\Important"}, {SPECIAL_JUNK, "\\Junk"},       {SPECIAL_SENT, "\\Sent"},
             {SPECIAL_TRASH, "\\Trash"}};
    for (size_t i = 0; i < ARRAY_SIZE(t); i++)
        if (use & t[i].bit)
            put_attr(b, first, t[i].name);
}

static bool p_opt_list(struct imap_session *s, struct imap_parser *ps, struct imap_cmd *cmd, unsigned *opts,
                       unsigned *status_items, struct imap_list_md *md, bool ret)
{
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
        if (!ret) {
            if (strcasecmp(a, "SUBSCRIBED") == 0)
                *opts |= SEL_SUBSCRIBED;
            else if (strcasecmp(a, "REMOTE") == 0)
                *opts |= SEL_REMOTE;
            else if (strcasecmp(a, "RECURSIVEMATCH") == 0)
                *opts |= SEL_RECURSIVEMATCH;
            else if (strcasecmp(a, "SPECIAL-USE") == 0)
                *opts |= SEL_SPECIALUSE;
            else
                return false;
        } else {
            if (strcasecmp(a, "SUBSCRIBED") == 0)
                *opts |= RET_SUBSCRIBED;
            else if (strcasecmp(a, "CHILDREN") == 0)
                *opts |= RET_CHILDREN;
            else if (strcasecmp(a, "SPECIAL-USE") == 0)
                *opts |= RET_SPECIALUSE;
            else if (strcasecmp(a, "MYRIGHTS") == 0)
                *opts |= RET_MYRIGHTS;
            else if (strcasecmp(a, "STATUS") == 0) {
                if (!imap_p_sp(ps) || !imap_p_status_items(ps, cmd, status_items))
                    return false;
                *opts |= RET_STATUS;
            } else if (strcasecmp(a, "METADATA") == 0 && !(*opts & RET_METADATA)) {
                if (!imap_list_metadata_parse(s, cmd, md))
                    return false;
                *opts |= RET_METADATA;
            } else
                return false;
        }
    }
    return true;
}

/* LIST-STATUS of a listed mailbox. The own store's counters came with the
 * listing; another store's are read again for this reader (its own \Seen,
 * mailbox_status_as), keeping the last opened store for the next entry. */
struct status_cache {
    struct mail_user *mu;
};

static void status_cache_free(struct status_cache *sc)
{
    if (sc->mu)
        mail_user_close(sc->mu);
    sc->mu = NULL;
}

static void write_list_status(struct imap_session *s, struct status_cache *sc, struct list_ctx *c,
                              const struct node *x, unsigned items)
{
    const struct mailbox_info *info = &c->infos[x->info];
    const char *store = c->stores[x->info];
    if (s->mu && strcmp(store, mail_user_name(s->mu)) == 0) {
        struct mailbox_info mine = *info;
        imap_status_add_recent(s, store, &mine);
        imap_write_status_as(s, s->mu, x->name, &mine, items);
        return;
    }
    if (!sc->mu || strcmp(mail_user_name(sc->mu), store) != 0) {
        status_cache_free(sc);
        struct mbox_ref ref;
        memset(&ref, 0, sizeof(ref));
        snprintf(ref.store, sizeof(ref.store), "%s", store);
        if (access_open_store(&ref, &sc->mu) < 0) {
            sc->mu = NULL;
            return;
        }
    }
    struct mailbox_info mine;
    if (imap_mailbox_status(s, sc->mu, info->name, &mine) < 0)
        return; /* gone since it was listed: no STATUS (RFC 5819 allows) */
    imap_write_status_as(s, sc->mu, x->name, &mine, items);
}

/* LIST-METADATA of a listed mailbox, from its store (the own one, or the
 * one status_cache keeps open). */
static void write_list_metadata(struct imap_session *s, struct status_cache *sc, struct list_ctx *c,
                                const struct node *x, const struct imap_list_md *md)
{
    const struct mailbox_info *info = &c->infos[x->info];
    const char *store = c->stores[x->info];
    struct mail_user *mu;
    if (s->mu && strcmp(store, mail_user_name(s->mu)) == 0) {
        mu = s->mu;
    } else {
        if (!sc->mu || strcmp(mail_user_name(sc->mu), store) != 0) {
            status_cache_free(sc);
            struct mbox_ref ref;
            memset(&ref, 0, sizeof(ref));
            snprintf(ref.store, sizeof(ref.store), "%s", store);
            if (access_open_store(&ref, &sc->mu) < 0) {
                sc->mu = NULL;
                return;
            }
        }
        mu = sc->mu;
    }
    imap_list_metadata_write(s, mu, store, info->name, info->special_use, x->rights, md);
}

static enum cmd_result do_list(struct imap_session *s, struct imap_cmd *cmd, bool lsub)
{
    struct imap_parser *ps = &cmd->ps;
    unsigned opts = 0, status_items = 0;
    struct imap_list_md md;
    md.n = 0;
    bool extended = false;
    char *pats_raw[MAX_PATTERNS];
    size_t np = 0;
    char *ref;
    if (!imap_p_sp(ps))
        goto bad;
    if (!lsub && imap_p_peek(ps, '(')) {
        if (!p_opt_list(s, ps, cmd, &opts, &status_items, &md, false) || !imap_p_sp(ps))
            goto bad;
        extended = true;
        /* RFC 5258 3: RECURSIVEMATCH needs another selection option */
        if ((opts & SEL_RECURSIVEMATCH) && !(opts & (SEL_SUBSCRIBED | SEL_SPECIALUSE)))
            goto bad;
    }
    if (!(ref = imap_p_astring_cstr(ps, cmd)) || !imap_p_sp(ps))
        goto bad;
    if (!lsub && imap_p_char(ps, '(')) {
        extended = true;
        bool first = true;
        while (!imap_p_char(ps, ')')) {
            if (!first && !imap_p_sp(ps))
                goto bad;
            if (np >= MAX_PATTERNS) {
                /* RFC 5258 sets no bound; every pattern is matched against
                 * every visible name, so the list is bounded. */
                imap_tagged(s, cmd, "NO", "[LIMIT] Too many mailbox patterns (at most %d)", MAX_PATTERNS);
                return CMD_DONE;
            }
            first = false;
            if (!(pats_raw[np++] = imap_p_list_mailbox(ps, cmd)))
                goto bad;
        }
        if (np == 0)
            goto bad;
    } else {
        if (!(pats_raw[np++] = imap_p_list_mailbox(ps, cmd)))
            goto bad;
    }
    if (!lsub && imap_p_char(ps, ' ')) {
        char *kw = imap_p_atom(ps, cmd);
        if (!kw || strcasecmp(kw, "RETURN") != 0 || !imap_p_sp(ps) ||
            !p_opt_list(s, ps, cmd, &opts, &status_items, &md, true))
            goto bad;
        extended = true;
    }
    if (!imap_p_end(ps))
        goto bad;

    char sep = imap_hier_sep();
    /* LIST "" "": the hierarchy delimiter (RFC 9051 6.3.9) */
    if (np == 1 && pats_raw[0][0] == '\0' && !extended) {
        /* with a reference, its root (first level and separator) */
        struct buf rb = BUF_INIT;
        const char *cut = strchr(ref, sep);
        size_t rl = cut ? (size_t)(cut - ref) + 1 : 0;
        buf_printf(&rb, "%s (\\Noselect) \"%c\" ", lsub ? "LSUB" : "LIST", sep);
        imap_append_string(&rb, ref, rl);
        imap_untagged(s, "%s", buf_cstr(&rb));
        buf_free(&rb);
        imap_tagged(s, cmd, "OK", "%s completed", lsub ? "LSUB" : "LIST");
        return CMD_DONE;
    }
    /* Bounded before anything is converted or matched (issue 9): a
     * pattern longer than any name, or with more wildcards than any
     * sensible listing needs, is refused as a whole. The bounds are
     * implementation limits, not syntax errors: NO [LIMIT] (RFC 5530). */
    const char *why = imap_list_pattern_limit(ref, (const char *const *)pats_raw, np);
    if (why) {
        imap_tagged(s, cmd, "NO", "%s (at most %d octets per pattern, %d wildcards in all)", why,
                    IMAP_LIST_MAX_PATTERN_LEN, IMAP_LIST_MAX_WILDCARDS);
        return CMD_DONE;
    }
    char *pats_int[MAX_PATTERNS];
    struct imap_list_pattern *pats[MAX_PATTERNS];
    size_t npi = 0;
    for (size_t i = 0; i < np; i++) {
        char *p = pattern_to_internal(s, ref, pats_raw[i]);
        if (p) {
            pats_int[npi] = cmd_strndup(cmd, p, strlen(p));
            pats[npi] = imap_list_pattern_new(p, '/');
            npi++;
            free(p);
        }
    }

    struct list_ctx c = {0};
    c.want_info = (opts & (RET_STATUS | RET_METADATA)) != 0;
    /* Every namespace at once (access_list): the pattern only lets it
     * skip stores that cannot match; each name is matched below. */
    int err = access_list(&s->who, npi == 1 ? pats_int[0] : "*", list_cb, &c);
    if (err >= 0 && s->mu && (lsub || (opts & (SEL_SUBSCRIBED | RET_SUBSCRIBED))))
        err = mailbox_list_subscriptions(s->mu, sub_cb, &c);
    if (err < 0) {
        list_ctx_free(&c);
        for (size_t i = 0; i < npi; i++)
            imap_list_pattern_free(pats[i]);
        imap_reply_access_error(s, cmd, err);
        return CMD_DONE;
    }
    build_tree(&c);
    /* A level has children by definition, also when the pattern ("%")
     * did not make access_list enumerate them. */
    for (size_t i = 0; i < c.count; i++)
        if (c.n[i].level && !c.n[i].exists)
            c.n[i].has_child = true;
    bool selective = !lsub && (opts & (SEL_SUBSCRIBED | SEL_SPECIALUSE));
    if (selective)
        mark_selection(&c, opts, pats, npi);

    bool rev2 = (s->enabled & EN_IMAP4REV2) != 0;
    bool want_sub = lsub || (opts & (SEL_SUBSCRIBED | RET_SUBSCRIBED));
    struct status_cache sc = {0};
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < c.count; i++) {
        struct node *x = &c.n[i];
        bool matches = selective ? x->matched : match_any(pats, npi, x->name);
        bool childinfo = false;
        bool show;
        bool selected; /* meets the selection criteria (not only CHILDINFO) */
        if (lsub) {
            /* RFC 3501 6.3.9: a non-subscribed parent matched via % of a
             * subscribed child is returned with \Noselect. */
            show = matches && (x->subscribed || (x->has_sub_desc && !sub_desc_matches(&c, x, pats, npi)));
            selected = show;
        } else if (selective) {
            selected = matches && x->meets;
            show = selected;
            if (matches && (opts & SEL_RECURSIVEMATCH)) {
                /* RFC 9051 6.3.9.6 Table 3: a name that meets the
                 * criteria and has a descendant that does too carries
                 * CHILDINFO (example 8: "eps2"). A name that does not
                 * meet them is returned only for CHILDINFO, and that is
                 * suppressed as redundant when every such descendant is
                 * returned anyway (example 8: "baz2" for "*2"). The
                 * descendant need not match the pattern (6.3.9.1 Note 2). */
                if (selected)
                    childinfo = x->sel_desc;
                else if (x->sel_desc_unlisted)
                    show = childinfo = true;
            }
        } else {
            /* access_list gives a level (namespace root, account) only
             * when something below it is visible */
            show = matches && (x->exists || x->level || x->has_child);
            selected = show;
        }
        if (!show)
            continue;
        buf_reset(&b);
        buf_printf(&b, "* %s (", lsub ? "LSUB" : "LIST");
        bool first = true;
        if (lsub && !x->subscribed) {
            /* RFC 3501 6.3.9: shown only for a subscribed child, so it
             * is \Noselect as far as LSUB is concerned, even when the
             * mailbox itself exists. */
            put_attr(&b, &first, "\\Noselect");
        } else if (!x->exists) {
            if (lsub || x->level)
                put_attr(&b, &first, "\\Noselect");
            else if (extended || rev2)
                put_attr(&b, &first, "\\NonExistent");
            else
                put_attr(&b, &first, "\\Noselect");
        }
        if (!lsub || x->exists) {
            if (x->has_child)
                put_attr(&b, &first, "\\HasChildren");
            else if (!lsub && (x->exists || x->level))
                put_attr(&b, &first, "\\HasNoChildren");
        }
        if (!lsub && want_sub && x->subscribed)
            put_attr(&b, &first, "\\Subscribed");
        if (!lsub && x->exists)
            put_special(&b, &first, x->special_use);
        buf_printf(&b, ") \"%c\" ", sep);
        imap_append_mailbox(s, &b, x->name);
        if (childinfo)
            put_childinfo(&b, opts);
        buf_puts(&b, "\r\n");
        imap_write(s, b.data, b.len);
        /* RFC 5819 3 / RFC 9051 6.3.9.8 example 11: no STATUS for a
         * name returned only because of CHILDINFO, nor for one that
         * does not exist (not selectable). */
        /* ... and none without "r" on it (RFC 4314 4: STATUS needs r) */
        if ((opts & RET_STATUS) && selected && x->exists && x->info >= 0 && (x->rights & ACL_READ))
            write_list_status(s, &sc, &c, x, status_items);
        /* RFC 9590 3: METADATA after the LIST line of every listed
         * mailbox that meets the selection criteria (example 2: none
         * for one returned for CHILDINFO only) */
        if ((opts & RET_METADATA) && selected && x->exists && x->info >= 0)
            write_list_metadata(s, &sc, &c, x, &md);
        /* RFC 8440 2: MYRIGHTS after the LIST line of every selectable
         * mailbox returned */
        if ((opts & RET_MYRIGHTS) && selected && x->exists && x->rights) {
            char rs[32];
            acl_format_rights(x->rights, rs);
            buf_reset(&b);
            buf_puts(&b, "* MYRIGHTS ");
            imap_append_mailbox(s, &b, x->name);
            buf_printf(&b, " %s\r\n", rs);
            imap_write(s, b.data, b.len);
        }
    }
    status_cache_free(&sc);
    buf_free(&b);
    list_ctx_free(&c);
    for (size_t i = 0; i < npi; i++)
        imap_list_pattern_free(pats[i]);
    imap_tagged(s, cmd, "OK", "%s completed", lsub ? "LSUB" : "LIST");
    return CMD_DONE;
bad:
    imap_tagged(s, cmd, "BAD", "Invalid %s arguments", lsub ? "LSUB" : "LIST");
    return CMD_DONE;
}

IMAP_CMD(cmd_list)
{
    return do_list(s, cmd, false);
}

IMAP_CMD(cmd_lsub)
{
    return do_list(s, cmd, true);
}

/* ---- the LIST response SELECT needs in IMAP4rev2 (RFC 9051 6.3.2) --------- */

struct one_ctx {
    const char *name;
    size_t len;
    bool has_child;
    bool found;
    uint32_t special_use;
    bool own;
};

static int one_cb(const struct access_listed *e, void *arg)
{
    struct one_ctx *c = arg;
    if (strcmp(e->name, c->name) == 0) {
        if (e->info) {
            c->found = true;
            c->special_use = e->info->special_use;
        }
    } else if (strncmp(e->name, c->name, c->len) == 0 && e->name[c->len] == '/') {
        c->has_child = true;
    }
    return 0;
}

struct sub_find {
    const char *name;
    bool found;
};

static void sub_find_cb(const char *name, void *arg)
{
    struct sub_find *f = arg;
    if (strcmp(name, f->name) == 0)
        f->found = true;
}

/* name: internal client name of a mailbox the session may see. */
void imap_list_one(struct imap_session *s, const char *name)
{
    struct one_ctx c = {0};
    c.name = name;
    c.len = strlen(name);
    struct buf pat = BUF_INIT;
    buf_puts(&pat, name);
    buf_putc(&pat, '*');
    int err = access_list(&s->who, buf_cstr(&pat), one_cb, &c);
    buf_free(&pat);
    if (err < 0 || !c.found)
        return;
    struct sub_find f = {name, false};
    if (s->mu)
        (void)mailbox_list_subscriptions(s->mu, sub_find_cb, &f);
    struct buf b = BUF_INIT;
    bool first = true;
    buf_puts(&b, "* LIST (");
    put_attr(&b, &first, c.has_child ? "\\HasChildren" : "\\HasNoChildren");
    if (f.found)
        put_attr(&b, &first, "\\Subscribed");
    put_special(&b, &first, c.special_use);
    buf_printf(&b, ") \"%c\" ", imap_hier_sep());
    imap_append_mailbox(s, &b, name);
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
}
