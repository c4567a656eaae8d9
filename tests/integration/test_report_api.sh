#!/usr/bin/env bash
# tally-report's reports: the golden monthly CSV (exact bytes), reproduced byte for byte
# with price_book= after a newer book is loaded, CSV sums equal to JSON totals exactly,
# FOCUS columns, a stream cut by a database failure that does not look complete,
# 503 while the database is down, and a graceful stop that finishes in-flight requests.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
CTL=$BIN/ctl/tallyctl
F=$SRC/tests/fixtures/reports
seed_fixture
report_start
FIN=$(report_token finance fin)

# the golden monthly CSV: layout=1 (the columns of before issue 10) gives it byte for byte
GET "/v1/reports/monthly?month=2026-03&tz=UTC&format=csv&price_book=fixture-a&layout=1" "$FIN" >"$TMP/m1.csv"
# TALLY_WRITE_GOLDEN=1 rewrites the golden file (review the diff before committing it)
[ "${TALLY_WRITE_GOLDEN:-}" = 1 ] && cp "$TMP/m1.csv" "$F/monthly-2026-03-utc.csv"
assert_eq 200 "$STATUS" "monthly CSV: 200"
assert_eq "$(sha256sum <"$F/monthly-2026-03-utc.csv")" "$(sha256sum <"$TMP/m1.csv")" \
    "monthly CSV layout=1 equals tests/fixtures/reports/monthly-2026-03-utc.csv byte for byte"
cmp "$F/monthly-2026-03-utc.csv" "$TMP/m1.csv" || diff "$F/monthly-2026-03-utc.csv" "$TMP/m1.csv" | head -20
assert_match 'Content-Type: text/csv; charset=utf-8' "$(cat "$TMP/h")" "CSV content type"
assert_match 'filename="tally-monthly-2026-03.csv"' "$(cat "$TMP/h")" "CSV attachment name"
assert_eq "month,tz,developer_oid,developer_upn,team,cost_center,model,requests,input_tokens,cache_write_5m_tokens,cache_write_1h_tokens,cache_read_tokens,output_tokens,cost_usd,priced,price_book,price_book_sha256" \
    "$(head -1 "$TMP/m1.csv" | cut -d, -f1-17)" "chargeback columns (docs/architecture.md, \"Chargeback CSV\"), in order"
assert_eq "$(wc -l <"$TMP/m1.csv")" "$(grep -c $'\r$' "$TMP/m1.csv")" "every line ends in CRLF"
GET "/v1/reports/monthly?month=2026-03&layout=1" "$FIN" -H 'Accept: text/csv' >"$TMP/m1b.csv"
assert_eq "$(sha256sum <"$TMP/m1.csv")" "$(sha256sum <"$TMP/m1b.csv")" "Accept: text/csv gives the same CSV"
# layout 2: the same rows with six columns appended; a v1 book bills nothing
# at a tier other than its long-context one, nothing fast, no residency
GET "/v1/reports/monthly?month=2026-03&format=csv&layout=2" "$FIN" >"$TMP/m1d.csv"
assert_eq "200 $(head -1 "$TMP/m1.csv" | tr -d '\r'),tier_requests,tier_cost_usd,fast_requests,fast_cost_usd,residency_requests,residency_cost_usd" \
    "$STATUS $(head -1 "$TMP/m1d.csv" | tr -d '\r')" "layout 2: the chargeback columns, then the six of issue 10"
assert_eq "ok" "$("$PY" - "$TMP/m1.csv" "$TMP/m1d.csv" <<'PY'
import csv, sys
old = list(csv.reader(open(sys.argv[1], newline='')))
new = list(csv.reader(open(sys.argv[2], newline='')))
assert [r[:25] for r in new] == old, 'prefix'
tail = [r[25:] for r in new[1:]]
want = [['0', '0', '0', '0', '0', '0']] * 5 + [['0', '', '0', '', '0', '']] + [['0', '0', '0', '0', '0', '0']]
assert tail == want, tail
print('ok')
PY
)" "layout 2 rows: layout 1's, then 0 requests and cost 0 (empty when unpriced)"
# layout 3 (the default): layout 2 and corrects_month (empty: no month is closed)
GET "/v1/reports/monthly?month=2026-03&format=csv" "$FIN" >"$TMP/m1e.csv"
assert_eq "$(sed 's/\r$/,\r/' "$TMP/m1d.csv" | sed '1s/,\r$/,corrects_month\r/' | sha256sum)" "$(sha256sum <"$TMP/m1e.csv")" \
    "layout 3: layout 2's bytes with an empty corrects_month appended"
