/*
 * rng.h - the generator's randomness: splitmix64 streams and the ids derived from them.
 *
 * A stream is one uint64_t of state; the same state gives the same numbers on every
 * platform (integer arithmetic only), which is what makes a simulation a pure function
 * of its seed. Pure, no I/O; a state belongs to one thread.
 */
#ifndef TALLY_SIM_RNG_H
#define TALLY_SIM_RNG_H

#include <stdbool.h>
#include <stdint.h>

/* splitmix64's finaliser: a bijection on 64-bit values that scatters neighbours. */
uint64_t rng_mix(uint64_t z);

/* The next number of the stream at *state. */
uint64_t rng_next(uint64_t *state);

/* Uniform in [lo, hi]; the modulo bias is irrelevant at these ranges. */
int64_t rng_range(uint64_t *state, int64_t lo, int64_t hi);

/* True with a chance of ppm parts per million (SIM_PPM). */
bool rng_ppm(uint64_t *state, int ppm);

/* One bucket of a piecewise-uniform distribution: weight in ppm, then a range. */
typedef struct rng_bucket {
    int ppm;
    int64_t lo, hi;
} rng_bucket;

/* A value from the n buckets at b (the last one takes what the weights leave). */
int64_t rng_buckets(uint64_t *state, const rng_bucket *b, int n);

/* Writes a version 4 UUID (36 characters and a NUL) for the n-th id of the namespace
 * key. The low 62 bits are a bijection of n, so ids never repeat within a namespace. */
void rng_uuid(char out[37], uint64_t key, uint64_t n);

#endif
