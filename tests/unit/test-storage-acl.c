/* test-storage-acl.c - storage for the multi-user store (issue 3): schema 5
 * upgrade, ACL text and sharedseen, mail_user_is_new, per-reader \Seen
 * (mailbox_open_as / mailbox_status_as) and copy/move between stores
 * (mailbox_copy_to), including the EXDEV copy fallback of msgfile.c. */
#include "unit.h"
#include "store-harness.h"
#include "storage.h"
#include "storage-private.h"   /* msgfile_test_exdev */
#include "notify.h"
#include "log.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <sys/mount.h>

static const char MSG1[] = "From: a@example.com\r\nSubject: one\r\n\r\nbody 1\r\n";
static const char MSG2[] = "Subject: two\r\n\r\nsecond body\r\n";

static struct mail_user *open_user(const char *name)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open(name, true, &u), 0);
    return u;
}

static uint32_t append(struct mail_user *u, const char *mbox, const char *data, uint32_t flags)
{
    struct append_msg m = {data, -1, strlen(data), flags, NULL, 0, 0, false, false};
    uint32_t uv = 0, uid = 0;
    CHECK_INT(mailbox_append_by_name(u, mbox, &m, &uv, &uid), 0);
    return uid;
}

static uint32_t flags_of(struct mailbox *mb, uint32_t uid)
{
    struct msg_record rec;
    int r = mailbox_get_record(mb, uid, &rec);
    CHECK_INT(r, 0);
    return r == 0 ? rec.flags : 0xffffffffu;
}

static void problem_cb(const char *p, void *arg)
{
    (void)arg;
    fprintf(stderr, "check: %s\n", p);
}

static struct { char user[64]; int64_t id; int n; } g_nt;
static void nt_cb(const char *user, int64_t id, void *arg)
{
    (void)arg;
    snprintf(g_nt.user, sizeof(g_nt.user), "%s", user);
    g_nt.id = id;
    g_nt.n++;
}

/* ---- schema 4 -> 5 ------------------------------------------------------- */

static void test_upgrade_v4(void)
{
    struct mail_user *u = open_user("old");
    CHECK_INT(mailbox_create(u, "box", 0), 0);
    uint32_t uid = append(u, "box", MSG1, MSG_FLAGGED);
    struct mailbox_info before;
    CHECK_INT(mailbox_status(u, "box", &before), 0);
    mail_user_close(u);
    raw_exec("old", "DROP TABLE hdrfields; DROP TABLE seen; ALTER TABLE mailbox DROP COLUMN acl; ALTER TABLE mailbox DROP COLUMN sharedseen;"
                    "UPDATE schema_version SET version=4;");
    CHECK_INT(raw_int("old", "SELECT count(*) FROM pragma_table_info('mailbox') WHERE name='acl'"), 0);
    CHECK_INT(mail_user_open("old", false, &u), 0);
    CHECK(!mail_user_is_new(u));
    CHECK_INT(raw_int("old", "SELECT version FROM schema_version"), 6);
    CHECK_INT(raw_int("old", "SELECT count(*) FROM sqlite_master WHERE name IN ('seen','seen_uid')"), 2);
    struct mailbox_info after;
    CHECK_INT(mailbox_status(u, "box", &after), 0);
    CHECK_STR(after.acl, "");
    CHECK(!after.sharedseen);
    CHECK_INT(after.messages, 1);
    CHECK_INT(after.uidvalidity, before.uidvalidity);
    CHECK_INT(after.highestmodseq, before.highestmodseq);
    CHECK_STR(after.mailboxid, before.mailboxid);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "box", false, false, NULL, &mb), 0);
    CHECK_INT(flags_of(mb, uid), MSG_FLAGGED);
    mailbox_close(mb);
    CHECK_INT(mailbox_set_acl(u, "box", "bob\tlr"), 0);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    mail_user_close(u);
}

/* ---- ACL text, sharedseen, is_new ---------------------------------------- */

