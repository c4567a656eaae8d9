#!/usr/bin/env bash
# The shipped v2 price book: the design's format rules, and every figure against the checked-in
# excerpt of the official page its entry cites (tests/fixtures/prices/excerpts/). Then broken
# copies of the book, so the checker is seen to refuse what it must.
source "$(dirname "$0")/../lib.sh"
need_env
BOOK=$SRC/schema/prices/anthropic-list-2026-12.json
EXCERPTS=$SRC/tests/fixtures/prices/excerpts
CHECK="python3 $SRC/tests/integration/price_book_sources.py"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

out=$($CHECK "$BOOK" "$EXCERPTS")
assert_eq 0 $? "the shipped book passes"
assert_eq "ok: 18 models, 18 price entries, every figure in its excerpt" "$out" "checker summary"

# The history the book must (not) carry, asserted as data.
hist=$(python3 - "$BOOK" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
m = {x["model"]: x for x in b["models"]}
def row(name):
    return ";".join(f'{p["effective_from"]}..{p["effective_to"]} in={p["input"]} out={p["output"]} '
                    f'read={p["cache_read"]} us={p["residency"].get("us")}' for p in m[name]["prices"])
for name in ("claude-sonnet-5", "claude-sonnet-5-5", "claude-opus-5-5", "claude-opus-4-5",
             "claude-sonnet-4-6", "claude-haiku-4-5"):
    print(name, row(name))
print("aliases", m["claude-opus-5-5"]["aliases"], m["claude-opus-4"]["aliases"])
print("absent", sorted(n for n in ("claude-haiku-5-5", "claude-fable-5-2", "claude-mythos-5-2")
      if n not in m))
print("fast", sorted((x["model"], p["fast"]["multiplier"]) for x in b["models"] for p in x["prices"]
                     if p["fast"]))
print("fast_aliases", sorted(a for x in b["models"] for a in x.get("fast_aliases", [])))
print("residency", sorted({c for x in b["models"] for p in x["prices"] for c in p["residency"]}))
print("tiers", sorted((x["model"], t["over_tokens"], t.get("source"), t["input"], t["output"],
                       t["cache_write_5m"], t["cache_write_1h"], t["cache_read"])
                      for x in b["models"] for p in x["prices"] for t in p["tiers"]))
PY
)
expected="claude-sonnet-5 2026-06-30..None in=2 out=10 read=0.20 us=1.1
claude-sonnet-5-5 2026-09-28..None in=2 out=10 read=0.20 us=1.1
claude-opus-5-5 2026-09-22..None in=4 out=20 read=0.20 us=1.1
claude-opus-4-5 2025-11-24..None in=5 out=25 read=0.50 us=None
claude-sonnet-4-6 2026-02-17..None in=3 out=15 read=0.30 us=1.1
claude-haiku-4-5 2025-10-15..None in=1 out=5 read=0.10 us=None
aliases ['claude-opus-5-5[1m]'] ['claude-opus-4-20250514', 'claude-opus-4-0']
absent ['claude-fable-5-2', 'claude-haiku-5-5', 'claude-mythos-5-2']
fast [('claude-opus-4-6', '6'), ('claude-opus-4-7', '6'), ('claude-opus-4-8', '2')]
fast_aliases ['claude-opus-4-8-fast', 'claude-opus-5-5-fast', 'claude-opus-5-fast']
residency ['us']
tiers [('claude-sonnet-4', 200000, 'https://docs.anthropic.com/en/docs/about-claude/pricing', '6', '22.50', None, None, None), ('claude-sonnet-4-5', 200000, 'https://docs.anthropic.com/en/docs/about-claude/pricing', '6', '22.50', None, None, None)]"
assert_eq "$expected" "$hist" "history: Sonnet 5 keeps \$2/\$10 (the cancelled rise is absent), no unofficial Sonnet 5.5 cut, 1.1x US only from 4.6, fast only where an official page prices it, no data-zone-us, Sonnet 4 / 4.5 over 200K with only the input and output the page states"

# mutate NAME PYTHON-STATEMENT: a copy of the book with one change (b = the parsed book)
mutate() {
    python3 - "$BOOK" "$TMP/$1.json" "$2" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
m = {x["model"]: x for x in b["models"]}
exec(sys.argv[3])
open(sys.argv[2], "w").write(json.dumps(b, indent=2))
PY
}
refused() { # refused NAME EXPECTED-OUTPUT
    local got
    got=$($CHECK "$TMP/$1.json" "$EXCERPTS")
    assert_eq "1 $2" "$? $got" "refused: $1"
}

