/*
 * table.c - the route table of tally-report, handed to the HTTP server through
 * http_config. Adding a route: one row here, its handler in the file of its family
 * (report/routes/<family>.c), declared in routes.h, and its path in report/openapi.yaml
 * (test_openapi.sh compares them).
 */
#include "routes.h"

#define COST_PARAMS                                                                                \
    (QP_FROM | QP_TO | QP_TZ | QP_GROUP_BY | QP_DEVELOPER | QP_TEAM | QP_MODEL | QP_DEPLOYMENT |   \
     QP_PRICE_BOOK | CSV_PARAMS)
#define REPORT_PARAMS (QP_MONTH | QP_TZ | QP_PRICE_BOOK | CSV_PARAMS | QP_LAYOUT)
#define FINANCE (AUTH_FINANCE | AUTH_PLATFORM)
/* a route that can answer CSV: format=csv, and guard=none for CSV without the formula guard */
#define CSV_PARAMS (QP_FORMAT | QP_GUARD)

const http_route ROUTES[] = {
    {HTTP_GET, "/", AUTH_OPEN, QP_MONTH | QP_TZ, route_overview, "overview page (HTML)", false},
    {HTTP_GET | HTTP_POST, "/login", AUTH_OPEN, 0, route_login, "sign-in form, sign in", false},
    {HTTP_POST, "/logout", AUTH_OPEN, 0, route_logout, "sign out", false},
    {HTTP_GET, "/login/entra", AUTH_OPEN, 0, route_login_entra, "sign in with Microsoft", false},
    {HTTP_GET, "/login/entra/callback", AUTH_OPEN, QP_OWN, route_login_entra_callback,
     "sign in with Microsoft: the identity provider's answer", false},
    {HTTP_GET, "/healthz", HTTP_PROBE, 0, route_healthz, "liveness", true},
    {HTTP_GET, "/readyz", HTTP_PROBE, 0, route_readyz, "database reachable, migrations current",
     true},
    {HTTP_GET, "/metrics", HTTP_PROBE, 0, route_metrics, "Prometheus metrics", false},
    {HTTP_GET, "/v1/costs", AUTH_ANY_ROLE, COST_PARAMS, route_costs, "costs, grouped", false},
    {HTTP_GET, "/v1/reports/monthly", AUTH_ANY_ROLE, REPORT_PARAMS, route_reports_monthly,
     "monthly chargeback", false},
    {HTTP_GET, "/v1/exports/focus", FINANCE, REPORT_PARAMS, route_exports_focus, "FOCUS 1.2 export",
     false},
    {HTTP_GET, "/v1/reconciliation", FINANCE, QP_MONTH | QP_PRICE_BOOK | CSV_PARAMS,
     route_reconciliation, "metered cost against the Azure bill", false},
    {HTTP_GET, "/v1/usage/unpriced", FINANCE, QP_FROM | QP_TO | QP_TZ | CSV_PARAMS,
     route_usage_unpriced, "usage without a price", false},
    {HTTP_GET, "/v1/prices", FINANCE, QP_PRICE_BOOK | CSV_PARAMS, route_prices, "price books",
     false},
    {HTTP_GET, "/v1/developers", AUTH_PLATFORM, CSV_PARAMS, route_developers, "developers", false},
    {HTTP_GET, "/v1/deployments", AUTH_PLATFORM, CSV_PARAMS, route_deployments, "deployments",
     false},
    {HTTP_GET | HTTP_POST, "/v1/quotas", AUTH_PLATFORM, 0, route_quotas, "quotas: list, create",
     false},
    {HTTP_GET, "/v1/quotas/status", AUTH_ANY_ROLE, 0, route_quotas_status, "quota use now", false},
    {HTTP_GET | HTTP_PUT | HTTP_DELETE, "/v1/quotas/{id}", AUTH_PLATFORM, 0, route_quota,
     "a quota with its alerts: read, replace, delete", false},
    {HTTP_GET, "/v1/months", FINANCE, QP_FORMAT, route_months, "month closes", false},
    {HTTP_GET, "/v1/months/{month}", FINANCE, 0, route_month,
     "a month: its closes, audit and pending corrections", false},
    {HTTP_POST, "/v1/months/{month}/close", FINANCE, 0, route_month_close,
     "close a month: freeze its chargeback", false},
    {HTTP_POST, "/v1/months/{month}/reopen", AUTH_PLATFORM, 0, route_month_reopen,
     "reopen a closed month", false},
};

const int ROUTES_COUNT = (int)(sizeof(ROUTES) / sizeof(ROUTES[0]));
