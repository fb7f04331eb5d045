/* config.c - imapd.conf-style configuration (see config.h). */
#include "config.h"
#include <stdatomic.h>
#include "buf.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>

/* The option table. Keep in the same order as enum config_key and keep
 * docs/config.md in step. Defaults follow Cyrus where the option exists. */
static const struct config_desc descs[CFG__COUNT] = {
    [CFG_DATADIR] = {"datadir", CFG_T_STRING, "./var", 0, 0, NULL},
    [CFG_LISTEN_IMAP] = {"listen_imap", CFG_T_STRING, "127.0.0.1:1143", 0, 0, NULL},
    [CFG_LISTEN_IMAPS] = {"listen_imaps", CFG_T_STRING, "127.0.0.1:1993", 0, 0, NULL},
    [CFG_USER] = {"user", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_WORKERS] = {"workers", CFG_T_INT, "0", 0, 256, NULL},
    [CFG_ADMINS] = {"admins", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_ALLOWPLAINTEXT] = {"allowplaintext", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_TIMEOUT] = {"timeout", CFG_T_INT, "30", 1, 10080, NULL},
    [CFG_MAXMESSAGESIZE] = {"maxmessagesize", CFG_T_INT, "52428800", 1024, 2147483647LL, NULL},
    [CFG_SERVERNAME] = {"servername", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_SERVERINFO] = {"serverinfo", CFG_T_ENUM, "on", 0, 0, "on|min|off"},
    [CFG_TLS_SERVER_CERT] = {"tls_server_cert", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_TLS_SERVER_KEY] = {"tls_server_key", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_TLS_CIPHERS] = {"tls_ciphers", CFG_T_STRING,
                         "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS", 0, 0, NULL},
    [CFG_TLS_CIPHERSUITES] = {"tls_ciphersuites", CFG_T_STRING,
                              "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
                              0, 0, NULL},
    [CFG_TLS_SESSION_TIMEOUT] = {"tls_session_timeout", CFG_T_INT, "1440", 0, 10080, NULL},
    [CFG_UNIXHIERARCHYSEP] = {"unixhierarchysep", CFG_T_BOOL, "yes", 0, 0, NULL},
    [CFG_MAXCONNECTIONS] = {"maxconnections", CFG_T_INT, "20000", 0, 10000000, NULL},
    [CFG_MAXLOGINS_PER_HOST] = {"maxlogins_per_host", CFG_T_INT, "0", 0, 10000000, NULL},
    [CFG_MAXLOGINS_PER_USER] = {"maxlogins_per_user", CFG_T_INT, "0", 0, 10000000, NULL},
    [CFG_AUTH_FAILURE_DELAY] = {"auth_failure_delay", CFG_T_INT, "2", 0, 60, NULL},
    [CFG_AUTH_FAILURES_PER_HOST] = {"auth_failures_per_host", CFG_T_INT, "10", 0, 1000000, NULL},
    [CFG_SEARCH_MAXDEPTH] = {"search_maxdepth", CFG_T_INT, "32", 4, 1000, NULL},
    [CFG_MAXLINE] = {"maxline", CFG_T_INT, "65536", 65536, 16777216, NULL},
    [CFG_CONN_MEMORY_LIMIT] = {"conn_memory_limit", CFG_T_INT, "8388608", 65536, 1073741824LL, NULL},
    [CFG_SYSLOG] = {"syslog", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_SYSLOG_FACILITY] = {"syslog_facility", CFG_T_STRING, "mail", 0, 0, NULL},
    [CFG_DEBUG] = {"debug", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_LISTEN_POP3] = {"listen_pop3", CFG_T_STRING, "127.0.0.1:1110", 0, 0, NULL},
    [CFG_LISTEN_POP3S] = {"listen_pop3s", CFG_T_STRING, "127.0.0.1:1995", 0, 0, NULL},
    /* RFC 1939 3: the POP3 autologout timer MUST be at least 10 minutes. */
    [CFG_POPTIMEOUT] = {"poptimeout", CFG_T_INT, "10", 10, 10080, NULL},
    [CFG_POPMINPOLL] = {"popminpoll", CFG_T_INT, "0", 0, 10080, NULL},
    [CFG_POPEXPIRETIME] = {"popexpiretime", CFG_T_INT, "-1", -1, 36500, NULL},
    [CFG_ALLOWAPOP] = {"allowapop", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_POPSUBFOLDERS] = {"popsubfolders", CFG_T_BOOL, "no", 0, 0, NULL},
    /* The embedded default (make run) listens on loopback only; a
     * production config usually names a unix socket for Postfix. */
    [CFG_LISTEN_LMTP] = {"listen_lmtp", CFG_T_STRING, "127.0.0.1:1024", 0, 0, NULL},
    [CFG_LMTP_AUTH_REQUIRED] = {"lmtp_auth_required", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_LMTP_OVERQUOTA_PERM_FAILURE] = {"lmtp_overquota_perm_failure", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_LMTP_DOWNCASE_RCPT] = {"lmtp_downcase_rcpt", CFG_T_BOOL, "yes", 0, 0, NULL},
    [CFG_LMTP_ADD_MESSAGEID] = {"lmtp_add_messageid", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_LMTP_MAX_RECIPIENTS] = {"lmtp_max_recipients", CFG_T_INT, "1000", 1, 100000, NULL},
    [CFG_LMTP_TIMEOUT] = {"lmtp_timeout", CFG_T_INT, "300", 10, 86400, NULL},
    [CFG_CREATEONPOST] = {"createonpost", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_DUPLICATESUPPRESSION] = {"duplicatesuppression", CFG_T_BOOL, "yes", 0, 0, NULL},
    [CFG_DUPLICATE_EXPIRE] = {"duplicate_expire", CFG_T_INT, "3", 0, 3650, NULL},
    [CFG_REJECT8BIT] = {"reject8bit", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_MUNGE8BIT] = {"munge8bit", CFG_T_BOOL, "yes", 0, 0, NULL},
    [CFG_QUOTAWARN] = {"quotawarn", CFG_T_INT, "90", 0, 100, NULL},
    [CFG_AUTOCREATEQUOTA] = {"autocreatequota", CFG_T_INT, "0", -1, 2147483647LL, NULL},
    [CFG_AUTOCREATEQUOTAMSG] = {"autocreatequotamsg", CFG_T_INT, "0", -1, 2147483647LL, NULL},
    /* Cyrus's names and defaults: KiB of source, scripts per user. The
     * upper bound keeps a script something a worker can hold in memory. */
    [CFG_SIEVE_MAXSCRIPTSIZE] = {"sieve_maxscriptsize", CFG_T_INT, "32", 1, 65536, NULL},
    [CFG_SIEVE_MAXSCRIPTS] = {"sieve_maxscripts", CFG_T_INT, "5", 1, 100000, NULL},
    /* RFC 2342 namespaces; defaults as Cyrus's altnamespace. */
    [CFG_USERPREFIX] = {"userprefix", CFG_T_STRING, "Other Users", 0, 0, NULL},
    [CFG_SHAREDPREFIX] = {"sharedprefix", CFG_T_STRING, "Shared Folders", 0, 0, NULL},
    [CFG_AUTOCREATE_INBOX_FOLDERS] = {"autocreate_inbox_folders", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_AUTOSUBSCRIBE_INBOX_FOLDERS] = {"autosubscribe_inbox_folders", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_DEFAULTACL] = {"defaultacl", CFG_T_STRING, "anyone lrs", 0, 0, NULL},
    [CFG_ALLOWANONYMOUSLOGIN] = {"allowanonymouslogin", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_GROUPFILE] = {"groupfile", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_VIRTDOMAINS] = {"virtdomains", CFG_T_BOOL, "no", 0, 0, NULL},
    [CFG_DEFAULTDOMAIN] = {"defaultdomain", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_DEFAULTPARTITION] = {"defaultpartition", CFG_T_STRING, "default", 0, 0, NULL},
    [CFG_POSTUSER] = {"postuser", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_LMTP_ADDRESS_MAP] = {"lmtp_address_map", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_PROXYSERVERS] = {"proxyservers", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_PREAUTH_TIMEOUT] = {"preauth_timeout", CFG_T_INT, "60", 5, 3600, NULL},
    [CFG_MAXCONNECTIONS_PER_HOST_PREAUTH] = {"maxconnections_per_host_preauth", CFG_T_INT, "20", 0, 10000000, NULL},
    [CFG_SPOOL_MAX_PER_USER] = {"spool_max_per_user", CFG_T_INT, "268435456", 0, 1099511627776LL, NULL},
    [CFG_SPOOL_MAX_TOTAL] = {"spool_max_total", CFG_T_INT, "2147483648", 0, 1099511627776LL, NULL},
    [CFG_LMTP_IGNOREQUOTA_REQUIRES_AUTH] = {"lmtp_ignorequota_requires_auth", CFG_T_BOOL, "yes", 0, 0, NULL},
    [CFG_JOB_THREADS] = {"job_threads", CFG_T_INT, "4", 1, 64, NULL},
    [CFG_AUTH_CACHE_TTL] = {"auth_cache_ttl", CFG_T_INT, "3600", 0, 86400 * 30, NULL},
    [CFG_AUTH_CACHE_NEGATIVE_TTL] = {"auth_cache_negative_ttl", CFG_T_INT, "300", 0, 86400 * 30, NULL},
    [CFG_AUTH_CACHE_SIZE] = {"auth_cache_size", CFG_T_INT, "100000", 0, 10000000, NULL},
    [CFG_AUTH_HASH_CONCURRENCY] = {"auth_hash_concurrency", CFG_T_INT, "1", 1, 64, NULL},
    /* Cyrus's key and default. */
    [CFG_SENDMAIL] = {"sendmail", CFG_T_STRING, "/usr/sbin/sendmail", 0, 0, NULL},
    [CFG_SENDMAIL_TIMEOUT] = {"sendmail_timeout", CFG_T_INT, "60", 1, 3600, NULL},
    /* Pigeonhole's sieve_max_redirects (default 4); 0 = redirect refused. */
    [CFG_SIEVE_MAXREDIRECTS] = {"sieve_maxredirects", CFG_T_INT, "4", 0, 100, NULL},
    /* Seconds, Cyrus's keys and defaults (RFC 5230 4.1: at least 1 day
     * by default; RFC 6131 lets :seconds go lower when allowed). */
    [CFG_SIEVE_VACATION_MIN_RESPONSE] = {"sieve_vacation_min_response", CFG_T_INT, "86400", 0, 31536000, NULL},
    [CFG_SIEVE_VACATION_MAX_RESPONSE] = {"sieve_vacation_max_response", CFG_T_INT, "7776000", 0, 31536000, NULL},
    /* Pigeonhole's keys: script files (space-separated paths) run before
     * and after every user's own script at delivery; the directory that
     * "include :global" reads (NAME.sieve). */
    [CFG_SIEVE_BEFORE] = {"sieve_before", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_SIEVE_AFTER] = {"sieve_after", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_SIEVE_GLOBAL_DIR] = {"sieve_global_dir", CFG_T_STRING, "", 0, 0, NULL},
    /* Pigeonhole's keys for spamtest/virustest (RFC 5235), a subset:
     * the field holding the spam score (a number, or with type strlen a
     * run of characters such as SpamAssassin's X-Spam-Level "*****"),
     * the score that means certainly spam, and the field holding the
     * RFC 5235 3.2 virustest value 1..5 itself. Field names only:
     * Pigeonhole's "header: regexp" form is refused (set_value). */
    [CFG_SIEVE_SPAMTEST_STATUS_HEADER] = {"sieve_spamtest_status_header", CFG_T_STRING, "", 0, 0, NULL},
    [CFG_SIEVE_SPAMTEST_STATUS_TYPE] = {"sieve_spamtest_status_type", CFG_T_ENUM, "score", 0, 0, "score|strlen"},
    [CFG_SIEVE_SPAMTEST_MAX_VALUE] = {"sieve_spamtest_max_value", CFG_T_STRING, "10", 0, 0, NULL},
    [CFG_SIEVE_VIRUSTEST_STATUS_HEADER] = {"sieve_virustest_status_header", CFG_T_STRING, "", 0, 0, NULL},
    /* ManageSieve: RFC 5804 1.8's port 4190 on loopback for the embedded
     * default (make run); host:port or a unix socket path, as listen_lmtp. */
    [CFG_LISTEN_SIEVE] = {"listen_sieve", CFG_T_STRING, "127.0.0.1:4190", 0, 0, NULL},
    [CFG_METADATA_MAX_VALUE_SIZE] = {"metadata_max_value_size", CFG_T_INT, "16384", 1024, 65536, NULL},
    [CFG_METADATA_MAX_ENTRIES] = {"metadata_max_entries", CFG_T_INT, "200", 10, 100000, NULL},
    [CFG_METADATA_ADMIN] = {"metadata_admin", CFG_T_STRING, "", 0, 0, NULL},
    /* RFC 9738: 0 = no MESSAGELIMIT (not advertised, not enforced); the
     * RFC says an advertised limit SHOULD NOT be below 1000 (3). */
    [CFG_IMAP_MESSAGELIMIT] = {"imap_messagelimit", CFG_T_INT, "0", 0, 2147483647LL, NULL},
    /* RFC 9585 4 recommends a notification every 10-15 s; 0 = never. */
    [CFG_IMAP_INPROGRESS_INTERVAL_MS] = {"imap_inprogress_interval_ms", CFG_T_INT, "10000", 0, 3600000, NULL},
    /* RFC 7377 2.4: mailboxes one ESEARCH may search (more: NO [LIMIT]). */
    [CFG_IMAP_MULTISEARCH_MAX_MAILBOXES] = {"imap_multisearch_max_mailboxes", CFG_T_INT, "1000", 1, 100000, NULL},
};

