/* test-storage.c - storage API on the SQLite backend. */
#include "unit.h"
#include "sortkey.h"
#include "store-harness.h"
#include "storage.h"
#include "notify.h"
#include "buf.h"
#include "log.h"
#include "mime.h"

#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static const char MSG1[] = "From: a@example.com\r\nTo: b@example.com\r\nSubject: hello\r\n"
                           "Message-ID: <1@example.com>\r\n\r\nbody line 1\r\nbody line 2\r\n";
static const char MSG2[] = "Subject: second\r\n\r\nxyz\r\n";

/* Turns a schema 5 database back into schema 4 (for the upgrade tests). */
#define SCHEMA5_UNDO STORE_UNDO_TO_5 "DROP TABLE seen; ALTER TABLE mailbox DROP COLUMN acl; ALTER TABLE mailbox DROP COLUMN sharedseen; "

static int append_mem(struct mailbox *mb, const char *data, uint32_t flags, const char *kw, uint32_t *uid)
{
    struct append_msg m = {data, -1, strlen(data), flags, kw, 0, 0, false, false};
    struct append_txn *t;
    int r = mailbox_append_begin(mb, &t);
    if (r < 0)
        return r;
    if ((r = mailbox_append_add(t, &m)) < 0) {
        mailbox_append_abort(t);
        return r;
    }
    uint32_t uv;
    return mailbox_append_commit(t, &uv, uid, 1);
}

static int g_nfiles;
static int count_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
    (void)p; (void)st; (void)f;
    if (type == FTW_F)
        g_nfiles++;
    return 0;
}
static int count_files(const char *sub)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", g_dir, sub);
    g_nfiles = 0;
    nftw(path, count_cb, 8, FTW_PHYS);
    return g_nfiles;
}

static bool file_exists_for(const char *guid)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/user/t/tester/msg/%c%c/%s", g_dir, guid[0], guid[1], guid);
    return access(path, F_OK) == 0;
}

struct uidlist { uint32_t v[64]; size_t n; };
static int collect_uid(uint32_t uid, void *arg)
{
    struct uidlist *l = arg;
    if (l->n < 64)
        l->v[l->n++] = uid;
    return 0;
}
static int collect_rec(const struct msg_record *r, void *arg)
{
    return collect_uid(r->uid, arg);
}

struct names { char v[16][64]; size_t n; };
static void collect_name(const struct mailbox_info *i, void *arg)
{
    struct names *l = arg;
    if (l->n < 16)
        snprintf(l->v[l->n++], 64, "%.63s", i->name);
}

static struct mail_user *open_user(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("tester", true, &u), 0);
    return u;
}

static void test_mailboxes(void)
{
    struct mail_user *u = open_user(), *u2 = NULL;
    CHECK_INT(mail_user_open("tester", false, &u2), 0);
    CHECK(u == u2);   /* shared handle */
    mail_user_close(u2);
    CHECK_INT(mail_user_open("nobody", false, &u2), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mail_user_open("../x", true, &u2), STORAGE_ERR_INVALID);

    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "INBOX", &info), 0);
    CHECK_INT(info.messages, 0);
    CHECK_INT(info.uidnext, 1);
    CHECK(info.uidvalidity > 0);
    CHECK(strlen(info.mailboxid) > 0);
    uint32_t inbox_uv = info.uidvalidity;

    CHECK_INT(mailbox_create(u, "a", 0), 0);
    CHECK_INT(mailbox_create(u, "a/b", 0), 0);
    CHECK_INT(mailbox_create(u, "c", SPECIAL_TRASH), 0);
    CHECK_INT(mailbox_create(u, "a", 0), STORAGE_ERR_EXISTS);
    CHECK_INT(mailbox_create(u, "", 0), STORAGE_ERR_INVALID);
    CHECK_INT(mailbox_create(u, "/x", 0), STORAGE_ERR_INVALID);
    CHECK_INT(mailbox_create(u, "x//y", 0), STORAGE_ERR_INVALID);
    CHECK_INT(mailbox_create(u, "bad\xff", 0), STORAGE_ERR_INVALID);
    CHECK_INT(mailbox_status(u, "c", &info), 0);
    CHECK_INT(info.special_use, SPECIAL_TRASH);
    CHECK(info.uidvalidity > inbox_uv);   /* strictly increasing per user */

    struct names l = {.n = 0};
    CHECK_INT(mailbox_list(u, collect_name, &l), 0);
    CHECK_INT(l.n, 4);
    if (l.n == 4) {
        CHECK_STR(l.v[0], "INBOX");
        CHECK_STR(l.v[1], "a");
        CHECK_STR(l.v[2], "a/b");
        CHECK_STR(l.v[3], "c");
    }

    /* hierarchical rename keeps UIDVALIDITY and MAILBOXID */
    struct mailbox_info before;
    CHECK_INT(mailbox_status(u, "a/b", &before), 0);
    CHECK_INT(mailbox_rename(u, "a", "d"), 0);
    CHECK_INT(mailbox_status(u, "a", &info), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_status(u, "a/b", &info), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_status(u, "d/b", &info), 0);
    CHECK_INT(info.uidvalidity, before.uidvalidity);
    CHECK_STR(info.mailboxid, before.mailboxid);
    CHECK_INT(mailbox_rename(u, "c", "d"), STORAGE_ERR_EXISTS);
    CHECK_INT(mailbox_rename(u, "d", "d/x"), STORAGE_ERR_INVALID);
    CHECK_INT(mailbox_rename(u, "nope", "zz"), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_rename(u, "c", "INBOX"), STORAGE_ERR_EXISTS);
    /* child conflict: d/b -> would clash with existing e/b */
    CHECK_INT(mailbox_create(u, "e/b", 0), 0);
    CHECK_INT(mailbox_rename(u, "d", "e"), STORAGE_ERR_EXISTS);
    CHECK_INT(mailbox_status(u, "d", &info), 0);   /* unchanged */
    CHECK_INT(mailbox_delete(u, "e/b"), 0);

    CHECK_INT(mailbox_delete(u, "INBOX"), STORAGE_ERR_NOPERM);
    CHECK_INT(mailbox_delete(u, "nope"), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_delete(u, "d"), 0);
    CHECK_INT(mailbox_status(u, "d/b", &info), 0);   /* children stay */

    /* INBOX rename: messages move, INBOX stays, new UIDVALIDITY */
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &mb), 0);
    uint32_t uid1 = 0, uid2 = 0;
    CHECK_INT(append_mem(mb, MSG1, 0, NULL, &uid1), 0);
    CHECK_INT(append_mem(mb, MSG2, MSG_SEEN, NULL, &uid2), 0);
    CHECK_INT(mailbox_rename(u, "INBOX", "old-inbox"), 0);
    CHECK_INT(mailbox_status(u, "INBOX", &info), 0);
    CHECK_INT(info.messages, 0);
    CHECK_INT(info.size, 0);
    CHECK_INT(info.uidvalidity, inbox_uv);
    struct mailbox_info oi;
    CHECK_INT(mailbox_status(u, "old-inbox", &oi), 0);
    CHECK_INT(oi.messages, 2);
    CHECK_INT(oi.unseen, 1);
    CHECK(oi.uidvalidity != inbox_uv);
    CHECK(oi.uidnext > uid2);
    struct uidlist vl = {.n = 0};
    CHECK_INT(mailbox_vanished_since(mb, 0, collect_uid, &vl), 0);
    CHECK_INT(vl.n, 2);
    uint32_t *uids; uint32_t n;
    CHECK_INT(mailbox_get_uids(mb, &uids, &n), 0);
    CHECK_INT(n, 0);
    free(uids);
    mailbox_close(mb);
    struct mailbox *ob;
    CHECK_INT(mailbox_open(u, "old-inbox", true, false, NULL, &ob), 0);
    struct msg_content c;
    CHECK_INT(mailbox_get_content(ob, uid1, &c), 0);
    CHECK_INT(c.len, strlen(MSG1));
    msg_content_release(&c);
    mailbox_close(ob);
    CHECK_INT(mailbox_delete(u, "old-inbox"), 0);
    CHECK_INT(count_files("user/t/tester/msg"), 0);

    /* subscriptions, including a non-existent name */
    CHECK_INT(mailbox_subscribe(u, "c", true), 0);
    CHECK_INT(mailbox_subscribe(u, "ghost", true), 0);
    CHECK_INT(mailbox_status(u, "c", &info), 0);
    CHECK(info.subscribed);
    CHECK_INT(mailbox_subscribe(u, "ghost", false), 0);
    CHECK_INT(mailbox_set_special_use(u, "c", SPECIAL_JUNK), 0);
    CHECK_INT(mailbox_set_special_use(u, "nope", SPECIAL_JUNK), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_delete(u, "c"), 0);
    CHECK_INT(mailbox_delete(u, "d/b"), 0);
    mail_user_close(u);
}

static void test_append_read(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "ar", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "ar", false, false, NULL, &mb), 0);
    uint32_t uid = 0;
    time_t now = time(NULL);
    CHECK_INT(append_mem(mb, MSG1, MSG_FLAGGED, "$Work Junk $work", &uid), 0);
    CHECK_INT(uid, 1);
    struct msg_record rec;
    CHECK_INT(mailbox_get_record(mb, uid, &rec), 0);
    CHECK_INT(rec.flags, MSG_FLAGGED);
    CHECK_STR(rec.keywords, "$Work Junk");
    CHECK_INT(rec.size, strlen(MSG1));
    CHECK(rec.internaldate >= now && rec.internaldate <= now + 5);
    CHECK_INT(strlen(rec.guid), 32);
    CHECK(rec.modseq > 0);
    CHECK_INT(mailbox_get_record(mb, 99, &rec), STORAGE_ERR_NOTFOUND);

    struct msg_content c;
    CHECK_INT(mailbox_get_content(mb, uid, &c), 0);
    CHECK(c.len == strlen(MSG1) && memcmp(c.data, MSG1, c.len) == 0);
    msg_content_release(&c);
    struct msg_cache mc;
    CHECK_INT(mailbox_get_cache(mb, uid, &mc), 0);
    CHECK(mc.envelope && mc.envelope[0] == '(');
    CHECK(mc.envelope && strstr(mc.envelope, "hello"));
    CHECK(mc.bodystructure && mc.bodystructure[0] == '(');
    CHECK(mc.body && mc.body[0] == '(');
    CHECK(mc.header_len == (size_t)(strstr(MSG1, "\r\n\r\n") - MSG1 + 4));
    CHECK(mc.header && strncmp(mc.header, MSG1, mc.header_len) == 0);
    msg_cache_free(&mc);
    CHECK_INT(mailbox_get_cache(mb, 42, &mc), STORAGE_ERR_NOTFOUND);

    char *kws;
    CHECK_INT(mailbox_get_keywords(mb, &kws), 0);
    CHECK_STR(kws, "$Work Junk");
    free(kws);

    /* bad keyword / flags */
    CHECK_INT(append_mem(mb, MSG2, 0, "bad(kw", &uid), STORAGE_ERR_INVALID);
    CHECK_INT(append_mem(mb, MSG2, 0, "\\Seen", &uid), STORAGE_ERR_INVALID);
    CHECK_INT(append_mem(mb, MSG2, 1u << 9, NULL, &uid), STORAGE_ERR_INVALID);

    /* fd source: unlinked O_TMPFILE in DATADIR/tmp (linked into place) */
    int fd = open(storage_tmpdir(), O_TMPFILE | O_RDWR, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, MSG2, strlen(MSG2)) == (ssize_t)strlen(MSG2));
        struct append_msg m = {NULL, fd, strlen(MSG2), MSG_SEEN, NULL, 1000000000, 60, false, false};
        uint32_t uv, u2 = 0;
        CHECK_INT(mailbox_append_by_name(u, "ar", &m, &uv, &u2), 0);
        CHECK_INT(u2, 2);
        CHECK_INT(uv, mailbox_get_info(mb)->uidvalidity);
        struct stat lst;
        CHECK(fstat(fd, &lst) == 0 && lst.st_nlink == 1);   /* linked, not copied */
        close(fd);
        CHECK_INT(mailbox_get_content(mb, u2, &c), 0);
        CHECK(c.len == strlen(MSG2) && memcmp(c.data, MSG2, c.len) == 0);
        msg_content_release(&c);
        CHECK_INT(mailbox_get_record(mb, u2, &rec), 0);
        CHECK_INT(rec.internaldate, 1000000000);
        CHECK_INT(rec.internaldate_tz, 60);
    }
    /* fd source: a named file (copied, never linked) */
    char path[512];
    snprintf(path, sizeof(path), "%s/named", g_dir);
    fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, MSG1, strlen(MSG1)) == (ssize_t)strlen(MSG1));
        struct append_msg m = {NULL, fd, strlen(MSG1), 0, NULL, 0, 0, false, false};
        uint32_t uv, u3 = 0;
        CHECK_INT(mailbox_append_by_name(u, "ar", &m, &uv, &u3), 0);
        CHECK_INT(u3, 3);
        /* a short source (len larger than the file) fails cleanly */
        m.len = 10000;
        log_set_level((enum log_level)(LOG_LVL_ERR + 1));   /* expected error */
        CHECK_INT(mailbox_append_by_name(u, "ar", &m, &uv, &u3), STORAGE_ERR_INVALID);
        log_set_level(LOG_LVL_ERR);
        close(fd);
        struct stat st;
        CHECK(stat(path, &st) == 0 && st.st_nlink == 1);
        CHECK_INT(mailbox_get_content(mb, 3, &c), 0);
        CHECK(c.len == strlen(MSG1) && memcmp(c.data, MSG1, c.len) == 0);
        msg_content_release(&c);
    }
    /* empty message */
    CHECK_INT(append_mem(mb, "", 0, NULL, &uid), 0);
    CHECK_INT(mailbox_get_content(mb, uid, &c), 0);
    CHECK_INT(c.len, 0);
    msg_content_release(&c);

    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "ar", &info), 0);
    CHECK_INT(info.messages, 4);
    CHECK_INT(info.unseen, 3);
    CHECK_INT(info.size, 2 * strlen(MSG1) + strlen(MSG2));
    CHECK_INT(info.uidnext, 5);
    CHECK_INT(count_files("tmp"), 0);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "ar"), 0);
    mail_user_close(u);
}

