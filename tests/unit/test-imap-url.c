/* test-imap-url.c - the IMAP URL parser (RFC 5092, URLAUTH parts of RFC
 * 4467): the RFCs' examples and hostile input. */
#include "unit.h"
#include "imap-url.h"

static bool parse(const char *s, struct imap_url *u)
{
    const char *err = NULL;
    bool ok = imap_url_parse(s, strlen(s), u, &err);
    if (!ok && !err)
        return true;   /* a failure must say why: make the test fail */
    return ok;
}

static bool rejects(const char *s)
{
    struct imap_url u;
    const char *err = NULL;
    bool ok = imap_url_parse(s, strlen(s), &u, &err);
    if (ok) {
        imap_url_free(&u);
        return false;
    }
    /* a refused URL leaves nothing allocated and has a reason */
    return err != NULL && u.mailbox == NULL && u.host == NULL;
}

static void test_rfc5092_examples(void)
{
    struct imap_url u;
    CHECK(parse("imap://minbari.example.org/gray-council;UIDVALIDITY=385759045/;UID=20/;PARTIAL=0.1024", &u));
    CHECK_STR(u.host, "minbari.example.org");
    CHECK_STR(u.mailbox, "gray-council");
    CHECK_INT(u.uidvalidity, 385759045);
    CHECK_INT(u.uid, 20);
    CHECK(u.has_partial);
    CHECK_INT(u.partial_off, 0);
    CHECK_INT(u.partial_len, 1024);
    CHECK(u.section == NULL);
    imap_url_free(&u);

    CHECK(parse("imap://psicorp.example.org/~peter/%E6%97%A5%E6%9C%AC%E8%AA%9E/%E5%8F%B0%E5%8C%97", &u));
    CHECK_STR(u.mailbox, "~peter/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E/\xE5\x8F\xB0\xE5\x8C\x97");
    CHECK_INT(u.uid, 0);
    imap_url_free(&u);

    CHECK(parse("imap://;AUTH=GSSAPI@minbari.example.org/gray-council/;uid=20/;section=1.2", &u));
    CHECK(u.user == NULL);
    CHECK_STR(u.auth_type, "GSSAPI");
    CHECK_INT(u.uid, 20);
    CHECK_STR(u.section, "1.2");
    imap_url_free(&u);

    CHECK(parse("imap://michael@minbari.example.org/users.*", &u));
    CHECK_STR(u.user, "michael");
    CHECK_STR(u.mailbox, "users.*");
    imap_url_free(&u);

    CHECK(parse("imap://;AUTH=*@minbari.example.org/gray%20council?SUBJECT%20shadows", &u));
    CHECK_STR(u.auth_type, "*");
    CHECK_STR(u.mailbox, "gray council");
    CHECK_STR(u.search, "SUBJECT shadows");
    imap_url_free(&u);

    CHECK(parse("imap://john;AUTH=*@minbari.example.org:1143/babylon5/personel", &u));
    CHECK_STR(u.user, "john");
    CHECK_INT(u.port, 1143);
    CHECK_STR(u.mailbox, "babylon5/personel");
    imap_url_free(&u);

    CHECK(parse("imap://[::1]:143/INBOX/;UID=1", &u));
    CHECK_STR(u.host, "[::1]");
    imap_url_free(&u);
}

static void test_relative(void)
{
    struct imap_url u;
    /* RFC 4469 5 */
    CHECK(parse("/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER", &u));
    CHECK(!u.has_server);
    CHECK_STR(u.mailbox, "Drafts");
    CHECK_INT(u.uidvalidity, 385759045);
    CHECK_STR(u.section, "HEADER");
    imap_url_free(&u);

    CHECK(parse("/Drafts;UIDVALIDITY=385759045/;UID=30", &u));
    CHECK_INT(u.uid, 30);
    imap_url_free(&u);

    CHECK(parse(";UID=20/;SECTION=1.MIME", &u));
    CHECK(u.mailbox == NULL);
    CHECK_INT(u.uid, 20);
    CHECK_STR(u.section, "1.MIME");
    imap_url_free(&u);

    CHECK(parse("INBOX/;UID=3/;SECTION=HEADER.FIELDS%20(FROM%20TO)/;PARTIAL=10", &u));
    CHECK_STR(u.mailbox, "INBOX");
    CHECK_STR(u.section, "HEADER.FIELDS (FROM TO)");
    CHECK(u.has_partial);
    CHECK_INT(u.partial_off, 10);
    CHECK_INT(u.partial_len, 0);
    imap_url_free(&u);

    CHECK(parse("/a/b/c/;UID=4294967295", &u));
    CHECK_STR(u.mailbox, "a/b/c");
    CHECK_INT(u.uid, 4294967295u);
    imap_url_free(&u);
}

