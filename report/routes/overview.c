/*
 * overview.c - GET /: the overview page, for someone who has no Grafana yet. One
 * server-rendered HTML page (inline SVG bars, no script, nothing loaded from elsewhere) of
 * a month in a zone (month=, tz=, validated as the API's; default: this month in UTC):
 * spend by team and by model, the top developers, unpriced usage, the quotas nearest their
 * limits, ingest progress and the gaps that make the month incomplete.
 *
 * Every number is the API's: the cost sections run the statement of GET /v1/costs
 * (costs_statement) over the month, scoped to the signed-in caller exactly as /v1/costs
 * scopes a bearer token (developer: own rows; lead: its team, day by day; finance and
 * platform: all), wrapped only to order, cut and measure bars; quotas come from
 * quota_status_list as GET /v1/quotas/status, gaps from tally_ingest_gaps as the monthly
 * report's. Each figure is printed as the exact decimal the API gives, and carried in
 * data- attributes (data-key, data-usd, data-requests) so tests can compare them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "log.h"
#include "routes.h"
#include "store.h"

#define OVERVIEW_BARS 12 /* teams and models charted */
#define OVERVIEW_TOP 10  /* developers and quotas listed */
#define OVERVIEW_PARTITIONS 64
#define OVERVIEW_GAPS 20
#define OVERVIEW_SQL_MAX (COSTS_SQL_MAX + 1024)

typedef struct overview {
    http_req *req;
    PGconn *conn;
    auth_principal who;
    route_book book;
    char month[8], prev[8], next[8], tz[65], from[40], to[40];
    membuf page;
} overview;

