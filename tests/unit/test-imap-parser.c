/* test-imap-parser.c - the IMAP command tokenizer (imap-parser.c). */
#include "unit.h"
#include "imap.h"

static struct imap_cmdtext ct;
static struct imap_cmd cmd;
static struct imap_parser ps;

static void setup(const char *text, size_t len, bool utf8)
{
    buf_free(&ct.text);
    buf_append(&ct.text, text, len);
    ct.files = NULL;
    ct.nfiles = 0;
    imap_parser_init(&ps, &ct, 0, utf8);
}
#define SETUP(s) setup((s), sizeof(s) - 1, false)

static void cleanup(void)
{
    for (size_t i = 0; i < cmd.nallocs; i++)
        free(cmd.allocs[i]);
    free(cmd.allocs);
    memset(&cmd, 0, sizeof(cmd));
    buf_free(&ct.text);
}

static void test_atoms(void)
{
    SETUP("FETCH 1:* (FLAGS)");
    char *a = imap_p_atom(&ps, &cmd);
    CHECK_STR(a, "FETCH");
    CHECK(imap_p_sp(&ps));
    CHECK(imap_p_atom(&ps, &cmd) != NULL); /* "1:" stops at '*' */
    CHECK(imap_p_peek(&ps, '*'));
    SETUP("]x");
    CHECK(imap_p_atom(&ps, &cmd) == NULL);
    CHECK(ps.error != NULL);
    SETUP("a]b c");
    CHECK_STR(imap_p_astring_chars(&ps, &cmd), "a]b");
    SETUP("(x");
    CHECK(imap_p_atom(&ps, &cmd) == NULL);
    SETUP("\xc3\xa9t\xc3\xa9");
    CHECK(imap_p_atom(&ps, &cmd) == NULL);
    SETUP("x y");
    CHECK(!imap_p_end(&ps));
    imap_p_atom(&ps, &cmd);
    CHECK(imap_p_sp(&ps));
    CHECK(!imap_p_sp(&ps));
    imap_p_atom(&ps, &cmd);
    CHECK(imap_p_end(&ps));
    CHECK(imap_valid_tag("a001", 4));
    CHECK(!imap_valid_tag("a+1", 3));
    CHECK(!imap_valid_tag("", 0));
    CHECK(imap_valid_tag("x]", 2));
    CHECK(!imap_valid_tag("a*", 2));
    cleanup();
}

static void test_quoted(void)
{
    struct imap_str s;
    SETUP("\"a\\\"b\\\\c\" rest");
    CHECK(imap_p_string(&ps, &cmd, &s));
    CHECK_INT(s.len, 5);
    CHECK(memcmp(s.s, "a\"b\\c", 5) == 0);
    CHECK(!s.literal);
    CHECK(imap_p_sp(&ps));
    SETUP("\"a\\nb\"");
    CHECK(!imap_p_string(&ps, &cmd, &s));
    SETUP("\"unterminated");
    CHECK(!imap_p_string(&ps, &cmd, &s));
    setup("\"a\rb\"", 5, false);
    CHECK(!imap_p_string(&ps, &cmd, &s));
    setup("\"a\0b\"", 5, false);
    CHECK(!imap_p_string(&ps, &cmd, &s));
    /* 8-bit only when UTF-8 is allowed, and then only valid UTF-8 */
    setup("\"caf\xc3\xa9\"", 7, false);
    CHECK(!imap_p_string(&ps, &cmd, &s));
    setup("\"caf\xc3\xa9\"", 7, true);
    CHECK(imap_p_string(&ps, &cmd, &s));
    CHECK_INT(s.len, 5);
    setup("\"caf\xc3\"", 6, true);
    CHECK(!imap_p_string(&ps, &cmd, &s));
    setup("\"\xed\xa0\x80\"", 5, true); /* surrogate */
    CHECK(!imap_p_string(&ps, &cmd, &s));
    SETUP("\"\"");
    CHECK(imap_p_string(&ps, &cmd, &s));
    CHECK_INT(s.len, 0);
    cleanup();
}

