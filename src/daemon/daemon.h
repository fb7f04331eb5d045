/* daemon.h - internal interfaces of dariusd (master and worker processes). */
#ifndef DARIUS_DAEMON_H
#define DARIUS_DAEMON_H

#include "common.h"
#include "config.h"
#include "conn.h"

#define EX_CONFIG_ERR 78   /* sysexits.h EX_CONFIG */
#define EX_OS_ERR 71       /* sysexits.h EX_OSERR */

struct listener {
    int fd;
    bool implicit_tls;     /* IMAPS */
    char *spec;
    bool paused;           /* accept() hit EMFILE; retried by a timer */
    int proto;             /* enum listener_proto */
    bool is_unix;          /* unix-domain socket (LMTP); spec is its path */
};

enum listener_proto { PROTO_IMAP, PROTO_POP3, PROTO_LMTP };

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

/* worker.c: never returns. */
void worker_run(int idx, struct listener *ls, size_t nls, pid_t master_pid) ATTR_NORETURN;

#endif
