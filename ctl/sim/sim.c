/*
 * sim.c - the simulation behind tallyctl simulate (see sim.h): developers, their
 * working days, sessions and requests, merged into one stream.
 *
 * Every developer is a small state machine (working day, session, cached context);
 * a min-heap on the time of each developer's next request merges them into one
 * stream in time order, as Event Hubs would see it. Re-deliveries and the second
 * half of a monitor request that arrives late wait in a short list of pending lines
 * due a few lines later. Randomness comes from splitmix64 streams: one per developer
 * (so a developer's traffic does not depend on the others) and one for the stream.
 * Lines are rendered by render.c; the expected totals are kept by totals.c.
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "membuf.h"
#include "render.h"
#include "rng.h"
#include "totals.h"
#include "world.h"

#define SIM_LINE_RESERVE 4096
#define SIM_PENDING_MAX 1024
#define SIM_DUP_DELAY_MAX 64  /* a re-delivery comes up to this many lines later */
#define SIM_DEFER_DELAY_MAX 8 /* so does the late half of a monitor request */

/* ---- what a Claude Code session looks like ---- */

/* tool results and prompts added to the context per turn */
static const rng_bucket NEW_CONTENT[] = {
    {450000, 20, 600}, {350000, 600, 3000}, {150000, 3000, 12000}, {50000, 12000, 40000}};
static const rng_bucket OUTPUT[] = {
    {500000, 80, 600}, {350000, 600, 2500}, {120000, 2500, 8000}, {30000, 8000, 24000}};
/* uncached tail after the last cache breakpoint */
static const rng_bucket UNCACHED[] = {{970000, 1, 40}, {30000, 200, 2000}};
/* seconds between requests: agent loops, reading, coffee */
static const rng_bucket THINK_S[] = {
    {600000, 2, 15}, {280000, 15, 90}, {90000, 90, 600}, {30000, 600, 2700}};
static const rng_bucket TURNS[] = {{500000, 5, 40}, {350000, 40, 150}, {150000, 150, 400}};

#define SYSTEM_PROMPT_MIN 14000 /* system prompt, tools, CLAUDE.md */
#define SYSTEM_PROMPT_MAX 22000
#define CONTEXT_LIMIT_MIN 140000 /* Claude Code compacts before the 200k window fills */
#define CONTEXT_LIMIT_MAX 170000
#define LONG_LIMIT_MIN 300000 /* sessions with the 1M context window */
#define LONG_LIMIT_MAX 900000

#define PPM_LONG_SESSION 30000
#define PPM_CACHE_1H 100000
#define PPM_SIDE_REQUEST 100000  /* before a turn: a small Haiku request (titles, checks) */
#define PPM_SUBAGENT 80000       /* before a turn: a Haiku subagent's request */
#define PPM_EDGE 15000           /* before a turn: a prompt at a breakpoint (+ -1, 0 or +1) */
#define PPM_SUBAGENT_EDGE 400000 /* subagent prompts around Haiku 5.5's 100,000 threshold */
#define PPM_FAST_SESSION 150000  /* sessions in fast mode, on models that offer it */
#define PPM_US_SESSION 200000    /* sessions pinned to US inference (inference_geo "us") */
#define PPM_ADVISOR 40000        /* Sonnet 5.5 and Haiku 5.5 turns that consult the advisor */
#define HAIKU_TIER_TOKENS 100000
#define PPM_WEB_SEARCH 15000
#define PPM_OPUS_FAN 150000
#define PPM_WORK_WEEKDAY 930000
#define PPM_WORK_WEEKEND 60000
#define PPM_STRING_COUNTS_USAGE 20000 /* counts sent as strings */
#define PPM_STRING_COUNTS_LEGACY 500000

static const char *const FIRST_NAMES[] = {
    "Ana",   "Raj",  "Lena",  "Marco",  "Priya", "Jonas", "Sofia",  "Arjun", "Emma",   "Kiran",
    "Lukas", "Mei",  "Diego", "Aisha",  "Tom",   "Nina",  "Sanjay", "Clara", "Bikash", "Julia",
    "Omar",  "Hana", "Felix", "Laura",  "Rohan", "Maya",  "Pedro",  "Sara",  "David",  "Yuki",
    "Elena", "Anil", "Grace", "Mateus", "Ines",  "Samir", "Olivia", "Paul",  "Sita",   "Kenji",
    "Marta", "Ravi", "Chloe", "Noah",   "Asha",  "Leon",  "Isabel", "Dev"};
