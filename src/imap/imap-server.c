/* imap-server.c - accepting connections, notification fan-out and the
 * hooks for the front-end layer's server-wide events (user kicks,
 * eviction, shutdown, the shutdown file: frontend.h). The notice files
 * (motd, shutdown) are read by the daemon. One instance per worker
 * process. */
#include "imap.h"
#include "config.h"
#include "connlimits.h"
#include "log.h"
#include "notify.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

static const struct fe_ops imap_ops;
static struct fe_server g_srv = {.name = "imap", .ops = &imap_ops};

void imap_init(struct event_loop *loop)
{
    fe_server_init(&g_srv, loop);
}

struct event_loop *imap_loop(void)
{
    return g_srv.loop;
}

struct tls_ctx *imap_tls(void)
{
    return g_srv.tls;
}

void imap_set_tls(struct tls_ctx *tls)
{
    fe_server_set_tls(&g_srv, tls);
}

/* ---- conn callbacks ---------------------------------------------------- */

static void on_input(struct conn *c, void *arg)
{
    struct imap_session *s = arg;
    if (!s || s->closed)
        return;
    imap_session_enter(s);
    imap_session_touch(s);
    imap_reader_input(s);
    /* The reader bounds lines and command text; this is the backstop for
     * conn_memory_limit (input we could not consume yet). */
    if (!s->closed && s->conn &&
        conn_input(c)->len + s->pending.text.cap > (size_t)config_int(CFG_CONN_MEMORY_LIMIT)) {
        log_notice("imap: connection memory limit exceeded: addr=%s", s->peer);
        imap_session_close(s, "[LIMIT] Connection memory limit exceeded");
    }
    imap_session_leave(s);
}

static void on_drain(struct conn *c, void *arg)
{
    (void)c;
    struct imap_session *s = arg;
    if (!s || s->closed)
        return;
    imap_session_enter(s);
    imap_session_on_drain(s);
    imap_session_leave(s);
}

static void on_close(struct conn *c, void *arg)
{
    (void)c;
    struct imap_session *s = arg;
    if (!s)
        return;
    imap_session_on_close(s);
}

static const struct conn_callbacks callbacks = {on_input, on_drain, on_close};

void imap_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, bool implicit_tls)
{
    /* Every IMAP connection starts unauthenticated: capped per address
     * and evictable when the server is full. RFC 9051 7.1.5 / RFC 5530
     * UNAVAILABLE. */
    static const struct fe_accept how_plain = {
        .preauth = true,
        .refuse_full = "* BYE [UNAVAILABLE] Too many connections\r\n",
        .refuse_host = "* BYE [UNAVAILABLE] Too many unauthenticated connections from your address\r\n",
    };
    struct fe_accept how = how_plain;
    how.implicit_tls = implicit_tls;
    char addr[64];
    struct limits_preauth pa;
    if (!fe_accept_admit(&g_srv, fd, peer, peerlen, &how, addr, &pa))
        return;
    struct imap_session *s = imap_session_new(NULL, implicit_tls);
    snprintf(s->peer, sizeof(s->peer), "%s", addr);
    s->counted_conn = true;
    s->pa = pa;
    s->connected_at = event_loop_now(g_srv.loop);
    struct conn *c = fe_conn_new(&g_srv, fd, peer, peerlen, implicit_tls, &callbacks, s);
    if (!c) {
        limits_preauth_end(&s->pa);
        limits_conn_release(addr);
        s->counted_conn = false;
        imap_session_free(s);
        return;
    }
    s->conn = c;
    fe_link(&g_srv, &s->link, s);
    imap_session_enter(s);
    imap_session_touch(s);
    if (g_srv.notice) {
        /* The shutdown file exists (Cyrus): BYE instead of the greeting
         * (RFC 9051 7.1.5 allows BYE as the greeting). Through the
         * session so that with implicit TLS it is sent encrypted. */
        imap_printf(s, "* BYE [ALERT] %s\r\n", g_srv.notice);
        if (implicit_tls) {
            /* conn_close during the handshake would drop the BYE: close
             * once TLS is up. */
            s->logout = true;
            conn_pause_input(c);
            fe_close_after_handshake(&s->link);
        } else {
            imap_session_close(s, NULL);
        }
        imap_session_leave(s);
        return;
    }
    /* Queued before the TLS handshake completes: conn sends it once the
     * handshake is done, so for implicit TLS the greeting is encrypted. */
    struct buf b = BUF_INIT;
    buf_puts(&b, "* OK [CAPABILITY ");
    imap_capabilities(s, &b);
    const char *product = fe_server_product();
    buf_printf(&b, "] %s%sready.\r\n", product, *product ? " " : "");
    imap_write(s, b.data, b.len);
    buf_free(&b);
    imap_session_arm_timer(s);
    imap_session_leave(s);
}