static void test_urlauth(void)
{
    struct imap_url u;
    /* RFC 4467 9 */
    const char *full = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:"
                       "91354a473744909de610943775f92038";
    CHECK(parse(full, &u));
    CHECK_INT(u.access, URL_ACCESS_SUBMIT);
    CHECK_STR(u.access_user, "fred");
    CHECK_STR(u.mech, "internal");
    CHECK_STR(u.token, "91354a473744909de610943775f92038");
    CHECK_INT(u.rump_len, strlen(full) - strlen(":internal:91354a473744909de610943775f92038"));
    CHECK_STR(u.section, "1.2");
    imap_url_free(&u);

    CHECK(parse("imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred", &u));
    CHECK(u.mech == NULL && u.token == NULL);
    imap_url_free(&u);

    CHECK(parse("imap://joe@example.com/INBOX/;uid=20;expire=2006-10-20T08:00:00Z;urlauth=anonymous", &u));
    CHECK(u.has_expire);
    CHECK(u.expire == 1161331200);
    CHECK_INT(u.access, URL_ACCESS_ANONYMOUS);
    imap_url_free(&u);

    CHECK(parse("imap://joe@example.com/INBOX/;uid=20;EXPIRE=2006-10-20T10:00:00.5+02:00;URLAUTH=authuser", &u));
    CHECK(u.expire == 1161331200);
    CHECK_INT(u.access, URL_ACCESS_AUTHUSER);
    imap_url_free(&u);

    CHECK(parse("imap://joe@example.com/INBOX/;uid=20;urlauth=user+a%40b", &u));
    CHECK_INT(u.access, URL_ACCESS_USER);
    CHECK_STR(u.access_user, "a@b");
    imap_url_free(&u);
}

