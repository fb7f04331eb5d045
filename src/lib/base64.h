/* base64.h - the one base64 codec (RFC 4648), in the variants the
 * protocols need:
 *   - strict decoding for SASL exchanges and stored keys: no whitespace,
 *     length a multiple of 4, padding only at the end, unused bits zero,
 *     so every byte string has exactly one accepted encoding;
 *   - lenient decoding for MIME bodies (RFC 2045 6.8): characters outside
 *     the alphabet are skipped and '=' ends the data, as deployed servers do;
 *   - the character values of the modified alphabet of IMAP mailbox names
 *     (RFC 3501 5.1.3: ',' instead of '/'), via base64_value(c, ',').
 */
#ifndef DARIUS_BASE64_H
#define DARIUS_BASE64_H

#include "buf.h"

/* Value 0..63 of c in the alphabet whose 64th character is c63 ('/' for
 * RFC 4648, ',' for modified UTF-7), or -1. */
int base64_value(unsigned char c, char c63);

void base64_encode(const unsigned char *in, size_t len, struct buf *out);
/* Strict; returns false (out unchanged) on any deviation. */
bool base64_decode_strict(const char *in, size_t len, struct buf *out);
/* Lenient (MIME); output is at most 3/4 of the input. */
void base64_decode_lenient(const char *in, size_t len, struct buf *out);

/* Append the UTF-8 encoding of code point cp (cp <= 0x10FFFF). */
void utf8_put(struct buf *out, uint32_t cp);

#endif
