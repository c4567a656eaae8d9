/* Unit tests of ingest/parse_monitor.c: Azure Monitor resource logs of APIM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse_collect.h"

#define T_0912_33 INT64_C(1791969153000000) /* 2026-10-14T09:12:33Z */
#define T_0912_34 INT64_C(1791969154000000) /* 2026-10-14T09:12:34Z */

static void assert_llm(const parse_item *it, const char *correlation, int sequence)
{
    assert_int_equal(it->kind, ITEM_MON_LLM);
    assert_int_equal(it->ev.format, EVENT_FORMAT_MONITOR);
    assert_string_equal(it->ev.request_id, correlation);
    assert_int_equal(it->sequence, sequence);
    assert_true(it->ev.cache_write_unknown);
    assert_int_equal(it->ev.cache_write_5m_tokens, 0);
    assert_int_equal(it->ev.cache_write_1h_tokens, 0);
    assert_int_equal(it->ev.cache_write_unsplit_tokens, 0);
    assert_string_equal(it->ev.user_oid, "");
    assert_null(it->raw);
}

static void assert_gateway(const parse_item *it, const char *correlation)
{
    assert_int_equal(it->kind, ITEM_MON_GATEWAY);
    assert_int_equal(it->ev.format, EVENT_FORMAT_MONITOR);
    assert_string_equal(it->ev.request_id, correlation);
    assert_int_equal(it->ev.input_tokens + it->ev.output_tokens + it->ev.cache_read_tokens, 0);
    assert_string_equal(it->ev.model, "");
    assert_null(it->raw);
}

/* The example: one request whose LLM log came in two chunks, then its GatewayLogs. */
static void test_chunked_llm_then_gateway(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "monitor-records.json", PARSE_MONITOR);
    assert_int_equal(c.n, 3);
    for (int seq = 0; seq < 2; seq++) {
        /* both chunks carry the same counts: the sink counts the request once */
        assert_llm(&c.items[seq], "c0ffee00-1234-4abc-8def-0123456789ab", seq);
        ev = &c.items[seq].ev;
        assert_int_equal(ev->event_time_us, INT64_C(1791969153510000));
        assert_string_equal(ev->model, "claude-sonnet-4-6");
        assert_string_equal(ev->deployment, "claude-sonnet-4-6");
        assert_string_equal(ev->message_id, "msg_01QrStUv");
        assert_int_equal(ev->is_stream, 1);
        assert_int_equal(ev->input_tokens, 42);
        assert_int_equal(ev->output_tokens, 1873);
        assert_int_equal(ev->cache_read_tokens, 88412);
        assert_false(ev->long_context);
    }
    assert_gateway(&c.items[2], "c0ffee00-1234-4abc-8def-0123456789ab");
    ev = &c.items[2].ev;
    assert_int_equal(ev->event_time_us, INT64_C(1791969153600000));
    assert_string_equal(ev->user_oid, "a1b2c3d4-1111-4222-8333-444455556666");
    assert_string_equal(ev->user_upn, "ana.lima@contoso.example");
    assert_string_equal(ev->subscription, "claude-code-devs");
    assert_int_equal(ev->status_code, 200);
    assert_string_equal(ev->region, "Sweden Central");
    assert_int_equal(ev->is_stream, -1);
    collected_free(&c);
}

/* A bare array in PascalCase, GatewayLogs before its LLM record, headers as name/value
 * pairs, counts as strings. */
static void test_bare_array_gateway_first(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "monitor-bare-array.json", PARSE_MONITOR);
    assert_int_equal(c.n, 2);
    assert_gateway(&c.items[0], "bare-0001");
    ev = &c.items[0].ev;
    /* 07:00:00.0000001Z: below a microsecond */
    assert_int_equal(ev->event_time_us, INT64_C(1793602800000000));
    assert_string_equal(ev->user_oid, "e5f6a7b8-5555-4666-8777-88889999aaaa");
    assert_string_equal(ev->user_upn, "jon.doe@contoso.example");
    assert_string_equal(ev->subscription, "claude-code-devs");
    assert_int_equal(ev->status_code, 200);
    assert_string_equal(ev->region, "West Europe");

    assert_llm(&c.items[1], "bare-0001", 0);
    ev = &c.items[1].ev;
    assert_int_equal(ev->event_time_us, INT64_C(1793602800999999));
    assert_string_equal(ev->model, "claude-opus-4-6");
    assert_string_equal(ev->deployment, "opus-prod");
    assert_string_equal(ev->message_id, "msg_bare");
    assert_int_equal(ev->is_stream, 0);
    assert_int_equal(ev->input_tokens, 3);
    assert_int_equal(ev->output_tokens, 400);
    assert_int_equal(ev->cache_read_tokens, 150000);
    /* 3 + 150000 cached: long context is input including cache */
    assert_false(ev->long_context);
    collected_free(&c);
}

