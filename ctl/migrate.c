/* tallyctl migrate: applies the schema migrations compiled into the binary. */
#include <stdio.h>

#include "ctl.h"
#include "migrate.h"

int ctl_migrate(const cfg *c)
{
    PGconn *conn = ctl_connect(c);
    migrate_status st;
    int applied = 0;

    if (!conn)
        return CFG_EXIT_RUNTIME;
    st = migrate_apply(conn, &applied);
    PQfinish(conn);
    if (st != MIGRATE_OK)
        return CFG_EXIT_RUNTIME;
    printf("migrations: %d applied, %d in all\n", applied, MIGRATIONS_COUNT);
    return CFG_EXIT_OK;
}