static void test_multiappend_abort(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "ma", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "ma", false, false, NULL, &mb), 0);
    int files0 = count_files("user/t/tester/msg");
    struct append_txn *t;
    CHECK_INT(mailbox_append_begin(mb, &t), 0);
    struct append_msg m1 = {MSG1, -1, strlen(MSG1), 0, NULL, 0, 0, false, false};
    struct append_msg m2 = {MSG2, -1, strlen(MSG2), 0, NULL, 0, 0, false, false};
    CHECK_INT(mailbox_append_add(t, &m1), 0);
    CHECK_INT(mailbox_append_add(t, &m2), 0);
    CHECK_INT(count_files("user/t/tester/msg"), files0 + 2);
    mailbox_append_abort(t);
    CHECK_INT(count_files("user/t/tester/msg"), files0);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "ma", &info), 0);
    CHECK_INT(info.messages, 0);
    CHECK_INT(info.uidnext, 1);

    /* a failing add poisons the transaction: commit fails, nothing stays */
    CHECK_INT(mailbox_append_begin(mb, &t), 0);
    CHECK_INT(mailbox_append_add(t, &m1), 0);
    struct append_msg bad = {MSG2, -1, strlen(MSG2), 0, "a]b", 0, 0, false, false};
    CHECK_INT(mailbox_append_add(t, &bad), STORAGE_ERR_INVALID);
    uint32_t uv, uids[2];
    CHECK(mailbox_append_commit(t, &uv, uids, 2) < 0);
    CHECK_INT(count_files("user/t/tester/msg"), files0);
    CHECK_INT(mailbox_status(u, "ma", &info), 0);
    CHECK_INT(info.messages, 0);

    /* successful multiappend: consecutive UIDs, one commit */
    CHECK_INT(mailbox_append_begin(mb, &t), 0);
    CHECK_INT(mailbox_append_add(t, &m1), 0);
    CHECK_INT(mailbox_append_add(t, &m2), 0);
    CHECK_INT(mailbox_append_commit(t, &uv, uids, 2), 0);
    CHECK_INT(uids[0], 1);
    CHECK_INT(uids[1], 2);
    CHECK_INT(mailbox_status(u, "ma", &info), 0);
    CHECK_INT(info.messages, 2);

    /* the mailbox is deleted between add and commit: nothing stays */
    CHECK_INT(mailbox_create(u, "ma2", 0), 0);
    struct mailbox *mb2;
    CHECK_INT(mailbox_open(u, "ma2", false, false, NULL, &mb2), 0);
    CHECK_INT(mailbox_append_begin(mb2, &t), 0);
    CHECK_INT(mailbox_append_add(t, &m1), 0);
    CHECK_INT(mailbox_delete(u, "ma2"), 0);
    CHECK_INT(mailbox_append_commit(t, &uv, uids, 2), STORAGE_ERR_NOTFOUND);
    CHECK_INT(count_files("user/t/tester/msg"), files0 + 2);   /* only the two of "ma" */
    mailbox_close(mb2);

    /* read-only mailbox refuses appends */
    struct mailbox *ro;
    CHECK_INT(mailbox_open(u, "ma", true, false, NULL, &ro), 0);
    CHECK_INT(mailbox_append_begin(ro, &t), STORAGE_ERR_NOPERM);
    mailbox_close(ro);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "ma"), 0);
    mail_user_close(u);
}

static int g_failed[16], g_nfailed;
static int failed_cb(uint32_t uid, void *arg)
{
    (void)arg;
    if (g_nfailed < 16)
        g_failed[g_nfailed++] = (int)uid;
    return 0;
}

static void test_store(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "st", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "st", false, false, NULL, &mb), 0);
    uint32_t uid;
    for (int i = 0; i < 3; i++)
        CHECK_INT(append_mem(mb, MSG1, 0, NULL, &uid), 0);
    uint32_t all[] = {1, 2, 3, 77};
    struct store_req req = {STORE_ADD, MSG_SEEN, "$A", 0};
    struct uidlist ch = {.n = 0};
    CHECK_INT(mailbox_store(mb, all, 4, &req, collect_rec, &ch, failed_cb, NULL), 0);
    CHECK_INT(ch.n, 3);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "st", &info), 0);
    CHECK_INT(info.unseen, 0);
    uint64_t ms = info.highestmodseq;
    struct msg_record rec;
    CHECK_INT(mailbox_get_record(mb, 2, &rec), 0);
    CHECK_INT(rec.flags, MSG_SEEN);
    CHECK_STR(rec.keywords, "$A");
    CHECK_INT(rec.modseq, ms);

    /* no-op store: nothing reported, no modseq bump */
    ch.n = 0;
    CHECK_INT(mailbox_store(mb, all, 3, &req, collect_rec, &ch, failed_cb, NULL), 0);
    CHECK_INT(ch.n, 0);
    CHECK_INT(mailbox_status(u, "st", &info), 0);
    CHECK_INT(info.highestmodseq, ms);

    /* replace */
    struct store_req rep = {STORE_REPLACE, MSG_DELETED | MSG_FLAGGED, "$B $c", 0};
    uint32_t one[] = {1};
    CHECK_INT(mailbox_store(mb, one, 1, &rep, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_get_record(mb, 1, &rec), 0);
    CHECK_INT(rec.flags, MSG_DELETED | MSG_FLAGGED);
    CHECK_STR(rec.keywords, "$B $c");
    CHECK_INT(mailbox_status(u, "st", &info), 0);
    CHECK_INT(info.unseen, 1);
    CHECK_INT(info.deleted, 1);
    /* remove (case-insensitive keyword match) */
    struct store_req rem = {STORE_REMOVE, MSG_FLAGGED, "$b", 0};
    CHECK_INT(mailbox_store(mb, one, 1, &rem, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_get_record(mb, 1, &rec), 0);
    CHECK_INT(rec.flags, MSG_DELETED);
    CHECK_STR(rec.keywords, "$c");
    uint64_t ms1 = rec.modseq;

    /* UNCHANGEDSINCE: uid 1 changed after ms, uids 2,3 not */
    struct store_req cond = {STORE_ADD, MSG_ANSWERED, NULL, ms};
    ch.n = 0;
    g_nfailed = 0;
    CHECK_INT(mailbox_store(mb, all, 3, &cond, collect_rec, &ch, failed_cb, NULL), 0);
    CHECK_INT(g_nfailed, 1);
    CHECK_INT(g_failed[0], 1);
    CHECK_INT(ch.n, 2);
    CHECK_INT(mailbox_get_record(mb, 1, &rec), 0);
    CHECK_INT(rec.flags, MSG_DELETED);
    CHECK_INT(rec.modseq, ms1);

    /* sync since ms: uids 1..3 all changed after ms */
    ch.n = 0;
    CHECK_INT(mailbox_sync(mb, ms, collect_rec, &ch, NULL, NULL), 0);
    CHECK_INT(ch.n, 3);
    CHECK_INT(mailbox_get_info(mb)->highestmodseq, mailbox_get_info(mb)->highestmodseq);
    ch.n = 0;
    CHECK_INT(mailbox_sync(mb, mailbox_get_info(mb)->highestmodseq, collect_rec, &ch, NULL, NULL), 0);
    CHECK_INT(ch.n, 0);

    char *kws;
    CHECK_INT(mailbox_get_keywords(mb, &kws), 0);
    CHECK_STR(kws, "$A $B $c");
    free(kws);
    struct store_req badkw = {STORE_ADD, 0, "a%b", 0};
    CHECK_INT(mailbox_store(mb, one, 1, &badkw, NULL, NULL, NULL, NULL), STORAGE_ERR_INVALID);

    /* keyword limit per mailbox */
    int r = 0;
    for (int i = 0; i < STORAGE_MAX_KEYWORDS_PER_MAILBOX + 1 && r == 0; i++) {
        char kw[32];
        snprintf(kw, sizeof(kw), "k%d", i);
        struct store_req k = {STORE_ADD, 0, kw, 0};
        r = mailbox_store(mb, one, 1, &k, NULL, NULL, NULL, NULL);
    }
    CHECK_INT(r, STORAGE_ERR_LIMIT);

    /* read-only refuses */
    struct mailbox *ro;
    CHECK_INT(mailbox_open(u, "st", true, false, NULL, &ro), 0);
    CHECK_INT(mailbox_store(ro, one, 1, &req, NULL, NULL, NULL, NULL), STORAGE_ERR_NOPERM);
    mailbox_close(ro);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "st"), 0);
    mail_user_close(u);
}

static void test_expunge_vanished(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "ex", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "ex", false, false, NULL, &mb), 0);
    uint32_t uid;
    for (int i = 0; i < 4; i++)
        CHECK_INT(append_mem(mb, MSG2, i == 0 ? MSG_SEEN : 0, NULL, &uid), 0);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "ex", &info), 0);
    uint64_t ms0 = info.highestmodseq;
    struct store_req del = {STORE_ADD, MSG_DELETED, NULL, 0};
    uint32_t d[] = {2, 4};
    CHECK_INT(mailbox_store(mb, d, 2, &del, NULL, NULL, NULL, NULL), 0);
    /* expunge of a specific non-deleted UID does nothing */
    uint32_t notdel[] = {1};
    struct uidlist gone = {.n = 0};
    CHECK_INT(mailbox_expunge(mb, notdel, 1, collect_uid, &gone), 0);
    CHECK_INT(gone.n, 0);
    CHECK_INT(mailbox_expunge(mb, NULL, 0, collect_uid, &gone), 0);
    CHECK_INT(gone.n, 2);
    CHECK_INT(gone.v[0], 2);
    CHECK_INT(gone.v[1], 4);   /* highest UID included */
    CHECK_INT(mailbox_status(u, "ex", &info), 0);
    CHECK_INT(info.messages, 2);
    CHECK_INT(info.deleted, 0);
    CHECK_INT(info.unseen, 1);
    CHECK_INT(info.size, 2 * strlen(MSG2));
    CHECK_INT(info.uidnext, 5);

    struct uidlist v = {.n = 0};
    CHECK_INT(mailbox_vanished_since(mb, ms0, collect_uid, &v), 0);
    CHECK_INT(v.n, 2);
    v.n = 0;
    CHECK_INT(mailbox_vanished_since(mb, info.highestmodseq, collect_uid, &v), 0);
    CHECK_INT(v.n, 0);
    CHECK_INT(mailbox_expunge_horizon(mb), 0);

    struct uidlist ch = {.n = 0}, ex = {.n = 0};
    CHECK_INT(mailbox_sync(mb, ms0, collect_rec, &ch, collect_uid, &ex), 0);
    CHECK_INT(ch.n, 0);   /* the changed ones are gone */
    CHECK_INT(ex.n, 2);
    CHECK_INT(mailbox_get_info(mb)->messages, 2);

    /* empty the mailbox: all UIDs remembered */
    struct store_req del2 = {STORE_ADD, MSG_DELETED, NULL, 0};
    uint32_t rest[] = {1, 3};
    CHECK_INT(mailbox_store(mb, rest, 2, &del2, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_expunge(mb, rest, 2, NULL, NULL), 0);
    v.n = 0;
    CHECK_INT(mailbox_vanished_since(mb, 0, collect_uid, &v), 0);
    CHECK_INT(v.n, 4);
    if (v.n == 4)
        CHECK(v.v[0] == 1 && v.v[1] == 2 && v.v[2] == 3 && v.v[3] == 4);
    uint32_t *uids, n;
    CHECK_INT(mailbox_get_uids(mb, &uids, &n), 0);
    CHECK_INT(n, 0);
    free(uids);
    CHECK_INT(mailbox_status(u, "ex", &info), 0);
    CHECK_INT(info.messages, 0);
    CHECK_INT(info.size, 0);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "ex"), 0);
    mail_user_close(u);
}

