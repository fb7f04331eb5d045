/* test-delivery.c - the delivery layer: envelope path parsing, recipient
 * resolution (+detail, domains, downcasing), detail -> mailbox names, the
 * spool (bare LF, 8-bit/NUL header rules, size and line limits, added
 * Message-ID, Message-ID extraction), single-instance delivery to several
 * users (one inode), createonpost and duplicate suppression. The ACL,
 * shared-mailbox and virtual-domain cases are in test-delivery-acl.c. */
#include "unit.h"
#include "delivery-harness.h"

#include <unistd.h>

static char *spool_text(struct dspool *s)
{
    size_t n = dspool_size(s);
    char *b = calloc(1, n + 1);
    ssize_t r = pread(dspool_fd(s), b, n, 0);
    CHECK(r == (ssize_t)n);
    return b;
}

static void test_parse_path(void)
{
    char out[DELIVERY_MAX_ADDR];
    const char *p = "<alice@example.com> SIZE=10";
    CHECK(delivery_parse_path(&p, out, sizeof(out)));
    CHECK_STR(out, "alice@example.com");
    CHECK_STR(p, " SIZE=10");
    p = "<>";
    CHECK(delivery_parse_path(&p, out, sizeof(out)));
    CHECK_STR(out, "");
    p = "<@a.example,@b.example:bob@c.example>";
    CHECK(delivery_parse_path(&p, out, sizeof(out)));
    CHECK_STR(out, "bob@c.example");
    p = "<\"a >b\"@x>";
    CHECK(delivery_parse_path(&p, out, sizeof(out)));
    CHECK_STR(out, "\"a >b\"@x");
    const char *bad[] = {"alice", "<alice", "<a b@c>", "<a\x01@c>", "<a<b@c>", "<\xff@x>", "<\xc3@x>",
                         "<@a.example>", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = bad[i];
        CHECK(!delivery_parse_path(&p, out, sizeof(out)));
    }
    char longaddr[3000];
    memset(longaddr, 'a', sizeof(longaddr));
    longaddr[0] = '<';
    longaddr[sizeof(longaddr) - 2] = '>';
    longaddr[sizeof(longaddr) - 1] = '\0';
    p = longaddr;
    CHECK(!delivery_parse_path(&p, out, sizeof(out)));
    p = "<caf\xc3\xa9@x>";
    CHECK(delivery_parse_path(&p, out, sizeof(out)));
}

static void test_detail_mailbox(void)
{
    char out[1024];
    set("unixhierarchysep", "no");
    CHECK(delivery_detail_mailbox("Lists.darius", out, sizeof(out)));
    CHECK_STR(out, "Lists/darius");
    CHECK(delivery_detail_mailbox("inbox", out, sizeof(out)));
    CHECK_STR(out, "INBOX");
    CHECK(delivery_detail_mailbox("Inbox.sub", out, sizeof(out)));
    CHECK_STR(out, "INBOX/sub");
    CHECK(!delivery_detail_mailbox("", out, sizeof(out)));
    CHECK(!delivery_detail_mailbox(".a", out, sizeof(out)));
    CHECK(!delivery_detail_mailbox("a..b", out, sizeof(out)));
    CHECK(!delivery_detail_mailbox("a.", out, sizeof(out)));
    CHECK(!delivery_detail_mailbox("a*", out, sizeof(out)));
    CHECK(!delivery_detail_mailbox("a\tb", out, sizeof(out)));
    set("unixhierarchysep", "yes");
    CHECK(delivery_detail_mailbox("a.b/c", out, sizeof(out)));
    CHECK_STR(out, "a.b/c");
    set("unixhierarchysep", "no");
}

