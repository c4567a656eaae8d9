#include "session.h"

#include <stdio.h>

#include "db.h"

bool session_setup(PGconn *conn, void *ctx)
{
    const session_opts *o = ctx;
    char timeout[32];
    const char *params[1] = {timeout};

    snprintf(timeout, sizeof(timeout), "%d", o->statement_timeout_ms);
    if (!db_exec(conn, "set session defaults",
                 "SELECT set_config('TimeZone', 'UTC', false), "
                 "set_config('DateStyle', 'ISO', false), "
                 "set_config('statement_timeout', $1, false), "
                 "set_config('application_name', 'tally-report', false)",
                 1, params))
        return false;
    if (o->tz)
        tz_cache_load(o->tz, conn); /* no-op once loaded */
    return true;
}
