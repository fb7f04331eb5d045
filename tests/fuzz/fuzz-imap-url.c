/* fuzz-imap-url.c - the IMAP URL parser (src/imap/imap-url.c, RFC 5092
 * with the URLAUTH parts of RFC 4467).
 *
 * Input: the URL. Checked besides the sanitizers: a parsed URL has a
 * reason-free success, numbers in range (UID, UIDVALIDITY non-zero when
 * given, PARTIAL length non-zero when given), no component longer than
 * the input, a rump no longer than the URL; a URLAUTH URL's rump parses
 * again as the same URL without ":mech:token"; a refused one gives a
 * reason. */
#include "support.h"
#include "imap-url.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz-imap-url: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet("fuzz-imap-url");
    return 0;
}

static void check_len(const char *s, size_t max)
{
    if (s && strlen(s) > max)
        fail("component longer than the input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct imap_url u;
    const char *err = NULL;
    const char *s = (const char *)data;
    if (!imap_url_parse(s, size, &u, &err)) {
        if (!err)
            fail("refused without a reason");
        return 0;
    }
    check_len(u.user, size);
    check_len(u.mailbox, size);
    check_len(u.section, size);
    check_len(u.search, size);
    check_len(u.host, size);
    check_len(u.access_user, size);
    if ((u.uid == 0 && (u.section || u.has_partial)) || (u.access != URL_ACCESS_NONE && !u.uid))
        fail("section, PARTIAL or URLAUTH without a UID");
    if (u.access != URL_ACCESS_NONE && (u.rump_len == 0 || u.rump_len > size))
        fail("bad rump length");
    if (u.token && strlen(u.token) < 32)
        fail("short token");
    if (u.mech && u.access != URL_ACCESS_NONE) {
        struct imap_url r;
        if (!imap_url_parse(s, u.rump_len, &r, &err))
            fail("the rump of a URLAUTH URL does not parse");
        if (r.mech || r.token || r.uid != u.uid || r.access != u.access)
            fail("the rump differs from the URL");
        imap_url_free(&r);
    }
    imap_url_free(&u);
    char *d = imap_url_pct_decode(s, size);
    free(d);
    return 0;
}
