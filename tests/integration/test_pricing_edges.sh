#!/usr/bin/env bash
# The pricing rules of issue 10 at their edges, against hand-computed decimals: prompt tiers
# at 100000 and 200000 (threshold - 1, threshold, threshold + 1), fast mode (multiplier,
# explicit rates, a Foundry -fast alias, a model without fast rates), residency (us, global,
# not_available, an unlisted class, a deployment's class), fast + residency + tier at once,
# a price change at a UTC midnight read in three zones, a cancelled change corrected by a
# newer book, iterations on two models, and legacy prompt bands 100/101.
#
# Events go through the real tally-ingest (--from-file), which computes each prompt band;
# every case is its own developer, and each expected cost is checked exactly in the monthly
# chargeback as CSV and as JSON (GET /v1/reports/monthly) and in tally_usage_priced.
# Books: tests/fixtures/pricing/edges-b.json (the newest, used by default) and edges-a.json.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
source "$SRC/tests/integration/report_lib.sh"
new_db
CTL=$BIN/ctl/tallyctl
FIX=$SRC/tests/fixtures/pricing

# edges-b is published after edges-a but loaded first: the newest by date is the default
"$CTL" --db "$DB" prices load "$FIX/edges-b.json" >/dev/null
"$CTL" --db "$DB" prices load "$FIX/edges-a.json" >/dev/null
"$CTL" --db "$DB" deployments set dz-dep edge-geo --from 2026-01-01T00:00:00Z --residency data-zone-us >/dev/null

# ev ID TIME DEV MODEL DEPLOYMENT INPUT OUTPUT READ W5M W1H UNSPLIT [SPEED [GEO]]: one
# tally.usage/1 event ("-" = field absent); cache_creation_input_tokens = W5M + W1H +
# UNSPLIT with the 5m/1h split given, so prompt = INPUT + READ + W5M + W1H + UNSPLIT.
# it MODEL INPUT OUTPUT READ W5M W1H UNSPLIT: an iteration of the previous event.
: >"$TMP/desc"
ev() { echo "ev $*" >>"$TMP/desc"; }
it() { echo "it $*" >>"$TMP/desc"; }
T=2026-11-10T12:00:00Z

# ---- tiers. Every tier event: output 1,000, reads 30,000, 5m writes 5,000, 1h writes 4,000,
# unsplit writes 1,000; input = prompt - 40,000.
# edge-t100: base 1 / 5 / 1.25 (5m and unsplit) / 2 (1h) / 0.1 (read); over 100000: 2 / 10 / 2.5 / 4 / 0.2
#   99,999: 59,999×1 + 1,000×5 + 30,000×0.1 + 6,000×1.25 + 4,000×2 = 59,999 + 5,000 + 3,000 + 7,500 + 8,000
#           = 83,499 → 0.083499 (band 2, base)
#  100,000: 60,000 + 23,500 = 83,500 → 0.0835 (band 2: not over 100000, base)
#  100,001: 60,001×2 + 1,000×10 + 30,000×0.2 + 6,000×2.5 + 4,000×4 = 120,002 + 10,000 + 6,000 + 15,000
#           + 16,000 = 167,002 → 0.167002 (band 3, the tier)
ev t100-a $T t100-99999 edge-t100 - 59999 1000 30000 5000 4000 1000
ev t100-b $T t100-100000 edge-t100 - 60000 1000 30000 5000 4000 1000
ev t100-c $T t100-100001 edge-t100 - 60001 1000 30000 5000 4000 1000
# edge-t200: base 3 / 15 / 3.75 / 6 / 0.3; over 200000: 6 / 22.5 / 7.5 / 12 / 0.6
#  199,999: 159,999×3 + 1,000×15 + 30,000×0.3 + 6,000×3.75 + 4,000×6 = 479,997 + 15,000 + 9,000
#           + 22,500 + 24,000 = 550,497 → 0.550497 (band 4, base)
#  200,000: 480,000 + 70,500 = 550,500 → 0.5505 (band 4, base)
#  200,001: 160,001×6 + 1,000×22.5 + 30,000×0.6 + 6,000×7.5 + 4,000×12 = 960,006 + 22,500 + 18,000
#           + 45,000 + 48,000 = 1,093,506 → 1.093506 (band 5, the tier)
ev t200-a $T t200-199999 edge-t200 - 159999 1000 30000 5000 4000 1000
ev t200-b $T t200-200000 edge-t200 - 160000 1000 30000 5000 4000 1000
ev t200-c $T t200-200001 edge-t200 - 160001 1000 30000 5000 4000 1000

