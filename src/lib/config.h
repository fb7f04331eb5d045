/* config.h - imapd.conf-style configuration.
 *
 * File format (Cyrus compatible): "key: value" per line, '#' starts a
 * comment line, blank lines ignored, leading/trailing whitespace trimmed.
 * Booleans accept yes/no/on/off/true/false/1/0. An unknown key or a bad
 * value is a start-up error naming file, line and key.
 *
 * Every option is declared once in config.c's table (name, type, default,
 * bounds). Call sites use the enum below so a misspelt option is a compile
 * error. Add new options to both; docs/config.md documents each one.
 */
#ifndef DARIUS_CONFIG_H
#define DARIUS_CONFIG_H

#include "common.h"

enum config_key {
    CFG_DATADIR,
    CFG_LISTEN_IMAP,
    CFG_LISTEN_IMAPS,
    CFG_USER,
    CFG_WORKERS,
    CFG_ADMINS,
    CFG_ALLOWPLAINTEXT,
    CFG_TIMEOUT,
    CFG_MAXMESSAGESIZE,
    CFG_SERVERNAME,
    CFG_SERVERINFO,
    CFG_TLS_SERVER_CERT,
    CFG_TLS_SERVER_KEY,
    CFG_TLS_CIPHERS,
    CFG_TLS_CIPHERSUITES,
    CFG_TLS_SESSION_TIMEOUT,
    CFG_UNIXHIERARCHYSEP,
    CFG_MAXCONNECTIONS,
    CFG_MAXLOGINS_PER_HOST,
    CFG_MAXLOGINS_PER_USER,
    CFG_AUTH_FAILURE_DELAY,
    CFG_AUTH_FAILURES_PER_HOST,
    CFG_SEARCH_MAXDEPTH,
    CFG_MAXLINE,
    CFG_CONN_MEMORY_LIMIT,
    CFG_SYSLOG,
    CFG_SYSLOG_FACILITY,
    CFG_DEBUG,
    /* POP3 (RFC 1939, 2449) */
    CFG_LISTEN_POP3,
    CFG_LISTEN_POP3S,
    CFG_POPTIMEOUT,
    CFG_POPMINPOLL,
    CFG_POPEXPIRETIME,
    CFG_ALLOWAPOP,
    CFG_POPSUBFOLDERS,
    /* LMTP delivery (RFC 2033) */
    CFG_LISTEN_LMTP,
    CFG_LMTP_AUTH_REQUIRED,
    CFG_LMTP_OVERQUOTA_PERM_FAILURE,
    CFG_LMTP_DOWNCASE_RCPT,
    CFG_LMTP_ADD_MESSAGEID,
    CFG_LMTP_MAX_RECIPIENTS,
    CFG_LMTP_TIMEOUT,
    CFG_CREATEONPOST,
    CFG_DUPLICATESUPPRESSION,
    CFG_DUPLICATE_EXPIRE,
    CFG_REJECT8BIT,
    CFG_MUNGE8BIT,
    /* Quotas (RFC 9208) */
    CFG_QUOTAWARN,
    CFG_AUTOCREATEQUOTA,
    CFG_AUTOCREATEQUOTAMSG,
    /* Sieve script storage (RFC 5228, RFC 5804) */
    CFG_SIEVE_MAXSCRIPTSIZE,
    CFG_SIEVE_MAXSCRIPTS,
    /* Multi-user store: namespaces, ACLs, domains, partitions */
    CFG_USERPREFIX,
    CFG_SHAREDPREFIX,
    CFG_AUTOCREATE_INBOX_FOLDERS,
    CFG_AUTOSUBSCRIBE_INBOX_FOLDERS,
    CFG_DEFAULTACL,
    CFG_ALLOWANONYMOUSLOGIN,
    CFG_GROUPFILE,
    CFG_VIRTDOMAINS,
    CFG_DEFAULTDOMAIN,
    CFG_DEFAULTPARTITION,
    CFG_POSTUSER,
    CFG_LMTP_ADDRESS_MAP,
    /* Hostile-client limits (docs/security.md) */
    CFG_PROXYSERVERS,
    CFG_PREAUTH_TIMEOUT,
    CFG_MAXCONNECTIONS_PER_HOST_PREAUTH,
    CFG_SPOOL_MAX_PER_USER,
    CFG_SPOOL_MAX_TOTAL,
    CFG_LMTP_IGNOREQUOTA_REQUIRES_AUTH,
    CFG_JOB_THREADS,
    CFG_AUTH_CACHE_TTL,
    CFG_AUTH_CACHE_NEGATIVE_TTL,
    CFG_AUTH_CACHE_SIZE,
    CFG_AUTH_HASH_CONCURRENCY,
    /* Mail that leaves the server (Sieve redirect, vacation, MDN) */
    CFG_SENDMAIL,
    CFG_SENDMAIL_TIMEOUT,
    CFG_SIEVE_MAXREDIRECTS,
    CFG_SIEVE_VACATION_MIN_RESPONSE,
    CFG_SIEVE_VACATION_MAX_RESPONSE,
    /* Sieve at delivery: global scripts (Pigeonhole's names) */
    CFG_SIEVE_BEFORE,
    CFG_SIEVE_AFTER,
    CFG_SIEVE_GLOBAL_DIR,
    /* spamtest / virustest (RFC 5235): the scanners' header fields */
    CFG_SIEVE_SPAMTEST_STATUS_HEADER,
    CFG_SIEVE_SPAMTEST_STATUS_TYPE,
    CFG_SIEVE_SPAMTEST_MAX_VALUE,
    CFG_SIEVE_VIRUSTEST_STATUS_HEADER,
    /* ManageSieve (RFC 5804) */
    CFG_LISTEN_SIEVE,
    /* METADATA (RFC 5464) */
    CFG_METADATA_MAX_VALUE_SIZE,
    CFG_METADATA_MAX_ENTRIES,
    CFG_METADATA_ADMIN,
    /* MESSAGELIMIT (RFC 9738), INPROGRESS (RFC 9585), MULTISEARCH (RFC 7377) */
    CFG_IMAP_MESSAGELIMIT,
    CFG_IMAP_INPROGRESS_INTERVAL_MS,
    CFG_IMAP_MULTISEARCH_MAX_MAILBOXES,
    CFG__COUNT
};

