#!/usr/bin/env bash
# Reconciliation with the Azure bill (issue 12 item 4): tallyctl reconcile map / import of the
# Cost Management FOCUS exports in tests/fixtures/azure/ (README there), GET /v1/reconciliation
# flagging exactly the days the fixture perturbs, with exact deltas; a re-imported file adds
# nothing, the next month-to-date run (FOCUS 1.0 dates) replaces the first; bad files exit 2,
# an unreachable database 1; the tolerance key; the gauges; the Grafana view as tally_reader.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
CTL=$BIN/ctl/tallyctl
AZ=$SRC/tests/fixtures/azure
SUB=/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-claude/providers/Microsoft.CognitiveServices/accounts
A=$SUB/foundry-eus2
B=$SUB/foundry-swc
"$CTL" --db "$DB" prices load "$SRC/tests/fixtures/reports/book-a.json" >/dev/null

# Metered (book fixture-a, sonnet input 3 / output 15 per million): dep-a 1000000 input tokens
# a day on 2026-11-01..05 (3 a day), dep-b 100000 output tokens on 01..04 (1.5 a day), dep-c
# (mapped to no resource) 1000000 input on 02 (3).
sql "INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, long_context, prompt_band, speed,
         residency, requests, input_tokens, output_tokens, cache_read_tokens)
     SELECT d + interval '9 hours', 'dev-r', 'claude-sonnet-4-6', 'dep-a', false, 0, 'standard', '', 1, 1000000, 0, 0
       FROM generate_series(timestamptz '2026-11-01', '2026-11-05', interval '1 day') d
     UNION ALL
     SELECT d + interval '10 hours', 'dev-r', 'claude-sonnet-4-6', 'dep-b', false, 0, 'standard', '', 1, 0, 100000, 0
       FROM generate_series(timestamptz '2026-11-01', '2026-11-04', interval '1 day') d
     UNION ALL
     SELECT '2026-11-02T11:00:00Z', 'dev-r', 'claude-sonnet-4-6', 'dep-c', false, 0, 'standard', '', 1, 1000000, 0, 0;
     INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, long_context, prompt_band, speed,
         residency, requests, input_tokens, output_tokens, cache_read_tokens)
     SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, long_context, prompt_band, speed,
            residency, sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens)
       FROM usage_rollup_15m GROUP BY 1, 2, 3, 4, 5, 6, 7, 8" >/dev/null

# the mapping: Azure compares resource ids case-insensitively, so does the reconciliation
assert_eq "deployment \"dep-a\" -> $A" "$("$CTL" --db "$DB" reconcile map dep-a "$A")" "map dep-a"
lower_b=$(tr 'A-Z' 'a-z' <<<"$B")
assert_eq "deployment \"dep-b\" -> $lower_b" "$("$CTL" --db "$DB" reconcile map dep-b "$lower_b")" "map dep-b, lower case"
out=$("$CTL" --db "$DB" reconcile map dep-x not-a-resource 2>&1); rc=$?
assert_eq "2" "$rc" "a resource id that is not an ARM id: exit 2"
assert_match 'invalid resource id \\"not-a-resource\\"' "$out" "... naming it"

# bad files: nothing imported, exit 2, the line named
head -1 "$AZ/focus-1.2-2026-11.csv" | sed 's/^BilledCost,/Cost,/' >"$TMP/nocol.csv"
out=$("$CTL" --db "$DB" reconcile import "$TMP/nocol.csv" 2>&1); rc=$?
assert_eq "2" "$rc" "a file without BilledCost: exit 2"
assert_match 'line 1: no column \\"BilledCost\\": not a Cost Management FOCUS export' "$out" "... naming the column"
sed '4s/2026-11-02T00:00:00Z/2026-11-31T00:00:00Z/' "$AZ/focus-1.2-2026-11.csv" >"$TMP/baddate.csv"
out=$("$CTL" --db "$DB" reconcile import "$TMP/baddate.csv" 2>&1); rc=$?
assert_eq "2" "$rc" "a charge period that is no date: exit 2"
assert_match 'baddate.csv: record 4: ChargePeriodStart \\"2026-11-31T00:00:00Z\\" is not a UTC date/time' "$out" \
    "... naming the record and the value"
assert_match 'nothing imported' "$out" "... and saying nothing was imported"
{ cat "$AZ/focus-1.2-2026-11.csv"; printf '1,"unterminated\r\n'; } >"$TMP/quote.csv"
out=$("$CTL" --db "$DB" reconcile import "$TMP/quote.csv" 2>&1); rc=$?
assert_eq "2" "$rc" "a malformed quote: exit 2"
assert_match 'quote.csv: line 14: malformed quotes' "$out" "... naming the line"
out=$("$CTL" --db "$DB" reconcile import "$TMP/missing.csv" 2>&1); rc=$?
assert_eq "2" "$rc" "a file that does not exist: exit 2"
out=$("$CTL" --db "host=127.0.0.1 port=1 user=nobody connect_timeout=1" reconcile import "$AZ/focus-1.2-2026-11.csv" 2>&1); rc=$?
assert_eq "1" "$rc" "the database unreachable: exit 1"
assert_eq "0|0" "$(sql "SELECT (SELECT count(*) FROM azure_cost_rows), (SELECT count(*) FROM azure_cost_imports)")" \
    "nothing was stored by the refused imports"