static void test_single_llm_record(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "monitor-single-llm.json", PARSE_MONITOR);
    assert_int_equal(c.n, 1);
    assert_llm(&c.items[0], "single-llm-1", 0);
    ev = &c.items[0].ev;
    assert_int_equal(ev->event_time_us, INT64_C(1791969153510000));
    assert_string_equal(ev->model, "claude-haiku-4-5");
    assert_string_equal(ev->deployment, "");
    assert_int_equal(ev->is_stream, 0);
    assert_int_equal(ev->input_tokens, 100);
    assert_int_equal(ev->output_tokens, 20);
    assert_int_equal(ev->cache_read_tokens, 0);
    collected_free(&c);
}

/* Azure's own GatewayLogs shape: correlationId and location at the top of the record,
 * the caller in frontend request headers with other casing, a value logged as an array. */
static void test_single_gateway_record(void **state)
{
    collected c = {0};
    const tally_event *ev;

    (void)state;
    collect_fixture(&c, "monitor-single-gateway.json", PARSE_MONITOR);
    assert_int_equal(c.n, 1);
    assert_gateway(&c.items[0], "single-gw-1");
    ev = &c.items[0].ev;
    assert_int_equal(ev->event_time_us, T_0912_34);
    assert_string_equal(ev->user_oid, "f6a7b8c9-6666-4777-8888-9999aaaabbbb");
    assert_string_equal(ev->user_upn, "sam.lee@contoso.example");
    assert_string_equal(ev->subscription, "");
    assert_int_equal(ev->status_code, 529);
    assert_string_equal(ev->region, "Sweden Central");
    collected_free(&c);
}

static void test_header_places(void **state)
{
    collected c = {0};

    (void)state;
    collect_fixture(&c, "monitor-headers.json", PARSE_MONITOR);
    assert_int_equal(c.n, 5);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.items[i].ev.event_time_us, T_0912_34);

    /* backendRequestHeaders (set by the policy) win over a header the client sent */
    assert_gateway(&c.items[0], "hdr-1");
    assert_string_equal(c.items[0].ev.user_oid, "11111111-1111-4111-8111-111111111111");
    assert_string_equal(c.items[0].ev.user_upn, "real@contoso.example");
    /* headers logged as a JSON document in a string */
    assert_gateway(&c.items[1], "hdr-2");
    assert_string_equal(c.items[1].ev.user_oid, "22222222-2222-4222-8222-222222222222");
    assert_string_equal(c.items[1].ev.user_upn, "two@contoso.example");
    /* "Name: value" lines, blanks trimmed */
    assert_gateway(&c.items[2], "hdr-3");
    assert_string_equal(c.items[2].ev.user_oid, "33333333-3333-4333-8333-333333333333");
    assert_string_equal(c.items[2].ev.user_upn, "three@contoso.example");
    /* the whole properties object logged as a string */
    assert_gateway(&c.items[3], "hdr-4");
    assert_string_equal(c.items[3].ev.user_oid, "44444444-4444-4444-8444-444444444444");
    assert_string_equal(c.items[3].ev.user_upn, "");
    /* no headers: only the subscription identifies the caller */
    assert_gateway(&c.items[4], "hdr-5");
    assert_string_equal(c.items[4].ev.user_oid, "");
    assert_string_equal(c.items[4].ev.subscription, "sub-only");
    assert_int_equal(c.items[4].ev.status_code, 401);
    collected_free(&c);
}

static void test_other_categories_ignored(void **state)
{
    collected c = {0};

    (void)state;
    collect_fixture(&c, "monitor-other-categories.json", PARSE_MONITOR);
    assert_int_equal(c.n, 1);
    assert_llm(&c.items[0], "oc-1", 0);
    assert_int_equal(c.items[0].ev.input_tokens, 1);
    assert_int_equal(c.items[0].ev.output_tokens, 1);
    collected_free(&c);
}

/* Each bad record is rejected with its own JSON text; the good ones still come out. */
static void test_bad_records(void **state)
{
    static const char *const reasons[] = {
        "record is not an object",
        "missing correlationId",
        "missing timestamp",
        "invalid timestamp \"yesterday\"",
        NULL, /* good-1 */
        "missing category",
        "negative token count in \"completionTokens\"",
        "invalid token count in \"promptTokens\"",
        "missing model and deploymentName",
        "field \"x-tally-user-oid\" too long",
    };
    const size_t nreasons = sizeof(reasons) / sizeof(reasons[0]);
    collected c = {0};
    char *text;
    const char *p;
    char *line;

    (void)state;
    collect_fixture(&c, "monitor-bad-records.json", PARSE_MONITOR);
    assert_int_equal(c.n, nreasons);
    text = fixture_load("events/monitor-bad-records.json", NULL);
    p = text;
    free(next_line(&p)); /* {"records":[ */
    for (size_t i = 0; i < nreasons; i++) {
        size_t len;

        line = next_line(&p);
        assert_non_null(line);
        len = strlen(line);
        if (len > 0 && line[len - 1] == ',')
            line[--len] = '\0';
        if (reasons[i] == NULL) {
            assert_llm(&c.items[i], "good-1", 0);
            assert_int_equal(c.items[i].ev.event_time_us, T_0912_34);
            assert_int_equal(c.items[i].ev.output_tokens, 2);
        } else {
            assert_int_equal(c.items[i].kind, ITEM_REJECT);
            assert_string_equal(c.items[i].reason, reasons[i]);
            assert_string_equal(c.items[i].raw, line);
            assert_int_equal(c.items[i].raw_len, len);
        }
        free(line);
    }
    free(text);
    collected_free(&c);
}

