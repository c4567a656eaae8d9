#!/usr/bin/env bash
# Webhook delivery: a receiver that answers 503 to the first 3 attempts gets the alert
# exactly once after it comes back, signed with HMAC-SHA256 under the key the target
# references; the retries back off exponentially; the outbox shows the delivery state;
# neither the URL nor the key appears in any log line. Also Slack, Teams (payload
# shapes), a receiver refusing the payload (failed, no retry) and one that never
# answers (retried with the error recorded).
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/quota_lib.sh"
quota_db

export TALLY_ALERT_KEY_TEST_HOOK="k-$RANDOM-not-in-logs"
receiver_start "$TMP/rcv" --fail-first 3 --secret-env TALLY_ALERT_KEY_TEST_HOOK
URL="http://127.0.0.1:$RCV_PORT/hooks/s3cr3t-path"
q=$(quota name=signed scope=developer subject=dev-w metric=cost_usd period=month limit=10 thresholds=100 \
    target=webhook,$URL,env:TALLY_ALERT_KEY_TEST_HOOK)
dollars dev-w 2026-06-10T10:00Z 12
assert_eq "quotas 1 fired 1 queued 1 errors 0" "$(evaluate 2026-06-11T00:00Z)" "100 % fires once"

deliver() { "$CTL" --db "$DB" --alert-backoff-ms 200 --alert-backoff-max-ms 5000 alerts deliver 2>>"$TMP/ctl.log"; }
for _ in $(seq 1 60); do
    out=$(deliver)
    [[ "$out" == *"pending 0" ]] && break
    sleep 0.2
done
assert_match "pending 0$" "$out" "the outbox drains"
assert_eq "503 503 503 200" "$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["status"]) for l in open(sys.argv[1])))' "$RCV_LOG")" \
    "3 refused attempts, then one delivery"
assert_eq 1 "$(grep -c '"status": 200' "$RCV_LOG")" "received exactly once"
assert_eq "True True True True" "$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["sig_ok"]) for l in open(sys.argv[1])))' "$RCV_LOG")" \
    "every attempt carries a valid X-Tally-Signature"
assert_eq "application/json" "$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["content_type"])' "$RCV_LOG")" "sent as JSON"
assert_eq "tally.quota_alert/1 signed 100 12 10 1.2" \
    "$(python3 -c 'import json,sys; b=json.loads(json.loads(open(sys.argv[1]).readlines()[-1])["body"]); print(b["type"], b["quota"]["name"], b["threshold"], b["used"], b["limit"], b["ratio"])' "$RCV_LOG")" \
    "the payload: type, quota, threshold, exact used, limit and ratio"
assert_eq 1 "$(python3 -c 'import json,sys; print(len({json.loads(l)["delivery"] for l in open(sys.argv[1])}))' "$RCV_LOG")" \
    "every attempt names the same delivery (receivers can deduplicate)"
gaps=$(python3 -c '
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])]
print(" ".join("ok" if b - a >= want else "short:%.3f" % (b - a) for a, b, want in zip(t, t[1:], (0.2, 0.4, 0.8))))' "$RCV_LOG")
assert_eq "ok ok ok" "$gaps" "attempts back off: at least 0.2, 0.4 and 0.8 s apart"
assert_eq "delivered 4 200 true" "$(sql "SELECT state || ' ' || attempts || ' ' || last_status || ' ' || (last_error IS NULL AND delivered_at IS NOT NULL) FROM alert_outbox")" \
    "the outbox records the delivery, 4 attempts, status 200"
assert_eq 0 "$(grep -c -e "$RCV_PORT" -e s3cr3t -e "$TALLY_ALERT_KEY_TEST_HOOK" "$TMP/ctl.log")" "no URL and no key in the logs"
assert_match 'delivered alert [0-9]+ to target 0 \(webhook, delivery [0-9]+\) after 4 attempt' "$(cat "$TMP/ctl.log")" \
    "the log names the target by position and kind, the delivery by id"
