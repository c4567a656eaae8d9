/*
 * sink_pg.c - one PostgreSQL transaction per batch (DESIGN §3, §4).
 *
 * The batch arrives as COPY text for session-local staging tables; one statement then
 * moves the events into usage_events and adds the rollup deltas of exactly the rows it
 * inserted (RETURNING feeds the aggregation), so the rollups can never disagree with
 * the raw rows. Rollup upserts are ordered by their key: two daemons touching the same
 * buckets lock them in the same order instead of deadlocking.
 */
#include "sink_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "db.h"
#include "log.h"

#define SINK_ENSURED_MAX 256

struct sink_pg {
    sink_pg_config cfg;
    PGconn *conn;
    int32_t ensured[SINK_ENSURED_MAX]; /* months whose partition is known to exist */
    int nensured;
    char wait_s[24];
    char *sql_insert_events; /* SQL_INSERT_EVENTS joined */
    char sqlstate[6];        /* of the last failed insert_events, "" if none */
    char refusal[160];       /* "database refused: <sqlstate> <message>" */
};

/* ---- COPY text ---- */

static bool buf_reserve(sink_buf *b, size_t more)
{
    size_t cap;
    char *p;

    if (b->len + more <= b->cap)
        return true;
    cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p)
        return false;
    b->data = p;
    b->cap = cap;
    return true;
}

