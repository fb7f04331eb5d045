/* corpus.c - realistic text messages for the searchload mailbox.
 *
 * SEARCH BODY cost depends on what the server must do with each message:
 * parse the MIME structure, decode quoted-printable and base64, convert
 * charsets, skip attachments, then scan the text. A mailbox of one repeated
 * 7bit text/plain message would measure only the last step, so the
 * messages here vary as a real mailbox does (RFC 2045-2049):
 *
 *   seq % 4 == 0  text/plain; charset=us-ascii, 7bit (a long thread with a
 *                 quoted reply and a signature)
 *   seq % 4 == 1  multipart/alternative: text/plain and text/html, both
 *                 UTF-8 quoted-printable (a newsletter)
 *   seq % 4 == 2  multipart/mixed: a short 7bit text and a base64
 *                 application/pdf attachment (three quarters of the size)
 *   seq % 4 == 3  text/plain; charset=utf-8, quoted-printable, with non-ASCII
 *                 words (so soft line breaks and =XX escapes occur, also
 *                 inside words)
 *
 * Sizes vary by +-20% around the requested size. The content depends only
 * on seq, so every run builds the same mailbox. The search word, when
 * given, is placed in the text (and the HTML) one to three times at random
 * places, so some matches are found only near the end of a message.
 */
#include "bench.h"

static const char *const vocab[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "about",
    "meeting", "quarterly", "report", "budget", "review", "schedule", "project", "customer",
    "release", "deadline", "invoice", "contract", "proposal", "agenda", "minutes", "draft",
    "update", "question", "answer", "feedback", "design", "server", "network", "backup",
    "migration", "database", "storage", "mailbox", "calendar", "conference", "travel",
    "expenses", "approval", "department", "colleagues", "management", "strategy", "market",
    "sales", "revenue", "forecast", "estimate", "delivery", "shipment", "warehouse", "order",
    "support", "ticket", "incident", "outage", "maintenance", "window", "upgrade", "version",
    "testing", "results", "analysis", "summary", "attached", "document", "spreadsheet",
    "presentation", "slides", "tomorrow", "yesterday", "morning", "afternoon", "evening",
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "January", "March", "September",
    "please", "thanks", "regards", "sorry", "unfortunately", "hopefully", "certainly",
    "probably", "already", "still", "again", "however", "therefore", "meanwhile", "otherwise",
    "important", "urgent", "simple", "complicated", "possible", "available", "necessary",
    "different", "similar", "current", "previous", "following", "final", "initial", "main",
    "office", "building", "parking", "kitchen", "coffee", "lunch", "dinner", "weekend",
    "holiday", "vacation", "family", "children", "school", "garden", "weather", "rain",
    "team", "group", "partner", "supplier", "vendor", "client", "user", "account", "password",
    "security", "policy", "compliance", "audit", "legal", "finance", "training", "workshop",
};

/* Only in the UTF-8 variants (kinds 1 and 3). */
static const char *const vocab_utf8[] = {
    "caf\xc3\xa9", "na\xc3\xafve", "Z\xc3\xbcrich", "S\xc3\xa3o Paulo", "r\xc3\xa9sum\xc3\xa9",
    "fa\xc3\xa7" "ade", "Gr\xc3\xb6\xc3\x9f" "e", "M\xc3\xbcnchen", "K\xc3\xb8" "benhavn",
    "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e", "\xe2\x82\xac" "500", "d\xc3\xa9j\xc3\xa0 vu",
};

static const char *const names[] = {
    "Alice Johnson", "Bob Martin", "Carol Nguyen", "David Schmidt", "Eva Rossi",
    "Frank O'Neill", "Grace Kim", "Henrik Larsen", "Isabel Garcia", "Jamal Okafor",
    "Keiko Tanaka", "Liam Murphy", "Maria Silva", "Noah Cohen", "Olga Petrova",
};

static const char *const subjects[] = {
    "Re: quarterly report draft", "Agenda for Thursday's meeting", "Fwd: updated contract",
    "Weekly newsletter", "Invoice and payment schedule", "Re: Re: migration plan",
    "Minutes of the project review", "Travel expenses for the conference",
    "Maintenance window this weekend", "Re: customer feedback summary",
};

static uint64_t pick(uint64_t *rng, uint64_t n)
{
    return bench_rng_next(rng) % n;
}

static const char *word_at(uint64_t *rng, bool utf8)
{
    if (utf8 && pick(rng, 40) == 0)
        return vocab_utf8[pick(rng, ARRAY_SIZE(vocab_utf8))];
    return vocab[pick(rng, ARRAY_SIZE(vocab))];
}

/* Text of about size bytes: paragraphs of sentences wrapped at 72 columns,
 * CRLF line ends, a quoted reply in the second half and a signature. The
 * word (when non-NULL) is placed 1-3 times at random offsets. */
