/* test-delivery-outgoing.c - the building blocks of Sieve mail that leaves
 * the server: vacation eligibility (RFC 5230 4.5/4.6, RFC 3834 2), the
 * tracking period and handle, response tracking in duplicate.db, the
 * reply's header and body (RFC 5230 5, RFC 3834 3, RFC 2047 subjects),
 * the redirect loop guard, the reject MDN (RFC 8098 3), and
 * mime_address_each which they use. */
#include "unit.h"
#include "delivery-harness.h"
#include "base64.h"
#include "mime.h"

#include <strings.h>

/* ---- helpers ---- */

static const char *own_addrs[] = {"alice@example.org"};

static struct vacation_msg vmsg(const char *hdr, const char *from)
{
    struct vacation_msg m = {.hdr = hdr,
                             .hdr_len = strlen(hdr),
                             .envelope_from = from,
                             .envelope_to = "alice+work@example.org",
                             .own = own_addrs,
                             .nown = 1};
    return m;
}

static enum vacation_verdict check_hdr(const char *hdr, const char *from)
{
    struct vacation_msg m = vmsg(hdr, from);
    struct vacation_params p = {.reason = "away"};
    return vacation_check(&m, &p);
}

/* The value of field name in a composed message (first occurrence,
 * unfolded), or NULL. Caller frees. */
static char *field(const char *msg, size_t len, const char *name)
{
    return mime_header_get(msg, mime_header_length(msg, len), name);
}

/* Every line of msg ends in CRLF, none is longer than 998 octets, and
 * the header has no 8-bit byte. */
static bool well_formed(const char *msg, size_t len)
{
    size_t col = 0, hl = mime_header_length(msg, len);
    for (size_t i = 0; i < len; i++) {
        if (i < hl && (unsigned char)msg[i] >= 0x80)
            return false;
        if (msg[i] == '\n') {
            if (i == 0 || msg[i - 1] != '\r')
                return false;
            col = 0;
        } else if (msg[i] == '\r') {
            if (i + 1 == len || msg[i + 1] != '\n')
                return false;
        } else if (++col > 998) { /* RFC 5322 2.1.1: 998 without the CRLF */
            return false;
        }
    }
    return len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n';
}

/* ---- mime_address_each ---- */

static void collect_cb(void *arg, const char *name, const char *local, const char *domain)
{
    struct buf *b = arg;
    buf_printf(b, "[%s|%s|%s]", name, local, domain);
}

static void count_cb(void *arg, const char *name, const char *local, const char *domain)
{
    (void)name;
    (void)local;
    (void)domain;
    (*(size_t *)arg)++;
}

static void test_address_each(void)
{
    struct buf c = BUF_INIT;
    const char *v = "\"Bob, B.\" <bob@example.com>, carol@example.net (Carol),\r\n"
                    " friends: dave@x.example, \"e f\"@y.example;, undisclosed";
    mime_address_each(v, strlen(v), collect_cb, &c);
    CHECK_STR(buf_cstr(&c), "[Bob, B.|bob|example.com][Carol|carol|example.net][|dave|x.example][|\"e f\"|y.example]"
                            "[|undisclosed|]");
    buf_free(&c);
    /* Bounded: a field with thousands of addresses yields at most
     * MIME_ENV_MAX_ADDRESSES. */
    struct buf big = BUF_INIT;
    for (int i = 0; i < 5000; i++)
        buf_printf(&big, "u%d@x.example, ", i);
    size_t count = 0;
    mime_address_each(big.data, big.len, count_cb, &count);
    CHECK_INT(count, MIME_ENV_MAX_ADDRESSES);
    buf_free(&big);
}

/* ---- vacation eligibility ---- */

