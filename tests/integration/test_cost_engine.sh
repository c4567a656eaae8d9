#!/usr/bin/env bash
# The cost engine (schema/migrations/0003_cost.sql) against hand-computed expectations:
# every token class of every shipped model, aliases and deployment mappings, long
# context, a price change inside a month, unsplit cache writes, unpriced usage, pinning
# a book, and month/day boundaries in UTC, America/New_York (both DST changes),
# Asia/Kolkata (+05:30) and Asia/Kathmandu (+05:45).
#
# Events go into usage_events and are rolled up the way the ingest sink does it (one
# upsert of the 15-minute and daily rollups per batch, two batches so that the monthly
# rollup's triggers see inserts and updates).
source "$(dirname "$0")/../lib.sh"
need_env
new_db
CTL=$BIN/ctl/tallyctl
BOOK=anthropic-list-2026-11

"$CTL" --db "$DB" prices load "$SRC/schema/prices/$BOOK.json" >/dev/null
"$CTL" --db "$DB" deployments set haiku-dep claude-haiku-4-5-20251001 >/dev/null
"$CTL" --db "$DB" deployments set dep-x claude-haiku-4-5 >/dev/null
"$CTL" --db "$DB" deployments set dep-x claude-sonnet-4-5 --from 2026-11-20T10:15:00Z >/dev/null
cat >"$TMP/devs.csv" <<'CSV'
oid,upn,display_name,team,cost_center
dev-1,one@example.com,"One, Developer",red,CC1
dev-2,two@example.com,Two,blue,CC2
CSV
"$CTL" --db "$DB" developers import "$TMP/devs.csv" >/dev/null
sql "INSERT INTO developer_labels VALUES ('dev-3', 'three@example.com', now())"

# roll TABLE KEY-EXPRESSION KEY-COLUMN: the upsert of one rollup for a batch's events (in
# the legacy prompt band of the flag each test event sets)
roll() {
    echo "INSERT INTO $1 AS r
SELECT $2, developer_oid, model, deployment, long_context, count(*), sum(input_tokens),
       sum(output_tokens), sum(cache_read_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens),
       sum(cache_write_unsplit_tokens), count(*) FILTER (WHERE cache_write_unknown), 0, 0,
       CASE WHEN long_context THEN 101 ELSE 100 END
  FROM usage_events WHERE request_id LIKE p_batch || ':%' GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ($3, developer_oid, model, deployment, prompt_band, speed, residency) DO UPDATE SET
  requests = r.requests + excluded.requests, input_tokens = r.input_tokens + excluded.input_tokens,
  output_tokens = r.output_tokens + excluded.output_tokens,
  cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
  cache_write_5m_tokens = r.cache_write_5m_tokens + excluded.cache_write_5m_tokens,
  cache_write_1h_tokens = r.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
  cache_write_unsplit_tokens = r.cache_write_unsplit_tokens + excluded.cache_write_unsplit_tokens,
  cache_unknown_requests = r.cache_unknown_requests + excluded.cache_unknown_requests;"
}
sql "CREATE FUNCTION test_roll(p_batch text) RETURNS void LANGUAGE sql AS \$\$
$(roll usage_rollup_15m "date_bin('15 minutes', event_time, timestamptz '2000-01-01 00:00+00')" bucket)
$(roll usage_rollup_day "(event_time AT TIME ZONE 'UTC')::date" day)
\$\$"

EVENTS=()
# ev BATCH:ID TIME DEV MODEL DEPLOYMENT LC INPUT OUTPUT CW5M CW1H READ [UNSPLIT]
ev() {
    local unsplit=${12:-0} unknown=false
    [ "$unsplit" != 0 ] && unknown=true
    EVENTS+=("('$1', '$2', 1, '$3', '$4', '$5', $6, $7, $8, $9, ${10}, ${11}, $unsplit, $unknown)")
}
flush() {
    local IFS=,
    sql "INSERT INTO usage_events (request_id, event_time, source_format, developer_oid, model,
         deployment, long_context, input_tokens, output_tokens, cache_write_5m_tokens,
         cache_write_1h_tokens, cache_read_tokens, cache_write_unsplit_tokens, cache_write_unknown)
         VALUES ${EVENTS[*]}"
    EVENTS=()
}

