/* test-imap-names.c - modified UTF-7, client/internal names, LIST matching. */
#include "unit.h"
#include "imap.h"
#include "config.h"

static char *dec(const char *in)
{
    static char out[2048];
    struct buf b = BUF_INIT;
    bool ok = mutf7_to_utf8(in, strlen(in), &b);
    if (!ok) {
        buf_free(&b);
        return NULL;
    }
    snprintf(out, sizeof(out), "%s", buf_cstr(&b));
    buf_free(&b);
    return out;
}

static char *enc(const char *in)
{
    static char out[2048];
    struct buf b = BUF_INIT;
    utf8_to_mutf7(in, strlen(in), &b);
    snprintf(out, sizeof(out), "%s", buf_cstr(&b));
    buf_free(&b);
    return out;
}

static void test_mutf7(void)
{
    /* RFC 3501 5.1.3 example */
    CHECK_STR(dec("~peter/mail/&U,BTFw-/&ZeVnLIqe-"), "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    CHECK_STR(enc("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
    CHECK_STR(dec("a&-b"), "a&b");
    CHECK_STR(enc("a&b"), "a&-b");
    CHECK_STR(enc("caf\xc3\xa9"), "caf&AOk-");
    CHECK_STR(dec("caf&AOk-"), "caf\xc3\xa9");
    /* supplementary plane: surrogate pair (U+1F600) */
    CHECK_STR(enc("\xf0\x9f\x98\x80"), "&2D3eAA-");
    CHECK_STR(dec("&2D3eAA-"), "\xf0\x9f\x98\x80");
    /* a long non-ASCII run (more than the encoder's stack buffer) */
    char big[600] = "";
    for (int i = 0; i < 100; i++)
        strcat(big, "\xc3\xa9");
    char copy[2048];
    snprintf(copy, sizeof(copy), "%s", enc(big));
    CHECK_STR(dec(copy), big);
}

static void test_mutf7_invalid(void)
{
    CHECK(dec("&AGE-") == NULL);        /* 'a' must be direct */
    CHECK(dec("&U,BTFw") == NULL);      /* unterminated */
    CHECK(dec("&U,B!Fw-") == NULL);     /* bad base64 */
    CHECK(dec("&2D0-") == NULL);        /* lone high surrogate */
    CHECK(dec("&3gA-") == NULL);        /* lone low surrogate (bits left) */
    CHECK(dec("&AOk-&AOk-") == NULL);   /* adjacent shifted runs */
    CHECK(dec("&AOkA-") == NULL);       /* non-zero padding bits */
    CHECK(dec("caf\xc3\xa9") == NULL);  /* raw 8-bit */
    CHECK(dec("a\tb") == NULL);         /* control */
    CHECK(dec("&-") != NULL);
}

static void test_from_client(void)
{
    char out[IMAP_MAX_CLIENT_NAME + 1];
    const char *why = NULL;
    struct imap_session s;
    memset(&s, 0, sizeof(s));
    CHECK(imap_mailbox_from_client(&s, "inbox", 5, out, &why));
    CHECK_STR(out, "INBOX");
    CHECK(imap_mailbox_from_client(&s, "iNbOx/child", 11, out, &why));
    CHECK_STR(out, "INBOX/child");
    CHECK(imap_mailbox_from_client(&s, "inboxes", 7, out, &why));
    CHECK_STR(out, "inboxes");
    CHECK(imap_mailbox_from_client(&s, "caf&AOk-", 8, out, &why));
    CHECK_STR(out, "caf\xc3\xa9");
    CHECK(!imap_mailbox_from_client(&s, "a//b", 4, out, &why));
    CHECK(!imap_mailbox_from_client(&s, "/a", 2, out, &why));
    CHECK(!imap_mailbox_from_client(&s, "a/", 2, out, &why));
    CHECK(!imap_mailbox_from_client(&s, "a*", 2, out, &why));
    CHECK(!imap_mailbox_from_client(&s, "a%b", 3, out, &why));
    CHECK(!imap_mailbox_from_client(&s, "", 0, out, &why));
    CHECK(!imap_mailbox_from_client(&s, "&AGE-", 5, out, &why));
    CHECK(!imap_mailbox_from_client(&s, "caf\xc3\xa9", 5, out, &why));
    /* UTF-8 sessions send UTF-8 */
    s.enabled = EN_UTF8;
    CHECK(imap_mailbox_from_client(&s, "caf\xc3\xa9", 5, out, &why));
    CHECK_STR(out, "caf\xc3\xa9");
    CHECK(!imap_mailbox_from_client(&s, "caf\xc3", 4, out, &why));
    s.enabled = 0;
    /* depth and length */
    char deep[400] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, i ? "/a" : "a");
    CHECK(!imap_mailbox_from_client(&s, deep, strlen(deep), out, &why));
    char *longname = malloc(STORAGE_MAX_MAILBOX_NAME + 2);
    memset(longname, 'x', STORAGE_MAX_MAILBOX_NAME + 1);
    CHECK(!imap_mailbox_from_client(&s, longname, STORAGE_MAX_MAILBOX_NAME + 1, out, &why));
    CHECK(imap_mailbox_from_client(&s, longname, STORAGE_MAX_MAILBOX_NAME, out, &why));
    /* another store's mailbox of the longest length and depth, behind
     * the namespace prefixes, as LIST shows it: accepted */
    char *other = malloc(IMAP_MAX_CLIENT_NAME + 64);
    snprintf(other, IMAP_MAX_CLIENT_NAME + 64, "Other Users/bob/%.*s", STORAGE_MAX_MAILBOX_NAME, longname);
    CHECK(imap_mailbox_from_client(&s, other, strlen(other), out, &why));
    CHECK_STR(out, other);
    snprintf(other, IMAP_MAX_CLIENT_NAME + 64, "Other Users/bob/%.*s", STORAGE_MAX_MAILBOX_NAME + 1, longname);
    CHECK(!imap_mailbox_from_client(&s, other, strlen(other), out, &why));
    snprintf(other, IMAP_MAX_CLIENT_NAME + 64, "Shared Folders/%.*s", STORAGE_MAX_MAILBOX_NAME, longname);
    CHECK(imap_mailbox_from_client(&s, other, strlen(other), out, &why));
    snprintf(other, IMAP_MAX_CLIENT_NAME + 64, "Shared Folders/%.*s", STORAGE_MAX_MAILBOX_NAME + 1, longname);
    CHECK(!imap_mailbox_from_client(&s, other, strlen(other), out, &why));
    /* the store part may not exceed the depth either */
    char deep64[400] = "";
    for (int i = 0; i < 64; i++)
        strcat(deep64, i ? "/a" : "a");
    CHECK(imap_mailbox_from_client(&s, deep64, strlen(deep64), out, &why));
    snprintf(other, IMAP_MAX_CLIENT_NAME + 64, "Other Users/bob/%s", deep64);
    CHECK(imap_mailbox_from_client(&s, other, strlen(other), out, &why));
    snprintf(other, IMAP_MAX_CLIENT_NAME + 64, "Other Users/bob/%s/a", deep64);
    CHECK(!imap_mailbox_from_client(&s, other, strlen(other), out, &why));
    snprintf(other, IMAP_MAX_CLIENT_NAME + 64, "%s/a", deep64);
    CHECK(!imap_mailbox_from_client(&s, other, strlen(other), out, &why));
    /* a name inside one store: the storage limit */
    char sout[STORAGE_MAX_MAILBOX_NAME + 1];
    CHECK(imap_store_mailbox_from_client(&s, longname, STORAGE_MAX_MAILBOX_NAME, sout, &why));
    CHECK(!imap_store_mailbox_from_client(&s, longname, STORAGE_MAX_MAILBOX_NAME + 1, sout, &why));
    free(other);
    free(longname);

    /* '.' separator (unixhierarchysep: no) */
    char err[128];
    struct config *c = config_load(NULL, err, sizeof(err));
    CHECK(c != NULL);
    CHECK(config_set(c, "unixhierarchysep", "no", err, sizeof(err)));
    config_install(c);
    CHECK(imap_hier_sep() == '.');
    CHECK(imap_mailbox_from_client(&s, "a.b", 3, out, &why));
    CHECK_STR(out, "a/b");
    CHECK(!imap_mailbox_from_client(&s, "a/b", 3, out, &why));
    struct buf b = BUF_INIT;
    imap_mailbox_to_client(&s, "INBOX/caf\xc3\xa9", &b);
    CHECK_STR(buf_cstr(&b), "INBOX.caf&AOk-");
    buf_free(&b);
    c = config_load(NULL, err, sizeof(err));
    config_install(c);
    CHECK(imap_hier_sep() == '/');
    imap_mailbox_to_client(&s, "INBOX/caf\xc3\xa9", &b);
    CHECK_STR(buf_cstr(&b), "INBOX/caf&AOk-");
    buf_free(&b);
    s.enabled = EN_IMAP4REV2;
    imap_append_mailbox(&s, &b, "caf\xc3\xa9 \"x\"");
    CHECK_STR(buf_cstr(&b), "\"caf\xc3\xa9 \\\"x\\\"\"");
    buf_free(&b);
    s.enabled = 0;
    imap_append_mailbox(&s, &b, "a b");
    CHECK_STR(buf_cstr(&b), "\"a b\"");
    buf_free(&b);
}

