/* ctl/sim/render.c: the exact bytes of one request in each format (golden files in
 * tests/fixtures/sim/), both legacy timestamp styles, malformed variants, chunked LLM
 * logs, and a split monitor request that render_join puts back together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/calendar.h"
#include "sim/render.h"

static sim_dev dev;

static sim_req request(void)
{
    sim_req r;

    memset(&dev, 0, sizeof(dev));
    strcpy(dev.oid, "11111111-2222-4333-8444-555555555555");
    strcpy(dev.upn, "ana.lima@contoso.example");
    strcpy(dev.session, "66666666-7777-4888-9999-000000000000");
    strcpy(dev.ip, "10.14.0.3");
    dev.zone = 1;  /* America/New_York: East US 2 */
    dev.team = 13; /* the second "payments" */
    memset(&r, 0, sizeof(r));
    r.dev = &dev;
    r.time_us = calendar_days(2026, 11, 2) * CALENDAR_US_PER_DAY +
                (9 * 3600 + 12 * 60 + 33) * CALENDAR_US_PER_S + 482193;
    r.model = WORLD_MODEL_OPUS;
    r.input = 3;
    r.output = 500;
    r.cache_read = 40000;
    r.write_5m = 1200;
    r.web_search = 1;
    r.stream = true;
    r.n = 7;
    return r;
}

/* Renders r and compares the line with tests/fixtures/sim/<name>.expected (one line). */
static void assert_golden(event_format format, const sim_req *r, const char *name)
{
    char path[1024], expected[8192];
    membuf line = MEMBUF_INIT, side = MEMBUF_INIT;
    uint64_t rng = 1;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/sim/%s.expected", getenv("TALLY_FIXTURES"), name);
    if (getenv("TALLY_SIM_GOLDEN_WRITE")) { /* regenerate, by hand, after a change on purpose */
        render_request(format, 99, &rng, r, &line, &side);
        f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%s\n", line.data);
        fclose(f);
        rng = 1;
    }
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(expected, 1, sizeof(expected) - 1, f);
    fclose(f);
    assert_true(n > 1 && expected[n - 1] == '\n');
    expected[n - 1] = '\0';
    assert_int_equal(render_request(format, 99, &rng, r, &line, &side), 0);
    assert_false(line.oom);
    assert_string_equal(line.data, expected);
    membuf_free(&line);
    membuf_free(&side);
}

static void test_golden(void **state)
{
    sim_req r = request();

    (void)state;
    assert_golden(EVENT_FORMAT_USAGE, &r, "render_usage");
    assert_golden(EVENT_FORMAT_LEGACY, &r, "render_legacy");
    /* state 1 lays the monitor request out LLM log first, on one line */
    assert_golden(EVENT_FORMAT_MONITOR, &r, "render_monitor");
    r.n = 500007; /* past the share of legacy lines with ISO timestamps */
    assert_golden(EVENT_FORMAT_LEGACY, &r, "render_legacy_culture");
}

/* What Anthropic's usage object says beyond the token classes: speed on the models with
 * fast mode, inference_geo on the Claude API (none from a Foundry deployment), and an
 * advisor iteration whose message iteration equals the top-level usage. The legacy and
 * monitor formats carry none of it. */
static void test_golden_usage_fields(void **state)
{
    sim_req r = request();

    (void)state;
    r.fast = true;
    r.geo_us = true;
    assert_golden(EVENT_FORMAT_USAGE, &r, "render_usage_fast_us");
    assert_golden(EVENT_FORMAT_MONITOR, &r, "render_monitor_fast_us");
    r = request();
    r.model = WORLD_MODEL_HAIKU;
    r.advisor = true;
    r.adv_input = 812;
    r.adv_output = 301;
    r.adv_cache_read = 40000;
    r.adv_write_5m = 1200;
    r.string_counts = true;
    assert_golden(EVENT_FORMAT_USAGE, &r, "render_usage_advisor");
    r = request();
    r.model = 2; /* Sonnet 5.5 in the US Data Zone deployment */
    assert_golden(EVENT_FORMAT_USAGE, &r, "render_usage_foundry_us");
    r.model = 3; /* Opus 5.5's fast-mode model on Foundry */
    assert_golden(EVENT_FORMAT_LEGACY, &r, "render_legacy_foundry_fast");
}

static void test_defects(void **state)
{
    sim_req r = request();
    membuf line = MEMBUF_INIT, side = MEMBUF_INIT;
    uint64_t rng = 1;

    (void)state;
    r.defect = DEFECT_NOT_JSON;
    assert_int_equal(render_request(EVENT_FORMAT_MONITOR, 99, &rng, &r, &line, &side), 0);
    assert_null(strchr(line.data, '{'));
    r.defect = DEFECT_NEGATIVE;
    render_request(EVENT_FORMAT_USAGE, 99, &rng, &r, &line, &side);
    assert_non_null(strstr(line.data, "\"output_tokens\":-501,"));
    r.defect = DEFECT_NO_MODEL;
    render_request(EVENT_FORMAT_LEGACY, 99, &rng, &r, &line, &side);
    assert_null(strstr(line.data, "\"model\""));
    assert_null(strstr(line.data, "\"deploymentName\""));
    /* a malformed monitor request is its LLM log alone, never split */
    r.defect = DEFECT_BAD_COUNT;
    r.output = 9000;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(render_request(EVENT_FORMAT_MONITOR, 99, &rng, &r, &line, &side), 0);
        assert_non_null(strstr(line.data, "\"promptTokens\":\"forty-two\""));
        assert_null(strstr(line.data, "GatewayLogs\""));
    }
    membuf_free(&line);
    membuf_free(&side);
}

static void test_monitor_layouts(void **state)
{
    sim_req r = request();
    membuf line = MEMBUF_INIT, side = MEMBUF_INIT, whole = MEMBUF_INIT;
    int split = 0, chunked = 0, joined = 0;

    (void)state;
    r.output = 9000; /* 36 KB of body: the LLM log comes in two chunks */
    for (uint64_t seed = 0; seed < 400; seed++) {
        uint64_t rng = seed;
        int flags = render_request(EVENT_FORMAT_MONITOR, 99, &rng, &r, &line, &side);
        char *llm = strstr(line.data, "GatewayLlmLogs\""), *gw = strstr(line.data, "GatewayLogs\"");

        assert_true(flags & RENDER_CHUNKED);
        chunked++;
        /* the second chunk goes with the first */
        assert_non_null(strstr(llm ? line.data : side.data, "\"sequenceNumber\":1"));
        if (!(flags & RENDER_SPLIT)) {
            assert_true(llm && gw);
            /* the LLM-first layout is what a split with the LLM log first joins into */
            if (llm < gw && whole.len == 0)
                membuf_put(&whole, line.data, line.len);
            continue;
        }
        split++;
        assert_true((llm != NULL) != (gw != NULL));
        assert_int_equal(strncmp(side.data, "{\"records\":[", 12), 0);
        assert_int_equal(strcmp(side.data + side.len - 2, "]}"), 0);
        if (llm && whole.len > 0) {
            render_join(&line, &side);
            assert_string_equal(line.data, whole.data);
            joined++;
        }
    }
    assert_true(split > 0 && joined > 0 && chunked == 400);
    membuf_free(&line);
    membuf_free(&side);
    membuf_free(&whole);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_golden_usage_fields),
        cmocka_unit_test(test_defects),
        cmocka_unit_test(test_monitor_layouts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