static void buf_put(sink_buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        abort(); /* out of memory: nothing sensible left to do */
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void buf_sep(sink_buf *b, char c)
{
    buf_put(b, &c, 1);
}

/* A text field; "" is written as NULL when null_if_empty. */
static void buf_text(sink_buf *b, const char *s, bool null_if_empty)
{
    if (null_if_empty && !*s) {
        buf_put(b, "\\N", 2);
        return;
    }
    buf_reserve(b, 2 * strlen(s));
    for (; *s; s++) {
        switch (*s) {
        case '\\':
            buf_put(b, "\\\\", 2);
            break;
        case '\n':
            buf_put(b, "\\n", 2);
            break;
        case '\r':
            buf_put(b, "\\r", 2);
            break;
        case '\t':
            buf_put(b, "\\t", 2);
            break;
        default:
            buf_put(b, s, 1);
        }
    }
}

static void buf_int(sink_buf *b, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

    buf_put(b, tmp, (size_t)n);
}

static void buf_bool(sink_buf *b, int v) /* -1 = NULL */
{
    if (v < 0)
        buf_put(b, "\\N", 2);
    else
        buf_put(b, v ? "t" : "f", 1);
}

static void format_time(int64_t us, char *out, size_t outlen)
{
    int64_t secs = us / 1000000, frac = us % 1000000;
    time_t t;
    struct tm tm;

    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    t = (time_t)secs;
    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

static void buf_time(sink_buf *b, int64_t us)
{
    char tmp[48];

    format_time(us, tmp, sizeof(tmp));
    buf_put(b, tmp, strlen(tmp));
}

/* bytea in hex, with the backslash doubled for COPY text */
static void buf_bytea(sink_buf *b, const char *raw, size_t len)
{
    static const char hex[] = "0123456789abcdef";

    buf_reserve(b, 3 + 2 * len);
    buf_put(b, "\\\\x", 3);
    for (size_t i = 0; i < len; i++) {
        char pair[2] = {hex[(unsigned char)raw[i] >> 4], hex[(unsigned char)raw[i] & 15]};
        buf_put(b, pair, 2);
    }
}

/* ---- batches ---- */

void sink_batch_init(sink_batch *b)
{
    memset(b, 0, sizeof(*b));
}

void sink_batch_cleanup(sink_batch *b)
{
    free(b->events.data);
    free(b->llm.data);
    free(b->gateway.data);
    free(b->rejects.data);
    free(b->offsets);
    free(b->msgs);
    free(b->msg_info.data);
    memset(b, 0, sizeof(*b));
}

void sink_batch_reset(sink_batch *b)
{
    b->events.len = b->llm.len = b->gateway.len = b->rejects.len = 0;
    b->nevents = b->nllm = b->ngateway = b->nrejects = 0;
    b->nrecords = b->nmessages = 0;
    b->nmonths = b->noffsets = b->nreasons = 0;
    b->message_rejects = 0;
    b->msg_info.len = 0;
}

void sink_batch_message(sink_batch *b, const char *key_prefix, const char *source, const char *raw,
                        size_t raw_len)
{
    sink_msg *m;

    snprintf(b->key_prefix, sizeof(b->key_prefix), "%s", key_prefix);
    snprintf(b->source, sizeof(b->source), "%s", source);
    b->message_rejects = 0;
    if (b->nmessages == b->msgs_cap) {
        size_t cap = b->msgs_cap ? b->msgs_cap * 2 : 256;
        sink_msg *p = realloc(b->msgs, cap * sizeof(*p));
        if (!p)
            abort(); /* out of memory, as in buf_put */
        b->msgs = p;
        b->msgs_cap = cap;
    }
    m = &b->msgs[b->nmessages++];
    m->events_len = b->events.len;
    m->nevents = b->nevents;
    m->info = b->msg_info.len;
    m->raw_len = raw_len;
    buf_put(&b->msg_info, b->key_prefix, strlen(b->key_prefix) + 1);
    buf_put(&b->msg_info, b->source, strlen(b->source) + 1);
    buf_put(&b->msg_info, raw ? raw : "", raw ? raw_len : 0);
}

static void batch_month(sink_batch *b, int64_t us)
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
    if (b->nmonths < SINK_MONTHS_MAX) /* beyond, the default partition takes the rows */
        b->months[b->nmonths++] = m;
}

/* The columns of tally_stage, in COPY order. */
#define STAGE_COLUMNS                                                                              \
    "request_id, event_time, source_format, developer_oid, developer_upn, tenant_id, app_id, "     \
    "session_id, message_id, deployment, model, gateway, region, subscription, product, "          \
    "operation, service_tier, status_code, is_stream, input_tokens, output_tokens, "               \
    "cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, "                            \
    "cache_write_unsplit_tokens, cache_write_unknown, web_search_requests, web_fetch_requests, "   \
    "long_context"

/* Columns after the first: each starts with its tab. */
static void col_text(sink_buf *o, const char *s, bool null_if_empty)
{
    buf_sep(o, '\t');
    buf_text(o, s, null_if_empty);
}

static void col_int(sink_buf *o, int64_t v)
{
    buf_sep(o, '\t');
    buf_int(o, v);
}

static void col_int_or_null(sink_buf *o, int64_t v) /* 0 = unknown = NULL */
{
    buf_sep(o, '\t');
    if (v)
        buf_int(o, v);
    else
        buf_put(o, "\\N", 2);
}

static void col_bool(sink_buf *o, int v)
{
    buf_sep(o, '\t');
    buf_bool(o, v);
}

static void col_time(sink_buf *o, int64_t us)
{
    buf_sep(o, '\t');
    buf_time(o, us);
}

static void add_event(sink_batch *b, const tally_event *ev)
{
    sink_buf *o = &b->events;
    const char *labels[] = {ev->user_upn, ev->tenant_id, ev->app_id, ev->session_id,
                            ev->message_id};
    const char *more[] = {ev->gateway, ev->region,    ev->subscription,
                          ev->product, ev->operation, ev->service_tier};
    const int64_t counts[] = {ev->input_tokens,          ev->output_tokens,
                              ev->cache_read_tokens,     ev->cache_write_5m_tokens,
                              ev->cache_write_1h_tokens, ev->cache_write_unsplit_tokens};

    buf_text(o, ev->request_id, false);
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
    buf_sep(o, '\n');
    b->nevents++;
    batch_month(b, ev->event_time_us);
}

#define LLM_COLUMNS                                                                                \
    "correlation_id, event_time, seq, message_id, deployment, model, is_stream, input_tokens, "    \
    "output_tokens, cache_read_tokens, long_context"

static void add_llm(sink_batch *b, const parse_item *item)
{
    const tally_event *ev = &item->ev;
    sink_buf *o = &b->llm;

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
    buf_sep(o, '\n');
    b->nllm++;
    batch_month(b, ev->event_time_us);
}

#define GATEWAY_COLUMNS                                                                            \
    "correlation_id, event_time, user_oid, user_upn, subscription, status_code, region"

static void add_gateway(sink_batch *b, const tally_event *ev)
{
    sink_buf *o = &b->gateway;

    buf_text(o, ev->request_id, false);
    col_time(o, ev->event_time_us);
    col_text(o, ev->user_oid, true);
    col_text(o, ev->user_upn, true);
    col_text(o, ev->subscription, true);
    col_int_or_null(o, ev->status_code);
    col_text(o, ev->region, true);
    buf_sep(o, '\n');
    b->ngateway++;
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

static void count_reason(sink_batch *b, const char *reason)
{
    const char *cls = reason_class(reason);
    int i;

    for (i = 0; i < b->nreasons; i++) {
        if (strcmp(b->reasons[i].reason, cls) == 0)
            break;
    }
    if (i == b->nreasons) { /* fewer classes than SINK_REASONS_MAX: there is room */
        snprintf(b->reasons[i].reason, sizeof(b->reasons[i].reason), "%s", cls);
        b->reasons[i].count = 0;
        b->nreasons++;
    }
    b->reasons[i].count++;
}

static void add_reject(sink_batch *b, const parse_item *item)
{
    sink_buf *o = &b->rejects;
    char key[600];

    if (b->message_rejects == 0)
        snprintf(key, sizeof(key), "%s", b->key_prefix);
    else
        snprintf(key, sizeof(key), "%s:%d", b->key_prefix, b->message_rejects);
    b->message_rejects++;
    buf_text(o, key, false);
    col_text(o, b->source, false);
    col_text(o, item->reason, false);
    buf_sep(o, '\t');
    buf_bytea(o, item->raw ? item->raw : "", item->raw ? item->raw_len : 0);
    buf_sep(o, '\n');
    b->nrejects++;
    count_reason(b, item->reason);
}

void sink_batch_emit(void *ctx, const parse_item *item)
{
    sink_batch *b = ctx;

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

bool sink_batch_offset(sink_batch *b, int32_t partition, int64_t prev, int64_t offset)
{
    int i;

    for (i = 0; i < b->noffsets; i++) {
        if (b->offsets[i].partition == partition) {
            b->offsets[i].next = offset + 1;
            return true;
        }
    }
    if (b->noffsets == b->offsets_cap) {
        int cap = b->offsets_cap ? b->offsets_cap * 2 : 16;
        sink_offset *p = realloc(b->offsets, sizeof(*p) * (size_t)cap);
        if (!p)
            return false;
        b->offsets = p;
        b->offsets_cap = cap;
    }
    b->offsets[i].partition = partition;
    b->offsets[i].prev = prev;
    b->offsets[i].next = offset + 1;
    b->noffsets++;
    return true;
}

/* ---- the database ---- */

static const char *const SQL_STAGE[] = {
    "CREATE TEMP TABLE IF NOT EXISTS tally_stage"
    " (LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS tally_stage_llm (correlation_id text NOT NULL,"
    " event_time timestamptz NOT NULL, seq integer NOT NULL, message_id text,"
    " deployment text NOT NULL, model text NOT NULL, is_stream boolean,"
    " input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,"
    " cache_read_tokens bigint NOT NULL, long_context boolean NOT NULL) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS tally_stage_gateway (correlation_id text NOT NULL,"
    " event_time timestamptz NOT NULL, user_oid text, user_upn text, subscription text,"
    " status_code integer, region text) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS tally_stage_rejects (source_key text NOT NULL,"
    " source text NOT NULL, reason text NOT NULL, raw bytea NOT NULL) ON COMMIT DELETE ROWS",
    NULL,
};

/*
 * Moves the staged events into usage_events; the rollups and labels take only what the
 * INSERT returned. DISTINCT ON drops a key twice in one batch before it reaches the
 * table. Returns one row: the number of events inserted.
 */
#define ROLLUP_SUMS                                                                                \
    "sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,"      \
    " sum(cache_read_tokens)::bigint AS cache_read_tokens,"                                        \
    " sum(cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,"                                \
    " sum(cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,"                                \
    " sum(cache_write_unsplit_tokens)::bigint AS cache_write_unsplit_tokens,"
#define ROLLUP_COLUMNS                                                                             \
    "developer_oid, model, deployment, long_context, requests, input_tokens, output_tokens,"       \
    " cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,"                            \
    " cache_write_unsplit_tokens, cache_unknown_requests, web_search_requests, "                   \
    "web_fetch_requests"
#define ROLLUP_UPDATE                                                                              \
    " DO UPDATE SET requests = r.requests + EXCLUDED.requests,"                                    \
    " input_tokens = r.input_tokens + EXCLUDED.input_tokens,"                                      \
    " output_tokens = r.output_tokens + EXCLUDED.output_tokens,"                                   \
    " cache_read_tokens = r.cache_read_tokens + EXCLUDED.cache_read_tokens,"                       \
    " cache_write_5m_tokens = r.cache_write_5m_tokens + EXCLUDED.cache_write_5m_tokens,"           \
    " cache_write_1h_tokens = r.cache_write_1h_tokens + EXCLUDED.cache_write_1h_tokens,"           \
    " cache_write_unsplit_tokens = r.cache_write_unsplit_tokens"                                   \
    " + EXCLUDED.cache_write_unsplit_tokens,"                                                      \
    " cache_unknown_requests = r.cache_unknown_requests + EXCLUDED.cache_unknown_requests,"        \
    " web_search_requests = r.web_search_requests + EXCLUDED.web_search_requests,"                 \
    " web_fetch_requests = r.web_fetch_requests + EXCLUDED.web_fetch_requests"

/* in pieces: ISO C caps a string literal at 4095 bytes */
static const char *const SQL_INSERT_EVENTS[] = {
    "WITH ins AS ("
    " INSERT INTO usage_events (" STAGE_COLUMNS ")"
    " SELECT DISTINCT ON (request_id, event_time) " STAGE_COLUMNS
    " FROM tally_stage ORDER BY request_id, event_time"
    " ON CONFLICT DO NOTHING"
    " RETURNING event_time, developer_oid, developer_upn, model, deployment, long_context,"
    " input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,"
    " cache_write_1h_tokens, cache_write_unsplit_tokens, cache_write_unknown,"
    " web_search_requests, web_fetch_requests),",
    " agg AS ("
    " SELECT date_bin('15 minutes', event_time, timestamptz '1970-01-01 00:00:00+00') AS bucket,"
    " developer_oid, model, deployment, long_context, count(*) AS requests, " ROLLUP_SUMS
    " count(*) FILTER (WHERE cache_write_unknown) AS cache_unknown_requests,"
    " sum(web_search_requests)::bigint AS web_search_requests,"
    " sum(web_fetch_requests)::bigint AS web_fetch_requests"
    " FROM ins GROUP BY 1, 2, 3, 4, 5),",
    " r15 AS ("
    " INSERT INTO usage_rollup_15m AS r (bucket, " ROLLUP_COLUMNS ")"
    " SELECT * FROM agg ORDER BY 1, 2, 3, 4, 5"
    " ON CONFLICT (bucket, developer_oid, model, deployment, long_context)" ROLLUP_UPDATE "),",
    " rday AS ("
    " INSERT INTO usage_rollup_day AS r (day, " ROLLUP_COLUMNS ")"
    " SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, long_context,"
    " sum(requests)::bigint, " ROLLUP_SUMS " sum(cache_unknown_requests)::bigint,"
    " sum(web_search_requests)::bigint, sum(web_fetch_requests)::bigint"
    " FROM agg GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    " ON CONFLICT (day, developer_oid, model, deployment, long_context)" ROLLUP_UPDATE "),",
    " lab AS ("
    " INSERT INTO developer_labels AS l (oid, upn, last_seen)"
    " SELECT DISTINCT ON (developer_oid) developer_oid, developer_upn, event_time FROM ins"
    " WHERE developer_upn IS NOT NULL ORDER BY developer_oid, event_time DESC"
    " ON CONFLICT (oid) DO UPDATE SET upn = EXCLUDED.upn, last_seen = EXCLUDED.last_seen"
    " WHERE l.last_seen <= EXCLUDED.last_seen)"
    " SELECT count(*) FROM ins",
    NULL,
};

static const char SQL_INSERT_REJECTS[] =
    "INSERT INTO ingest_rejects (source_key, source, reason, raw)"
    " SELECT source_key, source, reason, raw FROM tally_stage_rejects ORDER BY source_key"
    " ON CONFLICT (source_key) DO NOTHING";

/* The first chunk of an LLM record wins; a late chunk of a request already stored (its
 * pair was joined or expired before it came) is not pending again. */
static const char SQL_PENDING_LLM[] =
    "INSERT INTO ingest_monitor_llm (correlation_id, event_time, message_id, deployment, model,"
    " is_stream, input_tokens, output_tokens, cache_read_tokens, long_context)"
    " SELECT DISTINCT ON (correlation_id) correlation_id, event_time, message_id, deployment,"
    " model, is_stream, input_tokens, output_tokens, cache_read_tokens, long_context"
    " FROM tally_stage_llm s WHERE NOT EXISTS (SELECT 1 FROM usage_events e"
    " WHERE e.request_id = s.correlation_id AND e.event_time >= s.event_time - interval '1 day'"
    " AND e.event_time <= s.event_time + interval '1 day')"
    " ORDER BY correlation_id, seq ON CONFLICT DO NOTHING";

static const char SQL_PENDING_GATEWAY[] =
    "INSERT INTO ingest_monitor_gateway (correlation_id, event_time, user_oid, user_upn,"
    " subscription, status_code, region)"
    " SELECT DISTINCT ON (correlation_id) correlation_id, event_time, user_oid, user_upn,"
    " subscription, status_code, region FROM tally_stage_gateway"
    " ORDER BY correlation_id, event_time ON CONFLICT DO NOTHING";

/* The event a joined or expired LLM half becomes: the gateway half gives the caller
 * (its logged oid header, else the APIM subscription), the LLM half everything else. */
#define MONITOR_EVENT_SELECT                                                                       \
    " SELECT l.correlation_id, l.event_time, 3,"                                                   \
    " coalesce(nullif(g.user_oid, ''), nullif(g.subscription, ''), 'unattributed'),"               \
    " g.user_upn, NULL, NULL, NULL, l.message_id, l.deployment, l.model, NULL, g.region,"          \
    " g.subscription, NULL, NULL, NULL, g.status_code, l.is_stream, l.input_tokens,"               \
    " l.output_tokens, l.cache_read_tokens, 0, 0, 0, true, 0, 0, l.long_context"

static const char SQL_JOIN[] =
    "WITH g AS (DELETE FROM ingest_monitor_gateway g USING ingest_monitor_llm l"
    " WHERE g.correlation_id = l.correlation_id RETURNING g.*),"
    " l AS (DELETE FROM ingest_monitor_llm l USING g WHERE l.correlation_id = g.correlation_id"
    " RETURNING l.*)"
    " INSERT INTO tally_stage (" STAGE_COLUMNS ")" MONITOR_EVENT_SELECT
    " FROM l JOIN g ON g.correlation_id = l.correlation_id";

static const char SQL_EXPIRE_LLM[] =
    "WITH l AS (DELETE FROM ingest_monitor_llm"
    " WHERE received_at < now() - make_interval(secs => $1::double precision) RETURNING *),"
    " g AS (SELECT NULL::text AS user_oid, NULL::text AS user_upn, NULL::text AS subscription,"
    " NULL::text AS region, NULL::integer AS status_code)"
    " INSERT INTO tally_stage (" STAGE_COLUMNS ")" MONITOR_EVENT_SELECT " FROM l, g";

static const char SQL_EXPIRE_GATEWAY[] =
    "DELETE FROM ingest_monitor_gateway"
    " WHERE received_at < now() - make_interval(secs => $1::double precision)";

static uint64_t cmd_tuples(PGresult *res)
{
    return strtoull(PQcmdTuples(res), NULL, 10);
}

/* Runs a statement whose row count matters; false after logging on error. */
static bool exec_count(sink_pg *s, const char *what, const char *sql, int nparams,
                       const char *const *params, uint64_t *count)
{
    PGresult *res = db_query(s->conn, what, sql, nparams, params);

    if (!res)
        return false;
    if (count)
        *count = cmd_tuples(res);
    PQclear(res);
    return true;
}

static char *join_sql(const char *const *parts)
{
    size_t len = 1;
    char *sql;

    for (int i = 0; parts[i]; i++)
        len += strlen(parts[i]);
    sql = malloc(len);
    if (!sql)
        return NULL;
    sql[0] = '\0';
    for (int i = 0; parts[i]; i++)
        strcat(sql, parts[i]);
    return sql;
}

static bool prepare_session(sink_pg *s, bool *no_schema)
{
    /* From Kafka, a batch lost in a server crash takes its offsets with it and is read
     * again, so waiting for each commit to reach the disk buys nothing but latency. A
     * file source has reported its rows as stored by then: it keeps the default. */
    if (s->cfg.group &&
        !db_exec(s->conn, "set synchronous_commit", "SET synchronous_commit = off", 0, NULL))
        return false;
    for (int i = 0; SQL_STAGE[i]; i++) {
        PGresult *res = PQexec(s->conn, SQL_STAGE[i]);
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

        if (!ok)
            log_error("could not create staging tables: %s",
                      PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) : db_error(s->conn));
        if (!ok && no_schema)
            *no_schema = st && strcmp(st, "42P01") == 0;
        PQclear(res);
        if (!ok)
            return false;
    }
    return true;
}

sink_pg *sink_pg_new(const sink_pg_config *cfg, volatile sig_atomic_t *stop, bool *no_schema)
{
    sink_pg *s = calloc(1, sizeof(*s));

    *no_schema = false;
    if (!s)
        return NULL;
    s->cfg = *cfg;
    snprintf(s->wait_s, sizeof(s->wait_s), "%d", cfg->monitor_join_wait_s);
    s->sql_insert_events = join_sql(SQL_INSERT_EVENTS);
    if (!s->sql_insert_events) {
        free(s);
        return NULL;
    }
    s->conn = db_connect(cfg->conninfo, 0, stop);
    if (!s->conn || !prepare_session(s, no_schema)) {
        sink_pg_free(s);
        return NULL;
    }
    return s;
}

void sink_pg_free(sink_pg *s)
{
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    free(s->sql_insert_events);
    free(s);
}

bool sink_pg_ok(const sink_pg *s)
{
    return db_ok(s->conn);
}

bool sink_pg_reconnect(sink_pg *s, int attempts, volatile sig_atomic_t *stop)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = db_connect(s->cfg.conninfo, attempts, stop);
    if (s->conn && !prepare_session(s, NULL)) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    return s->conn != NULL;
}

