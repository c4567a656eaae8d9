/*
 * report/quota/alert.c's pure parts: payloads, HMAC signature, backoff, and the HMAC keys
 * a secret reference may load (with rules.c's check of the reference).
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
#include <jansson.h>

#include "alert.h"
#include "rules.h"

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
    assert_string_equal(json_string_value(json_object_get(labels, "alertname")),
                        "TallyQuotaForecastOverLimit");
    assert_string_equal(json_string_value(json_object_get(labels, "threshold")), "forecast");
    assert_string_equal(json_string_value(json_object_get(labels, "severity")), "warning");
    json_decref(j);

    f.threshold = "100";
    j = payload_json("alertmanager", &f);
    labels = json_object_get(json_array_get(j, 0), "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "alertname")),
                        "TallyQuotaThreshold");
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
        cmocka_unit_test(test_payloads), cmocka_unit_test(test_payload_forecast),
        cmocka_unit_test(test_sign),     cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
