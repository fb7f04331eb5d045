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

/* The identity's name only shows in logs and in what LISTRIGHTS would say
 * about it; it is the first configured global admin when there is one
 * (so an ACL entry for that admin also applies to the CLI), else "admin".
 * A "name@domain" entry is a domain admin under virtdomains and would put
 * the identity into that domain, so it is skipped. */
void cli_admin_who(struct access_who *w)
{
    char name[AUTH_MAX_USERNAME + 1] = "admin";
    const char *p = config_str(CFG_ADMINS);
    while (*p) {
        p += strspn(p, " ,\t");
        size_t l = strcspn(p, " ,\t");
        if (l > 0 && l <= AUTH_MAX_USERNAME && !memchr(p, '@', l)) {
            char raw[AUTH_MAX_USERNAME + 1];
            memcpy(raw, p, l);
            raw[l] = '\0';
            if (userdb_normalize_name(raw, name))
                break;
            snprintf(name, sizeof(name), "admin");
        }
        p += l;
    }
    access_who_init(w, name);
    w->admin = true;
    w->domain_admin = false;
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

static bool has_prefix(const char *name, const char *prefix)
{
    size_t l = strlen(prefix);
    return l > 0 && strncmp(name, prefix, l) == 0 && name[l] == '/' && name[l + 1] != '\0';
}

bool cli_is_admin_name(const char *name)
{
    struct access_who w;
    cli_admin_who(&w);
    bool yes = has_prefix(name, access_other_prefix(&w)) || has_prefix(name, access_shared_prefix(&w));
    access_who_free(&w);
    return yes;
}
