/* delivery-mailto.c - Sieve notify with the mailto method (RFC 5436): the
 * URI (RFC 6068) and the notification message.
 *
 * The URI comes from a script, so it is the user's word, but it decides
 * header fields of a message we send: it is bounded (MAILTO_MAX_URI,
 * MAILTO_MAX_RCPTS), decoded strictly (a bad %-escape makes it invalid),
 * and no decoded value with a control character (a line end would be a
 * header injection) is accepted.
 */
#include "delivery.h"
#include "delivery-compose.h"
#include "log.h"
#include "mime.h"

#include <ctype.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* %-decode s[0..n) into out; false on a bad escape or an encoded NUL. */
static bool pct_decode(const char *s, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            buf_putc(out, s[i]);
            continue;
        }
        if (i + 2 >= n)
            return false;
        int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
        if (h < 0 || l < 0 || (h == 0 && l == 0))
            return false;
        buf_putc(out, (char)(h * 16 + l));
        i += 2;
    }
    return true;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            return true;
    return false;
}

/* A decoded address list (RFC 6068 2: addr-specs separated by ','; white
 * space around them tolerated) into list; false when an entry is not a
 * plain ASCII local@domain (no white space, controls, 8-bit bytes,
 * quotes, brackets or comments: nothing a header or command line could
 * misread) or there are more than MAILTO_MAX_RCPTS in all. Empty is
 * fine. */
static bool add_addrs(const char *v, char ***list, size_t *n, size_t *total)
{
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        p += l + (comma ? 1 : 0);
        while (l && (*s == ' ' || *s == '\t')) {
            s++;
            l--;
        }
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
            l--;
        if (l == 0)
            continue;
        const char *at = NULL;
        for (size_t i = 0; i < l; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c <= ' ' || c >= 0x7f || strchr("<>()[]\\\",;:", c))
                return false;
            if (c == '@') {
                if (at)
                    return false; /* one '@': a local part with one must be quoted */
                at = s + i;
            }
        }
        if (!at || at == s || at == s + l - 1 || l >= DELIVERY_MAX_ADDR || ++*total > MAILTO_MAX_RCPTS)
            return false;
        *list = xrealloc(*list, (*n + 1) * sizeof(char *));
        (*list)[(*n)++] = xstrndup(s, l);
    }
    return true;
}

/* Fields a URI may not set (RFC 5436 2.7, and those the notification
 * sets itself). */
static bool unsafe_field(const char *name)
{
    static const char *const unsafe[] = {"from",        "sender",     "auto-submitted", "received", "return-path",
                                         "message-id",  "date",       "mime-version",   "references",
                                         "in-reply-to", "subject",    "body",           "to",
                                         "cc",          "bcc"};
    for (size_t i = 0; i < ARRAY_SIZE(unsafe); i++)
        if (strcasecmp(name, unsafe[i]) == 0)
            return true;
    return strncasecmp(name, "resent-", 7) == 0 || strncasecmp(name, "content-", 8) == 0;
}

static bool field_name_ok(const char *n)
{
    if (!*n || strlen(n) > 76)
        return false;
    for (; *n; n++)
        if ((unsigned char)*n <= ' ' || (unsigned char)*n >= 0x7f || *n == ':')
            return false;
    return true;
}

void mailto_free(struct mailto *m)
{
    for (size_t i = 0; i < m->nto; i++)
        free(m->to[i]);
    for (size_t i = 0; i < m->ncc; i++)
        free(m->cc[i]);
    for (size_t i = 0; i < m->nbcc; i++)
        free(m->bcc[i]);
    free(m->to);
    free(m->cc);
    free(m->bcc);
    free(m->subject);
    free(m->body);
    for (size_t i = 0; i < m->nhdrs; i++) {
        free(m->hdrs[i].name);
        free(m->hdrs[i].value);
    }
    free(m->hdrs);
    memset(m, 0, sizeof(*m));
}

