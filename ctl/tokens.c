/*
 * tokens.c - tallyctl tokens create|list|revoke: the API tokens of tally-report. Only a
 * token's SHA-256 is stored; its value is printed once, at creation. Single-threaded.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "hash.h"
#include "log.h"

#define CTL_TOKEN_PREFIX "tt_"
#define CTL_TOKEN_BYTES 32 /* 256 bits */

int ctl_tokens_create(const cfg *c)
{
    const char *role = cfg_str(c, "role"), *team = cfg_str(c, "team");
    const char *dev = cfg_str(c, "developer"), *name = cfg_str(c, "name");
    char token[sizeof(CTL_TOKEN_PREFIX) + 2 * CTL_TOKEN_BYTES];
    char sha[HASH_HEX_LEN + 1];
    PGconn *conn;
    int rc = CFG_EXIT_RUNTIME;

    if (c->nargs != 0 || !role || !name || !name[0]) {
        fprintf(stderr, "usage: tallyctl tokens create --role finance|lead|developer|platform "
                        "[--team T] [--developer OID] --name N\n");
        return CFG_EXIT_USAGE;
    }
    if ((strcmp(role, "lead") == 0) != (team && team[0])) {
        log_error("--team is required for a lead token and only for one");
        return CFG_EXIT_USAGE;
    }
    if ((strcmp(role, "developer") == 0) != (dev && dev[0])) {
        log_error("--developer is required for a developer token and only for one");
        return CFG_EXIT_USAGE;
    }
    memcpy(token, CTL_TOKEN_PREFIX, sizeof(CTL_TOKEN_PREFIX) - 1);
    if (!hash_random_hex(CTL_TOKEN_BYTES, token + sizeof(CTL_TOKEN_PREFIX) - 1)) {
        log_error("could not create a token: no randomness");
        return rc;
    }
    hash_sha256_hex(token, strlen(token), sha);
    conn = ctl_connect_utc(c);
    if (!conn)
        return rc;
    {
        const char *p[] = {name, sha, role, team, dev};
        PGresult *res = db_query(conn, "create the token",
                                 "INSERT INTO api_tokens (name, token_sha256, role, team, "
                                 " developer_oid) VALUES ($1, $2, $3, $4, $5) "
                                 "ON CONFLICT (name) DO NOTHING RETURNING id",
                                 5, p);
        if (res && PQntuples(res) == 1) {
            printf("%s\n", token);
            fprintf(stderr, "token \"%s\" created (role %s): store it now, it is not shown again\n",
                    name, role);
            rc = CFG_EXIT_OK;
        } else if (res) {
            log_error("could not create token \"%s\": a token of that name exists", name);
        }
        PQclear(res);
    }
    PQfinish(conn);
    return rc;
}

int ctl_tokens_list(const cfg *c)
{
    return ctl_print_query(c, "list tokens",
                           "SELECT name, role, coalesce(team, '') AS team, "
                           " coalesce(developer_oid, '') AS developer_oid, created_at, "
                           " coalesce(revoked_at::text, '') AS revoked_at FROM api_tokens "
                           "ORDER BY name");
}

int ctl_tokens_revoke(const cfg *c)
{
    const char *p[1];
    PGconn *conn;
    PGresult *res;
    int rc = CFG_EXIT_RUNTIME;

    if (c->nargs != 1) {
        fprintf(stderr, "usage: tallyctl tokens revoke NAME\n");
        return CFG_EXIT_USAGE;
    }
    p[0] = c->args[0];
    conn = ctl_connect_utc(c);
    if (!conn)
        return rc;
    res = db_query(conn, "revoke the token",
                   "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) "
                   "WHERE name = $1 RETURNING revoked_at < now()",
                   1, p);
    if (res && PQntuples(res) == 0) {
        log_error("could not revoke token \"%s\": no such token", p[0]);
    } else if (res) {
        printf("token \"%s\" %s\n", p[0],
               strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? "was already revoked" : "revoked");
        rc = CFG_EXIT_OK;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}
