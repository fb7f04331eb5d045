/* test-mime-preview.c - the RFC 8970 PREVIEW text (mime-preview.c):
 * charsets, quoted-printable, base64, HTML, multipart/alternative,
 * attachments, no text part, white space, and the 200-character cut on a
 * character boundary. */
#include "unit.h"
#include "mime.h"
#include "utf8.h"

static char *preview(const char *msg)
{
    struct mime_message *m = mime_parse(msg, strlen(msg));
    struct buf b = BUF_INIT;
    mime_preview_build(&b, m);
    mime_free(m);
    char *s = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return s;
}

#define CHECK_PV(msg, want)                                                                        \
    do {                                                                                           \
        char *got_ = preview(msg);                                                                 \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void test_plain(void)
{
    CHECK_PV("Subject: x\r\n\r\nHello world\r\n", "Hello world");
    /* white space (tabs, line ends, runs) collapsed, ends trimmed */
    CHECK_PV("Subject: x\r\n\r\n  \r\n\tHello \t world,\r\n\r\n   bye  \r\n\r\n", "Hello world, bye");
    /* no body */
    CHECK_PV("Subject: x\r\n\r\n", "");
    CHECK_PV("Subject: x\r\n", "");
    /* bare LF */
    CHECK_PV("Subject: x\n\nline one\nline two\n", "line one line two");
    /* control characters count as white space */
    CHECK_PV("Subject: x\r\n\r\na\x01\x02" "b\x7f" "c\r\n", "a b c");
}

static void test_charsets(void)
{
    /* ISO-8859-1 quoted-printable, with a soft line break */
    CHECK_PV("Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
             "Caf=E9 au =\r\nlait\r\n",
             "Caf\xc3\xa9 au lait");
    /* UTF-8 base64 */
    CHECK_PV("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             "w4ljb2xlIGZyYW7Dp2Fpc2U=\r\n",
             "\xc3\x89" "cole fran\xc3\xa7" "aise");
    /* KOI8-R 8bit */
    CHECK_PV("Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
             "\xd0\xd2\xc9\xd7\xc5\xd4\r\n",
             "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
    /* an unknown charset: read as US-ASCII/UTF-8, never invalid output */
    char *s = preview("Content-Type: text/plain; charset=x-no-such\r\n\r\nok \xff\xfe text\r\n");
    CHECK(utf8_valid(s, strlen(s)));
    CHECK(strncmp(s, "ok ", 3) == 0);
    free(s);
    /* an unknown transfer encoding: no meaningful text */
    CHECK_PV("Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 f\r\n", "");
    /* U+00A0 and U+2003 are white space */
    CHECK_PV("Content-Type: text/plain; charset=utf-8\r\n\r\na\xc2\xa0\xc2\xa0" "b\xe2\x80\x83" "c\r\n", "a b c");
}

static void test_html(void)
{
    CHECK_PV("Content-Type: text/html; charset=utf-8\r\n\r\n"
             "<html><head><title>Title</title><style>p { color: red }</style>"
             "<script>var x = '<p>';</script></head>"
             "<body><p>Fish &amp; chips</p><!-- a <p>comment</p> --><div>&#8364;5&nbsp;&#x41;&lt;&gt;&quot;"
             "&unknown; &amp</div></body></html>\r\n",
             "Fish & chips \xe2\x82\xac" "5 A<>\"&unknown; &amp");
    /* tags separate words; text at the end without a closing tag */
    CHECK_PV("Content-Type: text/html\r\n\r\none<br>two<p>three", "one two three");
    /* an unterminated comment or tag swallows the rest */
    CHECK_PV("Content-Type: text/html\r\n\r\nvisible <!-- never closed", "visible");
    CHECK_PV("Content-Type: text/html\r\n\r\nvisible <b never closed", "visible");
    /* a bad character reference stays text; a huge one is U+FFFD */
    CHECK_PV("Content-Type: text/html\r\n\r\n&#xZZ; &#99999999;", "&#xZZ; \xef\xbf\xbd");
}

static void test_structure(void)
{
    /* multipart/alternative: the plain part wins even when the HTML comes first */
    CHECK_PV("Content-Type: multipart/alternative; boundary=b\r\n\r\n"
             "--b\r\nContent-Type: text/html\r\n\r\n<p>html text</p>\r\n"
             "--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n--b--\r\n",
             "plain text");
    /* only HTML in the alternative */
    CHECK_PV("Content-Type: multipart/alternative; boundary=b\r\n\r\n"
             "--b\r\nContent-Type: text/html\r\n\r\n<p>html only</p>\r\n--b--\r\n",
             "html only");
    /* multipart/mixed: the body inside a nested alternative, an attached text file skipped */
    CHECK_PV("Content-Type: multipart/mixed; boundary=o\r\n\r\n"
             "--o\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n"
             "attached file\r\n"
             "--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
             "--i\r\nContent-Type: text/plain\r\n\r\nthe body\r\n--i--\r\n"
             "--o--\r\n",
             "the body");
    /* no text part: "" */
    CHECK_PV("Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n", "");
    CHECK_PV("Content-Type: multipart/mixed; boundary=o\r\n\r\n"
             "--o\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--o--\r\n",
             "");
    /* the text of an attached message is not this message's */
    CHECK_PV("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text\r\n", "");
}

static void test_cut(void)
{
    /* ASCII: exactly MIME_PREVIEW_MAX_CHARS */
    struct buf m = BUF_INIT;
    buf_puts(&m, "Subject: x\r\n\r\n");
    for (int i = 0; i < 400; i++)
        buf_putc(&m, (char)('a' + i % 26));
    char *s = preview(buf_cstr(&m));
    CHECK_INT(strlen(s), MIME_PREVIEW_MAX_CHARS);
    free(s);
    /* two-, three- and four-byte characters: MIME_PREVIEW_MAX_CHARS characters, whole ones */
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t k = 0; k < 3; k++) {
        buf_reset(&m);
        buf_puts(&m, "Content-Type: text/plain; charset=utf-8\r\n\r\nx");   /* odd offset */
        for (int i = 0; i < 300; i++)
            buf_puts(&m, chars[k]);
        s = preview(buf_cstr(&m));
        CHECK(utf8_valid(s, strlen(s)));
        CHECK_INT(utf8_chars(s), MIME_PREVIEW_MAX_CHARS);
        CHECK_INT(strlen(s), 1 + (MIME_PREVIEW_MAX_CHARS - 1) * strlen(chars[k]));
        CHECK(strlen(s) <= MIME_PREVIEW_MAX_BYTES);
        free(s);
    }
    /* no trailing space at the cut */
    buf_reset(&m);
    buf_puts(&m, "Subject: x\r\n\r\n");
    for (int i = 0; i < MIME_PREVIEW_MAX_CHARS - 1; i++)
        buf_putc(&m, 'a');
    buf_puts(&m, "   b\r\n");
    s = preview(buf_cstr(&m));
    CHECK_INT(strlen(s), MIME_PREVIEW_MAX_CHARS - 1);
    CHECK(s[strlen(s) - 1] == 'a');
    free(s);
    buf_free(&m);
}

int main(void)
{
    RUN(test_plain);
    RUN(test_charsets);
    RUN(test_html);
    RUN(test_structure);
    RUN(test_cut);
    return unit_done();
}
