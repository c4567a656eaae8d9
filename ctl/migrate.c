/* tallyctl migrate: applies the schema migrations compiled into the binary, then rebuilds
 * the rollup months that still have legacy prompt bands (one month per transaction). */
#include <stdio.h>

#include "ctl.h"
#include "migrate.h"

int ctl_migrate(const cfg *c)
{
    PGconn *conn = ctl_connect(c);
    migrate_status st;
    migrate_rebuild rb;
    int applied = 0;

    if (!conn)
        return CFG_EXIT_RUNTIME;
    st = migrate_apply(conn, &applied);
    if (st != MIGRATE_OK) {
        PQfinish(conn);
        return CFG_EXIT_RUNTIME;
    }
    printf("migrations: %d applied, %d in all\n", applied, MIGRATIONS_COUNT);
    fflush(stdout);
    st = migrate_rebuild_rollups(conn, &rb);
    PQfinish(conn);
    if (st != MIGRATE_OK)
        return CFG_EXIT_RUNTIME;
    if (rb.rebuilt || rb.kept)
        printf("rollups: %d month(s) rebuilt into prompt bands, %d kept; %lld rollup rows keep "
               "only the legacy 200k flag (raw events already dropped)\n",
               rb.rebuilt, rb.kept, rb.legacy_rows);
    return CFG_EXIT_OK;
}
