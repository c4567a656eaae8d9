/*
 * quotas.c - /v1/quotas (list, create), /v1/quotas/{id} (read with its recent
 * alerts and their delivery state, replace, delete), both for the platform role, and
 * /v1/quotas/status (use in the current period) for any role, scoped like costs: finance
 * and platform see every quota, a lead its team's and its members', a developer its own.
 * Bodies are the quota JSON of quota.h; refusals are problem+json naming the field.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "routes.h"

#define ROUTE_QUOTA_ALERTS 20 /* alerts shown with a quota, newest first */

/* Replies for a quota operation that did not succeed. */
static void quota_reply_refused(http_req *req, quota_status st, const quota_error *err)
{
    switch (st) {
    case QUOTA_INVALID:
        http_reply_problem(req, 400, err->field, "%s%s%s", err->field, err->field[0] ? ": " : "",
                           err->message);
        break;
    case QUOTA_CONFLICT:
        http_reply_problem(req, 409, err->field, "%s", err->message);
        break;
    case QUOTA_NOT_FOUND:
        http_reply_problem(req, 404, NULL, "no such quota");
        break;
    default:
        http_reply_db_error(req, NULL, NULL);
        break;
    }
}

/* The {id} of the path as a quota id; 0 (after replying 404) when it is not one. */
static long quota_path_id(http_req *req)
{
    const char *arg = http_path_arg(req);
    char *end;
    long id;

    if (!arg || !*arg || strlen(arg) > 9 || arg[0] < '1' || arg[0] > '9')
        goto bad;
    id = strtol(arg, &end, 10);
    if (*end == '\0')
        return id;
bad:
    http_reply_problem(req, 404, NULL, "no such quota");
    return 0;
}

/* Parses and validates the request body; false after replying 400. */
static bool quota_read_body(http_req *req, quota *q)
{
    size_t len = 0;
    const char *body = http_body(req, &len);
    json_error_t jerr;
    quota_error err = {{0}, {0}};
    json_t *obj = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    bool ok;

    if (!obj) {
        http_reply_problem(req, 400, NULL, "the body must be a quota as JSON%s%s", body ? ": " : "",
                           body ? jerr.text : "");
        return false;
    }
    ok = quota_from_json(obj, q, &err);
    json_decref(obj);
    if (!ok)
        quota_reply_refused(req, QUOTA_INVALID, &err);
    return ok;
}

/* Replies with quota id (status 200 or 201), with its recent alerts when asked. */
static void quota_reply_one(http_req *req, PGconn *conn, long id, int status, bool alerts)
{
    quota_status st;
    json_t *q = quota_get(conn, id, &st);

    if (!q) {
        quota_reply_refused(req, st, NULL);
        return;
    }
    if (alerts) {
        json_t *a = quota_alerts(conn, id, ROUTE_QUOTA_ALERTS);
        if (!a) {
            json_decref(q);
            http_reply_db_error(req, NULL, NULL);
            return;
        }
        json_object_set_new(q, "alerts", a);
    }
    http_reply_json(req, status, q);
}

/* Replies {"quotas": list} (taking list), or a database error when list is NULL. */
static void quota_reply_list(http_req *req, json_t *list)
{
    json_t *o;

    if (!list) {
        http_reply_db_error(req, NULL, NULL);
        return;
    }
    o = json_object();
    json_object_set_new(o, "quotas", list);
    http_reply_json(req, 200, o);
}

void route_quotas(http_req *req)
{
    PGconn *conn = http_db(req);
    quota q = {0};
    quota_error err = {{0}, {0}};
    quota_status st;
    long id = 0;

    if (!conn)
        return;
    if (http_req_method(req) == HTTP_GET) {
        quota_reply_list(req, quota_list(conn));
        return;
    }
    if (!quota_read_body(req, &q))
        goto out;
    st = quota_create(conn, &q, &id, &err);
    if (st != QUOTA_OK)
        quota_reply_refused(req, st, &err);
    else
        quota_reply_one(req, conn, id, 201, false);
out:
    quota_cleanup(&q);
}

void route_quota(http_req *req)
{
    PGconn *conn;
    quota q = {0};
    quota_error err = {{0}, {0}};
    quota_status st;
    long id = quota_path_id(req);

    if (id == 0 || !(conn = http_db(req)))
        return;
    switch (http_req_method(req)) {
    case HTTP_GET:
        quota_reply_one(req, conn, id, 200, true);
        break;
    case HTTP_PUT:
        if (!quota_read_body(req, &q))
            break;
        st = quota_update(conn, id, &q, &err);
        if (st != QUOTA_OK)
            quota_reply_refused(req, st, &err);
        else
            quota_reply_one(req, conn, id, 200, false);
        break;
    case HTTP_DELETE:
        st = quota_delete(conn, id);
        if (st != QUOTA_OK) {
            quota_reply_refused(req, st, &err);
        } else {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_integer(id));
            json_object_set_new(o, "deleted", json_true());
            http_reply_json(req, 200, o);
        }
        break;
    default:
        http_reply_problem(req, 405, NULL, "method not allowed here");
        break;
    }
    quota_cleanup(&q);
}

void route_quotas_status(http_req *req)
{
    const auth_principal *p = http_principal(req);
    PGconn *conn = http_db(req);
    quota_scope scope = {0};

    if (!conn)
        return;
    scope.all = p && (p->role == AUTH_FINANCE || p->role == AUTH_PLATFORM);
    scope.team = p ? auth_scope_team(p) : NULL;
    scope.developer = p ? auth_scope_oid(p) : NULL;
    quota_reply_list(req, quota_status_list(conn, &scope, NULL));
}
