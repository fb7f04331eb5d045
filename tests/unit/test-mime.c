/* test-mime.c - MIME parser, ENVELOPE/BODYSTRUCTURE, sections, headers. */
#include "unit.h"
#include "mime.h"

static char *bs(const char *msg, bool ext)
{
    struct mime_message *m = mime_parse(msg, strlen(msg));
    struct buf b = BUF_INIT;
    mime_write_bodystructure(&b, msg, &m->root, ext);
    mime_free(m);
    return buf_release(&b);
}

static char *env(const char *msg)
{
    struct mime_message *m = mime_parse(msg, strlen(msg));
    struct buf b = BUF_INIT;
    mime_write_envelope(&b, msg, &m->root);
    mime_free(m);
    return buf_release(&b);
}

static char *addrs(const char *value)
{
    char *msg = xasprintf("To: %s\r\n\r\n", value);
    struct mime_message *m = mime_parse(msg, strlen(msg));
    struct buf b = BUF_INIT;
    mime_write_envelope(&b, msg, &m->root);
    mime_free(m);
    free(msg);
    /* envelope: (NIL NIL NIL NIL NIL <to> NIL NIL NIL NIL) */
    char *s = buf_release(&b);
    const char *p = s + strlen("(NIL NIL NIL NIL NIL ");
    size_t n = strlen(p) - strlen(" NIL NIL NIL NIL)");
    char *r = xstrndup(p, n);
    free(s);
    return r;
}

#define CHECK_BS(msg, ext, want)                                                                   \
    do {                                                                                           \
        char *got_ = bs(msg, ext);                                                                 \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)
#define CHECK_ENV(msg, want)                                                                       \
    do {                                                                                           \
        char *got_ = env(msg);                                                                     \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)
#define CHECK_ADDR(value, want)                                                                    \
    do {                                                                                           \
        char *got_ = addrs(value);                                                                 \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

static const char rfc_simple[] =
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    "Subject: afternoon meeting\r\n"
    "To: mooch@owatagu.siam.edu.example\r\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

static void test_simple(void)
{
    CHECK_ENV(rfc_simple,
              "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"afternoon meeting\" "
              "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
              "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
              "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
              "((NIL NIL \"mooch\" \"owatagu.siam.edu.example\")) NIL NIL NIL "
              "\"<B27397-0100000@Blurdybloop.example>\")");
    CHECK_BS(rfc_simple, false, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1)");
    CHECK_BS(rfc_simple, true,
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1 NIL NIL NIL NIL)");

    struct mime_message *m = mime_parse(rfc_simple, strlen(rfc_simple));
    CHECK_INT(m->root.body_off + m->root.body_len, strlen(rfc_simple));
    CHECK_STR(m->root.type, "text");
    CHECK_STR(m->root.subtype, "plain");
    CHECK(mime_find_section(m, "") == &m->root);
    CHECK(mime_find_section(m, "1") == &m->root);
    CHECK(mime_find_section(m, "2") == NULL);
    CHECK(mime_find_section(m, "1.1") == NULL);
    CHECK(mime_find_section(m, "0") == NULL);
    CHECK(mime_find_section(m, "01") == NULL);
    CHECK(mime_find_section(m, "1.") == NULL);
    CHECK(mime_find_section(m, "x") == NULL);
    mime_free(m);
}

static void test_defaults(void)
{
    /* No Content-Type: text/plain; charset=us-ascii (RFC 2045 5.2). */
    CHECK_BS("Subject: x\r\n\r\nabc\r\ndef\r\n", true,
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 2 NIL NIL NIL NIL)");
    /* Empty message. */
    CHECK_BS("", false, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)");
    CHECK_ENV("", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    /* Headers only, no blank line: everything is header, empty body. */
    const char *h = "Subject: only headers\r\nFrom: a@b.example\r\n";
    struct mime_message *m = mime_parse(h, strlen(h));
    CHECK_INT(m->root.hdr_len, strlen(h));
    CHECK_INT(m->root.body_len, 0);
    CHECK_INT(m->root.body_off, strlen(h));
    mime_free(m);
    CHECK_ENV(h, "(NIL \"only headers\" ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) "
                 "((NIL NIL \"a\" \"b.example\")) NIL NIL NIL NIL NIL)");
    /* Body without any header: starts with the blank line. */
    m = mime_parse("\r\nbody\r\n", 8);
    CHECK_INT(m->root.hdr_len, 2);
    CHECK_INT(m->root.body_len, 6);
    CHECK_INT(m->root.body_lines, 1);
    mime_free(m);
    /* Unparsable Content-Type falls back to the default. */
    CHECK_BS("Content-Type: garbage\r\n\r\nx", false,
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0)");
    /* Non-text leaf: no line count. */
    CHECK_BS("Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n", true,
             "(\"IMAGE\" \"PNG\" NIL NIL NIL \"BASE64\" 14 NIL NIL NIL NIL)");
}

static void test_bare_lf(void)
{
    const char *msg = "From: a@b.example\nSubject: lf\nContent-Type: text/plain\n\nline1\nline2\n";
    CHECK_BS(msg, false, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 12 2)");
    char *v = mime_header_get(msg, strlen(msg), "subject");
    CHECK_STR(v, "lf");
    free(v);
    CHECK_INT(mime_header_length(msg, strlen(msg)), 56);
    const char *mp = "Content-Type: multipart/mixed; boundary=b\n\npre\n--b\n\none\n--b\nContent-Type: text/html\n\n<b>two</b>\n--b--\nepi\n";
    CHECK_BS(mp, false,
             "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0)"
             "(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 10 0) \"MIXED\")");
}

static const char multi_mixed[] =
    "From: Alice <alice@example.org>\r\n"
    "To: Bob <bob@example.net>\r\n"
    "Subject: report\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed;\r\n"
    " boundary=\"XXXX\"\r\n"
    "\r\n"
    "This is a multi-part message in MIME format.\r\n"
    "--XXXX\r\n"
    "Content-Type: multipart/alternative; boundary=YYYY\r\n"
    "\r\n"
    "--YYYY\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Caf=C3=A9 au lait\r\n"
    "--YYYY\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Caf\xc3\xa9</p>\r\n"
    "--YYYY--\r\n"
    "\r\n"
    "--XXXX\r\n"
    "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-ID: <part3@example.org>\r\n"
    "Content-Description: The report\r\n"
    "Content-Language: en, de\r\n"
    "Content-Location: http://example.org/r.pdf\r\n"
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--XXXX--\r\n"
    "epilogue\r\n";

static void test_multipart(void)
{
    CHECK_BS(multi_mixed, false,
             "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 17 0)"
             "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 0) \"ALTERNATIVE\")"
             "(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") \"<part3@example.org>\" \"The report\" "
             "\"BASE64\" 12) \"MIXED\")");
    CHECK_BS(multi_mixed, true,
             "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 17 0 NIL NIL NIL NIL)"
             "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 0 NIL NIL NIL NIL) \"ALTERNATIVE\" "
             "(\"BOUNDARY\" \"YYYY\") NIL NIL NIL)"
             "(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") \"<part3@example.org>\" \"The report\" "
             "\"BASE64\" 12 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"ATTACHMENT\" (\"FILENAME\" \"report.pdf\")) "
             "(\"en\" \"de\") \"http://example.org/r.pdf\") \"MIXED\" (\"BOUNDARY\" \"XXXX\") NIL NIL NIL)");

    struct mime_message *m = mime_parse(multi_mixed, strlen(multi_mixed));
    const struct mime_part *p1 = mime_find_section(m, "1");
    const struct mime_part *p11 = mime_find_section(m, "1.1");
    const struct mime_part *p12 = mime_find_section(m, "1.2");
    const struct mime_part *p2 = mime_find_section(m, "2");
    CHECK(p1 && p1->nchildren == 2);
    CHECK(p11 && !strcmp(p11->subtype, "plain"));
    CHECK(p12 && !strcmp(p12->subtype, "html"));
    CHECK(p2 && !strcmp(p2->subtype, "pdf"));
    CHECK(mime_find_section(m, "3") == NULL);
    CHECK(mime_find_section(m, "1.3") == NULL);
    CHECK(mime_find_section(m, "2.1") == NULL);
    if (p11) {
        CHECK(memcmp(multi_mixed + p11->body_off, "Caf=C3=A9 au lait", p11->body_len) == 0);
        struct buf d = BUF_INIT;
        CHECK(mime_decode_transfer(p11->encoding, multi_mixed + p11->body_off, p11->body_len, &d));
        CHECK_STR(buf_cstr(&d), "Caf\xc3\xa9 au lait");
        buf_free(&d);
    }
    if (p2) {
        CHECK(memcmp(multi_mixed + p2->body_off, "JVBERi0xLjQK", 12) == 0);
        CHECK_STR(p2->disposition, "attachment");
        struct buf d = BUF_INIT;
        CHECK(mime_decode_transfer(p2->encoding, multi_mixed + p2->body_off, p2->body_len, &d));
        CHECK_STR(buf_cstr(&d), "%PDF-1.4\n");
        buf_free(&d);
        struct buf h = BUF_INIT;
        buf_append(&h, multi_mixed + p2->hdr_off, p2->hdr_len);
        CHECK(strncmp(h.data, "Content-Type: application/pdf", 29) == 0);
        CHECK(h.len >= 4 && !strcmp(h.data + h.len - 4, "\r\n\r\n"));
        buf_free(&h);
    }
    struct buf t = BUF_INIT;
    mime_search_text_body(&t, m);
    CHECK(strstr(buf_cstr(&t), "Caf\xc3\xa9 au lait") != NULL);
    CHECK(strstr(buf_cstr(&t), "<p>") == NULL);
    CHECK(strstr(buf_cstr(&t), "JVBER") == NULL);
    CHECK(mime_utf8_contains_ci(t.data, t.len, "CAF\xc3\x89 AU", strlen("CAF\xc3\x89 AU")));
    buf_free(&t);
    mime_free(m);
}

