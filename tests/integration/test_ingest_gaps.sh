#!/usr/bin/env bash
# Messages the broker deletes before tally-ingest reads them are a recorded loss
# (docs/architecture.md, "Losses"): tally-ingest stores 3 messages of a partition and
# stops; 7,000 more (~7.5 MiB, past the mock broker's ~5 MiB per partition) push the
# oldest unread ones out for real. On restart the jump from offset 3 to the low
# watermark is one ingest_gaps row written with the batch, the lost count in
# tally_ingest_lost_messages_total, one error line, and the monthly report marks every
# UTC month from the last event before the gap (January) to the first after it (March).
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
source "$SRC/tests/integration/report_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 1 --partitions 1 --topic gaps
TEST_PIDS+=("$MB_PID_STARTED")
mport=$(free_port)

# evs PREFIX FROM COUNT TIMESTAMP [PAD]: tally.usage/1 events PREFIX-FROM… at TIMESTAMP,
# each carrying PAD bytes in a field the parser ignores
evs() {
    python3 -c "
import json,sys
e=json.load(open(sys.argv[1]))
e=e[0] if isinstance(e,list) else e
pre, start, n, ts, pad = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
e['timestamp']=ts
if pad: e['padding']='x'*pad
for i in range(start, start+n):
    e['requestId']='%s-%d' % (pre, i)
    print(json.dumps(e))" "$SRC/tests/fixtures/events/usage-v1-stream.json" "$1" "$2" "$3" "$4" "${5:-0}"
}
stored_at() { [ "$(stored_offsets g gaps)" = "$(printf '0\t%s' "$1")" ]; }
metric() { curl -sf "http://127.0.0.1:$mport/metrics" | sed -n "s/^$1 //p"; }
watermark() { # watermark -2|-1: low or high watermark of gaps/0
    kcat -Q -b "$MB_BOOTSTRAP" -t "gaps:0:$1" 2>/dev/null | sed -n 's/^.* offset \([0-9-]*\)$/\1/p'
}

evs before 1 3 2026-01-20T10:00:00Z | kcat -P -b "$MB_BOOTSTRAP" -t gaps -p 0
start_ingest "$TMP/run1.log" gaps g --batch-size 500
wait_for 60 stored_at 3
assert_eq "$(printf '0\t3')" "$(stored_offsets g gaps)" "first run: the 3 messages stored"
echo "# $SECONDS s: first run stored"
kill -TERM "$INGEST_PID"; wait "$INGEST_PID"
echo "# $SECONDS s: first run stopped"
assert_eq 0 "$(sql 'SELECT count(*) FROM ingest_gaps')" "no gap in an unbroken run"

# tally-ingest is down: the broker deletes from the front what it has not read
evs after 1 7000 2026-03-05T08:00:00Z 1000 | kcat -P -b "$MB_BOOTSTRAP" -t gaps -p 0
low=$(watermark -2)
high=$(watermark -1)
assert_eq 7003 "$high" "7,003 messages produced"
assert_match '^[0-9]+$' "$low" "low watermark $low"
assert_eq yes "$([ "$low" -gt 3 ] && echo yes)" "the broker deleted unread messages (low watermark $low > 3)"
echo "# $SECONDS s: produced"
first_after=$((low - 3 + 1)) # the requestId number of the first message still held

start_ingest "$TMP/run2.log" gaps g --batch-size 500 --metrics-listen "127.0.0.1:$mport"
wait_for 90 stored_at "$high"
echo "# $SECONDS s: second run caught up"
assert_eq "$(printf '0\t%s' "$high")" "$(stored_offsets g gaps)" "second run: caught up"
assert_eq "g|gaps|0|3|$((low - 1))|2026-01-20 10:00:00+00|2026-03-05 08:00:00+00" \
    "$(sql "SELECT consumer_group, topic, partition, first_offset, last_offset,
                   last_event_before AT TIME ZONE 'UTC' || '+00', first_event_after AT TIME ZONE 'UTC' || '+00'
              FROM ingest_gaps")" "ingest_gaps: offsets 3 to low-1, the events around the gap"
