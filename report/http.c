/*
 * Threading model: MHD_USE_THREAD_PER_CONNECTION with an internal poll() listener.
 * Every handler blocks on Postgres (libpq is synchronous) and CSV responses hold a
 * connection for as long as the client reads; with one thread per connection a slow
 * query or a slow reader stalls only its own connection, and a handler waiting for a
 * pool connection can never deadlock against a stream it shares a thread with (which
 * a thread pool multiplexing connections over epoll could). Threads are bounded by
 * max_connections (plus HTTP_RESERVED_CONNECTIONS for the probes), idle clients by
 * request_timeout_s, clients that trickle a header byte by byte by header_timeout_s (a
 * watchdog thread shuts their sockets down: libmicrohttpd's timeout restarts on every byte),
 * database work by the pool size.
 *
 * Accepting: the server listens itself (libmicrohttpd runs with MHD_USE_NO_LISTEN_SOCKET).
 * A thread per new connection peeks at its request line (MSG_PEEK: nothing is consumed)
 * and then hands the socket to libmicrohttpd with MHD_add_connection, or answers itself
 * what libmicrohttpd would answer with a 5xx: an HTTP version other than 1.x (its 505)
 * gets 400, a request line past HTTP_LINE_MAX gets 414. The connection counts, the
 * per-address cap, the reserved probe slots and the header deadline cover both stages.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "membuf.h"
#include "problem.h"
#include "rowstream.h"

#define HTTP_BODY_MAX (64 * 1024)
/* request line + headers per connection: room for query strings far past QUERY_MAX_LEN,
   so they get our 414 problem (past this, libmicrohttpd answers 414/431 itself) */
#define HTTP_MEMORY_LIMIT (256 * 1024)
#define HTTP_STREAM_BLOCK (32 * 1024)
#define HTTP_GRACE_POLL_MS 50
#define HTTP_WATCHDOG_MS 250
/* a request line this long is a 414 (the longest one served, a query of QUERY_MAX_LEN
   percent-encoded, is far shorter); peeked whole, so it must fit a socket buffer */
#define HTTP_LINE_MAX (16 * 1024)
#define HTTP_ACCEPT_STACK (256 * 1024)
#define HTTP_LINGER_MAX (1024 * 1024) /* bytes read and dropped after answering ourselves */

/* One open connection, for the header deadline and the reserved slots (under conns_lock). */
typedef struct http_conn {
    struct http_conn *prev, *next;
    struct http_server *srv;
    MHD_socket fd;
    bool in_header; /* waiting for a request's header, since `since` */
    bool reserved;  /* accepted past max_connections: reserved routes only */
    bool accepting; /* its request line is being peeked at (http_accept_conn) */
    bool handed;    /* given to libmicrohttpd, not yet adopted by http_notify_connection */
    struct timespec since;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} http_conn;

struct http_server {
    http_config cfg;
    struct MHD_Daemon *daemon;
    unsigned short port;
    atomic_int in_flight;
    atomic_bool stopping;
    pthread_mutex_t conns_lock;
    pthread_cond_t conns_stop; /* signalled (under conns_lock) to end the watchdog */
    http_conn *conns;
    int nconns;
    bool watchdog_stop, watchdog_running;
    pthread_t watchdog;
    int listen_fd;
    bool acceptor_running;
    pthread_t acceptor;
    int naccepting;                /* threads of http_accept_conn (under conns_lock) */
    pthread_cond_t accepting_done; /* signalled when naccepting drops */
    prom_registry *reg;
    prom_metric *m_header_timeouts;
    prom_metric *m_requests, *m_duration, *m_in_flight, *m_pool, *m_pool_timeouts, *m_aborts;
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *mc;
    http_conn *conn; /* NULL if its allocation failed */
    char *uri;       /* raw, as received */
    size_t path_len;
    const char *raw_query;
    size_t raw_query_len;
    const http_route *route;
    http_method method;
    char path_arg[QUERY_VALUE_MAX + 1];
    bool has_path_arg;
    bool started, replied, queued, too_large;
    bool head; /* HEAD: served as GET, libmicrohttpd drops the body */
    int status;
    char *body;
    size_t body_len;
    query q;
    auth_principal principal;
    bool authenticated;
    const char *token_error; /* a refused token: RFC 6750 error_description (static text) */
    int retry_after_s;       /* a 503 that can say when to retry: Retry-After, else 0 */
    int slot;                /* pool slot held, -1 none */
    struct timespec t0;
    char extra_name[HTTP_EXTRA_HEADERS][64], extra_value[HTTP_EXTRA_HEADERS][512]; /* set_header */
    int nextra;
};

/* ---- replies ---- */

