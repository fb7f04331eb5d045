/* imap-search-key.c - SEARCH program parsing into a key tree, and the
 * evaluator (RFC 9051 6.4.4, RFC 4731, RFC 5182, RFC 5032, RFC 7162 3.1.5,
 * RFC 8514, RFC 8474). No storage access here: the evaluator gets
 * messages through struct search_msg.
 */
#include "imap-search.h"
#include "mime.h"

#include <strings.h>
#include <ctype.h>

#define SEARCH_MAX_STRING (64 * 1024)   /* a needle larger than this is abuse */
#define SEARCH_MAX_KEYS 10000           /* total keys in one program */

struct sparse {
    struct imap_parser *ps;
    struct imap_cmd *cmd;
    const char *charset;    /* NULL = US-ASCII/UTF-8 */
    int maxdepth;
    size_t nkeys;
    const char *status, *code, *err;
};

void skey_free(struct skey *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->nkids; i++)
        skey_free(k->kids[i]);
    free(k->kids);
    free(k->field);
    free(k->str);
    seqset_free(&k->set);
    free(k);
}

void search_query_free(struct search_query *q)
{
    skey_free(q->root);
    q->root = NULL;
    free(q->charset);
    q->charset = NULL;
}

static struct skey *sk_new(enum sk_op op, int cost)
{
    struct skey *k = xcalloc(1, sizeof(*k));
    k->op = op;
    k->cost = cost;
    return k;
}

static void sk_add_kid(struct skey *k, struct skey *kid)
{
    k->kids = xrealloc(k->kids, (k->nkids + 1) * sizeof(*k->kids));
    k->kids[k->nkids++] = kid;
    if (kid->cost > k->cost)
        k->cost = kid->cost;
}

static bool fail_bad(struct sparse *sp, const char *err)
{
    if (!sp->err) {
        sp->status = "BAD";
        sp->code = NULL;
        sp->err = err;
    }
    return false;
}

static bool fail_no(struct sparse *sp, const char *code, const char *err)
{
    if (!sp->err) {
        sp->status = "NO";
        sp->code = code;
        sp->err = err;
    }
    return false;
}

static int peekc(const struct imap_parser *ps)
{
    return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

int64_t search_day_of(int64_t t_utc, int tz_minutes)
{
    int64_t t = t_utc + (int64_t)tz_minutes * 60;
    int64_t d = t / 86400;
    if (t % 86400 < 0)
        d--;
    return d;
}

void search_emailid(const struct msg_record *rec, char out[40])
{
    snprintf(out, 40, "M%.32s", rec->guid);
}

/* A search string converted to UTF-8 (the CHARSET given). */
static bool parse_needle(struct sparse *sp, struct skey *k)
{
    struct imap_str s;
    if (!imap_p_sp(sp->ps) || !imap_p_astring(sp->ps, sp->cmd, &s))
        return fail_bad(sp, "Missing search string");
    if (s.file || s.len > SEARCH_MAX_STRING)
        return fail_no(sp, "LIMIT", "Search string too long");
    if (memchr(s.s, '\0', s.len))
        return fail_bad(sp, "NUL in search string");
    if (sp->charset) {
        struct buf b = BUF_INIT;
        if (!charset_to_utf8(sp->charset, s.s, s.len, &b)) {
            buf_free(&b);
            return fail_no(sp, "BADCHARSET (US-ASCII UTF-8)", "Unsupported charset");
        }
        k->slen = b.len;
        k->str = xstrndup(buf_cstr(&b), b.len);
        buf_free(&b);
    } else {
        k->slen = s.len;
        k->str = xstrndup(s.s, s.len);
    }
    return true;
}

/* Sequence sets of SEARCH keys are tested once per message, so they are
 * put in a form that answers in O(log ranges) instead of scanning every
 * range ("UID SEARCH UID 1,3,5,...,299999" on a million messages would
 * otherwise cost 10^11 steps): ranges ordered (lo <= hi), sorted by lo and
 * merged. '*' stays UINT32_MAX, so the value of '*' (the highest MSN/UID,
 * known only at evaluation) is not needed: with n <= max always, a range
 * "a:*" holds n iff n >= a or n == max (a > max), and after merging at
 * most the last range ends in '*'. */
static int cmp_range(const void *a, const void *b)
{
    const struct seqrange *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->hi < y->hi ? -1 : x->hi > y->hi;
}

static void normalize_set(struct seqset *set)
{
    if (set->dollar || set->n == 0)
        return;
    for (size_t i = 0; i < set->n; i++) {
        if (set->r[i].lo > set->r[i].hi) {
            uint32_t t = set->r[i].lo;
            set->r[i].lo = set->r[i].hi;
            set->r[i].hi = t;
        }
    }
    qsort(set->r, set->n, sizeof(*set->r), cmp_range);
    size_t m = 0;
    for (size_t i = 1; i < set->n; i++) {
        struct seqrange *cur = &set->r[m];
        if (set->r[i].lo <= cur->hi || set->r[i].lo - 1 == cur->hi) {
            if (set->r[i].hi > cur->hi)
                cur->hi = set->r[i].hi;
        } else {
            set->r[++m] = set->r[i];
        }
    }
    set->n = m + 1;
}

/* Membership in a set made by normalize_set; max is the value of '*'. */
static bool set_contains(const struct seqset *set, uint32_t n, uint32_t max)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {   /* first range with r.lo > n */
        size_t mid = lo + (hi - lo) / 2;
        if (set->r[mid].lo <= n)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && n <= set->r[lo - 1].hi)
        return true;
    return set->n > 0 && set->r[set->n - 1].hi == UINT32_MAX && n == max;
}

