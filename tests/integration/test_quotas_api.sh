#!/usr/bin/env bash
# /v1/quotas through tally-report: CRUD for the platform role with problem+json refusals,
# /v1/quotas/status scoped by role, delivery state in the API, the quota gauges on
# /metrics, and the evaluator thread of two report servers on one database firing each
# threshold exactly once.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/quota_lib.sh"
source "$SRC/tests/integration/report_lib.sh"
quota_db

sql "INSERT INTO developers (oid, upn, team) VALUES ('dev-a', 'a@x', 'red'), ('dev-b', 'b@x', 'blue')" >/dev/null
PLAT=$(report_token platform p1)
FIN=$(report_token finance f1)
LEAD=$(report_token lead l1 --team red)
DEV=$(report_token developer d1 --developer dev-a)
receiver_start "$TMP/rcv"
report_start --quota-interval-s 1 --alert-backoff-ms 100

# SEND METHOD PATH TOKEN [BODY]: like GET for the other methods
SEND() {
    local auth=()
    [ -n "$3" ] && auth=(-H "Authorization: Bearer $3")
    STATUS=$(curl -s -o "$TMP/body" -D "$TMP/h" -w '%{http_code}' -X "$1" "${auth[@]}" \
             -H 'Content-Type: application/json' ${4:+--data-binary "$4"} "$URL$2")
    cat "$TMP/body"
}
ctype() { tr -d '\r' <"$TMP/h" | sed -n 's/^[Cc]ontent-[Tt]ype: //p'; }
RED='{"name": "team-red", "scope": "team", "subject": "red", "metric": "cost_usd", "period": "month",
      "limit": "20", "targets": [{"kind": "webhook", "url": "http://127.0.0.1:'$RCV_PORT'/red"}]}'

# ---- CRUD and refusals ----
SEND POST /v1/quotas "" "$RED" >/dev/null
assert_eq 401 "$STATUS" "POST without a token: 401"
SEND POST /v1/quotas "$FIN" "$RED" >/dev/null
assert_eq 403 "$STATUS" "POST as finance: 403"
SEND POST /v1/quotas "$PLAT" '{"name": ' >/dev/null
assert_eq "400 application/problem+json" "$STATUS $(ctype)" "POST of broken JSON: 400 problem+json"
SEND POST /v1/quotas "$PLAT" "${RED/\"limit\": \"20\"/\"limit\": \"20\", \"thresholds\": [80, 50]}" >/dev/null
assert_eq "400 thresholds" "$STATUS $(json 'j["parameter"]')" "descending thresholds: 400 naming the field"
SEND POST /v1/quotas "$PLAT" "${RED/\"period\"/\"tz\": \"Mars/Olympus\", \"period\"}" >/dev/null
assert_eq "400 tz" "$STATUS $(json 'j["parameter"]')" "unknown zone: 400 naming tz"
SEND POST /v1/quotas "$PLAT" "${RED/\"limit\"/\"colour\": \"red\", \"limit\"}" >/dev/null
assert_eq "400 colour" "$STATUS $(json 'j["parameter"]')" "unknown key: 400 naming it"
SEND POST /v1/quotas "$PLAT" "${RED/\"limit\": \"20\"/\"limit\": 19.99}" >/dev/null
assert_eq "400 limit application/problem+json" "$STATUS $(json 'j["parameter"]') $(ctype)" "a JSON real limit: 400 naming limit"
assert_match 'decimal string' "$(json 'j["detail"]')" "the refusal says to send a decimal string"
# an HMAC key reference may not name the server's own secrets, nor probe files
for ref in env:PGPASSWORD file:/etc/passwd file:/run/secrets/../../etc/passwd file:run/secrets/k; do
    SEND POST /v1/quotas "$PLAT" "${RED/\/red\"\}/\/red\", \"secret\": \"$ref\"\}}" >/dev/null
    assert_eq "400 targets application/problem+json" "$STATUS $(json 'j["parameter"]') $(ctype)" "secret $ref: 400 naming targets"
done
assert_match 'env:TALLY_ALERT_KEY_NAME or file:/path under /run/secrets/' "$(json 'j["detail"]')" "the refusal says what is allowed"
SEND POST /v1/quotas "$PLAT" "$RED" >/dev/null
assert_eq "201 team-red 20 [50, 80, 100]" "$STATUS $(json 'j["name"], j["limit"], j["thresholds"]')" "POST: 201 with the quota and default thresholds"
red=$(json 'j["id"]')
SEND POST /v1/quotas "$PLAT" "$RED" >/dev/null
assert_eq "409 name" "$STATUS $(json 'j["parameter"]')" "the same name again: 409"
SEND PUT "/v1/quotas/$red" "$PLAT" "${RED/\"20\"/\"10\"}" >/dev/null
assert_eq "200 10" "$STATUS $(json 'j["limit"]')" "PUT replaces: limit 10"
SEND PUT "/v1/quotas/99999" "$PLAT" "$RED" >/dev/null
assert_eq 404 "$STATUS" "PUT of an unknown quota: 404"
GET /v1/quotas/abc "$PLAT" >/dev/null
assert_eq 404 "$STATUS" "GET /v1/quotas/abc: 404"
GET /v1/quotas/status "$PLAT" -X PUT >/dev/null
assert_eq 404 "$STATUS" "PUT /v1/quotas/status: no such quota"
for body in \
    '{"name": "dev-a", "scope": "developer", "subject": "dev-a", "metric": "cost_usd", "period": "day", "limit": 100}' \
    '{"name": "dev-b", "scope": "developer", "subject": "dev-b", "metric": "tokens", "period": "week", "tz": "Asia/Kathmandu", "limit": 1000000000}' \
    '{"name": "all", "scope": "everyone", "metric": "cost_usd", "period": "month", "limit": "1000.50", "forecast": true}'; do
    SEND POST /v1/quotas "$PLAT" "$body" >/dev/null
    assert_eq 201 "$STATUS" "POST $(cut -c1-40 <<<"$body")…"
