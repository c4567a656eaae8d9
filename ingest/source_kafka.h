/*
 * source_kafka.h - the Kafka (Event Hubs) source of tally-ingest: a librdkafka
 * high-level consumer in a consumer group whose offsets live in Postgres, not in Kafka
 * (docs/architecture.md, "Exactly once"). On assignment it seeks to the offsets stored in
 * ingest_offsets; it batches by size and linger time and hands each batch to the sink, which stores
 * the rows and the offsets in one transaction. A lost compare-and-set re-seeks from the database;
 * Postgres down pauses the partitions and retries the same batch.
 *
 * Runs on the calling thread; not thread-safe.
 */
#ifndef TALLY_SOURCE_KAFKA_H
#define TALLY_SOURCE_KAFKA_H

#include "cfg.h"
#include "metrics.h"
#include "oauth.h"
#include "parse.h"
#include "sink_pg.h"

typedef enum {
    KAFKA_AUTH_NONE = 0,
    KAFKA_AUTH_CONNECTION_STRING, /* SASL_SSL + PLAIN, user $ConnectionString */
    KAFKA_AUTH_OAUTH,             /* SASL_SSL + OAUTHBEARER, Entra ID tokens (oauth.h) */
} kafka_auth;

typedef struct source_kafka_config {
    const char *brokers;
    const char *topic;
    const char *group;
    const char *instance_id; /* group.instance.id (static membership); NULL or "" = off */
    int session_timeout_ms;  /* 0 = librdkafka's default */
    int heartbeat_interval_ms;
    bool start_latest;      /* where a partition with no stored offset starts */
    int batch_size;         /* messages (or records) per batch */
    size_t batch_max_bytes; /* batch_bytes() per batch; 0 = no bound */
    int batch_linger_ms;
    parse_format format;
    kafka_auth auth;
    const char *password;      /* the Event Hubs connection string (auth=connection-string) */
    const oauth_config *oauth; /* auth=oauth */
    const cfg_kv *kafka;       /* librdkafka properties passed through, applied last */
    int nkafka;
} source_kafka_config;

typedef struct source_kafka source_kafka;

/*
 * Creates the consumer and subscribes to the topic. Returns NULL after logging when a
 * property is rejected (a configuration error). The config's strings, the sink and the
 * metrics (may be NULL) must outlive the source.
 */
source_kafka *source_kafka_new(const source_kafka_config *conf, sink_pg *sink, ingest_metrics *m);

/*
 * Consumes until sig_stop is set; then commits the batch in flight and leaves the group.
 * Returns 0, or 1 when the last batch could not be committed (it will be consumed again)
 * or a fatal error stopped the consumer (a fatal librdkafka error, a failed seek, out of
 * memory: logged once, the batch in flight dropped, to be read again after a restart).
 */
int source_kafka_run(source_kafka *sk);

/* Closes the consumer (leaving the group if still in it) and frees sk. */
void source_kafka_free(source_kafka *sk);

#endif
