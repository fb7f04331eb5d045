/* test-sieve-ext.c - the Sieve extensions, one group per extension, from
 * the examples of their RFCs and their error cases. */
#include "sieve-harness.h"

/* ---- callbacks ---- */

static bool cb_mailbox_exists(void *ctx, const char *mb)
{
    (void)ctx;
    return strcmp(mb, "INBOX") == 0 || strcmp(mb, "Junk") == 0 || strcmp(mb, "Sent") == 0;
}

static bool cb_specialuse(void *ctx, const char *mb, const char *flag)
{
    (void)ctx;
    if (strcasecmp(flag, "\\Junk") == 0)
        return !mb || strcmp(mb, "Junk") == 0;
    if (strcasecmp(flag, "\\Sent") == 0)
        return !mb || strcmp(mb, "Sent") == 0;
    return false;
}

static bool cb_mailboxid(void *ctx, const char *id)
{
    (void)ctx;
    return strcmp(id, "F2212d0fa-9b9c") == 0;
}

static char dup_seen[320];
static char dup_last_args[512];
static bool cb_duplicate(void *ctx, const char *handle, const char *value, size_t vlen, uint64_t secs, bool last)
{
    (void)ctx;
    snprintf(dup_last_args, sizeof(dup_last_args), "handle=%s value=%.*s seconds=%llu last=%d", handle, (int)vlen,
             value, (unsigned long long)secs, last);
    char key[300];
    snprintf(key, sizeof(key), "%s|%.*s", handle, (int)vlen, value);
    if (strcmp(dup_seen, key) == 0)
        return true;
    snprintf(dup_seen, sizeof(dup_seen), "%s", key);
    return false;
}

static const char *inc_personal[][2] = {
    {"spam", "require \"fileinto\"; if header :contains \"x-spam-score\" \"7\" { fileinto \"Junk\"; }"},
    {"global-vars", "require [\"include\", \"variables\", \"fileinto\"]; global \"box\"; fileinto \"${box}\";"},
    {"local-vars", "require [\"variables\", \"fileinto\"]; fileinto \"x${box}\";"},
    {"loop", "require \"include\"; include \"loop\";"},
    {"ret", "require [\"include\", \"fileinto\"]; fileinto \"before\"; return; fileinto \"after\";"},
    {"bad", "frobnicate;"},
    {"stopper", "stop;"},
    /* RFC 6609 3.4.1 */
    {"subject_tests", "require [\"include\", \"variables\"]; global [\"test\", \"test_mailbox\"]; if header "
                      ":contains \"Subject\" \"${test}\" { set \"test_mailbox\" \"spam-${test}\"; }"},
    {"ns", "require [\"include\", \"variables\"]; set \"global.seen\" \"yes:${global.box}\";"},
};
static const char *inc_global[][2] = {
    {"spam", "require \"fileinto\"; fileinto \"global-spam\";"},
};
static char *cb_include(void *ctx, const char *name, bool global, size_t *len)
{
    (void)ctx;
    const char *(*t)[2] = global ? inc_global : inc_personal;
    size_t n = global ? ARRAY_SIZE(inc_global) : ARRAY_SIZE(inc_personal);
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i][0], name) == 0) {
            *len = strlen(t[i][1]);
            return xstrdup(t[i][1]);
        }
    return NULL;
}

static const struct sieve_callbacks cbs = {NULL, cb_mailbox_exists, cb_specialuse, cb_mailboxid, cb_duplicate,
                                           cb_include};

static const struct sieve_run_config cfg = {
    .domain = "acme.example.com", .host = "mx.acme.example.com", .remote_ip = "192.0.2.1",
    .spam_header = "X-Spam-Score", .spam_max = 10, .virus_header = "X-Virus-Status",
    .now = 1764584430, /* 2025-12-01 10:20:30 UTC, a Monday */
    .local_tz_minutes = 60,
};

static char *run_cb(const char *script, const char *msg)
{
    return sv_run_full(script, msg, &sv_env, &cbs, &cfg, NULL);
}

#define CHECK_CB(script, want)                   \
    do {                                         \
        char *got_ = run_cb(script, sv_msg);     \
        CHECK_STR(got_, want);                   \
        free(got_);                              \
    } while (0)
#define CHECK_CB_MSG(script, msg, want)          \
    do {                                         \
        char *got_ = run_cb(script, msg);        \
        CHECK_STR(got_, want);                   \
        free(got_);                              \
    } while (0)

/* ---- RFC 5228 4.1 fileinto ---- */
static void test_fileinto(void)
{
    CHECK_RUN("require \"fileinto\"; if header :contains \"from\" \"coyote\" { fileinto \"INBOX.harassment\"; }",
              "fileinto \"INBOX.harassment\"\n");
    CHECK_ERR("require \"fileinto\"; fileinto;", "takes 1 positional argument, 0 given");
    CHECK_ERR("require \"fileinto\"; fileinto :copy \"a\";", "needs require \"copy\"");
    CHECK_RUN("require \"fileinto\"; fileinto \"a\x01" "b\";", "ERROR: fileinto: bad mailbox name\nkeep (implicit)\n");
}

/* ---- RFC 5429 reject, ereject ---- */
static void test_reject(void)
{
    CHECK_RUN("require \"reject\"; if header :contains \"from\" \"coyote@desert.example.org\" { reject text:\n"
              "I am not taking mail from you, and I don't\nwant your birdseed, either!\n.\n; }",
              "reject \"I am not taking mail from you, and I don't\r\nwant your birdseed, either!\r\n\"\n");
    CHECK_RUN("require \"ereject\"; ereject \"no thanks\";", "ereject \"no thanks\"\n");
    CHECK_ERR("require \"ereject\"; reject \"x\";", "needs require \"reject\"");
    /* 2.4: only one reject; not with keep, fileinto, redirect, vacation */
    CHECK_RUN("require \"reject\"; reject \"a\"; reject \"b\";", "ERROR: more than one reject\nkeep (implicit)\n");
    CHECK_RUN("require \"reject\"; reject \"a\"; keep;",
              "ERROR: reject cannot be combined with keep, fileinto, redirect or vacation\nkeep (implicit)\n");
    CHECK_RUN("require [\"reject\", \"vacation\"]; vacation \"away\"; reject \"a\";",
              "ERROR: reject cannot be combined with keep, fileinto, redirect or vacation\nkeep (implicit)\n");
    CHECK_RUN("require \"reject\"; reject \"a\"; discard;", "reject \"a\"\ndiscard\n");
}

/* ---- RFC 5231 relational ---- */
static void test_relational(void)
{
    const char *req = "require [\"relational\", \"comparator-i;ascii-numeric\"];";
    char *s;
    s = xasprintf("%s if header :value \"gt\" :comparator \"i;ascii-numeric\" \"x-caffeine\" \"10\" { discard; }", req);
    CHECK_RUN(s, "discard\n");
    free(s);
    s = xasprintf("%s if header :value \"lt\" :comparator \"i;ascii-numeric\" \"x-caffeine\" \"10\" { discard; }", req);
    CHECK_RUN(s, "keep (implicit)\n");
    free(s);
    /* RFC 5231 7 examples: :count over addresses */
    s = xasprintf("%s if address :count \"ge\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] [\"3\"] { discard; }",
                  req);
    CHECK_RUN(s, "discard\n");
    free(s);
    s = xasprintf("%s if address :count \"ge\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] [\"4\"] { discard; }",
                  req);
    CHECK_RUN(s, "keep (implicit)\n");
    free(s);
    s = xasprintf("%s if header :count \"eq\" :comparator \"i;ascii-numeric\" \"x-none\" \"0\" { discard; }", req);
    CHECK_RUN(s, "discard\n");
    free(s);
    /* :value with the default comparator (i;ascii-casemap) orders strings */
    CHECK_RUN("require \"relational\"; if header :value \"lt\" \"subject\" \"J\" { discard; }", "discard\n");
    CHECK_RUN("require \"relational\"; if header :value \"ne\" \"subject\" \"i have a present for you\" { discard; }",
              "keep (implicit)\n");
    CHECK_ERR("require \"relational\"; if header :count \"zz\" \"a\" \"b\" {}", "relational operator");
}

