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

# prompt bands, speed, residency and iterations: the event keeps what pricing needs, the
# rollups sum its parts. iter-1 (fast, geo us) has an advisor iteration on Sonnet 5.5
# (prompt 98000 + 2000 + 1 = 100001: band 3), the final message on Opus 5.5 (64200: band 2)
# and one without a model (20 tokens: band 0, the response's model, counted as the request)
out=$("$ING" --db "$DB" --from-file "$FIX/usage-v1-iterations.json" 2>>"$TMP/log")
assert_eq "read=1 inserted=1 duplicates=0 rejected=0" "$out" "iterations: one event"
assert_eq "fast|us|64200|3|message|claude-sonnet-5-5|1" \
    "$(sql "SELECT speed, inference_geo, prompt_tokens, jsonb_array_length(iterations), iterations->1->>'type',
                   iterations->0->>'model', (iterations->0->>'cache_write_unsplit_tokens')::int
              FROM usage_events WHERE request_id = 'iter-1'")" "iterations: speed, geo, prompt size and the parsed list stored"
parts() { sql "SELECT string_agg(concat_ws(' ', model, prompt_band, speed, residency, long_context, requests,
                      input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,
                      cache_write_1h_tokens, cache_write_unsplit_tokens), ',' ORDER BY model, prompt_band)
                 FROM $1 WHERE developer_oid = '0b1c2d3e-0000-4000-8000-000000000001'"; }
want="claude-opus-5-5 0 fast us f 1 5 6 8 0 0 7,claude-opus-5-5 2 fast us f 0 1200 800 60000 2000 1000 0,claude-sonnet-5-5 3 fast us f 0 98000 350 2000 0 0 1"
for t in usage_rollup_15m usage_rollup_day usage_rollup_month; do
    assert_eq "$want" "$(parts $t)" "iterations: $t holds one row per part (model x band), the request once"
done
# the 200k edge: 200001 is band 5 (long context), exactly 200000 band 4
"$ING" --db "$DB" --from-file "$FIX/usage-v1-long-context.json" >/dev/null 2>>"$TMP/log"
assert_eq "4 f 1,5 t 2" "$(sql "SELECT string_agg(concat_ws(' ', prompt_band, long_context, requests), ',' ORDER BY prompt_band)
                                  FROM usage_rollup_day WHERE model = 'claude-sonnet-4-5' AND day = '2026-10-14'")" \
    "long-context fixture: bands 4 and 5 either side of 200,000, long_context follows the band"

# token counts at and over the documented maximum (10^12 per field and event): the maximum
# is stored, one more is a reject naming the field and the maximum, with the raw line
cat >"$TMP/big.jsonl" <<'EOF'
{"schema":"tally.usage/1","requestId":"max-1","timestamp":"2026-10-14T09:12:33Z","model":"claude-sonnet-4-6","usage":{"input_tokens":1000000000000,"output_tokens":1}}
{"schema":"tally.usage/1","requestId":"max-2","timestamp":"2026-10-14T09:12:33Z","model":"claude-sonnet-4-6","usage":{"input_tokens":1,"output_tokens":1000000000001}}
{"id":"max-3","timestamp":"5/24/2024 2:45:56 PM","model":"claude-haiku-4-5","endUserId":"u","promptTokens":"5000000000000000000","responseTokens":"1"}
{"schema":"tally.usage/1","requestId":"max-4","timestamp":"2026-10-14T09:12:33Z","model":"claude-sonnet-4-6","usage":{"input_tokens":99999999999999999999,"output_tokens":1}}
EOF
out=$("$ING" --db "$DB" --from-file "$TMP/big.jsonl" 2>>"$TMP/log")
assert_eq "read=4 inserted=1 duplicates=0 rejected=3" "$out" "counts over the maximum: three rejects"
assert_eq "1000000000000|1" "$(sql "SELECT input_tokens, output_tokens FROM usage_events WHERE request_id = 'max-1'")" \
    "a count of exactly 10^12 is stored"
assert_eq "big.jsonl:2|token count in \"output_tokens\" over the maximum 1000000000000|$(sed -n 2p "$TMP/big.jsonl")
big.jsonl:3|token count in \"promptTokens\" over the maximum 1000000000000|$(sed -n 3p "$TMP/big.jsonl")
big.jsonl:4|invalid JSON: too big integer near '99999999999999999999'|$(sed -n 4p "$TMP/big.jsonl")" \
    "$(sql "SELECT regexp_replace(source, '^.*/', ''), reason, convert_from(raw, 'UTF8') FROM ingest_rejects
            WHERE source LIKE '%big.jsonl:%' ORDER BY source")" \
    "the reject rows: source, a reason naming the field and the maximum, the raw line"

out=$("$ING" --db "$DB" --from-file "$TMP/missing" 2>"$TMP/err"); rc=$?
assert_eq 1 "$rc" "missing file: exit 1"
assert_match 'could not open' "$(cat "$TMP/err")" "missing file: says so"
finish