/* Runs one statement; NULL after replying when it failed. */
static PGresult *overview_exec(overview *ov, const char *what, const char *sql, int n,
                               const char *const *params)
{
    PGresult *res = PQexecParams(ov->conn, sql, n, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    log_error("could not %s: %s", what, PQresultErrorMessage(res));
    http_reply_db_error(ov->req, PQresultErrorField(res, PG_DIAG_SQLSTATE), NULL);
    PQclear(res);
    return NULL;
}

/*
 * The rows of GET /v1/costs?group_by=<group> (group < 0: none) over the month, as
 * "SELECT <select> FROM (<the costs statement>) c <rest>"; NULL after replying.
 */
static PGresult *overview_costs(overview *ov, int group, const char *select, const char *rest)
{
    char inner[COSTS_SQL_MAX], sql[OVERVIEW_SQL_MAX];
    const char *params[COSTS_NPARAMS];
    query q;

    memset(&q, 0, sizeof(q));
    snprintf(q.tz, sizeof(q.tz), "%s", ov->tz);
    if (group >= 0) {
        q.groups[0] = (query_group)group;
        q.ngroups = 1;
    }
    if (!costs_statement(&q, &ov->who, &ov->book, ov->from, ov->to, inner, sizeof(inner), params) ||
        (size_t)snprintf(sql, sizeof(sql), "SELECT %s FROM (%s) c %s", select, inner, rest) >=
            sizeof(sql)) {
        http_reply_problem(ov->req, 500, NULL, "the cost statement does not fit");
        return NULL;
    }
    return overview_exec(ov, "read costs", sql, COSTS_NPARAMS, params);
}

/* The month (given or this one in the zone), its neighbours and its UTC range. */
static bool overview_month(overview *ov, const query *q)
{
    const char *params[2] = {(q->given & QP_MONTH) ? q->month : NULL, q->tz};
    PGresult *res =
        overview_exec(ov, "resolve the month",
                      "SELECT m, to_char(to_date(m, 'YYYY-MM') - interval '1 month', 'YYYY-MM'), "
                      "to_char(to_date(m, 'YYYY-MM') + interval '1 month', 'YYYY-MM'), "
                      "to_char(r.m_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                      "to_char(r.m_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                      "FROM coalesce($1::text, to_char(now() AT TIME ZONE $2::text, 'YYYY-MM')) m, "
                      "tally_month_range(m, $2::text) r",
                      2, params);

    if (!res)
        return false;
    snprintf(ov->month, sizeof(ov->month), "%s", PQgetvalue(res, 0, 0));
    snprintf(ov->prev, sizeof(ov->prev), "%s", PQgetvalue(res, 0, 1));
    snprintf(ov->next, sizeof(ov->next), "%s", PQgetvalue(res, 0, 2));
    snprintf(ov->from, sizeof(ov->from), "%s", PQgetvalue(res, 0, 3));
    snprintf(ov->to, sizeof(ov->to), "%s", PQgetvalue(res, 0, 4));
    PQclear(res);
    return true;
}

/* A link to another month in the same zone. */
static void overview_month_link(overview *ov, const char *month, const char *text)
{
    html_put(&ov->page, "<a href=\"/?month=%s&amp;tz=", month);
    html_url_value(&ov->page, ov->tz);
    html_put(&ov->page, "\">%s</a>", text);
}

static void overview_header(overview *ov)
{
    const auth_principal *p = &ov->who;

    html_put(&ov->page,
             "<header><h1>tokentally</h1><form method=\"get\" action=\"/\">"
             "<input type=\"month\" name=\"month\" value=\"%s\" aria-label=\"month\"> "
             "<input name=\"tz\" value=\"%s\" aria-label=\"time zone\"> "
             "<button type=\"submit\">Show</button></form>",
             ov->month, ov->tz);
    overview_month_link(ov, ov->prev, "\xe2\x86\x90 previous");
    overview_month_link(ov, ov->next, "next \xe2\x86\x92");
    html_put(&ov->page, "<span class=\"who\" id=\"who\" data-role=\"%s\">%s (%s",
             auth_role_name(p->role), p->name, auth_role_name(p->role));
    if (p->role == AUTH_LEAD)
        html_put(&ov->page, ", team %s", p->scope_team);
    if (p->role == AUTH_DEVELOPER)
        html_put(&ov->page, ", %s", p->scope_oid);
    html_put(&ov->page, ")</span><form method=\"post\" action=\"/logout\">"
                        "<button type=\"submit\">Sign out</button></form></header>\n<main>\n");
}

static bool overview_summary(overview *ov)
{
    static const char *const scope[] = {"all costs", "the team's costs, day by day of membership",
                                        "your own costs"};
    PGresult *res = overview_costs(
        ov, -1,
        "coalesce(tally_money_text(sum(c.cost_usd::numeric) FILTER (WHERE c.priced)), '0'), "
        "coalesce(sum(c.requests) FILTER (WHERE c.priced), 0)::text, "
        "coalesce(sum(c.requests) FILTER (WHERE NOT c.priced), 0)::text",
        "");

    if (!res)
        return false;
    html_put(
        &ov->page,
        "<section class=\"wide\" id=\"summary\"><h2>%s (%s): %s</h2><div class=\"cards\">"
        "<div class=\"card\">priced spend<b id=\"total\" data-usd=\"%s\">$%s</b></div>"
        "<div class=\"card\">priced requests<b id=\"requests\" data-requests=\"%s\">%s</b></div>"
        "<div class=\"card\">unpriced requests<b id=\"unpriced-requests\" "
        "data-requests=\"%s\">%s</b></div>",
        ov->month, ov->tz,
        scope[ov->who.role == AUTH_LEAD        ? 1
              : ov->who.role == AUTH_DEVELOPER ? 2
                                               : 0],
        PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 1),
        PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 2));
    if (ov->book.loaded)
        html_put(
            &ov->page,
            "<div class=\"card\">price book<b id=\"price-book\" data-sha256=\"%s\">%s</b></div>",
            ov->book.sha256, ov->book.name);
    else
        html_put(&ov->page, "<div class=\"card\">price book<b id=\"price-book\" class=\"warn\">"
                            "none loaded</b></div>");
    html_put(&ov->page, "</div></section>\n");
    PQclear(res);
    return true;
}

/* The bar length of a priced row against the largest, as SQL over the costs rows c. */
#define OVERVIEW_BAR_SQL                                                                           \
    "CASE WHEN max(c.cost_usd::numeric) OVER () > 0 THEN round(c.cost_usd::numeric * %d "          \
    "/ max(c.cost_usd::numeric) OVER ())::int ELSE 0 END"

