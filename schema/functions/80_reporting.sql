-- The reporting schema: the views Grafana (dashboards/grafana/) and people with psql read,
-- as tally_reader (which reads nothing else). CREATE OR REPLACE VIEW keeps the grants; a
-- new view gets SELECT from the default privileges of 0001 and from the GRANT at the end.
--
-- The rollups are keyed by prompt band, speed and residency (0009); the views keep their
-- grain (× long context) and sum those dimensions away.
--
-- Conventions of every view here:
--  * a team or model that is unknown is spelled '(no team)' / '(unknown)', never '', so it can
--    be a value of a Grafana variable (an empty option cannot be selected);
--  * costs are exact numeric USD, priced with the price book in use (reporting.price_book_in_use:
--    the newest book, as reports use when not pinned); unpriced usage has cost_usd NULL and
--    priced false, never 0;
--  * time columns are timestamptz instants so Grafana's $__timeFilter() works on them;
--  * the views over a team's data read as their caller (security_invoker, set in
--    85_row_security.sql), so a team's Grafana login sees its rows only.

CREATE OR REPLACE VIEW reporting.developers AS
SELECT d.oid AS developer_oid, d.upn AS developer_upn, d.display_name, d.team, d.cost_center,
       d.valid_from, d.valid_to
  FROM developers d;

