/*
 * Unit tests of report/jwks.c without a network: base64url, JWKS documents (RSA keys
 * built from n and e equal OpenSSL's own PEM of the key; every key RS256 cannot use is
 * skipped), and the cache's fetch rules on a fake clock: lazy first fetch, one refetch
 * per refetch_s for unknown kids, the ttl, failed fetches keeping the old keys, retries of
 * an empty cache once per JWKS_RETRY_S. Fetching over HTTP: tests/integration/test_report_entra.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rsa_jwk.h"

static void test_b64url(void **state)
{
    unsigned char out[8];
    size_t n = 0;

    (void)state;
    assert_true(jwks_b64url_decode("AQAB", 4, out, sizeof(out), &n));
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\x01\x00\x01", 3);
    assert_true(jwks_b64url_decode("_-8", 3, out, sizeof(out), &n)); /* "/+8=" */
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\xff\xef", 2);
    assert_true(jwks_b64url_decode("YQ", 2, out, sizeof(out), &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 'a');
    assert_false(jwks_b64url_decode("", 0, out, sizeof(out), &n));
    assert_false(jwks_b64url_decode("AQAB=", 5, out, sizeof(out), &n));
    assert_false(jwks_b64url_decode("YQ==", 4, out, sizeof(out), &n));
    assert_false(jwks_b64url_decode("A+B/", 4, out, sizeof(out), &n));
    assert_false(jwks_b64url_decode("AQABA", 5, out, sizeof(out), &n));
    assert_false(jwks_b64url_decode("AQ.B", 4, out, sizeof(out), &n));
    assert_false(jwks_b64url_decode("AQABAQAB", 8, out, 5, &n)); /* 6 bytes */
    assert_true(jwks_b64url_decode("AQABAQAB", 8, out, 6, &n));
    assert_int_equal(n, 6);
}

