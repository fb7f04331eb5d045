/* test-imap-search.c - SEARCH key parsing and evaluation, FETCH item
 * parsing, partial ranges, date formatting, flag lists. */
#include "unit.h"
#include "imap-search.h"
#include "imap-fetch.h"
#include "mime.h"
#include <time.h>
#include <ctype.h>

/* A parser over text (as if it followed the command name). */
struct tp {
    struct imap_cmd cmd;
    struct imap_parser ps;
};

static void tp_init(struct tp *t, const char *text)
{
    memset(t, 0, sizeof(*t));
    buf_append(&t->cmd.ct.text, text, strlen(text));
    imap_parser_init(&t->ps, &t->cmd.ct, 0, true);
}

static void tp_free(struct tp *t)
{
    for (size_t i = 0; i < t->cmd.nallocs; i++)
        free(t->cmd.allocs[i]);
    free(t->cmd.allocs);
    buf_free(&t->cmd.ct.text);
}

static bool parse_q(const char *text, struct search_query *q, const char **status, const char **code,
                    const char **err)
{
    struct tp t;
    tp_init(&t, text);
    bool ok = search_parse(&t.ps, &t.cmd, 10, q, status, code, err);
    tp_free(&t);
    return ok;
}

/* ---- synthetic messages ---- */

struct fake {
    const char *hdr;
    const char *body;
    int hdr_loads, body_loads;
};

static bool fake_hdr(void *arg, const char **h, size_t *len)
{
    struct fake *f = arg;
    f->hdr_loads++;
    if (!f->hdr)
        return false;
    *h = f->hdr;
    *len = strlen(f->hdr);
    return true;
}

static bool fake_body(void *arg, const char **b, size_t *len)
{
    struct fake *f = arg;
    f->body_loads++;
    if (!f->body)
        return false;
    *b = f->body;
    *len = strlen(f->body);
    return true;
}

static const char HDR1[] = "From: Alice <alice@example.com>\r\n"
                           "To: bob@example.org\r\n"
                           "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus Bern\r\n"
                           "Date: Mon, 7 Feb 1994 23:30:00 -0800\r\n"
                           "X-Folded: first\r\n second\r\n"
                           "\r\n";

static struct msg_record rec1(void)
{
    struct msg_record r;
    memset(&r, 0, sizeof(r));
    r.uid = 42;
    r.flags = MSG_SEEN | MSG_FLAGGED;
    r.keywords = "$Forwarded Junk";
    r.modseq = 100;
    r.internaldate = 760665600 + 3600;  /* 1994-02-08 01:00 UTC */
    r.internaldate_tz = 0;
    r.size = 2048;
    strcpy(r.guid, "0123456789abcdef0123456789abcdef");
    strcpy(r.threadid, "abc");
    return r;
}

static bool eval_text(const char *text, const struct msg_record *r, struct fake *f, bool recent)
{
    struct search_query q;
    const char *st, *code, *err;
    if (!parse_q(text, &q, &st, &code, &err)) {
        fprintf(stderr, "parse failed for %s: %s\n", text, err);
        return false;
    }
    uint32_t sres[] = {7, 42};
    struct search_msg m = {
        .rec = r, .msn = 5, .max_msn = 10, .max_uid = 50, .recent = recent,
        .now = 760665600 + 86400 * 10, .searchres = sres, .nsearchres = 2,
        .arg = f, .get_header = fake_hdr, .get_body_text = fake_body,
    };
    bool res = search_eval(q.root, &m);
    search_query_free(&q);
    return res;
}

static void test_search_flags_and_sets(void)
{
    struct msg_record r = rec1();
    struct fake f = {HDR1, "hello world", 0, 0};
    CHECK(eval_text(" ALL", &r, &f, false));
    CHECK(eval_text(" SEEN FLAGGED", &r, &f, false));
    CHECK(!eval_text(" UNSEEN", &r, &f, false));
    CHECK(eval_text(" UNANSWERED UNDELETED UNDRAFT", &r, &f, false));
    CHECK(!eval_text(" DELETED", &r, &f, false));
    CHECK(eval_text(" KEYWORD junk", &r, &f, false));
    CHECK(!eval_text(" KEYWORD $MDNSent", &r, &f, false));
    CHECK(eval_text(" UNKEYWORD $MDNSent", &r, &f, false));
    CHECK(eval_text(" KEYWORD \\Seen", &r, &f, false));
    CHECK(eval_text(" 5", &r, &f, false));
    CHECK(eval_text(" 1:4,5", &r, &f, false));
    CHECK(!eval_text(" 1:4", &r, &f, false));
    CHECK(!eval_text(" *", &r, &f, false));
    CHECK(eval_text(" UID 40:*", &r, &f, false));
    CHECK(!eval_text(" UID 1:41", &r, &f, false));
    CHECK(eval_text(" UID $", &r, &f, false));
    CHECK(eval_text(" $", &r, &f, false));
    CHECK(eval_text(" LARGER 2047 SMALLER 2049", &r, &f, false));
    CHECK(!eval_text(" LARGER 2048", &r, &f, false));
    CHECK(eval_text(" RECENT", &r, &f, true));
    CHECK(!eval_text(" NEW", &r, &f, true));  /* seen */
    CHECK(eval_text(" OLD", &r, &f, false));
    CHECK(eval_text(" MODSEQ 100", &r, &f, false));
    CHECK(!eval_text(" MODSEQ 101", &r, &f, false));
    CHECK(eval_text(" MODSEQ \"/flags/\\\\draft\" all 50", &r, &f, false));
    CHECK(eval_text(" EMAILID M0123456789abcdef0123456789abcdef", &r, &f, false));
    CHECK(eval_text(" THREADID Tabc", &r, &f, false));
    CHECK(!eval_text(" THREADID Tabd", &r, &f, false));
    CHECK(eval_text(" OLDER 86400", &r, &f, false));
    CHECK(!eval_text(" YOUNGER 86400", &r, &f, false));
    CHECK(f.hdr_loads == 0 && f.body_loads == 0);   /* none of these opened the message */
}

static void test_search_logic(void)
{
    struct msg_record r = rec1();
    struct fake f = {HDR1, "hello world", 0, 0};
    CHECK(eval_text(" OR DELETED SEEN", &r, &f, false));
    CHECK(!eval_text(" OR DELETED DRAFT", &r, &f, false));
    CHECK(eval_text(" NOT DELETED", &r, &f, false));
    CHECK(eval_text(" (SEEN (FLAGGED NOT DRAFT))", &r, &f, false));
    CHECK(!eval_text(" (SEEN (FLAGGED DRAFT))", &r, &f, false));
    /* Cheap keys decide first: the body is never loaded. */
    f.body_loads = 0;
    CHECK(!eval_text(" BODY hello DELETED", &r, &f, false));
    CHECK_INT(f.body_loads, 0);
    CHECK(eval_text(" BODY hello SEEN", &r, &f, false));
    CHECK_INT(f.body_loads, 1);
}

