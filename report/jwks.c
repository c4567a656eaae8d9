#include "jwks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "log.h"

/* 16384-bit moduli at most: larger keys are not RSA anyone signs tokens with */
#define JWKS_MODULUS_MAX 2048
#define JWKS_EXPONENT_MAX 8

bool jwks_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap,
                        size_t *outlen)
{
    size_t pad = (4 - inlen % 4) % 4, padded = inlen + pad;
    unsigned char *std = NULL, *raw = NULL;
    bool ok = false;
    int n;

    if (inlen == 0 || pad == 3 || inlen > INT32_MAX / 2)
        return false;
    std = malloc(padded + 1);
    raw = malloc(padded / 4 * 3);
    if (!std || !raw)
        goto out;
    for (size_t i = 0; i < inlen; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            goto out;
        std[i] = (unsigned char)c;
    }
    memset(std + inlen, '=', pad);
    std[padded] = '\0';
    /* EVP_DecodeBlock writes 3 bytes per 4 characters, the padding's zero bytes included */
    n = EVP_DecodeBlock(raw, std, (int)padded);
    if (n < 0 || (size_t)n < pad || (size_t)n - pad > outcap)
        goto out;
    *outlen = (size_t)n - pad;
    memcpy(out, raw, *outlen);
    ok = true;
out:
    free(std);
    free(raw);
    return ok;
}

/* The PEM of the RSA public key (n, e), or NULL with a reason in err. */
static char *rsa_pem(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen,
                     size_t *pem_len, char *err, size_t errlen)
{
    BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL), *bn_e = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    char *data, *pem = NULL;
    long len;

    if (!bn_n || !bn_e || !bld || !ctx ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
        !(params = OSSL_PARAM_BLD_to_param(bld))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        snprintf(err, errlen, "not an RSA public key");
        goto out;
    }
    if (EVP_PKEY_get_bits(pkey) < JWKS_RSA_MIN_BITS) {
        snprintf(err, errlen, "RSA key of %d bits (at least %d needed)", EVP_PKEY_get_bits(pkey),
                 JWKS_RSA_MIN_BITS);
        goto out;
    }
    if (BN_is_odd(bn_e) != 1 || BN_is_one(bn_e)) {
        snprintf(err, errlen, "invalid RSA exponent");
        goto out;
    }
    bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1 || (len = BIO_get_mem_data(bio, &data)) <= 0 ||
        !(pem = malloc((size_t)len + 1))) {
        snprintf(err, errlen, "could not encode the key");
        goto out;
    }
    memcpy(pem, data, (size_t)len);
    pem[len] = '\0';
    *pem_len = (size_t)len;
out:
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pem;
}

static const char *member_str(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* Builds one key from its JWK; false with the reason in err when it is not one we use. */
static bool jwk_key(json_t *jwk, jwks_key *key, char *err, size_t errlen)
{
    const char *kty = member_str(jwk, "kty"), *use = member_str(jwk, "use");
    const char *alg = member_str(jwk, "alg"), *kid = member_str(jwk, "kid");
    const char *n = member_str(jwk, "n"), *e = member_str(jwk, "e");
    unsigned char nb[JWKS_MODULUS_MAX], eb[JWKS_EXPONENT_MAX];
    size_t nlen, elen;

    if (!kty || strcmp(kty, "RSA") != 0) {
        snprintf(err, errlen, "not an RSA key");
        return false;
    }
    if ((json_object_get(jwk, "use") && (!use || strcmp(use, "sig") != 0)) ||
        (json_object_get(jwk, "alg") && (!alg || strcmp(alg, "RS256") != 0))) {
        snprintf(err, errlen, "not an RS256 signature key");
        return false;
    }
    if (!kid || kid[0] == '\0' || strlen(kid) > JWKS_KID_MAX) {
        snprintf(err, errlen, "no kid of 1 to %d characters", JWKS_KID_MAX);
        return false;
    }
    if (!n || !e || !jwks_b64url_decode(n, strlen(n), nb, sizeof(nb), &nlen) ||
        !jwks_b64url_decode(e, strlen(e), eb, sizeof(eb), &elen)) {
        snprintf(err, errlen, "n or e is not base64url of a usable size");
        return false;
    }
    snprintf(key->kid, sizeof(key->kid), "%s", kid);
    key->pem = rsa_pem(nb, nlen, eb, elen, &key->pem_len, err, errlen);
    return key->pem != NULL;
}

bool jwks_parse(const char *json, size_t len, jwks_set *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), *keys, *jwk;
    size_t i;
    bool ok = false;

    memset(out, 0, sizeof(*out));
    keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        snprintf(err, errlen, "not a JSON Web Key Set (no \"keys\" array)");
        goto out;
    }
    out->keys = calloc(JWKS_KEYS_MAX, sizeof(*out->keys));
    if (!out->keys) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    json_array_foreach(keys, i, jwk)
    {
        char why[128];

        if (out->n == JWKS_KEYS_MAX)
            break;
        if (!json_is_object(jwk))
            continue;
        if (!jwk_key(jwk, &out->keys[out->n], why, sizeof(why))) {
            log_debug("skipping key %zu of the key set: %s", i, why);
            continue;
        }
        if (jwks_set_find(out, out->keys[out->n].kid)) {
            log_warn("skipping key %zu of the key set: its kid is not unique", i);
            free(out->keys[out->n].pem);
            out->keys[out->n].pem = NULL;
            continue;
        }
        out->n++;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "the key set holds no RS256 signature key");
        goto out;
    }
    ok = true;
