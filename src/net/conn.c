/* conn.c - buffered non-blocking client connections, plain or TLS (conn.h).
 *
 * Life cycle and re-entrancy: protocol callbacks may call conn_close() or
 * conn_abort() on their own connection (or on others). Neither frees
 * anything directly: the conn is marked dead, its socket closed, and a
 * deferred "finalize" runs on_close and releases the memory once every
 * holder (a running dispatch, a pending deferred call) has let go. So a
 * conn pointer stays valid until its on_close has returned.
 *
 * Output is a queue of chunks: memory (coalesced small writes) and file
 * ranges (conn_write_file; sent with sendfile(2) on plaintext sockets,
 * pread into a 64 KiB scratch buffer and SSL_write under TLS). Small
 * writes are coalesced and sent at the end of the current callback (or
 * loop iteration), so a response built from many conn_write calls leaves
 * in as few segments as possible; with TCP_NODELAY set nothing waits for
 * a delayed ACK. Writes of 16 KiB or more go out at once when nothing is
 * queued ahead, without being copied.
 *
 * Memory: input is read into one per-process 64 KiB scratch buffer and
 * appended to the conn's input buffer, which is freed as soon as the
 * protocol has consumed it; output chunks are freed as they are sent. An
 * idle plaintext conn is the struct alone.
 */
#include "conn.h"
#include "log.h"
#include "tls-int.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define SCRATCH_SIZE (64 * 1024)
#define CLOSE_TIMEOUT_MS (30 * 1000)
#define DIRECT_WRITE_MIN (16 * 1024)
#define CHUNK_MIN (8 * 1024)
#define READS_PER_EVENT 8
#define FLUSH_BUDGET (4 * 1024 * 1024)

struct chunk {
    struct chunk *next;
    int fd;             /* >= 0: file chunk (bytes fd[foff+off .. foff+len)) */
    off_t foff;
    size_t len, off, cap;
    char data[];
};

enum tls_state { TLS_NONE, TLS_PENDING, TLS_HANDSHAKE, TLS_UP };

struct conn {
    struct event_loop *loop;
    int fd;
    struct conn_callbacks cb;
    void *arg;

    struct buf in;
    struct chunk *out_head, *out_tail;
    struct chunk *plain_end;    /* STARTTLS: last chunk to send in the clear */
    size_t out_bytes;

    SSL *ssl;
    struct tls_ctx *tls;        /* ref held while ssl exists or TLS is pending */
    enum tls_state tls_state;
    bool ssl_read_wants_write;
    bool ssl_write_wants_read;

    int refs;                   /* dispatches and deferred calls holding us */
    int dispatch;               /* nesting of our own event handling */
    int cur_events;             /* what epoll watches now */
    uint64_t close_timer;

    bool dead;                  /* closed; finalize pending or done */
    bool closing;               /* conn_close: flush, then close */
    bool paused;
    bool eof;
    bool above_high;
    bool want_drain;
    bool flush_scheduled;
    bool drain_scheduled;
    bool input_scheduled;
    bool is_tcp;

    char peer[INET6_ADDRSTRLEN];
    int port;
};

static size_t live_conns;
static char scratch_in[SCRATCH_SIZE];
static char scratch_out[SCRATCH_SIZE];

static void conn_kill(struct conn *c);
static void update_events(struct conn *c);
static void flush_output(struct conn *c);
static void start_handshake(struct conn *c);

/* ---- holding / freeing ------------------------------------------------ */

static void hold(struct conn *c)
{
    c->refs++;
}

