#!/usr/bin/env bash
# Hostile input against tally-report: bad dates, unknown group_by, injection strings in
# every parameter, ranges past 366 days, a 100 KB query string, invalid UTF-8 and
# percent-encoding, NUL bytes, HTTP versions other than 1.x, odd methods (HEAD is GET without
# a body) and paths, a slow client, clients trickling headers past the header deadline, a
# per-address cap. Every answer
# is a 4xx problem (or a timeout), never a 5xx but a busy server's 503, or a crash, and the
# server still serves afterwards.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
seed_fixture
report_start --request-timeout-s 2
FIN=$(report_token finance fin)
PLAT=$(report_token platform plat)
nprices=$(sql "SELECT count(*) FROM prices")

# expect STATUS PARAM PATH: a problem+json with that status naming that parameter
expect() {
    GET "$3" "$FIN" >/dev/null
    local ctype param
    ctype=$(sed -n 's/^Content-Type: \([^;\r]*\).*/\1/p' "$TMP/h")
    param=$(json "j.get('parameter', '')" 2>/dev/null)
    assert_eq "$1 application/problem+json $2" "$STATUS $ctype $param" "$3"
}
expect 400 from "/v1/costs?from=2026-02-30"
expect 400 to "/v1/costs?to=2026-13-01"
expect 400 from "/v1/costs?from=2026-03-01T10:07:00Z"   # off the rollups' 15-minute grid
expect 400 to "/v1/costs?from=2026-03-02&to=2026-03-01"
expect 400 from "/v1/costs?from=1e9"
expect 400 month "/v1/reports/monthly?month=2026-13"
expect 400 month "/v1/reports/monthly?month=2026-3"
expect 400 month "/v1/reports/monthly"
expect 400 group_by "/v1/costs?group_by=developer,salary"
expect 400 group_by "/v1/costs?group_by=developer,developer"
expect 400 format "/v1/costs?format=xlsx"
expect 400 tz "/v1/costs?tz=Europe%2FAtlantis"
expect 400 tz "/v1/costs?tz=UTC%2B5"
expect 400 foo "/v1/costs?foo=bar"
expect 400 team "/v1/costs?team=a&team=b"
expect 400 month "/v1/costs?month=2026-03"
expect 400 team "/v1/costs?team=%ff%fe"
expect 400 team "/v1/costs?team=%c0%af"
expect 400 team "/v1/costs?team=%zz"
expect 400 team "/v1/costs?team=abc%"
expect 400 team "/v1/costs?team=a%00b"
expect 400 team "/v1/costs?team=a%0d%0aSet-Cookie:x"
expect 400 price_book "/v1/costs?price_book=nope"
# ranges past 366 days: refused at once, not run to the statement timeout (a 503 that
# held a pool connection for request_timeout_s)
t0=$(date +%s%N)
expect 400 to "/v1/costs?from=1900-01-01&to=9999-12-01&group_by=day"
assert_eq 1 "$(( ($(date +%s%N) - t0) < 1000000000 ))" "a centuries-long range is refused within 1 s"
assert_match 'longer than 366 days' "$(json "j['detail']")" "the detail names the limit"
expect 400 to "/v1/costs?from=2027-01-01&to=2028-01-03"   # 367 days
expect 400 to "/v1/costs?from=2026-01-01T00:00:00Z&to=2027-01-02T00:15:00Z" # 366 days and 15 minutes
expect 400 to "/v1/usage/unpriced?from=2000-01-01&to=2026-01-01"
GET "/v1/costs?from=2028-01-01&to=2029-01-01&group_by=day" "$FIN" >/dev/null   # a leap year: 366 days
assert_eq 200 "$STATUS" "a range of exactly 366 days is served"
GET "/v1/costs?from=2026-01-01T00:00:00Z&to=2027-01-02T00:00:00Z&tz=Asia%2FKathmandu" "$FIN" >/dev/null
assert_eq 200 "$STATUS" "366 days as instants in a +05:45 zone are served"

