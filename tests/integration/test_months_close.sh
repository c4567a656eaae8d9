#!/usr/bin/env bash
# Month close (issue 12): the fixture month 2026-03 closed in UTC is served from its snapshot
# byte for byte after all three kinds of change — a late event, a developer moved with a
# valid_from inside the month, a newer book with other prices — and the next open month
# (2026-04) carries exactly the corrections (hand-computed below) in the chargeback and in
# FOCUS (ChargeClass Correction, March's charge period); closed + corrections = March
# recomputed today. Closing is refused inside the lateness window and with an ingest gap,
# allowed forced with a reason (recorded); reopen needs platform and a reason.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
CTL=$BIN/ctl/tallyctl
F=$SRC/tests/fixtures/reports
seed_fixture
report_start
FIN=$(report_token finance fin)
PLAT=$(report_token platform plat)
LEAD=$(report_token lead lead-blue --team blue)

# POST PATH TOKEN BODY: the body of a POST; status in $STATUS, headers in $TMP/h
POST() {
    STATUS=$(curl -s -o "$TMP/body" -D "$TMP/h" -w '%{http_code}' -H "Authorization: Bearer $2" \
        -H 'Content-Type: application/json' -X POST --data-binary "$3" "$URL$1")
    cat "$TMP/body"
}
header() { sed -n "s/^$1: \(.*\)\r$/\1/p" "$TMP/h"; }
sum_csv() { "$PY" - "$1" "$2" "${3:-}" "${4:-}" <<'PY'
import csv, sys
from decimal import Decimal
rows = [r for r in csv.DictReader(open(sys.argv[1], newline='')) if not sys.argv[3] or r[sys.argv[3]] == sys.argv[4]]
s = sum((Decimal(r[sys.argv[2]]) for r in rows if r[sys.argv[2]] != ''), Decimal(0))
print(format(s.normalize(), 'f') if s else '0')
PY
}

# --- refused inside the lateness window (tallyctl: exit 1, one line) ---
out=$("$CTL" --db "$DB" months close 2026-03 --tz UTC --close-lateness-h 8784 2>&1); rc=$?
assert_eq "1" "$rc" "close inside the lateness window: exit 1"
assert_eq "tallyctl: could not close 2026-03: 2026-03 UTC cannot be closed yet: events may still arrive until 2027-04-02T00:00:00Z (8784 h after the month's end in UTC, close_lateness_h) (force it with a reason to close anyway)" \
    "$out" "the refusal names the end of the window and the key"
"$CTL" --db "$DB" months close 2026-03 --tz UTC --force >/dev/null 2>"$TMP/err"; rc=$?
assert_eq "2 tallyctl: invalid value for \"reason\": a forced close needs a reason" "$rc $(cat "$TMP/err")" \
    "--force without --reason: exit 2 naming reason"
assert_eq "0" "$(sql "SELECT count(*) FROM month_closes")" "nothing stored by the refusals"

# --- close 2026-03 in UTC through the API, as finance ---
GET "/v1/reports/monthly?month=2026-03&format=csv" "$FIN" >"$TMP/m0.csv"
GET "/v1/exports/focus?month=2026-03" "$FIN" >"$TMP/f0.csv"
GET "/v1/reports/monthly?month=2026-03" "$FIN" >/dev/null
assert_eq "1.9095234" "$(json "j['totals']['cost_usd']")" "March before the close: 1.9095234 (fixture-a)"
POST /v1/months/2026-03/close "$FIN" '{"tz":"UTC"}' >/dev/null
assert_eq "201 2026-03 UTC closed fin fixture-a true" \
    "$STATUS $(json "j['month'], j['tz'], j['state'], j['closed_by'], j['price_book'], j['complete']")" \
    "POST close: 201, closed by the token's principal with the newest book"
CSV_SHA=$(json "j['csv_sha256']")
JSON_SHA=$(json "j['json_sha256']")
FOCUS_SHA=$(json "j['focus_sha256']")
assert_eq "$(sha256sum <"$TMP/m0.csv" | cut -d' ' -f1)" "$CSV_SHA" "the stored CSV is the chargeback as served before the close"
assert_eq "$(sha256sum <"$TMP/f0.csv" | cut -d' ' -f1)" "$FOCUS_SHA" "the stored FOCUS export is the one served before the close"
POST /v1/months/2026-03/close "$FIN" '{"tz":"UTC"}' >/dev/null
assert_eq "409 2026-03 is closed in UTC already (reopen it first)" "$STATUS $(json "j['detail']")" "a second close: 409"
POST /v1/months/2026-03/close "$FIN" '{"tz":"UTC","colour":"red"}' >/dev/null
assert_eq "400 colour" "$STATUS $(json "j['parameter']")" "unknown member: 400 naming it"
POST /v1/months/2026-03/close "$FIN" '{"tz":"Mars/Olympus"}' >/dev/null
assert_eq "400 tz" "$STATUS $(json "j['parameter']")" "unknown zone: 400 naming tz"
POST /v1/months/2026-03/close "$LEAD" '{"tz":"UTC"}' >/dev/null
assert_eq "403" "$STATUS" "a lead cannot close"

