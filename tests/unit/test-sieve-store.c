/* test-sieve-store.c - Sieve scripts in users' stores (storage.h "Sieve
 * scripts"): names (RFC 5804 1.6), put/get/list, the active script,
 * delete/rename outcomes, limits, quota, the compiled form, and scripts
 * following the account (rename, partition move, delete) and the schema
 * upgrade. */
#include "unit.h"
#include "store-harness.h"
#include "storage.h"
#include "config.h"
#include "log.h"

#include <sys/stat.h>

static char g_p2[300];

/* The configuration: defaults plus the given Sieve limits (NULL: default)
 * and partition p2. */
static void set_config(const char *maxsize_kb, const char *maxscripts)
{
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "config_load: %s\n", err);
        exit(1);
    }
    bool ok = config_set(c, "partition-p2", g_p2, err, sizeof(err));
    if (ok && maxsize_kb)
        ok = config_set(c, "sieve_maxscriptsize", maxsize_kb, err, sizeof(err));
    if (ok && maxscripts)
        ok = config_set(c, "sieve_maxscripts", maxscripts, err, sizeof(err));
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

static int putn(struct mail_user *u, const char *name, const char *src, size_t len)
{
    struct sieve_store_put p = {.source = src, .source_len = len};
    return sieve_store_put(u, name, &p);
}

static int put(struct mail_user *u, const char *name, const char *src)
{
    return putn(u, name, src, strlen(src));
}

/* The source of script name ("" and NOTFOUND counted as a failure by the caller). */
static char *source_of(struct mail_user *u, const char *name)
{
    struct sieve_store_script s;
    if (sieve_store_get(u, name, false, &s) != 0)
        return xstrdup("(none)");
    char *r = s.source;
    s.source = NULL;
    sieve_store_free(&s);
    return r;
}

/* The names, in list order, each followed by '*' when active, joined by ' '. */
struct names {
    char buf[2048];
};
static int names_cb(const struct sieve_store_info *i, void *arg)
{
    struct names *n = arg;
    size_t l = strlen(n->buf);
    snprintf(n->buf + l, sizeof(n->buf) - l, "%s%s%s", l ? " " : "", i->name, i->active ? "*" : "");
    return 0;
}
static const char *names(struct mail_user *u)
{
    static struct names n;
    n.buf[0] = '\0';
    CHECK_INT(sieve_store_list(u, names_cb, &n), 0);
    return n.buf;
}

static int64_t user_usage(struct mail_user *u)
{
    struct quota_root q;
    CHECK_INT(quota_get(u, "", &q), 0);
    return q.storage_used;
}

static void test_names(void)
{
    CHECK(sieve_store_name_valid("vacation"));
    CHECK(sieve_store_name_valid("with space and \"quotes\""));
    CHECK(sieve_store_name_valid("R\xc3\xa8gles"));                 /* è */
    CHECK(sieve_store_name_valid("\xf0\x9f\x93\xac"));              /* U+1F4EC */
    CHECK(sieve_store_name_valid("a/b\\c.sieve"));                  /* no path meaning */
    CHECK(!sieve_store_name_valid(""));
    CHECK(!sieve_store_name_valid(NULL));
    CHECK(!sieve_store_name_valid("tab\there"));
    CHECK(!sieve_store_name_valid("nl\n"));
    CHECK(!sieve_store_name_valid("del\x7f"));
    CHECK(!sieve_store_name_valid("c1\xc2\x85"));                   /* U+0085 NEL */
    CHECK(!sieve_store_name_valid("c1\xc2\x9f"));                   /* U+009F */
    CHECK(sieve_store_name_valid("nbsp\xc2\xa0"));                  /* U+00A0 is fine */
    CHECK(!sieve_store_name_valid("ls\xe2\x80\xa8"));               /* U+2028 */
    CHECK(!sieve_store_name_valid("ps\xe2\x80\xa9"));               /* U+2029 */
    CHECK(!sieve_store_name_valid("overlong\xc0\xaf"));
    CHECK(!sieve_store_name_valid("overlong\xe0\x80\xaf"));
    CHECK(!sieve_store_name_valid("surrogate\xed\xa0\x80"));
    CHECK(!sieve_store_name_valid("above\xf4\x90\x80\x80"));        /* > U+10FFFF */
    CHECK(!sieve_store_name_valid("cut\xe2\x80"));
    CHECK(!sieve_store_name_valid("latin1\xe9t\xe9"));
    /* RFC 5804 1.6: 128 characters of up to 4 bytes must be accepted;
     * one byte more is refused, not truncated. */
    char longname[SIEVE_STORE_NAME_MAX + 2];
    for (int i = 0; i < 128; i++)
        memcpy(longname + 4 * i, "\xf0\x9f\x93\xac", 4);
    longname[512] = '\0';
    CHECK(sieve_store_name_valid(longname));
    memset(longname, 'a', SIEVE_STORE_NAME_MAX + 1);
    longname[SIEVE_STORE_NAME_MAX + 1] = '\0';
    CHECK(!sieve_store_name_valid(longname));
    longname[SIEVE_STORE_NAME_MAX] = '\0';
    CHECK(sieve_store_name_valid(longname));

    struct mail_user *u = open_user("names");
    CHECK_INT(put(u, "", "keep;"), STORAGE_ERR_INVALID);
    CHECK_INT(put(u, "bad\x01", "keep;"), STORAGE_ERR_INVALID);
    CHECK_INT(put(u, longname, "keep;"), 0);
    longname[SIEVE_STORE_NAME_MAX] = 'a';
    CHECK_INT(put(u, longname, "keep;"), STORAGE_ERR_INVALID);
    struct sieve_store_script s;
    CHECK_INT(sieve_store_get(u, "bad\x01", false, &s), STORAGE_ERR_INVALID);
    CHECK_INT(sieve_store_delete(u, "bad\x01"), STORAGE_ERR_INVALID);
    CHECK_INT(sieve_store_activate(u, "bad\x01"), STORAGE_ERR_INVALID);
    CHECK_INT(sieve_store_rename(u, "x", "bad\x01"), STORAGE_ERR_INVALID);
    CHECK_INT(sieve_store_havespace(u, "bad\x01", 1), STORAGE_ERR_INVALID);
    mail_user_close(u);
}

