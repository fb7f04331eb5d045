/* darius.c - the darius administration tool: entry point, option and
 * command parsing, environment set-up.
 *
 *   darius [-C FILE] user add|passwd|del|list|import|rename|move-partition|info|check ...
 *   darius [-C FILE] mailbox create|delete|rename|list|sharedseen ...
 *   darius [-C FILE] acl set|delete|list|reindex ...
 *   darius [-C FILE] deliver [-m MAILBOX] [-e] [-q] [-F FLAG]... [-f SENDER] USER...
 *   darius [-C FILE] expire [-E DAYS]
 *   darius [-C FILE] quota set|get|list|recalc [--json] ...
 *   darius [-C FILE] sieve list|get|put|activate|deactivate|delete|rename ...
 *
 * Arguments are checked (and --help answered) before the configuration is
 * read, so help works even with a broken configuration file.
 */
#include "cli.h"
#include "access.h"
#include "auth.h"
#include "delivery.h"
#include "config.h"
#include "log.h"
#include "storage.h"
#include "notify.h"
#include <errno.h>
#include <stdarg.h>

static const char exit_codes_text[] =
    "Exit status:\n"
    "  0   success\n"
    "  1   other failure (e.g. no such mailbox, password mismatch, permission denied)\n"
    "  64  usage error (bad command, option or argument count, invalid name)\n"
    "  65  invalid data (unsupported password hash, bad mailbox name, bad rights,\n"
    "      unknown partition, bad Sieve script name)\n"
    "  66  cannot open the input file (sieve put FILE)\n"
    "  67  no such user\n"
    "  73  cannot create (user, mailbox or Sieve script already exists)\n"
    "  74  I/O error (database or file system)\n"
    "  75  temporary failure (the store is busy, e.g. being moved; try again)\n"
    "  78  configuration error\n";

struct group {
    const char *name;
    const char *help;
    const struct cli_cmd *cmds;
    const size_t *ncmds;
};

static const struct group groups[] = {
    {"user", "manage users (passwords are read from standard input)", cli_user_cmds, &cli_user_ncmds},
    {"mailbox", "manage mailboxes: a user's (USER MAILBOX) or any, in the admin namespace "
                "(user/NAME/MAILBOX, Shared Folders/NAME)", cli_mailbox_cmds, &cli_mailbox_ncmds},
    {"quota", "manage quota roots (RFC 9208; storage in KiB)", cli_quota_cmds, &cli_quota_ncmds},
    {"acl", "manage access control lists (RFC 4314 rights lrswipkxtean; mailboxes in the admin namespace)",
     cli_acl_cmds, &cli_acl_ncmds},
    {"sieve", "manage users' Sieve scripts (RFC 5228), as ManageSieve does", cli_sieve_cmds, &cli_sieve_ncmds},
};

/* ---- command options ---------------------------------------------------------- */

bool cli_opt_json, cli_opt_dry_run, cli_opt_all, cli_opt_password_stdin, cli_opt_locked;
bool cli_opt_activate, cli_opt_clear;
const char *cli_opt_partition, *cli_opt_quota;
const char *cli_opt_file, *cli_opt_from, *cli_opt_to;

struct cli_option {
    const char *group;
    const char *cmds;      /* space-separated subcommands, NULL = every one of group */
    const char *name;
    bool *flag;            /* for a flag */
    const char **value;    /* for an option with a value */
};

static const struct cli_option options[] = {
    {"quota", NULL, "--json", &cli_opt_json, NULL},
    {"quota", "recalc", "--dry-run", &cli_opt_dry_run, NULL},
    {"user", "check", "--dry-run", &cli_opt_dry_run, NULL},
    {"acl", "list reindex set delete", "--json", &cli_opt_json, NULL},
    {"mailbox", "list", "--json", &cli_opt_json, NULL},
    {"mailbox", "list", "--all", &cli_opt_all, NULL},
    {"user", "list info move-partition rename", "--json", &cli_opt_json, NULL},
    {"user", "add import", "--partition", NULL, &cli_opt_partition},
    {"user", "add import", "--quota", NULL, &cli_opt_quota},
    {"user", "add passwd", "--password-stdin", &cli_opt_password_stdin, NULL},
    {"user", "add", "--locked", &cli_opt_locked, NULL},
    {"sieve", "list get check test import log", "--json", &cli_opt_json, NULL},
    {"sieve", "log", "--clear", &cli_opt_clear, NULL},
    {"sieve", "import", "--dry-run", &cli_opt_dry_run, NULL},
    {"sieve", "check", "--file", NULL, &cli_opt_file},
    {"sieve", "test", "--from", NULL, &cli_opt_from},
    {"sieve", "test", "--to", NULL, &cli_opt_to},
    {"sieve", "put", "--activate", &cli_opt_activate, NULL},
};

