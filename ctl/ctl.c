/*
 * ctl.c - what the commands of tallyctl share: connecting, reading an input file, and
 * printing query results as tab-separated lines. Single-threaded.
 */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

#define CTL_FILE_MAX (64L * 1024 * 1024)

PGconn *ctl_connect(const cfg *c)
{
    return db_connect(cfg_str(c, "db"), 3, NULL);
}

PGconn *ctl_connect_utc(const cfg *c)
{
    PGconn *conn = ctl_connect(c);

    if (conn && !db_exec(conn, "set the session time zone", "SET TIME ZONE 'UTC'", 0, NULL)) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

char *ctl_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f) {
        log_error("could not open \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb;
            cap = cap ? cap * 2 : 65536;
            if ((long)cap > CTL_FILE_MAX + 1) {
                log_error("could not read \"%s\": larger than %ld bytes", path, CTL_FILE_MAX);
                goto fail;
            }
            nb = realloc(buf, cap);
            if (!nb) {
                log_error("could not read \"%s\": out of memory", path);
                goto fail;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        log_error("could not read \"%s\": %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

void ctl_print_tsv(const PGresult *res)
{
    int nf = PQnfields(res);

    for (int f = 0; f < nf; f++)
        printf("%s%s", f ? "\t" : "", PQfname(res, f));
    putchar('\n');
    for (int r = 0; r < PQntuples(res); r++) {
        for (int f = 0; f < nf; f++)
            printf("%s%s", f ? "\t" : "", PQgetvalue(res, r, f));
        putchar('\n');
    }
}

int ctl_print_query(const cfg *c, const char *what, const char *sql)
{
    PGconn *conn = ctl_connect_utc(c);
    PGresult *res;

    if (!conn)
        return CFG_EXIT_RUNTIME;
    res = db_query(conn, what, sql, 0, NULL);
    if (res)
        ctl_print_tsv(res);
    PQclear(res);
    PQfinish(conn);
    return res ? CFG_EXIT_OK : CFG_EXIT_RUNTIME;
}