GET "/v1/reports/monthly?month=2026-03&layout=4" "$FIN" >/dev/null
assert_eq "400 layout application/problem+json" "$STATUS $(json "j['parameter']") $(sed -n 's/^Content-Type: \([^;\r]*\).*/\1/p' "$TMP/h")" \
    "layout=4: 400 problem naming layout"
GET "/v1/exports/focus?month=2026-03&layout=" "$FIN" >/dev/null
assert_eq "400 layout" "$STATUS $(json "j['parameter']")" "FOCUS layout= (empty): 400 naming layout"

# CSV sum = JSON total, exactly
csv_sum() { "$PY" - "$1" <<'PY'
import csv, sys
from decimal import Decimal
rows = list(csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8')))
s = sum((Decimal(r['cost_usd']) for r in rows if r['cost_usd'] != ''), Decimal(0))
print(format(s.normalize(), 'f') if s != 0 else '0')
PY
}
GET "/v1/reports/monthly?month=2026-03" "$FIN" >/dev/null
assert_eq 200 "$STATUS" "monthly JSON: 200"
assert_eq "1.9095234" "$(json "j['totals']['cost_usd']")" "JSON total (hand-computed: 0.035033 + 0.122613 + 0.0007764 + 1.75 + 0.00033 + 0.000771, unpriced excluded)"
assert_eq "$(csv_sum "$TMP/m1.csv")" "$(json "j['totals']['cost_usd']")" "sum of cost_usd over the CSV rows = JSON total"
assert_eq "1 7" "$(json "j['totals']['unpriced_rows'], j['totals']['rows']")" "one unpriced row of seven"
assert_eq "8 103136 54026" "$(json "j['totals']['requests'], j['totals']['input_tokens'], j['totals']['output_tokens']")" \
    "token totals are exact integer sums"
book_sha=$(sql "SELECT sha256 FROM price_books WHERE name = 'fixture-a'")
assert_eq "fixture-a $book_sha" "$(json "j['price_book']['name'], j['price_book']['sha256']")" "JSON names the book and its sha256"
assert_eq "str None" "$(json "type(j['rows'][0]['cost_usd']).__name__, [r for r in j['rows'] if not r['priced']][0]['cost_usd']")" \
    "money is a string in JSON; unpriced cost is null"

# costs agree with the monthly report
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=team,model&format=csv" "$FIN" >"$TMP/c.csv"
assert_eq 200 "$STATUS" "costs CSV: 200"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=team,model" "$FIN" >/dev/null
assert_eq "1.9095234" "$(json "j['totals']['cost_usd']")" "costs JSON total = monthly total"
assert_eq "$(csv_sum "$TMP/c.csv")" "$(json "j['totals']['cost_usd']")" "costs: CSV sum = JSON total"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=&developer=oid-alice" "$FIN" >/dev/null
assert_eq "0.157646 3" "$(json "j['totals']['cost_usd'], j['totals']['requests']")" "costs filtered to one developer, grand total"
GET "/v1/costs?from=2026-03-01T00:00:00Z&to=2026-03-05T12:45:00Z&group_by=day&model=claude-sonnet-4-6" "$FIN" >/dev/null
assert_eq "['2026-03-01', '2026-03-05'] 0.122613" "$(json "[r['day'] for r in j['rows']], j['totals']['cost_usd']")" \
    "RFC 3339 range on the 15-minute grid, grouped by day"

# a newer book: the default changes, the pinned report does not
"$CTL" --db "$DB" prices load "$F/book-b.json" >/dev/null
GET "/v1/reports/monthly?month=2026-03&format=csv" "$FIN" >"$TMP/m2.csv"
assert_match ',fixture-b,' "$(cat "$TMP/m2.csv")" "the newest book is used by default"
[ "$(sha256sum <"$TMP/m2.csv")" != "$(sha256sum <"$TMP/m1.csv")" ]
assert_eq 0 $? "the newer book gives other amounts"
GET "/v1/reports/monthly?month=2026-03&format=csv&price_book=fixture-a&layout=1" "$FIN" >"$TMP/m3.csv"
assert_eq "$(sha256sum <"$TMP/m1.csv")" "$(sha256sum <"$TMP/m3.csv")" "price_book=fixture-a reproduces the old CSV byte for byte"
GET "/v1/reports/monthly?month=2026-03" "$FIN" >/dev/null
assert_eq "$(csv_sum "$TMP/m2.csv")" "$(json "j['totals']['cost_usd']")" "newer book: CSV sum = JSON total"
GET "/v1/reports/monthly?month=2026-03&price_book=no-such-book" "$FIN" >/dev/null
assert_eq "400 price_book" "$STATUS $(json "j['parameter']")" "unknown price book: 400 naming price_book"

# FOCUS
GET "/v1/exports/focus?month=2026-03&price_book=fixture-a" "$FIN" >"$TMP/f.csv"
assert_eq 200 "$STATUS" "FOCUS: 200"
hdr=$(head -1 "$TMP/f.csv" | tr -d '\r')
for col in BilledCost BillingAccountId BillingCurrency BillingPeriodStart BillingPeriodEnd ChargeCategory \
           ChargePeriodStart ChargePeriodEnd EffectiveCost ListCost ServiceName ProviderName x_DeveloperOid; do
    assert_match "(^|,)$col(,|$)" "$hdr" "FOCUS column $col"
done
focus_sum=$("$PY" - "$TMP/f.csv" <<'PY'
import csv, sys
from decimal import Decimal
s = sum(Decimal(r['BilledCost']) for r in csv.DictReader(open(sys.argv[1], newline='')))
print(format(s.normalize(), 'f'))
PY
)
assert_eq "1.9095234" "$focus_sum" "FOCUS BilledCost sums to the priced total"
GET "/v1/exports/focus?month=2026-03&format=json" "$FIN" >/dev/null
assert_eq 400 "$STATUS" "FOCUS is CSV only"

# layout=1: the FOCUS CSV as tally-report wrote it before issue 10 (the golden file was made
# by 23fed19), byte for byte: a Berlin month takes r09 (28 Feb 23:59 UTC) and a long-context
# request of 28 Feb 23:30 UTC (fixture-a has no long-context rates: base rates, old naming)
sql "INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model, deployment,
         input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
         cache_write_unsplit_tokens, long_context)
     VALUES ('r11', '2026-02-28T23:30:00Z', 1, 'oid-bob', 'claude-sonnet-4-6', 'sonnet', 150000, 300, 60000, 0, 0, 0, true)" >/dev/null
