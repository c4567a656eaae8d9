-- Prompt-size bands, the rollup dimension that replaces the 200k boolean (schema/README.md,
-- "Rollups"), and the parts of a request the rollups sum.
--
-- A prompt is input + cache reads + every cache write of a request (or of one iteration).
-- Its band is the number of breakpoints strictly below it, so band b is the interval
-- (breakpoint b, breakpoint b + 1]: 0 = up to 32,000 ... 8 = over 1,000,000. Rollup rows whose
-- raw events were dropped before the bands existed keep only the old flag: band 100 = up to
-- 200,000 (long_context false), 101 = over 200,000 (true). The C side is
-- TALLY_PROMPT_BREAKPOINTS in common/tokens.h: the same list.

CREATE OR REPLACE FUNCTION tally_prompt_breakpoints() RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '{32000,64000,100000,128000,200000,256000,500000,1000000}'::bigint[]
$$;

-- width_bucket counts the breakpoints <= its operand: those < prompt, for whole tokens.
CREATE OR REPLACE FUNCTION tally_prompt_band(prompt bigint) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT width_bucket(prompt - 1, tally_prompt_breakpoints())::smallint
$$;

-- The band's lower bound, exclusive (NULL = none), and upper bound, inclusive (NULL = none).
CREATE OR REPLACE FUNCTION tally_prompt_band_min(b smallint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE b WHEN 100 THEN NULL WHEN 101 THEN 200000
                  ELSE (tally_prompt_breakpoints())[b] END
$$;

CREATE OR REPLACE FUNCTION tally_prompt_band_max(b smallint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE b WHEN 100 THEN 200000 WHEN 101 THEN NULL
                  ELSE (tally_prompt_breakpoints())[b + 1] END
$$;

-- The rollups' long_context column: the whole band lies over 200,000 tokens.
CREATE OR REPLACE FUNCTION tally_prompt_band_long(b smallint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(tally_prompt_band_min(b) >= 200000, false)
$$;

-- The parts of one request (a usage_events row) that the rollups sum, one per billed usage:
-- without iterations the top-level usage under the response's model; with iterations
-- (usage.iterations[], parsed by tally-ingest) each iteration under its own model (the
-- response's when it names none) with its own prompt band, the top level not added again
-- (Anthropic's top-level usage is the final iteration's). The request counts once, with
-- its tool and cache-unknown counts, on the last iteration of the response's model (the
-- last iteration if none is). Callers sum parts per (model, prompt_band).
CREATE OR REPLACE FUNCTION tally_usage_parts(p_model text, p_iterations jsonb, p_input bigint,
    p_output bigint, p_cache_read bigint, p_write_5m bigint, p_write_1h bigint,
    p_write_unsplit bigint, p_cache_unknown boolean, p_web_search bigint, p_web_fetch bigint)
RETURNS TABLE (model text, prompt_band smallint, requests bigint, input_tokens bigint,
               output_tokens bigint, cache_read_tokens bigint, cache_write_5m_tokens bigint,
               cache_write_1h_tokens bigint, cache_write_unsplit_tokens bigint,
               cache_unknown_requests bigint, web_search_requests bigint, web_fetch_requests bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_model, tally_prompt_band(p_input + p_cache_read + p_write_5m + p_write_1h + p_write_unsplit),
           1::bigint, p_input, p_output, p_cache_read, p_write_5m, p_write_1h, p_write_unsplit,
           p_cache_unknown::integer::bigint, p_web_search, p_web_fetch
     WHERE p_iterations IS NULL OR jsonb_array_length(p_iterations) = 0
    UNION ALL
    SELECT i.m, tally_prompt_band(i.i + i.rd + i.w5 + i.w1 + i.wu), (i.n = i.counted)::integer::bigint,
           i.i, i.o, i.rd, i.w5, i.w1, i.wu,
           CASE WHEN i.n = i.counted THEN p_cache_unknown::integer ELSE 0 END::bigint,
           CASE WHEN i.n = i.counted THEN p_web_search ELSE 0 END,
           CASE WHEN i.n = i.counted THEN p_web_fetch ELSE 0 END
      FROM (SELECT x.*, coalesce(max(x.n) FILTER (WHERE x.m = p_model) OVER (), max(x.n) OVER ()) AS counted
              FROM (SELECT coalesce(nullif(e.it->>'model', ''), p_model) AS m, e.n,
                           coalesce((e.it->>'input_tokens')::bigint, 0) AS i,
                           coalesce((e.it->>'output_tokens')::bigint, 0) AS o,
                           coalesce((e.it->>'cache_read_tokens')::bigint, 0) AS rd,
                           coalesce((e.it->>'cache_write_5m_tokens')::bigint, 0) AS w5,
                           coalesce((e.it->>'cache_write_1h_tokens')::bigint, 0) AS w1,
                           coalesce((e.it->>'cache_write_unsplit_tokens')::bigint, 0) AS wu
                      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_iterations) = 'array'
                                                     THEN p_iterations END)
                           WITH ORDINALITY AS e(it, n)) x) i
$$;

-- Rebuilds one UTC month of the three rollups from its raw events (after 0009: rows that
-- only know the 200k flag get exact bands), in the caller's transaction; tallyctl migrate
-- calls it once per month that still has legacy rows and is not in rollup_rebuild, each
-- call its own transaction (bounded, restartable: a month is done or not at all).
-- The rollups are locked against writers (ingest waits, readers do not) and the month is
-- rebuilt only when its raw events are complete: as many requests and tokens as the
-- rollups hold. Otherwise (partitions already dropped) its rows stay as they are and
-- legacy_rows says how many keep only the old flag. The monthly rollup follows by trigger.
CREATE OR REPLACE FUNCTION tally_rollup_rebuild_month(p_month date, OUT outcome text,
                                                      OUT events bigint, OUT legacy_rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := p_month::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (p_month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    d_hi date := (p_month + interval '1 month')::date;
    raw_tokens numeric;
    rolled bigint;
    rolled_tokens numeric;
BEGIN
    LOCK TABLE usage_rollup_15m, usage_rollup_day, usage_rollup_month IN SHARE ROW EXCLUSIVE MODE;
    SELECT r.outcome, r.events, r.legacy_rows INTO outcome, events, legacy_rows
      FROM rollup_rebuild r WHERE r.month = p_month;
    IF FOUND THEN
        RETURN;
    END IF;
    -- the month's 15-minute rows as the sink would have written them
    CREATE TEMP TABLE tally_rebuild_15m ON COMMIT DROP AS
    SELECT date_bin('15 minutes', e.event_time, timestamptz '1970-01-01 00:00:00+00') AS bucket,
           e.developer_oid, p.model, e.deployment, p.prompt_band,
           coalesce(lower(e.speed), 'standard') AS speed, coalesce(e.inference_geo, '') AS residency,
           tally_prompt_band_long(p.prompt_band) AS long_context, sum(p.requests)::bigint AS requests,
           sum(p.input_tokens)::bigint AS input_tokens, sum(p.output_tokens)::bigint AS output_tokens,
           sum(p.cache_read_tokens)::bigint AS cache_read_tokens,
           sum(p.cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,
           sum(p.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
           sum(p.cache_write_unsplit_tokens)::bigint AS cache_write_unsplit_tokens,
           sum(p.cache_unknown_requests)::bigint AS cache_unknown_requests,
           sum(p.web_search_requests)::bigint AS web_search_requests,
           sum(p.web_fetch_requests)::bigint AS web_fetch_requests
      FROM usage_events e
     CROSS JOIN LATERAL tally_usage_parts(e.model, e.iterations, e.input_tokens, e.output_tokens,
                                          e.cache_read_tokens, e.cache_write_5m_tokens,
                                          e.cache_write_1h_tokens, e.cache_write_unsplit_tokens,
                                          e.cache_write_unknown, e.web_search_requests,
                                          e.web_fetch_requests) p
     WHERE e.event_time >= lo AND e.event_time < hi
     GROUP BY 1, 2, 3, 4, 5, 6, 7;
    SELECT coalesce(sum(requests), 0),
           coalesce(sum(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens
                        + cache_write_1h_tokens + cache_write_unsplit_tokens), 0)
      INTO events, raw_tokens FROM tally_rebuild_15m;
    SELECT coalesce(sum(requests), 0),
           coalesce(sum(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens
                        + cache_write_1h_tokens + cache_write_unsplit_tokens), 0)
      INTO rolled, rolled_tokens
      FROM usage_rollup_month WHERE month = p_month;
    IF events > 0 AND events = rolled AND raw_tokens = rolled_tokens THEN
        DELETE FROM usage_rollup_15m WHERE bucket >= lo AND bucket < hi;
        DELETE FROM usage_rollup_day WHERE day >= p_month AND day < d_hi;
        INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, prompt_band, speed,
                                      residency, long_context, requests, input_tokens, output_tokens,
                                      cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                                      cache_write_unsplit_tokens, cache_unknown_requests,
                                      web_search_requests, web_fetch_requests)
        SELECT * FROM tally_rebuild_15m ORDER BY 1, 2, 3, 4, 5, 6, 7;
        INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, prompt_band, speed,
                                      residency, long_context, requests, input_tokens, output_tokens,
                                      cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                                      cache_write_unsplit_tokens, cache_unknown_requests,
                                      web_search_requests, web_fetch_requests)
        SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, prompt_band,
               speed, residency, long_context, sum(requests), sum(input_tokens), sum(output_tokens),
               sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens),
               sum(cache_write_unsplit_tokens), sum(cache_unknown_requests),
               sum(web_search_requests), sum(web_fetch_requests)
          FROM usage_rollup_15m WHERE bucket >= lo AND bucket < hi
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7;
        -- the deleted days' keys that no event has any more (the legacy bands) are left at zero
        DELETE FROM usage_rollup_month
         WHERE month = p_month AND requests = 0 AND input_tokens = 0 AND output_tokens = 0
           AND cache_read_tokens = 0 AND cache_write_5m_tokens = 0 AND cache_write_1h_tokens = 0
           AND cache_write_unsplit_tokens = 0 AND cache_unknown_requests = 0
           AND web_search_requests = 0 AND web_fetch_requests = 0;
        outcome := 'rebuilt';
    ELSE
        outcome := 'kept';
    END IF;
    SELECT (SELECT count(*) FROM usage_rollup_15m WHERE bucket >= lo AND bucket < hi AND prompt_band >= 100)
         + (SELECT count(*) FROM usage_rollup_day WHERE day >= p_month AND day < d_hi AND prompt_band >= 100)
         + (SELECT count(*) FROM usage_rollup_month WHERE month = p_month AND prompt_band >= 100)
      INTO legacy_rows;
    INSERT INTO rollup_rebuild (month, outcome, events, legacy_rows)
    VALUES (p_month, outcome, events, legacy_rows);
    DROP TABLE tally_rebuild_15m;
END
$$;
