/*
 * Unit tests of report/entra.c: which bearer tokens take the JWT path, the entra_*
 * configuration (each bad value names its key), the claim checks at their exact
 * boundaries (exp/nbf with the leeway, iss, aud as string or array, tid, oid) and the
 * mapping to a principal (the broadest app role wins; a lead's team by group, by claim,
 * or refused), and entra_verify end to end on tokens libjwt signs here: RS256 with the
 * published key, and the forgeries (alg none, HS256 keyed with the public key's PEM, a
 * key the set lacks, a changed payload). Over HTTP: tests/integration/test_report_entra.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>

#include <jwt.h>

#include "entra.h"
#include "rsa_jwk.h"

#define TENANT "4f0a9d2e-6c1b-4e8a-9b7d-3a2c1e0f5d6b"
#define ISS "https://login.microsoftonline.com/" TENANT "/v2.0"
#define GRED "11111111-2222-3333-4444-555555555555"
#define GBLUE "66666666-7777-8888-9999-000000000000"
#define NOW INT64_C(1790000000)

static const entra_rules_text TEXT = {
    .tenant_id = TENANT,
    .audience = "api://tokentally, 0b1c2d3e-0000-4000-8000-000000000001",
    .role_map = ENTRA_ROLE_MAP_DEFAULT,
    .group_team_map = GRED "=red," GBLUE "=blue",
    .leeway_s = 60,
};

static void test_shaped(void **state)
{
    static const char *const yes[] = {"a.b.c", "eyJ0.eyJ0.", "A-_z.09.x-_"};
    static const char *const no[] = {"",        "tt_0123abcd", "a.b",    "a..c",    ".b.c",
                                     "a.b.c.d", "a.b.c=",      "a.b+.c", "a b.c.d", "a.b/c.d"};

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(entra_jwt_shaped(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (entra_jwt_shaped(no[i], strlen(no[i])))
            fail_msg("\"%s\" taken for a JWT", no[i]);
}

static void rules_err(const entra_rules_text *t, const char *want)
{
    entra_rules r;
    char err[256] = "";

    assert_false(entra_rules_init(&r, t, err, sizeof(err)));
    assert_string_equal(err, want);
    assert_null(r.roles);
}

static void test_rules(void **state)
{
    entra_rules r;
    entra_rules_text t = TEXT;
    char err[256];

    (void)state;
    assert_true(entra_rules_init(&r, &t, err, sizeof(err)));
    assert_string_equal(r.issuer, ISS);
    assert_int_equal(r.naudiences, 2);
    assert_string_equal(r.audiences[0], "api://tokentally");
    assert_string_equal(r.audiences[1], "0b1c2d3e-0000-4000-8000-000000000001");
    assert_int_equal(r.nroles, 4);
    assert_string_equal(r.roles[1].app_role, "Tally.Lead");
    assert_int_equal(r.roles[1].role, AUTH_LEAD);
    assert_int_equal(r.nteams, 2);
    assert_string_equal(r.teams[1].group, GBLUE);
    assert_string_equal(r.teams[1].team, "blue");
    assert_null(r.team_claim);
    entra_rules_cleanup(&r);
    entra_rules_cleanup(&r); /* twice is harmless */

    t.issuer = "https://sts.windows.net/" TENANT "/";
    t.team_claim = "extension_team";
    t.group_team_map = " g1 = Search Team=A ,";
    assert_true(entra_rules_init(&r, &t, err, sizeof(err)));
    assert_string_equal(r.issuer, "https://sts.windows.net/" TENANT "/");
    assert_string_equal(r.team_claim, "extension_team");
    assert_int_equal(r.nteams, 1);
    assert_string_equal(r.teams[0].group, "g1");
    assert_string_equal(r.teams[0].team, "Search Team=A");
    entra_rules_cleanup(&r);

    t = TEXT;
    t.tenant_id = "contoso.onmicrosoft.com";
    rules_err(&t, "invalid value for \"entra_tenant_id\": the directory (tenant) id, a GUID");
    t.tenant_id = TENANT "0";
    rules_err(&t, "invalid value for \"entra_tenant_id\": the directory (tenant) id, a GUID");
    t = TEXT;
    t.audience = "";
    rules_err(&t, "\"entra_audience\" is required with entra_tenant_id");
    t.audience = " , ";
    rules_err(&t, "invalid value for \"entra_audience\": an empty item");
    t = TEXT;
    t.role_map = "Tally.Admin=admin";
    rules_err(&t, "invalid value for \"entra_role_map\": \"admin\" is not one of developer, lead, "
                  "finance, platform");
    t.role_map = "A=lead,A=finance";
    rules_err(&t, "invalid value for \"entra_role_map\": app role \"A\" is mapped twice");
    t.role_map = "";
    rules_err(&t, "invalid value for \"entra_role_map\": no app role is mapped");
    t.role_map = "=lead";
    rules_err(&t, "invalid value for \"entra_role_map\": an empty item");
    t = TEXT;
    t.group_team_map = "red";
    rules_err(&t, "invalid value for \"entra_group_team_map\": \"red\" is not NAME=VALUE");
    t.group_team_map = GRED "=red," GRED "=blue";
    rules_err(&t, "invalid value for \"entra_group_team_map\": group \"" GRED "\" is mapped twice");
    t.group_team_map = "g=";
    rules_err(&t, "invalid value for \"entra_group_team_map\": an empty item");
}

