#!/usr/bin/env bash
# The overview page's sign-in with Microsoft (report/authcode.c, report/routes/login.c) against
# a local stand-in for Entra ID (entra_idp.py: /authorize checks client_id, redirect_uri, scope
# and the S256 code_challenge; /token checks the client secret and the code_verifier against
# the challenge, a code is good once; tokens RS256 signed by its own key set). With curl and a
# cookie jar, following each redirect by hand: /login links to /login/entra, which sets a
# pre-session cookie (HttpOnly, SameSite=Lax) and sends the browser to /authorize with state,
# nonce and challenge; the callback creates a session holding the Entra principal (no token
# stored, expiry = the token's exp), and the page shows that principal's numbers exactly as
# /v1/costs gives them for its access token (developer, lead by group, finance). Refused: no
# pre-session cookie or a wrong state (400), a wrong verifier (the IdP refuses: 401), a code
# replayed (401) or a callback replayed (400), the IdP's error= (401), an id_token whose nonce
# is not the sign-in's (401). No token, code or secret reaches a URL of tally-report or its
# log. Bad configuration exits 2 naming the key.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
seed_fixture

TENANT=4f0a9d2e-6c1b-4e8a-9b7d-3a2c1e0f5d6b
AUD=api://tokentally
CLIENT=0b1c2d3e-0000-4000-8000-000000000001
SECRET="s3cret-$RANDOM$RANDOM"
GRED=11111111-2222-3333-4444-555555555555
# the public address behind a proxy: the IdP sends the browser there; this test, the browser,
# takes the path and query of that Location to tally-report's own address
REDIRECT=https://tally.example.com/login/entra/callback
IDP_DIR=$TMP/idp
mkdir -p "$IDP_DIR"
printf '%s' "$SECRET" >"$TMP/client_secret"
echo '{}' >"$IDP_DIR/user.json"
"$PY" "$SRC/tests/integration/entra_idp.py" --port-file "$TMP/idp.port" --dir "$IDP_DIR" --tenant "$TENANT" \
    --audience "$AUD" --client-id "$CLIENT" --secret "$SECRET" --redirect "$REDIRECT" &
TEST_PIDS+=($!)
wait_for 20 test -s "$TMP/idp.port" || { echo "FAIL - the stand-in IdP did not start"; exit 1; }
IDP=http://127.0.0.1:$(cat "$TMP/idp.port")
ENTRA=(--entra-tenant-id "$TENANT" --entra-audience "$AUD" --entra-jwks-url "$IDP/keys"
       --entra-group-team-map "$GRED=red")
WEB=(--entra-client-id "$CLIENT" --entra-client-secret-file "$TMP/client_secret" --entra-redirect-url "$REDIRECT"
     --entra-scope "$AUD/Costs.Read" --entra-authorize-url "$IDP/authorize" --entra-token-url "$IDP/token")

# ---- bad configuration: one line naming the key, exit 2
cfgerr() { # cfgerr EXPECTED_LINE ARGS…
    local want=$1 out rc; shift
    out=$("$BIN/report/tally-report" --db "$DB" --listen 127.0.0.1:0 "$@" 2>&1); rc=$?
    assert_eq "2|$want" "$rc|$out" "config: $want"
}
cfgerr 'tally-report: "entra_client_id" needs entra_tenant_id and entra_audience' --entra-client-id "$CLIENT"
cfgerr 'tally-report: "entra_redirect_url" is required with entra_client_id' "${ENTRA[@]}" --entra-client-id "$CLIENT"
cfgerr 'tally-report: invalid value for "entra_token_url": an https:// URL (http:// only to localhost, 127.0.0.0/8 or [::1])' \
    "${ENTRA[@]}" --entra-client-id "$CLIENT" --entra-redirect-url "$REDIRECT" --entra-token-url http://idp.example.com/token
cfgerr 'tally-report: invalid value for "entra_redirect_url": an https:// URL (http:// only to localhost, 127.0.0.0/8 or [::1])' \
    "${ENTRA[@]}" --entra-client-id "$CLIENT" --entra-redirect-url http://tally.example.com/cb
