/* mime.h - the one MIME parser (RFC 5322, 2045, 2046, 2047, 2231, 2183).
 *
 * Used for ENVELOPE, BODYSTRUCTURE, BODY[section], BINARY[] and SEARCH.
 * It never fails on malformed mail: missing or wrong boundaries, bare LF,
 * 8-bit headers, bad encodings are tolerated the way real servers do; a
 * nesting depth limit (MIME_MAX_DEPTH) turns deeper parts into opaque
 * leaves. The parsed tree holds offsets into the caller's buffer, which
 * must outlive it.
 *
 * Behaviour notes (implementation in src/mail/mime-*.c):
 *  - body_lines is the number of LF characters in the body; the CRLF in
 *    front of a boundary belongs to the boundary (RFC 2046 5.1.1), so a
 *    part "text\r\n--b" has 0 lines. Cyrus and Dovecot count the same way.
 *  - Boundary lines are "--b" followed only by white space, or "--b--"
 *    (anything after the close delimiter is ignored). Lines are checked
 *    only at line starts; parsing is O(size * depth).
 *  - A multipart without any boundary line (or without a boundary
 *    parameter) gets one child: the whole body as text/plain, no header.
 *  - Parts beyond MIME_MAX_DEPTH / MIME_MAX_PARTS, and message/multipart
 *    parts with a base64/quoted-printable CTE, become opaque leaves: their
 *    type is rewritten to application/octet-stream so BODYSTRUCTURE stays
 *    well-formed (no childless multipart, no message/rfc822 without
 *    envelope).
 *  - RFC 2231: continuations are joined; an extended value keeps its
 *    charset'lang'%XX form under the name "name*" (as Dovecot reports it).
 *    mime_param_decoded() gives the decoded UTF-8 value.
 *  - Absent/unparsable Content-Type: text/plain with param charset=US-ASCII
 *    (the RFC 3501 example form), message/rfc822 inside multipart/digest.
 */
#ifndef DARIUS_MIME_H
#define DARIUS_MIME_H

#include "common.h"
#include "buf.h"

#define MIME_MAX_DEPTH 32
#define MIME_MAX_PARTS 10000     /* beyond this, remaining content is one leaf */

/* Output bounds of ENVELOPE and BODYSTRUCTURE (issue 9 item 5: a 10 MB
 * folded From header gave a 470 MB ENVELOPE). An address field (From,
 * Sender, Reply-To, To, Cc, Bcc) lists at most MIME_ENV_MAX_ADDRESSES
 * addresses (group starts count) and stops taking more once its text is
 * MIME_ENV_MAX_LIST bytes; the rest of the field is not parsed. Each
 * address part (name, route, mailbox, host) is cut to
 * MIME_ENV_MAX_ADDR_PART bytes, each other string (date, subject,
 * in-reply-to, message-id, parameter values, id, description, md5,
 * location) to MIME_ENV_MAX_STRING bytes, tokens (type, subtype,
 * encoding, parameter names) to MIME_BS_MAX_TOKEN; cuts never split a
 * UTF-8 sequence. So an ENVELOPE is at most about 6 x 68 KiB + 4 x 8 KiB
 * (~440 KiB) whatever the message. A BODYSTRUCTURE or BODY text writes
 * every remaining part without optional data once it is
 * MIME_BODYSTRUCTURE_MAX bytes long: at most about 1 MiB + 200 bytes per
 * part (MIME_MAX_PARTS) plus one envelope. Cyrus and Dovecot also cut
 * address lists; nothing legitimate comes near these numbers. */
#define MIME_ENV_MAX_ADDRESSES 1000
#define MIME_ENV_MAX_LIST (64 * 1024)
#define MIME_ENV_MAX_ADDR_PART 1024
#define MIME_ENV_MAX_STRING 8192
#define MIME_BS_MAX_TOKEN 256
#define MIME_BS_LEAN_TOKEN 32
#define MIME_BODYSTRUCTURE_MAX (1024 * 1024)

struct mime_param {
    char *name;                 /* lowercase */
    char *value;                /* RFC 2231 continuations joined; charset/lang kept as given */
};

