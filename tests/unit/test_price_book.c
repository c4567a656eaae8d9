/* Unit tests for report/price_book.c: the shipped book, and every validation error
 * with its exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "price_book.h"

#define RATES                                                                                      \
    "\"input\": \"3\", \"output\": \"15\", \"cache_write_5m\": \"3.75\", "                         \
    "\"cache_write_1h\": \"6\", \"cache_read\": \"0.30\""
#define HEAD                                                                                       \
    "{\"name\": \"t\", \"published\": \"2026-01-01\", \"currency\": \"USD\", "                     \
    "\"unit\": \"per_million_tokens\", \"models\": "

static char err[512];

static price_book *parse(const char *json)
{
    err[0] = '\0';
    return price_book_parse(json, strlen(json), err, sizeof(err));
}

/* A book with one model "m" whose prices array is ranges. */
static price_book *parse_ranges(const char *ranges)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf), HEAD "[{\"model\": \"m\", \"prices\": %s}]}", ranges);
    return parse(buf);
}

static void expect_error(price_book *b, const char *msg)
{
    assert_null(b);
    assert_string_equal(err, msg);
}

static char *read_shipped(size_t *len)
{
    const char *src = getenv("TALLY_FIXTURES");
    char path[1024];
    FILE *f;
    char *buf;

    /* cwd is tests/; the fixtures dir is tests/fixtures */
    snprintf(path, sizeof(path), "%s/../../schema/prices/anthropic-list-2026-11.json",
             src ? src : "fixtures");
    f = fopen(path, "rb");
    assert_non_null(f);
    buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static const price_model *find(const price_book *b, const char *model)
{
    for (size_t i = 0; i < b->nmodels; i++)
        if (strcmp(b->models[i].model, model) == 0)
            return &b->models[i];
    fail_msg("model %s not in the book", model);
    return NULL;
}

static void test_shipped_book(void **state)
{
    static const char *const models[] = {
        "claude-opus-4",   "claude-opus-4-1",   "claude-opus-4-5",   "claude-opus-4-6",
        "claude-sonnet-4", "claude-sonnet-4-5", "claude-sonnet-4-6", "claude-haiku-4-5"};
    size_t len;
    char *buf = read_shipped(&len);
    price_book *b = price_book_parse(buf, len, err, sizeof(err));
    const price_model *m;

    (void)state;
    assert_non_null(b);
    assert_string_equal(b->name, "anthropic-list-2026-11");
    assert_string_equal(b->published, "2026-11-01");
    assert_int_equal(b->nmodels, 8);
    for (size_t i = 0; i < 8; i++)
        assert_non_null(find(b, models[i]));

    m = find(b, "claude-sonnet-4-5");
    assert_int_equal(m->naliases, 1);
    assert_string_equal(m->aliases[0], "claude-sonnet-4-5-20250929");
    assert_int_equal(m->nranges, 1);
    assert_string_equal(m->ranges[0].effective_from, "2025-09-29");
    assert_string_equal(m->ranges[0].effective_to, "");
    assert_string_equal(m->ranges[0].base.usd_per_mtok[PRICE_CACHE_READ], "0.30");
    assert_true(m->ranges[0].has_long_context);
    assert_int_equal(m->ranges[0].lc_threshold, 200000);
    assert_string_equal(m->ranges[0].long_context.usd_per_mtok[PRICE_INPUT], "6");
    assert_string_equal(m->ranges[0].long_context.usd_per_mtok[PRICE_OUTPUT], "22.50");
    assert_string_equal(m->ranges[0].long_context.usd_per_mtok[PRICE_CACHE_WRITE_5M], "7.50");
    assert_string_equal(m->ranges[0].long_context.usd_per_mtok[PRICE_CACHE_WRITE_1H], "12");
    assert_string_equal(m->ranges[0].long_context.usd_per_mtok[PRICE_CACHE_READ], "0.60");

    /* the 4.6 long-context premium ends on 2026-03-13 */
    m = find(b, "claude-opus-4-6");
    assert_int_equal(m->nranges, 2);
    assert_string_equal(m->ranges[0].effective_to, "2026-03-13");
    assert_true(m->ranges[0].has_long_context);
    assert_string_equal(m->ranges[1].effective_from, "2026-03-13");
    assert_false(m->ranges[1].has_long_context);
    assert_string_equal(m->ranges[1].base.usd_per_mtok[PRICE_OUTPUT], "25");

    m = find(b, "claude-haiku-4-5");
    assert_string_equal(m->ranges[0].base.usd_per_mtok[PRICE_CACHE_WRITE_5M], "1.25");
    assert_false(m->ranges[0].has_long_context);
    m = find(b, "claude-opus-4-1");
    assert_string_equal(m->ranges[0].base.usd_per_mtok[PRICE_CACHE_WRITE_5M], "18.75");
    price_book_free(b);
    free(buf);
}

static void test_integers_accepted(void **state)
{
    price_book *b = parse_ranges(
        "[{\"effective_from\": \"2025-01-01\", \"input\": 3, \"output\": 15, \"cache_write_5m\": "
        "\"3.75\", \"cache_write_1h\": 6, \"cache_read\": \"0.3\"}]");

    (void)state;
    assert_non_null(b);
    assert_string_equal(b->models[0].ranges[0].base.usd_per_mtok[PRICE_INPUT], "3");
    assert_string_equal(b->models[0].ranges[0].base.usd_per_mtok[PRICE_CACHE_WRITE_1H], "6");
    price_book_free(b);
    price_book_free(NULL);
}

static void test_book_errors(void **state)
{
    (void)state;
    expect_error(parse("{\"name\": "), "invalid JSON at line 1, column 9: unexpected token "
                                       "near end of file");
    expect_error(parse("[]"), "price book: must be a JSON object");
    expect_error(parse(HEAD "[], \"extra\": 1}"), "price book: unknown key \"extra\"");
    expect_error(parse("{\"published\": \"2026-01-01\"}"), "price book: missing \"name\"");
    expect_error(parse("{\"name\": \"a b\"}"),
                 "price book: \"name\" must be 1 to 100 letters, digits, '.', '_' or '-'");
    expect_error(parse("{\"name\": \"t\", \"published\": \"2026-02-30\"}"),
                 "price book: \"published\" is not a date (YYYY-MM-DD): \"2026-02-30\"");
    expect_error(parse("{\"name\": \"t\", \"published\": \"2026-01-01\", \"currency\": \"EUR\", "
                       "\"unit\": \"per_million_tokens\"}"),
                 "price book: \"currency\" must be \"USD\", not \"EUR\"");
    expect_error(parse("{\"name\": \"t\", \"published\": \"2026-01-01\", \"currency\": \"USD\", "
                       "\"unit\": \"per_token\"}"),
                 "price book: \"unit\" must be \"per_million_tokens\", not \"per_token\"");
    expect_error(parse(HEAD "[]}"), "price book: \"models\" must be a non-empty array");
    expect_error(parse("{\"name\": \"t\", \"name\": \"u\"}"),
                 "invalid JSON at line 1, column 20: duplicate object key near '\"name\"'");
}

static void test_model_errors(void **state)
{
    (void)state;
    expect_error(parse(HEAD "[{\"prices\": []}]}"), "models[0]: missing \"model\"");
    expect_error(parse(HEAD "[{\"model\": \"m\", \"price\": []}]}"),
                 "model \"m\": unknown key \"price\"");
    expect_error(parse(HEAD "[{\"model\": \"m\"}]}"), "model \"m\": missing \"prices\"");
    expect_error(parse_ranges("[]"), "model \"m\": \"prices\" must be a non-empty array");
    expect_error(parse(HEAD "[{\"model\": \"m\", \"aliases\": [1], \"prices\": []}]}"),
                 "model \"m\": aliases[0] is not a model id");
    expect_error(
        parse(HEAD "[{\"model\": \"m\", \"prices\": [{\"effective_from\": \"2025-01-01\", " RATES
                   "}]}, {\"model\": \"m\", \"prices\": [{\"effective_from\": "
                   "\"2025-01-01\", " RATES "}]}]}"),
        "model \"m\": listed twice (models[0] and models[1])");
    expect_error(parse(HEAD "[{\"model\": \"m\", \"aliases\": [\"x\"], \"prices\": "
                            "[{\"effective_from\": \"2025-01-01\", " RATES
                            "}]}, {\"model\": \"n\", \"aliases\": [\"x\"], \"prices\": "
                            "[{\"effective_from\": \"2025-01-01\", " RATES "}]}]}"),
                 "model \"n\": alias \"x\" is already an alias of model \"m\"");
    expect_error(parse(HEAD "[{\"model\": \"m\", \"aliases\": [\"n\"], \"prices\": "
                            "[{\"effective_from\": \"2025-01-01\", " RATES
                            "}]}, {\"model\": \"n\", \"prices\": "
                            "[{\"effective_from\": \"2025-01-01\", " RATES "}]}]}"),
                 "model \"n\": is also an alias of model \"m\"");
}

static void test_range_errors(void **state)
{
    (void)state;
    expect_error(parse_ranges("[{\"input\": \"3\"}]"),
                 "model \"m\", prices[0]: missing \"effective_from\"");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-13-01\", " RATES "}]"),
                 "model \"m\", prices[0]: \"effective_from\" is not a date (YYYY-MM-DD): "
                 "\"2025-13-01\"");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-01-01T00:00:00Z\", " RATES "}]"),
                 "model \"m\", prices[0]: \"effective_from\" is not a date (YYYY-MM-DD): "
                 "\"2025-01-01T00:00:00Z\"");
    expect_error(parse_ranges("[{\"effective_from\": 20250101, " RATES "}]"),
                 "model \"m\", prices[0]: \"effective_from\" is not a date (YYYY-MM-DD)");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-03-01\", \"effective_to\": "
                              "\"2025-03-01\", " RATES "}]"),
                 "model \"m\", prices[0]: \"effective_to\" 2025-03-01 is not after "
                 "\"effective_from\" 2025-03-01");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-01-01\", \"input\": \"3\", \"output\": "
                              "\"15\", \"cache_write_5m\": \"3.75\", \"cache_write_1h\": \"6\"}]"),
                 "model \"m\", prices[0]: missing \"cache_read\"");
    expect_error(
        parse_ranges("[{\"effective_from\": \"2025-01-01\", \"cache_write\": \"1\", " RATES "}]"),
        "model \"m\", prices[0]: unknown key \"cache_write\"");
    expect_error(parse_ranges("[\"x\"]"), "model \"m\", prices[0]: must be an object");
}

