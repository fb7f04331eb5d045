/* mime-charset.c - charset conversion to UTF-8 with glibc iconv.
 *
 * Charset names come from hostile mail: they are normalised, restricted to
 * a safe alphabet and length (iconv interprets suffixes such as
 * "//TRANSLIT" and strips punctuation, so "utf)8" would reach glibc's lax
 * UTF-8 decoder), refused when they name glibc-internal encodings
 * (WCHAR_T, INTERNAL, ...-INTERNAL, ...-SWAPPED: host-endian raw values),
 * mapped through a small alias table for names glibc does not know, where
 * a superset is what senders really use, or where glibc's decoder passes
 * values beyond U+10FFFF through (UCS-4 -> the strict UTF-32 decoders),
 * and the iconv descriptors are cached per thread (iconv_open is
 * expensive; a thread's cache is closed when the thread exits - the
 * worker's job pool threads, jobs.h - so none of them leaks). Whatever iconv returns is validated again: invalid
 * sequences, surrogates and code points above U+10FFFF become U+FFFD, so
 * the result is always valid UTF-8 (as mime.h promises).
 */
#include "mime-internal.h"
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <pthread.h>

#define CS_MAX 64
#define CACHE_SIZE 8

enum cs_kind { CS_UNKNOWN, CS_UTF8, CS_ASCII, CS_ICONV };

struct cs_cache_ent {
    char name[CS_MAX + 1]; /* normalised */
    iconv_t cd;            /* (iconv_t)-1 = unknown */
};

static _Thread_local struct cs_cache_ent cache[CACHE_SIZE];
static _Thread_local unsigned cache_next;

/* Thread exit: close this thread's descriptors (a pthread key's
 * destructor runs in the exiting thread, before its thread-local storage
 * goes). The main thread's cache lives as long as the process. */
static pthread_key_t cache_key;
static bool cache_key_ok;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void cache_close_all(void *unused)
{
    (void)unused;
    for (size_t i = 0; i < CACHE_SIZE; i++) {
        if (cache[i].name[0] && cache[i].cd != (iconv_t)-1)
            iconv_close(cache[i].cd);
        cache[i].name[0] = '\0';
        cache[i].cd = (iconv_t)-1;
    }
}

static void cache_key_make(void)
{
    /* without a key (out of keys) a thread's cache stays until exit */
    cache_key_ok = pthread_key_create(&cache_key, cache_close_all) == 0;
}

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

/* Lowercase, strip quotes/blanks; false when the name is not plausible.
 * The alphabet is that of the IANA charset names in use (letters, digits,
 * '-', '_', '.', ':', '+'); '/' (iconv's "//TRANSLIT"-style suffixes),
 * ',' and brackets (which glibc silently strips, so that "utf)8" would
 * name its UTF-8 decoder while escaping our own checks) are refused. */
static bool normalise(const char *cs, char out[CS_MAX + 1])
{
    if (!cs)
        return false;
    while (*cs == ' ' || *cs == '\t' || *cs == '"' || *cs == '\'')
        cs++;
    size_t n = 0;
    for (; *cs && *cs != '"' && *cs != '\'' && *cs != ' ' && *cs != '\t'; cs++) {
        unsigned char c = (unsigned char)*cs;
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '+'))
            return false;
        if (n >= CS_MAX)
            return false;
        out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
    return n > 0;
}

/* The name with only its letters and digits: glibc ignores much of the
 * punctuation when it looks names up, so the checks below compare this
 * form ("UTF_8", "u.t.f-8" and "ISO-IR-193" are all its UTF-8). */
static void squash(const char *norm, char out[CS_MAX + 1])
{
    size_t n = 0;
    for (; *norm; norm++)
        if (isalnum((unsigned char)*norm))
            out[n++] = *norm;
    out[n] = '\0';
}

