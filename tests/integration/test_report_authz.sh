#!/usr/bin/env bash
# tally-report's authorisation: every role × every endpoint gives the exact status
# (200/401/403), tokens are checked (unknown, revoked, malformed), probes follow
# metrics_auth, and rows are scoped in SQL: a lead sees only its team, a developer only
# itself, whatever filters they pass.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
seed_fixture
report_start
FIN=$(report_token finance fin)
LEAD=$(report_token lead lead-red --team red)
DEV=$(report_token developer dev-alice --developer oid-alice)
PLAT=$(report_token platform plat)
GONE=$(report_token finance gone)
"$BIN/ctl/tallyctl" --db "$DB" tokens revoke gone >/dev/null 2>&1
assert_match '^tt_[0-9a-f]{64}$' "$FIN" "token format"
assert_eq 0 "$(sql "SELECT count(*) FROM api_tokens WHERE token_sha256 = '$FIN'")" "the token itself is not stored"

# endpoint  none bad revoked finance lead developer platform
MATRIX="
/healthz                        200 200 200 200 200 200 200
/readyz                         200 200 200 200 200 200 200
/metrics                        200 200 200 200 200 200 200
/v1/costs                       401 401 401 200 200 200 200
/v1/reports/monthly?month=2026-03 401 401 401 200 200 200 200
/v1/exports/focus?month=2026-03 401 401 401 200 403 403 200
/v1/usage/unpriced              401 401 401 200 403 403 200
/v1/prices                      401 401 401 200 403 403 200
/v1/developers                  401 401 401 403 403 403 200
/v1/deployments                 401 401 401 403 403 403 200
"
check_matrix() {
    local path e i tok
    local toks=("" "tt_$(printf '%064d' 0)" "$GONE" "$FIN" "$LEAD" "$DEV" "$PLAT")
    local names=(none unknown revoked finance lead developer platform)
    while read -r path rest; do
        [ -n "$path" ] || continue
        read -ra e <<<"$rest"
        for i in 0 1 2 3 4 5 6; do
            tok=${toks[$i]}
            GET "$path" "$tok" >/dev/null
            assert_eq "${e[$i]}" "$STATUS" "$path as ${names[$i]}"
            case $STATUS in
            401) assert_match 'WWW-Authenticate: Bearer' "$(cat "$TMP/h")" "$path as ${names[$i]}: WWW-Authenticate" ;;
            403) assert_match 'Content-Type: application/problem\+json' "$(cat "$TMP/h")" "$path as ${names[$i]}: problem+json" ;;
            esac
        done
    done <<<"$1"
}
check_matrix "$MATRIX"

GET /v1/costs "" -H "Authorization: Basic dXNlcjpwYXNz" >/dev/null
assert_eq 401 "$STATUS" "Basic auth is not a bearer token"
GET /v1/costs "" -H "Authorization: Bearer $FIN$FIN" >/dev/null
assert_eq 401 "$STATUS" "a token with extra characters is unknown"
GET /v1/costs "" -H "Authorization: Bearer ${FIN:0:40}" >/dev/null
assert_eq 401 "$STATUS" "a prefix of a token is unknown"
GET /v1/costs "" -H "Authorization: bearer $FIN" >/dev/null
assert_eq 200 "$STATUS" "the scheme is case-insensitive"
if grep -q "${FIN:3:20}" "$REPORT_LOG"; then echo "FAIL - a token appears in the log"; FAILS=$((FAILS + 1)); else echo "ok - no token in the log"; fi

# row scoping
rows() { json "sorted(set(r['$1'] for r in j['rows']))"; }
GET "/v1/reports/monthly?month=2026-03" "$LEAD" >/dev/null
assert_eq "['oid-alice', 'oid-bob']" "$(rows developer_oid)" "lead: monthly rows of team red only"
assert_eq "0.1584224" "$(json "j['totals']['cost_usd']")" "lead: totals cover only its rows"
GET "/v1/reports/monthly?month=2026-03&format=csv" "$LEAD" >"$TMP/lead.csv"
assert_eq "3" "$(tail -n +2 "$TMP/lead.csv" | grep -c ',red,')" "lead: CSV rows all team red"
assert_eq "4" "$(wc -l <"$TMP/lead.csv")" "lead: CSV has header + 3 rows"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=developer" "$LEAD" >/dev/null
assert_eq "['oid-alice', 'oid-bob']" "$(rows developer_oid)" "lead: costs by developer, team red only"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=team&team=blue" "$LEAD" >/dev/null
assert_eq "200 0" "$STATUS $(json "len(j['rows'])")" "lead: filtering on another team yields nothing"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=developer&developer=oid-carol" "$LEAD" >/dev/null
assert_eq "0" "$(json "len(j['rows'])")" "lead: another team's developer yields nothing"
GET "/v1/reports/monthly?month=2026-03" "$DEV" >/dev/null
assert_eq "['oid-alice']" "$(rows developer_oid)" "developer: monthly rows of itself only"
assert_eq "0.157646" "$(json "j['totals']['cost_usd']")" "developer: totals of itself only"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=team,developer" "$DEV" >/dev/null
assert_eq "['oid-alice']" "$(rows developer_oid)" "developer: costs of itself only"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=developer&developer=oid-bob" "$DEV" >/dev/null
assert_eq "0" "$(json "len(j['rows'])")" "developer: another developer yields nothing"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=developer" "$FIN" >/dev/null
assert_eq "['oid-alice', 'oid-bob', 'oid-carol', 'oid-dave', 'oid-erin']" "$(rows developer_oid)" "finance: every developer"
# a lead whose team is empty sees developers without a team, not everyone
EMPTY=tt_$(printf '%064d' 7)
sql "INSERT INTO api_tokens (name, token_sha256, role, team)
     VALUES ('lead-none', encode(sha256('$EMPTY'::bytea), 'hex'), 'lead', '')" >/dev/null
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=developer" "$EMPTY" >/dev/null
assert_eq "['oid-erin']" "$(rows developer_oid)" "lead with team '': only developers without a team"

