/* sieve-run.c - the interpreter: runs a validated script against one
 * message and envelope and builds the ordered action list.
 *
 * Semantics notes:
 *  - Implicit keep (RFC 5228 2.10.2): cancelled by keep, fileinto and
 *    redirect without :copy (RFC 3894), discard, reject and ereject (RFC
 *    5429 2.4); not by vacation, notify, flag or header edits. When it is
 *    not cancelled, one KEEP with implicit=true ends the list, carrying
 *    the internal flags (RFC 5232 3).
 *  - Duplicate actions (2.10.3): a second keep, a second fileinto to the
 *    same mailbox and a second redirect to the same address are dropped.
 *  - Incompatible actions are run-time errors (2.10.6): more than one
 *    reject/ereject, reject with vacation (RFC 5429 2.4), and reject with
 *    keep, fileinto or redirect (NOT RECOMMENDED there; refusing it keeps
 *    "delivered and bounced" from happening), a second vacation (RFC 5230
 *    4.7).
 *  - A run-time error or an exceeded limit replaces the whole action list
 *    with one implicit keep: nothing is lost (2.10.6, 2.10.7).
 *  - editheader (RFC 5293): the interpreter keeps its own list of the
 *    message's header fields, which tests see with the edits made so far;
 *    the final header block is in the result.
 */
#include "sieve-private.h"
#include "mime.h"
#include "base64.h"
#include "datetime.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <time.h>

struct sieve_result {
    struct sieve_action *acts;
    size_t n, cap;
    char *error;
    char *header;          /* edited header block, or NULL */
    size_t header_len, body_off;
    /* owned strings of the actions */
    char **strs;
    size_t nstrs, strcap;
};

struct field {
    char *name;      /* as in the message */
    char *raw;       /* the whole field text "Name: value\r\n" with folding */
    size_t rawlen;
    size_t voff;     /* offset of the value (after the colon) in raw */
    char *dec;       /* the decoded value (field_value), computed once */
    size_t declen;
};

struct var {
    char *name;
    char *val;
    size_t len;
};

struct vars {
    struct var *v;
    size_t n, cap;
};

struct frame {
    const struct sieve_script *script;
    struct vars local;
    char **globals;        /* names declared "global" in this script */
    size_t nglobals;
};

struct run {
    const char *data;
    size_t len;
    const struct sieve_envelope *env;
    const struct sieve_callbacks *cb;
    const struct sieve_run_config *cfg;
    struct sieve_limits lim;
    struct sieve_result *res;
    struct mime_message *mime;
    size_t body_off;
    struct field *hdr;
    size_t nhdr, hdrcap;
    bool hdr_edited;
    struct vars globals;
    struct frame *fr;
    char *flags;           /* the internal variable of imap4flags (space-separated) */
    bool flags_used;
    char *caps[SV_MAX_CAPS];
    size_t caplen[SV_MAX_CAPS];
    size_t ncaps;
    uint64_t steps;
    unsigned redirects;
    bool implicit_keep;
    bool stop, ret;
    /* foreverypart (RFC 5703 3): the current part (NULL outside a loop)
     * and a pending break with its :name (NULL: the innermost loop) */
    const struct mime_part *cur;
    bool brk;
    const char *brk_name;
    bool failed;
    bool rejected, vacationed;
    unsigned depth;        /* include depth */
    char **included;       /* ":once" bookkeeping and recursion check */
    size_t nincluded;
    char *running[16];     /* names of the scripts being included (recursion) */
};

/* n bytes and a NUL: unlike xstrndup, the copy is n bytes long even when
 * the text holds a NUL (message text and decoded bodies can), so the
 * lengths kept beside these copies stay true. */
static char *dupn(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void run_error(struct run *r, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void run_error(struct run *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    struct buf b = BUF_INIT;
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    r->res->error = buf_release(&b);
}

static bool step(struct run *r, uint64_t n)
{
    r->steps += n;
    if (r->steps > r->lim.max_steps) {
        run_error(r, "script used more than %llu steps", (unsigned long long)r->lim.max_steps);
        return false;
    }
    return !r->failed;
}

/* ---- owned strings ---- */

static const char *own(struct sieve_result *res, char *s)
{
    ARRAY_GROW(res->strs, res->nstrs, res->strcap);
    res->strs[res->nstrs++] = s;
    return s;
}

/* ---- variables (RFC 5229) ---- */

static struct var *var_find(struct vars *vs, const char *name, size_t nl)
{
    for (size_t i = 0; i < vs->n; i++)
        if (strlen(vs->v[i].name) == nl && strncasecmp(vs->v[i].name, name, nl) == 0)
            return &vs->v[i];
    return NULL;
}

/* "global.NAME" (RFC 6609 3.4.2) is NAME among the global variables. */
static bool global_ns(const struct run *r, const char **name, size_t *nl)
{
    if (*nl > 7 && strncasecmp(*name, "global.", 7) == 0 && ((r->fr->script->exts >> SV_X_INCLUDE) & 1)) {
        *name += 7;
        *nl -= 7;
        return true;
    }
    return false;
}

static struct vars *var_scope(struct run *r, const char *name, size_t nl)
{
    for (size_t i = 0; i < r->fr->nglobals; i++)
        if (strlen(r->fr->globals[i]) == nl && strncasecmp(r->fr->globals[i], name, nl) == 0)
            return &r->globals;
    return &r->fr->local;
}

static const struct var *var_get(struct run *r, const char *name, size_t nl)
{
    if (global_ns(r, &name, &nl))
        return var_find(&r->globals, name, nl);
    return var_find(var_scope(r, name, nl), name, nl);
}

/* Cut s to at most max bytes at a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

static void var_set(struct run *r, const char *name, const char *val, size_t len)
{
    size_t nl = strlen(name);
    struct vars *vs = global_ns(r, &name, &nl) ? &r->globals : var_scope(r, name, nl);
    struct var *v = var_find(vs, name, nl);
    len = utf8_cut(val, len, r->lim.max_variable_size);
    if (!v) {
        if (r->globals.n + r->fr->local.n >= r->lim.max_variables) {
            run_error(r, "more than %u variables", r->lim.max_variables);
            return;
        }
        ARRAY_GROW(vs->v, vs->n, vs->cap);
        v = &vs->v[vs->n++];
        v->name = xstrdup(name);
        v->val = NULL;
    }
    free(v->val);
    v->val = xmemdup(val, len + 1);
    v->val[len] = '\0';
    v->len = len;
}

static void vars_free(struct vars *vs)
{
    for (size_t i = 0; i < vs->n; i++) {
        free(vs->v[i].name);
        free(vs->v[i].val);
    }
    free(vs->v);
    memset(vs, 0, sizeof(*vs));
}

static bool uses(const struct run *r, int ext)
{
    return (r->fr->script->exts >> ext) & 1;
}

/* Expand "${name}" and "${N}" (RFC 5229 3). A reference to an unset
 * variable is the empty string; text that is not a well-formed reference
 * stays as it is. The result is bounded by the maximum string size. */
static char *expand(struct run *r, const struct sv_str *s, size_t *len)
{
    if (!s->has_var || !uses(r, SV_X_VARIABLES)) {
        *len = s->len;
        return xmemdup(s->s, s->len + 1);
    }
    struct buf b = BUF_INIT;
    size_t i = 0;
    while (i < s->len) {
        if (s->s[i] == '$' && i + 1 < s->len && s->s[i + 1] == '{') {
            size_t j = i + 2;
            while (j < s->len && (isalnum((unsigned char)s->s[j]) || s->s[j] == '_' || s->s[j] == '.'))
                j++;
            if (j < s->len && s->s[j] == '}' && j > i + 2) {
                const char *nm = s->s + i + 2;
                size_t nl = j - i - 2;
                bool digits = true;
                for (size_t k = 0; k < nl; k++)
                    if (!isdigit((unsigned char)nm[k]))
                        digits = false;
                if (digits) {
                    unsigned long idx = nl <= 3 ? strtoul(nm, NULL, 10) : 1000;
                    if (idx < r->ncaps && r->caps[idx])
                        buf_append(&b, r->caps[idx], r->caplen[idx]);
                    i = j + 1;
                    continue;
                }
                if (isalpha((unsigned char)nm[0]) || nm[0] == '_') {
                    if (!memchr(nm, '.', nl) || (nl > 7 && strncasecmp(nm, "global.", 7) == 0)) {
                        const struct var *v = var_get(r, nm, nl);
                        if (v)
                            buf_append(&b, v->val, v->len);
                    }
                    i = j + 1;
                    if (b.len > r->lim.max_string)
                        break;
                    continue;
                }
            }
        }
        buf_putc(&b, s->s[i]);
        i++;
    }
    if (b.len > r->lim.max_string)
        buf_truncate(&b, utf8_cut(b.data, b.len, r->lim.max_string));
    *len = b.len;
    buf_putc(&b, '\0');
    return buf_release(&b);
}

static char *expand0(struct run *r, const struct sv_arg *a)
{
    size_t l;
    return expand(r, &a->strs[0], &l);
}

static void set_caps(struct run *r, const char *text, const struct sv_cap *caps, size_t n)
{
    for (size_t i = 0; i < SV_MAX_CAPS; i++) {
        free(r->caps[i]);
        r->caps[i] = NULL;
        r->caplen[i] = 0;
    }
    for (size_t i = 0; i < n && i < SV_MAX_CAPS; i++) {
        r->caps[i] = dupn(text + caps[i].off, caps[i].len);
        r->caplen[i] = caps[i].len;
    }
    r->ncaps = n;
}

/* ---- header fields ---- */

static void hdr_load(struct run *r)
{
    size_t hl = mime_header_length(r->data, r->len);
    r->body_off = hl;
    size_t pos = 0;
    struct mime_sfield f;
    while (mime_sfield_next(r->data, hl, &pos, &f)) {
        ARRAY_GROW(r->hdr, r->nhdr, r->hdrcap);
        struct field *x = &r->hdr[r->nhdr++];
        x->name = dupn(f.name, f.name_len);
        x->raw = dupn(f.name, (size_t)(f.val + f.val_len - f.name));
        x->rawlen = (size_t)(f.val + f.val_len - f.name);
        x->voff = (size_t)(f.val - f.name);
        x->dec = NULL;
        x->declen = 0;
    }
}

/* The value as tests see it: unfolded, RFC 2047 decoded (RFC 5228 5.7
 * "comparisons are done on the decoded value"), leading and trailing
 * white space removed. */
static char *field_value(const struct field *x, size_t *len)
{
    struct field *f = (struct field *)x; /* the cache is not part of the value */
    if (!f->dec) {
        struct mime_sfield sf = {x->raw, strlen(x->name), x->raw + x->voff, x->rawlen - x->voff};
        struct buf b = BUF_INIT;
        mime_sfield_decode(&sf, &b);
        const char *s = buf_cstr(&b);
        size_t l = b.len, st = 0;
        while (st < l && (s[st] == ' ' || s[st] == '\t'))
            st++;
        while (l > st && (s[l - 1] == ' ' || s[l - 1] == '\t'))
            l--;
        f->dec = dupn(s + st, l - st);
        f->declen = l - st;
        buf_free(&b);
    }
    *len = f->declen;
    return dupn(f->dec, f->declen);
}

static bool name_eq(const char *a, const char *b, size_t bl)
{
    return strlen(a) == bl && strncasecmp(a, b, bl) == 0;
}

/* ---- value lists ---- */

struct vals {
    char **v;
    size_t *l;
    size_t n, cap;
};

static void vals_add(struct vals *vs, char *s, size_t len)
{
    if (vs->n >= vs->cap) {
        vs->cap = vs->cap ? vs->cap * 2 : 8;
        vs->v = xrealloc(vs->v, vs->cap * sizeof(*vs->v));
        vs->l = xrealloc(vs->l, vs->cap * sizeof(*vs->l));
    }
    vs->v[vs->n] = s;
    vs->l[vs->n] = len;
    vs->n++;
}

static void vals_free(struct vals *vs)
{
    for (size_t i = 0; i < vs->n; i++)
        free(vs->v[i]);
    free(vs->v);
    free(vs->l);
    memset(vs, 0, sizeof(*vs));
}

static void ensure_mime(struct run *r)
{
    if (!r->mime)
        r->mime = mime_parse(r->data, r->len);
}

/* The header fields of a MIME part: the interpreter's own list (with
 * editheader's changes) for the message itself, else parsed from the
 * part's header. Returns true when *out was allocated here. */
static bool part_fields(struct run *r, const struct mime_part *p, struct field **out, size_t *n)
{
    if (!p || p == &r->mime->root) {
        *out = r->hdr;
        *n = r->nhdr;
        return false;
    }
    *out = NULL;
    *n = 0;
    size_t cap = 0, pos = 0;
    const char *h = r->data + p->hdr_off;
    struct mime_sfield f;
    while (mime_sfield_next(h, p->hdr_len, &pos, &f)) {
        ARRAY_GROW(*out, *n, cap);
        struct field *x = &(*out)[(*n)++];
        x->name = dupn(f.name, f.name_len);
        x->rawlen = (size_t)(f.val + f.val_len - f.name);
        x->raw = dupn(f.name, x->rawlen);
        x->voff = (size_t)(f.val - f.name);
        x->dec = NULL;
        x->declen = 0;
    }
    return true;
}

static void fields_free(struct field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].raw);
        free(f[i].dec);
    }
    free(f);
}