static void chunk_free_all(struct conn *c)
{
    struct chunk *ch = c->out_head;
    while (ch) {
        struct chunk *n = ch->next;
        if (ch->fd >= 0)
            close(ch->fd);
        free(ch);
        ch = n;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

static void release(struct conn *c)
{
    if (--c->refs > 0)
        return;
    /* refs reaches 0 only after finalize (which holds the last ref). */
    chunk_free_all(c);
    buf_free(&c->in);
    free(c);
}

static void finalize(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct conn *c = arg;
    if (c->cb.on_close)
        c->cb.on_close(c, c->arg);
    live_conns--;
    release(c); /* the "alive" ref from conn_new */
}

/* Close the socket now and schedule on_close. Idempotent. */
static void conn_kill(struct conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    bool timer_ref = false;
    if (c->close_timer) {
        ev_timer_cancel(c->loop, c->close_timer);
        c->close_timer = 0;
        timer_ref = true;
    }
    ev_fd_del(c->loop, c->fd);
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->tls) {
        tls_ctx_unref(c->tls);
        c->tls = NULL;
    }
    close(c->fd);
    c->fd = -1;
    chunk_free_all(c);
    /* The protocol may be inside on_input holding pointers into the
     * input buffer: empty it, free it in release(). */
    buf_reset(&c->in);
    ev_defer(c->loop, finalize, c); /* finalize drops the "alive" ref */
    if (timer_ref)
        release(c); /* the close timer's ref; the alive ref remains */
}

/* ---- construction ----------------------------------------------------- */

static void conn_event(struct event_loop *loop, int fd, int events, void *arg);

int net_peer_string(const struct sockaddr *peer, socklen_t len, char *out, size_t outsz)
{
    snprintf(out, outsz, "unknown");
    if (!peer || len < (socklen_t)sizeof(sa_family_t))
        return -1;
    if (peer->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)peer;
        inet_ntop(AF_INET, &s4->sin_addr, out, (socklen_t)outsz);
        return ntohs(s4->sin_port);
    }
    if (peer->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)peer;
        /* v4-mapped addresses are shown (and limited) as the IPv4 address
         * they are, so one client cannot count as two hosts. */
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)outsz);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outsz);
        return ntohs(s6->sin6_port);
    }
    if (peer->sa_family == AF_UNIX)
        snprintf(out, outsz, "local");
    return -1;
}

struct conn *conn_new(struct event_loop *loop, int fd, const struct sockaddr *peer, socklen_t peerlen,
                      struct tls_ctx *tls, const struct conn_callbacks *cb, void *arg)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->fd = fd;
    c->cb = *cb;
    c->arg = arg;
    c->refs = 1; /* the "alive" reference, dropped by finalize */
    buf_init(&c->in);
    c->port = net_peer_string(peer, peerlen, c->peer, sizeof(c->peer));
    c->is_tcp = c->port >= 0;
    if (c->port < 0)
        c->port = 0;
    if (c->is_tcp) {
        int one = 1;
        /* Clients that send a literal and its CRLF in two segments with
         * Nagle on must never see our continuation or reply held back
         * by a delayed ACK. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    /* Our own sends use MSG_NOSIGNAL, OpenSSL's do not. */
    static bool sigpipe_ignored;
    if (!sigpipe_ignored) {
        signal(SIGPIPE, SIG_IGN);
        sigpipe_ignored = true;
    }
    live_conns++;
    c->cur_events = EV_READ;
    if (ev_fd_add(loop, fd, EV_READ, conn_event, c) < 0) {
        log_err("conn: cannot watch fd %d: %s", fd, strerror(errno));
        conn_kill(c);
        return c;
    }
    if (tls) {
        tls_ctx_ref(tls);
        c->tls = tls;
        c->tls_state = TLS_PENDING;
        start_handshake(c);
    }
    return c;
}

/* ---- TLS handshake ---------------------------------------------------- */

static void start_handshake(struct conn *c)
{
    ERR_clear_error();
    c->ssl = SSL_new(c->tls->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        tls_log_errors(false, "SSL_new");
        conn_kill(c);
        return;
    }
    SSL_set_accept_state(c->ssl);
    c->tls_state = TLS_HANDSHAKE;
    /* The ClientHello may not have arrived yet; wait for readability
     * rather than spinning here. */
    update_events(c);
}

