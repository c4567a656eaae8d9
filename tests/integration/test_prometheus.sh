#!/usr/bin/env bash
# A real Prometheus (Debian's prometheus) scraping tally-report with the shipped rules and
# alerting to a real Alertmanager that runs the shipped example configuration
# (dashboards/prometheus/alertmanager.yml), while tally-report delivers the same quota's
# alerts to it directly: Alertmanager keeps one alert per threshold whichever source sent
# it (one vocabulary: names and labels equal), the inhibit rule silences 80 % under 100 %,
# and histogram buckets are selectable as Prometheus writes them (le="10", le="+Inf").
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/quota_lib.sh"
source "$SRC/tests/integration/report_lib.sh"
PROM=$(command -v prometheus || true)
AM=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -z "$PROM" ] || [ -z "$AM" ] || ! command -v amtool >/dev/null; then
    echo "SKIP: prometheus, prometheus-alertmanager or amtool is not installed"
    exit 77
fi
AMCONF=$SRC/dashboards/prometheus/alertmanager.yml
out=$(amtool check-config "$AMCONF" 2>&1); rc=$?
assert_eq 0 "$rc" "amtool check-config accepts the shipped example: $(grep -c inhibit <<<"$out") inhibit line"
quota_db

# Alertmanager on the shipped example, as is
am_port=$(free_port)
mkdir -p "$TMP/am"
"$AM" --config.file="$AMCONF" --storage.path="$TMP/am/data" --web.listen-address="127.0.0.1:$am_port" \
    --cluster.listen-address= --log.level=warn >"$TMP/am/log" 2>&1 &
TEST_PIDS+=($!)
AMURL=http://127.0.0.1:$am_port
wait_for 30 curl -sf "$AMURL/-/ready" || { echo "FAIL - alertmanager did not start: $(cat "$TMP/am/log")"; exit 1; }

# a month quota at 120 % now (the alerts last until the period ends), thresholds 80 and
# 100, delivered to Alertmanager by tally-report itself
q=$(quota name=team-am scope=developer subject=dev-am metric=cost_usd period=month tz=UTC limit=5 \
    thresholds=80,100 target=alertmanager,$AMURL/)
