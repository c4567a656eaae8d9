/*
 * oauth.c - Entra ID token requests with libcurl (see oauth.h). No librdkafka here:
 * oauth_kafka.c hands the tokens over.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "membuf.h"
#include "oauth.h"
#include "url.h"

#define OAUTH_TIMEOUT_MS_DEFAULT 10000
#define OAUTH_RESPONSE_MAX (256 * 1024)
#define OAUTH_ASSERTION_MAX (64 * 1024)
#define OAUTH_DESCRIPTION_MAX 200 /* how much of an error_description a message quotes */
#define OAUTH_JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

/* A request body or response: it holds secrets, so its whole allowance (max bytes) is
 * reserved at once, growing never leaves a copy in freed memory, and it is wiped before
 * it is freed. More than max bytes set text.oom. */
typedef struct secret {
    membuf text;
    size_t max;
} secret;

static void secret_open(secret *b, size_t max)
{
    b->text = (membuf)MEMBUF_INIT;
    b->max = max;
    membuf_reserve(&b->text, max);
}

static void secret_free(secret *b)
{
    if (b->text.data)
        wipe(b->text.data, b->text.cap);
    membuf_free(&b->text);
}

static bool secret_add(secret *b, const char *s, size_t n)
{
    if (b->text.oom || b->text.len + n + 1 > b->max) {
        b->text.oom = true;
        return false;
    }
    membuf_put(&b->text, s, n);
    return !b->text.oom;
}

static bool secret_str(secret *b, const char *s)
{
    return secret_add(b, s, strlen(s));
}

/* Appends name=value, the value form-encoded. */
static bool secret_param(secret *b, CURL *curl, const char *name, const char *value)
{
    char *esc = curl_easy_escape(curl, value, 0);
    bool ok;

    if (!esc)
        return false;
    ok = (b->text.len == 0 || secret_str(b, "&")) && secret_str(b, name) && secret_str(b, "=") &&
         secret_str(b, esc);
    wipe(esc, strlen(esc));
    curl_free(esc);
    return ok;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool unset(const char *s)
{
    return s == NULL || *s == '\0';
}

/* The configured value, else the environment variable, else NULL. */
static const char *or_env(const char *v, const char *env)
{
    const char *e;

    if (!unset(v))
        return v;
    e = env ? getenv(env) : NULL;
    return unset(e) ? NULL : e;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool oauth_global_init(void)
{
    static bool done;

    if (!done)
        done = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    return done;
}

int oauth_mode_from_name(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "client-credentials") == 0)
        return OAUTH_CLIENT_CREDENTIALS;
    if (strcmp(name, "workload-identity") == 0)
        return OAUTH_WORKLOAD_IDENTITY;
    if (strcmp(name, "managed-identity") == 0)
        return OAUTH_MANAGED_IDENTITY;
    return -1;
}

bool oauth_default_scope(const char *brokers, char *out, size_t outlen)
{
    size_t n;

    if (unset(brokers))
        return false;
    /* the host of the first broker, without the port */
    n = strcspn(brokers, ",:");
    while (n > 0 && isspace((unsigned char)brokers[n - 1]))
        n--;
    while (n > 0 && isspace((unsigned char)*brokers)) {
        brokers++;
        n--;
    }
    if (n == 0)
        return false;
    return snprintf(out, outlen, "https://%.*s/.default", (int)n, brokers) < (int)outlen;
}

bool oauth_endpoint_ok(const char *url)
{
    return url_https_or_loopback(url);
}

