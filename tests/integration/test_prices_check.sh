#!/usr/bin/env bash
# tallyctl prices check: every model x speed x residency in the rollups that a book cannot
# price, with the engine's reason (unknown model, no price at that time, no fast rates,
# residency class not in the book, prompt band straddles a tier), exact lines and exit codes
# (1 while something is unpriced, 0 once a book prices it all, 2 for bad options); the same
# judgement as the engine's (tally_unpriced); tally-report's /metrics gauges
# tally_unpriced_combinations and tally_unpriced_requests and reporting.unpriced_combinations
# as tally_reader.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/report_lib.sh"
need_env
new_db
CTL=$BIN/ctl/tallyctl
ctl() { "$CTL" --db "$DB" "$@"; }

ctl prices load "$SRC/tests/fixtures/prices/v2-fixture.json" >/dev/null
ctl deployments set foundry-eu test-opus --from 2026-01-01 --residency eu >/dev/null

# the usage: the current UTC month's first two days (what the gauges count) and one day of
# December 2025, before test-opus's first price; equal 15-minute and daily rollups
M=$(sql "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD')")
M2=$(sql "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 day', 'YYYY-MM-DD')")
sql "WITH v(day, dev, model, deployment, band, speed, residency, requests, input, output) AS (VALUES
        ('$M'::date, 'd1', 'test-haiku', '', 0, 'standard', '', 10, 1000, 100),       -- priced
        ('$M', 'd1', 'test-haiku-fast', '', 0, 'standard', '', 2, 200, 20),           -- priced fast (a fast alias)
        ('$M', 'd1', 'claude-new-7', '', 0, 'standard', '', 3, 300, 30),              -- unknown model
        ('$M2', 'd2', 'claude-new-7', '', 0, 'standard', '', 4, 400, 40),
        ('$M', 'd1', 'test-opus', '', 0, 'fast', '', 5, 500, 50),                     -- no fast rates since 2026-10-07
        ('$M', 'd2', 'test-haiku', '', 0, 'standard', 'eu', 6, 600, 60),              -- eu: not in the book
        ('$M', 'd2', '', 'foundry-eu', 0, 'standard', '', 2, 200, 20),                -- eu by its deployment
        ('$M', 'd1', 'test-haiku', '', 100, 'standard', '', 8, 800, 80),              -- (0, 200000] vs the 100000 tier
        ('2025-12-15', 'd1', 'test-opus', '', 0, 'standard', '', 1, 100, 10)),        -- before test-opus's first price
     q AS (INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, long_context, prompt_band, speed,
               residency, requests, input_tokens, output_tokens)
           SELECT day::timestamp AT TIME ZONE 'UTC' + interval '10 hours', dev, model, deployment, false, band, speed,
                  residency, requests, input, output FROM v)
     INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, long_context, prompt_band, speed, residency,
         requests, input_tokens, output_tokens)
     SELECT day, dev, model, deployment, false, band, speed, residency, requests, input, output FROM v" >/dev/null
# a deployment remapped at noon: its morning is claude-new-7's (unknown), its afternoon
# test-haiku's (priced); the daily row alone cannot tell them apart, its buckets can
ctl deployments set foundry-x claude-new-7 --from 2026-01-01 >/dev/null
ctl deployments set foundry-x test-haiku --from "${M}T12:00:00Z" >/dev/null
sql "INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, long_context, prompt_band, requests,
         input_tokens, output_tokens)
     VALUES ('$M 10:00+00', 'd3', '', 'foundry-x', false, 0, 3, 300, 30),
            ('$M 14:00+00', 'd3', '', 'foundry-x', false, 0, 4, 400, 40);
     INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, long_context, prompt_band, requests,
         input_tokens, output_tokens)
     VALUES ('$M', 'd3', '', 'foundry-x', false, 0, 7, 700, 70)" >/dev/null