/* One range whose input price is the given JSON value. */
static price_book *parse_input(const char *value)
{
    char buf[1024];

    snprintf(buf, sizeof(buf),
             "[{\"effective_from\": \"2025-01-01\", \"input\": %s, \"output\": \"15\", "
             "\"cache_write_5m\": \"3.75\", \"cache_write_1h\": \"6\", \"cache_read\": \"0.30\"}]",
             value);
    return parse_ranges(buf);
}

static void test_price_errors(void **state)
{
    (void)state;
    expect_error(parse_input("\"-3\""), "model \"m\", prices[0]: \"input\" is negative: \"-3\"");
    expect_error(parse_input("-3"), "model \"m\", prices[0]: \"input\" is negative: -3");
    expect_error(parse_input("\"abc\""),
                 "model \"m\", prices[0]: \"input\" is not a decimal: \"abc\"");
    expect_error(parse_input("\"1e3\""),
                 "model \"m\", prices[0]: \"input\" is not a decimal: \"1e3\"");
    expect_error(parse_input("\"3.\""),
                 "model \"m\", prices[0]: \"input\" is not a decimal: \"3.\"");
    expect_error(parse_input("\".5\""),
                 "model \"m\", prices[0]: \"input\" is not a decimal: \".5\"");
    expect_error(parse_input("\" 3\""),
                 "model \"m\", prices[0]: \"input\" is not a decimal: \" 3\"");
    expect_error(parse_input("\"\""), "model \"m\", prices[0]: \"input\" is not a decimal: \"\"");
    expect_error(parse_input("\"1234567890\""),
                 "model \"m\", prices[0]: \"input\" is not a decimal: \"1234567890\"");
    expect_error(parse_input("\"0.1234567891\""),
                 "model \"m\", prices[0]: \"input\" is not a decimal: \"0.1234567891\"");
    expect_error(parse_input("1000000000"), "model \"m\", prices[0]: \"input\" is too large: "
                                            "1000000000");
    expect_error(parse_input("3.75"), "model \"m\", prices[0]: \"input\" must be a decimal string "
                                      "such as \"3.75\", not a JSON number with a fraction or "
                                      "exponent");
    expect_error(parse_input("null"), "model \"m\", prices[0]: \"input\" is not a decimal");
}

