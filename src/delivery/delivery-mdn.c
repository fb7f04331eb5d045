/* delivery-mdn.c - Sieve reject answered by a Message Disposition
 * Notification (RFC 5429 2.2.1, RFC 8098 3): what is sent when the
 * refusal cannot be the LMTP reply itself.
 *
 * The third part returns the original header only (text/rfc822-headers,
 * RFC 6522 3): RFC 8098 3 d leaves the choice to the sender, and a
 * rejected message (often spam, often big) is not worth mailing back
 * whole. It is cut at MDN_MAX_HEADER bytes on a line boundary.
 */
#include "delivery.h"
#include "delivery-compose.h"
#include "mime.h"

#define MDN_MAX_HEADER (64 * 1024)

/* The original header, CRLF line ends, without its blank line, cut at a
 * field boundary near max bytes. */
static void original_header(struct buf *out, const char *hdr, size_t len, bool *eightbit)
{
    size_t pos = 0, last = 0;
    struct mime_sfield f;
    struct buf t = BUF_INIT;
    while (mime_sfield_next(hdr, len, &pos, &f)) {
        const char *start = f.name;
        size_t flen = (size_t)(f.val + f.val_len - start);
        if (t.len + flen + 2 > MDN_MAX_HEADER)
            break;
        /* A field with a line over 998 octets (RFC 5322 2.1.1) would
         * make the MDN unsendable: left out. */
        size_t col = 0, longest = 0;
        for (size_t i = 0; i < flen; i++) {
            col = start[i] == '\n' ? 0 : col + 1;
            longest = MAX(longest, col);
        }
        if (longest > 998)
            continue;
        for (size_t i = 0; i < flen; i++) {
            char c = start[i];
            if (c == '\r')
                continue;
            if (c == '\n') {
                buf_puts(&t, "\r\n");
                continue;
            }
            if ((unsigned char)c >= 0x80)
                *eightbit = true;
            buf_putc(&t, c ? c : ' ');
        }
        if (t.len < 2 || memcmp(t.data + t.len - 2, "\r\n", 2) != 0)
            buf_puts(&t, "\r\n");
        last = t.len;
    }
    buf_append(out, t.data ? t.data : "", last);
    buf_free(&t);
}

static bool ascii_only(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80 || (unsigned char)*s < ' ')
            return false;
    return true;
}

/* RFC 6533 3: utf-8-addr-xtext, "\x{HEX}" for every character outside
 * printable ASCII and for backslash, "+" and "=" (invalid UTF-8 bytes as
 * U+FFFD), so the field stays 7-bit. */
static void utf8_addr_xtext(struct buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t start = out->len;
    /* Cut, so that the field line stays under 998 octets. */
    for (size_t i = 0; i < n && out->len - start < COMPOSE_MAX_MSGID;) {
        unsigned char c = p[i];
        uint32_t cp = 0xfffd;
        size_t l = 1;
        if (c < 0x80) {
            cp = c;
        } else if (c >= 0xc2 && c <= 0xf4) {
            l = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
            if (i + l > n) {
                l = 1;
            } else {
                cp = c & (0x7f >> l);
                for (size_t k = 1; k < l; k++) {
                    if ((p[i + k] & 0xc0) != 0x80) {
                        cp = 0xfffd;
                        l = 1;
                        break;
                    }
                    cp = (cp << 6) | (p[i + k] & 0x3f);
                }
            }
        }
        if (cp > ' ' && cp < 0x7f && cp != '\\' && cp != '+' && cp != '=')
            buf_putc(out, (char)cp);
        else
            buf_printf(out, "\\x{%X}", (unsigned)cp);
        i += l;
    }
}