/* claims: a valid developer token's, with JSON members to add or replace */
static json_t *claims(const char *overrides)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:I, s:I}", "aud", "api://tokentally", "iss",
                          ISS, "tid", TENANT, "oid", "oid-alice", "roles", "Tally.Developer", "nbf",
                          (json_int_t)(NOW - 60), "exp", (json_int_t)(NOW + 3600));
    json_t *o = json_loads(overrides, 0, NULL);

    assert_non_null(c);
    assert_non_null(o);
    json_object_update(c, o);
    json_decref(o);
    return c;
}

/* The principal the claims give at now ("role team oid name"), or "refused: WHY [DETAIL]". */
static const char *check_at(const char *overrides, int64_t now)
{
    static char out[1024];
    entra_rules r;
    entra_rules_text t = TEXT;
    auth_principal p;
    json_t *c = claims(overrides);
    char err[256];
    entra_refusal why = {NULL, ""};

    t.team_claim = "tally_team";
    assert_true(entra_rules_init(&r, &t, err, sizeof(err)));
    if (entra_claims_check(&r, c, now, &p, &why))
        snprintf(out, sizeof(out), "%s [%s] [%s] %s", auth_role_name(p.role), p.scope_team,
                 p.scope_oid, p.name);
    else
        snprintf(out, sizeof(out), "refused: %s [%s]", why.why, why.detail);
    entra_rules_cleanup(&r);
    json_decref(c);
    return out;
}

static const char *check(const char *overrides)
{
    return check_at(overrides, NOW);
}

static void test_claims_time(void **state)
{
    char exp[64];

    (void)state;
    assert_string_equal(check("{}"), "developer [] [oid-alice] entra:oid-alice");
    /* exp: valid while now - leeway < exp */
    snprintf(exp, sizeof(exp), "{\"exp\": %lld}", (long long)(NOW - 59));
    assert_string_equal(check(exp), "developer [] [oid-alice] entra:oid-alice");
    snprintf(exp, sizeof(exp), "{\"exp\": %lld}", (long long)(NOW - 60));
    assert_string_equal(check(exp), "refused: the token has expired [token expired]");
    /* nbf: valid from nbf - leeway */
    snprintf(exp, sizeof(exp), "{\"nbf\": %lld}", (long long)(NOW + 60));
    assert_string_equal(check(exp), "developer [] [oid-alice] entra:oid-alice");
    snprintf(exp, sizeof(exp), "{\"nbf\": %lld}", (long long)(NOW + 61));
    assert_string_equal(check(exp),
                        "refused: the token is not valid yet (nbf) [token not valid yet]");
    assert_string_equal(check_at("{}", NOW + 3600 + 60),
                        "refused: the token has expired [token expired]");
    assert_string_equal(check("{\"exp\": \"1790003600\"}"),
                        "refused: exp missing, or exp or nbf not an integer [malformed token]");
    assert_string_equal(check("{\"exp\": 1790003600.5}"),
                        "refused: exp missing, or exp or nbf not an integer [malformed token]");
    assert_string_equal(check("{\"nbf\": null}"),
                        "refused: exp missing, or exp or nbf not an integer [malformed token]");
    assert_string_equal(check("{\"exp\": null}"),
                        "refused: exp missing, or exp or nbf not an integer [malformed token]");
}

