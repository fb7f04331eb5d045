/* imap-cmd-metadata.c - GETMETADATA SETMETADATA (RFC 5464 METADATA and
 * METADATA-SERVER), and the METADATA responses of LIST ... RETURN
 * (METADATA (...)) (RFC 9590 LIST-METADATA, called from imap-cmd-list.c).
 *
 * Where entries live (storage.h "metadata"): a mailbox's entries in the
 * mailbox's store (so they follow RENAME and go with DELETE and with the
 * account); the server's /shared entries in the shared store of the
 * session's domain ("%shared[@DOMAIN]", created by the first admin who
 * sets one), its /private entries in the user's own store (mailbox id
 * 0). Two entries are computed, never stored: the server's /shared/admin
 * (config metadata_admin, read-only) and a mailbox's /private/specialuse
 * (its RFC 6154 special-use attributes; RFC 6154 4).
 *
 * Rights (RFC 5464 3.3 with RFC 4314): reading or writing a mailbox's
 * entries, /private and /shared alike, needs "l" and one of "r", "s",
 * "w", "i", "p" on it; without "l" the mailbox does not exist for the
 * session. Admins of the mailbox's store (who hold "l" and "a" on it, as
 * in Cyrus) may read and set them as well: cyradm's mboxcfg and info.
 * Server entries: anyone may read them; /shared ones are set by
 * the admins of the domain only (3.3 lets the server restrict that), the
 * /private ones by the user in its own store. /private/specialuse is
 * changed by the mailbox's owner (or a holder of "a"), with CREATE's
 * checks of the attributes (RFC 6154 4: [USEATTR] for an unknown one).
 *
 * No unsolicited METADATA responses are sent (4.4 makes them depend on
 * ENABLE METADATA, which this server does not enable).
 *
 * Interop: cyradm's "info" asks GETMETADATA box ("/private/" STAR) and
 * ("/shared/" STAR), STAR being '*' (Cyrus's ANNOTATEMORE wildcard). An
 * entry specifier of GETMETADATA ending in '/' '*' is therefore taken as
 * its base with DEPTH infinity (and '/' '%' as DEPTH 1); every other
 * '*' or '%' is BAD as RFC 5464 3.2 says.
 *
 * GETMETADATA (and LIST-METADATA) read on the loop, as GETQUOTA and
 * LIST-STATUS do: a few indexed rows, bounded by metadata_max_entries.
 * SETMETADATA writes in a job on the pool keyed by the store it changes.
 */
#include "imap.h"
#include "auth.h"
#include "config.h"
#include "log.h"

#include <ctype.h>

/* Entry specifiers of one GETMETADATA, LIST-METADATA or pairs of one
 * SETMETADATA: more is NO [LIMIT]. */
#define MD_MAX_SPECS 100

/* ---- entry names ------------------------------------------------------------ */

/* Parse one entry (astring) into a lower-case copy owned by cmd.
 * wild: GETMETADATA's Cyrus wildcard suffix ('/' then '*' or '%') is allowed and
 * reported in *depth. Returns NULL (after a BAD) on an invalid name. */
