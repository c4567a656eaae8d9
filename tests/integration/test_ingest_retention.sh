#!/usr/bin/env bash
# A stored offset the broker no longer holds (retention deleted messages never ingested) is
# reported as an error, not at librdkafka's info level.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 1 --partitions 1 --topic old
TEST_PIDS+=("$MB_PID_STARTED")

# the mock keeps about 5 MiB per partition: 8 MiB pushes offset 0 out
pad=$(head -c 1000 /dev/zero | tr '\0' x)
seq 1 8000 | sed "s/\$/ $pad/" | kcat -P -b "$MB_BOOTSTRAP" -t old -p 0
low=$(kcat -Q -b "$MB_BOOTSTRAP" -t old:0:-2 2>/dev/null | sed -n 's/^.* offset \([0-9-]*\)$/\1/p')
assert_match '^[1-9][0-9]*$' "$low" "the broker dropped the oldest messages (low watermark $low)"

sql "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset) VALUES ('g', 'old', 0, 0)"
start_ingest "$TMP/ingest.log" old g --batch-size 2000
wait_for 60 grep -q 'level=error.*Offset out of range' "$TMP/ingest.log"
assert_eq 0 $? "the lost range is logged as an error"
kill -TERM "$INGEST_PID"; wait "$INGEST_PID"
finish
