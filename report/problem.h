/*
 * problem.h - RFC 9457 problem details (application/problem+json): the bodies of every
 * error reply of tally-report, and which status a failed SQL statement deserves. Pure,
 * no I/O; thread-safe (no state).
 */
#ifndef TALLY_PROBLEM_H
#define TALLY_PROBLEM_H

#include <stdbool.h>

#define PROBLEM_CONTENT_TYPE "application/problem+json"

/* The title of a status ("Bad Request"; "Internal Server Error" for other 5xx). */
const char *problem_title(int status);

/*
 * The compact JSON body {"type","title","status","detail"[,"parameter"]}; detail and
 * param (NULL or "" for none) may quote request input: invalid UTF-8 is replaced.
 * Returns a malloc'd NUL-terminated text the caller frees, NULL when out of memory.
 */
char *problem_json(int status, const char *param, const char *detail);

/*
 * The status for a failed statement: 503 when the connection is gone (conn_ok false),
 * the database is unreachable or the statement timed out or ran out of resources, 400
 * for a data error raised by SQL (e.g. an unknown price book), else 500. sqlstate may be
 * NULL (no server answer: 503).
 */
int problem_db_status(const char *sqlstate, bool conn_ok);

#endif
