/*
 * months.c - tallyctl months close|list|show|reopen: month close for finance
 * (docs/architecture.md, "Month close"), the same functions as tally-report's
 * /v1/months routes (report/months.h). Whoever runs tallyctl has the database, so it may
 * reopen (the API keeps that to platform tokens); it is recorded as "tallyctl:" and the
 * database user. Single-threaded (a command of tallyctl).
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "ctl.h"
#include "db.h"
#include "log.h"
#include "months.h"

/* The one positional argument YYYY-MM; NULL after saying so. */
static const char *ctl_months_arg(const cfg *c, const char *command)
{
    if (c->nargs != 1) {
        fprintf(stderr, "tallyctl: usage: tallyctl months %s YYYY-MM --tz ZONE …\n", command);
        return NULL;
    }
    return c->args[0];
}

/* The exit code of a months.h result, after one line on stderr when it is not OK. */
static int ctl_months_exit(const months_result *r, const char *what, const char *month)
{
    switch (r->status) {
    case MONTHS_OK:
        return CFG_EXIT_OK;
    case MONTHS_BAD_INPUT:
        fprintf(stderr, "tallyctl: invalid value for \"%s\": %s\n", r->param, r->detail);
        return CFG_EXIT_USAGE;
    default:
        fprintf(stderr, "tallyctl: could not %s %s: %s\n", what, month, r->detail);
        return CFG_EXIT_RUNTIME;
    }
}

int ctl_months_close(const cfg *c)
{
    const char *month = ctl_months_arg(c, "close");
    months_close_req req = {0};
    months_close_info ci;
    months_result r;
    PGconn *conn;
    int rc;

    if (!month)
        return CFG_EXIT_USAGE;
    req.month = month;
    req.tz = cfg_str(c, "tz");
    req.price_book = cfg_str(c, "price_book");
    req.force = cfg_bool(c, "force");
    req.reason = cfg_str(c, "reason");
    req.lateness_h = (int)cfg_int(c, "close_lateness_h");
    if (!req.tz) {
        fprintf(stderr, "tallyctl: months close needs --tz ZONE (the zone finance reports in)\n");
        return CFG_EXIT_USAGE;
    }
    if (!(conn = ctl_connect_utc(c)))
        return CFG_EXIT_RUNTIME;
    months_close(conn, &req, &ci, &r);
    rc = ctl_months_exit(&r, "close", month);
    if (rc == CFG_EXIT_OK)
        printf("closed %s in %s with price book %s by %s at %s\ncsv sha256 %s\njson sha256 %s\n"
               "focus sha256 %s\n",
               ci.month, ci.tz, ci.book_name, ci.closed_by, ci.closed_at, ci.csv_sha256,
               ci.json_sha256, ci.focus_sha256);
    PQfinish(conn);
    return rc;
}

int ctl_months_reopen(const cfg *c)
{
    const char *month = ctl_months_arg(c, "reopen");
    months_close_info ci;
    months_result r;
    PGconn *conn;
    int rc;

    if (!month)
        return CFG_EXIT_USAGE;
    if (!cfg_str(c, "tz")) {
        fprintf(stderr, "tallyctl: months reopen needs --tz ZONE\n");
        return CFG_EXIT_USAGE;
    }
    if (!(conn = ctl_connect_utc(c)))
        return CFG_EXIT_RUNTIME;
    months_reopen(conn, month, cfg_str(c, "tz"), NULL, cfg_str(c, "reason"), &ci, &r);
    rc = ctl_months_exit(&r, "reopen", month);
    if (rc == CFG_EXIT_OK)
        printf("reopened %s in %s (closed at %s by %s)\n", ci.month, ci.tz, ci.closed_at,
               ci.closed_by);
    PQfinish(conn);
    return rc;
}

int ctl_months_list(const cfg *c)
{
    return ctl_print_query(c, "list the month closes", "SELECT * FROM tally_month_closes()");
}

int ctl_months_show(const cfg *c)
{
    const char *params[1] = {ctl_months_arg(c, "show")};
    PGconn *conn;
    PGresult *res;
    json_t *doc;
    char *text = NULL;

    if (!params[0])
        return CFG_EXIT_USAGE;
    if (!(conn = ctl_connect_utc(c)))
        return CFG_EXIT_RUNTIME;
    res = db_query(conn, "show the month", "SELECT tally_month_show($1)", 1, params);
    doc = res ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    if (doc)
        text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(doc);
    PQclear(res);
    PQfinish(conn);
    return text ? CFG_EXIT_OK : CFG_EXIT_RUNTIME;
}