static enum cs_kind classify(const char *norm)
{
    /* glibc's UTF-8 aliases: all go to our own strict decoder. */
    static const char *const utf8[] = {"utf8",      "unicode11utf8", "xunicode20utf8",
                                       "isoir193",  "osf05010001",   "iso10646utf8"};
    static const char *const ascii[] = {"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "646", "default"};
    char sq[CS_MAX + 1];
    squash(norm, sq);
    /* No letter or digit at all ("+", "._"): glibc strips such a name to
     * nothing, which it reads as the locale's charset. */
    if (!sq[0])
        return CS_UNKNOWN;
    for (size_t i = 0; i < ARRAY_SIZE(utf8); i++)
        if (!strcmp(sq, utf8[i]))
            return CS_UTF8;
    for (size_t i = 0; i < ARRAY_SIZE(ascii); i++)
        if (!strcmp(norm, ascii[i]))
            return CS_ASCII;
    /* glibc-internal encodings: raw host-endian wchar_t / UCS-4 values
     * (WCHAR_T is an alias of INTERNAL), nothing any sender can mean. */
    if (strstr(sq, "internal") || strstr(sq, "wchar") || strstr(sq, "swapped"))
        return CS_UNKNOWN;
    return CS_ICONV;
}

/* glibc's UCS-4 decoders pass any 31-bit value through (U+110000 and up
 * come out as 5- and 6-byte "UTF-8"); the UTF-32 decoders check the range
 * and refuse surrogates. UCS-4 without a byte order mark is big endian. */
static const char *ucs4_alias(const char *norm)
{
    static const char *const be[] = {"ucs4",       "ucs4be",      "csucs4",      "iso10646",   "iso10646ucs4",
                                     "1064611993", "osf00010104", "osf00010105", "osf00010106"};
    char sq[CS_MAX + 1];
    squash(norm, sq);
    for (size_t i = 0; i < ARRAY_SIZE(be); i++)
        if (!strcmp(sq, be[i]))
            return "UTF-32BE";
    if (!strcmp(sq, "ucs4le"))
        return "UTF-32LE";
    return NULL;
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
    const char *u4 = ucs4_alias(norm);
    if (u4)
        name = u4;
    iconv_t cd = iconv_open("UTF-8", name);
    if (cache_next == 0) {
        /* first entry of this thread: have it closed at thread exit */
        pthread_once(&cache_key_once, cache_key_make);
        if (cache_key_ok)
            pthread_setspecific(cache_key, cache);
    }
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
    enum cs_kind k = classify(norm);
    if (k != CS_ICONV)
        return k != CS_UNKNOWN;
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
        size_t l = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (l) {
            buf_append(out, s + i, l);
            i += l;
        } else {
            put_fffd(out);
            i++;
        }
    }
}

/* Make out->data[start..] valid UTF-8: iconv's own output is not trusted
 * (glibc's decoders for some names produce 5- and 6-byte sequences, values
 * above U+10FFFF and surrogates). The common case, valid output, costs one
 * scan and no copy. */
static void utf8_repair_from(struct buf *out, size_t start)
{
    size_t i = start;
    while (i < out->len) {
        size_t l = utf8_seq_len((const unsigned char *)out->data + i, out->len - i);
        if (!l)
            break;
        i += l;
    }
    if (i >= out->len)
        return;
    size_t n = out->len - i;
    char *tail = xmalloc(n);
    memcpy(tail, out->data + i, n);
    out->len = i;
    out->data[i] = '\0';
    utf8_sanitise(tail, n, out);
    free(tail);
}

static void run_iconv_raw(iconv_t cd, const char *data, size_t len, struct buf *out)
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

static void run_iconv(iconv_t cd, const char *data, size_t len, struct buf *out)
{
    buf_append(out, "", 0);
    size_t start = out->len;
    run_iconv_raw(cd, data, len, out);
    utf8_repair_from(out, start);
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
            size_t l = utf8_seq_len((const unsigned char *)data + i, len - i);
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
    case CS_UNKNOWN:
        return false;
    default:
        break;
    }
    iconv_t cd = get_cd(norm);
    if (cd == (iconv_t)-1)
        return false;
    run_iconv(cd, data, len, out);
    return true;
}