static void test_claims_identity(void **state)
{
    (void)state;
    assert_string_equal(check("{\"iss\": \"https://sts.windows.net/" TENANT "/\"}"),
                        "refused: wrong issuer (iss) [wrong issuer]");
    assert_string_equal(check("{\"iss\": 1}"), "refused: wrong issuer (iss) [wrong issuer]");
    assert_string_equal(check("{\"aud\": \"api://other\"}"),
                        "refused: wrong audience (aud) [wrong audience]");
    assert_string_equal(check("{\"aud\": [\"api://other\", 7]}"),
                        "refused: wrong audience (aud) [wrong audience]");
    assert_string_equal(check("{\"aud\": []}"), "refused: wrong audience (aud) [wrong audience]");
    assert_string_equal(check("{\"aud\": [[\"api://tokentally\"]]}"),
                        "refused: wrong audience (aud) [wrong audience]");
    assert_string_equal(check("{\"aud\": [\"x\", \"0b1c2d3e-0000-4000-8000-000000000001\"]}"),
                        "developer [] [oid-alice] entra:oid-alice");
    assert_string_equal(check("{\"aud\": \"API://TOKENTALLY\"}"),
                        "refused: wrong audience (aud) [wrong audience]");
    assert_string_equal(check("{\"tid\": \"00000000-0000-0000-0000-000000000000\"}"),
                        "refused: wrong tenant (tid) [wrong tenant]");
    assert_string_equal(check("{\"tid\": \"4F0A9D2E-6C1B-4E8A-9B7D-3A2C1E0F5D6B\"}"),
                        "developer [] [oid-alice] entra:oid-alice");
    assert_string_equal(check("{\"tid\": null}"), "refused: wrong tenant (tid) [wrong tenant]");
    assert_string_equal(check("{\"oid\": \"\"}"), "refused: no usable oid [no usable oid claim]");
    assert_string_equal(check("{\"oid\": 12}"), "refused: no usable oid [no usable oid claim]");
}

static void test_claims_roles(void **state)
{
    (void)state;
    assert_string_equal(check("{\"roles\": [\"Tally.Developer\", \"Tally.Finance\"]}"),
                        "finance [] [] entra:oid-alice");
    assert_string_equal(check("{\"roles\": [\"Tally.Platform\", \"Tally.Lead\", \"x\"]}"),
                        "platform [] [] entra:oid-alice");
    assert_string_equal(check("{\"roles\": [\"tally.finance\"]}"),
                        "refused: no app role of the token maps to a tally role [no app role maps "
                        "to a tally role]");
    assert_string_equal(check("{\"roles\": \"Tally.Finance\"}"),
                        "refused: no app role of the token maps to a tally role [no app role maps "
                        "to a tally role]");
    assert_string_equal(check("{\"roles\": []}"), "refused: no app role of the token maps to a "
                                                  "tally role [no app role maps to a tally role]");
    /* a lead's team: by group (GUIDs in any case), by claim, never two */
    assert_string_equal(check("{\"roles\": [\"Tally.Lead\"], \"groups\": [\"x\", \"" GRED "\"]}"),
                        "lead [red] [] entra:oid-alice");
    assert_string_equal(
        check("{\"roles\": [\"Tally.Lead\"], \"groups\": [\"66666666-7777-8888-9999-000000000000\","
              " \"" GBLUE "\"], \"tally_team\": \"red\"}"),
        "lead [blue] [] entra:oid-alice");
    assert_string_equal(
        check("{\"roles\": [\"Tally.Lead\"], \"groups\": [\"" GRED "\", \"" GBLUE "\"]}"),
        "refused: the lead's groups map to more than one team [no team for the lead]");
    assert_string_equal(check("{\"roles\": [\"Tally.Lead\"], \"tally_team\": \"search\"}"),
                        "lead [search] [] entra:oid-alice");
    assert_string_equal(check("{\"roles\": [\"Tally.Lead\"], \"tally_team\": \"\"}"),
                        "refused: the team claim is empty or too long [no team for the lead]");
    assert_string_equal(check("{\"roles\": [\"Tally.Lead\"], \"groups\": [\"x\"]}"),
                        "refused: no team for the lead: no group maps to one and no team claim [no "
                        "team for the lead]");
    assert_string_equal(
        check("{\"roles\": [\"Tally.Lead\"], \"_claim_names\": {\"groups\": \"src1\"}}"),
        "refused: no team for the lead: the token left its groups out (over 200 groups) [no team "
        "for the lead]");
    /* groups do not matter to the other roles */
    assert_string_equal(
        check("{\"roles\": [\"Tally.Developer\"], \"groups\": [\"" GRED "\", \"" GBLUE "\"]}"),
        "developer [] [oid-alice] entra:oid-alice");
}

