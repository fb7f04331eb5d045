/* test-delivery-sendmail.c - delivery_sendmail against tests/lib/fake-sendmail.sh
 * (linked as DIR/sendmail; it records argv, stdin and environment per
 * call): the command line (-i, -f, "<>" for the null sender, "--"), the
 * message on stdin with CRLF turned into LF (head + file), a clean
 * environment, captured output; a non-zero exit, a timeout (the fake
 * hangs, holding its output open), a missing program and unfit addresses
 * are failures. Then the actions end to end (delivery-outgoing.c):
 * vacation sent once per period and given back when the MTA fails,
 * redirect with its marker and without Return-Path and its loop refused,
 * the reject MDN and none to the null sender. */
#include "unit.h"
#include "delivery-harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

static char g_smdir[512];
static struct sendmail_opts g_opts;

static char *slurp(const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", g_smdir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = calloc(1, 1 << 20);
    size_t n = fread(b, 1, (1 << 20) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static void put(const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", g_smdir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void drop(const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", g_smdir, name);
    unlink(path);
}

static int calls(void)
{
    char *c = slurp("sendmail.count");
    int n = c ? atoi(c) : 0;
    free(c);
    return n;
}

static int setup(void)
{
    /* __FILE__ is tests/unit/test-delivery-sendmail.c relative to the
     * repo root the tests run from, or absolute. */
    char src[PATH_MAX];
    snprintf(src, sizeof(src), "%s", __FILE__);
    char *slash = strrchr(src, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(src, sizeof(src), ".");
    char script[PATH_MAX + 64], real[PATH_MAX];
    snprintf(script, sizeof(script), "%s/../lib/fake-sendmail.sh", src);
    if (!realpath(script, real)) {
        fprintf(stderr, "cannot find %s\n", script);
        return -1;
    }
    snprintf(g_smdir, sizeof(g_smdir), "%s/mta", g_dir);
    mkdir(g_smdir, 0700);
    char link[PATH_MAX + 64];
    snprintf(link, sizeof(link), "%s/sendmail", g_smdir);
    if (symlink(real, link) != 0) {
        perror("symlink");
        return -1;
    }
    set("sendmail", link);
    set("sendmail_timeout", "1");
    sendmail_opts_from_config(&g_opts);
    return 0;
}

static void test_success(void)
{
    int before = calls();
    const char *rcpts[] = {"bob@example.org", "-carol@example.org"};
    const char *m = "From: a@example.com\r\nSubject: x\r\n\r\nline 1\r\n.\r\nbare\rcr\r\n";
    struct sendmail_msg msg = {.head = m, .head_len = strlen(m), .fd = -1};
    struct sendmail_result r;
    CHECK_INT(delivery_sendmail(&g_opts, "alice@example.com", rcpts, 2, &msg, &r), SENDMAIL_OK);
    CHECK_INT(calls(), before + 1);
    char name[64];
    snprintf(name, sizeof(name), "sendmail.%d.args", before + 1);
    char *args = slurp(name);
    CHECK_STR(args, "-i\n-f\nalice@example.com\n--\nbob@example.org\n-carol@example.org\n");
    free(args);
    snprintf(name, sizeof(name), "sendmail.%d.msg", before + 1);
    char *body = slurp(name);
    CHECK_STR(body, "From: a@example.com\nSubject: x\n\nline 1\n.\nbare\rcr\n");
    free(body);
    /* Nothing of our environment: PATH (and what sh itself sets). */
    snprintf(name, sizeof(name), "sendmail.%d.env", before + 1);
    char *env = slurp(name);
    CHECK(env && strstr(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"));
    CHECK(env && !strstr(env, "DARIUS_UNIT_MARKER"));
    free(env);
    CHECK(strstr(r.output, "fake-sendmail: call") != NULL);
    CHECK(strstr(r.output, "to stderr") != NULL);
}

/* The null sender is "-f <>"; the message from a file after a head, with
 * CRLF split across the two and across read chunks. */
static void test_null_sender_and_file(void)
{
    int before = calls();
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/msg", g_smdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    struct buf want = BUF_INIT, file = BUF_INIT;
    buf_puts(&file, "\nSubject: big\r\n\r\n");
    buf_puts(&want, "X-Loop: a\nSubject: big\n\n");
    for (int i = 0; i < 5000; i++) {
        buf_printf(&file, "line %d of a body that is long enough\r\n", i);
        buf_printf(&want, "line %d of a body that is long enough\n", i);
    }
    CHECK(write(fd, file.data, file.len) == (ssize_t)file.len);
    CHECK(write(fd, "trailing junk not sent", 22) == 22);
    const char *rcpts[] = {"bob@example.org"};
    struct sendmail_msg msg = {.head = "X-Loop: a\r", .head_len = 10, .fd = fd, .fd_len = file.len};
    CHECK_INT(delivery_sendmail(&g_opts, "", rcpts, 1, &msg, NULL), SENDMAIL_OK);
    char name[64];
    snprintf(name, sizeof(name), "sendmail.%d.args", before + 1);
    char *args = slurp(name);
    CHECK_STR(args, "-i\n-f\n<>\n--\nbob@example.org\n");
    free(args);
    snprintf(name, sizeof(name), "sendmail.%d.msg", before + 1);
    char *body = slurp(name);
    CHECK_STR(body, buf_cstr(&want));
    free(body);
    buf_free(&want);
    buf_free(&file);
    close(fd);
}

static void test_exit_status(void)
{
    put("sendmail.exit", "75\n");
    const char *rcpts[] = {"bob@example.org"};
    struct sendmail_msg msg = {.head = "Subject: x\r\n\r\nhi\r\n", .head_len = 18, .fd = -1};
    struct sendmail_result r;
    CHECK_INT(delivery_sendmail(&g_opts, "a@b.example", rcpts, 1, &msg, &r), SENDMAIL_EXIT);
    CHECK_INT(r.detail, 75);
    CHECK(strstr(r.output, "fake-sendmail") != NULL);
    drop("sendmail.exit");
}

static void test_timeout(void)
{
    put("sendmail.hang", "");
    const char *rcpts[] = {"bob@example.org"};
    struct sendmail_msg msg = {.head = "Subject: x\r\n\r\nhi\r\n", .head_len = 18, .fd = -1};
    struct sendmail_result r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_INT(delivery_sendmail(&g_opts, "a@b.example", rcpts, 1, &msg, &r), SENDMAIL_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* Killed at the 1 s timeout, not left to run. */
    CHECK(secs >= 0.9);
    CHECK(secs < 20);
    drop("sendmail.hang");
}

/* The program exits 0 but leaves a process holding its output: the
 * exit status decides, at once; the lingering process is not waited for
 * (nor killed: it may be the MTA's delivery). */
static void test_lingering_child(void)
{
    put("sendmail.linger", "5\n");
    struct sendmail_opts o = g_opts;
    o.timeout = 30;
    const char *rcpts[] = {"bob@example.org"};
    struct sendmail_msg msg = {.head = "Subject: x\r\n\r\nhi\r\n", .head_len = 18, .fd = -1};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_INT(delivery_sendmail(&o, "a@b.example", rcpts, 1, &msg, NULL), SENDMAIL_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(secs < 4);
    drop("sendmail.linger");
}

static void test_missing_program(void)
{
    struct sendmail_opts o = g_opts;
    snprintf(o.program, sizeof(o.program), "%s/no-such-sendmail", g_smdir);
    const char *rcpts[] = {"bob@example.org"};
    struct sendmail_msg msg = {.head = "x\r\n", .head_len = 3, .fd = -1};
    struct sendmail_result r;
    CHECK_INT(delivery_sendmail(&o, "a@b.example", rcpts, 1, &msg, &r), SENDMAIL_SPAWN);
    CHECK_INT(r.detail, ENOENT);
}

static void test_bad_arguments(void)
{
    int before = calls();
    struct sendmail_msg msg = {.head = "x\r\n", .head_len = 3, .fd = -1};
    const char *nl[] = {"bob@example.org\nRCPT TO:<x>"};
    CHECK_INT(delivery_sendmail(&g_opts, "a@b.example", nl, 1, &msg, NULL), SENDMAIL_BADARG);
    const char *empty[] = {""};
    CHECK_INT(delivery_sendmail(&g_opts, "a@b.example", empty, 1, &msg, NULL), SENDMAIL_BADARG);
    const char *ok[] = {"bob@example.org"};
    CHECK_INT(delivery_sendmail(&g_opts, "a b@example", ok, 1, &msg, NULL), SENDMAIL_BADARG);
    CHECK_INT(delivery_sendmail(&g_opts, "a@b.example", ok, 0, &msg, NULL), SENDMAIL_BADARG);
    struct sendmail_opts rel = g_opts;
    snprintf(rel.program, sizeof(rel.program), "sendmail");
    CHECK_INT(delivery_sendmail(&rel, "a@b.example", ok, 1, &msg, NULL), SENDMAIL_BADARG);
    CHECK_INT(calls(), before);
}

/* A program that exits at once without reading a large message: EPIPE
 * on our side, no SIGPIPE (the default disposition would kill the test),
 * and a failure even though it exited 0. */
static void test_program_not_reading(void)
{
    struct sendmail_opts o = g_opts;
    snprintf(o.program, sizeof(o.program), "/bin/true");
    size_t n = 4 << 20;
    char *big = malloc(n);
    memset(big, 'a', n);
    const char *rcpts[] = {"bob@example.org"};
    struct sendmail_msg msg = {.head = big, .head_len = n, .fd = -1};
    signal(SIGPIPE, SIG_DFL);
    enum sendmail_status st = delivery_sendmail(&o, "a@b.example", rcpts, 1, &msg, NULL);
    CHECK(st == SENDMAIL_IO);
    free(big);
}

/* ---- the actions end to end, through the fake sendmail ---- */

static char *call_file(int n, const char *what)
{
    char name[64];
    snprintf(name, sizeof(name), "sendmail.%d.%s", n, what);
    return slurp(name);
}

static void test_vacation_send(void)
{
    const char *own[] = {"alice@example.org"};
    const char *hdr = "From: bob@x.example\r\nTo: alice@example.org\r\nSubject: hi\r\nMessage-ID: <v1@x>\r\n\r\n";
    struct vacation_msg m = {.hdr = hdr, .hdr_len = strlen(hdr), .envelope_from = "bob@x.example",
                             .envelope_to = "alice@example.org", .own = own, .nown = 1};
    struct vacation_params p = {.reason = "away", .handle = "h"};
    int before = calls();
    enum vacation_verdict why;
    CHECK_INT(delivery_vacation_send(&g_opts, "alice", &m, &p, 86400, "mx.test", 1800000000, &why), OUTGOING_SENT);
    CHECK_INT(why, VACATION_REPLY);
    CHECK_INT(calls(), before + 1);
    char *args = call_file(before + 1, "args");
    CHECK_STR(args, "-i\n-f\n<>\n--\nbob@x.example\n");
    free(args);
    char *msg = call_file(before + 1, "msg");
    CHECK(msg && strstr(msg, "\nTo: <bob@x.example>\n") && strstr(msg, "\nSubject: Auto: hi\n") &&
          strstr(msg, "\nIn-Reply-To: <v1@x>\n") && strstr(msg, "\n\naway\n"));
    free(msg);
    /* Within the period: no second reply, no call. */
    CHECK_INT(delivery_vacation_send(&g_opts, "alice", &m, &p, 86400, "mx.test", 1800000100, NULL),
              OUTGOING_SUPPRESSED);
    CHECK_INT(calls(), before + 1);
    /* Not eligible: no call. */
    const char *bulk = "To: alice@example.org\r\nPrecedence: bulk\r\n\r\n";
    struct vacation_msg mb = m;
    mb.hdr = bulk;
    mb.hdr_len = strlen(bulk);
    mb.envelope_from = "news@x.example";
    CHECK_INT(delivery_vacation_send(&g_opts, "alice", &mb, &p, 86400, "mx.test", 1800000000, &why),
              OUTGOING_SUPPRESSED);
    CHECK_INT(why, VACATION_PRECEDENCE);
    CHECK_INT(calls(), before + 1);
    /* The MTA fails: a failure, and the claim is given back, so the next
     * message from that sender is answered. */
    m.envelope_from = "carol@x.example";
    put("sendmail.exit", "75\n");
    CHECK_INT(delivery_vacation_send(&g_opts, "alice", &m, &p, 86400, "mx.test", 1800000000, NULL), OUTGOING_FAILED);
    drop("sendmail.exit");
    CHECK_INT(delivery_vacation_send(&g_opts, "alice", &m, &p, 86400, "mx.test", 1800000001, NULL), OUTGOING_SENT);
    CHECK_INT(calls(), before + 3);
}

static void test_redirect_send(void)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/stored", g_smdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const char *stored = "Return-Path: <bob@x.example>\r\nReceived: from a by mx.test\r\nSubject: fwd\r\n\r\nbody\r\n";
    CHECK(write(fd, stored, strlen(stored)) == (ssize_t)strlen(stored));
    int before = calls();
    enum redirect_verdict why;
    CHECK_INT(delivery_redirect_send(&g_opts, fd, strlen(stored), "bob@x.example", "alice@example.org",
                                     "alice@elsewhere.example", &why),
              OUTGOING_SENT);
    CHECK_INT(why, REDIRECT_OK);
    char *args = call_file(before + 1, "args");
    CHECK_STR(args, "-i\n-f\nbob@x.example\n--\nalice@elsewhere.example\n");
    free(args);
    char *msg = call_file(before + 1, "msg");
    CHECK_STR(msg, "X-Darius-Redirected: alice@example.org\nReceived: from a by mx.test\nSubject: fwd\n\nbody\n");
    /* What the MTA got, coming back: a loop, not sent again. */
    int fd2 = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
    const char *back = "Return-Path: <bob@x.example>\r\nReceived: from elsewhere\r\n"
                       "X-Darius-Redirected: alice@example.org\r\nSubject: fwd\r\n\r\nbody\r\n";
    CHECK(write(fd2, back, strlen(back)) == (ssize_t)strlen(back));
    CHECK_INT(delivery_redirect_send(&g_opts, fd2, strlen(back), "bob@x.example", "alice@example.org",
                                     "alice@elsewhere.example", &why),
              OUTGOING_SUPPRESSED);
    CHECK_INT(why, REDIRECT_LOOP);
    CHECK_INT(calls(), before + 1);
    /* The MTA fails: a failure for the caller. */
    put("sendmail.exit", "1\n");
    CHECK_INT(delivery_redirect_send(&g_opts, fd2, strlen(back), "bob@x.example", "carol@example.org",
                                     "carol@elsewhere.example", NULL),
              OUTGOING_FAILED);
    drop("sendmail.exit");
    free(msg);
    close(fd);
    close(fd2);
}

static void test_reject_mdn_send(void)
{
    const char *hdr = "From: bob@x.example\r\nSubject: buy\r\nMessage-ID: <s@x>\r\n\r\n";
    struct mdn_msg m = {.hdr = hdr, .hdr_len = strlen(hdr), .envelope_from = "bob@x.example",
                        .final_rcpt = "alice@example.org", .reason = "no thanks"};
    int before = calls();
    CHECK_INT(delivery_reject_mdn_send(&g_opts, &m, "mx.test", 1800000000), OUTGOING_SENT);
    char *args = call_file(before + 1, "args");
    CHECK_STR(args, "-i\n-f\n<>\n--\nbob@x.example\n");
    free(args);
    char *msg = call_file(before + 1, "msg");
    CHECK(msg && strstr(msg, "report-type=disposition-notification") &&
          strstr(msg, "\nDisposition: automatic-action/MDN-sent-automatically; deleted\n"));
    free(msg);
    m.envelope_from = "";
    CHECK_INT(delivery_reject_mdn_send(&g_opts, &m, "mx.test", 1800000000), OUTGOING_SUPPRESSED);
    CHECK_INT(calls(), before + 1);
}

int main(void)
{
    if (delivery_harness_init("test-delivery-sendmail", "mx.test") != 0)
        return 2;
    setenv("DARIUS_UNIT_MARKER", "leak", 1);
    unit_deadline(120);
    if (setup() != 0)
        return 2;
    RUN(test_success);
    RUN(test_null_sender_and_file);
    RUN(test_exit_status);
    RUN(test_timeout);
    RUN(test_lingering_child);
    RUN(test_missing_program);
    RUN(test_bad_arguments);
    RUN(test_program_not_reading);
    RUN(test_vacation_send);
    RUN(test_redirect_send);
    RUN(test_reject_mdn_send);
    delivery_harness_done();
    return unit_done();
}
