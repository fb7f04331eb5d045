/* imap-cmd-auth.c - STARTTLS, LOGIN, AUTHENTICATE.
 *
 * Failed attempts are throttled per client address (limits.h): the
 * answer is delayed with a timer (CMD_DEFER), never by blocking the loop;
 * an address already over its limit waits before we even check
 * (limits_auth_predelay). Three failures on one connection end it.
 *
 * Anonymous access (allowanonymouslogin: yes): AUTHENTICATE ANONYMOUS
 * (RFC 4505) or LOGIN anonymous <trace>; the session gets no personal
 * store (imap_session_try_login).
 *
 * Passwords (LOGIN, AUTHENTICATE PLAIN and LOGIN) are checked by the
 * authentication service (auth-service.h), off the event loop: the
 * command parks (imap_cmd_park) until the answer arrives, every other
 * session of the worker is served meanwhile, and the answer is handled
 * exactly as a synchronous check was before (same replies, same log
 * lines, same failure delays - also when the answer came from the
 * credential cache).
 */
#include "imap.h"
#include "auth.h"
#include "auth-service.h"
#include "sasl-exchange.h"
#include "config.h"
#include "connlimits.h"
#include "log.h"
#include <strings.h>

#define MAX_FAILURES_PER_CONN 3

struct auth_state {
    char *user;             /* as given (LOGIN) */
    char *pass;             /* LOGIN password (wiped when freed) */
    char *mech;             /* AUTHENTICATE mechanism, uppercased */
    char *ir;               /* AUTHENTICATE initial response (base64 or "=") */
    bool has_ir;
    struct sasl_exchange sx; /* AUTHENTICATE (sasl-exchange.h) */
    enum cmd_result (*next)(struct imap_session *s, struct imap_cmd *cmd);
};

static void auth_state_free(void *p)
{
    struct auth_state *st = p;
    if (st->pass) {
        explicit_bzero(st->pass, strlen(st->pass));
        free(st->pass);
    }
    free(st->user);
    free(st->mech);
    if (st->ir) {
        /* a PLAIN initial response carries the password (RFC 4616) */
        explicit_bzero(st->ir, strlen(st->ir));
        free(st->ir);
    }
    sasl_ex_reset(&st->sx);
    free(st);
}

static struct auth_state *auth_state(struct imap_cmd *cmd)
{
    if (!cmd->state) {
        cmd->state = xcalloc(1, sizeof(struct auth_state));
        cmd->state_free = auth_state_free;
    }
    return cmd->state;
}

static bool session_tls(const struct imap_session *s)
{
    return s->tls || (s->conn && conn_is_tls(s->conn));
}

/* ---- deferred continuation (timer) --------------------------------------- */

static void apply_async_result(struct imap_session *s, enum cmd_result r)
{
    if (s->closed)
        return;
    switch (r) {
    case CMD_DONE:
        imap_cmd_finish(s);
        break;
    case CMD_WAIT:
        s->cmd_status = CMD_WAIT;
        if (s->conn) {
            conn_resume_input(s->conn);
            imap_session_kick(s);
        }
        break;
    case CMD_DEFER:
    case CMD_MORE:
        s->cmd_status = r;
        break;
    }
}

static void auth_timer_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct imap_session *s = arg;
    s->cmd_timer = 0;
    if (s->closed || !s->cmd)
        return;
    imap_session_enter(s);
    struct auth_state *st = auth_state(s->cmd);
    enum cmd_result (*next)(struct imap_session *, struct imap_cmd *) = st->next;
    st->next = NULL;
    enum cmd_result r = next ? next(s, s->cmd) : CMD_DONE;
    apply_async_result(s, r);
    imap_session_leave(s);
}

/* Run next after ms (0 = now, synchronously). */
static enum cmd_result after(struct imap_session *s, struct imap_cmd *cmd, unsigned ms,
                             enum cmd_result (*next)(struct imap_session *, struct imap_cmd *))
{
    if (ms == 0)
        return next(s, cmd);
    auth_state(cmd)->next = next;
    s->cmd_timer = ev_timer_add(imap_loop(), ms, auth_timer_cb, s);
    return CMD_DEFER;
}