static void test_literals(void)
{
    struct imap_str s;
    SETUP("{5}\r\nhello {0}\r\n");
    CHECK(imap_p_string(&ps, &cmd, &s));
    CHECK(s.literal);
    CHECK_INT(s.len, 5);
    CHECK(memcmp(s.s, "hello", 5) == 0);
    CHECK(imap_p_sp(&ps));
    CHECK(imap_p_astring(&ps, &cmd, &s));
    CHECK_INT(s.len, 0);
    CHECK(imap_p_end(&ps));
    SETUP("{3+}\r\nabc");
    CHECK(imap_p_string(&ps, &cmd, &s));
    CHECK_INT(s.len, 3);
    SETUP("{10}\r\nabc");
    CHECK(!imap_p_string(&ps, &cmd, &s)); /* truncated */
    SETUP("{3}abc");
    CHECK(!imap_p_string(&ps, &cmd, &s));
    SETUP("{99999999999}\r\n");
    CHECK(!imap_p_string(&ps, &cmd, &s));
    setup("{3}\r\na\0c", 9, false);
    CHECK(!imap_p_string(&ps, &cmd, &s)); /* NUL in a normal literal */
    setup("~{3}\r\na\0c", 10, false);
    CHECK(imap_p_string(&ps, &cmd, &s));
    CHECK(s.binary);
    /* astring_cstr rejects embedded NUL, accepts atoms */
    SETUP("user pass");
    CHECK_STR(imap_p_astring_cstr(&ps, &cmd), "user");
    /* spilled literal: marker only, data in a file */
    SETUP("x {70000}\r\n y");
    struct imap_literal_file f = {.fd = -1, .len = 70000, .binary = false, .text_off = 2};
    ct.files = &f;
    ct.nfiles = 1;
    imap_parser_init(&ps, &ct, 2, false);
    CHECK(imap_p_string(&ps, &cmd, &s));
    CHECK(s.file == &f);
    CHECK_INT(s.len, 70000);
    CHECK(imap_p_sp(&ps));
    ct.files = NULL;
    ct.nfiles = 0;
    /* nstring */
    bool nil;
    SETUP("NIL");
    CHECK(imap_p_nstring(&ps, &cmd, &s, &nil) && nil);
    SETUP("\"NIL\"");
    CHECK(imap_p_nstring(&ps, &cmd, &s, &nil) && !nil && s.len == 3);
    SETUP("NILS");
    CHECK(!imap_p_nstring(&ps, &cmd, &s, &nil));
    cleanup();
}

static void test_numbers(void)
{
    uint32_t n;
    uint64_t m;
    SETUP("4294967295");
    CHECK(imap_p_number(&ps, &n) && n == 4294967295u);
    SETUP("4294967296");
    CHECK(!imap_p_number(&ps, &n));
    SETUP("0");
    CHECK(imap_p_number(&ps, &n) && n == 0);
    SETUP("0");
    CHECK(!imap_p_nznumber(&ps, &n));
    SETUP("x");
    CHECK(!imap_p_number(&ps, &n));
    SETUP("9223372036854775807");
    CHECK(imap_p_number64(&ps, &m) && m == 9223372036854775807ull);
    SETUP("9223372036854775808");
    CHECK(!imap_p_number64(&ps, &m));
    cleanup();
}

