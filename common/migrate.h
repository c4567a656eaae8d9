/*
 * migrate.h - the schema migrations runner. The SQL files of schema/migrations are
 * compiled in (migrations_embedded.c, generated at build time), applied in name order,
 * each in its own transaction, and recorded with their SHA-256 in schema_migrations.
 * Not thread-safe; concurrent runners on one database serialise on an advisory lock.
 */
#ifndef TALLY_MIGRATE_H
#define TALLY_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

typedef struct migration {
    const char *name; /* file name, e.g. "0001_core.sql" */
    size_t len;
    const char *sql;
} migration;

extern const migration MIGRATIONS[];
extern const int MIGRATIONS_COUNT;

typedef enum {
    MIGRATE_OK = 0,
    MIGRATE_ERROR,    /* a database error (logged) */
    MIGRATE_MISMATCH, /* applied migrations differ from the files (logged) */
} migrate_status;

/* Applies pending migrations; *applied (may be NULL) receives how many. */
migrate_status migrate_apply(PGconn *conn, int *applied);

/* Checks the database without changing it: *current is true when every migration is
 * applied and every checksum matches. */
migrate_status migrate_check(PGconn *conn, bool *current);

#endif
