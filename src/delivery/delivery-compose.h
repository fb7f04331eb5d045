/* delivery-compose.h - helpers for the messages the server writes itself
 * (vacation replies, MDNs); private to src/delivery/. */
#ifndef DARIUS_DELIVERY_COMPOSE_H
#define DARIUS_DELIVERY_COMPOSE_H

#include "buf.h"
#include "common.h"

/* "Name: value\r\n" for unstructured text (Subject): control characters
 * become spaces, invalid UTF-8 bytes '?', the text is cut at max bytes
 * (on a character boundary); when anything non-ASCII is left it is
 * written as RFC 2047 B encoded-words in UTF-8, each at most 75
 * characters (RFC 2047 2) and never splitting a character (RFC 2047 5),
 * on folded lines. */
void compose_unstructured(struct buf *out, const char *name, const char *text, size_t max);
/* A fresh msg-id "<random.time@servername>". */
void compose_msgid(struct buf *out, const char *servername, time_t now);
/* The first "<...>" of a Message-ID style value, when it is sane (no
 * WSP, control or 8-bit bytes, at most COMPOSE_MAX_MSGID bytes, so that
 * "In-Reply-To: " or "Original-Message-ID: " and it fit a 998-octet
 * line): appended with its brackets; false otherwise. *next (may be
 * NULL) is set after it. */
#define COMPOSE_MAX_MSGID 900
bool compose_msgid_token(const char *v, const char **next, struct buf *out);
/* An address or address list usable in a header field: no control
 * characters or 8-bit bytes, at most COMPOSE_MAX_MSGID bytes (a field
 * line stays under 998), has an "@". */
bool compose_header_addr_ok(const char *s);
/* The text/plain part for UTF-8 text: appends the Content-Type and
 * Content-Transfer-Encoding fields to hdr (7bit when ASCII with short
 * lines, else quoted-printable, RFC 2045 6.7) and the encoded text with
 * CRLF line ends to body. */
void compose_text_part(struct buf *hdr, struct buf *body, const char *text);
/* Does the address local@domain (or a full addr-spec) equal addr?
 * Domains case-insensitively; local parts case-insensitively too (real
 * mail systems treat them so, and a missed match only sends a reply or
 * suppresses one). */
bool compose_addr_eq(const char *a, const char *b);

#endif
