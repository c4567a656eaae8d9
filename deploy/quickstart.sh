#!/usr/bin/env bash
# The quick start: the whole product on one machine, with embedded stand-ins for Azure.
#
#   ./deploy/quickstart.sh                    run, print what to try, keep running until Ctrl-C
#   ./deploy/quickstart.sh --non-interactive  the same run as a check: print the first rows of
#                                             the chargeback CSV, stop everything, exit 0
#
# On a fresh Debian 12 machine as root it installs what is missing (tests/deps.sh), builds
# (build/), starts a throwaway PostgreSQL 15 and a Kafka-protocol broker (librdkafka's mock
# cluster, standing in for Event Hubs) on free loopback ports, migrates, loads the shipped
# price books, imports a few teams of simulated developers, produces a month of simulated
# Claude Code traffic (October 2026, the month the README's examples name) to the broker with
# kcat, runs tally-ingest and tally-report, waits until every event is in Postgres and prints
# the first rows of that month's chargeback CSV.
#
# Interactively it then prints the broker address, a finance, a lead and a platform token, a
# kcat line to send your own event, a quota to create and the URLs to try, writes the same as
# shell variables to DIR/quickstart.env (for the README's examples: source it in another
# shell; a script can wait for this file, it appears when everything is ready) and runs until
# Ctrl-C or SIGTERM, which stop everything it started and remove its files.
# --non-interactive prints none of that (it would be dead once the script has stopped) and
# says that it stopped everything; with QUICKSTART_KEEP=1 the CSV and logs stay in DIR.
#
# Environment (all optional):
#   QUICKSTART_EXIT=1          as --non-interactive
#   QUICKSTART_DIR=DIR         where the database, logs and CSV go (default: a new /tmp dir)
#   QUICKSTART_KEEP=1          keep QUICKSTART_DIR when stopping
#   QUICKSTART_BUILD_DIR=DIR   binaries (default build/); QUICKSTART_SKIP_BUILD=1 to use as is
#   QUICKSTART_DEVELOPERS=N    simulated developers (default 12), QUICKSTART_TEAMS=N (default 3)
#   QUICKSTART_MONTH=YYYY-MM   the simulated month (default 2026-10: the README's examples
#                              read it; another month leaves them empty)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

EXIT_AFTER=${QUICKSTART_EXIT:-0}
for arg in "$@"; do
    case $arg in
    --non-interactive) EXIT_AFTER=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "quickstart: unknown argument \"$arg\" (try --help)" >&2
        exit 2
        ;;
    esac
done
DEVELOPERS=${QUICKSTART_DEVELOPERS:-12}
TEAMS=${QUICKSTART_TEAMS:-3}
MONTH=${QUICKSTART_MONTH:-2026-10}
[[ $MONTH =~ ^[0-9]{4}-(0[1-9]|1[0-2])$ ]] || { echo "quickstart: QUICKSTART_MONTH must be YYYY-MM" >&2; exit 2; }
DAYS=$(date -u -d "$MONTH-01 +1 month -1 day" +%d)
BUILD=${QUICKSTART_BUILD_DIR:-$ROOT/build}
TOPIC=apim-usage

step() { echo "== $*"; }

# ---- 1. what is missing, and the build
source tests/deps.sh
deps_install
if [ "${QUICKSTART_SKIP_BUILD:-0}" != 1 ]; then
    step "building $BUILD"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j "$(nproc)" >/dev/null
fi
CTL=$BUILD/ctl/tallyctl
for b in "$CTL" "$BUILD/ingest/tally-ingest" "$BUILD/report/tally-report" "$BUILD/tests/mockbroker"; do
    [ -x "$b" ] || { echo "quickstart: $b is missing: build first (or unset QUICKSTART_SKIP_BUILD)" >&2; exit 1; }
done

