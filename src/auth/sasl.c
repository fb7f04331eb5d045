/* sasl.c - SASL mechanism registry and sessions (RFC 4422).
 *
 * PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login: "Username:" and
 * "Password:" challenges, as widely deployed), SCRAM (scram.c) and
 * ANONYMOUS (RFC 4505; only with "allowanonymouslogin: yes" and only for
 * protocols that set sasl_params.allow_anonymous).
 * Every client message is bounded (SASL_MAX_MESSAGE) and every field
 * (AUTH_MAX_USERNAME, AUTH_MAX_PASSWORD) before it is used.
 */
#include "auth-private.h"
#include "config.h"
#include "log.h"
#include <openssl/crypto.h>

struct mech_desc {
    const char *name;
    enum sasl_mech_id id;
    bool plaintext; /* sends the password: needs TLS or allow_plaintext */
    bool plus;      /* needs channel binding data */
    bool anonymous; /* needs allow_anonymous + allowanonymouslogin */
};

/* Advertised in this order: strongest first. */
static const struct mech_desc mechs[] = {
    {"SCRAM-SHA-256-PLUS", MECH_SCRAM_SHA256_PLUS, false, true, false},
    {"SCRAM-SHA-256", MECH_SCRAM_SHA256, false, false, false},
    {"SCRAM-SHA-1-PLUS", MECH_SCRAM_SHA1_PLUS, false, true, false},
    {"SCRAM-SHA-1", MECH_SCRAM_SHA1, false, false, false},
    {"PLAIN", MECH_PLAIN, true, false, false},
    {"LOGIN", MECH_LOGIN, true, false, false},
    /* no secret is sent, so no TLS requirement (RFC 4505 4) */
    {"ANONYMOUS", MECH_ANONYMOUS, false, false, true},
};

bool auth_anonymous_allowed(void)
{
    return config_bool(CFG_ALLOWANONYMOUSLOGIN);
}

static bool mech_allowed(const struct mech_desc *m, const struct sasl_params *p)
{
    if (m->plaintext && !p->tls && !p->allow_plaintext)
        return false;
    if (m->plus && p->cb_len != 32)
        return false;
    if (m->anonymous && (!p->allow_anonymous || !auth_anonymous_allowed()))
        return false;
    return true;
}

void sasl_mechanisms(const struct sasl_params *p, struct buf *out)
{
    bool first = true;
    for (size_t i = 0; i < ARRAY_SIZE(mechs); i++) {
        if (!mech_allowed(&mechs[i], p))
            continue;
        if (!first)
            buf_putc(out, ' ');
        buf_puts(out, mechs[i].name);
        first = false;
    }
    if (!out->data)
        buf_append(out, "", 0);
}

struct sasl_session *sasl_start(const char *mech, const struct sasl_params *p)
{
    if (!mech || !p)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(mechs); i++) {
        /* Mechanism names are case-insensitive in IMAP AUTHENTICATE. */
        if (strcasecmp(mech, mechs[i].name) != 0)
            continue;
        if (!mech_allowed(&mechs[i], p))
            return NULL;
        struct sasl_session *s = xcalloc(1, sizeof(*s));
        s->mech = mechs[i].id;
        s->p = *p;
        if (s->p.cb_len > sizeof(s->p.cb_data))
            s->p.cb_len = 0;
        s->plus = mechs[i].plus;
        s->hash = (s->mech == MECH_SCRAM_SHA1 || s->mech == MECH_SCRAM_SHA1_PLUS) ? SCRAM_SHA1 : SCRAM_SHA256;
        s->cbflag = 'n';
        return s;
    }
    return NULL;
}

