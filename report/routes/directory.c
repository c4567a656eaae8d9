/* directory.c - GET /v1/developers and /v1/deployments: the dated dimension tables. */
#include "routes.h"

static void directory_reply(http_req *req, const char *sql, const char *filename)
{
    http_rows rows = {0};

    rows.sql = sql;
    rows.csv = http_wants_csv(req);
    rows.filename = filename;
    http_reply_rows(req, &rows);
}

void route_developers(http_req *req)
{
    directory_reply(req,
                    "SELECT oid AS developer_oid, upn AS developer_upn, display_name, team, "
                    "cost_center, " ROUTE_TS_SQL("valid_from") " AS valid_from, " ROUTE_TS_SQL(
                        "valid_to") " AS valid_to "
                                    "FROM developers ORDER BY oid, valid_from",
                    "tally-developers.csv");
}

void route_deployments(http_req *req)
{
    directory_reply(
        req,
        "SELECT name AS deployment, model, " ROUTE_TS_SQL(
            "valid_from") " AS valid_from, " ROUTE_TS_SQL("valid_to") " AS valid_to "
                                                                      "FROM deployments ORDER BY "
                                                                      "name, valid_from",
        "tally-deployments.csv");
}
