/*
 * signin.h - the sign-in sessions of the overview page (GET /, report/routes/overview.c):
 * a static API token (tallyctl tokens create) posted once from the sign-in form becomes a
 * random session id held in a cookie. Postgres keeps only the SHA-256 of the id
 * (web_sessions, migration 0015), the token's digest it stands for and its expiry, so
 * every report server behind one database knows the session, and revoking the token ends
 * it. The token is checked by auth_check (auth.h); the principal of a session is read
 * from api_tokens on every request, as a bearer token's is.
 *
 * With Entra ID sign-in (report/authcode.h) a session holds the Entra principal itself
 * (migration 0017): its role, team or oid and name, valid until the access token's exp at the
 * latest; and a sign-in under way is a row of web_signins named by a short-lived pre-session
 * cookie (SIGNIN_PENDING_COOKIE), holding the state, nonce and PKCE code verifier its callback
 * needs.
 *
 * Thread-safe: no state besides the connection the caller passes.
 */
#ifndef TALLY_SIGNIN_H
#define TALLY_SIGNIN_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "auth.h"

#define SIGNIN_COOKIE "tally_session"
#define SIGNIN_ID_LEN 64 /* hex of 32 random bytes */
#define SIGNIN_PENDING_COOKIE "tally_signin"
#define SIGNIN_PENDING_TTL_S 600 /* a sign-in at the identity provider must come back within */
#define SIGNIN_STATE_LEN 32      /* state and nonce: hex of 16 random bytes */
#define SIGNIN_VERIFIER_LEN 64   /* PKCE code verifier: hex of 32 random bytes (RFC 7636 4.1) */

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

/*
 * Starts a session for an Entra principal p (verified by the caller), valid for ttl_s seconds
 * but not past not_after (Unix seconds: the access token's exp). Its id goes into id.
 */
signin_status signin_create_principal(PGconn *conn, const auth_principal *p, int64_t not_after,
                                      int ttl_s, char id[SIGNIN_ID_LEN + 1]);

/* What a sign-in under way keeps for its callback. */
typedef struct signin_pending {
    char state[SIGNIN_STATE_LEN + 1];
    char nonce[SIGNIN_STATE_LEN + 1];
    char verifier[SIGNIN_VERIFIER_LEN + 1];
} signin_pending;

/*
 * Starts a sign-in at the identity provider: fresh random state, nonce and verifier in s, the
 * pre-session id (for SIGNIN_PENDING_COOKIE) in id, valid SIGNIN_PENDING_TTL_S seconds.
 * Expired sign-ins are deleted on the way.
 */
signin_status signin_pending_start(PGconn *conn, char id[SIGNIN_ID_LEN + 1], signin_pending *s);

/*
 * Takes (deletes) the sign-in the SIGNIN_PENDING_COOKIE of a Cookie header value names, and
 * fills s: SIGNIN_NONE when there is no cookie, or its sign-in is unknown, used or expired.
 */
signin_status signin_pending_take(PGconn *conn, const char *cookie, signin_pending *s);

#endif
