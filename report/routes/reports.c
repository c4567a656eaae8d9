/*
 * reports.c - GET /v1/reports/monthly (the finance chargeback, docs/architecture.md, "Chargeback
 * CSV": the columns of tally_report_monthly, in its order) and GET /v1/exports/focus (FinOps
 * FOCUS 1.2, CSV only). A lead sees its team's rows, a developer its own: the scope is
 * bound into the statement. layout=1 gives the columns (and FOCUS rows) of before issue 10, so
 * that a CSV made then can be made again byte for byte; layout=2, the default, appends the
 * prompt tier, fast mode and residency columns (and splits FOCUS rows by them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
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

/*
 * Marks a month that messages lost before ingestion touch (docs/architecture.md,
 * "Losses"): "complete" and "gaps" in the JSON header, the Tally-Complete header on
 * the reply ("true", else "false; gaps=N; lost_messages=M"). False after replying.
 */
static bool monthly_gaps(http_req *req, const char *const *month_tz, json_t *header)
{
    PGconn *conn = http_db(req);
    PGresult *res;
    json_t *gaps;
    char mark[128];
    bool ok = false;

    if (!conn)
        return false;
    res = PQexecParams(
        conn,
        "SELECT coalesce(json_agg(json_build_object('consumer_group', consumer_group,"
        " 'topic', topic, 'partition', partition, 'first_offset', first_offset,"
        " 'last_offset', last_offset, 'lost_messages', lost_messages,"
        " 'detected_at', to_char(detected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " 'last_event_before', to_char(last_event_before AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        " 'first_event_after', to_char(first_event_after AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))), '[]')::text,"
        " count(*), coalesce(sum(lost_messages), 0) FROM tally_ingest_gaps($1::text, $2::text)",
        2, NULL, month_tz, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error("could not read the ingest gaps: %s", PQresultErrorMessage(res));
        http_reply_db_error(req, PQresultErrorField(res, PG_DIAG_SQLSTATE), NULL);
        goto out;
    }
    gaps = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (!gaps) {
        http_reply_problem(req, 500, NULL, "out of memory");
        goto out;
    }
    json_object_set_new(header, "complete", json_boolean(json_array_size(gaps) == 0));
    json_object_set_new(header, "gaps", gaps);
    if (json_array_size(gaps) == 0)
        snprintf(mark, sizeof(mark), "true");
    else
        snprintf(mark, sizeof(mark), "false; gaps=%s; lost_messages=%s", PQgetvalue(res, 0, 1),
                 PQgetvalue(res, 0, 2));
    http_set_header(req, "Tally-Complete", mark);
    ok = true;
out:
    PQclear(res);
    return ok;
}

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
    if (!monthly_gaps(req, params + 1, header)) {
        json_decref(header);
        return;
    }
    snprintf(filename, sizeof(filename), "tally-monthly-%s.csv", q->month);
    route_reply_usage(req,
                      q->layout == 1 ? "SELECT " MONTHLY_LAYOUT1_COLUMNS MONTHLY_FROM
                                     : "SELECT *" MONTHLY_FROM,
                      5, params, header, filename);
}

void route_exports_focus(http_req *req)
{
    const query *q = http_query(req);
    const char *params[4];
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
    params[3] = q->layout == 1 ? "1" : "2";
    snprintf(filename, sizeof(filename), "tally-focus-%s.csv", q->month);
    rows.sql = q->layout == 1
                   ? "SELECT " FOCUS_LAYOUT1_COLUMNS
                     " FROM tally_report_focus($1::int, $2::text, $3::text, $4::int)"
                   : "SELECT * FROM tally_report_focus($1::int, $2::text, $3::text, $4::int)";
    rows.nparams = 4;
    rows.params = params;
    rows.csv = true;
    rows.filename = filename;
    http_reply_rows(req, &rows);
}
