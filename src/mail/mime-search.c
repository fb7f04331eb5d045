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

/* Text extraction stops at a byte budget: decoded text can be larger than
 * the message (Latin-1 and UTF-16 grow when converted to UTF-8, an
 * invalid byte becomes a 3-byte U+FFFD), and the caller keeps it while it
 * evaluates the message. */
struct text_ctx {
    struct buf *out;
    size_t max;     /* out->len never exceeds this */
};

/* Append at most what is left of the budget, never splitting a UTF-8
 * sequence. */
static void text_append(struct text_ctx *t, const char *s, size_t n)
{
    size_t room = t->max > t->out->len ? t->max - t->out->len : 0;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    buf_append(t->out, s, n);
}

static bool text_full(const struct text_ctx *t)
{
    return t->out->len >= t->max;
}

static void header_text(struct text_ctx *t, const char *hdr, size_t len)
{
    size_t pos = 0;
    struct hdr_field f;
    struct buf dec = BUF_INIT;
    while (!text_full(t) && hdr_next_field(hdr, len, &pos, &f)) {
        buf_reset(&dec);
        mime_decode_header_utf8(&dec, hdr + f.start, f.end - f.start);
        buf_putc(&dec, '\n');
        text_append(t, dec.data, dec.len);
    }
    buf_free(&dec);
}

static void part_text(struct text_ctx *t, const char *d, const struct mime_part *p)
{
    if (text_full(t))
        return;
    if (p->nchildren) {
        for (size_t i = 0; i < p->nchildren; i++)
            part_text(t, d, &p->children[i]);
        return;
    }
    if (p->message) {
        /* The encapsulated message's header is body text of the outer one. */
        header_text(t, d + p->message->hdr_off, p->message->hdr_len);
        part_text(t, d, p->message);
        return;
    }
    if (strcmp(p->type, "text") != 0)
        return;
    struct buf raw = BUF_INIT, utf = BUF_INIT, html = BUF_INIT;
    if (!mime_decode_transfer(p->encoding, d + p->body_off, p->body_len, &raw))
        buf_append(&raw, d + p->body_off, p->body_len);
    const char *cs = mime_param_get(p->params, p->nparams, "charset");
    if (!cs || !charset_to_utf8(cs, buf_cstr(&raw), raw.len, &utf))
        charset_to_utf8("us-ascii", buf_cstr(&raw), raw.len, &utf);
    buf_free(&raw);
    if (!strcmp(p->subtype, "html")) {
        html_to_text(buf_cstr(&utf), utf.len, &html);
        text_append(t, buf_cstr(&html), html.len);
    } else {
        text_append(t, buf_cstr(&utf), utf.len);
    }
    text_append(t, "\n", 1);
    buf_free(&utf);
    buf_free(&html);
}

void mime_search_text_body(struct buf *out, const struct mime_message *m)
{
    mime_search_text_body_max(out, m, SEARCH_TEXT_MAX);
}

