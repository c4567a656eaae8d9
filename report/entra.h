/*
 * entra.h - Entra ID access tokens as bearer tokens of tally-report: RS256 JWTs verified
 * with libjwt against the tenant's signing keys (jwks.h), their claims checked (iss, aud,
 * exp/nbf with a leeway, tid) and mapped to a principal: the app roles of the "roles"
 * claim to a tally role by entra_role_map, a lead's team from the "groups" claim by
 * entra_group_team_map (else from the claim entra_team_claim names), a developer's scope
 * from "oid" (the identity events carry, DESIGN.md §2). docs/architecture.md, "Entra ID
 * access tokens"; README, "Entra ID sign-in".
 *
 * libjwt 1.10 takes the algorithm from the token's header, so the header is read first
 * and anything but RS256 (none, HS256 keyed with the public key, …) is refused before
 * libjwt sees a key.
 *
 * A refusal says which check failed twice: in general terms for the client (the ENTRA_*
 * details below, the problem's detail and RFC 6750's error_description), more precisely for
 * the log; neither quotes the token or a claim's value.
 *
 * A token verified once is remembered by its SHA-256 (ENTRA_VERIFIED_SLOTS of them) until its
 * exp plus the leeway or until the key set changes: OpenSSL 3 takes over a millisecond to
 * read the PEM libjwt needs for each verification.
 *
 * entra_rules_* and entra_claims_check are pure. An entra verifier is thread-safe once built.
 */
#ifndef TALLY_ENTRA_H
#define TALLY_ENTRA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "cfg.h"
#include "jwks.h"

#define ENTRA_TOKEN_MAX 16384    /* Entra access tokens are 1-3 KB; room for large claims */
#define ENTRA_HEADER_MAX 4096    /* decoded header bytes */
#define ENTRA_VERIFIED_SLOTS 512 /* tokens remembered as verified */
#define ENTRA_AUTHORITY "https://login.microsoftonline.com"
#define ENTRA_ROLE_MAP_DEFAULT                                                                     \
    "Tally.Developer=developer,Tally.Lead=lead,Tally.Finance=finance,Tally.Platform=platform"

/* clang-format off */
#define ENTRA_CFG_SPEC \
    {"entra_tenant_id", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "Entra ID tenant (directory) id, a GUID: set it to accept Entra access tokens"}, \
    {"entra_audience", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "accepted aud values, comma-separated (the API's Application ID URI and/or client id)"}, \
    {"entra_issuer", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "expected iss; default https://login.microsoftonline.com/TENANT/v2.0"}, \
    {"entra_jwks_url", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "signing keys (https://, http:// to loopback only); default " \
     "https://login.microsoftonline.com/TENANT/discovery/v2.0/keys"}, \
    {"entra_role_map", CFG_STR, ENTRA_ROLE_MAP_DEFAULT, 0, 0, NULL, CFG_PUBLIC, \
     "app role value=tally role (developer, lead, finance, platform), comma-separated"}, \
    {"entra_group_team_map", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "a lead's team: group object id=team, comma-separated (the groups claim)"}, \
    {"entra_team_claim", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, \
     "a lead's team: the claim holding it, when no group of entra_group_team_map matches"}, \
    {"entra_leeway_s", CFG_INT, "60", 0, 300, NULL, CFG_PUBLIC, \
     "clock skew allowed on exp and nbf, seconds"}, \
    {"entra_jwks_ttl_s", CFG_INT, "86400", 60, 604800, NULL, CFG_PUBLIC, \
     "fetch the signing keys again once they are this old, seconds"}, \
    {"entra_jwks_refetch_s", CFG_INT, "300", 1, 86400, NULL, CFG_PUBLIC, \
     "a token with a kid the keys lack fetches them again at most once per this, seconds"}, \
    {"entra_jwks_timeout_s", CFG_INT, "5", 1, 60, NULL, CFG_PUBLIC, \
     "a fetch of the signing keys gives up after this, seconds"}
/* clang-format on */

