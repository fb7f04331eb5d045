/* datetime.h - calendar arithmetic shared by the IMAP date parser and the
 * RFC 5322 date parser. Pure functions on the proleptic Gregorian calendar,
 * independent of the process time zone (TZ is never consulted).
 */
#ifndef DARIUS_DATETIME_H
#define DARIUS_DATETIME_H

#include "common.h"

/* Days since 1970-01-01 (H. Hinnant's days_from_civil). m 1..12. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
bool date_valid_ymd(int y, int m, int d);   /* year 1..9999 */
/* 1..12 for a case-insensitive English month abbreviation at s (only the
 * first three characters are compared; s must have at least 3), else 0. */
int month_from_abbrev(const char *s);
/* "Jan".."Dec" for m 1..12. */
const char *month_abbrev(int m);

#endif