void sasl_set_attempted(struct sasl_session *s, const char *name, size_t len)
{
    size_t n = MIN(len, sizeof(s->attempted) - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        s->attempted[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    s->attempted[n] = '\0';
}

/* Domain of a canonical user id under virtdomains ("" = the default
 * domain, which canonical ids carry no part for). */
static const char *id_domain(const char *id)
{
    if (!config_bool(CFG_VIRTDOMAINS))
        return "";
    const char *at = strrchr(id, '@');
    return at ? at + 1 : "";
}

/* May authcid (canonical) act as other users, and which? 0: no; 1: any
 * user; 2: only users of *domain. An entry "name@domain" is confined to
 * its domain. Under virtdomains the id of a default-domain user carries
 * no domain part ("webmail@DEFAULTDOMAIN" is "webmail"), so - as in
 * "admins" (access_who_init) - the entry written with the default domain
 * is checked too and confines it to the default domain, while a bare
 * entry is a proxy for every domain. */
static int proxy_scope(const char *authcid, const char **domain)
{
    *domain = "";
    if (config_is_proxyserver(authcid)) {
        *domain = id_domain(authcid);
        return **domain ? 2 : 1;
    }
    const char *dd = config_str(CFG_DEFAULTDOMAIN);
    if (config_bool(CFG_VIRTDOMAINS) && *dd && !strchr(authcid, '@')) {
        char full[AUTH_MAX_USERNAME + 256 + 2];
        snprintf(full, sizeof(full), "%s@%s", authcid, dd);
        if (config_is_proxyserver(full))
            return 2;
    }
    return 0;
}

/* SASL proxy authorization (RFC 4422 3.4.1: authzid differs from authcid).
 * Only identities listed in "proxyservers" may act as another user, as in
 * Cyrus; being in "admins" grants nothing here (an admin has admin rights
 * as itself, and a domain admin must never become a user, or a global
 * admin, outside its domain). A proxyserver listed with a domain part is
 * likewise confined to its own domain; one of the default domain never
 * becomes a global admin (bare names in "admins", who live in that
 * domain). The identity becomes must be able to log in: a locked account
 * (no password yet) is refused as for a password login. Every proxy login
 * and every refusal is logged with both identities. */
bool sasl_authorize(struct sasl_session *s, const char *authcid, const char *authzid)
{
    char az[AUTH_MAX_USERNAME + 1];
    s->proxy_authcid[0] = '\0';
    if (!authzid || !*authzid) {
        snprintf(s->username, sizeof(s->username), "%s", authcid);
        return true;
    }
    if (!userdb_normalize_name(authzid, az)) {
        log_notice("auth: proxy authorization refused (invalid authzid): authcid=%s", authcid);
        return false;
    }
    if (strcmp(az, authcid) == 0) {
        snprintf(s->username, sizeof(s->username), "%s", authcid);
        return true;
    }
    const char *pd;
    int scope = proxy_scope(authcid, &pd);
    if (!scope) {
        log_notice("auth: proxy authorization refused (not in proxyservers): authcid=%s authzid=%s", authcid, az);
        return false;
    }
    if (scope == 2 && (strcmp(pd, id_domain(az)) != 0 || (!*pd && config_is_admin(az)))) {
        log_notice("auth: proxy authorization refused (outside the proxy's domain): authcid=%s authzid=%s",
                   authcid, az);
        return false;
    }
    int ok = userdb_can_login(az);
    if (ok != 1) {
        log_notice("auth: proxy authorization refused (%s): authcid=%s authzid=%s",
                   ok < 0 ? "user database error" : userdb_exists(az) == 1 ? "account locked" : "no such user",
                   authcid, az);
        return false;
    }
    snprintf(s->username, sizeof(s->username), "%s", az);
    snprintf(s->proxy_authcid, sizeof(s->proxy_authcid), "%s", authcid);
    log_notice("auth: proxy authorization: authcid=%s authzid=%s", authcid, az);
    return true;
}

const char *sasl_proxy_authcid(const struct sasl_session *s)
{
    return s && s->proxy_authcid[0] ? s->proxy_authcid : NULL;
}

/* A (raw) authcid and its password are complete: the exchange waits for
 * the front-end to have them checked (SASL_VERIFY, sasl_verify_result).
 * Nothing is verified here: a password hash takes tens of milliseconds
 * and runs on the authentication service's pool, never on a loop. */
static enum sasl_result request_verify(struct sasl_session *s, const char *authzid, const char *authcid,
                                       const char *password)
{
    sasl_set_attempted(s, authcid, strlen(authcid));
    snprintf(s->verify_user, sizeof(s->verify_user), "%s", authcid);
    free(s->authzid);
    s->authzid = authzid && *authzid ? xstrdup(authzid) : NULL;
    s->verify_pw = xstrdup(password);
    s->verifying = true;
    return SASL_VERIFY;
}

void sasl_verify_credentials(const struct sasl_session *s, const char **authcid, const char **password)
{
    *authcid = s && s->verifying ? s->verify_user : "";
    *password = s && s->verifying && s->verify_pw ? s->verify_pw : "";
}

static void forget_password(struct sasl_session *s)
{
    if (s->verify_pw) {
        OPENSSL_cleanse(s->verify_pw, strlen(s->verify_pw));
        free(s->verify_pw);
        s->verify_pw = NULL;
    }
}

void sasl_verify_forget(struct sasl_session *s)
{
    if (s)
        forget_password(s);
}

enum sasl_result sasl_verify_result(struct sasl_session *s, bool ok, const char *user)
{
    if (!s || !s->verifying)
        return SASL_BADPROT;
    s->verifying = false;
    s->finished = true;
    forget_password(s);
    enum sasl_result r = SASL_FAIL;
    if (ok && user && *user) {
        sasl_set_attempted(s, user, strlen(user));
        if (sasl_authorize(s, user, s->authzid ? s->authzid : ""))
            r = SASL_DONE;
    }
    if (r != SASL_DONE)
        s->username[0] = '\0';
    return r;
}

/* RFC 4616: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static enum sasl_result plain_step(struct sasl_session *s, const char *in, size_t len, struct buf *out)
{
    (void)out;
    if (s->state == 0 && len == 0) {
        s->state = 1; /* no initial response: empty challenge */
        return SASL_CONTINUE;
    }
    s->state = 2;
    const char *nul1 = memchr(in, '\0', len);
    if (!nul1)
        return SASL_BADPROT;
    const char *cid = nul1 + 1;
    const char *nul2 = memchr(cid, '\0', len - (size_t)(cid - in));
    if (!nul2)
        return SASL_BADPROT;
    const char *pw = nul2 + 1;
    size_t azlen = (size_t)(nul1 - in), cidlen = (size_t)(nul2 - cid), pwlen = len - (size_t)(pw - in);
    if (memchr(pw, '\0', pwlen))
        return SASL_BADPROT;
    if (cidlen == 0 || pwlen == 0 || azlen > AUTH_MAX_USERNAME || cidlen > AUTH_MAX_USERNAME ||
        pwlen > AUTH_MAX_PASSWORD)
        return SASL_BADPROT;
    char *az = xstrndup(in, azlen), *cidz = xstrndup(cid, cidlen), *pwz = xstrndup(pw, pwlen);
    enum sasl_result r = request_verify(s, az, cidz, pwz);
    OPENSSL_cleanse(pwz, pwlen);
    free(az);
    free(cidz);
    free(pwz);
    return r;
}

