#include "csv.h"

#include <string.h>

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
static void csv_field_prefixed(membuf *b, const char *s, size_t n, bool first, char prefix)
{
    bool quote = false;
    size_t extra = prefix ? 1 : 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            extra++;
        if (s[i] == '"' || s[i] == ',' || s[i] == '\r' || s[i] == '\n')
            quote = true;
    }
    if (!membuf_reserve(b, n + extra + 3))
        return;
    if (!first)
        b->data[b->len++] = ',';
    if (!quote) {
        if (prefix)
            b->data[b->len++] = prefix;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
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
    b->data[b->len] = '\0';
}

void csv_field(membuf *b, const char *s, size_t n, bool first)
{
    csv_field_prefixed(b, s, n, first, 0);
}

void csv_text_field(membuf *b, const char *s, size_t n, bool first)
{
    /* Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV
       injection"); UPNs and deployment names come from events anyone can send. */
    bool formula = n > 0 && memchr("=+-@\t\r", s[0], 6) != NULL && !csv_is_number(s, n);
    char cell[3 + 2 * CSV_GUARD_MAX];
    size_t len = 0;

    if (!formula || n > CSV_GUARD_MAX) {
        csv_field_prefixed(b, s, n, first, formula ? '\'' : 0);
        return;
    }
    /* the string constant ="…" (quotes doubled): the cell shows the value itself, where a
       leading quote stays visible after a CSV import (LibreOffice shows '-ops) */
    cell[len++] = '=';
    cell[len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            cell[len++] = '"';
        cell[len++] = s[i];
    }
    cell[len++] = '"';
    csv_field_prefixed(b, cell, len, first, 0);
}

void csv_end_row(membuf *b)
{
    membuf_put(b, "\r\n", 2);
}
