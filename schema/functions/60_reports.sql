-- The reports tally-report serves, over the cost engine.

-- The monthly chargeback ((docs/architecture.md, "Chargeback CSV")): one row per developer × model (× priced: usage a
-- book prices only partly in the month gets a priced row and an unpriced row). tier_*, fast_* and residency_*
-- (appended in issue 10; GET /v1/reports/monthly?layout=1 leaves them out): the requests, and the whole cost of
-- their rows, billed at a prompt tier above the base, in fast mode, with a residency multiplier other than 1, as
-- tally_usage_priced counts them; a cost is 0 on a priced row without such usage, NULL on an unpriced row. A group
-- with tokens and no requests (an iteration's model) is kept (tally_any_usage).
-- p_team (a lead's scope) keeps only the usage of the local days on which the developer
-- belonged to that team (as team quotas count), labelled with it: a developer who moved
-- teams mid-month shows each lead the days of its own team, never the other team's.
DROP FUNCTION IF EXISTS tally_report_monthly(integer, text, text);
DROP FUNCTION IF EXISTS tally_report_monthly(integer, text, text, text);
CREATE FUNCTION tally_report_monthly(p_book integer, p_month text, p_tz text, p_team text DEFAULT NULL)
RETURNS TABLE (month text, tz text, developer_oid text, developer_upn text, team text,
               cost_center text, model text, requests bigint, input_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, cache_read_tokens bigint,
               output_tokens bigint, cost_usd text, priced boolean, price_book text,
               price_book_sha256 text, unit_price_input text, unit_price_output text,
               unit_price_cache_write_5m text, unit_price_cache_write_1h text,
               unit_price_cache_read text, long_context_requests bigint,
               cache_write_unsplit_tokens bigint, display_name text, tier_requests bigint,
               tier_cost_usd text, fast_requests bigint, fast_cost_usd text,
               residency_requests bigint, residency_cost_usd text)
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
           sum(u.cache_write_unsplit_tokens)::bigint AS cwun,
           coalesce(sum(u.requests) FILTER (WHERE u.tier > 0), 0)::bigint AS tier_requests,
           coalesce(sum(u.cost_usd) FILTER (WHERE u.tier > 0), 0) AS tier_cost,
           coalesce(sum(u.requests) FILTER (WHERE u.speed = 'fast'), 0)::bigint AS fast_requests,
           coalesce(sum(u.cost_usd) FILTER (WHERE u.speed = 'fast'), 0) AS fast_cost,
           coalesce(sum(u.requests) FILTER (WHERE u.multiplier <> 1), 0)::bigint AS res_requests,
           coalesce(sum(u.cost_usd) FILTER (WHERE u.multiplier <> 1), 0) AS res_cost
      FROM r, tally_usage_priced_detail(p_book, r.m_start, r.m_end, p_tz,
                                        CASE WHEN p_team IS NULL THEN 'none' ELSE 'day' END) u
     WHERE p_team IS NULL
        OR EXISTS (SELECT 1 FROM developers m
                    WHERE m.oid = u.developer_oid AND m.team = p_team
                      AND m.valid_from < ((u.period_start AT TIME ZONE p_tz) + interval '1 day') AT TIME ZONE p_tz
                      AND m.valid_to > u.period_start)
     GROUP BY u.developer_oid, u.model, u.priced
    HAVING tally_any_usage(sum(u.requests), sum(u.input_tokens), sum(u.output_tokens),
                           sum(u.cache_read_tokens), sum(u.cache_write_5m_tokens),
                           sum(u.cache_write_1h_tokens), sum(u.cache_write_unsplit_tokens))
)
SELECT p_month, p_tz, g.developer_oid, coalesce(d.upn, ''), coalesce(p_team, d.team, ''),
       coalesce(d.cost_center, ''), g.model, g.requests, g.input_tokens, g.cw5m, g.cw1h, g.rd,
       g.output_tokens, tally_money_text(g.cost), g.priced, b.name, b.sha256,
       p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read, g.lc_requests, g.cwun,
       coalesce(d.display_name, ''),
       g.tier_requests, CASE WHEN g.priced THEN tally_money_text(g.tier_cost) END,
       g.fast_requests, CASE WHEN g.priced THEN tally_money_text(g.fast_cost) END,
       g.res_requests, CASE WHEN g.priced THEN tally_money_text(g.res_cost) END
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

-- FinOps FOCUS 1.2 rows, priced usage only (unpriced usage has no cost to bill: tally_unpriced
-- lists it). Every value is text, as it goes into the CSV.
-- p_layout 2 (issue 10): one row per local day × developer × model × token class × SKU price:
-- prompt tier × speed × residency class (the neutral classes '', global and not_available are
-- one, ''), named model/class[/over-N][/fast][/CLASS]; x_LongContext = billed at a prompt tier
-- (x_PromptTier > 0), the generalisation of v1's long-context rates.
-- p_layout 1: the rows of before issue 10: one per local day × developer × model × token class ×
-- long context (prompt over 200000 tokens, whatever the rates), named model/class[/long-context];
-- x_PromptTier, x_Speed and x_Residency are NULL (GET /v1/exports/focus?layout=1 leaves them out).
-- ListUnitPrice: the rate applied (tier, fast and residency included) when one rate covered the row;
-- layout 2 splits a day at a price change, so one always does there (FOCUS 1.2: not null on Usage).
-- Layout 2 also follows FOCUS 1.2 where layout 1 did not (tests/integration/test_focus_conformance.sh):
-- PricingUnit '1000000 Tokens' (a whole-number quantity), SkuMeter and SkuPriceDetails (x_ keys).
-- A group with tokens and no requests (an iteration's model) is kept (tally_any_usage).
DROP FUNCTION IF EXISTS tally_report_focus(integer, text, text);
DROP FUNCTION IF EXISTS tally_report_focus(integer, text, text, integer);
CREATE FUNCTION tally_report_focus(p_book integer, p_month text, p_tz text, p_layout integer DEFAULT 2)
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
               "SkuId" text, "SkuMeter" text, "SkuPriceDetails" text, "SkuPriceId" text,
               "SubAccountId" text, "SubAccountName" text,
               "Tags" text, "x_DeveloperOid" text, "x_DeveloperUpn" text, "x_Team" text,
               "x_CostCenter" text, "x_TokenClass" text, "x_LongContext" text,
               "x_PriceBook" text, "x_PriceBookSha256" text, "x_PromptTier" text,
               "x_Speed" text, "x_Residency" text)
LANGUAGE sql STABLE AS $$
WITH r AS (SELECT * FROM tally_month_range(p_month, p_tz)),
k AS ( -- the row's SKU price key in the layout asked for
    SELECT u.*, CASE WHEN p_layout = 1 THEN u.long_context ELSE u.tier > 0 END AS k_lc,
           CASE WHEN p_layout = 1 THEN NULL ELSE u.tier END AS k_tier,
           CASE WHEN p_layout = 1 THEN NULL ELSE u.speed END AS k_speed,
           CASE WHEN p_layout = 1 THEN NULL
                WHEN u.residency IN ('', 'global', 'not_available') THEN '' ELSE u.residency END AS k_res,
           -- layout 2: a row per price range, so that one rate covers it (ListUnitPrice never null)
           CASE WHEN p_layout = 1 THEN NULL ELSE u.effective_from END AS k_eff
      FROM r, tally_usage_priced_detail(p_book, r.m_start, r.m_end, p_tz, 'day') u
     WHERE u.priced
), u AS (
    SELECT k.period_start, k.developer_oid, k.model, k.k_lc, k.k_tier, k.k_speed, k.k_res, k.k_eff,
           sum(k.input_tokens) AS t_in, sum(k.output_tokens) AS t_out,
           sum(k.cache_write_5m_tokens) AS t_w5, sum(k.cache_write_1h_tokens) AS t_w1,
           sum(k.cache_write_unsplit_tokens) AS t_un, sum(k.cache_read_tokens) AS t_rd,
           sum(k.cost_input_usd) AS c_in, sum(k.cost_output_usd) AS c_out,
           sum(k.cost_cache_write_5m_usd) AS c_w5, sum(k.cost_cache_write_1h_usd) AS c_w1,
           sum(k.cost_cache_write_unsplit_usd) AS c_un, sum(k.cost_cache_read_usd) AS c_rd,
           -- the rates applied, when one rate (of one price range) covered the whole row
           CASE WHEN min(k.effective_from) = max(k.effective_from) AND min(k.rate_input) = max(k.rate_input)
                THEN min(k.rate_input) END AS r_in,
           CASE WHEN min(k.effective_from) = max(k.effective_from) AND min(k.rate_output) = max(k.rate_output)
                THEN min(k.rate_output) END AS r_out,
           CASE WHEN min(k.effective_from) = max(k.effective_from)
                 AND min(k.rate_cache_write_5m) = max(k.rate_cache_write_5m)
                THEN min(k.rate_cache_write_5m) END AS r_w5,
           CASE WHEN min(k.effective_from) = max(k.effective_from)
                 AND min(k.rate_cache_write_1h) = max(k.rate_cache_write_1h)
                THEN min(k.rate_cache_write_1h) END AS r_w1,
           CASE WHEN min(k.effective_from) = max(k.effective_from) AND min(k.rate_cache_read) = max(k.rate_cache_read)
                THEN min(k.rate_cache_read) END AS r_rd
      FROM k
     GROUP BY k.period_start, k.developer_oid, k.model, k.k_lc, k.k_tier, k.k_speed, k.k_res, k.k_eff
    HAVING tally_any_usage(sum(k.requests), sum(k.input_tokens), sum(k.output_tokens),
                           sum(k.cache_read_tokens), sum(k.cache_write_5m_tokens),
                           sum(k.cache_write_1h_tokens), sum(k.cache_write_unsplit_tokens))
), c AS (
    SELECT u.*, v.ord, v.class, v.qty, v.cost, v.rate,
           CASE WHEN p_layout = 1 THEN CASE WHEN u.k_lc THEN '/long-context' ELSE '' END
                ELSE CASE WHEN u.k_tier > 0 THEN '/over-' || u.k_tier ELSE '' END
                     || CASE WHEN u.k_speed = 'fast' THEN '/fast' ELSE '' END
                     || CASE WHEN u.k_res <> '' THEN '/' || u.k_res ELSE '' END END AS sku_suffix,
           CASE WHEN p_layout = 1 THEN CASE WHEN u.k_lc THEN ' (long context)' ELSE '' END
                ELSE coalesce(' (' || nullif(concat_ws(', ',
                         CASE WHEN u.k_tier > 0 THEN 'prompts over ' || u.k_tier || ' tokens' END,
                         CASE WHEN u.k_speed = 'fast' THEN 'fast' END,
                         CASE WHEN u.k_res <> '' THEN u.k_res || ' residency' END), '') || ')', '') END AS note
      FROM u
      CROSS JOIN LATERAL (VALUES (1, 'input', u.t_in, u.c_in, u.r_in),
                                 (2, 'output', u.t_out, u.c_out, u.r_out),
                                 (3, 'cache_write_5m', u.t_w5, u.c_w5, u.r_w5),
                                 (4, 'cache_write_1h', u.t_w1, u.c_w1, u.r_w1),
                                 (5, 'cache_write_unsplit', u.t_un, u.c_un, u.r_w5),
                                 (6, 'cache_read', u.t_rd, u.c_rd, u.r_rd)) v(ord, class, qty, cost, rate)
     WHERE v.qty <> 0
)
SELECT tally_money_text(c.cost), 'tokentally', 'tokentally', 'USD',
       to_char(r.m_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(r.m_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       'Usage', NULL,
       c.model || ' ' || replace(c.class, '_', ' ') || ' tokens' || c.note,
       'Usage-Based',
       to_char(((c.period_start AT TIME ZONE p_tz) + interval '1 day') AT TIME ZONE p_tz AT TIME ZONE 'UTC',
               'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(c.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       c.qty::text, 'Tokens', tally_money_text(c.cost), tally_money_text(c.rate),
       tally_money_text(c.cost), 'Microsoft', tally_money_text(c.cost), tally_money_text(c.rate),
       'Standard', 'USD', tally_money_text(c.qty * 0.000001),
       -- FOCUS Unit Format: a quantity is a whole number ("1M" was layout 1's)
       CASE WHEN p_layout = 1 THEN '1M Tokens' ELSE '1000000 Tokens' END,
       'Microsoft', 'Anthropic', NULL, NULL,
       c.model, c.model, 'Model', 'AI and Machine Learning', 'Microsoft Foundry', 'Generative AI',
       c.model || '/' || c.class || c.sku_suffix,
       CASE WHEN p_layout <> 1 THEN initcap(replace(c.class, '_', ' ')) || ' Tokens' END,
       CASE WHEN p_layout <> 1 THEN jsonb_build_object('x_TokenClass', c.class, 'x_PromptTier', c.k_tier::text,
                                                       'x_Speed', c.k_speed, 'x_Residency', nullif(c.k_res, ''))::text END,
       b.name || ':' || c.model || '/' || c.class || c.sku_suffix,
       nullif(d.team, ''), nullif(d.team, ''),
       jsonb_build_object('team', coalesce(d.team, ''), 'cost_center', coalesce(d.cost_center, ''),
                          'developer_upn', coalesce(d.upn, ''))::text,
       c.developer_oid, coalesce(d.upn, ''), coalesce(d.team, ''), coalesce(d.cost_center, ''),
       c.class, CASE WHEN c.k_lc THEN 'true' ELSE 'false' END, b.name, b.sha256,
       c.k_tier::text, c.k_speed, c.k_res
  FROM c
  CROSS JOIN r
  LEFT JOIN tally_developers_in(r.m_start, r.m_end) d ON d.oid = c.developer_oid
  LEFT JOIN price_books b ON b.id = p_book
 ORDER BY c.period_start, coalesce(d.upn, '') COLLATE "C", c.developer_oid COLLATE "C",
          c.model COLLATE "C", c.k_lc, c.k_tier, c.k_speed = 'fast', c.k_res COLLATE "C", c.k_eff, c.ord
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
