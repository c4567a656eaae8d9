/*
 * html.h - HTML pages as text, for the overview page (report/routes/overview.c): a
 * formatter that escapes every value it is given, horizontal bar charts as inline SVG,
 * and the page frame with its one inline style sheet (no external asset, no script: the
 * page works under HTML_CSP). Pure, no I/O; thread-safe (no state).
 */
#ifndef TALLY_HTML_H
#define TALLY_HTML_H

#include "membuf.h"

/* The Content-Security-Policy of every page: nothing loads from anywhere. */
#define HTML_CSP                                                                                   \
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "           \
    "frame-ancestors 'none'; base-uri 'none'"

/* The longest bar of a chart: bar lengths are given in 0..HTML_BAR_FULL. */
#define HTML_BAR_FULL 1000

/*
 * Appends fmt with its conversions filled: markup comes only from fmt; %s arguments are
 * text, escaped (& < > " '), NULL as ""; %d, %ld, %lld as numbers; %% is '%'. Any other
 * conversion is a programming error and appends nothing.
 */
void html_put(membuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s percent-encoded for a query string value (all but A-Z a-z 0-9 - . _ ~). */
void html_url_value(membuf *b, const char *s);

/* One bar: label and value are text; key, usd and requests become data- attributes. */
typedef struct html_bar {
    const char *key;      /* the group's value, exactly as the API gives it */
    const char *label;    /* shown, cut after HTML_LABEL_CHARS characters */
    const char *value;    /* shown after the bar ("$12.34") */
    const char *usd;      /* data-usd, or NULL */
    const char *requests; /* data-requests, or NULL */
    int length;           /* 0..HTML_BAR_FULL */
} html_bar;

#define HTML_LABEL_CHARS 26

/* An inline SVG chart of n horizontal bars (id is the svg's id), "none" when n is 0. */
void html_bar_chart(membuf *b, const char *id, const char *title, const html_bar *bars, int n);

/* The document up to <body> (title is text), and its end. */
void html_page_begin(membuf *b, const char *title);
void html_page_end(membuf *b);

#endif