static void test_search_strings(void)
{
    struct msg_record r = rec1();
    struct fake f = {HDR1, "Hello World, caf\xc3\xa9", 0, 0};
    CHECK(eval_text(" FROM alice", &r, &f, false));
    CHECK(eval_text(" FROM ALICE@EXAMPLE", &r, &f, false));
    CHECK(!eval_text(" FROM bob", &r, &f, false));
    CHECK(eval_text(" TO bob", &r, &f, false));
    CHECK(!eval_text(" CC bob", &r, &f, false));
    CHECK(eval_text(" SUBJECT \"gr\xc3\xbc\xc3\x9f" "e aus\"", &r, &f, false));  /* RFC 2047 decoded */
    CHECK(eval_text(" HEADER X-Folded \"first second\"", &r, &f, false));
    CHECK(eval_text(" HEADER x-folded \"\"", &r, &f, false));
    CHECK(!eval_text(" HEADER X-Missing \"\"", &r, &f, false));
    CHECK(eval_text(" BODY world", &r, &f, false));
    CHECK(eval_text(" BODY \"CAF\xc3\x89\"", &r, &f, false));
    CHECK(!eval_text(" BODY alice", &r, &f, false));
    CHECK(eval_text(" TEXT alice", &r, &f, false));
    CHECK(eval_text(" TEXT world", &r, &f, false));
    CHECK(eval_text(" CHARSET UTF-8 BODY world", &r, &f, false));
    CHECK(eval_text(" CHARSET ISO-8859-1 BODY {4}\r\ncaf\xe9", &r, &f, false));
    /* Missing header data: string keys are false, not errors. */
    struct fake none = {NULL, NULL, 0, 0};
    CHECK(!eval_text(" FROM alice", &r, &none, false));
    CHECK(!eval_text(" BODY x", &r, &none, false));
}

static void test_search_dates(void)
{
    struct msg_record r = rec1();   /* internal date 8-Feb-1994 01:00 UTC */
    struct fake f = {HDR1, "", 0, 0};
    CHECK(eval_text(" ON 8-Feb-1994", &r, &f, false));
    CHECK(eval_text(" SINCE 8-Feb-1994", &r, &f, false));
    CHECK(!eval_text(" BEFORE 8-Feb-1994", &r, &f, false));
    CHECK(eval_text(" BEFORE 9-Feb-1994", &r, &f, false));
    CHECK(!eval_text(" SINCE \"9-Feb-1994\"", &r, &f, false));
    /* In its own zone (-0800) the message arrived on 7 Feb. */
    r.internaldate_tz = -480;
    CHECK(eval_text(" ON 7-Feb-1994", &r, &f, false));
    /* The Date: header says 7 Feb (local), 8 Feb in UTC: local counts. */
    CHECK(eval_text(" SENTON 7-Feb-1994", &r, &f, false));
    CHECK(eval_text(" SENTBEFORE 8-Feb-1994", &r, &f, false));
    CHECK(eval_text(" SENTSINCE 7-Feb-1994", &r, &f, false));
    CHECK(!eval_text(" SENTSINCE 8-Feb-1994", &r, &f, false));
    /* SAVEDATE falls back to the internal date. */
    CHECK(eval_text(" SAVEDON 7-Feb-1994 SAVEDATESUPPORTED", &r, &f, false));
    r.savedate = 760665600 + 86400 * 3;
    CHECK(eval_text(" SAVEDSINCE 10-Feb-1994", &r, &f, false));
    CHECK(!eval_text(" SAVEDBEFORE 10-Feb-1994", &r, &f, false));
    /* No Date: header, or an unparsable one: the INTERNALDATE in its own
     * zone stands in (here 7 Feb in -0800). */
    struct fake nodate = {"Subject: x\r\n\r\n", "", 0, 0};
    CHECK(eval_text(" SENTON 7-Feb-1994", &r, &nodate, false));
    CHECK(eval_text(" SENTSINCE 7-Feb-1994 SENTBEFORE 8-Feb-1994", &r, &nodate, false));
    CHECK(!eval_text(" SENTBEFORE 7-Feb-1994", &r, &nodate, false));
    struct fake baddate = {"Date: someday soon\r\n\r\n", "", 0, 0};
    CHECK(eval_text(" SENTON 7-Feb-1994", &r, &baddate, false));
    CHECK(!eval_text(" SENTSINCE 8-Feb-1994", &r, &baddate, false));
    struct fake nohdr = {NULL, NULL, 0, 0};
    CHECK(eval_text(" SENTON 7-Feb-1994", &r, &nohdr, false));
    r.internaldate_tz = 0;
    CHECK(eval_text(" SENTON 8-Feb-1994", &r, &nodate, false));
    /* with a good Date: header the header wins over the internal date */
    CHECK(eval_text(" SENTON 7-Feb-1994", &r, &f, false));
    r.internaldate_tz = -480;
    CHECK_INT(search_day_of(-1, 0), -1);
    CHECK_INT(search_day_of(86399, 0), 0);
    CHECK_INT(search_day_of(86399, 1), 1);
}

static void test_search_parse_errors(void)
{
    struct search_query q;
    const char *st, *code, *err;
    CHECK(!parse_q(" FOO", &q, &st, &code, &err));
    CHECK_STR(st, "BAD");
    CHECK(!parse_q(" (SEEN", &q, &st, &code, &err));
    CHECK_STR(st, "BAD");
    CHECK(!parse_q(" OR SEEN", &q, &st, &code, &err));
    CHECK(!parse_q(" BEFORE 32-Feb-1994", &q, &st, &code, &err));
    CHECK(!parse_q(" SEEN  DELETED", &q, &st, &code, &err));
    CHECK(!parse_q("", &q, &st, &code, &err));
    CHECK(!parse_q(" CHARSET KLINGON-1 ALL", &q, &st, &code, &err));
    CHECK_STR(st, "NO");
    CHECK_STR(code, "BADCHARSET (US-ASCII UTF-8)");
    CHECK(!parse_q(" ((((((((((((SEEN))))))))))))", &q, &st, &code, &err));
    CHECK_STR(st, "NO");
    CHECK_STR(code, "LIMIT");
    CHECK(!parse_q(" NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT SEEN", &q, &st, &code, &err));
    CHECK_STR(code, "LIMIT");
    CHECK(!parse_q(" RETURN (FOO) ALL", &q, &st, &code, &err));
    CHECK(!parse_q(" OLDER 0", &q, &st, &code, &err));
    CHECK(!parse_q(" HEADER \"a:b\" x", &q, &st, &code, &err));
    /* SEARCH MODSEQ [entry-name entry-type-req] value (RFC 7162 3.1.5) */
    CHECK(!parse_q(" MODSEQ \"/flags/\" all 5", &q, &st, &code, &err));
    CHECK(!parse_q(" MODSEQ \"/flags/\\\\\" all 5", &q, &st, &code, &err));
    CHECK(!parse_q(" MODSEQ \"/flags/a b\" all 5", &q, &st, &code, &err));
    CHECK(!parse_q(" MODSEQ \"/other/x\" all 5", &q, &st, &code, &err));
    CHECK(!parse_q(" MODSEQ \"/flags/\\\\seen\" both 5", &q, &st, &code, &err));
    CHECK(!parse_q(" MODSEQ \"/flags/\\\\seen\" all", &q, &st, &code, &err));
    CHECK(!parse_q(" MODSEQ \"/flags/\\\\seen\" all x", &q, &st, &code, &err));
    CHECK(!parse_q(" MODSEQ {12}\r\n/flags/\\seen all 5", &q, &st, &code, &err));
    CHECK(!parse_q(" MODSEQ", &q, &st, &code, &err));
    CHECK(!parse_q(" MODSEQ -1", &q, &st, &code, &err));
}

