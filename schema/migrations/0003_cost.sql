-- 0003_cost: the cost engine (DESIGN §5). Exact numeric throughout: a cost is
-- tokens × rate × 0.000001 (multiplication is exact in numeric; division would round).
-- See schema/README.md, "Cost functions", for the contract of each function.

-- A monthly rollup (UTC calendar month), so that a month's report reads one row per
-- developer × model × deployment × long-context however many events the month had.
-- It is kept equal to the sum of usage_rollup_day by statement triggers on that table:
-- whoever writes the daily rollup (the ingest sink, a backfill, a test) keeps it right.
CREATE TABLE usage_rollup_month (
    month date NOT NULL, -- first day of the UTC month
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
    PRIMARY KEY (month, developer_oid, model, deployment, long_context)
);

-- Adds the daily rows a statement inserted (and subtracts those it replaced or deleted)
-- to the monthly rollup, aggregated per statement and upserted in key order, so that
-- concurrent ingest transactions lock month rows in one global order.
CREATE FUNCTION tally_rollup_month_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    src text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT *, 1 AS s FROM new_rows'
        WHEN 'UPDATE' THEN 'SELECT *, 1 AS s FROM new_rows UNION ALL SELECT *, -1 FROM old_rows'
        ELSE 'SELECT *, -1 AS s FROM old_rows' END;
BEGIN
    EXECUTE 'INSERT INTO usage_rollup_month AS m (month, developer_oid, model, deployment,'
         || ' long_context, requests, input_tokens, output_tokens, cache_read_tokens,'
         || ' cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens,'
         || ' cache_unknown_requests, web_search_requests, web_fetch_requests)'
         || ' SELECT date_trunc(''month'', d.day)::date, d.developer_oid, d.model, d.deployment,'
         || ' d.long_context, sum(s * d.requests), sum(s * d.input_tokens), sum(s * d.output_tokens),'
         || ' sum(s * d.cache_read_tokens), sum(s * d.cache_write_5m_tokens),'
         || ' sum(s * d.cache_write_1h_tokens), sum(s * d.cache_write_unsplit_tokens),'
         || ' sum(s * d.cache_unknown_requests), sum(s * d.web_search_requests),'
         || ' sum(s * d.web_fetch_requests)'
         || ' FROM (' || src || ') d GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5'
         || ' ON CONFLICT (month, developer_oid, model, deployment, long_context) DO UPDATE SET'
         || ' requests = m.requests + excluded.requests,'
         || ' input_tokens = m.input_tokens + excluded.input_tokens,'
         || ' output_tokens = m.output_tokens + excluded.output_tokens,'
         || ' cache_read_tokens = m.cache_read_tokens + excluded.cache_read_tokens,'
         || ' cache_write_5m_tokens = m.cache_write_5m_tokens + excluded.cache_write_5m_tokens,'
         || ' cache_write_1h_tokens = m.cache_write_1h_tokens + excluded.cache_write_1h_tokens,'
         || ' cache_write_unsplit_tokens = m.cache_write_unsplit_tokens + excluded.cache_write_unsplit_tokens,'
         || ' cache_unknown_requests = m.cache_unknown_requests + excluded.cache_unknown_requests,'
         || ' web_search_requests = m.web_search_requests + excluded.web_search_requests,'
         || ' web_fetch_requests = m.web_fetch_requests + excluded.web_fetch_requests';
    RETURN NULL;
END
$$;

-- Transition tables allow one event per trigger, hence three.
CREATE TRIGGER usage_rollup_day_month_ins AFTER INSERT ON usage_rollup_day
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_rollup_month_apply();
CREATE TRIGGER usage_rollup_day_month_upd AFTER UPDATE ON usage_rollup_day
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tally_rollup_month_apply();
CREATE TRIGGER usage_rollup_day_month_del AFTER DELETE ON usage_rollup_day
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_rollup_month_apply();

INSERT INTO usage_rollup_month
SELECT date_trunc('month', day)::date, developer_oid, model, deployment, long_context,
       sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
       sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_write_unsplit_tokens),
       sum(cache_unknown_requests), sum(web_search_requests), sum(web_fetch_requests)
  FROM usage_rollup_day
 GROUP BY 1, 2, 3, 4, 5;

-- The id of a price book by name; NULL name = the newest book (highest published, then
-- the last loaded), NULL when no book is loaded. An unknown name is an error (P0002).
CREATE FUNCTION tally_book(p_name text) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r integer;
BEGIN
    IF p_name IS NULL THEN
        SELECT id INTO r FROM price_books ORDER BY published DESC, id DESC LIMIT 1;
        RETURN r;
    END IF;
    SELECT id INTO r FROM price_books WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'price book "%" is not loaded', p_name USING ERRCODE = 'no_data_found';
    END IF;
    RETURN r;
END
$$;