static void do_handshake(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->tls_state = TLS_UP;
        c->ssl_read_wants_write = false;
        log_debug("conn %s: %s", c->peer, conn_tls_desc(c));
        flush_output(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->ssl_read_wants_write = (e == SSL_ERROR_WANT_WRITE);
        return;
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
        /* Closed before or during the handshake (port probes, clients
         * giving up on our certificate): not worth an info line. */
        log_debug("TLS handshake with %s: connection closed", c->peer);
    } else {
        unsigned long err = ERR_peek_error();
        char msg[200] = "protocol error";
        if (err)
            ERR_error_string_n(err, msg, sizeof(msg));
        ERR_clear_error();
        log_info("TLS handshake with %s failed: %s", c->peer, msg);
    }
    conn_kill(c);
}

/* ---- output ------------------------------------------------------------ */

/* Send raw bytes; returns bytes sent, 0 when the socket is full, -1 on a
 * fatal error (conn killed). */
static ssize_t send_raw(struct conn *c, const void *p, size_t len)
{
    if (c->ssl) {
        if (len > INT32_MAX)
            len = INT32_MAX;
        ERR_clear_error();
        int r = SSL_write(c->ssl, p, (int)len);
        if (r > 0) {
            c->ssl_write_wants_read = false;
            return r;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE) {
            c->ssl_write_wants_read = false;
            return 0;
        }
        if (e == SSL_ERROR_WANT_READ) {
            c->ssl_write_wants_read = true;
            return 0;
        }
        tls_log_errors(true, "SSL_write");
        conn_kill(c);
        return -1;
    }
    for (;;) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        log_debug("conn %s: send: %s", c->peer, strerror(errno));
        conn_kill(c);
        return -1;
    }
}

/* Send from a file chunk; same return convention. */
static ssize_t send_file(struct conn *c, struct chunk *ch)
{
    size_t left = ch->len - ch->off;
    off_t pos = ch->foff + (off_t)ch->off;
    if (!c->ssl) {
        for (;;) {
            ssize_t n = sendfile(c->fd, ch->fd, &pos, MIN(left, (size_t)FLUSH_BUDGET));
            if (n > 0)
                return n;
            if (n == 0) {
                log_err("conn %s: file to send is shorter than announced", c->peer);
                conn_kill(c);
                return -1;
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            log_debug("conn %s: sendfile: %s", c->peer, strerror(errno));
            conn_kill(c);
            return -1;
        }
    }
    /* Same bytes on a retry after WANT_WRITE: the files are immutable
     * and we re-read the same offset and length. */
    size_t want = MIN(left, (size_t)SCRATCH_SIZE);
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(ch->fd, scratch_out + got, want - got, pos + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            log_err("conn %s: reading file to send: %s", c->peer, n < 0 ? strerror(errno) : "short file");
            conn_kill(c);
            return -1;
        }
        got += (size_t)n;
    }
    return send_raw(c, scratch_out, want);
}

static bool drain_due(const struct conn *c)
{
    return !c->dead && !c->closing &&
           ((c->above_high && c->out_bytes < CONN_LOW_WATER) || (c->want_drain && c->out_bytes == 0));
}

static bool maybe_drain(struct conn *c)
{
    if (c->dead || c->closing)
        return false;
    bool call = false;
    if (c->above_high && c->out_bytes < CONN_LOW_WATER) {
        c->above_high = false;
        call = true;
    }
    if (c->want_drain && c->out_bytes == 0) {
        c->want_drain = false;
        call = true;
    }
    if (call && c->cb.on_drain) {
        c->dispatch++;
        c->cb.on_drain(c, c->arg);
        c->dispatch--;
        /* on_drain may have queued more; the caller flushes again. */
    }
    return call;
}

static void finish_close(struct conn *c)
{
    if (c->ssl && c->tls_state == TLS_UP) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* best effort close_notify */
    }
    shutdown(c->fd, SHUT_WR);
    /* Unread input at close() makes the kernel send RST, which can
     * destroy our final reply in flight; read what is there first. */
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->fd, scratch_in, sizeof(scratch_in), MSG_DONTWAIT);
        if (n <= 0)
            break;
    }
    conn_kill(c);
}

