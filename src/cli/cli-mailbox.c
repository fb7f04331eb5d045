/* cli-mailbox.c - "darius mailbox ..." commands.
 *
 * Names on the command line are internal mailbox names (UTF-8, '/' as
 * separator); "INBOX" is case-insensitive, as in IMAP (RFC 9051 5.1).
 */
#include "cli.h"
#include "auth.h"
#include "storage.h"

static int storage_exit(int r)
{
    switch (r) {
    case STORAGE_OK: return 0;
    case STORAGE_ERR_EXISTS: return EX_CANTCREAT;
    case STORAGE_ERR_INVALID: return EX_DATAERR;
    case STORAGE_ERR_IO: case STORAGE_ERR_BUSY: return EX_IOERR;
    default: return CLI_EX_OTHER;
    }
}

/* Well-formed UTF-8 without control characters. */
static bool valid_utf8_name(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!*p)
        return false;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((p[k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
            return false;
        p += n + 1;
    }
    return true;
}

/* Normalize "inbox" / "Inbox/sub" to "INBOX" / "INBOX/sub". Returns a new
 * string or NULL (after printing) when the name is unusable. */
static char *mailbox_arg(const char *arg)
{
    size_t len = strlen(arg);
    if (len > STORAGE_MAX_MAILBOX_NAME || !valid_utf8_name(arg)) {
        cli_error("invalid mailbox name: %s", arg);
        return NULL;
    }
    char *name = xstrdup(arg);
    if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
        memcpy(name, "INBOX", 5);
    return name;
}

/* Check the user and open the store. Returns 0 or an exit code. */
static int open_user(const char *arg, struct mail_user **u)
{
    char name[AUTH_MAX_USERNAME + 1];
    if (!cli_user_name(arg, name))
        return EX_USAGE;
    int r = cli_require_user(name);
    if (r)
        return r;
    r = mail_user_open(name, true, u);
    if (r != 0) {
        cli_error("cannot open the mail store of %s: %s", name, storage_strerror(r));
        return storage_exit(r) == EX_CANTCREAT ? EX_IOERR : storage_exit(r);
    }
    return 0;
}

static int cmd_create(int argc, char **argv)
{
    struct mail_user *u;
    int rc = open_user(argv[0], &u);
    if (rc)
        return rc;
    for (int i = 1; i < argc; i++) {
        char *name = mailbox_arg(argv[i]);
        if (!name) {
            rc = EX_DATAERR;
            continue;
        }
        int r = mailbox_create(u, name, 0);
        if (r != 0) {
            cli_error("cannot create mailbox %s: %s", name, storage_strerror(r));
            rc = storage_exit(r);
        } else {
            printf("mailbox %s created\n", name);
        }
        free(name);
    }
    mail_user_close(u);
    return rc;
}

static int cmd_delete(int argc, char **argv)
{
    struct mail_user *u;
    int rc = open_user(argv[0], &u);
    if (rc)
        return rc;
    for (int i = 1; i < argc; i++) {
        char *name = mailbox_arg(argv[i]);
        if (!name) {
            rc = EX_DATAERR;
            continue;
        }
        int r = mailbox_delete(u, name);
        if (r != 0) {
            cli_error("cannot delete mailbox %s: %s", name, storage_strerror(r));
            rc = storage_exit(r);
        } else {
            printf("mailbox %s deleted\n", name);
        }
        free(name);
    }
    mail_user_close(u);
    return rc;
}

static int cmd_rename(int argc, char **argv)
{
    struct mail_user *u;
    int rc = open_user(argv[0], &u);
    if (rc)
        return rc;
    char *from = mailbox_arg(argv[1]), *to = mailbox_arg(argv[2]);
    if (!from || !to) {
        rc = EX_DATAERR;
    } else {
        int r = mailbox_rename(u, from, to);
        if (r != 0) {
            cli_error("cannot rename mailbox %s to %s: %s", from, to, storage_strerror(r));
            rc = storage_exit(r);
        } else {
            printf("mailbox %s renamed to %s\n", from, to);
        }
    }
    free(from);
    free(to);
    mail_user_close(u);
    return rc;
}

static void print_mailbox(const struct mailbox_info *info, void *arg)
{
    printf("%s %u message%s\n", info->name, info->messages, info->messages == 1 ? "" : "s");
}

static int cmd_list(int argc, char **argv)
{
    struct mail_user *u;
    int rc = open_user(argv[0], &u);
    if (rc)
        return rc;
    int r = mailbox_list(u, print_mailbox, NULL);
    if (r != 0) {
        cli_error("cannot list mailboxes: %s", storage_strerror(r));
        rc = storage_exit(r);
    }
    mail_user_close(u);
    return rc;
}

const struct cli_cmd cli_mailbox_cmds[] = {
    {"mailbox", "create", "USER MAILBOX...", "Create one or more mailboxes (internal names: UTF-8, '/' separator).",
     2, -1, cmd_create},
    {"mailbox", "delete", "USER MAILBOX...", "Delete one or more mailboxes and their messages.", 2, -1, cmd_delete},
    {"mailbox", "rename", "USER OLD NEW", "Rename a mailbox and its children.", 3, 3, cmd_rename},
    {"mailbox", "list", "USER", "List the user's mailboxes with message counts (\"INBOX 12 messages\").", 1, 1,
     cmd_list},
};
const size_t cli_mailbox_ncmds = ARRAY_SIZE(cli_mailbox_cmds);
