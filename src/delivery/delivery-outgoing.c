/* delivery-outgoing.c - the Sieve actions that send mail, end to end:
 * checks, composition, submission through sendmail, tracking. Blocking:
 * called from a job (docs/architecture.md, "Outgoing mail"). */
#include "delivery.h"
#include "log.h"
#include "mime.h"
#include "sieve.h"

#include <errno.h>
#include <unistd.h>

enum outgoing_result delivery_vacation_send(const struct sendmail_opts *opts, const char *user,
                                            const struct vacation_msg *m, const struct vacation_params *p,
                                            int64_t period, const char *servername, time_t now,
                                            enum vacation_verdict *why)
{
    enum vacation_verdict v = vacation_check(m, p);
    if (why)
        *why = v;
    const char *sender = m->envelope_from ? m->envelope_from : "";
    if (v != VACATION_REPLY) {
        log_info("vacation: user %s: no reply to <%s>: %s", user, sender, vacation_verdict_name(v));
        return OUTGOING_SUPPRESSED;
    }
    char hbuf[VACATION_HANDLE_LEN + 1];
    const char *handle = p->handle;
    if (!handle) {
        vacation_handle(p->subject, p->from, p->mime, p->reason, hbuf);
        handle = hbuf;
    }
    int c = vacation_claim(user, sender, handle, period, (int64_t)now);
    if (c == 0) {
        log_info("vacation: user %s: <%s> already had this reply within %lld s", user, sender, (long long)period);
        return OUTGOING_SUPPRESSED;
    }
    if (c < 0) {
        log_warn("vacation: user %s: tracking database unavailable: no reply to <%s>", user, sender);
        return OUTGOING_FAILED;
    }
    size_t len = 0;
    char *reply = vacation_compose(m, p, servername, now, &len);
    if (!reply) {
        log_warn("vacation: user %s: no reply to <%s>: the :mime entity has 8-bit header bytes or the sender "
                 "cannot be written in a header",
                 user, sender);
        vacation_unclaim(user, sender, handle);
        return OUTGOING_ERROR;
    }
    const char *rcpts[] = {sender};
    struct sendmail_msg msg = {.head = reply, .head_len = len, .fd = -1};
    enum sendmail_status st = delivery_sendmail(opts, "", rcpts, 1, &msg, NULL);
    free(reply);
    if (st != SENDMAIL_OK) {
        vacation_unclaim(user, sender, handle);
        return outgoing_from_sendmail(st);
    }
    log_info("vacation: user %s: replied to <%s>", user, sender);
    return OUTGOING_SENT;
}

enum outgoing_result outgoing_from_sendmail(enum sendmail_status st)
{
    return st == SENDMAIL_OK ? OUTGOING_SENT : st == SENDMAIL_BADARG ? OUTGOING_ERROR : OUTGOING_FAILED;
}

enum outgoing_result delivery_redirect_send(const struct sendmail_opts *opts, int fd, uint64_t size,
                                            const char *envelope_from, const char *user_addr, const char *to,
                                            enum redirect_verdict *why)
{
    if (why)
        *why = REDIRECT_OK;
    size_t want = (size_t)MIN(size, (uint64_t)REDIRECT_MAX_HEADER);
    char *head = xmalloc(want + 1);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, head + got, want - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < want) {
        log_warn("redirect: cannot read the message: %s", got ? "short read" : strerror(errno));
        free(head);
        return OUTGOING_FAILED;
    }
    head[got] = '\0';
    size_t hl = mime_header_length(head, got);
    enum redirect_verdict v = redirect_check(head, hl, user_addr);
    size_t off = redirect_skip_return_path(head, hl);
    free(head);
    if (why)
        *why = v;
    if (v != REDIRECT_OK) {
        log_notice("redirect: user %s: not to <%s>: %s", user_addr, to,
                   v == REDIRECT_LOOP ? "a loop (the message was redirected by this user before)"
                                      : "too many Received fields (a mail loop)");
        return OUTGOING_SUPPRESSED;
    }
    char *marker = redirect_header(user_addr);
    if (!marker) {
        log_warn("redirect: user address unusable in a header: %s", user_addr);
        return OUTGOING_ERROR;
    }
    const char *rcpts[] = {to};
    struct sendmail_msg msg = {.head = marker, .head_len = strlen(marker), .fd = fd, .fd_off = off,
                               .fd_len = size - off};
    enum sendmail_status st = delivery_sendmail(opts, envelope_from ? envelope_from : "", rcpts, 1, &msg, NULL);
    free(marker);
    return outgoing_from_sendmail(st);
}