static void test_copy_move(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "src", 0), 0);
    CHECK_INT(mailbox_create(u, "dst", 0), 0);
    struct mailbox *s, *dmb;
    CHECK_INT(mailbox_open(u, "src", false, false, NULL, &s), 0);
    uint32_t uid;
    CHECK_INT(append_mem(s, MSG1, MSG_FLAGGED, "$X", &uid), 0);
    CHECK_INT(append_mem(s, MSG2, 0, NULL, &uid), 0);
    int files = count_files("user/t/tester/msg");
    uint32_t want[] = {1, 2, 9};
    uint32_t su[3], du[3], uv;
    size_t nc = 0;
    CHECK_INT(mailbox_copy(s, want, 3, "dst", false, &uv, su, du, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 2);
    CHECK(su[0] == 1 && su[1] == 2 && du[0] == 1 && du[1] == 2);
    CHECK_INT(count_files("user/t/tester/msg"), files);   /* shared, not copied */
    CHECK_INT(mailbox_copy(s, want, 1, "nope", false, &uv, su, du, &nc, NULL, NULL), STORAGE_ERR_NOTFOUND);

    CHECK_INT(mailbox_open(u, "dst", false, false, NULL, &dmb), 0);
    CHECK_INT(uv, mailbox_get_info(dmb)->uidvalidity);
    struct msg_record r1, r2;
    CHECK_INT(mailbox_get_record(s, 1, &r1), 0);
    char guid[33];
    memcpy(guid, r1.guid, 33);
    CHECK_INT(mailbox_get_record(dmb, 1, &r2), 0);
    CHECK_STR(r2.guid, guid);
    CHECK_INT(r2.flags, MSG_FLAGGED);
    CHECK_STR(r2.keywords, "$X");
    struct msg_cache mc;
    CHECK_INT(mailbox_get_cache(dmb, 1, &mc), 0);
    msg_cache_free(&mc);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "dst", &info), 0);
    CHECK_INT(info.messages, 2);
    CHECK_INT(info.size, strlen(MSG1) + strlen(MSG2));

    /* expunge from source: the shared file must stay */
    struct store_req del = {STORE_ADD, MSG_DELETED, NULL, 0};
    uint32_t one[] = {1};
    CHECK_INT(mailbox_store(s, one, 1, &del, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_expunge(s, one, 1, NULL, NULL), 0);
    CHECK(file_exists_for(guid));
    struct msg_content c;
    CHECK_INT(mailbox_get_content(dmb, 1, &c), 0);
    CHECK_INT(c.len, strlen(MSG1));
    msg_content_release(&c);
    /* last reference: file goes */
    CHECK_INT(mailbox_store(dmb, one, 1, &del, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_expunge(dmb, one, 1, NULL, NULL), 0);
    CHECK(!file_exists_for(guid));

    /* move: source loses, destination gains, one transaction */
    uint32_t two[] = {2};
    struct uidlist ex = {.n = 0};
    CHECK_INT(mailbox_get_record(s, 2, &r1), 0);
    memcpy(guid, r1.guid, 33);
    CHECK_INT(mailbox_copy(s, two, 1, "dst", true, &uv, su, du, &nc, collect_uid, &ex), 0);
    CHECK_INT(nc, 1);
    CHECK_INT(du[0], 3);
    CHECK_INT(ex.n, 1);
    CHECK_INT(ex.v[0], 2);
    CHECK_INT(mailbox_status(u, "src", &info), 0);
    CHECK_INT(info.messages, 0);
    CHECK_INT(info.size, 0);
    CHECK_INT(mailbox_status(u, "dst", &info), 0);
    CHECK_INT(info.messages, 2);
    CHECK(file_exists_for(guid));
    struct uidlist v = {.n = 0};
    CHECK_INT(mailbox_vanished_since(s, 0, collect_uid, &v), 0);
    CHECK_INT(v.n, 2);
    /* deleting the destination drops the last references */
    mailbox_close(dmb);
    CHECK_INT(mailbox_delete(u, "dst"), 0);
    CHECK(!file_exists_for(guid));
    mailbox_close(s);
    CHECK_INT(mailbox_delete(u, "src"), 0);
    CHECK_INT(count_files("user/t/tester/msg"), 0);
    mail_user_close(u);
}

static void test_recent(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "rc", 0), 0);
    struct mailbox *mb;
    uint32_t floor = 99, uid;
    CHECK_INT(mailbox_open(u, "rc", false, false, &floor, &mb), 0);
    CHECK_INT(floor, 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(append_mem(mb, MSG2, 0, NULL, &uid), 0);
    mailbox_close(mb);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "rc", &info), 0);
    CHECK_INT(info.recent, 3);
    /* EXAMINE does not claim */
    CHECK_INT(mailbox_open(u, "rc", true, true, &floor, &mb), 0);
    CHECK_INT(floor, 0);
    mailbox_close(mb);
    CHECK_INT(mailbox_open(u, "rc", false, true, &floor, &mb), 0);
    CHECK_INT(floor, 0);   /* this session sees UIDs > 0 as recent */
    mailbox_close(mb);
    CHECK_INT(mailbox_status(u, "rc", &info), 0);
    CHECK_INT(info.recent, 0);
    CHECK_INT(mailbox_open(u, "rc", false, true, &floor, &mb), 0);
    CHECK_INT(floor, 3);   /* a second SELECT gets none */
    CHECK_INT(append_mem(mb, MSG2, 0, NULL, &uid), 0);
    mailbox_close(mb);
    CHECK_INT(mailbox_status(u, "rc", &info), 0);
    CHECK_INT(info.recent, 1);
    CHECK_INT(mailbox_open(u, "rc", false, true, &floor, &mb), 0);
    CHECK_INT(floor, 3);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "rc"), 0);
    mail_user_close(u);
}

static void test_reopen(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "keep", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "keep", false, false, NULL, &mb), 0);
    uint32_t uid;
    CHECK_INT(append_mem(mb, MSG1, MSG_SEEN, "$K", &uid), 0);
    uint32_t uv = mailbox_get_info(mb)->uidvalidity;
    mailbox_close(mb);
    mail_user_close(u);
    storage_shutdown();
    CHECK_INT(storage_init(g_dir), 0);

    u = open_user();
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "keep", &info), 0);
    CHECK_INT(info.messages, 1);
    CHECK_INT(info.uidvalidity, uv);
    CHECK_INT(mailbox_open(u, "keep", false, false, NULL, &mb), 0);
    struct msg_record rec;
    CHECK_INT(mailbox_get_record(mb, uid, &rec), 0);
    CHECK_STR(rec.keywords, "$K");
    struct msg_content c;
    CHECK_INT(mailbox_get_content(mb, uid, &c), 0);
    CHECK(c.len == strlen(MSG1) && memcmp(c.data, MSG1, c.len) == 0);
    msg_content_release(&c);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "keep"), 0);
    mail_user_close(u);
}

struct notif { char user[64]; int64_t id; int n; };
static void notif_cb(const char *user, int64_t id, void *arg)
{
    struct notif *nt = arg;
    snprintf(nt->user, sizeof(nt->user), "%s", user);
    nt->id = id;
    nt->n++;
}

static void test_notify(void)
{
    int fd = notify_listener_open();
    CHECK(fd >= 0);
    /* a stale socket file of a dead process is cleaned up by senders */
    char stale[512];
    snprintf(stale, sizeof(stale), "%s/run/notify/999999999.sock", g_dir);
    int sfd = open(stale, O_CREAT | O_WRONLY, 0600);   /* not a socket: ECONNREFUSED */
    if (sfd >= 0)
        close(sfd);
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "nt", 0), 0);
    struct notif nt = {"", 0, 0};
    notify_listener_read(fd, notif_cb, &nt);   /* drain the create */
    CHECK_INT(nt.n, 1);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "nt", false, false, NULL, &mb), 0);
    nt.n = 0;
    uint32_t uid;
    CHECK_INT(append_mem(mb, MSG2, 0, NULL, &uid), 0);
    notify_listener_read(fd, notif_cb, &nt);
    CHECK_INT(nt.n, 1);
    CHECK_STR(nt.user, "tester");
    CHECK_INT(nt.id, mailbox_get_info(mb)->id);
    CHECK(access(stale, F_OK) != 0);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "nt"), 0);
    mail_user_close(u);
    notify_listener_close();
    char own[512];
    snprintf(own, sizeof(own), "%s/run/notify/%d.sock", g_dir, (int)getpid());
    CHECK(access(own, F_OK) != 0);
}


/* A listener whose queue is full loses datagrams: the sender owes it one
 * resync marker, sends it once there is room, and then owes nothing (the
 * marker was once counted as failed when sendto succeeded, so it was
 * re-sent every few milliseconds forever). */
struct resync_count { int markers, hints; int64_t last; };
static void resync_cb(const char *user, int64_t id, void *arg)
{
    (void)user;
    struct resync_count *c = arg;
    if (id == NOTIFY_RESYNC_HINTS || id == NOTIFY_RESYNC_ALL)
        c->markers++;
    else
        c->hints++;
    c->last = id;
}

static void test_notify_lost_marker(void)
{
    int fd = notify_listener_open();
    CHECK(fd >= 0);
    notify_set_async_retry(true);   /* as a worker: never wait for room */
    /* the listener reads nothing: its queue (net.unix.max_dgram_qlen,
     * 10 by default, at most 512 here) fills and refuses the rest */
    for (int i = 0; i < 600; i++)
        notify_mailbox_changed("tester", 1 + i);
    CHECK(notify_retry_wanted());
    struct resync_count c = {0, 0, 0};
    notify_listener_read(fd, resync_cb, &c);   /* room again */
    CHECK(c.hints > 0 && c.hints < 600);
    CHECK_INT(c.markers, 0);
    CHECK(!notify_retry_pending());             /* sent, owed no more */
    CHECK(!notify_retry_wanted());
    c = (struct resync_count){0, 0, 0};
    notify_listener_read(fd, resync_cb, &c);
    CHECK_INT(c.markers, 1);
    CHECK_INT(c.last, NOTIFY_RESYNC_HINTS);
    CHECK(!notify_retry_pending());             /* and never again */
    notify_listener_read(fd, resync_cb, &c);
    CHECK_INT(c.markers, 1);
    notify_set_async_retry(false);
    notify_listener_close();
}


/* Another process (own connection, own handle table) appends; this
 * process sees it through mailbox_sync and gets the notification. */
static void test_other_process(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "xp", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "xp", false, false, NULL, &mb), 0);
    uint64_t ms = mailbox_get_info(mb)->highestmodseq;
    int fd = notify_listener_open();
    CHECK(fd >= 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child must not use the parent's SQLite connection: a fresh
         * process-level open, exactly like another worker. */
        struct mail_user *cu;
        int ok = storage_init(g_dir) == 0 && mail_user_open("tester", false, &cu) == 0;
        struct append_msg m = {MSG2, -1, strlen(MSG2), MSG_SEEN, "$Child", 0, 0, false, false};
        uint32_t uv, uid;
        ok = ok && mailbox_append_by_name(cu, "xp", &m, &uv, &uid) == 0 && uid == 1;
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct notif nt = {"", 0, 0};
    notify_listener_read(fd, notif_cb, &nt);   /* the child's datagram is queued */
    CHECK_INT(nt.n, 1);
    CHECK_INT(nt.id, mailbox_get_info(mb)->id);
    struct uidlist ch = {.n = 0};
    CHECK_INT(mailbox_sync(mb, ms, collect_rec, &ch, NULL, NULL), 0);
    CHECK_INT(ch.n, 1);
    CHECK_INT(mailbox_get_info(mb)->messages, 1);
    CHECK(mailbox_get_info(mb)->highestmodseq > ms);
    struct msg_record rec;
    CHECK_INT(mailbox_get_record(mb, 1, &rec), 0);
    CHECK_STR(rec.keywords, "$Child");
    notify_listener_close();
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "xp"), 0);
    mail_user_close(u);
}


/* FETCH BODY[] sets \\Seen while iterating: a write (and even a nested
 * iteration) from inside a record callback must work and must not disturb
 * the outer iteration (each record exactly once). */
struct nest { struct mailbox *mb; int seen, inner_rc; };
static int inner_cb(const struct msg_record *r, void *arg) { (void)r; (void)arg; return 0; }
static int nest_cb(const struct msg_record *r, void *arg)
{
    struct nest *n = arg;
    struct store_req req = {STORE_ADD, MSG_SEEN, NULL, 0};
    if (mailbox_store(n->mb, &r->uid, 1, &req, NULL, NULL, NULL, NULL) == 0)
        n->seen++;
    n->inner_rc = mailbox_foreach_record(n->mb, 1, 10, inner_cb, NULL);
    return 0;
}
static void test_nested(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "ns", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "ns", false, false, NULL, &mb), 0);
    uint32_t uid;
    for (int i = 0; i < 3; i++)
        CHECK_INT(append_mem(mb, MSG2, 0, NULL, &uid), 0);
    struct nest n = {mb, 0, 0};
    CHECK_INT(mailbox_foreach_record(mb, 1, UINT32_MAX, nest_cb, &n), 0);
    CHECK_INT(n.seen, 3);
    CHECK_INT(n.inner_rc, 0);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "ns", &info), 0);
    CHECK_INT(info.unseen, 0);
    /* the outer cursor still works afterwards */
    CHECK_INT(mailbox_foreach_record(mb, 1, 10, inner_cb, NULL), 0);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "ns"), 0);
    mail_user_close(u);
}


struct counter { uint32_t n, last; bool ordered; };
static int count_rec(const struct msg_record *r, void *arg)
{
    struct counter *c = arg;
    if (r->uid <= c->last)
        c->ordered = false;
    c->last = r->uid;
    c->n++;
    return 0;
}