static void test_put_get_list(void)
{
    struct mail_user *u = open_user("alice");
    CHECK_STR(names(u), "");
    CHECK_INT(put(u, "work", "require \"fileinto\";\r\nfileinto \"Work\";\r\n"), 0);
    CHECK_INT(put(u, "R\xc3\xa8gles", "keep;"), 0);
    /* opaque bytes, NULs included, are kept exactly */
    struct sieve_store_put bin = {.source = "a\0b\xff", .source_len = 4};
    CHECK_INT(sieve_store_put(u, "binary", &bin), 0);
    CHECK_INT(put(u, "empty", ""), 0);
    CHECK_STR(names(u), "R\xc3\xa8gles binary empty work");   /* octet order */

    struct sieve_store_script s;
    CHECK_INT(sieve_store_get(u, "binary", true, &s), 0);
    CHECK_INT(s.source_len, 4);
    CHECK(memcmp(s.source, "a\0b\xff", 4) == 0 && s.source[4] == '\0');
    CHECK(s.compiled == NULL);
    CHECK_INT(s.info.size, 4);
    CHECK(!s.info.active);
    CHECK_INT(s.info.compiled_version, 0);
    CHECK(s.info.mtime >= time(NULL) - 60 && s.info.mtime <= time(NULL) + 1);
    int64_t gen = s.info.generation;
    sieve_store_free(&s);
    CHECK_INT(sieve_store_get(u, "empty", false, &s), 0);
    CHECK_INT(s.source_len, 0);
    CHECK_STR(s.source, "");
    sieve_store_free(&s);
    CHECK_INT(sieve_store_get(u, "nope", false, &s), STORAGE_ERR_NOTFOUND);
    CHECK_INT(sieve_store_get(u, NULL, false, &s), STORAGE_ERR_NOTFOUND);   /* none active */

    /* replacing: new source and generation, same count */
    CHECK_INT(put(u, "binary", "discard;"), 0);
    CHECK_INT(sieve_store_get(u, "binary", false, &s), 0);
    CHECK_STR(s.source, "discard;");
    CHECK(s.info.generation > gen);
    sieve_store_free(&s);
    CHECK_STR(names(u), "R\xc3\xa8gles binary empty work");
    mail_user_close(u);
}

static int stop_first(const struct sieve_store_info *i, void *arg)
{
    (void)i;
    (*(int *)arg)++;
    return 1;
}

static void test_list_stop(void)
{
    struct mail_user *u = open_user("alice");
    int n = 0;
    CHECK_INT(sieve_store_list(u, stop_first, &n), 0);
    CHECK_INT(n, 1);
    mail_user_close(u);
}

