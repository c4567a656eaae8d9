#!/usr/bin/env bash
# tally-ingest killed with SIGKILL 6 times while a 50,000-message stream is produced and
# consumed: every restart resumes from the offsets stored with the rows, so the database
# ends with exactly the distinct valid events, nothing lost and nothing doubled.
# The daemon runs with its own group defaults (session_timeout_ms, heartbeat_interval_ms),
# not the tests' fast -X settings: each restart prints how long it took from the restart
# to its first committed batch, which is the crash's cost (the dead member's session
# timeout). The time is printed, not asserted: a busy CI machine must not fail it.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
# 8 partitions: the mock broker keeps ~5 MiB per partition
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 3 --partitions 8 --topic usage
python3 "$SRC/tests/integration/gen_events.py" --events 50000 --dup-pct 10 --bad-pct 1 \
    --seed 50 --keyed --out "$TMP/events" --expect "$TMP/expect"

KAFKA_FAST=()
stored_sum() { sql 'SELECT coalesce(sum(next_offset), 0) FROM ingest_offsets'; }
stored_above() { [ "$(stored_sum)" -gt "$1" ]; }
# recovery_ms T0_US: milliseconds from T0 (microseconds since the epoch) to now
recovery_ms() { echo $(((${EPOCHREALTIME/./} - $1) / 1000)); }

t0=$SECONDS
kills=0
recoveries=()
# 6 rounds of 2 chunks leave 2,000 messages for the last restart to commit (with 5,000 it
# could find everything stored already and wait out its 120 s for a batch never due)
chunk=4000
next=1
for round in 1 2 3 4 5 6; do
    produce_lines "$TMP/events" $next $chunk usage
    next=$((next + chunk))
    : >"$TMP/run$round.log"
    before=$(stored_sum)
    restart_us=${EPOCHREALTIME/./}
    start_ingest "$TMP/run$round.log" usage it-kill --batch-size 200 --batch-linger-ms 50
    wait_for 60 grep -q 'assigned partition' "$TMP/run$round.log"
    if [ "$round" -gt 1 ]; then
        wait_for 120 stored_above "$before"
        recoveries+=("$(recovery_ms "$restart_us")")
        echo "# restart $((round - 1)) after kill -9: first batch committed after ${recoveries[-1]} ms"
    fi
    produce_lines "$TMP/events" $next $chunk usage &
    ppid=$!
    next=$((next + chunk))
    sleep 0.$((RANDOM % 6 + 2))
    kill -9 $INGEST_PID
    wait $INGEST_PID 2>/dev/null
    wait $ppid
    kills=$((kills + 1))
    echo "# kill $round: $(stored_sum) messages stored"
done
assert_eq 6 $kills "killed with SIGKILL 6 times mid-stream"
while [ $next -le 50000 ]; do
    produce_lines "$TMP/events" $next $chunk usage
    next=$((next + chunk))
done
before=$(stored_sum)
restart_us=${EPOCHREALTIME/./}
start_ingest "$TMP/final.log" usage it-kill --batch-size 200
wait_for 120 stored_above "$before"
recoveries+=("$(recovery_ms "$restart_us")")
echo "# restart 6 after kill -9: first batch committed after ${recoveries[-1]} ms"
echo "# recovery after kill -9 (ms): ${recoveries[*]}; slowest $(printf '%s\n' "${recoveries[@]}" | sort -n | tail -1)"
assert_eq 6 ${#recoveries[@]} "every restart after a kill committed again"
assert_eq 50000 "$(end_offsets usage 8 | awk -F'\t' '{n += $2} END {print n}')" "50,000 messages produced"
wait_for 120 offsets_caught_up it-kill usage 8
echo "# fault test took $((SECONDS - t0)) s"
kill -TERM $INGEST_PID
wait $INGEST_PID
assert_eq 0 $? "final run: SIGTERM exits 0"
assert_eq "$(end_offsets usage 8)" "$(stored_offsets it-kill usage)" "stored offsets are the high watermarks"
assert_eq 0 "$(sql 'SELECT count(*) FROM ingest_gaps')" "no false gap recorded"
assert_eq 0 "$(cat "$TMP"/*.log | grep -c 'messages of partition .* were deleted by the broker')" \
    "no loss logged"
assert_stored "$TMP/expect"
finish
