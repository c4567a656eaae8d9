#!/usr/bin/env bash
# tally-report with Entra ID sign-in against a local key set server (entra_keys.py, keys
# this test makes): a valid access token gets 200 with its role's scope (a developer sees
# its own rows, a lead its team's by group or by claim, finance everything), and every
# forged or unfit token gets 401 with the exact problem+json naming the failed check (and
# RFC 6750's error="invalid_token", error_description): expired, not yet valid, wrong
# audience, issuer or tenant, no app role, alg none, HS256 keyed with the public key, a
# changed payload, a key the set does not hold. A kid the cache lacks fetches the set again
# (the rotation: then 200), at most once per entra_jwks_refetch_s, however many made-up kids
# follow. While a fetch of the keys hangs (the server accepts and never answers), static
# tokens, tokens verified before and tokens of a kid the keys hold are answered, with one
# pool connection: the waiting request holds none. No keys to be had at all: 503 with
# Retry-After. Static tallyctl tokens keep working; no token reaches the log; bad
# configuration exits 2 naming the key.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
seed_fixture

TENANT=4f0a9d2e-6c1b-4e8a-9b7d-3a2c1e0f5d6b
AUD=api://tokentally
ISS=https://login.microsoftonline.com/$TENANT/v2.0
GRED=11111111-2222-3333-4444-555555555555
GBLUE=66666666-7777-8888-9999-000000000000
K=$TMP/keys
"$PY" "$SRC/tests/integration/entra_keys.py" make "$K" --tenant "$TENANT" --audience "$AUD" --issuer "$ISS" <<JSON
{"name": "dev"}
{"name": "dev-upper-tid", "claims": {"tid": "${TENANT^^}"}}
{"name": "lead-red", "claims": {"roles": ["Tally.Lead"], "oid": "oid-lead-red", "groups": ["$GRED", "aaaaaaaa-0000-0000-0000-000000000000"]}}
{"name": "lead-claim", "claims": {"roles": ["Tally.Lead"], "oid": "oid-lead-blue", "tally_team": "blue"}}
{"name": "lead-two", "claims": {"roles": ["Tally.Lead"], "oid": "oid-lead-two", "groups": ["$GRED", "$GBLUE"]}}
{"name": "lead-none", "claims": {"roles": ["Tally.Lead"], "oid": "oid-lead-none"}}
{"name": "fin", "claims": {"roles": ["Tally.Developer", "Tally.Finance"], "oid": "oid-fin", "aud": ["other", "$AUD"]}}
{"name": "plat", "claims": {"roles": ["Tally.Platform"], "oid": "oid-plat"}}
{"name": "norole", "claims": {"roles": ["Something.Else"]}}
{"name": "in-leeway", "claims": {"exp": "now-10", "nbf": "now+10"}}
{"name": "expired", "claims": {"exp": "now-3600", "nbf": "now-7200", "iat": "now-7200"}}
{"name": "not-yet", "claims": {"nbf": "now+3600", "exp": "now+7200"}}
{"name": "no-exp", "drop": ["exp"]}
{"name": "wrong-aud", "claims": {"aud": "api://someone-else"}}
{"name": "wrong-iss", "claims": {"iss": "https://sts.windows.net/$TENANT/"}}
{"name": "wrong-tid", "claims": {"tid": "00000000-0000-0000-0000-000000000000"}}
{"name": "alg-none", "alg": "none"}
{"name": "hs256-pub", "alg": "HS256-pub"}
{"name": "tampered", "tamper": true}
{"name": "forged", "key": "c", "kid": "kid-a"}
{"name": "rotated", "key": "b", "claims": {"oid": "oid-carol"}}
{"name": "made-up-1", "key": "c", "kid": "kid-x1"}
{"name": "made-up-2", "key": "c", "kid": "kid-x2"}
{"name": "made-up-3", "key": "c", "kid": "kid-x3"}
JSON
tok() { cat "$K/$1.jwt"; }
cp "$K/jwks-a.json" "$TMP/jwks.json"
"$PY" "$SRC/tests/integration/entra_keys.py" serve --keys "$TMP/jwks.json" --port-file "$TMP/jwks.port" \
    --log "$TMP/jwks.log" --hang-file "$TMP/hang" &
