/*
 * Unit tests of report/jwks.c without a network: base64url, JWKS documents (RSA keys
 * built from n and e equal OpenSSL's own PEM of the key; every key RS256 cannot use is
 * skipped), and the cache's fetch rules on a fake clock: lazy first fetch, one refetch
 * per refetch_s for unknown kids, the ttl, failed fetches keeping the old keys, retries of
 * an empty cache once per JWKS_RETRY_S; a fetch in flight holding no lock: while it hangs the
 * keys held serve other callers and the generation is read, a caller whose kid they lack waits
 * for that fetch instead of starting another. Fetching over HTTP:
 * tests/integration/test_report_entra.sh.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

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
    jwks_cache_config cfg = {"https://keys.test/keys", 3600, 300, test_fetch, &ks, test_clock, 0};
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
    jwks_cache_config cfg = {"https://keys.test/keys", 3600, 300, test_fetch, &ks, test_clock, 0};
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

/* A key server whose second and later fetches hang until the test opens the gate. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *doc;
    int calls;
    bool hanging, open;
} gate;

static bool gated_fetch(void *ctx, const char *url, membuf *body, char *err, size_t errlen)
{
    gate *g = ctx;

    (void)url;
    (void)err;
    (void)errlen;
    pthread_mutex_lock(&g->mu);
    if (++g->calls > 1) {
        g->hanging = true;
        pthread_cond_broadcast(&g->cv);
        while (!g->open)
            pthread_cond_wait(&g->cv, &g->mu);
        g->hanging = false;
    }
    membuf_puts(body, g->doc);
    pthread_mutex_unlock(&g->mu);
    return true;
}

/* One lookup on a thread of its own; done is set under the gate's lock when it returns. */
typedef struct lookup_job {
    jwks_cache *c;
    gate *g;
    const char *kid;
    jwks_status st;
    unsigned long generation;
    bool done;
} lookup_job;

static void *lookup_thread(void *arg)
{
    lookup_job *j = arg;
    char *pem = NULL;
    size_t len = 0;
    jwks_status st = jwks_cache_pem(j->c, j->kid, &pem, &len, NULL);
    unsigned long generation = jwks_cache_generation(j->c);

    free(pem);
    pthread_mutex_lock(&j->g->mu);
    j->st = st;
    j->generation = generation;
    j->done = true;
    pthread_cond_broadcast(&j->g->cv);
    pthread_mutex_unlock(&j->g->mu);
    return NULL;
}

/* Waits (a minute at most) until *flag is set; under g->mu. */
static bool gate_wait(gate *g, const bool *flag)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    while (!*flag && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &until);
    return *flag;
}

static void test_cache_fetch_outside_lock(void **state)
{
    EVP_PKEY *k = test_rsa(2048);
    char *one = keyset(k, "k1", NULL), *rotated = keyset(k, "k1", "k3");
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, one, 0, false, false};
    jwks_cache_config cfg = {
        "https://keys.test/keys", 3600, 300, gated_fetch, &g, test_clock, 60000};
    jwks_cache *c = jwks_cache_new(&cfg);
    lookup_job rotating = {c, &g, "k3", 0, 0, false}, known = {c, &g, "k1", 0, 0, false};
    lookup_job waiter = {c, &g, "k3", 0, 0, false};
    pthread_t t_rotating, t_known, t_waiter;
    bool known_done, hanging, waited = false;

    (void)state;
    assert_non_null(c);
    test_now = 20000;
    assert_int_equal(lookup(c, "k1"), JWKS_FOUND);
    assert_int_equal(jwks_cache_generation(c), 1);
    /* the provider rotates; the first token with the new kid fetches, and that fetch hangs */
    pthread_mutex_lock(&g.mu);
    g.doc = rotated;
    pthread_mutex_unlock(&g.mu);
    assert_int_equal(pthread_create(&t_rotating, NULL, lookup_thread, &rotating), 0);
    pthread_mutex_lock(&g.mu);
    hanging = gate_wait(&g, &g.hanging);
    pthread_mutex_unlock(&g.mu);
    assert_true(hanging);
    /* meanwhile a known kid is served from the keys held, and the generation is read */
    assert_int_equal(pthread_create(&t_known, NULL, lookup_thread, &known), 0);
    pthread_mutex_lock(&g.mu);
    known_done = gate_wait(&g, &known.done);
    hanging = g.hanging;
    pthread_mutex_unlock(&g.mu);
    assert_true(known_done);
    assert_true(hanging); /* answered while the fetch was still outstanding */
    assert_int_equal(known.st, JWKS_FOUND);
    assert_int_equal(known.generation, 1);
    assert_int_equal(jwks_cache_waiting(c), 0);
    /* a second token with the new kid waits for that fetch rather than starting one */
    assert_int_equal(pthread_create(&t_waiter, NULL, lookup_thread, &waiter), 0);
    for (int i = 0; i < 60000 && !waited; i++) {
        struct timespec ms = {0, 1000000L};
        waited = jwks_cache_waiting(c) == 1;
        if (!waited)
            nanosleep(&ms, NULL);
    }
    assert_true(waited);
    pthread_mutex_lock(&g.mu);
    assert_false(waiter.done);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(t_rotating, NULL);
    pthread_join(t_known, NULL);
    pthread_join(t_waiter, NULL);
    assert_int_equal(rotating.st, JWKS_FOUND);
    assert_int_equal(waiter.st, JWKS_FOUND);
    assert_int_equal(waiter.generation, 2);
    assert_int_equal(g.calls, 2);
    assert_int_equal(jwks_cache_fetches(c), 2);
    assert_int_equal(jwks_cache_waiting(c), 0);
    jwks_cache_free(c);
    free(one);
    free(rotated);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_cache_fetch_rules),
        cmocka_unit_test(test_cache_unavailable),
        cmocka_unit_test(test_cache_fetch_outside_lock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