/* Write as much queued output as the socket takes. */
static void flush_output(struct conn *c)
{
    if (c->dead || c->tls_state == TLS_HANDSHAKE)
        return;
    /* Fairness: a fast reader of a huge message must not monopolise the
     * loop; past the budget EPOLLOUT brings us back next iteration. */
    size_t budget = FLUSH_BUDGET;
    while (c->out_head && budget) {
        if (c->tls_state == TLS_PENDING && !c->plain_end)
            break; /* the rest was written after STARTTLS: encrypt it */
        struct chunk *ch = c->out_head;
        ssize_t n = ch->fd >= 0 ? send_file(c, ch) : send_raw(c, ch->data + ch->off, ch->len - ch->off);
        if (n < 0)
            return; /* killed */
        if (n == 0)
            break;
        ch->off += (size_t)n;
        c->out_bytes -= (size_t)n;
        budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
        if (ch->off == ch->len) {
            if (ch == c->plain_end)
                c->plain_end = NULL;
            c->out_head = ch->next;
            if (!c->out_head)
                c->out_tail = NULL;
            if (ch->fd >= 0)
                close(ch->fd);
            free(ch);
        }
    }
    if (c->tls_state == TLS_PENDING && !c->plain_end) {
        /* The plaintext "OK Begin TLS" is out; now the handshake. */
        start_handshake(c);
        return;
    }
    if (c->out_head)
        return;
    if (c->closing)
        finish_close(c);
}

static void deferred_drain(struct event_loop *loop, void *arg);

static void flush_and_notify(struct conn *c)
{
    flush_output(c);
    for (int i = 0; i < 8 && !c->dead; i++) {
        if (!maybe_drain(c))
            break;
        flush_output(c);
    }
    if (c->dead)
        return;
    /* Still due after a few rounds (the socket keeps taking everything
     * the protocol produces): continue in the next loop iteration rather
     * than starving other connections -- but never drop the request. */
    if (drain_due(c) && !c->drain_scheduled) {
        c->drain_scheduled = true;
        hold(c);
        ev_defer(c->loop, deferred_drain, c);
    }
    update_events(c);
}

static void deferred_flush(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct conn *c = arg;
    c->flush_scheduled = false;
    if (!c->dead)
        flush_and_notify(c);
    release(c);
}

static void schedule_flush(struct conn *c)
{
    if (c->dispatch > 0 || c->flush_scheduled)
        return; /* the running dispatch flushes when it ends */
    c->flush_scheduled = true;
    hold(c);
    ev_defer(c->loop, deferred_flush, c);
}

static struct chunk *chunk_new(size_t cap)
{
    struct chunk *ch = xmalloc(sizeof(*ch) + cap);
    ch->next = NULL;
    ch->fd = -1;
    ch->foff = 0;
    ch->len = ch->off = 0;
    ch->cap = cap;
    return ch;
}

static void chunk_append(struct conn *c, struct chunk *ch)
{
    if (c->out_tail)
        c->out_tail->next = ch;
    else
        c->out_head = ch;
    c->out_tail = ch;
}

static void note_queued(struct conn *c)
{
    if (c->out_bytes >= CONN_HIGH_WATER)
        c->above_high = true;
}

static bool can_send_now(const struct conn *c)
{
    return !c->dead && !c->out_head && (c->tls_state == TLS_NONE || c->tls_state == TLS_UP) &&
           !c->ssl_write_wants_read;
}

