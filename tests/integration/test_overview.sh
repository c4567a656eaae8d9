#!/usr/bin/env bash
# The overview page at / (report/routes/overview.c, login.c): sign-in with a token posted
# from the form into an HttpOnly, SameSite=Strict session cookie stored hashed; no cookie
# means a redirect to /login; Origin-checked POSTs; bad month/tz are 400 problem+json; the
# numbers on the page equal the API's for the same caller, month and zone, for every role
# (a developer's page shows its own numbers only); and headless Chromium (Debian's
# chromium) signs in through the form, renders the page at 1280x800 without loading
# anything from elsewhere, and the DOM's numbers equal the API's.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
seed_fixture
# ingest progress and a gap inside 2026-03 (the 5 lost messages make the month incomplete)
sql "INSERT INTO ingest_offsets (consumer_group, topic, partition, next_offset, updated_at, last_event_at)
     VALUES ('tally', 'usage', 0, 42, '2026-03-31T23:59:30Z', '2026-03-31T23:59:00Z')" >/dev/null
sql "INSERT INTO ingest_gaps (consumer_group, topic, partition, first_offset, last_offset, detected_at,
                              last_event_before, first_event_after)
     VALUES ('tally', 'usage', 0, 10, 14, '2026-03-20T00:00:00Z', '2026-03-19T10:00:00Z', '2026-03-20T00:00:00Z')" >/dev/null
# usage in the current month (quotas measure the current period): half way through it
sql "INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model, deployment,
                               input_tokens, output_tokens)
     SELECT 'now1', m + (m + interval '1 month' - m) / 2, 1, 'oid-alice', 'claude-sonnet-4-6', 'sonnet', 1000, 500
       FROM date_trunc('month', now(), 'UTC') m" >/dev/null
seed_rollups
report_start
FIN=$(report_token finance fin)
LEAD=$(report_token lead lead-red --team red)
DEV=$(report_token developer dev-alice --developer oid-alice)
PLAT=$(report_token platform plat)
for q in '{"name": "red-monthly", "scope": "team", "subject": "red", "metric": "tokens", "period": "month", "limit": "2000"}' \
         '{"name": "carol-daily", "scope": "developer", "subject": "oid-carol", "metric": "tokens", "period": "day", "limit": "100"}'; do
    STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $PLAT" \
             -H 'Content-Type: application/json' --data-binary "$q" "$URL/v1/quotas")
    assert_eq 201 "$STATUS" "quota created"
done

hdr() { tr -d '\r' <"$TMP/h" | sed -n "s/^$1: //Ip"; }
# POST_FORM PATH BODY [CURL ARGS…]: status in $STATUS, headers in $TMP/h
POST_FORM() {
    local path=$1 body=$2; shift 2
    STATUS=$(curl -s -o "$TMP/body" -D "$TMP/h" -w '%{http_code}' --data-binary "$body" "$@" "$URL$path")
}
CSP="default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

# ---- no session: to the sign-in form
GET / >/dev/null
assert_eq "303 /login" "$STATUS $(hdr Location)" "GET / without a cookie: 303 to /login"
GET "/?month=2026-03" "" -H "Cookie: tally_session=$(printf '%064d' 0)" >/dev/null
assert_eq "303 /login" "$STATUS $(hdr Location)" "an unknown session: 303 to /login"
GET "/" "$FIN" >/dev/null
assert_eq "303 /login" "$STATUS $(hdr Location)" "a bearer token is no session: the page is for browsers"
GET /login >/dev/null
assert_eq "200 text/html; charset=utf-8" "$STATUS $(hdr Content-Type)" "GET /login: the form"
assert_eq "$CSP" "$(hdr Content-Security-Policy)" "the form's Content-Security-Policy forbids every load"
assert_match '<form class="login" method="post" action="/login">' "$(cat "$TMP/body")" "the form posts to /login"

# ---- sign-in: Origin checked, bad token 401, good token a cookie
POST_FORM /login "token=$FIN"
assert_eq "403 " "$STATUS $(hdr Set-Cookie)" "POST /login without Origin: 403, no cookie"
POST_FORM /login "token=$FIN" -H "Origin: http://evil.example"
assert_eq "403 " "$STATUS $(hdr Set-Cookie)" "POST /login from another origin: 403, no cookie"
POST_FORM /login "token=tt_$(printf '%064d' 0)" -H "Origin: $URL"
assert_eq "401 text/html; charset=utf-8 " "$STATUS $(hdr Content-Type) $(hdr Set-Cookie)" "a bad token: 401 page, no cookie"
assert_match 'Unknown or revoked token' "$(cat "$TMP/body")" "the 401 page says why"
POST_FORM /login "nothing=here" -H "Origin: $URL"
assert_eq 400 "$STATUS" "a form without a token: 400"
assert_eq 0 "$(sql 'SELECT count(*) FROM web_sessions')" "no session from refused sign-ins"

