/* managesieve-session.c - dispatch and the commands that are not about
 * scripts: CAPABILITY (RFC 5804 2.4), STARTTLS (2.2), AUTHENTICATE (2.1),
 * UNAUTHENTICATE (2.14), LOGOUT (2.3), NOOP (2.13).
 *
 * The SASL exchange is the shared driver's (src/auth/sasl-exchange.h,
 * as for IMAP, POP3 and LMTP); this file says its steps in ManageSieve's
 * words and keeps the same rules as IMAP and POP3 (mechanisms, plaintext
 * policy, throttling): a failed
 * authentication is answered after the per-address delay (connlimits.h),
 * by a timer, never by blocking the loop; an address over its limit
 * waits before its credentials are even looked at; three failures on one
 * connection end it. Passwords (PLAIN, LOGIN) are checked by the
 * authentication service (auth-service.h) off the event loop while the
 * session waits parked.
 *
 * ManageSieve specifics (RFC 5804 2.1): the mechanism and the initial
 * response are strings; challenges are strings (base64); the client's
 * responses are strings, "*" aborts (answered NO). The server's last
 * SASL data (SCRAM's v=) is sent the second way 2.1 shows: as a
 * challenge the client answers with an empty string, then a bare OK -
 * not in OK (SASL "..."), which Cyrus's sieveshell (libisieve) cannot
 * parse.
 *
 * OK responses carry no text (RFC 5804 4: it is optional) unless a
 * response code needs them: libisieve accepts nothing after a plain OK.
 */
#include "managesieve-private.h"
#include "auth-service.h"
#include "access.h"
#include "config.h"
#include "log.h"
#include "sieve.h"
#include <ctype.h>

#define MAX_FAILURES_PER_CONN 3

static bool session_tls(const struct msv_session *s)
{
    return s->tls || (s->conn && conn_is_tls(s->conn));
}

/* IMAP's rule: PLAIN and LOGIN only over TLS unless allowplaintext; a
 * unix socket never leaves the host, so it counts as confidential. */
bool msv_plaintext_ok(const struct msv_session *s)
{
    return session_tls(s) || s->is_unix || config_bool(CFG_ALLOWPLAINTEXT);
}

static void sasl_params(struct msv_session *s, struct sasl_params *p)
{
    memset(p, 0, sizeof(*p));
    p->tls = session_tls(s) || s->is_unix;
    p->allow_plaintext = config_bool(CFG_ALLOWPLAINTEXT);
    if (session_tls(s) && s->conn && conn_tls_exporter(s->conn, p->cb_data))
        p->cb_len = 32;
}

/* ---- CAPABILITY (RFC 5804 1.7) ---------------------------------------------- */

static void cap_line(struct buf *b, const char *name, const char *value)
{
    msv_put_string(b, name, strlen(name));
    if (value) {
        buf_putc(b, ' ');
        msv_put_string(b, value, strlen(value));
    }
    buf_puts(b, "\r\n");
}

static void capabilities(struct msv_session *s, struct buf *b)
{
    const char *product = fe_server_product();
    /* IMPLEMENTATION is required; with serverinfo off it names nothing */
    cap_line(b, "IMPLEMENTATION", *product ? product : "ManageSieve");
    if (!s->user) {
        struct sasl_params p;
        sasl_params(s, &p);
        struct buf m = BUF_INIT;
        sasl_mechanisms(&p, &m);
        cap_line(b, "SASL", m.len ? m.data : "");
        buf_free(&m);
    } else {
        /* 1.7: after authentication SASL may be empty (no re-auth) */
        cap_line(b, "SASL", "");
    }
    cap_line(b, "SIEVE", sieve_extensions_string());
    if (!s->user && !session_tls(s) && msv_tls() && !s->is_unix)
        cap_line(b, "STARTTLS", NULL);
    if (sieve_extension_known("enotify"))
        cap_line(b, "NOTIFY", sieve_notify_methods_string());
    char n[32];
    snprintf(n, sizeof(n), "%lld", config_int(CFG_SIEVE_MAXREDIRECTS));
    cap_line(b, "MAXREDIRECTS", n);
    if (s->user)
        cap_line(b, "OWNER", s->user);
    cap_line(b, "VERSION", "1.0");
    cap_line(b, "UNAUTHENTICATE", NULL);
}

