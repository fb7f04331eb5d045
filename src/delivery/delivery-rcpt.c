/* delivery-rcpt.c - envelope paths and recipient resolution.
 *
 * Recipients follow Cyrus lmtpd:
 *   user[+detail][@domain]
 *   postuser+folder[.sub][@domain]      (shared mailbox, config postuser)
 *   any address listed in lmtp_address_map (delivery-map.c)
 * The user part is the user name (lowercased with lmtp_downcase_rcpt).
 * Without virtdomains the domain is ignored unless "user@domain" itself
 * is a user name; with virtdomains "user@domain" is the identity
 * (userdb_normalize_name strips the defaultdomain) and is never
 * reinterpreted as another domain's user. The detail names a folder of
 * the user (the IMAP hierarchy separator: '.' with unixhierarchysep: no,
 * '/' with yes); delivery_deliver() uses it when it exists and grants p
 * (or creates it with createonpost) and INBOX otherwise.
 */
#include "delivery.h"
#include "config.h"
#include "log.h"
#include "storage.h"

#include "utf8.h"

#include <ctype.h>
#include <strings.h>

bool delivery_parse_path(const char **pp, char *out, size_t outlen)
{
    const char *p = *pp;
    if (*p != '<')
        return false;
    p++;
    /* RFC 5321 4.1.2 A-d-l: "@one,@two:" source route, obsolete, ignored. */
    if (*p == '@') {
        const char *colon = strchr(p, ':');
        const char *gt = strchr(p, '>');
        if (!colon || (gt && gt < colon))
            return false;
        p = colon + 1;
    }
    size_t n = 0;
    bool quoted = false;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0')
            return false;
        if (c < 0x20 || c == 0x7f)
            return false;
        if (!quoted && c == '>')
            break;
        if (c == '"')
            quoted = !quoted;
        else if (quoted && c == '\\') {
            if (n + 1 >= outlen || n + 1 >= DELIVERY_MAX_ADDR)
                return false;
            out[n++] = (char)c;
            p++;
            c = (unsigned char)*p;
            if (c < 0x20 || c == 0x7f)
                return false;
        } else if (!quoted && (c == ' ' || c == '<'))
            return false;
        if (n + 1 >= outlen || n + 1 >= DELIVERY_MAX_ADDR)
            return false;
        out[n++] = (char)c;
        p++;
    }
    out[n] = '\0';
    if (!utf8_valid(out, n))
        return false;
    *pp = p + 1;
    return true;
}

/* A mailbox name with separator sep -> internal '/' form (see
 * delivery_detail_mailbox). The name must pass what IMAP CREATE checks
 * (access_valid_mailbox_name: no "."/".." level, at most 64 levels, no
 * empty level, wildcard or control character), so delivery never makes
 * or names a mailbox its owner could not select, rename or delete. */
static bool map_name(const char *detail, char sep, char *out, size_t outlen)
{
    size_t n = strlen(detail);
    if (n == 0 || n >= outlen || n > STORAGE_MAX_MAILBOX_NAME || !utf8_valid(detail, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)detail[i];
        if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
            return false;
        /* With the '.' separator a '/' is not allowed in names (IMAP
         * refuses it too): it would be a hidden hierarchy level. */
        if (c == '/' && sep != '/')
            return false;
        out[i] = detail[i] == sep ? '/' : detail[i];
    }
    out[n] = '\0';
    /* No empty hierarchy components: "a..b", ".a", "a." */
    if (out[0] == '/' || out[n - 1] == '/' || strstr(out, "//"))
        return false;
    if (!access_valid_mailbox_name(out))
        return false;
    /* INBOX is case-insensitive (RFC 9051 5.1), also as a parent. */
    if (strncasecmp(out, "inbox", 5) == 0 && (out[5] == '\0' || out[5] == '/'))
        memcpy(out, "INBOX", 5);
    return true;
}

bool delivery_detail_mailbox(const char *detail, char *out, size_t outlen)
{
    return map_name(detail, config_bool(CFG_UNIXHIERARCHYSEP) ? '/' : '.', out, outlen);
}

/* Does name start with the namespace prefix pfx followed by '/' (or is it
 * the prefix itself)? */
static const char *under_prefix(const char *name, const char *pfx)
{
    size_t l = strlen(pfx);
    if (l == 0 || strncasecmp(name, pfx, l) != 0)
        return NULL;
    if (name[l] == '\0')
        return name + l;
    return name[l] == '/' ? name + l + 1 : NULL;
}

/* A detail folder must be a name of the user's personal namespace: a
 * name starting with the other-users or shared prefix would name another
 * store for IMAP clients, so it never designates a personal folder. */
static bool personal_name(const char *name)
{
    return !under_prefix(name, config_str(CFG_USERPREFIX)) && !under_prefix(name, config_str(CFG_SHAREDPREFIX));
}

