/* lmtp-server.c - accepting LMTP connections, the session list, the input
 * reader, idle timers and shutdown. One instance per worker process, on
 * the same event loop as IMAP and POP3.
 *
 * Input is consumed in three modes: command lines (bounded by
 * LMTP_MAX_LINE; an overlong line is answered 500 and skipped), DATA
 * (RFC 5321 4.5.2 dot-unstuffing as a byte-level state machine, so no
 * line is ever buffered whole) and BDAT (RFC 3030: exactly the announced
 * number of octets, no unstuffing). Commands are executed in order, which
 * is all PIPELINING (RFC 2920) needs; replies are coalesced by conn.
 *
 * Lifetime: as in POP3, on_close frees the session unless one of our own
 * callbacks is running (busy > 0), then the outermost leave() does. A
 * connection lost in the middle of DATA/BDAT drops the spool file, which
 * is an unlinked temporary file: nothing is stored.
 *
 * Pre-authentication (issue 9). LMTP clients are MTAs and do not log in
 * unless lmtp_auth_required, so "pre-auth" is the phase before a client
 * has shown it is doing its job: over TCP, a session is pre-auth until a
 * successful AUTH or, when lmtp_auth_required is off, until its first
 * accepted MAIL FROM (once over, it stays over: an MTA's cached
 * connection idling between transactions is a working session, bounded
 * by lmtp_timeout). While pre-auth it has a deadline of preauth_timeout
 * from connect (421 4.4.2), counts against
 * maxconnections_per_host_preauth and can be evicted when the server is
 * full, exactly like an IMAP or POP3 connection before login. Sessions on
 * the unix socket are never pre-auth: only local processes allowed by
 * the socket directory's permissions (the MTA) reach it, so they are not
 * counted per host ("local" would lump every MTA process together) nor
 * evicted nor cut at the deadline - a flood of TCP connections cannot
 * starve the local MTA, whose new connections evict the oldest pre-auth
 * ones like any other. They do count in maxconnections.
 */
#include "lmtp-private.h"
#include "auth-service.h"
#include "config.h"
#include "connlimits.h"
#include "log.h"
#include <stdarg.h>
#include <unistd.h>

static const struct fe_ops lmtp_ops;
static struct fe_server g_srv = {.name = "lmtp", .ops = &lmtp_ops};

void lmtp_init(struct event_loop *loop)
{
    fe_server_init(&g_srv, loop);
}

struct tls_ctx *lmtp_tls(void)
{
    return g_srv.tls;
}

void lmtp_set_tls(struct tls_ctx *tls)
{
    fe_server_set_tls(&g_srv, tls);
}

size_t lmtp_session_count(void)
{
    return g_srv.count;
}

void lmtp_printf(struct lmtp_session *s, const char *fmt, ...)
{
    if (s->closed || !s->conn)
        return;
    va_list ap;
    va_start(ap, fmt);
    fe_vprintf(s->conn, fmt, ap);
    va_end(ap);
}

/* ---- lifetime ---------------------------------------------------------- */

/* ---- stores kept between transactions (lmtp-private.h) -------------------- */

static void keep_release(struct lmtp_session *s)
{
    for (size_t i = 0; i < s->nkeep; i++)
        mail_user_close(s->keep[i]);
    s->nkeep = 0;
}

static void keep_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct lmtp_session *s = arg;
    s->keep_timer = 0;
    keep_release(s);
}

void lmtp_session_keep_stores(struct lmtp_session *s, struct mail_user **u, size_t n)
{
    /* the new ones first: a store in both never reaches its last close */
    struct mail_user *old[LMTP_KEEP_MAX];
    size_t nold = s->nkeep;
    memcpy(old, s->keep, nold * sizeof(*old));
    s->nkeep = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < s->nkeep && !dup; k++)
            dup = s->keep[k] == u[i];
        if (dup || s->nkeep >= LMTP_KEEP_MAX || s->closed || !g_srv.loop)
            mail_user_close(u[i]);
        else
            s->keep[s->nkeep++] = u[i];
    }
    for (size_t i = 0; i < nold; i++)
        mail_user_close(old[i]);
    if (s->keep_timer)
        ev_timer_cancel(g_srv.loop, s->keep_timer);
    s->keep_timer = s->nkeep ? ev_timer_add(g_srv.loop, LMTP_KEEP_MS, keep_cb, s) : 0;
}

