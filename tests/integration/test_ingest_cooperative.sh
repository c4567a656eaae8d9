#!/usr/bin/env bash
# Cooperative rebalancing: a partition this daemon keeps while it is given another must
# not take its stored offset from the database without being rewound to it. Here the
# database is behind the daemon on its partition (an asynchronous commit lost on a
# crash: the event and the offset row are set back); when the second daemon leaves and
# its partition is added, the next batch's compare-and-set must miss and the lost
# message be read again, not skipped.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 1 --partitions 2 --topic t
COOP=(-X partition.assignment.strategy=cooperative-sticky --batch-size 1000 --batch-linger-ms 500)
start_ingest "$TMP/b.log" t g "${COOP[@]}"
bpid=$INGEST_PID
wait_for 30 grep -q 'assigned partition 1' "$TMP/b.log"
start_ingest "$TMP/a.log" t g "${COOP[@]}"
wait_for 40 grep -q 'assigned partition' "$TMP/a.log"
pa=$(sed -n 's/.*assigned partition \([01]\).*/\1/p' "$TMP/a.log" | head -1)
pb=$((1 - pa))
assert_match '^[01]$' "$pa" "the second daemon got one partition"
ev lost-1 | kcat -P -b "$MB_BOOTSTRAP" -t t -p "$pa"
wait_for 30 test "$(sql "SELECT next_offset FROM ingest_offsets WHERE partition = $pa")" = 1
# the commit of lost-1 never reached the disk
sql "DELETE FROM usage_events WHERE request_id = 'lost-1';
     UPDATE ingest_offsets SET next_offset = 0 WHERE partition = $pa" >/dev/null
kill -TERM "$bpid"
wait_for 40 grep -q "assigned partition $pb" "$TMP/a.log"
ev next-2 | kcat -P -b "$MB_BOOTSTRAP" -t t -p "$pa"
ev other-1 | kcat -P -b "$MB_BOOTSTRAP" -t t -p "$pb"
wait_for 30 test "$(sql "SELECT next_offset FROM ingest_offsets WHERE partition = $pa")" = 2
sleep 1
assert_eq 1 "$(sql "SELECT count(*) FROM usage_events WHERE request_id = 'lost-1'")" \
    "the message whose commit was lost read again"
assert_eq 1 "$(sql "SELECT count(*) FROM usage_events WHERE request_id = 'next-2'")" "the next one"
assert_eq "$(printf '0\t%s\n1\t%s' "$([ "$pa" = 0 ] && echo 2 || echo 1)" "$([ "$pa" = 1 ] && echo 2 || echo 1)")" \
    "$(stored_offsets g t)" "offsets at the end of both partitions"
kill -TERM "$INGEST_PID"
wait "$INGEST_PID"
assert_eq 0 $? "SIGTERM: exit 0"
finish
