/* conn.c - dariusbench connections: socket I/O, IMAP response parsing and
 * command helpers.
 *
 * The parser works on logical response lines (RFC 3501 section 2.2.2 /
 * 7): a line that ends in a literal announcement "{N}" continues after the
 * N literal octets, so a FETCH of a message body is one logical line even
 * though it spans many CRLFs. Input is kept in one buffer with a read
 * cursor and compacted once per read: a 1,000,000-line FETCH response must
 * not cost a memmove per line.
 */
#include "bench.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A response longer than this without completing is a broken server (or a
 * broken parser); we drop the connection rather than grow without bound. */
#define MAX_PENDING_INPUT (512u * 1024 * 1024)

static struct sockaddr_storage target;
static socklen_t target_len;
static SSL_CTX *tls_ctx;

double bench_now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t bench_rng_next(uint64_t *s)
{
    /* xorshift64*: plenty for picking messages at random. */
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

bool bench_resolve_target(void)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", bench_opts.port);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    int rc = getaddrinfo(bench_opts.host, port, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "dariusbench: cannot resolve %s:%s: %s\n", bench_opts.host, port,
                gai_strerror(rc));
        return false;
    }
    memcpy(&target, res->ai_addr, res->ai_addrlen);
    target_len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

bool bench_tls_init(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx) {
        fprintf(stderr, "dariusbench: SSL_CTX_new failed\n");
        return false;
    }
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    return true;
}