static void session_free(struct lmtp_session *s)
{
    if (s->timeout_timer)
        ev_timer_cancel(g_srv.loop, s->timeout_timer);
    if (s->auth_timer)
        ev_timer_cancel(g_srv.loop, s->auth_timer);
    if (s->auth_parked) {
        explicit_bzero(s->auth_parked, strlen(s->auth_parked));
        free(s->auth_parked);
    }
    if (s->spool)
        log_info("lmtp: connection lost during message transfer: addr=%s (nothing stored)", s->peer);
    lmtp_txn_reset(s);
    if (s->keep_timer)
        ev_timer_cancel(g_srv.loop, s->keep_timer);
    s->keep_timer = 0;
    keep_release(s);
    lmtp_auth_reset(s);
    limits_preauth_end(&s->pa);
    if (s->counted_conn)
        limits_conn_release(s->peer);
    fe_unlink(&s->link);
    free(s->close_after_dlv);
    free(s->helo);
    free(s->authuser);
    free(s);
}

static void enter(struct lmtp_session *s)
{
    s->busy++;
}

static void leave(struct lmtp_session *s)
{
    if (--s->busy == 0 && s->closed)
        session_free(s);
}

void lmtp_session_enter(struct lmtp_session *s)
{
    enter(s);
}

void lmtp_session_leave(struct lmtp_session *s)
{
    leave(s);
}

void lmtp_session_close(struct lmtp_session *s, const char *line)
{
    if (s->closed || !s->conn || s->quitting)
        return;
    if (line)
        lmtp_printf(s, "%s\r\n", line);
    s->quitting = true;
    conn_pause_input(s->conn);
    conn_close(s->conn);
}

/* ---- timers ------------------------------------------------------------ */

static void timeout_cb(struct event_loop *loop, void *arg);

static uint64_t preauth_deadline(const struct lmtp_session *s)
{
    return s->connected_at + (uint64_t)config_int(CFG_PREAUTH_TIMEOUT) * 1000;
}

static void arm_timer(struct lmtp_session *s)
{
    uint64_t now = event_loop_now(g_srv.loop);
    uint64_t limit = (uint64_t)config_int(CFG_LMTP_TIMEOUT) * 1000;
    uint64_t since = now > s->last_activity ? now - s->last_activity : 0;
    uint64_t ms = since >= limit ? 1 : limit - since;
    if (s->preauth) {
        /* the earlier of the idle timeout and the pre-auth deadline */
        uint64_t d = preauth_deadline(s);
        ms = MIN(ms, d > now ? d - now : 1);
    }
    if (s->timeout_timer)
        ev_timer_cancel(g_srv.loop, s->timeout_timer);
    s->timeout_timer = ev_timer_add(g_srv.loop, ms, timeout_cb, s);
}

static void timeout_cb(struct event_loop *loop, void *arg)
{
    struct lmtp_session *s = arg;
    s->timeout_timer = 0;
    if (s->closed || s->quitting)
        return;
    enter(s);
    uint64_t limit = (uint64_t)config_int(CFG_LMTP_TIMEOUT) * 1000;
    if (s->dlv || s->spool_wait) {
        /* our own work is running (a delivery's commits, spool writes):
         * the client waits for us, it is not idle */
        s->last_activity = event_loop_now(loop);
        arm_timer(s);
    } else if (s->preauth && event_loop_now(loop) >= preauth_deadline(s)) {
        /* From connect, not from the last byte: a trickling client or a
         * TLS handshake that never completes goes too (RFC 5321 4.5.3.2
         * lets the server close after its timeout; 421). */
        log_info("lmtp: pre-authentication time limit reached: addr=%s", s->peer);
        lmtp_session_close(s, "421 4.4.2 Pre-authentication time limit reached, closing connection");
    } else if (!s->auth_timer && !s->auth_wait && event_loop_now(loop) >= s->last_activity + limit) {
        /* (a failed AUTH's delay, or its password check, is our doing, not
         * the client's idleness) */
        log_info("lmtp: timeout: addr=%s", s->peer);
        /* RFC 5321 4.5.3.2: the server may close after its timeout; 421. */
        lmtp_session_close(s, "421 4.4.2 Idle timeout, closing connection");
    } else {
        arm_timer(s);
    }
    leave(s);
}

