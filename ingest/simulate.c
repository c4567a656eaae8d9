/*
 * simulate.c - the traffic generator behind tallyctl simulate (see simulate.h).
 *
 * Every developer is a small state machine (working day, session, cached context);
 * a min-heap on the time of each developer's next request merges them into one
 * stream in time order, as Event Hubs would see it. Re-deliveries and the second
 * half of a monitor request that arrives late wait in a short list of pending lines
 * due a few lines later. Randomness comes from splitmix64 streams: one per developer
 * (so a developer's traffic does not depend on the others) and one for the stream.
 */
#include <stdlib.h>
#include <string.h>

#include "simulate.h"

#define US_PER_S INT64_C(1000000)
#define US_PER_MIN (60 * US_PER_S)
#define US_PER_DAY (86400 * US_PER_S)

#define SIM_LINE_RESERVE 4096
#define SIM_PENDING_MAX 1024
#define SIM_DUP_DELAY_MAX 64  /* a re-delivery comes up to this many lines later */
#define SIM_DEFER_DELAY_MAX 8 /* so does the late half of a monitor request */
#define SIM_CHUNK_BYTES 32768 /* APIM splits logged bodies above 32 KB */
#define SIM_BYTES_PER_TOKEN 4

/* ---- randomness: splitmix64 ---- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t *state)
{
    *state += UINT64_C(0x9e3779b97f4a7c15);
    return mix64(*state);
}

/* uniform in [lo, hi]; the modulo bias is irrelevant at these ranges */
static int64_t rng_range(uint64_t *state, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(state) % (uint64_t)(hi - lo + 1));
}

static bool rng_ppm(uint64_t *state, int ppm)
{
    return (int64_t)(rng_next(state) % SIM_PPM) < ppm;
}

/* One bucket of a piecewise-uniform distribution: weight in ppm, then a range. */
typedef struct sim_bucket {
    int ppm;
    int64_t lo, hi;
} sim_bucket;

static int64_t rng_buckets(uint64_t *state, const sim_bucket *b, int n)
{
    int64_t x = (int64_t)(rng_next(state) % SIM_PPM);

    for (int i = 0; i < n - 1; i++) {
        if (x < b[i].ppm)
            return rng_range(state, b[i].lo, b[i].hi);
        x -= b[i].ppm;
    }
    return rng_range(state, b[n - 1].lo, b[n - 1].hi);
}

#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- what a Claude Code session looks like ---- */

/* tool results and prompts added to the context per turn */
static const sim_bucket NEW_CONTENT[] = {
    {450000, 20, 600}, {350000, 600, 3000}, {150000, 3000, 12000}, {50000, 12000, 40000}};
static const sim_bucket OUTPUT[] = {
    {500000, 80, 600}, {350000, 600, 2500}, {120000, 2500, 8000}, {30000, 8000, 24000}};
/* uncached tail after the last cache breakpoint */
static const sim_bucket UNCACHED[] = {{970000, 1, 40}, {30000, 200, 2000}};
/* seconds between requests: agent loops, reading, coffee */
static const sim_bucket THINK_S[] = {
    {600000, 2, 15}, {280000, 15, 90}, {90000, 90, 600}, {30000, 600, 2700}};
static const sim_bucket TURNS[] = {{500000, 5, 40}, {350000, 40, 150}, {150000, 150, 400}};

#define SYSTEM_PROMPT_MIN 14000 /* system prompt, tools, CLAUDE.md */
#define SYSTEM_PROMPT_MAX 22000
#define CONTEXT_LIMIT_MIN 140000 /* Claude Code compacts before the 200k window fills */
#define CONTEXT_LIMIT_MAX 170000
#define LONG_LIMIT_MIN 300000 /* sessions with the 1M context window */
#define LONG_LIMIT_MAX 900000

#define PPM_LONG_SESSION 30000
#define PPM_CACHE_1H 100000
#define PPM_SIDE_REQUEST 100000 /* a small Haiku request before a turn (titles, checks) */
#define PPM_WEB_SEARCH 15000
#define PPM_OPUS_FAN 150000
#define PPM_WORK_WEEKDAY 930000
#define PPM_WORK_WEEKEND 60000
#define PPM_STRING_COUNTS_USAGE 20000 /* counts sent as strings */
#define PPM_STRING_COUNTS_LEGACY 500000
#define PPM_ISO_LEGACY 300000
#define PPM_DEFER_GATEWAY 40000 /* GatewayLogs on a later line than its LLM log */
#define PPM_DEFER_LLM 30000     /* GatewayLogs on an earlier line than its LLM log */
#define PPM_GATEWAY_FIRST 150000

typedef struct sim_model {
    const char *name;       /* as the usage object and GatewayLlmLogs report it */
    const char *deployment; /* Foundry deployment name */
    const char *legacy;     /* as the accelerator reports it */
    int ppm;                /* share of sessions */
} sim_model;

#define SIM_MODELS 5
#define MODEL_OPUS 2
#define MODEL_HAIKU 4

static const sim_model MODELS[SIM_MODELS] = {
    {"claude-sonnet-4-6", "claude-sonnet-4-6", "claude-sonnet-4-6", 500000},
    {"claude-sonnet-4-5", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 200000},
    {"claude-opus-4-6", "opus-prod", "claude-opus-4-6", 130000},
    {"claude-opus-4-1", "claude-opus-4-1", "claude-opus-4-1-20250805", 50000},
    {"claude-haiku-4-5", "claude-haiku-4-5", "claude-haiku-4-5-20251001", 120000},
};

typedef enum { DST_NONE, DST_EU, DST_US } dst_rule;