-- The 15-minute grid every rollup bucket is on.
CREATE FUNCTION tally_on_grid(t timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT t = date_bin('15 minutes', t, timestamptz '2000-01-01 00:00+00')
$$;

-- Instants where a price or a deployment mapping changes, rounded up onto the 15-minute
-- grid (a rollup bucket is resolved at its start), sorted. Between two of them every
-- model's resolution and rates are constant: a "zone".
CREATE FUNCTION tally_cost_breaks(p_book integer) RETURNS timestamptz[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{}')
      FROM (SELECT effective_from FROM prices WHERE book_id = p_book
            UNION SELECT effective_to FROM prices WHERE book_id = p_book
            UNION SELECT valid_from FROM deployments
            UNION SELECT valid_to FROM deployments) x(t)
     CROSS JOIN LATERAL (SELECT date_bin('15 minutes', t + interval '15 minutes' - interval '1 microsecond',
                                         timestamptz '2000-01-01 00:00+00')) y(b)
     WHERE isfinite(t)
$$;

-- The price breaks (as tally_cost_breaks rounds them) of the models in p_models (p_in) or
-- of every other model (NOT p_in), without the deployments': the breaks that matter to
-- usage whose model is known and is one of those.
CREATE FUNCTION tally_cost_breaks_of(p_book integer, p_models text[], p_in boolean) RETURNS timestamptz[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{}')
      FROM prices p
     CROSS JOIN LATERAL (VALUES (p.effective_from), (p.effective_to)) x(t)
     CROSS JOIN LATERAL (SELECT date_bin('15 minutes', t + interval '15 minutes' - interval '1 microsecond',
                                         timestamptz '2000-01-01 00:00+00')) y(b)
     WHERE p.book_id = p_book AND isfinite(t) AND (p.model = ANY(p_models)) = p_in
$$;

-- True when a break lies strictly inside (lo, hi): a rollup row spanning [lo, hi) would
-- mix two zones and cannot be priced whole.
CREATE FUNCTION tally_cost_split(breaks timestamptz[], lo timestamptz, hi timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(breaks) b WHERE b > lo AND b < hi)
$$;

-- Covers [a, b) with UTC-day rollup pieces ('d') and 15-minute pieces ('q') of sign s.
-- A partial day longer than half a day is read as the whole day minus the rest, when
-- the day lies in one zone (only for s = 1, so subtraction never nests).
CREATE FUNCTION tally_cost_days(a timestamptz, b timestamptz, s integer, breaks timestamptz[])
RETURNS TABLE (kind text, lo timestamptz, hi timestamptz, sign integer)
LANGUAGE plpgsql STABLE ROWS 4 AS $$
DECLARE
    dl timestamptz := date_bin('1 day', a + interval '24 hours' - interval '1 microsecond', timestamptz '2000-01-01 00:00+00');
    dh timestamptz := date_bin('1 day', b, timestamptz '2000-01-01 00:00+00');
    parts timestamptz[];
    u timestamptz;
    v timestamptz;
    d timestamptz;
BEGIN
    IF a >= b THEN
        RETURN;
    END IF;
    IF dl < dh THEN
        kind := 'd'; lo := dl; hi := dh; sign := s;
        RETURN NEXT;
        parts := ARRAY[a, dl, dh, b];
    ELSIF dl = dh THEN
        parts := ARRAY[a, dl, dl, b];
    ELSE
        parts := ARRAY[a, b, b, b];
    END IF;
    FOR i IN 0..1 LOOP
        u := parts[2 * i + 1];
        v := parts[2 * i + 2];
        CONTINUE WHEN u >= v;
        d := date_bin('1 day', u, timestamptz '2000-01-01 00:00+00');
        IF s = 1 AND (v - u) > interval '12 hours'
           AND NOT tally_cost_split(breaks, d, d + interval '24 hours') THEN
            kind := 'd'; lo := d; hi := d + interval '24 hours'; sign := 1;
            RETURN NEXT;
            kind := 'q'; sign := -1;
            IF d < u THEN
                lo := d; hi := u;
                RETURN NEXT;
            END IF;
            IF v < d + interval '24 hours' THEN
                lo := v; hi := d + interval '24 hours';
                RETURN NEXT;
            END IF;
        ELSE
            kind := 'q'; lo := u; hi := v; sign := s;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;

-- Covers [a, b) (inside one zone) with rollup pieces: whole UTC months from the monthly
-- rollup, whole UTC days from the daily one, the rest from 15-minute buckets. A partial
-- month longer than half the month is read as the whole month minus the rest when the
-- month lies in one zone: a local month in any zone then costs one monthly read plus a
-- few hours of buckets, whatever the number of events.
CREATE FUNCTION tally_cost_cover(a timestamptz, b timestamptz, breaks timestamptz[])
RETURNS TABLE (kind text, lo timestamptz, hi timestamptz, sign integer)
LANGUAGE plpgsql STABLE ROWS 4 AS $$
DECLARE
    m timestamptz := date_trunc('month', a, 'UTC');
    mn timestamptz;
    x timestamptz;
    y timestamptz;
BEGIN
    WHILE m < b LOOP
        mn := date_trunc('month', m + interval '32 days', 'UTC');
        x := greatest(a, m);
        y := least(b, mn);
        IF x = m AND y = mn THEN
            RETURN QUERY SELECT 'm', m, mn, 1;
        ELSIF (y - x) * 2 > (mn - m) AND NOT tally_cost_split(breaks, m, mn) THEN
            RETURN QUERY SELECT 'm', m, mn, 1;
            RETURN QUERY SELECT * FROM tally_cost_days(m, x, -1, breaks);
            RETURN QUERY SELECT * FROM tally_cost_days(y, mn, -1, breaks);
        ELSE
            RETURN QUERY SELECT * FROM tally_cost_days(x, y, 1, breaks);
        END IF;
        m := mn;
    END LOOP;
END
$$;

-- The plan of a cost query: signed rollup pieces whose sum is exactly the usage in
-- [p_from, p_to), each tagged with its local period and with `at`, an instant of its
-- zone at which deployments and prices are looked up.
-- p_breaks (default: every break of the book, tally_cost_breaks) plans usage that only
-- those breaks can split (the usage of some models only: tally_usage_priced_detail).
CREATE FUNCTION tally_cost_pieces(p_book integer, p_from timestamptz, p_to timestamptz,
                                  p_tz text, p_grain text, p_breaks timestamptz[] DEFAULT NULL)
RETURNS TABLE (kind text, lo timestamptz, hi timestamptz, sign integer,
               period_start timestamptz, at timestamptz)
LANGUAGE plpgsql STABLE ROWS 8 AS $$
DECLARE
    breaks timestamptz[] := coalesce(p_breaks, tally_cost_breaks(p_book));
    cuts timestamptz[];
    step interval;
    per timestamptz;
BEGIN
    IF p_grain IS NULL OR p_grain NOT IN ('day', 'month', 'none') THEN
        RAISE EXCEPTION 'invalid grain "%": expected day, month or none', p_grain
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_tz IS NULL OR NOT isfinite(p_from) OR NOT isfinite(p_to) THEN
        RAISE EXCEPTION 'the range and the time zone are required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_from > p_to THEN
        RAISE EXCEPTION 'invalid range: % is after %', p_from, p_to USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT tally_on_grid(p_from) OR NOT tally_on_grid(p_to) THEN
        RAISE EXCEPTION 'invalid range: % to % is not on the 15-minute grid of the rollups', p_from, p_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM now() AT TIME ZONE p_tz; -- an unknown zone raises 22023 here
    IF p_from = p_to THEN
        RETURN;
    END IF;

    IF p_grain <> 'none' THEN
        step := ('1 ' || p_grain)::interval;
        SELECT array_agg(g AT TIME ZONE p_tz) INTO cuts
          FROM generate_series(date_trunc(p_grain, p_from AT TIME ZONE p_tz) + step,
                               p_to AT TIME ZONE p_tz, step) g;
    END IF;
    SELECT array_agg(DISTINCT t ORDER BY t) INTO cuts
      FROM (SELECT p_from UNION ALL SELECT p_to
            UNION ALL SELECT b FROM unnest(breaks) b WHERE b > p_from AND b < p_to
            UNION ALL SELECT x FROM unnest(cuts) x WHERE x > p_from AND x < p_to) c(t);
    IF EXISTS (SELECT 1 FROM unnest(cuts) t WHERE NOT tally_on_grid(t)) THEN
        RAISE EXCEPTION 'time zone "%" has a % boundary off the 15-minute grid in this range', p_tz, p_grain
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR i IN 1 .. cardinality(cuts) - 1 LOOP
        per := CASE WHEN p_grain = 'none' THEN NULL
                    ELSE date_trunc(p_grain, cuts[i] AT TIME ZONE p_tz) AT TIME ZONE p_tz END;
        RETURN QUERY
            SELECT c.kind, c.lo, c.hi, c.sign, per,
                   coalesce((SELECT max(b) FROM unnest(breaks) b WHERE b <= c.lo),
                            breaks[1] - interval '15 minutes', timestamptz '2000-01-01 00:00+00')
              FROM tally_cost_cover(cuts[i], cuts[i + 1], breaks) c;
    END LOOP;
END
$$;

-- A timestamptz as an SQL literal that reads back the same under any DateStyle/TimeZone.
CREATE FUNCTION tally_ts_sql(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN t IS NULL THEN 'NULL::timestamptz'
                ELSE quote_literal(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || '::timestamptz' END
$$;

-- The engine under every report: signed, priced rollup rows. Each row is the rollup rows
-- of one key read by the pieces of the plan (tally_cost_pieces) for one period and one
-- price range (one row per rollup row when no period is read from two pieces), with its
-- model resolved, its sign applied to every count and cost (a piece subtracted from a
-- whole month counts negative), its rates (rate_*: long-context ones on long-context
-- rows; base_*: the standard ones) and the price range used (effective_from; NULL when
-- unpriced). Keys repeat: callers GROUP BY what they report and drop groups whose
-- requests sum to 0.
-- p_developer (optional) reads only that developer's rollup rows (their key's second
-- column), for a developer's own costs and per-developer quotas.
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
               base_cache_write_1h numeric, base_cache_read numeric, effective_from timestamptz)
LANGUAGE plpgsql STABLE
-- JIT would compile for tens of milliseconds and save nothing on rollup-sized inputs.
SET jit = off SET work_mem = '64MB'
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
                          ' deployment, long_context, requests, input_tokens, output_tokens,'
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
            || ' r.long_context, r.requests, r.input_tokens, r.output_tokens, r.cache_read_tokens,'
            || ' r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.cache_write_unsplit_tokens'
            || ' FROM pc JOIN usage_rollup_month r ON pc.kind = ''m'' AND r.month >= (pc.lo AT TIME ZONE ''UTC'')::date'
            || ' AND r.month < (pc.hi AT TIME ZONE ''UTC'')::date' || flt || dev
            || ' UNION ALL SELECT pc.period_start, pc.sign, (r.day::timestamp AT TIME ZONE ''UTC''),'
            || ' r.developer_oid, r.model, r.deployment,'
            || ' r.long_context, r.requests, r.input_tokens, r.output_tokens, r.cache_read_tokens,'
            || ' r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.cache_write_unsplit_tokens'
            || ' FROM pc JOIN usage_rollup_day r ON pc.kind = ''d'' AND r.day >= (pc.lo AT TIME ZONE ''UTC'')::date'
            || ' AND r.day < (pc.hi AT TIME ZONE ''UTC'')::date' || flt || dev
            || ' UNION ALL SELECT pc.period_start, pc.sign, r.bucket, r.developer_oid, r.model, r.deployment,'
            || ' r.long_context, r.requests, r.input_tokens, r.output_tokens, r.cache_read_tokens,'
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
    -- per price range and long-context flag: the rates per million tokens and per token
    SELECT p.model, p.effective_from, p.effective_to, l.flag, p.input AS b_in, p.output AS b_out,
           p.cache_write_5m AS b_w5, p.cache_write_1h AS b_w1, p.cache_read AS b_rd, x.*,
           x.r_in * 0.000001 AS t_r_in, x.r_out * 0.000001 AS t_r_out, x.r_w5 * 0.000001 AS t_r_w5,
           x.r_w1 * 0.000001 AS t_r_w1, x.r_rd * 0.000001 AS t_r_rd
      FROM prices p
      CROSS JOIN (VALUES (false), (true)) l(flag)
      CROSS JOIN LATERAL (
          SELECT CASE WHEN lc THEN p.lc_input ELSE p.input END AS r_in,
                 CASE WHEN lc THEN p.lc_output ELSE p.output END AS r_out,
                 CASE WHEN lc THEN p.lc_cache_write_5m ELSE p.cache_write_5m END AS r_w5,
                 CASE WHEN lc THEN p.lc_cache_write_1h ELSE p.cache_write_1h END AS r_w1,
                 CASE WHEN lc THEN p.lc_cache_read ELSE p.cache_read END AS r_rd
            FROM (SELECT l.flag AND p.lc_threshold IS NOT NULL AS lc) f) x
     WHERE p.book_id = $1
), res AS (
    SELECT a.period_start, a.developer_oid, coalesce(al.model, m.resolved) AS canon, a.deployment,
           a.long_context, x.effective_from AS x_from, $q$ || CASE WHEN agg THEN $q$
           sum(a.s * a.requests)::bigint AS requests, sum(a.s * a.input_tokens)::bigint AS t_in,
           sum(a.s * a.output_tokens)::bigint AS t_out, sum(a.s * a.cache_read_tokens)::bigint AS t_rd,
           sum(a.s * a.cache_write_5m_tokens)::bigint AS t_w5, sum(a.s * a.cache_write_1h_tokens)::bigint AS t_w1,
           sum(a.s * a.cache_write_unsplit_tokens)::bigint AS t_un$q$ ELSE $q$
           a.s * a.requests AS requests, a.s * a.input_tokens AS t_in, a.s * a.output_tokens AS t_out,
           a.s * a.cache_read_tokens AS t_rd, a.s * a.cache_write_5m_tokens AS t_w5,
           a.s * a.cache_write_1h_tokens AS t_w1, a.s * a.cache_write_unsplit_tokens AS t_un$q$ END || $q$
      FROM raw a
      CROSS JOIN LATERAL (
          SELECT coalesce(nullif(a.model, ''),
                          (SELECT dep.model FROM deployments dep
                            WHERE dep.name = a.deployment AND a.at >= dep.valid_from AND a.at < dep.valid_to),
                          '') AS resolved) m
      LEFT JOIN price_aliases al ON al.book_id = $1 AND al.alias = m.resolved
      LEFT JOIN rates x ON x.model = coalesce(al.model, m.resolved) AND x.flag = a.long_context
           AND a.at >= x.effective_from AND a.at < x.effective_to
$q$ || CASE WHEN agg THEN $q$
     GROUP BY a.period_start, a.developer_oid, coalesce(al.model, m.resolved), a.deployment,
              a.long_context, x.effective_from
$q$ ELSE '' END || $q$
), costed AS (
    SELECT res.*, x.*, res.x_from IS NOT NULL AS ok, t_in * t_r_in AS c_in, t_out * t_r_out AS c_out,
           t_w5 * t_r_w5 AS c_w5, t_w1 * t_r_w1 AS c_w1, t_un * t_r_w5 AS c_un, t_rd * t_r_rd AS c_rd
      FROM res
      LEFT JOIN rates x ON x.model = res.canon AND x.flag = res.long_context AND x.effective_from = res.x_from
)
SELECT period_start, developer_oid, canon, deployment, long_context, ok, requests,
       t_in, t_w5, t_w1, t_un, t_rd, t_out, c_in, c_out, c_w5, c_w1, c_un, c_rd,
       c_in + c_out + c_w5 + c_w1 + c_un + c_rd, r_in, r_out, r_w5, r_w1, r_rd,
       b_in, b_out, b_w5, b_w1, b_rd, effective_from
  FROM costed
$q$ USING p_book, p_developer, pcs.kind, pcs.lo, pcs.hi, pcs.sign, pcs.period_start, pcs.fk, pcs.fn;
END
$$;

-- Usage and cost per local period × developer × model × deployment × priced.
-- cache_write_5m_tokens (and its cost) include the unsplit writes, charged at the 5m rate;
-- cache_write_unsplit_tokens says how many of them were unsplit. cost_usd is NULL when
-- priced is false.
CREATE FUNCTION tally_usage_priced(p_book integer, p_from timestamptz, p_to timestamptz,
                                   p_tz text, p_grain text, p_developer text DEFAULT NULL)
RETURNS TABLE (period_start timestamptz, developer_oid text, model text, deployment text,
               requests bigint, long_context_requests bigint, input_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint,
               cache_write_unsplit_tokens bigint, cache_read_tokens bigint, output_tokens bigint,
               priced boolean, cost_usd numeric, cost_input_usd numeric, cost_output_usd numeric,
               cost_cache_write_5m_usd numeric, cost_cache_write_1h_usd numeric,
               cost_cache_read_usd numeric)
LANGUAGE sql STABLE AS $$
SELECT period_start, developer_oid, model, deployment,
       sum(requests)::bigint, coalesce(sum(requests) FILTER (WHERE long_context), 0)::bigint,
       sum(input_tokens)::bigint, sum(cache_write_5m_tokens + cache_write_unsplit_tokens)::bigint,
       sum(cache_write_1h_tokens)::bigint, sum(cache_write_unsplit_tokens)::bigint,
       sum(cache_read_tokens)::bigint, sum(output_tokens)::bigint, priced,
       sum(cost_usd), sum(cost_input_usd), sum(cost_output_usd),
       sum(cost_cache_write_5m_usd + cost_cache_write_unsplit_usd), sum(cost_cache_write_1h_usd),
       sum(cost_cache_read_usd)
  FROM tally_usage_priced_detail(p_book, p_from, p_to, p_tz, p_grain, p_developer)
 GROUP BY period_start, developer_oid, model, deployment, priced
HAVING sum(requests) <> 0
$$;

-- Exact decimal text: no exponent, trailing zeros trimmed, NULL stays NULL.
CREATE FUNCTION tally_money_text(v numeric) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT trim_scale(v)::text
$$;

-- [start, end) of a YYYY-MM month in a zone; 22023 for a malformed month.
CREATE FUNCTION tally_month_range(p_month text, p_tz text, OUT m_start timestamptz, OUT m_end timestamptz)
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

-- The labels of one developer for a period: the row valid at its start, else the first row
-- starting inside it (someone who joined mid-month). For per-row lookups (tally-report).
CREATE FUNCTION tally_developer_at(p_oid text, p_start timestamptz, p_end timestamptz)
RETURNS TABLE (upn text, display_name text, team text, cost_center text)
LANGUAGE sql STABLE AS $$
    SELECT upn, display_name, team, cost_center FROM developers
     WHERE oid = p_oid AND valid_to > p_start AND valid_from < p_end
     ORDER BY valid_from <= p_start DESC, valid_from
     LIMIT 1
$$;

-- The labels of every developer for a period: the row valid at its start, else the first
-- row starting inside it (someone who joined mid-month); upn falls back to the one last
-- seen in events. One row per oid, for a hash join.
CREATE FUNCTION tally_developers_in(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (oid text, upn text, display_name text, team text, cost_center text)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(d.oid, l.oid), coalesce(d.upn, l.upn, ''), coalesce(d.display_name, ''),
           coalesce(d.team, ''), coalesce(d.cost_center, '')
      FROM (SELECT DISTINCT ON (oid) oid, upn, display_name, team, cost_center FROM developers
             WHERE valid_to > p_start AND valid_from < p_end
             ORDER BY oid, valid_from <= p_start DESC, valid_from) d
      FULL JOIN developer_labels l ON l.oid = d.oid
$$;

-- The monthly chargeback (DESIGN §11): one row per developer × model (× priced: usage a
-- book prices only partly in the month gets a priced row and an unpriced row).
CREATE FUNCTION tally_report_monthly(p_book integer, p_month text, p_tz text)
RETURNS TABLE (month text, tz text, developer_oid text, developer_upn text, team text,
               cost_center text, model text, requests bigint, input_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, cache_read_tokens bigint,
               output_tokens bigint, cost_usd text, priced boolean, price_book text,
               price_book_sha256 text, unit_price_input text, unit_price_output text,
               unit_price_cache_write_5m text, unit_price_cache_write_1h text,
               unit_price_cache_read text, long_context_requests bigint,
               cache_write_unsplit_tokens bigint, display_name text)
LANGUAGE sql STABLE AS $$
WITH r AS (SELECT * FROM tally_month_range(p_month, p_tz)),
g AS (
    SELECT u.developer_oid, u.model, u.priced,
           sum(u.requests)::bigint AS requests, sum(u.input_tokens)::bigint AS input_tokens,
           sum(u.cache_write_5m_tokens + u.cache_write_unsplit_tokens)::bigint AS cw5m,
           sum(u.cache_write_1h_tokens)::bigint AS cw1h, sum(u.cache_read_tokens)::bigint AS rd,
           sum(u.output_tokens)::bigint AS output_tokens, sum(u.cost_usd) AS cost,
           min(u.effective_from) AS pf_min, max(u.effective_from) AS pf_max,
           coalesce(sum(u.requests) FILTER (WHERE u.long_context), 0)::bigint AS lc_requests,
           sum(u.cache_write_unsplit_tokens)::bigint AS cwun
      FROM r, tally_usage_priced_detail(p_book, r.m_start, r.m_end, p_tz, 'none') u
     GROUP BY u.developer_oid, u.model, u.priced
    HAVING sum(u.requests) <> 0
)
SELECT p_month, p_tz, g.developer_oid, coalesce(d.upn, ''), coalesce(d.team, ''),
       coalesce(d.cost_center, ''), g.model, g.requests, g.input_tokens, g.cw5m, g.cw1h, g.rd,
       g.output_tokens, tally_money_text(g.cost), g.priced, b.name, b.sha256,
       p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read, g.lc_requests, g.cwun,
       coalesce(d.display_name, '')
  FROM g
  CROSS JOIN r
  LEFT JOIN tally_developers_in(r.m_start, r.m_end) d ON d.oid = g.developer_oid
  LEFT JOIN price_books b ON b.id = p_book
  -- unit prices: the standard rates when one price range applied to the whole row (as
  -- text once per range, not once per row)
  LEFT JOIN (SELECT model, effective_from, tally_money_text(input) AS input,
                    tally_money_text(output) AS output, tally_money_text(cache_write_5m) AS cache_write_5m,
                    tally_money_text(cache_write_1h) AS cache_write_1h,
                    tally_money_text(cache_read) AS cache_read
               FROM prices WHERE book_id = p_book) p
       ON p.model = g.model AND p.effective_from = g.pf_min AND g.pf_min = g.pf_max
 -- bytewise: the same order on every server whatever its locale, and a cheap sort
 ORDER BY coalesce(d.upn, '') COLLATE "C", g.developer_oid COLLATE "C", g.model COLLATE "C", g.priced DESC
$$;

-- FinOps FOCUS 1.2 rows: one per local day × developer × model × token class (× long
-- context, whose rates differ), priced usage only (unpriced usage has no cost to bill:
-- tally_unpriced lists it). Every value is text, as it goes into the CSV.
CREATE FUNCTION tally_report_focus(p_book integer, p_month text, p_tz text)
RETURNS TABLE ("BilledCost" text, "BillingAccountId" text, "BillingAccountName" text,
               "BillingCurrency" text, "BillingPeriodEnd" text, "BillingPeriodStart" text,
               "ChargeCategory" text, "ChargeClass" text, "ChargeDescription" text,
               "ChargeFrequency" text, "ChargePeriodEnd" text, "ChargePeriodStart" text,
               "ConsumedQuantity" text, "ConsumedUnit" text, "ContractedCost" text,
               "ContractedUnitPrice" text, "EffectiveCost" text, "InvoiceIssuerName" text,
               "ListCost" text, "ListUnitPrice" text, "PricingCategory" text,
               "PricingCurrency" text, "PricingQuantity" text, "PricingUnit" text,
               "ProviderName" text, "PublisherName" text, "RegionId" text, "RegionName" text,
               "ResourceId" text, "ResourceName" text, "ResourceType" text,
               "ServiceCategory" text, "ServiceName" text, "ServiceSubcategory" text,
               "SkuId" text, "SkuPriceId" text, "SubAccountId" text, "SubAccountName" text,
               "Tags" text, "x_DeveloperOid" text, "x_DeveloperUpn" text, "x_Team" text,
               "x_CostCenter" text, "x_TokenClass" text, "x_LongContext" text,
               "x_PriceBook" text, "x_PriceBookSha256" text)
LANGUAGE sql STABLE AS $$
WITH r AS (SELECT * FROM tally_month_range(p_month, p_tz)),
u AS (
    SELECT u.period_start, u.developer_oid, u.model, u.long_context,
           sum(u.input_tokens) AS t_in, sum(u.output_tokens) AS t_out,
           sum(u.cache_write_5m_tokens) AS t_w5, sum(u.cache_write_1h_tokens) AS t_w1,
           sum(u.cache_write_unsplit_tokens) AS t_un, sum(u.cache_read_tokens) AS t_rd,
           sum(u.cost_input_usd) AS c_in, sum(u.cost_output_usd) AS c_out,
           sum(u.cost_cache_write_5m_usd) AS c_w5, sum(u.cost_cache_write_1h_usd) AS c_w1,
           sum(u.cost_cache_write_unsplit_usd) AS c_un, sum(u.cost_cache_read_usd) AS c_rd,
           -- the rates applied, when one price range covered the whole row
           CASE WHEN min(u.effective_from) = max(u.effective_from) THEN min(u.rate_input) END AS r_in,
           CASE WHEN min(u.effective_from) = max(u.effective_from) THEN min(u.rate_output) END AS r_out,
           CASE WHEN min(u.effective_from) = max(u.effective_from) THEN min(u.rate_cache_write_5m) END AS r_w5,
           CASE WHEN min(u.effective_from) = max(u.effective_from) THEN min(u.rate_cache_write_1h) END AS r_w1,
           CASE WHEN min(u.effective_from) = max(u.effective_from) THEN min(u.rate_cache_read) END AS r_rd
      FROM r, tally_usage_priced_detail(p_book, r.m_start, r.m_end, p_tz, 'day') u
     WHERE u.priced
     GROUP BY u.period_start, u.developer_oid, u.model, u.long_context
    HAVING sum(u.requests) <> 0
), c AS (
    SELECT u.*, k.ord, k.class, k.qty, k.cost, k.rate
      FROM u
      CROSS JOIN LATERAL (VALUES (1, 'input', u.t_in, u.c_in, u.r_in),
                                 (2, 'output', u.t_out, u.c_out, u.r_out),
                                 (3, 'cache_write_5m', u.t_w5, u.c_w5, u.r_w5),
                                 (4, 'cache_write_1h', u.t_w1, u.c_w1, u.r_w1),
                                 (5, 'cache_write_unsplit', u.t_un, u.c_un, u.r_w5),
                                 (6, 'cache_read', u.t_rd, u.c_rd, u.r_rd)) k(ord, class, qty, cost, rate)
     WHERE k.qty <> 0
)
SELECT tally_money_text(c.cost), 'tokentally', 'tokentally', 'USD',
       to_char(r.m_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(r.m_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       'Usage', NULL,
       c.model || ' ' || replace(c.class, '_', ' ') || ' tokens'
           || CASE WHEN c.long_context THEN ' (long context)' ELSE '' END,
       'Usage-Based',
       to_char(((c.period_start AT TIME ZONE p_tz) + interval '1 day') AT TIME ZONE p_tz AT TIME ZONE 'UTC',
               'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(c.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       c.qty::text, 'Tokens', tally_money_text(c.cost), tally_money_text(c.rate),
       tally_money_text(c.cost), 'Microsoft', tally_money_text(c.cost), tally_money_text(c.rate),
       'Standard', 'USD', tally_money_text(c.qty * 0.000001), '1M Tokens',
       'Microsoft', 'Anthropic', NULL, NULL,
       c.model, c.model, 'Model', 'AI and Machine Learning', 'Microsoft Foundry', 'Generative AI',
       c.model || '/' || c.class || CASE WHEN c.long_context THEN '/long-context' ELSE '' END,
       b.name || ':' || c.model || '/' || c.class || CASE WHEN c.long_context THEN '/long-context' ELSE '' END,
       nullif(d.team, ''), nullif(d.team, ''),
       jsonb_build_object('team', coalesce(d.team, ''), 'cost_center', coalesce(d.cost_center, ''),
                          'developer_upn', coalesce(d.upn, ''))::text,
       c.developer_oid, coalesce(d.upn, ''), coalesce(d.team, ''), coalesce(d.cost_center, ''),
       c.class, CASE WHEN c.long_context THEN 'true' ELSE 'false' END, b.name, b.sha256
  FROM c
  CROSS JOIN r
  LEFT JOIN tally_developers_in(r.m_start, r.m_end) d ON d.oid = c.developer_oid
  LEFT JOIN price_books b ON b.id = p_book
 ORDER BY c.period_start, coalesce(d.upn, '') COLLATE "C", c.developer_oid COLLATE "C",
          c.model COLLATE "C", c.long_context, c.ord
$$;

-- Usage the newest book cannot price (unknown model, or no price at its time), with its
-- tokens: what /v1/usage/unpriced lists and /metrics counts.
CREATE FUNCTION tally_unpriced(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (model text, deployment text, developer_oid text, requests bigint,
               input_tokens bigint, cache_write_5m_tokens bigint, cache_write_1h_tokens bigint,
               cache_write_unsplit_tokens bigint, cache_read_tokens bigint, output_tokens bigint)
LANGUAGE sql STABLE AS $$
SELECT model, deployment, developer_oid, requests, input_tokens, cache_write_5m_tokens,
       cache_write_1h_tokens, cache_write_unsplit_tokens, cache_read_tokens, output_tokens
  FROM tally_usage_priced(tally_book(NULL), p_from, p_to, 'UTC', 'none')
 WHERE NOT priced
 ORDER BY model, deployment, developer_oid
$$;

CREATE VIEW reporting.usage_month AS
SELECT (month::timestamp AT TIME ZONE 'UTC') AS month, developer_oid, model, deployment,
       long_context, requests, input_tokens, output_tokens, cache_read_tokens,
       cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens,
       cache_unknown_requests, web_search_requests, web_fetch_requests
  FROM usage_rollup_month;
GRANT SELECT ON reporting.usage_month TO tally_reader;

-- tallyctl deployments set: maps a deployment to a model from p_from on (default: the
-- first mapping applies to all time, a later one from the current 15-minute bucket),
-- closing the previous mapping there. Returns a line for the operator.
CREATE FUNCTION tally_deployment_set(p_name text, p_model text, p_from timestamptz)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    cur deployments;
    t timestamptz;
BEGIN
    SELECT * INTO cur FROM deployments WHERE name = p_name ORDER BY valid_from DESC LIMIT 1;
    IF NOT FOUND THEN
        INSERT INTO deployments (name, model, valid_from) VALUES (p_name, p_model, coalesce(p_from, '-infinity'));
        RETURN format('deployment "%s" -> "%s" from %s', p_name, p_model, coalesce(p_from, '-infinity'));
    END IF;
    IF cur.model = p_model AND cur.valid_to = 'infinity' AND (p_from IS NULL OR p_from >= cur.valid_from) THEN
        RETURN format('deployment "%s" -> "%s" unchanged (since %s)', p_name, p_model, cur.valid_from);
    END IF;
    t := coalesce(p_from, date_bin('15 minutes', now(), timestamptz '2000-01-01 00:00+00'));
    IF t <= cur.valid_from THEN
        RAISE EXCEPTION 'deployment "%" already has a mapping from %: the new one must start later', p_name, cur.valid_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE deployments SET valid_to = t WHERE name = p_name AND valid_from = cur.valid_from AND valid_to > t;
    INSERT INTO deployments (name, model, valid_from) VALUES (p_name, p_model, t);
    RETURN format('deployment "%s" -> "%s" from %s (was "%s")', p_name, p_model, t, cur.model);
END
$$;

-- tallyctl developers import, one row: 'inserted' (a new developer), 'changed' (the
-- current row closed at p_from, default now, and a new one opened) or 'unchanged' (the
-- row in effect at p_from already says this: re-importing a file is a no-op).
CREATE FUNCTION tally_developer_set(p_oid text, p_upn text, p_display_name text, p_team text,
                                    p_cost_center text, p_from timestamptz)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    latest developers;
    cur developers;
    t timestamptz := coalesce(p_from, now());
BEGIN
    SELECT * INTO latest FROM developers WHERE oid = p_oid ORDER BY valid_from DESC LIMIT 1;
    IF NOT FOUND THEN
        INSERT INTO developers (oid, upn, display_name, team, cost_center, valid_from)
        VALUES (p_oid, p_upn, coalesce(p_display_name, ''), coalesce(p_team, ''),
                coalesce(p_cost_center, ''), coalesce(p_from, '-infinity'));
        RETURN 'inserted';
    END IF;
    SELECT * INTO cur FROM developers WHERE oid = p_oid AND valid_from <= t AND valid_to > t;
    IF FOUND AND (cur.upn, cur.display_name, cur.team, cur.cost_center)
                 = (p_upn, coalesce(p_display_name, ''), coalesce(p_team, ''), coalesce(p_cost_center, '')) THEN
        RETURN 'unchanged';
    END IF;
    IF t <= latest.valid_from THEN
        RAISE EXCEPTION 'developer "%": valid_from % is not after the current row (from %): history is not rewritten',
            p_oid, t, latest.valid_from USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE developers SET valid_to = t WHERE oid = p_oid AND valid_from = latest.valid_from AND valid_to > t;
    INSERT INTO developers (oid, upn, display_name, team, cost_center, valid_from)
    VALUES (p_oid, p_upn, coalesce(p_display_name, ''), coalesce(p_team, ''), coalesce(p_cost_center, ''), t);
    RETURN 'changed';
END
$$;
