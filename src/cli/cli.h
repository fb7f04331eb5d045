/* cli.h - internals of the darius admin CLI (shared by its files). */
#ifndef DARIUS_CLI_H
#define DARIUS_CLI_H

#include "common.h"
#include "buf.h"
#include <sysexits.h>

/* Exit codes (sysexits.h; documented in the --help text). */
#define CLI_EX_OTHER 1

struct cli_cmd {
    const char *group;   /* "user", "mailbox" */
    const char *name;    /* "add", ... */
    const char *args;    /* synopsis of the arguments */
    const char *help;    /* one-line description */
    int min_args, max_args; /* max -1 = unlimited */
    int (*run)(int argc, char **argv); /* argv = the operands only */
};

extern const struct cli_cmd cli_user_cmds[];
extern const size_t cli_user_ncmds;
extern const struct cli_cmd cli_mailbox_cmds[];
extern const size_t cli_mailbox_ncmds;
extern const struct cli_cmd cli_quota_cmds[];
extern const size_t cli_quota_ncmds;
extern const struct cli_cmd cli_acl_cmds[];
extern const size_t cli_acl_ncmds;
extern const struct cli_cmd cli_sieve_cmds[];
extern const size_t cli_sieve_ncmds;
/* cli-sieve.c's refusal messages (RFC 5804 codes) and store opening, for
 * the other sieve command files; storage.h types. */
struct mail_user;
int cli_sieve_exit(int r, const char *what, const char *user, const char *name);
int cli_sieve_open_user(const char *arg, char *name, struct mail_user **u);
/* darius sieve import (cli-sieve-import.c) */
int cli_sieve_import(int argc, char **argv);

/* Options a command accepts besides --help (darius.c): --json (every
 * command that prints data), --dry-run (quota recalc), --all (mailbox
 * list), --activate (sieve put), --partition P / --quota KIB / --password-stdin / --locked (user
 * add, user import). A value is given as "--opt VALUE" or "--opt=VALUE".
 * Returns the number of argv elements used (1 or 2), 0 when group/cmd
 * does not take opt, -1 (after printing) when its value is missing. */
int cli_take_option(const char *group, const char *cmd, const char *opt, const char *next);
extern bool cli_opt_json, cli_opt_dry_run, cli_opt_all, cli_opt_password_stdin, cli_opt_locked;
extern bool cli_opt_activate;           /* sieve put */
extern bool cli_opt_clear;              /* sieve log */
extern const char *cli_opt_file;        /* sieve check --file; NULL = not given */
extern const char *cli_opt_from, *cli_opt_to; /* sieve test envelope */
extern const char *cli_opt_partition;   /* NULL = not given */
extern const char *cli_opt_quota;       /* NULL = not given; KiB or "none" */

/* ---- JSON output (cli-json.c) ------------------------------------------------
 * A tiny writer for --json: compact output (no spaces), strings escaped
 * per RFC 8259 section 7 (quote, backslash, control characters as
 * \u00XX); bytes that are not well-formed UTF-8 become U+FFFD so the
 * output is always valid JSON. Commas are inserted automatically. */
#define CLI_JSON_MAX_DEPTH 16
struct cli_json {
    struct buf *b;
    int depth;
    bool need_comma[CLI_JSON_MAX_DEPTH + 1];
    bool after_key;
};
void cli_json_init(struct cli_json *j, struct buf *b);
void cli_json_begin_object(struct cli_json *j);
void cli_json_end_object(struct cli_json *j);
void cli_json_begin_array(struct cli_json *j);
void cli_json_end_array(struct cli_json *j);
void cli_json_key(struct cli_json *j, const char *key);
void cli_json_string(struct cli_json *j, const char *s);
void cli_json_int(struct cli_json *j, int64_t v);
void cli_json_bool(struct cli_json *j, bool v);
void cli_json_null(struct cli_json *j);
/* key + value shorthands */
void cli_json_kv_string(struct cli_json *j, const char *key, const char *s);
void cli_json_kv_int(struct cli_json *j, const char *key, int64_t v);
void cli_json_kv_bool(struct cli_json *j, const char *key, bool v);
/* Append s as a quoted JSON string to b (used by the writer). */
void cli_json_quote(struct buf *b, const char *s);
/* Write b to stdout and free it. */
void cli_print_buf(struct buf *b);

/* ---- the admin namespace (cli-admin.c) -----------------------------------------
 * acl and mailbox commands name mailboxes as an administrator sees them
 * (Cyrus's admin namespace, what cyradm uses): "user/bob" (bob's INBOX),
 * "user/bob/Sent", "Shared Folders/news" (sharedprefix). The CLI acts as
 * a global administrator identity. */
/* Fill w with the CLI's identity: a global admin named after the first
 * entry of "admins" (or "admin" when none); free with access_who_free. */
struct access_who;
void cli_admin_who(struct access_who *w);
/* Exit code for an access.h / storage.h error, after printing
 * "darius: WHAT: reason". */
int cli_access_exit(int err, const char *what);
/* True when name is written in the admin namespace ("user/..." or
 * "<sharedprefix>/..."). */
bool cli_is_admin_name(const char *name);

/* Print "darius: " + message to stderr. */
void cli_error(const char *fmt, ...) ATTR_PRINTF(1, 2);

/* Validate and normalize a user name argument; on failure prints a message
 * and returns false. out holds AUTH_MAX_USERNAME+1 bytes. */
bool cli_user_name(const char *arg, char *out);
/* 0 when the (normalized) user exists; otherwise prints and returns the
 * exit code (67 no such user, 74 database error). */
int cli_require_user(const char *name);

/* Read a new password: from the terminal (twice, no echo) or one line of
 * standard input. Returns an xmalloc'd string or NULL after printing why. */
char *cli_read_password(void);

/* Top-level commands with their own options (cli-deliver.c, cli-expire.c):
 * argv = the arguments after the command name. */
int cli_deliver_main(const char *config_file, int argc, char **argv);
int cli_expire_main(const char *config_file, int argc, char **argv);
/* Load the configuration, open the user database and the store (darius.c);
 * 0 or an exit code. cli_teardown closes them again. */
int cli_setup(const char *config_file);
void cli_teardown(void);
/* Run as root with "user" configured and the data directory already
 * handed to that account (dariusd has started once): become that user
 * (cli-deliver.c), so files the command creates stay writable by dariusd.
 * Every command does this (darius.c setup). 0 or an exit code. */
int cli_drop_to_user(const char *config_file);

#endif