# the first month-to-date run (FOCUS 1.2): 12 rows, 10 Claude charges, 9 on mapped resources
out=$("$CTL" --db "$DB" reconcile import "$AZ/focus-1.2-2026-11.csv"); rc=$?
assert_eq "0
import 1: 12 rows, 10 Claude charges, 9 attributed to a Foundry resource, 1 not; the bill of 2026-11
not attributed: $SUB/foundry-unmapped	1 rows	3 USD (tallyctl reconcile map DEPLOYMENT RESOURCE_ID)" \
    "$rc
$out" "import: counts, and the charge that cannot be attributed"
out=$("$CTL" --db "$DB" reconcile import "$AZ/focus-1.2-2026-11.csv"); rc=$?
assert_eq "0 already imported (import 1): nothing changed" "$rc $out" "the same file again: a no-op"
assert_eq "12|1" "$(sql "SELECT (SELECT count(*) FROM azure_cost_rows), (SELECT count(*) FROM azure_cost_imports)")" \
    "still 12 rows in one import"

report_start
FIN=$(report_token finance fin)
DEV=$(report_token developer dev --developer dev-r)
rows() { "$PY" - "$1" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline='')):
    print(','.join([r['day'], r['resource_name'], r['deployments'], r['metered_cost_usd'], r['billed_cost_usd'],
                    r['delta_usd'], r['delta_pct'], r['outside_tolerance'], r['billed_rows']]))
PY
}
GET "/v1/reconciliation?month=2026-11&format=csv" "$FIN" >"$TMP/r.csv"
assert_eq 200 "$STATUS" "reconciliation CSV: 200"
assert_eq "day,resource_id,resource_name,deployments,metered_cost_usd,billed_cost_usd,delta_usd,delta_pct,outside_tolerance,tolerance_pct,unpriced_requests,billed_rows" \
    "$(head -1 "$TMP/r.csv" | tr -d '\r')" "the columns"
assert_eq "2026-11-01,foundry-eus2,dep-a,3,3,0,0,false,2
2026-11-01,foundry-swc,dep-b,1.5,1.5,0,0,false,1
2026-11-02,foundry-eus2,dep-a,3,3.02,0.02,0.67,false,1
2026-11-02,foundry-swc,dep-b,1.5,1.2,-0.3,-20,true,1
2026-11-02,,dep-c,3,3,0,0,false,1
2026-11-03,foundry-eus2,dep-a,3,3.5,0.5,16.67,true,1
2026-11-03,foundry-swc,dep-b,1.5,1.5,0,0,false,1
2026-11-04,foundry-eus2,dep-a,3,3,0,0,false,1
2026-11-04,foundry-swc,dep-b,1.5,1.515,0.015,1,false,1
2026-11-05,foundry-eus2,dep-a,3,,,,,0" "$(rows "$TMP/r.csv")" \
    "per resource and day: exactly 11-02 (swc, -0.3) and 11-03 (eus2, +0.5) outside 1 %; +1 % exactly is inside; the other publisher's meter and the tax row ignored; 11-05 not billed yet"
assert_eq "$lower_b" "$("$PY" -c "import csv; print([r for r in csv.DictReader(open('$TMP/r.csv'))][1]['resource_id'])")" \
    "a resource id as its mapping spells it"
GET "/v1/reconciliation?month=2026-11" "$FIN" >/dev/null
assert_eq "24 21.235 0.235 1 2026-11 1 2026-11-05T00:00:00Z" \
    "$(json "j['totals']['metered_cost_usd'], j['totals']['billed_cost_usd'], j['totals']['delta_usd'], j['tolerance_pct'], j['bills'][0]['billing_period'], j['bills'][0]['import'], j['bills'][0]['covered_to']")" \
    "JSON: exact totals, the tolerance, the bill and how far it reaches"
assert_eq "[('2026-11-02', 'foundry-swc'), ('2026-11-03', 'foundry-eus2')]" \
    "$(json "[(r['day'], r['resource_name']) for r in j['rows'] if r['outside_tolerance']]")" "JSON: the flagged days"
