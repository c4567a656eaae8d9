/*
 * sink_pg.c - one PostgreSQL transaction per batch (docs/architecture.md, "Exactly once"
 * and "Storage").
 *
 * The batch arrives as COPY text (batch.c). A batch of usage events goes the direct way
 * (insert_direct): its new rows COPYed straight into usage_events, the rollup deltas of
 * exactly those rows from the parts batch.c computed for them. Anything else goes the
 * checking way: staged in session-local tables, one statement moves the events into
 * usage_events and adds the rollup deltas of exactly the rows it inserted (RETURNING
 * feeds the aggregation). Either way the rollups cannot disagree with the raw rows.
 * Rollup upserts are ordered by their key: two daemons touching the same buckets lock
 * them in the same order instead of deadlocking.
 */
#include "sink_pg.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "db.h"
#include "log.h"

#define SINK_ENSURED_MAX 256

/* the keys of one batch this sink committed the direct or the checking way: every one is
 * in usage_events then (written, or found stored), so a re-delivery of one needs no probe */
typedef struct recent_keys {
    membuf ids; /* the request ids as escaped, one after another */
    struct recent_key {
        int64_t time_us;
        size_t at, len; /* in ids */
    } * keys;
    size_t nkeys, keys_cap;
    size_t *slots; /* open addressing: index + 1 into keys, 0 = free */
    size_t nslots;
} recent_keys;

struct sink_pg {
    sink_pg_config cfg;
    PGconn *conn;
    int32_t ensured[SINK_ENSURED_MAX]; /* months whose partition is known to exist */
    int nensured;
    char wait_s[24];
    char *sql_insert_events; /* SQL_INSERT_EVENTS joined */
    char *sql_reattribute;   /* SQL_REATTRIBUTE joined */
    char *sql_rollup_staged; /* SQL_ROLLUP_STAGED joined, prepared as "tally_rollup_staged" */
    uint8_t *repeat;         /* per event of the batch: its key came earlier in the batch */
    size_t *slots;           /* open-addressing table of event index + 1, 0 = free */
    size_t repeat_cap, slots_cap, nslots;
    membuf probe, key;     /* insert_direct's probe: its array of ids, a stored id escaped */
    membuf agg, labels;    /* insert_direct's COPY text of tally_stage_agg and _labels */
    recent_keys recent[2]; /* the last batch committed, and the one before */
    bool probe_next;       /* the next direct batch probes usage_events for stored keys */
    char sqlstate[6];      /* of the last failed insert_events, "" if none */
    char refusal[160];     /* "database refused: <sqlstate> <message>" */
    /* the commit started by sink_pg_commit_start */
    pthread_t worker;
    bool direct;         /* the database has 0018: the direct way may be taken */
    bool started;        /* worker is to be joined */
    atomic_bool running; /* worker has not finished yet */
    batch *async_batch;
    sink_status async_status;
    sink_result async_result;
    double async_seconds;
};

/* ---- the database ---- */

#define STAGE_BIGINT(name) ", " #name " bigint NOT NULL"
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
    "CREATE TEMP TABLE IF NOT EXISTS tally_stage_agg (bucket timestamptz NOT NULL,"
    " developer_oid text NOT NULL, model text NOT NULL, deployment text NOT NULL,"
    " prompt_band smallint NOT NULL, speed text NOT NULL, residency text NOT NULL,"
    " requests bigint NOT NULL" TALLY_TOKEN_CLASSES(STAGE_BIGINT)
        TALLY_REQUEST_COUNTS(STAGE_BIGINT) ") ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS tally_stage_labels (oid text NOT NULL, upn text NOT NULL,"
    " last_seen timestamptz NOT NULL) ON COMMIT DELETE ROWS",
    NULL,
};

/*
 * Moves the staged events into usage_events; the rollups and labels take only what the
 * INSERT returned. DISTINCT ON drops a key twice in one batch before it reaches the
 * table. Each inserted event becomes its parts (tally_usage_parts(): the top-level usage,
 * or each iteration under its own model and prompt band), and the rollups sum the parts.
 * Returns one row: the number of events inserted.
 */
#define ROLLUP_SUM(name) ", sum(" #name ")::bigint AS " #name
#define ROLLUP_SUMS TALLY_TOKEN_CLASSES(ROLLUP_SUM)
#define ROLLUP_COUNT_SUM(name) ", sum(" #name ")::bigint"
#define ROLLUP_KEY TALLY_ROLLUP_DIMENSIONS(BATCH_COLUMN)
#define ROLLUP_COLUMNS                                                                             \
    ROLLUP_KEY ", long_context, requests" TALLY_TOKEN_CLASSES(BATCH_COLUMN)                        \
        TALLY_REQUEST_COUNTS(BATCH_COLUMN)
#define ROLLUP_ADD(name) ", " #name " = r." #name " + EXCLUDED." #name
#define ROLLUP_UPDATE                                                                              \
    " DO UPDATE SET requests = r.requests + EXCLUDED.requests" TALLY_TOKEN_CLASSES(ROLLUP_ADD)     \
        TALLY_REQUEST_COUNTS(ROLLUP_ADD)
/* the bucket and the TALLY_ROLLUP_DIMENSIONS, by position */
#define ROLLUP_ORDINALS "1, 2, 3, 4, 5, 6, 7"
/* The rollup deltas of the events of CTE src, in CTEs parts, agg, r15 and rday; COL
 * picks each part's summed column (PART_COLUMN adds it, PART_NEGATED takes it away). */
#define PART_COLUMN(name) ", p." #name
#define PART_NEGATED(name) ", -p." #name " AS " #name
#define SQL_ROLLUP_PARTS(src, COL)                                                                 \
    " parts AS ("                                                                                  \
    " SELECT date_bin('15 minutes', i.event_time, timestamptz '1970-01-01 00:00:00+00') AS "       \
    "bucket,"                                                                                      \
    " i.developer_oid, p.model, i.deployment, p.prompt_band,"                                      \
    " coalesce(lower(i.speed), 'standard') AS speed, coalesce(i.inference_geo, '') AS "            \
    "residency" COL(requests) TALLY_TOKEN_CLASSES(COL) TALLY_REQUEST_COUNTS(                       \
        COL) " FROM " src                                                                          \
             " i CROSS JOIN LATERAL tally_usage_parts(i.model, i.iterations" TALLY_TOKEN_CLASSES(  \
                 BATCH_COLUMN) ", i.cache_write_unknown, i.web_search_requests, "                  \
                               "i.web_fetch_requests) p),"
#define SQL_ROLLUP_AGG                                                                             \
    " agg AS ("                                                                                    \
    " SELECT bucket" ROLLUP_KEY ", sum(requests)::bigint AS requests" ROLLUP_SUMS                  \
    TALLY_REQUEST_COUNTS(ROLLUP_SUM) " FROM parts GROUP BY " ROLLUP_ORDINALS "),"