/* ---- RFC 5233 subaddress ---- */
static void test_subaddress(void)
{
    CHECK_ERR("if address :user \"to\" \"bob\" {}", "needs require \"subaddress\"");
    CHECK_RUN("require \"subaddress\"; if address :user \"to\" \"bob\" { discard; }", "discard\n");
    CHECK_RUN("require \"subaddress\"; if address :detail \"to\" \"lists\" { discard; }", "discard\n");
    /* no separator: :detail has nothing to compare (RFC 5233 4) */
    CHECK_RUN("require \"subaddress\"; if address :detail \"from\" \"\" { discard; }", "keep (implicit)\n");
    CHECK_RUN("require [\"subaddress\", \"envelope\"]; if envelope :detail \"to\" \"wile\" { discard; }",
              "discard\n");
    CHECK_RUN("require [\"subaddress\", \"envelope\"]; if envelope :user \"to\" \"roadrunner\" { discard; }",
              "discard\n");
}

/* ---- RFC 3894 copy ---- */
static void test_copy(void)
{
    CHECK_RUN("require [\"copy\", \"fileinto\"]; fileinto :copy \"a\";", "fileinto \"a\" :copy\nkeep (implicit)\n");
    CHECK_RUN("require \"copy\"; redirect :copy \"b@example.com\";", "redirect \"b@example.com\" :copy\nkeep (implicit)\n");
    CHECK_RUN("require \"copy\"; redirect :copy \"b@example.com\"; discard;", "redirect \"b@example.com\" :copy\ndiscard\n");
}

/* ---- RFC 5232 imap4flags ---- */
static void test_imap4flags(void)
{
    CHECK_RUN("require [\"imap4flags\", \"fileinto\"]; addflag \"\\\\Flagged\"; fileinto \"a\";",
              "fileinto \"a\" flags=\\Flagged\n");
    CHECK_RUN("require \"imap4flags\"; setflag [\"\\\\Seen\", \"$Junk\"]; addflag \"\\\\seen foo\"; removeflag "
              "\"$junk\";",
              "keep (implicit) flags=\\Seen foo\n");
    CHECK_RUN("require \"imap4flags\"; keep :flags [\"a\", \"b a\"];", "keep flags=a b\n");
    CHECK_RUN("require \"imap4flags\"; addflag \"x\"; if hasflag :is \"X\" { discard; }", "discard\n");
    CHECK_RUN("require \"imap4flags\"; addflag \"x y\"; if hasflag :contains \"z\" { discard; }", "keep (implicit) flags=x y\n");
    /* RFC 5232 3 with a variable */
    CHECK_RUN("require [\"imap4flags\", \"variables\", \"fileinto\"]; set \"f\" \"\"; addflag \"f\" \"\\\\Answered\"; "
              "if hasflag \"f\" \"\\\\answered\" { fileinto :flags \"${f}\" \"b\"; }",
              "fileinto \"b\" flags=\\Answered\n");
    CHECK_ERR("require \"imap4flags\"; addflag \"v\" \"x\";", "needs require \"variables\"");
    CHECK_ERR("keep :flags \"x\";", "needs require \"imap4flags\"");
}

/* RFC 5232 9, the extended example ("remove" there is removeflag; its
 * "anyof address ..." without parentheses is accepted as a test list of
 * one) */
static void test_imap4flags_example(void)
{
    const char *s =
        "require [\"fileinto\", \"imap4flags\", \"variables\"];\n"
        "if size :over 1M {\n addflag \"MyFlags\" \"Big\";\n"
        " if header :is \"From\" \"boss@company.example.com\" { addflag \"MyFlags\" \"\\\\Flagged\"; }\n"
        " fileinto :flags \"${MyFlags}\" \"Big messages\";\n}\n"
        "if header :is \"From\" \"grandma@example.net\" {\n"
        " addflag \"MyFlags\" [\"\\\\Answered\", \"$MDNSent\"];\n fileinto :flags \"${MyFlags}\" \"GrandMa\";\n}\n"
        "if header :is \"Sender\" \"owner-ietf-mta-filters@example.org\" {\n"
        " set \"MyFlags\" \"\\\\Flagged $Work\";\n keep :flags \"${MyFlags}\";\n}\n"
        "elsif anyof address :domain :is [\"From\", \"To\"] \"company.example.com\" {\n"
        " keep :flags \"${MyFlags}\";\n}\n"
        "elsif anyof (not address :all :contains [\"To\", \"Cc\"] \"me@company.example.com\",\n"
        "             header :matches \"subject\" [\"*make*money*fast*\", \"*university*dipl*mas*\"]) {\n"
        " removeflag \"MyFlags\" \"\\\\Flagged\";\n fileinto :flags \"${MyFlags}\" \"spam\";\n}\n"
        "else {\n fileinto :flags \"${MyFlags}\" \"personal\";\n}\n";
    CHECK_RUN_MSG(s, "From: grandma@example.net\r\nTo: me@company.example.com\r\n\r\nhi\r\n",
                  "fileinto \"GrandMa\" flags=\\Answered $MDNSent\nkeep flags=\\Answered $MDNSent\n");
    CHECK_RUN_MSG(s, "Sender: owner-ietf-mta-filters@example.org\r\n\r\nx\r\n", "keep flags=\\Flagged $Work\n");
    CHECK_RUN_MSG(s, "From: x@elsewhere.example\r\nTo: someone@else.example\r\n\r\nx\r\n",
                  "fileinto \"spam\"\n");
    /* big mail from the boss */
    struct buf m = BUF_INIT;
    buf_puts(&m, "From: boss@company.example.com\r\nTo: me@company.example.com\r\n\r\n");
    for (int i = 0; i < 1100000; i++)
        buf_putc(&m, 'x');
    char *got = sv_run_full(s, buf_cstr(&m), &sv_env, NULL, NULL, NULL);
    CHECK_STR(got, "fileinto \"Big messages\" flags=Big \\Flagged\nkeep flags=Big \\Flagged\n");
    free(got);
    buf_free(&m);
}

