/* pop3-server.c - accepting POP3 connections, the session list, the line
 * reader, idle timers and shutdown. One instance per worker process, on
 * the same event loop as IMAP.
 *
 * Lifetime: the conn calls on_close once; the session is freed then,
 * unless we are inside one of our own callbacks (busy > 0), in which case
 * the outermost leave() frees it. A session that ends without QUIT
 * (dropped connection, autologout, shutdown) never enters the UPDATE
 * state: nothing is deleted (RFC 1939 6).
 */
#include "pop3-private.h"
#include "config.h"
#include "connlimits.h"
#include "jobs.h"
#include "log.h"
#include "notify.h"
#include <stdarg.h>
#include <unistd.h>

/* SASL responses may be long (RFC 5034 4: no line limit for them); this
 * bounds what we hold. */
#define POP3_MAX_SASL_LINE 16384

static const struct fe_ops pop3_ops;
static struct fe_server g_srv = {.name = "pop3", .ops = &pop3_ops};

void pop3_init(struct event_loop *loop)
{
    fe_server_init(&g_srv, loop);
}

struct event_loop *pop3_loop(void)
{
    return g_srv.loop;
}

struct tls_ctx *pop3_tls(void)
{
    return g_srv.tls;
}

void pop3_set_tls(struct tls_ctx *tls)
{
    fe_server_set_tls(&g_srv, tls);
}

size_t pop3_session_count(void)
{
    return g_srv.count;
}

/* ---- output ---------------------------------------------------------------- */

void pop3_write(struct pop3_session *s, const void *data, size_t len)
{
    if (s->closed || !s->conn)
        return;
    conn_write(s->conn, data, len);
}

void pop3_printf(struct pop3_session *s, const char *fmt, ...)
{
    if (s->closed || !s->conn)
        return;
    va_list ap;
    va_start(ap, fmt);
    fe_vprintf(s->conn, fmt, ap);
    va_end(ap);
}

/* ---- lifetime ---------------------------------------------------------------- */

static void session_free(struct pop3_session *s)
{
    if (s->timeout_timer)
        ev_timer_cancel(g_srv.loop, s->timeout_timer);
    if (s->defer_timer)
        ev_timer_cancel(g_srv.loop, s->defer_timer);
    if (s->kick_timer)
        ev_timer_cancel(g_srv.loop, s->kick_timer);
    pop3_job_free(s);
    pop3_auth_reset(s);
    pop3_maildrop_close(s);
    if (s->counted_user && s->user)
        limits_login_release(s->user, s->peer);
    limits_preauth_end(&s->pa);
    if (s->counted_conn)
        limits_conn_release(s->peer);
    fe_unlink(&s->link);
    free(s->user);
    free(s->folder);
    free(s);
}

void pop3_session_enter(struct pop3_session *s)
{
    s->busy++;
}

void pop3_session_leave(struct pop3_session *s)
{
    if (--s->busy == 0 && s->closed)
        session_free(s);
}

void pop3_session_close(struct pop3_session *s, const char *err_line)
{
    if (s->closed || !s->conn || s->quitting)
        return;
    if (err_line)
        pop3_printf(s, "%s\r\n", err_line);
    s->quitting = true;
    conn_pause_input(s->conn);
    conn_close(s->conn);
}

void pop3_session_touch(struct pop3_session *s)
{
    s->last_activity = event_loop_now(g_srv.loop);
}

bool pop3_session_blocked(const struct pop3_session *s)
{
    return s->job.kind != JOB_NONE || s->deferred != DEF_NONE || s->parked || s->auth_wait;
}

/* ---- slow steps on the pool (pop3_park) ------------------------------------ */

struct pop3_parked {
    struct pop3_session *s;
    pop3_park_run_fn run;
    pop3_park_finish_fn finish;
    void *arg;
};

static void park_run(struct job *job, void *arg)
{
    struct pop3_parked *p = arg;
    p->run(job, p->arg);
}

static void park_done(void *arg)
{
    struct pop3_parked *p = arg;
    struct pop3_session *s = p->s;
    pop3_park_finish_fn finish = p->finish;
    void *farg = p->arg;
    free(p);
    s->parked = false;
    bool gone = s->closed || !s->conn || s->quitting;
    finish(s, gone, farg);
    if (gone) {
        /* closing (kick, shutdown, eviction, dropped client): the store
         * handles go now, not when the close completes */
        if (s->deferred == DEF_NONE && !s->parked)
            pop3_maildrop_close(s);
    } else if (!pop3_session_blocked(s)) {
        pop3_session_kick(s);   /* pipelined commands already read */
    }
    pop3_session_leave(s);
}