/* ---- notifications -------------------------------------------------------- */

/* Close a session from outside any command of its own (notify, timer):
 * BYE, close once the output is flushed. When no command is suspended the
 * store handles are dropped at once, so that a partition move or account
 * rename waiting for every process to let go of the store does not wait
 * for a slow client to read its BYE. */
static void close_now(struct imap_session *s, const char *bye)
{
    imap_session_enter(s);
    if (s->in_cmd) {
        /* (not reached from the event loop; kept for safety) the BYE now,
         * the close after the command's tagged reply, as view_gone does */
        imap_untagged(s, "BYE %s", bye);
        if (s->conn)
            conn_pause_input(s->conn);
        s->close_after_cmd = true;
    } else {
        imap_session_close(s, bye);
        /* Let go of the store handles now, also when a command is
         * suspended (IDLE, a FETCH waiting for output space): the kicker
         * may be this very process, checking right after the kick that
         * the store is no longer open here (partition.c). */
        imap_session_release_stores(s);
    }
    imap_session_leave(s);
}

/* NOTIFY_KICK_USER: the user's store is being moved, renamed or deleted.
 * Every session of that user goes, and so does every session that has a
 * mailbox of that store selected (another user's shared folder). */
static void op_kick_user(void *session, const char *user)
{
    struct imap_session *s = session;
    bool own = s->user && strcmp(s->user, user) == 0;
    bool viewing = s->view && s->view->store && strcmp(mail_user_name(s->view->store), user) == 0;
    if (!s->closed && !s->logout && (own || viewing)) {
        log_info("imap: disconnecting (account moved or changed): user=%s addr=%s", s->user ? s->user : "-",
                 s->peer);
        close_now(s, "[UNAVAILABLE] Account is being moved or changed");
    }
}

static void notify_one(void *session, void *arg);

struct notify_hint {
    const char *user;
    int64_t mailbox_id;
    struct imap_notify_cache *cache;    /* NOTIFY STATUS, lazily allocated */
};

void imap_notify(const char *user, int64_t mailbox_id)
{
    if (!user)
        return;
    if (mailbox_id == NOTIFY_KICK_USER) {
        fe_kick_user(&g_srv, user);
        return;
    }
    struct notify_hint h = {user, mailbox_id, NULL};
    fe_each(&g_srv, notify_one, &h);
    free(h.cache);
}

struct notify_ev_arg {
    const char *user;
    int64_t mailbox_id;
    const struct notify_event *ev;
};

static void notify_ev_one(void *session, void *arg)
{
    struct imap_session *s = session;
    const struct notify_ev_arg *a = arg;
    if (s->notify && !s->closed) {
        imap_session_enter(s);
        imap_notify_session_event(s, a->user, a->mailbox_id, a->ev);
        imap_session_leave(s);
    }
}

void imap_notify_event(const char *user, int64_t mailbox_id, const struct notify_event *ev)
{
    if (!user || !ev)
        return;
    struct notify_ev_arg a = {user, mailbox_id, ev};
    fe_each(&g_srv, notify_ev_one, &a);
}

static void resync_one(void *session, void *arg)
{
    struct imap_session *s = session;
    bool events_lost = *(const bool *)arg;
    if (s->closed)
        return;
    if (s->view) {
        /* as notify_one for a hint naming the selected mailbox */
        s->view->pending = true;
        bool allow = true;
        if (!s->in_job && (s->idling || imap_notify_push_selected(s, &allow))) {
            imap_session_enter(s);
            if (imap_view_recheck_rights(s))
                imap_sync(s, allow);
            imap_session_leave(s);
        }
    }
    if (s->notify && !s->closed) {
        imap_session_enter(s);
        imap_notify_session_resync(s, events_lost);
        imap_session_leave(s);
    }
}

void imap_notify_resync(bool events_lost)
{
    log_notice("imap: notify queue overflowed (lost %s): resyncing every session",
               events_lost ? "hints and events" : "change hints");
    fe_each(&g_srv, resync_one, &events_lost);
}

