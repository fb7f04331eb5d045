/* delivery-redirect.c - the loop guard of Sieve redirect (RFC 5228 4.2:
 * "implementations SHOULD take measures to implement loop control").
 *
 * Two checks on the message about to be redirected:
 *  - our own trace field, REDIRECT_HEADER, naming this user: the message
 *    was redirected by this user before and came back (two users, or a
 *    user and an outside forward, pointing at each other);
 *  - the number of Received fields: past REDIRECT_MAX_RECEIVED the
 *    message is looping somewhere we cannot see (RFC 5321 6.3).
 * The per-run limit on redirect actions (sieve_maxredirects) belongs to
 * the interpreter, which counts them.
 */
#include "delivery.h"
#include "delivery-compose.h"
#include "mime.h"

#include <strings.h>

enum redirect_verdict redirect_check(const char *hdr, size_t hdr_len, const char *user_addr)
{
    size_t pos = 0, received = 0;
    struct mime_sfield f;
    const size_t ml = strlen(REDIRECT_HEADER);
    while (mime_sfield_next(hdr, hdr_len, &pos, &f)) {
        if (mime_field_name_cmp(f.name, f.name_len, "Received", 8) == 0) {
            if (++received > REDIRECT_MAX_RECEIVED)
                return REDIRECT_TOO_MANY_HOPS;
        } else if (mime_field_name_cmp(f.name, f.name_len, REDIRECT_HEADER, ml) == 0) {
            /* The value, trimmed of white space and line ends. */
            const char *v = f.val;
            size_t n = f.val_len;
            while (n && strchr(" \t\r\n", *v)) {
                v++;
                n--;
            }
            while (n && strchr(" \t\r\n", v[n - 1]))
                n--;
            if (n == strlen(user_addr) && strncasecmp(v, user_addr, n) == 0)
                return REDIRECT_LOOP;
        }
    }
    return REDIRECT_OK;
}

char *redirect_header(const char *user_addr)
{
    size_t n = strlen(user_addr);
    if (n == 0 || n >= DELIVERY_MAX_ADDR)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)user_addr[i] <= ' ' || (unsigned char)user_addr[i] == 0x7f)
            return NULL;
    return xasprintf("%s: %s\r\n", REDIRECT_HEADER, user_addr);
}

size_t redirect_skip_return_path(const char *data, size_t len)
{
    size_t pos = 0, end = 0;
    struct mime_sfield f;
    while (mime_sfield_next(data, len, &pos, &f)) {
        if (mime_field_name_cmp(f.name, f.name_len, "Return-Path", 11) != 0)
            break;
        end = (size_t)(f.val + f.val_len - data);
    }
    return end;
}
