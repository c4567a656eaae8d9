/* Unit tests of ingest/parse_usage.c: tally.usage/1 messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse_collect.h"

/* The README's example. 2026-10-14T09:12:33.4821937Z: the seventh fraction digit is
 * truncated; appId "NA" is empty. */
static void test_stream_example(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/usage-v1-stream.json", PARSE_USAGE, "usage-v1-stream"), 1);
}

/* Counts and flags as strings, "NA" for absent values; 23:59:59.999+05:30 is one
 * millisecond before November in Asia/Kolkata; writes without a 5m/1h split are unsplit. */
static void test_strings_and_na(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("events/usage-v1-json-strings.json", PARSE_USAGE,
                                        "usage-v1-json-strings"),
                     1);
}

/* Two events in an array; 12:00:01.5+01:00 is 11:00:01.5Z; a split covering 5000 of
 * 10000 writes leaves the rest unsplit. */
static void test_array_of_events(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/usage-v1-array.json", PARSE_USAGE, "usage-v1-array"), 2);
}

/* PascalCase keys; 23:59:59.999+05:30 is 18:29:59.999Z. */
static void test_pascal_case_keys(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/usage-v1-pascal.json", PARSE_USAGE, "usage-v1-pascal"), 1);
}

/* long-1: 150000 input + 49999 read + 2 written = 200001 is long context; long-2: exactly
 * 200000 is not over the threshold; long-3: 1 input + 200000 written for 1h is. */
static void test_long_context(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("events/usage-v1-long-context.json", PARSE_USAGE,
                                        "usage-v1-long-context"),
                     3);
}

/* A failed request: no usage object, null isStream. Still an event, with no tokens. */
static void test_no_usage(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("events/usage-v1-error-no-usage.json", PARSE_USAGE,
                                        "usage-v1-error-no-usage"),
                     1);
}

/* What deploy/apim/policy.xml really emits (tests/fixtures/apim/README.md), auto-detected:
 * the JSON response, then the streamed one. */
static void test_apim_policy_output(void **state)
{
    collected c = {0};
    size_t len;
    char *buf;

    (void)state;
    buf = fixture_load("apim/policy-json.json", &len);
    collect_parse(&c, buf, len, PARSE_AUTO);
    free(buf);
    buf = fixture_load("apim/policy-sse.json", &len);
    collect_parse(&c, buf, len, PARSE_AUTO);
    free(buf);
    assert_int_equal(c.n, 2);
    golden_check(&c, "apim-policy");
    collected_free(&c);
}

static void test_reject_table(void **state)
{
    (void)state;
    check_reject_table("rejects-usage", PARSE_USAGE);
}

/* One bad element of an array is rejected with its own JSON; the others go on, and a
 * reject carries no event. */
static void test_array_with_reject(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("parse/usage-array-with-reject.json", PARSE_USAGE,
                                        "usage-array-with-reject"),
                     4);
}

/* The message is len bytes, not a C string: whatever follows is not read. */
static void test_not_nul_terminated(void **state)
{
    static const char buf[] = "{\"schema\":\"tally.usage/1\",\"requestId\":\"len-1\","
                              "\"timestamp\":\"2026-10-14T09:12:33Z\",\"model\":\"m\"}GARBAGE";
    collected c = {0};

    (void)state;
    collect_parse(&c, buf, sizeof(buf) - 1 - strlen("GARBAGE"), PARSE_USAGE);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    assert_string_equal(c.items[0].ev.request_id, "len-1");
    collected_free(&c);
}

/* Ids of exactly the field size fit; labels longer than theirs are cut, not rejected. */
static void test_field_sizes(void **state)
{
    char msg[2048];
    char id[EVENT_ID_MAX + 1];
    char upn[EVENT_LABEL_MAX + 40];
    collected c = {0};

    (void)state;
    memset(id, 'i', EVENT_ID_MAX);
    id[EVENT_ID_MAX] = '\0';
    /* 'u' then two-byte characters, so that the cut falls inside one */
    upn[0] = 'u';
    for (size_t i = 1; i + 2 < sizeof(upn); i += 2)
        memcpy(upn + i, "\xc3\xa9", 2);
    upn[sizeof(upn) - 1] = '\0';
    snprintf(msg, sizeof(msg),
             "{\"schema\":\"tally.usage/1\",\"requestId\":\"%s\",\"timestamp\":\"2026-10-14T09:"
             "12:33Z\",\"model\":\"m\",\"userUpn\":\"%s\"}",
             id, upn);
    collect_str(&c, msg, PARSE_USAGE);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    assert_string_equal(c.items[0].ev.request_id, id);
    /* 256 bytes would end in half a character: cut to 255 */
    assert_int_equal(strlen(c.items[0].ev.user_upn), EVENT_LABEL_MAX - 1);
    assert_memory_equal(c.items[0].ev.user_upn, upn, EVENT_LABEL_MAX - 1);
    collected_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_example),    cmocka_unit_test(test_strings_and_na),
        cmocka_unit_test(test_array_of_events),   cmocka_unit_test(test_pascal_case_keys),
        cmocka_unit_test(test_long_context),      cmocka_unit_test(test_no_usage),
        cmocka_unit_test(test_reject_table),      cmocka_unit_test(test_apim_policy_output),
        cmocka_unit_test(test_array_with_reject), cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_field_sizes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
