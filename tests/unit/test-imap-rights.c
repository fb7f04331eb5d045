/* test-imap-rights.c - RFC 4314 rights inside the selected mailbox and on
 * APPEND/COPY/MOVE targets, end to end over a socketpair through the real
 * session, access and storage layers: alice shares a mailbox with bob
 * (SETACL) and bob's STORE/FETCH/EXPUNGE/COPY/MOVE/APPEND/CLOSE are
 * checked against what the rights allow (PERMANENTFLAGS, NO [NOPERM],
 * flags silently dropped, flags filtered on COPY/APPEND). */
#include "unit.h"
#include "imap-harness.h"
#include "auth.h"

static const char MSG[] = "From: alice@example.com\r\nSubject: note\r\n\r\nhello\r\n";

static void append_msg(const char *tag, const char *mbox, const char *flags)
{
    struct buf b = BUF_INIT;
    char until[64];
    buf_printf(&b, "%s APPEND %s %s{%zu+}\r\n%s\r\n", tag, mbox, flags, strlen(MSG), MSG);
    snprintf(until, sizeof(until), "%s OK", tag);
    CHECK(exchange(b.data, b.len, until));
    buf_free(&b);
}

/* alice: mailbox NAME with three messages (the third \Deleted), shared
 * with bob with RIGHTS. */
