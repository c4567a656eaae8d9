/*
 * report/quota.c validation and report/alert.c's pure parts: payloads, HMAC signature,
 * backoff, secret references. (Period boundaries are computed in SQL and tested in
 * tests/integration/test_quotas.sh, with DST and +05:45.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alert.h"
#include "quota.h"

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

static const alert_fact FACT = {
    .alert_id = "7",
    .quota_id = "3",
    .quota = "team-platform",
    .scope = "team",
    .subject = "platform",
    .metric = "cost_usd",
    .period = "month",
    .tz = "Europe/Berlin",
    .threshold = "80",
    .used = "412.5",
    .limit = "500",
    .ratio = "0.825000",
    .forecast = NULL,
    .period_start = "2026-10-31T23:00:00Z",
    .period_end = "2026-11-30T23:00:00Z",
    .fired_at = "2026-11-20T10:00:00Z",
};

static json_t *payload_json(const char *kind, const alert_fact *f)
{
    char *body = alert_payload(kind, f);
    json_error_t jerr;
    json_t *j;

    assert_non_null(body);
    j = json_loads(body, 0, &jerr);
    assert_non_null(j);
    free(body);
    return j;
}

static void test_payloads(void **state)
{
    json_t *j, *a;
    (void)state;

    j = payload_json("webhook", &FACT);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "tally.quota_alert/1");
    assert_int_equal(json_integer_value(json_object_get(j, "alert_id")), 7);
    assert_string_equal(json_string_value(json_object_get(j, "used")), "412.5");
    assert_string_equal(json_string_value(json_object_get(j, "threshold")), "80");
    assert_true(json_is_null(json_object_get(j, "forecast")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "quota"), "subject")),
                        "platform");
    json_decref(j);

    j = payload_json("slack", &FACT);
    assert_non_null(strstr(json_string_value(json_object_get(j, "text")),
                           "80% threshold reached: 412.5 USD used of 500 USD"));
    assert_true(json_array_size(json_object_get(j, "blocks")) == 2);
    json_decref(j);

    j = payload_json("teams", &FACT);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "message");
    a = json_array_get(json_object_get(j, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "contentType")),
                        "application/vnd.microsoft.card.adaptive");
    a = json_object_get(a, "content");
    assert_string_equal(json_string_value(json_object_get(a, "type")), "AdaptiveCard");
    a = json_array_get(json_object_get(a, "body"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "text")),
                        "Quota team-platform: 80% reached");
    assert_string_equal(json_string_value(json_object_get(a, "color")), "Warning");
    json_decref(j);

    j = payload_json("alertmanager", &FACT);
    assert_true(json_is_array(j));
    a = json_array_get(j, 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a, "labels"), "alertname")),
        "TallyQuotaThreshold");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a, "labels"), "severity")), "warning");
    assert_string_equal(json_string_value(json_object_get(a, "startsAt")), FACT.fired_at);
    assert_string_equal(json_string_value(json_object_get(a, "endsAt")), FACT.period_end);
    json_decref(j);

    assert_null(alert_payload("email", &FACT));
}

static void test_payload_forecast(void **state)
{
    alert_fact f = FACT;
    json_t *j, *labels;
    char *s;
    (void)state;

    f.threshold = "forecast";
    f.forecast = "612.5";
    f.scope = "everyone";
    f.subject = "";
    s = alert_summary(&f);
    assert_string_equal(s, "quota \"team-platform\" (everyone, cost per month in Europe/Berlin): "
                           "forecast to exceed the limit: 612.5 USD projected against 500 USD, "
                           "412.5 USD used so far (period 2026-10-31T23:00:00Z to "
                           "2026-11-30T23:00:00Z)");
    free(s);
    j = payload_json("alertmanager", &f);
    labels = json_object_get(json_array_get(j, 0), "labels");
    assert_null(json_object_get(labels, "subject")); /* empty label = no label */
    assert_string_equal(json_string_value(json_object_get(labels, "threshold")), "forecast");
    json_decref(j);

    f.threshold = "100";
    j = payload_json("alertmanager", &f);
    labels = json_object_get(json_array_get(j, 0), "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "severity")), "critical");
    json_decref(j);
}

static void test_sign(void **state)
{
    char sig[ALERT_SIGNATURE_LEN + 1];
    const char *data = "what do ya want for nothing?";
    (void)state;

    /* RFC 4231, test case 2 */
    alert_sign("Jefe", 4, data, strlen(data), sig);
    assert_string_equal(sig,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_backoff(void **state)
{
    alert_opts o = {.backoff_ms = 200, .backoff_max_ms = 1000, .timeout_ms = 1};
    (void)state;

    assert_int_equal(alert_backoff_delay_ms(&o, 1), 200);
    assert_int_equal(alert_backoff_delay_ms(&o, 2), 400);
    assert_int_equal(alert_backoff_delay_ms(&o, 3), 800);
    assert_int_equal(alert_backoff_delay_ms(&o, 4), 1000);
    assert_int_equal(alert_backoff_delay_ms(&o, 1000000), 1000);
}

static void test_secret(void **state)
{
    char dir[] = "/tmp/tally-test-creds.XXXXXX";
    char path[128], ref[160];
    size_t len = 0;
    char *key;
    FILE *f;
    (void)state;

    /* a file is read only under $CREDENTIALS_DIRECTORY (or /run/secrets) */
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/hook", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("s3cret\n", f);
    fclose(f);
    snprintf(ref, sizeof(ref), "file:%s", path);
    unsetenv("CREDENTIALS_DIRECTORY");
    assert_false(quota_secret_ref_valid(ref));
    assert_null(alert_secret_load(ref, &len));
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    assert_true(quota_secret_ref_valid(ref));
    key = alert_secret_load(ref, &len);
    assert_non_null(key);
    assert_int_equal(len, 6);
    assert_string_equal(key, "s3cret");
    free(key);
    snprintf(ref, sizeof(ref), "file:%s/../%s/hook", dir, strrchr(dir, '/') + 1);
    assert_false(quota_secret_ref_valid(ref));
    assert_null(alert_secret_load(ref, &len));
    snprintf(ref, sizeof(ref), "file:%sx/hook", dir);
    assert_false(quota_secret_ref_valid(ref));
    snprintf(ref, sizeof(ref), "file:%s", path);
    unlink(path);
    rmdir(dir);
    assert_null(alert_secret_load(ref, &len));
    unsetenv("CREDENTIALS_DIRECTORY");

    setenv("TALLY_ALERT_KEY_TEST_HOOK", "k3y", 1);
    key = alert_secret_load("env:TALLY_ALERT_KEY_TEST_HOOK", &len);
    assert_non_null(key);
    assert_string_equal(key, "k3y");
    free(key);
    assert_null(alert_secret_load("env:TALLY_ALERT_KEY_TEST_UNSET", &len));
    /* set, but not an alert key: never read (rows stored before the rule) */
    setenv("TALLY_TEST_DB_PASSWORD", "hunter2", 1);
    assert_null(alert_secret_load("env:TALLY_TEST_DB_PASSWORD", &len));
    assert_null(alert_secret_load("hunter2", &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_full),
        cmocka_unit_test(test_limit_numbers), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_everyone),      cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_payloads),      cmocka_unit_test(test_payload_forecast),
        cmocka_unit_test(test_sign),          cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
