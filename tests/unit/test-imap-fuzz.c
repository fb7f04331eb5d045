/* test-imap-fuzz.c - deterministic in-process fuzzing of the IMAP
 * tokenizer and parsers: imap_p_* (imap-parser.c), search_parse
 * (imap-search-key.c), fetch_parse / fetch_parse_section
 * (imap-fetch-parse.c), imap_parse_flags, imap_p_status_items,
 * mutf7_to_utf8 and imap_list_match (imap-mailbox-name.c).
 *
 * Inputs are generated from a small IMAP grammar (atoms, quoted strings
 * with escapes, literals with right and wrong lengths, nested lists,
 * sequence sets with huge numbers, '*', '$', 8-bit bytes, NUL, bare CR/LF)
 * and mutated (bit flips, insertions, deletions, splices, duplications).
 * The seed is fixed, so a failure is reproducible; DARIUS_FUZZ_ITERATIONS
 * sets the iteration count (default 200000), DARIUS_FUZZ_SEED the seed.
 *
 * Checked: no crash (and, under SAN=1, no ASan/UBSan report), the parser
 * cursor never leaves the command text and never moves backwards, returned
 * tokens lie inside the text and are well formed, the LIST matcher agrees
 * with a naive reference matcher, accepted modified UTF-7 is valid UTF-8
 * and converts back to the same bytes, and pathological inputs (10,000
 * nested parentheses, 10,000 '*' patterns) are answered quickly. */
#include "unit.h"
#include "imap.h"
#include "imap-search.h"
#include "imap-fetch.h"
#include <stdint.h>
#include <time.h>

/* ---- deterministic PRNG (xorshift64*) ---------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static size_t rn(size_t n) /* 0..n-1 */
{
    return n ? (size_t)(rnd() % n) : 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SORT-like criteria for search_parse_sort: "(" atom *(SP atom) ")". */
static bool fuzz_criteria(void *arg, struct imap_parser *ps, struct imap_cmd *cmd, const char **err)
{
    (void)arg;
    if (!imap_p_char(ps, '(')) {
        *err = "no list";
        return false;
    }
    for (;;) {
        if (!imap_p_atom(ps, cmd)) {
            *err = "no atom";
            return false;
        }
        if (imap_p_char(ps, ')'))
            return true;
        if (!imap_p_sp(ps)) {
            *err = "no SP";
            return false;
        }
    }
}

/* ---- grammar generator -------------------------------------------------- */

static const char *const WORDS[] = {
    "FETCH", "SEARCH", "SORT", "REVERSE", "SUBJECT", "STORE", "COPY", "MOVE", "UID", "LIST", "LSUB", "STATUS", "APPEND", "REPLACE",
    "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "LOGIN", "AUTHENTICATE", "ENABLE",
    "ALL", "FAST", "FULL", "FLAGS", "UID", "ENVELOPE", "INTERNALDATE", "RFC822", "RFC822.SIZE",
    "RFC822.HEADER", "RFC822.TEXT", "BODY", "BODY.PEEK", "BODYSTRUCTURE", "BINARY",
    "BINARY.PEEK", "BINARY.SIZE", "MODSEQ", "SAVEDATE", "EMAILID", "THREADID", "HEADER",
    "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME", "CHANGEDSINCE", "VANISHED",
    "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN", "UNANSWERED",
    "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN", "KEYWORD", "UNKEYWORD", "LARGER",
    "SMALLER", "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE",
    "SAVEDON", "SAVEDSINCE", "SAVEDATESUPPORTED", "OLDER", "YOUNGER", "NOT", "OR", "BCC",
    "CC", "FROM", "TO", "SUBJECT", "CHARSET", "UTF-8", "US-ASCII", "ISO-8859-1", "RETURN",
    "MIN", "MAX", "COUNT", "SAVE", "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
    "HIGHESTMODSEQ", "SIZE", "DELETED-STORAGE", "NIL", "INBOX", "\\Seen", "\\Answered",
    "\\Flagged", "\\Deleted", "\\Draft", "\\Recent", "\\*", "\\Foo", "$Junk", "1-Feb-1994",
    "31-Dec-1999", "29-Feb-2001", "0-Jan-0000", "99-Xyz-99999", "\"17-Jul-1996 02:44:25 -0700\"",
    "\"1-Feb-1994 25:61:61 +9999\"", "&AGE-", "&-", "&Jjo-", "&U,BTFw-", "&ZeVnLIqe-", "&",
    "&AAA-", "&2D3cAA-", "&2D0-", "&3AA-", "&____-",
};

static void gen_number(struct buf *b)
{
    switch (rn(8)) {
    case 0: buf_printf(b, "0"); break;
    case 1: buf_printf(b, "4294967295"); break;
    case 2: buf_printf(b, "4294967296"); break;
    case 3: buf_printf(b, "99999999999999999999999"); break;
    case 4: buf_printf(b, "18446744073709551615"); break;
    case 5: {
        uint64_t v = rnd();
        v >>= rn(64);
        buf_printf(b, "%llu", (unsigned long long)v);
        break;
    }
    default: buf_printf(b, "%u", (unsigned)rn(20)); break;
    }
}

static void gen_seqset(struct buf *b)
{
    size_t n = 1 + rn(rn(4) == 0 ? 50 : 4);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_printf(b, ",");
        if (rn(5) == 0)
            buf_printf(b, "*");
        else
            gen_number(b);
        if (rn(2)) {
            buf_printf(b, ":");
            if (rn(3) == 0)
                buf_printf(b, "*");
            else
                gen_number(b);
        }
    }
}

