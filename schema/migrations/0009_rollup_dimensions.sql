-- 0009_rollup_dimensions: what pricing by prompt tier, speed and residency needs (issue 10).
--
-- usage_events keeps per request the usage's speed and inference_geo as sent, the exact
-- prompt size of the top-level usage (NULL on rows stored before this migration: their
-- token columns give it) and the parsed usage.iterations[] (NULL when there are none).
-- Nullable columns without a default: adding them rewrites no partition.
ALTER TABLE usage_events
    ADD COLUMN speed text,
    ADD COLUMN inference_geo text,
    ADD COLUMN prompt_tokens bigint,
    ADD COLUMN iterations jsonb;

-- The three rollups are keyed by prompt band (schema/functions/15_prompt_bands.sql), speed
-- ('standard' unless the usage said otherwise, lower case) and residency (inference_geo as
-- sent, '' when absent) instead of the 200k flag. long_context stays a plain column, kept
-- equal to tally_prompt_band_long(prompt_band), for the views and queries that read it.
-- Existing rows get the legacy bands of their flag (100 = up to 200,000, 101 = over):
-- tallyctl migrate then rebuilds them into exact bands from the raw events still held,
-- month by month, each month its own transaction (rollup_rebuild records what is done).
-- A constant default is not a rewrite; only the long-context rows are updated.
ALTER TABLE usage_rollup_day DISABLE TRIGGER usage_rollup_day_month_upd;
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('usage_rollup_15m', 'bucket'), ('usage_rollup_day', 'day'),
                                   ('usage_rollup_month', 'month')) x(tab, grain) LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN prompt_band smallint NOT NULL DEFAULT 100,'
                       ' ADD COLUMN speed text NOT NULL DEFAULT %L, ADD COLUMN residency text NOT NULL DEFAULT %L',
                       t.tab, 'standard', '');
        EXECUTE format('UPDATE %I SET prompt_band = 101 WHERE long_context', t.tab);
        EXECUTE format('ALTER TABLE %1$I ALTER COLUMN prompt_band DROP DEFAULT, DROP CONSTRAINT %2$I,'
                       ' ADD PRIMARY KEY (%3$I, developer_oid, model, deployment, prompt_band, speed, residency),'
                       ' ADD CONSTRAINT %4$I CHECK (long_context = (prompt_band BETWEEN 5 AND 8 OR prompt_band = 101)) NOT VALID',
                       t.tab, t.tab || '_pkey', t.grain, t.tab || '_long_context');
    END LOOP;
END
$$;
ALTER TABLE usage_rollup_day ENABLE TRIGGER usage_rollup_day_month_upd;

-- The rebuild's progress: a UTC month is listed once its legacy rollup rows were rebuilt
-- from its raw events ('rebuilt'), or kept because the raw events are gone or incomplete
-- ('kept': legacy_rows rows keep only the old flag).
CREATE TABLE rollup_rebuild (
    month date PRIMARY KEY,
    outcome text NOT NULL CHECK (outcome IN ('rebuilt', 'kept')),
    events bigint NOT NULL,
    legacy_rows bigint NOT NULL,
    done_at timestamptz NOT NULL DEFAULT now()
);
