#include "months.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hash.h"
#include "log.h"
#include "membuf.h"
#include "query.h"
#include "rowstream.h"
#include "routes/routes.h"

/* pg_advisory_lock key that serialises closes and reopens (migrate.c: 7340310, prices: 7340312) */
#define MONTHS_LOCK_KEY "7340313"

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

/* layout 3: layout 2's rows, then the corrections (UNION ALL keeps the two parts in order) */
#define MONTHLY_CORRECTIONS                                                                        \
    " FROM tally_report_monthly_corrections($1::int, $2::text, $3::text) c "                       \
    "WHERE ($4::text IS NULL OR c.team = $4::text) "                                               \
    "AND ($5::text IS NULL OR c.developer_oid = $5::text)"

const char *months_chargeback_sql(int layout)
{
    switch (layout) {
    case 1:
        return "SELECT " MONTHLY_LAYOUT1_COLUMNS MONTHLY_FROM;
    case 2:
        return "SELECT *" MONTHLY_FROM;
    default:
        return "SELECT r.*, NULL::text AS corrects_month" MONTHLY_FROM
               " UNION ALL SELECT c.*" MONTHLY_CORRECTIONS;
    }
}

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

#define FOCUS_FROM " FROM tally_report_focus($1::int, $2::text, $3::text, $4::int)"

const char *months_focus_sql(int layout)
{
    switch (layout) {
    case 1:
        return "SELECT " FOCUS_LAYOUT1_COLUMNS FOCUS_FROM;
    case 2:
        return "SELECT *" FOCUS_FROM;
    default: /* the corrections the month carries follow its own rows */
        return "SELECT *" FOCUS_FROM " UNION ALL SELECT * FROM "
               "tally_report_focus_corrections($1::int, $2::text, $3::text)";
    }
}

const char *months_focus_layout_param(int layout)
{
    return layout == 1 ? "1" : "2";
}

