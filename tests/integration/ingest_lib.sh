# shellcheck shell=bash
# Helpers shared by the tally-ingest integration and fault tests (sourced after lib.sh).

ING=${BIN:-}/ingest/tally-ingest

# end_offsets TOPIC NPARTS: "partition<TAB>high watermark" lines from the broker
end_offsets() {
    local args=() p
    for ((p = 0; p < $2; p++)); do args+=(-t "$1:$p:-1"); done
    kcat -Q -b "$MB_BOOTSTRAP" "${args[@]}" 2>/dev/null |
        sed -n 's/^.* \[\([0-9]*\)\] offset \([0-9-]*\)$/\1\t\2/p' | sort -n
}

# stored_offsets GROUP TOPIC: the same from ingest_offsets
stored_offsets() {
    sql "SELECT partition, next_offset FROM ingest_offsets
         WHERE consumer_group = '$1' AND topic = '$2' ORDER BY partition" | tr '|' '\t'
}

# offsets_caught_up GROUP TOPIC NPARTS: every partition stored at its high watermark
offsets_caught_up() {
    local want
    want=$(end_offsets "$2" "$3" | awk -F'\t' '$2 > 0')
    [ -n "$want" ] && [ "$(stored_offsets "$1" "$2")" == "$want" ]
}

# rollup_sums TABLE: developer, model and every summed column, as gen_events.py writes them
rollup_sums() {
    psql "$DB" -qAtX -F$'\t' -c "SELECT developer_oid, model, sum(requests), sum(input_tokens),
        sum(output_tokens), sum(cache_read_tokens), sum(cache_write_5m_tokens),
        sum(cache_write_1h_tokens), sum(cache_write_unsplit_tokens),
        coalesce(sum(requests) FILTER (WHERE long_context), 0)
        FROM $1 GROUP BY 1, 2 ORDER BY developer_oid COLLATE \"C\", model COLLATE \"C\""
}

# raw_sums: the same from usage_events
raw_sums() {
    psql "$DB" -qAtX -F$'\t' -c "SELECT developer_oid, model, count(*), sum(input_tokens),
        sum(output_tokens), sum(cache_read_tokens), sum(cache_write_5m_tokens),
        sum(cache_write_1h_tokens), sum(cache_write_unsplit_tokens),
        count(*) FILTER (WHERE long_context)
        FROM usage_events GROUP BY 1, 2 ORDER BY developer_oid COLLATE \"C\", model COLLATE \"C\""
}

reject_reasons() {
    psql "$DB" -qAtX -F$'\t' -c "SELECT reason, count(*) FROM ingest_rejects
        GROUP BY 1 ORDER BY reason COLLATE \"C\""
}

# assert_stored EXPECT_DIR: usage_events, both rollups and the rejects hold exactly what
# gen_events.py said they would
assert_stored() {
    assert_eq "$(cat "$1/distinct")" "$(sql 'SELECT count(*) FROM usage_events')" \
        "usage_events holds exactly the distinct valid events"
    assert_eq "$(cat "$1/rollup.tsv")" "$(raw_sums)" "raw sums per developer x model"
    assert_eq "$(cat "$1/rollup.tsv")" "$(rollup_sums usage_rollup_15m)" \
        "15-minute rollup sums equal the raw sums"
    assert_eq "$(cat "$1/rollup.tsv")" "$(rollup_sums usage_rollup_day)" \
        "daily rollup sums equal the raw sums"
    assert_eq "$(cat "$1/rejects.tsv")" "$(reject_reasons)" "ingest_rejects: exactly the malformed lines, by reason"
}

# The mock broker's group coordinator waits for the members' session and rebalance
# timeouts before a new member gets partitions: keep them short in tests.
KAFKA_FAST=(-X session.timeout.ms=6000 -X max.poll.interval.ms=10000 -X heartbeat.interval.ms=500)

# start_ingest LOG TOPIC GROUP [ARGS…]: runs a daemon in the background; sets INGEST_PID
start_ingest() {
    local log=$1 topic=$2 group=$3
    shift 3
    "$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic "$topic" --group "$group" \
        --metrics-listen "" "${KAFKA_FAST[@]}" "$@" 2>>"$log" &
    INGEST_PID=$!
    TEST_PIDS+=("$INGEST_PID")
}

# produce_lines FILE FROM COUNT TOPIC: lines FROM..FROM+COUNT-1 of a keyed file
produce_lines() {
    tail -n +"$2" "$1" | head -n "$3" | kcat -P -b "$MB_BOOTSTRAP" -t "$4" -K$'\t'
}

# ev ID[:INPUT_TOKENS]…: the tally.usage/1 fixture event once per argument, with that
# requestId (and input token count); "-" prints a line that is not JSON
ev() {
    python3 -c "
import json,sys
e=json.load(open(sys.argv[1]))
e=e[0] if isinstance(e,list) else e
for a in sys.argv[2:]:
    if a == '-':
        print('not json'); continue
    i, _, t = a.partition(':')
    e['requestId']=i
    if t: e['usage']['input_tokens']=int(t)
    print(json.dumps(e))" "$SRC/tests/fixtures/events/usage-v1-stream.json" "$@"
}