/* The values of the fields named in list among fields (with :index and
 * :last, RFC 5260 6: the n-th occurrence of each named field, counted
 * from the end with :last), unfolded and decoded. */
static void header_values(struct run *r, const struct sv_node *n, const struct sv_arg *names, struct vals *out,
                          const struct field *fields, size_t nf)
{
    const struct sv_arg *ix = sv_tag_val(n, "index");
    bool last = sv_has_tag(n, "last");
    for (size_t k = 0; k < names->nstrs && !r->failed; k++) {
        size_t nl;
        char *name = expand(r, &names->strs[k], &nl);
        /* scanning the fields costs steps too (a header of 100,000
         * fields against a list of 1000 names) */
        if (!step(r, 1 + nf / 64)) {
            free(name);
            break;
        }
        size_t total = 0;
        if (ix && last)
            for (size_t i = 0; i < nf; i++)
                if (name_eq(fields[i].name, name, nl))
                    total++;
        size_t seen = 0;
        for (size_t i = 0; i < nf; i++) {
            if (!name_eq(fields[i].name, name, nl))
                continue;
            seen++;
            if (ix) {
                uint64_t want = last ? (ix->num <= total ? total - ix->num + 1 : 0) : ix->num;
                if (seen != want)
                    continue;
            }
            if (!step(r, 1))
                break;
            size_t vl;
            char *v = field_value(&fields[i], &vl);
            vals_add(out, v, vl);
        }
        free(name);
    }
}

static void top_header_values(struct run *r, const struct sv_node *n, const struct sv_arg *names, struct vals *out)
{
    header_values(r, n, names, out, r->hdr, r->nhdr);
}

/* The parts a test with :mime looks at (RFC 5703 4.1): the current part
 * (the message outside foreverypart), and with :anychild all parts
 * below it too; preorder, into the caller's array of max entries. */
static size_t collect_parts(const struct mime_part *p, bool self, const struct mime_part **out, size_t n,
                            size_t max, int depth)
{
    if (n >= max || depth > MIME_MAX_DEPTH + 2)
        return n;
    if (self)
        out[n++] = p;
    for (size_t i = 0; i < p->nchildren; i++)
        n = collect_parts(&p->children[i], true, out, n, max, depth + 1);
    if (p->message)
        n = collect_parts(p->message, true, out, n, max, depth + 1);
    return n;
}

/* A Content-Type / Content-Disposition value: "type[/subtype]" and its
 * parameters (names lowercase; an RFC 2231 "name*" kept as such for
 * mime_param_decoded). */
static void parse_ctype(const char *v, char **type, char **sub, struct mime_param **params, size_t *np)
{
    *params = NULL;
    *np = 0;
    size_t cap = 0;
    const char *p = v;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *e = p;
    while (*e && *e != '/' && *e != ';' && *e != ' ' && *e != '\t')
        e++;
    *type = dupn(p, (size_t)(e - p));
    *sub = NULL;
    p = e;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '/') {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        e = p;
        while (*e && *e != ';' && *e != ' ' && *e != '\t')
            e++;
        *sub = dupn(p, (size_t)(e - p));
        p = e;
    }
    for (char *c = *type; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (*sub)
        for (char *c = *sub; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    while (*p && *np < 64) {
        p = strchr(p, ';');
        if (!p)
            break;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        e = p;
        while (*e && *e != '=' && *e != ';')
            e++;
        if (*e != '=') {
            p = e;
            continue;
        }
        size_t nl = (size_t)(e - p);
        while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
            nl--;
        char *name = dupn(p, nl);
        for (char *c = name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        p = e + 1;
        while (*p == ' ' || *p == '\t')
            p++;
        struct buf val = BUF_INIT;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                buf_putc(&val, *p++);
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ';' && *p != ' ' && *p != '\t')
                buf_putc(&val, *p++);
        }
        ARRAY_GROW(*params, *np, cap);
        (*params)[*np].name = name;
        char *vv = buf_release(&val);
        (*params)[*np].value = vv ? vv : xstrdup("");
        (*np)++;
    }
}

/* RFC 5703 4.1 MIMEOPTS: what of field name's value v is compared. */
static void mimeopt_values(struct run *r, const struct sv_node *n, const char *name, const char *v, struct vals *out)
{
    bool ct = strcasecmp(name, "content-type") == 0, cd = strcasecmp(name, "content-disposition") == 0;
    const struct sv_arg *param = sv_tag_val(n, "param");
    bool type = sv_has_tag(n, "type"), subtype = sv_has_tag(n, "subtype"), both = sv_has_tag(n, "contenttype");
    if (!param && !type && !subtype && !both) {
        vals_add(out, xstrdup(v), strlen(v));
        return;
    }
    char *t, *st;
    struct mime_param *ps;
    size_t np;
    parse_ctype(v, &t, &st, &ps, &np);
    if (param) {
        for (size_t k = 0; k < param->nstrs; k++) {
            size_t l;
            char *pn = expand(r, &param->strs[k], &l);
            for (char *c = pn; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            struct buf b = BUF_INIT;
            if (mime_param_decoded(&b, ps, np, pn)) {
                size_t bl = b.len;
                char *x = buf_release(&b);
                vals_add(out, x ? x : xstrdup(""), bl);
            }
            buf_free(&b);
            free(pn);
        }
    } else {
        char *x;
        if (ct && type)
            x = xstrdup(t);
        else if (ct && subtype)
            x = xstrdup(st ? st : "");
        else if (ct && both)
            x = xasprintf("%s/%s", t, st ? st : "");
        else if (cd && (type || both))
            x = xstrdup(t);
        else
            x = xstrdup("");
        vals_add(out, x, strlen(x));
    }
    for (size_t i = 0; i < np; i++) {
        free(ps[i].name);
        free(ps[i].value);
    }
    free(ps);
    free(t);
    free(st);
}

/* A header, address or exists test with :mime (RFC 5703 4): true when
 * one of the parts in scope satisfies it. kind: 'h', 'a' or 'e'. */
static bool addresses_part(struct run *r, const struct sv_node *n, const struct vals *hv, struct vals *vs);
static bool match_values(struct run *r, const struct sv_node *n, const struct vals *vs, const struct sv_arg *keys);
static bool mime_test(struct run *r, const struct sv_node *n, int kind)
{
    ensure_mime(r);
    const struct mime_part **parts = xmalloc(MIME_MAX_PARTS * sizeof(*parts));
    const struct mime_part *start = r->cur ? r->cur : &r->mime->root;
    size_t np = sv_has_tag(n, "anychild") ? collect_parts(start, true, parts, 0, MIME_MAX_PARTS, 0) : 1;
    if (np == 1)
        parts[0] = start;
    bool res = false;
    for (size_t i = 0; i < np && !res && !r->failed; i++) {
        struct field *f;
        size_t nf;
        bool owned = part_fields(r, parts[i], &f, &nf);
        step(r, nf / 64);
        if (kind == 'e') {
            res = true;
            for (size_t k = 0; k < n->pos[0]->nstrs && res; k++) {
                size_t l;
                char *name = expand(r, &n->pos[0]->strs[k], &l);
                bool found = false;
                step(r, 1 + nf / 64);
                for (size_t j = 0; j < nf && !found; j++)
                    found = name_eq(f[j].name, name, l);
                free(name);
                res = found;
            }
        } else {
            struct vals hv = {0}, vs = {0};
            if (kind == 'h') {
                /* values per named field, then the MIME options */
                for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
                    struct sv_arg one = *n->pos[0];
                    one.strs = &n->pos[0]->strs[k];
                    one.nstrs = 1;
                    struct vals raw = {0};
                    header_values(r, n, &one, &raw, f, nf);
                    size_t l;
                    char *name = expand(r, &n->pos[0]->strs[k], &l);
                    for (size_t j = 0; j < raw.n; j++)
                        mimeopt_values(r, n, name, raw.v[j], &vs);
                    free(name);
                    vals_free(&raw);
                }
            } else {
                header_values(r, n, n->pos[0], &hv, f, nf);
                addresses_part(r, n, &hv, &vs);
            }
            res = match_values(r, n, &vs, n->pos[1]);
            vals_free(&hv);
            vals_free(&vs);
        }
        if (owned)
            fields_free(f, nf);
        step(r, 1);
    }
    free(parts);
    return res && !r->failed;
}

/* ---- matching ---- */

