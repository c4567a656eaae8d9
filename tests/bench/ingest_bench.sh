#!/usr/bin/env bash
# End-to-end ingest benchmark (not run by ctest; prints figures, never asserts on time).
#
#   tests/bench/ingest_bench.sh [BUILD_DIR]        default BUILD_DIR: $TALLY_BUILD or build/
#   EVENTS=1000000 FORMAT=usage PARTITIONS=8 BATCH_SIZE= LINGER_MS= WINDOW_KB=2048
#   KAFKA_X="fetch.wait.max.ms=10" (-X properties for the daemon, space-separated)
#   RATE=10000 DURATION=30 CONFIGS="fast durable" DURABLE_PG= KEEP= …
#
# Runs once per configuration of PostgreSQL 15 (CONFIGS):
#   fast     the tests' cluster (fsync, synchronous_commit, full_page_writes off;
#            shared_buffers 256MB): its own, or $TALLY_TEST_PG
#   durable  the configuration users run: fsync, synchronous_commit and full_page_writes
#            on, shared_buffers 2GB, the rest at PostgreSQL's defaults: its own, or
#            $DURABLE_PG (a conninfo without dbname)
# Each configuration gets its own database, mock broker and tally-ingest, and two phases:
#  1. throughput: produces EVENTS simulated requests (tallyctl simulate's generator,
#     1 % re-deliveries, 0.5 % malformed) round-robin over the partitions while the daemon
#     consumes, each partition at most WINDOW_KB (2 MiB) ahead of the offset the daemon
#     stored for it (the mock keeps ~5 MiB per partition and drops the oldest beyond that).
#     Then it checks that every distinct valid event was stored exactly once with the
#     generator's exact totals (correctness, asserted) and measures:
#       - ingest throughput: distinct events stored per second, first message to last offset
#       - the plain-COPY ceiling: \copy of the very same rows into a table like usage_events
#         with the same indexes but no partitions, no rollups, no conflict handling, in the
#         same cluster; and the ratio of the two
#       - the daemon's peak RSS (VmHWM) and the time it spent inside batch transactions
#         (tally_ingest_commit_seconds)
#       - CPU time per event of the daemon and of its PostgreSQL backend, and per row of
#         the COPY's backend (/proc/PID/stat): on a machine shared with other jobs the
#         rates above follow the load, these much less
#  2. latency: produces other simulated requests (another seed) at a steady RATE messages/s
#     for DURATION seconds, same flow control, and prints p50/p99/max from each message's
#     produce call to the poll of ingest_offsets that first saw it stored (the daemon
#     stores a partition's offset in the transaction of its rows, so that is when the rows
#     are queryable; the producer polls every 10 ms). Rows are counted again (asserted).
# Ends with both configurations side by side, issue 11's baseline and its goals.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "${1:-${TALLY_BUILD:-$ROOT/build}}" && pwd)
EVENTS=${EVENTS:-1000000}
FORMAT=${FORMAT:-usage}
PARTITIONS=${PARTITIONS:-8}
WINDOW_KB=${WINDOW_KB:-2048}
RATE=${RATE:-10000}
DURATION=${DURATION:-30}
CONFIGS=${CONFIGS:-fast durable}
# librdkafka's mock broker holds a Fetch that finds no new data for the whole
# fetch.wait.max.ms (500 ms by default) even when messages arrive meanwhile
# (rdkafka_mock_handlers.c: "This isn't strictly correct since we should cut the wait
# short"); Kafka and Event Hubs answer as soon as data is there. Without this the daemon
# sat idle about a third of the run waiting on the mock. KAFKA_X= (empty) measures without.
KAFKA_X=${KAFKA_X-fetch.wait.max.ms=10}
source "$ROOT/tests/lib.sh"
source "$ROOT/tests/bench/bench_lib.sh"

WORK=$(mktemp -d /tmp/tally-bench.XXXXXX)
chmod 755 "$WORK"
OWN_PG=
OWN_DURABLE=
IPID=
DB_ADMIN=
DBNAME=
cleanup() {
    [ -n "$IPID" ] && kill -9 "$IPID" 2>/dev/null
    [ -n "${MB_PID_STARTED:-}" ] && kill "$MB_PID_STARTED" 2>/dev/null
    if [ -n "$DBNAME" ] && [ -z "${KEEP:-}" ]; then
        psql "$DB_ADMIN" -qAtc "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1
    fi
    if [ -z "${KEEP:-}" ]; then
        [ -n "$OWN_PG" ] && pg_stop
        [ -n "$OWN_DURABLE" ] && pg_stop_durable
        rm -rf "$WORK"
    else
        echo "kept $WORK (clusters still running: $FAST_PG / ${DURABLE_PG:-})" >&2
    fi
}
trap cleanup EXIT
die() { echo "ingest_bench: $*" >&2; exit 1; }

