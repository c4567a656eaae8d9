/* ctl/sim/rng.c: splitmix64 as published, ranges and chances within bounds, and UUIDs
 * that are version 4 and never repeat within a namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sim/rng.h"
#include "sim/sim.h"

static void test_splitmix64(void **state)
{
    uint64_t st = 0;

    (void)state;
    /* the reference sequence of splitmix64 from state 0 */
    assert_true(rng_next(&st) == UINT64_C(0xe220a8397b1dcdaf));
    assert_true(rng_next(&st) == UINT64_C(0x6e789e6aa1b965f4));
    assert_true(rng_next(&st) == UINT64_C(0x06c45d188009454f));
    assert_true(st == 3 * UINT64_C(0x9e3779b97f4a7c15));
    assert_true(rng_mix(0) == 0);
}

static void test_range_and_ppm(void **state)
{
    uint64_t st = 42;
    bool lo = false, hi = false;
    int yes = 0;

    (void)state;
    for (int i = 0; i < 10000; i++) {
        int64_t v = rng_range(&st, -3, 3);

        assert_true(v >= -3 && v <= 3);
        lo |= v == -3;
        hi |= v == 3;
        assert_int_equal(rng_range(&st, 7, 7), 7);
        assert_false(rng_ppm(&st, 0));
        assert_true(rng_ppm(&st, SIM_PPM));
        yes += rng_ppm(&st, SIM_PPM / 4);
    }
    assert_true(lo && hi);
    assert_true(yes > 2300 && yes < 2700);
}

static void test_buckets(void **state)
{
    static const rng_bucket only_first[] = {{SIM_PPM, 1, 2}, {0, 100, 200}};
    static const rng_bucket halves[] = {{SIM_PPM / 2, 1, 2}, {SIM_PPM / 2, 100, 200}};
    uint64_t st = 7;
    int high = 0;

    (void)state;
    for (int i = 0; i < 10000; i++) {
        int64_t v = rng_buckets(&st, only_first, 2);

        assert_true(v >= 1 && v <= 2);
        v = rng_buckets(&st, halves, 2);
        assert_true((v >= 1 && v <= 2) || (v >= 100 && v <= 200));
        high += v >= 100;
    }
    assert_true(high > 4700 && high < 5300);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_uuid(void **state)
{
    enum { N = 5000 };
    char(*ids)[37] = calloc(N, sizeof(*ids));
    char other[37];

    (void)state;
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        rng_uuid(ids[i], UINT64_C(0x1234), (uint64_t)i);
        assert_int_equal(strlen(ids[i]), 36);
        assert_int_equal(strspn(ids[i], "0123456789abcdef-"), 36);
        assert_true(ids[i][8] == '-' && ids[i][13] == '-' && ids[i][18] == '-' &&
                    ids[i][23] == '-');
        assert_int_equal(ids[i][14], '4');
        assert_non_null(strchr("89ab", ids[i][19]));
    }
    rng_uuid(other, UINT64_C(0x1234), 0);
    assert_string_equal(other, ids[0]);
    rng_uuid(other, UINT64_C(0x1235), 0);
    assert_string_not_equal(other, ids[0]);
    qsort(ids, N, sizeof(*ids), cmp_id);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i], ids[i - 1]);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix64),
        cmocka_unit_test(test_range_and_ppm),
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_uuid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