/* The pre-auth phase ends with a successful AUTH or, when
 * lmtp_auth_required is off, the first accepted MAIL (see the top). */
static void preauth_check(struct lmtp_session *s)
{
    if (!s->preauth)
        return;
    bool auth_required = !s->is_unix && config_bool(CFG_LMTP_AUTH_REQUIRED);
    if (s->authuser || (!auth_required && s->have_mail)) {
        s->preauth = false;
        limits_preauth_login(&s->pa);
        if (!s->closed && !s->quitting)
            arm_timer(s);
    }
}

/* ---- input ------------------------------------------------------------- */

/* An over-long line. In an AUTH exchange it fails the AUTH command (RFC
 * 4954 4: 500 with 5.5.6) and the exchange is over: the next line is a
 * new command, never a SASL response. */
static void line_too_long(struct lmtp_session *s)
{
    if (sasl_ex_waiting(&s->sx)) {
        lmtp_auth_reset(s);
        lmtp_printf(s, "500 5.5.6 Authentication Exchange line is too long\r\n");
    } else {
        lmtp_printf(s, "500 5.5.2 Line too long\r\n");
    }
}

/* Spooled message data counts against spool_max_total like IMAP APPEND
 * literals (issue 9 item 3: every client-fed spool in DATADIR/tmp is
 * bounded in total; an LMTP client may hold up to maxmessagesize per
 * connection, on as many connections as it likes once past MAIL). It is
 * reserved in steps as it arrives (the size is not known before the end)
 * and given back when the transaction ends; a transaction that cannot
 * get more is discarded and answered 452 4.3.1 (lmtp-cmd.c). */
#define SPOOL_RESV_STEP (256 * 1024)

static void spool_feed(struct lmtp_session *s, const char *p, size_t n)
{
    if (!s->spool || !n || s->spool_full)
        return;
    uint64_t need = dspool_size(s->spool) + n;
    /* past maxmessagesize dspool stores nothing more (552): a
     * transaction never needs more than that */
    uint64_t cap = (uint64_t)config_int(CFG_MAXMESSAGESIZE) + SPOOL_RESV_STEP;
    if (need > s->spool_resv.bytes && s->spool_resv.bytes < cap) {
        uint64_t want = MAX(need - s->spool_resv.bytes, (uint64_t)SPOOL_RESV_STEP);
        if (want > cap - s->spool_resv.bytes)
            want = cap - s->spool_resv.bytes;
        if (spool_reserve(&s->spool_resv, NULL, want) != SPOOL_OK) {
            log_notice("lmtp: message refused: spool_max_total reached: addr=%s", s->peer);
            s->spool_full = true;
            return;
        }
    }
    dspool_write(s->spool, p, n);
}

/* Consume DATA input; true when the terminating "." line was seen. */
static bool data_input(struct lmtp_session *s, struct buf *in)
{
    const char *p = in->data;
    size_t n = in->len, i = 0;
    while (i < n) {
        switch (s->dot) {
        case D_BOL:
            if (p[i] == '.') {
                s->dot = D_DOT;
                i++;
            } else {
                s->dot = D_MID;
            }
            break;
        case D_DOT:
            if (p[i] == '\r') {
                s->dot = D_DOTCR;
                i++;
            } else if (p[i] == '\n') {
                /* ".\n": a bare-LF terminator, accepted. */
                buf_consume(in, i + 1);
                return true;
            } else {
                s->dot = D_MID; /* the leading dot is removed (4.5.2) */
            }
            break;
        case D_DOTCR:
            if (p[i] == '\n') {
                buf_consume(in, i + 1);
                return true;
            }
            spool_feed(s, "\r", 1);
            s->dot = D_MID;
            break;
        case D_MID: {
            const char *nl = memchr(p + i, '\n', n - i);
            size_t e = nl ? (size_t)(nl - p) + 1 : n;
            spool_feed(s, p + i, e - i);
            i = e;
            if (nl)
                s->dot = D_BOL;
            break;
        }
        }
    }
    buf_consume(in, n);
    return false;
}

