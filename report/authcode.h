/*
 * authcode.h - the overview page's sign-in with Entra ID: the OAuth 2.0 authorization code
 * flow (RFC 6749 4.1) with PKCE (RFC 7636, S256) and an OpenID Connect nonce. GET
 * /login/entra sends the browser to the authorize endpoint (authcode_authorize_url); the
 * callback's code is exchanged at the token endpoint with the code verifier kept server-side
 * (authcode_exchange, libcurl: https, or http to loopback only); the access token it returns
 * is verified as a bearer token is (entra.h: signature, iss, aud, tid, exp, app role) and its
 * principal becomes a session (signin.h). The id_token's nonce, aud and oid are checked
 * against the sign-in and the access token; the id_token comes straight from the token
 * endpoint over TLS, which OpenID Connect Core 3.1.3.7 accepts in place of its signature.
 * Neither token is stored or logged. Routes: report/routes/login.c; README, "Entra ID
 * sign-in".
 *
 * authcode_challenge and authcode_authorize_url are pure. An authcode is read-only once built
 * and thread-safe.
 */
#ifndef TALLY_AUTHCODE_H
#define TALLY_AUTHCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "cfg.h"
#include "membuf.h"

struct entra;

#define AUTHCODE_CHALLENGE_LEN 43 /* base64url of a SHA-256, unpadded */
#define AUTHCODE_TIMEOUT_MS 10000 /* the token request gives up after this */

/* clang-format off */
#define AUTHCODE_CFG_SPEC \
    {"entra_client_id", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "the overview page's \"Sign in with Microsoft\": the web app registration's client id " \
     "(with entra_tenant_id and entra_redirect_url)"}, \
    {"entra_client_secret", CFG_STR, NULL, 0, 0, NULL, CFG_SECRET, \
     "the web app's client secret (or entra_client_secret_file); unset for a public client " \
     "(PKCE only)"}, \
    {"entra_redirect_url", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "the redirect URI registered for the web app: https://HOST/login/entra/callback " \
     "(http:// to loopback only)"}, \
    {"entra_scope", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "the API scope the sign-in asks for, besides openid; default the first entra_audience " \
     "+ /.default"}, \
    {"entra_authorize_url", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "default https://login.microsoftonline.com/TENANT/oauth2/v2.0/authorize"}, \
    {"entra_token_url", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "default https://login.microsoftonline.com/TENANT/oauth2/v2.0/token (https://, http:// " \
     "to loopback only)"}
/* clang-format on */

typedef struct authcode authcode;

/*
 * Builds the sign-in from the keys of AUTHCODE_CFG_SPEC, verifying tokens with v (borrowed,
 * must outlive it). *out is NULL when entra_client_id is unset (no sign-in with Microsoft).
 * Returns CFG_EXIT_OK, or CFG_EXIT_USAGE after printing one line naming the key.
 */
int authcode_from_cfg(const cfg *c, struct entra *v, authcode **out);
void authcode_free(authcode *a); /* NULL is a no-op */

/* The PKCE S256 challenge of verifier: base64url(SHA-256(verifier)), unpadded. */
void authcode_challenge(const char *verifier, char out[AUTHCODE_CHALLENGE_LEN + 1]);

/*
 * Appends the authorize URL of a sign-in to out: response_type=code, client_id,
 * redirect_uri, scope ("openid " + the API scope), state, nonce, code_challenge (of verifier)
 * and code_challenge_method=S256, every value percent-encoded.
 */
void authcode_authorize_url(const authcode *a, const char *state, const char *nonce,
                            const char *verifier, membuf *out);

typedef enum {
    AUTHCODE_OK = 0,
    AUTHCODE_REFUSED,    /* the token endpoint refused the code (used, expired, wrong verifier) */
    AUTHCODE_INVALID,    /* a token came back but failed a check (entra.h, nonce, oid) */
    AUTHCODE_UNAVAILABLE /* the token endpoint or the signing keys could not be had */
} authcode_status;

/* What went wrong, for the user's page (besides the ENTRA_* details of entra.h). */
#define AUTHCODE_CODE_REFUSED                                                                      \
    "the sign-in code was refused (used before, expired, or not this sign-in's)"
#define AUTHCODE_UNREACHABLE "the token endpoint could not be reached or failed"
#define AUTHCODE_ID_TOKEN_MISMATCH "the ID token does not match the sign-in"

/*
 * Exchanges code (with verifier) at the token endpoint, verifies the tokens and fills p and
 * *exp (the access token's, Unix seconds). Otherwise *detail is why, in general terms (static
 * text: an AUTHCODE_* or ENTRA_* detail) for the user's page; the precise reason is logged,
 * never a token or the code.
 */
authcode_status authcode_exchange(const authcode *a, const char *code, const char *verifier,
                                  const char *nonce, auth_principal *p, int64_t *exp,
                                  const char **detail);

#endif
