#!/usr/bin/env bash
# check_deploy.sh - checks everything under deploy/ that can be checked without Azure:
# the APIM policy (well-formed, its C# expressions run under Mono against the fixtures),
# the tally.usage/1 fixtures, JSON/YAML syntax, the kustomize build, the Bicep template's
# agreement with the policy, the apiKeyHelper script, the systemd units and the
# Containerfile. Tools that are missing (mono, pwsh, bicep, kubectl, shellcheck,
# systemd-analyze, python3-yaml) turn their checks into skips, never into passes.
#
# usage: tests/deploy/check_deploy.sh      exit status: 0 all passed, 1 something failed
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 1
here=tests/deploy
fixtures=tests/fixtures/apim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/      /'; }
skip() { skipped=$((skipped + 1)); printf 'skip  %s\n' "$1"; }
have() { command -v "$1" >/dev/null 2>&1; }
# check NAME COMMAND...: passes when COMMAND exits 0, shows its output otherwise
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

# ---------------------------------------------------------------- syntax

if have xmllint; then
    check "policy.xml is well-formed XML" xmllint --noout deploy/apim/policy.xml
else
    fail "xmllint missing (Debian package libxml2-utils)"
fi

if ! have python3; then
    fail "python3 missing: JSON, YAML and fixture checks cannot run"
