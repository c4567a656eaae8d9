#include "session.h"

#include <stdio.h>
#include <string.h>

#include "db.h"

bool session_setup(PGconn *conn, void *ctx)
{
    const session_opts *o = ctx;
    char timeout[32];
    const char *params[2] = {timeout, o->reconcile_tolerance_pct ? o->reconcile_tolerance_pct : ""};

    snprintf(timeout, sizeof(timeout), "%d", o->statement_timeout_ms);
    if (!db_exec(conn, "set session defaults",
                 "SELECT set_config('TimeZone', 'UTC', false), "
                 "set_config('DateStyle', 'ISO', false), "
                 "set_config('statement_timeout', $1, false), "
                 "set_config('application_name', 'tally-report', false), "
                 "set_config('tally.reconcile_tolerance_pct', $2, false)",
                 2, params))
        return false;
    if (o->tz)
        tz_cache_load(o->tz, conn); /* no-op once loaded */
    return true;
}

bool session_percent_ok(const char *s)
{
    size_t whole = strspn(s, "0123456789"), frac = 0;

    if (whole == 0 || whole > 3)
        return false;
    if (s[whole] == '.') {
        frac = strspn(s + whole + 1, "0123456789");
        if (frac == 0 || frac > 4)
            return false;
        frac++;
    }
    if (s[whole + frac] != '\0')
        return false;
    if (whole < 3)
        return true;
    /* at most 100: three digits only as 100, and then no fraction but zeros */
    return strncmp(s, "100", 3) == 0 && (frac == 0 || strspn(s + 4, "0") == frac - 1);
}
