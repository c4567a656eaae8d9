/*
 * sink_pg.h - the PostgreSQL sink of tally-ingest: writes one batch in one transaction
 * (DESIGN §3): the new events (ON CONFLICT DO NOTHING on the event key), rollup deltas for
 * exactly the rows inserted, developer labels, rejects, the Azure Monitor join, and the
 * next offset of every partition in the batch, compare-and-set on the stored value.
 *
 * A batch is built by a source (sink_batch_message, then parse_message with
 * sink_batch_emit) as COPY text, so it costs a few hundred bytes per event whatever the
 * event struct's size. A sink owns one connection; neither is thread-safe.
 */
#ifndef TALLY_SINK_PG_H
#define TALLY_SINK_PG_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"

typedef enum {
    SINK_OK = 0,
    SINK_CONFLICT, /* an offset was not where this consumer left it: re-seek from the DB */
    SINK_RETRY,    /* database error (logged); keep the batch, back off, try again */
} sink_status;

/* a growable byte buffer holding COPY text */
typedef struct sink_buf {
    char *data;
    size_t len, cap;
} sink_buf;

/* the offsets of one partition in a batch: prev is the stored next_offset the batch
 * continues from (-1 = no row yet), next the offset after its last message */
typedef struct sink_offset {
    int32_t partition;
    int64_t prev;
    int64_t next;
} sink_offset;

#define SINK_REASONS_MAX 32
#define SINK_MONTHS_MAX 64

typedef struct sink_reason_count {
    char reason[64]; /* the reason up to its first quoted value: a bounded label */
    uint64_t count;
} sink_reason_count;

/* where one message's share of the batch starts: what isolating a message Postgres
 * refuses needs (its events are contiguous in the COPY text) */
typedef struct sink_msg {
    size_t events_len, nevents; /* b->events before the message */
    size_t info;                /* its key, source and raw bytes in b->msg_info */
    size_t raw_len;
} sink_msg;

typedef struct sink_batch {
    sink_buf events, llm, gateway, rejects; /* COPY text of each staging table */
    size_t nevents, nllm, ngateway, nrejects;
    size_t nrecords; /* items parsed: events, monitor halves, rejects */
    size_t nmessages;
    int32_t months[SINK_MONTHS_MAX]; /* UTC months (year * 12 + month - 1) of the events */
    int nmonths;
    sink_offset *offsets;
    int noffsets, offsets_cap;
    sink_reason_count reasons[SINK_REASONS_MAX];
    int nreasons;
    /* the message being parsed: where its rejects come from */
    char key_prefix[512];
    char source[512];
    int message_rejects;
    sink_msg *msgs; /* nmessages of them */
    size_t msgs_cap;
    sink_buf msg_info; /* per message: key NUL source NUL raw bytes */
} sink_batch;

/* what a committed batch did */
typedef struct sink_result {
    uint64_t inserted;     /* new usage_events rows */
    uint64_t duplicates;   /* events already stored (or twice in the batch) */
    uint64_t rejects_new;  /* new ingest_rejects rows */
    uint64_t joined;       /* Azure Monitor pairs joined into events */
    uint64_t unattributed; /* LLM halves whose caller never came, stored as unattributed */
    uint64_t dropped;      /* gateway halves whose LLM half never came */
    uint64_t refused;      /* messages whose events Postgres refused, stored as rejects */
} sink_result;

void sink_batch_init(sink_batch *b);
void sink_batch_cleanup(sink_batch *b);
/* Empties the batch, keeping its buffers. */
void sink_batch_reset(sink_batch *b);
static inline bool sink_batch_empty(const sink_batch *b)
{
    return b->nmessages == 0 && b->nrecords == 0 && b->noffsets == 0;
}

/*
 * Starts a message: its rejects are keyed key_prefix (":<k>" added for the k-th reject
 * after the first) and described by source. raw is kept for the reject the message
 * becomes if Postgres refuses its events (a data error: SQLSTATE class 22 or 23).
 */
void sink_batch_message(sink_batch *b, const char *key_prefix, const char *source, const char *raw,
                        size_t raw_len);

/* The parse_emit_fn that adds an item to the batch; ctx is the sink_batch. */
void sink_batch_emit(void *ctx, const parse_item *item);

/* Records that the batch holds partition's messages up to offset; prev is the stored
 * next_offset (-1 = none), used when the partition is new in the batch. */
bool sink_batch_offset(sink_batch *b, int32_t partition, int64_t prev, int64_t offset);

typedef struct sink_pg_config {
    const char *conninfo;
    const char *group; /* ingest_offsets key; NULL for a file source (no offsets) */
    const char *topic;
    int monitor_join_wait_s;
} sink_pg_config;

typedef struct sink_pg sink_pg;

/* Connects (retrying until *stop is set) and prepares the session. NULL on failure,
 * with *no_schema set when it was for a missing table (SQLSTATE 42P01: the database is
 * not migrated). The strings of cfg must outlive the sink. */
sink_pg *sink_pg_new(const sink_pg_config *cfg, volatile sig_atomic_t *stop, bool *no_schema);
void sink_pg_free(sink_pg *s);

/* True when the connection is usable. */
bool sink_pg_ok(const sink_pg *s);

/* Reconnects with backoff, at most attempts times (0 = until *stop is set); false when
 * still not connected. */
bool sink_pg_reconnect(sink_pg *s, int attempts, volatile sig_atomic_t *stop);

/*
 * Writes the batch in one transaction. When Postgres refuses the events with a data
 * error, the batch is retried in halves inside the transaction (savepoints) down to the
 * single messages it refuses; each of those is stored as a reject ("database refused:
 * <sqlstate> <message>", key "<its key prefix>:refused") and the rest is committed with
 * the offsets, so one poison message neither stalls the stream nor takes others with
 * it. On SINK_OK the batch may be reset; on anything
 * else nothing was written and the batch is unchanged. r may be NULL.
 */
sink_status sink_pg_commit(sink_pg *s, sink_batch *b, sink_result *r);

/* Runs the Azure Monitor join and the expiry of pending halves in a transaction of
 * their own (for idle periods). */
sink_status sink_pg_monitor_tick(sink_pg *s, sink_result *r);

/*
 * Reads the stored next_offset of every partition of the configured group and topic
 * into next[0..nparts) (-1 where there is no row). false after logging on error.
 */
bool sink_pg_load_offsets(sink_pg *s, int32_t nparts, int64_t *next);

#endif