static void test_active(void)
{
    struct mail_user *u = open_user("act");
    CHECK_INT(put(u, "a", "keep;"), 0);
    CHECK_INT(put(u, "b", "discard;"), 0);
    CHECK_INT(sieve_store_activate(u, NULL), 0);       /* none active: fine */
    CHECK_INT(sieve_store_activate(u, "a"), 0);
    CHECK_STR(names(u), "a* b");
    CHECK_INT(sieve_store_activate(u, "b"), 0);
    CHECK_STR(names(u), "a b*");
    struct sieve_store_script s;
    CHECK_INT(sieve_store_get(u, NULL, false, &s), 0);
    CHECK_STR(s.info.name, "b");
    CHECK_STR(s.source, "discard;");
    CHECK(s.info.active);
    sieve_store_free(&s);
    /* a failed activation leaves the active script as it was */
    CHECK_INT(sieve_store_activate(u, "zzz"), STORAGE_ERR_NOTFOUND);
    CHECK_STR(names(u), "a b*");
    /* replacing the active script keeps it active */
    CHECK_INT(put(u, "b", "stop;"), 0);
    CHECK_STR(names(u), "a b*");
    /* put with activate moves the flag in the same transaction */
    struct sieve_store_put p = {.source = "keep;", .source_len = 5, .activate = true};
    CHECK_INT(sieve_store_put(u, "c", &p), 0);
    CHECK_STR(names(u), "a b c*");
    /* the schema allows no second active row, whatever a caller does */
    {
        sqlite3 *h = raw_db("act");
        CHECK(sqlite3_exec(h, "UPDATE sieve_script SET active=1 WHERE name='a'", NULL, NULL, NULL) ==
              SQLITE_CONSTRAINT);
        sqlite3_close(h);
    }
    /* stat: the same information without the source */
    struct sieve_store_info si;
    CHECK_INT(sieve_store_stat(u, NULL, &si), 0);
    CHECK_STR(si.name, "c");
    CHECK(si.active);
    CHECK_INT(si.size, 5);
    CHECK_INT(sieve_store_get(u, "c", false, &s), 0);
    CHECK_INT(si.generation, s.info.generation);
    CHECK_INT(si.mtime, s.info.mtime);
    sieve_store_free(&s);
    CHECK_INT(sieve_store_stat(u, "a", &si), 0);
    CHECK(!si.active);
    CHECK_STR(si.name, "a");
    CHECK_INT(sieve_store_stat(u, "zzz", &si), STORAGE_ERR_NOTFOUND);
    CHECK_INT(sieve_store_stat(u, "bad\x01", &si), STORAGE_ERR_INVALID);
    CHECK_INT(sieve_store_activate(u, ""), 0);         /* SETACTIVE "" */
    CHECK_STR(names(u), "a b c");
    CHECK_INT(sieve_store_get(u, NULL, false, &s), STORAGE_ERR_NOTFOUND);
    CHECK_INT(sieve_store_stat(u, NULL, &si), STORAGE_ERR_NOTFOUND);
    mail_user_close(u);
}

static void test_delete_rename(void)
{
    struct mail_user *u = open_user("dr");
    CHECK_INT(put(u, "a", "keep;"), 0);
    CHECK_INT(put(u, "b", "discard;"), 0);
    CHECK_INT(sieve_store_activate(u, "a"), 0);
    /* RFC 5804 2.10: the active script cannot be deleted */
    CHECK_INT(sieve_store_delete(u, "a"), STORAGE_ERR_ACTIVE);
    CHECK_INT(sieve_store_delete(u, "nope"), STORAGE_ERR_NOTFOUND);
    CHECK_STR(names(u), "a* b");
    /* RFC 5804 2.11 */
    CHECK_INT(sieve_store_rename(u, "nope", "x"), STORAGE_ERR_NOTFOUND);
    CHECK_INT(sieve_store_rename(u, "a", "b"), STORAGE_ERR_EXISTS);
    CHECK_INT(sieve_store_rename(u, "a", "a"), STORAGE_ERR_EXISTS);
    CHECK_STR(names(u), "a* b");
    struct sieve_store_script s;
    CHECK_INT(sieve_store_get(u, "a", false, &s), 0);
    int64_t gen = s.info.generation, mtime = s.info.mtime;
    sieve_store_free(&s);
    CHECK_INT(sieve_store_rename(u, "a", "Z renamed"), 0);   /* active: stays active */
    CHECK_STR(names(u), "Z renamed* b");
    CHECK_INT(sieve_store_get(u, NULL, false, &s), 0);
    CHECK_STR(s.info.name, "Z renamed");
    CHECK_STR(s.source, "keep;");
    CHECK_INT(s.info.generation, gen);
    CHECK_INT(s.info.mtime, mtime);
    sieve_store_free(&s);
    CHECK_INT(sieve_store_delete(u, "b"), 0);
    CHECK_INT(sieve_store_delete(u, "b"), STORAGE_ERR_NOTFOUND);
    CHECK_INT(sieve_store_activate(u, NULL), 0);
    CHECK_INT(sieve_store_delete(u, "Z renamed"), 0);
    CHECK_STR(names(u), "");
    mail_user_close(u);
}

