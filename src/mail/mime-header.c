/* mime-header.c - header block scanning: field iteration, lookup,
 * HEADER.FIELDS filtering and header length.
 *
 * Line ends: CRLF and bare LF are both accepted everywhere (real mail and
 * mbox imports contain bare LF). A lone CR is treated as an ordinary byte.
 */
#include "mime-internal.h"

/* Case-insensitive order of field names (ASCII only, as RFC 5322 field
 * names are): the order HEADER.FIELDS and SEARCH HEADER look names up in. */
int mime_field_name_cmp(const char *a, size_t la, const char *b, size_t lb)
{
    size_t n = la < lb ? la : lb;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return la < lb ? -1 : la > lb;
}

bool mime_ascii_ieq(const char *a, size_t alen, const char *b)
{
    return mime_field_name_cmp(a, alen, b, strlen(b)) == 0;
}

/* End of the line starting at pos: index one past its LF, or len. */
static size_t line_end(const char *s, size_t len, size_t pos)
{
    const char *nl = memchr(s + pos, '\n', len - pos);
    return nl ? (size_t)(nl - s) + 1 : len;
}

static bool is_blank_line(const char *s, size_t len, size_t pos)
{
    if (pos < len && s[pos] == '\n')
        return true;
    return pos + 1 < len && s[pos] == '\r' && s[pos + 1] == '\n';
}

size_t mime_header_length(const char *data, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        if (is_blank_line(data, len, pos))
            return pos + (data[pos] == '\n' ? 1 : 2);
        pos = line_end(data, len, pos);
    }
    return len;
}

bool hdr_next_field(const char *hdr, size_t len, size_t *pos, struct hdr_field *f)
{
    size_t p = *pos;
    if (p >= len || is_blank_line(hdr, len, p))
        return false;
    f->start = p;
    size_t e = line_end(hdr, len, p);
    /* Continuation lines belong to this field (RFC 5322 2.2.3). */
    while (e < len && (hdr[e] == ' ' || hdr[e] == '\t'))
        e = line_end(hdr, len, e);
    f->end = e;
    /* The name runs to the colon on the first line. */
    size_t first_end = line_end(hdr, len, p);
    const char *colon = memchr(hdr + p, ':', first_end - p);
    if (!colon || colon == hdr + p) {
        f->name_len = 0;
        f->value_off = first_end;
    } else {
        size_t n = (size_t)(colon - (hdr + p));
        /* obs-optional allows WSP between name and colon (RFC 5322 4.5.8). */
        while (n > 0 && (hdr[p + n - 1] == ' ' || hdr[p + n - 1] == '\t'))
            n--;
        f->name_len = n;
        f->value_off = (size_t)(colon - hdr) + 1;
    }
    *pos = e;
    return true;
}

char *hdr_unfold(const char *v, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '\r' || c == '\n')
            continue;
        out[o++] = c ? c : ' ';
    }
    size_t s = 0;
    while (s < o && (out[s] == ' ' || out[s] == '\t'))
        s++;
    while (o > s && (out[o - 1] == ' ' || out[o - 1] == '\t'))
        o--;
    if (s)
        memmove(out, out + s, o - s);
    out[o - s] = '\0';
    return out;
}

char *mime_header_get(const char *hdr, size_t len, const char *name)
{
    size_t pos = 0;
    struct hdr_field f;
    while (hdr_next_field(hdr, len, &pos, &f)) {
        if (f.name_len && mime_ascii_ieq(hdr + f.start, f.name_len, name))
            return hdr_unfold(hdr + f.value_off, f.end - f.value_off);
    }
    return NULL;
}


struct fname {
    const char *s;
    size_t len;
};

static int cmp_fname(const void *x, const void *y)
{
    const struct fname *a = x, *b = y;
    return mime_field_name_cmp(a->s, a->len, b->s, b->len);
}

void mime_header_filter(struct buf *out, const char *hdr, size_t len, const char *const *names, size_t nnames,
                        bool not)
{
    /* The names sorted once, each field looked up by binary search: a
     * header of millions of tiny fields against 256 names costs
     * O(fields x log names), not O(fields x names). */
    struct fname *sorted = xmalloc((nnames ? nnames : 1) * sizeof(*sorted));
    for (size_t i = 0; i < nnames; i++) {
        sorted[i].s = names[i];
        sorted[i].len = strlen(names[i]);
    }
    if (nnames)
        qsort(sorted, nnames, sizeof(*sorted), cmp_fname);
    /* One allocation for the usual result (a few fields of a header)
     * instead of growing from 64 bytes by doubling for every message of
     * a FETCH (BODY.PEEK[HEADER.FIELDS (...)]). */
    buf_reserve(out, (len < 1024 ? len : 1024) + 2);
    size_t pos = 0;
    struct hdr_field f;
    while (hdr_next_field(hdr, len, &pos, &f)) {
        if (!f.name_len)
            continue; /* a line without a colon is not a field: never returned */
        bool listed = false;
        size_t lo = 0, hi = nnames;
        while (lo < hi && !listed) {
            size_t mid = lo + (hi - lo) / 2;
            int c = mime_field_name_cmp(hdr + f.start, f.name_len, sorted[mid].s, sorted[mid].len);
            if (c == 0)
                listed = true;
            else if (c > 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (listed != not) {
            buf_append(out, hdr + f.start, f.end - f.start);
            /* The last field of a block without a blank line may lack its
             * line end; keep the output a sequence of complete lines. */
            if (f.end == f.start || hdr[f.end - 1] != '\n')
                buf_append(out, "\r\n", 2);
        }
    }
    buf_append(out, "\r\n", 2);
    free(sorted);
}