static void test_acl(void)
{
    int fd = notify_listener_open();
    CHECK(fd >= 0);
    struct mail_user *u = open_user("owner");
    CHECK(mail_user_is_new(u));
    mail_user_clear_new(u);
    CHECK(!mail_user_is_new(u));
    char acl[STORAGE_MAX_ACL + 1];
    CHECK_INT(mailbox_get_acl(u, "INBOX", acl), 0);
    CHECK_STR(acl, "");
    /* mailbox_create keeps working: empty ACL */
    CHECK_INT(mailbox_create(u, "plain", 0), 0);
    CHECK_INT(mailbox_get_acl(u, "plain", acl), 0);
    CHECK_STR(acl, "");
    CHECK_INT(mailbox_create_acl(u, "shared", SPECIAL_ARCHIVE, "owner\tlrswipkxtecda\tanyone\tlr"), 0);
    CHECK_INT(mailbox_create_acl(u, "shared", 0, "x"), STORAGE_ERR_EXISTS);
    CHECK_INT(mailbox_create_acl(u, "nullacl", 0, NULL), 0);
    CHECK_INT(mailbox_get_acl(u, "nullacl", acl), 0);
    CHECK_STR(acl, "");
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "shared", &info), 0);
    CHECK_STR(info.acl, "owner\tlrswipkxtecda\tanyone\tlr");
    CHECK_INT(info.special_use, SPECIAL_ARCHIVE);
    CHECK(!info.sharedseen);
    /* set: notified, nothing else changes */
    uint64_t ms = info.highestmodseq;
    g_nt.n = 0;
    notify_listener_read(fd, nt_cb, NULL);   /* drain */
    g_nt.n = 0;
    CHECK_INT(mailbox_set_acl(u, "shared", "bob\tlrs"), 0);
    notify_listener_read(fd, nt_cb, NULL);
    CHECK_INT(g_nt.n, 1);
    CHECK_STR(g_nt.user, "owner");
    CHECK_INT(g_nt.id, info.id);
    CHECK_INT(mailbox_status(u, "shared", &info), 0);
    CHECK_STR(info.acl, "bob\tlrs");
    CHECK_INT(info.highestmodseq, ms);
    /* limits */
    char *big = malloc(STORAGE_MAX_ACL + 2);
    memset(big, 'a', STORAGE_MAX_ACL + 1);
    big[STORAGE_MAX_ACL + 1] = '\0';
    CHECK_INT(mailbox_set_acl(u, "shared", big), STORAGE_ERR_INVALID);
    CHECK_INT(mailbox_create_acl(u, "toobig", 0, big), STORAGE_ERR_INVALID);
    CHECK_INT(mailbox_status(u, "toobig", &info), STORAGE_ERR_NOTFOUND);
    big[STORAGE_MAX_ACL] = '\0';
    CHECK_INT(mailbox_set_acl(u, "shared", big), 0);
    CHECK_INT(mailbox_get_acl(u, "shared", acl), 0);
    CHECK_INT(strlen(acl), STORAGE_MAX_ACL);
    CHECK_INT(mailbox_status(u, "shared", &info), 0);
    CHECK_INT(strlen(info.acl), STORAGE_MAX_ACL);
    free(big);
    CHECK_INT(mailbox_set_acl(u, "shared", "bob\tlrs"), 0);
    CHECK_INT(mailbox_set_acl(u, "nosuch", "x"), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_get_acl(u, "nosuch", acl), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_set_sharedseen(u, "nosuch", true), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_set_acl(u, "", "x"), STORAGE_ERR_NOTFOUND);
    /* rename keeps the ACL, children too */
    CHECK_INT(mailbox_create_acl(u, "shared/child", 0, "carol\tl"), 0);
    CHECK_INT(mailbox_rename(u, "shared", "board"), 0);
    CHECK_INT(mailbox_get_acl(u, "board", acl), 0);
    CHECK_STR(acl, "bob\tlrs");
    CHECK_INT(mailbox_get_acl(u, "board/child", acl), 0);
    CHECK_STR(acl, "carol\tl");
    /* INBOX rename: the new mailbox takes INBOX's ACL */
    CHECK_INT(mailbox_set_acl(u, "INBOX", "dave\tlr"), 0);
    append(u, "INBOX", MSG1, 0);
    CHECK_INT(mailbox_rename(u, "INBOX", "oldinbox"), 0);
    CHECK_INT(mailbox_get_acl(u, "oldinbox", acl), 0);
    CHECK_STR(acl, "dave\tlr");
    /* sharedseen */
    notify_listener_read(fd, nt_cb, NULL);   /* drain */
    g_nt.n = 0;
    CHECK_INT(mailbox_set_sharedseen(u, "board", true), 0);
    notify_listener_read(fd, nt_cb, NULL);
    CHECK_INT(g_nt.n, 1);
    CHECK_INT(mailbox_status(u, "board", &info), 0);
    CHECK(info.sharedseen);
    CHECK_INT(mailbox_set_sharedseen(u, "board", false), 0);
    CHECK_INT(mailbox_status(u, "board", &info), 0);
    CHECK(!info.sharedseen);
    /* an open handle's info does not carry the ACL (mailbox_info.acl);
     * mailbox_get_acl and mailbox_status do */
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "board", true, false, NULL, &mb), 0);
    CHECK_STR(mailbox_get_info(mb)->acl, "");
    mailbox_close(mb);
    CHECK_INT(mailbox_status(u, "board", &info), 0);
    CHECK_STR(info.acl, "bob\tlrs");
    mail_user_close(u);
    /* reopened (not created): not new */
    CHECK_INT(mail_user_open("owner", true, &u), 0);
    CHECK(!mail_user_is_new(u));
    mail_user_close(u);
    CHECK_INT(mail_user_open("owner", false, &u), 0);
    CHECK(!mail_user_is_new(u));
    mail_user_close(u);
    notify_listener_close();
}

