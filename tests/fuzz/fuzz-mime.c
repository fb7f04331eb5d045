/* fuzz-mime.c - the MIME parser (src/mail) with everything FETCH and
 * SEARCH build on it: mime_parse, ENVELOPE and BODYSTRUCTURE (with and
 * without extension data) for the message and every encapsulated
 * message, BODY[section] lookup for every part number the tree has (and a
 * few it has not), HEADER.FIELDS(.NOT) filtering, MIME/TEXT/HEADER
 * slices, BINARY transfer decoding, decoded parameters (RFC 2231/2047
 * file names), the SEARCH body text and the header value lookup.
 *
 * Input: a message as stored (any bytes). Checked besides the sanitizers:
 * every part's offsets lie inside the message, section lookups of the
 * part numbers found while walking the tree give that part, and the
 * ENVELOPE/BODYSTRUCTURE texts have balanced parentheses outside strings
 * and literals and grow at most linearly with the message. */
#include "support.h"
#include "mime.h"

/* longest section number visited ("1.2.3...", as FETCH's part field) */
#define SECTION_MAX (MIME_MAX_DEPTH * 11 + 1)

static const char *g_data;
static size_t g_len;

static void fail(const char *what, const char *section)
{
    fprintf(stderr, "fuzz-mime: %s (section \"%s\")\n", what, section);
    abort();
}

/* Parentheses balance in an IMAP response text, skipping quoted strings
 * and {N} literals. */
static void check_balanced(const struct buf *b, const char *what)
{
    long depth = 0;
    const char *p = buf_cstr(b), *end = p + b->len;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            while (p < end && *p != '"') {
                if (*p == '\\')
                    p++;
                p++;
            }
            if (p >= end)
                fail("unterminated quoted string", what);
            p++;
        } else if (c == '{') {
            char *e;
            unsigned long long n = strtoull(p, &e, 10);
            if (e == p || e + 3 > end || e[0] != '}' || e[1] != '\r' || e[2] != '\n' ||
                n > (unsigned long long)(end - (e + 3)))
                fail("bad literal", what);
            p = e + 3 + n;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            if (--depth < 0)
                fail("unbalanced ')'", what);
        }
    }
    if (depth != 0)
        fail("unbalanced '('", what);
}

/* The response texts grow at most linearly with the message: a one-byte
 * address "a," is about 18 bytes of ENVELOPE, written up to three times
 * (From, Sender, Reply-To); anything far above that is amplification
 * (issue 9, item 5). */
static void check_size(const struct buf *b, size_t len, const char *what)
{
    if (b->len > 64 * len + 65536)
        fail("response text out of proportion to the message", what);
}

static void check_part(const struct mime_part *p, const char *section)
{
    if (p->hdr_off > g_len || p->hdr_len > g_len - p->hdr_off || p->body_off > g_len ||
        p->body_len > g_len - p->body_off)
        fail("part outside the message", section);
}

static void visit(const struct mime_message *m, const struct mime_part *p, const char *section, int depth)
{
    check_part(p, section);
    if (mime_find_section(m, section) != p)
        fail("mime_find_section does not find the part its number came from", section);
    struct buf b = BUF_INIT;
    /* HEADER.FIELDS / .NOT, MIME, the decoded body, parameters */
    static const char *const names[] = {"subject", "FROM", "content-type", "x-none", ""};
    mime_header_filter(&b, g_data + p->hdr_off, p->hdr_len, names, ARRAY_SIZE(names), false);
    mime_header_filter(&b, g_data + p->hdr_off, p->hdr_len, names, 2, true);
    buf_reset(&b);
    if (!p->nchildren && !p->message)
        (void)mime_decode_transfer(p->encoding, g_data + p->body_off, p->body_len, &b);
    buf_reset(&b);
    (void)mime_param_decoded(&b, p->params, p->nparams, "name");
    (void)mime_param_decoded(&b, p->disp_params, p->ndisp_params, "filename");
    (void)mime_param_get(p->params, p->nparams, "charset");
    buf_reset(&b);
    if (p->message) {
        mime_write_envelope(&b, g_data, p->message);
        check_balanced(&b, section);
        buf_reset(&b);
    }
    buf_free(&b);
    if (depth > MIME_MAX_DEPTH + 2)
        fail("tree deeper than MIME_MAX_DEPTH", section);

    /* RFC 9051 6.4.5: a message/rfc822 part's numbers continue with
     * those of its message (a non-multipart message is part 1 of it),
     * a multipart's with its children. */
    const struct mime_part *ctx = p->message ? p->message : p->nchildren ? p : NULL;
    if (!ctx || strlen(section) + 12 >= SECTION_MAX)
        return;
    char sub[SECTION_MAX];
    if (!ctx->nchildren) {
        snprintf(sub, sizeof(sub), "%s.1", section);
        visit(m, ctx, sub, depth + 1);
        return;
    }
    for (size_t i = 0; i < ctx->nchildren && i < 200; i++) {
        snprintf(sub, sizeof(sub), "%s.%zu", section, i + 1);
        visit(m, &ctx->children[i], sub, depth + 1);
    }
}

/* The root: "" is the whole message; its parts are "1", "2", ... for a
 * multipart, else "1" is the root's body itself. */
static void visit_root(const struct mime_message *m)
{
    const struct mime_part *r = &m->root;
    check_part(r, "");
    if (!r->nchildren) {
        visit(m, r, "1", 1);
        return;
    }
    char sub[SECTION_MAX];
    for (size_t i = 0; i < r->nchildren && i < 200; i++) {
        snprintf(sub, sizeof(sub), "%zu", i + 1);
        visit(m, &r->children[i], sub, 1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-mime");
    fuzz_config(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes: ASan sees any read past the end */
    char *copy = xmalloc(size ? size : 1);
    memcpy(copy, data, size);
    g_data = copy;
    g_len = size;

    struct mime_message *m = mime_parse(copy, size);
    struct buf b = BUF_INIT;
    mime_write_envelope(&b, copy, &m->root);
    check_balanced(&b, "ENVELOPE");
    check_size(&b, size, "ENVELOPE");
    buf_reset(&b);
    mime_write_bodystructure(&b, copy, &m->root, true);
    check_balanced(&b, "BODYSTRUCTURE");
    check_size(&b, size, "BODYSTRUCTURE");
    buf_reset(&b);
    mime_write_bodystructure(&b, copy, &m->root, false);
    check_balanced(&b, "BODY");
    buf_reset(&b);
    mime_search_text_body(&b, m);
    buf_reset(&b);
    size_t hl = mime_header_length(copy, size);
    if (hl > size)
        fail("header length beyond the message", "");
    char *v = mime_header_get(copy, hl, "subject");
    if (v) {
        mime_decode_header_utf8(&b, v, strlen(v));
        free(v);
    }
    buf_free(&b);

    visit_root(m);
    /* numbers that need not exist */
    static const char *const odd[] = {"1", "0", "1.1", "2", "1.2.3.4", "999999999", "4294967297", "1..2", ".",
                                      "1.", "01"};
    for (size_t i = 0; i < ARRAY_SIZE(odd); i++) {
        const struct mime_part *p = mime_find_section(m, odd[i]);
        if (p)
            check_part(p, odd[i]);
    }
    mime_free(m);
    free(copy);
    return 0;
}
