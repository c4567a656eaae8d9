-- 0001_core: every table of DESIGN §4 and the reporting schema Grafana reads.
-- Times are timestamptz (UTC instants); token counts bigint; money numeric.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- One row per request, partitioned by month (UTC) on the event time. The key is the
-- APIM request id; the partition key has to be part of it, and a redelivered event
-- carries the same time, so (request_id, event_time) identifies a request.
CREATE TABLE usage_events (
    request_id text NOT NULL,
    event_time timestamptz NOT NULL,
    source_format smallint NOT NULL,          -- 1 usage, 2 legacy, 3 monitor
    developer_oid text NOT NULL,              -- Entra oid, or 'unattributed'
    developer_upn text,
    tenant_id text,
    app_id text,
    session_id text,
    message_id text,
    deployment text NOT NULL DEFAULT '',
    model text NOT NULL DEFAULT '',           -- from the response; '' = take it from the deployment
    gateway text,
    region text,
    subscription text,
    product text,
    operation text,
    service_tier text,
    status_code integer,
    is_stream boolean,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cache_read_tokens bigint NOT NULL DEFAULT 0,
    cache_write_5m_tokens bigint NOT NULL DEFAULT 0,
    cache_write_1h_tokens bigint NOT NULL DEFAULT 0,
    cache_write_unsplit_tokens bigint NOT NULL DEFAULT 0, -- 5m/1h split unknown: charged at 5m
    cache_write_unknown boolean NOT NULL DEFAULT false,   -- the source reports no cache writes
    web_search_requests bigint NOT NULL DEFAULT 0,
    web_fetch_requests bigint NOT NULL DEFAULT 0,
    long_context boolean NOT NULL DEFAULT false,          -- input + cache > 200,000 tokens
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, event_time),
    CHECK (input_tokens >= 0 AND output_tokens >= 0 AND cache_read_tokens >= 0
           AND cache_write_5m_tokens >= 0 AND cache_write_1h_tokens >= 0
           AND cache_write_unsplit_tokens >= 0)
) PARTITION BY RANGE (event_time);

-- Catches any row whose month has no partition yet; tally_ensure_month moves them out.
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;

