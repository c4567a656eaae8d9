/*
 * costs.c - GET /v1/costs: usage and cost over [from, to) in a zone, grouped by
 * an allow-listed set of dimensions, filtered, scoped to the caller's role in SQL. A
 * developer's team for grouping and filters is the one its labels give for the range, as in
 * the monthly report. A lead's scope follows membership day by day (in the zone), as team
 * quotas do: a developer's usage counts on the days a dated row names the lead's team, so
 * a move between teams inside the range never shows one team the other's usage.
 * The statement is assembled only from the fixed fragments below; every value is bound.
 */
#include <stdio.h>
#include <string.h>

#include "routes.h"

typedef struct cost_group_sql {
    const char *select; /* select-list items */
    const char *group;  /* GROUP BY / ORDER BY expression */
} cost_group_sql;

static const cost_group_sql COST_GROUPS[QG_COUNT] = {
    [QG_DEVELOPER] = {"u.developer_oid AS developer_oid, "
                      "max(coalesce(d.upn, l.upn, '')) AS developer_upn",
                      "u.developer_oid"},
    [QG_TEAM] = {"coalesce(d.team, '') AS team", "coalesce(d.team, '')"},
    [QG_MODEL] = {"u.model AS model", "u.model"},
    [QG_DEPLOYMENT] = {"u.deployment AS deployment", "u.deployment"},
    [QG_DAY] = {"to_char(u.period_start AT TIME ZONE $4::text, 'YYYY-MM-DD') AS day",
                "to_char(u.period_start AT TIME ZONE $4::text, 'YYYY-MM-DD')"},
    [QG_MONTH] = {"to_char(u.period_start AT TIME ZONE $4::text, 'YYYY-MM') AS month",
                  "to_char(u.period_start AT TIME ZONE $4::text, 'YYYY-MM')"},
};

/* A lead's scope ($10) on the engine's day grain: a row counts when a dated row valid on its
   day (from its start to the day's end in the zone) names the team; team "" is the days on
   which no row names a team. */
#define COSTS_MEMBER_DAY                                                                           \
    "SELECT 1 FROM developers m WHERE m.oid = u.developer_oid "                                    \
    "AND m.valid_to > u.period_start AND m.valid_from < ((date_trunc('day', u.period_start AT "    \
    "TIME ZONE $4::text) + interval '1 day') AT TIME ZONE $4::text) "
#define COSTS_LEAD_SCOPE                                                                           \
    "($10::text IS NULL OR CASE WHEN $10::text = '' "                                              \
    "THEN NOT EXISTS (" COSTS_MEMBER_DAY "AND coalesce(m.team, '') <> '') "                        \
    "ELSE EXISTS (" COSTS_MEMBER_DAY "AND m.team = $10::text) END) "
/* Unscoped callers and developers: the team at the range start, no per-day pass. */
#define COSTS_RANGE_SCOPE "($10::text IS NULL OR coalesce(d.team, '') = $10::text) "