void pop3_park(struct pop3_session *s, const char *kind, const void *key, pop3_park_run_fn run,
               pop3_park_finish_fn finish, void *arg)
{
    struct pop3_parked *p = xcalloc(1, sizeof(*p));
    p->s = s;
    p->run = run;
    p->finish = finish;
    p->arg = arg;
    /* The session outlives the job (freed at the latest by park_done's
     * leave); without a pool (unit tests, fuzz targets) jobs_submit runs
     * both steps right here. */
    pop3_session_enter(s);
    s->parked = true;
    if (s->conn && !s->quitting)
        conn_pause_input(s->conn);
    jobs_submit(kind, key, park_run, park_done, p);
}

/* ---- timers ---------------------------------------------------------------- */

static uint64_t timeout_ms(void)
{
    /* RFC 1939 3: at least 10 minutes; the config enforces the minimum. */
    return (uint64_t)config_int(CFG_POPTIMEOUT) * 60 * 1000;
}

/* In the AUTHORIZATION state the whole phase is bounded from connect
 * (preauth_timeout), not from the last byte: a client trickling a byte
 * now and then, or never finishing its TLS handshake, goes at the
 * deadline. RFC 1939 3's ten minutes are about an idle session's
 * autologout; this is a bound on how long logging in may take. */
static uint64_t preauth_deadline(const struct pop3_session *s)
{
    return s->connected_at + (uint64_t)config_int(CFG_PREAUTH_TIMEOUT) * 1000;
}

static void timeout_cb(struct event_loop *loop, void *arg);
static void close_with(struct pop3_session *s, const char *line);

static void arm_timer(struct pop3_session *s)
{
    uint64_t now = event_loop_now(g_srv.loop);
    if (s->state == POP3_AUTHORIZATION) {
        uint64_t d = preauth_deadline(s);
        if (s->timeout_timer)
            ev_timer_cancel(g_srv.loop, s->timeout_timer);
        s->timeout_timer = ev_timer_add(g_srv.loop, d > now ? d - now : 1, timeout_cb, s);
        return;
    }
    uint64_t limit = timeout_ms();
    uint64_t since = now > s->last_activity ? now - s->last_activity : 0;
    uint64_t ms = since >= limit ? 1 : limit - since;
    if (s->timeout_timer)
        ev_timer_cancel(g_srv.loop, s->timeout_timer);
    s->timeout_timer = ev_timer_add(g_srv.loop, ms, timeout_cb, s);
}

static void timeout_cb(struct event_loop *loop, void *arg)
{
    struct pop3_session *s = arg;
    s->timeout_timer = 0;
    if (s->closed || s->quitting)
        return;
    pop3_session_enter(s);
    uint64_t now = event_loop_now(loop);
    if (s->state == POP3_AUTHORIZATION) {
        /* Absolute, also during a login delay. */
        if (now >= preauth_deadline(s)) {
            log_info("pop3: pre-authentication time limit reached: addr=%s", s->peer);
            close_with(s, "-ERR [SYS/TEMP] Autologout; pre-authentication time limit reached");
        } else {
            arm_timer(s);
        }
        pop3_session_leave(s);
        return;
    }
    /* A login delay or a step on the pool is our own doing, not the
     * client's idleness. */
    if (s->deferred == DEF_NONE && !s->parked && now >= s->last_activity + timeout_ms()) {
        /* RFC 1939 3: close without entering UPDATE and without a reply. */
        log_info("pop3: autologout: user=%s addr=%s", s->user ? s->user : "-", s->peer);
        s->quitting = true;
        conn_abort(s->conn);
    } else {
        arm_timer(s);
    }
    pop3_session_leave(s);
}

static void kick_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct pop3_session *s = arg;
    s->kick_timer = 0;
    if (s->closed)
        return;
    pop3_session_enter(s);
    pop3_reader_input(s);
    pop3_session_leave(s);
}

void pop3_session_kick(struct pop3_session *s)
{
    if (s->closed)
        return;
    /* Input was paused while the session was blocked: resume it even when
     * a kick is already pending (a step that parked and finished at once,
     * without a pool, paused it after that kick was scheduled). */
    if (s->conn && !s->quitting)
        conn_resume_input(s->conn);
    if (s->kick_timer)
        return;
    s->kick_timer = ev_timer_add(g_srv.loop, 0, kick_cb, s);
}

