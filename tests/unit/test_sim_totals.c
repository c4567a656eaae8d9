/* ctl/sim/totals.c: what each format's parser will read of a request (legacy: no cache
 * classes; monitor: no cache writes, no web search; only tally.usage/1 carries speed,
 * inference_geo and iterations), the long-context rule and the prompt bands on that (a
 * prompt of exactly 100,000 is in (64000, 100000], one more in (100000, 128000]), one
 * row for a model served by two deployments, and the exact bytes of the --totals CSV. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/totals.h"

#define HEADER                                                                                     \
    "developer_oid,model,requests,input_tokens,cache_write_5m_tokens,cache_write_1h_tokens,"       \
    "cache_read_tokens,output_tokens,web_search_requests,long_context_requests,prompt_tokens,"     \
    "fast_requests,geo_us_requests,iteration_requests,advisor_prompt_tokens,"                      \
    "advisor_output_tokens,band_0_requests,band_1_requests,band_2_requests,band_3_requests,"       \
    "band_4_requests,band_5_requests,band_6_requests,band_7_requests,band_8_requests\n"

/* Five requests of two developers (a third makes none) in format; the CSV in *csv. */
static void run(event_format format, char **csv)
{
    sim_dev devs[3];
    sim_req r[5];
    totals t;
    const sim_total *rows;
    size_t len;
    FILE *f;

    memset(devs, 0, sizeof(devs));
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 3; i++) {
        devs[i].index = i;
        snprintf(devs[i].oid, sizeof(devs[i].oid), "%s",
                 i == 0   ? "bbbb"
                 : i == 1 ? "aaaa"
                          : "cccc");
    }
    r[0] = (sim_req){.dev = &devs[0],
                     .model = 0,
                     .input = 10,
                     .output = 20,
                     .cache_read = 190000,
                     .write_5m = 5,
                     .write_1h = 6,
                     .web_search = 1,
                     .fast = true,
                     .geo_us = true};
    r[1] = (sim_req){.dev = &devs[0], .model = 0, .input = 1, .output = 2, .cache_read = 200000};
    r[2] = (sim_req){.dev = &devs[1],
                     .model = WORLD_MODEL_HAIKU,
                     .input = 100,
                     .output = 5,
                     .write_5m = 200001,
                     .web_search = 2,
                     .advisor = true,
                     .adv_input = 7,
                     .adv_cache_read = 8,
                     .adv_write_5m = 9,
                     .adv_output = 10};
    /* Sonnet 5.5 through its two deployments: prompts of 100,000 and 100,001 */
    r[3] = (sim_req){.dev = &devs[1], .model = 1, .input = 40, .output = 7, .cache_read = 99960};
    r[4] = (sim_req){.dev = &devs[1], .model = 2, .input = 41, .output = 8, .cache_read = 99960};
    assert_true(totals_init(&t, devs, 3, format));
    for (int i = 0; i < 5; i++)
        totals_add(&t, &r[i]);
    assert_int_equal(totals_sorted(&t, &rows), 3);
    assert_string_equal(rows[0].developer_oid, "aaaa");
    assert_string_equal(rows[1].developer_oid, "aaaa");
    assert_string_equal(rows[2].developer_oid, "bbbb");
    f = open_memstream(csv, &len);
    assert_non_null(f);
    assert_true(totals_write(&t, f));
    fclose(f);
    totals_cleanup(&t);
}

static void test_formats(void **state)
{
    static const struct {
        event_format format;
        const char *csv;
    } cases[] = {
        {EVENT_FORMAT_USAGE, HEADER
         "aaaa,claude-haiku-5-5,1,100,200001,0,0,5,2,1,200101,0,0,1,24,10,0,0,0,0,0,1,0,0,0\n"
         "aaaa,claude-sonnet-5-5,2,81,0,0,199920,15,0,0,200001,0,0,0,0,0,0,0,1,1,0,0,0,0,0\n"
         "bbbb,claude-opus-5-5,2,11,5,6,390000,22,1,1,390022,1,1,0,0,0,0,0,0,0,1,1,0,0,0\n"
         "total,,5,192,200006,6,589920,42,3,2,790124,1,1,1,24,10,0,0,1,1,1,2,0,0,0\n"},
        {EVENT_FORMAT_LEGACY,
         HEADER "aaaa,claude-haiku-5-5,1,100,0,0,0,5,0,0,100,0,0,0,0,0,1,0,0,0,0,0,0,0,0\n"
                "aaaa,claude-sonnet-5-5,2,81,0,0,0,15,0,0,81,0,0,0,0,0,2,0,0,0,0,0,0,0,0\n"
                "bbbb,claude-opus-5-5,2,11,0,0,0,22,0,0,11,0,0,0,0,0,2,0,0,0,0,0,0,0,0\n"
                "total,,5,192,0,0,0,42,0,0,192,0,0,0,0,0,5,0,0,0,0,0,0,0,0\n"},
        {EVENT_FORMAT_MONITOR,
         HEADER "aaaa,claude-haiku-5-5,1,100,0,0,0,5,0,0,100,0,0,0,0,0,1,0,0,0,0,0,0,0,0\n"
                "aaaa,claude-sonnet-5-5,2,81,0,0,199920,15,0,0,200001,0,0,0,0,0,0,0,1,1,0,0,0,0,0\n"
                "bbbb,claude-opus-5-5,2,11,0,0,390000,22,0,1,390011,0,0,0,0,0,0,0,0,0,1,1,0,0,0\n"
                "total,,5,192,0,0,589920,42,0,1,590112,0,0,0,0,0,1,0,1,1,1,1,0,0,0\n"},
    };
    char *csv;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run(cases[i].format, &csv);
        assert_string_equal(csv, cases[i].csv);
        free(csv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
