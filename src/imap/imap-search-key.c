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
/* All search strings of one program together: they are compiled into the
 * multi-needle matchers (about 25 bytes per byte), so this bounds a
 * SEARCH's working memory at a few MB. */
#define SEARCH_MAX_STRINGS_TOTAL (256 * 1024)

struct sparse {
    struct imap_parser *ps;
    struct imap_cmd *cmd;
    const char *charset;    /* NULL = US-ASCII/UTF-8 */
    int maxdepth;
    size_t nkeys;
    size_t strings_total;   /* bytes of all search strings so far */
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
        /* A NUL can also come out of the conversion (UTF-7 "+AAA-"):
         * refused as in the string as sent, so that str is a C string
         * of exactly slen bytes. */
        if (memchr(buf_cstr(&b), '\0', b.len)) {
            buf_free(&b);
            return fail_bad(sp, "NUL in search string");
        }
        k->slen = b.len;
        k->str = xstrndup(buf_cstr(&b), b.len);
        buf_free(&b);
    } else {
        k->slen = s.len;
        k->str = xstrndup(s.s, s.len);
    }
    sp->strings_total += k->slen;
    if (sp->strings_total > SEARCH_MAX_STRINGS_TOTAL)
        return fail_no(sp, "LIMIT", "Search strings too long in total");
    return true;
}

/* Sequence sets of SEARCH keys are tested once per message, so they are
 * put in a form that answers in O(log ranges) instead of scanning every
 * range ("UID SEARCH UID 1,3,5,...,299999" on a million messages would
 * otherwise cost 10^11 steps): ranges ordered (lo <= hi), sorted by lo and
 * merged. The value of '*' (the highest MSN/UID, known only at
 * evaluation) is not needed: with n <= max always, a range "a:*" holds n
 * iff n >= a or n == max (a > max), so it becomes a:4294967295 and the set
 * remembers (set->star, from the parser) that max is in it. A literal
 * 4294967295 is a number, not '*' (RFC 9051 9), and adds no max. */
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
        if (set->r[i].lo == SEQ_STAR)
            set->r[i].lo = UINT32_MAX;
        if (set->r[i].hi == SEQ_STAR)
            set->r[i].hi = UINT32_MAX;
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
    return set->star && n == max;
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
            /* RFC 9051 6.4.4: FROM, TO, CC and BCC look at the envelope's
             * addresses: besides the field's text, its parsed mailboxes
             * (mime_hfield_addresses), unlike HEADER FROM. */
            k->addr = strcmp(k->field, "subject") != 0;
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
    if (strcasecmp(atom, "UIDAFTER") == 0 || strcasecmp(atom, "UIDBEFORE") == 0) {
        /* RFC 9738 3.2: UIDAFTER n = UIDs above n, UIDBEFORE n = UIDs
         * below n ("UIDBEFORE 1" and "UIDAFTER 4294967295": none). */
        bool after = toupper((unsigned char)atom[3]) == 'A';
        uint64_t n;
        if (!imap_p_sp(ps) || !imap_p_number64(ps, &n) || n == 0 || n > UINT32_MAX) {
            fail_bad(sp, "UIDAFTER and UIDBEFORE need a UID");
            return NULL;
        }
        if (after ? n == UINT32_MAX : n == 1) {
            k = sk_new(SK_NOT, SK_COST_RECORD);
            sk_add_kid(k, sk_new(SK_ALL, SK_COST_RECORD));
            return k;
        }
        k = sk_new(SK_UID, SK_COST_RECORD);
        if (after)
            seqset_add(&k->set, (uint32_t)n + 1, UINT32_MAX);
        else
            seqset_add(&k->set, 1, (uint32_t)n - 1);
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
        else if (strcasecmp(opt, "UPDATE") == 0)
            q->ret |= SR_UPDATE;
        else if (strcasecmp(opt, "CONTEXT") == 0)
            q->ret |= SR_CONTEXT;
        else if (strcasecmp(opt, "PARTIAL") == 0) {
            /* RFC 9394 3.1: at most one PARTIAL (checked against ALL below) */
            if (q->ret & SR_PARTIAL)
                return fail_bad(sp, "PARTIAL given twice");
            char *rng = imap_p_sp(ps) ? imap_p_atom(ps, sp->cmd) : NULL;
            if (!rng || !partial_range_parse(rng, &q->partial))
                return fail_bad(sp, "PARTIAL needs a range (1:100 or -1:-100)");
            q->ret |= SR_PARTIAL;
        } else
            return fail_bad(sp, "Unknown RETURN option");
        if (imap_p_char(ps, ')'))
            break;
        if (!imap_p_sp(ps))
            return fail_bad(sp, "Expected SP or ')' in RETURN options");
    }
    /* RFC 9394 3.1, RFC 5267 4.4: either one PARTIAL, one ALL, or neither */
    if ((q->ret & SR_PARTIAL) && (q->ret & SR_ALL))
        return fail_bad(sp, "PARTIAL and ALL cannot be combined");
    /* CONTEXT and UPDATE ask for no result data (RFC 5267 4.2, 4.3): with
     * nothing else the list is treated as empty, i.e. as (ALL) (RFC 4731
     * 3.1), which gives an updating client its starting point. */
    if (!(q->ret & (SR_MIN | SR_MAX | SR_ALL | SR_COUNT | SR_SAVE | SR_PARTIAL)))
        q->ret |= SR_ALL;
    return true;
}

