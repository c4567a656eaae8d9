/*
 * prom.h - Prometheus text exposition (format 0.0.4): a registry of counters, gauges
 * and histograms with labels, rendered on demand. Thread-safe: every call takes the
 * registry's mutex, so daemons may update metrics from any thread.
 *
 * Label values are given as an array with one string per label name declared at
 * registration (NULL when the family has no labels); they are escaped on output.
 * Series are created on first use. Histogram observations and gauges are doubles:
 * they carry seconds and sizes, never money.
 */
#ifndef TALLY_PROM_H
#define TALLY_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct prom_registry prom_registry;
typedef struct prom_metric prom_metric;

/* A new empty registry; free with prom_registry_free (frees every metric too). */
prom_registry *prom_registry_new(void);
void prom_registry_free(prom_registry *r);

/*
 * Registers a family. label_names is a comma-separated list ("topic,partition") or
 * NULL. The registry owns the result. Histogram bounds are copied (ascending, +Inf
 * implied).
 */
prom_metric *prom_counter(prom_registry *r, const char *name, const char *help,
                          const char *label_names);
prom_metric *prom_gauge(prom_registry *r, const char *name, const char *help,
                        const char *label_names);
prom_metric *prom_histogram(prom_registry *r, const char *name, const char *help,
                            const char *label_names, const double *bounds, int nbounds);

void prom_counter_add(prom_metric *m, const char *const *labels, uint64_t n);
void prom_gauge_set(prom_metric *m, const char *const *labels, double v);
void prom_histogram_observe(prom_metric *m, const char *const *labels, double v);

/* Removes every series of a family (gauges whose label sets change, e.g. quotas). */
void prom_metric_clear(prom_metric *m);

/*
 * Adds a collector called at the start of every prom_render, outside the registry lock,
 * so that gauges read from elsewhere (the database, librdkafka) are fresh. Up to 8.
 */
void prom_on_collect(prom_registry *r, void (*collect)(void *ctx), void *ctx);

/* Renders every family; returns a malloc'd NUL-terminated text the caller frees, NULL
   (logged) when memory ran out. */
char *prom_render(prom_registry *r, size_t *len);

/* The Content-Type of prom_render's output. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Serves GET /metrics (and 404 elsewhere) on listen ("ADDR:PORT") from a background
 * thread (libmicrohttpd). Returns NULL after logging on failure; stop with
 * prom_http_stop.
 */
typedef struct prom_http prom_http;
prom_http *prom_http_start(prom_registry *r, const char *listen);
void prom_http_stop(prom_http *h);

/* Parses "ADDR:PORT" / "[v6]:PORT" / ":PORT" into host and port; false when malformed. */
bool prom_parse_listen(const char *listen, char *host, size_t hostlen, unsigned short *port);

#endif
