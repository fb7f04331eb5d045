/* delivery-spool.c - the one temporary copy of an incoming message.
 *
 * The spool is an unlinked O_TMPFILE in storage_tmpdir() (same filesystem
 * as every user's store), so a message that is never finished (client
 * disconnect in DATA, size limit, crash) leaves nothing behind, and a
 * finished one can be hard-linked into each recipient's store without a
 * copy. Input is processed as a byte stream, never held as lines: memory
 * stays bounded whatever the client sends.
 *
 * Header rules (Cyrus semantics, docs/config.md):
 *   - 8-bit bytes in the header: reject8bit: yes rejects the message
 *     (554 5.6.0); otherwise munge8bit: yes replaces each by 'X'; with both
 *     off they are kept. A session that announced SMTPUTF8 (RFC 6531) may
 *     send UTF-8 headers: they are kept as they are.
 *   - NUL bytes anywhere: rejected with reject8bit: yes; otherwise
 *     removed (a NUL cannot be represented in IMAP without BINARY).
 *   - bare LF becomes CRLF (RFC 5322 2.3: lines end in CRLF).
 *
 * Threads (issue 10): the bytes are processed on the caller's thread,
 * but the file I/O may happen elsewhere. With a writer (LMTP: the pool)
 * every full 64 KiB buffer is handed over as a chunk with its file
 * offset and written by dspool_chunk_write on a pool thread, and the
 * final write, fdatasync and Message-ID scan (dspool_finish_sync) run
 * there too; the caller's thread only ever fills buffers. A write error
 * is kept in an atomic, the one field both sides touch.
 */
#include "delivery.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_FLUSH (64 * 1024)
/* The Message-ID is looked for in the first 256 KiB of the file. */
#define MSGID_SCAN (256 * 1024)
#define MSGID_MAX 998

struct dspool {
    int fd;
    size_t size;            /* bytes written to the file (including wbuf) */
    uint64_t raw;           /* bytes of message received (limit applies) */
    uint64_t max;
    enum dspool_status status;
    bool in_header;
    bool at_bol;
    unsigned char last;     /* last byte emitted */
    size_t line_len;
    char prefix[12];        /* first bytes of the current header line */
    size_t prefix_len;
    bool have_msgid;
    bool smtputf8, reject8bit, munge8bit, add_msgid;
    bool finished;
    struct buf w;
    size_t wstart;          /* file offset of w's first byte */
    char *msgid;
    /* writing elsewhere (dspool_set_writer) */
    void (*writer)(void *arg, struct dspool_chunk *c);
    void *writer_arg;
    unsigned inflight;      /* chunks handed out, dspool_chunk_done not yet called */
    bool orphan;            /* dspool_free called while chunks were in flight */
    atomic_int io_errno;    /* a chunk write failed (errno), 0 none */
};

struct dspool_chunk {
    struct dspool *s;
    char *data;
    size_t len;
    size_t off;
};

static int pwrite_all(int fd, const char *p, size_t n, size_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, MIN(n, (size_t)1 << 30), (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (size_t)w;
    }
    return 0;
}

/* Write the buffered bytes here, on this thread. */
static void flush_inline(struct dspool *s)
{
    if (!s->w.len || s->status == DSPOOL_IO)
        return;
    if (pwrite_all(s->fd, s->w.data, s->w.len, s->wstart) < 0) {
        log_err("delivery: writing spool file: %s", strerror(errno));
        s->status = DSPOOL_IO;
    }
    s->wstart += s->w.len;
    buf_reset(&s->w);
}

static void flush(struct dspool *s)
{
    if (!s->writer || !s->w.len || s->status == DSPOOL_IO) {
        flush_inline(s);
        return;
    }
    struct dspool_chunk *c = xcalloc(1, sizeof(*c));
    c->s = s;
    c->len = s->w.len;
    c->off = s->wstart;
    c->data = buf_release(&s->w);
    s->wstart += c->len;
    s->inflight++;
    s->writer(s->writer_arg, c);
}

