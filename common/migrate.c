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

static bool migrate_ensure_table(PGconn *conn)
{
    return db_exec(conn, "create schema_migrations", MIGRATE_TABLE_SQL, 0, NULL);
}

migrate_status migrate_apply(PGconn *conn, int *applied)
{
    const char *lock[] = {MIGRATE_LOCK_KEY};
    migrate_status st;
    int pending = 0, done = 0;

    if (!db_exec(conn, "take the migration lock", "SELECT pg_advisory_lock($1::bigint)", 1, lock))
        return MIGRATE_ERROR;
    if (!migrate_ensure_table(conn)) {
        st = MIGRATE_ERROR;
        goto out;
    }
    st = migrate_compare(conn, &pending);
    for (int i = pending; st == MIGRATE_OK && i < MIGRATIONS_COUNT; i++) {
        const migration *m = &MIGRATIONS[i];
        char sha[HASH_HEX_LEN + 1];
        const char *params[2] = {m->name, sha};
        PGresult *res;

        hash_sha256_hex(m->sql, m->len, sha);
        if (!db_begin(conn)) {
            st = MIGRATE_ERROR;
            break;
        }
        /* our own file, several statements: the simple protocol, no parameters */
        res = PQexec(conn, m->sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
            log_error("could not apply migration \"%s\": %s", m->name, db_error(conn));
            PQclear(res);
            db_rollback(conn);
            st = MIGRATE_ERROR;
            break;
        }
        PQclear(res);
        if (!db_exec(conn, "record migration",
                     "INSERT INTO schema_migrations (name, sha256) VALUES ($1, $2)", 2, params) ||
            !db_commit(conn)) {
            db_rollback(conn);
            st = MIGRATE_ERROR;
            break;
        }
        log_info("applied migration \"%s\"", m->name);
        done++;
    }
out:
    db_exec(conn, "release the migration lock", "SELECT pg_advisory_unlock($1::bigint)", 1, lock);
    if (applied)
        *applied = done;
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
    *current = st == MIGRATE_OK && pending == MIGRATIONS_COUNT;
    return st;
}
