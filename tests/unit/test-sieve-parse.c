/* test-sieve-parse.c - the Sieve grammar (RFC 5228 8), the validator
 * (require, arguments and tags per command, extensions) with line and
 * column in every error, the limits, and the checked binary form. */
#include "sieve-harness.h"

static void test_grammar_ok(void)
{
    /* RFC 5228 8 lexical forms: comments, multi-line strings with
     * dot-stuffing, quantifiers, string lists, nested tests */
    CHECK(sv_compiles(""));
    CHECK(sv_compiles("# just a comment\r\n"));
    CHECK(sv_compiles("/* bracket\n comment */ keep;"));
    CHECK(sv_compiles("if size :over 100K { discard; } elsif size :under 1M { keep; } else { stop; }"));
    CHECK(sv_compiles("require [\"fileinto\", \"reject\"];\nif anyof (not exists \"From\", header :is "
                      "[\"to\",\"cc\"] \"x\") { reject text:\r\nline 1\r\n..dot-stuffed\r\n.\r\n; }"));
    CHECK(sv_compiles("IF TRUE { KEEP; }"));      /* identifiers are case-insensitive */
    CHECK(sv_compiles("if true {}"));             /* empty block */
    CHECK(sv_compiles("require \"fileinto\"; fileinto \"a\\\"b\";"));
}

static void test_multiline(void)
{
    /* the string keeps CRLF line ends; a leading "." is removed (8.1) */
    CHECK_RUN("require \"reject\";\nreject text: # comment\n.hidden\nline\n.\n;",
              "reject \"hidden\r\nline\r\n\"\n");
}

static void test_grammar_errors(void)
{
    /* each error names the line and column of the offending token */
    CHECK_ERR("keep", "1:5: error: expected ';' or '{', found end of script");
    CHECK_ERR("if true {\n  keep\n}", "3:1: error: expected ';' or '{', found '}'");
    CHECK_ERR("keep;\n  \"x\";", "2:3: error: expected command");
    CHECK_ERR("require \"fileinto;", "1:9: error: unterminated string");
    CHECK_ERR("/* no end", "1:1: error: unterminated comment");
    /* a backslash as the last byte (found by fuzz-sieve: it looped) */
    CHECK_ERR("require \"a\\", "1:9: error: unterminated string");
    CHECK_ERR("if true { keep;", "1:16: error: expected command or '}'");
    CHECK_ERR("if header [\"a\" \"b\"] \"x\" {}", "1:16: error: expected ',' or ']'");
    CHECK_ERR("if allof (true, false {}", "1:23: error: expected ',' or ')'");
    CHECK_ERR("if size :over 99999999999999999999 {}", "number too large");
    CHECK_ERR("if size :over 18014398509481984G {}", "number too large");
    CHECK_ERR("keep;\n@", "2:1: error: unexpected character '@'");
    CHECK_ERR("require \"reject\"; reject text:\nno end\n", "unterminated multi-line string");
    CHECK_ERR("require \"reject\"; reject text: x\n.\n;", "must be followed by a line end");
    CHECK_ERR("require \"\xff\";", "not valid UTF-8");
    CHECK_ERR("if size :over 1x {}", "bad number");
}

