/* lmtp-cmd.c - LMTP commands (RFC 2033 over RFC 5321) and delivery replies.
 *
 * Extensions: PIPELINING (RFC 2920), ENHANCEDSTATUSCODES (RFC 2034, codes
 * from RFC 3463), 8BITMIME (RFC 6152), SIZE (RFC 1870), CHUNKING (RFC
 * 3030), STARTTLS (RFC 3207), AUTH (RFC 4954), SMTPUTF8 (RFC 6531) and
 * IGNOREQUOTA (Cyrus; honoured from trusted clients only, see
 * ignorequota_allowed). DSN parameters (RFC 3461: RET, ENVID, NOTIFY,
 * ORCPT) are accepted and ignored: the final delivery result is the
 * per-recipient reply, which the client turns into a DSN if asked to.
 *
 * RFC 2033 4.2: after the end of the message, one reply per recipient
 * that was accepted at RCPT, in RCPT order. Each 250 is written only
 * after that recipient's commit returned, i.e. after the copy is durable.
 *
 * Nothing slow runs on the event loop (issue 10, jobs.h): the message's
 * bytes are written to the spool file by pool jobs ("spool", keyed by the
 * spool so they run in order), and at the end of the data the session is
 * parked (struct lmtp_dlv) while the spool's last write and fsync run on
 * the pool, then each recipient's commit (kind "deliver", keyed by the
 * recipient's store, so deliveries and IMAP APPENDs into one store that
 * coincide are group-committed: storage.h, mailbox_append_batch). Opening
 * the stores and choosing the mailboxes stays on the loop (storage.h:
 * handles are opened and closed there). The replies go out in RCPT order
 * as the commits finish; then the session reads again. A client that
 * disconnects meanwhile gets nothing; its jobs finish, nothing leaks, and
 * copies already committed stay (as if the 250s had been lost).
 */
#include "lmtp-private.h"
#include "auth-service.h"
#include "access.h"
#include "config.h"
#include "delivery-sieve.h"
#include "jobs.h"
#include "log.h"
#include "storage.h"
#include <ctype.h>
#include <errno.h>
#include <strings.h>

/* ---- helpers ------------------------------------------------------------ */

static bool is_tcp_auth_required(const struct lmtp_session *s)
{
    return !s->is_unix && config_bool(CFG_LMTP_AUTH_REQUIRED);
}

static void sasl_params(struct lmtp_session *s, struct sasl_params *p)
{
    memset(p, 0, sizeof(*p));
    p->tls = s->tls;
    p->allow_plaintext = config_bool(CFG_ALLOWPLAINTEXT);
    if (p->tls && s->conn && conn_tls_exporter(s->conn, p->cb_data))
        p->cb_len = 32;
}

static bool has_8bit(const char *p)
{
    for (; *p; p++)
        if ((unsigned char)*p >= 0x80)
            return true;
    return false;
}

void lmtp_txn_reset(struct lmtp_session *s)
{
    free(s->mail_from);
    s->mail_from = NULL;
    s->have_mail = false;
    s->mail_ignorequota = false;
    s->mail_size = 0;
    s->smtputf8 = false;
    struct mail_user *kept[LMTP_KEEP_MAX];
    size_t nkept = 0;
    for (size_t i = 0; i < s->nrcpt; i++) {
        free(s->rcpts[i].addr);
        free(s->rcpts[i].orcpt);
        if (s->rcpts[i].r.hold && nkept < LMTP_KEEP_MAX) {
            kept[nkept++] = s->rcpts[i].r.hold;   /* the reference moves */
            s->rcpts[i].r.hold = NULL;
        }
        delivery_rcpt_release(&s->rcpts[i].r);
    }
    if (nkept)   /* (a transaction without recipients leaves the kept ones to their timer) */
        lmtp_session_keep_stores(s, kept, nkept);
    free(s->rcpts);
    s->rcpts = NULL;
    s->nrcpt = s->caprcpt = 0;
    dspool_free(s->spool);
    s->spool = NULL;
    spool_release(&s->spool_resv);
    s->spool_full = false;
    s->in = IN_CMD;
    s->bdat_left = 0;
    s->bdat_last = false;
    s->bdat_err = NULL;
    s->bdat_started = false;
}

void lmtp_auth_reset(struct lmtp_session *s)
{
    sasl_ex_reset(&s->sx);
}

void lmtp_greeting(struct lmtp_session *s)
{
    /* RFC 2033 4.1 / RFC 5321 4.3.1 */
    lmtp_printf(s, "220 %s LMTP Darius ready\r\n", delivery_servername());
}

/* Split "KEY=VALUE" parameters after the path; calls cb per parameter.
 * Returns false (after replying) on an unknown/invalid parameter. */
typedef bool (*param_cb)(struct lmtp_session *s, const char *key, const char *val);

static bool parse_params(struct lmtp_session *s, const char *p, param_cb cb)
{
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char tok[1024];
        if (n >= sizeof(tok)) {
            lmtp_printf(s, "501 5.5.4 Parameter too long\r\n");
            return false;
        }
        memcpy(tok, p, n);
        tok[n] = '\0';
        char *eq = strchr(tok, '=');
        const char *val = NULL;
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        if (!cb(s, tok, val))
            return false;
        p += n;
    }
    return true;
}

/* ---- LHLO, STARTTLS, AUTH ------------------------------------------------- */

