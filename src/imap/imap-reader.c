/* imap-reader.c - assembling complete commands from lines and literals.
 *
 * A command is one or more lines; a line ending in a literal marker
 * "{N}" (synchronising), "{N+}" (RFC 7888 non-synchronising) or "~{N}"
 * (RFC 3516 binary) is followed by exactly N octets and then more of the
 * same command. We collect the whole command into s->pending (literals
 * inline, big APPEND literals in unlinked temp files) and execute it only
 * when complete. Commands run one at a time: while one runs (or waits on
 * a timer / for output to drain) input is paused and further pipelined
 * commands stay in the connection buffer, which therefore stays bounded.
 *
 * Errors in the middle of a command (line too long, literal too big, too
 * much data) are answered at once and the rest of the command is skipped
 * without being stored: non-synchronising literals are counted and
 * discarded, a synchronising literal ends the command (the client will not
 * send its data without our "+", RFC 9051 4.3 / RFC 7888 4).
 *
 * APPEND is judged before its message data is read (command_line): the
 * target and the quota left in it (imap_append_precheck), maxmessagesize,
 * and a reservation of the announced size against spool_max_per_user /
 * spool_max_total (spool-limits.h, shared by all workers), held by the
 * command text and given back when it is freed. A refused literal is never
 * spooled. A line over maxline sent to a command waiting for one (an
 * AUTHENTICATE response, IDLE) ends that command with a tagged BAD.
 */
#include "imap.h"
#include "config.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define PREAUTH_MAX_NONSYNC 4096   /* RFC 7888 LITERAL-: 4096 octets */
#define OVERFLOW_TAIL 32
#define PREAUTH_MAX_CMD (64 * 1024)   /* total command text before authentication */           /* bytes kept of an overlong line to see its literal marker */

void imap_cmdtext_free(struct imap_cmdtext *ct)
{
    buf_free(&ct->text);
    for (size_t i = 0; i < ct->nfiles; i++)
        if (ct->files[i].fd >= 0)
            close(ct->files[i].fd);
    free(ct->files);
    ct->files = NULL;
    ct->nfiles = 0;
    spool_release(&ct->spool);
}

void imap_reader_reset(struct imap_session *s)
{
    imap_cmdtext_free(&s->pending);
    s->literal_left = 0;
    s->literal_fd = -1;
    s->literal_to_file = false;
    s->literal_nonsync = false;
    s->nliterals = 0;
    s->literal_append = false;
    s->literal_total = 0;
    s->line_len_so_far = 0;
    s->append_resolved = false;
    s->append_msgs = 0;
    s->append_bytes = 0;
    s->append_room_bytes = INT64_MAX;
    s->append_room_msgs = INT64_MAX;
}

bool imap_reader_busy(const struct imap_session *s)
{
    return s->pending.text.len > 0 || s->literal_left > 0;
}

static size_t max_line(void)
{
    long long m = config_int(CFG_MAXLINE);
    return m < 65536 ? 65536 : (size_t)m;
}

/* The tag at the start of text (for error replies), or NULL. */
static const char *peek_tag(const char *text, size_t len, char *out, size_t outsz)
{
    size_t n = 0;
    while (n < len && text[n] != ' ' && text[n] != '\r' && text[n] != '\n')
        n++;
    if (!imap_valid_tag(text, n) || n >= outsz)
        return NULL;
    memcpy(out, text, n);
    out[n] = '\0';
    return out;
}

/* Is the command being assembled an APPEND, or a REPLACE (RFC 8508),
 * whose message literal is checked and spooled like APPEND's? (tag SP
 * "APPEND" SP ..., tag SP ["UID" SP] "REPLACE" SP ...) */
static bool text_is_append(const char *text, size_t len)
{
    const char *sp = memchr(text, ' ', len);
    if (!sp)
        return false;
    const char *r = sp + 1;
    size_t rest = len - (size_t)(r - text);
    if (rest >= 7 && strncasecmp(r, "APPEND ", 7) == 0)
        return true;
    if (rest >= 4 && strncasecmp(r, "UID ", 4) == 0) {
        r += 4;
        rest -= 4;
    }
    return rest >= 8 && strncasecmp(r, "REPLACE ", 8) == 0;
}