/* A search string is refused when it holds NUL after conversion from its
 * CHARSET, as it is when it holds NUL as sent: UTF-7 "+AAA-" is U+0000.
 * It was accepted with slen counting bytes past the NUL that the stored
 * C string does not have, and the matcher read past its end (found by
 * tests/fuzz/fuzz-imap-search). */
static void test_search_charset_nul(void)
{
    struct search_query q;
    const char *st, *code, *err;
    memset(&q, 0, sizeof(q));
    CHECK(!parse_q(" CHARSET UTF-7 SUBJECT +AAA-", &q, &st, &code, &err));
    CHECK_STR(st, "BAD");
    search_query_free(&q);
    memset(&q, 0, sizeof(q));
    CHECK(!parse_q(" CHARSET UTF-7 TEXT \"a+AAA-b\"", &q, &st, &code, &err));
    search_query_free(&q);
    memset(&q, 0, sizeof(q));
    CHECK(parse_q(" CHARSET UTF-7 SUBJECT +AOk-t+AOk-", &q, &st, &code, &err));
    if (q.root) {
        CHECK_STR(q.root->str, "\xc3\xa9t\xc3\xa9");
        CHECK_INT(q.root->slen, 5);
    }
    search_query_free(&q);
}

/* Every accepted form of MODSEQ compares the message modseq: we keep no
 * per-flag modseqs, so RFC 7162 3.1.5 says entry name and type are ignored. */
static void test_search_modseq(void)
{
    struct msg_record r = rec1();   /* modseq 100 */
    struct fake f = {HDR1, "", 0, 0};
    static const char *const forms[] = {
        " MODSEQ ",
        " MODSEQ \"/flags/\\\\seen\" all ",
        " MODSEQ \"/flags/\\\\Draft\" priv ",
        " MODSEQ \"/flags/$Forwarded\" SHARED ",
        " MODSEQ \"/flags/junk\" shared ",
        " MODSEQ \"/FLAGS/\\\\Answered\" All ",
    };
    for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
        char t[128];
        snprintf(t, sizeof(t), "%s100", forms[i]);
        CHECK(eval_text(t, &r, &f, false));
        snprintf(t, sizeof(t), "%s1", forms[i]);
        CHECK(eval_text(t, &r, &f, false));
        snprintf(t, sizeof(t), "%s101", forms[i]);
        CHECK(!eval_text(t, &r, &f, false));
    }
    struct search_query q;
    const char *st, *code, *err;
    CHECK(parse_q(" MODSEQ \"/flags/\\\\seen\" all 7 SEEN", &q, &st, &code, &err));
    CHECK(q.uses_modseq);
    search_query_free(&q);
}

/* Sequence-set keys agree with seqset_contains (the reference) for all
 * kinds of sets, '*' included, and a huge set costs O(log ranges) per
 * message. */
static void test_search_sets(void)
{
    uint64_t seed = 12345;
    for (int iter = 0; iter < 300; iter++) {
        struct buf t = BUF_INIT;
        buf_puts(&t, iter % 2 ? " UID " : " ");
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int nr = 1 + (int)((seed >> 33) % 6);
        for (int i = 0; i < nr; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            unsigned a = 1 + (unsigned)((seed >> 33) % 30), b = 1 + (unsigned)((seed >> 40) % 30);
            int kind = (int)((seed >> 50) % 7);
            if (i)
                buf_putc(&t, ',');
            if (kind == 0)
                buf_printf(&t, "%u", a);
            else if (kind == 1)
                buf_printf(&t, "%u:*", a);
            else if (kind == 2)
                buf_printf(&t, "*:%u", a);
            else if (kind == 3)
                buf_puts(&t, "*");
            else if (kind == 5)     /* a number, not '*' (RFC 9051 9) */
                buf_printf(&t, "%u:4294967295", a);
            else if (kind == 6)
                buf_puts(&t, "4294967295");
            else
                buf_printf(&t, "%u:%u", a, b);
        }
        /* the reference: the set as parsed, unnormalized */
        struct tp ref;
        tp_init(&ref, buf_cstr(&t) + (iter % 2 ? 5 : 1));
        struct seqset set = {0};
        CHECK(imap_p_seqset(&ref.ps, &set));
        struct search_query q;
        const char *st, *code, *err;
        CHECK(parse_q(buf_cstr(&t), &q, &st, &code, &err));
        for (uint32_t max = 1; max <= 32; max += 3) {
            for (uint32_t n = 1; n <= max; n++) {
                struct msg_record r = rec1();
                r.uid = n;
                struct search_msg m = {.rec = &r, .msn = n, .max_msn = max, .max_uid = max};
                if (search_eval(q.root, &m) != seqset_contains(&set, n, max)) {
                    fprintf(stderr, "set %s n %u max %u\n", buf_cstr(&t), n, max);
                    CHECK(false);
                }
            }
        }
        search_query_free(&q);
        seqset_free(&set);
        tp_free(&ref);
        buf_free(&t);
    }
    /* 90,000 ranges (the parser allows 100,000), 200,000 messages: fast
     * (a linear scan per message would take 1.8e10 steps) */
    struct buf t = BUF_INIT;
    buf_puts(&t, " UID ");
    for (uint32_t i = 0; i < 90000; i++)
        buf_printf(&t, "%s%u", i ? "," : "", 2 * (90000 - i) + 1);   /* unsorted */
    struct search_query q;
    const char *st, *code, *err;
    CHECK(parse_q(buf_cstr(&t), &q, &st, &code, &err));
    clock_t c0 = clock();
    size_t hits = 0;
    for (uint32_t n = 1; n <= 200000; n++) {
        struct msg_record r = rec1();
        r.uid = n;
        struct search_msg m = {.rec = &r, .msn = n, .max_msn = 200000, .max_uid = 200000};
        hits += search_eval(q.root, &m);
    }
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    CHECK_INT(hits, 90000);     /* odd UIDs 3..180001 */
    CHECK(secs < 30.0);   /* a complexity bound (quadratic would be ~1.8e10 steps), not a speed test */
    search_query_free(&q);
    buf_free(&t);
}

