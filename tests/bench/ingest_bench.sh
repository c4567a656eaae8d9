#!/usr/bin/env bash
# End-to-end ingest benchmark (not run by ctest; prints figures, never asserts on time).
#
#   tests/bench/ingest_bench.sh [BUILD_DIR]        default BUILD_DIR: $TALLY_BUILD or build/
#   EVENTS=1000000 FORMAT=usage PARTITIONS=8 BATCH_SIZE= LINGER_MS= WINDOW_KB=2048 KEEP= …
#
# Starts its own PostgreSQL 15 cluster (or uses $TALLY_TEST_PG) and its own mock broker,
# starts tally-ingest, and produces EVENTS simulated requests (tallyctl simulate's
# generator, 1 % re-deliveries, 0.5 % malformed) round-robin over the partitions while the
# daemon consumes, each partition at most WINDOW_KB (2 MiB) ahead of the offset the daemon
# stored for it (the mock keeps ~5 MiB per partition and drops the oldest beyond that).
# Then it checks that every distinct valid event was stored exactly once with the
# generator's exact totals (correctness, asserted), and prints:
#   - ingest throughput: distinct events stored per second, first message to last offset
#   - the plain-COPY ceiling: \copy of the very same rows into a table like usage_events
#     with the same primary key index but no partitions, no rollups, no conflict
#     handling, in the same Postgres; and the ratio of the two
#   - the daemon's peak RSS (VmHWM)
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "${1:-${TALLY_BUILD:-$ROOT/build}}" && pwd)
EVENTS=${EVENTS:-1000000}
FORMAT=${FORMAT:-usage}
PARTITIONS=${PARTITIONS:-8}
WINDOW_KB=${WINDOW_KB:-2048}
source "$ROOT/tests/lib.sh"

WORK=$(mktemp -d /tmp/tally-bench.XXXXXX)
chmod 755 "$WORK"
OWN_PG=
IPID=
cleanup() {
    [ -n "$IPID" ] && kill -9 "$IPID" 2>/dev/null
    [ -n "${MB_PID_STARTED:-}" ] && kill "$MB_PID_STARTED" 2>/dev/null
    if [ -n "${DBNAME:-}" ]; then
        psql "$TALLY_TEST_PG dbname=postgres" -qAtc "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" \
            >/dev/null 2>&1
    fi
    [ -n "$OWN_PG" ] && pg_stop
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
die() { echo "ingest_bench: $*" >&2; exit 1; }

for f in "$BUILD/ingest/tally-ingest" "$BUILD/ctl/tallyctl" "$BUILD/tests/mockbroker"; do
    [ -x "$f" ] || die "$f is missing: build first (cmake --build $BUILD)"
done

# the producer links the generator from the build's static libraries
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I"$ROOT/ctl" -I"$ROOT/common" \
    "$ROOT/tests/bench/bench_produce.c" "$BUILD/ctl/sim/libtally_sim.a" "$BUILD/common/libtally.a" \
    $(pkg-config --cflags --libs rdkafka libpq jansson) -o "$WORK/bench_produce" ||
    die "could not build bench_produce"

if [ -z "${TALLY_TEST_PG:-}" ]; then
    pg_start "$WORK/pg" || die "could not start PostgreSQL"
    OWN_PG=1
fi
DBNAME=tally_bench_$$
psql "$TALLY_TEST_PG dbname=postgres" -qAtc "CREATE DATABASE $DBNAME" >/dev/null || die "createdb"
DB="$TALLY_TEST_PG dbname=$DBNAME"
"$BUILD/ctl/tallyctl" --db "$DB" migrate >/dev/null || die "migrate failed"
mb_start "$WORK/mb" "$BUILD/tests/mockbroker" --brokers 3 --partitions "$PARTITIONS" --topic bench ||
    die "could not start the mock broker"

opts=()
[ -n "${BATCH_SIZE:-}" ] && opts+=(--batch-size "$BATCH_SIZE")
[ -n "${LINGER_MS:-}" ] && opts+=(--batch-linger-ms "$LINGER_MS")
MPORT=$(free_port)
"$BUILD/ingest/tally-ingest" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic bench --group bench \
    --metrics-listen "127.0.0.1:$MPORT" "${opts[@]}" 2>"$WORK/ingest.log" &
IPID=$!
wait_for 60 grep -q 'assigned partition' "$WORK/ingest.log" ||
    die "the daemon was not assigned its partitions: $(tail -5 "$WORK/ingest.log")"

echo "== producing $EVENTS simulated events ($FORMAT) to $PARTITIONS partitions while tally-ingest consumes"
out=$("$WORK/bench_produce" --brokers "$MB_BOOTSTRAP" --topic bench --db "$DB" --group bench \
    --partitions "$PARTITIONS" --window-kb "$WINDOW_KB" --developers 150 --days 60 --seed 7 \
    --format "$FORMAT" --events "$EVENTS" \
    --totals "$WORK/totals.csv") || die "producer failed: $(tail -5 "$WORK/ingest.log")"
echo "   $out"
val() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$out"; }
hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$IPID/status")
metrics=$(curl -sf "http://127.0.0.1:$MPORT/metrics")
metric() { awk -v m="$1" '$1 == m {printf "%.0f", $2 * ('"${2:-1}"')}' <<<"$metrics"; }
kill -TERM "$IPID"
wait "$IPID"
rc=$?
IPID=
[ $rc -eq 0 ] || echo "WARNING: tally-ingest exited $rc on SIGTERM"

# correctness (asserted): exactly the distinct valid events, with the generator's totals
stored=$(psql "$DB" -qAtXc "SELECT count(*) FROM usage_events")
if [ "$stored" != "$(val events)" ]; then
    KEEP=1
    psql "$DB" -qAtXc "SELECT reason, count(*) FROM ingest_rejects GROUP BY 1" >&2
    grep -v level=debug "$WORK/ingest.log" | tail -20 >&2
    die "usage_events holds $stored rows, expected $(val events)"
fi
# the --totals columns up to long_context_requests, then fast_requests and geo_us_requests
want=$(grep -v '^total,' "$WORK/totals.csv" | tail -n +2 | cut -d, -f1-10,12-13)
got=$(psql "$DB" -qAtX -F, -c "SELECT developer_oid, model, count(*), sum(input_tokens),
    sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_read_tokens),
    sum(output_tokens), sum(web_search_requests), count(*) FILTER (WHERE long_context),
    count(*) FILTER (WHERE speed = 'fast'), count(*) FILTER (WHERE inference_geo = 'us')
    FROM usage_events GROUP BY 1, 2 ORDER BY developer_oid COLLATE \"C\", model COLLATE \"C\"")
