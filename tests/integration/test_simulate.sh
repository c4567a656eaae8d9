#!/usr/bin/env bash
# tallyctl simulate end to end: the same seed gives the same bytes, another seed other
# bytes; for each format, the stream backfilled with tally-ingest --from-file stores
# exactly the distinct valid events with exactly the totals --totals promised, one reject
# per malformed line, nothing more on a second run; the roster imports and names every
# developer of the stream.
source "$(dirname "$0")/../lib.sh"
need_env
CTL=$BIN/ctl/tallyctl
ING=$BIN/ingest/tally-ingest

sim() { "$CTL" simulate --developers 12 --days 5 --events 4000 --duplicates 5 --malformed 2 "$@"; }

a=$(sim --seed 11 2>/dev/null | sha256sum)
b=$(sim --seed 11 2>/dev/null | sha256sum)
c=$(sim --seed 12 2>/dev/null | sha256sum)
assert_eq "$a" "$b" "same seed: identical bytes"
[ "$a" != "$c" ]
assert_eq 0 $? "another seed: other bytes"

stat() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" "$TMP/sim-$FMT.err"; }

# per developer x model, in the column order of --totals
db_totals() {
    psql "$DB" -qAtX -F, -c "SELECT developer_oid, model, count(*), sum(input_tokens),
        sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_read_tokens),
        sum(output_tokens), sum(web_search_requests), count(*) FILTER (WHERE long_context)
        FROM usage_events GROUP BY 1, 2 ORDER BY developer_oid COLLATE \"C\", model COLLATE \"C\""
}

for FMT in usage legacy monitor; do
    [ -n "${TEST_DB:-}" ] && psql "$TALLY_TEST_PG dbname=postgres" -qAtc "DROP DATABASE \"$TEST_DB\" WITH (FORCE)"
    new_db
    sim --seed 11 --format "$FMT" --totals "$TMP/totals-$FMT.csv" --developers-csv "$TMP/roster.csv" \
        >"$TMP/sim-$FMT.jsonl" 2>"$TMP/sim-$FMT.err"
    assert_eq 0 $? "$FMT: simulate exits 0"
    assert_eq 4000 "$(stat events)" "$FMT: exactly the requested events"
    assert_eq "$(wc -l <"$TMP/sim-$FMT.jsonl" | tr -d ' ')" "$(stat lines)" "$FMT: one message per line"
    "$ING" --db "$DB" --from-file "$TMP/sim-$FMT.jsonl" >"$TMP/ingest-$FMT.out" 2>&1
    assert_eq 0 $? "$FMT: backfill exits 0"
    assert_eq 4000 "$(sql 'SELECT count(*) FROM usage_events')" "$FMT: every distinct valid event stored once"
    assert_eq "$(grep -v '^total,' "$TMP/totals-$FMT.csv" | tail -n +2)" "$(db_totals)" \
        "$FMT: stored sums equal the --totals file exactly"
    assert_eq "$(stat malformed)" "$(sql 'SELECT count(*) FROM ingest_rejects')" \
        "$FMT: one reject per malformed line"
    "$ING" --db "$DB" --from-file "$TMP/sim-$FMT.jsonl" >/dev/null 2>&1
    assert_eq "$(grep -v '^total,' "$TMP/totals-$FMT.csv" | tail -n +2)" "$(db_totals)" \
        "$FMT: a second backfill adds nothing"
done

"$CTL" --db "$DB" developers import "$TMP/roster.csv" >/dev/null 2>&1
assert_eq 0 $? "roster: imports"
assert_eq "12|0" "$(sql "SELECT count(*), count(*) FILTER (WHERE team = '' OR upn NOT LIKE '%@contoso.example') FROM developers")" \
    "roster: every developer with a team and a upn"
assert_eq 0 "$(sql 'SELECT count(*) FROM usage_events u WHERE NOT EXISTS (SELECT 1 FROM developers d WHERE d.oid = u.developer_oid)')" \
    "roster: names every developer of the stream"

"$CTL" simulate --format auto >/dev/null 2>"$TMP/err"
assert_eq 2 $? "format auto: usage error"
"$CTL" simulate --duplicates 101 >/dev/null 2>"$TMP/err"
assert_eq 2 $? "duplicates above 100 %: usage error"
assert_match 'duplicates' "$(cat "$TMP/err")" "duplicates above 100 %: key named"
"$CTL" simulate --start 2026-02-30 >/dev/null 2>"$TMP/err"
assert_eq 2 $? "impossible start date: usage error"
finish
