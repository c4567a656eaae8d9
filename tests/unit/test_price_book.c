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
    assert_int_equal(b->format, 1);
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
    assert_string_equal(m->ranges[0].standard.base.usd_per_mtok[PRICE_CACHE_READ], "0.30");
    /* v1's long_context is the one tier, over 200000 */
    assert_int_equal(m->ranges[0].standard.ntiers, 1);
    assert_int_equal(m->ranges[0].standard.tiers[0].over_tokens, 200000);
    assert_int_equal(m->ranges[0].fast_kind, PRICE_FAST_NONE);
    assert_int_equal(m->ranges[0].nresidency, 0);
    assert_null(m->ranges[0].source);
    assert_string_equal(m->ranges[0].standard.tiers[0].rates.usd_per_mtok[PRICE_INPUT], "6");
    assert_string_equal(m->ranges[0].standard.tiers[0].rates.usd_per_mtok[PRICE_OUTPUT], "22.50");
    assert_string_equal(m->ranges[0].standard.tiers[0].rates.usd_per_mtok[PRICE_CACHE_WRITE_5M],
                        "7.50");
    assert_string_equal(m->ranges[0].standard.tiers[0].rates.usd_per_mtok[PRICE_CACHE_WRITE_1H],
                        "12");
    assert_string_equal(m->ranges[0].standard.tiers[0].rates.usd_per_mtok[PRICE_CACHE_READ],
                        "0.60");

    /* the 4.6 long-context premium ends on 2026-03-13 */
    m = find(b, "claude-opus-4-6");
    assert_int_equal(m->nranges, 2);
    assert_string_equal(m->ranges[0].effective_to, "2026-03-13");
    assert_int_equal(m->ranges[0].standard.ntiers, 1);
    assert_string_equal(m->ranges[1].effective_from, "2026-03-13");
    assert_int_equal(m->ranges[1].standard.ntiers, 0);
    assert_string_equal(m->ranges[1].standard.base.usd_per_mtok[PRICE_OUTPUT], "25");

    m = find(b, "claude-haiku-4-5");
    assert_string_equal(m->ranges[0].standard.base.usd_per_mtok[PRICE_CACHE_WRITE_5M], "1.25");
    assert_int_equal(m->ranges[0].standard.ntiers, 0);
    m = find(b, "claude-opus-4-1");
    assert_string_equal(m->ranges[0].standard.base.usd_per_mtok[PRICE_CACHE_WRITE_5M], "18.75");
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
    assert_string_equal(b->models[0].ranges[0].standard.base.usd_per_mtok[PRICE_INPUT], "3");
    assert_string_equal(b->models[0].ranges[0].standard.base.usd_per_mtok[PRICE_CACHE_WRITE_1H],
                        "6");
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

/* ---- format 2 */

#define V2HEAD                                                                                     \
    "{\"format\": 2, \"name\": \"t\", \"published\": \"2026-12-02\", \"currency\": \"USD\", "      \
    "\"unit\": \"per_million_tokens\", \"models\": "
#define SRC "\"source\": \"https://platform.claude.com/docs/en/pricing\", \"read\": \"2026-12-02\""
#define ENTRY "\"effective_from\": \"2026-01-01\", " SRC ", " RATES
#define TIER(t) "{\"over_tokens\": " #t ", " RATES "}"

/* A v2 book with one model "m" whose one price entry is ENTRY followed by extra. */
static price_book *parse_v2_entry(const char *extra)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf), V2HEAD "[{\"model\": \"m\", \"prices\": [{" ENTRY "%s}]}]}", extra);
    return parse(buf);
}