static bool regex_match(struct run *r, const struct sv_node *n, const char *text, size_t tl, const char *pat,
                        size_t pl)
{
    if (pl > r->lim.max_regex || memchr(pat, '\0', pl) || memchr(text, '\0', tl)) {
        if (pl > r->lim.max_regex)
            run_error(r, "regex longer than %zu bytes", r->lim.max_regex);
        return false;
    }
    if (!sv_regex_safe(pat, pl)) {
        run_error(r, "regex with a backreference or large repetition counts");
        return false;
    }
    /* only the first SV_REGEX_MAX_TEXT bytes are examined; text is a
     * NUL-terminated copy (vals entries are) */
    char *cut = NULL;
    if (tl > SV_REGEX_MAX_TEXT) {
        cut = dupn(text, utf8_cut(text, tl, SV_REGEX_MAX_TEXT));
        text = cut;
        tl = strlen(cut);
    }
    if (!step(r, 1 + tl * (pl + 1) / 256)) {
        free(cut);
        return false;
    }
    regex_t re;
    int flags = REG_EXTENDED | (n->cmp == SV_CMP_CASEMAP ? REG_ICASE : 0);
    if (regcomp(&re, pat, flags) != 0) {
        run_error(r, "bad regex \"%.100s\"", pat);
        free(cut);
        return false;
    }
    regmatch_t m[SV_MAX_CAPS];
    bool ok = regexec(&re, text, SV_MAX_CAPS, m, 0) == 0;
    if (ok && uses(r, SV_X_VARIABLES)) {
        struct sv_cap caps[SV_MAX_CAPS];
        size_t nc = 0;
        for (size_t i = 0; i < SV_MAX_CAPS && i <= re.re_nsub; i++) {
            if (m[i].rm_so < 0) {
                caps[nc].off = 0;
                caps[nc].len = 0;
            } else {
                caps[nc].off = (size_t)m[i].rm_so;
                caps[nc].len = (size_t)(m[i].rm_eo - m[i].rm_so);
            }
            nc++;
        }
        set_caps(r, text, caps, nc);
    }
    regfree(&re);
    free(cut);
    return ok;
}

static bool relop_holds(int relop, int c)
{
    switch (relop) {
    case SV_REL_GT: return c > 0;
    case SV_REL_GE: return c >= 0;
    case SV_REL_LT: return c < 0;
    case SV_REL_LE: return c <= 0;
    case SV_REL_EQ: return c == 0;
    default: return c != 0;
    }
}

/* Does any value match any key (RFC 5228 2.7)? For :count (RFC 5231
 * 4.1) the number of values is compared with each key. */
static bool match_values(struct run *r, const struct sv_node *n, const struct vals *vs, const struct sv_arg *keys)
{
    if (n->match == SV_MATCH_COUNT) {
        char cnt[32];
        int cl = snprintf(cnt, sizeof(cnt), "%zu", vs->n);
        for (size_t k = 0; k < keys->nstrs; k++) {
            size_t kl;
            char *key = expand(r, &keys->strs[k], &kl);
            bool ok = relop_holds(n->relop, sv_cmp_order(n->cmp, cnt, (size_t)cl, key, kl));
            free(key);
            if (ok)
                return true;
        }
        return false;
    }
    bool result = false;
    for (size_t k = 0; k < keys->nstrs && !result && !r->failed; k++) {
        size_t kl;
        char *key = expand(r, &keys->strs[k], &kl);
        for (size_t i = 0; i < vs->n && !result; i++) {
            if (!step(r, 1 + (vs->l[i] + kl) / 256))
                break;
            const char *v = vs->v[i];
            size_t vl = vs->l[i];
            switch (n->match) {
            case SV_MATCH_IS:
                result = sv_cmp_eq(n->cmp, v, vl, key, kl);
                break;
            case SV_MATCH_CONTAINS:
                result = sv_cmp_contains(n->cmp, v, vl, key, kl);
                break;
            case SV_MATCH_MATCHES: {
                struct sv_cap caps[SV_MAX_CAPS];
                size_t nc = 0;
                /* 64 matching steps per interpreter step; the budget is
                 * what is left of max_steps */
                uint64_t st = 0, budget = (r->lim.max_steps - MIN(r->steps, r->lim.max_steps)) * 64 + 64;
                result = sv_cmp_matches(n->cmp, v, vl, key, kl, caps, &nc, &st, budget);
                if (!step(r, st / 64))
                    break;
                if (result && uses(r, SV_X_VARIABLES))
                    set_caps(r, v, caps, nc);
                break;
            }
            case SV_MATCH_REGEX:
                result = regex_match(r, n, v, vl, key, kl);
                break;
            case SV_MATCH_VALUE:
                result = relop_holds(n->relop, sv_cmp_order(n->cmp, v, vl, key, kl));
                break;
            default:
                break;
            }
        }
        free(key);
    }
    return result && !r->failed;
}

/* ---- addresses ---- */

static void address_part(const struct run *r, const struct sv_node *n, const char *local, const char *domain,
                         struct vals *out)
{
    (void)r;
    const char *sep;
    switch (n->addrpart) {
    case SV_AP_LOCAL:
        vals_add(out, xstrdup(local), strlen(local));
        break;
    case SV_AP_DOMAIN:
        if (domain)
            vals_add(out, xstrdup(domain), strlen(domain));
        break;
    case SV_AP_USER:
        /* RFC 5233 4: the part before the first "+" */
        sep = strchr(local, '+');
        vals_add(out, dupn(local, sep ? (size_t)(sep - local) : strlen(local)),
                 sep ? (size_t)(sep - local) : strlen(local));
        break;
    case SV_AP_DETAIL:
        /* no separator: nothing to compare, the test does not match */
        sep = strchr(local, '+');
        if (sep)
            vals_add(out, xstrdup(sep + 1), strlen(sep + 1));
        break;
    default: {
        char *s = domain ? xasprintf("%s@%s", local, domain) : xstrdup(local);
        vals_add(out, s, strlen(s));
        break;
    }
    }
}

static void addresses_of(struct run *r, const struct sv_node *n, const char *v, size_t vl, struct vals *out)
{
    struct sv_addr *a;
    size_t na = sv_parse_addresses(v, vl, &a, 1000);
    step(r, na);
    for (size_t i = 0; i < na; i++)
        address_part(r, n, a[i].local, a[i].domain, out);
    sv_addrs_free(a, na);
}

static bool addresses_part(struct run *r, const struct sv_node *n, const struct vals *hv, struct vals *vs)
{
    for (size_t i = 0; i < hv->n; i++)
        addresses_of(r, n, hv->v[i], hv->l[i], vs);
    return true;
}

/* ---- actions ---- */

static struct sieve_action *add_action(struct run *r, enum sieve_action_type t)
{
    if (r->res->n >= r->lim.max_actions) {
        run_error(r, "more than %u actions", r->lim.max_actions);
        return NULL;
    }
    ARRAY_GROW(r->res->acts, r->res->n, r->res->cap);
    struct sieve_action *a = &r->res->acts[r->res->n++];
    memset(a, 0, sizeof(*a));
    a->type = t;
    return a;
}

static void split_flags(const char *s, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p) {
            bool dup = false;
            for (size_t i = 0; i < *n; i++)
                if (strlen((*out)[i]) == (size_t)(e - p) && strncasecmp((*out)[i], p, (size_t)(e - p)) == 0)
                    dup = true;
            if (!dup) {
                ARRAY_GROW(*out, *n, cap);
                (*out)[(*n)++] = dupn(p, (size_t)(e - p));
            }
        }
        p = e;
    }
}

/* The flags of a keep/fileinto/fcc: :flags when given, else the internal
 * variable (RFC 5232 5). */
static void action_flags(struct run *r, const struct sv_node *n, struct sieve_action *a)
{
    const struct sv_arg *fl = sv_tag_val(n, "flags");
    char *text = NULL;
    if (fl) {
        struct buf b = BUF_INIT;
        for (size_t i = 0; i < fl->nstrs; i++) {
            size_t l;
            char *s = expand(r, &fl->strs[i], &l);
            buf_putc(&b, ' ');
            buf_append(&b, s, l);
            free(s);
        }
        text = buf_release(&b);
        if (!text)
            text = xstrdup("");
    } else if (uses(r, SV_X_IMAP4FLAGS)) {
        text = xstrdup(r->flags ? r->flags : "");
    }
    if (!text)
        return;
    char **f;
    size_t nf;
    split_flags(text, &f, &nf);
    free(text);
    a->flags = xcalloc(nf + 1, sizeof(char *));
    for (size_t i = 0; i < nf; i++)
        a->flags[i] = (char *)own(r->res, f[i]);
    free(f);
    a->nflags = nf;
    a->flags_set = true;
}

static bool mailbox_ok(const char *s, size_t len)
{
    if (len == 0 || len > 1024 || memchr(s, '\0', len))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* An addr-spec good enough to hand to sendmail: local@domain, no white
 * space or control characters, no leading '-' (never an option). */
static bool address_ok(const char *s)
{
    const char *at = strrchr(s, '@');
    if (!at || at == s || !at[1] || s[0] == '-' || strlen(s) > 320)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == ',')
            return false;
    return true;
}

static void fcc_fields(struct run *r, const struct sv_node *n, struct sieve_action *a)
{
    const struct sv_arg *f = sv_tag_val(n, "fcc");
    if (!f)
        return;
    size_t l;
    char *mb = expand(r, &f->strs[0], &l);
    if (!mailbox_ok(mb, l)) {
        free(mb);
        run_error(r, "bad :fcc mailbox name");
        return;
    }
    a->mailbox = own(r->res, mb);
    a->create = sv_has_tag(n, "create");
    if (sv_tag_val(n, "flags"))
        action_flags(r, n, a);
    if (sv_tag_val(n, "specialuse"))
        a->specialuse = own(r->res, expand0(r, sv_tag_val(n, "specialuse")));
    if (sv_tag_val(n, "mailboxid"))
        a->mailboxid = own(r->res, expand0(r, sv_tag_val(n, "mailboxid")));
}

/* Is the message already stored in INBOX by a keep or a fileinto
 * "INBOX"? RFC 5228 2.10.3: never deliver to the same mailbox twice;
 * keep's mailbox is INBOX. */
static bool have_keep(struct run *r)
{
    for (size_t i = 0; i < r->res->n; i++) {
        const struct sieve_action *a = &r->res->acts[i];
        if (a->type == SIEVE_ACT_KEEP || (a->type == SIEVE_ACT_FILEINTO && strcasecmp(a->mailbox, "INBOX") == 0))
            return true;
    }
    return false;
}

static void do_keep(struct run *r, const struct sv_node *n)
{
    r->implicit_keep = false;
    if (have_keep(r))
        return; /* 2.10.3 */
    struct sieve_action *a = add_action(r, SIEVE_ACT_KEEP);
    if (a)
        action_flags(r, n, a);
}

static void do_fileinto(struct run *r, const struct sv_node *n)
{
    size_t l;
    char *mb = expand(r, &n->pos[0]->strs[0], &l);
    if (!mailbox_ok(mb, l)) {
        run_error(r, "fileinto: bad mailbox name");
        free(mb);
        return;
    }
    bool copy = sv_has_tag(n, "copy");
    if (!copy)
        r->implicit_keep = false;
    for (size_t i = 0; i < r->res->n; i++)
        if (r->res->acts[i].type == SIEVE_ACT_FILEINTO && strcmp(r->res->acts[i].mailbox, mb) == 0) {
            free(mb);
            return;
        }
    if (strcasecmp(mb, "INBOX") == 0 && have_keep(r)) {
        free(mb);
        return; /* 2.10.3: already kept */
    }
    struct sieve_action *a = add_action(r, SIEVE_ACT_FILEINTO);
    if (!a) {
        free(mb);
        return;
    }
    a->mailbox = own(r->res, mb);
    a->copy = copy;
    a->create = sv_has_tag(n, "create");
    action_flags(r, n, a);
    if (sv_tag_val(n, "specialuse"))
        a->specialuse = own(r->res, expand0(r, sv_tag_val(n, "specialuse")));
    if (sv_tag_val(n, "mailboxid"))
        a->mailboxid = own(r->res, expand0(r, sv_tag_val(n, "mailboxid")));
}

