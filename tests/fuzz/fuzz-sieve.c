/* fuzz-sieve.c - the Sieve language core (src/sieve): parser, validator,
 * binary form and interpreter.
 *
 * Input: byte 0 selects the mode; the rest is the argument.
 *   even: a script. It is compiled; a script that compiles is loaded from
 *         its binary (which must succeed: the binary of a valid script is
 *         valid) and run against a multipart message (or, when bit 1 of
 *         byte 0 is set, against the text after the script's first NUL
 *         byte, so the message is fuzzed too) with an envelope,
 *         every callback and small run limits; a script that does not
 *         compile must have produced an error with a line and column
 *         inside the script.
 *   odd:  a binary payload: wrapped in a correct header (magic, version,
 *         length, checksum) so the structure decoder and the validation
 *         on load are what gets exercised; when it loads, it is run.
 * Checked besides the sanitizers: the result of a run is never empty (an
 * error leaves exactly one implicit keep), and the run is deterministic
 * (a second run describes the same actions). */
#include "support.h"
#include "sieve.h"

static const char msg[] = "Return-Path: <a@example.org>\r\n"
                          "Received: from x by y; Tue, 1 Dec 2026 10:20:30 +0100\r\n"
                          "From: \"A, B\" <a+tag@example.org>, c@example.net\r\n"
                          "To: undisclosed-recipients:;\r\n"
                          "Subject: =?UTF-8?B?Y2Fmw6k=?= test\r\n"
                          "Date: Tue, 01 Dec 2026 10:20:30 +0100\r\n"
                          "Message-ID: <m1@example.org>\r\n"
                          "X-Spam-Score: 4.2\r\n"
                          "MIME-Version: 1.0\r\n"
                          "Content-Type: multipart/mixed; boundary=outer\r\n"
                          "\r\n" FUZZ_MSG_OUTER_PARTS
                          "Content-Type: application/octet-stream\r\n"
                          "\r\n"
                          "AAAA\r\n"
                          "--outer--\r\n";

static bool f_exists(void *ctx, const char *mb)
{
    (void)ctx;
    return strcmp(mb, "INBOX") == 0;
}

static bool f_specialuse(void *ctx, const char *mb, const char *flag)
{
    (void)ctx;
    return (!mb || strcmp(mb, "Junk") == 0) && strcmp(flag, "\\Junk") == 0;
}

static bool f_dup(void *ctx, const char *handle, const char *value, size_t vlen, uint64_t secs, bool last)
{
    (void)ctx;
    (void)secs;
    (void)last;
    return vlen > 0 && value[0] == '<' && handle[0] == '\0';
}

/* A personal "a" (includes "b") and "b", and a global "g". */
static char *f_include(void *ctx, const char *name, bool global, size_t *len)
{
    (void)ctx;
    const char *s = NULL;
    if (global && strcmp(name, "g") == 0)
        s = "require [\"fileinto\", \"variables\", \"include\"]; global \"v\"; fileinto \"g${v}\";";
    else if (!global && strcmp(name, "a") == 0)
        s = "require \"include\"; include \"b\"; include :once \"a\";";
    else if (!global && strcmp(name, "b") == 0)
        s = "discard;";
    if (!s)
        return NULL;
    *len = strlen(s);
    return xstrdup(s);
}

static const struct sieve_callbacks cbs = {NULL, f_exists, f_specialuse, f_exists, f_dup, f_include};
static const struct sieve_run_config cfg = {.domain = "example.org", .spam_header = "X-Spam-Score",
                                            .spam_max = 10, .virus_header = "X-Virus", .now = 1764584430};
static const struct sieve_envelope env = {"a@example.org", "user+box@example.net", NULL, "user"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-sieve");
    return 0;
}

static void run(const struct sieve_script *s, const struct sieve_limits *lim, const char *m, size_t ml)
{
    struct sieve_result *r1 = NULL, *r2 = NULL;
    sieve_run(s, m, ml, &env, &cbs, &cfg, lim, &r1);
    sieve_run(s, m, ml, &env, &cbs, &cfg, lim, &r2);
    if (sieve_result_count(r1) == 0)
        abort(); /* at least the implicit keep, a keep, a discard, ... */
    if (sieve_result_error(r1) &&
        (sieve_result_count(r1) != 1 || !sieve_result_action(r1, 0)->implicit))
        abort();
    struct buf a = BUF_INIT, b = BUF_INIT;
    sieve_result_describe(r1, &a);
    sieve_result_describe(r2, &b);
    if (a.len != b.len || memcmp(buf_cstr(&a), buf_cstr(&b), a.len) != 0)
        abort();
    size_t hl;
    (void)sieve_result_header(r1, &hl, NULL);
    buf_free(&a);
    buf_free(&b);
    sieve_result_free(r1);
    sieve_result_free(r2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct sieve_limits lim;
    memset(&lim, 0, sizeof(lim));
    lim.max_steps = 20000;
    lim.max_string = 4096;
    lim.max_list = 64;
    lim.max_commands = 2000;
    const char *src = (const char *)data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        const char *m = msg;
        size_t ml = sizeof(msg) - 1;
        char *own_msg = NULL;
        if (data[0] & 2) {
            const char *nul = memchr(src, '\0', n);
            if (nul) {
                ml = n - (size_t)(nul + 1 - src);
                own_msg = xmalloc(ml ? ml : 1); /* exactly ml bytes for ASan */
                memcpy(own_msg, nul + 1, ml);
                m = own_msg;
                n = (size_t)(nul - src);
            }
        }
        char *copy = xmalloc(n ? n : 1); /* exactly n bytes for ASan */
        memcpy(copy, src, n);
        struct sieve_diags d;
        memset(&d, 0, sizeof(d));
        unsigned char *bin = NULL;
        size_t bl = 0;
        if (sieve_compile(copy, n, &lim, &bin, &bl, &d)) {
            enum sieve_load_status st;
            struct sieve_script *s = sieve_binary_load(bin, bl, &lim, &st);
            if (!s || st != SIEVE_LOAD_OK)
                abort(); /* the binary of a valid script must load */
            run(s, &lim, m, ml);
            sieve_script_free(s);
        } else {
            if (d.nerrors == 0)
                abort();
            /* errors point into the script */
            size_t lines = 1;
            for (size_t i = 0; i < n; i++)
                lines += copy[i] == '\n';
            for (size_t i = 0; i < d.n; i++)
                if (d.v[i].line < 1 || d.v[i].line > lines || d.v[i].col < 1)
                    abort();
        }
        struct buf out = BUF_INIT;
        sieve_diags_format(&d, &out);
        buf_free(&out);
        sieve_diags_free(&d);
        free(bin);
        free(copy);
        free(own_msg);
    } else {
        unsigned char *b = xmalloc(20 + n);
        memcpy(b, "DSVB", 4);
        uint64_t v = SIEVE_BINARY_VERSION, len = n, h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < n; i++) {
            h ^= (unsigned char)src[i];
            h *= 0x100000001b3ull;
        }
        for (int i = 0; i < 4; i++) {
            b[4 + i] = (unsigned char)(v >> (8 * i));
            b[8 + i] = (unsigned char)(len >> (8 * i));
        }
        for (int i = 0; i < 8; i++)
            b[12 + i] = (unsigned char)(h >> (8 * i));
        memcpy(b + 20, src, n);
        enum sieve_load_status st;
        struct sieve_script *s = sieve_binary_load(b, 20 + n, &lim, &st);
        if (s)
            run(s, &lim, msg, sizeof(msg) - 1);
        sieve_script_free(s);
        free(b);
    }
    return 0;
}