static void test_vacation_eligibility(void)
{
    const char *to_me = "From: bob@example.com\r\nTo: Alice <alice@example.org>\r\nSubject: hi\r\n\r\n";
    CHECK_INT(check_hdr(to_me, "bob@example.com"), VACATION_REPLY);
    /* Senders never answered (RFC 3834 2, RFC 5230 4.6). */
    CHECK_INT(check_hdr(to_me, ""), VACATION_NULL_SENDER);
    const char *system[] = {"MAILER-DAEMON@example.com", "mailer-daemon@x",      "owner-list@example.com",
                            "list-request@example.com", "LISTSERV@example.com", "majordomo@example.com",
                            "list-bounces@example.com", "list-bounces+alice=example.org@lists.example",
                            "list-owner@example.com"};
    for (size_t i = 0; i < ARRAY_SIZE(system); i++)
        CHECK_INT(check_hdr(to_me, system[i]), VACATION_SYSTEM_SENDER);
    /* People read postmaster (RFC 5230 4.6). */
    CHECK_INT(check_hdr(to_me, "postmaster@example.com"), VACATION_REPLY);
    /* The user's own addresses. */
    CHECK_INT(check_hdr(to_me, "alice@example.org"), VACATION_OWN_SENDER);
    CHECK_INT(check_hdr(to_me, "ALICE@Example.ORG"), VACATION_OWN_SENDER);
    CHECK_INT(check_hdr(to_me, "alice+work@example.org"), VACATION_OWN_SENDER);

    /* Auto-Submitted: anything but "no" (RFC 3834 5). */
    CHECK_INT(check_hdr("To: alice@example.org\r\nAuto-Submitted: auto-replied\r\n\r\n", "bob@x.example"),
              VACATION_AUTO_SUBMITTED);
    CHECK_INT(check_hdr("To: alice@example.org\r\nAuto-Submitted: auto-generated; owner-email=x@y\r\n\r\n",
                        "bob@x.example"),
              VACATION_AUTO_SUBMITTED);
    CHECK_INT(check_hdr("To: alice@example.org\r\nauto-submitted:   No (a person)\r\n\r\n", "bob@x.example"),
              VACATION_REPLY);
    /* Mailing lists (RFC 5230 4.6). */
    const char *lists[] = {"List-Id: <l.example.com>", "List-Unsubscribe: <mailto:x@y>", "list-post: NO",
                           "List-Help: <mailto:h@y>", "List-Archive: <http://a>", "List-Owner: <mailto:o@y>",
                           "List-Subscribe: <mailto:s@y>"};
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
        char h[256];
        snprintf(h, sizeof(h), "To: alice@example.org\r\n%s\r\n\r\n", lists[i]);
        CHECK_INT(check_hdr(h, "bob@x.example"), VACATION_LIST);
    }
    CHECK_INT(check_hdr("To: alice@example.org\r\nList-Foo: x\r\n\r\n", "bob@x.example"), VACATION_REPLY);
    /* Precedence (RFC 3834 2). */
    CHECK_INT(check_hdr("To: alice@example.org\r\nPrecedence: bulk\r\n\r\n", "bob@x.example"), VACATION_PRECEDENCE);
    CHECK_INT(check_hdr("To: alice@example.org\r\nPrecedence: JUNK\r\n\r\n", "bob@x.example"), VACATION_PRECEDENCE);
    CHECK_INT(check_hdr("To: alice@example.org\r\nPrecedence: list\r\n\r\n", "bob@x.example"), VACATION_PRECEDENCE);
    CHECK_INT(check_hdr("To: alice@example.org\r\nPrecedence: first-class\r\n\r\n", "bob@x.example"),
              VACATION_REPLY);

    /* Addressed (RFC 5230 4.5): To, Cc, Bcc, Resent-*; own, envelope
     * recipient (with and without +detail), :addresses. */
    CHECK_INT(check_hdr("To: carol@example.org\r\n\r\n", "bob@x.example"), VACATION_NOT_ADDRESSED);
    CHECK_INT(check_hdr("To: carol@example.org\r\nCc: a@b, \"A\" <Alice@EXAMPLE.org>\r\n\r\n", "bob@x.example"),
              VACATION_REPLY);
    CHECK_INT(check_hdr("To: x@y\r\nBcc: alice@example.org\r\n\r\n", "bob@x.example"), VACATION_REPLY);
    CHECK_INT(check_hdr("To: x@y\r\nResent-To: alice@example.org\r\n\r\n", "bob@x.example"), VACATION_REPLY);
    CHECK_INT(check_hdr("To: x@y\r\nResent-Cc: alice@example.org\r\n\r\n", "bob@x.example"), VACATION_REPLY);
    CHECK_INT(check_hdr("To: x@y\r\nResent-Bcc: alice@example.org\r\n\r\n", "bob@x.example"), VACATION_REPLY);
    CHECK_INT(check_hdr("To: alice+work@example.org\r\n\r\n", "bob@x.example"), VACATION_REPLY);
    /* From and Reply-To do not count. */
    CHECK_INT(check_hdr("From: alice@example.org\r\nReply-To: alice@example.org\r\nTo: x@y\r\n\r\n",
                        "bob@x.example"),
              VACATION_NOT_ADDRESSED);
    /* In a group, folded. */
    CHECK_INT(check_hdr("To: team: x@y,\r\n alice@example.org;\r\n\r\n", "bob@x.example"), VACATION_REPLY);
    /* :addresses */
    struct vacation_msg m = vmsg("To: Al <al@old.example>\r\n\r\n", "bob@x.example");
    struct vacation_params p = {.reason = "away"};
    CHECK_INT(vacation_check(&m, &p), VACATION_NOT_ADDRESSED);
    const char *extra[] = {"other@x", "al@old.example"};
    p.addresses = extra;
    p.naddresses = 2;
    CHECK_INT(vacation_check(&m, &p), VACATION_REPLY);
    /* A sender among :addresses is the user too. */
    m.envelope_from = "AL@old.example";
    CHECK_INT(vacation_check(&m, &p), VACATION_OWN_SENDER);
    /* No header at all. */
    CHECK_INT(check_hdr("", "bob@x.example"), VACATION_NOT_ADDRESSED);
}

/* ---- period, handle, tracking ---- */

static void test_vacation_period_handle(void)
{
    /* RFC 5230 4.1: default 7 days or the minimum, clamped to [min, max]. */
    CHECK_INT(vacation_period(-1, 86400, 90 * 86400), 7 * 86400);
    CHECK_INT(vacation_period(-1, 10 * 86400, 90 * 86400), 10 * 86400);
    CHECK_INT(vacation_period(0, 86400, 90 * 86400), 86400);
    CHECK_INT(vacation_period(3 * 86400, 86400, 90 * 86400), 3 * 86400);
    CHECK_INT(vacation_period(365 * 86400, 86400, 90 * 86400), 90 * 86400);
    CHECK_INT(vacation_period(365 * 86400, 86400, 0), 365 * 86400);
    /* RFC 6131: :seconds 0 when the site allows it (minimum 0). */
    CHECK_INT(vacation_period(0, 0, 0), 0);
    CHECK_INT(vacation_period(30, 0, 86400), 30);

    char a[VACATION_HANDLE_LEN + 1], b[VACATION_HANDLE_LEN + 1];
    vacation_handle(NULL, NULL, false, "I'm out", a);
    CHECK_INT(strlen(a), VACATION_HANDLE_LEN);
    vacation_handle(NULL, NULL, false, "I'm out", b);
    CHECK_STR(a, b);
    vacation_handle(NULL, NULL, false, "I'm out -- call me", b);
    CHECK(strcmp(a, b) != 0);
    /* The same text in another argument is another response. */
    vacation_handle("x", NULL, false, "y", a);
    vacation_handle(NULL, "x", false, "y", b);
    CHECK(strcmp(a, b) != 0);
    vacation_handle("", NULL, false, "y", a);
    vacation_handle(NULL, NULL, false, "y", b);
    CHECK(strcmp(a, b) != 0);
    vacation_handle(NULL, NULL, true, "y", a);
    CHECK(strcmp(a, b) != 0);
}