static void test_v2_fixture(void **state)
{
    const char *src = getenv("TALLY_FIXTURES");
    char path[1024], *buf;
    size_t len;
    FILE *f;
    price_book *b;
    const price_model *m;
    const price_range *r;

    (void)state;
    snprintf(path, sizeof(path), "%s/prices/v2-fixture.json", src ? src : "fixtures");
    f = fopen(path, "rb");
    assert_non_null(f);
    buf = malloc(1 << 16);
    assert_non_null(buf);
    len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    b = price_book_parse(buf, len, err, sizeof(err));
    assert_non_null(b);
    assert_int_equal(b->format, 2);
    assert_int_equal(b->nmodels, 2);

    m = find(b, "test-haiku");
    assert_int_equal(m->naliases, 2);
    assert_string_equal(m->aliases[1], "test-haiku[1m]");
    assert_int_equal(m->nfast_aliases, 1);
    assert_string_equal(m->fast_aliases[0], "test-haiku-fast");
    r = &m->ranges[0];
    assert_string_equal(r->source, "https://platform.claude.com/docs/en/about-claude/pricing");
    assert_string_equal(r->read, "2026-12-02");
    assert_string_equal(r->standard.base.usd_per_mtok[PRICE_CACHE_WRITE_5M], "0.125");
    assert_int_equal(r->standard.ntiers, 2);
    assert_int_equal(r->standard.tiers[0].over_tokens, 100000);
    assert_string_equal(r->standard.tiers[0].rates.usd_per_mtok[PRICE_CACHE_WRITE_5M], "0.625");
    assert_int_equal(r->standard.tiers[1].over_tokens, 200000);
    assert_string_equal(r->standard.tiers[1].rates.usd_per_mtok[PRICE_CACHE_READ], "0.1");
    assert_int_equal(r->fast_kind, PRICE_FAST_MULTIPLIER);
    assert_string_equal(r->fast_multiplier, "2.5");
    assert_int_equal(r->nresidency, 2);
    assert_string_equal(r->residency[0].name, "us");
    assert_string_equal(r->residency[0].multiplier, "1.1");
    assert_string_equal(r->residency[1].name, "data-zone-us");

    m = find(b, "test-opus");
    assert_int_equal(m->nfast_aliases, 0);
    assert_int_equal(m->nranges, 2);
    r = &m->ranges[0];
    assert_string_equal(r->effective_to, "2026-10-07");
    assert_int_equal(r->fast_kind, PRICE_FAST_EXPLICIT);
    assert_int_equal(r->fast.ntiers, 0);
    assert_string_equal(r->fast.base.usd_per_mtok[PRICE_CACHE_WRITE_5M], "37.50");
    r = &m->ranges[1];
    assert_int_equal(r->fast_kind, PRICE_FAST_NONE);
    assert_int_equal(r->nresidency, 0);
    assert_string_equal(r->standard.base.usd_per_mtok[PRICE_CACHE_READ], "0.25");
    price_book_free(b);
    free(buf);
}

static void test_v2_book_errors(void **state)
{
    (void)state;
    expect_error(parse("{\"format\": 3, \"name\": \"t\"}"),
                 "price book: \"format\" must be 2 (a book without \"format\" is version 1)");
    expect_error(parse("{\"format\": \"2\", \"name\": \"t\"}"),
                 "price book: \"format\" must be 2 (a book without \"format\" is version 1)");
    /* v1 knows none of v2's keys */
    expect_error(parse(HEAD "[{\"model\": \"m\", \"fast_aliases\": [], \"prices\": []}]}"),
                 "model \"m\": unknown key \"fast_aliases\"");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-01-01\", " RATES ", \"tiers\": []}]"),
                 "model \"m\", prices[0]: unknown key \"tiers\"");
    /* v2 replaced long_context by tiers */
    expect_error(parse_v2_entry(", \"long_context\": null"),
                 "model \"m\", prices[0]: unknown key \"long_context\"");
    expect_error(parse_v2_entry(", \"fast\": null, \"residency\": {}, \"speed\": \"fast\""),
                 "model \"m\", prices[0]: unknown key \"speed\"");
}