else
    while IFS= read -r f; do
        check "JSON parses: $f" python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding="utf-8"))' "$f"
    done < <(find deploy "$fixtures" -name '*.json' | sort)

    if python3 -c 'import yaml' 2>/dev/null; then
        yaml_check() { python3 -c 'import yaml,sys; list(yaml.safe_load_all(open(sys.argv[1], encoding="utf-8")))' "$1"; }
    else
        # no PyYAML: tabs are never valid indentation, and every line must be a comment,
        # a document marker, a "key:" mapping, a "- " item, or the continuation of one
        yaml_check() {
            awk '/^\t/ { print FILENAME ":" NR ": tab in indentation"; bad = 1 }
                 /^[ ]*[^ #-][^:]*$/ && !/^[ ]*[|>]/ && prev !~ /[|>]-?$/ && !cont { print FILENAME ":" NR ": not a YAML mapping line: " $0; bad = 1 }
                 { prev = $0; cont = ($0 ~ /[|>]-?$/) || (cont && $0 ~ /^[ ]+/) }
                 END { exit bad }' "$1"
        }
    fi
    while IFS= read -r f; do
        check "YAML parses: $f" yaml_check "$f"
    done < <(find deploy -name '*.yaml' -o -name '*.yml' | sort)
fi

if have kubectl; then
    if kubectl kustomize deploy/k8s/base >"$work/k8s.yaml" 2>"$work/k8s.err"; then
        pass "kustomize builds deploy/k8s/base"
        want="ConfigMap ConfigMap Deployment Deployment Namespace Service ServiceAccount ServiceAccount "
        got=$(awk '/^kind:/ { print $2 }' "$work/k8s.yaml" | sort | tr '\n' ' ')
        if [ "$want" = "$got" ]; then
            pass "kustomize output has the expected objects"
        else
            fail "kustomize output has the expected objects" "got: $got"
        fi
    else
        fail "kustomize builds deploy/k8s/base" "$(cat "$work/k8s.err")"
    fi
else
    skip "kustomize build (no kubectl)"
fi

# ---------------------------------------------------------------- kubernetes contract

k8s_contract() {
    local ing=deploy/k8s/base/ingest-deployment.yaml rep=deploy/k8s/base/report-deployment.yaml
    local sa=deploy/k8s/base/serviceaccounts.yaml
    grep -q '^  replicas: 2$' "$ing" || { echo "tally-ingest: replicas is not 2"; return 1; }
    grep -q 'azure.workload.identity/use: "true"' "$ing" || { echo "tally-ingest: no workload identity pod label"; return 1; }
    grep -q 'azure.workload.identity/client-id:' "$sa" || { echo "no workload identity client-id annotation"; return 1; }
    for f in "$ing" "$rep"; do
        for k in 'runAsNonRoot: true' 'readOnlyRootFilesystem: true' 'allowPrivilegeEscalation: false' \
                 'drop: \["ALL"\]' 'resources:' '_FILE$'; do
            grep -q -- "$k" "$f" || { echo "$f: missing $k"; return 1; }
        done
    done
    grep -q 'path: /metrics' "$ing" || { echo "tally-ingest: no /metrics probe"; return 1; }
    if ! grep -q 'path: /healthz' "$rep" || ! grep -q 'path: /readyz' "$rep"; then
        echo "tally-report: probes must use /healthz and /readyz"
        return 1
    fi
}
check "k8s: replicas, workload identity, probes, securityContext, *_FILE secrets" k8s_contract

# ---------------------------------------------------------------- Bicep vs policy

bicep_contract() {
    local bicep=deploy/azure/main.bicep policy=deploy/apim/policy.xml nv logger
    # every {{named value}} the policy and its README's alternative snippet refer to
    for nv in $(cat "$policy" deploy/apim/README.md | grep -o '{{[^}]*}}' | tr -d '{}' | sort -u); do
        grep -q "'$nv'" "$bicep" || { echo "named value $nv is not created by main.bicep"; return 1; }
    done
    logger=$(sed -n 's/.*logger-id="\([^"]*\)".*/\1/p' "$policy" | sort -u)
    [ -n "$logger" ] || { echo "no logger-id in the policy"; return 1; }
    grep -q "var usageLoggerName = '$logger'" "$bicep" || { echo "logger $logger is not created by main.bicep"; return 1; }
    grep -q "loadTextContent('../apim/policy.xml')" "$bicep" || { echo "main.bicep does not load the policy"; return 1; }
    grep -q "format: 'xml'" "$bicep" || { echo "the escaped policy must be imported with format 'xml'"; return 1; }
    for g in 2b629674-e913-4c01-ae53-ef4638d8f975 a638d3c7-ab3a-418d-83e6-5f17a39d4fde 4633458b-17de-408a-b874-0445c86b69e6; do
        grep -q "$g" "$bicep" || { echo "role definition $g missing"; return 1; }
    done
    for c in GatewayLlmLogs GatewayLogs x-tally-user-oid x-tally-user-upn "identityClientId: 'SystemAssigned'" \
             "partitionCount: partitionCount" "param partitionCount int = 4" "'Standard'" "kafkaEnabled: true" \
             "enableRbacAuthorization: true" "api://AzureADTokenExchange"; do
        grep -qF -- "$c" "$bicep" || { echo "main.bicep lacks $c"; return 1; }
    done
}
check "Bicep creates the policy's named values and logger, roles and log categories" bicep_contract
if have bicep; then
    check "bicep build main.bicep" bicep build deploy/azure/main.bicep --stdout
elif have az && az bicep version >/dev/null 2>&1; then
    check "az bicep build main.bicep" az bicep build --file deploy/azure/main.bicep --stdout
else
    skip "bicep build (no bicep CLI)"
fi

# ---------------------------------------------------------------- apiKeyHelper

check "apikey-helper.sh: bash -n" bash -n deploy/claude-code/apikey-helper.sh
if have shellcheck; then
    check "shellcheck: apikey-helper.sh, check_deploy.sh" shellcheck deploy/claude-code/apikey-helper.sh tests/deploy/check_deploy.sh
else
    skip "shellcheck (not installed)"
fi

helper_behaviour() {
    local h="$root/deploy/claude-code/apikey-helper.sh" d="$work/helper" out mode now
    mkdir -p "$d/bin"
    # a fake az: logs each call, prints "expires_on<TAB>expiresOn<TAB>token"
    cat >"$d/bin/az" <<'EOF'
#!/bin/sh
echo "$*" >>"$AZ_LOG"
[ -n "${AZ_FAIL:-}" ] && { echo "ERROR: please run az login" >&2; exit 1; }
printf '%s\t%s\t%s\n' "$AZ_EXPIRES" "2030-01-01 00:00:00.000000" "token-$AZ_EXPIRES"
EOF
    chmod +x "$d/bin/az"
    export PATH="$d/bin:$PATH" AZ_LOG="$d/az.log" TALLY_TOKEN_CACHE_DIR="$d/cache"
    now=$(date +%s)

    out=$(AZ_EXPIRES=$((now + 3600)) bash "$h" api://gw) || { echo "first call failed"; return 1; }
    [ "$out" = "token-$((now + 3600))" ] || { echo "stdout is not just the token: $out"; return 1; }
    grep -q -- '--resource api://gw' "$d/az.log" || { echo "az not asked for --resource api://gw"; return 1; }
    mode=$(stat -c %a "$d"/cache/token-*)
    [ "$mode" = 600 ] || { echo "cache file mode $mode, want 600"; return 1; }

    out=$(AZ_EXPIRES=1 bash "$h" api://gw) || return 1
    if [ "$out" != "token-$((now + 3600))" ] || [ "$(wc -l <"$d/az.log")" -ne 1 ]; then
        echo "a fresh cached token was not reused"
        return 1
    fi

    # within the margin (default 600 s) of expiry: fetch again
    rm -rf "$d/cache"
    AZ_EXPIRES=$((now + 300)) bash "$h" api://gw >/dev/null || return 1
    out=$(AZ_EXPIRES=$((now + 7200)) bash "$h" api://gw) || return 1
    [ "$out" = "token-$((now + 7200))" ] || { echo "a token about to expire was reused"; return 1; }

    # not logged in: non-zero exit, nothing on stdout, advice on stderr
    out=$(AZ_FAIL=1 bash "$h" api://other 2>"$d/err") && { echo "failure exited 0"; return 1; }
    [ -z "$out" ] || { echo "failure printed on stdout: $out"; return 1; }
    grep -q "az login" "$d/err" || { echo "failure does not say to run az login"; return 1; }
}
check "apikey-helper.sh: token only on stdout, 0600 cache, reuse until near expiry, clear failure" helper_behaviour

if have pwsh; then
    # shellcheck disable=SC2016 # PowerShell code, expanded by pwsh
    check "apikey-helper.ps1 parses" pwsh -NoProfile -Command \
        '$e=$null; [System.Management.Automation.Language.Parser]::ParseFile("deploy/claude-code/apikey-helper.ps1",[ref]$null,[ref]$e) | Out-Null; if ($e) { $e; exit 1 }'
else
    skip "apikey-helper.ps1 parse (no pwsh)"
fi

# ---------------------------------------------------------------- systemd

units_contract() {
    local u k
    for u in deploy/systemd/tally-ingest.service deploy/systemd/tally-report.service; do
        for k in 'DynamicUser=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
                 'NoNewPrivileges=yes' 'CapabilityBoundingSet=' \
                 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'SystemCallFilter=@system-service' \
                 'MemoryDenyWriteExecute=yes' 'LoadCredential=db:' 'Environment=TALLY_DB_FILE=%d/db' \
                 'ExecStart=/usr/bin/tally-'; do
            grep -qx -- "$k.*" "$u" || { echo "$u: no line $k"; return 1; }
        done
        if grep -Eq '^Environment=TALLY_[A-Z_]*(PASSWORD|SECRET)=|^Environment=TALLY_DB=.*password=' "$u"; then
            echo "$u: a secret in Environment= (use LoadCredential and *_FILE)"
            return 1
        fi
        grep -q -- '--config /etc/tokentally/' "$u" || { echo "$u: not started with --config"; return 1; }
    done
    grep -qx 'Environment=TALLY_KAFKA_PASSWORD_FILE=%d/kafka-password' deploy/systemd/tally-ingest.service ||
        { echo "tally-ingest: kafka password not from the credentials directory"; return 1; }
}
check "systemd units: hardening and LoadCredential secrets" units_contract
# systemd-analyze verify needs a running systemd to be meaningful; where it runs, it must
# not complain about our lines (it exits 0 even then, so read what it says).
if have systemd-analyze && systemd-analyze --version >/dev/null 2>&1; then
    mkdir -p "$work/units"
    for u in deploy/systemd/*.service; do
        sed 's|^ExecStart=/usr/bin/tally-[a-z]*|ExecStart=/bin/true|' "$u" >"$work/units/$(basename "$u")"
    done
    if out=$(systemd-analyze verify --man=no "$work"/units/*.service 2>&1); then
        if printf '%s\n' "$out" | grep -q "$work/units/"; then
            fail "systemd-analyze verify" "$out"
        else
            pass "systemd-analyze verify"
        fi
    else
        skip "systemd-analyze verify (cannot run here)"
    fi
else
    skip "systemd-analyze verify (not available)"
fi

# ---------------------------------------------------------------- container

containerfile_contract() {
    local f=deploy/container/Containerfile runtime
    [ "$(grep -c '^FROM .*debian:bookworm' "$f")" -eq 2 ] || { echo "want two Debian 12 (bookworm) stages"; return 1; }
    grep -q 'cmake -S \. ' "$f" || { echo "no cmake build from the repository root"; return 1; }
    runtime=$(awk '/^FROM/ { stage++ } stage == 2' "$f" | tr -s ' \\\n' '\n' |
        grep -E '^(lib|tzdata|ca-certificates)' | sort | tr '\n' ' ')
    [ "$runtime" = "ca-certificates libcurl4 libjansson4 libjwt0 libmicrohttpd12 libpq5 librdkafka1 tzdata " ] ||
        { echo "runtime packages: $runtime"; return 1; }
    grep -qE '^USER [1-9][0-9]*(:[0-9]+)?$' "$f" || { echo "no numeric non-root USER"; return 1; }
}
check "Containerfile: two bookworm stages, runtime libs only, non-root user" containerfile_contract

# ---------------------------------------------------------------- APIM policy and fixtures

if have python3; then
    check "fixtures: tally.usage/1 fields, usage per docs/architecture.md (Inputs), expected token counts" \
        python3 "$here/check_usage_fixtures.py" "$fixtures"
fi

newtonsoft=${TALLY_NEWTONSOFT_DLL:-$(find /usr/lib/cli -path '*/Newtonsoft.Json-*/Newtonsoft.Json.dll' 2>/dev/null | sort | tail -n 1)}
if have mcs && have mono && [ -f "$newtonsoft" ] && have python3; then
    h="$work/policy"
    mkdir -p "$h"
    cp "$newtonsoft" "$h/"
    if out=$(python3 "$here/apim/extract_policy.py" deploy/apim/policy.xml "$h/Policy.cs" 2>&1 &&
        mcs -nologo -warn:0 -out:"$h/run_policy.exe" -r:"$h/Newtonsoft.Json.dll" \
            "$here/apim/MockContext.cs" "$here/apim/run_policy.cs" "$h/Policy.cs" 2>&1); then
        pass "policy expressions compile (Mono C#)"
        run_policy() { mono "$h/run_policy.exe" "$@" 2>>"$h/trace"; }

        for c in json sse; do
            resp=$(ls "$fixtures"/response-$c.*)
            if run_policy "$fixtures/context-$c.json" "$resp" >"$h/out-$c.json" &&
                cmp -s "$h/out-$c.json" "$fixtures/policy-$c.json"; then
                pass "policy emits exactly $fixtures/policy-$c.json"
            else
                fail "policy emits exactly $fixtures/policy-$c.json" "$(diff "$fixtures/policy-$c.json" "$h/out-$c.json"; tail -5 "$h/trace")"
            fi
        done

        # the same stream with CRLF line ends gives the same event
        sed 's/$/\r/' "$fixtures/response-sse.txt" >"$h/crlf.txt"
        run_policy "$fixtures/context-sse.json" "$h/crlf.txt" >"$h/out-crlf.json"
        if cmp -s "$h/out-crlf.json" "$fixtures/policy-sse.json"; then
            pass "policy: CRLF stream gives the same event"
        else
            fail "policy: CRLF stream gives the same event" "$(cat "$h/out-crlf.json")"
        fi

        # a null in the last message_delta usage does not erase message_start's value
        sed 's/"usage":{"input_tokens":42,"cache_creation_input_tokens":6120,"cache_read_input_tokens":88412,"output_tokens":1873/"usage":{"input_tokens":null,"cache_creation_input_tokens":6120,"cache_read_input_tokens":88412,"output_tokens":1873/' \
            "$fixtures/response-sse.txt" >"$h/null.txt"
        if grep -q '"input_tokens":null' "$h/null.txt" &&
            run_policy "$fixtures/context-sse.json" "$h/null.txt" | grep -q '"usage":{"input_tokens":42,'; then
            pass "policy: null in message_delta usage keeps message_start's count"
        else
            fail "policy: null in message_delta usage keeps message_start's count"
        fi

        # no usage (an error body; count_tokens): no event at all
        printf '%s' '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' >"$h/error.json"
        sed 's/"statusCode": 200/"statusCode": 529/' "$fixtures/context-json.json" >"$h/ctx-529.json"
        if out=$(run_policy "$h/ctx-529.json" "$h/error.json") && [ -z "$out" ]; then
            pass "policy: error response, no event"
        else
            fail "policy: error response, no event" "$out"
        fi
        printf '%s' '{"input_tokens":2095}' >"$h/count.json"
        if out=$(run_policy "$fixtures/context-json.json" "$h/count.json") && [ -z "$out" ]; then
            pass "policy: count_tokens response, no event"
        else
            fail "policy: count_tokens response, no event" "$out"
        fi

        # a token without oid is refused before anything is forwarded or logged
        python3 - "$fixtures/context-json.json" "$h/ctx-nooid.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
del c["claims"]["oid"]
json.dump(c, open(sys.argv[2], "w"))
EOF
        out=$(run_policy "$h/ctx-nooid.json" "$fixtures/response-json.json")
        rc=$?
        if [ $rc -eq 3 ] && [ -z "$out" ]; then
            pass "policy: token without oid is refused (403)"
        else
            fail "policy: token without oid is refused (403)" "exit $rc: $out"
        fi

        # the caller headers on the backend request carry the token's oid and upn
        : >"$h/trace"
        run_policy "$fixtures/context-sse.json" "$fixtures/response-sse.txt" >/dev/null
        if grep -qx 'value\[\] = a1b2c3d4-1111-4222-8333-444455556666' "$h/trace" &&
            grep -qx 'value\[\] = ana.lima@contoso.example' "$h/trace" &&
            grep -qx 'llm-token-limit\[\].counter-key = a1b2c3d4-1111-4222-8333-444455556666' "$h/trace"; then
            pass "policy: x-tally-user-oid/upn and the token-limit key come from the token"
        else
            fail "policy: x-tally-user-oid/upn and the token-limit key come from the token" "$(cat "$h/trace")"
        fi
    else
        fail "policy expressions compile (Mono C#)" "$out"
    fi
else
    skip "policy expressions under Mono (apt-get install mono-mcs mono-runtime libnewtonsoft-json5.0-cil)"
fi

echo
echo "deploy checks: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
