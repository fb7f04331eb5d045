/* casemap.c - i;unicode-casemap keys (RFC 5051) with ICU.
 *
 * RFC 5051 2 prepares each code point on its own: the simple titlecase
 * mapping (u_totitle), then the full decomposition, compatibility
 * mappings included, applied recursively (ICU's NFKD data through
 * unorm2_getDecomposition, which gives the full mapping). No canonical
 * reordering across code points: the RFC does not ask for it. ASCII has
 * neither a decomposition nor a titlecase other than its uppercase, so
 * it takes a fast path; most keys are ASCII.
 *
 * UTF-8 byte order is code point order, so the keys compare with memcmp.
 */
#include "sortkey.h"
#include "utf8.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>

#include <pthread.h>

static const UNormalizer2 *nfkd;
static pthread_once_t nfkd_once = PTHREAD_ONCE_INIT;

static void nfkd_init(void)
{
    UErrorCode err = U_ZERO_ERROR;
    nfkd = unorm2_getNFKDInstance(&err);
    if (U_FAILURE(err))
        nfkd = NULL;
}

static void put_utf8(struct buf *out, uint32_t c)
{
    char b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xC0 | (c >> 6));
        b[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xE0 | (c >> 12));
        b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (c >> 18));
        b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    buf_append(out, b, n);
}

static uint32_t decode_one(const unsigned char *s, size_t n)
{
    switch (n) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

void mime_casemap_key(struct buf *out, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t start = out->len;
    if (!utf8_valid(text, len)) { /* RFC 5051 1(b): the octets unchanged */
        buf_append(out, text, len < SORTKEY_MAX_KEY ? len : SORTKEY_MAX_KEY);
        return;
    }
    pthread_once(&nfkd_once, nfkd_init);
    size_t i = 0;
    while (i < len) {
        size_t kept = out->len; /* a character's expansion goes whole or not at all */
        if (s[i] < 0x80) {
            unsigned char c = s[i++];
            if (c >= 'a' && c <= 'z')
                c = (unsigned char)(c - 'a' + 'A');
            buf_putc(out, (char)c);
        } else {
            size_t n = utf8_seq_len(s + i, len - i);
            UChar32 c = u_totitle((UChar32)decode_one(s + i, n));
            i += n;
            UChar dec[64];
            UErrorCode err = U_ZERO_ERROR;
            int32_t dl = nfkd ? unorm2_getDecomposition(nfkd, c, dec, (int32_t)ARRAY_SIZE(dec), &err) : -1;
            if (dl < 0 || U_FAILURE(err)) {
                put_utf8(out, (uint32_t)c);
            } else {
                for (int32_t k = 0; k < dl;) {
                    UChar32 d;
                    U16_NEXT(dec, k, dl, d);
                    put_utf8(out, (uint32_t)d);
                }
            }
        }
        if (out->len - start > SORTKEY_MAX_KEY) {
            buf_truncate(out, kept);
            break;
        }
    }
}
