#include "membuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool membuf_reserve(membuf *b, size_t n)
{
    size_t cap;
    char *grown;

    if (b->oom)
        return false;
    if (n < b->cap - b->len && b->data)
        return true;
    if (n > (size_t)-1 / 2 - b->len - 1) {
        b->oom = true;
        return false;
    }
    cap = b->cap ? b->cap : 256;
    while (cap <= b->len + n)
        cap *= 2;
    grown = realloc(b->data, cap);
    if (!grown) {
        b->oom = true;
        return false;
    }
    b->data = grown;
    b->cap = cap;
    return true;
}

void membuf_put(membuf *b, const void *s, size_t n)
{
    if (!membuf_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void membuf_puts(membuf *b, const char *s)
{
    membuf_put(b, s, strlen(s));
}

void membuf_putc(membuf *b, char c)
{
    membuf_put(b, &c, 1);
}

void membuf_printf(membuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!membuf_reserve(b, 64))
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (!membuf_reserve(b, (size_t)n))
            return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void membuf_consume(membuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void membuf_reset(membuf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data)
        b->data[0] = '\0';
}

void membuf_free(membuf *b)
{
    if (!b)
        return;
    free(b->data);
    *b = (membuf)MEMBUF_INIT;
}

char *membuf_steal(membuf *b, size_t *len)
{
    char *data = b->oom || !b->len ? NULL : b->data;

    if (len)
        *len = data ? b->len : 0;
    if (!data)
        free(b->data);
    *b = (membuf)MEMBUF_INIT;
    return data;
}
