/*
 * bench_entra.c - what an Entra access token costs tally-report per request: entra_verify on
 * distinct tokens (each a full verification: header, key lookup, libjwt with OpenSSL reading
 * the PEM, claims) against the same token again (the verified-token cache), single-threaded
 * and with 2 threads. Built and run by bench_entra.sh; prints figures, never fails on them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <time.h>

#include <jwt.h>

#include "entra.h"
#include "log.h"
#include "rsa_jwk.h"

#define TENANT "4f0a9d2e-6c1b-4e8a-9b7d-3a2c1e0f5d6b"
#define TOKENS 2000

static entra *v;
static char *tokens[TOKENS];

static double seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct run {
    int first, count;
    bool same; /* every call with tokens[first] */
    int ok;
} run;

static void *worker(void *arg)
{
    run *r = arg;
    auth_principal p;
    const char *detail;

    for (int i = 0; i < r->count; i++) {
        const char *t = tokens[r->same ? r->first : r->first + i];
        r->ok += entra_verify(v, t, strlen(t), &p, &detail) == AUTH_OK;
    }
    return NULL;
}

/* microseconds per verification over `threads` threads, each doing count calls */
static double measure(int threads, int count, bool same)
{
    pthread_t th[2];
    run runs[2];
    double t0 = seconds(), t;
    int ok = 0;

    for (int i = 0; i < threads; i++) {
        runs[i] = (run){i * count, count, same, 0};
        pthread_create(&th[i], NULL, worker, &runs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        ok += runs[i].ok;
    }
    t = seconds() - t0;
    if (ok != threads * count)
        fprintf(stderr, "bench_entra: %d of %d verifications failed\n", threads * count - ok,
                threads * count);
    return t * 1e6 / (threads * count);
}

int main(void)
{
    EVP_PKEY *k = test_rsa(2048);
    char *priv = test_pem(k, true), claims[512], err[256];
    membuf b = MEMBUF_INIT;
    test_keyserver ks = {0};
    jwks_cache_config kc = {"https://keys.test/keys", 3600, 300, test_fetch, &ks, test_clock, 0};
    entra_rules_text t = {.tenant_id = TENANT,
                          .audience = "api://tokentally",
                          .role_map = ENTRA_ROLE_MAP_DEFAULT,
                          .leeway_s = 60};
    entra_rules r;
    long long now = (long long)time(NULL);
    double miss1, hit1, miss2, hit2;

    log_init("bench_entra", "error");
    membuf_puts(&b, "{\"keys\":[");
    test_jwk(&b, k, "kid-a", "");
    membuf_puts(&b, "]}");
    ks.doc = b.data;
    if (!entra_rules_init(&r, &t, err, sizeof(err)) || !(v = entra_new(&r, &kc)))
        return 1;
    for (int i = 0; i < TOKENS; i++) {
        jwt_t *jwt = NULL;
        snprintf(claims, sizeof(claims),
                 "{\"aud\":\"api://tokentally\",\"iss\":\"https://login.microsoftonline.com/"
                 "%s/v2.0\",\"tid\":\"%s\",\"oid\":\"oid-%d\",\"roles\":[\"Tally.Developer\"],"
                 "\"nbf\":%lld,\"exp\":%lld}",
                 TENANT, TENANT, i, now - 60, now + 3600);
        jwt_new(&jwt);
        jwt_add_grants_json(jwt, claims);
        jwt_add_header(jwt, "kid", "kid-a");
        jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)priv, (int)strlen(priv));
        tokens[i] = jwt_encode_str(jwt);
        jwt_free(jwt);
    }
    /* distinct tokens miss the cache; only ENTRA_VERIFIED_SLOTS fit, and the runs go in order */
    miss1 = measure(1, TOKENS / 2, false);
    hit1 = measure(1, TOKENS / 2, true);
    miss2 = measure(2, TOKENS / 2, false);
    hit2 = measure(2, TOKENS / 2, true);
    printf("token: %zu bytes, RSA 2048, OpenSSL %s\n", strlen(tokens[0]),
           OpenSSL_version(OPENSSL_VERSION_STRING));
    printf("%-44s %10s %12s\n", "", "us/verify", "verifies/s");
    printf("%-44s %10.1f %12.0f\n", "full verification, 1 thread (baseline)", miss1, 1e6 / miss1);
    printf("%-44s %10.1f %12.0f\n", "same token again (cache), 1 thread", hit1, 1e6 / hit1);
    printf("%-44s %10.1f %12.0f\n", "full verification, 2 threads", miss2, 1e6 / miss2);
    printf("%-44s %10.1f %12.0f\n", "same token again (cache), 2 threads", hit2, 1e6 / hit2);
    printf("cache / full verification: %.1fx faster (1 thread)\n", miss1 / hit1);
    for (int i = 0; i < TOKENS; i++)
        free(tokens[i]);
    entra_free(v);
    membuf_free(&b);
    free(priv);
    EVP_PKEY_free(k);
    return 0;
}