static void gen_text(struct buf *out, size_t size, uint64_t *rng, const char *word, bool utf8)
{
    size_t start = out->len;
    size_t targets[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    int ntargets = word ? 1 + (int)pick(rng, 3) : 0;
    for (int i = 0; i < ntargets; i++)
        targets[i] = (size_t)pick(rng, size > 200 ? size - 200 : 1);
    size_t quote_at = size / 2 + (size_t)pick(rng, size / 4 + 1);
    bool quoting = false;
    size_t col = 0;
    const char *prefix = "";
    buf_printf(out, "Hello %s,\r\n\r\n", strchr(names[pick(rng, ARRAY_SIZE(names))], ' ') + 1);
    while (out->len - start + 80 < size) {
        if (!quoting && out->len - start >= quote_at) {
            quoting = true;
            buf_printf(out, "\r\n\r\nOn Tue, 3 Nov 2026 at 09:%02d, %s wrote:\r\n",
                       (int)pick(rng, 60), names[pick(rng, ARRAY_SIZE(names))]);
            prefix = "> ";
            col = 0;
        }
        /* a paragraph of 3-7 sentences */
        int sentences = 3 + (int)pick(rng, 5);
        buf_puts(out, prefix);
        col = strlen(prefix);
        for (int s = 0; s < sentences; s++) {
            int words = 6 + (int)pick(rng, 13);
            for (int k = 0; k < words; k++) {
                const char *w = word_at(rng, utf8);
                for (int t = 0; t < ntargets; t++) {
                    if (targets[t] != SIZE_MAX && out->len - start >= targets[t]) {
                        w = word;
                        targets[t] = SIZE_MAX;
                        break;
                    }
                }
                char tmp[64];
                snprintf(tmp, sizeof tmp, "%s", w);
                if (k == 0 && tmp[0] >= 'a' && tmp[0] <= 'z')
                    tmp[0] = (char)(tmp[0] - 'a' + 'A');
                const char *punct = k == words - 1 ? (pick(rng, 8) == 0 ? "?" : ".")
                                    : (pick(rng, 9) == 0 ? "," : "");
                size_t wl = strlen(tmp) + strlen(punct);
                if (col + wl + 1 > 72) {
                    buf_puts(out, "\r\n");
                    buf_puts(out, prefix);
                    col = strlen(prefix);
                } else if (col > strlen(prefix)) {
                    buf_putc(out, ' ');
                    col++;
                }
                buf_puts(out, tmp);
                buf_puts(out, punct);
                col += wl;
            }
        }
        buf_puts(out, "\r\n");
        buf_puts(out, quoting ? ">\r\n" : "\r\n");
    }
    /* A target beyond the generated text: place the word at the end. */
    for (int t = 0; t < ntargets; t++)
        if (targets[t] != SIZE_MAX)
            buf_printf(out, "P.S. %s\r\n", word);
    buf_printf(out, "\r\n-- \r\n%s\r\nExample Corp., 1 Main Street\r\n",
               names[pick(rng, ARRAY_SIZE(names))]);
}

/* Quoted-printable (RFC 2045 6.7): "=" and non-ASCII as =XX, lines at most
 * 76 characters with soft line breaks "=\r\n". */
static void put_qp(struct buf *out, const char *s, size_t len)
{
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r' && i + 1 < len && s[i + 1] == '\n') {
            buf_puts(out, "\r\n");
            i++;
            col = 0;
            continue;
        }
        char enc[4];
        if (ch == '=' || ch >= 0x7f || (ch < 0x20 && ch != '\t'))
            snprintf(enc, sizeof enc, "=%02X", ch);
        else
            snprintf(enc, sizeof enc, "%c", ch);
        size_t el = strlen(enc);
        if (col + el > 75) {
            buf_puts(out, "=\r\n");
            col = 0;
        }
        buf_puts(out, enc);
        col += el;
    }
}

/* The text as HTML paragraphs (blank lines separate them). */
static void put_html(struct buf *out, const char *s, size_t len)
{
    buf_puts(out, "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>Newsletter</title>"
                  "</head>\r\n<body style=\"font-family: Arial, sans-serif\">\r\n<p>");
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '\r' && i + 3 < len && memcmp(s + i, "\r\n\r\n", 4) == 0) {
            buf_puts(out, "</p>\r\n<p>");
            i += 3;
        } else if (ch == '<') {
            buf_puts(out, "&lt;");
        } else if (ch == '>') {
            buf_puts(out, "&gt;");
        } else if (ch == '&') {
            buf_puts(out, "&amp;");
        } else {
            buf_putc(out, ch);
        }
    }
    buf_puts(out, "</p>\r\n</body></html>\r\n");
}