# --- all three kinds of change after the close ---
# a late event: carol, opus, 2026-03-20, 1000 in, 100 out
sql "INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model, deployment,
         input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
         cache_write_unsplit_tokens)
     VALUES ('r11', '2026-03-20T10:00:00Z', 1, 'oid-carol', 'claude-opus-4-6', 'opus', 1000, 100, 0, 0, 0, 0)"
seed_rollups
# alice moves to blue / CC-200 from 2026-03-06 (her opus request of 03-07 is blue's now)
printf 'oid,upn,display_name,team,cost_center,valid_from\noid-alice,alice@example.com,"Alice, A.",blue,CC-200,2026-03-06T00:00:00Z\n' >"$TMP/move.csv"
"$CTL" --db "$DB" developers import "$TMP/move.csv" >/dev/null
# a newer book with other prices (and no alias for sonnet-dated-alias: bob's request is unpriced)
"$CTL" --db "$DB" prices load "$F/book-b.json" >/dev/null

# --- the closed month is served from its snapshot ---
GET "/v1/reports/monthly?month=2026-03&format=csv" "$FIN" >"$TMP/m1.csv"
assert_eq "200" "$STATUS" "closed month CSV: 200"
if cmp -s "$TMP/m0.csv" "$TMP/m1.csv"; then same=identical; else same=different; fi
assert_eq identical "$same" "the closed month's CSV is byte for byte what was closed"
assert_match "^snapshot; closed-at=[0-9-]{10}T[0-9:]{8}Z; closed-by=fin; sha256=$CSV_SHA\$" "$(header Tally-Closed)" \
    "Tally-Closed: snapshot, when, by whom, the SHA-256 of the CSV"
assert_eq "true" "$(header Tally-Complete)" "Tally-Complete as when it was closed"
assert_match 'filename="tally-monthly-2026-03.csv"' "$(cat "$TMP/h")" "snapshot CSV attachment name"
GET "/v1/reports/monthly?month=2026-03&price_book=fixture-a&format=csv" "$FIN" >"$TMP/m1a.csv"
assert_eq "$CSV_SHA" "$(sha256sum <"$TMP/m1a.csv" | cut -d' ' -f1)" "price_book= the closed book: the snapshot too"
GET "/v1/reports/monthly?month=2026-03" "$FIN" >/dev/null
assert_eq "$JSON_SHA" "$(sha256sum <"$TMP/body" | cut -d' ' -f1)" "the JSON is the stored document (its SHA-256)"
assert_eq "True fin False None $CSV_SHA 1.9095234" \
    "$(json "j['closed']['snapshot'], j['closed']['by'], j['closed']['forced'], j['closed']['reason'], j['closed']['csv_sha256'], j['totals']['cost_usd']")" \
    "JSON: the closed object, the closed total"
assert_match "sha256=$JSON_SHA\$" "$(header Tally-Closed)" "Tally-Closed of the JSON names its SHA-256"

# HEAD on a snapshot: the headers of the GET (Date aside), Content-Length the body's size
heads() { # heads PATH: "same" when HEAD's headers are GET's
    curl -s -o /dev/null -D "$TMP/hg" -H "Authorization: Bearer $FIN" "$URL$1"
    curl -s -I -H "Authorization: Bearer $FIN" "$URL$1" >"$TMP/hh"
    if [ "$(grep -v '^Date:' "$TMP/hg")" == "$(grep -v '^Date:' "$TMP/hh")" ]; then echo same; else diff "$TMP/hg" "$TMP/hh"; fi
}
assert_eq same "$(heads "/v1/reports/monthly?month=2026-03&format=csv")" "HEAD on the CSV snapshot: the GET's headers"
assert_eq "Content-Length: $(wc -c <"$TMP/m0.csv")" "$(grep -i '^content-length:' "$TMP/hh" | tr -d '\r')" \
    "HEAD on the CSV snapshot: Content-Length the CSV's size"
