#!/usr/bin/env bash
# PostgreSQL restarted under tally-ingest mid-stream: the daemon pauses consumption,
# keeps its batch, reconnects with backoff and resumes; the database ends with exactly
# the distinct valid events. (This restarts the shared test cluster: keep it short.)
source "$(dirname "$0")/../lib.sh"
need_env
[ -n "${TALLY_TEST_PGDATA:-}" ] || { echo "SKIP: TALLY_TEST_PGDATA unset"; exit 77; }
source "$SRC/tests/integration/ingest_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 3 --partitions 4 --topic usage
python3 "$SRC/tests/integration/gen_events.py" --events 20000 --dup-pct 10 --bad-pct 1 \
    --seed 7 --keyed --out "$TMP/events" --expect "$TMP/expect"
mport=$(free_port)

t0=$SECONDS
produce_lines "$TMP/events" 1 8000 usage
start_ingest "$TMP/ingest.log" usage it-pg --batch-size 200 --metrics-listen "127.0.0.1:$mport"
wait_for 60 grep -q 'assigned partition' "$TMP/ingest.log"
produce_lines "$TMP/events" 8001 6000 usage &
ppid=$!
sleep 0.3
pg_restart 3 &
rpid=$!
sleep 1.5
assert_eq 0 "$(curl -sf "http://127.0.0.1:$mport/metrics" | sed -n 's/^tally_ingest_database_up //p')" \
    "metrics: database down while Postgres is stopped"
wait $rpid
wait $ppid
produce_lines "$TMP/events" 14001 6000 usage
wait_for 90 offsets_caught_up it-pg usage 4
echo "# fault test took $((SECONDS - t0)) s"
assert_eq 1 "$(curl -sf "http://127.0.0.1:$mport/metrics" | sed -n 's/^tally_ingest_database_up //p')" \
    "metrics: database up again"
kill -0 $INGEST_PID 2>/dev/null
assert_eq 0 $? "the daemon rode out the restart"
kill -TERM $INGEST_PID
wait $INGEST_PID
assert_eq 0 $? "SIGTERM: exit 0"
log=$(cat "$TMP/ingest.log")
assert_match 'postgres unavailable: pausing consumption' "$log" "consumption paused while Postgres was down"
assert_match 'postgres back: resuming consumption' "$log" "and resumed"
assert_eq "$(end_offsets usage 4)" "$(stored_offsets it-pg usage)" "stored offsets are the high watermarks"
assert_eq 0 "$(sql 'SELECT count(*) FROM ingest_gaps')" "no false gap recorded"
assert_eq 0 "$(cat "$TMP"/*.log | grep -c 'messages of partition .* were deleted by the broker')" \
    "no loss logged"
assert_stored "$TMP/expect"
finish
