/* Unit tests of ingest/parse_monitor.c: Azure Monitor resource logs of APIM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse_collect.h"

/* The example: one request whose LLM log came in two chunks (sequence 0 and 1, both
 * with the same counts: the sink counts the request once), then its GatewayLogs. */
static void test_chunked_llm_then_gateway(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/monitor-records.json", PARSE_MONITOR, "monitor-records"), 3);
}

/* A bare array in PascalCase, GatewayLogs before its LLM record, headers as name/value
 * pairs, counts as strings; 07:00:00.0000001Z is below a microsecond; 3 input + 150000
 * cached is not long context. */
static void test_bare_array_gateway_first(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/monitor-bare-array.json", PARSE_MONITOR, "monitor-bare-array"),
        2);
}

static void test_single_llm_record(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/monitor-single-llm.json", PARSE_MONITOR, "monitor-single-llm"),
        1);
}

/* Azure's own GatewayLogs shape: correlationId and location at the top of the record,
 * the caller in frontend request headers with other casing, a value logged as an array. */
static void test_single_gateway_record(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("events/monitor-single-gateway.json", PARSE_MONITOR,
                                        "monitor-single-gateway"),
                     1);
}

/* Where the caller's headers are found: hdr-1, backendRequestHeaders (set by the policy)
 * win over a header the client sent; hdr-2, headers logged as a JSON document in a string;
 * hdr-3, "Name: value" lines, blanks trimmed; hdr-4, the whole properties object logged as
 * a string; hdr-5, no headers: only the subscription identifies the caller. */
static void test_header_places(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/monitor-headers.json", PARSE_MONITOR, "monitor-headers"), 5);
}

static void test_other_categories_ignored(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("events/monitor-other-categories.json", PARSE_MONITOR,
                                        "monitor-other-categories"),
                     1);
}

/* Each bad record is rejected with its own JSON text (its line of the fixture); the good
 * one (good-1) still comes out. */
static void test_bad_records(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/monitor-bad-records.json", PARSE_MONITOR, "monitor-bad-records"),
        10);
}

/* A message that is one bad record is rejected whole (one message a line). */
static void test_single_record_reject(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("parse/monitor-single-rejects.jsonl", PARSE_MONITOR,
                                        "monitor-single-rejects"),
                     3);
}

/* Values in properties win; a field missing there is taken from the record. Time may be
 * TimeGenerated (the Log Analytics export); a correlation id that is a number is a reject. */
static void test_lookup_fallbacks(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("parse/monitor-lookup-fallbacks.jsonl", PARSE_MONITOR,
                                        "monitor-lookup-fallbacks"),
                     2);
}

/* Long context on the monitor path counts the cache reads. */
static void test_llm_long_context(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("parse/monitor-long-context.json", PARSE_MONITOR,
                                        "monitor-long-context"),
                     1);
}

static void test_empty_batches(void **state)
{
    collected c = {0};

    (void)state;
    assert_int_equal(parse_message("{\"records\":[]}", 14, PARSE_MONITOR, collect_emit, &c), 0);
    assert_int_equal(parse_message("[]", 2, PARSE_MONITOR, collect_emit, &c), 0);
    assert_int_equal(parse_message("[]", 2, PARSE_AUTO, collect_emit, &c), 0);
    assert_int_equal(parse_message("{\"Records\":[]}", 14, PARSE_AUTO, collect_emit, &c), 0);
    assert_int_equal(c.n, 0);
    collected_free(&c);
}

/* Auto-detection (envelope, bare array and single record) yields the same items as the
 * named format. */
static void test_auto(void **state)
{
    static const char *const names[] = {"monitor-records", "monitor-bare-array",
                                        "monitor-single-llm", "monitor-single-gateway",
                                        "monitor-headers"};
    char input[256];
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(input, sizeof(input), "events/%s.json", names[i]);
        n += golden_parse_check(input, PARSE_AUTO, names[i]);
    }
    assert_int_equal(n, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_llm_then_gateway),
        cmocka_unit_test(test_bare_array_gateway_first),
        cmocka_unit_test(test_single_llm_record),
        cmocka_unit_test(test_single_gateway_record),
        cmocka_unit_test(test_header_places),
        cmocka_unit_test(test_other_categories_ignored),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_single_record_reject),
        cmocka_unit_test(test_lookup_fallbacks),
        cmocka_unit_test(test_llm_long_context),
        cmocka_unit_test(test_empty_batches),
        cmocka_unit_test(test_auto),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
