/* fuzz-imap-search.c - SEARCH programs (imap-search-key.c): the parser
 * ("[RETURN (...)] [CHARSET x] keys...", nesting, OR/NOT, dates, sizes,
 * sequence sets, HEADER/BODY/TEXT strings and literals, MODSEQ, object
 * ids), then the evaluator (search_eval) on two fixed messages, which
 * runs the header matching (RFC 2047 decoding, case folding) on the
 * parsed needles.
 *
 * Input: byte 0 = flags (bit 0: UTF-8 quoted strings allowed; bits 1-6:
 * the nesting limit, 4..67), then the SEARCH arguments as the client
 * sends them after "tag SEARCH" / "tag UID SEARCH" (literals inline).
 * Checked besides the sanitizers: an accepted program has a root, a
 * refusal has an error text and status, and every message gets the same
 * answer from its hfields (the fields decoded at append time) as from its
 * raw header. */
#include "support.h"
#include "imap.h"
#include "imap-search.h"
#include "mime.h"

static const char msg1_hdr[] =
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    "Subject: =?ISO-8859-1?Q?Caf=E9_afternoon?= meeting\r\n"
    "To: mooch@owatagu.siam.edu.example, =?UTF-8?B?w6lsw6huZQ==?= <e@example.net>\r\n"
    "Cc: \"Group\": a@b.example, c@d.example;\r\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    "X-Folded: first\r\n\tsecond line\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n";
static const char msg1_body[] = "Hello Joe, do you think we can meet at 3:30 tomorrow? \xc3\x89t\xc3\xa9 STRASSE stra\xc3\x9f" "e\r\n";

static const char msg2_hdr[] = "Subject: \xff\xfe raw 8-bit\r\nFrom: <>\r\nDate: garbage\r\n\r\n";
static const char msg2_body[] = "";

struct fmsg {
    const char *hdr, *body;
    size_t hlen, blen;
};

static bool get_header(void *arg, const char **hdr, size_t *len)
{
    const struct fmsg *m = arg;
    *hdr = m->hdr;
    *len = m->hlen;
    return true;
}

static bool get_body_text(void *arg, const char **text, size_t *len)
{
    const struct fmsg *m = arg;
    *text = m->body;
    *len = m->blen;
    return true;
}

/* The program on m as the raw-header path sees it, then with the
 * message's hfields: the answers must agree. */
static void check_hfields(const struct search_query *q, struct search_msg *sm, const struct fmsg *m)
{
    bool raw = search_eval(q->root, sm);
    struct buf hf = BUF_INIT;
    mime_hfields_build(&hf, m->hdr, m->hlen);
    sm->hfields = hf.data;
    sm->hfields_len = hf.len;
    bool dec = search_eval(q->root, sm);
    sm->hfields = NULL;
    sm->hfields_len = 0;
    buf_free(&hf);
    if (raw != dec) {
        fprintf(stderr, "fuzz-imap-search: hfields answer %d, raw header %d\n", dec, raw);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-imap-search");
    fuzz_config(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool utf8 = data[0] & 1;
    int maxdepth = 4 + ((data[0] >> 1) & 63);

    struct imap_cmd cmd;
    struct imap_parser ps;
    fuzz_imap_cmd_init(&cmd, &ps, data + 1, size - 1, utf8);

    struct search_query q;
    memset(&q, 0, sizeof(q));
    const char *status = NULL, *code = NULL, *err = NULL;
    bool ok = search_parse(&ps, &cmd, maxdepth, &q, &status, &code, &err);
    if (ok && !q.root) {
        fprintf(stderr, "fuzz-imap-search: accepted without a program\n");
        abort();
    }
    if (!ok && (!err || !status)) {
        fprintf(stderr, "fuzz-imap-search: refused without an error text or status\n");
        abort();
    }
    if (ok) {
        static const uint32_t searchres[] = {1, 3, 7, 4294967295u};
        struct fmsg m1 = {msg1_hdr, msg1_body, sizeof(msg1_hdr) - 1, sizeof(msg1_body) - 1};
        struct fmsg m2 = {msg2_hdr, msg2_body, sizeof(msg2_hdr) - 1, sizeof(msg2_body) - 1};
        struct msg_record r1 = {.uid = 7, .flags = 0, .keywords = "$Junk foo", .modseq = 12,
                                .internaldate = 760686745, .internaldate_tz = -480, .savedate = 760686800,
                                .size = 1234, .guid = "0123456789abcdef0123456789abcdef", .threadid = "T1"};
        struct msg_record r2 = {.uid = 4294967295u, .flags = 0xffff, .keywords = "", .modseq = UINT64_MAX,
                                .internaldate = -1, .internaldate_tz = 840, .savedate = 0, .size = 0};
        struct search_msg sm = {.rec = &r1, .msn = 3, .max_msn = 5, .max_uid = 9, .recent = true,
                                .now = 760700000, .searchres = searchres, .nsearchres = 4, .arg = &m1,
                                .get_header = get_header, .get_body_text = get_body_text};
        check_hfields(&q, &sm, &m1);
        sm.rec = &r2;
        sm.msn = 1;
        sm.max_msn = 1;
        sm.max_uid = 4294967295u;
        sm.recent = false;
        sm.searchres = NULL;
        sm.nsearchres = 0;
        sm.arg = &m2;
        check_hfields(&q, &sm, &m2);
    }
    search_query_free(&q);
    fuzz_imap_cmd_free(&cmd);
    return 0;
}
