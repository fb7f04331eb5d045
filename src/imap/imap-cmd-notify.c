/* imap-cmd-notify.c - NOTIFY (RFC 5465).
 *
 * NOTIFY SET records what the client wants (struct imap_notify on the
 * session); the events reach it over the cross-worker change path
 * (notify.h): a plain hint "user\0mailbox-id" for message changes, and
 * event datagrams for mailbox names, subscriptions and metadata. Every
 * worker fans them out to its sessions (imap-server.c), which answer:
 *
 *   - the selected mailbox (SELECTED / SELECTED-DELAYED): the usual
 *     untagged updates of imap_sync, sent at once rather than at the next
 *     command (RFC 5465 3.1), plus a FETCH of the MessageNew attributes
 *     after EXISTS (5.2); SELECTED-DELAYED holds EXPUNGEs back until a
 *     command allows them (6.1.2);
 *   - other mailboxes, message events: "* STATUS" (5.1-5.3) computed as
 *     the STATUS command does, one indexed read of the mailbox row with
 *     its counters (mailbox_status_by_id), shared by every session of the
 *     store in the worker for one hint (struct imap_notify_cache);
 *   - MailboxName, SubscriptionChange: "* LIST" (5.4, 5.5; OLDNAME for a
 *     rename); Mailbox/ServerMetadataChange: "* METADATA" (5.6, 5.7).
 *
 * Responses are written at once when the session is between commands or
 * in IDLE; while a command runs (or its literal is being read) they are
 * queued and go out just before its tagged reply (imap_tagged), never in
 * the middle of its output. A session that cannot keep up (a queue past
 * NOTIFY_QUEUE_MAX, or unsent output past NOTIFY_OUTPUT_MAX) gets
 * "* OK [NOTIFICATIONOVERFLOW]" and is as after NOTIFY NONE (5.8).
 *
 * MessageNew's attributes (5.2): record items (UID FLAGS INTERNALDATE
 * RFC822.SIZE MODSEQ) are answered on the loop; any other fetch-att by
 * FETCH's builder as a job (fetch_notify_submit), never setting \Seen.
 * Lost datagrams (a worker's full queue) arrive as a resync
 * (imap_notify_session_resync): STATUS again, or NOTIFICATIONOVERFLOW
 * when LIST/METADATA events were lost.
 *
 * Deliberate limits (docs/imap-capabilities.md): AnnotationChange is
 * refused as an unsupported event, NO [BADEVENT] (no ANNOTATE, RFC 5257:
 * messages have no annotations); INBOXES is INBOX; events in other users' and shared
 * stores are watched for mailboxes named with SUBTREE/MAILBOXES, with the
 * 'l' and 'r' rights checked at each event (5, 5.9).
 */
#include "imap.h"
#include "imap-fetch.h"
#include "log.h"
#include "notify.h"

#include <unistd.h>

#define NOTIFY_MAX_GROUPS 32           /* event groups in one NOTIFY SET */
#define NOTIFY_MAX_NAMES 100           /* mailbox names in one NOTIFY SET */
#define NOTIFY_QUEUE_MAX (256 * 1024)  /* responses held while a command runs */
#define NOTIFY_OUTPUT_MAX (1024 * 1024) /* unsent output before overflow */
#define NOTIFY_MAX_NEW_FETCH 256       /* MessageNew FETCHes for one sync */
#define NOTIFY_MAX_SUBS 10000          /* subscriptions cached for SUBSCRIBED */
#define NOTIFY_MAX_FETCH_JOBS 4        /* MessageNew FETCH jobs in flight per session */

enum notify_ev {
    NE_NEW = 1u << 0, NE_EXPUNGE = 1u << 1, NE_FLAG = 1u << 2, NE_ANNOT = 1u << 3,
    NE_NAME = 1u << 4, NE_SUB = 1u << 5, NE_MBMETA = 1u << 6, NE_SRVMETA = 1u << 7,
};
#define NE_MESSAGE (NE_NEW | NE_EXPUNGE | NE_FLAG | NE_ANNOT)

enum notify_filter { NF_PERSONAL, NF_INBOXES, NF_SUBSCRIBED, NF_SUBTREE, NF_MAILBOXES };

struct notify_name {
    char *client;               /* internal client name ('/' separator) */
    char *store;                /* the store it resolves to */
};

struct notify_spec {
    enum notify_filter filter;
    unsigned events;
    struct notify_name *names;  /* SUBTREE / MAILBOXES */
    size_t n;
};

/* MessageNew attributes for the selected mailbox (record items only) */
enum { NF_UID = 1u << 0, NF_FLAGS = 1u << 1, NF_IDATE = 1u << 2, NF_SIZE = 1u << 3, NF_MODSEQ = 1u << 4 };

struct imap_notify {
    unsigned sel_events;        /* SELECTED(-DELAYED) events, 0: none */
    bool sel_delayed;
    unsigned fetch;             /* NF_* */
    struct fetch_notify_spec *spec; /* attributes beyond the record's: a job */
    struct notify_spec *specs;
    size_t nspecs;
    unsigned other_events;      /* union over specs */
    bool other_stores;          /* some name resolves outside the own store */
    char **subs;                /* subscribed names (NF_SUBSCRIBED in use) */
    size_t nsubs, csubs;
    bool have_subs;
    struct buf queue;           /* held while a command runs */
    uint32_t *deferred;         /* MessageNew FETCH UIDs of the view mbid */
    size_t ndeferred, cdeferred; /* deferred_mbid, built again after it */
    int64_t deferred_mbid;
    bool overflowed;
    bool direct;                /* NOTIFY SET's own responses: written as a
                                   command's output, not queued */
    bool resync;                /* a resync came while a job ran: STATUS of
                                   every watched mailbox before the reply */
};

/* ---- state ---------------------------------------------------------------- */

static void specs_free(struct notify_spec *sp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sp[i].n; k++) {
            free(sp[i].names[k].client);
            free(sp[i].names[k].store);
        }
        free(sp[i].names);
    }
    free(sp);
}

