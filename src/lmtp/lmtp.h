/* lmtp.h - the LMTP front-end (RFC 2033) for local delivery.
 *
 * Files:
 *   lmtp-server.c   accepting connections (TCP and unix sockets), the
 *                   session list, the input reader (command lines, DATA
 *                   with dot-unstuffing, BDAT chunks), timers, shutdown
 *   lmtp-cmd.c      LHLO, MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT, VRFY,
 *                   STARTTLS, AUTH and the per-recipient delivery replies
 *   lmtp-private.h  the session structure shared by the two
 *
 * Delivery itself (spool, headers, recipients, duplicate suppression) is
 * the delivery layer's (src/delivery/delivery.h), shared with
 * `darius deliver`. A recipient's 250 is sent only after its copy is
 * durable (delivery_deliver returned).
 */
#ifndef DARIUS_LMTP_H
#define DARIUS_LMTP_H

#include "common.h"
#include "conn.h"
#include "event.h"
#include <sys/socket.h>

/* Longest command line accepted (RFC 5321 4.5.3.1.4 says 512; long
 * parameter lists and UTF-8 addresses get more room). */
#define LMTP_MAX_LINE 4096
/* SASL responses may be long. */
#define LMTP_MAX_SASL_LINE 16384

void lmtp_init(struct event_loop *loop);
/* TLS context for STARTTLS on TCP listeners (NULL: no STARTTLS). */
void lmtp_set_tls(struct tls_ctx *tls);
/* Take ownership of an accepted socket. is_unix: from a unix-domain
 * listener (never asks for AUTH, no STARTTLS). */
void lmtp_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, bool is_unix);
/* SIGTERM: answer 421 and close every session; a transaction in the
 * middle of DATA is dropped (the client retries; nothing is stored). */
void lmtp_shutdown(const char *reason);
size_t lmtp_session_count(void);
/* The Cyrus shutdown file reaches LMTP through the front-end layer
 * (frontend.h, fe_set_shutdown_notice_all): while present new connections
 * get "421 4.3.2 line" and every open session is sent it and closed (one
 * in the middle of DATA is cut; nothing of it was stored, the client
 * retries). */
/* Close the pre-auth sessions that another worker chose for eviction
 * (connlimits.h); called when the worker's wake fd is readable. */
void lmtp_evict_marked(void);

#endif
