#!/usr/bin/env bash
# Every broker down for 10 s while tally-ingest consumes: librdkafka keeps retrying, the
# daemon logs the outage once and the recovery once, and the database ends with exactly
# the distinct valid events.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 3 --partitions 4 --topic usage
python3 "$SRC/tests/integration/gen_events.py" --events 20000 --dup-pct 10 --bad-pct 1 \
    --seed 11 --keyed --out "$TMP/events" --expect "$TMP/expect"

t0=$SECONDS
produce_lines "$TMP/events" 1 10000 usage
start_ingest "$TMP/ingest.log" usage it-down --batch-size 200
wait_for 60 grep -q 'assigned partition' "$TMP/ingest.log"
sleep 0.2
mb_cmd down-all
sleep 10
kill -0 $INGEST_PID 2>/dev/null
assert_eq 0 $? "the daemon keeps running while every broker is down"
mb_cmd up-all
sleep 1
produce_lines "$TMP/events" 10001 10000 usage
wait_for 90 offsets_caught_up it-down usage 4
echo "# fault test took $((SECONDS - t0)) s"
kill -TERM $INGEST_PID
wait $INGEST_PID
assert_eq 0 $? "SIGTERM: exit 0"
assert_eq 1 "$(grep -c 'all brokers are down' "$TMP/ingest.log")" "the outage is logged once"
assert_eq 1 "$(grep -c 'brokers reachable again' "$TMP/ingest.log")" "and the recovery once"
assert_eq "$(end_offsets usage 4)" "$(stored_offsets it-down usage)" "stored offsets are the high watermarks"
assert_eq 0 "$(sql 'SELECT count(*) FROM ingest_gaps')" "no false gap recorded"
assert_eq 0 "$(cat "$TMP"/*.log | grep -c 'messages of partition .* were deleted by the broker')" \
    "no loss logged"
assert_stored "$TMP/expect"
finish
