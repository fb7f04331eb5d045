/* delivery-vacation.c - Sieve vacation (RFC 5230, RFC 6131) as a personal
 * responder by RFC 3834: when to reply, the tracking period and handle,
 * and the reply itself. The tracking store is in delivery-dup.c.
 *
 * Every header of the incoming message is hostile: fields are read with
 * the mail layer's bounded parsers, address lists through
 * mime_address_each (at most MIME_ENV_MAX_ADDRESSES per field), and only
 * cleaned, bounded text goes into the reply's header.
 */
#include "delivery.h"
#include "delivery-compose.h"
#include "mime.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <strings.h>

const char *vacation_verdict_name(enum vacation_verdict v)
{
    switch (v) {
    case VACATION_REPLY:
        return "reply";
    case VACATION_NULL_SENDER:
        return "null envelope sender";
    case VACATION_SYSTEM_SENDER:
        return "sender is a system or list address";
    case VACATION_OWN_SENDER:
        return "sender is the user";
    case VACATION_AUTO_SUBMITTED:
        return "auto-submitted message";
    case VACATION_LIST:
        return "mailing list message";
    case VACATION_PRECEDENCE:
        return "bulk, list or junk precedence";
    case VACATION_NOT_ADDRESSED:
        return "user not addressed in To/Cc/Bcc/Resent-*";
    }
    return "?";
}

/* RFC 5230 4.6: "a list of addresses that vacation MUST NOT send mail
 * to", implementation-defined: the well-known daemon names it suggests,
 * mailing-list software addresses (owner-*, *-request, *-owner, and
 * Mailman's *-bounces with or without a VERP suffix). POSTMASTER is left
 * out on purpose: people read it (RFC 5230 4.6). */
static bool system_sender(const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : strlen(addr);
    char local[DELIVERY_MAX_ADDR];
    if (n >= sizeof(local))
        n = sizeof(local) - 1;
    for (size_t i = 0; i < n; i++)
        local[i] = (char)tolower((unsigned char)addr[i]);
    local[n] = '\0';
    static const char *const exact[] = {"mailer-daemon", "listserv", "majordomo", "mailer", "mdaemon"};
    for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
        if (strcmp(local, exact[i]) == 0)
            return true;
    static const char *const suffix[] = {"-request", "-owner", "-bounces", "-admin"};
    for (size_t i = 0; i < ARRAY_SIZE(suffix); i++) {
        size_t sl = strlen(suffix[i]);
        if (n >= sl && strcmp(local + n - sl, suffix[i]) == 0)
            return true;
    }
    return strncmp(local, "owner-", 6) == 0 || strstr(local, "-bounces+") != NULL;
}

/* An address without its +detail ("user+x@dom" -> "user@dom"). */
static void strip_detail(const char *a, char *out, size_t outlen)
{
    const char *at = strrchr(a, '@');
    const char *plus = strchr(a, '+');
    if (plus && (!at || plus < at))
        snprintf(out, outlen, "%.*s%s", (int)(plus - a), a, at ? at : "");
    else
        snprintf(out, outlen, "%s", a);
}

struct own_set {
    const struct vacation_msg *m;
    const struct vacation_params *p;
    bool found;
    char matched[DELIVERY_MAX_ADDR];   /* the header address that matched */
};

static bool is_own1(const char *addr, const char *own)
{
    if (!own || !*own)
        return false;
    if (compose_addr_eq(addr, own))
        return true;
    /* A recipient "user+detail@dom" is also addressed as "user@dom". */
    char base[DELIVERY_MAX_ADDR];
    strip_detail(own, base, sizeof(base));
    return compose_addr_eq(addr, base);
}

static bool is_own(const struct vacation_msg *m, const struct vacation_params *p, const char *addr)
{
    if (is_own1(addr, m->envelope_to))
        return true;
    for (size_t i = 0; i < m->nown; i++)
        if (is_own1(addr, m->own[i]))
            return true;
    for (size_t i = 0; p && i < p->naddresses; i++)
        if (is_own1(addr, p->addresses[i]))
            return true;
    return false;
}

