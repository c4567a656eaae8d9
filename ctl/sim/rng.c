/*
 * rng.c - splitmix64 streams and the UUIDs derived from them (see rng.h).
 */
#include "rng.h"

#include "sim.h"

uint64_t rng_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t rng_next(uint64_t *state)
{
    *state += UINT64_C(0x9e3779b97f4a7c15);
    return rng_mix(*state);
}

int64_t rng_range(uint64_t *state, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(state) % (uint64_t)(hi - lo + 1));
}

bool rng_ppm(uint64_t *state, int ppm)
{
    return (int64_t)(rng_next(state) % SIM_PPM) < ppm;
}

int64_t rng_buckets(uint64_t *state, const rng_bucket *b, int n)
{
    int64_t x = (int64_t)(rng_next(state) % SIM_PPM);

    for (int i = 0; i < n - 1; i++) {
        if (x < b[i].ppm)
            return rng_range(state, b[i].lo, b[i].hi);
        x -= b[i].ppm;
    }
    return rng_range(state, b[n - 1].lo, b[n - 1].hi);
}

#define MASK62 ((UINT64_C(1) << 62) - 1)

/* A bijection on [0, 2^62): xorshifts and odd multipliers modulo 2^62. */
static uint64_t mix62(uint64_t x)
{
    x &= MASK62;
    x ^= x >> 31;
    x = (x * UINT64_C(0x7fb5d329728ea185)) & MASK62;
    x ^= x >> 27;
    x = (x * UINT64_C(0x81dadef4bc2dd44d)) & MASK62;
    x ^= x >> 33;
    return x;
}

static void hex(char *dst, uint64_t v, int digits)
{
    static const char HEX[] = "0123456789abcdef";

    for (int i = digits - 1; i >= 0; i--) {
        dst[i] = HEX[v & 15];
        v >>= 4;
    }
}

void rng_uuid(char out[37], uint64_t key, uint64_t n)
{
    uint64_t lo = mix62(n + key) | (UINT64_C(2) << 62);
    uint64_t hi = rng_mix(n ^ (key * UINT64_C(0x9e3779b97f4a7c15)));

    hi = (hi & ~UINT64_C(0xf000)) | UINT64_C(0x4000);
    hex(out, hi >> 32, 8);
    out[8] = '-';
    hex(out + 9, hi >> 16, 4);
    out[13] = '-';
    hex(out + 14, hi, 4);
    out[18] = '-';
    hex(out + 19, lo >> 48, 4);
    out[23] = '-';
    hex(out + 24, lo, 12);
    out[36] = '\0';
}
