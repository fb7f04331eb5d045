/* test-sieve-run.c - the interpreter core (RFC 5228): implicit keep
 * (2.10.2), duplicate actions (2.10.3), the base tests (5.x) with the
 * comparators and match types (2.7), control commands (3.x), run-time
 * errors and limits (2.10.6, 2.10.7) falling back to keep. */
#include "sieve-harness.h"

static void test_implicit_keep(void)
{
    CHECK_RUN("", "keep (implicit)\n");
    CHECK_RUN("# nothing", "keep (implicit)\n");
    CHECK_RUN("keep;", "keep\n");
    CHECK_RUN("keep; keep;", "keep\n"); /* 2.10.3 */
    CHECK_RUN("discard;", "discard\n");
    CHECK_RUN("discard; keep;", "discard\nkeep\n");
    CHECK_RUN("require \"fileinto\"; fileinto \"a\";", "fileinto \"a\"\n");
    CHECK_RUN("require \"fileinto\"; fileinto \"a\"; fileinto \"a\"; fileinto \"b\";",
              "fileinto \"a\"\nfileinto \"b\"\n");
    CHECK_RUN("redirect \"x@example.com\";", "redirect \"x@example.com\"\n");
    CHECK_RUN("redirect \"x@example.com\"; redirect \"X@example.com\";", "redirect \"x@example.com\"\n");
    CHECK_RUN("stop; discard;", "keep (implicit)\n");
    /* keep's mailbox is INBOX: never stored there twice (2.10.3) */
    CHECK_RUN("require \"fileinto\"; keep; fileinto \"INBOX\";", "keep\n");
    CHECK_RUN("require \"fileinto\"; fileinto \"inbox\"; keep;", "fileinto \"inbox\"\n");
    CHECK_RUN("require [\"fileinto\", \"copy\"]; fileinto :copy \"INBOX\";", "fileinto \"INBOX\" :copy\n");
    CHECK_RUN("if false { discard; }", "keep (implicit)\n");
}

/* RFC 5228 3.1's example */
static void test_if_elsif_else(void)
{
    const char *s = "require \"fileinto\";\n"
                    "if header :contains \"from\" \"coyote\" {\n"
                    "    discard;\n"
                    "} elsif header :contains [\"subject\"] [\"$$$\"] {\n"
                    "    discard;\n"
                    "} else {\n"
                    "    fileinto \"INBOX\";\n"
                    "}\n";
    CHECK_RUN(s, "discard\n");
    CHECK_RUN_MSG(s, "From: bob@x\r\nSubject: $$$ now\r\n\r\nx\r\n", "discard\n");
    CHECK_RUN_MSG(s, "From: bob@x\r\nSubject: hi\r\n\r\nx\r\n", "fileinto \"INBOX\"\n");
    /* only one branch of a chain runs; a new "if" starts a new chain */
    CHECK_RUN("require \"fileinto\"; if true { fileinto \"a\"; } elsif true { fileinto \"b\"; } else { fileinto "
              "\"c\"; } if false { fileinto \"d\"; } else { fileinto \"e\"; }",
              "fileinto \"a\"\nfileinto \"e\"\n");
}

static void test_header(void)
{
    CHECK_RUN("if header :is \"Subject\" \"I have a present for you\" { discard; }", "discard\n");
    CHECK_RUN("if header :is \"subject\" \"i HAVE a present for you\" { discard; }", "discard\n");
    CHECK_RUN("if header :is :comparator \"i;octet\" \"subject\" \"i HAVE a present for you\" { discard; }",
              "keep (implicit)\n");
    CHECK_RUN("if header :contains [\"x\", \"subject\"] [\"nope\", \"PRESENT\"] { discard; }", "discard\n");
    CHECK_RUN("if header :contains \"subject\" \"\" { discard; }", "discard\n");
    CHECK_RUN("if header :contains \"no-such\" \"\" { discard; }", "keep (implicit)\n");
    /* RFC 2047 words are decoded and values unfolded before comparing */
    CHECK_RUN_MSG("if header :is \"subject\" \"caf\xc3\xa9 au lait\" { discard; }",
                  "Subject: =?ISO-8859-1?Q?caf=E9?=\r\n au lait\r\n\r\n", "discard\n");
}

