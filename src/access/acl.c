/* acl.c - RFC 4314 rights: parsing, formatting, the stored ACL text,
 * SETACL-style modification and evaluation for an identity.
 *
 * The stored form is Cyrus's: "id\trights\t" repeated, a negative entry
 * written "-id". Stored rights never contain the virtual "c"/"d" letters:
 * they are expanded on input (RFC 4314 2.1.1: "c" = every member of the
 * create group) and only added back when rights are shown to a client, so
 * a stored "k" alone can never grow into "kx" on re-reading.
 */
#include "access.h"
#include "config.h"
#include "log.h"

#include <ctype.h>

static const char right_letters[] = "lrswipkxtean";   /* bit i = letter i */

static acl_rights_t right_of(char c)
{
    const char *p = c ? strchr(right_letters, c) : NULL;
    if (p)
        return 1u << (p - right_letters);
    if (c == 'c')
        return ACL_VIRTUAL_C;
    if (c == 'd')
        return ACL_VIRTUAL_D;
    return 0;
}

bool acl_parse_rights(const char *s, acl_rights_t *out)
{
    acl_rights_t r = 0;
    size_t n = 0;
    for (; *s; s++) {
        if (++n > 64)
            return false;
        acl_rights_t b = right_of(*s);
        if (!b)
            return false;
        r |= b;
    }
    *out = r;
    return true;
}

/* Letters only, no virtual c/d: the stored form. */
static void format_plain(acl_rights_t r, char *out)
{
    size_t n = 0;
    for (size_t i = 0; right_letters[i]; i++)
        if (r & (1u << i))
            out[n++] = right_letters[i];
    out[n] = '\0';
}

void acl_format_rights(acl_rights_t r, char *out)
{
    format_plain(r, out);
    size_t n = strlen(out);
    /* RFC 4314 2.1.1: "c"/"d" MUST be shown when any member is present. */
    if (r & ACL_VIRTUAL_C)
        out[n++] = 'c';
    if (r & ACL_VIRTUAL_D)
        out[n++] = 'd';
    out[n] = '\0';
}

/* An identifier (without a leading '-'): 1..ACL_MAX_IDENTIFIER bytes of
 * printable non-space characters, not starting with '-' (that would be a
 * negative entry spelled twice). */
static bool id_valid(const char *id, size_t len)
{
    if (len == 0 || len > ACL_MAX_IDENTIFIER || id[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static struct acl_entry *find_entry(struct acl_entry *e, size_t n, const char *id, bool negative)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].negative == negative && strcmp(e[i].id, id) == 0)
            return &e[i];
    return NULL;
}

bool acl_parse(const char *text, struct acl_entry **entries, size_t *n)
{
    *entries = NULL;
    *n = 0;
    if (!text)
        return true;
    if (strlen(text) > STORAGE_MAX_ACL)
        return false;
    struct acl_entry *e = NULL;
    size_t cnt = 0, cap = 0;
    const char *p = text;
    while (*p) {
        const char *t1 = strchr(p, '\t');
        if (!t1)
            goto bad;
        const char *rs = t1 + 1;
        const char *t2 = strchr(rs, '\t');
        size_t rlen = t2 ? (size_t)(t2 - rs) : strlen(rs);
        bool neg = *p == '-';
        const char *id = neg ? p + 1 : p;
        size_t idlen = (size_t)(t1 - id);
        if (!id_valid(id, idlen) || rlen > 64)
            goto bad;
        char rbuf[65];
        memcpy(rbuf, rs, rlen);
        rbuf[rlen] = '\0';
        acl_rights_t r;
        if (!acl_parse_rights(rbuf, &r))
            goto bad;
        char idbuf[ACL_MAX_IDENTIFIER + 1];
        memcpy(idbuf, id, idlen);
        idbuf[idlen] = '\0';
        /* Duplicates should not occur; merge them rather than reject the
         * whole ACL, so a damaged row never locks anybody out. */
        struct acl_entry *dup = find_entry(e, cnt, idbuf, neg);
        if (dup) {
            dup->rights |= r;
        } else {
            if (cnt >= ACL_MAX_ENTRIES)
                goto bad;
            ARRAY_GROW(e, cnt, cap);
            memcpy(e[cnt].id, idbuf, idlen + 1);
            e[cnt].negative = neg;
            e[cnt].rights = r;
            cnt++;
        }
        p = t2 ? t2 + 1 : rs + rlen;
    }
    *entries = e;
    *n = cnt;
    return true;
bad:
    free(e);
    return false;
}

char *acl_format(const struct acl_entry *entries, size_t n)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        char r[16];
        format_plain(entries[i].rights, r);
        buf_printf(&b, "%s%s\t%s\t", entries[i].negative ? "-" : "", entries[i].id, r);
    }
    return buf_release(&b);
}