static void http_queue(http_req *req, int status, struct MHD_Response *resp, const char *ctype)
{
    if (req->replied) {
        log_error("route %s replied twice", req->route ? req->route->path : "?");
        MHD_destroy_response(resp);
        return;
    }
    req->replied = true;
    req->status = status;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < req->nextra && status < 300; i++)
        MHD_add_response_header(resp, req->extra_name[i], req->extra_value[i]);
    if (atomic_load(&req->srv->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == 401) {
        char challenge[256];
        /* RFC 6750 3: no error code when the request had no token */
        if (req->token_error)
            snprintf(challenge, sizeof(challenge),
                     "Bearer realm=\"tokentally\", error=\"invalid_token\", "
                     "error_description=\"%s\"",
                     req->token_error);
        else
            snprintf(challenge, sizeof(challenge), "Bearer realm=\"tokentally\"");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
    }
    if (status == 503 && req->retry_after_s > 0) {
        char secs[16];
        snprintf(secs, sizeof(secs), "%d", req->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    if (status == 405 && req->route) {
        char allow[64] = "";
        for (int i = 0; i < req->srv->cfg.nroutes; i++) {
            const http_route *r = &req->srv->cfg.routes[i];
            if (strcmp(r->path, req->route->path) != 0)
                continue;
            static const char *const names[] = {"GET, HEAD", "POST", "PUT", "DELETE"};
            for (int b = 0; b < 4; b++)
                if ((r->methods & (1u << b)) && !strstr(allow, names[b]))
                    snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
                             allow[0] ? ", " : "", names[b]);
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (MHD_queue_response(req->mc, (unsigned)status, resp) == MHD_YES)
        req->queued = true;
    else
        log_warn("could not queue the response to %s", req->route ? req->route->path : "?");
    MHD_destroy_response(resp);
}

void http_reply_text(http_req *req, int status, const char *content_type, const char *data,
                     size_t len)
{
    http_reply_page(req, status, content_type, data, len, NULL, 0);
}

void http_reply_page(http_req *req, int status, const char *content_type, const char *data,
                     size_t len, const char *const (*headers)[2], int nheaders)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);

    if (!resp) {
        log_error("could not create a response");
        req->replied = true;
        return;
    }
    for (int i = 0; i < nheaders; i++)
        MHD_add_response_header(resp, headers[i][0], headers[i][1]);
    http_queue(req, status, resp, content_type);
}

void http_reply_json(http_req *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);

    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"title\":\"Internal Server Error\",\"status\":500}";
        http_reply_text(req, 500, PROBLEM_CONTENT_TYPE, oom, sizeof(oom) - 1);
        return;
    }
    http_reply_text(req, status, "application/json", text, strlen(text));
    free(text);
}

void http_reply_problem(http_req *req, int status, const char *param, const char *fmt, ...)
{
    char detail[512], *text;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    text = problem_json(status, param, detail);
    http_reply_text(req, status, PROBLEM_CONTENT_TYPE, text ? text : "{}", text ? strlen(text) : 2);
    free(text);
}

void http_reply_db_error(http_req *req, const char *sqlstate, const char *message)
{
    PGconn *conn = pool_conn(req->srv->cfg.pool, req->slot);

    switch (problem_db_status(sqlstate, conn && PQstatus(conn) == CONNECTION_OK)) {
    case 503:
        http_reply_problem(req, 503, NULL, "the database is unavailable or the query timed out");
        break;
    case 400:
        http_reply_problem(req, 400, NULL, "%s", message ? message : "invalid request");
        break;
    default:
        http_reply_problem(req, 500, NULL, "the query failed (sqlstate %s)", sqlstate);
        break;
    }
}

/* ---- streamed rows ---- */

/* A 200 response whose body rowstream renders as libmicrohttpd asks for more. */
typedef struct http_stream {
    http_server *srv;
    int slot; /* the pool connection the query runs on, returned when the response is freed */
    rowstream *rows;
    bool failed;
    membuf buf;
} http_stream;

static void http_stream_free(void *cls)
{
    http_stream *st = cls;

    if (!st)
        return;
    rowstream_free(st->rows);
    pool_release(st->srv->cfg.pool, st->slot);
    membuf_free(&st->buf);
    free(st);
}

static ssize_t http_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    http_stream *st = cls;
    size_t n;

    (void)pos;
    if (!st->failed && !rowstream_fill(st->rows, &st->buf, max)) {
        st->failed = true;
        prom_counter_add(st->srv->m_aborts, NULL, 1);
    }
    if (st->failed)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* no final chunk: the client sees a cut */
    if (st->buf.len == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    n = st->buf.len < max ? st->buf.len : max;
    memcpy(out, st->buf.data, n);
    membuf_consume(&st->buf, n);
    return (ssize_t)n;
}

void http_reply_rows(http_req *req, const http_rows *rows)
{
    render_format format = !rows->csv       ? RENDER_JSON
                           : req->q.raw_csv ? RENDER_CSV_RAW /* guard=none */
                                            : RENDER_CSV;
    rowstream_query q = {rows->sql,    rows->nparams, rows->params, format,
                         rows->totals, rows->roles,   rows->nroles};
    PGconn *conn = http_db(req);
    http_stream *st;
    struct MHD_Response *resp;
    rowstream_error err;
    rowstream *rs;

    if (!conn) {
        json_decref(rows->header);
        return;
    }
    rs = rowstream_open(conn, &q, rows->header, &err);
    if (!rs) {
        if (err.kind == ROWSTREAM_NO_MEMORY)
            http_reply_problem(req, 500, NULL, "out of memory");
        else if (err.kind == ROWSTREAM_REFUSED)
            http_reply_db_error(req, err.sqlstate, err.message[0] ? err.message : NULL);
        else
            http_reply_db_error(req, NULL, NULL);
        return;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        rowstream_free(rs);
        http_reply_problem(req, 500, NULL, "out of memory");
        return;
    }
    st->srv = req->srv;
    st->rows = rs;
    st->slot = req->slot;
    req->slot = -1; /* the stream returns the connection when the response is freed */
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, http_stream_read,
                                             st, http_stream_free);
    if (!resp) {
        http_stream_free(st);
        req->replied = true;
        return;
    }
    /* libmicrohttpd 0.9.75 still ends a chunked HEAD response with "0\r\n\r\n", which a
       keep-alive client reads as the start of the next response: no chunking, close */
    if (req->head)
        MHD_set_response_options(resp, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    if (rows->csv && rows->filename) {
        char disp[256];
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", rows->filename);
        MHD_add_response_header(resp, "Content-Disposition", disp);
    }
    http_queue(req, 200, resp,
               rows->csv ? "text/csv; charset=utf-8; header=present" : "application/json");
}

