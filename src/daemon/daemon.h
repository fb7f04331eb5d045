/* daemon.h - internal interfaces of dariusd (master and worker processes). */
#ifndef DARIUS_DAEMON_H
#define DARIUS_DAEMON_H

#include "common.h"
#include "config.h"
#include "conn.h"
#include <stdatomic.h>

#define EX_CONFIG_ERR 78   /* sysexits.h EX_CONFIG */
#define EX_OS_ERR 71       /* sysexits.h EX_OSERR */

/* A listening socket. With more than one worker, a TCP listener is a
 * group of sockets bound to the same address with SO_REUSEPORT, one per
 * worker slot (slot = the index of the worker that accepts from it): the
 * kernel spreads new connections over them by a hash, so every worker
 * gets its share (one socket shared by all, watched with EPOLLEXCLUSIVE,
 * wakes the same idle worker again and again). A unix socket (LMTP), or
 * any listener of a single worker, is one socket of every worker (slot
 * -1). The master keeps every socket open for its whole life: a
 * restarted worker takes over its slot's sockets with the connections
 * queued in their backlogs meanwhile, and no address is ever unbound. */
struct listener {
    int fd;
    bool implicit_tls;     /* IMAPS */
    char *spec;
    bool paused;           /* accept() hit EMFILE; retried by a timer */
    int proto;             /* enum listener_proto */
    bool is_unix;          /* unix-domain socket (LMTP); spec is its path */
    int slot;              /* worker index that accepts from it; -1 = all */
    bool watched;          /* worker: registered in its event loop */
};

/* Per worker slot, in a page shared by the master and the workers
 * (mapped before fork). beat is the CLOCK_MONOTONIC time in ms at which
 * the slot's worker last turned its event loop (it writes it every
 * WORKER_BEAT_MS); the master sets it to the fork time when it starts
 * the worker (start-up grace) and to 0 when it reaps it. A worker also
 * accepts from the sockets of another slot whose beat is 0 or older than
 * WORKER_STUCK_MS ("adopts" the slot), so the connections the kernel
 * hashes to a worker that waits for its restart (back-off after repeated
 * crashes) or whose loop is stuck are still served, by the others. */
struct worker_slot {
    _Atomic uint64_t beat;
};
#define WORKER_BEAT_MS 250
#define WORKER_STUCK_MS 2000

enum listener_proto { PROTO_IMAP, PROTO_POP3, PROTO_LMTP, PROTO_SIEVE };

/* Complete a freshly loaded configuration with derived values: an absolute
 * datadir and the DATADIR/tls certificate paths when none are configured.
 * Used at start-up and on every reload. */
void daemon_fixup_config(struct config *c);
/* Load path (NULL = embedded defaults) and fix it up; NULL + err on error. */
struct config *daemon_load_config(const char *path, char *err, size_t errlen);
/* Apply logging options of the current configuration. */
void daemon_setup_logging(const char *role);
/* A TLS context from the current configuration, or NULL with err. */
struct tls_ctx *daemon_tls_ctx(char *err, size_t errlen);
/* The same for another protocol: ALPN id alpn ("pop3", RFC 7301 / IANA). */
struct tls_ctx *daemon_tls_ctx_alpn(const char *alpn, char *err, size_t errlen);

/* master.c: binds, forks, supervises. Returns the process exit code. */
int master_run(const char *config_file);

/* worker.c: never returns. slots: the shared slot table (nslots entries,
 * one per worker), or NULL. */
void worker_run(int idx, struct listener *ls, size_t nls, struct worker_slot *slots, size_t nslots,
                pid_t master_pid) ATTR_NORETURN;

/* notice.c: the first line of the Cyrus notice file DATADIR/msg/NAME or
 * else DATADIR/NAME ("motd", "shutdown"), at most 200 printable ASCII
 * characters (control characters dropped, tabs as spaces, trailing
 * spaces cut); an empty shutdown file reads as "Server shutting down".
 * false when neither file exists (or is not a regular file). */
bool daemon_read_notice(const char *name, char *out, size_t outlen);

#endif