void dspool_set_writer(struct dspool *s, void (*writer)(void *arg, struct dspool_chunk *c), void *arg)
{
    s->writer = writer;
    s->writer_arg = arg;
}

void dspool_chunk_write(struct dspool_chunk *c)
{
    if (pwrite_all(c->s->fd, c->data, c->len, c->off) < 0) {
        int e = errno ? errno : EIO;
        atomic_store(&c->s->io_errno, e);
    }
}

static void spool_destroy(struct dspool *s);

void dspool_chunk_done(struct dspool_chunk *c)
{
    struct dspool *s = c->s;
    free(c->data);
    free(c);
    s->inflight--;
    if (s->orphan && s->inflight == 0)
        spool_destroy(s);
}

/* A chunk written elsewhere failed: the message cannot be kept. */
static void take_io_error(struct dspool *s)
{
    int e = atomic_load(&s->io_errno);
    if (e && s->status != DSPOOL_IO) {
        log_err("delivery: writing spool file: %s", strerror(e));
        s->status = DSPOOL_IO;
    }
}

static void emit(struct dspool *s, const char *p, size_t n)
{
    buf_append(&s->w, p, n);
    s->size += n;
    if (n)
        s->last = (unsigned char)p[n - 1];
    if (s->w.len >= SPOOL_FLUSH)
        flush(s);
}

const char *delivery_servername(void)
{
    static char host[256];
    const char *n = config_str(CFG_SERVERNAME);
    if (*n)
        return n;
    if (!host[0] && gethostname(host, sizeof(host) - 1) < 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    return host[0] ? host : "localhost";
}

static void emit_msgid(struct dspool *s)
{
    unsigned char r[12];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        memset(r, 0, sizeof(r));
    char hex[25];
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    char line[512];
    int n = snprintf(line, sizeof(line), "Message-ID: <%s.%lld@%s>\r\n", hex, (long long)time(NULL),
                     delivery_servername());
    if (n > 0 && (size_t)n < sizeof(line))
        emit(s, line, (size_t)n);
    s->have_msgid = true;
}

struct dspool *dspool_new(const struct dspool_opts *o)
{
    int fd = open(storage_tmpdir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        /* No O_TMPFILE support: a named file unlinked at once (storage then
         * copies instead of linking). */
        char path[4096];
        snprintf(path, sizeof(path), "%s/spool.XXXXXX", storage_tmpdir());
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0) {
            log_err("delivery: cannot create a spool file in %s: %s", storage_tmpdir(), strerror(errno));
            return NULL;
        }
        unlink(path);
    }
    struct dspool *s = xcalloc(1, sizeof(*s));
    s->fd = fd;
    s->max = o->max_size ? o->max_size : (uint64_t)config_int(CFG_MAXMESSAGESIZE);
    s->in_header = true;
    s->at_bol = true;
    s->last = '\n';
    s->smtputf8 = o->smtputf8;
    s->reject8bit = config_bool(CFG_REJECT8BIT);
    s->munge8bit = config_bool(CFG_MUNGE8BIT);
    s->add_msgid = config_bool(CFG_LMTP_ADD_MESSAGEID);
    buf_init(&s->w);
    if (o->return_path) {
        /* RFC 5321 4.4: Return-Path: <reverse-path>, added at final delivery. */
        buf_printf(&s->w, "Return-Path: <%s>\r\n", o->return_path);
        s->size = s->w.len;
    }
    if (o->received) {
        buf_puts(&s->w, o->received);
        s->size = s->w.len;
    }
    return s;
}

