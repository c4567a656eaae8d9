#!/usr/bin/env bash
# The shipped alert rules: promtool check rules and promtool test rules on
# dashboards/prometheus/; every metric the rules (Prometheus and Grafana) use is one the
# daemons register; the Grafana alert provisioning is well-formed (unique uids, known
# datasources, conditions and expressions naming existing queries).
source "$(dirname "$0")/../lib.sh"
SRC=${TALLY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v promtool >/dev/null; then
    echo "SKIP: promtool is not installed (Debian package prometheus)"
    exit 77
fi
RULES=$SRC/dashboards/prometheus/tally-rules.yml
GRAFANA=$SRC/dashboards/grafana/provisioning/alerting/quota-rules.yaml

out=$(promtool check rules "$RULES" 2>&1); rc=$?
assert_eq 0 "$rc" "promtool check rules: $(tail -1 <<<"$out")"
for t in "$SRC"/dashboards/prometheus/tests/*.yml; do
    out=$(cd "$(dirname "$t")" && promtool test rules "$(basename "$t")" 2>&1); rc=$?
    assert_eq 0 "$rc" "promtool test rules $(basename "$t")"
    [ $rc -eq 0 ] || echo "$out"
done

# metric names in the rules that no daemon registers would never fire
# (a metric's name is a whole string literal in the C sources)
registered=$(grep -rohE --include='*.c' '"tally_[a-z0-9_]+"' "$SRC"/common "$SRC"/ingest "$SRC"/report |
                 tr -d '"' | sort -u)
used=$(grep -ohE '\btally_[a-z0-9_]+' "$RULES" "$GRAFANA" | grep -vE '^tally_(ingest|report)$' | sort -u)
unknown=$(comm -23 <(echo "$used") <(echo "$registered") | tr '\n' ' ')
assert_eq "" "$unknown" "every metric the rules use is registered by a daemon"

if python3 -c 'import yaml' 2>/dev/null; then
    problems=$(python3 - "$GRAFANA" "$SRC/dashboards/grafana/provisioning/datasources/tally.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
sources = {d["uid"] for d in yaml.safe_load(open(sys.argv[2]))["datasources"]} | {"__expr__"}
problems, uids = [], set()
assert doc["apiVersion"] == 1
for g in doc["groups"]:
    for r in g["rules"]:
        if r["uid"] in uids:
            problems.append("duplicate uid " + r["uid"])
        uids.add(r["uid"])
        refs = {d["refId"] for d in r["data"]}
        if r["condition"] not in refs:
            problems.append(r["uid"] + ": condition " + r["condition"] + " is no query")
        for d in r["data"]:
            if d["datasourceUid"] not in sources:
                problems.append(r["uid"] + ": unknown datasource " + d["datasourceUid"])
            m = d["model"]
            if m.get("expression"):
                named = [w.lstrip("$") for w in m["expression"].replace("&&", " ").split() if w.startswith("$")] \
                        or [m["expression"]]
                for n in named:
                    if n not in refs:
                        problems.append(r["uid"] + ": expression names " + n)
        for k in ("severity",):
            if k not in r.get("labels", {}):
                problems.append(r["uid"] + ": no " + k + " label")
print(" ".join(problems))
PY
)
    assert_eq "" "$problems" "Grafana alert provisioning: uids, datasources, conditions, expressions"
else
    echo "# Grafana provisioning structure not checked: python3-yaml is not installed"
fi
finish