/* Creates the partitions of the batch's months, outside the batch's transaction so that
 * the cache only ever holds months that exist. */
static bool ensure_months(sink_pg *s, const sink_batch *b)
{
    for (int i = 0; i < b->nmonths; i++) {
        char ts[32];
        const char *params[1] = {ts};
        bool known = false;
        PGresult *res;

        for (int k = 0; k < s->nensured; k++)
            known = known || s->ensured[k] == b->months[i];
        if (known)
            continue;
        snprintf(ts, sizeof(ts), "%04d-%02d-01 00:00:00+00", b->months[i] / 12,
                 b->months[i] % 12 + 1);
        res =
            PQexecParams(s->conn, "SELECT tally_ensure_month($1)", 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            /* Two consumers creating one month at once: the loser fails with "already
             * exists" (the function's advisory lock does not refresh its catalog view).
             * The partition is there then, and the default partition would take the
             * rows anyway: only a lost connection fails the batch. */
            log_warn("could not create the partition of month %.7s: %s", ts,
                     PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) : db_error(s->conn));
            PQclear(res);
            if (!db_ok(s->conn))
                return false;
            continue;
        }
        PQclear(res);
        if (s->nensured < SINK_ENSURED_MAX)
            s->ensured[s->nensured++] = b->months[i];
    }
    return true;
}

