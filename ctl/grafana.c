/*
 * grafana.c - tallyctl grafana-role create|list|drop: a PostgreSQL login per team for
 * Grafana's data source, which the row-level security of schema/functions/85_row_security.sql
 * shows only its team's rows. The password is read from a file and turned into a SCRAM
 * verifier here (PQencryptPasswordConn): it is never printed, logged or sent to the server.
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "log.h"

/* The password buffer is overwritten before it is freed; volatile so it is not elided. */
static void grafana_wipe(char *s, size_t len)
{
    volatile char *p = s;

    while (len--)
        *p++ = '\0';
}

/* The password of --password-file: the file's bytes without trailing line ends. NULL after
 * logging when it cannot be read, is empty or holds a line end or NUL inside. Caller wipes
 * (grafana_wipe) and frees. */
static char *grafana_read_password(const char *path, size_t *len)
{
    char *pw = ctl_read_file(path, len);

    if (!pw)
        return NULL;
    while (*len > 0 && (pw[*len - 1] == '\n' || pw[*len - 1] == '\r'))
        pw[--*len] = '\0';
    if (*len == 0 || strlen(pw) != *len || strpbrk(pw, "\r\n")) {
        log_error("invalid value for \"password_file\": \"%s\" must hold the password on one line",
                  path);
        grafana_wipe(pw, *len);
        free(pw);
        return NULL;
    }
    return pw;
}

/* The login of --login, else the team's default (tally_grafana_login). Caller frees. */
static char *grafana_login(PGconn *conn, const char *login, const char *team)
{
    const char *p[] = {team};
    PGresult *res;
    char *out;

    if (login && login[0])
        return strdup(login);
    res = db_query(conn, "name the login", "SELECT tally_grafana_login($1)", 1, p);
    out = res && PQntuples(res) == 1 ? strdup(PQgetvalue(res, 0, 0)) : NULL;
    PQclear(res);
    return out;
}

int ctl_grafana_role_create(const cfg *c)
{
    const char *team = cfg_str(c, "team"), *pwfile = cfg_str(c, "password_file");
    char *pw = NULL, *login = NULL, *verifier = NULL;
    size_t pwlen = 0;
    PGconn *conn;
    int rc = CFG_EXIT_RUNTIME;

    if (c->nargs != 0 || !team || !team[0]) {
        fprintf(stderr, "usage: tallyctl grafana-role create --team T [--login NAME] "
                        "[--password-file FILE]\n");
        return CFG_EXIT_USAGE;
    }
    if (pwfile && !(pw = grafana_read_password(pwfile, &pwlen)))
        return CFG_EXIT_USAGE;
    conn = ctl_connect_utc(c);
    if (!conn)
        goto out;
    login = grafana_login(conn, cfg_str(c, "login"), team);
    if (!login)
        goto out;
    if (pw) {
        verifier = PQencryptPasswordConn(conn, pw, login, "scram-sha-256");
        if (!verifier) {
            log_error("could not encrypt the password of \"%s\": %s", login, PQerrorMessage(conn));
            goto out;
        }
    }
    {
        const char *p[] = {login, team, verifier};
        if (db_exec(conn, "create the Grafana login",
                    "SELECT tally_grafana_role_create($1, $2, $3)", 3, p)) {
            printf("grafana role \"%s\" created for team \"%s\" (%s)\n", login, team,
                   verifier ? "password set"
                            : "no password: set one with --password-file or use another "
                              "authentication method");
            rc = CFG_EXIT_OK;
        }
    }
out:
    if (pw) {
        grafana_wipe(pw, pwlen);
        free(pw);
    }
    if (verifier)
        PQfreemem(verifier);
    free(login);
    PQfinish(conn);
    return rc;
}

int ctl_grafana_role_list(const cfg *c)
{
    return ctl_print_query(c, "list Grafana logins",
                           "SELECT g.role_name AS login, g.team, g.created_at, "
                           " coalesce(r.rolcanlogin, false) AS can_login "
                           "FROM grafana_roles g LEFT JOIN pg_roles r ON r.rolname = g.role_name "
                           "ORDER BY g.team, g.role_name");
}

int ctl_grafana_role_drop(const cfg *c)
{
    const char *team = cfg_str(c, "team");
    const char *p[2];
    PGconn *conn;
    PGresult *res;
    int rc = CFG_EXIT_RUNTIME;

    if ((c->nargs == 1) == (team && team[0]) || c->nargs > 1) {
        fprintf(stderr, "usage: tallyctl grafana-role drop LOGIN | --team T\n");
        return CFG_EXIT_USAGE;
    }
    p[0] = c->nargs == 1 ? c->args[0] : NULL;
    p[1] = c->nargs == 1 ? NULL : team;
    conn = ctl_connect_utc(c);
    if (!conn)
        return rc;
    res = db_query(conn, "drop the Grafana login",
                   "SELECT tally_grafana_role_drop($1, $2) ORDER BY 1", 2, p);
    if (res && PQntuples(res) == 0) {
        if (p[0])
            log_error("could not drop Grafana login \"%s\": no such login", p[0]);
        else
            log_error("could not drop the Grafana logins of team \"%s\": it has none", p[1]);
    } else if (res) {
        for (int i = 0; i < PQntuples(res); i++)
            printf("grafana role \"%s\" dropped\n", PQgetvalue(res, i, 0));
        rc = CFG_EXIT_OK;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}