/* More messages than one foreach batch and a dense sync (scan path). */
static void test_bulk(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "bulk", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "bulk", false, false, NULL, &mb), 0);
    enum { N = 600 };
    struct append_txn *t;
    CHECK_INT(mailbox_append_begin(mb, &t), 0);
    struct append_msg m = {MSG2, -1, strlen(MSG2), 0, NULL, 0, 0, false, false};
    for (int i = 0; i < N; i++)
        CHECK_INT(mailbox_append_add(t, &m), 0);
    static uint32_t uids[N];
    uint32_t uv;
    CHECK_INT(mailbox_append_commit(t, &uv, uids, N), 0);
    CHECK_INT(uids[N - 1], N);
    CHECK_INT(mailbox_sync(mb, 0, NULL, NULL, NULL, NULL), 0);
    uint64_t ms = mailbox_get_info(mb)->highestmodseq;
    CHECK_INT(mailbox_get_info(mb)->messages, N);

    struct counter c = {0, 0, true};
    CHECK_INT(mailbox_foreach_record(mb, 1, UINT32_MAX, count_rec, &c), 0);
    CHECK_INT(c.n, N);
    CHECK(c.ordered);
    c = (struct counter){0, 0, true};
    CHECK_INT(mailbox_foreach_record(mb, 100, 399, count_rec, &c), 0);
    CHECK_INT(c.n, 300);

    /* change every other message: dense sync path */
    static uint32_t odd[N / 2];
    for (int i = 0; i < N / 2; i++)
        odd[i] = (uint32_t)(2 * i + 1);
    struct store_req req = {STORE_ADD, MSG_SEEN, NULL, 0};
    CHECK_INT(mailbox_store(mb, odd, N / 2, &req, NULL, NULL, NULL, NULL), 0);
    c = (struct counter){0, 0, true};
    CHECK_INT(mailbox_sync(mb, ms, count_rec, &c, NULL, NULL), 0);
    CHECK_INT(c.n, N / 2);
    CHECK(c.ordered);
    CHECK_INT(mailbox_get_info(mb)->unseen, N / 2);
    uint32_t *all, n;
    CHECK_INT(mailbox_get_uids(mb, &all, &n), 0);
    CHECK_INT(n, N);
    if (n == N)
        CHECK(all[0] == 1 && all[N - 1] == N);
    free(all);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "bulk"), 0);
    CHECK_INT(count_files("user/t/tester/msg"), 0);
    mail_user_close(u);
}


/* Concurrent writers in several processes: BEGIN IMMEDIATE + busy_timeout
 * serialise them; UIDs stay unique and dense, counters exact. */
static void test_concurrent_appends(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "cc", 0), 0);
    mail_user_close(u);
    enum { KIDS = 3, EACH = 10 };
    fflush(NULL);
    pid_t pids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        if (pids[k] == 0) {
            struct mail_user *cu;
            int ok = storage_init(g_dir) == 0 && mail_user_open("tester", false, &cu) == 0;
            for (int i = 0; ok && i < EACH; i++) {
                struct append_msg m = {MSG2, -1, strlen(MSG2), 0, NULL, 0, 0, false, false};
                uint32_t uv, uid;
                ok = mailbox_append_by_name(cu, "cc", &m, &uv, &uid) == 0;
            }
            _exit(ok ? 0 : 1);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int status = -1;
        CHECK(pids[k] > 0 && waitpid(pids[k], &status, 0) == pids[k]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    u = open_user();
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "cc", false, false, NULL, &mb), 0);
    uint32_t *uids, n;
    CHECK_INT(mailbox_get_uids(mb, &uids, &n), 0);
    CHECK_INT(n, KIDS * EACH);
    for (uint32_t i = 0; i < n; i++)
        if (uids[i] != i + 1) {
            CHECK_INT(uids[i], i + 1);
            break;
        }
    free(uids);
    CHECK_INT(mailbox_get_info(mb)->messages, KIDS * EACH);
    CHECK_INT(mailbox_get_info(mb)->uidnext, KIDS * EACH + 1);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "cc"), 0);
    mail_user_close(u);
}

static int g_problems;
static void problem_cb(const char *p, void *arg)
{
    (void)p; (void)arg;
    g_problems++;
}

static void test_check(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "ck", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "ck", false, false, NULL, &mb), 0);
    uint32_t uid;
    CHECK_INT(append_mem(mb, MSG1, 0, NULL, &uid), 0);
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);

    /* orphan file, old enough not to be an append in progress */
    char path[512];
    snprintf(path, sizeof(path), "%s/user/t/tester/msg/00/00112233445566778899aabbccddeeff", g_dir);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/user/t/tester/msg/00", g_dir);
    mkdir(dir, 0700);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("junk", f);
        fclose(f);
    }
    struct timespec ts[2] = {{time(NULL) - 86400, 0}, {time(NULL) - 86400, 0}};
    utimensat(AT_FDCWD, path, ts, 0);

    /* counter drift, injected behind storage's back */
    char db[512];
    snprintf(db, sizeof(db), "%s/user/t/tester/mail.db", g_dir);
    sqlite3 *h;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    CHECK(sqlite3_exec(h, "UPDATE mailbox SET messages=messages+5, unseen=7 WHERE name='ck'", NULL, NULL, NULL) ==
          SQLITE_OK);
    sqlite3_close(h);

    g_problems = 0;
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 2);
    CHECK_INT(g_problems, 2);
    CHECK(access(path, F_OK) == 0);   /* not fixed without fix=true */
    CHECK_INT(mail_user_check(u, true, problem_cb, NULL), 2);
    CHECK(access(path, F_OK) != 0);
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "ck", &info), 0);
    CHECK_INT(info.messages, 1);
    CHECK_INT(info.unseen, 1);
    mailbox_close(mb);
    CHECK_INT(mailbox_delete(u, "ck"), 0);
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);
    mail_user_close(u);
}

/* ---- UID ranges (uidrange table behind mailbox_get_uids) ---------------- */

/* The stored ranges of a mailbox as "lo:hi,lo:hi" ("" when none). */
static char g_ranges[1024];
static const char *ranges_of(const char *user, const char *mailbox)
{
    g_ranges[0] = '\0';
    sqlite3 *h = raw_db(user);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(h,
                             "SELECT coalesce(group_concat(r, ','), '') FROM (SELECT lo||':'||hi AS r FROM uidrange "
                             "WHERE mailbox_id=(SELECT id FROM mailbox WHERE name=?) ORDER BY lo)",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(g_ranges, sizeof(g_ranges), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return g_ranges;
}

/* mailbox_get_uids as "1,2,5" */
static char g_uidstr[1024];
static const char *uids_of(struct mailbox *mb)
{
    uint32_t *v = NULL, n = 0;
    g_uidstr[0] = '\0';
    CHECK_INT(mailbox_get_uids(mb, &v, &n), 0);
    size_t len = 0;
    for (uint32_t i = 0; i < n && len < sizeof(g_uidstr) - 16; i++)
        len += (size_t)snprintf(g_uidstr + len, sizeof(g_uidstr) - len, "%s%u", i ? "," : "", v[i]);
    free(v);
    return g_uidstr;
}

static void expunge_uids(struct mailbox *mb, const uint32_t *uids, size_t n)
{
    struct store_req req = {STORE_ADD, MSG_DELETED, NULL, 0};
    CHECK_INT(mailbox_store(mb, uids, n, &req, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_expunge(mb, uids, n, NULL, NULL), 0);
}

static void test_uidranges(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("ranger", true, &u), 0);
    CHECK_INT(mailbox_create(u, "rg", 0), 0);
    CHECK_INT(mailbox_create(u, "rg2", 0), 0);
    struct mailbox *mb, *mb2;
    CHECK_INT(mailbox_open(u, "rg", false, false, NULL, &mb), 0);
    CHECK_INT(mailbox_open(u, "rg2", false, false, NULL, &mb2), 0);
    CHECK_STR(uids_of(mb), "");
    CHECK_STR(ranges_of("ranger", "rg"), "");
    uint32_t uid;
    for (int i = 0; i < 5; i++)
        CHECK_INT(append_mem(mb, MSG2, 0, NULL, &uid), 0);
    CHECK_STR(ranges_of("ranger", "rg"), "1:5");
    CHECK_STR(uids_of(mb), "1,2,3,4,5");

    /* \Recent count comes from the ranges: nobody claimed anything yet */
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "rg", &info), 0);
    CHECK_INT(info.recent, 5);

    /* expunge the last message, then append: UIDNEXT is not reused */
    expunge_uids(mb, (uint32_t[]){5}, 1);
    CHECK_STR(ranges_of("ranger", "rg"), "1:4");
    CHECK_INT(append_mem(mb, MSG2, 0, NULL, &uid), 0);
    CHECK_INT(uid, 6);
    CHECK_STR(ranges_of("ranger", "rg"), "1:4,6:6");
    CHECK_STR(uids_of(mb), "1,2,3,4,6");
    /* first message, then one in the middle */
    expunge_uids(mb, (uint32_t[]){1}, 1);
    CHECK_STR(ranges_of("ranger", "rg"), "2:4,6:6");
    expunge_uids(mb, (uint32_t[]){3}, 1);
    CHECK_STR(ranges_of("ranger", "rg"), "2:2,4:4,6:6");
    CHECK_STR(uids_of(mb), "2,4,6");
    CHECK_INT(mailbox_status(u, "rg", &info), 0);
    CHECK_INT(info.recent, 3);
    CHECK_INT(info.messages, 3);

    /* first unseen: follows \Seen changes, 0 when all are seen */
    uint32_t first = 99;
    CHECK_INT(mailbox_first_unseen(mb, &first), 0);
    CHECK_INT(first, 2);
    struct store_req seen = {STORE_ADD, MSG_SEEN, NULL, 0};
    CHECK_INT(mailbox_store(mb, (uint32_t[]){2, 4}, 2, &seen, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_first_unseen(mb, &first), 0);
    CHECK_INT(first, 6);
    CHECK_INT(mailbox_store(mb, (uint32_t[]){6}, 1, &seen, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_first_unseen(mb, &first), 0);
    CHECK_INT(first, 0);
    seen.mode = STORE_REMOVE;
    CHECK_INT(mailbox_store(mb, (uint32_t[]){2, 4, 6}, 3, &seen, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_first_unseen(mb, &first), 0);
    CHECK_INT(first, 2);

    /* an aborted MULTIAPPEND leaves the ranges alone; a committed one extends */
    struct append_txn *t;
    struct append_msg m = {MSG2, -1, strlen(MSG2), 0, NULL, 0, 0, false, false};
    CHECK_INT(mailbox_append_begin(mb, &t), 0);
    CHECK_INT(mailbox_append_add(t, &m), 0);
    CHECK_INT(mailbox_append_add(t, &m), 0);
    mailbox_append_abort(t);
    CHECK_STR(ranges_of("ranger", "rg"), "2:2,4:4,6:6");
    CHECK_INT(mailbox_append_begin(mb, &t), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(mailbox_append_add(t, &m), 0);
    uint32_t uv, nu[3];
    CHECK_INT(mailbox_append_commit(t, &uv, nu, 3), 0);
    CHECK_INT(nu[0], 7);
    CHECK_STR(ranges_of("ranger", "rg"), "2:2,4:4,6:9");

    /* copy: destination gets a dense run, source unchanged */
    uint32_t src[3], dst[3];
    size_t nc = 0;
    CHECK_INT(mailbox_copy(mb, (uint32_t[]){2, 4, 7}, 3, "rg2", false, &uv, src, dst, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 3);
    CHECK_STR(ranges_of("ranger", "rg2"), "1:3");
    CHECK_STR(ranges_of("ranger", "rg"), "2:2,4:4,6:9");
    /* move: removed from the source (a run split in two), added to the target */
    CHECK_INT(mailbox_copy(mb, (uint32_t[]){4, 7, 8}, 3, "rg2", true, &uv, src, dst, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 3);
    CHECK_STR(ranges_of("ranger", "rg"), "2:2,6:6,9:9");
    CHECK_STR(ranges_of("ranger", "rg2"), "1:6");
    CHECK_STR(uids_of(mb), "2,6,9");
    CHECK_STR(uids_of(mb2), "1,2,3,4,5,6");
    /* move within the same mailbox: new UIDs at the end, old ones gone */
    CHECK_INT(mailbox_copy(mb, (uint32_t[]){2, 6}, 2, "rg", true, &uv, src, dst, &nc, NULL, NULL), 0);
    CHECK_STR(ranges_of("ranger", "rg"), "9:11");
    /* expunge everything */
    expunge_uids(mb2, (uint32_t[]){1, 2, 3, 4, 5, 6}, 6);
    CHECK_STR(ranges_of("ranger", "rg2"), "");
    CHECK_STR(uids_of(mb2), "");
    CHECK_INT(append_mem(mb2, MSG2, 0, NULL, &uid), 0);
    CHECK_STR(ranges_of("ranger", "rg2"), "7:7");

    /* claiming \Recent: afterwards 0, a new message makes it 1 */
    struct mailbox *mc;
    uint32_t floor = 99;
    CHECK_INT(mailbox_open(u, "rg", false, true, &floor, &mc), 0);
    CHECK_INT(floor, 0);
    CHECK_INT(mailbox_get_info(mc)->recent, 0);
    mailbox_close(mc);
    CHECK_INT(mailbox_status(u, "rg", &info), 0);
    CHECK_INT(info.recent, 0);
    CHECK_INT(append_mem(mb, MSG2, 0, NULL, &uid), 0);
    CHECK_INT(mailbox_status(u, "rg", &info), 0);
    CHECK_INT(info.recent, 1);
    /* a claim with nothing new to claim keeps the floor where it is */
    CHECK_INT(mailbox_open(u, "rg", false, true, &floor, &mc), 0);
    CHECK_INT(floor, 11);
    mailbox_close(mc);
    CHECK_INT(mailbox_open(u, "rg", false, true, &floor, &mc), 0);
    CHECK_INT(floor, 12);
    mailbox_close(mc);
    /* ... and takes no write lock at all: with another connection holding
     * it, the claiming open still succeeds at once (a write would wait for
     * the busy timeout and fail with BUSY). */
    sqlite3 *lk = raw_db("ranger");
    CHECK(sqlite3_exec(lk, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(mailbox_open(u, "rg", false, true, &floor, &mc), 0);
    CHECK_INT(floor, 12);
    CHECK_STR(uids_of(mc), "9,10,11,12");
    mailbox_close(mc);
    sqlite3_exec(lk, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(lk);

    /* rename INBOX: the ranges go with the messages */
    struct mailbox *in;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &in), 0);
    CHECK_INT(append_mem(in, MSG2, 0, NULL, &uid), 0);
    CHECK_INT(append_mem(in, MSG2, 0, NULL, &uid), 0);
    mailbox_close(in);
    CHECK_STR(ranges_of("ranger", "INBOX"), "1:2");
    CHECK_INT(mailbox_rename(u, "INBOX", "oldinbox"), 0);
    CHECK_STR(ranges_of("ranger", "INBOX"), "");
    CHECK_STR(ranges_of("ranger", "oldinbox"), "1:2");
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &in), 0);
    CHECK_STR(uids_of(in), "");
    CHECK_INT(append_mem(in, MSG2, 0, NULL, &uid), 0);
    CHECK_INT(uid, 3);
    CHECK_STR(ranges_of("ranger", "INBOX"), "3:3");
    mailbox_close(in);

    /* delete: the mailbox's ranges go too */
    CHECK_INT(mailbox_status(u, "oldinbox", &info), 0);
    CHECK_INT(mailbox_delete(u, "oldinbox"), 0);
    sqlite3 *h = raw_db("ranger");
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(h, "SELECT count(*) FROM uidrange WHERE mailbox_id=?", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, info.id);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
    sqlite3_finalize(st);
    sqlite3_close(h);

    g_problems = 0;
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);
    mailbox_close(mb);
    mailbox_close(mb2);
    mail_user_close(u);
}

static void test_uidranges_check(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("ranger", true, &u), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "rg", false, false, NULL, &mb), 0);
    CHECK_STR(ranges_of("ranger", "rg"), "9:12");
    CHECK_STR(uids_of(mb), "9,10,11,12");

    /* ranges claiming more than the rows: get_uids must not believe them */
    raw_exec("ranger", "UPDATE uidrange SET hi=4000000000 WHERE mailbox_id=(SELECT id FROM mailbox WHERE name='rg')");
    CHECK_STR(uids_of(mb), "9,10,11,12");
    /* ranges claiming fewer */
    raw_exec("ranger", "UPDATE uidrange SET hi=10 WHERE mailbox_id=(SELECT id FROM mailbox WHERE name='rg')");
    CHECK_STR(uids_of(mb), "9,10,11,12");
    /* overlapping rows that add up to the counter */
    raw_exec("ranger", "INSERT INTO uidrange SELECT id,10,11 FROM mailbox WHERE name='rg'");
    CHECK_STR(uids_of(mb), "9,10,11,12");
    /* a second mailbox with its ranges missing */
    raw_exec("ranger", "DELETE FROM uidrange WHERE mailbox_id=(SELECT id FROM mailbox WHERE name='rg2')");
    struct mailbox *mb2;
    CHECK_INT(mailbox_open(u, "rg2", false, false, NULL, &mb2), 0);
    CHECK_STR(uids_of(mb2), "7");

    g_problems = 0;
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 2);
    CHECK_INT(g_problems, 2);
    CHECK_STR(ranges_of("ranger", "rg2"), "");   /* not fixed without fix=true */
    CHECK_INT(mail_user_check(u, true, problem_cb, NULL), 2);
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);
    CHECK_STR(ranges_of("ranger", "rg"), "9:12");
    CHECK_STR(ranges_of("ranger", "rg2"), "7:7");
    /* maintenance continues from the rebuilt ranges */
    uint32_t uid;
    CHECK_INT(append_mem(mb, MSG2, 0, NULL, &uid), 0);
    CHECK_STR(ranges_of("ranger", "rg"), "9:13");
    expunge_uids(mb, (uint32_t[]){9, 13}, 2);
    CHECK_STR(ranges_of("ranger", "rg"), "10:12");
    /* a wild message counter must not size the UID array */
    raw_exec("ranger", "UPDATE mailbox SET messages=1000000000000 WHERE name='rg'");
    CHECK_STR(uids_of(mb), "10,11,12");
    raw_exec("ranger", "UPDATE mailbox SET messages=-5 WHERE name='rg'");
    CHECK_STR(uids_of(mb), "10,11,12");
    CHECK_INT(mail_user_check(u, true, problem_cb, NULL), 1);   /* the counter; ranges are fine */
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);
    CHECK_STR(uids_of(mb), "10,11,12");
    mailbox_close(mb);
    mailbox_close(mb2);
    mail_user_close(u);
}