static void subs_free(struct imap_notify *nt)
{
    for (size_t i = 0; i < nt->nsubs; i++)
        free(nt->subs[i]);
    free(nt->subs);
    nt->subs = NULL;
    nt->nsubs = nt->csubs = 0;
}

void imap_notify_session_free(struct imap_session *s)
{
    struct imap_notify *nt = s->notify;
    if (!nt)
        return;
    specs_free(nt->specs, nt->nspecs);
    subs_free(nt);
    buf_free(&nt->queue);
    free(nt->deferred);
    fetch_notify_spec_unref(nt->spec);
    free(nt);
    s->notify = NULL;
}

/* Can an untagged response go out now? Between commands or in IDLE,
 * never in the middle of a command's output or of a literal. */
static bool can_write_now(const struct imap_session *s)
{
    return s->conn && !s->closed && !s->logout && !s->close_after_cmd && !s->in_cmd && !s->in_job &&
           (!s->cmd || s->idling) && !imap_reader_busy(s) && s->state != IMAP_NOTAUTH;
}

/* RFC 5465 5.8: stop notifying, say so once. */
static void overflow(struct imap_session *s)
{
    struct imap_notify *nt = s->notify;
    specs_free(nt->specs, nt->nspecs);
    nt->specs = NULL;
    nt->nspecs = 0;
    nt->other_events = nt->sel_events = nt->fetch = 0;
    fetch_notify_spec_unref(nt->spec);
    nt->spec = NULL;
    subs_free(nt);
    nt->have_subs = false;
    nt->overflowed = true;
    buf_reset(&nt->queue);
    static const char line[] = "* OK [NOTIFICATIONOVERFLOW] Too many notifications, NOTIFY is now off\r\n";
    log_notice("imap: NOTIFY overflow, notifications stopped: user=%s addr=%s", s->user ? s->user : "-", s->peer);
    if (can_write_now(s)) {
        imap_write(s, line, sizeof(line) - 1);
        imap_notify_session_free(s);
    } else {
        buf_append(&nt->queue, line, sizeof(line) - 1);
    }
}

static void emit(struct imap_session *s, const struct buf *b)
{
    struct imap_notify *nt = s->notify;
    if (!nt || nt->overflowed || !b->len)
        return;
    if (nt->direct) {
        imap_write(s, b->data, b->len);
        return;
    }
    if (can_write_now(s)) {
        if (conn_output_pending(s->conn) > NOTIFY_OUTPUT_MAX) {
            overflow(s);
            return;
        }
        imap_write(s, b->data, b->len);
        return;
    }
    if (nt->queue.len + b->len > NOTIFY_QUEUE_MAX) {
        overflow(s);
        return;
    }
    buf_append(&nt->queue, b->data, b->len);
}

static void resync_status(struct imap_session *s);
static void newfetch_submit(struct imap_session *s, const uint32_t *uids, size_t n);

void imap_notify_flush(struct imap_session *s)
{
    struct imap_notify *nt = s->notify;
    if (!nt || !s->conn || s->closed)
        return;
    if (nt->resync && !nt->overflowed) {
        nt->resync = false;
        resync_status(s);     /* queued (a command is running), written below */
    }
    if (nt->queue.len)
        imap_write(s, nt->queue.data, nt->queue.len);
    buf_reset(&nt->queue);
    if (nt->ndeferred) {
        /* MessageNew FETCHes that were ready while the command ran */
        size_t n = nt->ndeferred;
        nt->ndeferred = 0;
        if (!nt->overflowed && nt->spec && s->view && s->view->mbid == nt->deferred_mbid &&
            (nt->sel_events & NE_NEW))
            newfetch_submit(s, nt->deferred, n);
    }
    if (nt->overflowed)
        imap_notify_session_free(s);
}

/* ---- matching --------------------------------------------------------------- */

static bool is_subscribed(const struct imap_notify *nt, const char *client)
{
    for (size_t i = 0; i < nt->nsubs; i++)
        if (strcmp(nt->subs[i], client) == 0)
            return true;
    return false;
}

static bool is_own_store(const struct imap_session *s, const char *store)
{
    return s->mu && !s->who.anonymous && strcmp(store, s->who.user) == 0;
}

/* The events the client asked for on mailbox `name` of `store`, whose
 * internal client name is `client` (selection not considered). */
static unsigned events_for(const struct imap_session *s, const char *store, const char *name, const char *client)
{
    const struct imap_notify *nt = s->notify;
    unsigned ev = 0;
    bool own = is_own_store(s, store);
    for (size_t i = 0; i < nt->nspecs; i++) {
        const struct notify_spec *sp = &nt->specs[i];
        bool m = false;
        switch (sp->filter) {
        case NF_PERSONAL:
            m = own;
            break;
        case NF_INBOXES:
            m = own && strcmp(name, "INBOX") == 0;
            break;
        case NF_SUBSCRIBED:
            m = is_subscribed(nt, client);
            break;
        case NF_SUBTREE:
        case NF_MAILBOXES:
            for (size_t k = 0; k < sp->n && !m; k++) {
                const char *c = sp->names[k].client;
                size_t l = strlen(c);
                m = strcmp(client, c) == 0 ||
                    (sp->filter == NF_SUBTREE && strncmp(client, c, l) == 0 && client[l] == '/');
            }
            break;
        }
        if (m)
            ev |= sp->events;
    }
    return ev;
}

/* Does the session hold 'l' and 'r' on name of store (RFC 5465 5)? The
 * owner of a store holds everything. */
static bool may_see(const struct imap_session *s, const char *store, const char *name, acl_rights_t *rights)
{
    if (is_own_store(s, store)) {
        if (rights)
            *rights = ACL_ALL;
        return true;
    }
    struct mbox_ref ref;
    memset(&ref, 0, sizeof(ref));
    if (strlen(store) >= sizeof(ref.store) || strlen(name) >= sizeof(ref.name))
        return false;
    strcpy(ref.store, store);
    strcpy(ref.name, name);
    acl_rights_t r = 0;
    if (access_rights(&s->who, &ref, &r) < 0)
        r = 0;
    if (rights)
        *rights = r;
    return (r & (ACL_LOOKUP | ACL_READ)) == (ACL_LOOKUP | ACL_READ);
}