enum outgoing_result delivery_reject_mdn_send(const struct sendmail_opts *opts, const struct mdn_msg *m,
                                              const char *servername, time_t now)
{
    size_t len = 0;
    char *mdn = mdn_reject_compose(m, servername, now, &len);
    if (!mdn) {
        /* RFC 5429 2.2: log a refusal that sends no report. */
        log_notice("reject: recipient %s: no MDN sent: the envelope sender is null or unusable",
                   m->final_rcpt ? m->final_rcpt : "?");
        return OUTGOING_SUPPRESSED;
    }
    const char *rcpts[] = {m->envelope_from};
    struct sendmail_msg msg = {.head = mdn, .head_len = len, .fd = -1};
    enum sendmail_status st = delivery_sendmail(opts, "", rcpts, 1, &msg, NULL);
    free(mdn);
    return outgoing_from_sendmail(st);
}

/* A redirect of a message whose header the script edited (editheader,
 * RFC 5293): the marker, the edited header without Return-Path, then
 * the file's body. */
static enum outgoing_result redirect_edited(const struct outgoing_ctx *c, const char *to)
{
    enum redirect_verdict v = redirect_check(c->hdr, c->hdr_len, c->rcpt);
    if (v != REDIRECT_OK) {
        log_notice("redirect: user %s: not to <%s>: a mail loop", c->rcpt, to);
        return OUTGOING_SUPPRESSED;
    }
    char *marker = redirect_header(c->rcpt);
    if (!marker || c->body_off > c->size) {
        free(marker);
        return OUTGOING_ERROR;
    }
    size_t off = redirect_skip_return_path(c->hdr, c->hdr_len);
    struct buf head = BUF_INIT;
    buf_puts(&head, marker);
    buf_append(&head, c->hdr + off, c->hdr_len - off);
    free(marker);
    const char *rcpts[] = {to};
    struct sendmail_msg msg = {.head = head.data, .head_len = head.len, .fd = c->fd, .fd_off = c->body_off,
                               .fd_len = c->size - c->body_off};
    enum sendmail_status st = delivery_sendmail(&c->sendmail, c->envelope_from, rcpts, 1, &msg, NULL);
    buf_free(&head);
    return outgoing_from_sendmail(st);
}

enum outgoing_result delivery_sieve_action_send(const struct sieve_action *a, const struct outgoing_ctx *c)
{
    switch (a->type) {
    case SIEVE_ACT_REDIRECT:
        if (!a->address)
            return OUTGOING_ERROR;
        if (c->hdr_edited)
            return redirect_edited(c, a->address);
        return delivery_redirect_send(&c->sendmail, c->fd, c->size, c->envelope_from, c->rcpt, a->address, NULL);
    case SIEVE_ACT_VACATION: {
        /* The user's addresses: the known ones and :addresses are both
         * "own" for the checks (RFC 5230 4.5). */
        struct vacation_msg m = {.hdr = c->hdr,
                                 .hdr_len = c->hdr_len,
                                 .envelope_from = c->envelope_from,
                                 .envelope_to = c->rcpt,
                                 .own = c->own,
                                 .nown = c->nown};
        struct vacation_params p = {.reason = a->text ? a->text : "",
                                    .subject = a->subject,
                                    .from = a->from,
                                    .handle = a->handle,
                                    .mime = a->mime,
                                    .addresses = (const char *const *)a->addresses,
                                    .naddresses = a->naddresses};
        int64_t period = vacation_period((int64_t)a->seconds, c->vacation_min, c->vacation_max);
        return delivery_vacation_send(&c->sendmail, c->user, &m, &p, period, c->servername, c->now, NULL);
    }
    case SIEVE_ACT_NOTIFY: {
        struct notify_msg m = {.hdr = c->hdr, .hdr_len = c->hdr_len, .envelope_from = c->envelope_from,
                               .envelope_to = c->rcpt};
        return delivery_notify_mailto_send(&c->sendmail, a->address ? a->address : "", &m, a->from, a->text,
                                           c->servername, c->now);
    }
    case SIEVE_ACT_REJECT:
    case SIEVE_ACT_EREJECT: {
        struct mdn_msg m = {.hdr = c->hdr, .hdr_len = c->hdr_len, .envelope_from = c->envelope_from,
                            .final_rcpt = c->rcpt, .reason = a->text ? a->text : ""};
        return delivery_reject_mdn_send(&c->sendmail, &m, c->servername, c->now);
    }
    default:
        return OUTGOING_SUPPRESSED;
    }
}