enum config_type { CFG_T_STRING, CFG_T_INT, CFG_T_BOOL, CFG_T_ENUM };

struct config_desc {
    const char *name;
    enum config_type type;
    const char *def;      /* default, as it would appear in the file */
    long long min, max;   /* CFG_T_INT bounds */
    const char *choices;  /* CFG_T_ENUM: "|"-separated allowed values */
};

struct config;

/* Parse a file. On error returns NULL and writes "FILE:LINE: key: problem"
 * into err. path NULL means "defaults only" (the embedded configuration). */
struct config *config_load(const char *path, char *err, size_t errlen);
/* Apply one "key: value" override (used by the embedded default config and
 * tests). Returns false and fills err on unknown key or bad value. */
bool config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);
void config_free(struct config *c);

/* The process-wide current configuration (set after load / SIGHUP). */
/* Takes ownership; the previous configuration is retired (a pool thread
 * may still read it) and freed by config_free_retired(), which the
 * caller runs when no job is running. */
void config_install(struct config *c);
void config_free_retired(void);
struct config *config_current(void);

const char *config_str(enum config_key k);      /* never NULL; "" when unset */
long long config_int(enum config_key k);
bool config_bool(enum config_key k);
const char *config_path(void);                  /* file it came from, or NULL */

const char *cfg_str(const struct config *c, enum config_key k);
long long cfg_int(const struct config *c, enum config_key k);
bool cfg_bool(const struct config *c, enum config_key k);

const struct config_desc *config_describe(enum config_key k);

/* True when the user name appears in the "admins" list (space or comma
 * separated, as in Cyrus). */
bool config_is_admin(const char *user);
/* True when the user appears in "proxyservers": the only identities that
 * may authenticate as one user and act as another (SASL authzid), as in
 * Cyrus. Membership in "admins" grants no proxy rights. */
bool config_is_proxyserver(const char *user);

/* Storage partitions: "partition-NAME: PATH" lines (Cyrus). Any number;
 * NAME is 1..64 of [A-Za-z0-9_-]. config_partition() returns the path of
 * a partition or NULL; config_partition_foreach() visits them in file
 * order. The partition named by defaultpartition need not be listed when
 * it is "default": that one is DATADIR itself. */
const char *config_partition(const char *name);
const char *cfg_partition(const struct config *c, const char *name);
void config_partition_foreach(void (*cb)(const char *name, const char *path, void *arg), void *arg);

/* Parse a boolean word; returns -1 when not a boolean. */
int config_parse_bool(const char *s);

#endif