static void test_overlap(void **state)
{
    (void)state;
    expect_error(parse_ranges("[{\"effective_from\": \"2026-02-05\", \"effective_to\": "
                              "\"2026-03-13\", " RATES
                              "}, {\"effective_from\": \"2026-03-01\", " RATES "}]"),
                 "model \"m\": prices[1] (2026-03-01 to open) overlaps prices[0] (2026-02-05 to "
                 "2026-03-13)");
    expect_error(parse_ranges("[{\"effective_from\": \"2026-01-01\", " RATES
                              "}, {\"effective_from\": \"2025-01-01\", \"effective_to\": "
                              "\"2026-01-02\", " RATES "}]"),
                 "model \"m\": prices[1] (2025-01-01 to 2026-01-02) overlaps prices[0] "
                 "(2026-01-01 to open)");
    /* touching ranges do not overlap; a gap is allowed */
    price_book *b = parse_ranges("[{\"effective_from\": \"2026-01-01\", \"effective_to\": "
                                 "\"2026-02-01\", " RATES "}, {\"effective_from\": \"2026-02-01\", "
                                 "\"effective_to\": \"2026-03-01\", " RATES
                                 "}, {\"effective_from\": \"2026-04-01\", " RATES "}]");
    assert_non_null(b);
    assert_int_equal(b->models[0].nranges, 3);
    price_book_free(b);
}

