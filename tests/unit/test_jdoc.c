/* Unit tests of ingest/jdoc.c: it agrees with jansson (tests/fuzz/fuzz_jdoc_check.h) on
 * the parser fuzz corpora and on the edge cases below, and parses the common subset
 * itself, the usage events APIM sends among them. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "../fuzz/fuzz_jdoc_check.h"

static void agrees(const char *buf, size_t len, bool want_lexed)
{
    bool lexed;
    const char *why = jdoc_check(buf, len, false, &lexed);

    if (why)
        fail_msg("%.*s: %s", (int)len, buf, why);
    if (lexed != want_lexed)
        fail_msg("%.*s: jdoc_lex %s it", (int)len, buf, lexed ? "takes" : "does not take");
    why = jdoc_check(buf, len, true, &lexed);
    if (why)
        fail_msg("%.*s (any value): %s", (int)len, buf, why);
}

static void test_edge_cases(void **state)
{
    static const struct {
        const char *json;
        bool lexed; /* jdoc parses it without jansson */
    } cases[] = {
        {"{}", true},
        {"  [ ]  ", true},
        {"{\"a\":1,\"A\":2,\"b\":[true,false,null,\"\"]}", true},
        {"{\"a\":\"x\\/y\\\"\\\\\\b\\f\\n\\r\\t\"}", true},
        {"{\"euro\":\"\xe2\x82\xac\",\"emoji\":\"\xf0\x9f\x98\x80\"}", true},
        {"[0,-0,12,-3,1.5,2e3,-1.25E-2,1e-400]", true},
        {"[9223372036854775807,-9223372036854775808]", true},
        {"{\"a\":1,\"a\":2}", false},                 /* jansson keeps the last */
        {"{\"a\":1,\"b\":2,\"a\":[3]}", false},       /* in the first one's place */
        {"{\"a\":\"\\u00e9\\ud83d\\ude00\"}", false}, /* \u escapes are jansson's */
        {"{\"a\":\"\\ud83d\"}", false},               /* a lone surrogate: refused */
        {"{\"a\":\"\\u0000\"}", false},
        {"{\"a\":\"\\x\"}", false},
        {"[9223372036854775808]", false},
        {"[-9223372036854775809]", false},
        {"[1e400]", false},
        {"[01]", false},
        {"[1.]", false},
        {"[.5]", false},
        {"[-]", false},
        {"[1e]", false},
        {"{\"a\":tru}", false},
        {"{\"a\":true1}", false},
        {"{\"a\":1,}", false},
        {"[1,]", false},
        {"{\"a\" 1}", false},
        {"{} x", false},
        {"{}{}", false},
        {"", false},
        {"\"top\"", false}, /* only with any */
        {"12", false},
        {"{\"a\":\"\x01\"}", false},
        {"{\"a\":\"\xc0\x80\"}", false},
        {"{\"a\":\"\xed\xa0\x80\"}", false},
        {"{\"a\":\"\xf4\x90\x80\x80\"}", false},
        {"{\"a\":\"\xe2\x82\"}", false},
        {"\xef\xbb\xbf{}", false},
        {"{\"a\":\"unterminated}", false},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        agrees(cases[i].json, strlen(cases[i].json), cases[i].lexed);
    /* a NUL byte after the document, and inside a string */
    agrees("{\"a\":1}\0", 8, false);
    agrees("{\"a\":\"x\0y\"}", 11, false);
}

/* JDOC_DEPTH_MAX levels it parses itself, deeper goes to jansson, deeper than jansson's
 * 2048 is refused */
static void test_depth(void **state)
{
    static const int depths[] = {JDOC_DEPTH_MAX, JDOC_DEPTH_MAX + 1, 2048, 2049, 3000};
    static char buf[2 * 3000];

    (void)state;
    for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        size_t n = (size_t)depths[i];

        memset(buf, '[', n);
        memset(buf + n, ']', n);
        agrees(buf, 2 * n, depths[i] <= JDOC_DEPTH_MAX);
    }
}

/* objects up to JDOC_MEMBERS_MAX members it parses itself, bigger ones go to jansson
 * (finding a repeated key is quadratic here, hashed there) */
static void test_members(void **state)
{
    static const int counts[] = {JDOC_MEMBERS_MAX, JDOC_MEMBERS_MAX + 1, 5000};
    static char buf[5000 * 16 + 2];

    (void)state;
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        size_t n = 0;

        buf[n++] = '{';
        for (int m = 0; m < counts[i]; m++)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":%d", m ? "," : "", m, m);
        buf[n++] = '}';
        agrees(buf, n, counts[i] <= JDOC_MEMBERS_MAX);
    }
}

/* Every seed of the parser fuzz targets; returns how many jdoc parsed itself. */
static int corpus(const char *dir, int *files)
{
    char path[512], *buf;
    struct dirent *e;
    DIR *d = opendir(dir);
    int lexed_n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        FILE *f;
        long n;
        bool lexed;
        const char *why;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        why = jdoc_check(buf, (size_t)n, false, &lexed);
        if (why)
            fail_msg("%s: %s", path, why);
        lexed_n += lexed;
        (*files)++;
        free(buf);
    }
    closedir(d);
    return lexed_n;
}

static void test_corpora(void **state)
{
    int files = 0, lexed = 0;

    (void)state;
    lexed += corpus("fuzz/corpus/fuzz_parse_usage", &files);
    lexed += corpus("fuzz/corpus/fuzz_parse_legacy", &files);
    lexed += corpus("fuzz/corpus/fuzz_parse_monitor", &files);
    print_message("%d of %d seeds parsed by jdoc itself\n", lexed, files);
    assert_true(files > 50);
    assert_true(lexed > files / 2);
}

/* the shapes APIM sends: one event and a stream's, none handed to jansson */
static void test_usage_examples_lexed(void **state)
{
    static const char *const names[] = {"fuzz/corpus/fuzz_parse_usage/apim-policy-json.json",
                                        "fuzz/corpus/fuzz_parse_usage/apim-policy-sse.json"};

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char buf[65536];
        FILE *f = fopen(names[i], "rb");
        size_t n;
        jdoc d;

        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        if (!jdoc_lex(&d, buf, n, false))
            fail_msg("%s: jdoc_lex does not take it", names[i]);
        assert_true(jv_is_object(d.root));
        jdoc_free(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_corpora),
        cmocka_unit_test(test_usage_examples_lexed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