out:
    json_decref(root);
    if (!ok)
        jwks_set_cleanup(out);
    return ok;
}

void jwks_set_cleanup(jwks_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->keys[i].pem);
    free(s->keys);
    s->keys = NULL;
    s->n = 0;
}

const jwks_key *jwks_set_find(const jwks_set *s, const char *kid)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i].kid, kid) == 0)
            return &s->keys[i];
    return NULL;
}

/* ---- fetching ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    membuf *b = ud;
    size_t n = size * nmemb;

    if (b->len + n > JWKS_BODY_MAX)
        return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
    membuf_put(b, ptr, n);
    return b->oom ? 0 : n;
}

/* ctx is the timeout in milliseconds (an int) */
static bool curl_fetch(void *ctx, const char *url, membuf *body, char *err, size_t errlen)
{
    const int *timeout_ms = ctx;
    char curlerr[CURL_ERROR_SIZE] = "";
    CURL *curl = curl_easy_init();
    CURLcode rc;
    long status = 0;

    if (!curl) {
        snprintf(err, errlen, "could not initialise libcurl");
        return false;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tally-report");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)*timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)*timeout_ms);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s",
                 body->len >= JWKS_BODY_MAX || body->oom ? "response too large"
                 : curlerr[0]                            ? curlerr
                                                         : curl_easy_strerror(rc));
        return false;
    }
    if (status != 200) {
        snprintf(err, errlen, "HTTP status %ld", status);
        return false;
    }
    return true;
}

static int64_t monotonic_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* ---- the cache ---- */

struct jwks_cache {
    pthread_mutex_t lock; /* guards what follows up to the atomics */
    pthread_cond_t fetch_done;
    char *url;
    int ttl_s, refetch_s, timeout_ms;
    jwks_fetch_fn fetch;
    void *fetch_ctx;
    jwks_clock_fn clock;
    jwks_set set;
    bool fetched, attempted, kid_refetched;
    bool in_flight;   /* a fetch runs, without the lock */
    unsigned waiting; /* callers waiting for it */
    int64_t fetched_at, attempted_at, kid_refetched_at;
    atomic_ulong fetches, generation;
};

jwks_cache *jwks_cache_new(const jwks_cache_config *cfg)
{
    jwks_cache *c = calloc(1, sizeof(*c));
    pthread_condattr_t ca;
    bool cond_ok = false;

    if (!c)
        return NULL;
    c->url = strdup(cfg->url);
    /* waits are bounded on the clock that never jumps */
    if (pthread_condattr_init(&ca) == 0) {
        cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&c->fetch_done, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!c->url || !cond_ok || pthread_mutex_init(&c->lock, NULL) != 0) {
        if (cond_ok)
            pthread_cond_destroy(&c->fetch_done);
        free(c->url);
        free(c);
        return NULL;
    }
    c->ttl_s = cfg->ttl_s;
    c->refetch_s = cfg->refetch_s;
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : JWKS_TIMEOUT_MS;
    c->fetch = cfg->fetch ? cfg->fetch : curl_fetch;
    c->fetch_ctx = cfg->fetch ? cfg->fetch_ctx : &c->timeout_ms;
    c->clock = cfg->clock ? cfg->clock : monotonic_s;
    atomic_init(&c->fetches, 0);
    atomic_init(&c->generation, 0);
    return c;
}

