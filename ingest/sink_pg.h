/*
 * sink_pg.h - the PostgreSQL sink of tally-ingest: writes one batch in one transaction
 * (docs/architecture.md, "Exactly once"): the new events (ON CONFLICT DO NOTHING on the
 * event key), rollup deltas for exactly the rows inserted, developer labels, rejects, the
 * Azure Monitor join, and the next offset of every partition in the batch,
 * compare-and-set on the stored value.
 *
 * A batch is built by a source (batch.h: batch_message, then parse_message with
 * batch_emit). A sink owns one connection; it is not thread-safe. A commit may run on a
 * thread of its own (sink_pg_commit_start) while the caller builds the next batch: until
 * sink_pg_commit_wait returns, that thread owns the sink and the batch, and the caller
 * must call no other function of the sink.
 */
#ifndef TALLY_SINK_PG_H
#define TALLY_SINK_PG_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"

typedef enum {
    SINK_OK = 0,
    SINK_CONFLICT, /* an offset was not where this consumer left it: re-seek from the DB */
    SINK_RETRY,    /* database error (logged); keep the batch, back off, try again */
} sink_status;

/* what a committed batch did */
typedef struct sink_result {
    uint64_t inserted;           /* new usage_events rows */
    uint64_t duplicates;         /* events already stored (or twice in the batch) */
    uint64_t rejects_new;        /* new ingest_rejects rows */
    uint64_t joined;             /* Azure Monitor pairs joined into events */
    uint64_t unattributed;       /* LLM halves whose caller never came, stored as unattributed */
    uint64_t reattributed;       /* unattributed events moved to the caller of a late record */
    uint64_t dropped;            /* gateway halves whose LLM half never came */
    uint64_t monitor_duplicates; /* re-delivered monitor records' requests (in duplicates) */
    uint64_t refused;            /* messages whose events Postgres refused, stored as rejects */
} sink_result;

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
 * Writes the batch in one transaction, without a savepoint on the common path. When
 * Postgres refuses the events with a data error, that transaction is rolled back and the
 * batch is redone in a new one, its events inserted by halves under savepoints down to
 * the single messages Postgres refuses; each of those is stored as a reject ("database
 * refused: <sqlstate> <message>", key "<its key prefix>:refused") and the rest is
 * committed with the offsets, so one poison message neither stalls the stream nor takes
 * others with it. An Azure Monitor request refused in the join is stored the same way
 * (key "monitor:<correlationId>:refused", its halves as JSON) and its halves dropped.
 * A caller record for a request stored as 'unattributed' re-attributes it, rollups
 * included; a re-delivered monitor record counts as a duplicate. On SINK_OK the batch may be reset;
 * on anything else nothing was written and the batch is unchanged. r may be NULL. The batch must
 * not be batch_oom.
 */
sink_status sink_pg_commit(sink_pg *s, batch *b, sink_result *r);

/* Starts sink_pg_commit(s, b, ...) on a thread of its own (or runs it here if no thread
 * can be started). The sink and b belong to that commit until sink_pg_commit_wait. */
void sink_pg_commit_start(sink_pg *s, batch *b);

/* True while a commit started is running (sink_pg_commit_wait would block). */
bool sink_pg_commit_running(const sink_pg *s);

/* Waits for the commit started and returns what sink_pg_commit returned, with its
 * result in *r and the time it took in *seconds (either may be NULL). */
sink_status sink_pg_commit_wait(sink_pg *s, sink_result *r, double *seconds);

/* Runs the Azure Monitor join and the expiry of pending halves in a transaction of
 * their own (for idle periods). */
sink_status sink_pg_monitor_tick(sink_pg *s, sink_result *r);

/*
 * Reads the stored next_offset of every partition of the configured group and topic
 * into next[0..nparts) (-1 where there is no row). false after logging on error.
 */
bool sink_pg_load_offsets(sink_pg *s, int32_t nparts, int64_t *next);

#endif
