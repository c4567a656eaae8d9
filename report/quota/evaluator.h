/*
 * evaluator.h - the quota evaluator: computes each quota's usage in its current period
 * (tally_quota_usage_all: one pass for all quotas), fires every threshold crossed and the
 * forecast crossing the limit, and delivers from the outbox (alert.h).
 *
 * Firing is claimed in Postgres: INSERT INTO alert_log … ON CONFLICT DO NOTHING RETURNING,
 * and only the transaction whose insert returned a row enqueues the notifications, in
 * that same transaction. Any number of report servers (or `tallyctl quotas evaluate`)
 * may evaluate one database at once: each (quota, period, threshold) fires exactly once.
 *
 * evaluator_run_once is for one thread with its own PGconn; evaluator_start runs it (and
 * delivery) on a background thread with its own connection.
 */
#ifndef TALLY_EVALUATOR_H
#define TALLY_EVALUATOR_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "alert.h"
#include "prom.h"

/* The interval key, for tally-report's config table. */
#define EVALUATOR_CFG_SPEC                                                                         \
    {                                                                                              \
        "quota_interval_s", CFG_INT, "60", 1, 86400, NULL, CFG_PUBLIC,                             \
            "seconds between two quota evaluations (alerts due are delivered every second)"        \
    }

/* Prometheus families of quotas and alerts; every pointer may be NULL (no metrics). */
typedef struct evaluator_metrics {
    prom_metric *used_ratio;     /* gauge {quota,scope,subject,metric,period} */
    prom_metric *forecast_ratio; /* gauge, same labels: forecast / limit */
    prom_metric *fired;          /* counter {threshold} */
    prom_metric *outbox;         /* gauge {state} */
    prom_metric *deliveries;     /* counter {kind,result} */
    prom_metric *errors;         /* counter: failed evaluations */
} evaluator_metrics;

/* Registers the families in r. */
void evaluator_metrics_init(evaluator_metrics *m, prom_registry *r);

typedef struct evaluator_counts {
    int quotas; /* evaluated */
    int fired;  /* alert_log rows this call inserted */
    int queued; /* outbox rows this call enqueued */
    int errors; /* quotas whose evaluation failed (logged) */
} evaluator_counts;

/*
 * Evaluates every quota as of at (a timestamptz literal; NULL = now), one transaction per
 * quota. Updates the quota gauges when m is given. Returns false when the database
 * could not be read at all; a quota that fails is counted in errors and skipped.
 */
bool evaluator_run_once(PGconn *conn, const char *at, const evaluator_metrics *m,
                        evaluator_counts *c);

/* Refreshes the outbox gauge {state=pending|failed|delivered}. */
void evaluator_outbox_gauge(PGconn *conn, const evaluator_metrics *m);

typedef struct evaluator evaluator;

/*
 * Starts the background thread: evaluate every interval_s seconds, deliver due alerts
 * every second. conninfo and o are copied; m (may be NULL) must outlive the thread.
 * Returns NULL after logging on failure.
 */
evaluator *evaluator_start(const char *conninfo, int interval_s, const alert_opts *o,
                           const evaluator_metrics *m);

/* Stops and joins the thread, then frees e; evaluator_stop(NULL) is a no-op. */
void evaluator_stop(evaluator *e);

#endif