GET "/metrics" >"$TMP/metrics"
assert_eq "tally_reconciliation_days_outside_tolerance{month=\"2026-11\",resource_id=\"\"} 0
tally_reconciliation_days_outside_tolerance{month=\"2026-11\",resource_id=\"$A\"} 1
tally_reconciliation_days_outside_tolerance{month=\"2026-11\",resource_id=\"$lower_b\"} 1" \
    "$(grep '^tally_reconciliation_days_outside_tolerance' "$TMP/metrics" | LC_ALL=C sort)" "gauge: days outside tolerance per resource"
assert_eq "tally_reconciliation_delta_percent{month=\"2026-11\",resource_id=\"$A\"} 4.3333" \
    "$(grep "^tally_reconciliation_delta_percent.*eus2" "$TMP/metrics")" "gauge: (12.52 - 12) / 12 over the billed days of eus2"
GET "/v1/reconciliation?month=2026-11" "$DEV" >/dev/null
assert_eq 403 "$STATUS" "a developer token: 403"
GET "/v1/reconciliation" "$FIN" >/dev/null
assert_eq "400 month" "$STATUS $(json "j['parameter']")" "no month: 400 naming month"
GET "/v1/reconciliation?month=2026-13" "$FIN" >/dev/null
assert_eq 400 "$STATUS" "no such month: 400"
GET "/v1/reconciliation?month=2026-10&format=csv" "$FIN" >"$TMP/oct.csv"
assert_eq "200 1" "$STATUS $(wc -l <"$TMP/oct.csv")" "a month without usage or bill: the header only"

# the Grafana view, as tally_reader (the session has no tolerance set: 1)
assert_eq "2026-11-02|foundry-swc|-0.3
2026-11-03|foundry-eus2|0.5" \
    "$(sql "SET ROLE tally_reader; SELECT day, resource_name, delta_usd FROM reporting.reconciliation_daily WHERE outside_tolerance ORDER BY day")" \
    "reporting.reconciliation_daily as tally_reader"

# the tolerance key: 17 % leaves only the -20 % day; a bad value stops the server (exit 2)
kill "$REPORT_PID"; wait "$REPORT_PID" 2>/dev/null
report_start --reconcile-tolerance-pct 17
GET "/v1/reconciliation?month=2026-11" "$FIN" >/dev/null
assert_eq "17 [('2026-11-02', 'foundry-swc')]" \
    "$(json "j['tolerance_pct'], [(r['day'], r['resource_name']) for r in j['rows'] if r['outside_tolerance']]")" \
    "reconcile_tolerance_pct=17: only the -20 % day"
for bad in 101 abc 1.23456 -1; do
    out=$("$BIN/report/tally-report" --db "$DB" --reconcile-tolerance-pct "$bad" 2>&1); rc=$?
    assert_eq "2 1" "$rc $(grep -c 'invalid value for "reconcile_tolerance_pct"' <<<"$out")" "reconcile_tolerance_pct=$bad: exit 2 naming the key"
done

# the next day's run (FOCUS 1.0 column set and dates, 2026-11-01T00:00Z): replaces the first as
# the bill of 2026-11 (day 3 corrected, day 5 billed at +0.1), nothing counted twice
out=$("$CTL" --db "$DB" reconcile import "$AZ/focus-1.0-2026-11-run2.csv"); rc=$?
assert_match "^import 2: 13 rows, 11 Claude charges, 10 attributed to a Foundry resource, 1 not; the bill of 2026-11" "$out" "run 2 imported"
GET "/v1/reconciliation?month=2026-11" "$FIN" >/dev/null
assert_eq "24 23.835 [('2026-11-02', 'foundry-swc')] [('2026-11-03', '0', False), ('2026-11-05', '0.1', False)] 2 2026-11-06T00:00:00Z" \
    "$(json "j['totals']['metered_cost_usd'], j['totals']['billed_cost_usd'], [(r['day'], r['resource_name']) for r in j['rows'] if r['outside_tolerance']], [(r['day'], r['delta_usd'], r['outside_tolerance']) for r in j['rows'] if r['resource_name'] == 'foundry-eus2' and r['day'] in ('2026-11-03', '2026-11-05')], j['bills'][0]['import'], j['bills'][0]['covered_to']")" \
    "after run 2 (tolerance 17): billed 21.235 - 0.5 + 3.1, day 3 corrected, day 5 billed (+0.1), run 1 not counted"
GET "/v1/reconciliation?month=2026-11&format=csv" "$FIN" >"$TMP/r2.csv"
assert_eq "2026-11-05,foundry-eus2,dep-a,3,3.1,0.1,3.33,false,1" "$(rows "$TMP/r2.csv" | grep 2026-11-05)" \
    "day 5: +3.33 %, inside 17 %"
assert_eq "2026-11-02|foundry-swc|-0.3
2026-11-05|foundry-eus2|0.1" \
    "$(sql "SET ROLE tally_reader; SELECT day, resource_name, delta_usd FROM reporting.reconciliation_daily WHERE outside_tolerance ORDER BY day")" \
    "run 2 at the default 1 % (the Grafana view): day 5 flagged, day 3 no more"
assert_eq "25" "$(sql "SELECT count(*) FROM azure_cost_rows")" "both runs kept (12 + 13 rows)"
assert_eq "import	rows_total	rows_claude	rows_attributed	bill_of
1	12	10	9	
2	13	11	10	2026-11" "$("$CTL" --db "$DB" reconcile imports | cut -f1,3-6)" "reconcile imports"
finish