static void acl_list_cb(const struct mailbox_info *i, void *arg)
{
    int *n = arg;
    if (strcmp(i->name, "board/child") == 0 && strcmp(i->acl, "carol\tl") == 0)
        (*n)++;
}

static void test_acl_list(void)
{
    struct mail_user *u = open_user("owner");
    int n = 0;
    CHECK_INT(mailbox_list(u, acl_list_cb, &n), 0);
    CHECK_INT(n, 1);
    mail_user_close(u);
}

/* ---- per-reader \Seen ----------------------------------------------------- */

struct recs { uint32_t uid[16]; uint32_t flags[16]; uint64_t modseq[16]; int n; };
static int rec_cb(const struct msg_record *r, void *arg)
{
    struct recs *c = arg;
    if (c->n < 16) {
        c->uid[c->n] = r->uid;
        c->flags[c->n] = r->flags;
        c->modseq[c->n] = r->modseq;
        c->n++;
    }
    return 0;
}

static int store_seen(struct mailbox *mb, uint32_t uid, enum store_mode mode, struct recs *changed)
{
    struct store_req req = {mode, MSG_SEEN, NULL, 0};
    return mailbox_store(mb, &uid, 1, &req, changed ? rec_cb : NULL, changed, NULL, NULL);
}

static void test_reader_seen(void)
{
    struct mail_user *u = open_user("bb");
    CHECK_INT(mailbox_create_acl(u, "board", 0, "anyone\tlrs"), 0);
    uint32_t u1 = append(u, "board", MSG1, 0);
    uint32_t u2 = append(u, "board", MSG2, MSG_FLAGGED);
    uint32_t u3 = append(u, "board", MSG1, MSG_SEEN);   /* the owner has seen it */

    uint32_t floor = 0;
    struct mailbox *own, *ann, *bob;
    CHECK_INT(mailbox_open_as(u, "board", "bb", false, &floor, &own), 0);   /* owner: a SELECT */
    CHECK_INT(floor, 0);
    CHECK_INT(mailbox_open_as(u, "board", "ann", false, &floor, &ann), 0);
    CHECK_INT(floor, UINT32_MAX);
    CHECK_INT(mailbox_open_as(u, "board", "bob", false, &floor, &bob), 0);
    CHECK_INT(floor, UINT32_MAX);
    uint32_t f, hi;
    CHECK_INT(mailbox_claim_recent(ann, &f, &hi), 0);
    CHECK(f == hi);   /* never claims */
    struct mailbox *x = NULL;
    CHECK_INT(mailbox_open_as(u, "board", "../x", false, NULL, &x), STORAGE_ERR_INVALID);
    CHECK(x == NULL);
    CHECK_INT(mailbox_open_as(u, "nosuch", "bob", false, NULL, &x), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_open_as(u, "board", "bob", true, &floor, &x), 0);   /* EXAMINE as a reader */
    CHECK_INT(floor, UINT32_MAX);
    CHECK_INT(store_seen(x, 1, STORE_ADD, NULL), STORAGE_ERR_NOPERM);
    mailbox_close(x);

    /* readers start with nothing seen, the owner with u3 */
    CHECK_INT(mailbox_get_info(own)->unseen, 2);
    CHECK_INT(mailbox_get_info(ann)->unseen, 3);
    CHECK_INT(flags_of(ann, u3), 0);
    CHECK_INT(flags_of(ann, u2), MSG_FLAGGED);
    CHECK_INT(flags_of(own, u3), MSG_SEEN);
    uint32_t first;
    CHECK_INT(mailbox_first_unseen(ann, &first), 0);
    CHECK_INT(first, u1);

    /* ann reads u1 and u3: only ann's state changes, modseq moves */
    uint64_t ms0 = mailbox_get_info(ann)->highestmodseq;
    struct recs ch = {0};
    CHECK_INT(store_seen(ann, u1, STORE_ADD, &ch), 0);
    CHECK_INT(ch.n, 1);
    CHECK_INT(ch.flags[0], MSG_SEEN);
    CHECK(ch.modseq[0] > ms0);
    ch.n = 0;
    CHECK_INT(store_seen(ann, u3, STORE_ADD, &ch), 0);
    CHECK_INT(ch.n, 1);
    ch.n = 0;
    CHECK_INT(store_seen(ann, u3, STORE_ADD, &ch), 0);   /* already seen by ann: no change */
    CHECK_INT(ch.n, 0);
    CHECK_INT(flags_of(ann, u1), MSG_SEEN);
    CHECK_INT(flags_of(bob, u1), 0);
    CHECK_INT(flags_of(own, u1), 0);
    CHECK_INT(mailbox_first_unseen(ann, &first), 0);
    CHECK_INT(first, u2);
    CHECK_INT(mailbox_first_unseen(bob, &first), 0);
    CHECK_INT(first, u1);
    CHECK_INT(mailbox_first_unseen(own, &first), 0);
    CHECK_INT(first, u1);

    /* ann's sync: sees her own \Seen with the new modseq */
    struct recs sy = {0};
    CHECK_INT(mailbox_sync(ann, ms0, rec_cb, &sy, NULL, NULL), 0);
    CHECK_INT(sy.n, 2);
    CHECK_INT(sy.uid[0], u1);
    CHECK_INT(sy.flags[0], MSG_SEEN);
    CHECK_INT(sy.flags[1], MSG_SEEN);
    CHECK_INT(mailbox_get_info(ann)->unseen, 1);
    /* bob's sync of the same change: flags unchanged for bob */
    sy.n = 0;
    CHECK_INT(mailbox_sync(bob, ms0, rec_cb, &sy, NULL, NULL), 0);
    CHECK_INT(sy.n, 2);
    CHECK_INT(sy.flags[0], 0);
    CHECK_INT(sy.flags[1], 0);
    CHECK_INT(mailbox_get_info(bob)->unseen, 3);
    sy.n = 0;
    CHECK_INT(mailbox_sync(own, ms0, rec_cb, &sy, NULL, NULL), 0);
    CHECK_INT(sy.flags[1], MSG_SEEN);   /* the owner's u3 */
    CHECK_INT(mailbox_get_info(own)->unseen, 2);

    /* foreach_record overlays too */
    sy.n = 0;
    CHECK_INT(mailbox_foreach_record(ann, 1, UINT32_MAX, rec_cb, &sy), 0);
    CHECK_INT(sy.n, 3);
    CHECK_INT(sy.flags[0], MSG_SEEN);
    CHECK_INT(sy.flags[1], MSG_FLAGGED);
    CHECK_INT(sy.flags[2], MSG_SEEN);

    /* status per reader; the mailbox counter is the owner's */
    struct mailbox_info info;
    CHECK_INT(mailbox_status_as(u, "board", "ann", &info), 0);
    CHECK_INT(info.unseen, 1);
    CHECK_INT(mailbox_status_as(u, "board", "bob", &info), 0);
    CHECK_INT(info.unseen, 3);
    CHECK_INT(mailbox_status_as(u, "board", "bb", &info), 0);
    CHECK_INT(info.unseen, 2);
    CHECK_INT(mailbox_status_as(u, "board", NULL, &info), 0);
    CHECK_INT(info.unseen, 2);
    CHECK_INT(mailbox_status(u, "board", &info), 0);
    CHECK_INT(info.unseen, 2);

    /* other flags through a reader handle change the shared row; the
     * owner's \Seen survives a REPLACE by a reader */
    struct store_req req = {STORE_REPLACE, MSG_FLAGGED, NULL, 0};
    CHECK_INT(mailbox_store(ann, &u3, 1, &req, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(flags_of(ann, u3), MSG_FLAGGED);   /* ann unseen u3 by REPLACE */
    CHECK_INT(flags_of(own, u3), MSG_SEEN | MSG_FLAGGED);
    CHECK_INT(flags_of(bob, u3), MSG_FLAGGED);
    CHECK_INT(mailbox_status_as(u, "board", "ann", &info), 0);
    CHECK_INT(info.unseen, 2);
    /* ann removes \Seen of u1 */
    CHECK_INT(store_seen(ann, u1, STORE_REMOVE, NULL), 0);
    CHECK_INT(flags_of(ann, u1), 0);
    CHECK_INT(store_seen(ann, u1, STORE_ADD, NULL), 0);

    /* owner's own \Seen changes do not touch readers */
    CHECK_INT(store_seen(own, u2, STORE_ADD, NULL), 0);
    CHECK_INT(flags_of(ann, u2), MSG_FLAGGED);
    CHECK_INT(mailbox_status(u, "board", &info), 0);
    CHECK_INT(info.unseen, 1);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);

    /* copy within the store from a reader handle copies the reader's flags */
    CHECK_INT(mailbox_create(u, "mine", 0), 0);
    uint32_t srcu[3], dstu[3], uv;
    size_t nc = 0;
    CHECK_INT(mailbox_copy(ann, &u1, 1, "mine", false, &uv, srcu, dstu, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 1);
    struct mailbox *mine;
    CHECK_INT(mailbox_open(u, "mine", false, false, NULL, &mine), 0);
    CHECK_INT(flags_of(mine, dstu[0]), MSG_SEEN);
    mailbox_close(mine);

    /* expunge drops the seen rows of every reader */
    CHECK_INT(raw_int("bb", "SELECT count(*) FROM seen"), 1);   /* ann: u1 (u3 went with her REPLACE) */
    req = (struct store_req){STORE_ADD, MSG_DELETED, NULL, 0};
    CHECK_INT(mailbox_store(own, &u1, 1, &req, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(store_seen(bob, u1, STORE_ADD, NULL), 0);
    CHECK_INT(mailbox_expunge(own, NULL, 0, NULL, NULL), 0);
    CHECK_INT(raw_int("bb", "SELECT count(*) FROM seen WHERE uid=1"), 0);
    CHECK_INT(mailbox_status_as(u, "board", "ann", &info), 0);
    CHECK_INT(info.messages, 2);
    CHECK_INT(info.unseen, 2);   /* u2, u3 (unseen by REPLACE) */

    /* sharedseen: every reader shares the row's \Seen */
    CHECK_INT(mailbox_set_sharedseen(u, "board", true), 0);
    CHECK_INT(mailbox_sync(ann, 0, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_sync(bob, 0, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(flags_of(ann, u3), MSG_SEEN | MSG_FLAGGED);
    CHECK_INT(mailbox_status_as(u, "board", "ann", &info), 0);
    CHECK_INT(info.unseen, 0);
    CHECK_INT(store_seen(bob, u3, STORE_REMOVE, NULL), 0);
    CHECK_INT(flags_of(own, u3), MSG_FLAGGED);
    CHECK_INT(flags_of(ann, u3), MSG_FLAGGED);
    CHECK_INT(mailbox_sync(ann, 0, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_get_info(ann)->unseen, 1);   /* u3; u2 seen by the owner */
    CHECK_INT(mailbox_set_sharedseen(u, "board", false), 0);
    CHECK_INT(mailbox_sync(ann, 0, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(flags_of(ann, u2), MSG_FLAGGED);   /* back to ann's own (empty) state */
    CHECK_INT(mailbox_get_info(ann)->unseen, 2);
    CHECK_INT(store_seen(ann, u2, STORE_ADD, NULL), 0);
    CHECK_INT(flags_of(ann, u2), MSG_SEEN | MSG_FLAGGED);

    mailbox_close(own);
    mailbox_close(ann);
    mailbox_close(bob);
    /* check: stale seen rows are reported and removed */
    raw_exec("bb", "INSERT INTO seen(mailbox_id,reader,uid) SELECT id,'zed',999 FROM mailbox WHERE name='board'");
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 1);
    CHECK_INT(mail_user_check(u, true, NULL, NULL), 1);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    CHECK_INT(raw_int("bb", "SELECT count(*) FROM seen WHERE reader='zed'"), 0);
    /* delete drops the seen rows */
    CHECK(raw_int("bb", "SELECT count(*) FROM seen") > 0);
    CHECK_INT(mailbox_delete(u, "board"), 0);
    CHECK_INT(raw_int("bb", "SELECT count(*) FROM seen"), 0);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    mail_user_close(u);
}

/* ---- copy/move between stores ---------------------------------------------- */

static int g_nexp;
static uint32_t g_exp[16];
static int exp_cb(uint32_t uid, void *arg)
{
    (void)arg;
    if (g_nexp < 16)
        g_exp[g_nexp++] = uid;
    return 0;
}

static bool file_in(const char *user, const char *guid, struct stat *st)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/user/%c/%s/msg/%c%c/%s", g_dir, user[0], user, guid[0], guid[1], guid);
    return stat(path, st) == 0;
}

static int count_tmp_files(const char *user)
{
    char sql[64];
    (void)sql;
    int n = 0;
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "find %s/user/%c/%s/msg -name '*.tmp' | wc -l", g_dir, user[0], user);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void copy_between(bool exdev)
{
    const char *sname = exdev ? "xsrc" : "csrc", *dname = exdev ? "xdst" : "cdst";
    struct mail_user *s = open_user(sname), *d = open_user(dname);
    CHECK_INT(mailbox_create(s, "shared", 0), 0);
    uint32_t a = append(s, "shared", MSG1, MSG_FLAGGED);
    uint32_t b = append(s, "shared", MSG2, MSG_SEEN);
    CHECK_INT(mailbox_create(d, "in", 0), 0);
    struct mailbox *src;
    /* the destination's owner copies from the shared mailbox as a reader:
     * its own (empty) \Seen goes along */
    CHECK_INT(mailbox_open_as(s, "shared", dname, false, NULL, &src), 0);
    msgfile_test_exdev = exdev;
    uint32_t uids[3] = {a, b, 999}, su[3], du[3], uv = 0;
    size_t nc = 0;
    CHECK_INT(mailbox_copy_to(src, uids, 3, d, "in", false, &uv, su, du, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 2);
    CHECK_INT(su[0], a);
    CHECK_INT(su[1], b);
    CHECK_INT(du[0], 1);
    CHECK_INT(du[1], 2);
    struct mailbox_info di;
    CHECK_INT(mailbox_status(d, "in", &di), 0);
    CHECK_INT(uv, di.uidvalidity);
    CHECK_INT(di.messages, 2);
    CHECK_INT(di.unseen, 2);
    CHECK_INT(di.size, strlen(MSG1) + strlen(MSG2));
    struct mailbox *dm;
    CHECK_INT(mailbox_open(d, "in", false, false, NULL, &dm), 0);
    CHECK_INT(flags_of(dm, 1), MSG_FLAGGED);
    CHECK_INT(flags_of(dm, 2), 0);   /* the reader had not seen it */
    struct msg_content mc;
    CHECK_INT(mailbox_get_content(dm, 2, &mc), 0);
    CHECK(mc.len == strlen(MSG2) && memcmp(mc.data, MSG2, mc.len) == 0);
    msg_content_release(&mc);
    struct msg_cache cache;
    CHECK_INT(mailbox_get_cache(dm, 1, &cache), 0);
    CHECK(strstr(cache.envelope, "\"one\"") != NULL);
    msg_cache_free(&cache);
    struct msg_record rec, srec;
    CHECK_INT(mailbox_get_record(dm, 1, &rec), 0);
    CHECK_INT(mailbox_get_record(src, a, &srec), 0);
    CHECK_STR(rec.guid, srec.guid);
    struct stat st1, st2;
    CHECK(file_in(dname, rec.guid, &st1));
    CHECK(file_in(sname, rec.guid, &st2));
    if (exdev)
        CHECK(st1.st_ino != st2.st_ino);   /* copied */
    else
        CHECK(st1.st_ino == st2.st_ino);   /* hard link */
    CHECK_INT(count_tmp_files(dname), 0);

    /* the same bodies again: one file, refcount 2 */
    CHECK_INT(mailbox_copy_to(src, uids, 2, d, "in", false, &uv, su, du, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 2);
    CHECK_INT(du[0], 3);

    /* quota of the destination: nothing committed, no files left */
    CHECK_INT(mailbox_create(d, "q", 0), 0);
    CHECK_INT(quota_set(d, "q", QUOTA_UNLIMITED, 1, QUOTA_UNLIMITED), 0);
    CHECK_INT(mailbox_create(s, "fresh", 0), 0);
    uint32_t f1 = append(s, "fresh", "Subject: f1\r\n\r\nx\r\n", 0);
    uint32_t f2 = append(s, "fresh", "Subject: f2\r\n\r\ny\r\n", 0);
    struct mailbox *fm;
    CHECK_INT(mailbox_open(s, "fresh", false, false, NULL, &fm), 0);
    CHECK_INT(mailbox_get_record(fm, f1, &srec), 0);
    uint32_t fu[2] = {f1, f2};
    CHECK_INT(mailbox_copy_to(fm, fu, 2, d, "q", true, &uv, su, du, &nc, exp_cb, NULL), STORAGE_ERR_OVERQUOTA);
    CHECK_INT(nc, 0);
    CHECK_INT(mailbox_status(d, "q", &di), 0);
    CHECK_INT(di.messages, 0);
    CHECK(!file_in(dname, srec.guid, &st1));
    struct mailbox_info si;
    CHECK_INT(mailbox_status(s, "fresh", &si), 0);
    CHECK_INT(si.messages, 2);   /* the move did not expunge */
    /* move within the limit: copy, then expunge the source */
    g_nexp = 0;
    CHECK_INT(mailbox_copy_to(fm, fu, 1, d, "q", true, &uv, su, du, &nc, exp_cb, NULL), 0);
    CHECK_INT(nc, 1);
    CHECK_INT(g_nexp, 1);
    CHECK_INT(g_exp[0], f1);
    CHECK_INT(mailbox_status(s, "fresh", &si), 0);
    CHECK_INT(si.messages, 1);
    CHECK_INT(mailbox_status(d, "q", &di), 0);
    CHECK_INT(di.messages, 1);
    /* the source's file went with its last reference; the destination's stays */
    CHECK(!file_in(sname, srec.guid, &st1));
    CHECK(file_in(dname, srec.guid, &st1));
    struct mailbox *qm;
    CHECK_INT(mailbox_open(d, "q", false, false, NULL, &qm), 0);
    CHECK_INT(mailbox_get_content(qm, du[0], &mc), 0);
    CHECK(mc.len == strlen("Subject: f1\r\n\r\nx\r\n"));
    msg_content_release(&mc);
    mailbox_close(qm);

    /* errors */
    CHECK_INT(mailbox_copy_to(fm, fu, 2, d, "nosuch", false, &uv, su, du, &nc, NULL, NULL), STORAGE_ERR_NOTFOUND);
    struct mailbox *ro;
    CHECK_INT(mailbox_open(s, "fresh", true, false, NULL, &ro), 0);
    CHECK_INT(mailbox_copy_to(ro, fu, 2, d, "in", true, &uv, su, du, &nc, NULL, NULL), STORAGE_ERR_NOPERM);
    mailbox_close(ro);
    /* dest == source store: mailbox_copy */
    CHECK_INT(mailbox_copy_to(fm, &f2, 1, s, "shared", false, &uv, su, du, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 1);
    msgfile_test_exdev = false;

    CHECK_INT(mail_user_check(s, false, problem_cb, NULL), 0);
    CHECK_INT(mail_user_check(d, false, problem_cb, NULL), 0);
    mailbox_close(fm);
    mailbox_close(dm);
    mailbox_close(src);
    mail_user_close(s);
    mail_user_close(d);
}

static void test_copy_to(void) { copy_between(false); }

/* A file named like the body in the destination but without a blob row
 * (an orphan, or a body another process is removing) is never shared:
 * the copy gets a new name and the stray file is left alone. */
static void test_copy_to_stray_file(void)
{
    struct mail_user *s = open_user("ssrc"), *d = open_user("sdst");
    uint32_t a = append(s, "INBOX", MSG1, 0);
    struct mailbox *src;
    CHECK_INT(mailbox_open(s, "INBOX", false, false, NULL, &src), 0);
    struct msg_record srec;
    CHECK_INT(mailbox_get_record(src, a, &srec), 0);
    char dir[600], path[700];
    snprintf(dir, sizeof(dir), "%s/user/s/sdst/msg/%c%c", g_dir, srec.guid[0], srec.guid[1]);
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/%s", dir, srec.guid);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "stray", 5) == 5);
    close(fd);
    uint32_t su[1], du[1], uv;
    size_t nc = 0;
    CHECK_INT(mailbox_copy_to(src, &a, 1, d, "INBOX", false, &uv, su, du, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 1);
    struct mailbox *dm;
    CHECK_INT(mailbox_open(d, "INBOX", false, false, NULL, &dm), 0);
    struct msg_record rec;
    CHECK_INT(mailbox_get_record(dm, du[0], &rec), 0);
    CHECK(strcmp(rec.guid, srec.guid) != 0);
    struct msg_content mc;
    CHECK_INT(mailbox_get_content(dm, du[0], &mc), 0);
    CHECK(mc.len == strlen(MSG1) && memcmp(mc.data, MSG1, mc.len) == 0);
    msg_content_release(&mc);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 5);
    mailbox_close(dm);
    mailbox_close(src);
    mail_user_close(s);
    mail_user_close(d);
}
static void test_copy_to_exdev(void) { copy_between(true); }

/* APPEND (memory and spilled fd) and shared-spool delivery fall back to
 * a copy into the store's own directory when linking/renaming fails with
 * EXDEV. */
static void test_append_exdev(void)
{
    struct mail_user *u = open_user("xapp");
    msgfile_test_exdev = true;
    uint32_t a = append(u, "INBOX", MSG1, 0);
    char spool[512];
    snprintf(spool, sizeof(spool), "%s/spool.XXXXXX", storage_tmpdir());
    int fd = mkstemp(spool);
    CHECK(fd >= 0);
    CHECK(write(fd, MSG2, strlen(MSG2)) == (ssize_t)strlen(MSG2));
    struct append_msg m = {NULL, fd, strlen(MSG2), 0, NULL, 0, 0, true, false};
    uint32_t uv, b = 0;
    CHECK_INT(mailbox_append_by_name(u, "INBOX", &m, &uv, &b), 0);
    close(fd);
    unlink(spool);
    msgfile_test_exdev = false;
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &mb), 0);
    struct msg_content mc;
    CHECK_INT(mailbox_get_content(mb, a, &mc), 0);
    CHECK(mc.len == strlen(MSG1) && memcmp(mc.data, MSG1, mc.len) == 0);
    msg_content_release(&mc);
    CHECK_INT(mailbox_get_content(mb, b, &mc), 0);
    CHECK(mc.len == strlen(MSG2) && memcmp(mc.data, MSG2, mc.len) == 0);
    msg_content_release(&mc);
    struct msg_record rec;
    CHECK_INT(mailbox_get_record(mb, b, &rec), 0);
    struct stat st;
    CHECK(file_in("xapp", rec.guid, &st));
    CHECK_INT(st.st_nlink, 1);   /* a copy, not the spool's inode */
    mailbox_close(mb);
    CHECK_INT(count_tmp_files("xapp"), 0);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    mail_user_close(u);
}

/* A real second filesystem (tmpfs, needs root; skipped otherwise): the
 * destination store lives on it, so link(2) and rename(2) from DATADIR
 * fail with EXDEV and the copy fallbacks run without the test hook. */
static void test_real_exdev(void)
{
    char mnt[512], dst[600], link_at[700], parent[600];
    snprintf(mnt, sizeof(mnt), "%s/mnt", g_dir);
    mkdir(mnt, 0700);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=16m") < 0) {
        fprintf(stderr, "test_real_exdev: skipped (cannot mount tmpfs: %s)\n", strerror(errno));
        rmdir(mnt);
        return;
    }
    snprintf(dst, sizeof(dst), "%s/rdst", mnt);
    CHECK(mkdir(dst, 0700) == 0);
    snprintf(parent, sizeof(parent), "%s/user/r", g_dir);
    mkdir(parent, 0700);
    snprintf(link_at, sizeof(link_at), "%s/rdst", parent);
    CHECK(symlink(dst, link_at) == 0);
    struct mail_user *s = open_user("rsrc"), *d = open_user("rdst");
    CHECK(s != NULL && d != NULL);
    struct stat sa, sb;
    CHECK(stat(g_dir, &sa) == 0 && stat(link_at, &sb) == 0 && sa.st_dev != sb.st_dev);
    if (s && d) {
        uint32_t a = append(s, "INBOX", MSG1, MSG_FLAGGED);
        struct mailbox *src;
        CHECK_INT(mailbox_open(s, "INBOX", false, false, NULL, &src), 0);
        uint32_t su[1], du[1], uv;
        size_t nc = 0;
        g_nexp = 0;
        CHECK_INT(mailbox_copy_to(src, &a, 1, d, "INBOX", true, &uv, su, du, &nc, exp_cb, NULL), 0);
        CHECK_INT(nc, 1);
        CHECK_INT(g_nexp, 1);
        mailbox_close(src);
        /* APPEND from memory and a delivery spool straight onto the tmpfs */
        uint32_t b = append(d, "INBOX", MSG2, 0);
        char spool[512];
        snprintf(spool, sizeof(spool), "%s/spool.XXXXXX", storage_tmpdir());
        int fd = mkstemp(spool);
        CHECK(fd >= 0);
        CHECK(write(fd, MSG2, strlen(MSG2)) == (ssize_t)strlen(MSG2));
        struct append_msg m = {NULL, fd, strlen(MSG2), 0, NULL, 0, 0, true, false};
        uint32_t c = 0;
        CHECK_INT(mailbox_append_by_name(d, "INBOX", &m, &uv, &c), 0);
        close(fd);
        unlink(spool);
        struct mailbox *dm;
        CHECK_INT(mailbox_open(d, "INBOX", false, false, NULL, &dm), 0);
        const uint32_t want_uid[3] = {du[0], b, c};
        const char *want[3] = {MSG1, MSG2, MSG2};
        for (int i = 0; i < 3; i++) {
            struct msg_content mc;
            CHECK_INT(mailbox_get_content(dm, want_uid[i], &mc), 0);
            CHECK(mc.len == strlen(want[i]) && memcmp(mc.data, want[i], mc.len) == 0);
            msg_content_release(&mc);
            struct msg_record rec;
            struct stat st;
            CHECK_INT(mailbox_get_record(dm, want_uid[i], &rec), 0);
            CHECK(file_in("rdst", rec.guid, &st));
        }
        CHECK_INT(flags_of(dm, du[0]), MSG_FLAGGED);
        mailbox_close(dm);
        CHECK_INT(count_tmp_files("rdst"), 0);
        CHECK_INT(mail_user_check(d, false, problem_cb, NULL), 0);
        CHECK_INT(mail_user_check(s, false, problem_cb, NULL), 0);
    }
    mail_user_close(s);
    mail_user_close(d);
    CHECK(umount(mnt) == 0);
    unlink(link_at);
    rmdir(mnt);
}

int main(void)
{
    if (store_harness_init("test-storage-acl") != 0)
        return 2;
    RUN(test_upgrade_v4);
    RUN(test_acl);
    RUN(test_acl_list);
    RUN(test_reader_seen);
    RUN(test_copy_to);
    RUN(test_copy_to_exdev);
    RUN(test_copy_to_stray_file);
    RUN(test_real_exdev);
    RUN(test_append_exdev);
    storage_shutdown();
    return unit_done();
}