# --- dev-1: every shipped model once on 2026-11-10, every class:
# input 1,000,000; output 100,000; 5m writes 200,000; 1h writes 300,000; reads 2,000,000.
# cost = 1×in + 0.1×out + 0.2×w5 + 0.3×w1 + 2×read (rates per MTok):
#   Opus 4/4.1:    15 + 7.5 + 3.75 + 9 + 3   = 38.25
#   Opus 4.5/4.6:  5 + 2.5 + 1.25 + 3 + 1    = 12.75
#   Sonnet 4/4.5/4.6: 3 + 1.5 + 0.75 + 1.8 + 0.6 = 7.65
#   Haiku 4.5:     1 + 0.5 + 0.25 + 0.6 + 0.2 = 2.55          dev-1 total 127.5
# Dated ids go through the aliases; haiku comes through its deployment's mapping.
T='2026-11-10T12:00:00Z'
ev b1:o4 $T dev-1 claude-opus-4-20250514 d false 1000000 100000 200000 300000 2000000
ev b1:o41 $T dev-1 claude-opus-4-1-20250805 d false 1000000 100000 200000 300000 2000000
ev b1:o45 $T dev-1 claude-opus-4-5-20251101 d false 1000000 100000 200000 300000 2000000
ev b1:o46 $T dev-1 claude-opus-4-6 d false 1000000 100000 200000 300000 2000000
ev b1:s4 $T dev-1 claude-sonnet-4-20250514 d false 1000000 100000 200000 300000 2000000
ev b1:s45 $T dev-1 claude-sonnet-4-5 d false 1000000 100000 200000 300000 2000000
ev b1:s46 $T dev-1 claude-sonnet-4-6 d false 1000000 100000 200000 300000 2000000
ev b1:h45 $T dev-1 '' haiku-dep false 1000000 100000 200000 300000 2000000
# --- dev-2: long context.
# Sonnet 4.5 long-context request: 250,000 in × 6 = 1.5; 10,000 out × 22.50 = 0.225;
#   20,000 5m × 7.50 = 0.15; 100,000 1h × 12 = 1.2; 50,000 read × 0.60 = 0.03 → 3.105
# and a normal one: 100,000 in × 3 = 0.3; 1,000 out × 15 = 0.015 → 0.315; row 3.42
ev b1:lc1 2026-11-11T09:00:00Z dev-2 claude-sonnet-4-5-20250929 d true 250000 10000 20000 100000 50000
ev b1:lc2 2026-11-11T09:30:00Z dev-2 claude-sonnet-4-5 d false 100000 1000 0 0 0
# Opus 4.6 long context after 2026-03-13 has no premium: 300,000 × 5 + 10,000 × 25 = 1.75
ev b1:lc3 2026-11-12T09:00:00Z dev-2 claude-opus-4-6 d true 300000 10000 0 0 0
# In March 2026 the premium ends on the 13th: 03-05 at 10/37.50 → 3 + 0.375 = 3.375;
# 03-20 at 5/25 → 1.75; the March row is 5.125
ev b1:lc4 2026-03-05T09:00:00Z dev-2 claude-opus-4-6 d true 300000 10000 0 0 0
ev b1:lc5 2026-03-20T09:00:00Z dev-2 claude-opus-4-6 d true 300000 10000 0 0 0
# --- dev-3: 1,000,000 cache writes of unknown split, at the 5m rate: 1.25; and an
# unknown model (unpriced: no cost, not $0).
ev b1:un1 2026-11-13T08:00:00Z dev-3 claude-haiku-4-5 d false 0 0 0 0 0 1000000
ev b1:up1 2026-11-13T08:00:00Z dev-3 gpt-4o gpt false 1000 500 0 0 0
# --- dev-4: test-model (fixture book only) changes price on 2026-11-16 00:00 UTC:
# 1,000,000 in at 1 before, at 10 after → 11 in one row
ev b1:pc1 2026-11-15T23:50:00Z dev-4 test-model d false 1000000 0 0 0 0
ev b1:pc2 2026-11-16T00:05:00Z dev-4 test-model d false 1000000 0 0 0 0
# --- dev-6: deployment dep-x maps to Haiku, then to Sonnet 4.5 from 2026-11-20 10:15 UTC:
# 1,000,000 in each side → 1 (haiku) and 3 (sonnet)
ev b1:dx1 2026-11-20T10:14:00Z dev-6 '' dep-x false 1000000 0 0 0 0
ev b1:dx2 2026-11-20T10:16:00Z dev-6 '' dep-x false 1000000 0 0 0 0
flush
sql "SELECT test_roll('b1')" >/dev/null