static void test_validator_errors(void)
{
    CHECK_ERR("frobnicate;", "1:1: error: unknown command \"frobnicate\"");
    CHECK_ERR("if frob {}", "1:4: error: unknown test \"frob\"");
    CHECK_ERR("fileinto \"x\";", "1:1: error: \"fileinto\" needs require \"fileinto\"");
    CHECK_ERR("require \"frobnicate\";", "1:9: error: unsupported extension \"frobnicate\"");
    CHECK_ERR("keep;\nrequire \"fileinto\";", "2:1: error: require must come before every other command");
    CHECK_ERR("if true { require \"fileinto\"; }", "require must come before every other command");
    CHECK_ERR("elsif true {}", "\"elsif\" without a preceding \"if\"");
    CHECK_ERR("keep; else {}", "\"else\" without a preceding \"if\"");
    CHECK_ERR("if size 10 {}", "size needs :over or :under");
    CHECK_ERR("if size :over :under 10 {}", "conflicts");
    CHECK_ERR("if header :is :contains \"a\" \"b\" {}", "conflicts");
    CHECK_ERR("if header :frob \"a\" \"b\" {}", "1:11: error: unknown tag \":frob\"");
    CHECK_ERR("if header \"a\" {}", "takes 2 positional arguments, 1 given");
    CHECK_ERR("if header \"a\" \"b\" \"c\" {}", "takes 2 positional arguments, 3 given");
    CHECK_ERR("if header \"a\" :is \"b\" {}", "tag \":is\" after the positional arguments");
    CHECK_ERR("redirect [\"a@b.c\", \"d@e.f\"];", "argument 1 of \"redirect\" must be a string");
    CHECK_ERR("if size :over \"10\" {}", "must be a number");
    CHECK_ERR("if header :comparator \"i;frob\" \"a\" \"b\" {}", "comparator \"i;frob\" is unknown");
    CHECK_ERR("if header :comparator \"i;ascii-numeric\" \"a\" \"b\" {}", "is unknown or not required");
    CHECK_ERR("if header :comparator \"a\" {}", "comparator \"a\" is unknown");
    CHECK_ERR("if header :comparator {}", "tag \":comparator\" needs an argument");
    CHECK_ERR("if true;", "\"if\" needs a block");
    CHECK_ERR("keep { }", "\"keep\" takes no block");
    CHECK_ERR("if not {}", "1:4: error: \"not\" needs one test");
    CHECK_ERR("keep true;", "\"keep\" takes no test");
    CHECK_ERR("if keep {}", "\"keep\" is a command, not a test");
    CHECK_ERR("true;", "\"true\" is a test, not a command");
    CHECK_ERR("if header :value \"gt\" \"a\" \"b\" {}", "needs require \"relational\"");
    CHECK_ERR("require \"relational\"; if header :value \"xx\" \"a\" \"b\" {}", "relational operator");
    CHECK_ERR("if header :matches :comparator \"i;octet\" \"a\" \"b\" \"c\" {}", "takes 2");
    CHECK_ERR("if header \"bad name\" \"x\" {}", "bad header field name");
    /* several errors are all reported */
    char *e = sv_errors("frob;\nfrob2;\n", NULL);
    CHECK(strstr(e, "1:1: error") && strstr(e, "2:1: error"));
    free(e);
}

/* warnings do not stop a compile */
static void test_warnings(void)
{
    char *e = sv_errors("keep;\nstop;\n  discard;\n", NULL);
    CHECK_STR(e, "3:3: warning: \"discard\" after \"stop\" is never run\n");
    free(e);
    CHECK(sv_compiles("keep; stop; discard;"));
    CHECK_RUN("stop; discard;", "keep (implicit)\n");
}

static void test_limits(void)
{
    struct sieve_limits l;
    memset(&l, 0, sizeof(l));
    char *e;
    l.max_script_size = 10;
    e = sv_errors("keep; keep; keep;", &l);
    CHECK(strstr(e, "script larger than 10 bytes") != NULL);
    free(e);
    memset(&l, 0, sizeof(l));
    l.max_nesting = 3;
    e = sv_errors("if true { if true { if true { keep; } } }", &l);
    CHECK(strstr(e, "") && strstr(e, "error") == NULL);
    free(e);
    e = sv_errors("if true { if true { if true { if true { keep; } } } }", &l);
    CHECK(strstr(e, "nested deeper than 3") != NULL);
    free(e);
    e = sv_errors("if not not not not true { keep; }", &l);
    CHECK(strstr(e, "tests nested deeper than 3") != NULL);
    free(e);
    memset(&l, 0, sizeof(l));
    l.max_string = 4;
    e = sv_errors("require \"reject\"; reject \"abcde\";", &l);
    CHECK(strstr(e, "string longer than 4 bytes") != NULL);
    free(e);
    memset(&l, 0, sizeof(l));
    l.max_list = 2;
    e = sv_errors("if header [\"a\",\"b\",\"c\"] \"x\" {}", &l);
    CHECK(strstr(e, "string list longer than 2 strings") != NULL);
    free(e);
    memset(&l, 0, sizeof(l));
    l.max_commands = 3;
    e = sv_errors("keep; keep; keep; keep;", &l);
    CHECK(strstr(e, "1:19: error: more than 3 commands") != NULL);
    free(e);
    /* deep nesting with the default limit: an error, not a stack overflow */
    struct buf b = BUF_INIT;
    for (int i = 0; i < 100000; i++)
        buf_puts(&b, "if true {");
    e = sv_errors(buf_cstr(&b), NULL);
    CHECK(strstr(e, "nested deeper than 32") != NULL);
    free(e);
    buf_reset(&b);
    buf_puts(&b, "if ");
    for (int i = 0; i < 100000; i++)
        buf_puts(&b, "anyof(");
    e = sv_errors(buf_cstr(&b), NULL);
    CHECK(strstr(e, "nested deeper than 32") != NULL);
    free(e);
    buf_free(&b);
    /* only the allowed extensions */
    memset(&l, 0, sizeof(l));
    l.extensions = "fileinto envelope";
    e = sv_errors("require [\"fileinto\", \"vacation\"];", &l);
    CHECK(strstr(e, "unsupported extension \"vacation\"") != NULL);
    CHECK(strstr(e, "\"fileinto\"") == NULL);
    free(e);
}

