-- The cost engine (docs/architecture.md, "Cost engine"). Exact numeric throughout: a cost is
-- tokens × rate × 0.000001 (multiplication is exact in numeric; division would round).
-- See schema/README.md, "Cost functions", for the contract of each function.

-- The engine under every report: signed, priced rollup rows. Each row is the rollup rows
-- of one key read by the pieces of the plan (tally_cost_pieces) for one period and one
-- price range (one row per rollup row when no period is read from two pieces), with its
-- model resolved, its sign applied to every count and cost (a piece subtracted from a
-- whole month counts negative), its rates (rate_*: those of its tier, speed and residency;
-- base_*: the range's standard base ones) and the price range used (effective_from; NULL
-- when unpriced). Keys repeat: callers GROUP BY what they report and drop groups in which
-- every count sums to 0 (tally_any_usage).
-- p_developer (optional) reads only that developer's rollup rows (their key's second
-- column), for a developer's own costs and per-developer quotas.
-- prompt_band, speed (fast when priced so), residency (the class priced: the row's, else its
-- deployment's), tier (the over_tokens of the rates used, 0 = base) and multiplier (of the
-- residency class) say how it was priced (tally_rate_table); tier and multiplier are NULL
-- when unpriced.
DROP FUNCTION IF EXISTS tally_usage_priced_detail(integer, timestamptz, timestamptz, text, text, text);
CREATE FUNCTION tally_usage_priced_detail(p_book integer, p_from timestamptz, p_to timestamptz,
                                          p_tz text, p_grain text, p_developer text DEFAULT NULL)
RETURNS TABLE (period_start timestamptz, developer_oid text, model text, deployment text,
               long_context boolean, priced boolean, requests bigint,
               input_tokens bigint, cache_write_5m_tokens bigint, cache_write_1h_tokens bigint,
               cache_write_unsplit_tokens bigint, cache_read_tokens bigint, output_tokens bigint,
               cost_input_usd numeric, cost_output_usd numeric, cost_cache_write_5m_usd numeric,
               cost_cache_write_1h_usd numeric, cost_cache_write_unsplit_usd numeric,
               cost_cache_read_usd numeric, cost_usd numeric,
               rate_input numeric, rate_output numeric, rate_cache_write_5m numeric,
               rate_cache_write_1h numeric, rate_cache_read numeric,
               base_input numeric, base_output numeric, base_cache_write_5m numeric,
               base_cache_write_1h numeric, base_cache_read numeric, effective_from timestamptz,
               prompt_band smallint, speed text, residency text, tier bigint, multiplier numeric)