static void test_search_return(void)
{
    struct search_query q;
    const char *st, *code, *err;
    CHECK(parse_q(" RETURN (MIN MAX COUNT) UNSEEN", &q, &st, &code, &err));
    CHECK(q.esearch);
    CHECK_INT(q.ret, SR_MIN | SR_MAX | SR_COUNT);
    search_query_free(&q);
    CHECK(parse_q(" RETURN () ALL", &q, &st, &code, &err));
    CHECK_INT(q.ret, SR_ALL);
    search_query_free(&q);
    CHECK(parse_q(" RETURN (SAVE) CHARSET UTF-8 MODSEQ 5", &q, &st, &code, &err));
    CHECK_INT(q.ret, SR_SAVE);
    CHECK(q.uses_modseq);
    search_query_free(&q);
    CHECK(parse_q(" SEEN", &q, &st, &code, &err));
    CHECK(!q.esearch && !q.uses_modseq);
    CHECK(q.root->op == SK_FLAGS_ON);
    search_query_free(&q);
    /* AND lists put cheap keys first. */
    CHECK(parse_q(" BODY x FROM y SEEN", &q, &st, &code, &err));
    CHECK(q.root->op == SK_AND && q.root->nkids == 3);
    if (q.root->nkids == 3) {
        CHECK(q.root->kids[0]->op == SK_FLAGS_ON);
        CHECK(q.root->kids[1]->op == SK_HEADER);
        CHECK(q.root->kids[2]->op == SK_BODY);
    }
    search_query_free(&q);
}

static void test_header_match(void)
{
    CHECK(search_header_match(HDR1, strlen(HDR1), "subject", "bern", 4));
    CHECK(!search_header_match(HDR1, strlen(HDR1), "subjec", "", 0));
    CHECK(search_header_match(HDR1, strlen(HDR1), "x-folded", "SECOND", 6));
    /* Fields after the blank line are body, not header. */
    const char h[] = "A: 1\r\n\r\nB: 2\r\n";
    CHECK(!search_header_match(h, strlen(h), "b", "", 0));
    CHECK(search_header_match(h, strlen(h), "a", "1", 1));
}

/* ---- FETCH parsing ---- */

static bool parse_f(const char *text, struct fetch_req *req, const char **err)
{
    struct tp t;
    tp_init(&t, text);
    bool ok = fetch_parse(&t.ps, &t.cmd, req, err);
    tp_free(&t);
    return ok;
}

static void test_fetch_parse(void)
{
    struct fetch_req req;
    const char *err = NULL;
    CHECK(parse_f(" (FLAGS BODY.PEEK[HEADER.FIELDS (From \"X(y\")]<0.100> BINARY[1.2] RFC822.SIZE)",
                  &req, &err));
    CHECK_INT(req.nitems, 4);
    if (req.nitems == 4) {
        CHECK(req.items[0].type == FI_FLAGS);
        CHECK(req.items[1].type == FI_SECTION && req.items[1].peek && req.items[1].partial);
        CHECK_STR(req.items[1].name, "BODY[HEADER.FIELDS (From \"X(y\")]<0>");
        CHECK_INT(req.items[1].sec.nfields, 2);
        CHECK_INT(req.items[1].count, 100);
        CHECK(req.items[2].type == FI_BINARY && !req.items[2].peek);
        CHECK_STR(req.items[2].name, "BINARY[1.2]");
        CHECK_STR(req.items[2].sec.part, "1.2");
    }
    CHECK(req.need_cache && req.need_content && req.sets_seen);
    fetch_req_free(&req);

    CHECK(parse_f(" FULL", &req, &err));
    CHECK_INT(req.nitems, 5);
    CHECK(req.has[FI_ENVELOPE] && req.has[FI_BODY] && req.has[FI_FLAGS]);
    CHECK(!req.need_content && !req.sets_seen);
    fetch_req_free(&req);

    CHECK(parse_f(" FAST", &req, &err));
    CHECK_INT(req.nitems, 3);
    fetch_req_free(&req);

    CHECK(parse_f(" (UID BODY[1.2.MIME] body[3.text] BODY[] RFC822.HEADER RFC822 BINARY.SIZE[2])", &req, &err));
    CHECK_INT(req.nitems, 7);
    if (req.nitems == 7) {
        CHECK_STR(req.items[1].name, "BODY[1.2.MIME]");
        CHECK(req.items[1].sec.kind == SEC_MIME);
        CHECK_STR(req.items[2].name, "BODY[3.TEXT]");
        CHECK_STR(req.items[3].name, "BODY[]");
        CHECK(req.items[4].peek && req.items[4].sec.kind == SEC_HEADER);
        CHECK_STR(req.items[4].name, "RFC822.HEADER");
        CHECK(!req.items[5].peek && req.items[5].sec.kind == SEC_ALL);
        CHECK(req.items[6].type == FI_BINARY_SIZE && req.items[6].peek);
        CHECK_STR(req.items[6].name, "BINARY.SIZE[2]");
    }
    fetch_req_free(&req);

    CHECK(parse_f(" (FLAGS) (CHANGEDSINCE 12345 VANISHED)", &req, &err));
    CHECK(req.has_changedsince && req.vanished);
    CHECK(req.changedsince == 12345);
    CHECK(req.has[FI_MODSEQ]);   /* implied */
    fetch_req_free(&req);

    CHECK(parse_f(" (MODSEQ SAVEDATE EMAILID THREADID INTERNALDATE ENVELOPE BODYSTRUCTURE)", &req, &err));
    CHECK_INT(req.nitems, 7);
    fetch_req_free(&req);

    /* errors */
    CHECK(!parse_f(" (FLAGS VANISHED)", &req, &err));
    CHECK(!parse_f(" FLAGS (VANISHED)", &req, &err));
    CHECK(!parse_f(" (ALL)", &req, &err));
    CHECK(!parse_f(" BODY[MIME]", &req, &err));
    CHECK(!parse_f(" BINARY[TEXT]", &req, &err));
    CHECK(!parse_f(" BODY[0]", &req, &err));
    CHECK(!parse_f(" BODY[1.]", &req, &err));
    CHECK(!parse_f(" BODY[HEADER.FIELDS ()]", &req, &err));
    CHECK(!parse_f(" BODY[HEADER.FIELDS (a:b)]", &req, &err));
    CHECK(!parse_f(" BODY[]<5.0>", &req, &err));
    CHECK(!parse_f(" BODY[]<5>", &req, &err));
    CHECK(!parse_f(" BODY[]<-1.5>", &req, &err));
    CHECK(!parse_f(" BODY[]<1.99999999999999999999>", &req, &err));
    /* number64 (RFC 9051 9): the origin is echoed exactly */
    CHECK(parse_f(" BODY[]<18446744073.9223372036854775807>", &req, &err));
    if (req.nitems == 1) {
        CHECK_STR(req.items[0].name, "BODY[]<18446744073>");
        CHECK(req.items[0].offset == 18446744073ull && req.items[0].count == 9223372036854775807ull);
    }
    fetch_req_free(&req);
    CHECK(parse_f(" BINARY.PEEK[]<4294967295.4294967295>", &req, &err));
    if (req.nitems == 1)
        CHECK(req.items[0].offset == 4294967295u && req.items[0].count == 4294967295u);
    fetch_req_free(&req);
    CHECK(!parse_f(" BODY[TEXT", &req, &err));
    CHECK(!parse_f(" (FLAGS", &req, &err));
    CHECK(!parse_f(" FLAGS junk", &req, &err));
    CHECK(!parse_f(" BINARY.SIZE", &req, &err));
    CHECK(!parse_f("", &req, &err));
}

