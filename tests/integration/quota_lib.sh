# Helpers of the quota and alert tests (sourced after tests/lib.sh and need_env).

CTL=$BIN/ctl/tallyctl

# quota_db: a fresh migrated database with the shipped price book loaded.
quota_db() {
    new_db
    "$CTL" --db "$DB" prices load "$SRC/schema/prices/anthropic-list-2026-11.json" >/dev/null 2>&1 ||
        { echo "FAIL - could not load the price book"; exit 1; }
}

# usage DEV TIMESTAMP INPUT_TOKENS OUTPUT_TOKENS: one claude-haiku-4-5 request ($1 input,
# $5 output per million tokens) in the rollups, as the ingest sink writes them (15-minute
# and UTC-day tables; the monthly one follows by trigger), in the legacy band of its flag (100).
usage() {
    sql "INSERT INTO usage_rollup_15m AS r (bucket, developer_oid, model, deployment, long_context,
                prompt_band, requests, input_tokens, output_tokens)
         VALUES (date_bin('15 minutes', '$2'::timestamptz, '2000-01-01 00:00+00'), '$1',
                 'claude-haiku-4-5', 'haiku', false, 100, 1, $3, $4)
         ON CONFLICT (bucket, developer_oid, model, deployment, prompt_band, speed, residency) DO UPDATE
            SET requests = r.requests + 1, input_tokens = r.input_tokens + excluded.input_tokens,
                output_tokens = r.output_tokens + excluded.output_tokens;
         INSERT INTO usage_rollup_day AS r (day, developer_oid, model, deployment, long_context,
                prompt_band, requests, input_tokens, output_tokens)
         VALUES (('$2'::timestamptz AT TIME ZONE 'UTC')::date, '$1', 'claude-haiku-4-5', 'haiku',
                 false, 100, 1, $3, $4)
         ON CONFLICT (day, developer_oid, model, deployment, prompt_band, speed, residency) DO UPDATE
            SET requests = r.requests + 1, input_tokens = r.input_tokens + excluded.input_tokens,
                output_tokens = r.output_tokens + excluded.output_tokens" >/dev/null
}

# dollars DEV TIMESTAMP AMOUNT: usage costing exactly AMOUNT whole dollars (input tokens).
dollars() { usage "$1" "$2" "$(($3 * 1000000))" 0; }

# quota ARGS…: tallyctl quotas create; prints the new id.
quota() {
    local out
    out=$("$CTL" --db "$DB" quotas create "$@") || { echo "FAIL - quotas create $*" >&2; return 1; }
    echo "${out//[!0-9]/}"
}

# evaluate [TIMESTAMP]: tallyctl quotas evaluate; prints its summary line.
evaluate() {
    if [ -n "${1:-}" ]; then
        "$CTL" --db "$DB" --log-level warn quotas evaluate --now "$1"
    else
        "$CTL" --db "$DB" --log-level warn quotas evaluate
    fi
}

# fired QUOTA_ID: the thresholds fired, "period_start/threshold" in firing order.
fired() {
    sql "SELECT coalesce(string_agg(to_char(period_start AT TIME ZONE 'UTC', 'MM-DD\"T\"HH24:MI') || '/' || threshold,
                                    ' ' ORDER BY id), '')
           FROM alert_log WHERE quota_id = $1"
}

# receiver_start DIR [receiver options…]: starts webhook_receiver.py; sets RCV_PORT, RCV_LOG.
receiver_start() {
    local dir=$1; shift
    mkdir -p "$dir"
    RCV_LOG=$dir/requests.jsonl
    : >"$RCV_LOG"
    python3 "$SRC/tests/integration/webhook_receiver.py" "$dir/port" "$RCV_LOG" "$@" &
    TEST_PIDS+=($!)
    wait_for 10 test -s "$dir/port" || { echo "FAIL - the webhook receiver did not start"; exit 1; }
    RCV_PORT=$(cat "$dir/port")
}