/* Split a client id "[-]name" into its parts; false when invalid. */
static bool split_id(const char *id, bool *neg, const char **name)
{
    *neg = id[0] == '-';
    *name = *neg ? id + 1 : id;
    return id_valid(*name, strlen(*name));
}

static int finish(struct acl_entry *e, size_t n, char **out)
{
    char *t = acl_format(e, n);
    if (strlen(t) > STORAGE_MAX_ACL) {
        free(t);
        return ACCESS_ERR_ACLFULL;
    }
    *out = t;
    return 0;
}

int acl_modify(const char *text, const char *id, const char *mod, char **out)
{
    *out = NULL;
    bool neg;
    const char *name;
    if (!id || !mod || !split_id(id, &neg, &name))
        return ACCESS_ERR_INVALID;
    enum { REPLACE, ADD, REMOVE } op = REPLACE;
    if (mod[0] == '+' || mod[0] == '-') {
        op = mod[0] == '+' ? ADD : REMOVE;
        mod++;
    }
    acl_rights_t r;
    if (!acl_parse_rights(mod, &r))
        return ACCESS_ERR_INVALID;
    struct acl_entry *e;
    size_t n;
    if (!acl_parse(text, &e, &n))
        return ACCESS_ERR_INVALID;
    struct acl_entry *cur = find_entry(e, n, name, neg);
    acl_rights_t old = cur ? cur->rights : 0;
    acl_rights_t nr = op == REPLACE ? r : op == ADD ? (old | r) : (old & ~r);
    if (cur) {
        cur->rights = nr;
    } else if (nr) {
        if (n >= ACL_MAX_ENTRIES) {
            free(e);
            return ACCESS_ERR_ACLFULL;
        }
        e = xrealloc(e, (n + 1) * sizeof(*e));
        snprintf(e[n].id, sizeof(e[n].id), "%s", name);
        e[n].negative = neg;
        e[n].rights = nr;
        n++;
    }
    /* RFC 4314 3.1: an empty rights result removes the entry. */
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].rights)
            e[w++] = e[i];
    int rc = finish(e, w, out);
    free(e);
    return rc;
}

int acl_remove(const char *text, const char *id, char **out)
{
    *out = NULL;
    bool neg;
    const char *name;
    if (!id || !split_id(id, &neg, &name))
        return ACCESS_ERR_INVALID;
    struct acl_entry *e;
    size_t n;
    if (!acl_parse(text, &e, &n))
        return ACCESS_ERR_INVALID;
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (!(e[i].negative == neg && strcmp(e[i].id, name) == 0))
            e[w++] = e[i];
    int rc = finish(e, w, out);
    free(e);
    return rc;
}

/* Store names: "%shared" / "%shared@DOMAIN" are shared stores. */
static bool store_is_shared(const char *store)
{
    return store[0] == '%';
}

static bool id_matches(const struct acl_entry *e, const struct access_who *w)
{
    if (strcmp(e->id, "anonymous") == 0)
        return w->anonymous;
    if (w->anonymous)
        return false;
    if (strcmp(e->id, "anyone") == 0)
        return true;
    if (strncmp(e->id, "group:", 6) == 0) {
        /* Live lookup (re-read on change) rather than the list taken at
         * login, so removing someone from a group takes effect at once. */
        return access_in_group(w->user, e->id + 6);
    }
    return strcmp(e->id, w->user) == 0;
}

acl_rights_t acl_evaluate(const char *acl, const struct access_who *w, const char *store)
{
    if (!w->anonymous && !store_is_shared(store) && strcmp(store, w->user) == 0)
        return ACL_ALL;
    acl_rights_t pos = 0, neg = 0;
    struct acl_entry *e;
    size_t n;
    if (acl && *acl) {
        if (acl_parse(acl, &e, &n)) {
            for (size_t i = 0; i < n; i++) {
                if (!id_matches(&e[i], w))
                    continue;
                if (e[i].negative)
                    neg |= e[i].rights;
                else
                    pos |= e[i].rights;
            }
            free(e);
        } else {
            log_warn("access: unparsable ACL on a mailbox of %s; granting nothing", store);
        }
    }
    acl_rights_t r = pos & ~neg;
    if (!w->anonymous && access_is_admin_of_store(w, store))
        r |= ACL_LOOKUP | ACL_ADMIN;
    if (w->anonymous)
        r &= ACL_ANONYMOUS_MAX;
    return r;
}

const char *access_strerror(int err)
{
    switch (err) {
    case 0: return "OK";
    case ACCESS_ERR_NONEXISTENT: return "Mailbox does not exist";
    case ACCESS_ERR_NOPERM: return "Permission denied";
    case ACCESS_ERR_INVALID: return "Invalid name or argument";
    case ACCESS_ERR_CANNOT: return "Operation not supported";
    case ACCESS_ERR_ACLFULL: return "Too many ACL entries";
    default: return storage_strerror(err);
    }
}
