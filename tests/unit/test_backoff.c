/* common/backoff.c: the delay sequence, its cap, and the reset after a success. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

/* the Postgres retries: 100 ms doubling to 5 s */
static void test_sequence(void **state)
{
    const long want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    backoff b = BACKOFF_INIT(100, 5000);

    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(want[i], backoff_next(&b));
}

/* the Entra ID token requests: 5 s doubling to 120 s */
static void test_delay_after_failures(void **state)
{
    (void)state;
    assert_int_equal(5000, backoff_delay_ms(5000, 120000, 0));
    assert_int_equal(10000, backoff_delay_ms(5000, 120000, 1));
    assert_int_equal(80000, backoff_delay_ms(5000, 120000, 4));
    assert_int_equal(120000, backoff_delay_ms(5000, 120000, 5));
    assert_int_equal(120000, backoff_delay_ms(5000, 120000, 1000000));
    /* a first delay above the cap is capped; a cap near LONG_MAX does not overflow */
    assert_int_equal(50, backoff_delay_ms(100, 50, 0));
    assert_int_equal(0x7fffffffL, backoff_delay_ms(0x40000000L, 0x7fffffffL, 3));
}

static void test_stays_at_cap_and_resets(void **state)
{
    backoff b = BACKOFF_INIT(100, 400);

    (void)state;
    for (int i = 0; i < 100000; i++)
        backoff_next(&b);
    assert_int_equal(400, backoff_next(&b));
    assert_true(b.failures < 10);
    backoff_reset(&b);
    assert_int_equal(100, backoff_next(&b));
    assert_int_equal(200, backoff_next(&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence),
        cmocka_unit_test(test_delay_after_failures),
        cmocka_unit_test(test_stays_at_cap_and_resets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
