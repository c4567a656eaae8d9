/*
 * event.h - the canonical usage event every parser produces and the sink stores.
 *
 * A tally_event is a plain value: fixed-size strings, no pointers, so it can be
 * copied, zeroed and kept in arrays without ownership questions. Thread-safe
 * (no shared state).
 */
#ifndef TALLY_EVENT_H
#define TALLY_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "tokens.h"

#define EVENT_ID_MAX 128    /* request ids, oids, model and deployment names */
#define EVENT_LABEL_MAX 256 /* upn and other free-text labels */

/* an event whose input including cache exceeds this is a long-context request */
#define EVENT_LONG_CONTEXT_TOKENS 200000

/* the iterations of one request kept at most (usage.iterations[]: advisor, fallback and
 * compaction sub-inferences); a request with more is rejected */
#define EVENT_ITERATIONS_MAX 16
#define EVENT_TYPE_MAX 32

/* one entry of usage.iterations[]: its own model ("" = the response's) and token classes */
typedef struct event_iteration {
    char type[EVENT_TYPE_MAX + 1]; /* "message", "advisor_message", ...; "" if not given */
    char model[EVENT_ID_MAX + 1];
#define EVENT_TOKEN_FIELD(name) int64_t name;
    TALLY_TOKEN_CLASSES(EVENT_TOKEN_FIELD)
#undef EVENT_TOKEN_FIELD
} event_iteration;

/* oid recorded for usage whose caller never became known (monitor join timed out) */
#define EVENT_UNATTRIBUTED "unattributed"

typedef enum {
    EVENT_FORMAT_USAGE = 1,   /* tally.usage/1 */
    EVENT_FORMAT_LEGACY = 2,  /* AI hub gateway accelerator flat format */
    EVENT_FORMAT_MONITOR = 3, /* Azure Monitor GatewayLlmLogs + GatewayLogs */
} event_format;

typedef struct tally_event {
    event_format format;
    char request_id[EVENT_ID_MAX + 1]; /* the event key: APIM request id / correlationId */
    int64_t event_time_us;             /* microseconds since the Unix epoch, UTC */

    char user_oid[EVENT_ID_MAX + 1]; /* Entra object id; the developer */
    char user_upn[EVENT_LABEL_MAX + 1];
    char tenant_id[EVENT_ID_MAX + 1];
    char app_id[EVENT_ID_MAX + 1];
    char session_id[EVENT_ID_MAX + 1];
    char message_id[EVENT_ID_MAX + 1];
    char deployment[EVENT_ID_MAX + 1];
    char model[EVENT_ID_MAX + 1]; /* from the response; "" = take it from the deployment */
    char gateway[EVENT_LABEL_MAX + 1];
    char region[EVENT_LABEL_MAX + 1];
    char subscription[EVENT_LABEL_MAX + 1]; /* APIM subscription id */
    char product[EVENT_LABEL_MAX + 1];
    char operation[EVENT_LABEL_MAX + 1];
    char service_tier[EVENT_ID_MAX + 1];
    char speed[EVENT_ID_MAX + 1];         /* usage.speed as sent ("fast"); "" = standard */
    char inference_geo[EVENT_ID_MAX + 1]; /* usage.inference_geo as sent ("us"); "" = absent */
    int status_code;                      /* 0 = unknown */
    int is_stream;                        /* 1, 0, or -1 = unknown */

    int64_t input_tokens; /* excludes cache reads and writes */
    int64_t output_tokens;
    int64_t cache_read_tokens;
    int64_t cache_write_5m_tokens;
    int64_t cache_write_1h_tokens;
    int64_t cache_write_unsplit_tokens; /* writes whose 5m/1h split is unknown */
    bool cache_write_unknown;           /* the source does not report cache writes at all */
    int64_t web_search_requests;
    int64_t web_fetch_requests;
    bool long_context;     /* input + cache tokens > EVENT_LONG_CONTEXT_TOKENS */
    int64_t prompt_tokens; /* input + cache reads + all cache writes, of the top-level usage */
    int prompt_band;       /* event_prompt_band(prompt_tokens) */
    /* usage.iterations[] when present and not empty: the billed usage is their sum (the
     * top-level token counts stay as sent) */
    int niterations;
    event_iteration iterations[EVENT_ITERATIONS_MAX];
} tally_event;

/* The prompt of a usage u (a tally_event or an event_iteration): input, cache reads and
 * every cache write. */
#define EVENT_PROMPT_TOKENS(u)                                                                     \
    ((u)->input_tokens + (u)->cache_read_tokens + (u)->cache_write_5m_tokens +                     \
     (u)->cache_write_1h_tokens + (u)->cache_write_unsplit_tokens)

/* Sets ev->prompt_tokens, ev->prompt_band and ev->long_context from its token counts. */
void event_finish(tally_event *ev);

/* The prompt band of a prompt of that many tokens: how many TALLY_PROMPT_BREAKPOINTS lie
 * strictly below it (0 = up to 32,000 ... 8 = over 1,000,000). */
int event_prompt_band(int64_t prompt);

#endif
