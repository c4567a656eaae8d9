#!/usr/bin/env bash
# Keeps the README's configuration reference equal to the programs' config tables.
#   tests/readme-config.sh BUILD_DIR --check   fails when the README has drifted
#   tests/readme-config.sh BUILD_DIR --write   rewrites the sections in place
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:?build dir}; MODE=${2:---check}
readme=$ROOT/README.md
out=$(mktemp)
cp "$readme" "$out"
for prog in tally-ingest tally-report tallyctl; do
    bin=$(find "$BUILD" -maxdepth 2 -type f -name "$prog" | head -1)
    [ -n "$bin" ] || continue
    table=$("$bin" --config-reference)
    python3 - "$out" "$prog" "$table" <<'PY'
import sys, re
path, prog, table = sys.argv[1:4]
s = open(path).read()
begin, end = f"<!-- config:{prog} -->", f"<!-- /config:{prog} -->"
if begin not in s:
    sys.exit(f"README.md has no {begin} section")
pre, rest = s.split(begin, 1)
_, post = rest.split(end, 1)
open(path, "w").write(pre + begin + "\n" + table + "\n" + end + post)
PY
done
if [ "$MODE" = --write ]; then
    cp "$out" "$readme"
elif ! diff -u "$readme" "$out"; then
    echo "README.md configuration reference is out of date: run tests/readme-config.sh $BUILD --write"
    rm -f "$out"; exit 1
fi
rm -f "$out"