/* A chart of spend by group (key column col), largest first. */
static bool overview_chart(overview *ov, int group, const char *col, const char *id,
                           const char *title, const char *none_label)
{
    char select[512], rest[256], value[OVERVIEW_BARS][80], chart[64];
    html_bar bars[OVERVIEW_BARS];
    PGresult *res;
    int n;

    snprintf(select, sizeof(select), "c.%s, c.cost_usd, c.requests::text, " OVERVIEW_BAR_SQL, col,
             HTML_BAR_FULL);
    snprintf(rest, sizeof(rest),
             "WHERE c.priced ORDER BY c.cost_usd::numeric DESC, c.%s COLLATE \"C\" LIMIT %d", col,
             OVERVIEW_BARS);
    if (!(res = overview_costs(ov, group, select, rest)))
        return false;
    n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        const char *key = PQgetvalue(res, i, 0);
        snprintf(value[i], sizeof(value[i]), "$%s", PQgetvalue(res, i, 1));
        bars[i] = (html_bar){key,
                             *key ? key : none_label,
                             value[i],
                             PQgetvalue(res, i, 1),
                             PQgetvalue(res, i, 2),
                             (int)strtol(PQgetvalue(res, i, 3), NULL, 10)};
    }
    snprintf(chart, sizeof(chart), "%s-chart", id);
    html_put(&ov->page, "<section id=\"%s\"><h2>%s</h2>", id, title);
    html_bar_chart(&ov->page, chart, title, bars, n);
    html_put(&ov->page, "</section>\n");
    PQclear(res);
    return true;
}

static bool overview_developers(overview *ov)
{
    char select[512], rest[256];
    PGresult *res;
    int n;

    snprintf(select, sizeof(select),
             "c.developer_oid, c.developer_upn, c.cost_usd, c.requests::text, " OVERVIEW_BAR_SQL,
             HTML_BAR_FULL);
    snprintf(rest, sizeof(rest),
             "WHERE c.priced ORDER BY c.cost_usd::numeric DESC, c.developer_oid COLLATE \"C\" "
             "LIMIT %d",
             OVERVIEW_TOP);
    if (!(res = overview_costs(ov, QG_DEVELOPER, select, rest)))
        return false;
    n = PQntuples(res);
    html_put(&ov->page, "<section id=\"developers\"><h2>Top developers</h2>");
    if (n == 0)
        html_put(&ov->page, "<p class=\"none\">none</p>");
    else
        html_put(&ov->page, "<table><tr><th>developer</th><th class=\"n\">spend</th>"
                            "<th class=\"n\">requests</th><th></th></tr>");
    for (int i = 0; i < n; i++) {
        const char *oid = PQgetvalue(res, i, 0), *upn = PQgetvalue(res, i, 1);
        html_put(&ov->page,
                 "<tr data-key=\"%s\" data-usd=\"%s\" data-requests=\"%s\"><td title=\"%s\">%s</td>"
                 "<td class=\"n\">$%s</td><td class=\"n\">%s</td><td><span class=\"meter\" "
                 "style=\"width:%dpx\"></span></td></tr>",
                 oid, PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), oid, *upn ? upn : oid,
                 PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                 (int)strtol(PQgetvalue(res, i, 4), NULL, 10) / 10);
    }
    membuf_puts(&ov->page, n ? "</table></section>\n" : "</section>\n");
    PQclear(res);
    return true;
}