/* ---- RFC 5229 variables ---- */
static void test_variables(void)
{
    /* 3.2 example */
    CHECK_RUN("require [\"fileinto\", \"variables\"]; if header :matches \"Subject\" \"I * a * for *\" { fileinto "
              "\"${1}-${2}-${3}-${0}\"; }",
              "fileinto \"have-present-you-I have a present for you\"\n");
    CHECK_RUN("require [\"fileinto\", \"variables\"]; if address :matches :domain \"to\" \"*.example.com\" { "
              "fileinto \"${1}\"; }",
              "fileinto \"acme\"\n");
    /* 4.1 modifiers */
    CHECK_RUN("require [\"variables\", \"reject\"]; set :upperfirst \"a\" \"juMBlEd\"; set :lower \"b\" "
              "\"juMBlEd\"; set :upper \"c\" \"x\"; set :length \"d\" \"caf\xc3\xa9\"; set :quotewildcard \"e\" "
              "\"a*b?\\\\\"; set :upperfirst :lower \"f\" \"hELLO\"; reject \"${a}|${b}|${c}|${d}|${e}|${f}\";",
              "reject \"JuMBlEd|jumbled|X|4|a\\*b\\?\\\\|Hello\"\n");
    /* unknown variables are empty; malformed references stay (3) */
    CHECK_RUN("require [\"variables\", \"reject\"]; reject \"<${nope}>${}${1x}\";", "reject \"<>${}${1x}\"\n");
    CHECK_RUN("require [\"variables\", \"reject\"]; set \"company\" \"ACME\"; reject \"&%${}!|${doh!}|${full}|"
              "${company}|${BAD${Company}|${President, ${Company} Inc.}\";",
              "reject \"&%${}!|${doh!}||ACME|${BADACME|${President, ACME Inc.}\"\n");
    /* 3.1: quoting is resolved first */
    CHECK_RUN("require [\"variables\", \"reject\"]; set \"foo\" \"F\"; reject \"${fo\\o}|${fo\\\\o}|\\${foo}|"
              "\\\\${foo}\";",
              "reject \"F|${fo\\o}|F|\\F\"\n");
    CHECK_RUN("require [\"variables\", \"reject\"]; set \"dollar\" \"$\"; set \"text\" \"regarding "
              "${dollar}{beep}\"; reject \"${text}\";",
              "reject \"regarding ${beep}\"\n");
    /* namespaces need their extension: none exists here */
    CHECK_ERR("require [\"variables\", \"reject\"]; reject \"${a.b}\";", "unknown variable namespace");
    /* 3.2 examples */
    CHECK_RUN_MSG("require [\"fileinto\", \"variables\"]; if header :matches \"List-ID\" \"*<*@*\" { fileinto "
                  "\"INBOX.lists.${2}\"; stop; }",
                  "List-ID: Users <acme-users@example.com>\r\n\r\n", "fileinto \"INBOX.lists.acme-users\"\n");
    CHECK_RUN_MSG("require [\"fileinto\", \"variables\"]; if header :matches \"Subject\" \"[*] *\" { fileinto "
                  "\"INBOX.lists.${1}|${2}\"; stop; }",
                  "Subject: [acme-users] [fwd] version 1.0 is out\r\n\r\n",
                  "fileinto \"INBOX.lists.acme-users|[fwd] version 1.0 is out\"\n");
    CHECK_RUN_MSG("require [\"fileinto\", \"variables\"]; if address :matches [\"To\", \"Cc\"] "
                  "[\"coyote@**.com\", \"wile@**.com\"] { fileinto \"INBOX.business.${2}|${1}|${0}\"; stop; }",
                  "To: coyote@ACME.Example.COM\r\n\r\n",
                  "fileinto \"INBOX.business.ACME.Example||coyote@ACME.Example.COM\"\n");
    /* short-circuit: the second test never runs, no match variables */
    CHECK_RUN_MSG("require [\"fileinto\", \"variables\"]; if anyof (true, address :domain :matches \"To\" "
                  "\"*.com\") { fileinto \"x${1}\"; }",
                  "To: coyote@ACME.Example.COM\r\n\r\n", "fileinto \"x\"\n");
    /* the string test (5) */
    CHECK_RUN("require \"variables\"; set \"x\" \"abc\"; if string :is \"${x}\" \"abc\" { discard; }", "discard\n");
    CHECK_RUN("require [\"variables\", \"relational\", \"comparator-i;ascii-numeric\"]; if string :count \"eq\" "
              ":comparator \"i;ascii-numeric\" [\"a\", \"\", \"b\"] \"2\" { discard; }",
              "discard\n");
    /* a match variable holding a NUL (found by fuzz-sieve: its copy was
     * cut at the NUL but used at full length) */
    CHECK_RUN("require [\"variables\", \"encoded-character\", \"reject\"]; if string :matches \"a${hex:00}bc\" "
              "\"*c\" { set :length \"n\" \"${1}\"; reject \"${n}\"; }",
              "reject \"3\"\n");
    CHECK_ERR("require \"variables\"; set \"1x\" \"a\";", "bad variable name");
    CHECK_ERR("set \"a\" \"b\";", "needs require \"variables\"");
    /* bounded values */
    struct sieve_limits l;
    memset(&l, 0, sizeof(l));
    l.max_variable_size = 4;
    char *got = sv_run_full("require [\"variables\", \"reject\"]; set \"a\" \"abcdefgh\"; reject \"${a}\";", sv_msg,
                            &sv_env, NULL, NULL, &l);
    CHECK_STR(got, "reject \"abcd\"\n");
    free(got);
    memset(&l, 0, sizeof(l));
    l.max_variables = 2;
    got = sv_run_full("require \"variables\"; set \"a\" \"1\"; set \"b\" \"2\"; set \"c\" \"3\";", sv_msg, &sv_env, NULL,
                      NULL, &l);
    CHECK_STR(got, "ERROR: more than 2 variables\nkeep (implicit)\n");
    free(got);
}

/* ---- RFC 5173 body ---- */
static void test_body(void)
{
    CHECK_RUN("require \"body\"; if body :contains \"birdseed\" { discard; }", "discard\n");
    CHECK_RUN("require \"body\"; if body :text :contains \"anvil\" { discard; }", "discard\n");
    CHECK_RUN("require \"body\"; if body :raw :contains \"anvil thing, and\" { discard; }", "discard\n");
    CHECK_RUN("require \"body\"; if body :contains \"Subject\" { discard; }", "keep (implicit)\n");
    const char *mp = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                     "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n"
                     "--b\r\nContent-Type: application/pdf\r\n\r\nPDFDATA secret\r\n--b--\r\n";
    CHECK_RUN_MSG("require \"body\"; if body :text :contains \"hello world\" { discard; }", mp, "discard\n");
    CHECK_RUN_MSG("require \"body\"; if body :text :contains \"secret\" { discard; }", mp, "keep (implicit)\n");
    CHECK_RUN_MSG("require \"body\"; if body :content \"application\" :contains \"secret\" { discard; }", mp,
                  "discard\n");
    CHECK_RUN_MSG("require \"body\"; if body :content \"text/html\" :contains \"hello\" { discard; }", mp,
                  "keep (implicit)\n");
    CHECK_RUN_MSG("require \"body\"; if body :raw :contains \"aGVsbG8\" { discard; }", mp, "discard\n");
    CHECK_ERR("require \"body\"; if body :raw :text \"x\" {}", "conflicts");
    /* a long key against a long body costs their sum, not their product */
    struct buf m = BUF_INIT, k = BUF_INIT;
    buf_puts(&m, "Subject: x\r\n\r\n");
    for (int i = 0; i < 1000000; i++)
        buf_putc(&m, 'a');
    buf_puts(&k, "require \"body\"; if body :raw :contains \"");
    for (int i = 0; i < 60000; i++)
        buf_putc(&k, 'A');
    buf_puts(&k, "b\" { discard; }");
    char *got = sv_run_full(buf_cstr(&k), buf_cstr(&m), &sv_env, NULL, NULL, NULL);
    CHECK_STR(got, "keep (implicit)\n");
    free(got);
    buf_free(&m);
    buf_free(&k);
}