struct mime_part {
    /* Offsets into the message buffer. */
    size_t hdr_off, hdr_len;    /* header block, including the terminating blank line */
    size_t body_off, body_len;  /* content after the blank line (for multipart: whole body) */
    size_t body_lines;          /* number of lines in the body */

    char *type, *subtype;       /* lowercase; default text/plain (or message/rfc822 in digest) */
    struct mime_param *params; size_t nparams;
    char *id, *description;     /* raw header values (unfolded), NULL when absent */
    char *encoding;             /* Content-Transfer-Encoding, lowercase; NULL = 7bit */
    char *md5;
    char *disposition;          /* lowercase, NULL when absent */
    struct mime_param *disp_params; size_t ndisp_params;
    char *language;             /* raw header value */
    char *location;

    struct mime_part *children; size_t nchildren;  /* multipart */
    struct mime_part *message;  /* message/rfc822 (and global): encapsulated root */
    int depth;
};

struct mime_message {
    const char *data;
    size_t len;
    struct mime_part root;
};

/* Parse; never fails (returns a tree even for garbage). Free with mime_free. */
struct mime_message *mime_parse(const char *data, size_t len);
void mime_free(struct mime_message *m);

/* IMAP response texts (RFC 9051 7.5.2 / 9.). Output appended to out. */
void mime_write_envelope(struct buf *out, const char *data, const struct mime_part *p);
void mime_write_bodystructure(struct buf *out, const char *data, const struct mime_part *p, bool extended);

/* Find the part for an IMAP section number like "1.2.3" (numbers only,
 * no HEADER/TEXT suffix). "" returns the root. Returns NULL when absent.
 * Per RFC 9051 6.4.5: part 1 of a non-multipart is the part itself; a
 * message/rfc822 part's numbers refer to its encapsulated message's parts. */
const struct mime_part *mime_find_section(const struct mime_message *m, const char *section);

/* Headers. 'hdr' points at a header block (len bytes). */
/* First value of field 'name' (case-insensitive), unfolded (CRLF+WSP ->
 * WSP), without the name and colon, leading WSP trimmed. NULL if absent. */
char *mime_header_get(const char *hdr, size_t len, const char *name);
/* Append to out the header fields whose names are (not=false) or are not
 * (not=true) in names[] (case-insensitive), exactly as in the message
 * including folding, followed by the terminating CRLF (RFC 9051
 * HEADER.FIELDS semantics). */
/* Case-insensitive (ASCII) order of header field names: <0, 0, >0. */
int mime_field_name_cmp(const char *a, size_t la, const char *b, size_t lb);
void mime_header_filter(struct buf *out, const char *hdr, size_t len, const char *const *names, size_t nnames,
                        bool not);
/* Length of the header block at data (up to and including the blank line,
 * or all of data when there is no blank line). */
size_t mime_header_length(const char *data, size_t len);

/* Content-Transfer-Encoding decoding. encoding NULL/7bit/8bit/binary copy.
 * Returns false when the encoding is unknown (IMAP: UNKNOWN-CTE); bad
 * characters inside base64/qp are skipped, not fatal. */
bool mime_decode_transfer(const char *encoding, const char *data, size_t len, struct buf *out);

/* RFC 2047 encoded-words in a header value, converted to UTF-8. Unknown
 * charsets leave the word as is. Raw 8-bit bytes are treated as UTF-8 if
 * valid, else as Latin-1 (real-world mail). */
void mime_decode_header_utf8(struct buf *out, const char *value, size_t len);

/* Convert text in charset to UTF-8 (iconv). Returns false when the
 * charset is unknown or refused (names outside [A-Za-z0-9-_.:+] or longer
 * than 64, iconv suffixes such as "//TRANSLIT", glibc-internal encodings
 * such as WCHAR_T and INTERNAL). The output is always valid UTF-8: invalid
 * sequences, surrogates and code points above U+10FFFF become U+FFFD,
 * whatever the iconv decoder produced. */
