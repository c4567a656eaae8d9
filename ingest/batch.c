/*
 * batch.c - the COPY text of a batch (see batch.h): text escaped for COPY's text format,
 * NULL as \N, times in UTC with microseconds, raw bytes as bytea hex.
 */
#include "batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- COPY text ---- */

/* A text field; "" is written as NULL when null_if_empty. */
static void buf_text(membuf *b, const char *s, bool null_if_empty)
{
    if (null_if_empty && !*s) {
        membuf_put(b, "\\N", 2);
        return;
    }
    membuf_reserve(b, 2 * strlen(s));
    while (*s) {
        size_t plain = strcspn(s, "\\\n\r\t"); /* copied in one piece */

        membuf_put(b, s, plain);
        s += plain;
        if (!*s)
            break;
        switch (*s++) {
        case '\\':
            membuf_put(b, "\\\\", 2);
            break;
        case '\n':
            membuf_put(b, "\\n", 2);
            break;
        case '\r':
            membuf_put(b, "\\r", 2);
            break;
        case '\t':
            membuf_put(b, "\\t", 2);
            break;
        }
    }
}

/* v in decimal, ending at end (no NUL); returns where it starts. snprintf was about a
 * tenth of the daemon's CPU in the COPY text (perf, issue 11). */
static char *decimal(char *end, int64_t v)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--end = '-';
    return end;
}

static void buf_int(membuf *b, int64_t v)
{
    char tmp[24], *start = decimal(tmp + sizeof(tmp), v);

    membuf_put(b, start, (size_t)(tmp + sizeof(tmp) - start));
}

static void buf_bool(membuf *b, int v) /* -1 = NULL */
{
    if (v < 0)
        membuf_put(b, "\\N", 2);
    else
        membuf_put(b, v ? "t" : "f", 1);
}

/* v (>= 0) as exactly width digits, zero-padded, at p; returns the end. */
static char *fixed_digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

/* "YYYY-MM-DD hh:mm:ss.uuuuuu+00" of us since the epoch, UTC, for the years the parsers
 * accept (1900-9999): the civil date by Howard Hinnant's civil_from_days, the inverse of
 * parse_days_from_civil(). */
static void format_time(int64_t us, char *out, size_t outlen)
{
    int64_t secs = us / 1000000, frac = us % 1000000, days, sod, era, doe, yoe, doy, mp, y;
    char tmp[32], *p = tmp;

    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    days = secs / 86400;
    sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    y = yoe + era * 400 + (mp >= 10);
    p = fixed_digits(p, y, 4);
    *p++ = '-';
    p = fixed_digits(p, mp < 10 ? mp + 3 : mp - 9, 2);
    *p++ = '-';
    p = fixed_digits(p, doy - (153 * mp + 2) / 5 + 1, 2);
    *p++ = ' ';
    p = fixed_digits(p, sod / 3600, 2);
    *p++ = ':';
    p = fixed_digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = fixed_digits(p, sod % 60, 2);
    *p++ = '.';
    p = fixed_digits(p, frac, 6);
    memcpy(p, "+00", 4);
    p += 3;
    if ((size_t)(p - tmp) >= outlen)
        p = tmp + outlen - 1;
    memcpy(out, tmp, (size_t)(p - tmp));
    out[p - tmp] = '\0';
}

static void buf_time(membuf *b, int64_t us)
{
    char tmp[48];

    format_time(us, tmp, sizeof(tmp));
    membuf_put(b, tmp, strlen(tmp));
}

/* bytea in hex, with the backslash doubled for COPY text */
static void buf_bytea(membuf *b, const char *raw, size_t len)
{
    static const char hex[] = "0123456789abcdef";

    membuf_reserve(b, 3 + 2 * len);
    membuf_put(b, "\\\\x", 3);
    for (size_t i = 0; i < len; i++) {
        char pair[2] = {hex[(unsigned char)raw[i] >> 4], hex[(unsigned char)raw[i] & 15]};
        membuf_put(b, pair, 2);
    }
}

/* ---- batches ---- */

void batch_init(batch *b)
{
    memset(b, 0, sizeof(*b));
    b->message_time = BATCH_NO_TIME;
}