/* Might a change in store concern this session at all? */
static bool store_of_interest(const struct imap_session *s, const char *store)
{
    const struct imap_notify *nt = s->notify;
    if (is_own_store(s, store))
        return true;
    if (!nt->other_stores)
        return false;
    for (size_t i = 0; i < nt->nspecs; i++)
        for (size_t k = 0; k < nt->specs[i].n; k++)
            if (strcmp(nt->specs[i].names[k].store, store) == 0)
                return true;
    return false;
}

/* ---- STATUS for non-selected mailboxes (RFC 5465 5.1-5.3) ------------------ */

static unsigned status_items(const struct imap_session *s, unsigned ev)
{
    unsigned items = 0;
    bool cs = (s->enabled & (EN_CONDSTORE | EN_QRESYNC)) != 0;
    if (ev & (NE_NEW | NE_EXPUNGE))
        items |= ST_MESSAGES | ST_UIDNEXT;
    if (ev & NE_NEW)
        items |= ST_UIDVALIDITY;
    if (ev & NE_FLAG)
        items |= ST_UNSEEN;
    if (cs && (ev & (NE_NEW | NE_EXPUNGE | NE_FLAG | NE_ANNOT)))
        items |= ST_HIGHESTMODSEQ | ST_UIDVALIDITY;
    return items;
}

static void write_status(struct imap_session *s, struct mail_user *store, const char *client,
                         const struct mailbox_info *info, unsigned items)
{
    /* the STATUS command's line, through NOTIFY's queue (emit) */
    struct buf b = BUF_INIT;
    imap_format_status(s, store, client, info, items, &b);
    emit(s, &b);
    buf_free(&b);
}

/* The selected mailbox's id (0: none), kept in the view at SELECT so it
 * can be read while a job uses the mailbox handle: a hint for the
 * selected mailbox that arrives during a command is never mistaken for
 * another mailbox's, nor dropped. */
static int64_t selected_id(struct imap_session *s)
{
    return s->view ? s->view->mbid : 0;
}

static const char *selected_store(struct imap_session *s)
{
    return !s->view ? NULL : s->view->store ? mail_user_name(s->view->store) : s->who.user;
}

void imap_notify_hint(struct imap_session *s, const char *store, int64_t mailbox_id, struct imap_notify_cache *cache)
{
    struct imap_notify *nt = s->notify;
    if (!nt || nt->overflowed || !(nt->other_events & NE_MESSAGE) || mailbox_id <= 0 || s->closed ||
        s->state == IMAP_NOTAUTH || !store_of_interest(s, store))
        return;
    /* the selected mailbox: SELECTED's rules, not STATUS (RFC 5465 3.1) */
    if (s->view) {
        const char *ss = selected_store(s);
        if (ss && strcmp(ss, store) == 0) {
            if (selected_id(s) == mailbox_id)
                return;
        }
    }
    bool own = is_own_store(s, store);
    struct mail_user *u = own ? s->mu : NULL;
    /* One indexed read per hint, shared by all the worker's sessions that
     * hear it (imap_notify fans one hint out with one cache), whichever
     * store it is in; a session of another user opens that store only
     * when the mailbox is one it watches. */
    struct imap_notify_cache *c = cache;
    if (!(c->done && c->id == mailbox_id)) {
        if (!u && mail_user_open(store, false, &u) < 0)
            return;
        c->u = u;
        c->id = mailbox_id;
        c->done = true;
        c->ok = mailbox_status_by_id(u, mailbox_id, &c->info) == 0;
    }
    if (c->ok) {
        const struct mailbox_info *info = &c->info;
        struct buf cn = BUF_INIT;
        access_client_name(&s->who, store, info->name, &cn);
        unsigned ev = events_for(s, store, info->name, buf_cstr(&cn)) & NE_MESSAGE;
        if (ev && may_see(s, store, info->name, NULL)) {
            if (own) {
                write_status(s, u, buf_cstr(&cn), info, status_items(s, ev));
            } else if (u || mail_user_open(store, false, &u) == 0) {
                /* the reader's own \Seen in another store */
                struct mailbox_info *mine = xmalloc(sizeof(*mine));
                if (imap_mailbox_status(s, u, info->name, mine) == 0)
                    write_status(s, u, buf_cstr(&cn), mine, status_items(s, ev));
                free(mine);
            }
        }
        buf_free(&cn);
    }
    if (!own && u)
        mail_user_close(u);
}

/* ---- store events: LIST and METADATA responses (RFC 5465 5.4-5.7) --------- */

static void write_list(struct imap_session *s, const char *attrs, const char *client, const char *oldclient)
{
    struct buf b = BUF_INIT;
    char sep = imap_hier_sep();
    buf_printf(&b, "* LIST (%s) \"%s%c\" ", attrs, sep == '\\' || sep == '"' ? "\\" : "", sep);
    imap_append_mailbox(s, &b, client);
    if (oldclient) {
        buf_puts(&b, " (\"OLDNAME\" (");
        imap_append_mailbox(s, &b, oldclient);
        buf_puts(&b, "))");
    }
    buf_puts(&b, "\r\n");
    emit(s, &b);
    buf_free(&b);
}

static void subs_set(struct imap_notify *nt, const char *client, bool on)
{
    for (size_t i = 0; i < nt->nsubs; i++) {
        if (strcmp(nt->subs[i], client) == 0) {
            if (!on) {
                free(nt->subs[i]);
                nt->subs[i] = nt->subs[--nt->nsubs];
            }
            return;
        }
    }
    if (on && nt->nsubs < NOTIFY_MAX_SUBS) {
        ARRAY_GROW(nt->subs, nt->nsubs, nt->csubs);
        nt->subs[nt->nsubs++] = xstrdup(client);
    }
}