# login TOKEN [CURL ARGS…]: signs in from the server's own origin; the session id in $SID_NEW
login() {
    local tok=$1; shift
    POST_FORM /login "token=$("$PY" -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$tok")" -H "Origin: $URL" "$@"
    SID_NEW=$(hdr Set-Cookie | sed -n 's/^tally_session=\([0-9a-f]\{64\}\);.*/\1/p')
}
login "$FIN"; SID=$SID_NEW
assert_eq "303 /" "$STATUS $(hdr Location)" "a good token: 303 to /"
assert_match '^tally_session=[0-9a-f]{64}; Path=/; Max-Age=28800; HttpOnly; SameSite=Strict$' "$(hdr Set-Cookie)" \
    "the cookie: HttpOnly, SameSite=Strict, Path=/, no Secure over http"
assert_eq "1 1 0" "$(sql "SELECT count(*), count(*) FILTER (WHERE id_sha256 = encode(sha256('$SID'), 'hex')),
                                count(*) FILTER (WHERE id_sha256 = '$SID' OR token_sha256 = '$FIN') FROM web_sessions" | tr '|' ' ')" \
    "one session, stored as the SHA-256 of its id; neither the id nor the token stored"
COOKIE="Cookie: tally_session=$SID"

# ---- the page
GET "/?month=2026-03" "" -H "$COOKIE" >/dev/null
assert_eq "200 text/html; charset=utf-8" "$STATUS $(hdr Content-Type)" "GET / signed in: 200 HTML"
assert_eq "$CSP" "$(hdr Content-Security-Policy)" "the page's Content-Security-Policy forbids every load"
cp "$TMP/body" "$TMP/fin.html"
assert_eq 0 "$(grep -c '<script\|src=\|<link' "$TMP/fin.html")" "no script, no external asset"
assert_eq '1.9095234|blue=1.75033 red=0.1584224 =0.000771' \
    "$("$PY" - "$TMP/fin.html" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
sec = s[s.index('id="teams"'):s.index('id="models"')]
print(re.search(r'id="total" data-usd="([^"]*)"', s).group(1) + "|" +
      " ".join(k + "=" + v for k, v in re.findall(r'data-key="([^"]*)" data-usd="([^"]*)"', sec)))
PY
)" "finance, 2026-03: the total and the teams, exactly"
assert_match 'id="gaps" class="warn" data-gaps="1" data-lost="5"' "$(cat "$TMP/fin.html")" "the month is marked incomplete: 1 gap, 5 lost"
assert_match 'data-key="tally/usage/0" data-next-offset="42"' "$(cat "$TMP/fin.html")" "ingest progress per partition"
"$PY" "$SRC/tests/integration/overview_check.py" "$TMP/fin.html" "$URL" "$FIN" 2026-03 UTC >"$TMP/check"
assert_eq 0 $? "finance: the page's numbers are the API's"; cat "$TMP/check"

GET "/?month=2026-03&tz=Asia/Kolkata" "" -H "$COOKIE" >"$TMP/fin-kolkata.html"
"$PY" "$SRC/tests/integration/overview_check.py" "$TMP/fin-kolkata.html" "$URL" "$FIN" 2026-03 Asia/Kolkata >"$TMP/check"
assert_eq 0 $? "finance, Asia/Kolkata: the page's numbers are the API's"; cat "$TMP/check"

# ---- bad parameters: 400 problem+json, as the API's
for q in "month=2026-13 month" "tz=Mars/Base tz" "month=2026-3 month" "token=$FIN token"; do
    read -r qs param <<<"$q"
    GET "/?$qs" "" -H "$COOKIE" >/dev/null
    assert_eq "400 application/problem+json $param" "$STATUS $(hdr Content-Type) $(json 'j.get("parameter", "")')" "/?${qs%%=*}=…: 400 naming $param"
done

# ---- roles: a developer sees its own numbers, a lead its team's, as the API scopes them
login "$DEV"; DSID=$SID_NEW
GET "/?month=2026-03" "" -H "Cookie: tally_session=$DSID" >"$TMP/dev.html"
"$PY" "$SRC/tests/integration/overview_check.py" "$TMP/dev.html" "$URL" "$DEV" 2026-03 UTC >"$TMP/check"
assert_eq 0 $? "developer: the page's numbers are the API's"; cat "$TMP/check"
assert_eq "oid-alice" "$(grep -o '<tr data-key="[^"]*" data-usd' "$TMP/dev.html" | sed 's/<tr data-key="\([^"]*\)".*/\1/' | sort -u | tr '\n' ' ' | xargs)" \
    "developer: only its own row among the developers"