static void reply_error(struct imap_session *s, const char *text, size_t len, const char *status,
                        const char *msg)
{
    char tag[IMAP_MAX_TAG + 1];
    const char *t = peek_tag(text, len, tag, sizeof(tag));
    if (t)
        imap_printf(s, "%s %s %s\r\n", t, status, msg);
    else
        imap_printf(s, "* %s %s\r\n", status, msg);
}

struct marker {
    bool present;
    bool nonsync;
    bool binary;
    uint64_t n;
    size_t start; /* offset of '{' or '~' within the line */
};

/* Parse a literal marker at the very end of a line (without CRLF). */
static struct marker find_marker(const char *line, size_t len)
{
    struct marker m = {0};
    if (len < 3 || line[len - 1] != '}')
        return m;
    size_t i = len - 1;
    bool nonsync = false;
    if (i > 0 && line[i - 1] == '+') {
        nonsync = true;
        i--;
    }
    size_t dend = i;
    while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
        i--;
    if (i == dend || i == 0 || line[i - 1] != '{' || dend - i > 10)
        return m;
    uint64_t n = 0;
    for (size_t k = i; k < dend; k++)
        n = n * 10 + (uint64_t)(line[k] - '0');
    if (n > 0xffffffffu)
        return m; /* not a valid literal; the parser will say BAD */
    m.present = true;
    m.nonsync = nonsync;
    m.n = n;
    m.start = i - 1;
    if (m.start > 0 && line[m.start - 1] == '~') {
        m.binary = true;
        m.start--;
    }
    return m;
}

