/* test-imap-fetch.c - the message commands end to end (APPEND, FETCH,
 * SEARCH, STORE, COPY, MOVE, EXPUNGE, CLOSE) over a socketpair through the
 * real event loop, session, storage and MIME layers, with a store in a
 * temporary directory. The loop runs until the expected tagged reply
 * arrives (a guard timer only catches hangs). */
#include "unit.h"
#include "imap-harness.h"
#include "auth.h"

static const char MSG1[] = "From: Alice <alice@example.com>\r\n"
                           "To: bob@example.org\r\n"
                           "Subject: hello there\r\n"
                           "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
                           "\r\n"
                           "Hello world\r\n";
static const char MSG2[] = "From: bob@example.org\r\n"
                           "Subject: parts\r\n"
                           "MIME-Version: 1.0\r\n"
                           "Content-Type: multipart/mixed; boundary=XX\r\n"
                           "\r\n"
                           "--XX\r\n"
                           "Content-Type: text/plain\r\n"
                           "\r\n"
                           "part one\r\n"
                           "--XX\r\n"
                           "Content-Type: application/octet-stream\r\n"
                           "Content-Transfer-Encoding: base64\r\n"
                           "\r\n"
                           "AAECAwQ=\r\n"
                           "--XX--\r\n";

static void append_msg(const char *tag, const char *mbox, const char *flags, const char *msg)
{
    struct buf b = BUF_INIT;
    char until[64];
    buf_printf(&b, "%s APPEND %s %s{%zu+}\r\n%s\r\n", tag, mbox, flags, strlen(msg), msg);
    snprintf(until, sizeof(until), "%s OK", tag);
    CHECK(exchange(b.data, b.len, until));
    buf_free(&b);
}