assert_match "Tally-Closed: snapshot; .*sha256=$CSV_SHA" "$(cat "$TMP/hh")" "HEAD on the CSV snapshot: Tally-Closed"
assert_eq same "$(heads "/v1/reports/monthly?month=2026-03")" "HEAD on the JSON snapshot: the GET's headers"
assert_eq same "$(heads "/v1/exports/focus?month=2026-03")" "HEAD on the FOCUS snapshot: the GET's headers"

# --- recomputed figures are marked as not the closed ones ---
GET "/v1/reports/monthly?month=2026-03&price_book=fixture-b&format=csv" "$FIN" >"$TMP/mb.csv"
assert_match "^recomputed; not the closed figures \(another price book\); closed-tz=UTC; closed-at=" \
    "$(header Tally-Closed)" "price_book=fixture-b: recomputed, marked"
RECOMPUTED=$(sum_csv "$TMP/mb.csv" cost_usd)
assert_eq "2.6639782" "$RECOMPUTED" "March recomputed today (fixture-b, the late event): 2.6639782 (hand-computed)"
GET "/v1/reports/monthly?month=2026-03&tz=Europe/Berlin" "$FIN" >/dev/null
assert_eq "False closed in another zone UTC" "$(json "j['closed']['snapshot'], j['closed']['why'], j['closed']['tz']")" \
    "another zone: recomputed, the JSON says where it was closed"
GET "/v1/reports/monthly?month=2026-03" "$LEAD" >/dev/null
assert_eq "False scoped to a team or a developer" "$(json "j['closed']['snapshot'], j['closed']['why']")" \
    "a lead's scoped view is recomputed and says so"

# FOCUS of the closed month: its snapshot too, so that the closed month + April's Correction
# rows (below) = March recomputed, and late usage is never counted twice by a FOCUS reader
GET "/v1/exports/focus?month=2026-03" "$FIN" >"$TMP/f1.csv"
if cmp -s "$TMP/f0.csv" "$TMP/f1.csv"; then same=identical; else same=different; fi
assert_eq "200 identical" "$STATUS $same" "the closed month's FOCUS export is byte for byte what was closed"
assert_match "^snapshot; closed-at=[0-9-]{10}T[0-9:]{8}Z; closed-by=fin; sha256=$FOCUS_SHA\$" "$(header Tally-Closed)" \
    "FOCUS of the closed month: Tally-Closed snapshot with the SHA-256 of the export"
assert_match 'filename="tally-focus-2026-03.csv"' "$(cat "$TMP/h")" "snapshot FOCUS attachment name"
assert_eq "1.9095234" "$(sum_csv "$TMP/f1.csv" BilledCost)" "the closed FOCUS export sums to the closed chargeback"
GET "/v1/exports/focus?month=2026-03&price_book=fixture-b" "$FIN" >"$TMP/fb.csv"
assert_match "^recomputed; not the closed figures \(another price book\); closed-tz=UTC" \
    "$(header Tally-Closed)" "FOCUS with another book: recomputed, and says so"
assert_eq "2.6639782" "$(sum_csv "$TMP/fb.csv" BilledCost)" "March's FOCUS recomputed today = the chargeback recomputed"
GET "/v1/exports/focus?month=2026-03&layout=2" "$FIN" >/dev/null
assert_match "^recomputed; not the closed figures \(another layout\)" "$(header Tally-Closed)" "FOCUS layout=2: recomputed"

# --- the next open month carries exactly the corrections ---
# per million, fixture-b - fixture-a: sonnet in +1 out +1 5m +1.25 1h +2 read +0.1; opus in +2 out +10
#  alice red sonnet (r01, r02; before the move): 2234 + 2567 + 4000x1.25 + 8901x2 + 30000x0.1 = 0.030603
#  alice red opus (r03 is blue's now): -0.035033; alice blue opus: 333x7 + 777x35 + 111x0.7 + 2222x8.75 = 0.0490462
#  bob: priced claude-sonnet-4-6 -0.0007764; unpriced under its own name (fixture-b has no alias)
#  carol opus: r05 100000x2 + 50000x10 = 0.7, late r11 1000x7 + 100x35 = 0.0105; carol sonnet 10 + 20 = 0.00003
#  erin (no team) 42 + 43 = 0.000085                             total 0.7544548
GET "/v1/reports/monthly?month=2026-04&format=csv" "$FIN" >"$TMP/apr.csv"
assert_eq "200" "$STATUS" "April CSV: 200"
assert_eq "month,tz,developer_oid,developer_upn,team,cost_center,model,requests,input_tokens,cache_write_5m_tokens,cache_write_1h_tokens,cache_read_tokens,output_tokens,cost_usd,priced,price_book,price_book_sha256,unit_price_input,unit_price_output,unit_price_cache_write_5m,unit_price_cache_write_1h,unit_price_cache_read,long_context_requests,cache_write_unsplit_tokens,display_name,tier_requests,tier_cost_usd,fast_requests,fast_cost_usd,residency_requests,residency_cost_usd,corrects_month" \
    "$(head -1 "$TMP/apr.csv" | tr -d '\r')" "layout 3 (the default): layout 2's columns, then corrects_month"