/* ---- entra_verify on signed tokens ---- */

typedef struct signer {
    EVP_PKEY *key, *other;
    char *priv, *other_priv, *pub, *jwks;
    test_keyserver ks;
    entra *v;
} signer;

static char *sign(const signer *s, jwt_alg_t alg, const char *kid, const char *priv,
                  const char *claims_json)
{
    jwt_t *jwt = NULL;
    char *out;

    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grants_json(jwt, claims_json), 0);
    if (kid)
        assert_int_equal(jwt_add_header(jwt, "kid", kid), 0);
    if (alg == JWT_ALG_HS256) /* keyed with the public key, as a confused verifier would */
        assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)s->pub, (int)strlen(s->pub)),
                         0);
    else if (alg == JWT_ALG_NONE)
        assert_int_equal(jwt_set_alg(jwt, alg, NULL, 0), 0);
    else
        assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)priv, (int)strlen(priv)), 0);
    out = jwt_encode_str(jwt);
    assert_non_null(out);
    jwt_free(jwt);
    return out;
}

/* "ok", "refused: DETAIL" or "unavailable: DETAIL": what entra_verify_at answers */
static const char *verify_at(signer *s, const char *token, int64_t now, auth_principal *p)
{
    static char out[256];
    const char *detail = "unset";
    auth_status st = entra_verify_at(s->v, token, strlen(token), now, p, &detail);

    if (st == AUTH_OK) {
        assert_null(detail);
        return "ok";
    }
    assert_int_equal(p->role, 0);
    assert_true(st == AUTH_REFUSED || st == AUTH_UNAVAILABLE);
    snprintf(out, sizeof(out), "%s: %s", st == AUTH_REFUSED ? "refused" : "unavailable", detail);
    return out;
}

static const char *verify(signer *s, const char *token, auth_principal *p)
{
    return verify_at(s, token, (int64_t)time(NULL), p);
}