static void gen_quoted(struct buf *b)
{
    buf_printf(b, "\"");
    size_t n = rn(12);
    for (size_t i = 0; i < n; i++) {
        switch (rn(10)) {
        case 0: buf_printf(b, "\\\\"); break;
        case 1: buf_printf(b, "\\\""); break;
        case 2: buf_printf(b, "\\"); break;                  /* bad escape */
        case 3: buf_append(b, "\xc3\xa9", 2); break;          /* UTF-8 */
        case 4: buf_append(b, "\xff\xfe", 2); break;          /* not UTF-8 */
        case 5: buf_append(b, "\0", 1); break;
        case 6: buf_printf(b, "%c", rn(2) ? '\r' : '\n'); break;
        default: buf_printf(b, "%c", (char)('a' + rn(26))); break;
        }
    }
    if (rn(10))
        buf_printf(b, "\"");
}

static void gen_literal(struct buf *b)
{
    size_t n = rn(10);
    size_t claimed = n;
    switch (rn(6)) {
    case 0: claimed = n + 1 + rn(5); break;                   /* longer than the data */
    case 1: claimed = n ? n - 1 : 0; break;
    default: break;
    }
    if (rn(6) == 0)
        buf_printf(b, "~");
    if (rn(15) == 0)
        buf_printf(b, "{4294967296}\r\n");
    else if (rn(15) == 0)
        buf_printf(b, "{99999999999999999999}\r\n");
    else
    {
        /* one rn() per statement: argument evaluation order is unspecified
         * and the sequence must be the same with every compiler */
        const char *plus = rn(3) == 0 ? "+" : "";
        const char *eol = rn(8) == 0 ? "\n" : "\r\n";
        buf_printf(b, "{%zu%s}%s", claimed, plus, eol);
    }
    for (size_t i = 0; i < n; i++) {
        char c = rn(8) == 0 ? (char)rn(256) : (char)('A' + rn(26));
        buf_append(b, &c, 1);
    }
}

static void gen_token(struct buf *b, int depth);

static void gen_list(struct buf *b, int depth)
{
    buf_printf(b, "(");
    size_t n = rn(4);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_printf(b, " ");
        gen_token(b, depth + 1);
    }
    if (rn(10))
        buf_printf(b, ")");
}

static void gen_section(struct buf *b, int depth)
{
    buf_printf(b, "[");
    size_t parts = rn(4) == 0 ? rn(40) : rn(3);
    for (size_t i = 0; i < parts; i++) {
        if (i)
            buf_printf(b, ".");
        gen_number(b);
    }
    if (rn(2)) {
        if (parts)
            buf_printf(b, ".");
        buf_printf(b, "%s", WORDS[rn(sizeof(WORDS) / sizeof(WORDS[0]))]);
        if (rn(2)) {
            buf_printf(b, " ");
            gen_list(b, depth + 1);
        }
    }
    if (rn(8))
        buf_printf(b, "]");
    if (rn(3) == 0) {
        buf_printf(b, "<");
        gen_number(b);
        if (rn(2)) {
            buf_printf(b, ".");
            gen_number(b);
        }
        if (rn(6))
            buf_printf(b, ">");
    }
}

