#include "alert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "backoff.h"
#include "db.h"
#include "log.h"
#include "rules.h"

#define ALERT_SECRET_MAX 4096

void alert_opts_from_cfg(const cfg *c, alert_opts *o)
{
    o->backoff_ms = (long)cfg_int(c, "alert_backoff_ms");
    o->backoff_max_ms = (long)cfg_int(c, "alert_backoff_max_ms");
    o->timeout_ms = (long)cfg_int(c, "alert_timeout_ms");
    o->deliveries = NULL;
}

bool alert_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("could not initialise libcurl");
        return false;
    }
    return true;
}

void alert_global_cleanup(void)
{
    curl_global_cleanup();
}

long alert_backoff_delay_ms(const alert_opts *o, int attempts)
{
    return backoff_delay_ms(o->backoff_ms, o->backoff_max_ms, attempts > 1 ? attempts - 1 : 0);
}

static bool alert_is_forecast(const alert_fact *f)
{
    return strcmp(f->threshold, "forecast") == 0;
}

char *alert_summary(const alert_fact *f)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    const char *unit = strcmp(f->metric, "cost_usd") == 0 ? " USD" : " tokens";

    if (!m)
        return NULL;
    fprintf(m, "quota \"%s\" (", f->quota);
    if (strcmp(f->scope, "everyone") == 0)
        fprintf(m, "everyone");
    else
        fprintf(m, "%s %s", f->scope, f->subject);
    fprintf(m, ", %s per %s in %s): ", strcmp(f->metric, "cost_usd") == 0 ? "cost" : "tokens",
            f->period, f->tz);
    if (alert_is_forecast(f))
        fprintf(m, "forecast to exceed the limit: %s%s projected against %s%s, %s%s used so far",
                f->forecast ? f->forecast : "?", unit, f->limit, unit, f->used, unit);
    else
        fprintf(m, "%s%% threshold reached: %s%s used of %s%s", f->threshold, f->used, unit,
                f->limit, unit);
    fprintf(m, " (period %s to %s)", f->period_start, f->period_end);
    fclose(m);
    return s;
}

static json_t *alert_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *alert_webhook_json(const alert_fact *f, const char *summary)
{
    json_t *root = json_object(), *q = json_object();

    json_object_set_new(root, "type", json_string("tally.quota_alert/1"));
    json_object_set_new(root, "alert_id", json_integer(strtoll(f->alert_id, NULL, 10)));
    json_object_set_new(q, "id", json_integer(strtoll(f->quota_id, NULL, 10)));
    json_object_set_new(q, "name", json_string(f->quota));
    json_object_set_new(q, "scope", json_string(f->scope));
    json_object_set_new(q, "subject", json_string(f->subject));
    json_object_set_new(q, "metric", json_string(f->metric));
    json_object_set_new(q, "period", json_string(f->period));
    json_object_set_new(q, "tz", json_string(f->tz));
    json_object_set_new(root, "quota", q);
    json_object_set_new(root, "threshold", json_string(f->threshold));
    json_object_set_new(root, "used", json_string(f->used));
    json_object_set_new(root, "limit", json_string(f->limit));
    json_object_set_new(root, "ratio", alert_str(f->ratio));
    json_object_set_new(root, "forecast", alert_str(f->forecast));
    json_object_set_new(root, "period_start", json_string(f->period_start));
    json_object_set_new(root, "period_end", json_string(f->period_end));
    json_object_set_new(root, "fired_at", json_string(f->fired_at));
    json_object_set_new(root, "summary", json_string(summary));
    return root;
}

static json_t *alert_mrkdwn(const char *label, const char *value)
{
    json_t *o = json_object();
    char buf[256];

    snprintf(buf, sizeof(buf), "*%s*\n%s", label, value ? value : "-");
    json_object_set_new(o, "type", json_string("mrkdwn"));
    json_object_set_new(o, "text", json_string(buf));
    return o;
}