/* ---- the line reader ------------------------------------------------------ */

void pop3_reader_input(struct pop3_session *s)
{
    while (!s->closed && s->conn && !s->quitting) {
        if (pop3_session_blocked(s)) {
            /* Pipelined commands wait (RFC 2449 6.6: answered in order). */
            conn_pause_input(s->conn);
            return;
        }
        struct buf *in = conn_input(s->conn);
        if (!in->len)
            return;
        size_t limit = sasl_ex_waiting(&s->sx) ? POP3_MAX_SASL_LINE : POP3_MAX_LINE;
        char *nl = memchr(in->data, '\n', in->len);
        if (!nl) {
            if (in->len > limit) {
                if (!s->discarding) {
                    pop3_printf(s, "-ERR Line too long\r\n");
                    if (sasl_ex_waiting(&s->sx))
                        pop3_auth_reset(s);
                }
                s->discarding = true;
                buf_consume(in, in->len);
            }
            return;
        }
        size_t n = (size_t)(nl - in->data);
        if (s->discarding) {
            s->discarding = false;
            buf_consume(in, n + 1);
            continue;
        }
        if (n > limit) {
            buf_consume(in, n + 1);
            pop3_printf(s, "-ERR Line too long\r\n");
            if (sasl_ex_waiting(&s->sx))
                pop3_auth_reset(s);
            continue;
        }
        size_t len = n;
        if (len && in->data[len - 1] == '\r')
            len--;
        char *line = xmemdup(in->data, len + 1);
        line[len] = '\0';
        buf_consume(in, n + 1);
        pop3_session_touch(s);
        if (sasl_ex_waiting(&s->sx))
            pop3_sasl_line(s, line, len);
        else
            pop3_execute(s, line, len);
        explicit_bzero(line, len);
        free(line);
    }
}

/* ---- conn callbacks ---------------------------------------------------- */

static void on_input(struct conn *c, void *arg)
{
    (void)c;
    struct pop3_session *s = arg;
    if (!s || s->closed)
        return;
    pop3_session_enter(s);
    pop3_reader_input(s);
    pop3_session_leave(s);
}

static void on_drain(struct conn *c, void *arg)
{
    (void)c;
    struct pop3_session *s = arg;
    if (!s || s->closed)
        return;
    pop3_session_enter(s);
    pop3_session_touch(s);
    if (s->job.kind != JOB_NONE && !s->parked && pop3_job_run(s))
        pop3_session_kick(s);
    pop3_session_leave(s);
}

static void on_close(struct conn *c, void *arg)
{
    (void)c;
    struct pop3_session *s = arg;
    if (!s)
        return;
    s->closed = true;
    s->conn = NULL;
    if (s->busy == 0)
        session_free(s);
}

static const struct conn_callbacks callbacks = {on_input, on_drain, on_close};

void pop3_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, bool implicit_tls)
{
    /* RFC 3206 SYS/TEMP: try again later. */
    static const struct fe_accept how_plain = {
        .preauth = true,
        .refuse_full = "-ERR [SYS/TEMP] Too many connections\r\n",
        .refuse_host = "-ERR [SYS/TEMP] Too many unauthenticated connections from your address\r\n",
    };
    struct fe_accept how = how_plain;
    how.implicit_tls = implicit_tls;
    char addr[64];
    struct limits_preauth pa;
    if (!fe_accept_admit(&g_srv, fd, peer, peerlen, &how, addr, &pa))
        return;
    struct pop3_session *s = xcalloc(1, sizeof(*s));
    snprintf(s->peer, sizeof(s->peer), "%s", addr);
    s->pa = pa;
    s->connected_at = event_loop_now(g_srv.loop);
    s->lock_fd = -1;
    s->implicit_tls = implicit_tls;
    s->tls = implicit_tls;
    s->counted_conn = true;
    struct conn *c = fe_conn_new(&g_srv, fd, peer, peerlen, implicit_tls, &callbacks, s);
    s->conn = c;
    fe_link(&g_srv, &s->link, s);
    pop3_session_enter(s);
    pop3_session_touch(s);
    if (g_srv.notice) {
        /* Cyrus shutdown file: refuse instead of greeting (RFC 1939 4
         * allows -ERR as the greeting; RFC 3206 SYS/TEMP: try later). */
        char line[256];
        snprintf(line, sizeof(line), "-ERR [SYS/TEMP] %s", g_srv.notice);
        if (implicit_tls) {
            /* conn_close during the handshake would drop the line: close
             * once TLS is up. */
            pop3_printf(s, "%s\r\n", line);
            s->quitting = true;
            conn_pause_input(c);
            fe_close_after_handshake(&s->link);
        } else {
            pop3_session_close(s, line);
        }
        pop3_session_leave(s);
        return;
    }
    pop3_greeting(s);
    arm_timer(s);
    pop3_session_leave(s);
}

