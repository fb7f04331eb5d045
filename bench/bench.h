/* bench.h - dariusbench, an IMAP load generator (internal declarations).
 *
 * One process, epoll, non-blocking sockets: every simulated client is a
 * small state machine (struct bconn) driven by the responses it reads, so
 * thousands of clients cost a few KB each instead of a thread each.
 * Optional -j runs several independent event loops in threads; each
 * thread owns its clients and statistics, which are merged at the end.
 *
 * Files:
 *   main.c     options, mode dispatch, helper sub-commands (freeport, wait)
 *   conn.c     connection I/O, IMAP response parser, command helpers,
 *              blocking ("sync") command runner used by sequential modes
 *   loop.c     epoll event loop and the mix / append / idle session scripts
 *   big.c      bigmailbox mode
 *   lmtp.c     lmtp mode (LMTP delivery throughput, threads + blocking sockets)
 *   stats.c    latency samples, percentiles, report printing
 *   procmem.c  server memory measurement (/proc smaps_rollup / status)
 */
#ifndef DARIUS_BENCH_H
#define DARIUS_BENCH_H

#include "common.h"
#include "buf.h"
#include <openssl/ssl.h>

/* ---- options ---- */
struct opts {
    const char *mode;
    const char *host;
    int port;
    const char *userfmt;   /* "bench%d" or a plain name */
    int users;             /* -U: number of distinct users for %d */
    const char *password;
    int clients;           /* -c */
    double seconds;        /* -d */
    long count;            /* -n */
    int threads;           /* -j */
    int runs;              /* -r (bigmailbox timing runs) */
    size_t msgsize;        /* -s (append mode message size) */
    pid_t master_pid;      /* -P (idle mode) */
    int timeout;           /* per-command timeout, seconds */
    bool literal_plus;     /* use LITERAL+ when the server offers it */
    bool quiet;
    bool tls;              /* --tls: implicit TLS (IMAPS port) */
    int rcpts;             /* -R: lmtp mode recipients per message */
};
extern struct opts bench_opts;

/* ---- time ---- */
double bench_now_sec(void);      /* CLOCK_MONOTONIC seconds */

/* ---- statistics ---- */
enum op {
    OP_CONNECT, OP_LOGIN, OP_SELECT, OP_FETCH_ENV, OP_FETCH_BODY, OP_STORE,
    OP_APPEND, OP_APPEND_BIG, OP_EXPUNGE, OP_IDLE, OP_NOOP, OP_LOGOUT, OP_COPY,
    OP_FETCH_FLAGS, OP__COUNT
};
const char *bench_op_name(enum op op);

struct stats {
    uint32_t *lat[OP__COUNT];   /* latency samples, microseconds */
    size_t n[OP__COUNT], cap[OP__COUNT];
    unsigned long no[OP__COUNT], bad[OP__COUNT], lost[OP__COUNT];
    unsigned long connect_fail, disconnects, timeouts, protocol_errors;
};
void bstats_add(struct stats *s, enum op op, double seconds);
void bstats_merge(struct stats *into, const struct stats *from);
void bstats_free(struct stats *s);
unsigned long bstats_errors(const struct stats *s);
/* Print the aligned per-operation table and append "op_key=value" pairs for
 * the RESULT line to res. elapsed is the measuring period in seconds. */
void bstats_report(struct stats *s, double elapsed, struct buf *res);
double bench_percentile_ms(uint32_t *sorted, size_t n, double p);
int bench_cmp_u32(const void *a, const void *b);
int bench_cmp_double(const void *a, const void *b);

/* ---- connections ---- */
enum cstatus { ST_NONE, ST_OK, ST_NO, ST_BAD, ST_BYE };

