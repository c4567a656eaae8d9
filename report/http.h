/*
 * http.h - the report server's HTTP layer, the only code that talks to libmicrohttpd:
 * listen with one thread per connection, look the route up in the table it is given,
 * parse the query strictly, hand authentication to auth.h, dispatch, and stream row
 * responses from a Postgres query in single-row mode (bounded memory, aborted connection
 * if the query fails mid-stream so a truncated CSV never looks complete). What it is
 * handed: the route table, the connection pool (common/pool.h) and the time zone cache
 * (tz.h); the bytes come from render.h, error bodies from problem.h.
 *
 * The server knows no route of its own: the application hands it a table of http_route
 * rows in http_config (tally-report's is ROUTES in report/routes/table.c, its handlers
 * one file per family in report/routes/). A row gives the methods, the path (one
 * segment "{id}", last or not, matches any one segment, see http_path_arg), the roles
 * allowed (AUTH_* bits, AUTH_OPEN, or HTTP_PROBE) and the query parameters accepted (QP_*
 * bits, parsed into http_query before the handler runs). The handler calls exactly one
 * http_reply_* function. `tally-report --list-routes` prints the table, and
 * tests/integration/test_openapi.sh checks report/openapi.yaml against it.
 *
 * Thread-safety: the server object is shared by every connection thread (the pool and
 * the time zone cache it is handed are mutex-guarded); an http_req belongs to one
 * connection thread.
 */
#ifndef TALLY_HTTP_H
#define TALLY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "auth.h"
#include "pool.h"
#include "prom.h"
#include "query.h"
#include "render.h"
#include "tz.h"

typedef enum { HTTP_GET = 1, HTTP_POST = 2, HTTP_PUT = 4, HTTP_DELETE = 8 } http_method;

/* roles value of a probe route: open, or any valid token when metrics_auth is set */
#define HTTP_PROBE (1u << 8)

typedef struct http_req http_req;
typedef struct http_server http_server;

typedef void (*http_handler)(http_req *req);

typedef struct http_route {
    unsigned methods; /* HTTP_* bits */
    const char *path;
    unsigned roles;  /* AUTH_* bits, AUTH_OPEN or HTTP_PROBE */
    unsigned params; /* QP_* bits accepted */
    http_handler handler;
    const char *summary;
    bool reserved; /* also served on the HTTP_RESERVED_CONNECTIONS kept for probes */
} http_route;

/* connections accepted past max_connections, for the reserved routes only (others: 503) */
#define HTTP_RESERVED_CONNECTIONS 4

typedef struct http_config {
    const char *listen;       /* "ADDR:PORT" */
    const http_route *routes; /* the application's route table, matched in order */
    int nroutes;
    pool *pool;            /* database connections of the requests (the caller owns it) */
    tz_cache *tz;          /* zones tz= may name (the caller owns it) */
    int max_connections;   /* open HTTP connections */
    int request_timeout_s; /* idle connection timeout and statement_timeout */
    int header_timeout_s;  /* a request's whole header must arrive within this, else closed */
    int max_per_address;   /* open connections per client address, 0 for no limit */
    bool metrics_auth;     /* /healthz, /readyz, /metrics need a token */
} http_config;

/*
 * Starts listening. Returns NULL after logging on failure. The configuration strings,
 * the pool and the time zone cache must outlive the server. reg receives the server's metrics (the
 * caller owns it).
 */
http_server *http_server_start(const http_config *cfg, prom_registry *reg);

/*
 * Graceful stop: stops accepting, lets in-flight requests finish for up to grace_ms,
 * then closes every connection (the pool stays open; its owner frees it). NULL is a no-op.
 */
void http_server_stop(http_server *s, int grace_ms);

/* The bound TCP port (useful with port 0). */
unsigned short http_server_port(const http_server *s);

/* Prints "METHOD PATH" per route, sorted as in the table (for --list-routes). */
void http_print_routes(FILE *out, const http_route *routes, int nroutes);

/* ---- for handlers ---- */

