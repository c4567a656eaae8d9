/* Unit tests of ingest/parse_legacy.c: the AI hub gateway accelerator's flat format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse_collect.h"

static void assert_cache_unknown(const tally_event *ev)
{
    assert_true(ev->cache_write_unknown);
    assert_int_equal(ev->cache_read_tokens, 0);
    assert_int_equal(ev->cache_write_5m_tokens, 0);
    assert_int_equal(ev->cache_write_1h_tokens, 0);
    assert_int_equal(ev->cache_write_unsplit_tokens, 0);
}

static void test_accelerator_example(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "legacy-accelerator.json", PARSE_LEGACY);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    ev = &c.items[0].ev;
    assert_int_equal(ev->format, EVENT_FORMAT_LEGACY);
    assert_string_equal(ev->request_id, "9b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    /* "10/14/2026 2:45:56 PM", UTC */
    assert_int_equal(ev->event_time_us, INT64_C(1791989156000000));
    assert_string_equal(ev->subscription, "claude-code-devs");
    assert_string_equal(ev->product, "claude-code");
    assert_string_equal(ev->deployment, "claude-haiku-4-5");
    assert_string_equal(ev->model, "claude-haiku-4-5-20251001");
    assert_string_equal(ev->user_oid, "a1b2c3d4-1111-4222-8333-444455556666");
    assert_string_equal(ev->gateway, "apim-contoso");
    assert_string_equal(ev->region, "Sweden Central");
    assert_string_equal(ev->operation, "messages");
    assert_string_equal(ev->session_id, "");
    assert_string_equal(ev->app_id, "");
    assert_string_equal(ev->user_upn, "");
    assert_int_equal(ev->input_tokens, 1500);
    assert_int_equal(ev->output_tokens, 320);
    assert_int_equal(ev->status_code, 0);
    assert_int_equal(ev->is_stream, -1);
    assert_cache_unknown(ev);
    assert_false(ev->long_context);
    collected_free(&c);
}

static void test_iso_timestamp_and_numbers(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "legacy-iso.json", PARSE_LEGACY);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    ev = &c.items[0].ev;
    assert_string_equal(ev->request_id, "legacy-iso-0001");
    /* 2024-02-29T00:00:00.1234567+05:45 (Asia/Kathmandu) */
    assert_int_equal(ev->event_time_us, INT64_C(1709144100123456));
    assert_string_equal(ev->subscription, "team-a");
    assert_string_equal(ev->model, "");
    assert_string_equal(ev->deployment, "claude-opus-4-1");
    assert_string_equal(ev->user_oid, "");
    assert_string_equal(ev->gateway, "apim-kathmandu");
    assert_string_equal(ev->region, "Central India");
    assert_string_equal(ev->session_id, "sess-legacy");
    assert_string_equal(ev->app_id, "app-legacy");
    assert_int_equal(ev->input_tokens, 12);
    assert_int_equal(ev->output_tokens, 34);
    assert_cache_unknown(ev);
    collected_free(&c);
}

/* 12 AM is midnight, 12 PM noon; a 24-hour culture time has no AM/PM. */
static void test_array_and_clock(void **state)
{
    collected c = {0};

    (void)state;
    collect_fixture(&c, "legacy-array.json", PARSE_LEGACY);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    assert_string_equal(c.items[0].ev.request_id, "legacy-am");
    assert_int_equal(c.items[0].ev.event_time_us, INT64_C(1716511556000000));
    assert_int_equal(c.items[0].ev.input_tokens, 1);
    assert_int_equal(c.items[0].ev.output_tokens, 2);
    assert_int_equal(c.items[1].kind, ITEM_EVENT);
    assert_string_equal(c.items[1].ev.request_id, "legacy-pm");
    assert_int_equal(c.items[1].ev.event_time_us, INT64_C(1716554756000000));
    assert_int_equal(c.items[1].ev.input_tokens, 3);
    assert_int_equal(c.items[1].ev.output_tokens, 4);
    assert_int_equal(c.items[2].kind, ITEM_EVENT);
    assert_string_equal(c.items[2].ev.request_id, "legacy-24h");
    /* 2025-12-31T23:59:59Z */
    assert_int_equal(c.items[2].ev.event_time_us, INT64_C(1767225599000000));
    assert_int_equal(c.items[2].ev.input_tokens, 0);
    assert_int_equal(c.items[2].ev.output_tokens, 0);
    assert_string_equal(c.items[2].ev.user_oid, "u-2");
    for (size_t i = 0; i < c.n; i++)
        assert_cache_unknown(&c.items[i].ev);
    collected_free(&c);
}

static void test_reject_table(void **state)
{
    (void)state;
    check_reject_table("rejects-legacy", PARSE_LEGACY);
}

/* Auto-detection finds the legacy format from its keys. */
static void test_auto(void **state)
{
    collected c = {0};

    (void)state;
    collect_fixture(&c, "legacy-accelerator.json", PARSE_AUTO);
    collect_fixture(&c, "legacy-array.json", PARSE_AUTO);
    collect_str(&c,
                "{\"id\":\"only-end-user\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"model\":\"m\","
                "\"EndUserId\":\"x\"}",
                PARSE_AUTO);
    assert_int_equal(c.n, 5);
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(c.items[i].kind, ITEM_EVENT);
        assert_int_equal(c.items[i].ev.format, EVENT_FORMAT_LEGACY);
    }
    assert_string_equal(c.items[4].ev.request_id, "only-end-user");
    assert_int_equal(c.items[4].ev.event_time_us, INT64_C(1767225600000000));
    collected_free(&c);
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
