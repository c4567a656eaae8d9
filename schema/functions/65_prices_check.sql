-- What a price book cannot price (issue 10, "Nothing new goes unnoticed"): tallyctl prices
-- check, the tally_unpriced_combinations gauge of tally-report and the Grafana panel all read
-- tally_prices_check. Whether usage is priced is the engine's judgement, not a second set of
-- rules: a rollup row is priced iff it matches a row of tally_rate_table (35_rates.sql) on
-- the keys the engine joins on (tally_usage_priced_detail, 40_cost_engine.sql); the reason
-- given for a row that does not is read from the same table.

-- The usage of [p_from, p_to) (UTC days; NULL = unbounded) that book p_book cannot price,
-- one row per model × deployment × speed × residency class × reason:
-- - model: the name the usage carries, or, when the event named none, its deployment's model
--   at the time (deployment is then the deployment, else '');
-- - speed: as billed (a fast alias is fast), residency: the class priced ('' = neutral);
-- - requests, tokens (every class), first_seen, last_seen (UTC days);
-- - reason: 'unknown model' (the book has no such name), 'no price at that time' (the
--   model has no price range holding the usage's start), 'no fast rates' (the range has no
--   rates at that speed), 'residency class not in the book', 'tier has no published price'
--   (a tier the book gives with a null class: its requests are unpriced), 'prompt band straddles a tier'
--   (a legacy band 100/101 row against a tier strictly inside it).
-- Reads the daily rollup grouped by its dimensions (days × models × bands × speeds ×
-- residencies rows, whatever the number of developers), priced at each day's start: price
-- ranges start at UTC midnights. A deployment whose mapping changes during a day has that
-- day of its usage without a model read from the 15-minute rollup, each bucket at its own
-- start, as the engine reads it. SECURITY DEFINER: reporting.unpriced_combinations calls
-- it as tally_reader. It counts every team's usage, so a team login (tally_caller_scope,
-- 05_caller_scope.sql) gets nothing.
CREATE OR REPLACE FUNCTION tally_prices_check(p_book integer, p_from date DEFAULT NULL,
                                              p_to date DEFAULT NULL)