static const char rfc822_attached[] =
    "From: Carol <carol@example.com>\r\n"
    "To: dave@example.com\r\n"
    "Subject: Fwd: hello\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "--outer\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "See below.\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "Content-Disposition: inline\r\n"
    "\r\n"
    "From: Eve <eve@example.com>\r\n"
    "Subject: hello\r\n"
    "Date: Tue, 1 Feb 2022 10:00:00 +0100\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "\r\n"
    "hi\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<i>hi</i>\r\n"
    "--inner--\r\n"
    "--outer--\r\n";

static void test_rfc822(void)
{
    CHECK_BS(rfc822_attached, false,
             "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 0)"
             "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 209 "
             "(\"Tue, 1 Feb 2022 10:00:00 +0100\" \"hello\" ((\"Eve\" NIL \"eve\" \"example.com\")) "
             "((\"Eve\" NIL \"eve\" \"example.com\")) ((\"Eve\" NIL \"eve\" \"example.com\")) NIL NIL NIL NIL NIL) "
             "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 0)"
             "(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 9 0) \"ALTERNATIVE\") 12) \"MIXED\")");
    struct mime_message *m = mime_parse(rfc822_attached, strlen(rfc822_attached));
    const struct mime_part *p2 = mime_find_section(m, "2");
    CHECK(p2 && p2->message);
    const struct mime_part *p21 = mime_find_section(m, "2.1");
    const struct mime_part *p22 = mime_find_section(m, "2.2");
    CHECK(p21 && !strcmp(p21->subtype, "plain"));
    CHECK(p22 && !strcmp(p22->subtype, "html"));
    CHECK(mime_find_section(m, "2.3") == NULL);
    CHECK(mime_find_section(m, "2.1.1") == NULL);
    if (p2 && p2->message) {
        CHECK_INT(p2->message->hdr_off, p2->body_off);
        char *s = mime_header_get(rfc822_attached + p2->message->hdr_off, p2->message->hdr_len, "subject");
        CHECK_STR(s, "hello");
        free(s);
    }
    struct buf t = BUF_INIT;
    mime_search_text_body(&t, m);
    CHECK(strstr(buf_cstr(&t), "See below.") != NULL);
    CHECK(strstr(buf_cstr(&t), "Subject: hello") != NULL);
    CHECK(strstr(buf_cstr(&t), "hi") != NULL);
    buf_free(&t);
    mime_free(m);

    /* A message whose body is a non-multipart encapsulated message. */
    const char *wrap = "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n";
    m = mime_parse(wrap, strlen(wrap));
    CHECK(mime_find_section(m, "1") == &m->root);
    CHECK(m->root.message && mime_find_section(m, "1.1") == m->root.message);
    CHECK(mime_find_section(m, "1.1.1") == NULL);
    mime_free(m);
    /* message/rfc822 with base64 CTE: opaque leaf, never an envelope. */
    CHECK_BS("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n",
             false, "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 22)");
}

