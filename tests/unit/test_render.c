/* report/render.c: the exact bytes of CSV and JSON row responses, totals included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "render.h"

static const render_column COLS[] = {
    {"developer_upn", RENDER_TEXT}, {"requests", RENDER_COUNT}, {"input_tokens", RENDER_COUNT},
    {"lc_threshold", RENDER_INT},   {"rate", RENDER_DECIMAL},   {"priced", RENDER_BOOL},
    {"cost_usd", RENDER_MONEY},
};
#define NCOLS ((int)(sizeof(COLS) / sizeof(COLS[0])))

/* Renders rows (NCOLS values each, NULL for SQL NULL) and compares the bytes. */
static void render_is(render_format format, json_t *header, bool totals, const char *const *rows,
                      int nrows, const char *expected)
{
    render *r = render_new(format, COLS, NCOLS, header, totals);
    membuf out = MEMBUF_INIT;
    size_t lens[NCOLS];

    assert_non_null(r);
    render_begin(r, &out);
    for (int i = 0; i < nrows; i++) {
        for (int c = 0; c < NCOLS; c++)
            lens[c] = rows[i * NCOLS + c] ? strlen(rows[i * NCOLS + c]) : 0;
        assert_true(render_row(r, &out, rows + i * NCOLS, lens));
    }
    render_end(r, &out);
    assert_false(out.oom);
    assert_int_equal(render_nrows(r), nrows);
    assert_int_equal(out.len, strlen(expected));
    assert_memory_equal(out.data, expected, out.len);
    render_free(r);
    membuf_free(&out);
}

static const char *const ROWS[] = {
    "a@x.com",
    "3",
    "1000",
    "200000",
    "15.000000",
    "t",
    "0.0031",
    "=cmd|' /C calc'!A0",
    "2",
    "50",
    NULL,
    "3.50",
    "f",
    NULL,
    "say \"hi\", twice",
    "1",
    "7",
    "0",
    "-2.0",
    "t",
    "-0.0001",
};

static void test_csv(void **state)
{
    (void)state;
    render_is(RENDER_CSV, NULL, true, ROWS, 3,
              "developer_upn,requests,input_tokens,lc_threshold,rate,priced,cost_usd\r\n"
              "a@x.com,3,1000,200000,15,true,0.0031\r\n"
              "\"=\"\"=cmd|' /C calc'!A0\"\"\",2,50,,3.5,false,\r\n"
              "\"say \"\"hi\"\", twice\",1,7,0,-2,true,-0.0001\r\n");
    /* guard=none: the text as it is */
    render_is(RENDER_CSV_RAW, NULL, true, ROWS, 3,
              "developer_upn,requests,input_tokens,lc_threshold,rate,priced,cost_usd\r\n"
              "a@x.com,3,1000,200000,15,true,0.0031\r\n"
              "=cmd|' /C calc'!A0,2,50,,3.5,false,\r\n"
              "\"say \"\"hi\"\", twice\",1,7,0,-2,true,-0.0001\r\n");
    /* no rows: the header row alone */
    render_is(RENDER_CSV, NULL, true, ROWS, 0,
              "developer_upn,requests,input_tokens,lc_threshold,rate,priced,cost_usd\r\n");
}

static void test_json(void **state)
{
    json_t *header = json_object();

    (void)state;
    json_object_set_new(header, "month", json_string("2026-03"));
    json_object_set_new(header, "price_book", json_null());
    render_is(RENDER_JSON, header, true, ROWS, 3,
              "{\"month\":\"2026-03\",\"price_book\":null,\"rows\":["
              "{\"developer_upn\":\"a@x.com\",\"requests\":3,\"input_tokens\":1000,"
              "\"lc_threshold\":200000,\"rate\":\"15\",\"priced\":true,\"cost_usd\":\"0.0031\"},"
              "{\"developer_upn\":\"=cmd|' /C calc'!A0\",\"requests\":2,\"input_tokens\":50,"
              "\"lc_threshold\":null,\"rate\":\"3.5\",\"priced\":false,\"cost_usd\":null},"
              "{\"developer_upn\":\"say \\\"hi\\\", twice\",\"requests\":1,\"input_tokens\":7,"
              "\"lc_threshold\":0,\"rate\":\"-2\",\"priced\":true,\"cost_usd\":\"-0.0001\"}],"
              "\"totals\":{\"rows\":3,\"requests\":6,\"input_tokens\":1057,"
              "\"cost_usd\":\"0.003\",\"unpriced_rows\":1}}\n");
}

