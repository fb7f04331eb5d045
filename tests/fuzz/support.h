/* support.h - what the libFuzzer targets in tests/fuzz/ share (support.c).
 *
 * Each tests/fuzz/fuzz-NAME.c defines LLVMFuzzerTestOneInput (and, when it
 * needs a store, users or an event loop, LLVMFuzzerInitialize) and is
 * linked with support.o and every layer library (Makefile: `make fuzz`).
 *
 * Rules every target follows:
 *   - everything an input allocates is freed before the next one (libFuzzer
 *     reports leaks per input);
 *   - no state carried from one input to the next changes what the next
 *     one does (stores are reset to their initial content when an input
 *     changed them), so a crash reproduces from its input file alone;
 *   - logging is off (DARIUS_FUZZ_LOG=1 turns it on, to stderr) and the
 *     failed-login delays are 0.
 */
#ifndef DARIUS_FUZZ_SUPPORT_H
#define DARIUS_FUZZ_SUPPORT_H

#include "common.h"
#include "buf.h"
#include "event.h"

/* The password of every account the targets create. The password check
 * itself is support.c's __wrap_password_verify (the Makefile links with
 * -Wl,--wrap=password_verify): yescrypt costs tens of milliseconds per
 * attempt, which would leave the fuzzer no time for the parsers. Hash
 * formats are not client input. */
#define FUZZ_PASSWORD "fuzzpass"
bool __wrap_password_verify(const char *password, const char *hash);

/* The libFuzzer entry points (declared for -Wmissing-prototypes). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Logging off (or to stderr with DARIUS_FUZZ_LOG=1), SIGPIPE ignored. */
void fuzz_quiet(const char *role);

/* A new empty directory for a target's data, removed at exit: under
 * $DARIUS_FUZZ_TMPDIR, else /dev/shm (tmpfs: fsync costs nothing), else
 * $TMPDIR or /tmp. Exits on failure. */
const char *fuzz_tmpdir(void);

/* Install a default configuration with datadir (may be NULL), servername
 * fuzz.test, allowplaintext yes and no failed-login delays; limits_init().
 * Further keys with fuzz_set. */
void fuzz_config(const char *datadir);
void fuzz_set(const char *key, const char *value);

/* storage_init + userdb_open on dir; exits on failure. */
void fuzz_store_open(const char *dir);
/* Add a user with FUZZ_PASSWORD (exits on failure). */
void fuzz_add_user(const char *name);

/* A text describing a store's mailboxes (names, UIDVALIDITY, UIDNEXT,
 * HIGHESTMODSEQ, counts, ACLs, special-use, subscriptions) into out;
 * false (out empty) when the store does not exist. Two equal texts mean
 * the store was not changed. */
bool fuzz_store_fingerprint(const char *user, struct buf *out);
/* Remove a user's store (exits when it cannot). */
void fuzz_store_delete(const char *user);
/* Keep a copy of a user's store as it is now (fuzz_store_save; the store
 * must not be open), and put it back later (fuzz_store_restore): a plain
 * copy of the store directory, much cheaper than deleting the store and
 * building it again through the storage API, and it also keeps the
 * UIDVALIDITY values. */
void fuzz_store_save(const char *user);
void fuzz_store_restore(const char *user);
/* Append a message to a mailbox of user's store, creating the store and
 * the mailbox when needed (exits on failure). */
void fuzz_store_append(const char *user, const char *mailbox, const char *data, size_t len, uint32_t flags);

/* Three messages for the session targets (a simple one with encoded
 * words, a multipart with an encapsulated message and attachments, one
 * with bare LF line ends and lines starting with '.'), appended to the
 * INBOX of user. */
void fuzz_populate(const char *user);

/* The shared event loop (created on first use). */
struct event_loop *fuzz_loop(void);

/* One conversation with an in-process server: a socketpair is created,
 * accept(server_fd, arg) hands the server end to the front-end, the
 * client end writes the prefix (may be NULL) and the input, then shuts
 * down its sending side, and the loop runs until the server closed the
 * connection and count() is 0. The server's output is appended to out
 * when out is not NULL (else discarded; with DARIUS_FUZZ_VERBOSE set it
 * is printed to stderr). A session still open 20 s after
 * the client's EOF is a bug (it would hold a connection slot forever):
 * abort(), so libFuzzer keeps the input; so is a connection slot
 * (limits_conn_total) still taken once the session is gone. */
void fuzz_converse(void (*accept)(int fd, void *arg), void *arg, size_t (*count)(void), const char *prefix,
                   const uint8_t *in, size_t len, struct buf *out);

/* Split data at the first occurrence of sep: (*a, *alen) before it, (*b, *blen)
 * after it (when sep is absent: all of data in a, b empty). */
void fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a, size_t *alen,
                const uint8_t **b, size_t *blen);

/* An IMAP command text as the reader hands it over: cmd's text is a copy
 * of data (with a buffer even when len is 0) and ps a parser over it.
 * fuzz_imap_cmd_free frees what the parser allocated for cmd and the
 * text. */
struct imap_cmd;
struct imap_parser;
void fuzz_imap_cmd_init(struct imap_cmd *cmd, struct imap_parser *ps, const uint8_t *data, size_t len, bool utf8);
void fuzz_imap_cmd_free(struct imap_cmd *cmd);

/* The body of a multipart/mixed message with boundary "outer" shared by
 * the targets' sample messages: a quoted-printable text part, then an
 * encapsulated message (multipart/alternative, boundary "inner", with a
 * base64 part), then the delimiter of a last part the message adds
 * itself (its part headers, body and "--outer--"). */
#define FUZZ_MSG_OUTER_PARTS                                                                                  \
    "preamble\r\n"                                                                                            \
    "--outer\r\n"                                                                                             \
    "Content-Type: text/plain; charset=iso-8859-1\r\n"                                                        \
    "Content-Transfer-Encoding: quoted-printable\r\n"                                                         \
    "\r\n"                                                                                                    \
    "caf=E9 =\r\nsoft break\r\n"                                                                              \
    "--outer\r\n"                                                                                             \
    "Content-Type: message/rfc822\r\n"                                                                        \
    "\r\n"                                                                                                    \
    "From: c@example.com\r\n"                                                                                 \
    "Subject: inner\r\n"                                                                                      \
    "Content-Type: multipart/alternative; boundary=inner\r\n"                                                 \
    "\r\n"                                                                                                    \
    "--inner\r\n"                                                                                             \
    "Content-Type: text/plain\r\n"                                                                            \
    "\r\n"                                                                                                    \
    "inner text\r\n"                                                                                          \
    "--inner\r\n"                                                                                             \
    "Content-Type: text/html\r\n"                                                                            \
    "Content-Transfer-Encoding: base64\r\n"                                                                   \
    "\r\n"                                                                                                    \
    "PGI+aGk8L2I+\r\n"                                                                                        \
    "--inner--\r\n"                                                                                           \
    "--outer\r\n"

#endif