static void test_hostile(void)
{
    /* UIDs and numbers */
    CHECK(rejects("/INBOX/;UID=0"));
    CHECK(rejects("/INBOX/;UID=4294967296"));
    CHECK(rejects("/INBOX/;UID=99999999999999999999999"));
    CHECK(rejects("/INBOX/;UID=00000000001"));
    CHECK(rejects("/INBOX/;UID=-1"));
    CHECK(rejects("/INBOX/;UID=+1"));
    CHECK(rejects("/INBOX/;UID="));
    CHECK(rejects("/INBOX/;UID=1x"));
    CHECK(rejects("/INBOX;UIDVALIDITY=0/;UID=1"));
    CHECK(rejects("/INBOX;UIDVALIDITY=4294967296/;UID=1"));
    CHECK(rejects("/INBOX/;UID=1/;PARTIAL=1.0"));
    CHECK(rejects("/INBOX/;UID=1/;PARTIAL=4294967296"));
    CHECK(rejects("/INBOX/;UID=1/;PARTIAL=."));
    CHECK(rejects("imap://host:0/INBOX"));
    CHECK(rejects("imap://host:65536/INBOX"));
    /* percent-encoding */
    CHECK(rejects("/IN%BOX/;UID=1"));
    CHECK(rejects("/INBOX%/;UID=1"));
    CHECK(rejects("/INBOX%4/;UID=1"));
    CHECK(rejects("/IN%00BOX/;UID=1"));
    CHECK(rejects("/INBOX/;UID=1/;SECTION=%zz"));
    CHECK(rejects("/INBOX/;UID=1/;SECTION=1%00"));
    CHECK(rejects("imap://us%GGer@host/INBOX"));
    /* characters the grammar does not allow */
    CHECK(rejects("/IN BOX/;UID=1"));
    CHECK(rejects("/INBOX/;UID=1 "));
    CHECK(rejects("/INBOX/;UID=1\r\n"));
    CHECK(rejects("/INBOX\"/;UID=1"));
    {
        const char nul[] = "/INBOX\0/;UID=1";
        struct imap_url u;
        const char *err;
        CHECK(!imap_url_parse(nul, sizeof(nul) - 1, &u, &err));
    }
    /* structure */
    CHECK(rejects(""));
    CHECK(rejects("//"));
    CHECK(rejects("imap://"));
    CHECK(rejects("imap:///INBOX"));
    CHECK(rejects("imap://@host/INBOX"));
    CHECK(rejects("imap://u;AUTH=@host/INBOX"));
    CHECK(rejects("imap://u;FOO=x@host/INBOX"));
    CHECK(rejects("imap://ho st/INBOX"));
    CHECK(rejects("imap://[zz]/INBOX"));
    CHECK(rejects("http://host/INBOX"));
    CHECK(rejects("imaps://host/INBOX"));
    CHECK(rejects("//INBOX/;UID=1"));
    CHECK(rejects("/INBOX/;UID=1/;SECTION="));
    CHECK(rejects("/INBOX/;UID=1/;FOO=1"));
    CHECK(rejects("/INBOX/;UID=1;URLAUTH=anonymous"));   /* URLAUTH needs an absolute URL */
    CHECK(rejects("/INBOX/;UID=1/1"));
    CHECK(rejects("/INBOX;UIDVALIDITY=1;UID=1"));
    CHECK(rejects("imap://h/INBOX/;UID=1;URLAUTH=nobody"));
    CHECK(rejects("imap://h/INBOX/;UID=1;URLAUTH=user+"));
    CHECK(rejects("imap://h/INBOX/;UID=1;URLAUTH=anonymous:internal:1234"));
    CHECK(rejects("imap://h/INBOX/;UID=1;URLAUTH=anonymous:internal:91354a473744909de610943775f9203g"));
    CHECK(rejects("imap://h/INBOX/;UID=1;URLAUTH=anonymous:internal"));
    CHECK(rejects("imap://h/INBOX/;UID=1;URLAUTH=anonymous::91354a473744909de610943775f92038"));
    CHECK(rejects("imap://h/INBOX/;UID=1;EXPIRE=2006-13-01T00:00:00Z;URLAUTH=anonymous"));
    CHECK(rejects("imap://h/INBOX/;UID=1;EXPIRE=2006-02-30T00:00:00Z;URLAUTH=anonymous"));
    CHECK(rejects("imap://h/INBOX/;UID=1;EXPIRE=2006-01-01T24:00:00Z;URLAUTH=anonymous"));
    CHECK(rejects("imap://h/INBOX/;UID=1;EXPIRE=2006-01-01T00:00:00;URLAUTH=anonymous"));
    CHECK(rejects("imap://h/INBOX/;UID=1;EXPIRE=2006-01-01T00:00:00Z"));
    /* overlong */
    {
        size_t n = IMAP_URL_MAX + 100;
        char *s = malloc(n + 1);
        memcpy(s, "/INBOX/;UID=1/;SECTION=", 23);
        memset(s + 23, '1', n - 23);
        s[n] = '\0';
        CHECK(rejects(s));
        /* a long token */
        memcpy(s, "imap://h/INBOX/;UID=1;URLAUTH=anonymous:internal:", 50);
        memset(s + 50, 'a', 1000);
        s[1050] = '\0';
        CHECK(rejects(s));
        /* a long host */
        memcpy(s, "imap://", 7);
        memset(s + 7, 'h', 300);
        memcpy(s + 307, "/INBOX", 7);
        CHECK(rejects(s));
        free(s);
    }
    /* every prefix and every one-byte change of a valid URL parses or is
     * refused cleanly (ASan watches) */
    const char *good = "imap://joe;AUTH=*@example.com:143/INBOX%20x;UIDVALIDITY=5/;UID=20/;SECTION=1.2/;"
                       "PARTIAL=1.2;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=submit+fred:INTERNAL:"
                       "91354a473744909de610943775f92038";
    size_t gl = strlen(good);
    char buf[512];
    for (size_t i = 0; i <= gl; i++) {
        struct imap_url u;
        const char *err;
        if (imap_url_parse(good, i, &u, &err))
            imap_url_free(&u);
        for (int c = 0; c < 256; c += 7) {
            memcpy(buf, good, gl);
            if (i < gl)
                buf[i] = (char)c;
            if (imap_url_parse(buf, gl, &u, &err))
                imap_url_free(&u);
        }
    }
    struct imap_url u;
    CHECK(parse(good, &u));
    CHECK_INT(u.uidvalidity, 5);
    CHECK_STR(u.mailbox, "INBOX x");
    imap_url_free(&u);
}

int main(void)
{
    RUN(test_rfc5092_examples);
    RUN(test_relative);
    RUN(test_urlauth);
    RUN(test_hostile);
    return unit_done();
}
