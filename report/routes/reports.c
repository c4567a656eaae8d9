/*
 * reports.c - GET /v1/reports/monthly (the finance chargeback, docs/architecture.md, "Chargeback
 * CSV": the columns of tally_report_monthly, in its order) and GET /v1/exports/focus (FinOps
 * FOCUS 1.2, CSV only). A lead sees its team's rows, a developer its own: the scope is
 * bound into the statement.
 */
#include <stdio.h>
#include <string.h>

#include "routes.h"

void route_reports_monthly(http_req *req)
{
    const query *q = http_query(req);
    const auth_principal *who = http_principal(req);
    const char *params[5];
    char filename[64];
    route_book book;
    json_t *header;

    if (!(q->given & QP_MONTH)) {
        http_reply_problem(req, 400, "month", "month=YYYY-MM is required");
        return;
    }
    if (!route_book_resolve(req, &book))
        return;
    params[0] = route_book_param(&book);
    params[1] = q->month;
    params[2] = q->tz;
    params[3] = auth_scope_team(who);
    params[4] = auth_scope_oid(who);
    header = json_object();
    json_object_set_new(header, "month", json_string(q->month));
    json_object_set_new(header, "tz", json_string(q->tz));
    json_object_set_new(header, "price_book", route_book_json(&book));
    snprintf(filename, sizeof(filename), "tally-monthly-%s.csv", q->month);
    route_reply_usage(req,
                      "SELECT * FROM tally_report_monthly($1::int, $2::text, $3::text) r "
                      "WHERE ($4::text IS NULL OR r.team = $4::text) "
                      "AND ($5::text IS NULL OR r.developer_oid = $5::text)",
                      5, params, header, filename);
}

void route_exports_focus(http_req *req)
{
    const query *q = http_query(req);
    const char *params[3];
    char filename[64];
    route_book book;
    http_rows rows = {0};

    if (!(q->given & QP_MONTH)) {
        http_reply_problem(req, 400, "month", "month=YYYY-MM is required");
        return;
    }
    if (q->format == QF_JSON) {
        http_reply_problem(req, 400, "format", "the FOCUS export is CSV only");
        return;
    }
    if (!route_book_resolve(req, &book))
        return;
    if (!book.loaded) {
        http_reply_problem(req, 400, "price_book", "no price book is loaded");
        return;
    }
    params[0] = route_book_param(&book);
    params[1] = q->month;
    params[2] = q->tz;
    snprintf(filename, sizeof(filename), "tally-focus-%s.csv", q->month);
    rows.sql = "SELECT * FROM tally_report_focus($1::int, $2::text, $3::text)";
    rows.nparams = 3;
    rows.params = params;
    rows.csv = true;
    rows.filename = filename;
    http_reply_rows(req, &rows);
}
