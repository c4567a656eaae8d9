#include "rules.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTA_NAME_MAX 100
#define QUOTA_SUBJECT_MAX 256
#define QUOTA_TZ_MAX 64
#define QUOTA_LIMIT_MAX 40
#define QUOTA_URL_MAX 2048
#define QUOTA_SECRET_MAX 512

static const char *const QUOTA_SCOPES[] = {"developer", "team", "everyone", NULL};
static const char *const QUOTA_METRICS[] = {"cost_usd", "tokens", NULL};
static const char *const QUOTA_PERIODS[] = {"day", "week", "month", NULL};
static const char *const QUOTA_KINDS[] = {"webhook", "slack", "teams", "alertmanager", NULL};
static const int QUOTA_DEFAULT_THRESHOLDS[] = {50, 80, 100};

bool quota_fail(quota_error *err, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return false;
    snprintf(err->field, sizeof(err->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return false;
}

static bool quota_in(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static bool quota_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

void quota_cleanup(quota *q)
{
    if (!q)
        return;
    free(q->name);
    free(q->scope);
    free(q->subject);
    free(q->metric);
    free(q->period);
    free(q->tz);
    free(q->limit);
    for (int i = 0; i < q->ntargets; i++) {
        free(q->targets[i].kind);
        free(q->targets[i].url);
        free(q->targets[i].secret);
    }
    memset(q, 0, sizeof(*q));
}

bool quota_decimal_valid(const char *s, bool positive)
{
    const char *p = s;
    bool nonzero = false;
    size_t ndigits = 0;

    if (!s || !*s || strlen(s) > QUOTA_LIMIT_MAX)
        return false;
    for (; isdigit((unsigned char)*p); p++, ndigits++)
        nonzero |= *p != '0';
    if (ndigits == 0)
        return false;
    if (*p == '.') {
        size_t nfrac = 0;
        for (p++; isdigit((unsigned char)*p); p++, nfrac++)
            nonzero |= *p != '0';
        if (nfrac == 0)
            return false;
    }
    return *p == '\0' && (!positive || nonzero);
}

bool quota_url_valid(const char *url)
{
    const char *host;
    size_t hostlen;

    if (!url || strlen(url) > QUOTA_URL_MAX)
        return false;
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return false;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    hostlen = strcspn(host, "/?#");
    /* userinfo would put credentials where loggers and proxies look for a host */
    if (hostlen == 0 || memchr(host, '@', hostlen) != NULL || host[0] == ':')
        return false;
    return true;
}

static bool quota_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > QUOTA_NAME_MAX || !isalpha((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return false;
    return true;
}

static bool quota_tz_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > QUOTA_TZ_MAX || s[0] == '/' || strstr(s, "..") != NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_+-/", s[i]))
            return false;
    return true;
}

/*
 * A path under dir ("/run/secrets" or "/run/credentials/x.service"): the rest is not empty.
 * Only a literal prefix is compared; ".." was refused before.
 */
static bool quota_under(const char *path, const char *dir)
{
    size_t n = dir ? strlen(dir) : 0;

    while (n > 1 && dir[n - 1] == '/')
        n--;
    return n > 1 && dir[0] == '/' && strncmp(path, dir, n) == 0 && path[n] == '/' &&
           path[n + 1] != '\0';
}

/*
 * Quotas are written by platform users, who must not be able to name the database password
 * or the Event Hubs key as a webhook's HMAC key (its signatures would go to their URL), nor
 * probe which files exist: env: names carry a dedicated prefix, files live in the secret
 * directories an operator fills on purpose.
 */
bool quota_secret_ref_valid(const char *s)
{
    if (!s || strlen(s) > QUOTA_SECRET_MAX || !quota_printable(s))
        return false;
    if (strncmp(s, "env:", 4) == 0) {
        const char *v = s + 4;
        if (strncmp(v, QUOTA_SECRET_ENV_PREFIX, strlen(QUOTA_SECRET_ENV_PREFIX)) != 0 ||
            !v[strlen(QUOTA_SECRET_ENV_PREFIX)])
            return false;
        for (; *v; v++)
            if (!isalnum((unsigned char)*v) && *v != '_')
                return false;
        return true;
    }
    if (strncmp(s, "file:/", 6) != 0 || strstr(s, "..") != NULL)
        return false;
    return quota_under(s + 5, QUOTA_SECRET_DIR) ||
           quota_under(s + 5, getenv("CREDENTIALS_DIRECTORY"));
}

bool quota_validate(const quota *q, quota_error *err)
{
    if (!quota_name_valid(q->name))
        return quota_fail(err, "name",
                          "must be 1 to %d letters, digits, '.', '_' or '-', starting with a "
                          "letter",
                          QUOTA_NAME_MAX);
    if (!quota_in(q->scope, QUOTA_SCOPES))
        return quota_fail(err, "scope", "must be developer, team or everyone");
    if (strcmp(q->scope, "everyone") == 0) {
        if (q->subject && q->subject[0])
            return quota_fail(err, "subject", "must be empty for scope everyone");
    } else if (!q->subject || !q->subject[0] || strlen(q->subject) > QUOTA_SUBJECT_MAX ||
               !quota_printable(q->subject)) {
        return quota_fail(err, "subject", "must name the %s (1 to %d characters)",
                          strcmp(q->scope, "team") == 0 ? "team" : "developer's oid",
                          QUOTA_SUBJECT_MAX);
    }
    if (!quota_in(q->metric, QUOTA_METRICS))
        return quota_fail(err, "metric", "must be cost_usd or tokens");
    if (!quota_in(q->period, QUOTA_PERIODS))
        return quota_fail(err, "period", "must be day, week or month");
    if (!quota_tz_valid(q->tz))
        return quota_fail(err, "tz", "must be an IANA time zone name");
    if (!quota_decimal_valid(q->limit, true))
        return quota_fail(err, "limit", "must be a positive decimal (digits, optionally a '.')");
    if (q->nthresholds < 1 || q->nthresholds > QUOTA_MAX_THRESHOLDS)
        return quota_fail(err, "thresholds", "must hold 1 to %d percentages", QUOTA_MAX_THRESHOLDS);
    for (int i = 0; i < q->nthresholds; i++) {
        if (q->thresholds[i] < 1 || q->thresholds[i] > 1000)
            return quota_fail(err, "thresholds", "%d is not a percentage from 1 to 1000",
                              q->thresholds[i]);
        if (i > 0 && q->thresholds[i] <= q->thresholds[i - 1])
            return quota_fail(err, "thresholds", "must be strictly ascending");
    }
    if (q->ntargets < 0 || q->ntargets > QUOTA_MAX_TARGETS)
        return quota_fail(err, "targets", "at most %d targets", QUOTA_MAX_TARGETS);
    for (int i = 0; i < q->ntargets; i++) {
        const quota_target *t = &q->targets[i];
        if (!quota_in(t->kind, QUOTA_KINDS))
            return quota_fail(err, "targets",
                              "target %d: kind must be webhook, slack, teams or alertmanager", i);
        /* the URL itself is not echoed: Slack and Teams URLs are secrets */
        if (!quota_url_valid(t->url))
            return quota_fail(err, "targets",
                              "target %d: url must be an http(s) URL with a host, without "
                              "credentials or spaces",
                              i);
        if (t->secret && strcmp(t->kind, "webhook") != 0)
            return quota_fail(err, "targets", "target %d: only webhook targets are signed", i);
        if (t->secret && !quota_secret_ref_valid(t->secret))
            return quota_fail(err, "targets",
                              "target %d: secret must be env:" QUOTA_SECRET_ENV_PREFIX
                              "NAME or file:/path under " QUOTA_SECRET_DIR
                              "/ or $CREDENTIALS_DIRECTORY (a reference, not the key)",
                              i);
    }
    return true;
}

/* Copies a JSON string member into *out; absent leaves it to the default. */
static bool quota_json_str(const json_t *v, const char *key, char **out, quota_error *err)
{
    if (!json_is_string(v))
        return quota_fail(err, key, "must be a string");
    free(*out);
    *out = strdup(json_string_value(v));
    return *out != NULL || quota_fail(err, key, "out of memory");
}

/*
 * The limit is money or a token count, kept exact: a decimal string, or a JSON integer.
 * A JSON real (a fraction or an exponent) is refused rather than read through a double,
 * whose digits are not always the ones written.
 */
static bool quota_json_limit(const json_t *v, char **out, quota_error *err)
{
    char buf[32];

    if (json_is_string(v))
        return quota_json_str(v, "limit", out, err);
    if (json_is_real(v))
        return quota_fail(err, "limit",
                          "a number with a fraction or an exponent must be a decimal string, "
                          "e.g. \"1234.50\"");
    if (!json_is_integer(v))
        return quota_fail(err, "limit", "must be a decimal string or an integer");
    snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
    free(*out);
    *out = strdup(buf);
    return *out != NULL || quota_fail(err, "limit", "out of memory");
}

static bool quota_json_targets(json_t *arr, quota *q, quota_error *err)
{
    size_t i;
    json_t *t;

    if (!json_is_array(arr))
        return quota_fail(err, "targets", "must be an array of objects");
    if (json_array_size(arr) > QUOTA_MAX_TARGETS)
        return quota_fail(err, "targets", "at most %d targets", QUOTA_MAX_TARGETS);
    json_array_foreach(arr, i, t)
    {
        quota_target *qt = &q->targets[q->ntargets];
        const char *key;
        json_t *v;
        if (!json_is_object(t))
            return quota_fail(err, "targets", "target %zu must be an object", i);
        q->ntargets++;
        json_object_foreach(t, key, v)
        {
            char **slot = strcmp(key, "kind") == 0     ? &qt->kind
                          : strcmp(key, "url") == 0    ? &qt->url
                          : strcmp(key, "secret") == 0 ? &qt->secret
                                                       : NULL;
            if (!slot)
                return quota_fail(err, "targets", "target %zu: unknown key \"%.40s\"", i, key);
            if (!json_is_string(v))
                return quota_fail(err, "targets", "target %zu: %s must be a string", i, key);
            free(*slot);
            *slot = strdup(json_string_value(v));
        }
    }
    return true;
}

bool quota_from_json(json_t *obj, quota *q, quota_error *err)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj))
        return quota_fail(err, "", "the quota must be a JSON object");
    q->subject = strdup("");
    q->tz = strdup("UTC");
    memcpy(q->thresholds, QUOTA_DEFAULT_THRESHOLDS, sizeof(QUOTA_DEFAULT_THRESHOLDS));
    q->nthresholds = 3;
    json_object_foreach(obj, key, v)
    {
        bool ok = true;
        if (strcmp(key, "name") == 0) {
            ok = quota_json_str(v, key, &q->name, err);
        } else if (strcmp(key, "scope") == 0) {
            ok = quota_json_str(v, key, &q->scope, err);
        } else if (strcmp(key, "subject") == 0) {
            ok = quota_json_str(v, key, &q->subject, err);
        } else if (strcmp(key, "metric") == 0) {
            ok = quota_json_str(v, key, &q->metric, err);
        } else if (strcmp(key, "period") == 0) {
            ok = quota_json_str(v, key, &q->period, err);
        } else if (strcmp(key, "tz") == 0) {
            ok = quota_json_str(v, key, &q->tz, err);
        } else if (strcmp(key, "limit") == 0) {
            ok = quota_json_limit(v, &q->limit, err);
        } else if (strcmp(key, "forecast") == 0) {
            if (!json_is_boolean(v))
                return quota_fail(err, key, "must be true or false");
            q->forecast = json_is_true(v);
        } else if (strcmp(key, "thresholds") == 0) {
            size_t i;
            json_t *t;
            if (!json_is_array(v) || json_array_size(v) > QUOTA_MAX_THRESHOLDS)
                return quota_fail(err, key, "must be an array of 1 to %d integers",
                                  QUOTA_MAX_THRESHOLDS);
            q->nthresholds = 0;
            json_array_foreach(v, i, t)
            {
                if (!json_is_integer(t) || json_integer_value(t) < 1 ||
                    json_integer_value(t) > 1000)
                    return quota_fail(err, key, "entry %zu is not an integer from 1 to 1000", i);
                q->thresholds[q->nthresholds++] = (int)json_integer_value(t);
            }
        } else if (strcmp(key, "targets") == 0) {
            ok = quota_json_targets(v, q, err);
        } else if (strcmp(key, "id") == 0 || strcmp(key, "created_at") == 0 ||
                   strcmp(key, "updated_at") == 0) {
            /* read-only fields of a GET: a client may send back what it read */
        } else {
            return quota_fail(err, key, "unknown key");
        }
        if (!ok)
            return false;
    }
    return quota_validate(q, err);
}
