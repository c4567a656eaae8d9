#!/usr/bin/env bash
# The Grafana dashboards (dashboards/grafana/*.json) against a seeded month: every panel's and
# every variable's SQL, with Grafana's macros and variables expanded as Grafana expands them
# (tests/integration/grafana_sql.py), runs as a login in the read-only role tally_reader and
# returns the expected columns and non-empty rows; a range without data gives nothing; per-
# team, per-developer and per-model results add up to All; and the dashboards' cost equals
# the cost engine's (tally_usage_priced) for the month. Plus the JSON checks.
source "$(dirname "$0")/../lib.sh"
need_env
CTL=$BIN/ctl/tallyctl
ING=$BIN/ingest/tally-ingest
HELPER=$SRC/tests/integration/grafana_sql.py

out=$(python3 "$HELPER" --db "" --dashboards "$SRC/dashboards/grafana" --src "$SRC" --json-only 2>&1)
rc=$?
echo "$out" | grep -E '^(FAIL|ok)' | grep -c '^ok' | sed 's/^/json checks passed: /'
echo "$out" | grep '^FAIL' || true
assert_eq 0 "$rc" "JSON checks of the dashboards and provisioning"

new_db
READER="g_${TEST_DB}" TEAM_LOGIN="gt_${TEST_DB}"
reader_cleanup() {
    local rc=$?
    psql "$TALLY_TEST_PG dbname=postgres" -qAtc "DROP ROLE IF EXISTS \"$READER\"" >/dev/null 2>&1
    psql "$TALLY_TEST_PG dbname=postgres" -qAtc "DROP ROLE IF EXISTS \"$TEAM_LOGIN\"" >/dev/null 2>&1
    (exit $rc)
    test_cleanup
}
trap reader_cleanup EXIT

# ---- a seeded month: October 2026, 3 developers in 3 teams, through the real tools
"$CTL" simulate --developers 3 --teams 3 --days 31 --start 2026-10-01 --seed 11 \
    --developers-csv "$TMP/developers.csv" >"$TMP/events.jsonl" 2>"$TMP/sim.err"