#define SQL_ROLLUP_15M                                                                             \
    " r15 AS ("                                                                                    \
    " INSERT INTO usage_rollup_15m AS r (bucket" ROLLUP_COLUMNS ")"                                \
    " SELECT bucket" ROLLUP_KEY                                                                    \
    ", tally_prompt_band_long(prompt_band), requests" TALLY_TOKEN_CLASSES(BATCH_COLUMN)            \
        TALLY_REQUEST_COUNTS(BATCH_COLUMN) " FROM agg ORDER BY " ROLLUP_ORDINALS                   \
                                           " ON CONFLICT (bucket" ROLLUP_KEY ")" ROLLUP_UPDATE     \
                                           "),"
/* The upsert of agg's sums into a coarser rollup: CTE cte, rollup table, its time column
 * col and that time from the bucket; where: a condition on agg (it can order the CTE after
 * another); tail: after the conflict clause (RETURNING). */
#define SQL_ROLLUP_COARSER(cte, table, col, time, where, tail)                                     \
    " " cte " AS ("                                                                                \
    " INSERT INTO " table " AS r (" col ROLLUP_COLUMNS ")"                                         \
    " SELECT " time ROLLUP_KEY                                                                     \
    ", tally_prompt_band_long(prompt_band), sum(requests)::bigint" ROLLUP_SUMS                     \
    TALLY_REQUEST_COUNTS(ROLLUP_COUNT_SUM) " FROM agg" where " GROUP BY " ROLLUP_ORDINALS          \
                                           " ORDER BY " ROLLUP_ORDINALS                            \
                                           " ON CONFLICT (" col ROLLUP_KEY ")" ROLLUP_UPDATE tail  \
                                           ")"
#define ROLLUP_UTC_DAY "(bucket AT TIME ZONE 'UTC')::date"
#define SQL_ROLLUP_DAY SQL_ROLLUP_COARSER("rday", "usage_rollup_day", "day", ROLLUP_UTC_DAY, "", "")

/* developer_labels from rows (oid, upn, last_seen): a later one replaces the upn */
#define SQL_LABELS_UPSERT(rows)                                                                    \
    ", lab AS ("                                                                                   \
    " INSERT INTO developer_labels AS l (oid, upn, last_seen) " rows                               \
    " ON CONFLICT (oid) DO UPDATE SET upn = EXCLUDED.upn, last_seen = EXCLUDED.last_seen"          \
    " WHERE l.last_seen <= EXCLUDED.last_seen)"
/* The latest upn of each developer of CTE src (event_time, developer_oid, developer_upn):
 * each (developer, upn)'s latest time hashed first, so that only those few rows are sorted. */
#define SQL_LABELS(src)                                                                            \
    SQL_LABELS_UPSERT(                                                                             \
        " SELECT DISTINCT ON (developer_oid COLLATE \"C\") developer_oid, developer_upn,"          \
        " event_time FROM (SELECT developer_oid, developer_upn, max(event_time) AS event_time"     \
        " FROM " src " WHERE developer_upn IS NOT NULL GROUP BY 1, 2) u"                           \
        " ORDER BY developer_oid COLLATE \"C\", event_time DESC")

/* in pieces: ISO C caps a string literal at 4095 bytes */
static const char *const SQL_INSERT_EVENTS[] = {
    "WITH ins AS ("
    " INSERT INTO usage_events (" BATCH_EVENT_COLUMNS ")"
    " SELECT DISTINCT ON (request_id COLLATE \"C\", event_time) " BATCH_EVENT_COLUMNS
    " FROM tally_stage ORDER BY request_id COLLATE \"C\", event_time"
    " ON CONFLICT DO NOTHING"
    " RETURNING event_time, developer_oid, developer_upn, model, deployment, speed, "
    "inference_geo, iterations" TALLY_TOKEN_CLASSES(
        BATCH_COLUMN) ", cache_write_unknown, web_search_requests, web_fetch_requests),",
    SQL_ROLLUP_PARTS("ins", PART_COLUMN) SQL_ROLLUP_AGG,
    SQL_ROLLUP_15M,
    SQL_ROLLUP_DAY,
    SQL_LABELS("ins") " SELECT count(*) FROM ins",
    NULL,
};

/* The rollups and labels of a batch written straight into usage_events (insert_direct):
 * the parts batch.c computed for exactly the rows the COPY stored, summed per bucket and
 * key there too (tally_stage_agg), and each developer's latest upn (tally_stage_labels). */
static const char *const SQL_ROLLUP_STAGED[] = {
    "WITH agg AS (SELECT * FROM tally_stage_agg),",
    SQL_ROLLUP_15M,
    SQL_ROLLUP_COARSER("rday", "usage_rollup_day", "day", ROLLUP_UTC_DAY, "", " RETURNING 1") ",",
    /* the months once the days are done (reading rday runs it first), as the triggers did:
     * every writer locks day rows before month rows */
    SQL_ROLLUP_COARSER("rmonth", "usage_rollup_month", "month",
                       "date_trunc('month', bucket AT TIME ZONE 'UTC')::date",
                       " WHERE (SELECT count(*) FROM rday) >= 0", ""),
    SQL_LABELS_UPSERT("SELECT oid, upn, last_seen FROM tally_stage_labels"
                      " ORDER BY oid COLLATE \"C\"") " SELECT 1",
    NULL,
};

/* SQL_ROLLUP_STAGED with the month triggers of usage_rollup_day stepping aside (0018):
 * the statement upserts the months itself. One round trip; the setting is cleared after. */
static const char SQL_ROLLUP_STAGED_RUN[] =
    "SELECT set_config('tally.month_rollup', 'statement', true); EXECUTE tally_rollup_staged;"
    " SELECT set_config('tally.month_rollup', '', true)";

/* The stored events among a batch's: $1 its request ids, $2 and $3 its first and last
 * event time (the partitions to look in). */
static const char SQL_PROBE[] =
    "SELECT request_id, (extract(epoch FROM event_time) * 1000000)::bigint FROM usage_events"
    " WHERE request_id = ANY($1::text[]) AND event_time BETWEEN $2::timestamptz AND "
    "$3::timestamptz";

static const char SQL_INSERT_REJECTS[] =
    "INSERT INTO ingest_rejects (source_key, source, reason, raw)"
    " SELECT source_key, source, reason, raw FROM tally_stage_rejects ORDER BY source_key"
    " ON CONFLICT (source_key) DO NOTHING";

/* An event stored for the monitor record s: the same request id, within a day of it. */
#define STORED_FOR(s)                                                                              \
    " SELECT 1 FROM usage_events e WHERE e.request_id = " s ".correlation_id"                      \
    " AND e.event_time >= " s ".event_time - interval '1 day'"                                     \
    " AND e.event_time <= " s ".event_time + interval '1 day'"
/* The caller a gateway half g gives, NULL when it names none. */
#define GATEWAY_CALLER "coalesce(nullif(g.user_oid, ''), nullif(g.subscription, ''))"
/* $1: only this correlation id, or NULL for all (the isolation of a refused one) */
#define ONLY_ID(col) " ($1::text IS NULL OR " col " = $1::text)"

/* The first chunk of an LLM record wins; a late chunk of a request already stored (its
 * pair was joined or expired before it came) is not pending again. */
