/* test-quota.c - quota roots in the storage layer (RFC 9208 semantics). */
#include "unit.h"
#include "store-harness.h"
#include "storage.h"
#include "config.h"
#include "log.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

/* Messages of exact sizes: a header plus padding. */
static char *make_msg(size_t size)
{
    static const char hdr[] = "Subject: q\r\n\r\n";
    char *m = xmalloc(size + 1);
    size_t hl = strlen(hdr);
    if (size < hl)
        abort();
    memcpy(m, hdr, hl);
    memset(m + hl, 'x', size - hl);
    m[size] = '\0';
    return m;
}

static int append_n(struct mail_user *u, const char *mbox, size_t size, size_t count)
{
    struct mailbox *mb;
    int r = mailbox_open(u, mbox, false, false, NULL, &mb);
    if (r < 0)
        return r;
    struct append_txn *t;
    r = mailbox_append_begin(mb, &t);
    char *data = make_msg(size);
    for (size_t i = 0; r == 0 && i < count; i++) {
        struct append_msg m = {.data = data, .fd = -1, .len = size};
        r = mailbox_append_add(t, &m);
    }
    if (r == 0)
        r = mailbox_append_commit(t, NULL, NULL, 0);
    else if (t)
        mailbox_append_abort(t);
    free(data);
    mailbox_close(mb);
    return r;
}

static struct quota_root get(struct mail_user *u, const char *root)
{
    struct quota_root q;
    memset(&q, 0, sizeof(q));
    q.storage_used = q.message_used = q.mailbox_used = -999;
    CHECK_INT(quota_get(u, root, &q), 0);
    return q;
}

/* Usage of a root must equal the sum of the STATUS sizes of the covered mailboxes. */
struct sum_ctx {
    const char *root;
    int64_t size, messages, mailboxes;
};

static void sum_cb(const struct mailbox_info *i, void *arg)
{
    struct sum_ctx *c = arg;
    size_t rl = strlen(c->root);
    if (rl && !(strcmp(i->name, c->root) == 0 || (strncmp(i->name, c->root, rl) == 0 && i->name[rl] == '/')))
        return;
    c->size += (int64_t)i->size;
    c->messages += i->messages;
    c->mailboxes++;
}

static void check_consistent(struct mail_user *u, const char *root)
{
    struct sum_ctx c = {root, 0, 0, 0};
    CHECK_INT(mailbox_list(u, sum_cb, &c), 0);
    struct quota_root q = get(u, root);
    CHECK_INT(q.storage_used, c.size);
    CHECK_INT(q.message_used, c.messages);
    CHECK_INT(q.mailbox_used, c.mailboxes);
    CHECK_INT(quota_recalc(u, false, NULL, NULL), 0);   /* no drift */
}

static int count_files(const char *user)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "find %s/user/%c/%s/msg -type f | wc -l", g_dir, user[0], user);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_default_root(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qa", true, &u), 0);
    struct quota_root q = get(u, "");
    CHECK_STR(q.name, "");
    CHECK_INT(q.storage_limit_kb, QUOTA_UNLIMITED);
    CHECK_INT(q.message_limit, QUOTA_UNLIMITED);
    CHECK_INT(q.mailbox_limit, QUOTA_UNLIMITED);
    CHECK_INT(q.mailbox_used, 1);   /* INBOX */
    CHECK_INT(q.message_used, 0);
    CHECK_INT(quota_get(u, "nope", &q), STORAGE_ERR_NOTFOUND);
    CHECK_INT(quota_set(u, "nope", 1, -1, -1), STORAGE_ERR_NOTFOUND);   /* no such mailbox */
    CHECK_INT(quota_set(u, "", -2, -1, -1), STORAGE_ERR_INVALID);
    CHECK_INT(quota_set(u, "", QUOTA_MAX_LIMIT + 1, -1, -1), STORAGE_ERR_INVALID);
    CHECK_INT(quota_remove(u, ""), 0);   /* the user root stays */
    CHECK_INT(quota_get(u, "", &q), 0);
    mail_user_close(u);
}