static void test_vacation_tracking(void)
{
    int64_t t0 = 1800000000;
    int64_t week = 7 * 86400;
    /* First message: claimed; again within the period: not. */
    CHECK_INT(vacation_claim("alice", "bob@x.example", "h1", week, t0), 1);
    CHECK_INT(vacation_claim("alice", "bob@x.example", "h1", week, t0 + 3600), 0);
    CHECK_INT(vacation_claim("alice", "BOB@X.EXAMPLE", "h1", week, t0 + 3600), 0);
    /* Per handle (RFC 5230 4.2), per sender, per user. */
    CHECK_INT(vacation_claim("alice", "bob@x.example", "h2", week, t0 + 3600), 1);
    CHECK_INT(vacation_claim("alice", "carol@x.example", "h1", week, t0 + 3600), 1);
    CHECK_INT(vacation_claim("dave", "bob@x.example", "h1", week, t0 + 3600), 1);
    /* After the period: again (and the period restarts then). */
    CHECK_INT(vacation_claim("alice", "bob@x.example", "h1", week, t0 + week - 1), 0);
    CHECK_INT(vacation_claim("alice", "bob@x.example", "h1", week, t0 + week), 1);
    CHECK_INT(vacation_claim("alice", "bob@x.example", "h1", week, t0 + week + 10), 0);
    /* A shorter period applies to what was recorded (:seconds 60). */
    CHECK_INT(vacation_claim("alice", "bob@x.example", "h1", 60, t0 + week + 59), 0);
    CHECK_INT(vacation_claim("alice", "bob@x.example", "h1", 60, t0 + week + 60), 1);
    /* :seconds 0: always. */
    CHECK_INT(vacation_claim("alice", "eve@x.example", "h1", 0, t0), 1);
    CHECK_INT(vacation_claim("alice", "eve@x.example", "h1", 0, t0), 1);
    /* A failed send gives the claim back. */
    CHECK_INT(vacation_claim("alice", "fred@x.example", "h1", week, t0), 1);
    vacation_unclaim("alice", "fred@x.example", "h1");
    CHECK_INT(vacation_claim("alice", "fred@x.example", "h1", week, t0 + 1), 1);
    /* Prune: records sent before the cutoff go. */
    long n = vacation_prune(t0 + week);
    CHECK(n >= 4);
    CHECK_INT(vacation_claim("alice", "carol@x.example", "h1", week, t0 + 3601), 1);
    /* The entry recorded at t0 + week + 60 survived. */
    CHECK_INT(vacation_claim("alice", "bob@x.example", "h1", week, t0 + week + 61), 0);
}

/* ---- the reply ---- */

static void test_vacation_compose(void)
{
    const char *hdr = "Return-Path: <bob@x.example>\r\n"
                      "From: Bob <bob@x.example>\r\n"
                      "To: Carol <carol@y.example>, Alice <ALICE@example.org>\r\n"
                      "Subject: =?ISO-8859-1?Q?caf=E9?= meeting\r\n"
                      "Message-ID: <m2@x.example>\r\n"
                      "References: <m0@x.example>\r\n <m1@x.example>\r\n"
                      "\r\n";
    struct vacation_msg m = vmsg(hdr, "bob@x.example");
    struct vacation_params p = {.reason = "I am away.\nBack on Monday."};
    size_t len = 0;
    char *r = vacation_compose(&m, &p, "mx.test", 1800000000, &len);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK(well_formed(r, len));
    char *v;
    CHECK_STR(v = field(r, len, "From"), "<ALICE@example.org>");
    free(v);
    CHECK_STR(v = field(r, len, "To"), "<bob@x.example>");
    free(v);
    /* "Auto: " and the decoded subject, encoded again as UTF-8 words. */
    v = field(r, len, "Subject");
    CHECK(v && strncmp(v, "Auto: =?UTF-8?B?", 16) == 0);
    struct buf dec = BUF_INIT;
    mime_decode_header_utf8(&dec, v ? v : "", v ? strlen(v) : 0);
    CHECK_STR(buf_cstr(&dec), "Auto: caf\xc3\xa9 meeting");
    buf_free(&dec);
    free(v);
    CHECK_STR(v = field(r, len, "In-Reply-To"), "<m2@x.example>");
    free(v);
    CHECK_STR(v = field(r, len, "References"), "<m0@x.example> <m1@x.example> <m2@x.example>");
    free(v);
    CHECK_STR(v = field(r, len, "Auto-Submitted"), "auto-replied (vacation)");
    free(v);
    CHECK_STR(v = field(r, len, "MIME-Version"), "1.0");
    free(v);
    CHECK_STR(v = field(r, len, "Content-Type"), "text/plain; charset=utf-8");
    free(v);
    CHECK_STR(v = field(r, len, "Content-Transfer-Encoding"), "7bit");
    free(v);
    v = field(r, len, "Message-ID");
    CHECK(v && v[0] == '<' && strstr(v, "@mx.test>") && strcmp(v, "<m2@x.example>") != 0);
    free(v);
    v = field(r, len, "Date");
    CHECK(v && strstr(v, "2027"));
    free(v);
    CHECK(strstr(r, "\r\n\r\nI am away.\r\nBack on Monday.\r\n") != NULL);
    /* Nothing from the original's Return-Path. */
    CHECK(strstr(r, "Return-Path") == NULL);
    free(r);

    /* :subject, :from; non-ASCII body -> quoted-printable. */
    p.subject = "Abwesenheit \xc3\xbc\r\nBcc: evil@x";
    p.from = "Alice Example <alice@example.org>";
    p.reason = "Ich bin weg. Gr\xc3\xbc\xc3\x9f" "e";
    r = vacation_compose(&m, &p, "mx.test", 1800000000, &len);
    CHECK(r && well_formed(r, len));
    if (!r)
        return;
    CHECK_STR(v = field(r, len, "From"), "Alice Example <alice@example.org>");
    free(v);
    v = field(r, len, "Subject");
    mime_decode_header_utf8(&dec, v ? v : "", v ? strlen(v) : 0);
    /* The line end in the script's subject became spaces: no field injected. */
    CHECK_STR(buf_cstr(&dec), "Abwesenheit \xc3\xbc  Bcc: evil@x");
    buf_free(&dec);
    free(v);
    CHECK(field(r, len, "Bcc") == NULL);
    CHECK_STR(v = field(r, len, "Content-Transfer-Encoding"), "quoted-printable");
    free(v);
    CHECK(strstr(r, "Gr=C3=BC=C3=9Fe") != NULL);
    free(r);

    /* An invalid :from is ignored (RFC 5230 4.3); no Subject: fixed text;
     * no Message-ID: no In-Reply-To/References. A long ASCII subject is
     * folded. */
    const char *hdr2 = "To: alice@example.org\r\n\r\n";
    struct vacation_msg m2 = vmsg(hdr2, "bob@x.example");
    struct vacation_params p2 = {.reason = "x", .from = "bad\r\nBcc: x@y"};
    r = vacation_compose(&m2, &p2, "mx.test", 1800000000, &len);
    CHECK(r && well_formed(r, len));
    if (!r)
        return;
    CHECK_STR(v = field(r, len, "From"), "<alice@example.org>");
    free(v);
    CHECK_STR(v = field(r, len, "Subject"), "Automated reply");
    free(v);
    CHECK(field(r, len, "In-Reply-To") == NULL);
    CHECK(field(r, len, "References") == NULL);
    free(r);

    /* A long non-ASCII subject: encoded words of at most 75 characters,
     * no UTF-8 sequence split (each word decodes on its own). */
    struct buf longs = BUF_INIT;
    for (int i = 0; i < 60; i++)
        buf_puts(&longs, "\xc3\xa9t\xc3\xa9 ");
    p2.subject = buf_cstr(&longs);
    p2.from = NULL;
    r = vacation_compose(&m2, &p2, "mx.test", 1800000000, &len);
    CHECK(r && well_formed(r, len));
    if (r) {
        const char *s = strstr(r, "Subject: ");
        const char *e = s ? strstr(s, "\r\n") : NULL;
        /* every line of the field is short */
        while (s && e && (e[2] == ' ')) {
            CHECK(e - s <= 78);
            s = e + 2;
            e = strstr(s, "\r\n");
        }
        v = field(r, len, "Subject");
        /* each word decodes alone to valid UTF-8 */
        const char *w = v;
        while (w && (w = strstr(w, "=?UTF-8?B?")) != NULL) {
            const char *end = strstr(w + 10, "?=");
            CHECK(end && end + 2 - w <= 75);
            if (!end)
                break;
            struct buf raw = BUF_INIT;
            CHECK(base64_decode_strict(w + 10, (size_t)(end - w - 10), &raw));
            CHECK(raw.len == 0 || ((unsigned char)raw.data[0] & 0xc0) != 0x80);
            CHECK(raw.len == 0 || ((unsigned char)raw.data[raw.len - 1] < 0x80 ||
                                   ((unsigned char)raw.data[raw.len - 1] & 0xc0) == 0x80));
            buf_free(&raw);
            w = end + 2;
        }
        free(v);
        free(r);
    }
    buf_free(&longs);

    /* :mime: the entity's Content-* fields and body; its other fields
     * dropped; 8-bit header bytes refused (RFC 5230 5). */
    struct vacation_params p3 = {
        .mime = true,
        .reason = "Content-Type: multipart/alternative; boundary=foo\n"
                  "X-Evil: 1\n"
                  "\n"
                  "--foo\n\nI'm at the beach.\n--foo--\n"};
    r = vacation_compose(&m2, &p3, "mx.test", 1800000000, &len);
    CHECK(r && well_formed(r, len));
    if (r) {
        CHECK_STR(v = field(r, len, "Content-Type"), "multipart/alternative; boundary=foo");
        free(v);
        CHECK(field(r, len, "X-Evil") == NULL);
        CHECK(strstr(r, "\r\n\r\n--foo\r\n\r\nI'm at the beach.\r\n--foo--\r\n") != NULL);
        free(r);
    }
    p3.reason = "Content-Type: text/plain; charset=\xc3\xa9\n\nx\n";
    CHECK(vacation_compose(&m2, &p3, "mx.test", 1800000000, &len) == NULL);

    /* References are bounded: the newest VACATION_MAX_REFS kept. */
    struct buf h3 = BUF_INIT;
    buf_puts(&h3, "To: alice@example.org\r\nMessage-ID: <last@x>\r\nReferences:");
    for (int i = 0; i < 100; i++)
        buf_printf(&h3, " <r%d@x>", i);
    buf_puts(&h3, "\r\n\r\n");
    struct vacation_msg m3 = vmsg(buf_cstr(&h3), "bob@x.example");
    struct vacation_params p4 = {.reason = "x"};
    r = vacation_compose(&m3, &p4, "mx.test", 1800000000, &len);
    CHECK(r && well_formed(r, len));
    if (r) {
        v = field(r, len, "References");
        CHECK(v && strncmp(v, "<r81@x> <r82@x>", 15) == 0);
        CHECK(v && strstr(v, "<r99@x> <last@x>") != NULL);
        CHECK(v && !strstr(v, "<r80@x>"));
        free(v);
        free(r);
    }
    buf_free(&h3);
    /* No reply to an envelope sender unfit for a header. */
    struct vacation_msg m4 = vmsg(hdr2, "bob@x\r\nBcc: y@z");
    CHECK(vacation_compose(&m4, &p4, "mx.test", 1800000000, &len) == NULL);
}

