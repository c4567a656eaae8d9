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

/* Breakpoints strictly below prompt: a band is (lower, upper], "over T" pays the tier. */
static int prompt_band(int64_t prompt)
{
    int b = 0;

    while (b < WORLD_BREAKPOINTS && world_breakpoints[b] < prompt)
        b++;
    return b;
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
        /* only tally.usage/1 carries Anthropic's usage object whole */
        row->fast_requests += r->fast;
        row->geo_us_requests += r->geo_us;
        if (r->advisor) {
            row->iteration_requests++;
            row->advisor_prompt_tokens += r->adv_input + r->adv_cache_read + r->adv_write_5m;
            row->advisor_output_tokens += r->adv_output;
        }
    }
    row->long_context_requests += context > EVENT_LONG_CONTEXT_TOKENS;
    row->prompt_tokens += context;
    row->band_requests[prompt_band(context)]++;
}

/* Adds the counts of src to dst. */
static void total_sum(sim_total *dst, const sim_total *src)
{
    dst->requests += src->requests;
    dst->input_tokens += src->input_tokens;
    dst->cache_write_5m_tokens += src->cache_write_5m_tokens;
    dst->cache_write_1h_tokens += src->cache_write_1h_tokens;
    dst->cache_read_tokens += src->cache_read_tokens;
    dst->output_tokens += src->output_tokens;
    dst->web_search_requests += src->web_search_requests;
    dst->long_context_requests += src->long_context_requests;
    dst->prompt_tokens += src->prompt_tokens;
    dst->fast_requests += src->fast_requests;
    dst->geo_us_requests += src->geo_us_requests;
    dst->iteration_requests += src->iteration_requests;
    dst->advisor_prompt_tokens += src->advisor_prompt_tokens;
    dst->advisor_output_tokens += src->advisor_output_tokens;
    for (int b = 0; b < SIM_BANDS; b++)
        dst->band_requests[b] += src->band_requests[b];
}

static int total_cmp(const void *a, const void *b)
{
    const sim_total *x = a, *y = b;
    int c = strcmp(x->developer_oid, y->developer_oid);

    return c ? c : strcmp(x->model, y->model);
}

int totals_sorted(totals *t, const sim_total **rows)
{
    int n = 0, kept = 0;

    for (int i = 0; i < t->ndevs * WORLD_MODELS; i++) {
        if (t->rows[i].requests > 0)
            t->sorted[n++] = t->rows[i];
    }
    qsort(t->sorted, (size_t)n, sizeof(*t->sorted), total_cmp);
    /* one row per developer x model: a model served by two deployments is one row */
    for (int i = 0; i < n; i++) {
        if (kept > 0 && total_cmp(&t->sorted[kept - 1], &t->sorted[i]) == 0)
            total_sum(&t->sorted[kept - 1], &t->sorted[i]);
        else
            t->sorted[kept++] = t->sorted[i];
    }
    *rows = t->sorted;
    return kept;
}

bool totals_write(totals *t, FILE *out)
{
    const sim_total *rows;
    sim_total all = {.developer_oid = "total", .model = ""};
    int n = totals_sorted(t, &rows);

    fprintf(out, "developer_oid,model,requests,input_tokens,cache_write_5m_tokens,"
                 "cache_write_1h_tokens,cache_read_tokens,output_tokens,web_search_requests,"
                 "long_context_requests,prompt_tokens,fast_requests,geo_us_requests,"
                 "iteration_requests,advisor_prompt_tokens,advisor_output_tokens");
    for (int b = 0; b < SIM_BANDS; b++)
        fprintf(out, ",band_%d_requests", b);
    fputc('\n', out);
    for (int i = 0; i <= n; i++) {
        const sim_total *row = i < n ? &rows[i] : &all;

        fprintf(out, "%s,%s,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld",
                row->developer_oid, row->model, (long long)row->requests,
                (long long)row->input_tokens, (long long)row->cache_write_5m_tokens,
                (long long)row->cache_write_1h_tokens, (long long)row->cache_read_tokens,
                (long long)row->output_tokens, (long long)row->web_search_requests,
                (long long)row->long_context_requests, (long long)row->prompt_tokens,
                (long long)row->fast_requests, (long long)row->geo_us_requests,
                (long long)row->iteration_requests, (long long)row->advisor_prompt_tokens,
                (long long)row->advisor_output_tokens);
        for (int b = 0; b < SIM_BANDS; b++)
            fprintf(out, ",%lld", (long long)row->band_requests[b]);
        fputc('\n', out);
        if (i < n)
            total_sum(&all, row);
    }
    return fflush(out) == 0 && !ferror(out);
}
