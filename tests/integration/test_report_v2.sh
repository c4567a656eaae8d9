#!/usr/bin/env bash
# The reports over a v2 book (tests/fixtures/prices/v2-fixture.json: tiers at 100000 and 200000,
# fast x 2.5, residency us / data-zone-us x 1.1): the chargeback's tier, fast and residency
# requests and costs, and the FOCUS SKU price rows, against hand-computed values; layout=1 of the
# same month keeps the columns of before.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
new_db
CTL=$BIN/ctl/tallyctl
F=$SRC/tests/fixtures/reports
"$CTL" --db "$DB" prices load "$SRC/tests/fixtures/prices/v2-fixture.json" >/dev/null
printf 'oid,upn,display_name,team,cost_center\ndev-v,v@example.com,Vee,green,CC-9\n' >"$TMP/devs.csv"
"$CTL" --db "$DB" developers import "$TMP/devs.csv" >/dev/null
"$CTL" --db "$DB" deployments set fz test-haiku --from 2026-01-01 --residency data-zone-us >/dev/null

# One 15-minute rollup row per line, all on 2026-11-02 (UTC), then the day rollup as their sum.
# Rates per million (haiku from 2026-10-07; opus from 2026-10-07 has no fast prices):
#  A haiku band 0 standard:              in 1000 x 0.10, out 200 x 0.50          = 0.0002
#  B haiku band 3 (100000, 128000]:      tier 100000, in 110000 x 0.50, out 1000 x 2.50 = 0.0575
#  C haiku band 5 fast, us:              tier 200000 x 2.5 x 1.1: in 210000 x 2.75,
#                                        out 2000 x 13.75, read 10000 x 0.275     = 0.60775
#  D deployment fz (haiku, data-zone-us): in 1000 x 0.11, out 100 x 0.55         = 0.000165
#  E fast alias test-haiku-fast:          in 2000 x 0.25, out 400 x 1.25          = 0.001
#  F opus, tokens without a request (an iteration's model): in 100 x 5, out 40 x 25 = 0.0015
#  G opus fast: no fast price in its entry -> unpriced
sql "INSERT INTO usage_rollup_15m (bucket, developer_oid, model, deployment, long_context, prompt_band, speed,
         residency, requests, input_tokens, output_tokens, cache_read_tokens)
     VALUES ('2026-11-02T09:00:00Z', 'dev-v', 'test-haiku', '', false, 0, 'standard', '', 2, 1000, 200, 0),
            ('2026-11-02T09:15:00Z', 'dev-v', 'test-haiku', '', false, 3, 'standard', '', 1, 110000, 1000, 0),
            ('2026-11-02T09:30:00Z', 'dev-v', 'test-haiku', '', true, 5, 'fast', 'us', 1, 210000, 2000, 10000),
            ('2026-11-02T09:45:00Z', 'dev-v', '', 'fz', false, 0, 'standard', '', 1, 1000, 100, 0),
            ('2026-11-02T10:00:00Z', 'dev-v', 'test-haiku-fast', '', false, 0, 'standard', '', 1, 2000, 400, 0),
            ('2026-11-02T10:00:00Z', 'dev-v', 'test-opus', '', false, 0, 'standard', '', 0, 100, 40, 0),
            ('2026-11-02T10:15:00Z', 'dev-v', 'test-opus', '', false, 0, 'fast', '', 1, 10, 0, 0);
     INSERT INTO usage_rollup_day (day, developer_oid, model, deployment, long_context, prompt_band, speed,
         residency, requests, input_tokens, output_tokens, cache_read_tokens)
     SELECT (bucket AT TIME ZONE 'UTC')::date, developer_oid, model, deployment, long_context, prompt_band, speed,
            residency, sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens)
       FROM usage_rollup_15m GROUP BY 1, 2, 3, 4, 5, 6, 7, 8" >/dev/null
report_start
FIN=$(report_token finance fin)

# the chargeback, layout 2
GET "/v1/reports/monthly?month=2026-11&format=csv" "$FIN" >"$TMP/m.csv"
assert_eq 200 "$STATUS" "monthly CSV: 200"
cols() { "$PY" - "$1" "$2" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline='')):
    print(','.join(r[c] for c in sys.argv[2].split(',')))
PY
}
assert_eq "test-haiku,6,0.666615,true,1,2,0.66525,2,0.60875,2,0.607915
test-opus,0,0.0015,true,0,0,0,0,0,0,0
test-opus,1,,false,0,0,,1,,0," \
    "$(cols "$TMP/m.csv" model,requests,cost_usd,priced,long_context_requests,tier_requests,tier_cost_usd,fast_requests,fast_cost_usd,residency_requests,residency_cost_usd)" \
    "chargeback: tier B+C, fast C+E, residency C+D (hand-computed); the iteration's tokens keep a row; fast opus unpriced"