static void test_parse(void **state)
{
    EVP_PKEY *k1 = test_rsa(2048), *k2 = test_rsa(3072), *small = test_rsa(1024);
    membuf doc = MEMBUF_INIT;
    jwks_set set;
    char err[256], *pem1 = test_pem(k1, false), *pem2 = test_pem(k2, false);

    (void)state;
    membuf_puts(&doc, "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":\"P-256\",\"x\":\"AQAB\","
                      "\"y\":\"AQAB\"},{\"kty\":\"oct\",\"kid\":\"oct\",\"k\":\"AQAB\"},");
    test_jwk(&doc, k2, "enc", ",\"use\":\"enc\"");
    membuf_putc(&doc, ',');
    test_jwk(&doc, k2, "rs384", ",\"alg\":\"RS384\"");
    membuf_putc(&doc, ',');
    test_jwk(&doc, small, "small", "");
    membuf_putc(&doc, ',');
    test_jwk(&doc, k2, "", "");
    membuf_puts(&doc, ",{\"kty\":\"RSA\",\"kid\":\"bad-n\",\"n\":\"A+B/\",\"e\":\"AQAB\"},");
    test_jwk(&doc, k1, "k1", ",\"use\":\"sig\",\"x5t\":\"abc\",\"x5c\":[\"MIIB\"]");
    membuf_putc(&doc, ',');
    test_jwk(&doc, k2, "k1", ""); /* the same kid again: skipped, the first one stays */
    membuf_putc(&doc, ',');
    test_jwk(&doc, k2, "k2", ",\"alg\":\"RS256\"");
    membuf_puts(&doc, ",42]}");
    assert_false(doc.oom);
    assert_true(jwks_parse(doc.data, doc.len, &set, err, sizeof(err)));
    assert_int_equal(set.n, 2);
    assert_string_equal(set.keys[0].kid, "k1");
    assert_string_equal(set.keys[0].pem, pem1);
    assert_int_equal(set.keys[0].pem_len, strlen(pem1));
    assert_string_equal(set.keys[1].kid, "k2");
    assert_string_equal(set.keys[1].pem, pem2);
    assert_ptr_equal(jwks_set_find(&set, "k2"), &set.keys[1]);
    assert_null(jwks_set_find(&set, "small"));
    assert_null(jwks_set_find(&set, "enc"));
    jwks_set_cleanup(&set);

    assert_false(jwks_parse("[]", 2, &set, err, sizeof(err)));
    assert_string_equal(err, "not a JSON Web Key Set (no \"keys\" array)");
    assert_false(jwks_parse("{\"keys\":", 8, &set, err, sizeof(err)));
    assert_string_equal(err, "not a JSON Web Key Set (no \"keys\" array)");
    membuf_reset(&doc);
    membuf_puts(&doc, "{\"keys\":[");
    test_jwk(&doc, small, "small", "");
    membuf_puts(&doc, "]}");
    assert_false(jwks_parse(doc.data, doc.len, &set, err, sizeof(err)));
    assert_string_equal(err, "the key set holds no RS256 signature key");
    assert_int_equal(set.n, 0);
    membuf_free(&doc);
    free(pem1);
    free(pem2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(small);
}

/* a set of one key per kid, all the same key */
static char *keyset(EVP_PKEY *k, const char *kid1, const char *kid2)
{
    membuf b = MEMBUF_INIT;

    membuf_puts(&b, "{\"keys\":[");
    test_jwk(&b, k, kid1, "");
    if (kid2) {
        membuf_putc(&b, ',');
        test_jwk(&b, k, kid2, "");
    }
    membuf_puts(&b, "]}");
    return membuf_steal(&b, NULL);
}

static jwks_status lookup(jwks_cache *c, const char *kid)
{
    char *pem = NULL;
    size_t len = 0;
    jwks_status st = jwks_cache_pem(c, kid, &pem, &len, NULL);

    if (st == JWKS_FOUND) {
        assert_non_null(pem);
        assert_int_equal(len, strlen(pem));
        assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    } else {
        assert_null(pem);
    }
    free(pem);
    return st;
}

static void test_cache_fetch_rules(void **state)
{
    EVP_PKEY *k = test_rsa(2048);
    char *one = keyset(k, "k1", NULL), *rotated = keyset(k, "k1", "k3");
    test_keyserver ks = {one, 0};
    jwks_cache_config cfg = {"https://keys.test/keys", 3600, 300, test_fetch, &ks, test_clock};
    jwks_cache *c = jwks_cache_new(&cfg);

    (void)state;
    assert_non_null(c);
    test_now = 1000;
    assert_int_equal(jwks_cache_fetches(c), 0);
    assert_int_equal(lookup(c, "k1"), JWKS_FOUND);
    assert_int_equal(ks.calls, 1);
    assert_int_equal(lookup(c, "k1"), JWKS_FOUND);
    assert_int_equal(ks.calls, 1);
    /* an unknown kid fetches again, once per refetch_s */
    assert_int_equal(lookup(c, "kx"), JWKS_UNKNOWN_KID);
    assert_int_equal(ks.calls, 2);
    for (int i = 0; i < 50; i++)
        assert_int_equal(lookup(c, i % 2 ? "ky" : "kz"), JWKS_UNKNOWN_KID);
    test_now += 299;
    assert_int_equal(lookup(c, "ky"), JWKS_UNKNOWN_KID);
    assert_int_equal(ks.calls, 2);
    test_now += 1;
    assert_int_equal(lookup(c, "ky"), JWKS_UNKNOWN_KID);
    assert_int_equal(ks.calls, 3);
    /* the provider rotates: the next window finds k3 */
    ks.doc = rotated;
    assert_int_equal(lookup(c, "k3"), JWKS_UNKNOWN_KID);
    assert_int_equal(ks.calls, 3);
    test_now += 300;
    assert_int_equal(lookup(c, "k3"), JWKS_FOUND);
    assert_int_equal(ks.calls, 4);
    assert_int_equal(lookup(c, "k3"), JWKS_FOUND);
    assert_int_equal(ks.calls, 4);
    /* past the ttl (from the last good fetch) a known kid fetches too */
    test_now += 3599;
    assert_int_equal(lookup(c, "k3"), JWKS_FOUND);
    assert_int_equal(ks.calls, 4);
    test_now += 1;
    assert_int_equal(lookup(c, "k3"), JWKS_FOUND);
    assert_int_equal(ks.calls, 5);
    /* a failed fetch keeps the keys, and is retried once per JWKS_RETRY_S */
    ks.doc = NULL;
    test_now += 3600;
    assert_int_equal(lookup(c, "k3"), JWKS_FOUND);
    assert_int_equal(ks.calls, 6);
    assert_int_equal(lookup(c, "k1"), JWKS_FOUND);
    assert_int_equal(ks.calls, 6);
    test_now += JWKS_RETRY_S;
    assert_int_equal(lookup(c, "k1"), JWKS_FOUND);
    assert_int_equal(ks.calls, 7);
    ks.doc = "{\"keys\":[]}"; /* an empty set is a failure too: the keys stay */
    test_now += JWKS_RETRY_S;
    assert_int_equal(lookup(c, "k1"), JWKS_FOUND);
    assert_int_equal(ks.calls, 8);
    assert_int_equal(jwks_cache_fetches(c), 8);
    jwks_cache_free(c);
    free(one);
    free(rotated);
    EVP_PKEY_free(k);
}

static void test_cache_unavailable(void **state)
{
    EVP_PKEY *k = test_rsa(2048);
    char *one = keyset(k, "k1", NULL);
    test_keyserver ks = {NULL, 0};
    jwks_cache_config cfg = {"https://keys.test/keys", 3600, 300, test_fetch, &ks, test_clock};
    jwks_cache *c = jwks_cache_new(&cfg);

    (void)state;
    test_now = 5000;
    assert_int_equal(lookup(c, "k1"), JWKS_UNAVAILABLE);
    assert_int_equal(ks.calls, 1);
    for (int i = 0; i < 20; i++)
        assert_int_equal(lookup(c, "k1"), JWKS_UNAVAILABLE);
    test_now += JWKS_RETRY_S - 1;
    assert_int_equal(lookup(c, "k1"), JWKS_UNAVAILABLE);
    assert_int_equal(ks.calls, 1);
    test_now += 1;
    assert_int_equal(lookup(c, "k1"), JWKS_UNAVAILABLE);
    assert_int_equal(ks.calls, 2);
    ks.doc = one;
    test_now += JWKS_RETRY_S;
    assert_int_equal(lookup(c, "k1"), JWKS_FOUND);
    assert_int_equal(ks.calls, 3);
    jwks_cache_free(c);
    jwks_cache_free(NULL);
    free(one);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_cache_fetch_rules),
        cmocka_unit_test(test_cache_unavailable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
