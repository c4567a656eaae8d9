#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hash.h"
#include "log.h"

#define MIGRATE_LOCK_KEY "7340310" /* pg_advisory_lock key of the runner */

static const char MIGRATE_TABLE_SQL[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                        " name text PRIMARY KEY,"
                                        " sha256 text NOT NULL,"
                                        " applied_at timestamptz NOT NULL DEFAULT now())";

/*
 * Compares applied migrations with the files. Returns MIGRATE_OK with *pending set
 * to the index of the first file not yet applied.
 */
static migrate_status migrate_compare(PGconn *conn, int *pending)
{
    PGresult *res;
    migrate_status st = MIGRATE_OK;
    int n;

    res = db_query(conn, "read schema_migrations",
                   "SELECT name, sha256 FROM schema_migrations ORDER BY name", 0, NULL);
    if (!res)
        return MIGRATE_ERROR;
    n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        const char *name = PQgetvalue(res, i, 0);
        char sha[HASH_HEX_LEN + 1];
        if (i >= MIGRATIONS_COUNT || strcmp(name, MIGRATIONS[i].name) != 0) {
            log_error("database has migration \"%s\" that this build does not know: refusing",
                      name);
            st = MIGRATE_MISMATCH;
            break;
        }
        hash_sha256_hex(MIGRATIONS[i].sql, MIGRATIONS[i].len, sha);
        if (strcmp(sha, PQgetvalue(res, i, 1)) != 0) {
            log_error("migration \"%s\" was applied with checksum %.12s… but the file now has "
                      "%.12s…: refusing a database whose history differs from the files",
                      name, PQgetvalue(res, i, 1), sha);
            st = MIGRATE_MISMATCH;
            break;
        }
    }
    *pending = n;
    PQclear(res);
    return st;
}

/*
 * Sets *current when schema_functions lists exactly this build's function files with their
 * checksums (a file added, changed or removed makes it false). The table comes with the
 * migrations: call this only when they are all applied.
 */
static migrate_status migrate_functions_current(PGconn *conn, bool *current)
{
    PGresult *res;
    int n, known = 0;

    *current = false;
    res = db_query(conn, "read schema_functions", "SELECT name, sha256 FROM schema_functions", 0,
                   NULL);
    if (!res)
        return MIGRATE_ERROR;
    n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < FUNCTIONS_COUNT; k++) {
            char sha[HASH_HEX_LEN + 1];
            if (strcmp(PQgetvalue(res, i, 0), FUNCTIONS[k].name) != 0)
                continue;
            hash_sha256_hex(FUNCTIONS[k].sql, FUNCTIONS[k].len, sha);
            if (strcmp(sha, PQgetvalue(res, i, 1)) == 0)
                known++;
            break;
        }
    }
    *current = n == FUNCTIONS_COUNT && known == FUNCTIONS_COUNT;
    PQclear(res);
    return MIGRATE_OK;
}

/* Runs one of our own files (several statements: the simple protocol, no parameters) and
 * records it with its checksum by insert_sql ($1 name, $2 sha256). */
