/* pop3.h - the POP3 front-end (RFC 1939, 2449, 2595, 3206, 5034, 6856).
 *
 * Files:
 *   pop3-server.c   accepting connections, the session list, TLS context,
 *                   shutdown, idle timers, the line reader
 *   pop3-session.c  command dispatch, AUTHORIZATION commands (USER, PASS,
 *                   APOP, AUTH, STLS, CAPA, UTF8), failed-login delays
 *   pop3-maildrop.c the TRANSACTION state: the snapshot taken at login,
 *                   sizes, STAT/LIST/UIDL/RETR/TOP/DELE/RSET, the UPDATE
 *                   state, the per-mailbox IN-USE lock and LOGIN-DELAY
 *   pop3-wire.c     pure helpers (unit tested): command splitting,
 *                   message numbers, the CRLF/dot-stuffing transfer
 *                   encoder and the exact wire size of a message
 *
 * A POP3 session runs on the same worker event loop as IMAP. It serves a
 * snapshot of one mailbox (INBOX, or "user+folder" with popsubfolders):
 * the message list is fixed at login (RFC 1939 5: message numbers do not
 * change during a session); changes are written only in the UPDATE state.
 */
#ifndef DARIUS_POP3_H
#define DARIUS_POP3_H

#include "common.h"
#include "buf.h"
#include "conn.h"
#include "event.h"
#include <sys/socket.h>

/* ---- server (one instance per worker process) ----------------------- */

void pop3_init(struct event_loop *loop);
/* TLS context for STLS and implicit TLS (takes its own reference; NULL
 * disables both). Open connections keep the context they started with. */
void pop3_set_tls(struct tls_ctx *tls);
/* Take ownership of an accepted socket. */
void pop3_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, bool implicit_tls);
/* SIGTERM: close every session (no UPDATE state: nothing is deleted). */
void pop3_shutdown(const char *reason);
size_t pop3_session_count(void);
/* Close the sessions still in AUTHORIZATION that another worker chose for
 * eviction (connlimits.h). */
void pop3_evict_marked(void);
/* The user kicks (NOTIFY_KICK_USER: every session of that user gets
 * "-ERR [SYS/TEMP] ..." and is closed, its store handles dropped, nothing
 * deleted) and the Cyrus shutdown file (new connections get
 * "-ERR [SYS/TEMP] line" and are closed, open sessions are sent it and
 * closed) reach POP3 through the front-end layer (frontend.h,
 * fe_kick_user_all, fe_set_shutdown_notice_all). */

/* ---- pure helpers (pop3-wire.c) ---------------------------------------- */

/* RFC 2449 4: commands are at most 255 octets; we accept up to this many
 * (some clients send long AUTH initial responses) before answering -ERR
 * and skipping to the next line. */
#define POP3_MAX_LINE 1024
#define POP3_MAX_ARGS 3

struct pop3_cmdline {
    char keyword[8];            /* uppercased; "" when the line is empty */
    int argc;                   /* arguments after the keyword */
    char *argv[POP3_MAX_ARGS];  /* point into the line (modified in place) */
    char *rest;                 /* everything after "KEYWORD " (PASS) or "" */
    bool too_many;              /* more than POP3_MAX_ARGS arguments */
};
/* Split a command line (without CRLF, NUL-terminated, modified in place).
 * Returns false when the keyword is missing or longer than 4 characters
 * or contains non-letters. Arguments are separated by single spaces
 * (RFC 1939 3); empty arguments are refused (returns false). */
bool pop3_parse_line(char *line, struct pop3_cmdline *out);
/* A message number: 1..max, decimal digits only, no sign, no leading
 * zero overflow tricks. */
bool pop3_parse_msgnum(const char *s, uint32_t max, uint32_t *out);
/* A non-negative line count for TOP (decimal, capped at 2^31-1). */
bool pop3_parse_count(const char *s, long *out);

/* Transfer encoder: message data -> what RETR/TOP send between the status
 * line and the terminating ".CRLF": every line ending becomes CRLF (bare
 * LF gets a CR), a line starting with '.' gets another '.' (RFC 1939 3),
 * and a last line without a line ending gets one. TOP sends the header,
 * the blank line and at most n body lines. */
struct pop3_xfer {
    const char *data;
    size_t len;
    size_t pos;
    bool in_body;       /* past the header/body separator */
    long body_lines;    /* TOP: body lines left; -1 = unlimited (RETR) */
    bool done;
};
void pop3_xfer_init(struct pop3_xfer *x, const char *data, size_t len, long top_lines);
/* Append converted output to out until at least max bytes were added or
 * the message is done. Returns true when done. */
bool pop3_xfer_run(struct pop3_xfer *x, struct buf *out, size_t max);
/* Exact octet count RETR sends for this message (excluding the status
 * line and the ".CRLF" terminator). */
uint64_t pop3_wire_size(const char *data, size_t len);

#endif