/* ---- RFC 5230 vacation, RFC 6131 vacation-seconds ---- */
static void test_vacation(void)
{
    char *v = sv_run("require \"vacation\"; if header :contains \"subject\" \"cyrus\" { vacation \"I'm out -- "
                     "send mail to cyrus-bugs\"; } else { vacation \"I'm out -- call me at +1 304 555 0123\"; }");
    CHECK(strncmp(v, "vacation seconds=604800 handle=\"sieve-vacation-", 47) == 0);
    CHECK(strstr(v, "\" reason=\"I'm out -- call me at +1 304 555 0123\"\nkeep (implicit)\n") != NULL);
    free(v);
    CHECK_RUN("require \"vacation\"; vacation :days 23 :addresses [\"tjs@example.edu\", \"ts4z@landru.example.edu\"] "
              ":subject \"gone\" :from \"me@example.edu\" :handle \"h1\" :mime \"body\";",
              "vacation seconds=1987200 subject=\"gone\" from=\"me@example.edu\" handle=\"h1\" "
              "address=\"tjs@example.edu\" address=\"ts4z@landru.example.edu\" mime reason=\"body\"\nkeep (implicit)\n");
    CHECK_RUN("require \"vacation-seconds\"; vacation :seconds 1800 :handle \"h\" \"x\";",
              "vacation seconds=1800 handle=\"h\" reason=\"x\"\nkeep (implicit)\n");
    CHECK_RUN("require \"vacation\"; vacation :days 0 :handle \"h\" \"x\";",
              "vacation seconds=86400 handle=\"h\" reason=\"x\"\nkeep (implicit)\n");
    CHECK_ERR("require \"vacation\"; vacation :seconds 10 \"x\";", "needs require \"vacation-seconds\"");
    CHECK_ERR("require \"vacation-seconds\"; vacation :days 1 :seconds 10 \"x\";", "conflicts");
    CHECK_RUN("require \"vacation\"; vacation :handle \"a\" \"x\"; vacation :handle \"b\" \"y\";",
              "ERROR: more than one vacation\nkeep (implicit)\n");
    /* RFC 5230 4.2 examples */
    CHECK_RUN("require [\"vacation\", \"variables\"]; if header :matches \"subject\" \"*\" { vacation :subject "
              "\"Automatic response to: ${1}\" :handle \"h\" \"I'm away -- send mail to foo in my absence\"; }",
              "vacation seconds=604800 subject=\"Automatic response to: I have a present for you\" handle=\"h\" "
              "reason=\"I'm away -- send mail to foo in my absence\"\nkeep (implicit)\n");
    CHECK_RUN("require \"vacation\"; if header :contains \"subject\" \"lunch\" { vacation :handle \"ran-away\" "
              "\"I'm out and can't meet for lunch\"; } else { vacation :handle \"ran-away\" \"I'm out\"; }",
              "vacation seconds=604800 handle=\"ran-away\" reason=\"I'm out\"\nkeep (implicit)\n");
    /* 4.7: vacation with redirect */
    CHECK_RUN("require \"vacation\"; if header :contains \"from\" \"coyote@desert.example.org\" { redirect "
              "\"pleeb@isp.example.org\"; } else { vacation \"Sorry, I'm away\"; }",
              "redirect \"pleeb@isp.example.org\"\n");
    /* 4.3: a :from that is not a mailbox is ignored */
    CHECK_RUN("require \"vacation\"; vacation :from \"not an address\" :handle \"h\" \"x\";",
              "vacation seconds=604800 handle=\"h\" reason=\"x\"\nkeep (implicit)\n");
    CHECK_RUN("require \"vacation\"; vacation :from \"Me <me@example.org>\" :handle \"h\" \"x\";",
              "vacation seconds=604800 from=\"Me <me@example.org>\" handle=\"h\" reason=\"x\"\nkeep (implicit)\n");
    /* the default handle depends on the parameters */
    char *a = sv_run("require \"vacation\"; vacation \"one\";");
    char *b = sv_run("require \"vacation\"; vacation \"two\";");
    CHECK(strcmp(a, b) != 0);
    free(a);
    free(b);
}

/* ---- RFC 5490 mailbox ---- */
static void test_mailbox(void)
{
    CHECK_CB("require \"mailbox\"; if mailboxexists [\"INBOX\", \"Junk\"] { discard; }", "discard\n");
    CHECK_CB("require \"mailbox\"; if mailboxexists [\"INBOX\", \"Nope\"] { discard; }", "keep (implicit)\n");
    CHECK_CB("require [\"mailbox\", \"fileinto\"]; fileinto :create \"New\";", "fileinto \"New\" :create\n");
    CHECK_ERR("require \"fileinto\"; fileinto :create \"New\";", "needs require \"mailbox\"");
    CHECK_RUN("require \"mailbox\"; if mailboxexists \"INBOX\" { discard; }", "keep (implicit)\n"); /* no callback */
}

/* ---- RFC 5183 environment ---- */
static void test_environment(void)
{
    CHECK_CB("require \"environment\"; if environment :is \"domain\" \"acme.example.com\" { discard; }", "discard\n");
    CHECK_CB("require \"environment\"; if environment :is \"location\" \"MDA\" { discard; }", "discard\n");
    CHECK_CB("require \"environment\"; if environment :is \"phase\" \"during\" { discard; }", "discard\n");
    CHECK_CB("require \"environment\"; if environment :is \"name\" \"Darius\" { discard; }", "discard\n");
    CHECK_CB("require \"environment\"; if environment :contains \"remote-ip\" \"192.0.2\" { discard; }", "discard\n");
    CHECK_CB("require \"environment\"; if environment :contains \"remote-host\" \"\" { discard; }", "keep (implicit)\n");
    CHECK_CB("require \"environment\"; if environment :contains \"frob\" \"\" { discard; }", "keep (implicit)\n");
}

/* ---- RFC 5463 ihave ---- */
static void test_ihave(void)
{
    CHECK_RUN("require \"ihave\"; if ihave \"fileinto\" { fileinto \"a\"; }", "fileinto \"a\"\n");
    CHECK_RUN("require \"ihave\"; if ihave [\"fileinto\", \"x-frob\"] { frobnicate 1 2 3; } else { discard; }",
              "discard\n");
    CHECK_RUN("require \"ihave\"; if not ihave \"x-frob\" { discard; }", "discard\n");
    /* an extension enabled by ihave works inside its block */
    CHECK_RUN("require \"ihave\"; if ihave \"variables\" { set \"a\" \"x\"; if string \"${a}\" \"x\" { discard; } }",
              "discard\n");
    CHECK_ERR("if ihave \"fileinto\" {}", "needs require \"ihave\"");
    /* a malformed ihave test (found by fuzz-sieve: a NULL dereference) */
    CHECK_ERR("require \"ihave\"; if ihave 3 \"frob\" { frob; }", "takes 1 positional argument, 2 given");
    /* outside the block the extension is still not usable */
    CHECK_ERR("require \"ihave\"; if ihave \"fileinto\" { fileinto \"a\"; } fileinto \"b\";",
              "needs require \"fileinto\"");
}

