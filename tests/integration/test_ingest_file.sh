#!/usr/bin/env bash
# tally-ingest --from-file: JSON lines, standard input, one JSON document spanning lines
# and an Azure Monitor blob export (one record per line), each exactly once: running the
# same input again inserts nothing and stores no reject twice. The summary line is exact.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
FIX=$SRC/tests/fixtures/events
python3 "$SRC/tests/integration/gen_events.py" --events 5000 --dup-pct 10 --bad-pct 1 --seed 5 \
    --out "$TMP/events.jsonl" --expect "$TMP/expect"
distinct=$(cat "$TMP/expect/distinct")
bad=$(cat "$TMP/expect/bad")

t0=$(date +%s%N)
out=$("$ING" --db "$DB" --from-file "$TMP/events.jsonl" --batch-size 1000 2>"$TMP/log"); rc=$?
t1=$(date +%s%N)
echo "# 5,000 lines in $(((t1 - t0) / 1000000)) ms"
assert_eq 0 "$rc" "first run: exit 0"
assert_eq "read=5000 inserted=$distinct duplicates=$((5000 - distinct - bad)) rejected=$bad" "$out" \
    "first run: summary line"
assert_stored "$TMP/expect"
assert_eq "$bad" "$(sql "SELECT count(*) FROM ingest_rejects WHERE source LIKE '%events.jsonl:%'
    AND source_key ~ '^file:[0-9a-f]{64}:[0-9]+$'")" \
    "rejects keyed by the line's SHA-256 and number"

out=$("$ING" --db "$DB" --from-file "$TMP/events.jsonl" 2>>"$TMP/log"); rc=$?
assert_eq 0 "$rc" "second run: exit 0"
assert_eq "read=5000 inserted=0 duplicates=$((5000 - bad)) rejected=$bad" "$out" "second run inserts nothing"
out=$("$ING" --db "$DB" --from-file - <"$TMP/events.jsonl" 2>>"$TMP/log"); rc=$?
assert_eq 0 "$rc" "standard input: exit 0"
assert_eq "read=5000 inserted=0 duplicates=$((5000 - bad)) rejected=$bad" "$out" "standard input: the same file, nothing new"
assert_stored "$TMP/expect"

# one document spanning lines: a pretty-printed legacy array
out=$("$ING" --db "$DB" --from-file "$FIX/legacy-array.json" 2>>"$TMP/log")
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$FIX/legacy-array.json")
assert_match "^read=$n inserted=[1-9]" "$out" "one JSON document spanning lines is parsed whole"
out=$("$ING" --db "$DB" --from-file "$FIX/legacy-array.json" 2>>"$TMP/log")
assert_match "^read=$n inserted=0 " "$out" "one document again: nothing new"

# an Azure Monitor record document: two chunks of one LLM record and its GatewayLogs
out=$("$ING" --db "$DB" --from-file "$FIX/monitor-records.json" 2>>"$TMP/log")
assert_eq "read=3 inserted=1 duplicates=0 rejected=0" "$out" "monitor document: chunks counted once, joined"
assert_eq "a1b2c3d4-1111-4222-8333-444455556666|ana.lima@contoso.example|42|1873|88412|t" \
    "$(sql "SELECT developer_oid, developer_upn, input_tokens, output_tokens, cache_read_tokens,
            cache_write_unknown FROM usage_events WHERE request_id = 'c0ffee00-1234-4abc-8def-0123456789ab'")" \
    "monitor document: the joined event"

# a blob export: one record per line, gateway record first
python3 - "$FIX/monitor-records.json" "$TMP/PT1H.json" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
with open(sys.argv[2], "w") as f:
    for r in reversed(recs):
        r["properties"]["correlationId"] = "blob-1"
        f.write(json.dumps(r) + "\n")
    f.write("not json\n")
PY
out=$("$ING" --db "$DB" --from-file "$TMP/PT1H.json" 2>>"$TMP/log")
assert_eq "read=4 inserted=1 duplicates=0 rejected=1" "$out" "blob export: record per line, caller first"
assert_eq "1|42" "$(sql "SELECT count(*), sum(input_tokens) FROM usage_events WHERE request_id = 'blob-1'")" "blob export: one event"
assert_eq "$(wc -l <"$TMP/expect/rollup.tsv")" "$(rollup_sums usage_rollup_15m | grep -c '^dev-')" "rollups unchanged for the generated developers"
assert_eq "$(sql 'SELECT count(*), sum(input_tokens) FROM usage_events')" \
    "$(sql 'SELECT sum(requests), sum(input_tokens) FROM usage_rollup_15m')" "rollups equal raw rows after every input"
assert_eq "0 0" "$(sql 'SELECT count(*) FROM ingest_monitor_llm') $(sql 'SELECT count(*) FROM ingest_monitor_gateway')" \
    "no monitor halves left pending"

out=$("$ING" --db "$DB" --from-file "$TMP/missing" 2>"$TMP/err"); rc=$?
assert_eq 1 "$rc" "missing file: exit 1"
assert_match 'could not open' "$(cat "$TMP/err")" "missing file: says so"
finish
