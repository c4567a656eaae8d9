#!/usr/bin/env bash
# The contract checked by a tool no one here wrote: Prism's validating proxy
# (tests/contract, pinned) in front of tally-report, with --errors, checks every request
# and every response against report/openapi.yaml. Each request below goes through it;
# any violation (a request the spec refuses but the server takes, a response whose
# status, headers or body the spec does not describe) fails the test.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
seed_fixture
report_start
FIN=$(report_token finance fin)
PLAT=$(report_token platform plat)
LEAD=$(report_token lead lead --team red)

DEV=$(report_token developer dev --developer oid-alice)
UPSTREAM=$URL

PPORT=$(free_port)
NO_UPDATE_NOTIFIER=1 "$SRC/tests/contract/node_modules/.bin/prism" proxy --errors --host 127.0.0.1 \
    --port "$PPORT" "$SRC/report/openapi.yaml" "$UPSTREAM" >"$TMP/prism.log" 2>&1 &
TEST_PIDS+=($!)
URL="http://127.0.0.1:$PPORT"
until=$((SECONDS + 120))
until curl -s -o /dev/null "$URL/healthz" || [ $SECONDS -gt $until ]; do sleep 0.5; done

n=0
# req EXPECTED_STATUS METHOD PATH [TOKEN [CURL ARGS…]]: one request through the proxy
req() {
    local want=$1 method=$2 path=$3 tok=${4:-}; shift 3; shift 2>/dev/null || true
    local auth=() st
    [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
    st=$(curl -s -X "$method" -o "$TMP/body" -w '%{http_code}' "${auth[@]}" "$@" "$URL$path")
    n=$((n + 1))
    [[ $st =~ ^($want)$ ]] && st=$want
    assert_eq "$want" "$st" "$method $path → $want $(head -c 600 "$TMP/body")"
}
# refused SERVER_STATUS METHOD PATH [TOKEN [CURL ARGS…]]: a request the spec refuses:
# Prism answers it itself (422, or 401 for a missing token), and tally-report, asked
# directly, refuses it too, with SERVER_STATUS
refused() {
    local want=$1; shift
    local proxy=$URL
    req '4(22|01)' "$@"
    URL=$UPSTREAM
    req "$want" "$@"
    URL=$proxy
}
# head_as_get PATH [TOKEN]: HEAD, described in the spec, asked of tally-report directly (Prism's
# proxy parses a JSON content type's empty HEAD body and fails): the GET's status and
# headers, no body
head_as_get() {
    local path=$1 tok=${2:-} auth=() g h
    [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
    g=$(curl -s -o /dev/null -D - "${auth[@]}" "$UPSTREAM$path" | tr -d '\r' | grep -iv '^date:\|^content-length:\|^transfer-encoding:\|^connection:')
    h=$(curl -s -I "${auth[@]}" "$UPSTREAM$path" | tr -d '\r' | grep -iv '^date:\|^content-length:\|^transfer-encoding:\|^connection:')
    assert_eq "$g" "$h" "HEAD $path: the GET's status and headers"
}
J=(-H 'Content-Type: application/json')
Q='{"name": "team-red", "scope": "team", "subject": "red", "metric": "cost_usd", "period": "month", "limit": "20"}'

# the probes and metrics
req 200 GET /healthz
head_as_get /healthz
head_as_get /login
head_as_get /
req 200 GET /readyz
req 200 GET /metrics
# costs, each role, each format, and refusals
req 200 GET "/v1/costs?from=2026-03-01&to=2026-04-01" "$FIN"
head_as_get "/v1/costs?from=2026-03-01&to=2026-04-01" "$FIN"
head_as_get "/v1/reports/monthly?month=2026-03&format=csv" "$FIN"
req 200 GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=team,day&tz=Europe/Berlin" "$LEAD"
req 200 GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=" "$DEV"
req 200 GET "/v1/costs?from=2026-03-01&to=2026-04-01&format=csv" "$FIN"
req 200 GET "/v1/costs?from=2026-03-01&to=2026-04-01" "$FIN" -H 'Accept: text/csv'
req 400 GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=salary" "$FIN"
req 400 GET "/v1/costs?from=2026-03-01&to=2026-04-01&tz=Mars/Olympus" "$FIN"
refused 401 GET "/v1/costs?from=2026-03-01&to=2026-04-01"
req 401 GET "/v1/costs?from=2026-03-01&to=2026-04-01" not-a-token
# the chargeback and FOCUS
req 200 GET "/v1/reports/monthly?month=2026-03" "$FIN"
req 200 GET "/v1/reports/monthly?month=2026-03&format=csv" "$FIN"
req 200 GET "/v1/reports/monthly?month=2026-03&layout=1&price_book=fixture-a" "$FIN"
req 200 GET "/v1/reports/monthly?month=2026-03&tz=Europe/Berlin" "$LEAD"
req 200 GET "/v1/reports/monthly?month=2026-03" "$DEV"
refused 400 GET "/v1/reports/monthly?month=2026-13" "$FIN"
req 400 GET "/v1/reports/monthly?month=2026-03&price_book=nope" "$FIN"
req 200 GET "/v1/exports/focus?month=2026-03" "$FIN"
req 200 GET "/v1/exports/focus?month=2026-03&layout=1&format=csv" "$FIN"
req 403 GET "/v1/exports/focus?month=2026-03" "$DEV"
# prices, usage, dimensions
req 200 GET "/v1/usage/unpriced?from=2026-03-01&to=2026-04-01" "$FIN"
req 200 GET "/v1/prices" "$FIN"
req 200 GET "/v1/prices?price_book=fixture-a&format=csv" "$PLAT"
req 200 GET /v1/developers "$PLAT"
req 200 GET "/v1/developers?format=csv" "$PLAT"
req 403 GET /v1/developers "$FIN"
req 200 GET /v1/deployments "$PLAT"
# quotas: create, read, replace, status, delete, and the refusals
req 201 POST /v1/quotas "$PLAT" "${J[@]}" --data-binary "$Q"
QID=$(json 'j["id"]')
req 200 GET /v1/quotas "$PLAT"
req 200 GET "/v1/quotas/$QID" "$PLAT"
req 200 PUT "/v1/quotas/$QID" "$PLAT" "${J[@]}" --data-binary "${Q/\"20\"/\"25.50\"}"
req 200 GET /v1/quotas/status "$LEAD"
refused 400 POST /v1/quotas "$PLAT" "${J[@]}" --data-binary '{"name": "x", "scope": "team"}'
refused 400 POST /v1/quotas "$PLAT" "${J[@]}" --data-binary "${Q/\"20\"/20.5}"
Q2=${Q/team-red/whole-dollars}
req 201 POST /v1/quotas "$PLAT" "${J[@]}" --data-binary "${Q2/\"20\"/500}"
req 409 POST /v1/quotas "$PLAT" "${J[@]}" --data-binary "$Q"
req 403 POST /v1/quotas "$FIN" "${J[@]}" --data-binary "$Q"
req 404 GET /v1/quotas/999999 "$PLAT"
req 200 DELETE "/v1/quotas/$QID" "$PLAT"
# reconciliation with the Azure bill (no bill imported: metered cost only)
req 200 GET "/v1/reconciliation?month=2026-03" "$FIN"
head_as_get "/v1/reconciliation?month=2026-03" "$FIN"
req 200 GET "/v1/reconciliation?month=2026-03&format=csv" "$PLAT"
refused 400 GET "/v1/reconciliation" "$FIN"
req 403 GET "/v1/reconciliation?month=2026-03" "$DEV"

# month close: close, list, show, the snapshot served, reopen, and the refusals
CL='{"tz": "UTC"}'
req 201 POST /v1/months/2026-03/close "$FIN" "${J[@]}" --data-binary "$CL"
req 409 POST /v1/months/2026-03/close "$FIN" "${J[@]}" --data-binary "$CL"
refused 400 POST /v1/months/2026-03/close "$FIN" "${J[@]}" --data-binary '{"tz": "UTC", "colour": 1}'
req 200 GET /v1/months "$FIN"
head_as_get /v1/months "$FIN"
head_as_get "/v1/reports/monthly?month=2026-03" "$FIN"
req 200 GET "/v1/months?format=csv" "$PLAT"
req 200 GET /v1/months/2026-03 "$FIN"
req 200 GET "/v1/reports/monthly?month=2026-03" "$FIN"
req 200 GET "/v1/reports/monthly?month=2026-03&format=csv" "$FIN"
req 200 GET "/v1/reports/monthly?month=2026-03&price_book=fixture-a&layout=2" "$FIN"
req 200 GET "/v1/reports/monthly?month=2026-04" "$FIN"
req 200 GET "/v1/exports/focus?month=2026-04" "$FIN"
req 403 POST /v1/months/2026-03/reopen "$FIN" "${J[@]}" --data-binary '{"tz": "UTC", "reason": "test"}'
req 200 POST /v1/months/2026-03/reopen "$PLAT" "${J[@]}" --data-binary '{"tz": "UTC", "reason": "test"}'
req 404 POST /v1/months/2026-03/reopen "$PLAT" "${J[@]}" --data-binary '{"tz": "UTC", "reason": "again"}'

# Prism logs each violation; --errors turns one into an error response, which the
# status checks above catch; the log is read too, so a warning-level one fails as well
# (its log also shows random example words of the spec: only its error code counts)
grep 'errors#VIOLATIONS' "$TMP/prism.log" | head -20
assert_eq 0 "$(grep -c 'errors#VIOLATIONS' "$TMP/prism.log")" "no contract violation in $n requests (Prism's log)"
finish
