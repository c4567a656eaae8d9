/*
 * alert.h - delivery of quota alerts from the alert_outbox table through libcurl: a
 * generic JSON webhook (optionally HMAC-SHA256 signed), Slack and Microsoft Teams (an
 * Adaptive Card) incoming webhooks, and the Prometheus Alertmanager v2 API.
 *
 * Each due row is claimed with FOR UPDATE SKIP LOCKED in its own transaction, posted, and
 * marked delivered (2xx), retried later with exponential backoff (network errors, 408,
 * 429, 5xx) or failed (any other status: the receiver refuses these bytes, and sending
 * them again cannot help). Several servers may deliver from one database: a row is
 * posted by one of them at a time. A crash between the POST and the commit sends it again
 * (at least once). URLs (Slack and Teams embed secrets in them) and HMAC keys never
 * appear in logs or in last_error: the target is named by outbox id and kind.
 *
 * Payload builders and the signature are pure; call alert_global_init once from main()
 * before starting threads. Delivery functions are safe from any thread with its own
 * PGconn.
 */
#ifndef TALLY_ALERT_H
#define TALLY_ALERT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "cfg.h"
#include "prom.h"

/* The configuration keys of delivery, shared by tally-report's and tallyctl's tables. */
#define ALERT_CFG_SPEC                                                                             \
    {"alert_backoff_ms",                                                                           \
     CFG_INT,                                                                                      \
     "1000",                                                                                       \
     1,                                                                                            \
     3600000,                                                                                      \
     NULL,                                                                                         \
     CFG_PUBLIC,                                                                                   \
     "delay before the first retry of an alert delivery; doubles with each attempt"},              \
        {"alert_backoff_max_ms",                                                                   \
         CFG_INT,                                                                                  \
         "600000",                                                                                 \
         1,                                                                                        \
         86400000,                                                                                 \
         NULL,                                                                                     \
         CFG_PUBLIC,                                                                               \
         "longest delay between two delivery attempts"},                                           \
    {                                                                                              \
        "alert_timeout_ms", CFG_INT, "10000", 100, 600000, NULL, CFG_PUBLIC,                       \
            "time limit of one alert delivery request"                                             \
    }

typedef struct alert_opts {
    long backoff_ms;         /* first retry delay */
    long backoff_max_ms;     /* cap */
    long timeout_ms;         /* one request */
    prom_metric *deliveries; /* counter {kind,result}, or NULL */
} alert_opts;

/* Reads the ALERT_CFG_SPEC keys. */
void alert_opts_from_cfg(const cfg *c, alert_opts *o);

/* What an alert says; every field is text (decimals as written by Postgres). */
typedef struct alert_fact {
    const char *alert_id;
    const char *quota_id;
    const char *quota; /* name */
    const char *scope; /* developer | team | everyone */
    const char *subject;
    const char *metric; /* cost_usd | tokens */
    const char *period; /* day | week | month */
    const char *tz;
    const char *threshold; /* "80" or "forecast" */
    const char *used;
    const char *limit;
    const char *ratio;
    const char *forecast;     /* may be NULL */
    const char *period_start; /* ISO 8601 UTC */
    const char *period_end;
    const char *fired_at;
} alert_fact;

/* Calls curl_global_init; once, before any thread starts. */
bool alert_global_init(void);
void alert_global_cleanup(void);

/*
 * The request body for a target kind ("webhook", "slack", "teams", "alertmanager"), as a
 * malloc'd NUL-terminated string the caller frees; NULL for an unknown kind.
 */
char *alert_payload(const char *kind, const alert_fact *f);

/* One line of text describing the alert (the Slack text and the summaries). Caller frees. */
char *alert_summary(const alert_fact *f);

/* Writes "sha256=<64 hex>" (HMAC-SHA256 of body under key) into out. */
#define ALERT_SIGNATURE_LEN (7 + 64)
void alert_sign(const void *key, size_t keylen, const char *body, size_t len,
                char out[ALERT_SIGNATURE_LEN + 1]);

/* The delay after the attempts-th failed attempt: base × 2^(attempts−1), capped. */
long alert_backoff_delay_ms(const alert_opts *o, int attempts);

/*
 * Reads an HMAC key reference ("env:TALLY_ALERT_KEY_…" or "file:PATH"; a file's trailing
 * newlines are dropped); a reference quota_secret_ref_valid refuses is never read. Returns a
 * malloc'd key (*len bytes) the caller frees (after zeroing), or NULL.
 */
char *alert_secret_load(const char *ref, size_t *len);

typedef struct alert_counts {
    int delivered;
    int retrying; /* failed this time, will be retried */
    int failed;   /* given up: the receiver refused the payload */
} alert_counts;

/*
 * Delivers every outbox row due now, one per transaction, until none is due or *stop is
 * set (stop may be NULL). Adds to *counts. Returns false on a database error (logged).
 */
bool alert_deliver_due(PGconn *conn, const alert_opts *o, alert_counts *counts,
                       volatile sig_atomic_t *stop);

#endif