/* ---- RFC 5260 date, index ---- */
static void test_date(void)
{
    CHECK_CB("require \"date\"; if date :is \"date\" \"year\" \"2026\" { discard; }", "discard\n");
    CHECK_CB("require \"date\"; if date :originalzone :is \"date\" \"iso8601\" \"2026-12-01T10:20:30+01:00\" { "
             "discard; }",
             "discard\n");
    CHECK_CB("require \"date\"; if date :zone \"-0500\" :is \"date\" \"time\" \"04:20:30\" { discard; }", "discard\n");
    CHECK_CB("require \"date\"; if date :zone \"+0000\" :is \"date\" \"std11\" \"Tue, 01 Dec 2026 09:20:30 +0000\" { "
             "discard; }",
             "discard\n");
    CHECK_CB("require \"date\"; if date :is \"date\" \"weekday\" \"2\" { discard; }", "discard\n");
    CHECK_CB("require \"date\"; if date :zone \"+0000\" :is \"date\" \"julian\" \"61375\" { discard; }", "discard\n");
    CHECK_CB("require \"date\"; if date :is \"x-none\" \"year\" \"2026\" { discard; }", "keep (implicit)\n");
    CHECK_CB("require \"date\"; if currentdate :zone \"+0000\" :is \"date\" \"2025-12-01\" { discard; }", "discard\n");
    CHECK_CB("require \"date\"; if currentdate :is \"hour\" \"11\" { discard; }", "discard\n"); /* local +0100 */
    CHECK_CB("require [\"date\", \"relational\"]; if currentdate :value \"ge\" \"date\" \"2025-01-01\" { discard; }",
             "discard\n");
    /* RFC 5260 4 and 5 examples */
    CHECK_CB_MSG("require [\"date\", \"relational\", \"fileinto\"]; if allof(header :is \"from\" "
                 "\"boss@example.com\", date :value \"ge\" :originalzone \"date\" \"hour\" \"09\", date :value "
                 "\"lt\" :originalzone \"date\" \"hour\" \"17\") { fileinto \"urgent\"; }",
                 "From: boss@example.com\r\nDate: Tue, 01 Dec 2026 10:20:30 +0100\r\n\r\n", "fileinto \"urgent\"\n");
    CHECK_CB_MSG("require [\"date\", \"relational\", \"fileinto\"]; if anyof(date :is \"received\" \"weekday\" "
                 "\"0\", date :is \"received\" \"weekday\" \"6\") { fileinto \"weekend\"; }",
                 "Received: from a by b; Sat, 5 Dec 2026 10:00:00 +0000\r\n"
                 "Received: from c by d; Fri, 4 Dec 2026 10:00:00 +0000\r\n\r\n",
                 "fileinto \"weekend\"\n");
    CHECK_CB("require [\"date\", \"variables\", \"fileinto\"]; if currentdate :matches \"month\" \"*\" { set "
             "\"month\" \"${1}\"; } if currentdate :matches \"year\" \"*\" { set \"year\" \"${1}\"; } fileinto "
             "\"${month}-${year}\";",
             "fileinto \"12-2025\"\n");
    CHECK_CB("require [\"variables\", \"date\", \"editheader\"]; if currentdate :matches \"std11\" \"*\" "
             "{addheader \"Processing-date\" \"${0}\";}",
             "addheader \"Processing-date\" \"Mon, 01 Dec 2025 11:20:30 +0100\"\nkeep (implicit)\n");
    CHECK_ERR("require \"date\"; if date \"date\" \"frob\" \"x\" {}", "unknown date part");
    CHECK_ERR("require \"date\"; if date :zone \"CET\" \"date\" \"year\" \"x\" {}", "zone must be");
    /* index (RFC 5260 6) */
    const char *m = "Received: from a by b; Tue, 1 Dec 2026 10:00:00 +0000\r\n"
                    "Received: from c by d; Mon, 30 Nov 2026 10:00:00 +0000\r\n"
                    "X-A: one\r\nX-A: two\r\nX-A: three\r\n\r\n";
    CHECK_CB_MSG("require \"index\"; if header :index 2 :is \"x-a\" \"two\" { discard; }", m, "discard\n");
    CHECK_CB_MSG("require \"index\"; if header :index 1 :last :is \"x-a\" \"three\" { discard; }", m, "discard\n");
    CHECK_CB_MSG("require \"index\"; if header :index 1 :is \"x-a\" \"two\" { discard; }", m, "keep (implicit)\n");
    CHECK_CB_MSG("require [\"index\", \"date\"]; if date :index 1 :last :zone \"+0000\" \"received\" \"day\" \"30\" { "
                 "discard; }",
                 m, "discard\n");
    CHECK_ERR("require \"index\"; if header :last :is \"x\" \"y\" {}", ":last needs :index");
    CHECK_ERR("if header :index 1 \"x\" \"y\" {}", "needs require \"index\"");
}

/* ---- RFC 7352 duplicate ---- */
static void test_duplicate(void)
{
    dup_seen[0] = '\0';
    CHECK_CB("require \"duplicate\"; if duplicate { discard; }", "keep (implicit)\n");
    CHECK_STR(dup_last_args, "handle= value=<abc@desert.example.org> seconds=604800 last=0");
    CHECK_CB("require \"duplicate\"; if duplicate { discard; }", "discard\n");
    CHECK_CB("require \"duplicate\"; if duplicate :handle \"h\" :header \"subject\" :seconds 60 :last { discard; }",
             "keep (implicit)\n");
    CHECK_STR(dup_last_args, "handle=h value=I have a present for you seconds=60 last=1");
    CHECK_CB("require [\"duplicate\", \"variables\"]; if header :matches \"subject\" \"I *\" { if duplicate "
             ":uniqueid \"${1}\" { discard; } }",
             "keep (implicit)\n");
    CHECK_STR(dup_last_args, "handle= value=have a present for you seconds=604800 last=0");
    CHECK_ERR("require \"duplicate\"; if duplicate :header \"a\" :uniqueid \"b\" {}", "conflicts");
    /* no Message-ID: never a duplicate */
    dup_seen[0] = '\0';
    CHECK_CB_MSG("require \"duplicate\"; if duplicate { discard; }", "Subject: x\r\n\r\n", "keep (implicit)\n");
}

/* ---- RFC 5293 editheader ---- */
static void test_editheader(void)
{
    /* 7: tests see the edits */
    CHECK_RUN("require \"editheader\"; addheader \"X-Hello\" \"World\"; if header :contains \"X-Hello\" \"World\" { "
              "discard; }",
              "addheader \"X-Hello\" \"World\"\ndiscard\n");
    CHECK_RUN("require \"editheader\"; deleteheader \"subject\"; if exists \"subject\" { discard; }",
              "deleteheader \"subject\"\nkeep (implicit)\n");
    /* Received and Auto-Submitted cannot be deleted (6): silently ignored */
    CHECK_RUN("require \"editheader\"; deleteheader \"received\"; if exists \"received\" { discard; }", "discard\n");
    CHECK_RUN("require \"editheader\"; deleteheader :contains \"subject\" \"nothing\";", "keep (implicit)\n");
    CHECK_ERR("require \"editheader\"; deleteheader :last \"x\";", ":last needs :index");
    CHECK_ERR("require \"editheader\"; addheader \"bad name\" \"x\";", "bad header field name");
    /* the new header block */
    const char *msg = "A: 1\r\nB: 2\r\nB: 3\r\n\r\nbody\r\n";
    struct sieve_diags d;
    memset(&d, 0, sizeof(d));
    unsigned char *bin;
    size_t bl;
    const char *src = "require \"editheader\"; addheader \"X-First\" \"f\"; addheader :last \"X-Last\" "
                      "\"caf\xc3\xa9\"; deleteheader :index 1 :last \"B\";";
    if (!sieve_compile(src, strlen(src), NULL, &bin, &bl, &d)) {
        CHECK(!"compiles");
        sieve_diags_free(&d);
        return;
    }
    enum sieve_load_status st;
    struct sieve_script *s = sieve_binary_load(bin, bl, NULL, &st);
    struct sieve_result *r;
    CHECK_INT(sieve_run(s, msg, strlen(msg), &sv_env, NULL, NULL, NULL, &r), SIEVE_RUN_OK);
    size_t hl = 0, bo = 0;
    const char *h = sieve_result_header(r, &hl, &bo);
    CHECK(h != NULL);
    if (h)
        CHECK_STR(h, "X-First: f\r\nA: 1\r\nB: 2\r\nX-Last: =?UTF-8?B?Y2Fmw6k=?=\r\n\r\n");
    CHECK_INT(bo, 20);
    CHECK_STR(msg + bo, "body\r\n");
    sieve_result_free(r);
    sieve_script_free(s);
    free(bin);
    sieve_diags_free(&d);
    /* a value with line ends cannot inject fields */
    CHECK_RUN("require \"editheader\"; addheader \"X-A\" \"a\r\nBcc: x\"; if exists \"bcc\" { discard; }",
              "addheader \"X-A\" \"a  Bcc: x\"\nkeep (implicit)\n");
}

