-- Quotas: periods and usage (docs/architecture.md, "Quotas and alerts").
--
-- A quota's period is the day, ISO week (Monday) or month containing an instant, in the
-- quota's IANA zone, so its bounds move with DST and with offsets such as +05:45. Usage is
-- read through the cost engine (tally_usage_priced, the newest price book): cost is
-- the sum of priced rows (unpriced usage has no cost and is reported apart by the engine),
-- tokens the sum of every token class of every row, priced or not.

-- 1..1000 %, strictly ascending, at least one.
CREATE OR REPLACE FUNCTION tally_quota_thresholds_valid(t integer[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(cardinality(t), 0) BETWEEN 1 AND 32
       AND array_ndims(t) = 1
       AND NOT EXISTS (SELECT 1
                         FROM (SELECT v, lag(v) OVER (ORDER BY i) AS prev
                                 FROM unnest(t) WITH ORDINALITY AS a(v, i)) x
                        WHERE v IS NULL OR v < 1 OR v > 1000 OR v <= prev)
$$;

-- An instant as the API prints it: ISO 8601 in UTC with a Z, to the second.
CREATE OR REPLACE FUNCTION tally_iso_utc(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- The period of kind ('day', 'week', 'month') containing p_at in zone p_tz: [start, end).
CREATE OR REPLACE FUNCTION tally_quota_period(p_period text, p_tz text, p_at timestamptz,
                                   OUT period_start timestamptz, OUT period_end timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    local_start timestamp;
BEGIN
    IF p_period NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'unknown quota period "%"', p_period;
    END IF;
    local_start := date_trunc(p_period, p_at AT TIME ZONE p_tz); -- 'week' is ISO: Monday
    period_start := local_start AT TIME ZONE p_tz;
    period_end := (local_start + ('1 ' || p_period)::interval) AT TIME ZONE p_tz;
END
$$;

-- Every quota's usage in the period containing p_at (only quota p_quota when given).
-- Decimals come without trailing zeros (trim_scale), like every amount the reports print.
--   used      cost in USD (priced usage, newest price book) or tokens (every class)
--   ratio     used / limit, rounded to 6 decimals (thresholds are compared exactly:
--             used × 100 ≥ limit × threshold)
--   forecast  the burn rate so far projected to the end of the period:
--             used × (period_end − period_start) / (p_at − period_start), in exact seconds,
--             rounded to 6 decimals; NULL until a tenth of the period has passed (earlier
--             projections swing too much to alert on) and after the period
--   forecast_over  the unrounded projection reaches the limit (used × length ≥ limit ×
--             elapsed) while used is still below it: what the forecast alert fires on
--   unpriced_tokens  tokens of the scope in the period that the book cannot price: a cost
--             quota does not count them (they have no cost), so they are shown beside it
-- Scope: a developer (subject = oid); a team (subject = team): the usage of each developer
-- on each day (in the quota's zone) on which a dated developers row naming the team is
-- valid for at least part of that day; everyone.
-- The cost engine runs once per (period, zone) of the quotas, not once per quota, so a
-- quota for each of thousands of developers costs one pass over the rollups. A group the
-- engine refuses comes back with used NULL (and a warning) instead of failing them all.
-- A team login (tally_caller_scope, 05_caller_scope.sql) gets its team's team quotas only:
-- this function reads as its owner, past the row-level security.
CREATE OR REPLACE FUNCTION tally_quota_usage_all(p_at timestamptz DEFAULT now(), p_quota integer DEFAULT NULL)
RETURNS TABLE (quota_id integer, period_start timestamptz, period_end timestamptz,
               used numeric, limit_value numeric, ratio numeric, forecast numeric,
               forecast_over boolean, unpriced_tokens bigint)
-- SECURITY DEFINER: reporting.quota_status calls it as tally_reader, which reads only views
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    g record;
    ps timestamptz;
    pe timestamptz;
    need_days boolean;
    restricted boolean;
    rteam text;
BEGIN
    SELECT s.restricted, s.team INTO restricted, rteam FROM tally_caller_scope() s;
    FOR g IN SELECT DISTINCT q.period, q.tz FROM quotas q
              WHERE (p_quota IS NULL OR q.id = p_quota)
                AND (NOT restricted OR (q.scope = 'team' AND q.subject = rteam)) LOOP
      BEGIN
        ps := NULL;
        pe := NULL;
        SELECT p.period_start, p.period_end INTO ps, pe FROM tally_quota_period(g.period, g.tz, p_at) p;
        -- per-day usage (the engine's dearest grain) only when a member of a team with a
        -- quota here joined or left inside the period; else membership is the same all
        -- period long and the per-developer totals serve
        need_days := EXISTS (SELECT 1 FROM developers d
                              WHERE d.team IN (SELECT q.subject FROM quotas q
                                                WHERE q.period = g.period AND q.tz = g.tz
                                                  AND q.scope = 'team'
                                                  AND (p_quota IS NULL OR q.id = p_quota))
                                AND ((d.valid_from > ps AND d.valid_from < pe)
                                     OR (d.valid_to > ps AND d.valid_to < pe)));
        RETURN QUERY
        WITH per_dev AS MATERIALIZED ( -- the period per developer: the engine's cheapest grain
            SELECT x.developer_oid,
                   coalesce(sum(x.cost_usd) FILTER (WHERE x.priced), 0) AS cost,
                   -- the engine's 5m writes include the unsplit ones
                   sum(x.input_tokens + x.output_tokens + x.cache_read_tokens
                       + x.cache_write_5m_tokens + x.cache_write_1h_tokens) AS tokens,
                   coalesce(sum(x.input_tokens + x.output_tokens + x.cache_read_tokens
                                + x.cache_write_5m_tokens + x.cache_write_1h_tokens)
                            FILTER (WHERE NOT x.priced), 0) AS unpriced
              FROM tally_usage_priced(tally_book(NULL), ps, pe, g.tz, 'none') x
             GROUP BY 1
        ), per_day AS MATERIALIZED ( -- per developer and local day, only for team quotas
            SELECT x.developer_oid, x.period_start AS day,
                   coalesce(sum(x.cost_usd) FILTER (WHERE x.priced), 0) AS cost,
                   sum(x.input_tokens + x.output_tokens + x.cache_read_tokens
                       + x.cache_write_5m_tokens + x.cache_write_1h_tokens) AS tokens,
                   coalesce(sum(x.input_tokens + x.output_tokens + x.cache_read_tokens
                                + x.cache_write_5m_tokens + x.cache_write_1h_tokens)
                            FILTER (WHERE NOT x.priced), 0) AS unpriced
              FROM tally_usage_priced(tally_book(NULL), ps, pe, g.tz, 'day') x
             WHERE need_days
             GROUP BY 1, 2
        ), qs AS MATERIALIZED (
            SELECT q.* FROM quotas q
             WHERE q.period = g.period AND q.tz = g.tz AND (p_quota IS NULL OR q.id = p_quota)
               AND (NOT restricted OR (q.scope = 'team' AND q.subject = rteam))
        ), members AS ( -- (team, developer, day): distinct, however many dated rows match
            SELECT DISTINCT d.team, u.developer_oid, u.day
              FROM per_day u JOIN developers d ON d.oid = u.developer_oid
               AND d.valid_from < ((u.day AT TIME ZONE g.tz) + interval '1 day') AT TIME ZONE g.tz
               AND d.valid_to > u.day
             WHERE d.team IN (SELECT subject FROM qs WHERE scope = 'team')
        ), per_team AS (
            SELECT m.team, sum(u.cost) AS cost, sum(u.tokens) AS tokens, sum(u.unpriced) AS unpriced
              FROM members m JOIN per_day u ON u.developer_oid = m.developer_oid AND u.day = m.day
             WHERE need_days
             GROUP BY m.team
            UNION ALL
            SELECT m.team, sum(u.cost), sum(u.tokens), sum(u.unpriced)
              FROM (SELECT DISTINCT d.team, d.oid FROM developers d
                     WHERE d.team IN (SELECT subject FROM qs WHERE scope = 'team')
                       AND d.valid_from < pe AND d.valid_to > ps) m
              JOIN per_dev u ON u.developer_oid = m.oid
             WHERE NOT need_days
             GROUP BY m.team
        ), everyone AS (
            SELECT sum(cost) AS cost, sum(tokens) AS tokens, sum(unpriced) AS unpriced FROM per_dev
        ), s AS (
            SELECT qs.id, qs.limit_value AS lim,
                   coalesce(CASE WHEN qs.metric = 'cost_usd' THEN coalesce(d.cost, t.cost, e.cost)
                                 ELSE coalesce(d.tokens, t.tokens, e.tokens) END, 0) AS v,
                   coalesce(d.unpriced, t.unpriced, e.unpriced, 0)::bigint AS unpriced,
                   extract(epoch FROM pe - ps) AS len_s,
                   extract(epoch FROM p_at - ps) AS elapsed_s
              FROM qs
              LEFT JOIN per_dev d ON qs.scope = 'developer' AND d.developer_oid = qs.subject
              LEFT JOIN per_team t ON qs.scope = 'team' AND t.team = qs.subject
              LEFT JOIN everyone e ON qs.scope = 'everyone'
        )
        SELECT s.id, ps, pe, trim_scale(s.v), s.lim, trim_scale(round(s.v / s.lim, 6)),
               CASE WHEN s.elapsed_s * 10 >= s.len_s AND s.elapsed_s <= s.len_s
                    THEN trim_scale(round(s.v * s.len_s / s.elapsed_s, 6)) END,
               s.elapsed_s * 10 >= s.len_s AND s.elapsed_s <= s.len_s
                   AND s.v < s.lim AND s.v * s.len_s >= s.lim * s.elapsed_s,
               s.unpriced
          FROM s;
      EXCEPTION WHEN OTHERS THEN
        -- one zone the engine refuses (a boundary off the 15-minute grid) must not stop
        -- the others: its quotas come back with used NULL, which the evaluator reports
        RAISE WARNING 'could not compute the quotas of % periods in zone "%": %', g.period, g.tz, SQLERRM;
        RETURN QUERY
        SELECT q.id, ps, pe, NULL::numeric, q.limit_value, NULL::numeric, NULL::numeric, false,
               NULL::bigint
          FROM quotas q
         WHERE q.period = g.period AND q.tz = g.tz AND (p_quota IS NULL OR q.id = p_quota)
           AND (NOT restricted OR (q.scope = 'team' AND q.subject = rteam));
      END;
    END LOOP;
END
$$;

-- One quota's usage (see tally_quota_usage_all).
CREATE OR REPLACE FUNCTION tally_quota_usage(p_quota integer, p_at timestamptz DEFAULT now())
RETURNS TABLE (period_start timestamptz, period_end timestamptz, used numeric,
               limit_value numeric, ratio numeric, forecast numeric, forecast_over boolean,
               unpriced_tokens bigint)
LANGUAGE sql STABLE AS $$
    SELECT period_start, period_end, used, limit_value, ratio, forecast, forecast_over,
           unpriced_tokens
      FROM tally_quota_usage_all(p_at, p_quota)
$$;
