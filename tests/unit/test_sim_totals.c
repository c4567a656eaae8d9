/* ctl/sim/totals.c: what each format's parser will read of a request (legacy: no cache
 * classes; monitor: no cache writes, no web search), the long-context rule on that, and
 * the exact bytes of the --totals CSV. */
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
    "cache_read_tokens,output_tokens,web_search_requests,long_context_requests\n"

/* Three requests of two developers (a third makes none) in format; the CSV in *csv. */
static void run(event_format format, char **csv)
{
    sim_dev devs[3];
    sim_req r[3];
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
                     .web_search = 1};
    r[1] = (sim_req){.dev = &devs[0], .model = 0, .input = 1, .output = 2, .cache_read = 200000};
    r[2] = (sim_req){.dev = &devs[1],
                     .model = WORLD_MODEL_HAIKU,
                     .input = 100,
                     .output = 5,
                     .write_5m = 200001,
                     .web_search = 2};
    assert_true(totals_init(&t, devs, 3, format));
    for (int i = 0; i < 3; i++)
        totals_add(&t, &r[i]);
    assert_int_equal(totals_sorted(&t, &rows), 2);
    assert_string_equal(rows[0].developer_oid, "aaaa");
    assert_string_equal(rows[1].developer_oid, "bbbb");
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
        {EVENT_FORMAT_USAGE, HEADER "aaaa,claude-haiku-4-5,1,100,200001,0,0,5,2,1\n"
                                    "bbbb,claude-sonnet-4-6,2,11,5,6,390000,22,1,1\n"
                                    "total,,3,111,200006,6,390000,27,3,2\n"},
        {EVENT_FORMAT_LEGACY, HEADER "aaaa,claude-haiku-4-5-20251001,1,100,0,0,0,5,0,0\n"
                                     "bbbb,claude-sonnet-4-6,2,11,0,0,0,22,0,0\n"
                                     "total,,3,111,0,0,0,27,0,0\n"},
        {EVENT_FORMAT_MONITOR, HEADER "aaaa,claude-haiku-4-5,1,100,0,0,0,5,0,0\n"
                                      "bbbb,claude-sonnet-4-6,2,11,0,0,390000,22,0,1\n"
                                      "total,,3,111,0,0,390000,27,0,1\n"},
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
