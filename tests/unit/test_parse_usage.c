/* Unit tests of ingest/parse_usage.c: tally.usage/1 messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse_collect.h"

static void test_stream_example(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "usage-v1-stream.json", PARSE_USAGE);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    ev = &c.items[0].ev;
    assert_int_equal(ev->format, EVENT_FORMAT_USAGE);
    assert_string_equal(ev->request_id, "3f2a9c1e-5b7d-4e2a-9c1e-5b7d4e2a9c1e");
    /* 2026-10-14T09:12:33.4821937Z: the seventh fraction digit is truncated */
    assert_int_equal(ev->event_time_us, INT64_C(1791969153482193));
    assert_string_equal(ev->gateway, "apim-contoso");
    assert_string_equal(ev->region, "Sweden Central");
    assert_string_equal(ev->subscription, "claude-code-devs");
    assert_string_equal(ev->product, "claude-code");
    assert_string_equal(ev->operation, "messages");
    assert_int_equal(ev->status_code, 200);
    assert_int_equal(ev->is_stream, 1);
    assert_string_equal(ev->tenant_id, "7f0c2b1a-0000-4000-8000-00000000c0de");
    assert_string_equal(ev->user_oid, "a1b2c3d4-1111-4222-8333-444455556666");
    assert_string_equal(ev->user_upn, "ana.lima@contoso.example");
    assert_string_equal(ev->app_id, "");
    assert_string_equal(ev->session_id, "8d0e6b1c-2f4a-4b7e-9c3d-1a2b3c4d5e6f");
    assert_string_equal(ev->deployment, "claude-sonnet-4-6");
    assert_string_equal(ev->model, "claude-sonnet-4-6");
    assert_string_equal(ev->message_id, "msg_01XyZ8aBcDeFgHiJkLmNoPq");
    assert_string_equal(ev->service_tier, "standard");
    assert_int_equal(ev->input_tokens, 42);
    assert_int_equal(ev->output_tokens, 1873);
    assert_int_equal(ev->cache_read_tokens, 88412);
    assert_int_equal(ev->cache_write_5m_tokens, 6120);
    assert_int_equal(ev->cache_write_1h_tokens, 0);
    assert_int_equal(ev->cache_write_unsplit_tokens, 0);
    assert_false(ev->cache_write_unknown);
    assert_int_equal(ev->web_search_requests, 0);
    assert_int_equal(ev->web_fetch_requests, 0);
    assert_false(ev->long_context);
    assert_null(c.items[0].raw);
    collected_free(&c);
}

static void test_strings_and_na(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "usage-v1-json-strings.json", PARSE_USAGE);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    ev = &c.items[0].ev;
    assert_string_equal(ev->request_id, "77c1d2e3-aaaa-4bbb-8ccc-ddddeeeeffff");
    /* one millisecond before November in Asia/Kolkata */
    assert_int_equal(ev->event_time_us, INT64_C(1793471399999000));
    assert_string_equal(ev->subscription, "");
    assert_string_equal(ev->app_id, "");
    assert_string_equal(ev->session_id, "");
    assert_int_equal(ev->status_code, 200);
    assert_int_equal(ev->is_stream, 0);
    assert_string_equal(ev->deployment, "opus-prod");
    assert_string_equal(ev->model, "claude-opus-4-6");
    assert_string_equal(ev->user_oid, "b2c3d4e5-2222-4333-8444-555566667777");
    assert_int_equal(ev->input_tokens, 1250);
    assert_int_equal(ev->output_tokens, 640);
    assert_int_equal(ev->cache_read_tokens, 0);
    /* no 5m/1h split: all writes are unsplit */
    assert_int_equal(ev->cache_write_unsplit_tokens, 30000);
    assert_int_equal(ev->cache_write_5m_tokens, 0);
    assert_int_equal(ev->cache_write_1h_tokens, 0);
    assert_false(ev->cache_write_unknown);
    assert_string_equal(ev->service_tier, "");
    assert_false(ev->long_context);
    collected_free(&c);
}