char *mdn_reject_compose(const struct mdn_msg *m, const char *servername, time_t now, size_t *len)
{
    const char *to = m->envelope_from ? m->envelope_from : "";
    /* RFC 5429 2.2.1, RFC 8098 2.1: never to the null sender. */
    if (!*to || !compose_header_addr_ok(to))
        return NULL;
    const char *rcpt = m->final_rcpt && *m->final_rcpt ? m->final_rcpt : "";
    struct buf h = BUF_INIT;
    char date[64];
    delivery_date(now, date, sizeof(date));
    buf_printf(&h, "Date: %s\r\n", date);
    /* RFC 8098 3: From is the recipient the MDN is issued for. */
    if (compose_header_addr_ok(rcpt))
        buf_printf(&h, "From: <%s>\r\n", rcpt);
    else
        buf_printf(&h, "From: <MAILER-DAEMON@%s>\r\n", servername);
    buf_printf(&h, "To: <%s>\r\n", to);
    char *osubj = mime_header_get(m->hdr, m->hdr_len, "Subject");
    if (osubj && *osubj) {
        struct buf dec = BUF_INIT, s = BUF_INIT;
        mime_decode_header_utf8(&dec, osubj, MIN(strlen(osubj), (size_t)VACATION_MAX_SUBJECT * 4));
        buf_puts(&s, "Rejected: ");
        buf_puts(&s, buf_cstr(&dec));
        compose_unstructured(&h, "Subject", buf_cstr(&s), VACATION_MAX_SUBJECT);
        buf_free(&dec);
        buf_free(&s);
    } else {
        buf_puts(&h, "Subject: Automatically rejected mail\r\n");
    }
    free(osubj);
    char *omid = mime_header_get(m->hdr, m->hdr_len, "Message-ID");
    struct buf mid = BUF_INIT;
    bool have_mid = omid && compose_msgid_token(omid, NULL, &mid);
    free(omid);
    if (have_mid)
        buf_printf(&h, "In-Reply-To: %s\r\n", buf_cstr(&mid));
    /* RFC 8098 3: a Message-ID of its own, never the original's. */
    buf_puts(&h, "Message-ID: ");
    compose_msgid(&h, servername, now);
    buf_puts(&h, "\r\n");
    /* RFC 3834 5 ("auto-replied" is the class; the comment says why), so
     * a responder at the other end does not answer it. */
    buf_puts(&h, "Auto-Submitted: auto-replied (rejected)\r\n");
    buf_puts(&h, "MIME-Version: 1.0\r\n");

    /* A boundary that cannot occur in the parts: random, and the parts
     * are ours except the original header, whose lines never start with
     * "--" followed by it by chance. */
    struct buf bnd = BUF_INIT;
    compose_msgid(&bnd, "mdn", now);
    /* "<hex.time@mdn>" -> "hex.time=mdn" (boundary characters only). */
    struct buf boundary = BUF_INIT;
    for (size_t i = 0; i < bnd.len; i++) {
        char c = bnd.data[i];
        if (c == '<' || c == '>')
            continue;
        buf_putc(&boundary, c == '@' ? '=' : c);
    }
    buf_free(&bnd);
    const char *b = buf_cstr(&boundary);
    buf_printf(&h,
               "Content-Type: multipart/report; report-type=disposition-notification;\r\n"
               " boundary=\"%s\"\r\n\r\n",
               b);
    buf_puts(&h, "This is a MIME-encapsulated message.\r\n\r\n");

    /* 1: the human-readable part (RFC 6522 3, RFC 8098 3 b). */
    buf_printf(&h, "--%s\r\n", b);
    struct buf text = BUF_INIT, ph = BUF_INIT, pb = BUF_INIT;
    buf_printf(&text, "Your message to <%s> was automatically rejected:\n\n%s\n", rcpt,
               m->reason ? m->reason : "");
    compose_text_part(&ph, &pb, buf_cstr(&text));
    buf_append(&h, ph.data, ph.len);
    buf_puts(&h, "\r\n");
    buf_append(&h, pb.data, pb.len);
    buf_free(&text);
    buf_free(&ph);
    buf_free(&pb);

    /* 2: message/disposition-notification (RFC 8098 3.1, 3.2). */
    buf_printf(&h, "\r\n--%s\r\n", b);
    buf_puts(&h, "Content-Type: message/disposition-notification\r\n\r\n");
    buf_printf(&h, "Reporting-UA: %s; Darius %s\r\n", servername, DARIUS_VERSION);
    if (*rcpt) {
        /* RFC 8098 3.2.4: address-type rfc822, or utf-8 (RFC 6533) for
         * an internationalised address. */
        if (ascii_only(rcpt)) {
            buf_printf(&h, "Final-Recipient: rfc822; %.*s\r\n", COMPOSE_MAX_MSGID, rcpt);
        } else {
            buf_puts(&h, "Final-Recipient: utf-8; ");
            utf8_addr_xtext(&h, rcpt);
            buf_puts(&h, "\r\n");
        }
    }
    if (have_mid)
        buf_printf(&h, "Original-Message-ID: %s\r\n", buf_cstr(&mid));
    /* RFC 8098 3.2.6: the reject was done without the user, by rule. */
    buf_puts(&h, "Disposition: automatic-action/MDN-sent-automatically; deleted\r\n");
    buf_free(&mid);

    /* 3: the original header (RFC 6522 4: text/rfc822-headers). */
    struct buf oh = BUF_INIT;
    bool eightbit = false;
    original_header(&oh, m->hdr, m->hdr_len, &eightbit);
    buf_printf(&h, "\r\n--%s\r\n", b);
    buf_puts(&h, "Content-Type: text/rfc822-headers\r\n");
    if (eightbit)
        buf_puts(&h, "Content-Transfer-Encoding: 8bit\r\n");
    buf_puts(&h, "\r\n");
    buf_append(&h, oh.data ? oh.data : "", oh.len);
    buf_free(&oh);
    buf_printf(&h, "\r\n--%s--\r\n", b);
    buf_free(&boundary);
    *len = h.len;
    return buf_release(&h);
}
