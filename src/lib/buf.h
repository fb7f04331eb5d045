/* buf.h - growable byte buffer.
 *
 * The workhorse for building protocol output and holding parsed data.
 * data is always NUL-terminated (the NUL is not counted in len) so a buf
 * holding text can be passed to C string functions, but binary content
 * with embedded NULs is fine too.
 */
#ifndef DARIUS_BUF_H
#define DARIUS_BUF_H

#include "common.h"
#include <stdarg.h>

struct buf {
    char *data;   /* NULL until first append; use buf_cstr() for a safe "" */
    size_t len;
    size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_init(struct buf *b);
void buf_free(struct buf *b);          /* releases memory, resets to empty */
void buf_reset(struct buf *b);         /* len = 0, keeps capacity */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
/* Decimal digits of v: what buf_printf("%llu") writes, without the two
 * vsnprintf passes (a SORT or SEARCH answer writes 100,000 numbers). */
void buf_put_uint(struct buf *b, uint64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) ATTR_PRINTF(2, 3);
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);
void buf_consume(struct buf *b, size_t n); /* drop n bytes from the front */
void buf_truncate(struct buf *b, size_t len);
const char *buf_cstr(const struct buf *b); /* never NULL */
char *buf_release(struct buf *b);      /* hand data to caller (xmalloc'd), reset */

#endif
