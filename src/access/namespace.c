/* namespace.c - RFC 2342 namespaces: client-visible names <-> (store,
 * internal name).
 *
 * Personal names map to the identity's own store unchanged. The other
 * users' namespace is "<prefix>/USER[/rest]" and the shared one
 * "<prefix>/rest". Prefixes match exactly (byte for byte): a client that
 * writes "other users/bob" names a personal mailbox of its own, never bob's.
 * The user component must be spelt exactly as the canonical id (what
 * userdb_normalize_name returns), so "Bob", "bob@DEFAULTDOMAIN",
 * "bob.", "..", etc. never reach another store under a second spelling.
 */
#include "access.h"
#include "access-private.h"
#include "config.h"

#define NAME_MAX_DEPTH 64

const char *access_other_prefix(const struct access_who *w)
{
    if (w && !w->anonymous && (w->admin || w->domain_admin))
        return "user";
    return config_str(CFG_USERPREFIX);
}

const char *access_shared_prefix(const struct access_who *w)
{
    UNUSED(w);
    return config_str(CFG_SHAREDPREFIX);
}

static bool dot_separator(void)
{
    return !config_bool(CFG_UNIXHIERARCHYSEP);
}

/* Syntax of an internal client name: 1..MAX bytes, no control
 * characters, no empty level (so no leading/trailing/double '/'),
 * bounded depth. */
static bool name_syntax_ok(const char *name, size_t maxlen, unsigned maxdepth)
{
    size_t len = strlen(name);
    if (len == 0 || len > maxlen)
        return false;
    if (name[0] == '/' || name[len - 1] == '/')
        return false;
    unsigned depth = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == '/') {
            if (name[i + 1] == '/')
                return false;
            if (++depth > maxdepth)
                return false;
        }
    }
    return true;
}

bool access_valid_mailbox_name(const char *name)
{
    if (!name || !name_syntax_ok(name, STORAGE_MAX_MAILBOX_NAME, NAME_MAX_DEPTH))
        return false;
    if (strpbrk(name, "*%"))
        return false;
    for (const char *st = name;;) {
        size_t l = strcspn(st, "/");
        if ((l == 1 && st[0] == '.') || (l == 2 && st[0] == '.' && st[1] == '.'))
            return false;
        if (!st[l])
            return true;
        st += l + 1;
    }
}

/* Does name start with prefix followed by end or '/'? Sets *rest to what
 * follows the '/' ("" at the end). Exact byte match. */
static bool has_prefix(const char *name, const char *prefix, const char **rest)
{
    size_t pl = strlen(prefix);
    if (pl == 0 || strncmp(name, prefix, pl) != 0)
        return false;
    if (name[pl] == '\0') {
        *rest = name + pl;
        return true;
    }
    if (name[pl] == '/') {
        *rest = name + pl + 1;
        return true;
    }
    return false;
}

/* "inbox", "Inbox/x" in another user's store: fold like IMAP does for
 * the personal INBOX so there is one spelling. */
static void fold_inbox(char *name)
{
    if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
        memcpy(name, "INBOX", 5);
}

static int resolve_inner(const struct access_who *w, const char *name, bool allow_unknown, struct mbox_ref *out);

int access_resolve_ex(const struct access_who *w, const char *name, bool allow_unknown, struct mbox_ref *out)
{
    memset(out, 0, sizeof(*out));
    /* The client name may be longer than a mailbox name by the namespace
     * prefix and the user component; the internal name is checked on its
     * own below (never truncated: a cut name could alias another). */
    if (!name || !name_syntax_ok(name, STORAGE_MAX_MAILBOX_NAME + 2 * AUTH_MAX_USERNAME + 2, NAME_MAX_DEPTH + 2))
        return ACCESS_ERR_INVALID;
    int rc = resolve_inner(w, name, allow_unknown, out);
    if (rc == 0 && !name_syntax_ok(out->name, STORAGE_MAX_MAILBOX_NAME, NAME_MAX_DEPTH)) {
        memset(out, 0, sizeof(*out));
        return ACCESS_ERR_INVALID;
    }
    return rc;
}