static const char SQL_PENDING_LLM[] =
    "INSERT INTO ingest_monitor_llm (correlation_id, event_time, message_id, deployment, model,"
    " is_stream, input_tokens, output_tokens, cache_read_tokens, long_context)"
    " SELECT DISTINCT ON (correlation_id) correlation_id, event_time, message_id, deployment,"
    " model, is_stream, input_tokens, output_tokens, cache_read_tokens, long_context"
    " FROM tally_stage_llm s WHERE NOT EXISTS (" STORED_FOR(
        "s") ")"
             " ORDER BY correlation_id, seq ON CONFLICT DO NOTHING";

/* A caller record of a request already stored waits for nothing: it is a re-delivery, or
 * it re-attributes the stored unattributed event (SQL_REATTRIBUTE). */
static const char SQL_PENDING_GATEWAY[] =
    "INSERT INTO ingest_monitor_gateway (correlation_id, event_time, user_oid, user_upn,"
    " subscription, status_code, region)"
    " SELECT DISTINCT ON (correlation_id) correlation_id, event_time, user_oid, user_upn,"
    " subscription, status_code, region FROM tally_stage_gateway s"
    " WHERE NOT EXISTS (" STORED_FOR(
        "s") ")"
             " ORDER BY correlation_id, event_time ON CONFLICT DO NOTHING";

/* The requests of the batch's monitor records that are stored already (re-delivered),
 * once each; not those a caller record is about to re-attribute. */
static const char SQL_MONITOR_DUPLICATES[] =
    "SELECT count(DISTINCT s.correlation_id) FROM (SELECT correlation_id, event_time"
    " FROM tally_stage_llm UNION ALL SELECT correlation_id, event_time FROM tally_stage_gateway)"
    " s WHERE EXISTS (" STORED_FOR(
        "s") " AND NOT (e.source_format = 3"
             " AND e.developer_oid = 'unattributed' AND EXISTS (SELECT 1 FROM tally_stage_gateway g"
             " WHERE g.correlation_id = e.request_id AND " GATEWAY_CALLER " IS NOT NULL)))";

/*
 * A caller record late for its usage, stored as 'unattributed' after monitor_join_wait_s:
 * the event leaves usage_events with its rollup contributions (the same parts, negated)
 * and is staged again under its caller, for SQL_INSERT_EVENTS to add back. One row per
 * request re-attributed.
 */
static const char *const SQL_REATTRIBUTE[] = {
    "WITH g AS (SELECT DISTINCT ON (correlation_id) * FROM tally_stage_gateway g"
    " WHERE " GATEWAY_CALLER " IS NOT NULL AND" ONLY_ID(
        "correlation_id") " ORDER BY correlation_id, event_time),"
                          " moved AS (DELETE FROM usage_events e USING g WHERE e.request_id = "
                          "g.correlation_id"
                          " AND e.event_time >= g.event_time - interval '1 day'"
                          " AND e.event_time <= g.event_time + interval '1 day'"
                          " AND e.source_format = 3 AND e.developer_oid = 'unattributed'"
                          " RETURNING e.*, " GATEWAY_CALLER " AS caller, g.user_upn AS caller_upn,"
                          " g.subscription AS caller_subscription, g.status_code AS caller_status,"
                          " g.region AS caller_region),",
    SQL_ROLLUP_PARTS("moved", PART_NEGATED) SQL_ROLLUP_AGG,
    SQL_ROLLUP_15M,
    SQL_ROLLUP_DAY,
    " INSERT INTO tally_stage (" BATCH_EVENT_COLUMNS ")"
    " SELECT request_id, event_time, source_format, caller, caller_upn, tenant_id, app_id,"
    " session_id, message_id, deployment, model, gateway, caller_region, caller_subscription,"
    " product, operation, service_tier, caller_status, is_stream" TALLY_TOKEN_CLASSES(
        BATCH_COLUMN) ", cache_write_unknown, web_search_requests, web_fetch_requests,"
                      " long_context, speed, inference_geo, prompt_tokens, iterations FROM moved",
    NULL,
};

/* Rollup rows of 'unattributed' that re-attribution emptied, in the months, days and
 * buckets of the staged events; the month after its days (their trigger updates it). */
#define ROLLUP_ZERO(name) " AND r." #name " = 0"
#define ROLLUP_EMPTY                                                                               \
    " r.developer_oid = 'unattributed' AND r.requests = 0" TALLY_TOKEN_CLASSES(ROLLUP_ZERO)        \
        TALLY_REQUEST_COUNTS(ROLLUP_ZERO)
static const char SQL_PRUNE_DAYS[] =
    "WITH b AS (DELETE FROM usage_rollup_15m r WHERE" ROLLUP_EMPTY " AND r.bucket IN"
    " (SELECT date_bin('15 minutes', event_time, timestamptz '1970-01-01 00:00:00+00')"
    " FROM tally_stage))"
    " DELETE FROM usage_rollup_day r WHERE" ROLLUP_EMPTY
    " AND r.day IN (SELECT (event_time AT TIME ZONE 'UTC')::date FROM tally_stage)";
static const char SQL_PRUNE_MONTHS[] =
    "DELETE FROM usage_rollup_month r WHERE" ROLLUP_EMPTY " AND r.month IN"
    " (SELECT date_trunc('month', event_time AT TIME ZONE 'UTC')::date FROM tally_stage)";

/* The event a joined or expired LLM half becomes: the gateway half gives the caller
 * (its logged oid header, else the APIM subscription), the LLM half everything else. */
#define MONITOR_EVENT_SELECT                                                                       \
    " SELECT l.correlation_id, l.event_time, 3,"                                                   \
    " coalesce(" GATEWAY_CALLER ", 'unattributed'),"                                               \
    " g.user_upn, NULL, NULL, NULL, l.message_id, l.deployment, l.model, NULL, g.region,"          \
    " g.subscription, NULL, NULL, NULL, g.status_code, l.is_stream, l.input_tokens,"               \
    " l.output_tokens, l.cache_read_tokens, 0, 0, 0, true, 0, 0, l.long_context, NULL, NULL,"      \
    " l.input_tokens + l.cache_read_tokens, NULL"

static const char SQL_JOIN[] =
    "WITH g AS (DELETE FROM ingest_monitor_gateway g USING ingest_monitor_llm l"
    " WHERE g.correlation_id = l.correlation_id AND" ONLY_ID(
        "g.correlation_id") " RETURNING g.*),"
                            " l AS (DELETE FROM ingest_monitor_llm l USING g WHERE "
                            "l.correlation_id = g.correlation_id"
                            " RETURNING l.*)"
                            " INSERT INTO tally_stage (" BATCH_EVENT_COLUMNS
                            ")" MONITOR_EVENT_SELECT
                            " FROM l JOIN g ON g.correlation_id = l.correlation_id";

static const char SQL_EXPIRE_LLM[] =
    "WITH l AS (DELETE FROM ingest_monitor_llm"
    " WHERE received_at < now() - make_interval(secs => $2::double precision) AND" ONLY_ID(
        "correlation_id") " RETURNING *),"
                          " g AS (SELECT NULL::text AS user_oid, NULL::text AS user_upn, "
                          "NULL::text AS subscription,"
                          " NULL::text AS region, NULL::integer AS status_code)"
                          " INSERT INTO tally_stage (" BATCH_EVENT_COLUMNS ")" MONITOR_EVENT_SELECT
                          " FROM l, g";

