#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for a bounded time
# from its seed corpus (tests/fuzz/corpus/<target>/). Exits non-zero on any crash.
#   tests/fuzz/run.sh [SECONDS]      default 30 per target
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
secs=${1:-${TALLY_FUZZ_SECONDS:-30}}
CC=clang cmake -S . -B build-fuzz -DTALLY_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null
shopt -s nullglob
status=0
for bin in build-fuzz/tests/fuzz_*; do
    name=$(basename "$bin")
    corpus=$(mktemp -d)
    [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
    echo "== $name for ${secs}s ($(ls "$corpus" | wc -l) seeds)"
    dict=()
    [ -f "tests/fuzz/${name#fuzz_}.dict" ] && dict=(-dict="tests/fuzz/${name#fuzz_}.dict")
    case $name in fuzz_parse_*) [ -f tests/fuzz/parse.dict ] && dict=(-dict=tests/fuzz/parse.dict) ;; esac
    if ! "$bin" "${dict[@]}" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
        -artifact_prefix="build-fuzz/$name-" "$corpus" >"build-fuzz/$name.log" 2>&1; then
        echo "FAIL: $name found a crash:"; tail -40 "build-fuzz/$name.log"; status=1
    else
        grep -E '^(#[0-9]+|Done)' "build-fuzz/$name.log" | tail -1
    fi
    rm -rf "$corpus"
done
exit $status