void jwks_cache_free(jwks_cache *c)
{
    if (!c)
        return;
    jwks_set_cleanup(&c->set);
    pthread_cond_destroy(&c->fetch_done);
    pthread_mutex_destroy(&c->lock);
    free(c->url);
    free(c);
}

/*
 * Fetches the set, called with the lock held and in_flight set by the caller; the lock is
 * let go for the fetch itself. On success the new keys replace the old, on failure the old
 * ones stay. Wakes the callers waiting for it.
 */
static void refresh(jwks_cache *c, int64_t now)
{
    membuf body = MEMBUF_INIT;
    jwks_set set;
    char err[256] = "";
    bool ok;

    c->attempted = true;
    c->attempted_at = now;
    atomic_fetch_add(&c->fetches, 1);
    pthread_mutex_unlock(&c->lock);
    /* url and fetch never change: the fetch needs no lock, and nobody waits for it but
       the callers that need what only it can bring */
    ok = c->fetch(c->fetch_ctx, c->url, &body, err, sizeof(err)) &&
         jwks_parse(body.data ? body.data : "", body.len, &set, err, sizeof(err));
    membuf_free(&body);
    pthread_mutex_lock(&c->lock);
    c->in_flight = false;
    pthread_cond_broadcast(&c->fetch_done);
    if (!ok) {
        log_warn("could not fetch the signing keys from \"%s\": %s%s", c->url, err,
                 c->set.n > 0 ? " (keeping the keys fetched before)" : "");
        return;
    }
    jwks_set_cleanup(&c->set);
    c->set = set;
    c->fetched = true;
    c->fetched_at = now;
    atomic_fetch_add(&c->generation, 1);
    log_info("fetched %d signing key%s from \"%s\"", set.n, set.n == 1 ? "" : "s", c->url);
}

/* Waits, with the lock held, until the fetch in flight is done (at most its timeout + 1 s). */
static void wait_for_fetch(jwks_cache *c)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += c->timeout_ms / 1000 + 1;
    until.tv_nsec += (long)(c->timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    c->waiting++;
    while (c->in_flight && pthread_cond_timedwait(&c->fetch_done, &c->lock, &until) == 0)
        ;
    c->waiting--;
}

jwks_status jwks_cache_pem(jwks_cache *c, const char *kid, char **pem, size_t *pem_len,
                           unsigned long *generation)
{
    const jwks_key *key;
    jwks_status st;
    int64_t now;

    *pem = NULL;
    pthread_mutex_lock(&c->lock);
    now = c->clock();
    key = jwks_set_find(&c->set, kid);
    if (c->in_flight) {
        /* someone else fetches: the keys held serve meanwhile */
        if (!key) {
            wait_for_fetch(c);
            key = jwks_set_find(&c->set, kid);
        }
    } else if ((!c->fetched || now - c->fetched_at >= c->ttl_s) &&
               (!c->attempted || now - c->attempted_at >= JWKS_RETRY_S)) {
        /* none yet or past its ttl: fetched, and while that fails once per JWKS_RETRY_S */
        c->in_flight = true;
        refresh(c, now);
        key = jwks_set_find(&c->set, kid);
    } else if (!key && c->set.n > 0 &&
               (!c->kid_refetched || now - c->kid_refetched_at >= c->refetch_s)) {
        c->kid_refetched = true;
        c->kid_refetched_at = now;
        c->in_flight = true;
        refresh(c, now);
        key = jwks_set_find(&c->set, kid);
    }
    if (key) {
        *pem = malloc(key->pem_len + 1);
        if (*pem) {
            memcpy(*pem, key->pem, key->pem_len + 1);
            *pem_len = key->pem_len;
            if (generation)
                *generation = atomic_load(&c->generation);
        }
        st = *pem ? JWKS_FOUND : JWKS_NO_MEMORY;
    } else {
        st = c->set.n > 0 ? JWKS_UNKNOWN_KID : JWKS_UNAVAILABLE;
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

unsigned long jwks_cache_fetches(jwks_cache *c)
{
    return atomic_load(&c->fetches);
}

unsigned long jwks_cache_generation(jwks_cache *c)
{
    return atomic_load(&c->generation);
}

unsigned jwks_cache_waiting(jwks_cache *c)
{
    unsigned n;

    pthread_mutex_lock(&c->lock);
    n = c->waiting;
    pthread_mutex_unlock(&c->lock);
    return n;
}
