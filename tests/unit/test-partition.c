/* test-partition.c - store locations, partitions, stores.db, and the
 * busy/kick/lock protocol of move, rename and delete (partition.c). */
#include "unit.h"
#include "storage.h"
#include "partition.h"
#include "storage-private.h"
#include "notify.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256];     /* DATADIR */
static char g_p2[300];      /* partition p2 */
static char g_p3[300];      /* partition p3 */
static char g_p4[300];      /* partition p4: unusable (below a regular file) */

static const char MSG1[] = "From: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n";
static const char MSG2[] = "From: b@example.com\r\nSubject: two\r\n\r\nsecond body, a bit longer\r\n";

static void set_config(const char *defaultpartition)
{
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "config_load: %s\n", err);
        exit(1);
    }
    bool ok = config_set(c, "partition-p2", g_p2, err, sizeof(err)) &&
              config_set(c, "partition-p3", g_p3, err, sizeof(err)) &&
              config_set(c, "partition-p4", g_p4, err, sizeof(err));
    if (ok && defaultpartition)
        ok = config_set(c, "defaultpartition", defaultpartition, err, sizeof(err));
    if (!ok) {
        fprintf(stderr, "config_set: %s\n", err);
        exit(1);
    }
    config_install(c);
}

static const char *P(const char *fmt, ...) ATTR_PRINTF(1, 2);
static const char *P(const char *fmt, ...)
{
    static char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return buf;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool file_at(const char *p) { return access(p, F_OK) == 0; }

static void mkfile(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *s = tmp + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(tmp, 0700);
            *s = '/';
        }
    }
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("junk", f);
        fclose(f);
    }
}

/* stores.db manipulation, for states only a crash or another process
 * can produce. */
static void db_sql(const char *sql)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/stores.db", g_dir);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sql %s: %s\n", sql, err ? err : "?");
        CHECK(0);
    }
    sqlite3_free(err);
    sqlite3_close(db);
}

static int db_count(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/stores.db", g_dir);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM store WHERE name=?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static void set_state(const char *name, const char *part, const char *state, const char *target, long pid)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT OR REPLACE INTO store(name,partition,state,target,pid,since) VALUES('%s','%s','%s','%s',%ld,0)",
             name, part, state, target, pid);
    db_sql(sql);
}

/* A pid that certainly belongs to no running process. */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

static char g_part[80];
static const char *part_of(const char *name)
{
    if (mail_user_partition(name, g_part, sizeof(g_part)) < 0)
        return "(none)";
    return g_part;
}

static int add_msgs(const char *name)
{
    struct mail_user *u;
    int r = mail_user_open(name, true, &u);
    if (r < 0)
        return r;
    struct append_msg m1 = {MSG1, -1, strlen(MSG1), MSG_SEEN, "$label1", 0, 0, false, false};
    struct append_msg m2 = {MSG2, -1, strlen(MSG2), 0, NULL, 0, 0, false, false};
    uint32_t uv, uid;
    if ((r = mailbox_create(u, "Archive", 0)) == 0 && (r = mailbox_append_by_name(u, "INBOX", &m1, &uv, &uid)) == 0)
        r = mailbox_append_by_name(u, "Archive", &m2, &uv, &uid);
    mail_user_close(u);
    return r;
}

static void check_content(struct mail_user *u, const char *mbox, uint32_t uid, const char *want)
{
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, mbox, true, false, NULL, &mb), 0);
    if (!mb)
        return;
    struct msg_content c;
    CHECK_INT(mailbox_get_content(mb, uid, &c), 0);
    CHECK(c.len == strlen(want) && memcmp(c.data, want, c.len) == 0);
    msg_content_release(&c);
    mailbox_close(mb);
}