/* The capability lines and a bare "OK" (the text is optional, RFC 5804
 * 4): Cyrus's sieveshell (libisieve) expects the line end right after
 * the OK that ends a capability listing and fails ("EOL2") on a text. */
static void send_capabilities(struct msv_session *s)
{
    struct buf b = BUF_INIT;
    capabilities(s, &b);
    buf_puts(&b, "OK\r\n");
    msv_write(s, b.data, b.len);
    buf_free(&b);
}

void msv_greeting(struct msv_session *s)
{
    send_capabilities(s);
}

/* ---- authentication state ------------------------------------------------ */

void msv_auth_reset(struct msv_session *s)
{
    if (s->ir) {
        explicit_bzero(s->ir, s->ir_len);
        free(s->ir);
    }
    s->ir = NULL;
    s->ir_len = 0;
    s->have_ir = false;
    sasl_ex_reset(&s->sx);
    s->mech[0] = '\0';
}

static void run_deferred(struct msv_session *s, enum msv_deferred what);

static void defer_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct msv_session *s = arg;
    s->defer_timer = 0;
    enum msv_deferred what = s->deferred;
    s->deferred = MSV_DEF_NONE;
    /* closing (evicted, shut down, timed out) during the delay: no
     * password check or store open for a connection that is going */
    if (s->closed || s->quitting || !s->conn)
        return;
    msv_session_enter(s);
    run_deferred(s, what);
    if (!msv_session_blocked(s))
        msv_session_kick(s);
    msv_session_leave(s);
}

static void defer(struct msv_session *s, unsigned ms, enum msv_deferred what)
{
    if (ms == 0) {
        run_deferred(s, what);
        return;
    }
    s->deferred = what;
    s->defer_timer = ev_timer_add(msv_loop(), ms, defer_cb, s);
}

static void reply_failed(struct msv_session *s)
{
    msv_reply(s, "NO", NULL, "Authentication failed");
    if (s->auth_failures >= MAX_FAILURES_PER_CONN)
        msv_session_close(s, NULL, "Too many failed authentications");
}

static void log_failed(struct msv_session *s, const char *user, const char *mech, const char *why)
{
    char shown[80];
    snprintf(shown, sizeof(shown), "%s", user && *user ? user : "-");
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    log_notice("managesieve: login failed%s: user=%s addr=%s mech=%s", why, shown, s->peer, mech);
}

static void auth_failed(struct msv_session *s, const char *user, const char *mech)
{
    log_failed(s, user, mech, "");
    s->auth_failures++;
    msv_auth_reset(s);
    defer(s, limits_auth_failure(s->peer), MSV_DEF_FAIL_REPLY);
}

/* The passdb could not answer: not a failure, not delayed. */
static void auth_unavailable(struct msv_session *s, const char *user, const char *mech)
{
    log_failed(s, user, mech, " (temporary failure)");
    msv_auth_reset(s);
    msv_reply(s, "NO", "TRYLATER", "Authentication temporarily unavailable, try again later");
}

/* ---- login ---------------------------------------------------------------- */

/* Authenticated as user: the login slot, the store, the OK. The store is
 * provisioned on the pool (the first login creates it with its autocreate
 * folders, and every login reads the account journal: neither may run on
 * the loop); logins of one name queue on one key so they do not race to
 * create the same store. */
struct login_provision {
    char user[AUTH_MAX_USERNAME + 1];
    char mech[SASL_EX_MECH_MAX];
    int err;
};

static void provision_run(struct job *job, void *arg)
{
    (void)job;
    struct login_provision *p = arg;
    p->err = access_provision_user(p->user, NULL);
}

static void login_provisioned(struct msv_session *s, const char *u, const char *mech, int err);

static void provision_finish(struct msv_session *s, bool gone, void *arg)
{
    struct login_provision *p = arg;
    if (gone)
        limits_login_release(p->user, s->peer);
    else
        login_provisioned(s, p->user, p->mech, p->err);
    free(p);
}

static void login(struct msv_session *s, const char *user, const char *mech)
{
    char u[AUTH_MAX_USERNAME + 1];
    snprintf(u, sizeof(u), "%s", user);
    msv_auth_reset(s);
    limits_auth_success(s->peer);
    const char *which = NULL;
    if (!limits_login_acquire(u, s->peer, &which)) {
        log_notice("managesieve: login refused (too many logins per %s): user=%s addr=%s", which, u, s->peer);
        msv_reply(s, "NO", "TRYLATER",
                  which && strcmp(which, "host") == 0 ? "Too many logins from your address"
                                                       : "Too many logins for this user");
        return;
    }
    struct login_provision *p = xcalloc(1, sizeof(*p));
    snprintf(p->user, sizeof(p->user), "%s", u);
    snprintf(p->mech, sizeof(p->mech), "%s", mech);
    msv_park(s, "provision", access_provision_key(u), provision_run, provision_finish, p);
}