assert_eq 4 "$(wc -l <"$RCV_LOG")" "nothing more is sent afterwards"
deliver >/dev/null
assert_eq 4 "$(wc -l <"$RCV_LOG")" "not even when delivery runs again"

# ---- Slack and Teams payloads; a refusing receiver; a dead one; a missing key ----
receiver_start "$TMP/rcv2"
sql "DELETE FROM quotas" >/dev/null
dead=$(free_port)
q=$(quota name=chat scope=everyone metric=tokens period=day tz=Europe/Berlin limit=1000 thresholds=100 \
    target=slack,http://127.0.0.1:$RCV_PORT/slack target=teams,http://127.0.0.1:$RCV_PORT/teams \
    target=webhook,http://127.0.0.1:$dead/dead \
    target=webhook,http://127.0.0.1:$RCV_PORT/nokey,env:TALLY_ALERT_KEY_TEST_UNSET)
dollars dev-w 2026-06-12T10:00Z 1
assert_eq "quotas 1 fired 1 queued 4 errors 0" "$(evaluate 2026-06-12T11:00Z)" "one alert, four targets"
deliver >/dev/null
body() { python3 -c 'import json,sys; [print(json.loads(l)["body"]) for l in open(sys.argv[1]) if json.loads(l)["path"] == sys.argv[2]]' "$RCV_LOG" "$1"; }
assert_match '^\{"text": "quota \\"chat\\" \(everyone, tokens per day in Europe/Berlin\): 100% threshold reached: 1000000 tokens used of 1000 tokens' \
    "$(body /slack | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"text": d["text"]}))')" "Slack: text"
assert_eq "header section" "$(body /slack | python3 -c 'import json,sys; print(" ".join(b["type"] for b in json.load(sys.stdin)["blocks"]))')" "Slack: blocks"
assert_eq "message AdaptiveCard Attention Used=1000000" \
    "$(body /teams | python3 -c 'import json,sys; d=json.load(sys.stdin); c=d["attachments"][0]["content"]; f=c["body"][2]["facts"][0]; print(d["type"], c["type"], c["body"][0]["color"], f["title"] + "=" + f["value"])')" \
    "Teams: an Adaptive Card with facts"
assert_eq "delivered delivered" "$(sql "SELECT string_agg(state, ' ' ORDER BY target_index) FROM alert_outbox WHERE target_index < 2")" "Slack and Teams delivered"
assert_match "^pending 1 [A-Za-z]" "$(sql "SELECT state || ' ' || attempts || ' ' || last_error FROM alert_outbox WHERE target_index = 2")" \
    "the dead receiver: pending, retried later, curl's error recorded"
assert_eq "pending could not read the signing key of target 3" \
    "$(sql "SELECT state || ' ' || last_error FROM alert_outbox WHERE target_index = 3")" "a missing key: not sent unsigned, retried"
assert_eq 0 "$(body /nokey | wc -l)" "nothing was sent without its signature"

sql "DELETE FROM alert_log" >/dev/null # and with it the outbox
# a receiver answering 404 refuses the payload: failed at once, never retried
receiver_start "$TMP/rcv404" --status 404
sql "UPDATE quotas SET targets = jsonb_build_array(jsonb_build_object('kind', 'webhook', 'url', 'http://127.0.0.1:$RCV_PORT/x'))" >/dev/null
assert_eq "quotas 1 fired 1 queued 1 errors 0" "$(evaluate 2026-06-12T11:00Z)" "fired again after its log was cleared"
assert_eq "delivered 0 retrying 0 failed 1 pending 0" "$(deliver)" "HTTP 404: failed, not retried"
assert_eq "failed 1 404 HTTP status 404" "$(sql "SELECT state || ' ' || attempts || ' ' || last_status || ' ' || last_error FROM alert_outbox")" "the outbox says why"
finish
