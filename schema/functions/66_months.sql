-- Month close and corrections (issue 12; docs/architecture.md, "Month close"; tables in
-- 0012). A close stores the chargeback's bytes and the lines below; what changes after it
-- (late events, a roster row dated inside the month, a newer book) is the difference of the
-- month priced now to what the closes froze, carried by the next open month.

-- The lines of a local month as the engine prices it now with book p_book: per developer ×
-- team × cost centre (the developer's dated row on each local day, as a lead's scope counts
-- it) × model × priced × token class, the tokens (for 'requests', the requests) and their
-- exact cost (NULL when unpriced; none for 'requests'). Lines with nothing are left out.
-- SECURITY DEFINER: the reporting views call it as tally_reader; a team's Grafana login
-- (85_row_security.sql) gets the lines of its own team only (the team of each line is the
-- developer's on that day), as tally_frozen_lines below, and so every function over them.
CREATE OR REPLACE FUNCTION tally_month_lines(p_book integer, p_month text, p_tz text)
RETURNS TABLE (developer_oid text, team text, cost_center text, model text, priced boolean,
               token_class text, quantity bigint, cost_usd numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
WITH r AS (SELECT * FROM tally_month_range(p_month, p_tz)),
g AS (
    SELECT u.developer_oid, coalesce(m.team, '') AS team, coalesce(m.cost_center, '') AS cost_center,
           u.model, u.priced, sum(u.requests)::bigint AS requests,
           sum(u.input_tokens)::bigint AS t_in, sum(u.output_tokens)::bigint AS t_out,
           sum(u.cache_write_5m_tokens)::bigint AS t_w5, sum(u.cache_write_1h_tokens)::bigint AS t_w1,
           sum(u.cache_write_unsplit_tokens)::bigint AS t_un, sum(u.cache_read_tokens)::bigint AS t_rd,
           sum(u.cost_input_usd) AS c_in, sum(u.cost_output_usd) AS c_out,
           sum(u.cost_cache_write_5m_usd) AS c_w5, sum(u.cost_cache_write_1h_usd) AS c_w1,
           sum(u.cost_cache_write_unsplit_usd) AS c_un, sum(u.cost_cache_read_usd) AS c_rd
      FROM r, tally_usage_priced_detail(p_book, r.m_start, r.m_end, p_tz, 'day') u
      LEFT JOIN LATERAL (
           SELECT d.team, d.cost_center FROM developers d
            WHERE d.oid = u.developer_oid
              AND d.valid_from < ((u.period_start AT TIME ZONE p_tz) + interval '1 day') AT TIME ZONE p_tz
              AND d.valid_to > u.period_start
            ORDER BY d.valid_from <= u.period_start DESC, d.valid_from
            LIMIT 1) m ON true
     GROUP BY 1, 2, 3, 4, 5
)
SELECT g.developer_oid, g.team, g.cost_center, g.model, g.priced, v.class, v.qty,
       CASE WHEN g.priced THEN v.cost END
  FROM g
 CROSS JOIN LATERAL (VALUES ('requests', g.requests, NULL::numeric), ('input', g.t_in, g.c_in),
                            ('output', g.t_out, g.c_out), ('cache_write_5m', g.t_w5, g.c_w5),
                            ('cache_write_1h', g.t_w1, g.c_w1),
                            ('cache_write_unsplit', g.t_un, g.c_un),
                            ('cache_read', g.t_rd, g.c_rd)) v(class, qty, cost)
 WHERE (v.qty <> 0 OR coalesce(v.cost, 0) <> 0)
   AND (NOT (SELECT restricted FROM tally_caller_scope()) OR g.team = (SELECT team FROM tally_caller_scope()))
$$;

-- What the closes in force of zone p_tz froze for local month p_month: the month's own
-- close and the corrections later closes carried for it, summed per line (a team login: its
-- team's lines).
CREATE OR REPLACE FUNCTION tally_month_frozen_lines(p_month text, p_tz text)
RETURNS TABLE (developer_oid text, team text, cost_center text, model text, priced boolean,
               token_class text, quantity bigint, cost_usd numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
SELECT l.developer_oid, l.team, l.cost_center, l.model, l.priced, l.token_class,
       sum(l.quantity)::bigint, sum(l.cost_usd)
  FROM month_close_lines l JOIN month_closes c ON c.id = l.close_id
 WHERE c.reopened_at IS NULL AND c.tz = p_tz AND l.month = p_month
   AND (NOT (SELECT restricted FROM tally_caller_scope()) OR l.team = (SELECT team FROM tally_caller_scope()))
 GROUP BY 1, 2, 3, 4, 5, 6
$$;

-- The correction a closed month needs now: its lines priced with p_book today minus what the
-- closes froze (tally_month_frozen_lines), per line, zero lines left out. NULL cost when
-- unpriced. frozen + delta = the month recomputed, to the last digit.
CREATE OR REPLACE FUNCTION tally_month_delta(p_book integer, p_month text, p_tz text)
RETURNS TABLE (developer_oid text, team text, cost_center text, model text, priced boolean,
               token_class text, quantity bigint, cost_usd numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
SELECT coalesce(n.developer_oid, o.developer_oid), coalesce(n.team, o.team),
       coalesce(n.cost_center, o.cost_center), coalesce(n.model, o.model),
       coalesce(n.priced, o.priced), coalesce(n.token_class, o.token_class),
       coalesce(n.quantity, 0) - coalesce(o.quantity, 0),
       CASE WHEN coalesce(n.priced, o.priced) AND coalesce(n.token_class, o.token_class) <> 'requests'
            THEN coalesce(n.cost_usd, 0) - coalesce(o.cost_usd, 0) END
  FROM tally_month_lines(p_book, p_month, p_tz) n
  FULL JOIN tally_month_frozen_lines(p_month, p_tz) o
    ON o.developer_oid = n.developer_oid AND o.team = n.team AND o.cost_center = n.cost_center
   AND o.model = n.model AND o.priced = n.priced AND o.token_class = n.token_class
 WHERE coalesce(n.quantity, 0) <> coalesce(o.quantity, 0)
    OR coalesce(n.cost_usd, 0) <> coalesce(o.cost_usd, 0)
$$;

-- The first day of a YYYY-MM month, and the month n months later.
CREATE OR REPLACE FUNCTION tally_month_add(p_month text, n integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT to_char(to_date(p_month || '-01', 'YYYY-MM-DD') + make_interval(months => n), 'YYYY-MM')
$$;

-- The closed months of zone p_tz whose corrections local month p_month carries: p_month is
-- not closed there, and it is the first month after them that is not (every month between
-- is closed). Newest first is not needed: oldest first.
CREATE OR REPLACE FUNCTION tally_month_corrected(p_month text, p_tz text)
RETURNS TABLE (month text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
WITH RECURSIVE k(month) AS (
    SELECT tally_month_add(p_month, -1)
     WHERE NOT EXISTS (SELECT 1 FROM month_closes c
                        WHERE c.month = p_month AND c.tz = p_tz AND c.reopened_at IS NULL)
    UNION ALL
    SELECT tally_month_add(k.month, -1) FROM k
     WHERE EXISTS (SELECT 1 FROM month_closes c
                    WHERE c.month = k.month AND c.tz = p_tz AND c.reopened_at IS NULL)
)
SELECT k.month FROM k
 WHERE EXISTS (SELECT 1 FROM month_closes c
                WHERE c.month = k.month AND c.tz = p_tz AND c.reopened_at IS NULL)
 ORDER BY k.month
$$;

-- The corrections local month p_month of zone p_tz carries (tally_month_corrected), priced
-- with p_book: one line per corrected month × line.
CREATE OR REPLACE FUNCTION tally_month_corrections(p_book integer, p_month text, p_tz text)
RETURNS TABLE (corrects_month text, developer_oid text, team text, cost_center text, model text,
               priced boolean, token_class text, quantity bigint, cost_usd numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
SELECT k.month, d.* FROM tally_month_corrected(p_month, p_tz) k,
       LATERAL tally_month_delta(p_book, k.month, p_tz) d
$$;

-- The chargeback's correction rows (GET /v1/reports/monthly, layout 3): the columns of
-- tally_report_monthly and corrects_month, one row per corrected month × developer × team ×
-- cost centre × model × priced, the differences in its token columns and cost; unit prices,
-- long-context and tier/fast/residency columns are NULL (a difference has no single rate).
CREATE OR REPLACE FUNCTION tally_report_monthly_corrections(p_book integer, p_month text, p_tz text)
RETURNS TABLE (month text, tz text, developer_oid text, developer_upn text, team text,
               cost_center text, model text, requests bigint, input_tokens bigint,
               cache_write_5m_tokens bigint, cache_write_1h_tokens bigint, cache_read_tokens bigint,
               output_tokens bigint, cost_usd text, priced boolean, price_book text,
               price_book_sha256 text, unit_price_input text, unit_price_output text,
               unit_price_cache_write_5m text, unit_price_cache_write_1h text,
               unit_price_cache_read text, long_context_requests bigint,
               cache_write_unsplit_tokens bigint, display_name text, tier_requests bigint,
               tier_cost_usd text, fast_requests bigint, fast_cost_usd text,
               residency_requests bigint, residency_cost_usd text, corrects_month text)
LANGUAGE sql STABLE AS $$
WITH c AS (
    SELECT x.corrects_month, x.developer_oid, x.team, x.cost_center, x.model, x.priced,
           sum(x.quantity) FILTER (WHERE x.token_class = 'requests') AS requests,
           sum(x.quantity) FILTER (WHERE x.token_class = 'input') AS t_in,
           sum(x.quantity) FILTER (WHERE x.token_class = 'cache_write_5m') AS t_w5,
           sum(x.quantity) FILTER (WHERE x.token_class = 'cache_write_1h') AS t_w1,
           sum(x.quantity) FILTER (WHERE x.token_class = 'cache_write_unsplit') AS t_un,
           sum(x.quantity) FILTER (WHERE x.token_class = 'cache_read') AS t_rd,
           sum(x.quantity) FILTER (WHERE x.token_class = 'output') AS t_out,
           sum(x.cost_usd) AS cost
      FROM tally_month_corrections(p_book, p_month, p_tz) x
     GROUP BY 1, 2, 3, 4, 5, 6
)
SELECT p_month, p_tz, c.developer_oid, coalesce(d.upn, ''), c.team, c.cost_center, c.model,
       coalesce(c.requests, 0)::bigint, coalesce(c.t_in, 0)::bigint,
       (coalesce(c.t_w5, 0) + coalesce(c.t_un, 0))::bigint, coalesce(c.t_w1, 0)::bigint,
       coalesce(c.t_rd, 0)::bigint, coalesce(c.t_out, 0)::bigint,
       CASE WHEN c.priced THEN tally_money_text(coalesce(c.cost, 0)) END, c.priced, b.name, b.sha256,
       NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::bigint,
       coalesce(c.t_un, 0)::bigint, coalesce(d.display_name, ''), NULL::bigint, NULL::text,
       NULL::bigint, NULL::text, NULL::bigint, NULL::text, c.corrects_month
  FROM c
  LEFT JOIN LATERAL (SELECT * FROM tally_month_range(c.corrects_month, p_tz)) r ON true
  LEFT JOIN LATERAL (SELECT * FROM tally_developers_in(r.m_start, r.m_end) i
                      WHERE i.oid = c.developer_oid) d ON true
  LEFT JOIN price_books b ON b.id = p_book
 ORDER BY c.corrects_month, coalesce(d.upn, '') COLLATE "C", c.developer_oid COLLATE "C",
          c.team COLLATE "C", c.cost_center COLLATE "C", c.model COLLATE "C", c.priced DESC
$$;

-- The FOCUS correction rows (GET /v1/exports/focus, layout 3): the columns of
-- tally_report_focus (SkuMeter and SkuPriceDetails as its default layout gives them), one row per corrected month × developer × team × model × token class
-- of priced usage, ChargeClass 'Correction', the charge period the corrected month, the
-- billing period the month carrying it; BilledCost and the other costs the difference.
CREATE OR REPLACE FUNCTION tally_report_focus_corrections(p_book integer, p_month text, p_tz text)
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
SELECT tally_money_text(x.cost_usd), 'tokentally', 'tokentally', 'USD',
       to_char(r.m_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(r.m_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       'Usage', 'Correction',
       x.model || ' ' || replace(x.token_class, '_', ' ') || ' tokens (correction of ' || x.corrects_month || ')',
       'Usage-Based',
       to_char(k.m_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(k.m_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       x.quantity::text, 'Tokens', tally_money_text(x.cost_usd), NULL,
       tally_money_text(x.cost_usd), 'Microsoft', tally_money_text(x.cost_usd), NULL,
       'Standard', 'USD', tally_money_text(x.quantity * 0.000001), '1000000 Tokens',
       'Microsoft', 'Anthropic', NULL, NULL,
       x.model, x.model, 'Model', 'AI and Machine Learning', 'Microsoft Foundry', 'Generative AI',
       x.model || '/' || x.token_class, initcap(replace(x.token_class, '_', ' ')) || ' Tokens',
       jsonb_build_object('x_TokenClass', x.token_class)::text,
       b.name || ':' || x.model || '/' || x.token_class,
       nullif(x.team, ''), nullif(x.team, ''),
       jsonb_build_object('team', x.team, 'cost_center', x.cost_center,
                          'developer_upn', coalesce(d.upn, ''))::text,
       x.developer_oid, coalesce(d.upn, ''), x.team, x.cost_center, x.token_class, NULL,
       b.name, b.sha256, NULL, NULL, NULL
  FROM tally_month_corrections(p_book, p_month, p_tz) x
 CROSS JOIN tally_month_range(p_month, p_tz) r
 CROSS JOIN LATERAL tally_month_range(x.corrects_month, p_tz) k
  LEFT JOIN LATERAL (SELECT * FROM tally_developers_in(k.m_start, k.m_end) i
                      WHERE i.oid = x.developer_oid) d ON true
  LEFT JOIN price_books b ON b.id = p_book
 WHERE x.priced AND x.token_class <> 'requests'
 ORDER BY x.corrects_month, coalesce(d.upn, '') COLLATE "C", x.developer_oid COLLATE "C",
          x.team COLLATE "C", x.cost_center COLLATE "C", x.model COLLATE "C",
          (SELECT t.ord FROM tally_token_classes() t WHERE t.class = x.token_class)
$$;

-- Why local month p_month of zone p_tz cannot be closed now (no rows: it can): ingest gaps
-- touching it (tally_ingest_gaps), and events that may still arrive (now is before the
-- month's end plus p_lateness_h hours).
CREATE OR REPLACE FUNCTION tally_month_close_refusals(p_month text, p_tz text, p_lateness_h integer)
RETURNS TABLE (reason text)
LANGUAGE sql STABLE AS $$
SELECT format('the month has %s ingest gap(s) (%s messages lost)', count(*), sum(g.lost_messages))
  FROM tally_ingest_gaps(p_month, p_tz) g
HAVING count(*) > 0
UNION ALL
SELECT format('events may still arrive until %s (%s h after the month''s end in %s, close_lateness_h)',
              to_char((r.m_end + make_interval(hours => p_lateness_h)) AT TIME ZONE 'UTC',
                      'YYYY-MM-DD"T"HH24:MI:SS"Z"'), p_lateness_h, p_tz)
  FROM tally_month_range(p_month, p_tz) r
 WHERE now() < r.m_end + make_interval(hours => p_lateness_h)
$$;

-- A zone as closes store it: the name pg_timezone_names gives p_tz, matched
-- case-insensitively as Postgres matches zone names ('europe/paris' is Europe/Paris); NULL
-- for anything else Postgres would accept as a zone (a POSIX spec such as 'UTC+5', which
-- means UTC-5; an abbreviation such as 'PST'). Aliases keep their own names (Etc/UTC, UTC):
-- a close is refused when another close in force covers the same hours (report/months.c).
CREATE OR REPLACE FUNCTION tally_tz_canonical(p_tz text) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT z.name FROM pg_timezone_names z WHERE lower(z.name) = lower(p_tz)
 ORDER BY z.name = p_tz DESC, z.name COLLATE "C" LIMIT 1
$$;

-- Every close, newest first, with the cost it froze for its own month (GET /v1/months,
-- tallyctl months list). focus_sha256 is NULL for closes made before FOCUS was kept (0016).
DROP FUNCTION IF EXISTS tally_month_closes();
CREATE FUNCTION tally_month_closes()
RETURNS TABLE (month text, tz text, state text, closed_at text, closed_by text, forced boolean,
               reason text, price_book text, cost_usd text, csv_sha256 text, json_sha256 text,
               reopened_at text, reopened_by text, reopen_reason text, focus_sha256 text)
LANGUAGE sql STABLE AS $$
SELECT c.month, c.tz, CASE WHEN c.reopened_at IS NULL THEN 'closed' ELSE 'reopened' END,
       to_char(c.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), c.closed_by, c.forced,
       c.reason, b.name,
       (SELECT tally_money_text(coalesce(sum(l.cost_usd), 0)) FROM month_close_lines l
         WHERE l.close_id = c.id AND l.month = c.month),
       c.csv_sha256, c.json_sha256,
       to_char(c.reopened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), c.reopened_by,
       c.reopen_reason, c.focus_sha256
  FROM month_closes c JOIN price_books b ON b.id = c.book_id
 ORDER BY c.month DESC, c.tz COLLATE "C", c.id DESC
$$;

-- One month as JSON (GET /v1/months/{month}, tallyctl months show): its closes (tally_month_closes),
-- the audit, and for each close in force the correction it needs now with the newest book
-- (the total, and the lines).
CREATE OR REPLACE FUNCTION tally_month_show(p_month text) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT json_build_object(
    'month', p_month,
    'closes', coalesce((SELECT json_agg(row_to_json(c)) FROM tally_month_closes() c
                         WHERE c.month = p_month), '[]'::json),
    'audit', coalesce((SELECT json_agg(json_build_object(
                  'action', a.action, 'tz', c.tz,
                  'at', to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                  'by', a.by_principal, 'forced', a.forced, 'reason', a.reason) ORDER BY a.id)
                FROM month_close_audit a JOIN month_closes c ON c.id = a.close_id
               WHERE c.month = p_month), '[]'::json),
    'pending_corrections', coalesce((SELECT json_agg(json_build_object(
                  'tz', c.tz,
                  'carried_by', (SELECT min(m.month) FROM generate_series(1, 1200) s,
                                        LATERAL (SELECT tally_month_add(c.month, s) AS month) m
                                  WHERE NOT EXISTS (SELECT 1 FROM month_closes o
                                                     WHERE o.month = m.month AND o.tz = c.tz
                                                       AND o.reopened_at IS NULL)),
                  'cost_usd', (SELECT tally_money_text(coalesce(sum(d.cost_usd), 0))
                                 FROM tally_month_delta(tally_book(NULL), c.month, c.tz) d),
                  'lines', (SELECT coalesce(json_agg(row_to_json(d)), '[]'::json)
                              FROM tally_month_delta(tally_book(NULL), c.month, c.tz) d)) ORDER BY c.tz)
                FROM month_closes c WHERE c.month = p_month AND c.reopened_at IS NULL), '[]'::json)
)::text
$$;