/* A 200 response of known size whose body a route's reader produces (http_reply_reader). */
typedef struct http_feed {
    http_server *srv;
    int slot; /* the pool connection the reader uses, returned when the response is freed */
    http_read_fn read;
    void (*free_cls)(void *);
    void *cls;
} http_feed;

static void http_feed_free(void *p)
{
    http_feed *f = p;

    f->free_cls(f->cls);
    pool_release(f->srv->cfg.pool, f->slot);
    free(f);
}

static ssize_t http_feed_read(void *p, uint64_t pos, char *out, size_t max)
{
    http_feed *f = p;
    long n = f->read(f->cls, out, max);

    (void)pos;
    if (n > 0)
        return (ssize_t)n;
    if (n < 0)
        prom_counter_add(f->srv->m_aborts, NULL, 1);
    /* before size bytes: libmicrohttpd closes the connection, the client sees a cut */
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

void http_reply_reader(http_req *req, const char *content_type, size_t size, http_read_fn read,
                       void (*free_cls)(void *), void *cls)
{
    http_feed *f = calloc(1, sizeof(*f));
    struct MHD_Response *resp;

    if (!f) {
        free_cls(cls);
        http_reply_problem(req, 500, NULL, "out of memory");
        return;
    }
    f->srv = req->srv;
    f->read = read;
    f->free_cls = free_cls;
    f->cls = cls;
    f->slot = req->slot;
    req->slot = -1; /* the response returns the connection when it is freed */
    resp = MHD_create_response_from_callback(size, HTTP_STREAM_BLOCK, http_feed_read, f,
                                             http_feed_free);
    if (!resp) {
        http_feed_free(f);
        req->replied = true;
        return;
    }
    http_queue(req, 200, resp, content_type);
}

void http_set_header(http_req *req, const char *name, const char *value)
{
    if (req->nextra == HTTP_EXTRA_HEADERS) {
        log_error("route %s set more than %d headers", req->route ? req->route->path : "?",
                  HTTP_EXTRA_HEADERS);
        return;
    }
    snprintf(req->extra_name[req->nextra], sizeof(req->extra_name[0]), "%s", name);
    snprintf(req->extra_value[req->nextra], sizeof(req->extra_value[0]), "%s", value);
    req->nextra++;
}

/* ---- request accessors ---- */

const query *http_query(const http_req *req)
{
    return &req->q;
}

const auth_principal *http_principal(const http_req *req)
{
    return req->authenticated ? &req->principal : NULL;
}

http_method http_req_method(const http_req *req)
{
    return req->method;
}

const char *http_path_arg(const http_req *req)
{
    return req->has_path_arg ? req->path_arg : NULL;
}

const char *http_body(const http_req *req, size_t *len)
{
    *len = req->body_len;
    return req->body ? req->body : "";
}

const char *http_header(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, name);
}

const char *http_raw_query(const http_req *req, size_t *len)
{
    *len = req->raw_query_len;
    return req->raw_query;
}

prom_registry *http_registry(const http_req *req)
{
    return req->srv->reg;
}

bool http_wants_csv(const http_req *req)
{
    const char *accept;

    if (req->q.format != QF_DEFAULT)
        return req->q.format == QF_CSV;
    accept = http_header(req, MHD_HTTP_HEADER_ACCEPT);
    return accept && strstr(accept, "text/csv") != NULL;
}

static PGconn *http_db_get(http_req *req, bool reply)
{
    pool_status st;

    if (req->slot >= 0)
        return pool_conn(req->srv->cfg.pool, req->slot);
    st = pool_acquire(req->srv->cfg.pool, &req->slot);
    if (st == POOL_BUSY)
        prom_counter_add(req->srv->m_pool_timeouts, NULL, 1);
    if (st != POOL_OK) {
        if (reply)
            http_reply_problem(req, 503, NULL,
                               st == POOL_BUSY ? "every database connection is busy; retry shortly"
                                               : "the database is unavailable");
        return NULL;
    }
    return pool_conn(req->srv->cfg.pool, req->slot);
}

PGconn *http_db(http_req *req)
{
    return http_db_get(req, true);
}

PGconn *http_db_try(http_req *req)
{
    return http_db_get(req, false);
}

bool http_tz_known(http_req *req, const char *tz)
{
    http_server *s = req->srv;
    tz_lookup found;

    if (req->slot >= 0)
        tz_cache_load(s->cfg.tz, pool_conn(s->cfg.pool, req->slot)); /* no-op once loaded */
    found = tz_cache_find(s->cfg.tz, tz);
    /* not the caller's fault: the list failed to load (out of memory, database error) */
    if (found == TZ_UNLOADED)
        http_reply_problem(req, 503, NULL,
                           "the time zone names could not be loaded; retry shortly");
    return found == TZ_KNOWN;
}

/* ---- dispatch ---- */

static const char *http_route_label(const http_req *req)
{
    return req->route ? req->route->path : "unmatched";
}