bool mailto_parse(const char *uri, struct mailto *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (errlen)
        err[0] = '\0';
    size_t n = strlen(uri);
    if (n > MAILTO_MAX_URI) {
        snprintf(err, errlen, "URI longer than %d bytes", MAILTO_MAX_URI);
        return false;
    }
    if (strncasecmp(uri, "mailto:", 7) != 0) {
        snprintf(err, errlen, "not a mailto: URI");
        return false;
    }
    const char *p = uri + 7;
    const char *q = strchr(p, '?');
    size_t total = 0;
    struct buf d = BUF_INIT;
    bool ok = pct_decode(p, q ? (size_t)(q - p) : strlen(p), &d) && add_addrs(buf_cstr(&d), &out->to, &out->nto, &total);
    if (!ok)
        snprintf(err, errlen, "invalid address in the URI");
    while (ok && q && *q) {
        const char *f = q + 1;
        const char *amp = strchr(f, '&');
        size_t flen = amp ? (size_t)(amp - f) : strlen(f);
        q = amp;
        if (flen == 0)
            continue;
        const char *eq = memchr(f, '=', flen);
        struct buf name = BUF_INIT, val = BUF_INIT;
        if (!eq || !pct_decode(f, (size_t)(eq - f), &name) ||
            !pct_decode(eq + 1, flen - (size_t)(eq - f) - 1, &val)) {
            snprintf(err, errlen, "malformed header field in the URI");
            ok = false;
        } else if (!field_name_ok(buf_cstr(&name))) {
            snprintf(err, errlen, "invalid header field name in the URI");
            ok = false;
        } else {
            const char *hn = buf_cstr(&name), *hv = buf_cstr(&val);
            if (strcasecmp(hn, "to") == 0) {
                ok = add_addrs(hv, &out->to, &out->nto, &total);
            } else if (strcasecmp(hn, "cc") == 0) {
                ok = add_addrs(hv, &out->cc, &out->ncc, &total);
            } else if (strcasecmp(hn, "bcc") == 0) {
                ok = add_addrs(hv, &out->bcc, &out->nbcc, &total);
            } else if (strcasecmp(hn, "body") == 0) {
                /* The body may have line ends (RFC 6068 2: %0D%0A). */
                free(out->body);
                out->body = xstrdup(hv);
            } else if (has_ctl(hv)) {
                snprintf(err, errlen, "control character in a header field of the URI");
                ok = false;
            } else if (strcasecmp(hn, "subject") == 0) {
                free(out->subject);
                out->subject = xstrdup(hv);
            } else if (!unsafe_field(hn) && out->nhdrs < 16) {
                out->hdrs = xrealloc(out->hdrs, (out->nhdrs + 1) * sizeof(*out->hdrs));
                out->hdrs[out->nhdrs].name = xstrdup(hn);
                out->hdrs[out->nhdrs].value = xstrdup(hv);
                out->nhdrs++;
            }
            if (!ok && !*err)
                snprintf(err, errlen, "invalid address in the URI");
        }
        buf_free(&name);
        buf_free(&val);
    }
    buf_free(&d);
    if (ok && total == 0) {
        snprintf(err, errlen, "no recipient in the URI");
        ok = false;
    }
    if (!ok)
        mailto_free(out);
    return ok;
}

static void addr_field(struct buf *h, const char *name, char **list, size_t n)
{
    if (n == 0)
        return;
    buf_printf(h, "%s: ", name);
    for (size_t i = 0; i < n; i++)
        buf_printf(h, "%s<%s>", i ? ",\r\n " : "", list[i]);
    buf_puts(h, "\r\n");
}

