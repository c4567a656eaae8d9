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
 * TALLY_ROLLUP_DIMENSIONS(X): X(name), the key columns of both rollups after the time
 * bucket, in primary key order (text columns; long_context is boolean until the pricing
 * issue replaces it with a prompt band).
 * TALLY_PROMPT_BREAKPOINTS(X): X(tokens), the prompt-size band edges in ascending order
 * (docs/architecture.md; SQL: tally_prompt_breakpoints()). A band is (lower, upper]: a
 * prompt of exactly 200000 tokens is not "over 200000". A price book's tier threshold must
 * be one of them, or the rollups could not tell which requests pay it.
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
    X(long_context)

/* the design spells the list on one line */
/* clang-format off */
#define TALLY_PROMPT_BREAKPOINTS(X) X(32000) X(64000) X(100000) X(128000) X(200000) X(256000) X(500000) X(1000000)
/* clang-format on */

/* how many token classes there are */
#define TALLY_COUNT_ONE(name) +1
enum { TALLY_TOKEN_CLASS_COUNT = 0 TALLY_TOKEN_CLASSES(TALLY_COUNT_ONE) };

#endif
