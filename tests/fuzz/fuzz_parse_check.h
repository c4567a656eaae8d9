/*
 * fuzz_parse_check.h - the emit callback the parser fuzz targets share. It reads every
 * field of every item and traps when an item breaks what the sink relies on: strings
 * NUL-terminated within their arrays and valid UTF-8, counts in range, long_context
 * consistent, rejects with a printable reason, raw bytes readable.
 */
#ifndef TALLY_FUZZ_PARSE_CHECK_H
#define TALLY_FUZZ_PARSE_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

/* Checks that s is a NUL-terminated, valid UTF-8 string within size bytes. */
static inline void fuzz_check_string(const char *s, size_t size)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = memchr(s, '\0', size);
    size_t n, i;

    FUZZ_CHECK(end != NULL);
    while (p < end) {
        if (p[0] < 0x80)
            n = 1;
        else if (p[0] >= 0xc2 && p[0] <= 0xdf)
            n = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
            n = 3;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
            n = 4;
        else
            n = 0;
        FUZZ_CHECK(n > 0 && (size_t)(end - p) >= n);
        for (i = 1; i < n; i++)
            FUZZ_CHECK((p[i] & 0xc0) == 0x80);
        p += n;
    }
}

static inline void fuzz_check_count(int64_t n)
{
    FUZZ_CHECK(n >= 0 && n <= INT64_C(1000000000000));
}

static inline void fuzz_check_event(const tally_event *ev)
{
    int64_t context;

    fuzz_check_string(ev->request_id, sizeof(ev->request_id));
    fuzz_check_string(ev->user_oid, sizeof(ev->user_oid));
    fuzz_check_string(ev->user_upn, sizeof(ev->user_upn));
    fuzz_check_string(ev->tenant_id, sizeof(ev->tenant_id));
    fuzz_check_string(ev->app_id, sizeof(ev->app_id));
    fuzz_check_string(ev->session_id, sizeof(ev->session_id));
    fuzz_check_string(ev->message_id, sizeof(ev->message_id));
    fuzz_check_string(ev->deployment, sizeof(ev->deployment));
    fuzz_check_string(ev->model, sizeof(ev->model));
    fuzz_check_string(ev->gateway, sizeof(ev->gateway));
    fuzz_check_string(ev->region, sizeof(ev->region));
    fuzz_check_string(ev->subscription, sizeof(ev->subscription));
    fuzz_check_string(ev->product, sizeof(ev->product));
    fuzz_check_string(ev->operation, sizeof(ev->operation));
    fuzz_check_string(ev->service_tier, sizeof(ev->service_tier));
    FUZZ_CHECK(ev->status_code >= 0 && ev->status_code <= 999);
    FUZZ_CHECK(ev->is_stream >= -1 && ev->is_stream <= 1);
    fuzz_check_count(ev->input_tokens);
    fuzz_check_count(ev->output_tokens);
    fuzz_check_count(ev->cache_read_tokens);
    fuzz_check_count(ev->cache_write_5m_tokens);
    fuzz_check_count(ev->cache_write_1h_tokens);
    fuzz_check_count(ev->cache_write_unsplit_tokens);
    fuzz_check_count(ev->web_search_requests);
    fuzz_check_count(ev->web_fetch_requests);
    context = ev->input_tokens + ev->cache_read_tokens + ev->cache_write_5m_tokens +
              ev->cache_write_1h_tokens + ev->cache_write_unsplit_tokens;
    FUZZ_CHECK(ev->long_context == (context > EVENT_LONG_CONTEXT_TOKENS));
    FUZZ_CHECK(ev->prompt_tokens == context && ev->prompt_band == event_prompt_band(context));
    FUZZ_CHECK(ev->niterations >= 0 && ev->niterations <= EVENT_ITERATIONS_MAX);
    if (ev->cache_write_unknown)
        FUZZ_CHECK(ev->cache_write_5m_tokens + ev->cache_write_1h_tokens +
                       ev->cache_write_unsplit_tokens ==
                   0);
}

typedef struct fuzz_state {
    int items;
    unsigned sum; /* of the raw bytes, so that every one is read */
} fuzz_state;

static inline void fuzz_emit(void *ctx, const parse_item *item)
{
    fuzz_state *st = ctx;
    const unsigned char *r;
    size_t i;

    st->items++;
    fuzz_check_string(item->reason, sizeof(item->reason));
    switch (item->kind) {
    case ITEM_EVENT:
        FUZZ_CHECK(item->ev.format >= EVENT_FORMAT_USAGE && item->ev.format <= EVENT_FORMAT_LEGACY);
        FUZZ_CHECK(item->ev.request_id[0] != '\0');
        FUZZ_CHECK(item->ev.model[0] != '\0' || item->ev.deployment[0] != '\0');
        fuzz_check_event(&item->ev);
        break;
    case ITEM_MON_LLM:
        FUZZ_CHECK(item->ev.format == EVENT_FORMAT_MONITOR);
        FUZZ_CHECK(item->ev.request_id[0] != '\0');
        FUZZ_CHECK(item->ev.cache_write_unknown);
        FUZZ_CHECK(item->sequence >= 0);
        fuzz_check_event(&item->ev);
        break;
    case ITEM_MON_GATEWAY:
        FUZZ_CHECK(item->ev.format == EVENT_FORMAT_MONITOR);
        FUZZ_CHECK(item->ev.request_id[0] != '\0');
        fuzz_check_event(&item->ev);
        break;
    case ITEM_REJECT:
        FUZZ_CHECK(item->reason[0] != '\0');
        for (r = (const unsigned char *)item->reason; *r; r++)
            FUZZ_CHECK(*r >= 0x20 && *r != 0x7f);
        FUZZ_CHECK(item->raw != NULL || item->raw_len == 0);
        FUZZ_CHECK(item->ev.request_id[0] == '\0');
        r = (const unsigned char *)item->raw;
        for (i = 0; i < item->raw_len; i++)
            st->sum += r[i];
        break;
    default:
        FUZZ_CHECK(0);
    }
}

/* Parses data as one message of the given format and checks every item. */
static inline int fuzz_parse(const uint8_t *data, size_t size, parse_format fmt)
{
    fuzz_state st = {0};
    int n = parse_message((const char *)data, size, fmt, fuzz_emit, &st);

    FUZZ_CHECK(n == st.items);
    return 0;
}

#endif