# --- month boundaries: Haiku input at start-1min, start+1min, end-1min, end+1min of the
# zone's November: 1M, 2M, 4M, 8M tokens → the zone's own report has 6M, $6, 2 requests.
boundary() { # boundary DEV START END (UTC instants of the local month)
    local s e
    s=$(date -u -d "$2" +%s); e=$(date -u -d "$3" +%s)
    for x in "$((s - 60)):1000000" "$((s + 60)):2000000" "$((e - 60)):4000000" "$((e + 60)):8000000"; do
        ev "b2:$1-${x%%:*}" "$(date -u -d "@${x%%:*}" +%FT%TZ)" "$1" claude-haiku-4-5 d false "${x##*:}" 0 0 0 0
    done
}
boundary tz-utc 2026-11-01T00:00:00Z 2026-12-01T00:00:00Z
boundary tz-ny 2026-11-01T04:00:00Z 2026-12-01T05:00:00Z  # EDT → EST on Nov 1
boundary tz-nymar 2026-03-01T05:00:00Z 2026-04-01T04:00:00Z # EST → EDT on Mar 8
boundary tz-kol 2026-10-31T18:30:00Z 2026-11-30T18:30:00Z
boundary tz-ktm 2026-10-31T18:15:00Z 2026-11-30T18:15:00Z
# the DST day 2026-03-08 in New York is 23 hours: 03-09 03:59Z is still the 8th (23:59 EDT)
ev b2:dst1 2026-03-09T03:59:00Z dev-dst claude-haiku-4-5 d false 1000000 0 0 0 0
ev b2:dst2 2026-03-09T04:01:00Z dev-dst claude-haiku-4-5 d false 2000000 0 0 0 0
# a second batch on keys of the first (the daily rollup's update path)
ev b2:lc6 2026-11-11T09:00:00Z dev-2 claude-sonnet-4-5 d false 100000 1000 0 0 0
flush
sql "SELECT test_roll('b2')" >/dev/null
# dev-2 sonnet 4.5 row: 3.42 + 0.315 = 3.735, 3 requests

# The monthly rollup equals the sum of the daily one, row for row.
assert_eq 0 "$(sql "WITH d AS (
    SELECT date_trunc('month', day)::date, developer_oid, model, deployment, long_context, sum(requests),
           sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_5m_tokens),
           sum(cache_write_1h_tokens), sum(cache_write_unsplit_tokens)
      FROM usage_rollup_day GROUP BY 1, 2, 3, 4, 5
), m AS (
    SELECT month, developer_oid, model, deployment, long_context, requests, input_tokens, output_tokens,
           cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens
      FROM usage_rollup_month)
SELECT count(*) FROM ((TABLE d EXCEPT TABLE m) UNION ALL (TABLE m EXCEPT TABLE d)) x")" "monthly rollup = sum of daily rollup"

monthly() { # monthly BOOKEXPR MONTH TZ [WHERE]: the report as psql -A lines
    sql "SELECT r.* FROM tally_report_monthly($1, '$2', '$3') r ${4:-}"
}
SHA=$(sql "SELECT sha256 FROM price_books WHERE name = '$BOOK'")

# --- every class of every shipped model (dev-1), whole rows in the chargeback order (docs/architecture.md, "Chargeback CSV") + extras
# (a v1 book: nothing billed at a tier other than long context, fast or with a residency multiplier)
expected="2026-11|UTC|dev-1|one@example.com|red|CC1|claude-haiku-4-5|1|1000000|200000|300000|2000000|100000|2.55|t|$BOOK|$SHA|1|5|1.25|2|0.1|0|0|One, Developer|0|0|0|0|0|0
2026-11|UTC|dev-1|one@example.com|red|CC1|claude-opus-4|1|1000000|200000|300000|2000000|100000|38.25|t|$BOOK|$SHA|15|75|18.75|30|1.5|0|0|One, Developer|0|0|0|0|0|0
2026-11|UTC|dev-1|one@example.com|red|CC1|claude-opus-4-1|1|1000000|200000|300000|2000000|100000|38.25|t|$BOOK|$SHA|15|75|18.75|30|1.5|0|0|One, Developer|0|0|0|0|0|0
2026-11|UTC|dev-1|one@example.com|red|CC1|claude-opus-4-5|1|1000000|200000|300000|2000000|100000|12.75|t|$BOOK|$SHA|5|25|6.25|10|0.5|0|0|One, Developer|0|0|0|0|0|0
2026-11|UTC|dev-1|one@example.com|red|CC1|claude-opus-4-6|1|1000000|200000|300000|2000000|100000|12.75|t|$BOOK|$SHA|5|25|6.25|10|0.5|0|0|One, Developer|0|0|0|0|0|0
2026-11|UTC|dev-1|one@example.com|red|CC1|claude-sonnet-4|1|1000000|200000|300000|2000000|100000|7.65|t|$BOOK|$SHA|3|15|3.75|6|0.3|0|0|One, Developer|0|0|0|0|0|0
2026-11|UTC|dev-1|one@example.com|red|CC1|claude-sonnet-4-5|1|1000000|200000|300000|2000000|100000|7.65|t|$BOOK|$SHA|3|15|3.75|6|0.3|0|0|One, Developer|0|0|0|0|0|0
2026-11|UTC|dev-1|one@example.com|red|CC1|claude-sonnet-4-6|1|1000000|200000|300000|2000000|100000|7.65|t|$BOOK|$SHA|3|15|3.75|6|0.3|0|0|One, Developer|0|0|0|0|0|0"
assert_eq "$expected" "$(monthly "tally_book('$BOOK')" 2026-11 UTC "WHERE developer_oid = 'dev-1'")" \
    "every class of every shipped model, aliases and deployment mapping"

