#!/usr/bin/env bash
# The cost engine's monthly chargeback (tally_report_monthly) on a 1M-event and a
# 10M-event month of 2,000 developers × 4 models, in UTC and in Asia/Kolkata: p50/p99
# latency of the SQL function (what tally-report runs for /v1/reports/monthly) and the
# 10M/1M ratio. Prints figures, asserts nothing. Not run by ctest.
#
# The events are generated inside Postgres and rolled up the way the ingest sink does
# (15-minute and daily rollups; the monthly rollup follows by trigger), so the rollups
# hold what 1M / 10M events would leave: working hours in each developer's zone, a
# mostly-Sonnet mix, 3 % long-context requests.
#
# usage: tests/bench/bench_cost_engine.sh BUILD_DIR [RUNS]   (uses TALLY_TEST_PG if set)
set -euo pipefail
BUILD=${1:?usage: bench_cost_engine.sh BUILD_DIR [RUNS]}
RUNS=${2:-30}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
WORK=$(mktemp -d /tmp/tally-bench-cost.XXXXXX)
cleanup() { [ -n "${OWN_PG:-}" ] && pg_stop; rm -rf "$WORK"; }
trap cleanup EXIT
if [ -z "${TALLY_TEST_PG:-}" ]; then
    pg_start "$WORK/pg"
    OWN_PG=1
fi

load_month() { # load_month DB EVENTS
    psql "$1" -qX -v ON_ERROR_STOP=1 <<SQL
INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, long_context, requests,
       input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens)
SELECT date_bin('15 minutes', t, timestamptz '2000-01-01 00:00+00'), dev, model, 'foundry', lc,
       count(*), sum(3000 + (h % 5000)), sum(400 + (h % 900)), sum(40000 + (h % 60000)),
       sum(h % 3000), sum(h % 500)
  FROM (SELECT 'dev-' || (i % 2000) AS dev,
               (ARRAY['claude-sonnet-4-5', 'claude-sonnet-4-5', 'claude-sonnet-4-6', 'claude-opus-4-6',
                      'claude-haiku-4-5'])[1 + (h % 5)] AS model,
               (h % 33 = 0) AS lc, h,
               -- 8 working hours a day starting at the developer's own hour, 30 days
               timestamptz '2026-11-01 00:00+00' + ((h / 7) % 30) * interval '1 day'
                   + ((i % 2000) % 24) * interval '1 hour' + (h % 28800) * interval '1 second' AS t
          FROM (SELECT i, abs(hashint8(i)) AS h FROM generate_series(1, $2) i) g) e
 GROUP BY 1, 2, 3, 4, 5;
INSERT INTO usage_rollup_day
SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, long_context, sum(requests),
       sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_5m_tokens),
       sum(cache_write_1h_tokens), 0, 0, 0, 0
  FROM usage_rollup_15m GROUP BY 1, 2, 3, 4, 5;
ANALYZE;
SQL
}

percentiles() { # percentiles PGBENCH_LOG…: prints "p50 p99" in ms
    cat "$@" | awk '{print $3 / 1000}' | sort -n | awk '{a[NR] = $1} END {
        i = int(NR * 0.99); if (i < 1) i = 1
        printf "%.1f %.1f\n", a[int((NR + 1) / 2)], a[i] }'
}

declare -A P50 P99
for n in 1000000 10000000; do
    db="tally_bench_cost_$n"
    psql "$TALLY_TEST_PG dbname=postgres" -qXc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    DB="$TALLY_TEST_PG dbname=$db"
    "$BUILD/ctl/tallyctl" --db "$DB" migrate >/dev/null 2>&1
    "$BUILD/ctl/tallyctl" --db "$DB" prices load "$SRC/schema/prices/anthropic-list-2026-11.json" >/dev/null
    start=$(date +%s)
    load_month "$DB" "$n"
    rows=$(psql "$DB" -qAtXc "SELECT (SELECT count(*) FROM usage_rollup_15m) || ' 15m rows, '
        || (SELECT count(*) FROM usage_rollup_day) || ' day rows, '
        || (SELECT count(*) FROM usage_rollup_month) || ' month rows'")
    echo "$n events: loaded in $(($(date +%s) - start)) s ($rows)"
    for tz in UTC Asia/Kolkata; do
        echo "SELECT count(*) FROM tally_report_monthly(tally_book(NULL), '2026-11', '$tz');" >"$WORK/q.sql"
        (cd "$WORK" && rm -f pgbench_log.* && pgbench -n -c 1 -t "$RUNS" -f q.sql -l "$DB" >/dev/null 2>&1)
        read -r p50 p99 < <(percentiles "$WORK"/pgbench_log.*)
        P50[$n$tz]=$p50; P99[$n$tz]=$p99
        printf '  %-13s tally_report_monthly p50 %7.1f ms  p99 %7.1f ms  (%d runs)\n' "$tz" "$p50" "$p99" "$RUNS"
    done
    psql "$TALLY_TEST_PG dbname=postgres" -qXc "DROP DATABASE $db"
done
for tz in UTC Asia/Kolkata; do
    awk -v a="${P50[10000000$tz]}" -v b="${P50[1000000$tz]}" -v z="$tz" \
        'BEGIN { printf "ratio 10M/1M p50 (%s): %.2f (goal <= 1.5; goal at 10M: <= 50 ms)\n", z, a / b }'
done
