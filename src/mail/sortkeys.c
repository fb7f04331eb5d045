/* sortkeys.c - the per-message record of SORT and THREAD keys (sortkey.h)
 * and msg-id normalisation for THREAD. */
#include "sortkey.h"
#include "mime.h"

#include <string.h>

/* ---- msg-ids ---- */

/* Normalise the msg-id whose '<' is at v[i]; returns the index after it
 * (after the '>' or at the end). id gets "left@right" without quoting,
 * comments or white space; valid tells whether it is a msg-id. */
static size_t one_msgid(const char *v, size_t len, size_t i, struct buf *id, bool *valid)
{
    buf_reset(id);
    i++; /* '<' */
    bool inq = false;
    size_t at = 0, nat = 0;
    int depth = 0;
    while (i < len) {
        char c = v[i];
        if (inq) {
            if (c == '\\' && i + 1 < len) {
                buf_putc(id, v[i + 1]);
                i += 2;
                continue;
            }
            if (c == '"')
                inq = false;
            else if (c != '\r' && c != '\n')
                buf_putc(id, c);
            i++;
            continue;
        }
        if (depth > 0) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            i++;
            continue;
        }
        if (c == '>') {
            i++;
            break;
        }
        if (c == '<') /* a new one starts: this one was unterminated */
            break;
        if (c == '"')
            inq = true;
        else if (c == '(')
            depth = 1;
        else if (c == '@') {
            at = id->len;
            nat++;
            buf_putc(id, c);
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            buf_putc(id, c);
        i++;
    }
    *valid = nat == 1 && at > 0 && at + 1 < id->len && id->len <= SORTKEY_MAX_MSGID;
    return i;
}

void mime_msgids_each(const char *value, size_t len, bool (*cb)(void *arg, const char *id, size_t idlen),
                      void *arg)
{
    struct buf id = BUF_INIT;
    size_t i = 0;
    int depth = 0;
    while (i < len) {
        char c = value[i];
        if (depth > 0) { /* comments outside msg-ids may hold '<' */
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            i++;
            continue;
        }
        if (c == '(') {
            depth = 1;
            i++;
            continue;
        }
        if (c != '<') {
            i++;
            continue;
        }
        bool valid;
        i = one_msgid(value, len, i, &id, &valid);
        if (valid && !cb(arg, buf_cstr(&id), id.len))
            break;
    }
    buf_free(&id);
}

/* ---- the record ---- */

static void put_str(struct buf *out, const char *s, size_t n)
{
    /* keys are at most SORTKEY_MAX_KEY, msg-ids SORTKEY_MAX_MSGID: two
     * LEB128 bytes always suffice */
    if (n >= 0x80) {
        buf_putc(out, (char)(0x80 | (n & 0x7F)));
        buf_putc(out, (char)(n >> 7));
    } else
        buf_putc(out, (char)n);
    buf_append(out, s, n);
}

static bool get_str(const char *d, size_t len, size_t *pos, const char **s, size_t *n)
{
    size_t p = *pos;
    if (p >= len)
        return false;
    size_t v = (unsigned char)d[p] & 0x7F;
    if ((unsigned char)d[p++] & 0x80) {
        if (p >= len || ((unsigned char)d[p] & 0x80))
            return false;
        v |= (size_t)(unsigned char)d[p++] << 7;
    }
    if (v > len - p)
        return false;
    *s = d + p;
    *n = v;
    *pos = p + v;
    return true;
}

struct first_addr {
    bool seen;
    struct buf mailbox, display;
};

static void first_addr_cb(void *arg, const char *name, const char *local, const char *domain)
{
    struct first_addr *fa = arg;
    if (fa->seen)
        return;
    fa->seen = true;
    buf_puts(&fa->mailbox, local);
    /* RFC 5957 3: the decoded display name when not empty, else
     * mailbox@host, else the mailbox. */
    if (*name)
        mime_decode_header_utf8(&fa->display, name, strlen(name));
    if (fa->display.len == 0) {
        buf_puts(&fa->display, local);
        if (*local && *domain) {
            buf_putc(&fa->display, '@');
            buf_puts(&fa->display, domain);
        }
    }
}

/* The first address of field name: addr-mailbox key to mkey, DISPLAY key
 * to dkey (either may be NULL). */
static void addr_keys(const char *hdr, size_t len, const char *name, struct buf *mkey, struct buf *dkey)
{
    char *v = mime_header_get(hdr, len, name);
    if (!v)
        return;
    struct first_addr fa = {.seen = false, .mailbox = BUF_INIT, .display = BUF_INIT};
    mime_address_each(v, strlen(v), first_addr_cb, &fa);
    if (mkey)
        mime_casemap_key(mkey, buf_cstr(&fa.mailbox), fa.mailbox.len);
    if (dkey)
        mime_casemap_key(dkey, buf_cstr(&fa.display), fa.display.len);
    buf_free(&fa.mailbox);
    buf_free(&fa.display);
    free(v);
}

