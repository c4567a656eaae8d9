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
#include "membuf.h"

#define CTL_FILE_MAX (64L * 1024 * 1024)
#define CTL_READ_CHUNK 65536

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
    membuf b = MEMBUF_INIT;
    char *out = NULL;
    size_t got;

    if (!f) {
        log_error("could not open \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    do {
        if (!membuf_reserve(&b, CTL_READ_CHUNK)) {
            log_error("could not read \"%s\": out of memory", path);
            goto out;
        }
        got = fread(b.data + b.len, 1, CTL_READ_CHUNK, f);
        b.len += got;
        if (b.len > CTL_FILE_MAX) {
            log_error("could not read \"%s\": larger than %ld bytes", path, CTL_FILE_MAX);
            goto out;
        }
    } while (got > 0);
    if (ferror(f)) {
        log_error("could not read \"%s\": %s", path, strerror(errno));
        goto out;
    }
    /* reserve left room for the NUL; an empty file is "" (membuf_steal would give NULL) */
    b.data[b.len] = '\0';
    *len = b.len;
    out = b.data;
    b = (membuf)MEMBUF_INIT; /* owned by the caller now */
out:
    fclose(f);
    membuf_free(&b);
    return out;
}

char *ctl_read_text(const char *path, size_t *len)
{
    char *buf = ctl_read_file(path, len);

    if (buf && strlen(buf) != *len) {
        /* a field would end at the NUL: "ab\0c" would read as "ab" */
        log_error("could not read \"%s\": the file contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
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

int ctl_csv_record(char *buf, size_t len, size_t *pos, char **fields, int max)
{
    size_t i = *pos;
    int n = 0;

    if (i >= len)
        return 0;
    for (;;) {
        char *out = buf + i;
        char *start = out;
        if (n == max)
            return -1;
        if (i < len && buf[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return -1; /* unterminated quote */
                if (buf[i] == '"') {
                    if (i + 1 < len && buf[i + 1] == '"') {
                        *out++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                *out++ = buf[i++];
            }
            if (i < len && buf[i] != ',' && buf[i] != '\n' && buf[i] != '\r')
                return -1; /* text after a closing quote */
        } else {
            while (i < len && buf[i] != ',' && buf[i] != '\n' && buf[i] != '\r') {
                if (buf[i] == '"')
                    return -1;
                out++;
                i++;
            }
        }
        fields[n++] = start;
        if (i >= len) {
            *out = '\0';
            break;
        }
        if (buf[i] == ',') {
            *out = '\0';
            i++;
            continue;
        }
        if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') {
            *out = '\0';
            i += 2;
            break;
        }
        *out = '\0';
        i++;
        break;
    }
    *pos = i;
    return n;
}
