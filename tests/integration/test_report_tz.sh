#!/usr/bin/env bash
# Month and day boundaries in the request's IANA zone: for UTC, America/New_York (March
# holds the switch to daylight time), Asia/Kolkata (+05:30) and Asia/Kathmandu (+05:45),
# events one minute before and at each local month boundary land in the right month,
# in /v1/reports/monthly and in /v1/costs grouped by month and by day.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
"$BIN/ctl/tallyctl" --db "$DB" prices load "$SRC/tests/fixtures/reports/book-a.json" >/dev/null

# zone prefix, then the UTC instants of local 2026-03-01 00:00 and 2026-04-01 00:00
ZONES="UTC utc 2026-03-01T00:00:00Z 2026-04-01T00:00:00Z
America/New_York ny 2026-03-01T05:00:00Z 2026-04-01T04:00:00Z
Asia/Kolkata kol 2026-02-28T18:30:00Z 2026-03-31T18:30:00Z
Asia/Kathmandu ktm 2026-02-28T18:15:00Z 2026-03-31T18:15:00Z"
n=0
ev() { # ev OID UTC-INSTANT
    n=$((n + 1))
    echo "('tz-$n', '$2', 1, '$1', 'claude-sonnet-4-6', 'sonnet', 1000, 0)"
}
values=()
while read -r zone p start end; do
    values+=("$(ev "$p-feb" "$(date -u -d "$start - 1 minute" +%FT%TZ)")")
    values+=("$(ev "$p-mar-first" "$start")")
    values+=("$(ev "$p-mar-last" "$(date -u -d "$end - 1 minute" +%FT%TZ)")")
    values+=("$(ev "$p-apr" "$end")")
done <<<"$ZONES"
# New York's short day 2026-03-08 (02:00 EST -> 03:00 EDT) and the day after
values+=("$(ev ny-dst-a 2026-03-08T06:59:00Z)" "$(ev ny-dst-b 2026-03-08T07:00:00Z)")
values+=("$(ev ny-dst-c 2026-03-09T03:59:00Z)" "$(ev ny-dst-d 2026-03-09T04:00:00Z)")
sql "INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model, deployment,
                               input_tokens, output_tokens)
     VALUES $(IFS=,; echo "${values[*]}")" >/dev/null
seed_rollups
report_start
FIN=$(report_token finance fin)

devs() { # devs PREFIX: the sorted developer oids of the JSON rows with that prefix
    json "' '.join(sorted(set(r['developer_oid'] for r in j['rows'] if r['developer_oid'].startswith('$1-') and 'dst' not in r['developer_oid'])))"
}
while read -r zone p start end; do
    tz=${zone//\//%2F}
    GET "/v1/reports/monthly?month=2026-03&tz=$tz" "$FIN" >/dev/null
    assert_eq "200 $p-mar-first $p-mar-last" "$STATUS $(devs "$p")" "$zone: March holds the minute after its start and the minute before its end"
    assert_eq "$zone" "$(json "j['rows'][0]['tz']")" "$zone: the report names its zone"
    GET "/v1/reports/monthly?month=2026-02&tz=$tz" "$FIN" >/dev/null
    assert_eq "$p-feb" "$(devs "$p")" "$zone: the minute before March is in February"
    GET "/v1/reports/monthly?month=2026-04&tz=$tz" "$FIN" >/dev/null
    assert_eq "$p-apr" "$(devs "$p")" "$zone: the first minute of April is in April"
    GET "/v1/costs?from=2026-02-01&to=2026-05-01&tz=$tz&group_by=month,developer&format=csv" "$FIN" >"$TMP/c.csv"
    assert_eq "2026-02,$p-feb 2026-03,$p-mar-first 2026-03,$p-mar-last 2026-04,$p-apr" \
        "$(grep -E "^[0-9-]+,$p-(feb|mar|apr)" "$TMP/c.csv" | cut -d, -f1,2 | sort | tr '\n' ' ' | sed 's/ $//')" \
        "$zone: /v1/costs by month puts each event in its local month"
    GET "/v1/costs?from=2026-02-28&to=2026-03-02&tz=$tz&group_by=day,developer&format=csv" "$FIN" >"$TMP/d.csv"
    assert_eq "2026-02-28,$p-feb 2026-03-01,$p-mar-first" \
        "$(grep -E "^[0-9-]+,$p-(feb|mar)" "$TMP/d.csv" | cut -d, -f1,2 | sort | tr '\n' ' ' | sed 's/ $//')" \
        "$zone: /v1/costs by day splits at local midnight"
done <<<"$ZONES"

GET "/v1/costs?from=2026-03-08&to=2026-03-10&tz=America%2FNew_York&group_by=day,developer&format=csv" "$FIN" >"$TMP/dst.csv"
assert_eq "2026-03-08,ny-dst-a 2026-03-08,ny-dst-b 2026-03-08,ny-dst-c 2026-03-09,ny-dst-d" \
    "$(grep ',ny-dst' "$TMP/dst.csv" | cut -d, -f1,2 | sort | tr '\n' ' ' | sed 's/ $//')" \
    "America/New_York: the 23-hour day of the DST switch keeps its events"
GET "/v1/costs?from=2026-03-08&to=2026-03-09&tz=America%2FNew_York&group_by=" "$FIN" >/dev/null
assert_eq "2026-03-08T05:00:00Z 2026-03-09T04:00:00Z 3" "$(json "j['from'], j['to'], j['totals']['requests']")" \
    "America/New_York: 2026-03-08 is [05:00Z, 04:00Z) and holds three events"
GET "/v1/reports/monthly?month=2026-03&tz=Mars%2FOlympus" "$FIN" >/dev/null
assert_eq "400 tz" "$STATUS $(json "j['parameter']")" "an unknown zone is a 400 naming tz"
finish