static void test_array_of_events(void **state)
{
    collected c = {0};
    const tally_event *a, *b;

    (void)state;
    collect_fixture(&c, "usage-v1-array.json", PARSE_USAGE);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    assert_int_equal(c.items[1].kind, ITEM_EVENT);
    a = &c.items[0].ev;
    b = &c.items[1].ev;

    assert_string_equal(a->request_id, "req-array-1");
    assert_int_equal(a->event_time_us, INT64_C(1772971200000000));
    assert_int_equal(a->is_stream, 1);
    assert_int_equal(a->input_tokens, 10);
    assert_int_equal(a->output_tokens, 200);
    assert_int_equal(a->cache_read_tokens, 12000);
    assert_int_equal(a->cache_write_5m_tokens, 0);
    assert_int_equal(a->cache_write_1h_tokens, 4000);
    assert_int_equal(a->cache_write_unsplit_tokens, 0);

    /* 12:00:01.5+01:00 is 11:00:01.5Z */
    assert_string_equal(b->request_id, "req-array-2");
    assert_int_equal(b->event_time_us, INT64_C(1772967601500000));
    assert_string_equal(b->model, "");
    assert_string_equal(b->deployment, "sonnet");
    assert_int_equal(b->is_stream, 0);
    assert_int_equal(b->status_code, 0);
    assert_int_equal(b->input_tokens, 7);
    assert_int_equal(b->output_tokens, 70);
    assert_int_equal(b->cache_read_tokens, 0);
    /* the split covers 5000 of 10000 writes: the rest is unsplit */
    assert_int_equal(b->cache_write_5m_tokens, 3000);
    assert_int_equal(b->cache_write_1h_tokens, 2000);
    assert_int_equal(b->cache_write_unsplit_tokens, 5000);
    assert_int_equal(b->web_search_requests, 3);
    assert_int_equal(b->web_fetch_requests, 2);
    assert_string_equal(b->service_tier, "priority");
    collected_free(&c);
}

static void test_pascal_case_keys(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "usage-v1-pascal.json", PARSE_USAGE);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    ev = &c.items[0].ev;
    assert_string_equal(ev->request_id, "PASCAL-REQ-0001");
    /* 23:59:59.999+05:30 is 18:29:59.999Z */
    assert_int_equal(ev->event_time_us, INT64_C(1793471399999000));
    assert_string_equal(ev->gateway, "apim-contoso");
    assert_string_equal(ev->region, "Central India");
    assert_string_equal(ev->subscription, "claude-code-devs");
    assert_string_equal(ev->product, "claude-code");
    assert_string_equal(ev->operation, "messages");
    assert_int_equal(ev->status_code, 429);
    assert_int_equal(ev->is_stream, 1);
    assert_string_equal(ev->tenant_id, "7f0c2b1a-0000-4000-8000-00000000c0de");
    assert_string_equal(ev->user_oid, "d4e5f6a7-4444-4555-8666-777788889999");
    assert_string_equal(ev->user_upn, "priya.shah@contoso.example");
    assert_string_equal(ev->app_id, "app-1");
    assert_string_equal(ev->session_id, "sess-1");
    assert_string_equal(ev->deployment, "claude-sonnet-4-5");
    assert_string_equal(ev->model, "claude-sonnet-4-5-20250929");
    assert_string_equal(ev->message_id, "msg_pascal");
    assert_int_equal(ev->input_tokens, 5);
    assert_int_equal(ev->output_tokens, 6);
    assert_int_equal(ev->cache_write_5m_tokens, 7);
    assert_int_equal(ev->cache_write_1h_tokens, 0);
    assert_int_equal(ev->cache_write_unsplit_tokens, 0);
    assert_int_equal(ev->cache_read_tokens, 8);
    assert_int_equal(ev->web_search_requests, 1);
    assert_int_equal(ev->web_fetch_requests, 0);
    assert_string_equal(ev->service_tier, "standard");
    collected_free(&c);
}

static void test_long_context(void **state)
{
    collected c = {0};

    (void)state;
    collect_fixture(&c, "usage-v1-long-context.json", PARSE_USAGE);
    assert_int_equal(c.n, 3);
    /* 150000 input + 49999 read + 2 written = 200001 */
    assert_string_equal(c.items[0].ev.request_id, "long-1");
    assert_int_equal(c.items[0].ev.cache_write_unsplit_tokens, 2);
    assert_true(c.items[0].ev.long_context);
    /* exactly 200000 is not over the threshold */
    assert_string_equal(c.items[1].ev.request_id, "long-2-boundary");
    assert_false(c.items[1].ev.long_context);
    /* 1 input + 200000 written for 1h */
    assert_string_equal(c.items[2].ev.request_id, "long-3-split");
    assert_int_equal(c.items[2].ev.cache_write_1h_tokens, 200000);
    assert_int_equal(c.items[2].ev.cache_write_unsplit_tokens, 0);
    assert_true(c.items[2].ev.long_context);
    collected_free(&c);
}

/* A failed request: no usage object, null isStream. Still an event, with no tokens. */
static void test_no_usage(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "usage-v1-error-no-usage.json", PARSE_USAGE);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    ev = &c.items[0].ev;
    assert_string_equal(ev->request_id, "err-429-0001");
    assert_int_equal(ev->status_code, 429);
    assert_int_equal(ev->is_stream, -1);
    assert_string_equal(ev->model, "");
    assert_string_equal(ev->deployment, "claude-opus-4-6");
    assert_int_equal(ev->input_tokens + ev->output_tokens + ev->cache_read_tokens +
                         ev->cache_write_5m_tokens + ev->cache_write_1h_tokens +
                         ev->cache_write_unsplit_tokens,
                     0);
    collected_free(&c);
}

