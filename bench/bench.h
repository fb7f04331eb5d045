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
 *   storm.c    login, searchload and imapmix modes (set-up and reports; their
 *              session scripts are in loop.c)
 *   probe.c    the NOOP probe: one selected session sending NOOP every 20 ms
 *              from its own thread, every latency recorded
 *   corpus.c   realistic ~50 KB text messages for the searchload mailbox
 *   notify.c   notify mode (NOTIFY fan-out to many sessions of one user)
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
    const char *probe_user; /* -N: login/searchload NOOP probe user */
    bool persistent;       /* --persistent: imapmix sessions never log out */
};
extern struct opts bench_opts;

/* ---- time ---- */
double bench_now_sec(void);      /* CLOCK_MONOTONIC seconds */

/* ---- statistics ---- */
enum op {
    OP_CONNECT, OP_LOGIN, OP_SELECT, OP_FETCH_ENV, OP_FETCH_BODY, OP_STORE,
    OP_APPEND, OP_APPEND_BIG, OP_EXPUNGE, OP_IDLE, OP_NOOP, OP_LOGOUT, OP_COPY,
    OP_FETCH_FLAGS, OP_SEARCH, OP_FETCH_RANGE, OP_EXPUNGE_ALL, OP_SORT, OP__COUNT
};
const char *bench_op_name(enum op op);

struct stats {
    uint32_t *lat[OP__COUNT];   /* latency samples, microseconds */
    size_t n[OP__COUNT], cap[OP__COUNT];
    unsigned long no[OP__COUNT], bad[OP__COUNT], lost[OP__COUNT];
    unsigned long connect_fail, disconnects, timeouts, protocol_errors;
    unsigned long no_expungeissued;  /* NO answers carrying [EXPUNGEISSUED] */
    unsigned long search_mismatch;   /* searchload: hit count differed */
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
    long search_hits;        /* numbers in the last "* SEARCH" or "* SORT" (-1: none) */
    unsigned long long size_sum; /* sum of RFC822.SIZE in FETCH lines */
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
    unsigned long ncmds;     /* tagged answers received (any status) */
    pid_t server_pid;        /* searchload, persistent imapmix: worker serving it */
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
/* Connect, read the greeting, LOGIN as user and SELECT mailbox (blocking);
 * false with a message on stderr on any failure. */
bool bsync_login_select(struct bconn *c, const char *user, const char *mailbox);
void bench_user_name(int idx, char *out, size_t outlen);
/* IMAP quoted string of s (RFC 3501 4.3) appended to b. */
void bench_put_quoted(struct buf *b, const char *s);
/* Build a plausible RFC 5322 message of about size bytes. */
void bench_make_message(struct buf *b, size_t size, unsigned long seq, uint64_t *rng);
uint64_t bench_rng_next(uint64_t *s);
/* A realistic ~size-byte message for the searchload mailbox (corpus.c):
 * English-like text in varying MIME structures (plain 7bit, quoted-
 * printable UTF-8, multipart/alternative with HTML, a base64 attachment).
 * seq alone decides the content. When word is non-NULL it appears in the
 * text of the message, once or more. */
void bench_make_text_message(struct buf *b, size_t size, unsigned long seq, const char *word);

/* ---- NOOP probe (probe.c) ---- */
struct probe;
struct probe *probe_new(const char *user, double interval);
/* Connect, log in, SELECT INBOX (blocking); false on failure. */
bool probe_connect(struct probe *p);
/* Start the thread: NOOP every interval seconds (the next one as soon as
 * the previous answer arrived when an answer is later than that). With go
 * non-NULL the thread first waits for *go to become non-zero (the load is
 * running), then connects itself, again (up to 10 times) while placed is
 * non-NULL and says no to the server pid serving it, and sets *started
 * (when non-NULL) once it is logged in with INBOX selected, or failed to. */
void probe_start(struct probe *p, const int *go, int *started, bool (*placed)(pid_t));
/* Stop the thread (the NOOP in flight is waited for and recorded), LOGOUT,
 * print a line, append " noop_n=... noop_p50=... noop_p99=... noop_max=...
 * noop_errors=..." to res, store the pid of the server process that served
 * the probe in *server_pid (-1 unknown) and free the probe. Returns the error count. */
unsigned long probe_finish(struct probe *p, struct buf *res, pid_t *server_pid);

/* ---- timed session loops (loop.c) ---- */
enum bmode { M_MIX, M_APPEND, M_IDLE, M_LOGIN, M_SEARCH, M_IMAPMIX };
/* Run bench_opts.clients sessions of a timed mode (mix, login, search,
 * imapmix) for bench_opts.seconds on bench_opts.threads event loops. */
void bench_run_timed(enum bmode mode, struct stats *out, double *elapsed);
/* When non-NULL (bench_opts.clients entries), bench_run_timed stores each
 * client's count of tagged answers here: shows how evenly the server
 * served the clients. */
extern unsigned long *bench_client_cmds;
/* Likewise the pid of the server process that served each client's last
 * session (searchload and persistent imapmix only; -1 unknown). searchload
 * also stores each pid as soon as it is known (atomically: the probe
 * thread reads them). */
extern pid_t *bench_client_pid;
/* The word SEARCH BODY looks for and the hit count every search must return
 * (-1: not checked); set by the searchload mode before its load phase. */
extern const char *bench_search_word;
extern long bench_search_expect;
/* searchload starts its clients one after the other (each once the one
 * before is searching, so the server's workers take them as a busy server
 * would) and sets bench_load_ready when all are; the probe then logs in
 * and sets bench_probe_ready, and the measuring window starts. */
extern int bench_load_ready, bench_probe_ready;

/* ---- modes ---- */
int bench_mode_mix(void);
int bench_mode_append(void);
int bench_mode_idle(void);
int bench_mode_bigmailbox(void);
int bench_mode_lmtp(void);      /* lmtp.c */
int bench_mode_login(void);     /* storm.c */
int bench_mode_searchload(void);
int bench_mode_imapmix(void);
int bench_mode_compress(void);  /* compress.c */
int bench_mode_sort(void);      /* sort.c */
int bench_mode_notify(void);    /* notify.c */
int bench_verify_server(void);

/* ---- server memory ---- */
/* Sum of Pss (or VmRSS fallback) over master and its descendants; bytes.
 * *nproc receives the number of processes counted; *what "Pss"/"VmRSS". */
long long bench_server_memory(pid_t master, int *nproc, const char **what);
/* Same, after waiting (bounded) for the reading to stop changing. */
long long bench_settled_memory(pid_t master, int *nproc, const char **what);

/* The pid of the process holding the other end of the TCP connection fd
 * (on the loopback: the server worker serving that session), or -1. Scans
 * /proc, some milliseconds: call it once per session, not per command. */
pid_t bench_peer_pid(int fd);

/* Raise RLIMIT_NOFILE to fit need descriptors; returns the usable limit. */
long bench_raise_nofile(long need);

#endif
