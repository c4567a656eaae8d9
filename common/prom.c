#include "prom.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "membuf.h"

#define PROM_MAX_LABELS 8
#define PROM_MAX_COLLECT 8

typedef enum { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM } prom_type;

typedef struct prom_series {
    char *labels; /* rendered: a="x",b="y" (no braces), "" for none */
    uint64_t count;
    double value;     /* gauge value, or histogram sum */
    uint64_t *bucket; /* histogram: per bound, not cumulative */
    struct prom_series *next;
} prom_series;

struct prom_metric {
    prom_registry *reg;
    prom_type type;
    char *name, *help;
    char *label_names[PROM_MAX_LABELS];
    int nlabels;
    double *bounds;
    int nbounds;
    prom_series *series;
    struct prom_metric *next;
};

struct prom_registry {
    pthread_mutex_t lock;
    prom_metric *first, *last;
    struct {
        void (*fn)(void *ctx);
        void *ctx;
    } collect[PROM_MAX_COLLECT];
    int ncollect;
};

static void prom_escaped(membuf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            membuf_printf(b, "\\\\");
        else if (*s == '\n')
            membuf_printf(b, "\\n");
        else if (*s == '"' && quote)
            membuf_printf(b, "\\\"");
        else
            membuf_putc(b, *s);
    }
}

prom_registry *prom_registry_new(void)
{
    prom_registry *r = calloc(1, sizeof(*r));

    if (r)
        pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void prom_series_free_all(prom_series *s)
{
    while (s) {
        prom_series *next = s->next;
        free(s->labels);
        free(s->bucket);
        free(s);
        s = next;
    }
}

void prom_registry_free(prom_registry *r)
{
    if (!r)
        return;
    for (prom_metric *m = r->first; m;) {
        prom_metric *next = m->next;
        prom_series_free_all(m->series);
        for (int i = 0; i < m->nlabels; i++)
            free(m->label_names[i]);
        free(m->name);
        free(m->help);
        free(m->bounds);
        free(m);
        m = next;
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static prom_metric *prom_register(prom_registry *r, prom_type type, const char *name,
                                  const char *help, const char *label_names)
{
    prom_metric *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->reg = r;
    m->type = type;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    if (label_names && *label_names) {
        char *copy = strdup(label_names), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t && m->nlabels < PROM_MAX_LABELS;
             t = strtok_r(NULL, ",", &save))
            m->label_names[m->nlabels++] = strdup(t);
        free(copy);
    }
    pthread_mutex_lock(&r->lock);
    if (r->last)
        r->last->next = m;
    else
        r->first = m;
    r->last = m;
    pthread_mutex_unlock(&r->lock);
    return m;
}

prom_metric *prom_counter(prom_registry *r, const char *name, const char *help,
                          const char *label_names)
{
    return prom_register(r, PROM_COUNTER, name, help, label_names);
}

prom_metric *prom_gauge(prom_registry *r, const char *name, const char *help,
                        const char *label_names)
{
    return prom_register(r, PROM_GAUGE, name, help, label_names);
}

prom_metric *prom_histogram(prom_registry *r, const char *name, const char *help,
                            const char *label_names, const double *bounds, int nbounds)
{
    prom_metric *m = prom_register(r, PROM_HISTOGRAM, name, help, label_names);

    if (m && nbounds > 0) {
        m->bounds = malloc(sizeof(double) * (size_t)nbounds);
        if (m->bounds) {
            memcpy(m->bounds, bounds, sizeof(double) * (size_t)nbounds);
            m->nbounds = nbounds;
        }
    }
    return m;
}

/* Finds or creates the series for labels; called with the registry locked. */
static prom_series *prom_series_get(prom_metric *m, const char *const *labels)
{
    membuf key = MEMBUF_INIT;
    prom_series *s;

    for (int i = 0; i < m->nlabels; i++) {
        membuf_printf(&key, "%s%s=\"", i ? "," : "", m->label_names[i]);
        prom_escaped(&key, labels && labels[i] ? labels[i] : "", true);
        membuf_printf(&key, "\"");
    }
    if (key.oom)
        goto oom;
    if (!key.data)
        key.data = strdup("");
    if (!key.data)
        return NULL;
    for (s = m->series; s; s = s->next) {
        if (strcmp(s->labels, key.data) == 0) {
            free(key.data);
            return s;
        }
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto oom;
    s->labels = key.data;
    if (m->nbounds)
        s->bucket = calloc((size_t)m->nbounds, sizeof(uint64_t));
    s->next = m->series;
    m->series = s;
    return s;
oom:
    membuf_free(&key);
    return NULL;
}

void prom_counter_add(prom_metric *m, const char *const *labels, uint64_t n)
{
    prom_series *s;

    if (!m)
        return;
    pthread_mutex_lock(&m->reg->lock);
    s = prom_series_get(m, labels);
    if (s)
        s->count += n;
    pthread_mutex_unlock(&m->reg->lock);
}

void prom_gauge_set(prom_metric *m, const char *const *labels, double v)
{
    prom_series *s;

    if (!m)
        return;
    pthread_mutex_lock(&m->reg->lock);
    s = prom_series_get(m, labels);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&m->reg->lock);
}

void prom_histogram_observe(prom_metric *m, const char *const *labels, double v)
{
    prom_series *s;

    if (!m)
        return;
    pthread_mutex_lock(&m->reg->lock);
    s = prom_series_get(m, labels);
    if (s) {
        s->count++;
        s->value += v;
        for (int i = 0; i < m->nbounds && s->bucket; i++) {
            if (v <= m->bounds[i]) {
                s->bucket[i]++;
                break;
            }
        }
    }
    pthread_mutex_unlock(&m->reg->lock);
}

void prom_metric_clear(prom_metric *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->reg->lock);
    prom_series_free_all(m->series);
    m->series = NULL;
    pthread_mutex_unlock(&m->reg->lock);
}

void prom_on_collect(prom_registry *r, void (*collect)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&r->lock);
    if (r->ncollect < PROM_MAX_COLLECT) {
        r->collect[r->ncollect].fn = collect;
        r->collect[r->ncollect].ctx = ctx;
        r->ncollect++;
    } else {
        log_error("too many metric collectors: \"%p\" ignored", ctx);
    }
    pthread_mutex_unlock(&r->lock);
}

