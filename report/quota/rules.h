/*
 * rules.h - quotas set by the platform team (docs/architecture.md, "Quotas and alerts"):
 * the definition and its validation. Pure: no I/O (store.h keeps quotas in Postgres).
 *
 * A quota travels as a JSON object, in the API and in tallyctl alike:
 *   {"name": "team-platform", "scope": "team", "subject": "platform",
 *    "metric": "cost_usd", "period": "month", "tz": "Europe/Berlin", "limit": "500.00",
 *    "thresholds": [50, 80, 100], "forecast": true,
 *    "targets": [{"kind": "slack", "url": "https://hooks.slack.com/…"},
 *                {"kind": "webhook", "url": "https://…", "secret": "env:TALLY_ALERT_KEY_HOOK"}]}
 * Amounts are decimal strings (exact); the limit may also be a JSON integer, but a JSON
 * number with a fraction or an exponent is refused (a double does not keep every digit).
 *
 * Thread-safety: the functions keep no state.
 */
#ifndef TALLY_QUOTA_RULES_H
#define TALLY_QUOTA_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define QUOTA_MAX_THRESHOLDS 32
#define QUOTA_MAX_TARGETS 16

typedef struct quota_target {
    char *kind;   /* webhook | slack | teams | alertmanager */
    char *url;    /* http(s); may embed a secret (Slack, Teams): never logged */
    char *secret; /* HMAC key reference for webhooks: "env:TALLY_ALERT_KEY_…" or "file:/path"; or
                     NULL */
} quota_target;

typedef struct quota {
    char *name;
    char *scope;   /* developer | team | everyone */
    char *subject; /* the developer's oid, the team, or "" for everyone */
    char *metric;  /* cost_usd | tokens */
    char *period;  /* day | week | month */
    char *tz;      /* IANA zone */
    char *limit;   /* positive decimal string */
    int thresholds[QUOTA_MAX_THRESHOLDS];
    int nthresholds;
    bool forecast;
    quota_target targets[QUOTA_MAX_TARGETS];
    int ntargets;
} quota;

/* Why a definition was refused: the field (JSON key) and a lower-case message. */
typedef struct quota_error {
    char field[32];
    char message[200];
} quota_error;

/*
 * Fills err (when given) with the field and a printf-style message; returns false, so that
 * a check can `return quota_fail(…)`.
 */
bool quota_fail(quota_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees the strings of q (not q itself); safe on a zeroed or half-filled quota. */
void quota_cleanup(quota *q);

/*
 * Fills q (zeroed by the caller) from a JSON object; unknown keys and wrong types are
 * refused. Defaults: subject "", tz "UTC", thresholds 50/80/100, forecast false, no
 * targets. Then validates (quota_validate). On false err says why; quota_cleanup q in
 * either case.
 */
bool quota_from_json(json_t *obj, quota *q, quota_error *err);

/* Checks every field of q without I/O (the zone's existence is checked in the database). */
bool quota_validate(const quota *q, quota_error *err);

/* True for a decimal string: digits, optionally '.' and digits; > 0 when positive is set. */
bool quota_decimal_valid(const char *s, bool positive);

/* env: HMAC key references must name a variable with this prefix */
#define QUOTA_SECRET_ENV_PREFIX "TALLY_ALERT_KEY_"
/* file: HMAC key references must lie under this directory or $CREDENTIALS_DIRECTORY */
#define QUOTA_SECRET_DIR "/run/secrets"

/*
 * True for an HMAC key reference a quota may hold: "env:TALLY_ALERT_KEY_…", or "file:" and an
 * absolute path without ".." under /run/secrets/ or $CREDENTIALS_DIRECTORY/ (systemd's
 * LoadCredential=, read from this process's environment). Thread-safe (getenv only).
 */
bool quota_secret_ref_valid(const char *ref);

/* True for an http(s) URL with a host and no whitespace or control characters. */
bool quota_url_valid(const char *url);

#endif