static void cmd_lhlo(struct lmtp_session *s, const char *arg)
{
    if (!*arg || strchr(arg, ' ') || strlen(arg) > 255) {
        lmtp_printf(s, "501 5.5.4 Syntax: LHLO hostname\r\n");
        return;
    }
    for (const char *p = arg; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            lmtp_printf(s, "501 5.5.4 Invalid host name\r\n");
            return;
        }
    lmtp_txn_reset(s);
    free(s->helo);
    s->helo = xstrdup(arg);
    /* Each line is "250-" except the last, "250 " (RFC 5321 4.2.1); the
     * last one is always IGNOREQUOTA so the optional ones go before it.
     * DSN is not advertised: its parameters are accepted if sent anyway. */
    struct buf b = BUF_INIT;
    buf_printf(&b, "250-%s\r\n", delivery_servername());
    buf_puts(&b, "250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n");
    buf_printf(&b, "250-SIZE %lld\r\n", config_int(CFG_MAXMESSAGESIZE));
    buf_puts(&b, "250-CHUNKING\r\n250-SMTPUTF8\r\n");
    if (!s->is_unix && !s->tls && lmtp_tls())
        buf_puts(&b, "250-STARTTLS\r\n");
    if (!s->is_unix && !s->authuser && (is_tcp_auth_required(s) || s->tls)) {
        struct sasl_params p;
        sasl_params(s, &p);
        struct buf m = BUF_INIT;
        sasl_mechanisms(&p, &m);
        if (m.len)
            buf_printf(&b, "250-AUTH %s\r\n", m.data);
        buf_free(&m);
    }
    buf_puts(&b, "250 IGNOREQUOTA\r\n");
    conn_write(s->conn, b.data, b.len);
    buf_free(&b);
}

static void cmd_starttls(struct lmtp_session *s, const char *arg)
{
    if (*arg) {
        lmtp_printf(s, "501 5.5.4 Syntax: STARTTLS\r\n");
        return;
    }
    if (s->is_unix || !lmtp_tls()) {
        lmtp_printf(s, "502 5.5.1 STARTTLS not available\r\n");
        return;
    }
    if (s->tls) {
        lmtp_printf(s, "503 5.5.1 TLS already active\r\n");
        return;
    }
    lmtp_printf(s, "220 2.0.0 Ready to start TLS\r\n");
    if (conn_starttls(s->conn, lmtp_tls()) < 0) {
        lmtp_session_close(s, NULL);
        return;
    }
    /* RFC 3207 4.2: forget everything learnt before TLS; LHLO again. */
    s->tls = true;
    lmtp_txn_reset(s);
    free(s->helo);
    s->helo = NULL;
}

static void auth_done(struct lmtp_session *s, const char *user)
{
    char mech[SASL_EX_MECH_MAX];
    snprintf(mech, sizeof(mech), "%s", sasl_ex_mech(&s->sx));
    lmtp_auth_reset(s);
    /* Only an administrator may authenticate: an authenticated client is
     * trusted to inject mail for any user (a plain user could otherwise
     * forge deliveries to others) and to ignore quotas (IGNOREQUOTA). Its
     * identity is then the poster for the p right on +detail folders and
     * shared mailboxes. An admin of one domain only ("name@domain" in
     * admins under virtdomains, as access_who_init reads it) is trusted
     * for that domain only: its recipients must be there (cmd_rcpt). */
    struct access_who w;
    access_who_init(&w, user);
    bool global = w.admin, scoped = !w.admin && w.domain_admin;
    char domain[ACCESS_MAX_DOMAIN + 1];
    snprintf(domain, sizeof(domain), "%s", w.domain);
    access_who_free(&w);
    if (!global && !scoped) {
        log_notice("lmtp: AUTH refused for non-admin: user=%s addr=%s mech=%s", user, s->peer, mech);
        /* delayed like a wrong password: the timing must not tell them apart */
        lmtp_auth_failed(s);
        return;
    }
    limits_auth_success(s->peer);
    free(s->authuser);
    s->authuser = xstrdup(user);
    s->auth_scoped = scoped;
    snprintf(s->auth_domain, sizeof(s->auth_domain), "%s", scoped ? domain : "");
    log_info("lmtp: authenticated: user=%s addr=%s mech=%s%s%s", user, s->peer, mech,
             scoped ? " recipients-in-domain=" : "", scoped ? (*domain ? domain : "(default)") : "");
    lmtp_printf(s, "235 2.7.0 Authentication successful\r\n");
}

static void sasl_verified(struct lmtp_session *s, const struct auth_reply *rep);

/* Say the exchange's next step (sasl-exchange.h) in LMTP's words
 * (RFC 4954). */