void batch_cleanup(batch *b)
{
    membuf_free(&b->events);
    membuf_free(&b->llm);
    membuf_free(&b->gateway);
    membuf_free(&b->rejects);
    free(b->parts);
    membuf_free(&b->part_keys);
    free(b->evs);
    free(b->offsets);
    free(b->gaps);
    free(b->msgs);
    membuf_free(&b->msg_info);
    membuf_free(&b->scratch);
    memset(b, 0, sizeof(*b));
}

void batch_reset(batch *b)
{
    membuf_reset(&b->events);
    membuf_reset(&b->llm);
    membuf_reset(&b->gateway);
    membuf_reset(&b->rejects);
    b->nparts = 0;
    membuf_reset(&b->part_keys);
    membuf_reset(&b->msg_info);
    b->sql_parts = false;
    b->nevents = b->nllm = b->ngateway = b->nrejects = 0;
    b->nrecords = b->nmessages = 0;
    b->nmonths = b->noffsets = b->nreasons = b->ngaps = 0;
    b->message_rejects = 0;
    b->message_time = BATCH_NO_TIME;
    b->oom = false;
}

bool batch_oom(const batch *b)
{
    return b->oom || b->events.oom || b->llm.oom || b->gateway.oom || b->rejects.oom ||
           b->part_keys.oom || b->msg_info.oom || b->scratch.oom;
}

/* Makes room for element n of *arr (doubling from first); false, b->oom set, if none. */
static bool grow(batch *b, void **arr, size_t *cap, size_t n, size_t size, size_t first)
{
    size_t c = *cap ? *cap * 2 : first;
    void *p;

    if (n < *cap)
        return true;
    p = realloc(*arr, c * size);
    if (!p) {
        b->oom = true;
        return false;
    }
    *arr = p;
    *cap = c;
    return true;
}

void batch_message(batch *b, const char *key_prefix, const char *source, const char *raw,
                   size_t raw_len)
{
    batch_msg *m;

    snprintf(b->key_prefix, sizeof(b->key_prefix), "%s", key_prefix);
    snprintf(b->source, sizeof(b->source), "%s", source);
    b->message_rejects = 0;
    b->message_time = BATCH_NO_TIME;
    if (!grow(b, (void **)&b->msgs, &b->msgs_cap, b->nmessages, sizeof(*b->msgs), 256))
        return;
    m = &b->msgs[b->nmessages++];
    m->events_len = b->events.len;
    m->nevents = b->nevents;
    m->info = b->msg_info.len;
    m->raw_len = raw_len;
    membuf_put(&b->msg_info, b->key_prefix, strlen(b->key_prefix) + 1);
    membuf_put(&b->msg_info, b->source, strlen(b->source) + 1);
    membuf_put(&b->msg_info, raw ? raw : "", raw ? raw_len : 0);
}

static void batch_month(batch *b, int64_t us)
{
    int64_t secs = us / 1000000 - (us % 1000000 < 0 ? 1 : 0);
    time_t t = (time_t)secs;
    struct tm tm;
    int32_t m;

    gmtime_r(&t, &tm);
    m = (int32_t)((tm.tm_year + 1900) * 12 + tm.tm_mon);
    for (int i = 0; i < b->nmonths; i++) {
        if (b->months[i] == m)
            return;
    }
    if (b->nmonths < BATCH_MONTHS_MAX) /* beyond, the default partition takes the rows */
        b->months[b->nmonths++] = m;
}

static void message_time(batch *b, int64_t us)
{
    if (b->message_time == BATCH_NO_TIME)
        b->message_time = us;
}

/* Columns after the first: each starts with its tab. */
static void col_text(membuf *o, const char *s, bool null_if_empty)
{
    membuf_putc(o, '\t');
    buf_text(o, s, null_if_empty);
}

static void col_int(membuf *o, int64_t v)
{
    membuf_putc(o, '\t');
    buf_int(o, v);
}

static void col_int_or_null(membuf *o, int64_t v) /* 0 = unknown = NULL */
{
    membuf_putc(o, '\t');
    if (v)
        buf_int(o, v);
    else
        membuf_put(o, "\\N", 2);
}

static void col_bool(membuf *o, int v)
{
    membuf_putc(o, '\t');
    buf_bool(o, v);
}

static void col_time(membuf *o, int64_t us)
{
    membuf_putc(o, '\t');
    buf_time(o, us);
}