static void test_long_context_errors(void **state)
{
    (void)state;
    expect_error(
        parse_ranges("[{\"effective_from\": \"2025-01-01\", " RATES
                     ", \"long_context\": {\"threshold_tokens\": 200000, \"input\": \"6\", "
                     "\"output\": \"22.50\", \"cache_write_5m\": \"7.50\", "
                     "\"cache_write_1h\": \"12\"}}]"),
        "model \"m\", prices[0].long_context: missing \"cache_read\"");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-01-01\", " RATES
                              ", \"long_context\": {\"threshold_tokens\": 100000, " RATES "}}]"),
                 "model \"m\", prices[0].long_context: \"threshold_tokens\" 100000 is not "
                 "supported: requests are flagged as long context above 200000 tokens");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-01-01\", " RATES
                              ", \"long_context\": {" RATES "}}]"),
                 "model \"m\", prices[0].long_context: missing \"threshold_tokens\"");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-01-01\", " RATES
                              ", \"long_context\": {\"threshold_tokens\": 200000, \"x\": 1, " RATES
                              "}}]"),
                 "model \"m\", prices[0].long_context: unknown key \"x\"");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-01-01\", " RATES
                              ", \"long_context\": {\"threshold_tokens\": 200000, \"input\": "
                              "\"-6\", \"output\": \"1\", \"cache_write_5m\": \"1\", "
                              "\"cache_write_1h\": \"1\", \"cache_read\": \"1\"}}]"),
                 "model \"m\", prices[0].long_context: \"input\" is negative: \"-6\"");
    expect_error(
        parse_ranges("[{\"effective_from\": \"2025-01-01\", " RATES ", \"long_context\": 5}]"),
        "model \"m\", prices[0].long_context: must be an object or null");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_book), cmocka_unit_test(test_integers_accepted),
        cmocka_unit_test(test_book_errors),  cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_range_errors), cmocka_unit_test(test_price_errors),
        cmocka_unit_test(test_overlap),      cmocka_unit_test(test_long_context_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