bool charset_to_utf8(const char *charset, const char *data, size_t len, struct buf *out);
bool charset_known(const char *charset);

/* Text for SEARCH: decoded, charset-converted UTF-8. */
void mime_search_text_body(struct buf *out, const struct mime_message *m); /* all text parts' bodies */
/* The same, appending at most max bytes (cut at a UTF-8 boundary): the
 * decoded text can be larger than the message itself. */
void mime_search_text_body_max(struct buf *out, const struct mime_message *m, size_t max);
/* Case-insensitive (i;unicode-casemap-ish: ASCII + simple Unicode fold)
 * substring test on UTF-8, as SEARCH requires. */
bool mime_utf8_contains_ci(const char *hay, size_t haylen, const char *needle, size_t nlen);

/* Many needles against one text in one pass, with the semantics of
 * mime_utf8_contains_ci for each (SEARCH with thousands of TEXT, BODY or
 * HEADER keys): an Aho-Corasick automaton over the case-folded text.
 * Add the needles (ids 0, 1, 2, ... are returned), build, then scan any
 * number of texts: scan marks, in seen (mime_multimatch_states() bytes,
 * zeroed by the caller for each new set of texts), every needle found,
 * and returns the updated count of marked states (pass 0 the first time;
 * a scan stops early once every needle was found). found() answers per
 * needle id; the empty needle is always found. */
struct mime_multimatch;
struct mime_multimatch *mime_multimatch_new(void);
size_t mime_multimatch_add(struct mime_multimatch *mm, const char *needle, size_t nlen);
void mime_multimatch_build(struct mime_multimatch *mm);
size_t mime_multimatch_states(const struct mime_multimatch *mm);
size_t mime_multimatch_scan(const struct mime_multimatch *mm, const char *text, size_t len, uint8_t *seen,
                            size_t nseen);
bool mime_multimatch_found(const struct mime_multimatch *mm, const uint8_t *seen, size_t id);
void mime_multimatch_free(struct mime_multimatch *mm);

/* ---- header fields for SEARCH (mime-hfields.c) ----
 *
 * One header field as SEARCH HEADER (RFC 9051 6.4.4) sees it: the field
 * runs to the line end not followed by WSP, its name to the first colon
 * anywhere in it (trailing WSP trimmed); a line without a colon is
 * skipped, a blank line ends the header. Pointers are into hdr. */
struct mime_sfield {
    const char *name;
    size_t name_len;
    const char *val;     /* after the colon, to the field end (line ends included) */
    size_t val_len;
};
/* Next field from *pos (start at 0); false at the end of the header. */
bool mime_sfield_next(const char *hdr, size_t len, size_t *pos, struct mime_sfield *f);
/* The value as SEARCH compares it, appended to dec: unfolded (CR and LF
 * dropped), RFC 2047 decoded, converted to UTF-8. */
void mime_sfield_decode(const struct mime_sfield *f, struct buf *dec);

/* "hfields": the decoded values (mime_sfield_decode) of every occurrence
 * of the fields SEARCH SUBJECT, FROM, TO, CC and BCC look at, in header
 * order, built once when a message is stored and kept with it, so those
 * keys (and HEADER on these names) decode nothing per command.
 *
 * Encoding: one format byte, then per occurrence its field id (one byte,
 * enum mime_hfield), the value length (LEB128, at most 3 bytes) and the
 * value. When the encoding would pass MIME_HFIELDS_MAX bytes (a hostile
 * header; nothing legitimate comes near) it is the single byte of the
 * "too large" format instead: readers then decode the raw header as
 * before. A new format byte replaces the old when the decoding changes,
 * and stored values of another format count as absent (recomputed). */