/* " e1 e2": the event's '\n'-separated entry names (RFC 5464 4.4.2) */
static void append_entries(struct buf *b, const char *list)
{
    while (*list) {
        const char *e = strchr(list, '\n');
        size_t l = e ? (size_t)(e - list) : strlen(list);
        buf_putc(b, ' ');
        imap_append_string(b, list, l);
        list += l + (e ? 1 : 0);
    }
}

void imap_notify_origin(const struct imap_session *s, char *out, size_t outlen)
{
    snprintf(out, outlen, "%ld.%p", (long)getpid(), (const void *)s);
}

void imap_notify_session_event(struct imap_session *s, const char *store, int64_t mailbox_id,
                               const struct notify_event *ev)
{
    struct imap_notify *nt = s->notify;
    if (!nt || nt->overflowed || s->closed || s->state == IMAP_NOTAUTH)
        return;
    /* RFC 5465 5: not the client's own changes. Its subscription cache
     * follows them all the same. */
    char me[NOTIFY_ORIGIN_MAX];
    imap_notify_origin(s, me, sizeof(me));
    bool own_change = ev->origin && ev->origin[0] && strcmp(ev->origin, me) == 0;
    if (own_change) {
        if (nt->have_subs && (ev->kind == NOTIFY_EV_SUBSCRIBE || ev->kind == NOTIFY_EV_UNSUBSCRIBE) &&
            is_own_store(s, store))
            subs_set(nt, ev->name, ev->kind == NOTIFY_EV_SUBSCRIBE);
        return;
    }
    if (ev->kind == NOTIFY_EV_METADATA && mailbox_id == NOTIFY_EVENT_ONLY) {
        /* server annotations: /shared ones live in the domain's shared
         * store, /private ones in the user's own and are the user's */
        if (!(nt->other_events & NE_SRVMETA))
            return;
        char shname[AUTH_MAX_USERNAME + 16];
        access_shared_store(s->who.domain, shname, sizeof(shname));
        bool mine = is_own_store(s, store) && strcmp(ev->actor, s->who.user) == 0;
        if (!(ev->actor[0] ? mine : strcmp(store, shname) == 0))
            return;
        struct buf b = BUF_INIT;
        buf_puts(&b, "* METADATA \"\"");
        append_entries(&b, ev->extra);
        buf_puts(&b, "\r\n");
        emit(s, &b);
        buf_free(&b);
        return;
    }
    if (!store_of_interest(s, store))
        return;
    bool own = is_own_store(s, store);
    struct buf cn = BUF_INIT, oc = BUF_INIT;
    access_client_name(&s->who, store, ev->name, &cn);
    const char *client = buf_cstr(&cn);
    switch (ev->kind) {
    case NOTIFY_EV_SUBSCRIBE:
    case NOTIFY_EV_UNSUBSCRIBE: {
        /* subscriptions are the store owner's own (the names as that
         * user's client sees them) */
        if (!own)
            break;
        bool on = ev->kind == NOTIFY_EV_SUBSCRIBE;
        /* SUBSCRIBED covers the name before an UNSUBSCRIBE and after a
         * SUBSCRIBE (6.4: the list is re-evaluated) */
        unsigned e = events_for(s, store, ev->name, ev->name);
        if (nt->have_subs)
            subs_set(nt, ev->name, on);
        e |= events_for(s, store, ev->name, ev->name);
        if (!(e & NE_SUB))
            break;
        /* 5.5: the attributes accurately computed */
        struct mbox_ref ref;
        struct mailbox_info *info = xmalloc(sizeof(*info));
        bool exists = access_resolve(&s->who, ev->name, &ref) == 0 &&
                      (is_own_store(s, ref.store) ? mailbox_status(s->mu, ref.name, info) == 0
                                                  : may_see(s, ref.store, ref.name, NULL));
        free(info);
        write_list(s, on ? (exists ? "\\Subscribed" : "\\Subscribed \\NonExistent") : (exists ? "" : "\\NonExistent"),
                   ev->name, NULL);
        break;
    }
    case NOTIFY_EV_CREATE:
    case NOTIFY_EV_DELETE:
    case NOTIFY_EV_RENAME: {
        unsigned e = events_for(s, store, ev->name, client);
        if (ev->kind == NOTIFY_EV_RENAME) {
            access_client_name(&s->who, store, ev->extra, &oc);
            e |= events_for(s, store, ev->extra, buf_cstr(&oc));
        }
        if (!(e & NE_NAME))
            break;
        /* A deleted mailbox of another store has no ACL left to ask:
         * only its owner's sessions hear of it. */
        if (ev->kind == NOTIFY_EV_DELETE) {
            if (own)
                write_list(s, "\\NonExistent", client, NULL);
            break;
        }
        acl_rights_t r = 0;
        (void)may_see(s, store, ev->name, &r);
        if (!(r & ACL_LOOKUP))
            break;
        bool sub = nt->have_subs && is_subscribed(nt, client);
        write_list(s, sub ? "\\Subscribed" : "", client, ev->kind == NOTIFY_EV_RENAME ? buf_cstr(&oc) : NULL);
        break;
    }
    case NOTIFY_EV_METADATA: {
        if (!(events_for(s, store, ev->name, client) & NE_MBMETA))
            break;
        if (ev->actor[0] && strcmp(ev->actor, s->who.user) != 0)
            break;   /* someone else's /private entry */
        if (!may_see(s, store, ev->name, NULL))
            break;
        struct buf b = BUF_INIT;
        buf_puts(&b, "* METADATA ");
        imap_append_mailbox(s, &b, client);
        append_entries(&b, ev->extra);
        buf_puts(&b, "\r\n");
        emit(s, &b);
        buf_free(&b);
        break;
    }
    }
    buf_free(&cn);
    buf_free(&oc);
}

/* ---- the selected mailbox ------------------------------------------------- */

