#!/usr/bin/env bash
# The chargeback against an independent calculation (issue 10): a month of today's mixed
# Claude Code traffic (tallyctl simulate: Opus / Sonnet / Haiku 5.5 with subagents and advisor
# iterations, fast mode, US-only inference, a US Data Zone Foundry deployment, prompts on both
# sides of every band) plus the cases a simulated month may miss (price_calc.py events: every
# tier edge at threshold - 1, threshold and + 1, the first and last instants of the month in
# each zone, deployment-only events, aliases, dated and fast aliases, a model no book knows,
# residency classes a book does not list, fast usage without fast prices, unsplit cache
# writes, iterations), ingested by the real tally-ingest. For the Anthropic list book and for
# the v2 test fixture (tiers at 100000 and 200000, fast by multiplier and explicit, residency),
# in UTC, Asia/Kolkata and America/New_York, /v1/reports/monthly must equal, row by row
# (developer x model x priced: requests, every token column, cost_usd as exact decimals),
# what price_calc.py computes with Python's Decimal from the book's JSON file, the raw
# usage_events and the deployments table -- never from the engine's SQL. The month's priced
# total must also equal /v1/costs and the Grafana views (reporting.costs_day for the UTC month,
# reporting.costs_15m for a local month) read as tally_reader.
#
# Iterations: Anthropic's top-level usage does NOT sum usage.iterations[]. The Claude API
# docs' compaction example ("Compaction at a token threshold") shows top-level input_tokens
# 23000 with an iterations[] entry of 180000 input tokens beside it that the top level leaves
# out: the top level is the final message iteration's usage, and each iteration (a compaction
# or advisor_message sub-inference, billed at its own model's rates) is billed on its own. So
# a request with iterations is priced per iteration (its model, its prompt's tier) and the top
# level is not added again; the request counts once, under the response's model.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/report_lib.sh"
CTL=$BIN/ctl/tallyctl
CALC=$SRC/tests/integration/price_calc.py
MONTH=2026-12
ZONES=(UTC Asia/Kolkata America/New_York)

BOOK=$SRC/schema/prices/anthropic-list-2026-12.json
[ -f "$BOOK" ] || BOOK=$SRC/schema/prices/pending/anthropic-list-2026-12.json
FIXTURE=$SRC/tests/fixtures/prices/v2-fixture.json
"$PY" "$CALC" selftest "$FIXTURE"
assert_eq 0 $? "price_calc.py prices the hand-computed cases exactly"
book_name() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['name'])" "$1"; }

new_db
# the fixture first: the Anthropic book (same published date, loaded later) is the newest,
# the one the Grafana views price with
"$CTL" --db "$DB" prices load "$FIXTURE" >/dev/null
assert_eq 0 $? "the v2 fixture book loads"
"$CTL" --db "$DB" prices load "$BOOK" >/dev/null
assert_eq 0 $? "$(basename "$BOOK") loads"
# the simulator's Foundry deployments (no inference_geo: the mapping gives the residency),
# and three that carry events without a model
for dep in "claude-sonnet-5-5-us claude-sonnet-5-5 --residency data-zone-us" \
    "claude-opus-5-5-fast claude-opus-5-5-fast" "fz-sonnet claude-sonnet-5-5 --residency data-zone-us" \
    "fz-opus claude-opus-5-5 --residency us" "fz-haiku test-haiku-20261007 --residency data-zone-us"; do
    # shellcheck disable=SC2086 # one word per argument
    "$CTL" --db "$DB" deployments set $dep --from 2026-01-01 >/dev/null || echo "FAIL - deployments set $dep"
done

# a month and the edge hours of the other zones: 2026-11-30 .. 2027-01-01 UTC
"$CTL" simulate --developers 6 --days 33 --start 2026-11-30 --seed 42 --duplicates 1 --malformed 0 \
    --developers-csv "$TMP/roster.csv" >"$TMP/sim.jsonl" 2>"$TMP/sim.err"
assert_eq 0 $? "simulate exits 0"
"$PY" "$CALC" events >"$TMP/edge.jsonl"
assert_eq 0 $? "price_calc.py writes the edge events"
"$CTL" --db "$DB" developers import "$TMP/roster.csv" >/dev/null
for f in sim edge; do
    "$BIN/ingest/tally-ingest" --db "$DB" --from-file "$TMP/$f.jsonl" >"$TMP/ingest-$f.out" 2>&1
    assert_eq 0 $? "tally-ingest backfills $f.jsonl"
