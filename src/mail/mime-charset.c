/* mime-charset.c - charset conversion to UTF-8 with glibc iconv.
 *
 * Charset names come from hostile mail: they are normalised, restricted to
 * a safe alphabet (iconv interprets suffixes such as "//TRANSLIT"), mapped
 * through a small alias table for names glibc does not know or where a
 * superset is what senders really use, and the iconv descriptors are
 * cached per thread (iconv_open is expensive).
 */
#include "mime-internal.h"
#include <ctype.h>
#include <errno.h>
#include <iconv.h>

#define CS_MAX 64
#define CACHE_SIZE 8

enum cs_kind { CS_UNKNOWN, CS_UTF8, CS_ASCII, CS_ICONV };

struct cs_cache_ent {
    char name[CS_MAX + 1]; /* normalised */
    iconv_t cd;            /* (iconv_t)-1 = unknown */
};

static _Thread_local struct cs_cache_ent cache[CACHE_SIZE];
static _Thread_local unsigned cache_next;

static const struct {
    const char *alias, *name;
} aliases[] = {
    /* GB2312/GBK mail is routinely GBK/GB18030 in reality: use the superset. */
    {"gb2312", "GB18030"},
    {"gbk", "GB18030"},
    {"x-gbk", "GB18030"},
    {"cp936", "GB18030"},
    {"euc-cn", "GB18030"},
    {"ks_c_5601-1987", "CP949"},
    {"ks_c_5601", "CP949"},
    {"euc-kr", "CP949"},
    {"iso-8859-8-i", "ISO-8859-8"},
    {"iso-8859-6-i", "ISO-8859-6"},
    {"x-sjis", "SHIFT_JIS"},
    {"shift-jis", "SHIFT_JIS"},
    {"x-euc-jp", "EUC-JP"},
    {"unicode-1-1-utf-7", "UTF-7"},
    {"x-mac-roman", "MACINTOSH"},
    {"windows-874", "CP874"},
    {"x-user-defined", "WINDOWS-1252"},
    {"latin1", "ISO-8859-1"},
    {"cp1252", "WINDOWS-1252"},
};

/* Lowercase, strip quotes/blanks; false when the name is not plausible. */
static bool normalise(const char *cs, char out[CS_MAX + 1])
{
    if (!cs)
        return false;
    while (*cs == ' ' || *cs == '\t' || *cs == '"' || *cs == '\'')
        cs++;
    size_t n = 0;
    for (; *cs && *cs != '"' && *cs != '\'' && *cs != ' ' && *cs != '\t'; cs++) {
        unsigned char c = (unsigned char)*cs;
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '(' || c == ')'))
            return false;
        if (n >= CS_MAX)
            return false;
        out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
    return n > 0;
}

static enum cs_kind classify(const char *norm)
{
    static const char *const utf8[] = {"utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8"};
    static const char *const ascii[] = {"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "646", "default"};
    for (size_t i = 0; i < ARRAY_SIZE(utf8); i++)
        if (!strcmp(norm, utf8[i]))
            return CS_UTF8;
    for (size_t i = 0; i < ARRAY_SIZE(ascii); i++)
        if (!strcmp(norm, ascii[i]))
            return CS_ASCII;
    return CS_ICONV;
}

static iconv_t get_cd(const char *norm)
{
    for (size_t i = 0; i < CACHE_SIZE; i++)
        if (cache[i].name[0] && !strcmp(cache[i].name, norm))
            return cache[i].cd;
    const char *name = norm;
    for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
        if (!strcmp(norm, aliases[i].alias))
            name = aliases[i].name;
    iconv_t cd = iconv_open("UTF-8", name);
    struct cs_cache_ent *e = &cache[cache_next++ % CACHE_SIZE];
    if (e->name[0] && e->cd != (iconv_t)-1)
        iconv_close(e->cd);
    memcpy(e->name, norm, strlen(norm) + 1);
    e->cd = cd;
    return cd;
}

bool charset_known(const char *charset)
{
    char norm[CS_MAX + 1];
    if (!normalise(charset, norm))
        return false;
    if (classify(norm) != CS_ICONV)
        return true;
    return get_cd(norm) != (iconv_t)-1;
}

static void put_fffd(struct buf *out)
{
    buf_append(out, "\xef\xbf\xbd", 3);
}

/* UTF-8 input: valid sequences pass, each invalid byte becomes U+FFFD. */
static void utf8_sanitise(const char *s, size_t n, struct buf *out)
{
    buf_append(out, "", 0); /* NUL-terminated even for empty input */
    buf_reserve(out, n);
    size_t i = 0;
    while (i < n) {
        size_t l = mime_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (l) {
            buf_append(out, s + i, l);
            i += l;
        } else {
            put_fffd(out);
            i++;
        }
    }
}

static void run_iconv(iconv_t cd, const char *data, size_t len, struct buf *out)
{
    iconv(cd, NULL, NULL, NULL, NULL); /* reset shift state */
    char *in = (char *)data;
    size_t inleft = len;
    for (;;) {
        buf_reserve(out, inleft * 2 + 32);
        char *o = out->data + out->len;
        size_t oleft = out->cap - out->len - 1;
        size_t r = inleft ? iconv(cd, &in, &inleft, &o, &oleft) : iconv(cd, NULL, NULL, &o, &oleft);
        int err = errno;
        out->len = (size_t)(o - out->data);
        out->data[out->len] = '\0';
        if (r != (size_t)-1) {
            if (inleft == 0) {
                /* Flush any pending shift sequence (stateful charsets). */
                buf_reserve(out, 32);
                o = out->data + out->len;
                oleft = out->cap - out->len - 1;
                iconv(cd, NULL, NULL, &o, &oleft);
                out->len = (size_t)(o - out->data);
                out->data[out->len] = '\0';
                return;
            }
            continue;
        }
        if (err == E2BIG)
            continue;
        put_fffd(out);
        if (err == EILSEQ && inleft > 0) {
            in++;
            inleft--;
            iconv(cd, NULL, NULL, NULL, NULL);
            if (inleft == 0)
                return;
            continue;
        }
        return; /* EINVAL: truncated sequence at the end */
    }
}

bool charset_to_utf8(const char *charset, const char *data, size_t len, struct buf *out)
{
    char norm[CS_MAX + 1];
    if (!normalise(charset, norm))
        return false;
    switch (classify(norm)) {
    case CS_UTF8:
        utf8_sanitise(data, len, out);
        return true;
    case CS_ASCII: {
        /* Mail labelled us-ascii that carries 8-bit bytes is in practice
         * UTF-8 or Windows-1252; pick whichever fits. */
        size_t i = 0;
        bool ok = true;
        while (i < len && ok) {
            size_t l = mime_utf8_seq_len((const unsigned char *)data + i, len - i);
            ok = l > 0;
            i += l;
        }
        if (ok) {
            buf_append(out, data, len);
            return true;
        }
        iconv_t cd = get_cd("windows-1252");
        if (cd == (iconv_t)-1) {
            utf8_sanitise(data, len, out);
            return true;
        }
        run_iconv(cd, data, len, out);
        return true;
    }
    default:
        break;
    }
    iconv_t cd = get_cd(norm);
    if (cd == (iconv_t)-1)
        return false;
    run_iconv(cd, data, len, out);
    return true;
}
