/*
 * routes.h - the application of tally-report: its route table and the handlers (one
 * file per family in report/routes/: health.c, costs.c, reports.c, unpriced.c,
 * prices.c, directory.c, quotas.c, reconcile.c) and helpers they share (routes.c). The table that
 * maps paths to them is ROUTES in table.c, handed to the server in http_config.
 * Handlers run on connection threads; they keep no state of their own.
 */
#ifndef TALLY_ROUTES_H
#define TALLY_ROUTES_H

#include <stdbool.h>

#include <jansson.h>

#include "http.h"

/* The route table (table.c). */
extern const http_route ROUTES[];
extern const int ROUTES_COUNT;

void route_healthz(http_req *req);
void route_readyz(http_req *req);
void route_metrics(http_req *req);
void route_costs(http_req *req);
void route_reports_monthly(http_req *req);
void route_exports_focus(http_req *req);
void route_usage_unpriced(http_req *req);
void route_reconciliation(http_req *req);
void route_prices(http_req *req);
void route_developers(http_req *req);
void route_deployments(http_req *req);
void route_quotas(http_req *req);
void route_quota(http_req *req);
void route_quotas_status(http_req *req);

/*
 * Replies with a usage report (costs, monthly, unpriced) streamed from sql: CSV when the
 * request asks for it, else JSON with totals of the request counts, every token class
 * (common/tokens.h) and the cost; columns the statement does not return are not summed.
 * header (JSON members before "rows") is taken.
 */
void route_reply_usage(http_req *req, const char *sql, int nparams, const char *const *params,
                       json_t *header, const char *filename);

/* A price book chosen by price_book= (or the newest); loaded = false when none exists. */
typedef struct route_book {
    bool loaded;
    char id[16];
    char name[257];
    char sha256[65];
} route_book;

/* Resolves the request's price book; false after replying (400 naming price_book, 503). */
bool route_book_resolve(http_req *req, route_book *b);

/* {"name", "sha256"} of the book, or JSON null. */
json_t *route_book_json(const route_book *b);

/* The book id as a SQL text parameter (NULL when no book is loaded). */
const char *route_book_param(const route_book *b);

/*
 * Resolves from/to (dates are midnights in tz; defaults: the current month in tz) into
 * UTC instants "YYYY-MM-DDTHH:MM:SSZ" on the rollups' 15-minute grid with from < to and
 * at most 366 days apart; false after replying 400 naming the parameter.
 */
bool route_range(http_req *req, char from[40], char to[40]);

/* SQL text rendering an instant as RFC 3339 UTC, NULL for ±infinity; %s = the column. */
#define ROUTE_TS_SQL(col)                                                                          \
    "CASE WHEN isfinite(" col ") THEN to_char(" col " AT TIME ZONE 'UTC', "                        \
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END"

#endif