bool imap_notify_push_selected(struct imap_session *s, bool *allow_expunge)
{
    struct imap_notify *nt = s->notify;
    if (!nt || nt->overflowed || !(nt->sel_events & (NE_NEW | NE_EXPUNGE)) || !can_write_now(s))
        return false;
    if (s->view && conn_output_pending(s->conn) > NOTIFY_OUTPUT_MAX) {
        overflow(s);
        return false;
    }
    *allow_expunge = !nt->sel_delayed;
    return true;
}

struct newfetch_ctx {
    struct imap_session *s;
    struct buf *b;
    unsigned what;
    bool condstore;
};

static int newfetch_one(const struct msg_record *rec, void *arg)
{
    struct newfetch_ctx *c = arg;
    struct imap_session *s = c->s;
    struct imap_view *v = s->view;
    uint32_t msn = imap_view_msn(v, rec->uid);
    if (!msn)
        return 0;
    struct buf *b = c->b;
    size_t start;
    if (s->enabled & EN_UIDONLY) {
        buf_printf(b, "* %u UIDFETCH (", rec->uid);
        start = b->len;
    } else {
        buf_printf(b, "* %u FETCH (", msn);
        start = b->len;
        if (c->what & NF_UID)
            buf_printf(b, "UID %u", rec->uid);
    }
#define SEP() do { if (b->len > start) buf_putc(b, ' '); } while (0)
    if (c->what & NF_FLAGS) {
        SEP();
        buf_puts(b, "FLAGS ");
        imap_write_flag_list(b, rec->flags, rec->keywords, imap_view_recent(v, rec->uid));
    }
    if (c->what & NF_IDATE) {
        SEP();
        buf_puts(b, "INTERNALDATE \"");
        imap_format_datetime(b, rec->internaldate, rec->internaldate_tz);
        buf_putc(b, '"');
    }
    if (c->what & NF_SIZE) {
        SEP();
        buf_printf(b, "RFC822.SIZE %llu", (unsigned long long)rec->size);
    }
    if ((c->what & NF_MODSEQ) || ((c->what & NF_FLAGS) && c->condstore)) {
        SEP();
        buf_printf(b, "MODSEQ (%llu)", (unsigned long long)rec->modseq);
    }
#undef SEP
    buf_puts(b, ")\r\n");
    return 0;
}

static void newfetch_done(struct imap_session *s, int64_t mbid, const struct imap_view_snap *vs,
                          const struct buf *text, bool too_big, uint64_t flag_reports);

static void newfetch_submit(struct imap_session *s, const uint32_t *uids, size_t n)
{
    struct imap_notify *nt = s->notify;
    /* a client whose FETCHes pile up cannot keep up: 5.8 */
    if (s->notify_fetch_jobs >= NOTIFY_MAX_FETCH_JOBS) {
        overflow(s);
        return;
    }
    /* the flag reports so far: a newer one may be undone by the job's FLAGS */
    if (fetch_notify_submit(s, nt->spec, uids, n, NOTIFY_QUEUE_MAX, newfetch_done, s->view->flag_reports))
        s->notify_fetch_jobs++;
}

/* The FLAGS (and MODSEQ) of these messages as they are now, after a job's
 * responses read them earlier: a flag change the sync reported meanwhile
 * would otherwise be undone in the client by the job's older FLAGS (a
 * FETCH response's FLAGS replace what the client knows). */
static void newfetch_flags_again(struct imap_session *s, const uint32_t *uids, size_t n)
{
    if (!n)
        return;
    struct buf b = BUF_INIT;
    struct newfetch_ctx c = {s, &b, NF_UID | NF_FLAGS,
                             s->view->condstore || (s->enabled & (EN_CONDSTORE | EN_QRESYNC))};
    /* one range read, as imap_notify_new_messages: new UIDs are the
     * highest of the view (others in the range get their FLAGS too,
     * which a server may send at any time) */
    (void)mailbox_foreach_record(s->view->mb, uids[0], uids[n - 1], newfetch_one, &c);
    emit(s, &b);
    buf_free(&b);
}

/* A job's responses are ready while a command runs: not queued, because
 * the command's own output or its tagged reply's sync may send EXPUNGEs
 * before the queue is written, renumbering them; built again once it has
 * answered (imap_notify_flush). */
static void newfetch_defer(struct imap_session *s, const uint32_t *uids, size_t n)
{
    struct imap_notify *nt = s->notify;
    if (nt->ndeferred && nt->deferred_mbid != s->view->mbid)
        nt->ndeferred = 0;      /* another mailbox was selected meanwhile */
    nt->deferred_mbid = s->view->mbid;
    for (size_t i = 0; i < n; i++) {
        if (nt->ndeferred == NOTIFY_MAX_NEW_FETCH) {
            overflow(s);        /* 5.8: more than the client keeps up with */
            return;
        }
        ARRAY_GROW(nt->deferred, nt->ndeferred, nt->cdeferred);
        nt->deferred[nt->ndeferred++] = uids[i];
    }
}

/* On the loop, after the job: the responses go out like any other
 * notification (emit: now, or before the running command's tagged
 * reply), if the session still wants them and their MSNs are still the
 * client's; else they are built again (an EXPUNGE was sent meanwhile). */
