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

-- The rates (USD per million tokens) of one price range for usage that is long-context or
-- not: a long-context request is charged the range's long-context rates for every class
-- when the range has them (lc_threshold set; a class without one keeps its normal rate).
-- Pure: it reads no table, so a view can call it for a reader that cannot read prices.
CREATE OR REPLACE FUNCTION tally_rates(p prices, p_long_context boolean, OUT input numeric,
                                       OUT output numeric, OUT cache_write_5m numeric,
                                       OUT cache_write_1h numeric, OUT cache_read numeric)
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN lc THEN coalesce(p.lc_input, p.input) ELSE p.input END,
           CASE WHEN lc THEN coalesce(p.lc_output, p.output) ELSE p.output END,
           CASE WHEN lc THEN coalesce(p.lc_cache_write_5m, p.cache_write_5m) ELSE p.cache_write_5m END,
           CASE WHEN lc THEN coalesce(p.lc_cache_write_1h, p.cache_write_1h) ELSE p.cache_write_1h END,
           CASE WHEN lc THEN coalesce(p.lc_cache_read, p.cache_read) ELSE p.cache_read END
      FROM (SELECT p_long_context AND p.lc_threshold IS NOT NULL AS lc) f
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