/* ---- redirect ---- */

static void test_redirect_guard(void)
{
    const char *plain = "Received: from a\r\nSubject: x\r\n\r\nbody\r\n";
    CHECK_INT(redirect_check(plain, strlen(plain), "alice@example.org"), REDIRECT_OK);
    char *h = redirect_header("alice@example.org");
    CHECK_STR(h, "X-Darius-Redirected: alice@example.org\r\n");
    /* The marker of this user: a loop; another user's: fine. */
    struct buf m = BUF_INIT;
    buf_puts(&m, "Received: from b\r\n");
    buf_puts(&m, h ? h : "");
    buf_puts(&m, plain);
    CHECK_INT(redirect_check(m.data, m.len, "alice@example.org"), REDIRECT_LOOP);
    CHECK_INT(redirect_check(m.data, m.len, "ALICE@example.ORG"), REDIRECT_LOOP);
    CHECK_INT(redirect_check(m.data, m.len, "bob@example.org"), REDIRECT_OK);
    /* Folded, other case of the name. */
    const char *folded = "x-darius-redirected:\r\n  alice@example.org \r\n\r\n";
    CHECK_INT(redirect_check(folded, strlen(folded), "alice@example.org"), REDIRECT_LOOP);
    /* A marker in the body is not a marker. */
    const char *inbody = "Subject: x\r\n\r\nX-Darius-Redirected: alice@example.org\r\n";
    CHECK_INT(redirect_check(inbody, strlen(inbody), "alice@example.org"), REDIRECT_OK);
    free(h);
    buf_free(&m);
    /* Received count (RFC 5321 6.3). */
    struct buf r = BUF_INIT;
    for (int i = 0; i < REDIRECT_MAX_RECEIVED; i++)
        buf_printf(&r, "Received: from h%d\r\n", i);
    buf_puts(&r, "\r\n");
    CHECK_INT(redirect_check(r.data, r.len, "alice@example.org"), REDIRECT_OK);
    buf_truncate(&r, r.len - 2);
    buf_puts(&r, "Received: one more\r\n\r\n");
    CHECK_INT(redirect_check(r.data, r.len, "alice@example.org"), REDIRECT_TOO_MANY_HOPS);
    buf_free(&r);
    /* Unfit addresses give no header. */
    CHECK(redirect_header("a@b\r\nBcc: c@d") == NULL);
    CHECK(redirect_header("") == NULL);
    /* Return-Path is skipped when sending on. */
    const char *stored = "Return-Path: <bob@x>\r\nReceived: from a\r\n\r\nhi\r\n";
    size_t off = redirect_skip_return_path(stored, strlen(stored));
    CHECK_STR(stored + off, "Received: from a\r\n\r\nhi\r\n");
    CHECK_INT(redirect_skip_return_path(plain, strlen(plain)), 0);
}

