/* conn.h - a buffered, non-blocking client connection, plain or TLS.
 *
 * Protocol code (IMAP now, POP3/LMTP/ManageSieve later) sees only this.
 * Reads: the loop reads whatever is available into the connection's input
 * buffer and calls on_input; the protocol consumes what it can parse and
 * leaves the rest. Writes: conn_write queues and sends without waiting
 * for anything: writes of 16 KiB or more go out at once when nothing is
 * queued ahead; smaller ones are coalesced and sent when the running
 * callback returns (or at the end of the current loop iteration when
 * written from elsewhere, e.g. a timer), so one response leaves in as few
 * segments as possible. TCP_NODELAY is set so continuation requests and
 * short replies never wait for a delayed ACK. Back-pressure: when queued output exceeds
 * CONN_HIGH_WATER the protocol should stop producing (conn_output_full())
 * and resume from on_drain, called when output falls below CONN_LOW_WATER.
 *
 * Memory: an idle connection holds no buffers. Input is read into a
 * per-process scratch buffer and only an incomplete remainder is copied
 * into the connection; output buffers are freed once flushed; TLS uses
 * SSL_MODE_RELEASE_BUFFERS.
 */
#ifndef DARIUS_CONN_H
#define DARIUS_CONN_H

#include "common.h"
#include "buf.h"
#include "event.h"
#include <sys/socket.h>

#define CONN_HIGH_WATER (256 * 1024)
#define CONN_LOW_WATER (64 * 1024)

struct conn;
struct tls_ctx;

struct conn_callbacks {
    /* New input is in conn_input(). Consume with buf_consume(). */
    void (*on_input)(struct conn *c, void *arg);
    /* Output fell below CONN_LOW_WATER after having been above it, or a
     * conn_want_drain() request is due. */
    void (*on_drain)(struct conn *c, void *arg);
    /* The connection is closing (peer EOF, error, or conn_close()
     * completed). The conn is freed right after this returns. */
    void (*on_close)(struct conn *c, void *arg);
};

/* Take ownership of an accepted socket. If tls is non-NULL the TLS
 * handshake starts immediately (implicit TLS, e.g. port 993); output
 * queued meanwhile is sent encrypted once it completes. Never returns
 * NULL (on an internal error the conn is already closing and on_close
 * follows from the loop).
 *
 * Callbacks may call conn_close()/conn_abort() on their own conn; the
 * conn stays valid (all calls harmless) until on_close has returned.
 * on_close is always called from the loop, never from inside a conn_*
 * call. */
struct conn *conn_new(struct event_loop *loop, int fd, const struct sockaddr *peer, socklen_t peerlen,
                      struct tls_ctx *tls, const struct conn_callbacks *cb, void *arg);

