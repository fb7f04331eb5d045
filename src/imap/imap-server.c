/* imap-server.c - accepting connections, the session list, notification
 * fan-out and shutdown. One instance per worker process. */
#include "imap.h"
#include "config.h"
#include "connlimits.h"
#include "log.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

static struct event_loop *g_loop;
static struct tls_ctx *g_tls;
static struct imap_session *g_sessions;
static size_t g_count;
static bool g_shutting_down;
static char *g_shutdown_reason;

void imap_init(struct event_loop *loop)
{
    g_loop = loop;
}

struct event_loop *imap_loop(void)
{
    return g_loop;
}

struct tls_ctx *imap_tls(void)
{
    return g_tls;
}

void imap_set_tls(struct tls_ctx *tls)
{
    if (tls)
        tls_ctx_ref(tls);
    if (g_tls)
        tls_ctx_unref(g_tls);
    g_tls = tls;
}

void imap_server_link(struct imap_session *s)
{
    s->prev = NULL;
    s->next = g_sessions;
    if (g_sessions)
        g_sessions->prev = s;
    g_sessions = s;
    g_count++;
}

void imap_server_unlink(struct imap_session *s)
{
    if (!s->prev && g_sessions != s)
        return; /* never linked */
    if (s->prev)
        s->prev->next = s->next;
    else
        g_sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    g_count--;
}

const char *imap_server_product(void)
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
    struct imap_session *s = arg;
    if (!s || s->closed)
        return;
    imap_session_enter(s);
    imap_session_on_drain(s);
    imap_session_leave(s);
}

static void on_close(struct conn *c, void *arg)
{
    struct imap_session *s = arg;
    if (!s)
        return;
    imap_session_on_close(s);
}

static const struct conn_callbacks callbacks = {on_input, on_drain, on_close};

void imap_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, bool implicit_tls)
{
    char addr[64];
    (void)net_peer_string(peer, peerlen, addr, sizeof(addr));
    if (g_shutting_down || (implicit_tls && !g_tls)) {
        close(fd);
        return;
    }
    if (!limits_conn_acquire(addr)) {
        /* RFC 9051 7.1.5 / RFC 5530 UNAVAILABLE. Best effort, non-blocking;
         * with implicit TLS we cannot say anything in plaintext. */
        if (!implicit_tls) {
            static const char bye[] = "* BYE [UNAVAILABLE] Too many connections\r\n";
            ssize_t w = send(fd, bye, sizeof(bye) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w;
        }
        log_notice("imap: connection refused (limit): addr=%s", addr);
        close(fd);
        return;
    }
    struct imap_session *s = imap_session_new(NULL, implicit_tls);
    snprintf(s->peer, sizeof(s->peer), "%s", addr);
    s->counted_conn = true;
    struct conn *c = conn_new(g_loop, fd, peer, peerlen, implicit_tls ? g_tls : NULL, &callbacks, s);
    if (!c) {
        limits_conn_release(addr);
        s->counted_conn = false;
        imap_session_free(s);
        return;
    }
    s->conn = c;
    imap_server_link(s);
    imap_session_enter(s);
    imap_session_touch(s);
    /* Queued before the TLS handshake completes: conn sends it once the
     * handshake is done, so for implicit TLS the greeting is encrypted. */
    struct buf b = BUF_INIT;
    buf_puts(&b, "* OK [CAPABILITY ");
    imap_capabilities(s, &b);
    const char *product = imap_server_product();
    buf_printf(&b, "] %s%sready.\r\n", product, *product ? " " : "");
    imap_write(s, b.data, b.len);
    buf_free(&b);
    imap_session_arm_timer(s);
    imap_session_leave(s);
}

/* ---- notifications -------------------------------------------------------- */

void imap_notify(const char *user, int64_t mailbox_id)
{
    struct imap_session *s = g_sessions;
    while (s) {
        struct imap_session *next = s->next;
        if (!s->closed && s->view && s->user && strcmp(s->user, user) == 0 &&
            mailbox_get_info(s->view->mb)->id == mailbox_id) {
            s->view->pending = true;
            if (s->idling) {
                /* IDLE clients get the change at once (RFC 2177). */
                imap_session_enter(s);
                imap_sync(s, true);
                imap_session_leave(s);
            }
        }
        s = next;
    }
}

void imap_shutdown(const char *reason)
{
    g_shutting_down = true;
    free(g_shutdown_reason);
    g_shutdown_reason = xstrdup(reason ? reason : "Server shutting down");
    struct imap_session *s = g_sessions;
    while (s) {
        struct imap_session *next = s->next;
        if (!s->closed && !s->logout) {
            imap_session_enter(s);
            imap_session_close(s, g_shutdown_reason);
            imap_session_leave(s);
        }
        s = next;
    }
}

size_t imap_session_count(void)
{
    return g_count;
}

size_t imap_memory_usage(void)
{
    size_t total = 0;
    for (struct imap_session *s = g_sessions; s; s = s->next) {
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
