/* managesieve-server.c - accepting ManageSieve connections, the session
 * list, timers, the input loop, jobs on the pool and the server-wide
 * events (shutdown, the shutdown file, user kicks, eviction). One
 * instance per worker process, on the same event loop as IMAP and POP3.
 *
 * Lifetime: the conn calls on_close once; the session is freed then,
 * unless we are inside one of our own callbacks (busy > 0), in which case
 * the outermost leave() frees it.
 */
#include "managesieve-private.h"
#include "config.h"
#include "jobs.h"
#include "log.h"
#include <stdarg.h>

static const struct fe_ops msv_ops;
static struct fe_server g_srv = {.name = "managesieve", .ops = &msv_ops};

void managesieve_init(struct event_loop *loop)
{
    fe_server_init(&g_srv, loop);
}

struct event_loop *msv_loop(void)
{
    return g_srv.loop;
}

struct tls_ctx *msv_tls(void)
{
    return g_srv.tls;
}

void managesieve_set_tls(struct tls_ctx *tls)
{
    fe_server_set_tls(&g_srv, tls);
}

size_t managesieve_session_count(void)
{
    return g_srv.count;
}

/* ---- output ---------------------------------------------------------------- */

void msv_write(struct msv_session *s, const void *data, size_t len)
{
    if (s->closed || !s->conn)
        return;
    conn_write(s->conn, data, len);
}

/* RFC 5804 4: response-oknobye = ("OK" / "NO" / "BYE") [SP "(" resp-code
 * ")"] [SP string] CRLF. */
void msv_reply(struct msv_session *s, const char *status, const char *code, const char *text)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, status);
    if (code && *code)
        buf_printf(&b, " (%s)", code);
    if (text) {
        buf_putc(&b, ' ');
        msv_put_string(&b, text, strlen(text));
    }
    buf_puts(&b, "\r\n");
    msv_write(s, b.data, b.len);
    buf_free(&b);
}

/* ---- lifetime ---------------------------------------------------------------- */

void msv_store_close(struct msv_session *s)
{
    if (s->mu)
        mail_user_close(s->mu);
    s->mu = NULL;
}

static void session_free(struct msv_session *s)
{
    if (s->timeout_timer)
        ev_timer_cancel(g_srv.loop, s->timeout_timer);
    if (s->defer_timer)
        ev_timer_cancel(g_srv.loop, s->defer_timer);
    if (s->kick_timer)
        ev_timer_cancel(g_srv.loop, s->kick_timer);
    if (s->tls_caps_timer)
        ev_timer_cancel(g_srv.loop, s->tls_caps_timer);
    msv_auth_reset(s);
    msv_store_close(s);
    msv_reader_reset(&s->rd);
    if (s->counted_user && s->user)
        limits_login_release(s->user, s->peer);
    limits_preauth_end(&s->pa);
    if (s->counted_conn)
        limits_conn_release(s->peer);
    fe_unlink(&s->link);
    free(s->user);
    free(s);
}

void msv_session_enter(struct msv_session *s)
{
    s->busy++;
}

void msv_session_leave(struct msv_session *s)
{
    if (--s->busy == 0 && s->closed)
        session_free(s);
}

/* Close with a BYE (RFC 5804 1.3: the server may send BYE at any time
 * before it closes), or silently when bye_text is NULL. */
void msv_session_close(struct msv_session *s, const char *bye_code, const char *bye_text)
{
    if (s->closed || !s->conn || s->quitting)
        return;
    if (bye_text)
        msv_reply(s, "BYE", bye_code, bye_text);
    s->quitting = true;
    conn_pause_input(s->conn);
    conn_close(s->conn);
}

static void session_touch(struct msv_session *s)
{
    s->last_activity = event_loop_now(g_srv.loop);
}

bool msv_session_blocked(const struct msv_session *s)
{
    return s->deferred != MSV_DEF_NONE || s->parked || s->auth_wait;
}

/* ---- jobs on the pool --------------------------------------------------------- */

struct msv_parked {
    struct msv_session *s;
    msv_park_run_fn run;
    msv_park_finish_fn finish;
    void *arg;
};

static void park_run(struct job *job, void *arg)
{
    struct msv_parked *p = arg;
    p->run(job, p->arg);
}

static void park_done(void *arg)
{
    struct msv_parked *p = arg;
    struct msv_session *s = p->s;
    msv_park_finish_fn finish = p->finish;
    void *farg = p->arg;
    free(p);
    s->parked = false;
    bool gone = s->closed || !s->conn || s->quitting;
    finish(s, gone, farg);
    if (gone) {
        /* closing (kick, shutdown, dropped client): the store goes now,
         * not when the close completes (a move waits for it) */
        if (!s->parked)
            msv_store_close(s);
    } else if (!msv_session_blocked(s)) {
        msv_session_kick(s);    /* pipelined commands already read */
    }
    msv_session_leave(s);
}

