#!/usr/bin/env python3
"""Runs every query of the Grafana dashboards the way Grafana would, against real Postgres.

Grafana turns a panel's rawSql into SQL in three steps, reproduced here:
  1. the browser's template service replaces variables ($team, ${team}, ${team:sqlstring},
     [[team]]) and the built-ins ($__interval, $__interval_ms, $__from, $__to); a multi-value
     or include-All variable becomes 'a','b' (each quoted, ' doubled), a single-value one its
     bare value with ' doubled; "All" without a custom all value is every option;
  2. the backend's sqleng replaces $__interval_ms, $__interval, $__unixEpochFrom() and
     $__unixEpochTo();
  3. the Postgres macro engine expands $__name(args): $__timeFilter(c) is
     c BETWEEN 'from' AND 'to' (RFC 3339, UTC), $__timeGroup(c, 1h) is
     floor(extract(epoch from c)/3600)*3600, and so on.

Checks (each prints "ok - …" or "FAIL - …"; the exit code is the number of failures, capped):
  JSON: unique dashboard uids and panel ids, every datasource reference resolves to a
  provisioned datasource of the same type, every variable used is defined and every defined
  variable is used, Prometheus metrics exist in the daemons' sources;
  SQL, as the read-only role: every variable query returns options; every panel returns
  exactly its expected columns and rows whose measure is non-zero on the seeded range, and
  nothing (or zeros) on a range without data; per-team results add up to the All result;
  a value with a quote in it is harmless.
"""
import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import re
import subprocess
import sys
from decimal import Decimal

ALL = "$__all"

# Expected result of every SQL panel: its columns in order, the measure that must be non-zero
# on the seeded range, and whether the panel follows the time range (False: current state).
EXPECTED = {
    ("tally-team", "Cost in range"): (["cost_usd"], "cost_usd", True),
    ("tally-team", "Requests"): (["requests"], "requests", True),
    ("tally-team", "Input served from cache"): (["cache_share"], "cache_share", True),
    ("tally-team", "Saved by the cache"): (["cache_read_saved_usd"], "cache_read_saved_usd", True),
    ("tally-team", "Month to date against budget"):
        (["team", "month_to_date_usd", "budget_usd", "budget_used"], "month_to_date_usd", True),
    ("tally-team", "Daily cost by model"): (["time", "metric", "cost_usd"], "cost_usd", True),
    ("tally-team", "Cost per developer"):
        (["developer", "team", "requests", "input_tokens", "output_tokens", "cache_share",
          "cost_usd", "all_priced"], "cost_usd", True),
    ("tally-team", "Cost per model"): (["model", "cost_usd"], "cost_usd", True),
    ("tally-team", "Input served from cache, per day"):
        (["time", "cache_share", "cache_read_saved_usd"], "cache_read_saved_usd", True),
    ("tally-team", "Most expensive sessions"):
        (["session_id", "developer", "team", "started", "last_request", "requests", "models",
          "cache_share", "cost_usd"], "cost_usd", True),
    ("tally-finance", "Cost"): (["cost_usd"], "cost_usd", True),
    ("tally-finance", "Unpriced requests"): (["unpriced_requests"], "unpriced_requests", True),
    ("tally-finance", "Price book in use"): (["price_book", "published"], None, False),
    ("tally-finance", "By cost centre"):
        (["cost_center", "developers", "requests", "cost_usd", "unpriced_requests"], "cost_usd", True),
    ("tally-finance", "By team"):
        (["team", "cost_center", "developers", "requests", "cost_usd"], "cost_usd", True),
    ("tally-finance", "By model"):
        (["model", "requests", "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
          "cache_read_tokens", "output_tokens", "cost_usd"], "cost_usd", True),
    ("tally-finance", "Cost per day by cost centre"): (["time", "metric", "cost_usd"], "cost_usd", True),
    ("tally-finance", "Per month, cost centre, team and model"):
        (["month", "cost_center", "team", "model", "requests", "cost_usd"], "cost_usd", True),
    ("tally-finance", "Unpriced usage"):
        (["model", "deployment", "first_day", "last_day", "requests", "input_tokens",
          "cache_write_tokens", "cache_read_tokens", "output_tokens"], "requests", True),
    ("tally-finance", "Prices in use"):
        (["model", "effective_from", "effective_to", "input", "cache_write_5m", "cache_write_1h",
          "cache_read", "output", "lc_threshold", "lc_input", "lc_output"], "input", False),
    ("tally-finance", "Price books loaded"): (["name", "published", "sha256", "loaded_at"], None, False),
    ("tally-finance", "Months: open or closed"):
        (["month", "tz", "state", "closed_at", "closed_by", "forced", "reason", "closed_cost_usd"], None, False),
    ("tally-finance", "Corrections pending"):
        (["corrected_month", "tz", "correction_cost_usd", "lines"], None, False),
    ("tally-finance", "Reconciliation with the Azure bill"):
        (["day", "resource_name", "deployments", "metered_cost_usd", "billed_cost_usd", "delta_usd",
          "delta_pct", "outside_tolerance", "tolerance_pct", "unpriced_requests"], "metered_cost_usd", True),
    ("tally-platform", "Events ingested"): (["events"], "events", True),
    ("tally-platform", "Rejects"): (["rejects"], "rejects", True),
    ("tally-platform", "Unpriced requests"): (["unpriced_requests"], "unpriced_requests", True),
    ("tally-platform", "Since the last offset commit"): (["seconds_since_commit"], None, False),
    ("tally-platform", "Ingest rate"): (["time", "events_per_minute"], "events_per_minute", True),
    ("tally-platform", "Event age when written"): (["time", "p50_seconds", "p95_seconds"], "p95_seconds", True),
    ("tally-platform", "Committed offsets"):
        (["consumer_group", "topic", "partition", "next_offset", "updated_at",
          "seconds_since_commit"], "next_offset", False),
    ("tally-platform", "Rejects by reason"): (["time", "metric", "rejects"], "rejects", True),
    ("tally-platform", "Reject reasons"):
        (["reason", "rejects", "first_seen", "last_seen", "example_source"], "rejects", True),
    ("tally-platform", "Quota use"):
        (["quota", "scope", "subject", "metric", "period", "tz", "period_start", "used",
          "limit_value", "ratio", "forecast", "unpriced_tokens"], "limit_value", False),
    ("tally-platform", "Alerts fired"):
        (["fired_at", "quota", "threshold", "used", "limit_value", "ratio", "delivered",
          "pending", "failed"], "used", True),
    ("tally-platform", "Unpriced requests by model"): (["time", "metric", "requests"], "requests", True),
    ("tally-platform", "Unpriced this month: model, speed, residency"):
        (["model", "deployment", "speed", "residency", "requests", "tokens", "first_seen",
          "last_seen", "reason", "price_book"], "tokens", False),
    ("tally-platform", "Messages lost before ingestion"):
        (["detected_at", "consumer_group", "topic", "partition", "first_offset", "last_offset",
          "lost_messages", "last_event_before", "first_event_after"], "lost_messages", False),
}

