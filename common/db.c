#include "db.h"

#include <string.h>

#include "backoff.h"
#include "log.h"
#include "sig.h"

const char *db_error(const PGconn *conn)
{
    static _Thread_local char line[512];
    const char *msg = conn ? PQerrorMessage(conn) : "no connection";
    size_t n = 0;

    while (msg[n] && msg[n] != '\n' && n < sizeof(line) - 1) {
        line[n] = msg[n];
        n++;
    }
    line[n] = '\0';
    return line;
}

static void db_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgres: %s", message);
}

/*
 * False (after logging) when conninfo does not parse: retrying cannot help. libpq's
 * parse errors quote the text they stumbled on, which may be part of a password, so
 * the detail is shown only for a string that holds none.
 */
static bool db_conninfo_valid(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    size_t n;

    if (opts) {
        PQconninfoFree(opts);
        return true;
    }
    if (err && !strstr(conninfo, "password") && !strchr(conninfo, '@')) {
        n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        log_error("invalid postgres connection string: %s", err);
    } else {
        log_error("invalid postgres connection string (libpq's detail is not shown: it may "
                  "quote a password)");
    }
    PQfreemem(err);
    return false;
}

PGconn *db_connect(const char *conninfo, int max_attempts, volatile sig_atomic_t *stop)
{
    backoff delay = BACKOFF_INIT(BACKOFF_PG_FIRST_MS, BACKOFF_PG_MAX_MS);

    if (!conninfo)
        conninfo = "";
    if (!db_conninfo_valid(conninfo))
        return NULL;
    for (int attempt = 1;; attempt++) {
        PGconn *conn = PQconnectdb(conninfo);
        if (PQstatus(conn) == CONNECTION_OK) {
            PQsetNoticeProcessor(conn, db_notice, NULL);
            if (attempt > 1)
                log_info("connected to postgres after %d attempts", attempt);
            return conn;
        }
        log_warn("could not connect to postgres (attempt %d): %s", attempt, db_error(conn));
        PQfinish(conn);
        if ((max_attempts > 0 && attempt >= max_attempts) || (stop && *stop))
            return NULL;
        sig_sleep_ms(backoff_next(&delay));
        if (stop && *stop)
            return NULL;
    }
}

PGresult *db_query(PGconn *conn, const char *what, const char *sql, int nparams,
                   const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    log_error("could not %s: %s", what,
              res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) : db_error(conn));
    PQclear(res);
    return NULL;
}

bool db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
             const char *const *params)
{
    PGresult *res = db_query(conn, what, sql, nparams, params);

    PQclear(res);
    return res != NULL;
}

bool db_begin(PGconn *conn)
{
    return db_exec(conn, "begin transaction", "BEGIN", 0, NULL);
}

bool db_commit(PGconn *conn)
{
    PGresult *res = db_query(conn, "commit transaction", "COMMIT", 0, NULL);
    /* COMMIT of a failed transaction succeeds as a statement but rolls back */
    bool ok = res && strcmp(PQcmdStatus(res), "ROLLBACK") != 0;

    if (res && !ok)
        log_error("could not commit transaction: a statement in it had failed, it was rolled "
                  "back");
    PQclear(res);
    return ok;
}

void db_rollback(PGconn *conn)
{
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
}

void db_drain(PGconn *conn)
{
    for (PGresult *r; (r = PQgetResult(conn)) != NULL;)
        PQclear(r);
}

void db_abandon(PGconn *conn)
{
    PGcancel *c = PQgetCancel(conn);
    char err[256];

    if (c) {
        PQcancel(c, err, sizeof(err));
        PQfreeCancel(c);
    }
    db_drain(conn);
}

bool db_copy_in(PGconn *conn, const char *what, const char *copy_sql, const char *data, size_t len)
{
    PGresult *res = PQexec(conn, copy_sql);
    bool ok;

    if (PQresultStatus(res) != PGRES_COPY_IN) {
        log_error("could not %s: %s", what, db_error(conn));
        PQclear(res);
        return false;
    }
    PQclear(res);
    ok = PQputCopyData(conn, data, (int)len) == 1;
    if (PQputCopyEnd(conn, ok ? NULL : "could not send data") != 1)
        ok = false;
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (ok)
                log_error("could not %s: %s", what, PQresultErrorMessage(res));
            ok = false;
        }
        PQclear(res);
    }
    return ok;
}

bool db_ok(const PGconn *conn)
{
    return conn && PQstatus(conn) == CONNECTION_OK;
}
