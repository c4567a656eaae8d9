#!/usr/bin/env bash
# tally-ingest auth=oauth against a local Entra ID / IMDS stand-in (oauth_server.py, tokens
# valid 6 s): client credentials (secret from a file), workload identity (AZURE_* variables,
# federated token file rotated mid-run), managed identity (IMDS) and a refused secret.
# Asserts the exact requests the daemon made, that it handed every token to librdkafka,
# that it asked for the next one before the last expired, that a refused secret is retried
# with backoff, and that no secret, assertion or token reaches the log.
#
# Not covered: consuming with the token. librdkafka 2.0.2's mock broker does not implement
# SaslHandshake, so the daemon never authenticates to it; librdkafka still runs the token
# refresh callback on schedule, which is what is tested here.
source "$(dirname "$0")/../lib.sh"
need_env
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 1 --partitions 1 --topic oauth
ING=$BIN/ingest/tally-ingest

SECRET="s3cr3t-$RANDOM$RANDOM-value"
printf '%s\n' "$SECRET" >"$TMP/secret"
ASSERTION1="eyJhbGciOiJSUzI1NiJ9.federated-one-$RANDOM.c2ln"
ASSERTION2="eyJhbGciOiJSUzI1NiJ9.federated-two-$RANDOM.c2ln"
printf '%s\n' "$ASSERTION1" >"$TMP/fedtoken"
python3 "$SRC/tests/integration/oauth_server.py" --port-file "$TMP/port" --log "$TMP/requests.jsonl" \
    --expires-in 6 --secret "$SECRET" --assertion-file "$TMP/fedtoken" &
TEST_PIDS+=($!)
wait_for 10 test -s "$TMP/port" || { echo "FAIL - token server did not start"; exit 1; }
URL=http://127.0.0.1:$(cat "$TMP/port")

# run SECONDS LOG [ARGS…]: tally-ingest with auth=oauth for SECONDS, then SIGTERM
run() {
    local secs=$1 log=$2 pid
    shift 2
    : >"$TMP/requests.jsonl"
    "$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic oauth --group oauth --metrics-listen "" \
        --auth oauth -X security.protocol=SASL_PLAINTEXT "$@" 2>"$log" &
    pid=$!
    TEST_PIDS+=($pid)
    sleep "$secs"
    kill -TERM $pid 2>/dev/null
    wait_for 20 bash -c "! kill -0 $pid 2>/dev/null" || kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
}

# req EXPR: one line per recorded request, EXPR evaluated in Python over r (the request)
req() {
    python3 -c 'import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(eval(sys.argv[2]))' "$TMP/requests.jsonl" "$1"
}
count() { wc -l <"$TMP/requests.jsonl" | tr -d ' '; }
uniq_of() { req "$1" | sort -u | tr '\n' ' ' | sed 's/ $//'; }

# the gap between the first two requests, in milliseconds
first_gap_ms() {
    python3 -c 'import json, sys
t = [json.loads(l)["time"] for l in open(sys.argv[1])]
print(int((t[1] - t[0]) * 1000) if len(t) > 1 else -1)' "$TMP/requests.jsonl"
}

no_secrets() { # no_secrets LOG WHAT STRING…
    local log=$1 what=$2 s
    shift 2
    for s in "$@"; do
        if grep -qF -- "$s" "$log"; then
            echo "FAIL - $what: a secret appears in the log"
            FAILS=$((FAILS + 1))
            return
        fi
    done
    echo "ok - $what: no secret, assertion or token in the log"
}

# ---- client credentials: secret from a file, endpoint given whole, default scope ----
run 11 "$TMP/cc.log" --oauth-mode client-credentials --oauth-tenant-id tenant-1 \
    --oauth-client-id app-1 --oauth-client-secret-file "$TMP/secret" \
    --oauth-token-endpoint "$URL/tenant-1/oauth2/v2.0/token"
n=$(count)
assert_match '^[23]$' "$n" "client credentials: a token at start and refreshes every ~4.8 s (6 s tokens)"
assert_eq "POST /tenant-1/oauth2/v2.0/token" "$(uniq_of 'r["method"] + " " + r["path"]')" \
    "client credentials: POST to the token endpoint"
assert_eq "client_credentials app-1 https://127.0.0.1/.default" \
    "$(uniq_of 'r["form"].get("grant_type") + " " + r["form"].get("client_id") + " " + r["form"].get("scope")')" \
    "client credentials: grant type, client id, scope of the namespace"
assert_eq "$SECRET" "$(uniq_of 'r["form"].get("client_secret")')" "client credentials: the secret from the file"
assert_eq "application/x-www-form-urlencoded" "$(uniq_of 'r["headers"].get("content-type")')" \
    "client credentials: form-encoded body"
gap=$(first_gap_ms)
assert_match '^(3[5-9]|4[0-9]|5[0-8])[0-9][0-9]$' "$gap" \
    "client credentials: refreshed ${gap} ms after the first token, before it expired at 6000 ms"
assert_eq "$n" "$(grep -c 'oauth token set mode=client-credentials principal=app-1' "$TMP/cc.log")" \
    "client credentials: every token handed to librdkafka"
no_secrets "$TMP/cc.log" "client credentials" "$SECRET" tok-1 tok-2 tok-3

