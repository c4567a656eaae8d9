#!/usr/bin/env python3
"""Deterministic tally.usage/1 stream with known totals, for the ingest tests.

    gen_events.py --events N [--dup-pct P] [--bad-pct P] [--seed S] [--id-prefix X]
                  [--keyed] --out FILE --expect DIR

Writes N lines to FILE: about P % exact re-deliveries of an earlier valid line and
about P % malformed lines, the rest distinct valid events (counts are exact and written
to DIR). With --keyed each line is "requestId<TAB>json" for kcat -K'\\t'.

DIR receives:
  distinct     the number of distinct valid events
  rollup.tsv   developer, model, requests, input, output, cache_read, cache_write_5m,
               cache_write_1h, cache_write_unsplit, long_context requests (sorted, C order)
  rejects.tsv  reason, count (sorted)
  bad          the number of malformed lines
"""
import argparse
import json
import os
import random

MODELS = ["claude-sonnet-4-6", "claude-sonnet-4-6", "claude-sonnet-4-6", "claude-opus-4-6",
          "claude-haiku-4-5"]
BASE = 1790553600  # 2026-09-28T00:00:00Z: the stream crosses into October


def iso(ts_us):
    secs, us = divmod(ts_us, 1000000)
    import time
    t = time.gmtime(secs)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%06dZ" % us


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--dup-pct", type=float, default=0)
    ap.add_argument("--bad-pct", type=float, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--id-prefix", default="req")
    ap.add_argument("--developers", type=int, default=25)
    ap.add_argument("--keyed", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--expect", required=True)
    a = ap.parse_args()

    rnd = random.Random(a.seed)
    n_dup = int(a.events * a.dup_pct / 100)
    n_bad = int(a.events * a.bad_pct / 100)
    n_valid = a.events - n_dup - n_bad
    kinds = ["V"] * n_valid + ["D"] * n_dup + ["B"] * n_bad
    # duplicates need an earlier valid line: keep the first line valid
    rest = kinds[1:]
    rnd.shuffle(rest)
    kinds = kinds[:1] + rest

    sums = {}
    rejects = {}
    valid_lines = []
    out_lines = []
    nvalid = nbad = 0
    for kind in kinds:
        if kind == "D" and valid_lines:
            out_lines.append(rnd.choice(valid_lines))
            continue
        if kind == "B":
            nbad += 1
            rid = "%s-bad-%d" % (a.id_prefix, nbad)
            sort = nbad % 4
            if sort == 0:
                line = '{"schema":"tally.usage/1","requestId":"%s","timestamp":' % rid
                reason = "invalid JSON: unexpected token near end of file"
            elif sort == 1:
                line = json.dumps({"schema": "tally.usage/1", "timestamp": iso(BASE * 10**6),
                                   "model": "claude-sonnet-4-6",
                                   "usage": {"input_tokens": 1}}, separators=(",", ":"))
                reason = "missing requestId"
            elif sort == 2:
                line = json.dumps({"schema": "tally.usage/1", "requestId": rid,
                                   "timestamp": iso(BASE * 10**6), "model": "claude-haiku-4-5",
                                   "usage": {"input_tokens": 5, "output_tokens": -3}},
                                  separators=(",", ":"))
                reason = 'negative token count in "output_tokens"'
            else:
                line = json.dumps({"schema": "tally.usage/1", "requestId": rid,
                                   "model": "claude-opus-4-6", "usage": {"input_tokens": 5}},
                                  separators=(",", ":"))
                reason = "missing timestamp"
            rejects[reason] = rejects.get(reason, 0) + 1
            out_lines.append((rid, line))
            continue
        nvalid += 1
        rid = "%s-%08d" % (a.id_prefix, nvalid)
        dev = rnd.randrange(a.developers)
        oid = "dev-%04d" % dev
        model = rnd.choice(MODELS)
        ts = (BASE + rnd.randrange(5 * 86400)) * 10**6 + rnd.randrange(10**6)
        inp = rnd.randrange(1, 3000)
        out = rnd.randrange(0, 8000)
        cread = rnd.choice([0, rnd.randrange(1000, 150000), rnd.randrange(150000, 400000)])
        c5 = rnd.choice([0, 0, rnd.randrange(1, 20000)])
        c1 = rnd.choice([0, 0, 0, rnd.randrange(1, 5000)])
        unsplit = rnd.choice([0, 0, 0, rnd.randrange(1, 3000)])
        usage = {"input_tokens": inp, "output_tokens": out,
                 "cache_creation_input_tokens": c5 + c1 + unsplit,
                 "cache_read_input_tokens": cread,
                 "cache_creation": {"ephemeral_5m_input_tokens": c5,
                                    "ephemeral_1h_input_tokens": c1}}
        if nvalid % 7 == 0:  # counts as strings, as some gateways send them
            usage["input_tokens"] = str(inp)
        ev = {"schema": "tally.usage/1", "requestId": rid, "timestamp": iso(ts),
              "userOid": oid, "userUpn": "%s@contoso.example" % oid,
              "deploymentName": model, "model": model, "statusCode": 200, "isStream": True,
              "usage": usage}
        line = json.dumps(ev, separators=(",", ":"))
        long_ctx = 1 if inp + cread + c5 + c1 + unsplit > 200000 else 0
        s = sums.setdefault((oid, model), [0] * 8)
        for i, v in enumerate([1, inp, out, cread, c5, c1, unsplit, long_ctx]):
            s[i] += v
        valid_lines.append((rid, line))
        out_lines.append((rid, line))

    with open(a.out, "w") as f:
        for rid, line in out_lines:
            f.write("%s\t%s\n" % (rid, line) if a.keyed else line + "\n")
    os.makedirs(a.expect, exist_ok=True)
    with open(os.path.join(a.expect, "distinct"), "w") as f:
        f.write("%d\n" % nvalid)
    with open(os.path.join(a.expect, "bad"), "w") as f:
        f.write("%d\n" % nbad)
    with open(os.path.join(a.expect, "rollup.tsv"), "w") as f:
        for (oid, model) in sorted(sums, key=lambda k: (k[0].encode(), k[1].encode())):
            f.write("\t".join([oid, model] + [str(v) for v in sums[(oid, model)]]) + "\n")
    with open(os.path.join(a.expect, "rejects.tsv"), "w") as f:
        for reason in sorted(rejects, key=lambda r: r.encode()):
            f.write("%s\t%d\n" % (reason, rejects[reason]))


if __name__ == "__main__":
    main()