# ---- fast mode and residency. Every event: input 10,000, output 2,000, reads 20,000, 5m
# writes 3,000, 1h writes 1,000 (prompt 34,000: band 1).
# edge-fastm: 5 / 25 / 6.25 / 10 / 0.5, fast = 6× = 30 / 150 / 37.5 / 60 / 3:
#   10,000×30 + 2,000×150 + 20,000×3 + 3,000×37.5 + 1,000×60 = 300,000 + 300,000 + 60,000 + 112,500
#   + 60,000 = 832,500 → 0.8325, by usage.speed "fast" and by the fast alias with speed absent
ev fm-1 $T fast-mult edge-fastm - 10000 2000 20000 3000 1000 0 fast
ev fm-2 $T fast-alias edge-fastm-fast - 10000 2000 20000 3000 1000 0
# edge-faste: explicit fast rates 7 / 30 / 8 / 14 / 0.5 (no one multiplier of 2 / 10 / 2.5 / 4 / 0.2):
#   10,000×7 + 2,000×30 + 20,000×0.5 + 3,000×8 + 1,000×14 = 70,000 + 60,000 + 10,000 + 24,000 + 14,000
#   = 178,000 → 0.178
ev fe-1 $T fast-expl edge-faste - 10000 2000 20000 3000 1000 0 fast
# edge-t200 has no fast rates: fast usage on it is unpriced
ev fn-1 $T fast-none edge-t200 - 10000 2000 20000 3000 1000 0 fast
# edge-geo: 1 / 5 / 1.25 / 2 / 0.1: 10,000 + 10,000 + 2,000 + 3,750 + 2,000 = 27,750 → 0.02775 at 1×;
# residency us 1.1: 30,525 → 0.030525; data-zone-us 1.2 (the deployment's): 33,300 → 0.0333;
# global and not_available 1×; eu is not in the book: unpriced
ev g-us $T geo-us edge-geo - 10000 2000 20000 3000 1000 0 standard us
ev g-gl $T geo-global edge-geo - 10000 2000 20000 3000 1000 0 - global
ev g-na $T geo-na edge-geo - 10000 2000 20000 3000 1000 0 - not_available
ev g-eu $T geo-eu edge-geo - 10000 2000 20000 3000 1000 0 - eu
ev g-dz $T geo-dz - dz-dep 10000 2000 20000 3000 1000 0
# fast + us + tier: input 150,000, output 2,000, reads 50,000, 5m 3,000, 1h 1,000 (prompt 204,000:
# band 5, over 200000): tier 2 / 10 / 2.5 / 4 / 0.2 × fast 6 × us 1.1 = 13.2 / 66 / 16.5 / 26.4 / 1.32
#   150,000×13.2 + 2,000×66 + 50,000×1.32 + 3,000×16.5 + 1,000×26.4 = 1,980,000 + 132,000 + 66,000
#   + 49,500 + 26,400 = 2,253,900 → 2.2539
ev g-fx $T geo-combo edge-geo - 150000 2000 50000 3000 1000 0 fast us

# ---- a price change at 2026-11-16 00:00 UTC: edge-change input 1 before, 2 from then on
#   15 Nov 23:59:59.999Z 1,000,000 × 1 = 1;  16 Nov 00:00:00Z 2,000,000 × 2 = 4
#   1 Nov 02:00Z 4,000,000 × 1 = 4 (UTC and Kolkata November; New York's is 31 Oct 22:00)
#   30 Nov 20:00Z 8,000,000 × 2 = 16 (UTC and New York November; Kolkata's is 1 Dec 01:30)
#   UTC: 1 + 4 + 4 + 16 = 25; Asia/Kolkata: 1 + 4 + 4 = 9; America/New_York: 1 + 4 + 16 = 21
ev c-1 2026-11-15T23:59:59.999Z chg edge-change - 1000000 0 0 0 0 0
ev c-2 2026-11-16T00:00:00Z chg edge-change - 2000000 0 0 0 0 0
ev c-3 2026-11-01T02:00:00Z chg edge-change - 4000000 0 0 0 0 0
ev c-4 2026-11-30T20:00:00Z chg edge-change - 8000000 0 0 0 0 0