# --- long context
assert_eq "claude-opus-4-6|1|1.75|5|1
claude-sonnet-4-5|3|3.735|3|1" \
    "$(monthly "tally_book(NULL)" 2026-11 UTC "WHERE developer_oid = 'dev-2'" | cut -d'|' -f7,8,14,18,23)" \
    "long context: Sonnet 4.5 premium per request, none for Opus 4.6 after 2026-03-13"
assert_eq "dev-2|claude-opus-4-6|2|5.125|2" \
    "$(monthly "tally_book(NULL)" 2026-03 UTC "WHERE developer_oid = 'dev-2'" | cut -d'|' -f3,7,8,14,23)" \
    "Opus 4.6 long-context premium until 2026-03-13, none after"
assert_eq "dev-2|claude-opus-4-6|2|5.125|2" \
    "$(monthly "tally_book(NULL)" 2026-03 Asia/Kolkata "WHERE developer_oid = 'dev-2'" | cut -d'|' -f3,7,8,14,23)" \
    "the same in Asia/Kolkata (the month spans a price change)"

# --- unsplit cache writes: charged at the 5m rate, counted in 5m, flagged
assert_eq "three@example.com||claude-haiku-4-5|1|1000000|1.25|t|1000000" \
    "$(monthly "tally_book(NULL)" 2026-11 UTC "WHERE developer_oid = 'dev-3' AND priced" | cut -d'|' -f4,5,7,8,10,14,15,24)" \
    "unknown 5m/1h split: 5m rate, flagged in cache_write_unsplit_tokens"

# --- unpriced: priced=false, empty cost (not 0), listed by tally_unpriced with tokens
assert_eq "dev-3|gpt-4o|1|1000|500||f|$BOOK" \
    "$(monthly "tally_book(NULL)" 2026-11 UTC "WHERE NOT priced AND developer_oid = 'dev-3'" | cut -d'|' -f3,7,8,9,13,14,15,16)" \
    "unknown model: priced false, cost empty"
assert_eq "gpt-4o|gpt|dev-3|1|1000|0|0|0|0|500
test-model|d|dev-4|2|2000000|0|0|0|0|0" \
    "$(sql "SELECT * FROM tally_unpriced('2026-11-01T00:00Z', '2026-12-01T00:00Z')")" \
    "tally_unpriced lists the unpriced usage with its tokens"

# --- deployment mapping changed inside the month, at a 15-minute boundary
assert_eq "claude-haiku-4-5|1|1
claude-sonnet-4-5|1|3" \
    "$(monthly "tally_book(NULL)" 2026-11 UTC "WHERE developer_oid = 'dev-6'" | cut -d'|' -f7,8,14)" \
    "deployment mapping: the model in effect at the event's time"

# --- exact totals: UTC November with the shipped book
# dev-1 127.5 + dev-2 (1.75 + 3.735) + dev-3 1.25 + dev-6 4 + boundary devs in UTC November:
# tz-utc 2M+4M = 6; tz-ny 1M+2M = 3 (its end-of-month events are on Dec 1 UTC); tz-kol and
# tz-ktm 4M+8M = 12 each (their start-of-month events are on Oct 31 UTC) → 171.235
assert_eq "171.235" "$(sql "SELECT sum(cost_usd::numeric) FROM tally_report_monthly(tally_book(NULL), '2026-11', 'UTC')")" \
    "sum of cost_usd over the rows = the hand-computed total"
