/*
 * months.c - month close for finance (docs/architecture.md, "Month close"): GET /v1/months
 * (every close), GET /v1/months/{month} (its closes, audit and the corrections pending),
 * POST /v1/months/{month}/close (finance, platform) and POST /v1/months/{month}/reopen
 * (platform). The work is report/months.c's, which tallyctl months shares.
 */
#include <string.h>

#include "routes.h"

static int months_lateness_h = 48;

void route_months_init(int lateness_h)
{
    months_lateness_h = lateness_h;
}

/* Replies with months' error r. */
void route_months_reply_error(http_req *req, const months_result *r)
{
    switch (r->status) {
    case MONTHS_BAD_INPUT:
        http_reply_problem(req, 400, r->param[0] ? r->param : NULL, "%s", r->detail);
        break;
    case MONTHS_REFUSED:
        http_reply_problem(req, 409, r->param[0] ? r->param : NULL, "%s", r->detail);
        break;
    case MONTHS_NOT_FOUND:
        http_reply_problem(req, 404, r->param[0] ? r->param : NULL, "%s", r->detail);
        break;
    default:
        http_reply_db_error(req, r->sqlstate[0] ? r->sqlstate : NULL, NULL);
        break;
    }
}

void route_months(http_req *req)
{
    http_rows rows = {0};

    rows.sql = "SELECT * FROM tally_month_closes()";
    rows.csv = http_wants_csv(req);
    http_reply_rows(req, &rows);
}

/* The {month} of the path; NULL after replying 404 when it is not YYYY-MM. */
static const char *months_path_month(http_req *req)
{
    const char *m = http_path_arg(req);

    if (!m || !query_valid_month(m, strlen(m))) {
        http_reply_problem(req, 404, NULL, "no such month (YYYY-MM)");
        return NULL;
    }
    return m;
}

void route_month(http_req *req)
{
    const char *params[1];
    PGconn *conn;
    PGresult *res;

    if (!(params[0] = months_path_month(req)) || !(conn = http_db(req)))
        return;
    res = PQexecParams(conn, "SELECT tally_month_show($1)", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        http_reply_db_error(req, PQresultErrorField(res, PG_DIAG_SQLSTATE), NULL);
    else
        http_reply_text(req, 200, "application/json", PQgetvalue(res, 0, 0),
                        (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
}

/* The members of a close or reopen body. */
typedef struct months_body {
    json_t *root;
    const char *tz, *price_book, *reason;
    bool force;
} months_body;

/*
 * Parses the JSON body: an object of the members allowed ("tz" required, strings, "force" a
 * boolean; months.c checks the zone). False after replying 400 naming the member.
 */
static bool months_read_body(http_req *req, months_body *b, bool close)
{
    size_t len = 0;
    const char *body = http_body(req, &len);
    json_error_t jerr;
    const char *key;
    json_t *v;

    memset(b, 0, sizeof(*b));
    b->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(b->root)) {
        http_reply_problem(req, 400, NULL, "the body must be a JSON object with \"tz\"");
        return false;
    }
    json_object_foreach(b->root, key, v)
    {
        const char **text = strcmp(key, "tz") == 0                    ? &b->tz
                            : strcmp(key, "reason") == 0              ? &b->reason
                            : close && strcmp(key, "price_book") == 0 ? &b->price_book
                                                                      : NULL;
        if (close && strcmp(key, "force") == 0 && json_is_boolean(v)) {
            b->force = json_is_true(v);
            continue;
        }
        if (text && (json_is_string(v) || (json_is_null(v) && text != &b->tz))) {
            *text = json_string_value(v);
            continue;
        }
        http_reply_problem(req, 400, key, "%s: %s", key,
                           text || strcmp(key, "force") == 0 ? "wrong type" : "unknown member");
        return false;
    }
    if (!b->tz) {
        http_reply_problem(req, 400, "tz", "tz (the zone the month is closed in) is required");
        return false;
    }
    return true;
}

/* The close as JSON (201 after a close, 200 after a reopen). */
static void months_reply_close(http_req *req, int status, const months_close_info *ci,
                               const char *state)
{
    json_t *o = json_object();

    json_object_set_new(o, "month", json_string(ci->month));
    json_object_set_new(o, "tz", json_string(ci->tz));
    json_object_set_new(o, "state", json_string(state));
    json_object_set_new(o, "closed_at", json_string(ci->closed_at));
    json_object_set_new(o, "closed_by", json_string(ci->closed_by));
    json_object_set_new(o, "price_book", json_string(ci->book_name));
    json_object_set_new(o, "csv_sha256", json_string(ci->csv_sha256));
    json_object_set_new(o, "json_sha256", json_string(ci->json_sha256));
    json_object_set_new(o, "focus_sha256",
                        ci->focus_sha256[0] ? json_string(ci->focus_sha256) : json_null());
    json_object_set_new(o, "complete", json_string(ci->complete));
    http_reply_json(req, status, o);
}

void route_month_close(http_req *req)
{
    const char *month = months_path_month(req);
    months_close_req cr = {0};
    months_close_info ci;
    months_result r;
    months_body b;
    PGconn *conn;

    if (!month || !(conn = http_db(req)))
        return;
    if (months_read_body(req, &b, true)) {
        cr.month = month;
        cr.tz = b.tz;
        cr.price_book = b.price_book;
        cr.force = b.force;
        cr.reason = b.reason;
        cr.by = http_principal(req)->name;
        cr.lateness_h = months_lateness_h;
        months_close(conn, &cr, &ci, &r);
        if (r.status == MONTHS_OK)
            months_reply_close(req, 201, &ci, "closed");
        else
            route_months_reply_error(req, &r);
    }
    json_decref(b.root);
}

void route_month_reopen(http_req *req)
{
    const char *month = months_path_month(req);
    months_close_info ci;
    months_result r;
    months_body b;
    PGconn *conn;

    if (!month || !(conn = http_db(req)))
        return;
    if (months_read_body(req, &b, false)) {
        months_reopen(conn, month, b.tz, http_principal(req)->name, b.reason, &ci, &r);
        if (r.status == MONTHS_OK)
            months_reply_close(req, 200, &ci, "reopened");
        else
            route_months_reply_error(req, &r);
    }
    json_decref(b.root);
}