static void do_redirect(struct run *r, const struct sv_node *n)
{
    size_t l;
    char *to = expand(r, &n->pos[0]->strs[0], &l);
    /* RFC 5228 4.2: the address must be a valid addr-spec; a "<...>"
     * form is accepted and reduced */
    struct sv_addr *ad;
    size_t na = sv_parse_addresses(to, l, &ad, 2);
    free(to);
    char *addr = na == 1 && ad[0].domain ? xasprintf("%s@%s", ad[0].local, ad[0].domain) : NULL;
    sv_addrs_free(ad, na);
    if (!addr || !address_ok(addr)) {
        free(addr);
        run_error(r, "redirect: bad address");
        return;
    }
    bool copy = sv_has_tag(n, "copy");
    if (!copy)
        r->implicit_keep = false;
    for (size_t i = 0; i < r->res->n; i++)
        if (r->res->acts[i].type == SIEVE_ACT_REDIRECT && strcasecmp(r->res->acts[i].address, addr) == 0) {
            free(addr);
            return;
        }
    if (++r->redirects > r->lim.max_redirects) {
        free(addr);
        run_error(r, "more than %u redirects", r->lim.max_redirects);
        return;
    }
    struct sieve_action *a = add_action(r, SIEVE_ACT_REDIRECT);
    if (!a) {
        free(addr);
        return;
    }
    a->address = own(r->res, addr);
    a->copy = copy;
}

static void do_reject(struct run *r, const struct sv_node *n, bool ereject)
{
    if (r->rejected) {
        run_error(r, "more than one reject"); /* RFC 5429 2.4 */
        return;
    }
    r->rejected = true;
    r->implicit_keep = false;
    struct sieve_action *a = add_action(r, ereject ? SIEVE_ACT_EREJECT : SIEVE_ACT_REJECT);
    if (a)
        a->text = own(r->res, expand0(r, n->pos[0]));
}

/* The default :handle (RFC 5230 4.2): the same for the same :subject,
 * :from, :addresses, :mime and reason, different otherwise. */
static char *vacation_handle(const struct sieve_action *a)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[] = {a->subject, a->from, a->text, a->mime ? "mime" : "plain"};
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        for (const char *p = parts[i] ? parts[i] : ""; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 0x100000001b3ull;
        }
        h ^= 0xff;
        h *= 0x100000001b3ull;
    }
    for (size_t i = 0; i < a->naddresses; i++)
        for (const char *p = a->addresses[i]; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 0x100000001b3ull;
        }
    return xasprintf("sieve-vacation-%016llx", (unsigned long long)h);
}

static void list_strings(struct run *r, const struct sv_arg *l, char ***out, size_t *n)
{
    *out = xcalloc(l->nstrs + 1, sizeof(char *));
    *n = l->nstrs;
    for (size_t i = 0; i < l->nstrs; i++) {
        size_t x;
        (*out)[i] = (char *)own(r->res, expand(r, &l->strs[i], &x));
    }
}

static void do_vacation(struct run *r, const struct sv_node *n)
{
    if (r->vacationed) {
        run_error(r, "more than one vacation"); /* RFC 5230 4.7 */
        return;
    }
    r->vacationed = true;
    struct sieve_action *a = add_action(r, SIEVE_ACT_VACATION);
    if (!a)
        return;
    a->text = own(r->res, expand0(r, n->pos[0]));
    /* RFC 5230 4.1: :days at least 1 (0 is allowed by RFC 6131 with
     * :seconds); the site maximum is a year */
    const struct sv_arg *days = sv_tag_val(n, "days"), *secs = sv_tag_val(n, "seconds");
    uint64_t s = 7 * 86400;
    if (days)
        s = (days->num < 1 ? 1 : days->num > 365 ? 365 : days->num) * 86400;
    if (secs)
        s = secs->num > 365ull * 86400 ? 365ull * 86400 : secs->num;
    a->seconds = s;
    if (sv_tag_val(n, "subject"))
        a->subject = own(r->res, expand0(r, sv_tag_val(n, "subject")));
    if (sv_tag_val(n, "from")) {
        /* RFC 5230 4.3: a :from that is not a mailbox is ignored */
        char *f = expand0(r, sv_tag_val(n, "from"));
        struct sv_addr *ad;
        size_t na = sv_parse_addresses(f, strlen(f), &ad, 2);
        bool ok = na == 1 && ad[0].domain && ad[0].domain[0] && ad[0].local[0] && !strpbrk(f, "\r\n");
        sv_addrs_free(ad, na);
        if (ok)
            a->from = own(r->res, f);
        else
            free(f);
    }
    if (sv_tag_val(n, "addresses"))
        list_strings(r, sv_tag_val(n, "addresses"), &a->addresses, &a->naddresses);
    a->mime = sv_has_tag(n, "mime");
    if (sv_tag_val(n, "handle"))
        a->handle = own(r->res, expand0(r, sv_tag_val(n, "handle")));
    else
        a->handle = own(r->res, vacation_handle(a));
    fcc_fields(r, n, a);
}

/* mailto URI (RFC 6068) as enotify's mailto method accepts it (RFC 5436
 * 2.2): "mailto:" and at least one recipient address. */
static bool mailto_ok(const char *uri)
{
    if (strncasecmp(uri, "mailto:", 7) != 0)
        return false;
    const char *p = uri + 7;
    size_t to = strcspn(p, "?");
    bool any = false;
    const char *e = p + to;
    while (p < e) {
        size_t l = strcspn(p, ",");
        if (l > (size_t)(e - p))
            l = (size_t)(e - p);
        char *one = dupn(p, l);
        /* %40 and friends: undo the URI encoding of the @ at least */
        char *dec = xmalloc(l + 1);
        size_t o = 0;
        for (size_t i = 0; i < l; i++) {
            if (one[i] == '%' && i + 2 < l && isxdigit((unsigned char)one[i + 1]) &&
                isxdigit((unsigned char)one[i + 2])) {
                char hx[3] = {one[i + 1], one[i + 2], 0};
                dec[o++] = (char)strtol(hx, NULL, 16);
                i += 2;
            } else {
                dec[o++] = one[i];
            }
        }
        dec[o] = '\0';
        bool ok = address_ok(dec);
        free(one);
        free(dec);
        if (!ok)
            return false;
        any = true;
        p += l;
        if (p < e && *p == ',')
            p++;
    }
    if (!any) {
        /* "mailto:?to=..." also names recipients */
        return strcasestr(uri, "to=") != NULL;
    }
    return strchr(uri, ' ') == NULL;
}

static void do_notify(struct run *r, const struct sv_node *n)
{
    char *method = expand0(r, n->pos[0]);
    if (!mailto_ok(method)) {
        run_error(r, "notify: unsupported or invalid method \"%.100s\"", method);
        free(method);
        return;
    }
    const struct sv_arg *imp = sv_tag_val(n, "importance");
    char *importance = imp ? expand0(r, imp) : xstrdup("2");
    if (strcmp(importance, "1") != 0 && strcmp(importance, "2") != 0 && strcmp(importance, "3") != 0) {
        run_error(r, "notify: :importance must be 1, 2 or 3");
        free(importance);
        free(method);
        return;
    }
    struct sieve_action *a = add_action(r, SIEVE_ACT_NOTIFY);
    if (!a) {
        free(importance);
        free(method);
        return;
    }
    a->address = own(r->res, method);
    a->importance = own(r->res, importance);
    if (sv_tag_val(n, "from"))
        a->from = own(r->res, expand0(r, sv_tag_val(n, "from")));
    if (sv_tag_val(n, "message"))
        a->text = own(r->res, expand0(r, sv_tag_val(n, "message")));
    if (sv_tag_val(n, "options"))
        list_strings(r, sv_tag_val(n, "options"), &a->addresses, &a->naddresses);
    fcc_fields(r, n, a);
}

/* ---- imap4flags ---- */

static void do_flags(struct run *r, const struct sv_node *n)
{
    /* setflag "var" [...] works on a variable (RFC 5232 3), otherwise
     * on the internal variable */
    char *varname = n->npos == 2 ? expand0(r, n->pos[0]) : NULL;
    const char *cur;
    if (varname) {
        const struct var *v = var_get(r, varname, strlen(varname));
        cur = v ? v->val : "";
    } else {
        cur = r->flags ? r->flags : "";
    }
    char **have;
    size_t nh;
    split_flags(cur, &have, &nh);
    const struct sv_arg *list = n->pos[n->npos - 1];
    struct buf add = BUF_INIT;
    for (size_t i = 0; i < list->nstrs; i++) {
        size_t l;
        char *s = expand(r, &list->strs[i], &l);
        buf_putc(&add, ' ');
        buf_append(&add, s, l);
        free(s);
    }
    char **given;
    size_t ng;
    split_flags(buf_cstr(&add), &given, &ng);
    buf_free(&add);
    struct buf out = BUF_INIT;
    if (n->code == SV_C_SETFLAG) {
        for (size_t i = 0; i < ng; i++)
            buf_printf(&out, "%s%s", out.len ? " " : "", given[i]);
    } else if (n->code == SV_C_ADDFLAG) {
        for (size_t i = 0; i < nh; i++)
            buf_printf(&out, "%s%s", out.len ? " " : "", have[i]);
        for (size_t i = 0; i < ng; i++) {
            bool dup = false;
            for (size_t k = 0; k < nh; k++)
                if (strcasecmp(have[k], given[i]) == 0)
                    dup = true;
            if (!dup)
                buf_printf(&out, "%s%s", out.len ? " " : "", given[i]);
        }
    } else {
        for (size_t i = 0; i < nh; i++) {
            bool gone = false;
            for (size_t k = 0; k < ng; k++)
                if (strcasecmp(have[i], given[k]) == 0)
                    gone = true;
            if (!gone)
                buf_printf(&out, "%s%s", out.len ? " " : "", have[i]);
        }
    }
    for (size_t i = 0; i < nh; i++)
        free(have[i]);
    free(have);
    for (size_t i = 0; i < ng; i++)
        free(given[i]);
    free(given);
    if (varname) {
        var_set(r, varname, buf_cstr(&out), out.len);
        free(varname);
        buf_free(&out);
    } else {
        free(r->flags);
        r->flags = out.len > r->lim.max_variable_size ? (buf_free(&out), xstrdup("")) : buf_release(&out);
        if (!r->flags)
            r->flags = xstrdup("");
    }
}

/* ---- set (RFC 5229 4) ---- */

static bool valid_var_name_rt(const char *s)
{
    if (strncasecmp(s, "global.", 7) == 0 && s[7])
        s += 7; /* checked against the script's extensions by var_set's caller */
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_') || strlen(s) > 128)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return false;
    return true;
}

/* The modifiers of set and extracttext (RFC 5229 4.1) applied to *v, by
 * precedence: 40 lower/upper, 30 lowerfirst/upperfirst, 20
 * quotewildcard/quoteregex, 15 encodeurl, 10 length. */