/* ---- success / failure ------------------------------------------------------ */

static enum cmd_result reply_failed(struct imap_session *s, struct imap_cmd *cmd)
{
    imap_tagged(s, cmd, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
    if (s->auth_failures >= MAX_FAILURES_PER_CONN)
        imap_session_close(s, "Too many authentication failures");
    return CMD_DONE;
}

static enum cmd_result auth_failed(struct imap_session *s, struct imap_cmd *cmd, const char *user, const char *mech)
{
    log_notice("login failed: user=%s addr=%s mech=%s", user && *user ? user : "-", s->peer, mech);
    s->auth_failures++;
    unsigned delay = limits_auth_failure(s->peer);
    return after(s, cmd, delay, reply_failed);
}

/* The passdb could not answer (users.db unreadable): not the client's
 * fault, so no failure is counted and nothing is delayed (RFC 5530
 * UNAVAILABLE: try again later). */
static enum cmd_result auth_unavailable(struct imap_session *s, struct imap_cmd *cmd, const char *user,
                                        const char *mech)
{
    log_notice("login failed (temporary failure): user=%s addr=%s mech=%s", user && *user ? user : "-", s->peer,
               mech);
    imap_tagged(s, cmd, "NO", "[UNAVAILABLE] Authentication temporarily unavailable, try again later");
    return CMD_DONE;
}

static enum cmd_result logged_in(struct imap_session *s, struct imap_cmd *cmd, const char *why)
{
    if (why) {
        imap_tagged(s, cmd, "NO", "%s", why);
        return CMD_DONE;
    }
    struct buf b = BUF_INIT;
    imap_capabilities(s, &b);
    imap_tagged(s, cmd, "OK", "[CAPABILITY %s] Logged in", buf_cstr(&b));
    buf_free(&b);
    return CMD_DONE;
}

/* The account's store is provisioned on the pool: the first login creates
 * it with its autocreate folders (SQLite writes, fsyncs), and every login
 * reads the account journal (access_account_settle), neither of which may
 * run on the loop. Logins of one name queue on one key so they do not
 * race to create the same store. */
struct provision_wait {
    char user[AUTH_MAX_USERNAME + 1];
    char mech[32];
    char peer[64];
    int err;
};

static void provision_run(struct job *job, void *arg)
{
    (void)job;
    struct provision_wait *w = arg;
    w->err = access_provision_user(w->user, NULL);
}

static enum cmd_result provision_done(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct provision_wait *w = arg;
    if (!s) {
        limits_login_release(w->user, w->peer);   /* the client went away */
        free(w);
        return CMD_DONE;
    }
    const char *why = imap_session_login_end(s, w->user, w->mech, w->err);
    free(w);
    return logged_in(s, cmd, why);
}

static enum cmd_result auth_succeeded(struct imap_session *s, struct imap_cmd *cmd, const char *user,
                                      const char *mech)
{
    bool done;
    const char *why = imap_session_login_begin(s, user, mech, &done);
    if (why || done)
        return logged_in(s, cmd, why);
    if (mail_user_cached(user))   /* provisioned and open here: no store open, no job */
        return logged_in(s, cmd, imap_session_login_end(s, user, mech, access_provision_user(user, NULL)));
    struct provision_wait *w = xcalloc(1, sizeof(*w));
    snprintf(w->user, sizeof(w->user), "%s", user);
    snprintf(w->mech, sizeof(w->mech), "%s", mech);
    snprintf(w->peer, sizeof(w->peer), "%s", s->peer);
    return imap_cmd_job(s, cmd, "provision", access_provision_key(w->user), provision_run, provision_done, w);
}

/* ---- password checks (the authentication service) --------------------------- */

struct auth_wait {
    struct imap_session *s;
    struct imap_cmd *cmd;
    imap_job_finish_fn finish;
    struct auth_reply reply;
};

static void auth_replied(const struct auth_reply *reply, void *ctx)
{
    struct auth_wait *w = ctx;
    w->reply = *reply;
    imap_cmd_unpark(w->s, w->cmd, w->finish, w);
}

/* Have user/password checked; the command waits parked (CMD_DEFER) until
 * finish(s, cmd, w) gets the answer in w->reply (s NULL: the client went
 * away) and frees w. The caller wipes its copy of the password when this
 * returns. */
static enum cmd_result verify_password(struct imap_session *s, struct imap_cmd *cmd, const char *user,
                                       const char *password, imap_job_finish_fn finish)
{
    struct auth_wait *w = xcalloc(1, sizeof(*w));
    w->s = s;
    w->cmd = cmd;
    w->finish = finish;
    struct auth_request rq = {"imap", user, password, s->peer};
    if (auth_verify(&rq, auth_replied, w, &w->reply))
        return finish(s, cmd, w); /* no pool (unit tests): answered already */
    imap_cmd_park(s, cmd);
    return CMD_DEFER;
}

/* ---- STARTTLS ------------------------------------------------------------ */

IMAP_CMD(cmd_starttls)
{
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected arguments");
        return CMD_DONE;
    }
    if (session_tls(s) || !imap_tls()) {
        imap_tagged(s, cmd, "BAD", "STARTTLS not available");
        return CMD_DONE;
    }
    imap_tagged(s, cmd, "OK", "Begin TLS negotiation now");
    if (conn_starttls(s->conn, imap_tls()) < 0) {
        log_warn("imap: STARTTLS failed for %s", s->peer);
        imap_session_close(s, NULL);
        return CMD_DONE;
    }
    /* RFC 9051 6.2.1: anything pipelined after STARTTLS is discarded (the
     * conn drops its buffered input); the client must ask for the
     * capabilities again. */
    s->tls = true;
    imap_reader_reset(s);
    return CMD_DONE;
}