# ---- 2. everything started is stopped on the way out, whatever the way
source tests/lib.sh
# Only what this script starts is ever stopped: forget any cluster the caller knows of (the
# test suite runs this script with its own shared cluster in the environment).
unset TALLY_TEST_PG TALLY_TEST_PGDATA TALLY_TEST_PGPORT TALLY_TEST_BROKERS TALLY_DB TALLY_CONFIG
QS_PGDATA=
if [ -n "${QUICKSTART_DIR:-}" ]; then
    DIR=$QUICKSTART_DIR
    rm -rf "$DIR/pg" "$DIR/mb" # a kept run's database: this one starts afresh
    mkdir -p "$DIR"
else
    DIR=$(mktemp -d /tmp/tokentally-quickstart.XXXXXX)
fi
chmod 755 "$DIR" # the postgres user runs the server in here
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$DIR"; then
    echo "quickstart: the postgres user cannot enter $DIR (a parent directory is private): choose another QUICKSTART_DIR" >&2
    exit 1
fi
PIDS=()  # the daemons, in start order
NAMES=()
MB_PID=
STOPPING=0
stop_all() {
    local rc=$? st
    [ $STOPPING = 1 ] && return
    STOPPING=1
    trap '' INT TERM
    echo
    rm -f "$DIR/quickstart.env" # first: what it names is about to go
    step "stopping"
    # the daemons first, last started first: on SIGTERM each finishes what it has in
    # flight, commits, and exits 0
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${PIDS[i]}" 2>/dev/null || true
        st=0
        wait "${PIDS[i]}" 2>/dev/null || st=$?
        if [ $st != 0 ]; then
            echo "   ${NAMES[i]} exited with status $st (see $DIR/${NAMES[i]}.log)"
            [ $rc = 0 ] && rc=1
        fi
    done
    if [ -n "$MB_PID" ]; then
        exec {MB_FD}>&- # EOF on its command FIFO: the broker quits
        for _ in $(seq 1 50); do kill -0 "$MB_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$MB_PID" 2>/dev/null || true
        wait "$MB_PID" 2>/dev/null || true
    fi
    if [ -n "$QS_PGDATA" ]; then
        as_postgres $PG_BIN/pg_ctl -D "$QS_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [ "${QUICKSTART_KEEP:-0}" = 1 ]; then
        echo "   kept $DIR"
    else
        rm -rf "$DIR"
    fi
    echo "   stopped"
    exit $rc
}
start_daemon() { # start_daemon NAME COMMAND…: in its own session, so Ctrl-C reaches only us
    local name=$1
    shift
    setsid "$@" 2>"$DIR/$name.log" &
    PIDS+=($!)
    NAMES+=("$name")
}
trap stop_all EXIT
trap 'exit 0' INT TERM

# ---- 3. PostgreSQL and the broker, on free loopback ports
step "starting PostgreSQL 15 in $DIR/pg"
QS_PGDATA=$DIR/pg/data # from here on stop_all stops it (pg_ctl stop is a no-op if it never ran)
pg_start "$DIR/pg"
[ -n "${TALLY_TEST_PG:-}" ] || { echo "quickstart: PostgreSQL did not start: see $DIR/pg/log" >&2; exit 1; }
psql "$TALLY_TEST_PG dbname=postgres" -qAtc "CREATE DATABASE tokentally" >/dev/null
DB="$TALLY_TEST_PG dbname=tokentally"
export TALLY_DB=$DB

step "starting the Kafka-protocol broker (topic $TOPIC)"
mb_start "$DIR/mb" setsid "$BUILD/tests/mockbroker" --brokers 1 --partitions 16 --topic "$TOPIC"
MB_PID=$MB_PID_STARTED

