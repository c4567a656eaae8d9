/*
 * render.h - the bytes of a row response, CSV or JSON, streamed row by row into a
 * membuf, with the totals of JSON responses. The caller describes each column (its name
 * and its role: what the value is and whether the totals sum it) and hands over rows of
 * strings as Postgres prints them; nothing here looks at a column's name to decide what
 * it is.
 *
 * CSV: a header row of the names, then one row per row (RFC 4180, CRLF, see csv.h; text
 * cells get the formula guard), no total row. JSON: {<header members>,"rows":[{...},...],
 * "totals":{"rows":N,<each count column>:sum,...,<money column>:"exact sum",
 * "unpriced_rows":M}}, then a newline.
 *
 * Pure, no I/O; a renderer belongs to one thread.
 */
#ifndef TALLY_RENDER_H
#define TALLY_RENDER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "membuf.h"

typedef enum {
    RENDER_TEXT,    /* a string: JSON string; CSV cell with the formula guard (RENDER_CSV) */
    RENDER_INT,     /* an integer, not summed: JSON number */
    RENDER_DECIMAL, /* an exact decimal, not summed: fraction zeros trimmed, JSON string */
    RENDER_BOOL,    /* Postgres "t"/"f": true/false */
    RENDER_COUNT,   /* an integer summed into the totals */
    RENDER_MONEY,   /* an exact decimal summed exactly into the totals; NULL is unpriced */
} render_role;

typedef struct render_column {
    const char *name;
    render_role role;
} render_column;

/* RENDER_CSV_RAW: CSV without the formula guard, for pipelines that never open it in a
 * spreadsheet (guard=none) */
typedef enum { RENDER_CSV, RENDER_JSON, RENDER_CSV_RAW } render_format;

typedef struct render render;

/*
 * A renderer for ncols columns (copied). header: the JSON members before "rows" (an
 * object, or NULL), taken in every case; CSV ignores it. totals: JSON ends with
 * "totals". NULL when out of memory.
 */
render *render_new(render_format format, const render_column *cols, int ncols, json_t *header,
                   bool totals);

/* render_free(NULL) is a no-op. */
void render_free(render *r);

/* Appends what comes before the first row (CSV header row, JSON opening). */
void render_begin(render *r, membuf *out);

/*
 * Appends one row: values[i] is column i as text (NULL for SQL NULL), lens[i] its length
 * in bytes. False when a value cannot be summed (not an exact decimal, or too large) or
 * memory ran out: the response is then incomplete and must be cut off.
 */
bool render_row(render *r, membuf *out, const char *const *values, const size_t *lens);

/* Appends what follows the last row (JSON: the totals and the closing brace). */
void render_end(render *r, membuf *out);

/* Rows rendered so far. */
long long render_nrows(const render *r);

#endif