static void newfetch_done(struct imap_session *s, int64_t mbid, const struct imap_view_snap *vs,
                          const struct buf *text, bool too_big, uint64_t flag_reports)
{
    if (s->notify_fetch_jobs)
        s->notify_fetch_jobs--;
    struct imap_notify *nt = s->notify;
    if (s->closed || !s->conn || !nt || nt->overflowed || !nt->spec || !(nt->sel_events & NE_NEW) || !s->view ||
        s->view->mbid != mbid)
        return;
    if (too_big) {
        overflow(s);
        return;
    }
    uint32_t *again = NULL;
    size_t nagain = 0;
    bool stale = false;
    for (size_t i = 0; i < vs->n; i++) {
        uint32_t msn = vs->msns ? vs->msns[i] : vs->base + (uint32_t)i + 1;
        uint32_t now = imap_view_msn(s->view, vs->uids[i]);
        if (now != msn)
            stale = true;
        if (now) {
            if (!again)
                again = xmalloc(vs->n * sizeof(uint32_t));
            again[nagain++] = vs->uids[i];
        }
    }
    bool uidonly = (s->enabled & EN_UIDONLY) != 0;   /* UIDFETCH responses carry no MSN */
    if (stale && !uidonly) {
        if (nagain)
            newfetch_submit(s, again, nagain);
    } else if (!uidonly && !nt->direct && !can_write_now(s)) {
        newfetch_defer(s, again, nagain);
    } else {
        emit(s, text);
        if (s->view->flag_reports != flag_reports)
            newfetch_flags_again(s, again, nagain);
    }
    free(again);
}