/* ---- reject MDN ---- */

static void test_mdn(void)
{
    const char *hdr = "Return-Path: <bob@x.example>\r\n"
                      "From: Bob <bob@x.example>\r\n"
                      "To: alice@example.org\r\n"
                      "Subject: buy now\r\n"
                      "Message-ID: <spam1@x.example>\r\n"
                      "\r\n";
    struct mdn_msg m = {.hdr = hdr,
                        .hdr_len = strlen(hdr),
                        .envelope_from = "bob@x.example",
                        .final_rcpt = "alice@example.org",
                        .reason = "I do not want this. \xc3\x9c"};
    size_t len = 0;
    char *r = mdn_reject_compose(&m, "mx.test", 1800000000, &len);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK(well_formed(r, len));
    char *v;
    CHECK_STR(v = field(r, len, "From"), "<alice@example.org>");
    free(v);
    CHECK_STR(v = field(r, len, "To"), "<bob@x.example>");
    free(v);
    CHECK_STR(v = field(r, len, "Subject"), "Rejected: buy now");
    free(v);
    CHECK_STR(v = field(r, len, "Auto-Submitted"), "auto-replied (rejected)");
    free(v);
    v = field(r, len, "Message-ID");
    CHECK(v && strcmp(v, "<spam1@x.example>") != 0);
    free(v);
    CHECK(field(r, len, "Disposition-Notification-To") == NULL);
    /* The structure, through the mail layer's parser. */
    struct mime_message *mm = mime_parse(r, len);
    CHECK_STR(mm->root.type, "multipart");
    CHECK_STR(mm->root.subtype, "report");
    CHECK_STR(mime_param_get(mm->root.params, mm->root.nparams, "report-type"), "disposition-notification");
    CHECK_INT(mm->root.nchildren, 3);
    if (mm->root.nchildren == 3) {
        const struct mime_part *p1 = &mm->root.children[0], *p2 = &mm->root.children[1],
                               *p3 = &mm->root.children[2];
        CHECK_STR(p1->type, "text");
        CHECK_STR(p1->subtype, "plain");
        struct buf body = BUF_INIT;
        CHECK(mime_decode_transfer(p1->encoding, r + p1->body_off, p1->body_len, &body));
        CHECK(strstr(buf_cstr(&body), "I do not want this. \xc3\x9c") != NULL);
        CHECK(strstr(buf_cstr(&body), "<alice@example.org>") != NULL);
        buf_free(&body);
        CHECK_STR(p2->type, "message");
        CHECK_STR(p2->subtype, "disposition-notification");
        char *dn = strndup(r + p2->body_off, p2->body_len);
        CHECK(strstr(dn, "Reporting-UA: mx.test; Darius ") != NULL);
        CHECK(strstr(dn, "\r\nFinal-Recipient: rfc822; alice@example.org\r\n") != NULL);
        CHECK(strstr(dn, "\r\nOriginal-Message-ID: <spam1@x.example>\r\n") != NULL);
        CHECK(strstr(dn, "\r\nDisposition: automatic-action/MDN-sent-automatically; deleted\r\n") != NULL);
        free(dn);
        CHECK_STR(p3->type, "text");
        CHECK_STR(p3->subtype, "rfc822-headers");
        char *oh = strndup(r + p3->body_off, p3->body_len);
        CHECK(strstr(oh, "Subject: buy now\r\n") != NULL);
        CHECK(strstr(oh, "Message-ID: <spam1@x.example>\r\n") != NULL);
        free(oh);
    }
    mime_free(mm);
    free(r);
    /* Never to the null sender (RFC 5429 2.2.1). */
    m.envelope_from = "";
    CHECK(mdn_reject_compose(&m, "mx.test", 1800000000, &len) == NULL);
    /* An internationalised recipient: utf-8 address type, 7-bit field. */
    m.envelope_from = "bob@x.example";
    m.final_rcpt = "j\xc3\xb6rg@example.org";
    r = mdn_reject_compose(&m, "mx.test", 1800000000, &len);
    CHECK(r && strstr(r, "Final-Recipient: utf-8; j\\x{F6}rg@example.org\r\n"));
    free(r);
    /* A field with an over-long line is left out of the returned header. */
    struct buf lng = BUF_INIT;
    buf_puts(&lng, "Subject: s\r\nX-Long: ");
    for (int i = 0; i < 2000; i++)
        buf_putc(&lng, 'a');
    buf_puts(&lng, "\r\nX-After: 1\r\n\r\n");
    m.hdr = lng.data;
    m.hdr_len = lng.len;
    r = mdn_reject_compose(&m, "mx.test", 1800000000, &len);
    CHECK(r && well_formed(r, len) && !strstr(r, "X-Long") && strstr(r, "\r\nX-After: 1\r\n"));
    free(r);
    buf_free(&lng);
    /* A huge original header is cut. */
    struct buf big = BUF_INIT;
    for (int i = 0; i < 10000; i++)
        buf_printf(&big, "X-Junk-%d: %s\r\n", i, "0123456789012345678901234567890123456789");
    buf_puts(&big, "\r\n");
    m.hdr = big.data;
    m.hdr_len = big.len;
    m.final_rcpt = "alice@example.org";
    r = mdn_reject_compose(&m, "mx.test", 1800000000, &len);
    CHECK(r && len < 80 * 1024 && well_formed(r, len));
    free(r);
    buf_free(&big);
}

/* ---- notify mailto ---- */