/* RFC 5228 2.7.1 :matches */
static void test_matches(void)
{
    CHECK_RUN("if header :matches \"subject\" \"I have*\" { discard; }", "discard\n");
    CHECK_RUN("if header :matches \"subject\" \"*present*\" { discard; }", "discard\n");
    CHECK_RUN("if header :matches \"subject\" \"I have ? present for you\" { discard; }", "discard\n");
    CHECK_RUN("if header :matches \"subject\" \"I have ?? present for you\" { discard; }", "keep (implicit)\n");
    CHECK_RUN("if header :matches \"subject\" \"present\" { discard; }", "keep (implicit)\n");
    CHECK_RUN("if header :matches \"x-caffeine\" \"1?\" { discard; }", "discard\n");
    CHECK_RUN("if header :matches \"subject\" \"*\" { discard; }", "discard\n");
    /* "\\*" is a literal star, "\\?" a literal question mark */
    CHECK_RUN_MSG("if header :matches \"subject\" \"a\\\\*b\" { discard; }", "Subject: a*b\r\n\r\n", "discard\n");
    CHECK_RUN_MSG("if header :matches \"subject\" \"a\\\\*b\" { discard; }", "Subject: axb\r\n\r\n",
                  "keep (implicit)\n");
    /* "?" is one character, not one byte */
    CHECK_RUN_MSG("if header :matches \"subject\" \"caf?\" { discard; }", "Subject: caf\xc3\xa9\r\n\r\n",
                  "discard\n");
    /* a pathological pattern stays fast */
    struct buf b = BUF_INIT;
    buf_puts(&b, "if header :matches \"subject\" \"");
    for (int i = 0; i < 100; i++)
        buf_puts(&b, "*a");
    buf_puts(&b, "b\" { discard; }");
    struct buf m = BUF_INIT;
    buf_puts(&m, "Subject: ");
    for (int i = 0; i < 5000; i++)
        buf_putc(&m, 'a');
    buf_puts(&m, "\r\n\r\n");
    char *got = sv_run_full(buf_cstr(&b), buf_cstr(&m), &sv_env, NULL, NULL, NULL);
    CHECK(strstr(got, "keep (implicit)") != NULL);
    free(got);
    /* the matcher's work counts against max_steps, and it stops when
     * the budget is gone */
    struct sieve_limits l;
    memset(&l, 0, sizeof(l));
    l.max_steps = 1000;
    buf_reset(&b);
    buf_puts(&b, "if header :matches \"subject\" \"*");
    for (int i = 0; i < 1000; i++)
        buf_putc(&b, 'a');
    buf_puts(&b, "b\" { discard; }");
    got = sv_run_full(buf_cstr(&b), buf_cstr(&m), &sv_env, NULL, NULL, &l);
    CHECK_STR(got, "ERROR: script used more than 1000 steps\nkeep (implicit)\n");
    free(got);
    buf_free(&b);
    buf_free(&m);
}

/* RFC 5228 5.1 address, 2.7.4 address parts */
static void test_address(void)
{
    CHECK_RUN("if address :is :all \"from\" \"coyote@desert.example.org\" { discard; }", "discard\n");
    CHECK_RUN("if address :is \"from\" \"COYOTE@desert.example.org\" { discard; }", "discard\n");
    CHECK_RUN("if address :is :localpart \"from\" \"coyote\" { discard; }", "discard\n");
    CHECK_RUN("if address :is :domain \"from\" \"desert.example.org\" { discard; }", "discard\n");
    CHECK_RUN("if address :is :domain \"to\" \"example.com\" { discard; }", "discard\n");
    CHECK_RUN("if address :is :all \"to\" \"roadrunner@acme.example.com\" { discard; }", "discard\n");
    CHECK_RUN("if address :is :all \"cc\" \"x@y.example\" { discard; }", "discard\n");
    CHECK_RUN("if address :contains :all \"from\" \"Wile\" { discard; }", "keep (implicit)\n");
    /* 5.1: only fields that hold addresses */
    CHECK_ERR("if address :is \"subject\" \"x@y\" {}", "\"subject\" is not a header field holding addresses");
    CHECK_RUN("require \"variables\"; set \"h\" \"subject\"; if address :matches \"${h}\" \"*\" { discard; }",
              "keep (implicit)\n");
    CHECK_RUN("require \"variables\"; set \"h\" \"FROM\"; if address :matches \"${h}\" \"*@*\" { discard; }",
              "discard\n");
    CHECK_RUN_MSG("if address :is :all \"to\" \"c@d.example\" { discard; }",
                  "To: undisclosed:;, \"A, B\" <a@b.example>, Group: c@d.example, e@f.example;\r\n\r\n",
                  "discard\n");
    CHECK_RUN_MSG("if address :is :all \"to\" \"a@b.example\" { discard; }",
                  "To: \"A, B\" <@route.example:a@b.example>\r\n\r\n", "discard\n");
}