static char *p_entry(struct imap_session *s, struct imap_cmd *cmd, bool wild, int *depth)
{
    struct imap_str e;
    if (!imap_p_astring(&cmd->ps, cmd, &e) || e.file || memchr(e.s, '\0', e.len)) {
        imap_tagged(s, cmd, "BAD", "Invalid entry name");
        return NULL;
    }
    size_t len = e.len;
    if (depth)
        *depth = 0;
    if (wild && len > 2 && e.s[len - 2] == '/' && (e.s[len - 1] == '*' || e.s[len - 1] == '%')) {
        *depth = e.s[len - 1] == '*' ? -1 : 1;
        len -= 2;
    }
    if (!metadata_entry_valid(e.s, len, wild)) {
        imap_tagged(s, cmd, "BAD", "Invalid entry name (RFC 5464 3.2)");
        return NULL;
    }
    char *c = cmd_strndup(cmd, e.s, len);
    for (char *p = c; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return c;
}

/* Is name the entry base or below it within depth? */
static bool entry_covers(const char *base, int depth, const char *name)
{
    size_t bl = strlen(base);
    if (strcmp(name, base) == 0)
        return true;
    if (depth == 0 || strncmp(name, base, bl) != 0 || name[bl] != '/')
        return false;
    return depth < 0 || !strchr(name + bl + 1, '/');
}

/* ---- special-use as /private/specialuse (RFC 6154 4) ------------------------ */

static const struct {
    uint32_t bit;
    const char *name;
} special_names[] = {{SPECIAL_ALL, "\\All"},         {SPECIAL_ARCHIVE, "\\Archive"}, {SPECIAL_DRAFTS, "\\Drafts"},
                     {SPECIAL_FLAGGED, "\\Flagged"}, {SPECIAL_IMPORTANT, "\\Important"}, {SPECIAL_JUNK, "\\Junk"},       {SPECIAL_SENT, "\\Sent"},
                     {SPECIAL_TRASH, "\\Trash"}};

/* "\Sent \Trash" as LIST shows them; "" for none. */
static void special_format(struct buf *b, uint32_t use)
{
    for (size_t i = 0; i < ARRAY_SIZE(special_names); i++) {
        if (!(use & special_names[i].bit))
            continue;
        if (b->len)
            buf_putc(b, ' ');
        buf_puts(b, special_names[i].name);
    }
}

/* Parse a value of /private/specialuse: space-separated attributes;
 * false at an unknown one. */
static bool special_parse(const char *v, size_t len, uint32_t *use)
{
    *use = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && v[i] == ' ')
            i++;
        size_t j = i;
        while (j < len && v[j] != ' ')
            j++;
        if (j > i) {
            bool found = false;
            for (size_t k = 0; k < ARRAY_SIZE(special_names); k++) {
                if (strlen(special_names[k].name) == j - i &&
                    strncasecmp(v + i, special_names[k].name, j - i) == 0) {
                    *use |= special_names[k].bit;
                    found = true;
                }
            }
            if (!found)
                return false;
        }
        i = j;
    }
    return true;
}

/* ---- collecting and writing entries --------------------------------------- */

struct md_item {
    char *name;
    char *value;        /* NULL: NIL */
    size_t len;
};

struct md_out {
    struct md_item *v;
    size_t n, cap;
    uint64_t maxsize;   /* UINT64_MAX: no MAXSIZE */
    uint64_t longest;   /* biggest value left out (LONGENTRIES) */
    bool found;         /* the current specifier matched something */
};

static void out_add(struct md_out *o, const char *name, const void *value, size_t len, bool nil)
{
    o->found = true;
    if (!nil && len > o->maxsize) {
        if (len > o->longest)
            o->longest = len;
        return;
    }
    ARRAY_GROW(o->v, o->n, o->cap);
    struct md_item *it = &o->v[o->n++];
    it->name = xstrdup(name);
    it->len = nil ? 0 : len;
    it->value = NULL;
    if (!nil) {
        it->value = xmalloc(len + 1);
        if (len)
            memcpy(it->value, value, len);
        it->value[len] = '\0';
    }
}

static int out_cb(const char *name, const void *value, size_t len, void *arg)
{
    out_add(arg, name, value, len, false);
    return 0;
}

static void out_free(struct md_out *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->v[i].name);
        free(o->v[i].value);
    }
    free(o->v);
    memset(o, 0, sizeof(*o));
}

static int cmp_item(const void *a, const void *b)
{
    const struct md_item *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    /* a value before a NIL of the same name, so the value is kept */
    return r ? r : (int)(x->value == NULL) - (int)(y->value == NULL);
}

/* Sorted, each name once (overlapping specifiers). */
static void out_finish(struct md_out *o)
{
    if (o->n > 1)
        qsort(o->v, o->n, sizeof(*o->v), cmp_item);
    size_t w = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (w > 0 && strcmp(o->v[w - 1].name, o->v[i].name) == 0) {
            free(o->v[i].name);
            free(o->v[i].value);
            continue;
        }
        o->v[w++] = o->v[i];
    }
    o->n = w;
}

/* A value: NIL, a quoted string or literal, or a literal8 when it holds
 * a NUL (RFC 5464 5: value = nstring / literal8; a literal cannot carry
 * NUL, RFC 9051 4.3). */
