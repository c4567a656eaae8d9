/* health.c - /healthz (the process answers), /readyz (database and schema), /metrics. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "routes.h"

void route_healthz(http_req *req)
{
    http_reply_text(req, 200, "application/json", "{\"status\":\"ok\"}\n", 16);
}

void route_readyz(http_req *req)
{
    PGconn *conn = http_db_try(req);
    bool current = false;

    if (!conn) {
        http_reply_problem(req, 503, NULL, "the database is unreachable");
        return;
    }
    if (migrate_check(conn, &current) != MIGRATE_OK) {
        http_reply_problem(req, 503, NULL, "could not check the schema migrations");
        return;
    }
    if (!current) {
        http_reply_problem(req, 503, NULL,
                           "the database schema is not current: run tallyctl migrate");
        return;
    }
    http_reply_text(req, 200, "application/json", "{\"status\":\"ready\"}\n", 19);
}

static pthread_once_t route_metrics_once = PTHREAD_ONCE_INIT;
static prom_metric *route_unpriced_gauge;
static prom_metric *route_unpriced_combinations_gauge;
static prom_metric *route_recon_days_gauge;
static prom_metric *route_recon_delta_gauge;
static prom_registry *route_metrics_reg;

static void route_metrics_init(void)
{
    route_unpriced_gauge = prom_gauge(
        route_metrics_reg, "tally_unpriced_requests",
        "requests of the current UTC month that the newest price book cannot price", NULL);
    route_unpriced_combinations_gauge =
        prom_gauge(route_metrics_reg, "tally_unpriced_combinations",
                   "model x speed x residency combinations of the current UTC month's usage that "
                   "the newest price book cannot price (tallyctl prices check lists them)",
                   NULL);
    route_recon_days_gauge = prom_gauge(
        route_metrics_reg, "tally_reconciliation_days_outside_tolerance",
        "UTC days of the newest billing month imported whose Azure bill differs from the "
        "metered cost by more than reconcile_tolerance_pct (GET /v1/reconciliation)",
        "month,resource_id");
    route_recon_delta_gauge = prom_gauge(
        route_metrics_reg, "tally_reconciliation_delta_percent",
        "(billed - metered) / metered x 100 over the billed days of the newest billing month "
        "imported (a ratio, rounded to 4 places; absent when nothing was metered)",
        "month,resource_id");
}

/* Refreshes the unpriced gauges, both the engine's judgement (tally_unpriced: requests;
 * tally_prices_check: combinations); a database that is down leaves the last values. */
static void route_metrics_unpriced(http_req *req)
{
    PGconn *conn = http_db_try(req);
    PGresult *res;

    if (!conn)
        return;
    res = db_query(conn, "count unpriced usage",
                   "WITH m AS (SELECT date_trunc('month', now(), 'UTC') AS lo) "
                   "SELECT (SELECT coalesce(sum(requests), 0) "
                   "          FROM m, tally_unpriced(m.lo, m.lo + interval '1 month')), "
                   "       (SELECT count(*) FROM (SELECT DISTINCT c.model, c.speed, c.residency "
                   "          FROM m, tally_prices_check(tally_book(NULL), "
                   "               (m.lo AT TIME ZONE 'UTC')::date, "
                   "               (m.lo AT TIME ZONE 'UTC' + interval '1 month')::date) c) x)",
                   0, NULL);
    if (!res)
        return;
    prom_gauge_set(route_unpriced_gauge, NULL, strtod(PQgetvalue(res, 0, 0), NULL));
    prom_gauge_set(route_unpriced_combinations_gauge, NULL, strtod(PQgetvalue(res, 0, 1), NULL));
    PQclear(res);
}

/* Refreshes the reconciliation gauges from the newest billing month imported; the series of
 * an older month are dropped. A database that is down leaves the last values. */
static void route_metrics_reconciliation(http_req *req)
{
    PGconn *conn = http_db_try(req);
    PGresult *res;

    if (!conn)
        return;
    res = db_query(
        conn, "reconcile the newest billed month",
        "WITH m AS (SELECT to_char(max(billing_period_start) AT TIME ZONE 'UTC', 'YYYY-MM') AS m "
        "FROM azure_cost_periods), r AS (SELECT m.m, coalesce(r.resource_id, '') AS rid, "
        "r.outside_tolerance, r.metered_cost_usd::numeric AS met, r.billed_cost_usd::numeric AS "
        "bil FROM m, tally_reconciliation(tally_book(NULL), m.m) r WHERE m.m IS NOT NULL) "
        "SELECT m, rid, count(*) FILTER (WHERE outside_tolerance), "
        "CASE WHEN sum(met) FILTER (WHERE bil IS NOT NULL) <> 0 THEN round(100 * (sum(bil) - "
        "sum(met) FILTER (WHERE bil IS NOT NULL)) / sum(met) FILTER (WHERE bil IS NOT NULL), 4)"
        "::text END FROM r GROUP BY m, rid ORDER BY m, rid",
        0, NULL);
    if (!res)
        return;
    prom_metric_clear(route_recon_days_gauge);
    prom_metric_clear(route_recon_delta_gauge);
    for (int i = 0; i < PQntuples(res); i++) {
        const char *labels[] = {PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)};
        prom_gauge_set(route_recon_days_gauge, labels, strtod(PQgetvalue(res, i, 2), NULL));
        if (!PQgetisnull(res, i, 3))
            prom_gauge_set(route_recon_delta_gauge, labels, strtod(PQgetvalue(res, i, 3), NULL));
    }
    PQclear(res);
}

void route_metrics(http_req *req)
{
    size_t len = 0;
    char *text;

    route_metrics_reg = http_registry(req);
    pthread_once(&route_metrics_once, route_metrics_init);
    route_metrics_unpriced(req);
    route_metrics_reconciliation(req);
    text = prom_render(http_registry(req), &len);
    if (!text) {
        http_reply_problem(req, 500, NULL, "could not render the metrics");
        return;
    }
    http_reply_text(req, 200, PROM_CONTENT_TYPE, text, len);
    free(text);
}
