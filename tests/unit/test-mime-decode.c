/* test-mime-decode.c - transfer decoding, RFC 2047, charsets, case-
 * insensitive matching and RFC 5322 dates. */
#include "unit.h"
#include "mime.h"

static char *dec(const char *enc, const char *in)
{
    struct buf b = BUF_INIT;
    if (!mime_decode_transfer(enc, in, strlen(in), &b)) {
        buf_free(&b);
        return xstrdup("(unknown)");
    }
    return buf_release(&b);
}

static char *hdr(const char *in)
{
    struct buf b = BUF_INIT;
    mime_decode_header_utf8(&b, in, strlen(in));
    return buf_release(&b);
}

static char *conv(const char *cs, const char *in, size_t n)
{
    struct buf b = BUF_INIT;
    if (!charset_to_utf8(cs, in, n, &b)) {
        buf_free(&b);
        return xstrdup("(unknown)");
    }
    return buf_release(&b);
}

#define CHECK_FN(call, want)                                                                       \
    do {                                                                                           \
        char *got_ = call;                                                                         \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

static void test_base64(void)
{
    CHECK_FN(dec("base64", "SGVsbG8sIHdvcmxkIQ=="), "Hello, world!");
    CHECK_FN(dec("BASE64", "SGVs\r\nbG8s IHdv\tcmxk\r\nIQ=="), "Hello, world!");
    CHECK_FN(dec("base64", "SGV*sb!G8"), "Hello");   /* junk skipped */
    CHECK_FN(dec("base64", "SGVsbG8"), "Hello");     /* missing padding */
    CHECK_FN(dec("base64", ""), "");
    CHECK_FN(dec("base64", "===="), "");
    CHECK_FN(dec("x-uuencode", "abc"), "(unknown)");
    CHECK_FN(dec(NULL, "raw\r\n"), "raw\r\n");
    CHECK_FN(dec("7bit", "a"), "a");
    CHECK_FN(dec("8bit", "\xe4"), "\xe4");
    CHECK_FN(dec("binary", "b"), "b");
}

static void test_qp(void)
{
    CHECK_FN(dec("quoted-printable", "Caf=C3=A9"), "Caf\xc3\xa9");
    CHECK_FN(dec("quoted-printable", "soft=\r\nbreak"), "softbreak");
    CHECK_FN(dec("quoted-printable", "soft= \t\r\nbreak"), "softbreak");
    CHECK_FN(dec("quoted-printable", "lf=\nonly"), "lfonly");
    CHECK_FN(dec("quoted-printable", "a=3d=3Db"), "a==b");
    CHECK_FN(dec("quoted-printable", "bad=ZZ=4"), "bad=ZZ=4");
    CHECK_FN(dec("quoted-printable", "trail   \r\nx"), "trail\r\nx");
    CHECK_FN(dec("quoted-printable", "l1\nl2\n"), "l1\r\nl2\r\n");
    CHECK_FN(dec("quoted-printable", "="), "");
    CHECK_FN(dec("Quoted-Printable", "=E9t=E9"), "\xe9t\xe9");
}

static void test_rfc2047(void)
{
    CHECK_FN(hdr("=?UTF-8?B?w6RiYw==?="), "\xc3\xa4" "bc");
    CHECK_FN(hdr("=?iso-8859-1?q?caf=E9_cr=E8me?="), "caf\xc3\xa9 cr\xc3\xa8me");
    /* Whitespace between adjacent encoded words is dropped (RFC 2047 6.2). */
    CHECK_FN(hdr("=?utf-8?q?a?= =?utf-8?q?b?="), "ab");
    CHECK_FN(hdr("=?utf-8?q?a?=\r\n =?utf-8?q?b?="), "ab");
    CHECK_FN(hdr("x =?utf-8?q?a?= y"), "x a y");
    /* A multibyte character split across two words. */
    CHECK_FN(hdr("=?utf-8?b?4oI=?= =?utf-8?b?rA==?="), "\xe2\x82\xac");
    /* Unknown charset: left raw. */
    CHECK_FN(hdr("=?x-nonsense?q?abc?= z"), "=?x-nonsense?q?abc?= z");
    /* RFC 2231 language suffix. */
    CHECK_FN(hdr("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
    /* Malformed: not an encoded word. */
    CHECK_FN(hdr("=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
    CHECK_FN(hdr("=?utf-8?q?no end"), "=?utf-8?q?no end");
    CHECK_FN(hdr("=?"), "=?");
    /* Raw 8-bit: UTF-8 kept, otherwise Latin-1. */
    CHECK_FN(hdr("J\xc3\xb6rg"), "J\xc3\xb6rg");
    CHECK_FN(hdr("J\xf6rg"), "J\xc3\xb6rg");
    CHECK_FN(hdr("a\r\n b"), "a b");
    /* A whole header block: field boundaries stay line breaks. */
    CHECK_FN(hdr("Subject: =?utf-8?q?caf=C3=A9?=\r\nFrom: x\r\n"), "Subject: caf\xc3\xa9\nFrom: x\n");
    CHECK_FN(hdr("=?gb2312?B?xOO6ww==?="), "\xe4\xbd\xa0\xe5\xa5\xbd");
    CHECK_FN(hdr("=?windows-1252?q?=80?="), "\xe2\x82\xac");
    /* Hostile: many starts without an end must stay fast (not quadratic). */
    struct buf big = BUF_INIT;
    for (int i = 0; i < 200000; i++)
        buf_puts(&big, "=?a?q?x");
    struct buf out = BUF_INIT;
    mime_decode_header_utf8(&out, big.data, big.len);
    CHECK_INT(out.len, big.len);
    buf_free(&out);
    buf_free(&big);
}

static void test_charsets(void)
{
    CHECK(charset_known("utf-8"));
    CHECK(charset_known("UTF8"));
    CHECK(charset_known("latin1"));
    CHECK(charset_known("cp1252"));
    CHECK(charset_known("windows-1252"));
    CHECK(charset_known("ISO-8859-1"));
    CHECK(charset_known("us-ascii"));
    CHECK(charset_known("gb2312"));
    CHECK(charset_known("\"koi8-r\""));
    CHECK(!charset_known("x-nonsense"));
    CHECK(!charset_known("utf-8//TRANSLIT"));
    CHECK(!charset_known(""));
    CHECK(!charset_known(NULL));
    CHECK_FN(conv("iso-8859-1", "\xe9t\xe9", 3), "\xc3\xa9t\xc3\xa9");
    CHECK_FN(conv("latin1", "\xfc", 1), "\xc3\xbc");
    CHECK_FN(conv("windows-1252", "\x80", 1), "\xe2\x82\xac");
    CHECK_FN(conv("utf-8", "ok\xff!", 4), "ok\xef\xbf\xbd!");
    CHECK_FN(conv("utf8", "\xc3", 1), "\xef\xbf\xbd");
    CHECK_FN(conv("us-ascii", "plain", 5), "plain");
    CHECK_FN(conv("us-ascii", "caf\xe9", 4), "caf\xc3\xa9");
    CHECK_FN(conv("koi8-r", "\xf0\xd2\xc9", 3), "\xd0\x9f\xd1\x80\xd0\xb8");
    CHECK_FN(conv("shift_jis", "\x82\xa0\xff", 3), "\xe3\x81\x82\xef\xbf\xbd");
    CHECK_FN(conv("x-nonsense", "a", 1), "(unknown)");
    /* Truncated multibyte at the end. */
    CHECK_FN(conv("utf-16le", "a\x00\x62", 3), "a\xef\xbf\xbd");
    /* Big input: conversion output is complete. */
    struct buf big = BUF_INIT, out = BUF_INIT;
    for (int i = 0; i < 100000; i++)
        buf_putc(&big, (char)0xe9);
    CHECK(charset_to_utf8("iso-8859-15", big.data, big.len, &out));
    CHECK_INT(out.len, 200000);
    buf_free(&big);
    buf_free(&out);
}

/* Independent validator: well-formed UTF-8 (RFC 3629), no surrogates,
 * nothing above U+10FFFF, no overlong forms. */
static bool utf8_ok(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t l;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            l = 2, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            l = 3, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            l = 4, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + l > n)
            return false;
        for (size_t k = 1; k < l; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((l == 2 && cp < 0x80) || (l == 3 && cp < 0x800) || (l == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += l;
    }
    return true;
}

/* Converted text is valid UTF-8, or the charset is refused. */
static bool conv_valid(const char *cs, const char *in, size_t n)
{
    struct buf b = BUF_INIT;
    bool known = charset_to_utf8(cs, in, n, &b);
    bool ok = !known || utf8_ok(b.data ? b.data : "", b.len);
    if (!ok) {
        fprintf(stderr, "  %s gave:", cs);
        for (size_t i = 0; i < b.len && i < 32; i++)
            fprintf(stderr, " %02x", (unsigned char)b.data[i]);
        fprintf(stderr, "\n");
    }
    buf_free(&b);
    return ok;
}

/* Issue 9 item 12: glibc's UCS-4 and WCHAR_T decoders pass raw 31-bit
 * values through (5- and 6-byte sequences, > U+10FFFF), its UTF-8
 * decoder (reached by names such as "utf)8" or "ISO-IR-193" that escape
 * our own UTF-8 path) lets U+110000.. through, and internal encodings
 * are host-endian. Every case must come out as valid UTF-8 or be refused. */
static void test_charset_hostile(void)
{
    static const char ucs4be[] = "\x00\x11\x00\x00" "\x7f\xff\xff\xff" "\x00\x00\xd8\x00" "\x00\x00\x00\x41";
    static const char ucs4le[] = "\x00\x00\x11\x00" "\xff\xff\xff\x7f" "\x00\xd8\x00\x00" "\x41\x00\x00\x00";
    static const char *const names[] = {"UCS-4", "UCS-4BE", "UCS-4LE", "ucs4", "csUCS4", "ISO-10646", "10646-1:1993",
                                        "WCHAR_T", "wchar_t", "INTERNAL", "UCS-4-INTERNAL", "UCS-2-INTERNAL",
                                        "UCS-4-SWAPPED", "UCS-2-SWAPPED", "UTF-32", "UTF-16", "UCS-2", "UTF-7"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        CHECK(conv_valid(names[i], ucs4be, 16));
        CHECK(conv_valid(names[i], ucs4le, 16));
    }
    /* Beyond U+10FFFF, a surrogate and a 5-byte form through names that
     * reach glibc's UTF-8 decoder. */
    static const char bad8[] = "\xf4\x90\x80\x80" "\xed\xa0\x80" "\xf8\x88\x80\x80\x80" "ok";
    static const char *const u8names[] = {"utf)8", "utf(8)", "UTF_8", "u.t.f-8", "ISO-IR-193", "OSF05010001", "utf8",
                                          "UTF-8"};
    for (size_t i = 0; i < sizeof(u8names) / sizeof(u8names[0]); i++)
        CHECK(conv_valid(u8names[i], bad8, sizeof(bad8) - 1));
    /* The UTF-8 aliases go through the strict decoder: one U+FFFD per bad byte. */
    CHECK_FN(conv("ISO-IR-193", "a\xf4\x90\x80\x80", 5),
             "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CHECK_FN(conv("UTF_8", "\xc3\xa9", 2), "\xc3\xa9");
    /* UCS-4 is decoded (strictly, as UTF-32BE): valid values survive. */
    CHECK_FN(conv("UCS-4", "\x00\x00\x00\x41\x00\x01\xf6\x00", 8), "A\xf0\x9f\x98\x80");
    CHECK_FN(conv("UCS-4LE", "\x41\x00\x00\x00", 4), "A");
    /* Refused names: internal encodings, iconv suffixes, odd punctuation,
     * over-long names. */
    CHECK(!charset_known("WCHAR_T"));
    CHECK(!charset_known("INTERNAL"));
    CHECK(!charset_known("ucs-4-internal"));
    CHECK(!charset_known("utf)8"));
    CHECK(!charset_known("utf-8//TRANSLIT"));
    CHECK(!charset_known("iso-8859-1//IGNORE"));
    CHECK(!charset_known("ISO-10646/UCS4/"));
    CHECK(!charset_known("utf-8,latin1"));
    /* Names that are only punctuation glibc strips ('+'): glibc reads the
     * empty rest as "the locale's charset" - nothing a sender can mean,
     * and not ours to depend on. */
    CHECK(!charset_known("+"));
    CHECK(!charset_known("++"));
    CHECK(!charset_known("-"));
    CHECK(!charset_known(".:_"));
    CHECK(!charset_known("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    CHECK_FN(conv("WCHAR_T", "\x41\x00\x00\x00", 4), "(unknown)");
    /* RFC 2047 words in such charsets stay as they are or decode validly. */
    struct buf b = BUF_INIT;
    mime_decode_header_utf8(&b, "=?UCS-4?B?ABEAAA==?= =?utf)8?B?9JCAgA==?= =?WCHAR_T?B?AAARAA==?=", 62);
    CHECK(utf8_ok(b.data ? b.data : "", b.len));
    buf_free(&b);
}

static void test_contains(void)
{
    const char *h = "The Quick Brown Fox";
    CHECK(mime_utf8_contains_ci(h, strlen(h), "quick brown", 11));
    CHECK(mime_utf8_contains_ci(h, strlen(h), "FOX", 3));
    CHECK(!mime_utf8_contains_ci(h, strlen(h), "foxes", 5));
    CHECK(mime_utf8_contains_ci(h, strlen(h), "", 0));
    CHECK(!mime_utf8_contains_ci("", 0, "a", 1));
    const char *u = "Stra\xc3\x9f" "e \xc3\x84rger \xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 \xce\xa3\xce\xbf\xcf\x86\xce\xaf\xce\xb1";
    CHECK(mime_utf8_contains_ci(u, strlen(u), "\xc3\xa4rger", 6));
    CHECK(mime_utf8_contains_ci(u, strlen(u), "\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0", 12));
    CHECK(mime_utf8_contains_ci(u, strlen(u), "\xcf\x83\xce\xbf\xcf\x86", 6));
    CHECK(mime_utf8_contains_ci(u, strlen(u), "STRA\xc3\x9f" "E", 7));
    CHECK(!mime_utf8_contains_ci(u, strlen(u), "strasse", 7));
    /* KMP corner: overlapping prefixes. */
    CHECK(mime_utf8_contains_ci("aaab", 4, "AAB", 3));
    CHECK(mime_utf8_contains_ci("abababc", 7, "ababc", 5));
    /* Invalid bytes only match themselves. */
    CHECK(mime_utf8_contains_ci("x\xffy", 3, "\xff", 1));
    CHECK(!mime_utf8_contains_ci("x\xffy", 3, "\xfe", 1));
}

static void check_date(const char *s, long long want, int want_tz)
{
    int64_t t = 0;
    int tz = 9999;
    bool ok = mime_parse_date(s, &t, &tz);
    CHECK(ok);
    if (ok && (t != want || tz != want_tz))
        fprintf(stderr, "  date %s -> %lld/%d, want %lld/%d\n", s, (long long)t, tz, want, want_tz);
    CHECK(ok && t == want && tz == want_tz);
}

static void test_dates(void)
{
    check_date("Mon, 7 Feb 1994 21:52:25 -0800", 760686745, -480);
    check_date("Mon, 7 Feb 1994 21:52:25 -0800 (PST)", 760686745, -480);
    check_date("7 Feb 1994 21:52:25 -0800", 760686745, -480);
    check_date("  Mon ,  7  Feb  94  21 : 52 : 25  PST", 760686745, -480);
    check_date("Mon, 07 Feb 1994 21:52 -0800", 760686720, -480);
    check_date("Thu, 1 Jan 1970 00:00:00 GMT", 0, 0);
    check_date("Thu, 1 Jan 1970 00:00:00 UT", 0, 0);
    check_date("Thu, 1 Jan 1970 00:00:00 Z", 0, 0);
    check_date("Thu, 1 Jan 1970 00:00:00 A", 0, 0); /* military: +0000 */
    check_date("Thu, 1 Jan 1970 05:00:00 EST", 36000, -300);
    check_date("1 Jan 1970 00:00:00 EDT", 14400, -240);
    check_date("Sat, 1 Jan 2000 00:00:00 +0100", 946681200, 60);
    check_date("Sat, 1 Jan 00 00:00:00 +0000", 946684800, 0);
    check_date("Sat, 1 Jan 100 00:00:00 +0000", 946684800, 0);
    check_date("Tue, 29 Feb 2028 12:00:00 +0000 (UTC)", 1835438400, 0);
    check_date("Fri, 31 Dec 1999 23:59:60 +0000", 946684799, 0);
    check_date("(comment) Wed, 3 (x) Mar 2021 10:11:12 +0530", 1614746472, 330);
    check_date("1 january 2021 00:00:00 +0000", 1609459200, 0);
    check_date("1 Jan 2021 00:00:00", 1609459200, 0);
    check_date("Fri Jan  1 00:00:00 2021", 1609459200, 0);
    check_date("Fri Jan  1 00:00:00 UTC 2021", 1609459200, 0);
    check_date("Fri Jan  1 01:00:00 2021 +0100", 1609459200, 60);
    check_date("1-Jan-2021 00:00:00 +0000", 1609459200, 0);
    int64_t t;
    int tz;
    CHECK(!mime_parse_date("", &t, &tz));
    CHECK(!mime_parse_date(NULL, &t, &tz));
    CHECK(!mime_parse_date("garbage", &t, &tz));
    CHECK(!mime_parse_date("2021-01-01T00:00:00Z", &t, &tz));
    CHECK(!mime_parse_date("Mon, 32 Jan 2021 00:00:00 +0000", &t, &tz));
    CHECK(!mime_parse_date("Mon, 1 Foo 2021 00:00:00 +0000", &t, &tz));
    CHECK(!mime_parse_date("Mon, 1 Jan 2021 25:00:00 +0000", &t, &tz));
    CHECK(!mime_parse_date("Mon, 1 Jan 2021 10:00:00 +99", &t, &tz));
    CHECK(!mime_parse_date("Mon, 1 Jan 2021", &t, &tz));
    CHECK(!mime_parse_date("Mon Jan 1 10:00:00", &t, &tz));
    CHECK(!mime_parse_date("Mon, 1 Jan 2021 99999999999999:00", &t, &tz));
}

/* The multi-needle matcher answers exactly as mime_utf8_contains_ci for
 * every needle: case variants, Greek sigma forms, invalid bytes (which
 * only match themselves), overlapping needles, prefixes of each other. */
static unsigned mm_rs = 7;
static unsigned mm_rnd(unsigned n)
{
    mm_rs = mm_rs * 1103515245u + 12345u;
    return (mm_rs >> 16) % n;
}

static void test_multimatch(void)
{
    static const char *const parts[] = {"a", "b", "A", "ab", "\xcf\x83", "\xce\xa3", "\xcf\x82", "\xc3\xa9",
                                        "\xc3\x89", "\xff", "\xc3", "\xa9", "\xe2\x82", " "};
    const unsigned np = sizeof(parts) / sizeof(parts[0]);
    int bad = 0;
    for (int round = 0; round < 20000 && bad < 5; round++) {
        char hay[128] = "", nd[8][32];
        int nn = 1 + (int)mm_rnd(8);
        int hl = (int)mm_rnd(12);
        for (int i = 0; i < hl; i++)
            strcat(hay, parts[mm_rnd(np)]);
        struct mime_multimatch *mm = mime_multimatch_new();
        for (int k = 0; k < nn; k++) {
            nd[k][0] = '\0';
            int l = (int)mm_rnd(4);
            for (int i = 0; i < l; i++)
                strcat(nd[k], parts[mm_rnd(np)]);
            CHECK_INT(mime_multimatch_add(mm, nd[k], strlen(nd[k])), k);
        }
        mime_multimatch_build(mm);
        uint8_t *seen = xcalloc(mime_multimatch_states(mm) + 1, 1);
        mime_multimatch_scan(mm, hay, strlen(hay), seen, 0);
        for (int k = 0; k < nn; k++) {
            bool want = mime_utf8_contains_ci(hay, strlen(hay), nd[k], strlen(nd[k]));
            if (mime_multimatch_found(mm, seen, (size_t)k) != want) {
                CHECK(!"multimatch differs");
                fprintf(stderr, "  hay [%s] needle [%s] want %d\n", hay, nd[k], want);
                bad++;
            }
        }
        free(seen);
        mime_multimatch_free(mm);
    }
    /* Many needles, one pass: 5000 needles over a 100 KB text. */
    struct mime_multimatch *mm = mime_multimatch_new();
    char n[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(n, sizeof(n), "Word%dX", i);
        mime_multimatch_add(mm, n, strlen(n));
    }
    mime_multimatch_build(mm);
    struct buf text = BUF_INIT;
    for (int i = 0; i < 10000; i++)
        buf_printf(&text, "word%dx ", i * 7);
    uint8_t *seen = xcalloc(mime_multimatch_states(mm) + 1, 1);
    mime_multimatch_scan(mm, text.data, text.len, seen, 0);
    int found = 0;
    for (int i = 0; i < 5000; i++)
        found += mime_multimatch_found(mm, seen, (size_t)i);
    CHECK_INT(found, 715); /* multiples of 7 below 5000 */
    free(seen);
    buf_free(&text);
    mime_multimatch_free(mm);
    /* No needles at all. */
    mm = mime_multimatch_new();
    mime_multimatch_build(mm);
    uint8_t one = 0;
    CHECK_INT(mime_multimatch_scan(mm, "abc", 3, &one, 0), 0);
    mime_multimatch_free(mm);
}

static void test_search_text_max(void)
{
    const char *msg = "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n\xe9\xe9\xe9\xe9\xe9\xe9\r\n";
    struct mime_message *m = mime_parse(msg, strlen(msg));
    struct buf b = BUF_INIT;
    mime_search_text_body(&b, m);
    CHECK_STR(buf_cstr(&b), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\r\n\n");
    buf_reset(&b);
    mime_search_text_body_max(&b, m, 5); /* never half a character */
    CHECK_STR(buf_cstr(&b), "\xc3\xa9\xc3\xa9\n");
    buf_free(&b);
    mime_free(m);
}

int main(void)
{
    RUN(test_base64);
    RUN(test_qp);
    RUN(test_rfc2047);
    RUN(test_charsets);
    RUN(test_charset_hostile);
    RUN(test_contains);
    RUN(test_multimatch);
    RUN(test_search_text_max);
    RUN(test_dates);
    return unit_done();
}