-- Creates the partition of ts's UTC month if it is missing (rows already in the default
-- partition for that month are moved into it). Safe with concurrent callers.
CREATE FUNCTION tally_ensure_month(ts timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    part text := format('usage_events_%s', to_char(m, 'YYYY_MM'));
    lo timestamptz := m AT TIME ZONE 'UTC';
    hi timestamptz := (m + interval '1 month') AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(format('public.%I', part)) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(7340311);
    IF to_regclass(format('public.%I', part)) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE public.%I (LIKE public.usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format('WITH moved AS (DELETE FROM public.usage_events_default WHERE event_time >= $1 AND event_time < $2 RETURNING *) '
                   'INSERT INTO public.%I SELECT * FROM moved', part) USING lo, hi;
    EXECUTE format('ALTER TABLE public.usage_events ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
END
$$;

-- Ensures partitions for every month in [from_ts, to_ts].
CREATE FUNCTION tally_ensure_months(from_ts timestamptz, to_ts timestamptz) RETURNS void
LANGUAGE sql AS $$
    SELECT tally_ensure_month(m)
      FROM generate_series(date_trunc('month', from_ts AT TIME ZONE 'UTC'),
                           date_trunc('month', to_ts AT TIME ZONE 'UTC'),
                           interval '1 month') AS g(m0),
           LATERAL (SELECT g.m0 AT TIME ZONE 'UTC') AS x(m);
$$;

-- ahead of time: last month to a year from now; anything else is created on demand
SELECT tally_ensure_months(now() - interval '1 month', now() + interval '12 months');

-- Rollups. Their grain is 15 minutes in UTC: every IANA zone's offset is a multiple of
-- 15 minutes (+05:30, +05:45, DST shifts), so a month or day in any zone is an exact
-- union of buckets. The daily table (UTC days) serves the whole days inside a range.
-- Both hold only rows actually inserted into usage_events (same transaction).
CREATE TABLE usage_rollup_15m (
    bucket timestamptz NOT NULL,
    developer_oid text NOT NULL,
    model text NOT NULL,
    deployment text NOT NULL,
    long_context boolean NOT NULL,
    requests bigint NOT NULL DEFAULT 0,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cache_read_tokens bigint NOT NULL DEFAULT 0,
    cache_write_5m_tokens bigint NOT NULL DEFAULT 0,
    cache_write_1h_tokens bigint NOT NULL DEFAULT 0,
    cache_write_unsplit_tokens bigint NOT NULL DEFAULT 0,
    cache_unknown_requests bigint NOT NULL DEFAULT 0,
    web_search_requests bigint NOT NULL DEFAULT 0,
    web_fetch_requests bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, developer_oid, model, deployment, long_context)
);

CREATE TABLE usage_rollup_day (
    day date NOT NULL, -- UTC
    developer_oid text NOT NULL,
    model text NOT NULL,
    deployment text NOT NULL,
    long_context boolean NOT NULL,
    requests bigint NOT NULL DEFAULT 0,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cache_read_tokens bigint NOT NULL DEFAULT 0,
    cache_write_5m_tokens bigint NOT NULL DEFAULT 0,
    cache_write_1h_tokens bigint NOT NULL DEFAULT 0,
    cache_write_unsplit_tokens bigint NOT NULL DEFAULT 0,
    cache_unknown_requests bigint NOT NULL DEFAULT 0,
    web_search_requests bigint NOT NULL DEFAULT 0,
    web_fetch_requests bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, developer_oid, model, deployment, long_context)
);

-- Kafka offsets, written in the batch's transaction (compare-and-set on next_offset).
CREATE TABLE ingest_offsets (
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- What could not be parsed, byte for byte. source_key makes a redelivered reject a no-op:
-- 'kafka:<topic>:<partition>:<offset>[:<record>]' or 'file:<sha256>:<line>[:<record>]'.
CREATE TABLE ingest_rejects (
    id bigserial PRIMARY KEY,
    source_key text NOT NULL UNIQUE,
    source text NOT NULL,        -- human-readable: topic/partition/offset or file:line
    reason text NOT NULL,
    raw bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_rejects_received_at ON ingest_rejects (received_at);

-- Developers: the Entra oid is the identity, the rest are dated labels.
CREATE TABLE developers (
    oid text NOT NULL,
    upn text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    team text NOT NULL DEFAULT '',
    cost_center text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT '-infinity',
    valid_to timestamptz NOT NULL DEFAULT 'infinity',
    PRIMARY KEY (oid, valid_from),
    CHECK (valid_from < valid_to),
    EXCLUDE USING gist (oid WITH =, tstzrange(valid_from, valid_to) WITH &&)
);

-- The upn last seen in events, for developers not (yet) imported.
CREATE TABLE developer_labels (
    oid text PRIMARY KEY,
    upn text NOT NULL,
    last_seen timestamptz NOT NULL
);

-- Deployment name -> pinned model version, dated.
CREATE TABLE deployments (
    name text NOT NULL,
    model text NOT NULL,
    valid_from timestamptz NOT NULL DEFAULT '-infinity',
    valid_to timestamptz NOT NULL DEFAULT 'infinity',
    PRIMARY KEY (name, valid_from),
    CHECK (valid_from < valid_to),
    EXCLUDE USING gist (name WITH =, tstzrange(valid_from, valid_to) WITH &&)
);

-- Price books are immutable once loaded; a correction is a new book.
CREATE TABLE price_books (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    sha256 text NOT NULL,
    published date NOT NULL,
    document jsonb NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

-- USD per million tokens. lc_* apply to a whole request whose input including cache
-- exceeds lc_threshold tokens (NULL = no long-context rate).
CREATE TABLE prices (
    book_id integer NOT NULL REFERENCES price_books(id),
    model text NOT NULL,
    effective_from timestamptz NOT NULL,
    effective_to timestamptz NOT NULL DEFAULT 'infinity',
    input numeric NOT NULL,
    output numeric NOT NULL,
    cache_write_5m numeric NOT NULL,
    cache_write_1h numeric NOT NULL,
    cache_read numeric NOT NULL,
    lc_threshold bigint,
    lc_input numeric,
    lc_output numeric,
    lc_cache_write_5m numeric,
    lc_cache_write_1h numeric,
    lc_cache_read numeric,
    PRIMARY KEY (book_id, model, effective_from),
    CHECK (effective_from < effective_to),
    CHECK (input >= 0 AND output >= 0 AND cache_write_5m >= 0 AND cache_write_1h >= 0 AND cache_read >= 0),
    EXCLUDE USING gist (book_id WITH =, model WITH =, tstzrange(effective_from, effective_to) WITH &&)
);

CREATE TABLE price_aliases (
    book_id integer NOT NULL REFERENCES price_books(id),
    alias text NOT NULL,
    model text NOT NULL,
    PRIMARY KEY (book_id, alias)
);

-- Quotas set by the platform team (DESIGN §7).
CREATE TABLE quotas (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    scope text NOT NULL CHECK (scope IN ('developer', 'team', 'everyone')),
    subject text NOT NULL DEFAULT '', -- the oid or team; '' for everyone
    metric text NOT NULL CHECK (metric IN ('cost_usd', 'tokens')),
    period text NOT NULL CHECK (period IN ('day', 'week', 'month')),
    tz text NOT NULL DEFAULT 'UTC',
    limit_value numeric NOT NULL CHECK (limit_value > 0),
    thresholds integer[] NOT NULL DEFAULT '{50,80,100}',
    forecast boolean NOT NULL DEFAULT false,
    targets jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (quota, period, threshold) that fired: the unique key makes it fire once
-- even with several report servers on one database.
CREATE TABLE alert_log (
    id bigserial PRIMARY KEY,
    quota_id integer NOT NULL REFERENCES quotas(id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    threshold text NOT NULL, -- '50', '80', '100' or 'forecast'
    used numeric NOT NULL,
    limit_value numeric NOT NULL,
    fired_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (quota_id, period_start, threshold)
);

-- API tokens: only the SHA-256 of the token is stored.
CREATE TABLE api_tokens (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    token_sha256 text NOT NULL UNIQUE,
    role text NOT NULL CHECK (role IN ('finance', 'lead', 'developer', 'platform')),
    team text,
    developer_oid text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CHECK (role <> 'lead' OR team IS NOT NULL),
    CHECK (role <> 'developer' OR developer_oid IS NOT NULL)
);

-- The reporting schema: what Grafana (and people with psql) read, as tally_reader.
CREATE SCHEMA reporting;

CREATE VIEW reporting.developers AS
SELECT d.oid AS developer_oid, d.upn AS developer_upn, d.display_name, d.team, d.cost_center,
       d.valid_from, d.valid_to
  FROM developers d;

-- Usage at 15-minute grain with the developer's labels at that time and the model
-- resolved through the deployment mapping when the event carried none.
CREATE VIEW reporting.usage_15m AS
SELECT r.bucket,
       r.developer_oid,
       coalesce(d.upn, l.upn, r.developer_oid) AS developer_upn,
       coalesce(d.team, '') AS team,
       coalesce(d.cost_center, '') AS cost_center,
       coalesce(nullif(r.model, ''), dep.model, '') AS model,
       r.deployment,
       r.long_context,
       r.requests, r.input_tokens, r.output_tokens, r.cache_read_tokens,
       r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.cache_write_unsplit_tokens,
       r.cache_unknown_requests, r.web_search_requests, r.web_fetch_requests
  FROM usage_rollup_15m r
  LEFT JOIN developers d ON d.oid = r.developer_oid AND r.bucket >= d.valid_from AND r.bucket < d.valid_to
  LEFT JOIN developer_labels l ON l.oid = r.developer_oid
  LEFT JOIN deployments dep ON dep.name = r.deployment AND r.bucket >= dep.valid_from AND r.bucket < dep.valid_to;

CREATE VIEW reporting.ingest_rejects AS
SELECT id, received_at, source, reason, length(raw) AS raw_bytes FROM ingest_rejects;

CREATE VIEW reporting.ingest_offsets AS
SELECT consumer_group, topic, partition, next_offset, updated_at FROM ingest_offsets;

CREATE VIEW reporting.price_books AS
SELECT id, name, sha256, published, loaded_at FROM price_books;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tally_reader') THEN
        CREATE ROLE tally_reader NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA reporting TO tally_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO tally_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT SELECT ON TABLES TO tally_reader;