static void test_capabilities(void)
{
    const char *caps = sieve_extensions_string();
    CHECK(strstr(caps, "fileinto") != NULL);
    CHECK(strstr(caps, "comparator-i;ascii-numeric") != NULL);
    CHECK(sieve_extension_known("vacation-seconds"));
    CHECK(!sieve_extension_known("frobnicate"));
    CHECK(!sieve_extension_known(""));
    CHECK_STR(sieve_notify_methods_string(), "mailto");
    /* every advertised extension can be required */
    char *copy = xstrdup(caps);
    for (char *save = NULL, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char *script = xasprintf("require \"%s\";", t);
        if (!sv_compiles(script))
            fprintf(stderr, "  advertised but not requirable: %s\n", t);
        CHECK(sv_compiles(script));
        free(script);
    }
    free(copy);
}

static unsigned char *compile_ok(const char *src, size_t *bl)
{
    struct sieve_diags d;
    memset(&d, 0, sizeof(d));
    unsigned char *bin = NULL;
    CHECK(sieve_compile(src, strlen(src), NULL, &bin, bl, &d));
    sieve_diags_free(&d);
    return bin;
}

static void test_binary(void)
{
    /* RFC 5229 3's example: decoded first, then expanded */
    const char *src = "require [\"fileinto\", \"variables\", \"encoded-character\"];\n"
                      "set \"name\" \"Ethelbert\";\n"
                      "if header :contains \"subject\" \"present\" { fileinto \"dear${hex:20 24 7b 4e}ame}\"; }\n";
    size_t bl = 0;
    unsigned char *bin = compile_ok(src, &bl);
    CHECK(bin && bl > 20 && memcmp(bin, "DSVB", 4) == 0);
    enum sieve_load_status st;
    struct sieve_script *s = sieve_binary_load(bin, bl, NULL, &st);
    CHECK(s != NULL && st == SIEVE_LOAD_OK);
    /* the RFC 5229 3 example: "dear ${Name}", expanded at run time */
    if (s) {
        struct sieve_result *r;
        CHECK_INT(sieve_run(s, sv_msg, strlen(sv_msg), &sv_env, NULL, NULL, NULL, &r), SIEVE_RUN_OK);
        struct buf out = BUF_INIT;
        sieve_result_describe(r, &out);
        CHECK_STR(buf_cstr(&out), "fileinto \"dear Ethelbert\"\n");
        buf_free(&out);
        sieve_result_free(r);
        sieve_script_free(s);
    }
    /* any damaged byte is caught */
    size_t bad = 0;
    for (size_t i = 0; i < bl; i++) {
        unsigned char *c = xmemdup(bin, bl);
        c[i] ^= 0x20;
        struct sieve_script *x = sieve_binary_load(c, bl, NULL, &st);
        if (x || st == SIEVE_LOAD_OK)
            bad++;
        sieve_script_free(x);
        free(c);
    }
    CHECK_INT(bad, 0);
    /* truncated */
    for (size_t n = 0; n < bl; n++) {
        struct sieve_script *x = sieve_binary_load(bin, n, NULL, &st);
        CHECK(x == NULL && st == SIEVE_LOAD_CORRUPT);
        sieve_script_free(x);
    }
    /* an extension no longer allowed: refused at load as well */
    {
        size_t vl = 0;
        unsigned char *vb = compile_ok("require \"vacation\"; vacation \"x\";", &vl);
        struct sieve_limits l;
        memset(&l, 0, sizeof(l));
        l.extensions = "fileinto";
        struct sieve_script *x = sieve_binary_load(vb, vl, &l, &st);
        CHECK(x == NULL && st == SIEVE_LOAD_CORRUPT);
        sieve_script_free(x);
        x = sieve_binary_load(vb, vl, NULL, &st);
        CHECK(x != NULL && st == SIEVE_LOAD_OK);
        sieve_script_free(x);
        free(vb);
    }
    /* another format version: recompile */
    unsigned char *c = xmemdup(bin, bl);
    c[4] = SIEVE_BINARY_VERSION + 1;
    CHECK(sieve_binary_load(c, bl, NULL, &st) == NULL && st == SIEVE_LOAD_VERSION);
    free(c);
    free(bin);
}

