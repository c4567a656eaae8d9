/*
 * batch.h - the batch encoder of tally-ingest: what a source reads becomes COPY text for
 * the sink's session-local staging tables (events, the two Azure Monitor halves,
 * rejects), with what the transaction needs beside it: each message's share of the text
 * (to isolate one Postgres refuses), the next offset of every partition, the months of
 * the events (their partitions), and the reject reasons counted by class for /metrics.
 *
 * A batch costs a few hundred bytes per event whatever the event struct's size. Pure:
 * no I/O, no database (sink_pg.h writes a batch); a batch belongs to one thread.
 */
#ifndef TALLY_BATCH_H
#define TALLY_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "membuf.h"
#include "parse.h"
#include "tokens.h"

/* ", <name>", for the column lists below */
#define BATCH_COLUMN(name) ", " #name

/* The columns of each staging table, in the order of the COPY text. */
#define BATCH_EVENT_COLUMNS                                                                        \
    "request_id, event_time, source_format, developer_oid, developer_upn, tenant_id, app_id, "     \
    "session_id, message_id, deployment, model, gateway, region, subscription, product, "          \
    "operation, service_tier, status_code, is_stream" TALLY_TOKEN_CLASSES(                         \
        BATCH_COLUMN) ", cache_write_unknown, web_search_requests, web_fetch_requests, "           \
                      "long_context, speed, inference_geo, prompt_tokens, iterations"
#define BATCH_LLM_COLUMNS                                                                          \
    "correlation_id, event_time, seq, message_id, deployment, model, is_stream, input_tokens, "    \
    "output_tokens, cache_read_tokens, long_context"
#define BATCH_GATEWAY_COLUMNS                                                                      \
    "correlation_id, event_time, user_oid, user_upn, subscription, status_code, region"
#define BATCH_REJECT_COLUMNS "source_key, source, reason, raw"
/* tally_stage_agg: the rollup parts of a batch's events (tally_usage_parts() computed
 * here) summed per 15-minute bucket and key (batch_rollup_text) */
#define BATCH_AGG_COLUMNS                                                                          \
    "bucket" TALLY_ROLLUP_DIMENSIONS(BATCH_COLUMN) ", requests" TALLY_TOKEN_CLASSES(BATCH_COLUMN)  \
        TALLY_REQUEST_COUNTS(BATCH_COLUMN)
/* tally_stage_labels: each developer's upn of its latest event in the batch that had one */
#define BATCH_LABEL_COLUMNS "oid, upn, last_seen"

/* a part's sums: requests, the token classes, the other request counts */
enum { BATCH_PART_SUMS = 1 + TALLY_TOKEN_CLASS_COUNT + 0 TALLY_REQUEST_COUNTS(TALLY_COUNT_ONE) };

/* one rollup part of an event: its 15-minute bucket (microseconds since the epoch, as
 * date_bin gives it), its key columns after the bucket as COPY text (each after a tab)
 * in b->part_keys, and its sums */
typedef struct batch_part {
    int64_t bucket_us;
    size_t key, key_len;
    int64_t sums[BATCH_PART_SUMS];
} batch_part;

/* no event time (microseconds since the epoch) */
#define BATCH_NO_TIME INT64_MIN

/* the offsets of one partition in a batch: prev is the stored next_offset the batch
 * continues from (-1 = no row yet), next the offset after its last message; last_time
 * the event time of the last of its messages that had one (BATCH_NO_TIME: none) */
typedef struct batch_partition {
    int32_t partition;
    int64_t prev;
    int64_t next;
    int64_t last_time;
} batch_partition;

/* offsets [first, last] of a partition, deleted by the broker before they were read
 * (docs/architecture.md, "Losses"); before/after: the event times of the last message
 * of the partition before the gap (BATCH_NO_TIME: the stored one's) and of the message
 * after it (BATCH_NO_TIME: it had none) */
typedef struct batch_gap {
    int32_t partition;
    int64_t first, last;
    int64_t before, after;
} batch_gap;

#define BATCH_REASONS_MAX 32
#define BATCH_MONTHS_MAX 64

typedef struct batch_reason {
    char reason[64]; /* the reason up to its first quoted value: a bounded label */
    uint64_t count;
} batch_reason;

/* where one message's share of the batch starts: what isolating a message Postgres
 * refuses needs (its events are contiguous in the COPY text) */
typedef struct batch_msg {
    size_t events_len, nevents; /* b->events before the message */
    size_t info;                /* its key, source and raw bytes in b->msg_info */
    size_t raw_len;
} batch_msg;

/* one event of b->events: what writing it straight into usage_events needs (sink_pg.c) */
typedef struct batch_event {
    int64_t time_us;
    size_t row, row_len; /* its row in b->events */
    size_t part, nparts; /* its parts in b->parts */
    size_t upn, upn_len; /* its upn as COPY text in b->part_keys, 0 bytes for none */
    size_t id_len;       /* its request id, as escaped: the row's first id_len bytes */
} batch_event;