static void test_verify(void **state)
{
    signer s = {0};
    membuf b = MEMBUF_INIT;
    entra_rules r;
    char err[256], valid[512], *tok;
    jwks_cache_config kc = {"https://keys.test/keys", 3600, 300, test_fetch, &s.ks, test_clock, 0};
    auth_principal p;
    long long now = (long long)time(NULL);

    (void)state;
    s.key = test_rsa(2048);
    s.other = test_rsa(2048);
    s.priv = test_pem(s.key, true);
    s.other_priv = test_pem(s.other, true);
    s.pub = test_pem(s.key, false);
    membuf_puts(&b, "{\"keys\":[");
    test_jwk(&b, s.key, "kid-a", ",\"use\":\"sig\"");
    membuf_puts(&b, "]}");
    s.jwks = membuf_steal(&b, NULL);
    s.ks.doc = s.jwks;
    assert_true(entra_rules_init(&r, &TEXT, err, sizeof(err)));
    s.v = entra_new(&r, &kc);
    assert_non_null(s.v);
    assert_null(r.roles); /* owned by the verifier now */
    snprintf(valid, sizeof(valid),
             "{\"aud\":\"api://tokentally\",\"iss\":\"%s\",\"tid\":\"%s\",\"oid\":\"oid-bob\","
             "\"roles\":[\"Tally.Lead\"],\"groups\":[\"%s\"],\"nbf\":%lld,\"exp\":%lld}",
             ISS, TENANT, GRED, now - 60, now + 3600);

    /* no key set to be had: not the token's fault (503), and nothing is remembered */
    s.ks.doc = NULL;
    tok = sign(&s, JWT_ALG_RS256, "kid-a", s.priv, valid);
    assert_string_equal(verify(&s, tok, &p),
                        "unavailable: the signing keys could not be fetched; retry later");
    assert_int_equal(s.ks.calls, 1);
    s.ks.doc = s.jwks;
    test_now += JWKS_RETRY_S;
    assert_string_equal(verify(&s, tok, &p), "ok");
    assert_int_equal(p.role, AUTH_LEAD);
    assert_string_equal(p.scope_team, "red");
    assert_string_equal(p.name, "entra:oid-bob");
    assert_int_equal(s.ks.calls, 2);
    /* a changed payload, re-encoded the way libjwt does */
    {
        char *dot = strchr(tok, '.'), *tampered = strdup(tok);
        tampered[dot - tok + 5] = tampered[dot - tok + 5] == 'A' ? 'B' : 'A';
        assert_string_equal(verify(&s, tampered, &p), "refused: signature not valid");
        free(tampered);
    }
    free(tok);

    tok = sign(&s, JWT_ALG_NONE, "kid-a", NULL, valid);
    assert_string_equal(verify(&s, tok, &p), "refused: algorithm not allowed");
    free(tok);
    tok = sign(&s, JWT_ALG_HS256, "kid-a", NULL, valid);
    assert_string_equal(verify(&s, tok, &p), "refused: algorithm not allowed");
    free(tok);
    tok = sign(&s, JWT_ALG_RS384, "kid-a", s.priv, valid);
    assert_string_equal(verify(&s, tok, &p), "refused: algorithm not allowed");
    free(tok);
    tok = sign(&s, JWT_ALG_RS256, "kid-a", s.other_priv, valid); /* not the published key */
    assert_string_equal(verify(&s, tok, &p), "refused: signature not valid");
    free(tok);
    tok = sign(&s, JWT_ALG_RS256, NULL, s.priv, valid);
    assert_string_equal(verify(&s, tok, &p), "refused: malformed token");
    free(tok);
    assert_int_equal(s.ks.calls, 2);
    tok = sign(&s, JWT_ALG_RS256, "kid-b", s.other_priv, valid);
    assert_string_equal(verify(&s, tok, &p), "refused: signing key not known");
    assert_int_equal(s.ks.calls, 3); /* an unknown kid fetched the set again */
    free(tok);
    assert_string_equal(verify(&s, "eyJhbGciOiJSUzI1NiJ9.e30.", &p), "refused: malformed token");
    assert_string_equal(verify(&s, "bm90IGpzb24.e30.c2ln", &p), "refused: malformed token");

    /* verified tokens are remembered until exp + leeway, and while the key set stays */
    snprintf(valid, sizeof(valid),
             "{\"aud\":\"api://tokentally\",\"iss\":\"%s\",\"tid\":\"%s\",\"oid\":\"oid-dave\","
             "\"roles\":[\"Tally.Developer\"],\"exp\":%lld}",
             ISS, TENANT, now + 100);
    tok = sign(&s, JWT_ALG_RS256, "kid-a", s.priv, valid);
    assert_string_equal(verify_at(&s, tok, now, &p), "ok");
    assert_string_equal(p.scope_oid, "oid-dave");
    memset(&p, 0, sizeof(p));
    assert_string_equal(verify_at(&s, tok, now + 159, &p), "ok");
    assert_string_equal(p.scope_oid, "oid-dave");
    assert_int_equal(p.role, AUTH_DEVELOPER);
    assert_string_equal(verify_at(&s, tok, now + 160, &p), "refused: token expired");
    assert_string_equal(verify_at(&s, tok, now, &p), "ok");
    assert_int_equal(s.ks.calls, 3);
    /* the provider drops key a: once the set is fetched again, its tokens are refused */
    membuf_puts(&b, "{\"keys\":[");
    test_jwk(&b, s.other, "kid-b", "");
    membuf_puts(&b, "]}");
    s.ks.doc = b.data;
    test_now += 300;
    free(tok);
    tok = sign(&s, JWT_ALG_RS256, "kid-b", s.other_priv, valid);
    assert_string_equal(verify_at(&s, tok, now, &p), "ok"); /* refetched */
    assert_int_equal(s.ks.calls, 4);
    free(tok);
    tok = sign(&s, JWT_ALG_RS256, "kid-a", s.priv, valid);
    assert_string_equal(verify_at(&s, tok, now, &p), "refused: signing key not known");
    assert_int_equal(s.ks.calls, 4);
    free(tok);
    membuf_free(&b);

    entra_free(s.v);
    entra_free(NULL);
    free(s.priv);
    free(s.other_priv);
    free(s.pub);
    free(s.jwks);
    EVP_PKEY_free(s.key);
    EVP_PKEY_free(s.other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shaped),       cmocka_unit_test(test_rules),
        cmocka_unit_test(test_claims_time),  cmocka_unit_test(test_claims_identity),
        cmocka_unit_test(test_claims_roles), cmocka_unit_test(test_verify),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