/* A message that is one bad record is rejected whole. */
static void test_single_record_reject(void **state)
{
    static const char msg[] = "{\"Category\":\"GatewayLlmLogs\",\"Time\":\"2026-10-14T09:12:33Z\","
                              "\"Properties\":{\"ModelName\":\"m\"}}";
    collected c = {0};

    (void)state;
    collect_str(&c, msg, PARSE_MONITOR);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_REJECT);
    assert_string_equal(c.items[0].reason, "missing correlationId");
    assert_string_equal(c.items[0].raw, msg);
    collected_free(&c);

    collect_str(&c, "{\"time\":\"2026-10-14T09:12:33Z\",\"correlationId\":\"x\"}", PARSE_MONITOR);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.items[0].reason, "missing category");
    collected_free(&c);

    collect_str(&c, "{\"records\":{\"category\":\"GatewayLogs\"}}", PARSE_MONITOR);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_REJECT);
    assert_string_equal(c.items[0].reason, "field \"records\" is not an array");
    assert_string_equal(c.items[0].raw, "{\"records\":{\"category\":\"GatewayLogs\"}}");
    collected_free(&c);
}

/* Values in properties win; a field missing there is taken from the record. Time may be
 * TimeGenerated (the Log Analytics export), the correlation id a number is a reject. */
static void test_lookup_fallbacks(void **state)
{
    collected c = {0};

    (void)state;
    collect_str(&c,
                "{\"category\":\"GatewayLlmLogs\",\"correlationId\":\"top\",\"TimeGenerated\":"
                "\"2026-10-14T09:12:33Z\",\"modelName\":\"top-model\",\"properties\":{"
                "\"correlationId\":\"NA\",\"modelName\":\"prop-model\",\"promptTokens\":5}}",
                PARSE_MONITOR);
    assert_int_equal(c.n, 1);
    assert_llm(&c.items[0], "top", 0);
    assert_int_equal(c.items[0].ev.event_time_us, T_0912_33);
    assert_string_equal(c.items[0].ev.model, "prop-model");
    assert_int_equal(c.items[0].ev.input_tokens, 5);
    collected_free(&c);

    collect_str(&c,
                "{\"category\":\"GatewayLogs\",\"time\":\"2026-10-14T09:12:33Z\",\"properties\":{"
                "\"correlationId\":7}}",
                PARSE_MONITOR);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].kind, ITEM_REJECT);
    assert_string_equal(c.items[0].reason, "field \"correlationId\" is not a string");
    collected_free(&c);
}

/* Long context on the monitor path counts the cache reads. */
static void test_llm_long_context(void **state)
{
    collected c = {0};

    (void)state;
    collect_str(&c,
                "{\"category\":\"GatewayLlmLogs\",\"time\":\"2026-10-14T09:12:33Z\",\"properties\":"
                "{\"correlationId\":\"long\",\"modelName\":\"m\",\"promptTokens\":1,"
                "\"promptCachedTokens\":200000}}",
                PARSE_MONITOR);
    assert_int_equal(c.n, 1);
    assert_llm(&c.items[0], "long", 0);
    assert_true(c.items[0].ev.long_context);
    collected_free(&c);
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

/* Auto-detection: envelope, bare array and single record. */
static void test_auto(void **state)
{
    static const char *const files[] = {"monitor-records.json", "monitor-bare-array.json",
                                        "monitor-single-llm.json", "monitor-single-gateway.json",
                                        "monitor-headers.json"};
    collected a = {0}, b = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        collect_fixture(&a, files[i], PARSE_AUTO);
        collect_fixture(&b, files[i], PARSE_MONITOR);
    }
    assert_int_equal(a.n, 12);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.items[i].kind, b.items[i].kind);
        assert_string_equal(a.items[i].ev.request_id, b.items[i].ev.request_id);
        assert_int_equal(a.items[i].ev.event_time_us, b.items[i].ev.event_time_us);
        assert_string_equal(a.items[i].ev.user_oid, b.items[i].ev.user_oid);
        assert_int_equal(a.items[i].ev.input_tokens, b.items[i].ev.input_tokens);
        assert_int_equal(a.items[i].ev.output_tokens, b.items[i].ev.output_tokens);
    }
    collected_free(&a);
    collected_free(&b);
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