# a lead's scope follows membership day by day, not the team at the range start: oid-mover
# is in search until 2026-11-16, in platform from then on
printf 'oid,upn,display_name,team,cost_center\noid-mover,m@example.com,Mover,search,CC-9\n' >"$TMP/mv1.csv"
printf 'oid,upn,display_name,team,cost_center,valid_from\noid-mover,m@example.com,Mover,platform,CC-9,2026-11-16\n' >"$TMP/mv2.csv"
"$BIN/ctl/tallyctl" --db "$DB" developers import "$TMP/mv1.csv" >/dev/null
"$BIN/ctl/tallyctl" --db "$DB" developers import "$TMP/mv2.csv" >/dev/null
sql "INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model, deployment,
         input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
         cache_write_unsplit_tokens)
     VALUES ('mv1', '2026-11-15T23:50:00Z', 1, 'oid-mover', 'claude-sonnet-4-6', 'sonnet', 100, 1, 0, 0, 0, 0),
            ('mv2', '2026-11-16T00:05:00Z', 1, 'oid-mover', 'claude-sonnet-4-6', 'sonnet', 50, 1, 0, 0, 0, 0),
            ('mv3', '2026-11-20T10:00:00Z', 1, 'oid-mover', 'claude-sonnet-4-6', 'sonnet', 7000, 1, 0, 0, 0, 0)" >/dev/null
seed_rollups
SEARCH=$(report_token lead lead-search --team search)
PLATFORM=$(report_token lead lead-platform --team platform)
mover() { # mover TOKEN FROM [GROUP_BY]: rows, requests and input tokens of oid-mover's costs
    GET "/v1/costs?from=$2&to=2026-12-01&developer=oid-mover&group_by=${3:-}" "$1" >/dev/null
    echo "$STATUS $(json "len(j['rows']), j['totals']['requests'], j['totals']['input_tokens']")"
}
assert_eq "200 1 1 100" "$(mover "$SEARCH" 2026-11-15T23:45:00Z)" "search lead: only the 15 minutes in search"
assert_eq "200 0 0 0" "$(mover "$SEARCH" 2026-11-16)" "search lead: nothing after the move"
assert_eq "200 1 2 7050" "$(mover "$PLATFORM" 2026-11-15T23:45:00Z)" "platform lead: the usage since the move"
assert_eq "200 2 2 7050" "$(mover "$PLATFORM" 2026-11-15T23:45:00Z day)" "platform lead by day: 2 days"
assert_eq "200 1 2 7050" "$(mover "$PLATFORM" 2026-11-15T23:45:00Z month)" "platform lead by month"
assert_eq "200 1 3 7150" "$(mover "$FIN" 2026-11-15T23:45:00Z)" "finance: all of it"
assert_eq "200 0 0 0" "$(mover "$LEAD" 2026-11-15T23:45:00Z)" "another team's lead: nothing"
# and so does the monthly chargeback's: each lead sees the mover's days in its own team,
# labelled with it; finance sees the whole month under the team at the month start
mover_month() { # mover_month TOKEN: status, then team, requests and input tokens of oid-mover's rows
    GET "/v1/reports/monthly?month=2026-11&format=json" "$1" >/dev/null
    echo "$STATUS $(json "' '.join('%s/%s/%s' % (r['team'], r['requests'], r['input_tokens']) for r in j['rows'] if r['developer_oid'] == 'oid-mover')")"
}
assert_eq "200 search/1/100" "$(mover_month "$SEARCH")" "monthly, search lead: only the day in search"
assert_eq "200 platform/2/7050" "$(mover_month "$PLATFORM")" "monthly, platform lead: the days since the move"
assert_eq "200 search/3/7150" "$(mover_month "$FIN")" "monthly, finance: the whole month, one row"
assert_eq "200 " "$(mover_month "$LEAD")" "monthly, another team's lead: nothing"

# two Authorization headers: which one counts is ambiguous (a proxy may read the other), so
# neither does: 400, whatever the order and whether one of them is valid
for pair in "$FIN $LEAD" "$LEAD $FIN" "$FIN $FIN" "tt_$(printf '%064d' 0) $FIN"; do
    read -r a b <<<"$pair"
    GET "/v1/costs?from=2026-03-01&to=2026-04-01" "$a" -H "Authorization: Bearer $b" >/dev/null
    assert_eq "400 application/problem+json" "$STATUS $(sed -n 's/^Content-Type: \([^;\r]*\).*/\1/p' "$TMP/h")" \
        "two Authorization headers: 400 problem"
done
GET /healthz "" -H "Authorization: Bearer $FIN" -H "authorization: Bearer $LEAD" >/dev/null
assert_eq 400 "$STATUS" "two Authorization headers (any case) on an open route: 400"
GET "/v1/costs?from=2026-03-01&to=2026-04-01" "$FIN" >/dev/null
assert_eq 200 "$STATUS" "one Authorization header: served"

# metrics_auth=true: probes need a token of any role
kill "$REPORT_PID"; wait "$REPORT_PID" 2>/dev/null
report_start --metrics-auth true
MATRIX2="
/healthz 401 401 401 200 200 200 200
/readyz  401 401 401 200 200 200 200
/metrics 401 401 401 200 200 200 200
"
check_matrix "$MATRIX2"
finish
