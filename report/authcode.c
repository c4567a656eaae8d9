#include "authcode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "entra.h"
#include "hash.h"
#include "html.h"
#include "jwks.h"
#include "log.h"
#include "url.h"

#define AUTHCODE_RESPONSE_MAX (256 * 1024)

struct authcode {
    char *client_id, *client_secret, *redirect_url, *scope, *authorize_url, *token_url;
    struct entra *verifier;
};

static bool unset(const char *s)
{
    return !s || s[0] == '\0';
}

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

/* The value of key, else ENTRA_AUTHORITY/TENANT/oauth2/v2.0/<endpoint>. */
static char *or_default(const cfg *c, const char *key, const char *endpoint)
{
    const char *v = cfg_str(c, key), *tenant = cfg_str(c, "entra_tenant_id");
    size_t n;
    char *s;

    if (!unset(v))
        return strdup(v);
    n = strlen(ENTRA_AUTHORITY) + strlen(tenant) + strlen(endpoint) + 16;
    if ((s = malloc(n)))
        snprintf(s, n, "%s/%s/oauth2/v2.0/%s", ENTRA_AUTHORITY, tenant, endpoint);
    return s;
}

/* The first item of the comma-separated entra_audience + "/.default". */
static char *default_scope(const cfg *c)
{
    const char *aud = cfg_str(c, "entra_audience");
    size_t n;
    char *s;

    aud += strspn(aud, " \t");
    n = strcspn(aud, ", \t");
    if ((s = malloc(n + sizeof("/.default"))))
        snprintf(s, n + sizeof("/.default"), "%.*s/.default", (int)n, aud);
    return s;
}

void authcode_free(authcode *a)
{
    if (!a)
        return;
    if (a->client_secret)
        wipe(a->client_secret, strlen(a->client_secret));
    free(a->client_id);
    free(a->client_secret);
    free(a->redirect_url);
    free(a->scope);
    free(a->authorize_url);
    free(a->token_url);
    free(a);
}

