/* delivery-compose.c - writing header fields and text parts of the
 * messages the server itself sends (vacation replies, MDNs). Input is
 * script text or fields of a hostile message: everything is bounded and
 * nothing with a line end gets into a header unencoded. */
#include "delivery-compose.h"
#include "base64.h"

#include <strings.h>
#include <sys/random.h>

/* Length of the valid UTF-8 sequence at s, 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t l;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        l = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        l = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        l = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < l)
        return 0;
    for (size_t i = 1; i < l; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((l == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (l == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return l;
}

/* Sanitised copy: controls -> ' ', invalid UTF-8 -> '?', cut at max. */
static void clean_text(struct buf *out, const char *text, size_t max)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(s + i, n - i);
        if (out->len + (l ? l : 1) > max)
            break;
        if (l == 0) {
            buf_putc(out, '?');
            i++;
        } else if (l == 1) {
            buf_putc(out, s[i] < ' ' || s[i] == 0x7f ? ' ' : (char)s[i]);
            i++;
        } else {
            buf_append(out, s + i, l);
            i += l;
        }
    }
}

void compose_unstructured(struct buf *out, const char *name, const char *text, size_t max)
{
    struct buf t = BUF_INIT;
    clean_text(&t, text, max);
    bool ascii = true;
    for (size_t i = 0; i < t.len; i++)
        if ((unsigned char)t.data[i] >= 0x80)
            ascii = false;
    buf_printf(out, "%s: ", name);
    if (ascii) {
        /* Fold at spaces so that no line passes 78 characters where
         * the text allows (RFC 5322 2.1.1); a longer word stays whole
         * (the 998 limit is kept by max). */
        size_t col = strlen(name) + 2;
        const char *p = buf_cstr(&t);
        while (*p) {
            size_t w = strcspn(p + (*p == ' ' ? 1 : 0), " ") + (*p == ' ' ? 1 : 0);
            if (*p == ' ' && col + w > 78 && col > strlen(name) + 2) {
                buf_puts(out, "\r\n");
                col = 0;
            }
            buf_append(out, p, w);
            col += w;
            p += w;
        }
    } else {
        /* Each line at most 76 characters (RFC 2047 2): after the
         * line's prefix ("Subject: " or the folding space) and the 12
         * characters of "=?UTF-8?B?" "?=", the base64 text gets the
         * rest, 3 bytes of text per 4 characters; a word is cut before
         * a character that would not fit (RFC 2047 5). */
        const unsigned char *s = (const unsigned char *)buf_cstr(&t);
        size_t i = 0;
        bool first = true;
        /* The ASCII words before the first non-ASCII one stay plain
         * ("Auto: " remains readable to filters); the white space after
         * them separates them from the encoded-words (RFC 2047 5). */
        size_t k = 0, sp = 0;
        while (k < t.len && s[k] < 0x80) {
            if (s[k] == ' ')
                sp = k;
            k++;
        }
        size_t col0 = strlen(name) + 2;
        if (sp > 0 && col0 + sp < 60) {
            buf_append(out, s, sp + 1);
            col0 += sp + 1;
            i = sp + 1;
        }
        while (i < t.len) {
            size_t prefix = first ? col0 : 1;
            size_t room = prefix + 12 + 8 < 76 ? (76 - prefix - 12) / 4 * 3 : 6;
            size_t chunk = 0;
            while (i + chunk < t.len) {
                size_t l = utf8_len(s + i + chunk, t.len - i - chunk);
                if (l == 0)
                    l = 1;
                if (chunk + l > room && chunk > 0)
                    break;
                chunk += l;
            }
            if (!first)
                buf_puts(out, "\r\n ");
            first = false;
            buf_puts(out, "=?UTF-8?B?");
            base64_encode(s + i, chunk, out);
            buf_puts(out, "?=");
            i += chunk;
        }
    }
    buf_puts(out, "\r\n");
    buf_free(&t);
}

void compose_msgid(struct buf *out, const char *servername, time_t now)
{
    unsigned char r[12];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        memset(r, 0, sizeof(r));
    buf_putc(out, '<');
    for (size_t i = 0; i < sizeof(r); i++)
        buf_printf(out, "%02x", r[i]);
    buf_printf(out, ".%lld@%s>", (long long)now, servername);
}

bool compose_msgid_token(const char *v, const char **next, struct buf *out)
{
    const char *lt = strchr(v, '<');
    if (!lt)
        return false;
    const char *gt = strchr(lt, '>');
    if (!gt || gt - lt + 1 > COMPOSE_MAX_MSGID)
        return false;
    for (const char *p = lt + 1; p < gt; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '<')
            return false;
    if (gt == lt + 1)
        return false;
    buf_append(out, lt, (size_t)(gt - lt + 1));
    if (next)
        *next = gt + 1;
    return true;
}

bool compose_header_addr_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > COMPOSE_MAX_MSGID || !strchr(s, '@'))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < ' ' || c >= 0x7f)
            return false;
    }
    return true;
}

void compose_text_part(struct buf *hdr, struct buf *body, const char *text)
{
    /* Normalise line ends first (CRLF, bare CR and bare LF all mean a
     * line break in script text). */
    struct buf t = BUF_INIT;
    for (const char *p = text; *p; p++) {
        if (*p == '\r') {
            buf_putc(&t, '\n');
            if (p[1] == '\n')
                p++;
        } else {
            buf_putc(&t, *p);
        }
    }
    bool plain = true;
    size_t col = 0;
    for (size_t i = 0; i < t.len; i++) {
        unsigned char c = (unsigned char)t.data[i];
        if (c == '\n') {
            col = 0;
            continue;
        }
        if (c >= 0x80 || (c < ' ' && c != '\t') || c == 0x7f || ++col > 76)
            plain = false;
    }
    buf_puts(hdr, "Content-Type: text/plain; charset=utf-8\r\n");
    if (plain) {
        buf_puts(hdr, "Content-Transfer-Encoding: 7bit\r\n");
        for (size_t i = 0; i < t.len; i++) {
            if (t.data[i] == '\n')
                buf_puts(body, "\r\n");
            else
                buf_putc(body, t.data[i]);
        }
    } else {
        /* Quoted-printable, RFC 2045 6.7: '=', controls, 8-bit bytes and
         * white space before a line end encoded; soft breaks keep lines
         * at 76 characters. Invalid UTF-8 goes through as bytes: the
         * charset label is the script author's claim. */
        buf_puts(hdr, "Content-Transfer-Encoding: quoted-printable\r\n");
        size_t c = 0;
        for (size_t i = 0; i < t.len; i++) {
            unsigned char ch = (unsigned char)t.data[i];
            if (ch == '\n') {
                buf_puts(body, "\r\n");
                c = 0;
                continue;
            }
            bool eol_next = i + 1 == t.len || t.data[i + 1] == '\n';
            char enc[4];
            size_t el;
            if ((ch >= 33 && ch <= 126 && ch != '=') || ((ch == ' ' || ch == '\t') && !eol_next)) {
                enc[0] = (char)ch;
                el = 1;
            } else {
                snprintf(enc, sizeof(enc), "=%02X", ch);
                el = 3;
            }
            if (c + el > 75) {
                buf_puts(body, "=\r\n");
                c = 0;
            }
            buf_append(body, enc, el);
            c += el;
        }
    }
    if (body->len < 2 || memcmp(body->data + body->len - 2, "\r\n", 2) != 0)
        buf_puts(body, "\r\n");
    buf_free(&t);
}

bool compose_addr_eq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}