static void test_resolve(void)
{
    struct delivery_rcpt r;
    CHECK_INT(delivery_resolve("alice", &r), RCPT_OK);
    CHECK_STR(r.user, "alice");
    CHECK_STR(r.mailbox, "INBOX");
    CHECK(!r.has_detail);
    CHECK_INT(delivery_resolve("Alice+Lists.x@example.com", &r), RCPT_OK);
    CHECK_STR(r.user, "alice");
    CHECK_STR(r.mailbox, "Lists/x");
    CHECK(r.has_detail);
    CHECK_INT(delivery_resolve("bob@example.com", &r), RCPT_OK);
    CHECK_STR(r.user, "bob@example.com"); /* whole address is a user name */
    CHECK_INT(delivery_resolve("bob+f@example.com", &r), RCPT_OK);
    CHECK_STR(r.user, "bob@example.com");
    CHECK_INT(delivery_resolve("nobody@example.com", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("\"alice\"@x", &r), RCPT_OK);
    CHECK_INT(delivery_resolve("alice+..@x", &r), RCPT_OK);
    CHECK_STR(r.mailbox, "INBOX"); /* invalid folder: INBOX */
    CHECK_INT(delivery_resolve("", &r), RCPT_SYNTAX);
    CHECK_INT(delivery_resolve("@x", &r), RCPT_SYNTAX);
    set("lmtp_downcase_rcpt", "no");
    CHECK_INT(delivery_resolve("Alice", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("alice", &r), RCPT_OK);
    set("lmtp_downcase_rcpt", "yes");
}

static struct dspool *spool(const char *rp, const char *recv, bool utf8, const char *data, size_t len)
{
    struct dspool_opts o = {.return_path = rp, .received = recv, .smtputf8 = utf8};
    struct dspool *s = dspool_new(&o);
    CHECK(s != NULL);
    if (s && data) {
        /* feed in awkward pieces to exercise the state machine */
        for (size_t i = 0; i < len; i += 3)
            dspool_write(s, data + i, len - i < 3 ? len - i : 3);
    }
    return s;
}

static void test_spool_basic(void)
{
    const char m[] = "Subject: hi\nMessage-ID:  <id1@x>\n\nbody\r\nbare\nlast";
    struct dspool *s = spool("s@x", "Received: test\r\n", false, m, sizeof(m) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    char *t = spool_text(s);
    CHECK_STR(t, "Return-Path: <s@x>\r\nReceived: test\r\nSubject: hi\r\nMessage-ID:  <id1@x>\r\n\r\nbody\r\nbare\r\n"
                 "last\r\n");
    CHECK_STR(dspool_message_id(s), "<id1@x>");
    free(t);
    dspool_free(s);

    /* folded Message-ID, case-insensitive name */
    const char m2[] = "message-id:\r\n <folded@x>\r\n\r\n";
    s = spool(NULL, NULL, false, m2, sizeof(m2) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    CHECK_STR(dspool_message_id(s), "<folded@x>");
    dspool_free(s);

    /* Message-ID in the body does not count */
    const char m3[] = "Subject: x\r\n\r\nMessage-ID: <body@x>\r\n";
    s = spool(NULL, NULL, false, m3, sizeof(m3) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    CHECK(dspool_message_id(s) == NULL);
    dspool_free(s);

    /* empty message */
    s = spool(NULL, NULL, false, "", 0);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    CHECK_INT(dspool_size(s), 0);
    dspool_free(s);
}

static void test_spool_8bit(void)
{
    const char m[] = "Subject: caf\xc3\xa9\r\n\r\nbody \xc3\xa9\x00!\r\n";
    set("reject8bit", "no");
    set("munge8bit", "yes");
    struct dspool *s = spool(NULL, NULL, false, m, sizeof(m) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    char *t = spool_text(s);
    CHECK_STR(t, "Subject: cafXX\r\n\r\nbody \xc3\xa9!\r\n");
    free(t);
    dspool_free(s);

    s = spool(NULL, NULL, true, m, sizeof(m) - 1); /* SMTPUTF8: kept */
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    t = spool_text(s);
    CHECK_STR(t, "Subject: caf\xc3\xa9\r\n\r\nbody \xc3\xa9!\r\n");
    free(t);
    dspool_free(s);

    set("munge8bit", "no");
    s = spool(NULL, NULL, false, m, sizeof(m) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    t = spool_text(s);
    CHECK_STR(t, "Subject: caf\xc3\xa9\r\n\r\nbody \xc3\xa9!\r\n");
    free(t);
    dspool_free(s);

    set("reject8bit", "yes");
    s = spool(NULL, NULL, false, m, sizeof(m) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_8BIT);
    dspool_free(s);
    const char nul[] = "Subject: x\r\n\r\na\0" "b\r\n";
    s = spool(NULL, NULL, false, nul, sizeof(nul) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_NUL);
    dspool_free(s);
    set("reject8bit", "no");
    set("munge8bit", "yes");
}

static void test_spool_limits(void)
{
    set("maxmessagesize", "2048");
    char *big = malloc(3000);
    memset(big, 'a', 3000);
    memcpy(big, "S: x\r\n\r\n", 8);
    struct dspool *s = spool(NULL, NULL, false, big, 3000);
    CHECK_INT(dspool_status(s), DSPOOL_TOOBIG);
    CHECK_INT(dspool_finish(s), DSPOOL_TOOBIG);
    dspool_free(s);
    set("maxmessagesize", "52428800");
    /* a line over 64 KiB */
    size_t n = DELIVERY_MAX_LINE + 10;
    char *longl = malloc(n);
    memset(longl, 'b', n);
    memcpy(longl, "S: x\r\n\r\n", 8);
    struct dspool_opts o = {0};
    s = dspool_new(&o);
    dspool_write(s, longl, n);
    CHECK_INT(dspool_finish(s), DSPOOL_LINE);
    dspool_free(s);
    /* just under the limit is fine */
    s = dspool_new(&o);
    dspool_write(s, longl, 8 + DELIVERY_MAX_LINE - 2);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    dspool_free(s);
    free(longl);
    free(big);
}

static void test_spool_add_msgid(void)
{
    set("lmtp_add_messageid", "yes");
    const char m[] = "Subject: x\r\n\r\nbody\r\n";
    struct dspool *s = spool(NULL, NULL, false, m, sizeof(m) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    char *t = spool_text(s);
    CHECK(strncmp(t, "Subject: x\r\nMessage-ID: <", 25) == 0);
    CHECK(strstr(t, ">\r\n\r\nbody\r\n") != NULL);
    CHECK(dspool_message_id(s) != NULL);
    free(t);
    dspool_free(s);
    /* headers only, no blank line */
    const char m2[] = "Subject: y";
    s = spool(NULL, NULL, false, m2, sizeof(m2) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    t = spool_text(s);
    CHECK(strncmp(t, "Subject: y\r\nMessage-ID: <", 25) == 0);
    free(t);
    dspool_free(s);
    /* present: not added */
    const char m3[] = "Message-Id: <k@x>\r\n\r\n";
    s = spool(NULL, NULL, false, m3, sizeof(m3) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    t = spool_text(s);
    CHECK_STR(t, "Message-Id: <k@x>\r\n\r\n");
    free(t);
    dspool_free(s);
    set("lmtp_add_messageid", "no");
}

static uint32_t count(const char *user, const char *mbox)
{
    struct mail_user *u;
    if (mail_user_open(user, true, &u) != 0)
        return 9999;
    struct mailbox_info info;
    uint32_t n = mailbox_status(u, mbox, &info) == 0 ? info.messages : 9999;
    mail_user_close(u);
    return n;
}

static void test_deliver_shared(void)
{
    const char m[] = "Subject: shared\r\nMessage-ID: <shared@x>\r\n\r\nbody\r\n";
    struct dspool *s = spool("a@b", NULL, false, m, sizeof(m) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    struct delivery_rcpt ra, rc;
    CHECK_INT(delivery_resolve("alice", &ra), RCPT_OK);
    CHECK_INT(delivery_resolve("carol", &rc), RCPT_OK);
    struct deliver_opts o = {.dupcheck = true, .flags = MSG_SEEN};
    CHECK_INT(delivery_deliver(s, &ra, &o), DELIVER_OK);
    CHECK_INT(delivery_deliver(s, &rc, &o), DELIVER_OK);
    CHECK_INT(delivery_deliver(s, &rc, &o), DELIVER_DUPLICATE);
    struct stat st;
    CHECK(fstat(dspool_fd(s), &st) == 0);
    CHECK_INT(st.st_nlink, 2); /* one inode, linked into both stores */
    dspool_free(s);
    CHECK_INT(count("alice", "INBOX"), 1);
    CHECK_INT(count("carol", "INBOX"), 1);
    /* without dupcheck the same message is stored again */
    s = spool("a@b", NULL, false, m, sizeof(m) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    o.dupcheck = false;
    CHECK_INT(delivery_deliver(s, &rc, &o), DELIVER_OK);
    dspool_free(s);
    CHECK_INT(count("carol", "INBOX"), 2);
    /* expiry */
    CHECK_INT(duplicate_check("<shared@x>", "alice", "INBOX"), 1);
    CHECK_INT(duplicate_check("<shared@x>", "alice", "Other"), 0);
    CHECK(duplicate_prune(0) >= 0);
    CHECK(duplicate_prune(1) == 0);
}

static void test_deliver_detail(void)
{
    const char m[] = "Subject: d\r\n\r\nbody\r\n";
    struct delivery_rcpt r;
    struct deliver_opts o = {0};
    struct dspool *s = spool(NULL, NULL, false, m, sizeof(m) - 1);
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    CHECK_INT(delivery_resolve("alice+Folder", &r), RCPT_OK);
    set("createonpost", "no");
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK); /* no folder: INBOX */
    CHECK_INT(count("alice", "INBOX"), 2);
    set("createonpost", "yes");
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Folder"), 1);
    set("createonpost", "no");
    /* now it exists, with the owner's ACL only: no p for anyone, INBOX
     * (Cyrus); the owner as authenticated poster delivers into it */
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Folder"), 1);
    CHECK_INT(count("alice", "INBOX"), 3);
    o.poster = "alice";
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Folder"), 2);
    /* bad keyword: permanent failure, nothing stored */
    o.keywords = "bad]kw";
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_PERMFAIL);
    CHECK_INT(count("alice", "Folder"), 2);
    dspool_free(s);
}

static void test_received(void)
{
    char *r = delivery_received("he(lo)\r\n", "[127.0.0.1]", "LMTPSA", "TLSv1.3 X", "a@b");
    CHECK(strncmp(r, "Received: from he?lo??? ([127.0.0.1])\r\n\tby ", 43) == 0);
    CHECK(strstr(r, " with LMTPSA (TLSv1.3 X)\r\n\tfor <a@b>;\r\n\t") != NULL);
    CHECK(r[strlen(r) - 1] == '\n');
    free(r);
    r = delivery_received(NULL, NULL, "local", NULL, NULL);
    CHECK(strstr(r, "for <") == NULL);
    free(r);
}

int main(void)
{
    if (delivery_harness_init("test-delivery", "mx.test") != 0)
        return 2;
    userdb_add("alice", "pw");
    userdb_add("carol", "pw");
    userdb_add("bob@example.com", "pw");
    RUN(test_parse_path);
    RUN(test_detail_mailbox);
    RUN(test_resolve);
    RUN(test_spool_basic);
    RUN(test_spool_8bit);
    RUN(test_spool_limits);
    RUN(test_spool_add_msgid);
    RUN(test_deliver_shared);
    RUN(test_deliver_detail);
    RUN(test_received);
    delivery_harness_done();
    return unit_done();
}