/* entry-name of SEARCH MODSEQ (RFC 7162 7): "/flags/" attr-flag, where
 * attr-flag is "\" atom (a system or extension flag) or an atom (keyword). */
static bool modseq_entry_valid(const char *s, size_t len)
{
    if (len <= 7 || strncasecmp(s, "/flags/", 7) != 0)
        return false;
    size_t i = 7;
    if (s[i] == '\\')
        i++;
    if (i == len)
        return false;
    for (; i < len; i++)
        if (!imap_is_atom_char((unsigned char)s[i]) || s[i] == ']')
            return false;
    return true;
}

static bool parse_date_arg(struct sparse *sp, struct skey *k)
{
    int64_t t;
    if (!imap_p_sp(sp->ps) || !imap_p_date(sp->ps, &t))
        return fail_bad(sp, "Invalid date (expected dd-Mon-yyyy)");
    k->day = search_day_of(t, 0);
    return true;
}

static bool parse_number_arg(struct sparse *sp, struct skey *k)
{
    uint64_t n;
    if (!imap_p_sp(sp->ps) || !imap_p_number64(sp->ps, &n))
        return fail_bad(sp, "Number expected");
    k->n = n;
    return true;
}

static bool valid_header_name(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 32 || c >= 127 || c == ':')
            return false;
    }
    return true;
}

static struct skey *parse_key(struct sparse *sp, int depth);

/* Keys up to ')' (inside a list) or the end of the command. */
static struct skey *parse_key_list(struct sparse *sp, int depth, bool in_paren)
{
    struct skey *and = sk_new(SK_AND, SK_COST_RECORD);
    for (;;) {
        struct skey *k = parse_key(sp, depth);
        if (!k) {
            skey_free(and);
            return NULL;
        }
        sk_add_kid(and, k);
        if (in_paren && imap_p_peek(sp->ps, ')'))
            break;
        if (!in_paren && imap_p_end(sp->ps))
            break;
        if (!imap_p_sp(sp->ps)) {
            skey_free(and);
            fail_bad(sp, in_paren ? "Expected SP or ')' in search list" : "Junk after search keys");
            return NULL;
        }
    }
    /* Cheap keys first: evaluation of AND stops at the first false one.
     * A stable bucket pass per cost class (linear, unlike a sort). */
    struct skey **sorted = xmalloc(and->nkids * sizeof(*sorted));
    size_t m = 0;
    for (int cost = SK_COST_RECORD; cost <= SK_COST_BODY; cost++)
        for (size_t i = 0; i < and->nkids; i++)
            if (and->kids[i]->cost == cost)
                sorted[m++] = and->kids[i];
    free(and->kids);
    and->kids = sorted;
    if (and->nkids == 1) {
        struct skey *only = and->kids[0];
        and->nkids = 0;
        skey_free(and);
        return only;
    }
    return and;
}

