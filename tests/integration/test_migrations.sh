#!/usr/bin/env bash
# tallyctl migrate: fresh apply, idempotent re-apply, tampered history refused, and
# usage rows of any month accepted (2020-01, the current month, 2031).
source "$(dirname "$0")/../lib.sh"
need_env
new_db --empty
CTL=$BIN/ctl/tallyctl
nmig=$(ls "$SRC"/schema/migrations/*.sql | wc -l)

out=$("$CTL" --db "$DB" migrate 2>/dev/null); rc=$?
assert_eq 0 "$rc" "fresh migrate exits 0"
assert_eq "migrations: $nmig applied, $nmig in all" "$out" "fresh migrate applies every file"
assert_eq "$nmig" "$(sql 'SELECT count(*) FROM schema_migrations')" "schema_migrations has one row per file"

out=$("$CTL" --db "$DB" migrate 2>/dev/null); rc=$?
assert_eq 0 "$rc" "re-apply exits 0"
assert_eq "migrations: 0 applied, $nmig in all" "$out" "re-apply is a no-op"

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