static void test_digest(void)
{
    const char *msg = "Content-Type: multipart/digest; boundary=d\r\n\r\n"
                      "--d\r\n\r\nSubject: one\r\n\r\nfirst\r\n"
                      "--d\r\nContent-Type: text/plain\r\n\r\nnot a message\r\n--d--\r\n";
    CHECK_BS(msg, false,
             "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 21 (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) "
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0) 2)"
             "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 13 0) \"DIGEST\")");
}

static void test_boundaries(void)
{
    /* Missing close delimiter: the last part runs to the end. */
    CHECK_BS("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nA\r\n--b\r\n\r\nB\r\nmore\r\n", false,
             "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0)"
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 2) \"MIXED\")");
    /* Wrong boundary: no part found, the body is one text part. */
    CHECK_BS("Content-Type: multipart/mixed; boundary=nope\r\n\r\n--b\r\n\r\nA\r\n--b--\r\n", false,
             "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 17 4) \"MIXED\")");
    /* No boundary parameter at all. */
    CHECK_BS("Content-Type: multipart/mixed\r\n\r\nx\r\n", false,
             "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1) \"MIXED\")");
    /* Trailing white space after the boundary; prefix-only match is not a boundary. */
    CHECK_BS("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n\r\nA\r\n--bx\r\nB\r\n--b--  junk\r\n", false,
             "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 2) \"MIXED\")");
    /* Boundary in the middle of a line is content. */
    CHECK_BS("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx --b\r\n--b--\r\n", false,
             "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0) \"MIXED\")");
    /* Nested part whose boundary never appears: the outer boundary still
     * ends it. */
    const char *nested = "Content-Type: multipart/mixed; boundary=out\r\n\r\n"
                         "--out\r\nContent-Type: multipart/alternative; boundary=lost\r\n\r\nlost text\r\n"
                         "--out\r\n\r\nsecond\r\n--out--\r\n";
    CHECK_BS(nested, false,
             "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 0) \"ALTERNATIVE\")"
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 0) \"MIXED\")");
    /* Empty parts and adjacent boundaries. */
    CHECK_BS("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\n--b--", false,
             "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)"
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) \"MIXED\")");
    /* Boundary with characters that need quoting, and unquoted '='. */
    CHECK_BS("Content-Type: multipart/mixed; boundary=----=_Part_0_1.2\r\n\r\n------=_Part_0_1.2\r\n\r\nz\r\n"
             "------=_Part_0_1.2--\r\n", false,
             "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0) \"MIXED\")");
}

