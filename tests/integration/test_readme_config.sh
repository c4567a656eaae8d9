#!/usr/bin/env bash
# The README's configuration reference is the programs' own config tables.
source "$(dirname "$0")/../lib.sh"
need_env
bash "$SRC/tests/readme-config.sh" "$BIN" --check
assert_eq 0 $? "README configuration reference matches --config-reference"
finish
