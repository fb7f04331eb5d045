/* test-sortkey.c - RFC 5256 base subjects, i;unicode-casemap keys
 * (RFC 5051), msg-id normalisation and the stored sort-key record. */
#include "unit.h"
#include "sortkey.h"

static bool last_reply;

static char *base(const char *raw)
{
    struct buf b = BUF_INIT;
    last_reply = false;
    mime_base_subject(&b, raw, strlen(raw), &last_reply);
    buf_putc(&b, '\0');
    b.len--;
    return buf_release(&b);
}

#define CHECK_BASE(raw, want, reply)                                                               \
    do {                                                                                           \
        char *got_ = base(raw);                                                                    \
        CHECK_STR(got_, want);                                                                     \
        CHECK_INT(last_reply, reply);                                                              \
        free(got_);                                                                                \
    } while (0)

static void test_base_subject(void)
{
    CHECK_BASE("", "", 0);
    CHECK_BASE("   ", "", 0);
    CHECK_BASE("hello", "hello", 0);
    CHECK_BASE("  hello\t  world  ", "hello world", 0);
    CHECK_BASE("Hello\r\n world", "Hello world", 0);
    /* (3) leaders, case-insensitive, repeated */
    CHECK_BASE("Re: x", "x", 1);
    CHECK_BASE("RE: re: Re:x", "x", 1);
    CHECK_BASE("Fw: x", "x", 1);
    CHECK_BASE("FWD: x", "x", 1);
    CHECK_BASE("fwd : x", "x", 1);
    CHECK_BASE("Re[2]: x", "x", 1);
    CHECK_BASE("Re [2] : x", "x", 1);
    CHECK_BASE("[list] Re: x", "x", 1);
    CHECK_BASE("[a][b] Fwd: x", "x", 1);
    /* the brief's case: trailer, leader, blob-before-refwd */
    CHECK_BASE("Re: [list] Fwd: x (fwd)", "x", 1);
    /* (2) trailers repeated; only "(fwd)" sets the reply flag */
    CHECK_BASE("x (fwd) (FWD)  ", "x", 1);
    CHECK_BASE("x(fwd)", "x", 1);
    CHECK_BASE("x fwd)", "x fwd)", 0);
    /* (4) a blob only goes when something remains */
    CHECK_BASE("[list] x", "x", 0);
    CHECK_BASE("[list]", "[list]", 0);
    CHECK_BASE("[a] [b]", "[b]", 0);
    CHECK_BASE("[list] Re: [other]", "[other]", 1);
    CHECK_BASE("[list]    ", "[list]", 0);
    /* not a leader: no colon, or other words */
    CHECK_BASE("Reply: x", "Reply: x", 0);
    CHECK_BASE("Fwx: x", "Fwx: x", 0);
    CHECK_BASE("Re x", "Re x", 0);
    CHECK_BASE("Re:", "", 1);
    CHECK_BASE("[unclosed Re: x", "[unclosed Re: x", 0);
    /* (6) the [fwd: ...] wrapper, repeated from (2) */
    CHECK_BASE("[fwd: x]", "x", 1);
    CHECK_BASE("[Fwd: Re: x (fwd)]", "x", 1);
    CHECK_BASE("[fwd: [fwd: x]]", "x", 1);
    CHECK_BASE("Re: [fwd: x]", "x", 1);
    CHECK_BASE("[fwd: x] y", "y", 0);
    CHECK_BASE("[fwd:]", "", 1);
    /* RFC 2047 words decoded first, then the rules */
    CHECK_BASE("=?UTF-8?Q?Re:_caf=C3=A9?=", "caf\xc3\xa9", 1);
    CHECK_BASE("=?ISO-8859-1?Q?Fwd=3A_=E9t=E9?= (fwd)", "\xc3\xa9t\xc3\xa9", 1);
    CHECK_BASE("=?UTF-8?B?W2xpc3RdIFJlOiBoaQ==?=", "hi", 1); /* "[list] Re: hi" */
    /* hostile: very long input is cut, never overruns */
    char *big = malloc(200000);
    memset(big, 'a', 199999);
    big[199999] = '\0';
    char *g = base(big);
    CHECK(strlen(g) == SORTKEY_MAX_KEY);
    free(g);
    for (size_t i = 0; i + 4 < 199999; i += 4)
        memcpy(big + i, "Re: ", 4);
    g = base(big);
    CHECK(strlen(g) <= SORTKEY_MAX_KEY);
    free(g);
    free(big);
}

