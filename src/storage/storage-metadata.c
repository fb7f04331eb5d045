/* storage-metadata.c - METADATA annotations (RFC 5464) in stores: the
 * backend-neutral half (storage.h, "metadata"): entry-name syntax,
 * argument and limit checks, dispatch through the backend's ops.
 */
#include "storage-private.h"
#include "config.h"

bool metadata_entry_valid(const char *entry, size_t len, bool bare_scope)
{
    if (!entry || len == 0 || len > METADATA_MAX_ENTRY_NAME || entry[0] != '/')
        return false;
    /* RFC 5464 3.2: no '*' or '%', no non-ASCII, no octets 0x00-0x19
     * (DEL is not named; it is a control character, refused as well);
     * no "//", no trailing '/'. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)entry[i];
        if (c < 0x20 || c >= 0x7f || c == '*' || c == '%')
            return false;
        if (c == '/' && (i + 1 == len || entry[i + 1] == '/'))
            return false;
    }
    /* the first component is the scope; at least one more follows
     * (3.2: "any number of components starting at 2") */
    size_t sl;
    if (len >= 8 && strncasecmp(entry, "/private", 8) == 0)
        sl = 8;
    else if (len >= 7 && strncasecmp(entry, "/shared", 7) == 0)
        sl = 7;
    else
        return false;
    if (len == sl)
        return bare_scope;
    if (entry[sl] != '/')
        return false;
    /* "/shared/vendor/<token>" needs a component below the token (3.2:
     * vendor entries have at least 4 components) */
    if (len - sl >= 7 && strncasecmp(entry + sl, "/vendor", 7) == 0 &&
        (len - sl == 7 || entry[sl + 7] == '/')) {
        const char *tok = entry + sl + 7;
        size_t rest = len - sl - 7;
        if (rest == 0 || !memchr(tok + 1, '/', rest - 1))
            return bare_scope;      /* a prefix to search under, never an entry */
    }
    return true;
}

bool metadata_entry_private(const char *entry)
{
    return entry && strncasecmp(entry, "/private", 8) == 0;
}

size_t metadata_max_value_size(void)
{
    return (size_t)config_int(CFG_METADATA_MAX_VALUE_SIZE);
}

int64_t metadata_max_entries(void)
{
    return (int64_t)config_int(CFG_METADATA_MAX_ENTRIES);
}

static bool is_lower(const char *e)
{
    for (; *e; e++)
        if (*e >= 'A' && *e <= 'Z')
            return false;
    return true;
}

int metadata_get(struct mail_user *u, const char *mailbox, const char *reader, const char *entry, int depth,
                 int (*cb)(const char *name, const void *value, size_t len, void *arg), void *arg)
{
    if (!u || !cb || !entry || !metadata_entry_valid(entry, strlen(entry), true) || !is_lower(entry) ||
        depth < -1 || depth > 1)
        return STORAGE_ERR_INVALID;
    if (mailbox && !storage_valid_mailbox_name(mailbox))
        return STORAGE_ERR_INVALID;
    return u->ops->metadata_get(u, mailbox, reader, entry, depth, cb, arg);
}

int metadata_set(struct mail_user *u, const char *mailbox, const char *reader, const struct metadata_change *c,
                 size_t n, int64_t special_use)
{
    if (!u || (!c && n))
        return STORAGE_ERR_INVALID;
    if (mailbox && !storage_valid_mailbox_name(mailbox))
        return STORAGE_ERR_INVALID;
    if (special_use >= 0 && !mailbox)
        return STORAGE_ERR_INVALID;
    size_t max = metadata_max_value_size();
    for (size_t i = 0; i < n; i++) {
        if (!c[i].entry || !metadata_entry_valid(c[i].entry, strlen(c[i].entry), false) || !is_lower(c[i].entry))
            return STORAGE_ERR_INVALID;
        if (metadata_entry_private(c[i].entry) && (!reader || !*reader))
            return STORAGE_ERR_INVALID;
        if (c[i].value && c[i].len > max)
            return STORAGE_ERR_MAXSIZE;
    }
    return u->ops->metadata_set(u, mailbox, reader, c, n, special_use, metadata_max_entries());
}
