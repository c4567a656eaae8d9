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
