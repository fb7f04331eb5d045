/* pop3-session.c - command dispatch and the AUTHORIZATION state:
 * CAPA (RFC 2449), USER/PASS/APOP (RFC 1939), AUTH (RFC 5034), STLS
 * (RFC 2595), UTF8 (RFC 6856), QUIT.
 *
 * Failed authentications are throttled per client address with the same
 * shared counters as IMAP (connlimits.h): the -ERR is delayed with a
 * timer, never by blocking the loop, and an address already over its
 * limit waits before its credentials are even checked. Three failures on
 * one connection end it.
 *
 * Passwords (PASS, AUTH PLAIN and LOGIN) are checked by the
 * authentication service (auth-service.h) off the event loop: the
 * session waits parked (auth_wait: no input read, kept alive) and the
 * answer is handled as a synchronous check was before.
 *
 * APOP: RFC 1939 7 needs a plaintext-equivalent shared secret. Darius
 * stores only password hashes and SCRAM keys, so APOP can never succeed:
 * the greeting carries no timestamp (which is how a client learns that
 * APOP is offered) and APOP always answers -ERR, whatever allowapop says.
 */
#include "pop3-private.h"
#include "auth-service.h"
#include "config.h"
#include "connlimits.h"
#include "log.h"
#include <ctype.h>

#define MAX_FAILURES_PER_CONN 3

static bool session_tls(const struct pop3_session *s)
{
    return s->tls || (s->conn && conn_is_tls(s->conn));
}

static bool plaintext_ok(const struct pop3_session *s)
{
    return session_tls(s) || config_bool(CFG_ALLOWPLAINTEXT);
}

static void sasl_params(struct pop3_session *s, struct sasl_params *p)
{
    memset(p, 0, sizeof(*p));
    p->tls = session_tls(s);
    p->allow_plaintext = config_bool(CFG_ALLOWPLAINTEXT);
    if (p->tls && s->conn && conn_tls_exporter(s->conn, p->cb_data))
        p->cb_len = 32;
}

void pop3_greeting(struct pop3_session *s)
{
    const char *product = fe_server_product();
    pop3_printf(s, "+OK %s%sPOP3 server ready\r\n", product, *product ? " " : "");
}

/* RFC 2449 5, 6; RFC 3206 (AUTH-RESP-CODE); RFC 6856 (UTF8). */
void pop3_capa(struct pop3_session *s, struct buf *out)
{
    buf_puts(out, "TOP\r\n");
    if (s->state == POP3_AUTHORIZATION) {
        if (plaintext_ok(s))
            buf_puts(out, "USER\r\n");
        struct sasl_params p;
        sasl_params(s, &p);
        struct buf m = BUF_INIT;
        sasl_mechanisms(&p, &m);
        if (m.len)
            buf_printf(out, "SASL %s\r\n", m.data);
        buf_free(&m);
    }
    buf_puts(out, "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\n");
    long long exp = config_int(CFG_POPEXPIRETIME);
    if (exp < 0)
        buf_puts(out, "EXPIRE NEVER\r\n");
    else
        buf_printf(out, "EXPIRE %lld\r\n", exp);
    buf_printf(out, "LOGIN-DELAY %lld\r\n", config_int(CFG_POPMINPOLL) * 60);
    if (s->state == POP3_AUTHORIZATION && !session_tls(s) && pop3_tls())
        buf_puts(out, "STLS\r\n");
    buf_puts(out, "UTF8\r\n");
    const char *info = config_str(CFG_SERVERINFO);
    if (strcmp(info, "off") != 0)
        buf_printf(out, "IMPLEMENTATION %s\r\n", fe_server_product());
}

/* ---- authentication state ------------------------------------------------ */

