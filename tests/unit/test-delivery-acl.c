/* test-delivery-acl.c - delivery under the multi-user store: virtual
 * domain recipients, the p right on +detail folders (anyone / the
 * authenticated poster / the owner), createonpost ACLs, postuser shared
 * mailboxes, lmtp_address_map (parsing, re-read on change, bounds), the
 * admin-form targets of `deliver -m`, RCPT-time quota checks and account
 * provisioning on first delivery. */
#include "unit.h"
#include "delivery-harness.h"
#include "access.h"

#include <unistd.h>

static struct dspool *make_spool(const char *text)
{
    struct dspool_opts o = {0};
    struct dspool *s = dspool_new(&o);
    CHECK(s != NULL);
    dspool_write(s, text, strlen(text));
    CHECK_INT(dspool_finish(s), DSPOOL_OK);
    return s;
}

/* Messages in store/mailbox; -1 when it does not exist. */
static int count(const char *store, const char *mailbox)
{
    struct mail_user *u;
    if (mail_user_open(store, false, &u) != 0)
        return -1;
    struct mailbox_info *info = calloc(1, sizeof(*info));
    int r = mailbox_status(u, mailbox, info);
    int n = r == 0 ? (int)info->messages : -1;
    free(info);
    mail_user_close(u);
    return n;
}

static void set_acl(const char *store, const char *mailbox, const char *acl)
{
    struct mail_user *u;
    CHECK_INT(mail_user_open(store, true, &u), 0);
    int r = mailbox_status(u, mailbox, &(struct mailbox_info){0});
    if (r == STORAGE_ERR_NOTFOUND)
        CHECK_INT(mailbox_create_acl(u, mailbox, 0, acl), 0);
    else
        CHECK_INT(mailbox_set_acl(u, mailbox, acl), 0);
    mail_user_close(u);
}