static void test_deep_nesting(void)
{
    struct buf b = BUF_INIT;
    int levels = 200;
    for (int i = 0; i < levels; i++)
        buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
    buf_puts(&b, "Content-Type: text/plain\r\n\r\ndeep\r\n");
    for (int i = levels - 1; i >= 0; i--)
        buf_printf(&b, "--b%d--\r\n", i);
    struct mime_message *m = mime_parse(b.data, b.len);
    int depth = 0;
    const struct mime_part *p = &m->root;
    while (p->nchildren) {
        p = &p->children[0];
        depth++;
    }
    CHECK(depth <= MIME_MAX_DEPTH);
    CHECK_STR(p->type, "application");
    struct buf out = BUF_INIT;
    mime_write_bodystructure(&out, b.data, &m->root, true);
    int bal = 0;
    bool neg = false;
    for (size_t i = 0; i < out.len; i++) {
        bal += out.data[i] == '(' ? 1 : out.data[i] == ')' ? -1 : 0;
        neg |= bal < 0;
    }
    CHECK(bal == 0 && !neg);
    buf_free(&out);
    mime_free(m);

    /* Nested message/rfc822 beyond the limit. */
    buf_reset(&b);
    for (int i = 0; i < levels; i++)
        buf_puts(&b, "Content-Type: message/rfc822\r\n\r\n");
    buf_puts(&b, "Subject: x\r\n\r\nend\r\n");
    m = mime_parse(b.data, b.len);
    depth = 0;
    p = &m->root;
    while (p->message) {
        p = p->message;
        depth++;
    }
    CHECK(depth <= MIME_MAX_DEPTH);
    buf_reset(&out);
    mime_write_bodystructure(&out, b.data, &m->root, true);
    CHECK(out.len > 0);
    buf_free(&out);
    mime_free(m);

    /* Many parts: bounded by MIME_MAX_PARTS. */
    buf_reset(&b);
    buf_puts(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
    for (int i = 0; i < MIME_MAX_PARTS + 500; i++)
        buf_puts(&b, "--p\r\n\r\nx\r\n");
    buf_puts(&b, "--p--\r\n");
    m = mime_parse(b.data, b.len);
    CHECK(m->root.nchildren <= MIME_MAX_PARTS);
    CHECK(m->root.nchildren >= MIME_MAX_PARTS - 2);
    const struct mime_part *last = &m->root.children[m->root.nchildren - 1];
    CHECK(last->body_off + last->body_len <= b.len);
    CHECK(last->body_len > 10); /* the rest became one leaf */
    mime_free(m);
    buf_free(&b);
}

static void test_rfc2231(void)
{
    const char *msg = "Content-Type: application/octet-stream;\r\n"
                      " name*0=\"long \";\r\n"
                      " name*1=\"file.txt\"\r\n"
                      "Content-Disposition: attachment;\r\n"
                      " filename*0*=utf-8''%E2%82%AC%20;\r\n"
                      " filename*1=\"rates (2).txt\"\r\n"
                      "\r\ndata";
    CHECK_BS(msg, true,
             "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"long file.txt\") NIL NIL \"7BIT\" 4 NIL "
             "(\"ATTACHMENT\" (\"FILENAME*\" \"utf-8''%E2%82%AC%20rates%20%282%29.txt\")) NIL NIL)");
    struct mime_message *m = mime_parse(msg, strlen(msg));
    struct buf d = BUF_INIT;
    CHECK(mime_param_decoded(&d, m->root.disp_params, m->root.ndisp_params, "filename"));
    CHECK_STR(buf_cstr(&d), "\xe2\x82\xac rates (2).txt");
    buf_reset(&d);
    CHECK(mime_param_decoded(&d, m->root.params, m->root.nparams, "name"));
    CHECK_STR(buf_cstr(&d), "long file.txt");
    CHECK(!mime_param_decoded(&d, m->root.params, m->root.nparams, "nothere"));
    buf_free(&d);
    mime_free(m);
    /* Single extended parameter, out-of-order continuations, comments. */
    CHECK_BS("Content-Type: text/plain; charset*=iso-8859-1'en'abc\r\n\r\n", false,
             "(\"TEXT\" \"PLAIN\" (\"CHARSET*\" \"iso-8859-1'en'abc\") NIL NIL \"7BIT\" 0 0)");
    CHECK_BS("Content-Type: text/plain; x*1=b; x*0=a; (comment) y = \"q\\\"uo\" (c)\r\n\r\n", false,
             "(\"TEXT\" \"PLAIN\" (\"X\" \"ab\" \"Y\" \"q\\\"uo\") NIL NIL \"7BIT\" 0 0)");
    CHECK_BS("Content-Type: (c) text (c) / (c) plain (c) ; charset=us-ascii (Plain text)\r\n\r\n", false,
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0)");
    /* RFC 2047-encoded filename (Outlook style) decodes via mime_param_decoded. */
    const char *ctn = "Content-Type: application/pdf; name=\"=?UTF-8?B?w6RiYy5wZGY=?=\"\r\n\r\n";
    m = mime_parse(ctn, strlen(ctn));
    d = (struct buf)BUF_INIT;
    CHECK(mime_param_decoded(&d, m->root.params, m->root.nparams, "name"));
    CHECK_STR(buf_cstr(&d), "\xc3\xa4" "bc.pdf");
    buf_free(&d);
    mime_free(m);
}

static void test_addresses(void)
{
    CHECK_ADDR("a@b.example", "((NIL NIL \"a\" \"b.example\"))");
    CHECK_ADDR("\"Doe, John\" <john@example.com>, jane@example.com (Jane Doe)",
               "((\"Doe, John\" NIL \"john\" \"example.com\")(\"Jane Doe\" NIL \"jane\" \"example.com\"))");
    CHECK_ADDR("John Q. Public <jqp@example.com>", "((\"John Q. Public\" NIL \"jqp\" \"example.com\"))");
    CHECK_ADDR("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, x@y.test",
               "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")"
               "(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)(NIL NIL \"x\" \"y.test\"))");
    CHECK_ADDR("undisclosed-recipients:;", "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))");
    CHECK_ADDR("<@route1,@route2:user@host.test>", "((NIL \"@route1,@route2\" \"user\" \"host.test\"))");
    CHECK_ADDR("\"john doe\"@example.com", "((NIL NIL \"\\\"john doe\\\"\" \"example.com\"))");
    CHECK_ADDR("\"plain\"@example.com", "((NIL NIL \"plain\" \"example.com\"))");
    CHECK_ADDR("nodomain", "((NIL NIL \"nodomain\" \"MISSING_DOMAIN\"))");
    CHECK_ADDR("Name <nodomain>", "((\"Name\" NIL \"nodomain\" \"MISSING_DOMAIN\"))");
    CHECK_ADDR("  ", "NIL");
    CHECK_ADDR(",,,", "NIL");
    CHECK_ADDR("=?utf-8?q?J=C3=B6rg?= <j@x.test>", "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.test\"))");
    CHECK_ADDR("a@[192.0.2.1]", "((NIL NIL \"a\" \"[192.0.2.1]\"))");
    CHECK_ADDR("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
               "((\"Pete\" NIL \"pete\" \"silly.test\"))");
    CHECK_ADDR("a . b @ c . d", "((NIL NIL \"a.b\" \"c.d\"))");
    /* garbage never crashes and keeps the syntax valid */
    CHECK_ADDR("<<>>@@::;;\"", "NIL");
    /* 8-bit display name: literal */
    CHECK_ADDR("J\xc3\xb6rg <j@x.test>", "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x.test\"))");
}