static const char SQL_EXPIRE_GATEWAY[] =
    "DELETE FROM ingest_monitor_gateway"
    " WHERE received_at < now() - make_interval(secs => $1::double precision)";

/* The requests whose events the join, the expiry or re-attribution would stage now: the
 * ones to try one by one when Postgres refused them together ($1: the wait). */
static const char SQL_MONITOR_CANDIDATES[] =
    "SELECT correlation_id FROM tally_stage_gateway g WHERE " GATEWAY_CALLER " IS NOT NULL"
    " UNION SELECT l.correlation_id FROM ingest_monitor_llm l"
    " WHERE EXISTS (SELECT 1 FROM ingest_monitor_gateway g WHERE g.correlation_id = "
    "l.correlation_id)"
    " OR l.received_at < now() - make_interval(secs => $1::double precision) ORDER BY 1";

/* A request whose event Postgres refused ($1 its correlation id, $2 the refusal): the
 * halves tally held for it become one reject (their rows as JSON, for the original
 * records are not kept) and are dropped. */
static const char SQL_MONITOR_REJECT[] =
    "INSERT INTO ingest_rejects (source_key, source, reason, raw)"
    " SELECT 'monitor:' || $1::text || ':refused', 'azure monitor correlationId ' || $1::text,"
    " $2::text, convert_to(json_build_object("
    "'GatewayLlmLogs', coalesce((SELECT row_to_json(l) FROM ingest_monitor_llm l"
    " WHERE l.correlation_id = $1::text), (SELECT row_to_json(e) FROM usage_events e"
    " WHERE e.request_id = $1::text AND e.source_format = 3 AND e.developer_oid = 'unattributed'"
    " ORDER BY e.event_time LIMIT 1)),"
    " 'GatewayLogs', coalesce((SELECT row_to_json(g) FROM ingest_monitor_gateway g"
    " WHERE g.correlation_id = $1::text), (SELECT row_to_json(g) FROM tally_stage_gateway g"
    " WHERE g.correlation_id = $1::text ORDER BY g.event_time LIMIT 1)))::text, 'UTF8')"
    " ON CONFLICT (source_key) DO NOTHING";
static const char SQL_MONITOR_DROP[] =
    "WITH l AS (DELETE FROM ingest_monitor_llm WHERE correlation_id = $1::text),"
    " g AS (DELETE FROM ingest_monitor_gateway WHERE correlation_id = $1::text)"
    " DELETE FROM tally_stage_gateway WHERE correlation_id = $1::text";

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

/* Forgets the batches remember_keys remembered: the next direct batch probes. */
static void forget_keys(sink_pg *s)
{
    s->recent[0].nkeys = s->recent[1].nkeys = 0;
    s->probe_next = true;
}

