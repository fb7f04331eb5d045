/* sieve.h - the Sieve mail filtering language (RFC 5228 and extensions).
 *
 * The language core, used by LMTP delivery, `darius deliver`, ManageSieve
 * and `darius sieve`. It stores nothing and sends nothing: a script is
 * compiled (sieve_compile) into a checked binary form the caller keeps
 * beside the source; at delivery the caller loads it (sieve_binary_load)
 * and runs it (sieve_run) against the message and its envelope, and gets
 * back an ordered list of actions to carry out (file into these mailboxes,
 * redirect to this address, send this vacation reply, ...). Everything
 * that touches the store, the duplicate database or the outside world goes
 * through caller-supplied callbacks or is left to the caller as an action.
 *
 * Scripts are hostile input (a user uploads them): the parser bounds the
 * script size, nesting depth, string and list lengths and the number of
 * commands; a run bounds its steps, actions, redirects, variables, regex
 * sizes and the amount of body text examined. A run that hits a limit or
 * a run-time error returns SIEVE_RUN_ERROR; the caller then keeps the
 * message (RFC 5228 2.10.6: "the implicit keep is performed") and logs
 * the message of sieve_result_error().
 *
 * Layer: src/sieve depends only on src/lib and src/mail.
 */
#ifndef DARIUS_SIEVE_H
#define DARIUS_SIEVE_H

#include "common.h"
#include "buf.h"

/* ---- limits ----
 * A zero field means "the default" (sieve_limits_default's value). */
struct sieve_limits {
    /* compile time */
    size_t max_script_size;   /* bytes of source (sieve_maxscriptsize), default 1 MiB */
    unsigned max_nesting;     /* depth of blocks and tests, default 32 */
    size_t max_string;        /* bytes in one string, default 64 KiB */
    size_t max_list;          /* strings in one string list, default 1024 */
    unsigned max_commands;    /* commands and tests in one script, default 10000 */
    unsigned max_errors;      /* diagnostics collected before giving up, default 20 */
    /* Space-separated capability names the caller allows (for example
     * without "vacation" when there is no sendmail); NULL = every
     * extension sieve_extensions_string() lists. */
    const char *extensions;
    /* run time */
    uint64_t max_steps;       /* interpreter steps (commands, tests, compared values, :matches and
                                 regex work), default 1000000 */
    unsigned max_actions;     /* actions in the result, default 64 */
    unsigned max_redirects;   /* redirect actions (MAXREDIRECTS), default 4 */
    unsigned max_include_depth; /* nested includes, default 5 */
    unsigned max_variables;   /* distinct variables, default 128 */
    size_t max_variable_size; /* bytes of one variable value, default 4096 */
    size_t max_regex;         /* bytes of one regex pattern, default 512 */
    size_t max_body;          /* bytes of body text the body/extracttext tests read, default 1 MiB */
};
void sieve_limits_default(struct sieve_limits *l);

/* The "SIEVE" capability string (ManageSieve CAPABILITY, RFC 5804 1.7):
 * the extensions that are implemented, space-separated, in a static
 * buffer. Only extensions that really work are listed. */
const char *sieve_extensions_string(void);
/* Is the capability name (for example "fileinto", "comparator-i;octet")
 * implemented? */
bool sieve_extension_known(const char *name);
/* The enotify methods (ManageSieve's NOTIFY capability, RFC 5804 1.7):
 * "mailto" (RFC 5436). */
const char *sieve_notify_methods_string(void);

/* ---- diagnostics ----
 * Errors and warnings of a compile, each with the 1-based line and column
 * in the source (ManageSieve shows them on PUTSCRIPT/CHECKSCRIPT). */
struct sieve_diag {
    unsigned line, col;
    bool warning;
    char *msg;
};
struct sieve_diags {
    struct sieve_diag *v;
    size_t n, cap;
    size_t nerrors;
};
void sieve_diags_free(struct sieve_diags *d);
/* Append "line:col: error: msg\n" (or "warning:") per diagnostic. */
void sieve_diags_format(const struct sieve_diags *d, struct buf *out);

/* ---- compiling ----
 * Parse and validate src (len bytes, UTF-8). On success returns true and
 * sets *bin (xmalloc'd, *binlen bytes): the binary form to store; warnings
 * may be in diags. On failure returns false, *bin is NULL and diags holds
 * at least one error. diags must be zero-initialised by the caller (or
 * hold earlier diagnostics, which are kept). limits may be NULL. */
bool sieve_compile(const char *src, size_t len, const struct sieve_limits *limits, unsigned char **bin,
                   size_t *binlen, struct sieve_diags *diags);