# Built-in variables of the browser's template service (not dashboard variables).
BUILTINS = {"__interval", "__interval_ms", "__from", "__to", "__range", "__range_s",
            "__range_ms", "__rate_interval", "__dashboard", "__org", "__user", "__timezone"}
# Macros of the Postgres datasource ($__name(…)): not variables either.
MACROS = {"__time", "__timeEpoch", "__timeFilter", "__timeFrom", "__timeTo", "__timeGroup",
          "__timeGroupAlias", "__unixEpochFilter", "__unixEpochNanoFilter", "__unixEpochNanoFrom",
          "__unixEpochNanoTo", "__unixEpochGroup", "__unixEpochGroupAlias", "__unixEpochFrom",
          "__unixEpochTo"}

# public/app/features/templating/template_srv.ts: $var, [[var:fmt]], ${var.path:fmt}
VAR_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
# pkg/tsdb/grafana-postgresql-datasource/macros.go
MACRO_RE = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")

FAILS = 0


EXPECT_EMPTY = set()  # (uid, title) of panels that must return no row (--empty)


def ok(cond, msg, detail=""):
    global FAILS
    if cond:
        print(f"ok - {msg}")
    else:
        FAILS += 1
        print(f"FAIL - {msg}{': ' + detail if detail else ''}")
    return cond


# ---------------------------------------------------------------- time and intervals

def rfc3339nano(t):
    """Go's time.RFC3339Nano of a UTC time: fraction without trailing zeros, 'Z'."""
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += ("." + f"{t.microsecond:06d}").rstrip("0")
    return s + "Z"


UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_interval(text):
    """gtime.ParseInterval for the units dashboards may use (M is calendar-dependent: refused)."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip().strip("'"))
    if not m:
        raise ValueError(f"error parsing interval {text}")
    return int(m.group(1)) * UNITS[m.group(2)]


def format_interval(seconds):
    """gtime.FormatInterval / the browser's secondsToHms for the intervals computed below."""
    for unit, size in (("y", 31536000), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


# rangeutil.roundInterval: (upper bound ms, rounded ms)
ROUND = [(10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500),
         (1500, 1000), (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000),
         (25000, 20000), (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000),
         (750000, 600000), (1050000, 900000), (1500000, 1200000), (2700000, 1800000),
         (5400000, 3600000), (9000000, 7200000), (16200000, 10800000), (27000000, 21600000),
         (86400000, 43200000), (604800000, 86400000), (1814400000, 604800000),
         (3628800000, 2592000000)]


def panel_interval(t_from, t_to, min_interval, max_points=1000):
    """rangeutil.calculateInterval: the range over the data points, rounded, at least the
    panel's (or datasource's, 1m by default) minimum interval."""
    ms = (t_to - t_from).total_seconds() * 1000 / max_points
    rounded = 31536000000
    for bound, value in ROUND:
        if ms < bound:
            rounded = value
            break
    low = parse_interval(min_interval) * 1000 if min_interval else 60000
    return max(rounded, low) / 1000


def go_float(v):
    """fmt's %v of a float64 of whole or fractional seconds."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


# ---------------------------------------------------------------- step 1: template service

def quote_literal(v):
    return "'" + str(v).replace("'", "''") + "'"


def sql_interpolate(value, var):
    """The SQL datasource's interpolateVariable (grafana-sql SqlDatasource)."""
    if isinstance(value, list):
        return ",".join(quote_literal(v) for v in value)
    if var is not None and (var.get("multi") or var.get("includeAll")):
        return quote_literal(value)
    return str(value).replace("'", "''")


def apply_format(value, fmt, texts):
    vals = value if isinstance(value, list) else [value]
    if fmt == "sqlstring":
        return ",".join(quote_literal(v) for v in vals)
    if fmt == "csv":
        return ",".join(vals)
    if fmt == "raw":
        return ",".join(vals)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in vals)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in vals)
    if fmt == "pipe":
        return "|".join(vals)
    if fmt == "text":
        return " + ".join(texts)
    raise ValueError(f"variable format {fmt!r} not supported by this test")


def template_replace(sql, variables, current, builtins):
    """variables: name -> definition; current: name -> (values list or ALL, options)."""

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name in builtins:
            v = builtins[name]
            return apply_format(v, fmt, [v]) if fmt else sql_interpolate(v, None)
        if name not in variables:
            return m.group(0)  # not a variable: left for the backend ($__timeFilter…)
        var = variables[name]
        sel, options = current[name]
        if sel == ALL:
            if var.get("allValue"):
                return var["allValue"]
            values = [o["value"] for o in options]
        else:
            values = sel
        texts = [o["text"] for o in options if o["value"] in values] or values
        if fmt:
            return apply_format(values, fmt, texts)
        if not (var.get("multi") or var.get("includeAll")) and len(values) == 1:
            return sql_interpolate(values[0], var)
        return sql_interpolate(values, var)

    return VAR_RE.sub(repl, sql)


# ---------------------------------------------------------------- steps 2 and 3: backend

def sqleng_interpolate(sql, interval_s, t_from, t_to):
    sql = sql.replace("$__interval_ms", str(int(interval_s * 1000)))
    sql = sql.replace("$__interval", format_interval(interval_s))
    sql = sql.replace("$__unixEpochFrom()", str(int(t_from.timestamp())))
    sql = sql.replace("$__unixEpochTo()", str(int(t_to.timestamp())))
    return sql