HEAD=$'model\tdeployment\tspeed\tresidency\trequests\ttokens\tfirst_seen\tlast_seen\twhy'
THIS_MONTH="claude-new-7		standard		7	770	$M	$M2	unknown model
claude-new-7	foundry-x	standard		3	330	$M	$M	unknown model
test-haiku		standard		8	880	$M	$M	prompt band straddles a tier
test-haiku		standard	eu	6	660	$M	$M	residency class not in the book
test-opus		fast		5	550	$M	$M	no fast rates"
OPUS_EU="test-opus	foundry-eu	standard	eu	2	220	$M	$M	residency class not in the book"
OPUS_OLD="test-opus		standard		1	110	2025-12-15	2025-12-15	no price at that time"

out=$(ctl prices check 2>&1); rc=$?
assert_eq "1|# models, speeds and residencies seen in usage that fixture-v2-2026-12 cannot price
$HEAD
$THIS_MONTH
$OPUS_OLD
$OPUS_EU" "$rc|$out" "all time: exit 1, one line per model x deployment x speed x residency x reason"

out=$(ctl prices check --from 2025-12-01 --to 2026-01-01 2>&1); rc=$?
assert_eq "1|# models, speeds and residencies seen in usage from 2025-12-01 before 2026-01-01 that fixture-v2-2026-12 cannot price
$HEAD
$OPUS_OLD" "$rc|$out" "--from/--to: only the usage of those days"
out=$(ctl prices check --from "$M" 2>&1); rc=$?
assert_eq "1|# models, speeds and residencies seen in usage from $M that fixture-v2-2026-12 cannot price
$HEAD
$THIS_MONTH
$OPUS_EU" "$rc|$out" "--from alone: from that day on"
out=$(ctl prices check --to 2025-12-15 2>&1); rc=$?
assert_eq "0|every model, speed and residency seen in usage before 2025-12-15 is priced by fixture-v2-2026-12" \
    "$rc|$out" "a range without unpriced usage: exit 0"

# the engine agrees: the same requests are unpriced by tally_unpriced (tally_usage_priced_detail)
assert_eq "31|32" "$(sql "SELECT (SELECT sum(requests) FROM tally_prices_check(tally_book(NULL), '$M', NULL)),
                                (SELECT sum(requests) FROM tally_prices_check(tally_book(NULL)))")" \
    "unpriced requests: this month, all time"
assert_eq "31|32" "$(sql "SELECT (SELECT sum(requests) FROM tally_unpriced('$M', '$M'::date + 40)),
                                (SELECT sum(requests) FROM tally_unpriced('2025-12-01', '$M'::date + 40))")" \
    "the engine's unpriced requests over the same days"

# ---- bad options: exit 2, one line naming the option
for bad in "--from 2026-02-30|invalid --from \"2026-02-30\": expected a date YYYY-MM-DD (UTC)" \
           "--to 2026-1-01|invalid --to \"2026-1-01\": expected a date YYYY-MM-DD (UTC)" \
           "--from 2026-03-01 --to 2026-03-01|invalid --to \"2026-03-01\": must be after --from \"2026-03-01\"" \
           "--book nope|invalid --book \"nope\": price book \"nope\" is not loaded"; do
    read -ra args <<<"${bad%%|*}"
    err=$(ctl prices check "${args[@]}" 2>&1 >/dev/null); rc=$?
    assert_eq "2|1" "$rc|$(wc -l <<<"$err")" "prices check ${bad%%|*}: exit 2, one line"
    assert_eq "${bad#*|}" "$(sed -e 's/.* msg="\(.*\)"$/\1/' -e 's/\\"/"/g' <<<"$err")" \
        "prices check ${bad%%|*}: names the option"
done
assert_eq 2 "$(ctl prices check extra >/dev/null 2>&1; echo $?)" "a positional argument: exit 2"

# ---- tally-report's gauges and the reporting view (the current UTC month)
report_start
metrics=$(curl -s "$URL/metrics")
assert_eq "tally_unpriced_combinations 5
tally_unpriced_requests 31" "$(grep -E '^tally_unpriced_(combinations|requests) ' <<<"$metrics" | sort)" \
    "/metrics: 5 model x speed x residency combinations, 31 requests this month"
