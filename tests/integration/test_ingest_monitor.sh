#!/usr/bin/env bash
# Azure Monitor join over Kafka: GatewayLlmLogs (tokens) and GatewayLogs (caller) meet on
# correlationId in either order and in different batches; chunked LLM records count once
# (also a chunk arriving after the join); LLM usage whose caller never comes is stored as
# "unattributed" after monitor_join_wait_s; a caller record alone is dropped.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 1 --partitions 2 --topic mon

# rec KIND CORRELATION_ID [SEQ|OID]: one record as Azure streams it (in a records envelope)
rec() {
    python3 - "$@" <<'PY'
import json, sys
kind, cid = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else ""
props = {"correlationId": cid}
if kind == "llm":
    props.update(modelName="claude-sonnet-4-6", deploymentName="claude-sonnet-4-6",
                 promptTokens=100, completionTokens=20, promptCachedTokens=3000,
                 sequenceNumber=int(arg or 0), isStreamCompletion=True)
    cat = "GatewayLlmLogs"
else:
    props.update(apimSubscriptionId="sub-team-a", responseCode=200)
    if arg:
        props["backendRequestHeaders"] = {"x-tally-user-oid": arg, "x-tally-user-upn": arg + "@contoso.example"}
    cat = "GatewayLogs"
print(cid + "-" + kind + "\t" + json.dumps({"records": [{"time": "2026-10-14T09:12:33.51Z",
      "category": cat, "properties": props}]}))
PY
}
produce() { kcat -P -b "$MB_BOOTSTRAP" -t mon -K$'\t'; }
events() { sql "SELECT request_id, developer_oid, input_tokens, output_tokens, cache_read_tokens
                FROM usage_events ORDER BY request_id"; }
pending() { echo "$(sql 'SELECT count(*) FROM ingest_monitor_llm') $(sql 'SELECT count(*) FROM ingest_monitor_gateway')"; }
nothing_pending() { [ "$(pending)" = "0 0" ]; }

# first with a wait far longer than the test, so that the joins cannot race the expiry
start_ingest "$TMP/ingest.log" mon it-mon --monitor-join-wait-s 3600 --batch-linger-ms 100

{ rec llm c-llm-first; rec gateway c-gw-first dev-b; rec llm c-chunked 0
  rec llm c-no-caller; rec gateway c-no-llm dev-x; } | produce
wait_for 60 offsets_caught_up it-mon mon 2
assert_eq "" "$(events)" "halves alone are not events"
assert_eq "3 2" "$(pending)" "halves wait in Postgres"

{ rec gateway c-llm-first dev-a; rec llm c-gw-first; rec llm c-chunked 1; rec gateway c-chunked ""
  rec llm c-chunked 1; } | produce
wait_for 30 offsets_caught_up it-mon mon 2
assert_eq "c-chunked|sub-team-a|100|20|3000
c-gw-first|dev-b|100|20|3000
c-llm-first|dev-a|100|20|3000" "$(events)" \
    "joined in either order; chunks once; no oid header: the APIM subscription"
assert_eq "dev-a@contoso.example" "$(sql "SELECT developer_upn FROM usage_events WHERE request_id = 'c-llm-first'")" "upn from the logged header"

assert_eq "1 1" "$(pending)" "the unmatched halves still wait"

# then with a wait of 1 s: what waited longer expires on the next tick
kill -TERM $INGEST_PID
wait $INGEST_PID
assert_eq 0 $? "SIGTERM: exit 0"
start_ingest "$TMP/ingest.log" mon it-mon --monitor-join-wait-s 1 --batch-linger-ms 100
wait_for 60 nothing_pending
assert_eq "c-no-caller|unattributed|100|20|3000" "$(sql "SELECT request_id, developer_oid, input_tokens,
    output_tokens, cache_read_tokens FROM usage_events WHERE developer_oid = 'unattributed'")" \
    "after monitor_join_wait_s the usage is stored as unattributed"
assert_eq "0 0" "$(pending)" "the caller record alone is dropped after the wait"

# late deliveries after the join or the expiry change nothing
{ rec llm c-chunked 2; rec llm c-llm-first; rec gateway c-no-caller dev-z; } | produce
wait_for 30 offsets_caught_up it-mon mon 2
wait_for 20 nothing_pending
assert_eq "4|400|4" "$(sql 'SELECT count(*), sum(input_tokens), count(DISTINCT request_id) FROM usage_events')" "late chunks and duplicates count nothing"
assert_eq "$(sql 'SELECT count(*), sum(input_tokens), sum(cache_read_tokens) FROM usage_events')" \
    "$(sql 'SELECT sum(requests), sum(input_tokens), sum(cache_read_tokens) FROM usage_rollup_15m')" "rollups equal raw rows"
assert_eq "4" "$(sql 'SELECT sum(cache_unknown_requests) FROM usage_rollup_day')" "cache writes flagged unknown on this path"
kill -TERM $INGEST_PID
wait $INGEST_PID
assert_eq 0 $? "SIGTERM: exit 0"
finish