assert_eq 0 $? "tallyctl simulate wrote a month of traffic"
# one request of a model no price book knows: it must show up as unpriced, never as $0
cat >>"$TMP/events.jsonl" <<'EOF'
{"schema":"tally.usage/1","requestId":"dash-unpriced-1","timestamp":"2026-10-15T10:00:00Z","userOid":"dash-unpriced-dev","userUpn":"new.hire@contoso.example","sessionId":"dash-s1","deploymentName":"claude-next","model":"claude-next-1","statusCode":200,"usage":{"input_tokens":1000,"output_tokens":100,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}
EOF
# and two of this UTC month, which the platform panel of this month's unpriced combinations
# lists: one now and one 15 minutes on, so the panel has a row whichever month it is when the
# panel runs (a run crossing a month boundary reads the next month)
for i in 2 3; do
    at=$(date -u -d "+$(( (i - 2) * 15 )) min" +%Y-%m-%dT%H:%M:%SZ)
    echo '{"schema":"tally.usage/1","requestId":"dash-unpriced-'$i'","timestamp":"'"$at"'","userOid":"dash-unpriced-dev","userUpn":"new.hire@contoso.example","sessionId":"dash-s2","deploymentName":"claude-next","model":"claude-next-1","statusCode":200,"usage":{"input_tokens":1000,"output_tokens":100,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}' >>"$TMP/events.jsonl"
done
"$ING" --db "$DB" --from-file "$TMP/events.jsonl" >"$TMP/ingest.out" 2>&1
assert_eq 0 $? "tally-ingest --from-file loaded it"
"$CTL" --db "$DB" developers import "$TMP/developers.csv" >/dev/null 2>"$TMP/import.err"
assert_eq 0 $? "tallyctl developers import"
# every shipped book, as the quick start loads them: the newest prices the month
for book in "$SRC"/schema/prices/*.json; do
    "$CTL" --db "$DB" prices load "$book" >/dev/null 2>"$TMP/prices.err"
    assert_eq 0 $? "tallyctl prices load $(basename "$book")"
done
# the simulator's Foundry roster: Sonnet 5.5 in a US Data Zone Standard deployment
"$CTL" --db "$DB" deployments set claude-sonnet-5-5-us claude-sonnet-5-5 --from 2026-01-01 \
    --residency data-zone-us >/dev/null
assert_eq 0 $? "tallyctl deployments set claude-sonnet-5-5-us --residency data-zone-us"
# the month closed (the finance panels of month close list it, with no correction pending)
"$CTL" --db "$DB" months close 2026-10 --tz UTC >/dev/null
assert_eq 0 $? "tallyctl months close 2026-10 --tz UTC"
# an Azure bill for the reconciliation panel: the FOCUS fixture moved to October, every deployment
# on its first Foundry resource
for dep in $(sql "SELECT DISTINCT deployment FROM usage_rollup_day WHERE deployment <> ''"); do
    "$CTL" --db "$DB" reconcile map "$dep" "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-claude/providers/Microsoft.CognitiveServices/accounts/foundry-eus2" >/dev/null
done
sed 's/2026-11-/2026-10-/g; s/2026-12-01/2026-11-01/g' "$SRC/tests/fixtures/azure/focus-1.2-2026-11.csv" >"$TMP/bill.csv"
"$CTL" --db "$DB" reconcile import "$TMP/bill.csv" >/dev/null
assert_eq 0 $? "tallyctl reconcile import of an October bill"
events=$(sql "SELECT count(*) FROM usage_events")
assert_match '^[0-9]{4,}$' "$events" "events ingested ($events)"
assert_eq t "$(sql "SELECT count(*) > 0 FROM ingest_rejects")" "the simulator's malformed lines were rejected"

# what Kafka ingestion, the quota admin and the evaluator would have written
team1=$(sed -n '2p' "$TMP/developers.csv" | cut -d, -f4)
dev1=$(sed -n '2p' "$TMP/developers.csv" | cut -d, -f1)
sql "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset) VALUES
       ('tally-ingest', 'apim-usage', 0, 1234), ('tally-ingest', 'apim-usage', 1, 987);
     INSERT INTO ingest_gaps (consumer_group, topic, partition, first_offset, last_offset,
                              last_event_before, first_event_after) VALUES
       ('tally-ingest', 'apim-usage', 1, 500, 549, '2026-10-11T08:00:00Z', '2026-10-12T09:00:00Z');
     INSERT INTO quotas (name, scope, subject, metric, period, tz, limit_value) VALUES
       ('budget-$team1', 'team', '$team1', 'cost_usd', 'month', 'Europe/Berlin', 5000),
       ('dev1-tokens', 'developer', '$dev1', 'tokens', 'day', 'UTC', 1000000);
     INSERT INTO alert_log (quota_id, period_start, threshold, used, limit_value)
       SELECT id, '2026-10-01T00:00:00+02', '50', 2600, 5000 FROM quotas WHERE name = 'budget-$team1'" >/dev/null

# the read-only login Grafana would use
psql "$TALLY_TEST_PG dbname=postgres" -qAtc "CREATE ROLE \"$READER\" LOGIN IN ROLE tally_reader" >/dev/null
RDB="$TALLY_TEST_PG dbname=$TEST_DB user=$READER"
# the views over team data run as their caller (85_row_security.sql): the reader reads the
# columns under them, nothing else
err=$(psql "$RDB" -XqAtc "SELECT tenant_id FROM public.usage_events" 2>&1; psql "$RDB" -XqAtc "SELECT count(*) FROM api_tokens" 2>&1)
assert_match "permission denied for table usage_events.*permission denied for table api_tokens" "$(echo $err)" \
    "the reader reads only the columns the reporting views show"

# the cost engine's total for the month, and the unpriced requests, as the superuser
engine=$(sql "SELECT sum(cost_usd) FROM tally_usage_priced(tally_book(NULL), '2026-10-01T00:00:00Z',
                                                           '2026-11-01T00:00:00Z', 'UTC', 'none')")
assert_match '^[0-9]+\.[0-9]+$' "$engine" "the cost engine prices the month ($engine USD)"
unpriced=$(sql "SELECT sum(requests) FROM tally_unpriced('2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z') WHERE model = 'claude-next-1'")
assert_eq 1 "$unpriced" "the cost engine finds the one request of a model no book knows"
# what the newest book (anthropic-list-2026-12, schema/prices/README.md "Sources") cannot price in
# the simulated month, as model/deployment: the model no book knows; Haiku 5.5 (no official cache
# prices); fast mode on Opus 5 and Opus 5.5 and the Foundry fast deployment (no official fast
# rates); the Foundry US Data Zone deployment (no official data-zone-us multiplier). Everything
# else is priced: Opus 5.5 / 5 / 4.6, Sonnet 5.5 / 4.6 and Haiku 4.5, US-only inference included.
assert_eq anthropic-list-2026-12 "$(sql "SELECT name FROM price_books WHERE id = tally_book(NULL)")" \
    "the newest shipped book prices the month"
unpriced_names() {
    sql "SELECT string_agg(DISTINCT model || '/' || deployment, ' ' ORDER BY model || '/' || deployment)
           FROM tally_unpriced('2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z')"
}
if [ -n "$(sql "SELECT to_regprocedure('tally_rate_table(integer)')")" ]; then
    # the engine of issue 10 (rates by band x speed x residency, /work/prompts/contract.md)
    # (the Foundry fast deployment's id is a fast alias of Opus 5.5: reported as that model)
    assert_eq "claude-haiku-5-5/claude-haiku-5-5 claude-next-1/claude-next claude-opus-5-5/claude-opus-5-5 claude-opus-5-5/claude-opus-5-5-fast claude-opus-5/claude-opus-5 claude-sonnet-5-5/claude-sonnet-5-5-us" \
        "$(unpriced_names)" "unpriced: exactly what the book leaves out"
    # counted from the raw events, not by the engine: fast-mode requests of Opus 5.5 (usage.speed
    # or the -fast id) and of Opus 5
    fast=$(sql "SELECT count(*) FILTER (WHERE model IN ('claude-opus-5-5', 'claude-opus-5-5-fast')
                                          AND (lower(speed) = 'fast' OR model = 'claude-opus-5-5-fast'))
                       || ' ' || count(*) FILTER (WHERE model = 'claude-opus-5' AND lower(speed) = 'fast')
                  FROM usage_events WHERE event_time >= '2026-10-01T00:00:00Z' AND event_time < '2026-11-01T00:00:00Z'")
    assert_match '^[1-9][0-9]* [1-9][0-9]*$' "$fast" "the month has fast-mode Opus 5.5 and Opus 5 requests"
    assert_eq "${fast% *} ${fast#* }" "$(sql "SELECT sum(requests) FILTER (WHERE model = 'claude-opus-5-5')
                                       || ' ' || sum(requests) FILTER (WHERE model = 'claude-opus-5')
                                FROM tally_unpriced('2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z')")" \
        "unpriced Opus 5.5 / Opus 5 requests are exactly their fast-mode ones"
else
    # the engine before issue 10 knows models and dates only: fast mode and residency price as standard
    assert_eq "claude-haiku-5-5/claude-haiku-5-5 claude-next-1/claude-next" \
        "$(unpriced_names)" "unpriced: the models the book does not have"
fi

now_plus=$(date -u -d '+5 min' +%Y-%m-%dT%H:%M:%SZ)
start=$SECONDS
python3 "$HELPER" --db "$RDB" --dashboards "$SRC/dashboards/grafana" --src "$SRC" \
    --range "tally-team=2026-10-01T00:00:00Z,2026-10-31T23:59:59.999Z" \
    --range "tally-finance=2026-10-01T00:00:00Z,2026-10-31T23:59:59.999Z" \
    --range "tally-platform=2026-10-01T00:00:00Z,$now_plus" \
    --expect-total "tally-team/Cost in range=$engine" \
    --expect-total "tally-finance/Cost=$engine" >"$TMP/sql.out" 2>&1
rc=$?
echo "SQL checks: $(grep -c '^ok' "$TMP/sql.out") passed in $((SECONDS - start)) s"
grep '^FAIL' "$TMP/sql.out" | head -40
tail -1 "$TMP/sql.out"
assert_eq 0 "$rc" "every dashboard query, expanded as Grafana does, passes its checks as the read-only role"

# the Team and Finance dashboards as a team's own login (tallyctl grafana-role): every panel
# runs, and its totals are that team's rows of the month as the owner reads them
"$CTL" --db "$DB" grafana-role create --team "$team1" --login "$TEAM_LOGIN" >/dev/null
assert_eq 0 $? "tallyctl grafana-role create --team $team1"
# (the Team range ends before midnight in Berlin, the zone of the team's budget, so that
# "Month to date against budget" reads October)
cost_of() { sql "SELECT sum(cost_usd) FROM reporting.$1 WHERE team = '$team1' AND $2 BETWEEN '2026-10-01T00:00:00Z' AND '$3'"; }
team_cost=$(cost_of costs_15m bucket 2026-10-31T20:00:00Z)
fin_cost=$(cost_of costs_day day 2026-10-31T23:59:59.999Z)
assert_match '^[0-9]+\.[0-9]+ [0-9]+\.[0-9]+$' "$team_cost $fin_cost" "team $team1 has a cost in October ($team_cost, $fin_cost USD)"
python3 "$HELPER" --db "$TALLY_TEST_PG dbname=$TEST_DB user=$TEAM_LOGIN" --dashboards "$SRC/dashboards/grafana" \
    --src "$SRC" --only tally-team --only tally-finance \
    --range "tally-team=2026-10-01T00:00:00Z,2026-10-31T20:00:00Z" \
    --range "tally-finance=2026-10-01T00:00:00Z,2026-10-31T23:59:59.999Z" \
    --expect-total "tally-team/Cost in range=$team_cost" \
    --expect-total "tally-finance/Cost=$fin_cost" \
    --empty "tally-finance/Reconciliation with the Azure bill" >"$TMP/team.out" 2>&1
rc=$?
echo "SQL checks as team $team1: $(grep -c '^ok' "$TMP/team.out") passed"
grep '^FAIL' "$TMP/team.out" | head -40
assert_eq 0 "$rc" "the Team and Finance dashboards run as a team's login, with that team's totals"
finish