out=$("$BIN/report/tally-report" --db "$DB" "${ENTRA[@]}" "${WEB[@]}" --check-config 2>&1)
assert_eq "0 entra_client_secret = ********" "$(grep -c "$SECRET" <<<"$out") $(grep -o '^entra_client_secret = [^ ]*' <<<"$out")" \
    "--check-config masks the client secret"

# ---- without entra_client_id: no button, /login/entra is a 404 page
report_start "${ENTRA[@]}"
GET /login >/dev/null
assert_eq "200 0" "$STATUS $(grep -c 'id="entra"' "$TMP/body")" "no entra_client_id: /login has no Microsoft button"
GET /login/entra >/dev/null
assert_eq "404 text/html; charset=utf-8" "$STATUS $(tr -d '\r' <"$TMP/h" | sed -n 's/^Content-Type: //Ip')" "no entra_client_id: /login/entra 404 page"
kill "$REPORT_PID"; wait "$REPORT_PID" 2>/dev/null

report_start "${ENTRA[@]}" "${WEB[@]}"
hdr() { tr -d '\r' <"$TMP/h" | sed -n "s/^$1: //Ip"; }
cookies() { hdr Set-Cookie | tr '\n' '|'; }
qparam() { "$PY" -c 'import sys, urllib.parse as u; print(dict(u.parse_qsl(u.urlsplit(sys.argv[1]).query)).get(sys.argv[2], ""))' "$@"; }

GET /login >/dev/null
assert_match '<a id="entra" href="/login/entra">Sign in with Microsoft</a>' "$(cat "$TMP/body")" "/login links to /login/entra"

