/*
 * reconcile.c - tallyctl reconcile: which Foundry resource serves a deployment, and the
 * import of Azure Cost Management cost exports (FOCUS 1.0 / 1.2 CSV, as Azure writes them)
 * that GET /v1/reconciliation compares with the metered cost (docs/architecture.md,
 * "Reconciliation"). The files of one import are parsed here, staged with COPY and checked
 * and stored by the SQL of schema/functions/67_reconcile.sql, all in one transaction.
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"
#include "db.h"
#include "hash.h"
#include "log.h"
#include "membuf.h"

#define RECONCILE_LOCK "7340314" /* serialises imports of one database */
#define RECONCILE_MAX_FIELDS 512
#define RECONCILE_MAX_ERRORS "10"

/* The cells staged per row (azure_stage of tally_azure_stage_begin, after file and record):
 * the export column each comes from, then an alternative (FOCUS 1.0 has no SkuMeter), and
 * whether the export must have it (FOCUS mandatory columns, present in 1.0 and 1.2). */
typedef struct stage_column {
    const char *name, *alt;
    bool required;
} stage_column;

static const stage_column STAGE_COLUMNS[] = {
    {"BillingPeriodStart", NULL, true},   {"ChargePeriodStart", NULL, true},
    {"ChargePeriodEnd", NULL, true},      {"ChargeCategory", NULL, true},
    {"ChargeClass", NULL, true},          {"PublisherName", NULL, true},
    {"ResourceId", NULL, true},           {"ResourceName", NULL, false},
    {"x_ResourceGroupName", NULL, false}, {"SkuMeter", "x_SkuMeterName", false},
    {"BillingCurrency", NULL, true},      {"BilledCost", NULL, true},
    {"x_BilledCostInUsd", NULL, false},
};

#define NSTAGE ((int)(sizeof(STAGE_COLUMNS) / sizeof(STAGE_COLUMNS[0])))

#define STAGE_COPY                                                                                 \
    "COPY azure_stage (file_sha256, record, billing_period_start, charge_period_start, "           \
    "charge_period_end, charge_category, charge_class, publisher_name, resource_id, "              \
    "resource_name, resource_group, sku_meter, billing_currency, billed_cost, billed_cost_usd) "   \
    "FROM STDIN"

typedef struct export_file {
    const char *path;
    char *buf;
    size_t len;
    char sha256[HASH_HEX_LEN + 1];
    long rows;
} export_file;

