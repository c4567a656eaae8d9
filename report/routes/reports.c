/*
 * reports.c - GET /v1/reports/monthly (the finance chargeback, docs/architecture.md, "Chargeback
 * CSV": the columns of tally_report_monthly, in its order) and GET /v1/exports/focus (FinOps
 * FOCUS 1.2, CSV only). A lead sees its team's rows, a developer its own: the scope is
 * bound into the statement. layout=1 gives the columns (and FOCUS rows) of before issue 10, so
 * that a CSV made then can be made again byte for byte; layout=2 appends the prompt tier, fast
 * mode and residency columns (and splits FOCUS rows by them); layout=3, the default, adds the
 * corrections of closed months (report/months.h). A month closed in the request's zone is
 * answered from its snapshot, byte for byte; otherwise recomputed, marked as not the closed
 * figures when the month is closed (docs/architecture.md, "Month close").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "months.h"
#include "routes.h"

/* The chargeback's columns before issue 10, in their order: a prefix of tally_report_monthly's. */
#define MONTHLY_LAYOUT1_COLUMNS                                                                    \
    "month, tz, developer_oid, developer_upn, team, cost_center, model, requests, input_tokens, "  \
    "cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, cost_usd, "   \
    "priced, price_book, price_book_sha256, unit_price_input, unit_price_output, "                 \
    "unit_price_cache_write_5m, unit_price_cache_write_1h, unit_price_cache_read, "                \
    "long_context_requests, cache_write_unsplit_tokens, display_name"

#define MONTHLY_FROM                                                                               \
    " FROM tally_report_monthly($1::int, $2::text, $3::text, $4::text) r "                         \
    "WHERE ($4::text IS NULL OR r.team = $4::text) "                                               \
    "AND ($5::text IS NULL OR r.developer_oid = $5::text)"

/* The FOCUS columns before issue 10: all but SkuMeter, SkuPriceDetails, x_PromptTier, x_Speed
 * and x_Residency. */
#define FOCUS_LAYOUT1_COLUMNS                                                                      \
    "\"BilledCost\", \"BillingAccountId\", \"BillingAccountName\", \"BillingCurrency\", "          \
    "\"BillingPeriodEnd\", \"BillingPeriodStart\", \"ChargeCategory\", \"ChargeClass\", "          \
    "\"ChargeDescription\", \"ChargeFrequency\", \"ChargePeriodEnd\", \"ChargePeriodStart\", "     \
    "\"ConsumedQuantity\", \"ConsumedUnit\", \"ContractedCost\", \"ContractedUnitPrice\", "        \
    "\"EffectiveCost\", \"InvoiceIssuerName\", \"ListCost\", \"ListUnitPrice\", "                  \
    "\"PricingCategory\", \"PricingCurrency\", \"PricingQuantity\", \"PricingUnit\", "             \
    "\"ProviderName\", \"PublisherName\", \"RegionId\", \"RegionName\", \"ResourceId\", "          \
    "\"ResourceName\", \"ResourceType\", \"ServiceCategory\", \"ServiceName\", "                   \
    "\"ServiceSubcategory\", \"SkuId\", \"SkuPriceId\", \"SubAccountId\", \"SubAccountName\", "    \
    "\"Tags\", \"x_DeveloperOid\", \"x_DeveloperUpn\", \"x_Team\", \"x_CostCenter\", "             \
    "\"x_TokenClass\", \"x_LongContext\", \"x_PriceBook\", \"x_PriceBookSha256\""

/* A token name as a header value: printable ASCII, no ';' (it separates the fields). */
static void reports_header_safe(char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == ';')
            *s = '?';
}

/*
 * Why a request for a month closed in its zone is not answered from the snapshot (NULL: it
 * is): the snapshot is the unscoped chargeback of the default layout with the closed book.
 */
static const char *reports_not_snapshot(http_req *req, const months_close_info *ci)
{
    const query *q = http_query(req);
    const auth_principal *who = http_principal(req);

    if (auth_scope_team(who) || auth_scope_oid(who))
        return "scoped to a team or a developer";
    if ((q->given & QP_PRICE_BOOK) && strcmp(q->price_book, ci->book_name) != 0)
        return "another price book";
    if (q->layout != MONTHS_LAYOUT)
        return "another layout";
    return NULL;
}

/* Serves a closed month's stored bytes, as they were closed. */
static void reports_snapshot(http_req *req, PGconn *conn, const months_close_info *ci)
{
    bool csv = http_wants_csv(req);
    months_result r;
    char mark[512], by[sizeof(ci->closed_by)], sha[HASH_HEX_LEN + 1], disp[96];
    size_t len = 0;
    char *data = months_snapshot(conn, ci->id, csv, &len, &r);

    if (!data) {
        route_months_reply_error(req, &r);
        return;
    }
    snprintf(by, sizeof(by), "%s", ci->closed_by);
    reports_header_safe(by);
    snprintf(sha, sizeof(sha), "%s", csv ? ci->csv_sha256 : ci->json_sha256);
    snprintf(mark, sizeof(mark), "snapshot; closed-at=%s; closed-by=%s; sha256=%s", ci->closed_at,
             by, sha);
    http_set_header(req, "Tally-Closed", mark);
    http_set_header(req, "Tally-Complete", ci->complete);
    if (csv) {
        snprintf(disp, sizeof(disp), "attachment; filename=\"tally-monthly-%s.csv\"", ci->month);
        http_set_header(req, "Content-Disposition", disp);
    }
    http_reply_text(req, 200, csv ? "text/csv; charset=utf-8; header=present" : "application/json",
                    data, len);
    free(data);
}