/*
 * The shortest text that reads back as v, as Prometheus' own client libraries print it
 * (Go's strconv.FormatFloat(v, 'g', -1, 64)): 0.1 and not 0.10000000000000001, 10 and
 * not 1e+01, so that selectors such as le="0.1" and le="10" match; an exponent from 1e+06
 * and below 1e-04. Values of more than six significant digits print in full (1793471399).
 */
static void prom_double(char *out, size_t len, double v)
{
    if (isnan(v)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, len, "%sInf", v > 0 ? "+" : "-");
        return;
    }
    /* %g switches to an exponent at the precision's power of ten: with the shortest
     * precision alone 10 would be 1e+01, so never below Go's 6 */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, len, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            snprintf(out, len, "%.*g", prec < 6 ? 6 : prec, v);
            return;
        }
    }
}

static void prom_render_labels(membuf *b, const char *labels, const char *extra)
{
    if (!*labels && !extra)
        return;
    membuf_printf(b, "{%s%s%s}", labels, *labels && extra ? "," : "", extra ? extra : "");
}

static void prom_render_metric(membuf *b, const prom_metric *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    char num[32];

    membuf_printf(b, "# HELP %s ", m->name);
    prom_escaped(b, m->help, false);
    membuf_printf(b, "\n# TYPE %s %s\n", m->name, types[m->type]);
    for (const prom_series *s = m->series; s; s = s->next) {
        if (m->type == PROM_COUNTER) {
            membuf_printf(b, "%s", m->name);
            prom_render_labels(b, s->labels, NULL);
            membuf_printf(b, " %llu\n", (unsigned long long)s->count);
        } else if (m->type == PROM_GAUGE) {
            prom_double(num, sizeof(num), s->value);
            membuf_printf(b, "%s", m->name);
            prom_render_labels(b, s->labels, NULL);
            membuf_printf(b, " %s\n", num);
        } else {
            uint64_t cumulative = 0;
            char le[64];
            for (int i = 0; i < m->nbounds; i++) {
                cumulative += s->bucket ? s->bucket[i] : 0;
                prom_double(num, sizeof(num), m->bounds[i]);
                snprintf(le, sizeof(le), "le=\"%s\"", num);
                membuf_printf(b, "%s_bucket", m->name);
                prom_render_labels(b, s->labels, le);
                membuf_printf(b, " %llu\n", (unsigned long long)cumulative);
            }
            membuf_printf(b, "%s_bucket", m->name);
            prom_render_labels(b, s->labels, "le=\"+Inf\"");
            membuf_printf(b, " %llu\n%s_sum", (unsigned long long)s->count, m->name);
            prom_render_labels(b, s->labels, NULL);
            prom_double(num, sizeof(num), s->value);
            membuf_printf(b, " %s\n%s_count", num, m->name);
            prom_render_labels(b, s->labels, NULL);
            membuf_printf(b, " %llu\n", (unsigned long long)s->count);
        }
    }
}

char *prom_render(prom_registry *r, size_t *len)
{
    membuf b = MEMBUF_INIT;
    int n;

    /* collectors are only ever appended, so the first n stay valid without the lock */
    pthread_mutex_lock(&r->lock);
    n = r->ncollect;
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < n; i++)
        r->collect[i].fn(r->collect[i].ctx);

    pthread_mutex_lock(&r->lock);
    for (const prom_metric *m = r->first; m; m = m->next)
        prom_render_metric(&b, m);
    pthread_mutex_unlock(&r->lock);
    if (b.oom) {
        log_error("out of memory rendering the metrics");
        membuf_free(&b);
        return NULL;
    }
    if (!b.data)
        b.data = calloc(1, 1);
    if (len)
        *len = b.len;
    return b.data;
}