static void put_base64(struct buf *out, size_t rawlen, uint64_t *rng)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[57];
    size_t done = 0;
    while (done < rawlen) {
        size_t n = MIN(sizeof raw, rawlen - done);
        for (size_t i = 0; i < n; i++)
            raw[i] = (unsigned char)bench_rng_next(rng);
        if (done == 0 && n >= 9)
            memcpy(raw, "%PDF-1.4\n", 9);
        for (size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned)raw[i] << 16;
            if (i + 1 < n)
                v |= (unsigned)raw[i + 1] << 8;
            if (i + 2 < n)
                v |= raw[i + 2];
            buf_putc(out, b64[(v >> 18) & 63]);
            buf_putc(out, b64[(v >> 12) & 63]);
            buf_putc(out, i + 1 < n ? b64[(v >> 6) & 63] : '=');
            buf_putc(out, i + 2 < n ? b64[v & 63] : '=');
        }
        buf_puts(out, "\r\n");
        done += n;
    }
}

void bench_make_text_message(struct buf *b, size_t size, unsigned long seq, const char *word)
{
    uint64_t rng = 0xC0FFEEull + (uint64_t)seq * 0x9E3779B97F4A7C15ull;
    (void)bench_rng_next(&rng);
    int kind = (int)(seq % 4);
    /* +-20% around size */
    size_t target = size * 8 / 10 + (size_t)pick(&rng, size * 4 / 10 + 1);
    const char *from = names[pick(&rng, ARRAY_SIZE(names))];
    const char *to = names[pick(&rng, ARRAY_SIZE(names))];
    buf_reset(b);
    buf_printf(b,
               "Return-Path: <list-%lu@lists.example.org>\r\n"
               "Received: from mx.example.org (mx.example.org [192.0.2.25])\r\n"
               "\tby mail.example.com with ESMTPS id %08llx\r\n"
               "\tfor <bench@example.com>; Mon, 2 Nov 2026 %02lu:%02lu:%02lu +0100\r\n"
               "From: \"%s\" <%c.%s@example.org>\r\n"
               "To: \"%s\" <bench@example.com>\r\n"
               "Cc: team@example.com\r\n"
               "Subject: %s (%lu)\r\n"
               "Date: Mon, 2 Nov 2026 %02lu:%02lu:%02lu +0100\r\n"
               "Message-ID: <%016llx.%lu@mail.example.org>\r\n"
               "X-Mailer: Bench Mailer 2.1\r\n"
               "MIME-Version: 1.0\r\n",
               seq % 7, (unsigned long long)bench_rng_next(&rng), seq / 3600 % 24, seq / 60 % 60,
               seq % 60, from, from[0] | 0x20, strchr(from, ' ') + 1, to,
               subjects[seq % ARRAY_SIZE(subjects)], seq, seq / 3600 % 24, seq / 60 % 60, seq % 60,
               (unsigned long long)bench_rng_next(&rng), seq);
    struct buf text = BUF_INIT;
    switch (kind) {
    case 0:
        buf_puts(b, "Content-Type: text/plain; charset=us-ascii\r\n"
                    "Content-Transfer-Encoding: 7bit\r\n\r\n");
        gen_text(b, target > b->len ? target - b->len : 1024, &rng, word, false);
        break;
    case 1: {
        /* the HTML is a little longer than the text, both QP-encoded */
        size_t tsize = target * 47 / 100;
        gen_text(&text, tsize, &rng, word, true);
        buf_printf(b, "Content-Type: multipart/alternative; boundary=\"=_alt_%lu\"\r\n\r\n"
                      "This is a multi-part message in MIME format.\r\n\r\n"
                      "--=_alt_%lu\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                   seq, seq);
        put_qp(b, text.data, text.len);
        buf_printf(b, "\r\n--=_alt_%lu\r\n"
                      "Content-Type: text/html; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                   seq);
        struct buf html = BUF_INIT;
        put_html(&html, text.data, text.len);
        put_qp(b, html.data, html.len);
        buf_free(&html);
        buf_printf(b, "\r\n--=_alt_%lu--\r\n", seq);
        break;
    }
    case 2: {
        size_t tsize = target / 4;
        gen_text(&text, tsize, &rng, word, false);
        buf_printf(b, "Content-Type: multipart/mixed; boundary=\"=_mix_%lu\"\r\n\r\n"
                      "--=_mix_%lu\r\n"
                      "Content-Type: text/plain; charset=us-ascii\r\n"
                      "Content-Transfer-Encoding: 7bit\r\n\r\n",
                   seq, seq);
        buf_append(b, text.data, text.len);
        buf_printf(b, "\r\n--=_mix_%lu\r\n"
                      "Content-Type: application/pdf; name=\"report-%lu.pdf\"\r\n"
                      "Content-Disposition: attachment; filename=\"report-%lu.pdf\"\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\n",
                   seq, seq, seq);
        size_t have = b->len + 40;
        size_t b64len = target > have ? target - have : 1024;
        put_base64(b, b64len / 78 * 57, &rng);
        buf_printf(b, "\r\n--=_mix_%lu--\r\n", seq);
        break;
    }
    default:
        buf_puts(b, "Content-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        gen_text(&text, target > b->len ? (target - b->len) * 97 / 100 : 1024, &rng, word, true);
        put_qp(b, text.data, text.len);
        break;
    }
    buf_free(&text);
}