static void test_fetch_helpers(void)
{
    size_t st, n;
    fetch_partial_slice(100, false, 0, 0, &st, &n);
    CHECK(st == 0 && n == 100);
    fetch_partial_slice(100, true, 10, 20, &st, &n);
    CHECK(st == 10 && n == 20);
    fetch_partial_slice(100, true, 90, 20, &st, &n);
    CHECK(st == 90 && n == 10);
    fetch_partial_slice(100, true, 100, 20, &st, &n);
    CHECK(n == 0);
    fetch_partial_slice(100, true, 4000000000u, 20, &st, &n);
    CHECK(n == 0);
    /* no overflow at the limits (offset + count would wrap) */
    fetch_partial_slice(100, true, UINT32_MAX, UINT32_MAX, &st, &n);
    CHECK(n == 0 && st == 100);
    fetch_partial_slice(100, true, 10, UINT32_MAX, &st, &n);
    CHECK(st == 10 && n == 90);
    fetch_partial_slice(100, true, 99, UINT64_MAX, &st, &n);
    CHECK(st == 99 && n == 1);
    fetch_partial_slice(100, true, UINT64_MAX, UINT64_MAX, &st, &n);
    CHECK(n == 0);
    fetch_partial_slice(SIZE_MAX, true, SIZE_MAX - 1, UINT64_MAX, &st, &n);
    CHECK(st == SIZE_MAX - 1 && n == 1);
    fetch_partial_slice(0, true, 0, 1, &st, &n);
    CHECK(n == 0);

    struct buf b = BUF_INIT;
    imap_format_datetime(&b, 837596665, -420);  /* 17-Jul-1996 02:44:25 -0700 */
    CHECK_STR(buf_cstr(&b), "17-Jul-1996 02:44:25 -0700");
    buf_reset(&b);
    imap_format_datetime(&b, 0, 330);
    CHECK_STR(buf_cstr(&b), "01-Jan-1970 05:30:00 +0530");
    buf_free(&b);

    struct msg_record r = rec1();
    char id[40];
    search_emailid(&r, id);
    CHECK_STR(id, "M0123456789abcdef0123456789abcdef");
}

static void test_flags_parse(void)
{
    struct tp t;
    uint32_t flags;
    struct buf kw = BUF_INIT;
    const char *err;
    tp_init(&t, "(\\Seen \\deleted $Junk foo $junk)");
    CHECK(imap_parse_flags(&t.ps, &t.cmd, true, &flags, &kw, &err));
    CHECK_INT(flags, MSG_SEEN | MSG_DELETED);
    CHECK_STR(buf_cstr(&kw), "$Junk foo");
    tp_free(&t);
    buf_reset(&kw);
    tp_init(&t, "\\Flagged bar");
    CHECK(imap_parse_flags(&t.ps, &t.cmd, false, &flags, &kw, &err));
    CHECK_INT(flags, MSG_FLAGGED);
    CHECK_STR(buf_cstr(&kw), "bar");
    tp_free(&t);
    buf_reset(&kw);
    tp_init(&t, "()");
    CHECK(imap_parse_flags(&t.ps, &t.cmd, true, &flags, &kw, &err));
    CHECK_INT(flags, 0);
    tp_free(&t);
    tp_init(&t, "(\\Recent)");
    CHECK(!imap_parse_flags(&t.ps, &t.cmd, true, &flags, &kw, &err));
    tp_free(&t);
    tp_init(&t, "(\\Bogus)");
    CHECK(!imap_parse_flags(&t.ps, &t.cmd, true, &flags, &kw, &err));
    tp_free(&t);
    tp_init(&t, "\\Seen");
    CHECK(!imap_parse_flags(&t.ps, &t.cmd, true, &flags, &kw, &err));
    tp_free(&t);
    tp_init(&t, "(a b");
    CHECK(!imap_parse_flags(&t.ps, &t.cmd, true, &flags, &kw, &err));
    tp_free(&t);
    buf_free(&kw);
}

/* ---- one decode per message (issue 9 item 4) ---- */

enum { MK_NOT_TEXT, MK_OR_TEXT, MK_NOT_HEADER, MK_MIXED };

static char *many_keys(int kind, int n)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < n; i++) {
        switch (kind) {
        case MK_NOT_TEXT:
            buf_printf(&b, " NOT TEXT zz%dq", i);
            break;
        case MK_OR_TEXT:
            buf_printf(&b, " OR TEXT alice TEXT zz%d", i);
            break;
        case MK_NOT_HEADER:
            buf_printf(&b, " NOT HEADER Subject zz%d", i);
            break;
        default:
            buf_printf(&b, " NOT TEXT zz%dq NOT BODY yy%d NOT HEADER from xx%d", i, i, i);
            break;
        }
    }
    return buf_release(&b);
}

/* 10,000 NOT TEXT keys used to decode the header and scan the body once
 * per key. The header and the body text are now fetched once per message,
 * whatever the number of keys (the fake callbacks count every call). */
static void test_search_decode_once(void)
{
    struct msg_record r = rec1();
    struct fake f = {HDR1, "hello world, a body of text", 0, 0};
    char *keys = many_keys(MK_NOT_TEXT, 1000);
    CHECK(eval_text(keys, &r, &f, false));
    CHECK_INT(f.hdr_loads, 1);
    CHECK_INT(f.body_loads, 1);
    free(keys);

    /* Found in the header: the body is never fetched. */
    f.hdr_loads = f.body_loads = 0;
    keys = many_keys(MK_OR_TEXT, 500);
    CHECK(eval_text(keys, &r, &f, false));
    CHECK_INT(f.hdr_loads, 1);
    CHECK_INT(f.body_loads, 0);
    free(keys);

    /* Thousands of HEADER keys: one header fetch, each named field decoded once. */
    f.hdr_loads = f.body_loads = 0;
    keys = many_keys(MK_NOT_HEADER, 2000);
    char *prog = xasprintf("%s HEADER subject \"gr\xc3\xbc\xc3\x9f" "e\" HEADER X-FOLDED \"\" NOT HEADER X-Missing \"\"", keys);
    CHECK(eval_text(prog, &r, &f, false));
    CHECK_INT(f.hdr_loads, 1);
    CHECK_INT(f.body_loads, 0);
    free(prog);
    free(keys);

    /* The same through a state shared by a command over three messages:
     * per message one header load, one header decode, one body load. */
    struct search_query q;
    const char *st, *code, *err;
    keys = many_keys(MK_MIXED, 300);
    CHECK(parse_q(keys, &q, &st, &code, &err));
    free(keys);
    struct search_state *state = search_state_new(q.root);
    const char *bodies[] = {"one", "two zz7q", "three"};
    bool want[] = {true, false, true};
    for (int i = 0; i < 3; i++) {
        struct fake fm = {HDR1, bodies[i], 0, 0};
        struct search_msg m = {.state = state, .rec = &r, .msn = 1, .max_msn = 3, .max_uid = 50,
                               .arg = &fm, .get_header = fake_hdr, .get_body_text = fake_body};
        search_state_next(state);
        CHECK(search_eval(q.root, &m) == want[i]);
        CHECK_INT(fm.hdr_loads, 1);
        CHECK_INT(fm.body_loads, 1);
    }
    const struct search_stats *ss = search_state_stats(state);
    CHECK_INT(ss->header_loads, 3);
    CHECK_INT(ss->header_decodes, 3);
    CHECK_INT(ss->header_indexes, 3);
    CHECK_INT(ss->field_decodes, 3);  /* one From field per message */
    CHECK_INT(ss->body_loads, 3);
    search_state_free(state);
    search_query_free(&q);
}