static void feed_byte(struct dspool *s, unsigned char c)
{
    if (c == '\0') {
        if (s->reject8bit)
            s->status = DSPOOL_NUL;
        return;
    }
    if (++s->line_len > DELIVERY_MAX_LINE) {
        s->status = DSPOOL_LINE;
        return;
    }
    if (s->in_header) {
        if (s->at_bol && (c == '\r' || c == '\n')) {
            /* The empty line ending the header. */
            s->in_header = false;
            if (s->add_msgid && !s->have_msgid)
                emit_msgid(s);
        } else if (s->at_bol) {
            s->prefix_len = 0;
        }
        if (c >= 0x80 && !s->smtputf8) {
            if (s->reject8bit) {
                s->status = DSPOOL_8BIT;
                return;
            }
            if (s->munge8bit)
                c = 'X';
        }
        if (s->in_header && s->prefix_len < 11) {
            s->prefix[s->prefix_len++] = (char)c;
            if (s->prefix_len == 11 && strncasecmp(s->prefix, "message-id:", 11) == 0)
                s->have_msgid = true;
        }
    }
    if (c == '\n') {
        if (s->last != '\r')
            emit(s, "\r", 1);
        emit(s, "\n", 1);
        s->at_bol = true;
        s->line_len = 0;
        return;
    }
    char ch = (char)c;
    emit(s, &ch, 1);
    s->at_bol = false;
}

void dspool_write(struct dspool *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (s->finished)
        return;
    if (s->status == DSPOOL_OK && s->raw + len > s->max)
        s->status = DSPOOL_TOOBIG;
    s->raw += len;
    size_t i = 0;
    while (i < len && s->status == DSPOOL_OK) {
        if (!s->in_header) {
            /* Body fast path: copy runs of ordinary bytes at once. */
            size_t j = i;
            while (j < len && p[j] != '\n' && p[j] != '\0' && s->line_len + (j - i) < DELIVERY_MAX_LINE)
                j++;
            if (j > i) {
                emit(s, (const char *)p + i, j - i);
                s->line_len += j - i;
                s->at_bol = false;
                i = j;
                continue;
            }
        }
        feed_byte(s, p[i++]);
    }
}

enum dspool_status dspool_status(const struct dspool *s)
{
    if (s->status == DSPOOL_OK && atomic_load(&((struct dspool *)s)->io_errno))
        return DSPOOL_IO;
    return s->status;
}

/* Find the Message-ID field in the stored header (unfolded, trimmed). */
static void extract_msgid(struct dspool *s)
{
    size_t n = MIN(s->size, (size_t)MSGID_SCAN);
    if (!n)
        return;
    char *b = xmalloc(n + 1);
    ssize_t got = pread(s->fd, b, n, 0);
    if (got <= 0) {
        free(b);
        return;
    }
    b[got] = '\0';
    size_t len = (size_t)got;
    size_t pos = 0;
    while (pos < len) {
        char *nl = memchr(b + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - b) : len;
        size_t l = end - pos;
        if (l == 0 || (l == 1 && b[pos] == '\r'))
            break;  /* end of header */
        if (l >= 11 && strncasecmp(b + pos, "message-id:", 11) == 0) {
            struct buf v = BUF_INIT;
            size_t q = pos + 11;
            for (;;) {
                size_t e = end;
                buf_append(&v, b + q, e - q);
                if (e >= len || e + 1 >= len || (b[e + 1] != ' ' && b[e + 1] != '\t'))
                    break;
                q = e + 1;
                char *nl2 = memchr(b + q, '\n', len - q);
                end = nl2 ? (size_t)(nl2 - b) : len;
                if (v.len > MSGID_MAX)
                    break;
            }
            /* Keep the <...> token; tolerate a missing one (use the text). */
            const char *t = buf_cstr(&v);
            const char *lt = strchr(t, '<');
            const char *gt = lt ? strchr(lt, '>') : NULL;
            char *id = NULL;
            if (lt && gt)
                id = xstrndup(lt, (size_t)(gt - lt + 1));
            else {
                while (*t == ' ' || *t == '\t')
                    t++;
                size_t tl = strlen(t);
                while (tl && (t[tl - 1] == '\r' || t[tl - 1] == ' ' || t[tl - 1] == '\t'))
                    tl--;
                if (tl)
                    id = xstrndup(t, tl);
            }
            buf_free(&v);
            if (id && strlen(id) <= MSGID_MAX)
                s->msgid = id;
            else
                free(id);
            break;
        }
        pos = end + 1;
    }
    free(b);
}

