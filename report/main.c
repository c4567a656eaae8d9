/*
 * tally-report: the HTTP API (costs, reports, exports, admin listings, /metrics).
 * Reads the config, starts the server, waits for SIGTERM/SIGINT, stops gracefully.
 */
#include <stdio.h>

#include "alert.h"
#include "auth.h"
#include "authcode.h"
#include "cfg.h"
#include "entra.h"
#include "evaluator.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "prom.h"
#include "routes/routes.h"
#include "session.h"
#include "sig.h"
#include "tz.h"

static const cfg_spec REPORT_SPEC[] = {
    {"db", CFG_STR, "", 0, 0, NULL, CFG_CONNINFO,
     "PostgreSQL conninfo (libpq; PG* variables work)"},
    {"listen", CFG_STR, "127.0.0.1:8080", 0, 0, NULL, CFG_PUBLIC,
     "HTTP listen address ADDR:PORT ([v6]:PORT, :PORT for every address)"},
    {"db_pool_size", CFG_INT, "8", 1, 1000, NULL, CFG_PUBLIC,
     "database connections: requests that query at once (others wait up to 5 s, then 503)"},
    {"max_connections", CFG_INT, "256", 1, 100000, NULL, CFG_PUBLIC,
     "open HTTP connections (one thread each); 4 more are kept for /healthz and /readyz"},
    {"request_timeout_s", CFG_INT, "30", 1, 3600, NULL, CFG_PUBLIC,
     "idle connection timeout and statement timeout, seconds"},
    {"header_timeout_s", CFG_INT, "10", 1, 3600, NULL, CFG_PUBLIC,
     "a request's whole header must arrive within this, seconds, else the connection is closed"},
    {"max_connections_per_address", CFG_INT, "0", 0, 100000, NULL, CFG_PUBLIC,
     "open HTTP connections per client address, 0 for no limit (behind a proxy all share one)"},
    {"shutdown_grace_s", CFG_INT, "10", 0, 3600, NULL, CFG_PUBLIC,
     "on SIGTERM, how long in-flight requests may finish, seconds"},
    {"metrics_auth", CFG_BOOL, "false", 0, 0, NULL, CFG_PUBLIC,
     "/healthz, /readyz and /metrics need a bearer token"},
    {"list_routes", CFG_BOOL, "false", 0, 0, NULL, CFG_PUBLIC,
     "print the routes served (METHOD PATH) and exit"},
    {"log_level", CFG_STR, "info", 0, 0, "error|warn|info|debug", CFG_PUBLIC, "log level"},
    {"cookie_secure", CFG_BOOL, "false", 0, 0, NULL, CFG_PUBLIC,
     "the overview page's session cookie is Secure (set when users reach it over https)"},
    {"session_ttl_s", CFG_INT, "28800", 60, 2592000, NULL, CFG_PUBLIC,
     "how long an overview page sign-in lasts, seconds"},
    {"reconcile_tolerance_pct", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "GET /v1/reconciliation: how far in percent of the metered cost a day's bill may be off "
     "before it is flagged, 0..100 (unset: 1)"},
    EVALUATOR_CFG_SPEC,
    ENTRA_CFG_SPEC,
    AUTHCODE_CFG_SPEC,
    ALERT_CFG_SPEC,
    MONTHS_CFG_SPEC,
};