typedef struct sim_zone {
    const char *name;
    int std_min; /* standard offset east of UTC */
    dst_rule dst;
    int ppm; /* share of developers */
    const char *region;
    const char *backend;
} sim_zone;

static const sim_zone ZONES[] = {
    {"Europe/Berlin", 60, DST_EU, 250000, "Sweden Central", "foundry-swc"},
    {"America/New_York", -300, DST_US, 200000, "East US 2", "foundry-eus2"},
    {"Asia/Kolkata", 330, DST_NONE, 150000, "Central India", "foundry-inc"},
    {"America/Los_Angeles", -480, DST_US, 120000, "East US 2", "foundry-eus2"},
    {"Europe/London", 0, DST_EU, 80000, "Sweden Central", "foundry-swc"},
    {"Asia/Kathmandu", 345, DST_NONE, 50000, "Central India", "foundry-inc"},
    {"Europe/Warsaw", 60, DST_EU, 50000, "Sweden Central", "foundry-swc"},
    {"America/Sao_Paulo", -180, DST_NONE, 50000, "East US 2", "foundry-eus2"},
    {"Asia/Tokyo", 540, DST_NONE, 50000, "Central India", "foundry-inc"},
};

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
static const char *const TEAM_NAMES[] = {"platform", "payments", "search",   "mobile",
                                         "data",     "identity", "checkout", "infra",
                                         "ml",       "web",      "billing",  "growth"};

#define SIM_TENANT "7f0c2b1a-0000-4000-8000-00000000c0de"
#define SIM_RESOURCE                                                                               \
    "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG-AI/PROVIDERS/"          \
    "MICROSOFT.APIMANAGEMENT/SERVICE/APIM-CONTOSO"

/* ---- a growable line buffer ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static bool sb_reserve(sbuf *b, size_t more)
{
    size_t cap;
    char *p;

    if (b->len + more <= b->cap)
        return true;
    cap = b->cap ? b->cap : SIM_LINE_RESERVE;
    while (cap < b->len + more)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void sb_mem(sbuf *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_mem(b, s, strlen(s));
}

static void sb_char(sbuf *b, char c)
{
    sb_mem(b, &c, 1);
}

static void sb_i64(sbuf *b, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[sizeof(tmp) - 1 - n++] = '-';
    sb_mem(b, tmp + sizeof(tmp) - n, (size_t)n);
}

/* digits of v, zero-padded to width */
static void sb_pad(sbuf *b, int64_t v, int width)
{
    char tmp[24];

    for (int i = width - 1; i >= 0; i--) {
        tmp[i] = (char)('0' + v % 10);
        v /= 10;
    }
    sb_mem(b, tmp, (size_t)width);
}

/* "key": — keys and string values here never need escaping */
static void sb_key(sbuf *b, const char *key)
{
    sb_char(b, '"');
    sb_str(b, key);
    sb_mem(b, "\":", 2);
}

static void sb_kv_str(sbuf *b, const char *key, const char *value)
{
    sb_key(b, key);
    sb_char(b, '"');
    sb_str(b, value);
    sb_mem(b, "\",", 2);
}

static void sb_kv_i64(sbuf *b, const char *key, int64_t value, bool as_string)
{
    sb_key(b, key);
    if (as_string)
        sb_char(b, '"');
    sb_i64(b, value);
    sb_str(b, as_string ? "\"," : ",");
}

/* drops a trailing comma before closing an object */
static void sb_close(sbuf *b, char c)
{
    if (b->len > 0 && b->p[b->len - 1] == ',')
        b->len--;
    sb_char(b, c);
}

/* ---- ids and time ---- */

#define MASK62 ((UINT64_C(1) << 62) - 1)

/* A bijection on [0, 2^62): xorshifts and odd multipliers modulo 2^62. */
static uint64_t mix62(uint64_t x)
{
    x &= MASK62;
    x ^= x >> 31;
    x = (x * UINT64_C(0x7fb5d329728ea185)) & MASK62;
    x ^= x >> 27;
    x = (x * UINT64_C(0x81dadef4bc2dd44d)) & MASK62;
    x ^= x >> 33;
    return x;
}

static void hex(char *dst, uint64_t v, int digits)
{
    static const char HEX[] = "0123456789abcdef";

    for (int i = digits - 1; i >= 0; i--) {
        dst[i] = HEX[v & 15];
        v >>= 4;
    }
}

/* A version 4 UUID for the n-th id of a namespace. The low 62 bits are a bijection of
 * n, so ids never repeat within a namespace. */
