/* Unit tests of ingest/parse_legacy.c: the AI hub gateway accelerator's flat format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse_collect.h"

/* The accelerator's example: "10/14/2026 2:45:56 PM" is UTC; the format reports no cache
 * tokens at all (cache_write_unknown). */
static void test_accelerator_example(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/legacy-accelerator.json", PARSE_LEGACY, "legacy-accelerator"),
        1);
}

/* 2024-02-29T00:00:00.1234567+05:45 (Asia/Kathmandu), counts as strings. */
static void test_iso_timestamp_and_numbers(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("events/legacy-iso.json", PARSE_LEGACY, "legacy-iso"), 1);
}

/* 12 AM is midnight, 12 PM noon; a 24-hour culture time has no AM/PM (legacy-24h is
 * 2025-12-31T23:59:59Z). */
static void test_array_and_clock(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("events/legacy-array.json", PARSE_LEGACY, "legacy-array"),
                     3);
}

static void test_reject_table(void **state)
{
    (void)state;
    check_reject_table("rejects-legacy", PARSE_LEGACY);
}

/* Auto-detection finds the legacy format from its keys: the same items as when the
 * format is given, and a message whose only legacy key is EndUserId. */
static void test_auto(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("events/legacy-accelerator.json", PARSE_AUTO, "legacy-accelerator"), 1);
    assert_int_equal(golden_parse_check("events/legacy-array.json", PARSE_AUTO, "legacy-array"), 3);
    assert_int_equal(
        golden_parse_check("parse/legacy-auto-end-user.json", PARSE_AUTO, "legacy-auto-end-user"),
        1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accelerator_example),
        cmocka_unit_test(test_iso_timestamp_and_numbers),
        cmocka_unit_test(test_array_and_clock),
        cmocka_unit_test(test_reject_table),
        cmocka_unit_test(test_auto),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
