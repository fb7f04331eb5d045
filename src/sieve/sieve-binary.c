/* sieve-binary.c - compiling, and the checked binary form of a script.
 *
 * Layout (all integers little-endian):
 *   0  "DSVB"
 *   4  u32 format version (SIEVE_BINARY_VERSION)
 *   8  u32 payload length
 *  12  u64 FNV-1a 64 of the payload
 *  20  payload: the validated tree, node by node (LEB128 numbers,
 *      length-prefixed strings)
 * The checksum catches damage (a torn write, a bad disk block), not
 * malice: the files are written by the server. Loading still treats the
 * payload as untrusted: every count is checked against the bytes left and
 * the limits, nesting is bounded, and the tree is validated again before
 * anything runs it, so a binary that decodes but does not validate is
 * reported corrupt and the caller recompiles from the source.
 */
#include "sieve-private.h"

#define HDR_LEN 20

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put_u(struct buf *b, uint64_t v)
{
    do {
        unsigned char c = v & 0x7f;
        v >>= 7;
        if (v)
            c |= 0x80;
        buf_putc(b, (char)c);
    } while (v);
}

static void put_s(struct buf *b, const char *s, size_t n)
{
    put_u(b, n);
    buf_append(b, s, n);
}

static void put_nodes(struct buf *b, const struct sv_node *n, size_t count)
{
    put_u(b, count);
    for (size_t i = 0; i < count; i++) {
        const struct sv_node *x = &n[i];
        put_s(b, x->name, strlen(x->name));
        put_u(b, x->line);
        put_u(b, x->col);
        put_u(b, x->nargs);
        for (size_t k = 0; k < x->nargs; k++) {
            const struct sv_arg *a = &x->args[k];
            buf_putc(b, (char)a->kind);
            put_u(b, a->line);
            put_u(b, a->col);
            if (a->kind == SV_ARG_TAG) {
                put_s(b, a->tag, strlen(a->tag));
            } else if (a->kind == SV_ARG_NUM) {
                put_u(b, a->num);
            } else {
                put_u(b, a->nstrs);
                for (size_t j = 0; j < a->nstrs; j++)
                    put_s(b, a->strs[j].s, a->strs[j].len);
            }
        }
        buf_putc(b, (char)((x->has_tests ? 1 : 0) | (x->has_block ? 2 : 0)));
        put_nodes(b, x->tests, x->ntests);
        put_nodes(b, x->block, x->nblock);
    }
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void sv_binary_write(const struct sieve_script *s, struct buf *out)
{
    struct buf pl = BUF_INIT;
    put_nodes(&pl, s->cmds, s->ncmds);
    unsigned char h[HDR_LEN];
    memcpy(h, "DSVB", 4);
    put_le(h + 4, SIEVE_BINARY_VERSION, 4);
    put_le(h + 8, pl.len, 4);
    put_le(h + 12, fnv1a((const unsigned char *)pl.data, pl.len), 8);
    buf_append(out, h, HDR_LEN);
    buf_append(out, pl.data, pl.len);
    buf_free(&pl);
}

struct reader {
    const unsigned char *p, *end;
    const struct sieve_limits *lim;
    size_t nodes;
    bool bad;
};

static uint64_t get_u(struct reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = true;
            return 0;
        }
        unsigned char c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static char *get_s(struct reader *r, size_t *len, size_t max)
{
    uint64_t n = get_u(r);
    if (r->bad || n > (uint64_t)(r->end - r->p) || n > max) {
        r->bad = true;
        return NULL;
    }
    char *s = xmalloc((size_t)n + 1);
    memcpy(s, r->p, (size_t)n);
    s[n] = '\0';
    r->p += n;
    if (len)
        *len = (size_t)n;
    return s;
}

static bool get_nodes(struct reader *r, struct sv_node **out, size_t *nout, unsigned depth)
{
    *out = NULL;
    *nout = 0;
    if (depth > r->lim->max_nesting + 2) {
        r->bad = true;
        return false;
    }
    uint64_t count = get_u(r);
    /* each node takes at least 6 bytes */
    if (r->bad || count > (uint64_t)(r->end - r->p) / 6 || r->nodes + count > r->lim->max_commands) {
        r->bad = true;
        return false;
    }
    r->nodes += count;
    if (count == 0)
        return true;
    *out = xcalloc((size_t)count, sizeof(**out));
    *nout = (size_t)count;
    for (size_t i = 0; i < count && !r->bad; i++) {
        struct sv_node *x = &(*out)[i];
        x->name = get_s(r, NULL, 128);
        x->line = (unsigned)get_u(r);
        x->col = (unsigned)get_u(r);
        uint64_t na = get_u(r);
        if (r->bad || !x->name || na > 64 || na > (uint64_t)(r->end - r->p)) {
            r->bad = true;
            break;
        }
        x->args = xcalloc(na ? (size_t)na : 1, sizeof(*x->args));
        x->nargs = (size_t)na;
        for (size_t k = 0; k < x->nargs && !r->bad; k++) {
            struct sv_arg *a = &x->args[k];
            if (r->p >= r->end) {
                r->bad = true;
                break;
            }
            a->kind = (enum sv_arg_kind) * r->p++;
            a->line = (unsigned)get_u(r);
            a->col = (unsigned)get_u(r);
            if (a->kind == SV_ARG_TAG) {
                a->tag = get_s(r, NULL, 128);
            } else if (a->kind == SV_ARG_NUM) {
                a->num = get_u(r);
            } else if (a->kind == SV_ARG_STR || a->kind == SV_ARG_LIST) {
                uint64_t ns = get_u(r);
                if (r->bad || ns > r->lim->max_list || ns > (uint64_t)(r->end - r->p) ||
                    (a->kind == SV_ARG_STR && ns != 1) || ns == 0) {
                    r->bad = true;
                    break;
                }
                a->strs = xcalloc((size_t)ns, sizeof(*a->strs));
                a->nstrs = (size_t)ns;
                for (size_t j = 0; j < a->nstrs && !r->bad; j++)
                    a->strs[j].s = get_s(r, &a->strs[j].len, r->lim->max_string);
            } else {
                r->bad = true;
            }
        }
        if (r->bad || r->p >= r->end) {
            r->bad = true;
            break;
        }
        unsigned flags = *r->p++;
        if (flags & ~3u) {
            r->bad = true;
            break;
        }
        x->has_tests = flags & 1;
        x->has_block = (flags & 2) != 0;
        if (!get_nodes(r, &x->tests, &x->ntests, depth + 1) || !get_nodes(r, &x->block, &x->nblock, depth + 1))
            break;
        if (x->has_tests != (x->ntests > 0)) {
            r->bad = true;
            break;
        }
    }
    return !r->bad;
}

struct sieve_script *sieve_binary_load(const void *bin, size_t len, const struct sieve_limits *limits,
                                       enum sieve_load_status *status)
{
    struct sieve_limits l;
    sv_limits_fill(&l, limits);
    const unsigned char *b = bin;
    *status = SIEVE_LOAD_CORRUPT;
    if (len < HDR_LEN || memcmp(b, "DSVB", 4) != 0)
        return NULL;
    if (get_le(b + 4, 4) != SIEVE_BINARY_VERSION) {
        *status = SIEVE_LOAD_VERSION;
        return NULL;
    }
    uint64_t pl = get_le(b + 8, 4);
    if (pl != len - HDR_LEN || get_le(b + 12, 8) != fnv1a(b + HDR_LEN, (size_t)pl))
        return NULL;
    struct reader r = {b + HDR_LEN, b + len, &l, 0, false};
    struct sieve_script *s = xcalloc(1, sizeof(*s));
    bool ok = get_nodes(&r, &s->cmds, &s->ncmds, 0) && r.p == r.end;
    if (ok) {
        struct sieve_diags d;
        memset(&d, 0, sizeof(d));
        ok = sv_validate_ex(s, &l, &d, false);
        sieve_diags_free(&d);
    }
    if (!ok) {
        sieve_script_free(s);
        return NULL;
    }
    *status = SIEVE_LOAD_OK;
    return s;
}

void sieve_script_free(struct sieve_script *s)
{
    if (!s)
        return;
    sv_nodes_free(s->cmds, s->ncmds);
    free(s);
}

bool sieve_compile(const char *src, size_t len, const struct sieve_limits *limits, unsigned char **bin,
                   size_t *binlen, struct sieve_diags *diags)
{
    struct sieve_limits l;
    sv_limits_fill(&l, limits);
    *bin = NULL;
    *binlen = 0;
    struct sieve_script s;
    memset(&s, 0, sizeof(s));
    size_t errs_before = diags->nerrors;
    if (!sv_parse(src, len, &l, &s.cmds, &s.ncmds, diags))
        return false;
    bool ok = sv_validate(&s, &l, diags) && diags->nerrors == errs_before;
    if (ok) {
        struct buf out = BUF_INIT;
        sv_binary_write(&s, &out);
        *binlen = out.len;
        *bin = (unsigned char *)buf_release(&out);
    }
    sv_nodes_free(s.cmds, s.ncmds);
    return ok;
}
