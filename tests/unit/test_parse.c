/* Unit tests of ingest/parse.c: format detection and the shared helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse_collect.h"
#include "parse_internal.h"

/* values for the field helpers: strings, numbers and null in a small pool, documents
 * parsed with jdoc_load() into one document freed by the next load or jdoc_free */
static jv pool[16];
static size_t npool;
static jdoc loaded;

static jv *pooled(jv v)
{
    jv *p = &pool[npool++ % (sizeof(pool) / sizeof(pool[0]))];

    *p = v;
    return p;
}

static jv *jstr(const char *s)
{
    return pooled((jv){.type = JV_STRING, .str = s, .len = strlen(s)});
}

static jv *jint(int64_t n)
{
    return pooled((jv){.type = JV_INTEGER, .integer = n});
}

static jv *jreal(double r)
{
    return pooled((jv){.type = JV_REAL, .real = r});
}

static jv *jnull(void)
{
    return pooled((jv){.type = JV_NULL});
}

static jv *load(const char *text)
{
    char err[JSON_ERROR_TEXT_LENGTH];

    jdoc_free(&loaded);
    return jdoc_load(&loaded, text, strlen(text), true, err, sizeof(err)) ? loaded.root : NULL;
}

static int64_t iso(const char *s)
{
    int64_t us = INT64_MIN;

    if (!parse_iso8601(s, &us))
        fail_msg("parse_iso8601 rejected \"%s\"", s);
    return us;
}

static int64_t culture(const char *s)
{
    int64_t us = INT64_MIN;

    if (!parse_culture_time(s, &us))
        fail_msg("parse_culture_time rejected \"%s\"", s);
    return us;
}

static void test_days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(parse_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(parse_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(parse_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(parse_days_from_civil(2024, 2, 29), 19782);
    assert_int_equal(parse_days_from_civil(2026, 10, 31), 20757);
    assert_int_equal(parse_days_from_civil(1600, 1, 1), -135140);
    assert_int_equal(parse_days_from_civil(9999, 12, 31), 2932896);
}

static void test_iso8601(void **state)
{
    (void)state;
    /* Azure's seven fraction digits, truncated: never rounded into the next month */
    assert_int_equal(iso("2026-10-31T18:29:59.9990000Z"), INT64_C(1793471399999000));
    assert_int_equal(iso("2026-10-31T18:29:59.9999999Z"), INT64_C(1793471399999999));
    assert_int_equal(iso("2026-10-31T18:29:59.999Z"), INT64_C(1793471399999000));
    assert_int_equal(iso("2026-10-31T18:29:59.9Z"), INT64_C(1793471399900000));
    assert_int_equal(iso("2026-10-31T18:29:59,5Z"), INT64_C(1793471399500000));
    assert_int_equal(iso("2026-10-31T18:29:59.123456789012Z"), INT64_C(1793471399123456));
    assert_int_equal(iso("2026-10-31T18:29:59Z"), INT64_C(1793471399000000));
    assert_int_equal(iso("2026-10-31t18:29:59z"), INT64_C(1793471399000000));
    assert_int_equal(iso("2026-10-31 18:29:59"), INT64_C(1793471399000000));
    /* offsets: Kolkata +05:30, Kathmandu +05:45, and west of UTC */
    assert_int_equal(iso("2026-10-31T23:59:59.999+05:30"), INT64_C(1793471399999000));
    assert_int_equal(iso("2026-10-31T23:59:59.999+0530"), INT64_C(1793471399999000));
    assert_int_equal(iso("2024-02-29T00:00:00+05:45"), INT64_C(1709144100000000));
    assert_int_equal(iso("2026-10-31T13:29:59-05:00"), INT64_C(1793471399000000));
    assert_int_equal(iso("2026-10-31T13:29:59-05"), INT64_C(1793471399000000));
    assert_int_equal(iso("2026-10-31T18:29:59+00:00"), INT64_C(1793471399000000));
    /* leap days, the epoch, before it, far after it */
    assert_int_equal(iso("2000-02-29T00:00:00Z"), INT64_C(951782400000000));
    assert_int_equal(iso("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(iso("1969-12-31T23:59:59.999999Z"), -1);
    assert_int_equal(iso("9999-12-31T23:59:59.999999Z"), INT64_C(253402300799999999));
}

static void test_iso8601_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "2026",
        "2026-10-31",
        "2026-10-31T18:29Z",
        "2026-10-31T18:29:59.Z",
        "2026-10-31T18:29:59ZZ",
        "2026-10-31T18:29:59Z ",
        " 2026-10-31T18:29:59Z",
        "2026-10-31X18:29:59Z",
        "2026-1-31T18:29:59Z",
        "26-10-31T18:29:59Z",
        "2026-00-10T00:00:00Z",
        "2026-13-10T00:00:00Z",
        "2026-10-00T00:00:00Z",
        "2026-10-32T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-10-31T24:00:00Z",
        "2026-10-31T23:60:00Z",
        "2026-10-31T23:59:60Z",
        "2026-10-31T23:59:59+24:00",
        "2026-10-31T23:59:59+05:60",
        "2026-10-31T23:59:59+5:30",
        "2026-10-31T23:59:59+05:3",
        "2026-10-31T23:59:59+",
        "2026-10-31T23:59:59 +05:30",
        "+2026-10-31T23:59:59Z",
        "2026-10-31T23:59:59.-1Z",
    };
    int64_t us;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_iso8601(bad[i], &us))
            fail_msg("parse_iso8601 accepted \"%s\"", bad[i]);
    }
}