void msv_park(struct msv_session *s, const char *kind, const void *key, msv_park_run_fn run,
              msv_park_finish_fn finish, void *arg)
{
    struct msv_parked *p = xcalloc(1, sizeof(*p));
    p->s = s;
    p->run = run;
    p->finish = finish;
    p->arg = arg;
    /* Without a pool (fuzz targets) jobs_submit runs both steps here. */
    msv_session_enter(s);
    s->parked = true;
    if (s->conn && !s->quitting)
        conn_pause_input(s->conn);
    jobs_submit(kind, key, park_run, park_done, p);
}

/* ---- timers ---------------------------------------------------------------- */

/* Before authentication the whole phase is bounded from connect
 * (preauth_timeout), as for IMAP and POP3; afterwards an idle session
 * is logged out after IMAP's "timeout" (minutes). */
static uint64_t preauth_deadline(const struct msv_session *s)
{
    return s->connected_at + (uint64_t)config_int(CFG_PREAUTH_TIMEOUT) * 1000;
}

static void timeout_cb(struct event_loop *loop, void *arg);

void msv_arm_timer(struct msv_session *s)
{
    uint64_t now = event_loop_now(g_srv.loop);
    uint64_t ms;
    if (!s->user) {
        uint64_t d = preauth_deadline(s);
        ms = d > now ? d - now : 1;
    } else {
        uint64_t limit = (uint64_t)config_int(CFG_TIMEOUT) * 60 * 1000;
        uint64_t since = now > s->last_activity ? now - s->last_activity : 0;
        ms = since >= limit ? 1 : limit - since;
    }
    if (s->timeout_timer)
        ev_timer_cancel(g_srv.loop, s->timeout_timer);
    s->timeout_timer = ev_timer_add(g_srv.loop, ms, timeout_cb, s);
}

static void timeout_cb(struct event_loop *loop, void *arg)
{
    struct msv_session *s = arg;
    s->timeout_timer = 0;
    if (s->closed || s->quitting)
        return;
    msv_session_enter(s);
    uint64_t now = event_loop_now(loop);
    if (!s->user) {
        if (now >= preauth_deadline(s)) {
            log_info("managesieve: pre-authentication time limit reached: addr=%s", s->peer);
            msv_session_close(s, NULL, "Autologout; pre-authentication time limit reached");
        } else {
            msv_arm_timer(s);
        }
    } else if (!s->parked && now >= s->last_activity + (uint64_t)config_int(CFG_TIMEOUT) * 60 * 1000) {
        log_info("managesieve: autologout: user=%s addr=%s", s->user, s->peer);
        msv_session_close(s, NULL, "Autologout; idle for too long");
    } else {
        msv_arm_timer(s);
    }
    msv_session_leave(s);
}

static void kick_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct msv_session *s = arg;
    s->kick_timer = 0;
    if (s->closed)
        return;
    msv_session_enter(s);
    msv_process_input(s);
    msv_session_leave(s);
}

void msv_session_kick(struct msv_session *s)
{
    if (s->closed)
        return;
    if (s->conn && !s->quitting)
        conn_resume_input(s->conn);
    if (s->kick_timer)
        return;
    s->kick_timer = ev_timer_add(g_srv.loop, 0, kick_cb, s);
}

/* ---- input ---------------------------------------------------------------- */

void msv_process_input(struct msv_session *s)
{
    while (!s->closed && s->conn && !s->quitting) {
        /* A client that sends commands without reading the answers
         * (GETSCRIPT returns a whole script per ~20 bytes sent) must not
         * grow our output without bound: read no more until it drains
         * (on_drain). */
        if (conn_output_full(s->conn)) {
            conn_pause_input(s->conn);
            return;
        }
        if (msv_session_blocked(s)) {
            /* pipelined commands wait: answered in order */
            conn_pause_input(s->conn);
            return;
        }
        /* after STARTTLS, commands wait for the capabilities; input is
         * not paused, the handshake reads through it */
        if (s->tls_caps_wait)
            return;
        struct buf *in = conn_input(s->conn);
        if (!in->len)
            return;
        struct msv_command cmd;
        enum msv_read_status st = msv_reader_input(&s->rd, in, &cmd);
        if (st == MSV_READ_MORE)
            return;
        session_touch(s);
        if (st == MSV_READ_ERROR) {
            msv_bad_command(s);
            continue;
        }
        if (sasl_ex_waiting(&s->sx))
            msv_sasl_response(s, &cmd);
        else
            msv_execute(s, &cmd);
        for (size_t i = 0; i < cmd.nargs; i++)
            if (cmd.args[i].data)
                explicit_bzero(cmd.args[i].data, cmd.args[i].len);
        msv_command_clear(&cmd);
    }
}

/* ---- conn callbacks ---------------------------------------------------- */