done
GET /v1/quotas "$PLAT" >/dev/null
assert_eq "team-red dev-a dev-b all|1000000000" "$(json '" ".join(q["name"] for q in j["quotas"]) + "|" + j["quotas"][2]["limit"]')" "GET /v1/quotas lists them; a JSON number limit is kept exact"
GET /v1/quotas "$LEAD" >/dev/null
assert_eq 403 "$STATUS" "a lead may not list quota definitions (they hold target URLs)"

# ---- the evaluator thread fires, delivers, and the API shows it ----
now=$(sql "SELECT date_bin('15 minutes', now(), '2000-01-01 00:00+00')")
dollars dev-a "$now" 6
dollars dev-b "$now" 3
delivered() { [ "$(sql "SELECT count(*) FROM alert_outbox WHERE state = 'delivered'")" -ge "$1" ]; }
wait_for 20 delivered 1 ||
    echo "FAIL - no delivery within 20 s: $(tail -5 "$REPORT_LOG")"
GET /v1/quotas/status "$LEAD" >/dev/null
assert_eq "team-red,dev-a" "$(json '",".join(q["name"] for q in j["quotas"])')" "a lead sees its team's quota and its members' quotas"
assert_eq "6 10 0.6 ['50'] 1" "$(json 'j["quotas"][0]["used"], j["quotas"][0]["limit"], j["quotas"][0]["ratio"], j["quotas"][0]["fired"], j["quotas"][0]["deliveries"]["delivered"]')" \
    "status: used, limit, ratio, the threshold fired and its delivery"
GET /v1/quotas/status "$DEV" >/dev/null
assert_eq "dev-a" "$(json '",".join(q["name"] for q in j["quotas"])')" "a developer sees its own quota only"
GET /v1/quotas/status "$FIN" >/dev/null
assert_eq "team-red,dev-a,dev-b,all 9" "$(json '",".join(q["name"] for q in j["quotas"]), j["quotas"][3]["used"]')" "finance sees every quota; everyone used \$9"
GET "/v1/quotas/$red" "$PLAT" >/dev/null
assert_eq "50 webhook delivered 1" "$(json 'j["alerts"][0]["threshold"], j["alerts"][0]["deliveries"][0]["kind"], j["alerts"][0]["deliveries"][0]["state"], j["alerts"][0]["deliveries"][0]["attempts"]')" \
    "GET /v1/quotas/{id}: its alerts with their delivery state"
assert_eq 0 "$(json 'j["alerts"]' | grep -c "$RCV_PORT")" "the alert view holds no URL"
metrics=$(curl -s "$URL/metrics")
gauge=$(sed -n 's/^tally_quota_used_ratio{quota="team-red",scope="team",subject="red",metric="cost_usd",period="month"} //p' <<<"$metrics")
assert_eq True "$(python3 -c "print(float('$gauge') == 0.6)")" "gauge tally_quota_used_ratio{quota=\"team-red\",…} on /metrics is 0.6"
assert_match 'tally_alert_outbox\{state="delivered"\} 1' "$metrics" "outbox gauge on /metrics"
assert_match 'tally_alert_deliveries_total\{kind="webhook",result="delivered"\} 1' "$metrics" "delivery counter on /metrics"

# ---- a second report server on the same database: each threshold still fires once ----
first_url=$URL
report_start --quota-interval-s 1 --alert-backoff-ms 100
dollars dev-a "$now" 5 # team red: $11 of $10, crossing 80 and 100 with two evaluators running
wait_for 20 delivered 3
sleep 3 # several more evaluation rounds on both servers
assert_eq "50 80 100" "$(python3 -c 'import json,sys; print(" ".join(sorted((json.loads(json.loads(l)["body"])["threshold"] for l in open(sys.argv[1])), key=int)))' "$RCV_LOG")" \
    "two servers: 50, 80 and 100 delivered exactly once each"
assert_eq 3 "$(sql "SELECT count(*) FROM alert_log WHERE quota_id = $red")" "three alert_log rows"

URL=$first_url
SEND DELETE "/v1/quotas/$red" "$PLAT" >/dev/null
assert_eq "200 True" "$STATUS $(json 'j["deleted"]')" "DELETE: 200"
GET "/v1/quotas/$red" "$PLAT" >/dev/null
assert_eq 404 "$STATUS" "then GET: 404"
assert_eq 0 "$(grep -c -e "$RCV_PORT" "$TMP/report.log")" "no target URL in the server logs"
finish
