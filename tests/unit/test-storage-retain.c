/* test-storage-retain.c - expunged messages stay readable for the handles
 * that still show them until they are told (RFC 2180 4.1.1;
 * sqlite-retain.c): in one process, across processes, after a crash. */
#include "unit.h"
#include "store-harness.h"
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const BODY[] = {
    "Subject: one\r\n\r\nfirst\r\n",
    "From: a@example.com\r\nSubject: two\r\n\r\nsecond body\r\n",
    "Subject: three\r\n\r\nthird\r\n",
};

static void append3(struct mail_user *u, const char *box)
{
    for (int i = 0; i < 3; i++) {
        struct append_msg m = {BODY[i], -1, strlen(BODY[i]), i == 1 ? MSG_FLAGGED : 0, i == 1 ? "$Two" : NULL,
                               0, 0, false, false};
        uint32_t uv, uid;
        CHECK_INT(mailbox_append_by_name(u, box, &m, &uv, &uid), 0);
    }
}

/* Number of message files of user (the msg/ tree). */
static int nfiles(const char *user)
{
    char path[512];
    int n = 0;
    for (int a = 0; a < 256; a++) {
        snprintf(path, sizeof(path), "%s/user/%c/%s/msg/%02x", g_dir, user[0], user, a);
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
    }
    return n;
}

static int problems(struct mail_user *u)
{
    return mail_user_check(u, false, NULL, NULL);
}

static int expunge_uid(struct mailbox *mb, uint32_t uid)
{
    struct store_req del = {STORE_ADD, MSG_DELETED, NULL, 0};
    int r = mailbox_store(mb, &uid, 1, &del, NULL, NULL, NULL, NULL);
    return r ? r : mailbox_expunge(mb, &uid, 1, NULL, NULL);
}

struct recs { struct msg_record r[8]; char kw[8][64]; size_t n; };
static int rec_cb(const struct msg_record *r, void *arg)
{
    struct recs *l = arg;
    if (l->n < 8) {
        l->r[l->n] = *r;
        snprintf(l->kw[l->n], sizeof(l->kw[0]), "%s", r->keywords);
        l->r[l->n].keywords = l->kw[l->n];
        l->n++;
    }
    return 0;
}
static int count_cb(uint32_t uid, void *arg)
{
    (void)uid;
    (*(int *)arg)++;
    return 0;
}

/* Sync a viewer the way an IMAP session does and report it told. */
static int sync_and_tell(struct mailbox *mb)
{
    uint64_t since = mailbox_get_info(mb)->highestmodseq;   /* as of the last sync (or open) */
    int n = 0;
    int r = mailbox_sync(mb, since, NULL, NULL, count_cb, &n);
    if (r == 0)
        mailbox_expunges_told(mb, mailbox_get_info(mb)->highestmodseq);
    return r == 0 ? n : r;
}

