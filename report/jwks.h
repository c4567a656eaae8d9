/*
 * jwks.h - the signing keys of an OpenID provider (Entra ID): a JSON Web Key Set fetched
 * over HTTPS with libcurl, each RSA key built from its JWK (n, e) with OpenSSL and kept as
 * the PEM that libjwt verifies with, cached by kid.
 *
 * Fetches are few and bounded: the first key asked for fetches the set, the set is
 * fetched again once it is older than ttl_s, and a kid the set does not hold (the provider
 * rotated its keys, or a forged header) fetches it again at most once per refetch_s, so
 * tokens with made-up kids cannot make the server fetch per request. A failed fetch keeps
 * the keys it had; with no keys at all it is retried at most every JWKS_RETRY_S.
 * docs/architecture.md, "Entra ID access tokens".
 *
 * jwks_parse and jwks_b64url_decode are pure. A jwks_cache is thread-safe: one lock guards
 * the set but is never held during a fetch. One fetch runs at a time, by the caller that
 * started it; meanwhile the others use the keys already held, and only a caller whose kid
 * they lack (or that finds no keys at all) waits for that fetch, at most its timeout + 1 s.
 */
#ifndef TALLY_JWKS_H
#define TALLY_JWKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "membuf.h"

#define JWKS_KID_MAX 128
#define JWKS_KEYS_MAX 64
#define JWKS_BODY_MAX (1024 * 1024)
#define JWKS_RSA_MIN_BITS 2048
#define JWKS_RETRY_S 10
#define JWKS_TIMEOUT_MS 5000 /* a fetch's default timeout */

typedef struct jwks_key {
    char kid[JWKS_KID_MAX + 1];
    char *pem; /* SubjectPublicKeyInfo PEM, NUL-terminated, owned */
    size_t pem_len;
} jwks_key;

typedef struct jwks_set {
    jwks_key *keys; /* owned */
    int n;
} jwks_set;

/*
 * Decodes unpadded base64url (RFC 7515) into out (outcap bytes). False for any other
 * character, padding, an impossible length or too small a buffer.
 */
bool jwks_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap,
                        size_t *outlen);

/*
 * Parses a JWKS document into out (cleaned up with jwks_set_cleanup, also on failure).
 * Keeps the RSA signature keys usable with RS256 (kty RSA, use "sig" or absent, alg
 * "RS256" or absent, a kid, a modulus of at least JWKS_RSA_MIN_BITS); skips the others.
 * False with a message in err when the document is not a key set or holds no such key.
 */
bool jwks_parse(const char *json, size_t len, jwks_set *out, char *err, size_t errlen);

void jwks_set_cleanup(jwks_set *s);

/* The key with this kid, or NULL. Borrowed from s. */
const jwks_key *jwks_set_find(const jwks_set *s, const char *kid);

/* Fetches url into body (at most JWKS_BODY_MAX bytes); false with a message in err. */
typedef bool (*jwks_fetch_fn)(void *ctx, const char *url, membuf *body, char *err, size_t errlen);
/* Seconds on a clock that never goes back. */
typedef int64_t (*jwks_clock_fn)(void);

typedef struct jwks_cache_config {
    const char *url;     /* https://, or http:// to loopback (checked by the caller); copied */
    int ttl_s;           /* fetch the set again once it is this old */
    int refetch_s;       /* at most one fetch per this for kids the set does not hold */
    jwks_fetch_fn fetch; /* NULL: libcurl (curl_global_init done by the caller) */
    void *fetch_ctx;
    jwks_clock_fn clock; /* NULL: CLOCK_MONOTONIC */
    int timeout_ms;      /* a fetch's timeout (libcurl); 0: JWKS_TIMEOUT_MS */
} jwks_cache_config;

typedef struct jwks_cache jwks_cache;

typedef enum {
    JWKS_FOUND = 0,
    JWKS_UNKNOWN_KID, /* the set (fetched again if allowed) does not hold it */
    JWKS_UNAVAILABLE, /* no key set could be fetched yet (retried after JWKS_RETRY_S) */
    JWKS_NO_MEMORY,
} jwks_status;

/* A cache that has fetched nothing yet (nothing is fetched before the first lookup). NULL
 * when out of memory. Freed with jwks_cache_free; jwks_cache_free(NULL) is a no-op. */
jwks_cache *jwks_cache_new(const jwks_cache_config *cfg);
void jwks_cache_free(jwks_cache *c);

/*
 * Looks up kid, fetching the set as described above. On JWKS_FOUND *pem is a copy of
 * the key's PEM (NUL-terminated, *pem_len bytes) that the caller frees with free(), and
 * *generation (if not NULL) the number of the key set it came from.
 */
jwks_status jwks_cache_pem(jwks_cache *c, const char *kid, char **pem, size_t *pem_len,
                           unsigned long *generation);

/* The number of the current key set: it changes with every set fetched, so what was
 * verified with an older set (a key since removed) can be told apart. Read without a lock:
 * never waits for a fetch. */
unsigned long jwks_cache_generation(jwks_cache *c);

/* How many fetches were attempted (for tests and logs). */
unsigned long jwks_cache_fetches(jwks_cache *c);

/* How many callers wait for the fetch in flight (for tests). */
unsigned jwks_cache_waiting(jwks_cache *c);

#endif