static char *key(const char *s)
{
    struct buf b = BUF_INIT;
    mime_casemap_key(&b, s, strlen(s));
    buf_putc(&b, '\0');
    b.len--;
    return buf_release(&b);
}

#define CHECK_KEY(in, want)                                                                        \
    do {                                                                                           \
        char *got_ = key(in);                                                                      \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

static void test_casemap(void)
{
    CHECK_KEY("", "");
    CHECK_KEY("abc XYZ 09", "ABC XYZ 09");
    /* RFC 5051's example: U+01C4 -> U+0044 U+007A U+030C */
    CHECK_KEY("\xc7\x84", "Dz\xcc\x8c");
    /* e with acute: titlecase E-acute, decomposed */
    CHECK_KEY("\xc3\xa9", "E\xcc\x81");
    CHECK_KEY("\xc3\x89", "E\xcc\x81");
    /* compatibility decomposition: U+FB01 (fi ligature) -> "fi" after
     * titlecase? Its simple titlecase is itself; NFKD gives "fi". */
    CHECK_KEY("\xef\xac\x81", "fi");
    /* sharp s has no simple titlecase mapping */
    CHECK_KEY("\xc3\x9f", "\xc3\x9f");
    /* invalid UTF-8: the octets unchanged */
    CHECK_KEY("a\xff" "b", "a\xff" "b");
    /* ordering via memcmp: "" < "A" < "b" < "E-acute" */
    char *a = key("a"), *b = key("B"), *e = key("\xc3\xa9");
    CHECK(strcmp(a, b) < 0);
    CHECK(strcmp(b, e) < 0);
    free(a);
    free(b);
    free(e);
    /* bounded, never cut inside a character */
    char *big = malloc(3 * 1000 + 1);
    for (int i = 0; i < 1000; i++)
        memcpy(big + 3 * i, "\xe2\x82\xac", 3); /* euro sign */
    big[3000] = '\0';
    char *k = key(big);
    CHECK(strlen(k) <= SORTKEY_MAX_KEY && strlen(k) % 3 == 0);
    free(k);
    free(big);
}

struct ids {
    char got[512];
};

static bool collect(void *arg, const char *id, size_t n)
{
    struct ids *x = arg;
    size_t l = strlen(x->got);
    snprintf(x->got + l, sizeof(x->got) - l, "%s%.*s", l ? "|" : "", (int)n, id);
    return true;
}

static void check_ids(const char *in, const char *want)
{
    struct ids x = {{0}};
    mime_msgids_each(in, strlen(in), collect, &x);
    CHECK_STR(x.got, want);
}

static void test_msgids(void)
{
    check_ids("<a@b>", "a@b");
    /* RFC 5256's example: quoting must not matter */
    check_ids("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>", "01KF8JCEOCBS0045PS@xxx.yyy.com");
    check_ids(" <a@b> (comment <x@y>)\r\n <c@d>", "a@b|c@d");
    check_ids("<a @ b (c)>", "a@b");
    check_ids("<noat> <a@> <@b> <a@b@c> <ok@x>", "ok@x");
    check_ids("<\"a\\\"q\"@b>", "a\"q@b");
    check_ids("garbage", "");
    check_ids("<unterminated@x", "unterminated@x");
}

static void test_record(void)
{
    const char *hdr = "Date: Sun, 31 Dec 2000 16:01:33 -0800\r\n"
                      "Subject: =?UTF-8?Q?Re:_[list]_caf=C3=A9?=\r\n"
                      "From: =?ISO-8859-1?Q?J=F6rg?= <joerg@example.org>\r\n"
                      "To: undisclosed:; , bob@example.com\r\n"
                      "Message-ID: <\"m1\"@x>\r\n"
                      "In-Reply-To: <p@x> <q@x>\r\n"
                      "References: <r1@x>\r\n <p@x>\r\n"
                      "\r\n";
    struct buf b = BUF_INIT;
    mime_sortkeys_build(&b, hdr, strlen(hdr));
    struct mime_sortkeys k;
    CHECK(mime_sortkeys_parse(b.data, b.len, &k));
    CHECK(k.flags & SK_F_DATE);
    CHECK(k.flags & SK_F_REPLY);
    CHECK_INT(k.sent, 978307293); /* 2001-01-01 00:01:33 UTC */
#define S(i) (int)k.len[i], k.s[i]
    char t[256];
    snprintf(t, sizeof(t), "%.*s", S(SK_SUBJECT));
    CHECK_STR(t, "CAFE\xcc\x81");
    snprintf(t, sizeof(t), "%.*s|%.*s|%.*s|%.*s|%.*s", S(SK_FROM), S(SK_TO), S(SK_CC), S(SK_DISPLAYFROM),
             S(SK_DISPLAYTO));
    CHECK_STR(t, "JOERG|BOB||JO\xcc\x88RG|BOB@EXAMPLE.COM");
    snprintf(t, sizeof(t), "%.*s|%.*s", S(SK_MESSAGEID), S(SK_INREPLYTO));
    CHECK_STR(t, "m1@x|p@x");
    CHECK_INT(k.nrefs, 2);
    size_t pos = 0;
    const char *id;
    size_t n;
    CHECK(mime_sortkeys_next_ref(&k, &pos, &id, &n) && n == 4 && !memcmp(id, "r1@x", 4));
    CHECK(mime_sortkeys_next_ref(&k, &pos, &id, &n) && n == 3 && !memcmp(id, "p@x", 3));
    CHECK(!mime_sortkeys_next_ref(&k, &pos, &id, &n));
    /* damaged or truncated records are refused */
    for (size_t l = 0; l < b.len; l++)
        CHECK(!mime_sortkeys_parse(b.data, l, NULL));
    buf_free(&b);

    /* no Date (or garbage): no SK_F_DATE, the reader falls back */
    const char *h2 = "Date: garbage\r\nSubject: plain\r\n\r\n";
    mime_sortkeys_build(&b, h2, strlen(h2));
    CHECK(mime_sortkeys_parse(b.data, b.len, &k));
    CHECK(!(k.flags & SK_F_DATE));
    CHECK(!(k.flags & SK_F_REPLY));
    CHECK_INT(k.len[SK_FROM], 0);
    CHECK_INT(k.nrefs, 0);
    buf_free(&b);

    /* many references: the last SORTKEY_MAX_REFS are kept */
    struct buf h = BUF_INIT;
    buf_puts(&h, "References:");
    for (int i = 0; i < 200; i++)
        buf_printf(&h, " <id%d@x>", i);
    buf_puts(&h, "\r\n\r\n");
    mime_sortkeys_build(&b, h.data, h.len);
    CHECK(mime_sortkeys_parse(b.data, b.len, &k));
    CHECK_INT(k.nrefs, SORTKEY_MAX_REFS);
    pos = 0;
    CHECK(mime_sortkeys_next_ref(&k, &pos, &id, &n));
    snprintf(t, sizeof(t), "%.*s", (int)n, id);
    CHECK_STR(t, "id136@x");
    buf_free(&b);
    buf_free(&h);
}

/* Random bytes built from the characters the parsers care about: no
 * crash, no overrun (run under ASan by make test), bounded results, and
 * every record parses back. */
static void test_hostile(void)
{
    static const char alphabet[] = "[]()<>\"\\@:;, \t\r\nRrEeFfWwDd=?QqBb_x\xc3\xa9\xff\x80";
    uint64_t seed = 12345;
    struct buf in = BUF_INIT, out = BUF_INIT;
    for (int iter = 0; iter < 3000; iter++) {
        buf_reset(&in);
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = (size_t)(seed >> 33) % 300;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            buf_putc(&in, alphabet[(seed >> 33) % (sizeof(alphabet) - 1)]);
        }
        buf_reset(&out);
        bool rf;
        mime_base_subject(&out, buf_cstr(&in), in.len, &rf);
        CHECK(out.len <= SORTKEY_MAX_KEY);
        buf_reset(&out);
        mime_casemap_key(&out, buf_cstr(&in), in.len);
        CHECK(out.len <= SORTKEY_MAX_KEY);
        struct ids x = {{0}};
        mime_msgids_each(buf_cstr(&in), in.len, collect, &x);
        struct buf h = BUF_INIT;
        buf_printf(&h, "Subject: %s\r\nFrom: %s\r\nReferences: %s\r\nDate: %s\r\n\r\n", buf_cstr(&in),
                   buf_cstr(&in), buf_cstr(&in), buf_cstr(&in));
        buf_reset(&out);
        mime_sortkeys_build(&out, h.data, h.len);
        CHECK(mime_sortkeys_parse(out.data, out.len, NULL));
        buf_free(&h);
    }
    buf_free(&in);
    buf_free(&out);
}

int main(void)
{
    RUN(test_base_subject);
    RUN(test_casemap);
    RUN(test_msgids);
    RUN(test_record);
    RUN(test_hostile);
    return unit_done();
}