/* A JSON string (RFC 8259 escapes; ids are UTF-8 as parsed). */
static void json_string(membuf *o, const char *s)
{
    membuf_putc(o, '"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            membuf_putc(o, '\\');
            membuf_putc(o, (char)ch);
        } else if (ch < 0x20) {
            membuf_printf(o, "\\u%04x", ch);
        } else {
            membuf_putc(o, (char)ch);
        }
    }
    membuf_putc(o, '"');
}

/* The iterations column: NULL without iterations, else the list as JSON (usage_events'
 * iterations, read by tally_usage_parts()). */
static void col_iterations(batch *b, const tally_event *ev)
{
    membuf *j = &b->scratch;

    if (ev->niterations == 0) {
        membuf_put(&b->events, "\t\\N", 3);
        return;
    }
    membuf_reset(j);
    membuf_putc(j, '[');
    for (int i = 0; i < ev->niterations; i++) {
        const event_iteration *it = &ev->iterations[i];

        membuf_puts(j, i ? ",{\"type\":" : "{\"type\":");
        if (it->type[0])
            json_string(j, it->type);
        else
            membuf_puts(j, "null");
        membuf_puts(j, ",\"model\":");
        if (it->model[0])
            json_string(j, it->model);
        else
            membuf_puts(j, "null");
#define ITERATION_COUNT(name)                                                                      \
    membuf_puts(j, ",\"" #name "\":");                                                             \
    buf_int(j, it->name);
        TALLY_TOKEN_CLASSES(ITERATION_COUNT)
#undef ITERATION_COUNT
        membuf_putc(j, '}');
    }
    membuf_putc(j, ']');
    membuf_putc(j, '\0');
    col_text(&b->events, j->oom ? "" : j->data, false);
}

/* ---- rollup parts ---- */

#define PARTS_BUCKET_US INT64_C(900000000) /* date_bin('15 minutes', …, epoch) */
enum { PARTS_REQUEST_COUNTS = 0 TALLY_REQUEST_COUNTS(TALLY_COUNT_ONE) };

/* One part of the event: tokens per token class, counts per TALLY_REQUEST_COUNTS. */
static void part_row(batch *b, const tally_event *ev, const char *model, int band, int64_t requests,
                     const int64_t *tokens, const int64_t *counts)
{
    membuf *o = &b->part_keys;
    int64_t bucket = ev->event_time_us / PARTS_BUCKET_US;
    batch_part *part;

    if (!grow(b, (void **)&b->parts, &b->parts_cap, b->nparts, sizeof(*b->parts), 1024))
        return;
    if (ev->event_time_us % PARTS_BUCKET_US < 0)
        bucket--;
    part = &b->parts[b->nparts++];
    part->bucket_us = bucket * PARTS_BUCKET_US;
    part->key = o->len;
    col_text(o, ev->user_oid[0] ? ev->user_oid : EVENT_UNATTRIBUTED, false);
    col_text(o, model, false);
    col_text(o, ev->deployment, false);
    col_int(o, band);
    col_text(o, ev->speed[0] ? ev->speed : "standard", false);
    col_text(o, ev->inference_geo, false);
    part->key_len = o->len - part->key;
    part->sums[0] = requests;
    for (int i = 0; i < TALLY_TOKEN_CLASS_COUNT; i++)
        part->sums[1 + i] = tokens[i];
    for (int i = 0; i < PARTS_REQUEST_COUNTS; i++)
        part->sums[1 + TALLY_TOKEN_CLASS_COUNT + i] = counts[i];
}

/* A speed SQL's lower() keeps as it is in any locale: plain lowercase ASCII. */
static bool speed_plain(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s >= 0x80 || (*s >= 'A' && *s <= 'Z'))
            return false;
    }
    return true;
}

/*
 * The event's rollup parts, as tally_usage_parts() (schema/functions/15_prompt_bands.sql)
 * makes them from its row: without iterations the top-level usage under the event's
 * model; with iterations each under its own model (the event's when it names none) and
 * band, the request and its tool and cache-unknown counts on the last iteration of the
 * event's model (the last one if none is).
 */