static void test_mailto_parse(void)
{
    struct mailto u;
    char err[128];
    CHECK(mailto_parse("mailto:alice@example.org", &u, err, sizeof(err)));
    CHECK_INT(u.nto, 1);
    CHECK_STR(u.to[0], "alice@example.org");
    mailto_free(&u);
    /* RFC 6068 examples: several addresses, %-escapes, fields. */
    CHECK(mailto_parse("MAILTO:a@example.org,b@example.org?cc=c@example.org&bcc=d@example.org"
                       "&subject=Hi%20there%21&body=line%201%0D%0Aline%202&Keywords=x&X-Foo=%C3%A9",
                       &u, err, sizeof(err)));
    CHECK_INT(u.nto, 2);
    CHECK_INT(u.ncc, 1);
    CHECK_INT(u.nbcc, 1);
    CHECK_STR(u.bcc[0], "d@example.org");
    CHECK_STR(u.subject, "Hi there!");
    CHECK_STR(u.body, "line 1\r\nline 2");
    CHECK_INT(u.nhdrs, 2);
    CHECK_STR(u.hdrs[0].name, "Keywords");
    CHECK_STR(u.hdrs[1].value, "\xc3\xa9");
    mailto_free(&u);
    /* Spaces around the commas are tolerated. */
    CHECK(mailto_parse("mailto:a@example.org,%20b@example.org?to=c@example.org%20,d@example.org", &u, err,
                       sizeof(err)));
    CHECK_INT(u.nto, 4);
    CHECK_STR(u.to[1], "b@example.org");
    CHECK_STR(u.to[2], "c@example.org");
    mailto_free(&u);
    /* "?to=" only; unsafe fields ignored (RFC 5436 2.7). */
    CHECK(mailto_parse("mailto:?to=x@example.org&from=evil@x&auto-submitted=no&received=x&message-id=%3Ca%40b%3E"
                       "&date=x&resent-to=y@z&content-type=text/html&in-reply-to=%3Cq%40r%3E&reply-to=r@example.org",
                       &u, err, sizeof(err)));
    CHECK_INT(u.nto, 1);
    CHECK_INT(u.nhdrs, 1);
    CHECK_STR(u.hdrs[0].name, "reply-to");
    mailto_free(&u);
    /* Invalid: not mailto, no recipient, bad escapes, a header injection,
     * an address without a domain or with a space, too many, too long. */
    const char *bad[] = {"http://x",
                         "mailto:",
                         "mailto:?subject=x",
                         "mailto:a@b%2",
                         "mailto:a@b%zz",
                         "mailto:a@b%00",
                         "mailto:a@b?subject=x%0D%0ABcc:%20e@f",
                         "mailto:a@b?X-Foo=1%0A2",
                         "mailto:alice",
                         "mailto:a%20b@example.org",
                         "mailto:a@b?X%3AY=1",
                         "mailto:a@b?=1",
                         "mailto:a@b?nokey",
                         "mailto:a@b?to=Bob%20%3Cbob@x%3E",
                         "mailto:a@b@c@",
                         "mailto:a@b@c",
                         "mailto:@b"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        bool ok = mailto_parse(bad[i], &u, err, sizeof(err));
        CHECK(!ok);
        if (ok) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            mailto_free(&u);
        }
    }
    struct buf many = BUF_INIT;
    buf_puts(&many, "mailto:");
    for (int i = 0; i <= MAILTO_MAX_RCPTS; i++)
        buf_printf(&many, "%su%d@example.org", i ? "," : "", i);
    CHECK(!mailto_parse(many.data, &u, err, sizeof(err)));
    buf_free(&many);
    struct buf longu = BUF_INIT;
    buf_puts(&longu, "mailto:a@b?subject=");
    for (int i = 0; i < MAILTO_MAX_URI; i++)
        buf_putc(&longu, 'x');
    CHECK(!mailto_parse(longu.data, &u, err, sizeof(err)));
    buf_free(&longu);
}

static void test_mailto_compose(void)
{
    struct mailto u;
    char err[128];
    CHECK(mailto_parse("mailto:n@example.net?cc=c@example.net&bcc=hidden@example.net&body=You%20have%20mail"
                       "&x-priority=1",
                       &u, err, sizeof(err)));
    const char *hdr = "Received: from x\r\nFrom: bob@x.example\r\nSubject: report\r\nMessage-ID: <t1@x>\r\n\r\n";
    struct notify_msg m = {.hdr = hdr, .hdr_len = strlen(hdr), .envelope_from = "bob@x.example",
                           .envelope_to = "alice@example.org"};
    const char *sender = NULL;
    size_t len = 0;
    char *r = mailto_compose(&u, &m, NULL, NULL, "mx.test", 1800000000, &sender, &len);
    CHECK(r && well_formed(r, len));
    if (r) {
        /* Auto-Submitted first (RFC 5436 2.7.1). */
        const char *first = "Auto-Submitted: auto-notified; owner-email=\"alice@example.org\"\r\n";
        CHECK(strncmp(r, first, strlen(first)) == 0);
        char *v;
        CHECK_STR(v = field(r, len, "From"), "<alice@example.org>");
        free(v);
        CHECK_STR(v = field(r, len, "To"), "<n@example.net>");
        free(v);
        CHECK_STR(v = field(r, len, "Cc"), "<c@example.net>");
        free(v);
        CHECK(field(r, len, "Bcc") == NULL && !strstr(r, "hidden"));
        CHECK_STR(v = field(r, len, "Subject"), "report");
        free(v);
        CHECK_STR(v = field(r, len, "References"), "<t1@x>");
        free(v);
        CHECK_STR(v = field(r, len, "X-priority"), "1");
        free(v);
        CHECK(field(r, len, "Received") == NULL);
        CHECK(strstr(r, "\r\n\r\nYou have mail\r\n") != NULL);
        CHECK_STR(sender, "alice@example.org");
        free(r);
    }
    /* :from and :message; a null trigger sender gives a null sender. */
    m.envelope_from = "";
    r = mailto_compose(&u, &m, "notify@example.org", "New mail \xe2\x9c\x89", "mx.test", 1800000000, &sender,
                       &len);
    CHECK(r && well_formed(r, len));
    if (r) {
        char *v;
        CHECK_STR(v = field(r, len, "From"), "<notify@example.org>");
        free(v);
        v = field(r, len, "Subject");
        struct buf dec = BUF_INIT;
        mime_decode_header_utf8(&dec, v ? v : "", v ? strlen(v) : 0);
        CHECK_STR(buf_cstr(&dec), "New mail \xe2\x9c\x89");
        buf_free(&dec);
        free(v);
        CHECK_STR(sender, "");
        free(r);
    }
    /* An unusable :from falls back to the user. */
    m.envelope_from = "bob@x.example";
    r = mailto_compose(&u, &m, "x\r\nBcc: y@z", NULL, "mx.test", 1800000000, &sender, &len);
    CHECK(r && strstr(r, "\r\nFrom: <alice@example.org>\r\n") && !strstr(r, "Bcc"));
    CHECK_STR(sender, "alice@example.org");
    free(r);
    mailto_free(&u);
}

/* ---- hostile input ---- */

static uint32_t g_rng = 12345;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}

/* Random headers built from field names that matter here and hostile
 * values (control bytes, 8-bit, folding, brackets, encoded-words): every
 * reply and MDN composed from them is well-formed (CRLF only, short
 * lines, 7-bit header) and nothing crashes (ASan/UBSan build). */
