/* managesieve.h - the ManageSieve front-end (RFC 5804): users upload,
 * check, list, fetch, activate, rename and delete their Sieve scripts
 * (sieveshell, Thunderbird's sieve add-on, Roundcube's managesieve
 * plugin).
 *
 * Files:
 *   managesieve-reader.c   the command reader and string output (pure)
 *   managesieve-server.c   accepting, the session list, timers, the
 *                          input loop, jobs, shutdown/kick/evict (fe_ops)
 *   managesieve-session.c  dispatch, CAPABILITY, STARTTLS, LOGOUT, NOOP,
 *                          AUTHENTICATE, UNAUTHENTICATE, failed-login
 *                          delays
 *   managesieve-script.c   the script commands (HAVESPACE, PUTSCRIPT,
 *                          CHECKSCRIPT, LISTSCRIPTS, SETACTIVE, GETSCRIPT,
 *                          DELETESCRIPT, RENAMESCRIPT), each run as a job
 *                          on the worker's pool (storage and the compiler
 *                          never run on the event loop)
 *
 * A session runs on the same worker event loop as IMAP and POP3 and uses
 * the front-end layer (frontend.h) for the registry, accepting and the
 * server-wide events. Scripts live in the user's store (storage.h
 * sieve_store_*); the Sieve compiler (sieve.h) judges them at upload, and
 * the compiled form is stored with the source in one transaction.
 */
#ifndef DARIUS_MANAGESIEVE_H
#define DARIUS_MANAGESIEVE_H

#include "common.h"
#include "conn.h"
#include "event.h"
#include <sys/socket.h>

/* One instance per worker process. */
void managesieve_init(struct event_loop *loop);
/* TLS context for STARTTLS (takes its own reference; NULL disables it).
 * Open connections keep the context they started with. */
void managesieve_set_tls(struct tls_ctx *tls);
/* Take ownership of an accepted socket. is_unix: a unix-socket listener
 * (a webmail on the same host): the peer is "local", not counted as a
 * pre-authentication connection, and counts as confidential for the
 * plaintext policy (nothing crosses a network). */
void managesieve_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, bool is_unix);
size_t managesieve_session_count(void);

#endif