#define MAX_PARTITIONS 64

struct config {
    struct config *retired_next;    /* config_install's retired list */
    char *path;
    char *str[CFG__COUNT];
    long long num[CFG__COUNT];
    char *part_name[MAX_PARTITIONS], *part_path[MAX_PARTITIONS];
    size_t npart;
};

static bool valid_partition_name(const char *n)
{
    size_t l = strlen(n);
    if (l == 0 || l > 64)
        return false;
    for (size_t i = 0; i < l; i++)
        if (!isalnum((unsigned char)n[i]) && n[i] != '_' && n[i] != '-')
            return false;
    return true;
}

/* "partition-NAME: PATH" (Cyrus spelling). A later line for the same
 * name replaces the earlier one. */
static bool set_partition(struct config *c, const char *name, const char *path, char *err, size_t errlen)
{
    if (!valid_partition_name(name)) {
        snprintf(err, errlen, "partition-%s: partition names are 1-64 of A-Z a-z 0-9 _ -", name);
        return false;
    }
    if (path[0] != '/') {
        snprintf(err, errlen, "partition-%s: \"%s\" is not an absolute path", name, path);
        return false;
    }
    for (size_t i = 0; i < c->npart; i++) {
        if (strcmp(c->part_name[i], name) == 0) {
            free(c->part_path[i]);
            c->part_path[i] = xstrdup(path);
            return true;
        }
    }
    if (c->npart == MAX_PARTITIONS) {
        snprintf(err, errlen, "partition-%s: more than %d partitions", name, MAX_PARTITIONS);
        return false;
    }
    c->part_name[c->npart] = xstrdup(name);
    c->part_path[c->npart] = xstrdup(path);
    c->npart++;
    return true;
}

