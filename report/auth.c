#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "entra.h"
#include "hash.h"
#include "log.h"

#define AUTH_TOKEN_MAX 512

_Static_assert(AUTH_RETRY_S == JWKS_RETRY_S, "Retry-After is when the key fetch is retried");

static struct entra *auth_entra; /* set before the server starts, read-only after */

void auth_use_entra(struct entra *v)
{
    auth_entra = v;
}

const char *auth_role_name(auth_role role)
{
    switch (role) {
    case AUTH_FINANCE:
        return "finance";
    case AUTH_LEAD:
        return "lead";
    case AUTH_DEVELOPER:
        return "developer";
    case AUTH_PLATFORM:
        return "platform";
    }
    return "unknown";
}

static bool auth_token_char(char c)
{
    /* RFC 6750 b64token */
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("-._~+/=", c) != NULL;
}

/* The bearer token of an Authorization header value: false when there is none. */
static bool auth_bearer(const char *authorization, const char **token, size_t *n)
{
    const char *t;
    size_t len;

    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    t = authorization + 7;
    while (*t == ' ')
        t++;
    len = strlen(t);
    while (len > 0 && t[len - 1] == ' ')
        len--;
    if (len == 0 || len > ENTRA_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!auth_token_char(t[i]))
            return false;
    *token = t;
    *n = len;
    return true;
}

auth_status auth_check_token(const char *authorization, auth_principal *p, const char **detail)
{
    const char *token;
    size_t n;

    memset(p, 0, sizeof(*p));
    *detail = NULL;
    if (!auth_bearer(authorization, &token, &n))
        return AUTH_MISSING;
    /* a tallyctl token (tt_ and hex) has no dots: the two kinds never meet */
    if (auth_entra && entra_jwt_shaped(token, n))
        return entra_verify(auth_entra, token, n, p, detail);
    return n > AUTH_TOKEN_MAX ? AUTH_MISSING : AUTH_NEEDS_DB;
}

bool auth_principal_set(auth_principal *p, const char *role, const char *name, const char *team,
                        const char *oid)
{
    p->role = 0;
    for (auth_role r = AUTH_FINANCE; r <= AUTH_PLATFORM; r <<= 1)
        if (strcmp(role, auth_role_name(r)) == 0)
            p->role = r;
    if (!p->role)
        return false;
    snprintf(p->name, sizeof(p->name), "%s", name);
    if (p->role == AUTH_LEAD)
        snprintf(p->scope_team, sizeof(p->scope_team), "%s", team);
    if (p->role == AUTH_DEVELOPER)
        snprintf(p->scope_oid, sizeof(p->scope_oid), "%s", oid);
    return true;
}

auth_status auth_check(PGconn *conn, const char *authorization, auth_principal *p)
{
    char digest[HASH_HEX_LEN + 1];
    const char *token, *params[1], *detail;
    size_t n;
    PGresult *res;
    auth_status st = auth_check_token(authorization, p, &detail);

    if (st != AUTH_NEEDS_DB)
        return st;
    st = AUTH_UNKNOWN;
    auth_bearer(authorization, &token, &n);
    hash_sha256_hex(token, n, digest);
    params[0] = digest;
    res = db_query(conn, "look up api token",
                   "SELECT token_sha256, role, coalesce(team, ''), coalesce(developer_oid, ''), "
                   "name FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
                   1, params);
    if (!res)
        return AUTH_DB_ERROR;
    if (PQntuples(res) != 1 || strlen(PQgetvalue(res, 0, 0)) != HASH_HEX_LEN ||
        !hash_equal(PQgetvalue(res, 0, 0), digest, HASH_HEX_LEN))
        goto out;
    if (auth_principal_set(p, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 2),
                           PQgetvalue(res, 0, 3)))
        st = AUTH_OK;
out:
    PQclear(res);
    return st;
}

const char *auth_scope_team(const auth_principal *p)
{
    return p->role == AUTH_LEAD ? p->scope_team : NULL;
}

const char *auth_scope_oid(const auth_principal *p)
{
    return p->role == AUTH_DEVELOPER ? p->scope_oid : NULL;
}
