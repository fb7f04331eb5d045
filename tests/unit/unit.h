/* unit.h - minimal unit test harness.
 *
 * Each tests/unit/test-*.c is one binary:
 *
 *   #include "unit.h"
 *   static void test_something(void) { CHECK(1 + 1 == 2); CHECK_STR(a, "x"); }
 *   int main(void) { RUN(test_something); return unit_done(); }
 *
 * A failed CHECK reports file:line and the expression, and the test
 * continues (so one run shows every failure). The binary prints
 * "unit: <name>: N passed, N failed" and exits non-zero on any failure;
 * tools/run-unit.sh adds the numbers up.
 */
#ifndef DARIUS_UNIT_H
#define DARIUS_UNIT_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

static int unit_failed_checks;
static int unit_tests_passed, unit_tests_failed;
static const char *unit_current;

#define CHECK(expr)                                                                       \
    do {                                                                                  \
        if (!(expr)) {                                                                    \
            fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__,           \
                    unit_current, #expr);                                                 \
            unit_failed_checks++;                                                         \
        }                                                                                 \
    } while (0)

#define CHECK_STR(got, want)                                                              \
    do {                                                                                  \
        const char *g_ = (got), *w_ = (want);                                             \
        if (!g_ || strcmp(g_, w_) != 0) {                                                 \
            fprintf(stderr, "%s:%d: %s: CHECK_STR failed:\n   got: %s\n  want: %s\n",      \
                    __FILE__, __LINE__, unit_current, g_ ? g_ : "(null)", w_);            \
            unit_failed_checks++;                                                         \
        }                                                                                 \
    } while (0)

#define CHECK_INT(got, want)                                                              \
    do {                                                                                  \
        long long g_ = (long long)(got), w_ = (long long)(want);                          \
        if (g_ != w_) {                                                                   \
            fprintf(stderr, "%s:%d: %s: CHECK_INT failed: %s = %lld, want %lld\n",         \
                    __FILE__, __LINE__, unit_current, #got, g_, w_);                      \
            unit_failed_checks++;                                                         \
        }                                                                                 \
    } while (0)

#define RUN(fn)                                                                           \
    do {                                                                                  \
        int before_ = unit_failed_checks;                                                 \
        unit_current = #fn;                                                               \
        fn();                                                                             \
        if (unit_failed_checks == before_)                                                \
            unit_tests_passed++;                                                          \
        else                                                                              \
            unit_tests_failed++;                                                          \
    } while (0)

static inline int unit_done_named(const char *file)
{
    const char *base = strrchr(file, '/');
    printf("unit: %s: %d passed, %d failed\n", base ? base + 1 : file, unit_tests_passed,
           unit_tests_failed);
    return unit_tests_failed ? 1 : 0;
}
#define unit_done() unit_done_named(__FILE__)

static inline void unit_on_alarm(int sig)
{
    (void)sig;
    /* write and strlen only: async-signal-safe */
    static const char msg[] = ": hung past its deadline (unit_deadline)\n";
    const char *name = unit_current ? unit_current : "?";
    if (write(2, name, strlen(name)) < 0 || write(2, msg, sizeof(msg) - 1) < 0)
        _exit(2);
    _exit(1);
}

/* Turn a hang into a failure: after seconds the binary exits 1 (no
 * "passed" line). unit_deadline(0) cancels. For code that used to loop
 * for ever. */
static inline void unit_deadline(unsigned seconds)
{
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &ss, NULL);
    signal(SIGALRM, seconds ? unit_on_alarm : SIG_DFL);
    alarm(seconds);
}

/* A fresh temporary directory for a test (removed by the runner's tmp
 * cleanup, not by the test). */
static inline const char *unit_tmpdir(void)
{
    static char path[256];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/darius-unit-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        exit(2);
    }
    return path;
}

#endif
