/*
 * dimensions.c - tallyctl deployments and developers: the dated dimension tables (which
 * model a deployment name meant, which team a developer was in, from when). Each command
 * runs in one transaction under an advisory lock. Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"
#include "db.h"
#include "log.h"

#define CTL_ADMIN_LOCK "7340313" /* serialises dimension changes of one database */
#define CSV_MAX_FIELDS 6

static const char *const DEV_COLUMNS[CSV_MAX_FIELDS] = {"oid",  "upn",         "display_name",
                                                        "team", "cost_center", "valid_from"};

/* Checks a timestamp with Postgres' own parser; false after printing why. */
static bool ctl_valid_time(PGconn *conn, const char *what, const char *ts)
{
    const char *p[] = {ts};
    PGresult *res =
        PQexecParams(conn, "SELECT tally_on_grid($1::timestamptz)", 1, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;

    if (!ok)
        log_error("invalid %s \"%s\": not a timestamp", what, ts);
    else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        log_error("invalid %s \"%s\": must be on the 15-minute grid of the rollups (e.g. "
                  "2026-11-01T09:15:00Z)",
                  what, ts);
        ok = false;
    }
    PQclear(res);
    return ok;
}

/* A residency class as price books name them ([a-z0-9-]+), or "" for none. */
static bool ctl_valid_residency(const char *s)
{
    return strlen(s) <= 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s);
}

int ctl_deployments_set(const cfg *c)
{
    const char *from = cfg_str(c, "from");
    const char *residency = cfg_str(c, "residency");
    const char *lock[] = {CTL_ADMIN_LOCK};
    PGconn *conn;
    PGresult *res = NULL;
    int rc = CFG_EXIT_RUNTIME;

    if (c->nargs != 2 || !c->args[0][0] || !c->args[1][0]) {
        fprintf(stderr, "usage: tallyctl deployments set NAME MODEL [--from TIMESTAMP] "
                        "[--residency CLASS]\n");
        return CFG_EXIT_USAGE;
    }
    if (!residency)
        residency = "";
    if (!ctl_valid_residency(residency)) {
        log_error("invalid --residency \"%s\": a residency class is up to 32 lower-case letters, "
                  "digits or '-', as the price book names it (e.g. data-zone-us)",
                  residency);
        return CFG_EXIT_USAGE;
    }
    conn = ctl_connect_utc(c);
    if (!conn)
        return rc;
    if (from && !ctl_valid_time(conn, "--from", from)) {
        rc = CFG_EXIT_USAGE;
        goto out;
    }
    if (!db_begin(conn) ||
        !db_exec(conn, "lock deployments", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock))
        goto out;
    {
        const char *p[] = {c->args[0], c->args[1], from, residency};
        res = db_query(conn, "set the deployment mapping",
                       "SELECT tally_deployment_set($1, $2, $3::timestamptz, $4)", 4, p);
    }
    if (!res || !db_commit(conn))
        goto out;
    printf("%s\n", PQgetvalue(res, 0, 0));
    rc = CFG_EXIT_OK;
out:
    PQclear(res);
    db_rollback(conn);
    PQfinish(conn);
    return rc;
}

int ctl_deployments_list(const cfg *c)
{
    return ctl_print_query(c, "list deployments",
                           "SELECT name, model, residency, valid_from, valid_to FROM deployments "
                           "ORDER BY name, valid_from");
}

/* Applies every row of the CSV; returns an exit code. */
static int developers_apply(PGconn *conn, char *buf, size_t len)
{
    const char *lock[] = {CTL_ADMIN_LOCK};
    char *f[CSV_MAX_FIELDS];
    size_t pos = 0;
    int ncols, line = 1, counts[3] = {0, 0, 0};

    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    ncols = ctl_csv_record(buf, len, &pos, f, CSV_MAX_FIELDS);
    if (ncols < 5) {
        log_error("line 1: expected the header oid,upn,display_name,team,cost_center[,valid_from]");
        return CFG_EXIT_USAGE;
    }
    for (int k = 0; k < ncols; k++) {
        if (strcasecmp(f[k], DEV_COLUMNS[k]) != 0) {
            log_error("line 1: column %d is \"%s\", expected \"%s\"", k + 1, f[k], DEV_COLUMNS[k]);
            return CFG_EXIT_USAGE;
        }
    }
    if (!db_begin(conn) ||
        !db_exec(conn, "lock developers", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock))
        return CFG_EXIT_RUNTIME;
    for (;;) {
        const char *p[CSV_MAX_FIELDS];
        PGresult *res;
        int n;

        line++;
        n = ctl_csv_record(buf, len, &pos, f, CSV_MAX_FIELDS);
        if (n == 0)
            break;
        if (n == 1 && f[0][0] == '\0')
            continue; /* blank line */
        if (n != ncols) {
            log_error("line %d: %d fields, expected %d (or a quote is malformed)", line,
                      n < 0 ? 0 : n, ncols);
            return CFG_EXIT_USAGE;
        }
        if (!f[0][0] || !f[1][0]) {
            log_error("line %d: oid and upn are required", line);
            return CFG_EXIT_USAGE;
        }
        for (int k = 0; k < CSV_MAX_FIELDS; k++)
            p[k] = k < n && (k < 5 || f[k][0]) ? f[k] : NULL;
        res = db_query(conn, "import a developer",
                       "SELECT tally_developer_set($1, $2, $3, $4, $5, $6::timestamptz)",
                       CSV_MAX_FIELDS, p);
        if (!res) {
            log_error("line %d: developer \"%s\" not imported", line, f[0]);
            return CFG_EXIT_RUNTIME;
        }
        const char *what = PQgetvalue(res, 0, 0);
        counts[strcmp(what, "inserted") == 0 ? 0 : strcmp(what, "changed") == 0 ? 1 : 2]++;
        PQclear(res);
    }
    if (!db_commit(conn))
        return CFG_EXIT_RUNTIME;
    printf("developers: %d inserted, %d changed, %d unchanged\n", counts[0], counts[1], counts[2]);
    return CFG_EXIT_OK;
}

int ctl_developers_import(const cfg *c)
{
    PGconn *conn = NULL;
    size_t len = 0;
    char *buf;
    int rc;

    if (c->nargs != 1) {
        fprintf(stderr, "usage: tallyctl developers import FILE.csv\n");
        return CFG_EXIT_USAGE;
    }
    buf = ctl_read_text(c->args[0], &len);
    if (!buf)
        return CFG_EXIT_USAGE;
    conn = ctl_connect_utc(c);
    rc = conn ? developers_apply(conn, buf, len) : CFG_EXIT_RUNTIME;
    db_rollback(conn);
    PQfinish(conn);
    free(buf);
    return rc;
}
