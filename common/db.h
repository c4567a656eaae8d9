/*
 * db.h - PostgreSQL helpers over libpq: connect with retry and backoff,
 * parameterised statements only, transactions, COPY, one clear error line.
 *
 * A PGconn is not thread-safe; give each thread its own. Every function that
 * fails logs the libpq error once and returns false / NULL.
 */
#ifndef TALLY_DB_H
#define TALLY_DB_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/*
 * Connects, retrying with exponential backoff (100 ms doubling to 5 s) up to
 * max_attempts times (0 = until *stop is set). Returns NULL on failure, at once for a
 * conninfo that does not parse; the caller frees the connection with PQfinish.
 */
PGconn *db_connect(const char *conninfo, int max_attempts, volatile sig_atomic_t *stop);

/*
 * Runs one parameterised statement (text parameters, NULL = SQL NULL). Returns the
 * result on PGRES_COMMAND_OK / PGRES_TUPLES_OK (the caller PQclear()s it), NULL after
 * logging the error otherwise. what names the statement in the error line.
 */
PGresult *db_query(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params);

/* db_query for statements whose result is not needed. */
bool db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
             const char *const *params);

bool db_begin(PGconn *conn);
/* False also when the transaction had failed: COMMIT then rolls it back. */
bool db_commit(PGconn *conn);
void db_rollback(PGconn *conn); /* best effort: the connection may be gone */

/* After PQsendQuery…: reads and clears the results still to come (db_drain), after
   cancelling the statement (db_abandon: a stream not read to its end). */
void db_drain(PGconn *conn);
void db_abandon(PGconn *conn);

/* Runs a COPY … FROM STDIN statement and sends len bytes of data. */
bool db_copy_in(PGconn *conn, const char *what, const char *copy_sql, const char *data, size_t len);

/* True when the connection is usable (after a failure it may need db_connect again). */
bool db_ok(const PGconn *conn);

/* Last error text of conn as one line (no trailing newline), for callers' messages. */
const char *db_error(const PGconn *conn);

#endif