static void test_json_plain(void **state)
{
    (void)state;
    /* no header, no totals, no rows */
    render_is(RENDER_JSON, NULL, false, ROWS, 0, "{\"rows\":[]}\n");
    render_is(RENDER_JSON, json_object(), true, ROWS, 0,
              "{\"rows\":[],\"totals\":{\"rows\":0,\"requests\":0,\"input_tokens\":0,"
              "\"cost_usd\":\"0\",\"unpriced_rows\":0}}\n");
}

/* Sums go by role: a column called like a count but declared as text is not summed. */
static void test_roles_not_names(void **state)
{
    static const render_column cols[] = {{"requests", RENDER_TEXT}, {"n", RENDER_COUNT}};
    const char *const row[] = {"5", "4"};
    const size_t lens[] = {1, 1};
    render *r = render_new(RENDER_JSON, cols, 2, NULL, true);
    membuf out = MEMBUF_INIT;
    const char *expected = "{\"rows\":[{\"requests\":\"5\",\"n\":4},{\"requests\":\"5\",\"n\":4}],"
                           "\"totals\":{\"rows\":2,\"n\":8}}\n";

    (void)state;
    render_begin(r, &out);
    assert_true(render_row(r, &out, row, lens));
    assert_true(render_row(r, &out, row, lens));
    render_end(r, &out);
    assert_string_equal(out.data, expected);
    render_free(r);
    membuf_free(&out);
}

/* Counts past 2^63 are summed exactly: never wrapped, saturated or aborted on. */
static void test_count_past_int64(void **state)
{
    static const render_column cols[] = {{"input_tokens", RENDER_COUNT}};
    const char *const rows[][1] = {
        {"5000000000000000000"}, {"5000000000000000000"}, {"9223372036854775807"}, {"-1"}};
    render *r = render_new(RENDER_JSON, cols, 1, NULL, true);
    membuf out = MEMBUF_INIT;
    size_t lens[1];

    (void)state;
    render_begin(r, &out);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        lens[0] = strlen(rows[i][0]);
        assert_true(render_row(r, &out, rows[i], lens));
    }
    render_end(r, &out);
    assert_false(out.oom);
    assert_string_equal(out.data,
                        "{\"rows\":[{\"input_tokens\":5000000000000000000},"
                        "{\"input_tokens\":5000000000000000000},"
                        "{\"input_tokens\":9223372036854775807},"
                        "{\"input_tokens\":-1}],"
                        "\"totals\":{\"rows\":4,\"input_tokens\":19223372036854775806}}\n");
    render_free(r);
    membuf_free(&out);
}

/* A money value that is not an exact decimal fails the row (the stream is cut). */
static void test_bad_money(void **state)
{
    static const render_column cols[] = {{"cost_usd", RENDER_MONEY}};
    const char *const row[] = {"1e5"};
    const size_t lens[] = {3};
    render *r = render_new(RENDER_JSON, cols, 1, NULL, true);
    membuf out = MEMBUF_INIT;

    (void)state;
    render_begin(r, &out);
    assert_false(render_row(r, &out, row, lens));
    render_free(r);
    membuf_free(&out);
    render_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv),        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_plain), cmocka_unit_test(test_roles_not_names),
        cmocka_unit_test(test_bad_money),  cmocka_unit_test(test_count_past_int64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