mutate figure 'm["claude-opus-5-5"]["prices"][0]["input"] = "5"'
refused figure 'model "claude-opus-5-5", prices[0]: "input" is "5" but opus-5-5-overview.txt says $4 / MTok'
mutate table 'm["claude-opus-4-1"]["prices"][0]["cache_read"] = "1.5"'
refused table 'model "claude-opus-4-1", prices[0]: "cache_read" is "1.5" but pricing-2026-09.txt says $1.50 / MTok'
mutate rise 'm["claude-sonnet-5"]["prices"][0]["effective_to"] = "2026-09-01"; m["claude-sonnet-5"]["prices"].append(dict(m["claude-sonnet-5"]["prices"][0], effective_from="2026-09-01", effective_to=None, input="3", output="15"))'
refused rise 'model "claude-sonnet-5", prices[1]: "input" is "3" but sonnet-5-overview.txt says $2 / MTok
model "claude-sonnet-5", prices[1]: "output" is "15" but sonnet-5-overview.txt says $10 / MTok'
mutate nosource 'del m["claude-fable-5"]["prices"][0]["source"]'
refused nosource 'model "claude-fable-5", prices[0]: missing "source"
model "claude-fable-5", prices[0]: "source" is not an https URL
model "claude-fable-5", prices[0]: no excerpt of its source None'
mutate read 'm["claude-fable-5"]["prices"][0]["read"] = "2026-11-31"'
refused read 'model "claude-fable-5", prices[0]: "read" is not a date
model "claude-fable-5", prices[0]: "read" 2026-11-31 is not the excerpt'"'"'s 2026-12-02 (pricing-2026-09.txt)'
mutate unlisted 'b["models"].append({"model": "claude-haiku-5-5", "prices": [dict(m["claude-sonnet-5"]["prices"][0], input="0.10")]})'
refused unlisted 'model "claude-haiku-5-5", prices[0]: sonnet-5-overview.txt states no input for Claude Haiku 5.5
model "claude-haiku-5-5", prices[0]: sonnet-5-overview.txt states no output for Claude Haiku 5.5
model "claude-haiku-5-5", prices[0]: sonnet-5-overview.txt states no cache_write_5m for Claude Haiku 5.5
model "claude-haiku-5-5", prices[0]: sonnet-5-overview.txt states no cache_write_1h for Claude Haiku 5.5
model "claude-haiku-5-5", prices[0]: sonnet-5-overview.txt states no cache_read for Claude Haiku 5.5'
mutate residency 'm["claude-opus-4-5"]["prices"][0]["residency"] = {"us": "1.1"}; m["claude-opus-5"]["prices"][0]["residency"] = {"data-zone-us": "1.1"}'
refused residency 'model "claude-opus-4-5", prices[0]: residency "us" on a model before 4.6
model "claude-opus-5", prices[0]: no residency "us" although us-only-inference.txt applies it to this model
model "claude-opus-5", prices[0]: residency "data-zone-us": no excerpt states its multiplier'
mutate tiers 'm["claude-opus-5"]["prices"][0]["tiers"] = [dict(over_tokens=200000, input="1", output="1", cache_write_5m="1", cache_write_1h="1", cache_read="1"), dict(over_tokens=150000, input="1", output="1", cache_write_5m="1", cache_write_1h="1", cache_read="1.")]'
refused tiers 'model "claude-opus-5", prices[0], tiers[1]: "over_tokens" 150000 is not a prompt-band breakpoint
model "claude-opus-5", prices[0], tiers[1]: "cache_read" is not a decimal string: "1."
model "claude-opus-5", prices[0]: tiers[0] input $1 over 200,000 not in opus-5-overview.txt
model "claude-opus-5", prices[0]: tiers[0] output $1 over 200,000 not in opus-5-overview.txt
model "claude-opus-5", prices[0]: tiers[0] cache_write_5m $1 over 200,000 not in opus-5-overview.txt
model "claude-opus-5", prices[0]: tiers[0] cache_write_1h $1 over 200,000 not in opus-5-overview.txt
model "claude-opus-5", prices[0]: tiers[0] cache_read $1 over 200,000 not in opus-5-overview.txt
model "claude-opus-5", prices[0]: tiers[1] input $1 over 150,000 not in opus-5-overview.txt
model "claude-opus-5", prices[0]: tiers[1] output $1 over 150,000 not in opus-5-overview.txt
model "claude-opus-5", prices[0]: tiers[1] cache_write_5m $1 over 150,000 not in opus-5-overview.txt
model "claude-opus-5", prices[0]: tiers[1] cache_write_1h $1 over 150,000 not in opus-5-overview.txt
model "claude-opus-5", prices[0]: tiers[1] cache_read $1. over 150,000 not in opus-5-overview.txt'
mutate keys 'b["format"] = 1; m["claude-opus-5"]["prices"][0]["long_context"] = None; m["claude-opus-5-5"]["aliases"].append("claude-opus-5"); m["claude-opus-5"]["prices"].append(dict(m["claude-opus-5"]["prices"][0], effective_from="2026-12-01"))'
refused keys 'book: "format" is not 2
model "claude-opus-5", prices[0]: unknown key "long_context"
model "claude-opus-5", prices[1]: unknown key "long_context"
model "claude-opus-5": prices[1] (2026-12-01) overlaps prices[0] (2026-07-24 to 9999-12-31)
model "claude-opus-5-5": id "claude-opus-5" (aliases) also names claude-opus-5 (model)'
mutate fast 'm["claude-opus-4-8"]["prices"][0]["fast"] = {"multiplier": "6"}; m["claude-opus-5-5"]["prices"][0]["fast"] = {"multiplier": "2"}'
refused fast 'model "claude-opus-4-8", prices[0]: fast multiplier 6x: no fast-mode*.txt excerpt gives Opus 4.8 fast input / output at that multiple
model "claude-opus-5-5", prices[0]: fast multiplier 2x: no fast-mode*.txt excerpt gives Opus 5.5 fast input / output at that multiple'
# A tier's null class (no published price) must be one its page states nothing for; the
# figures it has are read from the tier's own source (the long-context table of the 2025 page).
mutate partial 't = m["claude-sonnet-4-5"]["prices"][0]["tiers"][0]; t["output"] = "22.5"; t["cache_read"] = "0.60"; m["claude-sonnet-4"]["prices"][0]["tiers"][0]["input"] = None'
refused partial 'model "claude-sonnet-4", prices[0]: tiers[0] input is null but pricing-docs-anthropic-2025.txt states $6 over 200,000
model "claude-sonnet-4-5", prices[0]: tiers[0] output $22.5 over 200,000 not in pricing-docs-anthropic-2025.txt
model "claude-sonnet-4-5", prices[0]: tiers[0] cache_read $0.60 over 200,000 not in pricing-docs-anthropic-2025.txt'
mutate tiersource 't = m["claude-sonnet-4-5"]["prices"][0]["tiers"][0]; del t["source"]; m["claude-sonnet-4"]["prices"][0]["tiers"][0]["read"] = "2026-12-01"'
refused tiersource 'model "claude-sonnet-4-5", prices[0], tiers[0]: "source" and "read" go together
model "claude-sonnet-4", prices[0]: tiers[0]: "read" 2026-12-01 is not the excerpt'"'"'s 2026-12-02 (pricing-docs-anthropic-2025.txt)
model "claude-sonnet-4-5", prices[0]: tiers[0] input $6 over 200,000 not in pricing-zh-CN.txt
model "claude-sonnet-4-5", prices[0]: tiers[0] output $22.50 over 200,000 not in pricing-zh-CN.txt'
sed 's/"input": "4"/"input": 4.0/' "$BOOK" >"$TMP/float.json"
refused float 'could not read price book: a JSON number with a fraction is refused (binary floating point): 4.0'

# Every excerpt starts with its page and the date read; a stray file is refused.
mkdir "$TMP/ex" && cp "$EXCERPTS"/*.txt "$TMP/ex/" && printf 'no header\n' >"$TMP/ex/stray.txt"
got=$($CHECK "$BOOK" "$TMP/ex")
assert_eq "1 excerpt stray.txt: does not start with 'source: URL' and 'read: YYYY-MM-DD'" "$? $got" "excerpt headers"
finish