def macro_expand(sql, t_from, t_to):
    f, t = rfc3339nano(t_from), rfc3339nano(t_to)

    def evaluate(name, args):
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{f}' AND '{t}'"
        if name == "__timeFrom":
            return f"'{f}'"
        if name == "__timeTo":
            return f"'{t}'"
        if name == "__timeGroup":
            if len(args) < 2:
                raise ValueError("macro __timeGroup needs time column and interval")
            secs = go_float(parse_interval(args[1]))
            return f"floor(extract(epoch from {args[0]})/{secs})*{secs}"
        if name == "__timeGroupAlias":
            return evaluate("__timeGroup", args) + ' AS "time"'
        if name == "__unixEpochFilter":
            return (f"{args[0]} >= {int(t_from.timestamp())} AND "
                    f"{args[0]} <= {int(t_to.timestamp())}")
        if name == "__unixEpochGroup":
            secs = go_float(parse_interval(args[1]))
            return f"floor(({args[0]})/{secs})*{secs}"
        if name == "__unixEpochGroupAlias":
            return evaluate("__unixEpochGroup", args) + ' AS "time"'
        raise ValueError(f"unknown macro {name!r}")

    def repl(m):
        name = m.group(1)
        # macros.go: "$__timeGroup(…)," is the pre-5.3 spelling of $__timeGroupAlias
        if name == "__timeGroup" and m.end() < len(sql) and sql[m.end()] == ",":
            name = "__timeGroupAlias"
        args = [a.strip(" ") for a in m.group(2).split(",")]
        return evaluate(name, args)

    return MACRO_RE.sub(repl, sql)


def expand(sql, variables, current, t_from, t_to, min_interval=None):
    interval_s = panel_interval(t_from, t_to, min_interval)
    builtins = {"__interval": format_interval(interval_s),
                "__interval_ms": str(int(interval_s * 1000)),
                "__from": str(int(t_from.timestamp() * 1000)),
                "__to": str(int(t_to.timestamp() * 1000)),
                "__range_s": str(int((t_to - t_from).total_seconds())),
                "__range_ms": str(int((t_to - t_from).total_seconds() * 1000))}
    sql = template_replace(sql, variables, current, builtins)
    sql = sqleng_interpolate(sql, interval_s, t_from, t_to)
    return macro_expand(sql, t_from, t_to)


# ---------------------------------------------------------------- Postgres

class QueryError(Exception):
    pass


NULL = "\x01NULL"
MARK = "@@grafana_sql@@ "
_cache = {}


def run_batch(db, sqls):
    """Runs queries in one psql session (one connection, as Grafana's pool would), each as
    Grafana runs it: one statement, the read-only role. Returns, per query, (columns, rows
    of strings, NULL as None) or a QueryError."""
    todo = [q for q in dict.fromkeys(sqls) if q not in _cache]
    if todo:
        lines = ["\\set ON_ERROR_STOP 0", "\\pset format csv", "\\pset null '\x01NULL'"]
        spans = []
        for i, q in enumerate(todo):
            lines.append(f"\\echo '{MARK}{i}'")
            first = len(lines) + 1
            lines.extend(q.rstrip().rstrip(";").split("\n"))
            lines.append(";")
            spans.append((first, len(lines)))
        lines.append(f"\\echo '{MARK}end'")
        p = subprocess.run(["psql", db, "-X", "-q", "-f", "-"], input="\n".join(lines) + "\n",
                           capture_output=True, text=True, timeout=600)
        if p.returncode not in (0, 1) or MARK + "end" not in p.stdout:
            raise RuntimeError(f"psql failed: {p.stderr.strip()[:500]}")
        errors = {}
        for m in re.finditer(r"^psql:<stdin>:(\d+): (ERROR:.*(?:\n(?!psql:).*)*)", p.stderr, re.M):
            errors[int(m.group(1))] = m.group(2).strip()
        outputs = re.split(r"^" + re.escape(MARK) + r"(\d+|end)\n", p.stdout, flags=re.M)
        chunks = dict(zip(outputs[1::2], outputs[2::2]))
        for i, q in enumerate(todo):
            lo, hi = spans[i]
            err = [e for line, e in errors.items() if lo <= line <= hi]
            if err:
                _cache[q] = QueryError(err[0])
                continue
            r = list(csv.reader(io.StringIO(chunks.get(str(i), ""))))
            rows = [[None if c == NULL else c for c in row] for row in r[1:]]
            _cache[q] = (r[0] if r else [], rows)
    return [_cache[q] for q in sqls]


def run_sql(db, sql):
    r = run_batch(db, [sql])[0]
    if isinstance(r, QueryError):
        raise r
    return r


def to_number(s):
    if s is None or s == "":
        return None
    try:
        return Decimal(s)
    except Exception:
        return None


# ---------------------------------------------------------------- checks

def load(dirpath):
    dashboards = {}
    for name in sorted(os.listdir(dirpath)):
        if name.endswith(".json"):
            with open(os.path.join(dirpath, name)) as fh:
                dashboards[name] = json.load(fh)
    return dashboards


