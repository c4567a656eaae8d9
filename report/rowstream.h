/*
 * rowstream.h - one report query streamed from Postgres into rendered bytes: the query is
 * sent in single-row mode, each row goes through the renderer (render.h) as it arrives,
 * so memory stays bounded however many rows the report has. The columns' roles come from
 * their SQL types (integers, numeric, boolean, text) unless the route names a role for a
 * column. The HTTP layer (http.c) only moves the bytes to the client.
 *
 * A rowstream belongs to one thread and holds its connection until rowstream_free.
 */
#ifndef TALLY_ROWSTREAM_H
#define TALLY_ROWSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "membuf.h"
#include "render.h"

typedef struct rowstream_query {
    const char *sql;
    int nparams;
    const char *const *params; /* text, NULL is null */
    render_format format;
    bool totals;                /* JSON: add "totals" */
    const render_column *roles; /* roles of named columns (the route's), or NULL */
    int nroles;
} rowstream_query;

/* Why rowstream_open failed: the query was refused (sqlstate and message from Postgres,
 * either may be empty), could not be sent, or memory ran out. */
typedef struct rowstream_error {
    enum { ROWSTREAM_REFUSED, ROWSTREAM_NOT_SENT, ROWSTREAM_NO_MEMORY } kind;
    char sqlstate[6];
    char message[256];
} rowstream_error;

typedef struct rowstream rowstream;

/*
 * Sends the query and waits for its first result, which decides between an error the
 * caller can still answer cleanly (NULL, *err set, the connection drained and idle) and
 * a stream. header (the JSON members before "rows", or NULL) is taken in every case.
 * conn stays the caller's; it must not be used for anything else until rowstream_free.
 */
rowstream *rowstream_open(PGconn *conn, const rowstream_query *q, json_t *header,
                          rowstream_error *err);

/* Appends rendered output to out until it holds at least want bytes or the stream ends.
 * false when the stream failed (the query failed mid-way, a total overflowed, or out of
 * memory): what was written must not pass for a complete report. */
bool rowstream_fill(rowstream *rs, membuf *out, size_t want);

/* True once the last byte has been appended. */
bool rowstream_done(const rowstream *rs);

/* Cancels and drains a query still running; frees rs. rowstream_free(NULL) is a no-op. */
void rowstream_free(rowstream *rs);

#endif