static void gen_token(struct buf *b, int depth)
{
    if (depth > 6) {
        buf_printf(b, "x");
        return;
    }
    switch (rn(16)) {
    case 0: case 1: case 2: case 3: case 4:
        buf_printf(b, "%s", WORDS[rn(sizeof(WORDS) / sizeof(WORDS[0]))]);
        if (rn(4) == 0)
            gen_section(b, depth);
        break;
    case 5: gen_number(b); break;
    case 6: case 7: gen_seqset(b); break;
    case 8: gen_quoted(b); break;
    case 9: gen_literal(b); break;
    case 10: case 11: gen_list(b, depth); break;
    case 12: buf_printf(b, "$"); break;
    case 13: {
        static const char odd[] = {'\0', '\r', '\n', '\x80', '\xff', '(', ')', '[', ']', '{',
                                   '}', '%', '*', '"', '\\', ' ', '~', '<', '>'};
        buf_append(b, &odd[rn(sizeof(odd))], 1);
        break;
    }
    case 14: {
        size_t n = 1 + rn(8);
        for (size_t i = 0; i < n; i++) {
            char c = (char)rn(256);
            buf_append(b, &c, 1);
        }
        break;
    }
    default: {
        char c1 = (char)('a' + rn(26));
        char c2 = (char)('0' + rn(10));
        buf_printf(b, "%c%c", c1, c2);
        break;
    }
    }
}

static void gen_input(struct buf *b)
{
    size_t n = 1 + rn(8);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_printf(b, rn(12) == 0 ? "  " : " ");
        gen_token(b, 0);
    }
}

/* Mostly well-formed FETCH attribute lists and SEARCH programs, so that
 * the parsers get past their first token and mutations land deep inside. */
static const char *const FETCH_ATTS[] = {
    "FLAGS", "UID", "ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.SIZE", "INTERNALDATE", "MODSEQ",
    "EMAILID", "THREADID", "SAVEDATE", "BINARY.SIZE[1]", "BINARY[2.1]", "BODY.PEEK[]",
    "BODY[HEADER]", "BODY[TEXT]<0.10>", "BODY[1]", "BODY[2.2.HEADER]", "BODY[3.MIME]",
    "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]", "BODY[HEADER.FIELDS.NOT (DATE \"X-A\" {3}\r\nabc)]<5.4294967295>",
    "BINARY.PEEK[1]<4294967295.1>", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "BODY[1.2.3.4.5.6.7.8.9.10]",
    "BINARY[1.MIME]", "BODY[0]", "BODY[]<0.0>", "BODY[]<4294967296.1>",
    "PREVIEW", "PREVIEW (LAZY)", "PREVIEW (LAZY LAZY)", "PREVIEW (", "PREVIEW (FOO)", "PREVIEW ()",
};
static const char *const SEARCH_KEYS[] = {
    "ALL", "SEEN", "UNSEEN", "NEW", "OLD", "RECENT", "DELETED", "LARGER 10", "SMALLER 4294967296",
    "SUBJECT x", "BODY \"a b\"", "TEXT {3}\r\n\xc3\xa9x", "HEADER Content-Type mixed", "FROM alice",
    "SINCE 1-Jan-1990", "BEFORE 29-Feb-2001", "SENTON \"7-Feb-1994\"", "KEYWORD $Junk",
    "UNKEYWORD \\Seen", "UID 1:*", "1:3,5", "$", "MODSEQ 1", "MODSEQ \"/flags/\\seen\" all 5",
    "OLDER 1", "YOUNGER 0", "EMAILID Mx", "THREADID T1", "SAVEDATESUPPORTED", "SAVEDON 1-Feb-1994",
    "NOT", "OR", "(", ")", "NOT NOT", "OR (", "CC", "BCC", "TO \"\"",
};

static void gen_fetch_input(struct buf *b)
{
    gen_seqset(b);
    buf_printf(b, " ");
    size_t n = rn(5);
    if (n == 0) {
        buf_printf(b, "%s", FETCH_ATTS[rn(sizeof(FETCH_ATTS) / sizeof(FETCH_ATTS[0]))]);
    } else {
        buf_printf(b, "(");
        for (size_t i = 0; i < n; i++)
            buf_printf(b, "%s%s", i ? " " : "", FETCH_ATTS[rn(sizeof(FETCH_ATTS) / sizeof(FETCH_ATTS[0]))]);
        buf_printf(b, ")");
    }
    static const char *const mods[] = {"", "", " (CHANGEDSINCE 1)", " (CHANGEDSINCE 5 VANISHED)",
                                       " (VANISHED)", " (CHANGEDSINCE 18446744073709551616)", " ()"};
    buf_printf(b, "%s", mods[rn(sizeof(mods) / sizeof(mods[0]))]);
}

static void gen_search_input(struct buf *b)
{
    buf_printf(b, " ");
    static const char *const pre[] = {"", "", "RETURN (MIN MAX) ", "RETURN (SAVE) ", "RETURN () ",
                                      "RETURN (COUNT ALL) ", "CHARSET UTF-8 ", "CHARSET BOGUS ",
                                      "RETURN (MIN) CHARSET US-ASCII "};
    buf_printf(b, "%s", pre[rn(sizeof(pre) / sizeof(pre[0]))]);
    size_t n = 1 + rn(8);
    for (size_t i = 0; i < n; i++)
        buf_printf(b, "%s%s", i ? " " : "", SEARCH_KEYS[rn(sizeof(SEARCH_KEYS) / sizeof(SEARCH_KEYS[0]))]);
}