static const char *const LAST_NAMES[] = {
    "Lima",   "Patel",    "Schmidt",  "Rossi",    "Sharma",   "Weber", "Garcia",   "Iyer",
    "Miller", "Shrestha", "Nowak",    "Chen",     "Silva",    "Khan",  "Fischer",  "Tanaka",
    "Brown",  "Gurung",   "Kowalski", "Santos",   "Meyer",    "Nair",  "Wagner",   "Costa",
    "Reddy",  "Becker",   "Oliveira", "Thapa",    "Hoffmann", "Sato",  "Wilson",   "Rao",
    "Klein",  "Pereira",  "Joshi",    "Novak",    "Martin",   "Das",   "Koch",     "Yamamoto",
    "Taylor", "Rai",      "Wolf",     "Ferreira", "Gupta",    "Lewis", "Adhikari", "Zimmermann"};

/* subagent prompts: reading a few files for a focused task */
static const rng_bucket SUBAGENT_PROMPT[] = {
    {500000, 8000, 60000}, {380000, 60000, 140000}, {120000, 140000, 260000}};

/* ---- the simulation ---- */

typedef struct sim_pending {
    membuf line;
    int64_t due; /* emitted once this many lines are out */
} sim_pending;

struct sim {
    sim_options o;
    int64_t start_day;
    sim_dev *devs;
    int *heap; /* developer indexes, ordered by (next_us, index) */
    int nheap;
    uint64_t rng;
    uint64_t id_key, session_key;
    uint64_t next_id, next_session;
    membuf line;
    membuf side; /* the other half of a deferred monitor request */
    sim_pending *pending;
    int npending;
    bool generating;
    bool malformed_next;
    bool oom; /* a line found no memory: the stream is over */
    sim_stats st;
    totals totals;
};

void sim_options_default(sim_options *o)
{
    memset(o, 0, sizeof(*o));
    o->developers = 20;
    o->days = 7;
    o->seed = 1;
    o->format = EVENT_FORMAT_USAGE;
    o->start_us = calendar_days(2026, 11, 2) * CALENDAR_US_PER_DAY;
    o->duplicates_ppm = 10000;
    o->malformed_ppm = 5000;
    o->teams = 3;
}

static bool heap_less(const sim *s, int a, int b)
{
    const sim_dev *x = &s->devs[a], *y = &s->devs[b];

    return x->next_us < y->next_us || (x->next_us == y->next_us && a < b);
}

static void heap_down(sim *s, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i, t;

        if (l < s->nheap && heap_less(s, s->heap[l], s->heap[m]))
            m = l;
        if (r < s->nheap && heap_less(s, s->heap[r], s->heap[m]))
            m = r;
        if (m == i)
            return;
        t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
}

static int pick_weighted_zone(uint64_t *rng)
{
    int64_t x = (int64_t)(rng_next(rng) % SIM_PPM);

    for (int i = 0; i < WORLD_ZONES - 1; i++) {
        if (x < world_zones[i].ppm)
            return i;
        x -= world_zones[i].ppm;
    }
    return WORLD_ZONES - 1;
}

static bool model_out(int model, int64_t at_us)
{
    const world_model *m = &world_models[model];

    return calendar_days(m->from_y, m->from_m, m->from_d) <=
           calendar_floor_div(at_us, CALENDAR_US_PER_DAY);
}

/* The session's model: by share among the models released by then. */
static int pick_model(uint64_t *rng, int64_t at_us)
{
    int64_t out = 0, x;
    int last = WORLD_MODEL_OPUS_OLD;

    for (int i = 0; i < WORLD_MODELS; i++)
        out += model_out(i, at_us) ? world_models[i].ppm : 0;
    x = (int64_t)(rng_next(rng) % (uint64_t)out);
    for (int i = 0; i < WORLD_MODELS; i++) {
        if (!model_out(i, at_us))
            continue;
        if (x < world_models[i].ppm)
            return i;
        x -= world_models[i].ppm;
        last = i;
    }
    return last;
}

