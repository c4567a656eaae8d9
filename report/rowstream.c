#include "rowstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_NUMERIC 1700

struct rowstream {
    PGconn *conn;
    PGresult *pending; /* the first row (or the final status), read by rowstream_open */
    bool began, done, query_done;
    render *out;
    int ncols;
    const char **values; /* the current row, as render_row takes it */
    size_t *lens;
};

/* The role a column's SQL type gives it, unless the route declares another. */
static render_role rowstream_type_role(Oid t)
{
    return t == OID_INT8 || t == OID_INT4 || t == OID_INT2 ? RENDER_INT
           : t == OID_NUMERIC                              ? RENDER_DECIMAL
           : t == OID_BOOL                                 ? RENDER_BOOL
                                                           : RENDER_TEXT;
}

/* The renderer for res's columns; q->roles (the route's) override the SQL types. */
static bool rowstream_columns(rowstream *rs, const PGresult *res, const rowstream_query *q,
                              json_t *header)
{
    render_column *cols;

    rs->ncols = PQnfields(res);
    cols = calloc((size_t)rs->ncols + 1, sizeof(*cols));
    rs->values = calloc((size_t)rs->ncols + 1, sizeof(*rs->values));
    rs->lens = calloc((size_t)rs->ncols + 1, sizeof(*rs->lens));
    if (!cols || !rs->values || !rs->lens) {
        free(cols);
        json_decref(header);
        return false;
    }
    for (int i = 0; i < rs->ncols; i++) {
        cols[i].name = PQfname(res, i);
        cols[i].role = rowstream_type_role(PQftype(res, i));
        for (int k = 0; k < q->nroles; k++)
            if (strcmp(q->roles[k].name, cols[i].name) == 0)
                cols[i].role = q->roles[k].role;
    }
    rs->out = render_new(q->format, cols, rs->ncols, header, q->totals);
    free(cols);
    return rs->out != NULL;
}

rowstream *rowstream_open(PGconn *conn, const rowstream_query *q, json_t *header,
                          rowstream_error *err)
{
    rowstream *rs;
    PGresult *first;
    ExecStatusType st;

    memset(err, 0, sizeof(*err));
    if (!PQsendQueryParams(conn, q->sql, q->nparams, NULL, q->params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(conn)) {
        log_error("could not send the report query: %s", db_error(conn));
        err->kind = ROWSTREAM_NOT_SENT;
        json_decref(header);
        return NULL;
    }
    first = PQgetResult(conn);
    st = PQresultStatus(first);
    if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK) {
        const char *state = first ? PQresultErrorField(first, PG_DIAG_SQLSTATE) : NULL;
        const char *msg = first ? PQresultErrorField(first, PG_DIAG_MESSAGE_PRIMARY) : NULL;

        log_warn("report query failed: %s", first ? PQresultErrorMessage(first) : db_error(conn));
        err->kind = ROWSTREAM_REFUSED;
        snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state ? state : "");
        snprintf(err->message, sizeof(err->message), "%s", msg ? msg : "");
        PQclear(first);
        db_drain(conn);
        json_decref(header);
        return NULL;
    }
    rs = calloc(1, sizeof(*rs));
    if (!rs || !rowstream_columns(rs, first, q, header)) {
        if (!rs)
            json_decref(header);
        err->kind = ROWSTREAM_NO_MEMORY;
        PQclear(first);
        db_drain(conn);
        rowstream_free(rs);
        return NULL;
    }
    rs->conn = conn;
    rs->pending = first;
    return rs;
}

static bool rowstream_row(rowstream *rs, membuf *out, const PGresult *res)
{
    for (int i = 0; i < rs->ncols; i++) {
        rs->values[i] = PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);
        rs->lens[i] = (size_t)PQgetlength(res, 0, i);
    }
    if (render_row(rs->out, out, rs->values, rs->lens))
        return true;
    log_error("could not render row %lld of the report (a total that does not add up, or "
              "out of memory)",
              render_nrows(rs->out) + 1);
    return false;
}

/* Produces the next piece of output; false when the stream has failed. */
static bool rowstream_step(rowstream *rs, membuf *out)
{
    PGresult *res;
    ExecStatusType st;

    if (!rs->began) {
        rs->began = true;
        render_begin(rs->out, out);
        return true;
    }
    res = rs->pending ? rs->pending : PQgetResult(rs->conn);
    rs->pending = NULL;
    if (!res) {
        rs->query_done = true;
        render_end(rs->out, out);
        rs->done = true;
        return true;
    }
    st = PQresultStatus(res);
    if (st == PGRES_SINGLE_TUPLE) {
        bool ok = rowstream_row(rs, out, res);
        PQclear(res);
        return ok;
    }
    if (st == PGRES_TUPLES_OK) {
        PQclear(res); /* the end; PQgetResult returns NULL next */
        return true;
    }
    log_error("report query failed mid-stream after %lld rows: %s", render_nrows(rs->out),
              PQresultErrorMessage(res));
    PQclear(res);
    return false;
}

bool rowstream_fill(rowstream *rs, membuf *out, size_t want)
{
    while (out->len < want && !rs->done) {
        if (!rowstream_step(rs, out) || out->oom)
            return false;
    }
    return true;
}

bool rowstream_done(const rowstream *rs)
{
    return rs->done;
}

void rowstream_free(rowstream *rs)
{
    if (!rs)
        return;
    PQclear(rs->pending);
    if (!rs->query_done && rs->conn) {
        /* the client went away or the stream failed: stop the query, drain it */
        db_abandon(rs->conn);
    }
    render_free(rs->out);
    free(rs->values);
    free(rs->lens);
    free(rs);
}