static void gen_any(struct buf *b)
{
    switch (rn(3)) {
    case 0: gen_fetch_input(b); break;
    case 1: gen_search_input(b); break;
    default: gen_input(b); break;
    }
}

/* Mutations of an existing input. */
static void mutate(struct buf *b)
{
    size_t k = 1 + rn(4);
    for (size_t m = 0; m < k; m++) {
        size_t len = b->len;
        switch (rn(6)) {
        case 0:
            if (len) {
                size_t at = rn(len);
                b->data[at] ^= (char)(1u << rn(8));
            }
            break;
        case 1: { /* insert a byte */
            char c = (char)rn(256);
            size_t at = rn(len + 1);
            buf_append(b, &c, 1);
            memmove(b->data + at + 1, b->data + at, len - at);
            b->data[at] = c;
            break;
        }
        case 2: /* delete a range */
            if (len) {
                size_t at = rn(len), n = 1 + rn(len - at);
                memmove(b->data + at, b->data + at + n, len - at - n);
                b->len -= n;
            }
            break;
        case 3: /* truncate */
            if (len)
                b->len = rn(len);
            break;
        case 4: /* duplicate a slice at the end */
            if (len && len < 4096) {
                size_t at = rn(len), n = 1 + rn(len - at);
                char tmp[4096];
                memcpy(tmp, b->data + at, n);
                buf_append(b, tmp, n);
            }
            break;
        default: { /* splice in a fresh token */
            struct buf t = {0};
            gen_token(&t, 0);
            buf_append(b, t.data, t.len);
            buf_free(&t);
            break;
        }
        }
    }
}

/* ---- harness around the parser ------------------------------------------ */

struct tp {
    struct imap_cmd cmd;
    struct imap_parser ps;
    const char *start, *end;
};

static void tp_init(struct tp *t, const char *data, size_t len, bool utf8)
{
    memset(t, 0, sizeof(*t));
    buf_append(&t->cmd.ct.text, data, len);
    /* buf_append may leave data NULL for len 0: keep a valid pointer */
    if (!t->cmd.ct.text.data)
        buf_reserve(&t->cmd.ct.text, 1);
    imap_parser_init(&t->ps, &t->cmd.ct, 0, utf8);
    t->start = t->ps.p;
    t->end = t->ps.end;
}

static void tp_free(struct tp *t)
{
    for (size_t i = 0; i < t->cmd.nallocs; i++)
        free(t->cmd.allocs[i]);
    free(t->cmd.allocs);
    buf_free(&t->cmd.ct.text);
}

static int fails;
static bool trace;   /* DARIUS_FUZZ_TRACE=1: one line per input (to compare builds) */
static long n_search_ok, n_fetch_ok, n_section_ok, n_flags_ok, n_status_ok, n_mutf7_ok;
static char fail_note[256];

static void fail_input(const char *what, const char *data, size_t len)
{
    fails++;
    if (fails > 10)
        return;
    fprintf(stderr, "fuzz: %s on input (%zu bytes): \"", what, len);
    for (size_t i = 0; i < len && i < 300; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "\"%s\n", fail_note);
}

static bool in_text(const struct tp *t, const char *p)
{
    return p >= t->start && p <= t->end;
}

