/* test-frontend.c - the front-end layer's session registry and the
 * server-wide events it fans out (frontend.h). */
#include "unit.h"
#include "common.h"
#include "event.h"
#include "frontend.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

struct tsess {
    struct fe_link link;
    int id;
    char said[64];      /* the last text a hook was given */
    int kicks, evicts;
    bool unlink_on_hook;
};

static struct conn *op_conn(void *session)
{
    (void)session;
    return NULL;
}

static void op_say(void *session, const char *text)
{
    struct tsess *s = session;
    snprintf(s->said, sizeof(s->said), "%s", text);
    if (s->unlink_on_hook)
        fe_unlink(&s->link); /* a session that closes and goes at once */
}

static void op_kick(void *session, const char *user)
{
    struct tsess *s = session;
    if (strcmp(user, "bob") == 0)
        s->kicks++;
}

static void op_evict(void *session)
{
    struct tsess *s = session;
    s->evicts++;
}

static const struct fe_ops ops = {
    .conn = op_conn,
    .shutdown = op_say,
    .notice = op_say,
    .kick_user = op_kick,
    .evict = op_evict,
};
/* no kick or evict hook: those events pass it by */
static const struct fe_ops ops_min = {.conn = op_conn, .shutdown = op_say, .notice = op_say};

static struct event_loop *loop;
static struct fe_server srv_a = {.name = "a", .ops = &ops};
static struct fe_server srv_b = {.name = "b", .ops = &ops_min};

static void count_cb(void *session, void *arg)
{
    struct tsess *s = session;
    int *sum = arg;
    *sum += s->id;
    fe_unlink(&s->link); /* unlinking the current one is allowed */
}

static void test_registry(void)
{
    struct tsess s[3] = {{.id = 1}, {.id = 2}, {.id = 4}};
    for (int i = 0; i < 3; i++)
        fe_link(&srv_a, &s[i].link, &s[i]);
    CHECK_INT(srv_a.count, 3);
    /* unlinking from the middle keeps the others reachable */
    fe_unlink(&s[1].link);
    fe_unlink(&s[1].link); /* idempotent */
    CHECK_INT(srv_a.count, 2);
    int sum = 0;
    fe_each(&srv_a, count_cb, &sum);
    CHECK_INT(sum, 5);
    CHECK_INT(srv_a.count, 0);
    CHECK(srv_a.head == NULL);
    /* a link never linked */
    struct tsess lone = {0};
    fe_unlink(&lone.link);
    CHECK_INT(srv_a.count, 0);
}

static void test_events(void)
{
    struct tsess a1 = {.id = 1, .unlink_on_hook = true}, a2 = {.id = 2}, b1 = {.id = 3};
    fe_link(&srv_a, &a1.link, &a1);
    fe_link(&srv_a, &a2.link, &a2);
    fe_link(&srv_b, &b1.link, &b1);
    CHECK_INT(fe_session_count_all(), 3);

    fe_kick_user_all("bob");
    fe_kick_user_all("alice");
    CHECK_INT(a1.kicks, 1);
    CHECK_INT(a2.kicks, 1);
    fe_evict_marked_all();
    CHECK_INT(a2.evicts, 1);

    fe_set_shutdown_notice_all("Down for maintenance");
    CHECK_STR(a2.said, "Down for maintenance");
    CHECK_STR(b1.said, "Down for maintenance");
    CHECK_STR(srv_a.notice, "Down for maintenance");
    CHECK_INT(srv_a.count, 1); /* a1 went from its hook, a2 was still told */
    fe_set_shutdown_notice_all(NULL);
    CHECK(srv_a.notice == NULL && srv_b.notice == NULL);

    fe_shutdown_all(NULL);
    CHECK_STR(a2.said, "Server shutting down");
    CHECK(srv_a.shutting_down && srv_b.shutting_down);
    fe_unlink(&a2.link);
    fe_unlink(&b1.link);
    CHECK_INT(fe_session_count_all(), 0);
}

static void test_accept_refused(void)
{
    /* srv_a is shutting down (test_events): a new socket is closed */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    struct fe_accept how = {.addr = "local"};
    char addr[64];
    struct limits_preauth pa = LIMITS_PREAUTH_INIT;
    CHECK(!fe_accept_admit(&srv_a, sv[0], NULL, 0, &how, addr, &pa));
    errno = 0;
    CHECK(fcntl(sv[0], F_GETFD) == -1 && errno == EBADF);
    CHECK_STR(addr, "local");
    /* the peer sees EOF, no refusal line (nothing said while shutting
     * down: the connection is simply not taken) */
    char c;
    CHECK(read(sv[1], &c, 1) == 0);
    close(sv[1]);
}

static void test_motd(void)
{
    CHECK(fe_motd() == NULL);
    fe_set_motd("Welcome");
    CHECK_STR(fe_motd(), "Welcome");
    fe_set_motd("Welcome"); /* unchanged */
    CHECK_STR(fe_motd(), "Welcome");
    fe_set_motd("Changed");
    CHECK_STR(fe_motd(), "Changed");
    fe_set_motd(""); /* an empty first line: nothing to send */
    CHECK(fe_motd() == NULL);
    fe_set_motd("Again");
    fe_set_motd(NULL);
    CHECK(fe_motd() == NULL);
}

int main(void)
{
    log_init("test", false, false, NULL);
    loop = event_loop_new();
    fe_server_init(&srv_a, loop);
    fe_server_init(&srv_b, loop);
    fe_server_init(&srv_a, loop); /* again: registered once */
    RUN(test_registry);
    RUN(test_events);
    RUN(test_accept_refused);
    RUN(test_motd);
    event_loop_free(loop);
    return unit_done();
}