static void test_virtdomains(void)
{
    struct delivery_rcpt r;
    set("virtdomains", "yes");
    set("defaultdomain", "example.org");
    CHECK_INT(delivery_resolve("dave@example.org", &r), RCPT_OK);
    CHECK_STR(r.user, "dave");
    CHECK_STR(r.store, "dave");
    CHECK_STR(r.domain, "");
    CHECK_INT(delivery_resolve("dave@EXAMPLE.Org", &r), RCPT_OK);
    CHECK_STR(r.user, "dave");
    CHECK_INT(delivery_resolve("dave", &r), RCPT_OK);
    CHECK_STR(r.user, "dave");
    CHECK_INT(delivery_resolve("dave+Lists@other.test", &r), RCPT_OK);
    CHECK_STR(r.user, "dave@other.test");
    CHECK_STR(r.store, "dave@other.test");
    CHECK_STR(r.domain, "other.test");
    CHECK_STR(r.mailbox, "Lists");
    /* a local part never carries a domain: not through the default
     * domain, not quoted, not escaped, not inside the detail */
    CHECK_INT(delivery_resolve("\"dave@other.test\"@example.org", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("dave@other.test@example.org", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("\"dave+x@other.test\"@example.org", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("\"dave@other.test\"", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("dave\\@other.test@example.org", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("\"dave\\@other.test\"@example.org", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("\"dave\"@other.test", &r), RCPT_OK); /* quoting alone is fine */
    CHECK_STR(r.user, "dave@other.test");
    /* no fallback to the local part across domains */
    CHECK_INT(delivery_resolve("dave@third.test", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("erin@other.test", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("dave@bad..domain", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("dave@[127.0.0.1]", &r), RCPT_NOUSER);
    set("lmtp_downcase_rcpt", "no");
    CHECK_INT(delivery_resolve("dave@Other.TEST", &r), RCPT_OK); /* domains are case-insensitive */
    CHECK_INT(delivery_resolve("Dave@other.test", &r), RCPT_NOUSER);
    set("lmtp_downcase_rcpt", "yes");
    set("virtdomains", "no");
    set("defaultdomain", "");
    /* without virtdomains: the domain is ignored when "x@dom" is no user */
    CHECK_INT(delivery_resolve("dave@third.test", &r), RCPT_OK);
    CHECK_STR(r.user, "dave");
}

static void test_postuser_resolve(void)
{
    struct delivery_rcpt r;
    set("postuser", "bb");
    CHECK_INT(delivery_resolve("bb+news", &r), RCPT_OK);
    CHECK(r.exact);
    CHECK_STR(r.store, "%shared");
    CHECK_STR(r.user, "");
    CHECK_STR(r.mailbox, "news");
    CHECK_INT(delivery_resolve("BB+news/sub@x.test", &r), RCPT_OK);
    CHECK_STR(r.mailbox, "news/sub");
    CHECK_INT(delivery_resolve("bb", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("bb+", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("bb+a//b", &r), RCPT_NOUSER);
    CHECK_INT(delivery_resolve("bb+INBOX", &r), RCPT_NOUSER);
    set("unixhierarchysep", "no");
    CHECK_INT(delivery_resolve("bb+news.sub", &r), RCPT_OK);
    CHECK_STR(r.mailbox, "news/sub");
    set("unixhierarchysep", "yes");
    set("virtdomains", "yes");
    set("defaultdomain", "example.org");
    CHECK_INT(delivery_resolve("bb+news@Other.test", &r), RCPT_OK);
    CHECK_STR(r.store, "%shared@other.test");
    CHECK_STR(r.domain, "other.test");
    CHECK_INT(delivery_resolve("bb+news@example.org", &r), RCPT_OK);
    CHECK_STR(r.store, "%shared");
    set("virtdomains", "no");
    set("defaultdomain", "");
    set("postuser", "");
    CHECK_INT(delivery_resolve("bb+news", &r), RCPT_NOUSER);
    /* a detail naming another namespace is not a personal folder */
    CHECK_INT(delivery_resolve("alice+Other Users/carol", &r), RCPT_OK);
    CHECK_STR(r.mailbox, "INBOX");
    CHECK(!r.has_detail);
}

static void test_target(void)
{
    struct delivery_rcpt r;
    CHECK_INT(delivery_target("Shared Folders/news/x", "", &r), RCPT_OK);
    CHECK_STR(r.store, "%shared");
    CHECK_STR(r.mailbox, "news/x");
    CHECK(r.exact);
    CHECK_INT(delivery_target("user/alice", "", &r), RCPT_OK);
    CHECK_STR(r.store, "alice");
    CHECK_STR(r.mailbox, "INBOX");
    CHECK_INT(delivery_target("user/alice/Lists", "", &r), RCPT_OK);
    CHECK_STR(r.mailbox, "Lists");
    CHECK(r.exact && r.has_detail);
    CHECK_INT(delivery_target("Other Users/alice/Lists", "", &r), RCPT_OK);
    CHECK_STR(r.user, "alice");
    CHECK_INT(delivery_target("user/nobody/x", "", &r), RCPT_NOUSER);
    CHECK_INT(delivery_target("Shared Folders", "", &r), RCPT_NOUSER);
    CHECK_INT(delivery_target("Shared Folders/", "", &r), RCPT_NOUSER);
    CHECK_INT(delivery_target("user/", "", &r), RCPT_NOUSER);
    CHECK_INT(delivery_target("news", "", &r), RCPT_NOUSER);
    CHECK_INT(delivery_target("user/alice/a//b", "", &r), RCPT_NOUSER);
    CHECK_INT(delivery_target("user/../etc", "", &r), RCPT_NOUSER);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_map(void)
{
    char path[1024], target[1024];
    snprintf(path, sizeof(path), "%s/addrmap", g_dir);
    set("lmtp_address_map", path);
    CHECK_INT(delivery_map_lookup("news@example.com", target, sizeof(target)), 0); /* no file yet */
    write_file(path, "# comment\n\n news@Example.com   Shared Folders/news  \n"
                     "lists@example.com\tuser/alice/Lists\nbroken-line-without-target\n"
                     "inbox@example.com user/alice\nghost@example.com user/nobody/x\n");
    CHECK_INT(delivery_map_lookup("NEWS@example.com", target, sizeof(target)), 1);
    CHECK_STR(target, "Shared Folders/news");
    CHECK_INT(delivery_map_lookup("lists@example.com", target, sizeof(target)), 1);
    CHECK_STR(target, "user/alice/Lists");
    CHECK_INT(delivery_map_lookup("broken-line-without-target", target, sizeof(target)), 0);
    CHECK_INT(delivery_map_lookup("other@example.com", target, sizeof(target)), 0);
    struct delivery_rcpt r;
    CHECK_INT(delivery_resolve("news@example.com", &r), RCPT_OK);
    CHECK(r.exact);
    CHECK_STR(r.store, "%shared");
    CHECK_STR(r.mailbox, "news");
    CHECK_INT(delivery_resolve("inbox@example.com", &r), RCPT_OK);
    CHECK_STR(r.store, "alice");
    CHECK_STR(r.mailbox, "INBOX");
    CHECK_INT(delivery_resolve("ghost@example.com", &r), RCPT_NOUSER);
    /* re-read on change (a different size is enough even within one mtime tick) */
    write_file(path, "news@example.com user/carol/News\n");
    CHECK_INT(delivery_map_lookup("news@example.com", target, sizeof(target)), 1);
    CHECK_STR(target, "user/carol/News");
    CHECK_INT(delivery_map_lookup("lists@example.com", target, sizeof(target)), 0);
    /* a line over the limit is skipped, the rest is used */
    char *big = malloc(10000);
    memset(big, 'a', 9000);
    strcpy(big + 9000, " x\nok@example.com user/alice\n");
    write_file(path, big);
    free(big);
    CHECK_INT(delivery_map_lookup("ok@example.com", target, sizeof(target)), 1);
    /* over the size bound: the map is not used (temporary failure) */
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        CHECK(ftruncate(fileno(f), DELIVERY_MAP_MAX_BYTES + 1) == 0);
        fclose(f);
    }
    CHECK_INT(delivery_map_lookup("ok@example.com", target, sizeof(target)), -1);
    CHECK_INT(delivery_resolve("ok@example.com", &r), RCPT_TEMPFAIL);
    unlink(path);
    CHECK_INT(delivery_map_lookup("ok@example.com", target, sizeof(target)), 0);
    set("lmtp_address_map", "");
    delivery_map_free();
}

static void test_post_right(void)
{
    struct dspool *s = make_spool("Subject: p\r\n\r\nbody\r\n");
    struct delivery_rcpt r;
    struct deliver_opts o = {0};
    set_acl("alice", "Lists", "alice\tlrswipkxtean\t");
    int inbox0 = count("alice", "INBOX");
    CHECK_INT(delivery_resolve("alice+Lists", &r), RCPT_OK);
    /* owner-only ACL: anyone may not post -> INBOX, silently */
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists"), 0);
    CHECK_INT(count("alice", "INBOX"), inbox0 + 1);
    /* the owner as authenticated poster may */
    o.poster = "alice";
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists"), 1);
    /* another poster only with its own entry */
    o.poster = "carol";
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists"), 1);
    set_acl("alice", "Lists", "alice\tlrswipkxtean\tcarol\tp\t");
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists"), 2);
    o.poster = NULL;
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists"), 2);
    /* "anyone p": unauthenticated posters too */
    set_acl("alice", "Lists", "alice\tlrswipkxtean\tanyone\tp\t");
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists"), 3);
    /* a negative entry removes it again */
    set_acl("alice", "Lists", "alice\tlrswipkxtean\tanyone\tp\t-anyone\tp\t");
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists"), 3);
    CHECK_INT(count("alice", "INBOX"), inbox0 + 4);
    /* "anonymous" entries are for anonymous IMAP, not for posters */
    set_acl("alice", "Lists", "alice\tlrswipkxtean\tanonymous\tp\t");
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists"), 3);
    dspool_free(s);
}

static void test_createonpost(void)
{
    struct dspool *s = make_spool("Subject: c\r\n\r\nbody\r\n");
    struct delivery_rcpt r;
    struct deliver_opts o = {0};
    set("createonpost", "yes");
    CHECK_INT(delivery_resolve("alice+Fresh", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    CHECK_INT(count("alice", "Fresh"), -1); /* RCPT time does not create */
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Fresh"), 1);
    struct mail_user *u;
    char *acl = calloc(1, STORAGE_MAX_ACL + 1);
    CHECK_INT(mail_user_open("alice", false, &u), 0);
    CHECK_INT(mailbox_get_acl(u, "Fresh", acl), 0);
    CHECK_STR(acl, "alice\tlrswipkxtean\t");
    mail_user_close(u);
    /* a child of an existing folder needs k there for the poster (IMAP
     * CREATE's rule): p alone is not enough, an admin poster gets no k
     * from being one; without k the message goes to INBOX */
    set_acl("alice", "Lists", "alice\tlrswipkxtean\tanyone\tlrp\tcarol\tlr\t");
    int inbox = count("alice", "INBOX");
    CHECK_INT(delivery_resolve("alice+Lists/new", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists/new"), -1);
    CHECK_INT(count("alice", "INBOX"), inbox + 1);
    /* also below a missing level: the nearest existing ancestor decides */
    CHECK_INT(delivery_resolve("alice+Lists/x/y", &r), RCPT_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists/x/y"), -1);
    CHECK_INT(count("alice", "INBOX"), inbox + 2);
    /* a child copies its parent's ACL */
    set_acl("alice", "Lists", "alice\tlrswipkxtean\tanyone\tlrkp\t");
    CHECK_INT(delivery_resolve("alice+Lists/new", &r), RCPT_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Lists/new"), 1);
    CHECK_INT(mail_user_open("alice", false, &u), 0);
    CHECK_INT(mailbox_get_acl(u, "Lists/new", acl), 0);
    CHECK_STR(acl, "alice\tlrswipkxtean\tanyone\tlrkp\t");
    mail_user_close(u);
    free(acl);
    /* INBOX's children: INBOX is the parent (no k for anyone there) */
    CHECK_INT(delivery_resolve("alice+INBOX/sub", &r), RCPT_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "INBOX/sub"), -1);
    /* names IMAP CREATE refuses are never created: INBOX, as Cyrus */
    static const char *const bad[] = {"..", ".", "../../x", "a/../b", "x/./y", "a/.", "../x", "x/..", "a//b"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "alice+%s", bad[i]);
        CHECK_INT(delivery_resolve(addr, &r), RCPT_OK);
        CHECK_STR(r.mailbox, "INBOX");
        CHECK(!r.has_detail);
    }
    /* 64 levels are a valid name, 65 are not (IMAP's limit) */
    char deep[200];
    size_t dl = 0;
    for (int i = 0; i < 65; i++)
        dl += (size_t)snprintf(deep + dl, sizeof(deep) - dl, "%sd", i ? "/" : "");
    char addr[256];
    snprintf(addr, sizeof(addr), "alice+%s", deep);
    CHECK_INT(delivery_resolve(addr, &r), RCPT_OK);
    CHECK_STR(r.mailbox, "INBOX");
    deep[dl - 2] = '\0';
    snprintf(addr, sizeof(addr), "alice+%s", deep);
    CHECK_INT(delivery_resolve(addr, &r), RCPT_OK);
    CHECK_STR(r.mailbox, deep);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", deep), 1);
    /* the '.' separator: a '/' is no part of a name there */
    set("unixhierarchysep", "no");
    CHECK_INT(delivery_resolve("alice+a/b", &r), RCPT_OK);
    CHECK_STR(r.mailbox, "INBOX");
    CHECK_INT(delivery_resolve("alice+a/../b", &r), RCPT_OK);
    CHECK_STR(r.mailbox, "INBOX");
    CHECK_INT(delivery_resolve("alice+a.b", &r), RCPT_OK);
    CHECK_STR(r.mailbox, "a/b");
    set("unixhierarchysep", "yes");
    /* an existing folder without p is not "created": INBOX */
    set_acl("alice", "Closed", "alice\tlrswipkxtean\t");
    CHECK_INT(delivery_resolve("alice+Closed", &r), RCPT_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("alice", "Closed"), 0);
    set("createonpost", "no");
    dspool_free(s);
}

static void test_shared(void)
{
    struct dspool *s = make_spool("Subject: s\r\nMessage-ID: <sh1@x>\r\n\r\nbody\r\n");
    struct delivery_rcpt r;
    struct deliver_opts o = {0};
    set("postuser", "bb");
    set_acl("%shared", "news", "anyone\tlrp\t");
    set_acl("%shared", "private", "carol\tlrswipkxtean\t");
    CHECK_INT(delivery_resolve("bb+news", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("%shared", "news"), 1);
    /* duplicate suppression keyed by the shared store */
    o.dupcheck = true;
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_DUPLICATE);
    o.dupcheck = false;
    CHECK_INT(count("%shared", "news"), 2);
    /* no p, missing: both unknown, never INBOX */
    CHECK_INT(delivery_resolve("bb+private", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_NOUSER);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_NOUSER);
    o.poster = "carol";
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("%shared", "private"), 1);
    o.poster = NULL;
    CHECK_INT(delivery_resolve("bb+missing", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_NOUSER);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_NOUSER);
    /* LMTP keeps the store open from RCPT to the end of the transaction
     * (delivery_check_hold); a refused recipient holds nothing */
    CHECK_INT(delivery_check_hold(&r, &o, 0), DELIVER_NOUSER);
    CHECK(r.hold == NULL);
    CHECK_INT(delivery_resolve("alice", &r), RCPT_OK);
    CHECK(r.hold == NULL);
    CHECK_INT(delivery_check_hold(&r, &o, 0), DELIVER_OK);
    CHECK(r.hold != NULL);
    CHECK_STR(mail_user_name(r.hold), "alice");
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    delivery_rcpt_release(&r);
    CHECK(r.hold == NULL);
    delivery_rcpt_release(&r);   /* twice is harmless */
    /* another domain's shared store that does not exist */
    set("virtdomains", "yes");
    CHECK_INT(delivery_resolve("bb+news@nowhere.test", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_NOUSER);
    set("virtdomains", "no");
    /* address map to a user's folder needs p too */
    CHECK_INT(delivery_target("user/alice/Closed", "", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_NOUSER);
    CHECK_INT(delivery_target("user/alice/Lists", "", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    CHECK_INT(delivery_target("user/alice", "", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    set("postuser", "");
    dspool_free(s);
}

static void test_rcpt_quota(void)
{
    struct dspool *s = make_spool("Subject: q\r\n\r\nbody\r\n");
    struct delivery_rcpt r;
    struct deliver_opts o = {0};
    CHECK_INT(delivery_resolve("carol", &r), RCPT_OK);
    struct mail_user *u;
    CHECK_INT(mail_user_open("carol", true, &u), 0);
    struct mailbox_info *info = calloc(1, sizeof(*info));
    CHECK_INT(mailbox_status(u, "INBOX", info), 0);
    int64_t msgs = info->messages;
    free(info);
    CHECK_INT(quota_set(u, "", QUOTA_UNLIMITED, msgs + 1, QUOTA_UNLIMITED), 0);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    /* at the limit now: refused at RCPT unless IGNOREQUOTA */
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OVERQUOTA);
    o.ignore_quota = true;
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    o.ignore_quota = false;
    /* storage: 1 KiB above the current usage */
    struct quota_root q;
    CHECK_INT(quota_get(u, "", &q), 0);
    int64_t kb = (q.storage_used + 1023) / 1024 + 1;
    CHECK_INT(quota_set(u, "", kb, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK);
    CHECK_INT(delivery_check(&r, &o, (uint64_t)kb * 1024), DELIVER_OVERQUOTA); /* SIZE= too big */
    /* after DATA, the message that would push it over */
    char *big = malloc(3000);
    memset(big, 'x', 2999);
    big[2999] = '\0';
    struct dspool *s2 = make_spool(big);
    free(big);
    CHECK_INT(delivery_deliver(s2, &r, &o), DELIVER_OVERQUOTA);
    dspool_free(s2);
    CHECK_INT(quota_remove(u, ""), 0);
    mail_user_close(u);
    dspool_free(s);
}

static void test_provision(void)
{
    struct dspool *s = make_spool("Subject: first\r\n\r\nbody\r\n");
    struct delivery_rcpt r;
    struct deliver_opts o = {0};
    CHECK_INT(userdb_add("frank", "pw"), AUTH_OK);
    CHECK_INT(delivery_resolve("frank", &r), RCPT_OK);
    CHECK_INT(count("frank", "INBOX"), -1);          /* no store yet */
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_OK); /* RCPT does not create */
    CHECK_INT(count("frank", "INBOX"), -1);
    CHECK_INT(delivery_deliver(s, &r, &o), DELIVER_OK);
    CHECK_INT(count("frank", "INBOX"), 1);
    /* a folder target of a user without a store yet */
    CHECK_INT(userdb_add("gina", "pw"), AUTH_OK);
    CHECK_INT(delivery_target("user/gina/Lists", "", &r), RCPT_OK);
    CHECK_INT(delivery_check(&r, &o, 0), DELIVER_NOUSER);
    dspool_free(s);
}

int main(void)
{
    if (delivery_harness_init("test-delivery-acl", "mx.test") != 0)
        return 2;
    userdb_add("alice", "pw");
    userdb_add("carol", "pw");
    userdb_add("dave", "pw");
    userdb_add("dave@other.test", "pw");
    RUN(test_virtdomains);
    RUN(test_postuser_resolve);
    RUN(test_target);
    RUN(test_map);
    RUN(test_post_right);
    RUN(test_createonpost);
    RUN(test_shared);
    RUN(test_rcpt_quota);
    RUN(test_provision);
    delivery_harness_done();
    return unit_done();
}