struct bconn {
    int fd;
    SSL *ssl;                /* non-NULL with --tls */
    bool tls_want_write;     /* a TLS read needs the socket writable */
    int idx;                 /* client index (user = idx % users) */
    int thread;
    /* input: parse cursor state (see conn.c) */
    struct buf in;
    size_t rpos;             /* start of the current logical line */
    size_t scan;             /* where to continue looking for CRLF */
    size_t lit_need;         /* >0: literal bytes still to skip */
    bool in_lit;
    /* output */
    struct buf out;
    size_t wpos;
    bool want_write;         /* EPOLLOUT registered */
    /* current command */
    char tag[16];
    unsigned tagn;
    bool busy;
    enum op op;
    double t_start;
    struct buf pending_lit;  /* synchronising literal awaiting "+" */
    bool wait_cont;
    /* results of the current command / session */
    enum cstatus status;
    char status_text[160];
    bool greeted;
    bool got_cont;
    bool bye;
    bool caps_literal_plus;
    unsigned long exists;
    unsigned long fetch_lines;
    uint32_t appenduid;
    uint32_t uids[64];
    int nuids;
    /* session script state (loop.c) */
    int step;
    int sub;
    bool connecting;
    bool closed;
    bool idling;
    bool done;               /* finished its script; stays closed */
    double retry_at;         /* >0: reconnect when reached */
    long appended;           /* append mode: messages appended so far */
    uint32_t deluids[64];    /* mix: appended + flagged \Deleted, to expunge */
    int ndel;
    int sessions;
    uint64_t rng;
};

/* Resolve bench_opts.host/port once; false (with a message) on failure. */
bool bench_resolve_target(void);
/* Create the TLS client context (no certificate verification: the bench
 * server uses a generated self-signed certificate). */
bool bench_tls_init(void);
/* Begin the TLS handshake once the TCP connection is up; false on error. */
bool bconn_tls_start(struct bconn *c);
void bconn_init(struct bconn *c, int idx);
void bconn_free(struct bconn *c);
/* Start a non-blocking (or blocking when block) TCP connect; false on
 * immediate failure. Resets all parse/command state. */
bool bconn_connect(struct bconn *c, bool block);
void bconn_close(struct bconn *c);
/* Queue a tagged command "TAG <text>\r\n"; records op and start time. */
void bconn_cmd(struct bconn *c, enum op op, const char *fmt, ...) ATTR_PRINTF(3, 4);
/* Queue APPEND INBOX of msg (RFC 3501 6.3.11) using LITERAL+ (RFC 7888)
 * when plus, else a synchronising literal sent after the "+". */
void bconn_append(struct bconn *c, enum op op, const struct buf *msg, bool plus);
/* Queue raw bytes (e.g. "DONE\r\n"). */
void bconn_raw(struct bconn *c, const char *s);
/* Write as much queued output as possible. Returns -1 on error, else 0. */
int bconn_flush(struct bconn *c);
/* Read available input and parse it. Returns -1 on EOF/error, 0 otherwise.
 * *tagged is set when the tagged response of the current command arrived;
 * *cont when a "+" continuation arrived (and no literal was waiting). */
int bconn_read(struct bconn *c, bool *tagged, bool *cont);
/* Blocking helpers for sequential modes: run one command to completion.
 * Returns the status; elapsed seconds in *secs when non-NULL. */
enum cstatus bsync_wait_greeting(struct bconn *c);
enum cstatus bsync_cmd(struct bconn *c, double *secs, enum op op, const char *fmt, ...)
    ATTR_PRINTF(4, 5);
enum cstatus bsync_append(struct bconn *c, const struct buf *msg);
void bench_user_name(int idx, char *out, size_t outlen);
/* IMAP quoted string of s (RFC 3501 4.3) appended to b. */
void bench_put_quoted(struct buf *b, const char *s);
/* Build a plausible RFC 5322 message of about size bytes. */
void bench_make_message(struct buf *b, size_t size, unsigned long seq, uint64_t *rng);
uint64_t bench_rng_next(uint64_t *s);

/* ---- modes ---- */
int bench_mode_mix(void);
int bench_mode_append(void);
int bench_mode_idle(void);
int bench_mode_bigmailbox(void);
int bench_mode_lmtp(void);      /* lmtp.c */
int bench_verify_server(void);

/* ---- server memory ---- */
/* Sum of Pss (or VmRSS fallback) over master and its descendants; bytes.
 * *nproc receives the number of processes counted; *what "Pss"/"VmRSS". */
long long bench_server_memory(pid_t master, int *nproc, const char **what);
/* Same, after waiting (bounded) for the reading to stop changing. */
long long bench_settled_memory(pid_t master, int *nproc, const char **what);

/* Raise RLIMIT_NOFILE to fit need descriptors; returns the usable limit. */
long bench_raise_nofile(long need);

#endif