static void apply_modifiers(const struct sv_node *n, char **pv, size_t *plen)
{
    char *v = *pv;
    size_t vl = *plen;
    if (sv_has_tag(n, "lower") || sv_has_tag(n, "upper")) {
        bool up = sv_has_tag(n, "upper");
        for (size_t i = 0; i < vl; i++)
            v[i] = (char)(up ? toupper((unsigned char)v[i]) : tolower((unsigned char)v[i]));
    }
    if (vl && sv_has_tag(n, "lowerfirst"))
        v[0] = (char)tolower((unsigned char)v[0]);
    if (vl && sv_has_tag(n, "upperfirst"))
        v[0] = (char)toupper((unsigned char)v[0]);
    if (sv_has_tag(n, "quotewildcard") || sv_has_tag(n, "quoteregex")) {
        const char *special = sv_has_tag(n, "quoteregex") ? "*?\\.^$[]{}()|+" : "*?\\";
        struct buf b = BUF_INIT;
        for (size_t i = 0; i < vl; i++) {
            if (strchr(special, v[i]) && v[i])
                buf_putc(&b, '\\');
            buf_putc(&b, v[i]);
        }
        free(v);
        vl = b.len;
        buf_putc(&b, '\0');
        v = buf_release(&b);
    }
    if (sv_has_tag(n, "encodeurl")) {
        /* RFC 5435 4.1: percent-encode all but unreserved characters */
        struct buf b = BUF_INIT;
        for (size_t i = 0; i < vl; i++) {
            unsigned char c = (unsigned char)v[i];
            if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
                buf_putc(&b, (char)c);
            else
                buf_printf(&b, "%%%02X", c);
        }
        free(v);
        vl = b.len;
        buf_putc(&b, '\0');
        v = buf_release(&b);
    }
    if (sv_has_tag(n, "length")) {
        /* in characters, not bytes */
        size_t chars = 0;
        for (size_t i = 0; i < vl; i++)
            if (((unsigned char)v[i] & 0xc0) != 0x80)
                chars++;
        free(v);
        v = xasprintf("%zu", chars);
        vl = strlen(v);
    }
    *pv = v;
    *plen = vl;
}

static void do_set(struct run *r, const struct sv_node *n)
{
    char *name = expand0(r, n->pos[0]);
    size_t vl;
    char *v = expand(r, &n->pos[1]->strs[0], &vl);
    apply_modifiers(n, &v, &vl);
    if (!valid_var_name_rt(name))
        run_error(r, "set: bad variable name");
    else
        var_set(r, name, v, vl);
    free(v);
    free(name);
}

/* ---- editheader (RFC 5293) ---- */

static bool protected_field(const char *name, size_t nl)
{
    /* RFC 5293 6: deleting these is silently ignored; adding them too,
     * so a script cannot forge trace fields or defeat loop detection */
    return name_eq("received", name, nl) || name_eq("auto-submitted", name, nl);
}

static void do_addheader(struct run *r, const struct sv_node *n)
{
    size_t nl, vl;
    char *name = expand(r, &n->pos[0]->strs[0], &nl);
    char *val = expand(r, &n->pos[1]->strs[0], &vl);
    bool ok = nl > 0 && nl <= 997 && !protected_field(name, nl);
    for (size_t i = 0; i < nl && ok; i++)
        if ((unsigned char)name[i] <= 32 || (unsigned char)name[i] >= 127 || name[i] == ':')
            ok = false;
    if (!ok || r->nhdr >= 10000) {
        free(name);
        free(val);
        return;
    }
    /* RFC 5293 4: non-ASCII values are RFC 2047 encoded; line ends in the
     * value become spaces (no header injection), folded by nobody */
    bool ascii = true;
    for (size_t i = 0; i < vl; i++) {
        if ((unsigned char)val[i] >= 0x80)
            ascii = false;
        if (val[i] == '\r' || val[i] == '\n' || val[i] == '\0')
            val[i] = ' ';
    }
    struct buf raw = BUF_INIT;
    buf_append(&raw, name, nl);
    buf_puts(&raw, ": ");
    size_t voff = nl + 1;
    if (ascii) {
        buf_append(&raw, val, vl);
    } else {
        /* one encoded word per 45 input bytes, cut at character boundaries */
        size_t i = 0;
        while (i < vl) {
            size_t take = utf8_cut(val + i, vl - i, 45);
            if (take == 0)
                take = 1;
            if (i)
                buf_puts(&raw, "\r\n ");
            buf_puts(&raw, "=?UTF-8?B?");
            base64_encode((const unsigned char *)val + i, take, &raw);
            buf_puts(&raw, "?=");
            i += take;
        }
    }
    buf_puts(&raw, "\r\n");
    step(r, 1 + r->nhdr / 64); /* the memmove below */
    struct field f = {dupn(name, nl), NULL, raw.len, voff, NULL, 0};
    f.raw = buf_release(&raw);
    ARRAY_GROW(r->hdr, r->nhdr, r->hdrcap);
    bool last = sv_has_tag(n, "last");
    if (last) {
        r->hdr[r->nhdr++] = f;
    } else {
        memmove(r->hdr + 1, r->hdr, r->nhdr * sizeof(*r->hdr));
        r->hdr[0] = f;
        r->nhdr++;
    }
    r->hdr_edited = true;
    struct sieve_action *a = add_action(r, SIEVE_ACT_ADDHEADER);
    if (a) {
        a->address = own(r->res, name);
        a->text = own(r->res, val);
        a->last = last;
    } else {
        free(name);
        free(val);
    }
}

static void do_deleteheader(struct run *r, const struct sv_node *n)
{
    size_t nl;
    char *name = expand(r, &n->pos[0]->strs[0], &nl);
    if (protected_field(name, nl)) {
        free(name);
        return;
    }
    const struct sv_arg *ix = sv_tag_val(n, "index");
    bool last = sv_has_tag(n, "last");
    if (!step(r, 1 + r->nhdr / 32)) {
        free(name);
        return;
    }
    size_t total = 0;
    for (size_t i = 0; i < r->nhdr; i++)
        if (name_eq(r->hdr[i].name, name, nl))
            total++;
    uint64_t want = 0;
    if (ix)
        want = last ? (ix->num <= total ? total - ix->num + 1 : 0) : ix->num;
    size_t seen = 0, w = 0;
    bool deleted = false;
    for (size_t i = 0; i < r->nhdr; i++) {
        struct field *f = &r->hdr[i];
        bool del = false;
        if (name_eq(f->name, name, nl)) {
            seen++;
            if (!ix || seen == want) {
                if (n->npos == 2) {
                    struct vals vs = {0};
                    size_t vl;
                    char *v = field_value(f, &vl);
                    vals_add(&vs, v, vl);
                    del = match_values(r, n, &vs, n->pos[1]);
                    vals_free(&vs);
                } else {
                    del = true;
                }
            }
        }
        if (del) {
            free(f->name);
            free(f->raw);
            free(f->dec);
            deleted = true;
        } else {
            r->hdr[w++] = *f;
        }
    }
    r->nhdr = w;
    if (deleted) {
        r->hdr_edited = true;
        struct sieve_action *a = add_action(r, SIEVE_ACT_DELETEHEADER);
        if (a)
            a->address = own(r->res, name);
        else
            free(name);
    } else {
        free(name);
    }
}

/* ---- tests ---- */

static bool eval(struct run *r, const struct sv_node *n);

static const char *env_item(struct run *r, const char *name)
{
    const struct sieve_run_config *c = r->cfg;
    /* RFC 5183 4 */
    if (strcasecmp(name, "domain") == 0)
        return c && c->domain ? c->domain : NULL;
    if (strcasecmp(name, "host") == 0)
        return c && c->host ? c->host : NULL;
    if (strcasecmp(name, "location") == 0)
        return c && c->location ? c->location : "MDA";
    if (strcasecmp(name, "name") == 0)
        return "Darius";
    if (strcasecmp(name, "phase") == 0)
        return c && c->phase ? c->phase : "during";
    if (strcasecmp(name, "remote-host") == 0)
        return c ? c->remote_host : NULL;
    if (strcasecmp(name, "remote-ip") == 0)
        return c ? c->remote_ip : NULL;
    if (strcasecmp(name, "version") == 0)
        return DARIUS_VERSION;
    return NULL;
}

