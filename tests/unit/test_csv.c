/* report/csv.c and report/decimal.c: RFC 4180 output and exact decimal totals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"
#include "decimal.h"
#include "membuf.h"

static void assert_buf(const membuf *b, const char *expected)
{
    assert_int_equal(b->len, strlen(expected));
    assert_memory_equal(b->data, expected, b->len);
}

static void test_quoting(void **state)
{
    membuf b = MEMBUF_INIT;

    (void)state;
    csv_field(&b, "plain", 5, true);
    csv_field(&b, "a,b", 3, false);
    csv_field(&b, "say \"hi\"", 8, false);
    csv_field(&b, "two\r\nlines", 10, false);
    csv_field(&b, "", 0, false);
    csv_field(&b, "\xc3\xa9t\xc3\xa9", 5, false);
    csv_end_row(&b);
    assert_buf(&b, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",,\xc3\xa9t\xc3\xa9\r\n");
    membuf_consume(&b, 6);
    assert_buf(&b, "\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",,\xc3\xa9t\xc3\xa9\r\n");
    membuf_consume(&b, 1000);
    assert_int_equal(b.len, 0);
    csv_field(&b, "x", 1, true);
    assert_buf(&b, "x");
    assert_false(b.oom);
    membuf_free(&b);
    membuf_free(&b); /* twice is fine */
}

/* text(b, s): one text field on its own row */
static void text_row(membuf *b, const char *s)
{
    csv_text_field(b, s, strlen(s), true);
    csv_end_row(b);
}

static void test_formula_injection(void **state)
{
    membuf b = MEMBUF_INIT;

    (void)state;
    /* what a spreadsheet would run as a formula gets a leading quote (OWASP) */
    text_row(&b, "=HYPERLINK(\"http://x\",\"y\")");
    text_row(&b, "+1+cmd|' /C calc'!A0");
    text_row(&b, "-2+3");
    text_row(&b, "@SUM(A1)");
    text_row(&b, "\tlead");
    text_row(&b, "\r=1");
    text_row(&b, "=a,b");
    assert_buf(&b, "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\r\n"
                   "'+1+cmd|' /C calc'!A0\r\n"
                   "'-2+3\r\n"
                   "'@SUM(A1)\r\n"
                   "'\tlead\r\n"
                   "\"'\r=1\"\r\n"
                   "\"'=a,b\"\r\n");
    membuf_free(&b);
    /* numbers, ordinary text, empty cells and the other characters stay as they are */
    text_row(&b, "-1.5");
    text_row(&b, "+42");
    text_row(&b, "-0.0007764");
    text_row(&b, "alice@example.com");
    text_row(&b, "a=b");
    text_row(&b, "");
    text_row(&b, "\"quoted\"");
    assert_buf(&b, "-1.5\r\n+42\r\n-0.0007764\r\nalice@example.com\r\na=b\r\n\r\n"
                   "\"\"\"quoted\"\"\"\r\n");
    membuf_free(&b);
    /* not numbers: a lone sign, a sign and a dot, trailing text */
    text_row(&b, "-");
    text_row(&b, "-.");
    text_row(&b, "-1x");
    text_row(&b, "-1.");
    assert_buf(&b, "'-\r\n'-.\r\n'-1x\r\n'-1.\r\n");
    /* numeric columns go through csv_field: never touched */
    csv_field(&b, "-1", 2, true);
    assert_buf(&b, "'-\r\n'-.\r\n'-1x\r\n'-1.\r\n-1");
    assert_false(b.oom);
    membuf_free(&b);
}

static void test_growth(void **state)
{
    membuf b = MEMBUF_INIT;
    char big[10000];

    (void)state;
    memset(big, 'q', sizeof(big));
    for (int i = 0; i < 20; i++)
        csv_field(&b, big, sizeof(big), i == 0);
    assert_int_equal(b.len, 20 * sizeof(big) + 19);
    membuf_free(&b);
}

static void sum_is(const char *const *values, int n, const char *expected)
{
    dec_sum s;
    char out[128];

    dec_init(&s);
    for (int i = 0; i < n; i++)
        assert_true(dec_add(&s, values[i]));
    assert_true(dec_format(&s, out, sizeof(out)));
    assert_string_equal(out, expected);
}

static void test_decimal(void **state)
{
    static const char *const a[] = {"0.1", "0.2"};
    static const char *const b[] = {"0.0007764", "0.122613", "1.75", "0.00033", "0.000771"};
    static const char *const c[] = {"5", "-7.25", "2"};
    static const char *const d[] = {"1.10", "-1.1"};
    static const char *const e[] = {"99999999999999999999.99999999999999999999",
                                    "0.00000000000000000001"};
    static const char *const f[] = {"123456789012345678901234567890",
                                    "0.000000000000000000000000000001"};
    dec_sum s;
    char out[8], text[32];

    (void)state;
    sum_is(a, 2, "0.3"); /* what a double gets wrong */
    sum_is(b, 5, "1.8744904");
    sum_is(c, 3, "-0.25");
    sum_is(d, 2, "0");
    sum_is(e, 2, "100000000000000000000");
    sum_is(f, 2, "123456789012345678901234567890.000000000000000000000000000001");
    sum_is(NULL, 0, "0");
    dec_init(&s);
    assert_false(dec_add(&s, "1e5"));
    assert_false(dec_add(&s, ".5"));
    assert_false(dec_add(&s, "5."));
    assert_false(dec_add(&s, ""));
    assert_false(dec_add(&s, "NaN"));
    assert_false(dec_add(&s, "1.2.3"));
    assert_true(dec_add(&s, "123456789"));
    assert_false(dec_format(&s, out, sizeof(out))); /* does not fit */
    strcpy(text, "1.500");
    dec_trim(text);
    assert_string_equal(text, "1.5");
    strcpy(text, "2.000");
    dec_trim(text);
    assert_string_equal(text, "2");
    strcpy(text, "100");
    dec_trim(text);
    assert_string_equal(text, "100");
    strcpy(text, "0.0");
    dec_trim(text);
    assert_string_equal(text, "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_formula_injection),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_decimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