enum dspool_status dspool_finish_begin(struct dspool *s)
{
    if (s->finished)
        return s->status;
    s->finished = true;
    if (s->status != DSPOOL_OK)
        return s->status;
    if (s->last != '\n')
        emit(s, "\r\n", 2);
    if (s->in_header && s->add_msgid && !s->have_msgid)
        emit_msgid(s);
    return s->status;
}

enum dspool_status dspool_finish_sync(struct dspool *s)
{
    /* The chunks handed out before have been written (the caller runs
     * this after them: LMTP queues it on the same key). */
    take_io_error(s);
    if (s->status != DSPOOL_OK)
        return s->status;
    flush_inline(s);
    if (s->status == DSPOOL_OK && fdatasync(s->fd) < 0) {
        log_err("delivery: fsync of the spool file: %s", strerror(errno));
        s->status = DSPOOL_IO;
    }
    if (s->status == DSPOOL_OK)
        extract_msgid(s);
    return s->status;
}

enum dspool_status dspool_finish(struct dspool *s)
{
    if (s->finished)
        return s->status;
    enum dspool_status st = dspool_finish_begin(s);
    return st == DSPOOL_OK ? dspool_finish_sync(s) : st;
}

int dspool_fd(const struct dspool *s)
{
    return s->fd;
}

size_t dspool_size(const struct dspool *s)
{
    return s->size;
}

const char *dspool_message_id(const struct dspool *s)
{
    return s->msgid;
}

static void spool_destroy(struct dspool *s)
{
    close(s->fd);
    buf_free(&s->w);
    free(s->msgid);
    free(s);
}

void dspool_free(struct dspool *s)
{
    if (!s)
        return;
    if (s->inflight) {
        /* chunks are being written elsewhere: the last dspool_chunk_done
         * frees it (the fd must stay valid until then) */
        s->orphan = true;
        return;
    }
    spool_destroy(s);
}

void delivery_date(time_t t, char *out, size_t outlen)
{
    struct tm tm;
    localtime_r(&t, &tm);
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(out, outlen, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", wd[tm.tm_wday % 7], tm.tm_mday,
             mo[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
}

/* Copy a client-supplied token into a header safely: printable ASCII
 * only, no comment delimiters, bounded. */
static void safe_token(struct buf *b, const char *s, size_t max)
{
    for (size_t i = 0; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        buf_putc(b, (c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '\\') ? (char)c : '?');
    }
}

char *delivery_received(const char *helo, const char *peer, const char *proto, const char *tls_desc,
                        const char *rcpt)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "Received: from ");
    safe_token(&b, helo && *helo ? helo : "unknown", 255);
    buf_puts(&b, " (");
    safe_token(&b, peer && *peer ? peer : "local", 64);
    buf_printf(&b, ")\r\n\tby %s (Darius) with %s", delivery_servername(), proto);
    if (tls_desc && *tls_desc) {
        buf_puts(&b, " (");
        for (const char *p = tls_desc; *p; p++)
            buf_putc(&b, (*p == '(' || *p == ')') ? ' ' : *p);
        buf_putc(&b, ')');
    }
    if (rcpt) {
        /* The address was validated (no control characters); keep it
         * bounded and free of '>' inside the angle brackets. */
        buf_puts(&b, "\r\n\tfor <");
        for (size_t i = 0; rcpt[i] && i < DELIVERY_MAX_ADDR; i++)
            buf_putc(&b, (rcpt[i] == '>' || rcpt[i] == '\r' || rcpt[i] == '\n') ? '_' : rcpt[i]);
        buf_putc(&b, '>');
    }
    char date[64];
    delivery_date(time(NULL), date, sizeof(date));
    buf_printf(&b, ";\r\n\t%s\r\n", date);
    return buf_release(&b);
}