/* A v2 entry whose "source" and "read" keys are the given JSON members (may be ""). */
static price_book *parse_v2_source(const char *members)
{
    static char buf[2048];

    snprintf(buf, sizeof(buf),
             V2HEAD "[{\"model\": \"m\", \"prices\": [{\"effective_from\": \"2026-01-01\", "
                    "%s" RATES "}]}]}",
             members);
    return parse(buf);
}

static void test_v2_source_errors(void **state)
{
    static const char url_msg[] = "model \"m\", prices[0]: \"source\" must be the URL (http:// or "
                                  "https://) the prices were read from";

    (void)state;
    expect_error(parse_v2_source("\"read\": \"2026-12-02\", "),
                 "model \"m\", prices[0]: missing \"source\"");
    expect_error(parse_v2_source("\"source\": \"https://x.example/p\", "),
                 "model \"m\", prices[0]: missing \"read\"");
    expect_error(parse_v2_source("\"source\": \"https://x.example/p\", \"read\": \"2026-12-32\", "),
                 "model \"m\", prices[0]: \"read\" is not a date (YYYY-MM-DD): \"2026-12-32\"");
    expect_error(parse_v2_source("\"source\": \"the pricing page\", \"read\": \"2026-12-02\", "),
                 url_msg);
    expect_error(
        parse_v2_source("\"source\": \"https://x.example/a b\", \"read\": \"2026-12-02\", "),
        url_msg);
    expect_error(parse_v2_source("\"source\": \"https://\", \"read\": \"2026-12-02\", "), url_msg);
    expect_error(parse_v2_source("\"source\": 7, \"read\": \"2026-12-02\", "), url_msg);
}

static void test_v2_tier_errors(void **state)
{
    price_book *b;

    (void)state;
    expect_error(parse_v2_entry(", \"tiers\": [" TIER(150000) "]"),
                 "model \"m\", prices[0].tiers[0]: \"over_tokens\" 150000 is not a prompt band "
                 "breakpoint (32000, 64000, 100000, 128000, 200000, 256000, 500000, 1000000): "
                 "the rollups could not tell which requests pay it");
    expect_error(parse_v2_entry(", \"tiers\": [" TIER(200000) ", " TIER(100000) "]"),
                 "model \"m\", prices[0].tiers[1]: \"over_tokens\" 100000 is below tiers[0]'s "
                 "200000: tiers must be sorted by ascending \"over_tokens\"");
    expect_error(parse_v2_entry(", \"tiers\": [" TIER(100000) ", " TIER(100000) "]"),
                 "model \"m\", prices[0].tiers[1]: \"over_tokens\" 100000 repeats tiers[0]");
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 0, " RATES "}]"),
                 "model \"m\", prices[0].tiers[0]: \"over_tokens\" must be a positive integer");
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": \"200000\", " RATES "}]"),
                 "model \"m\", prices[0].tiers[0]: \"over_tokens\" must be a positive integer");
    expect_error(parse_v2_entry(", \"tiers\": [{" RATES "}]"),
                 "model \"m\", prices[0].tiers[0]: missing \"over_tokens\"");
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, \"input\": \"1\"}]"),
                 "model \"m\", prices[0].tiers[0]: missing \"output\"");
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, \"x\": 1, " RATES "}]"),
                 "model \"m\", prices[0].tiers[0]: unknown key \"x\"");
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, \"input\": \"-6\", "
                                "\"output\": \"1\", \"cache_write_5m\": \"1\", "
                                "\"cache_write_1h\": \"1\", \"cache_read\": \"1\"}]"),
                 "model \"m\", prices[0].tiers[0]: \"input\" is negative: \"-6\"");
    expect_error(parse_v2_entry(", \"tiers\": [\"x\"]"),
                 "model \"m\", prices[0].tiers[0]: must be an object");
    expect_error(parse_v2_entry(", \"tiers\": {}"),
                 "model \"m\", prices[0]: \"tiers\" must be an array");
    /* every breakpoint once, ascending: all accepted */
    b = parse_v2_entry(", \"tiers\": [" TIER(32000) ", " TIER(64000) ", " TIER(100000) ", " TIER(
        128000) ", " TIER(200000) ", " TIER(256000) ", " TIER(500000) ", " TIER(1000000) "]");
    assert_non_null(b);
    assert_int_equal(b->models[0].ranges[0].standard.ntiers, 8);
    assert_int_equal(b->models[0].ranges[0].standard.tiers[7].over_tokens, 1000000);
    price_book_free(b);
    /* a ninth is a repeat or below the last */
    expect_error(
        parse_v2_entry(", \"tiers\": [" TIER(32000) ", " TIER(64000) ", " TIER(100000) ", " TIER(128000) ", " TIER(
            200000) ", " TIER(256000) ", " TIER(500000) ", " TIER(1000000) ", " TIER(1000000) "]"),
        "model \"m\", prices[0].tiers[8]: \"over_tokens\" 1000000 repeats tiers[7]");
}

