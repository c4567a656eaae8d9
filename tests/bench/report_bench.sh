#!/usr/bin/env bash
# tally-report over HTTP on a 1M-event and a 10M-event month (2,000 developers × 4 model
# names): p50/p99 latency of GET /v1/reports/monthly?format=csv against the SQL function it
# runs (tally_report_monthly, through pgbench: the HTTP layer's share), in UTC and
# Asia/Kolkata, with the 10M/1M ratio (goal: p50 <= 50 ms at 10M, ratio <= 1.5: the cost must
# follow developers × models, not events); and wrk -t2 -c8 on /v1/costs for the month
# grouped by team,model (requests/s, p99) against the issue's baseline (14 req/s, p99
# 983 ms) and goal (>= 200 req/s, p99 <= 100 ms). Prints figures, asserts nothing. Not
# run by ctest.
#
# The rollups the report reads are generated directly: each developer × model name is
# active in B quarter-hours of November 2026 (8 working hours from its own start hour) with
# r requests each, B·r·8000 = the month's events (1M: 125 × 1; 10M: 313 × 4), keyed by
# today's dimensions: prompts of 22k-67k tokens (bands 0-2) and 3 % of 200k-440k (bands
# 5-6), 5 % of the test-haiku rows in fast mode, the haiku rows of one developer in ten
# with residency 'us'. The names are those of tests/fixtures/prices/v2-fixture.json
# (format 2: test-haiku has tiers, fast mode and a 'us' multiplier): test-haiku, its dated
# alias, its fast alias test-haiku-fast, test-opus. November: no price of that book changes
# inside it (a month holding a change is read from daily rollups instead of one monthly
# read, and is far slower). The 1M month also gets its raw usage_events rows (BENCH_RAW=0
# skips them).
#
# usage: tests/bench/report_bench.sh BUILD_DIR [RUNS]   (uses TALLY_TEST_PG if set;
#        KEEP=1 keeps the databases tally_bench_report_*, ONLY=1000000 loads one month)
set -euo pipefail
BUILD=${1:?usage: report_bench.sh BUILD_DIR [RUNS]}
RUNS=${2:-40}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
source "$SRC/tests/bench/bench_lib.sh"
WORK=$(mktemp -d /tmp/tally-bench-report.XXXXXX)
chmod 755 "$WORK" # initdb runs as postgres when we are root
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
SELECT d, m, (ARRAY['test-haiku', 'test-haiku-20261007', 'test-opus', 'test-haiku-fast'])[m] AS model
  FROM generate_series(0, 1999) d, generate_series(1, 4) m;
-- one request's tokens per row (the row holds r of them), and its prompt band
CREATE TEMP TABLE cells AS
SELECT *, tally_prompt_band(inp + rd + w5 + w1 + wu) AS band,
       CASE WHEN model = 'test-haiku' AND (d + k) % 20 = 0 THEN 'fast' ELSE 'standard' END AS speed,
       CASE WHEN model LIKE 'test-haiku%' AND d % 10 = 0 THEN 'us' ELSE '' END AS residency
  FROM (SELECT c.d, c.m, c.model, k,
               timestamptz '2026-11-01 00:00+00' + (k % 30) * interval '1 day'
                   + (c.d % 16) * interval '1 hour' + (k / 30) * interval '15 minutes' AS bucket,
               2000 + (c.d * 7 + k) % 3000 AS inp, 300 + (c.d + k) % 700 AS outp,
               CASE WHEN (c.d * 7 + k * 3) % 33 = 0 THEN 200000 + (c.d * 13 + k) % 240000
                    ELSE 20000 + (c.d * 13 + k) % 40000 END AS rd,
               (c.d + k) % 2000 AS w5, (c.d + 3 * k) % 300 AS w1, (c.d + k) % 5 AS wu
          FROM combos c, generate_series(0, $2 - 1) k) x;
INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, prompt_band, speed,
       residency, long_context, requests, input_tokens, output_tokens, cache_read_tokens,
       cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens)
SELECT bucket, 'dev-' || d, model, 'foundry-' || m, band, speed, residency,
       tally_prompt_band_long(band), $3, $3 * inp, $3 * outp, $3 * rd, $3 * w5, $3 * w1, $3 * wu
  FROM cells ORDER BY 1, 2, 3, 4, 5, 6, 7; -- key order, as the sink writes them
INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, prompt_band, speed, residency,
       long_context, requests, input_tokens, output_tokens, cache_read_tokens,
       cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens)
SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, prompt_band, speed,
       residency, long_context, sum(requests), sum(input_tokens), sum(output_tokens),
       sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens),
       sum(cache_write_unsplit_tokens)
  FROM usage_rollup_15m GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7;
SQL
    if [ "$4" = 1 ]; then
        # one raw event per request, spread inside its quarter-hour, tokens summing to the rollup
        psql "$1" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT tally_ensure_month('2026-11-15T00:00:00Z');
INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model, deployment,
       input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
       cache_write_unsplit_tokens, long_context, speed, inference_geo, prompt_tokens)
SELECT md5(r.bucket::text || r.developer_oid || r.model || j), r.bucket + j * interval '7 seconds', 1,
       r.developer_oid, r.model, r.deployment,
       r.input_tokens / r.requests, r.output_tokens / r.requests, r.cache_read_tokens / r.requests,
       r.cache_write_5m_tokens / r.requests, r.cache_write_1h_tokens / r.requests,
       r.cache_write_unsplit_tokens / r.requests, r.long_context,
       CASE r.speed WHEN 'fast' THEN 'fast' END, nullif(r.residency, ''),
       (r.input_tokens + r.cache_read_tokens + r.cache_write_5m_tokens + r.cache_write_1h_tokens
        + r.cache_write_unsplit_tokens) / r.requests
  FROM usage_rollup_15m r, generate_series(1, r.requests) j;
SQL
    fi
    psql "$1" -qX -c "ANALYZE" >/dev/null
}

latency() { # latency PATH TOKEN: RUNS sequential requests after 3 warm-ups; prints "p50 p99" ms
    for _ in 1 2 3; do curl -s -o /dev/null -H "Authorization: Bearer $2" "$URL$1"; done
    for _ in $(seq "$RUNS"); do
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

# wrk_ms LATENCY: a wrk latency ("850.00us", "983.12ms", "1.02s") in ms
wrk_ms() {
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (v == "") print "-"; else printf "%.1f", n * (u == "us" ? 0.001 : u == "s" ? 1000 : u == "m" ? 60000 : 1) }'
}