/* What deploy/apim/policy.xml really emits (tests/fixtures/apim/README.md). */
static void test_apim_policy_output(void **state)
{
    collected c = {0};
    size_t len;
    char *buf;
    const tally_event *ev;

    (void)state;
    buf = fixture_load("apim/policy-json.json", &len);
    collect_parse(&c, buf, len, PARSE_AUTO);
    free(buf);
    buf = fixture_load("apim/policy-sse.json", &len);
    collect_parse(&c, buf, len, PARSE_AUTO);
    free(buf);
    assert_int_equal(c.n, 2);

    ev = &c.items[0].ev;
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    assert_int_equal(ev->format, EVENT_FORMAT_USAGE);
    assert_string_equal(ev->request_id, "77c1d2e3-aaaa-4bbb-8ccc-ddddeeeeffff");
    assert_int_equal(ev->event_time_us, INT64_C(1793471399999000));
    assert_string_equal(ev->deployment, "opus-prod");
    assert_string_equal(ev->model, "claude-opus-4-6");
    assert_string_equal(ev->app_id, "04b07795-8ddb-461a-bbee-02f9e1bf7b46");
    assert_int_equal(ev->is_stream, 0);
    assert_int_equal(ev->input_tokens, 1250);
    assert_int_equal(ev->output_tokens, 640);
    assert_int_equal(ev->cache_write_5m_tokens, 24000);
    assert_int_equal(ev->cache_write_1h_tokens, 6000);
    assert_int_equal(ev->cache_write_unsplit_tokens, 0);
    assert_int_equal(ev->cache_read_tokens, 0);

    ev = &c.items[1].ev;
    assert_int_equal(c.items[1].kind, ITEM_EVENT);
    assert_string_equal(ev->request_id, "3f2a9c1e-5b7d-4e2a-9c1e-5b7d4e2a9c1e");
    assert_int_equal(ev->event_time_us, INT64_C(1791969153482193));
    assert_string_equal(ev->deployment, "claude-sonnet-4-6");
    assert_string_equal(ev->model, "claude-sonnet-4-6");
    assert_int_equal(ev->is_stream, 1);
    assert_int_equal(ev->input_tokens, 42);
    assert_int_equal(ev->output_tokens, 1873);
    assert_int_equal(ev->cache_write_5m_tokens, 6120);
    assert_int_equal(ev->cache_write_1h_tokens, 0);
    assert_int_equal(ev->cache_write_unsplit_tokens, 0);
    assert_int_equal(ev->cache_read_tokens, 88412);
    collected_free(&c);
}

static void test_reject_table(void **state)
{
    (void)state;
    check_reject_table("rejects-usage", PARSE_USAGE);
}

/* One bad element of an array is rejected with its own JSON; the others go on. */
static void test_array_with_reject(void **state)
{
    static const char msg[] =
        "[{\"schema\":\"tally.usage/1\",\"requestId\":\"ok-1\",\"timestamp\":\"2026-10-14T09:12:"
        "33Z\",\"model\":\"m\"},\n"
        " {\"schema\":\"tally.usage/1\", \"timestamp\":\"2026-10-14T09:12:33Z\"},\n"
        " 7,\n"
        " {\"schema\":\"tally.usage/1\",\"requestId\":\"ok-2\",\"timestamp\":\"2026-10-14T09:12:"
        "34Z\",\"deploymentName\":\"d\",\"usage\":{\"output_tokens\":\"9\"}}]";
    collected c = {0};

    (void)state;
    collect_str(&c, msg, PARSE_USAGE);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.items[0].kind, ITEM_EVENT);
    assert_string_equal(c.items[0].ev.request_id, "ok-1");
    assert_int_equal(c.items[1].kind, ITEM_REJECT);
    assert_string_equal(c.items[1].reason, "missing requestId");
    assert_string_equal(c.items[1].raw,
                        "{\"schema\":\"tally.usage/1\",\"timestamp\":\"2026-10-14T09:12:33Z\"}");
    assert_int_equal(c.items[2].kind, ITEM_REJECT);
    assert_string_equal(c.items[2].reason, "event is not an object");
    assert_string_equal(c.items[2].raw, "7");
    assert_int_equal(c.items[3].kind, ITEM_EVENT);
    assert_string_equal(c.items[3].ev.request_id, "ok-2");
    assert_int_equal(c.items[3].ev.output_tokens, 9);
    /* a reject carries no event */
    assert_string_equal(c.items[1].ev.request_id, "");
    collected_free(&c);
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
