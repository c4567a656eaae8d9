/*
 * Unit tests of ingest/oauth.c without a network: token responses of Entra ID and
 * IMDS, error responses, default scopes, configuration checks, and that a failed
 * request's message never carries the secret. The HTTP exchanges themselves are
 * tested against a local token endpoint in tests/integration/test_oauth.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "oauth.h"

#define NOW INT64_C(1790000000000)

static bool parse(const char *body, char *token, size_t tokenlen, int64_t *exp, char *err)
{
    return oauth_parse_response(body, strlen(body), NOW, token, tokenlen, exp, err, 256);
}

static void test_entra_response(void **state)
{
    char token[64], err[256];
    int64_t exp = 0;

    (void)state;
    assert_true(parse("{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
                      "\"access_token\":\"eyJ0eXAi.abc.def\"}",
                      token, sizeof(token), &exp, err));
    assert_string_equal(token, "eyJ0eXAi.abc.def");
    assert_int_equal(exp, NOW + 3599000);
}

static void test_imds_response(void **state)
{
    char token[64], err[256];
    int64_t exp = 0;

    (void)state;
    /* IMDS sends every number as a string */
    assert_true(parse("{\"access_token\":\"tok\",\"client_id\":\"c\",\"expires_in\":\"86399\","
                      "\"expires_on\":\"1790086399\",\"ext_expires_in\":\"86399\","
                      "\"not_before\":\"1789999700\",\"resource\":\"https://eventhubs.azure.net\","
                      "\"token_type\":\"Bearer\"}",
                      token, sizeof(token), &exp, err));
    assert_string_equal(token, "tok");
    assert_int_equal(exp, NOW + 86399000);
    /* expires_on alone: an absolute time */
    assert_true(parse("{\"access_token\":\"t2\",\"expires_on\":\"1790000600\"}", token,
                      sizeof(token), &exp, err));
    assert_int_equal(exp, INT64_C(1790000600000));
    assert_true(parse("{\"access_token\":\"t3\",\"expires_on\":1790000600}", token, sizeof(token),
                      &exp, err));
    assert_int_equal(exp, INT64_C(1790000600000));
}

static void test_bad_responses(void **state)
{
    char token[16], err[256];
    int64_t exp = 0;

    (void)state;
    assert_false(parse("{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
                       "Invalid client secret provided.\\r\\nTrace ID: 1\\r\\n\"}",
                       token, sizeof(token), &exp, err));
    assert_string_equal(err, "token request refused: invalid_client: AADSTS7000215: Invalid client "
                             "secret provided.");
    assert_false(parse("{\"error\":\"invalid_request\"}", token, sizeof(token), &exp, err));
    assert_string_equal(err, "token request refused: invalid_request");
    assert_false(parse("not json", token, sizeof(token), &exp, err));
    assert_string_equal(err, "token response is not a JSON object");
    assert_false(parse("{\"expires_in\":60}", token, sizeof(token), &exp, err));
    assert_string_equal(err, "token response has no access_token");
    assert_false(
        parse("{\"access_token\":\"\",\"expires_in\":60}", token, sizeof(token), &exp, err));
    assert_string_equal(err, "token response has no access_token");
    assert_false(parse("{\"access_token\":\"t\"}", token, sizeof(token), &exp, err));
    assert_string_equal(err, "token response has neither expires_in nor expires_on");
    assert_false(
        parse("{\"access_token\":\"t\",\"expires_in\":0}", token, sizeof(token), &exp, err));
    assert_string_equal(err, "token response has an invalid expires_in");
    assert_false(
        parse("{\"access_token\":\"t\",\"expires_in\":\"-5\"}", token, sizeof(token), &exp, err));
    assert_string_equal(err, "token response has neither expires_in nor expires_on");
    assert_false(
        parse("{\"access_token\":\"t\",\"expires_on\":\"1000\"}", token, sizeof(token), &exp, err));
    assert_string_equal(err, "token response has an expires_on in the past");
    /* a token that does not fit is refused, never cut */
    assert_false(parse("{\"access_token\":\"0123456789abcdef\",\"expires_in\":60}", token,
                       sizeof(token), &exp, err));
    assert_string_equal(err, "access_token too long (16 bytes)");
}

static void test_default_scope(void **state)
{
    char scope[128];

    (void)state;
    assert_true(oauth_default_scope("contoso.servicebus.windows.net:9093", scope, sizeof(scope)));
    assert_string_equal(scope, "https://contoso.servicebus.windows.net/.default");
    assert_true(oauth_default_scope("a.servicebus.windows.net:9093,b:9093", scope, sizeof(scope)));
    assert_string_equal(scope, "https://a.servicebus.windows.net/.default");
    assert_true(oauth_default_scope("localhost", scope, sizeof(scope)));
    assert_string_equal(scope, "https://localhost/.default");
    assert_false(oauth_default_scope("", scope, sizeof(scope)));
    assert_false(oauth_default_scope(NULL, scope, sizeof(scope)));
    assert_false(oauth_default_scope(":9093", scope, sizeof(scope)));
    assert_false(oauth_default_scope("contoso.servicebus.windows.net:9093", scope, 20));
}

