/* common/membuf.c: appends, growth, consume, reset, steal and the oom latch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "membuf.h"

static void test_appends(void **state)
{
    membuf b = MEMBUF_INIT;

    (void)state;
    membuf_puts(&b, "ab");
    membuf_putc(&b, ',');
    membuf_put(&b, "cdef", 2);
    membuf_printf(&b, "|%d|%s", 42, "x");
    assert_int_equal(10, b.len);
    assert_string_equal("ab,cd|42|x", b.data);
    assert_false(b.oom);
    membuf_free(&b);
    assert_null(b.data);
    assert_int_equal(0, b.len);
    membuf_free(NULL);
}

static void test_growth_and_long_printf(void **state)
{
    membuf b = MEMBUF_INIT;
    char big[5000];

    (void)state;
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 1000; i++)
        membuf_putc(&b, (char)('0' + i % 10));
    membuf_printf(&b, "%s!", big);
    assert_int_equal(1000 + 4999 + 1, b.len);
    assert_int_equal('!', b.data[b.len - 1]);
    assert_int_equal('\0', b.data[b.len]);
    assert_int_equal('9', b.data[999]);
    membuf_free(&b);
}

static void test_consume_reset_steal(void **state)
{
    membuf b = MEMBUF_INIT;
    size_t len;
    char *s;

    (void)state;
    membuf_puts(&b, "hello world");
    membuf_consume(&b, 6);
    assert_string_equal("world", b.data);
    membuf_consume(&b, 100);
    assert_int_equal(0, b.len);
    assert_string_equal("", b.data);
    membuf_puts(&b, "again");
    b.oom = true;
    membuf_puts(&b, " ignored");
    assert_string_equal("again", b.data);
    assert_null(membuf_steal(&b, &len)); /* an incomplete buffer is never handed out */
    assert_int_equal(0, len);
    assert_null(b.data);
    membuf_puts(&b, "kept");
    membuf_reset(&b);
    assert_int_equal(0, b.len);
    membuf_puts(&b, "mine");
    s = membuf_steal(&b, &len);
    assert_string_equal("mine", s);
    assert_int_equal(4, len);
    assert_null(b.data);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_growth_and_long_printf),
        cmocka_unit_test(test_consume_reset_steal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