/* ---- the binary form ----
 * "DSVB", a format version, the payload length and a checksum over the
 * payload, then the validated script tree. Loading verifies all of them
 * and validates the tree again, so neither damage nor a binary written by
 * an older Darius can reach the interpreter: on SIEVE_LOAD_VERSION or
 * SIEVE_LOAD_CORRUPT the caller recompiles from the source. A script
 * that needs an extension limits->extensions no longer allows also
 * loads as SIEVE_LOAD_CORRUPT; recompiling then reports which one, and
 * the caller keeps the mail (RFC 5228 2.10.6) until the user fixes it. */
#define SIEVE_BINARY_VERSION 1
enum sieve_load_status {
    SIEVE_LOAD_OK = 0,
    SIEVE_LOAD_CORRUPT,   /* bad magic, length, checksum or structure */
    SIEVE_LOAD_VERSION,   /* another format version: recompile */
};
/* A loaded script is immutable: sieve_run only reads it, so one load can
 * serve every message and recipient (and threads) until the binary
 * changes. Loading costs more than a run (a 30-rule script: about 150
 * microseconds to load, 45 to run, on the development machine), so
 * callers delivering many messages keep loaded scripts cached. */
struct sieve_script;
struct sieve_script *sieve_binary_load(const void *bin, size_t len, const struct sieve_limits *limits,
                                       enum sieve_load_status *status);
void sieve_script_free(struct sieve_script *s);

/* ---- running ---- */
struct sieve_envelope {
    const char *from;      /* MAIL FROM without <>, "" for the null sender */
    const char *to;        /* RCPT TO of this recipient */
    const char *orig_to;   /* original recipient (ORCPT) or NULL */
    const char *auth_user; /* SMTP AUTH identity or NULL */
};

/* What the caller supplies; every callback may be NULL (then the test is
 * answered as documented per field). */
struct sieve_callbacks {
    void *ctx;
    /* mailbox (RFC 5490): does it exist? NULL: false. */
    bool (*mailbox_exists)(void *ctx, const char *mailbox);
    /* special-use (RFC 8579): does mailbox (NULL: any mailbox) carry the
     * special-use flag (like "\\Junk")? NULL: false. */
    bool (*specialuse_exists)(void *ctx, const char *mailbox, const char *flag);
    /* mailboxid (RFC 9042): does a mailbox with this id exist? NULL: false. */
    bool (*mailboxid_exists)(void *ctx, const char *id);
    /* duplicate (RFC 7352): was (handle, value) seen within seconds? The
     * caller records the pair when the whole run succeeds (RFC 7352 3:
     * only then; delivery-sieve.c: after the delivery); last asks for the
     * :last semantics (the period runs from the last occurrence). seconds
     * is capped at 365 days; 0 must answer false (3.3). NULL: never a
     * duplicate. */
    bool (*duplicate)(void *ctx, const char *handle, const char *value, size_t vlen, uint64_t seconds,
                      bool last);
    /* include (RFC 6609): the source of script name from the personal or
     * global location, xmalloc'd (length in *len), or NULL when it does
     * not exist. NULL callback: every include fails (:optional ones are
     * skipped). */
    char *(*include_load)(void *ctx, const char *name, bool global, size_t *len);
};

/* Run-time settings the operator configures. */
struct sieve_run_config {
    const char *domain;        /* environment "domain" */
    const char *host;          /* environment "host" */
    const char *location;      /* environment "location": "MDA" by default */
    const char *phase;         /* environment "phase": "during" by default */
    const char *remote_host, *remote_ip; /* environment, NULL = absent */
    /* spamtest/spamtestplus (RFC 5235): the header holding the spam score
     * (for example "X-Spam-Score"; at delivery sieve_spamtest_status_
     * header), as a number that must start the value (no hex, inf, NaN),
     * and the score that means certainly spam (spamtest 10, 100 %; 0
     * means 10). A score s maps to spamtest 1 + round(9 s / max) and to
     * round(100 s / max) %, clamped. NULL header, no such field or no
     * number: spamtest "0" (not tested). */
    const char *spam_header;
    double spam_max;
    /* the score is the value's length in characters, not a number (a
     * run such as SpamAssassin's X-Spam-Level "*****") */
    bool spam_strlen;
    /* virustest: the header holding the RFC 5235 3.2 value 1..5
     * directly. NULL: "0" (not tested). */
    const char *virus_header;
    /* currentdate: the time to use, 0 = now. */
    int64_t now;
    int local_tz_minutes;      /* zone of currentdate and :originalzone-less date, east of UTC */
};

enum sieve_action_type {
    SIEVE_ACT_KEEP = 1,
    SIEVE_ACT_FILEINTO,
    SIEVE_ACT_REDIRECT,
    SIEVE_ACT_DISCARD,
    SIEVE_ACT_REJECT,
    SIEVE_ACT_EREJECT,
    SIEVE_ACT_VACATION,
    SIEVE_ACT_NOTIFY,
    SIEVE_ACT_ADDHEADER,     /* editheader: already applied to sieve_result_header() */
    SIEVE_ACT_DELETEHEADER,
};