static void reader_loop(struct lmtp_session *s)
{
    while (!s->closed && s->conn && !s->quitting) {
        if (s->dlv || s->spool_wait) {
            /* parked: a delivery is committing, or spool writes must
             * catch up (lmtp-cmd.c); the job's done callback resumes */
            conn_pause_input(s->conn);
            return;
        }
        if (s->auth_timer || s->auth_wait) {
            /* a failed AUTH is answered first, a password is checked
             * first; pipelined input waits */
            conn_pause_input(s->conn);
            return;
        }
        if (conn_output_full(s->conn)) {
            /* The client pipelines faster than it reads replies. */
            conn_pause_input(s->conn);
            conn_want_drain(s->conn);
            return;
        }
        struct buf *in = conn_input(s->conn);
        if (!in->len)
            return;
        s->last_activity = event_loop_now(g_srv.loop);
        if (s->in == IN_DATA) {
            if (data_input(s, in))
                lmtp_data_done(s);
            continue;
        }
        if (s->in == IN_BDAT) {
            size_t n = (size_t)MIN((uint64_t)in->len, s->bdat_left);
            if (!s->bdat_err)
                spool_feed(s, in->data, n);
            buf_consume(in, n);
            s->bdat_left -= n;
            if (s->bdat_left == 0)
                lmtp_bdat_done(s);
            continue;
        }
        size_t limit = sasl_ex_waiting(&s->sx) ? LMTP_MAX_SASL_LINE : LMTP_MAX_LINE;
        char *nl = memchr(in->data, '\n', in->len);
        if (!nl) {
            if (in->len > limit) {
                if (!s->discarding)
                    line_too_long(s);
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
            line_too_long(s);
            continue;
        }
        size_t len = n;
        if (len && in->data[len - 1] == '\r')
            len--;
        char *line = xmemdup(in->data, len + 1);
        line[len] = '\0';
        buf_consume(in, n + 1);
        if (sasl_ex_waiting(&s->sx))
            lmtp_sasl_line(s, line, len);
        else
            lmtp_execute(s, line, len);
        explicit_bzero(line, len);
        free(line);
        preauth_check(s);
    }
}

static void reader(struct lmtp_session *s)
{
    bool outer = !s->reading;
    s->reading = true;
    reader_loop(s);
    if (outer)
        s->reading = false;
}

void lmtp_session_unpark(struct lmtp_session *s)
{
    if (s->closed || !s->conn || s->quitting || s->dlv || s->spool_wait)
        return;
    if (s->close_after_dlv) {
        /* the server is shutting down (close_all): the replies are out */
        char *line = s->close_after_dlv;
        s->close_after_dlv = NULL;
        lmtp_session_close(s, line);
        free(line);
        return;
    }
    conn_resume_input(s->conn);
    s->last_activity = event_loop_now(g_srv.loop);
    arm_timer(s);
    if (!s->reading)
        reader(s);
}

/* ---- failed AUTH ------------------------------------------------------ */

#define LMTP_MAX_AUTH_FAILURES 3

static void auth_reply(struct lmtp_session *s)
{
    lmtp_printf(s, "535 5.7.8 Authentication credentials invalid\r\n");
    if (s->auth_failures >= LMTP_MAX_AUTH_FAILURES) {
        log_notice("lmtp: too many authentication failures: addr=%s", s->peer);
        lmtp_session_close(s, "421 4.7.0 Too many authentication failures, closing connection");
    }
}

static void auth_reply_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct lmtp_session *s = arg;
    s->auth_timer = 0;
    if (s->closed || s->quitting || !s->conn)
        return;
    enter(s);
    auth_reply(s);
    if (!s->closed && !s->quitting && s->conn) {
        conn_resume_input(s->conn);
        reader(s);
    }
    leave(s);
}

