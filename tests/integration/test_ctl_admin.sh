#!/usr/bin/env bash
# tallyctl prices, deployments, developers and tokens against a real database: exit codes,
# messages, and exactly what lands in the tables.
source "$(dirname "$0")/../lib.sh"
need_env
new_db
CTL=$BIN/ctl/tallyctl
SHIPPED=$SRC/schema/prices/anthropic-list-2026-11.json
ctl() { "$CTL" --db "$DB" "$@"; }
fails() { # fails ARGS…: runs tallyctl, sets rc and err (its output, log quoting undone)
    "$CTL" --db "$DB" "$@" >"$TMP/fails.out" 2>&1
    rc=$?
    err=$(sed 's/\\"/"/g' "$TMP/fails.out")
}

# ---- prices load: once, again (no-op), tampered (refused)
out=$(ctl prices load "$SHIPPED" 2>&1); rc=$?
sha=$(sha256sum "$SHIPPED" | cut -d' ' -f1)
assert_eq 0 "$rc" "load: exit 0"
assert_eq "price book \"anthropic-list-2026-11\" loaded: 8 models, sha256 $sha" "$out" "load: summary"
assert_eq "$sha|8|10|8" "$(sql "SELECT b.sha256, (SELECT count(DISTINCT model) FROM prices WHERE book_id = b.id),
    (SELECT count(*) FROM prices WHERE book_id = b.id), (SELECT count(*) FROM price_aliases WHERE book_id = b.id)
    FROM price_books b")" "load: sha256 of the file bytes, 8 models, 10 ranges, 8 aliases"
assert_eq "3.75|22.50|7.50|2025-09-29 00:00:00+00|infinity" \
    "$(sql "SET TIME ZONE 'UTC'; SELECT cache_write_5m, lc_output, lc_cache_write_5m, effective_from, effective_to FROM prices WHERE model = 'claude-sonnet-4-5'")" \
    "load: exact decimals, UTC midnight, open end"
out=$(ctl prices load "$SHIPPED" 2>&1); rc=$?
assert_eq 0 "$rc" "load again: exit 0"
assert_eq "price book \"anthropic-list-2026-11\" already loaded (sha256 $sha)" "$out" "load again: no-op"
sed 's/"output": "75"/"output": "74"/' "$SHIPPED" >"$TMP/tampered.json"
err=$(ctl prices load "$TMP/tampered.json" 2>&1); rc=$?
assert_eq 1 "$rc" "tampered book of the same name: exit 1"
assert_match "a book of that name is already loaded with sha256 $sha, this file has" "$err" "tampered: message"
assert_eq "1|10" "$(sql "SELECT (SELECT count(*) FROM price_books), (SELECT count(*) FROM prices)")" "tampered: nothing changed"

# ---- invalid books: exit 2, one line naming the model and the field, nothing stored
bad() { # bad NAME SED-EXPR EXPECTED-MESSAGE
    sed "$2" "$SHIPPED" | sed 's/"name": "anthropic-list-2026-11"/"name": "bad"/' >"$TMP/$1.json"
    fails prices load "$TMP/$1.json"
    assert_eq 2 "$rc" "$1: exit 2"
    assert_match "$3" "$err" "$1: message"
}
bad negative '0,/"input": "15"/s//"input": "-15"/' 'model "claude-opus-4", prices\[0\]: "input" is negative: "-15"'
bad not-decimal '0,/"cache_read": "0.10"/s//"cache_read": "0,10"/' 'model "claude-haiku-4-5", prices\[0\]: "cache_read" is not a decimal: "0,10"'
bad float '0,/"output": "5"/s//"output": 5.0/' 'model "claude-haiku-4-5", prices\[0\]: "output" must be a decimal string'
bad missing-class '0,/"cache_write_1h": "2",/s///' 'model "claude-haiku-4-5", prices\[0\]: missing "cache_write_1h"'
bad unknown-key '0,/"cache_read": "0.10"/s//"cache_read": "0.10", "cache_write": "1"/' 'model "claude-haiku-4-5", prices\[0\]: unknown key "cache_write"'
bad not-a-date '0,/"2025-10-15"/s//"15\/10\/2025"/' 'model "claude-haiku-4-5", prices\[0\]: "effective_from" is not a date \(YYYY-MM-DD\): "15/10/2025"'
bad overlap '0,/"effective_from": "2026-03-13"/s//"effective_from": "2026-03-01"/' 'model "claude-opus-4-6": prices\[1\] \(2026-03-01 to open\) overlaps prices\[0\] \(2026-02-05 to 2026-03-13\)'
printf '{"name": ' >"$TMP/broken.json"
err=$(ctl prices load "$TMP/broken.json" 2>&1); rc=$?
assert_eq 2 "$rc" "broken JSON: exit 2"
assert_match 'invalid JSON at line 1' "$err" "broken JSON: message"
err=$(ctl prices load "$TMP/missing.json" 2>&1); rc=$?
assert_eq 2 "$rc" "missing file: exit 2"
assert_eq "1" "$(sql "SELECT count(*) FROM price_books")" "invalid books: nothing stored"