-- Usage at 15-minute grain with the developer's labels at that time and the model
-- resolved through the deployment mapping when the event carried none.
CREATE OR REPLACE VIEW reporting.usage_15m AS
SELECT r.bucket,
       r.developer_oid,
       coalesce(d.upn, l.upn, r.developer_oid) AS developer_upn,
       coalesce(d.team, '') AS team,
       coalesce(d.cost_center, '') AS cost_center,
       coalesce(nullif(r.model, ''), dep.model, '') AS model,
       r.deployment,
       r.long_context,
       r.requests, r.input_tokens, r.output_tokens, r.cache_read_tokens,
       r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.cache_write_unsplit_tokens,
       r.cache_unknown_requests, r.web_search_requests, r.web_fetch_requests
  FROM (SELECT bucket, developer_oid, model, deployment, long_context,
               sum(requests)::bigint AS requests, sum(input_tokens)::bigint AS input_tokens,
               sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens,
               sum(cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,
               sum(cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
               sum(cache_write_unsplit_tokens)::bigint AS cache_write_unsplit_tokens,
               sum(cache_unknown_requests)::bigint AS cache_unknown_requests,
               sum(web_search_requests)::bigint AS web_search_requests,
               sum(web_fetch_requests)::bigint AS web_fetch_requests
          FROM usage_rollup_15m GROUP BY bucket, developer_oid, model, deployment, long_context) r
  LEFT JOIN developers d ON d.oid = r.developer_oid AND r.bucket >= d.valid_from AND r.bucket < d.valid_to
  LEFT JOIN developer_labels l ON l.oid = r.developer_oid
  LEFT JOIN deployments dep ON dep.name = r.deployment AND r.bucket >= dep.valid_from AND r.bucket < dep.valid_to;

CREATE OR REPLACE VIEW reporting.ingest_rejects AS
SELECT id, received_at, source, reason, length(raw) AS raw_bytes FROM ingest_rejects;

CREATE OR REPLACE VIEW reporting.ingest_offsets AS
SELECT consumer_group, topic, partition, next_offset, updated_at FROM ingest_offsets;

CREATE OR REPLACE VIEW reporting.price_books AS
SELECT id, name, sha256, published, loaded_at FROM price_books;

CREATE OR REPLACE VIEW reporting.ingest_monitor_pending AS
SELECT 'llm' AS half, correlation_id, event_time, received_at FROM ingest_monitor_llm
UNION ALL
SELECT 'gateway', correlation_id, event_time, received_at FROM ingest_monitor_gateway;

CREATE OR REPLACE VIEW reporting.usage_month AS
SELECT (month::timestamp AT TIME ZONE 'UTC') AS month, developer_oid, model, deployment,
       long_context, requests, input_tokens, output_tokens, cache_read_tokens,
       cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens,
       cache_unknown_requests, web_search_requests, web_fetch_requests
  FROM (SELECT month, developer_oid, model, deployment, long_context,
               sum(requests)::bigint AS requests, sum(input_tokens)::bigint AS input_tokens,
               sum(output_tokens)::bigint AS output_tokens, sum(cache_read_tokens)::bigint AS cache_read_tokens,
               sum(cache_write_5m_tokens)::bigint AS cache_write_5m_tokens,
               sum(cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
               sum(cache_write_unsplit_tokens)::bigint AS cache_write_unsplit_tokens,
               sum(cache_unknown_requests)::bigint AS cache_unknown_requests,
               sum(web_search_requests)::bigint AS web_search_requests,
               sum(web_fetch_requests)::bigint AS web_fetch_requests
          FROM usage_rollup_month GROUP BY month, developer_oid, model, deployment, long_context) r;

-- Quota use now, for Grafana (reads as tally_reader) and people with psql.
CREATE OR REPLACE VIEW reporting.quota_status AS
SELECT q.id AS quota_id, q.name AS quota, q.scope, q.subject, q.metric, q.period, q.tz,
       u.period_start, u.period_end, u.used, u.limit_value, u.ratio, u.forecast,
       u.unpriced_tokens
  FROM tally_quota_usage_all(now()) u JOIN quotas q ON q.id = u.quota_id;

CREATE OR REPLACE VIEW reporting.alert_log AS
SELECT a.id, a.quota_id, q.name AS quota, a.period_start, a.period_end, a.threshold, a.used,
       a.limit_value, a.ratio, a.forecast, a.fired_at,
       (SELECT count(*) FROM alert_outbox o WHERE o.alert_id = a.id AND o.state = 'delivered') AS delivered,
       (SELECT count(*) FROM alert_outbox o WHERE o.alert_id = a.id AND o.state = 'pending') AS pending,
       (SELECT count(*) FROM alert_outbox o WHERE o.alert_id = a.id AND o.state = 'failed') AS failed
  FROM alert_log a JOIN quotas q ON q.id = a.quota_id;

-- The book reports use when none is pinned: tally_book(NULL) (30_cost_plan.sql), the newest
-- published, then the last loaded. (Not a call to it: a function runs with the caller's
-- rights, and tally_reader cannot read price_books; a view reads as its owner.)
CREATE OR REPLACE VIEW reporting.price_book_in_use AS
SELECT id, name, sha256, published, loaded_at
  FROM price_books
 ORDER BY published DESC, id DESC
 LIMIT 1;

-- The prices of the book in use, model aliases resolved to their model.
CREATE OR REPLACE VIEW reporting.prices_in_use AS
SELECT b.name AS price_book, p.model, p.effective_from, p.effective_to,
       p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read,
       p.lc_threshold, p.lc_input, p.lc_output, p.lc_cache_write_5m, p.lc_cache_write_1h,
       p.lc_cache_read
  FROM reporting.price_book_in_use b
  JOIN prices p ON p.book_id = b.id;

-- Every rate of the book in use as the cost engine charges it (tally_rate_table): per name
-- a model is known by (id, aliases, fast aliases) × price range × the usage's speed × prompt
-- band × residency class, the residency multiplier applied. Usage is priced iff it matches
-- a row; the cost views below are plain joins on it.
CREATE OR REPLACE VIEW reporting.rate_table AS
SELECT t.*
  FROM reporting.price_book_in_use b
 CROSS JOIN LATERAL tally_rate_table(b.id) t;

-- The rates of rate_table at standard speed and no residency per long-context flag (the
-- legacy bands: up to / over 200,000 tokens), as the views read them before prompt bands.
CREATE OR REPLACE VIEW reporting.rates_in_use AS
SELECT model_key, model, effective_from, effective_to, prompt_band = 101 AS long_context,
       input, output, cache_write_5m, cache_write_1h, cache_read
  FROM reporting.rate_table
 WHERE speed = 'standard' AND residency = '' AND prompt_band IN (100, 101);

-- The cost of token counts at one row of rates_in_use (NULL rates: NULL, i.e. unpriced),
-- unsplit cache writes passed in cache_write_5m: the engine's tally_cost_usd.
CREATE OR REPLACE FUNCTION reporting.cost_usd(r reporting.rates_in_use, input bigint, output bigint,
                                              cache_write_5m bigint, cache_write_1h bigint,
                                              cache_read bigint)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT tally_cost_usd(input, output, cache_write_5m, cache_write_1h, 0, cache_read, r.input,
                          r.output, r.cache_write_5m, r.cache_write_1h, r.cache_read)
$$;

-- Usage and cost at 15-minute grain (UTC buckets: any zone's day or month is a union of
-- them) × developer × model × deployment × long context × priced. Each rollup row is priced
-- by its prompt band, speed and residency class (its own, else its deployment's), then
-- summed to this grain. cache_read_saved_usd is what the cache reads would have cost as
-- plain input, less what they cost.
CREATE OR REPLACE VIEW reporting.costs_15m AS
SELECT r.bucket,
       r.developer_oid,
       coalesce(d.upn, l.upn, r.developer_oid) AS developer_upn,
       coalesce(nullif(d.team, ''), '(no team)') AS team,
       coalesce(nullif(d.cost_center, ''), '(none)') AS cost_center,
       coalesce(max(p.model), a.model, nullif(m.model, ''), '(unknown)') AS model,
       r.deployment,
       r.long_context,
       sum(r.requests)::bigint AS requests,
       sum(r.input_tokens)::bigint AS input_tokens,
       sum(r.output_tokens)::bigint AS output_tokens,
       sum(r.cache_read_tokens)::bigint AS cache_read_tokens,
       sum(r.cache_write_5m_tokens + r.cache_write_unsplit_tokens)::bigint AS cache_write_5m_tokens,
       sum(r.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
       sum(r.cache_unknown_requests)::bigint AS cache_unknown_requests,
       p.input IS NOT NULL AS priced,
       sum(tally_cost_usd(r.input_tokens, r.output_tokens, r.cache_write_5m_tokens,
                          r.cache_write_1h_tokens, r.cache_write_unsplit_tokens, r.cache_read_tokens,
                          p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read)) AS cost_usd,
       sum(r.cache_read_tokens * (p.input - p.cache_read) * 0.000001) AS cache_read_saved_usd
  FROM usage_rollup_15m r
  LEFT JOIN developers d ON d.oid = r.developer_oid AND r.bucket >= d.valid_from AND r.bucket < d.valid_to
  LEFT JOIN developer_labels l ON l.oid = r.developer_oid
  LEFT JOIN deployments dep ON dep.name = r.deployment AND r.bucket >= dep.valid_from AND r.bucket < dep.valid_to
  CROSS JOIN LATERAL (SELECT coalesce(nullif(r.model, ''), dep.model, '') AS model,
                             coalesce(nullif(r.residency, ''), dep.residency, '') AS residency) m
  LEFT JOIN price_aliases a ON a.book_id = (SELECT id FROM reporting.price_book_in_use) AND a.alias = m.model
  LEFT JOIN reporting.rate_table p ON p.model_key = m.model AND p.speed = r.speed
       AND p.prompt_band = r.prompt_band AND p.residency = m.residency
       AND r.bucket >= p.effective_from AND r.bucket < p.effective_to
 GROUP BY r.bucket, r.developer_oid, d.upn, l.upn, d.team, d.cost_center, r.model, m.model, a.model,
          r.deployment, r.long_context, p.input IS NOT NULL;

-- The same at UTC-day grain, from the daily rollup: what the month-long finance panels read.
CREATE OR REPLACE VIEW reporting.costs_day AS
SELECT t.at AS day,
       r.developer_oid,
       coalesce(d.upn, l.upn, r.developer_oid) AS developer_upn,
       coalesce(nullif(d.team, ''), '(no team)') AS team,
       coalesce(nullif(d.cost_center, ''), '(none)') AS cost_center,
       coalesce(max(p.model), a.model, nullif(m.model, ''), '(unknown)') AS model,
       r.deployment,
       r.long_context,
       sum(r.requests)::bigint AS requests,
       sum(r.input_tokens)::bigint AS input_tokens,
       sum(r.output_tokens)::bigint AS output_tokens,
       sum(r.cache_read_tokens)::bigint AS cache_read_tokens,
       sum(r.cache_write_5m_tokens + r.cache_write_unsplit_tokens)::bigint AS cache_write_5m_tokens,
       sum(r.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
       sum(r.cache_unknown_requests)::bigint AS cache_unknown_requests,
       p.input IS NOT NULL AS priced,
       sum(tally_cost_usd(r.input_tokens, r.output_tokens, r.cache_write_5m_tokens,
                          r.cache_write_1h_tokens, r.cache_write_unsplit_tokens, r.cache_read_tokens,
                          p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read)) AS cost_usd,
       sum(r.cache_read_tokens * (p.input - p.cache_read) * 0.000001) AS cache_read_saved_usd
  FROM usage_rollup_day r
  CROSS JOIN LATERAL (SELECT r.day::timestamp AT TIME ZONE 'UTC' AS at) t
  LEFT JOIN developers d ON d.oid = r.developer_oid AND t.at >= d.valid_from AND t.at < d.valid_to
  LEFT JOIN developer_labels l ON l.oid = r.developer_oid
  LEFT JOIN deployments dep ON dep.name = r.deployment AND t.at >= dep.valid_from AND t.at < dep.valid_to
  CROSS JOIN LATERAL (SELECT coalesce(nullif(r.model, ''), dep.model, '') AS model,
                             coalesce(nullif(r.residency, ''), dep.residency, '') AS residency) m
  LEFT JOIN price_aliases a ON a.book_id = (SELECT id FROM reporting.price_book_in_use) AND a.alias = m.model
  LEFT JOIN reporting.rate_table p ON p.model_key = m.model AND p.speed = r.speed
       AND p.prompt_band = r.prompt_band AND p.residency = m.residency
       AND t.at >= p.effective_from AND t.at < p.effective_to
 GROUP BY t.at, r.developer_oid, d.upn, l.upn, d.team, d.cost_center, r.model, m.model, a.model,
          r.deployment, r.long_context, p.input IS NOT NULL;

-- One row per request with its cost, for the most expensive sessions: each part of the
-- request (tally_usage_parts: the top-level usage, or each iteration under its own model
-- and prompt band) priced at its rates; unpriced when any part is. The token columns are
-- the parts' sums, what was billed. Filter on event_time: it prunes the monthly partitions.
CREATE OR REPLACE VIEW reporting.request_costs AS
SELECT e.event_time,
       e.request_id,
       coalesce(nullif(e.session_id, ''), '(none)') AS session_id,
       e.developer_oid,
       coalesce(d.upn, e.developer_upn, l.upn, e.developer_oid) AS developer_upn,
       coalesce(nullif(d.team, ''), '(no team)') AS team,
       coalesce(nullif(d.cost_center, ''), '(none)') AS cost_center,
       coalesce(CASE WHEN bool_and(p.input IS NOT NULL) THEN max(p.model) FILTER (WHERE pt.model = m.model) END,
                a.model, nullif(m.model, ''), '(unknown)') AS model,
       e.deployment,
       e.long_context,
       sum(pt.input_tokens)::bigint AS input_tokens,
       sum(pt.output_tokens)::bigint AS output_tokens,
       sum(pt.cache_read_tokens)::bigint AS cache_read_tokens,
       sum(pt.cache_write_5m_tokens + pt.cache_write_unsplit_tokens)::bigint AS cache_write_5m_tokens,
       sum(pt.cache_write_1h_tokens)::bigint AS cache_write_1h_tokens,
       bool_and(p.input IS NOT NULL) AS priced,
       CASE WHEN bool_and(p.input IS NOT NULL) THEN
           sum(tally_cost_usd(pt.input_tokens, pt.output_tokens, pt.cache_write_5m_tokens,
                              pt.cache_write_1h_tokens, pt.cache_write_unsplit_tokens, pt.cache_read_tokens,
                              p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read)) END AS cost_usd
  FROM usage_events e
  LEFT JOIN developers d ON d.oid = e.developer_oid AND e.event_time >= d.valid_from AND e.event_time < d.valid_to
  LEFT JOIN developer_labels l ON l.oid = e.developer_oid
  LEFT JOIN deployments dep ON dep.name = e.deployment AND e.event_time >= dep.valid_from AND e.event_time < dep.valid_to
  CROSS JOIN LATERAL (SELECT coalesce(nullif(e.model, ''), dep.model, '') AS model,
                             coalesce(lower(e.speed), 'standard') AS speed,
                             coalesce(nullif(e.inference_geo, ''), dep.residency, '') AS residency) m
  LEFT JOIN price_aliases a ON a.book_id = (SELECT id FROM reporting.price_book_in_use) AND a.alias = m.model
  CROSS JOIN LATERAL tally_usage_parts(m.model, e.iterations, e.input_tokens, e.output_tokens,
                                       e.cache_read_tokens, e.cache_write_5m_tokens, e.cache_write_1h_tokens,
                                       e.cache_write_unsplit_tokens, e.cache_write_unknown, 0, 0) pt
  LEFT JOIN reporting.rate_table p ON p.model_key = pt.model AND p.speed = m.speed
       AND p.prompt_band = pt.prompt_band AND p.residency = m.residency
       AND e.event_time >= p.effective_from AND e.event_time < p.effective_to
 GROUP BY e.event_time, e.request_id, e.session_id, e.developer_oid, d.upn, e.developer_upn, l.upn,
          d.team, d.cost_center, m.model, a.model, e.deployment, e.long_context;

-- Values of the dashboards' variables. Never empty: '(no team)' and 'unattributed' always
-- exist, so "All" never expands to an empty IN ().
CREATE OR REPLACE VIEW reporting.teams AS
SELECT coalesce(nullif(team, ''), '(no team)') AS team FROM developers
UNION
SELECT '(no team)';

CREATE OR REPLACE VIEW reporting.developer_list AS
WITH oids AS (
    SELECT oid FROM developers
    UNION SELECT oid FROM developer_labels
    UNION SELECT developer_oid FROM usage_rollup_month
    UNION SELECT 'unattributed'
)
SELECT o.oid AS developer_oid,
       coalesce(d.upn, l.upn, o.oid) AS developer_upn,
       coalesce(nullif(d.team, ''), '(no team)') AS team
  FROM oids o
  LEFT JOIN LATERAL (SELECT upn, team FROM developers x WHERE x.oid = o.oid
                      ORDER BY (now() >= x.valid_from AND now() < x.valid_to) DESC, x.valid_to DESC
                      LIMIT 1) d ON true
  LEFT JOIN developer_labels l ON l.oid = o.oid;

-- Models by the name the views report (aliases resolved): every model of the book in use
-- and every model seen in the monthly rollup (small: developers × models × months).
CREATE OR REPLACE VIEW reporting.models AS
SELECT coalesce(a.model, nullif(coalesce(nullif(r.model, ''), dep.model), ''), '(unknown)') AS model
  FROM (SELECT DISTINCT month, model, deployment FROM usage_rollup_month) r
  LEFT JOIN deployments dep ON dep.name = r.deployment
       AND r.month::timestamp AT TIME ZONE 'UTC' >= dep.valid_from
       AND r.month::timestamp AT TIME ZONE 'UTC' < dep.valid_to
  LEFT JOIN price_aliases a ON a.book_id = (SELECT id FROM reporting.price_book_in_use)
       AND a.alias = coalesce(nullif(r.model, ''), dep.model)
UNION
SELECT model FROM reporting.prices_in_use;

-- Monthly cost budgets of teams: the quotas with scope team, metric cost_usd, period month.
CREATE OR REPLACE VIEW reporting.team_budgets AS
SELECT subject AS team, name AS quota, tz, limit_value AS budget_usd, thresholds
  FROM quotas
 WHERE scope = 'team' AND metric = 'cost_usd' AND period = 'month';

-- What the ingest daemon wrote and when: the ingest rate and delay panels.
CREATE OR REPLACE VIEW reporting.ingest_events AS
SELECT ingested_at, event_time, source_format FROM usage_events;

-- Usage the book in use cannot price (unknown model, or no price at the event's time).
CREATE OR REPLACE VIEW reporting.unpriced_15m AS
SELECT bucket, developer_oid, developer_upn, team, cost_center, model, deployment, requests,
       input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens
  FROM reporting.costs_15m
 WHERE NOT priced;

GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO tally_reader;

-- tally_rates (the v1 long-context rates) priced the views before tally_rate_table; nothing
-- calls it any more, and with a tier whose class has no published price it would fall back
-- to the base rate. Dropped here, after the views that used it are replaced.
DROP FUNCTION IF EXISTS tally_rates(prices, boolean);