static void test_culture_time(void **state)
{
    static const char *const bad[] = {
        "5/24/2024",
        "5/24/2024 2:45 PM",
        "24/5/2024 2:45:56 PM",
        "2/30/2024 1:00:00 AM",
        "5/24/2024 13:45:56 PM",
        "5/24/2024 0:45:56 AM",
        "5/24/2024 24:00:00",
        "5/24/2024 2:45:56 PX",
        "5/24/2024 2:45:56 P",
        "5/24/2024 2:45:56 PM ",
        "5/24/24 2:45:56 PM",
        "005/24/2024 2:45:56 PM",
        "5/24/2024 2:5:56 PM",
        "5/24/2024  2:45:56 PM",
    };
    int64_t us;

    (void)state;
    assert_int_equal(culture("5/24/2024 2:45:56 PM"), INT64_C(1716561956000000));
    assert_int_equal(culture("05/24/2024 02:45:56 pm"), INT64_C(1716561956000000));
    assert_int_equal(culture("5/24/2024 14:45:56"), INT64_C(1716561956000000));
    assert_int_equal(culture("5/24/2024 12:45:56 AM"), INT64_C(1716511556000000));
    assert_int_equal(culture("5/24/2024 12:45:56 PM"), INT64_C(1716554756000000));
    assert_int_equal(culture("10/14/2026 2:45:56 PM"), INT64_C(1791989156000000));
    assert_int_equal(culture("2/29/2024 11:59:59 PM"), INT64_C(1709251199000000));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_culture_time(bad[i], &us))
            fail_msg("parse_culture_time accepted \"%s\"", bad[i]);
    }
    /* parse_timestamp takes either */
    assert_true(parse_timestamp("5/24/2024 2:45:56 PM", &us));
    assert_int_equal(us, INT64_C(1716561956000000));
    assert_true(parse_timestamp("2024-05-24T14:45:56Z", &us));
    assert_int_equal(us, INT64_C(1716561956000000));
    assert_false(parse_timestamp("yesterday", &us));
}

static void test_get_case_insensitive(void **state)
{
    jv *obj = load("{\"Properties\":1,\"properties\":2,\"CorrelationID\":3,"
                   "\"x-Tally-User-OID\":4}");

    (void)state;
    assert_non_null(obj);
    /* the exact spelling wins over another casing */
    assert_int_equal(jv_int(parse_get(obj, "properties")), 2);
    assert_int_equal(jv_int(parse_get(obj, "Properties")), 1);
    assert_int_equal(jv_int(parse_get(obj, "PROPERTIES")), 1);
    assert_int_equal(jv_int(parse_get(obj, "correlationId")), 3);
    assert_int_equal(jv_int(parse_get(obj, "x-tally-user-oid")), 4);
    assert_null(parse_get(obj, "correlation"));
    assert_null(parse_get(obj, "correlationIdX"));
    assert_null(parse_get(NULL, "a"));
    assert_null(parse_get(parse_get(obj, "Properties"), "a"));
    assert_true(parse_key_eq("GatewayLlmLogs", "gatewayllmlogs"));
    assert_false(parse_key_eq("GatewayLogs", "GatewayLlmLogs"));
    assert_false(parse_key_eq("a", "ab"));
    jdoc_free(&loaded);
}

static void test_absent(void **state)
{
    jv *na = jstr("NA"), *empty = jstr(""), *null = jnull();
    jv *lower = jstr("na"), *zero = jint(0);

    (void)state;
    assert_true(parse_absent(NULL));
    assert_true(parse_absent(na));
    assert_true(parse_absent(empty));
    assert_true(parse_absent(null));
    assert_false(parse_absent(lower));
    assert_false(parse_absent(zero));
}

