#!/usr/bin/env bash
# The test suite: installs what is missing (Debian 12, as root), builds the normal and
# the ASan+UBSan build, starts a throwaway PostgreSQL 15 cluster and a Kafka-protocol
# mock broker, runs ctest on both builds, and stops everything it started.
#
#   tests/run.sh                 everything (what CI runs)
#   tests/run.sh -L unit         only tests with that ctest label (passed to ctest)
#   TALLY_SKIP_ASAN=1 tests/run.sh   skip the sanitizer build (local iterations)
#   TALLY_SKIP_FUZZ=1 tests/run.sh   skip the bounded libFuzzer runs (tests/fuzz/run.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source tests/deps.sh
deps_install
contract_tools_install

JOBS=$(nproc)
build() { # build DIR [cmake options…]
    local dir=$1; shift
    cmake -S . -B "$dir" -DTALLY_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS" >/dev/null
}
echo "== building build/ and build-asan/"
build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
[ "${TALLY_SKIP_ASAN:-}" = 1 ] || build build-asan -DCMAKE_BUILD_TYPE=Debug -DTALLY_SANITIZE=ON

# Debian's python3 first: a version manager's shim costs a second per start, and the tests
# start python3 often (python3-yaml comes from Debian too)
export PATH="/usr/bin:$PATH"
source tests/lib.sh
WORK=$(mktemp -d /tmp/tally-test.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    local rc=$?
    [ -n "${MB_PID:-}" ] && kill "$MB_PID" 2>/dev/null || true
    pg_stop || true
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT INT TERM

echo "== starting PostgreSQL and the mock broker"
pg_start "$WORK/pg"
# Roles are the cluster's, not a database's: migrating one database first creates
# tally_reader, so that tests migrating their own databases two at a time never race to
# create it (a migrate run is one transaction, so the loser's CREATE ROLE would fail)
psql "$TALLY_TEST_PG dbname=postgres" -qAtc "CREATE DATABASE tally_roles" >/dev/null
build/ctl/tallyctl --db "$TALLY_TEST_PG dbname=tally_roles" migrate >/dev/null 2>&1
mb_start "$WORK/mb" build/tests/mockbroker --brokers 3 --partitions 4 --topic tally-harness
MB_PID=$MB_PID_STARTED
export TALLY_TEST_PG TALLY_TEST_PGDATA TALLY_TEST_PGPORT TALLY_TEST_BROKERS="$MB_BOOTSTRAP"
echo "   postgres: $TALLY_TEST_PG  brokers: $TALLY_TEST_BROKERS"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
CT=(ctest --output-on-failure --timeout 900)
if [ $# -gt 0 ]; then # the caller chose the tests
    echo "== ctest build/ $*"
    "${CT[@]}" --test-dir build "$@" || status=1
    if [ "${TALLY_SKIP_ASAN:-}" != 1 ]; then
        echo "== ctest build-asan/ $*"
        "${CT[@]}" --test-dir build-asan "$@" || status=1
    fi
else
    # every test has its own database and, where it needs one, its own broker, so they run
    # two at a time; fault tests restart the shared PostgreSQL and run alone, last
    echo "== ctest build/ (unit, integration)"
    "${CT[@]}" --test-dir build -j2 -LE fault || status=1
    echo "== ctest build/ (fault)"
    "${CT[@]}" --test-dir build -L fault || status=1
    if [ "${TALLY_SKIP_ASAN:-}" != 1 ]; then
        echo "== ctest build-asan/ (unit, integration)"
        "${CT[@]}" --test-dir build-asan -j2 -L 'unit|integration' || status=1
    fi
fi
if [ "${TALLY_SKIP_FUZZ:-}" != 1 ] && [ $# -eq 0 ]; then
    echo "== fuzzing (tests/fuzz/run.sh)"
    bash tests/fuzz/run.sh || status=1
fi
exit $status
