/* mime-search.c - text extraction and case-insensitive matching for
 * SEARCH BODY/TEXT (RFC 9051 6.4.4: "case-insensitive substring").
 */
#include "mime-internal.h"

#define SEARCH_TEXT_MAX ((size_t)256 << 20) /* hard cap on extracted text */

/* Crude HTML to text: tags dropped, a few entities decoded. Enough for
 * substring search; not a renderer. */
static void html_to_text(const char *s, size_t n, struct buf *out)
{
    bool in_tag = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_tag) {
            if (c == '>')
                in_tag = false;
            continue;
        }
        if (c == '<') {
            in_tag = true;
            buf_putc(out, ' ');
            continue;
        }
        if (c == '&') {
            static const struct {
                const char *ent, *txt;
            } ents[] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&nbsp;", " "},
                        {"&#39;", "'"}, {"&apos;", "'"}};
            bool done = false;
            for (size_t k = 0; k < ARRAY_SIZE(ents) && !done; k++) {
                size_t el = strlen(ents[k].ent);
                if (n - i >= el && !strncasecmp(s + i, ents[k].ent, el)) {
                    buf_puts(out, ents[k].txt);
                    i += el - 1;
                    done = true;
                }
            }
            if (done)
                continue;
        }
        buf_putc(out, c);
    }
}

static void header_text(struct buf *out, const char *hdr, size_t len)
{
    size_t pos = 0;
    struct hdr_field f;
    while (hdr_next_field(hdr, len, &pos, &f)) {
        mime_decode_header_utf8(out, hdr + f.start, f.end - f.start);
        buf_putc(out, '\n');
    }
}

static void part_text(struct buf *out, const char *d, const struct mime_part *p)
{
    if (out->len > SEARCH_TEXT_MAX)
        return;
    if (p->nchildren) {
        for (size_t i = 0; i < p->nchildren; i++)
            part_text(out, d, &p->children[i]);
        return;
    }
    if (p->message) {
        /* The encapsulated message's header is body text of the outer one. */
        header_text(out, d + p->message->hdr_off, p->message->hdr_len);
        part_text(out, d, p->message);
        return;
    }
    if (strcmp(p->type, "text") != 0)
        return;
    struct buf raw = BUF_INIT, utf = BUF_INIT;
    if (!mime_decode_transfer(p->encoding, d + p->body_off, p->body_len, &raw))
        buf_append(&raw, d + p->body_off, p->body_len);
    const char *cs = mime_param_get(p->params, p->nparams, "charset");
    if (!cs || !charset_to_utf8(cs, buf_cstr(&raw), raw.len, &utf))
        charset_to_utf8("us-ascii", buf_cstr(&raw), raw.len, &utf);
    if (!strcmp(p->subtype, "html"))
        html_to_text(buf_cstr(&utf), utf.len, out);
    else
        buf_append(out, buf_cstr(&utf), utf.len);
    buf_putc(out, '\n');
    buf_free(&raw);
    buf_free(&utf);
}

void mime_search_text_body(struct buf *out, const struct mime_message *m)
{
    part_text(out, m->data, &m->root);
}

/* ---------- case folding ---------- */

/* Simple one-to-one case folding for the scripts mail is mostly written
 * in (Latin, Greek, Cyrillic). Invalid bytes map outside Unicode so they
 * only match themselves. */
static uint32_t fold(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c >= 0xc0 && c <= 0xde && c != 0xd7)
        return c + 32;
    if (c >= 0x100 && c <= 0x17f) {
        if (c == 0x178)
            return 0xff;
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
            return (c & 1) ? c + 1 : c;
        if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17f)
            return c;
        return (c & 1) ? c : c + 1;
    }
    if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
        return c + 32;
    if (c == 0x3c2)
        return 0x3c3; /* final sigma */
    if (c == 0x386)
        return 0x3ac;
    if (c >= 0x388 && c <= 0x38a)
        return c + 37;
    if (c == 0x38c)
        return 0x3cc;
    if (c == 0x38e || c == 0x38f)
        return c + 63;
    if (c >= 0x410 && c <= 0x42f)
        return c + 32;
    if (c >= 0x400 && c <= 0x40f)
        return c + 80;
    if (c >= 0x460 && c <= 0x4ff && !(c >= 0x482 && c <= 0x489))
        return (c & 1) ? c : c + 1;
    return c;
}

static uint32_t next_cp(const unsigned char *s, size_t n, size_t *i)
{
    size_t l = mime_utf8_seq_len(s + *i, n - *i);
    uint32_t c;
    if (l == 0) {
        c = 0x110000u + s[*i];
        *i += 1;
        return c;
    }
    const unsigned char *p = s + *i;
    switch (l) {
    case 1:
        c = p[0];
        break;
    case 2:
        c = ((uint32_t)(p[0] & 0x1f) << 6) | (p[1] & 0x3f);
        break;
    case 3:
        c = ((uint32_t)(p[0] & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
        break;
    default:
        c = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3f) << 12) | ((uint32_t)(p[2] & 0x3f) << 6) |
            (p[3] & 0x3f);
        break;
    }
    *i += l;
    return fold(c);
}

bool mime_utf8_contains_ci(const char *hay, size_t haylen, const char *needle, size_t nlen)
{
    if (nlen == 0)
        return true;
    /* Fold the needle, then run KMP over the haystack decoded on the fly:
     * linear time, O(needle) memory. */
    uint32_t *nd = xmalloc(nlen * sizeof(uint32_t));
    size_t m = 0, i = 0;
    while (i < nlen)
        nd[m++] = next_cp((const unsigned char *)needle, nlen, &i);
    size_t *fail = xmalloc(m * sizeof(size_t));
    fail[0] = 0;
    for (size_t q = 1, k = 0; q < m; q++) {
        while (k > 0 && nd[q] != nd[k])
            k = fail[k - 1];
        if (nd[q] == nd[k])
            k++;
        fail[q] = k;
    }
    bool found = false;
    size_t k = 0;
    i = 0;
    while (i < haylen) {
        uint32_t c = next_cp((const unsigned char *)hay, haylen, &i);
        while (k > 0 && c != nd[k])
            k = fail[k - 1];
        if (c == nd[k])
            k++;
        if (k == m) {
            found = true;
            break;
        }
    }
    free(nd);
    free(fail);
    return found;
}
