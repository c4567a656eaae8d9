/*
 * sim.h - the traffic generator (libtally_sim): realistic Claude Code traffic through
 * APIM, as the messages the ingest daemon consumes (tally.usage/1, the legacy
 * accelerator format or Azure Monitor resource logs), for the quick start, tests and
 * benchmarks (tallyctl simulate). The library is built over common/ only.
 *
 * Developers have stable oids, upns, teams and a home time zone; they work in sessions
 * of many requests during their working hours, each turn re-reading a growing cached
 * context. A small share of lines are exact re-deliveries of an earlier line or
 * malformed messages the daemon must reject. The stream is a pure function of the
 * options: the same seed gives the same bytes (own PRNG, integer arithmetic only).
 *
 * Lines are pulled one at a time with sim_next, so a million events need no more
 * memory than the developers' state. The expected totals of the valid distinct events,
 * as the parsers will read them, are kept alongside, so tests can assert exact sums
 * without re-implementing the generator. A sim is not thread-safe; separate sims are.
 */
#ifndef TALLY_SIM_H
#define TALLY_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "event.h"

#define SIM_PPM 1000000 /* probabilities are in parts per million */
#define SIM_BANDS 9     /* prompt bands: 8 breakpoints, from 32,000 to 1,000,000 */

typedef struct sim_options {
    int developers;      /* > 0 */
    int days;            /* > 0: working days are planned on each calendar day */
    uint64_t seed;       /* everything is derived from it */
    event_format format; /* EVENT_FORMAT_USAGE, _LEGACY or _MONITOR */
    int64_t start_us;    /* UTC midnight of the first day, microseconds since the epoch */
    int duplicates_ppm;  /* share of valid lines delivered a second time, later */
    int malformed_ppm;   /* per valid event, chance of an extra malformed line */
    int teams;           /* > 0 */
    int64_t max_events;  /* stop after this many valid distinct events; 0 = no limit */
} sim_options;

/* Fills o with the defaults of tallyctl simulate (20 developers, 7 days from
 * 2026-11-02, seed 1, usage format, 1 % duplicates, 0.5 % malformed, 3 teams). */
void sim_options_default(sim_options *o);

typedef struct sim_stats {
    int64_t lines;      /* lines returned so far */
    int64_t events;     /* distinct valid events (requests) among them */
    int64_t duplicates; /* lines that repeat an earlier line byte for byte */
    int64_t malformed;  /* lines that must become exactly one reject each */
    int64_t deferred;   /* monitor: requests whose two categories came on separate lines */
    int64_t chunked;    /* monitor: requests whose LLM log came in two chunks */
} sim_stats;

/* The expected sums of one developer × model over the valid distinct events, as the
 * parser of the chosen format reads them (classes the format does not carry are 0). */
typedef struct sim_total {
    const char *developer_oid;
    const char *model;
    int64_t requests;
    int64_t input_tokens;
    int64_t cache_write_5m_tokens;
    int64_t cache_write_1h_tokens;
    int64_t cache_read_tokens;
    int64_t output_tokens;
    int64_t web_search_requests;
    int64_t long_context_requests;
    /* the columns that pricing needs, after the ones above */
    int64_t prompt_tokens;      /* input + cache reads + cache writes, as the format carries them */
    int64_t fast_requests;      /* usage.speed "fast" */
    int64_t geo_us_requests;    /* usage.inference_geo "us" */
    int64_t iteration_requests; /* with usage.iterations (an advisor iteration) */
    int64_t advisor_prompt_tokens, advisor_output_tokens; /* the advisor iterations' */
    /* requests per prompt band: band b = breakpoints strictly below the prompt, so
     * band 0 = (.., 32000], 1 = (32000, 64000], …, 7 = (500000, 1000000], 8 = over */
    int64_t band_requests[SIM_BANDS];
} sim_total;

typedef struct sim sim;

/* A new simulation, or NULL (with a message in err) for invalid options or no memory.
 * Free it with sim_free. */
sim *sim_new(const sim_options *o, char *err, size_t errlen);

void sim_free(sim *s);

/*
 * The next line (no newline; valid until the next call or sim_free) in *line and *len.
 * Returns false at the end of the stream.
 */
bool sim_next(sim *s, const char **line, size_t *len);

/* Why sim_next returned false early ("out of memory"), or NULL at the true end. */
const char *sim_error(const sim *s);

/* Counts so far; final after sim_next returned false. */
const sim_stats *sim_get_stats(const sim *s);

/* The developer × model totals so far, ordered by developer oid then model (bytewise);
 * rows with no requests are left out. Returns how many; the rows stay valid until the
 * next sim_next or sim_free. */
int sim_totals(sim *s, const sim_total **rows);

/* Writes the totals as CSV with a header and a final "total" row; false on a write error.
 * The columns: developer_oid, model, requests, the token classes, web_search_requests,
 * long_context_requests, then prompt_tokens, fast_requests, geo_us_requests,
 * iteration_requests, advisor_prompt_tokens, advisor_output_tokens and
 * band_0_requests … band_8_requests. */
bool sim_totals_write(sim *s, FILE *out);

/* Writes the developers as tallyctl developers import expects
 * (oid,upn,display_name,team,cost_center); false on a write error. */
bool sim_roster_write(const sim *s, FILE *out);

/* Parses a percentage such as "1", "0.5" or "10%" into parts per million; -1 if invalid
 * or above 100. */
int sim_parse_percent(const char *s);

/* The format called name (usage, legacy or monitor, in any case), or -1. */
int sim_format_from_name(const char *name);

/* Parses YYYY-MM-DD into microseconds since the epoch at UTC midnight; false if invalid. */
bool sim_parse_date(const char *s, int64_t *out_us);

#endif
