/*
 * parse.h - turns one input message (a Kafka message, a file line or a whole JSON
 * document) into canonical items: complete events, halves of an Azure Monitor
 * request waiting to be joined, or rejects with a reason.
 *
 * Parsers are pure: no I/O, no global state, thread-safe. One module per format:
 * parse_usage.c (tally.usage/1), parse_legacy.c (accelerator flat format),
 * parse_monitor.c (Azure Monitor resource logs); parse.c detects the format and
 * dispatches, parse_fields.c holds the helpers the parsers share (case-insensitive keys,
 * numbers as strings, "NA", ISO 8601 and culture-formatted timestamps).
 */
#ifndef TALLY_PARSE_H
#define TALLY_PARSE_H

#include <stddef.h>

#include "event.h"

typedef enum {
    PARSE_AUTO = 0, /* detect per message */
    PARSE_USAGE,
    PARSE_LEGACY,
    PARSE_MONITOR,
} parse_format;

typedef enum {
    ITEM_EVENT,       /* a complete event: store it */
    ITEM_MON_LLM,     /* GatewayLlmLogs: tokens, model, deployment, time; no caller */
    ITEM_MON_GATEWAY, /* GatewayLogs: the caller (user_oid/user_upn/subscription), time */
    ITEM_REJECT,      /* reason says why; raw/raw_len are the bytes to keep */
} parse_item_kind;

#define PARSE_REASON_MAX 160

typedef struct parse_item {
    parse_item_kind kind;
    /* ITEM_EVENT: the whole event.  ITEM_MON_*: request_id is the correlationId and
     * only the fields that category carries are set.  Zeroed for ITEM_REJECT. */
    tally_event ev;
    int sequence; /* ITEM_MON_LLM: sequenceNumber of a chunked record, else 0 */
    char reason[PARSE_REASON_MAX];
    /* ITEM_REJECT: the raw bytes of what was rejected (the whole message, or the one
     * record of a monitor batch); valid only during the callback */
    const char *raw;
    size_t raw_len;
} parse_item;

/* Called once per item, in input order; the item is valid only during the call. */
typedef void (*parse_emit_fn)(void *ctx, const parse_item *item);

/*
 * Parses one message of len bytes (need not be NUL-terminated) in the given
 * format and emits its items. A message that is not JSON, or of no known format,
 * is emitted as one ITEM_REJECT. Returns the number of items emitted.
 */
int parse_message(const char *buf, size_t len, parse_format fmt, parse_emit_fn emit, void *ctx);

/* Parses a format name ("auto", "usage", "legacy", "monitor"); -1 if unknown. */
int parse_format_from_name(const char *name);

#endif