/* Step 2 (loop), after access_provision_user ran on the pool. */
static void login_provisioned(struct msv_session *s, const char *u, const char *mech, int err)
{
    struct mail_user *mu = NULL;
    if (err >= 0)
        err = mail_user_open(u, false, &mu);
    if (err < 0) {
        limits_login_release(u, s->peer);
        if (err == STORAGE_ERR_BUSY) {
            log_notice("managesieve: login deferred, store busy: user=%s", u);
            msv_reply(s, "NO", "TRYLATER", "Mail store is being moved, try again later");
        } else {
            log_err("managesieve: cannot open the store of %s: %s", u, storage_strerror(err));
            msv_reply(s, "NO", "TRYLATER", "Store unavailable");
        }
        return;
    }
    s->mu = mu;
    s->counted_user = true;
    free(s->user);
    s->user = xstrdup(u);
    limits_preauth_login(&s->pa);
    /* a PUTSCRIPT literal may now be as large as a script may be */
    s->rd.max_literal = (size_t)config_int(CFG_SIEVE_MAXSCRIPTSIZE) * 1024;
    log_info("managesieve: login: user=%s addr=%s mech=%s tls=%s", u, s->peer, mech,
             session_tls(s) ? "yes" : "no");
    msv_reply(s, "OK", NULL, NULL);
    msv_arm_timer(s);
}

/* ---- AUTHENTICATE (RFC 5804 2.1) ------------------------------------------ */

typedef void (*verified_fn)(struct msv_session *s, const struct auth_reply *rep);

struct auth_wait {
    struct msv_session *s;
    verified_fn finish;
};

static void auth_replied(const struct auth_reply *rep, void *ctx)
{
    struct auth_wait *w = ctx;
    struct msv_session *s = w->s;
    verified_fn finish = w->finish;
    free(w);
    s->auth_wait = false;
    if (!s->closed && s->conn && !s->quitting) {
        finish(s, rep);
        if (!msv_session_blocked(s))
            msv_session_kick(s);
        if (!s->user && limits_preauth_evicted(&s->pa))
            msv_evict_marked();
    }
    msv_session_leave(s);
}

static void verify_password(struct msv_session *s, const char *user, const char *password, verified_fn finish)
{
    struct auth_wait *w = xcalloc(1, sizeof(*w));
    w->s = s;
    w->finish = finish;
    struct auth_request rq = {"sieve", user, password, s->peer};
    struct auth_reply now;
    if (auth_verify(&rq, auth_replied, w, &now)) {
        free(w);
        finish(s, &now);
        return;
    }
    s->auth_wait = true;
    msv_session_enter(s);
    if (s->conn)
        conn_pause_input(s->conn);
}

/* A challenge is a string (2.1); always sent as a literal, as Cyrus's
 * timsieved does: Cyrus's sivtest recognises a challenge only by its
 * leading "{" and would wait forever on a quoted one. */
static void send_challenge(struct msv_session *s)
{
    struct buf enc = BUF_INIT, b = BUF_INIT;
    sasl_ex_data_b64(&s->sx, &enc);
    buf_printf(&b, "{%zu}\r\n", enc.len);
    buf_append(&b, enc.len ? enc.data : "", enc.len);
    buf_puts(&b, "\r\n");
    msv_write(s, b.data, b.len);
    buf_free(&enc);
    buf_free(&b);
}

static void sasl_verified(struct msv_session *s, const struct auth_reply *rep);

