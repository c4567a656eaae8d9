#!/usr/bin/env bash
# tallyctl prices load with a v2 book (tests/fixtures/prices/v2-fixture.json): exactly the rows of
# price_rates (fast rows = multiplier x standard, per class and tier, exact numeric),
# price_residency, price_aliases and the prices rows older code reads; a reload is a no-op; a
# refused v2 book stores nothing; a v1 book gets its price_rates rows too.
source "$(dirname "$0")/../lib.sh"
need_env
new_db
CTL=$BIN/ctl/tallyctl
V2=$SRC/tests/fixtures/prices/v2-fixture.json
ctl() { "$CTL" --db "$DB" "$@"; }
rates() { sql "SET TIME ZONE 'UTC'; SELECT r.model, r.effective_from::date, r.effective_to, r.speed, r.over_tokens,
                      r.input, r.output, r.cache_write_5m, r.cache_write_1h, r.cache_read
                 FROM price_rates r JOIN price_books b ON b.id = r.book_id WHERE b.name = '$1'
                ORDER BY r.model, r.effective_from, r.speed DESC, r.over_tokens"; }
tables() { sql "SELECT (SELECT count(*) FROM price_books), (SELECT count(*) FROM prices), (SELECT count(*) FROM price_rates),
                       (SELECT count(*) FROM price_residency), (SELECT count(*) FROM price_aliases)"; }

# ---- a v2 book
sha=$(sha256sum "$V2" | cut -d' ' -f1)
out=$(ctl prices load "$V2" 2>&1); rc=$?
assert_eq 0 "$rc" "v2 book loads: exit 0"
assert_eq "price book \"fixture-v2-2026-12\" loaded: 2 models, sha256 $sha" "$out" "v2 book loads: message"
# by hand from the book: test-haiku fast = 2.5 x each standard rate of the same tier
assert_eq "test-haiku|2026-10-07|infinity|standard|0|0.10|0.50|0.125|0.20|0.01
test-haiku|2026-10-07|infinity|standard|100000|0.50|2.50|0.625|1.00|0.05
test-haiku|2026-10-07|infinity|standard|200000|1|5|1.25|2|0.1
test-haiku|2026-10-07|infinity|fast|0|0.250|1.250|0.3125|0.500|0.025
test-haiku|2026-10-07|infinity|fast|100000|1.250|6.250|1.5625|2.500|0.125
test-haiku|2026-10-07|infinity|fast|200000|2.5|12.5|3.125|5.0|0.25
test-opus|2026-01-01|2026-10-07 00:00:00+00|standard|0|5|25|6.25|10|0.50
test-opus|2026-01-01|2026-10-07 00:00:00+00|fast|0|30|150|37.50|60|3
test-opus|2026-10-07|infinity|standard|0|5|25|6.25|10|0.25" \
    "$(rates fixture-v2-2026-12)" "price_rates: one row per range x speed x tier, fast multiplied exactly"
assert_eq "test-haiku|2026-10-07|data-zone-us|1.1
test-haiku|2026-10-07|us|1.1" \
    "$(sql "SET TIME ZONE 'UTC'; SELECT model, effective_from::date, residency, multiplier FROM price_residency ORDER BY model, residency")" \
    "price_residency: the listed classes only (others are 1)"
assert_eq "test-haiku-20261007|test-haiku|
test-haiku-fast|test-haiku|fast
test-haiku[1m]|test-haiku|" \
    "$(sql "SELECT alias, model, speed FROM price_aliases ORDER BY alias COLLATE \"C\"")" \
    "price_aliases: aliases at the event's speed, fast aliases 'fast'"
assert_eq "test-haiku|2026-10-07|0.10|0.50|0.125|0.20|0.01|200000|1|5|1.25|2|0.1
test-opus|2026-01-01|5|25|6.25|10|0.50||||||
test-opus|2026-10-07|5|25|6.25|10|0.25||||||" \
    "$(sql "SET TIME ZONE 'UTC'; SELECT model, effective_from::date, input, output, cache_write_5m, cache_write_1h, cache_read,
                   lc_threshold, lc_input, lc_output, lc_cache_write_5m, lc_cache_write_1h, lc_cache_read
              FROM prices ORDER BY model, effective_from")" \
    "prices: the standard base rates and the 200000 tier, for code not yet on price_rates"

# ---- the same book again: a no-op
before=$(tables)
assert_eq "1|3|9|2|3" "$before" "row counts after the load"
out=$(ctl prices load "$V2" 2>&1); rc=$?
assert_eq "0|price book \"fixture-v2-2026-12\" already loaded (sha256 $sha)" "$rc|$out" "reload: exit 0, already loaded"
assert_eq "$before" "$(tables)" "reload: nothing added"

# ---- a refused v2 book stores nothing
sed -e 's/"fixture-v2-2026-12"/"fixture-v2-bad"/' -e 's/"over_tokens": 100000/"over_tokens": 150000/' "$V2" >"$TMP/bad.json"
err=$(ctl prices load "$TMP/bad.json" 2>&1 | sed 's/\\"/"/g')
assert_eq 2 "$(ctl prices load "$TMP/bad.json" >/dev/null 2>&1; echo $?)" "threshold off the breakpoints: exit 2"
assert_match 'model "test-haiku", prices\[0\].tiers\[0\]: "over_tokens" 150000 is not a prompt band breakpoint \(32000, 64000, 100000, 128000, 200000, 256000, 500000, 1000000\)' \
    "$err" "threshold off the breakpoints: named"
sed -e 's/"fixture-v2-2026-12"/"fixture-v2-bad"/' -e 's/"multiplier": "2.5"/"multiplier": "-2.5"/' "$V2" >"$TMP/bad.json"
err=$(ctl prices load "$TMP/bad.json" 2>&1 | sed 's/\\"/"/g')
assert_match 'model "test-haiku", prices\[0\].fast: "multiplier" is negative: "-2.5"' "$err" "negative multiplier: named"
assert_eq "$before" "$(tables)" "refused books: nothing stored"

# ---- a v1 book: standard rows, its long_context as the 200000 tier
ctl prices load "$SRC/schema/prices/anthropic-list-2026-11.json" >/dev/null
assert_eq "claude-sonnet-4-5|2025-09-29|infinity|standard|0|3|15|3.75|6|0.30
claude-sonnet-4-5|2025-09-29|infinity|standard|200000|6|22.50|7.50|12|0.60" \
    "$(rates anthropic-list-2026-11 | grep '^claude-sonnet-4-5|')" "v1 book: base and long-context rows"
assert_eq "14|0|0|8" "$(sql "SELECT count(*), count(*) FILTER (WHERE r.speed = 'fast'),
        (SELECT count(*) FROM price_residency x WHERE x.book_id = b.id),
        (SELECT count(*) FROM price_aliases a WHERE a.book_id = b.id AND a.speed IS NULL)
      FROM price_rates r JOIN price_books b ON b.id = r.book_id WHERE b.name = 'anthropic-list-2026-11' GROUP BY b.id")" \
    "v1 book: 10 ranges + 4 long-context tiers, no fast, no residency, aliases at the event's speed"
finish