# injection strings in every parameter: validated ones are refused, free-text filters
# are bound values that match nothing
INJ=("' OR '1'='1" "1; DROP TABLE prices;--" "\"); SELECT pg_sleep(10);--" "%' UNION SELECT token_sha256 FROM api_tokens--")
enc() { "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
for v in "${INJ[@]}"; do
    e=$(enc "$v")
    for p in from to tz group_by format price_book; do
        expect 400 "$p" "/v1/costs?$p=$e"
    done
    expect 400 month "/v1/reports/monthly?month=$e"
    for p in developer team model deployment; do
        GET "/v1/costs?from=2026-03-01&to=2026-04-01&$p=$e" "$FIN" >/dev/null
        assert_eq "200 0" "$STATUS $(json "len(j['rows'])")" "/v1/costs?$p=$v matches nothing"
    done
done
assert_eq "$nprices" "$(sql "SELECT count(*) FROM prices")" "prices untouched"

# sizes
long=$(head -c 100000 /dev/zero | tr '\0' a)
expect 414 "" "/v1/costs?team=$long"
expect 400 team "/v1/costs?team=$(head -c 300 /dev/zero | tr '\0' a)"
printf 'X-Big: %s\r\n' "$(head -c 300000 /dev/zero | tr '\0' a)" >"$TMP/bighdr"
GET /healthz "" -H "@$TMP/bighdr" >/dev/null
assert_eq 431 "$STATUS" "a 300 KB header: 431 (from libmicrohttpd)"

# methods and paths
GET /v1/costs "$FIN" -X POST -d 'x=1' >/dev/null
assert_eq 405 "$STATUS" "POST /v1/costs: 405"
assert_match 'Allow: GET' "$(cat "$TMP/h")" "405 says Allow: GET"
for m in PUT DELETE PATCH OPTIONS; do
    GET /v1/costs "$FIN" -X "$m" >/dev/null
    assert_eq 405 "$STATUS" "$m /v1/costs: 405"
done
# HEAD is GET without a body, streamed CSV and JSON alike (raw bytes: curl -I would not tell)
head_req() { # head_req PATH: the status line, the Content-Type and the bytes after the headers
    "$PY" - "$URL" "$1" "$FIN" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=10)
s.sendall(('HEAD %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n'
           % (sys.argv[2], sys.argv[3])).encode())
data = b''
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
head, _, rest = data.partition(b'\r\n\r\n')
lines = head.decode().split('\r\n')
ctype = [l.split(':', 1)[1].strip() for l in lines if l.lower().startswith('content-type:')]
print(lines[0].split(' ')[1], ctype[0] if ctype else '-', len(rest))
PY
}
assert_eq "200 application/json 0" "$(head_req '/v1/costs?from=2026-03-01&to=2026-04-01')" "HEAD /v1/costs: 200, no body"
assert_eq "200 text/csv; charset=utf-8; header=present 0" "$(head_req '/v1/reports/monthly?month=2026-03&format=csv')" "HEAD of a CSV: 200, no body"
assert_eq "400 application/problem+json 0" "$(head_req '/v1/costs?from=2026-02-30')" "HEAD with bad input: 400, no body"
assert_eq "200 text/plain; version=0.0.4; charset=utf-8 0" "$(head_req /metrics)" "HEAD /metrics: 200, no body"
GET /v1/costs "$FIN" -X POST -d 'x=1' >/dev/null
assert_match 'Allow: GET, HEAD' "$(cat "$TMP/h")" "405 says Allow: GET, HEAD"
for p in /v1/costs/ /v1/../etc/passwd /V1/COSTS /v1/costs%00 /v2/costs // /index.html; do
    GET "$p" "$FIN" --path-as-is >/dev/null
    assert_eq 404 "$STATUS" "GET $p: 404"
done
GET "/v1/costs?from=2026-03-01&to=2026-04-01" "$FIN" -X POST -H 'Content-Type: application/json' \
    --data-binary "@$TMP/body" >/dev/null
assert_eq 405 "$STATUS" "a body on a GET route: 405"

# raw bytes no client would send: unencoded 0xff, a NUL, a bare LF, garbage
rawfull() { # rawfull BYTES: the whole answer's status, Content-Type and body
    "$PY" - "$URL" "$1" <<'PY'
import json, socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=10)
s.sendall(sys.argv[2].encode('utf-8', 'surrogateescape').decode('unicode_escape').encode('latin-1'))
data = b''
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except (socket.timeout, ConnectionResetError):
    pass
head, _, body = data.partition(b'\r\n\r\n')
lines = head.decode('latin-1').split('\r\n')
ctype = [l.split(':', 1)[1].strip() for l in lines if l.lower().startswith('content-type:')]
st = lines[0].split(' ')[1] if len(lines[0].split(' ')) > 1 else 'closed'
try:
    detail = json.loads(body).get('detail', '') if ctype and 'json' in ctype[0] else ''