/* Compare-and-set of one partition's offset; *moved is false when another consumer got
 * there first. */
static bool store_offset(sink_pg *s, const sink_offset *o, bool *moved)
{
    char part[16], next[24], prev[24];
    const char *params[5] = {s->cfg.group, s->cfg.topic, part, next, prev};
    uint64_t n = 0;
    bool ok;

    snprintf(part, sizeof(part), "%" PRId32, o->partition);
    snprintf(next, sizeof(next), "%" PRId64, o->next);
    snprintf(prev, sizeof(prev), "%" PRId64, o->prev);
    if (o->prev < 0)
        ok = exec_count(s, "insert offset",
                        "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        4, params, &n);
    else
        ok = exec_count(s, "update offset",
                        "UPDATE ingest_offsets SET next_offset = $4, updated_at = now()"
                        " WHERE consumer_group = $1 AND topic = $2 AND partition = $3"
                        " AND next_offset = $5",
                        5, params, &n);
    *moved = n == 1;
    return ok;
}

static int offset_cmp(const void *a, const void *b)
{
    const sink_offset *x = a, *y = b;

    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* The monitor halves of the batch go pending; pairs complete anywhere are joined, and
 * halves that waited too long expire. The resulting events land in tally_stage. */
static bool monitor_step(sink_pg *s, const sink_batch *b, sink_result *r)
{
    const char *params[1] = {s->wait_s};

    if (b && b->nllm &&
        (!db_copy_in(s->conn, "stage monitor records",
                     "COPY tally_stage_llm (" LLM_COLUMNS ") FROM STDIN", b->llm.data,
                     b->llm.len) ||
         !db_exec(s->conn, "keep monitor records pending", SQL_PENDING_LLM, 0, NULL)))
        return false;
    if (b && b->ngateway &&
        (!db_copy_in(s->conn, "stage gateway records",
                     "COPY tally_stage_gateway (" GATEWAY_COLUMNS ") FROM STDIN", b->gateway.data,
                     b->gateway.len) ||
         !db_exec(s->conn, "keep gateway records pending", SQL_PENDING_GATEWAY, 0, NULL)))
        return false;
    return exec_count(s, "join monitor records", SQL_JOIN, 0, NULL, &r->joined) &&
           exec_count(s, "expire monitor records", SQL_EXPIRE_LLM, 1, params, &r->unattributed) &&
           exec_count(s, "expire gateway records", SQL_EXPIRE_GATEWAY, 1, params, &r->dropped);
}

/* Moves tally_stage into the tables, adding to r->inserted. On failure keeps the
 * SQLSTATE and a one-line refusal: a data error is the events' fault, not the server's. */
static bool insert_events(sink_pg *s, sink_result *r)
{
    PGresult *res = PQexecParams(s->conn, s->sql_insert_events, 0, NULL, NULL, NULL, NULL, 0);
    const char *st, *msg;

    s->sqlstate[0] = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        r->inserted += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return true;
    }
    st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", st ? st : "");
    snprintf(s->refusal, sizeof(s->refusal), "database refused: %s %s", st ? st : "?",
             msg ? msg : "");
    log_error("could not insert events: %s", msg ? msg : db_error(s->conn));
    PQclear(res);
    return false;
}

/* The last insert_events failed on the data (SQLSTATE class 22 data exception or 23
 * integrity violation) over a working connection: retrying the same rows cannot help. */
static bool refused(const sink_pg *s)
{
    return db_ok(s->conn) &&
           (strncmp(s->sqlstate, "22", 2) == 0 || strncmp(s->sqlstate, "23", 2) == 0);
}

static sink_status failed(sink_pg *s)
{
    db_rollback(s->conn);
    return SINK_RETRY;
}

/* The COPY text of messages [lo, hi) of the events staging buffer. */
static size_t msgs_events_end(const sink_batch *b, size_t i, size_t *nevents)
{
    *nevents = i < b->nmessages ? b->msgs[i].nevents : b->nevents;
    return i < b->nmessages ? b->msgs[i].events_len : b->events.len;
}

static bool savepoint(sink_pg *s, const char *sql)
{
    return db_exec(s->conn, "set a savepoint", sql, 0, NULL);
}

/*
 * Inserts the events of messages [lo, hi) under a savepoint; where Postgres refuses
 * them, halves the range, down to single messages, which become rejects in *refused_out
 * (COPY text of tally_stage_rejects). false on any other error: the batch is retried.
 */
static bool insert_range(sink_pg *s, const sink_batch *b, size_t lo, size_t hi,
                         sink_buf *refused_out, sink_result *r)
{
    size_t n0, n1, from = msgs_events_end(b, lo, &n0), to = msgs_events_end(b, hi, &n1);

    if (n1 == n0)
        return true;
    s->sqlstate[0] = '\0'; /* a failed COPY must not pass for the last refusal */
    if (!savepoint(s, "SAVEPOINT tally_range"))
        return false;
    if (db_copy_in(s->conn, "stage events", "COPY tally_stage (" STAGE_COLUMNS ") FROM STDIN",
                   b->events.data + from, to - from) &&
        insert_events(s, r))
        return db_exec(s->conn, "empty the staging table", "DELETE FROM tally_stage", 0, NULL) &&
               savepoint(s, "RELEASE SAVEPOINT tally_range");
    if (!refused(s) || !savepoint(s, "ROLLBACK TO SAVEPOINT tally_range") ||
        !savepoint(s, "RELEASE SAVEPOINT tally_range"))
        return false;
    if (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        return insert_range(s, b, lo, mid, refused_out, r) &&
               insert_range(s, b, mid, hi, refused_out, r);
    }
    {
        const sink_msg *m = &b->msgs[lo];
        const char *key = b->msg_info.data + m->info;
        const char *source = key + strlen(key) + 1;
        const char *raw = source + strlen(source) + 1;
        char k[600];

        log_warn("%s: stored as a reject: %s", source, s->refusal);
        snprintf(k, sizeof(k), "%s:refused", key);
        buf_text(refused_out, k, false);
        col_text(refused_out, source, false);
        col_text(refused_out, s->refusal, false);
        buf_sep(refused_out, '\t');
        buf_bytea(refused_out, raw, m->raw_len);
        buf_sep(refused_out, '\n');
        r->refused++;
        r->duplicates -= n1 - n0; /* not staged after all */
    }
    return true;
}

/* The events of a batch Postgres refused, inserted again by halves: the joined monitor
 * events first, then the batch's own, the refused messages staged as rejects. */
static bool insert_split(sink_pg *s, const sink_batch *b, uint64_t staged, sink_result *r)
{
    sink_buf refusals = {0};
    bool ok = (staged == b->nevents || insert_events(s, r)) &&
              db_exec(s->conn, "empty the staging table", "DELETE FROM tally_stage", 0, NULL) &&
              insert_range(s, b, 0, b->nmessages, &refusals, r) &&
              (!refusals.len ||
               db_copy_in(s->conn, "stage rejects",
                          "COPY tally_stage_rejects (source_key, source, reason, raw) FROM STDIN",
                          refusals.data, refusals.len));

    free(refusals.data);
    return ok;
}

/* The batch's transaction; split: after Postgres refused its events as a whole. */
static sink_status commit_batch(sink_pg *s, sink_batch *b, sink_result *out, bool split)
{
    sink_result r;
    uint64_t staged;

    memset(&r, 0, sizeof(r));
    if (!db_ok(s->conn))
        return SINK_RETRY;
    if (!ensure_months(s, b) || !db_begin(s->conn))
        return failed(s);
    if ((b->nllm || b->ngateway) && !monitor_step(s, b, &r))
        return failed(s);
    staged = b->nevents + r.joined + r.unattributed;
    r.duplicates = staged; /* less what is inserted or refused */
    if (split) {
        if (!insert_split(s, b, staged, &r))
            return failed(s);
    } else {
        if (b->nevents &&
            !db_copy_in(s->conn, "stage events", "COPY tally_stage (" STAGE_COLUMNS ") FROM STDIN",
                        b->events.data, b->events.len))
            return failed(s);
        /* no savepoint here: a subtransaction costs every batch; a refused one is rare */
        if (staged && !insert_events(s, &r)) {
            bool data_error = refused(s);
            db_rollback(s->conn);
            return data_error ? commit_batch(s, b, out, true) : SINK_RETRY;
        }
    }
    r.duplicates -= r.inserted;
    if (b->nrejects &&
        !db_copy_in(s->conn, "stage rejects",
                    "COPY tally_stage_rejects (source_key, source, reason, raw) FROM STDIN",
                    b->rejects.data, b->rejects.len))
        return failed(s);
    if ((b->nrejects || r.refused) &&
        !exec_count(s, "insert rejects", SQL_INSERT_REJECTS, 0, NULL, &r.rejects_new))
        return failed(s);
    if (b->noffsets && s->cfg.group) {
        /* in partition order, so that two consumers never wait on each other in a cycle */
        qsort(b->offsets, (size_t)b->noffsets, sizeof(b->offsets[0]), offset_cmp);
        for (int i = 0; i < b->noffsets; i++) {
            bool moved;
            if (!store_offset(s, &b->offsets[i], &moved))
                return failed(s);
            if (!moved) {
                log_warn("offset of partition %" PRId32 " of topic \"%s\" is no longer %" PRId64
                         ": another consumer owns it; batch dropped",
                         b->offsets[i].partition, s->cfg.topic, b->offsets[i].prev);
                db_rollback(s->conn);
                return SINK_CONFLICT;
            }
        }
    }
    if (!db_commit(s->conn))
        return failed(s);
    if (out)
        *out = r;
    return SINK_OK;
}

sink_status sink_pg_commit(sink_pg *s, sink_batch *b, sink_result *out)
{
    return commit_batch(s, b, out, false);
}

sink_status sink_pg_monitor_tick(sink_pg *s, sink_result *out)
{
    sink_result r;
    uint64_t staged;

    memset(&r, 0, sizeof(r));
    if (!db_ok(s->conn))
        return SINK_RETRY;
    if (!db_begin(s->conn) || !monitor_step(s, NULL, &r))
        return failed(s);
    staged = r.joined + r.unattributed;
    if (staged && !insert_events(s, &r))
        return failed(s);
    r.duplicates = staged - r.inserted;
    if (!db_commit(s->conn))
        return failed(s);
    if (out)
        *out = r;
    return SINK_OK;
}

bool sink_pg_load_offsets(sink_pg *s, int32_t nparts, int64_t *next)
{
    const char *params[2] = {s->cfg.group, s->cfg.topic};
    PGresult *res;

    for (int32_t i = 0; i < nparts; i++)
        next[i] = -1;
    if (!db_ok(s->conn))
        return false;
    res = db_query(s->conn, "read stored offsets",
                   "SELECT partition, next_offset FROM ingest_offsets"
                   " WHERE consumer_group = $1 AND topic = $2",
                   2, params);
    if (!res)
        return false;
    for (int i = 0; i < PQntuples(res); i++) {
        long p = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (p >= 0 && p < nparts)
            next[p] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
    PQclear(res);
    return true;
}