static void sasl_next(struct lmtp_session *s, enum sasl_ex_step step)
{
    switch (step) {
    case SASL_EX_CHALLENGE: {
        /* RFC 4954 4: additional data with 235 is allowed, but final
         * server data as a challenge plus an empty response is what every
         * client does */
        struct buf b = BUF_INIT;
        buf_puts(&b, "334 ");
        sasl_ex_data_b64(&s->sx, &b);
        buf_puts(&b, "\r\n");
        if (s->conn && !s->closed)
            conn_write(s->conn, b.data, b.len);
        buf_free(&b);
        break;
    }
    case SASL_EX_VERIFY: {
        /* PLAIN, LOGIN: the password goes to the authentication service */
        const char *cid, *pw;
        sasl_ex_credentials(&s->sx, &cid, &pw);
        lmtp_verify_password(s, cid, pw, sasl_verified);
        sasl_ex_forget_password(&s->sx);
        break;
    }
    case SASL_EX_SUCCESS: {
        char *u = xstrdup(sasl_ex_user(&s->sx)); /* auth_done resets the exchange */
        auth_done(s, u);
        free(u);
        break;
    }
    case SASL_EX_FAILED:
        log_notice("lmtp: authentication failed: user=%s addr=%s mech=%s", sasl_ex_attempted(&s->sx), s->peer,
                   sasl_ex_mech(&s->sx));
        lmtp_auth_reset(s);
        lmtp_auth_failed(s);
        break;
    case SASL_EX_TEMPFAIL:
        /* not the client's fault: no failure counted, no delay */
        log_notice("lmtp: authentication failed (temporary failure): user=%s addr=%s mech=%s",
                   sasl_ex_attempted(&s->sx), s->peer, sasl_ex_mech(&s->sx));
        lmtp_auth_reset(s);
        lmtp_printf(s, "454 4.7.0 Temporary authentication failure\r\n");
        break;
    case SASL_EX_CANCELLED:
        lmtp_auth_reset(s);
        lmtp_printf(s, "501 5.7.0 Authentication cancelled\r\n");
        break;
    case SASL_EX_UNEXPECTED:
        lmtp_auth_reset(s);
        lmtp_printf(s, "501 5.5.2 Unexpected data after the final server message\r\n");
        break;
    case SASL_EX_BAD_BASE64:
        lmtp_auth_reset(s);
        lmtp_printf(s, "501 5.5.2 Invalid base64 data\r\n");
        break;
    case SASL_EX_PLAINTEXT:
        lmtp_auth_reset(s);
        lmtp_printf(s, "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
        break;
    case SASL_EX_NO_MECH:
        lmtp_auth_reset(s);
        lmtp_printf(s, "504 5.5.4 Unrecognized authentication type\r\n");
        break;
    }
}

static void sasl_verified(struct lmtp_session *s, const struct auth_reply *rep)
{
    if (!sasl_ex_verifying(&s->sx))
        return; /* the exchange was reset meanwhile */
    sasl_next(s, sasl_ex_verified(&s->sx, rep));
}

void lmtp_sasl_line(struct lmtp_session *s, char *line, size_t len)
{
    sasl_next(s, sasl_ex_response(&s->sx, line, len));
}

static void cmd_auth(struct lmtp_session *s, char *arg)
{
    if (s->is_unix) {
        lmtp_printf(s, "502 5.5.1 AUTH not available on this listener\r\n");
        return;
    }
    if (!s->helo) {
        lmtp_printf(s, "503 5.5.1 Send LHLO first\r\n");
        return;
    }
    if (s->authuser) {
        lmtp_printf(s, "503 5.5.1 Already authenticated\r\n");
        return;
    }
    if (s->have_mail) {
        lmtp_printf(s, "503 5.5.1 AUTH not allowed during a transaction\r\n");
        return;
    }
    /* An address already at auth_failures_per_host waits its turn before
     * its credentials are even checked, as IMAP and POP3 logins do: an
     * admin's right password is answered at once, so without this wait a
     * client could try passwords at the rate it opens connections,
     * reading only the fast 235s and never waiting for a 535. */
    unsigned wait = limits_auth_predelay(s->peer);
    if (wait) {
        lmtp_auth_park(s, wait, arg);
        return;
    }
    lmtp_auth_begin(s, arg);
}

void lmtp_auth_begin(struct lmtp_session *s, char *arg)
{
    char *ir = strchr(arg, ' ');
    if (ir)
        *ir++ = '\0';
    if (!*arg || strlen(arg) >= SASL_EX_MECH_MAX) {
        lmtp_printf(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n");
        return;
    }
    struct sasl_params p;
    sasl_params(s, &p);
    const struct sasl_ex_options o = {.proto = "lmtp", .peer = s->peer};
    sasl_next(s, sasl_ex_start(&s->sx, arg, &p, &o, ir, ir ? strlen(ir) : 0));
}

/* ---- MAIL, RCPT ------------------------------------------------------------ */

static bool mail_param(struct lmtp_session *s, const char *key, const char *val)
{
    if (strcasecmp(key, "SIZE") == 0) {
        /* RFC 1870 6.2 */
        if (!val || !*val || strlen(val) > 20) {
            lmtp_printf(s, "501 5.5.4 Invalid SIZE parameter\r\n");
            return false;
        }
        for (const char *p = val; *p; p++)
            if (!isdigit((unsigned char)*p)) {
                lmtp_printf(s, "501 5.5.4 Invalid SIZE parameter\r\n");
                return false;
            }
        errno = 0;
        unsigned long long v = strtoull(val, NULL, 10);
        if (errno || v > (unsigned long long)config_int(CFG_MAXMESSAGESIZE)) {
            lmtp_printf(s, "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
            return false;
        }
        s->mail_size = (uint64_t)v;
        return true;
    }
    if (strcasecmp(key, "BODY") == 0) {
        if (val && (strcasecmp(val, "7BIT") == 0 || strcasecmp(val, "8BITMIME") == 0))
            return true;
        lmtp_printf(s, "555 5.5.4 Unsupported BODY type\r\n");
        return false;
    }
    if (strcasecmp(key, "SMTPUTF8") == 0 && !val) {
        s->smtputf8 = true;
        return true;
    }
    if (strcasecmp(key, "IGNOREQUOTA") == 0 && !val) {
        s->mail_ignorequota = true;
        return true;
    }
    /* RFC 3461 (ignored), RFC 4954 5 AUTH= (ignored: we do not relay). */
    if ((strcasecmp(key, "RET") == 0 || strcasecmp(key, "ENVID") == 0 || strcasecmp(key, "AUTH") == 0) && val)
        return true;
    lmtp_printf(s, "555 5.5.4 Unsupported parameter %.64s\r\n", key);
    return false;
}

static void cmd_mail(struct lmtp_session *s, const char *arg)
{
    if (!s->helo) {
        lmtp_printf(s, "503 5.5.1 Send LHLO first\r\n");
        return;
    }
    if (is_tcp_auth_required(s) && !s->authuser) {
        lmtp_printf(s, "530 5.7.0 Authentication required\r\n");
        return;
    }
    if (s->have_mail) {
        lmtp_printf(s, "503 5.5.1 Nested MAIL command\r\n");
        return;
    }
    if (strncasecmp(arg, "FROM:", 5) != 0) {
        lmtp_printf(s, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
        return;
    }
    const char *p = arg + 5;
    while (*p == ' ')
        p++;
    char addr[DELIVERY_MAX_ADDR];
    if (!delivery_parse_path(&p, addr, sizeof(addr))) {
        lmtp_printf(s, "501 5.1.7 Bad sender address syntax\r\n");
        return;
    }
    if (*p && *p != ' ') {
        lmtp_printf(s, "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\r\n");
        return;
    }
    s->smtputf8 = false;
    s->mail_ignorequota = false;
    s->mail_size = 0;
    if (!parse_params(s, p, mail_param)) {
        s->smtputf8 = false;
        s->mail_ignorequota = false;
        return;
    }
    if (has_8bit(addr) && !s->smtputf8) {
        lmtp_printf(s, "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n");
        s->smtputf8 = false;
        s->mail_ignorequota = false;
        return;
    }
    s->have_mail = true;
    s->mail_from = xstrdup(addr);
    lmtp_printf(s, "250 2.1.0 Sender OK\r\n");
}

static bool g_rcpt_ignorequota; /* set by rcpt_param for the current RCPT */
static char *g_rcpt_orcpt;      /* likewise: ORCPT's address, xmalloc'd */

/* RFC 3461 4.2: ORCPT=addr-type;xtext. Only rfc822 addresses are kept
 * (Sieve's envelope "orig_to"); xtext's "+XX" is decoded, and a value
 * that decodes to a control character or is too long is ignored. */
static char *orcpt_decode(const char *val)
{
    if (strncasecmp(val, "rfc822;", 7) != 0)
        return NULL;
    const char *p = val + 7;
    size_t n = strlen(p);
    if (n == 0 || n >= DELIVERY_MAX_ADDR)
        return NULL;
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '+' && i + 2 < n && isxdigit((unsigned char)p[i + 1]) && isxdigit((unsigned char)p[i + 2])) {
            char hex[3] = {p[i + 1], p[i + 2], 0};
            c = (unsigned char)strtoul(hex, NULL, 16);
            i += 2;
        }
        if (c < 0x21 || c == 0x7f || c == '<' || c == '>') {
            free(out);
            return NULL;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

/* IGNOREQUOTA (draft-murchison-lmtp-ignorequota) lets a client fill a
 * mailbox past its quota, so with lmtp_ignorequota_requires_auth only a
 * trusted client gets it: one that authenticated (only admins may), or
 * one on a unix socket - the local MTA, which cannot AUTH there, and
 * whose access is the socket's permissions (as Cyrus, where unix-socket
 * LMTP clients are always preauthorized). From anyone else the parameter
 * is accepted - refusing it would bounce the mail - but ignored: the
 * quota applies, and the session logs it once. */
static bool ignorequota_allowed(struct lmtp_session *s)
{
    if (!config_bool(CFG_LMTP_IGNOREQUOTA_REQUIRES_AUTH) || s->authuser || s->is_unix)
        return true;
    if (!s->ignorequota_logged) {
        log_notice("lmtp: IGNOREQUOTA from an unauthenticated client ignored (lmtp_ignorequota_requires_auth): "
                   "addr=%s",
                   s->peer);
        s->ignorequota_logged = true;
    }
    return false;
}

static bool rcpt_param(struct lmtp_session *s, const char *key, const char *val)
{
    if (strcasecmp(key, "IGNOREQUOTA") == 0 && !val) {
        g_rcpt_ignorequota = true;
        return true;
    }
    if (strcasecmp(key, "ORCPT") == 0 && val) {
        free(g_rcpt_orcpt);
        g_rcpt_orcpt = orcpt_decode(val);
        return true;
    }
    if (strcasecmp(key, "NOTIFY") == 0 && val)
        return true;
    lmtp_printf(s, "555 5.5.4 Unsupported parameter %.64s\r\n", key);
    return false;
}

static void cmd_rcpt(struct lmtp_session *s, const char *arg)
{
    if (!s->have_mail) {
        lmtp_printf(s, "503 5.5.1 Need MAIL command\r\n");
        return;
    }
    if (strncasecmp(arg, "TO:", 3) != 0) {
        lmtp_printf(s, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
        return;
    }
    if (s->nrcpt >= (size_t)config_int(CFG_LMTP_MAX_RECIPIENTS)) {
        lmtp_printf(s, "452 4.5.3 Too many recipients\r\n");
        return;
    }
    const char *p = arg + 3;
    while (*p == ' ')
        p++;
    char addr[DELIVERY_MAX_ADDR];
    if (!delivery_parse_path(&p, addr, sizeof(addr)) || !addr[0] || (*p && *p != ' ')) {
        lmtp_printf(s, "501 5.1.3 Bad recipient address syntax\r\n");
        return;
    }
    g_rcpt_ignorequota = false;
    free(g_rcpt_orcpt);
    g_rcpt_orcpt = NULL;
    if (!parse_params(s, p, rcpt_param))
        return;
    if (has_8bit(addr) && !s->smtputf8) {
        lmtp_printf(s, "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n");
        return;
    }
    struct lmtp_rcpt r;
    memset(&r, 0, sizeof(r));
    switch (delivery_resolve(addr, &r.r)) {
    case RCPT_OK:
        break;
    case RCPT_SYNTAX:
        lmtp_printf(s, "501 5.1.3 Bad recipient address syntax\r\n");
        return;
    case RCPT_NOUSER:
        log_info("lmtp: unknown recipient <%s> addr=%s", addr, s->peer);
        lmtp_printf(s, "550 5.1.1 User unknown\r\n");
        return;
    case RCPT_TEMPFAIL:
    default:
        lmtp_printf(s, "451 4.3.0 Temporary failure looking up the recipient\r\n");
        return;
    }
    if (s->auth_scoped && strcmp(r.r.domain, s->auth_domain) != 0) {
        /* A domain admin's session is trusted in its own domain only
         * (auth_done): delivering into, or past the quota of, another
         * domain's stores is not its to do. */
        log_notice("lmtp: recipient <%s> outside the authenticated administrator's domain: user=%s addr=%s", addr,
                   s->authuser, s->peer);
        lmtp_printf(s, "550 5.7.1 Recipient outside the authenticated administrator's domain\r\n");
        return;
    }
    r.ignorequota = (g_rcpt_ignorequota || s->mail_ignorequota) && ignorequota_allowed(s);
    /* Cyrus verify_user: a shared/mapped mailbox must exist and grant p,
     * the store must not be busy, and a full quota root is refused now
     * rather than after the client sent the whole message. */
    struct deliver_opts o = {.ignore_quota = r.ignorequota, .poster = s->authuser};
    switch (delivery_check_hold(&r.r, &o, s->mail_size)) {
    case DELIVER_OK:
    case DELIVER_DUPLICATE:
        break;
    case DELIVER_NOUSER:
        log_info("lmtp: unknown recipient <%s> addr=%s", addr, s->peer);
        lmtp_printf(s, "550 5.1.1 User unknown\r\n");
        return;
    case DELIVER_OVERQUOTA:
        if (config_bool(CFG_LMTP_OVERQUOTA_PERM_FAILURE))
            lmtp_printf(s, "552 5.2.2 Mailbox is full (over quota)\r\n");
        else
            lmtp_printf(s, "452 4.2.2 Mailbox is full (over quota)\r\n");
        return;
    case DELIVER_BUSY:
        lmtp_printf(s, "451 4.2.0 Mailbox busy, try again later\r\n");
        return;
    case DELIVER_PERMFAIL:
    case DELIVER_TEMPFAIL:
    default:
        lmtp_printf(s, "451 4.3.0 Temporary failure looking up the recipient\r\n");
        return;
    }
    r.addr = xstrdup(addr);
    r.orcpt = g_rcpt_orcpt;
    g_rcpt_orcpt = NULL;
    ARRAY_GROW(s->rcpts, s->nrcpt, s->caprcpt);
    s->rcpts[s->nrcpt++] = r;
    lmtp_printf(s, "250 2.1.5 Recipient OK\r\n");
}

/* ---- DATA, BDAT, delivery ------------------------------------------------ */

/* Spool writes on the pool: at most this many 64 KiB chunks per session
 * in flight before the input waits for them (memory stays bounded). */
#define SPOOL_MAX_INFLIGHT 4

struct spool_chunk_job {
    struct lmtp_session *s;
    struct dspool_chunk *c;
};

static void spool_chunk_run(struct job *job, void *arg)
{
    (void)job;
    struct spool_chunk_job *cj = arg;
    dspool_chunk_write(cj->c);
}

static void spool_chunk_done(void *arg)
{
    struct spool_chunk_job *cj = arg;
    struct lmtp_session *s = cj->s;
    dspool_chunk_done(cj->c);
    free(cj);
    s->spool_jobs--;
    if (s->spool_wait && s->spool_jobs < SPOOL_MAX_INFLIGHT) {
        s->spool_wait = false;
        lmtp_session_unpark(s);
    }
    lmtp_session_leave(s);
}

static void spool_writer(void *arg, struct dspool_chunk *c)
{
    struct lmtp_session *s = arg;
    struct spool_chunk_job *cj = xcalloc(1, sizeof(*cj));
    cj->s = s;
    cj->c = c;
    lmtp_session_enter(s);
    s->spool_jobs++;
    /* keyed by the spool: its chunks, and the final sync, in order */
    jobs_submit("spool", s->spool, spool_chunk_run, spool_chunk_done, cj);
    if (s->spool_jobs >= SPOOL_MAX_INFLIGHT && !s->spool_wait) {
        s->spool_wait = true;   /* the reader stops (lmtp-server.c) */
        if (s->conn)
            conn_pause_input(s->conn);
    }
}

static bool start_spool(struct lmtp_session *s)
{
    char proto[8];
    snprintf(proto, sizeof(proto), "LMTP%s%s", s->tls ? "S" : "", s->authuser ? "A" : "");
    char peer[80];
    snprintf(peer, sizeof(peer), s->is_unix ? "%s" : "[%s]", s->peer);
    char *received = delivery_received(s->helo, peer, proto, s->conn ? conn_tls_desc(s->conn) : NULL,
                                       s->nrcpt == 1 ? s->rcpts[0].addr : NULL);
    struct dspool_opts o = {
        .return_path = s->mail_from,
        .received = received,
        .smtputf8 = s->smtputf8,
    };
    s->spool = dspool_new(&o);
    free(received);
    if (s->spool)
        dspool_set_writer(s->spool, spool_writer, s);
    return s->spool != NULL;
}

static void cmd_data(struct lmtp_session *s, const char *arg)
{
    if (*arg) {
        lmtp_printf(s, "501 5.5.4 Syntax: DATA\r\n");
        return;
    }
    if (!s->have_mail) {
        lmtp_printf(s, "503 5.5.1 Need MAIL command\r\n");
        return;
    }
    if (s->bdat_started) {
        lmtp_printf(s, "503 5.5.1 DATA not allowed after BDAT\r\n");
        return;
    }
    if (!s->nrcpt) {
        /* RFC 2033 4.2 */
        lmtp_printf(s, "503 5.5.1 No valid recipients\r\n");
        return;
    }
    if (!start_spool(s)) {
        lmtp_printf(s, "451 4.3.0 Cannot create a spool file\r\n");
        return;
    }
    s->in = IN_DATA;
    s->dot = D_BOL;
    lmtp_printf(s, "354 Start mail input; end with <CRLF>.<CRLF>\r\n");
}

static const char *status_reply(enum dspool_status st)
{
    switch (st) {
    case DSPOOL_TOOBIG:
        return "552 5.3.4 Message size exceeds fixed maximum message size";
    case DSPOOL_8BIT:
        return "554 5.6.0 Message contains 8-bit characters in the header";
    case DSPOOL_NUL:
        return "554 5.6.0 Message contains NUL characters";
    case DSPOOL_LINE:
        return "554 5.6.0 Message contains a line that is too long";
    case DSPOOL_IO:
    default:
        return "451 4.3.0 Local error writing the message";
    }
}

/* The end of the message: one reply per recipient (RFC 2033 4.2). */
#define SPOOL_FULL_REPLY "452 4.3.1 Insufficient system storage, try again later"

/* A transaction's end of data being delivered (the session parked). */
struct lmtp_dlv_rcpt {
    struct lmtp_dlv *d;
    struct delivery_job j;
    bool done;
    enum deliver_result res;
    bool sieve;                 /* the commit is a Sieve run (delivery-sieve.h) */
    struct delivery_sieve ds;   /* its envelope; ds.reject: the 550 reason */
};

struct lmtp_dlv {
    struct lmtp_session *s;
    struct dspool *spool;
    enum dspool_status st;      /* of the spool's sync on the pool */
    struct lmtp_dlv_rcpt *r;    /* one per accepted recipient, RCPT order */
    size_t n, next;             /* next: the first recipient not answered */
    bool submitting;
    struct dsieve_opts *sopts;  /* copied from the configuration when a recipient runs Sieve */
};

static void rcpt_reply(struct lmtp_session *s, const char *addr, enum deliver_result res, bool perm_quota,
                       const char *reject)
{
    switch (res) {
    case DELIVER_REJECTED:
        /* RFC 5429 2.1.1 (reject/ereject at the protocol level): the
         * reason is US-ASCII on one line (delivery-sieve.c) */
        lmtp_printf(s, "550 5.7.1 %s\r\n", reject ? reject : "Message refused by the recipient's mail filter");
        break;
    case DELIVER_OK:
    case DELIVER_DUPLICATE:
        lmtp_printf(s, "250 2.1.5 <%s> Delivered\r\n", addr);
        break;
    case DELIVER_NOUSER:
        lmtp_printf(s, "550 5.1.1 <%s> User unknown\r\n", addr);
        break;
    case DELIVER_OVERQUOTA:
        if (perm_quota)
            lmtp_printf(s, "552 5.2.2 <%s> Mailbox is full (over quota)\r\n", addr);
        else
            lmtp_printf(s, "452 4.2.2 <%s> Mailbox is full (over quota)\r\n", addr);
        break;
    case DELIVER_PERMFAIL:
        lmtp_printf(s, "554 5.6.0 <%s> Message cannot be stored\r\n", addr);
        break;
    case DELIVER_BUSY:
        lmtp_printf(s, "451 4.2.0 <%s> Mailbox busy, try again later\r\n", addr);
        break;
    case DELIVER_TEMPFAIL:
    default:
        lmtp_printf(s, "451 4.3.0 <%s> Local error, try again later\r\n", addr);
        break;
    }
}

/* Every recipient answered (or the client is gone): the transaction is
 * over, the session reads again. */
static void dlv_end(struct lmtp_dlv *d)
{
    struct lmtp_session *s = d->s;
    s->dlv = NULL;
    for (size_t i = 0; i < d->n; i++)
        dsieve_end(&d->r[i].ds);
    if (d->sopts) {
        dsieve_opts_free(d->sopts);
        free(d->sopts);
    }
    free(d->r);
    free(d);
    lmtp_txn_reset(s);
    lmtp_session_unpark(s);
    lmtp_session_leave(s);
}

/* Replies in RCPT order, each as soon as its own and every earlier
 * recipient's commit finished (RFC 2033 4.2). */
static void dlv_flush(struct lmtp_dlv *d)
{
    struct lmtp_session *s = d->s;
    bool perm_quota = config_bool(CFG_LMTP_OVERQUOTA_PERM_FAILURE);
    while (d->next < d->n && d->r[d->next].done) {
        rcpt_reply(s, s->rcpts[d->next].addr, d->r[d->next].res, perm_quota, d->r[d->next].ds.reject);
        d->next++;
    }
    if (d->next == d->n)
        dlv_end(d);
}

static void rcpt_done(void *arg)
{
    struct lmtp_dlv_rcpt *r = arg;
    r->res = delivery_finish(&r->j);   /* closes the store, on the loop */
    r->done = true;
    if (!r->d->submitting)
        dlv_flush(r->d);
}

/* A recipient's Sieve run and commits, on the pool (delivery-sieve.h). */
static void sieve_job_run(struct job *job, void *arg)
{
    (void)job;
    struct lmtp_dlv_rcpt *r = arg;
    delivery_sieve_run(&r->j, &r->ds);
}

static void spool_sync_run(struct job *job, void *arg)
{
    (void)job;
    struct lmtp_dlv *d = arg;
    d->st = dspool_finish_sync(d->spool);
}

/* The spool is durable: commit it to every recipient. */
static void spool_sync_done(void *arg)
{
    struct lmtp_dlv *d = arg;
    struct lmtp_session *s = d->s;
    if (s->closed || !s->conn) {
        /* The client went away before any reply: it will send the
         * message again; nothing is delivered. */
        d->next = d->n;
        dlv_end(d);
        return;
    }
    if (d->st != DSPOOL_OK) {
        const char *reply = status_reply(d->st);
        log_info("lmtp: message refused: from=<%s> addr=%s: %s", s->mail_from ? s->mail_from : "", s->peer,
                 reply);
        for (size_t i = 0; i < d->n; i++)
            lmtp_printf(s, "%s\r\n", reply);
        d->next = d->n;
        dlv_end(d);
        return;
    }
    bool dupcheck = config_bool(CFG_DUPLICATESUPPRESSION);
    for (size_t i = 0; i < d->n; i++) {
        struct lmtp_dlv_rcpt *r = &d->r[i];
        struct lmtp_rcpt *rc = &s->rcpts[i];
        struct deliver_opts o = {
            .ignore_quota = rc->ignorequota,
            .dupcheck = dupcheck,
            .poster = s->authuser,
        };
        r->d = d;
        enum deliver_result dr = delivery_prepare(&r->j, d->spool, &rc->r, &o);
        if (dr != DELIVER_OK) {
            r->res = dr;
            r->done = true;
            continue;
        }
        if (dsieve_wanted(&r->j, &rc->r)) {
            /* the configuration is copied once, here on the loop */
            if (!d->sopts) {
                d->sopts = xmalloc(sizeof(*d->sopts));
                dsieve_opts_from_config(d->sopts);
            }
            r->sieve = true;
            r->ds.o = d->sopts;
            r->ds.lmtp = true;
            r->ds.env.from = s->mail_from ? s->mail_from : "";
            r->ds.env.to = rc->addr;
            r->ds.env.orig_to = rc->orcpt;
            r->ds.env.auth_user = s->authuser;
            dsieve_begin(&r->ds, &r->j);
        }
    }
    /* Without a pool (fuzz targets) each commit runs and completes right
     * inside jobs_submit_batch: the replies wait for the loop's end. */
    d->submitting = true;
    for (size_t i = 0; i < d->n; i++) {
        struct lmtp_dlv_rcpt *r = &d->r[i];
        if (r->done)
            continue;
        /* Keyed by the store like the plain commits, so they stay in
         * order with them; a Sieve run commits its copies itself. */
        if (r->sieve)
            jobs_submit("sieve", r->j.req.store, sieve_job_run, rcpt_done, r);
        else
            jobs_submit_batch("deliver", r->j.req.store, mailbox_append_batch, &r->j.req, rcpt_done, r);
    }
    d->submitting = false;
    dlv_flush(d);
}

static void deliver_all(struct lmtp_session *s)
{
    if (s->spool_full) {
        /* spool_max_total reached while the data came (lmtp-server.c):
         * nothing of it was kept; a temporary failure (RFC 5321 4.2.3,
         * RFC 3463 4.3.1), the MTA tries again */
        for (size_t i = 0; i < s->nrcpt; i++)
            lmtp_printf(s, "%s\r\n", SPOOL_FULL_REPLY);
        lmtp_txn_reset(s);
        return;
    }
    enum dspool_status st = s->spool ? dspool_finish_begin(s->spool) : DSPOOL_IO;
    if (st == DSPOOL_OK)
        st = dspool_status(s->spool);   /* a chunk write that failed already */
    if (st != DSPOOL_OK) {
        const char *reply = status_reply(st);
        log_info("lmtp: message refused: from=<%s> addr=%s: %s", s->mail_from ? s->mail_from : "", s->peer,
                 reply);
        for (size_t i = 0; i < s->nrcpt; i++)
            lmtp_printf(s, "%s\r\n", reply);
        lmtp_txn_reset(s);
        return;
    }
    /* Park the session: no input is read (pipelined commands wait) and
     * it stays alive until every recipient is answered (dlv_end). */
    struct lmtp_dlv *d = xcalloc(1, sizeof(*d));
    d->s = s;
    d->spool = s->spool;
    d->n = s->nrcpt;
    d->r = xcalloc(d->n, sizeof(*d->r));
    s->dlv = d;
    lmtp_session_enter(s);
    if (s->conn)
        conn_pause_input(s->conn);
    /* the rest of the file and its fsync, after the chunks (same key) */
    jobs_submit("spool", d->spool, spool_sync_run, spool_sync_done, d);
}

void lmtp_data_done(struct lmtp_session *s)
{
    s->in = IN_CMD;
    deliver_all(s);
}

static void cmd_bdat(struct lmtp_session *s, const char *arg)
{
    /* RFC 3030 2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] */
    const char *p = arg;
    size_t nd = 0;
    uint64_t size = 0;
    while (isdigit((unsigned char)p[nd])) {
        if (nd >= 18)
            break;
        size = size * 10 + (uint64_t)(p[nd] - '0');
        nd++;
    }
    const char *rest = p + nd;
    bool last = false;
    if (nd == 0 || isdigit((unsigned char)*rest)) {
        /* The chunk length is unknown: the byte stream cannot be followed. */
        lmtp_session_close(s, "501 5.5.4 Invalid BDAT chunk size; closing connection");
        return;
    }
    if (*rest) {
        if (strcasecmp(rest, " LAST") == 0)
            last = true;
        else {
            lmtp_session_close(s, "501 5.5.4 Syntax: BDAT size [LAST]; closing connection");
            return;
        }
    }
    s->bdat_left = size;
    s->bdat_last = last;
    s->bdat_err = NULL;
    if (!s->have_mail)
        s->bdat_err = "503 5.5.1 Need MAIL command";
    else if (!s->nrcpt)
        s->bdat_err = "503 5.5.1 No valid recipients";
    else if (!s->spool && !start_spool(s))
        s->bdat_err = "451 4.3.0 Cannot create a spool file";
    if (!s->bdat_err)
        s->bdat_started = true;
    s->in = IN_BDAT;
    if (size == 0)
        lmtp_bdat_done(s);
}

void lmtp_bdat_done(struct lmtp_session *s)
{
    s->in = IN_CMD;
    if (s->bdat_err) {
        lmtp_printf(s, "%s\r\n", s->bdat_err);
        s->bdat_err = NULL;
        /* A failed chunk fails the transaction (RFC 3030 4). */
        if (s->bdat_started)
            lmtp_txn_reset(s);
        return;
    }
    if (!s->bdat_last) {
        enum dspool_status st = s->spool ? dspool_status(s->spool) : DSPOOL_IO;
        if (s->spool_full) {
            /* RFC 3030 4: a failed chunk fails the transaction */
            lmtp_printf(s, "%s\r\n", SPOOL_FULL_REPLY);
            lmtp_txn_reset(s);
            return;
        }
        if (st != DSPOOL_OK) {
            lmtp_printf(s, "%s\r\n", status_reply(st));
            lmtp_txn_reset(s);
            return;
        }
        lmtp_printf(s, "250 2.0.0 %llu octets received\r\n", (unsigned long long)dspool_size(s->spool));
        return;
    }
    deliver_all(s);
}

/* ---- dispatch -------------------------------------------------------------- */

void lmtp_execute(struct lmtp_session *s, char *line, size_t len)
{
    if (memchr(line, '\0', len)) {
        lmtp_printf(s, "500 5.5.2 Invalid characters in command\r\n");
        return;
    }
    char *arg = line;
    while (*arg && *arg != ' ')
        arg++;
    size_t kwlen = (size_t)(arg - line);
    if (*arg)
        *arg++ = '\0';
    /* tolerate trailing spaces after the argument */
    size_t al = strlen(arg);
    while (al && arg[al - 1] == ' ')
        arg[--al] = '\0';
    if (kwlen == 0 || kwlen > 10) {
        lmtp_printf(s, "500 5.5.2 Syntax error, command unrecognized\r\n");
        return;
    }
    if (strcasecmp(line, "LHLO") == 0)
        cmd_lhlo(s, arg);
    else if (strcasecmp(line, "MAIL") == 0)
        cmd_mail(s, arg);
    else if (strcasecmp(line, "RCPT") == 0)
        cmd_rcpt(s, arg);
    else if (strcasecmp(line, "DATA") == 0)
        cmd_data(s, arg);
    else if (strcasecmp(line, "BDAT") == 0)
        cmd_bdat(s, arg);
    else if (strcasecmp(line, "RSET") == 0) {
        lmtp_txn_reset(s);
        lmtp_printf(s, "250 2.0.0 OK\r\n");
    } else if (strcasecmp(line, "NOOP") == 0)
        lmtp_printf(s, "250 2.0.0 OK\r\n");
    else if (strcasecmp(line, "QUIT") == 0) {
        lmtp_printf(s, "221 2.0.0 %s closing connection\r\n", delivery_servername());
        lmtp_txn_reset(s);
        s->quitting = true;
        conn_pause_input(s->conn);
        conn_close(s->conn);
    } else if (strcasecmp(line, "VRFY") == 0)
        lmtp_printf(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n");
    else if (strcasecmp(line, "EXPN") == 0)
        lmtp_printf(s, "502 5.5.1 Command not implemented\r\n");
    else if (strcasecmp(line, "HELP") == 0)
        lmtp_printf(s, "214 2.0.0 LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS AUTH\r\n");
    else if (strcasecmp(line, "STARTTLS") == 0)
        cmd_starttls(s, arg);
    else if (strcasecmp(line, "AUTH") == 0)
        cmd_auth(s, arg);
    else if (strcasecmp(line, "HELO") == 0 || strcasecmp(line, "EHLO") == 0)
        /* RFC 2033 4.1: an LMTP server answers HELO/EHLO with an error. */
        lmtp_printf(s, "500 5.5.1 This is an LMTP server: use LHLO\r\n");
    else
        lmtp_printf(s, "500 5.5.2 Syntax error, command unrecognized\r\n");
}
