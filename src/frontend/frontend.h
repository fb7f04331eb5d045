/* frontend.h - what every protocol front-end (IMAP, POP3, LMTP, and
 * ManageSieve to come) needs around its sessions, kept in one place:
 *
 *   - a server (struct fe_server) per protocol and worker: its event
 *     loop, its TLS context, its session list and count, whether it is
 *     shutting down, and the shutdown notice in force;
 *   - the session registry: each protocol session embeds a struct
 *     fe_link and is linked while its connection lives; server-wide
 *     events (SIGTERM, the shutdown file, a user kick, eviction of
 *     pre-auth connections) walk the list and hand each session to the
 *     protocol's hook (struct fe_ops), which says it in the protocol's
 *     words (IMAP BYE, POP3 -ERR, LMTP 421);
 *   - every registered server, so the daemon addresses them all at once
 *     (fe_shutdown_all, fe_set_shutdown_notice_all, ...) and a new
 *     protocol needs no change to the daemon beyond its listener;
 *   - accepting: the shutdown and TLS checks, connection limits and the
 *     plaintext refusal, and the conn;
 *   - output: printf into a conn;
 *   - closing an implicit-TLS connection only once its handshake is done,
 *     so a refusal queued before it (the shutdown file) goes out
 *     encrypted instead of being dropped with the handshake.
 *
 * Layer: above net (conn, event loop, connection limits), below the
 * protocols; it knows no protocol and no storage (tools/check-layers.sh).
 * One instance per worker process, used from the loop thread only.
 */
#ifndef DARIUS_FRONTEND_H
#define DARIUS_FRONTEND_H

#include "common.h"
#include "conn.h"
#include "connlimits.h"
#include "event.h"
#include <stdarg.h>

struct fe_server;

/* Embedded in every protocol session. `owner` is the session itself,
 * handed to the hooks. */
struct fe_link {
    struct fe_link *prev, *next;
    struct fe_server *srv;      /* set while linked */
    void *owner;
    uint64_t tls_close_timer;   /* fe_close_after_handshake */
    uint64_t tls_close_since;
};

/* A protocol's hooks; every one is called from the loop with a session
 * that is linked. A hook may close its session (the protocol keeps it
 * alive across the call with its own reference count) but must not free
 * another session. NULL hooks are skipped. */
struct fe_ops {
    /* The session's connection, or NULL once it is gone. */
    struct conn *(*conn)(void *session);
    /* SIGTERM (or the worker stopping): tell the client `reason` and
     * close, or arrange to once running work has answered. */
    void (*shutdown)(void *session, const char *reason);
    /* The shutdown file appeared or changed: tell `line` and close. */
    void (*notice)(void *session, const char *line);
    /* NOTIFY_KICK_USER: the store of `user` is being moved, renamed or
     * deleted; the protocol closes the sessions that use it. */
    void (*kick_user)(void *session, const char *user);
    /* The connection limits marked pre-auth connections for eviction
     * (limits_preauth_evicted); the protocol closes this one if marked. */
    void (*evict)(void *session);
};

struct fe_server {
    const char *name;           /* "imap", "pop3", "lmtp": for the logs */
    const struct fe_ops *ops;
    struct event_loop *loop;
    struct tls_ctx *tls;        /* a reference, or NULL */
    struct fe_link *head;
    size_t count;
    bool shutting_down;
    char *notice;               /* the shutdown file's line, or NULL */
    bool registered;
    struct fe_server *next_server;
};

/* Set the loop and add srv to the servers the *_all calls reach (once). */
void fe_server_init(struct fe_server *srv, struct event_loop *loop);
/* Take a reference to tls (may be NULL) and drop the previous one. */
void fe_server_set_tls(struct fe_server *srv, struct tls_ctx *tls);

/* ---- the registry ---- */

void fe_link(struct fe_server *srv, struct fe_link *l, void *owner);
/* Idempotent; also for a link never linked. Cancels a pending
 * fe_close_after_handshake. */
void fe_unlink(struct fe_link *l);
/* Call fn for every session of srv. The next one is taken before fn
 * runs, so fn may unlink (close) its own session. */
void fe_each(struct fe_server *srv, void (*fn)(void *session, void *arg), void *arg);

/* Server-wide events, each hook of each session. */
void fe_shutdown(struct fe_server *srv, const char *reason);
/* line NULL: the shutdown file is gone, connections are accepted again. */
void fe_set_shutdown_notice(struct fe_server *srv, const char *line);
void fe_kick_user(struct fe_server *srv, const char *user);
void fe_evict_marked(struct fe_server *srv);

/* The same for every server initialised in this process (the daemon). */
void fe_shutdown_all(const char *reason);
void fe_set_shutdown_notice_all(const char *line);
void fe_kick_user_all(const char *user);
void fe_evict_marked_all(void);
size_t fe_session_count_all(void);

/* ---- notices ---- */

/* The Cyrus motd's first line, or NULL when there is none (or it is
 * empty): the daemon reads the file (it is re-read every second and
 * before new connections are handed over) and IMAP sends it as an ALERT
 * after a login. One per process, for every protocol that shows one. */
void fe_set_motd(const char *line);
const char *fe_motd(void);

/* ---- accepting ---- */

struct fe_accept {
    bool implicit_tls;          /* TLS from the first byte (IMAPS, POP3S) */
    bool preauth;               /* counted and evictable as pre-auth */
    const char *addr;           /* the peer's name for limits and logs
                                 * instead of its address (LMTP's "local") */
    /* Sent (best effort, non-blocking) when the connection limits refuse
     * it, unless implicit_tls (nothing can be said in plaintext then):
     * the server is full, the address has too many pre-auth connections.
     * With CRLF. */
    const char *refuse_full;
    const char *refuse_host;
};

/* Admit an accepted socket: refused (and closed) while srv shuts down,
 * without a loop, for implicit TLS without a TLS context, or by the
 * connection limits (refusal line and a log line). Admitted: the peer
 * name is in addr (64 bytes), the pre-auth place in *pa, the connection
 * counted in maxconnections (limits_conn_release when it goes). */
bool fe_accept_admit(struct fe_server *srv, int fd, const struct sockaddr *peer, socklen_t peerlen,
                     const struct fe_accept *how, char addr[64], struct limits_preauth *pa);
/* The conn for an admitted socket, with srv's TLS context when
 * implicit_tls. */
struct conn *fe_conn_new(struct fe_server *srv, int fd, const struct sockaddr *peer, socklen_t peerlen,
                         bool implicit_tls, const struct conn_callbacks *cb, void *session);

/* ---- output ---- */

/* Format into c (nothing when c is NULL). */
void fe_printf(struct conn *c, const char *fmt, ...) ATTR_PRINTF(2, 3);
void fe_vprintf(struct conn *c, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);

/* The product named in greetings (serverinfo: off, min, on). */
const char *fe_server_product(void);

/* ---- implicit TLS ---- */

/* Close the session's connection once its TLS handshake has completed,
 * so that what was queued before (a refusal) is sent encrypted; a client
 * that does not finish the handshake within FE_TLS_CLOSE_MAX_MS is cut.
 * The session must be linked; fe_unlink cancels the wait. */
#define FE_TLS_CLOSE_POLL_MS 20
#define FE_TLS_CLOSE_MAX_MS 10000
void fe_close_after_handshake(struct fe_link *l);

#endif
