/*
 * Tests of the traffic generator (ctl/sim/sim.c) against the ingest parsers: the stream is a pure
 * function of the options, every line parses as the format promises, re-deliveries and malformed
 * lines are exactly as many as the stats say, and the totals equal what the parsers read from the
 * lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "sim/sim.h"

/* ---- what the parsers read from one simulated stream ---- */

typedef struct rec {
    parse_item_kind kind;
    int sequence;
    char id[EVENT_ID_MAX + 1];
    char oid[EVENT_ID_MAX + 1];
    char model[EVENT_ID_MAX + 1];
    int64_t input, output, read, w5m, w1h, unsplit, web;
    bool long_context, write_unknown;
} rec;

typedef struct seen {
    rec *recs;
    size_t n, cap;
    uint64_t *line_hashes;
    size_t nlines, lines_cap;
    int64_t malformed; /* lines that gave exactly one reject */
    int line_items, line_rejects;
} seen;

static uint64_t fnv1a(uint64_t h, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static void on_item(void *ctx, const parse_item *item)
{
    seen *s = ctx;
    rec *r;

    s->line_items++;
    if (item->kind == ITEM_REJECT) {
        s->line_rejects++;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->recs = realloc(s->recs, s->cap * sizeof(*s->recs));
        assert_non_null(s->recs);
    }
    r = &s->recs[s->n++];
    memset(r, 0, sizeof(*r));
    r->kind = item->kind;
    r->sequence = item->sequence;
    strcpy(r->id, item->ev.request_id);
    strcpy(r->oid, item->ev.user_oid);
    strcpy(r->model, item->ev.model);
    r->input = item->ev.input_tokens;
    r->output = item->ev.output_tokens;
    r->read = item->ev.cache_read_tokens;
    r->w5m = item->ev.cache_write_5m_tokens;
    r->w1h = item->ev.cache_write_1h_tokens;
    r->unsplit = item->ev.cache_write_unsplit_tokens;
    r->web = item->ev.web_search_requests;
    r->long_context = item->ev.long_context;
    r->write_unknown = item->ev.cache_write_unknown;
}

/* Runs a whole simulation through parse_message; returns the stream's hash. */
static uint64_t run(const sim_options *o, seen *out, sim **keep)
{
    char err[128];
    sim *s = sim_new(o, err, sizeof(err));
    const char *line;
    size_t len;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    int items;

    assert_non_null(s);
    memset(out, 0, sizeof(*out));
    while (sim_next(s, &line, &len)) {
        assert_true(len > 0);
        assert_null(memchr(line, '\n', len));
        h = fnv1a(fnv1a(h, line, len), "\n", 1);
        if (out->nlines == out->lines_cap) {
            out->lines_cap = out->lines_cap ? out->lines_cap * 2 : 1024;
            out->line_hashes = realloc(out->line_hashes, out->lines_cap * sizeof(uint64_t));
            assert_non_null(out->line_hashes);
        }
        out->line_items = out->line_rejects = 0;
        /* detection must agree with the format the simulator promises */
        items = parse_message(line, len, PARSE_AUTO, on_item, out);
        assert_int_equal(items, out->line_items);
        assert_true(out->line_items > 0);
        if (out->line_rejects > 0) {
            /* a malformed line is one reject and nothing else */
            assert_int_equal(out->line_items, 1);
            out->malformed++;
        } else {
            /* malformed lines may repeat by chance; valid ones only when re-delivered */
            out->line_hashes[out->nlines++] = fnv1a(UINT64_C(0xcbf29ce484222325), line, len);
        }
    }
    assert_int_equal(sim_get_stats(s)->lines, (int64_t)out->nlines + out->malformed);
    if (keep)
        *keep = s;
    else
        sim_free(s);
    return h;
}

static void seen_free(seen *s)
{
    free(s->recs);
    free(s->line_hashes);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int cmp_rec(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    if (c)
        return c;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    return x->sequence - y->sequence;
}

/* Lines that repeat an earlier line byte for byte. */
static int64_t repeated_lines(seen *s)
{
    int64_t n = 0;

    qsort(s->line_hashes, s->nlines, sizeof(uint64_t), cmp_u64);
    for (size_t i = 1; i < s->nlines; i++)
        n += s->line_hashes[i] == s->line_hashes[i - 1];
    return n;
}

static bool same_tokens(const rec *a, const rec *b)
{
    return a->input == b->input && a->output == b->output && a->read == b->read &&
           a->w5m == b->w5m && a->w1h == b->w1h && strcmp(a->oid, b->oid) == 0 &&
           strcmp(a->model, b->model) == 0;
}

/* Adds one distinct event to the totals computed from the parsed lines. */
static void add_total(sim_total *t, int *nt, int max, const rec *ev, const char *oid)
{
    int i;

    for (i = 0; i < *nt; i++) {
        if (strcmp(t[i].developer_oid, oid) == 0 && strcmp(t[i].model, ev->model) == 0)
            break;
    }
    if (i == *nt) {
        assert_true(*nt < max);
        memset(&t[i], 0, sizeof(t[i]));
        t[i].developer_oid = oid;
        t[i].model = ev->model;
        (*nt)++;
    }
    t[i].requests++;
    t[i].input_tokens += ev->input;
    t[i].output_tokens += ev->output;
    t[i].cache_read_tokens += ev->read;
    t[i].cache_write_5m_tokens += ev->w5m;
    t[i].cache_write_1h_tokens += ev->w1h;
    t[i].web_search_requests += ev->web;
    t[i].long_context_requests += ev->long_context;
}

static int cmp_total(const void *a, const void *b)
{
    const sim_total *x = a, *y = b;
    int c = strcmp(x->developer_oid, y->developer_oid);

    return c ? c : strcmp(x->model, y->model);
}

/*
 * Checks one simulation end to end: counts in the stats against what was seen, and
 * the totals against the distinct events the parser read (monitor: LLM logs joined
 * with their caller, chunks counted once).
 */
static void check_stream(const sim_options *o)
{
    seen s;
    sim *sm;
    const sim_stats *st;
    const sim_total *rows;
    sim_total *mine;
    int nrows, nmine = 0, max = o->developers * 8;
    int64_t distinct = 0;
    size_t i, j;

    run(o, &s, &sm);
    st = sim_get_stats(sm);
    assert_int_equal(s.malformed, st->malformed);
    assert_int_equal(repeated_lines(&s), st->duplicates);
    assert_int_equal(st->lines, st->events + st->duplicates + st->malformed + st->deferred);
    assert_true(st->events > 0);

    mine = calloc((size_t)max, sizeof(*mine));
    assert_non_null(mine);
    qsort(s.recs, s.n, sizeof(*s.recs), cmp_rec);
    for (i = 0; i < s.n; i = j) {
        const rec *ev = &s.recs[i];
        const char *oid = ev->oid;
        bool chunk1 = false;

        /* every record of one request id: its copies, chunks and the caller */
        for (j = i + 1; j < s.n && strcmp(s.recs[j].id, ev->id) == 0; j++) {
            const rec *r = &s.recs[j];

            if (r->kind == ev->kind && r->sequence == ev->sequence) {
                assert_true(same_tokens(r, &s.recs[j - 1]));
            } else if (r->kind == ITEM_MON_LLM) {
                assert_int_equal(r->sequence, 1);
                assert_true(same_tokens(r, ev));
                chunk1 = true;
            } else {
                assert_int_equal(r->kind, ITEM_MON_GATEWAY);
                oid = r->oid;
            }
        }
        if (o->format == EVENT_FORMAT_MONITOR) {
            assert_int_equal(ev->kind, ITEM_MON_LLM);
            assert_int_equal(ev->sequence, 0);
            assert_true(ev->write_unknown);
            /* the caller was delivered too */
            assert_true(oid != ev->oid);
            (void)chunk1;
        } else {
            assert_int_equal(ev->kind, ITEM_EVENT);
            assert_true(ev->write_unknown == (o->format == EVENT_FORMAT_LEGACY));
            assert_int_equal(ev->unsplit, 0);
        }
        assert_true(oid[0] != '\0');
        add_total(mine, &nmine, max, ev, oid);
        distinct++;
    }
    assert_int_equal(distinct, st->events);

    nrows = sim_totals(sm, &rows);
    qsort(mine, (size_t)nmine, sizeof(*mine), cmp_total);
    assert_int_equal(nrows, nmine);
    for (int k = 0; k < nrows; k++) {
        assert_string_equal(rows[k].developer_oid, mine[k].developer_oid);
        assert_string_equal(rows[k].model, mine[k].model);
        assert_int_equal(rows[k].requests, mine[k].requests);
        assert_int_equal(rows[k].input_tokens, mine[k].input_tokens);
        assert_int_equal(rows[k].output_tokens, mine[k].output_tokens);
        assert_int_equal(rows[k].cache_read_tokens, mine[k].cache_read_tokens);
        assert_int_equal(rows[k].cache_write_5m_tokens, mine[k].cache_write_5m_tokens);
        assert_int_equal(rows[k].cache_write_1h_tokens, mine[k].cache_write_1h_tokens);
        assert_int_equal(rows[k].web_search_requests, mine[k].web_search_requests);
        assert_int_equal(rows[k].long_context_requests, mine[k].long_context_requests);
    }
    free(mine);
    sim_free(sm);
    seen_free(&s);
}

static void options(sim_options *o, event_format fmt)
{
    sim_options_default(o);
    o->developers = 6;
    o->days = 5;
    o->seed = 42;
    o->format = fmt;
    o->duplicates_ppm = 50000; /* 5 % */
    o->malformed_ppm = 20000;  /* 2 % */
}

static void test_usage_stream(void **state)
{
    sim_options o;

    (void)state;
    options(&o, EVENT_FORMAT_USAGE);
    check_stream(&o);
}

static void test_legacy_stream(void **state)
{
    sim_options o;

    (void)state;
    options(&o, EVENT_FORMAT_LEGACY);
    check_stream(&o);
}

static void test_monitor_stream(void **state)
{
    sim_options o;
    char err[128];
    sim *s;
    const char *line;
    size_t len;

    (void)state;
    options(&o, EVENT_FORMAT_MONITOR);
    check_stream(&o);
    /* the traps the parser must handle appear: late halves and chunked LLM logs */
    o.developers = 20;
    s = sim_new(&o, err, sizeof(err));
    assert_non_null(s);
    while (sim_next(s, &line, &len))
        ;
    assert_true(sim_get_stats(s)->deferred > 0);
    assert_true(sim_get_stats(s)->chunked > 0);
    sim_free(s);
}

static void test_deterministic(void **state)
{
    sim_options o;
    seen a, b;
    uint64_t h1, h2;

    (void)state;
    for (int f = EVENT_FORMAT_USAGE; f <= EVENT_FORMAT_MONITOR; f++) {
        options(&o, (event_format)f);
        o.developers = 4;
        o.days = 3;
        h1 = run(&o, &a, NULL);
        h2 = run(&o, &b, NULL);
        assert_true(h1 == h2);
        assert_int_equal(a.nlines, b.nlines);
        assert_int_equal(a.malformed, b.malformed);
        seen_free(&b);
        o.seed = 43;
        h2 = run(&o, &b, NULL);
        assert_true(h1 != h2);
        seen_free(&a);
        seen_free(&b);
    }
}

#define GOLDEN_EVENTS 869
#define GOLDEN_DUPLICATES 39
#define GOLDEN_MALFORMED 18
#define GOLDEN_HASH UINT64_C(0x8b4ef76bed3983f2)

/* Pins the stream of one seed, so a change of platform, compiler or sanitizer that
 * alters it is caught. Update the numbers only when the generator changes on purpose. */
static void test_golden(void **state)
{
    sim_options o;
    seen s;
    char err[128];
    sim *sm;
    uint64_t h;
    const sim_stats *st;

    (void)state;
    options(&o, EVENT_FORMAT_USAGE);
    o.developers = 3;
    o.days = 2;
    h = run(&o, &s, NULL);
    seen_free(&s);
    sm = sim_new(&o, err, sizeof(err));
    assert_non_null(sm);
    for (const char *line; sim_next(sm, &line, &(size_t){0});)
        ;
    st = sim_get_stats(sm);
    printf("golden: hash=%016llx lines=%lld events=%lld duplicates=%lld malformed=%lld\n",
           (unsigned long long)h, (long long)st->lines, (long long)st->events,
           (long long)st->duplicates, (long long)st->malformed);
    assert_int_equal(st->events, GOLDEN_EVENTS);
    assert_int_equal(st->duplicates, GOLDEN_DUPLICATES);
    assert_int_equal(st->malformed, GOLDEN_MALFORMED);
    assert_true(h == GOLDEN_HASH);
    sim_free(sm);
}

static void test_max_events(void **state)
{
    sim_options o;
    seen s;
    sim *sm;

    (void)state;
    options(&o, EVENT_FORMAT_MONITOR);
    o.days = 30;
    o.max_events = 1234;
    run(&o, &s, &sm);
    assert_int_equal(sim_get_stats(sm)->events, 1234);
    sim_free(sm);
    seen_free(&s);
}

/* The traffic looks like today's Claude Code: cache reads dominate, mostly 5-minute
 * writes, mostly Opus 5.5 and Sonnet 5.5, Haiku 5.5 subagents with prompts one under, at
 * and one over its 100,000 threshold, the 4.x models rare, some fast mode, some US-only
 * inference, some advisor iterations, long prompts on the 1M-context models. */
static void test_realism(void **state)
{
    sim_options o;
    char err[128];
    sim *s;
    const sim_total *rows;
    int64_t read = 0, written5 = 0, written1 = 0, input = 0, longc = 0, main55 = 0, old = 0,
            haiku = 0, all = 0, fast = 0, us = 0, advised = 0, bands[SIM_BANDS] = {0};
    int64_t haiku_edge[3] = {0};
    int n;

    (void)state;
    sim_options_default(&o);
    s = sim_new(&o, err, sizeof(err));
    assert_non_null(s);
    for (const char *line; sim_next(s, &line, &(size_t){0});)
        ;
    n = sim_totals(s, &rows);
    for (int i = 0; i < n; i++) {
        read += rows[i].cache_read_tokens;
        written5 += rows[i].cache_write_5m_tokens;
        written1 += rows[i].cache_write_1h_tokens;
        input += rows[i].input_tokens;
        longc += rows[i].long_context_requests;
        all += rows[i].requests;
        fast += rows[i].fast_requests;
        us += rows[i].geo_us_requests;
        advised += rows[i].iteration_requests;
        for (int b = 0; b < SIM_BANDS; b++)
            bands[b] += rows[i].band_requests[b];
        if (strcmp(rows[i].model, "claude-opus-5-5") == 0 ||
            strcmp(rows[i].model, "claude-sonnet-5-5") == 0)
            main55 += rows[i].requests;
        else if (strstr(rows[i].model, "-4-"))
            old += rows[i].requests;
        else if (strcmp(rows[i].model, "claude-haiku-5-5") == 0)
            haiku += rows[i].requests;
        if (strcmp(rows[i].model, "claude-haiku-5-5") == 0) {
            haiku_edge[0] += rows[i].band_requests[2];
            haiku_edge[1] += rows[i].band_requests[3];
        }
    }
    assert_true(read > 4 * (input + written5 + written1));
    assert_true(written5 > 3 * written1 && written1 > 0);
    assert_true(main55 > all / 2 && haiku > all / 20 && old > 0 && old < all / 20);
    assert_true(fast > 0 && fast < all / 4 && us > 0 && us < all / 3);
    assert_true(advised > 0 && advised < all / 20);
    assert_true(haiku_edge[0] > 0 && haiku_edge[1] > 0);
    /* every band up to (500000, 1000000] has requests; nothing is over 1M */
    for (int b = 0; b < SIM_BANDS - 1; b++)
        assert_true(bands[b] > 0);
    assert_int_equal(bands[SIM_BANDS - 1], 0);
    assert_true(longc > 0 && longc < all / 20);
    /* 20 developers over a week of working days */
    assert_true(all > 10000 && all < 100000);
    sim_free(s);
}

/* Haiku 5.5 prompts land exactly on each side of its tier: 99,999, 100,000 (not over the
 * tier) and 100,001, as the lines say (input + cache reads + cache writes). */
static void test_tier_edges(void **state)
{
    sim_options o;
    char err[128];
    sim *s;
    const char *line;
    size_t len;
    int64_t edges[3] = {0};

    (void)state;
    sim_options_default(&o);
    o.malformed_ppm = 0;
    s = sim_new(&o, err, sizeof(err));
    assert_non_null(s);
    while (sim_next(s, &line, &len)) {
        const char *p = strstr(line, "\"model\":\"claude-haiku-5-5\",\"messageId\"");
        long long in, out, cw, cr, prompt;

        /* counts sent as strings are left out: they do not scan */
        if (!p || !(p = strstr(p, "\"usage\":{")) ||
            sscanf(p,
                   "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":%lld,"
                   "\"cache_creation_input_tokens\":%lld,\"cache_read_input_tokens\":%lld",
                   &in, &out, &cw, &cr) != 4)
            continue;
        prompt = in + cw + cr;
        if (prompt >= 99999 && prompt <= 100001)
            edges[prompt - 99999]++;
    }
    assert_true(edges[0] > 0 && edges[1] > 0 && edges[2] > 0);
    sim_free(s);
}

static void test_parse_helpers(void **state)
{
    sim_options o;
    char err[128];

    (void)state;
    assert_int_equal(sim_parse_percent("1"), 10000);
    assert_int_equal(sim_parse_percent("0.5"), 5000);
    assert_int_equal(sim_parse_percent("10%"), 100000);
    assert_int_equal(sim_parse_percent("100"), 1000000);
    assert_int_equal(sim_parse_percent("0.0001"), 1);
    assert_int_equal(sim_parse_percent("100.1"), -1);
    assert_int_equal(sim_parse_percent("0.00001"), -1);
    assert_int_equal(sim_parse_percent("-1"), -1);
    assert_int_equal(sim_parse_percent(""), -1);
    assert_int_equal(sim_parse_percent("1."), -1);
    assert_int_equal(sim_parse_percent("abc"), -1);
    /* sim_parse_date: tests/unit/test_sim_calendar.c */
    sim_options_default(&o);
    o.developers = 0;
    assert_null(sim_new(&o, err, sizeof(err)));
    sim_options_default(&o);
    o.format = (event_format)PARSE_AUTO; /* a parser setting, not a format */
    assert_null(sim_new(&o, err, sizeof(err)));
    assert_int_equal(sim_format_from_name("usage"), EVENT_FORMAT_USAGE);
    assert_int_equal(sim_format_from_name("Legacy"), EVENT_FORMAT_LEGACY);
    assert_int_equal(sim_format_from_name("MONITOR"), EVENT_FORMAT_MONITOR);
    assert_int_equal(sim_format_from_name("auto"), -1);
    assert_int_equal(sim_format_from_name("usag"), -1);
    assert_int_equal(sim_format_from_name("usages"), -1);
    assert_int_equal(sim_format_from_name(""), -1);
    assert_int_equal(sim_format_from_name(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_stream),   cmocka_unit_test(test_legacy_stream),
        cmocka_unit_test(test_monitor_stream), cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_golden),         cmocka_unit_test(test_max_events),
        cmocka_unit_test(test_realism),        cmocka_unit_test(test_tier_edges),
        cmocka_unit_test(test_parse_helpers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