TEST_PIDS+=($!)
wait_for 10 test -s "$TMP/jwks.port" || { echo "FAIL - key set server did not start"; exit 1; }
JWKS=http://127.0.0.1:$(cat "$TMP/jwks.port")/keys
fetches() { if [ -f "$TMP/jwks.log" ]; then wc -l <"$TMP/jwks.log"; else echo 0; fi; }

# bad configuration: one line naming the key, exit 2
cfgerr() { # cfgerr EXPECTED_LINE ARGS…
    local want=$1 out rc; shift
    out=$("$BIN/report/tally-report" --db "$DB" --listen 127.0.0.1:0 "$@" 2>&1); rc=$?
    assert_eq "2|$want" "$rc|$out" "config: $want"
}
cfgerr 'tally-report: invalid value for "entra_tenant_id": the directory (tenant) id, a GUID' \
    --entra-tenant-id contoso.onmicrosoft.com --entra-audience "$AUD"
cfgerr 'tally-report: "entra_audience" is required with entra_tenant_id' --entra-tenant-id "$TENANT"
cfgerr 'tally-report: invalid value for "entra_jwks_url": an https:// URL (http:// only to localhost, 127.0.0.0/8 or [::1])' \
    --entra-tenant-id "$TENANT" --entra-audience "$AUD" --entra-jwks-url http://keys.example.com/keys
cfgerr 'tally-report: invalid value for "entra_role_map": "admin" is not one of developer, lead, finance, platform' \
    --entra-tenant-id "$TENANT" --entra-audience "$AUD" --entra-role-map "Tally.Admin=admin"
cfgerr 'tally-report: invalid value for "entra_group_team_map": "red" is not NAME=VALUE' \
    --entra-tenant-id "$TENANT" --entra-audience "$AUD" --entra-group-team-map "red"
cfgerr 'tally-report: invalid value for "entra_leeway_s" (from flag): "600" is not an integer in 0..300' \
    --entra-leeway-s 600
cfgerr 'tally-report: invalid value for "entra_jwks_timeout_s" (from flag): "0" is not an integer in 1..60' \
    --entra-jwks-timeout-s 0

report_start --entra-tenant-id "$TENANT" --entra-audience "$AUD" --entra-jwks-url "$JWKS" \
    --entra-group-team-map "$GRED=red, $GBLUE=blue" --entra-team-claim tally_team
FIN=$(report_token finance fin)
LEAD_BLUE=$(report_token lead lead-blue --team blue)
assert_eq 0 "$(fetches)" "nothing is fetched before the first Entra token"

rows() { json "sorted(set(r['developer_oid'] for r in j['rows']))"; }
monthly() { # monthly TOKEN: "STATUS ROWS TOTAL" of the March chargeback
    GET "/v1/reports/monthly?month=2026-03" "$1" >/dev/null
    if [ "$STATUS" = 200 ]; then echo "$STATUS $(rows) $(json "j['totals']['cost_usd']")"; else echo "$STATUS"; fi
}
# the static tokens' view, which each Entra role must equal
FIN_VIEW=$(monthly "$FIN")
BLUE_VIEW=$(monthly "$LEAD_BLUE")
assert_eq "200 ['oid-alice', 'oid-bob', 'oid-carol', 'oid-dave', 'oid-erin'] 1.9095234" "$FIN_VIEW" "static finance token: every row"