/* Runs parse_count on one JSON value given as text. */
static bool count_of(const char *text, int64_t *out, char *reason)
{
    jv *v = load(text);
    bool ok;

    assert_non_null(v);
    ok = parse_count(v, "n", out, reason);
    jdoc_free(&loaded);
    return ok;
}

static void test_count(void **state)
{
    static const struct {
        const char *json;
        int64_t value;
    } good[] = {
        {"0", 0},
        {"1500", 1500},
        {"\"1500\"", 1500},
        {"\"0007\"", 7},
        {"\"-0\"", 0},
        {"null", 0},
        {"\"NA\"", 0},
        {"\"\"", 0},
        {"1000000000000", INT64_C(1000000000000)},
        {"\"1000000000000\"", INT64_C(1000000000000)},
    };
    static const char *const invalid[] = {
        "1.5",     "12.0",    "\"12.0\"", "\"1e3\"",  "1e3",   "true",   "[1]",  "{}",
        "\" 12\"", "\"12 \"", "\"+12\"",  "\"0x10\"", "\"-\"", "\"na\"", "1e13",
    };
    static const char *const too_large[] = {"1000000000001", "\"1000000000001\"",
                                            "\"99999999999999999999\"", "9223372036854775807"};
    static const char *const negative[] = {"-1", "\"-5\"", "\"-99999999999999999999\""};
    char reason[PARSE_REASON_MAX];
    int64_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!count_of(good[i].json, &n, reason))
            fail_msg("%s rejected: %s", good[i].json, reason);
        assert_int_equal(n, good[i].value);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        if (count_of(invalid[i], &n, reason))
            fail_msg("%s accepted", invalid[i]);
        assert_string_equal(reason, "invalid token count in \"n\"");
    }
    for (size_t i = 0; i < sizeof(too_large) / sizeof(too_large[0]); i++) {
        if (count_of(too_large[i], &n, reason))
            fail_msg("%s accepted", too_large[i]);
        assert_string_equal(reason, "token count in \"n\" over the maximum 1000000000000");
    }
    for (size_t i = 0; i < sizeof(negative) / sizeof(negative[0]); i++) {
        if (count_of(negative[i], &n, reason))
            fail_msg("%s accepted", negative[i]);
        assert_string_equal(reason, "negative token count in \"n\"");
    }
}

static void test_int_and_bool(void **state)
{
    char reason[PARSE_REASON_MAX];
    jv *v;
    int n;

    (void)state;
    v = jstr("429");
    assert_true(parse_int(v, "statusCode", 0, 999, 0, &n, reason));
    assert_int_equal(n, 429);
    jdoc_free(&loaded);
    v = jstr("-1");
    assert_false(parse_int(v, "statusCode", 0, 999, 0, &n, reason));
    assert_string_equal(reason, "invalid integer in \"statusCode\"");
    jdoc_free(&loaded);
    v = jreal(200.0);
    assert_false(parse_int(v, "statusCode", 0, 999, 0, &n, reason));
    jdoc_free(&loaded);
    v = jstr("99999999999");
    assert_false(parse_int(v, "statusCode", 0, 999, 0, &n, reason));
    jdoc_free(&loaded);
    v = jstr("-3");
    assert_true(parse_int(v, "x", -5, 5, 0, &n, reason));
    assert_int_equal(n, -3);
    jdoc_free(&loaded);
    assert_true(parse_int(NULL, "x", 0, 5, 4, &n, reason));
    assert_int_equal(n, 4);

    v = jstr("TRUE");
    assert_true(parse_bool(v, "isStream", &n, reason));
    assert_int_equal(n, 1);
    jdoc_free(&loaded);
    v = jstr("False");
    assert_true(parse_bool(v, "isStream", &n, reason));
    assert_int_equal(n, 0);
    jdoc_free(&loaded);
    v = jint(1);
    assert_true(parse_bool(v, "isStream", &n, reason));
    assert_int_equal(n, 1);
    jdoc_free(&loaded);
    assert_true(parse_bool(NULL, "isStream", &n, reason));
    assert_int_equal(n, -1);
    v = jstr("yes");
    assert_false(parse_bool(v, "isStream", &n, reason));
    assert_string_equal(reason, "invalid boolean in \"isStream\"");
    jdoc_free(&loaded);
    v = jint(2);
    assert_false(parse_bool(v, "isStream", &n, reason));
    jdoc_free(&loaded);
}