# ---- workload identity: AZURE_* variables, authority + tenant, file rotated mid-run ----
(sleep 2 && printf '%s\n' "$ASSERTION2" >"$TMP/fedtoken.new" && mv "$TMP/fedtoken.new" "$TMP/fedtoken") &
AZURE_CLIENT_ID=wi-app AZURE_TENANT_ID=tenant-wi AZURE_FEDERATED_TOKEN_FILE="$TMP/fedtoken" \
    AZURE_AUTHORITY_HOST="$URL/" \
    run 7 "$TMP/wi.log" --oauth-mode workload-identity \
    --oauth-scope https://contoso.servicebus.windows.net/.default
n=$(count)
assert_match '^[23]$' "$n" "workload identity: a token at start and a refresh"
assert_eq "POST /tenant-wi/oauth2/v2.0/token" "$(uniq_of 'r["method"] + " " + r["path"]')" \
    "workload identity: AZURE_AUTHORITY_HOST and AZURE_TENANT_ID make the endpoint"
assert_eq "client_credentials wi-app https://contoso.servicebus.windows.net/.default urn:ietf:params:oauth:client-assertion-type:jwt-bearer False" \
    "$(uniq_of 'r["form"].get("grant_type") + " " + r["form"].get("client_id") + " " + r["form"].get("scope") + " " + r["form"].get("client_assertion_type") + " " + str("client_secret" in r["form"])')" \
    "workload identity: client id from AZURE_CLIENT_ID, jwt-bearer assertion, no secret"
assert_eq "$ASSERTION1" "$(req 'r["form"].get("client_assertion")' | head -1)" \
    "workload identity: first assertion = the file's contents"
assert_eq "$ASSERTION2" "$(req 'r["form"].get("client_assertion")' | tail -1)" \
    "workload identity: the file is re-read, so the rotated token is sent"
assert_eq "$n" "$(grep -c 'oauth token set mode=workload-identity principal=wi-app' "$TMP/wi.log")" \
    "workload identity: every token handed to librdkafka"
no_secrets "$TMP/wi.log" "workload identity" "$ASSERTION1" "$ASSERTION2" tok-

# ---- managed identity: IMDS, user-assigned client id ----
run 7 "$TMP/mi.log" --oauth-mode managed-identity --oauth-client-id mi-app \
    --oauth-token-endpoint "$URL/metadata/identity/oauth2/token"
n=$(count)
assert_match '^[23]$' "$n" "managed identity: a token at start and a refresh"
assert_eq "GET /metadata/identity/oauth2/token true" \
    "$(uniq_of 'r["method"] + " " + r["path"] + " " + r["headers"].get("metadata", "")')" \
    "managed identity: GET from IMDS with Metadata: true"
assert_eq "2018-02-01 https://eventhubs.azure.net mi-app" \
    "$(uniq_of 'r["query"].get("api-version") + " " + r["query"].get("resource") + " " + r["query"].get("client_id")')" \
    "managed identity: api-version, Event Hubs resource, client id"
assert_eq "$n" "$(grep -c 'oauth token set mode=managed-identity' "$TMP/mi.log")" \
    "managed identity: every token handed to librdkafka"
no_secrets "$TMP/mi.log" "managed identity" tok-

# ---- a refused secret (from the environment): logged without it, retried with backoff ----
WRONG="wrong-$SECRET"
TALLY_OAUTH_CLIENT_SECRET="$WRONG" run 12 "$TMP/bad.log" --oauth-mode client-credentials \
    --oauth-tenant-id tenant-1 --oauth-client-id app-1 \
    --oauth-token-endpoint "$URL/tenant-1/oauth2/v2.0/token"
n=$(count)
assert_match '^[23]$' "$n" "refused secret: retried with backoff, not hammered ($n requests in 12 s)"
assert_match 'could not obtain an Entra ID token .*HTTP 401: token request refused: invalid_client: AADSTS7000215' \
    "$(cat "$TMP/bad.log")" "refused secret: the reason is logged"
assert_eq 0 "$(grep -c 'oauth token set' "$TMP/bad.log")" "refused secret: no token set"
no_secrets "$TMP/bad.log" "refused secret" "$WRONG" "$SECRET"

# ---- configuration errors name the key, exit 2 ----
"$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic oauth --metrics-listen "" --auth oauth \
    --oauth-mode client-credentials --oauth-tenant-id t --oauth-client-id c 2>"$TMP/err"
assert_eq 2 $? "no client secret: exit 2"
assert_match 'oauth_client_secret.{1,2} is required' "$(cat "$TMP/err")" "no client secret: key named"
for ep in "http://login.example.com/tenant-1/oauth2/v2.0/token" "http://10.1.2.3/token"; do
    # no --db: a configuration error is reported before the database is tried
    timeout 20 "$ING" --db "host=/nonexistent" --brokers "$MB_BOOTSTRAP" --topic oauth --metrics-listen "" \
        --auth oauth --oauth-mode client-credentials --oauth-tenant-id t --oauth-client-id c \
        --oauth-client-secret "$SECRET" --oauth-token-endpoint "$ep" 2>"$TMP/err"
    assert_eq 2 $? "plain http token endpoint $ep: exit 2"
    assert_eq 1 "$(wc -l <"$TMP/err")" "plain http token endpoint: one line"
    assert_match '"oauth_token_endpoint" must be an https:// URL' "$(cat "$TMP/err")" \
        "plain http token endpoint: key named"
    no_secrets "$TMP/err" "plain http token endpoint" "$SECRET"
done
finish