assert_eq "200 ['oid-alice'] 0.157646" "$(monthly "$(tok dev)")" "developer: its own rows (oid)"
assert_eq "200 ['oid-alice'] 0.157646" "$(monthly "$(tok dev-upper-tid)")" "developer: tid compared case-insensitively"
assert_eq "200 ['oid-alice', 'oid-bob'] 0.1584224" "$(monthly "$(tok lead-red)")" "lead by group: team red's rows"
assert_eq "$BLUE_VIEW" "$(monthly "$(tok lead-claim)")" "lead by claim: team blue's rows, as the static blue lead"
assert_eq "200 ['oid-carol', 'oid-dave']" "${BLUE_VIEW% *}" "the blue lead sees carol and dave"
assert_eq "$FIN_VIEW" "$(monthly "$(tok fin)")" "developer + finance roles: finance, every row"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=developer&developer=oid-carol" "$(tok dev)" >/dev/null
assert_eq "200 0" "$STATUS $(json "len(j['rows'])")" "developer: another developer's rows yield nothing"
GET "/v1/costs?from=2026-03-01&to=2026-04-01&group_by=team&team=blue" "$(tok lead-red)" >/dev/null
assert_eq "200 0" "$STATUS $(json "len(j['rows'])")" "lead: another team's rows yield nothing"
GET "/v1/exports/focus?month=2026-03" "$(tok dev)" >/dev/null
assert_eq 403 "$STATUS" "developer: the FOCUS export is refused (403)"
GET /v1/developers "$(tok fin)" >/dev/null
assert_eq 403 "$STATUS" "finance: admin routes are refused (403)"
GET /v1/developers "$(tok plat)" >/dev/null
assert_eq 200 "$STATUS" "platform: admin routes"
assert_eq "200 ['oid-alice'] 0.157646" "$(monthly "$(tok in-leeway)")" "exp and nbf 10 s off: inside the 60 s leeway"
assert_eq 1 "$(fetches)" "one fetch of the key set for all of them"

header() { sed -n "s/^$1: //Ip" "$TMP/h" | tr -d '\r'; } # header NAME: its value(s) in $TMP/h
problem() { printf '{"type":"about:blank","title":"%s","status":%s,"detail":"%s"}' "$2" "$1" "$3"; }
PROBLEM=$(problem 401 Unauthorized "unknown or revoked token")
challenge() { printf 'Bearer realm="tokentally", error="invalid_token", error_description="%s"' "$1"; }
refused() { # refused NAME DETAIL WHY: 401 naming the check in general terms, the reason logged once
    local before
    before=$(grep -c "entra token refused: $3" "$REPORT_LOG")
    GET /v1/costs "$(tok "$1")" >/dev/null
    assert_eq "401 $(problem 401 Unauthorized "$2")" "$STATUS $(cat "$TMP/body")" "$1: 401 problem+json \"$2\""
    assert_eq "$(challenge "$2")" "$(header WWW-Authenticate)" "$1: WWW-Authenticate invalid_token"
    assert_eq "application/problem+json" "$(header Content-Type)" "$1: Content-Type"
    assert_eq $((before + 1)) "$(grep -c "entra token refused: $3" "$REPORT_LOG")" "$1: logged as \"$3\""
}
refused expired "token expired" "the token has expired"
refused not-yet "token not valid yet" "the token is not valid yet (nbf)"
refused no-exp "malformed token" "exp missing, or exp or nbf not an integer"
refused wrong-aud "wrong audience" "wrong audience (aud)"
refused wrong-iss "wrong issuer" "wrong issuer (iss)"
refused wrong-tid "wrong tenant" "wrong tenant (tid)"
refused norole "no app role maps to a tally role" "no app role of the token maps to a tally role"
refused lead-two "no team for the lead" "the lead's groups map to more than one team"
refused lead-none "no team for the lead" "no team for the lead: no group maps to one and no team claim"
refused alg-none "algorithm not allowed" "the algorithm is not RS256"
refused hs256-pub "algorithm not allowed" "the algorithm is not RS256"
refused tampered "signature not valid" "bad signature or malformed token"
refused forged "signature not valid" "bad signature or malformed token"
assert_eq 1 "$(fetches)" "refusals with a known kid fetch nothing"
GET /v1/costs >/dev/null
assert_eq "401 $(problem 401 Unauthorized "a bearer token is required")" "$STATUS $(cat "$TMP/body")" "no token: 401"
assert_eq 'Bearer realm="tokentally"' "$(header WWW-Authenticate)" "no token: a challenge without an error code (RFC 6750 3.1)"