static void months_fail(months_result *r, months_status st, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void months_fail(months_result *r, months_status st, const char *param, const char *fmt, ...)
{
    va_list ap;

    r->status = st;
    snprintf(r->param, sizeof(r->param), "%s", param ? param : "");
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
}

/*
 * Runs one statement; NULL with r set when it failed (a data error of the input, class 22
 * or P0002, is MONTHS_BAD_INPUT naming param). The caller clears the result.
 */
static PGresult *months_exec(PGconn *conn, months_result *r, const char *param, const char *what,
                             const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    const char *state;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", state ? state : "");
    if (state && (strncmp(state, "22", 2) == 0 || strcmp(state, "P0002") == 0)) {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        months_fail(r, MONTHS_BAD_INPUT, param, "%s", msg ? msg : "invalid input");
    } else {
        log_error("could not %s: %s", what, PQresultErrorMessage(res));
        months_fail(r, MONTHS_DB_ERROR, NULL, "could not %s", what);
    }
    PQclear(res);
    return NULL;
}

json_t *months_header(PGconn *conn, const char *month, const char *tz, const char *book_name,
                      const char *book_sha256, char complete[128], months_result *r)
{
    const char *params[2] = {month, tz};
    json_t *header, *gaps, *book = json_null();
    PGresult *res;

    res = months_exec(
        conn, r, "month", "read the ingest gaps",
        "SELECT coalesce(json_agg(json_build_object('consumer_group', consumer_group,"
        " 'topic', topic, 'partition', partition, 'first_offset', first_offset,"
        " 'last_offset', last_offset, 'lost_messages', lost_messages,"
        " 'detected_at', to_char(detected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " 'last_event_before', to_char(last_event_before AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        " 'first_event_after', to_char(first_event_after AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))), '[]')::text,"
        " count(*), coalesce(sum(lost_messages), 0) FROM tally_ingest_gaps($1::text, $2::text)",
        2, params);
    if (!res)
        return NULL;
    gaps = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (json_array_size(gaps) == 0)
        snprintf(complete, 128, "true");
    else
        snprintf(complete, 128, "false; gaps=%s; lost_messages=%s", PQgetvalue(res, 0, 1),
                 PQgetvalue(res, 0, 2));
    PQclear(res);
    header = json_object();
    if (!gaps || !header) {
        json_decref(gaps);
        json_decref(header);
        months_fail(r, MONTHS_DB_ERROR, NULL, "out of memory");
        return NULL;
    }
    if (book_name) {
        book = json_object();
        json_object_set_new(book, "name", json_string(book_name));
        json_object_set_new(book, "sha256", json_string(book_sha256));
    }
    json_object_set_new(header, "month", json_string(month));
    json_object_set_new(header, "tz", json_string(tz));
    json_object_set_new(header, "price_book", book);
    json_object_set_new(header, "complete", json_boolean(json_array_size(gaps) == 0));
    json_object_set_new(header, "gaps", gaps);
    return header;
}

/* Renders the rows of q (an unscoped report of the close) into out; header (or NULL) is
   taken. */
static bool months_render(PGconn *conn, const rowstream_query *q, json_t *header, membuf *out,
                          months_result *r)
{
    rowstream_error err;
    rowstream *rs = rowstream_open(conn, q, header, &err);
    bool ok = rs != NULL;

    if (!rs) {
        snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", err.sqlstate);
        months_fail(r, MONTHS_DB_ERROR, NULL, "could not render the month: %s",
                    err.message[0] ? err.message : "the query failed");
        return false;
    }
    while (ok && !rowstream_done(rs))
        ok = rowstream_fill(rs, out, out->len + 65536);
    rowstream_free(rs);
    if (!ok || out->oom)
        months_fail(r, MONTHS_DB_ERROR, NULL, "could not render the month");
    return ok && !out->oom;
}

#define MONTHS_INFO_SQL                                                                            \
    "SELECT c.id::text, c.month, c.tz, to_char(c.closed_at AT TIME ZONE 'UTC', "                   \
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), c.closed_by, b.name, b.sha256, c.csv_sha256, "             \
    "c.json_sha256, coalesce(c.focus_sha256, ''), c.complete "                                     \
    "FROM month_closes c JOIN price_books b ON b.id = c.book_id "

static void months_info_from(const PGresult *res, months_close_info *out)
{
    char *fields[] = {out->id,          out->month,        out->tz,          out->closed_at,
                      out->closed_by,   out->book_name,    out->book_sha256, out->csv_sha256,
                      out->json_sha256, out->focus_sha256, out->complete};
    size_t sizes[] = {sizeof(out->id),           sizeof(out->month),      sizeof(out->tz),
                      sizeof(out->closed_at),    sizeof(out->closed_by),  sizeof(out->book_name),
                      sizeof(out->book_sha256),  sizeof(out->csv_sha256), sizeof(out->json_sha256),
                      sizeof(out->focus_sha256), sizeof(out->complete)};

    for (int i = 0; i < (int)(sizeof(fields) / sizeof(fields[0])); i++)
        snprintf(fields[i], sizes[i], "%s", PQgetvalue(res, 0, i));
}

bool months_find(PGconn *conn, const char *month, const char *tz, months_close_info *out,
                 months_result *r)
{
    const char *params[2] = {month, tz};
    PGresult *res;
    bool found;

    memset(r, 0, sizeof(*r));
    res = months_exec(conn, r, "month", "look up the month's close",
                      MONTHS_INFO_SQL "WHERE c.month = $1 AND ($2::text IS NULL OR c.tz = $2) "
                                      "AND c.reopened_at IS NULL ORDER BY c.id LIMIT 1",
                      2, params);
    if (!res)
        return false;
    found = PQntuples(res) == 1;
    if (found)
        months_info_from(res, out);
    PQclear(res);
    return found;
}

/* The slices a snapshot is read in (the rows of MONTHS_SNAPSHOT_SQL) */
#define MONTHS_SLICE 65536
#define MONTHS_SLICE_TEXT "65536"

/* One statement: the close still in force, and its bytes, a slice a row (substring reads
   only the slice's TOAST chunks: the columns are stored uncompressed, 0016); each row
   carries the size and the slice's number, so that rows out of order fail the read. */
#define MONTHS_SNAPSHOT_SQL(col)                                                                   \
    "SELECT length(s.b)::int8, g.i::int8, substring(s.b FROM g.i * " MONTHS_SLICE_TEXT             \
    " + 1 FOR " MONTHS_SLICE_TEXT ") FROM (SELECT c." col " AS b FROM month_closes c "             \
    "WHERE c.id = $1::bigint AND c.reopened_at IS NULL AND c." col " IS NOT NULL) s, "             \
    "generate_series(0, (greatest(length(s.b), 1) - 1) / " MONTHS_SLICE_TEXT ") g(i)"

struct months_snapshot {
    PGconn *conn;
    PGresult *row;  /* the slice being copied out, NULL between slices */
    size_t off;     /* how much of it was copied */
    int64_t next;   /* the number of the slice expected next */
    int64_t slices; /* how many there are */
    bool ended;     /* the statement's results are all read */
};

/* A big-endian int8 of a binary result. */
static int64_t months_int8(const PGresult *res, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, 0, col);
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* The next row of the statement: true with s->row set, or false at its end (s->ended) or on
   an error (logged; *failed set). */
static bool months_snapshot_next(months_snapshot *s, bool *failed)
{
    PGresult *res;

    *failed = false;
    while (!s->ended && (res = PQgetResult(s->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);

        if (st == PGRES_SINGLE_TUPLE && PQnfields(res) == 3 && PQgetlength(res, 0, 0) == 8 &&
            PQgetlength(res, 0, 1) == 8 && months_int8(res, 1) == s->next) {
            s->row = res;
            s->off = 0;
            s->next++;
            return true;
        }
        if (st != PGRES_TUPLES_OK) {
            log_error("could not read a month close's snapshot: %s",
                      st == PGRES_SINGLE_TUPLE ? "a slice out of order"
                                               : PQresultErrorMessage(res));
            *failed = true;
        }
        PQclear(res);
        if (*failed)
            return false;
    }
    s->ended = true;
    return false;
}

months_snapshot *months_snapshot_open(PGconn *conn, const char *close_id, months_kind kind,
                                      size_t *len, months_result *r)
{
    const char *params[1] = {close_id};
    const char *sql = kind == MONTHS_CSV    ? MONTHS_SNAPSHOT_SQL("csv")
                      : kind == MONTHS_JSON ? MONTHS_SNAPSHOT_SQL("json")
                                            : MONTHS_SNAPSHOT_SQL("focus");
    months_snapshot *s = calloc(1, sizeof(*s));
    bool failed;

    memset(r, 0, sizeof(*r));
    if (!s) {
        months_fail(r, MONTHS_DB_ERROR, NULL, "out of memory");
        return NULL;
    }
    s->conn = conn;
    /* binary: the stored bytes as they are */
    s->ended = !PQsendQueryParams(conn, sql, 1, NULL, params, NULL, NULL, 1);
    if (s->ended || !PQsetSingleRowMode(conn)) {
        log_error("could not read the snapshot of close %s: %s", close_id, db_error(conn));
        months_fail(r, MONTHS_DB_ERROR, NULL, "could not read the snapshot");
        months_snapshot_free(s); /* drains a statement sent */
        return NULL;
    }
    if (!months_snapshot_next(s, &failed)) {
        if (failed)
            months_fail(r, MONTHS_DB_ERROR, NULL, "could not read the snapshot");
        else
            months_fail(r, MONTHS_NOT_FOUND, NULL, "the close was reopened");
        months_snapshot_free(s);
        return NULL;
    }
    *len = (size_t)months_int8(s->row, 0);
    s->slices = *len ? (int64_t)((*len - 1) / MONTHS_SLICE + 1) : 1;
    return s;
}

long months_snapshot_read(months_snapshot *s, char *out, size_t max)
{
    size_t n, have;
    bool failed;

    if (!s->row && !months_snapshot_next(s, &failed))
        return failed ? -1 : 0;
    have = (size_t)PQgetlength(s->row, 0, 2) - s->off;
    n = have < max ? have : max;
    memcpy(out, PQgetvalue(s->row, 0, 2) + s->off, n);
    s->off += n;
    if (s->off == (size_t)PQgetlength(s->row, 0, 2)) {
        PQclear(s->row);
        s->row = NULL;
    }
    return (long)n;
}

void months_snapshot_free(months_snapshot *s)
{
    if (!s)
        return;
    PQclear(s->row);
    if (!s->ended && s->next == s->slices)
        db_drain(s->conn); /* every slice read: only the statement's end is left */
    else if (!s->ended)
        db_abandon(s->conn); /* HEAD, or the client went away: stop the statement */
    free(s);
}

/* Takes the close lock (session level, so that the transaction after it sees every close
   committed before); false with r set. */
static bool months_lock(PGconn *conn, months_result *r)
{
    const char *key[1] = {MONTHS_LOCK_KEY};
    PGresult *res = months_exec(conn, r, NULL, "take the month close lock",
                                "SELECT pg_advisory_lock($1::bigint)", 1, key);

    PQclear(res);
    return res != NULL;
}

static void months_unlock(PGconn *conn)
{
    const char *key[1] = {MONTHS_LOCK_KEY};
    PGresult *res =
        PQexecParams(conn, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, key, NULL, NULL, 0);
    PQclear(res);
}

static bool months_valid_args(const char *month, const char *tz, months_result *r)
{
    if (!month || !query_valid_month(month, strlen(month))) {
        months_fail(r, MONTHS_BAD_INPUT, "month", "month must be YYYY-MM");
        return false;
    }
    if (!tz || !tz[0]) {
        months_fail(r, MONTHS_BAD_INPUT, "tz", "tz (the zone the month is closed in) is required");
        return false;
    }
    return true;
}

/*
 * The zone as closes store it (tally_tz_canonical) into out; with legacy, also a zone
 * stored exactly so by a close made before 0016. False with r set (MONTHS_BAD_INPUT naming
 * tz when it is not a zone of pg_timezone_names).
 */
static bool months_canonical_tz(PGconn *conn, const char *tz, bool legacy, char out[65],
                                months_result *r)
{
    const char *params[2] = {tz, legacy ? "t" : "f"};
    PGresult *res = months_exec(conn, r, "tz", "check the time zone",
                                "SELECT coalesce(tally_tz_canonical($1), (SELECT c.tz FROM "
                                "month_closes c WHERE $2::boolean AND c.tz = $1 LIMIT 1))",
                                2, params);
    bool ok;

    if (!res)
        return false;
    ok = !PQgetisnull(res, 0, 0);
    if (ok)
        snprintf(out, 65, "%s", PQgetvalue(res, 0, 0));
    else
        months_fail(r, MONTHS_BAD_INPUT, "tz",
                    "unknown time zone \"%s\": a month is closed in a zone named as in "
                    "pg_timezone_names (an IANA name such as Europe/Berlin)",
                    tz);
    PQclear(res);
    return ok;
}

/* Refused (false, r set) while a close in force of the month covers the same hours: in the
   same zone, or in another whose month has the same start and end (Etc/UTC and UTC). */
static bool months_not_closed(PGconn *conn, const char *month, const char *tz, months_result *r)
{
    const char *params[2] = {month, tz};
    PGresult *res = months_exec(
        conn, r, "month", "look up the month's closes",
        "SELECT c.tz FROM month_closes c CROSS JOIN tally_month_range($1, $2) n "
        "CROSS JOIN LATERAL tally_month_range(c.month, c.tz) o WHERE c.month = $1 "
        "AND c.reopened_at IS NULL AND (c.tz = $2 OR (o.m_start = n.m_start AND o.m_end = "
        "n.m_end)) ORDER BY c.tz = $2 DESC, c.id LIMIT 1",
        2, params);
    bool ok;

    if (!res)
        return false;
    ok = PQntuples(res) == 0;
    if (!ok && strcmp(PQgetvalue(res, 0, 0), tz) == 0)
        months_fail(r, MONTHS_REFUSED, NULL, "%s is closed in %s already (reopen it first)", month,
                    tz);
    else if (!ok)
        months_fail(r, MONTHS_REFUSED, NULL,
                    "%s is closed in %s already, whose month has the same hours as in %s "
                    "(reopen it first)",
                    month, PQgetvalue(res, 0, 0), tz);
    PQclear(res);
    return ok;
}

/* The refusals of an unforced close ("; "-joined in r); true when there are none. */
static bool months_may_close(PGconn *conn, const months_close_req *req, months_result *r)
{
    char lateness[16];
    const char *params[3] = {req->month, req->tz, lateness};
    PGresult *res;
    membuf why = MEMBUF_INIT;
    bool ok;

    snprintf(lateness, sizeof(lateness), "%d", req->lateness_h);
    res = months_exec(conn, r, "tz", "check whether the month may be closed",
                      "SELECT reason FROM tally_month_close_refusals($1, $2, $3::int)", 3, params);
    if (!res)
        return false;
    for (int i = 0; i < PQntuples(res); i++)
        membuf_printf(&why, "%s%s", i ? "; " : "", PQgetvalue(res, i, 0));
    ok = PQntuples(res) == 0;
    if (!ok)
        months_fail(r, MONTHS_REFUSED, NULL,
                    "%s %s cannot be closed yet: %s (force it with a reason to close anyway)",
                    req->month, req->tz, why.data ? why.data : "");
    membuf_free(&why);
    PQclear(res);
    return ok;
}

/* The close's "closed" member of the stored JSON. */
static json_t *months_closed_json(const months_close_req *req, const char *at, const char *by,
                                  const char *csv_sha256)
{
    json_t *o = json_object();

    json_object_set_new(o, "snapshot", json_true());
    json_object_set_new(o, "at", json_string(at));
    json_object_set_new(o, "by", json_string(by));
    json_object_set_new(o, "forced", json_boolean(req->force));
    json_object_set_new(o, "reason", req->reason ? json_string(req->reason) : json_null());
    json_object_set_new(o, "csv_sha256", json_string(csv_sha256));
    return o;
}

/* Inside the close's transaction: renders, stores and records; false with r set. */
static bool months_close_tx(PGconn *conn, const months_close_req *req, months_close_info *out,
                            months_result *r)
{
    const char *params[5];
    membuf csv = MEMBUF_INIT, json = MEMBUF_INIT, focus = MEMBUF_INIT;
    char book_id[16], at[32], by[160], book_name[257], book_sha[65], complete[128];
    char csv_sha[HASH_HEX_LEN + 1], json_sha[HASH_HEX_LEN + 1], focus_sha[HASH_HEX_LEN + 1];
    rowstream_query q;
    json_t *header = NULL;
    PGresult *res;
    bool ok = false;

    if (!months_not_closed(conn, req->month, req->tz, r))
        return false;
    if (!req->force && !months_may_close(conn, req, r))
        return false;
    params[0] = req->price_book;
    params[1] = req->by;
    res =
        months_exec(conn, r, "price_book", "resolve the price book",
                    "SELECT b.id::text, b.name, b.sha256, to_char(now() AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), coalesce($2, 'tallyctl:' || session_user) "
                    "FROM (SELECT tally_book($1::text) AS id) x LEFT JOIN price_books b "
                    "ON b.id = x.id",
                    2, params);
    if (!res)
        return false;
    if (PQgetisnull(res, 0, 0)) {
        PQclear(res);
        months_fail(r, MONTHS_REFUSED, "price_book", "no price book is loaded");
        return false;
    }
    snprintf(book_id, sizeof(book_id), "%s", PQgetvalue(res, 0, 0));
    snprintf(book_name, sizeof(book_name), "%s", PQgetvalue(res, 0, 1));
    snprintf(book_sha, sizeof(book_sha), "%s", PQgetvalue(res, 0, 2));
    snprintf(at, sizeof(at), "%s", PQgetvalue(res, 0, 3));
    snprintf(by, sizeof(by), "%s", PQgetvalue(res, 0, 4));
    PQclear(res);

    params[0] = book_id;
    params[1] = req->month;
    params[2] = req->tz;
    params[3] = NULL; /* unscoped */
    params[4] = NULL;
    /* what GET /v1/reports/monthly and GET /v1/exports/focus answer for the month (layout 3,
       unscoped, this book and zone), rendered as those routes render them */
    q = (rowstream_query){months_chargeback_sql(MONTHS_LAYOUT),
                          5,
                          params,
                          RENDER_CSV,
                          true,
                          ROUTE_USAGE_SUMS,
                          ROUTE_USAGE_NSUMS};
    header = months_header(conn, req->month, req->tz, book_name, book_sha, complete, r);
    if (!header || !months_render(conn, &q, json_incref(header), &csv, r))
        goto out;
    hash_sha256_hex(csv.data ? csv.data : "", csv.len, csv_sha);
    json_object_set_new(header, "closed", months_closed_json(req, at, by, csv_sha));
    q.format = RENDER_JSON;
    if (!months_render(conn, &q, header, &json, r)) {
        header = NULL; /* taken */
        goto out;
    }
    header = NULL;
    hash_sha256_hex(json.data ? json.data : "", json.len, json_sha);
    params[3] = months_focus_layout_param(MONTHS_LAYOUT);
    q = (rowstream_query){months_focus_sql(MONTHS_LAYOUT), 4, params, RENDER_CSV, false, NULL, 0};
    if (!months_render(conn, &q, NULL, &focus, r))
        goto out;
    hash_sha256_hex(focus.data ? focus.data : "", focus.len, focus_sha);

    {
        char forced[2] = {req->force ? 't' : 'f', '\0'};
        const char *p[13] = {req->month,  req->tz,    book_id,  by,      forced,
                             req->reason, complete,   csv.data, csv_sha, json.data,
                             json_sha,    focus.data, focus_sha};
        int lens[13] = {0, 0, 0, 0, 0, 0, 0, (int)csv.len, 0, (int)json.len, 0, (int)focus.len, 0};
        int formats[13] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0};

        /* one statement: its parts see the month not yet closed, so the corrections it
           carries are those of the months before it (tally_month_corrected) */
        res = PQexecParams(
            conn,
            "WITH c AS (INSERT INTO month_closes (month, tz, book_id, closed_by, forced, reason, "
            "complete, csv, csv_sha256, json, json_sha256, focus, focus_sha256) VALUES ($1, $2, "
            "$3::int, $4, $5::boolean, $6, $7, $8::bytea, $9, $10::bytea, $11, $12::bytea, $13) "
            "RETURNING id), "
            "l AS (INSERT INTO month_close_lines SELECT c.id, $1, l.* FROM c, "
            "tally_month_lines($3::int, $1, $2) l), "
            "x AS (INSERT INTO month_close_lines SELECT c.id, x.* FROM c, "
            "tally_month_corrections($3::int, $1, $2) x) "
            "INSERT INTO month_close_audit (close_id, action, by_principal, forced, reason) "
            "SELECT c.id, 'close', $4, $5::boolean, $6 FROM c RETURNING close_id::text",
            13, NULL, p, lens, formats, 0);
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23505") == 0)
            months_fail(r, MONTHS_REFUSED, NULL, "%s is closed in %s already", req->month, req->tz);
        else {
            log_error("could not store the close: %s", PQresultErrorMessage(res));
            snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", state ? state : "");
            months_fail(r, MONTHS_DB_ERROR, NULL, "could not store the close");
        }
        PQclear(res);
        goto out;
    }
    snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    ok = true;
out:
    json_decref(header);
    membuf_free(&csv);
    membuf_free(&json);
    membuf_free(&focus);
    return ok;
}

/* Reads the close id back into *out (the same transaction's view). */
static bool months_info_by_id(PGconn *conn, months_close_info *out, months_result *r)
{
    const char *params[1] = {out->id};
    PGresult *res = months_exec(conn, r, NULL, "read the close",
                                MONTHS_INFO_SQL "WHERE c.id = $1::bigint", 1, params);

    if (!res)
        return false;
    months_info_from(res, out);
    PQclear(res);
    return true;
}

static bool months_begin(PGconn *conn, months_result *r)
{
    PGresult *res = months_exec(conn, r, NULL, "begin the close",
                                "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL);

    PQclear(res);
    return res != NULL;
}

static void months_commit(PGconn *conn, months_result *r)
{
    PGresult *res = months_exec(conn, r, NULL, "commit the close", "COMMIT", 0, NULL);

    PQclear(res);
}

void months_close(PGconn *conn, const months_close_req *req, months_close_info *out,
                  months_result *r)
{
    months_close_req canonical = *req;
    char tz[65];

    memset(r, 0, sizeof(*r));
    memset(out, 0, sizeof(*out));
    if (!months_valid_args(req->month, req->tz, r))
        return;
    if (req->force && (!req->reason || !req->reason[0])) {
        months_fail(r, MONTHS_BAD_INPUT, "reason", "a forced close needs a reason");
        return;
    }
    if (!months_canonical_tz(conn, req->tz, false, tz, r))
        return;
    canonical.tz = tz;
    if (!months_lock(conn, r))
        return;
    /* one snapshot for the CSV, the JSON, the FOCUS export and the lines: they cannot
       disagree */
    if (months_begin(conn, r)) {
        if (months_close_tx(conn, &canonical, out, r) && months_info_by_id(conn, out, r))
            months_commit(conn, r);
        else
            db_rollback(conn);
    }
    months_unlock(conn);
}

void months_reopen(PGconn *conn, const char *month, const char *tz, const char *by,
                   const char *reason, months_close_info *out, months_result *r)
{
    const char *params[4];
    PGresult *res;
    char zone[65];

    memset(r, 0, sizeof(*r));
    memset(out, 0, sizeof(*out));
    if (!months_valid_args(month, tz, r))
        return;
    if (!reason || !reason[0]) {
        months_fail(r, MONTHS_BAD_INPUT, "reason", "a reopen needs a reason");
        return;
    }
    if (!months_canonical_tz(conn, tz, true, zone, r))
        return;
    tz = zone;
    if (!months_lock(conn, r))
        return;
    if (!months_begin(conn, r))
        goto unlock;
    if (!months_find(conn, month, tz, out, r)) {
        if (r->status == MONTHS_OK)
            months_fail(r, MONTHS_NOT_FOUND, "month", "%s is not closed in %s", month, tz);
        goto rollback;
    }
    params[0] = out->id;
    params[1] = month;
    params[2] = by;
    params[3] = reason;
    /* a later close that carried corrections of the month would count them twice */
    res = months_exec(conn, r, NULL, "look for later closes",
                      "SELECT min(c.month) FROM month_close_lines l JOIN month_closes c "
                      "ON c.id = l.close_id WHERE l.month = $2 AND c.id <> $1::bigint "
                      "AND c.tz = (SELECT tz FROM month_closes WHERE id = $1::bigint) "
                      "AND c.reopened_at IS NULL",
                      2, params);
    if (!res)
        goto rollback;
    if (!PQgetisnull(res, 0, 0)) {
        months_fail(r, MONTHS_REFUSED, NULL, "%s in %s carries corrections of %s: reopen %s first",
                    PQgetvalue(res, 0, 0), tz, month, PQgetvalue(res, 0, 0));
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    res = months_exec(
        conn, r, NULL, "reopen the month",
        "WITH u AS (UPDATE month_closes SET reopened_at = now(), reopened_by = "
        "coalesce($3, 'tallyctl:' || session_user), reopen_reason = $4 "
        "WHERE id = $1::bigint AND month = $2) INSERT INTO month_close_audit (close_id, action, "
        "by_principal, reason) VALUES ($1::bigint, 'reopen', "
        "coalesce($3, 'tallyctl:' || session_user), $4)",
        4, params);
    if (!res)
        goto rollback;
    PQclear(res);
    months_commit(conn, r);
    goto unlock;
rollback:
    db_rollback(conn);
unlock:
    months_unlock(conn);
}