# ---- prices list / show
out=$(ctl prices list)
assert_match $'anthropic-list-2026-11\t2026-11-01\t8\tyes\t'"$sha" "$out" "list: name, published, models, newest, sha256"
out=$(ctl prices show anthropic-list-2026-11)
assert_eq 12 "$(wc -l <<<"$out")" "show: comment + header + 10 ranges"
assert_match $'claude-sonnet-4-5\tclaude-sonnet-4-5-20250929\t2025-09-29\t\t3\t15\t3.75\t6\t0.30\t200000\t6\t22.50\t7.50\t12\t0.60' \
    "$out" "show: a range with its long-context rates"
ctl prices show nope >/dev/null 2>&1
assert_eq 1 "$?" "show unknown book: exit 1"

# ---- deployments set
out=$(ctl deployments set foundry-sonnet claude-sonnet-4-5 2>&1)
assert_eq 'deployment "foundry-sonnet" -> "claude-sonnet-4-5" from -infinity' "$out" "first mapping: all time"
out=$(ctl deployments set foundry-sonnet claude-sonnet-4-5 2>&1)
assert_match 'unchanged' "$out" "same mapping again: unchanged"
ctl deployments set foundry-sonnet claude-sonnet-4-6 --from 2026-03-01T09:15:00Z >/dev/null
assert_eq "claude-sonnet-4-5|-infinity|2026-03-01 09:15:00+00
claude-sonnet-4-6|2026-03-01 09:15:00+00|infinity" \
    "$(sql "SET TIME ZONE 'UTC'; SELECT model, valid_from, valid_to FROM deployments ORDER BY valid_from")" \
    "a new mapping closes the previous one at --from"
err=$(ctl deployments set foundry-sonnet claude-opus-4-6 --from 2026-03-01T09:20:00Z 2>&1); rc=$?
assert_eq 2 "$rc" "--from off the 15-minute grid: exit 2"
assert_match 'must be on the 15-minute grid' "$err" "--from off the grid: message"
err=$(ctl deployments set foundry-sonnet claude-opus-4-6 --from 2026-02-01T00:00:00Z 2>&1); rc=$?
assert_eq 1 "$rc" "--from before the current mapping: exit 1"
assert_match 'already has a mapping from' "$err" "--from before the current mapping: message"
ctl deployments set foundry-sonnet claude-opus-4-6 --from yesterday-ish >/dev/null 2>&1
assert_eq 2 "$?" "--from not a timestamp: exit 2"
assert_eq 2 "$(sql "SELECT count(*) FROM deployments")" "refused changes stored nothing"
# --residency: the class of a Foundry deployment's usage; a change of it alone is a new mapping
out=$(ctl deployments set foundry-sonnet claude-sonnet-4-6 --residency data-zone-us --from 2026-04-01T00:00:00Z 2>&1)
assert_eq 'deployment "foundry-sonnet" -> "claude-sonnet-4-6" (residency data-zone-us) from 2026-04-01 00:00:00+00 (was "claude-sonnet-4-6")' \
    "$out" "residency only: a new mapping"
out=$(ctl deployments set foundry-sonnet claude-sonnet-4-6 --residency data-zone-us 2>&1)
assert_eq 'deployment "foundry-sonnet" -> "claude-sonnet-4-6" (residency data-zone-us) unchanged (since 2026-04-01 00:00:00+00)' \
    "$out" "same model and residency again: unchanged"
out=$(ctl deployments set foundry-sonnet claude-sonnet-4-6 --from 2026-05-01T00:00:00Z 2>&1)
assert_eq 'deployment "foundry-sonnet" -> "claude-sonnet-4-6" from 2026-05-01 00:00:00+00 (was "claude-sonnet-4-6" residency data-zone-us)' \
    "$out" "without --residency the mapping has none"
fails deployments set foundry-sonnet claude-sonnet-4-6 --residency US
assert_eq 2 "$rc" "--residency not a class name: exit 2"
assert_match 'invalid --residency "US": a residency class is up to 32 lower-case letters' "$err" "--residency not a class name: message"
assert_eq "claude-sonnet-4-5||-infinity|2026-03-01 09:15:00+00
claude-sonnet-4-6||2026-03-01 09:15:00+00|2026-04-01 00:00:00+00
claude-sonnet-4-6|data-zone-us|2026-04-01 00:00:00+00|2026-05-01 00:00:00+00
claude-sonnet-4-6||2026-05-01 00:00:00+00|infinity" \
    "$(sql "SET TIME ZONE 'UTC'; SELECT model, residency, valid_from, valid_to FROM deployments ORDER BY valid_from")" \
    "deployments hold each residency with its dates"
assert_match $'foundry-sonnet\tclaude-sonnet-4-6\tdata-zone-us\t' "$(ctl deployments list)" "deployments list shows the residency"

