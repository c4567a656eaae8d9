/*
 * report/quota/rules.c: quota definitions from JSON and their validation. (Period
 * boundaries are computed in SQL and tested in tests/integration/test_quotas.sh, with DST
 * and +05:45; secret references with the key loader in test_alert.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"

#define VALID                                                                                      \
    "{\"name\": \"team-platform\", \"scope\": \"team\", \"subject\": \"platform\","                \
    " \"metric\": \"cost_usd\", \"period\": \"month\", \"tz\": \"Asia/Kathmandu\","                \
    " \"limit\": \"500.00\""

/* Parses VALID plus extra members (", \"k\": v"); returns the outcome, fills q and err. */
static bool parse(const char *extra, quota *q, quota_error *err)
{
    char text[2048];
    json_error_t jerr;
    json_t *obj;
    bool ok;

    snprintf(text, sizeof(text), VALID "%s}", extra);
    obj = json_loads(text, 0, &jerr);
    assert_non_null(obj);
    memset(q, 0, sizeof(*q));
    memset(err, 0, sizeof(*err));
    ok = quota_from_json(obj, q, err);
    json_decref(obj);
    return ok;
}

/* Expects extra to be refused with field named; returns nothing. */
static void refused(const char *extra, const char *field)
{
    quota q;
    quota_error err;

    if (parse(extra, &q, &err)) {
        quota_cleanup(&q);
        fail_msg("accepted: %s", extra);
    }
    if (strcmp(err.field, field) != 0)
        fail_msg("%s: refused on \"%s\" (%s), expected \"%s\"", extra, err.field, err.message,
                 field);
    assert_true(err.message[0] != '\0');
    quota_cleanup(&q);
}

static void test_defaults(void **state)
{
    quota q;
    quota_error err;
    (void)state;

    assert_true(parse("", &q, &err));
    assert_string_equal(q.name, "team-platform");
    assert_string_equal(q.tz, "Asia/Kathmandu");
    assert_string_equal(q.limit, "500.00");
    assert_int_equal(q.nthresholds, 3);
    assert_int_equal(q.thresholds[0], 50);
    assert_int_equal(q.thresholds[1], 80);
    assert_int_equal(q.thresholds[2], 100);
    assert_false(q.forecast);
    assert_int_equal(q.ntargets, 0);
    quota_cleanup(&q);
}

static void test_full(void **state)
{
    quota q;
    quota_error err;
    (void)state;

    assert_true(parse(
        ", \"thresholds\": [1, 90, 1000], \"forecast\": true, \"targets\": ["
        "{\"kind\": \"webhook\", \"url\": \"https://h.example/x?a=1\","
        " \"secret\": \"env:TALLY_ALERT_KEY_HOOK\"},"
        "{\"kind\": \"slack\", \"url\": \"https://hooks.slack.com/services/T/B/x\"},"
        "{\"kind\": \"teams\", \"url\": \"https://o.webhook.office.com/x\"},"
        "{\"kind\": \"alertmanager\", \"url\": \"http://127.0.0.1:9093\"},"
        "{\"kind\": \"webhook\", \"url\": \"http://h\", \"secret\": \"file:/run/secrets/k\"}]",
        &q, &err));
    assert_int_equal(q.nthresholds, 3);
    assert_int_equal(q.thresholds[2], 1000);
    assert_true(q.forecast);
    assert_int_equal(q.ntargets, 5);
    assert_string_equal(q.targets[0].secret, "env:TALLY_ALERT_KEY_HOOK");
    assert_null(q.targets[1].secret);
    assert_string_equal(q.targets[3].kind, "alertmanager");
    quota_cleanup(&q);
}

static void test_limit_numbers(void **state)
{
    quota q;
    quota_error err;
    (void)state;

    /* exact: an integer or a decimal string; a JSON real never passes through a double */
    assert_true(parse(", \"limit\": \"1234.50\"", &q, &err));
    assert_string_equal(q.limit, "1234.50");
    quota_cleanup(&q);
    assert_true(parse(", \"limit\": 2000000", &q, &err));
    assert_string_equal(q.limit, "2000000");
    quota_cleanup(&q);
    assert_true(parse(", \"limit\": 9007199254740993", &q, &err));
    assert_string_equal(q.limit, "9007199254740993");
    quota_cleanup(&q);
    refused(", \"limit\": 0.1", "limit");
    assert_false(parse(", \"limit\": 1234.56", &q, &err));
    assert_string_equal(err.field, "limit");
    assert_non_null(strstr(err.message, "decimal string"));
    quota_cleanup(&q); /* what was parsed before the refusal */
    refused(", \"limit\": 1234.0", "limit");
    refused(", \"limit\": 1e9", "limit");
    refused(", \"limit\": 0", "limit");
    refused(", \"limit\": -5", "limit");
    refused(", \"limit\": \"0.000\"", "limit");
    refused(", \"limit\": \"1e3\"", "limit");
    refused(", \"limit\": \"12.\"", "limit");
    refused(", \"limit\": \".5\"", "limit");
    refused(", \"limit\": \"-1\"", "limit");
    refused(", \"limit\": \"5 \"", "limit");
    refused(", \"limit\": true", "limit");
    refused(", \"limit\": 0.1234567890123456789", "limit");
}