static void test_id_and_label(void **state)
{
    char reason[PARSE_REASON_MAX];
    char small[5];
    jv *v;

    (void)state;
    v = jstr("abcd");
    assert_true(parse_id(v, "requestId", small, sizeof(small), reason));
    assert_string_equal(small, "abcd");
    jdoc_free(&loaded);
    v = jstr("abcde");
    assert_false(parse_id(v, "requestId", small, sizeof(small), reason));
    assert_string_equal(reason, "field \"requestId\" too long");
    assert_true(parse_label(v, "gatewayName", small, sizeof(small), reason));
    assert_string_equal(small, "abcd");
    jdoc_free(&loaded);
    /* "ab" + U+20AC (3 bytes): 4 bytes would split the euro sign */
    v = jstr("ab\xe2\x82\xac");
    assert_true(parse_label(v, "gatewayName", small, sizeof(small), reason));
    assert_string_equal(small, "ab");
    jdoc_free(&loaded);
    v = jint(5);
    assert_false(parse_id(v, "model", small, sizeof(small), reason));
    assert_string_equal(reason, "field \"model\" is not a string");
    jdoc_free(&loaded);
    v = jstr("NA");
    strcpy(small, "old");
    assert_true(parse_id(v, "model", small, sizeof(small), reason));
    assert_string_equal(small, "");
    jdoc_free(&loaded);
}

static void test_time_reasons(void **state)
{
    char reason[PARSE_REASON_MAX];
    char long_value[300];
    int64_t us;
    jv *v;

    (void)state;
    assert_false(parse_time(NULL, &us, reason));
    assert_string_equal(reason, "missing timestamp");
    v = jstr("NA");
    assert_false(parse_time(v, &us, reason));
    assert_string_equal(reason, "missing timestamp");
    jdoc_free(&loaded);
    v = jint(1791969153);
    assert_false(parse_time(v, &us, reason));
    assert_string_equal(reason, "invalid timestamp");
    jdoc_free(&loaded);
    v = jstr("2026-10-14T09:12:33");
    assert_true(parse_time(v, &us, reason));
    assert_int_equal(us, INT64_C(1791969153000000));
    jdoc_free(&loaded);
    /* times the sink cannot store are rejects, not a batch that fails forever */
    v = jstr("0000-06-01T00:00:00Z");
    assert_false(parse_time(v, &us, reason));
    assert_string_equal(reason, "timestamp out of range \"0000-06-01T00:00:00Z\"");
    jdoc_free(&loaded);
    v = jstr("1900-01-01T00:30:00+01:00");
    assert_false(parse_time(v, &us, reason));
    assert_string_equal(reason, "timestamp out of range \"1900-01-01T00:30:00+01:00\"");
    jdoc_free(&loaded);
    v = jstr("9999-12-31T23:30:00-01:00");
    assert_false(parse_time(v, &us, reason));
    jdoc_free(&loaded);
    v = jstr("1900-01-01T00:00:00Z");
    assert_true(parse_time(v, &us, reason));
    assert_int_equal(us, INT64_C(-2208988800000000));
    jdoc_free(&loaded);
    v = jstr("9999-12-31T23:59:59.999999Z");
    assert_true(parse_time(v, &us, reason));
    jdoc_free(&loaded);
    /* a long bad value is quoted in part */
    memset(long_value, 'x', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    v = jstr(long_value);
    assert_false(parse_time(v, &us, reason));
    assert_int_equal(strlen(reason), strlen("invalid timestamp \"\"") + 64);
    jdoc_free(&loaded);
}

/* Each format is recognised in auto mode; what fits none is one reject. */
static void test_detection(void **state)
{
    static const struct {
        const char *file;
        event_format format;
        size_t items;
    } files[] = {
        {"usage-v1-stream.json", EVENT_FORMAT_USAGE, 1},
        {"usage-v1-json-strings.json", EVENT_FORMAT_USAGE, 1},
        {"usage-v1-array.json", EVENT_FORMAT_USAGE, 2},
        {"usage-v1-pascal.json", EVENT_FORMAT_USAGE, 1},
        {"legacy-accelerator.json", EVENT_FORMAT_LEGACY, 1},
        {"legacy-array.json", EVENT_FORMAT_LEGACY, 3},
        {"monitor-records.json", EVENT_FORMAT_MONITOR, 3},
        {"monitor-bare-array.json", EVENT_FORMAT_MONITOR, 2},
        {"monitor-single-llm.json", EVENT_FORMAT_MONITOR, 1},
        {"monitor-single-gateway.json", EVENT_FORMAT_MONITOR, 1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        collected c = {0};

        collect_fixture(&c, files[i].file, PARSE_AUTO);
        if (c.n != files[i].items)
            fail_msg("%s: %zu items, expected %zu", files[i].file, c.n, files[i].items);
        for (size_t j = 0; j < c.n; j++) {
            if (c.items[j].kind == ITEM_REJECT)
                fail_msg("%s: item %zu rejected: %s", files[i].file, j, c.items[j].reason);
            assert_int_equal(c.items[j].ev.format, files[i].format);
        }
        collected_free(&c);
    }
}

/* What fits no format is one reject with the whole message as raw, in auto mode. */
static void test_unknown_format(void **state)
{
    (void)state;
    assert_int_equal(golden_parse_check("parse/unknown-format.jsonl", PARSE_AUTO, "unknown-format"),
                     4);
}

/* A schema other than tally.usage/1 is not parsed as usage. */
static void test_unsupported_schema(void **state)
{
    (void)state;
    assert_int_equal(
        golden_parse_check("parse/unsupported-schema.jsonl", PARSE_AUTO, "unsupported-schema"), 1);
}

/* Reasons are printable UTF-8 even when jansson quotes bad input back. */
static void test_invalid_json(void **state)
{
    static const char bytes[] = "\xff\xfe{\"a\":1}";
    collected c = {0};
    const unsigned char *r;

    (void)state;
    collect_parse(&c, bytes, sizeof(bytes) - 1, PARSE_AUTO);
    collect_parse(&c, "{\"a\":\x01}", 7, PARSE_USAGE);
    collect_parse(&c, "", 0, PARSE_AUTO);
    collect_parse(&c, NULL, 0, PARSE_MONITOR);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.items[0].reason, "invalid JSON: unable to decode byte 0xff");
    assert_int_equal(c.items[0].raw_len, sizeof(bytes) - 1);
    assert_memory_equal(c.items[0].raw, bytes, sizeof(bytes) - 1);
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(c.items[i].kind, ITEM_REJECT);
        assert_int_equal(strncmp(c.items[i].reason, "invalid JSON: ", 14), 0);
        for (r = (const unsigned char *)c.items[i].reason; *r; r++)
            assert_true(*r >= 0x20 && *r < 0x7f);
    }
    collected_free(&c);
}

