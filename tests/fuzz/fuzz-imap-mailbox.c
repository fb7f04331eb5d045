/* fuzz-imap-mailbox.c - mailbox names as clients send them
 * (imap-mailbox-name.c): modified UTF-7 (RFC 3501 5.1.3) in both
 * directions, the client name -> internal name mapping with its
 * validation (namespaces, separators, depth, INBOX case), the way back,
 * and LIST pattern matching (imap_list_match) against a reference
 * matcher.
 *
 * Input: byte 0 = flags (bit 0: UTF8=ACCEPT session; bit 1: '.' as the
 * hierarchy separator instead of '/'), then a mailbox name; for the LIST
 * matcher the name is split at its first NUL into pattern and name.
 * Checked besides the sanitizers: accepted mUTF-7 gives valid UTF-8 that
 * encodes back to the same bytes (one spelling per name); valid UTF-8
 * survives the round trip through mUTF-7; an accepted client name maps
 * back to a name that is accepted again and gives the same internal name;
 * the matcher agrees with the reference on short inputs. */
#include "support.h"
#include "access.h"
#include "config.h"
#include "imap.h"

static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            /* controls (also U+0000 from "&AAA-") are valid UTF-8; the
             * name validation refuses them */
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static void fail(const char *what, const uint8_t *d, size_t n)
{
    fprintf(stderr, "fuzz-imap-mailbox: %s: \"", what);
    for (size_t i = 0; i < n && i < 200; i++)
        fprintf(stderr, d[i] >= 0x20 && d[i] < 0x7f ? "%c" : "\\x%02x", d[i]);
    fprintf(stderr, "\"\n");
    abort();
}

/* '*' anything, '%' anything but sep; "INBOX" at the start of a name
 * (followed by the end or sep) matches case-insensitively. Exponential:
 * only used on short inputs. */
static bool ref_match(const char *p, const char *n, const char *name0, char sep, bool inbox)
{
    if (!*p)
        return !*n;
    if (*p == '*' || *p == '%') {
        for (const char *x = n;; x++) {
            if (ref_match(p + 1, x, name0, sep, inbox))
                return true;
            if (!*x || (*p == '%' && *x == sep))
                return false;
        }
    }
    if (!*n)
        return false;
    bool eq = *p == *n;
    if (!eq && inbox && n - name0 < 5 && (unsigned char)*p < 0x80)
        eq = (*p | 0x20) == (*n | 0x20);
    return eq && ref_match(p + 1, n + 1, name0, sep, inbox);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-imap-mailbox");
    fuzz_config(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool utf8 = data[0] & 1;
    bool dot = data[0] & 2;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    fuzz_set("unixhierarchysep", dot ? "no" : "yes");
    char sep = imap_hier_sep();

    /* modified UTF-7 -> UTF-8 -> modified UTF-7 */
    struct buf u = BUF_INIT, back = BUF_INIT;
    if (mutf7_to_utf8((const char *)d, n, &u)) {
        if (!valid_utf8((const unsigned char *)buf_cstr(&u), u.len))
            fail("mutf7_to_utf8 accepted input and produced invalid UTF-8", d, n);
        utf8_to_mutf7(buf_cstr(&u), u.len, &back);
        if (back.len != n || (n && memcmp(back.data, d, n) != 0))
            fail("mutf7 round trip differs (non-canonical input accepted)", d, n);
    }
    buf_free(&u);
    buf_free(&back);

    /* UTF-8 -> modified UTF-7 -> UTF-8 */
    struct buf m = BUF_INIT;
    utf8_to_mutf7((const char *)d, n, &m);
    if (valid_utf8(d, n)) {
        struct buf again = BUF_INIT;
        if (!mutf7_to_utf8(buf_cstr(&m), m.len, &again) || again.len != n || (n && memcmp(again.data, d, n) != 0))
            fail("valid UTF-8 does not survive the mUTF-7 round trip", d, n);
        buf_free(&again);
    }
    buf_free(&m);

    /* client name -> internal -> client -> internal */
    struct imap_session s;
    memset(&s, 0, sizeof(s));
    s.enabled = utf8 ? EN_UTF8 : 0;
    access_who_init(&s.who, "fuzz");
    char *in1 = xmalloc(IMAP_MAX_CLIENT_NAME + 1), *in2 = xmalloc(IMAP_MAX_CLIENT_NAME + 1);
    const char *why = NULL;
    if (imap_mailbox_from_client(&s, (const char *)d, n, in1, &why)) {
        struct buf c = BUF_INIT;
        imap_mailbox_to_client(&s, in1, &c);
        if (!imap_mailbox_from_client(&s, buf_cstr(&c), c.len, in2, &why) || strcmp(in1, in2) != 0)
            fail("an accepted name does not map back to itself", d, n);
        buf_free(&c);
    } else if (!why) {
        fail("a name refused without a reason", d, n);
    }
    char *st = xmalloc(STORAGE_MAX_MAILBOX_NAME + 1);
    (void)imap_store_mailbox_from_client(&s, (const char *)d, n, st, &why);
    free(st);
    free(in1);
    free(in2);
    access_who_free(&s.who);

    /* LIST pattern NUL name */
    const uint8_t *z = memchr(d, '\0', n);
    const uint8_t *pa = d, *na = z ? z + 1 : d + n;
    size_t pl = z ? (size_t)(z - d) : n, nl = z ? n - pl - 1 : 0;
    char *pat = xstrndup((const char *)pa, pl), *name = xstrndup((const char *)na, nl);
    bool got = imap_list_match(pat, name, sep);
    size_t nlen = strlen(name);
    if (strlen(pat) <= 12 && nlen <= 24) {
        bool inbox = nlen >= 5 && memcmp(name, "INBOX", 5) == 0 && (nlen == 5 || name[5] == sep);
        if (got != ref_match(pat, name, name, sep, inbox))
            fail("imap_list_match disagrees with the reference matcher", d, n);
    }
    free(pat);
    free(name);
    return 0;
}