assert_eq "171.235" "$(sql "SELECT trim_scale(sum(cost_usd)) FROM tally_usage_priced(tally_book(NULL), '2026-11-01T00:00Z', '2026-12-01T00:00Z', 'UTC', 'day')")" \
    "daily grain sums to the same total"
assert_eq "" "$(sql "SELECT cost_usd FROM tally_report_monthly(tally_book(NULL), '2026-11', 'UTC') WHERE cost_usd ~ '[eE]|0\$' AND cost_usd ~ '\\.'")" \
    "amounts are plain decimals: no exponent, no trailing zeros"

# --- time zones: each zone's boundary developer has exactly its 2M + 4M in its November
for z in UTC:tz-utc America/New_York:tz-ny Asia/Kolkata:tz-kol Asia/Kathmandu:tz-ktm; do
    assert_eq "2026-11|${z%%:*}|${z##*:}|2|6000000|6" \
        "$(monthly "tally_book(NULL)" 2026-11 "${z%%:*}" "WHERE developer_oid = '${z##*:}'" | cut -d'|' -f1,2,3,8,9,14)" \
        "${z%%:*}: one minute either side of both month boundaries"
done
assert_eq "2026-03|America/New_York|tz-nymar|2|6000000|6" \
    "$(monthly "tally_book(NULL)" 2026-03 America/New_York "WHERE developer_oid = 'tz-nymar'" | cut -d'|' -f1,2,3,8,9,14)" \
    "America/New_York March 2026 (DST starts inside the month)"
assert_eq "2026-03-08 05:00:00+00|1000000|1
2026-03-09 04:00:00+00|2000000|2" \
    "$(sql "SET TIME ZONE 'UTC'; SELECT period_start, input_tokens, trim_scale(cost_usd) FROM tally_usage_priced(tally_book(NULL),
            '2026-03-08T05:00Z', '2026-03-10T04:00Z', 'America/New_York', 'day') WHERE developer_oid = 'dev-dst' ORDER BY 1")" \
    "local days across the DST change: the 23-hour day ends at 04:00Z"
for z in UTC America/New_York Asia/Kolkata Asia/Kathmandu; do
    # month rows (monthly rollup ± buckets) = the same range read by day (daily rollup ± buckets)
    assert_eq "" "$(sql "SELECT m.m_start FROM tally_month_range('2026-11', '$z') m,
        LATERAL (SELECT sum(cost_usd) c, sum(input_tokens) i FROM tally_usage_priced(tally_book(NULL), m.m_start, m.m_end, '$z', 'none')) a,
        LATERAL (SELECT sum(cost_usd) c, sum(input_tokens) i FROM tally_usage_priced(tally_book(NULL), m.m_start, m.m_end, '$z', 'day')) b
        WHERE a.c <> b.c OR a.i <> b.i")" "$z: the month by month pieces equals the month by day pieces"
done

# --- one developer read through the key = the same rows filtered from everyone's
for z in UTC Asia/Kathmandu; do
    assert_eq "$(sql "SELECT period_start, model, requests, input_tokens, cost_usd FROM tally_usage_priced(tally_book(NULL),
                      '2026-10-01T00:00Z', '2026-12-02T00:00Z', '$z', 'day') WHERE developer_oid = 'tz-ktm' ORDER BY 1, 2")" \
        "$(sql "SELECT period_start, model, requests, input_tokens, cost_usd FROM tally_usage_priced(tally_book(NULL),
                '2026-10-01T00:00Z', '2026-12-02T00:00Z', '$z', 'day', 'tz-ktm') ORDER BY 1, 2")" \
        "$z: p_developer gives that developer's rows exactly"
done
assert_eq "2" "$(sql "SELECT count(*) FROM tally_usage_priced(tally_book(NULL), '2026-10-01T00:00Z', '2026-12-02T00:00Z', 'UTC', 'day', 'tz-ktm')")" \
    "p_developer: its two UTC days with usage (Oct 31 and Nov 30)"

