/* mime-internal.h - helpers shared by the src/mail/ implementation files.
 * Not part of the public contract (mime.h); other layers must not use it. */
#ifndef DARIUS_MIME_INTERNAL_H
#define DARIUS_MIME_INTERNAL_H

#include "mime.h"
#include "utf8.h"

/* One header field inside a header block, as byte offsets relative to the
 * block. A field spans its first line and all continuation lines (lines
 * starting with SP/HTAB), including the final line end. */
struct hdr_field {
    size_t start;      /* first byte of the field name */
    size_t name_len;   /* name without trailing WSP before the colon; 0 = no colon (garbage line) */
    size_t value_off;  /* first byte after the colon */
    size_t end;        /* one past the last byte of the field (after its line end) */
};

/* Iterate fields: *pos starts at 0. Returns false at the blank line or at
 * the end of the block. Accepts CRLF and bare LF line ends. */
bool hdr_next_field(const char *hdr, size_t len, size_t *pos, struct hdr_field *f);

/* Unfold a raw field value: drop CR and LF (the WSP after them stays, as
 * RFC 5322 2.2.3 unfolding prescribes), trim leading and trailing WSP.
 * NUL bytes become spaces so the result is a proper C string. */
char *hdr_unfold(const char *v, size_t n);

bool mime_ascii_ieq(const char *a, size_t alen, const char *b);

/* Parse a Content-Type / Content-Disposition style value:
 * "token [/ token] *(; param)". On return *first (and *second when not
 * NULL) are lowercase strdup'd tokens or NULL. */
void mime_parse_ctype(const char *v, char **first, char **second, struct mime_param **params,
                      size_t *nparams);

/* Address list (RFC 5322 3.4) written as an IMAP address list or NIL. */
void mime_write_addresses(struct buf *out, const char *value);

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid. */

#endif