static void test_one_process(void)
{
    struct mail_user *u;
    CHECK_INT(mail_user_open("alice", true, &u), 0);
    append3(u, "INBOX");
    struct mailbox *view, *other;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &view), 0);
    CHECK_INT(mailbox_keep_expunged(view), 0);
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &other), 0);
    CHECK_INT(nfiles("alice"), 3);
    CHECK_INT(expunge_uid(other, 2), 0);

    /* gone for everyone but the viewer: counters, quota, UID list */
    struct mailbox_info st;
    CHECK_INT(mailbox_status(u, "INBOX", &st), 0);
    CHECK_INT(st.messages, 2);
    struct quota_root q;
    CHECK_INT(quota_get(u, "", &q), 0);
    CHECK_INT(q.message_used, 2);
    CHECK_INT(q.storage_used, (int64_t)(strlen(BODY[0]) + strlen(BODY[2])));
    uint32_t *uids, n;
    CHECK_INT(mailbox_get_uids(view, &uids, &n), 0);
    CHECK_INT(n, 2);
    free(uids);
    struct msg_content c;
    CHECK_INT(mailbox_get_content(other, 2, &c), STORAGE_ERR_NOTFOUND);

    /* still readable by the viewer, as it was */
    struct recs l = {.n = 0};
    CHECK_INT(mailbox_foreach_expunged(view, 1, 3, rec_cb, &l), 0);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.r[0].uid, 2);
    CHECK_INT(l.r[0].flags, MSG_FLAGGED | MSG_DELETED);
    CHECK_STR(l.r[0].keywords, "$Two");
    CHECK_INT(l.r[0].size, strlen(BODY[1]));
    CHECK_INT(mailbox_get_content(view, 2, &c), 0);
    CHECK(c.len == strlen(BODY[1]) && memcmp(c.data, BODY[1], c.len) == 0);
    msg_content_release(&c);
    struct msg_cache mc;
    CHECK_INT(mailbox_get_cache(view, 2, &mc), 0);
    CHECK(mc.envelope && strstr(mc.envelope, "\"two\""));
    msg_cache_free(&mc);
    CHECK_INT(nfiles("alice"), 3);
    CHECK_INT(problems(u), 0);
    /* nothing for a range without it, nothing for a non-viewer */
    l.n = 0;
    CHECK_INT(mailbox_foreach_expunged(view, 3, 3, rec_cb, &l), 0);
    CHECK_INT(l.n, 0);
    CHECK_INT(mailbox_foreach_expunged(other, 1, 3, rec_cb, &l), 0);
    CHECK_INT(l.n, 0);

    /* told: gone */
    CHECK_INT(sync_and_tell(view), 1);
    CHECK_INT(nfiles("alice"), 2);
    l.n = 0;
    CHECK_INT(mailbox_foreach_expunged(view, 1, 3, rec_cb, &l), 0);
    CHECK_INT(l.n, 0);
    CHECK_INT(mailbox_get_content(view, 2, &c), STORAGE_ERR_NOTFOUND);
    CHECK_INT(problems(u), 0);

    /* the viewer's own expunge is not kept for it; with no other viewer
     * it goes at once */
    CHECK_INT(expunge_uid(view, 3), 0);
    CHECK_INT(nfiles("alice"), 1);

    /* closing the last viewer releases what it held */
    CHECK_INT(expunge_uid(other, 1), 0);
    CHECK_INT(nfiles("alice"), 1);
    mailbox_close(view);
    CHECK_INT(nfiles("alice"), 0);
    CHECK_INT(raw_int("alice", "SELECT count(*) FROM viewer"), 0);
    CHECK_INT(raw_int("alice", "SELECT count(*) FROM retained"), 0);
    mailbox_close(other);
    CHECK_INT(problems(u), 0);
    mail_user_close(u);
}

/* Two viewers: a message goes when the last of them is told. */
static void test_two_viewers(void)
{
    struct mail_user *u;
    CHECK_INT(mail_user_open("bob", true, &u), 0);
    append3(u, "INBOX");
    struct mailbox *a, *b, *x;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &a), 0);
    CHECK_INT(mailbox_keep_expunged(a), 0);
    CHECK_INT(mailbox_open(u, "INBOX", true, false, NULL, &b), 0);   /* EXAMINE too */
    CHECK_INT(mailbox_keep_expunged(b), 0);
    /* one viewer row for the process, however many viewers it has */
    CHECK_INT(raw_int("bob", "SELECT count(*) FROM viewer"), 1);
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &x), 0);
    CHECK_INT(expunge_uid(x, 1), 0);
    CHECK_INT(expunge_uid(x, 2), 0);
    CHECK_INT(nfiles("bob"), 3);
    CHECK_INT(sync_and_tell(a), 2);
    CHECK_INT(nfiles("bob"), 3);
    struct recs l = {.n = 0};
    CHECK_INT(mailbox_foreach_expunged(b, 1, 3, rec_cb, &l), 0);
    CHECK_INT(l.n, 2);
    CHECK_INT(sync_and_tell(b), 2);
    CHECK_INT(nfiles("bob"), 1);
    CHECK_INT(raw_int("bob", "SELECT count(*) FROM retained"), 0);
    mailbox_close(a);
    CHECK_INT(raw_int("bob", "SELECT count(*) FROM viewer"), 1);
    mailbox_close(b);
    CHECK_INT(raw_int("bob", "SELECT count(*) FROM viewer"), 0);
    mailbox_close(x);
    mail_user_close(u);
}

