/* Unit tests of report/decimal.c: exact sums of decimal strings for report totals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decimal.h"

#define NINES_10 "9999999999"
#define ZEROS_10 "0000000000"

/* Sums values (a NULL-terminated list) and checks the formatted total. */
static void check_sum(const char *const *values, const char *expected)
{
    dec_sum s;
    char out[128];

    dec_init(&s);
    for (size_t i = 0; values[i]; i++) {
        if (!dec_add(&s, values[i]))
            fail_msg("dec_add refused \"%s\"", values[i]);
    }
    assert_true(dec_format(&s, out, sizeof(out)));
    assert_string_equal(out, expected);
}

static void test_sums(void **state)
{
    static const struct {
        const char *values[6];
        const char *total;
    } cases[] = {
        {{NULL}, "0"},
        {{"0.1", "0.2", NULL}, "0.3"}, /* what a double gets wrong */
        {{"0.0007764", "0.122613", "1.75", "0.00033", "0.000771", NULL}, "1.8744904"},
        {{"5", "-7.25", "2", NULL}, "-0.25"},
        {{"1.10", "-1.1", NULL}, "0"},
        {{"-0.5", NULL}, "-0.5"},
        {{"+3", "-0", NULL}, "3"},
        {{"12.3400", NULL}, "12.34"},
        {{"99999999999999999999.99999999999999999999", "0.00000000000000000001", NULL},
         "100000000000000000000"},
        {{"123456789012345678901234567890", "0.000000000000000000000000000001", NULL},
         "123456789012345678901234567890.000000000000000000000000000001"},
        /* the widest values that fit: DEC_INT integer and DEC_FRAC fraction digits */
        {{NINES_10 NINES_10 NINES_10 NINES_10, NULL}, NINES_10 NINES_10 NINES_10 NINES_10},
        {{"0." ZEROS_10 ZEROS_10 ZEROS_10 "0000000001", NULL},
         "0." ZEROS_10 ZEROS_10 ZEROS_10 "0000000001"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_sum(cases[i].values, cases[i].total);
}

/* What is not a plain decimal, or does not fit, is refused and leaves the sum as it was. */
static void test_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "-",
        "+",
        "1e5",
        ".5",
        "5.",
        "-.5",
        "NaN",
        "1.2.3",
        " 5",
        "5 ",
        "--5",
        "0x10",
        "1,5",
        "1" NINES_10 NINES_10 NINES_10 NINES_10,      /* DEC_INT + 1 integer digits */
        "0." ZEROS_10 ZEROS_10 ZEROS_10 ZEROS_10 "1", /* DEC_FRAC + 1 fraction digits */
    };
    dec_sum s;
    char out[128];

    (void)state;
    dec_init(&s);
    assert_true(dec_add(&s, "1.5"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dec_add(&s, bad[i]))
            fail_msg("dec_add accepted \"%s\"", bad[i]);
    }
    assert_true(dec_format(&s, out, sizeof(out)));
    assert_string_equal(out, "1.5");
}

/* A carry out of the integer part is refused; the sum keeps its value. */
static void test_overflow(void **state)
{
    dec_sum s;
    char out[128];

    (void)state;
    dec_init(&s);
    assert_true(dec_add(&s, NINES_10 NINES_10 NINES_10 NINES_10));
    assert_false(dec_add(&s, "1"));
    assert_true(dec_add(&s, "-1"));
    assert_true(dec_format(&s, out, sizeof(out)));
    assert_string_equal(out, NINES_10 NINES_10 NINES_10 "9999999998");
}

/* dec_format needs room for the text and its NUL. */
static void test_format_room(void **state)
{
    dec_sum s;
    char out[16];

    (void)state;
    dec_init(&s);
    assert_true(dec_add(&s, "123456789"));
    assert_false(dec_format(&s, out, 9));
    assert_true(dec_format(&s, out, 10));
    assert_string_equal(out, "123456789");
    dec_init(&s);
    assert_true(dec_add(&s, "-2.5"));
    assert_false(dec_format(&s, out, 4));
    assert_true(dec_format(&s, out, 5));
    assert_string_equal(out, "-2.5");
    assert_false(dec_format(&s, out, 0));
}

static void test_trim(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"1.500", "1.5"},  {"2.000", "2"},     {"100", "100"},       {"0.0", "0"},
        {"-3.10", "-3.1"}, {"10.01", "10.01"}, {"1.50E3", "1.50E3"}, {"", ""},
    };
    char text[32];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        strcpy(text, cases[i].in);
        dec_trim(text);
        assert_string_equal(text, cases[i].out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums),     cmocka_unit_test(test_refused),
        cmocka_unit_test(test_overflow), cmocka_unit_test(test_format_room),
        cmocka_unit_test(test_trim),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