RETURNS TABLE (model text, deployment text, speed text, residency text, requests bigint,
               tokens bigint, first_seen date, last_seen date, reason text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET jit = off AS $$
WITH moved AS ( -- (deployment, UTC day) in which its mapping changes after midnight
    SELECT DISTINCT d.name, (x.t AT TIME ZONE 'UTC')::date AS day
      FROM deployments d
     CROSS JOIN LATERAL (VALUES (d.valid_from), (d.valid_to)) x(t)
     WHERE isfinite(x.t) AND x.t <> date_trunc('day', x.t, 'UTC')
), raw AS (
    SELECT r.day::timestamp AT TIME ZONE 'UTC' AS at, r.day, r.model, r.deployment,
           r.prompt_band, r.speed, r.residency, sum(r.requests) AS requests,
           sum(r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_write_5m_tokens
               + r.cache_write_1h_tokens + r.cache_write_unsplit_tokens) AS tokens
      FROM usage_rollup_day r
     WHERE (p_from IS NULL OR r.day >= p_from) AND (p_to IS NULL OR r.day < p_to)
       AND NOT (SELECT s.restricted FROM tally_caller_scope() s)
       AND NOT (r.model = '' AND EXISTS (SELECT 1 FROM moved m
                                          WHERE m.name = r.deployment AND m.day = r.day))
     GROUP BY r.day, r.model, r.deployment, r.prompt_band, r.speed, r.residency
    UNION ALL
    SELECT r.bucket, m.day, r.model, r.deployment, r.prompt_band, r.speed, r.residency,
           sum(r.requests),
           sum(r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_write_5m_tokens
               + r.cache_write_1h_tokens + r.cache_write_unsplit_tokens)
      FROM moved m
      JOIN usage_rollup_15m r ON r.deployment = m.name AND r.model = ''
           AND r.bucket >= m.day::timestamp AT TIME ZONE 'UTC'
           AND r.bucket < (m.day + 1)::timestamp AT TIME ZONE 'UTC'
     WHERE (p_from IS NULL OR m.day >= p_from) AND (p_to IS NULL OR m.day < p_to)
       AND NOT (SELECT s.restricted FROM tally_caller_scope() s)
     GROUP BY r.bucket, m.day, r.model, r.deployment, r.prompt_band, r.speed, r.residency
), rates AS MATERIALIZED (
    SELECT * FROM tally_rate_table(p_book)
), unpriced AS ( -- the engine's join (tally_usage_priced_detail, "res"), kept where it fails
    SELECT a.at, a.day, a.model AS usage_model, a.deployment, a.prompt_band, a.speed,
           n.name, n.residency, a.requests, a.tokens
      FROM raw a
      LEFT JOIN deployments dep ON dep.name = a.deployment AND a.at >= dep.valid_from
           AND a.at < dep.valid_to
     CROSS JOIN LATERAL (SELECT coalesce(nullif(a.model, ''), dep.model, '') AS name,
                                coalesce(nullif(a.residency, ''), dep.residency, '') AS residency) n
      LEFT JOIN rates x ON x.model_key = n.name AND x.speed = a.speed
           AND x.prompt_band = a.prompt_band AND x.residency = n.residency
           AND a.at >= x.effective_from AND a.at < x.effective_to
     WHERE x.model_key IS NULL
       AND tally_any_usage(a.requests, a.tokens)
)
SELECT u.name, CASE WHEN u.usage_model = '' THEN u.deployment ELSE '' END,
       coalesce(al.speed, u.speed), u.residency, sum(u.requests)::bigint, sum(u.tokens)::bigint,
       min(u.day), max(u.day), w.reason
  FROM unpriced u
  LEFT JOIN price_aliases al ON al.book_id = p_book AND al.alias = u.name
 CROSS JOIN LATERAL (
     SELECT CASE
            WHEN NOT EXISTS (SELECT 1 FROM tally_model_names(p_book) k WHERE k.name = u.name)
                THEN 'unknown model'
            WHEN NOT EXISTS (SELECT 1 FROM rates x
                              WHERE x.model = coalesce(al.model, u.name)
                                AND u.at >= x.effective_from AND u.at < x.effective_to)
                THEN 'no price at that time'
            WHEN NOT EXISTS (SELECT 1 FROM rates x
                              WHERE x.model_key = u.name AND x.speed = u.speed
                                AND u.at >= x.effective_from AND u.at < x.effective_to)
                THEN 'no ' || coalesce(al.speed, u.speed) || ' rates'
            WHEN NOT EXISTS (SELECT 1 FROM rates x
                              WHERE x.model_key = u.name AND x.speed = u.speed
                                AND x.residency = u.residency
                                AND u.at >= x.effective_from AND u.at < x.effective_to)
                THEN 'residency class not in the book'
            WHEN EXISTS (SELECT 1 FROM price_rates q
                          WHERE q.book_id = p_book AND q.model = coalesce(al.model, u.name)
                            AND u.at >= q.effective_from AND u.at < q.effective_to
                            AND q.over_tokens <= coalesce(tally_prompt_band_min(u.prompt_band), 0)
                            AND (q.input IS NULL OR q.output IS NULL OR q.cache_write_5m IS NULL
                                 OR q.cache_write_1h IS NULL OR q.cache_read IS NULL))
                THEN 'tier has no published price'
            ELSE 'prompt band straddles a tier' END AS reason) w
 GROUP BY u.name, CASE WHEN u.usage_model = '' THEN u.deployment ELSE '' END,
          coalesce(al.speed, u.speed), u.residency, w.reason
$$;

-- The model × speed × residency combinations of the current UTC month that the book in use
-- cannot price, with why: what the TallyUnpricedUsage alert counts
-- (tally_unpriced_combinations of tally-report) and the platform dashboard lists.
CREATE OR REPLACE VIEW reporting.unpriced_combinations AS
SELECT (SELECT name FROM reporting.price_book_in_use) AS price_book, c.model, c.deployment,
       c.speed, c.residency, c.requests, c.tokens, c.first_seen, c.last_seen, c.reason
  FROM tally_prices_check((SELECT id FROM reporting.price_book_in_use),
                          date_trunc('month', now() AT TIME ZONE 'UTC')::date,
                          (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')::date) c;

GRANT SELECT ON reporting.unpriced_combinations TO tally_reader;