static void uuid_make(char out[37], uint64_t key, uint64_t n)
{
    uint64_t lo = mix62(n + key) | (UINT64_C(2) << 62);
    uint64_t hi = mix64(n ^ (key * UINT64_C(0x9e3779b97f4a7c15)));

    hi = (hi & ~UINT64_C(0xf000)) | UINT64_C(0x4000);
    hex(out, hi >> 32, 8);
    out[8] = '-';
    hex(out + 9, hi >> 16, 4);
    out[13] = '-';
    hex(out + 14, hi, 4);
    out[18] = '-';
    hex(out + 19, lo >> 48, 4);
    out[23] = '-';
    hex(out + 24, lo, 12);
    out[36] = '\0';
}

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm) */
static int64_t civil_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* 0 = Sunday */
static int weekday(int64_t days)
{
    return (int)(((days % 7) + 11) % 7);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* the day number of the n-th (n > 0) or last (n = 0) Sunday of a month */
static int64_t sunday_of(int y, int m, int n)
{
    if (n > 0) {
        int64_t first = civil_days(y, m, 1);
        return first + (7 - weekday(first)) % 7 + 7 * (n - 1);
    }
    int64_t last = civil_days(y + (m == 12), m == 12 ? 1 : m + 1, 1) - 1;
    return last - weekday(last);
}

/* minutes east of UTC in a zone at a UTC instant (the EU and US rules since 2007) */
static int zone_offset(const sim_zone *z, int64_t utc_us)
{
    int64_t s = floor_div(utc_us, US_PER_S), start, end;
    int y, m, d;

    if (z->dst == DST_NONE)
        return z->std_min;
    civil_from_days(floor_div(s, 86400), &y, &m, &d);
    if (z->dst == DST_EU) {
        start = sunday_of(y, 3, 0) * 86400 + 3600;
        end = sunday_of(y, 10, 0) * 86400 + 3600;
    } else {
        start = sunday_of(y, 3, 2) * 86400 + 7200 - z->std_min * 60;
        end = sunday_of(y, 11, 1) * 86400 + 7200 - (z->std_min + 60) * 60;
    }
    return s >= start && s < end ? z->std_min + 60 : z->std_min;
}

/* 2026-10-14T09:12:33.4821930Z, as APIM writes it */
static void sb_time_iso(sbuf *b, int64_t us)
{
    int64_t days = floor_div(us, US_PER_DAY), rem = us - days * US_PER_DAY;
    int y, m, d;

    civil_from_days(days, &y, &m, &d);
    sb_pad(b, y, 4);
    sb_char(b, '-');
    sb_pad(b, m, 2);
    sb_char(b, '-');
    sb_pad(b, d, 2);
    sb_char(b, 'T');
    sb_pad(b, rem / (3600 * US_PER_S), 2);
    sb_char(b, ':');
    sb_pad(b, rem / US_PER_MIN % 60, 2);
    sb_char(b, ':');
    sb_pad(b, rem / US_PER_S % 60, 2);
    sb_char(b, '.');
    sb_pad(b, rem % US_PER_S * 10, 7);
    sb_char(b, 'Z');
}

/* 10/14/2026 2:45:56 PM, as the accelerator writes it (en-US, UTC, whole seconds) */
static void sb_time_culture(sbuf *b, int64_t us)
{
    int64_t days = floor_div(us, US_PER_DAY), rem = (us - days * US_PER_DAY) / US_PER_S;
    int64_t hour = rem / 3600;
    int y, m, d;

    civil_from_days(days, &y, &m, &d);
    sb_i64(b, m);
    sb_char(b, '/');
    sb_i64(b, d);
    sb_char(b, '/');
    sb_i64(b, y);
    sb_char(b, ' ');
    sb_i64(b, hour % 12 == 0 ? 12 : hour % 12);
    sb_char(b, ':');
    sb_pad(b, rem / 60 % 60, 2);
    sb_char(b, ':');
    sb_pad(b, rem % 60, 2);
    sb_str(b, hour < 12 ? " AM" : " PM");
}

/* ---- the simulation ---- */

typedef struct sim_dev {
    uint64_t rng;
    int index, zone, team;
    bool opus_fan;
    char oid[37];
    char upn[96];
    char display[96];
    char ip[20];
    /* the working day */
    int day; /* next day to plan */
    int64_t day_end_us;
    int64_t next_us; /* when the next request is made; INT64_MAX when done */
    /* the session */
    char session[37];
    int model;
    bool cache_1h;
    bool cold; /* the next turn finds no cache (new session, after compaction) */
    bool side_next;
    int turns_left;
    int64_t context; /* tokens in the cached prefix */
    int64_t limit;   /* compaction threshold */
    int64_t last_us;
    int64_t last_output;
} sim_dev;

typedef enum {
    DEFECT_NONE,
    DEFECT_NEGATIVE,
    DEFECT_NO_ID,
    DEFECT_BAD_TIME,
    DEFECT_NO_MODEL,
    DEFECT_BAD_COUNT,
    DEFECT_TRUNCATED,
    DEFECT_NOT_JSON,
    DEFECT_COUNT,
} sim_defect;

typedef struct sim_req {
    const sim_dev *dev;
    int64_t time_us;
    int model;
    int64_t input, output, cache_read, write_5m, write_1h, web_search;
    bool stream;
    bool string_counts;
    uint64_t n; /* request number: the request id and message id */
    sim_defect defect;
} sim_req;

typedef struct sim_pending {
    sbuf line;
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
    sbuf line;
    sbuf side; /* the other half of a deferred monitor request */
    sim_pending *pending;
    int npending;
    bool generating;
    bool malformed_next;
    sim_stats st;
    sim_total *totals; /* developers × SIM_MODELS */
    sim_total *sorted;
};

void sim_options_default(sim_options *o)
{
    memset(o, 0, sizeof(*o));
    o->developers = 20;
    o->days = 7;
    o->seed = 1;
    o->format = PARSE_USAGE;
    o->start_us = civil_days(2026, 11, 2) * US_PER_DAY;
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

    for (int i = 0; i < NB(ZONES) - 1; i++) {
        if (x < ZONES[i].ppm)
            return i;
        x -= ZONES[i].ppm;
    }
    return NB(ZONES) - 1;
}

static void session_start(sim *s, sim_dev *d, int64_t at_us)
{
    int64_t x = (int64_t)(rng_next(&d->rng) % SIM_PPM);

    d->model = SIM_MODELS - 1;
    for (int i = 0; i < SIM_MODELS; i++) {
        if (x < MODELS[i].ppm) {
            d->model = i;
            break;
        }
        x -= MODELS[i].ppm;
    }
    if (d->opus_fan && rng_ppm(&d->rng, 400000))
        d->model = MODEL_OPUS;
    d->cache_1h = rng_ppm(&d->rng, PPM_CACHE_1H);
    d->limit = d->model != MODEL_HAIKU && rng_ppm(&d->rng, PPM_LONG_SESSION)
                   ? rng_range(&d->rng, LONG_LIMIT_MIN, LONG_LIMIT_MAX)
                   : rng_range(&d->rng, CONTEXT_LIMIT_MIN, CONTEXT_LIMIT_MAX);
    d->turns_left = (int)rng_buckets(&d->rng, TURNS, NB(TURNS));
    d->context = rng_range(&d->rng, SYSTEM_PROMPT_MIN, SYSTEM_PROMPT_MAX);
    d->last_output = 0;
    d->cold = true;
    d->side_next = rng_ppm(&d->rng, PPM_SIDE_REQUEST);
    uuid_make(d->session, s->session_key, s->next_session++);
    d->next_us = at_us;
}

/* Plans the developer's next working day and its first session, or ends them. */
static void dev_plan_day(sim *s, sim_dev *d)
{
    const sim_zone *z = &ZONES[d->zone];

    while (d->day < s->o.days) {
        int64_t date = s->start_day + d->day, start_min, len_min, midnight;
        bool weekend = weekday(date) == 0 || weekday(date) == 6;

        d->day++;
        if (!rng_ppm(&d->rng, weekend ? PPM_WORK_WEEKEND : PPM_WORK_WEEKDAY))
            continue;
        start_min = weekend ? rng_range(&d->rng, 600, 960) : rng_range(&d->rng, 480, 630);
        len_min = weekend ? rng_range(&d->rng, 45, 180) : rng_range(&d->rng, 420, 600);
        midnight = date * US_PER_DAY -
                   zone_offset(z, date * US_PER_DAY + 12 * 60 * US_PER_MIN) * US_PER_MIN;
        session_start(s, d,
                      midnight + start_min * US_PER_MIN + rng_range(&d->rng, 0, US_PER_MIN - 1));
        d->day_end_us = d->next_us + len_min * US_PER_MIN;
        return;
    }
    d->next_us = INT64_MAX;
}

/* Schedules what the developer does after a turn at now. */
static void dev_after_turn(sim *s, sim_dev *d, int64_t now)
{
    int64_t t;

    if (--d->turns_left > 0) {
        t = now + rng_buckets(&d->rng, THINK_S, NB(THINK_S)) * US_PER_S +
            rng_range(&d->rng, 0, US_PER_S - 1);
        if (t < d->day_end_us) {
            d->next_us = t;
            d->side_next = rng_ppm(&d->rng, PPM_SIDE_REQUEST);
            return;
        }
    }
    t = now + rng_range(&d->rng, 5 * US_PER_MIN, 60 * US_PER_MIN);
    if (t < d->day_end_us)
        session_start(s, d, t);
    else
        dev_plan_day(s, d);
}

/* The request the developer makes at d->next_us; advances the developer. */
static void dev_request(sim *s, sim_dev *d, sim_req *r)
{
    int64_t now = d->next_us, ttl, fresh;

    memset(r, 0, sizeof(*r));
    r->dev = d;
    r->time_us = now;
    r->n = s->next_id++;
    if (d->side_next) {
        /* Claude Code's small background requests go to Haiku, uncached */
        d->side_next = false;
        r->model = MODEL_HAIKU;
        r->input = rng_range(&d->rng, 150, 3000);
        r->output = rng_range(&d->rng, 5, 150);
        d->next_us = now + rng_range(&d->rng, 1 * US_PER_S, 4 * US_PER_S);
        return;
    }
    r->model = d->model;
    r->stream = true;
    ttl = (d->cache_1h ? 60 : 5) * US_PER_MIN;
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
    d->last_us = now;
    dev_after_turn(s, d, now);
}

/* ---- rendering ---- */

static void sb_message_id(sbuf *b, uint64_t key, uint64_t n)
{
    static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t w[2] = {mix64(n ^ key), mix64(~n ^ (key * UINT64_C(0xd1342543de82ef95)))};
    char id[22];

    for (int i = 0; i < 22; i++) {
        id[i] = B62[w[i / 11] % 62];
        w[i / 11] /= 62;
    }
    sb_str(b, "msg_01");
    sb_mem(b, id, sizeof(id));
}

static void sb_team_name(sbuf *b, int team)
{
    sb_str(b, TEAM_NAMES[team % NB(TEAM_NAMES)]);
    if (team >= NB(TEAM_NAMES))
        sb_i64(b, team / NB(TEAM_NAMES) + 1);
}

static void sb_request_id(sim *s, sbuf *b, const sim_req *r)
{
    char id[37];

    uuid_make(id, s->id_key, r->n);
    sb_str(b, id);
}

static const char *const NOT_JSON[] = {
    "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>",
    "upstream connect error or disconnect/reset before headers. reset reason: overflow",
    "\x1f\x8b\x08\x00\x00\x00\x00\x00",
};

static void render_usage(sim *s, sbuf *b, const sim_req *r)
{
    const sim_dev *d = r->dev;
    bool str = r->string_counts;

    sb_char(b, '{');
    sb_kv_str(b, "schema", "tally.usage/1");
    if (r->defect != DEFECT_NO_ID) {
        sb_str(b, "\"requestId\":\"");
        sb_request_id(s, b, r);
        sb_str(b, "\",");
    } else if (r->n % 2) {
        sb_kv_str(b, "requestId", "NA");
    }
    if (r->defect == DEFECT_BAD_TIME) {
        sb_kv_str(b, "timestamp", r->n % 2 ? "2026-13-45T25:61:00Z" : "NA");
    } else {
        sb_str(b, "\"timestamp\":\"");
        sb_time_iso(b, r->time_us);
        sb_str(b, "\",");
    }
    sb_kv_str(b, "gatewayName", "apim-contoso");
    sb_kv_str(b, "gatewayRegion", ZONES[d->zone].region);
    sb_str(b, "\"apimSubscriptionId\":\"claude-code-");
    sb_team_name(b, d->team);
    sb_str(b, "\",");
    sb_kv_str(b, "productName", "claude-code");
    sb_kv_str(b, "operationName", "messages");
    sb_kv_i64(b, "statusCode", 200, str);
    sb_str(b, r->stream ? "\"isStream\":true," : "\"isStream\":false,");
    sb_kv_str(b, "tenantId", SIM_TENANT);
    sb_kv_str(b, "userOid", d->oid);
    sb_kv_str(b, "userUpn", d->upn);
    sb_kv_str(b, "appId", "NA");
    sb_kv_str(b, "sessionId", d->session);
    if (r->defect != DEFECT_NO_MODEL) {
        sb_kv_str(b, "deploymentName", MODELS[r->model].deployment);
        sb_kv_str(b, "model", MODELS[r->model].name);
    }
    sb_str(b, "\"messageId\":\"");
    sb_message_id(b, s->id_key, r->n);
    sb_str(b, "\",\"usage\":{");
    if (r->defect == DEFECT_BAD_COUNT)
        sb_kv_str(b, "input_tokens", "1,204");
    else
        sb_kv_i64(b, "input_tokens", r->input, str);
    sb_kv_i64(b, "output_tokens", r->defect == DEFECT_NEGATIVE ? -r->output - 1 : r->output, str);
    sb_kv_i64(b, "cache_creation_input_tokens", r->write_5m + r->write_1h, str);
    sb_kv_i64(b, "cache_read_input_tokens", r->cache_read, str);
    sb_str(b, "\"cache_creation\":{");
    sb_kv_i64(b, "ephemeral_5m_input_tokens", r->write_5m, str);
    sb_kv_i64(b, "ephemeral_1h_input_tokens", r->write_1h, str);
    sb_close(b, '}');
    sb_str(b, ",\"server_tool_use\":{");
    sb_kv_i64(b, "web_search_requests", r->web_search, str);
    sb_kv_i64(b, "web_fetch_requests", 0, str);
    sb_close(b, '}');
    sb_str(b, ",\"service_tier\":\"standard\"}}");
}

static void render_legacy(sim *s, sbuf *b, const sim_req *r)
{
    const sim_dev *d = r->dev;
    const sim_zone *z = &ZONES[d->zone];
    bool str = r->string_counts;

    sb_char(b, '{');
    if (r->defect != DEFECT_NO_ID) {
        sb_str(b, "\"id\":\"");
        sb_request_id(s, b, r);
        sb_str(b, "\",");
    }
    sb_str(b, "\"timestamp\":\"");
    if (r->defect == DEFECT_BAD_TIME)
        sb_str(b, "13/45/2026 25:61:00 PM");
    else if (r->n % SIM_PPM < PPM_ISO_LEGACY)
        sb_time_iso(b, r->time_us);
    else
        sb_time_culture(b, r->time_us);
    sb_str(b, "\",");
    sb_kv_str(b, "appId", "NA");
    sb_str(b, "\"subscriptionId\":\"claude-code-");
    sb_team_name(b, d->team);
    sb_str(b, "\",");
    sb_kv_str(b, "productName", "claude-code");
    sb_kv_str(b, "targetService", "chat.completions");
    if (r->defect != DEFECT_NO_MODEL)
        sb_kv_str(b, "model", MODELS[r->model].legacy);
    sb_kv_str(b, "gatewayName", "apim-contoso");
    sb_kv_str(b, "gatewayRegion", z->region);
    sb_kv_str(b, "aiGatewayId", "NA");
    sb_kv_str(b, "RequestIp", d->ip);
    sb_kv_str(b, "operationName", "messages");
    sb_kv_str(b, "sessionId", "NA");
    sb_kv_str(b, "endUserId", d->oid);
    sb_kv_str(b, "backendId", z->backend);
    sb_kv_str(b, "routeLocation", "NA");
    sb_kv_str(b, "routeName", "NA");
    if (r->defect != DEFECT_NO_MODEL)
        sb_kv_str(b, "deploymentName", MODELS[r->model].deployment);
    if (r->defect == DEFECT_BAD_COUNT)
        sb_kv_str(b, "promptTokens", "1.2k");
    else
        sb_kv_i64(b, "promptTokens", r->input, str);
    sb_kv_i64(b, "responseTokens", r->defect == DEFECT_NEGATIVE ? -r->output - 1 : r->output, str);
    sb_kv_i64(b, "totalTokens", r->input + r->output, str);
    sb_close(b, '}');
}

static void render_llm(sim *s, sbuf *b, const sim_req *r, int sequence)
{
    sb_char(b, '{');
    sb_str(b, "\"time\":\"");
    if (r->defect == DEFECT_BAD_TIME)
        sb_str(b, "yesterday");
    else
        sb_time_iso(b, r->time_us);
    sb_str(b, "\",");
    sb_kv_str(b, "resourceId", SIM_RESOURCE);
    sb_kv_str(b, "category", "GatewayLlmLogs");
    sb_kv_str(b, "operationName", "Microsoft.ApiManagement/GatewayLlmLogs");
    sb_str(b, "\"properties\":{");
    if (r->defect != DEFECT_NO_ID) {
        sb_str(b, "\"correlationId\":\"");
        sb_request_id(s, b, r);
        sb_str(b, "\",");
    }
    sb_str(b, "\"requestId\":\"");
    sb_message_id(b, s->id_key, r->n);
    sb_str(b, "\",");
    if (r->defect != DEFECT_NO_MODEL) {
        sb_kv_str(b, "modelName", MODELS[r->model].name);
        sb_kv_str(b, "deploymentName", MODELS[r->model].deployment);
    }
    sb_kv_str(b, "apiVersion", "2023-06-01");
    sb_str(b, r->stream ? "\"isStreamCompletion\":true," : "\"isStreamCompletion\":false,");
    if (r->defect == DEFECT_NEGATIVE)
        sb_kv_i64(b, "promptTokens", -r->input - 1, false);
    else if (r->defect == DEFECT_BAD_COUNT)
        sb_kv_str(b, "promptTokens", "forty-two");
    else
        sb_kv_i64(b, "promptTokens", r->input, false);
    sb_kv_i64(b, "completionTokens", r->output, false);
    sb_kv_i64(b, "totalTokens", r->input + r->output, false);
    sb_kv_i64(b, "promptCachedTokens", r->cache_read, false);
    sb_kv_i64(b, "sequenceNumber", sequence, false);
    sb_close(b, '}');
    sb_char(b, '}');
}

static void render_gateway(sim *s, sbuf *b, const sim_req *r)
{
    const sim_dev *d = r->dev;
    int64_t backend_ms = 400 + r->output * 12 + (int64_t)(r->n % 300);

    sb_char(b, '{');
    sb_str(b, "\"time\":\"");
    sb_time_iso(b, r->time_us + (backend_ms + 20) * 1000);
    sb_str(b, "\",");
    sb_kv_str(b, "resourceId", SIM_RESOURCE);
    sb_kv_str(b, "category", "GatewayLogs");
    sb_kv_str(b, "operationName", "Microsoft.ApiManagement/GatewayLogs");
    sb_str(b, "\"properties\":{\"correlationId\":\"");
    sb_request_id(s, b, r);
    sb_str(b, "\",\"apimSubscriptionId\":\"claude-code-");
    sb_team_name(b, d->team);
    sb_str(b, "\",");
    sb_kv_str(b, "userId", "NA");
    sb_kv_str(b, "apiId", "claude");
    sb_kv_str(b, "operationId", "messages");
    sb_kv_str(b, "method", "POST");
    sb_kv_str(b, "url", "https://apim-contoso.azure-api.net/anthropic/v1/messages");
    sb_kv_i64(b, "responseCode", 200, false);
    sb_kv_i64(b, "backendResponseCode", 200, false);
    sb_kv_i64(b, "totalTime", backend_ms + 20, false);
    sb_kv_i64(b, "backendTime", backend_ms, false);
    sb_str(b, "\"isRequestSuccess\":true,");
    sb_kv_str(b, "region", ZONES[d->zone].region);
    sb_str(b, "\"backendRequestHeaders\":{");
    sb_kv_str(b, "x-tally-user-oid", d->oid);
    sb_kv_str(b, "x-tally-user-upn", d->upn);
    sb_close(b, '}');
    sb_str(b, "}}");
}

static void sb_llm_records(sim *s, sbuf *b, const sim_req *r, bool chunked)
{
    render_llm(s, b, r, 0);
    if (chunked) {
        sb_char(b, ',');
        render_llm(s, b, r, 1);
    }
}

/* Renders a monitor request into line, or its first half into line and the second
 * into s->side (returns true then). */
static bool render_monitor(sim *s, sbuf *line, const sim_req *r)
{
    bool chunked = r->output * SIM_BYTES_PER_TOKEN > SIM_CHUNK_BYTES;
    uint64_t x = rng_next(&s->rng) % SIM_PPM;

    if (r->defect != DEFECT_NONE) {
        sb_str(line, "{\"records\":[");
        render_llm(s, line, r, 0);
        sb_str(line, "]}");
        return false;
    }
    s->st.chunked += chunked;
    sb_str(line, "{\"records\":[");
    if (x < PPM_DEFER_GATEWAY + PPM_DEFER_LLM) {
        s->side.len = 0;
        sb_str(&s->side, "{\"records\":[");
        if (x < PPM_DEFER_GATEWAY) {
            sb_llm_records(s, line, r, chunked);
            render_gateway(s, &s->side, r);
        } else {
            render_gateway(s, line, r);
            sb_llm_records(s, &s->side, r, chunked);
        }
        sb_str(line, "]}");
        sb_str(&s->side, "]}");
        s->st.deferred++;
        return true;
    }
    if (x < PPM_DEFER_GATEWAY + PPM_DEFER_LLM + PPM_GATEWAY_FIRST) {
        render_gateway(s, line, r);
        sb_char(line, ',');
        sb_llm_records(s, line, r, chunked);
    } else {
        sb_llm_records(s, line, r, chunked);
        sb_char(line, ',');
        render_gateway(s, line, r);
    }
    sb_str(line, "]}");
    return false;
}

/* Renders r into line; true when s->side holds a second line to send later. */
static bool render(sim *s, sbuf *line, const sim_req *r)
{
    line->len = 0;
    if (r->defect == DEFECT_NOT_JSON) {
        sb_str(line, NOT_JSON[r->n % NB(NOT_JSON)]);
        return false;
    }
    switch (s->o.format) {
    case PARSE_LEGACY:
        render_legacy(s, line, r);
        return false;
    case PARSE_MONITOR:
        return render_monitor(s, line, r);
    default:
        render_usage(s, line, r);
        return false;
    }
}

/* ---- totals ---- */

static void account(sim *s, const sim_req *r)
{
    sim_total *t = &s->totals[r->dev->index * SIM_MODELS + r->model];
    int64_t context = r->input;

    t->requests++;
    t->input_tokens += r->input;
    t->output_tokens += r->output;
    if (s->o.format != PARSE_LEGACY) {
        t->cache_read_tokens += r->cache_read;
        context += r->cache_read;
    }
    if (s->o.format == PARSE_USAGE) {
        t->cache_write_5m_tokens += r->write_5m;
        t->cache_write_1h_tokens += r->write_1h;
        t->web_search_requests += r->web_search;
        context += r->write_5m + r->write_1h;
    }
    t->long_context_requests += context > 200000;
    s->st.events++;
}

/* ---- the line queue ---- */

/* Queues a copy of src to go out after delay more lines; false when the queue is full. */
static bool pending_add(sim *s, const sbuf *src, int64_t delay)
{
    sim_pending *p;

    if (s->npending == SIM_PENDING_MAX)
        return false;
    p = &s->pending[s->npending];
    p->line.len = 0;
    p->line.oom = false;
    sb_mem(&p->line, src->p, src->len);
    if (p->line.oom)
        return false;
    p->due = s->st.lines + delay;
    s->npending++;
    return true;
}

/* Moves the first pending line due by now (or any, when force) into s->line. */
static bool pending_take(sim *s, bool force)
{
    sbuf t;
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
    s->pending[s->npending].line.len = 0;
    return true;
}

static void malformed_line(sim *s)
{
    sim_dev *d = &s->devs[rng_next(&s->rng) % (uint64_t)s->o.developers];
    sim_req r;

    memset(&r, 0, sizeof(r));
    r.dev = d;
    r.n = s->next_id++;
    r.time_us = d->last_us ? d->last_us : s->o.start_us + 9 * 60 * US_PER_MIN;
    r.model = d->model;
    r.input = rng_range(&s->rng, 1, 40);
    r.output = rng_range(&s->rng, 80, 2000);
    r.cache_read = rng_range(&s->rng, 0, 100000);
    r.write_5m = rng_range(&s->rng, 0, 5000);
    r.stream = true;
    r.defect = (sim_defect)rng_range(&s->rng, DEFECT_NEGATIVE, DEFECT_COUNT - 1);
    render(s, &s->line, &r);
    if (r.defect == DEFECT_TRUNCATED)
        s->line.len = (size_t)rng_range(&s->rng, 1, (int64_t)s->line.len - 1);
    s->st.malformed++;
}

/* The next valid request into s->line; false when the traffic is over. */
static bool event_line(sim *s)
{
    sim_dev *d;
    sim_req r;

    if (s->nheap == 0 || (s->o.max_events > 0 && s->st.events >= s->o.max_events))
        return false;
    d = &s->devs[s->heap[0]];
    dev_request(s, d, &r);
    if (d->next_us == INT64_MAX)
        s->heap[0] = s->heap[--s->nheap];
    heap_down(s, 0);
    r.string_counts = rng_ppm(&s->rng, s->o.format == PARSE_LEGACY ? PPM_STRING_COUNTS_LEGACY
                                                                   : PPM_STRING_COUNTS_USAGE);
    if (render(s, &s->line, &r) &&
        !pending_add(s, &s->side, 1 + rng_range(&s->rng, 0, SIM_DEFER_DELAY_MAX - 1))) {
        /* queue full: the late half goes right after */
        s->line.len = s->line.len - 2;
        sb_char(&s->line, ',');
        sb_mem(&s->line, s->side.p + 12, s->side.len - 12);
        s->st.deferred--;
    }
    account(s, &r);
    if (rng_ppm(&s->rng, s->o.duplicates_ppm) &&
        pending_add(s, &s->line, 1 + rng_range(&s->rng, 0, SIM_DUP_DELAY_MAX - 1)))
        s->st.duplicates++;
    s->malformed_next = rng_ppm(&s->rng, s->o.malformed_ppm);
    return true;
}

bool sim_next(sim *s, const char **line, size_t *len)
{
    bool have = pending_take(s, false);

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
    if (!have || s->line.oom || s->side.oom)
        return false;
    s->st.lines++;
    *line = s->line.p;
    *len = s->line.len;
    return true;
}

/* ---- setup ---- */

static void dev_init(sim *s, sim_dev *d, int i)
{
    int nf = NB(FIRST_NAMES), nl = NB(LAST_NAMES);
    uint64_t off = mix64(s->o.seed ^ UINT64_C(0x6e616d6573));
    int f = (int)((i + off) % (uint64_t)nf);
    int l = (int)(((uint64_t)(i % nf + i / nf) + (off >> 32)) % (uint64_t)nl);
    int again = i / (nf * nl);
    sbuf b = {0};
    char lower[64];
    size_t k;

    d->index = i;
    d->rng = mix64(s->o.seed * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)i);
    uuid_make(d->oid, mix64(s->o.seed ^ UINT64_C(0x646576656c6f70)), (uint64_t)i);
    snprintf(d->display, sizeof(d->display), "%s %s", FIRST_NAMES[f], LAST_NAMES[l]);
    sb_str(&b, FIRST_NAMES[f]);
    sb_char(&b, '.');
    sb_str(&b, LAST_NAMES[l]);
    if (again)
        sb_i64(&b, again + 1);
    for (k = 0; k < b.len && k < sizeof(lower) - 1; k++)
        lower[k] = (char)(b.p[k] >= 'A' && b.p[k] <= 'Z' ? b.p[k] - 'A' + 'a' : b.p[k]);
    lower[k] = '\0';
    free(b.p);
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
    if (o->format != PARSE_USAGE && o->format != PARSE_LEGACY && o->format != PARSE_MONITOR) {
        snprintf(err, errlen, "simulation format must be usage, legacy or monitor");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto oom;
    s->o = *o;
    s->start_day = floor_div(o->start_us, US_PER_DAY);
    s->rng = mix64(o->seed ^ UINT64_C(0x73747265616d));
    s->id_key = mix64(o->seed ^ UINT64_C(0x72657175657374));
    s->session_key = mix64(o->seed ^ UINT64_C(0x73657373696f6e));
    s->generating = true;
    s->devs = calloc((size_t)o->developers, sizeof(*s->devs));
    s->heap = calloc((size_t)o->developers, sizeof(*s->heap));
    s->pending = calloc(SIM_PENDING_MAX, sizeof(*s->pending));
    s->totals = calloc((size_t)o->developers * SIM_MODELS, sizeof(*s->totals));
    s->sorted = calloc((size_t)o->developers * SIM_MODELS, sizeof(*s->sorted));
    if (!s->devs || !s->heap || !s->pending || !s->totals || !s->sorted ||
        !sb_reserve(&s->line, SIM_LINE_RESERVE) || !sb_reserve(&s->side, SIM_LINE_RESERVE))
        goto oom;
    for (i = 0; i < o->developers; i++) {
        dev_init(s, &s->devs[i], i);
        for (int m = 0; m < SIM_MODELS; m++) {
            s->totals[i * SIM_MODELS + m].developer_oid = s->devs[i].oid;
            s->totals[i * SIM_MODELS + m].model =
                o->format == PARSE_LEGACY ? MODELS[m].legacy : MODELS[m].name;
        }
        if (s->devs[i].next_us != INT64_MAX)
            s->heap[s->nheap++] = i;
    }
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
            free(s->pending[i].line.p);
    }
    free(s->pending);
    free(s->line.p);
    free(s->side.p);
    free(s->devs);
    free(s->heap);
    free(s->totals);
    free(s->sorted);
    free(s);
}