/* All search strings of a program together are bounded (they are compiled
 * into the matchers): NO [LIMIT] beyond 256 KiB. */
static void test_search_strings_total(void)
{
    struct buf p = BUF_INIT;
    struct search_query q;
    const char *st, *code, *err;
    for (int i = 0; i < 5; i++) {
        buf_puts(&p, " BODY {60000}\r\n");
        for (int k = 0; k < 60000; k++)
            buf_putc(&p, (char)('a' + (k + i) % 26));
        if (i == 3) {
            CHECK(parse_q(buf_cstr(&p), &q, &st, &code, &err));
            search_query_free(&q);
        }
    }
    CHECK(!parse_q(buf_cstr(&p), &q, &st, &code, &err));
    CHECK_STR(st, "NO");
    CHECK_STR(code, "LIMIT");
    buf_free(&p);
}

/* The reference for FROM/TO/CC/BCC beyond the field text: the needle in
 * the parsed mailboxes of a field of that name (RFC 9051 6.4.4). */
static bool ref_addr_match(const char *hdr, size_t len, const char *name, const char *needle, size_t nlen)
{
    size_t pos = 0;
    struct mime_sfield f;
    while (mime_sfield_next(hdr, len, &pos, &f)) {
        if (f.name_len != strlen(name) || strncasecmp(f.name, name, f.name_len) != 0)
            continue;
        struct buf a = BUF_INIT;
        mime_hfield_addresses(&a, f.val, f.val_len);
        bool found = mime_utf8_contains_ci(buf_cstr(&a), a.len, needle, nlen);
        buf_free(&a);
        if (found)
            return true;
    }
    return false;
}

/* The multi-needle evaluation gives the same answers as the per-key
 * reference (search_header_match, mime_utf8_contains_ci) on random
 * headers, bodies and needles with case variants, non-ASCII, encoded
 * words, folding, repeated fields and overlapping needles. */
static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

static void rnd_word(struct buf *b)
{
    static const char *const parts[] = {"a", "b", "A", "B", "ab", "ba", "\xc3\xa9", "\xc3\x89", "\xcf\x83", "\xce\xa3",
                                        "\xcf\x82", "x", " ", "aa", "Ab"};
    int n = 1 + (int)rnd(4);
    for (int i = 0; i < n; i++)
        buf_puts(b, parts[rnd(sizeof(parts) / sizeof(parts[0]))]);
}

static bool ref_text(const char *hdr, const char *body, const char *nd)
{
    struct buf dec = BUF_INIT;
    mime_decode_header_utf8(&dec, hdr, strlen(hdr));
    bool r = mime_utf8_contains_ci(buf_cstr(&dec), dec.len, nd, strlen(nd)) ||
             mime_utf8_contains_ci(body, strlen(body), nd, strlen(nd));
    buf_free(&dec);
    return r;
}

static void test_search_multi_equivalence(void)
{
    static const char *const fields[] = {"Subject", "From", "X-A", "x-a"};
    for (int round = 0; round < 200; round++) {
        struct buf hdr = BUF_INIT, body = BUF_INIT, prog = BUF_INIT;
        int nf = 1 + (int)rnd(5);
        for (int i = 0; i < nf; i++) {
            buf_printf(&hdr, "%s: ", fields[rnd(4)]);
            rnd_word(&hdr);
            if (rnd(3) == 0)
                buf_puts(&hdr, " =?utf-8?q?A=C3=A9b?=");
            if (rnd(3) == 0) {
                buf_puts(&hdr, "\r\n ");
                rnd_word(&hdr);
            }
            buf_puts(&hdr, "\r\n");
        }
        buf_puts(&hdr, "\r\n");
        for (int i = 0; i < 6; i++)
            rnd_word(&body);
        int nk = 1 + (int)rnd(12);
        char *needles[12];
        for (int i = 0; i < nk; i++) {
            struct buf nb = BUF_INIT;
            rnd_word(&nb);
            needles[i] = buf_release(&nb);
            unsigned op = rnd(3);
            if (op == 0)
                buf_printf(&prog, " TEXT \"%s\"", needles[i]);
            else if (op == 1)
                buf_printf(&prog, " BODY \"%s\"", needles[i]);
            else
                buf_printf(&prog, " HEADER %s \"%s\"", fields[rnd(4)], needles[i]);
        }
        struct search_query q;
        const char *st, *code, *err;
        if (!parse_q(buf_cstr(&prog), &q, &st, &code, &err)) {
            CHECK(!"parse failed");
            fprintf(stderr, "  %s: %s\n", buf_cstr(&prog), err);
        } else {
            struct msg_record r = rec1();
            struct fake f = {buf_cstr(&hdr), buf_cstr(&body), 0, 0};
            struct search_state *state = search_state_new(q.root);
            search_state_next(state);
            struct search_msg m = {.state = state, .rec = &r, .arg = &f, .get_header = fake_hdr,
                                   .get_body_text = fake_body};
            const struct skey *root = q.root;
            size_t nkids = root->op == SK_AND ? root->nkids : 1;
            for (size_t i = 0; i < nkids && i < (size_t)nk; i++) {
                const struct skey *k = root->op == SK_AND ? root->kids[i] : root;
                /* Kids are reordered by cost: the reference works from the key. */
                bool want;
                if (k->op == SK_TEXT)
                    want = ref_text(f.hdr, f.body, k->str);
                else if (k->op == SK_BODY)
                    want = mime_utf8_contains_ci(f.body, strlen(f.body), k->str, k->slen);
                else
                    want = search_header_match(f.hdr, strlen(f.hdr), k->field, k->str, k->slen) ||
                           (k->addr && ref_addr_match(f.hdr, strlen(f.hdr), k->field, k->str, k->slen));
                bool got = search_eval(k, &m);
                if (got != want) {
                    CHECK(got == want);
                    fprintf(stderr, "  key %zu of%s\n  header: %s  body: %s\n", i, buf_cstr(&prog), f.hdr, f.body);
                }
            }
            CHECK(f.hdr_loads <= 1 && f.body_loads <= 1);
            search_state_free(state);
            search_query_free(&q);
        }
        for (int i = 0; i < nk; i++)
            free(needles[i]);
        buf_free(&hdr);
        buf_free(&body);
        buf_free(&prog);
    }
}

/* ---- hfields: Subject/From/To/Cc/Bcc decoded at append time ------------ */

