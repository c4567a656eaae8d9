#!/usr/bin/env bash
# Events that parse but Postgres refuses (here a CHECK constraint the test adds refuses
# request ids "poison-*": SQLSTATE 23514, as any data error would) must neither stall the
# stream nor take the good events of their batch with them: the batch is retried by halves, the refused
# message stored as a reject with its raw bytes, the rest committed. Then a file run
# again after lines were appended stores none of its rejects twice; the migration hint
# comes only for a database without the tables. Then the same poison
# through Kafka: good events stored, one reject, the offsets at the end.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
sql "ALTER TABLE usage_events ADD CONSTRAINT test_poison CHECK (request_id NOT LIKE 'poison-%')" >/dev/null
ev good-1:1 near-1:10 good-2:2 - poison-1:20 good-3:3 >"$TMP/f.jsonl"
out=$(timeout 30 "$ING" --db "$DB" --from-file "$TMP/f.jsonl" --batch-size 1000 2>"$TMP/log"); rc=$?
assert_eq 0 "$rc" "exit 0"
assert_eq "read=6 inserted=4 duplicates=0 rejected=2" "$out" "summary: the refused event counted as rejected"
assert_eq "good-1 good-2 good-3 near-1" "$(sql "SELECT string_agg(request_id, ' ' ORDER BY request_id) FROM usage_events")" \
    "the good events stored"
assert_eq 16 "$(sql "SELECT sum(input_tokens) FROM usage_rollup_15m")" "15-minute rollup: exactly the stored events"
assert_eq 16 "$(sql "SELECT sum(input_tokens) FROM usage_rollup_day")" "daily rollup: exactly the stored events"
assert_eq "f.jsonl:5|database refused: 23514 new row for relation \"usage_events_2026_10\" violates check constraint \"test_poison\"" \
    "$(sql "SELECT regexp_replace(source, '^.*/', ''), reason FROM ingest_rejects WHERE reason LIKE 'database%'")" "the refused message is a reject"
assert_eq "$(sed -n 5p "$TMP/f.jsonl")" "$(sql "SELECT convert_from(raw, 'UTF8') FROM ingest_rejects WHERE reason LIKE 'database%'")" \
    "with its raw bytes"
assert_match 'f.jsonl:5: stored as a reject: database refused' "$(cat "$TMP/log")" "logged"

# the file grows; the run again stores only the new line, and no reject twice
ev good-4:4 >>"$TMP/f.jsonl"
out=$(timeout 30 "$ING" --db "$DB" --from-file "$TMP/f.jsonl" 2>>"$TMP/log")
assert_eq "read=7 inserted=1 duplicates=4 rejected=2" "$out" "grown file: only the new line inserted"
assert_eq 2 "$(sql "SELECT count(*) FROM ingest_rejects")" "grown file: no reject stored twice"
assert_eq 5 "$(sql "SELECT count(*) FROM usage_events")" "grown file: five events"

# "has tallyctl migrate been run?" only when a table is missing, not for any failure
empty=ingestfix_empty_$$
psql "$TALLY_TEST_PG dbname=postgres" -qAtX -c "CREATE DATABASE $empty" >/dev/null
timeout 30 "$ING" --db "$TALLY_TEST_PG dbname=$empty" --from-file "$TMP/f.jsonl" >/dev/null 2>"$TMP/nomig.log"
assert_match 'a table is missing \(has \\"tallyctl migrate\\" been run\?\)' "$(cat "$TMP/nomig.log")" \
    "database not migrated: says so"
psql "$TALLY_TEST_PG dbname=postgres" -qAtX -c "DROP DATABASE $empty" >/dev/null
timeout 30 "$ING" --db "nosuchkey=1" --from-file "$TMP/f.jsonl" >/dev/null 2>"$TMP/badconn.log"
assert_match 'invalid postgres connection string' "$(cat "$TMP/badconn.log")" "invalid connection string: says so"
assert_eq 0 "$(grep -c migrate "$TMP/badconn.log")" "invalid connection string: no word of migrations"

# Kafka: the same poison inside a batch of good events
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 1 --partitions 1 --topic t
args=()
for i in $(seq 1 40); do
    args+=("k-good-$i:1")
    [ "$i" = 21 ] && args+=(poison-k:1)
done
ev "${args[@]}" >"$TMP/k.jsonl"
kcat -P -b "$MB_BOOTSTRAP" -t t -p 0 <"$TMP/k.jsonl"
start_ingest "$TMP/ing.log" t g --batch-size 1000 --batch-linger-ms 500
wait_for 40 offsets_caught_up g t 1
assert_eq "$(printf '0\t41')" "$(stored_offsets g t)" "kafka: offsets at the end"
assert_eq 40 "$(sql "SELECT count(*) FROM usage_events WHERE request_id LIKE 'k-%'")" "kafka: the 40 good events"
assert_eq "t/0/21|database refused: 23514 new row for relation \"usage_events_2026_10\" violates check constraint \"test_poison\"" \
    "$(sql "SELECT source, reason FROM ingest_rejects WHERE source LIKE 't/%'")" "kafka: the poison message a reject"
kill -TERM "$INGEST_PID"
wait "$INGEST_PID"
assert_eq 0 $? "SIGTERM: exit 0"
finish
