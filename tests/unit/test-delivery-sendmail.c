/* test-delivery-sendmail.c - delivery_sendmail against tests/lib/fake-sendmail.sh
 * (linked as DIR/sendmail; it records argv, stdin and environment per
 * call): the command line (-i, -f, "<>" for the null sender, "--"), the
 * message on stdin with CRLF turned into LF (head + file), a clean
 * environment, captured output; a non-zero exit, a timeout (the fake
 * hangs, holding its output open), a missing program and unfit addresses
 * are failures. Then the actions end to end (delivery-outgoing.c):
 * vacation sent once per period and given back when the MTA fails,
 * redirect with its marker and without Return-Path and its loop refused,
 * the reject MDN and none to the null sender, notify mailto. */
#include "unit.h"
#include "delivery-harness.h"
#include "mime.h"
#include "sieve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
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

static char *call_file(int n, const char *what);

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

/* The program inherits no descriptor of ours but 0, 1, 2 (even one
 * opened without O_CLOEXEC), no blocked signals and no ignored ones
 * (the worker blocks signals for its signalfd and ignores SIGPIPE). */
static void test_inherited_state(void)
{
    int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    CHECK(dup2(leak, 7) == 7);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    signal(SIGPIPE, SIG_IGN);
    int before = calls();
    const char *rcpts[] = {"bob@example.org"};
    struct sendmail_msg msg = {.head = "x\r\n", .head_len = 3, .fd = -1};
    CHECK_INT(delivery_sendmail(&g_opts, "a@b.example", rcpts, 1, &msg, NULL), SENDMAIL_OK);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    signal(SIGPIPE, SIG_DFL);
    close(7);
    close(leak);
    char *fds = call_file(before + 1, "fds");
    CHECK(fds != NULL);
    if (fds) {
        /* 0, 1, 2 and whatever the shell opens itself (dash keeps its
         * script on a descriptor >= 10); never 3..9 from us. */
        for (char *line = strtok(fds, "\n"); line; line = strtok(NULL, "\n")) {
            int fd = atoi(line);
            CHECK(fd <= 2 || fd >= 10);
        }
        free(fds);
    }
    char *sig = call_file(before + 1, "sig");
    CHECK(sig && strstr(sig, "SigBlk:\t0000000000000000\n"));
    if (sig && !strstr(sig, "SigBlk:\t0000000000000000\n"))
        fprintf(stderr, "%s", sig);
    /* Of the ignored set only the standard signals count: glibc's
     * posix_spawn leaves its two internal real-time signals (32, 33:
     * thread cancellation and setxid) ignored in the child, where
     * nothing uses them. */
    const char *ign = sig ? strstr(sig, "SigIgn:\t") : NULL;
    unsigned long long mask = ign ? strtoull(ign + 8, NULL, 16) : ~0ULL;
    CHECK_INT(mask & 0x7fffffffULL, 0);
    free(sig);
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
    /* An address the command line cannot carry: never sendable, not a
     * temporary failure, and the MTA is not called. */
    int n = calls();
    CHECK_INT(delivery_redirect_send(&g_opts, fd2, strlen(back), "bob@x.example", "carol@example.org",
                                     "carol smith@elsewhere.example", NULL),
              OUTGOING_ERROR);
    CHECK_INT(calls(), n);
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

static void test_notify_send(void)
{
    const char *hdr = "From: bob@x.example\r\nSubject: s\r\n\r\n";
    struct notify_msg m = {.hdr = hdr, .hdr_len = strlen(hdr), .envelope_from = "bob@x.example",
                           .envelope_to = "alice@example.org"};
    int before = calls();
    CHECK_INT(delivery_notify_mailto_send(&g_opts, "mailto:n@example.net?bcc=h@example.net", &m, NULL, "New mail",
                                          "mx.test", 1800000000),
              OUTGOING_SENT);
    char *args = call_file(before + 1, "args");
    CHECK_STR(args, "-i\n-f\nalice@example.org\n--\nn@example.net\nh@example.net\n");
    free(args);
    char *msg = call_file(before + 1, "msg");
    CHECK(msg && strncmp(msg, "Auto-Submitted: auto-notified;", 30) == 0 && strstr(msg, "\nSubject: New mail\n"));
    free(msg);
    /* A null trigger sender: a null sender. */
    m.envelope_from = "";
    CHECK_INT(delivery_notify_mailto_send(&g_opts, "mailto:n@example.net", &m, NULL, NULL, "mx.test", 1800000000),
              OUTGOING_SENT);
    args = call_file(before + 2, "args");
    CHECK_STR(args, "-i\n-f\n<>\n--\nn@example.net\n");
    free(args);
    /* No notification about an auto-submitted message; an invalid URI
     * fails; neither calls the MTA. */
    const char *auto_hdr = "Auto-Submitted: auto-notified\r\n\r\n";
    struct notify_msg ma = {.hdr = auto_hdr, .hdr_len = strlen(auto_hdr), .envelope_from = "x@y.example",
                            .envelope_to = "alice@example.org"};
    CHECK_INT(delivery_notify_mailto_send(&g_opts, "mailto:n@example.net", &ma, NULL, NULL, "mx.test", 1800000000),
              OUTGOING_SUPPRESSED);
    /* an invalid URI can never be sent: OUTGOING_ERROR (the caller keeps
     * the message instead of failing temporarily again and again) */
    CHECK_INT(delivery_notify_mailto_send(&g_opts, "mailto:?subject=x", &m, NULL, NULL, "mx.test", 1800000000),
              OUTGOING_ERROR);
    CHECK_INT(calls(), before + 2);
}

/* A script's result carried out: compile, run, and each outgoing action
 * through delivery_sieve_action_send. */
static void test_sieve_actions(void)
{
    const char *script = "require [\"vacation\", \"enotify\", \"reject\"];\n"
                         "redirect \"other@elsewhere.example\";\n"
                         "vacation :days 3 :subject \"Away\" \"I am away.\";\n"
                         "notify :message \"got one\" \"mailto:pager@example.net\";\n";
    struct sieve_diags d;
    memset(&d, 0, sizeof(d));
    unsigned char *bin = NULL;
    size_t bl = 0;
    CHECK(sieve_compile(script, strlen(script), NULL, &bin, &bl, &d));
    sieve_diags_free(&d);
    enum sieve_load_status ls;
    struct sieve_script *sc = bin ? sieve_binary_load(bin, bl, NULL, &ls) : NULL;
    free(bin);
    CHECK(sc != NULL);
    if (!sc)
        return;
    const char *stored = "Return-Path: <bob@x.example>\r\n"
                         "Received: from x by mx.test\r\n"
                         "From: bob@x.example\r\nTo: alice@example.org\r\nSubject: plans\r\n"
                         "Message-ID: <p1@x.example>\r\n\r\nsee you\r\n";
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/sieve-msg", g_smdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(write(fd, stored, strlen(stored)) == (ssize_t)strlen(stored));
    struct sieve_envelope env = {"bob@x.example", "alice@example.org", NULL, NULL};
    struct sieve_result *res = NULL;
    CHECK_INT(sieve_run(sc, stored, strlen(stored), &env, NULL, NULL, NULL, &res), SIEVE_RUN_OK);
    struct outgoing_ctx c = {.sendmail = g_opts,
                             .servername = "mx.test",
                             .now = 1800000000,
                             .vacation_min = 86400,
                             .vacation_max = 90 * 86400,
                             .user = "alice-sieve",
                             .rcpt = "alice@example.org",
                             .envelope_from = "bob@x.example",
                             .fd = fd,
                             .size = strlen(stored),
                             .hdr = stored,
                             .hdr_len = mime_header_length(stored, strlen(stored))};
    int before = calls();
    int sent = 0;
    for (size_t i = 0; res && i < sieve_result_count(res); i++) {
        const struct sieve_action *a = sieve_result_action(res, i);
        enum outgoing_result o = delivery_sieve_action_send(a, &c);
        if (a->type == SIEVE_ACT_REDIRECT || a->type == SIEVE_ACT_VACATION || a->type == SIEVE_ACT_NOTIFY) {
            CHECK_INT(o, OUTGOING_SENT);
            sent++;
        }
    }
    CHECK_INT(sent, 3);
    CHECK_INT(calls(), before + 3);
    /* In action order: the redirect keeps the sender and carries the
     * marker; the vacation reply is from <>; the notification to the URI. */
    char *args = call_file(before + 1, "args");
    CHECK_STR(args, "-i\n-f\nbob@x.example\n--\nother@elsewhere.example\n");
    free(args);
    char *msg = call_file(before + 1, "msg");
    CHECK(msg && strncmp(msg, "X-Darius-Redirected: alice@example.org\nReceived: from x", 55) == 0);
    free(msg);
    args = call_file(before + 2, "args");
    CHECK_STR(args, "-i\n-f\n<>\n--\nbob@x.example\n");
    free(args);
    msg = call_file(before + 2, "msg");
    CHECK(msg && strstr(msg, "\nSubject: Away\n") && strstr(msg, "\n\nI am away.\n"));
    free(msg);
    args = call_file(before + 3, "args");
    CHECK_STR(args, "-i\n-f\nalice@example.org\n--\npager@example.net\n");
    free(args);
    /* The same message again: the vacation is not due; the others are. */
    for (size_t i = 0; res && i < sieve_result_count(res); i++) {
        const struct sieve_action *a = sieve_result_action(res, i);
        if (a->type == SIEVE_ACT_VACATION)
            CHECK_INT(delivery_sieve_action_send(a, &c), OUTGOING_SUPPRESSED);
    }
    CHECK_INT(calls(), before + 3);
    /* An edited header (editheader) is what a redirect sends. */
    const char *edited = "X-Added: 1\r\nFrom: bob@x.example\r\nSubject: plans\r\n\r\n";
    struct outgoing_ctx ce = c;
    ce.hdr = edited;
    ce.hdr_len = strlen(edited);
    ce.hdr_edited = true;
    ce.body_off = (uint64_t)(strstr(stored, "\r\n\r\n") + 4 - stored);
    for (size_t i = 0; res && i < sieve_result_count(res); i++) {
        const struct sieve_action *a = sieve_result_action(res, i);
        if (a->type == SIEVE_ACT_REDIRECT)
            CHECK_INT(delivery_sieve_action_send(a, &ce), OUTGOING_SENT);
    }
    msg = call_file(before + 4, "msg");
    CHECK_STR(msg, "X-Darius-Redirected: alice@example.org\nX-Added: 1\nFrom: bob@x.example\nSubject: plans\n\n"
                   "see you\n");
    free(msg);
    sieve_result_free(res);
    sieve_script_free(sc);
    close(fd);
}

/* ---- threads ---- */

#include <pthread.h>

#define NTHREADS 4
#define PER_THREAD 3

static void *send_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char body[128], rcpt[64];
        snprintf(body, sizeof(body), "Subject: t%d-%d\r\n\r\nfrom thread %d, message %d\r\n", id, i, id, i);
        snprintf(rcpt, sizeof(rcpt), "t%d-%d@example.org", id, i);
        const char *rcpts[] = {rcpt};
        struct sendmail_msg msg = {.head = body, .head_len = strlen(body), .fd = -1};
        if (delivery_sendmail(&g_opts, "", rcpts, 1, &msg, NULL) != SENDMAIL_OK)
            return (void *)1;
    }
    return NULL;
}