assert_eq "fixture-v2-2026-12|claude-new-7||standard||7|770|$M|$M2|unknown model
fixture-v2-2026-12|claude-new-7|foundry-x|standard||3|330|$M|$M|unknown model
fixture-v2-2026-12|test-haiku||standard||8|880|$M|$M|prompt band straddles a tier
fixture-v2-2026-12|test-haiku||standard|eu|6|660|$M|$M|residency class not in the book
fixture-v2-2026-12|test-opus||fast||5|550|$M|$M|no fast rates
fixture-v2-2026-12|test-opus|foundry-eu|standard|eu|2|220|$M|$M|residency class not in the book" \
    "$(sql "SET ROLE tally_reader; SELECT * FROM reporting.unpriced_combinations
            ORDER BY model COLLATE \"C\", deployment COLLATE \"C\", speed, residency COLLATE \"C\"" 2>&1)" \
    "reporting.unpriced_combinations as tally_reader: this month's lines"

# ---- a book that prices them all: exit 0; the old one still says what it cannot
cat >"$TMP/book.json" <<'JSON'
{
  "format": 2, "name": "fixture-check-2026-12", "published": "2026-12-03",
  "currency": "USD", "unit": "per_million_tokens",
  "models": [
    {"model": "test-haiku", "fast_aliases": ["test-haiku-fast"], "prices": [
      {"effective_from": "2026-10-07", "source": "https://platform.claude.com/docs/en/about-claude/pricing", "read": "2026-12-03",
       "input": "0.10", "output": "0.50", "cache_write_5m": "0.125", "cache_write_1h": "0.20", "cache_read": "0.01",
       "tiers": [{"over_tokens": 200000, "input": "1", "output": "5", "cache_write_5m": "1.25", "cache_write_1h": "2", "cache_read": "0.1"}],
       "fast": {"multiplier": "2.5"}, "residency": {"eu": "1.2"}}]},
    {"model": "test-opus", "prices": [
      {"effective_from": "2025-01-01", "source": "https://platform.claude.com/docs/en/about-claude/pricing", "read": "2026-12-03",
       "input": "5", "output": "25", "cache_write_5m": "6.25", "cache_write_1h": "10", "cache_read": "0.50",
       "fast": {"multiplier": "6"}, "residency": {"eu": "1.1"}}]},
    {"model": "claude-new-7", "prices": [
      {"effective_from": "2026-01-01", "source": "https://platform.claude.com/docs/en/about-claude/pricing", "read": "2026-12-03",
       "input": "3", "output": "15", "cache_write_5m": "3.75", "cache_write_1h": "6", "cache_read": "0.30"}]}
  ]
}
JSON
ctl prices load "$TMP/book.json" >/dev/null
out=$(ctl prices check 2>&1); rc=$?
assert_eq "0|every model, speed and residency seen in usage is priced by fixture-check-2026-12" "$rc|$out" \
    "the newest book prices everything: exit 0"
out=$(ctl prices check --book fixture-v2-2026-12 2>&1); rc=$?
assert_eq "1|# models, speeds and residencies seen in usage that fixture-v2-2026-12 cannot price
$HEAD
$THIS_MONTH
$OPUS_OLD
$OPUS_EU" "$rc|$out" "--book pins the older book: exit 1, the same lines"
assert_eq "0|0" "$(sql "SELECT count(*), coalesce(sum(requests), 0) FROM tally_unpriced('2025-12-01', '$M'::date + 40)")" \
    "the engine prices everything with the new book"
metrics=$(curl -s "$URL/metrics")
assert_eq "tally_unpriced_combinations 0
tally_unpriced_requests 0" "$(grep -E '^tally_unpriced_(combinations|requests) ' <<<"$metrics" | sort)" \
    "/metrics after the new book: 0 and 0"
finish