static void on_input(struct conn *c, void *arg)
{
    (void)c;
    struct msv_session *s = arg;
    if (!s || s->closed)
        return;
    msv_session_enter(s);
    msv_process_input(s);
    msv_session_leave(s);
}

/* Output fell below the low-water mark after a client stopped reading:
 * go on with its pipelined commands. */
static void on_drain(struct conn *c, void *arg)
{
    (void)c;
    struct msv_session *s = arg;
    if (!s || s->closed)
        return;
    msv_session_enter(s);
    if (!msv_session_blocked(s))
        msv_session_kick(s);
    msv_session_leave(s);
}

static void on_close(struct conn *c, void *arg)
{
    (void)c;
    struct msv_session *s = arg;
    if (!s)
        return;
    s->closed = true;
    s->conn = NULL;
    if (s->busy == 0)
        session_free(s);
}

static const struct conn_callbacks callbacks = {on_input, on_drain, on_close};

void managesieve_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, bool is_unix)
{
    /* RFC 5804 1.3: the greeting may be a BYE; TRYLATER: try again later. */
    struct fe_accept how = {
        .preauth = !is_unix,
        .addr = is_unix ? "local" : NULL,
        .refuse_full = "BYE (TRYLATER) \"Too many connections\"\r\n",
        .refuse_host = "BYE (TRYLATER) \"Too many unauthenticated connections from your address\"\r\n",
    };
    char addr[64];
    struct limits_preauth pa;
    if (!fe_accept_admit(&g_srv, fd, peer, peerlen, &how, addr, &pa))
        return;
    struct msv_session *s = xcalloc(1, sizeof(*s));
    snprintf(s->peer, sizeof(s->peer), "%s", addr);
    s->pa = pa;
    s->is_unix = is_unix;
    s->connected_at = event_loop_now(g_srv.loop);
    s->counted_conn = true;
    msv_reader_init(&s->rd, MSV_PREAUTH_LITERAL);
    s->conn = fe_conn_new(&g_srv, fd, peer, peerlen, false, &callbacks, s);
    fe_link(&g_srv, &s->link, s);
    msv_session_enter(s);
    session_touch(s);
    if (g_srv.notice) {
        /* the Cyrus shutdown file: refuse instead of greeting */
        msv_session_close(s, "TRYLATER", g_srv.notice);
        msv_session_leave(s);
        return;
    }
    msv_greeting(s);
    msv_arm_timer(s);
    msv_session_leave(s);
}

/* Close from the event loop with a BYE; the store goes at once unless a
 * job still uses it (park_done closes it then). */
static void close_with(struct msv_session *s, const char *code, const char *text)
{
    msv_session_enter(s);
    msv_session_close(s, code, text);
    if (!s->parked)
        msv_store_close(s);
    msv_session_leave(s);
}

/* ---- server-wide events (fe_ops) ------------------------------------------ */

static struct conn *op_conn(void *session)
{
    struct msv_session *s = session;
    return s->closed ? NULL : s->conn;
}

static void op_kick_user(void *session, const char *user)
{
    struct msv_session *s = session;
    if (!s->closed && !s->quitting && s->conn && s->user && strcmp(s->user, user) == 0) {
        log_info("managesieve: disconnecting (account moved or changed): user=%s addr=%s", s->user, s->peer);
        close_with(s, "TRYLATER", "Account is being moved or changed");
    }
}

static void op_evict(void *session)
{
    struct msv_session *s = session;
    /* a login in progress is decided when it ends (as IMAP and POP3) */
    if ((!s->user && (s->auth_wait || s->parked)) || !limits_preauth_evicted(&s->pa))
        return;
    bool pre = !s->user && !s->closed && s->conn;
    limits_preauth_end(&s->pa);
    if (pre && s->quitting) {
        log_notice("managesieve: closing unauthenticated connection evicted (server full): addr=%s", s->peer);
        conn_abort(s->conn);
    } else if (pre) {
        log_notice("managesieve: unauthenticated connection evicted (server full): addr=%s", s->peer);
        close_with(s, "TRYLATER", "Server full, dropping the oldest unauthenticated connection");
    }
}

void msv_evict_marked(void)
{
    fe_evict_marked(&g_srv);
}

static void op_notice(void *session, const char *line)
{
    struct msv_session *s = session;
    if (!s->closed && !s->quitting && s->conn)
        close_with(s, "TRYLATER", line);
}

static void op_shutdown(void *session, const char *reason)
{
    struct msv_session *s = session;
    if (s->closed || s->quitting || !s->conn)
        return;
    msv_session_enter(s);
    msv_session_close(s, "TRYLATER", reason);
    msv_session_leave(s);
}

static const struct fe_ops msv_ops = {
    .conn = op_conn,
    .shutdown = op_shutdown,
    .notice = op_notice,
    .kick_user = op_kick_user,
    .evict = op_evict,
};