static void test_compiled(void)
{
    struct mail_user *u = open_user("comp");
    struct sieve_store_put p = {.source = "keep;", .source_len = 5, .compiled = "\x01\x02\x00\x03", .compiled_len = 4,
                          .compiled_version = 7};
    CHECK_INT(sieve_store_put(u, "s", &p), 0);
    struct sieve_store_script s;
    CHECK_INT(sieve_store_get(u, "s", true, &s), 0);
    CHECK_INT(s.compiled_len, 4);
    CHECK(s.compiled && memcmp(s.compiled, "\x01\x02\x00\x03", 4) == 0);
    CHECK_INT(s.info.compiled_version, 7);
    CHECK_INT(s.info.compiled_size, 4);
    int64_t gen = s.info.generation;
    sieve_store_free(&s);
    CHECK_INT(sieve_store_get(u, "s", false, &s), 0);   /* not loaded unless asked for */
    CHECK(s.compiled == NULL);
    CHECK_INT(s.info.compiled_version, 7);
    sieve_store_free(&s);

    /* a compiled form needs a version, and no version without a form */
    struct sieve_store_put bad = {.source = "keep;", .source_len = 5, .compiled = "x", .compiled_len = 1};
    CHECK_INT(sieve_store_put(u, "s", &bad), STORAGE_ERR_INVALID);
    struct sieve_store_put bad2 = {.source = "keep;", .source_len = 5, .compiled_len = 3, .compiled_version = 1};
    CHECK_INT(sieve_store_put(u, "s", &bad2), STORAGE_ERR_INVALID);

    /* recompiled (a new format version) for the current generation */
    CHECK_INT(sieve_store_set_compiled(u, "s", gen, "new", 3, 8), 0);
    CHECK_INT(sieve_store_get(u, "s", true, &s), 0);
    CHECK_INT(s.info.compiled_version, 8);
    CHECK(s.compiled && s.compiled_len == 3 && memcmp(s.compiled, "new", 3) == 0);
    CHECK_INT(s.info.generation, gen);
    sieve_store_free(&s);
    /* a put replaces the compiled form too: none given, none kept */
    CHECK_INT(put(u, "s", "discard;"), 0);
    CHECK_INT(sieve_store_get(u, "s", true, &s), 0);
    CHECK(s.compiled == NULL);
    CHECK_INT(s.info.compiled_version, 0);
    sieve_store_free(&s);
    /* a form compiled from the old source is refused */
    CHECK_INT(sieve_store_set_compiled(u, "s", gen, "old", 3, 8), STORAGE_ERR_MODIFIED);
    CHECK_INT(sieve_store_set_compiled(u, "gone", gen, "old", 3, 8), STORAGE_ERR_NOTFOUND);
    CHECK_INT(sieve_store_set_compiled(u, "s", gen, "old", 3, 0), STORAGE_ERR_INVALID);
    CHECK_INT(sieve_store_get(u, "s", true, &s), 0);
    CHECK(s.compiled == NULL);
    sieve_store_free(&s);
    mail_user_close(u);
}