/* COPY and MOVE of a message kept for the source handle copy it (RFC 2180
 * 4.4.2); the copy outlives the release of the kept one. */
static int push_uid(uint32_t uid, void *arg)
{
    uint32_t *v = arg;
    v[v[0] + 1] = uid;
    v[0]++;
    return 0;
}
static void test_copy_kept(void)
{
    struct mail_user *u;
    CHECK_INT(mail_user_open("carol", true, &u), 0);
    CHECK_INT(mailbox_create(u, "Dest", 0), 0);
    append3(u, "INBOX");
    struct mailbox *view, *x;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &view), 0);
    CHECK_INT(mailbox_keep_expunged(view), 0);
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &x), 0);
    CHECK_INT(expunge_uid(x, 2), 0);
    CHECK_INT(expunge_uid(x, 3), 0);
    uint32_t src[2], dst[2], uv;
    size_t nc = 0;
    uint32_t two = 2, three = 3;
    CHECK_INT(mailbox_copy(view, &two, 1, "Dest", false, &uv, src, dst, &nc, NULL, NULL), 0);
    CHECK_INT(nc, 1);
    CHECK_INT(src[0], 2);
    uint32_t gone[4] = {0};
    CHECK_INT(mailbox_copy(view, &three, 1, "Dest", true, &uv, src, dst, &nc, push_uid, gone), 0);
    CHECK_INT(nc, 1);
    CHECK_INT(gone[0], 1);   /* reported as expunged by the MOVE */
    CHECK_INT(gone[1], 3);
    struct mailbox_info st;
    CHECK_INT(mailbox_status(u, "Dest", &st), 0);
    CHECK_INT(st.messages, 2);
    CHECK_INT(mailbox_status(u, "INBOX", &st), 0);
    CHECK_INT(st.messages, 1);
    CHECK_INT(problems(u), 0);
    CHECK_INT(sync_and_tell(view), 2);
    mailbox_close(view);
    mailbox_close(x);
    CHECK_INT(nfiles("carol"), 3);   /* 1 in INBOX, 2 copies in Dest */
    struct mailbox *d;
    CHECK_INT(mailbox_open(u, "Dest", false, false, NULL, &d), 0);
    struct msg_content c;
    CHECK_INT(mailbox_get_content(d, 1, &c), 0);
    CHECK(c.len == strlen(BODY[1]) && memcmp(c.data, BODY[1], c.len) == 0);
    msg_content_release(&c);
    mailbox_close(d);
    CHECK_INT(problems(u), 0);
    /* a cross-store copy of a kept message: its file is linked over */
    struct mail_user *o;
    CHECK_INT(mail_user_open("other", true, &o), 0);
    append3(u, "INBOX");   /* uids 4..6 */
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &view), 0);
    CHECK_INT(mailbox_keep_expunged(view), 0);
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &x), 0);
    uint32_t five = 5;
    CHECK_INT(expunge_uid(x, 5), 0);
    memset(gone, 0, sizeof(gone));
    CHECK_INT(mailbox_copy_to(view, &five, 1, o, "INBOX", true, &uv, src, dst, &nc, push_uid, gone), 0);
    CHECK_INT(nc, 1);
    CHECK_INT(gone[0], 1);
    CHECK_INT(gone[1], 5);
    mailbox_close(view);
    mailbox_close(x);
    CHECK_INT(problems(u), 0);
    CHECK_INT(problems(o), 0);
    CHECK_INT(nfiles("other"), 1);
    mail_user_close(o);
    mail_user_close(u);
}

