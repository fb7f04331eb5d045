/* cli.h - internals of the darius admin CLI (shared by its files). */
#ifndef DARIUS_CLI_H
#define DARIUS_CLI_H

#include "common.h"
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

/* Options a command accepts besides --help (cli-quota.c): --json (all
 * quota commands) and --dry-run (quota recalc). Returns true and records
 * the option when group/cmd accepts opt. */
bool cli_take_option(const char *group, const char *cmd, const char *opt);
extern bool cli_opt_json, cli_opt_dry_run;

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
