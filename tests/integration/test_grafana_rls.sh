#!/usr/bin/env bash
# Grafana per team (schema/functions/85_row_security.sql, tallyctl grafana-role): psql as each
# team's login sees only its team's rows, on the days its developers belonged to it, through
# the reporting views, the tables under them and the functions; tally_reader sees every row as
# before; a login without a mapping sees nothing; dropping a login works.
#
# November 2026, ingested by tally-ingest: oid-s1 (search) and oid-p1 (platform) send one
# request a day, oid-mv one a day too and moves from search to platform on 2026-11-16 00:00 UTC;
# oid-nt has no team and uses a model no book prices. oid-s1 sends one more on 2026-10-15.
source "$(dirname "$0")/../lib.sh"
need_env
CTL=$BIN/ctl/tallyctl
new_db
SEARCH="gs_${TEST_DB}" PLATFORM="gp_${TEST_DB}" READER="gr_${TEST_DB}" LOST="gx_${TEST_DB}"
roles_cleanup() {
    local rc=$? r
    for r in "$SEARCH" "$PLATFORM" "$READER" "$LOST"; do
        psql "$TALLY_TEST_PG dbname=postgres" -qAtc "DROP ROLE IF EXISTS \"$r\"" >/dev/null 2>&1
    done
    (exit $rc)
    test_cleanup
}
trap roles_cleanup EXIT