static bool first_id_cb(void *arg, const char *id, size_t idlen)
{
    buf_append(arg, id, idlen);
    return false;
}

struct refs {
    struct buf ids[SORTKEY_MAX_REFS]; /* a ring: the last SORTKEY_MAX_REFS */
    size_t n;
};

static bool refs_cb(void *arg, const char *id, size_t idlen)
{
    struct refs *r = arg;
    struct buf *b = &r->ids[r->n % SORTKEY_MAX_REFS];
    buf_reset(b);
    buf_append(b, id, idlen);
    r->n++;
    return true;
}

void mime_sortkeys_build(struct buf *out, const char *hdr, size_t len)
{
    unsigned flags = 0;
    int64_t sent = 0;
    struct buf s[SK_NSTR];
    for (size_t i = 0; i < SK_NSTR; i++)
        buf_init(&s[i]);

    char *v = mime_header_get(hdr, len, "date");
    int tz;
    if (v && mime_parse_date(v, &sent, &tz))
        flags |= SK_F_DATE;
    else
        sent = 0;
    free(v);

    if ((v = mime_header_get(hdr, len, "subject"))) {
        struct buf base = BUF_INIT;
        bool reply = false;
        mime_base_subject(&base, v, strlen(v), &reply);
        if (reply)
            flags |= SK_F_REPLY;
        mime_casemap_key(&s[SK_SUBJECT], buf_cstr(&base), base.len);
        buf_free(&base);
        free(v);
    }
    addr_keys(hdr, len, "from", &s[SK_FROM], &s[SK_DISPLAYFROM]);
    addr_keys(hdr, len, "to", &s[SK_TO], &s[SK_DISPLAYTO]);
    addr_keys(hdr, len, "cc", &s[SK_CC], NULL);
    if ((v = mime_header_get(hdr, len, "message-id"))) {
        mime_msgids_each(v, strlen(v), first_id_cb, &s[SK_MESSAGEID]);
        free(v);
    }
    if ((v = mime_header_get(hdr, len, "in-reply-to"))) {
        mime_msgids_each(v, strlen(v), first_id_cb, &s[SK_INREPLYTO]);
        free(v);
    }
    struct refs *r = xcalloc(1, sizeof(*r));
    if ((v = mime_header_get(hdr, len, "references"))) {
        mime_msgids_each(v, strlen(v), refs_cb, r);
        free(v);
    }

    buf_putc(out, SORTKEYS_FORMAT);
    buf_putc(out, (char)flags);
    uint64_t u = (uint64_t)sent;
    for (int k = 7; k >= 0; k--)
        buf_putc(out, (char)(u >> (k * 8)));
    for (size_t i = 0; i < SK_NSTR; i++) {
        put_str(out, buf_cstr(&s[i]), s[i].len);
        buf_free(&s[i]);
    }
    size_t nr = r->n < SORTKEY_MAX_REFS ? r->n : SORTKEY_MAX_REFS;
    buf_putc(out, (char)nr);
    for (size_t k = r->n - nr; k < r->n; k++) {
        struct buf *b = &r->ids[k % SORTKEY_MAX_REFS];
        put_str(out, buf_cstr(b), b->len);
    }
    for (size_t k = 0; k < SORTKEY_MAX_REFS; k++)
        buf_free(&r->ids[k]);
    free(r);
}

bool mime_sortkeys_parse(const char *data, size_t len, struct mime_sortkeys *out)
{
    struct mime_sortkeys k;
    if (!data || len < 10 || (unsigned char)data[0] != SORTKEYS_FORMAT)
        return false;
    k.flags = (unsigned char)data[1];
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | (unsigned char)data[2 + i];
    k.sent = (int64_t)u;
    size_t pos = 10;
    for (size_t i = 0; i < SK_NSTR; i++)
        if (!get_str(data, len, &pos, &k.s[i], &k.len[i]))
            return false;
    if (pos >= len)
        return false;
    k.nrefs = (unsigned char)data[pos++];
    k.refs = data + pos;
    for (unsigned i = 0; i < k.nrefs; i++) {
        const char *s;
        size_t n;
        if (!get_str(data, len, &pos, &s, &n))
            return false;
    }
    if (pos != len)
        return false;
    k.refs_len = (size_t)(data + len - k.refs);
    if (out)
        *out = k;
    return true;
}

bool mime_sortkeys_next_ref(const struct mime_sortkeys *k, size_t *pos, const char **id, size_t *idlen)
{
    return get_str(k->refs, k->refs_len, pos, id, idlen);
}
