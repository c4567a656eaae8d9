#!/usr/bin/env bash
# Two tally-ingest daemons in one consumer group share 8 partitions; one is killed with
# SIGKILL mid-stream and the other takes its partitions over from the offsets stored in
# Postgres. The database ends with exactly the distinct valid events. Both run on this
# one host as static members with their own instance_id (the mock broker ignores
# group.instance.id, so this checks the setting reaches the consumer, not KIP-345 itself).
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 3 --partitions 8 --topic usage
python3 "$SRC/tests/integration/gen_events.py" --events 30000 --dup-pct 10 --bad-pct 1 \
    --seed 22 --keyed --out "$TMP/events" --expect "$TMP/expect"

# a heartbeat that cannot keep a member in its group is a configuration error
"$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic usage --group it-two --metrics-listen "" \
    --session-timeout-ms 6000 --heartbeat-interval-ms 6000 2>"$TMP/bad.log"
assert_eq 2 $? "heartbeat_interval_ms >= session_timeout_ms: exit 2"
assert_match 'heartbeat interval 6000 ms must be below the session timeout 6000 ms' \
    "$(cat "$TMP/bad.log")" "the refusal names both values"

t0=$SECONDS
start_ingest "$TMP/a.log" usage it-two --batch-size 200 --instance-id it-two-a
apid=$INGEST_PID
wait_for 60 grep -q 'assigned partition' "$TMP/a.log"
assert_match 'as group \\"it-two\\", instance \\"it-two-a\\"' "$(cat "$TMP/a.log")" \
    "the daemon says its instance id"
start_ingest "$TMP/b.log" usage it-two --batch-size 200 --instance-id it-two-b
bpid=$INGEST_PID
wait_for 60 grep -q 'assigned partition' "$TMP/b.log"
produce_lines "$TMP/events" 1 10000 usage
every_partition_stored() { [ "$(sql 'SELECT count(*) FROM ingest_offsets')" -ge 8 ]; }
wait_for 60 every_partition_stored
nb=$(grep -c 'msg="assigned partition' "$TMP/b.log")
assert_eq yes "$([ "$nb" -ge 1 ] && [ "$nb" -le 7 ] && echo yes)" "both daemons share the partitions"
produce_lines "$TMP/events" 10001 10000 usage &
ppid=$!
sleep 0.3
kill -9 $apid
wait $apid 2>/dev/null
wait $ppid
produce_lines "$TMP/events" 20001 10000 usage
wait_for 120 offsets_caught_up it-two usage 8
echo "# fault test took $((SECONDS - t0)) s"
kill -0 $bpid 2>/dev/null
assert_eq 0 $? "the survivor is running"
kill -TERM $bpid
wait $bpid
assert_eq 0 $? "survivor: SIGTERM exits 0"
assert_eq 8 "$(grep -o 'msg="assigned partition [0-9]*' "$TMP/b.log" | sort -u | wc -l)" \
    "the survivor took over every partition"
assert_eq "$(end_offsets usage 8)" "$(stored_offsets it-two usage)" "stored offsets are the high watermarks"
assert_eq 0 "$(sql 'SELECT count(*) FROM ingest_gaps')" "no false gap recorded"
assert_eq 0 "$(cat "$TMP"/*.log | grep -c 'messages of partition .* were deleted by the broker')" \
    "no loss logged"
assert_stored "$TMP/expect"
finish