python3 - >"$TMP/events.jsonl" <<'EOF'
import json
def ev(rid, at, oid, model, inp, out):
    print(json.dumps({"schema": "tally.usage/1", "requestId": rid, "timestamp": at, "userOid": oid,
                      "userUpn": oid + "@contoso.example", "deploymentName": model, "model": model,
                      "statusCode": 200, "usage": {"input_tokens": inp, "output_tokens": out,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}))
for day in range(1, 31):
    at = "2026-11-%02dT10:00:00Z" % day
    ev("s1-%d" % day, at, "oid-s1", "claude-sonnet-4-6", 1000, 10)
    ev("p1-%d" % day, at, "oid-p1", "claude-sonnet-4-6", 2000, 20)
    ev("mv-%d" % day, at, "oid-mv", "claude-sonnet-4-6", 300, 3)
ev("nt-1", "2026-11-01T10:00:00Z", "oid-nt", "claude-next-1", 5, 1)
ev("s1-oct", "2026-10-15T10:00:00Z", "oid-s1", "claude-sonnet-4-6", 7, 1)
EOF
"$BIN/ingest/tally-ingest" --db "$DB" --from-file "$TMP/events.jsonl" >"$TMP/ingest.out" 2>&1
assert_eq 0 $? "tally-ingest loaded the events"
"$CTL" --db "$DB" prices load "$SRC/schema/prices/anthropic-list-2026-12.json" >/dev/null
printf 'oid,upn,display_name,team,cost_center\noid-s1,s1@contoso.example,S1,search,CC-1\noid-p1,p1@contoso.example,P1,platform,CC-2\noid-mv,mv@contoso.example,Mover,search,CC-1\n' >"$TMP/d1.csv"
printf 'oid,upn,display_name,team,cost_center,valid_from\noid-mv,mv@contoso.example,Mover,platform,CC-2,2026-11-16T00:00:00Z\n' >"$TMP/d2.csv"
"$CTL" --db "$DB" developers import "$TMP/d1.csv" >/dev/null && "$CTL" --db "$DB" developers import "$TMP/d2.csv" >/dev/null
assert_eq 0 $? "developers imported, oid-mv moving to platform on 2026-11-16"
sql "INSERT INTO quotas (name, scope, subject, metric, period, tz, limit_value, targets) VALUES
       ('budget-search', 'team', 'search', 'cost_usd', 'month', 'UTC', 100, '[{\"kind\":\"webhook\",\"url\":\"https://hooks.example/secret\"}]'),
       ('budget-platform', 'team', 'platform', 'cost_usd', 'month', 'UTC', 100, '[]'),
       ('p1-day', 'developer', 'oid-p1', 'tokens', 'day', 'UTC', 1000, '[]'),
       ('all', 'everyone', '', 'tokens', 'month', 'UTC', 9000000, '[]')" >/dev/null

# ---- the logins
printf 'pw of search\n' >"$TMP/pw"
out=$("$CTL" --db "$DB" grafana-role create --team search --login "$SEARCH" --password-file "$TMP/pw" 2>&1)
assert_eq "0 grafana role \"$SEARCH\" created for team \"search\" (password set)" "$? $out" "grafana-role create --password-file"
"$CTL" --db "$DB" --log-level debug grafana-role create --team platform --login "$PLATFORM" >"$TMP/create.out" 2>&1
assert_eq 0 $? "grafana-role create without a password"
if grep -q "pw of search" <<<"$out"; then echo "FAIL - the password was printed"; FAILS=$((FAILS + 1)); else echo "ok - the password is not printed"; fi
assert_eq "t" "$(sql "SELECT rolpassword LIKE 'SCRAM-SHA-256\$%' AND rolpassword NOT LIKE '%pw of search%' FROM pg_authid WHERE rolname = '$SEARCH'")" \
    "the server holds a SCRAM verifier, not the password"
assert_eq "t f f f f t tally_team_reader" "$(sql "SELECT r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolbypassrls, r.rolpassword IS NOT NULL,
        r.rolinherit, (SELECT string_agg(b.rolname, ',') FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid)
   FROM pg_authid r WHERE rolname = '$PLATFORM'" | tr '|' ' ')" "a login, nothing more, in tally_team_reader only"
out=$("$CTL" --db "$DB" grafana-role create --team search --login "$SEARCH" 2>&1)
assert_eq "1" "$?" "an existing role is refused"
assert_match "role .+$SEARCH.+ exists already" "$out" "and says so"
"$CTL" --db "$DB" grafana-role create --login x >/dev/null 2>&1
assert_eq 2 $? "grafana-role create without --team: usage"
# the team is the mapping's, not the name's: a login named after search, mapped to platform
sql "CREATE ROLE \"$READER\" LOGIN IN ROLE tally_reader; CREATE ROLE \"$LOST\" LOGIN IN ROLE tally_team_reader" >/dev/null
assert_eq "$PLATFORM platform t|$SEARCH search t" \
    "$("$CTL" --db "$DB" grafana-role list | tail -n +2 | cut -f1,2,4 | sort | paste -sd'|' | tr '\t' ' ')" \
    "grafana-role list: login, team, can log in"

as() { # as LOGIN SQL: the result, or the error, as that login over TCP
    psql "$TALLY_TEST_PG dbname=$TEST_DB user=$1" -qAtX -v ON_ERROR_STOP=1 -c "$2" 2>&1 | sed 's/^psql:[^ ]* //'
}
NOV="bucket >= '2026-11-01T00:00:00Z' AND bucket < '2026-12-01T00:00:00Z'"
figures() { # figures LOGIN: requests, input tokens and cost of November per developer in costs_15m
    as "$1" "SELECT string_agg(developer_oid || ':' || team || ':' || r || ':' || i || ':' || c, ' ' ORDER BY developer_oid, team)
               FROM (SELECT developer_oid, team, sum(requests) r, sum(input_tokens) i, coalesce(sum(cost_usd), 0) c
                       FROM reporting.costs_15m WHERE $NOV GROUP BY 1, 2) x"
}
# Sonnet 4.6 at 3 USD in / 15 USD out per million: s1 30 × (1000 × 3 + 10 × 15) / 1e6
assert_eq "oid-mv:search:15:4500:0.01417500 oid-s1:search:30:30000:0.09450000" "$(figures "$SEARCH")" \
    "search: its developers, the mover for the 15 days before the move"
assert_eq "oid-mv:platform:15:4500:0.01417500 oid-p1:platform:30:60000:0.18900000" "$(figures "$PLATFORM")" \
    "platform: its developers, the mover from the day of the move"
assert_eq "oid-mv:platform:15:4500:0.01417500 oid-mv:search:15:4500:0.01417500 oid-nt:(no team):1:5:0 oid-p1:platform:30:60000:0.18900000 oid-s1:search:30:30000:0.09450000" \
    "$(figures "$READER")" "tally_reader: every row"
assert_eq "" "$(figures "$LOST")" "a team login without a mapping: nothing"
assert_eq "$(sql "SELECT md5(string_agg(c::text, '' ORDER BY c::text)) FROM reporting.costs_15m c")" \
    "$(as "$READER" "SELECT md5(string_agg(c::text, '' ORDER BY c::text)) FROM reporting.costs_15m c")" \
    "tally_reader reads costs_15m exactly as the owner does"

# the other views a team dashboard reads
day() { as "$1" "SELECT count(*) || ' ' || sum(requests) || ' ' || sum(input_tokens) || ' ' || string_agg(DISTINCT developer_oid, ',')
                   FROM reporting.costs_day WHERE day >= '2026-11-01' AND day < '2026-12-01'"; }
assert_eq "45 45 34500 oid-mv,oid-s1" "$(day "$SEARCH")" "search: costs_day"
assert_eq "45 45 64500 oid-mv,oid-p1" "$(day "$PLATFORM")" "platform: costs_day"
assert_eq "91 91 99005 oid-mv,oid-nt,oid-p1,oid-s1" "$(day "$READER")" "tally_reader: costs_day"
req() { as "$1" "SELECT count(*) || ' ' || min(event_time)::date || ' ' || max(event_time)::date
                   FROM reporting.request_costs WHERE developer_oid = 'oid-mv' AND event_time >= '2026-11-01'"; }
assert_eq "15 2026-11-01 2026-11-15" "$(req "$SEARCH")" "search: the mover's requests before the move"
assert_eq "15 2026-11-16 2026-11-30" "$(req "$PLATFORM")" "platform: the mover's requests after it"
assert_eq "30 2026-11-01 2026-11-30" "$(req "$READER")" "tally_reader: all of them"
month() { as "$1" "SELECT string_agg(to_char(month, 'YYYY-MM') || ':' || developer_oid || ':' || requests, ' ' ORDER BY month, developer_oid) FROM reporting.usage_month"; }
assert_eq "2026-10:oid-s1:1 2026-11:oid-s1:30" "$(month "$SEARCH")" "search: usage_month, not the month the mover left in"
assert_eq "2026-11:oid-p1:30" "$(month "$PLATFORM")" "platform: usage_month, not the month the mover joined in"
assert_eq "2026-10:oid-s1:1 2026-11:oid-mv:30 2026-11:oid-nt:1 2026-11:oid-p1:30 2026-11:oid-s1:30" "$(month "$READER")" "tally_reader: usage_month"
people() { as "$1" "SELECT (SELECT string_agg(developer_oid || ':' || team, ',' ORDER BY developer_oid, valid_from) FROM reporting.developers)
                      || ' ' || (SELECT string_agg(developer_oid || ':' || team, ',' ORDER BY developer_oid) FROM reporting.developer_list)
                      || ' ' || (SELECT string_agg(team, ',' ORDER BY team) FROM reporting.teams)
                      || ' ' || (SELECT coalesce(string_agg(quota, ',' ORDER BY quota), '-') FROM reporting.team_budgets)"; }
assert_eq "oid-mv:search,oid-s1:search oid-mv:search,oid-s1:search,unattributed:(no team) (no team),search budget-search" \
    "$(people "$SEARCH")" "search: its developers (the mover's search row), teams and budget only"
assert_eq "oid-mv:platform,oid-p1:platform oid-mv:platform,oid-p1:platform,unattributed:(no team) (no team),platform budget-platform" \
    "$(people "$PLATFORM")" "platform: its developers, teams and budget only"
assert_eq "oid-mv:search,oid-mv:platform,oid-p1:platform,oid-s1:search oid-mv:platform,oid-nt:(no team),oid-p1:platform,oid-s1:search,unattributed:(no team) (no team),platform,search budget-platform,budget-search" \
    "$(people "$READER")" "tally_reader: every developer, team and budget"

# ---- around the views: the tables, other views, functions
assert_eq "46 oid-mv,oid-s1" "$(as "$SEARCH" "SELECT count(*) || ' ' || string_agg(DISTINCT developer_oid, ',') FROM usage_rollup_15m")" \
    "search: SELECT on the rollup itself gives its rows only"
assert_eq "46 oid-mv,oid-s1 oid-mv,oid-s1" "$(as "$SEARCH" "SELECT count(*) || ' ' || string_agg(DISTINCT developer_oid, ',') || ' '
        || (SELECT string_agg(oid, ',' ORDER BY oid) FROM developer_labels) FROM usage_events")" \
    "search: usage_events and developer_labels the same"
assert_match "permission denied for table usage_events_2026_11" "$(as "$SEARCH" "SELECT count(*) FROM usage_events_2026_11")" \
    "a partition (no policy of its own) is not readable"
assert_match "permission denied for table usage_events" "$(as "$SEARCH" "SELECT tenant_id FROM usage_events")" \
    "columns no view shows are not readable"
assert_match "permission denied for table quotas" "$(as "$SEARCH" "SELECT targets FROM quotas")" "nor a quota's alert targets"
assert_match "permission denied for table api_tokens" "$(as "$SEARCH" "SELECT count(*) FROM api_tokens")" "nor the API tokens"
for v in ingest_rejects ingest_events quota_status alert_log unpriced_combinations ingest_gaps; do
    assert_match "permission denied for view $v" "$(as "$SEARCH" "SELECT count(*) FROM reporting.$v")" "reporting.$v is not for a team"
done
assert_eq "search" "$(as "$SEARCH" "SELECT string_agg(team, ',') FROM grafana_roles")" "grafana_roles: its own mapping only"
qs=$(sql "SELECT id FROM quotas WHERE name = 'budget-search'")
assert_eq "$qs:0.108675 $qs:0.108675" "$qs:$(sql "SELECT used FROM tally_quota_usage_all('2026-11-20T00:00:00Z') WHERE quota_id = $qs") \
$(as "$SEARCH" "SELECT string_agg(quota_id || ':' || used, ',') FROM tally_quota_usage_all('2026-11-20T00:00:00Z')")" \
    "the quota function (SECURITY DEFINER): the team's own team quota only, as the owner computes it"
assert_eq "4" "$(sql "SELECT count(*) FROM tally_quota_usage_all('2026-11-20T00:00:00Z')")" "the owner: every quota"
book=$(sql "SELECT tally_book(NULL)")
assert_eq "0 1" "$(as "$SEARCH" "SELECT count(*) FROM tally_prices_check($book)") $(sql "SELECT count(*) FROM tally_prices_check($book)")" \
    "the prices check (SECURITY DEFINER, every team's usage): nothing for a team"
assert_eq ",platform,search search" "$(sql "SELECT string_agg(DISTINCT team, ',' ORDER BY team) FROM tally_month_lines($book, '2026-11', 'UTC')") \
$(as "$SEARCH" "SELECT string_agg(DISTINCT team, ',' ORDER BY team) FROM tally_month_lines($book, '2026-11', 'UTC')")" \
    "the month close lines (SECURITY DEFINER): the team's own lines only, on its days"
assert_match "permission denied" "$(as "$SEARCH" "SELECT count(*) FROM tally_usage_priced($book, '2026-11-01', '2026-12-01', 'UTC', 'none')")" \
    "the cost engine (runs as its caller): refused, it reads price tables a team may not"
assert_eq "tally_model_names tally_month_closed_cost tally_month_corrected tally_month_corrections tally_month_delta tally_month_frozen_lines tally_month_lines tally_prices_check tally_quota_usage_all tally_rate_table tally_reconciliation" \
    "$(sql "SELECT string_agg(proname, ' ' ORDER BY proname) FROM pg_proc WHERE prosecdef")" \
    "the SECURITY DEFINER functions are exactly those reviewed (85_row_security.sql)"
assert_eq "price_book_in_use price_books prices_in_use rate_table rates_in_use" \
    "$(sql "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
             WHERE c.relnamespace = 'reporting'::regnamespace AND c.relkind = 'v'
               AND has_table_privilege('tally_team_reader', c.oid, 'SELECT')
               AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)")" \
    "every view a team may read runs as its caller, but those over price books only"

# ---- drop
out=$("$CTL" --db "$DB" grafana-role drop --team search 2>&1)
assert_eq "0 grafana role \"$SEARCH\" dropped" "$? $out" "grafana-role drop --team search"
assert_eq "0 0" "$(sql "SELECT (SELECT count(*) FROM pg_roles WHERE rolname = '$SEARCH') || ' ' || (SELECT count(*) FROM grafana_roles WHERE team = 'search')")" \
    "its role and mapping are gone"
assert_match "role \"$SEARCH\" does not exist" "$(as "$SEARCH" "SELECT 1")" "it cannot sign in any more"
"$CTL" --db "$DB" grafana-role drop "$SEARCH" >/dev/null 2>&1
assert_eq 1 $? "dropping it again: no such login"
out=$("$CTL" --db "$DB" grafana-role drop "$PLATFORM" 2>&1)
assert_eq "0 grafana role \"$PLATFORM\" dropped" "$? $out" "grafana-role drop LOGIN"
finish
