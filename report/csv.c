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

/* A decimal number as Postgres prints one: optional sign, digits, optional fraction. */
static bool csv_is_number(const char *s, size_t n)
{
    size_t i = 0, digits = 0;

    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (digits > 0 && i < n && s[i] == '.') {
        size_t frac = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            frac++;
        if (frac == 0)
            return false;
    }
    return digits > 0 && i == n;
}

/* prefix: a leading single quote, or 0 for none */
static void csv_field_prefixed(csv_buf *b, const char *s, size_t n, bool first, char prefix)
{
    bool quote = false;
    size_t extra = prefix ? 1 : 0;

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
        if (prefix)
            b->data[b->len++] = prefix;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        return;
    }
    b->data[b->len++] = '"';
    if (prefix)
        b->data[b->len++] = prefix;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            b->data[b->len++] = '"';
        b->data[b->len++] = s[i];
    }
    b->data[b->len++] = '"';
}

void csv_field(csv_buf *b, const char *s, size_t n, bool first)
{
    csv_field_prefixed(b, s, n, first, 0);
}

void csv_text_field(csv_buf *b, const char *s, size_t n, bool first)
{
    /* Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV
       injection"); UPNs and deployment names come from events anyone can send. */
    bool formula = n > 0 && memchr("=+-@\t\r", s[0], 6) != NULL && !csv_is_number(s, n);

    csv_field_prefixed(b, s, n, first, formula ? '\'' : 0);
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