cols() { "$PY" - "$1" "$2" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline='')):
    print(','.join(r[c] for c in sys.argv[2].split(',')))
PY
}
assert_eq "oid-alice,blue,CC-200,claude-sonnet-4-6,1,888888,0,0,1,3.555568,true,
oid-alice,blue,CC-200,claude-opus-4-6,1,333,2222,111,777,0.0490462,true,2026-03
oid-alice,red,CC-100,claude-opus-4-6,-1,-333,-2222,-111,-777,-0.035033,true,2026-03
oid-alice,red,CC-100,claude-sonnet-4-6,0,0,0,0,0,0.030603,true,2026-03
oid-bob,red,CC-100,claude-sonnet-4-6,-1,-17,-66,-23,-19,-0.0007764,true,2026-03
oid-bob,red,CC-100,sonnet-dated-alias,1,17,66,23,19,,false,2026-03
oid-carol,blue,CC-200,claude-opus-4-6,1,1000,0,0,100,0.7105,true,2026-03
oid-carol,blue,CC-200,claude-sonnet-4-6,0,0,0,0,0,0.00003,true,2026-03
oid-erin,,,claude-sonnet-4-6,0,0,0,0,0,0.000085,true,2026-03" \
    "$(cols "$TMP/apr.csv" developer_oid,team,cost_center,model,requests,input_tokens,cache_write_5m_tokens,cache_read_tokens,output_tokens,cost_usd,priced,corrects_month)" \
    "April: its own row (alice is blue now), then exactly the corrections of March, marked 2026-03"
CORR=$(sum_csv "$TMP/apr.csv" cost_usd corrects_month 2026-03)
assert_eq "0.7544548" "$CORR" "the corrections sum to 0.7544548 (hand-computed)"
assert_eq "2.6639782" "$("$PY" -c "from decimal import Decimal as D; print(D('1.9095234') + D('$CORR'))")" \
    "closed (1.9095234) + corrections = March recomputed today, to the micro-dollar"
GET "/v1/reports/monthly?month=2026-04" "$FIN" >/dev/null
assert_eq "4.3100228 9" "$(json "j['totals']['cost_usd'], j['totals']['rows']")" \
    "April JSON total = its own 3.555568 + the corrections 0.7544548 (totals = sum of the rows)"
GET "/v1/reports/monthly?month=2026-04&format=csv&layout=2" "$FIN" >"$TMP/apr2.csv"
assert_eq "1" "$(($(wc -l <"$TMP/apr2.csv") - 1))" "layout=2: the rows of before issue 12, no corrections"
GET "/v1/reports/monthly?month=2026-04&format=csv" "$LEAD" >"$TMP/aprl.csv"
assert_eq "oid-alice,blue,
oid-alice,blue,2026-03
oid-carol,blue,2026-03
oid-carol,blue,2026-03" "$(cols "$TMP/aprl.csv" developer_oid,team,corrects_month)" "a lead sees its team's corrections only"
GET "/v1/reports/monthly?month=2026-04&tz=Europe/Berlin&format=csv" "$FIN" >"$TMP/aprb.csv"
assert_eq "0" "$(grep -c ',2026-03'$'\r''$' "$TMP/aprb.csv")" "another zone's April carries no correction (March is closed in UTC)"

# --- FOCUS: ChargeClass Correction, dated to March ---
GET "/v1/exports/focus?month=2026-04" "$FIN" >"$TMP/f.csv"
assert_eq "200" "$STATUS" "FOCUS April: 200"
fcols() { "$PY" - "$1" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline='')):
    print(','.join([r['ChargeClass'], r['ChargePeriodStart'], r['ChargePeriodEnd'], r['BillingPeriodStart'],
                    r['x_DeveloperOid'], r['x_Team'], r['SkuId'], r['ConsumedQuantity'], r['BilledCost']]))