assert_eq "0.1,0.5,0.125,0.2,0.01,v@example.com,green,CC-9" \
    "$(cols "$TMP/m.csv" unit_price_input,unit_price_output,unit_price_cache_write_5m,unit_price_cache_write_1h,unit_price_cache_read,developer_upn,team,cost_center | head -1)" \
    "unit prices stay the standard base rates"
GET "/v1/reports/monthly?month=2026-11" "$FIN" >/dev/null
assert_eq "0.668115 7" "$(json "j['totals']['cost_usd'], j['totals']['requests']")" \
    "JSON total: 0.666615 + 0.0015 (hand-computed), 7 requests"
sum_csv() { "$PY" - "$1" "$2" <<'PY'
import csv, sys
from decimal import Decimal
s = sum((Decimal(r[sys.argv[2]]) for r in csv.DictReader(open(sys.argv[1], newline='')) if r[sys.argv[2]] != ''), Decimal(0))
print(format(s.normalize(), 'f'))
PY
}
assert_eq "$(json "j['totals']['cost_usd']")" "$(sum_csv "$TMP/m.csv" cost_usd)" "sum of cost_usd over the CSV = JSON total"

# layout 1: the columns of before, the same rows
GET "/v1/reports/monthly?month=2026-11&format=csv&layout=1" "$FIN" >"$TMP/m1.csv"
assert_eq "200 25" "$STATUS $(head -1 "$TMP/m1.csv" | tr ',' '\n' | wc -l)" "layout 1: the 25 columns of before"
assert_eq "display_name" "$(head -1 "$TMP/m1.csv" | tr -d '\r' | tr ',' '\n' | tail -1)" "layout 1 ends with display_name"
assert_eq "$(cols "$TMP/m.csv" model,requests,cost_usd)" "$(cols "$TMP/m1.csv" model,requests,cost_usd)" "layout 1: the same rows and costs"

# FOCUS layout 2: one row per class x tier x speed x residency, compared with the hand-written SKU rows
GET "/v1/exports/focus?month=2026-11" "$FIN" >"$TMP/f.csv"
assert_eq 200 "$STATUS" "FOCUS: 200"
assert_eq "x_PriceBook,x_PriceBookSha256,x_PromptTier,x_Speed,x_Residency" \
    "$(head -1 "$TMP/f.csv" | tr -d '\r' | tr ',' '\n' | tail -5 | paste -sd,)" "FOCUS appends x_PromptTier, x_Speed, x_Residency"
"$PY" - "$TMP/f.csv" "$TMP/skus.csv" <<'PY'
import csv, sys
cols = 'SkuId,SkuPriceId,ChargeDescription,x_TokenClass,ConsumedQuantity,ListUnitPrice,BilledCost,x_LongContext,x_PromptTier,x_Speed,x_Residency'.split(',')
with open(sys.argv[2], 'w', newline='') as out:
    w = csv.writer(out, lineterminator='\n')
    w.writerow(cols)
    for r in csv.DictReader(open(sys.argv[1], newline='')):
        w.writerow([r[c] for c in cols])
PY
assert_eq "$(sha256sum <"$F/focus-2026-11-v2-skus.csv")" "$(sha256sum <"$TMP/skus.csv")" \
    "FOCUS SKU rows equal tests/fixtures/reports/focus-2026-11-v2-skus.csv (hand-written) byte for byte"
cmp "$F/focus-2026-11-v2-skus.csv" "$TMP/skus.csv" || diff "$F/focus-2026-11-v2-skus.csv" "$TMP/skus.csv"
assert_eq "0.668115" "$(sum_csv "$TMP/f.csv" BilledCost)" "FOCUS BilledCost sums to the priced total"

# FOCUS layout 1: rows by long context only; a row whose usage was billed at several rates
# has no single ListUnitPrice
GET "/v1/exports/focus?month=2026-11&layout=1" "$FIN" >"$TMP/f1.csv"
assert_eq "200 x_PriceBookSha256" "$STATUS $(head -1 "$TMP/f1.csv" | tr -d '\r' | tr ',' '\n' | tail -1)" "FOCUS layout 1 ends as before"
assert_eq "test-haiku/input,114000,,0.05571,false
test-haiku/output,1700,,0.003155,false
test-haiku/input/long-context,210000,2.75,0.5775,true
test-haiku/output/long-context,2000,13.75,0.0275,true
test-haiku/cache_read/long-context,10000,0.275,0.00275,true
test-opus/input,100,5,0.0005,false
test-opus/output,40,25,0.001,false" \
    "$(cols "$TMP/f1.csv" SkuId,ConsumedQuantity,ListUnitPrice,BilledCost,x_LongContext)" \
    "layout 1: A+B+D+E in one row per class (rates 0.1, 0.5, 0.11, 0.25: no ListUnitPrice), C long context"
assert_eq "0.668115" "$(sum_csv "$TMP/f1.csv" BilledCost)" "FOCUS layout 1 sums to the same total"
finish
