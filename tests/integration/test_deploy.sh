#!/usr/bin/env bash
# The deploy kit: APIM policy (well-formed; its C# expressions run under Mono against the
# fixtures), the tally.usage/1 fixtures it emits, Bicep/kustomize/systemd/Containerfile checks,
# and the policy's events parsed by tally-ingest's parser to the expected usage.
source "$(dirname "$0")/../lib.sh"
need_env
bash "$SRC/tests/deploy/check_deploy.sh"
assert_eq 0 $? "tests/deploy/check_deploy.sh passes"
finish