seed_rollups
GET "/v1/exports/focus?month=2026-03&tz=Europe/Berlin&price_book=fixture-a&layout=1" "$FIN" >"$TMP/f1.csv"
[ "${TALLY_WRITE_GOLDEN:-}" = 1 ] && cp "$TMP/f1.csv" "$F/focus-2026-03-berlin-layout1.csv"
assert_eq 200 "$STATUS" "FOCUS layout 1: 200"
assert_eq "$(sha256sum <"$F/focus-2026-03-berlin-layout1.csv")" "$(sha256sum <"$TMP/f1.csv")" \
    "FOCUS layout=1 equals tests/fixtures/reports/focus-2026-03-berlin-layout1.csv byte for byte"
cmp "$F/focus-2026-03-berlin-layout1.csv" "$TMP/f1.csv" || diff "$F/focus-2026-03-berlin-layout1.csv" "$TMP/f1.csv" | head -20

# a database failure mid-stream must not look like a complete CSV
PLAT=$(report_token platform plat)
# 60,000 rows of ~700 bytes: more than the socket buffers hold, so the backend is still
# sending when it is terminated
sql "INSERT INTO developers (oid, upn, team, display_name)
     SELECT 'bulk-' || g, 'bulk' || g || '@example.com', 'bulk', repeat('x', 600)
       FROM generate_series(1, 60000) g" >/dev/null
