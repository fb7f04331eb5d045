/* pop3-private.h - internals shared by the POP3 front-end's files. */
#ifndef DARIUS_POP3_PRIVATE_H
#define DARIUS_POP3_PRIVATE_H

#include "pop3.h"
#include "auth.h"
#include "sasl-exchange.h"
#include "connlimits.h"
#include "frontend.h"
#include "storage.h"

enum pop3_state { POP3_AUTHORIZATION, POP3_TRANSACTION, POP3_UPDATE };

#define POP3_SIZE_UNKNOWN UINT64_MAX

struct pop3_msg {
    uint32_t uid;
    bool deleted;           /* DELE'd in this session */
    uint64_t rawsize;       /* RFC822.SIZE at login */
    uint64_t popsize;       /* wire size, POP3_SIZE_UNKNOWN until needed */
    char guid[33];
};

/* A multi-line response being produced (back-pressure aware). */
enum pop3_job_kind { JOB_NONE, JOB_XFER, JOB_LIST, JOB_UIDL };
struct pop3_job {
    enum pop3_job_kind kind;
    uint32_t next;              /* JOB_LIST/JOB_UIDL: next index */
    struct msg_content content; /* JOB_XFER */
    bool have_content;
    struct pop3_xfer xfer;
    size_t resident;            /* JOB_XFER: content before this is resident */
};

/* What a delay timer finishes. */
enum pop3_deferred { DEF_NONE, DEF_PASS, DEF_AUTH_START, DEF_FAIL_REPLY };

struct pop3_session {
    struct fe_link link;        /* the worker's POP3 sessions (frontend.h) */
    struct conn *conn;
    char peer[64];
    enum pop3_state state;
    bool implicit_tls;
    bool tls;                   /* STLS done or implicit */
    bool utf8;                  /* RFC 6856 UTF8 command given */
    bool closed;                /* conn gone */
    bool quitting;              /* QUIT answered or session closing */
    bool discarding;            /* skipping the rest of an over-long line */
    bool parked;                /* a step runs on the pool (pop3_park) */
    int busy;
    bool counted_conn, counted_user;
    unsigned auth_failures;
    uint64_t last_activity;
    uint64_t timeout_timer, defer_timer, kick_timer;

    /* AUTHORIZATION */
    char *pending_user;         /* from USER, as given */
    char *pass;                 /* PASS argument waiting for the predelay (wiped) */
    enum pop3_deferred deferred;
    struct sasl_exchange sx;    /* AUTH (sasl-exchange.h) */
    char mech[SASL_EX_MECH_MAX];
    char *ir;                   /* AUTH initial response, until the predelay */
    /* a password is being checked (auth-service.h): input waits, the
     * session is kept alive (busy) until the answer; the folder of a
     * "user+folder" USER waits with it */
    bool auth_wait;
    char *auth_folder;

    /* TRANSACTION */
    char *user;                 /* authenticated user (for limits/logs) */
    char *folder;               /* mailbox name served */
    struct mail_user *mu;
    struct mailbox *mb;
    int lock_fd;                /* IN-USE lock, -1 when none */
    struct pop3_msg *msgs;
    uint32_t nmsgs;
    uint32_t uidvalidity;
    struct pop3_job job;

    /* (added) pre-authentication (AUTHORIZATION state): the place held in
     * the shared limits until login, and the connect time the
     * preauth_timeout deadline counts from */
    struct limits_preauth pa;
    uint64_t connected_at;
};

/* pop3-server.c */
struct event_loop *pop3_loop(void);
struct tls_ctx *pop3_tls(void);
void pop3_write(struct pop3_session *s, const void *data, size_t len);
void pop3_printf(struct pop3_session *s, const char *fmt, ...) ATTR_PRINTF(2, 3);
void pop3_session_close(struct pop3_session *s, const char *err_line);
void pop3_session_touch(struct pop3_session *s);
/* Keep a session alive across a callback (freed by the last leave). */
void pop3_session_enter(struct pop3_session *s);
void pop3_session_leave(struct pop3_session *s);
/* Process buffered input lines while nothing is in progress. */
void pop3_reader_input(struct pop3_session *s);
/* Is a command still in progress (a job, a delay timer)? */
bool pop3_session_blocked(const struct pop3_session *s);
/* Schedule pop3_reader_input from the loop (after a delay or a job). */
void pop3_session_kick(struct pop3_session *s);

/* Run a slow step on the worker's pool (jobs.h: reading message files,
 * loading the maildrop, writing the store) while the session waits
 * parked: no input is read and no command runs (pop3_session_blocked),
 * every other session of the worker is served. run(job, arg) executes on
 * a pool thread and touches nothing of the session (only arg, and stores
 * through storage_job_begin). Then finish(s, gone, arg) runs on the loop
 * and frees arg; gone: the client went away or the session is closing
 * (write nothing; the session itself is still valid until finish
 * returns). Pipelined input resumes afterwards unless finish started
 * something else that blocks. key: as for jobs_submit (the store). */
struct job;
typedef void (*pop3_park_run_fn)(struct job *job, void *arg);
typedef void (*pop3_park_finish_fn)(struct pop3_session *s, bool gone, void *arg);
void pop3_park(struct pop3_session *s, const char *kind, const void *key, pop3_park_run_fn run,
               pop3_park_finish_fn finish, void *arg);

/* pop3-session.c */
void pop3_execute(struct pop3_session *s, char *line, size_t len);
void pop3_sasl_line(struct pop3_session *s, char *line, size_t len);
void pop3_auth_reset(struct pop3_session *s);
void pop3_capa(struct pop3_session *s, struct buf *out);
void pop3_greeting(struct pop3_session *s);

/* pop3-maildrop.c */
/* Open user's maildrop (folder NULL = INBOX) for s: the store and the
 * mailbox are opened here; the IN-USE lock and the snapshot of the
 * records are taken off the loop (pop3_park, kind "maildrop"). Then
 * done(s, gone, user, err, arg) runs on the loop: err NULL when the
 * maildrop is now s's, else the -ERR text (with its response code) and
 * nothing is kept; gone as for pop3_park (nothing kept either). */
typedef void (*pop3_opened_fn)(struct pop3_session *s, bool gone, const char *user, const char *err, void *arg);
void pop3_maildrop_open(struct pop3_session *s, const char *user, const char *folder, pop3_opened_fn done,
                        void *arg);
void pop3_maildrop_close(struct pop3_session *s);
void pop3_transaction_command(struct pop3_session *s, const struct pop3_cmdline *cl);
/* Continue a job (on_drain); returns true when it finished. */
bool pop3_job_run(struct pop3_session *s);
void pop3_job_free(struct pop3_session *s);

#endif
