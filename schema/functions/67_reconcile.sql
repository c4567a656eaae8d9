-- Reconciliation with the Azure bill (0013; docs/architecture.md, "Reconciliation"): the
-- deployment -> Foundry resource mapping, the import of a Cost Management FOCUS export, and
-- the comparison per Foundry resource and UTC day of metered cost with billed cost.

-- The tolerance in percent of the metered cost: tally-report sets the session setting
-- tally.reconcile_tolerance_pct from its reconcile_tolerance_pct key; a session without it
-- (Grafana's, unless ALTER ROLE … SET gives one) gets 1.
CREATE OR REPLACE FUNCTION tally_reconcile_tolerance_pct()
RETURNS numeric
LANGUAGE sql STABLE AS $$
SELECT coalesce(nullif(current_setting('tally.reconcile_tolerance_pct', true), '')::numeric, 1)
$$;

-- Whether a bill row is a Claude charge: Claude in Foundry is an Azure Marketplace offer
-- published by Anthropic (a Foundry resource may also carry other models' meters).
CREATE OR REPLACE FUNCTION tally_azure_is_claude(p_publisher text)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
SELECT coalesce(lower(p_publisher) LIKE 'anthropic%', false)
$$;

-- tallyctl reconcile map: the Foundry resource serving a deployment; a line for the operator.
CREATE OR REPLACE FUNCTION tally_foundry_resource_set(p_deployment text, p_resource_id text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    old text;
BEGIN
    IF p_resource_id !~* '^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/.+' THEN
        RAISE EXCEPTION 'invalid resource id "%": expected /subscriptions/…/resourceGroups/…/providers/…', p_resource_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT resource_id INTO old FROM foundry_resources WHERE deployment = p_deployment;
    IF old = p_resource_id THEN
        RETURN format('deployment "%s" -> %s unchanged', p_deployment, p_resource_id);
    END IF;
    INSERT INTO foundry_resources (deployment, resource_id) VALUES (p_deployment, p_resource_id)
        ON CONFLICT (deployment) DO UPDATE SET resource_id = excluded.resource_id, set_at = now();
    RETURN format('deployment "%s" -> %s%s', p_deployment, p_resource_id,
                  CASE WHEN old IS NOT NULL THEN format(' (was %s)', old) ELSE '' END);
END
$$;

-- The staging table of one import (the session's, dropped at commit): the cells tallyctl
-- read, as text, numbered by record (1 = the header).
CREATE OR REPLACE FUNCTION tally_azure_stage_begin()
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE azure_stage (
        file_sha256 text NOT NULL, record integer NOT NULL, billing_period_start text,
        charge_period_start text, charge_period_end text, charge_category text,
        charge_class text, publisher_name text, resource_id text, resource_name text,
        resource_group text, sku_meter text, billing_currency text, billed_cost text,
        billed_cost_usd text) ON COMMIT DROP;
END
$$;

-- A timestamp as Azure writes it: 2024-01-01T00:00:00Z (FOCUS 1.0r2 and later) or
-- 2024-01-01T00:00Z (FOCUS 1.0); NULL when it is neither or not a real instant.
CREATE OR REPLACE FUNCTION tally_azure_instant(p text)
RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?Z$' THEN
        RETURN NULL;
    END IF;
    RETURN p::timestamptz;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    RETURN NULL;
END
$$;

-- FOCUS numeric format: an integer, a decimal or E notation (no sign on a positive exponent).
CREATE OR REPLACE FUNCTION tally_azure_number_ok(p text)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
SELECT p ~ '^-?[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?$'
$$;

-- The first p_limit staged cells that cannot be imported, with why; none: the stage imports.
CREATE OR REPLACE FUNCTION tally_azure_stage_errors(p_limit integer)
RETURNS TABLE (file_sha256 text, record integer, reason text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH inst AS (
        SELECT v, tally_azure_instant(v) AS t
          FROM (SELECT billing_period_start AS v FROM azure_stage
                UNION SELECT charge_period_start FROM azure_stage
                UNION SELECT charge_period_end FROM azure_stage) x
    ), e AS (
        SELECT s.file_sha256, s.record, CASE
            WHEN s.billing_period_start IS NULL THEN 'BillingPeriodStart is empty'
            WHEN s.charge_period_start IS NULL THEN 'ChargePeriodStart is empty'
            WHEN s.charge_period_end IS NULL THEN 'ChargePeriodEnd is empty'
            WHEN b.t IS NULL THEN format('BillingPeriodStart "%s" is not a UTC date/time (YYYY-MM-DDTHH:mm:ssZ)', s.billing_period_start)
            WHEN cs.t IS NULL THEN format('ChargePeriodStart "%s" is not a UTC date/time (YYYY-MM-DDTHH:mm:ssZ)', s.charge_period_start)
            WHEN ce.t IS NULL THEN format('ChargePeriodEnd "%s" is not a UTC date/time (YYYY-MM-DDTHH:mm:ssZ)', s.charge_period_end)
            WHEN ce.t <= cs.t THEN 'ChargePeriodEnd is not after ChargePeriodStart'
            WHEN s.charge_category IS NULL
              OR s.charge_category NOT IN ('Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment')
                THEN format('ChargeCategory "%s" is not a FOCUS charge category', coalesce(s.charge_category, ''))
            WHEN s.billing_currency IS NULL OR s.billing_currency !~ '^[A-Z]{3}$'
                THEN format('BillingCurrency "%s" is not an ISO 4217 code', coalesce(s.billing_currency, ''))
            WHEN s.billed_cost IS NULL THEN 'BilledCost is empty'
            WHEN NOT tally_azure_number_ok(s.billed_cost) THEN format('BilledCost "%s" is not a number', s.billed_cost)
            WHEN s.billed_cost_usd IS NOT NULL AND NOT tally_azure_number_ok(s.billed_cost_usd)
                THEN format('x_BilledCostInUsd "%s" is not a number', s.billed_cost_usd)
            WHEN tally_azure_is_claude(s.publisher_name) AND s.billing_currency <> 'USD' AND s.billed_cost_usd IS NULL
                THEN format('BillingCurrency is %s and x_BilledCostInUsd is empty: the Claude charge cannot be compared with USD prices', s.billing_currency)
            END AS reason
          FROM azure_stage s
          LEFT JOIN inst b ON b.v = s.billing_period_start
          LEFT JOIN inst cs ON cs.v = s.charge_period_start
          LEFT JOIN inst ce ON ce.v = s.charge_period_end
    )
    SELECT e.file_sha256, e.record, e.reason FROM e WHERE e.reason IS NOT NULL
     ORDER BY e.file_sha256, e.record LIMIT p_limit;
END
$$;

-- Imports the staged rows of the files p_shas (names p_names, data rows p_rows) as one import,
-- which becomes the bill of every billing period it holds rows of. Returns the import's id, its
-- rows: all, the Claude charges (tally_azure_is_claude), and those of them on a resource some
-- deployment maps to (the others cannot be attributed), and the billing periods (YYYY-MM,…).
DROP FUNCTION IF EXISTS tally_azure_import(text[], text[], bigint[]);
CREATE FUNCTION tally_azure_import(p_names text[], p_shas text[], p_rows bigint[])
RETURNS TABLE (import_id bigint, rows_total bigint, rows_claude bigint, rows_attributed bigint,
               bill_of text)
LANGUAGE plpgsql AS $$
DECLARE
    imp bigint;
BEGIN
    INSERT INTO azure_cost_imports (rows_total, rows_claude, rows_attributed) VALUES (0, 0, 0)
        RETURNING id INTO imp;
    INSERT INTO azure_cost_files (sha256, import_id, name, rows_total)
    SELECT f.sha, imp, f.name, f.n FROM unnest(p_shas, p_names, p_rows) f(sha, name, n);
    INSERT INTO azure_cost_rows (file_sha256, record, import_id, billing_period_start,
                                 charge_period_start, charge_period_end, charge_category,
                                 charge_class, publisher_name, resource_id, resource_name,
                                 resource_group, sku_meter, billing_currency, billed_cost,
                                 billed_cost_usd)
    SELECT s.file_sha256, s.record, imp, s.billing_period_start::timestamptz,
           s.charge_period_start::timestamptz, s.charge_period_end::timestamptz,
           s.charge_category, s.charge_class, s.publisher_name, s.resource_id,
           coalesce(s.resource_name, regexp_replace(s.resource_id, '^.*/', '')), s.resource_group,
           s.sku_meter, s.billing_currency, s.billed_cost::numeric,
           coalesce(s.billed_cost_usd::numeric,
                    CASE WHEN s.billing_currency = 'USD' THEN s.billed_cost::numeric END)
      FROM azure_stage s;
    -- a run reaches as far as its daily usage charges (a tax or purchase row spans the month)
    INSERT INTO azure_cost_periods (billing_period_start, import_id, covered_to)
    SELECT c.billing_period_start, imp,
           coalesce(max(c.charge_period_end) FILTER (WHERE c.charge_category = 'Usage'), c.billing_period_start)
      FROM azure_cost_rows c WHERE c.import_id = imp GROUP BY c.billing_period_start
    ON CONFLICT (billing_period_start) DO UPDATE
        SET import_id = excluded.import_id, covered_to = excluded.covered_to;
    UPDATE azure_cost_imports i
       SET rows_total = x.n, rows_claude = x.claude, rows_attributed = x.attributed
      FROM (SELECT count(*) AS n,
                   count(*) FILTER (WHERE tally_azure_is_claude(c.publisher_name)) AS claude,
                   count(*) FILTER (WHERE tally_azure_is_claude(c.publisher_name) AND EXISTS
                       (SELECT 1 FROM foundry_resources f
                         WHERE lower(f.resource_id) = lower(c.resource_id))) AS attributed
              FROM azure_cost_rows c WHERE c.import_id = imp) x
     WHERE i.id = imp;
    RETURN QUERY SELECT i.id, i.rows_total, i.rows_claude, i.rows_attributed,
                        (SELECT string_agg(to_char(p.billing_period_start AT TIME ZONE 'UTC', 'YYYY-MM'), ','
                                           ORDER BY p.billing_period_start)
                           FROM azure_cost_periods p WHERE p.import_id = imp)
                   FROM azure_cost_imports i WHERE i.id = imp;
END
$$;

-- The Claude charges of an import that no deployment's resource matches, per resource id.
CREATE OR REPLACE FUNCTION tally_azure_unattributed(p_import bigint)
RETURNS TABLE (resource_id text, rows_count bigint, billed_cost_usd text)
LANGUAGE sql STABLE AS $$
SELECT coalesce(c.resource_id, ''), count(*), tally_money_text(sum(c.billed_cost_usd))
  FROM azure_cost_rows c
 WHERE c.import_id = p_import AND tally_azure_is_claude(c.publisher_name)
   AND NOT EXISTS (SELECT 1 FROM foundry_resources f WHERE lower(f.resource_id) = lower(c.resource_id))
 GROUP BY coalesce(c.resource_id, '')
 ORDER BY coalesce(c.resource_id, '') COLLATE "C"
$$;

-- Metered against billed cost for the UTC month p_month, one row per UTC day × Foundry
-- resource with usage or Claude charges (resource_id NULL: the usage of deployments mapped to
-- no resource against the Claude charges of resources no deployment maps to). metered: the
-- engine's priced cost (tally_usage_priced, book p_book) of the resource's deployments;
-- billed: the Usage rows of Claude charges in the bill of their billing period
-- (azure_cost_periods), on the UTC day their charge period starts; NULL when that bill does
-- not reach the day yet. delta = billed - metered; delta_pct = delta / metered × 100 rounded
-- to 2 places (NULL when metered is 0); outside_tolerance when |delta| > |metered| ×
-- p_tolerance_pct / 100 (exact), NULL when not billed yet. SECURITY DEFINER:
-- reporting.reconciliation_daily calls it as tally_reader.
DROP VIEW IF EXISTS reporting.reconciliation_daily; -- re-created below, over the function
DROP FUNCTION IF EXISTS tally_reconciliation(integer, text, numeric);
CREATE FUNCTION tally_reconciliation(p_book integer, p_month text, p_tolerance_pct numeric DEFAULT NULL)
RETURNS TABLE (day text, resource_id text, resource_name text, deployments text,
               metered_cost_usd text, billed_cost_usd text, delta_usd text, delta_pct text,
               outside_tolerance boolean, tolerance_pct text, unpriced_requests bigint,
               billed_rows bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
WITH r AS (SELECT * FROM tally_month_range(p_month, 'UTC')),
tol AS (SELECT coalesce(p_tolerance_pct, tally_reconcile_tolerance_pct()) AS pct),
res AS (SELECT lower(f.resource_id) AS rkey, min(f.resource_id) AS rid,
               string_agg(f.deployment, ',' ORDER BY f.deployment COLLATE "C") AS deps
          FROM foundry_resources f GROUP BY lower(f.resource_id)),
met AS (
    SELECT u.period_start AS d, coalesce(lower(f.resource_id), '') AS rkey, coalesce(sum(u.cost_usd), 0) AS cost,
           coalesce(sum(u.requests) FILTER (WHERE NOT u.priced), 0)::bigint AS unpriced,
           string_agg(DISTINCT u.deployment, ',') FILTER (WHERE f.deployment IS NULL) AS unmapped
      FROM r, tally_usage_priced(p_book, r.m_start, r.m_end, 'UTC', 'day') u
      LEFT JOIN foundry_resources f ON f.deployment = u.deployment
     GROUP BY 1, 2
),
bill AS (
    SELECT date_trunc('day', c.charge_period_start, 'UTC') AS d, coalesce(res.rkey, '') AS rkey,
           sum(c.billed_cost_usd) AS cost, count(*) AS n,
           min(c.resource_name) FILTER (WHERE res.rkey IS NOT NULL) AS name
      FROM r, azure_cost_periods p
      JOIN azure_cost_rows c ON c.import_id = p.import_id AND c.billing_period_start = p.billing_period_start
      LEFT JOIN res ON res.rkey = lower(c.resource_id)
     WHERE c.charge_period_start >= r.m_start AND c.charge_period_start < r.m_end
       AND c.charge_category = 'Usage' AND tally_azure_is_claude(c.publisher_name)
     GROUP BY 1, 2
),
k AS (
    SELECT coalesce(m.d, b.d) AS d, coalesce(m.rkey, b.rkey) AS rkey, coalesce(m.cost, 0) AS metered,
           CASE WHEN EXISTS (SELECT 1 FROM azure_cost_periods p
                              WHERE coalesce(m.d, b.d) >= p.billing_period_start
                                AND coalesce(m.d, b.d) + interval '1 day' <= p.covered_to)
                  OR b.d IS NOT NULL
                THEN coalesce(b.cost, 0) END AS billed,
           coalesce(m.unpriced, 0) AS unpriced, coalesce(b.n, 0) AS n, b.name, m.unmapped
      FROM met m
      FULL JOIN bill b ON b.d = m.d AND b.rkey = m.rkey
)
SELECT to_char(k.d AT TIME ZONE 'UTC', 'YYYY-MM-DD'), res.rid,
       CASE WHEN k.rkey <> '' THEN coalesce(k.name, regexp_replace(res.rid, '^.*/', '')) END,
       coalesce(res.deps, k.unmapped, ''), tally_money_text(k.metered), tally_money_text(k.billed),
       tally_money_text(k.billed - k.metered),
       CASE WHEN k.metered <> 0 THEN trim_scale(round((k.billed - k.metered) * 100 / k.metered, 2))::text END,
       abs(k.billed - k.metered) > abs(k.metered) * tol.pct / 100, trim_scale(tol.pct)::text,
       k.unpriced, k.n
  FROM k CROSS JOIN tol
  LEFT JOIN res ON res.rkey = k.rkey
 -- a team's Grafana login (85_row_security.sql): nothing, the bill is the whole company's
 WHERE NOT (SELECT restricted FROM tally_caller_scope())
 ORDER BY k.d, res.rid COLLATE "C" NULLS LAST
$$;

-- Every imported month reconciled with the newest book at the session's tolerance (Grafana's
-- finance dashboard, as tally_reader): amounts as numeric, the day as a date.
CREATE OR REPLACE VIEW reporting.reconciliation_daily AS
SELECT r.day::date AS day, r.resource_id, coalesce(r.resource_name, '(unmapped)') AS resource_name,
       r.deployments, r.metered_cost_usd::numeric AS metered_cost_usd,
       r.billed_cost_usd::numeric AS billed_cost_usd, r.delta_usd::numeric AS delta_usd,
       r.delta_pct::numeric AS delta_pct, r.outside_tolerance, r.tolerance_pct::numeric AS tolerance_pct,
       r.unpriced_requests
  FROM (SELECT DISTINCT to_char(p.billing_period_start AT TIME ZONE 'UTC', 'YYYY-MM') AS m
          FROM azure_cost_periods p) months,
       LATERAL tally_reconciliation((SELECT id FROM reporting.price_book_in_use), months.m) r;
GRANT SELECT ON reporting.reconciliation_daily TO tally_reader;