for f in "$BUILD/ingest/tally-ingest" "$BUILD/ctl/tallyctl" "$BUILD/tests/mockbroker"; do
    [ -x "$f" ] || die "$f is missing: build first (cmake --build $BUILD)"
done
for c in $CONFIGS; do
    [ "$c" = fast ] || [ "$c" = durable ] || die "CONFIGS: unknown configuration \"$c\""
done

# the producer links the generator from the build's static libraries
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I"$ROOT/ctl" -I"$ROOT/common" \
    "$ROOT/tests/bench/bench_produce.c" "$BUILD/ctl/sim/libtally_sim.a" "$BUILD/common/libtally.a" \
    $(pkg-config --cflags --libs rdkafka libpq jansson) -o "$WORK/bench_produce" ||
    die "could not build bench_produce"

FAST_PG=${TALLY_TEST_PG:-}
if [[ " $CONFIGS " == *" fast "* ]] && [ -z "$FAST_PG" ]; then
    pg_start "$WORK/pg" || die "could not start PostgreSQL"
    OWN_PG=1
    FAST_PG=$TALLY_TEST_PG
fi
if [[ " $CONFIGS " == *" durable "* ]] && [ -z "${DURABLE_PG:-}" ]; then
    pg_start_durable "$WORK/pg-durable" || die "could not start the durable PostgreSQL"
    OWN_DURABLE=1
fi

declare -A R # results: R[config.key]
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID…: user + system CPU time of the processes (all their threads), in ticks
cpu_ticks() {
    local p
    for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null; done | awk '{ t += $12 + $13 } END { print t + 0 }'
}

