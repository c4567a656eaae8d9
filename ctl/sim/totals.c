/*
 * totals.c - the expected totals of a simulated stream and their CSV (see totals.h).
 */
#include "totals.h"

#include <stdlib.h>
#include <string.h>

bool totals_init(totals *t, const sim_dev *devs, int ndevs, event_format format)
{
    memset(t, 0, sizeof(*t));
    t->format = format;
    t->ndevs = ndevs;
    t->rows = calloc((size_t)ndevs * WORLD_MODELS, sizeof(*t->rows));
    t->sorted = calloc((size_t)ndevs * WORLD_MODELS, sizeof(*t->sorted));
    if (!t->rows || !t->sorted)
        return false;
    for (int i = 0; i < ndevs; i++) {
        for (int m = 0; m < WORLD_MODELS; m++) {
            t->rows[i * WORLD_MODELS + m].developer_oid = devs[i].oid;
            t->rows[i * WORLD_MODELS + m].model =
                format == EVENT_FORMAT_LEGACY ? world_models[m].legacy : world_models[m].name;
        }
    }
    return true;
}

void totals_cleanup(totals *t)
{
    free(t->rows);
    free(t->sorted);
    t->rows = t->sorted = NULL;
}

void totals_add(totals *t, const sim_req *r)
{
    sim_total *row = &t->rows[r->dev->index * WORLD_MODELS + r->model];
    int64_t context = r->input;

    row->requests++;
    row->input_tokens += r->input;
    row->output_tokens += r->output;
    if (t->format != EVENT_FORMAT_LEGACY) {
        row->cache_read_tokens += r->cache_read;
        context += r->cache_read;
    }
    if (t->format == EVENT_FORMAT_USAGE) {
        row->cache_write_5m_tokens += r->write_5m;
        row->cache_write_1h_tokens += r->write_1h;
        row->web_search_requests += r->web_search;
        context += r->write_5m + r->write_1h;
    }
    row->long_context_requests += context > EVENT_LONG_CONTEXT_TOKENS;
}

static int total_cmp(const void *a, const void *b)
{
    const sim_total *x = a, *y = b;
    int c = strcmp(x->developer_oid, y->developer_oid);

    return c ? c : strcmp(x->model, y->model);
}

int totals_sorted(totals *t, const sim_total **rows)
{
    int n = 0;

    for (int i = 0; i < t->ndevs * WORLD_MODELS; i++) {
        if (t->rows[i].requests > 0)
            t->sorted[n++] = t->rows[i];
    }
    qsort(t->sorted, (size_t)n, sizeof(*t->sorted), total_cmp);
    *rows = t->sorted;
    return n;
}

bool totals_write(totals *t, FILE *out)
{
    const sim_total *rows;
    sim_total all = {.developer_oid = "total", .model = ""};
    int n = totals_sorted(t, &rows);

    fprintf(out, "developer_oid,model,requests,input_tokens,cache_write_5m_tokens,"
                 "cache_write_1h_tokens,cache_read_tokens,output_tokens,web_search_requests,"
                 "long_context_requests\n");
    for (int i = 0; i <= n; i++) {
        const sim_total *row = i < n ? &rows[i] : &all;

        fprintf(out, "%s,%s,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld\n", row->developer_oid,
                row->model, (long long)row->requests, (long long)row->input_tokens,
                (long long)row->cache_write_5m_tokens, (long long)row->cache_write_1h_tokens,
                (long long)row->cache_read_tokens, (long long)row->output_tokens,
                (long long)row->web_search_requests, (long long)row->long_context_requests);
        if (i < n) {
            all.requests += row->requests;
            all.input_tokens += row->input_tokens;
            all.cache_write_5m_tokens += row->cache_write_5m_tokens;
            all.cache_write_1h_tokens += row->cache_write_1h_tokens;
            all.cache_read_tokens += row->cache_read_tokens;
            all.output_tokens += row->output_tokens;
            all.web_search_requests += row->web_search_requests;
            all.long_context_requests += row->long_context_requests;
        }
    }
    return fflush(out) == 0 && !ferror(out);
}