void conn_write(struct conn *c, const void *data, size_t len)
{
    if (c->dead || c->closing || len == 0)
        return;
    const char *p = data;
    if (len >= DIRECT_WRITE_MIN && can_send_now(c)) {
        ssize_t n = send_raw(c, p, len);
        if (n < 0)
            return;
        p += n;
        len -= (size_t)n;
        if (!len)
            return;
    }
    struct chunk *t = c->out_tail;
    if (t && t->fd < 0 && t->cap - t->len >= len) {
        memcpy(t->data + t->len, p, len);
        t->len += len;
    } else {
        size_t room = t && t->fd < 0 ? t->cap - t->len : 0;
        if (room) {
            memcpy(t->data + t->len, p, room);
            t->len += room;
            p += room;
            len -= room;
            c->out_bytes += room;
        }
        struct chunk *ch = chunk_new(MAX(len, (size_t)CHUNK_MIN));
        memcpy(ch->data, p, len);
        ch->len = len;
        chunk_append(c, ch);
    }
    c->out_bytes += len;
    note_queued(c);
    if (c->cur_events & EV_WRITE)
        return; /* waiting for the socket anyway */
    schedule_flush(c);
}

void conn_puts(struct conn *c, const char *s)
{
    conn_write(c, s, strlen(s));
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        conn_write(c, small, (size_t)n);
        return;
    }
    struct buf b = BUF_INIT;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    conn_write(c, b.data, b.len);
    buf_free(&b);
}

void conn_write_file(struct conn *c, int fd, off_t offset, size_t len)
{
    if (c->dead || c->closing || len == 0)
        return;
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0) {
        log_err("conn %s: dup: %s", c->peer, strerror(errno));
        conn_kill(c);
        return;
    }
    struct chunk *ch = chunk_new(0);
    ch->fd = dfd;
    ch->foff = offset;
    ch->len = len;
    chunk_append(c, ch);
    c->out_bytes += len;
    note_queued(c);
    if (!(c->cur_events & EV_WRITE))
        schedule_flush(c);
}

size_t conn_output_pending(const struct conn *c)
{
    return c->out_bytes;
}

bool conn_output_full(const struct conn *c)
{
    return c->out_bytes >= CONN_HIGH_WATER;
}

static void deferred_drain(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct conn *c = arg;
    c->drain_scheduled = false;
    if (!c->dead)
        flush_and_notify(c);
    release(c);
}

void conn_want_drain(struct conn *c)
{
    if (c->dead)
        return;
    c->want_drain = true;
    if (c->out_bytes && (c->dispatch > 0 || c->flush_scheduled || (c->cur_events & EV_WRITE)))
        return; /* the pending flush or EPOLLOUT reports it */
    /* Due now (or nothing will flush on its own): call back from the
     * loop, never from inside the caller. */
    if (c->drain_scheduled)
        return;
    c->drain_scheduled = true;
    hold(c);
    ev_defer(c->loop, deferred_drain, c);
}

/* ---- input -------------------------------------------------------------- */

static bool reading_allowed(const struct conn *c)
{
    return !c->dead && !c->paused && !c->closing && !c->eof && c->tls_state != TLS_PENDING;
}

static void deliver_input(struct conn *c)
{
    if (c->in.len == 0 || !reading_allowed(c) || !c->cb.on_input)
        return;
    c->dispatch++;
    c->cb.on_input(c, c->arg);
    c->dispatch--;
    if (!c->dead && c->in.len == 0)
        buf_free(&c->in); /* idle connections keep no input buffer */
}

static void on_peer_eof(struct conn *c)
{
    c->eof = true;
    /* Let a final reply (e.g. to a pipelined LOGOUT) go out first. */
    if (c->out_bytes) {
        conn_close(c);
        return;
    }
    conn_kill(c);
}

/* Read once; returns bytes read, 0 when nothing is there, -1 when the
 * conn ended (EOF or error). */
static ssize_t read_some(struct conn *c)
{
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, scratch_in, (int)sizeof(scratch_in));
        if (r > 0) {
            c->ssl_read_wants_write = false;
            return r;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            c->ssl_read_wants_write = false;
            return 0;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            c->ssl_read_wants_write = true;
            return 0;
        }
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
            ERR_clear_error();
            on_peer_eof(c);
            return -1;
        }
        tls_log_errors(true, "SSL_read");
        conn_kill(c);
        return -1;
    }
    for (;;) {
        ssize_t n = recv(c->fd, scratch_in, sizeof(scratch_in), 0);
        if (n > 0)
            return n;
        if (n == 0) {
            on_peer_eof(c);
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        log_debug("conn %s: recv: %s", c->peer, strerror(errno));
        conn_kill(c);
        return -1;
    }
}