static void own_cb(void *arg, const char *name, const char *local, const char *domain)
{
    (void)name;
    struct own_set *s = arg;
    if (s->found || !*local)
        return;
    char addr[DELIVERY_MAX_ADDR];
    int n = snprintf(addr, sizeof(addr), "%s%s%s", local, *domain ? "@" : "", domain);
    if (n < 0 || (size_t)n >= sizeof(addr))
        return;
    if (is_own(s->m, s->p, addr)) {
        s->found = true;
        snprintf(s->matched, sizeof(s->matched), "%s", addr);
    }
}

static bool field_is(const struct mime_sfield *f, const char *name)
{
    return mime_field_name_cmp(f->name, f->name_len, name, strlen(name)) == 0;
}

/* The first token of a field value (Auto-Submitted, Precedence), lowercase:
 * up to white space, ';' or '('. */
static void first_token(const struct mime_sfield *f, char *out, size_t outlen)
{
    size_t i = 0, o = 0;
    while (i < f->val_len && strchr(" \t\r\n", f->val[i]))
        i++;
    while (i < f->val_len && !strchr(" \t\r\n;(", f->val[i]) && o + 1 < outlen)
        out[o++] = (char)tolower((unsigned char)f->val[i++]);
    out[o] = '\0';
}

/* Is the user among the recipients? The fields of RFC 5230 4.5. */
static bool addressed(const struct vacation_msg *m, const struct vacation_params *p, char *matched,
                      size_t matchedlen)
{
    static const char *const fields[] = {"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"};
    struct own_set s = {.m = m, .p = p};
    size_t pos = 0;
    struct mime_sfield f;
    while (!s.found && mime_sfield_next(m->hdr, m->hdr_len, &pos, &f)) {
        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
            if (field_is(&f, fields[i])) {
                mime_address_each(f.val, f.val_len, own_cb, &s);
                break;
            }
        }
    }
    if (s.found && matched)
        snprintf(matched, matchedlen, "%s", s.matched);
    return s.found;
}

enum vacation_verdict vacation_check(const struct vacation_msg *m, const struct vacation_params *p)
{
    const char *from = m->envelope_from ? m->envelope_from : "";
    /* RFC 3834 2 / RFC 5230 5.1: replies go to the envelope sender;
     * there is none for bounces and other automatic messages. */
    if (!*from)
        return VACATION_NULL_SENDER;
    if (system_sender(from))
        return VACATION_SYSTEM_SENDER;
    /* Not to the user: a message of the user's own (a copy of what was
     * sent) is never answered. */
    if (is_own(m, p, from))
        return VACATION_OWN_SENDER;
    size_t pos = 0;
    struct mime_sfield f;
    while (mime_sfield_next(m->hdr, m->hdr_len, &pos, &f)) {
        char tok[32];
        /* RFC 3834 2 and 5, RFC 5230 4.6. */
        if (field_is(&f, "Auto-Submitted")) {
            first_token(&f, tok, sizeof(tok));
            if (strcmp(tok, "no") != 0)
                return VACATION_AUTO_SUBMITTED;
        }
        /* RFC 5230 4.6: RFC 2919 List-Id and the RFC 2369 fields. */
        if (f.name_len >= 5 && strncasecmp(f.name, "List-", 5) == 0) {
            static const char *const lists[] = {"List-Id",        "List-Help",  "List-Subscribe", "List-Unsubscribe",
                                                "List-Post",      "List-Owner", "List-Archive"};
            for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
                if (field_is(&f, lists[i]))
                    return VACATION_LIST;
        }
        /* RFC 3834 2: Precedence (RFC 2076) bulk, list or junk mark
         * mail no person expects an answer to. */
        if (field_is(&f, "Precedence")) {
            first_token(&f, tok, sizeof(tok));
            if (strcmp(tok, "bulk") == 0 || strcmp(tok, "list") == 0 || strcmp(tok, "junk") == 0)
                return VACATION_PRECEDENCE;
        }
    }
    if (!addressed(m, p, NULL, 0))
        return VACATION_NOT_ADDRESSED;
    return VACATION_REPLY;
}

int64_t vacation_period(int64_t requested, int64_t min, int64_t max)
{
    int64_t v = requested < 0 ? MAX((int64_t)7 * 86400, min) : requested;
    if (v < min)
        v = min;
    if (max > 0 && v > max)
        v = max;
    return v;
}