static void test_format_names(void **state)
{
    (void)state;
    assert_int_equal(parse_format_from_name("auto"), PARSE_AUTO);
    assert_int_equal(parse_format_from_name("usage"), PARSE_USAGE);
    assert_int_equal(parse_format_from_name("legacy"), PARSE_LEGACY);
    assert_int_equal(parse_format_from_name("monitor"), PARSE_MONITOR);
    assert_int_equal(parse_format_from_name("Monitor"), PARSE_MONITOR);
    assert_int_equal(parse_format_from_name("csv"), -1);
    assert_int_equal(parse_format_from_name(""), -1);
    assert_int_equal(parse_format_from_name(NULL), -1);
}

/* A format value outside the enum is a reject, not undefined behaviour. */
static void test_bad_format_value(void **state)
{
    collected c = {0};

    (void)state;
    collect_str(&c, "{}", (parse_format)42);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.items[0].reason, "unknown format");
    /* a NULL callback only counts */
    assert_int_equal(parse_message("[1]", 3, PARSE_AUTO, NULL, NULL), 1);
    collected_free(&c);
}

/* The golden serialization shows every byte of a value and any stray field of a reject. */
static void test_golden_text(void **state)
{
    static const char raw[] = "a\\b\n\t\xff\x00z";
    parse_item it = {.kind = ITEM_REJECT, .raw = raw, .raw_len = sizeof(raw) - 1};
    collected c = {.items = &it, .n = 1};
    membuf b = MEMBUF_INIT;

    (void)state;
    strcpy(it.reason, "why");
    it.ev.input_tokens = 3;
    golden_text(&c, &b);
    assert_false(b.oom);
    assert_string_equal(b.data, "items=1\n\n[item 0]\nkind=reject\nreason=why\n"
                                "raw=a\\\\b\\n\\t\\xff\\x00z\ninput_tokens=3\n");
    membuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_iso8601_invalid),
        cmocka_unit_test(test_culture_time),
        cmocka_unit_test(test_get_case_insensitive),
        cmocka_unit_test(test_absent),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_int_and_bool),
        cmocka_unit_test(test_id_and_label),
        cmocka_unit_test(test_time_reasons),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_unknown_format),
        cmocka_unit_test(test_unsupported_schema),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_bad_format_value),
        cmocka_unit_test(test_golden_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