/* how long a request waits for a database connection before its 503 */
#define REPORT_POOL_WAIT_MS 5000

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(int argc, char **argv)
{
    cfg c;
    http_config hc;
    http_server *srv = NULL;
    prom_registry *reg = NULL;
    tz_cache *tz = NULL;
    session_opts so;
    pool_config pc;
    pool *db = NULL;
    evaluator *ev = NULL;
    evaluator_metrics em;
    alert_opts ao;
    entra *signin = NULL;
    authcode *web_signin = NULL;
    int rc = cfg_load(&c, "tally-report", REPORT_SPEC, N(REPORT_SPEC), argc, argv);

    if (rc != CFG_EXIT_OK)
        goto out;
    rc = cfg_info(&c, "tally-report [--config FILE] [--db CONNINFO] [--listen ADDR:PORT]");
    if (rc >= 0)
        goto out;
    rc = CFG_EXIT_USAGE;
    if (!cfg_no_args(&c, 0))
        goto out;
    if (cfg_bool(&c, "list_routes")) {
        http_print_routes(stdout, ROUTES, ROUTES_COUNT);
        rc = CFG_EXIT_OK;
        goto out;
    }
    if (log_init("tally-report", cfg_str(&c, "log_level")) != 0) {
        fprintf(stderr, "tally-report: invalid value for \"log_level\"\n");
        rc = CFG_EXIT_USAGE;
        goto out;
    }
    rc = entra_from_cfg(&c, &signin);
    if (rc != CFG_EXIT_OK)
        goto out;
    auth_use_entra(signin);
    rc = authcode_from_cfg(&c, signin, &web_signin);
    if (rc != CFG_EXIT_OK)
        goto out;
    if (cfg_str(&c, "reconcile_tolerance_pct") &&
        !session_percent_ok(cfg_str(&c, "reconcile_tolerance_pct"))) {
        fprintf(stderr, "tally-report: invalid value for \"reconcile_tolerance_pct\": a percent "
                        "from 0 to 100 with at most 4 decimals\n");
        rc = CFG_EXIT_USAGE;
        goto out;
    }
    sig_install();
    if (!alert_global_init()) {
        rc = CFG_EXIT_RUNTIME;
        goto out;
    }
    reg = prom_registry_new();
    tz = tz_cache_new();
    so.statement_timeout_ms = (int)cfg_int(&c, "request_timeout_s") * 1000;
    so.tz = tz;
    so.reconcile_tolerance_pct = cfg_str(&c, "reconcile_tolerance_pct");
    pc.conninfo = cfg_str(&c, "db");
    pc.size = (int)cfg_int(&c, "db_pool_size");
    pc.wait_ms = REPORT_POOL_WAIT_MS;
    pc.setup = session_setup;
    pc.setup_ctx = &so;
    db = pool_new(&pc);
    if (!reg || !tz || !db) {
        log_error("out of memory");
        rc = CFG_EXIT_RUNTIME;
        goto out;
    }
    route_web_configure(cfg_bool(&c, "cookie_secure"), (int)cfg_int(&c, "session_ttl_s"));
    route_web_use_entra(web_signin);
    hc.listen = cfg_str(&c, "listen");
    hc.routes = ROUTES;
    hc.nroutes = ROUTES_COUNT;
    hc.pool = db;
    hc.tz = tz;
    hc.max_connections = (int)cfg_int(&c, "max_connections");
    hc.request_timeout_s = (int)cfg_int(&c, "request_timeout_s");
    hc.header_timeout_s = (int)cfg_int(&c, "header_timeout_s");
    hc.max_per_address = (int)cfg_int(&c, "max_connections_per_address");
    hc.metrics_auth = cfg_bool(&c, "metrics_auth");
    route_months_init((int)cfg_int(&c, "close_lateness_h"));
    srv = http_server_start(&hc, reg);
    if (!srv) {
        rc = CFG_EXIT_RUNTIME;
        goto out;
    }
    alert_opts_from_cfg(&c, &ao);
    evaluator_metrics_init(&em, reg);
    ev = evaluator_start(pc.conninfo, (int)cfg_int(&c, "quota_interval_s"), &ao, &em);
    if (!ev) {
        http_server_stop(srv, 0);
        rc = CFG_EXIT_RUNTIME;
        goto out;
    }
    while (!sig_stop)
        sig_sleep_ms(1000);
    log_info("stopping: finishing in-flight requests");
    evaluator_stop(ev);
    http_server_stop(srv, (int)cfg_int(&c, "shutdown_grace_s") * 1000);
    log_info("stopped");
    rc = CFG_EXIT_OK;
out:
    authcode_free(web_signin);
    entra_free(signin);
    pool_free(db);
    tz_cache_free(tz);
    alert_global_cleanup();
    prom_registry_free(reg);
    cfg_cleanup(&c);
    return rc;
}