struct keyword_def {
    const char *name;
    enum sk_op op;
    uint32_t flags;
};

static const struct keyword_def simple_keys[] = {
    {"ALL", SK_ALL, 0},
    {"ANSWERED", SK_FLAGS_ON, MSG_ANSWERED},
    {"DELETED", SK_FLAGS_ON, MSG_DELETED},
    {"DRAFT", SK_FLAGS_ON, MSG_DRAFT},
    {"FLAGGED", SK_FLAGS_ON, MSG_FLAGGED},
    {"SEEN", SK_FLAGS_ON, MSG_SEEN},
    {"UNANSWERED", SK_FLAGS_OFF, MSG_ANSWERED},
    {"UNDELETED", SK_FLAGS_OFF, MSG_DELETED},
    {"UNDRAFT", SK_FLAGS_OFF, MSG_DRAFT},
    {"UNFLAGGED", SK_FLAGS_OFF, MSG_FLAGGED},
    {"UNSEEN", SK_FLAGS_OFF, MSG_SEEN},
    {"RECENT", SK_RECENT, 0},
    {"NEW", SK_NEW, 0},
    {"OLD", SK_OLD, 0},
    {"SAVEDATESUPPORTED", SK_SAVEDATESUPPORTED, 0},
};

static const struct {
    const char *name;
    enum sk_op op;
} date_keys[] = {
    {"BEFORE", SK_BEFORE},         {"ON", SK_ON},           {"SINCE", SK_SINCE},
    {"SENTBEFORE", SK_SENTBEFORE}, {"SENTON", SK_SENTON},   {"SENTSINCE", SK_SENTSINCE},
    {"SAVEDBEFORE", SK_SAVEDBEFORE}, {"SAVEDON", SK_SAVEDON}, {"SAVEDSINCE", SK_SAVEDSINCE},
};

static const char *const addr_headers[] = {"BCC", "CC", "FROM", "SUBJECT", "TO"};

static struct skey *parse_key(struct sparse *sp, int depth)
{
    struct imap_parser *ps = sp->ps;
    if (depth > sp->maxdepth) {
        fail_no(sp, "LIMIT", "Search program nested too deeply");
        return NULL;
    }
    if (++sp->nkeys > SEARCH_MAX_KEYS) {
        fail_no(sp, "LIMIT", "Too many search keys");
        return NULL;
    }
    int c = peekc(ps);
    if (c == '(') {
        imap_p_char(ps, '(');
        struct skey *k = parse_key_list(sp, depth + 1, true);
        if (!k)
            return NULL;
        if (!imap_p_char(ps, ')')) {
            skey_free(k);
            fail_bad(sp, "Missing ')' in search program");
            return NULL;
        }
        return k;
    }
    if ((c >= '0' && c <= '9') || c == '*' || c == '$') {
        struct skey *k = sk_new(SK_SEQ, SK_COST_RECORD);
        if (!imap_p_seqset(ps, &k->set)) {
            skey_free(k);
            fail_bad(sp, "Invalid sequence set");
            return NULL;
        }
        normalize_set(&k->set);
        return k;
    }
    char *atom = imap_p_atom(ps, sp->cmd);
    if (!atom) {
        fail_bad(sp, c < 0 ? "Missing search key" : "Invalid search key");
        return NULL;
    }

