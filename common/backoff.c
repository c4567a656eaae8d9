#include "backoff.h"

long backoff_delay_ms(long first_ms, long max_ms, int failures)
{
    long d = first_ms;

    for (int i = 0; i < failures && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;
    return d < max_ms ? d : max_ms;
}

long backoff_next(backoff *b)
{
    long d = backoff_delay_ms(b->first_ms, b->max_ms, b->failures);

    if (d < b->max_ms)
        b->failures++; /* at the cap it stays: no overflow however long it fails */
    return d;
}

void backoff_reset(backoff *b)
{
    b->failures = 0;
}
