#!/usr/bin/env bash
# tallyctl migrate: fresh apply, idempotent re-apply (migrations and function files), a
# changed function file re-applied, a database of 3a3d471 upgraded with its data and its
# reports intact, tampered history refused, and usage rows of any month accepted (2020-01,
# the current month, 2031).
source "$(dirname "$0")/../lib.sh"
need_env
new_db --empty
CTL=$BIN/ctl/tallyctl
nmig=$(ls "$SRC"/schema/migrations/*.sql | wc -l)
nfun=$(ls "$SRC"/schema/functions/*.sql | wc -l)
# what a run recorded, to the microsecond: unchanged means the run applied nothing
history() { sql "SELECT string_agg(name || ' ' || sha256 || ' ' || applied_at, ',' ORDER BY name)
                   FROM (SELECT * FROM schema_migrations UNION ALL SELECT * FROM schema_functions) h"; }

out=$("$CTL" --db "$DB" migrate 2>/dev/null); rc=$?
assert_eq 0 "$rc" "fresh migrate exits 0"
assert_eq "migrations: $nmig applied, $nmig in all" "$out" "fresh migrate applies every file"
assert_eq "$nmig" "$(sql 'SELECT count(*) FROM schema_migrations')" "schema_migrations has one row per file"

assert_eq "$nfun" "$(sql 'SELECT count(*) FROM schema_functions')" "schema_functions has one row per function file"

before=$(history)
out=$("$CTL" --db "$DB" migrate 2>"$TMP/again.err"); rc=$?
assert_eq 0 "$rc" "re-apply exits 0"
assert_eq "migrations: 0 applied, $nmig in all" "$out" "re-apply is a no-op"
assert_eq "$before" "$(history)" "re-apply leaves schema_migrations and schema_functions as they were"
assert_match "function files: all $nfun unchanged, nothing applied" "$(cat "$TMP/again.err")" "re-apply says the function files are unchanged"

# a function file whose checksum differs is applied again: its definition comes back
sql "CREATE OR REPLACE FUNCTION tally_money_text(v numeric) RETURNS text LANGUAGE sql IMMUTABLE AS \$\$ SELECT 'tampered' \$\$" >/dev/null
sql "UPDATE schema_functions SET sha256 = repeat('0', 64) WHERE name = '40_cost_engine.sql'"
out=$("$CTL" --db "$DB" migrate 2>"$TMP/changed.err"); rc=$?
assert_eq "0 migrations: 0 applied, $nmig in all" "$rc $out" "a changed function file: exit 0, no migration"
assert_match "function files: applied all $nfun" "$(cat "$TMP/changed.err")" "a changed function file is re-applied"
assert_eq "1.5" "$(sql "SELECT tally_money_text(1.500)")" "its definition is the file's again"
assert_eq "$nfun" "$(sql "SELECT count(*) FROM schema_functions WHERE sha256 <> repeat('0', 64)")" "and recorded with its checksum"
sql "INSERT INTO schema_functions (name, sha256) VALUES ('99_gone.sql', 'x')"
"$CTL" --db "$DB" migrate >/dev/null 2>&1
assert_eq "0" "$(sql "SELECT count(*) FROM schema_functions WHERE name = '99_gone.sql'")" "a function file this build does not have is forgotten"

for t in usage_events usage_rollup_15m usage_rollup_day ingest_offsets ingest_rejects developers \
         deployments price_books prices quotas alert_log api_tokens schema_migrations; do
    assert_eq t "$(sql "SELECT to_regclass('public.$t') IS NOT NULL")" "table $t exists"
done
assert_eq t "$(sql "SELECT count(*) > 0 FROM pg_roles WHERE rolname = 'tally_reader'")" "read-only role exists"

# events of any month are accepted: directly (default partition), then moved on demand
ins() { sql "INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model, input_tokens)
             VALUES ('$1', '$2', 1, 'dev-1', 'claude-sonnet-4-6', 10)"; }
ins r-2020 '2020-01-15T10:00:00Z'
ins r-now "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ins r-2031 '2031-06-30T23:59:59.999999Z'
assert_eq 3 "$(sql 'SELECT count(*) FROM usage_events')" "rows of 2020, now and 2031 accepted"
assert_eq "usage_events_$(date -u +%Y_%m)" "$(sql "SELECT tableoid::regclass FROM usage_events WHERE request_id = 'r-now'")" \
    "the current month's partition exists ahead of time"
sql "SELECT tally_ensure_month('2020-01-15T10:00:00Z'), tally_ensure_month('2031-06-30T23:59:59Z')" >/dev/null
assert_eq "usage_events_2020_01" "$(sql "SELECT tableoid::regclass FROM usage_events WHERE request_id = 'r-2020'")" \
    "tally_ensure_month moves a 2020 row into its own partition"
assert_eq "usage_events_2031_06" "$(sql "SELECT tableoid::regclass FROM usage_events WHERE request_id = 'r-2031'")" \
    "and a 2031 row"
assert_eq 0 "$(sql 'SELECT count(*) FROM usage_events_default')" "default partition emptied"
ins r-2020 '2020-01-15T10:00:00Z' 2>/dev/null
assert_eq 3 "$(sql 'SELECT count(*) FROM usage_events')" "the event key is unique across the move"

# two callers racing for one new month: the one that waited on the lock must succeed too
psql "$DB" -qAtX -v ON_ERROR_STOP=1 -c "BEGIN; SELECT tally_ensure_month('2040-01-05'); SELECT pg_sleep(2); COMMIT;" >/dev/null 2>"$TMP/race-a" &
race_a=$!
sleep 0.5
psql "$DB" -qAtX -v ON_ERROR_STOP=1 -c "SELECT tally_ensure_month('2040-01-06')" >/dev/null 2>"$TMP/race-b"
assert_eq "0 " "$? $(cat "$TMP/race-b")" "the second creator of a month's partition succeeds"
wait $race_a
assert_eq 0 $? "the first creator succeeds"
assert_eq "usage_events_2040_01" "$(sql "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = 'usage_events_2040_01'")" \
    "the partition is attached once"

# a database migrated and filled by 3a3d471 (tests/fixtures/schema/make-v1-dump.sh) upgrades
# with its data intact: the same rows, the same reports, then a second migrate is a no-op
old_db=$DB
TEST_DB_OLD=$TEST_DB
new_db --empty
psql "$DB" -qAtX -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tally_reader')
                     THEN CREATE ROLE tally_reader NOLOGIN; END IF; END \$\$" >/dev/null 2>&1
gzip -dc "$SRC/tests/fixtures/schema/v1-3a3d471.sql.gz" | psql "$DB" -qAtX -v ON_ERROR_STOP=1 >/dev/null 2>"$TMP/restore.err"
assert_eq "0 " "$? $(grep -v '^$' "$TMP/restore.err")" "the 3a3d471 dump restores"
counts() { sql "SELECT string_agg(t.relname || '=' || (xpath('/row/c/text()',
                    query_to_xml(format('SELECT count(*) AS c FROM public.%I', t.relname), false, true, '')))[1]::text,
                    ' ' ORDER BY t.relname)
                  FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
                 WHERE n.nspname = 'public' AND t.relkind IN ('r', 'p')
                   AND t.relname NOT IN ('schema_migrations', 'schema_functions', 'rollup_rebuild',
                                         'price_rates', 'price_residency') # 0008: checked below
                   AND t.relname NOT LIKE 'usage_rollup_%'"; }
# every report and view a user reads, as exact text; the reports in their columns of before
# issue 10 (layout 1): "reports" on 3a3d471's functions, "reports , 1" on the current ones
reports() {
    local monthly_new="'{tier_requests,tier_cost_usd,fast_requests,fast_cost_usd,residency_requests,residency_cost_usd}'::text[]"
    local focus_new="'{SkuMeter,SkuPriceDetails,x_PromptTier,x_Speed,x_Residency}'::text[]"
    sql "SET TIME ZONE 'UTC';
         SELECT md5(string_agg(x::text, E'\n' ORDER BY x::text)) FROM (
           SELECT (to_jsonb(r) - $monthly_new)::text AS x FROM tally_report_monthly(tally_book(NULL), '2026-10', 'Europe/Berlin') r
           UNION ALL SELECT (to_jsonb(r) - $monthly_new)::text FROM tally_report_monthly(tally_book(NULL), '2026-11', 'UTC') r
           UNION ALL SELECT (to_jsonb(r) - $focus_new)::text FROM tally_report_focus(tally_book(NULL), '2026-11', 'Asia/Kathmandu'${1:-}) r
           UNION ALL SELECT r::text FROM tally_unpriced('2026-10-01', '2026-12-01') r
           UNION ALL SELECT r::text FROM tally_quota_usage_all('2026-11-03T00:00:00Z') r
           UNION ALL SELECT r::text FROM reporting.costs_15m r
           UNION ALL SELECT r::text FROM reporting.costs_day r
           UNION ALL SELECT r::text FROM reporting.request_costs r
           UNION ALL SELECT r::text FROM reporting.rates_in_use r
           UNION ALL SELECT r::text FROM reporting.models r) y"; }
assert_eq 2387 "$(sql 'SELECT count(*) FROM usage_events')" "the dump holds 2387 events"
assert_eq "261.15465325|1637|11" "$(sql "SELECT sum(cost_usd::numeric), sum(requests), count(*) FROM tally_report_monthly(tally_book(NULL), '2026-10', 'Europe/Berlin')")" \
    "October in Berlin as 3a3d471 reported it"
# November's raw events are gone (as after retention): its rollup rows can only keep the
# 200k flag; October's are rebuilt into exact bands from its events
sql "DELETE FROM usage_events WHERE event_time >= '2026-11-01'" >/dev/null
rows_before=$(counts)
reports_before=$(reports)
roll_rows() { sql "SELECT (SELECT count(*) FROM usage_rollup_$1 WHERE $2 >= '2026-11-01') || ' ' ||
                          (SELECT count(*) FROM usage_rollup_$1 WHERE $2 < '2026-11-01')"; }
nov_15m=$(roll_rows 15m bucket); nov_day=$(roll_rows day day); nov_month=$(roll_rows month month)
legacy=$(( ${nov_15m% *} + ${nov_day% *} + ${nov_month% *} ))
out=$("$CTL" --db "$DB" migrate 2>"$TMP/upgrade.err"); rc=$?
assert_eq "0 migrations: $((nmig - 6)) applied, $nmig in all
rollups: 1 month(s) rebuilt into prompt bands, 1 kept; $legacy rollup rows keep only the legacy 200k flag (raw events already dropped)" \
    "$rc $out" "3a3d471's database upgrades: only the new migrations are applied, October rebuilt, November kept"
assert_match "function files: applied all $nfun" "$(cat "$TMP/upgrade.err")" "and the function files"
assert_eq "$rows_before" "$(counts)" "every other table keeps its rows"
assert_eq "2026-10-01 rebuilt 0|2026-11-01 kept $legacy" \
    "$(sql "SELECT string_agg(month || ' ' || outcome || ' ' || legacy_rows, '|' ORDER BY month) FROM rollup_rebuild")" \
    "rollup_rebuild lists both months"
assert_eq "${nov_15m% *} ${nov_day% *} ${nov_month% *}" \
    "$(sql "SELECT (SELECT count(*) FROM usage_rollup_15m WHERE prompt_band >= 100) || ' ' ||
                   (SELECT count(*) FROM usage_rollup_day WHERE prompt_band >= 100) || ' ' ||
                   (SELECT count(*) FROM usage_rollup_month WHERE prompt_band >= 100)")" \
    "November's rows keep their legacy bands, October has none"
# October's rows are exactly what the events give, band by band (an independent count of
# the breakpoints below each prompt), and the day and month rollups are their sums
want15m="SELECT date_bin('15 minutes', event_time, timestamptz '2000-01-01 00:00+00'), developer_oid, model, deployment,
                (SELECT count(*) FROM unnest('{32000,64000,100000,128000,200000,256000,500000,1000000}'::bigint[]) b
                  WHERE b < input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens
                            + cache_write_unsplit_tokens)::smallint AS band,
                'standard', '', long_context, count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
                sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_write_unsplit_tokens)
           FROM usage_events WHERE event_time < '2026-11-01' GROUP BY 1, 2, 3, 4, 5, 8"
have15m="SELECT bucket, developer_oid, model, deployment, prompt_band, speed, residency, long_context, requests,
                input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                cache_write_unsplit_tokens FROM usage_rollup_15m WHERE bucket < '2026-11-01'"
assert_eq 0 "$(sql "SELECT count(*) FROM ((($want15m) EXCEPT ($have15m)) UNION ALL (($have15m) EXCEPT ($want15m))) x")" \
    "October's 15-minute rows are exactly the events' parts by exact band"
assert_eq "221 113 11 137" "${nov_15m#* } ${nov_15m% *} ${nov_month#* } $legacy" \
    "before: 221 October and 113 November 15-minute rows, 11 October month rows, 137 November rows in all"
assert_eq "0:160 1:104 2:81 3:65 4:40" \
    "$(sql "SELECT string_agg(prompt_band || ':' || count, ' ' ORDER BY prompt_band)
              FROM (SELECT prompt_band, count(*) FROM usage_rollup_15m WHERE bucket < '2026-11-01' GROUP BY 1) x")" \
    "October's 221 flag rows became 450 rows in bands 0-4 (no prompt of the simulation is over 200k)"
assert_eq 0 "$(sql "WITH d AS (
    SELECT date_trunc('month', day)::date, developer_oid, model, deployment, prompt_band, speed, residency,
           long_context, sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
           sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_write_unsplit_tokens)
      FROM usage_rollup_day GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
), m AS (
    SELECT month, developer_oid, model, deployment, prompt_band, speed, residency, long_context, requests,
           input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
           cache_write_unsplit_tokens FROM usage_rollup_month)
SELECT count(*) FROM ((TABLE d EXCEPT TABLE m) UNION ALL (TABLE m EXCEPT TABLE d)) x")" \
    "the monthly rollup is the sum of the daily one, key for key, after the rebuild"
# 0008 fills price_rates from the v1 book the database holds: standard/0 = each range's base
# rates, standard/200000 = its long_context rates; no residency, no fast ids, no deployment residency
assert_eq "10|10" "$(sql "SELECT count(*), count(p.book_id) FROM price_rates r LEFT JOIN prices p
    ON (p.book_id, p.model, p.effective_from, p.effective_to, p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read)
     = (r.book_id, r.model, r.effective_from, r.effective_to, r.input, r.output, r.cache_write_5m, r.cache_write_1h, r.cache_read)
    WHERE r.speed = 'standard' AND r.over_tokens = 0")" "0008: a standard base row per price range, its rates as in prices"
assert_eq "claude-opus-4-6|2026-02-05 00:00:00+00|2026-03-13 00:00:00+00|10|37.50|12.50|20|1.00
claude-sonnet-4|2025-05-22 00:00:00+00|infinity|6|22.50|7.50|12|0.60
claude-sonnet-4-5|2025-09-29 00:00:00+00|infinity|6|22.50|7.50|12|0.60
claude-sonnet-4-6|2026-02-17 00:00:00+00|2026-03-13 00:00:00+00|6|22.50|7.50|12|0.60" \
    "$(sql "SET TIME ZONE 'UTC'; SELECT model, effective_from, effective_to, input, output, cache_write_5m, cache_write_1h, cache_read
            FROM price_rates WHERE speed = 'standard' AND over_tokens = 200000 ORDER BY model")" \
    "0008: the long-context rates as the 200000 tier, exactly"
assert_eq "14|0|0|8|1" "$(sql "SELECT (SELECT count(*) FROM price_rates), (SELECT count(*) FROM price_residency),
    (SELECT count(*) FROM price_rates WHERE speed <> 'standard'),
    (SELECT count(*) FROM price_aliases WHERE speed IS NULL), (SELECT count(*) FROM deployments WHERE residency = '')")" \
    "0008: nothing else: no fast rates, no residency, aliases at the event's speed, deployments without residency"
assert_eq "$reports_before" "$(reports ", 1")" "every report and view gives the same rows as before (reports in layout 1)"
assert_eq "261.15465325|1637|11" "$(sql "SELECT sum(cost_usd::numeric), sum(requests), count(*) FROM tally_report_monthly(tally_book(NULL), '2026-10', 'Europe/Berlin')")" \
    "October in Berlin as before"
assert_eq "68.0118539|750|12" "$(sql "SELECT trim_scale(sum(cost_usd::numeric)), sum(requests), count(*) FROM tally_report_monthly(tally_book(NULL), '2026-11', 'UTC')")" \
    "November in UTC as before"
before=$(history)
out=$("$CTL" --db "$DB" migrate 2>/dev/null); rc=$?
assert_eq "0 migrations: 0 applied, $nmig in all" "$rc $out" "the upgraded database: a second migrate applies nothing"
assert_eq "$before" "$(history)" "and leaves the history tables as they were"
psql "$TALLY_TEST_PG dbname=postgres" -qAtc "DROP DATABASE IF EXISTS \"$TEST_DB\" WITH (FORCE)" >/dev/null 2>&1
TEST_DB=$TEST_DB_OLD
DB=$old_db

# a tampered applied migration is refused
sql "UPDATE schema_migrations SET sha256 = repeat('0', 64) WHERE name = (SELECT min(name) FROM schema_migrations)"
err=$("$CTL" --db "$DB" migrate 2>&1 >/dev/null); rc=$?
assert_eq 1 "$rc" "tampered history: exit 1"
assert_match "was applied with checksum 000000000000… but the file now has" "$err" "tampered history: clear message"
sql "DELETE FROM schema_migrations WHERE name = (SELECT min(name) FROM schema_migrations)"
sql "INSERT INTO schema_migrations (name, sha256) VALUES ('9999_future.sql', 'x')"
err=$("$CTL" --db "$DB" migrate 2>&1 >/dev/null); rc=$?
assert_eq 1 "$rc" "unknown applied migration: exit 1"
assert_match 'database has migration "0001_core.sql" that this build does not know|that this build does not know' "$err" "unknown applied migration: clear message"

# bad configuration: exit 2, key named
err=$("$CTL" --db "$DB" --log-level loud migrate 2>&1); rc=$?
assert_eq 2 "$rc" "bad log level: exit 2"
assert_match '"log_level"' "$err" "bad log level: key named"
finish