/* ---- RFC 5435 enotify, RFC 5436 mailto ---- */
static void test_enotify(void)
{
    CHECK_RUN("require \"enotify\"; notify :importance \"1\" :message \"This is probably very important\" "
              "\"mailto:alm@example.com\";",
              "notify \"mailto:alm@example.com\" importance=1 message=\"This is probably very important\"\n"
              "keep (implicit)\n");
    CHECK_RUN("require \"enotify\"; notify :from \"me@example.com\" :options [\"a\"] \"mailto:a@example.com?subject=hi\";",
              "notify \"mailto:a@example.com?subject=hi\" importance=2 from=\"me@example.com\" option=\"a\"\n"
              "keep (implicit)\n");
    CHECK_RUN("require \"enotify\"; notify \"xmpp:a@example.com\";",
              "ERROR: notify: unsupported or invalid method \"xmpp:a@example.com\"\nkeep (implicit)\n");
    CHECK_RUN("require \"enotify\"; notify :importance \"4\" \"mailto:a@example.com\";",
              "ERROR: notify: :importance must be 1, 2 or 3\nkeep (implicit)\n");
    CHECK_RUN("require \"enotify\"; if valid_notify_method [\"mailto:a@example.com\", \"mailto:b%40example.com\"] { "
              "discard; }",
              "discard\n");
    CHECK_RUN("require \"enotify\"; if valid_notify_method \"tel:+14085551212\" { discard; }", "keep (implicit)\n");
    CHECK_RUN("require \"enotify\"; if notify_method_capability \"mailto:a@example.com\" \"online\" \"maybe\" { "
              "discard; }",
              "discard\n");
    CHECK_RUN("require [\"enotify\", \"variables\", \"reject\"]; set :encodeurl \"x\" \"a b&c\"; reject \"${x}\";",
              "reject \"a%20b%26c\"\n");
}

/* ---- RFC 5235 spamtest, spamtestplus, virustest ---- */
static void test_spamtest(void)
{
    /* X-Spam-Score 7.5 of 10: spamtest 1 + round(0.75 * 9) = 8, 75 % */
    CHECK_CB("require [\"spamtest\", \"relational\", \"comparator-i;ascii-numeric\"]; if spamtest :value \"ge\" "
             ":comparator \"i;ascii-numeric\" \"8\" { discard; }",
             "discard\n");
    CHECK_CB("require [\"spamtest\", \"relational\", \"comparator-i;ascii-numeric\"]; if spamtest :value \"ge\" "
             ":comparator \"i;ascii-numeric\" \"9\" { discard; }",
             "keep (implicit)\n");
    CHECK_CB("require [\"spamtestplus\", \"relational\", \"comparator-i;ascii-numeric\"]; if spamtest :percent "
             ":value \"eq\" :comparator \"i;ascii-numeric\" \"75\" { discard; }",
             "discard\n");
    CHECK_ERR("require \"spamtest\"; if spamtest :percent \"1\" {}", "needs require \"spamtestplus\"");
    /* not tested: "0", and :count 0 (3.1) */
    CHECK_CB_MSG("require [\"spamtest\", \"relational\", \"comparator-i;ascii-numeric\"]; if spamtest :count \"eq\" "
                 ":comparator \"i;ascii-numeric\" \"0\" { discard; }",
                 "Subject: x\r\n\r\n", "discard\n");
    CHECK_RUN("require \"spamtest\"; if spamtest \"0\" { discard; }", "discard\n"); /* no header configured */
    CHECK_CB("require [\"virustest\", \"relational\", \"comparator-i;ascii-numeric\"]; if virustest :value \"eq\" "
             ":comparator \"i;ascii-numeric\" \"1\" { discard; }",
             "discard\n");
    CHECK_CB_MSG("require \"virustest\"; if virustest \"0\" { discard; }", "X-Virus-Status: 9\r\n\r\n", "discard\n");
    /* the score field: a decimal number first, clamped to [0, max];
     * hex, infinity, NaN and "5abc" are not scores ("0": not tested) */
    static const struct {
        const char *field, *want;
    } sc[] = {{"5.3", "6"},       {" 10 ", "10"},   {"25", "10"},      {"-3.5", "1"}, {"0", "1"},
              {"5.3 / 10.0", "6"}, {"4.5 (x)", "5"}, {"0x10", "0"},    {"inf", "0"},  {"nan", "0"},
              {"5abc", "0"},       {"", "0"},       {"1e999", "0"},   {"abc", "0"}};
    struct sieve_run_config c2 = cfg;
    for (size_t i = 0; i < ARRAY_SIZE(sc); i++) {
        char m[128], sv[256];
        snprintf(m, sizeof(m), "X-Spam-Score: %s\r\n\r\n", sc[i].field);
        snprintf(sv, sizeof(sv),
                 "require [\"spamtest\", \"relational\", \"comparator-i;ascii-numeric\"]; if spamtest :value \"eq\" "
                 ":comparator \"i;ascii-numeric\" \"%s\" { discard; }",
                 sc[i].want);
        char *got = sv_run_full(sv, m, &sv_env, &cbs, &c2, NULL);
        CHECK_STR(got, "discard\n");
        if (strcmp(got, "discard\n") != 0)
            fprintf(stderr, "  X-Spam-Score: %s, want %s\n", sc[i].field, sc[i].want);
        free(got);
    }
    /* type strlen: SpamAssassin's X-Spam-Level run of stars, max 10 */
    c2.spam_header = "X-Spam-Level";
    c2.spam_strlen = true;
    const char *lv = "require [\"spamtestplus\", \"relational\", \"comparator-i;ascii-numeric\"]; if spamtest "
                     ":percent :value \"eq\" :comparator \"i;ascii-numeric\" \"50\" { discard; }";
    char *got = sv_run_full(lv, "X-Spam-Level: *****\r\n\r\n", &sv_env, &cbs, &c2, NULL);
    CHECK_STR(got, "discard\n");
    free(got);
    got = sv_run_full("require \"spamtest\"; if spamtest \"1\" { discard; }", "X-Spam-Level: \r\n\r\n", &sv_env,
                      &cbs, &c2, NULL);
    CHECK_STR(got, "discard\n"); /* tested, no stars: clear */
    free(got);
    got = sv_run_full("require \"spamtest\"; if spamtest \"0\" { discard; }", "Subject: x\r\n\r\n", &sv_env, &cbs,
                      &c2, NULL);
    CHECK_STR(got, "discard\n"); /* no such field: not tested */
    free(got);
}