bool oauth_config_check(const oauth_config *c, char *err, size_t errlen)
{
    const char *fed = or_env(c->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE");

    if (c->mode == OAUTH_MANAGED_IDENTITY)
        return true; /* IMDS is plain http on a link-local address, and no secret goes there */
    /* the client secret or the federated assertion goes to this endpoint */
    if (!unset(c->token_endpoint) && !oauth_endpoint_ok(c->token_endpoint)) {
        set_err(err, errlen,
                "\"oauth_token_endpoint\" must be an https:// URL (http:// only to localhost, "
                "127.0.0.0/8 or [::1])");
        return false;
    }
    if (unset(c->token_endpoint) && !or_env(c->tenant_id, "AZURE_TENANT_ID")) {
        set_err(err, errlen, "\"oauth_tenant_id\" (or AZURE_TENANT_ID) is required");
        return false;
    }
    if (!or_env(c->client_id, "AZURE_CLIENT_ID")) {
        set_err(err, errlen, "\"oauth_client_id\" (or AZURE_CLIENT_ID) is required");
        return false;
    }
    if (c->mode == OAUTH_CLIENT_CREDENTIALS && unset(c->client_secret)) {
        set_err(err, errlen,
                "\"oauth_client_secret\" is required with oauth_mode=client-credentials");
        return false;
    }
    if (c->mode == OAUTH_WORKLOAD_IDENTITY && !fed) {
        set_err(err, errlen,
                "\"oauth_federated_token_file\" (or AZURE_FEDERATED_TOKEN_FILE) is required "
                "with oauth_mode=workload-identity");
        return false;
    }
    return true;
}

/* Reads the federated token file into b, without trailing white space. */
static bool read_assertion(const char *path, secret *b, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;
    bool ok = true;

    if (!f) {
        set_err(err, errlen, "could not open federated token file \"%s\": %s", path,
                strerror(errno));
        return false;
    }
    while (ok && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ok = secret_add(b, chunk, n);
    wipe(chunk, sizeof(chunk));
    if (ferror(f) || !ok) {
        set_err(err, errlen, "could not read federated token file \"%s\"", path);
        ok = false;
    }
    fclose(f);
    while (ok && b->text.len > 0 && isspace((unsigned char)b->text.data[b->text.len - 1]))
        b->text.data[--b->text.len] = '\0';
    if (ok && b->text.len == 0) {
        set_err(err, errlen, "federated token file \"%s\" is empty", path);
        ok = false;
    }
    return ok;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    secret *b = ctx;

    return secret_add(b, data, size * nmemb) ? size * nmemb : 0;
}

/* Reads an integer given as a JSON number or a string of digits; false if neither. */
static bool json_seconds(json_t *v, int64_t *out)
{
    const char *s;
    int64_t n = 0;

    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    s = json_string_value(v);
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || n > INT64_MAX / 10 - 10)
            return false;
        n = n * 10 + (*s - '0');
    }
    *out = n;
    return true;
}

bool oauth_parse_response(const char *body, size_t len, int64_t now, char *token, size_t tokenlen,
                          int64_t *expires_at_ms, char *err, size_t errlen)
{
    json_t *root = json_loadb(body, len, 0, NULL), *v;
    int64_t secs;
    bool ok = false;

    if (!json_is_object(root)) {
        set_err(err, errlen, "token response is not a JSON object");
        goto out;
    }
    v = json_object_get(root, "error");
    if (v) {
        json_t *d = json_object_get(root, "error_description");
        const char *desc = json_is_string(d) ? json_string_value(d) : "";

        /* Entra's descriptions run over several lines with trace ids; the first says why */
        set_err(err, errlen, "token request refused: %s%s%.*s",
                json_is_string(v) ? json_string_value(v) : "error", *desc ? ": " : "",
                (int)strcspn(desc, "\r\n") < OAUTH_DESCRIPTION_MAX ? (int)strcspn(desc, "\r\n")
                                                                   : OAUTH_DESCRIPTION_MAX,
                desc);
        goto out;
    }
    v = json_object_get(root, "access_token");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        set_err(err, errlen, "token response has no access_token");
        goto out;
    }
    if (json_string_length(v) >= tokenlen) {
        set_err(err, errlen, "access_token too long (%zu bytes)", json_string_length(v));
        goto out;
    }
    if (json_seconds(json_object_get(root, "expires_in"), &secs)) {
        if (secs <= 0 || secs > 366 * 86400) {
            set_err(err, errlen, "token response has an invalid expires_in");
            goto out;
        }
        *expires_at_ms = now + secs * 1000;
    } else if (json_seconds(json_object_get(root, "expires_on"), &secs)) {
        if (secs * 1000 <= now) {
            set_err(err, errlen, "token response has an expires_on in the past");
            goto out;
        }
        *expires_at_ms = secs * 1000;
    } else {
        set_err(err, errlen, "token response has neither expires_in nor expires_on");
        goto out;
    }
    memcpy(token, json_string_value(v), json_string_length(v) + 1);
    ok = true;
out:
    if (root) {
        /* the token lives in jansson's copy too */
        v = json_object_get(root, "access_token");
        if (json_is_string(v))
            wipe((char *)(uintptr_t)json_string_value(v), json_string_length(v));
    }
    json_decref(root);
    return ok;
}

