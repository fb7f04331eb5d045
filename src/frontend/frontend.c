/* frontend.c - session registry, accept, output and implicit-TLS close
 * shared by the protocol front-ends (frontend.h). */
#include "frontend.h"
#include "config.h"
#include "log.h"
#include <sys/socket.h>
#include <unistd.h>

static struct fe_server *g_servers;

void fe_server_init(struct fe_server *srv, struct event_loop *loop)
{
    srv->loop = loop;
    if (!srv->registered) {
        /* appended: the *_all calls reach the servers in init order */
        srv->registered = true;
        struct fe_server **p = &g_servers;
        while (*p)
            p = &(*p)->next_server;
        *p = srv;
    }
}

void fe_server_set_tls(struct fe_server *srv, struct tls_ctx *tls)
{
    if (tls)
        tls_ctx_ref(tls);
    if (srv->tls)
        tls_ctx_unref(srv->tls);
    srv->tls = tls;
}

/* ---- the registry ---------------------------------------------------------- */

void fe_link(struct fe_server *srv, struct fe_link *l, void *owner)
{
    l->srv = srv;
    l->owner = owner;
    l->prev = NULL;
    l->next = srv->head;
    if (srv->head)
        srv->head->prev = l;
    srv->head = l;
    srv->count++;
}

void fe_unlink(struct fe_link *l)
{
    struct fe_server *srv = l->srv;
    if (!srv)
        return; /* never linked, or already unlinked */
    if (l->tls_close_timer) {
        ev_timer_cancel(srv->loop, l->tls_close_timer);
        l->tls_close_timer = 0;
    }
    if (l->prev)
        l->prev->next = l->next;
    else
        srv->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->next = l->prev = NULL;
    l->srv = NULL;
    srv->count--;
}

void fe_each(struct fe_server *srv, void (*fn)(void *session, void *arg), void *arg)
{
    struct fe_link *l = srv->head;
    while (l) {
        struct fe_link *next = l->next;
        fn(l->owner, arg);
        l = next;
    }
}

/* ---- server-wide events ------------------------------------------------------ */

struct hook_call {
    void (*hook)(void *session, const char *text);
    const char *text;
};

static void call_hook(void *session, void *arg)
{
    struct hook_call *h = arg;
    h->hook(session, h->text);
}

static void each_hook(struct fe_server *srv, void (*hook)(void *, const char *), const char *text)
{
    if (!hook)
        return;
    struct hook_call h = {hook, text};
    fe_each(srv, call_hook, &h);
}

void fe_shutdown(struct fe_server *srv, const char *reason)
{
    srv->shutting_down = true;
    each_hook(srv, srv->ops->shutdown, reason ? reason : "Server shutting down");
}

void fe_set_shutdown_notice(struct fe_server *srv, const char *line)
{
    if (!line) {
        free(srv->notice);
        srv->notice = NULL;
        return;
    }
    if (!srv->notice || strcmp(srv->notice, line) != 0) {
        free(srv->notice);
        srv->notice = xstrdup(line);
    }
    each_hook(srv, srv->ops->notice, srv->notice);
}

void fe_kick_user(struct fe_server *srv, const char *user)
{
    if (user)
        each_hook(srv, srv->ops->kick_user, user);
}

static void call_evict(void *session, void *arg)
{
    void (*evict)(void *) = *(void (**)(void *))arg;
    evict(session);
}

void fe_evict_marked(struct fe_server *srv)
{
    void (*evict)(void *) = srv->ops->evict;
    if (evict)
        fe_each(srv, call_evict, &evict);
}

void fe_shutdown_all(const char *reason)
{
    for (struct fe_server *srv = g_servers; srv; srv = srv->next_server)
        fe_shutdown(srv, reason);
}

void fe_set_shutdown_notice_all(const char *line)
{
    for (struct fe_server *srv = g_servers; srv; srv = srv->next_server)
        fe_set_shutdown_notice(srv, line);
}

void fe_kick_user_all(const char *user)
{
    for (struct fe_server *srv = g_servers; srv; srv = srv->next_server)
        fe_kick_user(srv, user);
}