/* Deleting the mailbox drops what was kept for its viewers. */
static void test_delete_mailbox(void)
{
    struct mail_user *u;
    CHECK_INT(mail_user_open("dave", true, &u), 0);
    CHECK_INT(mailbox_create(u, "Box", 0), 0);
    append3(u, "Box");
    struct mailbox *view, *x;
    CHECK_INT(mailbox_open(u, "Box", false, false, NULL, &view), 0);
    CHECK_INT(mailbox_keep_expunged(view), 0);
    CHECK_INT(mailbox_open(u, "Box", false, false, NULL, &x), 0);
    CHECK_INT(expunge_uid(x, 1), 0);
    mailbox_close(x);
    CHECK_INT(nfiles("dave"), 3);
    CHECK_INT(mailbox_delete(u, "Box"), 0);
    CHECK_INT(nfiles("dave"), 0);
    CHECK_INT(raw_int("dave", "SELECT count(*) FROM retained"), 0);
    mailbox_close(view);   /* its mailbox is gone: nothing to do, no error */
    CHECK_INT(raw_int("dave", "SELECT count(*) FROM viewer"), 0);
    CHECK_INT(problems(u), 0);
    mail_user_close(u);
}

/* A viewer in another process: kept while it lives and has not been told;
 * released when it is told; and when it dies (SIGKILL, no close), at the
 * next open of the store. */
static pid_t spawn_viewer(const char *user, const char *box, int *ready_fd, int *go_fd)
{
    int r2p[2], p2c[2];
    CHECK(pipe(r2p) == 0 && pipe(p2c) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(r2p[0]);
        close(p2c[1]);
        struct mail_user *cu;
        struct mailbox *mb;
        if (mail_user_open(user, false, &cu) != 0 || mailbox_open(cu, box, false, false, NULL, &mb) != 0 ||
            mailbox_keep_expunged(mb) != 0)
            _exit(1);
        char ch = 'r';
        if (write(r2p[1], &ch, 1) != 1)
            _exit(1);
        if (read(p2c[0], &ch, 1) != 1)
            _exit(1);
        /* told: sync as a session does, then go away cleanly */
        int n = sync_and_tell(mb);
        mailbox_close(mb);
        mail_user_close(cu);
        _exit(n == 1 ? 0 : 3);
    }
    close(r2p[1]);
    close(p2c[0]);
    char ch;
    CHECK(read(r2p[0], &ch, 1) == 1);
    *ready_fd = r2p[0];
    *go_fd = p2c[1];
    return pid;
}

static void test_other_process(void)
{
    struct mail_user *u;
    CHECK_INT(mail_user_open("erin", true, &u), 0);
    append3(u, "INBOX");
    mail_user_close(u);   /* no connection across fork */

    int rfd, gfd;
    pid_t pid = spawn_viewer("erin", "INBOX", &rfd, &gfd);
    CHECK_INT(mail_user_open("erin", false, &u), 0);
    CHECK_INT(raw_int("erin", "SELECT count(*) FROM viewer"), 1);
    struct mailbox *x;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &x), 0);
    CHECK_INT(expunge_uid(x, 1), 0);
    CHECK_INT(nfiles("erin"), 3);
    CHECK_INT(raw_int("erin", "SELECT count(*) FROM retained"), 1);
    mailbox_close(x);
    mail_user_close(u);
    CHECK(write(gfd, "g", 1) == 1);   /* the child syncs, tells, closes */
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(rfd);
    close(gfd);
    CHECK_INT(nfiles("erin"), 2);
    CHECK_INT(raw_int("erin", "SELECT count(*) FROM viewer"), 0);

    /* a viewer that dies without closing */
    pid = spawn_viewer("erin", "INBOX", &rfd, &gfd);
    CHECK_INT(mail_user_open("erin", false, &u), 0);
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &x), 0);
    CHECK_INT(expunge_uid(x, 2), 0);
    mailbox_close(x);
    CHECK_INT(nfiles("erin"), 2);
    /* an open of the store by another process while the viewer lives
     * keeps the message (and writes nothing) */
    mail_user_close(u);
    CHECK_INT(mail_user_open("erin", false, &u), 0);
    CHECK_INT(nfiles("erin"), 2);
    mail_user_close(u);
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, &status, 0) == pid);
    close(rfd);
    close(gfd);
    CHECK_INT(raw_int("erin", "SELECT count(*) FROM viewer"), 1);   /* left behind */
    CHECK_INT(nfiles("erin"), 2);
    CHECK_INT(mail_user_open("erin", false, &u), 0);   /* the next open cleans up */
    CHECK_INT(nfiles("erin"), 1);
    CHECK_INT(raw_int("erin", "SELECT count(*) FROM viewer"), 0);
    CHECK_INT(raw_int("erin", "SELECT count(*) FROM retained"), 0);
    struct quota_root q;
    CHECK_INT(quota_get(u, "", &q), 0);
    CHECK_INT(q.message_used, 1);
    CHECK_INT(problems(u), 0);

    /* an expunge also drops the rows of dead viewers instead of keeping
     * messages for them, and a reused pid is told apart by its start
     * time: pid 1 with a start time that is not init's */
    raw_exec("erin", "INSERT INTO viewer(mailbox_id,pid,pstart,modseq) SELECT id,1,9223372036854775000,0 "
                     "FROM mailbox WHERE name='INBOX'");
    raw_exec("erin", "INSERT INTO viewer(mailbox_id,pid,pstart,modseq) SELECT id,999999999,5,0 FROM mailbox "
                     "WHERE name='INBOX'");
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &x), 0);
    CHECK_INT(expunge_uid(x, 3), 0);
    mailbox_close(x);
    CHECK_INT(nfiles("erin"), 0);
    CHECK_INT(raw_int("erin", "SELECT count(*) FROM viewer"), 0);
    CHECK_INT(problems(u), 0);
    mail_user_close(u);
}

