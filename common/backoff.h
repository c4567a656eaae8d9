/*
 * backoff.h - the one retry delay of the code base: exponential, doubling from a first
 * delay up to a cap, no jitter. Used wherever a daemon waits for a dependency to come
 * back (Postgres connects and commits, the stored offsets, Entra ID token requests).
 *
 * Pure: no clock, no sleeping (callers wait with sig_sleep_ms or by polling); a backoff
 * belongs to one thread.
 */
#ifndef TALLY_BACKOFF_H
#define TALLY_BACKOFF_H

typedef struct backoff {
    long first_ms, max_ms;
    int failures; /* since the last success */
} backoff;

#define BACKOFF_INIT(first_ms, max_ms)                                                             \
    {                                                                                              \
        (first_ms), (max_ms), 0                                                                    \
    }

/* how every wait for Postgres backs off (connects, commits, reading the stored offsets) */
#define BACKOFF_PG_FIRST_MS 100
#define BACKOFF_PG_MAX_MS 5000

/* The delay after failures earlier failures: first_ms doubled that many times, at most
 * max_ms (first_ms for 0). */
long backoff_delay_ms(long first_ms, long max_ms, int failures);

/* Counts a failure and returns how long to wait before the next attempt. */
long backoff_next(backoff *b);

/* After a success: the next failure waits first_ms again. */
void backoff_reset(backoff *b);

#endif
