#!/usr/bin/env python3
"""What the usage objects of a simulated stream say beyond the token classes, read from the
raw lines on their own (not through the simulator's or the ingest daemon's code): per
developer x model, requests with speed "fast", with inference_geo "us", with iterations,
and the advisor iterations' prompt tokens (input + cache reads + cache writes) and output
tokens. Only the first copy of each request id stored in the database (argv[2], one id a
line) counts. Prints CSV lines ordered like tallyctl simulate --totals; formats other than
tally.usage/1 carry none of it and give zeros."""
import json
import sys

def records(path):
    for raw in open(path, "rb"):
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        for rec in msg.get("records", []) if isinstance(msg, dict) and "records" in msg else [msg]:
            if isinstance(rec, dict):
                yield rec, rec.get("properties") or {}


stored = {line.strip() for line in open(sys.argv[2]) if line.strip()}
# Azure Monitor: the caller is in the GatewayLogs record of the same correlationId
callers = {p.get("correlationId"): (p.get("backendRequestHeaders") or {}).get("x-tally-user-oid")
           for rec, p in records(sys.argv[1]) if rec.get("category") == "GatewayLogs"}
seen, rows = set(), {}
for rec, props in records(sys.argv[1]):
    rid = rec.get("requestId") or rec.get("id") or props.get("correlationId")
    if rid not in stored or rid in seen or rec.get("category") == "GatewayLogs":
        continue
    seen.add(rid)
    oid = rec.get("userOid") or rec.get("endUserId") or callers.get(rid)
    model = rec.get("model") or props.get("modelName")
    usage = rec.get("usage") or {}
    row = rows.setdefault((oid, model), [0] * 5)
    row[0] += usage.get("speed") == "fast"
    row[1] += usage.get("inference_geo") == "us"
    its = usage.get("iterations") or []
    row[2] += len(its) > 0
    for it in its:
        if it.get("type") == "advisor_message":
            row[3] += sum(int(it.get(k, 0)) for k in (
                "input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
            row[4] += int(it.get("output_tokens", 0))
for (oid, model), row in sorted(rows.items(), key=lambda kv: (kv[0][0].encode(), kv[0][1].encode())):
    print(",".join([oid, model] + [str(v) for v in row]))