def provisioned_datasources(prov_dir):
    """(uid -> type) from provisioning/datasources/*.yaml, read without a YAML library:
    each list item's uid: and type: lines."""
    out = {}
    ddir = os.path.join(prov_dir, "datasources")
    for name in sorted(os.listdir(ddir)):
        if not name.endswith((".yaml", ".yml")):
            continue
        item = {}
        for line in open(os.path.join(ddir, name)):
            line = line.split("#", 1)[0].rstrip()
            m = re.match(r"^\s*(-\s+)?(uid|type|name):\s*(\S+)\s*$", line)
            if not m:
                continue
            if m.group(1) and item:
                if "uid" in item:
                    out[item["uid"]] = item.get("type")
                item = {}
            item[m.group(2)] = m.group(3).strip("'\"")
        if "uid" in item:
            out[item["uid"]] = item.get("type")
    return out


def all_panels(d):
    for p in d.get("panels", []):
        yield p
        for q in p.get("panels", []):
            yield q


def used_names(text):
    names = set()
    for m in VAR_RE.finditer(text or ""):
        n = m.group(1) or m.group(2) or m.group(4)
        if n not in BUILTINS and n not in MACROS:
            names.add(n)
    return names


def json_checks(dashboards, datasources, src):
    uids = [d.get("uid") for d in dashboards.values()]
    ok(len(uids) == len(set(uids)) and all(uids), "dashboard uids are set and unique", str(uids))
    for fname, d in dashboards.items():
        ok(d.get("schemaVersion", 0) >= 36, f"{fname}: schemaVersion {d.get('schemaVersion')}")
        panels = list(all_panels(d))
        ids = [p.get("id") for p in panels]
        ok(len(ids) == len(set(ids)), f"{fname}: panel ids are unique")
        cells, overlap = set(), []
        for p in panels:
            g = p.get("gridPos", {})
            if not all(k in g for k in "hwxy") or g["x"] + g["w"] > 24:
                overlap.append(f"{p.get('title')}: gridPos {g}")
                continue
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    if (x, y) in cells:
                        overlap.append(p.get("title"))
                    cells.add((x, y))
        ok(not overlap, f"{fname}: panels lie on the 24-column grid without overlapping",
           str(sorted(set(map(str, overlap)))))
        refs = []
        for p in panels:
            if p.get("type") == "row":
                continue
            refs.append((p.get("title"), p.get("datasource")))
            for tgt in p.get("targets", []):
                refs.append((p.get("title"), tgt.get("datasource", p.get("datasource"))))
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                refs.append(("variable " + v["name"], v.get("datasource")))
        bad = [f"{t}: {ds}" for t, ds in refs
               if not isinstance(ds, dict) or datasources.get(ds.get("uid")) != ds.get("type")]
        ok(not bad, f"{fname}: all {len(refs)} datasource references resolve to a provisioned "
           f"datasource of the same type", "; ".join(bad))
        defined = {v["name"] for v in d.get("templating", {}).get("list", [])}
        used = set()
        for p in panels:
            for tgt in p.get("targets", []):
                used |= used_names(tgt.get("rawSql") or tgt.get("expr"))
        for v in d.get("templating", {}).get("list", []):
            used |= used_names(v.get("query") if isinstance(v.get("query"), str)
                               else json.dumps(v.get("query")))
        ok(used <= defined, f"{fname}: every variable used is defined", str(used - defined))
        ok(defined <= used, f"{fname}: every variable defined is used", str(defined - used))
        for p in panels:
            if p.get("type") == "row":
                continue
            key = (d["uid"], p["title"])
            for tgt in p.get("targets", []):
                if tgt.get("datasource", {}).get("type") == "prometheus":
                    metrics = set(re.findall(r"\btally_[a-z0-9_]+", tgt.get("expr", "")))
                    missing = [m for m in metrics if not source_has(src, m)]
                    ok(metrics and not missing,
                       f"{fname}: \"{p['title']}\" queries metrics the daemons export",
                       str(missing))
                elif key not in EXPECTED:
                    ok(False, f"{fname}: panel \"{p['title']}\" has expectations in this test")
            for tgt in p.get("targets", []):
                sql = tgt.get("rawSql", "")
                for m in MACRO_RE.finditer(sql):
                    if m.group(1) in ("__timeGroup", "__timeGroupAlias"):
                        arg = m.group(2).split(",")[1].strip() if "," in m.group(2) else ""
                        ok(arg == "$__interval" or re.fullmatch(r"'?\d+(s|m|h|d|w)'?", arg),
                           f"{fname}: \"{p['title']}\" groups by a fixed-length interval ({arg})")