static void test_usage_ops(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qb", true, &u), 0);
    CHECK_INT(append_n(u, "INBOX", 100, 3), 0);
    struct quota_root q = get(u, "");
    CHECK_INT(q.storage_used, 300);
    CHECK_INT(q.message_used, 3);
    CHECK_INT(mailbox_create(u, "A", 0), 0);
    CHECK_INT(mailbox_create(u, "A/b", 0), 0);
    CHECK_INT(get(u, "").mailbox_used, 3);
    check_consistent(u, "");
    /* copy, move, expunge */
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &mb), 0);
    uint32_t uids[3] = {1, 2, 3}, su[3], du[3];
    size_t n = 0;
    CHECK_INT(mailbox_copy(mb, uids, 2, "A", false, NULL, su, du, &n, NULL, NULL), 0);
    CHECK_INT(n, 2);
    q = get(u, "");
    CHECK_INT(q.storage_used, 500);
    CHECK_INT(q.message_used, 5);
    CHECK_INT(mailbox_copy(mb, uids + 2, 1, "A/b", true, NULL, su, du, &n, NULL, NULL), 0);
    q = get(u, "");
    CHECK_INT(q.storage_used, 500);
    CHECK_INT(q.message_used, 5);
    check_consistent(u, "");
    struct store_req req = {STORE_ADD, MSG_DELETED, NULL, 0};
    CHECK_INT(mailbox_store(mb, uids, 1, &req, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_expunge(mb, NULL, 0, NULL, NULL), 0);
    q = get(u, "");
    CHECK_INT(q.storage_used, 400);
    CHECK_INT(q.message_used, 4);
    mailbox_close(mb);
    check_consistent(u, "");
    /* sub-root */
    CHECK_INT(quota_set(u, "A", 10, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    q = get(u, "A");
    CHECK_INT(q.storage_limit_kb, 10);
    CHECK_INT(q.storage_used, 300);
    CHECK_INT(q.message_used, 3);
    CHECK_INT(q.mailbox_used, 2);
    check_consistent(u, "A");
    /* rename across roots: usage moves with the subtree, and the root
     * moves with its mailbox */
    CHECK_INT(mailbox_rename(u, "A/b", "C"), 0);
    q = get(u, "A");
    CHECK_INT(q.storage_used, 200);
    CHECK_INT(q.mailbox_used, 1);
    CHECK_INT(get(u, "").storage_used, 400);
    check_consistent(u, "A");
    CHECK_INT(mailbox_rename(u, "A", "Z"), 0);
    CHECK_INT(quota_get(u, "A", &q), STORAGE_ERR_NOTFOUND);
    q = get(u, "Z");
    CHECK_INT(q.storage_limit_kb, 10);
    CHECK_INT(q.storage_used, 200);
    check_consistent(u, "Z");
    /* rename INBOX: its messages move to a new mailbox */
    CHECK_INT(mailbox_rename(u, "INBOX", "Z/old"), 0);
    q = get(u, "Z");
    CHECK_INT(q.storage_used, 300);
    CHECK_INT(q.message_used, 3);
    CHECK_INT(q.mailbox_used, 2);
    check_consistent(u, "Z");
    check_consistent(u, "");
    /* delete */
    CHECK_INT(mailbox_delete(u, "Z/old"), 0);
    q = get(u, "Z");
    CHECK_INT(q.storage_used, 200);
    CHECK_INT(q.mailbox_used, 1);
    check_consistent(u, "Z");
    check_consistent(u, "");
    /* roots covering a mailbox, outermost first */
    /* quotawarn percentage: the highest of the covering roots */
    CHECK_INT(mailbox_create(u, "Z/x/y", 0), 0);
    CHECK_INT(quota_set(u, "Z/x", QUOTA_UNLIMITED, 7, QUOTA_UNLIMITED), STORAGE_ERR_NOTFOUND);   /* needs its mailbox */
    CHECK_INT(mailbox_create(u, "Z/x", 0), 0);
    CHECK_INT(quota_set(u, "Z/x", QUOTA_UNLIMITED, 7, QUOTA_UNLIMITED), 0);
    int pct = -1;
    CHECK_INT(quota_usage_percent(u, "Z/x/y", &pct), 0);
    CHECK_INT(pct, 10);   /* Z: 200 bytes = 1 KiB (rounded up) of 10 KiB; Z/x: 0 of 7 messages */
    CHECK_INT(quota_remove(u, "Z/x"), 0);
    CHECK_INT(quota_remove(u, "Z/x"), STORAGE_ERR_NOTFOUND);
    mail_user_close(u);
}

static int collect_root(const struct quota_root *q, void *arg)
{
    char *s = arg;
    strcat(s, "[");
    strcat(s, q->name);
    strcat(s, "]");
    return 0;
}

static void test_roots_of(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qc", true, &u), 0);
    CHECK_INT(mailbox_create(u, "A", 0), 0);
    CHECK_INT(mailbox_create(u, "A/B", 0), 0);
    CHECK_INT(mailbox_create(u, "AB", 0), 0);
    CHECK_INT(quota_set(u, "A", 100, -1, -1), 0);
    CHECK_INT(quota_set(u, "A/B", 100, -1, -1), 0);
    char s[256] = "";
    CHECK_INT(quota_roots_of(u, "A/B/C", collect_root, s), 0);
    CHECK_STR(s, "[][A][A/B]");
    s[0] = '\0';
    CHECK_INT(quota_roots_of(u, "AB", collect_root, s), 0);   /* not covered by "A" */
    CHECK_STR(s, "[]");
    s[0] = '\0';
    CHECK_INT(quota_list(u, collect_root, s), 0);
    CHECK_STR(s, "[][A][A/B]");
    CHECK_INT(get(u, "A").mailbox_used, 2);
    mail_user_close(u);
}

static void test_limits(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qd", true, &u), 0);
    int files0 = count_files("qd");
    /* storage: exactly 2 KiB fits, one byte more does not */
    CHECK_INT(quota_set(u, "", 2, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    CHECK_INT(append_n(u, "INBOX", 1024, 1), 0);
    CHECK_INT(append_n(u, "INBOX", 1025, 1), STORAGE_ERR_OVERQUOTA);
    CHECK_INT(count_files("qd"), files0 + 1);   /* the refused body is gone */
    CHECK_INT(append_n(u, "INBOX", 1024, 1), 0);
    struct quota_root q = get(u, "");
    CHECK_INT(q.storage_used, 2048);
    CHECK_INT(q.message_used, 2);
    CHECK_INT(append_n(u, "INBOX", 20, 1), STORAGE_ERR_OVERQUOTA);
    /* COPY over quota fails; MOVE within the root has no net change */
    CHECK_INT(mailbox_create(u, "M", 0), 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &mb), 0);
    uint32_t uids[2] = {1, 3}, su[2], du[2];
    size_t n = 9;
    CHECK_INT(mailbox_copy(mb, uids, 1, "M", false, NULL, su, du, &n, NULL, NULL), STORAGE_ERR_OVERQUOTA);
    CHECK_INT(get(u, "").message_used, 2);
    CHECK_INT(mailbox_copy(mb, uids, 1, "M", true, NULL, su, du, &n, NULL, NULL), 0);
    CHECK_INT(n, 1);
    /* a limit below usage is accepted; only removals succeed then */
    CHECK_INT(quota_set(u, "", 1, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    CHECK_INT(mailbox_copy(mb, uids + 1, 1, "M", true, NULL, su, du, &n, NULL, NULL), 0);   /* move: net 0 */
    CHECK_INT(mailbox_create(u, "Empty", 0), 0);   /* no storage added */
    mailbox_close(mb);
    CHECK_INT(mailbox_open(u, "M", false, false, NULL, &mb), 0);
    struct store_req req = {STORE_ADD, MSG_DELETED, NULL, 0};
    uint32_t m1 = 1;
    CHECK_INT(mailbox_store(mb, &m1, 1, &req, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_expunge(mb, NULL, 0, NULL, NULL), 0);   /* deletion over quota */
    mailbox_close(mb);
    q = get(u, "");
    CHECK_INT(q.storage_used, 1024);
    CHECK_INT(q.message_used, 1);
    CHECK_INT(mailbox_delete(u, "M"), 0);
    check_consistent(u, "");
    /* messages: boundary; MULTIAPPEND that overflows rejects all */
    CHECK_INT(quota_set(u, "", QUOTA_UNLIMITED, 4, QUOTA_UNLIMITED), 0);
    CHECK_INT(append_n(u, "INBOX", 30, 4), STORAGE_ERR_OVERQUOTA);   /* 1 + 4 > 4 */
    CHECK_INT(get(u, "").message_used, 1);
    CHECK_INT(append_n(u, "INBOX", 30, 3), 0);                       /* 1 + 3 = 4 */
    CHECK_INT(append_n(u, "INBOX", 30, 1), STORAGE_ERR_OVERQUOTA);
    CHECK_INT(get(u, "").message_used, 4);
    /* mailboxes */
    int nmb = (int)get(u, "").mailbox_used;
    CHECK_INT(quota_set(u, "", QUOTA_UNLIMITED, QUOTA_UNLIMITED, nmb + 1), 0);
    CHECK_INT(mailbox_create(u, "N1", 0), 0);
    CHECK_INT(mailbox_create(u, "N2", 0), STORAGE_ERR_OVERQUOTA);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "N2", &info), STORAGE_ERR_NOTFOUND);
    CHECK_INT(mailbox_rename(u, "INBOX", "N3"), STORAGE_ERR_OVERQUOTA);   /* would add a mailbox */
    CHECK_INT(mailbox_delete(u, "N1"), 0);
    CHECK_INT(mailbox_create(u, "N2", 0), 0);
    CHECK_INT(quota_set(u, "", QUOTA_UNLIMITED, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    check_consistent(u, "");
    /* a zero limit blocks everything that adds */
    CHECK_INT(quota_set(u, "", 0, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    CHECK_INT(append_n(u, "INBOX", 30, 1), STORAGE_ERR_OVERQUOTA);
    int pct = 0;
    CHECK_INT(quota_usage_percent(u, "INBOX", &pct), 0);
    CHECK(pct >= 100);
    CHECK_INT(quota_set(u, "", QUOTA_UNLIMITED, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    CHECK_INT(quota_usage_percent(u, "INBOX", &pct), 0);
    CHECK_INT(pct, 0);
    mail_user_close(u);
}

/* IGNOREQUOTA (LMTP) / deliver -q: the check is skipped, the usage is
 * still counted; a transaction mixing bypass and normal messages (never
 * produced by delivery) gets no bypass. */
static void test_ignore_quota(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qi", true, &u), 0);
    CHECK_INT(quota_set(u, "", QUOTA_UNLIMITED, 1, QUOTA_UNLIMITED), 0);
    CHECK_INT(append_n(u, "INBOX", 100, 1), 0);
    CHECK_INT(append_n(u, "INBOX", 100, 1), STORAGE_ERR_OVERQUOTA);
    char *data = make_msg(100);
    struct append_msg m = {.data = data, .fd = -1, .len = 100, .ignore_quota = true};
    uint32_t uidv = 0, uid = 0;
    CHECK_INT(mailbox_append_by_name(u, "INBOX", &m, &uidv, &uid), 0);
    CHECK_INT(uid, 2);
    CHECK_INT(get(u, "").message_used, 2);   /* counted: now over quota */
    m.ignore_quota = false;
    CHECK_INT(mailbox_append_by_name(u, "INBOX", &m, &uidv, &uid), STORAGE_ERR_OVERQUOTA);

    struct mailbox *mb;
    struct append_txn *t;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &mb), 0);
    CHECK_INT(mailbox_append_begin(mb, &t), 0);
    m.ignore_quota = true;
    CHECK_INT(mailbox_append_add(t, &m), 0);
    m.ignore_quota = false;
    CHECK_INT(mailbox_append_add(t, &m), 0);
    CHECK_INT(mailbox_append_commit(t, NULL, NULL, 0), STORAGE_ERR_OVERQUOTA);
    mailbox_close(mb);
    CHECK_INT(get(u, "").message_used, 2);
    check_consistent(u, "");
    free(data);
    mail_user_close(u);
}

static void test_subroot_limits(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qe", true, &u), 0);
    CHECK_INT(mailbox_create(u, "Arch", 0), 0);
    CHECK_INT(mailbox_create(u, "Arch/2020", 0), 0);
    CHECK_INT(quota_set(u, "Arch", 1, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    CHECK_INT(append_n(u, "Arch/2020", 1000, 1), 0);
    CHECK_INT(append_n(u, "Arch/2020", 100, 1), STORAGE_ERR_OVERQUOTA);
    CHECK_INT(append_n(u, "INBOX", 5000, 1), 0);   /* not under the sub-root */
    /* moving into the sub-root counts against it */
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &mb), 0);
    uint32_t uid = 1, su, du;
    size_t n;
    CHECK_INT(mailbox_copy(mb, &uid, 1, "Arch", true, NULL, &su, &du, &n, NULL, NULL), STORAGE_ERR_OVERQUOTA);
    mailbox_close(mb);
    /* renaming a subtree into an over-full root is refused as a whole */
    CHECK_INT(mailbox_create(u, "Big", 0), 0);
    CHECK_INT(append_n(u, "Big", 2000, 1), 0);
    CHECK_INT(mailbox_rename(u, "Big", "Arch/Big"), STORAGE_ERR_OVERQUOTA);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "Big", &info), 0);
    CHECK_INT(get(u, "Arch").storage_used, 1000);
    CHECK_INT(get(u, "").storage_used, 8000);
    /* user root limit applies to sub-root mailboxes too */
    CHECK_INT(quota_set(u, "", 8, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    CHECK_INT(quota_set(u, "Arch", QUOTA_UNLIMITED, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    CHECK_INT(append_n(u, "Arch", 192, 1), 0);   /* 8192 = 8 KiB exactly */
    CHECK_INT(append_n(u, "Arch", 16, 1), STORAGE_ERR_OVERQUOTA);
    check_consistent(u, "");
    check_consistent(u, "Arch");
    mail_user_close(u);
}

static void test_autocreate(void)
{
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    CHECK(c != NULL);
    CHECK(config_set(c, "autocreatequota", "5000", err, sizeof(err)));
    CHECK(config_set(c, "autocreatequotamsg", "100", err, sizeof(err)));
    config_install(c);
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qf", true, &u), 0);
    struct quota_root q = get(u, "");
    CHECK_INT(q.storage_limit_kb, 5000);
    CHECK_INT(q.message_limit, 100);
    CHECK_INT(q.mailbox_limit, QUOTA_UNLIMITED);
    CHECK_INT(q.mailbox_used, 1);
    /* an existing store is not touched */
    CHECK_INT(quota_set(u, "", QUOTA_UNLIMITED, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    mail_user_close(u);
    CHECK_INT(mail_user_open("qf", true, &u), 0);
    CHECK_INT(get(u, "").storage_limit_kb, QUOTA_UNLIMITED);
    mail_user_close(u);
    config_install(config_load(NULL, err, sizeof(err)));
    CHECK_INT(mail_user_open("qg", true, &u), 0);
    CHECK_INT(get(u, "").storage_limit_kb, QUOTA_UNLIMITED);
    mail_user_close(u);
}

struct drift_ctx {
    int calls, drifted;
    int64_t before_used, after_used;
};

static void drift_cb(const struct quota_root *b, const struct quota_root *a, void *arg)
{
    struct drift_ctx *c = arg;
    c->calls++;
    if (b->storage_used != a->storage_used || b->message_used != a->message_used ||
        b->mailbox_used != a->mailbox_used) {
        c->drifted++;
        c->before_used = b->storage_used;
        c->after_used = a->storage_used;
    }
}

static void test_migration_and_recalc(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qh", true, &u), 0);
    CHECK_INT(mailbox_create(u, "X", 0), 0);
    CHECK_INT(append_n(u, "INBOX", 100, 2), 0);
    CHECK_INT(append_n(u, "X", 50, 1), 0);
    mail_user_close(u);
    /* back to schema 3: the migration computes the user root's usage */
    raw_exec("qh", STORE_UNDO_TO_5 "DROP TABLE seen; ALTER TABLE mailbox DROP COLUMN acl; ALTER TABLE mailbox DROP COLUMN sharedseen;"
                   "DROP TABLE quotaroot; UPDATE schema_version SET version=3;");
    CHECK_INT(mail_user_open("qh", false, &u), 0);
    struct quota_root q = get(u, "");
    CHECK_INT(q.storage_used, 250);
    CHECK_INT(q.message_used, 3);
    CHECK_INT(q.mailbox_used, 2);
    CHECK_INT(q.storage_limit_kb, QUOTA_UNLIMITED);
    check_consistent(u, "");
    mail_user_close(u);
    /* drift is reported, fixed only when asked */
    raw_exec("qh", "UPDATE quotaroot SET storage_used=7, message_used=0");
    CHECK_INT(mail_user_open("qh", false, &u), 0);
    struct drift_ctx c = {0, 0, 0, 0};
    CHECK_INT(quota_recalc(u, false, drift_cb, &c), 1);
    CHECK_INT(c.calls, 1);
    CHECK_INT(c.drifted, 1);
    CHECK_INT(c.before_used, 7);
    CHECK_INT(c.after_used, 250);
    CHECK_INT(get(u, "").storage_used, 7);
    CHECK_INT(quota_recalc(u, true, NULL, NULL), 1);
    CHECK_INT(get(u, "").storage_used, 250);
    CHECK_INT(quota_recalc(u, true, NULL, NULL), 0);
    mail_user_close(u);
}

/* Random operations, some refused for quota: usage must always equal a
 * recount from the rows (no drift ever). */
static void test_random_consistency(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qi", true, &u), 0);
    static const char *const names[] = {"INBOX", "A", "A/x", "B", "B/y/z"};
    for (size_t i = 1; i < ARRAY_SIZE(names); i++)
        mailbox_create(u, names[i], 0);
    CHECK_INT(quota_set(u, "", 20, 60, 12), 0);
    CHECK_INT(quota_set(u, "A", 6, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    unsigned seed = 12345;
    int overquota = 0;
    for (int step = 0; step < 300; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned op = (seed >> 16) % 7;
        const char *mbn = names[(seed >> 8) % ARRAY_SIZE(names)];
        const char *other = names[(seed >> 4) % ARRAY_SIZE(names)];
        int r = 0;
        if (op <= 1) {
            r = append_n(u, mbn, 100 + (seed >> 20) % 900, 1 + (seed >> 12) % 3);
        } else if (op <= 3) {
            struct mailbox *mb;
            if (mailbox_open(u, mbn, false, false, NULL, &mb) == 0) {
                uint32_t *uids = NULL, cnt = 0;
                if (mailbox_get_uids(mb, &uids, &cnt) == 0 && cnt) {
                    size_t k = 1 + (seed >> 10) % MIN(cnt, 3u);
                    uint32_t su[3], du[3];
                    size_t nc;
                    r = mailbox_copy(mb, uids, k, other, op == 3, NULL, su, du, &nc, NULL, NULL);
                }
                free(uids);
                mailbox_close(mb);
            }
        } else if (op == 4) {
            struct mailbox *mb;
            if (mailbox_open(u, mbn, false, false, NULL, &mb) == 0) {
                uint32_t *uids = NULL, cnt = 0;
                if (mailbox_get_uids(mb, &uids, &cnt) == 0 && cnt) {
                    struct store_req req = {STORE_ADD, MSG_DELETED, NULL, 0};
                    mailbox_store(mb, uids, MIN(cnt, 2u), &req, NULL, NULL, NULL, NULL);
                    r = mailbox_expunge(mb, NULL, 0, NULL, NULL);
                }
                free(uids);
                mailbox_close(mb);
            }
        } else if (op == 5) {
            char tmp[64];
            snprintf(tmp, sizeof(tmp), "%s/t%d", other, step % 4);
            r = mailbox_create(u, tmp, 0);
            if (r == 0 && (seed >> 3) % 2)
                r = mailbox_delete(u, tmp);
        } else {
            r = mailbox_rename(u, "B/y", (seed >> 5) % 2 ? "A/y" : "B/y2");
            if (r == 0)
                r = mailbox_rename(u, (seed >> 5) % 2 ? "A/y" : "B/y2", "B/y");
        }
        if (r == STORAGE_ERR_OVERQUOTA)
            overquota++;
        CHECK(r == 0 || r == STORAGE_ERR_OVERQUOTA || r == STORAGE_ERR_NOTFOUND || r == STORAGE_ERR_EXISTS);
    }
    CHECK(overquota > 0);
    CHECK_INT(quota_recalc(u, false, NULL, NULL), 0);
    check_consistent(u, "");
    check_consistent(u, "A");
    struct quota_root q = get(u, "");
    CHECK(q.storage_used <= 20 * 1024);
    CHECK(q.message_used <= 60);
    CHECK(q.mailbox_used <= 12);
    CHECK(get(u, "A").storage_used <= 6 * 1024);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    mail_user_close(u);
}

static void test_deleted_size(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qj", true, &u), 0);
    CHECK_INT(append_n(u, "INBOX", 100, 2), 0);
    CHECK_INT(append_n(u, "INBOX", 300, 1), 0);
    uint64_t ds = 99;
    CHECK_INT(mailbox_deleted_size(u, "INBOX", &ds), 0);
    CHECK_INT(ds, 0);
    struct mailbox *mb;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &mb), 0);
    uint32_t uids[2] = {2, 3};
    struct store_req req = {STORE_ADD, MSG_DELETED, NULL, 0};
    CHECK_INT(mailbox_store(mb, uids, 2, &req, NULL, NULL, NULL, NULL), 0);
    CHECK_INT(mailbox_deleted_size(u, "INBOX", &ds), 0);
    CHECK_INT(ds, 400);
    CHECK_INT(mailbox_expunge(mb, NULL, 0, NULL, NULL), 0);
    CHECK_INT(mailbox_deleted_size(u, "INBOX", &ds), 0);
    CHECK_INT(ds, 0);
    mailbox_close(mb);
    CHECK_INT(mailbox_deleted_size(u, "nosuch", &ds), STORAGE_ERR_NOTFOUND);
    CHECK_INT(get(u, "").storage_used, 100);
    mail_user_close(u);
}

/* A writer killed at an arbitrary point (SIGKILL, no cleanup) never
 * leaves quota usage out of step with the rows: usage changes commit
 * with the change or not at all. */
static void test_crash(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qk", true, &u), 0);
    CHECK_INT(mailbox_create(u, "A", 0), 0);
    CHECK_INT(quota_set(u, "A", 40, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);
    mail_user_close(u);
    for (int round = 0; round < 2; round++) {
        int pfd[2];
        CHECK(pipe(pfd) == 0);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            struct mail_user *cu = NULL;
            if (storage_init(g_dir) != 0 || mail_user_open("qk", false, &cu) != 0)
                _exit(2);
            for (unsigned i = 0;; i++) {
                append_n(cu, i % 2 ? "A" : "INBOX", 200 + i % 300, 1 + i % 3);
                struct mailbox *mb;
                if (mailbox_open(cu, "INBOX", false, false, NULL, &mb) == 0) {
                    uint32_t *uids = NULL, cnt = 0;
                    if (mailbox_get_uids(mb, &uids, &cnt) == 0 && cnt) {
                        uint32_t su[2], du[2];
                        size_t nc;
                        mailbox_copy(mb, uids, MIN(cnt, 2u), "A", i % 3 == 0, NULL, su, du, &nc, NULL, NULL);
                        struct store_req req = {STORE_ADD, MSG_DELETED, NULL, 0};
                        mailbox_store(mb, uids, 1, &req, NULL, NULL, NULL, NULL);
                        mailbox_expunge(mb, NULL, 0, NULL, NULL);
                    }
                    free(uids);
                    mailbox_close(mb);
                }
                if (i == 10 && write(pfd[1], "x", 1) != 1)
                    _exit(3);
            }
        }
        close(pfd[1]);
        char c;
        CHECK(read(pfd[0], &c, 1) == 1);   /* the child is busy writing */
        kill(pid, SIGKILL);
        int st = 0;
        waitpid(pid, &st, 0);
        close(pfd[0]);
        CHECK(WIFSIGNALED(st));
        CHECK_INT(mail_user_open("qk", false, &u), 0);
        CHECK_INT(quota_recalc(u, false, NULL, NULL), 0);
        check_consistent(u, "");
        check_consistent(u, "A");
        CHECK(get(u, "A").storage_used <= 40 * 1024);
        mail_user_close(u);
    }
}

/* Group commit (storage.h, mailbox_append_batch): requests into one store
 * committed in one write transaction, each with its own result. Quota is
 * checked per request as if it were committed alone after the ones
 * before it; a request whose mailbox is gone, or that its before step
 * refuses, fails alone; the files of the batch share one directory. */
static int g_after_calls;

static int refuse_before(struct append_req *r)
{
    (void)r;
    return 7;
}

static void count_after(struct append_req *r)
{
    (void)r;
    g_after_calls++;
}

static int count_dirs(const char *user)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "find %s/user/%c/%s/msg -type f | xargs -r -n1 dirname | sort -u | wc -l", g_dir,
             user[0], user);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_group_commit(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qg", true, &u), 0);
    CHECK_INT(mailbox_create(u, "Other", 0), 0);
    CHECK_INT(mailbox_create(u, "Gone", 0), 0);
    CHECK_INT(quota_set(u, "", 10, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);   /* 10240 bytes */
    struct mailbox *inbox, *gone;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &inbox), 0);
    CHECK_INT(mailbox_open(u, "Gone", false, false, NULL, &gone), 0);
    CHECK_INT(mailbox_delete(u, "Gone"), 0);   /* its handle is stale now */
    int files0 = count_files("qg");
    char *d3000 = make_msg(3000), *d1000 = make_msg(1000), *d6000 = make_msg(6000), *d100 = make_msg(100);
    struct append_msg ma = {.data = d3000, .fd = -1, .len = 3000};
    struct append_msg mb2[2] = {{.data = d1000, .fd = -1, .len = 1000}, {.data = d1000, .fd = -1, .len = 1000}};
    struct append_msg mc = {.data = d6000, .fd = -1, .len = 6000};
    struct append_msg md = {.data = d100, .fd = -1, .len = 100};
    struct append_msg mg = {.data = d6000, .fd = -1, .len = 6000, .ignore_quota = true};
    uint32_t ua = 0, ub[2] = {0, 0}, uc = 0, ud = 0, ue = 0, uf = 0, ug = 0, uh = 0;
    /* in order, with the usage after each as if committed alone:
     *   a  INBOX 3000                      ->  3000
     *   b  INBOX 2 x 1000 (MULTIAPPEND)    ->  5000
     *   c  INBOX 6000: 11000 > 10240       ->  OVERQUOTA, alone
     *   d  "Gone" (deleted): NOTFOUND, alone
     *   e  refused by its before step (7), nothing written
     *   f  "Other" by name, 100            ->  5100
     *   g  INBOX 6000 with IGNOREQUOTA     -> 11100 (over the limit now)
     *   h  INBOX 100: the root is over     ->  OVERQUOTA */
    struct append_req ra = {.store = u, .mb = inbox, .msgs = &ma, .nmsgs = 1, .uids = &ua, .after = count_after};
    struct append_req rb = {.store = u, .mb = inbox, .msgs = mb2, .nmsgs = 2, .uids = ub, .after = count_after};
    struct append_req rc = {.store = u, .mb = inbox, .msgs = &mc, .nmsgs = 1, .uids = &uc, .after = count_after};
    struct append_req rd = {.store = u, .mb = gone, .msgs = &md, .nmsgs = 1, .uids = &ud, .after = count_after};
    struct append_req re = {.store = u, .mb = inbox, .msgs = &md, .nmsgs = 1, .uids = &ue,
                            .before = refuse_before, .after = count_after};
    struct append_req rf = {.store = u, .mailbox = "Other", .msgs = &md, .nmsgs = 1, .uids = &uf,
                            .after = count_after};
    struct append_req rg = {.store = u, .mb = inbox, .msgs = &mg, .nmsgs = 1, .uids = &ug, .after = count_after};
    struct append_req rh = {.store = u, .mb = inbox, .msgs = &md, .nmsgs = 1, .uids = &uh, .after = count_after};
    void *items[] = {&ra, &rb, &rc, &rd, &re, &rf, &rg, &rh};
    g_after_calls = 0;
    log_set_level((enum log_level)(LOG_LVL_ERR + 1));   /* expected failures */
    mailbox_append_batch(items, ARRAY_SIZE(items));
    log_set_level(LOG_LVL_ERR);
    CHECK_INT(ra.result, 0);
    CHECK_INT(ua, 1);
    CHECK_INT(rb.result, 0);
    CHECK_INT(ub[0], 2);
    CHECK_INT(ub[1], 3);
    CHECK_INT(rc.result, STORAGE_ERR_OVERQUOTA);
    CHECK_INT(rd.result, STORAGE_ERR_NOTFOUND);
    CHECK_INT(re.result, 7);
    CHECK_INT(rf.result, 0);
    CHECK_INT(uf, 1);
    CHECK_INT(rg.result, 0);
    CHECK_INT(ug, 4);
    CHECK_INT(rh.result, STORAGE_ERR_OVERQUOTA);
    CHECK_INT(ra.uidvalidity, mailbox_get_info(inbox)->uidvalidity);
    CHECK_INT(g_after_calls, 8);
    struct quota_root q = get(u, "");
    CHECK_INT(q.storage_used, 3000 + 2000 + 100 + 6000);
    CHECK_INT(q.message_used, 5);
    check_consistent(u, "");
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "INBOX", &info), 0);
    CHECK_INT(info.messages, 4);
    CHECK_INT(info.uidnext, 5);
    /* only the committed messages' files, all in one directory */
    CHECK_INT(count_files("qg"), files0 + 5);
    CHECK_INT(count_dirs("qg"), 1);
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    /* a batch whose every request fails commits nothing */
    struct append_req rx = {.store = u, .mb = gone, .msgs = &md, .nmsgs = 1};
    void *solo[] = {&rx};
    mailbox_append_batch(solo, 1);
    CHECK_INT(rx.result, STORAGE_ERR_NOTFOUND);
    CHECK_INT(count_files("qg"), files0 + 5);
    mailbox_close(gone);
    mailbox_close(inbox);
    free(d3000);
    free(d1000);
    free(d6000);
    free(d100);
    mail_user_close(u);
}

/* REPLACE (RFC 8508, append_req.expunge_mb): the append and the old
 * message's expunge in one transaction. The quota sees only the net
 * change (3.4); a message that is gone fails the whole request, nothing
 * appended; the old body's file, blob and preview rows go. */
static void test_replace(void)
{
    struct mail_user *u = NULL;
    CHECK_INT(mail_user_open("qr", true, &u), 0);
    CHECK_INT(mailbox_create(u, "Drafts", 0), 0);
    CHECK_INT(quota_set(u, "", 10, QUOTA_UNLIMITED, QUOTA_UNLIMITED), 0);   /* 10240 bytes */
    struct mailbox *inbox, *drafts;
    CHECK_INT(mailbox_open(u, "INBOX", false, false, NULL, &inbox), 0);
    CHECK_INT(mailbox_open(u, "Drafts", false, false, NULL, &drafts), 0);
    char *d6000 = make_msg(6000), *d100 = make_msg(100);
    struct append_msg m6 = {.data = d6000, .fd = -1, .len = 6000};
    struct append_msg m1 = {.data = d100, .fd = -1, .len = 100};
    uint32_t u1 = 0, u2 = 0, u3 = 0, u4 = 0;
    struct append_req r1 = {.store = u, .mb = inbox, .msgs = &m6, .nmsgs = 1, .uids = &u1};
    void *one[] = {&r1};
    mailbox_append_batch(one, 1);
    CHECK_INT(r1.result, 0);
    int files0 = count_files("qr");
    /* 6000 replaced by 6000: 12000 would be over the limit, the net 6000 is not */
    struct append_req r2 = {.store = u, .mb = inbox, .msgs = &m6, .nmsgs = 1, .uids = &u2, .expunge_mb = inbox,
                            .expunge_uid = u1};
    one[0] = &r2;
    mailbox_append_batch(one, 1);
    CHECK_INT(r2.result, 0);
    CHECK_INT(u2, u1 + 1);
    struct mailbox_info info;
    CHECK_INT(mailbox_status(u, "INBOX", &info), 0);
    CHECK_INT(info.messages, 1);
    CHECK_INT(get(u, "").storage_used, 6000);
    CHECK_INT(count_files("qr"), files0);
    CHECK_INT(raw_int("qr", "SELECT count(*) FROM blob"), 1);
    CHECK_INT(raw_int("qr", "SELECT count(*) FROM preview"), 1);
    check_consistent(u, "");
    /* the message to replace is gone: nothing appended */
    struct append_req r3 = {.store = u, .mb = drafts, .msgs = &m1, .nmsgs = 1, .uids = &u3, .expunge_mb = inbox,
                            .expunge_uid = u1};
    one[0] = &r3;
    mailbox_append_batch(one, 1);
    CHECK_INT(r3.result, STORAGE_ERR_EXPUNGED);
    CHECK_INT(mailbox_status(u, "Drafts", &info), 0);
    CHECK_INT(info.messages, 0);
    CHECK_INT(count_files("qr"), files0);
    /* into another mailbox of the store: the old one leaves INBOX */
    struct append_req r4 = {.store = u, .mb = drafts, .msgs = &m1, .nmsgs = 1, .uids = &u4, .expunge_mb = inbox,
                            .expunge_uid = u2};
    one[0] = &r4;
    mailbox_append_batch(one, 1);
    CHECK_INT(r4.result, 0);
    CHECK_INT(mailbox_status(u, "INBOX", &info), 0);
    CHECK_INT(info.messages, 0);
    CHECK_INT(mailbox_status(u, "Drafts", &info), 0);
    CHECK_INT(info.messages, 1);
    CHECK_INT(get(u, "").storage_used, 100);
    CHECK_INT(raw_int("qr", "SELECT count(*) FROM preview"), 1);
    check_consistent(u, "");
    CHECK_INT(mail_user_check(u, false, NULL, NULL), 0);
    mailbox_close(drafts);
    mailbox_close(inbox);
    free(d6000);
    free(d100);
    mail_user_close(u);
}

int main(void)
{
    if (store_harness_init("test-quota") != 0)
        return 2;
    RUN(test_default_root);
    RUN(test_usage_ops);
    RUN(test_roots_of);
    RUN(test_limits);
    RUN(test_ignore_quota);
    RUN(test_subroot_limits);
    RUN(test_autocreate);
    RUN(test_migration_and_recalc);
    RUN(test_random_consistency);
    RUN(test_deleted_size);
    RUN(test_crash);
    RUN(test_group_commit);
    RUN(test_replace);
    storage_shutdown();
    return unit_done();
}