enum mime_hfield {
    MIME_HF_NONE = 0,
    MIME_HF_SUBJECT,
    MIME_HF_FROM,
    MIME_HF_TO,
    MIME_HF_CC,
    MIME_HF_BCC,
    /* The mailboxes of the From, To, Cc or Bcc occurrence just before it,
     * as SEARCH FROM/TO/CC/BCC also match them (mime_hfield_addresses). */
    MIME_HF_ADDRESSES,
};
#define MIME_HFIELDS_MAX (64 * 1024)
/* The id of field name (case-insensitive), MIME_HF_NONE for other fields. */
enum mime_hfield mime_hfield_id(const char *name, size_t len);
/* The mailboxes of an address field's raw value (folding and all) as
 * SEARCH FROM, TO, CC and BCC match them besides the field's text:
 * "Name <local@domain>" per mailbox (the name RFC 2047 decoded, to UTF-8;
 * "local@domain" alone without one), comments and folding gone, joined
 * by ", ", appended to out. So From: <user (c)@ (c) domain.org> is found
 * by FROM user@domain.org (RFC 9051 6.4.4: the envelope's FROM field). */
void mime_hfield_addresses(struct buf *out, const char *val, size_t len);
/* Append the hfields of the header block hdr (len bytes) to out. */
void mime_hfields_build(struct buf *out, const char *hdr, size_t len);
/* Does data hold a well-formed encoding of the current format (complete
 * or "too large")? Anything else (another format, damage) is to be
 * rebuilt. */
bool mime_hfields_current(const char *data, size_t len);
/* A current, complete encoding (the fields can be read from it)? */
bool mime_hfields_complete(const char *data, size_t len);
/* Iterate the occurrences of a complete encoding: *pos starts at 0.
 * Returns false at the end (or on malformed data). */
bool mime_hfields_next(const char *data, size_t len, size_t *pos, enum mime_hfield *id, const char **val,
                       size_t *vlen);

/* PREVIEW (RFC 8970, mime-preview.c): the plain-text preview of a
 * message appended to out as UTF-8: the first non-attachment text/plain
 * part (else text/html reduced to text), transfer-decoded and converted
 * from its charset, white space collapsed, at most MIME_PREVIEW_MAX_CHARS
 * characters (cut on a character boundary). "" when the message has no
 * such part. At most 4 bytes per character: MIME_PREVIEW_MAX_BYTES. */
#define MIME_PREVIEW_MAX_CHARS 200   /* RFC 8970 3.3: SHOULD 200, MUST NOT pass 256 */
#define MIME_PREVIEW_MAX_BYTES (4 * MIME_PREVIEW_MAX_CHARS)
void mime_preview_build(struct buf *out, const struct mime_message *m);

/* Additions by the mail layer (not in the original contract). */

/* Value of parameter 'name' (lowercase) or NULL. For RFC 2231 values the
 * name is "name*" and the value keeps the charset'lang'%XX form. */
const char *mime_param_get(const struct mime_param *params, size_t n, const char *name);
/* Parameter value as UTF-8: looks for "name*" (RFC 2231, decoded and
 * charset-converted) first, then "name" (RFC 2047 words decoded, as many
 * clients write them). Appends to out; false when absent. */
bool mime_param_decoded(struct buf *out, const struct mime_param *params, size_t n, const char *name);
/* IMAP string output: quoted string when safe (7-bit, no CR/LF/NUL, not
 * too long), else a literal {N}\r\n... . nstring writes NIL for NULL. */
void mime_write_imap_string(struct buf *out, const char *s, size_t len);
void mime_write_nstring(struct buf *out, const char *s);

/* Each mailbox of an address list (RFC 5322 3.4: From, To, Cc, ...; the
 * members of groups, not the group names), parsed as for ENVELOPE with
 * its bounds (at most MIME_ENV_MAX_ADDRESSES, each part cut to
 * MIME_ENV_MAX_ADDR_PART): cb gets the display name ("" when none), the
 * local part in addr-spec form (quoted when it needs quoting, as in an
 * envelope address) and the domain ("" when none). For Sieve's
 * address tests and vacation's recipient checks. */
void mime_address_each(const char *value, size_t len,
                       void (*cb)(void *arg, const char *name, const char *local, const char *domain), void *arg);

/* Dates (RFC 5322 3.3, with the obsolete forms). Returns false on garbage. */
bool mime_parse_date(const char *s, int64_t *t_utc, int *tz_minutes);

#endif
