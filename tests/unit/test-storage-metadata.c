/* test-storage-metadata.c - METADATA annotations in stores (storage.h
 * "metadata"): entry-name syntax (RFC 5464 3.2), get with DEPTH 0, 1 and
 * infinity, set/remove all or nothing, the value and entry limits, the
 * owner of /private entries, entries following RENAME, dropped with
 * DELETE, copied by RENAME INBOX, a reader's entries following its
 * account rename and going with its delete, special-use set with them. */
#include "unit.h"
#include "store-harness.h"
#include "storage.h"
#include "config.h"
#include "log.h"

static void set_config(const char *max_size, const char *max_entries)
{
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "config_load: %s\n", err);
        exit(1);
    }
    bool ok = config_set(c, "metadata_max_value_size", max_size, err, sizeof(err)) &&
              config_set(c, "metadata_max_entries", max_entries, err, sizeof(err));
    if (!ok) {
        fprintf(stderr, "config_set: %s\n", err);
        exit(1);
    }
    config_install(c);
}

static struct mail_user *open_user(const char *name)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open(name, true, &u), 0);
    return u;
}

/* "name=value;" for each entry got (NIL never comes from storage). */
static int collect(const char *name, const void *value, size_t len, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 1024 - n, "%s=%.*s;", name, (int)len, (const char *)value);
    return 0;
}

static const char *get(struct mail_user *u, const char *mbox, const char *reader, const char *entry, int depth)
{
    static char buf[1024];
    buf[0] = '\0';
    int r = metadata_get(u, mbox, reader, entry, depth, collect, buf);
    if (r < 0)
        snprintf(buf, sizeof(buf), "error %d", r);
    return buf;
}

static int set1(struct mail_user *u, const char *mbox, const char *reader, const char *entry, const char *value)
{
    struct metadata_change c = {entry, value, value ? strlen(value) : 0};
    return metadata_set(u, mbox, reader, &c, 1, -1);
}

static bool valid(const char *e)
{
    return metadata_entry_valid(e, strlen(e), false);
}