bool bconn_tls_start(struct bconn *c)
{
    c->ssl = SSL_new(tls_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        return false;
    /* Our output buffer may move (realloc) between a short write and its
     * retry; partial writes let us account bytes like plain send(). */
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_connect_state(c->ssl);
    int r = SSL_do_handshake(c->ssl);
    if (r == 1)
        return true;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return true; /* non-blocking: SSL_read/SSL_write continue it */
    ERR_clear_error();
    return false;
}

/* recv()/send() look-alikes over plain TCP or TLS: >0 bytes, 0 EOF, -1 with
 * errno (EAGAIN when TLS needs more I/O first). */
static ssize_t io_result(struct bconn *c, int r, bool reading)
{
    if (r > 0)
        return r;
    int e = SSL_get_error(c->ssl, r);
    c->tls_want_write = false;
    switch (e) {
    case SSL_ERROR_WANT_WRITE:
        c->tls_want_write = reading;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return -1;
        if (errno == 0)
            return 0;
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

static ssize_t io_recv(struct bconn *c, void *p, size_t n)
{
    if (!c->ssl)
        return recv(c->fd, p, n, 0);
    errno = 0;
    return io_result(c, SSL_read(c->ssl, p, (int)MIN(n, (size_t)INT_MAX)), true);
}

static ssize_t io_send(struct bconn *c, const void *p, size_t n)
{
    if (!c->ssl)
        return send(c->fd, p, n, MSG_NOSIGNAL);
    errno = 0;
    return io_result(c, SSL_write(c->ssl, p, (int)MIN(n, (size_t)INT_MAX)), false);
}

void bench_user_name(int idx, char *out, size_t outlen)
{
    /* USERFMT is user input: substitute "%d" ourselves instead of handing
     * it to printf as a format string. */
    const char *fmt = bench_opts.userfmt;
    const char *p = strstr(fmt, "%d");
    if (!p) {
        snprintf(out, outlen, "%s", fmt);
        return;
    }
    int users = bench_opts.users > 0 ? bench_opts.users : 1;
    snprintf(out, outlen, "%.*s%d%s", (int)(p - fmt), fmt, idx % users, p + 2);
}

void bench_put_quoted(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(b, '\\');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

void bench_make_message(struct buf *b, size_t size, unsigned long seq, uint64_t *rng)
{
    static const char *words[] = {
        "the", "quarterly", "report", "meeting", "agenda", "server", "mailbox", "budget",
        "review", "please", "attached", "thanks", "regards", "tomorrow", "project", "update",
        "deadline", "customer", "release", "notes", "schedule", "question", "answer", "draft",
    };
    uint64_t id = bench_rng_next(rng);
    buf_reset(b);
    buf_printf(b,
               "Return-Path: <sender%lu@example.org>\r\n"
               "From: Bench Sender %lu <sender%lu@example.org>\r\n"
               "To: Bench User <user@example.com>\r\n"
               "Subject: Benchmark message %lu about the %s %s\r\n"
               "Date: Sat, 21 Nov 2026 12:%02lu:%02lu +0000\r\n"
               "Message-ID: <%016llx.%lu@bench.example>\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=us-ascii\r\n"
               "\r\n",
               seq % 97, seq % 97, seq % 97, seq, words[id % ARRAY_SIZE(words)],
               words[(id >> 8) % ARRAY_SIZE(words)], (seq / 60) % 60, seq % 60,
               (unsigned long long)id, seq);
    size_t line = 0;
    while (b->len + 2 < size) {
        const char *w = words[bench_rng_next(rng) % ARRAY_SIZE(words)];
        size_t wl = strlen(w);
        if (line + wl + 1 > 72) {
            buf_puts(b, "\r\n");
            line = 0;
            continue;
        }
        if (line)
            buf_putc(b, ' ');
        buf_puts(b, w);
        line += wl + 1;
    }
    buf_puts(b, "\r\n");
}

void bconn_init(struct bconn *c, int idx)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->idx = idx;
    c->closed = true;
    c->rng = 0x1234567ull + (uint64_t)idx * 0x9E3779B97F4A7C15ull;
}

static void reset_state(struct bconn *c)
{
    buf_reset(&c->in);
    buf_reset(&c->out);
    buf_reset(&c->pending_lit);
    c->rpos = c->scan = c->lit_need = 0;
    c->in_lit = false;
    c->wpos = 0;
    c->want_write = false;
    c->busy = false;
    c->wait_cont = false;
    c->status = ST_NONE;
    c->status_text[0] = '\0';
    c->greeted = false;
    c->got_cont = false;
    c->bye = false;
    c->caps_literal_plus = false;
    c->exists = 0;
    c->fetch_lines = 0;
    c->appenduid = 0;
    c->search_hits = -1;
    c->size_sum = 0;
    c->server_pid = 0;
    c->nuids = 0;
    c->idling = false;
}

void bconn_free(struct bconn *c)
{
    bconn_close(c);
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->pending_lit);
}

bool bconn_connect(struct bconn *c, bool block)
{
    bconn_close(c);
    reset_state(c);
    int fd = socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (block ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0)
        return false;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (block && bench_opts.timeout > 0) {
        struct timeval tv = {.tv_sec = bench_opts.timeout};
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    c->fd = fd;
    c->closed = false;
    c->t_start = bench_now_sec();
    c->op = OP_CONNECT;
    c->busy = true; /* the greeting is the "response" to connecting */
    if (connect(fd, (struct sockaddr *)&target, target_len) < 0) {
        if (errno != EINPROGRESS) {
            bconn_close(c);
            return false;
        }
        c->connecting = true;
    } else {
        c->connecting = false;
        if (bench_opts.tls && !bconn_tls_start(c)) {
            bconn_close(c);
            return false;
        }
    }
    return true;
}

void bconn_close(struct bconn *c)
{
    if (c->ssl) {
        SSL_free(c->ssl); /* no close_notify: we are dropping the socket */
        c->ssl = NULL;
    }
    c->tls_want_write = false;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->closed = true;
    c->connecting = false;
    c->busy = false;
}

static void start_cmd(struct bconn *c, enum op op)
{
    snprintf(c->tag, sizeof c->tag, "A%u", ++c->tagn);
    c->op = op;
    c->busy = true;
    c->status = ST_NONE;
    c->status_text[0] = '\0';
    c->got_cont = false;
    c->appenduid = 0;
    c->search_hits = -1;
    c->t_start = bench_now_sec();
}

void bconn_cmd(struct bconn *c, enum op op, const char *fmt, ...)
{
    start_cmd(c, op);
    buf_puts(&c->out, c->tag);
    buf_putc(&c->out, ' ');
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&c->out, fmt, ap);
    va_end(ap);
    buf_puts(&c->out, "\r\n");
}

void bconn_append(struct bconn *c, enum op op, const struct buf *msg, bool plus)
{
    start_cmd(c, op);
    buf_printf(&c->out, "%s APPEND INBOX {%zu%s}\r\n", c->tag, msg->len, plus ? "+" : "");
    if (plus) {
        buf_append(&c->out, msg->data, msg->len);
        buf_puts(&c->out, "\r\n");
    } else {
        /* RFC 3501 7.5: the literal may only follow the server's "+". */
        buf_reset(&c->pending_lit);
        buf_append(&c->pending_lit, msg->data, msg->len);
        buf_puts(&c->pending_lit, "\r\n");
        c->wait_cont = true;
    }
}

void bconn_raw(struct bconn *c, const char *s)
{
    buf_puts(&c->out, s);
}

int bconn_flush(struct bconn *c)
{
    while (c->wpos < c->out.len) {
        ssize_t w = io_send(c, c->out.data + c->wpos, c->out.len - c->wpos);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->wpos += (size_t)w;
    }
    buf_reset(&c->out);
    c->wpos = 0;
    return 0;
}

static bool has_word(const char *line, size_t len, const char *w)
{
    return memmem(line, len, w, strlen(w)) != NULL;
}

static void note_caps(struct bconn *c, const char *line, size_t len)
{
    size_t l = MIN(len, (size_t)4096);
    if (!has_word(line, l, "CAPABILITY"))
        return;
    /* RFC 7888: LITERAL+ allows any size; LITERAL- only up to 4096 octets.
     * We only use non-synchronising literals with full LITERAL+. */
    if (has_word(line, l, "LITERAL+"))
        c->caps_literal_plus = true;
}

/* "* 12 FETCH (UID 345 FLAGS ...": remember the UID (first 64 per command). */
static void note_fetch_uid(struct bconn *c, const char *line, size_t len)
{
    size_t l = MIN(len, (size_t)256);
    const char *p = memmem(line, l, "(UID ", 5);
    if (!p)
        p = memmem(line, l, " UID ", 5);
    if (!p)
        return;
    p += 5;
    unsigned long v = 0;
    int digits = 0;
    while (p < line + l && *p >= '0' && *p <= '9' && digits < 10) {
        v = v * 10 + (unsigned long)(*p - '0');
        p++;
        digits++;
    }
    if (digits && v && v <= UINT32_MAX && c->nuids < (int)ARRAY_SIZE(c->uids))
        c->uids[c->nuids++] = (uint32_t)v;
}

/* "RFC822.SIZE 1234" in a FETCH line: add it to size_sum. */
static void note_fetch_size(struct bconn *c, const char *line, size_t len)
{
    size_t l = MIN(len, (size_t)256);
    const char *p = memmem(line, l, "RFC822.SIZE ", 12);
    if (!p)
        return;
    p += 12;
    unsigned long long v = 0;
    int digits = 0;
    while (p < line + l && *p >= '0' && *p <= '9' && digits < 15) {
        v = v * 10 + (unsigned long long)(*p - '0');
        p++;
        digits++;
    }
    c->size_sum += v;
}

static void handle_line(struct bconn *c, const char *line, size_t len, bool *tagged, bool *cont)
{
    if (len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' ')) {
        if (c->wait_cont) {
            buf_append(&c->out, c->pending_lit.data, c->pending_lit.len);
            buf_reset(&c->pending_lit);
            c->wait_cont = false;
        } else {
            c->got_cont = true;
            *cont = true;
        }
        return;
    }
    if (len >= 2 && line[0] == '*' && line[1] == ' ') {
        const char *p = line + 2, *end = line + len;
        note_caps(c, line, len);
        if (!c->greeted) {
            /* RFC 3501 7.1: the greeting is OK, PREAUTH or BYE. */
            c->greeted = true;
            c->status = (len >= 5 && strncasecmp(p, "BYE", 3) == 0) ? ST_BYE : ST_OK;
            snprintf(c->status_text, sizeof c->status_text, "%.*s", (int)MIN(len, (size_t)150), line);
            c->busy = false;
            *tagged = true;
            return;
        }
        if (end - p >= 3 && strncasecmp(p, "BYE", 3) == 0) {
            c->bye = true;
            return;
        }
        if ((end - p >= 6 && strncasecmp(p, "SEARCH", 6) == 0 && (end - p == 6 || p[6] == ' ')) ||
            (end - p >= 4 && strncasecmp(p, "SORT", 4) == 0 && (end - p == 4 || p[4] == ' '))) {
            /* RFC 3501 7.2.5: "* SEARCH 2 3 6": count the numbers (the
             * same for RFC 5256's "* SORT 2 3 6"). */
            long hits = 0;
            for (const char *q = p + 4; q < end; q++)
                if (*q >= '0' && *q <= '9' && q[-1] == ' ')
                    hits++;
            c->search_hits = hits;
            return;
        }
        if (end - p >= 7 && strncasecmp(p, "ESEARCH", 7) == 0) {
            /* RFC 9394 3.1: "* ESEARCH (TAG "x") PARTIAL (1:50 4,9:11)":
             * the messages of the range's sequence-set (ranges expanded;
             * NIL: none). Other ESEARCH answers leave search_hits -1. */
            const char *q = p + 7;
            while (q + 9 <= end && strncasecmp(q, "PARTIAL (", 9) != 0)
                q++;
            if (q + 9 > end)
                return;
            q += 9;
            while (q < end && *q != ' ' && *q != ')')
                q++;
            long hits = 0;
            unsigned long lo = 0, cur = 0;
            bool range = false, num = false;
            for (q++; q <= end; q++) {
                char ch = q < end ? *q : ')';
                if (ch >= '0' && ch <= '9') {
                    cur = cur * 10 + (unsigned long)(ch - '0');
                    num = true;
                } else if (ch == ':') {
                    lo = cur;
                    cur = 0;
                    range = true;
                    num = false;
                } else {
                    if (num)
                        hits += range ? (long)(cur > lo ? cur - lo : lo - cur) + 1 : 1;
                    cur = 0;
                    range = num = false;
                    if (ch != ',')
                        break;
                }
            }
            c->search_hits = hits;
            return;
        }
        if (end - p >= 6 && strncasecmp(p, "THREAD", 6) == 0 && (end - p == 6 || p[6] == ' ')) {
            /* RFC 5256 4: "* THREAD (2)(3 6 (4 23)(44 7 96))": every
             * number is a message. */
            long hits = 0;
            for (const char *q = p + 6; q < end; q++)
                if (*q >= '0' && *q <= '9' && !(q[-1] >= '0' && q[-1] <= '9'))
                    hits++;
            c->search_hits = hits;
            return;
        }
        if (p < end && *p >= '0' && *p <= '9') {
            unsigned long n = 0;
            while (p < end && *p >= '0' && *p <= '9' && n < 1000000000ul)
                n = n * 10 + (unsigned long)(*p++ - '0');
            if (p < end && *p == ' ')
                p++;
            if (end - p >= 6 && strncasecmp(p, "EXISTS", 6) == 0) {
                c->exists = n;
            } else if (end - p >= 5 && strncasecmp(p, "FETCH", 5) == 0) {
                c->fetch_lines++;
                note_fetch_uid(c, line, len);
                note_fetch_size(c, line, len);
            } else if (end - p >= 7 && strncasecmp(p, "EXPUNGE", 7) == 0) {
                if (c->exists)
                    c->exists--;
            }
        }
        return;
    }
    size_t tl = strlen(c->tag);
    if (c->busy && tl && len > tl && memcmp(line, c->tag, tl) == 0 && line[tl] == ' ') {
        const char *p = line + tl + 1;
        size_t rest = len - tl - 1;
        if (rest >= 2 && strncasecmp(p, "OK", 2) == 0)
            c->status = ST_OK;
        else if (rest >= 2 && strncasecmp(p, "NO", 2) == 0)
            c->status = ST_NO;
        else
            c->status = ST_BAD;
        snprintf(c->status_text, sizeof c->status_text, "%.*s", (int)MIN(len, (size_t)150), line);
        note_caps(c, line, len);
        /* RFC 4315 3: "OK [APPENDUID uidvalidity uid]" */
        const char *a = memmem(line, MIN(len, (size_t)256), "[APPENDUID ", 11);
        if (a) {
            unsigned long v, u;
            if (sscanf(a + 11, "%lu %lu", &v, &u) == 2 && u <= UINT32_MAX)
                c->appenduid = (uint32_t)u;
        }
        c->busy = false;
        *tagged = true;
        return;
    }
    /* Anything else (a stray tag) is ignored: a load generator should not
     * die on a line it does not understand. */
}

/* Parse every complete logical line in the input buffer. */
static int parse_input(struct bconn *c, bool *tagged, bool *cont)
{
    for (;;) {
        char *d = c->in.data;
        if (c->in_lit) {
            size_t avail = c->in.len - c->scan;
            if (avail < c->lit_need) {
                c->lit_need -= avail;
                c->scan = c->in.len;
                break;
            }
            c->scan += c->lit_need;
            c->lit_need = 0;
            c->in_lit = false;
        }
        if (c->scan >= c->in.len)
            break;
        char *crlf = memmem(d + c->scan, c->in.len - c->scan, "\r\n", 2);
        if (!crlf) {
            /* Keep a trailing '\r' in view for the next read. */
            c->scan = c->in.len - 1 > c->scan ? c->in.len - 1 : c->scan;
            break;
        }
        size_t eol = (size_t)(crlf - d);
        if (eol > c->rpos && d[eol - 1] == '}') {
            /* Literal announcement "{N}" (or "~{N}" for BINARY). */
            size_t i = eol - 1;
            size_t lim = eol > 24 ? eol - 24 : 0;
            while (i > lim && i > c->rpos && d[i - 1] >= '0' && d[i - 1] <= '9')
                i--;
            if (i > c->rpos && d[i - 1] == '{' && i < eol - 1) {
                unsigned long long n = strtoull(d + i, NULL, 10);
                if (n > MAX_PENDING_INPUT)
                    return -1;
                c->lit_need = (size_t)n;
                c->in_lit = true;
                c->scan = eol + 2;
                continue;
            }
        }
        handle_line(c, d + c->rpos, eol - c->rpos, tagged, cont);
        c->rpos = c->scan = eol + 2;
    }
    if (c->in.len - c->rpos > MAX_PENDING_INPUT)
        return -1;
    if (c->rpos > 0) {
        buf_consume(&c->in, c->rpos);
        c->scan -= c->rpos;
        c->rpos = 0;
    }
    return 0;
}

int bconn_read(struct bconn *c, bool *tagged, bool *cont)
{
    *tagged = *cont = false;
    /* With TLS, one SSL_read returns at most one record; the rest of an
     * already decrypted record is not visible to epoll, so drain it. */
    do {
        buf_reserve(&c->in, 65536);
        ssize_t r;
        do {
            r = io_recv(c, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
        } while (r < 0 && errno == EINTR);
        if (r < 0)
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        if (r == 0)
            return -1;
        c->in.len += (size_t)r;
        c->in.data[c->in.len] = '\0';
        if (parse_input(c, tagged, cont) < 0)
            return -1;
    } while (c->ssl && SSL_pending(c->ssl) > 0);
    return 0;
}

/* ---- blocking helpers ---- */

static enum cstatus sync_run(struct bconn *c)
{
    while (c->busy) {
        if (bconn_flush(c) < 0)
            return ST_BYE;
        /* recv() wakes up every timeout seconds (SO_RCVTIMEO). */
        if (bench_opts.timeout > 0 && bench_now_sec() - c->t_start > bench_opts.timeout) {
            snprintf(c->status_text, sizeof c->status_text, "timeout after %d s", bench_opts.timeout);
            return ST_BYE;
        }
        bool tagged, cont;
        if (bconn_read(c, &tagged, &cont) < 0)
            return ST_BYE;
    }
    /* A synchronising literal queued by the "+" is flushed above; anything
     * left (nothing, normally) goes out with the next command. */
    return c->status;
}

enum cstatus bsync_wait_greeting(struct bconn *c)
{
    return sync_run(c);
}

enum cstatus bsync_cmd(struct bconn *c, double *secs, enum op op, const char *fmt, ...)
{
    start_cmd(c, op);
    buf_puts(&c->out, c->tag);
    buf_putc(&c->out, ' ');
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&c->out, fmt, ap);
    va_end(ap);
    buf_puts(&c->out, "\r\n");
    enum cstatus st = sync_run(c);
    if (secs)
        *secs = bench_now_sec() - c->t_start;
    return st;
}

enum cstatus bsync_append(struct bconn *c, const struct buf *msg)
{
    bconn_append(c, OP_APPEND, msg, false);
    return sync_run(c);
}

bool bsync_login_select(struct bconn *c, const char *user, const char *mailbox)
{
    if (!bconn_connect(c, true)) {
        fprintf(stderr, "dariusbench: cannot connect to %s:%d\n", bench_opts.host, bench_opts.port);
        return false;
    }
    if (bsync_wait_greeting(c) != ST_OK) {
        fprintf(stderr, "dariusbench: no greeting: %s\n", c->status_text);
        return false;
    }
    struct buf b = BUF_INIT;
    buf_puts(&b, "LOGIN ");
    bench_put_quoted(&b, user);
    buf_putc(&b, ' ');
    bench_put_quoted(&b, bench_opts.password);
    enum cstatus st = bsync_cmd(c, NULL, OP_LOGIN, "%s", buf_cstr(&b));
    buf_free(&b);
    if (st != ST_OK) {
        fprintf(stderr, "dariusbench: LOGIN %s failed: %s\n", user, c->status_text);
        return false;
    }
    if (mailbox && bsync_cmd(c, NULL, OP_SELECT, "SELECT %s", mailbox) != ST_OK) {
        fprintf(stderr, "dariusbench: SELECT %s failed: %s\n", mailbox, c->status_text);
        return false;
    }
    return true;
}
