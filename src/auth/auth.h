/* auth.h - user database, password hashes and server-side SASL.
 *
 * User database: DATADIR/users.db (SQLite, WAL). It stores, per user, a
 * password hash in crypt(3) form (new hashes are yescrypt "$y$"; "$6$"
 * sha512-crypt and "$argon2id$" are accepted on import and verified) and
 * SCRAM-SHA-1 / SCRAM-SHA-256 keys (salt, iterations, StoredKey,
 * ServerKey, RFC 5802 3) derived when the password is set. No plaintext
 * password is ever written anywhere.
 *
 * User names: 1..255 bytes of [a-z0-9._@-] after lowercasing, not starting
 * with '.' or '-', no "..". '+' is reserved for sub-addressing. Names are
 * lowercased on login (Cyrus username_tolower).
 *
 * SASL: PLAIN (RFC 4616), LOGIN, SCRAM-SHA-1, SCRAM-SHA-256 (RFC 5802,
 * 7677) and their -PLUS variants with tls-exporter channel binding (RFC
 * 9266) when TLS 1.3 exporter material is available. Crypto primitives
 * are OpenSSL's (PBKDF2, HMAC, SHA); comparisons are constant-time.
 */
#ifndef DARIUS_AUTH_H
#define DARIUS_AUTH_H

#include "common.h"
#include "buf.h"
#include "base64.h"

#define AUTH_MAX_USERNAME 255
#define AUTH_MAX_PASSWORD 1024
#define SCRAM_DEFAULT_ITERATIONS 4096

enum auth_error {
    AUTH_OK = 0,
    AUTH_ERR_NOUSER = -1,
    AUTH_ERR_EXISTS = -2,
    AUTH_ERR_INVALID = -3,   /* bad user name / hash format */
    AUTH_ERR_IO = -4,
    AUTH_ERR_LOCKED = -5,    /* the account exists but may not log in */
};
const char *auth_strerror(int err);

/* ---- user database ---------------------------------------------------- */

int userdb_open(const char *datadir);   /* once per process */
void userdb_close(void);

/* Lowercase and validate a user name in place-copy; returns false when
 * invalid. out must hold AUTH_MAX_USERNAME+1 bytes. Under "virtdomains:
 * yes" the user id of a user of the defaultdomain has no domain part
 * (Cyrus): "bob@DEFAULTDOMAIN" becomes "bob"; "bob@other.example" stays.
 * So every caller that normalizes a login or recipient gets the canonical
 * id. */
bool userdb_normalize_name(const char *in, char *out);

int userdb_add(const char *name, const char *password);
/* Import with an existing crypt(3) hash ($y$, $6$, $argon2id$). SCRAM
 * keys are then unavailable until the password is next set. */
int userdb_add_hash(const char *name, const char *hash);
int userdb_set_password(const char *name, const char *password);
/* An account that exists (LMTP delivers to it, admins see it) but cannot
 * log in until a password is set: what an admin's IMAP "CREATE user/bob"
 * makes when bob is unknown. EXISTS when present. */
int userdb_add_locked(const char *name);
/* Rename an account, keeping its hash and SCRAM keys (EXISTS, NOUSER). */
int userdb_rename(const char *oldname, const char *newname);
int userdb_delete(const char *name);
/* Lock or unlock an account: a locked account keeps its password and
 * mail (LMTP still delivers) but cannot log in by any mechanism, also not
 * from the credential cache (auth-service.h) nor as a proxy login's
 * target. NOUSER when unknown. */
int userdb_set_locked(const char *name, bool locked);
int userdb_exists(const char *name);    /* 1 yes, 0 no, <0 error */
/* May the account log in at all: 1 it exists and is not locked
 * (userdb_add_locked), 0 no such user or locked, <0 error. What a proxy
 * login (SASL authzid) checks for the identity it becomes. */
int userdb_can_login(const char *name);
int userdb_count(void);
int userdb_list(void (*cb)(const char *name, void *arg), void *arg);

/* Verify a password, synchronously (tests and tools: a daemon verifies
 * through the authentication service, auth-service.h, never on its event
 * loop). Runs a dummy hash when the user is unknown so timing does not
 * reveal which users exist. Returns true only on a match. */
bool userdb_verify_password(const char *name, const char *password);

/* The crypt(3) hash of an already normalized name (as userdb_normalize_name
 * made it), for the users.db passdb of the authentication service. Safe
 * on any thread: it does not read the configuration and does not log.
 * AUTH_OK (hash copied, cap bytes at most), NOUSER, LOCKED (locked, or
 * created without a password), INVALID (hash longer than cap), IO. */
int userdb_lookup_hash(const char *norm, char *hash, size_t cap);

/* Called after every committed change of an account's credentials or
 * state: add, password, SCRAM keys, lock/unlock, rename (once with each
 * name), delete; on the thread that made the change, with the normalized
 * name. The daemon and the CLI send NOTIFY_AUTH_FLUSH from it, so that
 * every worker drops its cached verifications for the name. */
void userdb_set_change_hook(void (*hook)(const char *name));

struct scram_keys {
    unsigned char salt[32];
    size_t salt_len;
    unsigned iterations;
    unsigned char stored_key[64];
    unsigned char server_key[64];
    size_t key_len;   /* 20 for SHA-1, 32 for SHA-256 */
};
enum scram_hash { SCRAM_SHA1, SCRAM_SHA256 };
int userdb_get_scram(const char *name, enum scram_hash h, struct scram_keys *out);

/* ---- password hashing (password.c) ----------------------------------- */