# ---- a cancelled change: edges-a has edge-sonnet 3 / 15 rising to 6 / 30 from 2026-11-16,
# edges-b (published later) keeps 3 / 15. Each event: 1,000,000 in, 100,000 out.
#   edges-b: 3 + 1.5 = 4.5 each → 9;  edges-a: 4.5 + (6 + 3) = 13.5
ev s-1 2026-11-10T12:00:00Z cancel edge-sonnet - 1000000 100000 0 0 0 0
ev s-2 2026-11-20T12:00:00Z cancel edge-sonnet - 1000000 100000 0 0 0 0

# ---- iterations: the response is edge-t200, its advisor iteration edge-t100.
#   advisor on edge-t100, prompt 60,001 + 30,000 + 5,000 + 4,000 + 1,000 = 100,001 (band 3, over
#   100000): 0.167002 as t100-100001 above; requests 0
#   main on edge-t200, prompt 110,000 + 40,000 = 150,000 (band 4; with the advisor's prompt it
#   would be 250,001, over 200000): 110,000×3 + 2,000×15 + 40,000×0.3 = 330,000 + 30,000 + 12,000
#   = 372,000 → 0.372; requests 1
ev i-1 $T iter edge-t200 - 110000 2000 40000 0 0 0
it edge-t100 60001 1000 30000 5000 4000 1000
it edge-t200 110000 2000 40000 0 0 0

# ---- a tier the page states in part: Sonnet 4 / 4.5 in the shipped anthropic-list-2026-12 have
# a 200000 tier with input 6 and output 22.50 but no cache rates (null). At 200,000 the base
# 3 / 15 / 3.75 / 6 / 0.3, as t200-200000: 0.5505; over 200,000 unpriced, even without cache
# tokens (the whole tier, schema/prices/README.md), never the base rates. Priced with that book
# pinned at the end (the default book knows no claude-sonnet-4*: unpriced there).
ev p-1 $T s45-200000 claude-sonnet-4-5 - 160000 1000 30000 5000 4000 1000
ev p-2 $T s45-200001 claude-sonnet-4-5-20250929 - 160001 1000 30000 5000 4000 1000
ev p-3 $T s45-nocache claude-sonnet-4-5 - 200001 1000 0 0 0 0
ev p-4 $T s4-200001 claude-sonnet-4-0 - 160001 1000 30000 5000 4000 1000

"$PY" - "$TMP/desc" >"$TMP/events.jsonl" <<'PY'
import json, sys
out = []
for line in open(sys.argv[1]):
    f = line.split()
    def usage(i, o, rd, w5, w1, un):
        return {"input_tokens": int(i), "output_tokens": int(o), "cache_read_input_tokens": int(rd),
                "cache_creation_input_tokens": int(w5) + int(w1) + int(un),
                "cache_creation": {"ephemeral_5m_input_tokens": int(w5), "ephemeral_1h_input_tokens": int(w1)}}
    if f[0] == "it":
        out[-1]["usage"].setdefault("iterations", []).append({"type": "message", "model": f[1], **usage(*f[2:8])})
        continue
    _, rid, ts, dev, model, dep = f[:6]
    e = {"schema": "tally.usage/1", "requestId": rid, "timestamp": ts, "userOid": dev,
         "statusCode": 200, "usage": usage(*f[6:12])}
    if model != "-": e["model"] = model
    if dep != "-": e["deploymentName"] = dep
    for k, v in zip(("speed", "inference_geo"), f[12:]):
        if v != "-": e["usage"][k] = v
    out.append(e)
for e in out:
    print(json.dumps(e))