( sleep 0.5; sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                   WHERE application_name = 'tally-report' AND datname = current_database()
                     AND state = 'active' AND backend_type = 'client backend' AND query LIKE '%FROM developers%'" >/dev/null ) &
killer=$!
curl -s -o "$TMP/cut.csv" --limit-rate 8M -H "Authorization: Bearer $PLAT" "$URL/v1/developers?format=csv"
rc=$?
wait "$killer"
assert_match '^(18|56)$' "$rc" "curl sees a cut transfer (exit 18/56), not a clean end"
lines=$(wc -l <"$TMP/cut.csv")
[ "$lines" -gt 1 ] && [ "$lines" -lt 60005 ]
assert_eq 0 $? "the cut CSV is partial ($lines lines)"
GET /readyz >/dev/null
assert_eq 200 "$STATUS" "the server reconnects after the cut"
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$REPORT_PID/status"; }
before=$(hwm)
GET "/v1/developers?format=csv" "$PLAT" >"$TMP/full.csv"
assert_eq "200 60005" "$STATUS $(wc -l <"$TMP/full.csv")" "the full listing streams (header + 60004 rows)"
GET "/v1/developers" "$PLAT" >/dev/null
assert_eq "200 60004" "$STATUS $(json "len(j['rows'])")" "and as JSON"
# ~42 MB went out twice; a server that buffered it would have grown by as much (the
# sanitizer build keeps freed memory in quarantine, so only the normal build is measured)
if ! ldd "$BIN/report/tally-report" | grep -q asan; then
    grown=$(( $(hwm) - before ))
    [ "$grown" -lt 16384 ]
    assert_eq 0 $? "memory stays bounded while streaming (peak RSS grew by ${grown} kB)"
fi
GET /metrics >"$TMP/metrics"
assert_match 'tally_http_stream_aborts_total 1' "$(cat "$TMP/metrics")" "the cut is counted in /metrics"
assert_match 'tally_http_requests_total\{route="/v1/reports/monthly",status="200"\}' "$(cat "$TMP/metrics")" "requests counted by route and status"
assert_match 'tally_unpriced_requests' "$(cat "$TMP/metrics")" "unpriced gauge exported"

# CSV injection: text a spreadsheet would run as a formula becomes a string constant that
# shows it (names and UPNs come from the roster and events); numbers and ordinary text are
# untouched. What a spreadsheet makes of it: test_csv_spreadsheet.sh
sql "UPDATE developers SET upn = '@bob', display_name = '=HYPERLINK(\"http://evil\",\"x\")',
     cost_center = '-CC' WHERE oid = 'oid-bob'" >/dev/null
GET "/v1/reports/monthly?month=2026-03&format=csv&layout=1" "$FIN" >"$TMP/inj.csv"
line=$(grep -a '^2026-03,UTC,oid-bob,' "$TMP/inj.csv" | tr -d '\r')
assert_eq '2026-03,UTC,oid-bob,"=""@bob""",red,"=""-CC""",sonnet-dated-alias,1,17,66,31,23,19,,false' \
    "$(cut -d, -f1-15 <<<"$line")" "formula-like UPN and cost centre are string constants, numbers untouched"
want=',"=""=HYPERLINK(""""http://evil"""",""""x"""")"""'
assert_eq "$want" "${line: -${#want}}" "a formula display name is a string constant"
GET "/v1/reports/monthly?month=2026-03" "$FIN" >/dev/null
assert_eq "@bob" "$(json "[r for r in j['rows'] if r['developer_oid'] == 'oid-bob'][0]['developer_upn']")" "JSON is untouched"

# graceful stop: an in-flight stream finishes, then the server exits 0
curl -s -o "$TMP/slow.csv" --limit-rate 20M -H "Authorization: Bearer $PLAT" "$URL/v1/developers?format=csv" &
cpid=$!
sleep 0.5
kill -TERM "$REPORT_PID"
wait "$cpid"
assert_eq "0 60005" "$? $(wc -l <"$TMP/slow.csv")" "SIGTERM: the in-flight CSV completes"
wait "$REPORT_PID"
assert_eq 0 $? "tally-report exits 0 after SIGTERM"
curl -s -o /dev/null "$URL/healthz"
assert_eq 7 $? "no longer listening"

# the database is down: /healthz lives, the rest is 503 problem+json
DB_REAL=$DB
DB="host=127.0.0.1 port=$(free_port) user=postgres dbname=nowhere connect_timeout=2"
report_start
GET /readyz >/dev/null
assert_eq "503 application/problem+json" "$STATUS $(sed -n 's/^Content-Type: \([^;\r]*\).*/\1/p' "$TMP/h")" "/readyz: 503 problem while the database is down"
GET "/v1/costs" "$FIN" >/dev/null
assert_eq 503 "$STATUS" "/v1/costs: 503 while the database is down"
GET /healthz >/dev/null
assert_eq 200 "$STATUS" "/healthz: 200 while the database is down"
DB=$DB_REAL

# a new connection whose session setup fails (here a set_config that shadows pg_catalog's
# raises) would run without statement_timeout: it is dropped and the request gets a 503
dbname=$(sql "SELECT current_database()")
sql "CREATE FUNCTION public.set_config(text, text, boolean) RETURNS text LANGUAGE plpgsql
     AS \$\$BEGIN RAISE EXCEPTION 'no session defaults'; END\$\$;
     ALTER DATABASE \"$dbname\" SET search_path = public, pg_catalog" >/dev/null
report_start
GET "/v1/costs?from=2026-03-01&to=2026-04-01" "$FIN" >/dev/null
assert_eq 503 "$STATUS" "session setup failed: 503, not served without a statement timeout"
assert_match 'set session defaults' "$(cat "$REPORT_LOG")" "the failed setup is logged"
sql "DROP FUNCTION public.set_config(text, text, boolean)" >/dev/null
GET "/v1/costs?from=2026-03-01&to=2026-04-01" "$FIN" >/dev/null
assert_eq 200 "$STATUS" "the next connection sets up and serves"
sql "ALTER DATABASE \"$dbname\" RESET search_path" >/dev/null
finish