# bench_config NAME CONNINFO: both phases against one cluster, results into R[NAME.*]
bench_config() {
    local name=$1 pg=$2 log="$WORK/ingest-$1.log" mport out out2 rc opts=()
    DB_ADMIN="$pg dbname=postgres"
    DBNAME=tally_bench_${name}_$$
    psql "$DB_ADMIN" -qAtc "CREATE DATABASE $DBNAME" >/dev/null || die "createdb"
    local db="$pg dbname=$DBNAME"
    echo
    echo "=== $name: $(psql "$db" -qAtXc "SELECT 'fsync=' || current_setting('fsync') ||
        ' synchronous_commit=' || current_setting('synchronous_commit') ||
        ' full_page_writes=' || current_setting('full_page_writes') ||
        ' shared_buffers=' || current_setting('shared_buffers')")"
    out=$("$BUILD/ctl/tallyctl" --db "$db" migrate 2>&1) || die "migrate failed: $out"
    if [ -n "${MB_PID_STARTED:-}" ]; then # the previous configuration's broker
        kill "$MB_PID_STARTED" 2>/dev/null
        wait "$MB_PID_STARTED" 2>/dev/null
        exec {MB_FD}>&-
    fi
    mb_start "$WORK/mb-$name" "$BUILD/tests/mockbroker" --brokers 3 --partitions "$PARTITIONS" \
        --topic bench || die "could not start the mock broker"

    [ -n "${BATCH_SIZE:-}" ] && opts+=(--batch-size "$BATCH_SIZE")
    [ -n "${LINGER_MS:-}" ] && opts+=(--batch-linger-ms "$LINGER_MS")
    for x in ${KAFKA_X:-}; do opts+=(-X "$x"); done
    mport=$(free_port)
    "$BUILD/ingest/tally-ingest" --db "$db" --brokers "$MB_BOOTSTRAP" --topic bench --group bench \
        --metrics-listen "127.0.0.1:$mport" "${opts[@]}" 2>"$log" &
    IPID=$!
    wait_for 60 grep -q 'assigned partition' "$log" ||
        die "the daemon was not assigned its partitions: $(tail -5 "$log")"
    # the daemon's own connection: the only other one before the producer starts
    local backend cpu0_ingest cpu0_backend cpu0_broker
    backend=$(psql "$db" -qAtXc "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
        AND backend_type = 'client backend'")
    cpu0_ingest=$(cpu_ticks "$IPID")
    cpu0_backend=$(cpu_ticks $backend)
    cpu0_broker=$(cpu_ticks "$MB_PID_STARTED")

    echo "== producing $EVENTS simulated events ($FORMAT) to $PARTITIONS partitions while tally-ingest consumes"
    out=$("$WORK/bench_produce" --brokers "$MB_BOOTSTRAP" --topic bench --db "$db" --group bench \
        --partitions "$PARTITIONS" --window-kb "$WINDOW_KB" --developers 150 --days 60 --seed 7 \
        --format "$FORMAT" --events "$EVENTS" \
        --totals "$WORK/totals.csv") || die "producer failed: $(tail -5 "$log")"
    echo "   $out"
    val() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2"; }
    local hwm_kb metrics
    hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$IPID/status")
    local cpu_ingest=$(($(cpu_ticks "$IPID") - cpu0_ingest))
    local cpu_backend=$(($(cpu_ticks $backend) - cpu0_backend))
    local cpu_broker=$(($(cpu_ticks "$MB_PID_STARTED") - cpu0_broker))
    metrics=$(curl -sf "http://127.0.0.1:$mport/metrics")
    metric() { awk -v m="$1" '$1 == m {printf "%.0f", $2 * ('"${3:-1}"')}' <<<"$2"; }

    # correctness (asserted): exactly the distinct valid events, with the generator's totals
    local stored want got rejects
    stored=$(psql "$db" -qAtXc "SELECT count(*) FROM usage_events")
    if [ "$stored" != "$(val events "$out")" ]; then
        KEEP=1
        psql "$db" -qAtXc "SELECT reason, count(*) FROM ingest_rejects GROUP BY 1" >&2
        grep -v level=debug "$log" | tail -20 >&2
        die "usage_events holds $stored rows, expected $(val events "$out")"
    fi
    # the --totals columns up to long_context_requests, then fast_requests and geo_us_requests
    want=$(grep -v '^total,' "$WORK/totals.csv" | tail -n +2 | cut -d, -f1-10,12-13)
    got=$(psql "$db" -qAtX -F, -c "SELECT developer_oid, model, count(*), sum(input_tokens),
        sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_read_tokens),
        sum(output_tokens), sum(web_search_requests), count(*) FILTER (WHERE long_context),
        count(*) FILTER (WHERE speed = 'fast'), count(*) FILTER (WHERE inference_geo = 'us')
        FROM usage_events GROUP BY 1, 2 ORDER BY developer_oid COLLATE \"C\", model COLLATE \"C\"")
    if [ "$want" != "$got" ]; then
        diff <(echo "$want") <(echo "$got") | head -8 >&2
        die "usage_events sums differ from the generator's totals"
    fi
    rejects=$(psql "$db" -qAtXc "SELECT count(*) FROM ingest_rejects")
    [ "$rejects" = "$(val malformed "$out")" ] ||
        die "ingest_rejects holds $rejects rows, expected $(val malformed "$out")"
    echo "   ok: $stored distinct events stored exactly once, totals equal, $rejects rejects"

    # the plain-COPY ceiling: the same rows, same cluster, same indexes, nothing else
    local t0 t1 copy_ms
    psql "$db" -qAtXc "\\copy (SELECT * FROM usage_events) TO '$WORK/rows.copy'" || die "copy out"
    psql "$db" -qAtXc "CREATE TABLE bench_copy (LIKE usage_events INCLUDING DEFAULTS
        INCLUDING CONSTRAINTS INCLUDING INDEXES)" || die "create bench_copy"
    psql "$db" -qAtXc "CHECKPOINT" >/dev/null
    local copy_out cpu_copy
    t0=$(date +%s%N)
    # the backend's CPU ticks before and after, read by psql itself between the commands
    copy_out=$(psql "$db" -qAtX -v ON_ERROR_STOP=1 <<SQL
SELECT pg_backend_pid() AS pid \\gset
\\setenv BACKEND :pid
\\! awk '{print \$14 + \$15}' /proc/\$BACKEND/stat
\\copy bench_copy FROM '$WORK/rows.copy'
\\! awk '{print \$14 + \$15}' /proc/\$BACKEND/stat
SQL
    ) || die "copy in"
    t1=$(date +%s%N)
    copy_ms=$(((t1 - t0) / 1000000))
    cpu_copy=$(($(sed -n 2p <<<"$copy_out") - $(sed -n 1p <<<"$copy_out")))
    psql "$db" -qAtXc "DROP TABLE bench_copy" || die "drop bench_copy"
    rm -f "$WORK/rows.copy"

    local elapsed batches txn_ms
    elapsed=$(val elapsed_ms "$out")
    batches=$(metric tally_ingest_commit_seconds_count "$metrics")
    txn_ms=$(metric tally_ingest_commit_seconds_sum "$metrics" 1000)
    R[$name.events]=$stored
    R[$name.messages]=$(val messages "$out")
    R[$name.mib]=$(($(val bytes "$out") / 1048576))
    R[$name.elapsed_ms]=$elapsed
    R[$name.rate]=$((stored * 1000 / elapsed))
    R[$name.copy_ms]=$copy_ms
    R[$name.copy_rate]=$((stored * 1000 / (copy_ms > 0 ? copy_ms : 1)))
    R[$name.ratio]=$(awk -v a="${R[$name.rate]}" -v b="${R[$name.copy_rate]}" \
        'BEGIN { printf "%.1f", 100 * a / b }')
    R[$name.rss_mib]=$((hwm_kb / 1024))
    R[$name.batches]=$batches
    R[$name.txn_ms]=$txn_ms
    R[$name.txn_pct]=$(awk -v a="$txn_ms" -v b="$elapsed" 'BEGIN { printf "%.0f", 100 * a / b }')
    R[$name.throttled_ms]=$(val throttled_ms "$out")
    us_per() { awk -v t="$1" -v n="$stored" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'; }
    R[$name.cpu_ingest]=$(us_per "$cpu_ingest")
    R[$name.cpu_backend]=$(us_per "$cpu_backend")
    R[$name.cpu_copy]=$(us_per "$cpu_copy")
    R[$name.cpu_broker]=$(us_per "$cpu_broker")
    R[$name.cpu_producer]=$(awk -v ms="$(val cpu_ms "$out")" -v n="$stored" \
        'BEGIN { printf "%.1f", ms * 1e3 / n }')
    R[$name.cpu_ratio]=$(awk -v a="$cpu_copy" -v b="$cpu_backend" \
        'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')
    echo "   tally-ingest: ${R[$name.rate]} events/s; plain COPY: $stored rows in $copy_ms ms =" \
        "${R[$name.copy_rate]} rows/s; ratio ${R[$name.ratio]} %; peak RSS ${R[$name.rss_mib]} MiB;" \
        "$batches batches, $txn_ms of $elapsed ms in batch transactions"

    echo "== producing at $RATE messages/s for $DURATION s (seed 8) for the produce -> queryable latency"
    out2=$("$WORK/bench_produce" --brokers "$MB_BOOTSTRAP" --topic bench --db "$db" --group bench \
        --partitions "$PARTITIONS" --window-kb "$WINDOW_KB" --developers 150 --days 60 --seed 8 \
        --format "$FORMAT" --rate "$RATE" --duration "$DURATION") ||
        die "producer failed: $(tail -5 "$log")"
    echo "   $out2"
    local metrics2 stored2 rejects2
    metrics2=$(curl -sf "http://127.0.0.1:$mport/metrics")
    R[$name.rss_all_mib]=$(($(awk '/^VmHWM/ {print $2}' "/proc/$IPID/status") / 1024))
    kill -TERM "$IPID"
    wait "$IPID"
    rc=$?
    IPID=
    [ $rc -eq 0 ] || echo "WARNING: tally-ingest exited $rc on SIGTERM"
    stored2=$(psql "$db" -qAtXc "SELECT count(*) FROM usage_events")
    rejects2=$(psql "$db" -qAtXc "SELECT count(*) FROM ingest_rejects")
    [ "$stored2" = $((stored + $(val events "$out2"))) ] ||
        die "after the latency run usage_events holds $stored2 rows, expected $stored + $(val events "$out2")"
    [ "$rejects2" = $((rejects + $(val malformed "$out2"))) ] ||
        die "after the latency run ingest_rejects holds $rejects2 rows, expected $rejects + $(val malformed "$out2")"
    R[$name.lat_messages]=$(val messages "$out2")
    R[$name.lat_rate]=$(($(val messages "$out2") * 1000 / $(val produce_ms "$out2")))
    R[$name.lat_p50]=$(val lat_p50_ms "$out2")
    R[$name.lat_p99]=$(val lat_p99_ms "$out2")
    R[$name.lat_max]=$(val lat_max_ms "$out2")
    R[$name.lat_throttled_ms]=$(val throttled_ms "$out2")
    # how long a partition's window lasts at RATE: latencies beyond it throttle the producer
    R[$name.window_ms]=$((WINDOW_KB * 1024 * PARTITIONS * 1000 / RATE * $(val messages "$out2") /
        $(val bytes "$out2")))
    R[$name.lat_batches]=$(($(metric tally_ingest_commit_seconds_count "$metrics2") - batches))
    echo "   ok: $stored2 events and $rejects2 rejects stored in all; latency p50 ${R[$name.lat_p50]} ms," \
        "p99 ${R[$name.lat_p99]} ms, max ${R[$name.lat_max]} ms over ${R[$name.lat_batches]} batches"

    if [ -z "${KEEP:-}" ]; then
        psql "$DB_ADMIN" -qAtc "DROP DATABASE $DBNAME WITH (FORCE)" >/dev/null
        DBNAME=
    fi
}