static void input_ready(struct conn *c)
{
    for (int i = 0; i < READS_PER_EVENT && reading_allowed(c); i++) {
        ssize_t n = read_some(c);
        if (n <= 0)
            return;
        buf_append(&c->in, scratch_in, (size_t)n);
        deliver_input(c);
        if ((size_t)n < sizeof(scratch_in) && !(c->ssl && SSL_has_pending(c->ssl)))
            return;
    }
}

static void deferred_input(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct conn *c = arg;
    c->input_scheduled = false;
    if (!c->dead) {
        c->dispatch++;
        deliver_input(c);
        /* TLS may hold decrypted data epoll cannot see. */
        if (c->ssl && SSL_has_pending(c->ssl))
            input_ready(c);
        c->dispatch--;
        if (!c->dead)
            flush_and_notify(c);
    }
    release(c);
}

void conn_pause_input(struct conn *c)
{
    if (c->dead || c->paused)
        return;
    c->paused = true;
    if (c->dispatch == 0)
        update_events(c);
}

void conn_resume_input(struct conn *c)
{
    if (c->dead || !c->paused)
        return;
    c->paused = false;
    if (c->dispatch == 0)
        update_events(c);
    /* Input buffered while paused is delivered without waiting for more
     * bytes from the socket (which may never come). */
    if ((c->in.len || (c->ssl && SSL_has_pending(c->ssl))) && !c->input_scheduled) {
        c->input_scheduled = true;
        hold(c);
        ev_defer(c->loop, deferred_input, c);
    }
}

/* ---- epoll interest and dispatch --------------------------------------- */

static void update_events(struct conn *c)
{
    if (c->dead)
        return;
    int ev = 0;
    if (c->tls_state == TLS_HANDSHAKE) {
        ev = c->ssl_read_wants_write ? EV_WRITE : EV_READ;
    } else {
        if (reading_allowed(c))
            ev |= c->ssl_read_wants_write ? EV_WRITE : EV_READ;
        if (c->out_head)
            ev |= c->ssl_write_wants_read ? EV_READ : EV_WRITE;
    }
    if (ev != c->cur_events) {
        if (ev_fd_modify(c->loop, c->fd, ev) < 0) {
            log_err("conn %s: epoll modify: %s", c->peer, strerror(errno));
            conn_kill(c);
            return;
        }
        c->cur_events = ev;
    }
}

static void conn_event(struct event_loop *loop, int fd, int events, void *arg)
{
    (void)loop; (void)fd;
    struct conn *c = arg;
    if (c->dead)
        return;
    hold(c);
    c->dispatch++;
    if ((events & EV_ERROR) && !(c->cur_events & EV_READ) && c->tls_state != TLS_HANDSHAKE) {
        /* Reset or hang-up while we were not reading: nothing more can be
         * delivered either way. */
        conn_kill(c);
    } else if (c->tls_state == TLS_HANDSHAKE) {
        do_handshake(c);
        /* A TLS 1.3 client may send its first command right behind its
         * Finished; OpenSSL may already hold it. */
        if (!c->dead && c->tls_state == TLS_UP)
            input_ready(c);
    } else {
        if (c->out_head && (events & (c->ssl_write_wants_read ? EV_READ : EV_WRITE)))
            flush_output(c);
        if (!c->dead && (events & (c->ssl_read_wants_write ? EV_WRITE : EV_READ)))
            input_ready(c);
        if (!c->dead && c->closing && !c->out_head)
            finish_close(c);
    }
    c->dispatch--;
    if (!c->dead)
        flush_and_notify(c);
    release(c);
}

/* ---- STARTTLS ----------------------------------------------------------- */