/* Random walk of tokenizer calls; returns false when an invariant broke. */
static bool walk_tokens(struct tp *t)
{
    for (int step = 0; step < 64; step++) {
        const char *before = t->ps.p;
        bool ok = true;
        struct imap_str s;
        char *a;
        uint32_t u;
        uint64_t u64;
        int64_t tm;
        int tz;
        bool nil;
        switch (rn(17)) {
        case 0: ok = imap_p_sp(&t->ps); break;
        case 1: ok = imap_p_char(&t->ps, "()[]{}<>.$*"[rn(11)]); break;
        case 2:
            a = imap_p_atom(&t->ps, &t->cmd);
            ok = a != NULL;
            if (a) {
                if (!*a)
                    return false;
                for (const char *x = a; *x; x++)
                    if (!imap_is_atom_char((unsigned char)*x))
                        return false;
            }
            break;
        case 3:
            a = imap_p_astring_chars(&t->ps, &t->cmd);
            ok = a != NULL;
            break;
        case 4: case 5: case 6:
            memset(&s, 0, sizeof(s));
            if (rn(3) == 0)
                ok = imap_p_string(&t->ps, &t->cmd, &s);
            else if (rn(2))
                ok = imap_p_astring(&t->ps, &t->cmd, &s);
            else
                ok = imap_p_nstring(&t->ps, &t->cmd, &s, &nil);
            if (ok && s.literal && !s.file) {
                /* a literal's bytes are in the command text */
                if (!s.s || !in_text(t, s.s) || !in_text(t, s.s + s.len))
                    return false;
            }
            if (ok && !s.literal && s.len && !s.s)
                return false;
            break;
        case 7:
            a = imap_p_astring_cstr(&t->ps, &t->cmd);
            ok = a != NULL;
            break;
        case 8: ok = imap_p_number(&t->ps, &u); break;
        case 9:
            ok = imap_p_nznumber(&t->ps, &u);
            if (ok && u == 0)
                return false;
            break;
        case 10: ok = imap_p_number64(&t->ps, &u64); break;
        case 11: {
            struct seqset set = {0};
            ok = imap_p_seqset(&t->ps, &set);
            if (ok && !set.dollar) {
                if (set.n == 0)
                    ok = false, snprintf(fail_note, sizeof(fail_note), " (empty seqset accepted)");
                for (size_t i = 0; i < set.n; i++)
                    /* 0 is SEQ_STAR; a literal 0 is refused */
                    if ((set.r[i].lo == SEQ_STAR || set.r[i].hi == SEQ_STAR) && !set.star) {
                        snprintf(fail_note, sizeof(fail_note), " (seqset with 0)");
                        seqset_free(&set);
                        return false;
                    }
                /* membership queries on the parsed set must not misbehave */
                uint32_t q1 = (uint32_t)rnd();
                uint32_t q2 = (uint32_t)rnd();
                (void)seqset_contains(&set, q1, q2);
                (void)seqset_contains(&set, UINT32_MAX, UINT32_MAX);
            }
            seqset_free(&set);
            if (fail_note[0] == ' ' && !ok)
                return false;
            break;
        }
        case 12:
            a = NULL;
            ok = imap_p_flag(&t->ps, &t->cmd, &a);
            if (ok && (!a || !*a))
                return false;
            break;
        case 13: ok = imap_p_date(&t->ps, &tm); break;
        case 14: ok = imap_p_datetime(&t->ps, &tm, &tz); break;
        case 15:
            a = imap_p_list_mailbox(&t->ps, &t->cmd);
            ok = a != NULL;
            break;
        default:
            (void)imap_p_peek(&t->ps, "( )"[rn(3)]);
            if (imap_p_end(&t->ps))
                return true;
            break;
        }
        if (trace)
            fprintf(stderr, "%d", ok);
        if (!in_text(t, t->ps.p) || t->ps.p < before) {
            snprintf(fail_note, sizeof(fail_note), " (cursor out of range)");
            return false;
        }
        if (!ok || t->ps.p >= t->end)
            return true;
    }
    return true;
}

