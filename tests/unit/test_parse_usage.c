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

/* Fast mode, US inference and three iterations: an advisor on another model, the final
 * message on the response's model (equal to the top level, as Anthropic reports it) and one
 * without a model; each keeps its own 5m/1h/unsplit split. The top level stays as sent. */
static void test_iterations(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    assert_int_equal(
        golden_parse_check("events/usage-v1-iterations.json", PARSE_USAGE, "usage-v1-iterations"),
        1);
    collect_fixture(&c, "usage-v1-iterations.json", PARSE_USAGE);
    ev = &c.items[0].ev;
    assert_string_equal(ev->speed, "fast");
    assert_string_equal(ev->inference_geo, "us");
    assert_string_equal(ev->service_tier, "standard");
    assert_int_equal(ev->prompt_tokens, 64200);
    assert_int_equal(ev->prompt_band, 2);
    assert_int_equal(ev->niterations, 3);
    assert_string_equal(ev->iterations[0].model, "claude-sonnet-5-5");
    assert_int_equal(ev->iterations[0].cache_write_unsplit_tokens, 1);
    assert_string_equal(ev->iterations[2].model, "");
    assert_int_equal(ev->iterations[2].cache_write_unsplit_tokens, 7);
    collected_free(&c);
}

/* Bands are (lower, upper]: a prompt equal to a breakpoint is in the band below it. */
static void test_prompt_band_edges(void **state)
{
    static const struct {
        int64_t prompt;
        int band;
    } cases[] = {
        {0, 0},       {32000, 0},   {32001, 1},
        {63999, 1},   {64000, 1},   {64001, 2},
        {99999, 2},   {100000, 2},  {100001, 3},
        {128000, 3},  {128001, 4},  {199999, 4},
        {200000, 4},  {200001, 5},  {256000, 5},
        {256001, 6},  {500000, 6},  {500001, 7},
        {1000000, 7}, {1000001, 8}, {INT64_C(1000000000000), 8},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (event_prompt_band(cases[i].prompt) != cases[i].band)
            fail_msg("prompt %lld: band %d, expected %d", (long long)cases[i].prompt,
                     event_prompt_band(cases[i].prompt), cases[i].band);
    }
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
        cmocka_unit_test(test_field_sizes),       cmocka_unit_test(test_iterations),
        cmocka_unit_test(test_prompt_band_edges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