static json_t *alert_slack_json(const alert_fact *f, const char *summary)
{
    json_t *root = json_object(), *blocks = json_array(), *b, *t, *fields;
    char title[160];

    if (alert_is_forecast(f))
        snprintf(title, sizeof(title), "Quota %.100s: forecast over the limit", f->quota);
    else
        snprintf(title, sizeof(title), "Quota %.100s: %s%% reached", f->quota, f->threshold);
    json_object_set_new(root, "text", json_string(summary));

    b = json_object();
    t = json_object();
    json_object_set_new(t, "type", json_string("plain_text"));
    json_object_set_new(t, "text", json_string(title));
    json_object_set_new(b, "type", json_string("header"));
    json_object_set_new(b, "text", t);
    json_array_append_new(blocks, b);

    b = json_object();
    t = json_object();
    json_object_set_new(t, "type", json_string("mrkdwn"));
    json_object_set_new(t, "text", json_string(summary));
    fields = json_array();
    json_array_append_new(fields, alert_mrkdwn("Used", f->used));
    json_array_append_new(fields, alert_mrkdwn("Limit", f->limit));
    json_array_append_new(fields, alert_mrkdwn("Ratio", f->ratio));
    json_array_append_new(fields, alert_mrkdwn("Forecast", f->forecast));
    json_object_set_new(b, "type", json_string("section"));
    json_object_set_new(b, "text", t);
    json_object_set_new(b, "fields", fields);
    json_array_append_new(blocks, b);

    json_object_set_new(root, "blocks", blocks);
    return root;
}

static json_t *alert_fact_pair(const char *name, const char *value)
{
    json_t *o = json_object();

    json_object_set_new(o, "title", json_string(name));
    json_object_set_new(o, "value", json_string(value ? value : "-"));
    return o;
}

static json_t *alert_text_block(const char *text, bool title, const char *color)
{
    json_t *b = json_object();

    json_object_set_new(b, "type", json_string("TextBlock"));
    json_object_set_new(b, "text", json_string(text));
    json_object_set_new(b, "wrap", json_true());
    if (title) {
        json_object_set_new(b, "size", json_string("Medium"));
        json_object_set_new(b, "weight", json_string("Bolder"));
        json_object_set_new(b, "color", json_string(color));
    }
    return b;
}

/*
 * Teams: an Adaptive Card in a "message" with one attachment, the payload both Teams
 * Workflows webhooks and the older incoming-webhook connectors accept (MessageCard is
 * connectors-only, and connectors are being retired).
 */
static json_t *alert_teams_json(const alert_fact *f, const char *summary)
{
    json_t *root = json_object(), *atts = json_array(), *att = json_object();
    json_t *card = json_object(), *body = json_array(), *factset = json_object();
    json_t *facts = json_array();
    char title[160];
    bool critical = !alert_is_forecast(f) && atoi(f->threshold) >= 100;

    snprintf(title, sizeof(title), "Quota %.100s: %s%s", f->quota,
             alert_is_forecast(f) ? "forecast over the limit" : f->threshold,
             alert_is_forecast(f) ? "" : "% reached");
    json_array_append_new(body, alert_text_block(title, true, critical ? "Attention" : "Warning"));
    json_array_append_new(body, alert_text_block(summary, false, NULL));
    json_array_append_new(facts, alert_fact_pair("Used", f->used));
    json_array_append_new(facts, alert_fact_pair("Limit", f->limit));
    json_array_append_new(facts, alert_fact_pair("Ratio", f->ratio));
    json_array_append_new(facts, alert_fact_pair("Forecast", f->forecast));
    json_array_append_new(facts, alert_fact_pair("Period start", f->period_start));
    json_array_append_new(facts, alert_fact_pair("Period end", f->period_end));
    json_object_set_new(factset, "type", json_string("FactSet"));
    json_object_set_new(factset, "facts", facts);
    json_array_append_new(body, factset);
    json_object_set_new(card, "$schema",
                        json_string("http://adaptivecards.io/schemas/adaptive-card.json"));
    json_object_set_new(card, "type", json_string("AdaptiveCard"));
    json_object_set_new(card, "version", json_string("1.4"));
    json_object_set_new(card, "body", body);
    json_object_set_new(att, "contentType", json_string("application/vnd.microsoft.card.adaptive"));
    json_object_set_new(att, "content", card);
    json_array_append_new(atts, att);
    json_object_set_new(root, "type", json_string("message"));
    json_object_set_new(root, "summary", json_string(title));
    json_object_set_new(root, "attachments", atts);
    return root;
}

/*
 * Alertmanager v2: one alert, active until the period ends (the threshold holds until
 * then), so Alertmanager neither resolves it after resolve_timeout nor needs re-sending.
 * Name and labels are those of the shipped Prometheus rules (dashboards/prometheus/
 * tally-rules.yml), so Alertmanager takes an alert from either source for the same one.
 */
