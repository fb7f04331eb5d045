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
#include <zlib.h>

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

struct conn_z {
    z_stream inf, def;
    bool def_live;          /* deflater set up (between sync flushes) */
    bool dirty;             /* deflated since the last sync flush */
    bool plain_pending;     /* chunks up to plain_end still go uncompressed */
    struct chunk *plain_end;
    bool inf_more;          /* the last inflate filled its output */
    bool inf_end;           /* the client's stream had its final block */
    struct buf zin;         /* compressed input not yet inflated */
    size_t zin_off;
    struct buf zout;        /* compressed output not yet sent */
    size_t zout_off;
    size_t zmem;            /* bytes zlib holds now (conn_memory) */
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

    struct conn_z *z;           /* COMPRESS=DEFLATE state, NULL when off */

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
static void z_free_all(struct conn *c);
static bool z_in_backlog(const struct conn *c);
static bool has_output(const struct conn *c);
static int flush_z_step(struct conn *c, size_t *budget);
static void feed_input(struct conn *c);
static void schedule_input(struct conn *c);
static size_t conn_z_memory(const struct conn *c);

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
    z_free_all(c);
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

/* Read the next (at most SCRATCH_SIZE) bytes of a file chunk into
 * scratch_out. Returns how many, or 0 when the conn was killed. */
static size_t read_file_piece(struct conn *c, const struct chunk *ch)
{
    size_t want = MIN(ch->len - ch->off, (size_t)SCRATCH_SIZE);
    off_t pos = ch->foff + (off_t)ch->off;
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(ch->fd, scratch_out + got, want - got, pos + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            log_err("conn %s: reading file to send: %s", c->peer, n < 0 ? strerror(errno) : "short file");
            conn_kill(c);
            return 0;
        }
        got += (size_t)n;
    }
    return want;
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
    size_t want = read_file_piece(c, ch);
    if (!want)
        return -1;
    return send_raw(c, scratch_out, want);
}