/* A tier's class may be null (no published price); the base rates' may not. */
#define HALF_TIER(t)                                                                               \
    "{\"over_tokens\": " #t ", \"input\": \"6\", \"output\": \"22.50\", "                          \
    "\"cache_write_5m\": null, \"cache_write_1h\": null, \"cache_read\": null}"

static void test_v2_null_classes(void **state)
{
    price_book *b;
    const price_range *r;

    (void)state;
    b = parse_v2_entry(", \"tiers\": [" HALF_TIER(200000) "]");
    assert_non_null(b);
    r = &b->models[0].ranges[0];
    assert_int_equal(r->standard.ntiers, 1);
    assert_int_equal(r->standard.tiers[0].over_tokens, 200000);
    assert_string_equal(r->standard.tiers[0].rates.usd_per_mtok[PRICE_INPUT], "6");
    assert_string_equal(r->standard.tiers[0].rates.usd_per_mtok[PRICE_OUTPUT], "22.50");
    assert_string_equal(r->standard.tiers[0].rates.usd_per_mtok[PRICE_CACHE_WRITE_5M], "");
    assert_string_equal(r->standard.tiers[0].rates.usd_per_mtok[PRICE_CACHE_WRITE_1H], "");
    assert_string_equal(r->standard.tiers[0].rates.usd_per_mtok[PRICE_CACHE_READ], "");
    assert_string_equal(r->standard.base.usd_per_mtok[PRICE_CACHE_READ], "0.30");
    price_book_free(b);
    /* an explicit fast block's tier too */
    b = parse_v2_entry(", \"tiers\": [" TIER(200000) "], \"fast\": {" RATES
                                                     ", \"tiers\": [" HALF_TIER(200000) "]}");
    assert_non_null(b);
    r = &b->models[0].ranges[0];
    assert_int_equal(r->fast_kind, PRICE_FAST_EXPLICIT);
    assert_string_equal(r->standard.tiers[0].rates.usd_per_mtok[PRICE_CACHE_READ], "0.30");
    assert_string_equal(r->fast.tiers[0].rates.usd_per_mtok[PRICE_OUTPUT], "22.50");
    assert_string_equal(r->fast.tiers[0].rates.usd_per_mtok[PRICE_CACHE_WRITE_1H], "");
    price_book_free(b);
    /* null is not missing: a tier still names all five classes */
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, \"input\": \"6\", "
                                "\"output\": \"22.50\", \"cache_write_5m\": null, "
                                "\"cache_write_1h\": null}]"),
                 "model \"m\", prices[0].tiers[0]: missing \"cache_read\"");
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, \"input\": \"6\", "
                                "\"output\": \"-1\", \"cache_write_5m\": null, "
                                "\"cache_write_1h\": null, \"cache_read\": null}]"),
                 "model \"m\", prices[0].tiers[0]: \"output\" is negative: \"-1\"");
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, \"input\": 6.5, "
                                "\"output\": null, \"cache_write_5m\": null, "
                                "\"cache_write_1h\": null, \"cache_read\": null}]"),
                 "model \"m\", prices[0].tiers[0]: \"input\" must be a decimal string such as "
                 "\"3.75\", not a JSON number with a fraction or exponent");
    /* the base rates: every class priced, fast ones too; in v1 long_context too */
    expect_error(parse(V2HEAD "[{\"model\": \"m\", \"prices\": [{\"effective_from\": "
                              "\"2026-01-01\", " SRC ", \"input\": \"3\", \"output\": \"15\", "
                              "\"cache_write_5m\": \"3.75\", \"cache_write_1h\": \"6\", "
                              "\"cache_read\": null}]}]}"),
                 "model \"m\", prices[0]: \"cache_read\" is null: only a tier may leave a class "
                 "without a published price");
    expect_error(parse_v2_entry(", \"fast\": {\"input\": null, \"output\": \"30\", "
                                "\"cache_write_5m\": \"7.5\", \"cache_write_1h\": \"12\", "
                                "\"cache_read\": \"0.6\"}"),
                 "model \"m\", prices[0].fast: \"input\" is null: only a tier may leave a class "
                 "without a published price");
    expect_error(parse_v2_entry(", \"fast\": {\"multiplier\": null}"),
                 "model \"m\", prices[0].fast: \"multiplier\" is not a decimal");
    expect_error(parse_v2_entry(", \"residency\": {\"us\": null}"),
                 "model \"m\", prices[0].residency: \"us\" is not a decimal");
    expect_error(parse_ranges("[{\"effective_from\": \"2025-01-01\", " RATES
                              ", \"long_context\": {\"threshold_tokens\": 200000, \"input\": "
                              "\"6\", \"output\": \"22.50\", \"cache_write_5m\": null, "
                              "\"cache_write_1h\": \"12\", \"cache_read\": \"0.60\"}}]"),
                 "model \"m\", prices[0].long_context: \"cache_write_5m\" is not a decimal");
}

