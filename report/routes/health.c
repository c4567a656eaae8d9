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

void route_metrics(http_req *req)
{
    size_t len = 0;
    char *text;

    route_metrics_reg = http_registry(req);
    pthread_once(&route_metrics_once, route_metrics_init);
    route_metrics_unpriced(req);
    text = prom_render(http_registry(req), &len);
    if (!text) {
        http_reply_problem(req, 500, NULL, "could not render the metrics");
        return;
    }
    http_reply_text(req, 200, PROM_CONTENT_TYPE, text, len);
    free(text);
}
