/*
 * Unit tests of report/authcode.c: the PKCE S256 challenge (RFC 7636 appendix B's example),
 * the authorize URL byte for byte (every value percent-encoded, the defaults of
 * entra_authorize_url and entra_scope), and the configuration it is built from. The flow over
 * HTTP: tests/integration/test_overview_entra.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "authcode.h"
#include "entra.h"

static const cfg_spec SPEC[] = {ENTRA_CFG_SPEC, AUTHCODE_CFG_SPEC};
#define TENANT "4f0a9d2e-6c1b-4e8a-9b7d-3a2c1e0f5d6b"

/* Builds the sign-in from flags; its exit code, *a and *v set (freed by the caller). */
static int build(int argc, char **argv, entra **v, authcode **a)
{
    cfg c;
    int rc = cfg_load(&c, "t", SPEC, (int)(sizeof(SPEC) / sizeof(SPEC[0])), argc, argv);

    *v = NULL;
    *a = NULL;
    if (rc == CFG_EXIT_OK)
        rc = entra_from_cfg(&c, v);
    if (rc == CFG_EXIT_OK)
        rc = authcode_from_cfg(&c, *v, a);
    cfg_cleanup(&c);
    return rc;
}

static void test_challenge_rfc7636(void **state)
{
    char out[AUTHCODE_CHALLENGE_LEN + 1];

    (void)state;
    authcode_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", out);
    assert_string_equal("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", out);
}

static void test_authorize_url_defaults(void **state)
{
    char *argv[] = {"t",
                    "--entra-tenant-id",
                    TENANT,
                    "--entra-audience",
                    "api://tokentally, abc",
                    "--entra-client-id",
                    "web-client",
                    "--entra-redirect-url",
                    "https://tally.example.com/login/entra/callback"};
    membuf url = MEMBUF_INIT;
    entra *v;
    authcode *a;

    (void)state;
    assert_int_equal(CFG_EXIT_OK, build(9, argv, &v, &a));
    assert_non_null(a);
    authcode_authorize_url(a, "s1", "n1", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", &url);
    membuf_putc(&url, '\0');
    assert_string_equal(
        "https://login.microsoftonline.com/" TENANT "/oauth2/v2.0/authorize"
        "?response_type=code&client_id=web-client"
        "&redirect_uri=https%3A%2F%2Ftally.example.com%2Flogin%2Fentra%2Fcallback"
        "&scope=openid%20api%3A%2F%2Ftokentally%2F.default&response_mode=query"
        "&state=s1&nonce=n1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256",
        url.data);
    membuf_free(&url);
    authcode_free(a);
    entra_free(v);
}

static void test_config(void **state)
{
    char *off[] = {"t", "--entra-tenant-id", TENANT, "--entra-audience", "api://x"};
    char *no_entra[] = {"t", "--entra-client-id", "c"};
    char *no_redirect[] = {"t",       "--entra-tenant-id", TENANT, "--entra-audience",
                           "api://x", "--entra-client-id", "c"};
    char *plain_token_url[] = {"t",
                               "--entra-tenant-id",
                               TENANT,
                               "--entra-audience",
                               "api://x",
                               "--entra-client-id",
                               "c",
                               "--entra-redirect-url",
                               "http://localhost:8080/login/entra/callback",
                               "--entra-token-url",
                               "http://idp.example.com/token"};
    entra *v;
    authcode *a;

    (void)state;
    assert_int_equal(CFG_EXIT_OK, build(5, off, &v, &a));
    assert_null(a); /* no entra_client_id: no sign-in with Microsoft */
    entra_free(v);
    assert_int_equal(CFG_EXIT_USAGE, build(3, no_entra, &v, &a));
    assert_int_equal(CFG_EXIT_USAGE, build(7, no_redirect, &v, &a));
    entra_free(v);
    assert_int_equal(CFG_EXIT_USAGE, build(11, plain_token_url, &v, &a));
    entra_free(v);
    plain_token_url[10] = "http://127.0.0.1:9/token"; /* loopback: allowed */
    assert_int_equal(CFG_EXIT_OK, build(11, plain_token_url, &v, &a));
    assert_non_null(a);
    authcode_free(a);
    entra_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_challenge_rfc7636),
        cmocka_unit_test(test_authorize_url_defaults),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
