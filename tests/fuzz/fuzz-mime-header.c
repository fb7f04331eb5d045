/* fuzz-mime-header.c - header decoding (src/mail): RFC 2047 encoded words
 * (mime_decode_header_utf8), charset conversion (charset_to_utf8 with a
 * client- or sender-chosen charset name), RFC 5322 dates, address lists
 * as ENVELOPE writes them, Content-Type parsing with RFC 2231 parameters,
 * header field lookup and unfolding, and the case-insensitive UTF-8
 * substring test SEARCH uses.
 *
 * Input: byte 0 selects the function (mod 7), the rest is its argument;
 * for charset_to_utf8 the charset name is the text before the first LF,
 * for the substring test the needle is the text after the first NUL.
 * Checked besides the sanitizers: decoded header text and converted text
 * are valid UTF-8 (mime.h promises U+FFFD for anything invalid), address
 * lists have balanced parentheses, a date accepted once parses the same
 * again. */
#include "support.h"
#include "mime.h"
#include "mime-internal.h"

static void fail(const char *what, const uint8_t *d, size_t n)
{
    fprintf(stderr, "fuzz-mime-header: %s: \"", what);
    for (size_t i = 0; i < n && i < 300; i++)
        fprintf(stderr, d[i] >= 0x20 && d[i] < 0x7f && d[i] != '\\' ? "%c" : "\\x%02x", d[i]);
    fprintf(stderr, "\"\n");
    abort();
}

static bool valid_utf8(const struct buf *b)
{
    const unsigned char *s = (const unsigned char *)buf_cstr(b);
    size_t i = 0;
    while (i < b->len) {
        size_t k = utf8_seq_len(s + i, b->len - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static void check_balanced(const struct buf *b, const uint8_t *d, size_t n)
{
    long depth = 0;
    const char *p = buf_cstr(b), *end = p + b->len;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            while (p < end && *p != '"')
                p += *p == '\\' ? 2 : 1;
            if (p >= end)
                fail("address list: unterminated quoted string", d, n);
            p++;
        } else if (c == '{') {
            char *e;
            unsigned long long l = strtoull(p, &e, 10);
            if (e == p || e + 3 > end || e[0] != '}' || l > (unsigned long long)(end - (e + 3)))
                fail("address list: bad literal", d, n);
            p = e + 3 + l;
        } else if (c == '(') {
            depth++;
        } else if (c == ')' && --depth < 0) {
            fail("address list: unbalanced ')'", d, n);
        }
    }
    if (depth)
        fail("address list: unbalanced '('", d, n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-mime-header");
    fuzz_config(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    char *z = xstrndup((const char *)d, n); /* as a C string (up to a NUL) */
    char *copy = xmalloc(n ? n : 1);        /* exactly n bytes for ASan */
    memcpy(copy, d, n);
    struct buf b = BUF_INIT;

    switch (data[0] % 7) {
    case 0:
        mime_decode_header_utf8(&b, copy, n);
        if (!valid_utf8(&b))
            fail("mime_decode_header_utf8 produced invalid UTF-8", d, n);
        break;
    case 1: {
        const uint8_t *a, *t;
        size_t al, tl;
        fuzz_split(d, n, "\n", &a, &al, &t, &tl);
        char *cs = xstrndup((const char *)a, al);
        char *text = xmalloc(tl ? tl : 1);
        memcpy(text, t, tl);
        (void)charset_known(cs);
        if (charset_to_utf8(cs, text, tl, &b) && !valid_utf8(&b))
            fail("charset_to_utf8 produced invalid UTF-8", d, n);
        free(text);
        free(cs);
        break;
    }
    case 2: {
        int64_t t1 = 0, t2 = 0;
        int tz1 = 0, tz2 = 0;
        if (mime_parse_date(z, &t1, &tz1) && (!mime_parse_date(z, &t2, &tz2) || t1 != t2 || tz1 != tz2))
            fail("mime_parse_date is not deterministic", d, n);
        break;
    }
    case 3:
        mime_write_addresses(&b, z);
        check_balanced(&b, d, n);
        break;
    case 4: {
        char *first = NULL, *second = NULL;
        struct mime_param *params = NULL;
        size_t np = 0;
        mime_parse_ctype(z, &first, &second, &params, &np);
        (void)mime_param_decoded(&b, params, np, "name");
        (void)mime_param_decoded(&b, params, np, "filename");
        for (size_t i = 0; i < np; i++) {
            free(params[i].name);
            free(params[i].value);
        }
        free(params);
        free(first);
        free(second);
        break;
    }
    case 5: {
        /* a header block: every field, unfolded and decoded */
        size_t pos = 0;
        struct hdr_field f;
        size_t guard = 0;
        while (hdr_next_field(copy, n, &pos, &f) && guard++ < 10000) {
            if (f.start > n || f.value_off > n || f.end > n || f.value_off > f.end)
                fail("hdr_next_field: field outside the block", d, n);
            char *v = hdr_unfold(copy + f.value_off, f.end - f.value_off);
            mime_decode_header_utf8(&b, v, strlen(v));
            free(v);
        }
        char *v = mime_header_get(copy, n, "subject");
        free(v);
        static const char *const names[] = {"to", "cc"};
        mime_header_filter(&b, copy, n, names, 2, false);
        break;
    }
    default: {
        const uint8_t *nul = memchr(d, '\0', n);
        size_t hl = nul ? (size_t)(nul - d) : n, nl = nul ? n - hl - 1 : 0;
        const uint8_t *nd = nul ? nul + 1 : d + n;
        (void)mime_utf8_contains_ci(copy, hl, copy + (nd - d), nl);
        break;
    }
    }
    buf_free(&b);
    free(copy);
    free(z);
    return 0;
}