assert_eq "$((3 + high - low))" "$(sql 'SELECT count(*) FROM usage_events')" \
    "usage_events: the 3 before and every message still held"
assert_eq 1 "$(sql "SELECT count(*) FROM usage_events WHERE request_id = 'after-$first_after'")" \
    "the first message after the gap is stored"
assert_eq "$((low - 3))" "$(metric tally_ingest_lost_messages_total)" "metric: the lost messages counted"
assert_match '^[1-9][0-9.e+]*$' "$(metric tally_ingest_last_loss_timestamp_seconds)" "metric: time of the loss"
assert_eq 1 "$(grep -c 'level=error' "$TMP/run2.log")" "one error line"
assert_match "lost $((low - 3)) messages of partition 0 of \\\\?\"gaps\\\\?\": offsets 3 to $((low - 1)) were deleted" \
    "$(grep 'level=error' "$TMP/run2.log")" "the error line names the range"
kill -TERM "$INGEST_PID"; wait "$INGEST_PID"
assert_eq 0 $? "SIGTERM: exit 0"

# a third run starts where the second stopped: no gap again
start_ingest "$TMP/run3.log" gaps g --batch-size 500
wait_for 30 grep -q 'assigned partition 0' "$TMP/run3.log"
evs late 1 2 2026-03-06T08:00:00Z | kcat -P -b "$MB_BOOTSTRAP" -t gaps -p 0
wait_for 60 stored_at $((high + 2))
kill -TERM "$INGEST_PID"; wait "$INGEST_PID"
assert_eq 1 "$(sql 'SELECT count(*) FROM ingest_gaps')" "a restart after the gap finds no new one"
assert_eq 0 "$(grep -c 'level=error' "$TMP/run3.log")" "and logs no error"

echo "# $SECONDS s: third run stopped"
# the monthly report marks January through March, not December or April
report_start
FIN=$(report_token finance fin)
for m in 2025-12 2026-01 2026-02 2026-03 2026-04; do
    GET "/v1/reports/monthly?month=$m&tz=UTC" "$FIN" >"$TMP/$m.json"
    echo "$m $(python3 -c "
import json,sys
d=json.load(open(sys.argv[1]))
print(d['complete'], [(g['partition'], g['first_offset'], g['last_offset'], g['lost_messages'],
      g['last_event_before'], g['first_event_after']) for g in d['gaps']])" "$TMP/$m.json")"
done >"$TMP/marks"
gap="[(0, 3, $((low - 1)), $((low - 3)), '2026-01-20T10:00:00.000000Z', '2026-03-05T08:00:00.000000Z')]"
assert_eq "2025-12 True []
2026-01 False $gap
2026-02 False $gap
2026-03 False $gap
2026-04 True []" "$(cat "$TMP/marks")" "JSON: complete is false with the gap in January to March only"
GET "/v1/reports/monthly?month=2026-02&tz=UTC&format=csv" "$FIN" >/dev/null
assert_eq "Tally-Complete: false; gaps=1; lost_messages=$((low - 3))" \
    "$(grep -i '^Tally-Complete:' "$TMP/h" | tr -d '\r')" "CSV: the response header says so"
GET "/v1/reports/monthly?month=2026-04&tz=UTC&format=csv" "$FIN" >/dev/null
assert_eq "Tally-Complete: true" "$(grep -i '^Tally-Complete:' "$TMP/h" | tr -d '\r')" \
    "CSV of a complete month"
# a local month overlapping a marked UTC month is marked too
GET "/v1/reports/monthly?month=2025-12&tz=Asia/Tokyo" "$FIN" >/dev/null
assert_eq 200 "$STATUS" "a zone ahead of UTC"
assert_eq True "$(python3 -c "import json;print(json.load(open('$TMP/body'))['complete'])")" \
    "December in Tokyo ends before January UTC begins"
GET "/v1/reports/monthly?month=2025-12&tz=America/New_York" "$FIN" >/dev/null
assert_eq False "$(python3 -c "import json;print(json.load(open('$TMP/body'))['complete'])")" \
    "December in New York ends 5 h into January UTC: marked"
finish