static bool overview_unpriced(overview *ov)
{
    PGresult *res = overview_costs(
        ov, QG_MODEL,
        "c.model, c.requests::text, c.input_tokens::text, c.output_tokens::text, "
        "c.cache_read_tokens::text, (c.cache_write_5m_tokens + c.cache_write_1h_tokens)::text",
        "WHERE NOT c.priced ORDER BY c.requests DESC, c.model COLLATE \"C\"");
    int n;

    if (!res)
        return false;
    n = PQntuples(res);
    html_put(&ov->page, "<section id=\"unpriced\"><h2>Unpriced usage</h2>");
    if (n == 0) {
        html_put(&ov->page, "<p class=\"none\">none: the price book prices every request</p>");
    } else {
        html_put(&ov->page,
                 "<p class=\"warn\">%d model%s without a price in the book: counted here, "
                 "never as $0</p><table><tr><th>model</th><th class=\"n\">requests</th>"
                 "<th class=\"n\">input</th><th class=\"n\">output</th><th class=\"n\">cache read"
                 "</th><th class=\"n\">cache write</th></tr>",
                 n, n == 1 ? "" : "s");
    }
    for (int i = 0; i < n; i++) {
        const char *model = PQgetvalue(res, i, 0);
        html_put(&ov->page,
                 "<tr data-key=\"%s\" data-requests=\"%s\" data-input=\"%s\" data-output=\"%s\">"
                 "<td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                 "<td class=\"n\">%s</td><td class=\"n\">%s</td></tr>",
                 model, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                 *model ? model : "(no model)", PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                 PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
    }
    membuf_puts(&ov->page, n ? "</table></section>\n" : "</section>\n");
    PQclear(res);
    return true;
}

/* The quotas in the caller's scope (as GET /v1/quotas/status), nearest their limit first. */
static bool overview_quotas(overview *ov)
{
    quota_scope scope = {0};
    json_t *list;
    char *text;
    const char *params[2];
    char top[16];
    PGresult *res;
    int n;

    scope.all = ov->who.role == AUTH_FINANCE || ov->who.role == AUTH_PLATFORM;
    scope.team = auth_scope_team(&ov->who);
    scope.developer = auth_scope_oid(&ov->who);
    if (!(list = quota_status_list(ov->conn, &scope, NULL))) {
        http_reply_db_error(ov->req, NULL, NULL);
        return false;
    }
    text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    if (!text) {
        http_reply_problem(ov->req, 500, NULL, "out of memory");
        return false;
    }
    snprintf(top, sizeof(top), "%d", OVERVIEW_TOP);
    params[0] = text;
    params[1] = top;
    /* the ratio is exact numeric text: Postgres orders and measures it */
    res = overview_exec(ov, "order the quotas",
                        "SELECT e->>'id', e->>'name', e->>'scope', e->>'subject', e->>'metric', "
                        "e->>'period', e->>'used', e->>'limit', "
                        "coalesce(floor((e->>'ratio')::numeric * 100)::text, ''), "
                        "coalesce(least(round((e->>'ratio')::numeric * 100), 100)::int, 0), "
                        "coalesce((e->>'ratio')::numeric >= 0.8, false) "
                        "FROM json_array_elements($1::json) e "
                        "ORDER BY (e->>'ratio')::numeric DESC NULLS LAST, (e->>'id')::int "
                        "LIMIT $2::int",
                        2, params);
    free(text);
    if (!res)
        return false;
    n = PQntuples(res);
    html_put(&ov->page, "<section id=\"quotas\"><h2>Quotas nearest their limits</h2>");
    if (n == 0)
        html_put(&ov->page, "<p class=\"none\">no quota applies</p>");
    else
        html_put(&ov->page, "<table><tr><th>quota</th><th>applies to</th><th>period</th>"
                            "<th class=\"n\">used</th><th class=\"n\">limit</th><th></th></tr>");
    for (int i = 0; i < n; i++) {
        bool high = PQgetvalue(res, i, 10)[0] == 't';
        html_put(&ov->page,
                 "<tr data-key=\"%s\" data-used=\"%s\" data-limit=\"%s\"><td>%s</td><td>%s %s</td>"
                 "<td>%s, %s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                 "<td><span class=\"meter%s\" style=\"width:%dpx\"></span> %s %%</td></tr>",
                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 6), PQgetvalue(res, i, 7),
                 PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                 PQgetvalue(res, i, 5), PQgetvalue(res, i, 4), PQgetvalue(res, i, 6),
                 PQgetvalue(res, i, 7), high ? " high" : "",
                 (int)strtol(PQgetvalue(res, i, 9), NULL, 10), PQgetvalue(res, i, 8));
    }
    membuf_puts(&ov->page, n ? "</table></section>\n" : "</section>\n");
    PQclear(res);
    return true;
}