def alerting_checks(adir, datasources):
    """Grafana alert rules provisioned next to the dashboards query provisioned datasources."""
    if not os.path.isdir(adir):
        return
    for name in sorted(os.listdir(adir)):
        if name.endswith((".yaml", ".yml")):
            text = open(os.path.join(adir, name)).read()
            uids = set(re.findall(r"datasourceUid:\s*['\"]?([\w-]+)", text)) - {"__expr__"}
            ok(uids and uids <= set(datasources),
               f"alerting/{name}: datasourceUid {sorted(uids)} resolve to provisioned datasources",
               str(uids - set(datasources)))


def source_has(src, metric):
    for sub in ("ingest", "report", "common"):
        base = os.path.join(src, sub)
        if not os.path.isdir(base):
            continue
        for name in os.listdir(base):
            if name.endswith(".c"):
                with open(os.path.join(base, name), errors="replace") as fh:
                    if f'"{metric}"' in fh.read():
                        return True
    return False


def resolve_variables(db, d, t_from, t_to, overrides=None):
    """Runs the variable queries in order (later ones may use earlier ones). Returns
    (definitions, current) with current[name] = (selection, options)."""
    variables, current = {}, {}
    for v in d.get("templating", {}).get("list", []):
        name = v["name"]
        variables[name] = v
        q = v["query"] if isinstance(v["query"], str) else v["query"].get("rawSql", "")
        sql = expand(q, variables, current, t_from, t_to)
        cols, rows = run_sql(db, sql)  # cached: scenarios repeat the same queries
        if "__text" in cols and "__value" in cols:
            ti, vi = cols.index("__text"), cols.index("__value")
            options = [{"text": r[ti], "value": r[vi]} for r in rows]
        else:
            options = [{"text": c, "value": c} for r in rows for c in r]
        seen, uniq = set(), []
        for o in options:  # metricFindQuery: uniqBy text
            if o["text"] not in seen:
                seen.add(o["text"])
                uniq.append(o)
        sel = (overrides or {}).get(name, ALL)
        current[name] = (sel, uniq)
    return variables, current


def run_panels(db, d, scenarios):
    """Runs every SQL panel of d in each scenario (variables, current, from, to), all in one
    psql session. Returns, per scenario, {title: (columns, rows) or QueryError}."""
    keys, sqls = [], []
    for n, (variables, current, t_from, t_to) in enumerate(scenarios):
        for p in all_panels(d):
            for tgt in p.get("targets", []):
                if "rawSql" in tgt:
                    keys.append((n, p["title"]))
                    sqls.append(expand(tgt["rawSql"], variables, current, t_from, t_to,
                                       p.get("interval")))
    out = [{} for _ in scenarios]
    for (n, title), r in zip(keys, run_batch(db, sqls)):
        out[n][title] = r
    return out


def measure_values(cols, rows, measure):
    if measure not in cols:
        return []
    i = cols.index(measure)
    return [to_number(r[i]) for r in rows]