static void test_refusals(void **state)
{
    (void)state;
    refused(", \"name\": \"\"", "name");
    refused(", \"name\": \"9lives\"", "name");
    refused(", \"name\": \"a b\"", "name");
    refused(", \"name\": 5", "name");
    refused(", \"scope\": \"org\"", "scope");
    refused(", \"subject\": \"\"", "subject");
    refused(", \"scope\": \"everyone\"", "subject"); /* subject platform with everyone */
    refused(", \"subject\": \"a\\u0001b\"", "subject");
    refused(", \"metric\": \"usd\"", "metric");
    refused(", \"period\": \"year\"", "period");
    refused(", \"tz\": \"\"", "tz");
    refused(", \"tz\": \"../../etc/passwd\"", "tz");
    refused(", \"tz\": \"/etc/localtime\"", "tz");
    refused(", \"tz\": \"Europe/Ber lin\"", "tz");
    refused(", \"thresholds\": []", "thresholds");
    refused(", \"thresholds\": [0]", "thresholds");
    refused(", \"thresholds\": [1001]", "thresholds");
    refused(", \"thresholds\": [80, 50]", "thresholds");
    refused(", \"thresholds\": [50, 50]", "thresholds");
    refused(", \"thresholds\": [50.5]", "thresholds");
    refused(", \"thresholds\": \"50\"", "thresholds");
    refused(", \"forecast\": \"yes\"", "forecast");
    refused(", \"colour\": \"red\"", "colour");
    refused(", \"targets\": {}", "targets");
    refused(", \"targets\": [\"https://x\"]", "targets");
    refused(", \"targets\": [{\"kind\": \"email\", \"url\": \"https://x\"}]", "targets");
    refused(", \"targets\": [{\"kind\": \"slack\"}]", "targets");
    refused(", \"targets\": [{\"kind\": \"slack\", \"url\": \"ftp://x/y\"}]", "targets");
    refused(", \"targets\": [{\"kind\": \"slack\", \"url\": \"https://\"}]", "targets");
    refused(", \"targets\": [{\"kind\": \"slack\", \"url\": \"https://a b\"}]", "targets");
    refused(", \"targets\": [{\"kind\": \"slack\", \"url\": \"https://u:p@h/x\"}]", "targets");
    refused(", \"targets\": [{\"kind\": \"slack\", \"url\": \"https://h\", \"x\": \"1\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"slack\", \"url\": \"https://h\","
            " \"secret\": \"env:TALLY_ALERT_KEY_K\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"hunter2\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"env:1X\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"file:relative\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"env:PGPASSWORD\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"env:TALLY_ALERT_KEY_\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"env:TALLY_ALERT_KEY_A-B\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"file:/etc/passwd\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"file:/run/secrets/\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"file:/run/secrets/../../etc/passwd\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"file:/run/secretsX/k\"}]",
            "targets");
    refused(", \"targets\": [{\"kind\": \"webhook\", \"url\": \"https://h\","
            " \"secret\": \"file:run/secrets/k\"}]",
            "targets");
}

static void test_everyone(void **state)
{
    quota q;
    quota_error err;
    (void)state;

    assert_true(parse(", \"scope\": \"everyone\", \"subject\": \"\"", &q, &err));
    assert_string_equal(q.subject, "");
    quota_cleanup(&q);
}

static void test_helpers(void **state)
{
    (void)state;
    assert_true(quota_decimal_valid("0", false));
    assert_false(quota_decimal_valid("0", true));
    assert_true(quota_decimal_valid("0.01", true));
    assert_false(quota_decimal_valid("", false));
    assert_false(quota_decimal_valid("1.2.3", false));
    assert_true(quota_url_valid("http://127.0.0.1:9093/"));
    assert_true(quota_url_valid("https://hooks.slack.com/services/T0/B0/abc"));
    assert_false(quota_url_valid("https://:80/x"));
    assert_false(quota_url_valid("javascript:alert(1)"));
    assert_false(quota_url_valid("https://h/\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_full),
        cmocka_unit_test(test_limit_numbers), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_everyone),      cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
