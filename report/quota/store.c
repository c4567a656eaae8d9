#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

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