static void fuzz_one(const char *data, size_t len)
{
    struct tp t;
    /* fetch_parse wants the text from the space after the sequence set
     * (both parsers expect the leading SP); other parsers
     * see it from the start */
    size_t fskip = 0;
    while (fskip < len && data[fskip] != ' ')
        fskip++;
    if (fskip == len)
        fskip = 0;
    fail_note[0] = '\0';
    bool utf8 = rn(2);

    if (trace) {
        fprintf(stderr, "\nin %zu ", len);
        for (size_t i = 0; i < len; i++)
            fprintf(stderr, "%02x", (unsigned char)data[i]);
        fprintf(stderr, " ");
    }
    tp_init(&t, data, len, utf8);
    if (!walk_tokens(&t))
        fail_input("tokenizer invariant", data, len);
    tp_free(&t);

    /* SEARCH program */
    tp_init(&t, data, len, utf8);
    {
        struct search_query q;
        memset(&q, 0, sizeof(q));
        const char *status = NULL, *code = NULL, *err = NULL;
        bool ok = search_parse(&t.ps, &t.cmd, 1 + (int)rn(64), &q, &status, &code, &err);
        n_search_ok += ok;
        if (trace)
            fprintf(stderr, "S%d:%s ", ok, ok ? "" : err);
        if (ok && !q.root)
            fail_input("search_parse ok without a program", data, len);
        if (!ok && !err)
            fail_input("search_parse failed without an error text", data, len);
        if (!in_text(&t, t.ps.p))
            fail_input("search_parse cursor out of range", data, len);
        search_query_free(&q);
    }
    tp_free(&t);

    /* SORT/THREAD program (search_parse_sort) with a criteria list */
    tp_init(&t, data, len, utf8);
    {
        struct search_query q;
        memset(&q, 0, sizeof(q));
        const char *status = NULL, *code = NULL, *err = NULL;
        bool ok = search_parse_sort(&t.ps, &t.cmd, 1 + (int)rn(64), rn(2) == 0, fuzz_criteria, NULL, &q,
                                    &status, &code, &err);
        if (ok && !q.root)
            fail_input("search_parse_sort ok without a program", data, len);
        if (!ok && !err)
            fail_input("search_parse_sort failed without an error text", data, len);
        if (!in_text(&t, t.ps.p))
            fail_input("search_parse_sort cursor out of range", data, len);
        search_query_free(&q);
    }
    tp_free(&t);

    /* FETCH items */
    tp_init(&t, data + fskip, len - fskip, utf8);
    {
        struct fetch_req req;
        memset(&req, 0, sizeof(req));
        const char *err = NULL;
        bool ok = fetch_parse(&t.ps, &t.cmd, &req, &err);
        n_fetch_ok += ok;
        if (trace)
            fprintf(stderr, "F%d:%s ", ok, ok ? "" : err);
        if (ok && req.nitems == 0)
            fail_input("fetch_parse ok without items", data + fskip, len - fskip);
        if (!ok && !err)
            fail_input("fetch_parse failed without an error text", data, len);
        if (ok) {
            struct buf b = {0};
            for (size_t i = 0; i < req.nitems; i++) {
                if (!req.items[i].name)
                    fail_input("fetch item without a name", data, len);
                if (strnlen(req.items[i].sec.part, sizeof(req.items[i].sec.part)) >= sizeof(req.items[i].sec.part))
                    fail_input("section part not terminated", data, len);
                fetch_section_write(&b, &req.items[i].sec);
                size_t st, n;
                fetch_partial_slice(rn(1000), req.items[i].partial, req.items[i].offset,
                                    req.items[i].count, &st, &n);
            }
            buf_free(&b);
        }
        fetch_req_free(&req);
    }
    tp_free(&t);

    /* a section spec alone (as after "BODY[") */
    tp_init(&t, data, len, utf8);
    {
        struct fetch_section sec;
        memset(&sec, 0, sizeof(sec));
        const char *err = NULL;
        bool ok = fetch_parse_section(&t.ps, &t.cmd, rn(2), &sec, &err);
        n_section_ok += ok;
        if (trace)
            fprintf(stderr, "X%d ", ok);
        if (ok) {
            struct buf b = {0};
            fetch_section_write(&b, &sec);
            buf_free(&b);
        }
        /* fields are cmd allocations or owned: fetch_req_free releases them
         * when the section is inside a request */
        struct fetch_req req;
        memset(&req, 0, sizeof(req));
        req.items = xcalloc(1, sizeof(*req.items));
        req.items[0].type = FI_SECTION;
        req.items[0].sec = sec;
        req.nitems = 1;
        fetch_req_free(&req);
    }
    tp_free(&t);

    /* flags and STATUS items */
    tp_init(&t, data, len, utf8);
    {
        uint32_t flags = 0;
        struct buf kw = {0};
        const char *err = NULL;
        n_flags_ok += imap_parse_flags(&t.ps, &t.cmd, rn(2), &flags, &kw, &err);
        buf_free(&kw);
        if (!in_text(&t, t.ps.p))
            fail_input("imap_parse_flags cursor out of range", data, len);
    }
    tp_free(&t);
    tp_init(&t, data, len, utf8);
    {
        unsigned items = 0;
        n_status_ok += imap_p_status_items(&t.ps, &t.cmd, &items);
    }
    tp_free(&t);
}

/* ---- modified UTF-7 ----------------------------------------------------- */

static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static void gen_mutf7(struct buf *b)
{
    size_t n = rn(6);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,/=";
    for (size_t i = 0; i < n; i++) {
        switch (rn(5)) {
        case 0: {
            buf_printf(b, "&");
            size_t m = rn(12);
            for (size_t j = 0; j < m; j++)
                buf_append(b, &b64[rn(sizeof(b64) - 1)], 1);
            if (rn(6))
                buf_printf(b, "-");
            break;
        }
        case 1: buf_printf(b, "&-"); break;
        case 2: {
            char c = (char)rn(256);
            buf_append(b, &c, 1);
            break;
        }
        default: buf_printf(b, "%c", (char)(' ' + rn(95))); break;
        }
    }
}