void mime_search_text_body_max(struct buf *out, const struct mime_message *m, size_t max)
{
    struct text_ctx t = {out, out->len + MIN(max, SEARCH_TEXT_MAX)};
    buf_append(out, "", 0);
    part_text(&t, m->data, &m->root);
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
    size_t l = utf8_seq_len(s + *i, n - *i);
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

/* ---------- many needles at once ---------- */

/* Aho-Corasick over the case-folded text, as bytes: every code point is
 * folded (fold()) and re-encoded in UTF-8; an invalid byte b becomes
 * 0xFF 0x80|b>>6 0x80|b&0x3F (0xFF never occurs in UTF-8, and what follows
 * it are continuation bytes, which never start a unit), so each unit
 * starts with a byte no other unit has inside it, a byte-level match is a
 * match of whole code points, and an invalid byte matches only the same
 * invalid byte, exactly as in mime_utf8_contains_ci. Needles are folded
 * the same way. The trie is built from the sorted needles, so nodes are
 * created depth-first with each node's children in byte order: they are
 * stored as one sorted run per node (binary search, 5 bytes per edge),
 * and no hash table is needed. Memory is about 22 bytes per needle byte;
 * a scan costs O(text x log(fan-out)) plus one visit per distinct match
 * state, whatever the number of needles. */

struct mm_needle {
    unsigned char *b;
    size_t n;
};

struct mime_multimatch {
    struct mm_needle *nd;
    size_t nnd, capnd;
    uint32_t *id_state;       /* needle -> its terminal state (0: empty needle) */
    size_t nstates;           /* states, root included */
    size_t nterms;            /* distinct terminal states */
    uint32_t *fail, *dict;    /* dict: nearest terminal state on the fail chain */
    uint32_t *first;          /* first edge of each state */
    uint16_t *nchild;
    uint8_t *term;
    uint8_t *ebyte;           /* edges, sorted by byte within a state */
    uint32_t *echild;
    uint32_t root[256];
    bool built;
};

/* The folded form of the code point (or invalid byte) at s[*i]. */
static size_t fold_bytes(const unsigned char *s, size_t n, size_t *i, unsigned char out[4])
{
    if (s[*i] < 0x80) {
        unsigned char c = s[(*i)++];
        out[0] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
        return 1;
    }
    uint32_t c = next_cp(s, n, i);
    if (c >= 0x110000u) {
        unsigned b = c - 0x110000u;
        out[0] = 0xff;
        out[1] = (unsigned char)(0x80 | (b >> 6));
        out[2] = (unsigned char)(0x80 | (b & 0x3f));
        return 3;
    }
    if (c < 0x80) {
        out[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (unsigned char)(0xc0 | (c >> 6));
        out[1] = (unsigned char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (c >> 12));
        out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (c >> 18));
    out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (c & 0x3f));
    return 4;
}

struct mime_multimatch *mime_multimatch_new(void)
{
    return xcalloc(1, sizeof(struct mime_multimatch));
}

size_t mime_multimatch_add(struct mime_multimatch *mm, const char *needle, size_t nlen)
{
    struct buf b = BUF_INIT;
    size_t i = 0;
    while (i < nlen) {
        unsigned char fb[4];
        size_t k = fold_bytes((const unsigned char *)needle, nlen, &i, fb);
        buf_append(&b, (const char *)fb, k);
    }
    ARRAY_GROW(mm->nd, mm->nnd, mm->capnd);
    mm->nd[mm->nnd].n = b.len;
    mm->nd[mm->nnd].b = (unsigned char *)buf_release(&b);
    return mm->nnd++;
}

static int cmp_needle(const void *x, const void *y)
{
    const struct mm_needle *a = *(const struct mm_needle *const *)x, *b = *(const struct mm_needle *const *)y;
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->b, b->b, n) : 0;
    if (c)
        return c;
    return a->n < b->n ? -1 : a->n > b->n;
}