/* ---- RFC 8579 special-use ---- */
static void test_special_use(void)
{
    CHECK_CB("require \"special-use\"; if specialuse_exists \"\\\\Junk\" { discard; }", "discard\n");
    CHECK_CB("require \"special-use\"; if specialuse_exists \"Junk\" \"\\\\Junk\" { discard; }", "discard\n");
    CHECK_CB("require \"special-use\"; if specialuse_exists \"INBOX\" \"\\\\Junk\" { discard; }", "keep (implicit)\n");
    CHECK_CB("require [\"special-use\", \"fileinto\"]; fileinto :specialuse \"\\\\Junk\" \"Spam\";",
             "fileinto \"Spam\" :specialuse \"\\Junk\"\n");
    CHECK_ERR("require \"fileinto\"; fileinto :specialuse \"\\\\Junk\" \"Spam\";", "needs require \"special-use\"");
}

/* ---- RFC 8580 fcc ---- */
static void test_fcc(void)
{
    CHECK_RUN("require [\"vacation\", \"fcc\", \"imap4flags\"]; vacation :handle \"h\" :fcc \"Sent\" :flags "
              "\"\\\\Seen\" :create \"away\";",
              "vacation seconds=604800 handle=\"h\" reason=\"away\" fcc=\"Sent\" :create flags=\\Seen\n"
              "keep (implicit)\n");
    CHECK_RUN("require [\"enotify\", \"fcc\"]; notify :fcc \"Sent\" \"mailto:a@example.com\";",
              "notify \"mailto:a@example.com\" importance=2 fcc=\"Sent\"\nkeep (implicit)\n");
    CHECK_ERR("require \"vacation\"; vacation :fcc \"Sent\" \"x\";", "needs require \"fcc\"");
}

/* ---- RFC 9042 mailboxid ---- */
static void test_mailboxid(void)
{
    CHECK_CB("require \"mailboxid\"; if mailboxidexists \"F2212d0fa-9b9c\" { discard; }", "discard\n");
    CHECK_CB("require \"mailboxid\"; if mailboxidexists [\"F2212d0fa-9b9c\", \"x\"] { discard; }", "keep (implicit)\n");
    CHECK_CB("require [\"mailboxid\", \"fileinto\"]; fileinto :mailboxid \"F2212d0fa-9b9c\" \"INBOX.foo\";",
             "fileinto \"INBOX.foo\" :mailboxid \"F2212d0fa-9b9c\"\n");
}

/* ---- RFC 6609 include ---- */
static void test_include(void)
{
    CHECK_CB("require \"include\"; include \"spam\";", "fileinto \"Junk\"\n");
    CHECK_CB("require \"include\"; include :global \"spam\";", "fileinto \"global-spam\"\n");
    CHECK_CB("require \"include\"; include :optional \"missing\";", "keep (implicit)\n");
    CHECK_CB("require \"include\"; include \"missing\";",
             "ERROR: include: script \"missing\" not found\nkeep (implicit)\n");
    CHECK_CB("require \"include\"; include \"loop\";", "ERROR: include: \"loop\" includes itself\nkeep (implicit)\n");
    CHECK_CB("require \"include\"; include \"bad\";",
             "ERROR: include: script \"bad\" does not compile: 1:1: unknown command \"frobnicate\"\nkeep (implicit)\n");
    /* return ends the included script only; stop ends everything */
    CHECK_CB("require [\"include\", \"fileinto\"]; include \"ret\"; fileinto \"main\";",
             "fileinto \"before\"\nfileinto \"main\"\n");
    CHECK_CB("require [\"include\", \"fileinto\"]; include \"stopper\"; fileinto \"main\";", "keep (implicit)\n");
    /* :once */
    CHECK_CB("require \"include\"; include :once \"spam\"; include :once \"spam\";", "fileinto \"Junk\"\n");
    /* global variables are shared, others are not (3.3) */
    CHECK_CB("require [\"include\", \"variables\"]; global \"box\"; set \"box\" \"G\"; include \"global-vars\";",
             "fileinto \"G\"\n");
    CHECK_CB("require [\"include\", \"variables\"]; set \"box\" \"L\"; include \"local-vars\";", "fileinto \"x\"\n");
    /* the RFC 6609 3.4.1 example */
    const char *ex = "require [\"fileinto\", \"include\", \"variables\", \"relational\"];\n"
                     "global \"test\";\nglobal \"test_mailbox\";\n"
                     "set \"test\" \"$$\";\ninclude \"subject_tests\";\n"
                     "set \"test\" \"Make money\";\ninclude \"subject_tests\";\n"
                     "if string :count \"eq\" \"${test_mailbox}\" \"1\"\n{\n    fileinto \"${test_mailbox}\";\n    stop;\n}\n";
    CHECK_CB_MSG(ex, "Subject: make MONEY fast\r\n\r\n", "fileinto \"spam-Make money\"\n");
    CHECK_CB_MSG(ex, "Subject: $$$ offer\r\n\r\n", "fileinto \"spam-$$\"\n");
    CHECK_CB_MSG(ex, "Subject: hello\r\n\r\n", "keep (implicit)\n");
    /* the "global" namespace (3.4.2) */
    CHECK_CB("require [\"include\", \"variables\", \"reject\"]; set \"global.box\" \"B\"; include \"ns\"; "
             "reject \"${global.seen}|${box}\";",
             "reject \"yes:B|\"\n");
    CHECK_ERR("require \"include\"; include \"../etc/passwd\";", "bad script name");
    CHECK_ERR("require [\"include\", \"variables\"]; include \"${x}\";", "must be a constant");
}

/* ---- draft-ietf-sieve-regex ---- */
static void test_regex(void)
{
    CHECK_RUN("require \"regex\"; if header :regex \"subject\" \"^I have .* for you$\" { discard; }", "discard\n");
    CHECK_RUN("require [\"regex\", \"variables\", \"fileinto\"]; if header :regex \"from\" \"([a-z]+)@([a-z.]+)\" { "
              "fileinto \"${1}-${2}\"; }",
              "fileinto \"coyote-desert.example.org\"\n");
    CHECK_RUN("require \"regex\"; if header :regex :comparator \"i;octet\" \"subject\" \"^i have\" { discard; }",
              "keep (implicit)\n");
    CHECK_ERR("require \"regex\"; if header :regex \"subject\" \"(a\" {}", "bad regex");
    CHECK_ERR("require \"regex\"; if header :regex \"subject\" \"(a)\\\\1\" {}", "backreference");
    CHECK_ERR("if header :regex \"subject\" \"a\" {}", "needs require \"regex\"");
    /* intervals multiply glibc's automaton: bounded */
    CHECK_ERR("require \"regex\"; if header :regex \"subject\" \"(a{1,100}){1,100}\" {}", "large repetition");
    CHECK(sv_compiles("require \"regex\"; if header :regex \"subject\" \"(a{1,16}){1,16}[{]\" {}"));
    /* stacked and nested "+" copy subtrees too (fuzz-sieve: out of memory) */
    CHECK_ERR("require [\"regex\", \"body\"]; if body :regex \"^[A-Z]++++++++++++++++++++++++++++++$\" {}", "large repetition");
    CHECK_ERR("require [\"regex\", \"body\"]; if body :regex \"((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+\" {}", "large repetition");
    CHECK(sv_compiles("require \"regex\"; if header :regex \"subject\" \"a+b+c+d+e+f+g+h+i+j+k+l+m+n+o+p+[[:alpha:]]+\" {}"));
    struct buf b = BUF_INIT;
    buf_puts(&b, "require \"regex\"; if header :regex \"subject\" \"");
    for (int i = 0; i < 600; i++)
        buf_putc(&b, 'a');
    buf_puts(&b, "\" {}");
    char *e = sv_errors(buf_cstr(&b), NULL);
    CHECK(strstr(e, "regex longer than 512 bytes") != NULL);
    free(e);
    buf_free(&b);
    /* a pattern made at run time is checked at run time */
    CHECK_RUN("require [\"regex\", \"variables\"]; set \"p\" \"(\"; if header :regex \"subject\" \"${p}\" { discard; }",
              "ERROR: bad regex \"(\"\nkeep (implicit)\n");
}