static int pick_extra(uint64_t *rng)
{
    int64_t x = (int64_t)(rng_next(rng) % SIM_PPM);

    if (x < PPM_SIDE_REQUEST)
        return EXTRA_SIDE;
    x -= PPM_SIDE_REQUEST;
    if (x < PPM_SUBAGENT)
        return EXTRA_SUBAGENT;
    x -= PPM_SUBAGENT;
    return x < PPM_EDGE ? EXTRA_EDGE : EXTRA_NONE;
}

static void session_start(sim *s, sim_dev *d, int64_t at_us)
{
    const world_model *m;

    d->model = pick_model(&d->rng, at_us);
    if (d->opus_fan && rng_ppm(&d->rng, 400000))
        d->model = model_out(WORLD_MODEL_OPUS, at_us) ? WORLD_MODEL_OPUS : WORLD_MODEL_OPUS_OLD;
    m = &world_models[d->model];
    d->fast = m->fast && rng_ppm(&d->rng, PPM_FAST_SESSION);
    d->geo_us = m->geo == WORLD_GEO_API && rng_ppm(&d->rng, PPM_US_SESSION);
    d->cache_1h = rng_ppm(&d->rng, PPM_CACHE_1H);
    d->limit = m->max_prompt > LONG_LIMIT_MAX && rng_ppm(&d->rng, PPM_LONG_SESSION)
                   ? rng_range(&d->rng, LONG_LIMIT_MIN, LONG_LIMIT_MAX)
                   : rng_range(&d->rng, CONTEXT_LIMIT_MIN, CONTEXT_LIMIT_MAX);
    d->turns_left = (int)rng_buckets(&d->rng, TURNS, NB(TURNS));
    d->context = rng_range(&d->rng, SYSTEM_PROMPT_MIN, SYSTEM_PROMPT_MAX);
    d->last_output = 0;
    d->cold = true;
    d->extra = pick_extra(&d->rng);
    rng_uuid(d->session, s->session_key, s->next_session++);
    d->next_us = at_us;
}

/* Plans the developer's next working day and its first session, or ends them. */
static void dev_plan_day(sim *s, sim_dev *d)
{
    const world_zone *z = &world_zones[d->zone];

    while (d->day < s->o.days) {
        int64_t date = s->start_day + d->day, start_min, len_min, midnight;
        bool weekend = calendar_weekday(date) == 0 || calendar_weekday(date) == 6;

        d->day++;
        if (!rng_ppm(&d->rng, weekend ? PPM_WORK_WEEKEND : PPM_WORK_WEEKDAY))
            continue;
        start_min = weekend ? rng_range(&d->rng, 600, 960) : rng_range(&d->rng, 480, 630);
        len_min = weekend ? rng_range(&d->rng, 45, 180) : rng_range(&d->rng, 420, 600);
        midnight = date * CALENDAR_US_PER_DAY -
                   calendar_offset(z->std_min, z->dst,
                                   date * CALENDAR_US_PER_DAY + 12 * 60 * CALENDAR_US_PER_MIN) *
                       CALENDAR_US_PER_MIN;
        session_start(s, d,
                      midnight + start_min * CALENDAR_US_PER_MIN +
                          rng_range(&d->rng, 0, CALENDAR_US_PER_MIN - 1));
        d->day_end_us = d->next_us + len_min * CALENDAR_US_PER_MIN;
        return;
    }
    d->next_us = INT64_MAX;
}

/* Schedules what the developer does after a turn at now. */
static void dev_after_turn(sim *s, sim_dev *d, int64_t now)
{
    int64_t t;

    if (--d->turns_left > 0) {
        t = now + rng_buckets(&d->rng, THINK_S, NB(THINK_S)) * CALENDAR_US_PER_S +
            rng_range(&d->rng, 0, CALENDAR_US_PER_S - 1);
        if (t < d->day_end_us) {
            d->next_us = t;
            d->extra = pick_extra(&d->rng);
            return;
        }
    }
    t = now + rng_range(&d->rng, 5 * CALENDAR_US_PER_MIN, 60 * CALENDAR_US_PER_MIN);
    if (t < d->day_end_us)
        session_start(s, d, t);
    else
        dev_plan_day(s, d);
}

/* r is a request of model, in the session's fast mode and region where the model has them. */
static void req_model(sim_req *r, const sim_dev *d, int model)
{
    r->model = model;
    r->fast = d->fast && world_models[model].fast;
    r->geo_us = d->geo_us && world_models[model].geo == WORLD_GEO_API;
}

