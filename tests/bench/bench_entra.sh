#!/usr/bin/env bash
# What an Entra ID access token costs per request (report/entra.c): a full verification
# (header, key, libjwt + OpenSSL, claims) against the verified-token cache, 1 and 2 threads.
#   tests/bench/bench_entra.sh BUILD_DIR
# Needs no database. Prints figures; never fails on them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:?build dir}" && pwd)
WORK=$(mktemp -d /tmp/bench-entra.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# shellcheck disable=SC2046 # pkg-config flags are meant to split
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I"$ROOT/report" -I"$ROOT/common" -I"$ROOT/tests/unit" \
    $(pkg-config --cflags libpq) "$ROOT/tests/bench/bench_entra.c" \
    "$BUILD/report/libreport_core.a" "$BUILD/common/libtally.a" \
    $(pkg-config --libs libjwt libcurl libcrypto jansson libpq cmocka) -lpthread -lm \
    -o "$WORK/bench_entra"
"$WORK/bench_entra"