static void test_append(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    append_msg("a1", "INBOX", "(\\Flagged $Junk) \"17-Jul-1996 02:44:25 -0700\" ", MSG1);
    CHECK(has("a1 OK [APPENDUID "));
    append_msg("a2", "INBOX", "", MSG2);
    /* MULTIAPPEND: atomic, consecutive UIDs */
    struct buf b = BUF_INIT;
    buf_printf(&b, "a3 APPEND INBOX {%zu+}\r\n%s (\\Seen) {%zu+}\r\n%s\r\n", strlen(MSG1), MSG1, strlen(MSG1),
               MSG1);
    CHECK(exchange(b.data, b.len, "a3 OK"));
    CHECK(has(" 3:4] Append completed"));
    buf_free(&b);
    CHECK(SEND("a4 APPEND Nope {3+}\r\nabc\r\n", "a4 NO [TRYCREATE]"));
    CHECK(SEND("a5 APPEND INBOX (\\Recent) {3+}\r\nabc\r\n", "a5 BAD"));
    CHECK(SEND("a6 APPEND INBOX {0+}\r\n\r\n", "a6 NO"));
    CHECK(SEND("a7 APPEND INBOX \"bad date\" {3+}\r\nabc\r\n", "a7 BAD"));
    CHECK(SEND("a8 APPEND INBOX (\\Seen\r\n", "a8 BAD"));
    /* binary literal with a NUL */
    CHECK(exchange("a9 APPEND INBOX ~{21+}\r\nSubject: b\r\n\r\nab\0cd\r\n\r\n", 47, "a9 OK"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

static void test_fetch(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("s SELECT INBOX\r\n", "s OK"));
    buf_reset(&got);
    CHECK(SEND("f1 FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)\r\n", "f1 OK"));
    CHECK(has("* 1 FETCH (FLAGS (\\Flagged $Junk \\Recent) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
              "RFC822.SIZE 129 UID 1)"));
    buf_reset(&got);
    CHECK(SEND("f2 UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT]<0.5>)\r\n", "f2 OK"));
    CHECK(has("* 1 FETCH (UID 1 BODY[HEADER.FIELDS (Subject)] {24}\r\nSubject: hello there\r\n\r\n "
              "BODY[TEXT]<0> {5}\r\nHello)"));
    buf_reset(&got);
    CHECK(SEND("f3 FETCH 2 (BODY[1] BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[2.MIME])\r\n", "f3 OK"));
    CHECK(has("BODY[1] {8}\r\npart one"));
    CHECK(has("BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04"));
    CHECK(has("BINARY.SIZE[2] 5"));
    CHECK(has("BODY[2.MIME] {77}\r\nContent-Type: application/octet-stream\r\n"));
    CHECK(has("FLAGS (\\Seen \\Recent)"));  /* BODY[1] set \Seen */
    buf_reset(&got);
    CHECK(SEND("f4 FETCH 1 (ENVELOPE BODYSTRUCTURE)\r\n", "f4 OK"));
    CHECK(has("ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"hello there\" ((\"Alice\" NIL \"alice\" "
              "\"example.com\"))"));
    CHECK(has("BODYSTRUCTURE (\"TEXT\" \"PLAIN\""));
    buf_reset(&got);
    CHECK(SEND("f5 FETCH 1 (MODSEQ EMAILID SAVEDATE)\r\n", "f5 OK"));
    CHECK(has("MODSEQ ("));
    CHECK(has("EMAILID (M"));
    CHECK(SEND("f6 FETCH 99 FLAGS\r\n", "f6 BAD"));
    CHECK(SEND("f7 FETCH 1 BODY[MIME]\r\n", "f7 BAD"));
    CHECK(SEND("f8 UID FETCH 99 FLAGS\r\n", "f8 OK"));
    CHECK(SEND("f9 FETCH 1 (FLAGS) (VANISHED)\r\n", "f9 BAD"));
    buf_reset(&got);
    CHECK(SEND("f10 FETCH 1:* (FLAGS) (CHANGEDSINCE 1)\r\n", "f10 OK"));
    CHECK(has("MODSEQ ("));
    buf_reset(&got);
    CHECK(SEND("f11 UID FETCH 1,4,1000:2000,4000000000 (UID)\r\n", "f11 OK"));
    CHECK(has("* 1 FETCH (UID 1)\r\n* 4 FETCH (UID 4)\r\nf11 OK"));
    buf_reset(&got);
    CHECK(SEND("f12 FETCH 2:3 (BINARY.PEEK[1] BINARY.SIZE[1])\r\n", "f12 OK"));
    CHECK(has("* 2 FETCH (BINARY[1] {8}\r\npart one BINARY.SIZE[1] 8)"));
    CHECK(has("* 3 FETCH (BINARY[1] {13}\r\nHello world\r\n BINARY.SIZE[1] 13)"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

static void test_search_store(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("s SELECT INBOX\r\n", "s OK"));
    buf_reset(&got);
    CHECK(SEND("s1 SEARCH FLAGGED\r\n", "s1 OK"));
    CHECK(has("* SEARCH 1\r\n"));
    CHECK(SEND("s2 SEARCH FROM alice SUBJECT hello\r\n", "s2 OK"));
    CHECK(has("* SEARCH 1 3 4\r\n"));
    CHECK(SEND("s3 UID SEARCH RETURN (MIN MAX COUNT ALL) BODY \"part one\"\r\n", "s3 OK"));
    CHECK(has("* ESEARCH (TAG \"s3\") UID MIN 2 MAX 2 COUNT 1 ALL 2\r\n"));
    CHECK(SEND("s4 SEARCH RETURN (SAVE) SENTON 7-Feb-1994\r\n", "s4 OK"));
    CHECK(SEND("s5 FETCH $ (UID)\r\n", "s5 OK"));
    CHECK(has("* 4 FETCH (UID 4)"));
    CHECK(SEND("s6 SEARCH CHARSET FOO ALL\r\n", "s6 NO [BADCHARSET"));
    CHECK(SEND("s7 SEARCH FOO\r\n", "s7 BAD"));
    buf_reset(&got);
    CHECK(SEND("t1 STORE 1 +FLAGS (\\Deleted newkw)\r\n", "t1 OK"));
    CHECK(has("* FLAGS ("));   /* newkw announced first */
    CHECK(has("* 1 FETCH (FLAGS (\\Flagged \\Deleted $Junk newkw))"));
    buf_reset(&got);
    CHECK(SEND("t2 STORE 1 -FLAGS.SILENT (newkw)\r\n", "t2 OK"));
    CHECK(!has("FETCH"));
    CHECK(SEND("t3 STORE 1:2 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)\r\n", "t3 OK [MODIFIED 1:2]"));
    CHECK(SEND("t4 STORE 1 +FLAGS (\\Recent)\r\n", "t4 BAD"));
    buf_reset(&got);
    CHECK(SEND("t5 UID STORE 2 FLAGS.SILENT (\\Seen)\r\n", "t5 OK"));
    CHECK(!has("FETCH"));
    CHECK(SEND("c1 CREATE Archive\r\n", "c1 OK"));
    CHECK(SEND("c2 COPY 1:2 Archive\r\n", "c2 OK [COPYUID "));
    CHECK(has(" 1:2 1:2] "));
    CHECK(SEND("c3 COPY 1 Nope\r\n", "c3 NO [TRYCREATE]"));
    buf_reset(&got);
    CHECK(SEND("c4 MOVE 2 Archive\r\n", "c4 OK"));
    CHECK(has("* OK [COPYUID "));
    CHECK(has("* 2 EXPUNGE\r\n"));
    buf_reset(&got);
    CHECK(SEND("e1 EXPUNGE\r\n", "e1 OK"));
    CHECK(has("* 1 EXPUNGE\r\n"));
    CHECK(SEND("e2 UID EXPUNGE 1:*\r\n", "e2 OK"));
    CHECK(SEND("e3 CLOSE\r\n", "e3 OK"));
    CHECK(SEND("e4 FETCH 1 FLAGS\r\n", "e4 BAD"));
    CHECK(SEND("e5 EXAMINE Archive\r\n", "e5 OK"));
    CHECK(SEND("e6 STORE 1 +FLAGS (\\Seen)\r\n", "e6 NO"));
    CHECK(SEND("e7 UNSELECT\r\n", "e7 OK"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

/* A big FETCH streams through the 256 KB output window and completes. */
static void test_big_fetch(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("c CREATE Big\r\n", "c OK"));
    struct buf msg = BUF_INIT;
    buf_puts(&msg, "Subject: big\r\n\r\n");
    while (msg.len < 300000)
        buf_puts(&msg, "0123456789012345678901234567890123456789012345678901234567890123456789012\r\n");
    struct buf cmd = BUF_INIT;
    buf_puts(&cmd, "a APPEND Big");
    for (int i = 0; i < 20; i++)
        buf_printf(&cmd, " {%zu+}\r\n%s", msg.len, buf_cstr(&msg));
    buf_puts(&cmd, "\r\n");
    CHECK(exchange(cmd.data, cmd.len, "a OK"));
    CHECK(SEND("s SELECT Big\r\n", "s OK"));
    buf_reset(&got);
    CHECK(SEND("f FETCH 1:* (BODY.PEEK[])\r\n", "f OK Fetch completed"));
    CHECK(got.len > 20 * msg.len);
    CHECK(has("* 20 FETCH (BODY[] {"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    buf_free(&msg);
    buf_free(&cmd);
    end_session();
}

/* Bytes of got after the first occurrence of marker (NULL when absent). */
static const char *after(const char *marker, size_t *rest)
{
    const char *p = got.len ? memmem(got.data, got.len, marker, strlen(marker)) : NULL;
    if (!p)
        return NULL;
    p += strlen(marker);
    *rest = got.len - (size_t)(p - got.data);
    return p;
}

/* NUL octets: only literal8 may carry them in (APPEND, also when the
 * literal is spilled to a temporary file) and out (BINARY[]); BODY[] sends
 * them as 0x80 with the length unchanged. */
static void test_nul(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("c CREATE Nul\r\n", "c OK"));
    /* small (in memory) */
    CHECK(exchange("n1 APPEND Nul ~{21+}\r\nSubject: b\r\n\r\nab\0cd\r\n\r\n", 45, "n1 OK"));
    CHECK(exchange("n2 APPEND Nul {21+}\r\nSubject: b\r\n\r\nab\0cd\r\n\r\n", 44, "n2 BAD"));
    /* big (spilled to a file): binary accepted, non-binary refused at
     * once and the rest of the command skipped */
    struct buf msg = BUF_INIT;
    buf_puts(&msg, "Subject: big nul\r\n\r\n");
    while (msg.len < 200000)
        buf_puts(&msg, "0123456789012345678901234567890123456789012345678901234567890123456789012\r\n");
    msg.data[150000] = '\0';
    struct buf cmd = BUF_INIT;
    buf_printf(&cmd, "n3 APPEND Nul ~{%zu+}\r\n", msg.len);
    buf_append(&cmd, msg.data, msg.len);
    buf_puts(&cmd, "\r\n");
    CHECK(exchange(cmd.data, cmd.len, "n3 OK"));
    buf_reset(&cmd);
    buf_reset(&got);
    buf_printf(&cmd, "n4 APPEND Nul {%zu+}\r\n", msg.len);
    buf_append(&cmd, msg.data, msg.len);
    buf_printf(&cmd, " {%zu+}\r\n", msg.len);   /* MULTIAPPEND: second literal skipped too */
    buf_append(&cmd, msg.data, msg.len);
    buf_puts(&cmd, "\r\nn5 NOOP\r\n");
    CHECK(exchange(cmd.data, cmd.len, "n5 OK"));
    CHECK(has("n4 BAD NUL octet in literal"));
    CHECK(!has("n4 OK"));
    /* a big non-binary literal without NUL still works */
    msg.data[150000] = 'x';
    buf_reset(&cmd);
    buf_printf(&cmd, "n6 APPEND Nul {%zu+}\r\n", msg.len);
    buf_append(&cmd, msg.data, msg.len);
    buf_puts(&cmd, "\r\n");
    CHECK(exchange(cmd.data, cmd.len, "n6 OK"));
    CHECK(SEND("s SELECT Nul\r\n", "* 3 EXISTS"));
    CHECK(SEND("", "s OK"));

    buf_reset(&got);
    CHECK(SEND("f1 FETCH 1 (BODY.PEEK[] BINARY.PEEK[] BODY.PEEK[TEXT]<2.3>)\r\n", "f1 OK"));
    CHECK(has("BODY[] {21}\r\nSubject: b\r\n\r\nab\x80" "cd\r\n BINARY[] ~{21}\r\n"));
    CHECK(exchange(NULL, 0, "f1 OK") && memmem(got.data, got.len, "BINARY[] ~{21}\r\nSubject: b\r\n\r\nab\0cd\r\n", 37));
    CHECK(has("BODY[TEXT]<2> {3}\r\n\x80" "cd"));
    buf_reset(&got);
    CHECK(SEND("f2 FETCH 2 (BODY.PEEK[])\r\n", "f2 OK"));
    size_t rest = 0;
    const char *p = after("BODY[] {", &rest);
    CHECK(p != NULL);
    if (p) {
        CHECK(memchr(p, '\0', rest) == NULL);
        char *nl = memchr(p, '\n', rest);
        CHECK(nl && (size_t)(p + rest - (nl + 1)) > msg.len);
        if (nl)
            CHECK((unsigned char)nl[1 + 150000] == 0x80);
    }
    buf_reset(&got);
    CHECK(SEND("f3 FETCH 2 (BINARY.PEEK[])\r\n", "f3 OK"));
    p = after("BINARY[] ~{", &rest);
    CHECK(p != NULL && memchr(p, '\0', rest) != NULL);
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    buf_free(&msg);
    buf_free(&cmd);
    end_session();
}

/* A session's own big STORE is not reported back by the sync that
 * follows (the own-change set holds one modseq per transaction, not one
 * entry per message), and FETCH of a set where nothing is gone is OK. */
static void test_own_changes(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("c CREATE Many\r\n", "c OK"));
    struct buf cmd = BUF_INIT;
    static const char m[] = "Subject: x\r\n\r\nx\r\n";
    for (int k = 0; k < 3; k++) {
        buf_reset(&cmd);
        buf_printf(&cmd, "a%d APPEND Many", k);
        for (int i = 0; i < 1000; i++)
            buf_printf(&cmd, " {%zu+}\r\n%s", strlen(m), m);
        buf_puts(&cmd, "\r\n");
        char until[16];
        snprintf(until, sizeof(until), "a%d OK", k);
        CHECK(exchange(cmd.data, cmd.len, until));
    }
    CHECK(SEND("s SELECT Many\r\n", "s OK"));
    buf_reset(&got);
    CHECK(SEND("t1 STORE 1:* +FLAGS.SILENT (\\Seen)\r\n", "t1 OK"));
    CHECK(SEND("t2 NOOP\r\n", "t2 OK"));
    CHECK(!has("FETCH"));
    buf_reset(&got);
    CHECK(SEND("t3 STORE 1:* -FLAGS (\\Seen)\r\n", "t3 OK"));
    CHECK(has("* 3000 FETCH (FLAGS (\\Recent))\r\nt3 OK"));
    buf_reset(&got);
    CHECK(SEND("t4 NOOP\r\n", "t4 OK"));
    CHECK(!has("FETCH"));
    /* several own transactions between syncs (FETCH sets \Seen per batch) */
    buf_reset(&got);
    CHECK(SEND("t5 FETCH 1:* (BODY[TEXT])\r\n", "t5 OK Fetch completed"));
    CHECK(SEND("t6 NOOP\r\n", "t6 OK"));
    size_t rest = 0;
    const char *p = after("t5 OK", &rest);
    CHECK(p && !memmem(p, rest, "FETCH", 5));
    /* A STORE whose answer (3000 lines of ~600 octets) is far more than
     * the output window: produced batch by batch as the client reads. */
    buf_reset(&cmd);
    buf_puts(&cmd, "t7 STORE 1:* FLAGS (\\Seen");
    for (int i = 0; i < 10; i++)
        buf_printf(&cmd, " kw%d_0123456789012345678901234567890123456789012345678", i);
    buf_puts(&cmd, ")\r\n");
    buf_reset(&got);
    CHECK(exchange(cmd.data, cmd.len, "t7 OK"));
    size_t nf = 0;
    for (const char *q = got.data; (q = memmem(q, got.len - (size_t)(q - got.data), " FETCH (FLAGS (\\Seen kw0_", 25)); q++)
        nf++;
    CHECK_INT(nf, 3000);
    CHECK(got.len > 3000 * 500);
    CHECK(has("* 3000 FETCH (FLAGS (\\Seen kw0_"));
    p = after("* 3000 FETCH", &rest);
    CHECK(p && memmem(p, rest, "\r\nt7 OK Store completed\r\n", 25));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    buf_free(&cmd);
    end_session();
}

/* RFC 6855 4: 8-bit header fields need ENABLE UTF8=ACCEPT (or IMAP4rev2);
 * checked for in-memory and spilled literals; 8-bit bodies are fine. */
static void test_utf8_append(void)
{
    static const char m8[] = "Subject: caf\xc3\xa9\r\n\r\nbody\r\n";
    static const char b8[] = "Subject: cafe\r\n\r\nb\xc3\xb6" "dy\r\n";
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("c CREATE U8\r\n", "c OK"));
    append_msg("u1", "U8", "", b8);
    struct buf cmd = BUF_INIT;
    buf_printf(&cmd, "u2 APPEND U8 {%zu+}\r\n%s\r\n", strlen(m8), m8);
    CHECK(exchange(cmd.data, cmd.len, "u2 NO [CANNOT]"));
    /* MULTIAPPEND: one bad message refuses all */
    buf_reset(&cmd);
    buf_printf(&cmd, "u3 APPEND U8 {%zu+}\r\n%s {%zu+}\r\n%s\r\n", strlen(b8), b8, strlen(m8), m8);
    CHECK(exchange(cmd.data, cmd.len, "u3 NO [CANNOT]"));
    /* spilled: 8-bit in the header of a 200 KB message */
    struct buf big = BUF_INIT;
    buf_puts(&big, "X-A: 1\r\nSubject: caf\xc3\xa9\r\n\r\n");
    while (big.len < 200000)
        buf_puts(&big, "0123456789012345678901234567890123456789012345678901234567890123456789012\r\n");
    buf_reset(&cmd);
    buf_printf(&cmd, "u4 APPEND U8 {%zu+}\r\n", big.len);
    buf_append(&cmd, big.data, big.len);
    buf_puts(&cmd, "\r\n");
    CHECK(exchange(cmd.data, cmd.len, "u4 NO [CANNOT]"));
    CHECK(SEND("s STATUS U8 (MESSAGES)\r\n", "s OK"));
    CHECK(has("(MESSAGES 1)"));
    CHECK(SEND("e ENABLE UTF8=ACCEPT\r\n", "e OK"));
    CHECK(exchange(cmd.data, cmd.len, "u4 OK"));
    buf_reset(&cmd);
    buf_printf(&cmd, "u5 APPEND U8 {%zu+}\r\n%s\r\n", strlen(m8), m8);
    CHECK(exchange(cmd.data, cmd.len, "u5 OK"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    buf_free(&big);
    buf_free(&cmd);
    end_session();
}

int main(void)
{
    const char *dir = unit_tmpdir();
    imap_harness_config(dir);
    if (storage_init(dir) != 0 || userdb_open(dir) != 0 || userdb_add("alice", "secret") != 0) {
        fprintf(stderr, "setup failed\n");
        return 2;
    }
    imap_harness_start();
    RUN(test_append);
    RUN(test_fetch);
    RUN(test_search_store);
    RUN(test_big_fetch);
    RUN(test_nul);
    RUN(test_own_changes);
    RUN(test_utf8_append);
    imap_harness_stop();
    userdb_close();
    storage_shutdown();
    config_install(NULL);
    return unit_done();
}
