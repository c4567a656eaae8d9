/*
 * store.h - quotas in Postgres (docs/architecture.md, "Quotas and alerts"): create, read,
 * update, delete, look up, and the usage and alert log of each quota. Definitions are
 * validated by rules.h before they are written; the zone is checked against the database's
 * own list in the statement that writes it.
 *
 * Thread-safety: the functions keep no state; a PGconn must not be shared between threads.
 */
#ifndef TALLY_QUOTA_STORE_H
#define TALLY_QUOTA_STORE_H

#include <stdbool.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "rules.h"

typedef enum {
    QUOTA_OK = 0,
    QUOTA_INVALID,   /* refused (a constraint, an unknown zone): see the quota_error */
    QUOTA_NOT_FOUND, /* no quota with that id */
    QUOTA_CONFLICT,  /* another quota has that name */
    QUOTA_DB_ERROR,  /* logged */
} quota_status;

/*
 * Database operations. Results are JSON values the caller json_decref()s. Decimals are
 * strings; times are UTC, ISO 8601 with a Z.
 */
quota_status quota_create(PGconn *conn, const quota *q, long *id, quota_error *err);
quota_status quota_update(PGconn *conn, long id, const quota *q, quota_error *err);
quota_status quota_delete(PGconn *conn, long id);
/* One quota (with targets) or NULL with *st QUOTA_NOT_FOUND / QUOTA_DB_ERROR. */
json_t *quota_get(PGconn *conn, long id, quota_status *st);
/* Every quota, by id; NULL on a database error. */
json_t *quota_list(PGconn *conn);
/* Resolves a quota given by id or name; 0 when there is none, -1 on a database error. */
long quota_lookup(PGconn *conn, const char *id_or_name);

/* Which quotas a caller may read the status of (docs/architecture.md, "Report server": roles). */
typedef struct quota_scope {
    bool all;              /* platform, finance */
    const char *team;      /* lead: its team's quotas and its members' developer quotas */
    const char *developer; /* developer: its own developer quotas */
} quota_scope;

/*
 * Usage in the current period (as of at: a timestamptz literal, NULL = now) of every
 * quota in scope: used, limit, ratio, forecast, thresholds already fired this period and
 * the delivery state of their notifications. NULL on a database error.
 */
json_t *quota_status_list(PGconn *conn, const quota_scope *scope, const char *at);

/* The alert log of one quota, newest first, each alert with its deliveries (no URLs). */
json_t *quota_alerts(PGconn *conn, long id, int limit);

#endif