void imap_notify_new_messages(struct imap_session *s, const uint32_t *uids, size_t n)
{
    struct imap_notify *nt = s->notify;
    if (!nt || nt->overflowed || !(nt->fetch || nt->spec) || !(nt->sel_events & NE_NEW) || !n || !s->view)
        return;
    /* Bounded work: a burst bigger than this is left to the client's own
     * FETCH (it has the EXISTS). */
    if (n > NOTIFY_MAX_NEW_FETCH)
        uids += n - NOTIFY_MAX_NEW_FETCH, n = NOTIFY_MAX_NEW_FETCH;
    if (nt->spec) {
        /* ENVELOPE, BODYSTRUCTURE, sections, PREVIEW...: they read the
         * cache or the message file, never on the loop (a job) */
        newfetch_submit(s, uids, n);
        return;
    }
    struct buf b = BUF_INIT;
    struct newfetch_ctx c = {s, &b, nt->fetch,
                             s->view->condstore || (s->enabled & (EN_CONDSTORE | EN_QRESYNC))};
    /* one range read: the new UIDs are the highest of the view */
    (void)mailbox_foreach_record(s->view->mb, uids[0], uids[n - 1], newfetch_one, &c);
    /* from imap_sync, in the order it writes: EXISTS, then these */
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

/* ---- NOTIFY SET / NONE ---------------------------------------------------- */

static const char *const event_names[] = {"MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange",
                                          "MailboxName", "SubscriptionChange", "MailboxMetadataChange",
                                          "ServerMetadataChange"};

struct parse_out {
    struct imap_notify *nt;
    bool badevent;
    bool sel_seen;
    size_t names;
    const char *bad;            /* BAD text */
    const char *no;             /* NO text */
};

static bool p_filter_name(struct imap_session *s, struct imap_cmd *cmd, struct parse_out *o, struct notify_spec *sp)
{
    struct imap_str nm;
    if (!imap_p_astring(&cmd->ps, cmd, &nm))
        return false;
    if (++o->names > NOTIFY_MAX_NAMES) {
        o->no = "[LIMIT] Too many mailbox names";
        return true;
    }
    /* RFC 5465 3.1: a name that is no mailbox, or one the client may not
     * LIST, is ignored - here, one that is not even a valid name. */
    char internal[IMAP_MAX_CLIENT_NAME + 1];
    const char *why;
    struct mbox_ref ref;
    if (nm.file || nm.len > 4 * IMAP_MAX_CLIENT_NAME || !imap_mailbox_from_client(s, nm.s, nm.len, internal, &why) ||
        access_resolve(&s->who, internal, &ref) != 0)
        return true;
    sp->names = xrealloc(sp->names, (sp->n + 1) * sizeof(*sp->names));
    sp->names[sp->n].client = xstrdup(internal);
    sp->names[sp->n].store = xstrdup(ref.store);
    sp->n++;
    if (!is_own_store(s, ref.store))
        o->nt->other_stores = true;
    return true;
}

static bool p_event(struct imap_session *s, struct imap_cmd *cmd, struct parse_out *o, bool selected,
                    unsigned *events)
{
    (void)s;
    struct imap_parser *ps = &cmd->ps;
    char *a = imap_p_atom(ps, cmd);
    if (!a)
        return false;
    size_t i;
    for (i = 0; i < ARRAY_SIZE(event_names); i++)
        if (strcasecmp(a, event_names[i]) == 0)
            break;
    unsigned bit = 1u << i;
    /* AnnotationChange is about per-message annotations (RFC 5465 5.1,
     * RFC 5257's ANNOTATE), which Darius does not have: an unsupported
     * event like an unknown one (3.1), not accepted and never fired. */
    if (i == ARRAY_SIZE(event_names) || bit == NE_ANNOT) {
        o->badevent = true;     /* event-ext: NO [BADEVENT] once parsed */
        return true;
    }
    if (selected && !(bit & NE_MESSAGE)) {
        o->bad = "Only message events apply to SELECTED";
        return true;
    }
    *events |= bit;
    if (bit == NE_NEW && imap_p_peek(ps, ' ') && ps->p + 1 < ps->end && ps->p[1] == '(') {
        (void)imap_p_sp(ps);
        if (!selected) {
            o->bad = "MessageNew attributes only for SELECTED";
            return false;
        }
        struct fetch_req req;
        const char *err = NULL;
        if (!fetch_parse_att_list(ps, cmd, &req, &err)) {
            o->bad = err ? err : "Invalid MessageNew attributes";
            return false;
        }
        unsigned f = 0;
        bool other = false;
        for (int t = 0; t < (int)ARRAY_SIZE(req.has); t++) {
            if (!req.has[t])
                continue;
            switch (t) {
            case FI_UID: f |= NF_UID; break;
            case FI_FLAGS: f |= NF_FLAGS; break;
            case FI_INTERNALDATE: f |= NF_IDATE; break;
            case FI_RFC822_SIZE: f |= NF_SIZE; break;
            case FI_MODSEQ: f |= NF_MODSEQ; break;
            default: other = true; break;
            }
        }
        if (other) {
            /* any fetch-att (5.2): what reads more than the record is
             * built as a job (fetch_notify_submit); BODY[] never sets
             * \Seen there */
            fetch_notify_spec_unref(o->nt->spec);
            o->nt->spec = fetch_notify_spec_new(&req);
            o->nt->fetch = 0;
        } else {
            fetch_req_free(&req);
            if (!o->nt->spec)
                o->nt->fetch |= f | NF_UID;   /* RFC 5465 5.2's example: UID is always there */
        }
    }
    return true;
}

static bool p_group(struct imap_session *s, struct imap_cmd *cmd, struct parse_out *o)
{
    struct imap_parser *ps = &cmd->ps;
    struct imap_notify *nt = o->nt;
    if (!imap_p_char(ps, '('))
        return false;
    char *f = imap_p_atom(ps, cmd);
    if (!f)
        return false;
    bool selected = false, delayed = false;
    struct notify_spec sp = {0};
    if (strcasecmp(f, "SELECTED") == 0 || strcasecmp(f, "SELECTED-DELAYED") == 0) {
        selected = true;
        delayed = strcasecmp(f, "SELECTED-DELAYED") == 0;
        if (o->sel_seen) {
            o->bad = "Only one SELECTED or SELECTED-DELAYED";   /* 6.1 */
            return false;
        }
        o->sel_seen = true;
    } else if (strcasecmp(f, "PERSONAL") == 0) {
        sp.filter = NF_PERSONAL;
    } else if (strcasecmp(f, "INBOXES") == 0) {
        sp.filter = NF_INBOXES;
    } else if (strcasecmp(f, "SUBSCRIBED") == 0) {
        sp.filter = NF_SUBSCRIBED;
    } else if (strcasecmp(f, "SUBTREE") == 0 || strcasecmp(f, "MAILBOXES") == 0) {
        sp.filter = strcasecmp(f, "SUBTREE") == 0 ? NF_SUBTREE : NF_MAILBOXES;
        if (!imap_p_sp(ps))
            goto fail;
        if (imap_p_char(ps, '(')) {
            /* RFC 5465 8: many-mailboxes = "(" mailbox *(SP mailbox) ")" */
            if (imap_p_peek(ps, ')'))
                goto fail;
            for (bool first = true; !imap_p_char(ps, ')'); first = false)
                if ((!first && !imap_p_sp(ps)) || !p_filter_name(s, cmd, o, &sp))
                    goto fail;
        } else if (!p_filter_name(s, cmd, o, &sp)) {
            goto fail;
        }
    } else {
        o->bad = "Unknown mailbox filter";
        return false;
    }
    if (!imap_p_sp(ps))
        goto fail;
    unsigned events = 0;
    if (imap_p_char(ps, '(')) {
        for (bool first = true; !imap_p_char(ps, ')'); first = false)
            if ((!first && !imap_p_sp(ps)) || !p_event(s, cmd, o, selected, &events))
                goto fail;
        if (!events && !o->badevent)
            goto fail;   /* "()" is no <events> */
    } else {
        char *none = imap_p_atom(ps, cmd);
        if (!none || strcasecmp(none, "NONE") != 0)
            goto fail;
    }
    if (!imap_p_char(ps, ')'))
        goto fail;
    /* RFC 5465 5: MessageNew and MessageExpunge together; FlagChange and
     * AnnotationChange only with both */
    if (!!(events & NE_NEW) != !!(events & NE_EXPUNGE) ||
        ((events & (NE_FLAG | NE_ANNOT)) && (events & (NE_NEW | NE_EXPUNGE)) != (NE_NEW | NE_EXPUNGE))) {
        o->bad = "MessageNew and MessageExpunge go together, and FlagChange/AnnotationChange need both";
        goto fail;
    }
    if (selected) {
        nt->sel_events = events;
        nt->sel_delayed = delayed;
        return true;
    }
    sp.events = events;
    nt->specs = xrealloc(nt->specs, (nt->nspecs + 1) * sizeof(*nt->specs));
    nt->specs[nt->nspecs++] = sp;
    nt->other_events |= events;
    return true;
fail:
    for (size_t k = 0; k < sp.n; k++) {
        free(sp.names[k].client);
        free(sp.names[k].store);
    }
    free(sp.names);
    return false;
}

static void sub_cb(const char *name, void *arg)
{
    struct imap_notify *nt = arg;
    if (nt->nsubs < NOTIFY_MAX_SUBS) {
        ARRAY_GROW(nt->subs, nt->nsubs, nt->csubs);
        nt->subs[nt->nsubs++] = xstrdup(name);
    }
}

struct set_status_ctx {
    struct imap_session *s;
    int64_t sel_id;
};

static void set_status_one(const struct mailbox_info *info, void *arg)
{
    struct set_status_ctx *c = arg;
    struct imap_session *s = c->s;
    if (info->id == c->sel_id)
        return;
    unsigned ev = events_for(s, s->who.user, info->name, info->name) & NE_MESSAGE;
    if (ev)
        write_status(s, s->mu, info->name, info, status_items(s, ev));
}

/* The STATUS indicator (RFC 5465 3.1): a STATUS for every non-selected
 * mailbox with message events, before the tagged OK. The own store in
 * one listing (as LIST-STATUS does); named mailboxes of other stores one
 * by one. Names of other stores that the client may LIST but not read
 * get "\NoAccess" (3.1). */
static void set_time_responses(struct imap_session *s, bool status, bool lists)
{
    struct imap_notify *nt = s->notify;
    int64_t sel_id = 0;
    if (s->view) {
        const char *ss = selected_store(s);
        if (ss && is_own_store(s, ss))
            sel_id = selected_id(s);
    }
    if (status && (nt->other_events & NE_MESSAGE) && s->mu && !s->who.anonymous) {
        struct set_status_ctx c = {s, sel_id};
        (void)mailbox_list(s->mu, set_status_one, &c);
    }
    for (size_t i = 0; i < nt->nspecs; i++) {
        struct notify_spec *sp = &nt->specs[i];
        for (size_t k = 0; k < sp->n; k++) {
            struct mbox_ref ref;
            if (is_own_store(s, sp->names[k].store) || access_resolve(&s->who, sp->names[k].client, &ref) != 0)
                continue;
            acl_rights_t r = 0;
            if (access_rights(&s->who, &ref, &r) < 0 || !(r & ACL_LOOKUP))
                continue;   /* not visible: ignored */
            if (!(r & ACL_READ)) {
                if (lists)
                    write_list(s, "\\NoAccess", sp->names[k].client, NULL);
                continue;
            }
            if (!status || !(sp->events & NE_MESSAGE) || (s->view && s->view->store &&
                                                          strcmp(mail_user_name(s->view->store), ref.store) == 0 &&
                                                          strcmp(mailbox_get_info(s->view->mb)->name, ref.name) == 0))
                continue;
            struct mail_user *u = NULL;
            if (access_open_store(&ref, &u) < 0)
                continue;
            struct mailbox_info *info = xmalloc(sizeof(*info));
            if (imap_mailbox_status(s, u, ref.name, info) == 0)
                write_status(s, u, sp->names[k].client, info, status_items(s, sp->events));
            free(info);
            mail_user_close(u);
        }
    }
}

/* Lost change hints (imap_notify_resync): a STATUS for every watched
 * non-selected mailbox, as NOTIFY SET STATUS gives - the client's view of
 * their counters is right again, whatever the lost hints said. */
static void resync_status(struct imap_session *s)
{
    set_time_responses(s, true, false);
}

void imap_notify_session_resync(struct imap_session *s, bool events_lost)
{
    struct imap_notify *nt = s->notify;
    if (!nt || nt->overflowed || s->state == IMAP_NOTAUTH)
        return;
    /* LIST and METADATA events cannot be re-read: RFC 5465 5.8 */
    if (events_lost && (nt->other_events & (NE_NAME | NE_SUB | NE_MBMETA | NE_SRVMETA))) {
        overflow(s);
        return;
    }
    if (!(nt->other_events & NE_MESSAGE))
        return;
    /* a job may be using the store handle: after it, before its reply */
    if (s->in_job || s->in_cmd) {
        nt->resync = true;
        return;
    }
    resync_status(s);
}

IMAP_CMD(cmd_notify)
{
    struct imap_parser *ps = &cmd->ps;
    char *w;
    if (!imap_p_sp(ps) || !(w = imap_p_atom(ps, cmd))) {
        imap_tagged(s, cmd, "BAD", "Expected NOTIFY SET or NOTIFY NONE");
        return CMD_DONE;
    }
    if (strcasecmp(w, "NONE") == 0) {
        if (!imap_p_end(ps)) {
            imap_tagged(s, cmd, "BAD", "Unexpected arguments");
            return CMD_DONE;
        }
        imap_notify_session_free(s);
        imap_tagged(s, cmd, "OK", "NOTIFY completed");
        return CMD_DONE;
    }
    if (strcasecmp(w, "SET") != 0) {
        imap_tagged(s, cmd, "BAD", "Expected NOTIFY SET or NOTIFY NONE");
        return CMD_DONE;
    }
    struct imap_notify *nt = xcalloc(1, sizeof(*nt));
    struct parse_out o = {.nt = nt};
    bool status = false;
    bool ok = imap_p_sp(ps);
    if (ok && (ps->end - ps->p) >= 6 && strncasecmp(ps->p, "STATUS", 6) == 0) {
        ps->p += 6;
        status = true;
        ok = imap_p_sp(ps);
    }
    size_t groups = 0;
    while (ok) {
        if (++groups > NOTIFY_MAX_GROUPS) {
            o.no = "[LIMIT] Too many event groups";
            ok = false;
            break;
        }
        if (!p_group(s, cmd, &o)) {
            ok = false;
            break;
        }
        if (imap_p_end(ps))
            break;
        if (!imap_p_sp(ps))
            ok = false;
    }
    if (!ok || o.bad) {
        if (o.no && groups > NOTIFY_MAX_GROUPS)
            imap_tagged(s, cmd, "NO", "%s", o.no);
        else
            imap_tagged(s, cmd, "BAD", "%s", o.bad ? o.bad : "Invalid NOTIFY arguments");
        goto fail;
    }
    if (o.badevent) {
        /* RFC 5465 3.1: NO, and BADEVENT lists what is supported */
        /* RFC 5465 3.1: NO, and BADEVENT lists all the supported events
         * (AnnotationChange is not one: no per-message annotations) */
        imap_tagged(s, cmd, "NO", "[BADEVENT (MessageNew MessageExpunge FlagChange MailboxName "
                                  "SubscriptionChange MailboxMetadataChange ServerMetadataChange)] "
                                  "Unsupported event");
        goto fail;
    }
    if (o.no) {
        imap_tagged(s, cmd, "NO", "%s", o.no);
        goto fail;
    }
    /* replace the old set (RFC 5465 3.1); what it had queued goes first */
    if (s->notify)
        imap_notify_flush(s);
    imap_notify_session_free(s);
    s->notify = nt;
    bool want_subs = false;
    for (size_t i = 0; i < nt->nspecs; i++)
        want_subs |= nt->specs[i].filter == NF_SUBSCRIBED;
    want_subs |= (nt->other_events & (NE_NAME | NE_SUB)) != 0;   /* \Subscribed in LIST */
    if (want_subs && s->mu && !s->who.anonymous) {
        (void)mailbox_list_subscriptions(s->mu, sub_cb, nt);
        nt->have_subs = true;
    }
    nt->direct = true;
    set_time_responses(s, status, true);
    nt->direct = false;
    /* the implicit NOOP (3.1): imap_tagged syncs the selected mailbox */
    imap_tagged(s, cmd, "OK", "NOTIFY completed");
    return CMD_DONE;
fail:
    specs_free(nt->specs, nt->nspecs);
    fetch_notify_spec_unref(nt->spec);
    free(nt);
    return CMD_DONE;
}
