/*
 * migrate.h - the schema migrations runner. Two kinds of SQL file are compiled in
 * (migrations_embedded.c, generated at build time from schema/):
 *   - the numbered migrations (schema/migrations/NNNN_name.sql): tables and data, each
 *     applied once, in name order, and recorded with its SHA-256 in schema_migrations; an
 *     applied file never changes (a database whose history differs is refused);
 *   - the function files (schema/functions/NN_name.sql): the current definition of every
 *     function and view (CREATE OR REPLACE), applied in name order after the migrations
 *     whenever a migration was applied or a file differs from what schema_functions
 *     records, so a migrate with nothing new applies nothing.
 * One run is one transaction under one advisory lock: the database moves to this build's
 * schema whole or not at all. Not thread-safe; concurrent runners serialise on the lock.
 */
#ifndef TALLY_MIGRATE_H
#define TALLY_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

typedef struct migration {
    const char *name; /* file name, e.g. "0001_core.sql" or "40_cost_engine.sql" */
    size_t len;
    const char *sql;
} migration;

extern const migration MIGRATIONS[];
extern const int MIGRATIONS_COUNT;
extern const migration FUNCTIONS[];
extern const int FUNCTIONS_COUNT;

typedef enum {
    MIGRATE_OK = 0,
    MIGRATE_ERROR,    /* a database error (logged) */
    MIGRATE_MISMATCH, /* applied migrations differ from the files (logged) */
} migrate_status;

/* Applies pending migrations, then the function files when needed; *applied (may be NULL)
 * receives how many migrations were applied (0 when the run failed and rolled back). */
migrate_status migrate_apply(PGconn *conn, int *applied);

/* what migrate_rebuild_rollups() did */
typedef struct migrate_rebuild {
    int rebuilt;           /* UTC months rebuilt into prompt bands from their raw events */
    int kept;              /* months whose raw events were gone or incomplete: kept as they were */
    long long legacy_rows; /* rollup rows (all three tables) that keep only the 200k flag */
} migrate_rebuild;

/* After migrate_apply(): rebuilds the rollup months that still have legacy prompt bands
 * (rows written before 0009) from the raw events, one UTC month per transaction
 * (tally_rollup_rebuild_month(); done months are listed in rollup_rebuild, so a run that
 * was stopped goes on where it was and a second run does nothing), under the runner's
 * advisory lock. */
migrate_status migrate_rebuild_rollups(PGconn *conn, migrate_rebuild *out);

/* Checks the database without changing it: *current is true when every migration is
 * applied, every checksum matches and the function files applied are this build's. */
migrate_status migrate_check(PGconn *conn, bool *current);

#endif