void fe_evict_marked_all(void)
{
    for (struct fe_server *srv = g_servers; srv; srv = srv->next_server)
        fe_evict_marked(srv);
}

size_t fe_session_count_all(void)
{
    size_t n = 0;
    for (struct fe_server *srv = g_servers; srv; srv = srv->next_server)
        n += srv->count;
    return n;
}

/* ---- notices ------------------------------------------------------------------ */

static char *g_motd;

void fe_set_motd(const char *line)
{
    if (line && !*line)
        line = NULL;
    if (line && g_motd && strcmp(line, g_motd) == 0)
        return;
    free(g_motd);
    g_motd = line ? xstrdup(line) : NULL;
}

const char *fe_motd(void)
{
    return g_motd;
}

/* ---- accepting ---------------------------------------------------------------- */

bool fe_accept_admit(struct fe_server *srv, int fd, const struct sockaddr *peer, socklen_t peerlen,
                     const struct fe_accept *how, char addr[64], struct limits_preauth *pa)
{
    (void)net_peer_string(peer, peerlen, addr, 64);
    if (how->addr)
        snprintf(addr, 64, "%s", how->addr);
    if (srv->shutting_down || !srv->loop || (how->implicit_tls && !srv->tls)) {
        close(fd);
        return false;
    }
    /* Capped per address before login and evictable when the server is
     * full (connlimits.h). */
    enum limits_admit adm = limits_conn_admit(addr, how->preauth, pa);
    if (adm == LIMITS_ADMITTED)
        return true;
    bool host = adm == LIMITS_HOST_PREAUTH;
    const char *line = host ? how->refuse_host : how->refuse_full;
    if (!how->implicit_tls && line) {
        /* best effort: never blocks the loop for a client that does not
         * read; with implicit TLS nothing can be said in plaintext */
        ssize_t w = send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)w;
    }
    log_notice("%s: connection refused (%s): addr=%s", srv->name,
               host ? "maxconnections_per_host_preauth" : "maxconnections", addr);
    close(fd);
    return false;
}

struct conn *fe_conn_new(struct fe_server *srv, int fd, const struct sockaddr *peer, socklen_t peerlen,
                         bool implicit_tls, const struct conn_callbacks *cb, void *session)
{
    return conn_new(srv->loop, fd, peer, peerlen, implicit_tls ? srv->tls : NULL, cb, session);
}

/* ---- output ------------------------------------------------------------------ */

void fe_vprintf(struct conn *c, const char *fmt, va_list ap)
{
    if (!c)
        return;
    struct buf b = BUF_INIT;
    buf_vprintf(&b, fmt, ap);
    if (b.len)
        conn_write(c, b.data, b.len);
    buf_free(&b);
}

void fe_printf(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fe_vprintf(c, fmt, ap);
    va_end(ap);
}

const char *fe_server_product(void)
{
    static char buf[64];
    const char *info = config_str(CFG_SERVERINFO);
    if (strcmp(info, "off") == 0)
        return "";
    if (strcmp(info, "min") == 0)
        return "Darius";
    snprintf(buf, sizeof(buf), "Darius %s", DARIUS_VERSION);
    return buf;
}

/* ---- implicit TLS -------------------------------------------------------------- */

static void tls_close_cb(struct event_loop *loop, void *arg)
{
    struct fe_link *l = arg;
    l->tls_close_timer = 0;
    if (!l->srv)
        return;
    struct conn *c = l->srv->ops->conn(l->owner);
    if (!c)
        return;
    if (conn_tls_desc(c)[0])
        conn_close(c); /* handshake done: flush what is queued, then close */
    else if (event_loop_now(loop) - l->tls_close_since >= FE_TLS_CLOSE_MAX_MS)
        conn_abort(c);
    else
        l->tls_close_timer = ev_timer_add(loop, FE_TLS_CLOSE_POLL_MS, tls_close_cb, l);
}

void fe_close_after_handshake(struct fe_link *l)
{
    if (!l->srv || l->tls_close_timer)
        return;
    struct event_loop *loop = l->srv->loop;
    l->tls_close_since = event_loop_now(loop);
    l->tls_close_timer = ev_timer_add(loop, FE_TLS_CLOSE_POLL_MS, tls_close_cb, l);
}