/* Splits a prompt of exactly prompt tokens into a short uncached tail, cache reads (when
 * warm) and 5-minute writes. prompt > 2,040. */
static void req_prompt(uint64_t *rng, sim_req *r, int64_t prompt, bool warm)
{
    r->input = rng_range(rng, 1, 40);
    r->write_5m = warm ? rng_range(rng, 200, 2000) : prompt - r->input;
    r->cache_read = prompt - r->input - r->write_5m;
}

/* A prompt at threshold: one token under, at, or (room allowing) one over. */
static int64_t edge_prompt(uint64_t *rng, int64_t threshold, int64_t max_prompt)
{
    return threshold + rng_range(rng, -1, threshold < max_prompt ? 1 : 0);
}

/* The one-off request before the next turn (d->extra) into r. */
static void dev_extra(sim_dev *d, sim_req *r, int64_t now)
{
    int haiku = model_out(WORLD_MODEL_HAIKU, now) ? WORLD_MODEL_HAIKU : WORLD_MODEL_HAIKU_OLD;
    int64_t max, prompt;
    int n = 0;

    switch (d->extra) {
    case EXTRA_SIDE:
        req_model(r, d, haiku);
        r->input = rng_range(&d->rng, 150, 3000);
        r->output = rng_range(&d->rng, 5, 150);
        break;
    case EXTRA_SUBAGENT:
        req_model(r, d, haiku);
        max = world_models[haiku].max_prompt;
        prompt = rng_ppm(&d->rng, PPM_SUBAGENT_EDGE)
                     ? edge_prompt(&d->rng, HAIKU_TIER_TOKENS, max)
                     : rng_buckets(&d->rng, SUBAGENT_PROMPT, NB(SUBAGENT_PROMPT));
        req_prompt(&d->rng, r, prompt < max ? prompt : max, rng_ppm(&d->rng, 500000));
        r->output = rng_range(&d->rng, 200, 4000);
        r->stream = true;
        break;
    default: /* EXTRA_EDGE */
        req_model(r, d, d->model);
        max = world_models[d->model].max_prompt;
        while (n < WORLD_BREAKPOINTS && world_breakpoints[n] <= max)
            n++;
        prompt = edge_prompt(&d->rng, world_breakpoints[rng_range(&d->rng, 0, n - 1)], max);
        req_prompt(&d->rng, r, prompt, true);
        r->output = rng_buckets(&d->rng, OUTPUT, NB(OUTPUT));
        r->stream = true;
        break;
    }
    d->extra = EXTRA_NONE;
    d->next_us = now + rng_range(&d->rng, 1 * CALENDAR_US_PER_S, 4 * CALENDAR_US_PER_S);
}

/* Sonnet 5.5 and Haiku 5.5 executors consult Opus 5.5 now and then: the advisor reads
 * the same prefix (in its own cache) and answers briefly. */
static void req_advisor(uint64_t *rng, sim_req *r, int64_t now)
{
    const char *name = world_models[r->model].name;

    if (world_models[r->model].geo != WORLD_GEO_API ||
        (strcmp(name, "claude-sonnet-5-5") != 0 && strcmp(name, "claude-haiku-5-5") != 0) ||
        !model_out(WORLD_ADVISOR, now) || !rng_ppm(rng, PPM_ADVISOR))
        return;
    r->advisor = true;
    r->adv_input = rng_range(rng, 300, 3000);
    r->adv_cache_read = r->cache_read;
    r->adv_write_5m = r->write_5m + r->write_1h;
    r->adv_output = rng_range(rng, 150, 1500);
}

