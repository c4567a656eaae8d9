-- The monthly rollup is kept equal to the sum of the daily one (the triggers are in 0003).

-- Adds the daily rows a statement inserted (and subtracts those it replaced or deleted)
-- to the monthly rollup, aggregated per statement and upserted in key order, so that
-- concurrent ingest transactions lock month rows in one global order.
CREATE OR REPLACE FUNCTION tally_rollup_month_apply() RETURNS trigger
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
