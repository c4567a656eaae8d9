-- The pricing rules, once (docs/architecture.md, "Cost engine"): which rates a row of usage
-- is charged at, which model a name usage carries is priced as, and what token counts cost.
-- The cost engine (40_cost_engine.sql) and the Grafana views (80_reporting.sql) both call
-- these; neither spells a rule out again.

-- The token classes, in the order reports list them (FOCUS rows, CSV columns): each class's
-- rollup column (class || '_tokens') and the rate it is charged at. Unsplit cache writes
-- (the 5m/1h split is unknown) are charged at the 5-minute rate.
CREATE OR REPLACE FUNCTION tally_token_classes()
RETURNS TABLE (ord integer, class text, rate text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES (1, 'input', 'input'), (2, 'output', 'output'),
           (3, 'cache_write_5m', 'cache_write_5m'), (4, 'cache_write_1h', 'cache_write_1h'),
           (5, 'cache_write_unsplit', 'cache_write_5m'), (6, 'cache_read', 'cache_read')
$$;

-- Every name usage may carry that book p_book prices, with the model it is priced as: an
-- alias is its model; a model id that is not an alias is itself. A name not listed is
-- priced as itself (and is unpriced when the book has no such model).
-- SECURITY DEFINER: the reporting views call it as tally_reader, which reads only views.
CREATE OR REPLACE FUNCTION tally_model_names(p_book integer)
RETURNS TABLE (name text, model text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.alias, a.model FROM price_aliases a WHERE a.book_id = p_book
    UNION ALL
    SELECT DISTINCT p.model, p.model FROM prices p
     WHERE p.book_id = p_book
       AND NOT EXISTS (SELECT 1 FROM price_aliases a WHERE a.book_id = p_book AND a.alias = p.model)
$$;

-- The cost in USD of token counts at rates per million tokens (NULL rates: NULL, i.e.
-- unpriced). Exact: products and a multiplication by 0.000001, no division.
CREATE OR REPLACE FUNCTION tally_cost_usd(input bigint, output bigint, cache_write_5m bigint,
                                          cache_write_1h bigint, cache_write_unsplit bigint,
                                          cache_read bigint, r_input numeric, r_output numeric,
                                          r_cache_write_5m numeric, r_cache_write_1h numeric,
                                          r_cache_read numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT (input * r_input + output * r_output + (cache_write_5m + cache_write_unsplit) * r_cache_write_5m
            + cache_write_1h * r_cache_write_1h + cache_read * r_cache_read) * 0.000001
$$;

-- The prompt bands a rollup row can carry: 0..8 (schema/functions/15_prompt_bands.sql) and
-- the legacy 100/101 of rows that only know the 200k flag.
CREATE OR REPLACE FUNCTION tally_prompt_bands() RETURNS smallint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(b::smallint ORDER BY b)
      FROM (SELECT generate_series(0, cardinality(tally_prompt_breakpoints())) UNION ALL VALUES (100), (101)) x(b)
$$;

-- Every way usage can be priced by book p_book (docs/architecture.md, "Cost engine"): one
-- row per name usage carries (model id or alias) × price range × the usage's speed × prompt
-- band × residency class, with the final rates per million tokens (the residency
-- multiplier applied). Usage is priced iff its (name, speed, band, residency class) has a
-- row whose range holds its start; no row = unpriced. The rules:
-- - a fast alias (price_aliases.speed 'fast') is priced fast whatever the usage's speed;
--   a speed the range has no rates for is unpriced;
-- - the tier is the highest over_tokens at or below the band's lower bound: every prompt in
--   the band is over it. A tier strictly inside the band (a legacy band 100/101 against a
--   threshold other than 200,000) leaves the band unpriced: its requests may be either side;
-- - a tier with a class the book gives no price (NULL rate, schema/prices/README.md) leaves
--   its bands unpriced, whichever classes a row uses: the whole tier, so that a row's
--   pricing does not depend on the grain it was rolled up at;
-- - residency classes '', 'global' and 'not_available' pay 1× unless the book lists them;
--   a class the book lists pays its multiplier; any other class is unpriced.
-- base_* are the range's standard base rates (no tier, no residency), what the chargeback
-- shows as unit prices. SECURITY DEFINER: the reporting views call it as tally_reader.
CREATE OR REPLACE FUNCTION tally_rate_table(p_book integer)
RETURNS TABLE (model_key text, model text, effective_from timestamptz, effective_to timestamptz,
               speed text, prompt_band smallint, residency text, tier bigint, fast boolean,
               multiplier numeric, input numeric, output numeric, cache_write_5m numeric,
               cache_write_1h numeric, cache_read numeric, base_input numeric,
               base_output numeric, base_cache_write_5m numeric, base_cache_write_1h numeric,
               base_cache_read numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
WITH names AS (
    SELECT a.alias AS name, a.model, a.speed AS forced FROM price_aliases a WHERE a.book_id = p_book
    UNION ALL
    SELECT DISTINCT r.model, r.model, NULL::text FROM price_rates r
     WHERE r.book_id = p_book
       AND NOT EXISTS (SELECT 1 FROM price_aliases a WHERE a.book_id = p_book AND a.alias = r.model)
), ranges AS (
    SELECT DISTINCT r.model, r.effective_from, r.effective_to FROM price_rates r WHERE r.book_id = p_book
), bands AS (
    SELECT b, coalesce(tally_prompt_band_min(b), 0) AS lo, tally_prompt_band_max(b) AS hi
      FROM unnest(tally_prompt_bands()) b
), res AS ( -- per range: the listed classes, and the neutral ones the book does not list
    SELECT g.model, g.effective_from, x.residency, x.multiplier
      FROM ranges g
     CROSS JOIN LATERAL (
         SELECT p.residency, p.multiplier FROM price_residency p
          WHERE p.book_id = p_book AND p.model = g.model AND p.effective_from = g.effective_from
         UNION ALL
         SELECT n.c, 1::numeric FROM unnest(ARRAY['', 'global', 'not_available']) n(c)
          WHERE NOT EXISTS (SELECT 1 FROM price_residency p
                             WHERE p.book_id = p_book AND p.model = g.model
                               AND p.effective_from = g.effective_from AND p.residency = n.c)) x
),
-- per name × range × the usage's speed × band: the speed billed, the tier (the highest
-- over_tokens at or below the band's lower bound) and whether a tier lies inside the band
t AS (
    SELECT n.name, g.model, g.effective_from, g.effective_to, s.speed, e.speed AS billed, bd.b,
           max(q.over_tokens) FILTER (WHERE q.over_tokens <= bd.lo) AS tier,
           bool_or(q.over_tokens > bd.lo AND (bd.hi IS NULL OR q.over_tokens < bd.hi)) AS straddles
      FROM names n
      JOIN ranges g ON g.model = n.model
     CROSS JOIN (VALUES ('standard'), ('fast')) s(speed)
     CROSS JOIN LATERAL (SELECT coalesce(n.forced, s.speed) AS speed) e
     CROSS JOIN bands bd
      JOIN price_rates q ON q.book_id = p_book AND q.model = g.model
           AND q.effective_from = g.effective_from AND q.speed = e.speed
     GROUP BY n.name, g.model, g.effective_from, g.effective_to, s.speed, e.speed, bd.b
)
SELECT t.name, t.model, t.effective_from, t.effective_to, t.speed, t.b, x.residency, t.tier,
       t.billed = 'fast', x.multiplier, r.input * x.multiplier, r.output * x.multiplier,
       r.cache_write_5m * x.multiplier, r.cache_write_1h * x.multiplier, r.cache_read * x.multiplier,
       sb.input, sb.output, sb.cache_write_5m, sb.cache_write_1h, sb.cache_read
  FROM t
  JOIN price_rates r ON r.book_id = p_book AND r.model = t.model AND r.effective_from = t.effective_from
       AND r.speed = t.billed AND r.over_tokens = t.tier
  JOIN price_rates sb ON sb.book_id = p_book AND sb.model = t.model
       AND sb.effective_from = t.effective_from AND sb.speed = 'standard' AND sb.over_tokens = 0
  JOIN res x ON x.model = t.model AND x.effective_from = t.effective_from
 WHERE NOT t.straddles -- a tier with a class the book gives no price (NULL): unpriced
   AND r.input IS NOT NULL AND r.output IS NOT NULL AND r.cache_write_5m IS NOT NULL
   AND r.cache_write_1h IS NOT NULL AND r.cache_read IS NOT NULL
$$;