/* The request the developer makes at d->next_us; advances the developer. */
static void dev_request(sim *s, sim_dev *d, sim_req *r)
{
    int64_t now = d->next_us, ttl, fresh;

    memset(r, 0, sizeof(*r));
    r->dev = d;
    r->time_us = now;
    r->n = s->next_id++;
    if (d->extra != EXTRA_NONE) {
        dev_extra(d, r, now);
        return;
    }
    req_model(r, d, d->model);
    r->stream = true;
    ttl = (d->cache_1h ? 60 : 5) * CALENDAR_US_PER_MIN;
    fresh = d->last_output + rng_buckets(&d->rng, NEW_CONTENT, NB(NEW_CONTENT));
    r->input = rng_buckets(&d->rng, UNCACHED, NB(UNCACHED));
    if (d->cold || now - d->last_us > ttl) {
        /* the prefix is not cached (any more): the whole context is written again */
        r->cache_read = 0;
        fresh += d->context;
    } else {
        r->cache_read = d->context;
    }
    if (d->context + fresh > d->limit) {
        /* compaction: the conversation is summarised and a new context starts */
        r->output = rng_range(&d->rng, 2000, 6000);
        fresh = r->cache_read ? rng_range(&d->rng, 200, 1500) : fresh;
        d->context = rng_range(&d->rng, SYSTEM_PROMPT_MIN, SYSTEM_PROMPT_MAX) + r->output;
        d->last_output = 0;
        d->cold = true;
    } else {
        r->output = rng_buckets(&d->rng, OUTPUT, NB(OUTPUT));
        d->context = r->cache_read + fresh + r->input;
        d->last_output = r->output;
        d->cold = false;
    }
    if (d->cache_1h)
        r->write_1h = fresh;
    else
        r->write_5m = fresh;
    if (rng_ppm(&d->rng, PPM_WEB_SEARCH))
        r->web_search = rng_range(&d->rng, 1, 3);
    req_advisor(&d->rng, r, now);
    d->last_us = now;
    dev_after_turn(s, d, now);
}

/* ---- the line queue ---- */

/* Queues a copy of src to go out after delay more lines; false when the queue is full. */
static bool pending_add(sim *s, const membuf *src, int64_t delay)
{
    sim_pending *p;

    if (s->npending == SIM_PENDING_MAX)
        return false;
    p = &s->pending[s->npending];
    membuf_reset(&p->line);
    membuf_put(&p->line, src->data, src->len);
    if (p->line.oom)
        return false;
    p->due = s->st.lines + delay;
    s->npending++;
    return true;
}

/* Moves the first pending line due by now (or any, when force) into s->line. */
static bool pending_take(sim *s, bool force)
{
    membuf t;
    int i;

    for (i = 0; i < s->npending; i++) {
        if (s->pending[i].due <= s->st.lines || force)
            break;
    }
    if (i == s->npending)
        return false;
    t = s->line;
    s->line = s->pending[i].line;
    /* keep the slots in order; the buffer moves to the end to be reused */
    memmove(&s->pending[i], &s->pending[i + 1],
            (size_t)(s->npending - i - 1) * sizeof(*s->pending));
    s->npending--;
    s->pending[s->npending].line = t;
    membuf_reset(&s->pending[s->npending].line);
    return true;
}

static void malformed_line(sim *s)
{
    sim_dev *d = &s->devs[rng_next(&s->rng) % (uint64_t)s->o.developers];
    sim_req r;

    memset(&r, 0, sizeof(r));
    r.dev = d;
    r.n = s->next_id++;
    r.time_us = d->last_us ? d->last_us : s->o.start_us + 9 * 60 * CALENDAR_US_PER_MIN;
    r.model = d->model;
    r.input = rng_range(&s->rng, 1, 40);
    r.output = rng_range(&s->rng, 80, 2000);
    r.cache_read = rng_range(&s->rng, 0, 100000);
    r.write_5m = rng_range(&s->rng, 0, 5000);
    r.stream = true;
    r.defect = (sim_defect)rng_range(&s->rng, DEFECT_NEGATIVE, DEFECT_COUNT - 1);
    render_request(s->o.format, s->id_key, &s->rng, &r, &s->line, &s->side);
    if (r.defect == DEFECT_TRUNCATED)
        s->line.len = (size_t)rng_range(&s->rng, 1, (int64_t)s->line.len - 1);
    s->st.malformed++;
}