void vacation_handle(const char *subject, const char *from, bool mime, const char *reason,
                     char out[VACATION_HANDLE_LEN + 1])
{
    /* Counted strings (RFC 5230 4.2 implementation note): a tag for
     * absent, then the length and the bytes. */
    struct buf b = BUF_INIT;
    const char *parts[] = {subject, from, mime ? "mime" : "text", reason};
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        if (!parts[i]) {
            buf_puts(&b, "-;");
        } else {
            buf_printf(&b, "%zu:", strlen(parts[i]));
            buf_puts(&b, parts[i]);
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(b.data, b.len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        memset(md, 0, 32);
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    buf_free(&b);
}

/* s with every line end as CRLF. */
static void crlf_append(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            buf_puts(out, "\r\n");
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
        } else if (s[i] == '\n') {
            buf_puts(out, "\r\n");
        } else {
            buf_putc(out, s[i]);
        }
    }
}

/* :mime: the entity's Content-* fields go into our header, the rest of
 * its header is dropped (the envelope and our own fields say who gets
 * the reply and what it is), its body is the body. False on 8-bit
 * header bytes (RFC 5230 5). */
static bool mime_entity(struct buf *hdr, struct buf *body, const char *reason)
{
    struct buf e = BUF_INIT;
    crlf_append(&e, reason, strlen(reason));
    /* An entity that starts with its body (a blank line first) has no
     * fields; one without a blank line is all header. */
    size_t hl = mime_header_length(e.data ? e.data : "", e.len);
    for (size_t i = 0; i < hl; i++) {
        if ((unsigned char)e.data[i] >= 0x80) {
            buf_free(&e);
            return false;
        }
    }
    size_t pos = 0;
    struct mime_sfield f;
    while (mime_sfield_next(e.data ? e.data : "", hl, &pos, &f)) {
        if (f.name_len > 8 && strncasecmp(f.name, "Content-", 8) == 0) {
            /* The field as written, name to the end of its last line. */
            size_t end = (size_t)(f.val - e.data) + f.val_len;
            buf_append(hdr, f.name, end - (size_t)(f.name - e.data));
            if (hdr->len < 2 || memcmp(hdr->data + hdr->len - 2, "\r\n", 2) != 0)
                buf_puts(hdr, "\r\n");
        }
    }
    if (hl < e.len)
        buf_append(body, e.data + hl, e.len - hl);
    buf_free(&e);
    return true;
}

/* References for the reply (RFC 5322 3.6.4): the original's References
 * (or its single In-Reply-To id when it has none) and its Message-ID;
 * at most VACATION_MAX_REFS ids, the oldest dropped. */
static void references(struct buf *out, const char *hdr, size_t len, const char *msgid)
{
    char *refs = mime_header_get(hdr, len, "References");
    if (!refs) {
        char *irt = mime_header_get(hdr, len, "In-Reply-To");
        struct buf one = BUF_INIT;
        const char *next;
        if (irt && compose_msgid_token(irt, &next, &one) && !strchr(next, '<'))
            refs = buf_release(&one);
        buf_free(&one);
        free(irt);
    }
    const char *ids[VACATION_MAX_REFS];
    struct buf all[VACATION_MAX_REFS];
    size_t n = 0, first = 0;
    for (size_t i = 0; i < VACATION_MAX_REFS; i++)
        buf_init(&all[i]);
    const char *p = refs;
    /* A ring of the last VACATION_MAX_REFS - 1 ids. */
    size_t total = 0;
    while (p && *p) {
        const char *next;
        struct buf *slot = &all[total % (VACATION_MAX_REFS - 1)];
        buf_reset(slot);
        if (!compose_msgid_token(p, &next, slot)) {
            /* skip a malformed one */
            const char *gt = strchr(p, '>');
            if (!gt)
                break;
            p = gt + 1;
            continue;
        }
        p = next;
        total++;
    }
    n = MIN(total, (size_t)VACATION_MAX_REFS - 1);
    first = total > n ? total % (VACATION_MAX_REFS - 1) : 0;
    for (size_t i = 0; i < n; i++)
        ids[i] = buf_cstr(&all[(first + i) % (VACATION_MAX_REFS - 1)]);
    buf_puts(out, "References:");
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "%s%s", i ? "\r\n " : " ", ids[i]);
    buf_printf(out, "%s%s\r\n", n ? "\r\n " : " ", msgid);
    for (size_t i = 0; i < VACATION_MAX_REFS; i++)
        buf_free(&all[i]);
    free(refs);
}