# rotation: the provider publishes key b; its first token finds the cache without it
cp "$K/jwks-ab.json" "$TMP/jwks.new" && mv "$TMP/jwks.new" "$TMP/jwks.json"
GET "/v1/reports/monthly?month=2026-03" "$(tok rotated)" >/dev/null
assert_eq "200 ['oid-carol']" "$STATUS $(rows)" "rotated key: the set is fetched again, then 200"
assert_eq 2 "$(fetches)" "the rotation cost one fetch"
GET /v1/costs "$(tok rotated)" >/dev/null
assert_eq 200 "$STATUS" "rotated key: cached"
for i in 1 2 3 1 2 3; do
    GET /v1/costs "$(tok made-up-$i)" >/dev/null
    assert_eq "401 $(problem 401 Unauthorized "signing key not known")" "$STATUS $(cat "$TMP/body")" "made-up kid $i: 401"
done
assert_eq 2 "$(fetches)" "six made-up kids within entra_jwks_refetch_s fetch nothing more"
assert_eq 6 "$(grep -c 'entra token refused: no signing key has its kid' "$REPORT_LOG")" "made-up kids: logged"

# static tokens are unchanged, and the JWT path never looks them up
GET /v1/costs "$FIN" >/dev/null
assert_eq 200 "$STATUS" "static finance token still works"
GET /v1/costs "tt_$(printf '%064d' 0)" >/dev/null
assert_eq "401 $PROBLEM" "$STATUS $(cat "$TMP/body")" "unknown static token: 401"
assert_eq "$(challenge "unknown or revoked token")" "$(header WWW-Authenticate)" "unknown static token: invalid_token"
GET /v1/costs "abc.def.ghi" >/dev/null
assert_eq "401 $(problem 401 Unauthorized "malformed token")" "$STATUS $(cat "$TMP/body")" "a JWT-shaped string that is not JSON: 401"
assert_eq 1 "$(grep -c 'entra token refused: the header is not base64url JSON' "$REPORT_LOG")" "not JSON: logged"

# The key server hangs (accepts, never answers) on the fetch a rotation starts. With one pool
# connection and a fetch timeout far beyond what the checks take, the requests below must be
# answered while that fetch is still outstanding: the waiting request holds no connection and
# no lock the others need.
stop_report() { kill "$REPORT_PID" && wait "$REPORT_PID" 2>/dev/null; }
stop_report
cp "$K/jwks-a.json" "$TMP/jwks.new" && mv "$TMP/jwks.new" "$TMP/jwks.json"
report_start --entra-tenant-id "$TENANT" --entra-audience "$AUD" --entra-jwks-url "$JWKS" \
    --entra-group-team-map "$GRED=red, $GBLUE=blue" --db-pool-size 1 --entra-jwks-timeout-s 60
GET /v1/costs "$(tok dev)" >/dev/null
assert_eq 200 "$STATUS" "one pool connection: an Entra token, the keys fetched"
touch "$TMP/hang"
curl -s -o "$TMP/bg.body" -w '%{http_code}' -H "Authorization: Bearer $(tok rotated)" \
    "$URL/v1/reports/monthly?month=2026-03" >"$TMP/bg.status" &