/* Random appends, expunges and moves; after each, mailbox_get_uids (the
 * ranges) must equal the message rows (foreach_record). */
struct rowlist { uint32_t v[512]; size_t n; };
static int collect_row(const struct msg_record *r, void *arg)
{
    struct rowlist *l = arg;
    if (l->n < 512)
        l->v[l->n++] = r->uid;
    return 0;
}

static bool uids_match_rows(struct mailbox *mb)
{
    struct rowlist rows = {.n = 0};
    CHECK_INT(mailbox_foreach_record(mb, 1, UINT32_MAX, collect_row, &rows), 0);
    uint32_t *v = NULL, n = 0;
    CHECK_INT(mailbox_get_uids(mb, &v, &n), 0);
    bool ok = n == rows.n && (n == 0 || memcmp(v, rows.v, n * sizeof(*v)) == 0);
    free(v);
    return ok;
}

static void test_uidranges_random(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("ranger", true, &u), 0);
    CHECK_INT(mailbox_create(u, "rnd", 0), 0);
    CHECK_INT(mailbox_create(u, "rnd2", 0), 0);
    struct mailbox *a, *b;
    CHECK_INT(mailbox_open(u, "rnd", false, false, NULL, &a), 0);
    CHECK_INT(mailbox_open(u, "rnd2", false, false, NULL, &b), 0);
    uint64_t rng = 12345;
    struct append_msg m = {MSG2, -1, strlen(MSG2), 0, NULL, 0, 0, false, false};
    for (int op = 0; op < 60; op++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        unsigned r = (unsigned)(rng >> 33);
        struct mailbox *mb = (r & 8) ? b : a;
        uint32_t *v = NULL, n = 0;
        CHECK_INT(mailbox_get_uids(mb, &v, &n), 0);
        /* a random subset (ascending) of the present UIDs */
        uint32_t pick[16];
        size_t np = 0;
        for (uint32_t i = 0; i < n && np < 16; i++)
            if (((r >> (i % 24)) ^ i) % 3 == 0)
                pick[np++] = v[i];
        free(v);
        switch (r % 4) {
        case 0:
        case 1: {
            struct append_txn *t;
            CHECK_INT(mailbox_append_begin(mb, &t), 0);
            for (unsigned k = 0; k < 1 + (r >> 4) % 6; k++)
                CHECK_INT(mailbox_append_add(t, &m), 0);
            uint32_t uv;
            CHECK_INT(mailbox_append_commit(t, &uv, NULL, 0), 0);
            break;
        }
        case 2:
            expunge_uids(mb, pick, np);
            break;
        case 3: {
            uint32_t uv;
            size_t nc;
            CHECK_INT(mailbox_copy(mb, pick, np, mb == a ? "rnd2" : "rnd", (r >> 5) & 1, &uv, NULL, NULL, &nc,
                                   NULL, NULL),
                      0);
            break;
        }
        }
        CHECK(uids_match_rows(a));
        CHECK(uids_match_rows(b));
    }
    /* the walk must actually have produced holes to be worth anything */
    CHECK(strchr(ranges_of("ranger", "rnd"), ',') != NULL);
    CHECK(strchr(ranges_of("ranger", "rnd2"), ',') != NULL);
    g_problems = 0;
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);
    mailbox_close(a);
    mailbox_close(b);
    CHECK_INT(mailbox_delete(u, "rnd"), 0);
    CHECK_INT(mailbox_delete(u, "rnd2"), 0);
    mail_user_close(u);
}

static void test_uidranges_migration(void)
{
    /* Turn ranger's store back into a schema 1 database (no uidrange,
     * message_uid index present) and reopen: the migration must build the
     * ranges from the message rows. */
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("ranger", true, &u), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "rg", false, false, NULL, &mb), 0);
    uint32_t uid;
    CHECK_INT(append_mem(mb, MSG2, 0, NULL, &uid), 0);   /* 10:12,14 */
    mailbox_close(mb);
    mail_user_close(u);
    raw_exec("ranger", "DROP TABLE uidrange; DROP INDEX message_unseen;"
                       "CREATE INDEX message_uid ON message(mailbox_id, uid);"
                       "DROP TABLE quotaroot; " SCHEMA5_UNDO "UPDATE schema_version SET version=1;");
    CHECK_INT(mail_user_open("ranger", false, &u), 0);
    CHECK_STR(ranges_of("ranger", "rg"), "10:12,14:14");
    CHECK_STR(ranges_of("ranger", "rg2"), "7:7");
    CHECK_STR(ranges_of("ranger", "INBOX"), "3:3");
    sqlite3 *h = raw_db("ranger");
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(h, "SELECT (SELECT version FROM schema_version),"
                                "(SELECT count(*) FROM sqlite_master WHERE name='message_uid'),"
                                "(SELECT count(*) FROM sqlite_master WHERE name='message_unseen')",
                             -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);   /* 1 -> 2 -> ... */
    CHECK_INT(sqlite3_column_int(st, 1), 0);
    CHECK_INT(sqlite3_column_int(st, 2), 1);
    sqlite3_finalize(st);
    sqlite3_close(h);
    CHECK_INT(mailbox_open(u, "rg", false, false, NULL, &mb), 0);
    CHECK_STR(uids_of(mb), "10,11,12,14");
    uint32_t first = 99;
    CHECK_INT(mailbox_first_unseen(mb, &first), 0);
    CHECK_INT(first, 10);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "rg", &info), 0);
    CHECK_INT(info.recent, 1);   /* watermark 12 (claimed in test_uidranges): only 14 is new */
    mailbox_close(mb);
    /* a watermark inside a range counts that range's tail */
    raw_exec("ranger", "UPDATE mailbox SET recent_uid=11 WHERE name='rg'");
    CHECK_INT(mailbox_status(u, "rg", &info), 0);
    CHECK_INT(info.recent, 2);
    raw_exec("ranger", "UPDATE mailbox SET recent_uid=9 WHERE name='rg'");
    CHECK_INT(mailbox_status(u, "rg", &info), 0);
    CHECK_INT(info.recent, 4);
    g_problems = 0;
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);
    mail_user_close(u);
}

static void test_delete_store(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("gone", true, &u), 0);
    CHECK_INT(mail_user_delete_store("gone"), STORAGE_ERR_BUSY);
    mail_user_close(u);
    CHECK_INT(mail_user_delete_store("gone"), 0);
    CHECK_INT(mail_user_open("gone", false, &u), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mail_user_delete_store("gone"), STORAGE_ERR_NOTFOUND);
    CHECK(strcmp(storage_strerror(STORAGE_ERR_EXISTS), "Mailbox already exists") == 0);
}

/* ---- mailbox ids are never reused; handles on deleted mailboxes ----------- */

static int64_t id_of(struct mail_user *u, const char *name)
{
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, name, &info), 0);
    return info.id;
}

static void test_id_no_reuse(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("idreuse", true, &u), 0);
    CHECK_INT(mailbox_create(u, "a", 0), 0);
    CHECK_INT(mailbox_create(u, "b", 0), 0);
    int64_t a = id_of(u, "a"), b = id_of(u, "b");
    CHECK(b > a);
    /* b has the highest id: SQLite's max(id)+1 would hand it out again */
    CHECK_INT(mailbox_delete(u, "b"), 0);
    CHECK_INT(mailbox_create(u, "c", 0), 0);
    int64_t c = id_of(u, "c");
    CHECK(c > b);
    CHECK_INT(mailbox_delete(u, "c"), 0);
    CHECK_INT(mailbox_create(u, "c", 0), 0);   /* same name: still a new id */
    CHECK(id_of(u, "c") > c);
    /* renaming INBOX creates a mailbox too: fresh id as well */
    int64_t before = id_of(u, "c");
    CHECK_INT(mailbox_rename(u, "INBOX", "old-inbox"), 0);
    CHECK(id_of(u, "old-inbox") > before);
    mail_user_close(u);
    /* the counter survives reopening the store */
    CHECK_INT(mail_user_open("idreuse", false, &u), 0);
    before = id_of(u, "old-inbox");
    CHECK_INT(mailbox_delete(u, "old-inbox"), 0);
    CHECK_INT(mailbox_create(u, "d", 0), 0);
    CHECK(id_of(u, "d") > before);
    mail_user_close(u);
}

struct calls { int n; };
static int count_rec_cb(const struct msg_record *r, void *arg)
{
    (void)r;
    ((struct calls *)arg)->n++;
    return 0;
}
static int count_uid_cb(uint32_t uid, void *arg)
{
    (void)uid;
    ((struct calls *)arg)->n++;
    return 0;
}

