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
static prom_registry *route_metrics_reg;

static void route_metrics_init(void)
{
    route_unpriced_gauge = prom_gauge(
        route_metrics_reg, "tally_unpriced_requests",
        "requests of the current UTC month that the newest price book cannot price", NULL);
}

/* Refreshes the unpriced gauge; a database that is down leaves the last value. */
static void route_metrics_unpriced(http_req *req)
{
    PGconn *conn = http_db_try(req);
    PGresult *res;

    if (!conn)
        return;
    res = db_query(conn, "count unpriced requests",
                   "SELECT coalesce(sum(requests), 0) FROM tally_unpriced("
                   "date_trunc('month', now(), 'UTC'), "
                   "date_trunc('month', now(), 'UTC') + interval '1 month')",
                   0, NULL);
    if (!res)
        return;
    prom_gauge_set(route_unpriced_gauge, NULL, strtod(PQgetvalue(res, 0, 0), NULL));
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
