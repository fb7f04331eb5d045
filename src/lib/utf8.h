/* utf8.h - UTF-8 validation (RFC 3629).
 *
 * Protocols that carry UTF-8 text (ManageSieve script names and quoted
 * strings, Sieve scripts) must refuse malformed sequences rather than
 * store them: overlong forms, surrogates (U+D800..U+DFFF) and code
 * points above U+10FFFF are invalid (RFC 3629 section 3).
 */
#ifndef DARIUS_UTF8_H
#define DARIUS_UTF8_H

#include "common.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if s[0..n) does
 * not start with one. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* True if all of s[0..len) is valid UTF-8. */
bool utf8_valid(const char *s, size_t len);

#endif
