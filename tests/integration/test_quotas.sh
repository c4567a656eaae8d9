#!/usr/bin/env bash
# Quotas (docs/architecture.md, "Quotas and alerts"): periods in any zone (DST, +05:45),
# thresholds fire exactly once per period and again in the next one, the forecast fires
# before the limit on a steady burn, a team quota sums its members (dated membership),
# validation and CRUD through tallyctl, and two evaluators at once on one database deliver
# exactly one notification per threshold.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/quota_lib.sh"
quota_db

# ---- periods ----
period() { sql "SELECT to_char(period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI') || ' ' ||
                       to_char(period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI')
                  FROM tally_quota_period('$1', '$2', '$3')"; }
assert_eq "2026-03-09T18:15 2026-03-10T18:15" "$(period day Asia/Kathmandu 2026-03-10T18:14:59Z)" "day in +05:45, a second before midnight"
assert_eq "2026-03-10T18:15 2026-03-11T18:15" "$(period day Asia/Kathmandu 2026-03-10T18:15:00Z)" "day in +05:45, at midnight"
assert_eq "2026-03-08T05:00 2026-03-09T04:00" "$(period day America/New_York 2026-03-08T12:00Z)" "New York's spring-forward day has 23 hours"
assert_eq "2026-11-01T04:00 2026-11-02T05:00" "$(period day America/New_York 2026-11-01T12:00Z)" "New York's fall-back day has 25 hours"
assert_eq "2026-10-26T04:00 2026-11-02T05:00" "$(period week America/New_York 2026-11-02T04:59:59Z)" "ISO week from Monday, across the DST change"
assert_eq "2026-11-02T05:00 2026-11-09T05:00" "$(period week America/New_York 2026-11-02T05:00Z)" "the next week starts Monday 00:00 local"
assert_eq "2026-02-28T18:15 2026-03-31T18:15" "$(period month Asia/Kathmandu 2026-03-31T18:14Z)" "month in +05:45"
assert_eq "2026-03-31T18:15 2026-04-30T18:15" "$(period month Asia/Kathmandu 2026-03-31T18:15Z)" "next month in +05:45"
assert_eq "2026-03-01T05:00 2026-04-01T04:00" "$(period month America/New_York 2026-03-15T00:00Z)" "month in New York across DST"
assert_eq "2026-02-28T18:30 2026-03-31T18:30" "$(period month Asia/Kolkata 2026-03-15T00:00Z)" "month in +05:30"

# ---- validation and CRUD through tallyctl ----
err=$("$CTL" --db "$DB" quotas create name=bad scope=team metric=cost_usd period=month limit=10 2>&1); rc=$?
assert_eq 2 "$rc" "a team quota without a subject is refused with exit 2"
assert_match 'subject' "$err" "the refusal names the field"
err=$("$CTL" --db "$DB" quotas create name=bad scope=developer subject=x metric=cost_usd period=month limit=10 tz=Mars/Olympus 2>&1); rc=$?
assert_eq 2 "$rc" "an unknown zone is refused with exit 2"
assert_match 'unknown time zone "Mars/Olympus"' "$err" "the refusal names the zone"
err=$("$CTL" --db "$DB" quotas create name=bad scope=developer subject=x metric=cost_usd period=month limit=10 thresholds=80,50 2>&1); rc=$?
assert_eq 2 "$rc" "descending thresholds are refused"
err=$("$CTL" --db "$DB" quotas create name=bad scope=developer subject=x metric=cost_usd period=month limit=10 \
      target=slack,https://hooks.slack.example/T0/B0/supersecret,env:TALLY_ALERT_KEY_K 2>&1); rc=$?
assert_eq 2 "$rc" "a signing key on a Slack target is refused"
assert_eq "" "$(grep -o supersecret <<<"$err")" "the refusal does not echo the URL"
for ref in env:PGPASSWORD env:TALLY_ALERT_KEY_ file:/etc/passwd file:/etc/no-such-file file:/run/secrets/../x; do
    err=$("$CTL" --db "$DB" quotas create name=bad scope=everyone metric=tokens period=day limit=10 \
          target=webhook,http://127.0.0.1:9/x,$ref 2>&1); rc=$?
    assert_eq "2 tallyctl: could not create the quota: targets: target 0: secret must be env:TALLY_ALERT_KEY_NAME or file:/path under /run/secrets/ or \$CREDENTIALS_DIRECTORY (a reference, not the key)" \
        "$rc $err" "secret $ref: exit 2 naming targets, the same words whether a file exists or not"
done
assert_eq 0 "$(sql 'SELECT count(*) FROM quotas')" "nothing refused was stored"
err=$("$CTL" --db "$DB" quotas evaluate --now yesterday-ish 2>&1); rc=$?
assert_eq "2 tallyctl: invalid value for \"now\": expected a timestamp" "$rc $err" "a bad --now: exit 2 naming the key"

# ---- thresholds: once per period, again in the next; day periods in Asia/Kathmandu ----
q1=$(quota name=dev-a-daily scope=developer subject=dev-a metric=cost_usd period=day tz=Asia/Kathmandu \
     limit=10 target=webhook,http://127.0.0.1:9/never)
dup=$("$CTL" --db "$DB" quotas create name=dev-a-daily scope=everyone metric=tokens period=day limit=1 2>&1); rc=$?
assert_eq 1 "$rc" "a second quota with the same name: exit 1"
assert_match 'exists' "$dup" "and says why"
dollars dev-a 2026-03-10T02:00:00Z 4 # 07:45 in Kathmandu
dollars dev-b 2026-03-10T02:00:00Z 50 # someone else's usage never counts
assert_eq "quotas 1 fired 0 queued 0 errors 0" "$(evaluate 2026-03-10T03:00:00Z)" "40 %: nothing fires"
assert_eq t "$(sql "SELECT used = 4 AND ratio = 0.4 FROM tally_quota_usage($q1, '2026-03-10T03:00:00Z')")" "used is exactly \$4, ratio 0.4"
usage dev-a 2026-03-10T04:00:00Z 500000 100000 # $0.50 + $0.50
assert_eq "quotas 1 fired 1 queued 1 errors 0" "$(evaluate 2026-03-10T05:00:00Z)" "50 %: fires and queues one notification"
assert_eq "quotas 1 fired 0 queued 0 errors 0" "$(evaluate 2026-03-10T05:01:00Z)" "evaluating again fires nothing"
dollars dev-a 2026-03-10T06:00:00Z 3
assert_eq "quotas 1 fired 1 queued 1 errors 0" "$(evaluate 2026-03-10T07:00:00Z)" "80 % fires"
dollars dev-a 2026-03-10T18:00:00Z 2 # 23:45 in Kathmandu: still March 10th there
assert_eq "quotas 1 fired 1 queued 1 errors 0" "$(evaluate 2026-03-10T18:14:59Z)" "100 % fires at 23:59:59 local"
assert_eq t "$(sql "SELECT used = 10 FROM tally_quota_usage($q1, '2026-03-10T18:14:59Z')")" "used is exactly \$10"
dollars dev-a 2026-03-10T18:15:00Z 6 # 00:00 on March 11th in Kathmandu
assert_eq "quotas 1 fired 1 queued 1 errors 0" "$(evaluate 2026-03-10T18:20:00Z)" "the next local day: 50 % fires again"
assert_eq "quotas 1 fired 0 queued 0 errors 0" "$(evaluate 2026-03-10T18:30:00Z)" "and only once"
assert_eq "03-09T18:15/50 03-09T18:15/80 03-09T18:15/100 03-10T18:15/50" "$(fired "$q1")" "alert log: 50, 80, 100, then 50 of the next day"
assert_eq "4 4 pending" "$(sql "SELECT count(*) || ' ' || count(DISTINCT alert_id) || ' ' || min(state) FROM alert_outbox")" "one pending delivery per alert"
st=$("$CTL" --db "$DB" quotas status --now 2026-03-10T18:30:00Z | tail -n +2 | cut -f2-7)
assert_eq "dev-a-daily	2026-03-10 18:15:00+00	2026-03-11 18:15:00+00	6	10	0.6" "$st" "tallyctl quotas status"

# ---- forecast: a steady burn projected to the month's end fires before the limit ----
# 40,000 tokens a day at noon in New York against 1,000,000 a month: the projection
# (1.2 M) is over the limit from the first evaluation allowed (a tenth of the month,
# 74.3 h of March's 743: DST takes an hour), the limit itself is reached on day 25.
q2=$(quota name=dev-f-monthly scope=developer subject=dev-f metric=tokens period=month \
     tz=America/New_York limit=1000000 thresholds=100 forecast=true)
sql "DELETE FROM alert_outbox; DELETE FROM alert_log" >/dev/null
sql "DELETE FROM quotas WHERE id = $q1" >/dev/null
forecast_day="" limit_day=""
for d in $(seq 1 26); do
    day=$(printf '2026-03-%02d' "$d")
    usage dev-f "$(sql "SELECT ('$day 12:00'::timestamp AT TIME ZONE 'America/New_York')")" 30000 10000
    case $d in 6|7|8|9|1[0-9]|2[0-2]) continue ;; esac # nothing to see: fewer processes
    midnight=$(sql "SELECT (('$day'::date + 1)::timestamp AT TIME ZONE 'America/New_York')")
    out=$(evaluate "$midnight")
    if [ "$out" != "quotas 1 fired 0 queued 0 errors 0" ]; then
        last=$(sql "SELECT threshold FROM alert_log WHERE quota_id = $q2 ORDER BY id DESC LIMIT 1")
        [ "$last" = forecast ] && forecast_day="$forecast_day$d "
        [ "$last" = 100 ] && limit_day="$limit_day$d "
    fi
done
assert_eq "4 " "$forecast_day" "the forecast fires once, at the end of day 4 (the first allowed)"
assert_eq "25 " "$limit_day" "the 100 % threshold fires once, on day 25"
assert_eq "forecast 100" "$(sql "SELECT string_agg(threshold, ' ' ORDER BY id) FROM alert_log WHERE quota_id = $q2")" \
    "and nothing else fired in the month (evaluated on days 1-5 and 23-26)"
assert_eq "160000 1000000 1238333.333333" \
    "$(sql "SELECT used || ' ' || limit_value || ' ' || forecast FROM alert_log WHERE quota_id = $q2 AND threshold = 'forecast'")" \
    "the forecast alert records used 160,000 and the projection 160,000 × 743 h / 96 h"
assert_eq t "$(sql "SELECT forecast IS NULL FROM tally_quota_usage($q2, '2026-03-04T05:00:00Z')")" "no projection after 72 h (under a tenth of 743 h)"
assert_eq f "$(sql "SELECT forecast IS NULL FROM tally_quota_usage($q2, '2026-03-04T07:30:00Z')")" "a projection after 74.5 h"

# ---- a team quota sums its members, by dated membership ----
sql "INSERT INTO developers (oid, upn, team) VALUES ('t1', 't1@x', 'red'), ('t3', 't3@x', 'blue');
     INSERT INTO developers (oid, upn, team, valid_to) VALUES ('t2', 't2@x', 'blue', '2026-04-15T00:00Z');
     INSERT INTO developers (oid, upn, team, valid_from) VALUES ('t2', 't2@x', 'red', '2026-04-15T00:00Z')" >/dev/null
for day in 2026-04-10 2026-04-20; do
    dollars t1 "${day}T10:00Z" 1
    dollars t2 "${day}T10:00Z" 2
    dollars t3 "${day}T10:00Z" 4
done
qr=$(quota name=team-red scope=team subject=red metric=cost_usd period=month limit=100)
qb=$(quota name=team-blue scope=team subject=blue metric=cost_usd period=month limit=100)
qe=$(quota name=everyone scope=everyone metric=cost_usd period=month limit=100)
qt=$(quota name=everyone-tokens scope=everyone metric=tokens period=month limit=100)
u() { sql "SELECT used FROM tally_quota_usage($1, '2026-04-25T00:00Z')"; }
assert_eq t "$(sql "SELECT used = 4 FROM tally_quota_usage($qr, '2026-04-25T00:00Z')")" "team red: t1 \$2 + t2 \$2 after joining on the 15th = \$4"
assert_eq t "$(sql "SELECT used = 10 FROM tally_quota_usage($qb, '2026-04-25T00:00Z')")" "team blue: t3 \$8 + t2 \$2 before leaving = \$10"
assert_eq t "$(sql "SELECT used = 14 FROM tally_quota_usage($qe, '2026-04-25T00:00Z')")" "everyone: \$14"
assert_eq 14000000 "$(u "$qt")" "everyone in tokens: 14,000,000"
# a month without membership changes (the per-developer path): May in Europe/Berlin
qbb=$(quota name=team-blue-berlin scope=team subject=blue metric=cost_usd period=month tz=Europe/Berlin limit=100)
dollars t3 2026-05-10T10:00Z 3
dollars t2 2026-05-10T10:00Z 5 # red since April 15th
dollars t3 2026-04-30T21:45Z 20 # April 30th 23:45 in Berlin: not May
dollars t3 2026-04-30T22:00Z 7  # May 1st 00:00 in Berlin
assert_eq t "$(sql "SELECT used = 10 FROM tally_quota_usage($qbb, '2026-05-20T00:00Z')")" "team blue in May (Berlin): t3's \$3 + \$7 from 00:00 local"
assert_eq t "$(sql "SELECT used = 5 FROM tally_quota_usage($qr, '2026-05-20T00:00Z')")" "team red in May (UTC): t2's \$5"
sql "DELETE FROM quotas WHERE id IN ($qr, $qb, $qe, $qt, $qbb)" >/dev/null

# ---- a zone the engine refuses (Monrovia's 1965 offset is off the 15-minute grid)
# fails its own quotas, never the others ----
qm=$(quota name=monrovia scope=everyone metric=tokens period=month tz=Africa/Monrovia limit=10)
qo=$(quota name=utc-1965 scope=everyone metric=tokens period=month limit=10 thresholds=100)
sql "SELECT tally_ensure_month('1965-06-15')" >/dev/null
dollars dev-a 1965-06-10T00:00Z 1
assert_eq "quotas 3 fired 1 queued 0 errors 1" "$(evaluate 1965-06-15T00:00Z 2>/dev/null)" "one quota fails, the others are evaluated (one fires)"
sql "DELETE FROM quotas WHERE id IN ($qm, $qo)" >/dev/null

# ---- unpriced usage has no cost: a cost quota shows it apart, never as $0 silently ----
sql "UPDATE usage_rollup_15m SET model = 'mystery-model' WHERE developer_oid = 't3' AND bucket >= '2026-04-20' AND bucket < '2026-04-21';
     UPDATE usage_rollup_day SET model = 'mystery-model' WHERE developer_oid = 't3' AND day = '2026-04-20'" >/dev/null
qu=$(quota name=t3-cost scope=developer subject=t3 metric=cost_usd period=month limit=100)
assert_eq "31 4000000" "$(sql "SELECT used || ' ' || unpriced_tokens FROM tally_quota_usage($qu, '2026-04-25T00:00Z')")" \
    "t3 in April: \$4 + \$20 + \$7 priced, 4,000,000 tokens of an unknown model shown apart"
sql "DELETE FROM quotas WHERE id = $qu" >/dev/null

# ---- two evaluators at once: exactly one delivery per threshold ----
receiver_start "$TMP/rcv"
qc=$(quota name=concurrent scope=developer subject=dev-c metric=cost_usd period=month limit=10 \
     thresholds=10,20,30,40,50,60,70,80,90,100 target=webhook,http://127.0.0.1:$RCV_PORT/hook)
dollars dev-c 2026-05-03T10:00Z 10
for round in 1 2; do
    pids=()
    for i in 1 2 3 4; do
        evaluate 2026-05-04T00:00Z >>"$TMP/eval.out" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
done
assert_eq 10 "$(awk '{s += $4} END {print s}' "$TMP/eval.out")" "8 evaluators in 2 rounds of 4 concurrent: 10 thresholds fired in all"
pids=()
for i in 1 2 3; do
    "$CTL" --db "$DB" --log-level warn alerts deliver >>"$TMP/deliver.out" 2>&1 &
    pids+=($!)
done
wait "${pids[@]}"
assert_eq 10 "$(awk '{s += $2} END {print s}' "$TMP/deliver.out")" "3 concurrent deliverers: 10 deliveries in all"
assert_eq 10 "$(wc -l <"$RCV_LOG")" "the receiver got exactly 10 requests"
assert_eq "10 20 30 40 50 60 70 80 90 100" \
    "$(python3 -c 'import json,sys; print(" ".join(sorted((json.loads(json.loads(l)["body"])["threshold"] for l in open(sys.argv[1])), key=int)))' "$RCV_LOG")" \
    "one request per threshold"
assert_eq "10 delivered" "$(sql "SELECT count(*) || ' ' || min(state) FROM alert_outbox o JOIN alert_log a ON a.id = o.alert_id WHERE a.quota_id = $qc")" "every outbox row delivered"

# ---- delete ----
assert_eq "quota $qc deleted" "$("$CTL" --db "$DB" quotas delete concurrent)" "delete by name"
assert_eq 0 "$(sql "SELECT count(*) FROM alert_log WHERE quota_id = $qc")" "its alerts go with it"
"$CTL" --db "$DB" quotas delete concurrent >/dev/null 2>&1; rc=$?
assert_eq 1 "$rc" "deleting it again: exit 1"
finish