    for (size_t i = 0; i < ARRAY_SIZE(simple_keys); i++) {
        if (strcasecmp(atom, simple_keys[i].name) == 0) {
            struct skey *k = sk_new(simple_keys[i].op, SK_COST_RECORD);
            k->n = simple_keys[i].flags;
            return k;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(date_keys); i++) {
        if (strcasecmp(atom, date_keys[i].name) == 0) {
            enum sk_op op = date_keys[i].op;
            bool sent = op == SK_SENTBEFORE || op == SK_SENTON || op == SK_SENTSINCE;
            struct skey *k = sk_new(op, sent ? SK_COST_HEADER : SK_COST_RECORD);
            if (!parse_date_arg(sp, k)) {
                skey_free(k);
                return NULL;
            }
            return k;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(addr_headers); i++) {
        if (strcasecmp(atom, addr_headers[i]) == 0) {
            struct skey *k = sk_new(SK_HEADER, SK_COST_HEADER);
            k->field = xstrdup(addr_headers[i]);
            for (char *p = k->field; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            if (!parse_needle(sp, k)) {
                skey_free(k);
                return NULL;
            }
            return k;
        }
    }

    struct skey *k = NULL;
    if (strcasecmp(atom, "NOT") == 0) {
        if (!imap_p_sp(ps)) {
            fail_bad(sp, "NOT needs a search key");
            return NULL;
        }
        struct skey *kid = parse_key(sp, depth + 1);
        if (!kid)
            return NULL;
        k = sk_new(SK_NOT, SK_COST_RECORD);
        sk_add_kid(k, kid);
        return k;
    }
    if (strcasecmp(atom, "OR") == 0) {
        if (!imap_p_sp(ps)) {
            fail_bad(sp, "OR needs two search keys");
            return NULL;
        }
        struct skey *a = parse_key(sp, depth + 1);
        if (!a)
            return NULL;
        if (!imap_p_sp(ps)) {
            skey_free(a);
            fail_bad(sp, "OR needs two search keys");
            return NULL;
        }
        struct skey *b = parse_key(sp, depth + 1);
        if (!b) {
            skey_free(a);
            return NULL;
        }
        k = sk_new(SK_OR, SK_COST_RECORD);
        if (b->cost < a->cost) {
            struct skey *t = a;
            a = b;
            b = t;
        }
        sk_add_kid(k, a);
        sk_add_kid(k, b);
        return k;
    }
    if (strcasecmp(atom, "UID") == 0) {
        k = sk_new(SK_UID, SK_COST_RECORD);
        if (!imap_p_sp(ps) || !imap_p_seqset(ps, &k->set)) {
            skey_free(k);
            fail_bad(sp, "UID needs a sequence set");
            return NULL;
        }
        normalize_set(&k->set);
        return k;
    }
    if (strcasecmp(atom, "LARGER") == 0 || strcasecmp(atom, "SMALLER") == 0 ||
        strcasecmp(atom, "OLDER") == 0 || strcasecmp(atom, "YOUNGER") == 0) {
        enum sk_op op = toupper((unsigned char)atom[0]) == 'L'   ? SK_LARGER
                        : toupper((unsigned char)atom[0]) == 'S' ? SK_SMALLER
                        : toupper((unsigned char)atom[0]) == 'O' ? SK_OLDER
                                                                 : SK_YOUNGER;
        k = sk_new(op, SK_COST_RECORD);
        if (!parse_number_arg(sp, k)) {
            skey_free(k);
            return NULL;
        }
        if ((op == SK_OLDER || op == SK_YOUNGER) && k->n == 0) {
            skey_free(k);
            fail_bad(sp, "OLDER/YOUNGER need a positive interval");
            return NULL;
        }
        return k;
    }
    if (strcasecmp(atom, "KEYWORD") == 0 || strcasecmp(atom, "UNKEYWORD") == 0) {
        k = sk_new(toupper((unsigned char)atom[0]) == 'K' ? SK_KEYWORD : SK_UNKEYWORD, SK_COST_RECORD);
        char *kw = NULL;
        if (!imap_p_sp(ps) || !imap_p_flag(ps, sp->cmd, &kw))
            kw = NULL;
        if (!kw || kw[0] == '\0' || strlen(kw) > STORAGE_MAX_KEYWORD) {
            skey_free(k);
            fail_bad(sp, "KEYWORD needs a flag keyword");
            return NULL;
        }
        /* KEYWORD \Seen etc.: clients do this; map system flags. */
        if (kw[0] == '\\') {
            static const struct { const char *n; uint32_t f; } sys[] = {
                {"\\Seen", MSG_SEEN}, {"\\Answered", MSG_ANSWERED}, {"\\Flagged", MSG_FLAGGED},
                {"\\Deleted", MSG_DELETED}, {"\\Draft", MSG_DRAFT},
            };
            uint32_t f = 0;
            for (size_t i = 0; i < ARRAY_SIZE(sys); i++)
                if (strcasecmp(kw, sys[i].n) == 0)
                    f = sys[i].f;
            if (!f) {
                skey_free(k);
                fail_bad(sp, "Invalid keyword");
                return NULL;
            }
            k->op = k->op == SK_KEYWORD ? SK_FLAGS_ON : SK_FLAGS_OFF;
            k->n = f;
            return k;
        }
        k->field = xstrdup(kw);
        return k;
    }
    if (strcasecmp(atom, "HEADER") == 0) {
        k = sk_new(SK_HEADER, SK_COST_HEADER);
        struct imap_str name;
        if (!imap_p_sp(ps) || !imap_p_astring(ps, sp->cmd, &name) || name.file) {
            skey_free(k);
            fail_bad(sp, "HEADER needs a field name");
            return NULL;
        }
        if (name.len > 200 || !valid_header_name(name.s, name.len)) {
            skey_free(k);
            fail_bad(sp, "Invalid header field name");
            return NULL;
        }
        k->field = xstrndup(name.s, name.len);
        for (char *p = k->field; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (!parse_needle(sp, k)) {
            skey_free(k);
            return NULL;
        }
        return k;
    }
    if (strcasecmp(atom, "BODY") == 0 || strcasecmp(atom, "TEXT") == 0) {
        k = sk_new(toupper((unsigned char)atom[0]) == 'B' ? SK_BODY : SK_TEXT, SK_COST_BODY);
        if (!parse_needle(sp, k)) {
            skey_free(k);
            return NULL;
        }
        return k;
    }
    if (strcasecmp(atom, "MODSEQ") == 0) {
        k = sk_new(SK_MODSEQ, SK_COST_RECORD);
        if (!imap_p_sp(ps)) {
            skey_free(k);
            fail_bad(sp, "MODSEQ needs a value");
            return NULL;
        }
        if (peekc(ps) == '"') {
            /* search-modseq-ext = SP entry-name SP entry-type-req, where
             * entry-name = DQUOTE "/flags/" attr-flag DQUOTE (quoted only,
             * with "\\" for the backslash of a system flag) and
             * entry-type-req = "priv" / "shared" / "all". We keep no
             * per-flag mod-sequences, so RFC 7162 3.1.5 says we "MUST
             * ignore" both and use the message's modseq, which is what
             * SK_MODSEQ compares. They are still parsed strictly so that
             * malformed commands get BAD. */
            struct imap_str entry;
            char *type = NULL;
            if (!imap_p_string(ps, sp->cmd, &entry) || entry.literal || !imap_p_sp(ps) ||
                !(type = imap_p_atom(ps, sp->cmd)) ||
                (strcasecmp(type, "priv") != 0 && strcasecmp(type, "shared") != 0 &&
                 strcasecmp(type, "all") != 0) ||
                !imap_p_sp(ps) || !modseq_entry_valid(entry.s, entry.len)) {
                skey_free(k);
                fail_bad(sp, "Invalid MODSEQ entry");
                return NULL;
            }
        }
        if (!imap_p_number64(ps, &k->n)) {
            skey_free(k);
            fail_bad(sp, "Invalid mod-sequence value");
            return NULL;
        }
        return k;
    }
    if (strcasecmp(atom, "EMAILID") == 0 || strcasecmp(atom, "THREADID") == 0) {
        k = sk_new(toupper((unsigned char)atom[0]) == 'E' ? SK_EMAILID : SK_THREADID, SK_COST_RECORD);
        char *id = imap_p_sp(ps) ? imap_p_atom(ps, sp->cmd) : NULL;
        if (!id || strlen(id) > 255) {
            skey_free(k);
            fail_bad(sp, "Object id expected");
            return NULL;
        }
        k->str = xstrdup(id);
        k->slen = strlen(id);
        return k;
    }
    fail_bad(sp, "Unknown search key");
    return NULL;
}

static bool tree_has_modseq(const struct skey *k)
{
    if (k->op == SK_MODSEQ)
        return true;
    for (size_t i = 0; i < k->nkids; i++)
        if (tree_has_modseq(k->kids[i]))
            return true;
    return false;
}

static bool parse_return(struct sparse *sp, struct search_query *q)
{
    struct imap_parser *ps = sp->ps;
    q->esearch = true;
    if (!imap_p_sp(ps) || !imap_p_char(ps, '('))
        return fail_bad(sp, "RETURN needs a list");
    if (imap_p_char(ps, ')')) {
        q->ret = SR_ALL;    /* RFC 4731 3.1: "RETURN ()" is RETURN (ALL) */
        return true;
    }
    for (;;) {
        char *opt = imap_p_atom(ps, sp->cmd);
        if (!opt)
            return fail_bad(sp, "Invalid RETURN option");
        if (strcasecmp(opt, "MIN") == 0)
            q->ret |= SR_MIN;
        else if (strcasecmp(opt, "MAX") == 0)
            q->ret |= SR_MAX;
        else if (strcasecmp(opt, "ALL") == 0)
            q->ret |= SR_ALL;
        else if (strcasecmp(opt, "COUNT") == 0)
            q->ret |= SR_COUNT;
        else if (strcasecmp(opt, "SAVE") == 0)
            q->ret |= SR_SAVE;
        else
            return fail_bad(sp, "Unknown RETURN option");
        if (imap_p_char(ps, ')'))
            break;
        if (!imap_p_sp(ps))
            return fail_bad(sp, "Expected SP or ')' in RETURN options");
    }
    return true;
}

bool search_parse(struct imap_parser *ps, struct imap_cmd *cmd, int maxdepth, struct search_query *q,
                  const char **status, const char **code, const char **err)
{
    struct sparse sp = {.ps = ps, .cmd = cmd, .maxdepth = maxdepth > 0 ? maxdepth : 64};
    memset(q, 0, sizeof(*q));
    if (!imap_p_sp(ps)) {
        fail_bad(&sp, "Missing search program");
        goto fail;
    }
    /* Optional RETURN and CHARSET, each an atom followed by arguments. */
    for (int i = 0; i < 2; i++) {
        const char *save = ps->p;
        size_t savefile = ps->next_file;
        char *atom = (peekc(ps) >= 'A') ? imap_p_atom(ps, cmd) : NULL;
        if (atom && strcasecmp(atom, "RETURN") == 0 && i == 0 && !q->esearch) {
            if (!parse_return(&sp, q))
                goto fail;
        } else if (atom && strcasecmp(atom, "CHARSET") == 0 && !q->charset) {
            struct imap_str cs;
            if (!imap_p_sp(ps) || !imap_p_astring(ps, cmd, &cs) || cs.file || cs.len == 0 || cs.len > 64 ||
                memchr(cs.s, '\0', cs.len)) {
                fail_bad(&sp, "CHARSET needs a charset name");
                goto fail;
            }
            q->charset = xstrndup(cs.s, cs.len);
            if (strcasecmp(q->charset, "US-ASCII") != 0 && strcasecmp(q->charset, "UTF-8") != 0 &&
                !charset_known(q->charset)) {
                fail_no(&sp, "BADCHARSET (US-ASCII UTF-8)", "Unsupported charset");
                goto fail;
            }
            if (strcasecmp(q->charset, "US-ASCII") != 0 && strcasecmp(q->charset, "UTF-8") != 0)
                sp.charset = q->charset;
            i = 1;
        } else {
            ps->p = save;
            ps->next_file = savefile;
            ps->error = NULL;
            break;
        }
        if (!imap_p_sp(ps)) {
            fail_bad(&sp, "Missing search keys");
            goto fail;
        }
    }
    q->root = parse_key_list(&sp, 1, false);
    if (!q->root)
        goto fail;
    q->uses_modseq = tree_has_modseq(q->root);
    return true;
fail:
    {
        /* Keep the RETURN options: the caller needs to know whether SAVE
         * was asked for to apply RFC 5182 2.1 on failure. */
        unsigned ret = q->ret;
        search_query_free(q);
        memset(q, 0, sizeof(*q));
        q->ret = ret;
    }
    *status = sp.status ? sp.status : "BAD";
    *code = sp.code;
    *err = sp.err ? sp.err : "Invalid search program";
    return false;
}

/* ---- evaluation ------------------------------------------------------- */

static bool has_keyword(const char *list, const char *kw)
{
    size_t kl = strlen(kw);
    const char *p = list;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == kl && strncasecmp(p, kw, kl) == 0)
            return true;
        p = e;
    }
    return false;
}

static bool in_sorted(const uint32_t *a, size_t n, uint32_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] == v)
            return true;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool search_header_match(const char *hdr, size_t len, const char *name, const char *needle, size_t nlen)
{
    size_t namelen = strlen(name);
    size_t i = 0;
    bool found = false;
    while (i < len && !found) {
        /* One field: from i to the line end not followed by WSP. */
        size_t start = i;
        if (hdr[i] == '\r' || hdr[i] == '\n')
            break;  /* blank line: end of header */
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
        if (fl != namelen || strncasecmp(hdr + start, name, namelen) != 0)
            continue;
        if (nlen == 0)
            return true;
        /* Unfold and decode the value. */
        const char *v = colon + 1;
        size_t vlen = (size_t)(hdr + e - v);
        struct buf raw = BUF_INIT, dec = BUF_INIT;
        for (size_t j = 0; j < vlen; j++)
            if (v[j] != '\r' && v[j] != '\n')
                buf_putc(&raw, v[j]);
        mime_decode_header_utf8(&dec, buf_cstr(&raw), raw.len);
        found = mime_utf8_contains_ci(buf_cstr(&dec), dec.len, needle, nlen);
        buf_free(&raw);
        buf_free(&dec);
    }
    return found;
}

/* The "sent" day of a message for SENTBEFORE/SENTON/SENTSINCE.
 *
 * RFC 9051 6.4.4: the date of the Date: header, disregarding time and
 * timezone, i.e. the calendar date as written. A message without a Date:
 * header, or with one we cannot parse, has no such date; RFC 9051 does not
 * say what to do then. We fall back to the INTERNALDATE (in its own zone)
 * like other servers (Dovecot does the same): the Date: header is normally
 * absent only on drafts and locally injected mail, for which the time the
 * message arrived is the best estimate of when it was sent, and it means
 * that every message has some sent date, so "SENTBEFORE d OR SENTSINCE d"
 * matches every message as a client would expect. */
static int64_t sent_day(const struct search_msg *m)
{
    const struct msg_record *r = m->rec;
    const char *hdr;
    size_t len;
    if (m->get_header && m->get_header(m->arg, &hdr, &len)) {
        char *v = mime_header_get(hdr, len, "date");
        if (v) {
            int64_t t;
            int tz;
            bool ok = mime_parse_date(v, &t, &tz);
            free(v);
            if (ok)
                return search_day_of(t, tz);
        }
    }
    return search_day_of(r->internaldate, r->internaldate_tz);
}

static bool text_match(const struct search_msg *m, const struct skey *k)
{
    const char *hdr, *body;
    size_t hlen, blen;
    if (k->slen == 0)
        return true;
    if (m->get_header && m->get_header(m->arg, &hdr, &hlen)) {
        struct buf dec = BUF_INIT;
        mime_decode_header_utf8(&dec, hdr, hlen);
        bool found = mime_utf8_contains_ci(buf_cstr(&dec), dec.len, k->str, k->slen);
        buf_free(&dec);
        if (found)
            return true;
    }
    if (m->get_body_text && m->get_body_text(m->arg, &body, &blen))
        return mime_utf8_contains_ci(body, blen, k->str, k->slen);
    return false;
}

bool search_eval(const struct skey *k, const struct search_msg *m)
{
    const struct msg_record *r = m->rec;
    switch (k->op) {
    case SK_ALL:
        return true;
    case SK_AND:
        for (size_t i = 0; i < k->nkids; i++)
            if (!search_eval(k->kids[i], m))
                return false;
        return true;
    case SK_OR:
        return search_eval(k->kids[0], m) || search_eval(k->kids[1], m);
    case SK_NOT:
        return !search_eval(k->kids[0], m);
    case SK_SEQ:
        if (k->set.dollar)
            return in_sorted(m->searchres, m->nsearchres, r->uid);
        return set_contains(&k->set, m->msn, m->max_msn);
    case SK_UID:
        if (k->set.dollar)
            return in_sorted(m->searchres, m->nsearchres, r->uid);
        return set_contains(&k->set, r->uid, m->max_uid);
    case SK_FLAGS_ON:
        return (r->flags & k->n) == k->n;
    case SK_FLAGS_OFF:
        return (r->flags & k->n) == 0;
    case SK_KEYWORD:
        return has_keyword(r->keywords, k->field);
    case SK_UNKEYWORD:
        return !has_keyword(r->keywords, k->field);
    case SK_RECENT:
        return m->recent;
    case SK_NEW:
        return m->recent && !(r->flags & MSG_SEEN);
    case SK_OLD:
        return !m->recent;
    case SK_LARGER:
        return r->size > k->n;
    case SK_SMALLER:
        return r->size < k->n;
    case SK_BEFORE:
        return search_day_of(r->internaldate, r->internaldate_tz) < k->day;
    case SK_ON:
        return search_day_of(r->internaldate, r->internaldate_tz) == k->day;
    case SK_SINCE:
        return search_day_of(r->internaldate, r->internaldate_tz) >= k->day;
    case SK_SAVEDATESUPPORTED:
        return true;
    case SK_SAVEDBEFORE:
    case SK_SAVEDON:
    case SK_SAVEDSINCE: {
        /* RFC 8514: save date, falling back to the internal date. */
        int64_t t = r->savedate ? r->savedate : r->internaldate;
        int64_t d = search_day_of(t, r->internaldate_tz);
        return k->op == SK_SAVEDBEFORE ? d < k->day : k->op == SK_SAVEDON ? d == k->day : d >= k->day;
    }
    case SK_OLDER:
        return m->now - r->internaldate >= (int64_t)k->n;
    case SK_YOUNGER:
        return m->now - r->internaldate <= (int64_t)k->n;
    case SK_MODSEQ:
        return r->modseq >= k->n;
    case SK_EMAILID: {
        char id[40];
        search_emailid(r, id);
        return strcmp(id, k->str) == 0;
    }
    case SK_THREADID:
        return r->threadid[0] && k->str[0] == 'T' && strcmp(r->threadid, k->str + 1) == 0;
    case SK_SENTBEFORE:
    case SK_SENTON:
    case SK_SENTSINCE: {
        int64_t d = sent_day(m);
        return k->op == SK_SENTBEFORE ? d < k->day : k->op == SK_SENTON ? d == k->day : d >= k->day;
    }
    case SK_HEADER: {
        const char *hdr;
        size_t len;
        if (!m->get_header || !m->get_header(m->arg, &hdr, &len))
            return false;
        return search_header_match(hdr, len, k->field, k->str, k->slen);
    }
    case SK_BODY: {
        const char *body;
        size_t blen;
        if (k->slen == 0)
            return true;
        if (!m->get_body_text || !m->get_body_text(m->arg, &body, &blen))
            return false;
        return mime_utf8_contains_ci(body, blen, k->str, k->slen);
    }
    case SK_TEXT:
        return text_match(m, k);
    }
    return false;
}
