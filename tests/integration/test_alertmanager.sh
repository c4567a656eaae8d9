#!/usr/bin/env bash
# Delivery to a real Prometheus Alertmanager (Debian's prometheus-alertmanager, started
# here on a free loopback port without clustering): after evaluation and delivery the
# alert is found through Alertmanager's own API with the right labels.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/quota_lib.sh"
AM=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -z "$AM" ]; then
    echo "SKIP: prometheus-alertmanager is not installed"
    exit 77
fi
quota_db

port=$(free_port)
mkdir -p "$TMP/am"
cat >"$TMP/am/alertmanager.yml" <<'YML'
route:
  receiver: blackhole
receivers:
  - name: blackhole
YML
"$AM" --config.file="$TMP/am/alertmanager.yml" --storage.path="$TMP/am/data" \
    --web.listen-address="127.0.0.1:$port" --cluster.listen-address= --log.level=warn \
    >"$TMP/am/log" 2>&1 &
TEST_PIDS+=($!)
wait_for 30 curl -sf "http://127.0.0.1:$port/-/ready" || { echo "FAIL - alertmanager did not start: $(cat "$TMP/am/log")"; exit 1; }

# the alert must be active now (it lasts until the period ends): usage in this month
q=$(quota name=dev-am-monthly scope=developer subject=dev-am metric=cost_usd period=month tz=UTC limit=5 \
    thresholds=80 target=alertmanager,http://127.0.0.1:$port/)
now=$(sql "SELECT to_char(date_bin('15 minutes', now(), '2000-01-01 00:00+00') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
dollars dev-am "$now" 4
assert_eq "quotas 1 fired 1 queued 1 errors 0" "$(evaluate)" "80 % fires"
assert_eq "delivered 1 retrying 0 failed 0 pending 0" "$("$CTL" --db "$DB" --log-level warn alerts deliver)" "delivered to Alertmanager"
assert_eq "delivered 200" "$(sql "SELECT state || ' ' || last_status FROM alert_outbox")" "the outbox records Alertmanager's 200"

found=$(curl -sf -G "http://127.0.0.1:$port/api/v2/alerts" --data-urlencode 'filter=alertname="TallyQuotaThreshold"')
assert_eq "1|TallyQuotaThreshold|dev-am-monthly|developer|dev-am|80|warning|cost_usd|month|active" "$(python3 -c '
import json, sys
a = json.loads(sys.argv[1])
l = a[0]["labels"] if a else {}
print("|".join([str(len(a))] + [l.get(k, "") for k in ("alertname", "quota", "scope", "subject", "threshold", "severity", "metric", "period")]
               + [a[0]["status"]["state"] if a else ""]))' "$found")" "Alertmanager has the alert with the right labels, active"
assert_match '80% threshold reached: 4 USD used of 5 USD' "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["annotations"]["summary"])' "$found")" \
    "the summary annotation"
assert_eq "$(sql "SELECT to_char(period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM alert_log")" \
    "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["endsAt"][:19])' "$found")" "it ends with the period"
assert_eq "quotas 1 fired 0 queued 0 errors 0" "$(evaluate)" "evaluating again fires nothing"
finish
