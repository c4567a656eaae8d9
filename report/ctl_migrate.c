#include <stdio.h>

#include "ctl.h"
#include "db.h"
#include "log.h"
#include "migrate.h"

PGconn *ctl_connect(const cfg *c)
{
    return db_connect(cfg_str(c, "db"), 3, NULL);
}

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