void lmtp_auth_failed(struct lmtp_session *s)
{
    s->auth_failures++;
    /* Serialised per address with IMAP and POP3 failures (connlimits.h):
     * a flood of parallel AUTHs is answered one per delay step. */
    unsigned ms = limits_auth_failure(s->peer);
    if (ms == 0 || !s->conn) {
        auth_reply(s);
        return;
    }
    conn_pause_input(s->conn);
    s->auth_timer = ev_timer_add(g_srv.loop, ms, auth_reply_cb, s);
}

static void auth_parked_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct lmtp_session *s = arg;
    s->auth_timer = 0;
    char *a = s->auth_parked;
    s->auth_parked = NULL;
    enter(s);
    if (a && !s->closed && !s->quitting && s->conn) {
        lmtp_auth_begin(s, a);
        preauth_check(s);
        if (!s->closed && !s->quitting && s->conn && !s->auth_timer) {
            conn_resume_input(s->conn);
            reader(s);
        }
    }
    if (a) {
        explicit_bzero(a, strlen(a));
        free(a);
    }
    leave(s);
}

void lmtp_auth_park(struct lmtp_session *s, unsigned ms, const char *arg)
{
    if (s->auth_parked) {
        explicit_bzero(s->auth_parked, strlen(s->auth_parked));
        free(s->auth_parked);
    }
    s->auth_parked = xstrdup(arg);
    if (s->conn)
        conn_pause_input(s->conn);
    s->auth_timer = ev_timer_add(g_srv.loop, ms, auth_parked_cb, s);
}

/* ---- password checks (the authentication service) ---------------------- */

struct auth_wait {
    struct lmtp_session *s;
    lmtp_verified_fn finish;
};

static void auth_replied(const struct auth_reply *rep, void *ctx)
{
    struct auth_wait *w = ctx;
    struct lmtp_session *s = w->s;
    lmtp_verified_fn finish = w->finish;
    free(w);
    s->auth_wait = false;
    if (!s->closed && !s->quitting && s->conn) {
        finish(s, rep);
        preauth_check(s);
        /* chosen for eviction while its AUTH was checked, and still
         * unauthenticated: it goes now (lmtp_evict_marked left it) */
        if (s->preauth && limits_preauth_evicted(&s->pa))
            lmtp_evict_marked();
        if (!s->closed && !s->quitting && s->conn && !s->auth_timer && !s->auth_wait) {
            conn_resume_input(s->conn);
            reader(s);
        }
    }
    leave(s);
}

void lmtp_verify_password(struct lmtp_session *s, const char *user, const char *password, lmtp_verified_fn finish)
{
    struct auth_wait *w = xcalloc(1, sizeof(*w));
    w->s = s;
    w->finish = finish;
    struct auth_request rq = {"lmtp", user, password, s->peer};
    struct auth_reply now;
    if (auth_verify(&rq, auth_replied, w, &now)) {
        free(w);
        finish(s, &now);
        return;
    }
    s->auth_wait = true;
    enter(s);
    if (s->conn)
        conn_pause_input(s->conn);
}

/* ---- conn callbacks ---------------------------------------------------- */

static void on_input(struct conn *c, void *arg)
{
    (void)c;
    struct lmtp_session *s = arg;
    if (!s || s->closed)
        return;
    enter(s);
    reader(s);
    leave(s);
}

static void on_drain(struct conn *c, void *arg)
{
    (void)c;
    struct lmtp_session *s = arg;
    if (!s || s->closed || s->quitting)
        return;
    enter(s);
    conn_resume_input(s->conn);
    reader(s);
    leave(s);
}

static void on_close(struct conn *c, void *arg)
{
    (void)c;
    struct lmtp_session *s = arg;
    if (!s)
        return;
    s->closed = true;
    s->conn = NULL;
    if (s->busy == 0)
        session_free(s);
}

static const struct conn_callbacks callbacks = {on_input, on_drain, on_close};

