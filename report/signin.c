#include "signin.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "hash.h"

#define SIGNIN_TOKEN_MAX 512 /* longer than any token auth_check accepts */

/* The value of the first pair name=<len lower-case hex characters> in a Cookie header value. */
static bool cookie_hex(const char *cookie, const char *name, size_t len, char *out)
{
    const size_t name_len = strlen(name);
    const char *p = cookie;

    while (p && *p) {
        size_t n;
        while (*p == ' ' || *p == ';')
            p++;
        n = strcspn(p, ";");
        if (n == name_len + 1 + len && strncmp(p, name, name_len) == 0 && p[name_len] == '=' &&
            strspn(p + name_len + 1, "0123456789abcdef") >= len) {
            memcpy(out, p + name_len + 1, len);
            out[len] = '\0';
            return true;
        }
        p += n;
    }
    return false;
}

bool signin_cookie_id(const char *cookie, char id[SIGNIN_ID_LEN + 1])
{
    return cookie_hex(cookie, SIGNIN_COOKIE, SIGNIN_ID_LEN, id);
}

/* A new random session id and the SHA-256 the database keeps of it. */
static bool session_id_new(char id[SIGNIN_ID_LEN + 1], char digest[HASH_HEX_LEN + 1])
{
    if (!hash_random_hex(SIGNIN_ID_LEN / 2, id))
        return false;
    hash_sha256_hex(id, SIGNIN_ID_LEN, digest);
    return true;
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
    if (!session_id_new(id, id_digest))
        return SIGNIN_ERROR;
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

    memset(p, 0, sizeof(*p));
    if (!signin_cookie_id(cookie, id))
        return SIGNIN_NONE;
    hash_sha256_hex(id, SIGNIN_ID_LEN, digest);
    res = db_query(
        conn, "look up a session",
        /* an API token's session reads its principal from the token (revoking it
           ends the session), an Entra session holds its own (migration 0017) */
        "SELECT coalesce(t.role, s.role), coalesce(t.team, s.team, ''), "
        "coalesce(t.developer_oid, s.developer_oid, ''), coalesce(t.name, s.name) "
        "FROM web_sessions s LEFT JOIN api_tokens t ON t.token_sha256 = s.token_sha256 "
        "WHERE s.id_sha256 = $1 AND s.expires_at > now() AND "
        "(s.token_sha256 IS NULL OR (t.token_sha256 IS NOT NULL AND t.revoked_at IS NULL))",
        1, params);
    if (!res)
        return SIGNIN_ERROR;
    if (PQntuples(res) != 1)
        goto out;
    if (auth_principal_set(p, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 1),
                           PQgetvalue(res, 0, 2)))
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

signin_status signin_create_principal(PGconn *conn, const auth_principal *p, int64_t not_after,
                                      int ttl_s, char id[SIGNIN_ID_LEN + 1])
{
    char digest[HASH_HEX_LEN + 1], ttl[16], until[24];
    const char *params[7] = {digest,
                             auth_role_name(p->role),
                             p->role == AUTH_LEAD ? p->scope_team : NULL,
                             p->role == AUTH_DEVELOPER ? p->scope_oid : NULL,
                             p->name,
                             ttl,
                             until};

    if (!session_id_new(id, digest))
        return SIGNIN_ERROR;
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    snprintf(until, sizeof(until), "%lld", (long long)not_after);
    if (!db_exec(
            conn, "start a session",
            "WITH gone AS (DELETE FROM web_sessions WHERE expires_at <= now()) "
            "INSERT INTO web_sessions (id_sha256, role, team, developer_oid, name, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, least(now() + make_interval(secs => $6::int), "
            "to_timestamp($7::bigint)))",
            7, params))
        return SIGNIN_ERROR;
    return SIGNIN_OK;
}

signin_status signin_pending_start(PGconn *conn, char id[SIGNIN_ID_LEN + 1], signin_pending *s)
{
    char digest[HASH_HEX_LEN + 1], ttl[16];
    const char *params[5] = {digest, s->state, s->nonce, s->verifier, ttl};

    if (!session_id_new(id, digest) || !hash_random_hex(SIGNIN_STATE_LEN / 2, s->state) ||
        !hash_random_hex(SIGNIN_STATE_LEN / 2, s->nonce) ||
        !hash_random_hex(SIGNIN_VERIFIER_LEN / 2, s->verifier))
        return SIGNIN_ERROR;
    snprintf(ttl, sizeof(ttl), "%d", SIGNIN_PENDING_TTL_S);
    if (!db_exec(conn, "start a sign-in",
                 "WITH gone AS (DELETE FROM web_signins WHERE expires_at <= now()) "
                 "INSERT INTO web_signins (id_sha256, state, nonce, code_verifier, expires_at) "
                 "VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::int))",
                 5, params))
        return SIGNIN_ERROR;
    return SIGNIN_OK;
}

signin_status signin_pending_take(PGconn *conn, const char *cookie, signin_pending *s)
{
    char id[SIGNIN_ID_LEN + 1], digest[HASH_HEX_LEN + 1];
    const char *params[1] = {digest};
    signin_status st = SIGNIN_NONE;
    PGresult *res;

    memset(s, 0, sizeof(*s));
    if (!cookie_hex(cookie, SIGNIN_PENDING_COOKIE, SIGNIN_ID_LEN, id))
        return SIGNIN_NONE;
    hash_sha256_hex(id, SIGNIN_ID_LEN, digest);
    /* taken once: a second callback with the same cookie (a replay) finds nothing */
    res = db_query(conn, "take a sign-in",
                   "DELETE FROM web_signins WHERE id_sha256 = $1 "
                   "RETURNING state, nonce, code_verifier, expires_at > now()",
                   1, params);
    if (!res)
        return SIGNIN_ERROR;
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 3), "t") == 0 &&
        strlen(PQgetvalue(res, 0, 0)) == SIGNIN_STATE_LEN &&
        strlen(PQgetvalue(res, 0, 1)) == SIGNIN_STATE_LEN &&
        strlen(PQgetvalue(res, 0, 2)) == SIGNIN_VERIFIER_LEN) {
        memcpy(s->state, PQgetvalue(res, 0, 0), SIGNIN_STATE_LEN + 1);
        memcpy(s->nonce, PQgetvalue(res, 0, 1), SIGNIN_STATE_LEN + 1);
        memcpy(s->verifier, PQgetvalue(res, 0, 2), SIGNIN_VERIFIER_LEN + 1);
        st = SIGNIN_OK;
    }
    PQclear(res);
    return st;
}