typedef struct batch {
    membuf events, llm, gateway, rejects; /* COPY text of each staging table */
    batch_part *parts;                    /* nparts of them, each event's together */
    size_t nparts, parts_cap;
    membuf part_keys; /* the parts' keys and the events' upns */
    batch_event *evs; /* nevents of them */
    size_t evs_cap;
    bool sql_parts; /* an event's parts are SQL's to compute (a speed lower() might change) */
    size_t nevents, nllm, ngateway, nrejects;
    size_t nrecords; /* items parsed: events, monitor halves, rejects */
    size_t nmessages;
    int32_t months[BATCH_MONTHS_MAX]; /* UTC months (year * 12 + month - 1) of the events */
    int nmonths;
    batch_partition *offsets;
    int noffsets, offsets_cap;
    batch_gap *gaps;
    int ngaps, gaps_cap;
    batch_reason reasons[BATCH_REASONS_MAX];
    int nreasons;
    /* the message being parsed: where its rejects come from */
    char key_prefix[512];
    char source[512];
    int message_rejects;
    int64_t message_time; /* of the message's first event or monitor half */
    batch_msg *msgs;      /* nmessages of them */
    size_t msgs_cap;
    membuf msg_info; /* per message: key NUL source NUL raw bytes */
    membuf scratch;  /* an event's iterations as JSON, before COPY escaping */
    bool oom;        /* an allocation failed: the batch is incomplete and must not be written */
} batch;

void batch_init(batch *b);
void batch_cleanup(batch *b);
/* Empties the batch, keeping its buffers. */
void batch_reset(batch *b);
static inline bool batch_empty(const batch *b)
{
    return b->nmessages == 0 && b->nrecords == 0 && b->noffsets == 0;
}

/* The memory the batch's messages and rows take: its raw bytes and COPY text. */
static inline size_t batch_bytes(const batch *b)
{
    return b->events.len + b->llm.len + b->gateway.len + b->rejects.len + b->part_keys.len +
           b->nparts * sizeof(batch_part) + b->msg_info.len;
}

/* True when memory ran out while the batch was built (see membuf.h): it is incomplete. */
bool batch_oom(const batch *b);

/*
 * Starts a message: its rejects are keyed key_prefix (":<k>" added for the k-th reject
 * after the first) and described by source. raw is kept for the reject the message
 * becomes if Postgres refuses its events (a data error: SQLSTATE class 22 or 23).
 */
void batch_message(batch *b, const char *key_prefix, const char *source, const char *raw,
                   size_t raw_len);

/* The parse_emit_fn that adds an item to the batch; ctx is the batch. */
void batch_emit(void *ctx, const parse_item *item);

/* Records that the batch holds partition's messages up to offset; prev is the stored
 * next_offset (-1 = none), used when the partition is new in the batch. False when out
 * of memory. */
bool batch_offset(batch *b, int32_t partition, int64_t prev, int64_t offset);

/* The offset after partition's last message in the batch; -1 when it has none. */
int64_t batch_next_offset(const batch *b, int32_t partition);

/* Records that the offsets [first, last] of partition were lost before the message being
 * added (call it after parse_message, before that message's batch_offset). False when
 * out of memory. */
bool batch_gap_add(batch *b, int32_t partition, int64_t first, int64_t last);

/* Appends to out the reject row (BATCH_REJECT_COLUMNS) of message i, keyed
 * "<its key prefix>:refused", for events Postgres refused with reason. */
void batch_refused_reject(const batch *b, size_t i, const char *reason, membuf *out);

/* The COPY text of the events of messages [0, i): its length, and *nevents the number
 * of events in it (i = nmessages: the whole batch). */
size_t batch_events_end(const batch *b, size_t i, size_t *nevents);

/* Appends s to out escaped as a COPY text field (the form of a request id in a row). */
void batch_copy_text(membuf *out, const char *s);

/* An event time as its rows have it: "YYYY-MM-DD HH:MM:SS.ffffff+00". */
void batch_time_text(int64_t us, char *out, size_t outlen);

/* Appends event i's request id to out as a quoted element of a PostgreSQL array literal. */
void batch_event_id_element(const batch *b, size_t i, membuf *out);

/* FNV-1a of the n bytes at p, its offset basis xored with seed (a key's time): the hash
 * of the open-addressing tables over a batch's keys, here and in sink_pg.c. */
uint64_t batch_key_hash(const char *p, size_t n, int64_t seed);

/* The slots of an open-addressing table for n keys: a power of two, at least 2n and 64. */
static inline size_t batch_table_size(size_t n)
{
    size_t cap = 64;

    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

/* The COPY text of tally_stage_agg into agg: the parts of the events i with !skip[i]
 * summed per bucket and key, in the order each first came; and of tally_stage_labels
 * into labels: per developer, the upn of its latest such event that had one (the first
 * of equally late ones). Both are appended to. BATCH_ROLLUP_OVERFLOW when a sum would
 * leave int64 (SQL's bigint sum refuses it: 22003), BATCH_ROLLUP_OOM out of memory. */
typedef enum { BATCH_ROLLUP_OK, BATCH_ROLLUP_OVERFLOW, BATCH_ROLLUP_OOM } batch_rollup_status;
batch_rollup_status batch_rollup_text(const batch *b, const uint8_t *skip, membuf *agg,
                                      membuf *labels);

/* Message i's source (for a log line). */
const char *batch_msg_source(const batch *b, size_t i);

#endif