/* What a refused token's client is told (fixed text). */
#define ENTRA_EXPIRED "token expired"
#define ENTRA_NOT_YET "token not valid yet"
#define ENTRA_WRONG_ISSUER "wrong issuer"
#define ENTRA_WRONG_AUDIENCE "wrong audience"
#define ENTRA_WRONG_TENANT "wrong tenant"
#define ENTRA_NO_OID "no usable oid claim"
#define ENTRA_NO_ROLE "no app role maps to a tally role"
#define ENTRA_NO_TEAM "no team for the lead"
#define ENTRA_BAD_ALG "algorithm not allowed"
#define ENTRA_UNKNOWN_KEY "signing key not known"
#define ENTRA_BAD_SIGNATURE "signature not valid"
#define ENTRA_MALFORMED "malformed token"
/* ... and when it could not be checked (AUTH_UNAVAILABLE) */
#define ENTRA_NO_KEYS "the signing keys could not be fetched; retry later"
#define ENTRA_NO_MEMORY "out of memory; retry later"

/* Why a token was refused: detail for the client (an ENTRA_* text), why for the log. */
typedef struct entra_refusal {
    const char *detail;
    char why[160];
} entra_refusal;

typedef struct entra_role_entry {
    char *app_role;
    auth_role role;
} entra_role_entry;

typedef struct entra_team_entry {
    char *group;
    char *team;
} entra_team_entry;

/* What a token must say, and how its claims map to a principal. */
typedef struct entra_rules {
    char *tenant_id, *issuer, *team_claim; /* team_claim NULL when unset */
    char **audiences;
    int naudiences;
    entra_role_entry *roles;
    int nroles;
    entra_team_entry *teams;
    int nteams;
    int leeway_s;
} entra_rules;

/* The configuration values the rules are read from (borrowed; NULL or "" = unset). */
typedef struct entra_rules_text {
    const char *tenant_id, *audience, *issuer, *role_map, *group_team_map, *team_claim;
    int leeway_s;
} entra_rules_text;

/*
 * Builds r from t (cleaned up with entra_rules_cleanup, also on failure). False with
 * "invalid value for \"KEY\": …" (or "\"KEY\" is required …") in err.
 */
bool entra_rules_init(entra_rules *r, const entra_rules_text *t, char *err, size_t errlen);
void entra_rules_cleanup(entra_rules *r);

/*
 * Checks a verified token's claims against r at now (Unix seconds) and fills p. False
 * with the reason in why (no claim value: the caller may log why->why and show why->detail).
 */
bool entra_claims_check(const entra_rules *r, const json_t *claims, int64_t now, auth_principal *p,
                        entra_refusal *why);

/* Whether a bearer token has the shape of a JWS: three base64url parts, the last may be
 * empty (an unsigned token is refused as one, not looked up as a static token). */
bool entra_jwt_shaped(const char *token, size_t n);

typedef struct entra entra;

/*
 * Builds the verifier from the entra_* keys of ENTRA_CFG_SPEC. *out is NULL when
 * entra_tenant_id is unset (Entra sign-in off). Returns CFG_EXIT_OK, or CFG_EXIT_USAGE
 * after printing one line naming the key. Nothing is fetched yet.
 */
int entra_from_cfg(const cfg *c, entra **out);

/* Takes the rules (r is emptied); keys configures the key cache. NULL when out of memory. */
entra *entra_new(entra_rules *r, const jwks_cache_config *keys);
void entra_free(entra *v); /* NULL is a no-op */

/*
 * Verifies token (n bytes, entra_jwt_shaped) and fills p: AUTH_OK; AUTH_REFUSED when a check
 * fails; AUTH_UNAVAILABLE when it cannot be checked now (no signing keys could be fetched
 * yet, out of memory). Otherwise *detail is one of the ENTRA_* texts (static) and the
 * reason is logged, never the token. A token verified before is taken from a small cache (by
 * its SHA-256) until its exp plus the leeway, as long as the key set has not changed since:
 * that path never waits for a fetch of the keys.
 */
auth_status entra_verify(entra *v, const char *token, size_t n, auth_principal *p,
                         const char **detail);

/* entra_verify at now (Unix seconds), for tests. */
auth_status entra_verify_at(entra *v, const char *token, size_t n, int64_t now, auth_principal *p,
                            const char **detail);

/* The verifier's key cache (for tests). */
jwks_cache *entra_keys(entra *v);

#endif
