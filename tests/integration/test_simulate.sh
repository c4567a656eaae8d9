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

# per developer x model, in the column order of --totals (the first ten columns)
db_totals() {
    psql "$DB" -qAtX -F, -c "SELECT developer_oid, model, count(*), sum(input_tokens),
        sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(cache_read_tokens),
        sum(output_tokens), sum(web_search_requests), count(*) FILTER (WHERE long_context)
        FROM usage_events GROUP BY 1, 2 ORDER BY developer_oid COLLATE \"C\", model COLLATE \"C\""
}
# the prompt (input + cache reads + all cache writes) and its bands, from the stored columns:
# band b = breakpoints strictly below the prompt, i.e. width_bucket(prompt - 1, breakpoints)
db_prompts() {
    psql "$DB" -qAtX -F, -c "WITH e AS (SELECT developer_oid, model, input_tokens + cache_read_tokens
            + cache_write_5m_tokens + cache_write_1h_tokens + cache_write_unsplit_tokens AS p
            FROM usage_events), b AS (SELECT *, width_bucket(p - 1, ARRAY[32000, 64000, 100000,
            128000, 200000, 256000, 500000, 1000000]::bigint[]) AS band FROM e)
        SELECT developer_oid, model, sum(p), $(for b in 0 1 2 3 4 5 6 7 8; do
            printf 'count(*) FILTER (WHERE band = %d)%s' $b "$([ $b = 8 ] || echo ,)"; done)
        FROM b GROUP BY 1, 2 ORDER BY developer_oid COLLATE \"C\", model COLLATE \"C\""
}
rows() { grep -v '^total,' "$TMP/totals-$FMT.csv" | tail -n +2 | cut -d, -f"$1"; }
has_column() { [ "$(sql "SELECT count(*) FROM information_schema.columns WHERE table_name = 'usage_events' AND column_name = '$1'")" = 1 ]; }

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
    assert_eq "$(rows 1-10)" "$(db_totals)" "$FMT: stored sums equal the --totals file exactly"
    assert_eq "$(rows 1-2,11,17-25)" "$(db_prompts)" \
        "$FMT: prompt tokens and prompt bands equal the stored token columns"
    fields=$(python3 "$SRC/tests/integration/sim_usage_fields.py" "$TMP/sim-$FMT.jsonl" \
        <(sql 'SELECT request_id FROM usage_events'))
    assert_eq "$(rows 1-2,12-16)" "$fields" \
        "$FMT: fast, US, iteration and advisor columns equal the raw lines' usage objects"
    if has_column speed && has_column inference_geo && has_column iterations; then
        assert_eq "$(rows 1-2,12-16)" "$(psql "$DB" -qAtX -F, -c "SELECT developer_oid, model,
            count(*) FILTER (WHERE speed = 'fast'), count(*) FILTER (WHERE inference_geo = 'us'),
            count(*) FILTER (WHERE iterations IS NOT NULL),
            coalesce(sum((SELECT sum((i->>'input_tokens')::bigint + (i->>'cache_read_tokens')::bigint
                + (i->>'cache_write_5m_tokens')::bigint + (i->>'cache_write_1h_tokens')::bigint
                + (i->>'cache_write_unsplit_tokens')::bigint) FROM jsonb_array_elements(iterations) i
                WHERE i->>'type' = 'advisor_message')), 0),
            coalesce(sum((SELECT sum((i->>'output_tokens')::bigint) FROM jsonb_array_elements(iterations) i
                WHERE i->>'type' = 'advisor_message')), 0)
            FROM usage_events GROUP BY 1, 2 ORDER BY developer_oid COLLATE \"C\", model COLLATE \"C\"")" \
            "$FMT: stored speed, inference_geo and iterations equal the --totals file"
    fi
    assert_eq "$(stat malformed)" "$(sql 'SELECT count(*) FROM ingest_rejects')" \
        "$FMT: one reject per malformed line"
    "$ING" --db "$DB" --from-file "$TMP/sim-$FMT.jsonl" >/dev/null 2>&1
    assert_eq "$(rows 1-10)" "$(db_totals)" "$FMT: a second backfill adds nothing"
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