PY
n=$(wc -l <"$TMP/events.jsonl")
out=$("$ING" --db "$DB" --from-file "$TMP/events.jsonl" 2>"$TMP/ingest.log")
assert_eq "read=$n inserted=$n duplicates=0 rejected=0" "$out" "tally-ingest takes every event"
assert_eq "2026-11-15 23:59:59.999+00" "$(sql "SET TIME ZONE 'UTC'; SELECT event_time FROM usage_events WHERE request_id = 'c-1'")" \
    "the last millisecond before the price change is kept"

# ---- legacy bands, written straight into the rollups (their raw events are gone):
# 1,000,000 input tokens per row. Band 100 = (0, 200000]: it straddles edge-t100's 100000 tier
# (unpriced) and lies under edge-t200's 200000 tier (base: 3). Band 101 = (200000, inf): over
# both tiers: edge-t100 at 2, edge-t200 at 6.
for t in "usage_rollup_15m:bucket:timestamptz '2026-11-05 10:00+00'" "usage_rollup_day:day:date '2026-11-05'"; do
    IFS=: read -r tab col at <<<"$t"
    sql "INSERT INTO $tab ($col, developer_oid, model, deployment, prompt_band, speed, residency,
                           long_context, requests, input_tokens, output_tokens, cache_read_tokens,
                           cache_write_5m_tokens, cache_write_1h_tokens, cache_write_unsplit_tokens)
         VALUES ($at, 'leg100', 'edge-t100', '', 100, 'standard', '', false, 1, 1000000, 0, 0, 0, 0, 0),
                ($at, 'leg100', 'edge-t200', '', 100, 'standard', '', false, 1, 1000000, 0, 0, 0, 0, 0),
                ($at, 'leg101', 'edge-t100', '', 101, 'standard', '', true, 1, 1000000, 0, 0, 0, 0, 0),
                ($at, 'leg101', 'edge-t200', '', 101, 'standard', '', true, 1, 1000000, 0, 0, 0, 0, 0)" >/dev/null
done

report_start
FIN=$(report_token finance fin)

# fetch QUERY: the monthly chargeback as CSV and as JSON into $TMP/r.csv and $TMP/r.json,
# each as "developer|model|requests|input_tokens|cost_usd|priced" lines
fetch() {
    GET "/v1/reports/monthly?$1&format=csv" "$FIN" >"$TMP/r.csv"
    [ "$STATUS" = 200 ] || echo "# CSV $1: status $STATUS: $(cat "$TMP/r.csv")"
    "$PY" -c "
import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8')):
    print('|'.join((r['developer_oid'], r['model'], r['requests'], r['input_tokens'], r['cost_usd'], r['priced'])))
" "$TMP/r.csv" | LC_ALL=C sort >"$TMP/rows.csv"
    GET "/v1/reports/monthly?$1" "$FIN" >/dev/null
    [ "$STATUS" = 200 ] || echo "# JSON $1: status $STATUS: $(cat "$TMP/body")"
    json "'\n'.join('|'.join((r['developer_oid'], r['model'], str(r['requests']), str(r['input_tokens']),
                              r['cost_usd'] if r['cost_usd'] is not None else '', str(r['priced']).lower()))
                    for r in j['rows'])" | LC_ALL=C sort >"$TMP/rows.json"
}
# priced_rows BOOK TZ: the same lines from tally_usage_priced over the month 2026-11 in TZ
priced_rows() {
    sql "SELECT u.developer_oid || '|' || u.model || '|' || sum(u.requests) || '|' || sum(u.input_tokens) || '|'
                || coalesce(tally_money_text(sum(u.cost_usd)), '') || '|' || u.priced
           FROM tally_month_range('2026-11', '$2') m,
                tally_usage_priced(tally_book($1), m.m_start, m.m_end, '$2', 'none') u
          GROUP BY u.developer_oid, u.model, u.priced" | sed -e 's/|t$/|true/' -e 's/|f$/|false/' |
        LC_ALL=C sort >"$TMP/rows.sql"
}
# check DEV EXPECTED MESSAGE: DEV's lines, the same in the CSV, the JSON and tally_usage_priced
check() {
    local src
    for src in csv json sql; do
        assert_eq "$2" "$(grep "^$1|" "$TMP/rows.$src")" "$3 ($src)"
    done
}
# detail DEV: how each of DEV's rows was priced (UTC November, default book):
# model|prompt_band|speed|residency|tier|multiplier|cost_usd, NULL as "-"
detail() {
    sql "SELECT concat_ws('|', model, prompt_band, speed, residency, coalesce(tier::text, '-'),
                          coalesce(multiplier::text, '-'), coalesce(tally_money_text(cost_usd), '-'))
           FROM tally_usage_priced_detail(tally_book(NULL), '2026-11-01T00:00Z', '2026-12-01T00:00Z', 'UTC', 'none')
          WHERE developer_oid = '$1' ORDER BY model, prompt_band"
}
# details DEV…: the rows of each DEV in turn, on one line
details() {
    local d
    for d in "$@"; do detail "$d"; done | paste -sd' '
}

