/* mime-decode.c - Content-Transfer-Encoding decoding (RFC 2045 6.7/6.8)
 * and RFC 2047 / RFC 2231 header and parameter decoding.
 *
 * Decoders are lenient, as deployed servers are: invalid base64
 * characters are skipped, invalid quoted-printable escapes are copied
 * through unchanged. Output is always bounded by the input size.
 */
#include "mime-internal.h"
#include "base64.h"
#include <ctype.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void decode_qp(const char *s, size_t n, struct buf *out)
{
    buf_append(out, "", 0);
    buf_reserve(out, n);
    size_t i = 0;
    while (i < n) {
        /* One line at a time so trailing white space can be dropped
         * (RFC 2045 6.7 rule 3: it was added in transport). */
        const char *nl = memchr(s + i, '\n', n - i);
        size_t le = nl ? (size_t)(nl - s) : n; /* index of LF or n */
        size_t ce = le;
        if (ce > i && s[ce - 1] == '\r')
            ce--;
        while (ce > i && (s[ce - 1] == ' ' || s[ce - 1] == '\t'))
            ce--;
        bool soft = false;
        for (size_t j = i; j < ce; j++) {
            if (s[j] != '=') {
                buf_putc(out, s[j]);
                continue;
            }
            if (j + 1 == ce) {
                soft = true; /* "=" at line end: soft line break */
                break;
            }
            int h = j + 2 < ce ? hexval((unsigned char)s[j + 1]) : -1;
            int l = j + 2 < ce ? hexval((unsigned char)s[j + 2]) : -1;
            if (j + 2 < ce && h >= 0 && l >= 0) {
                buf_putc(out, (char)(h * 16 + l));
                j += 2;
            } else {
                buf_putc(out, '='); /* invalid escape: keep as is */
            }
        }
        if (nl && !soft) {
            /* A hard line break is a CRLF in canonical text. */
            buf_append(out, "\r\n", 2);
        }
        i = nl ? le + 1 : n;
    }
}

bool mime_decode_transfer(const char *encoding, const char *data, size_t len, struct buf *out)
{
    if (!encoding || !strcasecmp(encoding, "7bit") || !strcasecmp(encoding, "8bit") ||
        !strcasecmp(encoding, "binary")) {
        buf_append(out, data, len);
        return true;
    }
    if (!strcasecmp(encoding, "base64")) {
        base64_decode_lenient(data, len, out);
        return true;
    }
    if (!strcasecmp(encoding, "quoted-printable")) {
        decode_qp(data, len, out);
        return true;
    }
    return false;
}

/* ---------- raw 8-bit text ---------- */

/* Raw header text: UTF-8 when valid, else Latin-1 (what real mail with
 * unencoded 8-bit headers almost always is). Folding is undone. */
static void append_raw_text(struct buf *out, const char *s, size_t n)
{
    bool utf8 = utf8_valid(s, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r')
            continue;
        if (c == '\n') {
            /* Folding (LF + WSP) disappears; a line end between fields
             * (when a whole header block is decoded) stays a separator. */
            if (i + 1 < n && (s[i + 1] == ' ' || s[i + 1] == '\t'))
                continue;
            buf_putc(out, '\n');
            continue;
        }
        if (c < 0x80 || utf8) {
            buf_putc(out, (char)c);
        } else {
            buf_putc(out, (char)(0xc0 | (c >> 6)));
            buf_putc(out, (char)(0x80 | (c & 0x3f)));
        }
    }
}

/* ---------- RFC 2047 ---------- */

struct eword {
    size_t end;          /* one past "?=" */
    size_t cs_off, cs_len;
    char enc;            /* 'B' or 'Q' */
    size_t txt_off, txt_len;
};

/* Encoded word "=?charset?E?text?=" at s[i]. */
static bool parse_eword(const char *s, size_t n, size_t i, struct eword *w, size_t *dead_end)
{
    if (i + 8 > n || s[i] != '=' || s[i + 1] != '?')
        return false;
    size_t p = i + 2;
    w->cs_off = p;
    while (p < n && s[p] != '?' && s[p] != ' ' && s[p] != '\t' && s[p] != '\r' && s[p] != '\n' && p - i < 80)
        p++;
    if (p >= n || s[p] != '?' || p == w->cs_off)
        return false;
    w->cs_len = p - w->cs_off;
    p++;
    if (p + 1 >= n || s[p + 1] != '?')
        return false;
    char e = (char)toupper((unsigned char)s[p]);
    if (e != 'B' && e != 'Q')
        return false;
    w->enc = e;
    p += 2;
    w->txt_off = p;
    /* The encoded text may not contain white space (RFC 2047 5); "?="
     * ends it. *dead_end remembers where an earlier scan hit white space
     * or the end without finding "?=": a later start before that point
     * would fail the same way, so rescanning (quadratic on hostile input
     * like "=?a?q?x=?a?q?x...") is skipped. */
    if (p < *dead_end)
        return false;
    while (p + 1 < n && !(s[p] == '?' && s[p + 1] == '=')) {
        if (s[p] == ' ' || s[p] == '\t' || s[p] == '\r' || s[p] == '\n') {
            *dead_end = p;
            return false;
        }
        p++;
    }
    if (p + 1 >= n) {
        *dead_end = n;
        return false;
    }
    w->txt_len = p - w->txt_off;
    w->end = p + 2;
    return true;
}