static void add_parts(batch *b, const tally_event *ev)
{
#define PARTS_EVENT_COUNT(name) ev->name,
    /* in TALLY_REQUEST_COUNTS order */
    const int64_t counts[PARTS_REQUEST_COUNTS] = {ev->cache_write_unknown ? 1 : 0,
                                                  ev->web_search_requests, ev->web_fetch_requests};
    static const int64_t none[PARTS_REQUEST_COUNTS];
    int counted = ev->niterations - 1;

    if (!speed_plain(ev->speed))
        b->sql_parts = true;
    if (ev->niterations == 0) {
        const int64_t tokens[] = {TALLY_TOKEN_CLASSES(PARTS_EVENT_COUNT)};
        part_row(b, ev, ev->model, ev->prompt_band, 1, tokens, counts);
        return;
    }
#undef PARTS_EVENT_COUNT
    for (int i = ev->niterations - 1; i >= 0; i--) {
        const char *m = ev->iterations[i].model[0] ? ev->iterations[i].model : ev->model;
        if (strcmp(m, ev->model) == 0) {
            counted = i;
            break;
        }
    }
    for (int i = 0; i < ev->niterations; i++) {
        const event_iteration *it = &ev->iterations[i];
#define PARTS_ITERATION_COUNT(name) it->name,
        const int64_t tokens[] = {TALLY_TOKEN_CLASSES(PARTS_ITERATION_COUNT)};
#undef PARTS_ITERATION_COUNT

        part_row(b, ev, it->model[0] ? it->model : ev->model,
                 event_prompt_band(EVENT_PROMPT_TOKENS(it)), i == counted, tokens,
                 i == counted ? counts : none);
    }
}

/* Records where the event just added lies in b->events and b->parts, and its upn. */
static void add_event_ref(batch *b, const tally_event *ev, size_t row, size_t id_len, size_t part)
{
    batch_event *e;

    if (!grow(b, (void **)&b->evs, &b->evs_cap, b->nevents, sizeof(*b->evs), 1024))
        return;
    e = &b->evs[b->nevents];
    e->time_us = ev->event_time_us;
    e->row = row;
    e->row_len = b->events.len - row;
    e->part = part;
    e->nparts = b->nparts - part;
    e->id_len = id_len;
    e->upn = b->part_keys.len;
    if (ev->user_upn[0])
        buf_text(&b->part_keys, ev->user_upn, false);
    e->upn_len = b->part_keys.len - e->upn;
}

static void add_event(batch *b, const tally_event *ev)
{
    membuf *o = &b->events;
    size_t row = o->len, part = b->nparts, id_len;
    const char *labels[] = {ev->user_upn, ev->tenant_id, ev->app_id, ev->session_id,
                            ev->message_id};
    const char *more[] = {ev->gateway, ev->region,    ev->subscription,
                          ev->product, ev->operation, ev->service_tier};
#define EVENT_COUNT(name) ev->name,
    const int64_t counts[] = {TALLY_TOKEN_CLASSES(EVENT_COUNT)};
#undef EVENT_COUNT

    buf_text(o, ev->request_id, false);
    id_len = o->len - row;
    col_time(o, ev->event_time_us);
    col_int(o, ev->format);
    col_text(o, ev->user_oid[0] ? ev->user_oid : EVENT_UNATTRIBUTED, false);
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        col_text(o, labels[i], true);
    col_text(o, ev->deployment, false);
    col_text(o, ev->model, false);
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
        col_text(o, more[i], true);
    col_int_or_null(o, ev->status_code);
    col_bool(o, ev->is_stream);
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        col_int(o, counts[i]);
    col_bool(o, ev->cache_write_unknown);
    col_int(o, ev->web_search_requests);
    col_int(o, ev->web_fetch_requests);
    col_bool(o, ev->long_context);
    col_text(o, ev->speed, true);
    col_text(o, ev->inference_geo, true);
    col_int(o, ev->prompt_tokens);
    col_iterations(b, ev);
    membuf_putc(o, '\n');
    add_parts(b, ev);
    add_event_ref(b, ev, row, id_len, part);
    b->nevents++;
    batch_month(b, ev->event_time_us);
    message_time(b, ev->event_time_us);
}

static void add_llm(batch *b, const parse_item *item)
{
    const tally_event *ev = &item->ev;
    membuf *o = &b->llm;

    buf_text(o, ev->request_id, false);
    col_time(o, ev->event_time_us);
    col_int(o, item->sequence);
    col_text(o, ev->message_id, true);
    col_text(o, ev->deployment, false);
    col_text(o, ev->model, false);
    col_bool(o, ev->is_stream);
    col_int(o, ev->input_tokens);
    col_int(o, ev->output_tokens);
    col_int(o, ev->cache_read_tokens);
    col_bool(o, ev->long_context);
    membuf_putc(o, '\n');
    b->nllm++;
    batch_month(b, ev->event_time_us);
    message_time(b, ev->event_time_us);
}