/* Matches path against a route path; a "{…}" segment (one, anywhere) takes one segment. */
static bool http_path_match(http_req *req, const char *pattern, const char *path, size_t n)
{
    const char *brace = strchr(pattern, '{');
    const char *suffix;
    size_t plen, slen, alen;

    if (!brace)
        return strlen(pattern) == n && memcmp(pattern, path, n) == 0;
    plen = (size_t)(brace - pattern);
    suffix = strchr(brace, '}');
    suffix = suffix ? suffix + 1 : "";
    slen = strlen(suffix);
    if (n <= plen + slen || memcmp(pattern, path, plen) != 0 ||
        memcmp(suffix, path + n - slen, slen) != 0)
        return false;
    alen = n - plen - slen;
    if (memchr(path + plen, '/', alen) || alen > QUERY_VALUE_MAX)
        return false;
    memcpy(req->path_arg, path + plen, alen);
    req->path_arg[alen] = '\0';
    req->has_path_arg = true;
    return true;
}

static http_method http_parse_method(const char *m)
{
    /* HEAD is GET without the body: libmicrohttpd sends the headers of the same response
       and never calls a stream's reader (its free callback returns the connection) */
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return HTTP_GET;
    if (strcmp(m, "POST") == 0)
        return HTTP_POST;
    if (strcmp(m, "PUT") == 0)
        return HTTP_PUT;
    if (strcmp(m, "DELETE") == 0)
        return HTTP_DELETE;
    return 0;
}

/* Finds the route; replies 404/405 and returns false when there is none. */
static bool http_route_find(http_req *req)
{
    const http_route *path_match = NULL;

    for (int i = 0; i < req->srv->cfg.nroutes; i++) {
        const http_route *r = &req->srv->cfg.routes[i];
        req->has_path_arg = false;
        if (!http_path_match(req, r->path, req->uri, req->path_len))
            continue;
        path_match = r;
        if (r->methods & req->method) {
            req->route = r;
            return true;
        }
    }
    if (!path_match) {
        http_reply_problem(req, 404, NULL, "no such resource");
        return false;
    }
    req->route = path_match;
    http_reply_problem(req, 405, NULL, "method not allowed here");
    return false;
}

/*
 * Authentication and authorisation; replies and returns false when refused. An Entra
 * access token is checked before the request takes a database connection: it needs none,
 * and a slow fetch of the signing keys must not hold one.
 */
static bool http_authorize(http_req *req)
{
    const char *authorization = http_header(req, MHD_HTTP_HEADER_AUTHORIZATION), *detail;
    unsigned roles = req->route->roles;
    auth_status st;
    PGconn *conn;

    if (roles == AUTH_OPEN || (roles == HTTP_PROBE && !req->srv->cfg.metrics_auth))
        return true;
    if (roles == HTTP_PROBE)
        roles = AUTH_ANY_ROLE;
    st = auth_check_token(authorization, &req->principal, &detail);
    if (st == AUTH_NEEDS_DB) {
        conn = http_db(req);
        if (!conn)
            return false;
        st = auth_check(conn, authorization, &req->principal);
    }
    switch (st) {
    case AUTH_OK:
        break;
    case AUTH_MISSING:
        http_reply_problem(req, 401, NULL, "a bearer token is required");
        return false;
    case AUTH_UNKNOWN:
    case AUTH_REFUSED:
        /* unknown and revoked alike: which tokens once existed is nobody's business */
        req->token_error = st == AUTH_REFUSED && detail ? detail : "unknown or revoked token";
        http_reply_problem(req, 401, NULL, "%s", req->token_error);
        return false;
    case AUTH_UNAVAILABLE:
        req->retry_after_s = AUTH_RETRY_S;
        http_reply_problem(req, 503, NULL, "%s", detail ? detail : "retry later");
        return false;
    case AUTH_DB_ERROR:
    case AUTH_NEEDS_DB:
        http_reply_db_error(req, NULL, NULL);
        return false;
    }
    req->authenticated = true;
    if (!(roles & req->principal.role)) {
        http_reply_problem(req, 403, NULL, "role %s may not use %s",
                           auth_role_name(req->principal.role), req->route->path);
        return false;
    }
    return true;
}