static void fuzz_mutf7(const char *data, size_t len)
{
    struct buf out = {0};
    if (mutf7_to_utf8(data, len, &out)) {
        n_mutf7_ok++;
        fail_note[0] = '\0';
        if (!valid_utf8((const unsigned char *)out.data, out.len))
            fail_input("mutf7_to_utf8 accepted input and produced invalid UTF-8", data, len);
        struct buf back = {0};
        utf8_to_mutf7(out.data ? out.data : "", out.len, &back);
        if (back.len != len || (len && memcmp(back.data, data, len) != 0)) {
            snprintf(fail_note, sizeof(fail_note), " (re-encodes to %zu bytes \"%.*s\")", back.len,
                     (int)(back.len > 100 ? 100 : back.len), back.data ? back.data : "");
            fail_input("mutf7 round trip differs (non-canonical input accepted)", data, len);
        }
        buf_free(&back);
    }
    buf_free(&out);
}

/* ---- LIST matching against a naive reference ---------------------------- */

static bool ref_match(const char *p, const char *n, const char *name0, char sep, bool inbox)
{
    if (!*p)
        return !*n;
    if (*p == '*') {
        for (const char *x = n;; x++) {
            if (ref_match(p + 1, x, name0, sep, inbox))
                return true;
            if (!*x)
                return false;
        }
    }
    if (*p == '%') {
        for (const char *x = n;; x++) {
            if (ref_match(p + 1, x, name0, sep, inbox))
                return true;
            if (!*x || *x == sep)
                return false;
        }
    }
    if (!*n)
        return false;
    bool eq = *p == *n;
    if (!eq && inbox && n - name0 < 5 && (unsigned char)*p < 0x80)
        eq = (*p | 0x20) == (*n | 0x20);
    return eq && ref_match(p + 1, n + 1, name0, sep, inbox);
}

static void gen_name(char *out, size_t cap, bool pattern)
{
    static const char pch[] = "ab/.%*Ii";
    static const char nch[] = "ab/.Ii";
    size_t n = rn(cap - 1 < 10 ? cap - 1 : 10);
    size_t i = 0;
    if (!pattern && rn(4) == 0 && cap > 8) {
        memcpy(out, "INBOX", 5);
        i = 5;
        n += 5;
        if (n >= cap)
            n = cap - 1;
    }
    for (; i < n; i++)
        out[i] = pattern ? pch[rn(sizeof(pch) - 1)] : nch[rn(sizeof(nch) - 1)];
    out[n] = '\0';
    if (pattern && rn(4) == 0) /* case games with INBOX */
        memcpy(out, "inBox%", n >= 6 ? 6 : 0);
}

static void fuzz_list_match(void)
{
    char pat[16], name[16];
    gen_name(pat, sizeof(pat), true);
    gen_name(name, sizeof(name), false);
    char sep = rn(2) ? '/' : '.';
    size_t nl = strlen(name);
    bool inbox = nl >= 5 && memcmp(name, "INBOX", 5) == 0 && (nl == 5 || name[5] == sep);
    bool want = ref_match(pat, name, name, sep, inbox);
    bool got = imap_list_match(pat, name, sep);
    if (want != got) {
        fails++;
        if (fails <= 10)
            fprintf(stderr, "fuzz: imap_list_match(\"%s\", \"%s\", '%c') = %d, reference %d\n", pat, name, sep,
                    got, want);
    }
}

/* ---- the loops ---------------------------------------------------------- */

static long iterations(void)
{
    const char *e = getenv("DARIUS_FUZZ_ITERATIONS");
    long n = e ? strtol(e, NULL, 10) : 200000;
    return n > 0 ? n : 200000;
}

static void test_fuzz_parsers(void)
{
    long n = iterations();
    enum { POOL = 64 };
    struct buf pool[POOL];
    memset(pool, 0, sizeof(pool));
    for (int i = 0; i < POOL; i++)
        gen_any(&pool[i]);
    double t0 = now_s();
    for (long it = 0; it < n; it++) {
        struct buf in = {0};
        if (rn(3) == 0) {
            gen_any(&in);
        } else {
            struct buf *src = &pool[rn(POOL)];
            buf_append(&in, src->data, src->len);
            mutate(&in);
            if (in.len < 2048 && rn(4) == 0) { /* keep interesting mutants */
                struct buf *dst = &pool[rn(POOL)];
                buf_free(dst);
                buf_append(dst, in.data, in.len);
            }
        }
        fuzz_one(in.data ? in.data : "", in.len);
        buf_free(&in);
    }
    for (int i = 0; i < POOL; i++)
        buf_free(&pool[i]);
    fprintf(stderr, "fuzz: %ld parser iterations in %.2f s; accepted: search %ld, fetch %ld, section %ld, "
            "flags %ld, status %ld\n", n, now_s() - t0, n_search_ok, n_fetch_ok, n_section_ok, n_flags_ok,
            n_status_ok);
    CHECK_INT(fails, 0);
    fails = 0;
}

