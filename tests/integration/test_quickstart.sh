#!/usr/bin/env bash
# deploy/quickstart.sh end to end, on its own PostgreSQL, broker and ports (never the shared
# test cluster): non-interactively, it must simulate October 2026 (the README's month) by
# default, print the chargeback CSV (the required header, docs/architecture.md "Chargeback
# CSV"; a row for every simulated team, exact decimal costs summing to the JSON total), no
# address or token (dead once it has stopped), and stop everything; interactively, it must
# print the broker, three tokens and quickstart.env, every curl line it prints must answer
# 200 (201 for the quota it creates), its kcat line must land exactly once however often it is
# sent, and SIGTERM must stop it cleanly (exit 0, ports closed, files removed).
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/quickstart_lib.sh"
QS=$SRC/deploy/quickstart.sh
MONTH=2026-10
REQUIRED="month,tz,developer_oid,developer_upn,team,cost_center,model,requests,input_tokens,cache_write_5m_tokens,cache_write_1h_tokens,cache_read_tokens,output_tokens,cost_usd,priced,price_book,price_book_sha256"

closed() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports_of() { # the loopback ports the files named (quick start output, its logs) name
    grep -ohE '(127\.0\.0\.1:|port=|^port = )[0-9]+' "$@" | grep -oE '[0-9]+$' | sort -u
}

# Both runs at once, each on its own cluster, broker and ports: a small interactive one in the
# background (checked at the end), and the non-interactive one.
DIR2=$TMP/qs2
qs_background "$DIR2" "$TMP/qs2.out" QUICKSTART_DEVELOPERS=1 QUICKSTART_TEAMS=1 QUICKSTART_MONTH=$MONTH
qpid=$QS_PID

# ---- non-interactive
DIR=$TMP/qs1
start=$SECONDS
QUICKSTART_SKIP_BUILD=1 QUICKSTART_BUILD_DIR=$BIN QUICKSTART_KEEP=1 QUICKSTART_DIR=$DIR \
    QUICKSTART_DEVELOPERS=6 QUICKSTART_TEAMS=3 \
    timeout 300 bash "$QS" --non-interactive </dev/null >"$TMP/qs1.out" 2>&1
rc=$?
echo "quick start ran in $((SECONDS - start)) s"
assert_eq 0 "$rc" "quickstart.sh --non-interactive exits 0"
[ $rc = 0 ] || tail -30 "$TMP/qs1.out"
assert_match "events and [0-9]+ rejects in PostgreSQL, each exactly once" "$(cat "$TMP/qs1.out")" \
    "every simulated event reached PostgreSQL through the broker"
assert_eq "" "$(grep 'exited with status' "$TMP/qs1.out")" "both daemons stopped with status 0"
assert_eq 1 "$(grep -c '^   stopped$' "$TMP/qs1.out")" "it stopped everything"
assert_eq 1 "$(grep -c "^== simulating $MONTH: " "$TMP/qs1.out")" "by default it simulates $MONTH, the month the README's examples name"
assert_eq 1 "$(grep -c '^the quick start works; --non-interactive: stopping PostgreSQL, the broker, tally-ingest$' "$TMP/qs1.out")" \
    "it says that it stops the services"
assert_eq "0 0 0" "$(grep -c '127\.0\.0\.1' "$TMP/qs1.out") $(grep -c 'tt_[0-9a-f]' "$TMP/qs1.out") $(grep -c 'quickstart\.env' "$TMP/qs1.out")" \
    "--non-interactive prints no address, no token, no environment file: all dead once it stops"
