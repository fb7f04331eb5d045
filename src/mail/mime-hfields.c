/* mime-hfields.c - header fields as SEARCH HEADER, SUBJECT, FROM, TO, CC
 * and BCC see them (RFC 9051 6.4.4), and "hfields": their decoded values
 * computed once when a message is stored (mime.h).
 *
 * The field splitting and the decoding here are the only ones SEARCH
 * uses, both for hfields (at append time) and for the raw header (other
 * fields, messages stored before hfields existed, "too large"), so the
 * two paths answer alike by construction.
 */
#include "mime-internal.h"

/* 0x01: the decoded fields only; 0x02 adds MIME_HF_ADDRESSES after each
 * address field, and stored 0x01 rows count as absent (rebuilt). */
#define HF_FORMAT_COMPLETE 0x02
#define HF_FORMAT_TOOLARGE 0x81

bool mime_sfield_next(const char *hdr, size_t len, size_t *pos, struct mime_sfield *f)
{
    size_t i = *pos;
    while (i < len) {
        size_t start = i;
        if (hdr[i] == '\r' || hdr[i] == '\n')
            break; /* blank line: end of header */
        size_t e = i;
        for (;;) {
            while (e < len && hdr[e] != '\n')
                e++;
            if (e >= len)
                break;
            e++;
            if (e < len && (hdr[e] == ' ' || hdr[e] == '\t'))
                continue;
            break;
        }
        i = e;
        const char *colon = memchr(hdr + start, ':', e - start);
        if (!colon)
            continue;
        size_t fl = (size_t)(colon - (hdr + start));
        while (fl > 0 && (hdr[start + fl - 1] == ' ' || hdr[start + fl - 1] == '\t'))
            fl--;
        f->name = hdr + start;
        f->name_len = fl;
        f->val = colon + 1;
        f->val_len = (size_t)(hdr + e - f->val);
        *pos = i;
        return true;
    }
    *pos = len;
    return false;
}

void mime_sfield_decode(const struct mime_sfield *f, struct buf *dec)
{
    struct buf raw = BUF_INIT;
    buf_reserve(&raw, f->val_len);
    for (size_t j = 0; j < f->val_len; j++)
        if (f->val[j] != '\r' && f->val[j] != '\n')
            buf_putc(&raw, f->val[j]);
    mime_decode_header_utf8(dec, buf_cstr(&raw), raw.len);
    buf_free(&raw);
}

enum mime_hfield mime_hfield_id(const char *name, size_t len)
{
    /* The same (ASCII) comparison SEARCH HEADER uses to find fields by
     * name in the raw header, so both paths pick the same fields. */
    static const struct {
        const char *name;
        enum mime_hfield id;
    } names[] = {{"subject", MIME_HF_SUBJECT}, {"from", MIME_HF_FROM}, {"to", MIME_HF_TO},
                 {"cc", MIME_HF_CC},           {"bcc", MIME_HF_BCC}};
    if (len < 2 || len > 7)
        return MIME_HF_NONE;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (mime_field_name_cmp(name, len, names[i].name, strlen(names[i].name)) == 0)
            return names[i].id;
    return MIME_HF_NONE;
}

struct addr_text {
    struct buf *out;
    size_t start;
};

static void addr_cb(void *arg, const char *name, const char *local, const char *domain)
{
    struct addr_text *t = arg;
    if (t->out->len > t->start)
        buf_puts(t->out, ", ");
    if (*name) {
        mime_decode_header_utf8(t->out, name, strlen(name));
        buf_puts(t->out, " <");
    }
    buf_puts(t->out, local);
    if (*domain) {
        buf_putc(t->out, '@');
        buf_puts(t->out, domain);
    }
    if (*name)
        buf_putc(t->out, '>');
}

void mime_hfield_addresses(struct buf *out, const char *val, size_t len)
{
    struct buf raw = BUF_INIT;
    buf_reserve(&raw, len);
    for (size_t j = 0; j < len; j++)
        if (val[j] != '\r' && val[j] != '\n')
            buf_putc(&raw, val[j]);
    struct addr_text t = {.out = out, .start = out->len};
    mime_address_each(raw.data ? raw.data : "", raw.len, addr_cb, &t);
    buf_free(&raw);
}