/* ---- LOGIN ---------------------------------------------------------------- */

static void shown_user(const char *user, char *shown, size_t len)
{
    snprintf(shown, len, "%s", user);
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
}

static enum cmd_result login_verified(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct auth_wait *w = arg;
    struct auth_reply rep = w->reply;
    free(w);
    if (!s)
        return CMD_DONE;
    struct auth_state *st = auth_state(cmd);
    if (rep.status == AUTH_STATUS_OK)
        return auth_succeeded(s, cmd, rep.user, "LOGIN");
    char shown[80];
    shown_user(st->user, shown, sizeof(shown));
    if (rep.status == AUTH_STATUS_TEMPFAIL)
        return auth_unavailable(s, cmd, shown, "LOGIN");
    return auth_failed(s, cmd, shown, "LOGIN");
}

static enum cmd_result login_check(struct imap_session *s, struct imap_cmd *cmd)
{
    struct auth_state *st = auth_state(cmd);
    enum cmd_result r = verify_password(s, cmd, st->user, st->pass, login_verified);
    explicit_bzero(st->pass, strlen(st->pass));
    return r;
}

IMAP_CMD(cmd_login)
{
    struct imap_parser *ps = &cmd->ps;
    char *user, *pass;
    if (!imap_p_sp(ps) || !(user = imap_p_astring_cstr(ps, cmd)) || !imap_p_sp(ps) ||
        !(pass = imap_p_astring_cstr(ps, cmd)) || !imap_p_end(ps)) {
        imap_tagged(s, cmd, "BAD", "Invalid LOGIN arguments");
        return CMD_DONE;
    }
    if (!session_tls(s) && !config_bool(CFG_ALLOWPLAINTEXT)) {
        /* RFC 9051 6.2.3 (LOGINDISABLED) and RFC 5530 PRIVACYREQUIRED */
        explicit_bzero(pass, strlen(pass));
        imap_tagged(s, cmd, "NO", "[PRIVACYREQUIRED] Plaintext authentication disallowed without TLS");
        return CMD_DONE;
    }
    if (strcasecmp(user, AUTH_ANONYMOUS_USER) == 0 && auth_anonymous_allowed()) {
        /* Cyrus: with allowanonymouslogin, LOGIN anonymous <anything> is
         * an anonymous login; the "password" is trace information (as in
         * RFC 4505), logged and never checked. */
        size_t tl = strlen(pass);
        auth_log_anonymous("imap", s->peer, pass, MIN(tl, (size_t)SASL_ANONYMOUS_MAX_TRACE));
        explicit_bzero(pass, tl);
        return auth_succeeded(s, cmd, AUTH_ANONYMOUS_USER, "ANONYMOUS");
    }
    if (strlen(pass) > AUTH_MAX_PASSWORD || strlen(user) > AUTH_MAX_USERNAME) {
        explicit_bzero(pass, strlen(pass));
        s->auth_failures++;
        return after(s, cmd, limits_auth_failure(s->peer), reply_failed);
    }
    struct auth_state *st = auth_state(cmd);
    st->user = xstrdup(user);
    st->pass = xstrdup(pass);
    explicit_bzero(pass, strlen(pass));
    return after(s, cmd, limits_auth_predelay(s->peer), login_check);
}