BG=$!
TEST_PIDS+=("$BG")
wait_for 60 test -s "$TMP/hang.state"
assert_eq open "$(cat "$TMP/hang.state" 2>/dev/null)" "the rotated kid's fetch is open at the key server"
GET /v1/costs "$FIN" >/dev/null
assert_eq 200 "$STATUS" "while the fetch hangs: a static token (the one pool connection is free)"
GET "/v1/reports/monthly?month=2026-03" "$(tok dev)" >/dev/null
assert_eq "200 ['oid-alice']" "$STATUS $(rows)" "while the fetch hangs: a token verified before"
GET "/v1/reports/monthly?month=2026-03" "$(tok lead-red)" >/dev/null
assert_eq "200 ['oid-alice', 'oid-bob']" "$STATUS $(rows)" "while the fetch hangs: a new token of a kid the keys hold"
assert_eq open "$(cat "$TMP/hang.state")" "all three answered while the fetch was still open and unanswered"
assert_eq 0 "$(kill -0 "$BG" 2>/dev/null; echo $?)" "the rotated token's request still waits for its fetch"
cp "$K/jwks-ab.json" "$TMP/jwks.new" && mv "$TMP/jwks.new" "$TMP/jwks.json"
rm "$TMP/hang"
wait "$BG"
cp "$TMP/bg.body" "$TMP/body"
assert_eq "200 ['oid-carol']" "$(cat "$TMP/bg.status") $(rows)" "the fetch answered: the rotated token's request gets its rows"
assert_eq "open answered" "$(tr '\n' ' ' <"$TMP/hang.state" | sed 's/ $//')" "the key server answered the one hung fetch"

# No keys to be had (the key set URL answers 404, nothing cached): 503 with Retry-After, not a
# 401 that would tell a valid token's holder it is bad; static tokens are unaffected.
stop_report
report_start --entra-tenant-id "$TENANT" --entra-audience "$AUD" \
    --entra-jwks-url "http://127.0.0.1:$(cat "$TMP/jwks.port")/gone"
UNAVAILABLE=$(problem 503 "Service Unavailable" "the signing keys could not be fetched; retry later")
for i in 1 2; do
    GET /v1/costs "$(tok dev)" >/dev/null
    assert_eq "503 $UNAVAILABLE" "$STATUS $(cat "$TMP/body")" "no keys ($i): 503 problem+json"
    assert_eq "10|application/problem+json|" "$(header Retry-After)|$(header Content-Type)|$(header WWW-Authenticate)" \
        "no keys ($i): Retry-After 10, no challenge"
done
assert_match 'could not fetch the signing keys from \\"http://127\.0\.0\.1:[0-9]+/gone\\": HTTP status 404' \
    "$(cat "$REPORT_LOG")" "no keys: the failed fetch is logged"
GET /v1/costs "$FIN" >/dev/null
assert_eq 200 "$STATUS" "no keys: static tokens still work"
GET /v1/costs "$(tok alg-none)" >/dev/null
assert_eq "401 $(problem 401 Unauthorized "algorithm not allowed")" "$STATUS $(cat "$TMP/body")" \
    "no keys: a token refused before a key is needed is still a 401"

# no crash, nothing secret in the log
assert_eq 0 "$(kill -0 "$REPORT_PID" 2>/dev/null; echo $?)" "tally-report still runs"
GET /healthz >/dev/null
assert_eq 200 "$STATUS" "healthz after it all"
leaked=0
for f in "$K"/*.jwt; do
    sig=$(cut -d. -f3 "$f"); body=$(cut -d. -f2 "$f")
    grep -qF -- "${body:0:40}" "$REPORT_LOG" && leaked=$((leaked + 1))
    [ -n "$sig" ] && grep -qF -- "${sig:0:40}" "$REPORT_LOG" && leaked=$((leaked + 1))
done
assert_eq 0 "$leaked" "no token (payload or signature) in the log"
assert_eq 0 "$(grep -c -i 'sanitizer\|runtime error' "$REPORT_LOG")" "no sanitizer report"
finish