/* One action. Strings are owned by the result; unused fields are NULL/0.
 *
 * The list is in the order the script executed the actions, with the
 * implicit keep (when not cancelled) last. What the caller does:
 *  - KEEP: store in INBOX (mailbox NULL) with flags when flags_set.
 *    At most one KEEP is in the list, and none next to a FILEINTO
 *    "INBOX" (RFC 5228 2.10.3: keep's mailbox is INBOX).
 *  - FILEINTO: store in mailbox (create it first with :create; prefer
 *    the :mailboxid or :specialuse mailbox when it exists, RFC 9042 /
 *    RFC 8579); a failure there is a run-time error: keep instead.
 *  - DISCARD: nothing; it only cancelled the implicit keep, other
 *    actions in the list still happen (RFC 5228 4.4).
 *  - REDIRECT: resend to address through the MTA, guarding against
 *    loops (RFC 5228 4.2) and keeping the envelope sender.
 *  - REJECT/EREJECT: refuse at LMTP time (550 5.7.1 text) or send an MDN
 *    (RFC 5429 2.1/2.2); never combined with a delivery or a vacation.
 *  - VACATION: the RFC 3834/5230 checks (not to lists, bulk,
 *    auto-submitted mail or the user's own addresses, once per sender
 *    and handle per seconds) are the caller's, then send text (a MIME
 *    entity when mime) with subject/from, and store a copy in mailbox
 *    when set (:fcc, RFC 8580).
 *  - NOTIFY: the mailto method (RFC 5436) with from, importance,
 *    options and message (NULL: the caller's default text).
 *  - ADDHEADER/DELETEHEADER: informational; their effect is already in
 *    sieve_result_header(). */
struct sieve_action {
    enum sieve_action_type type;
    bool implicit;           /* KEEP: the implicit keep (RFC 5228 2.10.2) */
    /* KEEP, FILEINTO, and the :fcc of VACATION/NOTIFY */
    const char *mailbox;     /* FILEINTO/fcc target (KEEP: NULL = INBOX) */
    bool copy;               /* :copy (FILEINTO, REDIRECT) */
    bool create;             /* :create (RFC 5490) */
    char **flags;            /* imap4flags (RFC 5232): the flags to set on the stored message */
    size_t nflags;
    bool flags_set;          /* flags were given (:flags or the internal variable was used) */
    const char *specialuse;  /* :specialuse (RFC 8579) */
    const char *mailboxid;   /* :mailboxid (RFC 9042) */
    /* REDIRECT: address; NOTIFY: method URI; ADDHEADER/DELETEHEADER: field name */
    const char *address;
    /* REJECT/EREJECT: reason; VACATION: reason (body); NOTIFY: :message;
     * ADDHEADER: value */
    const char *text;
    /* VACATION (RFC 5230, 6131) */
    uint64_t seconds;        /* :days * 86400 or :seconds, default 7 days */
    const char *subject, *from, *handle;
    char **addresses;        /* :addresses (VACATION); :options (NOTIFY) */
    size_t naddresses;
    bool mime;
    /* NOTIFY (RFC 5435): from, importance ("1".."3") */
    const char *importance;
    /* ADDHEADER: :last */
    bool last;
};

enum sieve_run_status {
    SIEVE_RUN_OK = 0,
    SIEVE_RUN_ERROR,   /* run-time error or limit: keep the message (the result holds one implicit KEEP) */
};

struct sieve_result;

/* Run script against the message (data, len: the whole RFC 5322 message,
 * which must outlive the result) for one recipient. Never fails to
 * produce a result: on SIEVE_RUN_ERROR the action list is replaced by a
 * single implicit keep and sieve_result_error() tells why. cb and cfg may
 * be NULL; limits NULL = defaults. */
enum sieve_run_status sieve_run(const struct sieve_script *script, const char *data, size_t len,
                                const struct sieve_envelope *env, const struct sieve_callbacks *cb,
                                const struct sieve_run_config *cfg, const struct sieve_limits *limits,
                                struct sieve_result **result);

size_t sieve_result_count(const struct sieve_result *r);
const struct sieve_action *sieve_result_action(const struct sieve_result *r, size_t i);
/* The run-time error message, NULL after a clean run. */
const char *sieve_result_error(const struct sieve_result *r);
/* After editheader changes: the message's new header block (ending with
 * the blank line); NULL when the header is unchanged. The caller stores
 * this header followed by the original body (data + *body_off). */
const char *sieve_result_header(const struct sieve_result *r, size_t *len, size_t *body_off);
/* Append a readable description of the actions (one per line), for
 * `darius sieve test` and the tests. */
void sieve_result_describe(const struct sieve_result *r, struct buf *out);
void sieve_result_free(struct sieve_result *r);

#endif
