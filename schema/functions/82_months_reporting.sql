-- The reporting views of month close (issue 12; functions in 66_months.sql), after
-- 80_reporting.sql: they price with reporting.price_book_in_use.

-- What close p_close froze for its month itself (a team login: its team's lines only, as
-- tally_month_frozen_lines). SECURITY DEFINER: the view runs as its caller (85_row_security.sql).
CREATE OR REPLACE FUNCTION tally_month_closed_cost(p_close bigint) RETURNS numeric
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
SELECT sum(l.cost_usd) FROM month_closes c JOIN month_close_lines l ON l.close_id = c.id AND l.month = c.month
 WHERE c.id = p_close
   AND (NOT (SELECT restricted FROM tally_caller_scope()) OR l.team = (SELECT team FROM tally_caller_scope()))
$$;

-- Grafana (dashboards/grafana/finance.json): every month with usage or a close, open or
-- closed in each zone it was closed in, with the cost it froze; and the corrections the
-- closed months need now (priced with the book in use), per line.
CREATE OR REPLACE VIEW reporting.months AS
WITH m AS (
    SELECT DISTINCT to_char(month, 'YYYY-MM') AS month FROM usage_rollup_month
    UNION
    SELECT month FROM month_closes
)
SELECT m.month, coalesce(c.tz, '') AS tz, CASE WHEN c.id IS NULL THEN 'open' ELSE 'closed' END AS state,
       c.closed_at, c.closed_by, c.forced, c.reason,
       tally_month_closed_cost(c.id) AS closed_cost_usd,
       c.csv_sha256
  FROM m LEFT JOIN month_closes c ON c.month = m.month AND c.reopened_at IS NULL;

CREATE OR REPLACE VIEW reporting.month_corrections AS
SELECT c.month AS corrected_month, c.tz, d.developer_oid, d.team, d.cost_center, d.model,
       d.priced, d.token_class, d.quantity, d.cost_usd
  FROM month_closes c, LATERAL tally_month_delta((SELECT id FROM reporting.price_book_in_use), c.month, c.tz) d
 WHERE c.reopened_at IS NULL;
GRANT SELECT ON reporting.months, reporting.month_corrections TO tally_reader;