static void test_seqset(void)
{
    struct seqset set = {0};
    SETUP("1:3,7,5:*");
    CHECK(imap_p_seqset(&ps, &set));
    CHECK_INT(set.n, 3);
    CHECK(seqset_contains(&set, 2, 10));
    CHECK(!seqset_contains(&set, 4, 10));
    CHECK(seqset_contains(&set, 10, 10));
    CHECK(seqset_contains(&set, 7, 10));
    seqset_free(&set);
    SETUP("5:3");
    CHECK(imap_p_seqset(&ps, &set));
    CHECK(set.r[0].lo == 3 && set.r[0].hi == 5);
    seqset_free(&set);
    SETUP("*:4");
    CHECK(imap_p_seqset(&ps, &set));
    CHECK(seqset_contains(&set, 3, 3)); /* 4:* with max 3 is 3:4 */
    CHECK(!seqset_contains(&set, 2, 3));
    seqset_free(&set);
    /* 4294967295 is a number, not '*': 4:4294967295 with max 3 is empty */
    SETUP("4:4294967295");
    CHECK(imap_p_seqset(&ps, &set));
    CHECK(!seqset_contains(&set, 3, 3));
    CHECK(seqset_contains(&set, 5, 7));
    CHECK(!set.star);
    seqset_free(&set);
    SETUP("4294967295:2");
    CHECK(imap_p_seqset(&ps, &set));
    CHECK(seqset_contains(&set, 3, 3) && !seqset_contains(&set, 1, 3));
    seqset_free(&set);
    SETUP("$");
    CHECK(imap_p_seqset(&ps, &set) && set.dollar);
    seqset_free(&set);
    SETUP("0");
    CHECK(!imap_p_seqset(&ps, &set));
    seqset_free(&set);
    SETUP("1,");
    CHECK(!imap_p_seqset(&ps, &set));
    seqset_free(&set);
    SETUP("1:4294967296");
    CHECK(!imap_p_seqset(&ps, &set));
    seqset_free(&set);
    SETUP(":3");
    CHECK(!imap_p_seqset(&ps, &set));
    seqset_free(&set);
    struct buf b = BUF_INIT;
    uint32_t uids[] = {1, 2, 3, 7, 9, 10};
    seqset_write_uids(&b, uids, 6);
    CHECK_STR(buf_cstr(&b), "1:3,7,9:10");
    buf_free(&b);
    cleanup();
}

static void test_flags(void)
{
    char *f;
    SETUP("\\Seen $Junk");
    CHECK(imap_p_flag(&ps, &cmd, &f));
    CHECK_STR(f, "\\Seen");
    CHECK(imap_p_sp(&ps));
    CHECK(imap_p_flag(&ps, &cmd, &f));
    CHECK_STR(f, "$Junk");
    SETUP("\\");
    CHECK(!imap_p_flag(&ps, &cmd, &f));
    SETUP("(x");
    CHECK(!imap_p_flag(&ps, &cmd, &f));
    cleanup();
}

static void test_dates(void)
{
    int64_t t;
    int tz;
    SETUP("1-Feb-1994");
    CHECK(imap_p_date(&ps, &t) && t == 760060800);
    SETUP("\"01-feb-1994\"");
    CHECK(imap_p_date(&ps, &t) && t == 760060800);
    SETUP("30-Feb-1994");
    CHECK(!imap_p_date(&ps, &t));
    SETUP("1-Foo-1994");
    CHECK(!imap_p_date(&ps, &t));
    SETUP("\"1-Feb-1994");
    CHECK(!imap_p_date(&ps, &t));
    SETUP("29-Feb-2000");
    CHECK(imap_p_date(&ps, &t));
    SETUP("29-Feb-1900");
    CHECK(!imap_p_date(&ps, &t));
    SETUP("\"17-Jul-1996 02:44:25 -0700\"");
    CHECK(imap_p_datetime(&ps, &t, &tz));
    CHECK_INT(t, 837596665);
    CHECK_INT(tz, -420);
    SETUP("\" 7-Jul-1996 02:44:25 +0000\"");
    CHECK(imap_p_datetime(&ps, &t, &tz) && tz == 0);
    SETUP("\"7-Jul-1996 02:44:25 +0000\"");
    CHECK(!imap_p_datetime(&ps, &t, &tz));
    SETUP("\"17-Jul-1996 24:44:25 +0000\"");
    CHECK(!imap_p_datetime(&ps, &t, &tz));
    SETUP("\"17-Jul-1996 02:44:25 0000\"");
    CHECK(!imap_p_datetime(&ps, &t, &tz));
    cleanup();
}

static void test_list_mailbox(void)
{
    SETUP("INBOX/% *");
    CHECK_STR(imap_p_list_mailbox(&ps, &cmd), "INBOX/%");
    CHECK(imap_p_sp(&ps));
    CHECK_STR(imap_p_list_mailbox(&ps, &cmd), "*");
    SETUP("\"a b\"");
    CHECK_STR(imap_p_list_mailbox(&ps, &cmd), "a b");
    SETUP("(");
    CHECK(imap_p_list_mailbox(&ps, &cmd) == NULL);
    cleanup();
}

int main(void)
{
    RUN(test_atoms);
    RUN(test_quoted);
    RUN(test_literals);
    RUN(test_numbers);
    RUN(test_seqset);
    RUN(test_flags);
    RUN(test_dates);
    RUN(test_list_mailbox);
    return unit_done();
}
