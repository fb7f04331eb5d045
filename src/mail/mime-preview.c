/* mime-preview.c - the PREVIEW text of a message (RFC 8970 3.3).
 *
 * Which text: the first text/plain part that is not an attachment
 * (depth first through multiparts, so in a multipart/alternative the
 * plain alternative wins), else the first text/html one reduced to text.
 * Encapsulated messages (message/rfc822) are not looked into: their text
 * is not the message's own. The part is decoded from its transfer
 * encoding and converted from its charset to UTF-8 (invalid sequences
 * become U+FFFD, mime-charset.c), then runs of white space and control
 * characters become one space, leading and trailing space is dropped and
 * the text is cut after MIME_PREVIEW_MAX_CHARS characters, never inside
 * a UTF-8 sequence (RFC 8970 3.3: "SHOULD limit ... to 200 preview
 * characters", "MUST NOT output preview text longer than 256"). No text part: the empty string (RFC 8970
 * 3.2: "no meaningful preview").
 *
 * Work is bounded whatever the message: at most MIME_PREVIEW_RAW_MAX
 * bytes of the part's encoded body are decoded (a hostile 50 MB HTML
 * body with its text at the end gets an empty or short preview).
 */
#include "mime-internal.h"

#include <strings.h>

/* Bytes of a part's (encoded) body looked at. HTML may carry a large
 * <head> and <style> before any text, hence more than 256 characters. */
#define MIME_PREVIEW_RAW_MAX (256 * 1024)

struct pv {
    struct buf *out;
    size_t chars;           /* characters written */
    bool space;             /* a space is pending (not written yet) */
    bool full;
};

/* One code point (its UTF-8 bytes s[0..n)) of the text. */
static void pv_char(struct pv *p, const char *s, size_t n)
{
    if (p->full)
        return;
    unsigned char c = (unsigned char)s[0];
    bool ws = (n == 1 && (c <= 0x20 || c == 0x7f)) ||
              (n == 2 && c == 0xc2 && ((unsigned char)s[1] == 0xa0 || (unsigned char)s[1] < 0xa0)) || /* NBSP, C1 */
              (n == 3 && c == 0xe2 && (unsigned char)s[1] == 0x80 &&
               ((unsigned char)s[2] <= 0x8b || (unsigned char)s[2] == 0xa8 || (unsigned char)s[2] == 0xa9)) ||
              (n == 3 && c == 0xef && (unsigned char)s[1] == 0xbb && (unsigned char)s[2] == 0xbf); /* BOM */
    if (ws) {
        if (p->chars > 0)
            p->space = true;
        return;
    }
    if (p->space) {
        if (p->chars + 1 >= MIME_PREVIEW_MAX_CHARS) {
            p->full = true;     /* no trailing space */
            return;
        }
        buf_putc(p->out, ' ');
        p->chars++;
        p->space = false;
    }
    buf_append(p->out, s, n);
    if (++p->chars >= MIME_PREVIEW_MAX_CHARS)
        p->full = true;
}

/* Text (valid UTF-8) into the preview. */
static void pv_text(struct pv *p, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !p->full) {
        size_t l = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (l == 0) {
            pv_char(p, "\xef\xbf\xbd", 3);  /* cannot happen after charset_to_utf8 */
            i++;
            continue;
        }
        pv_char(p, s + i, l);
        i += l;
    }
}

/* Append code point cp as UTF-8 (invalid ones as U+FFFD). */
static void pv_codepoint(struct pv *p, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        cp = 0xfffd;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    pv_char(p, u, n);
}

/* An HTML character reference at s[0] == '&': the characters used, 0
 * when it is not one we know (then '&' is text). */
static size_t html_entity(struct pv *p, const char *s, size_t n)
{
    size_t e = 1;
    while (e < n && e < 12 && s[e] != ';')
        e++;
    if (e >= n || s[e] != ';' || e < 2)
        return 0;
    if (s[1] == '#') {
        uint32_t cp = 0;
        bool hex = e > 2 && (s[2] == 'x' || s[2] == 'X');
        size_t i = hex ? 3 : 2;
        if (i >= e)
            return 0;
        for (; i < e; i++) {
            char c = s[i];
            uint32_t d;
            if (c >= '0' && c <= '9')
                d = (uint32_t)(c - '0');
            else if (hex && c >= 'a' && c <= 'f')
                d = (uint32_t)(c - 'a' + 10);
            else if (hex && c >= 'A' && c <= 'F')
                d = (uint32_t)(c - 'A' + 10);
            else
                return 0;
            cp = cp * (hex ? 16 : 10) + d;
            if (cp > 0x10ffff)
                cp = 0x110000;   /* stays invalid: U+FFFD */
        }
        pv_codepoint(p, cp);
        return e + 1;
    }
    static const struct {
        const char *name;
        uint32_t cp;
    } ents[] = {{"amp", '&'},     {"lt", '<'},       {"gt", '>'},      {"quot", '"'},   {"apos", '\''},
                {"nbsp", 0xa0},   {"copy", 0xa9},    {"reg", 0xae},    {"hellip", 0x2026}, {"mdash", 0x2014},
                {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201c}, {"rdquo", 0x201d},
                {"euro", 0x20ac}, {"zwnj", 0x200c}};
    for (size_t k = 0; k < ARRAY_SIZE(ents); k++)
        if (strlen(ents[k].name) == e - 1 && strncmp(s + 1, ents[k].name, e - 1) == 0) {
            pv_codepoint(p, ents[k].cp);
            return e + 1;
        }
    return 0;
}