static void check_msgs(const char *name)
{
    struct mail_user *u;
    CHECK_INT(mail_user_open(name, false, &u), 0);
    if (!u)
        return;
    check_content(u, "INBOX", 1, MSG1);
    check_content(u, "Archive", 1, MSG2);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "INBOX", &info), 0);
    CHECK_INT(info.messages, 1);
    CHECK_INT(info.unseen, 0);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    mail_user_close(u);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_names(void)
{
    const char *good[] = {"alice", "%shared", "%shared@example.com", "%shared@a-b.c0", "bob@example.com"};
    const char *bad[] = {"", "%", "%shared@", "%shared@Example.com", "%shared@-a.com", "%shared@a-.com",
                         "%shared@a..b", "%shared@.a", "%shared@a.", "%sharedx", "%other", "%shared@a/b",
                         "%shared@a b", ".x", "-x", "a..b", "A", "a/b"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(storage_valid_username(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (storage_valid_username(bad[i])) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK(0);
        }
    struct mail_user *u;
    CHECK_INT(mail_user_open("%shared@Bad", true, &u), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_create("../x", NULL), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_create("x", "nope"), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_create("x", "bad/name"), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_move_partition("x", "nope"), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_move_partition("x", NULL), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_rename_store("x", "../y"), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_delete_store("%shared@"), STORAGE_ERR_INVALID);
    char out[8];
    CHECK_INT(mail_user_partition("A", out, sizeof(out)), STORAGE_ERR_INVALID);
}

static void test_default_location(void)
{
    struct mail_user *u;
    CHECK_INT(mail_user_open("alice", true, &u), 0);
    mail_user_close(u);
    CHECK(file_at(P("%s/user/a/alice/mail.db", g_dir)));
    CHECK_STR(part_of("alice"), "default");
    CHECK_INT(db_count("alice"), 0);    /* default stores need no row */
    CHECK_INT(mail_user_partition("nobody", g_part, sizeof(g_part)), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mail_user_open("nobody", false, &u), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mail_user_partition("alice", g_part, 3), STORAGE_ERR_INVALID);   /* too small */
}

static void test_create_on_partition(void)
{
    CHECK_INT(mail_user_create("bob", "p2"), 0);
    CHECK(file_at(P("%s/user/b/bob/mail.db", g_p2)));
    CHECK(!is_dir(P("%s/user/b/bob", g_dir)));
    CHECK_STR(part_of("bob"), "p2");
    CHECK_INT(db_count("bob"), 1);
    CHECK_INT(mail_user_create("bob", "p2"), STORAGE_ERR_EXISTS);
    CHECK_INT(mail_user_create("bob", "default"), STORAGE_ERR_EXISTS);
    CHECK_INT(mail_user_create("alice", "p3"), STORAGE_ERR_EXISTS);
    CHECK_INT(add_msgs("bob"), 0);
    check_msgs("bob");
    /* a partition that cannot hold stores: nothing is recorded */
    CHECK_INT(mail_user_create("quinn", "p4"), STORAGE_ERR_IO);
    CHECK_INT(db_count("quinn"), 0);
    CHECK_INT(mail_user_partition("quinn", g_part, sizeof(g_part)), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mail_user_move_partition("bob", "p4"), STORAGE_ERR_IO);
    CHECK_STR(part_of("bob"), "p2");
    CHECK_INT(db_count("bob"), 1);
    check_msgs("bob");
    /* explicit default partition */
    CHECK_INT(mail_user_create("bert", "default"), 0);
    CHECK_STR(part_of("bert"), "default");
    CHECK_INT(db_count("bert"), 0);
    CHECK(file_at(P("%s/user/b/bert/mail.db", g_dir)));
    /* shared stores: only on the default partition, in DATADIR/shared */
    CHECK_INT(mail_user_create("%shared", "p2"), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_create("%shared", NULL), 0);
    CHECK_INT(mail_user_create("%shared@example.com", NULL), 0);
    CHECK(file_at(P("%s/shared/%%/mail.db", g_dir)));
    CHECK(file_at(P("%s/shared/example.com/mail.db", g_dir)));
    CHECK_STR(part_of("%shared@example.com"), "default");
    CHECK_INT(mail_user_create("%shared", NULL), STORAGE_ERR_EXISTS);
    struct mail_user *u;
    CHECK_INT(mail_user_open("%shared@example.org", true, &u), 0);
    mail_user_close(u);
    CHECK(file_at(P("%s/shared/example.org/mail.db", g_dir)));
    CHECK_INT(mail_user_move_partition("%shared", "p2"), STORAGE_ERR_INVALID);
}

static void test_defaultpartition(void)
{
    set_config("p3");
    struct mail_user *u;
    CHECK_INT(mail_user_open("carol", true, &u), 0);
    mail_user_close(u);
    CHECK(file_at(P("%s/user/c/carol/mail.db", g_p3)));
    CHECK_STR(part_of("carol"), "p3");
    CHECK_INT(mail_user_create("cecil", NULL), 0);
    CHECK_STR(part_of("cecil"), "p3");
    /* existing default-partition stores stay where they are */
    CHECK_INT(mail_user_open("alice", true, &u), 0);
    mail_user_close(u);
    CHECK_STR(part_of("alice"), "default");
    CHECK(!is_dir(P("%s/user/a/alice", g_p3)));
    /* shared stores ignore defaultpartition */
    CHECK_INT(mail_user_open("%shared@example.net", true, &u), 0);
    mail_user_close(u);
    CHECK(file_at(P("%s/shared/example.net/mail.db", g_dir)));
    set_config("nosuch");
    CHECK_INT(mail_user_open("cyril", true, &u), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_create("cyril", NULL), STORAGE_ERR_INVALID);
    CHECK_INT(mail_user_open("carol", false, &u), 0);   /* existing stores unaffected */
    mail_user_close(u);
    set_config(NULL);
}

struct names {
    char v[32][64];
    int n;
};
static void name_cb(const char *name, void *arg)
{
    struct names *l = arg;
    if (l->n < 32)
        snprintf(l->v[l->n++], 64, "%s", name);
}
static int count_name(struct names *l, const char *name)
{
    int c = 0;
    for (int i = 0; i < l->n; i++)
        c += strcmp(l->v[i], name) == 0;
    return c;
}

static void test_list_stores(void)
{
    /* garbage next to stores is not a store */
    char p[512];
    snprintf(p, sizeof(p), "%s/user/b/.bob.moving/x", g_p3);
    mkfile(p);
    snprintf(p, sizeof(p), "%s/user/z/NotValid/x", g_dir);
    mkfile(p);
    struct names l = {0};
    CHECK_INT(mail_user_list_stores(name_cb, &l), 0);
    const char *want[] = {"alice", "bob", "bert", "carol", "cecil", "%shared", "%shared@example.com",
                          "%shared@example.org", "%shared@example.net"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (count_name(&l, want[i]) != 1) {
            fprintf(stderr, "list: %s seen %d times\n", want[i], count_name(&l, want[i]));
            CHECK(0);
        }
    CHECK_INT(l.n, (int)(sizeof(want) / sizeof(want[0])));
    /* a stale old copy on another partition (crash point e) is not listed twice */
    snprintf(p, sizeof(p), "%s/user/b/bob/mail.db", g_p3);
    mkfile(p);
    memset(&l, 0, sizeof(l));
    CHECK_INT(mail_user_list_stores(name_cb, &l), 0);
    CHECK_INT(count_name(&l, "bob"), 1);
    snprintf(p, sizeof(p), "%s/user/b", g_p3);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s/user/z'", p, g_dir);
    CHECK(system(cmd) == 0);
}

static void test_move(void)
{
    CHECK_INT(add_msgs("dave"), 0);
    CHECK_STR(part_of("dave"), "default");
    CHECK_INT(mail_user_move_partition("dave", "p2"), 0);
    CHECK_STR(part_of("dave"), "p2");
    CHECK(!is_dir(P("%s/user/d/dave", g_dir)));
    CHECK(file_at(P("%s/user/d/dave/mail.db", g_p2)));
    CHECK(!is_dir(P("%s/user/d/.dave.moving", g_p2)));
    check_msgs("dave");
    /* p2 -> p3 -> default */
    CHECK_INT(mail_user_move_partition("dave", "p3"), 0);
    CHECK_STR(part_of("dave"), "p3");
    CHECK(!is_dir(P("%s/user/d/dave", g_p2)));
    check_msgs("dave");
    CHECK_INT(mail_user_move_partition("dave", "default"), 0);
    CHECK_STR(part_of("dave"), "default");
    CHECK_INT(db_count("dave"), 0);
    CHECK(!is_dir(P("%s/user/d/dave", g_p3)));
    check_msgs("dave");
    /* the store still works for writes after moving */
    struct mail_user *u;
    CHECK_INT(mail_user_open("dave", false, &u), 0);
    struct append_msg m = {MSG2, -1, strlen(MSG2), 0, NULL, 0, 0, false, false};
    uint32_t uv, uid = 0;
    CHECK_INT(mailbox_create(u, "Extra", 0), 0);
    CHECK_INT(mailbox_append_by_name(u, "Extra", &m, &uv, &uid), 0);
    CHECK_INT(uid, 1);
    mail_user_close(u);
    /* no-op, unknown store, open in this process */
    CHECK_INT(mail_user_move_partition("dave", "default"), 0);
    CHECK_INT(mail_user_move_partition("nobody", "p2"), STORAGE_ERR_NOTFOUND);
    CHECK_INT(db_count("nobody"), 0);
    CHECK_INT(mail_user_open("dave", false, &u), 0);
    CHECK_INT(mail_user_move_partition("dave", "p2"), STORAGE_ERR_BUSY);
    mail_user_close(u);
    CHECK_STR(part_of("dave"), "default");
    /* a stale leftover at the target (crash of an earlier move) is replaced */
    char p[512];
    snprintf(p, sizeof(p), "%s/user/d/dave/msg/zz/stale", g_p2);
    mkfile(p);
    snprintf(p, sizeof(p), "%s/user/d/.dave.moving/x", g_p2);
    mkfile(p);
    CHECK_INT(mail_user_move_partition("dave", "p2"), 0);
    CHECK(!file_at(P("%s/user/d/dave/msg/zz/stale", g_p2)));
    CHECK(!is_dir(P("%s/user/d/.dave.moving", g_p2)));
    check_msgs("dave");
    CHECK_INT(mail_user_open("dave", false, &u), 0);
    check_content(u, "Extra", 1, MSG2);
    mail_user_close(u);
}

/* Child holding a store open until told (pipe), like a session that does
 * not react to kicks. */
static pid_t spawn_holder(const char *name, int *ctl)
{
    int up[2], down[2];
    if (pipe(up) < 0 || pipe(down) < 0)
        return -1;
    pid_t p = fork();
    if (p == 0) {
        close(up[0]);
        close(down[1]);
        struct mail_user *u;
        char c = mail_user_open(name, false, &u) == 0 ? 'R' : 'E';
        if (write(up[1], &c, 1) != 1)
            _exit(2);
        if (read(down[0], &c, 1) < 0)
            _exit(3);
        mail_user_close(u);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    char c = 0;
    if (read(up[0], &c, 1) != 1 || c != 'R') {
        close(up[0]);
        close(down[1]);
        waitpid(p, NULL, 0);
        return -1;
    }
    close(up[0]);
    *ctl = down[1];
    return p;
}

static int finish_holder(pid_t p, int ctl)
{
    char c = 'x';
    if (write(ctl, &c, 1) != 1)
        return -1;
    close(ctl);
    int status = 0;
    waitpid(p, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_refused_while_open_elsewhere(void)
{
    CHECK_INT(add_msgs("erin"), 0);
    int ctl;
    pid_t p = spawn_holder("erin", &ctl);
    CHECK(p > 0);
    if (p <= 0)
        return;
    storage_set_store_wait_ms(300);
    CHECK_INT(mail_user_move_partition("erin", "p2"), STORAGE_ERR_BUSY);
    CHECK_STR(part_of("erin"), "default");
    CHECK_INT(db_count("erin"), 0);      /* mark cleared */
    CHECK(!is_dir(P("%s/user/e/erin", g_p2)));
    CHECK_INT(mail_user_rename_store("erin", "erin2"), STORAGE_ERR_BUSY);
    CHECK_INT(db_count("erin2"), 0);
    CHECK_INT(mail_user_delete_store("erin"), STORAGE_ERR_BUSY);
    CHECK(is_dir(P("%s/user/e/erin", g_dir)));
    /* other openers are not blocked by a failed attempt */
    struct mail_user *u;
    CHECK_INT(mail_user_open("erin", false, &u), 0);
    mail_user_close(u);
    CHECK_INT(finish_holder(p, ctl), 0);
    storage_set_store_wait_ms(10000);
    CHECK_INT(mail_user_move_partition("erin", "p2"), 0);
    check_msgs("erin");
}

static void kick_cb(const char *user, int64_t id, void *arg)
{
    if (strcmp(user, "frank") == 0 && id == NOTIFY_KICK_USER)
        *(bool *)arg = true;
}

static void test_kick(void)
{
    CHECK_INT(add_msgs("frank"), 0);
    int up[2];
    CHECK(pipe(up) == 0);
    pid_t p = fork();
    if (p == 0) {
        /* A session process: holds the store, closes it on a kick. */
        close(up[0]);
        struct mail_user *u;
        if (mail_user_open("frank", false, &u) < 0)
            _exit(2);
        int fd = notify_listener_open();
        if (fd < 0)
            _exit(3);
        char c = 'R';
        if (write(up[1], &c, 1) != 1)
            _exit(4);
        struct pollfd pfd = {fd, POLLIN, 0};
        bool kicked = false;
        while (!kicked) {
            if (poll(&pfd, 1, 20000) <= 0)
                _exit(5);   /* never kicked */
            notify_listener_read(fd, kick_cb, &kicked);
        }
        mail_user_close(u);
        notify_listener_close();
        _exit(0);
    }
    close(up[1]);
    char c = 0;
    CHECK(read(up[0], &c, 1) == 1 && c == 'R');
    close(up[0]);
    storage_set_store_wait_ms(15000);
    CHECK_INT(mail_user_move_partition("frank", "p3"), 0);
    int status = 0;
    waitpid(p, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_STR(part_of("frank"), "p3");
    check_msgs("frank");
}

static void test_busy_state(void)
{
    CHECK_INT(add_msgs("gina"), 0);
    /* a live process (a child) is "moving" gina */
    int ctl;
    pid_t p = spawn_holder("alice", &ctl);
    CHECK(p > 0);
    if (p <= 0)
        return;
    set_state("gina", "default", "moving", "p2", (long)p);
    struct mail_user *u;
    CHECK_INT(mail_user_open("gina", false, &u), STORAGE_ERR_BUSY);
    CHECK_INT(mail_user_open("gina", true, &u), STORAGE_ERR_BUSY);
    CHECK_INT(mail_user_move_partition("gina", "p3"), STORAGE_ERR_BUSY);
    CHECK_INT(mail_user_rename_store("gina", "gina2"), STORAGE_ERR_BUSY);
    CHECK_INT(mail_user_delete_store("gina"), STORAGE_ERR_BUSY);
    CHECK_INT(mail_user_create("gina", "p2"), STORAGE_ERR_BUSY);
    CHECK_STR(part_of("gina"), "default");
    CHECK_INT(storage_partitions_recover(), 0);   /* alive: left alone */
    CHECK_INT(mail_user_open("gina", false, &u), STORAGE_ERR_BUSY);
    /* the process dies: the next open recovers */
    CHECK_INT(finish_holder(p, ctl), 0);
    CHECK_INT(mail_user_open("gina", false, &u), 0);
    mail_user_close(u);
    CHECK_INT(db_count("gina"), 0);
    check_msgs("gina");
    /* an operation holding the exclusive store lock: openers never wait */
    int fd = open(P("%s/run/lock/gina.lock", g_dir), O_RDWR);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    CHECK_INT(mail_user_open("gina", false, &u), STORAGE_ERR_BUSY);
    CHECK_INT(mail_user_open("gina", true, &u), STORAGE_ERR_BUSY);
    close(fd);
    CHECK_INT(mail_user_open("gina", false, &u), 0);
    mail_user_close(u);
}

static void test_recover_move(void)
{
    char p[512];
    /* crash points b/c: partial temp and a target copy; truth = default */
    CHECK_INT(add_msgs("hank"), 0);
    snprintf(p, sizeof(p), "%s/user/h/.hank.moving/msg/aa/x", g_p2);
    mkfile(p);
    snprintf(p, sizeof(p), "%s/user/h/hank/mail.db", g_p2);
    mkfile(p);
    set_state("hank", "default", "moving", "p2", (long)dead_pid());
    CHECK_INT(storage_partitions_recover(), 1);
    CHECK(!is_dir(P("%s/user/h/hank", g_p2)));
    CHECK(!is_dir(P("%s/user/h/.hank.moving", g_p2)));
    CHECK_INT(db_count("hank"), 0);
    check_msgs("hank");
    /* crash points d/e: switched to p2, partial old copy left on default */
    CHECK_INT(mail_user_move_partition("hank", "p2"), 0);
    snprintf(p, sizeof(p), "%s/user/h/hank/msg/bb/y", g_dir);
    mkfile(p);
    set_state("hank", "p2", "cleanup", "default", (long)dead_pid());
    struct mail_user *u;
    CHECK_INT(mail_user_open("hank", false, &u), 0);   /* lazy recovery */
    mail_user_close(u);
    CHECK(!is_dir(P("%s/user/h/hank", g_dir)));
    CHECK_STR(part_of("hank"), "p2");
    check_msgs("hank");
    /* an interrupted move does not block the next one */
    set_state("hank", "p2", "moving", "p3", (long)dead_pid());
    CHECK_INT(mail_user_move_partition("hank", "p3"), 0);
    CHECK_STR(part_of("hank"), "p3");
    check_msgs("hank");
}

static void test_rename(void)
{
    CHECK_INT(mail_user_create("ivan", "p2"), 0);
    CHECK_INT(add_msgs("ivan"), 0);
    CHECK_INT(mail_user_rename_store("ivan", "ivan2"), 0);
    CHECK_INT(mail_user_partition("ivan", g_part, sizeof(g_part)), STORAGE_ERR_NOTFOUND);
    CHECK_STR(part_of("ivan2"), "p2");
    CHECK(!is_dir(P("%s/user/i/ivan", g_p2)));
    CHECK(file_at(P("%s/user/i/ivan2/mail.db", g_p2)));
    CHECK_INT(db_count("ivan"), 0);
    check_msgs("ivan2");
    /* default partition, other bucket */
    CHECK_INT(add_msgs("jack"), 0);
    CHECK_INT(mail_user_rename_store("jack", "kate"), 0);
    CHECK(file_at(P("%s/user/k/kate/mail.db", g_dir)));
    CHECK(!is_dir(P("%s/user/j/jack", g_dir)));
    CHECK_INT(db_count("kate"), 0);
    check_msgs("kate");
    struct mail_user *u;
    CHECK_INT(mail_user_open("jack", false, &u), STORAGE_ERR_NOTFOUND);
    /* errors */
    CHECK_INT(mail_user_rename_store("kate", "alice"), STORAGE_ERR_EXISTS);   /* default */
    CHECK_INT(mail_user_rename_store("kate", "bob"), STORAGE_ERR_EXISTS);     /* on p2 */
    CHECK_INT(mail_user_rename_store("kate", "kate"), STORAGE_ERR_EXISTS);
    CHECK_INT(mail_user_rename_store("nobody", "nobody2"), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mail_user_rename_store("kate", "%shared@x.org"), STORAGE_ERR_INVALID);
    CHECK_INT(db_count("alice"), 0);
    CHECK_INT(db_count("kate"), 0);
    CHECK_INT(mail_user_open("kate", false, &u), 0);
    CHECK_INT(mail_user_rename_store("kate", "kate2"), STORAGE_ERR_BUSY);
    mail_user_close(u);
    CHECK_INT(db_count("kate2"), 0);
    /* crash after rename(2), before stores.db: recovery completes it */
    CHECK_INT(mail_user_create("liam", "p3"), 0);
    char a[512], b[512];
    snprintf(a, sizeof(a), "%s/user/l/liam", g_p3);
    snprintf(b, sizeof(b), "%s/user/m/mona", g_p3);
    mkdir(b, 0700);
    rmdir(b);
    snprintf(b, sizeof(b), "%s/user/m", g_p3);
    mkdir(b, 0700);
    snprintf(b, sizeof(b), "%s/user/m/mona", g_p3);
    CHECK(rename(a, b) == 0);
    long dp = (long)dead_pid();
    set_state("liam", "p3", "renaming", "mona", dp);
    set_state("mona", "p3", "reserved", "liam", dp);
    CHECK_INT(mail_user_open("mona", false, &u), 0);   /* via the reserved row */
    mail_user_close(u);
    CHECK_STR(part_of("mona"), "p3");
    CHECK_INT(db_count("liam"), 0);
    /* crash before rename(2): undone */
    set_state("mona", "p3", "renaming", "nina", dp);
    set_state("nina", "p3", "reserved", "mona", dp);
    CHECK_INT(storage_partitions_recover(), 1);
    CHECK_INT(db_count("nina"), 0);
    CHECK_STR(part_of("mona"), "p3");
}

static void test_delete(void)
{
    CHECK_INT(mail_user_create("olga", "p2"), 0);
    CHECK_INT(add_msgs("olga"), 0);
    struct mail_user *u;
    CHECK_INT(mail_user_open("olga", false, &u), 0);
    CHECK_INT(mail_user_delete_store("olga"), STORAGE_ERR_BUSY);
    mail_user_close(u);
    CHECK_INT(mail_user_delete_store("olga"), 0);
    CHECK(!is_dir(P("%s/user/o/olga", g_p2)));
    CHECK_INT(db_count("olga"), 0);
    CHECK_INT(mail_user_delete_store("olga"), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mail_user_open("olga", false, &u), STORAGE_ERR_NOTFOUND);
    /* a new store of the same name starts empty */
    CHECK_INT(mail_user_open("olga", true, &u), 0);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "INBOX", &info), 0);
    CHECK_INT(info.messages, 0);
    mail_user_close(u);
    CHECK_STR(part_of("olga"), "default");
    CHECK_INT(mail_user_delete_store("olga"), 0);
    CHECK_INT(mail_user_delete_store("%shared@example.org"), 0);
    CHECK(!is_dir(P("%s/shared/example.org", g_dir)));
    /* crash in the middle of a delete: completed */
    CHECK_INT(add_msgs("pete"), 0);
    set_state("pete", "default", "deleting", "", (long)dead_pid());
    CHECK_INT(mail_user_open("pete", false, &u), STORAGE_ERR_NOTFOUND);
    CHECK(!is_dir(P("%s/user/p/pete", g_dir)));
    CHECK_INT(db_count("pete"), 0);
}

struct got {
    char user[32][64];
    long long id[32];
    int n;
};
static void got_cb(const char *user, int64_t id, void *arg)
{
    struct got *g = arg;
    if (g->n < 32) {
        snprintf(g->user[g->n], 64, "%s", user);
        g->id[g->n++] = id;
    }
}

static void test_notify_kick(void)
{
    int fd = notify_listener_open();
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    notify_user_kick("zed");
    notify_user_kick("");                    /* ignored */
    notify_mailbox_changed("zed", 0);        /* not a mailbox: never a kick */
    notify_mailbox_changed("zed", -1);
    notify_mailbox_changed("zed", 7);
    notify_auth_flush("zed");
    notify_auth_flush("");                   /* ignored */
    /* hostile datagrams: other negative ids, garbage */
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int pl = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/run/notify/%d.sock", g_dir, (int)getpid());
    CHECK(pl > 0 && (size_t)pl < sizeof(sa.sun_path));
    const char bad1[] = "zed\0-3", bad2[] = "zed\0x", bad3[] = "\0-1", bad4[] = "zed";
    sendto(s, bad1, sizeof(bad1) - 1, 0, (struct sockaddr *)&sa, sizeof(sa));
    sendto(s, bad2, sizeof(bad2) - 1, 0, (struct sockaddr *)&sa, sizeof(sa));
    sendto(s, bad3, sizeof(bad3) - 1, 0, (struct sockaddr *)&sa, sizeof(sa));
    sendto(s, bad4, sizeof(bad4) - 1, 0, (struct sockaddr *)&sa, sizeof(sa));
    close(s);
    struct got g = {0};
    notify_listener_read(fd, got_cb, &g);
    CHECK_INT(g.n, 3);
    CHECK_STR(g.user[0], "zed");
    CHECK_INT(g.id[0], NOTIFY_KICK_USER);
    CHECK_STR(g.user[1], "zed");
    CHECK_INT(g.id[1], 7);
    CHECK_STR(g.user[2], "zed");
    CHECK_INT(g.id[2], NOTIFY_AUTH_FLUSH);
    notify_listener_close();
}

static int rm_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
    (void)st;
    (void)f;
    return type == FTW_DP ? rmdir(p) : unlink(p);
}

int main(void)
{
    log_init("test-partition", true, false, NULL);
    /* expected errors (bad config, busy) are not noise worth reading */
    log_set_level((enum log_level)(LOG_LVL_ERR + 1));
    snprintf(g_dir, sizeof(g_dir), "/tmp/darius-part-XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    snprintf(g_p2, sizeof(g_p2), "%s-p2", g_dir);
    snprintf(g_p3, sizeof(g_p3), "%s-p3", g_dir);
    snprintf(g_p4, sizeof(g_p4), "%s/stores.db/p4", g_dir);
    set_config(NULL);
    if (storage_init(g_dir) < 0)
        return 1;
    RUN(test_names);
    RUN(test_notify_kick);
    RUN(test_default_location);
    RUN(test_create_on_partition);
    RUN(test_defaultpartition);
    RUN(test_list_stores);
    RUN(test_move);
    RUN(test_refused_while_open_elsewhere);
    RUN(test_kick);
    RUN(test_busy_state);
    RUN(test_recover_move);
    RUN(test_rename);
    RUN(test_delete);
    storage_shutdown();
    nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    nftw(g_p2, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    nftw(g_p3, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return unit_done();
}