/* The next valid request into s->line; false when the traffic is over. */
static bool event_line(sim *s)
{
    sim_dev *d;
    sim_req r;
    int flags;

    if (s->nheap == 0 || (s->o.max_events > 0 && s->st.events >= s->o.max_events))
        return false;
    d = &s->devs[s->heap[0]];
    dev_request(s, d, &r);
    if (d->next_us == INT64_MAX)
        s->heap[0] = s->heap[--s->nheap];
    heap_down(s, 0);
    r.string_counts =
        rng_ppm(&s->rng, s->o.format == EVENT_FORMAT_LEGACY ? PPM_STRING_COUNTS_LEGACY
                                                            : PPM_STRING_COUNTS_USAGE);
    flags = render_request(s->o.format, s->id_key, &s->rng, &r, &s->line, &s->side);
    s->st.chunked += (flags & RENDER_CHUNKED) != 0;
    if (flags & RENDER_SPLIT) {
        if (pending_add(s, &s->side, 1 + rng_range(&s->rng, 0, SIM_DEFER_DELAY_MAX - 1)))
            s->st.deferred++;
        else /* queue full: the late half goes right after */
            render_join(&s->line, &s->side);
    }
    totals_add(&s->totals, &r);
    s->st.events++;
    if (rng_ppm(&s->rng, s->o.duplicates_ppm) &&
        pending_add(s, &s->line, 1 + rng_range(&s->rng, 0, SIM_DUP_DELAY_MAX - 1)))
        s->st.duplicates++;
    s->malformed_next = rng_ppm(&s->rng, s->o.malformed_ppm);
    return true;
}

bool sim_next(sim *s, const char **line, size_t *len)
{
    bool have;

    if (s->oom)
        return false;
    have = pending_take(s, false);

    if (!have && s->malformed_next) {
        s->malformed_next = false;
        malformed_line(s);
        have = true;
    }
    if (!have && s->generating) {
        have = event_line(s);
        s->generating = have;
    }
    if (!have)
        have = pending_take(s, true);
    s->oom = s->line.oom || s->side.oom;
    if (!have || s->oom)
        return false;
    s->st.lines++;
    *line = s->line.data;
    *len = s->line.len;
    return true;
}

/* ---- setup ---- */

static void dev_init(sim *s, sim_dev *d, int i)
{
    int nf = NB(FIRST_NAMES), nl = NB(LAST_NAMES);
    uint64_t off = rng_mix(s->o.seed ^ UINT64_C(0x6e616d6573));
    int f = (int)((i + off) % (uint64_t)nf);
    int l = (int)(((uint64_t)(i % nf + i / nf) + (off >> 32)) % (uint64_t)nl);
    int again = i / (nf * nl);
    membuf b = MEMBUF_INIT;
    char lower[64];
    size_t k;

    d->index = i;
    d->rng = rng_mix(s->o.seed * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)i);
    rng_uuid(d->oid, rng_mix(s->o.seed ^ UINT64_C(0x646576656c6f70)), (uint64_t)i);
    snprintf(d->display, sizeof(d->display), "%s %s", FIRST_NAMES[f], LAST_NAMES[l]);
    membuf_puts(&b, FIRST_NAMES[f]);
    membuf_putc(&b, '.');
    membuf_puts(&b, LAST_NAMES[l]);
    if (again)
        membuf_printf(&b, "%d", again + 1);
    for (k = 0; k < b.len && k < sizeof(lower) - 1; k++)
        lower[k] = (char)(b.data[k] >= 'A' && b.data[k] <= 'Z' ? b.data[k] - 'A' + 'a' : b.data[k]);
    lower[k] = '\0';
    membuf_free(&b);
    snprintf(d->upn, sizeof(d->upn), "%s@contoso.example", lower);
    d->zone = pick_weighted_zone(&d->rng);
    d->team = (int)(rng_next(&d->rng) % (uint64_t)s->o.teams);
    d->opus_fan = rng_ppm(&d->rng, PPM_OPUS_FAN);
    snprintf(d->ip, sizeof(d->ip), "10.%d.%d.%d", 1 + d->team % 250, (i / 250) % 256, 1 + i % 250);
    d->day = 0;
    dev_plan_day(s, d);
}