static void test_list_match(void)
{
    CHECK(imap_list_match("*", "a/b/c", '/'));
    CHECK(imap_list_match("%", "a", '/'));
    CHECK(!imap_list_match("%", "a/b", '/'));
    CHECK(imap_list_match("a/%", "a/b", '/'));
    CHECK(!imap_list_match("a/%", "a/b/c", '/'));
    CHECK(imap_list_match("a/*", "a/b/c", '/'));
    CHECK(!imap_list_match("a/*", "a", '/'));
    CHECK(imap_list_match("a*", "a", '/'));
    CHECK(imap_list_match("%/%", "a/b", '/'));
    CHECK(imap_list_match("*c", "a/b/c", '/'));
    CHECK(!imap_list_match("*d", "a/b/c", '/'));
    CHECK(imap_list_match("", "", '/'));
    CHECK(!imap_list_match("", "a", '/'));
    /* INBOX case-insensitively, other names exactly */
    CHECK(imap_list_match("inbox", "INBOX", '/'));
    CHECK(imap_list_match("InBox/%", "INBOX/x", '/'));
    CHECK(!imap_list_match("inbox/X", "INBOX/x", '/'));
    CHECK(!imap_list_match("Foo", "foo", '/'));
    /* pathological pattern stays fast (DP, not backtracking) */
    char name[1100], pat[200];
    memset(name, 'a', 1024);
    name[1024] = '\0';
    strcpy(pat, "");
    for (int i = 0; i < 40; i++)
        strcat(pat, "*%");
    strcat(pat, "b");
    CHECK(!imap_list_match(pat, name, '/'));
}

int main(void)
{
    RUN(test_mutf7);
    RUN(test_mutf7_invalid);
    RUN(test_from_client);
    RUN(test_list_match);
    return unit_done();
}
