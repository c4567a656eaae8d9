/*
 * oauth.h - Entra ID access tokens for the Event Hubs Kafka endpoint (SASL OAUTHBEARER),
 * fetched with libcurl: Debian's librdkafka 2.0.2 is built without OIDC support.
 *
 * Three ways to obtain a token:
 *   client credentials  POST {authority}/{tenant}/oauth2/v2.0/token
 *                       grant_type=client_credentials, client_id, client_secret, scope
 *   workload identity   the same endpoint, with client_assertion = the contents of the
 *                       federated token file (AKS; re-read on every fetch, as the kubelet
 *                       rotates it) and client_assertion_type jwt-bearer instead of a secret
 *   managed identity    GET {imds}?api-version=2018-02-01&resource=https://eventhubs.azure.net
 *                       with "Metadata: true" (and client_id for a user-assigned identity)
 *
 * tally-ingest configuration (auth=oauth), each key also TALLY_<KEY> and --key-with-dashes:
 *   oauth_mode                  client-credentials | workload-identity | managed-identity
 *   oauth_tenant_id             default $AZURE_TENANT_ID
 *   oauth_client_id             default $AZURE_CLIENT_ID
 *   oauth_client_secret         secret; or oauth_client_secret_file
 *   oauth_federated_token_file  default $AZURE_FEDERATED_TOKEN_FILE
 *   oauth_token_endpoint        the whole token URL (tests point it at a local server);
 *                               default {authority}/{tenant}/oauth2/v2.0/token with authority
 *                               $AZURE_AUTHORITY_HOST or https://login.microsoftonline.com,
 *                               or the IMDS URL for managed identity
 *   oauth_scope                 default https://{namespace}/.default, the namespace being the
 *                               host of the first broker (contoso.servicebus.windows.net)
 *
 * Secrets (the client secret, the federated token, the access token) never appear in a
 * log line or an error message. oauth_fetch is thread-safe once oauth_global_init has run.
 */
#ifndef TALLY_OAUTH_H
#define TALLY_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OAUTH_TOKEN_MAX 16384 /* Entra access tokens are 1-3 KB; room for large claims */
#define OAUTH_AUTHORITY_DEFAULT "https://login.microsoftonline.com"
#define OAUTH_IMDS_DEFAULT "http://169.254.169.254/metadata/identity/oauth2/token"
#define OAUTH_RESOURCE_DEFAULT "https://eventhubs.azure.net"
#define OAUTH_PRINCIPAL_DEFAULT "tally-ingest"

typedef enum {
    OAUTH_CLIENT_CREDENTIALS,
    OAUTH_WORKLOAD_IDENTITY,
    OAUTH_MANAGED_IDENTITY,
} oauth_mode;

/* Borrowed strings; NULL or "" = unset (then the environment or the default applies). */
typedef struct oauth_config {
    oauth_mode mode;
    const char *tenant_id;
    const char *client_id;
    const char *client_secret;
    const char *federated_token_file;
    const char *authority;      /* https://login.microsoftonline.com */
    const char *token_endpoint; /* whole URL: overrides authority/tenant, or the IMDS URL */
    const char *scope;          /* client credentials and workload identity */
    const char *resource;       /* managed identity */
    const char *brokers;        /* for the default scope */
    long timeout_ms;            /* per request; 0 = 10 s */
} oauth_config;

/* Initialises libcurl once per process; call before any thread fetches. */
bool oauth_global_init(void);

/* Parses a mode name ("client-credentials", "workload-identity", "managed-identity");
 * -1 if unknown. */
int oauth_mode_from_name(const char *name);

/*
 * Whether a token endpoint may receive a credential: https://, or http:// to this
 * machine only (localhost, 127.0.0.0/8, [::1]).
 */
bool oauth_endpoint_ok(const char *url);

/*
 * Checks that the configuration (with the environment) names everything its mode needs.
 * Returns false with a message (naming the missing key, never a secret) in err.
 */
bool oauth_config_check(const oauth_config *c, char *err, size_t errlen);

/*
 * Fetches a token: writes it NUL-terminated into token (tokenlen bytes, at least
 * OAUTH_TOKEN_MAX is safe) and its expiry, in milliseconds since the epoch, into
 * *expires_at_ms. Returns false with a message without secrets in err.
 */
bool oauth_fetch(const oauth_config *c, char *token, size_t tokenlen, int64_t *expires_at_ms,
                 char *err, size_t errlen);

/*
 * Parses a token endpoint's JSON response (Entra ID v2 or IMDS): access_token and
 * expires_in (seconds, number or string) or else expires_on (epoch seconds). now_ms is
 * the time of the request. An "error" member becomes the message in err. Pure.
 */
bool oauth_parse_response(const char *body, size_t len, int64_t now_ms, char *token,
                          size_t tokenlen, int64_t *expires_at_ms, char *err, size_t errlen);

struct rd_kafka_conf_s;

/*
 * Makes a librdkafka configuration authenticate with OAUTHBEARER tokens from
 * oauth_fetch (oauth_kafka.c): sets sasl.mechanisms=OAUTHBEARER, security.protocol=
 * SASL_SSL (properties applied later, such as -X security.protocol=SASL_PLAINTEXT in
 * tests, still win) and the token refresh callback. librdkafka calls it from the
 * thread that polls (rd_kafka_consumer_poll), before the first connection and at 80 %
 * of each token's lifetime; a failed request is logged without secrets, reported with
 * rd_kafka_oauthbearer_set_token_failure and retried with backoff (librdkafka asks
 * again after 10 s; requests are spaced 5 s, 10 s, 20 s … up to 2 minutes apart).
 * The principal is the client id, else "tally-ingest".
 *
 * c and its strings must outlive every handle made from conf. One configuration per
 * process: a second call replaces the first. Returns false with a message in err.
 */
bool oauth_attach(struct rd_kafka_conf_s *conf, const oauth_config *c, char *err, size_t errlen);

/* The default scope for brokers "host:port[,…]": https://host/.default; false if none. */
bool oauth_default_scope(const char *brokers, char *out, size_t outlen);

#endif
