#include "event.h"

int event_prompt_band(int64_t prompt)
{
#define EVENT_BREAKPOINT(tokens) INT64_C(tokens),
    static const int64_t breakpoints[] = {TALLY_PROMPT_BREAKPOINTS(EVENT_BREAKPOINT)};
#undef EVENT_BREAKPOINT
    int band = 0;

    while (band < (int)(sizeof(breakpoints) / sizeof(breakpoints[0])) && breakpoints[band] < prompt)
        band++;
    return band;
}

void event_finish(tally_event *ev)
{
    ev->prompt_tokens = EVENT_PROMPT_TOKENS(ev);
    ev->prompt_band = event_prompt_band(ev->prompt_tokens);
    ev->long_context = ev->prompt_tokens > EVENT_LONG_CONTEXT_TOKENS;
}