/* Is the tag starting at s[0] == '<' (n bytes) named name (then white
 * space, '>' or '/')? close: "</name". */
static bool tag_is(const char *s, size_t n, const char *name, bool close)
{
    size_t i = 1;
    if (close) {
        if (n < 2 || s[1] != '/')
            return false;
        i = 2;
    }
    size_t l = strlen(name);
    if (n - i < l + 1 || strncasecmp(s + i, name, l) != 0)
        return false;
    char c = s[i + l];
    return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* HTML reduced to its text: tags dropped (each counts as white space, as
 * block elements separate words), comments and the contents of <head>,
 * <style>, <script> and <title> dropped, character references decoded. */
static void pv_html(struct pv *p, const char *s, size_t n)
{
    static const char *const skip[] = {"head", "style", "script", "title"};
    size_t i = 0;
    while (i < n && !p->full) {
        if (s[i] == '<') {
            if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
                const char *e = NULL;
                for (size_t k = i + 4; k + 3 <= n; k++)
                    if (memcmp(s + k, "-->", 3) == 0) {
                        e = s + k;
                        break;
                    }
                i = e ? (size_t)(e - s) + 3 : n;
                continue;
            }
            const char *skip_to = NULL;
            for (size_t k = 0; k < ARRAY_SIZE(skip) && !skip_to; k++)
                if (tag_is(s + i, n - i, skip[k], false))
                    skip_to = skip[k];
            if (skip_to) {
                /* to the matching close tag (or the end) */
                size_t k = i + 1;
                while (k < n && !(s[k] == '<' && tag_is(s + k, n - k, skip_to, true)))
                    k++;
                i = k;
                if (i >= n)
                    break;
            }
            const char *gt = memchr(s + i, '>', n - i);
            i = gt ? (size_t)(gt - s) + 1 : n;
            pv_char(p, " ", 1);
            continue;
        }
        if (s[i] == '&') {
            size_t used = html_entity(p, s + i, n - i);
            if (used) {
                i += used;
                continue;
            }
        }
        size_t l = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (l == 0)
            l = 1;
        pv_text(p, s + i, l);
        i += l;
    }
}

static bool is_attachment(const struct mime_part *p)
{
    return p->disposition && strcmp(p->disposition, "attachment") == 0;
}

/* The first non-attachment leaf of type text/subtype, depth first. */
static const struct mime_part *find_text(const struct mime_part *p, const char *subtype)
{
    if (p->nchildren) {
        for (size_t i = 0; i < p->nchildren; i++) {
            const struct mime_part *f = find_text(&p->children[i], subtype);
            if (f)
                return f;
        }
        return NULL;
    }
    if (p->message || is_attachment(p) || !p->type || !p->subtype)
        return NULL;
    if (strcmp(p->type, "text") == 0 && strcmp(p->subtype, subtype) == 0)
        return p;
    return NULL;
}

void mime_preview_build(struct buf *out, const struct mime_message *m)
{
    buf_append(out, "", 0);
    const struct mime_part *p = find_text(&m->root, "plain");
    bool html = false;
    if (!p) {
        p = find_text(&m->root, "html");
        html = p != NULL;
    }
    if (!p)
        return;
    struct buf raw = BUF_INIT, utf = BUF_INIT;
    size_t len = MIN(p->body_len, (size_t)MIME_PREVIEW_RAW_MAX);
    if (!mime_decode_transfer(p->encoding, m->data + p->body_off, len, &raw)) {
        buf_free(&raw);
        return;     /* unknown transfer encoding: nothing meaningful */
    }
    const char *cs = mime_param_get(p->params, p->nparams, "charset");
    if (!cs || !charset_to_utf8(cs, buf_cstr(&raw), raw.len, &utf)) {
        buf_reset(&utf);
        charset_to_utf8("us-ascii", buf_cstr(&raw), raw.len, &utf);
    }
    buf_free(&raw);
    struct pv pv = {.out = out};
    if (html)
        pv_html(&pv, buf_cstr(&utf), utf.len);
    else
        pv_text(&pv, buf_cstr(&utf), utf.len);
    buf_free(&utf);
}
