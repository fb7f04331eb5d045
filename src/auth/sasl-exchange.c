/* sasl-exchange.c - one server-side SASL exchange, the same for every
 * protocol (sasl-exchange.h). */
#include "sasl-exchange.h"
#include "base64.h"
#include "log.h"
#include <ctype.h>

static void wipe_data(struct sasl_exchange *ex)
{
    if (ex->data.data)
        explicit_bzero(ex->data.data, ex->data.cap);
    buf_free(&ex->data);
    ex->data = (struct buf)BUF_INIT;
}

static void end_session(struct sasl_exchange *ex)
{
    if (ex->sasl)
        sasl_free(ex->sasl);
    ex->sasl = NULL;
    ex->waiting = false;
    ex->final_sent = false;
    ex->verifying = false;
}

void sasl_ex_reset(struct sasl_exchange *ex)
{
    end_session(ex);
    wipe_data(ex);
    explicit_bzero(ex->user, sizeof(ex->user));
    explicit_bzero(ex->attempted, sizeof(ex->attempted));
    ex->mech[0] = '\0';
    ex->anonymous = false;
}

/* What sasl_step or sasl_verify_result said, as the next step. */
static enum sasl_ex_step outcome(struct sasl_exchange *ex, enum sasl_result r)
{
    switch (r) {
    case SASL_CONTINUE:
        ex->waiting = true;
        return SASL_EX_CHALLENGE;
    case SASL_VERIFY:
        ex->waiting = false;
        ex->verifying = true;
        return SASL_EX_VERIFY;
    case SASL_DONE: {
        snprintf(ex->user, sizeof(ex->user), "%s", sasl_username(ex->sasl));
        ex->anonymous = sasl_is_anonymous(ex->sasl);
        const char *proxy = sasl_proxy_authcid(ex->sasl);
        if (proxy)
            log_notice("%s: proxy login: authcid=%s user=%s addr=%s", ex->proto, proxy, ex->user,
                       ex->peer ? ex->peer : "-");
        if (ex->data.len && !ex->final_with_success) {
            /* IMAP, POP3 (RFC 5034 4) and LMTP have no room for data with
             * the success reply: it goes as a challenge, and the client
             * answers with an empty response (RFC 4422 3.6). */
            ex->waiting = true;
            ex->final_sent = true;
            return SASL_EX_CHALLENGE;
        }
        end_session(ex);
        return SASL_EX_SUCCESS;
    }
    case SASL_FAIL:
    case SASL_BADPROT:
    default: {
        const char *t = sasl_attempted_user(ex->sasl);
        snprintf(ex->attempted, sizeof(ex->attempted), "%s", t ? t : "");
        end_session(ex);
        return SASL_EX_FAILED;
    }
    }
}

/* Feed one decoded client message (in NULL: no initial response). */
static enum sasl_ex_step feed(struct sasl_exchange *ex, const unsigned char *in, size_t len)
{
    wipe_data(ex);
    return outcome(ex, sasl_step(ex->sasl, in, len, &ex->data));
}

/* Decode base64 text and feed it; an invalid one ends the exchange. */
static enum sasl_ex_step feed_b64(struct sasl_exchange *ex, const char *text, size_t len)
{
    struct buf dec = BUF_INIT;
    enum sasl_ex_step r;
    if (!base64_decode_strict(text, len, &dec)) {
        end_session(ex);
        r = SASL_EX_BAD_BASE64;
    } else {
        /* buf_cstr: never NULL, also for an empty message */
        r = feed(ex, (const unsigned char *)buf_cstr(&dec), dec.len);
    }
    if (dec.data)
        explicit_bzero(dec.data, dec.cap);
    buf_free(&dec);
    return r;
}