/* New hash of a password (yescrypt). Caller frees. NULL on failure. */
char *password_hash(const char *password);
/* Verify against a stored crypt(3)-style hash; constant-time compare. */
bool password_verify(const char *password, const char *hash);
/* Spend what a verification costs, on a fixed hash: the answer for an
 * unknown or locked user takes as long as for a wrong password. */
void password_verify_dummy(const char *password);
#define PASSWORD_HASH_MAX_LEN 512
/* Is this a hash format we accept on import? */
bool password_hash_supported(const char *hash);

/* SCRAM key derivation (RFC 5802 3). */
bool scram_derive_keys(enum scram_hash h, const char *password, const unsigned char *salt, size_t salt_len,
                       unsigned iterations, struct scram_keys *out);

/* ---- SASL server ------------------------------------------------------ */

enum sasl_result {
    SASL_CONTINUE,   /* send out as a challenge, wait for client data */
    SASL_DONE,       /* authenticated; out may hold final server data (SCRAM v=) */
    SASL_FAIL,       /* authentication failed (bad credentials) */
    SASL_BADPROT,    /* malformed client message */
    SASL_VERIFY,     /* PLAIN, LOGIN: a user name and password arrived; have
                        them checked (sasl_verify_credentials, then the
                        authentication service, auth-service.h) and end the
                        exchange with sasl_verify_result */
};

struct sasl_params {
    bool tls;                       /* connection is encrypted */
    bool allow_plaintext;           /* PLAIN/LOGIN allowed without TLS */
    /* Channel binding: tls-exporter data, valid when cb_len == 32. */
    unsigned char cb_data[32];
    size_t cb_len;
    /* (added) The protocol has anonymous sessions (IMAP): ANONYMOUS is
     * offered/accepted when this is set AND "allowanonymouslogin: yes".
     * POP3 and LMTP leave it false (no anonymous maildrop/submitter). */
    bool allow_anonymous;
};

struct sasl_session;

/* Space-separated mechanism list to advertise for these params (PLAIN and
 * LOGIN omitted when !tls && !allow_plaintext; -PLUS only with cb data). */
void sasl_mechanisms(const struct sasl_params *p, struct buf *out);
/* NULL when the mechanism is unknown or not allowed for these params. */
struct sasl_session *sasl_start(const char *mech, const struct sasl_params *p);
/* Feed one client message (already base64-decoded; first call may have
 * in=NULL,len=0 when there was no initial response). */
enum sasl_result sasl_step(struct sasl_session *s, const unsigned char *in, size_t len, struct buf *out);
/* After SASL_VERIFY: the authentication identity as the client sent it
 * and its password (valid until sasl_verify_forget/_result/sasl_free). */
void sasl_verify_credentials(const struct sasl_session *s, const char **authcid, const char **password);
/* Wipe the password once the authentication service has its copy. */
void sasl_verify_forget(struct sasl_session *s);
/* The authentication service's answer: ok and the canonical user, or not
 * ok (user ignored). Decides authorization (proxy rules below) and ends
 * the exchange: SASL_DONE or SASL_FAIL (then sasl_attempted_user names
 * who was tried). */
enum sasl_result sasl_verify_result(struct sasl_session *s, bool ok, const char *user);
/* After SASL_DONE: the authenticated (normalized) user name, i.e. the
 * authorization identity. Authorization as another user is refused unless
 * authcid is listed in "proxyservers" (never implied by "admins"), and a
 * proxyserver with a domain part stays inside its domain. */
const char *sasl_username(const struct sasl_session *s);
/* After SASL_DONE of a proxy login: the authentication identity that
 * proved its credentials (for the login log line); NULL otherwise. */
const char *sasl_proxy_authcid(const struct sasl_session *s);
/* After SASL_FAIL: the user name tried (for logging), or "". */
const char *sasl_attempted_user(const struct sasl_session *s);
void sasl_free(struct sasl_session *s);
/* ANONYMOUS (RFC 4505) is offered by sasl_mechanisms and accepted by
 * sasl_start only when "allowanonymouslogin: yes"; after SASL_DONE
 * sasl_username() is "anonymous" and this is true. The trace string is
 * logged, never used as an identity. */
bool sasl_is_anonymous(const struct sasl_session *s);
/* (added) The canonical id of anonymous sessions and the LOGIN name that
 * asks for one (Cyrus): "anonymous". Never a userdb account. */
#define AUTH_ANONYMOUS_USER "anonymous"
/* (added) RFC 4505 3: trace is at most 255 characters (UTF-8: <= 1020
 * octets). */
#define SASL_ANONYMOUS_MAX_TRACE 1020
/* (added) Is anonymous login allowed for a protocol that supports it
 * ("allowanonymouslogin: yes")? */
bool auth_anonymous_allowed(void);
/* (added) Log an anonymous login's trace information (RFC 4505 3: the
 * server SHOULD log it), made printable and bounded. */
void auth_log_anonymous(const char *proto, const char *peer, const char *trace, size_t len);

/* Base64 for SASL exchanges: base64_encode / base64_decode_strict from
 * base64.h (src/lib). */

/* ---- additions (auth owner) ------------------------------------------ */

/* Store SCRAM keys directly (tests; also lets an import tool carry keys
 * over from another server). The user must exist. */
int userdb_set_scram(const char *name, enum scram_hash h, const struct scram_keys *keys);

/* Per-install secret (random, kept in users.db) used to derive fake SCRAM
 * salts for unknown users. Fills 32 bytes; false when the db is not open. */
bool userdb_install_secret(unsigned char out[32]);

/* Test hook: when non-NULL, SCRAM uses this server nonce instead of a
 * random one (RFC 5802/7677 example exchanges). Never set in production. */
void sasl_test_set_server_nonce(const char *nonce);

#endif
