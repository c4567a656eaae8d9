#include "quota.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

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

static bool quota_fail(quota_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool quota_fail(quota_error *err, const char *field, const char *fmt, ...)
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

/* The targets of q as the JSON text stored in quotas.targets; the caller frees it. */
static char *quota_targets_text(const quota *q)
{
    json_t *arr = json_array();
    char *text;

    for (int i = 0; i < q->ntargets; i++) {
        json_t *t = json_object();
        json_object_set_new(t, "kind", json_string(q->targets[i].kind));
        json_object_set_new(t, "url", json_string(q->targets[i].url));
        if (q->targets[i].secret)
            json_object_set_new(t, "secret", json_string(q->targets[i].secret));
        json_array_append_new(arr, t);
    }
    text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

static void quota_thresholds_text(const quota *q, char *buf, size_t len)
{
    size_t off = 0;

    off += (size_t)snprintf(buf, len, "{");
    for (int i = 0; i < q->nthresholds && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%d", i ? "," : "", q->thresholds[i]);
    if (off < len)
        snprintf(buf + off, len - off, "}");
}

/*
 * Runs an INSERT/UPDATE of a quota and maps the outcome: a duplicate name is a conflict,
 * no row means the zone (or, for an update, the quota) was not found.
 */
static quota_status quota_write(PGconn *conn, const char *what, const char *sql, const quota *q,
                                const char *id_param, long *id, quota_error *err)
{
    char thresholds[QUOTA_MAX_THRESHOLDS * 6 + 3];
    char *targets = quota_targets_text(q);
    const char *params[11] = {q->name,   q->scope,   q->subject,
                              q->metric, q->period,  q->tz,
                              q->limit,  thresholds, q->forecast ? "true" : "false",
                              targets,   id_param};
    PGresult *res;
    quota_status st = QUOTA_OK;
    const char *state;

    quota_thresholds_text(q, thresholds, sizeof(thresholds));
    res = PQexecParams(conn, sql, id_param ? 11 : 10, NULL, params, NULL, NULL, 0);
    free(targets);
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
            st = QUOTA_INVALID;
            quota_fail(err, "tz", "unknown time zone \"%.64s\"", q->tz);
        } else if (PQgetisnull(res, 0, 0)) {
            st = QUOTA_NOT_FOUND;
        } else if (id) {
            *id = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        }
    } else if (state && strcmp(state, "23505") == 0) {
        st = QUOTA_CONFLICT;
        quota_fail(err, "name", "a quota named \"%s\" exists", q->name);
    } else if (state && strncmp(state, "23", 2) == 0) {
        st = QUOTA_INVALID;
        quota_fail(err, "", "refused by the database: %s",
                   PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    } else {
        st = QUOTA_DB_ERROR;
        log_error("could not %s: %s", what, db_error(conn));
    }
    PQclear(res);
    return st;
}

/* The zone is checked against the database's zone list in the same statement. */
#define QUOTA_TZ_KNOWN "EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $6)"

quota_status quota_create(PGconn *conn, const quota *q, long *id, quota_error *err)
{
    static const char sql[] =
        "WITH ins AS (INSERT INTO quotas (name, scope, subject, metric, period, tz, limit_value,"
        "                                 thresholds, forecast, targets)"
        " SELECT $1, $2, $3, $4, $5, $6, $7::numeric, $8::integer[], $9::boolean, $10::jsonb"
        "  WHERE " QUOTA_TZ_KNOWN " RETURNING id)"
        " SELECT (SELECT id FROM ins), " QUOTA_TZ_KNOWN;

    return quota_write(conn, "create quota", sql, q, NULL, id, err);
}

quota_status quota_update(PGconn *conn, long id, const quota *q, quota_error *err)
{
    static const char sql[] =
        "WITH upd AS (UPDATE quotas SET name = $1, scope = $2, subject = $3, metric = $4,"
        "   period = $5, tz = $6, limit_value = $7::numeric, thresholds = $8::integer[],"
        "   forecast = $9::boolean, targets = $10::jsonb, updated_at = now()"
        " WHERE id = $11::integer AND " QUOTA_TZ_KNOWN " RETURNING id)"
        " SELECT (SELECT id FROM upd), " QUOTA_TZ_KNOWN;
    char idbuf[24];

    snprintf(idbuf, sizeof(idbuf), "%ld", id);
    return quota_write(conn, "update quota", sql, q, idbuf, NULL, err);
}

quota_status quota_delete(PGconn *conn, long id)
{
    char idbuf[24];
    const char *params[1] = {idbuf};
    PGresult *res;
    quota_status st;

    snprintf(idbuf, sizeof(idbuf), "%ld", id);
    res = db_query(conn, "delete quota", "DELETE FROM quotas WHERE id = $1::integer", 1, params);
    if (!res)
        return QUOTA_DB_ERROR;
    st = strcmp(PQcmdTuples(res), "0") == 0 ? QUOTA_NOT_FOUND : QUOTA_OK;
    PQclear(res);
    return st;
}

/* Runs a query returning one JSON text (or NULL) and parses it. */
static json_t *quota_json_query(PGconn *conn, const char *what, const char *sql, int n,
                                const char *const *params, bool *null)
{
    PGresult *res = db_query(conn, what, sql, n, params);
    json_t *out = NULL;
    json_error_t jerr;

    *null = false;
    if (!res)
        return NULL;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        *null = true;
    } else {
        out = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
        if (!out)
            log_error("could not %s: bad JSON from the database: %s", what, jerr.text);
    }
    PQclear(res);
    return out;
}

#define QUOTA_JSON_COLUMNS                                                                         \
    "json_build_object('id', q.id, 'name', q.name, 'scope', q.scope, 'subject', q.subject,"        \
    " 'metric', q.metric, 'period', q.period, 'tz', q.tz, 'limit', q.limit_value::text,"           \
    " 'thresholds', q.thresholds, 'forecast', q.forecast, 'targets', q.targets,"                   \
    " 'created_at', tally_iso_utc(q.created_at), 'updated_at', tally_iso_utc(q.updated_at))"

json_t *quota_get(PGconn *conn, long id, quota_status *st)
{
    char idbuf[24];
    const char *params[1] = {idbuf};
    bool null;
    json_t *out;

    snprintf(idbuf, sizeof(idbuf), "%ld", id);
    out = quota_json_query(conn, "read quota",
                           "SELECT " QUOTA_JSON_COLUMNS
                           "::text FROM quotas q WHERE q.id = $1::integer",
                           1, params, &null);
    *st = out ? QUOTA_OK : null ? QUOTA_NOT_FOUND : QUOTA_DB_ERROR;
    return out;
}

json_t *quota_list(PGconn *conn)
{
    bool null;

    return quota_json_query(conn, "list quotas",
                            "SELECT coalesce(json_agg(" QUOTA_JSON_COLUMNS " ORDER BY q.id), '[]')"
                            "::text FROM quotas q",
                            0, NULL, &null);
}

long quota_lookup(PGconn *conn, const char *id_or_name)
{
    const char *params[1] = {id_or_name};
    PGresult *res;
    long id = 0;

    res = db_query(conn, "look up quota",
                   "SELECT id FROM quotas WHERE name = $1"
                   " OR ($1 ~ '^[0-9]{1,9}$' AND id = $1::integer)",
                   1, params);
    if (!res)
        return -1;
    if (PQntuples(res) == 1)
        id = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return id;
}

json_t *quota_status_list(PGconn *conn, const quota_scope *scope, const char *at)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(json_build_object("
        "   'id', q.id, 'name', q.name, 'scope', q.scope, 'subject', q.subject,"
        "   'metric', q.metric, 'period', q.period, 'tz', q.tz,"
        "   'period_start', tally_iso_utc(u.period_start),"
        "   'period_end', tally_iso_utc(u.period_end),"
        "   'used', u.used::text, 'limit', u.limit_value::text, 'ratio', u.ratio::text,"
        "   'forecast', u.forecast::text, 'forecast_enabled', q.forecast,"
        "   'unpriced_tokens', u.unpriced_tokens, 'thresholds', q.thresholds,"
        "   'fired', (SELECT coalesce(json_agg(a.threshold ORDER BY a.fired_at, a.id), '[]')"
        "               FROM alert_log a"
        "              WHERE a.quota_id = q.id AND a.period_start = u.period_start),"
        "   'deliveries', (SELECT json_build_object("
        "        'pending', count(*) FILTER (WHERE o.state = 'pending'),"
        "        'delivered', count(*) FILTER (WHERE o.state = 'delivered'),"
        "        'failed', count(*) FILTER (WHERE o.state = 'failed'))"
        "      FROM alert_outbox o JOIN alert_log a ON a.id = o.alert_id"
        "     WHERE a.quota_id = q.id AND a.period_start = u.period_start)"
        " ) ORDER BY q.id), '[]')::text"
        "  FROM tally_quota_usage_all(coalesce($4::timestamptz, now())) u"
        "  JOIN quotas q ON q.id = u.quota_id"
        " WHERE $1::boolean"
        "    OR (q.scope = 'developer' AND q.subject = $3)"
        "    OR (q.scope = 'team' AND q.subject = $2)"
        "    OR (q.scope = 'developer' AND EXISTS ("
        "          SELECT 1 FROM developers d WHERE d.oid = q.subject AND d.team = $2"
        "             AND d.valid_from <= now() AND now() < d.valid_to))";
    const char *params[4] = {scope->all ? "true" : "false", scope->team, scope->developer, at};
    bool null;

    return quota_json_query(conn, "read quota status", sql, 4, params, &null);
}

json_t *quota_alerts(PGconn *conn, long id, int limit)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(x.j ORDER BY x.fired_at DESC, x.id DESC), '[]')::text FROM ("
        " SELECT a.id, a.fired_at, json_build_object("
        "   'id', a.id, 'threshold', a.threshold,"
        "   'period_start', tally_iso_utc(a.period_start),"
        "   'period_end', tally_iso_utc(a.period_end),"
        "   'used', a.used::text, 'limit', a.limit_value::text, 'ratio', a.ratio::text,"
        "   'forecast', a.forecast::text, 'fired_at', tally_iso_utc(a.fired_at),"
        "   'deliveries', (SELECT coalesce(json_agg(json_build_object("
        "        'id', o.id, 'target', o.target_index, 'kind', o.kind, 'state', o.state,"
        "        'attempts', o.attempts, 'next_attempt_at', tally_iso_utc(o.next_attempt_at),"
        "        'last_status', o.last_status, 'last_error', o.last_error,"
        "        'delivered_at', tally_iso_utc(o.delivered_at)) ORDER BY o.target_index), '[]')"
        "      FROM alert_outbox o WHERE o.alert_id = a.id)) AS j"
        "  FROM alert_log a WHERE a.quota_id = $1::integer"
        "  ORDER BY a.fired_at DESC, a.id DESC LIMIT $2::integer) x";
    char idbuf[24], limbuf[24];
    const char *params[2] = {idbuf, limbuf};
    bool null;

    snprintf(idbuf, sizeof(idbuf), "%ld", id);
    snprintf(limbuf, sizeof(limbuf), "%d", limit);
    return quota_json_query(conn, "read alert log", sql, 2, params, &null);
}