static void test_fuzz_mutf7(void)
{
    long n = iterations() / 2;
    for (long it = 0; it < n; it++) {
        struct buf in = {0};
        gen_mutf7(&in);
        if (rn(4) == 0)
            mutate(&in);
        fuzz_mutf7(in.data ? in.data : "", in.len);
        buf_free(&in);
    }
    fprintf(stderr, "fuzz: %ld mUTF-7 inputs, %ld accepted\n", n, n_mutf7_ok);
    CHECK_INT(fails, 0);
    fails = 0;
}

static void test_fuzz_list_match(void)
{
    long n = iterations() / 2;
    for (long it = 0; it < n; it++)
        fuzz_list_match();
    CHECK_INT(fails, 0);
    fails = 0;
}

/* Pathological sizes: must be refused or answered, and quickly. */
static void test_pathological(void)
{
    enum { N = 10000 };
    struct buf b = {0};
    struct tp t;
    double t0 = now_s();

    /* SEARCH ((((...)))) 10,000 deep and NOT NOT ... */
    for (int i = 0; i < N; i++)
        buf_printf(&b, "(");
    buf_printf(&b, "ALL");
    for (int i = 0; i < N; i++)
        buf_printf(&b, ")");
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1) {
            b.len = 0;
            for (int i = 0; i < N; i++)
                buf_printf(&b, "NOT ");
            buf_printf(&b, "ALL");
        } else if (pass == 2) {
            b.len = 0;
            for (int i = 0; i < N; i++)
                buf_printf(&b, "OR ALL ");
            buf_printf(&b, "ALL");
        }
        tp_init(&t, b.data, b.len, true);
        struct search_query q;
        memset(&q, 0, sizeof(q));
        const char *status = NULL, *code = NULL, *err = NULL;
        bool ok = search_parse(&t.ps, &t.cmd, 64, &q, &status, &code, &err);
        CHECK(!ok);
        CHECK(err != NULL);
        search_query_free(&q);
        tp_free(&t);
    }

    /* FETCH BODY[1.2.3....] 1000 levels */
    b.len = 0;
    buf_printf(&b, "BODY[");
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%s%d", i ? "." : "", i + 1);
    buf_printf(&b, "]");
    tp_init(&t, b.data, b.len, true);
    {
        struct fetch_req req;
        memset(&req, 0, sizeof(req));
        const char *err = NULL;
        CHECK(!fetch_parse(&t.ps, &t.cmd, &req, &err));
        CHECK(err != NULL);
        fetch_req_free(&req);
    }
    tp_free(&t);

    /* HEADER.FIELDS with 10,000 names */
    b.len = 0;
    buf_printf(&b, "BODY.PEEK[HEADER.FIELDS (");
    for (int i = 0; i < N; i++)
        buf_printf(&b, "%sX-%d", i ? " " : "", i);
    buf_printf(&b, ")]");
    tp_init(&t, b.data, b.len, true);
    {
        struct fetch_req req;
        memset(&req, 0, sizeof(req));
        const char *err = NULL;
        (void)fetch_parse(&t.ps, &t.cmd, &req, &err);
        fetch_req_free(&req);
    }
    tp_free(&t);

    /* 100,000 ranges in a sequence set */
    b.len = 0;
    for (int i = 0; i < 100000; i++)
        buf_printf(&b, "%s%d:%d", i ? "," : "", 2 * i + 1, 2 * i + 1);
    tp_init(&t, b.data, b.len, false);
    {
        struct seqset set = {0};
        (void)imap_p_seqset(&t.ps, &set);
        (void)seqset_contains(&set, 7, 1000);
        seqset_free(&set);
    }
    tp_free(&t);

    /* LIST with 10,000 '*' and '%' against a long non-matching name */
    b.len = 0;
    for (int i = 0; i < N; i++)
        buf_printf(&b, "%c", i % 2 ? '*' : '%');
    buf_printf(&b, "x");
    {
        char name[300];
        memset(name, 'a', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        for (size_t i = 20; i < sizeof(name) - 1; i += 20)
            name[i] = '/';
        double l0 = now_s();
        CHECK(!imap_list_match(b.data, name, '/'));
        CHECK(imap_list_match(b.data, "aaax", '/'));
        CHECK(now_s() - l0 < 2.0);
    }
    buf_free(&b);
    CHECK(now_s() - t0 < 10.0);
}

int main(void)
{
    const char *seed = getenv("DARIUS_FUZZ_SEED");
    if (seed)
        rng_state = strtoull(seed, NULL, 0) | 1;
    trace = getenv("DARIUS_FUZZ_TRACE") != NULL;
    RUN(test_pathological);
    RUN(test_fuzz_parsers);
    RUN(test_fuzz_mutf7);
    RUN(test_fuzz_list_match);
    return unit_done();
}