def sql_checks(db, dashboards, ranges, filters):
    totals = {}
    e_from = dt.datetime(2001, 2, 1, tzinfo=dt.timezone.utc)
    e_to = dt.datetime(2001, 2, 28, 23, 59, 59, 999000, tzinfo=dt.timezone.utc)
    for fname, d in dashboards.items():
        uid = d["uid"]
        t_from, t_to = ranges[uid]
        variables, current = resolve_variables(db, d, t_from, t_to)
        for name, (_, options) in current.items():
            ok(len(options) > 0, f"{fname}: variable {name} has options ({len(options)})")

        # every scenario, run in one session: All; a range without data; each variable
        # narrowed to each of its values, to two values, to a value with a quote in it
        scenarios = [(variables, current, t_from, t_to),
                     resolve_variables(db, d, e_from, e_to) + (e_from, e_to)]
        narrowed = []
        for name, (_, options) in current.items():
            sels = [("one", [o["value"]]) for o in options]
            if len(options) >= 2:
                sels.append(("two", [options[0]["value"], options[1]["value"]]))
            sels.append(("quote", ["x'); DROP TABLE x; --"]))
            for kind, sel in sels:
                narrowed.append((name, kind, sel))
                scenarios.append(resolve_variables(db, d, t_from, t_to, {name: sel}) + (t_from, t_to))
        results = run_panels(db, d, scenarios)

        base, empty = results[0], results[1]
        for title, r in base.items():
            cols_exp, measure, timed = EXPECTED[(uid, title)]
            if isinstance(r, QueryError):
                ok(False, f"{fname}: \"{title}\" runs as the read-only role", str(r))
                continue
            cols, rows = r
            ok(cols == cols_exp, f"{fname}: \"{title}\" returns columns {','.join(cols_exp)}",
               ",".join(cols))
            if (uid, title) in EXPECT_EMPTY:
                ok(len(rows) == 0, f"{fname}: \"{title}\" returns no row for this login (--empty)",
                   f"{len(rows)} row(s)")
            elif measure:
                vals = [v for v in measure_values(cols, rows, measure) if v]
                ok(len(rows) > 0 and len(vals) > 0,
                   f"{fname}: \"{title}\" returns {len(rows)} row(s), {measure} non-zero")
            else:
                ok(len(rows) > 0, f"{fname}: \"{title}\" returns {len(rows)} row(s)")
            if title in filters.get(uid, {}):
                totals[(uid, title)] = sum([v for v in measure_values(cols, rows, filters[uid][title])
                                            if v], Decimal(0))
        ok(len(base) > 0, f"{fname}: {len(base)} SQL panels ran")

        # the time range is honoured: a month without data gives no rows or zeros
        for title, r in empty.items():
            cols_exp, measure, timed = EXPECTED[(uid, title)]
            if not timed:
                continue
            if isinstance(r, QueryError):
                ok(False, f"{fname}: \"{title}\" runs on an empty range", str(r))
                continue
            vals = [v for v in measure_values(*r, measure) if v]
            ok(not vals, f"{fname}: \"{title}\" is empty on a range without data (honours the time range)",
               f"{len(vals)} non-zero {measure}")

        # narrowed: still runs with the same columns; the parts add up to the whole
        parts, failed = {}, set()
        for (name, kind, sel), res in zip(narrowed, results[2:]):
            errs = [f"{t}: {r}" for t, r in res.items() if isinstance(r, QueryError)]
            bad = [t for t, r in res.items()
                   if not isinstance(r, QueryError) and r[0] != EXPECTED[(uid, t)][0]]
            if errs or bad:
                failed.add(name)
                ok(False, f"{fname}: {name}={sel} runs with the same columns",
                   ("; ".join(errs) + str(bad))[:500])
                continue
            if kind == "one":
                for title, m in filters.get(uid, {}).items():
                    vals = measure_values(*res[title], m)
                    key = (name, title)
                    parts[key] = parts.get(key, Decimal(0)) + sum([v for v in vals if v], Decimal(0))
            if kind == "quote":
                vals = [v for t, m in filters.get(uid, {}).items() for v in measure_values(*res[t], m) if v]
                ok(not vals, f"{fname}: {name} with a quote in its value runs and matches nothing")
        for name, (_, options) in current.items():
            if name in failed:
                continue
            ok(True, f"{fname}: {name} narrowed to each of its {len(options)} values, to two, and to "
               f"a quoted value: every panel runs with the same columns")
            for title in filters.get(uid, {}):
                whole = totals.get((uid, title))
                ok(parts.get((name, title)) == whole,
                   f"{fname}: \"{title}\" summed over every {name} equals All ({whole})",
                   f"{parts.get((name, title))}")
    return totals