static void test_limits(void)
{
    set_config("1", "2");   /* 1 KiB, 2 scripts */
    struct mail_user *u = open_user("lim");
    char big[1026];
    memset(big, 'x', sizeof(big) - 1);
    big[1025] = '\0';
    CHECK_INT(put(u, "big", big), STORAGE_ERR_MAXSIZE);
    CHECK_INT(sieve_store_havespace(u, "big", 1025), STORAGE_ERR_MAXSIZE);
    CHECK_INT(sieve_store_havespace(u, "big", 1024), 0);
    big[1024] = '\0';
    CHECK_INT(put(u, "big", big), 0);                    /* exactly the limit */
    CHECK_INT(put(u, "two", "keep;"), 0);
    CHECK_INT(sieve_store_havespace(u, "three", 10), STORAGE_ERR_MAXSCRIPTS);
    CHECK_INT(put(u, "three", "keep;"), STORAGE_ERR_MAXSCRIPTS);
    CHECK_INT(sieve_store_havespace(u, "two", 10), 0);   /* replacing is no new script */
    CHECK_INT(put(u, "two", "discard;"), 0);
    CHECK_STR(names(u), "big two");
    /* renaming does not add a script */
    CHECK_INT(sieve_store_rename(u, "two", "three"), 0);
    CHECK_INT(sieve_store_delete(u, "big"), 0);
    CHECK_INT(put(u, "four", "keep;"), 0);
    CHECK_STR(names(u), "four three");
    mail_user_close(u);
    set_config(NULL, NULL);
    u = open_user("lim");
    CHECK_INT(sieve_store_havespace(u, "five", 32 * 1024), 0);    /* defaults: 32 KiB, 5 */
    CHECK_INT(sieve_store_havespace(u, "five", 32 * 1024 + 1), STORAGE_ERR_MAXSIZE);
    mail_user_close(u);
}

