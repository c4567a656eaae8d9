# shellcheck shell=bash
# Helpers the benchmarks share (sourced after tests/lib.sh). They only print figures.

# pgbench_percentiles PGBENCH_LOG…: "p50 p99" in ms of the transactions pgbench -l logged
pgbench_percentiles() {
    cat "$@" | awk '{print $3 / 1000}' | sort -n | awk '{a[NR] = $1} END {
        i = int(NR * 0.99); if (i < 1) i = 1
        printf "%.1f %.1f\n", a[int((NR + 1) / 2)], a[i] }'
}

# pgbench_latency DB RUNS SQL: runs SQL RUNS times on one connection; prints "p50 p99" in ms
pgbench_latency() {
    local dir
    dir=$(mktemp -d /tmp/tally-pgbench.XXXXXX)
    echo "$3" >"$dir/q.sql"
    (cd "$dir" && pgbench -n -c 1 -t "$2" -f q.sql -l "$1" >/dev/null 2>&1)
    pgbench_percentiles "$dir"/pgbench_log.*
    rm -rf "$dir"
}

# ratio A B: A / B with two decimals, "-" when either is missing
ratio() {
    if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else echo -; fi
}

# drop_create_db NAME: a fresh empty database NAME in the cluster of $TALLY_TEST_PG
drop_create_db() {
    PGOPTIONS="-c client_min_messages=warning" psql "$TALLY_TEST_PG dbname=postgres" -qX \
        -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
}

# pg_start_durable DIR: a second PostgreSQL 15 cluster in DIR configured as users run it
# (fsync, synchronous_commit and full_page_writes on, shared_buffers 2GB, the rest at
# PostgreSQL's defaults); sets DURABLE_PG (conninfo) and DURABLE_PGDATA. Stop it with
# pg_stop_durable.
pg_start_durable() {
    local dir=$1 port
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_postgres $PG_BIN/initdb -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >/dev/null || return 1
    port=$(free_port) || return 1
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 2GB
max_connections = 200
log_min_messages = warning
CONF
    DURABLE_PGDATA=$dir/data
    as_postgres $PG_BIN/pg_ctl -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null || return 1
    DURABLE_PG="host=127.0.0.1 port=$port user=postgres"
}

pg_stop_durable() {
    [ -n "${DURABLE_PGDATA:-}" ] && [ -d "$DURABLE_PGDATA" ] || return 0
    as_postgres $PG_BIN/pg_ctl -D "$DURABLE_PGDATA" -m immediate -w stop >/dev/null 2>&1
}