struct buf *conn_input(struct conn *c);
void conn_write(struct conn *c, const void *data, size_t len);
void conn_puts(struct conn *c, const char *s);
void conn_printf(struct conn *c, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* Queue len bytes of fd from offset (file content streamed, e.g. a large
 * message body). fd is dup'd; caller keeps its own. */
void conn_write_file(struct conn *c, int fd, off_t offset, size_t len);
size_t conn_output_pending(const struct conn *c);
bool conn_output_full(const struct conn *c);
/* Ask for on_drain once all currently queued output has been sent. */
void conn_want_drain(struct conn *c);

/* Stop/resume calling on_input (e.g. while a command runs). */
void conn_pause_input(struct conn *c);
void conn_resume_input(struct conn *c);

/* Begin a server-side TLS handshake after already-queued output (the
 * "OK Begin TLS" line) is flushed. Discards any input buffered so far
 * (RFC 9051 6.2.1: no plaintext command injection). */
int conn_starttls(struct conn *c, struct tls_ctx *tls);
bool conn_is_tls(const struct conn *c);
/* RFC 9266 tls-exporter channel binding (32 bytes). Returns false when not
 * available (no TLS, or TLS < 1.3). */
bool conn_tls_exporter(struct conn *c, unsigned char out[32]);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs, or "" */
const char *conn_tls_desc(const struct conn *c);

/* RFC 4978 COMPRESS=DEFLATE: from now on both directions are a raw
 * deflate stream (compressed, then encrypted under TLS). Output already queued (the tagged OK) is
 * sent uncompressed; input already buffered is taken as compressed.
 * Output is Z_SYNC_FLUSHed whenever the queue runs empty. Inflated input
 * reaches on_input in pieces of at most 64 KiB, so the protocol's input
 * limits apply unchanged. Returns -1 (nothing changed) when already
 * compressing, closing, or during a TLS handshake. Cannot be combined
 * with a later conn_starttls. Memory: docs/architecture.md. */
int conn_compress_start(struct conn *c);
bool conn_is_compressed(const struct conn *c);
/* Deflate parameters for what the server sends: level 1..9, window
 * 2^WBITS bytes, zlib memLevel (docs/architecture.md, "Compression"). */
#define CONN_DEFLATE_LEVEL 3
#define CONN_DEFLATE_WBITS 13
#define CONN_DEFLATE_MEMLEVEL 6

/* Flush queued output, then close (on_close is called). */
void conn_close(struct conn *c);
/* Close now, discarding output. */
void conn_abort(struct conn *c);
bool conn_is_closing(const struct conn *c);

const char *conn_peer_addr(const struct conn *c); /* "203.0.113.5" / "::1" */
/* The printable address of a peer ("203.0.113.5", "2001:db8::1", "local"
 * for unix sockets, "unknown"); v4-mapped IPv6 shown as IPv4. Returns the
 * TCP port, or -1 when the peer is not TCP. */
int net_peer_string(const struct sockaddr *peer, socklen_t len, char *out, size_t outsz);
int conn_peer_port(const struct conn *c);
int conn_fd(const struct conn *c);
struct event_loop *conn_loop(const struct conn *c);
void conn_set_arg(struct conn *c, void *arg);
/* Total bytes this connection holds in buffers (for memory limits and
 * the per-connection memory benchmark). */
size_t conn_memory(const struct conn *c);

/* Number of live conns in this process. */
size_t conn_count(void);

/* TLS contexts (tls.c). */
struct tls_ctx *tls_ctx_new(const char *cert_file, const char *key_file, const char *ciphers,
                            const char *ciphersuites, long session_timeout_s, char *err, size_t errlen);
/* Set the ALPN protocol id this context serves ("imap", RFC 9051 /
 * IANA registry). A client that offers ALPN without it is refused with
 * a no_application_protocol alert (ALPACA cross-protocol defence); a
 * client that offers no ALPN at all is served as before. */
void tls_ctx_set_alpn(struct tls_ctx *t, const char *proto);
/* Generate session ticket keys used by every tls_ctx_new() after this
 * call, in this process and its children (call in the master before
 * fork, so tickets resume on any worker). */
bool tls_ticket_keys_init(void);
void tls_ctx_ref(struct tls_ctx *t);
void tls_ctx_unref(struct tls_ctx *t);
/* Generate a self-signed certificate+key (RSA 2048 or P-256) for cn at the
 * given paths unless both exist. Returns false with err on failure. */
bool tls_generate_selfsigned(const char *cert_file, const char *key_file, const char *cn, char *err,
                             size_t errlen);

/* Listening sockets. spec is "host:port", "[v6]:port" or "*:port".
 * Returns fd (non-blocking, SO_REUSEADDR) or -1 with err. */
int listen_tcp(const char *spec, char *err, size_t errlen);
/* "*:port" and ":port" bind all addresses (one dual-stack IPv6 socket,
 * or IPv4 when the host has no IPv6); an explicit "[v6]:port" is
 * IPV6_V6ONLY. */
/* n listening sockets on the same address, for n processes that each
 * accept from their own (fds[0..n-1]; 0, or -1 with err and none open).
 * n > 1: every socket has SO_REUSEPORT, and the kernel spreads new
 * connections over the group by a hash of their addresses and ports; a
 * connection waits in the backlog of the socket it was hashed to. The
 * address must be free (a first bind without SO_REUSEPORT checks it, so
 * another server on the port is an error, not a partner in the group);
 * port 0 gives all n the same kernel-chosen port. n == 1: listen_tcp. */
int listen_tcp_group(const char *spec, int *fds, size_t n, char *err, size_t errlen);
/* Split a comma/space separated list of specs into xmalloc'd strings;
 * returns the count (0 for an empty list, which disables the service). */
size_t listen_split(const char *list, char ***out);
void listen_split_free(char **v, size_t n);

#endif