# ---- 4. schema, prices, developers
step "migrating, loading the price book"
ctl() { # tallyctl, its messages in tallyctl.log, shown if it fails
    "$CTL" "$@" 2>>"$DIR/tallyctl.log" && return
    echo "quickstart: tallyctl $1 failed: $(tail -n 3 "$DIR/tallyctl.log")" >&2
    exit 1
}
ctl migrate
for book in schema/prices/*.json; do
    ctl prices load "$book"
done

step "simulating $MONTH: $DEVELOPERS developers in $TEAMS teams"
ctl simulate --developers "$DEVELOPERS" --teams "$TEAMS" --days "$DAYS" --start "$MONTH-01" \
    --seed 42 --developers-csv "$DIR/developers.csv" >"$DIR/events.jsonl"
tail -n 1 "$DIR/tallyctl.log" >"$DIR/simulate.log"
EVENTS=$(sed -n 's/.* events=\([0-9]*\).*/\1/p' "$DIR/simulate.log")
MALFORMED=$(sed -n 's/.* malformed=\([0-9]*\).*/\1/p' "$DIR/simulate.log")
echo "   $(wc -l <"$DIR/events.jsonl") messages: $EVENTS requests, some delivered twice, $MALFORMED malformed"
ctl developers import "$DIR/developers.csv" | sed 's/^/   /'
# Foundry's US Data Zone Standard deployment: its events carry no inference_geo, the
# mapping says where it runs (1.1x in the price book)
ctl deployments set claude-sonnet-5-5-us claude-sonnet-5-5 --residency data-zone-us | sed 's/^/   /'

# ---- 5. the daemons, and the traffic through the broker (each in its own session, so that
# Ctrl-C reaches only this script, which then stops them in order)
INGEST_METRICS=127.0.0.1:$(free_port)
start_daemon tally-ingest "$BUILD/ingest/tally-ingest" --brokers "$MB_BOOTSTRAP" --topic "$TOPIC" \
    --group tally-ingest --metrics-listen "$INGEST_METRICS"

step "producing the month to $TOPIC with kcat while tally-ingest consumes"
# With per-partition flow control: the mock broker drops the oldest messages of a partition
# beyond ~5 MiB, read or not, and kcat's own partitioner puts runs of consecutive messages
# into one partition. So the lines are dealt round-robin to the partitions and cut into
# slices of at most 1 MiB; each round produces one slice to each partition (kcat -p) and
# waits until tally-ingest has stored the offsets of everything produced so far. No
# partition is ever more than 1 MiB ahead of the consumer, whatever the month's size.
consumed() { psql "$DB" -XqAtc "SELECT coalesce(sum(next_offset), 0) FROM ingest_offsets WHERE topic = '$TOPIC'"; }
NPART=16 SLICE_BYTES=1048576
total=$(wc -l <"$DIR/events.jsonl")
awk -v n=$NPART -v out="$DIR/part." '{ print > (out ((NR - 1) % n)) }' "$DIR/events.jsonl"
for ((p = 0; p < NPART; p++)); do
    [ -s "$DIR/part.$p" ] || continue
    split -C $SLICE_BYTES -d -a 4 "$DIR/part.$p" "$DIR/slice.$p."
    rm -f "$DIR/part.$p"