static void test_envelope_misc(void)
{
    const char *msg = "From: a@b.test\r\nSender: s@b.test\r\nReply-To: r@b.test\r\nCc: c@b.test\r\n"
                      "Bcc: d@b.test\r\nIn-Reply-To: <x@y>\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\n"
                      "Subject: second ignored\r\nSubject:\r\n\r\n";
    CHECK_ENV(msg, "(NIL \"=?iso-8859-1?q?caf=E9?=\" ((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"s\" \"b.test\")) "
                   "((NIL NIL \"r\" \"b.test\")) NIL ((NIL NIL \"c\" \"b.test\")) ((NIL NIL \"d\" \"b.test\")) "
                   "\"<x@y>\" NIL)");
    /* Folded subject with quotes and backslash; 8-bit subject is a literal. */
    CHECK_ENV("Subject: a \"q\"\r\n \\ b\r\n\r\n",
              "(NIL \"a \\\"q\\\" \\\\ b\" NIL NIL NIL NIL NIL NIL NIL NIL)");
    CHECK_ENV("Subject: caf\xe9\r\n\r\n", "(NIL {4}\r\ncaf\xe9 NIL NIL NIL NIL NIL NIL NIL NIL)");
    CHECK_ENV("Subject:\r\n\r\n", "(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

static void test_headers(void)
{
    const char *h = "Received: from a\r\n\tby b\r\nSubject: Hello\r\n  world\r\nX-Empty:\r\n"
                    "From : x@y\r\nbogus line\r\nSUBJECT: second\r\n\r\nbody";
    char *v = mime_header_get(h, strlen(h), "subject");
    CHECK_STR(v, "Hello  world");
    free(v);
    v = mime_header_get(h, strlen(h), "received");
    CHECK_STR(v, "from a\tby b");
    free(v);
    v = mime_header_get(h, strlen(h), "from");
    CHECK_STR(v, "x@y");
    free(v);
    v = mime_header_get(h, strlen(h), "x-empty");
    CHECK_STR(v, "");
    free(v);
    CHECK(mime_header_get(h, strlen(h), "body") == NULL);
    CHECK(mime_header_get(h, strlen(h), "bogus line") == NULL);
    CHECK_INT(mime_header_length(h, strlen(h)), strlen(h) - 4);
    CHECK_INT(mime_header_length("abc", 3), 3);
    CHECK_INT(mime_header_length("", 0), 0);
    CHECK_INT(mime_header_length("\n", 1), 1);

    const char *names[] = {"subject", "FROM"};
    struct buf b = BUF_INIT;
    mime_header_filter(&b, h, mime_header_length(h, strlen(h)), names, 2, false);
    CHECK_STR(buf_cstr(&b), "Subject: Hello\r\n  world\r\nFrom : x@y\r\nSUBJECT: second\r\n\r\n");
    buf_reset(&b);
    mime_header_filter(&b, h, mime_header_length(h, strlen(h)), names, 2, true);
    CHECK_STR(buf_cstr(&b), "Received: from a\r\n\tby b\r\nX-Empty:\r\n\r\n");
    buf_reset(&b);
    mime_header_filter(&b, h, mime_header_length(h, strlen(h)), names, 0, false);
    CHECK_STR(buf_cstr(&b), "\r\n");
    buf_reset(&b);
    /* Last field without line end (no blank line in the message). */
    mime_header_filter(&b, "A: 1\r\nB: 2", 10, names, 0, true);
    CHECK_STR(buf_cstr(&b), "A: 1\r\nB: 2\r\n\r\n");
    buf_free(&b);
}

static void test_8bit_headers(void)
{
    const char *msg = "From: J\xf6rg <j@x.test>\r\nSubject: \xe4\xf6\xfc\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
                      "Content-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdf" "e\r\n";
    struct mime_message *m = mime_parse(msg, strlen(msg));
    CHECK_STR(m->root.subtype, "plain");
    struct buf b = BUF_INIT;
    mime_write_envelope(&b, msg, &m->root);
    CHECK(strstr(b.data, "{3}\r\n\xe4\xf6\xfc") != NULL);
    buf_reset(&b);
    mime_search_text_body(&b, m);
    CHECK_STR(buf_cstr(&b), "Gr\xc3\xbc\xc3\x9f" "e\r\n\n");
    CHECK(mime_utf8_contains_ci(b.data, b.len, "GR\xc3\x9c\xc3\x9f", 6));
    buf_free(&b);
    mime_free(m);
}

static size_t count_parts(const struct mime_part *p)
{
    size_t n = 1;
    for (size_t i = 0; i < p->nchildren; i++)
        n += count_parts(&p->children[i]);
    if (p->message)
        n += count_parts(p->message);
    return n;
}

static void test_misc(void)
{
    /* Empty Reply-To defaults to From (RFC 9051 7.5.2). */
    CHECK_ENV("From: a@b.test\r\nReply-To:\r\nSender: <>\r\n\r\n",
              "(NIL NIL ((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"a\" \"b.test\")) "
              "((NIL NIL \"a\" \"b.test\")) NIL NIL NIL NIL NIL)");
    /* Sections inside a digest. */
    const char *dg = "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: s\r\n\r\nx\r\n--d--\r\n";
    struct mime_message *m = mime_parse(dg, strlen(dg));
    const struct mime_part *p = mime_find_section(m, "1.1");
    CHECK(p && !strcmp(p->type, "text") && p->body_len == 1);
    CHECK(mime_find_section(m, "1.2") == NULL);
    mime_free(m);
    /* Header filter keeps bare LF fields as they are. */
    struct buf b = BUF_INIT;
    const char *names[] = {"a"};
    mime_header_filter(&b, "A: 1\n b\nB: 2\n\n", strlen("A: 1\n b\nB: 2\n\n"), names, 1, false);
    CHECK_STR(buf_cstr(&b), "A: 1\n b\n\r\n");
    buf_reset(&b);
    /* Strings: quoted, escaped, literal for 8-bit/CR/LF/NUL/long. */
    mime_write_imap_string(&b, "a\"b\\c", 5);
    CHECK_STR(buf_cstr(&b), "\"a\\\"b\\\\c\"");
    buf_reset(&b);
    mime_write_imap_string(&b, "a\r\nb", 4);
    CHECK_STR(buf_cstr(&b), "{4}\r\na\r\nb");
    buf_reset(&b);
    mime_write_imap_string(&b, "a\0b", 3);
    CHECK_INT(b.len, 8);
    CHECK(memcmp(b.data, "{3}\r\na\0b", 8) == 0);
    buf_reset(&b);
    mime_write_nstring(&b, NULL);
    CHECK_STR(buf_cstr(&b), "NIL");
    buf_reset(&b);
    char *longs = xmalloc(5001);
    memset(longs, 'x', 5000);
    longs[5000] = '\0';
    mime_write_imap_string(&b, longs, 5000);
    CHECK(strncmp(buf_cstr(&b), "{5000}\r\n", 8) == 0);
    free(longs);
    buf_free(&b);
    /* Params. */
    const char *ct = "Content-Type: text/plain; Charset=\"UTF-8\"; format=flowed\r\n\r\n";
    m = mime_parse(ct, strlen(ct));
    CHECK_STR(mime_param_get(m->root.params, m->root.nparams, "charset"), "UTF-8");
    CHECK_STR(mime_param_get(m->root.params, m->root.nparams, "format"), "flowed");
    CHECK(mime_param_get(m->root.params, m->root.nparams, "x") == NULL);
    mime_free(m);
    /* Part budget across nesting levels stays bounded. */
    struct buf big = BUF_INIT;
    buf_puts(&big, "Content-Type: multipart/mixed; boundary=o\r\n\r\n");
    for (int i = 0; i < 40; i++) {
        buf_puts(&big, "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n");
        for (int j = 0; j < 1000; j++)
            buf_puts(&big, "--i\r\n\r\ny\r\n");
        buf_puts(&big, "--i--\r\n");
    }
    buf_puts(&big, "--o--\r\n");
    m = mime_parse(big.data, big.len);
    size_t n = count_parts(&m->root);
    CHECK(n <= MIME_MAX_PARTS + 2);
    CHECK(n >= MIME_MAX_PARTS - 50);
    mime_free(m);
    buf_free(&big);
    /* NULL-safe and garbage-safe entry points. */
    m = mime_parse(NULL, 0);
    CHECK(m && m->root.body_len == 0);
    CHECK(mime_find_section(m, NULL) == NULL);
    CHECK(mime_find_section(NULL, "1") == NULL);
    mime_free(m);
    mime_free(NULL);
}

/* ---- output bounds (issue 9 item 5) ---- */

/* A minimal reader of IMAP response syntax: the value at *p (list,
 * NIL, number, atom, quoted string, literal), skipped; false when the
 * text is not well-formed. *items counts the elements of a list. */
static bool skip_value(const char **p, const char *end, int depth, size_t *items);

static bool skip_list(const char **p, const char *end, int depth, size_t *items)
{
    (*p)++; /* '(' */
    size_t n = 0;
    while (*p < end && **p != ')') {
        /* Elements are separated by one space; addresses in an address
         * list follow each other directly ("(...)(...)"). */
        if (n && **p == ' ')
            (*p)++;
        else if (n && !(**p == '(' && (*p)[-1] == ')'))
            return false;
        if (!skip_value(p, end, depth + 1, NULL))
            return false;
        n++;
    }
    if (*p >= end)
        return false;
    (*p)++;
    if (items)
        *items = n;
    return true;
}

static bool skip_value(const char **p, const char *end, int depth, size_t *items)
{
    if (depth > 100 || *p >= end)
        return false;
    char c = **p;
    if (c == '(')
        return skip_list(p, end, depth, items);
    if (c == '"') {
        for ((*p)++; *p < end && **p != '"'; (*p)++) {
            if (**p == '\\')
                (*p)++;
            if (**p == '\r' || **p == '\n')
                return false;
        }
        if (*p >= end)
            return false;
        (*p)++;
        return true;
    }
    if (c == '{') {
        char *e;
        unsigned long n = strtoul(*p + 1, &e, 10);
        if (*e != '}' || e[1] != '\r' || e[2] != '\n' || (size_t)(end - (e + 3)) < n)
            return false;
        *p = e + 3 + n;
        return true;
    }
    const char *s = *p;
    while (*p < end && **p != ' ' && **p != ')' && **p != '(')
        (*p)++;
    return *p > s;
}

static bool well_formed(const char *s, size_t len, size_t *items)
{
    const char *p = s;
    return *s == '(' && skip_value(&p, s + len, 0, items) && p == s + len;
}

/* The n-th (0-based) top-level element of a list, as a pointer/length. */
static bool nth_item(const char *s, size_t len, size_t n, const char **it, size_t *ilen)
{
    const char *p = s + 1, *end = s + len;
    for (size_t i = 0; p < end && *p != ')'; i++) {
        if (i && *p == ' ')
            p++;
        const char *st = p;
        if (!skip_value(&p, end, 1, NULL))
            return false;
        if (i == n) {
            *it = st;
            *ilen = (size_t)(p - st);
            return true;
        }
    }
    return false;
}

static size_t count_addresses(const char *list, size_t len)
{
    size_t n = 0;
    if (len < 2 || list[0] != '(')
        return 0;
    const char *p = list + 1, *end = list + len;
    while (p < end && *p == '(') {
        if (!skip_value(&p, end, 1, NULL))
            break;
        n++;
    }
    return n;
}

static void test_envelope_bounds(void)
{
    /* 5000 addresses: the first MIME_ENV_MAX_ADDRESSES are listed. */
    struct buf m = BUF_INIT;
    buf_puts(&m, "From: ");
    for (int i = 0; i < 5000; i++)
        buf_printf(&m, "u%d@x.test,\r\n ", i);
    buf_puts(&m, "last@x.test\r\nSubject: s\r\n\r\nbody\r\n");
    char *e = env(buf_cstr(&m));
    size_t items = 0;
    CHECK(well_formed(e, strlen(e), &items));
    CHECK_INT(items, 10);
    const char *from, *sender, *reply;
    size_t fl = 0, sl = 0, rl = 0;
    CHECK(nth_item(e, strlen(e), 2, &from, &fl));
    CHECK(nth_item(e, strlen(e), 3, &sender, &sl));
    CHECK(nth_item(e, strlen(e), 4, &reply, &rl));
    CHECK_INT(count_addresses(from, fl), MIME_ENV_MAX_ADDRESSES);
    CHECK(fl == sl && fl == rl && !memcmp(from, sender, fl) && !memcmp(from, reply, fl));
    CHECK(strstr(e, "(NIL NIL \"u0\" \"x.test\")") != NULL);
    CHECK(strstr(e, "\"u999\"") != NULL && strstr(e, "\"u1000\"") == NULL);
    free(e);

    /* 10 MB of "a," (the reported attack): bounded output, every field
     * within MIME_ENV_MAX_LIST plus one address. */
    buf_reset(&m);
    buf_puts(&m, "From: ");
    while (m.len < (10u << 20)) {
        for (int k = 0; k < 450; k++)
            buf_puts(&m, "a,");
        buf_puts(&m, "\r\n ");
    }
    buf_puts(&m, "b\r\nTo: ");
    for (int k = 0; k < 100000; k++)
        buf_puts(&m, "Some Body With A Rather Long Display Name From A Big Company Inc. <some.body@example.test>, ");
    buf_puts(&m, "x@y\r\n\r\n");
    e = env(buf_cstr(&m));
    size_t elen = strlen(e);
    CHECK(well_formed(e, elen, &items));
    CHECK(elen < 6 * (MIME_ENV_MAX_LIST + 4 * (MIME_ENV_MAX_ADDR_PART + 16)) + 4 * (MIME_ENV_MAX_STRING + 16));
    CHECK(nth_item(e, elen, 2, &from, &fl));
    CHECK(fl <= MIME_ENV_MAX_LIST + 4 * (MIME_ENV_MAX_ADDR_PART + 16));
    CHECK_INT(count_addresses(from, fl), MIME_ENV_MAX_ADDRESSES);
    const char *to;
    size_t tl = 0;
    CHECK(nth_item(e, elen, 5, &to, &tl));
    CHECK(tl >= MIME_ENV_MAX_LIST && tl <= MIME_ENV_MAX_LIST + 4 * (MIME_ENV_MAX_ADDR_PART + 16));
    CHECK(count_addresses(to, tl) < MIME_ENV_MAX_ADDRESSES); /* the byte bound came first */
    free(e);

    /* Address parts are cut, never inside a UTF-8 sequence. */
    buf_reset(&m);
    buf_puts(&m, "From: ");
    for (int i = 0; i < 2000; i++)
        buf_puts(&m, "\xe2\x82\xac"); /* EURO SIGN, 3 bytes */
    buf_puts(&m, " <");
    for (int i = 0; i < 3000; i++)
        buf_putc(&m, 'l');
    buf_puts(&m, "@");
    for (int i = 0; i < 3000; i++)
        buf_putc(&m, 'h');
    buf_puts(&m, ">\r\n\r\n");
    e = env(buf_cstr(&m));
    CHECK(well_formed(e, strlen(e), NULL));
    char want[64];
    snprintf(want, sizeof(want), "(({%d}\r\n\xe2\x82\xac", MIME_ENV_MAX_ADDR_PART / 3 * 3);
    CHECK(strstr(e, want) != NULL);
    CHECK(strstr(e, "lll\" \"hhh") != NULL);
    free(e);

    /* A group cut by the limit still ends with its end marker. */
    buf_reset(&m);
    buf_puts(&m, "To: Team:");
    for (int i = 0; i < 3000; i++)
        buf_printf(&m, " m%d@x.test,", i);
    buf_puts(&m, " z@x.test;\r\n\r\n");
    e = env(buf_cstr(&m));
    CHECK(well_formed(e, strlen(e), NULL));
    CHECK(nth_item(e, strlen(e), 5, &to, &tl));
    CHECK_INT(count_addresses(to, tl), MIME_ENV_MAX_ADDRESSES + 1);
    CHECK(tl > 20 && !memcmp(to + tl - 18, "(NIL NIL NIL NIL))", 18));
    CHECK(!strncmp(to, "((NIL NIL \"Team\" NIL)", 21));
    free(e);

    /* Other strings: at most MIME_ENV_MAX_STRING bytes. */
    buf_reset(&m);
    buf_puts(&m, "Subject: ");
    for (int i = 0; i < 100000; i++)
        buf_puts(&m, "word ");
    buf_puts(&m, "\r\nMessage-ID: <");
    for (int i = 0; i < 100000; i++)
        buf_putc(&m, 'i');
    buf_puts(&m, "@x>\r\n\r\n");
    e = env(buf_cstr(&m));
    CHECK(well_formed(e, strlen(e), NULL));
    CHECK(strlen(e) < 2 * MIME_ENV_MAX_STRING + 200);
    snprintf(want, sizeof(want), "{%d}\r\nword word", MIME_ENV_MAX_STRING);
    CHECK(strstr(e, want) != NULL);
    free(e);
    buf_free(&m);
}

static void test_bodystructure_bounds(void)
{
    /* 5000 parts with long parameters and descriptions, and message/rfc822
     * parts with big address lists: bounded, well-formed, every part kept. */
    struct buf m = BUF_INIT, big = BUF_INIT;
    for (int i = 0; i < 2000; i++)
        buf_putc(&big, 'v');
    buf_puts(&m, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (int i = 0; i < 5000; i++) {
        if (i % 100 == 0) {
            buf_puts(&m, "--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: ");
            for (int k = 0; k < 3000; k++)
                buf_puts(&m, "a,");
            buf_puts(&m, "b\r\n\r\nbody\r\n");
            continue;
        }
        buf_printf(&m, "--b\r\nContent-Type: text/plain; charset=us-ascii; name=\"%s\"\r\n"
                       "Content-Description: %s\r\nContent-Disposition: attachment; filename=%s\r\n\r\npart %d\r\n",
                   buf_cstr(&big), buf_cstr(&big), buf_cstr(&big), i);
    }
    buf_puts(&m, "--b--\r\n");
    for (int ext = 0; ext < 2; ext++) {
        char *b = bs(buf_cstr(&m), ext);
        size_t len = strlen(b), items = 0;
        CHECK(well_formed(b, len, &items));
        CHECK_INT(items, 5000 + (ext ? 5 : 1)); /* 5000 parts + subtype (+ extension data) */
        CHECK(len < MIME_BODYSTRUCTURE_MAX + 5000 * 200 + 512 * 1024);
        /* The first parts are complete, the last ones lean. */
        CHECK(strstr(b, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\" \"NAME\" \"vvv") != NULL);
        CHECK(strstr(b, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 9 0") != NULL);
        free(b);
    }
    buf_free(&m);
    buf_free(&big);

    /* Over-long tokens are cut. */
    struct buf t = BUF_INIT;
    buf_puts(&t, "Content-Type: text/");
    for (int i = 0; i < 100000; i++)
        buf_putc(&t, 'x');
    buf_puts(&t, "\r\nContent-Transfer-Encoding: ");
    for (int i = 0; i < 100000; i++)
        buf_putc(&t, 'y');
    buf_puts(&t, "\r\n\r\nbody\r\n");
    char *b = bs(buf_cstr(&t), true);
    CHECK(well_formed(b, strlen(b), NULL));
    CHECK(strlen(b) < 3 * MIME_BS_MAX_TOKEN + 200);
    free(b);
    buf_free(&t);
}

/* HEADER.FIELDS with many names (looked up by binary search): the same
 * fields as a plain scan, in header order, case-insensitively. */
static void test_header_filter_many(void)
{
    struct buf h = BUF_INIT, want = BUF_INIT, want_not = BUF_INIT, got = BUF_INIT;
    char *names[256];
    for (int i = 0; i < 256; i++)
        names[i] = xasprintf(i % 2 ? "X-F%d" : "x-f%d", i * 3);
    for (int i = 0; i < 2000; i++) {
        char *line = xasprintf(i % 3 ? "X-f%d: v%d\r\n" : "x-F%d:\r\n v%d\r\n", i, i);
        buf_puts(&h, line);
        if (i % 3 == 0 && i < 768)
            buf_puts(&want, line);
        else
            buf_puts(&want_not, line);
        free(line);
    }
    buf_puts(&h, "\r\n");
    buf_puts(&want, "\r\n");
    buf_puts(&want_not, "\r\n");
    mime_header_filter(&got, h.data, h.len, (const char *const *)names, 256, false);
    CHECK_STR(buf_cstr(&got), buf_cstr(&want));
    buf_reset(&got);
    mime_header_filter(&got, h.data, h.len, (const char *const *)names, 256, true);
    CHECK_STR(buf_cstr(&got), buf_cstr(&want_not));
    for (int i = 0; i < 256; i++)
        free(names[i]);
    buf_free(&h);
    buf_free(&want);
    buf_free(&want_not);
    buf_free(&got);
}

/* The mailboxes SEARCH FROM/TO/CC/BCC match: comments and folding gone,
 * display names decoded, group names dropped. */
static void test_hfield_addresses(void)
{
    static const struct {
        const char *in, *want;
    } t[] = {
        {" <user-from (comment)@ (comment) domain.org>", "user-from@domain.org"},
        {" <user-from (comment)@ (comment)\r\n domain.org>", "user-from@domain.org"},
        {" =?UTF-8?Q?J=C3=B6rg?= (boss) <joerg@example.org>, b@c",
         "J\xc3\xb6rg <joerg@example.org>, b@c"},
        {" \"Bob\r\n Smith\" <bob@example.org>", "Bob Smith <bob@example.org>"},
        {" team: a@x, b@y (c);, c@z", "a@x, c <b@y>, c@z"},   /* a trailing comment names the mailbox, as in ENVELOPE */
        {" undisclosed-recipients:;", ""},
        {"", ""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        struct buf b = BUF_INIT;
        mime_hfield_addresses(&b, t[i].in, strlen(t[i].in));
        CHECK_STR(buf_cstr(&b), t[i].want);
        buf_free(&b);
    }
}

/* hfields: the decoded Subject/From/To/Cc/Bcc SEARCH keeps per message. */
static void test_hfields(void)
{
    static const char hdr[] = "Received: from x\r\n"
                              "To: a@example.com\r\n"
                              "SUBJECT : =?ISO-8859-1?Q?Caf=E9?=\r\n\tau lait\r\n"
                              "X-To: not me\r\n"
                              "cc:\r\n"
                              "To: =?utf-8?b?w6lsw6huZQ==?= <e@x>\n"
                              "\r\n"
                              "Subject: body, not header\r\n";
    struct buf b = BUF_INIT;
    mime_hfields_build(&b, hdr, strlen(hdr));
    CHECK(mime_hfields_complete(b.data, b.len));
    CHECK(mime_hfields_current(b.data, b.len));
    static const struct {
        enum mime_hfield id;
        const char *val;
    } want[] = {{MIME_HF_TO, " a@example.com"},
                {MIME_HF_ADDRESSES, "a@example.com"},
                {MIME_HF_SUBJECT, " Caf\xc3\xa9\tau lait"},
                {MIME_HF_CC, ""},
                {MIME_HF_ADDRESSES, ""},
                {MIME_HF_TO, " \xc3\xa9l\xc3\xa8ne <e@x>"},
                {MIME_HF_ADDRESSES, "\xc3\xa9l\xc3\xa8ne <e@x>"}};
    size_t pos = 0, n = 0, vl;
    enum mime_hfield id;
    const char *v;
    while (mime_hfields_next(b.data, b.len, &pos, &id, &v, &vl)) {
        if (n < ARRAY_SIZE(want)) {
            CHECK_INT(id, want[n].id);
            CHECK(vl == strlen(want[n].val) && memcmp(v, want[n].val, vl) == 0);
        }
        n++;
    }
    CHECK_INT(n, ARRAY_SIZE(want));
    CHECK_INT(mime_hfield_id("bCC", 3), MIME_HF_BCC);
    CHECK_INT(mime_hfield_id("Subjects", 8), MIME_HF_NONE);
    CHECK_INT(mime_hfield_id("x-to", 4), MIME_HF_NONE);

    /* Damaged or foreign data is never read as fields. */
    static const struct {
        const char *d;
        size_t n;
    } bad[] = {{"", 0},
               {"\x03", 1},                 /* unknown format */
               {"\x01", 1},                 /* an older format: rebuilt */
               {"\x02\x07\x00", 3},         /* unknown field id */
               {"\x02\x01\x05" "abc", 6},   /* value past the end */
               {"\x02\x01", 2},             /* no length */
               {"\x02\x01\x80\x80\x80\x01", 6}, /* length too long */
               {"\x81x", 2}};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        CHECK(!mime_hfields_complete(bad[i].d, bad[i].n));
        CHECK(!mime_hfields_current(bad[i].d, bad[i].n));
    }
    CHECK(mime_hfields_complete("\x02", 1));   /* no such fields at all */
    pos = 0;
    CHECK(!mime_hfields_next("\x02", 1, &pos, &id, &v, &vl));

    /* Beyond MIME_HFIELDS_MAX: the "too large" form, readers decode the
     * raw header instead. */
    buf_reset(&b);
    struct buf big = BUF_INIT;
    buf_puts(&big, "From: a@b\r\nSubject: ");
    for (int i = 0; i < MIME_HFIELDS_MAX; i++)
        buf_putc(&big, 'x');
    buf_puts(&big, "\r\n\r\n");
    mime_hfields_build(&b, big.data, big.len);
    CHECK_INT(b.len, 1);
    CHECK(!mime_hfields_complete(b.data, b.len));
    CHECK(mime_hfields_current(b.data, b.len));
    pos = 0;
    CHECK(!mime_hfields_next(b.data, b.len, &pos, &id, &v, &vl));
    buf_free(&big);
    buf_free(&b);
}

int main(void)
{
    RUN(test_simple);
    RUN(test_defaults);
    RUN(test_bare_lf);
    RUN(test_multipart);
    RUN(test_rfc822);
    RUN(test_digest);
    RUN(test_boundaries);
    RUN(test_deep_nesting);
    RUN(test_rfc2231);
    RUN(test_addresses);
    RUN(test_envelope_misc);
    RUN(test_envelope_bounds);
    RUN(test_bodystructure_bounds);
    RUN(test_headers);
    RUN(test_header_filter_many);
    RUN(test_8bit_headers);
    RUN(test_misc);
    RUN(test_hfields);
    RUN(test_hfield_addresses);
    return unit_done();
}
