-- The monthly rollup is kept equal to the sum of the daily one (the triggers are in 0003).

-- Adds the daily rows a statement inserted (and subtracts those it replaced or deleted)
-- to the monthly rollup, aggregated per statement and upserted in key order, so that
-- concurrent ingest transactions lock month rows in one global order.
-- The summed columns are the requests, every token class (tally_token_classes, 35_rates.sql:
-- hence this file's place) and the other counters, so that a class added there is summed
-- here too. The key is the month and the dimensions (prompt_band, speed, residency: 0009);
-- long_context follows the band.
-- The DO block spells the statement out once, when the function files are applied, and
-- the function holds it as static SQL: PL/pgSQL plans it once per session. (It used to
-- build and EXECUTE it on every call: planned again each time, about 3 ms per call and
-- two calls per ingest batch.)
DO $do$
DECLARE
    cols text[] := ARRAY['requests']
        || ARRAY(SELECT class || '_tokens' FROM tally_token_classes() ORDER BY ord)
        || ARRAY['cache_unknown_requests', 'web_search_requests', 'web_fetch_requests'];
    stmt text;
BEGIN
    stmt := 'INSERT INTO usage_rollup_month AS m (month, developer_oid, model, deployment,'
         || ' prompt_band, speed, residency, long_context, '
         || (SELECT string_agg(format('%I', c), ', ') FROM unnest(cols) c)
         || ') SELECT date_trunc(''month'', d.day)::date, d.developer_oid, d.model, d.deployment,'
         || ' d.prompt_band, d.speed, d.residency, tally_prompt_band_long(d.prompt_band), '
         || (SELECT string_agg(format('sum(s * d.%I)', c), ', ') FROM unnest(cols) c)
         || ' FROM (@SRC@) d GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7'
         || ' ON CONFLICT (month, developer_oid, model, deployment, prompt_band, speed, residency)'
         || ' DO UPDATE SET '
         || (SELECT string_agg(format('%1$I = m.%1$I + excluded.%1$I', c), ', ') FROM unnest(cols) c);
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION tally_rollup_month_apply() RETURNS trigger
LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'INSERT' THEN
        %s;
    ELSIF TG_OP = 'UPDATE' THEN
        %s;
    ELSE
        %s;
    END IF;
    RETURN NULL;
END
$body$$f$,
        replace(stmt, '@SRC@', 'SELECT *, 1 AS s FROM new_rows'),
        replace(stmt, '@SRC@', 'SELECT *, 1 AS s FROM new_rows UNION ALL SELECT *, -1 FROM old_rows'),
        replace(stmt, '@SRC@', 'SELECT *, -1 AS s FROM old_rows'));
END
$do$;
