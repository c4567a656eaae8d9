# Helpers for the tally-report integration tests (sourced after tests/lib.sh and need_env).

# report_start [ARGS…]: starts tally-report on a free loopback port against $DB; sets
# URL and REPORT_PID, REPORT_LOG. Extra arguments go to the server.
report_start() {
    local port until
    REPORT_LOG=$TMP/report.log
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        URL="http://127.0.0.1:$port"
        "$BIN/report/tally-report" --db "$DB" --listen "127.0.0.1:$port" "$@" >>"$REPORT_LOG" 2>&1 &
        REPORT_PID=$!
        TEST_PIDS+=("$REPORT_PID")
        until=$((SECONDS + 20))
        while kill -0 "$REPORT_PID" 2>/dev/null && [ $SECONDS -lt $until ]; do
            curl -s -o /dev/null "$URL/healthz" && return 0
            sleep 0.2
        done
        # another test may have bound the port since free_port looked: take another
        if kill -0 "$REPORT_PID" 2>/dev/null || ! tail -n 1 "$REPORT_LOG" | grep -q "could not listen"; then
            break
        fi
    done
    echo "tally-report did not start:"
    cat "$REPORT_LOG"
    exit 1
}

# report_token ROLE NAME [--team T | --developer OID]: prints a new API token
report_token() {
    local role=$1 name=$2; shift 2
    "$BIN/ctl/tallyctl" --db "$DB" tokens create --role "$role" --name "$name" "$@" 2>/dev/null
}

# GET PATH [TOKEN [CURL ARGS…]]: the body of a GET; status in $STATUS, headers in $TMP/h
GET() {
    local path=$1 tok=${2:-}; shift 2 2>/dev/null || shift $#
    local auth=()
    [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
    STATUS=$(curl -s -o "$TMP/body" -D "$TMP/h" -w '%{http_code}' "${auth[@]}" "$@" "$URL$path")
    cat "$TMP/body"
}

# seed_rollups: rebuilds every rollup from usage_events (what the ingest sink keeps up
# to date), so tests can insert events with plain SQL; an event's long_context flag picks
# its legacy prompt band (100 or 101), so the flag a test sets is the one priced.
seed_rollups() {
    sql "SELECT tally_ensure_months(min(event_time), max(event_time)) FROM usage_events" >/dev/null
    sql "DELETE FROM usage_rollup_15m; DELETE FROM usage_rollup_day;
         INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, long_context, prompt_band, requests,
             input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
             cache_write_unsplit_tokens)
         SELECT date_bin('15 minutes', event_time, timestamptz '2000-01-01 00:00+00'), developer_oid, model,
                deployment, long_context, CASE WHEN long_context THEN 101 ELSE 100 END, count(*), sum(input_tokens), sum(output_tokens),
                sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens),
                sum(cache_write_unsplit_tokens)
           FROM usage_events GROUP BY 1, 2, 3, 4, 5;
         INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, long_context, prompt_band, requests,
             input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
             cache_write_unsplit_tokens)
         SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, long_context,
                prompt_band, sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
                sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_write_unsplit_tokens)
           FROM usage_rollup_15m GROUP BY 1, 2, 3, 4, 5, 6;" >/dev/null
}

# Debian's python3 directly: a version-manager shim on PATH can take seconds per start
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# json EXPR: evaluates a Python expression over the JSON body in $TMP/body (bound to j)
json() { "$PY" -c "import json,sys; j=json.load(open('$TMP/body')); print($1)"; }

# seed_fixture: the fixture month 2026-03 of tests/fixtures/reports (book fixture-a,
# four developers in teams red and blue, one deployment mapping, ten events).
seed_fixture() {
    local f=$SRC/tests/fixtures/reports
    "$BIN/ctl/tallyctl" --db "$DB" prices load "$f/book-a.json" >/dev/null
    "$BIN/ctl/tallyctl" --db "$DB" developers import "$f/developers.csv" >/dev/null
    "$BIN/ctl/tallyctl" --db "$DB" deployments set sonnet claude-sonnet-4-6 --from 2026-01-01 >/dev/null
    sql "$(cat "$f/events.sql")"
    seed_rollups
}
