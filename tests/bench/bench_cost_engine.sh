#!/usr/bin/env bash
# The cost engine's monthly chargeback (tally_report_monthly) on a 1M-event and a
# 10M-event month of 2,000 developers × 4 models, in UTC, Asia/Kolkata and
# America/New_York: p50/p99 latency of the SQL function (what tally-report runs for
# /v1/reports/monthly), the 10M/1M ratio per zone, and the same figures of the baseline
# and the goal of the issue. Prints figures, asserts nothing. Not run by ctest.
#
# The events are generated inside Postgres and rolled up the way the ingest sink does
# (15-minute and daily rollups keyed by prompt band, speed and residency, written in key
# order as the sink writes them, so a quarter-hour's rows lie together; the monthly rollup
# follows by trigger), so the rollups hold what 1M / 10M events of November 2026
# would leave: working hours in each developer's zone; prompts of 43k-112k tokens (bands
# 1-3) and 3 % of 200k-612k (bands 5-7); the names the book prices (test-haiku 45 %, its
# dated alias 25 %, test-opus 25 %, its fast alias test-haiku-fast 5 %); 5 % of the haiku
# requests in fast mode and every haiku request of one developer in ten with inference_geo
# 'us'. The book is tests/fixtures/prices/v2-fixture.json (format 2: test-haiku has tiers
# over 100k and 200k, fast mode and a 'us' multiplier; test-opus has none of them in
# November).
#
# usage: tests/bench/bench_cost_engine.sh BUILD_DIR [RUNS]   (uses TALLY_TEST_PG if set;
#        ONLY=1000000 loads one month, KEEP=1 keeps the databases tally_bench_cost_*)
set -euo pipefail
BUILD=${1:?usage: bench_cost_engine.sh BUILD_DIR [RUNS]}
RUNS=${2:-30}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
source "$SRC/tests/bench/bench_lib.sh"
WORK=$(mktemp -d /tmp/tally-bench-cost.XXXXXX)
chmod 755 "$WORK" # initdb runs as postgres when we are root
cleanup() { [ -n "${OWN_PG:-}" ] && pg_stop; rm -rf "$WORK"; }
trap cleanup EXIT
if [ -z "${TALLY_TEST_PG:-}" ]; then
    pg_start "$WORK/pg"
    OWN_PG=1
fi
SIZES=(1000000 10000000)
ZONES=(UTC Asia/Kolkata America/New_York)
# the issue's figures, measured before the engine change (p50 ms; none for New York)
declare -A BASE=([1000000UTC]=172 [1000000Asia/Kolkata]=269 [10000000UTC]=202
    [10000000Asia/Kolkata]=857)
GOAL_P50=50 GOAL_RATIO=1.5

load_month() { # load_month DB EVENTS
    psql "$1" -qX -v ON_ERROR_STOP=1 <<SQL
INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, prompt_band, speed,
       residency, long_context, requests, input_tokens, output_tokens, cache_read_tokens,
       cache_write_5m_tokens, cache_write_1h_tokens)
SELECT date_bin('15 minutes', t, timestamptz '2000-01-01 00:00+00'), dev, model, 'foundry', band,
       speed, residency, tally_prompt_band_long(band), count(*), sum(inp), sum(outp), sum(rd),
       sum(w5), sum(w1)
  FROM (SELECT *, tally_prompt_band(inp + rd + w5 + w1) AS band,
               CASE WHEN model LIKE 'test-haiku%' AND (h / 33) % 20 = 0 THEN 'fast'
                    ELSE 'standard' END AS speed,
               CASE WHEN model LIKE 'test-haiku%' AND d % 10 = 0 THEN 'us' ELSE '' END AS residency
          FROM (SELECT 'dev-' || d AS dev, d, h,
                       CASE WHEN h % 20 < 9 THEN 'test-haiku' WHEN h % 20 < 14 THEN 'test-haiku-20261007'
                            WHEN h % 20 < 19 THEN 'test-opus' ELSE 'test-haiku-fast' END AS model,
                       3000 + (h % 5000) AS inp, 400 + (h % 900) AS outp,
                       CASE WHEN h % 33 = 0 THEN 200000 + (h % 400000)
                            ELSE 40000 + (h % 60000) END AS rd,
                       h % 3000 AS w5, h % 500 AS w1,
                       -- 8 working hours a day starting at the developer's own hour, 30 days
                       timestamptz '2026-11-01 00:00+00' + ((h / 7) % 30) * interval '1 day'
                           + (d % 24) * interval '1 hour' + (h % 28800) * interval '1 second' AS t
                  FROM (SELECT i % 2000 AS d, abs(hashint8(i)) AS h
                          FROM generate_series(1, $2) i) g) e) b
 GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7;
INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, prompt_band, speed, residency,
       long_context, requests, input_tokens, output_tokens, cache_read_tokens,
       cache_write_5m_tokens, cache_write_1h_tokens)
SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, prompt_band, speed,
       residency, long_context, sum(requests), sum(input_tokens), sum(output_tokens),
       sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens)
  FROM usage_rollup_15m GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7;
ANALYZE;
SQL
}

declare -A P50 P99
for n in "${SIZES[@]}"; do
    [ -n "${ONLY:-}" ] && [ "$ONLY" != "$n" ] && continue
    db="tally_bench_cost_$n"
    drop_create_db "$db"
    DB="$TALLY_TEST_PG dbname=$db"
    "$BUILD/ctl/tallyctl" --db "$DB" migrate >/dev/null 2>&1
    "$BUILD/ctl/tallyctl" --db "$DB" prices load "$SRC/tests/fixtures/prices/v2-fixture.json" >/dev/null
    start=$(date +%s)
    load_month "$DB" "$n"
    rows=$(psql "$DB" -qAtXc "SELECT (SELECT count(*) FROM usage_rollup_15m) || ' 15m rows, '
        || (SELECT count(*) FROM usage_rollup_day) || ' day rows, '
        || (SELECT count(*) FROM usage_rollup_month) || ' month rows; requests: '
        || (SELECT round(100.0 * sum(requests) FILTER (WHERE prompt_band >= 3) / sum(requests), 1)
              FROM usage_rollup_month) || ' % over 100k, '
        || (SELECT round(100.0 * sum(requests) FILTER (WHERE long_context) / sum(requests), 1)
              FROM usage_rollup_month) || ' % over 200k, '
        || (SELECT round(100.0 * sum(requests) FILTER (WHERE speed = 'fast' OR model LIKE '%-fast')
                         / sum(requests), 1) FROM usage_rollup_month) || ' % fast, '
        || (SELECT round(100.0 * sum(requests) FILTER (WHERE residency = 'us') / sum(requests), 1)
              FROM usage_rollup_month) || ' % residency us'")
    echo "$n events: loaded in $(($(date +%s) - start)) s ($rows)"
    for tz in "${ZONES[@]}"; do
        read -r p50 p99 < <(pgbench_latency "$DB" "$RUNS" \
            "SELECT count(*) FROM tally_report_monthly(tally_book(NULL), '2026-11', '$tz');")
        P50[$n$tz]=$p50
        P99[$n$tz]=$p99
        printf '  %-16s tally_report_monthly p50 %7.1f ms  p99 %7.1f ms  (%d runs)\n' "$tz" "$p50" "$p99" "$RUNS"
    done
    [ -n "${KEEP:-}" ] || psql "$TALLY_TEST_PG dbname=postgres" -qXc "DROP DATABASE $db"
done

echo
echo "p50 ms of tally_report_monthly, now vs the issue's baseline (measured before the engine change)"
printf '%-16s %9s %9s %9s %8s | %9s %9s %8s | %s\n' zone "1M" "10M" "10M p99" "10M/1M" "base 1M" \
    "base 10M" "10M/1M" "goal"
for tz in "${ZONES[@]}"; do
    a=${P50[1000000$tz]:-} b=${P50[10000000$tz]:-} c=${P99[10000000$tz]:-}
    ba=${BASE[1000000$tz]:-} bb=${BASE[10000000$tz]:-}
    printf '%-16s %9s %9s %9s %8s | %9s %9s %8s | 10M p50 <= %d ms, 10M/1M <= %s\n' "$tz" "${a:--}" \
        "${b:--}" "${c:--}" "$(ratio "$b" "$a")" "${ba:--}" "${bb:--}" "$(ratio "$bb" "$ba")" \
        "$GOAL_P50" "$GOAL_RATIO"
done