int ctl_reconcile_map(const cfg *c)
{
    PGconn *conn;
    PGresult *res;
    int rc = CFG_EXIT_RUNTIME;

    if (c->nargs != 2 || !c->args[0][0]) {
        fprintf(stderr, "usage: tallyctl reconcile map DEPLOYMENT RESOURCE_ID\n");
        return CFG_EXIT_USAGE;
    }
    conn = ctl_connect_utc(c);
    if (!conn)
        return rc;
    {
        const char *p[] = {c->args[0], c->args[1]};
        res = PQexecParams(conn, "SELECT tally_foundry_resource_set($1, $2)", 2, NULL, p, NULL,
                           NULL, 0);
    }
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        printf("%s\n", PQgetvalue(res, 0, 0));
        rc = CFG_EXIT_OK;
    } else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        log_error("could not map deployment \"%s\": %s", c->args[0],
                  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        if (state && strcmp(state, "22023") == 0)
            rc = CFG_EXIT_USAGE;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int ctl_reconcile_resources(const cfg *c)
{
    return ctl_print_query(c, "list the Foundry resources",
                           "SELECT deployment, resource_id, set_at FROM foundry_resources "
                           "ORDER BY deployment COLLATE \"C\"");
}

int ctl_reconcile_imports(const cfg *c)
{
    return ctl_print_query(
        c, "list the imports",
        "SELECT i.id AS import, i.imported_at, i.rows_total, i.rows_claude, i.rows_attributed, "
        "(SELECT string_agg(to_char(p.billing_period_start AT TIME ZONE 'UTC', 'YYYY-MM'), ',' "
        "ORDER BY p.billing_period_start) FROM azure_cost_periods p WHERE p.import_id = i.id) "
        "AS bill_of, (SELECT string_agg(f.name, ',' ORDER BY f.name) FROM azure_cost_files f "
        "WHERE f.import_id = i.id) AS files FROM azure_cost_imports i ORDER BY i.id");
}

/* Appends a cell in COPY text format: empty (FOCUS null) is \N. */
static void copy_cell(membuf *b, const char *s)
{
    if (!s || !*s) {
        membuf_puts(b, "\\N");
        return;
    }
    for (; *s; s++) {
        switch (*s) {
        case '\\':
            membuf_puts(b, "\\\\");
            break;
        case '\t':
            membuf_puts(b, "\\t");
            break;
        case '\n':
            membuf_puts(b, "\\n");
            break;
        case '\r':
            membuf_puts(b, "\\r");
            break;
        default:
            membuf_putc(b, *s);
        }
    }
}

/* The line of buf at byte pos (1-based). */
static long line_at(const char *buf, size_t pos)
{
    long line = 1;

    for (size_t i = 0; i < pos; i++)
        line += buf[i] == '\n';
    return line;
}

/*
 * Parses one export into COPY text for azure_stage (appended to out), counting its data
 * rows; CFG_EXIT_OK, or CFG_EXIT_USAGE after logging the line that is wrong.
 */
static int export_stage(export_file *f, membuf *out)
{
    char *fields[RECONCILE_MAX_FIELDS];
    int idx[NSTAGE];
    size_t pos = 0, start;
    int ncols, n;
    long record = 1;

    if (f->len >= 3 && memcmp(f->buf, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    ncols = ctl_csv_record(f->buf, f->len, &pos, fields, RECONCILE_MAX_FIELDS);
    if (ncols <= 0) {
        log_error("%s: line 1: %s", f->path,
                  ncols == 0 ? "the file is empty" : "not a CSV header (malformed quotes?)");
        return CFG_EXIT_USAGE;
    }
    for (int k = 0; k < NSTAGE; k++) {
        idx[k] = -1;
        for (int i = 0; i < ncols && idx[k] < 0; i++)
            if (strcasecmp(fields[i], STAGE_COLUMNS[k].name) == 0)
                idx[k] = i;
        for (int i = 0; i < ncols && idx[k] < 0 && STAGE_COLUMNS[k].alt; i++)
            if (strcasecmp(fields[i], STAGE_COLUMNS[k].alt) == 0)
                idx[k] = i;
        if (idx[k] < 0 && STAGE_COLUMNS[k].required) {
            log_error("%s: line 1: no column \"%s\": not a Cost Management FOCUS export "
                      "(FocusCost 1.0 and 1.2 have it)",
                      f->path, STAGE_COLUMNS[k].name);
            return CFG_EXIT_USAGE;
        }
    }
    for (;;) {
        start = pos;
        n = ctl_csv_record(f->buf, f->len, &pos, fields, RECONCILE_MAX_FIELDS);
        if (n == 0)
            break;
        record++;
        if (n == 1 && fields[0][0] == '\0')
            continue; /* a blank line */
        if (n != ncols) {
            log_error("%s: line %ld: %s", f->path, line_at(f->buf, start),
                      n < 0 ? "malformed quotes" : "not as many fields as the header");
            return CFG_EXIT_USAGE;
        }
        membuf_printf(out, "%s\t%ld", f->sha256, record);
        for (int k = 0; k < NSTAGE; k++) {
            membuf_putc(out, '\t');
            copy_cell(out, idx[k] >= 0 ? fields[idx[k]] : NULL);
        }
        membuf_putc(out, '\n');
        f->rows++;
    }
    return CFG_EXIT_OK;
}

/* Appends s to a Postgres array literal in b ("{" and "}" are the caller's). */
static void array_elem(membuf *b, const char *s)
{
    if (b->len > 1)
        membuf_putc(b, ',');
    membuf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            membuf_putc(b, '\\');
        membuf_putc(b, *s);
    }
    membuf_putc(b, '"');
}

/* Refuses files imported before: all of them is a no-op (*done), some of them an error. */
static int import_seen(PGconn *conn, const char *shas, int nfiles, bool *done)
{
    const char *p[] = {shas};
    PGresult *res = db_query(conn, "look up the files",
                             "SELECT f.sha256, f.import_id, f.name FROM azure_cost_files f "
                             "WHERE f.sha256 = ANY($1::text[]) ORDER BY f.import_id, f.name",
                             1, p);
    int rc = CFG_EXIT_OK, seen;

    if (!res)
        return CFG_EXIT_RUNTIME;
    seen = PQntuples(res);
    if (seen == nfiles) {
        printf("already imported (import %s): nothing changed\n", PQgetvalue(res, 0, 1));
        *done = true;
    } else if (seen > 0) {
        log_error("\"%s\" was imported before (import %s) and the other files were not: import "
                  "the files of one export run together",
                  PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1));
        rc = CFG_EXIT_USAGE;
    }
    PQclear(res);
    return rc;
}

/* Prints why the staged rows cannot be imported; CFG_EXIT_OK when nothing is wrong. */
static int import_check(PGconn *conn, const export_file *files, int nfiles)
{
    const char *p[] = {RECONCILE_MAX_ERRORS};
    PGresult *res =
        db_query(conn, "check the staged rows",
                 "SELECT file_sha256, record, reason FROM tally_azure_stage_errors($1)", 1, p);
    int bad;

    if (!res)
        return CFG_EXIT_RUNTIME;
    bad = PQntuples(res);
    for (int r = 0; r < bad; r++) {
        const char *path = "?";
        for (int i = 0; i < nfiles; i++)
            if (strcmp(files[i].sha256, PQgetvalue(res, r, 0)) == 0)
                path = files[i].path;
        log_error("%s: record %s: %s", path, PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
    }
    PQclear(res);
    if (bad > 0)
        log_error("nothing imported: the export has rows that cannot be read (the first %d above)",
                  bad);
    return bad > 0 ? CFG_EXIT_USAGE : CFG_EXIT_OK;
}

/* Stores the staged rows as one import and prints what it holds. */
static int import_store(PGconn *conn, const char *names, const char *shas, const char *rows)
{
    const char *p[] = {names, shas, rows};
    PGresult *res = db_query(conn, "store the import",
                             "SELECT import_id, rows_total, rows_claude, rows_attributed, bill_of "
                             "FROM tally_azure_import($1::text[], $2::text[], $3::bigint[])",
                             3, p);
    PGresult *un;
    const char *id[1];

    if (!res)
        return CFG_EXIT_RUNTIME;
    printf("import %s: %s rows, %s Claude charges, %s attributed to a Foundry resource, %lld not; "
           "the bill of %s\n",
           PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
           PQgetvalue(res, 0, 3),
           strtoll(PQgetvalue(res, 0, 2), NULL, 10) - strtoll(PQgetvalue(res, 0, 3), NULL, 10),
           PQgetisnull(res, 0, 4) ? "no billing period" : PQgetvalue(res, 0, 4));
    id[0] = PQgetvalue(res, 0, 0);
    un = db_query(conn, "list the unattributed charges",
                  "SELECT resource_id, rows_count, billed_cost_usd FROM "
                  "tally_azure_unattributed($1::bigint)",
                  1, id);
    PQclear(res);
    if (!un)
        return CFG_EXIT_RUNTIME;
    for (int r = 0; r < PQntuples(un); r++)
        printf("not attributed: %s\t%s rows\t%s USD (tallyctl reconcile map DEPLOYMENT "
               "RESOURCE_ID)\n",
               PQgetvalue(un, r, 0)[0] ? PQgetvalue(un, r, 0) : "(no resource)",
               PQgetvalue(un, r, 1), PQgetisnull(un, r, 2) ? "?" : PQgetvalue(un, r, 2));
    PQclear(un);
    return CFG_EXIT_OK;
}

/* Stages, checks and stores the files in one transaction. */
static int import_run(PGconn *conn, export_file *files, int nfiles)
{
    const char *lock[] = {RECONCILE_LOCK};
    membuf names = MEMBUF_INIT, shas = MEMBUF_INIT, rows = MEMBUF_INIT, copy = MEMBUF_INIT;
    bool done = false;
    int rc = CFG_EXIT_RUNTIME;

    membuf_putc(&names, '{');
    membuf_putc(&shas, '{');
    membuf_putc(&rows, '{');
    for (int i = 0; i < nfiles; i++) {
        array_elem(&names, files[i].path);
        array_elem(&shas, files[i].sha256);
        if (rows.len > 1)
            membuf_putc(&rows, ',');
        membuf_printf(&rows, "%ld", files[i].rows);
    }
    membuf_putc(&names, '}');
    membuf_putc(&shas, '}');
    membuf_putc(&rows, '}');
    if (names.oom || shas.oom || rows.oom) {
        log_error("out of memory");
        goto out;
    }
    if (!db_begin(conn) ||
        !db_exec(conn, "lock the imports", "SELECT pg_advisory_xact_lock($1::bigint)", 1, lock))
        goto out;
    rc = import_seen(conn, shas.data, nfiles, &done);
    if (rc != CFG_EXIT_OK || done)
        goto out;
    rc = CFG_EXIT_RUNTIME;
    if (!db_exec(conn, "stage the import", "SELECT tally_azure_stage_begin()", 0, NULL))
        goto out;
    for (int i = 0; i < nfiles; i++) {
        membuf_reset(&copy);
        rc = export_stage(&files[i], &copy);
        if (rc != CFG_EXIT_OK)
            goto out;
        rc = CFG_EXIT_RUNTIME;
        if (copy.oom) {
            log_error("out of memory");
            goto out;
        }
        if (copy.len && !db_copy_in(conn, "stage the export", STAGE_COPY, copy.data, copy.len))
            goto out;
    }
    rc = import_check(conn, files, nfiles);
    if (rc != CFG_EXIT_OK)
        goto out;
    rc = import_store(conn, names.data, shas.data, rows.data);
    if (rc == CFG_EXIT_OK && !db_commit(conn))
        rc = CFG_EXIT_RUNTIME;
out:
    db_rollback(conn);
    membuf_free(&names);
    membuf_free(&shas);
    membuf_free(&rows);
    membuf_free(&copy);
    return rc;
}

int ctl_reconcile_import(const cfg *c)
{
    export_file *files;
    PGconn *conn = NULL;
    int rc = CFG_EXIT_USAGE;

    if (c->nargs < 1) {
        fprintf(stderr, "usage: tallyctl reconcile import FILE.csv [FILE.csv…]   (the files of "
                        "one export run)\n");
        return CFG_EXIT_USAGE;
    }
    files = calloc((size_t)c->nargs, sizeof(*files));
    if (!files) {
        log_error("out of memory");
        return CFG_EXIT_RUNTIME;
    }
    for (int i = 0; i < c->nargs; i++) {
        files[i].path = c->args[i];
        files[i].buf = ctl_read_text(c->args[i], &files[i].len);
        if (!files[i].buf)
            goto out;
        hash_sha256_hex(files[i].buf, files[i].len, files[i].sha256);
        for (int j = 0; j < i; j++) {
            if (strcmp(files[j].sha256, files[i].sha256) == 0) {
                log_error("\"%s\" and \"%s\" are the same file", files[j].path, files[i].path);
                goto out;
            }
        }
    }
    conn = ctl_connect_utc(c);
    rc = conn ? import_run(conn, files, c->nargs) : CFG_EXIT_RUNTIME;
out:
    PQfinish(conn);
    for (int i = 0; i < c->nargs; i++)
        free(files[i].buf);
    free(files);
    return rc;
}