static void put_len(struct buf *out, size_t n)
{
    do {
        unsigned char c = (unsigned char)(n & 0x7f);
        n >>= 7;
        buf_putc(out, (char)(n ? c | 0x80 : c));
    } while (n);
}

void mime_hfields_build(struct buf *out, const char *hdr, size_t len)
{
    size_t start = out->len;
    buf_putc(out, (char)HF_FORMAT_COMPLETE);
    struct buf dec = BUF_INIT;
    size_t pos = 0;
    struct mime_sfield f;
    while (mime_sfield_next(hdr, len, &pos, &f)) {
        enum mime_hfield id = mime_hfield_id(f.name, f.name_len);
        if (id == MIME_HF_NONE)
            continue;
        buf_reset(&dec);
        mime_sfield_decode(&f, &dec);
        /* id + up to 3 length bytes + value */
        if (out->len - start + 4 + dec.len > MIME_HFIELDS_MAX) {
            buf_truncate(out, start);
            buf_putc(out, (char)HF_FORMAT_TOOLARGE);
            break;
        }
        buf_putc(out, (char)id);
        put_len(out, dec.len);
        buf_append(out, dec.data ? dec.data : "", dec.len);
        if (id == MIME_HF_SUBJECT)
            continue;
        buf_reset(&dec);
        mime_hfield_addresses(&dec, f.val, f.val_len);
        if (out->len - start + 4 + dec.len > MIME_HFIELDS_MAX) {
            buf_truncate(out, start);
            buf_putc(out, (char)HF_FORMAT_TOOLARGE);
            break;
        }
        buf_putc(out, (char)MIME_HF_ADDRESSES);
        put_len(out, dec.len);
        buf_append(out, dec.data ? dec.data : "", dec.len);
    }
    buf_free(&dec);
}

/* One occurrence at *pos; false at the end or on malformed data (*bad). */
static bool next_entry(const char *data, size_t len, size_t *pos, enum mime_hfield *id, const char **val,
                       size_t *vlen, bool *bad)
{
    size_t i = *pos;
    *bad = false;
    if (i >= len)
        return false;
    unsigned char c = (unsigned char)data[i++];
    if (c < MIME_HF_SUBJECT || c > MIME_HF_ADDRESSES) {
        *bad = true;
        return false;
    }
    size_t n = 0;
    for (int shift = 0;; shift += 7) {
        if (i >= len || shift > 14) {
            *bad = true;
            return false;
        }
        unsigned char b = (unsigned char)data[i++];
        n |= (size_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    if (n > len - i) {
        *bad = true;
        return false;
    }
    *id = (enum mime_hfield)c;
    *val = data + i;
    *vlen = n;
    *pos = i + n;
    return true;
}

bool mime_hfields_complete(const char *data, size_t len)
{
    if (!data || len < 1 || len > MIME_HFIELDS_MAX || (unsigned char)data[0] != HF_FORMAT_COMPLETE)
        return false;
    size_t pos = 1;
    enum mime_hfield id;
    const char *v;
    size_t vl;
    bool bad = false;
    while (next_entry(data, len, &pos, &id, &v, &vl, &bad))
        ;
    return !bad;
}

bool mime_hfields_current(const char *data, size_t len)
{
    if (data && len == 1 && (unsigned char)data[0] == HF_FORMAT_TOOLARGE)
        return true;
    return mime_hfields_complete(data, len);
}

bool mime_hfields_next(const char *data, size_t len, size_t *pos, enum mime_hfield *id, const char **val,
                       size_t *vlen)
{
    if (*pos == 0) {
        if (len < 1 || (unsigned char)data[0] != HF_FORMAT_COMPLETE)
            return false;
        *pos = 1;
    }
    bool bad;
    return next_entry(data, len, pos, id, val, vlen, &bad);
}
