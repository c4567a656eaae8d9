#!/usr/bin/env python3
"""Checks tests/fixtures/apim/policy-*.json against the rules of docs/architecture.md, "Inputs", independently
of the policy's C#: the exact field list, usage copied verbatim from a JSON response, and
for a stream the last message_delta usage (non-null fields) merged over
message_start.message.usage. Also pins the token counts a later test relies on.

usage: check_usage_fixtures.py FIXTURE_DIR
"""
import json
import sys

FIELDS = ["schema", "requestId", "timestamp", "gatewayName", "gatewayRegion",
          "apimSubscriptionId", "productName", "operationName", "statusCode", "isStream",
          "tenantId", "userOid", "userUpn", "appId", "sessionId", "deploymentName", "model",
          "messageId", "usage"]

EXPECTED = {  # input, output, 5m write, 1h write, cache read
    "json": (1250, 640, 24000, 6000, 0),
    "sse": (42, 1873, 6120, 0, 88412),
}


def load_event(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if len(lines) != 1:
        raise AssertionError(f"{path}: expected exactly one event line, got {len(lines)}")
    return json.loads(lines[0])


def stream_usage(path):
    start, last_delta, message = None, None, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("data:"):
                continue
            data = json.loads(line[5:].strip())
            if data.get("type") == "message_start":
                message = data["message"]
                start = message["usage"]
            elif data.get("type") == "message_delta" and "usage" in data:
                last_delta = data["usage"]
    usage = dict(start)
    for k, v in last_delta.items():
        if v is not None:
            usage[k] = v
    return message, usage


def check(fixtures, case, fail):
    ev = load_event(f"{fixtures}/policy-{case}.json")
    ctx = json.load(open(f"{fixtures}/context-{case}.json", encoding="utf-8"))
    if list(ev) != FIELDS:
        fail(f"{case}: fields {list(ev)} != {FIELDS}")
    if case == "json":
        resp = json.load(open(f"{fixtures}/response-json.json", encoding="utf-8"))
        message, usage = resp, resp["usage"]
    else:
        message, usage = stream_usage(f"{fixtures}/response-sse.txt")
    if ev["usage"] != usage or list(ev["usage"]) != list(usage):
        fail(f"{case}: usage {ev['usage']} != {usage}")
    want = {
        "schema": "tally.usage/1",
        "requestId": ctx["requestId"],
        "timestamp": ctx["timestamp"],
        "statusCode": ctx["statusCode"],
        "isStream": case == "sse",
        "userOid": ctx["claims"]["oid"],
        "deploymentName": ctx["requestBody"]["model"],
        "model": message["model"],
        "messageId": message["id"],
    }
    for k, v in want.items():
        if ev.get(k) != v:
            fail(f"{case}: {k} = {ev.get(k)!r}, want {v!r}")
    u = ev["usage"]
    cc = u.get("cache_creation", {})
    got = (u["input_tokens"], u["output_tokens"], cc.get("ephemeral_5m_input_tokens"),
           cc.get("ephemeral_1h_input_tokens"), u["cache_read_input_tokens"])
    if got != EXPECTED[case]:
        fail(f"{case}: token counts {got} != {EXPECTED[case]}")
    if u["cache_creation_input_tokens"] != cc.get("ephemeral_5m_input_tokens", 0) + cc.get("ephemeral_1h_input_tokens", 0):
        fail(f"{case}: cache_creation split does not add up")


def main():
    errors = []
    for case in ("json", "sse"):
        try:
            check(sys.argv[1], case, errors.append)
        except (OSError, ValueError, KeyError, AssertionError) as e:
            errors.append(f"{case}: {e}")
    for e in errors:
        print(f"FAIL usage fixture {e}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