static json_t *alert_alertmanager_json(const alert_fact *f, const char *summary)
{
    json_t *arr = json_array(), *a = json_object(), *labels = json_object();
    json_t *ann = json_object();
    const char *severity =
        alert_is_forecast(f) || atoi(f->threshold) < 100 ? "warning" : "critical";

    json_object_set_new(
        labels, "alertname",
        json_string(alert_is_forecast(f) ? "TallyQuotaForecastOverLimit" : "TallyQuotaThreshold"));
    json_object_set_new(labels, "quota", json_string(f->quota));
    json_object_set_new(labels, "scope", json_string(f->scope));
    if (f->subject[0]) /* an empty label is no label to Alertmanager */
        json_object_set_new(labels, "subject", json_string(f->subject));
    json_object_set_new(labels, "threshold", json_string(f->threshold));
    json_object_set_new(labels, "metric", json_string(f->metric));
    json_object_set_new(labels, "period", json_string(f->period));
    json_object_set_new(labels, "severity", json_string(severity));
    json_object_set_new(ann, "summary", json_string(summary));
    json_object_set_new(ann, "used", json_string(f->used));
    json_object_set_new(ann, "limit", json_string(f->limit));
    if (f->ratio)
        json_object_set_new(ann, "ratio", json_string(f->ratio));
    if (f->forecast)
        json_object_set_new(ann, "forecast", json_string(f->forecast));
    json_object_set_new(ann, "period_start", json_string(f->period_start));
    json_object_set_new(a, "labels", labels);
    json_object_set_new(a, "annotations", ann);
    json_object_set_new(a, "startsAt", json_string(f->fired_at));
    json_object_set_new(a, "endsAt", json_string(f->period_end));
    json_array_append_new(arr, a);
    return arr;
}

char *alert_payload(const char *kind, const alert_fact *f)
{
    char *summary = alert_summary(f);
    json_t *root = NULL;
    char *body = NULL;

    if (!summary)
        return NULL;
    if (strcmp(kind, "webhook") == 0)
        root = alert_webhook_json(f, summary);
    else if (strcmp(kind, "slack") == 0)
        root = alert_slack_json(f, summary);
    else if (strcmp(kind, "teams") == 0)
        root = alert_teams_json(f, summary);
    else if (strcmp(kind, "alertmanager") == 0)
        root = alert_alertmanager_json(f, summary);
    if (root)
        body = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    free(summary);
    return body;
}

void alert_sign(const void *key, size_t keylen, const char *body, size_t len,
                char out[ALERT_SIGNATURE_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)body, len, md, &mdlen);
    memcpy(out, "sha256=", 7);
    for (unsigned int i = 0; i < mdlen && i < 32; i++) {
        out[7 + 2 * i] = digits[md[i] >> 4];
        out[7 + 2 * i + 1] = digits[md[i] & 15];
    }
    out[ALERT_SIGNATURE_LEN] = '\0';
}

char *alert_secret_load(const char *ref, size_t *len)
{
    char *key = NULL;

    /* rows stored before the reference rules were enforced are checked again here */
    if (!quota_secret_ref_valid(ref))
        return NULL;
    if (strncmp(ref, "env:", 4) == 0) {
        const char *v = getenv(ref + 4);
        if (v && *v)
            key = strdup(v);
    } else if (strncmp(ref, "file:", 5) == 0) {
        FILE *f = fopen(ref + 5, "rb");
        if (f) {
            key = calloc(1, ALERT_SECRET_MAX + 1);
            if (key)
                key[fread(key, 1, ALERT_SECRET_MAX, f)] = '\0';
            fclose(f);
        }
    }
    if (!key)
        return NULL;
    *len = strlen(key);
    while (*len > 0 && (key[*len - 1] == '\n' || key[*len - 1] == '\r'))
        key[--*len] = '\0';
    if (*len == 0) {
        free(key);
        return NULL;
    }
    return key;
}

static size_t alert_discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/*
 * POSTs body to url. Returns the HTTP status (0 when no response came back, with
 * curl's generic error text, which never holds the URL, in err).
 */
