#!/usr/bin/env bash
# The README's examples run as written against a running quick start: the block between
# <!-- quickstart-examples --> and <!-- /quickstart-examples --> in README.md is cut into its
# commands, each run in a shell that sourced the quick start's quickstart.env (as the README
# says to), and every answer is checked against the quick start's own database: costs by team
# and model, the chargeback CSV, a lead's scope, one's own event through the broker, a quota
# and its status. The quick start runs on its own PostgreSQL, broker and ports, with its
# default month (the README's), and is stopped with SIGTERM at the end.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/quickstart_lib.sh"
REQUIRED="month,tz,developer_oid,developer_upn,team,cost_center,model,requests,input_tokens,cache_write_5m_tokens,cache_write_1h_tokens,cache_read_tokens,output_tokens,cost_usd,priced,price_book,price_book_sha256"
ME=00000000-0000-4000-8000-00000000beef # the developer of the README's own event

QS_DIR=$TMP/qs
qs_background "$QS_DIR" "$TMP/qs.out" QUICKSTART_DEVELOPERS=4 QUICKSTART_TEAMS=2
qpid=$QS_PID

# ---- the README's block, cut into commands (continuation lines joined, comments dropped)
mapfile -t CMDS < <(awk '
    /^<!-- quickstart-examples -->$/ { on = 1; next }
    /^<!-- \/quickstart-examples -->$/ { on = 0 }
    on && !/^```/ && !/^[ \t]*#/ && NF {
        if (sub(/\\$/, "")) { cmd = cmd $0; next }
        print cmd $0; cmd = ""
    }' "$SRC/README.md")
assert_eq 6 "${#CMDS[@]}" "the README's example block holds six commands"
kinds=""
for c in "${CMDS[@]}"; do
    case $c in
    *group_by=team,model*) kinds+=" costs" ;;
    *reports/monthly*format=csv*) kinds+=" csv" ;;
    *LEAD_TOKEN*group_by=developer*) kinds+=" lead" ;;
    *"| kcat -P"*) kinds+=" kcat" ;;
    *"-d '{"*/v1/quotas*) kinds+=" quota" ;;
    */v1/quotas/status*) kinds+=" status" ;;
    *) kinds+=" ?" ;;
    esac
done
assert_eq " costs csv lead kcat quota status" "$kinds" "they are, in order: costs, the chargeback CSV, a lead's view, kcat, a quota, its status"

if ! wait_for 240 test -e "$QS_DIR/quickstart.env"; then
    assert_eq ready "not ready" "the quick start gets to its prompt"
    tail -20 "$TMP/qs.out"
    finish
fi
cp "$QS_DIR/quickstart.env" "$TMP/env"
source "$TMP/env" # for the checks below: TALLY_DB
# the examples' requests go through Prism's validating proxy (tests/contract, --errors):
# a request or an answer report/openapi.yaml does not describe fails the status checks,
# and Prism's log is read at the end
PPORT=$(free_port)
NO_UPDATE_NOTIFIER=1 "$SRC/tests/contract/node_modules/.bin/prism" proxy --errors --host 127.0.0.1 \
    --port "$PPORT" "$SRC/report/openapi.yaml" "$TALLY_URL" >"$TMP/prism.log" 2>&1 &
TEST_PIDS+=($!)
wait_for 120 curl -s -o /dev/null "http://127.0.0.1:$PPORT/healthz" ||
    assert_eq up down "Prism's proxy starts"
echo "export TALLY_URL='http://127.0.0.1:$PPORT'" >>"$TMP/env"
q() { psql "$TALLY_DB" -XqAt -v ON_ERROR_STOP=1 -c "$1"; }
OCT="event_time >= '2026-10-01 00:00+00' AND event_time < '2026-11-01 00:00+00'"

# run N: the README's Nth command as written, in a shell that sourced quickstart.env, curl
# reporting the status on a last line of its own; out.N holds stdout, its exit code rc.N
mkdir "$TMP/work"
run() {
    (cd "$TMP/work" && bash -c 'source "$1"; curl() { command curl -w "\n%{http_code}\n" "$@"; }
        eval "$2"' _ "$TMP/env" "${CMDS[$1]}") >"$TMP/out.$1" 2>"$TMP/err.$1"
    echo $? >"$TMP/rc.$1"
}
status() { tail -n 1 "$TMP/out.$1"; }
body() { head -n -1 "$TMP/out.$1"; } # without the status line

# ---- 1. costs of October 2026 by team and model
run 0
assert_eq 200 "$(status 0)" "costs by team and model: 200"
expect=$(q "SELECT count(*) || ' ' || (SELECT string_agg(DISTINCT team, ',' ORDER BY team) FROM developers) FROM usage_events WHERE $OCT")
got=$(body 0 | python3 -c '
import json, sys
from decimal import Decimal
j = json.load(sys.stdin)
rows = j["rows"]
cost = sum((Decimal(r["cost_usd"]) for r in rows if r["cost_usd"] is not None), Decimal(0))
print(j["from"], j["to"], j["tz"], ",".join(j["group_by"]), len(rows) > 0,
      sum(r["requests"] for r in rows), ",".join(sorted({r["team"] for r in rows})),
      cost == Decimal(j["totals"]["cost_usd"]), all(r["priced"] == (r["cost_usd"] is not None) for r in rows))')
assert_eq "2026-10-01T00:00:00Z 2026-11-01T00:00:00Z UTC team,model True $expect True True" "$got" \
    "costs: the month in UTC, rows of every team, requests equal to the database's, costs summing to the total exactly"

# ---- 2. the chargeback CSV
run 1
assert_eq 200 "$(status 1)" "the chargeback CSV: 200"
csv=$TMP/work/chargeback-2026-10.csv
assert_eq "$REQUIRED" "$(head -1 "$csv" | tr -d '\r' | cut -d, -f1-17)" "the CSV header starts with exactly the required chargeback columns"
assert_eq "$(wc -l <"$csv")" "$(grep -c $'\r$' "$csv")" "every CSV line ends with CRLF"
# from the raw events, each split into its billed parts (iterations under their own models) as
# the rollups are: the report reads the rollups
expect=$(q "SELECT count(DISTINCT e.developer_oid) || ' ' || sum(p.requests) || ' ' || sum(p.input_tokens) || ' ' || sum(p.output_tokens) || ' ' || sum(p.cache_read_tokens)
              FROM usage_events e
             CROSS JOIN LATERAL tally_usage_parts(e.model, e.iterations, e.input_tokens, e.output_tokens,
                   e.cache_read_tokens, e.cache_write_5m_tokens, e.cache_write_1h_tokens,
                   e.cache_write_unsplit_tokens, e.cache_write_unknown, e.web_search_requests,
                   e.web_fetch_requests) p
             WHERE $OCT")
got=$(python3 - "$csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
print(len(rows) > 0, all(r["month"] == "2026-10" and r["tz"] == "UTC" for r in rows),
      len({r["developer_oid"] for r in rows}),
      *(sum(int(r[c]) for r in rows) for c in ("requests", "input_tokens", "output_tokens", "cache_read_tokens")))
EOF
)
assert_eq "True True $expect" "$got" "the CSV: rows of 2026-10 in UTC for every developer, requests and tokens equal to the database's"

# ---- 3. a lead's view: its team only
run 2
assert_eq 200 "$(status 2)" "a lead's costs: 200"
team=$(q "SELECT team FROM api_tokens WHERE role = 'lead'")
expect=$(q "SELECT string_agg(DISTINCT e.developer_oid, ',' ORDER BY e.developer_oid) || ' ' || count(*) FROM usage_events e JOIN developers d ON d.oid = e.developer_oid WHERE d.team = '$team' AND $OCT")
got=$(body 2 | python3 -c '
import json, sys
rows = json.load(sys.stdin)["rows"]
print(",".join(sorted({r["developer_oid"] for r in rows})), sum(r["requests"] for r in rows))')
assert_match '^[^ ]+ [1-9][0-9]* ' "$expect " "team $team has developers with October usage"
assert_eq "$expect" "$got" "the lead sees exactly its team's ($team) developers and their requests"

# ---- 4. one's own event through the broker
rejects=$(q "SELECT count(*) FROM ingest_rejects")
run 3
assert_eq 0 "$(cat "$TMP/rc.3")" "the kcat line sends the event ($(head -c 200 "$TMP/err.3"))"
stored() { [ "$(q "SELECT count(*) FROM usage_events WHERE request_id = 'my-first-request'")" = 1 ]; }
wait_for 60 stored
assert_eq "$ME|you@example.com|claude-sonnet-5-5|1200|300|5000|0" \
    "$(q "SELECT developer_oid, developer_upn, model, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens FROM usage_events WHERE request_id = 'my-first-request'")" \
    "the event is in PostgreSQL with its tokens"
assert_eq "$rejects" "$(q "SELECT count(*) FROM ingest_rejects")" "and it was not rejected"

# ---- 5. the quota, 6. its status
run 4
assert_eq 201 "$(status 4)" "the quota is created: 201"
assert_eq "my-first-quota developer $ME tokens day UTC 10000 [50, 80, 100]" \
    "$(body 4 | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["name"], j["scope"], j["subject"], j["metric"], j["period"], j["tz"], j["limit"], j["thresholds"])')" \
    "the quota as created"
run 5
assert_eq 200 "$(status 5)" "the quota status: 200"
at=$(q "SELECT to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM usage_events WHERE request_id = 'my-first-request'")
got=$(body 5 | python3 -c '
import json, sys
at = sys.argv[1]
mine = [q for q in json.load(sys.stdin)["quotas"] if q["name"] == "my-first-quota"]
q = mine[0]
# the event counts when the status period (today, UTC) holds it: robust across midnight
today = q["period_start"] <= at < q["period_end"]
print(len(mine), q["used"] == ("6500" if today else "0"), q["limit"],
      q["ratio"] == "0.65" if today else True, q["unpriced_tokens"])' "$at")
assert_eq "1 True 10000 True 0" "$got" "the status: 6500 of 10000 tokens used today (ratio 0.65), as the README says"

kill -TERM $qpid
wait $qpid
assert_eq 0 $? "SIGTERM: the quick start exits 0"
assert_eq no "$([ -e "$QS_DIR" ] && echo yes || echo no)" "SIGTERM: its files (quickstart.env too) are removed"
# (✖ marks a request Prism ended with an error: a violation, or a request the spec refuses)
grep '✖' "$TMP/prism.log" | head -20
assert_eq 0 "$(grep -c '✖' "$TMP/prism.log")" "the README's requests: no contract violation, no error (Prism's log)"
finish
