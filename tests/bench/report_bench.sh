#!/usr/bin/env bash
# tally-report over HTTP on a 1M-event and a 10M-event month (2,000 developers × 4
# models): p50/p99 latency of GET /v1/reports/monthly?format=csv (UTC and Asia/Kolkata),
# the 10M/1M ratio (goal: <= 50 ms at 10M, ratio <= 1.5: the cost must follow
# developers × models, not events), and wrk on /v1/costs (requests/s, p99).
# Prints figures, asserts nothing. Not run by ctest.
#
# The rollups the report reads are generated directly: each developer × model is active
# in B quarter-hours of October 2026 (8 working hours from its own start hour) with r
# requests each, B·r·8000 = the month's events (1M: 125 × 1; 10M: 313 × 4). The 1M month
# also gets its raw usage_events rows (BENCH_RAW=0 skips them). October 2026: no price
# of the shipped book changes inside it (a month holding a price change, such as March
# 2026, is read from daily rollups instead of one monthly read, and is far slower).
#
# usage: tests/bench/report_bench.sh BUILD_DIR [RUNS]   (uses TALLY_TEST_PG if set;
#        KEEP=1 keeps the databases tally_bench_report_*, ONLY=1000000 loads one month)
set -euo pipefail
BUILD=${1:?usage: report_bench.sh BUILD_DIR [RUNS]}
RUNS=${2:-40}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
WORK=$(mktemp -d /tmp/tally-bench-report.XXXXXX)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
SERVER=
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
    [ -n "${OWN_PG:-}" ] && pg_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
if [ -z "${TALLY_TEST_PG:-}" ]; then
    pg_start "$WORK/pg"
    OWN_PG=1
fi

load_month() { # load_month DB BUCKETS REQUESTS_PER_BUCKET RAW
    psql "$1" -qX -v ON_ERROR_STOP=1 <<SQL
INSERT INTO developers (oid, upn, display_name, team, cost_center)
SELECT 'dev-' || d, 'dev' || d || '@example.com', 'Developer ' || d, 'team-' || (d % 20),
       'CC-' || (d % 7)
  FROM generate_series(0, 1999) d;
CREATE TEMP TABLE combos AS
SELECT d, m, (ARRAY['claude-sonnet-4-6', 'claude-sonnet-4-5', 'claude-opus-4-6', 'claude-haiku-4-5'])[m] AS model
  FROM generate_series(0, 1999) d, generate_series(1, 4) m;
INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, long_context, requests,
       input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
       cache_write_unsplit_tokens)
SELECT timestamptz '2026-10-01 00:00+00' + (k % 31) * interval '1 day'
           + (c.d % 16) * interval '1 hour' + (k / 31) * interval '15 minutes',
       'dev-' || c.d, c.model, 'foundry-' || c.m, false,
       $3, $3 * (2000 + (c.d * 7 + k) % 3000), $3 * (300 + (c.d + k) % 700),
       $3 * (20000 + (c.d * 13 + k) % 40000), $3 * ((c.d + k) % 2000), $3 * ((c.d + 3 * k) % 300),
       $3 * ((c.d + k) % 5)
  FROM combos c, generate_series(0, $2 - 1) k;
INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, long_context, requests,
       input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
       cache_write_unsplit_tokens)
SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, long_context,
       sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
       sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_write_unsplit_tokens)
  FROM usage_rollup_15m GROUP BY 1, 2, 3, 4, 5;
SQL
    if [ "$4" = 1 ]; then
        # one raw event per request, spread inside its quarter-hour, tokens summing to the rollup
        psql "$1" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT tally_ensure_month('2026-10-15T00:00:00Z');
INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model, deployment,
       input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
       cache_write_unsplit_tokens)
SELECT md5(r.bucket::text || r.developer_oid || r.model || j), r.bucket + j * interval '7 seconds', 1,
       r.developer_oid, r.model, r.deployment,
       r.input_tokens / r.requests, r.output_tokens / r.requests, r.cache_read_tokens / r.requests,
       r.cache_write_5m_tokens / r.requests, r.cache_write_1h_tokens / r.requests,
       r.cache_write_unsplit_tokens / r.requests
  FROM usage_rollup_15m r, generate_series(1, r.requests) j;
SQL
    fi
    psql "$1" -qX -c "ANALYZE" >/dev/null
}