char *mailto_compose(const struct mailto *u, const struct notify_msg *m, const char *from, const char *message,
                     const char *servername, time_t now, const char **sender, size_t *len)
{
    const char *user = m->envelope_to && compose_header_addr_ok(m->envelope_to) ? m->envelope_to : NULL;
    bool from_ok = from && compose_header_addr_ok(from) && !strchr(from, '<') && !strchr(from, ' ');
    const char *hfrom = from_ok ? from : user;
    if (!hfrom)
        return NULL;
    /* RFC 5436 2.7: a null trigger sender gives a null sender (no loop
     * through bounces); else :from, else the user. */
    *sender = m->envelope_from && *m->envelope_from ? hfrom : "";
    struct buf h = BUF_INIT;
    /* First, as the boundary above any trace fields (RFC 5436 2.7.1). */
    buf_printf(&h, "Auto-Submitted: auto-notified; owner-email=\"%s\"\r\n", user ? user : hfrom);
    char date[64];
    delivery_date(now, date, sizeof(date));
    buf_printf(&h, "Date: %s\r\n", date);
    buf_printf(&h, "From: <%s>\r\n", hfrom);
    addr_field(&h, "To", u->to, u->nto);
    addr_field(&h, "Cc", u->cc, u->ncc);
    if (message) {
        compose_unstructured(&h, "Subject", message, VACATION_MAX_SUBJECT);
    } else if (u->subject) {
        compose_unstructured(&h, "Subject", u->subject, VACATION_MAX_SUBJECT);
    } else {
        char *orig = mime_header_get(m->hdr, m->hdr_len, "Subject");
        struct buf dec = BUF_INIT;
        if (orig)
            mime_decode_header_utf8(&dec, orig, MIN(strlen(orig), (size_t)VACATION_MAX_SUBJECT * 4));
        compose_unstructured(&h, "Subject", dec.len ? buf_cstr(&dec) : "Notification", VACATION_MAX_SUBJECT);
        buf_free(&dec);
        free(orig);
    }
    char *omid = mime_header_get(m->hdr, m->hdr_len, "Message-ID");
    struct buf mid = BUF_INIT;
    if (omid && compose_msgid_token(omid, NULL, &mid))
        buf_printf(&h, "References: %s\r\n", buf_cstr(&mid));
    free(omid);
    buf_free(&mid);
    buf_puts(&h, "Message-ID: ");
    compose_msgid(&h, servername, now);
    buf_puts(&h, "\r\n");
    for (size_t i = 0; i < u->nhdrs; i++) {
        /* "Capitalize the first letter ... and add a space after the
         * colon" (RFC 5436 2.7); non-ASCII values encoded. */
        char name[80];
        snprintf(name, sizeof(name), "%s", u->hdrs[i].name);
        name[0] = (char)toupper((unsigned char)name[0]);
        compose_unstructured(&h, name, u->hdrs[i].value, VACATION_MAX_SUBJECT);
    }
    buf_puts(&h, "MIME-Version: 1.0\r\n");
    struct buf ph = BUF_INIT, pb = BUF_INIT;
    compose_text_part(&ph, &pb, u->body ? u->body : "");
    buf_append(&h, ph.data, ph.len);
    buf_puts(&h, "\r\n");
    buf_append(&h, pb.data, pb.len);
    buf_free(&ph);
    buf_free(&pb);
    *len = h.len;
    return buf_release(&h);
}

enum outgoing_result delivery_notify_mailto_send(const struct sendmail_opts *opts, const char *uri,
                                                 const struct notify_msg *m, const char *from,
                                                 const char *message, const char *servername, time_t now)
{
    char *as = mime_header_get(m->hdr, m->hdr_len, "Auto-Submitted");
    if (as) {
        char tok[16];
        size_t i = 0, o = 0;
        while (as[i] == ' ' || as[i] == '\t')
            i++;
        while (as[i] && !strchr(" \t;(", as[i]) && o + 1 < sizeof(tok))
            tok[o++] = (char)tolower((unsigned char)as[i++]);
        tok[o] = '\0';
        free(as);
        if (strcmp(tok, "no") != 0) {
            log_info("notify: no notification for an auto-submitted message");
            return OUTGOING_SUPPRESSED;
        }
    }
    struct mailto u;
    char err[128] = "";
    if (!mailto_parse(uri, &u, err, sizeof(err))) {
        log_warn("notify: %s", err);
        return OUTGOING_ERROR;
    }
    const char *sender = "";
    size_t len = 0;
    char *msg = mailto_compose(&u, m, from, message, servername, now, &sender, &len);
    if (!msg) {
        mailto_free(&u);
        log_warn("notify: no usable From address");
        return OUTGOING_ERROR;
    }
    const char **rcpts = xcalloc(u.nto + u.ncc + u.nbcc, sizeof(char *));
    size_t nr = 0;
    for (size_t i = 0; i < u.nto; i++)
        rcpts[nr++] = u.to[i];
    for (size_t i = 0; i < u.ncc; i++)
        rcpts[nr++] = u.cc[i];
    for (size_t i = 0; i < u.nbcc; i++)
        rcpts[nr++] = u.bcc[i];
    struct sendmail_msg sm = {.head = msg, .head_len = len, .fd = -1};
    enum sendmail_status st = delivery_sendmail(opts, sender, rcpts, nr, &sm, NULL);
    free(rcpts);
    free(msg);
    mailto_free(&u);
    return outgoing_from_sendmail(st);
}