/* Say the exchange's next step (sasl-exchange.h) in ManageSieve's words. */
static void sasl_next(struct msv_session *s, enum sasl_ex_step step)
{
    char mech[SASL_EX_MECH_MAX];
    snprintf(mech, sizeof(mech), "%s", sasl_ex_mech(&s->sx));
    switch (step) {
    case SASL_EX_CHALLENGE:
        /* also SCRAM's final server data (final_with_success is off: see
         * the top), answered by an empty string */
        send_challenge(s);
        break;
    case SASL_EX_VERIFY: {
        /* PLAIN, LOGIN: the password goes to the authentication service */
        const char *cid, *pw;
        sasl_ex_credentials(&s->sx, &cid, &pw);
        verify_password(s, cid, pw, sasl_verified);
        sasl_ex_forget_password(&s->sx);
        break;
    }
    case SASL_EX_SUCCESS: {
        char *u = xstrdup(sasl_ex_user(&s->sx)); /* login() resets the exchange */
        login(s, u, mech);
        free(u);
        break;
    }
    case SASL_EX_FAILED: {
        char tried[AUTH_MAX_USERNAME + 1];
        snprintf(tried, sizeof(tried), "%s", sasl_ex_attempted(&s->sx));
        auth_failed(s, tried, mech);
        break;
    }
    case SASL_EX_TEMPFAIL: {
        char tried[AUTH_MAX_USERNAME + 1];
        snprintf(tried, sizeof(tried), "%s", sasl_ex_attempted(&s->sx));
        auth_unavailable(s, tried, mech);
        break;
    }
    case SASL_EX_CANCELLED:
        /* 2.1: the client aborts with "*"; the server answers NO */
        msv_auth_reset(s);
        msv_reply(s, "NO", NULL, "Authentication aborted");
        break;
    case SASL_EX_UNEXPECTED:
        msv_auth_reset(s);
        msv_reply(s, "NO", NULL, "Unexpected data after the final server message");
        break;
    case SASL_EX_BAD_BASE64:
        msv_auth_reset(s);
        msv_reply(s, "NO", NULL, "Invalid base64 data");
        break;
    case SASL_EX_PLAINTEXT:
        /* RFC 5804 1.3: ENCRYPT-NEEDED - use STARTTLS first */
        msv_auth_reset(s);
        msv_reply(s, "NO", "ENCRYPT-NEEDED", "Plaintext authentication disallowed without TLS (use STARTTLS)");
        break;
    case SASL_EX_NO_MECH:
        msv_auth_reset(s);
        msv_reply(s, "NO", NULL, "Unsupported authentication mechanism");
        break;
    }
}

static void sasl_verified(struct msv_session *s, const struct auth_reply *rep)
{
    if (!sasl_ex_verifying(&s->sx))
        return; /* the exchange was reset meanwhile */
    sasl_next(s, sasl_ex_verified(&s->sx, rep));
}

void msv_sasl_response(struct msv_session *s, struct msv_command *cmd)
{
    /* sasl-response = string; we also take an atom (clients that do not
     * quote base64) */
    if (cmd->nargs != 1 || memchr(cmd->args[0].data, '\0', cmd->args[0].len)) {
        msv_auth_reset(s);
        msv_reply(s, "NO", NULL, "Invalid SASL response");
        return;
    }
    sasl_next(s, sasl_ex_response(&s->sx, cmd->args[0].data, cmd->args[0].len));
}

static void auth_start(struct msv_session *s)
{
    struct sasl_params p;
    sasl_params(s, &p);
    const struct sasl_ex_options o = {.proto = "sieve", .peer = s->peer};
    char *ir = s->ir;
    size_t len = s->ir_len;
    bool have = s->have_ir;
    s->ir = NULL;
    s->ir_len = 0;
    s->have_ir = false;
    /* an empty string is an empty initial response: the driver's "=" */
    enum sasl_ex_step step =
        sasl_ex_start(&s->sx, s->mech, &p, &o, !have ? NULL : len ? ir : "=", !have ? 0 : len ? len : 1);
    if (ir) {
        /* a PLAIN initial response carries the password (RFC 4616) */
        explicit_bzero(ir, len);
        free(ir);
    }
    sasl_next(s, step);
}

static void run_deferred(struct msv_session *s, enum msv_deferred what)
{
    switch (what) {
    case MSV_DEF_AUTH_START:
        auth_start(s);
        break;
    case MSV_DEF_FAIL_REPLY:
        reply_failed(s);
        break;
    case MSV_DEF_NONE:
        break;
    }
}

static bool all_strings(const struct msv_command *cmd, size_t from)
{
    for (size_t i = from; i < cmd->nargs; i++)
        if (cmd->args[i].type != MSV_ARG_STRING)
            return false;
    return true;
}

