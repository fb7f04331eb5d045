/* sieve-harness.h - helpers for the tests/unit/test-sieve-*.c groups:
 * compile a script, run it on a message, and describe the outcome as one
 * text (sieve_result_describe), so a test reads as "this script on this
 * message gives these actions". */
#ifndef DARIUS_SIEVE_HARNESS_H
#define DARIUS_SIEVE_HARNESS_H

#include "unit.h"
#include "sieve.h"

/* The message of RFC 5228's examples (section 2.7.3 and others). */
static const char sv_msg[] =
    "Return-Path: <coyote@desert.example.org>\r\n"
    "Received: from desert.example.org by acme.example.com; Tue, 1 Dec 2026 10:20:30 +0100\r\n"
    "From: \"Wile E. Coyote\" <coyote@desert.example.org>\r\n"
    "To: roadrunner@acme.example.com, \"Bob\" <bob+lists@Example.COM>\r\n"
    "Cc: (a comment) x@y.example\r\n"
    "Subject: I have a present for you\r\n"
    "Date: Tue, 01 Dec 2026 10:20:30 +0100\r\n"
    "Message-ID: <abc@desert.example.org>\r\n"
    "X-Spam-Score: 7.5\r\n"
    "X-Virus-Status: 1\r\n"
    "X-Caffeine: 12\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "Look, I'm sorry about the whole anvil thing, and I really\r\n"
    "didn't mean to try and drop it on you from the top of the\r\n"
    "cliff.  I want to try to make it up to you.  I've got some\r\n"
    "great birdseed over here at my place--top of the line\r\n"
    "stuff--and if you come by, I'll have it all wrapped up\r\n"
    "for you.  I'm really sorry for all the problems I've caused\r\n"
    "for you over the years, but I know we can work this out.\r\n";

static const struct sieve_envelope sv_env = {
    "coyote@desert.example.org", "roadrunner+wile@acme.example.com", "rr@acme.example.com", "coyote"};

/* Compile errors as "line:col: error: msg" lines (empty when it compiles). */
static inline char *sv_errors(const char *script, const struct sieve_limits *lim)
{
    struct sieve_diags d;
    memset(&d, 0, sizeof(d));
    unsigned char *bin = NULL;
    size_t bl = 0;
    struct buf out = BUF_INIT;
    if (!sieve_compile(script, strlen(script), lim, &bin, &bl, &d) && d.nerrors == 0)
        buf_puts(&out, "FAILED WITHOUT ERROR\n");
    sieve_diags_format(&d, &out);
    sieve_diags_free(&d);
    free(bin);
    char *s = buf_release(&out);
    return s ? s : xstrdup("");
}

/* Does the script compile? */
static inline bool sv_compiles(const char *script)
{
    char *e = sv_errors(script, NULL);
    bool ok = strstr(e, ": error: ") == NULL && strstr(e, "FAILED") == NULL;
    if (!ok)
        fprintf(stderr, "  (compile errors: %s)\n", e);
    free(e);
    return ok;
}

/* Compile, load and run; returns the action description, or
 * "COMPILE: <errors>" or "ERROR: <run-time error>\n<actions>". */
static inline char *sv_run_full(const char *script, const char *msg, const struct sieve_envelope *env,
                         const struct sieve_callbacks *cb, const struct sieve_run_config *cfg,
                         const struct sieve_limits *lim)
{
    struct sieve_diags d;
    memset(&d, 0, sizeof(d));
    unsigned char *bin = NULL;
    size_t bl = 0;
    struct buf out = BUF_INIT;
    if (!sieve_compile(script, strlen(script), lim, &bin, &bl, &d)) {
        buf_puts(&out, "COMPILE: ");
        sieve_diags_format(&d, &out);
        sieve_diags_free(&d);
        return buf_release(&out);
    }
    sieve_diags_free(&d);
    enum sieve_load_status ls;
    struct sieve_script *s = sieve_binary_load(bin, bl, lim, &ls);
    free(bin);
    if (!s) {
        buf_printf(&out, "LOAD %d", (int)ls);
        return buf_release(&out);
    }
    struct sieve_result *res = NULL;
    enum sieve_run_status st = sieve_run(s, msg, strlen(msg), env, cb, cfg, lim, &res);
    if (st != SIEVE_RUN_OK)
        buf_printf(&out, "ERROR: %s\n", sieve_result_error(res));
    sieve_result_describe(res, &out);
    sieve_result_free(res);
    sieve_script_free(s);
    char *r = buf_release(&out);
    return r ? r : xstrdup("");
}

static inline char *sv_run(const char *script)
{
    return sv_run_full(script, sv_msg, &sv_env, NULL, NULL, NULL);
}

#define CHECK_RUN(script, want)                  \
    do {                                         \
        char *got_ = sv_run(script);             \
        CHECK_STR(got_, want);                   \
        free(got_);                              \
    } while (0)

#define CHECK_RUN_MSG(script, msg, want)                                  \
    do {                                                                  \
        char *got_ = sv_run_full(script, msg, &sv_env, NULL, NULL, NULL); \
        CHECK_STR(got_, want);                                            \
        free(got_);                                                       \
    } while (0)

/* The first error line of a script that must not compile contains want. */
#define CHECK_ERR(script, want)                                                        \
    do {                                                                               \
        char *e_ = sv_errors(script, NULL);                                            \
        if (!strstr(e_, want)) {                                                       \
            fprintf(stderr, "%s:%d: %s: want error containing \"%s\", got \"%s\"\n",    \
                    __FILE__, __LINE__, unit_current, want, e_);                       \
            unit_failed_checks++;                                                      \
        }                                                                              \
        free(e_);                                                                      \
    } while (0)

#endif