static void add_gateway(batch *b, const tally_event *ev)
{
    membuf *o = &b->gateway;

    buf_text(o, ev->request_id, false);
    col_time(o, ev->event_time_us);
    col_text(o, ev->user_oid, true);
    col_text(o, ev->user_upn, true);
    col_text(o, ev->subscription, true);
    col_int_or_null(o, ev->status_code);
    col_text(o, ev->region, true);
    membuf_putc(o, '\n');
    b->ngateway++;
    message_time(b, ev->event_time_us);
}

/* The metric label of a reject reason: one of a fixed few classes. Reasons quote the
 * input ("invalid JSON: ... near 'xyz'"), and a label per distinct text would make a
 * new Prometheus series per garbage message. */
static const struct {
    const char *prefix, *cls;
} REASON_CLASSES[] = {
    {"invalid JSON", "invalid JSON"},
    {"unsupported schema", "unknown format"},
    {"record is not an object", "unknown format"},
    {"missing ", "missing field"},
    {"invalid timestamp", "invalid timestamp"},
    {"timestamp out of range", "invalid timestamp"},
    {"invalid token count", "invalid token count"},
    {"negative token count", "negative token count"},
    {"token count in ", "token count over maximum"},
    {"invalid boolean", "invalid field"},
    {"invalid integer", "invalid field"},
    {"database refused", "database refused"},
};

static const char *reason_class(const char *reason)
{
    size_t len = strlen(reason);

    for (size_t i = 0; i < sizeof(REASON_CLASSES) / sizeof(REASON_CLASSES[0]); i++) {
        if (strncmp(reason, REASON_CLASSES[i].prefix, strlen(REASON_CLASSES[i].prefix)) == 0)
            return REASON_CLASSES[i].cls;
    }
    if (strncmp(reason, "field ", 6) == 0)
        return len > 9 && strcmp(reason + len - 9, " too long") == 0 ? "field too long"
                                                                     : "invalid field";
    return "other";
}

static void count_reason(batch *b, const char *reason)
{
    const char *cls = reason_class(reason);
    int i;

    for (i = 0; i < b->nreasons; i++) {
        if (strcmp(b->reasons[i].reason, cls) == 0)
            break;
    }
    if (i == b->nreasons) { /* fewer classes than BATCH_REASONS_MAX: there is room */
        snprintf(b->reasons[i].reason, sizeof(b->reasons[i].reason), "%s", cls);
        b->reasons[i].count = 0;
        b->nreasons++;
    }
    b->reasons[i].count++;
}

/* A row of tally_stage_rejects. */
static void reject_row(membuf *o, const char *key, const char *source, const char *reason,
                       const char *raw, size_t raw_len)
{
    buf_text(o, key, false);
    col_text(o, source, false);
    col_text(o, reason, false);
    membuf_putc(o, '\t');
    buf_bytea(o, raw, raw_len);
    membuf_putc(o, '\n');
}

static void add_reject(batch *b, const parse_item *item)
{
    char key[600];

    if (b->message_rejects == 0)
        snprintf(key, sizeof(key), "%s", b->key_prefix);
    else
        snprintf(key, sizeof(key), "%s:%d", b->key_prefix, b->message_rejects);
    b->message_rejects++;
    reject_row(&b->rejects, key, b->source, item->reason, item->raw ? item->raw : "",
               item->raw ? item->raw_len : 0);
    b->nrejects++;
    count_reason(b, item->reason);
}

void batch_emit(void *ctx, const parse_item *item)
{
    batch *b = ctx;

    b->nrecords++;
    switch (item->kind) {
    case ITEM_EVENT:
        add_event(b, &item->ev);
        break;
    case ITEM_MON_LLM:
        add_llm(b, item);
        break;
    case ITEM_MON_GATEWAY:
        add_gateway(b, &item->ev);
        break;
    case ITEM_REJECT:
        add_reject(b, item);
        break;
    }
}

/* the index of partition's entry in b->offsets, -1 if none */
static int find_partition(const batch *b, int32_t partition)
{
    for (int i = 0; i < b->noffsets; i++) {
        if (b->offsets[i].partition == partition)
            return i;
    }
    return -1;
}