static enum MHD_Result http_count_authorization(void *cls, enum MHD_ValueKind kind, const char *key,
                                                const char *value)
{
    int *n = cls;

    (void)kind;
    (void)value;
    if (key && strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
        (*n)++;
    return MHD_YES;
}

static void http_dispatch(http_req *req)
{
    query_error qerr;
    int nauth = 0;

    if (req->too_large) {
        http_reply_problem(req, 413, NULL, "the request body is larger than 64 KiB");
        return;
    }
    /* a proxy in front may act on the other one: which caller this is would be a guess */
    MHD_get_connection_values(req->mc, MHD_HEADER_KIND, http_count_authorization, &nauth);
    if (nauth > 1) {
        http_reply_problem(req, 400, NULL, "more than one Authorization header");
        return;
    }
    if (!query_parse(req->raw_query, req->raw_query_len, req->route->params, &req->q, &qerr)) {
        http_reply_problem(req, qerr.status, qerr.param, "%s", qerr.detail);
        return;
    }
    if (!http_authorize(req))
        return;
    if ((req->q.given & QP_TZ) && (!http_db(req) || !http_tz_known(req, req->q.tz))) {
        if (!req->replied)
            http_reply_problem(req, 400, "tz", "unknown time zone \"%s\"", req->q.tz);
        return;
    }
    req->route->handler(req);
    if (!req->replied)
        http_reply_problem(req, 500, NULL, "the handler produced no response");
}

static http_conn *http_conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* The header is in: the deadline stops until the next request on the connection. */
static void http_conn_header_done(http_req *req)
{
    req->conn = http_conn_of(req->mc);
    if (!req->conn)
        return;
    pthread_mutex_lock(&req->srv->conns_lock);
    req->conn->in_header = false;
    pthread_mutex_unlock(&req->srv->conns_lock);
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *mc, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    http_req *req = *con_cls;

    (void)cls;
    (void)url;
    (void)version;
    if (!req)
        return MHD_NO; /* the URI callback failed to allocate */
    req->mc = mc;
    if (!req->started) {
        /* replying before MHD has read the whole request would close the connection */
        req->started = true;
        http_conn_header_done(req);
        req->method = http_parse_method(method);
        req->head = strcmp(method, "HEAD") == 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!req->too_large) {
            if (req->body_len + *upload_data_size > HTTP_BODY_MAX) {
                req->too_large = true;
            } else {
                char *b = realloc(req->body, req->body_len + *upload_data_size + 1);
                if (!b)
                    return MHD_NO;
                memcpy(b + req->body_len, upload_data, *upload_data_size);
                req->body = b;
                req->body_len += *upload_data_size;
                req->body[req->body_len] = '\0';
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->replied)
        return req->queued ? MHD_YES : MHD_NO;
    if (strlen(req->uri) - req->path_len > QUERY_MAX_LEN + 1)
        http_reply_problem(req, 414, NULL, "the query string is longer than %d bytes",
                           QUERY_MAX_LEN);
    else if (http_route_find(req)) {
        if (req->conn && req->conn->reserved && !req->route->reserved)
            http_reply_problem(req, 503, NULL, "every connection is busy; retry shortly");
        else
            http_dispatch(req);
    }
    /* nothing queued (out of memory): closing the connection is all that is left */
    return req->queued ? MHD_YES : MHD_NO;
}

static void *http_uri_log(void *cls, const char *uri, struct MHD_Connection *mc)
{
    http_server *s = cls;
    http_req *req = calloc(1, sizeof(*req));
    const char *q;

    (void)mc;
    if (!req)
        return NULL;
    req->srv = s;
    req->slot = -1;
    req->uri = strdup(uri ? uri : "");
    if (!req->uri) {
        free(req);
        return NULL;
    }
    q = strchr(req->uri, '?');
    req->path_len = q ? (size_t)(q - req->uri) : strlen(req->uri);
    req->raw_query = q ? q + 1 : "";
    req->raw_query_len = strlen(req->raw_query);
    clock_gettime(CLOCK_MONOTONIC, &req->t0);
    atomic_fetch_add(&s->in_flight, 1);
    return req;
}

static void http_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_req *req = *con_cls;
    struct timespec t1;
    char status[8];
    const char *labels[3];
    double secs;

    (void)mc;
    if (!req)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - req->t0.tv_sec) + (double)(t1.tv_nsec - req->t0.tv_nsec) / 1e9;
    snprintf(status, sizeof(status), "%d", req->status);
    labels[0] = http_route_label(req);
    labels[1] = status;
    prom_counter_add(s->m_requests, labels, 1);
    prom_histogram_observe(s->m_duration, labels, secs);
    log_debug("request route=%s status=%d seconds=%.6f user=\"%s\" completed=%s", labels[0],
              req->status, secs, req->authenticated ? req->principal.name : "",
              toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "yes" : "no");
    if (req->conn) {
        /* a keep-alive connection waits for its next request's header */
        pthread_mutex_lock(&s->conns_lock);
        req->conn->in_header = true;
        clock_gettime(CLOCK_MONOTONIC, &req->conn->since);
        pthread_mutex_unlock(&s->conns_lock);
    }
    pool_release(s->cfg.pool, req->slot);
    free(req->body);
    free(req->uri);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* Takes c out of the connection list; under conns_lock. */
static void http_conn_unlink(http_server *s, http_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
}

static void http_notify_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                                   enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    http_conn *c = *socket_context;
    const union MHD_ConnectionInfo *ci;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return; /* untracked: no deadline, but served */
        /* a connection of the acceptor keeps its slot, its deadline and its reserve flag */
        pthread_mutex_lock(&s->conns_lock);
        for (c = s->conns; c && !(c->handed && c->fd == ci->connect_fd); c = c->next)
            ;
        if (c)
            c->handed = false;
        pthread_mutex_unlock(&s->conns_lock);
        if (c) {
            *socket_context = c;
            return;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
            return;
        c->fd = ci->connect_fd;
        c->in_header = true;
        clock_gettime(CLOCK_MONOTONIC, &c->since);
        pthread_mutex_lock(&s->conns_lock);
        c->reserved = ++s->nconns > s->cfg.max_connections;
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->conns_lock);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    /* libmicrohttpd closes the socket after this: the watchdog never sees a reused fd */
    pthread_mutex_lock(&s->conns_lock);
    http_conn_unlink(s, c);
    pthread_mutex_unlock(&s->conns_lock);
    free(c);
    *socket_context = NULL;
}