static void append_value(struct buf *b, const struct md_item *it)
{
    if (!it->value)
        buf_puts(b, "NIL");
    else if (memchr(it->value, '\0', it->len)) {
        buf_printf(b, "~{%zu}\r\n", it->len);
        buf_append(b, it->value, it->len);
    } else
        imap_append_string(b, it->value, it->len);
}

/* "* METADATA <mailbox> (entry value ...)": mailbox_wire is the name as
 * the client sees it, already encoded ("\"\"" for the server). Nothing
 * when there is nothing to show. */
static void write_metadata(struct imap_session *s, const char *mailbox_wire, const struct md_out *o)
{
    if (o->n == 0)
        return;
    struct buf b = BUF_INIT;
    buf_printf(&b, "* METADATA %s (", mailbox_wire);
    for (size_t i = 0; i < o->n; i++) {
        if (i)
            buf_putc(&b, ' ');
        imap_append_astring(&b, o->v[i].name);
        buf_putc(&b, ' ');
        append_value(&b, &o->v[i]);
    }
    buf_puts(&b, ")\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

struct md_spec {
    char *entry;
    int depth;          /* 0, 1, -1 = infinity */
};

/* The entries of one mailbox for specs: stored ones from store (its
 * name there: in_store), /private/specialuse from use. Depth 0 misses
 * are NIL (as RFC 9590 4 shows, and as the depth-0 entries a client
 * names). Returns a storage error (NOTFOUND: the mailbox went). */
static int collect_mailbox(struct imap_session *s, struct mail_user *store, const char *in_store, uint32_t use,
                           const struct md_spec *specs, size_t n, struct md_out *o)
{
    const char *reader = s->who.anonymous ? NULL : s->who.user;
    for (size_t i = 0; i < n; i++) {
        o->found = false;
        int r = metadata_get(store, in_store, reader, specs[i].entry, specs[i].depth, out_cb, o);
        if (r < 0)
            return r;
        if (entry_covers(specs[i].entry, specs[i].depth, "/private/specialuse") && use) {
            struct buf v = BUF_INIT;
            special_format(&v, use);
            out_add(o, "/private/specialuse", v.data, v.len, false);
            buf_free(&v);
        }
        if (!o->found && specs[i].depth == 0)
            out_add(o, specs[i].entry, NULL, 0, true);
    }
    return 0;
}

/* The server's entries for specs: /shared ones from the domain's shared
 * store (none when it does not exist yet), /private ones from the
 * session's own store, /shared/admin from the configuration. */
static int collect_server(struct imap_session *s, const struct md_spec *specs, size_t n, struct md_out *o)
{
    char shname[AUTH_MAX_USERNAME + 16];
    access_shared_store(s->who.domain, shname, sizeof(shname));
    struct mail_user *sh = NULL;
    bool tried = false;
    int r = 0;
    const char *admin = config_str(CFG_METADATA_ADMIN);
    for (size_t i = 0; i < n && r == 0; i++) {
        o->found = false;
        bool priv = metadata_entry_private(specs[i].entry);
        if (priv) {
            if (s->mu && !s->who.anonymous)
                r = metadata_get(s->mu, NULL, s->who.user, specs[i].entry, specs[i].depth, out_cb, o);
        } else {
            if (!tried) {
                tried = true;
                int e = mail_user_open(shname, false, &sh);
                if (e < 0) {
                    sh = NULL;
                    if (e != STORAGE_ERR_NOTFOUND)
                        r = e;
                }
            }
            if (sh && r == 0)
                r = metadata_get(sh, NULL, NULL, specs[i].entry, specs[i].depth, out_cb, o);
            if (r == 0 && *admin && entry_covers(specs[i].entry, specs[i].depth, "/shared/admin"))
                out_add(o, "/shared/admin", admin, strlen(admin), false);
        }
        if (r == 0 && !o->found && specs[i].depth == 0)
            out_add(o, specs[i].entry, NULL, 0, true);
    }
    if (sh)
        mail_user_close(sh);
    return r;
}

/* RFC 5464 3.3 with ACLs: "l" and one of "r", "s", "w", "i", "p". */
static bool may_annotate(acl_rights_t r)
{
    return (r & ACL_LOOKUP) && (r & (ACL_READ | ACL_SEEN | ACL_WRITE | ACL_INSERT | ACL_POST));
}

/* ---- GETMETADATA ----------------------------------------------------------------- */

/* getmetadata-options: "(" option *(SP option) ")" with MAXSIZE number and
 * DEPTH 0/1/infinity. */
static bool p_get_options(struct imap_parser *ps, struct imap_cmd *cmd, uint64_t *maxsize, int *depth,
                          bool *seen_max, bool *seen_depth)
{
    if (!imap_p_char(ps, '('))
        return false;
    bool first = true;
    while (!imap_p_char(ps, ')')) {
        if (!first && !imap_p_sp(ps))
            return false;
        first = false;
        char *o = imap_p_atom(ps, cmd);
        if (!o || !imap_p_sp(ps))
            return false;
        if (strcasecmp(o, "MAXSIZE") == 0) {
            uint32_t v;
            if (*seen_max || !imap_p_number(ps, &v))
                return false;
            *seen_max = true;
            *maxsize = v;
        } else if (strcasecmp(o, "DEPTH") == 0) {
            char *d = imap_p_atom(ps, cmd);
            if (*seen_depth || !d)
                return false;
            *seen_depth = true;
            if (strcmp(d, "0") == 0)
                *depth = 0;
            else if (strcmp(d, "1") == 0)
                *depth = 1;
            else if (strcasecmp(d, "infinity") == 0)
                *depth = -1;
            else
                return false;
        } else {
            return false;
        }
    }
    return true;
}

/* The next token is an option list (and not an entry list): "(" and then
 * an option name; entries start with '/' (or a quote or literal). */
static bool options_follow(const struct imap_parser *ps)
{
    if (ps->end - ps->p < 2 || ps->p[0] != '(')
        return false;
    const char *q = ps->p + 1;
    size_t left = (size_t)(ps->end - q);
    return (left >= 7 && strncasecmp(q, "MAXSIZE", 7) == 0) || (left >= 5 && strncasecmp(q, "DEPTH", 5) == 0);
}

IMAP_CMD(cmd_getmetadata)
{
    struct imap_parser *ps = &cmd->ps;
    uint64_t maxsize = UINT64_MAX;
    int depth = 0;
    bool seen_max = false, seen_depth = false;
    struct imap_str nm;
    if (!imap_p_sp(ps))
        goto bad;
    if (imap_p_peek(ps, '(')) {
        if (!p_get_options(ps, cmd, &maxsize, &depth, &seen_max, &seen_depth) || !imap_p_sp(ps))
            goto bad;
    }
    if (!imap_p_astring(ps, cmd, &nm) || !imap_p_sp(ps))
        goto bad;
    /* RFC 5464 4.2.1's example puts the options after the mailbox (an
     * erratum of the ABNF's order); Cyrus and Dovecot accept both. */
    if (options_follow(ps)) {
        if (!p_get_options(ps, cmd, &maxsize, &depth, &seen_max, &seen_depth) || !imap_p_sp(ps))
            goto bad;
    }
    struct md_spec specs[MD_MAX_SPECS];
    size_t n = 0;
    bool list = imap_p_char(ps, '(');
    for (;;) {
        if (n > 0 && !imap_p_sp(ps))
            break;
        if (n >= MD_MAX_SPECS) {
            imap_tagged(s, cmd, "NO", "[LIMIT] Too many entries (at most %d)", MD_MAX_SPECS);
            return CMD_DONE;
        }
        int wdepth;
        char *e = p_entry(s, cmd, true, &wdepth);
        if (!e)
            return CMD_DONE;
        specs[n].entry = e;
        specs[n].depth = wdepth ? wdepth : depth;
        n++;
        /* a single entry, or (RFC 5464 4.4.1's examples) several without
         * parentheses */
        if (list ? imap_p_peek(ps, ')') : imap_p_end(ps))
            break;
    }
    if ((list && !imap_p_char(ps, ')')) || !imap_p_end(ps))
        goto bad;

    struct md_out o = {0};
    o.maxsize = maxsize;
    int r;
    struct buf wire = BUF_INIT;
    if (nm.len == 0 && !nm.file) {
        buf_puts(&wire, "\"\"");
        r = collect_server(s, specs, n, &o);
    } else {
        struct mbox_ref ref;
        struct mail_user *store;
        acl_rights_t rights;
        if (!imap_resolve(s, cmd, &nm, ACL_LOOKUP, true, &ref, &store, &rights))
            return CMD_DONE;
        if (!may_annotate(rights) && !access_is_admin_of_store(&s->who, ref.store)) {
            mail_user_close(store);
            imap_tagged(s, cmd, "NO", "[NOPERM] No right to read annotations of this mailbox");
            return CMD_DONE;
        }
        struct mailbox_info info;
        r = mailbox_status(store, ref.name, &info);
        if (r == 0)
            r = collect_mailbox(s, store, ref.name, info.special_use, specs, n, &o);
        imap_append_store_mailbox(s, &wire, ref.store, ref.name);
        mail_user_close(store);
    }
    if (r < 0) {
        out_free(&o);
        buf_free(&wire);
        if (r == STORAGE_ERR_NOTFOUND)
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such mailbox");
        else
            imap_reply_storage_error(s, cmd, r);
        return CMD_DONE;
    }
    out_finish(&o);
    write_metadata(s, buf_cstr(&wire), &o);
    buf_free(&wire);
    /* RFC 5464 4.2.1: the size of the biggest value left out */
    if (o.longest)
        imap_tagged(s, cmd, "OK", "[METADATA LONGENTRIES %llu] GETMETADATA completed", (unsigned long long)o.longest);
    else
        imap_tagged(s, cmd, "OK", "GETMETADATA completed");
    out_free(&o);
    return CMD_DONE;
bad:
    imap_tagged(s, cmd, "BAD", "Invalid GETMETADATA arguments: %s", ps->error ? ps->error : "syntax");
    return CMD_DONE;
}

/* ---- SETMETADATA ----------------------------------------------------------- */

/* The change runs as a job on the pool keyed by the store it writes. A
 * server change may touch two stores (the domain's shared store for
 * /shared, the user's own for /private): both are locked for the job,
 * the shared one written first. */
struct setmd_job {
    struct mail_user *store;        /* the mailbox's store, or the shared store */
    struct mail_user *own;          /* server /private: the user's store (a reference) */
    char *mailbox;                  /* name in store, NULL for the server */
    char reader[AUTH_MAX_USERNAME + 1];
    struct metadata_change *sh, *pv;    /* /shared and /private changes */
    size_t nsh, npv;
    int64_t special_use;
    int r;
};

static void setmd_run(struct job *job, void *arg)
{
    (void)job;
    struct setmd_job *j = arg;
    struct mail_user *a = j->store, *b = j->own;
    if ((j->r = storage_job_begin(a, b)) < 0)
        return;
    if (j->mailbox) {
        /* one store: every change in one transaction */
        struct metadata_change *all = xcalloc(j->nsh + j->npv + 1, sizeof(*all));
        memcpy(all, j->sh, j->nsh * sizeof(*all));
        memcpy(all + j->nsh, j->pv, j->npv * sizeof(*all));
        j->r = metadata_set(a, j->mailbox, j->reader[0] ? j->reader : NULL, all, j->nsh + j->npv, j->special_use);
        free(all);
    } else {
        j->r = 0;
        if (j->nsh)
            j->r = metadata_set(a, NULL, NULL, j->sh, j->nsh, -1);
        if (j->r == 0 && j->npv)
            j->r = metadata_set(b, NULL, j->reader, j->pv, j->npv, -1);
    }
    storage_job_end(a, b);
}

static void setmd_free(struct setmd_job *j)
{
    if (j->store)
        mail_user_close(j->store);
    if (j->own)
        mail_user_close(j->own);
    free(j->mailbox);
    free(j->sh);
    free(j->pv);
    free(j);
}

static enum cmd_result setmd_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct setmd_job *j = arg;
    int r = j->r;
    if (s) {
        if (r == 0)
            imap_tagged(s, cmd, "OK", "SETMETADATA completed");
        else if (r == STORAGE_ERR_LIMIT)
            imap_tagged(s, cmd, "NO", "[METADATA TOOMANY] Too many annotations (at most %lld)",
                        (long long)metadata_max_entries());
        else if (r == STORAGE_ERR_MAXSIZE)
            imap_tagged(s, cmd, "NO", "[METADATA MAXSIZE %zu] Annotation value too large",
                        metadata_max_value_size());
        else if (r == STORAGE_ERR_NOTFOUND)
            imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such mailbox");
        else
            imap_reply_storage_error(s, cmd, r);
    }
    setmd_free(j);
    return CMD_DONE;
}

IMAP_CMD(cmd_setmetadata)
{
    struct imap_parser *ps = &cmd->ps;
    struct imap_str nm;
    if (!imap_p_sp(ps) || !imap_p_astring(ps, cmd, &nm) || !imap_p_sp(ps) || !imap_p_char(ps, '('))
        goto bad;
    struct {
        char *entry;
        struct imap_str v;
        bool nil;
    } pairs[MD_MAX_SPECS];
    size_t n = 0;
    while (!imap_p_char(ps, ')')) {
        if (n > 0 && !imap_p_sp(ps))
            goto bad;
        if (n >= MD_MAX_SPECS) {
            imap_tagged(s, cmd, "NO", "[LIMIT] Too many entries (at most %d)", MD_MAX_SPECS);
            return CMD_DONE;
        }
        char *e = p_entry(s, cmd, false, NULL);
        if (!e)
            return CMD_DONE;
        pairs[n].entry = e;
        if (!imap_p_sp(ps) || !imap_p_nstring(ps, cmd, &pairs[n].v, &pairs[n].nil))
            goto bad;
        n++;
    }
    if (n == 0 || !imap_p_end(ps))
        goto bad;

    bool server = nm.len == 0 && !nm.file;
    bool anon = s->who.anonymous || !s->mu;

    size_t maxv = metadata_max_value_size();
    bool any_shared = false, any_private = false;
    int64_t special_use = -1;
    for (size_t i = 0; i < n; i++) {
        const char *e = pairs[i].entry;
        bool priv = metadata_entry_private(e);
        any_private |= priv;
        any_shared |= !priv;
        if (!pairs[i].nil && (pairs[i].v.file || pairs[i].v.len > maxv)) {
            imap_tagged(s, cmd, "NO", "[METADATA MAXSIZE %zu] Annotation value too large", maxv);
            return CMD_DONE;
        }
        if (priv && anon) {
            imap_tagged(s, cmd, "NO", "[METADATA NOPRIVATE] No private annotations without a personal store");
            return CMD_DONE;
        }
        if (server && strcmp(e, "/shared/admin") == 0) {
            imap_tagged(s, cmd, "NO", "[NOPERM] /shared/admin is read-only");
            return CMD_DONE;
        }
        if (!server && strcmp(e, "/private/specialuse") == 0) {
            uint32_t use = 0;
            if (!pairs[i].nil && !special_parse(pairs[i].v.s, pairs[i].v.len, &use)) {
                imap_tagged(s, cmd, "NO", "[USEATTR] Unsupported special-use attribute");
                return CMD_DONE;
            }
            special_use = use;
        }
    }
    /* anonymous sessions change nothing (their "lr" would otherwise be
     * enough for RFC 5464 3.3); /private entries were NOPRIVATE above */
    if (s->who.anonymous) {
        imap_tagged(s, cmd, "NO", "[NOPERM] Not permitted for anonymous users");
        return CMD_DONE;
    }
    if (server && any_shared && !access_is_admin_of(&s->who, s->who.domain)) {
        imap_tagged(s, cmd, "NO", "[NOPERM] Only administrators may set shared server annotations");
        return CMD_DONE;
    }

    struct setmd_job *j = xcalloc(1, sizeof(*j));
    j->special_use = special_use;
    if (!anon)
        snprintf(j->reader, sizeof(j->reader), "%s", s->who.user);
    if (server) {
        if (any_shared) {
            char shname[AUTH_MAX_USERNAME + 16];
            access_shared_store(s->who.domain, shname, sizeof(shname));
            int e = mail_user_open(shname, true, &j->store);
            if (e < 0) {
                j->store = NULL;
                setmd_free(j);
                imap_reply_storage_error(s, cmd, e);
                return CMD_DONE;
            }
            if (mail_user_is_new(j->store))
                mail_user_clear_new(j->store);
        }
        if (any_private) {
            int e = mail_user_open(mail_user_name(s->mu), false, &j->own);
            if (e < 0) {
                j->own = NULL;
                setmd_free(j);
                imap_reply_storage_error(s, cmd, e);
                return CMD_DONE;
            }
        }
    } else {
        struct mbox_ref ref;
        acl_rights_t rights;
        if (!imap_resolve(s, cmd, &nm, ACL_LOOKUP, true, &ref, &j->store, &rights)) {
            j->store = NULL;
            setmd_free(j);
            return CMD_DONE;
        }
        if (!may_annotate(rights) && !access_is_admin_of_store(&s->who, ref.store)) {
            setmd_free(j);
            imap_tagged(s, cmd, "NO", "[NOPERM] No right to change annotations of this mailbox");
            return CMD_DONE;
        }
        /* special-use is the owner's arrangement of its mailboxes */
        if (special_use >= 0 && !imap_is_own_store(s, j->store) && !(rights & ACL_ADMIN)) {
            setmd_free(j);
            imap_tagged(s, cmd, "NO", "[NOPERM] Only the owner sets the special use of a mailbox");
            return CMD_DONE;
        }
        j->mailbox = xstrdup(ref.name);
    }
    /* the changes; /private/specialuse is not stored as an entry */
    j->sh = xcalloc(n, sizeof(*j->sh));
    j->pv = xcalloc(n, sizeof(*j->pv));
    for (size_t i = 0; i < n; i++) {
        if (!server && strcmp(pairs[i].entry, "/private/specialuse") == 0)
            continue;
        struct metadata_change *c = metadata_entry_private(pairs[i].entry) ? &j->pv[j->npv++] : &j->sh[j->nsh++];
        c->entry = pairs[i].entry;
        c->value = pairs[i].nil ? NULL : (pairs[i].v.len ? pairs[i].v.s : "");
        c->len = pairs[i].nil ? 0 : pairs[i].v.len;
    }
    struct mail_user *key = j->store ? j->store : j->own;
    return imap_cmd_job(s, cmd, "metadata", key, setmd_run, setmd_finish, j);
bad:
    imap_tagged(s, cmd, "BAD", "Invalid SETMETADATA arguments: %s", ps->error ? ps->error : "syntax");
    return CMD_DONE;
}

/* ---- LIST-METADATA (RFC 9590) ---------------------------------------------- */

bool imap_list_metadata_parse(struct imap_session *s, struct imap_cmd *cmd, struct imap_list_md *md)
{
    (void)s;
    struct imap_parser *ps = &cmd->ps;
    /* "METADATA" SP "(" entry *(SP entry) ")"; the caller consumed the
     * option name */
    if (!imap_p_sp(ps) || !imap_p_char(ps, '('))
        return false;
    while (!imap_p_char(ps, ')')) {
        if (md->n > 0 && !imap_p_sp(ps))
            return false;
        if (md->n >= IMAP_LIST_MD_MAX)
            return false;
        struct imap_str e;
        if (!imap_p_astring(ps, cmd, &e) || e.file || memchr(e.s, '\0', e.len) ||
            !metadata_entry_valid(e.s, e.len, false))
            return false;
        char *c = cmd_strndup(cmd, e.s, e.len);
        for (char *p = c; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        md->entries[md->n++] = c;
    }
    return md->n > 0;
}

void imap_list_metadata_write(struct imap_session *s, struct mail_user *store, const char *store_name,
                              const char *in_store, uint32_t special_use, acl_rights_t rights,
                              const struct imap_list_md *md)
{
    /* RFC 9590 3: a mailbox whose annotations cannot be read gets no
     * METADATA response (here: without the rights of RFC 5464 3.3) */
    if (!may_annotate(rights) && !access_is_admin_of_store(&s->who, store_name))
        return;
    struct md_spec specs[IMAP_LIST_MD_MAX];
    for (size_t i = 0; i < md->n; i++) {
        specs[i].entry = md->entries[i];
        specs[i].depth = 0;
    }
    struct md_out o = {0};
    o.maxsize = UINT64_MAX;
    if (collect_mailbox(s, store, in_store, special_use, specs, md->n, &o) == 0) {
        out_finish(&o);
        struct buf wire = BUF_INIT;
        imap_append_store_mailbox(s, &wire, store_name, in_store);
        write_metadata(s, buf_cstr(&wire), &o);
        buf_free(&wire);
    }
    out_free(&o);
}