/* A tier read from another page names it: "source" and "read" together. */
static void test_v2_tier_source(void **state)
{
    price_book *b;

    (void)state;
    b = parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, " SRC ", " RATES "}]");
    assert_non_null(b);
    assert_int_equal(b->models[0].ranges[0].standard.ntiers, 1);
    price_book_free(b);
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, \"read\": "
                                "\"2026-12-02\", " RATES "}]"),
                 "model \"m\", prices[0].tiers[0]: \"read\" without \"source\"");
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, \"source\": "
                                "\"https://x.example/p\", " RATES "}]"),
                 "model \"m\", prices[0].tiers[0]: missing \"read\"");
    expect_error(parse_v2_entry(", \"tiers\": [{\"over_tokens\": 200000, \"source\": "
                                "\"the page\", \"read\": \"2026-12-02\", " RATES "}]"),
                 "model \"m\", prices[0].tiers[0]: \"source\" must be the URL (http:// or "
                 "https://) the prices were read from");
}

static void test_v2_fast(void **state)
{
    price_book *b;

    (void)state;
    expect_error(parse_v2_entry(", \"fast\": {\"multiplier\": \"-2\"}"),
                 "model \"m\", prices[0].fast: \"multiplier\" is negative: \"-2\"");
    expect_error(parse_v2_entry(", \"fast\": {\"multiplier\": \"2x\"}"),
                 "model \"m\", prices[0].fast: \"multiplier\" is not a decimal: \"2x\"");
    expect_error(parse_v2_entry(", \"fast\": {\"multiplier\": \"0.00\"}"),
                 "model \"m\", prices[0].fast: \"multiplier\" must be greater than 0: \"0.00\"");
    expect_error(parse_v2_entry(", \"fast\": {\"multiplier\": 0}"),
                 "model \"m\", prices[0].fast: \"multiplier\" must be greater than 0: \"0\"");
    expect_error(parse_v2_entry(", \"fast\": {\"multiplier\": 2.5}"),
                 "model \"m\", prices[0].fast: \"multiplier\" must be a decimal string such as "
                 "\"3.75\", not a JSON number with a fraction or exponent");
    expect_error(parse_v2_entry(", \"fast\": {\"multiplier\": \"2\", \"input\": \"6\"}"),
                 "model \"m\", prices[0].fast: unknown key \"input\"");
    expect_error(parse_v2_entry(", \"fast\": {\"input\": \"6\", \"output\": \"30\", "
                                "\"cache_write_5m\": \"7.5\", \"cache_write_1h\": \"12\"}"),
                 "model \"m\", prices[0].fast: missing \"cache_read\"");
    expect_error(parse_v2_entry(", \"fast\": {" RATES ", \"multipler\": \"2\"}"),
                 "model \"m\", prices[0].fast: unknown key \"multipler\"");
    expect_error(parse_v2_entry(", \"fast\": 6"),
                 "model \"m\", prices[0].fast: must be an object or null");
    /* explicit fast prices need the tiers of the entry */
    expect_error(parse_v2_entry(", \"tiers\": [" TIER(200000) "], \"fast\": {" RATES "}"),
                 "model \"m\", prices[0].fast: \"tiers\" must have the \"over_tokens\" of the "
                 "standard tiers, in the same order");
    expect_error(parse_v2_entry(", \"tiers\": [" TIER(200000) "], \"fast\": {" RATES
                                                              ", \"tiers\": [" TIER(100000) "]}"),
                 "model \"m\", prices[0].fast: \"tiers\" must have the \"over_tokens\" of the "
                 "standard tiers, in the same order");
    expect_error(parse_v2_entry(", \"tiers\": [" TIER(200000) "], \"fast\": {" RATES
                                                              ", \"tiers\": [" TIER(150000) "]}"),
                 "model \"m\", prices[0].fast.tiers[0]: \"over_tokens\" 150000 is not a prompt "
                 "band breakpoint (32000, 64000, 100000, 128000, 200000, 256000, 500000, "
                 "1000000): the rollups could not tell which requests pay it");
    b = parse_v2_entry(", \"tiers\": [" TIER(
        200000) "], \"fast\": {\"input\": \"18\", \"output\": "
                "\"90\", \"cache_write_5m\": \"22.5\", \"cache_write_1h\": \"36\", "
                "\"cache_read\": \"1.8\", \"tiers\": [" TIER(200000) "]}");
    assert_non_null(b);
    assert_int_equal(b->models[0].ranges[0].fast_kind, PRICE_FAST_EXPLICIT);
    assert_string_equal(b->models[0].ranges[0].fast.base.usd_per_mtok[PRICE_CACHE_READ], "1.8");
    assert_int_equal(b->models[0].ranges[0].fast.tiers[0].over_tokens, 200000);
    price_book_free(b);
    b = parse_v2_entry(", \"fast\": {\"multiplier\": 6}");
    assert_non_null(b);
    assert_string_equal(b->models[0].ranges[0].fast_multiplier, "6");
    price_book_free(b);
}