/* Builds the statement for q's groups into sql; false if it does not fit. */
static bool costs_sql(const query *q, bool lead, char *sql, size_t len)
{
    char select[1024] = "", group[512] = "";
    size_t n;

    for (int i = 0; i < q->ngroups; i++) {
        const cost_group_sql *g = &COST_GROUPS[q->groups[i]];
        n = strlen(select);
        snprintf(select + n, sizeof(select) - n, "%s, ", g->select);
        n = strlen(group);
        snprintf(group + n, sizeof(group) - n, "%s, ", g->group);
    }
    /* dl: each developer's labels for the range, as tally_developer_at picks them for a
       report (the row valid at its start, else the first starting inside), read once */
    n = (size_t)snprintf(
        sql, len,
        "WITH dl AS (SELECT DISTINCT ON (oid) oid, upn, team FROM developers "
        "WHERE valid_to > $2::timestamptz AND valid_from < $3::timestamptz "
        "ORDER BY oid, valid_from <= $2::timestamptz DESC, valid_from) "
        "SELECT %s"
        "sum(u.requests)::bigint AS requests, "
        "sum(u.long_context_requests)::bigint AS long_context_requests, "
        "sum(u.input_tokens)::bigint AS input_tokens, "
        "sum(u.cache_write_5m_tokens)::bigint AS cache_write_5m_tokens, "
        "sum(u.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens, "
        "sum(u.cache_write_unsplit_tokens)::bigint AS cache_write_unsplit_tokens, "
        "sum(u.cache_read_tokens)::bigint AS cache_read_tokens, "
        "sum(u.output_tokens)::bigint AS output_tokens, "
        "u.priced AS priced, tally_money_text(sum(u.cost_usd)) AS cost_usd "
        "FROM tally_usage_priced($1::int, $2::timestamptz, $3::timestamptz, $4::text, $5::text) u "
        "LEFT JOIN dl d ON d.oid = u.developer_oid "
        "LEFT JOIN developer_labels l ON l.oid = u.developer_oid "
        "WHERE ($6::text IS NULL OR coalesce(d.team, '') = $6::text) "
        "AND ($7::text IS NULL OR u.developer_oid = $7::text) "
        "AND ($8::text IS NULL OR u.model = $8::text) "
        "AND ($9::text IS NULL OR u.deployment = $9::text) "
        "AND %s"
        "AND ($11::text IS NULL OR u.developer_oid = $11::text) "
        "GROUP BY %su.priced ORDER BY %su.priced DESC",
        select, lead ? COSTS_LEAD_SCOPE : COSTS_RANGE_SCOPE, group, group);
    return n < len;
}

bool costs_statement(const query *q, const auth_principal *who, const route_book *book,
                     const char *from, const char *to, char *sql, size_t len,
                     const char *params[COSTS_NPARAMS])
{
    if (!costs_sql(q, auth_scope_team(who) != NULL, sql, len))
        return false;
    params[0] = route_book_param(book);
    params[1] = from;
    params[2] = to;
    params[3] = q->tz;
    /* a lead's scope is decided per day; month groups sum the days */
    params[4] = query_has_group(q, QG_DAY) || auth_scope_team(who) ? "day"
                : query_has_group(q, QG_MONTH)                     ? "month"
                                                                   : "none";
    params[5] = (q->given & QP_TEAM) ? q->team : NULL;
    params[6] = (q->given & QP_DEVELOPER) ? q->developer : NULL;
    params[7] = (q->given & QP_MODEL) ? q->model : NULL;
    params[8] = (q->given & QP_DEPLOYMENT) ? q->deployment : NULL;
    params[9] = auth_scope_team(who);
    params[10] = auth_scope_oid(who);
    return true;
}

void route_costs(http_req *req)
{
    const query *q = http_query(req);
    char sql[COSTS_SQL_MAX], from[40], to[40];
    const char *params[COSTS_NPARAMS];
    route_book book;
    json_t *header, *groups;

    if (!route_book_resolve(req, &book) || !route_range(req, from, to))
        return;
    if (!costs_statement(q, http_principal(req), &book, from, to, sql, sizeof(sql), params)) {
        http_reply_problem(req, 500, NULL, "the cost statement does not fit");
        return;
    }

    header = json_object();
    json_object_set_new(header, "from", json_string(from));
    json_object_set_new(header, "to", json_string(to));
    json_object_set_new(header, "tz", json_string(q->tz));
    groups = json_array();
    for (int i = 0; i < q->ngroups; i++)
        json_array_append_new(groups, json_string(QUERY_GROUP_NAMES[q->groups[i]]));
    json_object_set_new(header, "group_by", groups);
    json_object_set_new(header, "price_book", route_book_json(&book));
    route_reply_usage(req, sql, COSTS_NPARAMS, params, header, "tally-costs.csv");
}
