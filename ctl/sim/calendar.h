/*
 * calendar.h - the generator's clock: proleptic Gregorian dates as day numbers and the
 * offsets of the few time zones developers live in, with integer arithmetic only (no
 * libc time functions, no tz database), so a stream does not depend on the machine.
 * Pure, no I/O, thread-safe.
 */
#ifndef TALLY_SIM_CALENDAR_H
#define TALLY_SIM_CALENDAR_H

#include <stdint.h>

#define CALENDAR_US_PER_S INT64_C(1000000)
#define CALENDAR_US_PER_MIN (60 * CALENDAR_US_PER_S)
#define CALENDAR_US_PER_DAY (86400 * CALENDAR_US_PER_S)

/* the daylight saving rules the simulated zones follow */
typedef enum { CALENDAR_DST_NONE, CALENDAR_DST_EU, CALENDAR_DST_US } calendar_dst;

/* a divided by b, rounded towards negative infinity */
int64_t calendar_floor_div(int64_t a, int64_t b);

/* Days since 1970-01-01 of a date (Howard Hinnant's algorithm), and back. */
int64_t calendar_days(int64_t y, int m, int d);
void calendar_from_days(int64_t days, int *y, int *m, int *d);

/* The weekday of a day number, 0 = Sunday. */
int calendar_weekday(int64_t days);

/* Minutes east of UTC at a UTC instant in a zone of standard offset std_min (minutes
 * east) that follows dst (the EU and US rules since 2007). */
int calendar_offset(int std_min, calendar_dst dst, int64_t utc_us);

#endif
