# Shell helpers for tests/run.sh and the integration tests (sourced).
# Integration tests: source this, call need_env, then use new_db, mb_start, assert_eq…

PG_BIN=/usr/lib/postgresql/15/bin

as_postgres() { # runs a command as the postgres user when we are root
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# free_port: a loopback port nobody listens on, below the kernel's ephemeral range
# (ip_local_port_range starts at 32768), so an outgoing connection of another test
# cannot take it between this check and the bind.
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return 0; }
    done
    return 1
}

pg_start() { # pg_start DIR: initdb + start on a free port; sets TALLY_TEST_PG*
    local dir=$1
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_postgres $PG_BIN/initdb -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    TALLY_TEST_PGPORT=$(free_port)
    TALLY_TEST_PGDATA=$dir/data
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $TALLY_TEST_PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 256MB
log_min_messages = warning
CONF
    as_postgres $PG_BIN/pg_ctl -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null
    TALLY_TEST_PG="host=127.0.0.1 port=$TALLY_TEST_PGPORT user=postgres"
}

pg_stop() {
    [ -n "${TALLY_TEST_PGDATA:-}" ] && [ -d "$TALLY_TEST_PGDATA" ] || return 0
    as_postgres $PG_BIN/pg_ctl -D "$TALLY_TEST_PGDATA" -m immediate -w stop >/dev/null 2>&1
}

pg_restart() { # for fault tests: stop fast, wait, start again
    as_postgres $PG_BIN/pg_ctl -D "$TALLY_TEST_PGDATA" -m fast -w stop >/dev/null
    sleep "${1:-0}"
    as_postgres $PG_BIN/pg_ctl -D "$TALLY_TEST_PGDATA" -l "$TALLY_TEST_PGDATA/../log" -w start >/dev/null
}

mb_start() { # mb_start WORKDIR MOCKBROKER ARGS…: sets MB_BOOTSTRAP, MB_PID_STARTED, MB_FIFO
    local dir=$1; shift
    mkdir -p "$dir"
    MB_FIFO=$dir/cmd
    rm -f "$MB_FIFO"; mkfifo "$MB_FIFO"
    "$@" <"$MB_FIFO" >"$dir/out" 2>"$dir/err" &
    MB_PID_STARTED=$!
    exec {MB_FD}>"$MB_FIFO" # keep the FIFO open so the broker does not see EOF
    for _ in $(seq 1 100); do
        grep -q '^bootstrap=' "$dir/out" 2>/dev/null && break
        sleep 0.1
    done
    MB_BOOTSTRAP=$(sed -n 's/^bootstrap=//p' "$dir/out" | head -1)
    [ -n "$MB_BOOTSTRAP" ] || { echo "mock broker did not start: $(cat "$dir/err")" >&2; return 1; }
}

mb_cmd() { # mb_cmd "down 1": sends a command to the last started mock broker
    echo "$*" >&"$MB_FD"
}

# ---- for integration tests ----

need_env() {
    if [ -z "${TALLY_TEST_PG:-}" ] || [ -z "${TALLY_BUILD:-}" ]; then
        echo "SKIP: run through tests/run.sh (TALLY_TEST_PG and TALLY_BUILD unset)"
        exit 77
    fi
    BIN=$TALLY_BUILD
    SRC=${TALLY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
    TMP=$(mktemp -d /tmp/tally-it.XXXXXX)
    trap 'test_cleanup' EXIT
}

TEST_PIDS=()
test_cleanup() {
    local rc=$?
    for p in "${TEST_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    [ -n "${TEST_DB:-}" ] && psql "$TALLY_TEST_PG dbname=postgres" -qAtc "DROP DATABASE IF EXISTS \"$TEST_DB\" WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$TMP"
    exit $rc
}

new_db() { # new_db: creates a fresh database, migrates it; sets TEST_DB and DB (conninfo)
    TEST_DB="t_$(basename "$0" .sh)_$$_$RANDOM"
    psql "$TALLY_TEST_PG dbname=postgres" -qAtc "CREATE DATABASE \"$TEST_DB\"" >/dev/null
    DB="$TALLY_TEST_PG dbname=$TEST_DB"
    if [ "${1:-}" != --empty ]; then
        "$BIN/ctl/tallyctl" --db "$DB" migrate >/dev/null
    fi
}

sql() { psql "$DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

FAILS=0
assert_eq() { # assert_eq EXPECTED ACTUAL MESSAGE
    if [ "$1" == "$2" ]; then
        echo "ok - $3"
    else
        echo "FAIL - $3: expected [$1], got [$2]"
        FAILS=$((FAILS + 1))
    fi
}

assert_match() { # assert_match REGEX ACTUAL MESSAGE
    if [[ "$2" =~ $1 ]]; then
        echo "ok - $3"
    else
        echo "FAIL - $3: [$2] does not match /$1/"
        FAILS=$((FAILS + 1))
    fi
}

wait_for() { # wait_for SECONDS COMMAND…: polls every 0.2 s until the command succeeds
    local until=$((SECONDS + $1)); shift
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $until ] && return 1
        sleep 0.2
    done
}

finish() {
    if [ $FAILS -ne 0 ]; then echo "$FAILS assertion(s) failed"; exit 1; fi
    echo "all assertions passed"
}