/* A date part (RFC 5260 4.2) of time t shown in zone tz (minutes east). */
static char *date_part(const char *part, int64_t t, int tz)
{
    int64_t lt = t + (int64_t)tz * 60;
    time_t tt = (time_t)lt;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return NULL;
    int y = tm.tm_year + 1900;
    char zone[24];
    snprintf(zone, sizeof(zone), "%c%02d%02d", tz < 0 ? '-' : '+', abs(tz) / 60, abs(tz) % 60);
    if (!strcasecmp(part, "year")) return xasprintf("%04d", y);
    if (!strcasecmp(part, "month")) return xasprintf("%02d", tm.tm_mon + 1);
    if (!strcasecmp(part, "day")) return xasprintf("%02d", tm.tm_mday);
    if (!strcasecmp(part, "date")) return xasprintf("%04d-%02d-%02d", y, tm.tm_mon + 1, tm.tm_mday);
    if (!strcasecmp(part, "julian")) {
        /* Modified Julian Day: days since 1858-11-17 */
        int64_t d = days_from_civil(y, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday) -
                    days_from_civil(1858, 11, 17);
        return xasprintf("%lld", (long long)d);
    }
    if (!strcasecmp(part, "hour")) return xasprintf("%02d", tm.tm_hour);
    if (!strcasecmp(part, "minute")) return xasprintf("%02d", tm.tm_min);
    if (!strcasecmp(part, "second")) return xasprintf("%02d", tm.tm_sec);
    if (!strcasecmp(part, "time")) return xasprintf("%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (!strcasecmp(part, "iso8601"))
        return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", y, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                         tm.tm_min, tm.tm_sec, tz < 0 ? '-' : '+', abs(tz) / 60, abs(tz) % 60);
    if (!strcasecmp(part, "std11")) {
        static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        return xasprintf("%s, %02d %s %04d %02d:%02d:%02d %s", wd[tm.tm_wday], tm.tm_mday,
                         month_abbrev(tm.tm_mon + 1), y, tm.tm_hour, tm.tm_min, tm.tm_sec, zone);
    }
    if (!strcasecmp(part, "zone")) return xstrdup(zone);
    if (!strcasecmp(part, "weekday")) return xasprintf("%d", tm.tm_wday);
    return NULL;
}

static bool parse_zone(const char *z, int *tz)
{
    if (strlen(z) != 5 || (z[0] != '+' && z[0] != '-'))
        return false;
    for (int i = 1; i < 5; i++)
        if (!isdigit((unsigned char)z[i]))
            return false;
    int m = ((z[1] - '0') * 10 + (z[2] - '0')) * 60 + (z[3] - '0') * 10 + (z[4] - '0');
    *tz = z[0] == '-' ? -m : m;
    return true;
}

static int64_t now_of(const struct run *r)
{
    return r->cfg && r->cfg->now ? r->cfg->now : (int64_t)time(NULL);
}

static bool test_date(struct run *r, const struct sv_node *n)
{
    bool current = n->code == SV_T_CURRENTDATE;
    const struct sv_arg *partarg = n->pos[current ? 0 : 1], *keys = n->pos[current ? 1 : 2];
    char *part = expand0(r, partarg);
    int tz = r->cfg ? r->cfg->local_tz_minutes : 0;
    const struct sv_arg *za = sv_tag_val(n, "zone");
    if (za) {
        char *z = expand0(r, za);
        if (!parse_zone(z, &tz)) {
            /* RFC 5260 4.1: an invalid zone: the test is false */
            free(z);
            free(part);
            return false;
        }
        free(z);
    }
    struct vals vs = {0};
    if (current) {
        char *v = date_part(part, now_of(r), tz);
        if (v)
            vals_add(&vs, v, strlen(v));
    } else {
        struct vals hv = {0};
        struct sv_arg one = *n->pos[0];
        one.nstrs = 1;
        top_header_values(r, n, &one, &hv);
        /* RFC 5260 5: only the first occurrence (or the :index one) */
        if (hv.n > 0) {
            int64_t t;
            int htz;
            /* RFC 5260 5: in a Received field the date follows the last ';' */
            const char *dv = hv.v[0];
            const char *semi = strrchr(dv, ';');
            if (semi && !mime_parse_date(dv, &t, &htz))
                dv = semi + 1;
            if (mime_parse_date(dv, &t, &htz)) {
                char *v = date_part(part, t, sv_has_tag(n, "originalzone") ? htz : tz);
                if (v)
                    vals_add(&vs, v, strlen(v));
            }
        }
        vals_free(&hv);
    }
    free(part);
    bool ok = match_values(r, n, &vs, keys);
    vals_free(&vs);
    return ok;
}

static void body_text(struct run *r, const struct sv_node *n, struct vals *out)
{
    if (!r->mime)
        r->mime = mime_parse(r->data, r->len);
    if (sv_has_tag(n, "raw")) {
        /* RFC 5173 5.1: the body as it is, not decoded */
        size_t bl = r->len - r->body_off;
        size_t take = MIN(bl, r->lim.max_body);
        vals_add(out, dupn(r->data + r->body_off, take), take);
        return;
    }
    const struct sv_arg *ct = sv_tag_val(n, "content");
    if (!ct) {
        /* :text (the default): the text of the text/ parts, decoded and
         * converted to UTF-8 */
        struct buf b = BUF_INIT;
        mime_search_text_body_max(&b, r->mime, r->lim.max_body);
        size_t l = b.len;
        char *s = buf_release(&b);
        vals_add(out, s ? s : xstrdup(""), l);
        return;
    }
    /* :content: each leaf part whose type matches one of the types
     * ("text", "text/html", "" = every part), decoded, text converted */
    size_t budget = r->lim.max_body;
    char **types = xcalloc(ct->nstrs, sizeof(char *));
    for (size_t i = 0; i < ct->nstrs; i++) {
        size_t l;
        types[i] = expand(r, &ct->strs[i], &l);
    }
    /* iterative walk of the MIME tree */
    struct { const struct mime_part *p; size_t next; } st[MIME_MAX_DEPTH + 4];
    int top = 0;
    st[0].p = &r->mime->root;
    st[0].next = 0;
    bool first = true;
    while (top >= 0 && budget > 0 && !r->failed) {
        const struct mime_part *cur = st[top].p;
        if (first) {
            first = false;
            bool leaf = cur->nchildren == 0 && !cur->message;
            bool want = false;
            for (size_t i = 0; i < ct->nstrs; i++) {
                const char *t = types[i];
                const char *slash = strchr(t, '/');
                if (!*t)
                    want = true;
                else if (!slash && strcasecmp(t, cur->type) == 0)
                    want = true;
                else if (slash && (size_t)(slash - t) == strlen(cur->type) &&
                         strncasecmp(t, cur->type, (size_t)(slash - t)) == 0 && strcasecmp(slash + 1, cur->subtype) == 0)
                    want = true;
            }
            if (want && leaf) {
                struct buf dec = BUF_INIT, conv = BUF_INIT;
                mime_decode_transfer(cur->encoding, r->data + cur->body_off, MIN(cur->body_len, budget), &dec);
                const char *cs = mime_param_get(cur->params, cur->nparams, "charset");
                struct buf *use = &dec;
                if (strcmp(cur->type, "text") == 0 && cs && charset_to_utf8(cs, buf_cstr(&dec), dec.len, &conv))
                    use = &conv;
                size_t l = MIN(use->len, budget);
                vals_add(out, dupn(buf_cstr(use), l), l);
                budget -= l;
                buf_free(&dec);
                buf_free(&conv);
                step(r, 1 + l / 1024);
            }
        }
        /* descend */
        const struct mime_part *child = NULL;
        if (st[top].next < cur->nchildren)
            child = &cur->children[st[top].next];
        else if (st[top].next == cur->nchildren && cur->message)
            child = cur->message;
        st[top].next++;
        if (child && top + 1 < (int)ARRAY_SIZE(st)) {
            top++;
            st[top].p = child;
            st[top].next = 0;
            first = true;
        } else if (!child) {
            top--;
        }
    }
    for (size_t i = 0; i < ct->nstrs; i++)
        free(types[i]);
    free(types);
}

static const char *spam_value(struct run *r, bool percent, char *buf, size_t bl, bool *tested)
{
    *tested = false;
    const char *h = r->cfg ? r->cfg->spam_header : NULL;
    double max = r->cfg && r->cfg->spam_max > 0 ? r->cfg->spam_max : 10.0;
    if (!h)
        return "0";
    step(r, 1 + r->nhdr / 64);
    for (size_t i = 0; i < r->nhdr; i++) {
        if (!name_eq(r->hdr[i].name, h, strlen(h)))
            continue;
        size_t vl;
        char *v = field_value(&r->hdr[i], &vl);
        double score = 0;
        bool ok;
        if (r->cfg->spam_strlen) {
            /* the characters of the run (UTF-8: count lead bytes) */
            for (size_t k = 0; k < vl; k++)
                if (((unsigned char)v[k] & 0xc0) != 0x80)
                    score++;
            ok = true;
        } else {
            /* a decimal number first: "5.3", "-1.2 / 5.0"; no hex,
             * infinity or NaN, which strtod would take */
            char *e = v;
            if (*e == '-' || *e == '+')
                e++;
            ok = *e >= '0' && *e <= '9';
            if (ok) {
                score = strtod(v, &e);
                ok = isfinite(score) && strspn(v, "+-0123456789.eE") >= (size_t)(e - v);
                if (ok && *e && !strchr(" \t/;,(", *e))
                    ok = false;   /* "5abc": not a score */
            }
        }
        free(v);
        if (!ok)
            return "0";
        *tested = true;
        double f = score / max;
        if (f < 0)
            f = 0;
        if (f > 1)
            f = 1;
        if (percent)
            snprintf(buf, bl, "%d", (int)lround(f * 100));
        else
            snprintf(buf, bl, "%d", 1 + (int)lround(f * 9)); /* 1 clean .. 10 certainly spam */
        return buf;
    }
    return "0";
}

static bool eval(struct run *r, const struct sv_node *n)
{
    if (!step(r, 1))
        return false;
    struct vals vs = {0};
    bool res = false;
    switch (n->code) {
    case SV_T_TRUE:
        return true;
    case SV_T_FALSE:
        return false;
    case SV_T_NOT:
        return !eval(r, &n->tests[0]) && !r->failed;
    case SV_T_ALLOF:
        for (size_t i = 0; i < n->ntests; i++)
            if (!eval(r, &n->tests[i]))
                return false;
        return !r->failed;
    case SV_T_ANYOF:
        for (size_t i = 0; i < n->ntests; i++)
            if (eval(r, &n->tests[i]))
                return true;
        return false;
    case SV_T_SIZE: {
        uint64_t lim = n->pos[0]->num;
        return sv_has_tag(n, "over") ? r->len > lim : r->len < lim;
    }
    case SV_T_EXISTS:
        if (sv_has_tag(n, "mime"))
            return mime_test(r, n, 'e');
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            size_t nl;
            char *name = expand(r, &n->pos[0]->strs[k], &nl);
            bool found = false;
            step(r, 1 + r->nhdr / 64);
            for (size_t i = 0; i < r->nhdr && !found; i++)
                found = name_eq(r->hdr[i].name, name, nl);
            free(name);
            if (!found)
                return false;
        }
        return true;
    case SV_T_HEADER:
        if (sv_has_tag(n, "mime"))
            return mime_test(r, n, 'h');
        top_header_values(r, n, n->pos[0], &vs);
        res = match_values(r, n, &vs, n->pos[1]);
        break;
    case SV_T_ADDRESS: {
        if (sv_has_tag(n, "mime"))
            return mime_test(r, n, 'a');
        struct vals hv = {0};
        /* names built at run time: fields without addresses are skipped */
        struct sv_arg names = *n->pos[0];
        struct sv_str *ok = xcalloc(names.nstrs, sizeof(*ok));
        size_t nok = 0;
        for (size_t k = 0; k < names.nstrs; k++) {
            size_t l;
            char *nm = expand(r, &names.strs[k], &l);
            if (sv_address_header(nm))
                ok[nok++] = (struct sv_str){nm, l, false};
            else
                free(nm);
        }
        names.strs = ok;
        names.nstrs = nok;
        top_header_values(r, n, &names, &hv);
        for (size_t k = 0; k < nok; k++)
            free(ok[k].s);
        free(ok);
        for (size_t i = 0; i < hv.n; i++)
            addresses_of(r, n, hv.v[i], hv.l[i], &vs);
        vals_free(&hv);
        res = match_values(r, n, &vs, n->pos[1]);
        break;
    }
    case SV_T_ENVELOPE:
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            size_t nl;
            char *part = expand(r, &n->pos[0]->strs[k], &nl);
            const char *v = NULL;
            if (r->env) {
                if (!strcasecmp(part, "from"))
                    v = r->env->from ? r->env->from : "";
                else if (!strcasecmp(part, "to"))
                    v = r->env->to;
                else if (!strcasecmp(part, "orig_to"))
                    v = r->env->orig_to;
                else if (!strcasecmp(part, "auth"))
                    v = r->env->auth_user;
            }
            free(part);
            if (!v)
                continue;
            if (!*v) {
                /* the null reverse-path (RFC 5228 5.4): "" for :all,
                 * nothing for the parts */
                if (n->addrpart == SV_AP_ALL)
                    vals_add(&vs, xstrdup(""), 0);
                continue;
            }
            const char *at = strrchr(v, '@');
            char *local = at ? dupn(v, (size_t)(at - v)) : xstrdup(v);
            address_part(r, n, local, at ? at + 1 : NULL, &vs);
            free(local);
        }
        res = match_values(r, n, &vs, n->pos[1]);
        break;
    case SV_T_BODY:
        body_text(r, n, &vs);
        res = match_values(r, n, &vs, n->pos[0]);
        break;
    case SV_T_STRING:
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            size_t l;
            char *s = expand(r, &n->pos[0]->strs[k], &l);
            /* RFC 5229 5: empty strings do not count for :count */
            if (n->match == SV_MATCH_COUNT && l == 0)
                free(s);
            else
                vals_add(&vs, s, l);
        }
        res = match_values(r, n, &vs, n->pos[1]);
        break;
    case SV_T_HASFLAG: {
        struct buf all = BUF_INIT;
        if (n->npos == 2) {
            for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
                size_t l;
                char *name = expand(r, &n->pos[0]->strs[k], &l);
                const struct var *v = var_get(r, name, l);
                if (v)
                    buf_printf(&all, " %s", v->val);
                free(name);
            }
        } else {
            buf_puts(&all, r->flags ? r->flags : "");
        }
        char **f;
        size_t nf;
        split_flags(buf_cstr(&all), &f, &nf);
        buf_free(&all);
        for (size_t i = 0; i < nf; i++)
            vals_add(&vs, f[i], strlen(f[i]));
        free(f);
        res = match_values(r, n, &vs, n->pos[n->npos - 1]);
        break;
    }
    case SV_T_ENVIRONMENT: {
        char *name = expand0(r, n->pos[0]);
        const char *v = env_item(r, name);
        free(name);
        if (!v)
            return false; /* RFC 5183 4: unknown item: false */
        vals_add(&vs, xstrdup(v), strlen(v));
        res = match_values(r, n, &vs, n->pos[1]);
        break;
    }
    case SV_T_IHAVE:
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            int e = sv_ext_find(n->pos[0]->strs[k].s, n->pos[0]->strs[k].len);
            if (e < 0 || !sv_ext_allowed(&r->lim, e))
                return false;
        }
        return true;
    case SV_T_MAILBOXEXISTS: case SV_T_MAILBOXIDEXISTS:
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            size_t l;
            char *mb = expand(r, &n->pos[0]->strs[k], &l);
            bool ok = false;
            if (n->code == SV_T_MAILBOXEXISTS)
                ok = r->cb && r->cb->mailbox_exists && r->cb->mailbox_exists(r->cb->ctx, mb);
            else
                ok = r->cb && r->cb->mailboxid_exists && r->cb->mailboxid_exists(r->cb->ctx, mb);
            free(mb);
            if (!ok)
                return false;
        }
        return true;
    case SV_T_SPECIALUSE_EXISTS: {
        char *mb = n->npos == 2 ? expand0(r, n->pos[0]) : NULL;
        bool ok = true;
        const struct sv_arg *l = n->pos[n->npos - 1];
        for (size_t k = 0; k < l->nstrs && ok; k++) {
            size_t fl;
            char *f = expand(r, &l->strs[k], &fl);
            ok = r->cb && r->cb->specialuse_exists && r->cb->specialuse_exists(r->cb->ctx, mb, f);
            free(f);
        }
        free(mb);
        return ok;
    }
    case SV_T_VALID_NOTIFY_METHOD:
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            size_t l;
            char *u = expand(r, &n->pos[0]->strs[k], &l);
            bool ok = mailto_ok(u);
            free(u);
            if (!ok)
                return false;
        }
        return true;
    case SV_T_NOTIFY_METHOD_CAPABILITY: {
        char *u = expand0(r, n->pos[0]);
        char *cap = expand0(r, n->pos[1]);
        bool ok = mailto_ok(u) && strcasecmp(cap, "online") == 0;
        free(u);
        free(cap);
        if (!ok)
            return false;
        /* RFC 5436 2.3 (mailto): whether the recipient is online is unknown */
        vals_add(&vs, xstrdup("maybe"), 5);
        res = match_values(r, n, &vs, n->pos[2]);
        break;
    }
    case SV_T_DATE: case SV_T_CURRENTDATE:
        return test_date(r, n);
    case SV_T_DUPLICATE: {
        char *handle = sv_tag_val(n, "handle") ? expand0(r, sv_tag_val(n, "handle")) : xstrdup("");
        char *value = NULL;
        size_t vl = 0;
        if (sv_tag_val(n, "uniqueid")) {
            value = expand(r, &sv_tag_val(n, "uniqueid")->strs[0], &vl);
        } else {
            /* RFC 7352 3.1: the Message-ID, or the :header field */
            char *hn = sv_tag_val(n, "header") ? expand0(r, sv_tag_val(n, "header")) : xstrdup("message-id");
            step(r, 1 + r->nhdr / 64);
            for (size_t i = 0; i < r->nhdr && !value; i++)
                if (name_eq(r->hdr[i].name, hn, strlen(hn)))
                    value = field_value(&r->hdr[i], &vl);
            free(hn);
        }
        /* RFC 7352 3.1: no value, no duplicate */
        uint64_t secs = sv_tag_val(n, "seconds") ? sv_tag_val(n, "seconds")->num : 7 * 86400;
        if (secs > 365ull * 86400)
            secs = 365ull * 86400;
        bool dup = value && vl > 0 && r->cb && r->cb->duplicate &&
                   r->cb->duplicate(r->cb->ctx, handle, value, vl, secs, sv_has_tag(n, "last"));
        free(value);
        free(handle);
        return dup;
    }
    case SV_T_SPAMTEST: case SV_T_VIRUSTEST: {
        char b[32];
        bool tested = false;
        const char *v = "0";
        if (n->code == SV_T_SPAMTEST) {
            v = spam_value(r, sv_has_tag(n, "percent"), b, sizeof(b), &tested);
        } else if (r->cfg && r->cfg->virus_header) {
            const char *h = r->cfg->virus_header;
            step(r, 1 + r->nhdr / 64);
            for (size_t i = 0; i < r->nhdr; i++) {
                if (!name_eq(r->hdr[i].name, h, strlen(h)))
                    continue;
                size_t vl;
                char *x = field_value(&r->hdr[i], &vl);
                if (vl == 1 && x[0] >= '1' && x[0] <= '5') {
                    b[0] = x[0];
                    b[1] = '\0';
                    v = b;
                    tested = true;
                }
                free(x);
                break;
            }
        }
        /* RFC 5235 3.1: with :count the count is 0 when not tested */
        if (tested || n->match != SV_MATCH_COUNT)
            vals_add(&vs, xstrdup(v), strlen(v));
        res = match_values(r, n, &vs, n->pos[0]);
        break;
    }
    default:
        run_error(r, "unknown test");
        return false;
    }
    vals_free(&vs);
    return res && !r->failed;
}

