/*
 * hash.h - SHA-256 (migration checksums, price books, API tokens), constant-time
 * comparison and random tokens. Thread-safe.
 */
#ifndef TALLY_HASH_H
#define TALLY_HASH_H

#include <stdbool.h>
#include <stddef.h>

#define HASH_HEX_LEN 64

/* Writes the lower-case hex SHA-256 of data into out (HASH_HEX_LEN + 1 bytes). */
void hash_sha256_hex(const void *data, size_t len, char out[HASH_HEX_LEN + 1]);

/* Compares two equal-length buffers in time independent of their contents. */
bool hash_equal(const void *a, const void *b, size_t len);

/* Fills out with nbytes of cryptographic randomness as hex (2 * nbytes + 1). */
bool hash_random_hex(size_t nbytes, char *out);

#endif