static bool migrate_run_file(PGconn *conn, const migration *m, const char *kind,
                             const char *insert_sql)
{
    char sha[HASH_HEX_LEN + 1];
    const char *params[2] = {m->name, sha};
    PGresult *res = PQexec(conn, m->sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

    if (!ok)
        log_error("could not apply %s \"%s\": %s", kind, m->name, db_error(conn));
    PQclear(res);
    if (!ok)
        return false;
    hash_sha256_hex(m->sql, m->len, sha);
    return db_exec(conn, "record a schema file", insert_sql, 2, params);
}

/* Applies every function file in name order and makes schema_functions list them. */
static bool migrate_functions_apply(PGconn *conn)
{
    if (!db_exec(conn, "clear schema_functions", "DELETE FROM schema_functions", 0, NULL))
        return false;
    for (int i = 0; i < FUNCTIONS_COUNT; i++) {
        if (!migrate_run_file(conn, &FUNCTIONS[i], "function file",
                              "INSERT INTO schema_functions (name, sha256) VALUES ($1, $2)"))
            return false;
    }
    return true;
}

/* Inside the run's transaction: the pending migrations from index pending on, then the
 * function files when a migration was applied or they differ. *done counts migrations. */
static migrate_status migrate_run(PGconn *conn, int pending, int *done)
{
    bool current = false;

    for (int i = pending; i < MIGRATIONS_COUNT; i++) {
        if (!migrate_run_file(conn, &MIGRATIONS[i], "migration",
                              "INSERT INTO schema_migrations (name, sha256) VALUES ($1, $2)"))
            return MIGRATE_ERROR;
        log_info("applied migration \"%s\"", MIGRATIONS[i].name);
        (*done)++;
    }
    if (*done == 0 && migrate_functions_current(conn, &current) != MIGRATE_OK)
        return MIGRATE_ERROR;
    if (current) {
        log_info("function files: all %d unchanged, nothing applied", FUNCTIONS_COUNT);
        return MIGRATE_OK;
    }
    if (!migrate_functions_apply(conn))
        return MIGRATE_ERROR;
    log_info("function files: applied all %d", FUNCTIONS_COUNT);
    return MIGRATE_OK;
}

migrate_status migrate_apply(PGconn *conn, int *applied)
{
    const char *lock[] = {MIGRATE_LOCK_KEY};
    migrate_status st;
    int pending = 0, done = 0;

    if (!db_exec(conn, "take the migration lock", "SELECT pg_advisory_lock($1::bigint)", 1, lock))
        return MIGRATE_ERROR;
    if (!db_exec(conn, "create schema_migrations", MIGRATE_TABLE_SQL, 0, NULL)) {
        st = MIGRATE_ERROR;
        goto out;
    }
    st = migrate_compare(conn, &pending);
    if (st != MIGRATE_OK)
        goto out;
    if (!db_begin(conn)) {
        st = MIGRATE_ERROR;
        goto out;
    }
    st = migrate_run(conn, pending, &done);
    if (st == MIGRATE_OK && !db_commit(conn))
        st = MIGRATE_ERROR;
    if (st != MIGRATE_OK) {
        db_rollback(conn);
        if (done > 0)
            log_error("rolled back: none of the %d migration(s) above is applied", done);
        done = 0;
    }
out:
    db_exec(conn, "release the migration lock", "SELECT pg_advisory_unlock($1::bigint)", 1, lock);
    if (applied)
        *applied = done;
    return st;
}

migrate_status migrate_rebuild_rollups(PGconn *conn, migrate_rebuild *out)
{
    const char *lock[] = {MIGRATE_LOCK_KEY};
    migrate_status st = MIGRATE_OK;
    PGresult *months, *res;

    memset(out, 0, sizeof(*out));
    if (!db_exec(conn, "take the migration lock", "SELECT pg_advisory_lock($1::bigint)", 1, lock))
        return MIGRATE_ERROR;
    months = db_query(conn, "list the rollup months to rebuild",
                      "SELECT DISTINCT month FROM usage_rollup_month WHERE prompt_band >= 100"
                      " EXCEPT SELECT month FROM rollup_rebuild ORDER BY 1",
                      0, NULL);
    if (!months)
        st = MIGRATE_ERROR;
    for (int i = 0; months && i < PQntuples(months); i++) {
        const char *month[] = {PQgetvalue(months, i, 0)};

        /* one statement, its own transaction */
        res =
            db_query(conn, "rebuild a rollup month",
                     "SELECT outcome, events FROM tally_rollup_rebuild_month($1::date)", 1, month);
        if (!res) {
            st = MIGRATE_ERROR;
            break;
        }
        if (strcmp(PQgetvalue(res, 0, 0), "rebuilt") == 0)
            out->rebuilt++;
        else
            out->kept++;
        log_info("rollups of %.7s: %s (%s events)", month[0], PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1));
        PQclear(res);
    }
    PQclear(months);
    res = st == MIGRATE_OK ? db_query(conn, "count legacy rollup rows",
                                      "SELECT (SELECT count(*) FROM usage_rollup_15m"
                                      " WHERE prompt_band >= 100) + (SELECT count(*) FROM"
                                      " usage_rollup_day WHERE prompt_band >= 100) + (SELECT"
                                      " count(*) FROM usage_rollup_month WHERE prompt_band >= 100)",
                                      0, NULL)
                           : NULL;
    if (res)
        out->legacy_rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        st = MIGRATE_ERROR;
    PQclear(res);
    db_exec(conn, "release the migration lock", "SELECT pg_advisory_unlock($1::bigint)", 1, lock);
    return st;
}

migrate_status migrate_check(PGconn *conn, bool *current)
{
    PGresult *res;
    migrate_status st;
    int pending = 0;
    bool exists;

    *current = false;
    res = db_query(conn, "look for schema_migrations",
                   "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
    if (!res)
        return MIGRATE_ERROR;
    exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!exists)
        return MIGRATE_OK;
    st = migrate_compare(conn, &pending);
    if (st != MIGRATE_OK || pending != MIGRATIONS_COUNT)
        return st;
    return migrate_functions_current(conn, current);
}