PY
}
assert_eq ",2026-04-01T00:00:00Z,2026-04-02T00:00:00Z,2026-04-01T00:00:00Z,oid-alice,blue,claude-sonnet-4-6/input,888888,3.555552
,2026-04-01T00:00:00Z,2026-04-02T00:00:00Z,2026-04-01T00:00:00Z,oid-alice,blue,claude-sonnet-4-6/output,1,0.000016
Correction,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,2026-04-01T00:00:00Z,oid-alice,blue,claude-opus-4-6/input,333,0.002331
Correction,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,2026-04-01T00:00:00Z,oid-alice,blue,claude-opus-4-6/output,777,0.027195
Correction,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,2026-04-01T00:00:00Z,oid-alice,blue,claude-opus-4-6/cache_write_unsplit,2222,0.0194425
Correction,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,2026-04-01T00:00:00Z,oid-alice,blue,claude-opus-4-6/cache_read,111,0.0000777" \
    "$(fcols "$TMP/f.csv" >"$TMP/fc"; head -6 "$TMP/fc")" "FOCUS: April's rows (ChargeClass empty), then corrections with March's charge period"
assert_eq "0.7544548" "$(sum_csv "$TMP/f.csv" BilledCost ChargeClass Correction)" \
    "FOCUS corrections sum to the chargeback's corrections"
assert_eq "2.6639782 = 2.6639782" "$("$PY" - "$TMP/f1.csv" "$TMP/f.csv" "$TMP/fb.csv" <<'PY'
import csv, sys
from decimal import Decimal
from collections import defaultdict
def sums(p, keep=lambda r: True):
    s = defaultdict(Decimal)
    for r in csv.DictReader(open(p, newline='')):
        if keep(r):
            s[r['x_DeveloperOid']] += Decimal(r['BilledCost'])
    return s
closed, now = sums(sys.argv[1]), sums(sys.argv[3])
corr = sums(sys.argv[2], lambda r: r['ChargeClass'] == 'Correction' and r['ChargePeriodStart'] == '2026-03-01T00:00:00Z')
devs = sorted(set(closed) | set(corr) | set(now))
bad = [d for d in devs if closed[d] + corr[d] != now[d]]
t = lambda d: format(d.normalize(), 'f')
print(t(sum(closed.values()) + sum(corr.values())), '=', t(sum(now.values())), *bad)
PY
)" "FOCUS: the closed March + April's Correction rows for March = March recomputed, exactly (and per developer)"
assert_eq "25" "$(grep -c '^[^,]*,[^,]*,[^,]*,[^,]*,[^,]*,[^,]*,[^,]*,Correction,' "$TMP/f.csv")" \
    "25 correction rows: one per developer x team x model x token class that changed (4+4+5+6+2+2+2)"

# --- months list / show ---
"$CTL" --db "$DB" months list | cut -f1-8 >"$TMP/list"
assert_eq "month	tz	state	closed_at	closed_by	forced	reason	price_book
2026-03	UTC	closed	$(sql "SELECT to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM month_closes")	fin	f		fixture-a" \
    "$(cat "$TMP/list")" "months list"
"$CTL" --db "$DB" months show 2026-03 >"$TMP/body"
assert_eq "close fin 2026-04 0.7544548" \
    "$(json "j['audit'][0]['action'], j['audit'][0]['by'], j['pending_corrections'][0]['carried_by'], j['pending_corrections'][0]['cost_usd']")" \
    "months show: the audit and the corrections pending (carried by April)"

# --- an ingest gap refuses the close; forced with a reason it is recorded ---
sql "INSERT INTO ingest_gaps (consumer_group, topic, partition, first_offset, last_offset, last_event_before, first_event_after)
     VALUES ('tally-ingest', 'usage', 0, 10, 14, '2026-02-10T00:00:00Z', '2026-02-11T00:00:00Z')"
POST /v1/months/2026-02/close "$FIN" '{"tz":"Asia/Kolkata"}' >/dev/null
assert_eq "409 2026-02 Asia/Kolkata cannot be closed yet: the month has 1 ingest gap(s) (5 messages lost) (force it with a reason to close anyway)" \
    "$STATUS $(json "j['detail']")" "a gap: 409 naming it"
POST /v1/months/2026-02/close "$FIN" '{"tz":"Asia/Kolkata","force":true}' >/dev/null
assert_eq "400 reason" "$STATUS $(json "j['parameter']")" "force without a reason: 400 naming reason"
POST /v1/months/2026-02/close "$FIN" '{"tz":"Asia/Kolkata","force":true,"reason":"hub retention loss accepted by finance"}' >/dev/null
assert_eq "201 false; gaps=1; lost_messages=5" "$STATUS $(json "j['complete']")" "forced with a reason: 201, incomplete"
assert_eq "close|t|hub retention loss accepted by finance|fin" \
    "$(sql "SELECT a.action, a.forced, a.reason, a.by_principal FROM month_close_audit a JOIN month_closes c ON c.id = a.close_id WHERE c.month = '2026-02'")" \
    "the forced close and its reason are in the audit"