fetch "month=2026-11&tz=UTC"
priced_rows NULL UTC
assert_eq "edges-b" "$(json "j['price_book']['name']")" "the default book is the newest by published date, edges-b"

# ---- tiers: over the threshold pays the tier, at the threshold does not
check t100-99999 "t100-99999|edge-t100|1|59999|0.083499|true" "100000 tier, prompt 99,999: base"
check t100-100000 "t100-100000|edge-t100|1|60000|0.0835|true" "100000 tier, prompt 100,000: base"
check t100-100001 "t100-100001|edge-t100|1|60001|0.167002|true" "100000 tier, prompt 100,001: the tier"
check t200-199999 "t200-199999|edge-t200|1|159999|0.550497|true" "200000 tier, prompt 199,999: base"
check t200-200000 "t200-200000|edge-t200|1|160000|0.5505|true" "200000 tier, prompt 200,000: base"
check t200-200001 "t200-200001|edge-t200|1|160001|1.093506|true" "200000 tier, prompt 200,001: the tier"
assert_eq "edge-t100|2|standard||0|1|0.083499 edge-t100|2|standard||0|1|0.0835 edge-t100|3|standard||100000|1|0.167002" \
    "$(details t100-99999 t100-100000 t100-100001)" "100000 edge: bands 2, 2, 3 from ingest; tier 0, 0, 100000"
assert_eq "edge-t200|4|standard||0|1|0.550497 edge-t200|4|standard||0|1|0.5505 edge-t200|5|standard||200000|1|1.093506" \
    "$(details t200-199999 t200-200000 t200-200001)" "200000 edge: bands 4, 4, 5 from ingest; tier 0, 0, 200000"

# ---- fast mode
check fast-mult "fast-mult|edge-fastm|1|10000|0.8325|true" "fast by multiplier (usage.speed fast)"
check fast-alias "fast-alias|edge-fastm|1|10000|0.8325|true" "Foundry -fast alias, speed absent: fast, reported as its model"
check fast-expl "fast-expl|edge-faste|1|10000|0.178|true" "fast by explicit rates"
check fast-none "fast-none|edge-t200|1|10000||false" "fast on a model without fast rates: unpriced"
assert_eq "edge-fastm|1|fast||0|1|0.8325 edge-fastm|1|fast||0|1|0.8325 edge-faste|1|fast||0|1|0.178 edge-t200|1|fast||-|-|-" \
    "$(details fast-mult fast-alias fast-expl fast-none)" \
    "fast: the effective speed (the alias's too); unpriced fast has no tier, multiplier or cost"

# ---- residency
check geo-us "geo-us|edge-geo|1|10000|0.030525|true" "inference_geo us: 1.1x"
check geo-global "geo-global|edge-geo|1|10000|0.02775|true" "inference_geo global: 1x"
check geo-na "geo-na|edge-geo|1|10000|0.02775|true" "inference_geo not_available: 1x"
check geo-eu "geo-eu|edge-geo|1|10000||false" "inference_geo eu, not in the book: unpriced"
check geo-dz "geo-dz|edge-geo|1|10000|0.0333|true" "deployment --residency data-zone-us, no inference_geo: 1.2x"
check geo-combo "geo-combo|edge-geo|1|150000|2.2539|true" "fast + us + 200000 tier together"
assert_eq "edge-geo|1|standard|us|0|1.1|0.030525 edge-geo|1|standard|eu|-|-|-" "$(details geo-us geo-eu)" \
    "residency: us at its multiplier; eu unpriced"
