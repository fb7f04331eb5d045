/* sortkey.h - what SORT (RFC 5256, RFC 5957) and THREAD (RFC 5256)
 * compare, computed from a message header once when it is stored.
 *
 *  - mime_base_subject: the "base subject" of RFC 5256 section 2.1.
 *  - mime_casemap_key: the i;unicode-casemap (RFC 5051) form of a UTF-8
 *    string; two strings compare under that collation exactly as their
 *    keys compare with memcmp (shorter prefix first).
 *  - mime_sortkeys_build / mime_sortkeys_parse: the per-message record of
 *    every sort and thread key, stored with the message (storage.h,
 *    mailbox_sort_keys), so SORT and THREAD never parse a header.
 */
#ifndef DARIUS_SORTKEY_H
#define DARIUS_SORTKEY_H

#include "common.h"
#include "buf.h"

/* Longest key or base subject kept (bytes; cut at a character
 * boundary). Subjects or names that agree in their first 1 KiB sort as
 * equal (then by sequence number): a hostile 60 KB Subject cannot make
 * every stored record, and every comparison, that large. */
#define SORTKEY_MAX_KEY 1024
/* Message-IDs kept from References (the last ones: the parent is last). */
#define SORTKEY_MAX_REFS 64
/* Longest normalized Message-ID kept; a longer one counts as invalid. */
#define SORTKEY_MAX_MSGID 512

/* The base subject (RFC 5256 2.1) of a raw Subject field value (as in the
 * message: folded, with RFC 2047 encoded words), appended to out as UTF-8.
 * Steps: (1) RFC 2047 decoding to UTF-8 (mime_decode_header_utf8), tabs
 * and line breaks to spaces, runs of spaces to one; (2) trailing "(fwd)"
 * and spaces removed; (3) leading "Re:", "Fw:", "Fwd:" (each optionally
 * after [blob]s and with an optional [blob] before the colon) and spaces;
 * (4) a leading "[blob]" when something remains; (5) repeat (3)-(4);
 * (6) a "[fwd: ... ]" wrapper is removed and the whole repeated from (2).
 * *reply_or_fwd (may be NULL) is set when a subj-refwd, a "(fwd)"
 * trailer or a "[fwd: ]" wrapper was removed (RFC 5256 THREAD=REFERENCES
 * "is a reply or forward"). The "re"/"fw"/"fwd" tokens match ASCII
 * case-insensitively. The result is at most SORTKEY_MAX_KEY bytes. */
void mime_base_subject(struct buf *out, const char *raw, size_t len, bool *reply_or_fwd);

/* The same on text that is already UTF-8 (step 1 without the decoding). */
void mime_base_subject_utf8(struct buf *out, const char *text, size_t len, bool *reply_or_fwd);

/* Append the i;unicode-casemap key of UTF-8 text to out (RFC 5051 2:
 * each code point titlecased - the simple titlecase mapping - then fully
 * decomposed, compatibility decompositions included, NFKD-style, written
 * as UTF-8). Text that is not valid UTF-8 is appended unchanged (RFC 5051
 * 1(b): then compared as octets). At most SORTKEY_MAX_KEY bytes. */
void mime_casemap_key(struct buf *out, const char *text, size_t len);

/* The normalized form of a msg-id (RFC 5322 3.6.4) for THREAD (RFC 5256:
 * quoting must not matter): "id-left@id-right" without the angle
 * brackets, quotes, backslashes of quoted pairs, comments and white
 * space. mime_msgids_each calls cb for each valid msg-id of a field value
 * (Message-ID, In-Reply-To, References) in order; cb returns false to
 * stop. An id without '@' or with an empty side is skipped as invalid. */
void mime_msgids_each(const char *value, size_t len, bool (*cb)(void *arg, const char *id, size_t idlen),
                      void *arg);

/* ---- the per-message record ----
 *
 * Encoding: a format byte (SORTKEYS_FORMAT), a flags byte (SK_F_*), the
 * sent date (8 bytes, big-endian two's complement, UTC seconds; 0 when
 * SK_F_DATE is not set), then these strings, each as a LEB128 length (at
 * most 2 bytes) and the bytes: subject key (casemap of the base subject),
 * from, to and cc keys (casemap of the first address's addr-mailbox),
 * displayfrom and displayto keys (casemap of the RFC 5957 DISPLAY value),
 * message-id, in-reply-to (its first valid msg-id), then a count byte and
 * that many references (msg-ids, oldest first). A new format byte
 * replaces the old when anything changes; records of another format are
 * rebuilt by their reader (storage). */
#define SORTKEYS_FORMAT 1
enum { SK_F_DATE = 1u << 0, SK_F_REPLY = 1u << 1 };
enum sk_str {
    SK_SUBJECT,
    SK_FROM,
    SK_TO,
    SK_CC,
    SK_DISPLAYFROM,
    SK_DISPLAYTO,
    SK_MESSAGEID,
    SK_INREPLYTO,
    SK_NSTR
};
struct mime_sortkeys {
    unsigned flags;
    int64_t sent;                   /* valid when flags & SK_F_DATE */
    const char *s[SK_NSTR];         /* into the record; not NUL-terminated */
    size_t len[SK_NSTR];
    unsigned nrefs;
    const char *refs;               /* nrefs times: LEB128 length, bytes */
    size_t refs_len;
};
/* Append the record for the header block hdr (len bytes) to out. */
void mime_sortkeys_build(struct buf *out, const char *hdr, size_t len);
/* Is data a well-formed record of the current format? Fills out (may be
 * NULL) with pointers into data. */
bool mime_sortkeys_parse(const char *data, size_t len, struct mime_sortkeys *out);
/* Iterate the references of a parsed record: *pos starts at 0. */
bool mime_sortkeys_next_ref(const struct mime_sortkeys *k, size_t *pos, const char **id, size_t *idlen);

#endif
