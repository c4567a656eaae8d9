-- The reports tally-report serves, over the cost engine.

-- The monthly chargeback ((docs/architecture.md, "Chargeback CSV")): one row per developer × model (× priced: usage a
-- book prices only partly in the month gets a priced row and an unpriced row).
CREATE OR REPLACE FUNCTION tally_report_monthly(p_book integer, p_month text, p_tz text)
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
CREATE OR REPLACE FUNCTION tally_report_focus(p_book integer, p_month text, p_tz text)
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
CREATE OR REPLACE FUNCTION tally_unpriced(p_from timestamptz, p_to timestamptz)
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
