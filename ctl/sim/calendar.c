/*
 * calendar.c - day numbers, weekdays and daylight saving time (see calendar.h), and
 * sim_parse_date, the one date the options take.
 */
#include "calendar.h"

#include <string.h>

#include "sim.h"

int64_t calendar_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t calendar_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void calendar_from_days(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468, era, doe, yoe, doy, mp;

    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int calendar_weekday(int64_t days)
{
    return (int)(((days % 7) + 11) % 7);
}

/* the day number of the n-th (n > 0) or last (n = 0) Sunday of a month */
static int64_t sunday_of(int y, int m, int n)
{
    if (n > 0) {
        int64_t first = calendar_days(y, m, 1);
        return first + (7 - calendar_weekday(first)) % 7 + 7 * (n - 1);
    }
    int64_t last = calendar_days(y + (m == 12), m == 12 ? 1 : m + 1, 1) - 1;
    return last - calendar_weekday(last);
}

int calendar_offset(int std_min, calendar_dst dst, int64_t utc_us)
{
    int64_t s = calendar_floor_div(utc_us, CALENDAR_US_PER_S), start, end;
    int y, m, d;

    if (dst == CALENDAR_DST_NONE)
        return std_min;
    calendar_from_days(calendar_floor_div(s, 86400), &y, &m, &d);
    if (dst == CALENDAR_DST_EU) {
        start = sunday_of(y, 3, 0) * 86400 + 3600;
        end = sunday_of(y, 10, 0) * 86400 + 3600;
    } else {
        start = sunday_of(y, 3, 2) * 86400 + 7200 - std_min * 60;
        end = sunday_of(y, 11, 1) * 86400 + 7200 - (std_min + 60) * 60;
    }
    return s >= start && s < end ? std_min + 60 : std_min;
}

/* n digits at s as a number, or -1 */
static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool sim_parse_date(const char *s, int64_t *out_us)
{
    int y, m, d, y2, m2, d2;

    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    y = digits(s, 4);
    m = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    calendar_from_days(calendar_days(y, m, d), &y2, &m2, &d2);
    if (y2 != y || m2 != m || d2 != d)
        return false;
    *out_us = calendar_days(y, m, d) * CALENDAR_US_PER_DAY;
    return true;
}