static void test_v2_residency(void **state)
{
    price_book *b;

    (void)state;
    expect_error(parse_v2_entry(", \"residency\": {\"US\": \"1.1\"}"),
                 "model \"m\", prices[0].residency: class \"US\" must be 1 to 32 lower-case "
                 "letters, digits or '-'");
    expect_error(parse_v2_entry(", \"residency\": {\"\": \"1.1\"}"),
                 "model \"m\", prices[0].residency: class \"\" must be 1 to 32 lower-case "
                 "letters, digits or '-'");
    expect_error(parse_v2_entry(", \"residency\": {\"us\": \"-1.1\"}"),
                 "model \"m\", prices[0].residency: \"us\" is negative: \"-1.1\"");
    expect_error(parse_v2_entry(", \"residency\": {\"us\": \"0\"}"),
                 "model \"m\", prices[0].residency: \"us\" must be greater than 0: \"0\"");
    expect_error(parse_v2_entry(", \"residency\": {\"us\": \"1,1\"}"),
                 "model \"m\", prices[0].residency: \"us\" is not a decimal: \"1,1\"");
    expect_error(parse_v2_entry(", \"residency\": {\"us\": 1.1}"),
                 "model \"m\", prices[0].residency: \"us\" must be a decimal string such as "
                 "\"3.75\", not a JSON number with a fraction or exponent");
    expect_error(parse_v2_entry(", \"residency\": [\"us\"]"),
                 "model \"m\", prices[0].residency: must be an object or null");
    b = parse_v2_entry(", \"residency\": {\"data-zone-us\": \"1.10\", \"eu2\": 1}");
    assert_non_null(b);
    assert_int_equal(b->models[0].ranges[0].nresidency, 2);
    assert_string_equal(b->models[0].ranges[0].residency[0].name, "data-zone-us");
    assert_string_equal(b->models[0].ranges[0].residency[0].multiplier, "1.10");
    assert_string_equal(b->models[0].ranges[0].residency[1].multiplier, "1");
    price_book_free(b);
}

