/* cli-admin.c - the CLI's administrator identity and the admin namespace.
 *
 * The acl commands and the admin-namespace forms of the mailbox commands
 * go through the checked operations of the access layer, like an
 * administrator's IMAP session (cyradm) does, so ACL inheritance, the
 * share index and session kicks behave the same whichever tool is used.
 * The CLI runs with the data directory's owner privileges anyway, so it
 * acts as a global admin.
 */
#include "cli.h"
#include "access.h"
#include "config.h"

/* The identity owns no store: its name starts with '%', which no user
 * name can (userdb_normalize_name) and no ACL identifier may, so it never
 * matches an ACL entry, never has a personal namespace and is nobody's
 * owner; every account is shown and named as "user/NAME" (with "@DOMAIN"
 * under virtdomains for all but default-domain users), never as the
 * personal names of whichever admin happens to be listed first in
 * "admins". It only shows in logs ("access: %cli deleted account bob"). It
 * is a global admin: l and a on every mailbox of every domain. */
#define CLI_ADMIN_ID "%cli"

void cli_admin_who(struct access_who *w)
{
    access_who_init(w, CLI_ADMIN_ID);
    w->admin = true;
    w->domain_admin = false;
    w->domain[0] = '\0';
}

int cli_access_exit(int err, const char *what)
{
    switch (err) {
    case 0:
        return 0;
    case ACCESS_ERR_NONEXISTENT:
    case STORAGE_ERR_NOTFOUND:
        cli_error("%s: no such mailbox", what);
        return CLI_EX_OTHER;
    case ACCESS_ERR_NOPERM:
        cli_error("%s: permission denied (%s)", what, access_strerror(err));
        return CLI_EX_OTHER;
    case ACCESS_ERR_INVALID:
    case STORAGE_ERR_INVALID:
        cli_error("%s: %s", what, access_strerror(err));
        return EX_DATAERR;
    case ACCESS_ERR_CANNOT:
        cli_error("%s: not possible (a rename stays within one store, except user/A -> user/B)", what);
        return CLI_EX_OTHER;
    case ACCESS_ERR_ACLFULL:
        cli_error("%s: the ACL is full (at most %d entries, %d bytes)", what, ACL_MAX_ENTRIES, STORAGE_MAX_ACL);
        return CLI_EX_OTHER;
    case STORAGE_ERR_EXISTS:
        cli_error("%s: already exists", what);
        return EX_CANTCREAT;
    case STORAGE_ERR_IO:
        cli_error("%s: %s", what, access_strerror(err));
        return EX_IOERR;
    case STORAGE_ERR_BUSY:
        cli_error("%s: %s (store busy, e.g. being moved; try again)", what, access_strerror(err));
        return EX_TEMPFAIL;
    default:
        cli_error("%s: %s", what, access_strerror(err));
        return CLI_EX_OTHER;
    }
}

/* "PREFIX/..." or, for the shared prefix under virtdomains, another
 * domain's "PREFIX@DOMAIN/..." (what `mailbox list --all` prints; the
 * access layer validates the domain). */
static bool has_prefix(const char *name, const char *prefix, bool at_domain)
{
    size_t l = strlen(prefix);
    if (l == 0 || strncmp(name, prefix, l) != 0)
        return false;
    if (at_domain && name[l] == '@') {
        const char *sl = strchr(name + l, '/');
        return sl && sl > name + l + 1 && sl[1] != '\0';
    }
    return name[l] == '/' && name[l + 1] != '\0';
}

bool cli_is_admin_name(const char *name)
{
    struct access_who w;
    cli_admin_who(&w);
    bool yes = has_prefix(name, access_other_prefix(&w), false) ||
               has_prefix(name, access_shared_prefix(&w), config_bool(CFG_VIRTDOMAINS));
    access_who_free(&w);
    return yes;
}