char *vacation_compose(const struct vacation_msg *m, const struct vacation_params *p, const char *servername,
                       time_t now, size_t *len)
{
    const char *to = m->envelope_from ? m->envelope_from : "";
    if (!compose_header_addr_ok(to))
        return NULL;
    struct buf h = BUF_INIT, body = BUF_INIT, mimeh = BUF_INIT;
    if (p->mime) {
        if (!mime_entity(&mimeh, &body, p->reason ? p->reason : "")) {
            buf_free(&body);
            buf_free(&mimeh);
            return NULL;
        }
    } else {
        compose_text_part(&mimeh, &body, p->reason ? p->reason : "");
    }
    char date[64];
    delivery_date(now, date, sizeof(date));
    buf_printf(&h, "Date: %s\r\n", date);

    /* From: :from when it is a usable address list (RFC 5230 4.3: an
     * unusable one is ignored, not fatal), else the address of the user
     * that the message was sent to (RFC 5230 5.4, RFC 3834 3.1.2). */
    char matched[DELIVERY_MAX_ADDR] = "";
    const char *from = NULL;
    if (p->from && compose_header_addr_ok(p->from))
        from = p->from;
    else if (addressed(m, p, matched, sizeof(matched)) && compose_header_addr_ok(matched))
        from = matched;
    else if (m->envelope_to && compose_header_addr_ok(m->envelope_to))
        from = m->envelope_to;
    if (from && strchr(from, '<'))
        buf_printf(&h, "From: %s\r\n", from);
    else if (from)
        buf_printf(&h, "From: <%s>\r\n", from);
    else
        buf_printf(&h, "From: <MAILER-DAEMON@%s>\r\n", servername);
    buf_printf(&h, "To: <%s>\r\n", to);

    /* Subject (RFC 5230 4.3 and 5.3, RFC 3834 3.1.5). */
    if (p->subject) {
        compose_unstructured(&h, "Subject", p->subject, VACATION_MAX_SUBJECT);
    } else {
        char *orig = mime_header_get(m->hdr, m->hdr_len, "Subject");
        if (orig && *orig) {
            struct buf dec = BUF_INIT, s = BUF_INIT;
            mime_decode_header_utf8(&dec, orig, MIN(strlen(orig), (size_t)VACATION_MAX_SUBJECT * 4));
            buf_puts(&s, "Auto: ");
            buf_puts(&s, buf_cstr(&dec));
            compose_unstructured(&h, "Subject", buf_cstr(&s), VACATION_MAX_SUBJECT);
            buf_free(&dec);
            buf_free(&s);
        } else {
            buf_puts(&h, "Subject: Automated reply\r\n");
        }
        free(orig);
    }

    /* In-Reply-To and References (RFC 5230 5.8, RFC 3834 3.1.3/3.1.4). */
    char *omid = mime_header_get(m->hdr, m->hdr_len, "Message-ID");
    struct buf mid = BUF_INIT;
    if (omid && compose_msgid_token(omid, NULL, &mid)) {
        buf_printf(&h, "In-Reply-To: %s\r\n", buf_cstr(&mid));
        references(&h, m->hdr, m->hdr_len, buf_cstr(&mid));
    }
    free(omid);
    buf_free(&mid);

    buf_puts(&h, "Message-ID: ");
    compose_msgid(&h, servername, now);
    buf_puts(&h, "\r\n");
    /* RFC 3834 5.1 / RFC 5230 5.6. */
    buf_puts(&h, "Auto-Submitted: auto-replied (vacation)\r\n");
    buf_puts(&h, "MIME-Version: 1.0\r\n");
    buf_append(&h, mimeh.data ? mimeh.data : "", mimeh.len);
    buf_puts(&h, "\r\n");
    buf_append(&h, body.data ? body.data : "", body.len);
    buf_free(&body);
    buf_free(&mimeh);
    *len = h.len;
    return buf_release(&h);
}
