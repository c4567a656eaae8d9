/*
 * reconcile.c - GET /v1/reconciliation?month=YYYY-MM: the metered cost of each Foundry
 * resource and UTC day against the Azure bill imported with tallyctl reconcile import
 * (tally_reconciliation, schema/functions/67_reconcile.sql; docs/architecture.md,
 * "Reconciliation"). The tolerance is the session's (reconcile_tolerance_pct, session.c).
 */
#include <stdio.h>

#include "log.h"
#include "routes.h"

static const render_column RECONCILE_ROLES[] = {
    {"metered_cost_usd", RENDER_MONEY}, {"billed_cost_usd", RENDER_MONEY},
    {"delta_usd", RENDER_MONEY},        {"delta_pct", RENDER_DECIMAL},
    {"tolerance_pct", RENDER_DECIMAL},  {"unpriced_requests", RENDER_COUNT},
    {"billed_rows", RENDER_COUNT},
};

/* The bills the month is compared with and the tolerance, into the JSON header. False after
 * replying. */
static bool reconcile_header(http_req *req, const char *month, json_t *header)
{
    PGconn *conn = http_db(req);
    const char *params[1] = {month};
    PGresult *res;
    json_t *bills;
    bool ok = false;

    if (!conn)
        return false;
    res = PQexecParams(
        conn,
        "SELECT trim_scale(tally_reconcile_tolerance_pct())::text, "
        "coalesce((SELECT json_agg(json_build_object('billing_period', to_char("
        "p.billing_period_start AT TIME ZONE 'UTC', 'YYYY-MM'), 'import', p.import_id, "
        "'imported_at', " ROUTE_TS_SQL("i.imported_at") ", 'covered_to', " ROUTE_TS_SQL(
            "p.covered_to") ") ORDER BY p.billing_period_start) "
                            "FROM azure_cost_periods p JOIN azure_cost_imports i ON i.id = "
                            "p.import_id, tally_month_range($1::text, 'UTC') r "
                            "WHERE p.billing_period_start < r.m_end AND p.covered_to > "
                            "r.m_start), '[]')::text",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error("could not read the imported bills: %s", PQresultErrorMessage(res));
        http_reply_db_error(req, PQresultErrorField(res, PG_DIAG_SQLSTATE), NULL);
        goto out;
    }
    bills = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    if (!bills) {
        http_reply_problem(req, 500, NULL, "out of memory");
        goto out;
    }
    json_object_set_new(header, "tolerance_pct", json_string(PQgetvalue(res, 0, 0)));
    json_object_set_new(header, "bills", bills);
    ok = true;
out:
    PQclear(res);
    return ok;
}

void route_reconciliation(http_req *req)
{
    const query *q = http_query(req);
    const char *params[2];
    char filename[64];
    route_book book;
    http_rows rows = {0};
    json_t *header;

    if (!(q->given & QP_MONTH)) {
        http_reply_problem(req, 400, "month", "month=YYYY-MM is required");
        return;
    }
    if (!route_book_resolve(req, &book))
        return;
    header = json_object();
    json_object_set_new(header, "month", json_string(q->month));
    json_object_set_new(header, "tz", json_string("UTC"));
    json_object_set_new(header, "price_book", route_book_json(&book));
    if (!reconcile_header(req, q->month, header)) {
        json_decref(header);
        return;
    }
    params[0] = route_book_param(&book);
    params[1] = q->month;
    snprintf(filename, sizeof(filename), "tally-reconciliation-%s.csv", q->month);
    rows.sql = "SELECT * FROM tally_reconciliation($1::int, $2::text)";
    rows.nparams = 2;
    rows.params = params;
    rows.csv = http_wants_csv(req);
    rows.totals = true;
    rows.roles = RECONCILE_ROLES;
    rows.nroles = (int)(sizeof(RECONCILE_ROLES) / sizeof(RECONCILE_ROLES[0]));
    rows.header = header;
    rows.filename = filename;
    http_reply_rows(req, &rows);
}