static bool parse_nz32(const char **p, uint32_t *out)
{
    const char *s = *p;
    if (*s < '1' || *s > '9')
        return false;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return false;
        s++;
    }
    *out = (uint32_t)v;
    *p = s;
    return true;
}

/* RFC 9394 4: partial-range-first = nz-number ":" nz-number,
 * partial-range-last = MINUS nz-number ":" MINUS nz-number */
bool partial_range_parse(const char *s, struct partial_range *pr)
{
    memset(pr, 0, sizeof(*pr));
    pr->neg = *s == '-';
    if (pr->neg)
        s++;
    if (!parse_nz32(&s, &pr->a) || *s++ != ':')
        return false;
    if (pr->neg && *s++ != '-')
        return false;
    return parse_nz32(&s, &pr->b) && *s == '\0';
}

void partial_range_slice(const struct partial_range *pr, size_t n, size_t *start, size_t *end)
{
    /* "500:400 is the same as 400:500" */
    size_t lo = MIN(pr->a, pr->b), hi = MAX(pr->a, pr->b);
    if (!pr->neg) {
        *start = lo - 1;
        *end = MIN(hi, n);
    } else {
        /* -1 is the last result: -lo:-hi are indexes n-hi .. n-lo */
        *start = n >= hi ? n - hi : 0;
        *end = n >= lo ? n - lo + 1 : 0;
    }
    if (*start >= *end)
        *start = *end = 0;
}

void partial_range_write(struct buf *b, const struct partial_range *pr)
{
    if (pr->neg)
        buf_printf(b, "-%u:-%u", pr->a, pr->b);
    else
        buf_printf(b, "%u:%u", pr->a, pr->b);
}

