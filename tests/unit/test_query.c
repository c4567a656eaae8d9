/* report/query.c: strict query-string parsing for the report API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "query.h"

#define ALL                                                                                        \
    (QP_FROM | QP_TO | QP_TZ | QP_GROUP_BY | QP_DEVELOPER | QP_TEAM | QP_MODEL | QP_DEPLOYMENT |   \
     QP_PRICE_BOOK | QP_FORMAT | QP_MONTH | QP_LAYOUT | QP_GUARD)

static bool parse(const char *raw, unsigned allowed, query *q, query_error *err)
{
    return query_parse(raw, strlen(raw), allowed, q, err);
}

/* asserts a 400 naming param */
static void refused(const char *raw, unsigned allowed, const char *param)
{
    query q;
    query_error err;

    if (parse(raw, allowed, &q, &err))
        fail_msg("accepted: %s", raw);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.param, param);
    assert_true(strlen(err.detail) > 0);
}

static void test_defaults(void **state)
{
    query q;
    query_error err;

    (void)state;
    assert_true(parse("", ALL, &q, &err));
    assert_int_equal(q.given, 0);
    assert_string_equal(q.tz, "UTC");
    assert_int_equal(q.format, QF_DEFAULT);
    assert_int_equal(q.layout, 3);
    assert_int_equal(q.ngroups, 2); /* developer,model */
    assert_int_equal(q.groups[0], QG_DEVELOPER);
    assert_int_equal(q.groups[1], QG_MODEL);
    assert_true(parse("", QP_MONTH, &q, &err));
    assert_int_equal(q.ngroups, 0);
}

static void test_full(void **state)
{
    query q;
    query_error err;

    (void)state;
    assert_true(parse("from=2026-03-01&to=2026-04-01T00%3A00%3A00%2B05%3A30&tz=Asia%2FKolkata"
                      "&group_by=team,day,model&developer=oid-1&team=red+team&model=claude"
                      "&deployment=d1&price_book=book-a&format=csv",
                      ALL, &q, &err));
    assert_string_equal(q.from.text, "2026-03-01");
    assert_true(q.from.local);
    assert_string_equal(q.to.text, "2026-04-01T00:00:00+05:30");
    assert_false(q.to.local);
    assert_string_equal(q.tz, "Asia/Kolkata");
    assert_int_equal(q.ngroups, 3);
    assert_int_equal(q.groups[0], QG_TEAM);
    assert_int_equal(q.groups[1], QG_DAY);
    assert_int_equal(q.groups[2], QG_MODEL);
    assert_true(query_has_group(&q, QG_DAY));
    assert_false(query_has_group(&q, QG_MONTH));
    assert_string_equal(q.team, "red team");
    assert_string_equal(q.price_book, "book-a");
    assert_int_equal(q.format, QF_CSV);
    assert_true(parse("group_by=", ALL, &q, &err)); /* the grand total */
    assert_int_equal(q.ngroups, 0);
    assert_true(parse("to=2026-03-01t10:15:00.123456z", ALL, &q, &err));
    assert_string_equal(q.to.text, "2026-03-01T10:15:00.123456Z");
    assert_true(parse("month=2024-02&&format=json", ALL, &q, &err));
    assert_string_equal(q.month, "2024-02");
    assert_int_equal(q.format, QF_JSON);
}

static void test_dates(void **state)
{
    (void)state;
    assert_true(query_valid_date("2024-02-29", 10));
    assert_false(query_valid_date("2026-02-29", 10));
    assert_false(query_valid_date("2026-02-30", 10));
    assert_false(query_valid_date("2026-04-31", 10));
    assert_false(query_valid_date("1900-02-29", 10)); /* not a leap year */
    assert_true(query_valid_date("2000-02-29", 10));
    assert_false(query_valid_date("2026-13-01", 10));
    assert_false(query_valid_date("2026-00-01", 10));
    assert_false(query_valid_date("2026-1-01", 9));
    assert_false(query_valid_date("2026/01/01", 10));
    assert_true(query_valid_month("2026-12", 7));
    assert_false(query_valid_month("2026-13", 7));
    assert_false(query_valid_month("26-01", 5));
    refused("from=2026-02-30", QP_FROM, "from");
    refused("to=2026-03-01T24:00:00Z", QP_TO, "to");
    refused("to=2026-03-01T10:60:00Z", QP_TO, "to");
    refused("to=2026-03-01T10:00:60Z", QP_TO, "to");
    refused("to=2026-03-01T10:00Z", QP_TO, "to");        /* seconds required */
    refused("to=2026-03-01T10:00:00", QP_TO, "to");      /* offset required */
    refused("to=2026-03-01T10:00:00+0530", QP_TO, "to"); /* RFC 3339 wants the colon */
    refused("to=2026-03-01T10:00:00.1234567Z", QP_TO, "to");
    refused("to=2026-03-01T10:00:00.Z", QP_TO, "to");
    refused("to=2026-03-01T10:00:00+24:00", QP_TO, "to");
    refused("from=yesterday", QP_FROM, "from");
    refused("from=", QP_FROM, "from");
    refused("month=2026-3", QP_MONTH, "month");
    refused("month=2026-03-01", QP_MONTH, "month");
}

