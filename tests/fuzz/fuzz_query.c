/* libFuzzer target: report/query.c must accept or refuse any bytes without crashing,
 * and whatever it accepts must satisfy the struct's invariants. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    query q;
    query_error err;
    unsigned allowed = size > 0 ? data[0] | (unsigned)(size > 1 ? data[1] & 7 : 7) << 8 : ~0u;

    if (query_parse((const char *)data, size, allowed, &q, &err)) {
        if (q.given & ~allowed)
            abort();
        if (!query_valid_utf8(q.team, strlen(q.team)) || strlen(q.team) > QUERY_VALUE_MAX)
            abort();
        if ((q.given & QP_MONTH) && !query_valid_month(q.month, strlen(q.month)))
            abort();
        if ((q.given & QP_FROM) && q.from.local && !query_valid_date(q.from.text, 10))
            abort();
        if (q.ngroups < 0 || q.ngroups > QG_COUNT)
            abort();
    } else if ((err.status != 400 && err.status != 414) || err.detail[0] == '\0') {
        abort();
    }
    return 0;
}