# --- FOCUS 1.2: one row per day × developer × model × class; amounts exact
assert_eq "1.25|1.25|1000000|1|1.25|cache_write_unsplit|2026-11-13T00:00:00Z|2026-11-14T00:00:00Z" \
    "$(sql "SELECT \"BilledCost\", \"ListUnitPrice\", \"ConsumedQuantity\", \"PricingQuantity\", \"EffectiveCost\", \"x_TokenClass\",
                   \"ChargePeriodStart\", \"ChargePeriodEnd\"
              FROM tally_report_focus(tally_book(NULL), '2026-11', 'UTC') WHERE \"x_DeveloperOid\" = 'dev-3'")" \
    "FOCUS: unsplit cache writes as their own class at the 5m rate"
assert_eq "40" "$(sql "SELECT count(*) FROM tally_report_focus(tally_book(NULL), '2026-11', 'UTC') WHERE \"x_DeveloperOid\" = 'dev-1'")" \
    "FOCUS: 8 models × 5 classes for dev-1"
assert_eq "171.235" "$(sql "SELECT sum(\"BilledCost\"::numeric) FROM tally_report_focus(tally_book(NULL), '2026-11', 'UTC')")" \
    "FOCUS: billed cost sums to the chargeback total"
assert_eq "6|2026-11-01T04:00:00Z|2026-12-01T05:00:00Z" \
    "$(sql "SELECT sum(\"BilledCost\"::numeric), min(\"BillingPeriodStart\"), min(\"BillingPeriodEnd\")
              FROM tally_report_focus(tally_book(NULL), '2026-11', 'America/New_York') WHERE \"x_DeveloperOid\" = 'tz-ny'")" \
    "FOCUS: billing period in the zone"
assert_eq "0" "$(sql "SELECT count(*) FROM tally_report_focus(tally_book(NULL), '2026-11', 'UTC') WHERE \"BilledCost\" IS NULL
    OR \"ChargeCategory\" <> 'Usage' OR \"BillingCurrency\" <> 'USD' OR \"x_PriceBookSha256\" <> '$SHA'")" \
    "FOCUS: mandatory columns filled"

# --- pinning: a newer book becomes the default; the old one still gives identical rows
before=$(monthly "tally_book('$BOOK')" 2026-11 UTC)
"$CTL" --db "$DB" prices load "$SRC/tests/fixtures/prices/fixture-2026-12.json" >/dev/null
assert_eq "fixture-2026-12" "$(sql "SELECT name FROM price_books WHERE id = tally_book(NULL)")" "the newer book is the default"
assert_eq "$before" "$(monthly "tally_book('$BOOK')" 2026-11 UTC)" "pinned to the old book: identical rows"
# fixture Sonnet 4.5: 1×4 + 0.1×20 + 0.2×5 + 0.3×8 + 2×0.40 = 10.2 (7.65 with the list book)
assert_eq "claude-sonnet-4-5|10.2|fixture-2026-12" \
    "$(monthly "tally_book(NULL)" 2026-11 UTC "WHERE developer_oid = 'dev-1' AND model = 'claude-sonnet-4-5'" | cut -d'|' -f7,14,16)" \
    "the newer book prices differently"
# --- a price change inside the month: one row, exact sum, unit price not single
assert_eq "test-model|2|2000000|11|t|||" \
    "$(monthly "tally_book('fixture-2026-12')" 2026-11 Asia/Kolkata "WHERE developer_oid = 'dev-4'" | cut -d'|' -f7,8,9,14,15,18,19,20)" \
    "price change on 2026-11-16: 1M at 1 + 1M at 10 = 11 in one row"

# --- errors a client can cause: SQLSTATE 22023 / P0002 with a clear message
err=$(sql "SELECT tally_book('nope')" 2>&1)
assert_match 'price book "nope" is not loaded' "$err" "unknown book"
err=$(sql "SELECT * FROM tally_report_monthly(tally_book(NULL), '2026-13', 'UTC')" 2>&1)
assert_match 'invalid month "2026-13": expected YYYY-MM' "$err" "bad month"
err=$(sql "SELECT * FROM tally_report_monthly(tally_book(NULL), '2026-11', 'Mars/Olympus')" 2>&1)
assert_match 'time zone "Mars/Olympus" not recognized' "$err" "unknown zone"
err=$(sql "SELECT * FROM tally_usage_priced(tally_book(NULL), '2026-11-01T00:07Z', '2026-12-01T00:00Z', 'UTC', 'day')" 2>&1)
assert_match 'not on the 15-minute grid' "$err" "range off the grid"
err=$(sql "SELECT * FROM tally_usage_priced(tally_book(NULL), '2026-11-01T00:00Z', '2026-12-01T00:00Z', 'UTC', 'week')" 2>&1)
assert_match 'invalid grain "week"' "$err" "bad grain"
finish