/* ---- RFC 5703 foreverypart, mime, extracttext ---- */
static const char mime_msg[] =
    "From: a@example.com\r\n"
    "Subject: parts\r\n"
    "Content-Type: multipart/mixed; boundary=outer\r\n"
    "\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=E9 cr=E8me br=FBl=E9e\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<b>hi</b>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: application/pdf; name=\"x.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"very important.pdf\"\r\n"
    "Content-From: Tim <tim@example.com>\r\n"
    "\r\n"
    "JVBERi0=\r\n"
    "--outer--\r\n";

static void test_mime(void)
{
    /* RFC 5703 4.1 examples */
    CHECK_RUN_MSG("require [\"mime\", \"fileinto\"]; if header :mime :type \"Content-Type\" \"image\" { fileinto "
                  "\"INBOX.images\"; }",
                  "Content-Type: image/png\r\n\r\nPNG\r\n", "fileinto \"INBOX.images\"\n");
    CHECK_RUN_MSG("require [\"mime\", \"fileinto\"]; if header :mime :type \"Content-Type\" \"image\" { fileinto "
                  "\"INBOX.images\"; }",
                  mime_msg, "keep (implicit)\n"); /* top level only */
    CHECK_RUN_MSG("require [\"mime\", \"fileinto\"]; if header :mime :anychild :contenttype \"Content-Type\" "
                  "\"text/html\" { fileinto \"INBOX.html\"; }",
                  mime_msg, "fileinto \"INBOX.html\"\n");
    CHECK_RUN_MSG("require [\"mime\", \"fileinto\"]; if header :mime :anychild :subtype \"Content-Type\" "
                  "\"jpeg\" { fileinto \"x\"; }",
                  mime_msg, "keep (implicit)\n");
    CHECK_RUN_MSG("require \"mime\"; if header :mime :anychild :param \"filename\" :contains "
                  "\"Content-Disposition\" \"important\" { discard; }",
                  mime_msg, "discard\n");
    CHECK_RUN_MSG("require \"mime\"; if header :mime :anychild :type \"Content-Disposition\" \"attachment\" { "
                  "discard; }",
                  mime_msg, "discard\n");
    /* 4.2 */
    CHECK_RUN_MSG("require [\"mime\", \"fileinto\"]; if address :mime :anychild :is :all \"content-from\" "
                  "\"tim@example.com\" { fileinto \"INBOX.part-from-tim\"; }",
                  mime_msg, "fileinto \"INBOX.part-from-tim\"\n");
    /* 4.3 */
    CHECK_RUN_MSG("require \"mime\"; if exists :mime :anychild \"content-from\" { discard; }", mime_msg,
                  "discard\n");
    CHECK_RUN_MSG("require \"mime\"; if exists :mime \"content-from\" { discard; }", mime_msg, "keep (implicit)\n");
    CHECK_ERR("require \"mime\"; if header :anychild \"a\" \"b\" {}", "need :mime");
    CHECK_ERR("require \"mime\"; if header :mime :type :subtype \"a\" \"b\" {}", "conflicts");
    CHECK_ERR("if header :mime \"a\" \"b\" {}", "needs require \"mime\"");
}

static void test_foreverypart(void)
{
    /* the RFC 5703 4.1 example (with a smaller size, and as a number: the
     * RFC's size :over "100K" is not valid RFC 5228 syntax) */
    CHECK_RUN_MSG("require [\"mime\", \"foreverypart\", \"fileinto\"]; foreverypart { if allof (header :mime "
                  ":param \"filename\" :contains \"Content-Disposition\" \"important\", header :mime :subtype "
                  "\"Content-Type\" \"pdf\", size :over 1) { fileinto \"INBOX.important\"; break; } }",
                  mime_msg, "fileinto \"INBOX.important\"\n");
    /* depth first over every part, the message itself first */
    CHECK_RUN_MSG("require [\"mime\", \"foreverypart\", \"variables\", \"reject\"]; set \"t\" \"\"; "
                  "foreverypart { if header :mime :matches :contenttype \"content-type\" \"*\" { set \"t\" "
                  "\"${t} ${1}\"; } } reject \"${t}\";",
                  mime_msg, "reject \" multipart/mixed multipart/alternative text/plain text/html application/pdf\"\n");
    /* a nested loop covers the parts below the outer one's; break :name */
    CHECK_RUN_MSG("require [\"mime\", \"foreverypart\", \"variables\", \"reject\"]; set \"t\" \"\"; "
                  "foreverypart :name \"outer\" { if header :mime :subtype \"content-type\" \"alternative\" { "
                  "foreverypart { set \"t\" \"${t}+\"; if header :mime :subtype \"content-type\" \"plain\" { "
                  "break :name \"outer\"; } } } set \"t\" \"${t}.\"; } reject \"${t}\";",
                  mime_msg, "reject \".+\"\n"); /* the break ends both loops */
    CHECK_ERR("require \"foreverypart\"; break;", "break outside foreverypart");
    CHECK_ERR("require \"foreverypart\"; foreverypart :name \"a\" { break :name \"b\"; }",
              "no enclosing foreverypart named \"b\"");
    CHECK_ERR("foreverypart { }", "needs require \"foreverypart\"");
}

static void test_extracttext(void)
{
    CHECK_RUN_MSG("require [\"mime\", \"foreverypart\", \"extracttext\", \"variables\", \"reject\"]; "
                  "foreverypart { if header :mime :contenttype \"content-type\" \"text/plain\" { extracttext "
                  ":first 10 \"x\"; extracttext :upper \"y\"; } } reject \"${x}|${y}\";",
                  mime_msg, "reject \"caf\xc3\xa9 cr\xc3\xa8me|CAF\xc3\xa9 CR\xc3\xa8ME BR\xc3\xbbL\xc3\xa9" "E\"\n");
    CHECK_ERR("require [\"extracttext\", \"variables\"]; extracttext \"x\";", "extracttext outside foreverypart");
    CHECK_ERR("require [\"extracttext\", \"foreverypart\"]; foreverypart { extracttext \"x\"; }",
              "needs require \"variables\"");
}

int main(void)
{
    unit_deadline(60);
    RUN(test_fileinto);
    RUN(test_reject);
    RUN(test_relational);
    RUN(test_subaddress);
    RUN(test_copy);
    RUN(test_imap4flags);
    RUN(test_imap4flags_example);
    RUN(test_variables);
    RUN(test_body);
    RUN(test_vacation);
    RUN(test_mailbox);
    RUN(test_environment);
    RUN(test_ihave);
    RUN(test_date);
    RUN(test_duplicate);
    RUN(test_editheader);
    RUN(test_enotify);
    RUN(test_spamtest);
    RUN(test_special_use);
    RUN(test_fcc);
    RUN(test_mailboxid);
    RUN(test_include);
    RUN(test_regex);
    RUN(test_mime);
    RUN(test_foreverypart);
    RUN(test_extracttext);
    return unit_done();
}
