/*
 * tallyctl quotas … and alerts …: quota administration, and the evaluator and the
 * delivery run once from the command line (cron, tests, a server-less setup).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alert.h"
#include "ctl.h"
#include "db.h"
#include "evaluator.h"
#include "log.h"
#include "store.h"

/*
 * The words of `quotas create` as a quota JSON object: key=value for the string keys,
 * thresholds=50,80,100, forecast=true|false, target=KIND,URL[,SECRET-REF] (repeatable),
 * or targets=JSON. Returns NULL after printing the offending word.
 */
static json_t *ctl_quota_words(char **args, int nargs)
{
    json_t *obj = json_object(), *targets = json_array();

    for (int i = 0; i < nargs; i++) {
        char *eq = strchr(args[i], '=');
        const char *val;
        char key[32];
        if (!eq || eq == args[i] || (size_t)(eq - args[i]) >= sizeof(key)) {
            fprintf(stderr, "tallyctl: expected key=value, got \"%s\"\n", args[i]);
            goto fail;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - args[i]), args[i]);
        val = eq + 1;
        if (strcmp(key, "thresholds") == 0) {
            json_t *arr = json_array();
            char *end;
            for (const char *p = val; *p; p = *end ? end + 1 : end) {
                long t = strtol(p, &end, 10);
                if (end == p || (*end && *end != ',')) {
                    fprintf(stderr, "tallyctl: thresholds must be integers separated by commas\n");
                    json_decref(arr);
                    goto fail;
                }
                json_array_append_new(arr, json_integer(t));
            }
            json_object_set_new(obj, key, arr);
        } else if (strcmp(key, "forecast") == 0) {
            if (strcmp(val, "true") != 0 && strcmp(val, "false") != 0) {
                fprintf(stderr, "tallyctl: forecast must be true or false\n");
                goto fail;
            }
            json_object_set_new(obj, key, json_boolean(strcmp(val, "true") == 0));
        } else if (strcmp(key, "target") == 0) {
            /* KIND,URL[,SECRET]: URLs hold commas only in query strings, secrets never */
            const char *c1 = strchr(val, ',');
            const char *c2 = c1 ? strrchr(c1 + 1, ',') : NULL;
            json_t *t = json_object();
            if (!c1) {
                fprintf(stderr, "tallyctl: target must be KIND,URL[,SECRET-REF]\n");
                json_decref(t);
                goto fail;
            }
            if (c2 && strncmp(c2 + 1, "env:", 4) != 0 && strncmp(c2 + 1, "file:", 5) != 0)
                c2 = NULL;
            json_object_set_new(t, "kind", json_stringn(val, (size_t)(c1 - val)));
            json_object_set_new(
                t, "url", c2 ? json_stringn(c1 + 1, (size_t)(c2 - c1 - 1)) : json_string(c1 + 1));
            if (c2)
                json_object_set_new(t, "secret", json_string(c2 + 1));
            json_array_append_new(targets, t);
        } else if (strcmp(key, "targets") == 0) {
            json_error_t jerr;
            json_t *arr = json_loads(val, 0, &jerr);
            if (!json_is_array(arr)) {
                fprintf(stderr, "tallyctl: targets must be a JSON array\n");
                json_decref(arr);
                goto fail;
            }
            json_array_extend(targets, arr);
            json_decref(arr);
        } else {
            json_object_set_new(obj, key, json_string(val));
        }
    }
    json_object_set_new(obj, "targets", targets);
    return obj;
fail:
    json_decref(targets);
    json_decref(obj);
    return NULL;
}

static int ctl_quota_refused(const char *what, quota_status st, const quota_error *err)
{
    if (st == QUOTA_DB_ERROR)
        return CFG_EXIT_RUNTIME;
    if (st == QUOTA_NOT_FOUND) {
        fprintf(stderr, "tallyctl: no such quota\n");
        return CFG_EXIT_RUNTIME;
    }
    fprintf(stderr, "tallyctl: could not %s: %s%s%s\n", what, err->field, err->field[0] ? ": " : "",
            err->message);
    return st == QUOTA_CONFLICT ? CFG_EXIT_RUNTIME : CFG_EXIT_USAGE;
}

int ctl_quotas_create(const cfg *c)
{
    json_t *obj = ctl_quota_words(c->args, c->nargs);
    quota q = {0};
    quota_error err = {{0}, {0}};
    quota_status st;
    PGconn *conn = NULL;
    long id = 0;
    int rc;

    if (!obj)
        return CFG_EXIT_USAGE;
    if (!quota_from_json(obj, &q, &err)) {
        rc = ctl_quota_refused("create the quota", QUOTA_INVALID, &err);
        goto out;
    }
    conn = ctl_connect(c);
    if (!conn) {
        rc = CFG_EXIT_RUNTIME;
        goto out;
    }
    st = quota_create(conn, &q, &id, &err);
    if (st != QUOTA_OK) {
        rc = ctl_quota_refused("create the quota", st, &err);
        goto out;
    }
    printf("quota %ld created\n", id);
    rc = CFG_EXIT_OK;
out:
    PQfinish(conn);
    quota_cleanup(&q);
    json_decref(obj);
    return rc;
}

int ctl_quotas_delete(const cfg *c)
{
    PGconn *conn;
    long id;
    int rc = CFG_EXIT_RUNTIME;

    if (c->nargs != 1) {
        fprintf(stderr, "usage: tallyctl quotas delete ID|NAME\n");
        return CFG_EXIT_USAGE;
    }
    conn = ctl_connect(c);
    if (!conn)
        return CFG_EXIT_RUNTIME;
    id = quota_lookup(conn, c->args[0]);
    if (id == 0)
        fprintf(stderr, "tallyctl: no quota \"%s\"\n", c->args[0]);
    else if (id > 0 && quota_delete(conn, id) == QUOTA_OK) {
        printf("quota %ld deleted\n", id);
        rc = CFG_EXIT_OK;
    }
    PQfinish(conn);
    return rc;
}

