#!/usr/bin/env bash
# report/openapi.yaml is valid OpenAPI 3, lint-clean under Redocly's recommended rules (no
# error, no warning; the pinned CLI of tests/contract), and lists exactly the routes
# tally-report serves (tally-report --list-routes), method by method.
source "$(dirname "$0")/../lib.sh"
need_env
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$BIN/report/tally-report" --list-routes | sort >"$TMP/served"
assert_eq 0 "${PIPESTATUS[0]}" "--list-routes exits 0"
"$PY" - "$SRC/report/openapi.yaml" >"$TMP/documented" 2>"$TMP/err" <<'PY'
import sys
import yaml
doc = yaml.safe_load(open(sys.argv[1]))
assert str(doc["openapi"]).startswith("3."), "not OpenAPI 3"
for key in ("info", "paths", "components"):
    assert key in doc, f"missing {key}"
refs = []
def walk(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "$ref":
                refs.append(v)
            walk(v)
    elif isinstance(x, list):
        for v in x:
            walk(v)
walk(doc)
for r in refs:
    node = doc
    for part in r.lstrip("#/").split("/"):
        assert part in node, f"dangling $ref {r}"
        node = node[part]
lines = []
for path, item in doc["paths"].items():
    for method, op in item.items():
        if method in ("get", "post", "put", "delete", "patch"):
            assert "responses" in op and op["responses"], f"{method} {path}: no responses"
            lines.append(f"{method.upper()} {path}")
print("\n".join(sorted(lines)))
PY
assert_eq 0 $? "openapi.yaml parses, every \$ref resolves, every operation has responses $(cat "$TMP/err")"
diff "$TMP/served" "$TMP/documented" && same=yes || same=no
assert_eq yes "$same" "openapi.yaml documents exactly the served routes"
assert_eq "$(wc -l <"$TMP/served")" "$(wc -l <"$TMP/documented")" "same number of operations ($(wc -l <"$TMP/served"))"
REDOCLY=$SRC/tests/contract/node_modules/.bin/redocly
NO_UPDATE_NOTIFIER=1 REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    "$REDOCLY" lint --config "$SRC/tests/contract/redocly.yaml" "$SRC/report/openapi.yaml" >"$TMP/lint" 2>&1
assert_eq 0 $? "redocly lint exits 0 $(grep -v '^ *║\|╔\|╚' "$TMP/lint" | head -40)"
assert_match 'Your API description is valid' "$(cat "$TMP/lint")" "redocly: valid"
assert_eq 0 "$(grep -ci 'warning was generated\|[0-9] warnings\?\b' "$TMP/lint")" "redocly: no warning"
finish