bool batch_offset(batch *b, int32_t partition, int64_t prev, int64_t offset)
{
    int i = find_partition(b, partition);

    if (i >= 0) {
        b->offsets[i].next = offset + 1;
        if (b->message_time != BATCH_NO_TIME)
            b->offsets[i].last_time = b->message_time;
        return true;
    }
    i = b->noffsets;
    if (b->noffsets == b->offsets_cap) {
        int cap = b->offsets_cap ? b->offsets_cap * 2 : 16;
        batch_partition *p = realloc(b->offsets, sizeof(*p) * (size_t)cap);
        if (!p)
            return false;
        b->offsets = p;
        b->offsets_cap = cap;
    }
    b->offsets[i].partition = partition;
    b->offsets[i].prev = prev;
    b->offsets[i].next = offset + 1;
    b->offsets[i].last_time = b->message_time;
    b->noffsets++;
    return true;
}

int64_t batch_next_offset(const batch *b, int32_t partition)
{
    int i = find_partition(b, partition);

    return i >= 0 ? b->offsets[i].next : -1;
}

bool batch_gap_add(batch *b, int32_t partition, int64_t first, int64_t last)
{
    batch_gap *g;
    int i;

    if (b->ngaps == b->gaps_cap) {
        int cap = b->gaps_cap ? b->gaps_cap * 2 : 4;
        batch_gap *p = realloc(b->gaps, sizeof(*p) * (size_t)cap);
        if (!p)
            return false;
        b->gaps = p;
        b->gaps_cap = cap;
    }
    g = &b->gaps[b->ngaps++];
    g->partition = partition;
    g->first = first;
    g->last = last;
    i = find_partition(b, partition);
    g->before = i >= 0 ? b->offsets[i].last_time : BATCH_NO_TIME;
    g->after = b->message_time;
    return true;
}

/* message i's key, source and raw bytes, as batch_message stored them */
static const char *msg_key(const batch *b, size_t i)
{
    return b->msg_info.data + b->msgs[i].info;
}

const char *batch_msg_source(const batch *b, size_t i)
{
    const char *key = msg_key(b, i);

    return key + strlen(key) + 1;
}

void batch_refused_reject(const batch *b, size_t i, const char *reason, membuf *out)
{
    const char *key = msg_key(b, i), *source = batch_msg_source(b, i);
    const char *raw = source + strlen(source) + 1;
    char k[600];

    snprintf(k, sizeof(k), "%s:refused", key);
    reject_row(out, k, source, reason, raw, b->msgs[i].raw_len);
}

size_t batch_events_end(const batch *b, size_t i, size_t *nevents)
{
    *nevents = i < b->nmessages ? b->msgs[i].nevents : b->nevents;
    return i < b->nmessages ? b->msgs[i].events_len : b->events.len;
}

void batch_copy_text(membuf *out, const char *s)
{
    buf_text(out, s, false);
}

void batch_time_text(int64_t us, char *out, size_t outlen)
{
    format_time(us, out, outlen);
}

void batch_event_id_element(const batch *b, size_t i, membuf *out)
{
    const char *id = b->events.data + b->evs[i].row, *end = id + b->evs[i].id_len;

    membuf_putc(out, '"');
    for (; id < end; id++) {
        char c = *id;

        if (c == '\\' && id + 1 < end) { /* COPY's escapes (buf_text) undone */
            c = *++id;
            c = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        }
        if (c == '"' || c == '\\')
            membuf_putc(out, '\\');
        membuf_putc(out, c);
    }
    membuf_putc(out, '"');
}