static long long http_ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* Shuts down the sockets of connections whose header is late; their threads then close them. */
static void *http_watchdog(void *arg)
{
    http_server *s = arg;
    long long limit_ms = (long long)s->cfg.header_timeout_s * 1000;
    struct timespec now, wake;

    pthread_mutex_lock(&s->conns_lock);
    while (!s->watchdog_stop) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        for (http_conn *c = s->conns, *next; c; c = next) {
            next = c->next;
            if (!c->in_header || http_ms_between(&c->since, &now) < limit_ms)
                continue;
            if (c->handed) {
                /* never adopted: libmicrohttpd dropped it (out of memory) and closed the
                   fd, which may be another connection's by now: only forget it */
                http_conn_unlink(s, c);
                free(c);
                continue;
            }
            c->in_header = false;
            shutdown(c->fd, SHUT_RDWR);
            prom_counter_add(s->m_header_timeouts, NULL, 1);
        }
        wake = now;
        wake.tv_nsec += HTTP_WATCHDOG_MS * 1000000L;
        if (wake.tv_nsec >= 1000000000L) {
            wake.tv_sec++;
            wake.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->conns_stop, &s->conns_lock, &wake);
    }
    pthread_mutex_unlock(&s->conns_lock);
    return NULL;
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_warn("microhttpd: %s", line);
}

static void http_collect(void *ctx)
{
    http_server *s = ctx;
    const char *busy[1] = {"busy"}, *open_[1] = {"open"}, *max[1] = {"max"};
    int nopen, nbusy, size;

    pool_stats(s->cfg.pool, &nbusy, &nopen, &size);
    prom_gauge_set(s->m_pool, busy, nbusy);
    prom_gauge_set(s->m_pool, open_, nopen);
    prom_gauge_set(s->m_pool, max, size);
    prom_gauge_set(s->m_in_flight, NULL, atomic_load(&s->in_flight));
}

static void http_metrics_init(http_server *s)
{
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,   0.25,   0.5,   1,    2.5,   10};
    s->m_requests = prom_counter(s->reg, "tally_http_requests_total",
                                 "HTTP requests by route and status", "route,status");
    s->m_duration = prom_histogram(s->reg, "tally_http_request_duration_seconds",
                                   "time from request line to last byte sent", "route,status",
                                   bounds, (int)(sizeof(bounds) / sizeof(bounds[0])));
    s->m_in_flight =
        prom_gauge(s->reg, "tally_http_in_flight_requests", "requests being served", NULL);
    s->m_pool = prom_gauge(s->reg, "tally_db_pool_connections",
                           "database pool: busy, open and max connections", "state");
    s->m_pool_timeouts =
        prom_counter(s->reg, "tally_db_pool_wait_timeouts_total",
                     "requests refused (503) because every connection stayed busy", NULL);
    s->m_header_timeouts = prom_counter(
        s->reg, "tally_http_header_timeouts_total",
        "connections closed because a request header took past header_timeout_s", NULL);
    s->m_aborts = prom_counter(s->reg, "tally_http_stream_aborts_total",
                               "streamed responses cut off because the query failed", NULL);
    prom_on_collect(s->reg, http_collect, s);
}

/* The connection list and its watchdog; false after logging. */
static bool http_conns_init(http_server *s)
{
    pthread_condattr_t ca;
    int rc;

    if (pthread_mutex_init(&s->conns_lock, NULL) != 0) {
        log_error("could not create a mutex");
        return false;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&s->conns_stop, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0 || pthread_cond_init(&s->accepting_done, NULL) != 0) {
        log_error("could not create a condition variable");
        if (rc == 0)
            pthread_cond_destroy(&s->conns_stop);
        pthread_mutex_destroy(&s->conns_lock);
        return false;
    }
    rc = pthread_create(&s->watchdog, NULL, http_watchdog, s);
    if (rc != 0) {
        log_error("could not start the header watchdog: %s", strerror(rc));
        pthread_cond_destroy(&s->accepting_done);
        pthread_cond_destroy(&s->conns_stop);
        pthread_mutex_destroy(&s->conns_lock);
        return false;
    }
    s->watchdog_running = true;
    return true;
}

/* Stops the watchdog; after MHD_stop_daemon, when no connection is left. */
static void http_conns_cleanup(http_server *s)
{
    if (!s->watchdog_running)
        return;
    pthread_mutex_lock(&s->conns_lock);
    s->watchdog_stop = true;
    pthread_cond_signal(&s->conns_stop);
    pthread_mutex_unlock(&s->conns_lock);
    pthread_join(s->watchdog, NULL);
    s->watchdog_running = false;
    pthread_cond_destroy(&s->accepting_done);
    pthread_cond_destroy(&s->conns_stop);
    pthread_mutex_destroy(&s->conns_lock);
}

/* ---- accepting: the request line before libmicrohttpd ---- */

typedef enum {
    HTTP_LINE_MORE,        /* no whole request line yet */
    HTTP_LINE_MHD,         /* for libmicrohttpd: a version it serves, or its own 400 */
    HTTP_LINE_BAD_VERSION, /* HTTP/d.d with a major version other than 1: its 505 */
    HTTP_LINE_TOO_LONG,
} http_line_kind;

/* What the peeked bytes say, read as libmicrohttpd 0.9.75 reads a request line (leading
 * empty lines skipped, the version is the last space-separated word); *version gets the
 * version's 8 bytes for HTTP_LINE_BAD_VERSION. */