static bool prepare_session(sink_pg *s, bool *no_schema)
{
    PGresult *prep;

    /* a new session: a transaction the last one committed may be gone (a server that
     * crashed with synchronous_commit off) */
    forget_keys(s);
    /* From Kafka, a batch lost in a server crash takes its offsets with it and is read
     * again, so waiting for each commit to reach the disk buys nothing but latency. A
     * file source has reported its rows as stored by then: it keeps the default. */
    if (s->cfg.group &&
        !db_exec(s->conn, "set synchronous_commit", "SET synchronous_commit = off", 0, NULL))
        return false;
    /* A batch's rollup keys are aggregated and its rows sorted in memory: at the default
     * 4MB the planner sorts a few thousand rollup keys (text comparisons) where a hash
     * does the job. Bounded by the batch size, whatever the table sizes. */
    if (!db_exec(s->conn, "set work_mem", "SET work_mem = '64MB'", 0, NULL))
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
    /* The direct way upserts the months itself, which only 0018's triggers leave to it: a
     * database not migrated yet gets every batch the checking way (the triggers count). */
    prep = PQexec(s->conn, "SELECT EXISTS (SELECT 1 FROM schema_migrations"
                           " WHERE name = '0018_month_rollup_by_statement.sql')");
    s->direct = PQresultStatus(prep) == PGRES_TUPLES_OK && strcmp(PQgetvalue(prep, 0, 0), "t") == 0;
    PQclear(prep);
    if (!s->direct)
        log_warn("the database lacks migration 0018: every batch is written the checking way "
                 "until tallyctl migrate has run (looked at on every connection)");
    /* planned once per connection: insert_direct's statements, run batch after batch */
    for (int i = 0; i < 2; i++) {
        prep = PQprepare(s->conn, i ? "tally_probe" : "tally_rollup_staged",
                         i ? SQL_PROBE : s->sql_rollup_staged, 0, NULL);
        if (PQresultStatus(prep) != PGRES_COMMAND_OK) {
            log_error("could not prepare statements: %s", db_error(s->conn));
            PQclear(prep);
            return false;
        }
        PQclear(prep);
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
    s->sql_reattribute = join_sql(SQL_REATTRIBUTE);
    s->sql_rollup_staged = join_sql(SQL_ROLLUP_STAGED);
    if (!s->sql_insert_events || !s->sql_reattribute || !s->sql_rollup_staged) {
        free(s->sql_insert_events);
        free(s->sql_reattribute);
        free(s->sql_rollup_staged);
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
    if (s->started)
        pthread_join(s->worker, NULL);
    if (s->conn)
        PQfinish(s->conn);
    free(s->sql_insert_events);
    free(s->sql_reattribute);
    free(s->sql_rollup_staged);
    free(s->repeat);
    free(s->slots);
    membuf_free(&s->probe);
    membuf_free(&s->agg);
    membuf_free(&s->labels);
    membuf_free(&s->key);
    for (int g = 0; g < 2; g++) {
        membuf_free(&s->recent[g].ids);
        free(s->recent[g].keys);
        free(s->recent[g].slots);
    }
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
static bool ensure_months(sink_pg *s, const batch *b)
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

/* $n as a timestamptz from microseconds since the epoch (exact, unlike to_timestamp) */
#define SQL_US_TIME(n) "(timestamptz 'epoch' + $" #n "::bigint * interval '1 microsecond')"

/* us as a parameter: NULL when BATCH_NO_TIME */
static const char *time_param(int64_t us, char *buf, size_t len)
{
    if (us == BATCH_NO_TIME)
        return NULL;
    snprintf(buf, len, "%" PRId64, us);
    return buf;
}

/* Compare-and-set of one partition's offset (with the event time of its last message,
 * for a gap found later); *moved is false when another consumer got there first. */
static bool store_offset(sink_pg *s, const batch_partition *o, bool *moved)
{
    char part[16], next[24], prev[24], last[24];
    const char *params[6] = {s->cfg.group, s->cfg.topic, part, next, prev, NULL};
    uint64_t n = 0;
    bool ok;

    snprintf(part, sizeof(part), "%" PRId32, o->partition);
    snprintf(next, sizeof(next), "%" PRId64, o->next);
    snprintf(prev, sizeof(prev), "%" PRId64, o->prev);
    params[5] = time_param(o->last_time, last, sizeof(last));
    if (o->prev < 0) {
        params[4] = params[5];
        ok = exec_count(
            s, "insert offset",
            "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset,"
            " last_event_at) VALUES ($1, $2, $3, $4, " SQL_US_TIME(5) ")"
                                                                      " ON CONFLICT DO NOTHING",
            5, params, &n);
    } else
        ok = exec_count(s, "update offset",
                        "UPDATE ingest_offsets SET next_offset = $4, updated_at = now(),"
                        " last_event_at = coalesce(" SQL_US_TIME(
                            6) ", last_event_at)"
                               " WHERE consumer_group = $1 AND topic = $2 AND partition = $3"
                               " AND next_offset = $5",
                        6, params, &n);
    *moved = n == 1;
    return ok;
}

/* Records a gap; last_event_before falls back to what the partition's row kept (read
 * before the batch's own offsets overwrite it). */
static bool store_gap(sink_pg *s, const batch_gap *g)
{
    char part[16], first[24], last[24], before[24], after[24];
    const char *params[7] = {s->cfg.group, s->cfg.topic, part, first, last, NULL, NULL};

    snprintf(part, sizeof(part), "%" PRId32, g->partition);
    snprintf(first, sizeof(first), "%" PRId64, g->first);
    snprintf(last, sizeof(last), "%" PRId64, g->last);
    params[5] = time_param(g->before, before, sizeof(before));
    params[6] = time_param(g->after, after, sizeof(after));
    return db_exec(s->conn, "record lost messages",
                   "INSERT INTO ingest_gaps (consumer_group, topic, partition, first_offset,"
                   " last_offset, last_event_before, first_event_after)"
                   " VALUES ($1, $2, $3, $4, $5, coalesce(" SQL_US_TIME(
                       6) ", (SELECT last_event_at"
                          " FROM ingest_offsets WHERE consumer_group = $1 AND topic = $2"
                          " AND partition = $3)), " SQL_US_TIME(7) ") ON CONFLICT DO NOTHING",
                   7, params);
}

static int offset_cmp(const void *a, const void *b)
{
    const batch_partition *x = a, *y = b;

    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* Keeps the SQLSTATE and a one-line refusal of a failed statement, for refused(). */
static void keep_refusal(sink_pg *s, const PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", st ? st : "");
    snprintf(s->refusal, sizeof(s->refusal), "database refused: %s %s", st ? st : "?",
             msg ? msg : "");
}

/* A statement of the Azure Monitor join; on failure (logged) its refusal is kept: the
 * pending halves' data may be at fault rather than the server. The caller clears the
 * result. */
static PGresult *monitor_query(sink_pg *s, const char *what, const char *sql, int nparams,
                               const char *const *params)
{
    PGresult *res = PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    s->sqlstate[0] = '\0';
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    keep_refusal(s, res);
    log_error("could not %s: %s", what,
              res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) : db_error(s->conn));
    PQclear(res);
    return NULL;
}

/* monitor_query for a statement whose row count matters (count may be NULL) */
static bool monitor_exec(sink_pg *s, const char *what, const char *sql, int nparams,
                         const char *const *params, uint64_t *count)
{
    PGresult *res = monitor_query(s, what, sql, nparams, params);

    if (!res)
        return false;
    if (count)
        *count = cmd_tuples(res);
    PQclear(res);
    return true;
}

/* The batch's halves go pending unless their request is stored; *duplicates counts the
 * requests that are (re-delivered records). */
static bool monitor_pending(sink_pg *s, const batch *b, uint64_t *duplicates)
{
    PGresult *res;

    if (b->nllm && (!db_copy_in(s->conn, "stage monitor records",
                                "COPY tally_stage_llm (" BATCH_LLM_COLUMNS ") FROM STDIN",
                                b->llm.data, b->llm.len) ||
                    !db_exec(s->conn, "keep monitor records pending", SQL_PENDING_LLM, 0, NULL)))
        return false;
    if (b->ngateway &&
        (!db_copy_in(s->conn, "stage gateway records",
                     "COPY tally_stage_gateway (" BATCH_GATEWAY_COLUMNS ") FROM STDIN",
                     b->gateway.data, b->gateway.len) ||
         !db_exec(s->conn, "keep gateway records pending", SQL_PENDING_GATEWAY, 0, NULL)))
        return false;
    res = db_query(s->conn, "count re-delivered monitor records", SQL_MONITOR_DUPLICATES, 0, NULL);
    if (!res)
        return false;
    *duplicates = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return true;
}

/* Stages the events of re-attribution, the join and the expiry of LLM halves, for
 * every pending request (id NULL) or for one; the rollup rows re-attribution empties
 * are removed. */
static bool monitor_stage(sink_pg *s, const char *id, sink_result *r)
{
    const char *params[2] = {id, s->wait_s};

    if (!monitor_exec(s, "re-attribute monitor events", s->sql_reattribute, 1, params,
                      &r->reattributed) ||
        (r->reattributed &&
         (!monitor_exec(s, "prune emptied rollups", SQL_PRUNE_DAYS, 0, NULL, NULL) ||
          !monitor_exec(s, "prune emptied rollups", SQL_PRUNE_MONTHS, 0, NULL, NULL))))
        return false;
    return monitor_exec(s, "join monitor records", SQL_JOIN, 1, params, &r->joined) &&
           monitor_exec(s, "expire monitor records", SQL_EXPIRE_LLM, 2, params, &r->unattributed);
}

static bool insert_events(sink_pg *s, sink_result *r);
static bool refused(const sink_pg *s);
static bool savepoint(sink_pg *s, const char *sql);

static void add_staged(sink_result *to, const sink_result *from)
{
    to->inserted += from->inserted;
    to->joined += from->joined;
    to->unattributed += from->unattributed;
    to->reattributed += from->reattributed;
}

/* Stages and inserts the events of one request (or all, id NULL) under a savepoint,
 * adding to *r only when they are stored; *refused_out tells a refusal of their data. */
static bool monitor_insert(sink_pg *s, const char *id, sink_result *r, bool *refused_out)
{
    sink_result one;

    memset(&one, 0, sizeof(one));
    *refused_out = false;
    if (!savepoint(s, "SAVEPOINT tally_monitor"))
        return false;
    if (monitor_stage(s, id, &one) &&
        (!(one.joined + one.unattributed + one.reattributed) || insert_events(s, &one))) {
        add_staged(r, &one);
        return db_exec(s->conn, "empty the staging table", "DELETE FROM tally_stage", 0, NULL) &&
               savepoint(s, "RELEASE SAVEPOINT tally_monitor");
    }
    *refused_out = refused(s);
    return *refused_out && savepoint(s, "ROLLBACK TO SAVEPOINT tally_monitor") &&
           savepoint(s, "RELEASE SAVEPOINT tally_monitor");
}

/*
 * After Postgres refused the monitor events together: tries them all under a savepoint,
 * then each request alone; a request refused alone becomes a reject (its halves as tally
 * held them) and its halves are dropped, so it is not tried again on every batch.
 */
static bool monitor_isolate(sink_pg *s, sink_result *r)
{
    const char *params[2] = {s->wait_s, NULL};
    PGresult *ids;
    bool bad, ok = true;

    if (!monitor_insert(s, NULL, r, &bad))
        return false;
    if (!bad)
        return true;
    ids = db_query(s->conn, "list pending monitor records", SQL_MONITOR_CANDIDATES, 1, params);
    if (!ids)
        return false;
    for (int i = 0; ok && i < PQntuples(ids); i++) {
        const char *id = PQgetvalue(ids, i, 0);
        const char *reject[2] = {id, s->refusal};
        uint64_t n = 0;

        ok = monitor_insert(s, id, r, &bad);
        if (!ok || !bad)
            continue;
        log_warn("azure monitor correlationId \"%s\": stored as a reject: %s", id, s->refusal);
        ok = exec_count(s, "insert rejects", SQL_MONITOR_REJECT, 2, reject, &n) &&
             exec_count(s, "drop refused monitor records", SQL_MONITOR_DROP, 1, reject, NULL);
        r->rejects_new += n;
        r->refused++;
    }
    PQclear(ids);
    return ok;
}

/* The monitor halves of the batch (if any) go pending; caller records late for their
 * stored usage re-attribute it; pairs complete anywhere are joined, and halves that
 * waited too long expire. The resulting events land in tally_stage; isolate: they are
 * inserted already, a request Postgres refuses stored as a reject. */
static bool monitor_step(sink_pg *s, const batch *b, sink_result *r, bool isolate)
{
    const char *params[1] = {s->wait_s};

    if (b && (b->nllm || b->ngateway) && !monitor_pending(s, b, &r->monitor_duplicates))
        return false;
    if (isolate ? !monitor_isolate(s, r) : !monitor_stage(s, NULL, r))
        return false;
    return exec_count(s, "expire gateway records", SQL_EXPIRE_GATEWAY, 1, params, &r->dropped);
}

/* Moves tally_stage into the tables, adding to r->inserted. On failure keeps the
 * SQLSTATE and a one-line refusal: a data error is the events' fault, not the server's. */
static bool insert_events(sink_pg *s, sink_result *r)
{
    PGresult *res = PQexecParams(s->conn, s->sql_insert_events, 0, NULL, NULL, NULL, NULL, 0);
    const char *msg;

    s->sqlstate[0] = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        r->inserted += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return true;
    }
    keep_refusal(s, res);
    msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
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

static bool savepoint(sink_pg *s, const char *sql)
{
    return db_exec(s->conn, "set a savepoint", sql, 0, NULL);
}

/*
 * Inserts the events of messages [lo, hi) under a savepoint; where Postgres refuses
 * them, halves the range, down to single messages, which become rejects in *refused_out
 * (COPY text of tally_stage_rejects). false on any other error: the batch is retried.
 */
static bool insert_range(sink_pg *s, const batch *b, size_t lo, size_t hi, membuf *refused_out,
                         sink_result *r)
{
    size_t n0, n1, from = batch_events_end(b, lo, &n0), to = batch_events_end(b, hi, &n1);

    if (n1 == n0)
        return true;
    s->sqlstate[0] = '\0'; /* a failed COPY must not pass for the last refusal */
    if (!savepoint(s, "SAVEPOINT tally_range"))
        return false;
    if (db_copy_in(s->conn, "stage events", "COPY tally_stage (" BATCH_EVENT_COLUMNS ") FROM STDIN",
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
    log_warn("%s: stored as a reject: %s", batch_msg_source(b, lo), s->refusal);
    batch_refused_reject(b, lo, s->refusal, refused_out);
    r->refused++;
    r->duplicates -= n1 - n0; /* not staged after all */
    return true;
}

/* The events of a batch Postgres refused, inserted again by halves (the monitor events
 * are in already: monitor_isolate), the refused messages staged as rejects. */
static bool insert_split(sink_pg *s, const batch *b, sink_result *r)
{
    membuf refusals = MEMBUF_INIT;
    bool ok = insert_range(s, b, 0, b->nmessages, &refusals, r) && !refusals.oom &&
              (!refusals.len ||
               db_copy_in(s->conn, "stage rejects",
                          "COPY tally_stage_rejects (" BATCH_REJECT_COLUMNS ") FROM STDIN",
                          refusals.data, refusals.len));

    membuf_free(&refusals);
    return ok;
}

/* ---- the direct way: a batch of new rows ---- */

/* the hash of event i's key: its request id as escaped and its event time */
static uint64_t event_hash(const batch *b, size_t i)
{
    const batch_event *e = &b->evs[i];

    return batch_key_hash(b->events.data + e->row, e->id_len, e->time_us);
}

/* Makes *arr hold at least n elements of size bytes (*cap of them now); false if out of
 * memory, *arr then as it was. */
static bool reserve(void **arr, size_t *cap, size_t n, size_t size)
{
    void *p;

    if (n <= *cap)
        return true;
    p = realloc(*arr, n * size);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}

/* the same request id (as escaped: the same bytes) and event time */
static bool same_key(const batch *b, size_t i, size_t j)
{
    const batch_event *x = &b->evs[i], *y = &b->evs[j];

    return x->time_us == y->time_us && x->id_len == y->id_len &&
           memcmp(b->events.data + x->row, b->events.data + y->row, x->id_len) == 0;
}

/* Marks in s->repeat each event whose key came earlier in the batch (the first is the one
 * written, as DISTINCT ON keeps one); returns how many, SIZE_MAX when out of memory. */
static size_t mark_repeats(sink_pg *s, const batch *b)
{
    size_t n = b->nevents, cap = batch_table_size(n), nrep = 0;

    if (!reserve((void **)&s->repeat, &s->repeat_cap, n, 1) ||
        !reserve((void **)&s->slots, &s->slots_cap, cap, sizeof(*s->slots)))
        return SIZE_MAX;
    s->nslots = cap;
    memset(s->slots, 0, cap * sizeof(*s->slots));
    memset(s->repeat, 0, n);
    for (size_t i = 0; i < n; i++) {
        for (size_t h = (size_t)event_hash(b, i) & (cap - 1);; h = (h + 1) & (cap - 1)) {
            if (!s->slots[h]) {
                s->slots[h] = i + 1;
                break;
            }
            if (same_key(b, s->slots[h] - 1, i)) {
                s->repeat[i] = 1;
                nrep++;
                break;
            }
        }
    }
    return nrep;
}

/* The batch's events stored already (a producer sent them again, in an earlier batch):
 * looked up together by request id within the batch's time range, each marked in
 * s->repeat and added to *nrep. False on an error (logged). */
static bool mark_stored(sink_pg *s, const batch *b, size_t *nrep)
{
    char lo[48], hi[48];
    const char *params[3] = {NULL, lo, hi};
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    PGresult *res;

    membuf_reset(&s->probe);
    membuf_putc(&s->probe, '{');
    for (size_t i = 0; i < b->nevents; i++) {
        if (s->repeat[i])
            continue;
        if (s->probe.len > 1)
            membuf_putc(&s->probe, ',');
        batch_event_id_element(b, i, &s->probe);
        tmin = b->evs[i].time_us < tmin ? b->evs[i].time_us : tmin;
        tmax = b->evs[i].time_us > tmax ? b->evs[i].time_us : tmax;
    }
    membuf_put(&s->probe, "}", 2);
    if (s->probe.oom) {
        log_error("out of memory");
        return false;
    }
    batch_time_text(tmin, lo, sizeof(lo));
    batch_time_text(tmax, hi, sizeof(hi));
    params[0] = s->probe.data;
    res = PQexecPrepared(s->conn, "tally_probe", 3, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error("could not look up stored events: %s", db_error(s->conn));
        PQclear(res);
        return false;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        int64_t t = strtoll(PQgetvalue(res, row, 1), NULL, 10);
        size_t h;

        membuf_reset(&s->key);
        batch_copy_text(&s->key, PQgetvalue(res, row, 0));
        h = (size_t)batch_key_hash(s->key.data, s->key.len, t) & (s->nslots - 1);
        for (; s->slots[h]; h = (h + 1) & (s->nslots - 1)) {
            size_t i = s->slots[h] - 1;
            const batch_event *e = &b->evs[i];

            if (e->time_us == t && e->id_len == s->key.len &&
                memcmp(b->events.data + e->row, s->key.data, e->id_len) == 0) {
                if (!s->repeat[i])
                    (*nrep)++;
                s->repeat[i] = 1;
                break;
            }
        }
    }
    PQclear(res);
    return !s->key.oom;
}

/* Remembers the keys of batch b, just committed with every one of them stored, as the
 * latest batch's; the one before it is kept, older ones forgotten. Out of memory, it
 * remembers nothing (the next batch probes). */
static void remember_keys(sink_pg *s, const batch *b)
{
    recent_keys old = s->recent[1], *r;

    s->recent[1] = s->recent[0];
    s->recent[0] = old;
    r = &s->recent[0];
    membuf_reset(&r->ids);
    r->nkeys = 0;
    if (!reserve((void **)&r->keys, &r->keys_cap, b->nevents, sizeof(*r->keys)) ||
        !reserve((void **)&r->slots, &r->nslots, batch_table_size(b->nevents), sizeof(*r->slots)))
        goto forget;
    memset(r->slots, 0, r->nslots * sizeof(*r->slots));
    for (size_t i = 0; i < b->nevents; i++) {
        const batch_event *e = &b->evs[i];
        struct recent_key *k = &r->keys[r->nkeys];
        size_t h = (size_t)event_hash(b, i) & (r->nslots - 1);

        k->time_us = e->time_us;
        k->at = r->ids.len;
        k->len = e->id_len;
        membuf_put(&r->ids, b->events.data + e->row, e->id_len);
        while (r->slots[h])
            h = (h + 1) & (r->nslots - 1);
        r->slots[h] = ++r->nkeys;
    }
    if (!r->ids.oom)
        return;
forget:
    r->nkeys = 0;
    if (r->slots)
        memset(r->slots, 0, r->nslots * sizeof(*r->slots));
    s->probe_next = true;
}

/* Marks in s->repeat each event of b whose key a batch remembered by remember_keys had;
 * returns how many it marked. */
static size_t mark_recent(sink_pg *s, const batch *b)
{
    size_t n = 0;

    if (!s->recent[0].nkeys && !s->recent[1].nkeys)
        return 0;
    for (size_t i = 0; i < b->nevents; i++) {
        const batch_event *e = &b->evs[i];
        const char *id = b->events.data + e->row;
        uint64_t hash = s->repeat[i] ? 0 : event_hash(b, i);

        for (int g = 0; !s->repeat[i] && g < 2; g++) {
            const recent_keys *r = &s->recent[g];

            if (!r->nkeys)
                continue;
            for (size_t h = (size_t)hash & (r->nslots - 1); r->slots[h];
                 h = (h + 1) & (r->nslots - 1)) {
                const struct recent_key *k = &r->keys[r->slots[h] - 1];

                if (k->time_us == e->time_us && k->len == e->id_len &&
                    memcmp(r->ids.data + k->at, id, k->len) == 0) {
                    s->repeat[i] = 1;
                    n++;
                    break;
                }
            }
        }
    }
    return n;
}

/* COPY sql FROM STDIN with buf's rows: the event rows of the events not repeated when
 * b, else all of them; a failure's SQLSTATE and message are kept, not logged. */
static bool copy_kept(sink_pg *s, const char *sql, const membuf *buf, const batch *b, size_t nrep)
{
    PGresult *res = PQexec(s->conn, sql);
    size_t from = 0;
    bool ok = PQresultStatus(res) == PGRES_COPY_IN;

    if (!ok) {
        keep_refusal(s, res);
        PQclear(res);
        return false;
    }
    PQclear(res);
    for (size_t i = 0; ok && b && nrep && i < b->nevents; i++) {
        const batch_event *e = &b->evs[i];

        if (!s->repeat[i])
            continue;
        if (e->row > from)
            ok = PQputCopyData(s->conn, buf->data + from, (int)(e->row - from)) == 1;
        from = e->row + e->row_len;
    }
    if (ok && buf->len > from)
        ok = PQputCopyData(s->conn, buf->data + from, (int)(buf->len - from)) == 1;
    if (PQputCopyEnd(s->conn, ok ? NULL : "could not send data") != 1)
        ok = false;
    while ((res = PQgetResult(s->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (ok)
                keep_refusal(s, res);
            ok = false;
        }
        PQclear(res);
    }
    return ok;
}

/* A batch of usage events only, whose parts batch.c could compute. */
static bool direct_ok(const batch *b)
{
    return b->nevents && !b->nllm && !b->ngateway && !b->sql_parts;
}

/*
 * The direct way (docs/architecture.md, "Storage"): the batch's events, each key once,
 * straight into usage_events with COPY, and the rollups and labels from the parts batch.c
 * computed for them. Right only when none of them is stored already: one that is makes
 * the COPY fail (23505, a refusal), and the batch is written again the checking way
 * (insert_events). false with the refusal kept, or on any other error (logged).
 */
static bool insert_direct(sink_pg *s, const batch *b, sink_result *r)
{
    size_t nrep = mark_repeats(s, b);
    PGresult *res;

    s->sqlstate[0] = s->refusal[0] = '\0';
    if (nrep == SIZE_MAX) {
        log_error("out of memory");
        return false;
    }
    nrep += mark_recent(s, b);
    if (s->probe_next) {
        size_t before = nrep;

        if (!mark_stored(s, b, &nrep))
            return false;
        /* probe again only after the probe found what the batches remembered did not */
        s->probe_next = nrep > before;
    }
    membuf_reset(&s->agg);
    membuf_reset(&s->labels);
    switch (batch_rollup_text(b, s->repeat, &s->agg, &s->labels)) {
    case BATCH_ROLLUP_OK:
        break;
    case BATCH_ROLLUP_OVERFLOW: /* the checking way's SQL sum refuses it, and splits */
        snprintf(s->sqlstate, sizeof(s->sqlstate), "22003");
        snprintf(s->refusal, sizeof(s->refusal),
                 "database refused: 22003 a rollup sum out of range");
        return false;
    case BATCH_ROLLUP_OOM:
        log_error("out of memory");
        return false;
    }
    if (!copy_kept(s, "COPY usage_events (" BATCH_EVENT_COLUMNS ") FROM STDIN", &b->events, b,
                   nrep) ||
        !copy_kept(s, "COPY tally_stage_agg (" BATCH_AGG_COLUMNS ") FROM STDIN", &s->agg, NULL,
                   0) ||
        (s->labels.len &&
         !copy_kept(s, "COPY tally_stage_labels (" BATCH_LABEL_COLUMNS ") FROM STDIN", &s->labels,
                    NULL, 0))) {
        if (!refused(s))
            log_error("could not write events: %s", s->refusal[0] ? s->refusal : db_error(s->conn));
        return false;
    }
    res = PQexec(s->conn, SQL_ROLLUP_STAGED_RUN);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        keep_refusal(s, res);
        if (!refused(s))
            log_error("could not add the rollups: %s", db_error(s->conn));
        PQclear(res);
        return false;
    }
    PQclear(res);
    log_debug("wrote %zu events directly (%zu repeated or stored already)", b->nevents - nrep,
              nrep);
    r->inserted += b->nevents - nrep;
    return true;
}

/* What a batch's (or tick's) transaction staged and did not insert is a duplicate;
 * a re-attributed event is stored again, not new. Called once the inserts are done. */
static void count_duplicates(sink_result *r, uint64_t staged)
{
    r->duplicates += staged + r->joined + r->unattributed + r->reattributed +
                     r->monitor_duplicates - r->inserted;
    r->inserted -= r->reattributed;
}

/* How a batch's events are written: the direct way when it can be (insert_direct), every
 * key checked against usage_events (insert_events), or by halves after Postgres refused
 * them (insert_split). */
typedef enum { WRITE_DIRECT, WRITE_CHECKED, WRITE_SPLIT } write_mode;

/* The batch's transaction, its events written the mode's way. */
static sink_status commit_batch(sink_pg *s, batch *b, sink_result *out, write_mode mode);

/* Postgres refused the batch's data: its transaction is rolled back and the batch done
 * again with every refusal isolated. */
static sink_status split_batch(sink_pg *s, batch *b, sink_result *out)
{
    db_rollback(s->conn);
    return commit_batch(s, b, out, WRITE_SPLIT);
}

/* The direct way was refused (an event stored already, or bad data): the batch is done
 * again checking every key. */
static sink_status checked_batch(sink_pg *s, batch *b, sink_result *out)
{
    log_debug("batch of %zu events written again checking each key: %s", b->nevents, s->refusal);
    db_rollback(s->conn);
    return commit_batch(s, b, out, WRITE_CHECKED);
}

static sink_status commit_batch(sink_pg *s, batch *b, sink_result *out, write_mode mode)
{
    bool split = mode == WRITE_SPLIT;
    sink_result r;
    uint64_t staged, new_rejects = 0;

    memset(&r, 0, sizeof(r));
    if (!db_ok(s->conn))
        return SINK_RETRY;
    if (!ensure_months(s, b) || !db_begin(s->conn))
        return failed(s);
    if ((b->nllm || b->ngateway) && !monitor_step(s, b, &r, split))
        return refused(s) && !split ? split_batch(s, b, out) : failed(s);
    staged = b->nevents + r.joined + r.unattributed + r.reattributed;
    if (split) {
        if (!insert_split(s, b, &r))
            return failed(s);
    } else if (mode == WRITE_DIRECT && s->direct && direct_ok(b)) {
        /* a deadlock too: its COPY takes the rows' locks in batch order, the checking
         * way in key order */
        if (!insert_direct(s, b, &r)) {
            s->probe_next = true; /* most likely a key stored that no remembered batch had */
            return refused(s) || (db_ok(s->conn) && strcmp(s->sqlstate, "40P01") == 0)
                       ? checked_batch(s, b, out)
                       : failed(s);
        }
    } else {
        if (b->nevents && !db_copy_in(s->conn, "stage events",
                                      "COPY tally_stage (" BATCH_EVENT_COLUMNS ") FROM STDIN",
                                      b->events.data, b->events.len))
            return failed(s);
        /* no savepoint here: a subtransaction costs every batch; a refused one is rare */
        if (staged && !insert_events(s, &r))
            return refused(s) ? split_batch(s, b, out) : failed(s);
    }
    count_duplicates(&r, b->nevents);
    if (b->nrejects && !db_copy_in(s->conn, "stage rejects",
                                   "COPY tally_stage_rejects (" BATCH_REJECT_COLUMNS ") FROM STDIN",
                                   b->rejects.data, b->rejects.len))
        return failed(s);
    if ((b->nrejects || r.refused) &&
        !exec_count(s, "insert rejects", SQL_INSERT_REJECTS, 0, NULL, &new_rejects))
        return failed(s);
    r.rejects_new += new_rejects;
    for (int i = 0; s->cfg.group && i < b->ngaps; i++) {
        if (!store_gap(s, &b->gaps[i]))
            return failed(s);
    }
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
                /* the database may be behind this daemon (a commit lost): what it
                 * remembers committing may be gone too */
                forget_keys(s);
                return SINK_CONFLICT;
            }
        }
    }
    if (!db_commit(s->conn))
        return failed(s);
    if (!split)
        remember_keys(s, b);
    if (out)
        *out = r;
    return SINK_OK;
}

sink_status sink_pg_commit(sink_pg *s, batch *b, sink_result *out)
{
    return commit_batch(s, b, out, WRITE_DIRECT);
}

static double mono_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* the commit of sink_pg_commit_start, timed where it runs */
static void *commit_worker(void *arg)
{
    sink_pg *s = arg;
    double t0 = mono_seconds();

    memset(&s->async_result, 0, sizeof(s->async_result));
    s->async_status = commit_batch(s, s->async_batch, &s->async_result, WRITE_DIRECT);
    s->async_seconds = mono_seconds() - t0;
    atomic_store(&s->running, false);
    return NULL;
}

void sink_pg_commit_start(sink_pg *s, batch *b)
{
    s->async_batch = b;
    atomic_store(&s->running, true);
    s->started = pthread_create(&s->worker, NULL, commit_worker, s) == 0;
    if (!s->started)
        commit_worker(s); /* no thread to be had: the commit is over when this returns */
}

bool sink_pg_commit_running(const sink_pg *s)
{
    return atomic_load(&s->running);
}

sink_status sink_pg_commit_wait(sink_pg *s, sink_result *r, double *seconds)
{
    if (s->started)
        pthread_join(s->worker, NULL);
    s->started = false;
    s->async_batch = NULL;
    if (r)
        *r = s->async_result;
    if (seconds)
        *seconds = s->async_seconds;
    return s->async_status;
}

/* The tick's transaction; isolate: after Postgres refused its events together. */
static sink_status monitor_tick(sink_pg *s, sink_result *out, bool isolate)
{
    sink_result r;

    memset(&r, 0, sizeof(r));
    if (!db_ok(s->conn))
        return SINK_RETRY;
    if (!db_begin(s->conn))
        return failed(s);
    if (!monitor_step(s, NULL, &r, isolate) ||
        (!isolate && r.joined + r.unattributed && !insert_events(s, &r))) {
        bool again = !isolate && refused(s);
        db_rollback(s->conn);
        return again ? monitor_tick(s, out, true) : SINK_RETRY;
    }
    count_duplicates(&r, 0);
    if (!db_commit(s->conn))
        return failed(s);
    if (out)
        *out = r;
    return SINK_OK;
}

sink_status sink_pg_monitor_tick(sink_pg *s, sink_result *out)
{
    return monitor_tick(s, out, false);
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
