/*
 * signin.h - the sign-in sessions of the overview page (GET /, report/routes/overview.c):
 * a static API token (tallyctl tokens create) posted once from the sign-in form becomes a
 * random session id held in a cookie. Postgres keeps only the SHA-256 of the id
 * (web_sessions, migration 0015), the token's digest it stands for and its expiry, so
 * every report server behind one database knows the session, and revoking the token ends
 * it. The token is checked by auth_check (auth.h); the principal of a session is read
 * from api_tokens on every request, as a bearer token's is.
 *
 * Thread-safe: no state besides the connection the caller passes.
 */
#ifndef TALLY_SIGNIN_H
#define TALLY_SIGNIN_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "auth.h"

#define SIGNIN_COOKIE "tally_session"
#define SIGNIN_ID_LEN 64 /* hex of 32 random bytes */

typedef enum {
    SIGNIN_OK = 0,
    SIGNIN_NONE,    /* no session cookie, or an unknown, expired or revoked session */
    SIGNIN_REFUSED, /* signin_create: an unknown, revoked or malformed token */
    SIGNIN_ERROR    /* the database failed (logged) */
} signin_status;

/*
 * Checks token and starts a session valid for ttl_s seconds: its id (SIGNIN_ID_LEN hex
 * characters) is written into id, the token's principal into p. Expired sessions are
 * deleted on the way.
 */
signin_status signin_create(PGconn *conn, const char *token, int ttl_s, char id[SIGNIN_ID_LEN + 1],
                            auth_principal *p);

/* The session named by a Cookie header value (NULL when absent): fills p on SIGNIN_OK. */
signin_status signin_lookup(PGconn *conn, const char *cookie, auth_principal *p);

/* Ends the session the Cookie header value names; SIGNIN_OK also when there was none. */
signin_status signin_end(PGconn *conn, const char *cookie);

/*
 * The session id in a Cookie header value: the first SIGNIN_COOKIE pair whose value is
 * SIGNIN_ID_LEN lower-case hex characters, copied into id. Pure.
 */
bool signin_cookie_id(const char *cookie, char id[SIGNIN_ID_LEN + 1]);

#endif