static void test_hostile_headers(void)
{
    static const char *const names[] = {"To", "Cc", "Bcc", "Resent-To", "Subject", "Message-ID", "References",
                                        "In-Reply-To", "Auto-Submitted", "Precedence", "List-Id", "From",
                                        "X-Darius-Redirected", "Received", "Return-Path"};
    char longid[1200];
    memset(longid, 'i', sizeof(longid) - 1);
    longid[0] = '<';
    longid[990] = '>';
    longid[991] = '\0';
    const char *bits[] = {longid, "alice@example.org", "<", ">", "\"", "(", ")", ",", ";", ":", "@", " ",
                                       "\r\n ", "\r\n", "\n", "\r", "\t", "=?UTF-8?B?w6k=?=", "=?x?Q?=FF?=",
                          "\xff", "\xc3\xa9", "\xe2\x82", "<a@b>", "no", "bulk", "\x01", "\\"};
    for (int iter = 0; iter < 3000; iter++) {
        struct buf h = BUF_INIT;
        int nf = (int)(rnd() % 8);
        for (int f = 0; f < nf; f++) {
            buf_printf(&h, "%s:", names[rnd() % ARRAY_SIZE(names)]);
            int nb = (int)(rnd() % 12);
            for (int b = 0; b < nb; b++)
                buf_puts(&h, bits[rnd() % ARRAY_SIZE(bits)]);
            if (rnd() % 4 == 0) {
                /* a long run */
                for (int k = 0; k < 300; k++)
                    buf_puts(&h, bits[rnd() % ARRAY_SIZE(bits)]);
            }
            buf_puts(&h, "\r\n");
        }
        buf_puts(&h, "\r\n");
        struct vacation_msg m = vmsg(h.data, "bob@x.example");
        struct vacation_params p = {.reason = rnd() % 2 ? "away" : "\xff\xfe\r\r\n.\n", .mime = rnd() % 5 == 0};
        (void)vacation_check(&m, &p);
        size_t len = 0;
        char *r = vacation_compose(&m, &p, "mx.test", 1800000000, &len);
        if (r) {
            if (!p.mime)
                CHECK(well_formed(r, len));
            free(r);
        }
        struct mdn_msg mm = {.hdr = h.data, .hdr_len = h.len, .envelope_from = "bob@x.example",
                             .final_rcpt = "alice@example.org", .reason = "no"};
        r = mdn_reject_compose(&mm, "mx.test", 1800000000, &len);
        CHECK(r != NULL);
        if (r) {
            /* 8-bit bytes may be in the returned header part (declared
             * 8bit); the top-level header is 7-bit. */
            size_t col = 0;
            bool ok = true;
            for (size_t i = 0; i < len; i++) {
                if (r[i] == '\n') {
                    ok = ok && i > 0 && r[i - 1] == '\r';
                    col = 0;
                } else if (r[i] != '\r' && ++col > 998) {
                    ok = false;
                }
            }
            CHECK(ok);
            size_t hl = mime_header_length(r, len);
            for (size_t i = 0; i < hl; i++)
                CHECK((unsigned char)r[i] < 0x80);
            free(r);
        }
        (void)redirect_check(h.data, h.len, "alice@example.org");
        /* A random mailto URI: parsed or refused; when parsed, the
         * notification is well-formed. */
        static const char *const ubits[] = {"a@b.example", ",", "?", "&", "=", "to", "cc", "bcc", "subject",
                                            "body", "X-Y", "%0D%0A", "%C3%A9", "%2", "%00", "%3A", " ", "@",
                                            "from", "%20", "reply-to", "\xff"};
        struct buf uri = BUF_INIT;
        buf_puts(&uri, "mailto:");
        int nu = (int)(rnd() % 16);
        for (int k = 0; k < nu; k++)
            buf_puts(&uri, ubits[rnd() % ARRAY_SIZE(ubits)]);
        struct mailto u;
        char err[128];
        if (mailto_parse(buf_cstr(&uri), &u, err, sizeof(err))) {
            struct notify_msg nm = {.hdr = h.data, .hdr_len = h.len, .envelope_from = "bob@x.example",
                                    .envelope_to = "alice@example.org"};
            const char *sender;
            r = mailto_compose(&u, &nm, NULL, NULL, "mx.test", 1800000000, &sender, &len);
            CHECK(r && well_formed(r, len));
            if (r && !well_formed(r, len))
                fprintf(stderr, "URI %s\n", buf_cstr(&uri));
            free(r);
            mailto_free(&u);
        }
        buf_free(&uri);
        buf_free(&h);
    }
}


/* The Sieve "duplicate" test's table (RFC 7352 3.3): per user, handle
 * and id (bytes, case-sensitive); expiry from creation unless :last. */