# ---- developers import: quoted CSV, idempotent, dated changes
printf 'oid,upn,display_name,team,cost_center\r\nA1,a@example.com,"Doe, Ann",red,CC-1\r\nB2,b@example.com,"Bob ""B"" Roe",blue,CC-2\r\n' >"$TMP/devs.csv"
assert_eq "developers: 2 inserted, 0 changed, 0 unchanged" "$(ctl developers import "$TMP/devs.csv")" "import"
assert_eq "developers: 0 inserted, 0 changed, 2 unchanged" "$(ctl developers import "$TMP/devs.csv")" "re-import is a no-op"
assert_eq 'A1|a@example.com|Doe, Ann|red|CC-1|-infinity|infinity
B2|b@example.com|Bob "B" Roe|blue|CC-2|-infinity|infinity' \
    "$(sql "SELECT * FROM developers ORDER BY oid")" "quoted fields kept exactly"
printf 'oid,upn,display_name,team,cost_center,valid_from\nA1,a@example.com,"Doe, Ann",green,CC-1,2026-11-15\nB2,b@example.com,"Bob ""B"" Roe",blue,CC-2,\n' >"$TMP/devs2.csv"
assert_eq "developers: 0 inserted, 1 changed, 1 unchanged" "$(ctl developers import "$TMP/devs2.csv")" "a changed team"
assert_eq "developers: 0 inserted, 0 changed, 2 unchanged" "$(ctl developers import "$TMP/devs2.csv")" "re-import of the change is a no-op"
assert_eq 'red|-infinity|2026-11-15 00:00:00+00
green|2026-11-15 00:00:00+00|infinity' \
    "$(sql "SET TIME ZONE 'UTC'; SELECT team, valid_from, valid_to FROM developers WHERE oid = 'A1' ORDER BY valid_from")" \
    "the change closes the previous validity"
printf 'oid,upn,team,display_name,cost_center\nX,x@example.com,red,X,CC\n' >"$TMP/badhdr.csv"
fails developers import "$TMP/badhdr.csv"
assert_eq 2 "$rc" "wrong header: exit 2"
assert_match 'column 3 is "team", expected "display_name"' "$err" "wrong header: message"
printf 'oid,upn,display_name,team,cost_center\nC3,c@example.com,"unterminated,red,CC\n' >"$TMP/badq.csv"
err=$(ctl developers import "$TMP/badq.csv" 2>&1); rc=$?
assert_eq 2 "$rc" "malformed quote: exit 2"
assert_match 'line 2' "$err" "malformed quote: line named"
printf 'oid,upn,display_name,team,cost_center,valid_from\nA1,a@example.com,Ann,blue,CC-1,2026-01-01\n' >"$TMP/hist.csv"
ctl developers import "$TMP/hist.csv" >/dev/null 2>&1
assert_eq 1 "$?" "rewriting history: exit 1"
assert_eq 3 "$(sql "SELECT count(*) FROM developers")" "refused imports stored nothing"

# ---- tokens: printed once, only the SHA-256 stored
tok=$(ctl tokens create --role lead --team red --name red-lead 2>"$TMP/tok.err"); rc=$?
assert_eq 0 "$rc" "tokens create: exit 0"
assert_match '^tt_[0-9a-f]{64}$' "$tok" "tokens create: prints the token (256-bit hex) alone on stdout"
assert_match 'not shown again' "$(cat "$TMP/tok.err")" "tokens create: says it is shown once"
assert_eq "$(printf %s "$tok" | sha256sum | cut -d' ' -f1)|lead|red" \
    "$(sql "SELECT token_sha256, role, team FROM api_tokens WHERE name = 'red-lead'")" "stored: sha256 of the token, role, team"
assert_eq 0 "$(pg_dump "$DB" --data-only | grep -c "${tok#tt_}")" "the token itself is nowhere in the database"
tok2=$(ctl tokens create --role finance --name fin 2>/dev/null)
[ "$tok" != "$tok2" ]; assert_eq 0 "$?" "every token is new"
ctl tokens create --role lead --name no-team >/dev/null 2>&1
assert_eq 2 "$?" "lead without --team: exit 2"
ctl tokens create --role developer --name no-dev >/dev/null 2>&1
assert_eq 2 "$?" "developer without --developer: exit 2"
ctl tokens create --role root --name r >/dev/null 2>&1
assert_eq 2 "$?" "unknown role: exit 2"
ctl tokens create --role finance --name fin >/dev/null 2>&1
assert_eq 1 "$?" "duplicate name: exit 1"
out=$(ctl tokens list)
assert_eq 3 "$(wc -l <<<"$out")" "list: header + 2 tokens"
assert_eq 0 "$(grep -c "$(printf %s "$tok" | sha256sum | cut -c1-16)" <<<"$out")" "list shows no hash"
assert_eq 'token "red-lead" revoked' "$(ctl tokens revoke red-lead)" "revoke"
assert_eq 't' "$(sql "SELECT revoked_at IS NOT NULL FROM api_tokens WHERE name = 'red-lead'")" "revoked_at set"
ctl tokens revoke nope >/dev/null 2>&1
assert_eq 1 "$?" "revoke unknown: exit 1"
finish
