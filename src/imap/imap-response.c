/* imap-response.c - everything written to the client goes through here. */
#include "imap.h"
#include <stdarg.h>

void imap_write(struct imap_session *s, const char *data, size_t len)
{
    if (!s->conn || s->closed || len == 0)
        return;
    conn_write(s->conn, data, len);
}

void imap_printf(struct imap_session *s, const char *fmt, ...)
{
    if (!s->conn || s->closed)
        return;
    va_list ap;
    va_start(ap, fmt);
    fe_vprintf(s->conn, fmt, ap);
    va_end(ap);
}

void imap_untagged(struct imap_session *s, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "* ");
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

/* RFC 9051 7.5.1: no EXPUNGE while answering FETCH, STORE or SEARCH (the
 * UID forms are exempt because they do not depend on sequence numbers);
 * RFC 5256 3 says the same of SORT and THREAD. */
bool imap_cmd_forbids_expunge(const struct imap_cmd *cmd)
{
    if (!cmd || cmd->uid)
        return false;
    return strcmp(cmd->name, "FETCH") == 0 || strcmp(cmd->name, "STORE") == 0 ||
           strcmp(cmd->name, "SEARCH") == 0 || strcmp(cmd->name, "SORT") == 0 ||
           strcmp(cmd->name, "THREAD") == 0;
}

void imap_tagged(struct imap_session *s, struct imap_cmd *cmd, const char *status, const char *fmt, ...)
{
    if (s->view && s->state == IMAP_SELECTED && strcmp(status, "BAD") != 0)
        imap_sync(s, !imap_cmd_forbids_expunge(cmd));
    if (s->notify)
        imap_notify_flush(s);   /* NOTIFY responses held during the command */
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s %s ", cmd && cmd->tag ? cmd->tag : "*", status);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
}

static bool quotable(const char *s, size_t len, bool allow8)
{
    if (len >= 1024)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n' || c == '\0')
            return false;
        if (c >= 0x80 && !allow8)
            return false;
    }
    return true;
}

static void append_quoted(struct buf *b, const char *s, size_t len)
{
    buf_reserve(b, len + 2);
    buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_putc(b, '\\');
        buf_putc(b, s[i]);
    }
    buf_putc(b, '"');
}

void imap_append_string(struct buf *b, const char *s, size_t len)
{
    if (quotable(s, len, false)) {
        append_quoted(b, s, len);
    } else {
        buf_printf(b, "{%zu}\r\n", len);
        buf_append(b, s, len);
    }
}

void imap_append_nstring(struct buf *b, const char *s)
{
    if (!s)
        buf_puts(b, "NIL");
    else
        imap_append_string(b, s, strlen(s));
}

void imap_append_astring(struct buf *b, const char *s)
{
    imap_append_string(b, s, strlen(s));
}

void imap_append_mailbox(struct imap_session *s, struct buf *b, const char *internal_name)
{
    struct buf t = BUF_INIT;
    imap_mailbox_to_client(s, internal_name, &t);
    bool utf8 = s && (s->enabled & (EN_UTF8 | EN_IMAP4REV2));
    const char *d = t.data ? t.data : "";
    if (utf8 && quotable(d, t.len, true))
        append_quoted(b, d, t.len);
    else
        imap_append_string(b, d, t.len);
    buf_free(&t);
}