static void share(const char *name, const char *rights)
{
    char cmd[256];
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    snprintf(cmd, sizeof(cmd), "c CREATE %s\r\n", name);
    CHECK(SEND(cmd, "c OK"));
    append_msg("a1", name, "");
    append_msg("a2", name, "(\\Flagged) ");
    append_msg("a3", name, "(\\Deleted) ");
    snprintf(cmd, sizeof(cmd), "s SETACL %s bob %s\r\n", name, rights);
    CHECK(SEND(cmd, "s OK"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

static void bob(void)
{
    start_session();
    CHECK(SEND("l LOGIN bob secret\r\n", "l OK"));
    buf_reset(&got);
}

/* RFC 4314 4 with "lrs": \Seen only. */
static void test_seen_only(void)
{
    share("S1", "lrs");
    bob();
    CHECK(SEND("s SELECT \"Other Users/alice/S1\"\r\n", "s OK"));
    CHECK(has("[READ-WRITE]"));
    CHECK(has("* OK [PERMANENTFLAGS (\\Seen)]"));
    buf_reset(&got);
    /* only a forbidden flag named: NO [NOPERM], nothing changes */
    CHECK(SEND("t1 STORE 1 +FLAGS (\\Flagged)\r\n", "t1 NO [NOPERM]"));
    CHECK(SEND("t1b STORE 1 +FLAGS ($Junk)\r\n", "t1b NO [NOPERM]"));
    /* mixed: the permitted part is stored, the rest silently dropped */
    CHECK(SEND("t2 STORE 1 +FLAGS (\\Seen \\Flagged)\r\n", "t2 OK"));
    CHECK(has("* 1 FETCH (FLAGS (\\Seen))"));
    buf_reset(&got);
    /* replace: only \Seen is replaced; \Flagged of message 2 stays */
    CHECK(SEND("t3 STORE 2 FLAGS (\\Seen \\Answered)\r\n", "t3 OK"));
    CHECK(has("* 2 FETCH (FLAGS (\\Seen \\Flagged))"));
    buf_reset(&got);
    CHECK(SEND("t4 STORE 2 FLAGS ()\r\n", "t4 OK"));
    CHECK(has("* 2 FETCH (FLAGS (\\Flagged))"));
    buf_reset(&got);
    /* UNCHANGEDSINCE still applies to the permitted part */
    CHECK(SEND("t5 STORE 2 (UNCHANGEDSINCE 1) FLAGS (\\Seen)\r\n", "t5 OK [MODIFIED 2]"));
    /* no e: EXPUNGE refused, MOVE refused (t and e), CLOSE closes only */
    CHECK(SEND("e1 EXPUNGE\r\n", "e1 NO [NOPERM]"));
    CHECK(SEND("e2 UID EXPUNGE 1:*\r\n", "e2 NO [NOPERM]"));
    CHECK(SEND("m1 MOVE 1 INBOX\r\n", "m1 NO [NOPERM]"));
    /* no i on the target: visible (l) -> NOPERM */
    CHECK(SEND("c1 COPY 1 \"Other Users/alice/S1\"\r\n", "c1 NO [NOPERM]"));
    CHECK(SEND("c2 COPY 1 \"Other Users/alice/Nope\"\r\n", "c2 NO [TRYCREATE]"));
    CHECK(SEND("c3 COPY 1 INBOX\r\n", "c3 OK [COPYUID "));
    /* implicit \Seen with s */
    buf_reset(&got);
    CHECK(SEND("f1 FETCH 2 (BODY[TEXT])\r\n", "f1 OK"));
    CHECK(has("\\Seen"));
    CHECK(SEND("x CLOSE\r\n", "x OK"));
    buf_reset(&got);
    CHECK(SEND("st STATUS \"Other Users/alice/S1\" (MESSAGES)\r\n", "st OK"));
    CHECK(has("MESSAGES 3"));
    CHECK(SEND("a APPEND \"Other Users/alice/S1\" {3+}\r\nx\r\n\r\n", "a NO [NOPERM]"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

/* "lr": read-only; no implicit \Seen. */
static void test_read_only(void)
{
    share("S2", "lr");
    bob();
    CHECK(SEND("s SELECT \"Other Users/alice/S2\"\r\n", "s OK"));
    CHECK(has("s OK [READ-ONLY]"));
    CHECK(has("* OK [PERMANENTFLAGS ()]"));
    buf_reset(&got);
    CHECK(SEND("f1 FETCH 1 (BODY[])\r\n", "f1 OK"));
    CHECK(!has("\\Seen"));
    CHECK(SEND("f2 FETCH 1 (FLAGS)\r\n", "f2 OK"));
    CHECK(!has("\\Seen"));
    CHECK(SEND("t1 STORE 1 +FLAGS (\\Seen)\r\n", "t1 NO"));
    CHECK(SEND("e1 EXPUNGE\r\n", "e1 NO"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

/* "lrwite" minus s: flags filtered on COPY/APPEND into the mailbox, MOVE
 * out allowed (t and e), EXPUNGE allowed. */
static void test_write_insert(void)
{
    share("S3", "lrwite");
    bob();
    CHECK(SEND("s SELECT \"Other Users/alice/S3\"\r\n", "s OK"));
    CHECK(has("[PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Draft \\*)]"));
    CHECK(SEND("t1 STORE 1 +FLAGS (\\Seen)\r\n", "t1 NO [NOPERM]"));
    CHECK(SEND("t2 STORE 1 +FLAGS (\\Draft)\r\n", "t2 OK"));
    buf_reset(&got);
    CHECK(SEND("a1 APPEND \"Other Users/alice/S3\" (\\Seen \\Flagged $Kw) {3+}\r\nx\r\n\r\n", "a1 OK [APPENDUID"));
    CHECK(SEND("f1 FETCH 4 (FLAGS)\r\n", "f1 OK"));
    CHECK(has("* 4 FETCH (FLAGS (\\Flagged $Kw))"));
    /* COPY inside: \Seen would need s, so message 1 loses nothing but
     * \Seen (it had none); message 3's \Deleted stays (t) */
    buf_reset(&got);
    CHECK(SEND("c1 COPY 3 \"Other Users/alice/S3\"\r\n", "c1 OK [COPYUID"));
    CHECK(SEND("f2 FETCH 5 (FLAGS)\r\n", "f2 OK"));
    CHECK(has("* 5 FETCH (FLAGS (\\Deleted))"));
    buf_reset(&got);
    CHECK(SEND("e1 EXPUNGE\r\n", "e1 OK"));
    /* 3 and the copy 5 (which became 4) */
    CHECK(has("* 3 EXPUNGE\r\n* 4 EXPUNGE\r\n"));
    buf_reset(&got);
    CHECK(SEND("m1 MOVE 1 INBOX\r\n", "m1 OK"));
    CHECK(has("[COPYUID "));
    CHECK(has("* 1 EXPUNGE"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

/* Flags of a COPY into a mailbox with "lri" only: nothing but the message
 * arrives (RFC 4314 4 example). */
static void test_copy_filter(void)
{
    share("S4", "lri");
    bob();
    append_msg("a0", "INBOX", "(\\Seen \\Deleted \\Answered $Fwd) ");
    CHECK(SEND("s SELECT INBOX\r\n", "s OK"));
    CHECK(SEND("c1 COPY 1 \"Other Users/alice/S4\"\r\n", "c1 OK [COPYUID"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("s EXAMINE S4\r\n", "s OK"));
    buf_reset(&got);
    CHECK(SEND("f FETCH 4 (FLAGS)\r\n", "f OK"));
    CHECK(has("* 4 FETCH (FLAGS (\\Recent))"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

/* The owner holds every right: PERMANENTFLAGS as before. */
static void test_owner(void)
{
    start_session();
    CHECK(SEND("l LOGIN alice secret\r\n", "l OK"));
    CHECK(SEND("s SELECT S1\r\n", "s OK"));
    CHECK(has("[PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"));
    CHECK(SEND("e EXPUNGE\r\n", "e OK"));
    CHECK(SEND("z LOGOUT\r\n", "z OK"));
    end_session();
}

int main(void)
{
    const char *dir = unit_tmpdir();
    imap_harness_config(dir);
    if (storage_init(dir) != 0 || userdb_open(dir) != 0 || userdb_add("alice", "secret") != 0 ||
        userdb_add("bob", "secret") != 0) {
        fprintf(stderr, "setup failed\n");
        return 2;
    }
    imap_harness_start();
    RUN(test_seen_only);
    RUN(test_read_only);
    RUN(test_write_insert);
    RUN(test_copy_filter);
    RUN(test_owner);
    imap_harness_stop();
    userdb_close();
    storage_shutdown();
    config_install(NULL);
    return unit_done();
}