latency() { # latency PATH TOKEN: RUNS sequential requests after 3 warm-ups; prints "p50 p99" ms
    local i
    for i in 1 2 3; do curl -s -o /dev/null -H "Authorization: Bearer $2" "$URL$1"; done
    for i in $(seq "$RUNS"); do
        curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $2" "$URL$1"
    done >"$WORK/times"
    "$PY" - "$WORK/times" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
bad = [r for r in rows if r[0] != '200']
if bad:
    sys.exit(f"{len(bad)} requests failed: {bad[0]}")
t = sorted(float(r[1]) * 1000 for r in rows)
p = lambda q: t[min(len(t) - 1, max(0, int(round(q * len(t))) - 1))]
print(f"{p(0.5):.1f} {p(0.99):.1f}")
PY
}

declare -A P50 P99
for spec in "1000000 125 1 ${BENCH_RAW:-1}" "10000000 313 4 0"; do
    read -r n buckets per raw <<<"$spec"
    [ -n "${ONLY:-}" ] && [ "$ONLY" != "$n" ] && continue
    db="tally_bench_report_$n"
    psql "$TALLY_TEST_PG dbname=postgres" -qXc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    DB="$TALLY_TEST_PG dbname=$db"
    "$BUILD/ctl/tallyctl" --db "$DB" migrate >/dev/null 2>&1
    "$BUILD/ctl/tallyctl" --db "$DB" prices load "$SRC/schema/prices/anthropic-list-2026-11.json" >/dev/null
    start=$(date +%s)
    load_month "$DB" "$buckets" "$per" "$raw"
    info=$(psql "$DB" -qAtXc "SELECT (SELECT sum(requests) FROM usage_rollup_month) || ' events; '
        || (SELECT count(*) FROM usage_rollup_15m) || ' 15m rows, '
        || (SELECT count(*) FROM usage_rollup_day) || ' day rows, '
        || (SELECT count(*) FROM usage_rollup_month) || ' month rows, '
        || (SELECT count(*) FROM usage_events) || ' raw events'")
    echo "$n-event month loaded in $(($(date +%s) - start)) s: $info"
    port=$(free_port)
    URL="http://127.0.0.1:$port"
    "$BUILD/report/tally-report" --db "$DB" --listen "127.0.0.1:$port" --db-pool-size 4 \
        --log-level warn 2>"$WORK/server.log" &
    SERVER=$!
    for _ in $(seq 50); do curl -s -o /dev/null "$URL/healthz" && break; sleep 0.1; done
    TOKEN=$("$BUILD/ctl/tallyctl" --db "$DB" tokens create --role finance --name bench 2>/dev/null)
    rows=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/reports/monthly?month=2026-10&format=csv" | wc -l)
    echo "  monthly CSV: $((rows - 1)) rows (developer × model)"
    for tz in UTC Asia/Kolkata; do
        read -r p50 p99 < <(latency "/v1/reports/monthly?month=2026-10&tz=${tz//\//%2F}&format=csv" "$TOKEN")
        P50[$n$tz]=$p50
        P99[$n$tz]=$p99
        printf '  GET /v1/reports/monthly CSV  %-13s p50 %7.1f ms  p99 %7.1f ms  (%d runs)\n' "$tz" "$p50" "$p99" "$RUNS"
    done
    costs="/v1/costs?from=2026-10-01&to=2026-11-01&tz=UTC&group_by=team,model"
    wrk -t2 -c8 -d10s --latency -H "Authorization: Bearer $TOKEN" "$URL$costs" >"$WORK/wrk" 2>&1 || true
    rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk")
    wp99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk")
    wp50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk")
    echo "  wrk -t2 -c8 -d10s $costs: ${rps:-?} req/s, p50 ${wp50:-?}, p99 ${wp99:-?}, non-2xx ${non2xx:-0}"
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=
    [ -n "${KEEP:-}" ] || psql "$TALLY_TEST_PG dbname=postgres" -qXc "DROP DATABASE $db"
done
for tz in UTC Asia/Kolkata; do
    awk -v a="${P50[10000000$tz]}" -v b="${P50[1000000$tz]}" -v c="${P99[10000000$tz]}" -v z="$tz" \
        'BEGIN { printf "ratio 10M/1M p50 (%s): %.2f (goal <= 1.5); 10M p99 %.1f ms (goal <= 50 ms)\n", z, a / b, c }'
done