/* ---- AUTHENTICATE ----------------------------------------------------------- */

static enum cmd_result sasl_verified(struct imap_session *s, struct imap_cmd *cmd, void *arg);
static enum cmd_result auth_line(struct imap_session *s, struct imap_cmd *cmd, const char *line, size_t len);

/* Say the exchange's next step (sasl-exchange.h) in IMAP's words
 * (RFC 9051 6.2.2). */
static enum cmd_result sasl_next(struct imap_session *s, struct imap_cmd *cmd, enum sasl_ex_step step)
{
    struct auth_state *st = auth_state(cmd);
    cmd->on_line = NULL;
    switch (step) {
    case SASL_EX_CHALLENGE: {
        /* IMAP has no "additional data with success" either: final server
         * data is a challenge too, answered by an empty line */
        struct buf b = BUF_INIT;
        buf_puts(&b, "+ ");
        sasl_ex_data_b64(&st->sx, &b);
        buf_puts(&b, "\r\n");
        imap_write(s, b.data, b.len);
        buf_free(&b);
        cmd->on_line = auth_line;
        return CMD_WAIT;
    }
    case SASL_EX_VERIFY: {
        /* PLAIN, LOGIN: the password goes to the authentication service */
        const char *cid, *pw;
        sasl_ex_credentials(&st->sx, &cid, &pw);
        enum cmd_result res = verify_password(s, cmd, cid, pw, sasl_verified);
        sasl_ex_forget_password(&st->sx);
        return res;
    }
    case SASL_EX_SUCCESS: {
        char *u = xstrdup(sasl_ex_user(&st->sx));
        enum cmd_result res = auth_succeeded(s, cmd, u, sasl_ex_mech(&st->sx));
        free(u);
        return res;
    }
    case SASL_EX_FAILED:
        return auth_failed(s, cmd, sasl_ex_attempted(&st->sx), sasl_ex_mech(&st->sx));
    case SASL_EX_TEMPFAIL:
        return auth_unavailable(s, cmd, sasl_ex_attempted(&st->sx), sasl_ex_mech(&st->sx));
    case SASL_EX_CANCELLED:
        /* RFC 9051 6.2.2: a cancelled exchange is answered with BAD */
        imap_tagged(s, cmd, "BAD", "Authentication cancelled");
        return CMD_DONE;
    case SASL_EX_UNEXPECTED:
        imap_tagged(s, cmd, "BAD", "Unexpected data after final server message");
        return CMD_DONE;
    case SASL_EX_BAD_BASE64:
        imap_tagged(s, cmd, "BAD", "Invalid base64 data");
        return CMD_DONE;
    case SASL_EX_PLAINTEXT:
        /* RFC 5530 PRIVACYREQUIRED */
        imap_tagged(s, cmd, "NO", "[PRIVACYREQUIRED] Plaintext authentication disallowed without TLS");
        return CMD_DONE;
    case SASL_EX_NO_MECH:
        imap_tagged(s, cmd, "NO", "Unsupported authentication mechanism");
        return CMD_DONE;
    }
    return CMD_DONE;
}