static void wipe_free(char **p)
{
    if (*p) {
        explicit_bzero(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

/* Forget every piece of a login in progress - also the name from USER,
 * which session_free relies on (a USER followed by a disconnect used to
 * leak it). */
void pop3_auth_reset(struct pop3_session *s)
{
    wipe_free(&s->pending_user);
    wipe_free(&s->pass);
    wipe_free(&s->ir);
    free(s->auth_folder);
    s->auth_folder = NULL;
    sasl_ex_reset(&s->sx);
    s->mech[0] = '\0';
}

static void run_deferred(struct pop3_session *s, enum pop3_deferred what);

static void defer_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct pop3_session *s = arg;
    s->defer_timer = 0;
    enum pop3_deferred what = s->deferred;
    s->deferred = DEF_NONE;
    if (s->closed)
        return;
    pop3_session_enter(s);
    run_deferred(s, what);
    if (!pop3_session_blocked(s))
        pop3_session_kick(s);
    pop3_session_leave(s);
}

/* Run what after ms milliseconds (0: now). */
static void defer(struct pop3_session *s, unsigned ms, enum pop3_deferred what)
{
    if (ms == 0) {
        run_deferred(s, what);
        return;
    }
    s->deferred = what;
    s->defer_timer = ev_timer_add(pop3_loop(), ms, defer_cb, s);
}

static void reply_failed(struct pop3_session *s)
{
    pop3_printf(s, "-ERR [AUTH] Authentication failed\r\n");
    if (s->auth_failures >= MAX_FAILURES_PER_CONN)
        pop3_session_close(s, NULL);
}

static void auth_failed(struct pop3_session *s, const char *user, const char *mech)
{
    char shown[80];
    snprintf(shown, sizeof(shown), "%s", user && *user ? user : "-");
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    log_notice("pop3: login failed: user=%s addr=%s mech=%s", shown, s->peer, mech);
    s->auth_failures++;
    pop3_auth_reset(s);
    defer(s, limits_auth_failure(s->peer), DEF_FAIL_REPLY);
}

/* The passdb could not answer: not counted as a failure, not delayed
 * (RFC 3206 SYS/TEMP: try again later). */
static void auth_unavailable(struct pop3_session *s, const char *user, const char *mech)
{
    log_notice("pop3: login failed (temporary failure): user=%s addr=%s mech=%s", user && *user ? user : "-",
               s->peer, mech);
    pop3_auth_reset(s);
    pop3_printf(s, "-ERR [SYS/TEMP] Authentication temporarily unavailable, try again later\r\n");
}

/* ---- password checks (the authentication service) -------------------------- */

typedef void (*verified_fn)(struct pop3_session *s, const struct auth_reply *rep);

struct auth_wait {
    struct pop3_session *s;
    verified_fn finish;
};

static void auth_replied(const struct auth_reply *rep, void *ctx)
{
    struct auth_wait *w = ctx;
    struct pop3_session *s = w->s;
    verified_fn finish = w->finish;
    free(w);
    s->auth_wait = false;
    /* A client that went away is answered by nobody; what the login
     * left in the session is freed with it. */
    if (!s->closed && s->conn && !s->quitting) {
        finish(s, rep);
        if (!pop3_session_blocked(s))
            pop3_session_kick(s);
        /* chosen for eviction while its password was checked, and not
         * logging in (a right password goes on to open the maildrop,
         * parked: login_opened decides): it goes now */
        if (s->state == POP3_AUTHORIZATION && !s->parked && limits_preauth_evicted(&s->pa))
            pop3_evict_marked();
    }
    pop3_session_leave(s);
}

/* Have user/password checked; finish(s, reply) runs when the answer is
 * there (now, without a pool). The caller wipes its password copy. */
static void verify_password(struct pop3_session *s, const char *user, const char *password, verified_fn finish)
{
    struct auth_wait *w = xcalloc(1, sizeof(*w));
    w->s = s;
    w->finish = finish;
    struct auth_request rq = {"pop", user, password, s->peer};
    struct auth_reply now;
    if (auth_verify(&rq, auth_replied, w, &now)) {
        free(w);
        finish(s, &now);
        return;
    }
    s->auth_wait = true;
    pop3_session_enter(s);
    if (s->conn)
        conn_pause_input(s->conn);
}

static void login_opened(struct pop3_session *s, bool gone, const char *user, const char *err, void *arg);

/* Authenticated as user: take the login slot, open the maildrop. */
static void login(struct pop3_session *s, const char *user, const char *folder, const char *mech)
{
    pop3_auth_reset(s);
    limits_auth_success(s->peer);
    const char *which = NULL;
    if (!limits_login_acquire(user, s->peer, &which)) {
        log_notice("pop3: login refused (too many logins per %s): user=%s addr=%s", which, user, s->peer);
        pop3_printf(s, "-ERR [SYS/TEMP] Too many logins %s\r\n",
                    which && strcmp(which, "host") == 0 ? "from your address" : "for this user");
        return;
    }
    /* The maildrop is read off the loop (the session waits parked);
     * login_opened finishes the login. */
    pop3_maildrop_open(s, user, folder, login_opened, xstrdup(mech));
}

static void login_opened(struct pop3_session *s, bool gone, const char *user, const char *err, void *arg)
{
    char *mech = arg;
    if (err || gone) {
        limits_login_release(user, s->peer);
        if (!gone)
            pop3_printf(s, "-ERR %s\r\n", err);
        free(mech);
        /* chosen for eviction while the login went on, and not logged
         * in: it goes now (pop3_evict_marked left it alone) */
        if (!gone && limits_preauth_evicted(&s->pa))
            pop3_evict_marked();
        return;
    }
    s->counted_user = true;
    free(s->user);
    s->user = xstrdup(user);
    s->state = POP3_TRANSACTION;
    limits_preauth_login(&s->pa); /* logged in: not counted pre-auth, never evicted */
    log_info("pop3: login: user=%s addr=%s mech=%s tls=%s folder=%s", user, s->peer, mech,
             session_tls(s) ? "yes" : "no", s->folder ? s->folder : "INBOX");
    pop3_printf(s, "+OK Maildrop locked and ready (%u messages)\r\n", s->nmsgs);
    free(mech);
}

/* ---- USER / PASS ------------------------------------------------------------ */

/* "user" or, with popsubfolders, "user+folder" (folder with the
 * configured hierarchy separator). Returns false when invalid. */
static bool split_user(const char *given, char *norm, char **folder)
{
    *folder = NULL;
    if (strlen(given) > AUTH_MAX_USERNAME + STORAGE_MAX_MAILBOX_NAME)
        return false;
    const char *plus = config_bool(CFG_POPSUBFOLDERS) ? strchr(given, '+') : NULL;
    char *name = plus ? xstrndup(given, (size_t)(plus - given)) : xstrdup(given);
    bool ok = strlen(name) <= AUTH_MAX_USERNAME && userdb_normalize_name(name, norm);
    free(name);
    if (!ok)
        return false;
    if (plus) {
        const char *f = plus + 1;
        if (!*f || strlen(f) > STORAGE_MAX_MAILBOX_NAME)
            return false;
        char *fo = xstrdup(f);
        if (!config_bool(CFG_UNIXHIERARCHYSEP))
            for (char *p = fo; *p; p++)
                if (*p == '.')
                    *p = '/';
        if (strcasecmp(fo, "INBOX") == 0) {
            free(fo);
            fo = NULL;
        }
        *folder = fo;
    }
    return true;
}

static void pass_verified(struct pop3_session *s, const struct auth_reply *rep)
{
    char *u = s->pending_user;
    s->pending_user = NULL;
    char *folder = s->auth_folder;
    s->auth_folder = NULL;
    if (rep->status == AUTH_STATUS_OK)
        login(s, rep->user, folder, "USER");
    else if (rep->status == AUTH_STATUS_TEMPFAIL)
        auth_unavailable(s, u, "USER");
    else
        auth_failed(s, u, "USER");
    free(folder);
    free(u);
}

static void pass_check(struct pop3_session *s)
{
    char norm[AUTH_MAX_USERNAME + 1];
    char *folder = NULL;
    const char *given = s->pending_user ? s->pending_user : "";
    if (!s->pass || !split_user(given, norm, &folder)) {
        wipe_free(&s->pass);
        char *u = s->pending_user;
        s->pending_user = NULL;
        auth_failed(s, u, "USER");
        free(u);
        return;
    }
    free(s->auth_folder);
    s->auth_folder = folder;
    verify_password(s, norm, s->pass, pass_verified);
    wipe_free(&s->pass);
}

static void cmd_user(struct pop3_session *s, const struct pop3_cmdline *cl)
{
    if (!plaintext_ok(s)) {
        pop3_printf(s, "-ERR [AUTH] Plaintext authentication disallowed without TLS (use STLS)\r\n");
        return;
    }
    if (cl->argc != 1 || cl->too_many || !*cl->rest) {
        pop3_printf(s, "-ERR Usage: USER name\r\n");
        return;
    }
    free(s->pending_user);
    s->pending_user = xstrdup(cl->rest);
    pop3_printf(s, "+OK Name is a valid mailbox\r\n");
}

static void cmd_pass(struct pop3_session *s, char *rest)
{
    if (!plaintext_ok(s)) {
        pop3_printf(s, "-ERR [AUTH] Plaintext authentication disallowed without TLS (use STLS)\r\n");
        return;
    }
    if (!s->pending_user) {
        pop3_printf(s, "-ERR USER first\r\n");
        return;
    }
    if (strlen(rest) > AUTH_MAX_PASSWORD) {
        free(s->pending_user);
        s->pending_user = NULL;
        auth_failed(s, "-", "USER");
        return;
    }
    wipe_free(&s->pass);
    s->pass = xstrdup(rest);
    defer(s, limits_auth_predelay(s->peer), DEF_PASS);
}

/* ---- AUTH (RFC 5034) ------------------------------------------------------ */

static void sasl_verified(struct pop3_session *s, const struct auth_reply *rep);

/* Say the exchange's next step (sasl-exchange.h) in POP3's words. */
static void sasl_next(struct pop3_session *s, enum sasl_ex_step step)
{
    char mech[SASL_EX_MECH_MAX];
    snprintf(mech, sizeof(mech), "%s", sasl_ex_mech(&s->sx));
    switch (step) {
    case SASL_EX_CHALLENGE: {
        /* RFC 5034 4: "+ " and the base64 challenge; final server data
         * (SCRAM) goes this way too, answered by an empty line */
        struct buf b = BUF_INIT;
        buf_puts(&b, "+ ");
        sasl_ex_data_b64(&s->sx, &b);
        buf_puts(&b, "\r\n");
        pop3_write(s, b.data, b.len);
        buf_free(&b);
        break;
    }
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
        login(s, u, NULL, mech);
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
        pop3_auth_reset(s);
        pop3_printf(s, "-ERR Authentication cancelled\r\n");
        break;
    case SASL_EX_UNEXPECTED:
        pop3_auth_reset(s);
        pop3_printf(s, "-ERR Unexpected data after the final server message\r\n");
        break;
    case SASL_EX_BAD_BASE64:
        pop3_auth_reset(s);
        pop3_printf(s, "-ERR Invalid base64 data\r\n");
        break;
    case SASL_EX_PLAINTEXT:
        pop3_auth_reset(s);
        pop3_printf(s, "-ERR [AUTH] Plaintext authentication disallowed without TLS (use STLS)\r\n");
        break;
    case SASL_EX_NO_MECH:
        pop3_auth_reset(s);
        pop3_printf(s, "-ERR Unsupported authentication mechanism\r\n");
        break;
    }
}

static void sasl_verified(struct pop3_session *s, const struct auth_reply *rep)
{
    if (!sasl_ex_verifying(&s->sx))
        return; /* the exchange was reset meanwhile */
    sasl_next(s, sasl_ex_verified(&s->sx, rep));
}

void pop3_sasl_line(struct pop3_session *s, char *line, size_t len)
{
    sasl_next(s, sasl_ex_response(&s->sx, line, len));
}

static void auth_start(struct pop3_session *s)
{
    struct sasl_params p;
    sasl_params(s, &p);
    const struct sasl_ex_options o = {.proto = "pop3", .peer = s->peer};
    char *ir = s->ir;
    s->ir = NULL;
    enum sasl_ex_step step = sasl_ex_start(&s->sx, s->mech, &p, &o, ir, ir ? strlen(ir) : 0);
    if (ir) {
        /* a PLAIN initial response carries the password (RFC 4616) */
        explicit_bzero(ir, strlen(ir));
        free(ir);
    }
    sasl_next(s, step);
}

static void cmd_auth(struct pop3_session *s, const struct pop3_cmdline *cl)
{
    if (cl->argc == 0) {
        /* RFC 1734 practice (also what Cyrus and fetchmail expect): list
         * the mechanisms as a multi-line response. */
        struct sasl_params p;
        sasl_params(s, &p);
        struct buf m = BUF_INIT, out = BUF_INIT;
        sasl_mechanisms(&p, &m);
        buf_puts(&out, "+OK Available mechanisms\r\n");
        for (char *t = m.data ? strtok(m.data, " ") : NULL; t; t = strtok(NULL, " "))
            buf_printf(&out, "%s\r\n", t);
        buf_puts(&out, ".\r\n");
        pop3_write(s, out.data, out.len);
        buf_free(&m);
        buf_free(&out);
        return;
    }
    if (cl->argc > 2 || cl->too_many || strlen(cl->argv[0]) >= sizeof(s->mech)) {
        pop3_printf(s, "-ERR Usage: AUTH mechanism [initial-response]\r\n");
        return;
    }
    pop3_auth_reset(s);
    snprintf(s->mech, sizeof(s->mech), "%s", cl->argv[0]);
    for (char *p = s->mech; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (cl->argc == 2)
        s->ir = xstrdup(cl->argv[1]);
    defer(s, limits_auth_predelay(s->peer), DEF_AUTH_START);
}

static void run_deferred(struct pop3_session *s, enum pop3_deferred what)
{
    switch (what) {
    case DEF_PASS:
        pass_check(s);
        break;
    case DEF_AUTH_START:
        auth_start(s);
        break;
    case DEF_FAIL_REPLY:
        reply_failed(s);
        break;
    case DEF_NONE:
        break;
    }
}

/* ---- STLS (RFC 2595 4) ------------------------------------------------------ */

static void cmd_stls(struct pop3_session *s, const struct pop3_cmdline *cl)
{
    if (cl->argc) {
        pop3_printf(s, "-ERR Unexpected arguments\r\n");
        return;
    }
    if (session_tls(s) || !pop3_tls()) {
        pop3_printf(s, "-ERR STLS not available\r\n");
        return;
    }
    pop3_printf(s, "+OK Begin TLS negotiation now\r\n");
    if (conn_starttls(s->conn, pop3_tls()) < 0) {
        log_warn("pop3: STLS failed for %s", s->peer);
        pop3_session_close(s, NULL);
        return;
    }
    /* RFC 2595 4: forget what we learnt before TLS (a USER given in the
     * clear); the conn discards pipelined plaintext input. */
    s->tls = true;
    free(s->pending_user);
    s->pending_user = NULL;
    s->utf8 = false;
}

/* ---- dispatch ---------------------------------------------------------------- */

void pop3_execute(struct pop3_session *s, char *line, size_t len)
{
    struct pop3_cmdline cl;
    if (len == 0)
        return; /* stray empty line: ignore */
    if (s->state == POP3_AUTHORIZATION && len >= 5 && strncasecmp(line, "PASS ", 5) == 0) {
        /* RFC 1939 7: the password may contain spaces; take the rest */
        cmd_pass(s, line + 5);
        return;
    }
    if (!pop3_parse_line(line, &cl)) {
        pop3_printf(s, "-ERR Invalid command\r\n");
        return;
    }
    const char *k = cl.keyword;
    if (config_bool(CFG_DEBUG))
        log_debug("pop3: %s: %s", s->user ? s->user : s->peer, k);
    if (strcmp(k, "CAPA") == 0) {
        struct buf b = BUF_INIT;
        buf_puts(&b, "+OK Capability list follows\r\n");
        pop3_capa(s, &b);
        buf_puts(&b, ".\r\n");
        pop3_write(s, b.data, b.len);
        buf_free(&b);
        return;
    }
    if (strcmp(k, "QUIT") == 0) {
        if (s->state == POP3_TRANSACTION) {
            pop3_transaction_command(s, &cl); /* UPDATE state */
            return;
        }
        const char *product = fe_server_product();
        pop3_printf(s, "+OK %s%sPOP3 server signing off\r\n", product, *product ? " " : "");
        pop3_session_close(s, NULL);
        return;
    }
    if (s->state == POP3_AUTHORIZATION) {
        if (strcmp(k, "USER") == 0)
            cmd_user(s, &cl);
        else if (strcmp(k, "PASS") == 0)
            cmd_pass(s, cl.rest);
        else if (strcmp(k, "APOP") == 0)
            pop3_printf(s, "-ERR [AUTH] APOP is not available: no shared secrets are stored\r\n");
        else if (strcmp(k, "AUTH") == 0)
            cmd_auth(s, &cl);
        else if (strcmp(k, "STLS") == 0)
            cmd_stls(s, &cl);
        else if (strcmp(k, "UTF8") == 0) {
            /* RFC 6856 2: allowed in AUTHORIZATION state only */
            s->utf8 = true;
            pop3_printf(s, "+OK UTF8 enabled\r\n");
        } else if (strcmp(k, "STAT") == 0 || strcmp(k, "LIST") == 0 || strcmp(k, "RETR") == 0 ||
                   strcmp(k, "DELE") == 0 || strcmp(k, "NOOP") == 0 || strcmp(k, "RSET") == 0 ||
                   strcmp(k, "TOP") == 0 || strcmp(k, "UIDL") == 0 || strcmp(k, "LAST") == 0)
            pop3_printf(s, "-ERR Not logged in\r\n");
        else
            pop3_printf(s, "-ERR Unknown command\r\n");
        return;
    }
    if (s->state == POP3_TRANSACTION) {
        if (strcmp(k, "USER") == 0 || strcmp(k, "PASS") == 0 || strcmp(k, "APOP") == 0 ||
            strcmp(k, "AUTH") == 0 || strcmp(k, "STLS") == 0 || strcmp(k, "UTF8") == 0) {
            pop3_printf(s, "-ERR Already logged in\r\n");
            return;
        }
        pop3_transaction_command(s, &cl);
        return;
    }
    pop3_printf(s, "-ERR Unknown command\r\n");
}