/* charset = astring; known to iconv, or BADCHARSET (RFC 9051 6.4.4). */
static bool parse_charset(struct sparse *sp, struct search_query *q)
{
    struct imap_str cs;
    if (!imap_p_astring(sp->ps, sp->cmd, &cs) || cs.file || cs.len == 0 || cs.len > 64 ||
        memchr(cs.s, '\0', cs.len))
        return fail_bad(sp, "CHARSET needs a charset name");
    q->charset = xstrndup(cs.s, cs.len);
    if (strcasecmp(q->charset, "US-ASCII") != 0 && strcasecmp(q->charset, "UTF-8") != 0 &&
        !charset_known(q->charset))
        return fail_no(sp, "BADCHARSET (US-ASCII UTF-8)", "Unsupported charset");
    if (strcasecmp(q->charset, "US-ASCII") != 0 && strcasecmp(q->charset, "UTF-8") != 0)
        sp->charset = q->charset;
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
            if (!imap_p_sp(ps)) {
                fail_bad(&sp, "CHARSET needs a charset name");
                goto fail;
            }
            if (!parse_charset(&sp, q))
                goto fail;
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

bool search_parse_sort(struct imap_parser *ps, struct imap_cmd *cmd, int maxdepth, bool allow_return,
                       bool (*criteria)(void *arg, struct imap_parser *ps, struct imap_cmd *cmd, const char **err),
                       void *arg, struct search_query *q, const char **status, const char **code, const char **err)
{
    struct sparse sp = {.ps = ps, .cmd = cmd, .maxdepth = maxdepth > 0 ? maxdepth : 64};
    memset(q, 0, sizeof(*q));
    const char *cerr = NULL;
    if (!imap_p_sp(ps)) {
        fail_bad(&sp, "Missing arguments");
        goto fail;
    }
    if (allow_return && peekc(ps) >= 'A') {
        /* RFC 5267 3: RETURN (...) right after the command name */
        const char *save = ps->p;
        size_t savefile = ps->next_file;
        char *atom = imap_p_atom(ps, cmd);
        if (atom && strcasecmp(atom, "RETURN") == 0) {
            if (!parse_return(&sp, q))
                goto fail;
            if (!imap_p_sp(ps)) {
                fail_bad(&sp, "Missing arguments");
                goto fail;
            }
        } else {
            ps->p = save;
            ps->next_file = savefile;
            ps->error = NULL;
        }
    }
    if (!criteria(arg, ps, cmd, &cerr)) {
        fail_bad(&sp, cerr ? cerr : "Invalid criteria");
        goto fail;
    }
    /* RFC 5256: the charset is mandatory here, and bare */
    if (!imap_p_sp(ps)) {
        fail_bad(&sp, "Missing charset");
        goto fail;
    }
    if (!parse_charset(&sp, q))
        goto fail;
    if (!imap_p_sp(ps)) {
        fail_bad(&sp, "Missing search keys");
        goto fail;
    }
    q->root = parse_key_list(&sp, 1, false);
    if (!q->root)
        goto fail;
    q->uses_modseq = tree_has_modseq(q->root);
    return true;
fail:
    {
        unsigned ret = q->ret;
        search_query_free(q);
        memset(q, 0, sizeof(*q));
        q->ret = ret;
    }
    *status = sp.status ? sp.status : "BAD";
    *code = sp.code;
    *err = sp.err ? sp.err : "Invalid arguments";
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
    size_t pos = 0;
    struct mime_sfield f;
    while (mime_sfield_next(hdr, len, &pos, &f)) {
        if (f.name_len != namelen || strncasecmp(f.name, name, namelen) != 0)
            continue;
        if (nlen == 0)
            return true;
        struct buf dec = BUF_INIT;
        mime_sfield_decode(&f, &dec);
        bool found = mime_utf8_contains_ci(buf_cstr(&dec), dec.len, needle, nlen);
        buf_free(&dec);
        if (found)
            return true;
    }
    return false;
}

/* ---- per-command evaluation state ---------------------------------------
 *
 * Every TEXT/BODY needle of the program goes into one multi-needle
 * matcher, and the HEADER needles into one matcher per field name, built
 * once per command. For each message the header is fetched once, decoded
 * once for TEXT, indexed once (fields sorted by name) for HEADER, each
 * named field decoded once, and the body text fetched and scanned once:
 * whatever the number of keys, a message costs one pass over each text
 * (issue 9 item 4: 10,000 NOT TEXT keys used to decode and scan the
 * message 10,000 times). Keys find their matcher slot by binary search. */

struct hgroup {
    const char *field;          /* lowercase (the keys' own string) */
    bool addr;                  /* FROM/TO/CC/BCC keys, not HEADER ones */
    struct mime_multimatch *mm; /* the group's non-empty needles */
    uint8_t *seen;
    unsigned gen;               /* message generation of seen */
};

struct keyslot {
    const struct skey *k;
    size_t group;               /* SK_HEADER: index into groups */
    size_t id;                  /* needle id in its matcher */
};

struct search_state {
    struct keyslot *slots;
    size_t nslots;
    struct mime_multimatch *text;   /* TEXT and BODY needles */
    uint8_t *seen_hdr, *seen_body;
    struct hgroup *groups;
    size_t ngroups;
    struct search_stats stats;
    /* the current message */
    unsigned gen;
    bool hdr_tried, hdr_ok;
    const char *hdr;
    size_t hdr_len;
    bool hdr_scanned, hdr_text_ok;
    bool body_scanned, body_ok;
    bool index_built;
    struct mime_sfield *fields;     /* sorted by name, case-insensitively */
    size_t nfields;
    bool sent_done;
    int64_t sent;
};

static void collect_keys(const struct skey *k, struct keyslot **v, size_t *n, size_t *cap)
{
    if ((k->op == SK_TEXT || k->op == SK_BODY || k->op == SK_HEADER) && k->str) {
        ARRAY_GROW(*v, *n, *cap);
        (*v)[*n].k = k;
        (*v)[*n].group = 0;
        (*v)[*n].id = 0;
        (*n)++;
    }
    for (size_t i = 0; i < k->nkids; i++)
        collect_keys(k->kids[i], v, n, cap);
}

static int cmp_slot_field(const void *x, const void *y)
{
    const struct keyslot *a = x, *b = y;
    int c = strcmp(a->k->field ? a->k->field : "", b->k->field ? b->k->field : "");
    if (c)
        return c;
    if (a->k->addr != b->k->addr)
        return a->k->addr ? 1 : -1;
    return (uintptr_t)a->k < (uintptr_t)b->k ? -1 : (uintptr_t)a->k > (uintptr_t)b->k;
}

static int cmp_slot_key(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t)((const struct keyslot *)x)->k, b = (uintptr_t)((const struct keyslot *)y)->k;
    return a < b ? -1 : a > b;
}