/* Close one session from the event loop with an -ERR line, dropping its
 * store handles at once (a partition move waits for them). Mid multi-line
 * response nothing sensible can follow: the connection is cut. Never
 * enters the UPDATE state, so nothing is deleted. */
static void close_with(struct pop3_session *s, const char *line)
{
    pop3_session_enter(s);
    if (s->job.kind != JOB_NONE) {
        s->quitting = true;
        conn_abort(s->conn);
    } else {
        pop3_session_close(s, line);
    }
    /* Not under a step on the pool, which may use the mailbox: its end
     * closes the maildrop (park_done). */
    if (s->deferred == DEF_NONE && !s->parked)
        pop3_maildrop_close(s);
    pop3_session_leave(s);
}

/* ---- server-wide events (fe_ops) ------------------------------------------ */

static struct conn *op_conn(void *session)
{
    struct pop3_session *s = session;
    return s->closed ? NULL : s->conn;
}

/* NOTIFY_KICK_USER: only this matters to POP3 (a session serves its
 * login snapshot). */
static void op_kick_user(void *session, const char *user)
{
    struct pop3_session *s = session;
    if (!s->closed && !s->quitting && s->conn && s->user && strcmp(s->user, user) == 0) {
        log_info("pop3: disconnecting (account moved or changed): user=%s addr=%s", s->user, s->peer);
        close_with(s, "-ERR [SYS/TEMP] Account is being moved or changed");
    }
}

static void op_evict(void *session)
{
    struct pop3_session *s = session;
    /* its login in progress (the password being checked, the maildrop
     * being opened): decided when that ends (pop3-session.c, auth_replied
     * and login_opened), as for IMAP */
    bool logging_in = s->state == POP3_AUTHORIZATION && (s->auth_wait || s->parked);
    if (logging_in || !limits_preauth_evicted(&s->pa))
        return;
    /* logged in meanwhile: stays (never evicted after login) */
    bool pre = s->state == POP3_AUTHORIZATION && !s->closed && s->conn;
    limits_preauth_end(&s->pa);
    if (pre && s->quitting) {
        /* already closing, but stuck flushing: needed now (as IMAP) */
        log_notice("pop3: closing unauthenticated connection evicted (server full): addr=%s", s->peer);
        conn_abort(s->conn);
    } else if (pre) {
        log_notice("pop3: unauthenticated connection evicted (server full): addr=%s", s->peer);
        close_with(s, "-ERR [SYS/TEMP] Server full, dropping the oldest unauthenticated connection");
    }
}

void pop3_evict_marked(void)
{
    fe_evict_marked(&g_srv);
}

/* The shutdown file: RFC 3206 SYS/TEMP, try again later. */
static void op_notice(void *session, const char *line)
{
    struct pop3_session *s = session;
    char err[256];
    snprintf(err, sizeof(err), "-ERR [SYS/TEMP] %s", line);
    if (!s->closed && !s->quitting && s->conn)
        close_with(s, err);
}

static void op_shutdown(void *session, const char *reason)
{
    struct pop3_session *s = session;
    if (s->closed || s->quitting || !s->conn)
        return;
    pop3_session_enter(s);
    if (s->job.kind != JOB_NONE) {
        /* mid multi-line response: nothing sensible can follow */
        s->quitting = true;
        conn_abort(s->conn);
    } else {
        char line[200];
        snprintf(line, sizeof(line), "-ERR [SYS/TEMP] %s", reason);
        pop3_session_close(s, line);
    }
    pop3_session_leave(s);
}

void pop3_shutdown(const char *reason)
{
    fe_shutdown(&g_srv, reason);
}

static const struct fe_ops pop3_ops = {
    .conn = op_conn,
    .shutdown = op_shutdown,
    .notice = op_notice,
    .kick_user = op_kick_user,
    .evict = op_evict,
};