/* RFC 5228 5.4 envelope */
static void test_envelope(void)
{
    CHECK_ERR("if envelope \"from\" \"x\" {}", "needs require \"envelope\"");
    CHECK_ERR("require \"envelope\"; if envelope \"frob\" \"x\" {}", "unknown envelope part");
    CHECK_RUN("require \"envelope\"; if envelope :is \"from\" \"coyote@desert.example.org\" { discard; }",
              "discard\n");
    CHECK_RUN("require \"envelope\"; if envelope :domain \"to\" \"acme.example.com\" { discard; }", "discard\n");
    CHECK_RUN("require \"envelope\"; if envelope :localpart \"to\" \"roadrunner+wile\" { discard; }", "discard\n");
    /* the null reverse-path is "" (5.4) */
    struct sieve_envelope e = {"", "a@b", NULL, NULL};
    char *got = sv_run_full("require \"envelope\"; if envelope :is \"from\" \"\" { discard; }", sv_msg, &e, NULL,
                            NULL, NULL);
    CHECK_STR(got, "discard\n");
    free(got);
}

static void test_exists_size_logic(void)
{
    CHECK_RUN("if exists [\"From\", \"Date\"] { discard; }", "discard\n");
    CHECK_RUN("if exists [\"From\", \"X-None\"] { discard; }", "keep (implicit)\n");
    CHECK_RUN("if size :over 100 { discard; }", "discard\n");
    CHECK_RUN("if size :under 100 { discard; }", "keep (implicit)\n");
    CHECK_RUN("if size :over 1K { discard; }", "keep (implicit)\n");
    CHECK_RUN("if not size :over 1K { discard; }", "discard\n");
    CHECK_RUN("if allof (true, exists \"from\", not false) { discard; }", "discard\n");
    CHECK_RUN("if allof (true, false) { discard; }", "keep (implicit)\n");
    CHECK_RUN("if anyof (false, false) { discard; }", "keep (implicit)\n");
    CHECK_RUN("if anyof (false, true) { discard; }", "discard\n");
}

static void test_comparators(void)
{
    /* RFC 4790 9.1 i;ascii-numeric */
    CHECK_RUN("require \"comparator-i;ascii-numeric\"; if header :is :comparator \"i;ascii-numeric\" "
              "\"x-caffeine\" \"0012\" { discard; }",
              "discard\n");
    CHECK_RUN("require \"comparator-i;ascii-numeric\"; if header :is :comparator \"i;ascii-numeric\" "
              "\"x-caffeine\" \"12abc\" { discard; }",
              "discard\n");
    CHECK_RUN("require \"comparator-i;ascii-numeric\"; if header :is :comparator \"i;ascii-numeric\" "
              "\"subject\" \"x\" { discard; }",
              "discard\n"); /* both non-numeric: equal (positive infinity) */
    CHECK_ERR("require \"comparator-i;ascii-numeric\"; if header :contains :comparator \"i;ascii-numeric\" "
              "\"x\" \"1\" {}",
              "cannot be used with this match type");
    CHECK_RUN("if header :is :comparator \"i;octet\" \"subject\" \"I have a present for you\" { discard; }",
              "discard\n");
    CHECK_RUN("if header :contains :comparator \"i;ascii-casemap\" \"subject\" \"PRESENT\" { discard; }",
              "discard\n");
}

static void test_redirect(void)
{
    CHECK_RUN("redirect \"<bob@example.com>\";", "redirect \"bob@example.com\"\n");
    /* an invalid address is a run-time error: keep */
    CHECK_RUN("redirect \"not an address\";", "ERROR: redirect: bad address\nkeep (implicit)\n");
    CHECK_RUN("redirect \"-oQ@x\";", "ERROR: redirect: bad address\nkeep (implicit)\n");
    /* MAXREDIRECTS (default 4) */
    CHECK_RUN("redirect \"a@x.example\"; redirect \"b@x.example\"; redirect \"c@x.example\"; redirect "
              "\"d@x.example\"; redirect \"e@x.example\";",
              "ERROR: more than 4 redirects\nkeep (implicit)\n");
}