struct search_state *search_state_new(const struct skey *root)
{
    struct search_state *st = xcalloc(1, sizeof(*st));
    size_t cap = 0;
    if (root)
        collect_keys(root, &st->slots, &st->nslots, &cap);
    st->text = mime_multimatch_new();
    /* HEADER keys grouped by field name. */
    if (st->nslots)
        qsort(st->slots, st->nslots, sizeof(*st->slots), cmp_slot_field);
    for (size_t i = 0; i < st->nslots; i++) {
        struct keyslot *ks = &st->slots[i];
        if (ks->k->op != SK_HEADER) {
            ks->id = mime_multimatch_add(st->text, ks->k->str, ks->k->slen);
            continue;
        }
        if (!st->ngroups || strcmp(st->groups[st->ngroups - 1].field, ks->k->field) != 0 ||
            st->groups[st->ngroups - 1].addr != ks->k->addr) {
            st->groups = xrealloc(st->groups, (st->ngroups + 1) * sizeof(*st->groups));
            struct hgroup *g = &st->groups[st->ngroups++];
            memset(g, 0, sizeof(*g));
            g->field = ks->k->field;
            g->addr = ks->k->addr;
            g->mm = mime_multimatch_new();
        }
        ks->group = st->ngroups - 1;
        ks->id = mime_multimatch_add(st->groups[ks->group].mm, ks->k->str, ks->k->slen);
    }
    mime_multimatch_build(st->text);
    st->seen_hdr = xcalloc(mime_multimatch_states(st->text) + 1, 1);
    st->seen_body = xcalloc(mime_multimatch_states(st->text) + 1, 1);
    for (size_t g = 0; g < st->ngroups; g++) {
        mime_multimatch_build(st->groups[g].mm);
        st->groups[g].seen = xcalloc(mime_multimatch_states(st->groups[g].mm) + 1, 1);
    }
    if (st->nslots)
        qsort(st->slots, st->nslots, sizeof(*st->slots), cmp_slot_key);
    st->gen = 1;
    return st;
}