bool delivery_user_folder(const char *detail, char *out, size_t outlen)
{
    return delivery_detail_mailbox(detail, out, outlen) && personal_name(out);
}

bool delivery_folder_name(const char *name, char sep, const char *userprefix, const char *sharedprefix, char *out,
                          size_t outlen)
{
    return map_name(name, sep, out, outlen) && !under_prefix(out, userprefix) && !under_prefix(out, sharedprefix);
}

static void set_shared(struct delivery_rcpt *out, const char *domain)
{
    out->user[0] = '\0';
    snprintf(out->domain, sizeof(out->domain), "%s", domain);
    access_shared_store(domain, out->store, sizeof(out->store));
}

enum rcpt_result delivery_target(const char *name, const char *domain, struct delivery_rcpt *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->mailbox, sizeof(out->mailbox), "INBOX");
    out->exact = true;
    const char *rest = under_prefix(name, config_str(CFG_SHAREDPREFIX));
    if (rest) {
        if (!*rest || !map_name(rest, '/', out->mailbox, sizeof(out->mailbox)))
            return RCPT_NOUSER;
        set_shared(out, domain);
        out->has_detail = true;
        return RCPT_OK;
    }
    rest = under_prefix(name, "user");
    if (!rest)
        rest = under_prefix(name, config_str(CFG_USERPREFIX));
    if (!rest || !*rest)
        return RCPT_NOUSER;
    const char *slash = strchr(rest, '/');
    size_t ul = slash ? (size_t)(slash - rest) : strlen(rest);
    char id[AUTH_MAX_USERNAME + ACCESS_MAX_DOMAIN + 2];
    if (ul == 0 || ul > AUTH_MAX_USERNAME)
        return RCPT_NOUSER;
    memcpy(id, rest, ul);
    id[ul] = '\0';
    for (char *p = id; *p; p++)
        if (*p == '^')
            *p = '.';   /* Cyrus: '.' in a user name under the '.' separator */
    if (config_bool(CFG_VIRTDOMAINS) && !strchr(id, '@') && domain && *domain) {
        size_t il = strlen(id);
        if (il + 1 + strlen(domain) >= sizeof(id))
            return RCPT_NOUSER;
        snprintf(id + il, sizeof(id) - il, "@%s", domain);
    }
    if (strlen(id) > AUTH_MAX_USERNAME || !userdb_normalize_name(id, out->user))
        return RCPT_NOUSER;
    int r = userdb_exists(out->user);
    if (r < 0)
        return RCPT_TEMPFAIL;
    if (r == 0)
        return RCPT_NOUSER;
    snprintf(out->store, sizeof(out->store), "%s", out->user);
    snprintf(out->domain, sizeof(out->domain), "%s", access_user_domain(out->user));
    if (slash) {
        if (!map_name(slash + 1, '/', out->mailbox, sizeof(out->mailbox)))
            return RCPT_NOUSER;
        out->has_detail = strcmp(out->mailbox, "INBOX") != 0;
    }
    return RCPT_OK;
}

static bool has_upper(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isupper((unsigned char)s[i]))
            return true;
    return false;
}

/* Try name as a user: 1 exists (normalized into out), 0 no, <0 error.
 * Without lmtp_downcase_rcpt an upper-case letter in the user part
 * (the first ulen bytes) means no match ("Fred" is not "fred"); domains
 * are case-insensitive anyway. */
static int try_user(const char *name, size_t len, size_t ulen, bool downcase, char *out)
{
    if (len == 0 || len > AUTH_MAX_USERNAME)
        return 0;
    if (!downcase && has_upper(name, ulen))
        return 0;
    char tmp[AUTH_MAX_USERNAME + 1];
    memcpy(tmp, name, len);
    tmp[len] = '\0';
    if (!userdb_normalize_name(tmp, out))
        return 0;
    int r = userdb_exists(out);
    return r < 0 ? -1 : r;
}

/* Domain of an address for stores: lowercased; "" for the defaultdomain
 * or without virtdomains. false when not a plausible domain name. */
static bool store_domain(const char *at, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!at || !config_bool(CFG_VIRTDOMAINS))
        return true;
    const char *d = at + 1;
    size_t n = strlen(d);
    if (n == 0 || n >= outlen || n > ACCESS_MAX_DOMAIN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = (char)tolower((unsigned char)d[i]);
        if (!isalnum((unsigned char)c) && c != '.' && c != '-')
            return false;
        out[i] = c;
    }
    out[n] = '\0';
    if (out[0] == '.' || out[n - 1] == '.' || strstr(out, ".."))
        return false;
    if (strcasecmp(out, config_str(CFG_DEFAULTDOMAIN)) == 0)
        out[0] = '\0';
    return true;
}