/* delivery_sendmail from several threads at once (as from a worker's
 * job pool): every message reaches its own call intact. */
static void test_threads_send(void)
{
    int before = calls();
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, send_thread, (void *)(intptr_t)i);
    int failed = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        failed += rv != NULL;
    }
    CHECK_INT(failed, 0);
    CHECK_INT(calls(), before + NTHREADS * PER_THREAD);
    bool seen[NTHREADS][PER_THREAD] = {{false}};
    for (int n = before + 1; n <= before + NTHREADS * PER_THREAD; n++) {
        char *args = call_file(n, "args"), *msg = call_file(n, "msg");
        int a = -1, b = -1;
        if (args && sscanf(args, "-i\n-f\n<>\n--\nt%d-%d@", &a, &b) == 2 && a >= 0 && a < NTHREADS && b >= 0 &&
            b < PER_THREAD) {
            char want[128];
            snprintf(want, sizeof(want), "Subject: t%d-%d\n\nfrom thread %d, message %d\n", a, b, a, b);
            CHECK_STR(msg, want);
            seen[a][b] = true;
        }
        free(args);
        free(msg);
    }
    for (int i = 0; i < NTHREADS; i++)
        for (int j = 0; j < PER_THREAD; j++)
            CHECK(seen[i][j]);
}

static int g_claims;
static pthread_mutex_t g_claims_mu = PTHREAD_MUTEX_INITIALIZER;

static void *claim_thread(void *arg)
{
    (void)arg;
    int r = vacation_claim("race", "bob@x.example", "h", 86400, 1800000000);
    pthread_mutex_lock(&g_claims_mu);
    g_claims += r == 1;
    pthread_mutex_unlock(&g_claims_mu);
    return NULL;
}

/* Two messages from one sender delivered at once: one reply. */
static void test_threads_claim(void)
{
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, claim_thread, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(g_claims, 1);
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
    RUN(test_inherited_state);
    RUN(test_exit_status);
    RUN(test_timeout);
    RUN(test_lingering_child);
    RUN(test_missing_program);
    RUN(test_bad_arguments);
    RUN(test_program_not_reading);
    RUN(test_vacation_send);
    RUN(test_redirect_send);
    RUN(test_reject_mdn_send);
    RUN(test_notify_send);
    RUN(test_sieve_actions);
    RUN(test_threads_send);
    RUN(test_threads_claim);
    delivery_harness_done();
    return unit_done();
}