/* False (after saying so) when --now is given and is not an instant Postgres reads. */
static bool ctl_now_valid(const cfg *c, PGconn *conn)
{
    const char *params[1] = {cfg_str(c, "now")};
    PGresult *res;

    if (!params[0])
        return true;
    res = PQexecParams(conn, "SELECT $1::timestamptz", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        PQclear(res);
        return true;
    }
    PQclear(res);
    fprintf(stderr, "tallyctl: invalid value for \"now\": expected a timestamp\n");
    return false;
}

/* Runs a query (with the optional --now as $1 when with_now) and prints it as TSV. */
static int ctl_quotas_print(const cfg *c, const char *usage, const char *what, const char *sql,
                            bool with_now)
{
    const char *params[1] = {cfg_str(c, "now")};
    PGconn *conn;
    PGresult *res;

    if (c->nargs != 0) {
        fprintf(stderr, "usage: tallyctl %s\n", usage);
        return CFG_EXIT_USAGE;
    }
    conn = ctl_connect_utc(c);
    if (!conn)
        return CFG_EXIT_RUNTIME;
    if (with_now && !ctl_now_valid(c, conn)) {
        PQfinish(conn);
        return CFG_EXIT_USAGE;
    }
    res = db_query(conn, what, sql, with_now ? 1 : 0, with_now ? params : NULL);
    if (res)
        ctl_print_tsv(res);
    PQclear(res);
    PQfinish(conn);
    return res ? CFG_EXIT_OK : CFG_EXIT_RUNTIME;
}

int ctl_quotas_list(const cfg *c)
{
    return ctl_quotas_print(
        c, "quotas list", "list quotas",
        "SELECT id, name, scope, subject, metric, period, tz, limit_value AS limit,"
        "       array_to_string(thresholds, ',') AS thresholds, forecast,"
        "       (SELECT coalesce(string_agg(t->>'kind', ',' ORDER BY i), '')"
        "          FROM jsonb_array_elements(targets) WITH ORDINALITY AS x(t, i)) AS targets"
        "  FROM quotas ORDER BY id",
        false);
}

int ctl_quotas_status(const cfg *c)
{
    return ctl_quotas_print(c, "quotas status [--now TIMESTAMP]", "read quota status",
                            "SELECT q.id, q.name, u.period_start, u.period_end, u.used,"
                            "       u.limit_value AS limit, u.ratio, u.forecast, u.unpriced_tokens"
                            "  FROM tally_quota_usage_all(coalesce($1::timestamptz, now())) u"
                            "  JOIN quotas q ON q.id = u.quota_id"
                            " ORDER BY q.id",
                            true);
}

int ctl_quotas_evaluate(const cfg *c)
{
    evaluator_counts n = {0};
    PGconn *conn;
    bool ok;

    if (c->nargs != 0) {
        fprintf(stderr, "usage: tallyctl quotas evaluate [--now TIMESTAMP]\n");
        return CFG_EXIT_USAGE;
    }
    conn = ctl_connect(c);
    if (!conn)
        return CFG_EXIT_RUNTIME;
    if (!ctl_now_valid(c, conn)) {
        PQfinish(conn);
        return CFG_EXIT_USAGE;
    }
    ok = evaluator_run_once(conn, cfg_str(c, "now"), NULL, &n);
    PQfinish(conn);
    printf("quotas %d fired %d queued %d errors %d\n", n.quotas, n.fired, n.queued, n.errors);
    return ok && n.errors == 0 ? CFG_EXIT_OK : CFG_EXIT_RUNTIME;
}

int ctl_alerts_deliver(const cfg *c)
{
    alert_counts n = {0};
    alert_opts o;
    PGconn *conn;
    PGresult *res = NULL;
    bool ok;

    if (c->nargs != 0) {
        fprintf(stderr, "usage: tallyctl alerts deliver\n");
        return CFG_EXIT_USAGE;
    }
    alert_opts_from_cfg(c, &o);
    if (!alert_global_init())
        return CFG_EXIT_RUNTIME;
    conn = ctl_connect(c);
    if (!conn) {
        alert_global_cleanup();
        return CFG_EXIT_RUNTIME;
    }
    ok = alert_deliver_due(conn, &o, &n, NULL);
    if (ok)
        res = db_query(conn, "count pending deliveries",
                       "SELECT count(*) FROM alert_outbox WHERE state = 'pending'", 0, NULL);
    printf("delivered %d retrying %d failed %d pending %s\n", n.delivered, n.retrying, n.failed,
           res ? PQgetvalue(res, 0, 0) : "?");
    PQclear(res);
    PQfinish(conn);
    alert_global_cleanup();
    return ok && res ? CFG_EXIT_OK : CFG_EXIT_RUNTIME;
}

int ctl_alerts_list(const cfg *c)
{
    return ctl_quotas_print(
        c, "alerts list", "list alerts",
        "SELECT a.id, q.name AS quota, a.period_start, a.threshold, a.used,"
        "       a.limit_value AS limit, a.fired_at, o.id AS delivery, o.kind, o.state,"
        "       o.attempts, o.last_status, o.last_error"
        "  FROM alert_log a JOIN quotas q ON q.id = a.quota_id"
        "  LEFT JOIN alert_outbox o ON o.alert_id = a.id"
        " ORDER BY a.id, o.target_index",
        false);
}