enum rcpt_result delivery_resolve(const char *addr, struct delivery_rcpt *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->mailbox, sizeof(out->mailbox), "INBOX");
    size_t alen = strlen(addr);
    if (alen == 0 || alen >= DELIVERY_MAX_ADDR)
        return RCPT_SYNTAX;
    /* Split off the domain at the last '@' outside quotes. */
    char local[DELIVERY_MAX_ADDR];
    size_t ln = 0;
    bool quoted = false;
    const char *at = NULL;
    for (const char *p = addr; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '\\' && quoted && p[1])
            p++;
        else if (*p == '@' && !quoted)
            at = p;
    }
    /* Unquote the local part ("a\"b"@x -> a"b). */
    const char *lend = at ? at : addr + alen;
    for (const char *p = addr; p < lend; p++) {
        if (*p == '"')
            continue;
        if (*p == '\\' && p + 1 < lend)
            p++;
        local[ln++] = *p;
    }
    local[ln] = '\0';
    if (ln == 0)
        return RCPT_SYNTAX;
    /* A local part never carries a domain: "alice@a.test"@main.test,
     * bob@b.test@main.test and "bob+x@b.test"@main.test name no user of
     * main.test. Without this the local part "alice@a.test" (the
     * defaultdomain stripped by userdb_normalize_name) would reach
     * another domain's user through the default one. */
    if (memchr(local, '@', ln))
        return RCPT_NOUSER;
    char domain[ACCESS_MAX_DOMAIN + 1];
    bool domain_ok = store_domain(at, domain, sizeof(domain));

    /* An explicit entry of lmtp_address_map wins over everything. */
    if (*config_str(CFG_LMTP_ADDRESS_MAP)) {
        char target[1024];
        int m = delivery_map_lookup(addr, target, sizeof(target));
        if (m < 0)
            return RCPT_TEMPFAIL;
        if (m == 1) {
            if (!domain_ok)
                return RCPT_NOUSER;
            enum rcpt_result r = delivery_target(target, domain, out);
            if (r == RCPT_NOUSER)
                log_warn("delivery: lmtp_address_map: %s -> \"%s\": no such mailbox or user", addr, target);
            return r;
        }
    }

    bool downcase = config_bool(CFG_LMTP_DOWNCASE_RCPT);
    char *plus = strchr(local, '+');
    size_t ulen = plus ? (size_t)(plus - local) : ln;

    /* Shared mailboxes: "postuser+folder.sub" (Cyrus postuser). */
    const char *postuser = config_str(CFG_POSTUSER);
    if (*postuser && strlen(postuser) == ulen && strncasecmp(local, postuser, ulen) == 0) {
        if (!plus || !plus[1] || !domain_ok)
            return RCPT_NOUSER;
        if (!delivery_detail_mailbox(plus + 1, out->mailbox, sizeof(out->mailbox)) ||
            strcmp(out->mailbox, "INBOX") == 0)
            return RCPT_NOUSER;
        set_shared(out, domain);
        out->has_detail = out->exact = true;
        return RCPT_OK;
    }

    if (config_bool(CFG_VIRTDOMAINS)) {
        /* The domain is part of the identity: no fallback to the local
         * part alone, which would cross domains. */
        if (!domain_ok)
            return RCPT_NOUSER;
        char full[DELIVERY_MAX_ADDR];
        int n = at ? snprintf(full, sizeof(full), "%.*s@%s", (int)ulen, local, at + 1)
                   : snprintf(full, sizeof(full), "%.*s", (int)ulen, local);
        if (n <= 0 || (size_t)n >= sizeof(full))
            return RCPT_NOUSER;
        int r = try_user(full, (size_t)n, ulen, downcase, out->user);
        if (r < 0)
            return RCPT_TEMPFAIL;
        if (r == 0)
            return RCPT_NOUSER;
        goto found;
    }
    /* "user@domain" as a whole user name first (users named with their
     * domain), with the detail removed: "u+d@dom" -> "u@dom". */
    if (at) {
        char full[DELIVERY_MAX_ADDR];
        int n = snprintf(full, sizeof(full), "%.*s%s", (int)ulen, local, at);
        if (n > 0 && (size_t)n < sizeof(full)) {
            int r = try_user(full, (size_t)n, ulen, downcase, out->user);
            if (r < 0)
                return RCPT_TEMPFAIL;
            if (r == 1)
                goto found;
        }
    }
    {
        int r = try_user(local, ulen, ulen, downcase, out->user);
        if (r < 0)
            return RCPT_TEMPFAIL;
        if (r == 0)
            return RCPT_NOUSER;
    }
found:
    snprintf(out->store, sizeof(out->store), "%s", out->user);
    snprintf(out->domain, sizeof(out->domain), "%s", access_user_domain(out->user));
    if (plus && plus[1]) {
        if (!delivery_user_folder(plus + 1, out->mailbox, sizeof(out->mailbox)))
            snprintf(out->mailbox, sizeof(out->mailbox), "INBOX");  /* bad folder name: INBOX, as Cyrus */
        else
            out->has_detail = strcmp(out->mailbox, "INBOX") != 0;
    }
    return RCPT_OK;
}
