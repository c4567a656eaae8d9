/* report/csv.c: RFC 4180 output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"
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
    /* what a spreadsheet would run as a formula becomes a string constant showing the
       value (OWASP: never a formula of the sender's) */
    text_row(&b, "=HYPERLINK(\"http://x\",\"y\")");
    text_row(&b, "+1+cmd|' /C calc'!A0");
    text_row(&b, "-2+3");
    text_row(&b, "@SUM(A1)");
    text_row(&b, "\tlead");
    text_row(&b, "\r=1");
    text_row(&b, "=a,b");
    assert_buf(&b, "\"=\"\"=HYPERLINK(\"\"\"\"http://x\"\"\"\",\"\"\"\"y\"\"\"\")\"\"\"\r\n"
                   "\"=\"\"+1+cmd|' /C calc'!A0\"\"\"\r\n"
                   "\"=\"\"-2+3\"\"\"\r\n"
                   "\"=\"\"@SUM(A1)\"\"\"\r\n"
                   "\"=\"\"\tlead\"\"\"\r\n"
                   "\"=\"\"\r=1\"\"\"\r\n"
                   "\"=\"\"=a,b\"\"\"\r\n");
    membuf_free(&b);
    /* up to 255 bytes (Excel's longest text in a formula) a constant, longer a leading quote */
    {
        char v[CSV_GUARD_MAX + 2], want[CSV_GUARD_MAX + 16];

        memset(v, 'x', sizeof(v) - 1);
        v[0] = '-';
        v[CSV_GUARD_MAX] = '\0';
        text_row(&b, v);
        snprintf(want, sizeof(want), "\"=\"\"%s\"\"\"\r\n", v);
        assert_buf(&b, want);
        membuf_free(&b);
        v[CSV_GUARD_MAX] = 'x';
        v[CSV_GUARD_MAX + 1] = '\0';
        text_row(&b, v);
        snprintf(want, sizeof(want), "'%s\r\n", v);
        assert_buf(&b, want);
    }
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
    assert_buf(&b, "\"=\"\"-\"\"\"\r\n\"=\"\"-.\"\"\"\r\n\"=\"\"-1x\"\"\"\r\n\"=\"\"-1.\"\"\"\r\n");
    membuf_free(&b);
    /* numeric columns go through csv_field: never touched */
    csv_field(&b, "-1", 2, true);
    assert_buf(&b, "-1");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_formula_injection),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
