/*
 * auth.h - who is asking: "Authorization: Bearer <token>" checked against api_tokens
 * (only the SHA-256 of a token is stored; the stored and computed digests are compared
 * in constant time; revoked tokens are refused), and what each role may see.
 *
 * With Entra ID sign-in configured (auth_use_entra), a bearer token shaped like a JWT
 * is an Entra access token instead, verified by entra.h without a database (so a caller can
 * check it before taking a pooled connection: auth_check_token); static tokens keep working.
 *
 * Roles: finance (all costs), lead (its team's rows only), developer (its own rows
 * only), platform (everything, admin endpoints). The scoping is applied in SQL: every
 * cost query binds auth_principal.scope_team / scope_oid as parameters.
 * Thread-safe: no state besides the connection the caller passes and the Entra verifier,
 * set once before the server starts.
 */
#ifndef TALLY_AUTH_H
#define TALLY_AUTH_H

#include <stdbool.h>

#include <libpq-fe.h>

typedef enum {
    AUTH_FINANCE = 1u << 0,
    AUTH_LEAD = 1u << 1,
    AUTH_DEVELOPER = 1u << 2,
    AUTH_PLATFORM = 1u << 3,
} auth_role;

#define AUTH_RETRY_S 10 /* AUTH_UNAVAILABLE: seconds until the signing keys are fetched again */
#define AUTH_ANY_ROLE (AUTH_FINANCE | AUTH_LEAD | AUTH_DEVELOPER | AUTH_PLATFORM)
#define AUTH_OPEN 0u /* a route with no role bits needs no token */

typedef struct auth_principal {
    auth_role role;
    char name[129];       /* the token's name, for logs (never the token) */
    char scope_team[257]; /* lead: the team; "" otherwise */
    char scope_oid[257];  /* developer: the oid; "" otherwise */
} auth_principal;

typedef enum {
    AUTH_OK = 0,
    AUTH_MISSING,     /* no or malformed Authorization header: 401 */
    AUTH_UNKNOWN,     /* unknown or revoked static token: 401 */
    AUTH_REFUSED,     /* an Entra access token failed a check (the detail says which): 401 */
    AUTH_UNAVAILABLE, /* an Entra access token could not be checked now (no signing keys): 503 */
    AUTH_DB_ERROR,    /* the lookup failed: 503 */
    AUTH_NEEDS_DB,    /* auth_check_token: a static token, for auth_check to look up */
} auth_status;

/* The role's name ("finance" …). */
const char *auth_role_name(auth_role role);

/*
 * Fills p from a stored principal (an API token's row, or an Entra session's): the role by
 * its name, the name, the team for a lead and the oid for a developer. False for a role
 * name that is none of the four (p's role left 0).
 */
bool auth_principal_set(auth_principal *p, const char *role, const char *name, const char *team,
                        const char *oid);

/*
 * What can be checked of an Authorization header value (NULL when absent) without a
 * database: AUTH_MISSING; for an Entra access token AUTH_OK (p filled), AUTH_REFUSED or
 * AUTH_UNAVAILABLE with *detail the reason in general terms (static text, fit for the
 * client; the precise one is logged); AUTH_NEEDS_DB for a static token. *detail is NULL
 * but for AUTH_REFUSED and AUTH_UNAVAILABLE.
 */
auth_status auth_check_token(const char *authorization, auth_principal *p, const char **detail);

/*
 * Checks an Authorization header value (NULL when absent) and fills p on AUTH_OK: as
 * auth_check_token, then one indexed lookup of a static token on conn (AUTH_OK,
 * AUTH_UNKNOWN, AUTH_DB_ERROR). Never AUTH_NEEDS_DB.
 */
auth_status auth_check(PGconn *conn, const char *authorization, auth_principal *p);

struct entra;

/*
 * Makes auth_check accept Entra access tokens verified by v (borrowed; NULL: static
 * tokens only). Call before any thread calls auth_check.
 */
void auth_use_entra(struct entra *v);

/*
 * The SQL parameters that scope cost rows: the lead's team / the developer's oid, or
 * NULL (no restriction) for the other roles. A lead whose team is "" sees only rows of
 * developers without a team, never everything.
 */
const char *auth_scope_team(const auth_principal *p);
const char *auth_scope_oid(const auth_principal *p);

#endif