/* What a crash leaves (retained messages, the dead process's viewer
 * rows) goes at the next open; so do rows under this process's own pid,
 * which a process opening a store cannot own. */
static void test_recover_at_open(void)
{
    struct mail_user *u;
    CHECK_INT(mail_user_open("fred", true, &u), 0);
    append3(u, "INBOX");
    mail_user_close(u);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* a worker with a session that has INBOX selected while another
         * expunges, and then dies: nothing is closed */
        struct mail_user *cu;
        struct mailbox *view, *x;
        if (mail_user_open("fred", false, &cu) != 0 || mailbox_open(cu, "INBOX", false, false, NULL, &view) != 0 ||
            mailbox_keep_expunged(view) != 0 || mailbox_open(cu, "INBOX", false, false, NULL, &x) != 0 ||
            expunge_uid(x, 1) != 0 || expunge_uid(x, 2) != 0)
            _exit(1);
        _exit(0);
    }
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(raw_int("fred", "SELECT count(*) FROM retained"), 2);
    CHECK_INT(raw_int("fred", "SELECT count(*) FROM viewer"), 1);
    CHECK_INT(nfiles("fred"), 3);
    CHECK_INT(mail_user_open("fred", false, &u), 0);
    CHECK_INT(nfiles("fred"), 1);
    CHECK_INT(raw_int("fred", "SELECT count(*) FROM retained"), 0);
    CHECK_INT(raw_int("fred", "SELECT count(*) FROM viewer"), 0);
    CHECK_INT(raw_int("fred", "SELECT refcount FROM blob"), 1);
    struct mailbox_info st;
    CHECK_INT(mailbox_status(u, "INBOX", &st), 0);
    CHECK_INT(st.messages, 1);
    CHECK_INT(st.size, strlen(BODY[2]));
    CHECK_INT(problems(u), 0);
    mail_user_close(u);

    /* a row under this process's pid (a close that failed) */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO viewer(mailbox_id,pid,pstart,modseq) SELECT id,%d,0,0 FROM mailbox WHERE name='INBOX'",
             (int)getpid());
    raw_exec("fred", sql);
    CHECK_INT(mail_user_open("fred", false, &u), 0);
    CHECK_INT(raw_int("fred", "SELECT count(*) FROM viewer"), 0);
    mail_user_close(u);
}

int main(void)
{
    if (store_harness_init("test-storage-retain") != 0)
        return 2;
    unit_deadline(120);
    RUN(test_one_process);
    RUN(test_two_viewers);
    RUN(test_copy_kept);
    RUN(test_delete_mailbox);
    RUN(test_other_process);
    RUN(test_recover_at_open);
    storage_shutdown();
    return unit_done();
}