static void notify_one(void *session, void *arg)
{
    struct imap_session *s = session;
    struct notify_hint *h = arg;
    /* The hint names the store the mailbox is in: the selected mailbox
     * may be in another user's or a shared store (view->store), not only
     * the session user's own. */
    const char *store = !s->view ? NULL : s->view->store ? mail_user_name(s->view->store) : s->user;
    /* A session parked in a job (imap_cmd_job) may have its mailbox
     * handle in use on a pool thread, which refreshes its info: do not
     * read it; mark the view (an extra sync at most). */
    if (!s->closed && s->view && store && strcmp(store, h->user) == 0 &&
        (s->in_job || mailbox_get_info(s->view->mb)->id == h->mailbox_id)) {
        s->view->pending = true;
        bool allow = true;
        if (s->idling || imap_notify_push_selected(s, &allow)) {
            /* IDLE clients get the change at once (RFC 2177), also one to
             * their rights: an ACL change is announced with the mailbox's
             * id like any other (sqlite-acl.c). So do NOTIFY clients
             * between commands (RFC 5465 3.1; SELECTED-DELAYED: without
             * EXPUNGEs, 6.1.2). */
            imap_session_enter(s);
            if (imap_view_recheck_rights(s))
                imap_sync(s, allow);
            imap_session_leave(s);
        }
    }
    /* NOTIFY: a change of another watched mailbox is a STATUS */
    if (s->notify && !s->closed) {
        if (!h->cache)
            h->cache = xcalloc(1, sizeof(*h->cache));
        imap_session_enter(s);
        imap_notify_hint(s, h->user, h->mailbox_id, h->cache);
        imap_session_leave(s);
    }
}

static void op_evict(void *session)
{
    struct imap_session *s = session;
    /* A session whose LOGIN/AUTHENTICATE is being checked (parked on the
     * authentication service) is decided when the answer comes, as a
     * synchronous check was: logged in, it stays and the eviction passes
     * on (limits_preauth_login); refused, it goes then (imap_cmd_unpark). */
    bool checking = s->in_job && s->state == IMAP_NOTAUTH;
    if (checking || !limits_preauth_evicted(&s->pa))
        return;
    /* A session that logged in meanwhile no longer holds the place
     * (limits_preauth_login passed the eviction on); an anonymous one
     * still does (login_done) and goes. */
    bool pre = (s->state == IMAP_NOTAUTH || s->who.anonymous) && !s->closed && s->conn;
    limits_preauth_end(&s->pa);
    if (pre && s->logout) {
        /* Already closing (its deadline, LOGOUT, failed logins) but still
         * flushing to a client that does not read: the place is needed
         * now, not after the close timeout - else the new connection
         * stays over maxconnections, and a client could keep many such
         * closes pending. */
        log_notice("imap: closing unauthenticated connection evicted (server full): addr=%s", s->peer);
        conn_abort(s->conn);
    } else if (pre) {
        log_notice("imap: %s connection evicted (server full): addr=%s",
                   s->who.anonymous ? "anonymous" : "unauthenticated", s->peer);
        close_now(s, "[UNAVAILABLE] Server full, dropping the oldest unauthenticated connection");
    }
}

void imap_evict_marked(void)
{
    fe_evict_marked(&g_srv);
}

static void op_shutdown(void *session, const char *reason)
{
    struct imap_session *s = session;
    if (!s->closed && !s->logout && s->in_job) {
        /* A job is running for it (an APPEND being committed, a search):
         * its reply first, then BYE (imap_job_done), within the worker's
         * grace period. */
        free(s->bye_after_job);
        s->bye_after_job = xstrdup(reason);
    } else if (!s->closed && !s->logout) {
        imap_session_enter(s);
        imap_session_close(s, reason);
        imap_session_leave(s);
    }
}

void imap_shutdown(const char *reason)
{
    fe_shutdown(&g_srv, reason);
}

size_t imap_session_count(void)
{
    return g_srv.count;
}

size_t imap_memory_usage(void)
{
    size_t total = 0;
    for (struct fe_link *l = g_srv.head; l; l = l->next) {
        const struct imap_session *s = l->owner;
        total += sizeof(*s) + s->pending.text.cap;
        if (s->conn)
            total += conn_memory(s->conn);
        if (s->view)
            total += sizeof(*s->view) + (size_t)s->view->cap * sizeof(uint32_t) +
                     s->view->ownc * sizeof(*s->view->own);
        if (s->cmd)
            total += sizeof(*s->cmd) + s->cmd->ct.text.cap;
    }
    return total;
}

/* ---- server-wide events (fe_ops) ------------------------------------------ */

/* The shutdown file: "* BYE [ALERT] line" and close. */
static void op_notice(void *session, const char *line)
{
    struct imap_session *s = session;
    char bye[256];
    snprintf(bye, sizeof(bye), "[ALERT] %s", line);
    if (!s->closed && !s->logout)
        close_now(s, bye);
}

static struct conn *op_conn(void *session)
{
    struct imap_session *s = session;
    return s->closed ? NULL : s->conn;
}

static const struct fe_ops imap_ops = {
    .conn = op_conn,
    .shutdown = op_shutdown,
    .notice = op_notice,
    .kick_user = op_kick_user,
    .evict = op_evict,
};