static enum cmd_result auth_line(struct imap_session *s, struct imap_cmd *cmd, const char *line, size_t len)
{
    return sasl_next(s, cmd, sasl_ex_response(&auth_state(cmd)->sx, line, len));
}

static enum cmd_result sasl_verified(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct auth_wait *w = arg;
    struct auth_reply rep = w->reply;
    free(w);
    if (!s)
        return CMD_DONE;
    return sasl_next(s, cmd, sasl_ex_verified(&auth_state(cmd)->sx, &rep));
}

static enum cmd_result auth_start(struct imap_session *s, struct imap_cmd *cmd)
{
    struct auth_state *st = auth_state(cmd);
    struct sasl_params p;
    imap_sasl_params(s, &p);
    /* IMAP has anonymous sessions: ANONYMOUS is usable when the config
     * allows it (sasl.c checks allowanonymouslogin). */
    p.allow_anonymous = true;
    const struct sasl_ex_options o = {.proto = "imap", .peer = s->peer};
    /* RFC 4959: "=" is an empty initial response (the driver knows) */
    const char *ir = st->has_ir ? st->ir : NULL;
    return sasl_next(s, cmd, sasl_ex_start(&st->sx, st->mech, &p, &o, ir, ir ? strlen(ir) : 0));
}

IMAP_CMD(cmd_authenticate)
{
    struct imap_parser *ps = &cmd->ps;
    char *mech;
    if (!imap_p_sp(ps) || !(mech = imap_p_atom(ps, cmd))) {
        imap_tagged(s, cmd, "BAD", "Invalid AUTHENTICATE arguments");
        return CMD_DONE;
    }
    struct auth_state *st = auth_state(cmd);
    for (char *p = mech; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    st->mech = xstrdup(mech);
    if (imap_p_sp(ps)) {
        /* initial-resp = base64 / "=" ; base64 chars are atom chars plus '=' '+' '/' */
        const char *b = ps->p;
        while (ps->p < ps->end && *ps->p != ' ')
            ps->p++;
        if (ps->p == b) {
            imap_tagged(s, cmd, "BAD", "Invalid initial response");
            return CMD_DONE;
        }
        st->ir = xstrndup(b, (size_t)(ps->p - b));
        st->has_ir = true;
    }
    ps->error = NULL;
    if (!imap_p_end(ps)) {
        imap_tagged(s, cmd, "BAD", "Invalid AUTHENTICATE arguments");
        return CMD_DONE;
    }
    return after(s, cmd, limits_auth_predelay(s->peer), auth_start);
}

/* ---- UNAUTHENTICATE (RFC 8437) ------------------------------------------- */

/* Only BAD or OK (RFC 8437 3: a NO is not permitted, so that a client may
 * pipeline the next AUTHENTICATE); the state machine refuses it before
 * login. No SASL security layer is ever negotiated here, so nothing
 * beyond the reset ends after the OK. */
IMAP_CMD(cmd_unauthenticate)
{
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "UNAUTHENTICATE takes no arguments");
        return CMD_DONE;
    }
    /* RFC 8437 4.1 ends an active COMPRESS layer with the OK; the
     * connection layer cannot end one (conn.c), so UNAUTHENTICATE is not
     * offered once COMPRESS is on (imap_capabilities) and refused here:
     * the client logs out and connects again. */
    if (s->conn && conn_is_compressed(s->conn)) {
        imap_tagged(s, cmd, "BAD", "[COMPRESSIONACTIVE] UNAUTHENTICATE is not available with COMPRESS");
        return CMD_DONE;
    }
    imap_session_unauthenticate(s);
    imap_tagged(s, cmd, "OK", "Now in not authenticated state");
    return CMD_DONE;
}