assert_eq "0|1|0.02775 0|1|0.02775" "$(detail geo-global | cut -d'|' -f5-) $(detail geo-na | cut -d'|' -f5-)" \
    "residency: global and not_available at 1x"
# contract.md: tally_usage_priced_detail.residency is "the class after rule 5, '' for neutral"
assert_eq "global=[global] not_available=[not_available]" \
    "global=[$(detail geo-global | cut -d'|' -f4)] not_available=[$(detail geo-na | cut -d'|' -f4)]" \
    "residency: global and not_available keep the class the event sent (billed at 1x)"
assert_eq "edge-geo|1|standard|data-zone-us|0|1.2|0.0333" "$(detail geo-dz)" "residency: the deployment's class"
assert_eq "edge-geo|5|fast|us|200000|1.1|2.2539" "$(detail geo-combo)" "fast + residency + tier: band 5, fast, us"
assert_eq "13.2|66|16.5|26.4|1.32" \
    "$(sql "SELECT concat_ws('|', trim_scale(input), trim_scale(output), trim_scale(cache_write_5m), trim_scale(cache_write_1h),
                           trim_scale(cache_read))
              FROM tally_rate_table(tally_book(NULL))
             WHERE model_key = 'edge-geo' AND speed = 'fast' AND prompt_band = 5 AND residency = 'us'")" \
    "rate table: multipliers on top of fast (fast cache_read 1.2 x 1.1 = 1.32)"
assert_eq "1|1|2.2539|1|2.2539|1|2.2539" \
    "$(sql "SELECT concat_ws('|', requests, tier_requests, tally_money_text(tier_cost_usd), fast_requests,
                           tally_money_text(fast_cost_usd), residency_requests, tally_money_text(residency_cost_usd))
              FROM tally_usage_priced(tally_book(NULL), '2026-11-01T00:00Z', '2026-12-01T00:00Z', 'UTC', 'none')
             WHERE developer_oid = 'geo-combo'")" "tally_usage_priced: the request counts as tier, fast and residency"

# ---- iterations
check iter "iter|edge-t100|0|60001|0.167002|true
iter|edge-t200|1|110000|0.372|true" \
    "iterations: each at its own model and band, the request once under the response's model"
assert_eq "edge-t100|3|standard||100000|1|0.167002 edge-t200|4|standard||0|1|0.372" "$(details iter)" \
    "iterations: the advisor in band 3 (its tier), the main in band 4 (base)"
assert_eq "edge-t100|0.167002 edge-t200|0.372" \
    "$(sql "SELECT \"ResourceName\" || '|' || tally_money_text(sum(\"BilledCost\"::numeric))
              FROM tally_report_focus(tally_book(NULL), '2026-11', 'UTC') WHERE \"x_DeveloperOid\" = 'iter'
             GROUP BY \"ResourceName\" ORDER BY \"ResourceName\"" | paste -sd' ')" "iterations: the FOCUS export bills both models"

# ---- legacy bands
check leg100 "leg100|edge-t100|1|1000000||false
leg100|edge-t200|1|1000000|3|true" "legacy band 100: unpriced against a 100000 tier, base under a 200000 tier"
check leg101 "leg101|edge-t100|1|1000000|2|true
leg101|edge-t200|1|1000000|6|true" "legacy band 101: over both tiers"
assert_eq "edge-t100|100|standard||-|-|- edge-t200|100|standard||0|1|3 edge-t100|101|standard||100000|1|2 edge-t200|101|standard||200000|1|6" \
    "$(details leg100 leg101)" "legacy bands: the tier applied, none where band 100 straddles 100000"

# ---- the price change at a UTC midnight, three zones
check chg "chg|edge-change|4|15000000|25|true" "price change at 00:00 UTC, UTC month"
assert_eq ",,,," "$(grep '^2026-11,UTC,chg,' "$TMP/r.csv" | cut -d, -f18-22)" \
    "a row priced at two price ranges shows no unit prices"