ZONES=(UTC Asia/Kolkata)
# the issue's figures for /v1/costs under wrk, measured before the engine change, and its goal
BASE_RPS=14 BASE_P99=983 GOAL_RPS=200 GOAL_P99=100
declare -A HP50 HP99 FP50 RPS WP99
for spec in "1000000 125 1 ${BENCH_RAW:-1}" "10000000 313 4 0"; do
    read -r n buckets per raw <<<"$spec"
    [ -n "${ONLY:-}" ] && [ "$ONLY" != "$n" ] && continue
    db="tally_bench_report_$n"
    drop_create_db "$db"
    DB="$TALLY_TEST_PG dbname=$db"
    "$BUILD/ctl/tallyctl" --db "$DB" migrate >/dev/null 2>&1
    "$BUILD/ctl/tallyctl" --db "$DB" prices load "$SRC/tests/fixtures/prices/v2-fixture.json" >/dev/null
    start=$(date +%s)
    load_month "$DB" "$buckets" "$per" "$raw"
    info=$(psql "$DB" -qAtXc "SELECT (SELECT sum(requests) FROM usage_rollup_month) || ' events; '
        || (SELECT count(*) FROM usage_rollup_15m) || ' 15m rows, '
        || (SELECT count(*) FROM usage_rollup_day) || ' day rows, '
        || (SELECT count(*) FROM usage_rollup_month) || ' month rows, '
        || (SELECT count(*) FROM usage_events) || ' raw events; '
        || (SELECT string_agg(prompt_band || ':' || n, ' ' ORDER BY prompt_band)
              FROM (SELECT prompt_band, sum(requests) n FROM usage_rollup_month GROUP BY 1) b)
        || ' requests by band, '
        || (SELECT sum(requests) FROM usage_rollup_month WHERE speed = 'fast') || ' fast, '
        || (SELECT sum(requests) FROM usage_rollup_month WHERE residency = 'us') || ' residency us'")
    echo "$n-event month loaded in $(($(date +%s) - start)) s: $info"
    port=$(free_port)
    URL="http://127.0.0.1:$port"
    "$BUILD/report/tally-report" --db "$DB" --listen "127.0.0.1:$port" --db-pool-size 4 \
        --log-level warn 2>"$WORK/server.log" &
    SERVER=$!
    for _ in $(seq 50); do curl -s -o /dev/null "$URL/healthz" && break; sleep 0.1; done
    TOKEN=$("$BUILD/ctl/tallyctl" --db "$DB" tokens create --role finance --name bench 2>/dev/null)
    rows=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/reports/monthly?month=2026-11&format=csv" | wc -l)
    echo "  monthly CSV: $((rows - 1)) rows (developer × model × priced)"
    for tz in "${ZONES[@]}"; do
        read -r p50 p99 < <(latency "/v1/reports/monthly?month=2026-11&tz=${tz//\//%2F}&format=csv" "$TOKEN")
        HP50[$n$tz]=$p50 HP99[$n$tz]=$p99
        printf '  %-12s GET /v1/reports/monthly CSV  p50 %7.1f ms  p99 %7.1f ms  (%d runs)\n' "$tz" "$p50" "$p99" "$RUNS"
        read -r p50 p99 < <(pgbench_latency "$DB" "$RUNS" \
            "SELECT * FROM tally_report_monthly(tally_book(NULL), '2026-11', '$tz');")
        FP50[$n$tz]=$p50
        printf '  %-12s tally_report_monthly (SQL)  p50 %7.1f ms  p99 %7.1f ms  (%d runs)\n' "$tz" "$p50" "$p99" "$RUNS"
    done
    costs="/v1/costs?from=2026-11-01&to=2026-12-01&tz=UTC&group_by=team,model"
    wrk -t2 -c8 -d10s --timeout 10s --latency -H "Authorization: Bearer $TOKEN" "$URL$costs" >"$WORK/wrk" 2>&1 || true
    RPS[$n]=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk")
    WP99[$n]=$(wrk_ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk")")
    wp50=$(wrk_ms "$(awk '$1 == "50%" {print $2}' "$WORK/wrk")")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk")
    errors=$(awk '/Socket errors/ {sub(/.*Socket errors: /, ""); print}' "$WORK/wrk")
    echo "  wrk -t2 -c8 -d10s $costs: ${RPS[$n]:-?} req/s, p50 $wp50 ms, p99 ${WP99[$n]} ms," \
        "non-2xx ${non2xx:-0}${errors:+, socket errors: $errors}"
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=
    [ -n "${KEEP:-}" ] || psql "$TALLY_TEST_PG dbname=postgres" -qXc "DROP DATABASE $db"
done

echo
echo "GET /v1/reports/monthly CSV (HTTP) vs tally_report_monthly (SQL), p50 ms unless said;" \
    "goal: 10M HTTP p50 <= 50 ms, 10M/1M <= 1.5"
printf '%-12s %9s %9s %9s %9s %9s %9s %9s %9s\n' zone "1M HTTP" "1M SQL" "HTTP/SQL" "10M HTTP" \
    "10M p99" "10M SQL" "HTTP/SQL" "10M/1M"
for tz in "${ZONES[@]}"; do
    a=${HP50[1000000$tz]:-} b=${FP50[1000000$tz]:-} c=${HP50[10000000$tz]:-} d=${FP50[10000000$tz]:-}
    printf '%-12s %9s %9s %9s %9s %9s %9s %9s %9s\n' "$tz" "${a:--}" "${b:--}" "$(ratio "$a" "$b")" \
        "${c:--}" "${HP99[10000000$tz]:--}" "${d:--}" "$(ratio "$c" "$d")" "$(ratio "$c" "$a")"
done
echo "GET /v1/costs (month, group_by=team,model) under wrk -t2 -c8: baseline $BASE_RPS req/s, p99 $BASE_P99 ms;" \
    "goal >= $GOAL_RPS req/s, p99 <= $GOAL_P99 ms"
for n in 1000000 10000000; do
    [ -n "${RPS[$n]:-}" ] || continue
    echo "  $n events: ${RPS[$n]} req/s ($(ratio "${RPS[$n]}" "$BASE_RPS")x the baseline), p99 ${WP99[$n]} ms"
done