/* ---- commands ---- */

static void exec_list(struct run *r, const struct sv_node *n, size_t count);
static void do_foreverypart(struct run *r, const struct sv_node *c);
static void do_extracttext(struct run *r, const struct sv_node *c);
static void do_include(struct run *r, const struct sv_node *n);

/* foreverypart (RFC 5703 3): the block once per part, depth first; at
 * the top level every part of the message including the message itself,
 * nested only the parts below the current one. */
static void do_foreverypart(struct run *r, const struct sv_node *c)
{
    ensure_mime(r);
    const struct mime_part **parts = xmalloc(MIME_MAX_PARTS * sizeof(*parts));
    size_t np = r->cur ? collect_parts(r->cur, false, parts, 0, MIME_MAX_PARTS, 0)
                       : collect_parts(&r->mime->root, true, parts, 0, MIME_MAX_PARTS, 0);
    const struct sv_arg *nm = sv_tag_val(c, "name");
    const struct mime_part *saved = r->cur;
    for (size_t i = 0; i < np && !r->stop && !r->ret && !r->failed; i++) {
        if (!step(r, 1))
            break;
        r->cur = parts[i];
        exec_list(r, c->block, c->nblock);
        if (r->brk) {
            /* ours when unnamed or naming this loop; else it ends the
             * outer loops up to the named one */
            if (!r->brk_name || (nm && strcmp(nm->strs[0].s, r->brk_name) == 0)) {
                r->brk = false;
                r->brk_name = NULL;
            }
            break;
        }
    }
    r->cur = saved;
    free(parts);
}

/* extracttext (RFC 5703 7): the current part's text, transfer-decoded and
 * converted to UTF-8; "" for a part that is not text or cannot be
 * decoded, and outside a loop. */
static void do_extracttext(struct run *r, const struct sv_node *c)
{
    char *name = expand0(r, c->pos[0]);
    struct buf dec = BUF_INIT, conv = BUF_INIT;
    const struct buf *use = NULL;
    const struct mime_part *p = r->cur;
    if (p && p->nchildren == 0 && !p->message && strcmp(p->type, "text") == 0) {
        size_t take = MIN(p->body_len, r->lim.max_body);
        if (mime_decode_transfer(p->encoding, r->data + p->body_off, take, &dec)) {
            const char *cs = mime_param_get(p->params, p->nparams, "charset");
            if (!cs || strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "utf-8") == 0)
                use = &dec;
            else if (charset_to_utf8(cs, buf_cstr(&dec), dec.len, &conv))
                use = &conv;
        }
    }
    size_t vl = use ? use->len : 0;
    char *v = dupn(use ? buf_cstr(use) : "", vl);
    buf_free(&dec);
    buf_free(&conv);
    const struct sv_arg *first = sv_tag_val(c, "first");
    if (first) {
        /* at most :first characters */
        uint64_t chars = 0;
        size_t i = 0;
        while (i < vl && chars < first->num) {
            i++;
            while (i < vl && ((unsigned char)v[i] & 0xc0) == 0x80)
                i++;
            chars++;
        }
        vl = i;
        v[vl] = '\0';
    }
    step(r, 1 + vl / 1024);
    apply_modifiers(c, &v, &vl);
    if (!valid_var_name_rt(name))
        run_error(r, "extracttext: bad variable name");
    else
        var_set(r, name, v, vl);
    free(v);
    free(name);
}

static void exec_list(struct run *r, const struct sv_node *n, size_t count)
{
    bool prev_taken = false; /* the if/elsif chain: a branch already ran */
    for (size_t i = 0; i < count && !r->stop && !r->ret && !r->brk && !r->failed; i++) {
        const struct sv_node *c = &n[i];
        if (!step(r, 1))
            return;
        switch (c->code) {
        case SV_C_REQUIRE:
            break;
        case SV_C_IF: case SV_C_ELSIF: case SV_C_ELSE:
            if (c->code == SV_C_IF)
                prev_taken = false;
            if (prev_taken)
                break;
            if (c->code == SV_C_ELSE || eval(r, &c->tests[0])) {
                prev_taken = true;
                if (!r->failed)
                    exec_list(r, c->block, c->nblock);
            }
            break;
        case SV_C_STOP:
            r->stop = true;
            break;
        case SV_C_RETURN:
            r->ret = true;
            break;
        case SV_C_INCLUDE:
            do_include(r, c);
            break;
        case SV_C_FOREVERYPART:
            do_foreverypart(r, c);
            break;
        case SV_C_BREAK: {
            const struct sv_arg *nm = sv_tag_val(c, "name");
            r->brk = true;
            r->brk_name = nm ? nm->strs[0].s : NULL;
            break;
        }
        case SV_C_EXTRACTTEXT:
            do_extracttext(r, c);
            break;
        case SV_C_GLOBAL: {
            const struct sv_arg *l = c->pos[0];
            for (size_t k = 0; k < l->nstrs; k++) {
                bool have = false;
                for (size_t g = 0; g < r->fr->nglobals; g++)
                    if (strcasecmp(r->fr->globals[g], l->strs[k].s) == 0)
                        have = true;
                if (!have && r->fr->nglobals < 256) {
                    r->fr->globals = xrealloc(r->fr->globals, (r->fr->nglobals + 1) * sizeof(char *));
                    r->fr->globals[r->fr->nglobals++] = xstrdup(l->strs[k].s);
                }
            }
            break;
        }
        case SV_C_KEEP:
            do_keep(r, c);
            break;
        case SV_C_FILEINTO:
            do_fileinto(r, c);
            break;
        case SV_C_REDIRECT:
            do_redirect(r, c);
            break;
        case SV_C_DISCARD:
            r->implicit_keep = false;
            for (size_t k = 0; k < r->res->n; k++)
                if (r->res->acts[k].type == SIEVE_ACT_DISCARD)
                    goto done_discard;
            add_action(r, SIEVE_ACT_DISCARD);
done_discard:
            break;
        case SV_C_REJECT: case SV_C_EREJECT:
            do_reject(r, c, c->code == SV_C_EREJECT);
            break;
        case SV_C_VACATION:
            do_vacation(r, c);
            break;
        case SV_C_NOTIFY:
            do_notify(r, c);
            break;
        case SV_C_SETFLAG: case SV_C_ADDFLAG: case SV_C_REMOVEFLAG:
            do_flags(r, c);
            break;
        case SV_C_SET:
            do_set(r, c);
            break;
        case SV_C_ADDHEADER:
            do_addheader(r, c);
            break;
        case SV_C_DELETEHEADER:
            do_deleteheader(r, c);
            break;
        default:
            run_error(r, "unknown command");
            break;
        }
        if (c->code != SV_C_IF && c->code != SV_C_ELSIF && c->code != SV_C_ELSE)
            prev_taken = false;
    }
}