/* Every operation of a handle whose mailbox is gone: NOTFOUND, no callback. */
static void check_all_notfound(struct mailbox *mb, bool ro)
{
    struct calls c = {0};
    CHECK_INT(mailbox_sync(mb, 0, count_rec_cb, &c, count_uid_cb, &c), STORAGE_ERR_NOTFOUND);
    uint32_t *uids = NULL, n = 99;
    CHECK_INT(mailbox_get_uids(mb, &uids, &n), STORAGE_ERR_NOTFOUND);
    free(uids);
    CHECK_INT(mailbox_foreach_record(mb, 1, UINT32_MAX, count_rec_cb, &c), STORAGE_ERR_NOTFOUND);
    struct msg_record rec;
    for (uint32_t uid = 1; uid <= 3; uid++) {
        CHECK_INT(mailbox_get_record(mb, uid, &rec), STORAGE_ERR_NOTFOUND);
        struct msg_cache cache;
        memset(&cache, 0, sizeof(cache));
        CHECK_INT(mailbox_get_cache(mb, uid, &cache), STORAGE_ERR_NOTFOUND);
        struct msg_content mc;
        memset(&mc, 0, sizeof(mc));
        CHECK_INT(mailbox_get_content(mb, uid, &mc), STORAGE_ERR_NOTFOUND);
    }
    uint32_t first = 0;
    CHECK_INT(mailbox_first_unseen(mb, &first), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_vanished_since(mb, 0, count_uid_cb, &c), STORAGE_ERR_NOTFOUND);
    char *kw = NULL;
    CHECK_INT(mailbox_get_keywords(mb, &kw), STORAGE_ERR_NOTFOUND);
    free(kw);
    uint32_t all[] = {1, 2, 3};
    struct store_req req = {STORE_ADD, MSG_DELETED | MSG_FLAGGED, "$Stale", 0};
    /* a read-only handle is refused before storage looks */
    int want = ro ? STORAGE_ERR_NOPERM : STORAGE_ERR_NOTFOUND;
    CHECK_INT(mailbox_store(mb, all, 3, &req, count_rec_cb, &c, count_uid_cb, &c), want);
    CHECK_INT(mailbox_expunge(mb, NULL, 0, count_uid_cb, &c), want);
    CHECK_INT(mailbox_expunge(mb, all, 3, count_uid_cb, &c), want);
    uint32_t su[3], du[3];
    size_t ncopied = 99;
    CHECK_INT(mailbox_copy(mb, all, 3, "INBOX", false, NULL, su, du, &ncopied, NULL, NULL), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_copy(mb, all, 3, "INBOX", true, NULL, su, du, &ncopied, count_uid_cb, &c), want);
    struct append_txn *t = NULL;
    CHECK_INT(mailbox_append_begin(mb, &t), ro ? STORAGE_ERR_NOPERM : STORAGE_ERR_NOTFOUND);
    CHECK(t == NULL);
    uint32_t f = 7, h = 7;
    CHECK_INT(mailbox_claim_recent(mb, &f, &h), ro ? 0 : STORAGE_ERR_NOTFOUND);
    CHECK(mailbox_is_deleted(mb));
    CHECK_INT(c.n, 0);
}

static void test_deleted_handle(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("deleter", true, &u), 0);
    CHECK_INT(mailbox_create(u, "dz", 0), 0);
    struct mailbox *old, *old2, *ro;
    CHECK_INT(mailbox_open(u, "dz", false, false, NULL, &old), 0);
    CHECK_INT(mailbox_open(u, "dz", false, false, NULL, &old2), 0);
    CHECK_INT(mailbox_open(u, "dz", true, false, NULL, &ro), 0);
    uint32_t uid;
    CHECK_INT(append_mem(old, MSG1, 0, NULL, &uid), 0);
    CHECK_INT(append_mem(old, MSG2, 0, NULL, &uid), 0);
    CHECK(!mailbox_is_deleted(old));
    /* an APPEND in progress when the mailbox goes away */
    struct append_txn *t;
    CHECK_INT(mailbox_append_begin(old2, &t), 0);
    struct append_msg m = {MSG2, -1, strlen(MSG2), 0, NULL, 0, 0, false, false};
    CHECK_INT(mailbox_append_add(t, &m), 0);
    int files = count_files("user/d/deleter/msg");

    CHECK_INT(mailbox_delete(u, "dz"), 0);
    /* A new mailbox with the same name, and one more: with id reuse one of
     * them would have the deleted mailbox's id. Give both messages. */
    CHECK_INT(mailbox_create(u, "dz", 0), 0);
    CHECK_INT(mailbox_create(u, "other", 0), 0);
    struct append_msg m1 = {MSG1, -1, strlen(MSG1), 0, "$New", 0, 0, false, false};
    uint32_t uv;
    for (int i = 0; i < 3; i++) {
        CHECK_INT(mailbox_append_by_name(u, "dz", &m1, &uv, &uid), 0);
        CHECK_INT(mailbox_append_by_name(u, "other", &m1, &uv, &uid), 0);
    }
    CHECK_INT(mailbox_append_commit(t, &uv, &uid, 1), STORAGE_ERR_NOTFOUND);
    CHECK(mailbox_is_deleted(old2));
    /* dz's 2 bodies and the refused append's body are gone, 6 new */
    CHECK_INT(count_files("user/d/deleter/msg"), files - 3 + 6);
    check_all_notfound(old, false);
    check_all_notfound(ro, true);
    /* the new mailboxes are untouched */
    struct mailbox *nb;
    CHECK_INT(mailbox_open(u, "dz", false, false, NULL, &nb), 0);
    CHECK(!mailbox_is_deleted(nb));
    CHECK_STR(uids_of(nb), "1,2,3");
    struct msg_record rec;
    for (uint32_t i = 1; i <= 3; i++) {
        CHECK_INT(mailbox_get_record(nb, i, &rec), 0);
        CHECK_INT(rec.flags, 0);
        CHECK_STR(rec.keywords, "$New");
    }
    char *kw = NULL;
    CHECK_INT(mailbox_get_keywords(nb, &kw), 0);
    CHECK_STR(kw, "$New");
    free(kw);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "INBOX", &info), 0);
    CHECK_INT(info.messages, 0);   /* nothing copied/moved from the stale handle */
    CHECK_INT(mailbox_status(u, "other", &info), 0);
    CHECK_INT(info.messages, 3);
    mailbox_close(nb);
    mailbox_close(old);
    mailbox_close(old2);
    mailbox_close(ro);

    /* Same id, another mailbox (what a recreated store looks like to a
     * connection that outlived it): the MAILBOXID captured at open decides. */
    CHECK_INT(mailbox_open(u, "other", false, false, NULL, &old), 0);
    CHECK(!mailbox_is_deleted(old));
    raw_exec("deleter", "UPDATE mailbox SET mailboxid='F000000000000000000000000' WHERE name='other'");
    check_all_notfound(old, false);
    mailbox_close(old);
    g_problems = 0;
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);
    mail_user_close(u);
}

/* RFC 9051 6.3.6: renaming INBOX moves its messages away; a session with
 * INBOX selected sees them expunged and keeps a valid (empty) INBOX. */
static void test_rename_inbox_selected(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("renamer", true, &u), 0);
    struct mailbox *in;
    CHECK_INT(mailbox_open(u, "INBOX", false, true, NULL, &in), 0);
    uint32_t uid;
    CHECK_INT(append_mem(in, MSG1, 0, NULL, &uid), 0);
    CHECK_INT(append_mem(in, MSG2, MSG_SEEN, NULL, &uid), 0);
    CHECK_INT(mailbox_sync(in, 0, NULL, NULL, NULL, NULL), 0);
    uint64_t ms = mailbox_get_info(in)->highestmodseq;
    int64_t inbox_id = mailbox_get_info(in)->id;
    CHECK_INT(mailbox_rename(u, "INBOX", "moved"), 0);
    struct uidlist gone = {.n = 0}, ch = {.n = 0};
    CHECK_INT(mailbox_sync(in, ms, collect_rec, &ch, collect_uid, &gone), 0);
    CHECK_INT(gone.n, 2);
    CHECK_INT(gone.v[0], 1);
    CHECK_INT(gone.v[1], 2);
    CHECK_INT(ch.n, 0);
    CHECK(!mailbox_is_deleted(in));
    CHECK_INT(mailbox_get_info(in)->messages, 0);
    CHECK_INT(mailbox_get_info(in)->id, inbox_id);
    CHECK_STR(uids_of(in), "");
    struct msg_record rec;
    CHECK_INT(mailbox_get_record(in, 1, &rec), STORAGE_ERR_NOTFOUND);
    CHECK(!mailbox_is_deleted(in));
    /* INBOX keeps working: new mail gets UIDs above the moved ones */
    CHECK_INT(append_mem(in, MSG2, 0, NULL, &uid), 0);
    CHECK_INT(uid, 3);
    struct mailbox *mv;
    CHECK_INT(mailbox_open(u, "moved", true, false, NULL, &mv), 0);
    CHECK_STR(uids_of(mv), "1,2");
    CHECK(mailbox_get_info(mv)->id != inbox_id);
    mailbox_close(mv);
    /* a plain rename keeps the id: the open handle follows the mailbox */
    CHECK_INT(mailbox_open(u, "moved", false, false, NULL, &mv), 0);
    CHECK_INT(mailbox_rename(u, "moved", "moved2"), 0);
    CHECK(!mailbox_is_deleted(mv));
    CHECK_INT(mailbox_sync(mv, 0, NULL, NULL, NULL, NULL), 0);
    CHECK_STR(mailbox_get_info(mv)->name, "moved2");
    CHECK_STR(uids_of(mv), "1,2");
    mailbox_close(mv);
    mailbox_close(in);
    mail_user_close(u);
}

/* A schema 2 store (ids from max(id)+1, no counter) upgraded in place. */
static void test_id_migration(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("migr", true, &u), 0);
    CHECK_INT(mailbox_create(u, "a", 0), 0);
    CHECK_INT(mailbox_create(u, "b", 0), 0);
    CHECK_INT(mailbox_create(u, "c", 0), 0);
    struct append_msg m = {MSG1, -1, strlen(MSG1), MSG_FLAGGED, "$K", 0, 0, false, false};
    uint32_t uv, uid;
    CHECK_INT(mailbox_append_by_name(u, "b", &m, &uv, &uid), 0);
    CHECK_INT(mailbox_append_by_name(u, "c", &m, &uv, &uid), 0);
    int64_t ia = id_of(u, "a"), ib = id_of(u, "b"), ic = id_of(u, "c"), ii = id_of(u, "INBOX");
    struct mailbox_info before;
    CHECK_INT(mailbox_status(u, "c", &before), 0);
    mail_user_close(u);
    raw_exec("migr", "DELETE FROM meta WHERE key='last_mailbox_id'; DROP TABLE quotaroot;"
                     SCHEMA5_UNDO "UPDATE schema_version SET version=2;");
    CHECK_INT(mail_user_open("migr", false, &u), 0);
    sqlite3 *h = raw_db("migr");
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(h, "SELECT (SELECT version FROM schema_version),"
                                "(SELECT value FROM meta WHERE key='last_mailbox_id'),"
                                "(SELECT count(*) FROM sqlite_master WHERE type='index' AND name IN "
                                "('message_modseq','expunged_modseq','blob_dead','message_unseen')),"
                                "(SELECT count(*) FROM pragma_foreign_key_list('message'))",
                             -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);
    CHECK_INT(sqlite3_column_int64(st, 1), ic);
    CHECK_INT(sqlite3_column_int(st, 2), 4);
    CHECK_INT(sqlite3_column_int(st, 3), 1);
    sqlite3_finalize(st);
    sqlite3_close(h);
    CHECK_INT(id_of(u, "a"), ia);
    CHECK_INT(id_of(u, "b"), ib);
    CHECK_INT(id_of(u, "c"), ic);
    CHECK_INT(id_of(u, "INBOX"), ii);
    struct mailbox_info after;
    CHECK_INT(mailbox_status(u, "c", &after), 0);
    CHECK_INT(after.messages, 1);
    CHECK_INT(after.uidvalidity, before.uidvalidity);
    CHECK_STR(after.mailboxid, before.mailboxid);
    CHECK_INT(after.highestmodseq, before.highestmodseq);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "b", false, false, NULL, &mb), 0);
    CHECK_STR(uids_of(mb), "1");
    struct msg_record rec;
    CHECK_INT(mailbox_get_record(mb, 1, &rec), 0);
    CHECK_INT(rec.flags, MSG_FLAGGED);
    CHECK_STR(rec.keywords, "$K");
    struct msg_content mc;
    CHECK_INT(mailbox_get_content(mb, 1, &mc), 0);
    CHECK(mc.len == strlen(MSG1) && memcmp(mc.data, MSG1, mc.len) == 0);
    msg_content_release(&mc);
    mailbox_close(mb);
    /* c is the newest: after the migration its id is not handed out again */
    CHECK_INT(mailbox_open(u, "c", false, false, NULL, &mb), 0);
    CHECK_INT(mailbox_delete(u, "c"), 0);
    CHECK_INT(mailbox_create(u, "e", 0), 0);
    CHECK(id_of(u, "e") > ic);
    check_all_notfound(mb, false);
    mailbox_close(mb);
    g_problems = 0;
    CHECK_INT(mail_user_check(u, false, problem_cb, NULL), 0);
    mail_user_close(u);
}

/* ---- \Recent claims by selected sessions --------------------------------- */

