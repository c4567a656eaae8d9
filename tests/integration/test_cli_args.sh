#!/usr/bin/env bash
# Command lines every program shares: a bool flag takes a following true/false, a bad
# bool names its key, and a stray positional argument is refused (exit 2, named) rather
# than ignored. No database is needed: each case is refused, or printed by --check-config.
source "$(dirname "$0")/../lib.sh"
need_env
REP=$BIN/report/tally-report ING=$BIN/ingest/tally-ingest CTL=$BIN/ctl/tallyctl

out=$("$REP" --metrics-auth false --check-config)
assert_eq 0 $? "--metrics-auth false --check-config: exit 0"
assert_eq "metrics_auth = false  # flag" "$(grep '^metrics_auth' <<<"$out")" "--metrics-auth false is false"
out=$("$REP" --metrics-auth --check-config)
assert_eq "metrics_auth = true  # flag" "$(grep '^metrics_auth' <<<"$out")" "--metrics-auth alone is true"
out=$(TALLY_METRICS_AUTH=true "$REP" --metrics-auth no --check-config)
assert_eq "metrics_auth = false  # flag" "$(grep '^metrics_auth' <<<"$out")" "--metrics-auth no beats the environment"

"$REP" --metrics-auth=maybe 2>"$TMP/err"
assert_eq 2 $? "--metrics-auth=maybe: exit 2"
assert_eq 1 "$(wc -l <"$TMP/err")" "--metrics-auth=maybe: one line"
assert_match '"metrics_auth".*"maybe"' "$(cat "$TMP/err")" "--metrics-auth=maybe: key and value named"
TALLY_METRICS_AUTH=sometimes "$REP" --check-config 2>"$TMP/err" >/dev/null
assert_eq 2 $? "TALLY_METRICS_AUTH=sometimes: exit 2"
assert_match '"metrics_auth" \(from env\)' "$(cat "$TMP/err")" "TALLY_METRICS_AUTH=sometimes: key named"

timeout 10 "$REP" --listen "127.0.0.1:$(free_port)" stray 2>"$TMP/err"
assert_eq 2 $? "tally-report stray: exit 2"
assert_eq 'tally-report: unexpected argument "stray"' "$(cat "$TMP/err")" "tally-report stray: named"
timeout 10 "$REP" --listen "127.0.0.1:$(free_port)" --metrics-auth maybe 2>"$TMP/err"
assert_eq 2 $? "tally-report --metrics-auth maybe: exit 2"
assert_eq 'tally-report: unexpected argument "maybe"' "$(cat "$TMP/err")" "--metrics-auth maybe: the word is named"
timeout 10 "$ING" --from-file /dev/null one two 2>"$TMP/err"
assert_eq 2 $? "tally-ingest one two: exit 2"
assert_eq 'tally-ingest: unexpected arguments "one", "two"' "$(cat "$TMP/err")" "tally-ingest one two: both named"

for cmd in "migrate" "tokens list" "deployments list" "quotas list" "alerts list" "prices list" \
    "quotas status" "alerts deliver"; do
    # shellcheck disable=SC2086 # the command is words
    timeout 10 "$CTL" --db "host=/nonexistent" $cmd extra 2>"$TMP/err"
    assert_eq 2 $? "tallyctl $cmd extra: exit 2"
    assert_eq 'tallyctl: unexpected argument "extra"' "$(cat "$TMP/err")" "tallyctl $cmd extra: named"
done
# a command that takes arguments still gets them
"$CTL" --db "host=/nonexistent" tokens revoke a b 2>"$TMP/err"
assert_eq 2 $? "tallyctl tokens revoke a b: exit 2"
finish