static void test_refusals(void **state)
{
    query q;
    query_error err;

    (void)state;
    refused("group_by=developer,salary", ALL, "group_by");
    refused("group_by=developer,developer", ALL, "group_by");
    refused("group_by=developer,,model", ALL, "group_by");
    refused("group_by=team;DROP TABLE prices", ALL, "group_by");
    refused("format=xml", ALL, "format");
    refused("tz=America/New York", ALL, "tz");
    refused("tz=../../etc/passwd", ALL, "tz");
    refused("foo=1", ALL, "foo");
    refused("month=2026-01", QP_FROM, "month"); /* not accepted by this route */
    refused("team=a&team=b", ALL, "team");
    refused("team=", ALL, "team");
    refused("team=%00", ALL, "team");
    refused("team=a%0Ab", ALL, "team");
    refused("team=%ff%fe", ALL, "team");    /* invalid UTF-8 */
    refused("team=%c0%af", ALL, "team");    /* overlong */
    refused("team=%ed%a0%80", ALL, "team"); /* surrogate */
    refused("team=%4", ALL, "team");        /* truncated escape */
    refused("team=%zz", ALL, "team");
    refused("%ff=1", ALL, "");
    assert_true(parse("team=%C3%A9quipe%20%E2%82%AC", ALL, &q, &err));
    assert_string_equal(q.team, "\xc3\xa9quipe \xe2\x82\xac");
    assert_true(parse("team=%27%3B%20DROP%20TABLE%20prices%3B--", ALL, &q, &err));
    assert_string_equal(q.team, "'; DROP TABLE prices;--"); /* a bound value, harmless */
}

/* layout: 1 (the report columns of before issue 10), 2 (before issue 12) or 3, nothing else */
static void test_layout(void **state)
{
    query q;
    query_error err;

    (void)state;
    assert_true(parse("month=2026-03&layout=1", ALL, &q, &err));
    assert_int_equal(q.layout, 1);
    assert_true(q.given & QP_LAYOUT);
    assert_true(parse("layout=2", ALL, &q, &err));
    assert_int_equal(q.layout, 2);
    assert_true(parse("layout=3", ALL, &q, &err));
    assert_int_equal(q.layout, 3);
    refused("layout=4", ALL, "layout");
    refused("layout=0", ALL, "layout");
    refused("layout=", ALL, "layout");
    refused("layout", ALL, "layout");
    refused("layout=12", ALL, "layout");
    refused("layout=1.0", ALL, "layout");
    refused("layout=%31%00", ALL, "layout");
    refused("layout=1&layout=1", ALL, "layout");
    refused("layout=1", ALL & ~QP_LAYOUT, "layout"); /* a route without it */
}

/* guard: formula (the default) or none (raw CSV text), nothing else */
static void test_guard(void **state)
{
    query q;
    query_error err;

    (void)state;
    assert_true(parse("format=csv", ALL, &q, &err));
    assert_false(q.raw_csv);
    assert_true(parse("format=csv&guard=none", ALL, &q, &err));
    assert_true(q.raw_csv);
    assert_true(parse("guard=formula", ALL, &q, &err));
    assert_false(q.raw_csv);
    refused("guard=", ALL, "guard");
    refused("guard=NONE", ALL, "guard");
    refused("guard=off", ALL, "guard");
    refused("guard=none&guard=none", ALL, "guard");
    refused("guard=none", ALL & ~QP_GUARD, "guard"); /* a route without CSV */
}

static void test_lengths(void **state)
{
    char raw[QUERY_MAX_LEN + 64];
    query q;
    query_error err;

    (void)state;
    memset(raw, 'a', sizeof(raw));
    memcpy(raw, "team=", 5);
    assert_false(query_parse(raw, QUERY_MAX_LEN + 1, QP_TEAM, &q, &err));
    assert_int_equal(err.status, 414);
    assert_false(query_parse(raw, 5 + QUERY_VALUE_MAX + 1, QP_TEAM, &q, &err));
    assert_int_equal(err.status, 400);
    assert_string_equal(err.param, "team");
    assert_true(query_parse(raw, 5 + QUERY_VALUE_MAX, QP_TEAM, &q, &err));
    assert_int_equal(strlen(q.team), QUERY_VALUE_MAX);
    /* the raw bytes need not be NUL-terminated */
    assert_true(query_parse("team=abcdef", 8, QP_TEAM, &q, &err));
    assert_string_equal(q.team, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_full),
        cmocka_unit_test(test_dates),    cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_lengths),  cmocka_unit_test(test_guard),
        cmocka_unit_test(test_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