static int open_tmpfile(void)
{
    const char *dir = storage_tmpdir();
    if (!dir || !*dir)
        dir = "/tmp";
    int fd;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    char path[4096];
    snprintf(path, sizeof(path), "%s/imap-literal-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -1;
    unlink(path);
    return fd;
}

/* Start skipping the rest of the current command. */
static void start_skip(struct imap_session *s)
{
    imap_reader_reset(s);
    s->cmd_skip = true;
}

/* A line (without CR LF) of the command being skipped. */
static void skip_line(struct imap_session *s, const char *line, size_t len)
{
    struct marker m = find_marker(line, len);
    if (m.present && m.nonsync) {
        s->literal_left = (size_t)m.n;
        s->literal_to_file = false;
        return; /* still skipping: the literal and what follows */
    }
    s->cmd_skip = false; /* command ended (a sync literal will not be sent) */
}

/* A complete line that belongs to a command. Returns false when the
 * command is complete in s->pending. */
static bool command_line(struct imap_session *s, const char *line, size_t len)
{
    struct buf *t = &s->pending.text;
    struct marker m = find_marker(line, len);
    if (t->len + len + 2 > IMAP_MAX_CMD_MEM) {
        buf_append(t, line, MIN(len, (size_t)64));
        reply_error(s, t->data, t->len, "BAD", "[TOOBIG] Command too long");
        start_skip(s);
        skip_line(s, line, len);
        return true;
    }
    if (t->len == 0)
        s->literal_append = text_is_append(line, len);
    size_t line_off = t->len;
    buf_append(t, line, len);
    if (!m.present)
        return false;

    /* Literal: check it against the limits before asking for it. */
    const char *why = NULL, *status = "BAD";
    char limit_why[96];
    bool spill = false, answered = false, append_msg = false;
    uint64_t maxmsg = (uint64_t)config_int(CFG_MAXMESSAGESIZE);
    if (++s->nliterals > IMAP_MAX_LITERALS) {
        why = "[LIMIT] Too many literals";
    } else if (s->state == IMAP_NOTAUTH && m.nonsync && m.n > PREAUTH_MAX_NONSYNC) {
        /* RFC 7888 5: LITERAL- semantics before authentication */
        why = "[TOOBIG] Non-synchronizing literal too big";
    } else if (s->literal_append && s->state != IMAP_NOTAUTH) {
        /* An APPEND message literal is checked like the command will be,
         * BEFORE any of it is read: RFC 9051 7.5 lets the server answer
         * a tagged NO instead of the "+" continuation, and for a
         * non-synchronising literal (RFC 7888) the data that follows is
         * then read and discarded, never spooled (start_skip). The
         * target (existence: TRYCREATE, rights: NOPERM) once per command,
         * then per literal: maxmessagesize (TOOBIG, RFC 7889), the quota
         * left for this and the command's earlier messages (OVERQUOTA,
         * RFC 9208: the MULTIAPPEND running sum, RFC 3502), and the spool
         * this user and the whole server hold (LIMIT, RFC 5530). */
        enum append_pre pre = APPEND_PRE_OK;
        if (!s->append_resolved) {
            pre = imap_append_precheck(s, &s->pending, line_off + m.start, m.n, &s->append_room_bytes,
                                       &s->append_room_msgs);
            s->append_resolved = pre == APPEND_PRE_OK;
        }
        enum spool_verdict sv;
        if (pre == APPEND_PRE_REFUSED) {
            answered = true;
        } else if (pre == APPEND_PRE_MAILBOX_LITERAL) {
            /* the mailbox name: small, kept in memory (checked below) */
        } else if (m.n > maxmsg) {
            why = "[TOOBIG] Message too big";
            status = "NO";
        } else if (s->literal_total + m.n > IMAP_MULTIAPPEND_MAX_FACTOR * maxmsg) {
            /* bound the temporary disk one MULTIAPPEND may occupy */
            why = "[LIMIT] Too much data in one APPEND";
            status = "NO";
        } else if (imap_messagelimit() && s->append_msgs >= imap_messagelimit()) {
            /* RFC 9738 3.1: MULTIAPPEND is atomic, nothing is appended */
            snprintf(limit_why, sizeof(limit_why), "[MESSAGELIMIT %u] Too many messages in one APPEND",
                     imap_messagelimit());
            why = limit_why;
            status = "NO";
        } else if ((int64_t)s->append_msgs >= s->append_room_msgs ||
                   (int64_t)(s->append_bytes + m.n) > s->append_room_bytes) {
            why = "[OVERQUOTA] Quota exceeded";
            status = "NO";
        } else if ((sv = spool_reserve(&s->pending.spool, s->user, m.n)) != SPOOL_OK) {
            log_notice("imap: APPEND literal of %llu octets refused: spool limit %s reached: user=%s addr=%s",
                       (unsigned long long)m.n, sv == SPOOL_OVER_USER ? "spool_max_per_user" : "spool_max_total",
                       s->user ? s->user : "-", s->peer);
            why = sv == SPOOL_OVER_USER ? "[LIMIT] Too much message data being uploaded by this user, try later"
                                        : "[LIMIT] Server upload space full, try later";
            status = "NO";
        } else {
            append_msg = true;
            /* a CATENATE TEXT part (RFC 4469) is a piece of a message,
             * not one: its octets count, the message count does not */
            if (!(line_off + m.start >= 5 && strncasecmp(t->data + line_off + m.start - 5, "TEXT ", 5) == 0))
                s->append_msgs++;
            s->append_bytes += m.n;
            spill = m.n > IMAP_MAX_LITERAL_MEM || t->len + m.n > IMAP_MAX_CMD_MEM / 2;
        }
    }
    if (why || answered || append_msg) {
        /* decided above */
    } else if (s->state == IMAP_NOTAUTH && t->len + m.n + 2 > PREAUTH_MAX_CMD) {
        /* before login nobody needs more than a user name and password */
        why = "[TOOBIG] Literal too big";
    } else if (t->len + m.n + 2 > IMAP_MAX_CMD_MEM) {
        why = "[TOOBIG] Literal too big";
    }
    if (why || answered) {
        if (why)
            reply_error(s, t->data, t->len, status, why);
        if (s->closed) {
            imap_reader_reset(s);
            return true;
        }
        if (s->state == IMAP_NOTAUTH && m.nonsync) {
            /* The client sends the refused non-synchronizing literal
             * anyway (up to 4 GB announced); an unauthenticated client
             * does not get to make us read and discard it: RFC 7888
             * section 4 (choice 2, referenced by section 5 for LITERAL-)
             * lets the server send an untagged BYE, with TOOBIG, and
             * close the connection. */
            imap_reader_reset(s);
            imap_session_close(s, "[TOOBIG] Non-synchronizing literal refused before login");
            return true;
        }
        start_skip(s);
        skip_line(s, line, len);
        return true;
    }
    buf_puts(t, "\r\n");
    s->literal_total += m.n;
    s->literal_left = (size_t)m.n;
    s->literal_nonsync = m.nonsync;
    s->literal_to_file = false;
    if (spill) {
        int fd = open_tmpfile();
        if (fd < 0) {
            log_err("imap: cannot create temporary file in %s: %s", storage_tmpdir(), strerror(errno));
            reply_error(s, t->data, t->len, "NO", "[SERVERBUG] Cannot store literal");
            start_skip(s);
            skip_line(s, line, len);
            return true;
        }
        struct imap_cmdtext *ct = &s->pending;
        ct->files = xrealloc(ct->files, (ct->nfiles + 1) * sizeof(*ct->files));
        struct imap_literal_file *f = &ct->files[ct->nfiles++];
        f->fd = fd;
        f->len = (size_t)m.n;
        f->binary = m.binary;
        f->text_off = line_off + m.start;
        s->literal_fd = fd;
        s->literal_to_file = true;
    } else {
        buf_reserve(t, (size_t)m.n);
    }
    /* Even {0} needs the continuation: the client waits for it. */
    if (!m.nonsync)
        imap_write(s, "+ Ready for literal data\r\n", 26);
    return true;
}

/* Consume literal bytes from the input buffer. */
static void literal_data(struct imap_session *s, struct buf *in)
{
    size_t k = MIN(in->len, s->literal_left);
    if (k == 0)
        return;
    if (s->cmd_skip) {
        /* discard */
    } else if (s->literal_to_file) {
        /* RFC 9051 4.3 / 9 (rule 3): only a literal8 ("~{N}", RFC 3516
         * 4.4) may carry NUL. In-memory literals are checked by the parser
         * (imap_p_string: BAD); a spilled one is checked here, as it
         * streams, with the same result: BAD at once, and the rest of the
         * command (this literal's remaining octets included) is skipped. */
        const struct imap_literal_file *lf = &s->pending.files[s->pending.nfiles - 1];
        if (!lf->binary && memchr(in->data, '\0', k)) {
            reply_error(s, s->pending.text.data, s->pending.text.len, "BAD",
                        "NUL octet in literal (use a literal8 ~{N} for binary data)");
            size_t left = s->literal_left - k;
            start_skip(s);
            s->literal_left = left;
            buf_consume(in, k);
            return;
        }
        size_t off = 0;
        while (off < k) {
            ssize_t w = write(s->literal_fd, in->data + off, k - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                log_err("imap: writing literal to temporary file: %s", strerror(errno));
                reply_error(s, s->pending.text.data, s->pending.text.len, "NO",
                            "[SERVERBUG] Cannot store literal");
                size_t left = s->literal_left - k;
                start_skip(s);
                s->literal_left = left;
                buf_consume(in, k);
                return;
            }
            off += (size_t)w;
        }
    } else {
        buf_append(&s->pending.text, in->data, k);
    }
    buf_consume(in, k);
    s->literal_left -= k;
    if (s->literal_left == 0) {
        s->literal_to_file = false;
        s->literal_fd = -1;
    }
}

/* A line for a command waiting on client input (an AUTHENTICATE
 * response, IDLE's DONE) is longer than maxline. The line is not that
 * command's: the command ends here with a tagged BAD (RFC 9051 7.1.3,
 * TOOBIG from RFC 4469), and whatever follows the over-long line is read
 * as a new command - never as the next step of the SASL exchange (the
 * client sees the tagged reply, so it knows the exchange is over). The
 * caller discards the line itself. */
static void overlong_response(struct imap_session *s)
{
    struct imap_cmd *cmd = s->cmd;
    cmd->on_line = NULL;
    s->idling = false;
    imap_tagged(s, cmd, "BAD", "[TOOBIG] Line too long");
    imap_cmd_finish(s);
}

static bool can_read_commands(struct imap_session *s)
{
    if (s->closed || !s->conn || s->logout || conn_is_closing(s->conn))
        return false;
    if (s->cmd && (s->cmd_status != CMD_WAIT || !s->cmd->on_line))
        return false; /* a command is running */
    return true;
}

void imap_reader_input(struct imap_session *s)
{
    if (s->closed || !s->conn)
        return;
    struct buf *in = conn_input(s->conn);
    size_t maxl = max_line();
    unsigned ran = 0;
    while (can_read_commands(s)) {
        if (s->skipping) {
            /* the rest of an over-long line refused by overlong_response */
            if (in->len == 0)
                break;
            char *end = memchr(in->data, '\n', in->len);
            if (!end) {
                buf_consume(in, in->len);
                break;
            }
            buf_consume(in, (size_t)(end - in->data) + 1);
            s->skipping = false;
            continue;
        }
        if (s->literal_left > 0) {
            if (in->len == 0)
                break;
            literal_data(s, in);
            continue;
        }
        if (in->len == 0)
            break;
        char *nl = memchr(in->data, '\n', in->len);
        if (!nl) {
            if (in->len > maxl) {
                if (s->cmd && s->cmd->on_line && !imap_reader_busy(s)) {
                    overlong_response(s);
                    s->skipping = true;     /* until its end of line */
                    buf_consume(in, in->len);
                    continue;
                }
                if (!s->cmd_skip && !s->line_overflow) {
                    struct buf *t = &s->pending.text;
                    if (t->len)
                        reply_error(s, t->data, t->len, "BAD", "[TOOBIG] Line too long");
                    else
                        reply_error(s, in->data, in->len, "BAD", "[TOOBIG] Line too long");
                    start_skip(s);
                }
                s->line_overflow = true;
                buf_consume(in, in->len - OVERFLOW_TAIL);
            }
            break;
        }
        size_t linelen = (size_t)(nl - in->data);
        size_t content = linelen;
        if (content > 0 && in->data[content - 1] == '\r')
            content--;
        if (s->line_overflow) {
            s->line_overflow = false;
            skip_line(s, in->data, content);
            buf_consume(in, linelen + 1);
            continue;
        }
        if (content > maxl && s->cmd && s->cmd->on_line && !imap_reader_busy(s)) {
            overlong_response(s);
            buf_consume(in, linelen + 1);
            continue;
        }
        if (content > maxl && !s->cmd_skip) {
            struct buf *t = &s->pending.text;
            reply_error(s, t->len ? t->data : in->data, t->len ? t->len : content, "BAD",
                        "[TOOBIG] Line too long");
            start_skip(s);
        }
        if (s->cmd_skip) {
            skip_line(s, in->data, content);
            buf_consume(in, linelen + 1);
            continue;
        }
        if (s->cmd && s->cmd->on_line && !imap_reader_busy(s)) {
            /* A continuation line for the running command (AUTHENTICATE
             * response, IDLE's DONE). Copy: the handler may write. */
            char *line = xstrndup(in->data, content);
            buf_consume(in, linelen + 1);
            imap_session_touch(s);
            struct imap_cmd *cmd = s->cmd;
            enum cmd_result r = cmd->on_line(s, cmd, line, content);
            free(line);
            if (s->closed)
                break;
            if (r == CMD_DONE) {
                imap_cmd_finish(s);
            } else if (r == CMD_MORE || r == CMD_DEFER) {
                cmd->on_line = NULL;
                s->cmd_status = r;
                if (s->conn)
                    conn_pause_input(s->conn);
                if (r == CMD_MORE && s->conn)
                    conn_want_drain(s->conn);
            }
            continue;
        }
        /* Back-pressure: do not start another command while the client is
         * not reading our output. on_drain resumes. */
        if (s->pending.text.len == 0 && conn_output_full(s->conn)) {
            conn_pause_input(s->conn);
            conn_want_drain(s->conn);
            break;
        }
        bool more = command_line(s, in->data, content);
        buf_consume(in, linelen + 1);
        if (more)
            continue;
        struct imap_cmdtext ct = s->pending;
        memset(&s->pending, 0, sizeof(s->pending));
        imap_reader_reset(s);
        imap_session_touch(s);
        imap_session_execute(s, &ct);
        /* Fairness: a client pipelining thousands of commands (each may
         * commit and fsync) must not hold the worker's loop while other
         * sessions wait; run a few, then continue on the next turn. */
        if (++ran >= IMAP_CMDS_PER_TURN && !s->closed) {
            imap_session_kick(s);
            break;
        }
    }
}