/* Ingest progress per partition (ingest_offsets) and the month's gaps (tally_ingest_gaps). */
static bool overview_ingest(overview *ov)
{
    const char *params[3] = {ov->month, ov->tz, NULL};
    char limit[16];
    PGresult *res;
    int n;

    snprintf(limit, sizeof(limit), "%d", OVERVIEW_PARTITIONS);
    params[2] = limit;
    res = overview_exec(
        ov, "read the ingest offsets",
        "SELECT consumer_group, topic, partition::text, next_offset::text, "
        "tally_iso_utc(updated_at), coalesce(tally_iso_utc(last_event_at), ''), "
        "greatest(extract(epoch FROM now() - updated_at), 0)::bigint::text "
        "FROM ingest_offsets ORDER BY consumer_group COLLATE \"C\", topic COLLATE \"C\", "
        "partition LIMIT $1::int",
        1, params + 2);
    if (!res)
        return false;
    n = PQntuples(res);
    html_put(&ov->page, "<section id=\"ingest\" class=\"wide\"><h2>Ingest</h2>");
    if (n == 0)
        html_put(&ov->page, "<p class=\"none\">no Kafka partition consumed yet</p>");
    else
        html_put(&ov->page, "<table><tr><th>consumer group</th><th>topic</th><th class=\"n\">"
                            "partition</th><th class=\"n\">next offset</th><th>last commit</th>"
                            "<th class=\"n\">seconds ago</th><th>last event time</th></tr>");
    for (int i = 0; i < n; i++)
        html_put(&ov->page,
                 "<tr data-key=\"%s/%s/%s\" data-next-offset=\"%s\"><td>%s</td><td>%s</td>"
                 "<td class=\"n\">%s</td><td class=\"n\">%s</td><td>%s</td><td class=\"n\">%s"
                 "</td><td>%s</td></tr>",
                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                 PQgetvalue(res, i, 3), PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                 PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
                 PQgetvalue(res, i, 6), PQgetvalue(res, i, 5));
    membuf_puts(&ov->page, n ? "</table>" : "");
    PQclear(res);

    snprintf(limit, sizeof(limit), "%d", OVERVIEW_GAPS);
    res = overview_exec(ov, "read the ingest gaps",
                        "SELECT consumer_group, topic, partition::text, first_offset::text, "
                        "last_offset::text, lost_messages::text, tally_iso_utc(detected_at), "
                        "count(*) OVER ()::text, (sum(lost_messages) OVER ())::text "
                        "FROM tally_ingest_gaps($1::text, $2::text) LIMIT $3::int",
                        3, params);
    if (!res)
        return false;
    n = PQntuples(res);
    if (n == 0)
        html_put(&ov->page,
                 "<p id=\"gaps\" data-gaps=\"0\" data-lost=\"0\">No messages were "
                 "lost before ingestion in %s: the month is complete.</p>",
                 ov->month);
    else
        html_put(&ov->page,
                 "<p id=\"gaps\" class=\"warn\" data-gaps=\"%s\" data-lost=\"%s\">%s is "
                 "incomplete: %s gap%s, %s messages lost before ingestion.</p><table><tr><th>"
                 "consumer group</th><th>topic</th><th class=\"n\">partition</th><th class=\"n\">"
                 "offsets</th><th class=\"n\">lost</th><th>detected</th></tr>",
                 PQgetvalue(res, 0, 7), PQgetvalue(res, 0, 8), ov->month, PQgetvalue(res, 0, 7),
                 strcmp(PQgetvalue(res, 0, 7), "1") == 0 ? "" : "s", PQgetvalue(res, 0, 8));
    for (int i = 0; i < n; i++)
        html_put(&ov->page,
                 "<tr><td>%s</td><td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s\xe2\x80\x93%s"
                 "</td><td class=\"n\">%s</td><td>%s</td></tr>",
                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                 PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
                 PQgetvalue(res, i, 6));
    membuf_puts(&ov->page, n ? "</table></section>\n" : "</section>\n");
    PQclear(res);
    return true;
}

void route_overview(http_req *req)
{
    const query *q = http_query(req);
    overview ov;
    bool ok;

    memset(&ov, 0, sizeof(ov));
    ov.req = req;
    if (!route_page_principal(req, &ov.who) || !(ov.conn = http_db(req)) ||
        !route_book_resolve(req, &ov.book))
        return;
    snprintf(ov.tz, sizeof(ov.tz), "%s", q->tz);
    if (!overview_month(&ov, q))
        return;
    html_page_begin(&ov.page, "tokentally: overview");
    overview_header(&ov);
    ok = overview_summary(&ov) &&
         overview_chart(&ov, QG_TEAM, "team", "teams", "Spend by team", "(no team)") &&
         overview_chart(&ov, QG_MODEL, "model", "models", "Spend by model", "(no model)") &&
         overview_developers(&ov) && overview_unpriced(&ov) && overview_quotas(&ov) &&
         overview_ingest(&ov);
    if (!ok) {
        membuf_free(&ov.page);
        return;
    }
    html_put(&ov.page, "</main>\n");
    html_page_end(&ov.page);
    route_page_reply(req, 200, &ov.page, NULL, NULL);
}
