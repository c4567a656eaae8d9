#!/usr/bin/env python3
"""Checks a v2 price book against the design (docs: /work/pricing-design.md, "Price books v2")
and every figure in it against the checked-in excerpt of the page its entry cites.

usage: price_book_sources.py BOOK.json EXCERPTS_DIR
Prints one line per problem and exits 1 when there is any; prints "ok: …" and exits 0 otherwise.
Independent of the C loader on purpose: a second reading of the same rules.
"""
import json
import re
import sys
from datetime import date
from decimal import Decimal

BREAKPOINTS = {32000, 64000, 100000, 128000, 200000, 256000, 500000, 1000000}
CLASSES = ["input", "output", "cache_write_5m", "cache_write_1h", "cache_read"]
BOOK_KEYS = {"format", "name", "published", "currency", "unit", "description", "models"}
MODEL_KEYS = {"model", "aliases", "fast_aliases", "prices"}
PRICE_KEYS = {"effective_from", "effective_to", "source", "read", "tiers", "fast", "residency"}
PRICE_KEYS |= set(CLASSES)
TIER_KEYS = {"over_tokens", "source", "read"} | set(CLASSES)
DECIMAL = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,9})?$")
RESIDENCY_CLASS = re.compile(r"^[a-z0-9-]+$")
# Which excerpt states each residency multiplier, and from which model version it applies
# ("billed at 1.1x standard API rates for Claude Opus 4.6, Claude Sonnet 4.6, and later models").
RESIDENCY_SOURCES = {"us": ("us-only-inference.txt", (4, 6))}
# The fast-mode pages state fast prices as "<model> ... $input/$output MTok" (Claude Code's page)
# or as a table of one model; a multiplier m holds when m x the entry's input and output is there.
FAST_SOURCES = "fast-mode*.txt"
# Table columns of the pricing page, in order; overview pages label each class.
TABLE_ORDER = ["input", "cache_write_5m", "cache_write_1h", "cache_read", "output"]
LABELS = {"input": "Input", "output": "Output", "cache_write_5m": "5m cache write",
          "cache_write_1h": "1h cache write", "cache_read": "Cache read"}

problems = []


def bad(where, msg):
    problems.append(f"{where}: {msg}")


