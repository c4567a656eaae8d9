/*
 * tokens.h - the one list, in C, of what a usage event counts and what the rollups are
 * keyed by. Every place that spells the token classes out (the event struct's sums, the
 * sink's COPY columns and rollup upserts, the report's summed columns and totals) expands
 * these X-macros instead, so a new class or dimension is added here once. The SQL side
 * has its own single list (schema/functions/, tally_token_classes()).
 *
 * TALLY_TOKEN_CLASSES(X): X(name), one per summed token count, in table column order;
 * name is the column and the tally_event field (int64_t, "<name>").
 * TALLY_REQUEST_COUNTS(X): the other per-request counts summed by the rollups.
 * TALLY_ROLLUP_DIMENSIONS(X): X(name), the key columns of the three rollups after the time
 * bucket, in primary key order (prompt_band is a smallint, the others text; long_context
 * is a plain column beside them, kept equal to the band's lower bound >= 200,000).
 * TALLY_PROMPT_BREAKPOINTS(X): X(tokens), the prompt-size breakpoints in decimal tokens,
 * ascending; a request's band is the number of breakpoints strictly below its prompt
 * (input + cache reads + cache writes), so a band is (lower, upper]. The SQL side is
 * tally_prompt_breakpoints() (schema/functions/15_prompt_bands.sql).
 *
 * Header only, no state.
 */
#ifndef TALLY_TOKENS_H
#define TALLY_TOKENS_H

#define TALLY_TOKEN_CLASSES(X)                                                                     \
    X(input_tokens)                                                                                \
    X(output_tokens)                                                                               \
    X(cache_read_tokens)                                                                           \
    X(cache_write_5m_tokens)                                                                       \
    X(cache_write_1h_tokens)                                                                       \
    X(cache_write_unsplit_tokens)

#define TALLY_REQUEST_COUNTS(X)                                                                    \
    X(cache_unknown_requests)                                                                      \
    X(web_search_requests)                                                                         \
    X(web_fetch_requests)

#define TALLY_ROLLUP_DIMENSIONS(X)                                                                 \
    X(developer_oid)                                                                               \
    X(model)                                                                                       \
    X(deployment)                                                                                  \
    X(prompt_band)                                                                                 \
    X(speed)                                                                                       \
    X(residency)

/* clang-format off */
#define TALLY_PROMPT_BREAKPOINTS(X) X(32000) X(64000) X(100000) X(128000) X(200000) X(256000) X(500000) X(1000000)
/* clang-format on */

/* how many token classes there are */
#define TALLY_COUNT_ONE(name) +1
enum { TALLY_TOKEN_CLASS_COUNT = 0 TALLY_TOKEN_CLASSES(TALLY_COUNT_ONE) };

#endif