static uint32_t mm_goto(const struct mime_multimatch *mm, uint32_t s, unsigned char c)
{
    if (s == 0)
        return mm->root[c];
    size_t lo = mm->first[s], hi = lo + mm->nchild[s];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mm->ebyte[mid] == c)
            return mm->echild[mid];
        if (mm->ebyte[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

void mime_multimatch_build(struct mime_multimatch *mm)
{
    if (mm->built)
        return;
    mm->built = true;
    size_t total = 1, maxlen = 0;
    for (size_t i = 0; i < mm->nnd; i++) {
        total += mm->nd[i].n;
        if (mm->nd[i].n > maxlen)
            maxlen = mm->nd[i].n;
    }
    /* Needles in byte order. */
    const struct mm_needle **order = xmalloc((mm->nnd ? mm->nnd : 1) * sizeof(*order));
    for (size_t i = 0; i < mm->nnd; i++)
        order[i] = &mm->nd[i];
    qsort(order, mm->nnd, sizeof(*order), cmp_needle);

    uint32_t *parent = xmalloc(total * sizeof(uint32_t));
    uint8_t *byte = xmalloc(total);
    uint32_t *path = xmalloc((maxlen + 1) * sizeof(uint32_t));
    mm->term = xcalloc(total, 1);
    mm->id_state = xcalloc(mm->nnd ? mm->nnd : 1, sizeof(uint32_t));
    size_t ns = 1;
    path[0] = 0;
    parent[0] = 0;
    byte[0] = 0;
    const struct mm_needle *prev = NULL;
    for (size_t k = 0; k < mm->nnd; k++) {
        const struct mm_needle *n = order[k];
        size_t id = (size_t)(n - mm->nd);
        size_t l = 0;
        if (prev)
            while (l < prev->n && l < n->n && prev->b[l] == n->b[l])
                l++;
        for (size_t d = l; d < n->n; d++) {
            parent[ns] = path[d];
            byte[ns] = n->b[d];
            path[d + 1] = (uint32_t)ns;
            ns++;
        }
        uint32_t st = path[n->n];
        mm->id_state[id] = st;
        if (st && !mm->term[st]) {
            mm->term[st] = 1;
            mm->nterms++;
        }
        prev = n;
    }
    free(path);
    free(order);
    mm->nstates = ns;

    /* Edges: one run per state, filled in creation order, which is byte
     * order among siblings. */
    mm->nchild = xcalloc(ns, sizeof(uint16_t));
    mm->first = xcalloc(ns, sizeof(uint32_t));
    mm->ebyte = xmalloc(ns);
    mm->echild = xmalloc(ns * sizeof(uint32_t));
    for (size_t v = 1; v < ns; v++)
        mm->nchild[parent[v]]++;
    uint32_t acc = 0;
    for (size_t v = 0; v < ns; v++) {
        mm->first[v] = acc;
        acc += mm->nchild[v];
    }
    uint32_t *fill = xmalloc(ns * sizeof(uint32_t));
    memcpy(fill, mm->first, ns * sizeof(uint32_t));
    memset(mm->root, 0, sizeof(mm->root));
    for (size_t v = 1; v < ns; v++) {
        uint32_t u = parent[v];
        mm->ebyte[fill[u]] = byte[v];
        mm->echild[fill[u]] = (uint32_t)v;
        fill[u]++;
        if (u == 0)
            mm->root[byte[v]] = (uint32_t)v;
    }
    free(fill);

    /* Failure and dictionary links, breadth first. */
    mm->fail = xcalloc(ns, sizeof(uint32_t));
    mm->dict = xcalloc(ns, sizeof(uint32_t));
    uint32_t *queue = xmalloc(ns * sizeof(uint32_t));
    size_t qh = 0, qt = 0;
    for (uint32_t e = mm->first[0]; e < mm->first[0] + mm->nchild[0]; e++)
        queue[qt++] = mm->echild[e];
    while (qh < qt) {
        uint32_t u = queue[qh++];
        for (uint32_t e = mm->first[u]; e < mm->first[u] + mm->nchild[u]; e++) {
            uint32_t v = mm->echild[e];
            unsigned char c = mm->ebyte[e];
            uint32_t f = mm->fail[u], g;
            for (;;) {
                g = mm_goto(mm, f, c);
                if (g || f == 0)
                    break;
                f = mm->fail[f];
            }
            mm->fail[v] = g;
            mm->dict[v] = mm->term[g] ? g : mm->dict[g];
            queue[qt++] = v;
        }
    }
    free(queue);
    free(parent);
    free(byte);
}

size_t mime_multimatch_states(const struct mime_multimatch *mm)
{
    return mm->built ? mm->nstates : 0;
}

size_t mime_multimatch_scan(const struct mime_multimatch *mm, const char *text, size_t len, uint8_t *seen,
                            size_t nseen)
{
    if (!mm->built || nseen >= mm->nterms)
        return nseen;
    const unsigned char *s = (const unsigned char *)text;
    uint32_t st = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char fb[4];
        size_t k = fold_bytes(s, len, &i, fb);
        for (size_t j = 0; j < k; j++) {
            unsigned char c = fb[j];
            for (;;) {
                uint32_t g = mm_goto(mm, st, c);
                if (g || st == 0) {
                    st = g;
                    break;
                }
                st = mm->fail[st];
            }
            /* Mark every needle ending here; a marked state's dictionary
             * chain is marked already, so each state is visited once. */
            for (uint32_t t = mm->term[st] ? st : mm->dict[st]; t && !seen[t]; t = mm->dict[t]) {
                seen[t] = 1;
                nseen++;
            }
        }
        if (nseen >= mm->nterms)
            break; /* every needle found: nothing more to learn */
    }
    return nseen;
}

bool mime_multimatch_found(const struct mime_multimatch *mm, const uint8_t *seen, size_t id)
{
    uint32_t st = id < mm->nnd && mm->built ? mm->id_state[id] : 0;
    return st == 0 || seen[st];
}

void mime_multimatch_free(struct mime_multimatch *mm)
{
    if (!mm)
        return;
    for (size_t i = 0; i < mm->nnd; i++)
        free(mm->nd[i].b);
    free(mm->nd);
    free(mm->id_state);
    free(mm->fail);
    free(mm->dict);
    free(mm->first);
    free(mm->nchild);
    free(mm->term);
    free(mm->ebyte);
    free(mm->echild);
    free(mm);
}
