#include "csv.h"

#include <stdlib.h>
#include <string.h>

void csv_buf_free(csv_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static bool csv_reserve(csv_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return false;
    need = b->len + extra;
    if (need <= b->cap)
        return true;
    cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void csv_put(csv_buf *b, const char *s, size_t n)
{
    if (n == 0 || !csv_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void csv_field(csv_buf *b, const char *s, size_t n, bool first)
{
    bool quote = false;
    size_t extra = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            extra++;
        if (s[i] == '"' || s[i] == ',' || s[i] == '\r' || s[i] == '\n')
            quote = true;
    }
    if (!csv_reserve(b, n + extra + 3))
        return;
    if (!first)
        b->data[b->len++] = ',';
    if (!quote) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        return;
    }
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            b->data[b->len++] = '"';
        b->data[b->len++] = s[i];
    }
    b->data[b->len++] = '"';
}

void csv_end_row(csv_buf *b)
{
    csv_put(b, "\r\n", 2);
}

void csv_consume(csv_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