static uint32_t watermark_of(const char *user, const char *mailbox)
{
    sqlite3 *h = raw_db(user);
    sqlite3_stmt *st;
    uint32_t v = 0;
    CHECK(sqlite3_prepare_v2(h, "SELECT recent_uid FROM mailbox WHERE name=?", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void test_claim_recent(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("claimer", true, &u), 0);
    CHECK_INT(mailbox_create(u, "cr", 0), 0);
    struct mailbox *a, *b, *ro;
    uint32_t fa = 9, fb = 9, f, hi;
    CHECK_INT(mailbox_open(u, "cr", false, true, &fa, &a), 0);
    CHECK_INT(mailbox_open(u, "cr", false, true, &fb, &b), 0);
    CHECK_INT(mailbox_open(u, "cr", true, false, NULL, &ro), 0);
    CHECK_INT(fa, 0);
    CHECK_INT(fb, 0);
    uint32_t uid;
    for (int i = 0; i < 3; i++)
        CHECK_INT(append_mem(a, MSG2, 0, NULL, &uid), 0);
    /* EXAMINE never claims */
    f = hi = 9;
    CHECK_INT(mailbox_claim_recent(ro, &f, &hi), 0);
    CHECK_INT(f, 0);
    CHECK_INT(hi, 0);
    CHECK_INT(watermark_of("claimer", "cr"), 0);
    /* the first session to look gets them, the other nothing */
    CHECK_INT(mailbox_claim_recent(b, &f, &hi), 0);
    CHECK_INT(f, 0);
    CHECK_INT(hi, 3);
    CHECK_INT(mailbox_claim_recent(a, &f, &hi), 0);
    CHECK(f == hi);
    CHECK_INT(watermark_of("claimer", "cr"), 3);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "cr", &info), 0);
    CHECK_INT(info.recent, 0);
    CHECK_INT(append_mem(b, MSG2, 0, NULL, &uid), 0);
    CHECK_INT(append_mem(b, MSG2, 0, NULL, &uid), 0);
    CHECK_INT(mailbox_claim_recent(a, &f, &hi), 0);
    CHECK_INT(f, 3);
    CHECK_INT(hi, 5);
    CHECK_INT(mailbox_claim_recent(b, NULL, NULL), 0);
    CHECK_INT(watermark_of("claimer", "cr"), 5);

    /* Nothing new: no write transaction at all, so another connection
     * holding the write lock must not make us wait (busy_timeout is 5 s;
     * a write attempt would come back BUSY after it). */
    sqlite3 *h = raw_db("claimer");
    sqlite3_busy_timeout(h, 0);
    CHECK(sqlite3_exec(h, "BEGIN IMMEDIATE; UPDATE meta SET value=value WHERE key='x';", NULL, NULL, NULL) ==
          SQLITE_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    f = hi = 0;
    CHECK_INT(mailbox_claim_recent(a, &f, &hi), 0);
    CHECK_INT(f, 5);
    CHECK_INT(hi, 5);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(secs < 1.0);
    CHECK(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);

    /* Racing claimers in two processes, each appending and claiming: every
     * UID is claimed by exactly one of them. */
    enum { ROUNDS = 40 };
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        struct mail_user *cu;
        struct mailbox *cm;
        int ok = storage_init(g_dir) == 0 && mail_user_open("claimer", false, &cu) == 0 &&
                 mailbox_open(cu, "cr", false, false, NULL, &cm) == 0;
        struct append_msg m = {MSG2, -1, strlen(MSG2), 0, NULL, 0, 0, false, false};
        for (int i = 0; ok && i < ROUNDS; i++) {
            uint32_t uv2, u2, r[2];
            ok = mailbox_append_by_name(cu, "cr", &m, &uv2, &u2) == 0 &&
                 mailbox_claim_recent(cm, &r[0], &r[1]) == 0 && write(pfd[1], r, sizeof(r)) == sizeof(r);
        }
        _exit(ok ? 0 : 1);
    }
    close(pfd[1]);
    static uint32_t pr[ROUNDS + 1][2];
    for (int i = 0; i < ROUNDS; i++) {
        CHECK_INT(append_mem(a, MSG2, 0, NULL, &uid), 0);
        CHECK_INT(mailbox_claim_recent(a, &pr[i][0], &pr[i][1]), 0);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(mailbox_claim_recent(a, &pr[ROUNDS][0], &pr[ROUNDS][1]), 0);   /* anything left */
    static uint8_t owner[5 + 2 * ROUNDS + 1];
    memset(owner, 0, sizeof(owner));
    bool overlap = false, bad = false;
    for (int i = 0; i <= ROUNDS; i++) {
        if (pr[i][0] > pr[i][1] || pr[i][1] > 5 + 2 * ROUNDS)
            bad = true;
        for (uint32_t x = pr[i][0] + 1; !bad && x <= pr[i][1]; x++) {
            overlap |= owner[x] != 0;
            owner[x] = 1;
        }
    }
    uint32_t r[2];
    ssize_t got;
    while ((got = read(pfd[0], r, sizeof(r))) == (ssize_t)sizeof(r)) {
        if (r[0] > r[1] || r[1] > 5 + 2 * ROUNDS) {
            bad = true;
            continue;
        }
        for (uint32_t x = r[0] + 1; x <= r[1]; x++) {
            overlap |= owner[x] != 0;
            owner[x] = 2;
        }
    }
    close(pfd[0]);
    CHECK(!bad);
    CHECK(!overlap);
    int unclaimed = 0;
    for (uint32_t x = 6; x <= 5 + 2 * ROUNDS; x++)
        unclaimed += owner[x] == 0;
    CHECK_INT(unclaimed, 0);
    CHECK_INT(watermark_of("claimer", "cr"), 5 + 2 * ROUNDS);

    /* a claim on a deleted mailbox */
    CHECK_INT(mailbox_delete(u, "cr"), 0);
    CHECK_INT(mailbox_claim_recent(a, &f, &hi), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_claim_recent(ro, &f, &hi), 0);   /* EXAMINE: never touches the database */
    mailbox_close(a);
    mailbox_close(b);
    mailbox_close(ro);
    mail_user_close(u);
}

/* Every cached field is bounded (issue 9 item 5): a 1 MB folded From
 * gives a bounded ENVELOPE, and a header block longer than
 * STORAGE_HEADER_CACHE_MAX is not copied into the database (header NULL:
 * readers take it from the file), also after a copy to another store. */
static void test_cache_bounds(void)
{
    struct mail_user *u = open_user();
    CHECK_INT(mailbox_create(u, "cb", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "cb", false, false, NULL, &mb), 0);
    struct buf m = BUF_INIT;
    buf_puts(&m, "From: ");
    while (m.len < (1u << 20)) {
        for (int k = 0; k < 450; k++)
            buf_puts(&m, "a,");
        buf_puts(&m, "\r\n ");
    }
    buf_puts(&m, "b\r\nSubject: big\r\n\r\nbody\r\n");
    uint32_t uid = 0, small = 0;
    CHECK_INT(append_mem(mb, buf_cstr(&m), 0, NULL, &uid), 0);
    CHECK_INT(append_mem(mb, MSG1, 0, NULL, &small), 0);
    struct msg_cache mc;
    CHECK_INT(mailbox_get_cache(mb, uid, &mc), 0);
    CHECK(mc.header == NULL && mc.header_len == 0);
    CHECK(mc.envelope && strlen(mc.envelope) < 512 * 1024);
    CHECK(mc.envelope && strstr(mc.envelope, "\"big\""));
    CHECK(mc.bodystructure && strlen(mc.bodystructure) < 1024);
    msg_cache_free(&mc);
    CHECK_INT(mailbox_get_cache(mb, small, &mc), 0);
    CHECK(mc.header && mc.header_len == (size_t)(strstr(MSG1, "\r\n\r\n") - MSG1 + 4));
    msg_cache_free(&mc);
    /* The database row holds no copy of the big header. */
    CHECK_INT(raw_int("tester", "SELECT count(*) FROM blob WHERE header IS NULL"), 1);
    CHECK(raw_int("tester", "SELECT max(length(header)) FROM blob") < STORAGE_HEADER_CACHE_MAX);

    /* Cross-store copy keeps "not cached" (and the small one cached). */
    struct mail_user *d = NULL;
    CHECK_INT(mail_user_open("cbdest", true, &d), 0);
    CHECK_INT(mailbox_create(d, "in", 0), 0);
    uint32_t uids[] = {uid, small}, su[2], du[2], uv;
    size_t nc = 0;
    CHECK_INT(mailbox_copy_to(mb, uids, 2, d, "in", false, &uv, su, du, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 2);
    struct mailbox *dm;
    CHECK_INT(mailbox_open(d, "in", false, false, NULL, &dm), 0);
    CHECK_INT(mailbox_get_cache(dm, du[0], &mc), 0);
    CHECK(mc.header == NULL);
    msg_cache_free(&mc);
    CHECK_INT(mailbox_get_cache(dm, du[1], &mc), 0);
    CHECK(mc.header && mc.header_len > 0);
    msg_cache_free(&mc);
    mailbox_close(dm);
    mail_user_close(d);
    mailbox_close(mb);
    mail_user_close(u);
    buf_free(&m);
}

/* ---- header data for SEARCH (hdrfields, schema 6) ------------------------ */

static const char HF_A[] = "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\r\n"
                           "To: a@example.com, b@example.com\r\n"
                           "To: c@example.com\r\n"
                           "Subject: =?ISO-8859-1?Q?Caf=E9?=\r\n au lait\r\n"
                           "\r\nbody\r\n";

/* A message whose header is too long to be cached (only its file has it). */
static char *hf_big_header_msg(const char *subject)
{
    struct buf m = BUF_INIT;
    buf_printf(&m, "Subject: %s\r\n", subject);
    while (m.len < STORAGE_HEADER_CACHE_MAX + 4096)
        buf_puts(&m, "X-Pad: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
    buf_puts(&m, "Cc: padded@example.com\r\n\r\nbody\r\n");
    return buf_release(&m);
}

/* The hfields a message should have: built from its whole header. */
static bool hf_is(const struct msg_search_hdr *h, const char *msg)
{
    struct buf want = BUF_INIT;
    mime_hfields_build(&want, msg, mime_header_length(msg, strlen(msg)));
    bool ok = h->hfields && h->hfields_len == want.len && memcmp(h->hfields, want.data, want.len) == 0;
    buf_free(&want);
    return ok;
}

static bool hf_header_is(const struct msg_search_hdr *h, const char *msg)
{
    size_t hl = mime_header_length(msg, strlen(msg));
    return h->header && h->header_len == hl && memcmp(h->header, msg, hl) == 0;
}

static const char *hf_path(const char *user, const char *guid)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/user/%c/%s/msg/%c%c/%s", g_dir, user[0], user, guid[0], guid[1], guid);
    return path;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- sort keys for SORT and THREAD (sortkeys, schema 9) ------------------ */

struct sk_seen {
    uint32_t uid[8];
    struct buf rec[8];
    size_t n;
};

static void sk_cb(void *arg, uint32_t uid, const char *rec, size_t len)
{
    struct sk_seen *x = arg;
    if (x->n < 8) {
        x->uid[x->n] = uid;
        buf_init(&x->rec[x->n]);
        buf_append(&x->rec[x->n], rec, len);
        x->n++;
    }
}

static void sk_reset(struct sk_seen *x)
{
    for (size_t i = 0; i < x->n; i++)
        buf_free(&x->rec[i]);
    x->n = 0;
}

static bool sk_is(const struct buf *rec, const char *msg)
{
    struct buf want = BUF_INIT;
    mime_sortkeys_build(&want, msg, mime_header_length(msg, strlen(msg)));
    bool ok = rec->len == want.len && memcmp(rec->data, want.data, want.len) == 0;
    buf_free(&want);
    return ok;
}

static void test_sort_keys(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("sku", true, &u), 0);
    CHECK_INT(mailbox_create(u, "sk", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "sk", false, false, NULL, &mb), 0);
    char *big = hf_big_header_msg("Re: big one");
    uint32_t ua = 0, ub = 0, uc = 0;
    CHECK_INT(append_mem(mb, HF_A, 0, NULL, &ua), 0);
    CHECK_INT(append_mem(mb, MSG2, 0, NULL, &ub), 0);
    CHECK_INT(append_mem(mb, big, 0, NULL, &uc), 0);
    /* written at append time, one row per blob */
    CHECK_INT(raw_int("sku", "SELECT count(*) FROM sortkeys"), 3);
    struct sk_seen x = {.n = 0};
    uint32_t uids[] = {ua, ub, uc, uc + 10};
    CHECK_INT(mailbox_sort_keys(mb, uids, 4, sk_cb, &x), 0);
    CHECK_INT(x.n, 3);   /* no such message: skipped */
    CHECK(x.uid[0] == ua && x.uid[2] == uc);
    CHECK(sk_is(&x.rec[0], HF_A) && sk_is(&x.rec[1], MSG2) && sk_is(&x.rec[2], big));
    sk_reset(&x);
    CHECK_INT(mailbox_sort_keys(mb, (uint32_t[]){2, 1}, 2, sk_cb, &x), STORAGE_ERR_INVALID);

    /* Stored before schema 9 (or another format): built on first use -
     * the big header from its file - and saved. */
    raw_exec("sku", "DELETE FROM sortkeys");
    raw_exec("sku", "INSERT INTO sortkeys SELECT guid, x'7f00' FROM blob LIMIT 1");
    CHECK_INT(mailbox_sort_keys(mb, uids, 3, sk_cb, &x), 0);
    CHECK_INT(x.n, 3);
    CHECK(sk_is(&x.rec[0], HF_A) && sk_is(&x.rec[1], MSG2) && sk_is(&x.rec[2], big));
    sk_reset(&x);
    CHECK_INT(raw_int("sku", "SELECT count(*) FROM sortkeys WHERE hex(substr(data,1,1))='01'"), 3);

    /* it goes with the blob's last reference */
    expunge_uids(mb, uids, 3);
    CHECK_INT(raw_int("sku", "SELECT count(*) FROM sortkeys"), 0);
    free(big);
    mailbox_close(mb);
    mail_user_close(u);
}

static void test_search_headers(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("hfu", true, &u), 0);
    CHECK_INT(mailbox_create(u, "hf", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "hf", false, false, NULL, &mb), 0);
    char *big = hf_big_header_msg("big one");
    uint32_t ua = 0, ub = 0, uc = 0;
    CHECK_INT(append_mem(mb, HF_A, 0, NULL, &ua), 0);
    CHECK_INT(append_mem(mb, MSG2, 0, NULL, &ub), 0);
    CHECK_INT(append_mem(mb, big, 0, NULL, &uc), 0);
    /* appended: one row per blob, written with it */
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields"), 3);

    struct search_hdr_batch b = {0};
    uint32_t uids[] = {ua, ub, uc, uc + 10};
    CHECK_INT(mailbox_search_headers(mb, uids, 4, SEARCH_HDR_FIELDS | SEARCH_HDR_RAW, &b), 4);
    CHECK_INT(b.n, 4);
    CHECK_INT(b.v[0].uid, ua);
    CHECK_INT(b.v[2].uid, uc);
    CHECK_INT(b.v[3].uid, 0);                /* no such message */
    CHECK(hf_is(&b.v[0], HF_A) && hf_is(&b.v[1], MSG2) && hf_is(&b.v[2], big));
    CHECK(hf_header_is(&b.v[0], HF_A) && hf_header_is(&b.v[1], MSG2));
    CHECK(b.v[2].header == NULL);            /* not cached: too long */
    CHECK_INT(mailbox_search_headers(mb, uids + 1, 2, SEARCH_HDR_FIELDS, &b), 2);
    CHECK(b.v[0].header == NULL && hf_is(&b.v[0], MSG2) && hf_is(&b.v[1], big));
    CHECK_INT(mailbox_search_headers(mb, uids, 1, SEARCH_HDR_RAW, &b), 1);
    CHECK(b.v[0].hfields == NULL && hf_header_is(&b.v[0], HF_A));
    CHECK_INT(mailbox_search_headers(mb, uids, 0, SEARCH_HDR_RAW, &b), 0);
    CHECK_INT(mailbox_search_headers(mb, (uint32_t[]){2, 1}, 2, SEARCH_HDR_RAW, &b), STORAGE_ERR_INVALID);
    CHECK_INT(mailbox_search_headers(mb, uids, 1, 0, &b), STORAGE_ERR_INVALID);

    /* Messages stored before schema 6: decoded on first use (the big
     * header from its file, this once) and saved. */
    raw_exec("hfu", "DELETE FROM hdrfields");
    CHECK_INT(mailbox_search_headers(mb, uids, 3, SEARCH_HDR_FIELDS, &b), 3);
    CHECK(hf_is(&b.v[0], HF_A) && hf_is(&b.v[1], MSG2) && hf_is(&b.v[2], big));
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields"), 3);
    /* From now on the message files are not needed. */
    char guid[3][33];
    for (int i = 0; i < 3; i++) {
        struct msg_record rec;
        CHECK_INT(mailbox_get_record(mb, uids[i], &rec), 0);
        snprintf(guid[i], 33, "%s", rec.guid);
    }
    for (int i = 0; i < 3; i++)
        CHECK_INT(unlink(hf_path("hfu", guid[i])), 0);
    struct msg_content c;
    CHECK(mailbox_get_content(mb, uc, &c) < 0);
    CHECK_INT(mailbox_search_headers(mb, uids, 3, SEARCH_HDR_FIELDS, &b), 3);
    CHECK(hf_is(&b.v[0], HF_A) && hf_is(&b.v[1], MSG2) && hf_is(&b.v[2], big));

    /* Another format (the older 0x01, without the parsed addresses, or damage)
     * counts as absent: rebuilt from the cached header and rewritten. */
    raw_exec("hfu", "UPDATE hdrfields SET data=x'01' WHERE guid IN (SELECT guid FROM message WHERE uid<=2 AND "
                    "mailbox_id=(SELECT id FROM mailbox WHERE name='hf'))");
    CHECK_INT(mailbox_search_headers(mb, uids, 2, SEARCH_HDR_FIELDS, &b), 2);
    CHECK(hf_is(&b.v[0], HF_A) && hf_is(&b.v[1], MSG2));
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields WHERE hex(substr(data,1,1))='02'"), 3);

    /* A lazy fill never waits for another writer's lock, never fails the
     * search, and is saved by a later search. */
    raw_exec("hfu", "DELETE FROM hdrfields");
    sqlite3 *h = raw_db("hfu");
    CHECK(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    double t0 = now_s();
    CHECK_INT(mailbox_search_headers(mb, uids, 2, SEARCH_HDR_FIELDS, &b), 2);
    CHECK(now_s() - t0 < 2.5);   /* the busy timeout is 5 s */
    CHECK(hf_is(&b.v[0], HF_A) && hf_is(&b.v[1], MSG2));
    CHECK(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields"), 0);
    CHECK_INT(mailbox_search_headers(mb, uids, 2, SEARCH_HDR_FIELDS, &b), 2);
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields"), 2);
    /* The big one has neither a cached header nor a file any more: no
     * hfields (the caller's fallback fails as FETCH would), no error. */
    CHECK_INT(mailbox_search_headers(mb, uids, 3, SEARCH_HDR_FIELDS, &b), 3);
    CHECK(b.v[2].uid == uc && b.v[2].hfields == NULL);
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields"), 2);

    /* COPY shares the row; it goes with the blob's last reference. */
    uint32_t uv, src[1], dst[1];
    size_t nc = 0;
    CHECK_INT(mailbox_copy(mb, &ua, 1, "INBOX", false, &uv, src, dst, &nc, NULL, NULL), 0);
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields"), 2);
    expunge_uids(mb, &ua, 1);
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields"), 2);
    struct mailbox *inbox;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &inbox), 0);
    CHECK_INT(mailbox_search_headers(inbox, dst, 1, SEARCH_HDR_FIELDS, &b), 1);
    CHECK(hf_is(&b.v[0], HF_A));
    expunge_uids(inbox, dst, 1);
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields"), 1);
    mailbox_close(inbox);
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields WHERE guid NOT IN (SELECT guid FROM blob)"), 0);
    /* one that is there anyway: reported by the check, removed by a fix */
    raw_exec("hfu", "INSERT INTO hdrfields(guid,data) VALUES('00000000000000000000000000000000',x'01')");
    g_problems = 0;
    CHECK(mail_user_check(u, false, problem_cb, NULL) >= 1);
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields WHERE guid NOT IN (SELECT guid FROM blob)"), 1);
    CHECK(mail_user_check(u, true, problem_cb, NULL) >= 1);
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields WHERE guid NOT IN (SELECT guid FROM blob)"), 0);

    /* A copy into another store carries the row along. */
    uint32_t ud = 0;
    CHECK_INT(append_mem(mb, HF_A, 0, NULL, &ud), 0);
    struct mail_user *v = NULL;
    CHECK_INT(mail_user_open("hfv", true, &v), 0);
    CHECK_INT(mailbox_copy_to(mb, &ud, 1, v, "INBOX", false, &uv, src, dst, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 1);
    CHECK_INT(raw_int("hfv", "SELECT count(*) FROM hdrfields"), 1);
    CHECK_INT(raw_int("hfv", "SELECT count(*) FROM hdrfields h JOIN blob b ON b.guid=h.guid"), 1);
    struct mailbox *vin;
    CHECK_INT(mailbox_open(v, "INBOX", false, false, NULL, &vin), 0);
    CHECK_INT(mailbox_search_headers(vin, dst, 1, SEARCH_HDR_FIELDS | SEARCH_HDR_RAW, &b), 1);
    CHECK(hf_is(&b.v[0], HF_A) && hf_header_is(&b.v[0], HF_A));
    mailbox_close(vin);
    mail_user_close(v);

    /* A batch stops at a few MB; the rest comes with the next call. */
    struct buf m = BUF_INIT;
    buf_puts(&m, "Subject: wide\r\n");
    while (m.len < STORAGE_HEADER_CACHE_MAX - 1024)
        buf_puts(&m, "X-Wide: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
    buf_puts(&m, "\r\nbody\r\n");
    CHECK_INT(mailbox_create(u, "wide", 0), 0);
    struct mailbox *wb;
    CHECK_INT(mailbox_open(u, "wide", false, false, NULL, &wb), 0);
    uint32_t wu[100];
    for (int i = 0; i < 100; i++)
        CHECK_INT(append_mem(wb, buf_cstr(&m), 0, NULL, &wu[i]), 0);
    size_t done = 0, calls = 0;
    bool all_ok = true;
    while (done < 100) {
        int k = mailbox_search_headers(wb, wu + done, 100 - done, SEARCH_HDR_FIELDS | SEARCH_HDR_RAW, &b);
        CHECK(k >= 1);
        if (k < 1)
            break;
        for (int j = 0; j < k; j++)
            all_ok = all_ok && b.v[j].uid == wu[done + j] && hf_is(&b.v[j], buf_cstr(&m)) &&
                     hf_header_is(&b.v[j], buf_cstr(&m));
        done += (size_t)k;
        calls++;
    }
    CHECK(all_ok);
    CHECK(calls >= 2);
    CHECK(b.memcap <= ((size_t)8 << 20));
    mailbox_close(wb);
    buf_free(&m);

    /* The same for the values decoded on first use (about 60 KB each). */
    buf_puts(&m, "Subject:");
    while (m.len < MIME_HFIELDS_MAX - 4096)
        buf_puts(&m, " a folded subject that goes on and on and on and on and on and on\r\n");
    buf_puts(&m, "\r\nbody\r\n");
    CHECK_INT(mailbox_create(u, "wsubj", 0), 0);
    CHECK_INT(mailbox_open(u, "wsubj", false, false, NULL, &wb), 0);
    for (int i = 0; i < 100; i++)
        CHECK_INT(append_mem(wb, buf_cstr(&m), 0, NULL, &wu[i]), 0);
    for (int i = 0; i < 50; i++)
        CHECK_INT(append_mem(wb, buf_cstr(&m), 0, NULL, &wu[i]), 0);
    uint32_t *all = NULL, nall = 0;
    CHECK_INT(mailbox_get_uids(wb, &all, &nall), 0);
    CHECK_INT(nall, 150);
    raw_exec("hfu", "DELETE FROM hdrfields");
    done = calls = 0;
    all_ok = true;
    while (done < nall) {
        int k = mailbox_search_headers(wb, all + done, nall - done, SEARCH_HDR_FIELDS, &b);
        CHECK(k >= 1);
        if (k < 1)
            break;
        for (int j = 0; j < k; j++)
            all_ok = all_ok && b.v[j].uid == all[done + j] && hf_is(&b.v[j], buf_cstr(&m));
        done += (size_t)k;
        calls++;
    }
    CHECK(all_ok);
    CHECK(calls >= 2);
    CHECK(b.memcap <= ((size_t)16 << 20));
    CHECK_INT(raw_int("hfu", "SELECT count(*) FROM hdrfields h JOIN message m ON m.guid=h.guid JOIN mailbox x ON "
                             "x.id=m.mailbox_id WHERE x.name='wsubj'"),
              150);
    free(all);
    mailbox_close(wb);
    buf_free(&m);

    /* a deleted mailbox */
    mailbox_close(mb);
    CHECK_INT(mailbox_open(u, "hf", false, false, NULL, &mb), 0);
    CHECK_INT(mailbox_delete(u, "hf"), 0);
    CHECK_INT(mailbox_search_headers(mb, uids, 2, SEARCH_HDR_FIELDS, &b), STORAGE_ERR_NOTFOUND);
    mailbox_close(mb);
    search_hdr_batch_free(&b);
    free(big);
    g_problems = 0;
    int pr = mail_user_check(u, false, problem_cb, NULL);
    CHECK(pr >= 0);
    mail_user_close(u);
}

int main(void)
{
    if (store_harness_init("test-storage") != 0)
        return 2;
    RUN(test_mailboxes);
    RUN(test_append_read);
    RUN(test_multiappend_abort);
    RUN(test_store);
    RUN(test_expunge_vanished);
    RUN(test_copy_move);
    RUN(test_recent);
    RUN(test_reopen);
    RUN(test_notify);
    RUN(test_notify_lost_marker);
    RUN(test_other_process);
    RUN(test_nested);
    RUN(test_bulk);
    RUN(test_concurrent_appends);
    RUN(test_check);
    RUN(test_uidranges);
    RUN(test_uidranges_check);
    RUN(test_uidranges_random);
    RUN(test_uidranges_migration);
    RUN(test_delete_store);
    RUN(test_id_no_reuse);
    RUN(test_deleted_handle);
    RUN(test_rename_inbox_selected);
    RUN(test_id_migration);
    RUN(test_claim_recent);
    RUN(test_cache_bounds);
    RUN(test_search_headers);
    RUN(test_sort_keys);
    storage_shutdown();
    return unit_done();
}