GET "/v1/reports/monthly?month=2026-02&tz=Asia/Kolkata" "$FIN" >/dev/null
assert_eq "false; gaps=1; lost_messages=5 True hub retention loss accepted by finance False" \
    "$(header Tally-Complete) $(json "j['closed']['forced'], j['closed']['reason'], j['complete']")" \
    "the snapshot says it was forced, why, and that the month is incomplete"

# --- reopen: platform only, with a reason ---
POST /v1/months/2026-02/reopen "$FIN" '{"tz":"Asia/Kolkata","reason":"x"}' >/dev/null
assert_eq "403" "$STATUS" "finance cannot reopen: 403"
POST /v1/months/2026-02/reopen "$PLAT" '{"tz":"Asia/Kolkata"}' >/dev/null
assert_eq "400 reason" "$STATUS $(json "j['parameter']")" "reopen without a reason: 400"
POST /v1/months/2026-02/reopen "$PLAT" '{"tz":"Asia/Kolkata","reason":"gap recovered from the archive"}' >/dev/null
assert_eq "200 reopened" "$STATUS $(json "j['state']")" "platform reopens: 200"
POST /v1/months/2026-02/reopen "$PLAT" '{"tz":"Asia/Kolkata","reason":"again"}' >/dev/null
assert_eq "404" "$STATUS" "reopening a month not closed: 404"
assert_eq "close|fin|hub retention loss accepted by finance
reopen|plat|gap recovered from the archive" \
    "$(sql "SELECT a.action, a.by_principal, a.reason FROM month_close_audit a JOIN month_closes c ON c.id = a.close_id WHERE c.month = '2026-02' ORDER BY a.id")" \
    "the audit holds the close and the reopen"
GET "/v1/reports/monthly?month=2026-02&tz=Asia/Kolkata" "$FIN" >/dev/null
assert_eq "" "$(header Tally-Closed)" "a reopened month is recomputed again, unmarked"

# --- a chain: April closed (with March's corrections frozen in it), then May carries the rest ---
"$CTL" --db "$DB" months close 2026-04 --tz UTC >"$TMP/out"; rc=$?
assert_eq "0 closed 2026-04 in UTC with price book fixture-b by tallyctl:postgres" "$rc $(head -1 "$TMP/out" | sed 's/ at .*//')" \
    "tallyctl months close: exit 0, recorded as tallyctl and the database user"
assert_eq "0.7544548" "$(sql "SELECT tally_money_text(sum(cost_usd)) FROM month_close_lines l JOIN month_closes c ON c.id = l.close_id WHERE c.month = '2026-04' AND l.month = '2026-03'")" \
    "April's close froze the corrections of March it carried"
"$CTL" --db "$DB" months reopen 2026-03 --tz UTC >/dev/null 2>"$TMP/err"; rc=$?
assert_eq "2 tallyctl: invalid value for \"reason\": a reopen needs a reason" "$rc $(cat "$TMP/err")" "tallyctl reopen needs --reason"
"$CTL" --db "$DB" months reopen 2026-03 --tz UTC --reason "late fix" >/dev/null 2>"$TMP/err"; rc=$?
assert_eq "1 tallyctl: could not reopen 2026-03: 2026-04 in UTC carries corrections of 2026-03: reopen 2026-04 first" \
    "$rc $(cat "$TMP/err")" "March cannot be reopened under April's close"
GET "/v1/reports/monthly?month=2026-05&format=csv" "$FIN" >"$TMP/may.csv"
assert_eq "1" "$(wc -l <"$TMP/may.csv")" "May: nothing changed since April's close, no correction"
# another late March event: erin, sonnet, 1000 in (fixture-b: 0.004)
sql "INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model, deployment,
         input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
         cache_write_unsplit_tokens)
     VALUES ('r12', '2026-03-30T10:00:00Z', 1, 'oid-erin', 'claude-sonnet-4-6', 'sonnet', 1000, 0, 0, 0, 0, 0)"
seed_rollups
GET "/v1/reports/monthly?month=2026-05&format=csv" "$FIN" >"$TMP/may.csv"
assert_eq "oid-erin,claude-sonnet-4-6,1,1000,0.004,2026-03" \
    "$(cols "$TMP/may.csv" developer_oid,model,requests,input_tokens,cost_usd,corrects_month)" \
    "May carries only what changed in March since April's close"
GET "/v1/reports/monthly?month=2026-03&format=csv" "$FIN" >"$TMP/m2.csv"
if cmp -s "$TMP/m0.csv" "$TMP/m2.csv"; then same=identical; else same=different; fi
assert_eq identical "$same" "March's CSV still byte for byte the closed one"

