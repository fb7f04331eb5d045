/* auth-private.h - internals shared between sasl.c and scram.c. */
#ifndef DARIUS_AUTH_PRIVATE_H
#define DARIUS_AUTH_PRIVATE_H

#include "auth.h"

/* Upper bound for one client SASL message (after base64 decoding). */
#define SASL_MAX_MESSAGE 8192

enum sasl_mech_id {
    MECH_PLAIN,
    MECH_LOGIN,
    MECH_SCRAM_SHA1,
    MECH_SCRAM_SHA256,
    MECH_SCRAM_SHA1_PLUS,
    MECH_SCRAM_SHA256_PLUS,
    MECH_ANONYMOUS,
};

struct sasl_session {
    enum sasl_mech_id mech;
    struct sasl_params p;
    int state;      /* mechanism-specific step counter */
    bool finished;  /* DONE/FAIL/BADPROT returned: no further steps */
    char username[AUTH_MAX_USERNAME + 1];  /* authorization identity after DONE */
    char attempted[AUTH_MAX_USERNAME + 1]; /* for logging after FAIL */
    char proxy_authcid[AUTH_MAX_USERNAME + 1]; /* "" unless a proxy login */
    /* PLAIN, LOGIN: credentials waiting for the authentication service
     * (SASL_VERIFY); the password is wiped by sasl_verify_result */
    bool verifying;
    char verify_user[AUTH_MAX_USERNAME + 1];
    char *verify_pw;
    /* LOGIN */
    char *login_user;
    /* ANONYMOUS: trace information (logged) */
    char *trace;
    size_t trace_len;
    /* SCRAM */
    enum scram_hash hash;
    bool plus;
    bool fake;           /* unknown user: run the exchange, fail at the end */
    char cbflag;         /* 'n', 'y' or 'p' */
    char authcid[AUTH_MAX_USERNAME + 1];
    char *authzid;       /* raw (unescaped), NULL when absent; also PLAIN's */
    struct buf gs2_header;
    struct buf client_first_bare;
    struct buf server_first;
    char *nonce;         /* client nonce + server nonce */
    struct scram_keys keys;
};

enum sasl_result scram_step(struct sasl_session *s, const char *in, size_t len, struct buf *out);
void scram_session_free(struct sasl_session *s);

/* Decide the authorization identity once authcid has proved its
 * credentials; fills s->username. false = not permitted. */
bool sasl_authorize(struct sasl_session *s, const char *authcid, const char *authzid);
/* Copy a client-supplied name into s->attempted, made safe for logs. */
void sasl_set_attempted(struct sasl_session *s, const char *name, size_t len);

#endif