for c in $CONFIGS; do
    if [ "$c" = fast ]; then bench_config fast "$FAST_PG"; else bench_config durable "$DURABLE_PG"; fi
done

row() { # row LABEL FORMAT-OF-ONE-CONFIG: one line, a column per configuration
    local label=$1 c
    printf '%-40s' "$label"
    for c in $CONFIGS; do printf '%-26s' "$(eval "echo \"$2\"")"; done
    printf '\n'
}
echo
echo "=== tally-ingest against the plain-COPY ceiling ($EVENTS events, $PARTITIONS partitions," \
    "format=$FORMAT, batch_size=${BATCH_SIZE:-default}, linger=${LINGER_MS:-default})"
row "" '$c'
row "tally-ingest (first msg->last offset)" '${R[$c.rate]} events/s'
row "plain COPY, same rows and indexes" '${R[$c.copy_rate]} rows/s'
row "ratio (goal >= 50 %)" '${R[$c.ratio]} %'
row "peak RSS, VmHWM (goal <= 64 MB)" '${R[$c.rss_mib]} MiB'
row "CPU per event: tally-ingest, backend" '${R[$c.cpu_ingest]} + ${R[$c.cpu_backend]} us'
row "CPU per event: mock broker, producer" '${R[$c.cpu_broker]} + ${R[$c.cpu_producer]} us'
row "CPU per row: plain COPY's backend" '${R[$c.cpu_copy]} us = ${R[$c.cpu_ratio]} % of ours'
row "inside batch transactions" '${R[$c.txn_ms]} of ${R[$c.elapsed_ms]} ms = ${R[$c.txn_pct]} %'
row "batches, messages per batch" '${R[$c.batches]}, $((R[$c.messages] / (R[$c.batches] > 0 ? R[$c.batches] : 1)))'
row "producer waited on the daemon" '${R[$c.throttled_ms]} ms'
row "latency run: messages, messages/s" '${R[$c.lat_messages]} at ${R[$c.lat_rate]}/s'
row "produce -> queryable p50 / p99" '${R[$c.lat_p50]} / ${R[$c.lat_p99]} ms'
row "  max; goal p99 <= 1000 ms" '${R[$c.lat_max]} ms'
row "  producer waited on the daemon" '${R[$c.lat_throttled_ms]} ms'
row "  window per partition lasts" '${R[$c.window_ms]} ms at $RATE/s'
row "peak RSS over both phases" '${R[$c.rss_all_mib]} MiB'
echo
echo "issue 11 baseline (durable PostgreSQL, 1M events, one quiet machine): 10,548 events/s" \
    "= 17 % of a 58,719 rows/s COPY ceiling, peak RSS 34 MiB, 49 of 95 s in batch transactions"
echo "goal: >= 50 % of the COPY ceiling, peak RSS <= 64 MB, produce -> queryable p99 <= 1 s at 10k events/s"
for c in $CONFIGS; do
    [ "${R[$c.lat_throttled_ms]:-0}" -gt 0 ] &&
        echo "note ($c): the latency run waited ${R[$c.lat_throttled_ms]} ms for the daemon," \
            "so it did not hold $RATE messages/s throughout (latencies beyond the window's" \
            "${R[$c.window_ms]} ms hold the producer back instead of showing)"
done
exit 0