# --- zones: stored by their pg_timezone_names name; one close per set of hours ---
POST /v1/months/2025-11/close "$FIN" '{"tz":"europe/paris"}' >/dev/null
assert_eq "201 Europe/Paris" "$STATUS $(json "j['tz']")" "close in europe/paris: stored as Europe/Paris"
POST /v1/months/2025-11/close "$FIN" '{"tz":"EUROPE/PARIS"}' >/dev/null
assert_eq "409 2025-11 is closed in Europe/Paris already (reopen it first)" "$STATUS $(json "j['detail']")" \
    "the same zone in other letters: 409"
GET "/v1/reports/monthly?month=2025-11&tz=Europe/Paris&format=csv" "$FIN" >/dev/null
assert_match "^snapshot; " "$(header Tally-Closed)" "GET tz=Europe/Paris finds the close made as europe/paris"
"$CTL" --db "$DB" months close 2025-12 --tz Etc/UTC >/dev/null; rc=$?
assert_eq "0" "$rc" "tallyctl close 2025-12 --tz Etc/UTC"
POST /v1/months/2025-12/close "$FIN" '{"tz":"UTC"}' >/dev/null
assert_eq "409 2025-12 is closed in Etc/UTC already, whose month has the same hours as in UTC (reopen it first)" \
    "$STATUS $(json "j['detail']")" "UTC after Etc/UTC: 409, the same hours are frozen once"
"$CTL" --db "$DB" months close 2025-12 --tz utc >/dev/null 2>"$TMP/err"; rc=$?
assert_eq "1 tallyctl: could not close 2025-12: 2025-12 is closed in Etc/UTC already, whose month has the same hours as in UTC (reopen it first)" \
    "$rc $(cat "$TMP/err")" "tallyctl --tz utc: exit 1, the same hours"
assert_eq "Etc/UTC" "$(sql "SELECT string_agg(tz, ',') FROM month_closes WHERE month = '2025-12'")" "one close of 2025-12"
"$CTL" --db "$DB" months close 2025-12 --tz UTC+5 >/dev/null 2>"$TMP/err"; rc=$?
assert_eq "2 tallyctl: invalid value for \"tz\": unknown time zone \"UTC+5\": a month is closed in a zone named as in pg_timezone_names (an IANA name such as Europe/Berlin)" \
    "$rc $(cat "$TMP/err")" "a POSIX zone spec (UTC+5 is UTC-5): exit 2 naming tz"
POST /v1/months/2025-12/close "$FIN" '{"tz":"UTC+5"}' >/dev/null
assert_eq "400 tz" "$STATUS $(json "j['parameter']")" "POSIX zone spec over the API: 400 naming tz"
POST /v1/months/2025-12/close "$FIN" '{"tz":"PST"}' >/dev/null
assert_eq "400 tz" "$STATUS $(json "j['parameter']")" "an abbreviation: 400 naming tz"
POST /v1/months/2025-11/reopen "$PLAT" '{"tz":"europe/PARIS","reason":"zone test"}' >/dev/null
assert_eq "200 Europe/Paris reopened" "$STATUS $(json "j['tz'], j['state']")" "reopen matches the zone in any letters"
# a close stored before 0016 under a POSIX spec can still be reopened by that spelling
sql "INSERT INTO month_closes (month, tz, book_id, closed_by, complete, csv, csv_sha256, json, json_sha256)
     SELECT '2025-06', 'UTC+5', id, 'legacy', 'true', '\\x00', '', '\\x00', '' FROM price_books WHERE name = 'fixture-a'"
"$CTL" --db "$DB" months reopen 2025-06 --tz UTC+5 --reason "legacy zone" >"$TMP/out" 2>&1; rc=$?
assert_eq "0 reopened 2025-06 in UTC+5 (closed at" "$rc $(sed 's/ at .*/ at/' "$TMP/out")" "a legacy POSIX-zone close can be reopened"

# --- two closes of one month at once: exactly one 201, the other 409 (serialised) ---
pids=()
for i in 1 2; do
    curl -s -o "$TMP/cc$i" -w '%{http_code}' -H "Authorization: Bearer $FIN" -H 'Content-Type: application/json' \
        -X POST --data-binary '{"tz":"UTC"}' "$URL/v1/months/2025-10/close" >"$TMP/cs$i" &
    pids+=($!)
