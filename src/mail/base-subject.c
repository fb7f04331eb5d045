/* base-subject.c - RFC 5256 section 2.1 base subject extraction.
 *
 * The subject is first normalised (step 1) into a buffer; the remaining
 * steps only move the [b, e) window over it, so every step is linear and
 * the whole extraction is O(n) per removed artifact, each removal
 * shortening the window: O(n^2) worst case on n <= SORTKEY_MAX_KEY plus
 * a little (the input is cut before the loop).
 */
#include "sortkey.h"
#include "mime.h"
#include "utf8.h"

#include <string.h>

static bool lc_eq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at t[b..e): length matched or 0. */
static size_t match_blob(const char *t, size_t b, size_t e)
{
    if (b >= e || t[b] != '[')
        return 0;
    size_t i = b + 1;
    while (i < e && t[i] != '[' && t[i] != ']')
        i++;
    if (i >= e || t[i] != ']')
        return 0;
    i++;
    while (i < e && t[i] == ' ')
        i++;
    return i - b;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
static size_t match_refwd(const char *t, size_t b, size_t e)
{
    size_t i = b;
    if (e - i >= 2 && lc_eq(t + i, "re", 2))
        i += 2;
    else if (e - i >= 2 && lc_eq(t + i, "fw", 2)) {
        i += 2;
        if (i < e && (t[i] == 'd' || t[i] == 'D'))
            i++;
    } else
        return 0;
    while (i < e && t[i] == ' ')
        i++;
    size_t bl = match_blob(t, i, e);
    if (bl && i + bl < e && t[i + bl] == ':')
        return i + bl + 1 - b;
    if (i < e && t[i] == ':')
        return i + 1 - b;
    return 0;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP */
static size_t match_leader(const char *t, size_t b, size_t e, bool *refwd)
{
    if (b < e && t[b] == ' ')
        return 1;
    size_t i = b, bl;
    for (;;) {
        size_t r = match_refwd(t, i, e);
        if (r) {
            *refwd = true;
            return i + r - b;
        }
        if (!(bl = match_blob(t, i, e)))
            return 0;
        i += bl;
    }
}

/* Step 1 without the decoding: tabs, CR and LF to spaces, runs of
 * spaces to one; at most SORTKEY_MAX_KEY bytes (whole characters). */
static void normalise_ws(struct buf *t, const char *s, size_t len)
{
    bool sp = false;
    for (size_t i = 0; i < len && t->len < SORTKEY_MAX_KEY; i++) {
        char c = s[i];
        if (c == '\t' || c == '\r' || c == '\n' || c == ' ') {
            if (!sp)
                buf_putc(t, ' ');
            sp = true;
            continue;
        }
        sp = false;
        buf_putc(t, c);
    }
    /* never end inside a UTF-8 sequence */
    size_t n = t->len;
    while (n > 0 && ((unsigned char)t->data[n - 1] & 0xC0) == 0x80)
        n--;
    if (n > 0 && (unsigned char)t->data[n - 1] >= 0xC0 &&
        utf8_seq_len((const unsigned char *)t->data + n - 1, t->len - (n - 1)) != t->len - (n - 1))
        buf_truncate(t, n - 1);
}

static void extract(struct buf *out, const char *t, size_t b, size_t e, bool *reply_or_fwd)
{
    bool flag = false;
    for (;;) {
        /* (2) subj-trailer = "(fwd)" / WSP, repeatedly */
        for (;;) {
            if (e > b && t[e - 1] == ' ')
                e--;
            else if (e - b >= 5 && lc_eq(t + e - 5, "(fwd)", 5)) {
                e -= 5;
                flag = true;
            } else
                break;
        }
        /* (3)-(5) */
        for (;;) {
            size_t l = match_leader(t, b, e, &flag);
            if (l) {
                b += l;
                continue;
            }
            size_t bl = match_blob(t, b, e);
            if (bl && b + bl < e) { /* only when a non-empty subj-base remains */
                b += bl;
                continue;
            }
            break;
        }
        /* (6) "[fwd:" subject "]" */
        if (e - b >= 6 && lc_eq(t + b, "[fwd:", 5) && t[e - 1] == ']') {
            b += 5;
            e -= 1;
            flag = true;
            continue;
        }
        break;
    }
    buf_append(out, t + b, e - b);
    if (reply_or_fwd)
        *reply_or_fwd = flag;
}

void mime_base_subject_utf8(struct buf *out, const char *text, size_t len, bool *reply_or_fwd)
{
    struct buf t = BUF_INIT;
    normalise_ws(&t, text, len);
    extract(out, buf_cstr(&t), 0, t.len, reply_or_fwd);
    buf_free(&t);
}

void mime_base_subject(struct buf *out, const char *raw, size_t len, bool *reply_or_fwd)
{
    /* Decoding more than a few times the kept length is pointless. */
    if (len > 16 * SORTKEY_MAX_KEY)
        len = 16 * SORTKEY_MAX_KEY;
    struct buf dec = BUF_INIT;
    mime_decode_header_utf8(&dec, raw, len);
    mime_base_subject_utf8(out, buf_cstr(&dec), dec.len, reply_or_fwd);
    buf_free(&dec);
}
