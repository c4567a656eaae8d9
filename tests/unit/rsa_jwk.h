/*
 * rsa_jwk.h - test helpers for test_jwks.c and test_entra.c: RSA keys made at test time
 * with OpenSSL (no private key in the repository), their JWKs, PEMs and a JWKS served by
 * a fake fetcher on a fake clock. Included by those tests only; cmocka must come first.
 */
#ifndef TALLY_TEST_RSA_JWK_H
#define TALLY_TEST_RSA_JWK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jwks.h"
#include "membuf.h"

static EVP_PKEY *test_rsa(unsigned bits)
{
    EVP_PKEY *k = EVP_RSA_gen(bits);

    assert_non_null(k);
    return k;
}

/* base64url without padding of a big-endian number, malloc'd */
static char *test_b64url_bn(const BIGNUM *bn)
{
    int n = BN_num_bytes(bn);
    unsigned char *raw = malloc((size_t)n), *b64 = malloc((size_t)n * 2 + 4);
    char *out;
    int len;

    assert_non_null(raw);
    assert_non_null(b64);
    BN_bn2bin(bn, raw);
    len = EVP_EncodeBlock(b64, raw, n);
    while (len > 0 && b64[len - 1] == '=')
        len--;
    out = strndup((const char *)b64, (size_t)len);
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    free(raw);
    free(b64);
    return out;
}

/* The JWK of k's public key: {"kty":"RSA","kid":KID,"n":…,"e":…EXTRA}, EXTRA being more
 * members (",\"use\":\"sig\"") or "". Appended to b. */
static void test_jwk(membuf *b, EVP_PKEY *k, const char *kid, const char *extra)
{
    BIGNUM *n = NULL, *e = NULL;
    char *n64, *e64;

    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    n64 = test_b64url_bn(n);
    e64 = test_b64url_bn(e);
    membuf_printf(b, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n64, e64,
                  extra);
    free(n64);
    free(e64);
    BN_free(n);
    BN_free(e);
}

/* k's public (SubjectPublicKeyInfo) or private key as PEM, malloc'd */
static char *test_pem(EVP_PKEY *k, bool private_key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out;
    long len;

    assert_non_null(bio);
    assert_int_equal(private_key ? PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)
                                 : PEM_write_bio_PUBKEY(bio, k),
                     1);
    len = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)len);
    BIO_free(bio);
    return out;
}

/* A key set server: fetch hands out doc (NULL: the fetch fails); the clock is now. */
typedef struct test_keyserver {
    const char *doc;
    int calls;
} test_keyserver;

static int64_t test_now = 1000;

static int64_t test_clock(void)
{
    return test_now;
}

static bool test_fetch(void *ctx, const char *url, membuf *body, char *err, size_t errlen)
{
    test_keyserver *ks = ctx;

    assert_string_equal(url, "https://keys.test/keys");
    ks->calls++;
    if (!ks->doc) {
        snprintf(err, errlen, "connection refused");
        return false;
    }
    membuf_puts(body, ks->doc);
    return true;
}

#endif