uint64_t batch_key_hash(const char *p, size_t n, int64_t seed)
{
    uint64_t h = UINT64_C(14695981039346656037) ^ (uint64_t)seed;

    for (size_t k = 0; k < n; k++) {
        h ^= (unsigned char)p[k];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* an event's developer: the first key column of its first part, without its tab */
static const char *event_developer(const batch *b, const batch_event *e, size_t *len)
{
    const char *k = b->part_keys.data + b->parts[e->part].key + 1;
    const char *end = memchr(k, '\t', b->parts[e->part].key_len - 1);

    *len = end ? (size_t)(end - k) : b->parts[e->part].key_len - 1;
    return k;
}

/* In open-addressing tables of cap (a power of two) slots holding a group's index + 1
 * (0 = free): the slot of part p among the groups of parts, and of developer dev/dlen
 * among the label groups (lab: each one's event). */
static size_t part_slot(const batch *b, const size_t *slots, size_t cap, const batch_part *groups,
                        const batch_part *p)
{
    const char *key = b->part_keys.data + p->key;
    size_t at = (size_t)batch_key_hash(key, p->key_len, p->bucket_us) & (cap - 1);

    for (; slots[at]; at = (at + 1) & (cap - 1)) {
        const batch_part *g = &groups[slots[at] - 1];

        if (g->bucket_us == p->bucket_us && g->key_len == p->key_len &&
            memcmp(b->part_keys.data + g->key, key, p->key_len) == 0)
            break;
    }
    return at;
}

static size_t developer_slot(const batch *b, const size_t *slots, size_t cap, const size_t *lab,
                             const char *dev, size_t dlen)
{
    size_t at = (size_t)batch_key_hash(dev, dlen, 0) & (cap - 1);

    for (; slots[at]; at = (at + 1) & (cap - 1)) {
        size_t glen;
        const char *gdev = event_developer(b, &b->evs[lab[slots[at] - 1]], &glen);

        if (glen == dlen && memcmp(gdev, dev, dlen) == 0)
            break;
    }
    return at;
}

batch_rollup_status batch_rollup_text(const batch *b, const uint8_t *skip, membuf *agg,
                                      membuf *labels)
{
    size_t cap = batch_table_size(b->nparts + 1), ngroups = 0, nlabels = 0;
    bool overflow = false;
    size_t *slots, *lslots, *lab; /* lab: per label group, its event */
    batch_part *groups;
    bool ok;

    slots = calloc(cap, sizeof(*slots));
    lslots = calloc(cap, sizeof(*lslots));
    lab = malloc((b->nevents + 1) * sizeof(*lab));
    groups = malloc((b->nparts + 1) * sizeof(*groups));
    ok = slots && lslots && lab && groups;
    for (size_t i = 0; ok && i < b->nevents; i++) {
        const batch_event *e = &b->evs[i];

        if (skip[i] || e->nparts == 0)
            continue;
        for (size_t j = e->part; j < e->part + e->nparts; j++) {
            const batch_part *p = &b->parts[j];
            size_t at = part_slot(b, slots, cap, groups, p);

            if (!slots[at]) {
                groups[ngroups] = *p;
                slots[at] = ++ngroups;
                continue;
            }
            for (int k = 0; k < BATCH_PART_SUMS; k++) {
                int64_t *sum = &groups[slots[at] - 1].sums[k];

                overflow |= __builtin_add_overflow(*sum, p->sums[k], sum);
            }
        }
        if (e->upn_len) {
            size_t dlen;
            const char *dev = event_developer(b, e, &dlen);
            size_t at = developer_slot(b, lslots, cap, lab, dev, dlen);

            if (!lslots[at]) {
                lab[nlabels] = i;
                lslots[at] = ++nlabels;
            } else if (b->evs[lab[lslots[at] - 1]].time_us < e->time_us) {
                lab[lslots[at] - 1] = i;
            }
        }
    }
    for (size_t g = 0; ok && g < ngroups; g++) {
        buf_time(agg, groups[g].bucket_us);
        membuf_put(agg, b->part_keys.data + groups[g].key, groups[g].key_len);
        for (int k = 0; k < BATCH_PART_SUMS; k++)
            col_int(agg, groups[g].sums[k]);
        membuf_putc(agg, '\n');
    }
    for (size_t g = 0; ok && g < nlabels; g++) {
        const batch_event *e = &b->evs[lab[g]];
        size_t dlen;
        const char *dev = event_developer(b, e, &dlen);

        membuf_put(labels, dev, dlen);
        membuf_putc(labels, '\t');
        membuf_put(labels, b->part_keys.data + e->upn, e->upn_len);
        col_time(labels, e->time_us);
        membuf_putc(labels, '\n');
    }
    free(slots);
    free(lslots);
    free(lab);
    free(groups);
    if (!ok || agg->oom || labels->oom)
        return BATCH_ROLLUP_OOM;
    return overflow ? BATCH_ROLLUP_OVERFLOW : BATCH_ROLLUP_OK;
}