sim *sim_new(const sim_options *o, char *err, size_t errlen)
{
    sim *s;
    int i;

    if (o->developers <= 0 || o->days <= 0 || o->teams <= 0 || o->duplicates_ppm < 0 ||
        o->duplicates_ppm > SIM_PPM || o->malformed_ppm < 0 || o->malformed_ppm > SIM_PPM ||
        o->max_events < 0) {
        snprintf(err, errlen, "invalid simulation options");
        return NULL;
    }
    if (o->format != EVENT_FORMAT_USAGE && o->format != EVENT_FORMAT_LEGACY &&
        o->format != EVENT_FORMAT_MONITOR) {
        snprintf(err, errlen, "simulation format must be usage, legacy or monitor");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto oom;
    s->o = *o;
    s->start_day = calendar_floor_div(o->start_us, CALENDAR_US_PER_DAY);
    s->rng = rng_mix(o->seed ^ UINT64_C(0x73747265616d));
    s->id_key = rng_mix(o->seed ^ UINT64_C(0x72657175657374));
    s->session_key = rng_mix(o->seed ^ UINT64_C(0x73657373696f6e));
    s->generating = true;
    s->devs = calloc((size_t)o->developers, sizeof(*s->devs));
    s->heap = calloc((size_t)o->developers, sizeof(*s->heap));
    s->pending = calloc(SIM_PENDING_MAX, sizeof(*s->pending));
    if (!s->devs || !s->heap || !s->pending || !membuf_reserve(&s->line, SIM_LINE_RESERVE) ||
        !membuf_reserve(&s->side, SIM_LINE_RESERVE))
        goto oom;
    for (i = 0; i < o->developers; i++) {
        dev_init(s, &s->devs[i], i);
        if (s->devs[i].next_us != INT64_MAX)
            s->heap[s->nheap++] = i;
    }
    if (!totals_init(&s->totals, s->devs, o->developers, o->format))
        goto oom;
    for (i = s->nheap / 2 - 1; i >= 0; i--)
        heap_down(s, i);
    return s;
oom:
    sim_free(s);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void sim_free(sim *s)
{
    if (!s)
        return;
    if (s->pending) {
        for (int i = 0; i < SIM_PENDING_MAX; i++)
            membuf_free(&s->pending[i].line);
    }
    free(s->pending);
    membuf_free(&s->line);
    membuf_free(&s->side);
    free(s->devs);
    free(s->heap);
    totals_cleanup(&s->totals);
    free(s);
}

const char *sim_error(const sim *s)
{
    /* a pending copy that found no memory was dropped and not counted */
    return s->oom ? "out of memory" : NULL;
}

const sim_stats *sim_get_stats(const sim *s)
{
    return &s->st;
}

int sim_totals(sim *s, const sim_total **rows)
{
    return totals_sorted(&s->totals, rows);
}

bool sim_totals_write(sim *s, FILE *out)
{
    return totals_write(&s->totals, out);
}

bool sim_roster_write(const sim *s, FILE *out)
{
    membuf team = MEMBUF_INIT;

    fprintf(out, "oid,upn,display_name,team,cost_center\n");
    for (int i = 0; i < s->o.developers; i++) {
        const sim_dev *d = &s->devs[i];

        membuf_reset(&team);
        world_team_name(&team, d->team);
        fprintf(out, "%s,%s,%s,%s,CC-%d\n", d->oid, d->upn, d->display, team.oom ? "" : team.data,
                4100 + d->team);
    }
    membuf_free(&team);
    return fflush(out) == 0 && !ferror(out);
}

int sim_parse_percent(const char *s)
{
    int64_t whole = 0, frac = 0;
    int fdigits = 0;
    const char *p = s;

    if (!s || !*s)
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > 100)
            return -1;
    }
    if (p == s)
        return -1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (fdigits == 4) /* finer than a part per million */
                return -1;
            frac = frac * 10 + (*p - '0');
            fdigits++;
        }
        if (fdigits == 0)
            return -1;
    }
    if (*p == '%')
        p++;
    if (*p != '\0')
        return -1;
    for (; fdigits < 4; fdigits++)
        frac *= 10;
    whole = whole * 10000 + frac;
    return whole > SIM_PPM ? -1 : (int)whole;
}

int sim_format_from_name(const char *name)
{
    static const struct {
        const char *name;
        event_format format;
    } names[] = {
        {"usage", EVENT_FORMAT_USAGE},
        {"legacy", EVENT_FORMAT_LEGACY},
        {"monitor", EVENT_FORMAT_MONITOR},
    };

    for (int i = 0; name && i < NB(names); i++) {
        const char *a = name, *b = names[i].name;

        /* ASCII case folding, as the ingest daemon reads format names */
        while (*a && (*a == *b || (*a >= 'A' && *a <= 'Z' && *a - 'A' + 'a' == *b))) {
            a++;
            b++;
        }
        if (*a == '\0' && *b == '\0')
            return (int)names[i].format;
    }
    return -1;
}