# start: GET /login/entra; sets PENDING (the pre-session id) and AUTHZ (the authorize URL)
start() {
    GET /login/entra >/dev/null
    PENDING=$(hdr Set-Cookie | sed -n 's/^tally_signin=\([0-9a-f]\{64\}\);.*/\1/p')
    AUTHZ=$(hdr Location)
}
# authorize: the browser at the IdP; CALLBACK is the path and query it is sent back with
authorize() {
    STATUS=$(curl -s -o /dev/null -D "$TMP/h" -w '%{http_code}' "$AUTHZ")
    CALLBACK=$(hdr Location); CALLBACK=${CALLBACK#https://tally.example.com}
}
# callback [PATH_AND_QUERY]: back at tally-report with the pre-session cookie
callback() {
    GET "${1:-$CALLBACK}" "" -H "Cookie: tally_signin=$PENDING" >/dev/null
    SID=$(hdr Set-Cookie | sed -n 's/^tally_session=\([0-9a-f]\{64\}\);.*/\1/p')
}
signin() { start; authorize; callback; } # signin: the whole flow for the user of user.json

start
assert_eq 303 "$STATUS" "GET /login/entra: 303"
assert_match '^tally_signin=[0-9a-f]{64}; Path=/login/entra; Max-Age=600; HttpOnly; SameSite=Lax$' "$(hdr Set-Cookie)" \
    "the pre-session cookie: HttpOnly, SameSite=Lax, Path=/login/entra, 10 minutes"
assert_eq "$IDP/authorize" "${AUTHZ%%\?*}" "to the authorize endpoint"
assert_eq "code|$CLIENT|$REDIRECT|openid $AUD/Costs.Read|query|S256" \
    "$(for p in response_type client_id redirect_uri scope response_mode code_challenge_method; do qparam "$AUTHZ" $p; done | paste -sd'|')" \
    "authorize: response_type, client_id, redirect_uri, scope, response_mode, S256"
STATE=$(qparam "$AUTHZ" state); NONCE=$(qparam "$AUTHZ" nonce); CHALLENGE=$(qparam "$AUTHZ" code_challenge)
row=$(sql "SELECT state, nonce, code_verifier, expires_at - created_at FROM web_signins WHERE id_sha256 = encode(sha256('$PENDING'), 'hex')")
assert_eq "$STATE|$NONCE|00:10:00" "$(cut -d'|' -f1,2,4 <<<"$row")" "one pending sign-in, stored by the SHA-256 of its cookie, with the state and nonce sent"
assert_match '^[0-9a-f]{32}\|[0-9a-f]{32}\|[0-9a-f]{64}\|' "$row" "state, nonce 16 random bytes, verifier 32"
assert_eq "$CHALLENGE" "$("$PY" -c 'import sys,hashlib,base64; print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b"=").decode())' "$(cut -d'|' -f3 <<<"$row")")" \
    "code_challenge = base64url(SHA-256(the stored verifier)); the verifier never leaves the server but to /token"
authorize
assert_eq "302" "$STATUS" "the IdP accepts the authorize request"
assert_eq "$STATE" "$(qparam "https://x$CALLBACK" state)" "and sends the state back"
callback
assert_eq "200" "$STATUS" "callback: 200 (a page that refreshes to /)"
assert_match "^tally_session=[0-9a-f]{64}; Path=/; Max-Age=28800; HttpOnly; SameSite=Strict\|tally_signin=; Path=/login/entra; Max-Age=0; HttpOnly; SameSite=Lax\|$" \
    "$(cookies)" "the session cookie (Strict) set, the pre-session cookie cleared"
assert_match '<meta http-equiv="refresh" content="0; url=/">' "$(cat "$TMP/body")" "the page refreshes to / (a same-site navigation: the Strict cookie goes along)"
assert_eq "" "$(hdr Location)" "no Location: nothing in a URL"
ACCESS=$(cat "$IDP_DIR/access-1.jwt")
EXP=$("$PY" -c 'import sys,json,base64; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["exp"])' "$ACCESS")
assert_eq "developer||oid-alice|entra:oid-alice|t|t|0" \
    "$(sql "SELECT role, coalesce(team, ''), developer_oid, name, token_sha256 IS NULL, expires_at = to_timestamp($EXP),
                   (SELECT count(*) FROM web_signins) FROM web_sessions WHERE id_sha256 = encode(sha256('$SID'), 'hex')")" \
    "the session holds the Entra principal, no token; it ends at the token's exp; the pending sign-in is gone"

# the page: the principal's numbers exactly as /v1/costs gives them for its access token
page_check() { # page_check NAME TOTAL: the page of 2026-03 against the API for $ACCESS
    GET "/?month=2026-03" "" -H "Cookie: tally_session=$SID" >"$TMP/$1.html"
    assert_eq 200 "$STATUS" "$1: the page"
    "$PY" "$SRC/tests/integration/overview_check.py" "$TMP/$1.html" "$URL" "$ACCESS" 2026-03 UTC >"$TMP/check"
    assert_eq 0 $? "$1: the page's numbers are /v1/costs' for its access token"; cat "$TMP/check"
    assert_match "id=\"total\" data-usd=\"$2\"" "$(cat "$TMP/$1.html")" "$1: total $2, exactly"
}
page_check developer 0.157646
assert_eq 0 "$(grep -c 'carol\|blue' "$TMP/developer.html")" "developer: nothing of another team"
echo "{\"roles\": [\"Tally.Lead\"], \"oid\": \"oid-lead-red\", \"groups\": [\"$GRED\"]}" >"$IDP_DIR/user.json"
signin
ACCESS=$(cat "$IDP_DIR/access-2.jwt")
assert_eq "200 lead|red" "$STATUS $(sql "SELECT role || '|' || team FROM web_sessions WHERE id_sha256 = encode(sha256('$SID'), 'hex')")" \
    "lead by group: a session of team red"
page_check lead 0.1584224
assert_eq 0 "$(grep -c 'carol\|dave' "$TMP/lead.html")" "lead: nobody of another team"
echo '{"roles": ["Tally.Finance"], "oid": "oid-fin"}' >"$IDP_DIR/user.json"
signin
ACCESS=$(cat "$IDP_DIR/access-3.jwt")
page_check finance 1.9095234
FINSID=$SID

# ---- refusals
sessions() { sql "SELECT count(*) FROM web_sessions"; }
before=$(sessions)
start; authorize
GET "$CALLBACK" >/dev/null
assert_eq "400 " "$STATUS $(hdr Set-Cookie | grep tally_session)" "callback without the pre-session cookie: 400, no session"
start; authorize
callback "$(sed "s/state=[0-9a-f]*/state=$(printf '%032d' 0)/" <<<"$CALLBACK")"
assert_eq "400 " "$STATUS $SID" "a wrong state: 400, no session"
assert_match "The sign-in&#39;s state does not match|The sign-in's state does not match" "$(cat "$TMP/body")" "the 400 page says why"
assert_match "tally_signin=; Path=/login/entra; Max-Age=0" "$(cookies)" "and clears the pre-session cookie"
callback
assert_eq "400 " "$STATUS $SID" "the sign-in is used up by the attempt: the right state after it is refused too (400)"
start; authorize
sql "UPDATE web_signins SET code_verifier = repeat('0', 64)" >/dev/null
callback
assert_eq "401 " "$STATUS $SID" "a wrong code_verifier: the IdP refuses, 401 page, no session"
assert_match "the sign-in code was refused" "$(cat "$TMP/body")" "the 401 page says the code was refused"
assert_eq '"status": 400' "$(tail -n 1 "$IDP_DIR/requests.log" | grep -o '"status": 400')" "the IdP said invalid_grant (400)"
start; authorize; callback; USED=$CALLBACK
assert_eq 200 "$STATUS" "a good sign-in"
callback
assert_eq "400 " "$STATUS $SID" "the same callback replayed: 400 (its sign-in is taken)"
start
callback "$(sed "s/state=[0-9a-f]*/state=$(qparam "$AUTHZ" state)/" <<<"$USED")"
assert_eq "401 " "$STATUS $SID" "a used code replayed in a new sign-in: the IdP refuses it, 401"
touch "$IDP_DIR/deny"
start; authorize
assert_match '^/login/entra/callback\?state=[0-9a-f]{32}&error=access_denied' "$CALLBACK" "the IdP answers error="
callback
assert_eq "401 " "$STATUS $SID" "the IdP's error: 401 page, no session"
assert_match 'Microsoft did not sign you in \(access_denied\)' "$(cat "$TMP/body")" "the page names the IdP's error code"
rm "$IDP_DIR/deny"; touch "$IDP_DIR/bad-nonce"
start; authorize; callback
assert_eq "401 " "$STATUS $SID" "an id_token with another nonce: 401, no session"
assert_match 'the ID token does not match the sign-in' "$(cat "$TMP/body")" "the page says the ID token does not match"
rm "$IDP_DIR/bad-nonce"
echo '{"roles": ["Something.Else"]}' >"$IDP_DIR/user.json"
start; authorize; callback
assert_eq "401 " "$STATUS $SID" "an access token without a tally role: 401, no session"
assert_match 'no app role maps to a tally role' "$(cat "$TMP/body")" "the page names the failed check"
assert_eq "$((before + 1))" "$(sessions)" "only the one good sign-in among the refusals made a session"

# ---- nothing secret in a URL or the log
assert_eq "0 0" "$(grep -c "$SECRET" "$REPORT_LOG") $(grep -c 'code-\|eyJ' "$REPORT_LOG")" "no client secret, code or token in tally-report's log"
assert_eq 2 "$(grep -cF 'signed in name=\"entra:oid-fin\" role=finance (entra)' "$REPORT_LOG")" "each sign-in is logged by its principal"

# ---- logout ends an Entra session
STATUS=$(curl -s -o /dev/null -D "$TMP/h" -w '%{http_code}' -X POST -H "Cookie: tally_session=$FINSID" -H "Origin: $URL" "$URL/logout")
assert_eq "303 0" "$STATUS $(sql "SELECT count(*) FROM web_sessions WHERE id_sha256 = encode(sha256('$FINSID'), 'hex')")" "logout deletes the Entra session"
GET / "" -H "Cookie: tally_session=$FINSID" >/dev/null
assert_eq "303 /login" "$STATUS $(hdr Location)" "after logout the cookie opens nothing"

finish
