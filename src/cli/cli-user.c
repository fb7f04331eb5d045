/* cli-user.c - "darius user ..." commands. */
#include "cli.h"
#include "auth.h"
#include "storage.h"

/* Create the user's store (INBOX) right away so that mailbox commands and
 * a first login find it. */
static int create_store(const char *name)
{
    struct mail_user *u = NULL;
    int r = mail_user_open(name, true, &u);
    if (r != 0) {
        cli_error("cannot create the mail store of %s: %s", name, storage_strerror(r));
        return r == STORAGE_ERR_IO ? EX_IOERR : EX_CANTCREAT;
    }
    mail_user_close(u);
    return 0;
}

static int auth_exit(int r, const char *name)
{
    switch (r) {
    case AUTH_OK: return 0;
    case AUTH_ERR_NOUSER: cli_error("no such user: %s", name); return EX_NOUSER;
    case AUTH_ERR_EXISTS: cli_error("user already exists: %s", name); return EX_CANTCREAT;
    case AUTH_ERR_INVALID: cli_error("invalid user name or password: %s", name); return EX_DATAERR;
    default: cli_error("user database error (%s)", auth_strerror(r)); return EX_IOERR;
    }
}

static int add_common(const char *arg, const char *hash)
{
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(arg, name))
        return EX_USAGE;
    int ex = userdb_exists(name);
    if (ex < 0)
        return auth_exit(AUTH_ERR_IO, name);
    if (ex == 1)
        return auth_exit(AUTH_ERR_EXISTS, name);
    int r;
    if (hash) {
        if (!password_hash_supported(hash)) {
            cli_error("unsupported password hash (accepted: $y$, $6$, $2b$, $argon2id$)");
            return EX_DATAERR;
        }
        r = userdb_add_hash(name, hash);
    } else {
        char *pw = cli_read_password();
        if (!pw)
            return CLI_EX_OTHER;
        r = userdb_add(name, pw);
        explicit_bzero(pw, strlen(pw));
        free(pw);
    }
    if (r != AUTH_OK)
        return auth_exit(r, name);
    int s = create_store(name);
    if (s != 0) {
        /* Do not leave a user without a store behind. */
        userdb_delete(name);
        return s;
    }
    printf("user %s added\n", name);
    return 0;
}

static int cmd_add(int argc, char **argv)
{
    return add_common(argv[0], NULL);
}

static int cmd_import(int argc, char **argv)
{
    return add_common(argv[0], argv[1]);
}

static int cmd_passwd(int argc, char **argv)
{
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(argv[0], name))
        return EX_USAGE;
    int r = cli_require_user(name);
    if (r)
        return r;
    char *pw = cli_read_password();
    if (!pw)
        return CLI_EX_OTHER;
    r = userdb_set_password(name, pw);
    explicit_bzero(pw, strlen(pw));
    free(pw);
    if (r != AUTH_OK)
        return auth_exit(r, name);
    printf("password of %s changed\n", name);
    return 0;
}

static int cmd_del(int argc, char **argv)
{
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(argv[0], name))
        return EX_USAGE;
    int r = cli_require_user(name);
    if (r)
        return r;
    /* Store first: a user record without a store is harmless (it is
     * recreated on login), a store without a user would be inherited by
     * the next user of that name. */
    r = mail_user_delete_store(name);
    if (r != 0 && r != STORAGE_ERR_NOTFOUND) {
        cli_error("cannot delete the mail store of %s: %s", name, storage_strerror(r));
        return EX_IOERR;
    }
    r = userdb_delete(name);
    if (r != AUTH_OK)
        return auth_exit(r, name);
    printf("user %s deleted\n", name);
    return 0;
}

static void print_name(const char *name, void *arg)
{
    puts(name);
}

static int cmd_list(int argc, char **argv)
{
    int r = userdb_list(print_name, NULL);
    return r == AUTH_OK ? 0 : auth_exit(r, "");
}

const struct cli_cmd cli_user_cmds[] = {
    {"user", "add", "NAME", "Add a user; the password is read from standard input (one line), or prompted for twice "
                            "without echo on a terminal.", 1, 1, cmd_add},
    {"user", "passwd", "NAME", "Set a user's password (read like for 'user add').", 1, 1, cmd_passwd},
    {"user", "del", "NAME", "Delete a user and the user's whole mail store.", 1, 1, cmd_del},
    {"user", "list", "", "List all users, one per line.", 0, 0, cmd_list},
    {"user", "import", "NAME HASH", "Add a user with an existing crypt(3) hash ($y$, $6$, $2b$, $argon2id$); "
                                   "SCRAM logins work once the password is next set.", 2, 2, cmd_import},
};
const size_t cli_user_ncmds = ARRAY_SIZE(cli_user_cmds);
