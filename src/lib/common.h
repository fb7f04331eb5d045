/* common.h - base definitions shared by every layer of Darius.
 *
 * Everything in src/ may include this; it includes nothing of ours.
 * Allocation failure is treated as fatal (x* wrappers abort with a log
 * line): a mail server that continues after a failed malloc is more likely
 * to corrupt state than to recover, and per-connection limits keep us far
 * from the system limit in normal operation.
 */
#ifndef DARIUS_COMMON_H
#define DARIUS_COMMON_H

#define _GNU_SOURCE 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define DARIUS_VERSION "0.1.0"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED(x) ((void)(x))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN __attribute__((noreturn))
#define ATTR_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define ATTR_PRINTF(f, a)
#define ATTR_NORETURN
#define ATTR_WARN_UNUSED
#endif

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) ATTR_PRINTF(1, 2);

/* Grow-by-doubling helper for (ptr, count, capacity) arrays. */
#define ARRAY_GROW(ptr, count, cap)                                         \
    do {                                                                    \
        if ((count) >= (cap)) {                                             \
            (cap) = (cap) ? (cap) * 2 : 8;                                  \
            (ptr) = xrealloc((ptr), (size_t)(cap) * sizeof(*(ptr)));        \
        }                                                                   \
    } while (0)

#endif
