/* mime-date.c - RFC 5322 3.3 date-time, with the obsolete syntax of 4.3:
 * optional day-of-week, 2/3-digit years, named and military zones,
 * comments and extra white space anywhere, optional seconds.
 */
#include "mime-internal.h"
#include "datetime.h"
#include <ctype.h>

/* Tokens: words (letters), numbers, and the separators ':', '+', '-', ','.
 * Comments are skipped. */
struct dlex {
    const char *s;
};

static void dskip(struct dlex *l)
{
    for (;;) {
        while (*l->s == ' ' || *l->s == '\t' || *l->s == '\r' || *l->s == '\n')
            l->s++;
        if (*l->s != '(')
            return;
        int depth = 0;
        while (*l->s) {
            char c = *l->s++;
            if (c == '\\' && *l->s) {
                l->s++;
                continue;
            }
            if (c == '(')
                depth++;
            else if (c == ')' && --depth == 0)
                break;
        }
    }
}

static bool dnum(struct dlex *l, int *v, int *ndigits)
{
    dskip(l);
    if (!isdigit((unsigned char)*l->s))
        return false;
    int n = 0, val = 0;
    while (isdigit((unsigned char)*l->s)) {
        if (n < 9)
            val = val * 10 + (*l->s - '0');
        n++;
        l->s++;
    }
    *v = val;
    if (ndigits)
        *ndigits = n;
    return true;
}

static size_t dword(struct dlex *l, char *w, size_t cap)
{
    dskip(l);
    size_t n = 0;
    while (isalpha((unsigned char)*l->s)) {
        if (n + 1 < cap)
            w[n++] = (char)tolower((unsigned char)*l->s);
        l->s++;
    }
    w[n] = '\0';
    return n;
}

static int month_index(const char *w)
{
    int m = strlen(w) >= 3 ? month_from_abbrev(w) : 0;
    return m ? m : -1;
}

/* obs-zone (RFC 5322 4.3). Military zones are treated as +0000 as the
 * RFC advises (their sign was historically inverted). Unknown names
 * also mean +0000. */
static int named_zone(const char *w)
{
    static const struct {
        const char *n;
        int min;
    } zones[] = {{"ut", 0},      {"utc", 0},     {"gmt", 0},     {"z", 0},       {"est", -300},
                 {"edt", -240},  {"cst", -360},  {"cdt", -300},  {"mst", -420},  {"mdt", -360},
                 {"pst", -480},  {"pdt", -420},  {"cet", 60},    {"cest", 120},  {"bst", 60},
                 {"eet", 120},   {"eest", 180},  {"wet", 0},     {"west", 60},   {"jst", 540},
                 {"met", 60},    {"mest", 120}};
    for (size_t i = 0; i < ARRAY_SIZE(zones); i++)
        if (!strcmp(w, zones[i].n))
            return zones[i].min;
    return 0;
}

bool mime_parse_date(const char *s, int64_t *t_utc, int *tz_minutes)
{
    if (!s)
        return false;
    struct dlex l = {s};
    char w[32];
    int day = 0, year = 0, hour = 0, min = 0, sec = 0, nd = 0, mon = 0;

    /* [day-of-week ","] */
    const char *save = l.s;
    if (dword(&l, w, sizeof(w)) > 0) {
        dskip(&l);
        if (*l.s == ',')
            l.s++;
    } else {
        l.s = save;
    }
    dskip(&l);
    if (*l.s == ',')
        l.s++;
    bool asctime_form = false;
    if (dnum(&l, &day, NULL)) {
        dskip(&l);
        if (*l.s == '-' || *l.s == '/')
            l.s++; /* "1-Jan-2024" seen from some gateways */
        if (dword(&l, w, sizeof(w)) == 0 || (mon = month_index(w)) < 0)
            return false;
        dskip(&l);
        if (*l.s == '-' || *l.s == '/')
            l.s++;
        if (!dnum(&l, &year, &nd))
            return false;
    } else {
        /* asctime() form written by some old software:
         * "Mon Jan  1 10:00:00 2024" (year after the time). */
        if (dword(&l, w, sizeof(w)) == 0 || (mon = month_index(w)) < 0 || !dnum(&l, &day, NULL))
            return false;
        asctime_form = true;
        year = 0;
        nd = 4;
    }
    if (!dnum(&l, &hour, NULL))
        return false;
    dskip(&l);
    if (*l.s != ':')
        return false;
    l.s++;
    if (!dnum(&l, &min, NULL))
        return false;
    dskip(&l);
    if (*l.s == ':') {
        l.s++;
        if (!dnum(&l, &sec, NULL))
            return false;
    }
    if (asctime_form) {
        /* The zone may come before the year ("... 10:00:00 UTC 2024"). */
        const char *save2 = l.s;
        bool zone_word = dword(&l, w, sizeof(w)) > 0;
        if (!zone_word)
            l.s = save2;
        if (!dnum(&l, &year, &nd))
            return false;
        if (zone_word)
            l.s = save2; /* parse the zone word below */
    }
    /* obs-year: 2 digits -> 1950..2049, 3 digits -> +1900 (4.3). */
    if (nd <= 2)
        year += year < 50 ? 2000 : 1900;
    else if (nd == 3)
        year += 1900;
    if (day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 || year > 9999)
        return false;
    if (sec == 60)
        sec = 59; /* leap second: close enough, keeps the value valid */

    int tz = 0;
    dskip(&l);
    if (*l.s == '+' || *l.s == '-') {
        int sign = *l.s == '-' ? -1 : 1;
        l.s++;
        int v, digits;
        const char *z = l.s;
        if (!isdigit((unsigned char)*z) || !dnum(&l, &v, &digits) || digits != 4)
            return false;
        int hh = v / 100, mm = v % 100;
        if (hh > 23 || mm > 59)
            return false;
        tz = sign * (hh * 60 + mm);
    } else if (dword(&l, w, sizeof(w)) > 0) {
        tz = named_zone(w);
    }
    /* Anything after the zone (often a comment, already skipped) is ignored. */

    int64_t days = days_from_civil(year, (unsigned)mon, (unsigned)day);
    *t_utc = days * 86400 + hour * 3600 + min * 60 + sec - (int64_t)tz * 60;
    if (tz_minutes)
        *tz_minutes = tz;
    return true;
}