static http_line_kind http_line_classify(const char *b, size_t n, char version[9])
{
    size_t start = 0, end, sp1, tok;
    const char *lf;

    while (start < n && (b[start] == '\r' || b[start] == '\n'))
        start++;
    lf = start < n ? memchr(b + start, '\n', n - start) : NULL;
    if (!lf)
        return n >= HTTP_LINE_MAX ? HTTP_LINE_TOO_LONG : HTTP_LINE_MORE;
    end = (size_t)(lf - b);
    if (end > start && b[end - 1] == '\r')
        end--;
    for (sp1 = start; sp1 < end && b[sp1] != ' '; sp1++)
        ;
    while (end > sp1 && b[end - 1] == ' ')
        end--;
    for (tok = end; tok > sp1 && b[tok - 1] != ' '; tok--)
        ;
    if (sp1 >= end || tok <= sp1 + 1 || end - tok != 8 || memcmp(b + tok, "HTTP/", 5) != 0 ||
        b[tok + 6] != '.' || b[tok + 5] < '0' || b[tok + 5] > '9' || b[tok + 7] < '0' ||
        b[tok + 7] > '9' || b[tok + 5] == '1')
        return HTTP_LINE_MHD; /* a version libmicrohttpd serves, or malformed: its 400 */
    memcpy(version, b + tok, 8);
    version[8] = '\0';
    return HTTP_LINE_BAD_VERSION;
}

/* Waits for more than have bytes and peeks at up to HTTP_LINE_MAX; -1 on EOF, error or a
 * socket the watchdog shut down. */
