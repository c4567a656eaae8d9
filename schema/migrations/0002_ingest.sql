-- 0002_ingest: what tally-ingest keeps besides the events themselves: the two halves of
-- an Azure Monitor request waiting to be joined (DESIGN §2.3).
--
-- GatewayLlmLogs (tokens, no caller) and GatewayLogs (caller, no tokens) arrive in either
-- order, possibly in different batches or from different consumers. Each half waits here,
-- keyed by correlationId, until its partner arrives (the pair becomes one usage_events
-- row in the same transaction) or until monitor_join_wait_s has passed: the LLM half is
-- then recorded for developer 'unattributed', the gateway half alone is dropped.
-- received_at is the database's time, so every consumer measures the wait alike.

CREATE TABLE ingest_monitor_llm (
    correlation_id text PRIMARY KEY,          -- chunked records: the first one wins
    event_time timestamptz NOT NULL,
    message_id text,
    deployment text NOT NULL DEFAULT '',
    model text NOT NULL DEFAULT '',
    is_stream boolean,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cache_read_tokens bigint NOT NULL DEFAULT 0,
    long_context boolean NOT NULL DEFAULT false,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_monitor_llm_received_at ON ingest_monitor_llm (received_at);

CREATE TABLE ingest_monitor_gateway (
    correlation_id text PRIMARY KEY,
    event_time timestamptz NOT NULL,
    user_oid text,
    user_upn text,
    subscription text,
    status_code integer,
    region text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_monitor_gateway_received_at ON ingest_monitor_gateway (received_at);

CREATE VIEW reporting.ingest_monitor_pending AS
SELECT 'llm' AS half, correlation_id, event_time, received_at FROM ingest_monitor_llm
UNION ALL
SELECT 'gateway', correlation_id, event_time, received_at FROM ingest_monitor_gateway;
GRANT SELECT ON reporting.ingest_monitor_pending TO tally_reader;
