/* ctl/sim/calendar.c: day numbers and weekdays against known dates, the EU and US
 * daylight saving switches to the second, and sim_parse_date. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim/calendar.h"
#include "sim/sim.h"

#define H (3600 * CALENDAR_US_PER_S)

static void test_days(void **state)
{
    int y, m, d;

    (void)state;
    assert_int_equal(calendar_days(1970, 1, 1), 0);
    assert_int_equal(calendar_days(1969, 12, 31), -1);
    assert_int_equal(calendar_days(2000, 2, 29), 11016);
    assert_int_equal(calendar_days(2026, 11, 2), 20759);
    assert_int_equal(calendar_days(1600, 3, 1), -135080);
    for (int64_t n = -800000; n < 800000; n += 97) {
        calendar_from_days(n, &y, &m, &d);
        assert_int_equal(calendar_days(y, m, d), n);
    }
    calendar_from_days(11016, &y, &m, &d);
    assert_true(y == 2000 && m == 2 && d == 29);
    assert_int_equal(calendar_weekday(0), 4);       /* a Thursday */
    assert_int_equal(calendar_weekday(-1), 3);      /* a Wednesday */
    assert_int_equal(calendar_weekday(20759), 1);   /* 2026-11-02, a Monday */
    assert_int_equal(calendar_weekday(-135080), 3); /* 1600-03-01, a Wednesday */
    assert_int_equal(calendar_floor_div(-1, 86400), -1);
    assert_int_equal(calendar_floor_div(-86400, 86400), -1);
    assert_int_equal(calendar_floor_div(86399, 86400), 0);
    assert_int_equal(calendar_floor_div(1, -2), -1);
}

static void test_offsets(void **state)
{
    int64_t eu_on = 20541 * CALENDAR_US_PER_DAY + 1 * H;  /* 2026-03-29 01:00 UTC */
    int64_t eu_off = 20751 * CALENDAR_US_PER_DAY + 1 * H; /* 2026-10-25 01:00 UTC */
    int64_t us_on = 20520 * CALENDAR_US_PER_DAY + 7 * H;  /* 2026-03-08 02:00 EST */
    int64_t us_off = 20758 * CALENDAR_US_PER_DAY + 6 * H; /* 2026-11-01 02:00 EDT */

    (void)state;
    assert_int_equal(calendar_offset(60, CALENDAR_DST_EU, eu_on - 1), 60);
    assert_int_equal(calendar_offset(60, CALENDAR_DST_EU, eu_on), 120);
    assert_int_equal(calendar_offset(0, CALENDAR_DST_EU, eu_off - 1), 60);
    assert_int_equal(calendar_offset(0, CALENDAR_DST_EU, eu_off), 0);
    assert_int_equal(calendar_offset(-300, CALENDAR_DST_US, us_on - 1), -300);
    assert_int_equal(calendar_offset(-300, CALENDAR_DST_US, us_on), -240);
    assert_int_equal(calendar_offset(-300, CALENDAR_DST_US, us_off - 1), -240);
    assert_int_equal(calendar_offset(-300, CALENDAR_DST_US, us_off), -300);
    /* Los Angeles switches three hours later in UTC */
    assert_int_equal(calendar_offset(-480, CALENDAR_DST_US, us_on + 2 * H), -480);
    assert_int_equal(calendar_offset(-480, CALENDAR_DST_US, us_on + 3 * H), -420);
    assert_int_equal(calendar_offset(345, CALENDAR_DST_NONE, eu_on + 100 * 24 * H), 345);
    assert_int_equal(calendar_offset(-180, CALENDAR_DST_NONE, eu_off), -180);
}

static void test_parse_date(void **state)
{
    int64_t us;

    (void)state;
    assert_true(sim_parse_date("2026-11-02", &us));
    assert_int_equal(us, INT64_C(1793577600000000));
    assert_true(sim_parse_date("2024-02-29", &us));
    assert_false(sim_parse_date("2026-02-29", &us));
    assert_false(sim_parse_date("2026-1-02", &us));
    assert_false(sim_parse_date("2026-11-02x", &us));
    assert_false(sim_parse_date("+026-11-02", &us));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_parse_date),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