/* Header lines the hfields tests combine: encoded words in several
 * charsets, folding (CRLF and bare LF, SP and HTAB), names in any case and
 * with WSP before the colon, empty values, repeated fields, raw 8-bit,
 * look-alike names that are other fields. */
static const char *const HF_LINES[] = {
    "Subject: =?ISO-8859-1?Q?Caf=E9?= au lait\r\n",
    "SUBJECT: =?utf-8?B?R3LDvMOfZQ==?= aus Bern\r\n",
    "subject : =?KOI8-R?B?0NLJ18XU?= \r\n",
    "Subject: first\r\n\tsecond line\r\n",
    "Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=\n",
    "Subject:\r\n",
    "Subject: =?windows-1252?Q?=93quoted=94_=80uro?=\r\n",
    "Subject: =?x-unknown?Q?as_is?= =?utf-8?q?broken\r\n",
    "Subject: raw latin-1 caf\xe9 and raw utf-8 caf\xc3\xa9\r\n",
    "From: Alice <alice@example.com>\r\n",
    "fRoM: =?UTF-8?Q?J=C3=BCrgen?= <jurgen@example.de>\r\n",
    "From: \"Bob\r\n Smith\" <bob@example.org>\r\n",
    "From: <user-from (comment)@ (comment)\r\n domain.org>\r\n",
    "Cc: =?UTF-8?Q?J=C3=B6rg?= (the boss) <joerg (x) @example.org>, undisclosed:;\r\n",
    "To: one@example.com, =?ISO-8859-1?Q?Andr=E9?= <andre@example.net>\r\n",
    "To: second-to@example.org\r\n",
    "tO: =?utf-8?b?w6lsw6huZQ==?=\r\n <e@example.net>\r\n",
    "Cc: list@lists.example\r\n",
    "CC: =?iso-8859-15?q?=A4uro?= <euro@example.eu>\r\n",
    "Cc: \r\n",
    "Bcc: hidden@example.com\r\n",
    "Bcc:\r\n",
    "X-From: not-the-from@example.com\r\n",
    "Subject-Extra: not the subject\r\n",
    "Resent-To: resent@example.com\r\n",
    "X-Custom: =?utf-8?q?custom_=C3=A9?=\r\n",
    "garbage line without colon\r\n",
};

static const char *const HF_KEYS[] = {"SUBJECT", "FROM", "TO", "CC", "BCC", "HEADER Subject", "HEADER from",
                                      "HEADER TO", "HEADER cC", "HEADER bcc", "HEADER X-Custom",
                                      "HEADER Subject-Extra", "HEADER X-From"};

static const char *const HF_NEEDLES[] = {
    "\"\"", "a", "caf\xc3\xa9", "CAF\xc3\x89", "gr\xc3\xbc\xc3\x9f" "e", "\xd0\x9f\xd0\xa0\xd0\x98", "\xe6\x97\xa5\xe6\x9c\xac",
    "second", "first\tsecond", "bob", "smith", "andr\xc3\xa9", "example", "\xc3\xa9l\xc3\xa8ne", "\xe2\x82\xac",
    "\xe2\x80\x9c" "quoted", "as_is", "broken", "custom \xc3\xa9", "hidden", "not", "resent", "j\xc3\xbcrgen", "lait",
    "zzz-nowhere", "e", "@", "\xc3\xa9", "\xc3\x89", "\"\"", "\"\"", "user-from@domain.org",
    "j\xc3\xb6rg <joerg@example.org>", "joerg@example.org", "comment"};

struct hf_fake {
    const char *hdr;
    size_t len;
    int loads;
};

static bool hf_hdr(void *arg, const char **h, size_t *len)
{
    struct hf_fake *f = arg;
    f->loads++;
    *h = f->hdr;
    *len = f->len;
    return true;
}

/* A needle as a SEARCH string: quoted when 7-bit, else a literal. */
static void put_needle(struct buf *p, const char *nd)
{
    bool ascii = true;
    for (const char *c = nd; *c; c++)
        ascii = ascii && (unsigned char)*c < 0x80;
    if (ascii || nd[0] == '"')
        buf_printf(p, nd[0] == '"' ? "%s" : "\"%s\"", nd);
    else
        buf_printf(p, "{%zu}\r\n%s", strlen(nd), nd);
}

/* Every header key evaluates the same from the stored hfields as from
 * the raw header (the path of messages without them), and as the
 * per-key reference; with hfields, keys on the five fields load and
 * decode nothing. */
static void test_search_hfields_equivalence(void)
{
    rnd_state = 4242;
    size_t hits = 0, misses = 0, nonascii_hits = 0, presence_hits = 0;
    for (int round = 0; round < 1000; round++) {
        struct buf hdr = BUF_INIT, prog = BUF_INIT, hf = BUF_INIT;
        int nl = 4 + (int)rnd(14);
        for (int i = 0; i < nl; i++)
            buf_puts(&hdr, HF_LINES[rnd(ARRAY_SIZE(HF_LINES))]);
        buf_puts(&hdr, rnd(4) ? "\r\n" : "");   /* sometimes no blank line */
        if (rnd(3) == 0)
            buf_puts(&hdr, "Subject: in the body\r\n");
        mime_hfields_build(&hf, hdr.data ? hdr.data : "", hdr.len);
        CHECK(mime_hfields_complete(hf.data, hf.len));
        int nk = 1 + (int)rnd(6);
        bool only_common = true;
        for (int i = 0; i < nk; i++) {
            const char *key = HF_KEYS[rnd(ARRAY_SIZE(HF_KEYS))];
            only_common = only_common && !strstr(key, "-");
            buf_printf(&prog, " %s ", key);
            put_needle(&prog, HF_NEEDLES[rnd(ARRAY_SIZE(HF_NEEDLES))]);
        }
        struct search_query q;
        const char *st, *code, *err;
        if (!parse_q(buf_cstr(&prog), &q, &st, &code, &err)) {
            CHECK(!"parse failed");
            fprintf(stderr, "  %s: %s\n", buf_cstr(&prog), err);
            goto next;
        }
        struct msg_record r = rec1();
        const struct skey *root = q.root;
        size_t nkids = root->op == SK_AND ? root->nkids : 1;
        struct search_state *s_raw = search_state_new(root), *s_hf = search_state_new(root);
        search_state_next(s_raw);
        search_state_next(s_hf);
        struct hf_fake fr = {buf_cstr(&hdr), hdr.len, 0}, fh = fr;
        struct search_msg m_raw = {.state = s_raw, .rec = &r, .arg = &fr, .get_header = hf_hdr};
        struct search_msg m_hf = {.state = s_hf, .rec = &r, .arg = &fh, .get_header = hf_hdr,
                                  .hfields = hf.data, .hfields_len = hf.len};
        for (size_t i = 0; i < nkids; i++) {
            const struct skey *k = root->op == SK_AND ? root->kids[i] : root;
            bool want = search_header_match(fr.hdr, fr.len, k->field, k->str, k->slen) ||
                        (k->addr && ref_addr_match(fr.hdr, fr.len, k->field, k->str, k->slen));
            bool got_raw = search_eval(k, &m_raw), got_hf = search_eval(k, &m_hf);
            hits += want;
            misses += !want;
            nonascii_hits += want && (unsigned char)k->str[0] >= 0x80;
            presence_hits += want && k->slen == 0;
            if (got_raw != want || got_hf != want) {
                CHECK(got_raw == want);
                CHECK(got_hf == want);
                fprintf(stderr, "  key %s \"%s\" in%s\n  header: %s\n", k->field, k->str, buf_cstr(&prog), fr.hdr);
            }
        }
        CHECK(search_eval(root, &m_raw) == search_eval(root, &m_hf));
        const struct search_stats *ss = search_state_stats(s_hf);
        if (only_common) {
            CHECK_INT(fh.loads, 0);
            CHECK_INT(ss->field_decodes, 0);
            CHECK_INT(ss->header_indexes, 0);
        }
        search_state_free(s_raw);
        search_state_free(s_hf);
        search_query_free(&q);
    next:
        buf_free(&hdr);
        buf_free(&prog);
        buf_free(&hf);
    }
    /* the mix must exercise both answers, decoded matches and presence */
    CHECK(hits > 300 && misses > 300 && nonascii_hits > 20 && presence_hits > 50);
    if (!(hits > 300 && misses > 300 && nonascii_hits > 20 && presence_hits > 50))
        fprintf(stderr, "  hits %zu misses %zu non-ASCII hits %zu presence hits %zu\n", hits, misses,
                nonascii_hits, presence_hits);
}