def self_test():
    """The expansion against examples of Grafana's own behaviour (macros_test.go, the SQL
    datasource's interpolateVariable), so a wrong emulation cannot pass the panels."""
    f = dt.datetime(2018, 4, 12, 18, 0, 0, tzinfo=dt.timezone.utc)
    t = dt.datetime(2018, 4, 12, 18, 5, 0, 123000, tzinfo=dt.timezone.utc)
    teams = {"name": "team", "multi": True, "includeAll": True, "allValue": "'__all'"}
    one = {"name": "one", "multi": False, "includeAll": False}
    opts = [{"text": "a", "value": "a"}, {"text": "o'b", "value": "o'b"}]
    cases = [
        ("$__timeFilter(time_column)", {},
         "time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00.123Z'"),
        ("$__timeFrom() $__timeTo()", {}, "'2018-04-12T18:00:00Z' '2018-04-12T18:05:00.123Z'"),
        ("GROUP BY $__timeGroup(time_column,'5m')", {}, "GROUP BY floor(extract(epoch from time_column)/300)*300"),
        ("$__timeGroup(time_column,'5m'), x", {},
         "floor(extract(epoch from time_column)/300)*300 AS \"time\", x"),
        ("$__timeGroupAlias(c, 1d)", {}, "floor(extract(epoch from c)/86400)*86400 AS \"time\""),
        ("$__timeGroupAlias(c, $__interval)", {}, "floor(extract(epoch from c)/60)*60 AS \"time\""),
        ("$__unixEpochFilter(c)", {}, "c >= 1523556000 AND c <= 1523556300"),
        ("$__interval_ms $__interval", {}, "60000 1m"),
        ("IN ($team)", {"team": (["a", "o'b"], opts)}, "IN ('a','o''b')"),
        ("IN ($team)", {"team": (["a"], opts)}, "IN ('a')"),
        ("IN (${team})", {"team": (ALL, opts)}, "IN ('__all')"),
        ("IN (${team:sqlstring})", {"team": (["o'b"], opts)}, "IN ('o''b')"),
        ("[[team:csv]]", {"team": (["a", "o'b"], opts)}, "a,o'b"),
        ("= '$one'", {"one": (["o'b"], opts)}, "= 'o''b'"),
        ("$unknown", {}, "$unknown"),
    ]
    variables = {"team": teams, "one": one}
    for sql, cur, want in cases:
        got = expand(sql, variables, cur, f, t)
        ok(got == want, f"expands {sql!r} as Grafana does", f"got {got!r}, want {want!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True, help="conninfo of the read-only login")
    ap.add_argument("--dashboards", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--range", action="append", default=[],
                    help="UID=FROM,TO (ISO 8601, UTC) per dashboard")
    ap.add_argument("--empty", action="append", default=[],
                    help="UID/TITLE: a panel this login must get no row from (e.g. a team login's "
                         "reconciliation, the bill being the whole company's)")
    ap.add_argument("--expect-total", action="append", default=[],
                    help="UID/TITLE=DECIMAL: the measure of a one-value panel over All")
    ap.add_argument("--json-only", action="store_true")
    ap.add_argument("--only", action="append", default=[],
                    help="UID: run the SQL checks of these dashboards only (default: all)")
    a = ap.parse_args()

    EXPECT_EMPTY.update(tuple(e.split("/", 1)) for e in a.empty)
    dashboards = load(a.dashboards)
    datasources = provisioned_datasources(os.path.join(a.dashboards, "provisioning"))
    self_test()
    ok(len(dashboards) >= 3, f"{len(dashboards)} dashboards found")
    ok("tally-postgres" in datasources, "the Postgres datasource tally-postgres is provisioned",
       str(datasources))
    json_checks(dashboards, datasources, a.src)
    alerting_checks(os.path.join(a.dashboards, "provisioning", "alerting"), datasources)
    if a.json_only:
        return

    ranges = {}
    for r in a.range:
        uid, span = r.split("=", 1)
        f, t = span.split(",")
        ranges[uid] = (dt.datetime.fromisoformat(f.replace("Z", "+00:00")),
                       dt.datetime.fromisoformat(t.replace("Z", "+00:00")))
    # panels whose totals must partition over every variable value
    filters = {"tally-team": {"Cost in range": "cost_usd", "Requests": "requests"},
               "tally-finance": {"Cost": "cost_usd"}}
    if a.only:
        dashboards = {f: d for f, d in dashboards.items() if d["uid"] in a.only}
        ok(len(dashboards) == len(set(a.only)), f"--only names {len(dashboards)} dashboard(s)")
    totals = sql_checks(a.db, dashboards, ranges, filters)
    for e in a.expect_total:
        key, val = e.split("=", 1)
        uid, title = key.split("/", 1)
        ok(to_number(val) is not None and totals.get((uid, title)) == to_number(val),
           f"{uid} \"{title}\" equals {val} computed independently", str(totals.get((uid, title))))


if __name__ == "__main__":
    main()
    print(f"{FAILS} check(s) failed" if FAILS else "all checks passed")
    sys.exit(min(FAILS, 100))