const char *cfg_partition(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->npart; i++)
        if (strcmp(c->part_name[i], name) == 0)
            return c->part_path[i];
    return NULL;
}

const char *config_partition(const char *name) { return cfg_partition(config_current(), name); }

void config_partition_foreach(void (*cb)(const char *name, const char *path, void *arg), void *arg)
{
    const struct config *c = config_current();
    for (size_t i = 0; i < c->npart; i++)
        cb(c->part_name[i], c->part_path[i], arg);
}

/* The configuration in force. Pool threads (jobs.h) read it while the
 * loop thread may install a new one (SIGHUP), hence atomic; a replaced
 * configuration is retired, not freed, because a job may still hold a
 * string of it: config_free_retired() frees them when no job runs. */
static _Atomic(struct config *) current;
static struct config *retired;

const struct config_desc *config_describe(enum config_key k)
{
    return (unsigned)k < CFG__COUNT ? &descs[k] : NULL;
}

int config_parse_bool(const char *s)
{
    static const char *yes[] = {"yes", "on", "true", "1", "t", "y"};
    static const char *no[] = {"no", "off", "false", "0", "f", "n"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
    for (size_t i = 0; i < ARRAY_SIZE(no); i++)
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    return -1;
}

static bool enum_ok(const char *choices, const char *v)
{
    size_t vl = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == vl && strncasecmp(p, v, l) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

static bool set_value(struct config *c, enum config_key k, const char *value, char *err, size_t errlen)
{
    const struct config_desc *d = &descs[k];
    switch (d->type) {
    case CFG_T_STRING:
        if (k == CFG_SIEVE_SPAMTEST_STATUS_HEADER || k == CFG_SIEVE_VIRUSTEST_STATUS_HEADER) {
            /* RFC 5322 2.2 field name: printable ASCII but ':' */
            size_t n = strlen(value);
            bool ok = n <= 200;
            for (size_t i = 0; ok && i < n; i++)
                ok = value[i] > 32 && value[i] < 127 && value[i] != ':';
            if (!ok) {
                snprintf(err, errlen,
                         "%s: expected a header field name such as X-Spam-Score, got \"%s\" (Pigeonhole's "
                         "\"field: regexp\" form is not supported)",
                         d->name, value);
                return false;
            }
        } else if (k == CFG_SIEVE_SPAMTEST_MAX_VALUE) {
            char *end;
            double v = strtod(value, &end);
            if (end == value || *end || !(v > 0) || v > 1e9 || strpbrk(value, "xXnN")) {
                snprintf(err, errlen, "%s: expected a positive number such as 10 or 5.0, got \"%s\"", d->name,
                         value);
                return false;
            }
        }
        break;
    case CFG_T_BOOL: {
        int b = config_parse_bool(value);
        if (b < 0) {
            snprintf(err, errlen, "%s: expected a boolean (yes/no/on/off/true/false/1/0), got \"%s\"",
                     d->name, value);
            return false;
        }
        c->num[k] = b;
        break;
    }
    case CFG_T_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(value, &end, 10);
        /* Accept Cyrus-style unit suffixes for sizes: k, m, g. */
        long long unit = 1;
        if (end != value && *end && !end[1]) {
            switch (tolower((unsigned char)*end)) {
            case 'k': unit = 1024; end++; break;
            case 'm': unit = 1024 * 1024; end++; break;
            case 'g': unit = 1024LL * 1024 * 1024; end++; break;
            default: break;
            }
        }
        if (errno || end == value || *end) {
            snprintf(err, errlen, "%s: expected an integer, got \"%s\"", d->name, value);
            return false;
        }
        /* "17179869185g" does not fit: out of range, never a wrapped
         * (undefined) product that may land inside the bounds. */
        if (__builtin_mul_overflow(n, unit, &n)) {
            snprintf(err, errlen, "%s: \"%s\" is out of range (%lld..%lld)", d->name, value, d->min, d->max);
            return false;
        }
        if (n < d->min || n > d->max) {
            snprintf(err, errlen, "%s: %lld is out of range (%lld..%lld)", d->name, n, d->min, d->max);
            return false;
        }
        c->num[k] = n;
        break;
    }
    case CFG_T_ENUM:
        if (!enum_ok(d->choices, value)) {
            snprintf(err, errlen, "%s: \"%s\" is not one of %s", d->name, value, d->choices);
            return false;
        }
        break;
    }
    free(c->str[k]);
    c->str[k] = xstrdup(value);
    return true;
}

bool config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
    for (int k = 0; k < CFG__COUNT; k++)
        if (strcmp(descs[k].name, key) == 0)
            return set_value(c, (enum config_key)k, value, err, errlen);
    if (strncmp(key, "partition-", 10) == 0)
        return set_partition(c, key + 10, value, err, errlen);
    snprintf(err, errlen, "%s: unknown option", key);
    return false;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    struct config *c = xcalloc(1, sizeof(*c));
    for (int k = 0; k < CFG__COUNT; k++) {
        char dummy[256];
        if (!set_value(c, (enum config_key)k, descs[k].def, dummy, sizeof(dummy)))
            abort(); /* a bad built-in default is a programming error */
    }
    if (!path)
        return c;
    c->path = xstrdup(path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        config_free(c);
        return NULL;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    bool ok = true;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *colon = strchr(s, ':');
        if (!colon) {
            snprintf(err, errlen, "%s:%d: expected \"key: value\"", path, lineno);
            ok = false;
            break;
        }
        *colon = '\0';
        char *key = trim(s);
        char *value = trim(colon + 1);
        char sub[512];
        if (!config_set(c, key, value, sub, sizeof(sub))) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, sub);
            ok = false;
            break;
        }
    }
    free(line);
    fclose(f);
    if (!ok) {
        config_free(c);
        return NULL;
    }
    return c;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (int k = 0; k < CFG__COUNT; k++)
        free(c->str[k]);
    for (size_t i = 0; i < c->npart; i++) {
        free(c->part_name[i]);
        free(c->part_path[i]);
    }
    free(c->path);
    free(c);
}