done
produced=0
caught_up() { [ "$(consumed)" -ge "$produced" ]; }
for ((round = 0; ; round++)); do
    mapfile -t slices < <(compgen -G "$DIR/slice.*.$(printf %04d $round)" || true)
    [ ${#slices[@]} -gt 0 ] || break
    kpids=()
    for slice in "${slices[@]}"; do
        p=${slice#"$DIR/slice."}
        p=${p%%.*}
        produced=$((produced + $(wc -l <"$slice")))
        kcat -P -b "$MB_BOOTSTRAP" -t "$TOPIC" -p "$p" -l "$slice" 2>>"$DIR/kcat.log" &
        kpids+=($!)
    done
    for k in "${kpids[@]}"; do
        wait "$k" || { echo "quickstart: kcat could not produce to $TOPIC: see $DIR/kcat.log" >&2; exit 1; }
    done
    rm -f "${slices[@]}"
    if ! wait_for 120 caught_up; then
        echo "quickstart: tally-ingest is not consuming ($(consumed) of $produced messages): see $DIR/tally-ingest.log" >&2
        exit 1
    fi
    [ -t 1 ] && printf '\r   %d of %d messages ingested' "$produced" "$total"
done
[ -t 1 ] && echo
count() { psql "$DB" -XqAtc "SELECT (SELECT count(*) FROM usage_events) || ' ' || (SELECT count(*) FROM ingest_rejects)"; }
if [ "$(count)" != "$EVENTS $MALFORMED" ]; then
    echo "quickstart: expected $EVENTS events and $MALFORMED rejects, PostgreSQL has $(count): see $DIR/tally-ingest.log" >&2
    exit 1
fi
echo "   $EVENTS events and $MALFORMED rejects in PostgreSQL, each exactly once"

REPORT=127.0.0.1:$(free_port)
start_daemon tally-report "$BUILD/report/tally-report" --listen "$REPORT"
if ! wait_for 30 curl -sf "http://$REPORT/healthz"; then
    echo "quickstart: tally-report did not start: see $DIR/tally-report.log" >&2
    exit 1
fi

# ---- 6. what finance gets
token() { ctl tokens create --name "quickstart-$1-$$" --role "$@"; }
FINANCE_TOKEN=$(token finance)
CSV_URL="http://$REPORT/v1/reports/monthly?month=$MONTH&format=csv"
fetch() { # fetch URL FILE: the report into FILE, or a message and exit
    local code
    code=$(curl -s -H "Authorization: Bearer $FINANCE_TOKEN" -o "$2" -w '%{http_code}' "$1" || true)
    if [ "$code" != 200 ]; then
        echo "quickstart: $1 answered ${code:-nothing}: $(head -c 400 "$2" 2>/dev/null); see $DIR/tally-report.log" >&2
        exit 1
    fi
}
fetch "$CSV_URL" "$DIR/chargeback-$MONTH.csv"
fetch "http://$REPORT/v1/reports/monthly?month=$MONTH" "$DIR/chargeback-$MONTH.json"
ROWS=$(($(wc -l <"$DIR/chargeback-$MONTH.csv") - 1))

if [ "$EXIT_AFTER" = 1 ]; then
    # Nothing that names a port, a token or a file that is gone once this script has stopped.
    where="QUICKSTART_KEEP=1 keeps it"
    [ "${QUICKSTART_KEEP:-0}" = 1 ] && where="all of it in $DIR/chargeback-$MONTH.csv"
    step "the chargeback CSV of $MONTH (first rows of $ROWS; $where)"
    head -n 6 "$DIR/chargeback-$MONTH.csv" | tr -d '\r'
    echo
    echo "the quick start works; --non-interactive: stopping PostgreSQL, the broker, tally-ingest"
    echo "and tally-report (without it they keep running, with tokens and URLs to try)"
    exit 0
fi

step "the chargeback CSV of $MONTH (first rows of $ROWS; all of it in $DIR/chargeback-$MONTH.csv)"
head -n 6 "$DIR/chargeback-$MONTH.csv" | tr -d '\r'

# ---- 7. the first hour: a token of each role, the broker, one's own event, a quota
LEAD_TEAM=$(sed -n '2s/^[^,]*,[^,]*,[^,]*,\([^,]*\),.*/\1/p' "$DIR/developers.csv")
LEAD_TOKEN=$(token lead --team "$LEAD_TEAM")
PLATFORM_TOKEN=$(token platform)
NEXT_MONTH=$(date -u -d "$MONTH-01 +1 month" +%Y-%m-%d)
URL=http://$REPORT
# the event the kcat line sends (its time: when it is sent) and a quota on its developer
MY_OID=00000000-0000-4000-8000-00000000beef
MY_EVENT='{"schema":"tally.usage/1","requestId":"my-first-request","timestamp":"%s","userOid":"'$MY_OID'","userUpn":"you@example.com","model":"claude-sonnet-5-5","usage":{"input_tokens":1200,"cache_read_input_tokens":5000,"output_tokens":300}}'
MY_QUOTA='{"name":"my-first-quota","scope":"developer","subject":"'$MY_OID'","metric":"tokens","period":"day","tz":"UTC","limit":"10000"}'

ENV=$DIR/quickstart.env
touch "$ENV.tmp" && chmod 600 "$ENV.tmp" # it holds the tokens; DIR is open to postgres
cat >>"$ENV.tmp" <<ENVEOF
# the running quick start (pid $$), for the README's examples; dead once it stops
export TALLY_URL='$URL'
export TALLY_BROKERS='$MB_BOOTSTRAP'
export TALLY_TOPIC='$TOPIC'
export TALLY_DB='$DB'
export FINANCE_TOKEN='$FINANCE_TOKEN'
export LEAD_TOKEN='$LEAD_TOKEN' # lead of team $LEAD_TEAM
export PLATFORM_TOKEN='$PLATFORM_TOKEN'
export PATH='$BUILD/ctl:$BUILD/ingest:$BUILD/report':"\$PATH"
ENVEOF

AUTH="-H 'Authorization: Bearer $FINANCE_TOKEN'"
cat <<TRYEOF

== running
tally-report  $URL   (routes: report/openapi.yaml)
tally-ingest  http://$INGEST_METRICS/metrics   (consuming topic $TOPIC)
broker        $MB_BOOTSTRAP   (Kafka protocol, plaintext: stands in for Event Hubs)
PostgreSQL    psql '$DB'
tokens        finance  $FINANCE_TOKEN
              lead     $LEAD_TOKEN   (team $LEAD_TEAM)
              platform $PLATFORM_TOKEN
the same as shell variables, for the README's examples: source $ENV

== try (the finance token)
# the chargeback, in UTC and in another zone; costs by team and model; FinOps FOCUS 1.2
curl $AUTH '$CSV_URL'
curl $AUTH '$URL/v1/reports/monthly?month=$MONTH&tz=Asia/Kolkata'
curl $AUTH '$URL/v1/costs?from=$MONTH-01&to=$NEXT_MONTH&group_by=team,model'
curl $AUTH '$URL/v1/exports/focus?month=$MONTH'
# usage no price covers, the prices in use
curl $AUTH '$URL/v1/usage/unpriced?from=$MONTH-01&to=$NEXT_MONTH'
curl $AUTH '$URL/v1/prices'
# Prometheus metrics of tally-report and tally-ingest
curl '$URL/metrics'
curl 'http://$INGEST_METRICS/metrics'
# what the lead of team $LEAD_TEAM sees: its team's developers only
curl -H 'Authorization: Bearer $LEAD_TOKEN' '$URL/v1/costs?from=$MONTH-01&to=$NEXT_MONTH&group_by=developer'

== send your own event (tally.usage/1, as the APIM policy emits it; sent twice, stored once)
printf '$MY_EVENT\n' "\$(date -u +%FT%TZ)" | kcat -P -b $MB_BOOTSTRAP -t $TOPIC

== a quota on that developer (the platform token): 10000 tokens a day, alerts at 50, 80, 100 %
curl -H 'Authorization: Bearer $PLATFORM_TOKEN' -H 'Content-Type: application/json' -d '$MY_QUOTA' '$URL/v1/quotas'
curl -H 'Authorization: Bearer $PLATFORM_TOKEN' '$URL/v1/quotas/status'

# more tokens, e.g. another team's lead
TALLY_DB='$DB' $CTL tokens create --role lead --team <team> --name <name>
# logs: $DIR/*.log
TRYEOF
mv "$ENV.tmp" "$ENV" # last: a script waiting for it finds everything ready

echo
echo "running; Ctrl-C stops everything"
while :; do
    for p in "${PIDS[@]}"; do
        if ! kill -0 "$p" 2>/dev/null; then
            echo "quickstart: a process stopped unexpectedly (pid $p): see $DIR/*.log" >&2
            exit 1
        fi
    done
    sleep 1 &
    wait $! || true
done