const query *http_query(const http_req *req);
const auth_principal *http_principal(const http_req *req); /* NULL on open routes */
http_method http_req_method(const http_req *req);
const char *http_path_arg(const http_req *req);          /* the "{id}" segment, raw; NULL if none */
const char *http_body(const http_req *req, size_t *len); /* POST/PUT body (≤ 64 KiB) */
const char *http_header(const http_req *req, const char *name);
/* The raw query string (after '?', not decoded; "" when none), for QP_OWN routes. */
const char *http_raw_query(const http_req *req, size_t *len);
prom_registry *http_registry(const http_req *req);

/* True when the response should be CSV: format=csv, or no format and Accept: text/csv. */
bool http_wants_csv(const http_req *req);

/*
 * The request's database connection, taken from the pool on first use and returned
 * when the request ends. NULL after replying 503 (database down or pool exhausted).
 */
PGconn *http_db(http_req *req);

/* http_db without the reply: NULL when no connection could be had. */
PGconn *http_db_try(http_req *req);

/*
 * Replies for a failed statement on http_db's connection: 503 when the database is
 * unreachable or the statement timed out, 400 for a data error raised by SQL
 * (e.g. an unknown price book), else 500.
 */
void http_reply_db_error(http_req *req, const char *sqlstate, const char *message);

/* application/problem+json; param (may be NULL) names the offending parameter. */
void http_reply_problem(http_req *req, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sends body as application/json (takes the reference). */
void http_reply_json(http_req *req, int status, json_t *body);

/* Sends a copy of data with the given Content-Type. */
void http_reply_text(http_req *req, int status, const char *content_type, const char *data,
                     size_t len);

/*
 * http_reply_text with extra headers (name, value pairs) on any status: the pages of
 * report/routes/overview.c, which redirect, set cookies and send a Content-Security-Policy.
 */
void http_reply_page(http_req *req, int status, const char *content_type, const char *data,
                     size_t len, const char *const (*headers)[2], int nheaders);

/*
 * A row response streamed from one SQL statement, rendered by render.h: CSV (header row
 * of the column names) or JSON {<header members>, "rows": [...], "totals": {...}}. A
 * column's role comes from roles (declared by the route: the counts and the money that
 * totals sums) or else from its SQL type: integers as JSON numbers, numeric as exact
 * decimal strings with trailing zeros trimmed, booleans as true/false, the rest as
 * text; NULL is null (empty in CSV).
 */
typedef struct http_rows {
    const char *sql;
    int nparams;
    const char *const *params;
    bool csv;
    bool totals;                /* JSON: add "totals" */
    const render_column *roles; /* roles of named columns (the route's), or NULL */
    int nroles;
    json_t *header;       /* JSON members before "rows" (object, taken), or NULL */
    const char *filename; /* CSV: Content-Disposition attachment name, or NULL */
} http_rows;

void http_reply_rows(http_req *req, const http_rows *rows);

/*
 * A 200 response of size bytes (Content-Length: HEAD gets the headers of the GET) that
 * read produces as libmicrohttpd sends them, so that no copy of the whole body is held:
 * read(cls, out, max) copies the next bytes (at most max) to out and returns their number,
 * -1 on failure (the client sees a cut connection, never a short body that looks whole).
 * The request's pool connection, which read may use, stays with the response until
 * free_cls(cls) (also called when the response could not be made: cls is taken always).
 */
typedef long (*http_read_fn)(void *cls, char *out, size_t max);
void http_reply_reader(http_req *req, const char *content_type, size_t size, http_read_fn read,
                       void (*free_cls)(void *), void *cls);

/* Adds a header to the request's successful (2xx) reply; up to HTTP_EXTRA_HEADERS, copied. */
#define HTTP_EXTRA_HEADERS 4
void http_set_header(http_req *req, const char *name, const char *value);

/* True when Postgres knows the IANA zone (list cached at the first connection); false
   after replying 503 when the list could not be loaded. */
bool http_tz_known(http_req *req, const char *tz);

#endif