done
wait "${pids[@]}"
assert_eq "201 409" "$(cat "$TMP/cs1" "$TMP/cs2" | fold -w3 | sort | paste -sd' ')" "concurrent closes: one 201, one 409"
assert_eq "1 2025-10 is closed in UTC already (reopen it first)" \
    "$(sql "SELECT count(*) FROM month_closes WHERE month = '2025-10'") $("$PY" -c "import json,sys; print(*[json.load(open(f)).get('detail', '') for f in sys.argv[1:]], sep='')" "$TMP/cc1" "$TMP/cc2")" \
    "one close stored; the loser saw it (the close lock serialises them)"

# --- a snapshot larger than a slice streams whole, in order; HEAD and cut clients free their statement ---
sql "INSERT INTO month_closes (month, tz, book_id, closed_by, complete, csv, csv_sha256, json, json_sha256, focus, focus_sha256)
     SELECT '2025-07', 'UTC', b.id, 'big', 'true', x.v, encode(sha256(x.v), 'hex'), x.v, encode(sha256(x.v), 'hex'),
            x.v, encode(sha256(x.v), 'hex')
       FROM price_books b,
            (SELECT convert_to(string_agg(md5(i::text) || E'\n', '' ORDER BY i), 'UTF8') AS v FROM generate_series(1, 10000) i) x
      WHERE b.name = 'fixture-a'"
BIG_SHA=$(sql "SELECT csv_sha256 FROM month_closes WHERE month = '2025-07'")
GET "/v1/reports/monthly?month=2025-07&format=csv" "$FIN" >/dev/null
assert_eq "200 330000 $BIG_SHA" "$STATUS $(wc -c <"$TMP/body") $(sha256sum <"$TMP/body" | cut -d' ' -f1)" \
    "a 330000-byte snapshot (6 slices) is served whole, byte for byte"
for i in 1 2 3; do
    curl -s -I -H "Authorization: Bearer $FIN" "$URL/v1/exports/focus?month=2025-07" >"$TMP/hh"
    curl -s -H "Authorization: Bearer $FIN" "$URL/v1/reports/monthly?month=2025-07&format=csv" | head -c 100 >/dev/null
done
assert_eq "Content-Length: 330000" "$(grep -i '^content-length:' "$TMP/hh" | tr -d '\r')" "HEAD on the large FOCUS snapshot"
GET "/v1/exports/focus?month=2025-07" "$FIN" >/dev/null
assert_eq "200 $BIG_SHA" "$STATUS $(sha256sum <"$TMP/body" | cut -d' ' -f1)" "after HEADs and cut clients, the next reads are whole"
GET "/v1/reports/monthly?month=2026-03&format=csv" "$FIN" >"$TMP/m3.csv"
if cmp -s "$TMP/m0.csv" "$TMP/m3.csv"; then same=identical; else same=different; fi
assert_eq "200 identical" "$STATUS $same" "and the other snapshots too"

# --- migration 0016 stores the zones of earlier closes by their pg_timezone_names name ---
sql "INSERT INTO month_closes (month, tz, book_id, closed_by, complete, csv, csv_sha256, json, json_sha256, reopened_at, reopened_by)
     SELECT v.month, v.tz, b.id, 'legacy', 'true', '\\x00', '', '\\x00', '', v.r, CASE WHEN v.r IS NOT NULL THEN 'p' END
       FROM price_books b, (VALUES ('2025-09', 'asia/tokyo', NULL::timestamptz), ('2025-08', 'america/new_york', NULL),
                                   ('2025-08', 'America/New_York', NULL), ('2025-08', 'AMERICA/NEW_YORK', now())) v(month, tz, r)
      WHERE b.name = 'fixture-a'"
# 0016 itself, run again by psql on a month_closes as it was before it (a later migration
# would keep tallyctl migrate from re-applying 0016 alone)
sql "ALTER TABLE month_closes DROP COLUMN focus, DROP COLUMN focus_sha256"
psql "$DB" -XqAt -v ON_ERROR_STOP=1 -1 -f "$SRC/schema/migrations/0016_month_close_focus.sql" >/dev/null 2>"$TMP/err"; rc=$?
assert_eq "0" "$rc" "0016 applies to the closes of before it $(head -3 "$TMP/err")"
assert_eq "2025-08|America/New_York|f
2025-08|America/New_York|t
2025-08|america/new_york|t
2025-09|Asia/Tokyo|t" \
    "$(sql "SELECT month, tz, reopened_at IS NULL FROM month_closes WHERE closed_by = 'legacy' AND month IN ('2025-08', '2025-09') ORDER BY month, tz COLLATE \"C\", reopened_at IS NULL")" \
    "0016: zones renamed, except where two closes in force would fall on one zone (left for a person)"

finish