static bool drain_due(const struct conn *c)
{
    return !c->dead && !c->closing &&
           ((c->above_high && c->out_bytes < CONN_LOW_WATER) || (c->want_drain && !has_output(c)));
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
    if (c->want_drain && !has_output(c)) {
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
    while (budget) {
        if (c->z && !c->z->plain_pending) {
            /* COMPRESS active: the queue holds plaintext, deflated as
             * the socket takes it. */
            int r = flush_z_step(c, &budget);
            if (r < 0)
                return; /* killed */
            if (r == 0)
                break;
            continue;
        }
        if (!c->out_head)
            break;
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
            if (c->z && ch == c->z->plain_end) {
                /* the tagged OK to COMPRESS is out: deflate from here */
                c->z->plain_end = NULL;
                c->z->plain_pending = false;
            }
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
    if (has_output(c))
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
    return !c->dead && !c->out_head && !c->z && (c->tls_state == TLS_NONE || c->tls_state == TLS_UP) &&
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
    if (has_output(c) && (c->dispatch > 0 || c->flush_scheduled || (c->cur_events & EV_WRITE)))
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
    if (has_output(c)) {
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
    /* With COMPRESS, nothing more is read while earlier compressed input
     * is still being inflated (feed_input continues it): at most one
     * read's worth of compressed bytes waits per connection. */
    for (int i = 0; i < READS_PER_EVENT && reading_allowed(c) && !z_in_backlog(c); i++) {
        ssize_t n = read_some(c);
        if (n <= 0)
            return;
        if (c->z) {
            buf_append(&c->z->zin, scratch_in, (size_t)n);
            feed_input(c);
        } else {
            buf_append(&c->in, scratch_in, (size_t)n);
            deliver_input(c);
        }
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
        feed_input(c);
        /* TLS may hold decrypted data epoll cannot see. */
        if (c->ssl && SSL_has_pending(c->ssl))
            input_ready(c);
        c->dispatch--;
        if (!c->dead)
            flush_and_notify(c);
    }
    release(c);
}

static void schedule_input(struct conn *c)
{
    if (c->input_scheduled || c->dead)
        return;
    c->input_scheduled = true;
    hold(c);
    ev_defer(c->loop, deferred_input, c);
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
    if (c->in.len || z_in_backlog(c) || (c->ssl && SSL_has_pending(c->ssl)))
        schedule_input(c);
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
        if (reading_allowed(c) && !z_in_backlog(c))
            ev |= c->ssl_read_wants_write ? EV_WRITE : EV_READ;
        if (has_output(c))
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
        if (has_output(c) && (events & (c->ssl_write_wants_read ? EV_READ : EV_WRITE)))
            flush_output(c);
        if (!c->dead && (events & (c->ssl_read_wants_write ? EV_WRITE : EV_READ)))
            input_ready(c);
        if (!c->dead && c->closing && !has_output(c))
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
    if (c->dead || c->closing || c->ssl || c->tls_state != TLS_NONE || !tls || c->z)
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
    if (!has_output(c) && c->tls_state != TLS_HANDSHAKE && c->tls_state != TLS_PENDING) {
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
    n += conn_z_memory(c);
    return n;
}

size_t conn_count(void)
{
    return live_conns;
}

/* ---- COMPRESS=DEFLATE (RFC 4978) ------------------------------------------
 *
 * A raw deflate stream (RFC 1951, no zlib header: windowBits negative)
 * between the protocol's buffered I/O and the socket or TLS: data is
 * compressed, then encrypted, and decrypted, then inflated (RFC 4978 3).
 * Once started it never stops.
 *
 * Output: the chunk queue keeps holding plaintext (so back-pressure,
 * conn_output_pending and file chunks work as before); flush_output
 * deflates at most SCRATCH_SIZE of it at a time into zout, and deflates
 * more only after zout has gone out, so compressed output waiting for
 * the socket is bounded by one piece and deflate's CPU is spent only as
 * fast as the client reads. Whenever the queue runs empty - the end of
 * every response the protocol flushed, an IDLE continuation, an
 * unsolicited EXISTS - the stream is Z_SYNC_FLUSHed so the client can
 * decode everything sent so far (RFC 4978 4). After that flush the
 * deflater is freed (a new raw stream may follow a sync flush: it ends
 * on a byte boundary after an empty stored block, and the new stream
 * refers only to its own data), so an idle connection pays for no
 * deflate state; it is set up again by the next response.
 *
 * Input: compressed bytes read from the socket wait in zin; each inflate
 * step writes at most INFLATE_STEP bytes into the connection's ordinary
 * input buffer and hands them to on_input before the next step. So the
 * protocol sees inflated input in pieces no larger than one plaintext
 * read, and its own limits (line length, literal size, the connection
 * memory limit) bound what a decompression bomb can make the server
 * hold; nothing else is allocated for it. The next step runs only once
 * the protocol has taken all it was given or has taken nothing (it needs
 * more bytes for a partial line); when it took part (IMAP runs a few
 * pipelined commands per turn) the rest is offered again next turn
 * first, so inflated input never piles up faster than it is served.
 * Nothing more is read from the socket while zin is not empty, and at
 * most INFLATE_STEPS_PER_TURN steps run per loop turn, so one client's
 * bomb costs CPU in slices and other connections are served in
 * between. The inflater must take the
 * client's choice of window (up to 32 KiB, RFC 1951), so it is
 * windowBits -15; zlib allocates that window on the first output.
 */

#define INFLATE_STEP SCRATCH_SIZE
#define INFLATE_STEPS_PER_TURN 16
#define Z_HDR 16 /* size header of our zlib allocations, keeps alignment */


static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    struct conn_z *z = opaque;
    if (size && items > (SIZE_MAX - Z_HDR) / size)
        return Z_NULL;
    size_t n = (size_t)items * size;
    unsigned char *p = malloc(n + Z_HDR);
    if (!p)
        return Z_NULL;
    memcpy(p, &n, sizeof(n));
    z->zmem += n;
    return p + Z_HDR;
}

static void z_release(voidpf opaque, voidpf addr)
{
    struct conn_z *z = opaque;
    if (!addr)
        return;
    unsigned char *p = (unsigned char *)addr - Z_HDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    z->zmem -= n;
    free(p);
}

static void z_free_all(struct conn *c)
{
    struct conn_z *z = c->z;
    if (!z)
        return;
    inflateEnd(&z->inf);
    if (z->def_live)
        deflateEnd(&z->def);
    buf_free(&z->zin);
    buf_free(&z->zout);
    free(z);
    c->z = NULL;
}

static size_t conn_z_memory(const struct conn *c)
{
    const struct conn_z *z = c->z;
    if (!z)
        return 0;
    return sizeof(*z) + z->zmem + z->zin.cap + z->zout.cap;
}

static bool z_in_backlog(const struct conn *c)
{
    const struct conn_z *z = c->z;
    return z && (z->zin.len > z->zin_off || z->inf_more);
}

static bool has_output(const struct conn *c)
{
    const struct conn_z *z = c->z;
    return c->out_head || (z && (z->zout.len > z->zout_off || z->dirty));
}

/* Inflate at most INFLATE_STEP bytes into c->in. Returns -1 when the
 * connection is closing (corrupt stream), else 0. */
static int inflate_step(struct conn *c)
{
    struct conn_z *z = c->z;
    size_t avail = z->zin.len - z->zin_off;
    if (z->inf_end) {
        /* Nothing may follow a final block: RFC 4978 has no way to end
         * compression. */
        log_debug("conn %s: data after the end of the compressed stream", c->peer);
        conn_close(c);
        return -1;
    }
    buf_reserve(&c->in, INFLATE_STEP);
    z->inf.next_in = avail ? (Bytef *)z->zin.data + z->zin_off : Z_NULL;
    z->inf.avail_in = (uInt)avail;
    z->inf.next_out = (Bytef *)c->in.data + c->in.len;
    z->inf.avail_out = INFLATE_STEP;
    int r = inflate(&z->inf, Z_SYNC_FLUSH);
    size_t used = avail - z->inf.avail_in;
    size_t made = INFLATE_STEP - z->inf.avail_out;
    c->in.len += made;
    c->in.data[c->in.len] = '\0';
    z->zin_off += used;
    if (z->zin_off == z->zin.len) {
        buf_free(&z->zin);
        z->zin_off = 0;
    }
    z->inf_more = z->inf.avail_out == 0;
    if (r == Z_STREAM_END) {
        z->inf_end = true;
        z->inf_more = false;
        return 0;
    }
    if (r == Z_OK || (r == Z_BUF_ERROR && used == 0 && made == 0 && z->zin.len == 0)) {
        if (used == 0 && made == 0)
            z->inf_more = false; /* nothing more in there */
        return 0;
    }
    log_debug("conn %s: bad compressed input: %s", c->peer, z->inf.msg ? z->inf.msg : "inflate error");
    conn_close(c);
    return -1;
}

/* Hand buffered input to the protocol; with COMPRESS inflate the next
 * pieces, one on_input per piece, while the protocol keeps reading. */
static void feed_input(struct conn *c)
{
    size_t had = c->in.len;
    deliver_input(c);
    if (!c->z)
        return;
    for (int i = 0;; i++) {
        if (!reading_allowed(c) || !z_in_backlog(c))
            return;
        /* The protocol took some of its input but not all (IMAP stops
         * after a few pipelined commands for fairness): let it have the
         * rest next turn before inflating more, so inflated input never
         * piles up faster than it is served. When it took nothing it
         * needs more bytes (a partial line): inflate on. */
        if (c->in.len && c->in.len < had)
            break;
        if (i == INFLATE_STEPS_PER_TURN)
            break;
        if (inflate_step(c) < 0)
            return;
        had = c->in.len;
        deliver_input(c);
    }
    /* More to inflate: continue next turn, after other connections. */
    schedule_input(c);
}

/* Deflate len bytes (or just flush) into zout. Returns -1 when killed. */
static int deflate_into(struct conn *c, const void *p, size_t len, int flush)
{
    struct conn_z *z = c->z;
    if (!z->def_live) {
        memset(&z->def, 0, sizeof(z->def));
        z->def.zalloc = z_alloc;
        z->def.zfree = z_release;
        z->def.opaque = z;
        if (deflateInit2(&z->def, CONN_DEFLATE_LEVEL, Z_DEFLATED, -CONN_DEFLATE_WBITS, CONN_DEFLATE_MEMLEVEL,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            log_err("conn %s: deflateInit2 failed", c->peer);
            conn_kill(c);
            return -1;
        }
        z->def_live = true;
    }
    z->def.next_in = len ? (Bytef *)(uintptr_t)p : Z_NULL;
    z->def.avail_in = (uInt)len;
    do {
        buf_reserve(&z->zout, 16 * 1024);
        size_t room = z->zout.cap - z->zout.len - 1;
        if (room > UINT32_MAX)
            room = UINT32_MAX;
        z->def.next_out = (Bytef *)z->zout.data + z->zout.len;
        z->def.avail_out = (uInt)room;
        int r = deflate(&z->def, flush);
        size_t made = room - z->def.avail_out;
        z->zout.len += made;
        c->out_bytes += made;
        if (r == Z_STREAM_ERROR) {
            log_err("conn %s: deflate failed", c->peer);
            conn_kill(c);
            return -1;
        }
    } while (z->def.avail_in > 0 || z->def.avail_out == 0);
    if (z->zout.len == 0)
        buf_free(&z->zout);
    return 0;
}

/* One step of compressed output: send pending compressed bytes, else
 * deflate the next piece of the queue, else sync-flush. Returns 1 on
 * progress, 0 when the socket is full or nothing is left, -1 when
 * killed. */
static int flush_z_step(struct conn *c, size_t *budget)
{
    struct conn_z *z = c->z;
    if (z->zout.len > z->zout_off) {
        ssize_t n = send_raw(c, z->zout.data + z->zout_off, z->zout.len - z->zout_off);
        if (n <= 0)
            return n < 0 ? -1 : 0;
        z->zout_off += (size_t)n;
        c->out_bytes -= (size_t)n;
        *budget = (size_t)n >= *budget ? 0 : *budget - (size_t)n;
        if (z->zout_off == z->zout.len) {
            buf_free(&z->zout);
            z->zout_off = 0;
        }
        return 1;
    }
    struct chunk *ch = c->out_head;
    if (ch) {
        size_t len;
        const char *p;
        if (ch->fd >= 0) {
            len = read_file_piece(c, ch);
            if (!len)
                return -1;
            p = scratch_out;
        } else {
            len = MIN(ch->len - ch->off, (size_t)SCRATCH_SIZE);
            p = ch->data + ch->off;
        }
        if (deflate_into(c, p, len, Z_NO_FLUSH) < 0)
            return -1;
        z->dirty = true;
        ch->off += len;
        c->out_bytes -= len;
        *budget = len >= *budget ? 0 : *budget - len;
        if (ch->off == ch->len) {
            c->out_head = ch->next;
            if (!c->out_head)
                c->out_tail = NULL;
            if (ch->fd >= 0)
                close(ch->fd);
            free(ch);
        }
        return 1;
    }
    if (z->dirty) {
        /* The queue is empty: everything the protocol wrote must reach
         * the client now (RFC 4978 4), then the deflater goes. */
        if (deflate_into(c, NULL, 0, Z_SYNC_FLUSH) < 0)
            return -1;
        z->dirty = false;
        deflateEnd(&z->def);
        z->def_live = false;
        return 1;
    }
    return 0;
}

int conn_compress_start(struct conn *c)
{
    if (c->dead || c->closing || c->z || c->tls_state == TLS_PENDING || c->tls_state == TLS_HANDSHAKE)
        return -1;
    struct conn_z *z = xcalloc(1, sizeof(*z));
    z->inf.zalloc = z_alloc;
    z->inf.zfree = z_release;
    z->inf.opaque = z;
    if (inflateInit2(&z->inf, -15) != Z_OK) {
        log_err("conn %s: inflateInit2 failed", c->peer);
        free(z);
        return -1;
    }
    if (c->out_tail) {
        /* RFC 4978 3: what is queued (the tagged OK) goes out as it is;
         * seal the last chunk so later writes start a compressed one. */
        z->plain_pending = true;
        z->plain_end = c->out_tail;
        if (c->out_tail->fd < 0)
            c->out_tail->cap = c->out_tail->len;
    }
    /* Input after the command line is already compressed (the client
     * starts with the first command after COMPRESS). */
    if (c->in.len) {
        buf_append(&z->zin, c->in.data, c->in.len);
        buf_reset(&c->in);
    }
    c->z = z;
    if (z->zin.len)
        schedule_input(c);
    return 0;
}

bool conn_is_compressed(const struct conn *c)
{
    return c->z != NULL;
}