static void test_quota(void)
{
    struct mail_user *u = open_user("quo");
    CHECK_INT(user_usage(u), 0);
    CHECK_INT(put(u, "a", "0123456789"), 0);
    CHECK_INT(user_usage(u), 10);
    CHECK_INT(put(u, "a", "01234"), 0);                  /* replace: the difference */
    CHECK_INT(user_usage(u), 5);
    CHECK_INT(put(u, "b", "abc"), 0);
    CHECK_INT(user_usage(u), 8);
    /* a mailbox rename resyncs usage from the counters: scripts stay counted */
    CHECK_INT(mailbox_create(u, "Old", 0), 0);
    CHECK_INT(mailbox_rename(u, "Old", "New"), 0);
    CHECK_INT(user_usage(u), 8);
    CHECK_INT(quota_recalc(u, false, NULL, NULL), 0);     /* no drift */

    /* limit 1 KiB: 1016 bytes left */
    CHECK_INT(quota_set(u, "", 1, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    char buf[1100];
    memset(buf, 'y', sizeof(buf));
    CHECK_INT(sieve_store_havespace(u, "c", 1016), 0);
    CHECK_INT(sieve_store_havespace(u, "c", 1017), STORAGE_ERR_OVERQUOTA);
    CHECK_INT(sieve_store_havespace(u, "a", 1021), 0);   /* replaces a's 5 bytes */
    CHECK_INT(sieve_store_havespace(u, "a", 1022), STORAGE_ERR_OVERQUOTA);
    CHECK_INT(putn(u, "c", buf, 1017), STORAGE_ERR_OVERQUOTA);   /* nothing stored */
    CHECK_STR(names(u), "a b");
    CHECK_INT(user_usage(u), 8);
    CHECK_INT(putn(u, "a", buf, 1022), STORAGE_ERR_OVERQUOTA);   /* the old version stays */
    char *src = source_of(u, "a");
    CHECK_STR(src, "01234");
    free(src);
    CHECK_INT(putn(u, "c", buf, 1016), 0);                        /* exactly full */
    CHECK_INT(user_usage(u), 1024);
    /* over the limit (lowered): shrinking, deleting, renaming still work */
    CHECK_INT(quota_set(u, "", 0, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    CHECK_INT(put(u, "b", "abcd"), STORAGE_ERR_OVERQUOTA);   /* growth */
    CHECK_INT(put(u, "a", "0"), 0);
    CHECK_INT(sieve_store_rename(u, "a", "aa"), 0);
    CHECK_INT(sieve_store_delete(u, "c"), 0);
    CHECK_INT(user_usage(u), 1 + 3);
    CHECK_INT(quota_recalc(u, false, NULL, NULL), 0);
    /* recalc notices (and repairs) drift of the scripts' share */
    raw_exec("quo", "UPDATE quotaroot SET storage_used=storage_used+100 WHERE name=''");
    CHECK_INT(quota_recalc(u, true, NULL, NULL), 1);
    CHECK_INT(user_usage(u), 4);
    CHECK_INT(quota_remove(u, ""), 0);
    mail_user_close(u);
}

static void count_problem(const char *problem, void *arg)
{
    (void)problem;
    (*(int *)arg)++;
}

/* mail_user_check compares the stored sizes with the sources (quota
 * usage adds up the sizes) and repairs them with the usage. */
static void test_check(void)
{
    struct mail_user *u = open_user("chk");
    CHECK_INT(put(u, "s", "0123456789"), 0);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    raw_exec("chk", "UPDATE sieve_script SET size=3; UPDATE quotaroot SET storage_used=3 WHERE name=''");
    int n = 0;
    CHECK_INT(mail_user_check(u, false, count_problem, &n), 1);
    CHECK_INT(n, 1);
    CHECK_INT(mail_user_check(u, true, NULL, NULL), 1);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    struct sieve_store_info si;
    CHECK_INT(sieve_store_stat(u, "s", &si), 0);
    CHECK_INT(si.size, 10);
    CHECK_INT(user_usage(u), 10);
    mail_user_close(u);
}

/* Scripts live in the store: they follow a rename and a partition move
 * and go with the store. */
static void test_follow_account(void)
{
    struct mail_user *u = open_user("mover");
    CHECK_INT(put(u, "vac", "vacation \"away\";"), 0);
    CHECK_INT(put(u, "other", "keep;"), 0);
    CHECK_INT(sieve_store_activate(u, "vac"), 0);
    mail_user_close(u);

    CHECK_INT(mail_user_rename_store("mover", "moved"), 0);
    u = open_user("moved");
    CHECK_STR(names(u), "other vac*");
    char *src = source_of(u, NULL);
    CHECK_STR(src, "vacation \"away\";");
    free(src);
    CHECK_INT(user_usage(u), 16 + 5);
    mail_user_close(u);
    struct mail_user *old = NULL;
    CHECK_INT(mail_user_open("mover", false, &old), STORAGE_ERR_NOTFOUND);

    CHECK_INT(mail_user_move_partition("moved", "p2"), 0);
    char part[64];
    CHECK_INT(mail_user_partition("moved", part, sizeof(part)), 0);
    CHECK_STR(part, "p2");
    u = open_user("moved");
    CHECK_STR(names(u), "other vac*");
    CHECK_INT(put(u, "third", "stop;"), 0);
    mail_user_close(u);
    CHECK_INT(mail_user_move_partition("moved", "default"), 0);
    u = open_user("moved");
    CHECK_STR(names(u), "other third vac*");
    mail_user_close(u);

    CHECK_INT(mail_user_delete_store("moved"), 0);
    u = open_user("moved");   /* a new account of the same name starts empty */
    CHECK_STR(names(u), "");
    struct sieve_store_script s;
    CHECK_INT(sieve_store_get(u, NULL, false, &s), STORAGE_ERR_NOTFOUND);
    CHECK_INT(user_usage(u), 0);
    mail_user_close(u);
}

/* A store of schema 7 (before scripts) is upgraded on open. */
static void test_upgrade(void)
{
    struct mail_user *u = open_user("old7");
    CHECK_INT(mailbox_create(u, "Keep", 0), 0);
    mail_user_close(u);
    raw_exec("old7", "DROP TABLE preview; DROP TABLE urlauth_key; DROP TABLE thread_msgid; DROP TABLE sortkeys; DROP TRIGGER metadata_mailbox_gone; "
                     "DROP TABLE metadata; DROP TABLE sieve_script; UPDATE schema_version SET version=7;");
    CHECK_INT(raw_int("old7", "SELECT count(*) FROM sqlite_master WHERE name='sieve_script'"), 0);
    u = open_user("old7");
    CHECK_INT(raw_int("old7", "SELECT version FROM schema_version"), STORE_SCHEMA_VERSION);
    CHECK_STR(names(u), "");
    CHECK_INT(put(u, "new", "keep;"), 0);
    CHECK_INT(sieve_store_activate(u, "new"), 0);
    CHECK_STR(names(u), "new*");
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "Keep", &info), 0);
    mail_user_close(u);
}

int main(void)
{
    if (store_harness_init("test-sieve-store") != 0)
        return 2;
    snprintf(g_p2, sizeof(g_p2), "%s/p2", g_dir);
    mkdir(g_p2, 0700);
    set_config(NULL, NULL);
    RUN(test_names);
    RUN(test_put_get_list);
    RUN(test_list_stop);
    RUN(test_active);
    RUN(test_delete_rename);
    RUN(test_compiled);
    RUN(test_limits);
    RUN(test_quota);
    RUN(test_check);
    RUN(test_follow_account);
    RUN(test_upgrade);
    storage_shutdown();
    return unit_done();
}