static void decode_q_word(const char *s, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            buf_putc(out, ' ');
        } else if (s[i] == '=' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
                   hexval((unsigned char)s[i + 2]) >= 0) {
            buf_putc(out, (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2])));
            i += 2;
        } else {
            buf_putc(out, s[i]);
        }
    }
}

struct pending {
    char cs[81];
    struct buf bytes;
};

static void flush_pending(struct buf *out, struct pending *pd)
{
    if (!pd->bytes.len)
        return;
    if (!charset_to_utf8(pd->cs, pd->bytes.data, pd->bytes.len, out))
        append_raw_text(out, pd->bytes.data, pd->bytes.len);
    buf_reset(&pd->bytes);
}

void mime_decode_header_utf8(struct buf *out, const char *value, size_t len)
{
    struct pending pd;
    pd.cs[0] = '\0';
    buf_init(&pd.bytes);
    size_t i = 0, lit = 0; /* lit: start of pending literal text */
    size_t dead_end = 0;
    bool prev_word = false;
    while (i < len) {
        struct eword w;
        if (value[i] == '=' && i + 1 < len && value[i + 1] == '?' && parse_eword(value, len, i, &w, &dead_end)) {
            char cs[81];
            size_t cl = w.cs_len < 80 ? w.cs_len : 80;
            memcpy(cs, value + w.cs_off, cl);
            cs[cl] = '\0';
            char *star = strchr(cs, '*'); /* RFC 2231 5: charset*language */
            if (star)
                *star = '\0';
            if (!charset_known(cs)) {
                i = w.end; /* unknown charset: the word stays as is */
                prev_word = false;
                continue;
            }
            /* White space between two encoded words is dropped (RFC 2047 6.2). */
            bool only_ws = true;
            for (size_t k = lit; k < i && only_ws; k++)
                only_ws = value[k] == ' ' || value[k] == '\t' || value[k] == '\r' || value[k] == '\n';
            if (!(prev_word && only_ws)) {
                flush_pending(out, &pd);
                append_raw_text(out, value + lit, i - lit);
            }
            /* Adjacent words in the same charset are joined before
             * conversion: senders split multibyte characters across words. */
            if (strcasecmp(cs, pd.cs) != 0) {
                flush_pending(out, &pd);
                memcpy(pd.cs, cs, strlen(cs) + 1);
            }
            if (w.enc == 'B')
                base64_decode_lenient(value + w.txt_off, w.txt_len, &pd.bytes);
            else
                decode_q_word(value + w.txt_off, w.txt_len, &pd.bytes);
            i = w.end;
            lit = i;
            prev_word = true;
            continue;
        }
        if (value[i] != ' ' && value[i] != '\t' && value[i] != '\r' && value[i] != '\n')
            prev_word = false;
        i++;
    }
    flush_pending(out, &pd);
    if (lit < len)
        append_raw_text(out, value + lit, len - lit);
    buf_free(&pd.bytes);
}

/* ---------- parameters ---------- */

bool mime_param_decoded(struct buf *out, const struct mime_param *params, size_t n, const char *name)
{
    char ext[128];
    snprintf(ext, sizeof(ext), "%s*", name);
    const char *v = mime_param_get(params, n, ext);
    if (v) {
        /* charset'language'%XX (RFC 2231 4) */
        const char *q1 = strchr(v, '\'');
        const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
        char cs[81] = "us-ascii";
        const char *txt = v;
        if (q1 && q2) {
            size_t cl = (size_t)(q1 - v);
            if (cl > 0 && cl < sizeof(cs)) {
                memcpy(cs, v, cl);
                cs[cl] = '\0';
            }
            txt = q2 + 1;
        }
        struct buf raw = BUF_INIT;
        for (const char *p = txt; *p; p++) {
            if (*p == '%' && hexval((unsigned char)p[1]) >= 0 && hexval((unsigned char)p[2]) >= 0) {
                buf_putc(&raw, (char)(hexval((unsigned char)p[1]) * 16 + hexval((unsigned char)p[2])));
                p += 2;
            } else {
                buf_putc(&raw, *p);
            }
        }
        if (!charset_to_utf8(cs, raw.data ? raw.data : "", raw.len, out))
            append_raw_text(out, raw.data ? raw.data : "", raw.len);
        buf_free(&raw);
        return true;
    }
    v = mime_param_get(params, n, name);
    if (!v)
        return false;
    mime_decode_header_utf8(out, v, strlen(v));
    return true;
}
