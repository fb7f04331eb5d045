/* managesieve-private.h - internals shared by the ManageSieve files. */
#ifndef DARIUS_MANAGESIEVE_PRIVATE_H
#define DARIUS_MANAGESIEVE_PRIVATE_H

#include "managesieve.h"
#include "managesieve-reader.h"
#include "auth.h"
#include "sasl-exchange.h"
#include "connlimits.h"
#include "frontend.h"
#include "storage.h"

/* Literals before authentication carry at most a SASL response; after
 * it the limit is sieve_maxscriptsize (a PUTSCRIPT's script). */
#define MSV_PREAUTH_LITERAL 16384

/* What a delay timer finishes (failed-login throttling, connlimits.h). */
enum msv_deferred { MSV_DEF_NONE, MSV_DEF_AUTH_START, MSV_DEF_FAIL_REPLY };

struct msv_session {
    struct fe_link link;        /* the worker's ManageSieve sessions */
    struct conn *conn;
    char peer[64];
    bool is_unix;
    bool tls;                   /* STARTTLS done */
    bool closed;                /* conn gone */
    bool quitting;              /* LOGOUT answered or closing */
    bool parked;                /* a job runs (msv_park) */
    int busy;
    bool counted_conn, counted_user;
    unsigned auth_failures;
    uint64_t last_activity, connected_at;
    uint64_t timeout_timer, defer_timer, kick_timer;
    /* STARTTLS: the capabilities wait for the end of the handshake (the
     * -PLUS mechanisms need its channel binding); input waits with them */
    uint64_t tls_caps_timer, tls_caps_since;
    bool tls_caps_wait;
    struct limits_preauth pa;
    struct msv_reader rd;

    /* AUTHENTICATE in progress */
    enum msv_deferred deferred;
    struct sasl_exchange sx;    /* the exchange (sasl-exchange.h) */
    char mech[SASL_EX_MECH_MAX];
    char *ir;                   /* initial response (base64), until the predelay ends */
    size_t ir_len;
    bool have_ir;
    bool auth_wait;             /* a password is being checked */

    /* authenticated */
    char *user;
    struct mail_user *mu;
};

/* managesieve-server.c */
struct event_loop *msv_loop(void);
struct tls_ctx *msv_tls(void);
void msv_write(struct msv_session *s, const void *data, size_t len);
/* "OK", "NO" or "BYE", an optional response code (already in wire form,
 * without the parentheses) and an optional human-readable string. */
void msv_reply(struct msv_session *s, const char *status, const char *code, const char *text);
void msv_session_close(struct msv_session *s, const char *bye_code, const char *bye_text);
void msv_session_enter(struct msv_session *s);
void msv_session_leave(struct msv_session *s);
bool msv_session_blocked(const struct msv_session *s);
void msv_session_kick(struct msv_session *s);
void msv_process_input(struct msv_session *s);
void msv_arm_timer(struct msv_session *s);
/* Release the store handle (logged in: on UNAUTHENTICATE, kick, close). */
void msv_store_close(struct msv_session *s);
/* Run run(job, arg) on the pool while the session waits parked (no
 * input, no command), then finish(s, gone, arg) on the loop (it frees
 * arg; gone: the client went away or the session is closing). */
struct job;
typedef void (*msv_park_run_fn)(struct job *job, void *arg);
typedef void (*msv_park_finish_fn)(struct msv_session *s, bool gone, void *arg);
void msv_park(struct msv_session *s, const char *kind, const void *key, msv_park_run_fn run,
              msv_park_finish_fn finish, void *arg);
void msv_evict_marked(void);

/* managesieve-session.c */
void msv_greeting(struct msv_session *s);
void msv_execute(struct msv_session *s, struct msv_command *cmd);
void msv_sasl_response(struct msv_session *s, struct msv_command *cmd);
void msv_bad_command(struct msv_session *s);
void msv_auth_reset(struct msv_session *s);
bool msv_plaintext_ok(const struct msv_session *s);

/* managesieve-script.c: the commands of the authenticated state that
 * touch scripts; true when cmd was one of them (answered or parked). */
bool msv_script_command(struct msv_session *s, const char *name, struct msv_command *cmd);

#endif