assert_match 'id="total" data-usd="0.157646"' "$(cat "$TMP/dev.html")" "developer: its own total, exactly"
assert_eq 0 "$(grep -c 'carol\|blue\|mystery-model' "$TMP/dev.html")" "developer: nothing of another team"
login "$LEAD"; LSID=$SID_NEW
GET "/?month=2026-03" "" -H "Cookie: tally_session=$LSID" >"$TMP/lead.html"
"$PY" "$SRC/tests/integration/overview_check.py" "$TMP/lead.html" "$URL" "$LEAD" 2026-03 UTC >"$TMP/check"
assert_eq 0 $? "lead: the page's numbers are the API's"; cat "$TMP/check"
assert_eq 0 "$(grep -c 'carol\|dave' "$TMP/lead.html")" "lead: nobody of another team"
assert_match 'data-key="[0-9]+" data-used="1500" data-limit="2000"' "$(cat "$TMP/lead.html")" "lead: its team's quota, used 1500 of 2000 tokens"

# ---- sessions end: logout, revoked token, expiry
POST_FORM /logout "" -H "Cookie: tally_session=$DSID"
assert_eq 403 "$STATUS" "POST /logout without Origin: 403"
POST_FORM /logout "" -H "Cookie: tally_session=$DSID" -H "Origin: $URL"
assert_eq "303 /login tally_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" "$STATUS $(hdr Location) $(hdr Set-Cookie)" \
    "logout: 303 to /login, the cookie cleared"
GET / "" -H "Cookie: tally_session=$DSID" >/dev/null
assert_eq 303 "$STATUS" "after logout the old cookie opens nothing"
"$BIN/ctl/tallyctl" --db "$DB" tokens revoke lead-red >/dev/null 2>&1
GET / "" -H "Cookie: tally_session=$LSID" >/dev/null
assert_eq 303 "$STATUS" "revoking the token ends its sessions"
sql "UPDATE web_sessions SET expires_at = now() - interval '1 second' WHERE id_sha256 = encode(sha256('$SID'), 'hex')" >/dev/null
GET / "" -H "$COOKIE" >/dev/null
assert_eq 303 "$STATUS" "an expired session opens nothing"

# ---- headless Chromium: sign in through the form, the page at 1280x800, the DOM's numbers
if ! "$PY" "$SRC/tests/integration/overview_browser.py" "$URL" "$FIN" 2026-03 UTC "$TMP" >"$TMP/browser.json" 2>"$TMP/browser.err"; then
    echo "FAIL - chromium: $(cat "$TMP/browser.err")"; tail -20 "$TMP/chromium.log"; FAILS=$((FAILS + 1))
else
    b() { "$PY" -c "import json; j=json.load(open('$TMP/browser.json')); print($1)"; }
    assert_eq "/" "$(b 'j["after_login"]')" "chromium: the form signs in and lands on /"
    assert_eq "tally_session / True Strict False" \
        "$(b '" ".join(str(c[k]) for c in j["cookies"] if c["name"] == "tally_session" for k in ("name", "path", "httpOnly", "sameSite", "secure"))')" \
        "chromium holds the session cookie HttpOnly, SameSite=Strict"
    assert_eq "$URL/?month=2026-03&tz=UTC" "$(b 'j["final"]')" "chromium: the page of 2026-03"
    assert_eq "" "$(b '" ".join(u for u in j["requested"] if not u.startswith(("'"$URL"'/", "data:")))')" "chromium loaded nothing from elsewhere (data: URLs are its own form controls)"
    assert_eq "" "$(b '" | ".join(j["log"])')" "no console or CSP message"
    assert_eq "1280x800" "$("$PY" -c "import struct; d=open('$TMP/overview.png','rb').read(24); assert d[:8]==b'\x89PNG\r\n\x1a\n'; print('%dx%d' % struct.unpack('>II', d[16:24]))")" \
        "the screenshot is a 1280x800 PNG"
    assert_eq yes "$([ "$(stat -c %s "$TMP/overview.png")" -gt 20000 ] && echo yes || echo no)" "the screenshot is not blank ($(stat -c %s "$TMP/overview.png") bytes)"
    "$PY" "$SRC/tests/integration/overview_check.py" "$TMP/dom.html" "$URL" "$FIN" 2026-03 UTC >"$TMP/check"
    assert_eq 0 $? "chromium's DOM: the numbers are the API's"; cat "$TMP/check"
    [ -n "${TALLY_OVERVIEW_SHOT:-}" ] && cp "$TMP/overview.png" "$TALLY_OVERVIEW_SHOT"
fi
# ---- Secure when configured
kill "$REPORT_PID"; wait "$REPORT_PID" 2>/dev/null
report_start --cookie-secure true --session-ttl-s 600
login "$FIN"
assert_match '^tally_session=[0-9a-f]{64}; Path=/; Max-Age=600; HttpOnly; SameSite=Strict; Secure$' "$(hdr Set-Cookie)" \
    "cookie_secure=true: Secure; session_ttl_s sets Max-Age"

finish
