#!/usr/bin/env bash
# Quota evaluation at scale: 2,000 developers with a monthly cost quota each, 20 team
# quotas and one for everyone, over a month of rollups (2,000 developers × 30 days × 8
# busy quarter-hours × 2 models). Prints the time of one evaluation round (what the
# evaluator thread runs every quota_interval_s: tallyctl quotas evaluate), of the status
# query, and the baseline of computing the quotas one by one (tally_quota_usage per
# quota, measured on 50 quotas and scaled), with the ratio. Asserts nothing; not run by ctest.
#
# usage: tests/bench/bench_quotas.sh BUILD_DIR [RUNS]   (uses TALLY_TEST_PG if set)
set -euo pipefail
BUILD=${1:?usage: bench_quotas.sh BUILD_DIR [RUNS]}
RUNS=${2:-5}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
WORK=$(mktemp -d /tmp/tally-bench-quotas.XXXXXX)
chmod 755 "$WORK" # initdb runs as postgres when we are root
cleanup() {
    [ -n "${DBNAME:-}" ] && psql "$TALLY_TEST_PG dbname=postgres" -qAtc "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1
    [ -n "${OWN_PG:-}" ] && pg_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
if [ -z "${TALLY_TEST_PG:-}" ]; then
    pg_start "$WORK/pg"
    OWN_PG=1
fi
DBNAME=bench_quotas_$$
psql "$TALLY_TEST_PG dbname=postgres" -qAtc "CREATE DATABASE $DBNAME" >/dev/null
DB="$TALLY_TEST_PG dbname=$DBNAME"
CTL=$BUILD/ctl/tallyctl
"$CTL" --db "$DB" migrate >/dev/null 2>&1
"$CTL" --db "$DB" prices load "$SRC/schema/prices/anthropic-list-2026-11.json" >/dev/null 2>&1

now() { date +%s.%N; }
t0=$(now)
psql "$DB" -qX -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO developers (oid, upn, team)
SELECT 'dev-' || i, 'dev-' || i || '@example.com', 'team-' || (i % 20) FROM generate_series(0, 1999) i;
INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, prompt_band, long_context,
       requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens)
SELECT timestamptz '2026-11-01 00:00+00' + d * interval '1 day' + ((i % 24) * 4 + q) * interval '15 minutes',
       'dev-' || i, m, 'foundry', tally_prompt_band((9000 + i + 120000 + d + 4000) / 3), false, 3,
       9000 + i, 1500 + q, 120000 + d, 4000
  FROM generate_series(0, 1999) i, generate_series(0, 29) d, generate_series(0, 7) q,
       unnest(ARRAY['claude-sonnet-4-5', 'claude-haiku-4-5']) m;
INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, prompt_band, speed, residency,
       long_context, requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens)
SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, prompt_band, speed,
       residency, long_context, sum(requests), sum(input_tokens), sum(output_tokens),
       sum(cache_read_tokens), sum(cache_write_5m_tokens)
  FROM usage_rollup_15m GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
INSERT INTO quotas (name, scope, subject, metric, period, tz, limit_value)
SELECT 'dev-' || i, 'developer', 'dev-' || i, 'cost_usd', 'month', 'Europe/Berlin', 50 + i % 100
  FROM generate_series(0, 1999) i;
INSERT INTO quotas (name, scope, subject, metric, period, tz, limit_value, forecast)
SELECT 'team-' || i, 'team', 'team-' || i, 'cost_usd', 'month', 'Europe/Berlin', 5000, true
  FROM generate_series(0, 19) i;
INSERT INTO quotas (name, scope, metric, period, tz, limit_value)
VALUES ('everyone', 'everyone', 'tokens', 'month', 'UTC', 1e12);
ANALYZE;
SQL
rows=$(psql "$DB" -qAtX -c "SELECT count(*) FROM usage_rollup_15m")
printf 'seeded %s 15-minute rollup rows, 2,021 quotas in %.1f s\n' "$rows" "$(echo "$(now) - $t0" | bc)"

stats() { sort -n | awk '{a[NR]=$1} END {printf "p50 %.3f s  min %.3f s  max %.3f s", a[int((NR+1)/2)], a[1], a[NR]}'; }
for i in $(seq 1 "$RUNS"); do
    t=$(now)
    out=$("$CTL" --db "$DB" --log-level error quotas evaluate --now 2026-11-20T12:00:00Z)
    echo "$(echo "$(now) - $t" | bc)" >>"$WORK/eval"
    [ "$i" = 1 ] && echo "first round: $out"
done
echo "evaluation round (2,021 quotas, one engine pass per period and zone): $(stats <"$WORK/eval")"
for i in $(seq 1 "$RUNS"); do
    t=$(now)
    psql "$DB" -qAtX -c "SELECT count(*) FROM tally_quota_usage_all('2026-11-20T12:00:00Z')" >/dev/null
    echo "$(echo "$(now) - $t" | bc)" >>"$WORK/all"
done
echo "tally_quota_usage_all (status of every quota): $(stats <"$WORK/all")"
t=$(now)
psql "$DB" -qAtX -c "SELECT count(*) FROM (SELECT id FROM quotas ORDER BY id LIMIT 50) q,
                     LATERAL tally_quota_usage(q.id, '2026-11-20T12:00:00Z') u" >/dev/null
one=$(echo "($(now) - $t) / 50" | bc -l)
best=$(stats <"$WORK/eval" | awk '{print $2}')
printf 'baseline, quota by quota: %.3f s per quota, %.1f s for 2,021 quotas (%.0fx the batch round)\n' \
    "$one" "$(echo "$one * 2021" | bc -l)" "$(echo "$one * 2021 / $best" | bc -l)"
