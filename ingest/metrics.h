/*
 * metrics.h - the Prometheus metrics of tally-ingest (docs/architecture.md, "Operations"):
 * consumed, inserted, duplicates, rejected by reason, batch size and commit latency, per-partition
 * lag, last commit time, database up, messages lost before ingestion. Served by common/prom.h's
 * /metrics listener.
 *
 * Every function accepts m == NULL and then does nothing, so the file source and tests
 * can run without metrics. Thread-safe (the registry locks).
 */
#ifndef TALLY_INGEST_METRICS_H
#define TALLY_INGEST_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "sink_pg.h"

typedef struct ingest_metrics ingest_metrics;

/* A registry with every ingest family; NULL on allocation failure. */
ingest_metrics *metrics_new(void);

/* Serves /metrics on listen ("ADDR:PORT"); false after logging if it cannot. */
bool metrics_serve(ingest_metrics *m, const char *listen);

/* Stops the listener and frees everything. */
void metrics_free(ingest_metrics *m);

/* Records a committed batch and how long its commit took. */
void metrics_batch(ingest_metrics *m, const batch *b, const sink_result *r, double commit_seconds);

/* Records what a monitor join tick stored. */
void metrics_tick(ingest_metrics *m, const sink_result *r);

void metrics_db_up(ingest_metrics *m, bool up);

/* Messages between the stored offset and the partition's high watermark. */
void metrics_lag(ingest_metrics *m, const char *topic, int32_t partition, int64_t lag);

/* Forgets the lag series (after a rebalance changed the partitions this consumer has). */
void metrics_lag_clear(ingest_metrics *m);

#endif
