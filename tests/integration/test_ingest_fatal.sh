#!/usr/bin/env bash
# A fatal runtime error stops tally-ingest with exit status 1 (so that systemd's
# Restart=on-failure brings it back), after one clear error line, without committing the
# batch in flight; a signal still stops it with 0. The fatal error is a real one: the
# group coordinator answers with FENCED_INSTANCE_ID (another member took this static
# member's group.instance.id), which librdkafka raises as fatal for a consumer.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 1 --partitions 1 --topic t
STATIC=(-X group.instance.id=tally-ingest-1)

start_ingest "$TMP/ing.log" t g "${STATIC[@]}" --batch-linger-ms 100
wait_for 30 grep -q 'assigned partition 0' "$TMP/ing.log"
ev a-1 a-2 a-3 | kcat -P -b "$MB_BOOTSTRAP" -t t -p 0
wait_for 30 offsets_caught_up g t 1
echo "# $SECONDS s: 3 events stored; fencing the member"
# the next Heartbeat (API key 12) answers FENCED_INSTANCE_ID (82)
mb_cmd "errors 12 82 1"
wait_for 60 bash -c "! kill -0 $INGEST_PID" || { echo "# still running"; kill -9 "$INGEST_PID"; }
wait "$INGEST_PID"
rc=$?
echo "# $SECONDS s: exited with $rc"
assert_eq 1 "$rc" "fatal kafka error: exit status 1"
assert_eq 1 "$(grep -c 'level=error' "$TMP/ing.log")" "one error line"
assert_match 'kafka fatal error: .*fenced' "$(grep 'level=error' "$TMP/ing.log")" \
    "it names the fatal error and says why"
assert_eq 0 "$(grep -c 'committing the batch in flight' "$TMP/ing.log")" \
    "nothing committed after the fatal error"
assert_eq 3 "$(sql 'SELECT count(*) FROM usage_events')" "what was committed before stays"

# fenced while joining, before any partition is assigned: exits 1 at once (librdkafka
# 2.0.2 spins in rd_kafka_destroy if the consumer tries to leave the group first)
mb_cmd "errors 11 82 1"
start_ingest "$TMP/ing1.log" t g "${STATIC[@]}"
wait_for 30 bash -c "! kill -0 $INGEST_PID" || { echo "# still running"; kill -9 "$INGEST_PID"; }
wait "$INGEST_PID"
assert_eq 1 $? "fatal error while joining: exit status 1"
assert_match 'kafka fatal error: .*fenced' "$(grep 'level=error' "$TMP/ing1.log")" \
    "one error line while joining too"

# a restarted daemon goes on from the stored offsets
ev b-1 b-2 | kcat -P -b "$MB_BOOTSTRAP" -t t -p 0
start_ingest "$TMP/ing2.log" t g --batch-linger-ms 100
wait_for 60 offsets_caught_up g t 1 || tail -20 "$TMP/ing2.log"
assert_eq 5 "$(sql 'SELECT count(*) FROM usage_events')" "after the restart every event is stored once"
kill -TERM "$INGEST_PID"
wait "$INGEST_PID"
assert_eq 0 $? "SIGTERM: exit 0"
assert_eq 0 "$(grep -c 'level=error' "$TMP/ing2.log")" "no error on a clean stop"
finish