/* Builds the request: the URL into url, a form body into body (empty for IMDS). */
static bool build_request(const oauth_config *c, CURL *curl, secret *url, secret *body, char *err,
                          size_t errlen)
{
    const char *client_id = or_env(c->client_id, "AZURE_CLIENT_ID");
    const char *tenant = or_env(c->tenant_id, "AZURE_TENANT_ID");
    const char *authority = or_env(c->authority, "AZURE_AUTHORITY_HOST");
    char scope[512];
    size_t alen;
    bool ok;

    if (c->mode == OAUTH_MANAGED_IDENTITY) {
        const char *base = unset(c->token_endpoint) ? OAUTH_IMDS_DEFAULT : c->token_endpoint;
        secret q;

        secret_open(&q, 4096);
        ok = secret_param(&q, curl, "api-version", "2018-02-01") &&
             secret_param(&q, curl, "resource",
                          unset(c->resource) ? OAUTH_RESOURCE_DEFAULT : c->resource) &&
             (!client_id || secret_param(&q, curl, "client_id", client_id)) &&
             secret_str(url, base) && secret_str(url, strchr(base, '?') ? "&" : "?") &&
             secret_str(url, q.text.data);
        secret_free(&q);
        if (!ok)
            set_err(err, errlen, "could not build the IMDS request");
        return ok;
    }
    if (!unset(c->token_endpoint)) {
        ok = secret_str(url, c->token_endpoint);
    } else {
        if (!authority)
            authority = OAUTH_AUTHORITY_DEFAULT;
        alen = strlen(authority);
        while (alen > 0 && authority[alen - 1] == '/')
            alen--;
        ok = tenant && secret_add(url, authority, alen) && secret_str(url, "/") &&
             secret_str(url, tenant) && secret_str(url, "/oauth2/v2.0/token");
    }
    if (!unset(c->scope))
        snprintf(scope, sizeof(scope), "%s", c->scope);
    else if (!oauth_default_scope(c->brokers, scope, sizeof(scope)))
        snprintf(scope, sizeof(scope), "%s/.default", OAUTH_RESOURCE_DEFAULT);
    ok = ok && client_id && secret_param(body, curl, "grant_type", "client_credentials") &&
         secret_param(body, curl, "client_id", client_id) &&
         secret_param(body, curl, "scope", scope);
    if (!ok) {
        set_err(err, errlen, "incomplete oauth configuration (tenant or client id missing)");
        return false;
    }
    if (c->mode == OAUTH_CLIENT_CREDENTIALS) {
        if (unset(c->client_secret)) {
            set_err(err, errlen, "\"oauth_client_secret\" is not set");
            return false;
        }
        ok = secret_param(body, curl, "client_secret", c->client_secret);
    } else {
        const char *path = or_env(c->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE");
        secret assertion;

        if (!path) {
            set_err(err, errlen, "\"oauth_federated_token_file\" is not set");
            return false;
        }
        secret_open(&assertion, OAUTH_ASSERTION_MAX);
        if (!read_assertion(path, &assertion, err, errlen)) {
            secret_free(&assertion);
            return false;
        }
        ok = secret_param(body, curl, "client_assertion_type", OAUTH_JWT_BEARER) &&
             secret_param(body, curl, "client_assertion", assertion.text.data);
        secret_free(&assertion);
    }
    if (!ok)
        set_err(err, errlen, "could not build the token request");
    return ok;
}

bool oauth_fetch(const oauth_config *c, char *token, size_t tokenlen, int64_t *expires_at_ms,
                 char *err, size_t errlen)
{
    secret url, body, resp;
    char curlerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    long status = 0, timeout = c->timeout_ms > 0 ? c->timeout_ms : OAUTH_TIMEOUT_MS_DEFAULT;
    int64_t started = now_ms();
    CURLcode rc;
    CURL *curl = NULL;
    bool ok = false;

    secret_open(&url, 8192);
    secret_open(&body, OAUTH_ASSERTION_MAX * 4);
    secret_open(&resp, OAUTH_RESPONSE_MAX);
    if (!oauth_global_init() || !(curl = curl_easy_init())) {
        set_err(err, errlen, "could not initialise libcurl");
        goto out;
    }
    if (!build_request(c, curl, &url, &body, err, errlen))
        goto out;
    headers = curl_slist_append(headers, "Accept: application/json");
    if (headers && c->mode == OAUTH_MANAGED_IDENTITY)
        headers = curl_slist_append(headers, "Metadata: true");
    if (!headers) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url.text.data);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tally-ingest");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    /* IMDS must not be reached through a proxy */
    if (c->mode == OAUTH_MANAGED_IDENTITY)
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    if (c->mode != OAUTH_MANAGED_IDENTITY) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.text.data);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body.text.len);
    }
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        set_err(err, errlen, "token request failed: %s",
                resp.text.oom ? "response too large"
                : curlerr[0]  ? curlerr
                              : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        char why[256] = "";
        int64_t ignored;

        if (resp.text.len > 0)
            oauth_parse_response(resp.text.data, resp.text.len, started, token, tokenlen, &ignored,
                                 why, sizeof(why));
        wipe(token, tokenlen);
        set_err(err, errlen, "token endpoint returned HTTP %ld%s%s", status, why[0] ? ": " : "",
                why);
        goto out;
    }
    ok = oauth_parse_response(resp.text.data ? resp.text.data : "", resp.text.len, started, token,
                              tokenlen, expires_at_ms, err, errlen);
out:
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    secret_free(&url);
    secret_free(&body);
    secret_free(&resp);
    return ok;
}