void search_state_next(struct search_state *st)
{
    st->gen++;
    st->hdr_tried = st->hdr_ok = false;
    st->hdr = NULL;
    st->hdr_len = 0;
    st->hdr_scanned = st->hdr_text_ok = false;
    st->body_scanned = st->body_ok = false;
    st->index_built = false;
    free(st->fields);
    st->fields = NULL;
    st->nfields = 0;
    st->sent_done = false;
}

void search_state_free(struct search_state *st)
{
    if (!st)
        return;
    search_state_next(st);
    mime_multimatch_free(st->text);
    for (size_t g = 0; g < st->ngroups; g++) {
        mime_multimatch_free(st->groups[g].mm);
        free(st->groups[g].seen);
    }
    free(st->groups);
    free(st->seen_hdr);
    free(st->seen_body);
    free(st->slots);
    free(st);
}

const struct search_stats *search_state_stats(const struct search_state *st)
{
    return &st->stats;
}

static const struct keyslot *slot_of(const struct search_state *st, const struct skey *k)
{
    size_t lo = 0, hi = st->nslots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->slots[mid].k == k)
            return &st->slots[mid];
        if ((uintptr_t)st->slots[mid].k < (uintptr_t)k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The raw header block of the current message, fetched once. */
static bool state_header(struct search_state *st, const struct search_msg *m, const char **hdr, size_t *len)
{
    if (!st->hdr_tried) {
        st->hdr_tried = true;
        st->stats.header_loads++;
        st->hdr_ok = m->get_header && m->get_header(m->arg, &st->hdr, &st->hdr_len);
    }
    if (!st->hdr_ok)
        return false;
    *hdr = st->hdr;
    *len = st->hdr_len;
    return true;
}

/* TEXT: the whole header block decoded once and scanned for every needle. */
static void scan_header_text(struct search_state *st, const struct search_msg *m)
{
    if (st->hdr_scanned)
        return;
    st->hdr_scanned = true;
    const char *hdr;
    size_t hlen;
    if (!state_header(st, m, &hdr, &hlen))
        return;
    st->hdr_text_ok = true;
    st->stats.header_decodes++;
    struct buf dec = BUF_INIT;
    mime_decode_header_utf8(&dec, hdr, hlen);
    memset(st->seen_hdr, 0, mime_multimatch_states(st->text) + 1);
    mime_multimatch_scan(st->text, buf_cstr(&dec), dec.len, st->seen_hdr, 0);
    buf_free(&dec);
}

/* TEXT and BODY: the body text fetched once and scanned for every needle. */
static void scan_body_text(struct search_state *st, const struct search_msg *m)
{
    if (st->body_scanned)
        return;
    st->body_scanned = true;
    const char *body;
    size_t blen;
    st->stats.body_loads++;
    if (!m->get_body_text || !m->get_body_text(m->arg, &body, &blen))
        return;
    st->body_ok = true;
    memset(st->seen_body, 0, mime_multimatch_states(st->text) + 1);
    mime_multimatch_scan(st->text, body, blen, st->seen_body, 0);
}

static int cmp_sfield(const void *x, const void *y)
{
    const struct mime_sfield *a = x, *b = y;
    int c = mime_field_name_cmp(a->name, a->name_len, b->name, b->name_len);
    if (c)
        return c;
    return a->name < b->name ? -1 : a->name > b->name; /* header order among equal names */
}

/* HEADER: the fields of the current message sorted by name, built once,
 * so each key finds its fields in O(log fields). */
static bool build_index(struct search_state *st, const struct search_msg *m)
{
    if (st->index_built)
        return st->hdr_ok;
    st->index_built = true;
    const char *hdr;
    size_t len;
    if (!state_header(st, m, &hdr, &len))
        return false;
    st->stats.header_indexes++;
    size_t cap = 0, pos = 0;
    struct mime_sfield f;
    while (mime_sfield_next(hdr, len, &pos, &f)) {
        ARRAY_GROW(st->fields, st->nfields, cap);
        st->fields[st->nfields++] = f;
    }
    if (st->nfields)
        qsort(st->fields, st->nfields, sizeof(*st->fields), cmp_sfield);
    return true;
}

/* First field named name (lowercase) in the index, or nfields. */
static size_t find_field(const struct search_state *st, const char *name)
{
    size_t nl = strlen(name), lo = 0, hi = st->nfields;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mime_field_name_cmp(st->fields[mid].name, st->fields[mid].name_len, name, nl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->nfields && mime_field_name_cmp(st->fields[lo].name, st->fields[lo].name_len, name, nl) == 0 ? lo
                                                                                                  : st->nfields;
}

/* HEADER on Subject, From, To, Cc or Bcc from the message's hfields: the
 * values were decoded when the message was stored; each occurrence is
 * matched on its own, as in header_key. */
static bool hfields_key(struct search_state *st, const struct search_msg *m, const struct skey *k,
                        enum mime_hfield want)
{
    size_t pos = 0, vlen;
    enum mime_hfield id;
    const char *val;
    if (k->slen == 0) {
        /* "" matches every message that has the field (RFC 9051 6.4.4) */
        while (mime_hfields_next(m->hfields, m->hfields_len, &pos, &id, &val, &vlen))
            if (id == want)
                return true;
        return false;
    }
    const struct keyslot *ks = slot_of(st, k);
    if (!ks)
        return false;
    struct hgroup *g = &st->groups[ks->group];
    if (g->gen != st->gen) {
        g->gen = st->gen;
        st->stats.hfield_scans++;
        memset(g->seen, 0, mime_multimatch_states(g->mm) + 1);
        size_t nseen = 0;
        bool after_want = false;    /* MIME_HF_ADDRESSES follows its field */
        while (mime_hfields_next(m->hfields, m->hfields_len, &pos, &id, &val, &vlen)) {
            if (id == MIME_HF_ADDRESSES) {
                if (after_want && g->addr)
                    nseen = mime_multimatch_scan(g->mm, val, vlen, g->seen, nseen);
                continue;
            }
            after_want = id == want;
            if (after_want)
                nseen = mime_multimatch_scan(g->mm, val, vlen, g->seen, nseen);
        }
    }
    return mime_multimatch_found(g->mm, g->seen, ks->id);
}

static bool header_key(struct search_state *st, const struct search_msg *m, const struct skey *k)
{
    if (m->hfields) {
        enum mime_hfield id = mime_hfield_id(k->field, strlen(k->field));
        if (id != MIME_HF_NONE)
            return hfields_key(st, m, k, id);
    }
    if (!build_index(st, m))
        return false;
    size_t i = find_field(st, k->field);
    if (i == st->nfields)
        return false;
    if (k->slen == 0)
        return true; /* the field is present */
    const struct keyslot *ks = slot_of(st, k);
    if (!ks)
        return false;
    struct hgroup *g = &st->groups[ks->group];
    if (g->gen != st->gen) {
        /* Every field of this name decoded once, all the group's needles
         * looked for in one pass over each (no match across fields). */
        g->gen = st->gen;
        memset(g->seen, 0, mime_multimatch_states(g->mm) + 1);
        size_t nseen = 0, nl = strlen(k->field);
        for (size_t j = i; j < st->nfields && mime_field_name_cmp(st->fields[j].name, st->fields[j].name_len, k->field, nl) == 0;
             j++) {
            struct buf dec = BUF_INIT;
            st->stats.field_decodes++;
            mime_sfield_decode(&st->fields[j], &dec);
            nseen = mime_multimatch_scan(g->mm, buf_cstr(&dec), dec.len, g->seen, nseen);
            if (g->addr) {  /* as hfields' MIME_HF_ADDRESSES */
                buf_reset(&dec);
                mime_hfield_addresses(&dec, st->fields[j].val, st->fields[j].val_len);
                nseen = mime_multimatch_scan(g->mm, buf_cstr(&dec), dec.len, g->seen, nseen);
            }
            buf_free(&dec);
        }
    }
    return mime_multimatch_found(g->mm, g->seen, ks->id);
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
 * matches every message as a client would expect. Computed once per
 * message. */
static int64_t sent_day(struct search_state *st, const struct search_msg *m)
{
    if (st->sent_done)
        return st->sent;
    st->sent_done = true;
    const struct msg_record *r = m->rec;
    const char *hdr;
    size_t len;
    if (state_header(st, m, &hdr, &len)) {
        char *v = mime_header_get(hdr, len, "date");
        if (v) {
            int64_t t;
            int tz;
            bool ok = mime_parse_date(v, &t, &tz);
            free(v);
            if (ok)
                return st->sent = search_day_of(t, tz);
        }
    }
    return st->sent = search_day_of(r->internaldate, r->internaldate_tz);
}

static bool text_match(struct search_state *st, const struct search_msg *m, const struct skey *k)
{
    if (k->slen == 0)
        return true;
    const struct keyslot *ks = slot_of(st, k);
    if (!ks)
        return false;
    scan_header_text(st, m);
    if (st->hdr_text_ok && mime_multimatch_found(st->text, st->seen_hdr, ks->id))
        return true;
    scan_body_text(st, m);
    return st->body_ok && mime_multimatch_found(st->text, st->seen_body, ks->id);
}

static bool body_match(struct search_state *st, const struct search_msg *m, const struct skey *k)
{
    if (k->slen == 0)
        return true;
    const struct keyslot *ks = slot_of(st, k);
    if (!ks)
        return false;
    scan_body_text(st, m);
    return st->body_ok && mime_multimatch_found(st->text, st->seen_body, ks->id);
}

static bool eval(const struct skey *k, const struct search_msg *m, struct search_state *st)
{
    const struct msg_record *r = m->rec;
    switch (k->op) {
    case SK_ALL:
        return true;
    case SK_AND:
        for (size_t i = 0; i < k->nkids; i++)
            if (!eval(k->kids[i], m, st))
                return false;
        return true;
    case SK_OR:
        return eval(k->kids[0], m, st) || eval(k->kids[1], m, st);
    case SK_NOT:
        return !eval(k->kids[0], m, st);
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
        int64_t d = sent_day(st, m);
        return k->op == SK_SENTBEFORE ? d < k->day : k->op == SK_SENTON ? d == k->day : d >= k->day;
    }
    case SK_HEADER:
        return header_key(st, m, k);
    case SK_BODY:
        return body_match(st, m, k);
    case SK_TEXT:
        return text_match(st, m, k);
    }
    return false;
}

unsigned search_needs(const struct skey *k)
{
    unsigned need = 0;
    switch (k->op) {
    case SK_HEADER:
        need = mime_hfield_id(k->field, strlen(k->field)) != MIME_HF_NONE ? SEARCH_HDR_FIELDS : SEARCH_HDR_RAW;
        break;
    case SK_SENTBEFORE:
    case SK_SENTON:
    case SK_SENTSINCE:
    case SK_TEXT:
        need = SEARCH_HDR_RAW;
        break;
    default:
        break;
    }
    for (size_t i = 0; i < k->nkids; i++)
        need |= search_needs(k->kids[i]);
    return need;
}

bool search_eval(const struct skey *k, const struct search_msg *m)
{
    if (m->state)
        return eval(k, m, m->state);
    /* One message on its own: a state just for it. */
    struct search_state *st = search_state_new(k);
    bool r = eval(k, m, st);
    search_state_free(st);
    return r;
}