LANGUAGE plpgsql STABLE
-- JIT would compile for tens of milliseconds and save nothing on rollup-sized inputs. The
-- rate table is a function scan the planner cannot size: without merge joins it is hashed
-- (a few hundred rows) instead of sorting every rollup row by its text keys.
SET jit = off SET work_mem = '64MB' SET enable_mergejoin = off
AS $$
DECLARE
    pcs record;
    pc record;
    raw text := '';
    dev text := CASE WHEN p_developer IS NULL THEN '' ELSE ' AND r.developer_oid = $2' END;
    mlo timestamptz := date_trunc('month', p_from, 'UTC');
    mhi timestamptz := date_trunc('month', p_to - interval '1 microsecond', 'UTC') + interval '1 month';
    split text[];
    names text[];
    agg boolean;
    -- the columns of a rate table row the rest of the query reads
    xcols text := 'x.model, x.effective_from, x.tier, x.fast, x.multiplier, x.input, x.output,'
        || ' x.cache_write_5m, x.cache_write_1h, x.cache_read, x.base_input, x.base_output,'
        || ' x.base_cache_write_5m, x.base_cache_write_1h, x.base_cache_read, x.t_r_in, x.t_r_out,'
        || ' x.t_r_w5, x.t_r_w1, x.t_r_rd';
    flt text := ' AND (pc.fk = ''all'' OR (pc.fk = ''in'' AND r.model = ANY(pc.fn::text[]))'
        || ' OR (pc.fk = ''out'' AND r.model <> '''' AND r.model <> ALL(pc.fn::text[]))'
        || ' OR (pc.fk = ''empty'' AND r.model = '''') OR (pc.fk = ''known'' AND r.model <> ''''))';
BEGIN
    -- A price change splits the UTC months around it into days and quarter-hours, but only
    -- for the usage of the model whose price changes: the other models (and usage whose
    -- model is known, which no deployment change affects) are still read from the monthly
    -- rollup. Each class of usage gets its own plan, with its own breaks: the models whose
    -- price changes inside the months read, one class each; every other model; usage
    -- without a model (resolved through the deployments: all breaks), when there is any.
    SELECT array_agg(DISTINCT p.model ORDER BY p.model) INTO split
      FROM prices p
     CROSS JOIN LATERAL (VALUES (p.effective_from), (p.effective_to)) x(t)
     WHERE p.book_id = p_book AND isfinite(t) AND mlo < mhi
       AND date_bin('15 minutes', t + interval '15 minutes' - interval '1 microsecond',
                    timestamptz '2000-01-01 00:00+00') > mlo
       AND date_bin('15 minutes', t + interval '15 minutes' - interval '1 microsecond',
                    timestamptz '2000-01-01 00:00+00') < mhi;
    IF split IS NULL THEN
        SELECT array_agg(x.kind) AS kind, array_agg(x.lo) AS lo, array_agg(x.hi) AS hi,
               array_agg(x.sign) AS sign, array_agg(x.period_start) AS period_start,
               array_agg('all'::text) AS fk, array_agg('{}'::text) AS fn
          INTO pcs FROM tally_cost_pieces(p_book, p_from, p_to, p_tz, p_grain) x;
    ELSE
        -- the rollup names of the split models: each itself (unless it is an alias) and its aliases
        SELECT array_agg(n) INTO names
          FROM (SELECT m FROM unnest(split) m
                 WHERE NOT EXISTS (SELECT 1 FROM price_aliases a WHERE a.book_id = p_book AND a.alias = m)
                UNION SELECT pa.alias FROM price_aliases pa WHERE pa.book_id = p_book AND pa.model = ANY(split)) x(n);
        -- a piece that two classes share is read once: 'known' (in and out), 'all' (all three)
        SELECT array_agg(x.kind) AS kind, array_agg(x.lo) AS lo, array_agg(x.hi) AS hi,
               array_agg(x.sign) AS sign, array_agg(x.period_start) AS period_start,
               array_agg(f.fk) AS fk, array_agg(names::text) AS fn
          INTO pcs
          FROM (SELECT y.kind, y.lo, y.hi, y.sign, y.period_start,
                       CASE WHEN bool_or(y.fk = 'in') AND bool_or(y.fk = 'out')
                            THEN CASE WHEN bool_or(y.fk = 'empty') THEN ARRAY['all'] ELSE ARRAY['known'] END
                            ELSE array_agg(y.fk) END AS fks
                  FROM (SELECT z.*, 'in'::text AS fk
                          FROM tally_cost_pieces(p_book, p_from, p_to, p_tz, p_grain,
                                                 tally_cost_breaks_of(p_book, split, true)) z
                        UNION ALL
                        SELECT z.*, 'out'
                          FROM tally_cost_pieces(p_book, p_from, p_to, p_tz, p_grain,
                                                 tally_cost_breaks_of(p_book, split, false)) z
                        UNION ALL
                        SELECT z.*, 'empty'
                          FROM tally_cost_pieces(p_book, p_from, p_to, p_tz, p_grain) z
                         WHERE EXISTS (SELECT 1 FROM usage_rollup_month u
                                        WHERE u.month >= (mlo AT TIME ZONE 'UTC')::date
                                          AND u.month < (mhi AT TIME ZONE 'UTC')::date AND u.model = '')) y
                 GROUP BY y.kind, y.lo, y.hi, y.sign, y.period_start) x
         CROSS JOIN LATERAL unnest(x.fks) f(fk);
    END IF;
    IF pcs.kind IS NULL THEN
        RETURN;
    END IF;
    -- Each rollup row is priced at its own start (a month's first instant, a day's, a
    -- bucket's): a piece lies in one zone of its class, so that is the zone's price.
    IF cardinality(pcs.kind) <= 24 THEN
        -- One branch per rollup piece, its bounds as constants, so that the planner sees
        -- how many rows each reads (a join against the piece list is planned for the
        -- worst case, with hash tables and sorts sized for it). A month's report has
        -- one to five pieces.
        FOR pc IN SELECT * FROM unnest(pcs.kind, pcs.lo, pcs.hi, pcs.sign, pcs.period_start, pcs.fk, pcs.fn)
                                 AS x(kind, lo, hi, sign, period_start, fk, fn) LOOP
            raw := raw || CASE WHEN raw = '' THEN '' ELSE ' UNION ALL ' END
                || format('SELECT %s AS period_start, %s AS s, %s AS at, developer_oid, model,'
                          ' deployment, long_context, prompt_band, speed, residency, requests, input_tokens, output_tokens,'
                          ' cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,'
                          ' cache_write_unsplit_tokens FROM ',
                          tally_ts_sql(pc.period_start), pc.sign,
                          CASE pc.kind WHEN 'm' THEN '(r.month::timestamp AT TIME ZONE ''UTC'')'
                                       WHEN 'd' THEN '(r.day::timestamp AT TIME ZONE ''UTC'')'
                                       ELSE 'r.bucket' END)
                || CASE pc.kind
                   WHEN 'm' THEN format('usage_rollup_month r WHERE month >= %L::date AND month < %L::date',
                                        to_char(pc.lo AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                                        to_char(pc.hi AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
                   WHEN 'd' THEN format('usage_rollup_day r WHERE day >= %L::date AND day < %L::date',
                                        to_char(pc.lo AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                                        to_char(pc.hi AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
                   ELSE format('usage_rollup_15m r WHERE bucket >= %s AND bucket < %s',
                               tally_ts_sql(pc.lo), tally_ts_sql(pc.hi)) END
                || CASE pc.fk WHEN 'in' THEN format(' AND r.model = ANY(%L::text[])', pc.fn)
                              WHEN 'out' THEN format(' AND r.model <> '''' AND r.model <> ALL(%L::text[])', pc.fn)
                              WHEN 'empty' THEN ' AND r.model = '''''
                              WHEN 'known' THEN ' AND r.model <> ''''' ELSE '' END
                || dev; -- one developer: the second column of every rollup's key
        END LOOP;
    ELSE
        -- Many pieces (days or months of a long range): planning a branch each would
        -- cost more than it saves; join the rollups against the piece list instead.
        raw := 'SELECT pc.period_start, pc.sign AS s, (r.month::timestamp AT TIME ZONE ''UTC'') AS at,'
            || ' r.developer_oid, r.model, r.deployment,'
            || ' r.long_context, r.prompt_band, r.speed, r.residency, r.requests, r.input_tokens, r.output_tokens, r.cache_read_tokens,'
            || ' r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.cache_write_unsplit_tokens'
            || ' FROM pc JOIN usage_rollup_month r ON pc.kind = ''m'' AND r.month >= (pc.lo AT TIME ZONE ''UTC'')::date'
            || ' AND r.month < (pc.hi AT TIME ZONE ''UTC'')::date' || flt || dev
            || ' UNION ALL SELECT pc.period_start, pc.sign, (r.day::timestamp AT TIME ZONE ''UTC''),'
            || ' r.developer_oid, r.model, r.deployment,'
            || ' r.long_context, r.prompt_band, r.speed, r.residency, r.requests, r.input_tokens, r.output_tokens, r.cache_read_tokens,'
            || ' r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.cache_write_unsplit_tokens'
            || ' FROM pc JOIN usage_rollup_day r ON pc.kind = ''d'' AND r.day >= (pc.lo AT TIME ZONE ''UTC'')::date'
            || ' AND r.day < (pc.hi AT TIME ZONE ''UTC'')::date' || flt || dev
            || ' UNION ALL SELECT pc.period_start, pc.sign, r.bucket, r.developer_oid, r.model, r.deployment,'
            || ' r.long_context, r.prompt_band, r.speed, r.residency, r.requests, r.input_tokens, r.output_tokens, r.cache_read_tokens,'
            || ' r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.cache_write_unsplit_tokens'
            || ' FROM pc JOIN usage_rollup_15m r ON pc.kind = ''q'' AND r.bucket >= pc.lo AND r.bucket < pc.hi' || flt || dev;
    END IF;
    -- Rows are matched to their price range by a hash join, then, when a period is read
    -- from more than one piece and some piece spans days, summed per (period, key, price
    -- range) before they are priced: tokens × rate is linear and exact, so a month read as
    -- days is priced once per key. Otherwise (a whole month, a month minus its edges, a
    -- day grain) there is little to merge and the caller's aggregate is enough.
    SELECT count(*) > count(DISTINCT coalesce(x.ps, '-infinity'))
           AND bool_or(x.kind = 'd' AND x.hi - x.lo > interval '1 day')
      INTO agg FROM unnest(pcs.period_start, pcs.kind, pcs.lo, pcs.hi) x(ps, kind, lo, hi);
    RETURN QUERY EXECUTE 'WITH pc AS MATERIALIZED (SELECT * FROM unnest($3::text[], $4::timestamptz[],'
        || ' $5::timestamptz[], $6::integer[], $7::timestamptz[], $8::text[], $9::text[])'
        || ' AS x(kind, lo, hi, sign, period_start, fk, fn)), raw AS (' || raw || $q$), rates AS MATERIALIZED (
    -- every priceable (name, speed, band, residency) with its rates per million tokens and per token
    SELECT t.*, t.input * 0.000001 AS t_r_in, t.output * 0.000001 AS t_r_out,
           t.cache_write_5m * 0.000001 AS t_r_w5, t.cache_write_1h * 0.000001 AS t_r_w1,
           t.cache_read * 0.000001 AS t_r_rd
      FROM tally_rate_table($1) t
), res AS (
    -- the name a row is priced by (its model, else its deployment's at the row's start) and
    -- its residency class (its own, else its deployment's)
    SELECT a.period_start, a.developer_oid, m.name, a.deployment, a.long_context, a.prompt_band,
           a.speed, m.residency, x.effective_from AS x_from, $q$ || CASE WHEN agg THEN $q$
           sum(a.s * a.requests)::bigint AS requests, sum(a.s * a.input_tokens)::bigint AS t_in,
           sum(a.s * a.output_tokens)::bigint AS t_out, sum(a.s * a.cache_read_tokens)::bigint AS t_rd,
           sum(a.s * a.cache_write_5m_tokens)::bigint AS t_w5, sum(a.s * a.cache_write_1h_tokens)::bigint AS t_w1,
           sum(a.s * a.cache_write_unsplit_tokens)::bigint AS t_un$q$ ELSE $q$
           a.s * a.requests AS requests, a.s * a.input_tokens AS t_in, a.s * a.output_tokens AS t_out,
           a.s * a.cache_read_tokens AS t_rd, a.s * a.cache_write_5m_tokens AS t_w5,
           a.s * a.cache_write_1h_tokens AS t_w1, a.s * a.cache_write_unsplit_tokens AS t_un, $q$
           || xcols END || $q$
      FROM raw a
      LEFT JOIN deployments dep ON dep.name = a.deployment AND a.at >= dep.valid_from AND a.at < dep.valid_to
      CROSS JOIN LATERAL (SELECT coalesce(nullif(a.model, ''), dep.model, '') AS name,
                                 coalesce(nullif(a.residency, ''), dep.residency, '') AS residency) m
      LEFT JOIN rates x ON x.model_key = m.name AND x.speed = a.speed AND x.prompt_band = a.prompt_band
           AND x.residency = m.residency AND a.at >= x.effective_from AND a.at < x.effective_to
$q$ || CASE WHEN agg THEN $q$
     GROUP BY a.period_start, a.developer_oid, m.name, a.deployment, a.long_context, a.prompt_band,
              a.speed, m.residency, x.effective_from
$q$ ELSE '' END || $q$
), priced AS ($q$ || CASE WHEN agg THEN $q$
    -- summed rows get their rates again (a row without a rate has x_from NULL: unpriced)
    SELECT res.*, $q$ || xcols || $q$
      FROM res
      LEFT JOIN rates x ON x.model_key = res.name AND x.speed = res.speed AND x.prompt_band = res.prompt_band
           AND x.residency = res.residency AND x.effective_from = res.x_from$q$
    ELSE ' SELECT * FROM res' END || $q$
), costed AS (
    SELECT p.*, p.x_from IS NOT NULL AS ok, t_in * t_r_in AS c_in, t_out * t_r_out AS c_out,
           t_w5 * t_r_w5 AS c_w5, t_w1 * t_r_w1 AS c_w1, t_un * t_r_w5 AS c_un, t_rd * t_r_rd AS c_rd
      FROM priced p
)
SELECT c.period_start, c.developer_oid, coalesce(c.model, al.model, c.name), c.deployment,
       c.long_context, c.ok, c.requests, c.t_in, c.t_w5, c.t_w1, c.t_un, c.t_rd, c.t_out,
       c.c_in, c.c_out, c.c_w5, c.c_w1, c.c_un, c.c_rd,
       c.c_in + c.c_out + c.c_w5 + c.c_w1 + c.c_un + c.c_rd, -- = tally_cost_usd, exactly
       c.input, c.output, c.cache_write_5m, c.cache_write_1h, c.cache_read,
       c.base_input, c.base_output, c.base_cache_write_5m, c.base_cache_write_1h, c.base_cache_read,
       c.effective_from, c.prompt_band,
       CASE WHEN c.ok THEN CASE WHEN c.fast THEN 'fast' ELSE 'standard' END
            WHEN al.speed IS NOT NULL THEN al.speed ELSE c.speed END,
       c.residency, c.tier, c.multiplier
  FROM costed c
  LEFT JOIN price_aliases al ON al.book_id = $1 AND al.alias = c.name
$q$ USING p_book, p_developer, pcs.kind, pcs.lo, pcs.hi, pcs.sign, pcs.period_start, pcs.fk, pcs.fn;
END
$$;

-- Whether a group of signed rollup rows holds any usage: pieces subtracted from a whole
-- month leave groups that sum to 0 in every count, to be dropped; a group with tokens and
-- no requests (an iteration's model) is usage.
CREATE OR REPLACE FUNCTION tally_any_usage(requests numeric, VARIADIC counts numeric[])
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT requests <> 0 OR EXISTS (SELECT 1 FROM unnest(counts) c WHERE c <> 0)
$$;

-- Usage and cost per local period × developer × model × deployment × priced.
-- cache_write_5m_tokens (and its cost) include the unsplit writes, charged at the 5m rate;
-- cache_write_unsplit_tokens says how many of them were unsplit. cost_usd is NULL when
-- priced is false. tier_*, fast_* and residency_*: the requests (and their whole cost)
-- billed at a prompt tier above the base one, in fast mode, with a residency multiplier
-- other than 1. A group is kept when any count in it is not 0: an advisor iteration's
-- model has tokens but no requests (the request counts under the response's model).
DROP FUNCTION IF EXISTS tally_usage_priced(integer, timestamptz, timestamptz, text, text, text);
CREATE FUNCTION tally_usage_priced(p_book integer, p_from timestamptz, p_to timestamptz,
                                   p_tz text, p_grain text, p_developer text DEFAULT NULL)
RETURNS TABLE (period_start timestamptz, developer_oid text, model text, deployment text,
               requests bigint, long_context_requests bigint, input_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint,
               cache_write_unsplit_tokens bigint, cache_read_tokens bigint, output_tokens bigint,
               priced boolean, cost_usd numeric, cost_input_usd numeric, cost_output_usd numeric,
               cost_cache_write_5m_usd numeric, cost_cache_write_1h_usd numeric,
               cost_cache_read_usd numeric, tier_requests bigint, tier_cost_usd numeric,
               fast_requests bigint, fast_cost_usd numeric, residency_requests bigint,
               residency_cost_usd numeric)
LANGUAGE sql STABLE AS $$
SELECT period_start, developer_oid, model, deployment,
       sum(requests)::bigint, coalesce(sum(requests) FILTER (WHERE long_context), 0)::bigint,
       sum(input_tokens)::bigint, sum(cache_write_5m_tokens + cache_write_unsplit_tokens)::bigint,
       sum(cache_write_1h_tokens)::bigint, sum(cache_write_unsplit_tokens)::bigint,
       sum(cache_read_tokens)::bigint, sum(output_tokens)::bigint, priced,
       sum(cost_usd), sum(cost_input_usd), sum(cost_output_usd),
       sum(cost_cache_write_5m_usd + cost_cache_write_unsplit_usd), sum(cost_cache_write_1h_usd),
       sum(cost_cache_read_usd),
       coalesce(sum(requests) FILTER (WHERE tier > 0), 0)::bigint, sum(cost_usd) FILTER (WHERE tier > 0),
       coalesce(sum(requests) FILTER (WHERE speed = 'fast'), 0)::bigint,
       sum(cost_usd) FILTER (WHERE speed = 'fast'),
       coalesce(sum(requests) FILTER (WHERE multiplier <> 1), 0)::bigint,
       sum(cost_usd) FILTER (WHERE multiplier <> 1)
  FROM tally_usage_priced_detail(p_book, p_from, p_to, p_tz, p_grain, p_developer)
 GROUP BY period_start, developer_oid, model, deployment, priced
HAVING tally_any_usage(sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
                       sum(cache_write_5m_tokens), sum(cache_write_1h_tokens),
                       sum(cache_write_unsplit_tokens))
$$;

-- Exact decimal text: no exponent, trailing zeros trimmed, NULL stays NULL.
CREATE OR REPLACE FUNCTION tally_money_text(v numeric) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT trim_scale(v)::text
$$;

-- [start, end) of a YYYY-MM month in a zone; 22023 for a malformed month.
CREATE OR REPLACE FUNCTION tally_month_range(p_month text, p_tz text, OUT m_start timestamptz, OUT m_end timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_month IS NULL OR p_month !~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN
        RAISE EXCEPTION 'invalid month "%": expected YYYY-MM', p_month USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_tz IS NULL THEN
        RAISE EXCEPTION 'the time zone is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    m_start := (p_month || '-01')::timestamp AT TIME ZONE p_tz;
    m_end := ((p_month || '-01')::timestamp + interval '1 month') AT TIME ZONE p_tz;
END
$$;
