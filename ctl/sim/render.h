/*
 * render.h - one simulated request as the message APIM would deliver it: a tally.usage/1
 * object, a legacy accelerator record, or Azure Monitor resource logs (GatewayLlmLogs and
 * GatewayLogs), malformed on purpose when the request carries a defect. Keys and values
 * never need JSON escaping. Pure, no I/O; thread-safe (all state is passed in).
 */
#ifndef TALLY_SIM_RENDER_H
#define TALLY_SIM_RENDER_H

#include <stdint.h>

#include "event.h"
#include "membuf.h"
#include "world.h"

#define RENDER_SPLIT 1   /* side holds the late half of a monitor request, a line of its own */
#define RENDER_CHUNKED 2 /* the monitor request's LLM log came in two chunks */

/*
 * Renders r in format into line (emptied first); id_key is the namespace of request
 * and message ids, rng the stream that decides how a monitor request is laid out. A
 * monitor request may be split: its second half goes into side (emptied first).
 * Returns RENDER_* flags. Out of memory shows as oom on line or side.
 */
int render_request(event_format format, uint64_t id_key, uint64_t *rng, const sim_req *r,
                   membuf *line, membuf *side);

/* Puts the late half of a split monitor request (side) back into its line, as if it had
 * not been split. */
void render_join(membuf *line, const membuf *side);

#endif