static void test_v2_ids_and_dates(void **state)
{
    (void)state;
    expect_error(parse(V2HEAD "[{\"model\": \"m\", \"prices\": [{" ENTRY
                              ", \"effective_to\": \"2026-10-07\"}, {\"effective_from\": "
                              "\"2026-10-06\", " SRC ", " RATES "}]}]}"),
                 "model \"m\": prices[1] (2026-10-06 to open) overlaps prices[0] (2026-01-01 to "
                 "2026-10-07)");
    expect_error(parse(V2HEAD "[{\"model\": \"m\", \"aliases\": [\"m-fast\"], \"fast_aliases\": "
                              "[\"m-fast\"], \"prices\": [{" ENTRY "}]}]}"),
                 "model \"m\": fast alias \"m-fast\" is also an alias of model \"m\"");
    expect_error(parse(V2HEAD
                       "[{\"model\": \"m\", \"prices\": [{" ENTRY
                       "}]}, {\"model\": \"n\", \"aliases\": [\"m-fast\"], \"prices\": [{" ENTRY
                       "}]}, {\"model\": \"o\", \"fast_aliases\": [\"m-fast\"], "
                       "\"prices\": [{" ENTRY "}]}]}"),
                 "model \"o\": fast alias \"m-fast\" is also an alias of model \"n\"");
    expect_error(parse(V2HEAD
                       "[{\"model\": \"m\", \"fast_aliases\": [\"x\"], \"prices\": [{" ENTRY
                       "}]}, {\"model\": \"n\", \"fast_aliases\": [\"x\"], \"prices\": [{" ENTRY
                       "}]}]}"),
                 "model \"n\": fast alias \"x\" is already a fast alias of model \"m\"");
    expect_error(parse(V2HEAD "[{\"model\": \"m\", \"fast_aliases\": [\"n\"], \"prices\": [{" ENTRY
                              "}]}, {\"model\": \"n\", \"prices\": [{" ENTRY "}]}]}"),
                 "model \"m\": fast alias \"n\" is also a model id");
    expect_error(parse(V2HEAD
                       "[{\"model\": \"m\", \"fast_aliases\": [\"ok\", 7], \"prices\": [{" ENTRY
                       "}]}]}"),
                 "model \"m\": fast_aliases[1] is not a model id");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_book),     cmocka_unit_test(test_integers_accepted),
        cmocka_unit_test(test_book_errors),      cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_range_errors),     cmocka_unit_test(test_price_errors),
        cmocka_unit_test(test_overlap),          cmocka_unit_test(test_long_context_errors),
        cmocka_unit_test(test_v2_fixture),       cmocka_unit_test(test_v2_book_errors),
        cmocka_unit_test(test_v2_source_errors), cmocka_unit_test(test_v2_tier_errors),
        cmocka_unit_test(test_v2_fast),          cmocka_unit_test(test_v2_residency),
        cmocka_unit_test(test_v2_ids_and_dates), cmocka_unit_test(test_v2_null_classes),
        cmocka_unit_test(test_v2_tier_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