void lmtp_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, bool is_unix)
{
    /* TCP connections are pre-auth (capped per address, evictable when
     * the server is full); unix-socket ones are not (see the top). */
    struct fe_accept how = {
        .preauth = !is_unix,
        .addr = is_unix ? "local" : NULL,
        .refuse_full = "421 4.3.2 Too many connections, try again later\r\n",
        .refuse_host = "421 4.3.2 Too many unauthenticated connections from your address, try again later\r\n",
    };
    char addr[64];
    struct limits_preauth pa;
    if (!fe_accept_admit(&g_srv, fd, peer, peerlen, &how, addr, &pa))
        return;
    struct lmtp_session *s = xcalloc(1, sizeof(*s));
    snprintf(s->peer, sizeof(s->peer), "%s", addr);
    s->is_unix = is_unix;
    s->preauth = !is_unix;
    s->pa = pa;
    s->connected_at = event_loop_now(g_srv.loop);
    s->counted_conn = true;
    s->in = IN_CMD;
    s->conn = fe_conn_new(&g_srv, fd, peer, peerlen, false, &callbacks, s);
    fe_link(&g_srv, &s->link, s);
    enter(s);
    s->last_activity = event_loop_now(g_srv.loop);
    if (g_srv.notice) {
        /* Cyrus shutdown file: RFC 5321 3.1 allows 421 as the greeting;
         * the MTA keeps the mail queued and retries. */
        char line[256];
        snprintf(line, sizeof(line), "421 4.3.2 %s", g_srv.notice);
        lmtp_session_close(s, line);
        leave(s);
        return;
    }
    lmtp_greeting(s);
    arm_timer(s);
    leave(s);
}

/* ---- server-wide events (fe_ops) ------------------------------------------ */

static struct conn *op_conn(void *session)
{
    struct lmtp_session *s = session;
    return s->closed ? NULL : s->conn;
}

/* 421 and close (SIGTERM, shutdown file). */
static void op_close(void *session, const char *reason)
{
    struct lmtp_session *s = session;
    if (s->closed || s->quitting || !s->conn)
        return;
    enter(s);
    char line[256];
    snprintf(line, sizeof(line), "421 4.3.2 %s", reason);
    if (s->dlv) {
        /* Delivering: the recipients' replies first (their commits run
         * within the shutdown grace period), then the 421
         * (lmtp_session_unpark). */
        free(s->close_after_dlv);
        s->close_after_dlv = xstrdup(line);
    } else if (s->in != IN_CMD) {
        /* Mid-message: the client will retry the whole transaction; the
         * spool is discarded with the session. */
        s->quitting = true;
        conn_abort(s->conn);
    } else {
        lmtp_session_close(s, line);
    }
    leave(s);
}

static void op_evict(void *session)
{
    struct lmtp_session *s = session;
    /* its AUTH being checked: decided when the answer comes
     * (auth_replied), as for IMAP */
    if (s->auth_wait || !limits_preauth_evicted(&s->pa))
        return;
    /* past its pre-auth phase meanwhile: stays */
    bool pre = s->preauth && !s->closed && s->conn;
    limits_preauth_end(&s->pa);
    if (pre && s->quitting) {
        /* already closing, but stuck flushing: needed now (as IMAP) */
        log_notice("lmtp: closing unauthenticated connection evicted (server full): addr=%s", s->peer);
        conn_abort(s->conn);
    } else if (pre) {
        log_notice("lmtp: unauthenticated connection evicted (server full): addr=%s", s->peer);
        enter(s);
        lmtp_session_close(s, "421 4.3.2 Server full, dropping the oldest unauthenticated connection");
        leave(s);
    }
}

void lmtp_evict_marked(void)
{
    fe_evict_marked(&g_srv);
}

void lmtp_shutdown(const char *reason)
{
    fe_shutdown(&g_srv, reason);
}

/* No user kicks, as before the front-end layer: an LMTP session holds a
 * store only for a delivery in progress or for LMTP_KEEP_MS after it
 * (lmtp_session_keep_stores). */
static const struct fe_ops lmtp_ops = {
    .conn = op_conn,
    .shutdown = op_close,
    .notice = op_close,
    .evict = op_evict,
};
