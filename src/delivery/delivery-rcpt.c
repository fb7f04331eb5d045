/* delivery-rcpt.c - envelope paths and recipient resolution.
 *
 * Recipients follow Cyrus lmtpd without virtual domains:
 *   user[+detail][@domain]
 * The user part is the user name (lowercased with lmtp_downcase_rcpt);
 * the domain is ignored unless "user@domain" itself is a user name. The
 * detail names a folder of the user ('.' is the hierarchy separator with
 * unixhierarchysep: no, '/' with yes); delivery_deliver() uses it when it
 * exists (or creates it with createonpost) and INBOX otherwise.
 */
#include "delivery.h"
#include "config.h"
#include "storage.h"

#include <ctype.h>
#include <strings.h>

static bool valid_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
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
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

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
    if (!valid_utf8((const unsigned char *)out, n))
        return false;
    *pp = p + 1;
    return true;
}

bool delivery_detail_mailbox(const char *detail, char *out, size_t outlen)
{
    size_t n = strlen(detail);
    if (n == 0 || n >= outlen || n > STORAGE_MAX_MAILBOX_NAME || !valid_utf8((const unsigned char *)detail, n))
        return false;
    char sep = config_bool(CFG_UNIXHIERARCHYSEP) ? '/' : '.';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)detail[i];
        if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
            return false;
        out[i] = detail[i] == sep ? '/' : detail[i];
    }
    out[n] = '\0';
    /* No empty hierarchy components: "a..b", ".a", "a." */
    if (out[0] == '/' || out[n - 1] == '/' || strstr(out, "//"))
        return false;
    /* INBOX is case-insensitive (RFC 9051 5.1), also as a parent. */
    if (strncasecmp(out, "inbox", 5) == 0 && (out[5] == '\0' || out[5] == '/'))
        memcpy(out, "INBOX", 5);
    return true;
}

/* Try name as a user: 1 exists (normalized into out), 0 no, <0 error. */
static int try_user(const char *name, size_t len, bool downcase, char *out)
{
    if (len == 0 || len > AUTH_MAX_USERNAME)
        return 0;
    char tmp[AUTH_MAX_USERNAME + 1];
    memcpy(tmp, name, len);
    tmp[len] = '\0';
    if (!userdb_normalize_name(tmp, out))
        return 0;
    if (!downcase && strcmp(tmp, out) != 0)
        return 0;   /* "Fred" is not "fred" without lmtp_downcase_rcpt */
    int r = userdb_exists(out);
    return r < 0 ? -1 : r;
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
    bool downcase = config_bool(CFG_LMTP_DOWNCASE_RCPT);
    char *plus = strchr(local, '+');
    size_t ulen = plus ? (size_t)(plus - local) : ln;

    /* "user@domain" as a whole user name first (users named with their
     * domain), with the detail removed: "u+d@dom" -> "u@dom". */
    if (at) {
        char full[DELIVERY_MAX_ADDR];
        int n = snprintf(full, sizeof(full), "%.*s%s", (int)ulen, local, at);
        if (n > 0 && (size_t)n < sizeof(full)) {
            int r = try_user(full, (size_t)n, downcase, out->user);
            if (r < 0)
                return RCPT_TEMPFAIL;
            if (r == 1)
                goto found;
        }
    }
    {
        int r = try_user(local, ulen, downcase, out->user);
        if (r < 0)
            return RCPT_TEMPFAIL;
        if (r == 0)
            return RCPT_NOUSER;
    }
found:
    if (plus && plus[1]) {
        if (!delivery_detail_mailbox(plus + 1, out->mailbox, sizeof(out->mailbox)))
            snprintf(out->mailbox, sizeof(out->mailbox), "INBOX");  /* bad folder name: INBOX, as Cyrus */
        else
            out->has_detail = true;
    }
    return RCPT_OK;
}