static long alert_post(const char *url, const char *body, const char *signature,
                       const char *delivery_id, long timeout_ms, char *err, size_t errlen)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    char line[128];
    long status = 0;
    CURLcode rc;

    if (!curl) {
        snprintf(err, errlen, "could not create a curl handle");
        return 0;
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    snprintf(line, sizeof(line), "X-Tally-Delivery: %s", delivery_id);
    headers = curl_slist_append(headers, line);
    if (signature) {
        snprintf(line, sizeof(line), "X-Tally-Signature: %s", signature);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tokentally/" TALLY_VERSION);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, alert_discard);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

/* Alertmanager's URL is its base; the API path is added unless already there. */
static char *alert_target_url(const char *kind, const char *url)
{
    static const char api[] = "/api/v2/alerts";
    size_t n = strlen(url);
    char *out;

    if (strcmp(kind, "alertmanager") != 0 ||
        (n >= sizeof(api) - 1 && strcmp(url + n - (sizeof(api) - 1), api) == 0))
        return strdup(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    out = malloc(n + sizeof(api));
    if (out) {
        memcpy(out, url, n);
        memcpy(out + n, api, sizeof(api));
    }
    return out;
}

static const char ALERT_CLAIM_SQL[] =
    "SELECT o.id, o.kind, o.url, o.secret_ref, o.attempts,"
    "       a.id, q.id, q.name, q.scope, q.subject, q.metric, q.period, q.tz, a.threshold,"
    "       a.used::text, a.limit_value::text, a.ratio::text, a.forecast::text,"
    "       tally_iso_utc(a.period_start), tally_iso_utc(coalesce(a.period_end, a.fired_at)),"
    "       tally_iso_utc(a.fired_at), o.target_index"
    "  FROM alert_outbox o JOIN alert_log a ON a.id = o.alert_id JOIN quotas q ON q.id = a.quota_id"
    " WHERE o.state = 'pending' AND o.next_attempt_at <= $1::timestamptz"
    " ORDER BY o.next_attempt_at, o.id LIMIT 1"
    "   FOR UPDATE OF o SKIP LOCKED";

/* the delay runs from the end of the attempt (clock_timestamp), not from its start */
static const char ALERT_RESULT_SQL[] =
    "UPDATE alert_outbox SET state = $2, attempts = attempts + 1, last_status = $3::integer,"
    "       last_error = $4,"
    "       next_attempt_at = CASE WHEN $2 <> 'pending' THEN next_attempt_at"
    "            ELSE clock_timestamp() + $5::bigint * interval '1 millisecond' END,"
    "       delivered_at = CASE WHEN $2 = 'delivered' THEN clock_timestamp() END"
    " WHERE id = $1::bigint";

static const char *alert_col(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

/* Posts one claimed row; fills the new state, status and error. */
static void alert_send(PGresult *row, const alert_opts *o, const char **state, long *status,
                       char *err, size_t errlen)
{
    const char *id = PQgetvalue(row, 0, 0), *kind = PQgetvalue(row, 0, 1);
    const char *secret_ref = alert_col(row, 3);
    alert_fact f = {
        .alert_id = PQgetvalue(row, 0, 5),
        .quota_id = PQgetvalue(row, 0, 6),
        .quota = PQgetvalue(row, 0, 7),
        .scope = PQgetvalue(row, 0, 8),
        .subject = PQgetvalue(row, 0, 9),
        .metric = PQgetvalue(row, 0, 10),
        .period = PQgetvalue(row, 0, 11),
        .tz = PQgetvalue(row, 0, 12),
        .threshold = PQgetvalue(row, 0, 13),
        .used = PQgetvalue(row, 0, 14),
        .limit = PQgetvalue(row, 0, 15),
        .ratio = alert_col(row, 16),
        .forecast = alert_col(row, 17),
        .period_start = PQgetvalue(row, 0, 18),
        .period_end = PQgetvalue(row, 0, 19),
        .fired_at = PQgetvalue(row, 0, 20),
    };
    char *body = alert_payload(kind, &f);
    char *url = alert_target_url(kind, PQgetvalue(row, 0, 2));
    char signature[ALERT_SIGNATURE_LEN + 1];
    char *key = NULL;
    size_t keylen = 0;

    *state = "pending";
    *status = 0;
    if (!body || !url) {
        snprintf(err, errlen, "could not build the request");
        goto out;
    }
    if (secret_ref) {
        key = alert_secret_load(secret_ref, &keylen);
        if (!key) {
            /* neither the key nor the reference: whether a file exists is not for the
             * quota's author to learn */
            snprintf(err, errlen, "could not read the signing key of target %s",
                     PQgetvalue(row, 0, 21));
            goto out;
        }
        alert_sign(key, keylen, body, strlen(body), signature);
    }
    *status = alert_post(url, body, key ? signature : NULL, id, o->timeout_ms, err, errlen);
    if (*status >= 200 && *status < 300) {
        *state = "delivered";
        err[0] = '\0';
    } else if (*status != 0) {
        snprintf(err, errlen, "HTTP status %ld", *status);
        if (*status < 500 && *status != 408 && *status != 429)
            *state = "failed";
    }
out:
    if (key) {
        memset(key, 0, keylen);
        free(key);
    }
    free(url);
    free(body);
}

/*
 * Claims and delivers one row due at pass_start: 1 done, 0 none due, -1 database error.
 * Rows retried during the pass are due after pass_start, so a pass always ends.
 */
static int alert_deliver_one(PGconn *conn, const alert_opts *o, const char *pass_start,
                             alert_counts *counts)
{
    PGresult *row = NULL;
    const char *state = "pending";
    long status = 0;
    char err[256] = "", statusbuf[16], delaybuf[24];
    int attempts, rc = -1;

    if (!db_begin(conn))
        return -1;
    row = db_query(conn, "claim an alert delivery", ALERT_CLAIM_SQL, 1, &pass_start);
    if (!row)
        goto out;
    if (PQntuples(row) == 0) {
        rc = db_commit(conn) ? 0 : -1;
        goto out;
    }
    attempts = atoi(PQgetvalue(row, 0, 4)) + 1;
    alert_send(row, o, &state, &status, err, sizeof(err));
    snprintf(statusbuf, sizeof(statusbuf), "%ld", status);
    snprintf(delaybuf, sizeof(delaybuf), "%ld", alert_backoff_delay_ms(o, attempts));
    {
        const char *params[5] = {PQgetvalue(row, 0, 0), state, status ? statusbuf : NULL,
                                 err[0] ? err : NULL, delaybuf};
        if (!db_exec(conn, "record an alert delivery", ALERT_RESULT_SQL, 5, params))
            goto out;
    }
    if (!db_commit(conn))
        goto out;
    /* the target by its position in the quota, the delivery by its outbox id: never the URL */
    if (strcmp(state, "delivered") == 0) {
        counts->delivered++;
        log_info("delivered alert %s to target %s (%s, delivery %s) after %d attempt(s)",
                 PQgetvalue(row, 0, 5), PQgetvalue(row, 0, 21), PQgetvalue(row, 0, 1),
                 PQgetvalue(row, 0, 0), attempts);
    } else if (strcmp(state, "failed") == 0) {
        counts->failed++;
        log_error("could not deliver alert %s to target %s (%s, delivery %s): %s; giving up",
                  PQgetvalue(row, 0, 5), PQgetvalue(row, 0, 21), PQgetvalue(row, 0, 1),
                  PQgetvalue(row, 0, 0), err);
    } else {
        counts->retrying++;
        log_warn("could not deliver alert %s to target %s (%s, delivery %s), attempt %d: %s; "
                 "retrying in %s ms",
                 PQgetvalue(row, 0, 5), PQgetvalue(row, 0, 21), PQgetvalue(row, 0, 1),
                 PQgetvalue(row, 0, 0), attempts, err, delaybuf);
    }
    if (o->deliveries) {
        const char *labels[2] = {PQgetvalue(row, 0, 1), state};
        prom_counter_add(o->deliveries, labels, 1);
    }
    rc = 1;
out:
    if (rc < 0)
        db_rollback(conn);
    PQclear(row);
    return rc;
}

bool alert_deliver_due(PGconn *conn, const alert_opts *o, alert_counts *counts,
                       volatile sig_atomic_t *stop)
{
    PGresult *res = db_query(conn, "read the clock", "SELECT now()::text", 0, NULL);
    char pass_start[64];
    int rc;

    if (!res)
        return false;
    snprintf(pass_start, sizeof(pass_start), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    do {
        if (stop && *stop)
            return true;
        rc = alert_deliver_one(conn, o, pass_start, counts);
    } while (rc > 0);
    return rc == 0;
}