assert_eq no "$([ -e "$DIR/quickstart.env" ] && echo yes || echo no)" "no quickstart.env is left naming what stopped"
csv=$DIR/chargeback-$MONTH.csv
header=$(head -1 "$csv" | tr -d '\r')
assert_eq "$REQUIRED" "$(echo "$header" | cut -d, -f1-17)" "the CSV header starts with exactly the required chargeback columns (docs/architecture.md, Chargeback CSV)"
assert_eq 1 "$(grep -cxF "$header" "$TMP/qs1.out")" "the header line is printed"
assert_eq "$(wc -l <"$csv")" "$(grep -c $'\r$' "$csv")" "every CSV line ends with CRLF"
printed=$(grep -c "^$MONTH,UTC," "$TMP/qs1.out")
assert_match '^[1-5]$' "$printed" "the first rows are printed ($printed)"
# the ports, from the kept logs: PostgreSQL's, the broker's, tally-ingest's metrics, tally-report's
mapfile -t ports < <(ports_of "$DIR"/*.log "$DIR/mb/out" "$DIR/pg/data/postgresql.conf")
assert_match '^[4-9]$' "${#ports[@]}" "the kept logs name the ports it used (${ports[*]})"
left=""
for port in "${ports[@]}"; do closed "$port" || left+=" $port"; done
assert_eq "" "$left" "PostgreSQL, the broker, tally-report and tally-ingest closed their ports"
out=$(python3 - "$csv" "$DIR/chargeback-$MONTH.json" "$DIR/developers.csv" <<'EOF'
import csv, json, re, sys
from decimal import Decimal
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
js = json.load(open(sys.argv[2]))
teams = {r["team"] for r in csv.DictReader(open(sys.argv[3], newline=""))}
bad = [r["cost_usd"] for r in rows
       if not (re.fullmatch(r"[0-9]+(\.[0-9]+)?", r["cost_usd"]) if r["priced"] == "true"
               else r["cost_usd"] == "")]
per_team = {t: sum(1 for r in rows if r["team"] == t) for t in sorted(teams)}
total = sum((Decimal(r["cost_usd"]) for r in rows if r["cost_usd"]), Decimal(0))
print(len(rows), len(teams), min(per_team.values()), len(bad),
      total == Decimal(js["totals"]["cost_usd"]), js["totals"]["cost_usd"],
      sum(int(r["requests"]) for r in rows) == js["totals"]["requests"],
      len(rows) == js["totals"]["rows"], sep="\n")
EOF
)
mapfile -t r <<<"$out"
assert_match '^[0-9]+$' "${r[0]}" "the CSV has ${r[0]} rows"
assert_eq 3 "${r[1]}" "three simulated teams"
assert_match '^[1-9][0-9]*$' "${r[2]}" "every team has at least one row (fewest: ${r[2]})"
assert_eq 0 "${r[3]}" "cost_usd is an exact decimal on priced rows, empty on unpriced ones"
assert_eq True "${r[4]}" "the sum of cost_usd equals the JSON total (${r[5]} USD) exactly"
assert_eq True "${r[6]}" "the sum of requests equals the JSON total"
assert_eq True "${r[7]}" "the JSON counts the same rows"

# ---- interactive, later stopped with SIGTERM
if wait_for 240 test -e "$DIR2/quickstart.env"; then
    assert_eq 1 "$(grep -c "Ctrl-C stops everything" "$TMP/qs2.out")" "quickstart.env appears when it is ready"
    assert_eq 600 "$(stat -c %a "$DIR2/quickstart.env")" "quickstart.env holds tokens: only its owner reads it"
    source "$DIR2/quickstart.env"
    assert_eq "1 1 1 1" "$(for r in finance lead platform; do grep -cE "^( +|tokens +)$r +tt_[0-9a-f]{64}( |$)" "$TMP/qs2.out"; done | tr '\n' ' ')$(grep -cxE "broker +$TALLY_BROKERS .*" "$TMP/qs2.out")" \
        "it prints a finance, a lead and a platform token and the broker address"
    assert_eq "finance lead platform" "$(psql "$TALLY_DB" -XAtc "SELECT string_agg(role, ' ' ORDER BY role) FROM api_tokens WHERE revoked_at IS NULL")" \
        "the tokens exist with their roles"
    # each printed request goes through Prism's validating proxy (tests/contract, --errors),
    # so an answer report/openapi.yaml does not describe fails it
    PPORT=$(free_port)
    NO_UPDATE_NOTIFIER=1 "$SRC/tests/contract/node_modules/.bin/prism" proxy --errors --host 127.0.0.1 \
        --port "$PPORT" "$SRC/report/openapi.yaml" "$TALLY_URL" >"$TMP/prism.log" 2>&1 &
    TEST_PIDS+=($!)
    wait_for 120 curl -s -o /dev/null "http://127.0.0.1:$PPORT/healthz" || echo "Prism did not start"
    n=0 bad=""
    while read -r line; do
        want=200
        [[ $line == *" -d "* ]] && want=201 # the quota it creates
        line=${line//$TALLY_URL/http://127.0.0.1:$PPORT}
        code=$(eval "curl -s -o /dev/null -w '%{http_code}' ${line#curl }")
        n=$((n + 1))
        [ "$code" = $want ] || bad+=" [$code] $line"
    done < <(grep '^curl ' "$TMP/qs2.out")
    assert_eq 11 "$n" "eleven curl commands printed"
    assert_eq "" "$bad" "every printed URL answers 200, the quota POST 201"
    assert_eq 0 "$(grep -c '✖' "$TMP/prism.log")" \
        "the printed requests, through Prism's proxy: no violation, no error $(grep '✖' "$TMP/prism.log" | head -5)"
    send=$(grep '| kcat -P ' "$TMP/qs2.out")
    offsets() { psql "$TALLY_DB" -XAtc "SELECT coalesce(sum(next_offset), 0) FROM ingest_offsets"; }
    before=$(offsets)
    eval "$send" && eval "$send"
    assert_eq 0 $? "the printed kcat line sends (twice)"
    consumed_both() { [ "$(offsets)" -ge $((before + 2)) ]; }
    wait_for 60 consumed_both || assert_eq $((before + 2)) "$(offsets)" "tally-ingest consumes both messages"
    assert_eq "1|1200|300|5000|claude-sonnet-5-5" "$(psql "$TALLY_DB" -XAtc "SELECT count(*), min(input_tokens), min(output_tokens), min(cache_read_tokens), min(model) FROM usage_events WHERE request_id = 'my-first-request'")" \
        "the printed event, sent twice, is stored once with its tokens"
    kill -TERM $qpid
    wait $qpid
    assert_eq 0 $? "SIGTERM: the quick start exits 0"
    assert_eq "" "$(grep 'exited with status' "$TMP/qs2.out")" "SIGTERM: both daemons stopped with status 0"
    left=""
    for port in $(ports_of "$TMP/qs2.out"); do closed "$port" || left+=" $port"; done
    assert_eq "" "$left" "SIGTERM: PostgreSQL, the broker, tally-report and tally-ingest closed their ports"
    assert_eq no "$([ -e "$DIR2" ] && echo yes || echo no)" "SIGTERM: its files are removed"
else
    assert_eq ready "not ready" "the interactive quick start gets to its prompt"
    tail -20 "$TMP/qs2.out"
fi
finish