static void cmd_authenticate(struct msv_session *s, struct msv_command *cmd)
{
    if (s->user) {
        msv_reply(s, "NO", NULL, "Already authenticated");
        return;
    }
    if (cmd->nargs < 2 || cmd->nargs > 3 || !all_strings(cmd, 1)) {
        msv_reply(s, "NO", NULL, "Usage: AUTHENTICATE \"mechanism\" [\"initial-response\"]");
        return;
    }
    const struct msv_arg *m = &cmd->args[1];
    if (m->len == 0 || m->len >= sizeof(s->mech) || memchr(m->data, '\0', m->len)) {
        msv_reply(s, "NO", NULL, "Unsupported authentication mechanism");
        return;
    }
    msv_auth_reset(s);
    snprintf(s->mech, sizeof(s->mech), "%s", m->data);
    for (char *p = s->mech; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (cmd->nargs == 3) {
        s->have_ir = true;
        s->ir_len = cmd->args[2].len;
        s->ir = xmemdup(cmd->args[2].data, cmd->args[2].len + 1);
    }
    defer(s, limits_auth_predelay(s->peer), MSV_DEF_AUTH_START);
}

/* ---- UNAUTHENTICATE (RFC 5804 2.14) ------------------------------------- */

static void cmd_unauthenticate(struct msv_session *s, struct msv_command *cmd)
{
    if (cmd->nargs != 1) {
        msv_reply(s, "NO", NULL, "Usage: UNAUTHENTICATE");
        return;
    }
    if (!s->user) {
        msv_reply(s, "NO", NULL, "Not authenticated");
        return;
    }
    log_info("managesieve: unauthenticate: user=%s addr=%s", s->user, s->peer);
    msv_store_close(s);
    if (s->counted_user)
        limits_login_release(s->user, s->peer);
    s->counted_user = false;
    free(s->user);
    s->user = NULL;
    s->rd.max_literal = MSV_PREAUTH_LITERAL;
    /* the pre-authentication time limit starts again (the connection is
     * not counted as pre-authentication again: it logged in once) */
    s->connected_at = event_loop_now(msv_loop());
    msv_arm_timer(s);
    msv_reply(s, "OK", NULL, NULL);
}

/* ---- STARTTLS (RFC 5804 2.2) -------------------------------------------- */

static void tls_caps_cb(struct event_loop *loop, void *arg)
{
    struct msv_session *s = arg;
    s->tls_caps_timer = 0;
    if (s->closed || !s->conn || s->quitting)
        return;
    msv_session_enter(s);
    if (conn_tls_desc(s->conn)[0]) {
        s->tls_caps_wait = false;
        send_capabilities(s);
        msv_session_kick(s);
    } else if (event_loop_now(loop) - s->tls_caps_since >= FE_TLS_CLOSE_MAX_MS) {
        log_info("managesieve: TLS handshake not completed: addr=%s", s->peer);
        s->quitting = true;
        conn_abort(s->conn);
    } else {
        s->tls_caps_timer = ev_timer_add(loop, FE_TLS_CLOSE_POLL_MS, tls_caps_cb, s);
    }
    msv_session_leave(s);
}

static void cmd_starttls(struct msv_session *s, struct msv_command *cmd)
{
    if (cmd->nargs != 1) {
        msv_reply(s, "NO", NULL, "Usage: STARTTLS");
        return;
    }
    if (s->user) {
        msv_reply(s, "NO", NULL, "STARTTLS is only allowed before authentication");
        return;
    }
    if (session_tls(s) || !msv_tls() || s->is_unix) {
        msv_reply(s, "NO", NULL, "STARTTLS not available");
        return;
    }
    msv_reply(s, "OK", NULL, NULL);
    if (conn_starttls(s->conn, msv_tls()) < 0) {
        log_warn("managesieve: STARTTLS failed for %s", s->peer);
        msv_session_close(s, NULL, NULL);
        return;
    }
    /* The conn discards plaintext sent after the command (no command
     * injection); forget a command the reader had begun as well. */
    s->tls = true;
    msv_reader_reset(&s->rd);
    msv_auth_reset(s);
    /* 2.2: after the TLS negotiation the server re-issues the capability
     * results followed by an OK - once the handshake is done, so that the
     * SASL list can offer the -PLUS mechanisms (their tls-exporter
     * channel binding exists only then). Polled as the front-end layer
     * polls an implicit-TLS close; a client that does not finish the
     * handshake in time is cut. */
    s->tls_caps_wait = true;
    s->tls_caps_since = event_loop_now(msv_loop());
    s->tls_caps_timer = ev_timer_add(msv_loop(), FE_TLS_CLOSE_POLL_MS, tls_caps_cb, s);
}

/* ---- dispatch ---------------------------------------------------------------- */

void msv_bad_command(struct msv_session *s)
{
    enum msv_read_error e = msv_reader_error(&s->rd);
    const char *name = msv_reader_error_command(&s->rd);
    if (sasl_ex_waiting(&s->sx)) {
        msv_auth_reset(s);
        msv_reply(s, "NO", NULL, "Invalid SASL response");
        return;
    }
    if (e == MSV_ERR_LITERAL && s->user && strcasecmp(name, "PUTSCRIPT") == 0) {
        msv_reply(s, "NO", "QUOTA/MAXSIZE", "Script is larger than sieve_maxscriptsize");
        return;
    }
    if (e == MSV_ERR_LITERAL && s->user && strcasecmp(name, "CHECKSCRIPT") == 0) {
        /* RFC 5804 2.12: CHECKSCRIPT checks no quota, so no QUOTA code */
        msv_reply(s, "NO", NULL, "Script is larger than sieve_maxscriptsize");
        return;
    }
    msv_reply(s, "NO", NULL, msv_read_error_text(e));
}

void msv_execute(struct msv_session *s, struct msv_command *cmd)
{
    if (cmd->nargs == 0 || cmd->args[0].type != MSV_ARG_ATOM) {
        msv_reply(s, "NO", NULL, "Invalid command");
        return;
    }
    char name[32];
    if (cmd->args[0].len >= sizeof(name)) {
        msv_reply(s, "NO", NULL, "Unknown command");
        return;
    }
    /* RFC 5804 4: command names are case-insensitive */
    for (size_t i = 0; i <= cmd->args[0].len; i++)
        name[i] = (char)toupper((unsigned char)cmd->args[0].data[i]);
    if (config_bool(CFG_DEBUG))
        log_debug("managesieve: %s: %s", s->user ? s->user : s->peer, name);
    if (strcmp(name, "CAPABILITY") == 0) {
        if (cmd->nargs != 1)
            msv_reply(s, "NO", NULL, "Usage: CAPABILITY");
        else
            send_capabilities(s);
        return;
    }
    if (strcmp(name, "LOGOUT") == 0) {
        if (cmd->nargs != 1) {
            msv_reply(s, "NO", NULL, "Usage: LOGOUT");
            return;
        }
        /* 2.3: OK, then the server closes */
        msv_reply(s, "OK", NULL, NULL);
        msv_session_close(s, NULL, NULL);
        return;
    }
    if (strcmp(name, "NOOP") == 0) {
        /* 2.13: NOOP [string]; the string comes back as (TAG string) */
        if (cmd->nargs > 2 || !all_strings(cmd, 1)) {
            msv_reply(s, "NO", NULL, "Usage: NOOP [tag]");
            return;
        }
        if (cmd->nargs == 2) {
            struct buf code = BUF_INIT;
            buf_puts(&code, "TAG ");
            msv_put_string(&code, cmd->args[1].data, cmd->args[1].len);
            msv_reply(s, "OK", code.data, NULL);
            buf_free(&code);
        } else {
            msv_reply(s, "OK", NULL, NULL);
        }
        return;
    }
    if (strcmp(name, "STARTTLS") == 0) {
        cmd_starttls(s, cmd);
        return;
    }
    if (strcmp(name, "AUTHENTICATE") == 0) {
        cmd_authenticate(s, cmd);
        return;
    }
    if (strcmp(name, "UNAUTHENTICATE") == 0) {
        cmd_unauthenticate(s, cmd);
        return;
    }
    if (!s->user) {
        static const char *const authed[] = {"HAVESPACE",    "PUTSCRIPT",    "LISTSCRIPTS", "SETACTIVE",
                                             "GETSCRIPT",    "DELETESCRIPT", "RENAMESCRIPT", "CHECKSCRIPT"};
        for (size_t i = 0; i < ARRAY_SIZE(authed); i++)
            if (strcmp(name, authed[i]) == 0) {
                msv_reply(s, "NO", NULL, "Authenticate first");
                return;
            }
        msv_reply(s, "NO", NULL, "Unknown command");
        return;
    }
    if (!msv_script_command(s, name, cmd))
        msv_reply(s, "NO", NULL, "Unknown command");
}