static void test_sieve_duplicate_table(void)
{
    int64_t t0 = 1800000000, day = 86400;
    const char *id = "<a1@x.example>";
    CHECK_INT(sieve_dup_check("alice", "", id, strlen(id), t0), 0);
    CHECK_INT(sieve_dup_record("alice", "", id, strlen(id), 7 * day, false, t0), 0);
    CHECK_INT(sieve_dup_check("alice", "", id, strlen(id), t0 + 1), 1);
    CHECK_INT(sieve_dup_check("alice", "", id, strlen(id), t0 + 7 * day - 1), 1);
    CHECK_INT(sieve_dup_check("alice", "", id, strlen(id), t0 + 7 * day), 0);
    /* independent per handle, per user; case-sensitive; binary-safe */
    CHECK_INT(sieve_dup_check("alice", "h", id, strlen(id), t0 + 1), 0);
    CHECK_INT(sieve_dup_check("bob", "", id, strlen(id), t0 + 1), 0);
    CHECK_INT(sieve_dup_check("alice", "", "<A1@x.example>", 14, t0 + 1), 0);
    CHECK_INT(sieve_dup_record("alice", "", "a\0b", 3, day, false, t0), 0);
    CHECK_INT(sieve_dup_check("alice", "", "a\0c", 3, t0 + 1), 0);
    CHECK_INT(sieve_dup_check("alice", "", "a\0b", 3, t0 + 1), 1);
    CHECK_INT(sieve_dup_check("alice", "", "a", 1, t0 + 1), 0);
    /* without :last a later run does not extend a live entry ... */
    CHECK_INT(sieve_dup_record("alice", "", id, strlen(id), 7 * day, false, t0 + 6 * day), 0);
    CHECK_INT(sieve_dup_check("alice", "", id, strlen(id), t0 + 7 * day), 0);
    /* ... but an expired one starts again */
    CHECK_INT(sieve_dup_record("alice", "", id, strlen(id), 7 * day, false, t0 + 8 * day), 0);
    CHECK_INT(sieve_dup_check("alice", "", id, strlen(id), t0 + 14 * day), 1);
    CHECK_INT(sieve_dup_check("alice", "", id, strlen(id), t0 + 15 * day), 0);
    /* :last: each run that checked it moves the expiry */
    const char *id2 = "<b2@x.example>";
    CHECK_INT(sieve_dup_record("alice", "", id2, strlen(id2), 3600, true, t0), 0);
    CHECK_INT(sieve_dup_record("alice", "", id2, strlen(id2), 3600, true, t0 + 3000), 0);
    CHECK_INT(sieve_dup_check("alice", "", id2, strlen(id2), t0 + 6000), 1);
    CHECK_INT(sieve_dup_check("alice", "", id2, strlen(id2), t0 + 6600), 0);
    /* :seconds 0 tracks nothing; an over-long id is never a duplicate */
    CHECK_INT(sieve_dup_record("alice", "z", id, strlen(id), 0, false, t0), 0);
    CHECK_INT(sieve_dup_check("alice", "z", id, strlen(id), t0), 0);
    char *big = xmalloc(SIEVE_DUP_MAX_ID + 1);
    memset(big, 'x', SIEVE_DUP_MAX_ID + 1);
    CHECK_INT(sieve_dup_record("alice", "", big, SIEVE_DUP_MAX_ID + 1, day, false, t0), 0);
    CHECK_INT(sieve_dup_check("alice", "", big, SIEVE_DUP_MAX_ID + 1, t0 + 1), 0);
    CHECK_INT(sieve_dup_record("alice", "", big, SIEVE_DUP_MAX_ID, day, false, t0), 0);
    CHECK_INT(sieve_dup_check("alice", "", big, SIEVE_DUP_MAX_ID, t0 + 1), 1);
    free(big);
    /* prune drops what has expired at that time, and only that */
    long n = sieve_dup_prune(t0 + 13 * day);
    CHECK(n >= 3);
    CHECK_INT(sieve_dup_check("alice", "", id, strlen(id), t0 + 13 * day), 1);
    CHECK_INT(sieve_dup_prune(t0 + 13 * day), 0);
}

/* The users' Sieve error log: newest SIEVE_LOG_KEEP kept, oldest first,
 * per user, control characters and length bounded, cleared. */
struct log_rows {
    int n;
    int64_t first_t, last_t;
    char last_msg[SIEVE_LOG_MAX_TEXT + 8];
    char last_script[300];
};

static void log_rows_cb(void *arg, int64_t t, const char *script, const char *message)
{
    struct log_rows *r = arg;
    if (r->n++ == 0)
        r->first_t = t;
    r->last_t = t;
    snprintf(r->last_msg, sizeof(r->last_msg), "%s", message);
    snprintf(r->last_script, sizeof(r->last_script), "%s", script);
}

static void test_sieve_log(void)
{
    int64_t t0 = 1800000000;
    struct log_rows r = {0};
    CHECK_INT(sieve_log_list("lena", log_rows_cb, &r), 0);
    CHECK_INT(r.n, 0);
    for (int i = 0; i < SIEVE_LOG_KEEP + 7; i++) {
        char m[64];
        snprintf(m, sizeof(m), "error %d", i);
        CHECK_INT(sieve_log_add("lena", "main", m, t0 + i), 0);
    }
    CHECK_INT(sieve_log_add("otto", "x", "other user", t0), 0);
    memset(&r, 0, sizeof(r));
    CHECK_INT(sieve_log_list("lena", log_rows_cb, &r), 0);
    CHECK_INT(r.n, SIEVE_LOG_KEEP);
    CHECK_INT(r.first_t, t0 + 7);   /* the oldest went */
    CHECK_INT(r.last_t, t0 + SIEVE_LOG_KEEP + 6);
    CHECK_STR(r.last_msg, "error 56");
    /* hostile text: CR/LF/ESC become spaces; long text is cut at a
     * character boundary */
    CHECK_INT(sieve_log_add("lena", "ma\nin", "fileinto \"a\r\nb\x1b[0m\"", t0 + 100), 0);
    memset(&r, 0, sizeof(r));
    sieve_log_list("lena", log_rows_cb, &r);
    CHECK_STR(r.last_msg, "fileinto \"a  b [0m\"");
    CHECK_STR(r.last_script, "ma in");
    char *big = xmalloc(3 * SIEVE_LOG_MAX_TEXT + 1);
    for (int i = 0; i < SIEVE_LOG_MAX_TEXT; i++)
        memcpy(big + 3 * i, "\xe2\x82\xac", 3); /* U+20AC, 3 bytes */
    big[3 * SIEVE_LOG_MAX_TEXT] = '\0';
    CHECK_INT(sieve_log_add("lena", "main", big, t0 + 101), 0);
    free(big);
    memset(&r, 0, sizeof(r));
    sieve_log_list("lena", log_rows_cb, &r);
    CHECK(strlen(r.last_msg) <= SIEVE_LOG_MAX_TEXT && strlen(r.last_msg) % 3 == 0 && strlen(r.last_msg) > 900);
    CHECK_INT(r.n, SIEVE_LOG_KEEP);
    /* clear: this user only */
    CHECK_INT(sieve_log_clear("lena"), SIEVE_LOG_KEEP);
    memset(&r, 0, sizeof(r));
    sieve_log_list("lena", log_rows_cb, &r);
    CHECK_INT(r.n, 0);
    memset(&r, 0, sizeof(r));
    sieve_log_list("otto", log_rows_cb, &r);
    CHECK_INT(r.n, 1);
}

int main(void)
{
    if (delivery_harness_init("test-delivery-outgoing", "mx.test") != 0)
        return 2;
    unit_deadline(60);
    RUN(test_address_each);
    RUN(test_vacation_eligibility);
    RUN(test_vacation_period_handle);
    RUN(test_vacation_tracking);
    RUN(test_sieve_duplicate_table);
    RUN(test_sieve_log);
    RUN(test_vacation_compose);
    RUN(test_redirect_guard);
    RUN(test_mdn);
    RUN(test_mailto_parse);
    RUN(test_mailto_compose);
    RUN(test_hostile_headers);
    delivery_harness_done();
    return unit_done();
}