def is_date(s):
    if not isinstance(s, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return False
    try:
        date.fromisoformat(s)
    except ValueError:
        return False
    return True


def check_decimal(where, key, v, positive=False):
    if not isinstance(v, str) or not DECIMAL.match(v):
        bad(where, f'"{key}" is not a decimal string: {json.dumps(v)}')
        return
    if positive and Decimal(v) <= 0:
        bad(where, f'"{key}" is not > 0: "{v}"')


def check_keys(where, obj, allowed, required):
    if not isinstance(obj, dict):
        bad(where, "is not an object")
        return False
    for k in sorted(set(obj) - allowed):
        bad(where, f'unknown key "{k}"')
    for k in sorted(required - set(obj)):
        bad(where, f'missing "{k}"')
    return True


def version(model):
    """(major, minor) of an id like claude-opus-4-6 / claude-fable-5; None if not of that form."""
    m = re.fullmatch(r"claude-[a-z]+-(\d+)(?:-(\d))?", model)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def display_name(model):
    fam, ver = re.fullmatch(r"claude-([a-z]+)-(\d+(?:-\d)?)", model).groups()
    return f"Claude {fam.capitalize()} {ver.replace('-', '.')}"


def validate(book):
    """The design's rules for a v2 book (what the loader must refuse)."""
    if not check_keys("book", book, BOOK_KEYS, BOOK_KEYS - {"description"}):
        return
    if book.get("format") != 2:
        bad("book", '"format" is not 2')
    if not is_date(book.get("published")):
        bad("book", '"published" is not a date')
    if book.get("currency") != "USD" or book.get("unit") != "per_million_tokens":
        bad("book", "currency/unit are not USD per_million_tokens")
    ids = {}
    for mi, m in enumerate(book.get("models", [])):
        where = f'model "{m.get("model", mi)}"'
        if not check_keys(where, m, MODEL_KEYS, {"model", "prices"}):
            continue
        for kind in ("model", "aliases", "fast_aliases"):
            names = [m["model"]] if kind == "model" else m.get(kind, [])
            for n in names:
                if n in ids:
                    bad(where, f'id "{n}" ({kind}) also names {ids[n]}')
                ids[n] = f'{m["model"]} ({kind})'
        ranges = []
        for pi, p in enumerate(m["prices"]):
            pw = f"{where}, prices[{pi}]"
            if not check_keys(pw, p, PRICE_KEYS, PRICE_KEYS - {"effective_to", "tiers", "fast",
                                                                "residency"}):
                continue
            for c in CLASSES:
                if c in p:
                    check_decimal(pw, c, p[c])
            if not is_date(p.get("effective_from")):
                bad(pw, '"effective_from" is not a date')
                continue
            to = p.get("effective_to")
            if to is not None and (not is_date(to) or to <= p["effective_from"]):
                bad(pw, f'"effective_to" is not a date after effective_from: {json.dumps(to)}')
                continue
            ranges.append((p["effective_from"], to or "9999-12-31", pi))
            if not re.fullmatch(r"https://\S+", p.get("source") or ""):
                bad(pw, '"source" is not an https URL')
            if not is_date(p.get("read")):
                bad(pw, '"read" is not a date')
            last = None
            for ti, t in enumerate(p.get("tiers") or []):
                tw = f"{pw}, tiers[{ti}]"
                if not check_keys(tw, t, TIER_KEYS, TIER_KEYS - {"source", "read"}):
                    continue
                if ("source" in t) != ("read" in t):
                    bad(tw, '"source" and "read" go together')
                T = t["over_tokens"]
                if not isinstance(T, int) or T not in BREAKPOINTS:
                    bad(tw, f'"over_tokens" {T} is not a prompt-band breakpoint')
                elif last is not None and T <= last:
                    bad(tw, f'"over_tokens" {T} is not above the previous tier\'s {last}')
                last = T if isinstance(T, int) else last
                for c in CLASSES:  # null: no published price (the tier is unpriced)
                    if t[c] is not None:
                        check_decimal(tw, c, t[c])
            fast = p.get("fast")
            if fast is not None:
                if set(fast) == {"multiplier"}:
                    check_decimal(pw, "fast.multiplier", fast["multiplier"], positive=True)
                else:
                    need = set(CLASSES) | ({"tiers"} if p.get("tiers") else set())
                    check_keys(f"{pw}, fast", fast, need, need)
            for cls, mult in (p.get("residency") or {}).items():
                if not RESIDENCY_CLASS.match(cls):
                    bad(pw, f'residency class "{cls}" is not [a-z0-9-]+')
                check_decimal(pw, f"residency.{cls}", mult, positive=True)
        ranges.sort()
        for (f1, t1, i1), (f2, t2, i2) in zip(ranges, ranges[1:]):
            if f2 < t1:
                bad(where, f"prices[{i2}] ({f2}) overlaps prices[{i1}] ({f1} to {t1})")


def load_excerpts(folder):
    import os
    by_source = {}
    for fn in sorted(os.listdir(folder)):
        if not fn.endswith(".txt"):
            continue
        text = open(os.path.join(folder, fn), encoding="utf-8").read()
        lines = text.split("\n")
        m1 = re.fullmatch(r"source: (https://\S+)", lines[0])
        m2 = re.fullmatch(r"read: (\d{4}-\d{2}-\d{2})", lines[1] if len(lines) > 1 else "")
        if not m1 or not m2 or not is_date(m2.group(1)):
            bad(f"excerpt {fn}", "does not start with 'source: URL' and 'read: YYYY-MM-DD'")
            continue
        if m1.group(1) in by_source:
            bad(f"excerpt {fn}", f"cites the same page as {by_source[m1.group(1)][0]}")
        by_source[m1.group(1)] = (fn, m2.group(1), "\n".join(lines[2:]))
    return by_source


def figures_in(text, name):
    """The five figures a page states for the model named `name`: its pricing-table row,
    else the labelled lines of its overview page. {} when the page states none."""
    row = re.compile(r"^\|?\s*" + re.escape(name) + r"(?:\s*\([^)]*\))?\s*\|(.*)$", re.M)
    for m in row.finditer(text):
        cells = [c.strip() for c in m.group(1).split("|") if c.strip()]
        vals = [re.match(r"^\$([0-9.]+) / MTok", c) for c in cells[:5]]
        if len(vals) == 5 and all(vals):
            return dict(zip(TABLE_ORDER, (v.group(1) for v in vals)))
    # An overview page: its title line names the model ("Claude Opus 5.5Latest"), and no
    # longer version of the name ("Claude Opus 5" must not take the page of Opus 5.5).
    if not re.search(r"^" + re.escape(name) + r"(?![0-9.])", text, re.M):
        return {}
    flat = text.replace("\n- $", " - $")
    out = {}
    for cls, label in LABELS.items():
        found = set(re.findall(r"^- " + re.escape(label) + r" - \$([0-9.]+) / MTok$", flat, re.M))
        if len(found) == 1:
            out[cls] = found.pop()
    return out


def cited_excerpt(where, obj, excerpts):
    """(file, read, text) of the excerpt of obj's "source", its "read" checked; None if none."""
    ex = excerpts.get(obj.get("source"))
    if ex is None:
        bad(where, f'no excerpt of its source {obj.get("source")}')
        return None
    if obj.get("read") != ex[1]:
        bad(where, f'"read" {obj.get("read")} is not the excerpt\'s {ex[1]} ({ex[0]})')
    return ex


def check_sources(book, excerpts, folder):
    for m in book.get("models", []):
        model = m.get("model")
        for pi, p in enumerate(m.get("prices", [])):
            pw = f'model "{model}", prices[{pi}]'
            ex = cited_excerpt(pw, p, excerpts)
            if ex is None:
                continue
            fn, read, text = ex
            page = figures_in(text, display_name(model))
            for c in CLASSES:
                if c not in page:
                    bad(pw, f'{fn} states no {c} for {display_name(model)}')
                elif page[c] != p.get(c):
                    bad(pw, f'"{c}" is "{p.get(c)}" but {fn} says ${page[c]} / MTok')
            for ti, t in enumerate(p.get("tiers") or []):
                check_tier(pw, ti, t, excerpts, (fn, read, text))
            fast = p.get("fast")
            if fast is not None:
                if "multiplier" not in fast:
                    bad(pw, "explicit fast prices: no excerpt check is defined for them")
                elif not fast_stated(folder, model, p, fast["multiplier"]):
                    bad(pw, f'fast multiplier {fast["multiplier"]}x: no {FAST_SOURCES} excerpt '
                            f'gives {short_name(model)} fast input / output at that multiple')
            res = p.get("residency") or {}
            for cls, (rfn, since) in RESIDENCY_SOURCES.items():
                ver = version(model)
                eligible = ver is not None and ver >= since
                if cls in res:
                    if not eligible:
                        bad(pw, f'residency "{cls}" on a model before {since[0]}.{since[1]}')
                    if f"{res[cls]}x" not in excerpts_text(folder, rfn):
                        bad(pw, f'residency "{cls}" {res[cls]}x not in {rfn}')
                elif eligible:
                    bad(pw, f'no residency "{cls}" although {rfn} applies it to this model')
            for cls in res:
                if cls not in RESIDENCY_SOURCES:
                    bad(pw, f'residency "{cls}": no excerpt states its multiplier')


def long_context_table(text, over):
    """The figures a pricing page's long-context table states over `over` tokens:
    "≤ 200K input tokens | > 200K input tokens |" then rows "Input: $3 / MTok | Input: $6 / MTok |"."""
    head = f"≤ {over // 1000}K input tokens | > {over // 1000}K input tokens |"
    lines = text.split("\n")
    out = {}
    labels = {"Input": "input", "Output": "output"}
    for i, line in enumerate(lines):
        if line.strip() != head:
            continue
        for row in lines[i + 1:]:
            if re.fullmatch(r"[-|\s]+", row):
                continue
            m = re.fullmatch(r"(\w+): \$[0-9.]+ / MTok \| (\w+): \$([0-9.]+) / MTok \|", row.strip())
            if not m or m.group(1) != m.group(2) or m.group(1) not in labels:
                break
            out[labels[m.group(1)]] = m.group(3)
    return out


def check_tier(pw, ti, t, excerpts, entry_excerpt):
    """Each figure of a tier is on its page (the tier's own "source", else its entry's), as an
    overview's "for prompts over N tokens" line or a row of the long-context table; a null
    class (no published price) must be one that page states nothing for."""
    fn, read, text = entry_excerpt
    if "source" in t:
        ex = cited_excerpt(f"{pw}: tiers[{ti}]", t, excerpts)
        if ex is None:
            return
        fn, read, text = ex
    over = t["over_tokens"]
    table = long_context_table(text, over)
    for c in CLASSES:
        overview = (f"- {LABELS[c]} - .*\\$([0-9.]+) / MTok for prompts over {over:,} tokens")
        stated = set(re.findall(overview, text)) | ({table[c]} if c in table else set())
        if t[c] is None:
            if stated:
                bad(pw, f"tiers[{ti}] {c} is null but {fn} states ${min(stated)} over {over:,}")
        elif str(t[c]) not in stated:
            bad(pw, f"tiers[{ti}] {c} ${t[c]} over {over:,} not in {fn}")


def short_name(model):
    """"Opus 4.8" for claude-opus-4-8: how the fast-mode pages name a model."""
    return display_name(model).removeprefix("Claude ")


def fast_stated(folder, model, price, mult):
    import glob
    import os
    try:
        m = Decimal(mult)
        want = (Decimal(price["input"]) * m, Decimal(price["output"]) * m)
    except (KeyError, ArithmeticError, ValueError):
        return False
    pat = re.compile(re.escape(short_name(model)) + r"(?![0-9.])[^$\n]*\$([0-9.]+)/\$?([0-9.]+) MTok")
    for path in sorted(glob.glob(os.path.join(folder, FAST_SOURCES))):
        for a, o in pat.findall(open(path, encoding="utf-8").read()):
            if (Decimal(a), Decimal(o)) == want:
                return True
    return False


def excerpts_text(folder, fn):
    import os
    path = os.path.join(folder, fn)
    return open(path, encoding="utf-8").read() if os.path.exists(path) else ""


def refuse_float(text):
    raise ValueError(f"a JSON number with a fraction is refused (binary floating point): {text}")


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            book = json.load(f, parse_float=refuse_float)
    except (OSError, ValueError) as e:
        print(f"could not read price book: {e}")
        return 1
    validate(book)
    check_sources(book, load_excerpts(sys.argv[2]), sys.argv[2])
    for p in problems:
        print(p)
    if problems:
        return 1
    n = sum(len(m["prices"]) for m in book["models"])
    print(f'ok: {len(book["models"])} models, {n} price entries, every figure in its excerpt')
    return 0


if __name__ == "__main__":
    sys.exit(main())
