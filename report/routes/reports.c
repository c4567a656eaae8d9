/*
 * reports.c - GET /v1/reports/monthly (the finance chargeback, docs/architecture.md, "Chargeback
 * CSV": the columns of tally_report_monthly, in its order) and GET /v1/exports/focus (FinOps
 * FOCUS 1.2, CSV only). A lead sees its team's rows, a developer its own: the scope is
 * bound into the statement. layout=1 gives the columns (and FOCUS rows) of before issue 10, so
 * that a CSV made then can be made again byte for byte; layout=2 appends the prompt tier, fast
 * mode and residency columns (and splits FOCUS rows by them); layout=3, the default, adds the
 * corrections of closed months (report/months.h). A month closed in the request's zone is
 * answered from its snapshot (the chargeback's CSV or JSON, the FOCUS export), byte for byte,
 * read from the database as it is sent; otherwise recomputed, marked as not the closed
 * figures when the month is closed (docs/architecture.md, "Month close").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "months.h"
#include "routes.h"

/* A token name as a header value: printable ASCII, no ';' (it separates the fields). */
static void reports_header_safe(char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == ';')
            *s = '?';
}

/*
 * Why a request for a month closed in its zone is not answered from the snapshot of kind
 * (NULL: it is): a snapshot is the unscoped report of the default layout with the closed
 * book; a close made before 0016 kept no FOCUS export.
 */
static const char *reports_not_snapshot(http_req *req, const months_close_info *ci,
                                        months_kind kind)
{
    const query *q = http_query(req);
    const auth_principal *who = http_principal(req);

    if (auth_scope_team(who) || auth_scope_oid(who))
        return "scoped to a team or a developer";
    if ((q->given & QP_PRICE_BOOK) && strcmp(q->price_book, ci->book_name) != 0)
        return "another price book";
    if (q->layout != MONTHS_LAYOUT)
        return "another layout";
    if (kind == MONTHS_FOCUS && !ci->focus_sha256[0])
        return "closed before FOCUS exports were kept with a close";
    return NULL;
}

static long reports_snapshot_read(void *s, char *out, size_t max)
{
    return months_snapshot_read(s, out, max);
}

static void reports_snapshot_free(void *s)
{
    months_snapshot_free(s);
}

/*
 * Serves a closed month's stored bytes of kind, as they were closed, read as they are sent
 * (months_snapshot_open: the close still in force and its bytes in one statement). False,
 * nothing replied, when the close is gone (reopened since ci was read).
 */
static bool reports_snapshot(http_req *req, PGconn *conn, const months_close_info *ci,
                             months_kind kind)
{
    months_result r;
    char mark[512], by[sizeof(ci->closed_by)], disp[96];
    size_t len = 0;
    months_snapshot *snap = months_snapshot_open(conn, ci->id, kind, &len, &r);

    if (!snap && r.status == MONTHS_NOT_FOUND)
        return false;
    if (!snap) {
        route_months_reply_error(req, &r);
        return true;
    }
    snprintf(by, sizeof(by), "%s", ci->closed_by);
    reports_header_safe(by);
    snprintf(mark, sizeof(mark), "snapshot; closed-at=%s; closed-by=%s; sha256=%s", ci->closed_at,
             by,
             kind == MONTHS_CSV    ? ci->csv_sha256
             : kind == MONTHS_JSON ? ci->json_sha256
                                   : ci->focus_sha256);
    http_set_header(req, "Tally-Closed", mark);
    if (kind != MONTHS_FOCUS)
        http_set_header(req, "Tally-Complete", ci->complete);
    if (kind != MONTHS_JSON) {
        snprintf(disp, sizeof(disp), "attachment; filename=\"tally-%s-%s.csv\"",
                 kind == MONTHS_CSV ? "monthly" : "focus", ci->month);
        http_set_header(req, "Content-Disposition", disp);
    }
    http_reply_reader(
        req, kind == MONTHS_JSON ? "application/json" : "text/csv; charset=utf-8; header=present",
        len, reports_snapshot_read, reports_snapshot_free, snap);
    return true;
}

/*
 * Looks up the close of the request's month: true when the request is answered (from the
 * snapshot of kind, or an error); false when it is to be recomputed, with *why set (and
 * *ci) when the month is closed in its zone or another, NULL when it is not closed.
 */
static bool reports_closed(http_req *req, PGconn *conn, months_kind kind, months_close_info *ci,
                           const char **why)
{
    const query *q = http_query(req);
    months_result r;

    /* a reopen committed between the lookup and the read: look again (a close and a reopen
       are serialised, so twice more is plenty) */
    for (int attempt = 0; attempt < 3; attempt++) {
        bool here = months_find(conn, q->month, q->tz, ci, &r);
        bool any = here || (r.status == MONTHS_OK && months_find(conn, q->month, NULL, ci, &r));

        *why = NULL;
        if (r.status != MONTHS_OK) {
            route_months_reply_error(req, &r);
            return true;
        }
        if (!any)
            return false;
        *why = here ? reports_not_snapshot(req, ci, kind) : "closed in another zone";
        if (*why)
            return false;
        if (reports_snapshot(req, conn, ci, kind))
            return true;
    }
    http_reply_problem(req, 503, NULL, "the month's close changed while it was read; retry");
    return true;
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
    const char *why;
    route_book book;
    PGconn *conn;
    json_t *header;

    if (!(q->given & QP_MONTH)) {
        http_reply_problem(req, 400, "month", "month=YYYY-MM is required");
        return;
    }
    if (!route_book_resolve(req, &book) || !(conn = http_db(req)))
        return;
    if (reports_closed(req, conn, http_wants_csv(req) ? MONTHS_CSV : MONTHS_JSON, &ci, &why))
        return;
    header = months_header(conn, q->month, q->tz, book.loaded ? book.name : NULL, book.sha256,
                           complete, &r);
    if (!header) {
        route_months_reply_error(req, &r);
        return;
    }
    http_set_header(req, "Tally-Complete", complete);
    if (why)
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
    const char *why;
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
    if (reports_closed(req, conn, MONTHS_FOCUS, &ci, &why))
        return;
    if (why)
        reports_mark_recomputed(req, NULL, &ci, why);
    params[0] = route_book_param(&book);
    params[1] = q->month;
    params[2] = q->tz;
    params[3] = months_focus_layout_param(q->layout);
    snprintf(filename, sizeof(filename), "tally-focus-%s.csv", q->month);
    rows.sql = months_focus_sql(q->layout);
    rows.nparams = 4;
    rows.params = params;
    rows.csv = true;
    rows.filename = filename;
    http_reply_rows(req, &rows);
}