done
events=$(sed -n 's/.*\bevents=\([0-9]*\).*/\1/p' "$TMP/sim.err")
assert_eq "$((events + $(wc -l <"$TMP/edge.jsonl")))" "$(sql 'SELECT count(*) FROM usage_events')" \
    "every distinct event stored once"
assert_eq 0 "$(sql 'SELECT count(*) FROM ingest_rejects')" "no event refused"
# today's mix is all there in the month, every feature with it
for m in claude-opus-5-5 claude-sonnet-5-5 claude-haiku-5-5 claude-opus-5-5-fast; do
    assert_eq t "$(sql "SELECT count(*) > 100 FROM usage_events WHERE model = '$m'
        AND event_time >= '2026-12-01' AND event_time < '2027-01-01'")" "the month has $m traffic"
done
assert_eq "t|t|t|t" "$(sql "SELECT bool_or(speed = 'fast'), bool_or(inference_geo = 'us'),
    bool_or(iterations IS NOT NULL), bool_or(deployment = 'claude-sonnet-5-5-us')
    FROM usage_events WHERE source_format = 1 AND request_id NOT LIKE '%-edge-%'")" \
    "the simulated month has fast mode, US-only inference, iterations and the data-zone deployment"

# the raw material of the independent calculation: events and deployments as stored
PGTZ=UTC psql "$DB" -qAtX -v ON_ERROR_STOP=1 -c "COPY (SELECT request_id, developer_oid, event_time,
    model, deployment, speed, inference_geo, input_tokens, output_tokens, cache_read_tokens,
    cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens, iterations
    FROM usage_events) TO STDOUT WITH (FORMAT csv, HEADER)" >"$TMP/events.csv"
PGTZ=UTC psql "$DB" -qAtX -v ON_ERROR_STOP=1 -c "COPY (SELECT name, model, valid_from, valid_to,
    residency FROM deployments) TO STDOUT WITH (FORMAT csv, HEADER)" >"$TMP/deployments.csv"

report_start
FIN=$(report_token finance calc-finance)

# check BOOK MONTH TZ [EXTRA NAME=TOTAL…]: the report of that month against price_calc.py
check() {
    local book=$1 month=$2 tz=$3 name lo hi costs
    shift 3
    name=$(book_name "$book")
    GET "/v1/reports/monthly?month=$month&tz=$tz&price_book=$name" "$FIN" >"$TMP/report.json"
    assert_eq 200 "$STATUS" "$name $month $tz: the monthly report answers"
    GET "/v1/costs?from=$month-01&to=$(date -u -d "$month-01 +1 month" +%F)&tz=$tz&group_by=&price_book=$name" \
        "$FIN" >"$TMP/costs.json"
    assert_eq 200 "$STATUS" "$name $month $tz: /v1/costs answers"
    costs=$(json "j['totals']['cost_usd']")
    "$PY" "$CALC" check "$book" "$TMP/events.csv" "$TMP/deployments.csv" "$month" "$tz" \
        "$TMP/report.json" "/v1/costs=$costs" "$@"
    FAILS=$((FAILS + $?))
}

# grafana ZONE: the month's priced cost summed over the views, as Grafana's role reads them
grafana() {
    if [ "$1" = UTC ]; then
        sql "SET ROLE tally_reader; SELECT coalesce(sum(cost_usd), 0) FROM reporting.costs_day
             WHERE day >= '$MONTH-01' AND day < timestamptz '$MONTH-01 00:00+00' + interval '1 month'"
    else
        sql "SET ROLE tally_reader; SELECT coalesce(sum(cost_usd), 0) FROM reporting.costs_15m
             WHERE bucket >= ('$MONTH-01'::timestamp AT TIME ZONE '$1')
               AND bucket < (('$MONTH-01'::timestamp + interval '1 month') AT TIME ZONE '$1')"
    fi
}

for tz in "${ZONES[@]}"; do
    check "$BOOK" "$MONTH" "$tz" "reporting.costs_$([ "$tz" = UTC ] && echo day || echo 15m)=$(grafana "$tz")"
    check "$FIXTURE" "$MONTH" "$tz"
    check "$FIXTURE" 2026-10 "$tz" # test-opus's price change on 2026-10-07, explicit fast rates
done
finish