static bool word_in(const char *list, const char *w)
{
    size_t wl = strlen(w);
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, " ");
        if (l == wl && strncmp(p, w, l) == 0)
            return true;
        p += l;
        p += strspn(p, " ");
    }
    return false;
}

int cli_take_option(const char *group, const char *cmd, const char *opt, const char *next)
{
    const char *eq = strchr(opt, '=');
    size_t nl = eq ? (size_t)(eq - opt) : strlen(opt);
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct cli_option *o = &options[i];
        if (strcmp(o->group, group) != 0 || (o->cmds && !word_in(o->cmds, cmd)))
            continue;
        if (strlen(o->name) != nl || strncmp(o->name, opt, nl) != 0)
            continue;
        if (o->flag) {
            if (eq)
                continue;   /* a flag takes no value */
            *o->flag = true;
            return 1;
        }
        if (eq) {
            *o->value = eq + 1;
            return 1;
        }
        if (!next) {
            cli_error("%s %s: option %s needs a value", group, cmd, o->name);
            return -1;
        }
        *o->value = next;
        return 2;
    }
    return 0;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("darius: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage_main(FILE *f)
{
    fprintf(f, "Usage: darius [-C FILE] COMMAND [ARGS...]\n"
               "       darius --help | --version\n\n"
               "Administer a Darius mail server's users, mailboxes, quotas, ACLs and Sieve scripts.\n\n"
               "Options:\n"
               "  -C FILE      configuration file (default: built-in defaults, datadir ./var)\n"
               "  -h, --help   show this help\n"
               "  -V, --version  show the version\n\n"
               "Commands:\n");
    for (size_t g = 0; g < ARRAY_SIZE(groups); g++)
        for (size_t i = 0; i < *groups[g].ncmds; i++)
            fprintf(f, "  %s %s %s\n", groups[g].name, groups[g].cmds[i].name, groups[g].cmds[i].args);
    fprintf(f, "  deliver [-m MAILBOX] [-e] [-q] [-F FLAG]... [-f SENDER] [-a AUTHID] USER...\n"
               "  expire [-E DAYS]\n");
    fprintf(f, "\n'darius COMMAND --help' describes a command.\n\n%s", exit_codes_text);
}

static void usage_group(FILE *f, const struct group *g)
{
    fprintf(f, "Usage: darius [-C FILE] %s SUBCOMMAND [ARGS...]\n\n%s.\n\nSubcommands:\n", g->name, g->help);
    for (size_t i = 0; i < *g->ncmds; i++)
        fprintf(f, "  %s %s %s\n      %s\n", g->name, g->cmds[i].name, g->cmds[i].args, g->cmds[i].help);
    fprintf(f, "\n%s", exit_codes_text);
}

static void usage_cmd(FILE *f, const struct group *g, const struct cli_cmd *c)
{
    fprintf(f, "Usage: darius [-C FILE] %s %s %s\n\n%s\n\n%s", g->name, c->name, c->args, c->help,
            exit_codes_text);
}

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

bool cli_user_name(const char *arg, char *out)
{
    if (!userdb_normalize_name(arg, out)) {
        cli_error("invalid user name: %s (allowed: 1-%d of a-z 0-9 . _ @ -, not starting with . or -, no ..)",
                  arg, AUTH_MAX_USERNAME);
        return false;
    }
    return true;
}

int cli_require_user(const char *name)
{
    int r = userdb_exists(name);
    if (r < 0) {
        cli_error("user database error");
        return EX_IOERR;
    }
    if (r == 0) {
        cli_error("no such user: %s", name);
        return EX_NOUSER;
    }
    return 0;
}

/* Load the configuration and open the user database and the store. */
static int setup(const char *config_file)
{
    char err[512];
    log_init("darius", true, false, NULL);
    /* Run as root with "user" set, every command works as that account,
     * like dariusd's workers, so nothing it creates (users.db, a new
     * store, a message file) ends up owned by root where the server
     * cannot write it. */
    int dr = cli_drop_to_user(config_file);
    if (dr != 0)
        return dr;
    struct config *c = config_load(config_file, err, sizeof(err));
    if (!c) {
        cli_error("%s", err);
        return EX_CONFIG;
    }
    config_install(c);
    if (config_bool(CFG_DEBUG))
        log_set_level(LOG_LVL_DEBUG);
    else if (!getenv("DARIUS_DEBUG"))
        log_set_level(LOG_LVL_WARN);
    const char *datadir = config_str(CFG_DATADIR);
    if (!*datadir) {
        cli_error("%s: datadir is empty", config_file ? config_file : "(defaults)");
        return EX_CONFIG;
    }
    int r = storage_init(datadir);
    if (r != 0) {
        cli_error("cannot initialise the mail store in %s: %s", datadir, storage_strerror(r));
        return EX_IOERR;
    }
    if (userdb_open(datadir) != AUTH_OK) {
        cli_error("cannot open the user database in %s", datadir);
        return EX_IOERR;
    }
    /* Every change of an account (user passwd, lock, rename, del) tells
     * each running worker to forget its cached verifications of it. */
    userdb_set_change_hook(notify_auth_flush);
    return 0;
}

int cli_setup(const char *config_file)
{
    return setup(config_file);
}

void cli_teardown(void)
{
    userdb_close();
    storage_shutdown();
}

int main(int argc, char **argv)
{
    const char *config_file = NULL;
    /* account rename/delete (user rename/del, and any interrupted one
     * finished here) also moves or drops the account's duplicate.db rows */
    access_set_account_hook(duplicate_account_changed);
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            usage_main(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("darius %s\n", DARIUS_VERSION);
            return 0;
        } else if (strcmp(a, "-C") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                cli_error("option %s needs a file name", a);
                usage_main(stderr);
                return EX_USAGE;
            }
            config_file = argv[++i];
        } else if (strncmp(a, "-C", 2) == 0) {
            config_file = a + 2;
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_file = a + 9;
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (a[0] == '-') {
            cli_error("unknown option: %s", a);
            usage_main(stderr);
            return EX_USAGE;
        } else {
            break;
        }
    }
    if (i >= argc) {
        cli_error("no command given");
        usage_main(stderr);
        return EX_USAGE;
    }
    /* deliver/expire take options of their own (Cyrus deliver syntax). */
    if (strcmp(argv[i], "deliver") == 0)
        return cli_deliver_main(config_file, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "expire") == 0)
        return cli_expire_main(config_file, argc - i - 1, argv + i + 1);
    const struct group *g = NULL;
    for (size_t k = 0; k < ARRAY_SIZE(groups); k++)
        if (strcmp(argv[i], groups[k].name) == 0)
            g = &groups[k];
    if (!g) {
        cli_error("unknown command: %s", argv[i]);
        usage_main(stderr);
        return EX_USAGE;
    }
    i++;
    if (i < argc && is_help(argv[i])) {
        usage_group(stdout, g);
        return 0;
    }
    if (i >= argc) {
        cli_error("%s: no subcommand given", g->name);
        usage_group(stderr, g);
        return EX_USAGE;
    }
    const struct cli_cmd *c = NULL;
    for (size_t k = 0; k < *g->ncmds; k++)
        if (strcmp(argv[i], g->cmds[k].name) == 0)
            c = &g->cmds[k];
    if (!c) {
        cli_error("%s: unknown subcommand: %s", g->name, argv[i]);
        usage_group(stderr, g);
        return EX_USAGE;
    }
    i++;
    /* Operands: options end at "--"; --help anywhere before it. */
    char **ops = xcalloc((size_t)argc + 1, sizeof(*ops));
    int nops = 0;
    bool literal = false;
    int taken;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!literal && strcmp(a, "--") == 0) {
            literal = true;
        } else if (!literal && is_help(a)) {
            usage_cmd(stdout, g, c);
            free(ops);
            return 0;
        } else if (!literal && a[0] == '-' && a[1] != '\0' &&
                   (taken = cli_take_option(g->name, c->name, a, i + 1 < argc ? argv[i + 1] : NULL)) != 0) {
            /* recorded in cli_opt_* */
            if (taken < 0) {
                usage_cmd(stderr, g, c);
                free(ops);
                return EX_USAGE;
            }
            i += taken - 1;
        } else if (!literal && a[0] == '-' && a[1] != '\0' && strcmp(g->name, "acl") != 0) {
            /* (acl operands may start with '-': "-alice" is a negative
             * identifier, "-w" removes a right.) */
            cli_error("%s %s: unknown option: %s", g->name, c->name, a);
            usage_cmd(stderr, g, c);
            free(ops);
            return EX_USAGE;
        } else {
            ops[nops++] = argv[i];
        }
    }
    if (nops < c->min_args || (c->max_args >= 0 && nops > c->max_args)) {
        cli_error("%s %s: wrong number of arguments", g->name, c->name);
        usage_cmd(stderr, g, c);
        free(ops);
        return EX_USAGE;
    }
    int r = setup(config_file);
    if (r == 0)
        r = c->run(nops, ops);
    free(ops);
    userdb_close();
    storage_shutdown();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("writing output: %s", strerror(errno));
        if (r == 0)
            r = EX_IOERR;
    }
    return r;
}
