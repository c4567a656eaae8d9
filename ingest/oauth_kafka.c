/*
 * oauth_kafka.c - hands Entra ID tokens to librdkafka's OAUTHBEARER mechanism from its
 * token refresh callback (see oauth_attach in oauth.h).
 *
 * The callback's opaque is the consumer's (source_kafka owns it), so the configuration
 * lives in one static slot: one OAuth identity per process. The callback only runs on
 * the polling thread, so the slot needs no lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "backoff.h"
#include "log.h"
#include "oauth.h"

#define OAUTH_BACKOFF_FIRST_MS 5000
#define OAUTH_BACKOFF_MAX_MS 120000

static struct {
    oauth_config cfg;
    int failures;
    int64_t retry_at_ms; /* no request before this after a failure */
} oauth_slot;

static const char *const OAUTH_MODE_NAMES[] = {"client-credentials", "workload-identity",
                                               "managed-identity"};

static int64_t clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wipe_token(char *p, size_t n)
{
    volatile char *v = p;

    while (n--)
        *v++ = 0;
}

static void oauth_refresh(rd_kafka_t *rk, const char *oauthbearer_config, void *opaque)
{
    static char token[OAUTH_TOKEN_MAX];
    const oauth_config *c = &oauth_slot.cfg;
    const char *principal = c->client_id && *c->client_id ? c->client_id : NULL;
    char err[512], errstr[512];
    int64_t now = clock_ms(), expires_at = 0, delay;

    (void)oauthbearer_config;
    (void)opaque;
    if (!principal)
        principal = getenv("AZURE_CLIENT_ID");
    if (!principal || !*principal)
        principal = OAUTH_PRINCIPAL_DEFAULT;
    if (now < oauth_slot.retry_at_ms) {
        rd_kafka_oauthbearer_set_token_failure(rk, "backing off after a failed token request");
        return;
    }
    if (!oauth_fetch(c, token, sizeof(token), &expires_at, err, sizeof(err))) {
        delay = backoff_delay_ms(OAUTH_BACKOFF_FIRST_MS, OAUTH_BACKOFF_MAX_MS, oauth_slot.failures);
        oauth_slot.failures++;
        oauth_slot.retry_at_ms = now + delay;
        log_warn("could not obtain an Entra ID token (%s, attempt %d, next in %lld ms): %s",
                 OAUTH_MODE_NAMES[c->mode], oauth_slot.failures, (long long)delay, err);
        rd_kafka_oauthbearer_set_token_failure(rk, err);
        goto out;
    }
    if (rd_kafka_oauthbearer_set_token(rk, token, expires_at, principal, NULL, 0, errstr,
                                       sizeof(errstr)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        oauth_slot.failures++;
        oauth_slot.retry_at_ms = now + OAUTH_BACKOFF_FIRST_MS;
        log_error("could not hand the Entra ID token to librdkafka: %s", errstr);
        rd_kafka_oauthbearer_set_token_failure(rk, errstr);
        goto out;
    }
    oauth_slot.failures = 0;
    oauth_slot.retry_at_ms = 0;
    log_info("oauth token set mode=%s principal=%s expires_in_ms=%lld", OAUTH_MODE_NAMES[c->mode],
             principal, (long long)(expires_at - now));
out:
    wipe_token(token, sizeof(token));
}

static bool conf_put(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                     size_t errlen)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "invalid kafka property \"%s\": %s", name, errstr);
        return false;
    }
    return true;
}

bool oauth_attach(struct rd_kafka_conf_s *conf, const oauth_config *c, char *err, size_t errlen)
{
    if ((int)c->mode < 0 || (int)c->mode > OAUTH_MANAGED_IDENTITY) {
        snprintf(err, errlen, "invalid oauth mode");
        return false;
    }
    if (!oauth_config_check(c, err, errlen))
        return false;
    if (!oauth_global_init()) {
        snprintf(err, errlen, "could not initialise libcurl");
        return false;
    }
    if (!conf_put(conf, "security.protocol", "SASL_SSL", err, errlen) ||
        !conf_put(conf, "sasl.mechanisms", "OAUTHBEARER", err, errlen))
        return false;
    oauth_slot.cfg = *c;
    oauth_slot.failures = 0;
    oauth_slot.retry_at_ms = 0;
    rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, oauth_refresh);
    return true;
}