static enum sasl_result login_step(struct sasl_session *s, const char *in, size_t len, struct buf *out)
{
    switch (s->state) {
    case 0:
        if (len == 0) {
            s->state = 1;
            buf_puts(out, "Username:");
            return SASL_CONTINUE;
        }
        /* Some clients send the user name as initial response. */
        /* fall through */
    case 1:
        if (len == 0 || len > AUTH_MAX_USERNAME || memchr(in, '\0', len))
            return SASL_BADPROT;
        s->login_user = xstrndup(in, len);
        sasl_set_attempted(s, in, len);
        s->state = 2;
        buf_puts(out, "Password:");
        return SASL_CONTINUE;
    case 2: {
        s->state = 3;
        if (len == 0 || len > AUTH_MAX_PASSWORD || memchr(in, '\0', len))
            return SASL_BADPROT;
        char *pw = xstrndup(in, len);
        enum sasl_result r = request_verify(s, "", s->login_user, pw);
        OPENSSL_cleanse(pw, len);
        free(pw);
        return r;
    }
    default:
        return SASL_BADPROT;
    }
}

void auth_log_anonymous(const char *proto, const char *peer, const char *trace, size_t len)
{
    char shown[SASL_ANONYMOUS_MAX_TRACE + 1];
    size_t n = MIN(len, sizeof(shown) - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)trace[i];
        shown[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    shown[n] = '\0';
    log_info("%s: anonymous login: addr=%s trace=\"%s\"", proto, peer ? peer : "-", shown);
}

/* RFC 4505 2: message = [ email / token ]; a single client message. The
 * trace is information for the log only, never an identity; we bound it
 * (255 characters = at most 1020 octets of UTF-8) and refuse NUL. With no
 * initial response the client gets an empty challenge (as PLAIN). */
static enum sasl_result anonymous_step(struct sasl_session *s, const char *in, size_t len, struct buf *out)
{
    (void)out;
    if (s->state == 0 && len == 0) {
        s->state = 1;
        return SASL_CONTINUE;
    }
    s->state = 2;
    if (len > SASL_ANONYMOUS_MAX_TRACE || memchr(in, '\0', len))
        return SASL_BADPROT;
    free(s->trace);
    s->trace = xstrndup(in, len);
    s->trace_len = len;
    snprintf(s->username, sizeof(s->username), "%s", AUTH_ANONYMOUS_USER);
    sasl_set_attempted(s, AUTH_ANONYMOUS_USER, strlen(AUTH_ANONYMOUS_USER));
    auth_log_anonymous("sasl", NULL, in, len);
    return SASL_DONE;
}

enum sasl_result sasl_step(struct sasl_session *s, const unsigned char *in, size_t len, struct buf *out)
{
    if (!s || s->finished || s->verifying)
        return SASL_BADPROT;
    if (!in)
        len = 0;
    enum sasl_result r;
    if (len > SASL_MAX_MESSAGE) {
        r = SASL_BADPROT;
    } else {
        const char *cin = in ? (const char *)in : "";
        switch (s->mech) {
        case MECH_PLAIN:
            r = plain_step(s, cin, len, out);
            break;
        case MECH_LOGIN:
            r = login_step(s, cin, len, out);
            break;
        case MECH_ANONYMOUS:
            r = anonymous_step(s, cin, len, out);
            break;
        default:
            r = scram_step(s, cin, len, out);
            break;
        }
    }
    if (r != SASL_CONTINUE && r != SASL_VERIFY)
        s->finished = true;
    if (r != SASL_DONE)
        s->username[0] = '\0';
    if (!out->data)
        buf_append(out, "", 0);
    return r;
}

const char *sasl_username(const struct sasl_session *s)
{
    return s->username;
}

bool sasl_is_anonymous(const struct sasl_session *s)
{
    return s && s->mech == MECH_ANONYMOUS && s->finished && s->username[0] != '\0';
}

const char *sasl_attempted_user(const struct sasl_session *s)
{
    return s->attempted;
}

void sasl_free(struct sasl_session *s)
{
    if (!s)
        return;
    scram_session_free(s);
    forget_password(s);
    free(s->login_user);
    free(s->trace);
    free(s);
}