except ValueError:
    detail = ''
print(st, ctype[0] if ctype else '-', detail)
PY
}
raw() { rawfull "$1" | cut -d' ' -f1; } # raw BYTES: the status of the answer, or "closed"
for r in 'GET /v1/costs?team=\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
         'GET /v1/costs?team=a\x00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
         'GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n' \
         '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' \
         'BREW /coffee HTCPCP/1.0\r\n\r\n'; do
    st=$(raw "$r")
    assert_match '^(4[0-9][0-9]|200|closed)$' "$st" "raw request ${r:0:30}…: $st"
done
# HTTP versions libmicrohttpd does not serve (it answers 505 before any callback): tally-report
# reads the request line first and answers 400 problem+json; 1.x versions are served
for v in HTTP/2.0 HTTP/9.9 HTTP/0.9 HTTP/3.0; do
    assert_eq "400 application/problem+json HTTP version $v is not supported: use HTTP/1.1" \
        "$(rawfull "GET /healthz $v\r\nHost: x\r\n\r\n")" "request line with $v: 400 problem+json"
done
assert_eq "400 application/problem+json HTTP version HTTP/2.0 is not supported: use HTTP/1.1" \
    "$(rawfull "\r\n\r\nGET /v1/costs?from=2026-03-01 HTTP/2.0\nHost: x\n\n")" \
    "HTTP/2.0 after empty lines, with bare LF: 400"
assert_eq "200 application/json" "$(rawfull "GET /healthz HTTP/1.0\r\n\r\n" | cut -d' ' -f1-2)" "HTTP/1.0 is served"
assert_eq "200 application/json" "$(rawfull "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" | cut -d' ' -f1-2)" "HTTP/1.1 is served"
assert_eq "414 application/problem+json the request line is longer than 16384 bytes" \
    "$(rawfull "GET /v1/costs?team=$(head -c 20000 /dev/zero | tr '\0' a) HTTP/2.0\r\nHost: x\r\n\r\n")" \
    "a 20 KB request line with HTTP/2.0: 414, not 505"

# a slow client: the headers byte by byte, then a stall; the server times it out
slow=$("$PY" - "$URL" <<'PY'
import socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=15)
t0 = time.time()
for c in b'GET /v1/costs HTTP/1.1\r\nHost: x\r\nX-Slow: 1':
    s.send(bytes([c]))
    time.sleep(0.01)
data = b''
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
except (socket.timeout, ConnectionResetError):
    print('no timeout')
    sys.exit()
line = data.split(b'\r\n', 1)[0].split(b' ')
print('closed' if len(line) < 2 else line[1].decode(), int(time.time() - t0 < 12))
PY
)
assert_match '^(closed|408|4[0-9][0-9]) 1$' "$slow" "a stalled slow client is cut off by the 2 s timeout"

# token counts whose total passes 2^63: two developers' rollups of 5e18 input tokens each
# (each fits a bigint, the sum does not); the totals are exact, not wrapped or aborted on
sql "SELECT tally_ensure_months('2026-05-01', '2026-05-02');
     INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, long_context, prompt_band,
         requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,
         cache_write_1h_tokens, cache_write_unsplit_tokens)
     VALUES ('2026-05-01 10:00+00', 'oid-alice', 'claude-sonnet-4-6', 'sonnet', false, 100, 1,
             5000000000000000000, 0, 0, 0, 0, 0),
            ('2026-05-01 10:00+00', 'oid-carol', 'claude-sonnet-4-6', 'sonnet', false, 100, 1,
             5000000000000000000, 0, 0, 0, 0, 0);
     INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, long_context, prompt_band,
         requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,
         cache_write_1h_tokens, cache_write_unsplit_tokens)
     SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, long_context,
            prompt_band, requests, input_tokens, output_tokens, cache_read_tokens,
            cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens
       FROM usage_rollup_15m WHERE bucket >= '2026-05-01'" >/dev/null
GET "/v1/costs?from=2026-05-01&to=2026-05-02&group_by=developer" "$FIN" >/dev/null
assert_eq "200 [5000000000000000000, 5000000000000000000] 10000000000000000000 2" \
    "$STATUS $(json "[r['input_tokens'] for r in j['rows']]") $(json "j['totals']['input_tokens']") $(json "j['totals']['requests']")" \
    "input tokens summed past 2^63: exact totals"

