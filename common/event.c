#include "event.h"

void event_finish(tally_event *ev)
{
    int64_t context = ev->input_tokens + ev->cache_read_tokens + ev->cache_write_5m_tokens +
                      ev->cache_write_1h_tokens + ev->cache_write_unsplit_tokens;

    ev->long_context = context > EVENT_LONG_CONTEXT_TOKENS;
}