static void run_script(struct run *r, const struct sieve_script *s)
{
    struct frame fr;
    memset(&fr, 0, sizeof(fr));
    fr.script = s;
    struct frame *saved = r->fr;
    r->fr = &fr;
    exec_list(r, s->cmds, s->ncmds);
    r->ret = false;
    r->fr = saved;
    vars_free(&fr.local);
    for (size_t i = 0; i < fr.nglobals; i++)
        free(fr.globals[i]);
    free(fr.globals);
}

/* include (RFC 6609 3.2): the named script is compiled from its source
 * (the caller's loader) and run with its own local variables; "global"
 * ones are shared. Recursion is an error; :once skips a script already
 * included; :optional a missing one. */
static void do_include(struct run *r, const struct sv_node *n)
{
    const char *name = n->pos[0]->strs[0].s;
    bool global = sv_has_tag(n, "global");
    char *key = xasprintf("%c%s", global ? 'g' : 'p', name);
    for (unsigned i = 0; i < r->depth; i++)
        if (strcmp(r->running[i], key) == 0) {
            run_error(r, "include: \"%s\" includes itself", name);
            free(key);
            return;
        }
    if (sv_has_tag(n, "once"))
        for (size_t i = 0; i < r->nincluded; i++)
            if (strcmp(r->included[i], key) == 0) {
                free(key);
                return;
            }
    if (r->depth >= r->lim.max_include_depth || r->depth >= ARRAY_SIZE(r->running)) {
        run_error(r, "include: nested deeper than %u", r->lim.max_include_depth);
        free(key);
        return;
    }
    size_t len = 0;
    char *src = r->cb && r->cb->include_load ? r->cb->include_load(r->cb->ctx, name, global, &len) : NULL;
    if (!src) {
        if (!sv_has_tag(n, "optional"))
            run_error(r, "include: script \"%s\" not found", name);
        free(key);
        return;
    }
    struct sieve_script s;
    memset(&s, 0, sizeof(s));
    struct sieve_diags d;
    memset(&d, 0, sizeof(d));
    bool ok = sv_parse(src, len, &r->lim, &s.cmds, &s.ncmds, &d) && sv_validate(&s, &r->lim, &d);
    free(src);
    if (!ok) {
        run_error(r, "include: script \"%s\" does not compile: %u:%u: %s", name, d.n ? d.v[0].line : 0,
                  d.n ? d.v[0].col : 0, d.n ? d.v[0].msg : "?");
        sieve_diags_free(&d);
        sv_nodes_free(s.cmds, s.ncmds);
        free(key);
        return;
    }
    sieve_diags_free(&d);
    if (r->nincluded < 1000) {
        r->included = xrealloc(r->included, (r->nincluded + 1) * sizeof(char *));
        r->included[r->nincluded++] = xstrdup(key);
    }
    r->running[r->depth++] = key;
    run_script(r, &s);
    r->depth--;
    free(key);
    sv_nodes_free(s.cmds, s.ncmds);
}

/* ---- the result ---- */

static void result_clear_actions(struct sieve_result *res)
{
    for (size_t i = 0; i < res->n; i++) {
        free(res->acts[i].flags);
        free(res->acts[i].addresses);
    }
    res->n = 0;
}

enum sieve_run_status sieve_run(const struct sieve_script *script, const char *data, size_t len,
                                const struct sieve_envelope *env, const struct sieve_callbacks *cb,
                                const struct sieve_run_config *cfg, const struct sieve_limits *limits,
                                struct sieve_result **result)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    r.data = data;
    r.len = len;
    r.env = env;
    r.cb = cb;
    r.cfg = cfg;
    sv_limits_fill(&r.lim, limits);
    r.res = xcalloc(1, sizeof(*r.res));
    r.implicit_keep = true;
    r.flags = xstrdup("");
    hdr_load(&r);
    run_script(&r, script);
    /* RFC 5429 2.4: reject is incompatible with vacation and (here) with
     * keeping or forwarding the message */
    if (!r.failed && r.rejected) {
        for (size_t i = 0; i < r.res->n; i++) {
            enum sieve_action_type t = r.res->acts[i].type;
            if (t == SIEVE_ACT_VACATION || t == SIEVE_ACT_KEEP || t == SIEVE_ACT_FILEINTO ||
                t == SIEVE_ACT_REDIRECT) {
                run_error(&r, "reject cannot be combined with keep, fileinto, redirect or vacation");
                break;
            }
        }
    }
    if (r.failed) {
        /* RFC 5228 2.10.6: fall back to the implicit keep, nothing else */
        result_clear_actions(r.res);
        r.implicit_keep = true;
        r.hdr_edited = false;
    }
    if (r.implicit_keep && !have_keep(&r)) {
        struct sieve_action *a;
        ARRAY_GROW(r.res->acts, r.res->n, r.res->cap);
        a = &r.res->acts[r.res->n++];
        memset(a, 0, sizeof(*a));
        a->type = SIEVE_ACT_KEEP;
        a->implicit = true;
        if (!r.failed && ((script->exts >> SV_X_IMAP4FLAGS) & 1)) {
            char **f;
            size_t nf;
            split_flags(r.flags, &f, &nf);
            a->flags = xcalloc(nf + 1, sizeof(char *));
            for (size_t i = 0; i < nf; i++)
                a->flags[i] = (char *)own(r.res, f[i]);
            free(f);
            a->nflags = nf;
            a->flags_set = true;
        }
    }
    if (r.hdr_edited) {
        struct buf h = BUF_INIT;
        for (size_t i = 0; i < r.nhdr; i++)
            buf_append(&h, r.hdr[i].raw, r.hdr[i].rawlen);
        buf_puts(&h, "\r\n");
        r.res->header_len = h.len;
        r.res->header = buf_release(&h);
        r.res->body_off = r.body_off;
    }
    for (size_t i = 0; i < r.nhdr; i++) {
        free(r.hdr[i].name);
        free(r.hdr[i].raw);
        free(r.hdr[i].dec);
    }
    free(r.hdr);
    vars_free(&r.globals);
    for (size_t i = 0; i < SV_MAX_CAPS; i++)
        free(r.caps[i]);
    for (size_t i = 0; i < r.nincluded; i++)
        free(r.included[i]);
    free(r.included);
    free(r.flags);
    if (r.mime)
        mime_free(r.mime);
    *result = r.res;
    return r.failed ? SIEVE_RUN_ERROR : SIEVE_RUN_OK;
}

size_t sieve_result_count(const struct sieve_result *r)
{
    return r->n;
}

const struct sieve_action *sieve_result_action(const struct sieve_result *r, size_t i)
{
    return i < r->n ? &r->acts[i] : NULL;
}

const char *sieve_result_error(const struct sieve_result *r)
{
    return r->error;
}

const char *sieve_result_header(const struct sieve_result *r, size_t *len, size_t *body_off)
{
    if (len)
        *len = r->header_len;
    if (body_off)
        *body_off = r->body_off;
    return r->header;
}

void sieve_result_describe(const struct sieve_result *r, struct buf *out)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct sieve_action *a = &r->acts[i];
        switch (a->type) {
        case SIEVE_ACT_KEEP: buf_puts(out, a->implicit ? "keep (implicit)" : "keep"); break;
        case SIEVE_ACT_FILEINTO: buf_printf(out, "fileinto \"%s\"", a->mailbox); break;
        case SIEVE_ACT_REDIRECT: buf_printf(out, "redirect \"%s\"", a->address); break;
        case SIEVE_ACT_DISCARD: buf_puts(out, "discard"); break;
        case SIEVE_ACT_REJECT: buf_printf(out, "reject \"%s\"", a->text); break;
        case SIEVE_ACT_EREJECT: buf_printf(out, "ereject \"%s\"", a->text); break;
        case SIEVE_ACT_VACATION:
            buf_printf(out, "vacation seconds=%llu", (unsigned long long)a->seconds);
            if (a->subject)
                buf_printf(out, " subject=\"%s\"", a->subject);
            if (a->from)
                buf_printf(out, " from=\"%s\"", a->from);
            buf_printf(out, " handle=\"%s\"", a->handle);
            for (size_t k = 0; k < a->naddresses; k++)
                buf_printf(out, " address=\"%s\"", a->addresses[k]);
            if (a->mime)
                buf_puts(out, " mime");
            buf_printf(out, " reason=\"%s\"", a->text);
            break;
        case SIEVE_ACT_NOTIFY:
            buf_printf(out, "notify \"%s\" importance=%s", a->address, a->importance);
            if (a->from)
                buf_printf(out, " from=\"%s\"", a->from);
            if (a->text)
                buf_printf(out, " message=\"%s\"", a->text);
            for (size_t k = 0; k < a->naddresses; k++)
                buf_printf(out, " option=\"%s\"", a->addresses[k]);
            break;
        case SIEVE_ACT_ADDHEADER:
            buf_printf(out, "addheader%s \"%s\" \"%s\"", a->last ? " :last" : "", a->address, a->text);
            break;
        case SIEVE_ACT_DELETEHEADER: buf_printf(out, "deleteheader \"%s\"", a->address); break;
        }
        if ((a->type == SIEVE_ACT_VACATION || a->type == SIEVE_ACT_NOTIFY) && a->mailbox)
            buf_printf(out, " fcc=\"%s\"", a->mailbox);
        if (a->copy)
            buf_puts(out, " :copy");
        if (a->create)
            buf_puts(out, " :create");
        if (a->specialuse)
            buf_printf(out, " :specialuse \"%s\"", a->specialuse);
        if (a->mailboxid)
            buf_printf(out, " :mailboxid \"%s\"", a->mailboxid);
        if (a->flags_set && a->nflags) {
            buf_puts(out, " flags=");
            for (size_t k = 0; k < a->nflags; k++)
                buf_printf(out, "%s%s", k ? " " : "", a->flags[k]);
        }
        buf_putc(out, '\n');
    }
}

void sieve_result_free(struct sieve_result *r)
{
    if (!r)
        return;
    result_clear_actions(r);
    free(r->acts);
    for (size_t i = 0; i < r->nstrs; i++)
        free(r->strs[i]);
    free(r->strs);
    free(r->error);
    free(r->header);
    free(r);
}
