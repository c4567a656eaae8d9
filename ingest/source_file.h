/*
 * source_file.h - tally-ingest --from-file PATH|-: a backfill from JSON lines, Azure
 * Monitor blob exports (PT1H.json, one record per line) or one JSON document, exactly
 * once: events are deduplicated by their key and rejects are keyed by the SHA-256 of the
 * file and the line, so running the same file again adds nothing.
 *
 * Runs on the calling thread; not thread-safe.
 */
#ifndef TALLY_SOURCE_FILE_H
#define TALLY_SOURCE_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "metrics.h"
#include "parse.h"
#include "sink_pg.h"

typedef struct source_file_summary {
    uint64_t read;         /* records parsed: events, Azure Monitor halves, rejects */
    uint64_t inserted;     /* new usage_events rows */
    uint64_t duplicates;   /* events whose key was already stored */
    uint64_t rejected;     /* records rejected (stored once, however often the file is read) */
    uint64_t reattributed; /* unattributed Azure Monitor events given their late caller */
} source_file_summary;

/*
 * Reads path ("-" = standard input) and writes it through the sink in batches of
 * batch_size records, retrying while the database is away. Shows progress on stderr
 * when it is a terminal. Returns 0, or 1 after logging (unreadable input, or stopped
 * before the end); *sum holds what was done either way.
 */
int source_file_run(const char *path, parse_format fmt, int batch_size, sink_pg *sink,
                    ingest_metrics *m, source_file_summary *sum);

/* Prints the summary line tests and scripts parse:
 * "read=N inserted=N duplicates=N rejected=N", then " reattributed=N" when some were. */
void source_file_print_summary(const source_file_summary *sum, FILE *out);

#endif