now=$(sql "SELECT to_char(date_bin('15 minutes', now(), '2000-01-01 00:00+00') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
dollars dev-am "$now" 6
report_start --quota-interval-s 1
for _ in 1 2 3; do curl -s -o /dev/null "$URL/healthz"; done

delivered() { [ "$(sql "SELECT count(*) FROM alert_outbox WHERE state = 'delivered'")" = 2 ]; }
wait_for 60 delivered
assert_eq "80 delivered 200,100 delivered 200" \
    "$(sql "SELECT string_agg(l.threshold || ' ' || o.state || ' ' || o.last_status, ',' ORDER BY l.threshold::int)
              FROM alert_outbox o JOIN alert_log l ON l.id = o.alert_id")" "tally-report delivered 80 % and 100 % itself"

# Prometheus: scrapes tally-report every second, evaluates the shipped rules every second
prom_port=$(free_port)
mkdir -p "$TMP/prom"
cat >"$TMP/prom/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ['$SRC/dashboards/prometheus/tally-rules.yml']
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:$am_port']}]
scrape_configs:
  - job_name: tally-report
    static_configs: [{targets: ['${URL#http://}']}]
YML
"$PROM" --config.file="$TMP/prom/prometheus.yml" --storage.tsdb.path="$TMP/prom/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$TMP/prom/log" 2>&1 &
TEST_PIDS+=($!)
PURL=http://127.0.0.1:$prom_port
wait_for 60 curl -sf "$PURL/-/ready" || { echo "FAIL - prometheus did not start: $(cat "$TMP/prom/log")"; exit 1; }

# pquery PROMQL: the instant vector as "labels=value" lines, sorted
pquery() {
    curl -sf -G "$PURL/api/v1/query" --data-urlencode "query=$1" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print("\n".join(sorted(",".join("%s=%s" % kv for kv in sorted(s["metric"].items())) + " " + s["value"][1] for s in r)))'
}
firing() { # both thresholds firing in Prometheus and sent to Alertmanager at least once
    [ "$(pquery 'count(ALERTS{alertname="TallyQuotaThreshold",alertstate="firing",quota="team-am"})')" = " 2" ] &&
        [ "$(curl -sf "$PURL/metrics" | sed -n 's/^prometheus_notifications_sent_total{[^}]*} //p')" -ge 2 ] 2>/dev/null
}
wait_for 90 firing || echo "# prometheus did not fire or send: $(tail -5 "$TMP/prom/log")"
assert_eq "alertname=TallyQuotaThreshold,metric=cost_usd,period=month,quota=team-am,scope=developer,severity=critical,subject=dev-am,threshold=100
alertname=TallyQuotaThreshold,metric=cost_usd,period=month,quota=team-am,scope=developer,severity=warning,subject=dev-am,threshold=80" \
    "$(curl -sf "$PURL/api/v1/alerts" | "$PY" -c '
import json, sys
a = [x for x in json.load(sys.stdin)["data"]["alerts"] if x["state"] == "firing"]
print("\n".join(sorted(",".join("%s=%s" % kv for kv in sorted(x["labels"].items())) for x in a)))')" \
    "the rules fire both thresholds with the labels of direct delivery (no job, no instance)"

# Alertmanager: four alerts received (two delivered, two from the rules), two kept; the
# 80 % one inhibited by the 100 % one
received() { curl -sf "$AMURL/metrics" | sed -n 's/^alertmanager_alerts_received_total{status="firing",version="v2"} //p'; }
received_both() { [ "$(received)" -ge 4 ]; }
wait_for 30 received_both
assert_eq 1 "$(( $(received) >= 4 ))" "Alertmanager received the alerts of both sources ($(received))"
am_alerts() {
    curl -sf -G "$AMURL/api/v2/alerts" --data-urlencode 'filter=quota="team-am"' | "$PY" -c '
import json, sys
a = json.load(sys.stdin)
fp = {x["fingerprint"]: x["labels"]["threshold"] for x in a}
print("\n".join(sorted("%s %s %s %s" % (x["labels"]["threshold"], ",".join(sorted(x["labels"])), x["status"]["state"],
                                       "+".join(fp.get(f, "?") for f in x["status"]["inhibitedBy"]) or "-") for x in a)))'
}
suppressed() { am_alerts | grep -q '^80 .* suppressed 100$'; }
wait_for 30 suppressed
assert_eq "100 alertname,metric,period,quota,scope,severity,subject,threshold active -
80 alertname,metric,period,quota,scope,severity,subject,threshold suppressed 100" "$(am_alerts)" \
    "Alertmanager keeps one alert per threshold from both sources; 100 % inhibits 80 %"

# histogram buckets as Prometheus' clients write them: le="10" and le="+Inf" select the
# same requests (none took 10 s)
curl -s "$URL/metrics" >"$TMP/metrics"
assert_match 'tally_http_request_duration_seconds_bucket\{route="/healthz",status="200",le="10"\} [0-9]+' \
    "$(cat "$TMP/metrics")" "tally-report writes le=\"10\""
assert_eq "" "$(grep -E 'le="[0-9.]+e[+-]' "$TMP/metrics")" "no bucket bound in exponent form"
le10=$(pquery 'sum(tally_http_request_duration_seconds_bucket{route="/healthz",le="10"})')
inf=$(pquery 'sum(tally_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"})')
assert_match '^ [1-9][0-9]*$' "$le10" "Prometheus selects _bucket{le=\"10\"}"
assert_eq "$inf" "$le10" "le=\"10\" holds every /healthz request, as le=\"+Inf\" does"
# each comparison is one query, evaluated at one instant: a scrape between two queries can
# add a histogram (a route answered since), as it did once on a busy machine
n=$(pquery 'count(tally_http_request_duration_seconds_bucket{le="+Inf"})')
assert_match '^ [1-9][0-9]*$' "$n" "Prometheus has request histograms"
for le in 0.0025 1; do
    assert_eq " 0" "$(pquery "count(tally_http_request_duration_seconds_bucket{le=\"+Inf\"})
        - count(tally_http_request_duration_seconds_bucket{le=\"$le\"})")" \
        "every histogram has its bound $le selectable as written"
done
finish