static void test_limits(void)
{
    struct sieve_limits l;
    memset(&l, 0, sizeof(l));
    l.max_steps = 50;
    struct buf b = BUF_INIT;
    for (int i = 0; i < 100; i++)
        buf_puts(&b, "if header :contains \"subject\" \"nothing\" { discard; }\n");
    char *got = sv_run_full(buf_cstr(&b), sv_msg, &sv_env, NULL, NULL, &l);
    CHECK_STR(got, "ERROR: script used more than 50 steps\nkeep (implicit)\n");
    free(got);
    buf_free(&b);
    memset(&l, 0, sizeof(l));
    l.max_actions = 2;
    got = sv_run_full("require \"fileinto\"; fileinto \"a\"; fileinto \"b\"; fileinto \"c\";", sv_msg, &sv_env,
                      NULL, NULL, &l);
    CHECK_STR(got, "ERROR: more than 2 actions\nkeep (implicit)\n");
    free(got);
    /* scanning a huge header for many names costs steps too */
    {
        struct buf m = BUF_INIT, sc = BUF_INIT;
        for (int i = 0; i < 100000; i++)
            buf_printf(&m, "X-%d: v\r\n", i);
        buf_puts(&m, "\r\nbody\r\n");
        buf_puts(&sc, "if header :is [");
        for (int i = 0; i < 1000; i++)
            buf_printf(&sc, "%s\"Y-%d\"", i ? "," : "", i);
        buf_puts(&sc, "] \"v\" { discard; }");
        char *g = sv_run_full(buf_cstr(&sc), buf_cstr(&m), &sv_env, NULL, NULL, NULL);
        CHECK_STR(g, "ERROR: script used more than 1000000 steps\nkeep (implicit)\n");
        free(g);
        buf_free(&m);
        buf_free(&sc);
    }
    /* a run-time error throws away every action so far, keep only */
    CHECK_RUN("require [\"fileinto\", \"variables\"]; fileinto \"a\"; redirect \"b@c.example\"; fileinto \"${x}\";",
              "ERROR: fileinto: bad mailbox name\nkeep (implicit)\n");
}

static void test_bad_messages(void)
{
    /* never fails on malformed mail */
    CHECK_RUN_MSG("if header :contains \"subject\" \"x\" { discard; }", "", "keep (implicit)\n");
    CHECK_RUN_MSG("if exists \"subject\" { discard; }", "Subject x\r\nno colon\r\n", "keep (implicit)\n");
    CHECK_RUN_MSG("if address :all :is \"from\" \"\" { discard; }", "From: <>\r\n\r\n", "keep (implicit)\n");
    CHECK_RUN_MSG("if address :all :is \"from\" \"a@b\" { discard; }", "From: ((((a@b\r\n\r\n", "keep (implicit)\n");
}

/* RFC 5228 9, the extended example, through each of its branches */
static void test_extended_example(void)
{
    const char *s = "#\n# Example Sieve Filter\n# Declare any optional features or extension used by the script\n#\n"
                    "require [\"fileinto\"];\n"
                    "if header :is \"Sender\" \"owner-ietf-mta-filters@imc.org\"\n"
                    "        {\n        fileinto \"filter\";  # move to \"filter\" mailbox\n        }\n"
                    "elsif address :DOMAIN :is [\"From\", \"To\"] \"example.com\"\n"
                    "        {\n        keep;               # keep in \"In\" mailbox\n        }\n"
                    "elsif anyof (NOT address :all :contains\n               [\"To\", \"Cc\", \"Bcc\"] \"me@example.com\",\n"
                    "             header :matches \"subject\"\n"
                    "               [\"*make*money*fast*\", \"*university*dipl*mas*\"])\n"
                    "        {\n        fileinto \"spam\";   # move to \"spam\" mailbox\n        }\n"
                    "else\n        {\n        fileinto \"personal\";\n        }\n";
    CHECK_RUN_MSG(s, "Sender: owner-ietf-mta-filters@imc.org\r\nTo: me@example.com\r\n\r\n", "fileinto \"filter\"\n");
    CHECK_RUN_MSG(s, "From: boss@EXAMPLE.com\r\nTo: me@example.com\r\n\r\n", "keep\n");
    CHECK_RUN_MSG(s, "From: x@other.example\r\nTo: someone@else.example\r\n\r\n", "fileinto \"spam\"\n");
    CHECK_RUN_MSG(s, "From: x@other.example\r\nTo: me@example.com.elsewhere.example\r\nSubject: Make Money Fast now\r\n\r\n",
                  "fileinto \"spam\"\n");
    CHECK_RUN_MSG(s, "From: x@other.example\r\nCc: Me <me@example.com>\r\nSubject: hello\r\n\r\n",
                  "fileinto \"personal\"\n");
}

int main(void)
{
    unit_deadline(60);
    RUN(test_implicit_keep);
    RUN(test_if_elsif_else);
    RUN(test_header);
    RUN(test_matches);
    RUN(test_address);
    RUN(test_envelope);
    RUN(test_exists_size_logic);
    RUN(test_comparators);
    RUN(test_redirect);
    RUN(test_limits);
    RUN(test_bad_messages);
    RUN(test_extended_example);
    return unit_done();
}