static void test_names(void)
{
    CHECK(valid("/private/comment"));
    CHECK(valid("/shared/comment"));
    CHECK(valid("/SHARED/Comment"));
    CHECK(valid("/shared/a/b/c"));
    CHECK(valid("/shared/vendor/cmu/cyrus-imapd/color"));
    CHECK(valid("/private/vendorx"));
    CHECK(!valid("/shared/vendor/cmu"));            /* 4 components under vendor */
    CHECK(!valid("/shared/vendor"));
    CHECK(!valid("/comment"));
    CHECK(!valid("/privatex/comment"));
    CHECK(!valid("shared/comment"));
    CHECK(!valid("/shared"));
    CHECK(metadata_entry_valid("/shared", 7, true));  /* as a DEPTH base */
    CHECK(metadata_entry_valid("/shared/vendor/cmu", 18, true));
    CHECK(!valid("/shared/"));
    CHECK(!valid("/shared//comment"));
    CHECK(!valid("/shared/comment/"));
    CHECK(!valid("/shared/a*b"));
    CHECK(!valid("/shared/a%b"));
    CHECK(!valid("/shared/a\x19"));
    CHECK(!valid("/shared/a\x7f"));
    CHECK(!valid("/shared/caf\xc3\xa9"));
    CHECK(!metadata_entry_valid("/shared/a\0b", 10, false));
    char longname[METADATA_MAX_ENTRY_NAME + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    memcpy(longname, "/shared/", 8);
    CHECK(!valid(longname));
    longname[METADATA_MAX_ENTRY_NAME] = '\0';
    CHECK(valid(longname));
    CHECK(metadata_entry_private("/private/x"));
    CHECK(!metadata_entry_private("/shared/x"));
}

static void test_get_set(void)
{
    set_config("1024", "10");
    struct mail_user *u = open_user("alice");
    CHECK_INT(mailbox_create(u, "box", 0), 0);
    CHECK_INT(set1(u, "box", "alice", "/shared/comment", "s"), 0);
    CHECK_INT(set1(u, "box", "alice", "/private/comment", "p"), 0);
    CHECK_INT(set1(u, "box", "bob", "/private/comment", "bp"), 0);
    CHECK_STR(get(u, "box", "alice", "/shared/comment", 0), "/shared/comment=s;");
    CHECK_STR(get(u, "box", "alice", "/private/comment", 0), "/private/comment=p;");
    CHECK_STR(get(u, "box", "bob", "/private/comment", 0), "/private/comment=bp;");
    CHECK_STR(get(u, "box", NULL, "/private/comment", 0), "");
    /* the owner's own private entries are kept as '~' */
    CHECK_INT(raw_int("alice", "SELECT count(*) FROM metadata WHERE owner='~'"), 1);
    CHECK_INT(raw_int("alice", "SELECT count(*) FROM metadata WHERE owner='bob'"), 1);
    /* upper case names are the caller's to fold */
    CHECK_INT(set1(u, "box", "alice", "/shared/Comment", "x"), STORAGE_ERR_INVALID);
    CHECK_INT(set1(u, "box", NULL, "/private/comment", "x"), STORAGE_ERR_INVALID);
    CHECK_INT(set1(u, "nosuch", "alice", "/shared/comment", "x"), STORAGE_ERR_NOTFOUND);
    CHECK_STR(get(u, "nosuch", "alice", "/shared/comment", 0), "error -1");
    /* depth */
    CHECK_INT(set1(u, "box", "alice", "/private/f/v/small", "1"), 0);
    CHECK_INT(set1(u, "box", "alice", "/private/f/v/boss", "2"), 0);
    CHECK_INT(set1(u, "box", "alice", "/private/f/v/boss/deep", "3"), 0);
    CHECK_INT(set1(u, "box", "alice", "/private/f/vx", "4"), 0);
    CHECK_STR(get(u, "box", "alice", "/private/f/v", 0), "");
    CHECK_STR(get(u, "box", "alice", "/private/f/v", 1), "/private/f/v/boss=2;/private/f/v/small=1;");
    CHECK_STR(get(u, "box", "alice", "/private/f/v", -1),
              "/private/f/v/boss=2;/private/f/v/boss/deep=3;/private/f/v/small=1;");
    CHECK_STR(get(u, "box", "alice", "/private/f", 1), "/private/f/vx=4;");
    /* server entries are apart from the mailbox's */
    CHECK_INT(set1(u, NULL, "alice", "/private/comment", "server"), 0);
    CHECK_STR(get(u, NULL, "alice", "/private", -1), "/private/comment=server;");
    /* remove */
    CHECK_INT(set1(u, "box", "alice", "/private/f/vx", NULL), 0);
    CHECK_STR(get(u, "box", "alice", "/private/f", 1), "");
    /* a value with NUL is kept whole */
    struct metadata_change bin = {"/shared/bin", "a\0b", 3};
    CHECK_INT(metadata_set(u, "box", NULL, &bin, 1, -1), 0);
    CHECK_INT(raw_int("alice", "SELECT length(value) FROM metadata WHERE name='/shared/bin'"), 3);
    CHECK_INT(set1(u, "box", NULL, "/shared/bin", NULL), 0);
    mail_user_close(u);
}

static void test_limits(void)
{
    set_config("1024", "10");
    struct mail_user *u = open_user("lim");
    CHECK_INT(mailbox_create(u, "box", 0), 0);
    char big[1026];
    memset(big, 'x', sizeof(big) - 1);
    big[1025] = '\0';
    CHECK_INT(set1(u, "box", NULL, "/shared/comment", big), STORAGE_ERR_MAXSIZE);
    big[1024] = '\0';
    CHECK_INT(set1(u, "box", NULL, "/shared/comment", big), 0);
    /* 10 shared entries per store: the 11th is refused, all or nothing */
    char name[32];
    for (int i = 1; i < 10; i++) {
        snprintf(name, sizeof(name), "/shared/n%d", i);
        CHECK_INT(set1(u, i % 2 ? "box" : NULL, NULL, name, "v"), 0);
    }
    struct metadata_change two[2] = {{"/shared/comment", "new", 3}, {"/shared/n10", "v", 1}};
    CHECK_INT(metadata_set(u, "box", NULL, two, 2, -1), STORAGE_ERR_LIMIT);
    CHECK_INT(raw_int("lim", "SELECT length(value) FROM metadata WHERE name='/shared/comment'"), 1024);
    /* replacing at the limit works; private entries count apart */
    CHECK_INT(metadata_set(u, "box", NULL, two, 1, -1), 0);
    CHECK_INT(set1(u, "box", "lim", "/private/comment", "mine"), 0);
    /* a lowered limit still lets entries be replaced and removed */
    set_config("1024", "10");
    CHECK_INT(set1(u, "box", NULL, "/shared/n1", NULL), 0);
    CHECK_INT(set1(u, "box", NULL, "/shared/n1", "back"), 0);
    mail_user_close(u);
}

static void test_mailbox_ops(void)
{
    set_config("1024", "100");
    struct mail_user *u = open_user("ops");
    CHECK_INT(mailbox_create(u, "a", 0), 0);
    CHECK_INT(mailbox_create(u, "a/b", 0), 0);
    CHECK_INT(set1(u, "a", NULL, "/shared/comment", "A"), 0);
    CHECK_INT(set1(u, "a/b", NULL, "/shared/comment", "B"), 0);
    CHECK_INT(set1(u, "INBOX", "ops", "/private/comment", "in"), 0);
    CHECK_INT(mailbox_rename(u, "a", "z"), 0);
    CHECK_STR(get(u, "z", NULL, "/shared/comment", 0), "/shared/comment=A;");
    CHECK_STR(get(u, "z/b", NULL, "/shared/comment", 0), "/shared/comment=B;");
    CHECK_INT(mailbox_delete(u, "z/b"), 0);
    CHECK_INT(mailbox_create(u, "z/b", 0), 0);
    CHECK_STR(get(u, "z/b", NULL, "/shared/comment", 0), "");
    CHECK_INT(mailbox_rename(u, "INBOX", "old"), 0);
    CHECK_STR(get(u, "INBOX", "ops", "/private/comment", 0), "/private/comment=in;");
    CHECK_STR(get(u, "old", "ops", "/private/comment", 0), "/private/comment=in;");
    /* special-use goes with the entries' transaction */
    struct metadata_change c = {"/private/comment", "drafts", 6};
    CHECK_INT(metadata_set(u, "old", "ops", &c, 1, SPECIAL_DRAFTS), 0);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "old", &info), 0);
    CHECK_INT(info.special_use, SPECIAL_DRAFTS);
    CHECK_INT(metadata_set(u, NULL, "ops", &c, 1, SPECIAL_DRAFTS), STORAGE_ERR_INVALID);
    /* a reader's entries follow its account, and go with it */
    CHECK_INT(set1(u, "old", "carol", "/private/comment", "c"), 0);
    CHECK_INT(mail_user_rename_reader(u, "carol", "carol2"), 0);
    CHECK_STR(get(u, "old", "carol2", "/private/comment", 0), "/private/comment=c;");
    CHECK_STR(get(u, "old", "carol", "/private/comment", 0), "");
    CHECK_INT(mail_user_rename_reader(u, "carol2", NULL), 0);
    CHECK_STR(get(u, "old", "carol2", "/private/comment", 0), "");
    /* the owner's own are not a reader's */
    CHECK_STR(get(u, "old", "ops", "/private/comment", 0), "/private/comment=drafts;");
    mail_user_close(u);
}

int main(void)
{
    if (store_harness_init("test-storage-metadata") != 0)
        return 2;
    RUN(test_names);
    RUN(test_get_set);
    RUN(test_limits);
    RUN(test_mailbox_ops);
    storage_shutdown();
    return unit_done();
}