int authcode_from_cfg(const cfg *c, struct entra *v, authcode **out)
{
    static const char *const urls[] = {"entra_redirect_url", "entra_authorize_url",
                                       "entra_token_url"};
    const char *secret = cfg_str(c, "entra_client_secret");
    authcode *a;

    *out = NULL;
    if (unset(cfg_str(c, "entra_client_id")))
        return CFG_EXIT_OK;
    if (!v) {
        fprintf(stderr, "%s: \"entra_client_id\" needs entra_tenant_id and entra_audience\n",
                c->prog);
        return CFG_EXIT_USAGE;
    }
    if (unset(cfg_str(c, "entra_redirect_url"))) {
        fprintf(stderr, "%s: \"entra_redirect_url\" is required with entra_client_id\n", c->prog);
        return CFG_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
        if (!unset(cfg_str(c, urls[i])) && !url_https_or_loopback(cfg_str(c, urls[i]))) {
            fprintf(stderr,
                    "%s: invalid value for \"%s\": an https:// URL (http:// only to localhost, "
                    "127.0.0.0/8 or [::1])\n",
                    c->prog, urls[i]);
            return CFG_EXIT_USAGE;
        }
    if (!(a = calloc(1, sizeof(*a))))
        goto oom;
    a->verifier = v;
    a->client_id = strdup(cfg_str(c, "entra_client_id"));
    a->client_secret = unset(secret) ? NULL : strdup(secret);
    a->redirect_url = strdup(cfg_str(c, "entra_redirect_url"));
    a->scope =
        unset(cfg_str(c, "entra_scope")) ? default_scope(c) : strdup(cfg_str(c, "entra_scope"));
    a->authorize_url = or_default(c, "entra_authorize_url", "authorize");
    a->token_url = or_default(c, "entra_token_url", "token");
    if (!a->client_id || (!unset(secret) && !a->client_secret) || !a->redirect_url || !a->scope ||
        !a->authorize_url || !a->token_url)
        goto oom;
    *out = a;
    return CFG_EXIT_OK;
oom:
    authcode_free(a);
    fprintf(stderr, "%s: out of memory\n", c->prog);
    return CFG_EXIT_RUNTIME;
}

void authcode_challenge(const char *verifier, char out[AUTHCODE_CHALLENGE_LEN + 1])
{
    unsigned char digest[SHA256_DIGEST_LENGTH], b64[48];
    int n;

    SHA256((const unsigned char *)verifier, strlen(verifier), digest);
    n = EVP_EncodeBlock(b64, digest, sizeof(digest)); /* 44 characters, one '=' */
    for (int i = 0; i < AUTHCODE_CHALLENGE_LEN && i < n; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[AUTHCODE_CHALLENGE_LEN] = '\0';
}

/* Appends name=value (percent-encoded), after a '&' unless first. */
static void put_param(membuf *b, bool first, const char *name, const char *value)
{
    if (!first)
        membuf_putc(b, '&');
    membuf_puts(b, name);
    membuf_putc(b, '=');
    html_url_value(b, value);
}

void authcode_authorize_url(const authcode *a, const char *state, const char *nonce,
                            const char *verifier, membuf *out)
{
    char challenge[AUTHCODE_CHALLENGE_LEN + 1], scope[1024];

    authcode_challenge(verifier, challenge);
    snprintf(scope, sizeof(scope), "openid %s", a->scope);
    membuf_puts(out, a->authorize_url);
    membuf_putc(out, strchr(a->authorize_url, '?') ? '&' : '?');
    put_param(out, true, "response_type", "code");
    put_param(out, false, "client_id", a->client_id);
    put_param(out, false, "redirect_uri", a->redirect_url);
    put_param(out, false, "scope", scope);
    put_param(out, false, "response_mode", "query");
    put_param(out, false, "state", state);
    put_param(out, false, "nonce", nonce);
    put_param(out, false, "code_challenge", challenge);
    put_param(out, false, "code_challenge_method", "S256");
}

/* ---- the token request ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    membuf *b = ud;
    size_t n = size * nmemb;

    if (b->len + n > AUTHCODE_RESPONSE_MAX)
        return 0; /* curl fails the transfer */
    membuf_put(b, ptr, n);
    return b->oom ? 0 : n;
}

/* POSTs form to the token endpoint: the HTTP status (0 when there was no answer). */
static long token_post(const authcode *a, const membuf *form, membuf *body)
{
    char curlerr[CURL_ERROR_SIZE] = "";
    CURL *curl = curl_easy_init();
    long status = 0;
    CURLcode rc;

    if (!curl) {
        log_error("could not initialise libcurl");
        return 0;
    }
    curl_easy_setopt(curl, CURLOPT_URL, a->token_url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tally-report");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)AUTHCODE_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)AUTHCODE_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form->data);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)form->len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    else
        log_warn("could not reach the token endpoint \"%s\": %s", a->token_url,
                 curlerr[0] ? curlerr : curl_easy_strerror(rc));
    curl_easy_cleanup(curl);
    return status;
}

/* The claims of a JWS (not verified here), or NULL. */
static json_t *jwt_claims(const char *token)
{
    const char *payload = strchr(token, '.'), *end;
    unsigned char *raw;
    size_t n, len;
    json_t *claims = NULL;

    if (!payload || !(end = strchr(payload + 1, '.')))
        return NULL;
    n = (size_t)(end - payload - 1);
    if (n == 0 || n > ENTRA_TOKEN_MAX || !(raw = malloc(n)))
        return NULL;
    if (jwks_b64url_decode(payload + 1, n, raw, n, &len))
        claims = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return NULL;
    }
    return claims;
}

static bool claim_is(const json_t *claims, const char *name, const char *want)
{
    const char *v = json_string_value(json_object_get(claims, name));

    return v && strlen(v) == strlen(want) && hash_equal(v, want, strlen(want));
}

/*
 * Checks the id_token against the sign-in (nonce), this client (aud) and the access token's
 * user (oid); false with why set.
 */
static bool id_token_ok(const authcode *a, const char *id_token, const char *nonce, const char *oid,
                        const char **why)
{
    json_t *claims = id_token ? jwt_claims(id_token) : NULL;
    bool ok = false;

    if (!claims)
        *why = "no id_token, or one that is not a JWT";
    else if (!claim_is(claims, "nonce", nonce))
        *why = "the id_token's nonce is not the sign-in's";
    else if (!claim_is(claims, "aud", a->client_id))
        *why = "the id_token's aud is not entra_client_id";
    else if (!oid || !claim_is(claims, "oid", oid))
        *why = "the id_token's oid is not the access token's";
    else
        ok = true;
    json_decref(claims);
    return ok;
}

authcode_status authcode_exchange(const authcode *a, const char *code, const char *verifier,
                                  const char *nonce, auth_principal *p, int64_t *exp,
                                  const char **detail)
{
    membuf form = MEMBUF_INIT, body = MEMBUF_INIT;
    json_t *res = NULL, *claims = NULL;
    const char *access, *why = NULL, *entra_detail = NULL;
    authcode_status st = AUTHCODE_UNAVAILABLE;
    long status;

    memset(p, 0, sizeof(*p));
    *exp = 0;
    *detail = AUTHCODE_UNREACHABLE;
    put_param(&form, true, "grant_type", "authorization_code");
    put_param(&form, false, "client_id", a->client_id);
    put_param(&form, false, "code", code);
    put_param(&form, false, "redirect_uri", a->redirect_url);
    put_param(&form, false, "code_verifier", verifier);
    if (a->client_secret)
        put_param(&form, false, "client_secret", a->client_secret);
    if (form.oom) {
        log_error("out of memory");
        goto out;
    }
    status = token_post(a, &form, &body);
    res = body.oom ? NULL : json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    if (status >= 400 && status < 500) {
        const char *err = json_string_value(json_object_get(res, "error"));
        log_info("entra sign-in refused by the token endpoint: HTTP %ld, error %s", status,
                 err && strspn(err, "abcdefghijklmnopqrstuvwxyz_") == strlen(err) ? err : "?");
        *detail = AUTHCODE_CODE_REFUSED;
        st = AUTHCODE_REFUSED;
        goto out;
    }
    if (status != 200) {
        if (status)
            log_warn("entra sign-in: the token endpoint answered HTTP %ld", status);
        goto out;
    }
    access = json_string_value(json_object_get(res, "access_token"));
    st = AUTHCODE_INVALID;
    *detail = ENTRA_MALFORMED;
    if (!access || !entra_jwt_shaped(access, strlen(access))) {
        log_info("entra sign-in refused: the token endpoint's answer has no access token");
        goto out;
    }
    switch (entra_verify(a->verifier, access, strlen(access), p, &entra_detail)) {
    case AUTH_OK:
        break;
    case AUTH_UNAVAILABLE:
        st = AUTHCODE_UNAVAILABLE;
        *detail = entra_detail;
        goto out;
    default: /* entra_verify logged why */
        *detail = entra_detail;
        goto out;
    }
    claims = jwt_claims(access);
    if (!id_token_ok(a, json_string_value(json_object_get(res, "id_token")), nonce,
                     json_string_value(json_object_get(claims, "oid")), &why)) {
        log_info("entra sign-in refused: %s", why);
        memset(p, 0, sizeof(*p));
        *detail = AUTHCODE_ID_TOKEN_MISMATCH;
        goto out;
    }
    *exp = json_integer_value(json_object_get(claims, "exp"));
    *detail = NULL;
    st = AUTHCODE_OK;
out:
    json_decref(claims);
    json_decref(res);
    if (body.data)
        wipe(body.data, body.len);
    if (form.data)
        wipe(form.data, form.len);
    membuf_free(&body);
    membuf_free(&form);
    return st;
}
