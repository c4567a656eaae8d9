#include "signin.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "hash.h"

#define SIGNIN_TOKEN_MAX 512 /* longer than any token auth_check accepts */

bool signin_cookie_id(const char *cookie, char id[SIGNIN_ID_LEN + 1])
{
    const size_t name_len = strlen(SIGNIN_COOKIE);
    const char *p = cookie;

    while (p && *p) {
        size_t n;
        while (*p == ' ' || *p == ';')
            p++;
        n = strcspn(p, ";");
        if (n == name_len + 1 + SIGNIN_ID_LEN && strncmp(p, SIGNIN_COOKIE "=", name_len + 1) == 0 &&
            strspn(p + name_len + 1, "0123456789abcdef") >= SIGNIN_ID_LEN) {
            memcpy(id, p + name_len + 1, SIGNIN_ID_LEN);
            id[SIGNIN_ID_LEN] = '\0';
            return true;
        }
        p += n;
    }
    return false;
}

signin_status signin_create(PGconn *conn, const char *token, int ttl_s, char id[SIGNIN_ID_LEN + 1],
                            auth_principal *p)
{
    char header[SIGNIN_TOKEN_MAX + 8], id_digest[HASH_HEX_LEN + 1], token_digest[HASH_HEX_LEN + 1],
        ttl[16];
    const char *params[3] = {id_digest, token_digest, ttl};
    size_t n;

    /* a pasted token may bring white space along */
    token += strspn(token, " \t\r\n");
    n = strcspn(token, " \t\r\n");
    if (n == 0 || n > SIGNIN_TOKEN_MAX || token[n + strspn(token + n, " \t\r\n")] != '\0')
        return SIGNIN_REFUSED;
    snprintf(header, sizeof(header), "Bearer %.*s", (int)n, token);
    switch (auth_check(conn, header, p)) {
    case AUTH_OK:
        break;
    case AUTH_DB_ERROR:
    case AUTH_UNAVAILABLE:
        return SIGNIN_ERROR;
    default:
        return SIGNIN_REFUSED;
    }
    if (!hash_random_hex(SIGNIN_ID_LEN / 2, id))
        return SIGNIN_ERROR;
    hash_sha256_hex(id, SIGNIN_ID_LEN, id_digest);
    hash_sha256_hex(token, n, token_digest);
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    if (!db_exec(conn, "start a session",
                 "WITH gone AS (DELETE FROM web_sessions WHERE expires_at <= now()) "
                 "INSERT INTO web_sessions (id_sha256, token_sha256, expires_at) "
                 "VALUES ($1, $2, now() + make_interval(secs => $3::int))",
                 3, params))
        return SIGNIN_ERROR;
    return SIGNIN_OK;
}

signin_status signin_lookup(PGconn *conn, const char *cookie, auth_principal *p)
{
    char id[SIGNIN_ID_LEN + 1], digest[HASH_HEX_LEN + 1];
    const char *params[1] = {digest};
    signin_status st = SIGNIN_NONE;
    PGresult *res;
    const char *role;

    memset(p, 0, sizeof(*p));
    if (!signin_cookie_id(cookie, id))
        return SIGNIN_NONE;
    hash_sha256_hex(id, SIGNIN_ID_LEN, digest);
    res = db_query(conn, "look up a session",
                   "SELECT t.role, coalesce(t.team, ''), coalesce(t.developer_oid, ''), t.name "
                   "FROM web_sessions s JOIN api_tokens t ON t.token_sha256 = s.token_sha256 "
                   "WHERE s.id_sha256 = $1 AND s.expires_at > now() AND t.revoked_at IS NULL",
                   1, params);
    if (!res)
        return SIGNIN_ERROR;
    if (PQntuples(res) != 1)
        goto out;
    role = PQgetvalue(res, 0, 0);
    for (auth_role r = AUTH_FINANCE; r <= AUTH_PLATFORM; r <<= 1)
        if (strcmp(role, auth_role_name(r)) == 0)
            p->role = r;
    if (!p->role)
        goto out;
    snprintf(p->name, sizeof(p->name), "%s", PQgetvalue(res, 0, 3));
    if (p->role == AUTH_LEAD)
        snprintf(p->scope_team, sizeof(p->scope_team), "%s", PQgetvalue(res, 0, 1));
    if (p->role == AUTH_DEVELOPER)
        snprintf(p->scope_oid, sizeof(p->scope_oid), "%s", PQgetvalue(res, 0, 2));
    st = SIGNIN_OK;
out:
    PQclear(res);
    return st;
}

signin_status signin_end(PGconn *conn, const char *cookie)
{
    char id[SIGNIN_ID_LEN + 1], digest[HASH_HEX_LEN + 1];
    const char *params[1] = {digest};

    if (!signin_cookie_id(cookie, id))
        return SIGNIN_OK;
    hash_sha256_hex(id, SIGNIN_ID_LEN, digest);
    if (!db_exec(conn, "end a session", "DELETE FROM web_sessions WHERE id_sha256 = $1", 1, params))
        return SIGNIN_ERROR;
    return SIGNIN_OK;
}
