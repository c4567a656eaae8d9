#!/usr/bin/env bash
# start_from=latest and a dropped batch: a partition with no stored offset must be read
# again from where this consumer began on it, not from the (by then later) end. The
# compare-and-set of partition 1 misses (its row is moved back behind the daemon), which
# drops a batch also holding partition 0's first five messages; all five must arrive.
# The linger (10 s) keeps both partitions' messages in that one batch.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 1 --partitions 2 --topic t
# produced before the daemon starts: start_from=latest skips them
ev old-0 | kcat -P -b "$MB_BOOTSTRAP" -t t -p 0
start_ingest "$TMP/ing.log" t g --start-from latest --batch-size 1000 --batch-linger-ms 10000
wait_for 30 grep -q 'assigned partition 1' "$TMP/ing.log"
ev p1-a | kcat -P -b "$MB_BOOTSTRAP" -t t -p 1
wait_for 30 test "$(sql "SELECT count(*) FROM ingest_offsets WHERE partition = 1")" = 1
# another consumer (or a lost asynchronous commit) left partition 1's row one behind
sql "UPDATE ingest_offsets SET next_offset = next_offset - 1 WHERE partition = 1" >/dev/null
echo "# $SECONDS s: producing"
ev p0-1 p0-2 p0-3 p0-4 p0-5 | kcat -P -b "$MB_BOOTSTRAP" -t t -p 0
ev p1-b | kcat -P -b "$MB_BOOTSTRAP" -t t -p 1
wait_for 40 grep -q 'is no longer 1: another consumer owns it' "$TMP/ing.log"
echo "# $SECONDS s: compare-and-set missed"
wait_for 30 offsets_caught_up g t 2
assert_eq "$(printf '0\t6\n1\t2')" "$(stored_offsets g t)" "offsets at the end of both partitions"
assert_eq 5 "$(sql "SELECT count(*) FROM usage_events WHERE request_id LIKE 'p0-%'")" \
    "partition 0's dropped messages read again"
assert_eq 0 "$(sql "SELECT count(*) FROM usage_events WHERE request_id = 'old-0'")" \
    "start_from=latest: the message before the start skipped"
assert_eq 2 "$(sql "SELECT count(*) FROM usage_events WHERE request_id LIKE 'p1-%'")" "partition 1"
kill -TERM "$INGEST_PID"
wait "$INGEST_PID"
assert_eq 0 $? "SIGTERM: exit 0"
finish