enum sasl_ex_step sasl_ex_start(struct sasl_exchange *ex, const char *mech, const struct sasl_params *p,
                                const struct sasl_ex_options *o, const char *ir, size_t ir_len)
{
    sasl_ex_reset(ex);
    snprintf(ex->proto, sizeof(ex->proto), "%s", o && o->proto ? o->proto : "");
    ex->peer = o ? o->peer : NULL;
    ex->final_with_success = o && o->final_with_success;
    size_t n = strlen(mech);
    if (n >= sizeof(ex->mech))
        return SASL_EX_NO_MECH;
    for (size_t i = 0; i <= n; i++)
        ex->mech[i] = (char)toupper((unsigned char)mech[i]);
    ex->sasl = sasl_start(ex->mech, p);
    if (!ex->sasl) {
        /* sasl_start refuses PLAIN and LOGIN without TLS unless plaintext
         * is allowed: say that rather than "unknown mechanism" */
        bool plain = strcmp(ex->mech, "PLAIN") == 0 || strcmp(ex->mech, "LOGIN") == 0;
        return plain && !p->tls && !p->allow_plaintext ? SASL_EX_PLAINTEXT : SASL_EX_NO_MECH;
    }
    if (!ir)
        return feed(ex, NULL, 0);
    /* RFC 4959 and RFC 5034 4, RFC 4954 4: "=" is an empty initial
     * response, as opposed to none at all. */
    if (ir_len == 1 && ir[0] == '=')
        return feed(ex, (const unsigned char *)"", 0);
    return feed_b64(ex, ir, ir_len);
}

enum sasl_ex_step sasl_ex_response(struct sasl_exchange *ex, const char *text, size_t len)
{
    if (!ex->waiting || !ex->sasl) {
        end_session(ex);
        return SASL_EX_UNEXPECTED;
    }
    ex->waiting = false;
    if (len == 1 && text[0] == '*') {
        /* RFC 4422 3.5: the client aborts the exchange */
        end_session(ex);
        return SASL_EX_CANCELLED;
    }
    if (ex->final_sent) {
        end_session(ex);
        return len == 0 ? SASL_EX_SUCCESS : SASL_EX_UNEXPECTED;
    }
    return feed_b64(ex, text, len);
}

enum sasl_ex_step sasl_ex_verified(struct sasl_exchange *ex, const struct auth_reply *rep)
{
    if (!ex->verifying || !ex->sasl) {
        end_session(ex);
        return SASL_EX_FAILED;
    }
    ex->verifying = false;
    wipe_data(ex);
    enum sasl_result r = sasl_verify_result(ex->sasl, rep->status == AUTH_STATUS_OK, rep->user);
    if (rep->status == AUTH_STATUS_TEMPFAIL) {
        const char *t = sasl_attempted_user(ex->sasl);
        snprintf(ex->attempted, sizeof(ex->attempted), "%s", t ? t : "");
        end_session(ex);
        return SASL_EX_TEMPFAIL;
    }
    return outcome(ex, r);
}

void sasl_ex_credentials(const struct sasl_exchange *ex, const char **authcid, const char **password)
{
    *authcid = *password = "";
    if (ex->sasl && ex->verifying)
        sasl_verify_credentials(ex->sasl, authcid, password);
}

void sasl_ex_forget_password(struct sasl_exchange *ex)
{
    if (ex->sasl)
        sasl_verify_forget(ex->sasl);
}

bool sasl_ex_waiting(const struct sasl_exchange *ex)
{
    return ex->waiting;
}

bool sasl_ex_verifying(const struct sasl_exchange *ex)
{
    return ex->verifying;
}

const unsigned char *sasl_ex_data(const struct sasl_exchange *ex, size_t *len)
{
    *len = ex->data.len;
    return (const unsigned char *)(ex->data.len ? ex->data.data : "");
}

void sasl_ex_data_b64(const struct sasl_exchange *ex, struct buf *out)
{
    if (ex->data.len)
        base64_encode((const unsigned char *)ex->data.data, ex->data.len, out);
}

const char *sasl_ex_mech(const struct sasl_exchange *ex)
{
    return ex->mech;
}

const char *sasl_ex_user(const struct sasl_exchange *ex)
{
    return ex->user;
}

const char *sasl_ex_attempted(const struct sasl_exchange *ex)
{
    return ex->attempted;
}

bool sasl_ex_is_anonymous(const struct sasl_exchange *ex)
{
    return ex->anonymous;
}