static int resolve_inner(const struct access_who *w, const char *name, bool allow_unknown, struct mbox_ref *out)
{
    const char *rest;
    const char *shp = access_shared_prefix(w);
    const char *otp = access_other_prefix(w);
    if (has_prefix(name, otp, &rest)) {
        if (!*rest)
            return ACCESS_ERR_NONEXISTENT;   /* the namespace root */
        const char *slash = strchr(rest, '/');
        size_t ulen = slash ? (size_t)(slash - rest) : strlen(rest);
        if (ulen > AUTH_MAX_USERNAME)
            return ACCESS_ERR_NONEXISTENT;
        char comp[AUTH_MAX_USERNAME + 1];
        memcpy(comp, rest, ulen);
        comp[ulen] = '\0';
        if (dot_separator()) {
            /* '.' is the separator on the wire, so a '.' in a user name
             * is written '^'; a literal '.' here is a second spelling. */
            if (strchr(comp, '.'))
                return ACCESS_ERR_NONEXISTENT;
            for (char *p = comp; *p; p++)
                if (*p == '^')
                    *p = '.';
        }
        char user[AUTH_MAX_USERNAME + ACCESS_MAX_DOMAIN + 2];
        if (config_bool(CFG_VIRTDOMAINS)) {
            if (strchr(comp, '@')) {
                if (!w || !w->admin)
                    return ACCESS_ERR_NONEXISTENT;
                snprintf(user, sizeof(user), "%s", comp);
            } else if (w && w->domain[0]) {
                snprintf(user, sizeof(user), "%s@%s", comp, w->domain);
            } else {
                snprintf(user, sizeof(user), "%s", comp);
            }
        } else {
            snprintf(user, sizeof(user), "%s", comp);
        }
        char norm[AUTH_MAX_USERNAME + 1];
        if (strlen(user) > AUTH_MAX_USERNAME || !userdb_normalize_name(user, norm) || strcmp(norm, user) != 0)
            return ACCESS_ERR_NONEXISTENT;
        if (!allow_unknown) {
            int ex = userdb_exists(norm);
            if (ex < 0)
                return STORAGE_ERR_IO;
            if (ex == 0)
                return ACCESS_ERR_NONEXISTENT;
        }
        out->ns = NS_OTHER;
        snprintf(out->store, sizeof(out->store), "%s", norm);
        snprintf(out->owner, sizeof(out->owner), "%s", norm);
        if (!slash) {
            snprintf(out->name, sizeof(out->name), "INBOX");
        } else {
            if (strlen(slash + 1) > STORAGE_MAX_MAILBOX_NAME)
                return ACCESS_ERR_INVALID;
            snprintf(out->name, sizeof(out->name), "%s", slash + 1);
            fold_inbox(out->name);
        }
        return 0;
    }
    /* Global admins under virtdomains reach another domain's shared
     * folders as "<shared>@DOMAIN/rest" (like "user/bob@DOMAIN"). The
     * admin's own domain has only the plain spelling. */
    size_t shl = strlen(shp);
    if (w && w->admin && !w->anonymous && config_bool(CFG_VIRTDOMAINS) && shl && strncmp(name, shp, shl) == 0 &&
        name[shl] == '@') {
        const char *dom = name + shl + 1;
        const char *slash = strchr(dom, '/');
        size_t dl = slash ? (size_t)(slash - dom) : strlen(dom);
        char d[ACCESS_MAX_DOMAIN + 1];
        if (dl == 0 || dl > ACCESS_MAX_DOMAIN)
            return ACCESS_ERR_NONEXISTENT;
        memcpy(d, dom, dl);
        d[dl] = '\0';
        if (strcmp(d, w->domain) == 0)
            return ACCESS_ERR_NONEXISTENT;
        /* A valid, canonical domain other than the default one: "x@D"
         * must normalize to itself (userdb strips @DEFAULTDOMAIN). */
        char probe[ACCESS_MAX_DOMAIN + 3], norm[AUTH_MAX_USERNAME + 1];
        if (dl + 2 > AUTH_MAX_USERNAME)
            return ACCESS_ERR_NONEXISTENT;
        snprintf(probe, sizeof(probe), "x@%s", d);
        if (!userdb_normalize_name(probe, norm) || strcmp(norm, probe) != 0)
            return ACCESS_ERR_NONEXISTENT;
        char store[AUTH_MAX_USERNAME + 16];
        access_shared_store(d, store, sizeof(store));
        if (!slash || !slash[1])
            return ACCESS_ERR_NONEXISTENT;   /* that domain's namespace root */
        rest = slash + 1;
        if (strncasecmp(rest, "INBOX", 5) == 0 && (rest[5] == '\0' || rest[5] == '/'))
            return ACCESS_ERR_NONEXISTENT;
        if (strlen(rest) > STORAGE_MAX_MAILBOX_NAME)
            return ACCESS_ERR_INVALID;
        out->ns = NS_SHARED;
        snprintf(out->store, sizeof(out->store), "%s", store);
        snprintf(out->name, sizeof(out->name), "%s", rest);
        return 0;
    }
    if (has_prefix(name, shp, &rest)) {
        if (!*rest)
            return ACCESS_ERR_NONEXISTENT;
        /* The shared store's INBOX is storage's, never a shared folder. */
        if (strncasecmp(rest, "INBOX", 5) == 0 && (rest[5] == '\0' || rest[5] == '/'))
            return ACCESS_ERR_NONEXISTENT;
        out->ns = NS_SHARED;
        access_shared_store(w ? w->domain : "", out->store, sizeof(out->store));
        if (strlen(rest) > STORAGE_MAX_MAILBOX_NAME)
            return ACCESS_ERR_INVALID;
        snprintf(out->name, sizeof(out->name), "%s", rest);
        return 0;
    }
    if (!w || w->anonymous || !w->user[0])
        return ACCESS_ERR_NONEXISTENT;
    out->ns = NS_PERSONAL;
    snprintf(out->store, sizeof(out->store), "%s", w->user);
    snprintf(out->owner, sizeof(out->owner), "%s", w->user);
    if (strlen(name) > STORAGE_MAX_MAILBOX_NAME)
        return ACCESS_ERR_INVALID;
    snprintf(out->name, sizeof(out->name), "%s", name);
    return 0;
}

