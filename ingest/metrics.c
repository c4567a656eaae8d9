/*
 * metrics.c - tally-ingest's Prometheus families on a common/prom.h registry.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "prom.h"

struct ingest_metrics {
    prom_registry *reg;
    prom_http *http;
    prom_metric *consumed, *records, *inserted, *duplicates, *rejected, *joined, *unattributed;
    prom_metric *batch_size, *commit_seconds, *lag, *last_commit, *db_up, *lost, *last_loss;
};

static const double BATCH_BOUNDS[] = {1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000};
static const double COMMIT_BOUNDS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1,    2.5,   5};

#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

ingest_metrics *metrics_new(void)
{
    ingest_metrics *m = calloc(1, sizeof(*m));

    if (!m || !(m->reg = prom_registry_new())) {
        free(m);
        return NULL;
    }
    m->consumed = prom_counter(m->reg, "tally_ingest_consumed_messages_total",
                               "Messages read from Kafka or lines read from a file", NULL);
    m->records = prom_counter(m->reg, "tally_ingest_records_total",
                              "Records parsed: events, Azure Monitor halves and rejects", NULL);
    m->inserted = prom_counter(m->reg, "tally_ingest_inserted_events_total",
                               "Usage events inserted into usage_events", NULL);
    m->duplicates = prom_counter(m->reg, "tally_ingest_duplicate_events_total",
                                 "Events not inserted because their key was already stored", NULL);
    m->rejected = prom_counter(m->reg, "tally_ingest_rejected_total", "Records rejected, by reason",
                               "reason");
    m->joined = prom_counter(m->reg, "tally_ingest_monitor_joined_total",
                             "Azure Monitor LLM and gateway records joined into events", NULL);
    m->unattributed = prom_counter(m->reg, "tally_ingest_monitor_unattributed_total",
                                   "Azure Monitor LLM records stored without a caller after "
                                   "monitor_join_wait_s",
                                   NULL);
    m->batch_size =
        prom_histogram(m->reg, "tally_ingest_batch_messages", "Messages per committed batch", NULL,
                       BATCH_BOUNDS, NB(BATCH_BOUNDS));
    m->commit_seconds =
        prom_histogram(m->reg, "tally_ingest_commit_seconds", "Time to write one batch transaction",
                       NULL, COMMIT_BOUNDS, NB(COMMIT_BOUNDS));
    m->lag =
        prom_gauge(m->reg, "tally_ingest_partition_lag_messages",
                   "Messages between the stored offset and the high watermark", "topic,partition");
    m->last_commit = prom_gauge(m->reg, "tally_ingest_last_commit_timestamp_seconds",
                                "Unix time of the last committed batch", NULL);
    m->db_up = prom_gauge(m->reg, "tally_ingest_database_up",
                          "1 when the last database operation succeeded", NULL);
    m->lost =
        prom_counter(m->reg, "tally_ingest_lost_messages_total",
                     "Messages the broker deleted before they were ingested (ingest_gaps)", NULL);
    m->last_loss =
        prom_gauge(m->reg, "tally_ingest_last_loss_timestamp_seconds",
                   "Unix time of the last batch that recorded lost messages, 0 if none", NULL);
    prom_gauge_set(m->db_up, NULL, 1);
    prom_counter_add(m->lost, NULL, 0);
    prom_gauge_set(m->last_loss, NULL, 0);
    return m;
}

bool metrics_serve(ingest_metrics *m, const char *listen)
{
    if (!m || !listen || !*listen)
        return true;
    m->http = prom_http_start(m->reg, listen);
    return m->http != NULL;
}

void metrics_free(ingest_metrics *m)
{
    if (!m)
        return;
    if (m->http)
        prom_http_stop(m->http);
    prom_registry_free(m->reg);
    free(m);
}

void metrics_batch(ingest_metrics *m, const batch *b, const sink_result *r, double commit_seconds)
{
    if (!m)
        return;
    prom_counter_add(m->consumed, NULL, b->nmessages);
    prom_counter_add(m->records, NULL, b->nrecords);
    metrics_tick(m, r);
    for (int i = 0; i < b->nreasons; i++) {
        const char *labels[1] = {b->reasons[i].reason};
        prom_counter_add(m->rejected, labels, b->reasons[i].count);
    }
    if (r->refused) {
        const char *labels[1] = {"database refused"};
        prom_counter_add(m->rejected, labels, r->refused);
    }
    for (int i = 0; i < b->ngaps; i++) {
        prom_counter_add(m->lost, NULL, (uint64_t)(b->gaps[i].last - b->gaps[i].first + 1));
        prom_gauge_set(m->last_loss, NULL, (double)time(NULL));
    }
    prom_histogram_observe(m->batch_size, NULL, (double)b->nmessages);
    prom_histogram_observe(m->commit_seconds, NULL, commit_seconds);
    prom_gauge_set(m->last_commit, NULL, (double)time(NULL));
}

void metrics_tick(ingest_metrics *m, const sink_result *r)
{
    if (!m)
        return;
    prom_counter_add(m->inserted, NULL, r->inserted);
    prom_counter_add(m->duplicates, NULL, r->duplicates);
    prom_counter_add(m->joined, NULL, r->joined);
    prom_counter_add(m->unattributed, NULL, r->unattributed);
}

void metrics_db_up(ingest_metrics *m, bool up)
{
    if (m)
        prom_gauge_set(m->db_up, NULL, up ? 1 : 0);
}

void metrics_lag(ingest_metrics *m, const char *topic, int32_t partition, int64_t lag)
{
    char part[16];
    const char *labels[2] = {topic, part};

    if (!m)
        return;
    snprintf(part, sizeof(part), "%" PRId32, partition);
    prom_gauge_set(m->lag, labels, (double)lag);
}

void metrics_lag_clear(ingest_metrics *m)
{
    if (m)
        prom_metric_clear(m->lag);
}