# slow clients: max_connections of them trickling a header byte each second hold every
# slot; /healthz and /readyz still get through on the reserved connections, and every
# trickler is cut at the 3 s header deadline (the idle timeout never fires: bytes keep coming)
SLOW_PY='
import socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); n = int(sys.argv[2]); out = open(sys.argv[3], "w")
socks = [socket.create_connection((u.hostname, u.port), timeout=1) for _ in range(n)]
t0 = time.time(); cut = {}
msg = b"GET /v1/costs HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 64
for i in range(len(msg)):
    if time.time() - t0 > 9 or len(cut) == n:
        break  # stops by itself: past 9 s the server never cut it
    for k, s in enumerate(socks):
        if k in cut:
            continue
        try:
            s.send(msg[i:i + 1])
            s.settimeout(0.01)
            if s.recv(4096) == b"":
                cut[k] = time.time() - t0
        except socket.timeout:
            pass
        except OSError:
            cut[k] = time.time() - t0
    if i == 0:
        print("open", file=out, flush=True)
    time.sleep(1)
print(" ".join("cut" if k in cut and 2 <= cut[k] < 8 else "held" for k in range(n)), file=out, flush=True)
'
REPORT_PID_MAIN=$REPORT_PID URL_MAIN=$URL
report_start --max-connections 4 --header-timeout-s 3
"$PY" -c "$SLOW_PY" "$URL" 4 "$TMP/slow.out" &
slow_pid=$!
until grep -q open "$TMP/slow.out" 2>/dev/null || ! kill -0 $slow_pid 2>/dev/null; do sleep 0.1; done
GET /healthz >/dev/null
assert_eq 200 "$STATUS" "/healthz served while slow clients hold every connection"
GET /readyz >/dev/null
assert_eq 200 "$STATUS" "/readyz served while slow clients hold every connection"
GET "/v1/costs?from=2026-03-01&to=2026-04-01" "$FIN" >/dev/null
assert_eq "503 application/problem+json" "$STATUS $(sed -n 's/^Content-Type: \([^;\r]*\).*/\1/p' "$TMP/h")" \
    "a reserved connection serves only the probes: 503"
wait $slow_pid
assert_eq "cut cut cut cut" "$(tail -n 1 "$TMP/slow.out")" "every slow client cut at the header deadline"
# the clients see the cut before the server's threads have closed: wait for that, bounded
for _ in $(seq 50); do
    GET "/v1/costs?from=2026-03-01&to=2026-04-01" "$FIN" >/dev/null
    [ "$STATUS" = 503 ] || break
    sleep 0.1
done
assert_eq 200 "$STATUS" "served again once the slow clients are gone"
GET /metrics >"$TMP/metrics"
assert_match 'tally_http_header_timeouts_total 4' "$(cat "$TMP/metrics")" "four header timeouts counted"
kill "$REPORT_PID"; wait "$REPORT_PID" 2>/dev/null

# a per-address cap (off by default): the third connection from 127.0.0.1 is closed at once
report_start --max-connections-per-address 2
percap=$("$PY" - "$URL" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
socks = [socket.create_connection((u.hostname, u.port), timeout=5) for _ in range(3)]
socks[0].send(b"G"); socks[1].send(b"G")
try:
    third = "closed" if socks[2].recv(1) == b"" else "open"
except socket.timeout:
    third = "open"
except ConnectionResetError:
    third = "closed"
socks[0].sendall(b"ET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
first = socks[0].recv(64).split(b" ")[1].decode()
print(first, third)
PY
)
assert_eq "200 closed" "$percap" "per-address cap: two served, the third closed"
kill "$REPORT_PID"; wait "$REPORT_PID" 2>/dev/null
REPORT_PID=$REPORT_PID_MAIN URL=$URL_MAIN

# the server is alive and never answered 5xx
GET /healthz >/dev/null
assert_eq 200 "$STATUS" "still serving after the abuse"
kill -0 "$REPORT_PID"
assert_eq 0 $? "the process is alive"
GET "/v1/reports/monthly?month=2026-03&format=csv&layout=1" "$FIN" >"$TMP/m.csv"
assert_eq "$(sha256sum <"$SRC/tests/fixtures/reports/monthly-2026-03-utc.csv")" "$(sha256sum <"$TMP/m.csv")" \
    "reports unchanged after the abuse"
GET /metrics >"$TMP/metrics"
assert_eq "" "$(grep -E 'tally_http_requests_total\{.*status="5' "$TMP/metrics")" "no 5xx in /metrics"
finish
