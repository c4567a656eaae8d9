#!/usr/bin/env bash
# The direct way of writing a batch (ingest/sink_pg.c, insert_direct): its events COPYed
# straight into usage_events and its rollup parts computed in C (batch.c). Whatever way
# a batch took, the three rollups and developer_labels must equal what SQL computes from
# the stored rows (tally_usage_parts, the definition), row for row; re-deliveries in the
# same batch and in later ones are stored once; a batch whose parts C leaves to SQL (a
# speed lower() might change) is written the checking way.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db

# rollup_mismatch TABLE TIME-EXPR: rows of TABLE and of the recomputation that differ
rollup_mismatch() {
    local t=$1 time=$2 sums
    sums=$(for c in requests input_tokens output_tokens cache_read_tokens cache_write_5m_tokens \
        cache_write_1h_tokens cache_write_unsplit_tokens cache_unknown_requests \
        web_search_requests web_fetch_requests; do printf ', sum(x.%s)::bigint' "$c"; done)
    sql "WITH want AS (
        SELECT $time AS k, e.developer_oid, x.model, e.deployment, x.prompt_band,
               coalesce(lower(e.speed), 'standard') AS speed, coalesce(e.inference_geo, '') AS residency,
               tally_prompt_band_long(x.prompt_band) AS long_context $sums
          FROM (SELECT *, date_bin('15 minutes', event_time, timestamptz '1970-01-01 00:00:00+00') AS bucket
                  FROM usage_events) e
         CROSS JOIN LATERAL tally_usage_parts(e.model, e.iterations, e.input_tokens, e.output_tokens,
               e.cache_read_tokens, e.cache_write_5m_tokens, e.cache_write_1h_tokens,
               e.cache_write_unsplit_tokens, e.cache_write_unknown, e.web_search_requests,
               e.web_fetch_requests) x
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8),
      have AS (SELECT ${t%%:*}, developer_oid, model, deployment, prompt_band, speed, residency,
               long_context, requests, input_tokens, output_tokens, cache_read_tokens,
               cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens,
               cache_unknown_requests, web_search_requests, web_fetch_requests FROM ${t#*:})
      SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM have) a)
           + (SELECT count(*) FROM (SELECT * FROM have EXCEPT ALL SELECT * FROM want) b)"
}
check_rollups() { # check_rollups WHAT
    assert_eq 0 "$(rollup_mismatch bucket:usage_rollup_15m 'e.bucket')" "$1: usage_rollup_15m = SQL's parts of the stored rows"
    assert_eq 0 "$(rollup_mismatch day:usage_rollup_day "(e.bucket AT TIME ZONE 'UTC')::date")" \
        "$1: usage_rollup_day = SQL's parts"
    assert_eq 0 "$(rollup_mismatch month:usage_rollup_month "date_trunc('month', e.event_time AT TIME ZONE 'UTC')::date")" \
        "$1: usage_rollup_month = SQL's parts"
    assert_eq "$(sql "SELECT count(*) FROM usage_events")" "$(sql "SELECT sum(requests) FROM usage_rollup_month")" \
        "$1: every stored request counted once"
    assert_eq 0 "$(sql "SELECT count(*) FROM ((
        SELECT DISTINCT ON (developer_oid COLLATE \"C\") developer_oid, developer_upn, event_time
          FROM usage_events WHERE developer_upn IS NOT NULL
         ORDER BY developer_oid COLLATE \"C\", event_time DESC)
        EXCEPT SELECT oid, upn, last_seen FROM developer_labels) d")" "$1: developer_labels: each developer's latest upn"
}
# direct_written LOG: events the direct way wrote, from the debug lines
direct_written() { sed -n 's/.*wrote \([0-9]*\) events directly.*/\1/p' "$1" | awk '{ n += $1 } END { print n + 0 }'; }

# 1. simulated traffic: iterations, fast, residency; 2 % sent again up to 64 lines later,
#    so within a batch and across batches
"$BIN/ctl/tallyctl" simulate --developers 40 --days 3 --seed 21 --events 6000 --duplicates 2 --malformed 0 \
    >"$TMP/sim.jsonl" 2>"$TMP/sim.err"
dups=$(sed -n 's/.* duplicates=\([0-9]*\).*/\1/p' "$TMP/sim.err")
lines=$((6000 + dups))
out=$("$ING" --db "$DB" --from-file "$TMP/sim.jsonl" --batch-size 500 --log-level debug 2>"$TMP/log1")
assert_eq "read=$lines inserted=6000 duplicates=$dups rejected=0" "$out" "simulated: summary line"
assert_eq 6000 "$(direct_written "$TMP/log1")" "simulated: every batch written the direct way"
assert_eq 0 "$(grep -c 'written again' "$TMP/log1")" "simulated: no batch written twice (stored re-deliveries found first)"
assert_match '^[1-9][0-9]*$' "$(sed -n 's/.*directly (\([0-9]*\) repeated.*/\1/p' "$TMP/log1" | sort -n | tail -1)" \
    "simulated: re-deliveries were set aside by the direct way"
assert_match '^[1-9]' "$(sql "SELECT count(*) FROM usage_events WHERE iterations IS NOT NULL")" "simulated: some events have iterations"
check_rollups simulated

# 2. the same file again: every event is stored already, nothing is added
out=$("$ING" --db "$DB" --from-file "$TMP/sim.jsonl" --batch-size 500 --log-level debug 2>"$TMP/log2")
assert_eq "read=$lines inserted=0 duplicates=$lines rejected=0" "$out" "again: nothing new"
assert_eq 0 "$(direct_written "$TMP/log2")" "again: the direct way wrote nothing"
check_rollups again

# 2b. new events with one stored earlier in their second batch: the first batch probes
#     and finds nothing, so the next ones trust the keys of the batches the daemon wrote;
#     the stored one is not among them, its COPY is refused and that batch alone is
#     written again checking each key (then the daemon probes again)
"$BIN/ctl/tallyctl" simulate --developers 40 --days 3 --seed 29 --events 1000 --duplicates 0 --malformed 0 \
    >"$TMP/new.jsonl" 2>/dev/null
{ head -700 "$TMP/new.jsonl"; sed -n 10p "$TMP/sim.jsonl"; tail -n +701 "$TMP/new.jsonl"; } >"$TMP/mixed.jsonl"
out=$("$ING" --db "$DB" --from-file "$TMP/mixed.jsonl" --batch-size 500 --log-level debug 2>"$TMP/log2b")
assert_eq "read=1001 inserted=1000 duplicates=1 rejected=0" "$out" "one stored: summary line"
assert_eq 1 "$(grep -c 'written again checking each key' "$TMP/log2b")" "one stored: only its batch written again"
assert_eq 501 "$(direct_written "$TMP/log2b")" "one stored: the other two batches (500 and 1) written the direct way"
check_rollups "one stored"

# 3. iterations and speeds by hand: no iteration of the response's model (the request
#    counts on the last), an iteration naming no model, tools on an event with iterations,
#    a prompt over 200k; then speeds SQL's lower() changes: "FAST" and a non-ASCII one
python3 - "$SRC/tests/fixtures/events/usage-v1-iterations.json" "$TMP" <<'PY'
import copy, json, sys
base = json.load(open(sys.argv[1]))
def ev(rid, **usage):
    e = copy.deepcopy(base); e["requestId"] = rid; e["usage"].update(usage); return e
def bare(e):
    del e["usage"]["speed"], e["usage"]["inference_geo"]; return e
plain = [
    ev("d-1"),
    ev("d-2", iterations=[dict(it, model="claude-haiku-5-5") for it in base["usage"]["iterations"]]),
    ev("d-3", iterations=[{"type": "message", "input_tokens": 250000, "output_tokens": 9}],
       server_tool_use={"web_search_requests": 3, "web_fetch_requests": 2}),
    bare(ev("d-4", iterations=[])),
    ev("d-1"),
]
odd = [ev("d-5", speed="FAST"), ev("d-6", speed="r\u00e1pido"), ev("d-7")]
for name, evs in (("plain", plain), ("odd", odd)):
    with open(f"{sys.argv[2]}/{name}.jsonl", "w") as f:
        for e in evs:
            f.write(json.dumps(e) + "\n")
PY
out=$("$ING" --db "$DB" --from-file "$TMP/plain.jsonl" --log-level debug 2>"$TMP/log3")
assert_eq "read=5 inserted=4 duplicates=1 rejected=0" "$out" "by hand: summary line"
assert_eq 4 "$(direct_written "$TMP/log3")" "by hand: written the direct way"
check_rollups "by hand"
assert_eq "1|claude-haiku-5-5" "$(sql "SELECT sum(requests), string_agg(DISTINCT model, ',') FROM usage_rollup_15m
    WHERE bucket = '2026-11-20 08:30+00' AND developer_oid = '0b1c2d3e-0000-4000-8000-000000000001'
      AND model <> 'claude-opus-5-5' AND model <> 'claude-sonnet-5-5'")" \
    "by hand: no iteration of the response's model: one request, on the other model"
out=$("$ING" --db "$DB" --from-file "$TMP/odd.jsonl" --log-level debug 2>"$TMP/log4")
assert_eq "read=3 inserted=3 duplicates=0 rejected=0" "$out" "odd speeds: summary line"
assert_eq 0 "$(direct_written "$TMP/log4")" "odd speeds: the batch is SQL's to compute"
assert_eq "fast,rápido,standard" "$(sql "SELECT string_agg(DISTINCT speed, ',' ORDER BY speed) FROM usage_rollup_day")" \
    "odd speeds: lowered by SQL"
check_rollups "odd speeds"

# 4. a database without 0018 (the new tally-ingest deployed before tallyctl migrate): its
#    day triggers still add the months, so the direct way, which adds them too, is not taken
sql "DELETE FROM schema_migrations WHERE name = '0018_month_rollup_by_statement.sql';
    DROP TRIGGER usage_rollup_day_month_ins ON usage_rollup_day;
    DROP TRIGGER usage_rollup_day_month_upd ON usage_rollup_day;
    CREATE TRIGGER usage_rollup_day_month_ins AFTER INSERT ON usage_rollup_day
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tally_rollup_month_apply();
    CREATE TRIGGER usage_rollup_day_month_upd AFTER UPDATE ON usage_rollup_day
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION tally_rollup_month_apply();" >/dev/null
"$BIN/ctl/tallyctl" simulate --developers 40 --days 3 --seed 22 --events 1000 --duplicates 0 --malformed 0 \
    >"$TMP/sim2.jsonl" 2>/dev/null
out=$("$ING" --db "$DB" --from-file "$TMP/sim2.jsonl" --batch-size 500 --log-level debug 2>"$TMP/log5")
assert_eq "read=1000 inserted=1000 duplicates=0 rejected=0" "$out" "without 0018: summary line"
assert_eq 0 "$(direct_written "$TMP/log5")" "without 0018: the checking way only"
assert_eq 1 "$(grep -c 'lacks migration 0018' "$TMP/log5")" "without 0018: said once, as a warning"
check_rollups "without 0018"
finish
