/*
 * routes.c - helpers shared by the handlers of tally-report's routes: the summed columns
 * of the usage reports, the price book and the time range of a request.
 */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "tokens.h"

#define ROUTE_COUNT_COLUMN(name) {#name, RENDER_COUNT},

/* one X-macro expansion a line */
/* clang-format off */
const render_column ROUTE_USAGE_SUMS[] = {
    {"requests", RENDER_COUNT},
    {"long_context_requests", RENDER_COUNT},
    TALLY_TOKEN_CLASSES(ROUTE_COUNT_COLUMN)
    TALLY_REQUEST_COUNTS(ROUTE_COUNT_COLUMN)
    {"cost_usd", RENDER_MONEY},
};
/* clang-format on */
const int ROUTE_USAGE_NSUMS = (int)(sizeof(ROUTE_USAGE_SUMS) / sizeof(ROUTE_USAGE_SUMS[0]));

void route_reply_usage(http_req *req, const char *sql, int nparams, const char *const *params,
                       json_t *header, const char *filename)
{
    http_rows rows = {0};

    rows.sql = sql;
    rows.nparams = nparams;
    rows.params = params;
    rows.csv = http_wants_csv(req);
    rows.totals = true;
    rows.roles = ROUTE_USAGE_SUMS;
    rows.nroles = ROUTE_USAGE_NSUMS;
    rows.header = header;
    rows.filename = filename;
    http_reply_rows(req, &rows);
}

bool route_book_resolve(http_req *req, route_book *b)
{
    const query *q = http_query(req);
    PGconn *conn = http_db(req);
    const char *params[1];
    PGresult *res;
    bool ok = false;

    memset(b, 0, sizeof(*b));
    if (!conn)
        return false;
    params[0] = (q->given & QP_PRICE_BOOK) ? q->price_book : NULL;
    res = PQexecParams(conn,
                       "SELECT b.id::text, b.name, b.sha256 FROM price_books b "
                       "WHERE b.id = tally_book($1::text)",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "P0002") == 0)
            http_reply_problem(req, 400, "price_book", "price book \"%s\" is not loaded",
                               q->price_book);
        else {
            log_error("could not look up the price book: %s", PQresultErrorMessage(res));
            http_reply_db_error(req, state, NULL);
        }
        goto out;
    }
    if (PQntuples(res) == 1) {
        b->loaded = true;
        snprintf(b->id, sizeof(b->id), "%s", PQgetvalue(res, 0, 0));
        snprintf(b->name, sizeof(b->name), "%s", PQgetvalue(res, 0, 1));
        snprintf(b->sha256, sizeof(b->sha256), "%s", PQgetvalue(res, 0, 2));
    }
    ok = true;
out:
    PQclear(res);
    return ok;
}

json_t *route_book_json(const route_book *b)
{
    json_t *o;

    if (!b->loaded)
        return json_null();
    o = json_object();
    json_object_set_new(o, "name", json_string(b->name));
    json_object_set_new(o, "sha256", json_string(b->sha256));
    return o;
}

const char *route_book_param(const route_book *b)
{
    return b->loaded ? b->id : NULL;
}

/* The text of a from/to parameter as SQL: a date is midnight in $3 (the zone). */
#define ROUTE_AT(p)                                                                                \
    "(CASE WHEN length(" p "::text) = 10 THEN " p                                                  \
    "::text::timestamp AT TIME ZONE $3::text ELSE " p "::text::timestamptz END)"

/* The longest from/to range, documented in README.md and openapi.yaml. */
#define ROUTE_MAX_DAYS 366

bool route_range(http_req *req, char from[40], char to[40])
{
    const query *q = http_query(req);
    PGconn *conn = http_db(req);
    const char *params[4];
    char max_days[16];
    PGresult *res;
    bool ok = false;

    if (!conn)
        return false;
    snprintf(max_days, sizeof(max_days), "%d", ROUTE_MAX_DAYS);
    params[0] = (q->given & QP_FROM) ? q->from.text : NULL;
    params[1] = (q->given & QP_TO) ? q->to.text : NULL;
    params[2] = q->tz;
    params[3] = max_days;
    res = PQexecParams(
        conn,
        "SELECT to_char(f AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "tally_on_grid(f), tally_on_grid(t), f < t, t - f <= make_interval(days => $4::int) FROM "
        "(SELECT "
        "coalesce(" ROUTE_AT("$1") ", date_trunc('month', now() AT TIME ZONE $3::text) "
                                   "AT TIME ZONE $3::text) AS f, "
                                   "coalesce(" ROUTE_AT(
                                       "$2") ", (date_trunc('month', now() AT TIME ZONE $3::text) "
                                             "+ interval '1 month') AT TIME ZONE $3::text) AS t) x",
        4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        /* out-of-range dates are data errors of the input */
        if (state && strncmp(state, "22", 2) == 0)
            http_reply_problem(req, 400, "from", "from or to is out of range");
        else {
            log_error("could not resolve the time range: %s", PQresultErrorMessage(res));
            http_reply_db_error(req, state, NULL);
        }
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        http_reply_problem(req, 400, "from",
                           "from must be on the 15-minute grid of the rollups (e.g. 10:15:00Z)");
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
        http_reply_problem(req, 400, "to",
                           "to must be on the 15-minute grid of the rollups (e.g. 10:15:00Z)");
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 4), "t") != 0) {
        http_reply_problem(req, 400, "to", "to must be after from");
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 5), "t") != 0) {
        /* the rollups are small, but a range of centuries grouped by day would scan and
           group until the statement timeout while holding a pool connection */
        http_reply_problem(req, 400, "to",
                           "the range from from to to is longer than %d days; split it",
                           ROUTE_MAX_DAYS);
        goto out;
    }
    snprintf(from, 40, "%s", PQgetvalue(res, 0, 0));
    snprintf(to, 40, "%s", PQgetvalue(res, 0, 1));
    ok = true;
out:
    PQclear(res);
    return ok;
}
