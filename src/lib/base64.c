/* base64.c - the one base64 codec; see base64.h for the variants. */
#include "base64.h"

void base64_encode(const unsigned char *in, size_t len, struct buf *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    buf_reserve(out, (len + 2) / 3 * 4 + 1);
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
        buf_append(out, q, 4);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], '=', '='};
        buf_append(out, q, 4);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], '='};
        buf_append(out, q, 4);
    }
    buf_append(out, "", 0); /* keeps data NUL-terminated even for len 0 */
}

int base64_value(unsigned char c, char c63)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == (unsigned char)c63)
        return 63;
    return -1;
}

static int b64val(unsigned char c)
{
    return base64_value(c, '/');
}

bool base64_decode_strict(const char *in, size_t len, struct buf *out)
{
    if (len % 4 != 0)
        return false;
    size_t start = out->len;
    for (size_t i = 0; i < len; i += 4) {
        const unsigned char *q = (const unsigned char *)in + i;
        bool last = i + 4 == len;
        int v0 = b64val(q[0]), v1 = b64val(q[1]), v2, v3;
        if (v0 < 0 || v1 < 0)
            goto bad;
        if (last && q[2] == '=' && q[3] == '=') {
            if (v1 & 0x0f)
                goto bad;
            unsigned char o = (unsigned char)(v0 << 2 | v1 >> 4);
            buf_append(out, &o, 1);
            break;
        }
        v2 = b64val(q[2]);
        if (v2 < 0)
            goto bad;
        if (last && q[3] == '=') {
            if (v2 & 0x03)
                goto bad;
            unsigned char o[2] = {(unsigned char)(v0 << 2 | v1 >> 4), (unsigned char)((v1 & 0x0f) << 4 | v2 >> 2)};
            buf_append(out, o, 2);
            break;
        }
        v3 = b64val(q[3]);
        if (v3 < 0)
            goto bad;
        unsigned char o[3] = {(unsigned char)(v0 << 2 | v1 >> 4), (unsigned char)((v1 & 0x0f) << 4 | v2 >> 2),
                              (unsigned char)((v2 & 0x03) << 6 | v3)};
        buf_append(out, o, 3);
    }
    if (!out->data)
        buf_append(out, "", 0);
    return true;
bad:
    buf_truncate(out, start);
    return false;
}

void base64_decode_lenient(const char *in, size_t len, struct buf *out)
{
    uint32_t acc = 0;
    int bits = 0;
    buf_append(out, "", 0); /* keeps data NUL-terminated even when nothing is decoded */
    buf_reserve(out, len / 4 * 3 + 3);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=')
            break; /* padding: the data ends here */
        int v = b64val(c);
        if (v < 0)
            continue; /* whitespace, line ends and junk are skipped */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(out, (char)((acc >> bits) & 0xff));
        }
    }
}

void utf8_put(struct buf *out, uint32_t cp)
{
    char t[4];
    if (cp < 0x80) {
        buf_putc(out, (char)cp);
    } else if (cp < 0x800) {
        t[0] = (char)(0xc0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3f));
        buf_append(out, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xe0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        t[2] = (char)(0x80 | (cp & 0x3f));
        buf_append(out, t, 3);
    } else {
        t[0] = (char)(0xf0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        t[3] = (char)(0x80 | (cp & 0x3f));
        buf_append(out, t, 4);
    }
}
