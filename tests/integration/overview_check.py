#!/usr/bin/env python3
"""Compares the numbers of an overview page (HTML as served, or the DOM Chromium built)
with the API's for the same caller, month and zone, exactly (the same decimal strings).

    overview_check.py PAGE.html URL TOKEN MONTH TZ

The page carries every figure in data- attributes (data-key, data-usd, data-requests…)
inside sections by id; the API is asked with the same token as a bearer token:
/v1/costs over the month (no group, group_by=team, model, developer), /v1/quotas/status,
/v1/reports/monthly (gaps). Prints one "ok - …" or "FAIL - …" line per check.
"""
import json
from decimal import Decimal
import sys
import urllib.parse
import urllib.request
from html.parser import HTMLParser


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.section = None
        self.items = {}   # section id -> [attrs of elements with data-key]
        self.byid = {}    # element id -> attrs
        self.text = {}    # element id -> its text
        self._open_id = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id")
        if "data-key" in a and self.section:
            self.items.setdefault(self.section, []).append(a)
        if "id" in a:
            self.byid[a["id"]] = a
            self.text[a["id"]] = ""
            self._open_id = a["id"]

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None
        self._open_id = None

    def handle_data(self, data):
        if self._open_id:
            self.text[self._open_id] += data


fails = 0


def check(expected, actual, what):
    global fails
    if expected == actual:
        print(f"ok - {what}")
    else:
        print(f"FAIL - {what}: expected [{expected}], got [{actual}]")
        fails += 1


def main():
    page_file, url, token, month, tz = sys.argv[1:6]
    p = Page()
    p.feed(open(page_file, encoding="utf-8").read())

    def api(path, **q):
        req = urllib.request.Request(f"{url}{path}?{urllib.parse.urlencode(q)}",
                                     headers={"Authorization": f"Bearer {token}"})
        return json.load(urllib.request.urlopen(req, timeout=30))

    y, m = map(int, month.split("-"))
    nxt = f"{y + (m == 12):04d}-{m % 12 + 1:02d}"
    rng = {"from": f"{month}-01", "to": f"{nxt}-01", "tz": tz}
    tag = f"{month} {tz}"

    costs = api("/v1/costs", **rng)  # grouped by developer and model, with totals
    count = lambda priced: str(sum(r["requests"] for r in costs["rows"] if r["priced"] == priced))
    check(costs["totals"]["cost_usd"] or "0", p.byid["total"]["data-usd"],
          f"{tag}: total spend is the API's totals.cost_usd")
    check("$" + p.byid["total"]["data-usd"], p.text["total"], f"{tag}: total shown as given")
    check(count(True), p.byid["requests"]["data-requests"], f"{tag}: priced requests are the API's")
    check(count(False), p.byid["unpriced-requests"]["data-requests"],
          f"{tag}: unpriced requests are the API's")

    for section, group, key, limit in (("teams", "team", "team", 12),
                                       ("models", "model", "model", 12),
                                       ("developers", "developer", "developer_oid", 10)):
        rows = api("/v1/costs", group_by=group, **rng)["rows"]
        want = sorted(((r[key], r["cost_usd"], str(r["requests"])) for r in rows if r["priced"]),
                      key=lambda t: (-Decimal(t[1]), t[0]))[:limit]
        got = [(a["data-key"], a["data-usd"], a["data-requests"])
               for a in p.items.get(section, [])]
        check(want, got, f"{tag}: {section}: (key, cost, requests) as /v1/costs?group_by={group}"
                         " gives them, largest first")
        if section == "models":
            want = sorted((r["model"], str(r["requests"]), str(r["input_tokens"]),
                           str(r["output_tokens"])) for r in rows if not r["priced"])
            got = sorted((a["data-key"], a["data-requests"], a["data-input"], a["data-output"])
                         for a in p.items.get("unpriced", []))
            check(want, got, f"{tag}: unpriced models as /v1/costs?group_by=model gives them")

    quotas = api("/v1/quotas/status")["quotas"]
    want = sorted((str(q["id"]), q["used"], q["limit"]) for q in quotas)
    got = sorted((a["data-key"], a["data-used"], a["data-limit"]) for a in p.items.get("quotas", []))
    check(want, got, f"{tag}: quotas (id, used, limit) as /v1/quotas/status gives them")

    gaps = api("/v1/reports/monthly", month=month, tz=tz)["gaps"]
    check((str(len(gaps)), str(sum(g["lost_messages"] for g in gaps))),
          (p.byid["gaps"]["data-gaps"], p.byid["gaps"]["data-lost"]),
          f"{tag}: gaps and lost messages as the monthly report gives them")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