static void test_endpoint_ok(void **state)
{
    static const char *const ok[] = {
        "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        "https://10.0.0.1/token",
        "http://127.0.0.1:8080/token",
        "http://127.9.8.7/token",
        "http://localhost/token",
        "http://LOCALHOST:99/token",
        "http://[::1]:8080/token",
        "http://user@127.0.0.1/token",
    };
    static const char *const refused[] = {
        "http://login.microsoftonline.com/t/oauth2/v2.0/token",
        "http://10.0.0.1/token",
        "http://128.0.0.1/token",
        "http://127.0.0.1.example.com/token",
        "http://localhost.example.com/token",
        "http://[::2]/token",
        "http://[::1.example.com/token",
        "http://127.0.0.1@evil.example/token",
        "ftp://127.0.0.1/token",
        "login.example.com/token",
        "",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!oauth_endpoint_ok(ok[i]))
            fail_msg("refused %s", ok[i]);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (oauth_endpoint_ok(refused[i]))
            fail_msg("accepted %s", refused[i]);
}

static void test_config_check(void **state)
{
    oauth_config c = {.mode = OAUTH_CLIENT_CREDENTIALS};
    char err[256];

    (void)state;
    unsetenv("AZURE_TENANT_ID");
    unsetenv("AZURE_CLIENT_ID");
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");
    assert_false(oauth_config_check(&c, err, sizeof(err)));
    assert_string_equal(err, "\"oauth_tenant_id\" (or AZURE_TENANT_ID) is required");
    c.tenant_id = "t";
    assert_false(oauth_config_check(&c, err, sizeof(err)));
    assert_string_equal(err, "\"oauth_client_id\" (or AZURE_CLIENT_ID) is required");
    setenv("AZURE_CLIENT_ID", "from-env", 1);
    assert_false(oauth_config_check(&c, err, sizeof(err)));
    assert_string_equal(err,
                        "\"oauth_client_secret\" is required with oauth_mode=client-credentials");
    c.client_secret = "s3cret";
    assert_true(oauth_config_check(&c, err, sizeof(err)));
    /* the secret goes to the endpoint: https, or plain http to this machine only */
    c.token_endpoint = "http://login.example.com/t/oauth2/v2.0/token";
    assert_false(oauth_config_check(&c, err, sizeof(err)));
    assert_string_equal(err, "\"oauth_token_endpoint\" must be an https:// URL (http:// only to "
                             "localhost, 127.0.0.0/8 or [::1])");
    c.token_endpoint = "HTTPS://login.example.com/t/oauth2/v2.0/token";
    assert_true(oauth_config_check(&c, err, sizeof(err)));
    c.token_endpoint = "http://127.0.0.1:8080/token";
    assert_true(oauth_config_check(&c, err, sizeof(err)));
    c.mode = OAUTH_WORKLOAD_IDENTITY;
    setenv("AZURE_FEDERATED_TOKEN_FILE", "/f", 1);
    c.token_endpoint = "http://10.0.0.1/token";
    assert_false(oauth_config_check(&c, err, sizeof(err)));
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");
    c.mode = OAUTH_CLIENT_CREDENTIALS;
    c.token_endpoint = NULL;
    c.mode = OAUTH_WORKLOAD_IDENTITY;
    assert_false(oauth_config_check(&c, err, sizeof(err)));
    setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token", 1);
    assert_true(oauth_config_check(&c, err, sizeof(err)));
    /* managed identity needs nothing: IMDS knows who we are */
    c = (oauth_config){.mode = OAUTH_MANAGED_IDENTITY};
    assert_true(oauth_config_check(&c, err, sizeof(err)));
    unsetenv("AZURE_CLIENT_ID");
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");
    assert_int_equal(oauth_mode_from_name("client-credentials"), OAUTH_CLIENT_CREDENTIALS);
    assert_int_equal(oauth_mode_from_name("workload-identity"), OAUTH_WORKLOAD_IDENTITY);
    assert_int_equal(oauth_mode_from_name("managed-identity"), OAUTH_MANAGED_IDENTITY);
    assert_int_equal(oauth_mode_from_name("password"), -1);
}

/* A request that cannot be made says why, and never quotes the secret. */
static void test_fetch_failure_hides_secret(void **state)
{
    oauth_config c = {
        .mode = OAUTH_CLIENT_CREDENTIALS,
        .tenant_id = "t",
        .client_id = "c",
        .client_secret = "SUPER-SECRET-VALUE",
        /* port 1 on loopback: connection refused at once */
        .token_endpoint = "http://127.0.0.1:1/t/oauth2/v2.0/token",
        .timeout_ms = 2000,
    };
    char token[OAUTH_TOKEN_MAX], err[512];
    int64_t exp;

    (void)state;
    assert_true(oauth_global_init());
    assert_false(oauth_fetch(&c, token, sizeof(token), &exp, err, sizeof(err)));
    assert_non_null(strstr(err, "token request failed"));
    assert_null(strstr(err, "SUPER-SECRET-VALUE"));
    c.mode = OAUTH_WORKLOAD_IDENTITY;
    c.federated_token_file = "/nonexistent/token";
    assert_false(oauth_fetch(&c, token, sizeof(token), &exp, err, sizeof(err)));
    assert_non_null(strstr(err, "could not open federated token file \"/nonexistent/token\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entra_response),
        cmocka_unit_test(test_imds_response),
        cmocka_unit_test(test_bad_responses),
        cmocka_unit_test(test_default_scope),
        cmocka_unit_test(test_endpoint_ok),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_fetch_failure_hides_secret),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
