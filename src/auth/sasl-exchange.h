/* sasl-exchange.h - the server side of one SASL exchange (RFC 4422 3),
 * driven the same way by every protocol: IMAP AUTHENTICATE (RFC 9051
 * 6.2.2, SASL-IR RFC 4959), POP3 AUTH (RFC 5034), LMTP AUTH (RFC 4954)
 * and ManageSieve AUTHENTICATE (RFC 5804 2.1).
 *
 * The driver owns the state machine: starting the mechanism, decoding the
 * initial response and each client response (base64, "=" for an empty
 * initial response, "*" to cancel), handing a PLAIN/LOGIN password to the
 * authentication service and taking its answer back, final server data
 * (SCRAM's v=) sent as one more challenge answered by an empty response
 * or, where the protocol can carry it (ManageSieve "OK (SASL ...)"),
 * along with the success, and the proxy-login log line. It never writes
 * to the client: every call returns the next step, and the protocol says
 * it in its own words (a "+ " or "334 " line, a quoted string, a tagged
 * NO, a 535, ...) and keeps its own rules (delays, failure counts,
 * who may log in).
 *
 * Input to the driver is what the client sent with the protocol framing
 * removed: the base64 text of a response line (IMAP, POP3, LMTP) or of a
 * string (ManageSieve: quoted or literal). Lengths are the caller's to
 * bound (a line limit); decoded messages are bounded again by the
 * mechanisms (SASL_MAX_MESSAGE). Everything secret (decoded responses,
 * challenges, the password) is wiped when dropped.
 */
#ifndef DARIUS_SASL_EXCHANGE_H
#define DARIUS_SASL_EXCHANGE_H

#include "auth.h"
#include "auth-service.h"
#include "buf.h"

/* Longer mechanism names are unknown (the longest is SCRAM-SHA-256-PLUS). */
#define SASL_EX_MECH_MAX 32

enum sasl_ex_step {
    /* Send sasl_ex_data() as a challenge (sasl_ex_challenge_b64 encodes
     * it); the client's response goes to sasl_ex_response(). */
    SASL_EX_CHALLENGE,
    /* PLAIN or LOGIN: have sasl_ex_credentials() checked by the
     * authentication service (auth_verify), call sasl_ex_forget_password()
     * once it has its copy, and give its answer to sasl_ex_verified(). */
    SASL_EX_VERIFY,
    /* Authenticated as sasl_ex_user() (sasl_ex_is_anonymous() for
     * ANONYMOUS). With final_with_success, sasl_ex_data() may hold final
     * server data to send with the success reply. */
    SASL_EX_SUCCESS,
    /* Wrong credentials or a malformed exchange; sasl_ex_attempted() names
     * who was tried ("" when nobody). */
    SASL_EX_FAILED,
    /* The authentication service could not answer: not the client's fault. */
    SASL_EX_TEMPFAIL,
    /* The client sent "*" (RFC 4422 3.5). */
    SASL_EX_CANCELLED,
    /* The initial response or a response is not valid base64. */
    SASL_EX_BAD_BASE64,
    /* Data where the empty response to final server data was due. */
    SASL_EX_UNEXPECTED,
    /* The mechanism is unknown or not offered with these parameters. */
    SASL_EX_NO_MECH,
    /* PLAIN or LOGIN on a connection without TLS where plaintext
     * authentication is refused (say so: RFC 5530 PRIVACYREQUIRED, 538). */
    SASL_EX_PLAINTEXT,
};

struct sasl_ex_options {
    const char *proto;      /* "imap", "pop3", ...: for the log lines */
    const char *peer;       /* the client's address, for the log lines */
    /* Final server data goes with the success (ManageSieve, RFC 5804 2.1:
     * OK (SASL "...")); otherwise it is sent as a challenge and the empty
     * response awaited (IMAP, POP3, LMTP have no room for it). */
    bool final_with_success;
};

/* All private; zero-initialised (or after sasl_ex_reset) it is idle. */
struct sasl_exchange {
    struct sasl_session *sasl;
    char mech[SASL_EX_MECH_MAX];
    char proto[8];
    const char *peer;
    bool final_with_success;
    bool waiting;           /* a response is due */
    bool final_sent;        /* final server data was the last challenge */
    bool verifying;         /* SASL_EX_VERIFY returned, answer pending */
    bool anonymous;
    struct buf data;
    char user[AUTH_MAX_USERNAME + 1];
    char attempted[AUTH_MAX_USERNAME + 1];
};

/* Start mech (case as given; compared uppercased) with these parameters.
 * ir: the initial response's base64 text (ir_len bytes), "=" for an empty
 * one, NULL for none. Any earlier exchange is reset first. */
enum sasl_ex_step sasl_ex_start(struct sasl_exchange *ex, const char *mech, const struct sasl_params *p,
                                const struct sasl_ex_options *o, const char *ir, size_t ir_len);
/* The client's response to a SASL_EX_CHALLENGE: base64 text, or "*". */
enum sasl_ex_step sasl_ex_response(struct sasl_exchange *ex, const char *text, size_t len);
/* The authentication service's answer after SASL_EX_VERIFY. */
enum sasl_ex_step sasl_ex_verified(struct sasl_exchange *ex, const struct auth_reply *rep);

/* After SASL_EX_VERIFY: the identity and password to check (valid until
 * sasl_ex_forget_password, the next step or reset). */
void sasl_ex_credentials(const struct sasl_exchange *ex, const char **authcid, const char **password);
void sasl_ex_forget_password(struct sasl_exchange *ex);

/* A response is due (the next client line belongs to the exchange). */
bool sasl_ex_waiting(const struct sasl_exchange *ex);
/* SASL_EX_VERIFY was returned and sasl_ex_verified not yet called. */
bool sasl_ex_verifying(const struct sasl_exchange *ex);

/* The challenge or final server data of the last step (may be empty). */
const unsigned char *sasl_ex_data(const struct sasl_exchange *ex, size_t *len);
/* Append the data's base64 form to out (nothing when empty). */
void sasl_ex_data_b64(const struct sasl_exchange *ex, struct buf *out);

const char *sasl_ex_mech(const struct sasl_exchange *ex);
const char *sasl_ex_user(const struct sasl_exchange *ex);
const char *sasl_ex_attempted(const struct sasl_exchange *ex);
bool sasl_ex_is_anonymous(const struct sasl_exchange *ex);

/* Forget everything (wiped); idle again. Idempotent. */
void sasl_ex_reset(struct sasl_exchange *ex);

#endif