void config_install(struct config *c)
{
    struct config *old = atomic_exchange(&current, c);
    if (old) {
        old->retired_next = retired;
        retired = old;
    }
}

void config_free_retired(void)
{
    while (retired) {
        struct config *n = retired->retired_next;
        config_free(retired);
        retired = n;
    }
}

struct config *config_current(void)
{
    struct config *c = atomic_load(&current);
    if (!c) {
        char err[16];
        c = config_load(NULL, err, sizeof(err));
        struct config *expected = NULL;
        if (!atomic_compare_exchange_strong(&current, &expected, c)) {
            config_free(c);
            c = expected;
        }
    }
    return c;
}

const char *cfg_str(const struct config *c, enum config_key k)
{
    return c->str[k] ? c->str[k] : "";
}
long long cfg_int(const struct config *c, enum config_key k) { return c->num[k]; }
bool cfg_bool(const struct config *c, enum config_key k) { return c->num[k] != 0; }

const char *config_str(enum config_key k) { return cfg_str(config_current(), k); }
long long config_int(enum config_key k) { return cfg_int(config_current(), k); }
bool config_bool(enum config_key k) { return cfg_bool(config_current(), k); }
const char *config_path(void) { return config_current()->path; }

/* Is user a word of a space/comma separated list (Cyrus's list syntax)? */
static bool list_has(const char *list, const char *user)
{
    size_t ul = strlen(user);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != ',' && *e != '\t')
            e++;
        if ((size_t)(e - p) == ul && ul && strncmp(p, user, ul) == 0)
            return true;
        p = e;
    }
    return false;
}

bool config_is_admin(const char *user) { return list_has(config_str(CFG_ADMINS), user); }

bool config_is_proxyserver(const char *user) { return list_has(config_str(CFG_PROXYSERVERS), user); }