/* Marks recomputed figures of a month closed (in this zone or another): the Tally-Closed
   header, and "closed" in the JSON header (when not NULL). */
static void reports_mark_recomputed(http_req *req, json_t *header, const months_close_info *ci,
                                    const char *why)
{
    json_t *o;
    char mark[512];

    snprintf(mark, sizeof(mark),
             "recomputed; not the closed figures (%s); closed-tz=%s; closed-at=%s", why, ci->tz,
             ci->closed_at);
    http_set_header(req, "Tally-Closed", mark);
    if (!header)
        return;
    o = json_object();

    json_object_set_new(o, "snapshot", json_false());
    json_object_set_new(o, "why", json_string(why));
    json_object_set_new(o, "tz", json_string(ci->tz));
    json_object_set_new(o, "at", json_string(ci->closed_at));
    json_object_set_new(o, "by", json_string(ci->closed_by));
    json_object_set_new(o, "price_book", json_string(ci->book_name));
    json_object_set_new(o, "csv_sha256", json_string(ci->csv_sha256));
    json_object_set_new(o, "json_sha256", json_string(ci->json_sha256));
    json_object_set_new(header, "closed", o);
}

void route_reports_monthly(http_req *req)
{
    const query *q = http_query(req);
    const auth_principal *who = http_principal(req);
    const char *params[5];
    char filename[64], complete[128];
    months_close_info ci;
    months_result r;
    const char *why = NULL;
    bool closed_here, closed;
    route_book book;
    PGconn *conn;
    json_t *header;

    if (!(q->given & QP_MONTH)) {
        http_reply_problem(req, 400, "month", "month=YYYY-MM is required");
        return;
    }
    if (!route_book_resolve(req, &book) || !(conn = http_db(req)))
        return;
    closed_here = months_find(conn, q->month, q->tz, &ci, &r);
    closed = closed_here || (r.status == MONTHS_OK && months_find(conn, q->month, NULL, &ci, &r));
    if (r.status != MONTHS_OK) {
        route_months_reply_error(req, &r);
        return;
    }
    if (closed) {
        why = closed_here ? reports_not_snapshot(req, &ci) : "closed in another zone";
        if (!why) {
            reports_snapshot(req, conn, &ci);
            return;
        }
    }
    header = months_header(conn, q->month, q->tz, book.loaded ? book.name : NULL, book.sha256,
                           complete, &r);
    if (!header) {
        route_months_reply_error(req, &r);
        return;
    }
    http_set_header(req, "Tally-Complete", complete);
    if (closed)
        reports_mark_recomputed(req, header, &ci, why);
    params[0] = route_book_param(&book);
    params[1] = q->month;
    params[2] = q->tz;
    params[3] = auth_scope_team(who);
    params[4] = auth_scope_oid(who);
    snprintf(filename, sizeof(filename), "tally-monthly-%s.csv", q->month);
    route_reply_usage(req, months_chargeback_sql(q->layout), 5, params, header, filename);
}

void route_exports_focus(http_req *req)
{
    const query *q = http_query(req);
    const char *params[4];
    char filename[64];
    route_book book;
    http_rows rows = {0};
    months_close_info ci;
    months_result r;
    PGconn *conn;

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
    if (!(conn = http_db(req)))
        return;
    /* FOCUS is not kept with a close: a closed month's export is recomputed, and says so */
    if (months_find(conn, q->month, q->tz, &ci, &r) ||
        (r.status == MONTHS_OK && months_find(conn, q->month, NULL, &ci, &r)))
        reports_mark_recomputed(req, NULL, &ci, "the FOCUS export of a closed month is recomputed");
    else if (r.status != MONTHS_OK) {
        route_months_reply_error(req, &r);
        return;
    }
    params[0] = route_book_param(&book);
    params[1] = q->month;
    params[2] = q->tz;
    params[3] = q->layout == 1 ? "1" : "2";
    snprintf(filename, sizeof(filename), "tally-focus-%s.csv", q->month);
    rows.sql = q->layout == 1 ? "SELECT " FOCUS_LAYOUT1_COLUMNS
                                " FROM tally_report_focus($1::int, $2::text, $3::text, $4::int)"
               : q->layout == 2
                   ? "SELECT * FROM tally_report_focus($1::int, $2::text, $3::text, $4::int)"
                   /* the corrections the month carries follow its own rows */
                   : "SELECT * FROM tally_report_focus($1::int, $2::text, $3::text, $4::int) "
                     "UNION ALL SELECT * FROM tally_report_focus_corrections($1::int, $2::text, "
                     "$3::text)";
    rows.nparams = 4;
    rows.params = params;
    rows.csv = true;
    rows.filename = filename;
    http_reply_rows(req, &rows);
}