/* Which header data a program asks storage for. */
static void test_search_needs(void)
{
    static const struct {
        const char *prog;
        unsigned need;
    } cases[] = {
        {" ALL", 0},
        {" SEEN UID 1:5 LARGER 10", 0},
        {" SUBJECT x", SEARCH_HDR_FIELDS},
        {" OR FROM a NOT (TO b CC c)", SEARCH_HDR_FIELDS},
        {" HEADER bCc \"\"", SEARCH_HDR_FIELDS},
        {" HEADER Message-ID x", SEARCH_HDR_RAW},
        {" HEADER Subjects x", SEARCH_HDR_RAW},
        {" SENTSINCE 1-Jan-2000", SEARCH_HDR_RAW},
        {" BODY x", 0},
        {" TEXT x", SEARCH_HDR_RAW},
        {" NOT OR SUBJECT a HEADER X-A b", SEARCH_HDR_FIELDS | SEARCH_HDR_RAW},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct search_query q;
        const char *st, *code, *err;
        CHECK(parse_q(cases[i].prog, &q, &st, &code, &err));
        if (search_needs(q.root) != cases[i].need) {
            CHECK_INT(search_needs(q.root), cases[i].need);
            fprintf(stderr, "  program:%s\n", cases[i].prog);
        }
        search_query_free(&q);
    }
}

/* RFC 9394 4: partial-range syntax and which results a range names */
static void test_partial_range(void)
{
    static const char *bad[] = {"", "1", "0:5", "5:0", "-1:5", "1:-5", "-0:-1", "1:*", "*:1", "1:4294967296",
                                "--1:-2", "1:2:3", "1:2 ", " 1:2", "-1:--2", "01:2", "a:b", ":", "-:-"};
    struct partial_range pr;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (partial_range_parse(bad[i], &pr)) {
            CHECK(!"accepted");
            fprintf(stderr, "  range: \"%s\"\n", bad[i]);
        }
    }
    static const struct {
        const char *s;
        size_t n, start, end;
    } cases[] = {
        {"1:3", 7, 0, 3},       {"3:1", 7, 0, 3},       {"6:100", 7, 5, 7},    {"8:9", 7, 0, 0},
        {"7:7", 7, 6, 7},       {"-1:-3", 7, 4, 7},     {"-3:-1", 7, 4, 7},    {"-5:-100", 7, 0, 3},
        {"-8:-9", 7, 0, 0},     {"-7:-7", 7, 0, 1},     {"1:4294967295", 3, 0, 3},
        {"-1:-4294967295", 3, 0, 3}, {"4294967295:4294967295", 3, 0, 0}, {"1:1", 0, 0, 0}, {"-1:-1", 0, 0, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t a = 99, e = 99;
        CHECK(partial_range_parse(cases[i].s, &pr));
        partial_range_slice(&pr, cases[i].n, &a, &e);
        if (a != cases[i].start || e != cases[i].end) {
            CHECK_INT(a, cases[i].start);
            CHECK_INT(e, cases[i].end);
            fprintf(stderr, "  range %s of %zu\n", cases[i].s, cases[i].n);
        }
        struct buf b = BUF_INIT;
        partial_range_write(&b, &pr);
        CHECK(strcmp(buf_cstr(&b), cases[i].s) == 0);
        buf_free(&b);
    }
}

/* RFC 5267 4.3.1: past UPDATE_CTX_MAX_RESULTS results held by a
 * selection's contexts, a new one is refused (NOUPDATE), and past
 * UPDATE_CTX_MAX contexts. */
static void test_update_ctx_bounds(void)
{
    struct imap_view v;
    memset(&v, 0, sizeof(v));
    size_t n = UPDATE_CTX_MAX_RESULTS - 10;
    uint32_t *uids = xmalloc(n * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        uids[i] = (uint32_t)i + 1;
    struct search_query q;
    const char *status, *code, *err;
    CHECK(parse_q(" SEEN", &q, &status, &code, &err));
    CHECK(update_ctx_refusal(&v, q.root, n) == NULL);
    update_ctx_add_search(&v, "a1", true, q.root, n, uids, n);
    q.root = NULL;
    search_query_free(&q);
    CHECK(parse_q(" FLAGGED", &q, &status, &code, &err));
    CHECK(update_ctx_refusal(&v, q.root, 10) == NULL);
    CHECK(update_ctx_refusal(&v, q.root, 11) != NULL);
    for (int i = 0; i < UPDATE_CTX_MAX - 1; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "b%d", i);
        struct search_query q2;
        CHECK(parse_q(" DRAFT", &q2, &status, &code, &err));
        update_ctx_add_search(&v, tag, true, q2.root, 0, NULL, 0);
        q2.root = NULL;
        search_query_free(&q2);
    }
    CHECK(update_ctx_refusal(&v, q.root, 0) != NULL);
    search_query_free(&q);
    update_ctx_free_all(&v);
    free(uids);
}

int main(void)
{
    RUN(test_update_ctx_bounds);
    RUN(test_partial_range);
    RUN(test_search_flags_and_sets);
    RUN(test_search_logic);
    RUN(test_search_strings);
    RUN(test_search_dates);
    RUN(test_search_parse_errors);
    RUN(test_search_charset_nul);
    RUN(test_search_modseq);
    RUN(test_search_sets);
    RUN(test_search_return);
    RUN(test_header_match);
    RUN(test_search_decode_once);
    RUN(test_search_multi_equivalence);
    RUN(test_search_hfields_equivalence);
    RUN(test_search_needs);
    RUN(test_search_strings_total);
    RUN(test_fetch_parse);
    RUN(test_fetch_helpers);
    RUN(test_flags_parse);
    return unit_done();
}