const char *sim_error(const sim *s)
{
    /* a pending copy that found no memory was dropped and not counted */
    return s->line.oom || s->side.oom ? "out of memory" : NULL;
}

const sim_stats *sim_get_stats(const sim *s)
{
    return &s->st;
}

static int total_cmp(const void *a, const void *b)
{
    const sim_total *x = a, *y = b;
    int c = strcmp(x->developer_oid, y->developer_oid);

    return c ? c : strcmp(x->model, y->model);
}

int sim_totals(sim *s, const sim_total **rows)
{
    int n = 0;

    for (int i = 0; i < s->o.developers * SIM_MODELS; i++) {
        if (s->totals[i].requests > 0)
            s->sorted[n++] = s->totals[i];
    }
    qsort(s->sorted, (size_t)n, sizeof(*s->sorted), total_cmp);
    *rows = s->sorted;
    return n;
}

bool sim_totals_write(sim *s, FILE *out)
{
    const sim_total *rows;
    sim_total all = {.developer_oid = "total", .model = ""};
    int n = sim_totals(s, &rows);

    fprintf(out, "developer_oid,model,requests,input_tokens,cache_write_5m_tokens,"
                 "cache_write_1h_tokens,cache_read_tokens,output_tokens,web_search_requests,"
                 "long_context_requests\n");
    for (int i = 0; i <= n; i++) {
        const sim_total *t = i < n ? &rows[i] : &all;

        fprintf(out, "%s,%s,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld\n", t->developer_oid, t->model,
                (long long)t->requests, (long long)t->input_tokens,
                (long long)t->cache_write_5m_tokens, (long long)t->cache_write_1h_tokens,
                (long long)t->cache_read_tokens, (long long)t->output_tokens,
                (long long)t->web_search_requests, (long long)t->long_context_requests);
        if (i < n) {
            all.requests += t->requests;
            all.input_tokens += t->input_tokens;
            all.cache_write_5m_tokens += t->cache_write_5m_tokens;
            all.cache_write_1h_tokens += t->cache_write_1h_tokens;
            all.cache_read_tokens += t->cache_read_tokens;
            all.output_tokens += t->output_tokens;
            all.web_search_requests += t->web_search_requests;
            all.long_context_requests += t->long_context_requests;
        }
    }
    return fflush(out) == 0 && !ferror(out);
}

bool sim_roster_write(const sim *s, FILE *out)
{
    sbuf team = {0};

    fprintf(out, "oid,upn,display_name,team,cost_center\n");
    for (int i = 0; i < s->o.developers; i++) {
        const sim_dev *d = &s->devs[i];

        team.len = 0;
        sb_team_name(&team, d->team);
        sb_char(&team, '\0');
        fprintf(out, "%s,%s,%s,%s,CC-%d\n", d->oid, d->upn, d->display, team.oom ? "" : team.p,
                4100 + d->team);
    }
    free(team.p);
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

/* n digits at s as a number, or -1 */
static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool sim_parse_date(const char *s, int64_t *out_us)
{
    int y, m, d, y2, m2, d2;

    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    y = digits(s, 4);
    m = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    civil_from_days(civil_days(y, m, d), &y2, &m2, &d2);
    if (y2 != y || m2 != m || d2 != d)
        return false;
    *out_us = civil_days(y, m, d) * US_PER_DAY;
    return true;
}
