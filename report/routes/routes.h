/*
 * routes.h - the application of tally-report: its route table and the handlers (one
 * file per family in report/routes/: health.c, costs.c, reports.c, unpriced.c,
 * prices.c, directory.c, quotas.c, months.c, overview.c, login.c, reconcile.c) and helpers they
 * share (routes.c). The table that maps paths to them is ROUTES in table.c, handed to the server
 * in http_config. Handlers run on connection threads; they keep no state of their own.
 */
#ifndef TALLY_ROUTES_H
#define TALLY_ROUTES_H

#include <stdbool.h>

#include <jansson.h>

#include "http.h"
#include "months.h"
#include "membuf.h"

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
void route_months(http_req *req);
void route_month(http_req *req);
void route_month_close(http_req *req);
void route_month_reopen(http_req *req);

/* Replies for a months.h failure: 400, 409, 404, or the database's status. */
void route_months_reply_error(http_req *req, const months_result *r);

/* The close_lateness_h of the close route (months.h), set once before the server starts. */
void route_months_init(int lateness_h);

/* The summed columns of the usage reports: request counts, every token class, cost_usd. */
extern const render_column ROUTE_USAGE_SUMS[];
extern const int ROUTE_USAGE_NSUMS;
void route_overview(http_req *req);
void route_login(http_req *req);
void route_logout(http_req *req);
void route_login_entra(http_req *req);
void route_login_entra_callback(http_req *req);

struct authcode;

/* Sign-in with Microsoft on /login (login.c; authcode.h); NULL: off. Set before the server
 * starts; a is borrowed. */
void route_web_use_entra(const struct authcode *a);

/* The session cookie's Secure attribute and lifetime (login.c); set before the server starts. */
void route_web_configure(bool cookie_secure, int session_ttl_s);

/*
 * The signed-in caller of a page (login.c): the session its cookie names. False after
 * replying: 303 to /login without a valid session, 503 when the database fails.
 */
bool route_page_principal(http_req *req, auth_principal *p);

/*
 * Replies with an HTML page (taking its memory) under the pages' Content-Security-Policy,
 * with a Location and a Set-Cookie header when they are not NULL; 500 when page->oom.
 */
void route_page_reply(http_req *req, int status, membuf *page, const char *location,
                      const char *set_cookie);

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
 * The statement of GET /v1/costs (costs.c) for q's groups and filters over [from, to)
 * (UTC instants from route_range), scoped to who, and its COSTS_NPARAMS parameters, which
 * point into q, who, book, from and to. Its columns: the groups', then requests, every token
 * class, priced and cost_usd; one row per group and priced. The overview page runs the
 * same statement, so its numbers are the API's. False when sql (len bytes) is too small.
 */
#define COSTS_NPARAMS 11
#define COSTS_SQL_MAX 8192
bool costs_statement(const query *q, const auth_principal *who, const route_book *book,
                     const char *from, const char *to, char *sql, size_t len,
                     const char *params[COSTS_NPARAMS]);

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
