/*
 * session.h - the session every tally-report database connection starts with: instants
 * printed in UTC and ISO, a statement timeout that bounds each request, the application
 * name, the reconciliation tolerance (tally.reconcile_tolerance_pct, read by
 * tally_reconcile_tolerance_pct()), and (once per process) the time zone list. Installed as the
 * pool's setup hook.
 *
 * Thread-safe: the options are read-only once the pool runs; the cache is guarded.
 */
#ifndef TALLY_SESSION_H
#define TALLY_SESSION_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "tz.h"

typedef struct session_opts {
    int statement_timeout_ms;
    tz_cache *tz;                        /* loaded on the first connection; may be NULL */
    const char *reconcile_tolerance_pct; /* a session_percent_ok value; NULL: the SQL default */
} session_opts;

/* Whether s is a percentage tally-report accepts: a decimal from 0 to 100 with at most four
 * fraction digits ("1", "2.5", "0.25"). */
bool session_percent_ok(const char *s);

/*
 * A pool_setup_fn; ctx is a session_opts. False when the session could not be set up:
 * without the statement timeout a request would be unbounded, so the pool drops the
 * connection.
 */
bool session_setup(PGconn *conn, void *ctx);

#endif