if [ "$want" != "$got" ]; then
    diff <(echo "$want") <(echo "$got") | head -8 >&2
    die "usage_events sums differ from the generator's totals"
fi
rejects=$(psql "$DB" -qAtXc "SELECT count(*) FROM ingest_rejects")
[ "$rejects" = "$(val malformed)" ] || die "ingest_rejects holds $rejects rows, expected $(val malformed)"
echo "   ok: $stored distinct events stored exactly once, totals equal, $rejects rejects"

# the plain-COPY ceiling: the same rows, same Postgres, same primary key, nothing else
psql "$DB" -qAtXc "\\copy (SELECT * FROM usage_events) TO '$WORK/rows.copy'" || die "copy out"
psql "$DB" -qAtXc "CREATE TABLE bench_copy (LIKE usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS
    INCLUDING INDEXES)" || die "create bench_copy"
psql "$DB" -qAtXc "CHECKPOINT" >/dev/null
t0=$(date +%s%N)
psql "$DB" -qAtXc "\\copy bench_copy FROM '$WORK/rows.copy'" || die "copy in"
t1=$(date +%s%N)
copy_ms=$(((t1 - t0) / 1000000))

elapsed=$(val elapsed_ms)
ingest_rate=$((stored * 1000 / elapsed))
msg_rate=$(($(val messages) * 1000 / elapsed))
copy_rate=$((stored * 1000 / copy_ms))
echo
echo "tally-ingest end to end: $stored events ($(val messages) messages, $(($(val bytes) / 1048576)) MiB)" \
    "in $elapsed ms = $ingest_rate events/s ($msg_rate messages/s)"
echo "plain COPY ceiling:      $stored rows into an unpartitioned table with the same primary key" \
    "in $copy_ms ms = $copy_rate rows/s"
echo "ratio:                   $((ingest_rate * 100 / copy_rate)) % of the COPY ceiling (goal >= 50 %)"
echo "daemon peak RSS (VmHWM): $((hwm_kb / 1024)) MiB (goal <= 64 MB)"
batches=$(metric tally_ingest_commit_seconds_count)
echo "batches:                 $batches committed, $(($(val messages) / (batches > 0 ? batches : 1))) messages" \
    "on average, $(metric tally_ingest_commit_seconds_sum 1000) ms of $elapsed ms in batch transactions"
echo "producer waited on the consumer for $(val throttled_ms) ms; batch_size=${BATCH_SIZE:-default}" \
    "linger=${LINGER_MS:-default} partitions=$PARTITIONS format=$FORMAT"