int conn_starttls(struct conn *c, struct tls_ctx *tls)
{
    if (c->dead || c->closing || c->ssl || c->tls_state != TLS_NONE || !tls)
        return -1;
    /* RFC 9051 6.2.1 / RFC 3207 4.2: anything the client pipelined after
     * STARTTLS was sent in the clear and must not be interpreted. */
    buf_reset(&c->in);
    tls_ctx_ref(tls);
    c->tls = tls;
    c->tls_state = TLS_PENDING;
    if (!c->out_head) {
        start_handshake(c);
        return 0;
    }
    /* What is queued now goes out in the clear; anything written from
     * here on waits for the handshake. Seal the tail chunk so later
     * writes cannot be appended to it. */
    c->plain_end = c->out_tail;
    if (c->out_tail->fd < 0)
        c->out_tail->cap = c->out_tail->len;
    if (c->dispatch == 0) {
        update_events(c);
        schedule_flush(c);
    }
    return 0;
}

bool conn_is_tls(const struct conn *c)
{
    return c->tls_state != TLS_NONE;
}

bool conn_tls_exporter(struct conn *c, unsigned char out[32])
{
    if (!c->ssl || c->tls_state != TLS_UP || SSL_version(c->ssl) < TLS1_3_VERSION)
        return false;
    static const char label[] = "EXPORTER-Channel-Binding";
    ERR_clear_error();
    /* RFC 9266 2: empty context, not "no context" in the TLS 1.2 sense;
     * for TLS 1.3 both produce the same value. */
    return SSL_export_keying_material(c->ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0) == 1;
}

const char *conn_tls_desc(const struct conn *c)
{
    static char desc[96];
    if (!c->ssl || c->tls_state != TLS_UP)
        return "";
    snprintf(desc, sizeof(desc), "%s %s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
    return desc;
}

/* ---- closing -------------------------------------------------------------- */

static void close_timeout(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct conn *c = arg;
    c->close_timer = 0;
    log_info("conn %s: output not drained within %d s; aborting", c->peer, CLOSE_TIMEOUT_MS / 1000);
    conn_kill(c);
    release(c);
}

void conn_close(struct conn *c)
{
    if (c->dead || c->closing)
        return;
    c->closing = true;
    buf_reset(&c->in);
    if (!c->out_head && c->tls_state != TLS_HANDSHAKE && c->tls_state != TLS_PENDING) {
        finish_close(c);
        return;
    }
    if (c->tls_state == TLS_HANDSHAKE || c->tls_state == TLS_PENDING) {
        /* Nothing we queued can be delivered before a handshake that may
         * never complete; give up on it. */
        conn_kill(c);
        return;
    }
    hold(c);
    c->close_timer = ev_timer_add(c->loop, CLOSE_TIMEOUT_MS, close_timeout, c);
    if (c->dispatch == 0) {
        update_events(c);
        schedule_flush(c);
    }
}

void conn_abort(struct conn *c)
{
    conn_kill(c);
}

bool conn_is_closing(const struct conn *c)
{
    return c->dead || c->closing;
}

/* ---- accessors ------------------------------------------------------------- */

struct buf *conn_input(struct conn *c)
{
    return &c->in;
}

const char *conn_peer_addr(const struct conn *c)
{
    return c->peer;
}

int conn_peer_port(const struct conn *c)
{
    return c->port;
}

int conn_fd(const struct conn *c)
{
    return c->fd;
}

struct event_loop *conn_loop(const struct conn *c)
{
    return c->loop;
}

void conn_set_arg(struct conn *c, void *arg)
{
    c->arg = arg;
}

size_t conn_memory(const struct conn *c)
{
    size_t n = sizeof(*c) + c->in.cap;
    for (const struct chunk *ch = c->out_head; ch; ch = ch->next)
        n += sizeof(*ch) + ch->cap;
    if (c->ssl)
        n += 2048; /* SSL object with released buffers, roughly */
    return n;
}

size_t conn_count(void)
{
    return live_conns;
}
