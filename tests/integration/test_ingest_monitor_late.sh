#!/usr/bin/env bash
# Azure Monitor records late or re-sent, and a request Postgres refuses inside the join
# (issue 11, item 6), through --from-file so that every step is one known transaction:
# a caller record arriving after its usage was stored as 'unattributed' re-attributes the
# event and moves its rollup contributions with it (15-minute, day and month rows, exact);
# a re-sent document counts as duplicates; a request the database refuses in the join is
# one reject with what tally held of it, the rest of the batch is stored, nothing waits.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
FIX=$SRC/tests/fixtures/events

# doc FILE KIND:CORRELATION_ID[:OID|:INPUT_TOKENS] ...: one records document
doc() {
    python3 - "$@" <<'PY'
import json, sys
recs = []
for spec in sys.argv[2:]:
    kind, cid, arg = (spec.split(":") + [""])[:3]
    props = {"correlationId": cid}
    if kind == "llm":
        props.update(modelName="claude-sonnet-4-6", deploymentName="claude-sonnet-4-6",
                     promptTokens=int(arg or 100), completionTokens=20, promptCachedTokens=3000,
                     sequenceNumber=0, isStreamCompletion=True)
        cat = "GatewayLlmLogs"
    else:
        props.update(apimSubscriptionId="sub-team-a", responseCode=200, region="Sweden Central")
        if arg:
            props["backendRequestHeaders"] = {"x-tally-user-oid": arg, "x-tally-user-upn": arg + "@contoso.example"}
        cat = "GatewayLogs"
    recs.append({"time": "2026-10-14T09:12:33.51Z", "category": cat, "properties": props})
json.dump({"records": recs}, open(sys.argv[1], "w"))
PY
}
run() { timeout 30 "$ING" --db "$DB" --monitor-join-wait-s 0 --from-file "$1" 2>>"$TMP/log"; }
rollup() { # TABLE: developer|requests|input|output|cache_read per developer
    sql "SELECT developer_oid, sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens)
         FROM $1 GROUP BY 1 ORDER BY 1"; }
raw_sums() { sql "SELECT developer_oid, count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens)
                  FROM usage_events GROUP BY 1 ORDER BY 1"; }
rollups_exact() {
    for t in usage_rollup_15m usage_rollup_day usage_rollup_month; do
        assert_eq "$(raw_sums)" "$(rollup $t)" "$1: $t equals the raw rows"
    done
}

# two LLM records whose callers do not come in time: stored as unattributed
doc "$TMP/late.json" llm:late-1:200 llm:late-2:7
assert_eq "read=2 inserted=0 duplicates=0 rejected=0" "$(run "$TMP/late.json")" "LLM halves wait"
assert_eq "read=3 inserted=3 duplicates=0 rejected=0" "$(run "$FIX/monitor-records.json")" \
    "the wait (0 s) is over: two unattributed, and the fixture's pair joined"
assert_eq "unattributed|2|207|40|6000" "$(sql "SELECT developer_oid, count(*), sum(input_tokens),
    sum(output_tokens), sum(cache_read_tokens) FROM usage_events WHERE developer_oid = 'unattributed' GROUP BY 1")" \
    "late-1 and late-2 stored unattributed"
rollups_exact "unattributed"

# the same document again: its one request is a duplicate, nothing is pending
assert_eq "read=3 inserted=0 duplicates=1 rejected=0" "$(run "$FIX/monitor-records.json")" \
    "re-sent monitor document: counted as a duplicate"
assert_eq "0 0" "$(sql 'SELECT count(*) FROM ingest_monitor_llm') $(sql 'SELECT count(*) FROM ingest_monitor_gateway')" \
    "re-sent: no half pending"

# late-1's caller arrives: the event moves to dev-late with its rollups
doc "$TMP/caller.json" gateway:late-1:dev-late
assert_eq "read=1 inserted=0 duplicates=0 rejected=0 reattributed=1" "$(run "$TMP/caller.json")" \
    "the late caller re-attributes"
assert_eq "late-1|dev-late|dev-late@contoso.example|sub-team-a|Sweden Central|200|200|20|3000
late-2|unattributed|||||7|20|3000" "$(sql "SELECT request_id, developer_oid, developer_upn, subscription, region,
    status_code, input_tokens, output_tokens, cache_read_tokens FROM usage_events WHERE request_id LIKE 'late-%'
    ORDER BY 1")" "late-1 is dev-late's now, with the gateway's fields; late-2 still unattributed"
assert_eq "1" "$(sql "SELECT count(*) FROM usage_events WHERE request_id = 'late-1'")" "still one event"
assert_eq "a1b2c3d4-1111-4222-8333-444455556666|1|42|1873|88412
dev-late|1|200|20|3000
unattributed|1|7|20|3000" "$(rollup usage_rollup_15m)" "15-minute rollup moved: exact sums per developer"
rollups_exact "re-attributed"
assert_eq "1|1|1" "$(sql "SELECT (SELECT count(*) FROM usage_rollup_15m WHERE developer_oid = 'unattributed'),
    (SELECT count(*) FROM usage_rollup_day WHERE developer_oid = 'unattributed'),
    (SELECT count(*) FROM usage_rollup_month WHERE developer_oid = 'unattributed')")" "late-2's rows stay"
assert_eq "dev-late@contoso.example" "$(sql "SELECT upn FROM developer_labels WHERE oid = 'dev-late'")" "label of the caller"

# late-2's caller too: the unattributed rows are emptied and removed, not left at zero
doc "$TMP/caller2.json" gateway:late-2:dev-late
assert_eq "read=1 inserted=0 duplicates=0 rejected=0 reattributed=1" "$(run "$TMP/caller2.json")" "late-2 re-attributed"
assert_eq "0" "$(sql "SELECT (SELECT count(*) FROM usage_rollup_15m WHERE developer_oid = 'unattributed')
    + (SELECT count(*) FROM usage_rollup_day WHERE developer_oid = 'unattributed')
    + (SELECT count(*) FROM usage_rollup_month WHERE developer_oid = 'unattributed')")" "no empty unattributed rows"
assert_eq "dev-late|2|207|40|6000" "$(rollup usage_rollup_month | grep '^dev-late')" "month rollup: dev-late has both"
rollups_exact "both re-attributed"

# the caller record re-sent: a duplicate, nothing moves
assert_eq "read=1 inserted=0 duplicates=1 rejected=0" "$(run "$TMP/caller.json")" "re-sent caller: a duplicate"
assert_eq "0" "$(sql 'SELECT count(*) FROM ingest_monitor_gateway')" "re-sent caller: not pending"
rollups_exact "re-sent caller"

# a request Postgres refuses in the join (a CHECK the test adds, SQLSTATE 23514 as any data
# error): one reject, the good pair of the same batch stored, nothing left to retry
sql "ALTER TABLE usage_events ADD CONSTRAINT test_poison CHECK (request_id NOT LIKE 'poison-%')" >/dev/null
doc "$TMP/poison.json" llm:poison-1:55 gateway:poison-1:dev-p llm:ok-1:11 gateway:ok-1:dev-ok
assert_eq "read=4 inserted=1 duplicates=0 rejected=1" "$(run "$TMP/poison.json")" "poison: the rest stored, one reject"
assert_eq "ok-1|dev-ok|11" "$(sql "SELECT request_id, developer_oid, input_tokens FROM usage_events
    WHERE request_id IN ('ok-1', 'poison-1')")" "poison: the good pair of the batch is stored"
assert_eq "monitor:poison-1:refused|azure monitor correlationId poison-1|database refused: 23514 new row for relation \"usage_events_2026_10\" violates check constraint \"test_poison\"" \
    "$(sql "SELECT source_key, source, reason FROM ingest_rejects WHERE source_key LIKE 'monitor:%'")" \
    "poison: the reject and its reason"
assert_eq "poison-1|55|20|3000|claude-sonnet-4-6|poison-1|dev-p|sub-team-a" "$(sql "SELECT r->'GatewayLlmLogs'->>'correlation_id',
    r->'GatewayLlmLogs'->>'input_tokens', r->'GatewayLlmLogs'->>'output_tokens', r->'GatewayLlmLogs'->>'cache_read_tokens',
    r->'GatewayLlmLogs'->>'model', r->'GatewayLogs'->>'correlation_id', r->'GatewayLogs'->>'user_oid',
    r->'GatewayLogs'->>'subscription' FROM (SELECT convert_from(raw, 'UTF8')::json AS r FROM ingest_rejects
    WHERE source_key = 'monitor:poison-1:refused') x")" "poison: the raw bytes are both halves as tally held them"
assert_eq "0 0" "$(sql 'SELECT count(*) FROM ingest_monitor_llm') $(sql 'SELECT count(*) FROM ingest_monitor_gateway')" \
    "poison: its halves are not retried"
assert_match 'azure monitor correlationId \\"poison-1\\": stored as a reject: database refused: 23514' "$(cat "$TMP/log")" "poison: logged"
rollups_exact "poison"

# a poison half that waited in Postgres from an earlier batch: refused when its caller
# comes, beside a usage event of that batch that is stored
doc "$TMP/p2a.json" llm:poison-2:66
assert_eq "read=1 inserted=0 duplicates=0 rejected=0" "$(run "$TMP/p2a.json")" "poison-2 waits"
sql "UPDATE ingest_monitor_llm SET received_at = now() + interval '1 hour'" >/dev/null # not expired by the next run
doc "$TMP/p2b.json" gateway:poison-2:dev-p llm:ok-2:12 gateway:ok-2:dev-ok
assert_eq "read=3 inserted=1 duplicates=0 rejected=1" "$(run "$TMP/p2b.json")" "poison-2: refused at the join, ok-2 stored"
assert_eq "66|dev-p" "$(sql "SELECT r->'GatewayLlmLogs'->>'input_tokens', r->'GatewayLogs'->>'user_oid' FROM
    (SELECT convert_from(raw, 'UTF8')::json AS r FROM ingest_rejects WHERE source_key = 'monitor:poison-2:refused') x")" \
    "poison-2: the reject holds the half that waited"
assert_eq "dev-ok|2|23" "$(sql "SELECT developer_oid, count(*), sum(input_tokens) FROM usage_events
    WHERE developer_oid = 'dev-ok' GROUP BY 1")" "both good pairs stored"
assert_eq "0 0" "$(sql 'SELECT count(*) FROM ingest_monitor_llm') $(sql 'SELECT count(*) FROM ingest_monitor_gateway')" \
    "poison-2: nothing left pending"
rollups_exact "poison-2"
finish