int access_resolve(const struct access_who *w, const char *name, struct mbox_ref *out)
{
    return access_resolve_ex(w, name, false, out);
}

void access_client_name(const struct access_who *w, const char *store, const char *name, struct buf *out)
{
    if (store[0] == '%') {
        const char *sd = access_store_domain(store);
        if (w && *sd && strcmp(sd, w->domain) != 0)
            buf_printf(out, "%s@%s/%s", access_shared_prefix(w), sd, name);   /* global admins only */
        else
            buf_printf(out, "%s/%s", access_shared_prefix(w), name);
        return;
    }
    if (w && !w->anonymous && strcmp(store, w->user) == 0) {
        buf_puts(out, name);
        return;
    }
    buf_puts(out, access_other_prefix(w));
    buf_putc(out, '/');
    size_t ulen = strlen(store);
    if (config_bool(CFG_VIRTDOMAINS) && w) {
        const char *sd = access_user_domain(store);
        if (*sd && strcmp(sd, w->domain) == 0)
            ulen = (size_t)(sd - 1 - store);
    }
    bool dot = dot_separator();
    for (size_t i = 0; i < ulen; i++)
        buf_putc(out, dot && store[i] == '.' ? '^' : store[i]);
    if (strcmp(name, "INBOX") != 0) {
        buf_putc(out, '/');
        buf_puts(out, name);
    }
}

/* The domain of a store: a user's, or "%shared@DOMAIN"'s. */
const char *access_store_domain(const char *store)
{
    if (store[0] == '%') {
        const char *at = strchr(store, '@');
        return at ? at + 1 : "";
    }
    return access_user_domain(store);
}