fetch "month=2026-11&tz=Asia/Kolkata"
priced_rows NULL Asia/Kolkata
check chg "chg|edge-change|3|7000000|9|true" "price change, Asia/Kolkata month (18:30Z to 18:30Z)"
fetch "month=2026-11&tz=America/New_York"
priced_rows NULL America/New_York
check chg "chg|edge-change|3|11000000|21|true" "price change, America/New_York month (04:00Z to 05:00Z)"

# ---- a cancelled change: the newest book (default) has none; the older one, pinned, has it
fetch "month=2026-11&tz=UTC"
priced_rows NULL UTC
check cancel "cancel|edge-sonnet|2|2000000|9|true" "cancelled rise: the default book (edges-b) keeps 3 / 15"
fetch "month=2026-11&tz=UTC&price_book=edges-b"
priced_rows "'edges-b'" UTC
check cancel "cancel|edge-sonnet|2|2000000|9|true" "cancelled rise: price_book=edges-b"
fetch "month=2026-11&tz=UTC&price_book=edges-a"
priced_rows "'edges-a'" UTC
check cancel "cancel|edge-sonnet|2|2000000|13.5|true" "cancelled rise: price_book=edges-a reproduces the rise"
assert_eq "edges-a" "$(json "j['price_book']['name']")" "price_book=edges-a: the report names it"

# ---- the whole month, UTC, default book: the sum of every priced case above
# tiers 0.334001 + 2.194503; fast 0.8325 × 2 + 0.178; residency 0.030525 + 0.02775 × 2 + 0.0333
# + 2.2539; change 25; cancel 9; iterations 0.167002 + 0.372; legacy 3 + 2 + 6 = 52.283731
fetch "month=2026-11&tz=UTC"
assert_eq "52.283731" "$(json "j['totals']['cost_usd']")" "JSON total of the month"
assert_eq "52.283731" "$(sql "SELECT tally_money_text(sum(cost_usd)) FROM tally_usage_priced(tally_book(NULL),
                               '2026-11-01T00:00Z', '2026-12-01T00:00Z', 'UTC', 'none')")" "tally_usage_priced total of the month"

# ---- the partly stated tier (anthropic-list-2026-12 pinned; loaded last, as it is the newest)
"$CTL" --db "$DB" prices load "$SRC/schema/prices/anthropic-list-2026-12.json" >/dev/null
fetch "month=2026-11&tz=UTC&price_book=anthropic-list-2026-12"
priced_rows "'anthropic-list-2026-12'" UTC
check s45-200000 "s45-200000|claude-sonnet-4-5|1|160000|0.5505|true" "Sonnet 4.5 at prompt 200,000: base"
check s45-200001 "s45-200001|claude-sonnet-4-5|1|160001||false" "Sonnet 4.5 over 200,000, tier without cache rates: unpriced"
check s45-nocache "s45-nocache|claude-sonnet-4-5|1|200001||false" "Sonnet 4.5 over 200,000 without cache tokens: unpriced too (whole tier)"
check s4-200001 "s4-200001|claude-sonnet-4|1|160001||false" "Sonnet 4 (alias claude-sonnet-4-0) over 200,000: unpriced"
assert_eq "0,1,2,3,4,100" "$(sql "SELECT string_agg(prompt_band::text, ',' ORDER BY prompt_band)
              FROM tally_rate_table(tally_book('anthropic-list-2026-12'))
             WHERE model_key = 'claude-sonnet-4-5' AND speed = 'standard' AND residency = ''")" \
    "rate table: Sonnet 4.5 priced in the bands up to 200,000 only (and legacy band 100)"
assert_eq "claude-sonnet-4|200000|6|22.50|-|-|-
claude-sonnet-4-5|200000|6|22.50|-|-|-" \
    "$(sql "SELECT concat_ws('|', r.model, r.over_tokens, r.input, r.output, coalesce(r.cache_write_5m::text, '-'),
                           coalesce(r.cache_write_1h::text, '-'), coalesce(r.cache_read::text, '-'))
              FROM price_rates r JOIN price_books b ON b.id = r.book_id
             WHERE b.name = 'anthropic-list-2026-12' AND r.over_tokens > 0 AND r.model LIKE 'claude-sonnet-4%'
             ORDER BY r.model")" "price_rates: the partial tiers with NULL for the classes the page does not state"
finish