/* A payload with a valid checksum that does not validate (a command
 * unknown to this build) is refused too. */
static void test_binary_revalidated(void)
{
    size_t bl = 0;
    unsigned char *bin = compile_ok("keep;", &bl);
    /* payload: count 1, name "keep" (len 4) -> rename to "kexp" */
    unsigned char *p = memmem(bin, bl, "keep", 4);
    CHECK(p != NULL);
    if (p) {
        p[2] = 'x';
        /* fix the checksum (FNV-1a 64 over the payload) */
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 20; i < bl; i++) {
            h ^= bin[i];
            h *= 0x100000001b3ull;
        }
        for (int i = 0; i < 8; i++)
            bin[12 + i] = (unsigned char)(h >> (8 * i));
        enum sieve_load_status st;
        struct sieve_script *s = sieve_binary_load(bin, bl, NULL, &st);
        CHECK(s == NULL && st == SIEVE_LOAD_CORRUPT);
        sieve_script_free(s);
    }
    free(bin);
}

static void test_encoded_character(void)
{
    /* RFC 5228 2.4.2.4 examples */
    CHECK_RUN("require [\"encoded-character\", \"reject\"]; reject \"$${hex:40}{unicode:40}\";",
              "reject \"$@{unicode:40}\"\n");
    CHECK_RUN("require [\"encoded-character\", \"reject\"]; reject \"${hex: 40 41}${unicode:2200}\";",
              "reject \"@A\xe2\x88\x80\"\n");
    /* malformed: left as it is */
    CHECK_RUN("require [\"encoded-character\", \"reject\"]; reject \"${hex:zz}${hex:}${unicode 41}\";",
              "reject \"${hex:zz}${hex:}${unicode 41}\"\n");
    /* decoded once, at compile: the "${hex:41}" it produces stays (the
     * binary keeps the decoded text and loading does not decode again) */
    CHECK_RUN("require [\"encoded-character\", \"reject\"]; reject \"$${hex:7b}hex:41}\";",
              "reject \"${hex:41}\"\n");
    /* without the require nothing is decoded */
    CHECK_RUN("require \"reject\"; reject \"${hex:40}\";", "reject \"${hex:40}\"\n");
    /* a surrogate or beyond U+10FFFF is an error */
    CHECK_ERR("require [\"encoded-character\", \"reject\"]; reject \"${unicode:D800}\";", "not a Unicode scalar");
    CHECK_ERR("require [\"encoded-character\", \"reject\"]; reject \"${unicode:110000}\";", "not a Unicode scalar");
}

int main(void)
{
    unit_deadline(60);
    RUN(test_grammar_ok);
    RUN(test_multiline);
    RUN(test_grammar_errors);
    RUN(test_validator_errors);
    RUN(test_warnings);
    RUN(test_limits);
    RUN(test_capabilities);
    RUN(test_binary);
    RUN(test_binary_revalidated);
    RUN(test_encoded_character);
    return unit_done();
}