static ssize_t http_peek_more(int fd, char *buf, size_t have)
{
    int lowat = (int)have + 1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    /* poll() then reports the socket only once it holds more than what was peeked */
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
    for (;;) {
        if (poll(&p, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        n = recv(fd, buf, HTTP_LINE_MAX, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        return n <= (ssize_t)have ? -1 : n; /* no progress: the peer closed or was cut */
    }
}

/* Answers a request libmicrohttpd would refuse with a 5xx, then reads and drops what the
 * client still sends (bounded) so that closing does not reset the answer away. */
static void http_accept_answer(http_server *s, int fd, int status, const char *detail,
                               const struct timespec *t0)
{
    char *body = problem_json(status, NULL, detail), head[256], sink[4096];
    const char *labels[2] = {"unmatched", status == 400 ? "400" : "414"};
    struct timespec t1;
    size_t dropped = 0;
    ssize_t n;
    int len;

    len = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: " PROBLEM_CONTENT_TYPE
                   "\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                   "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
                   status, problem_title(status), body ? strlen(body) : 2);
    if (send(fd, head, (size_t)len, MSG_NOSIGNAL) == len)
        send(fd, body ? body : "{}", body ? strlen(body) : 2, MSG_NOSIGNAL);
    free(body);
    shutdown(fd, SHUT_WR);
    while (dropped < HTTP_LINGER_MAX && (n = recv(fd, sink, sizeof(sink), 0)) > 0)
        dropped += (size_t)n; /* the header watchdog bounds the wait */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    prom_counter_add(s->m_requests, labels, 1);
    prom_histogram_observe(s->m_duration, labels,
                           (double)(t1.tv_sec - t0->tv_sec) +
                               (double)(t1.tv_nsec - t0->tv_nsec) / 1e9);
}

/* One new connection: peeks at its request line, then hands it over or answers it. */
static void *http_accept_conn(void *arg)
{
    http_conn *c = arg;
    http_server *s = c->srv;
    char *buf = malloc(HTTP_LINE_MAX), version[9] = "";
    http_line_kind kind = HTTP_LINE_MORE;
    ssize_t n = 0;
    int fd = c->fd, one = 1;
    bool closed = false;

    while (buf && kind == HTTP_LINE_MORE) {
        n = http_peek_more(fd, buf, (size_t)n);
        if (n < 0)
            break;
        kind = http_line_classify(buf, (size_t)n, version);
    }
    free(buf);
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    if (kind == HTTP_LINE_BAD_VERSION) {
        char detail[96];
        snprintf(detail, sizeof(detail), "HTTP version %s is not supported: use HTTP/1.1", version);
        http_accept_answer(s, fd, 400, detail, &c->since);
    } else if (kind == HTTP_LINE_TOO_LONG) {
        http_accept_answer(s, fd, 414, "the request line is longer than 16384 bytes", &c->since);
    }
    pthread_mutex_lock(&s->conns_lock);
    c->accepting = false;
    if (kind == HTTP_LINE_MHD && !atomic_load(&s->stopping)) {
        /* under the lock: until it is unlinked on failure, no new connection can reuse
           the fd number for an entry that http_notify_connection would confuse with it */
        c->handed = true;
        if (MHD_add_connection(s->daemon, fd, (struct sockaddr *)&c->addr, c->addrlen) == MHD_YES)
            c = NULL; /* http_notify_connection adopts it */
        else
            closed = true; /* libmicrohttpd closed the socket */
    }
    if (c) {
        http_conn_unlink(s, c);
        if (!closed)
            close(fd);
        free(c);
    }
    s->naccepting--;
    pthread_cond_broadcast(&s->accepting_done);
    pthread_mutex_unlock(&s->conns_lock);
    return NULL;
}

static bool http_same_address(const http_conn *a, const struct sockaddr_storage *b)
{
    if (a->addr.ss_family != b->ss_family)
        return false;
    if (b->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)&a->addr)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    if (b->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&a->addr)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

/* Registers a new connection and starts its thread; closes it when over a limit. */
static void http_accept_start(http_server *s, pthread_attr_t *attr, int fd,
                              const struct sockaddr_storage *addr, socklen_t addrlen)
{
    http_conn *c = calloc(1, sizeof(*c));
    pthread_t t;
    int same = 0;
    bool refuse;

    if (!c) {
        close(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    c->addr = *addr;
    c->addrlen = addrlen;
    c->in_header = c->accepting = true;
    clock_gettime(CLOCK_MONOTONIC, &c->since);
    pthread_mutex_lock(&s->conns_lock);
    for (http_conn *o = s->conns; o && s->cfg.max_per_address > 0; o = o->next)
        same += http_same_address(o, addr);
    /* what libmicrohttpd's connection limits did before: closed at once, no answer */
    refuse = atomic_load(&s->stopping) ||
             s->nconns >= s->cfg.max_connections + HTTP_RESERVED_CONNECTIONS ||
             (s->cfg.max_per_address > 0 && same >= s->cfg.max_per_address);
    if (!refuse) {
        c->reserved = ++s->nconns > s->cfg.max_connections;
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->naccepting++;
        if (pthread_create(&t, attr, http_accept_conn, c) != 0) {
            http_conn_unlink(s, c);
            s->naccepting--;
            refuse = true;
        }
    }
    pthread_mutex_unlock(&s->conns_lock);
    if (refuse) {
        close(fd);
        free(c);
    }
}

static void *http_acceptor(void *arg)
{
    http_server *s = arg;
    pthread_attr_t attr;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, HTTP_ACCEPT_STACK);
    while (!atomic_load(&s->stopping)) {
        struct sockaddr_storage addr;
        socklen_t addrlen = sizeof(addr);
        int fd = accept(s->listen_fd, (struct sockaddr *)&addr, &addrlen);

        if (fd >= 0) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            http_accept_start(s, &attr, fd, &addr, addrlen);
            continue;
        }
        if (atomic_load(&s->stopping))
            break;
        if (errno != EINTR && errno != ECONNABORTED) {
            /* out of descriptors or memory: let connections finish, then try again */
            struct timespec ts = {0, 100 * 1000000L};
            log_warn("could not accept a connection: %s", strerror(errno));
            nanosleep(&ts, NULL);
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

/* The listening socket for cfg->listen; -1 after logging. */
static int http_listen(const char *listen_addr, unsigned short *port)
{
    char host[256], portstr[8];
    struct addrinfo hints = {0}, *ai = NULL;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    int fd = -1, one = 1, rc;

    if (!prom_parse_listen(listen_addr, host, sizeof(host), port)) {
        log_error("could not parse listen address \"%s\"", listen_addr);
        return -1;
    }
    snprintf(portstr, sizeof(portstr), "%u", *port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
    if (rc != 0) {
        log_error("could not resolve listen address \"%s\": %s", listen_addr, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
        log_error("could not listen on %s: %s", listen_addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

http_server *http_server_start(const http_config *cfg, prom_registry *reg)
{
    http_server *s = calloc(1, sizeof(*s));
    unsigned short port;
    /* no listening socket: http_acceptor accepts, peeks and hands connections over */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    int nbusy, nopen, size, rc;

    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->reg = reg;
    s->listen_fd = -1;
    if (!http_conns_init(s)) {
        free(s);
        return NULL;
    }
    http_metrics_init(s);
    s->listen_fd = http_listen(cfg->listen, &port);
    if (s->listen_fd < 0)
        goto fail;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, http_access, s, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->max_connections + HTTP_RESERVED_CONNECTIONS),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_per_address,
        MHD_OPTION_NOTIFY_CONNECTION, http_notify_connection, s, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->request_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_MEMORY_LIMIT, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
        MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, s, MHD_OPTION_NOTIFY_COMPLETED, http_completed,
        s, MHD_OPTION_END);
    if (!s->daemon) {
        log_error("could not listen on %s", cfg->listen);
        goto fail;
    }
    rc = pthread_create(&s->acceptor, NULL, http_acceptor, s);
    if (rc != 0) {
        log_error("could not start the acceptor: %s", strerror(rc));
        goto fail;
    }
    s->acceptor_running = true;
    s->port = port;
    pool_stats(cfg->pool, &nbusy, &nopen, &size);
    log_info("listening on %s (port %u), %d database connections, %d HTTP connections", cfg->listen,
             s->port, size, cfg->max_connections);
    return s;
fail:
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    http_conns_cleanup(s);
    free(s);
    return NULL;
}

unsigned short http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_stop(http_server *s, int grace_ms)
{
    int waited = 0;

    if (!s)
        return;
    atomic_store(&s->stopping, true);
    /* stop accepting: accept() fails once the socket is shut down */
    shutdown(s->listen_fd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->listen_fd);
    /* connections still on their request line are closed, not handed over */
    pthread_mutex_lock(&s->conns_lock);
    for (http_conn *c = s->conns; c; c = c->next)
        if (c->accepting)
            shutdown(c->fd, SHUT_RDWR);
    while (s->naccepting > 0)
        pthread_cond_wait(&s->accepting_done, &s->conns_lock);
    pthread_mutex_unlock(&s->conns_lock);
    while (atomic_load(&s->in_flight) > 0 && waited < grace_ms) {
        struct timespec ts = {0, HTTP_GRACE_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        waited += HTTP_GRACE_POLL_MS;
    }
    if (atomic_load(&s->in_flight) > 0)
        log_warn("stopping with %d requests still in flight", atomic_load(&s->in_flight));
    MHD_stop_daemon(s->daemon);
    http_conns_cleanup(s);
    free(s);
}

void http_print_routes(FILE *out, const http_route *routes, int nroutes)
{
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE"};

    for (int i = 0; i < nroutes; i++)
        for (int b = 0; b < 4; b++)
            if (routes[i].methods & (1u << b))
                fprintf(out, "%s %s\n", names[b], routes[i].path);
}
