# Debian packages the build, the tests and the quick start need; sourced by tests/run.sh,
# .ci/run and deploy/quickstart.sh. deps_install installs only what is missing.
TALLY_DEPS=(build-essential cmake pkg-config clang libclang-rt-14-dev
    librdkafka-dev libpq-dev libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libssl-dev
    libjwt-dev python3-cryptography
    libcmocka-dev postgresql postgresql-contrib kcat curl tzdata libxml2-utils python3
    prometheus prometheus-alertmanager wrk hyperfine libreoffice-calc-nogui
    mono-mcs mono-runtime libnewtonsoft-json5.0-cil python3-yaml shellcheck
    chromium python3-websocket fonts-dejavu-core)

deps_install() {
    local missing=()
    for p in "${TALLY_DEPS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages (run as root to install): ${missing[*]}" >&2
        return 1
    fi
    echo "== installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# contract_tools_install: the pinned npm tools of tests/contract (Redocly's linter, Prism's
# validating proxy) into tests/contract/node_modules, again only when package-lock.json
# changed; they need the machine's Node.js 20.19 or newer and the npm registry
contract_tools_install() {
    local dir
    dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/contract" && pwd)
    local stamp=$dir/node_modules/.tally-lock-sha256 want
    want=$(sha256sum <"$dir/package-lock.json")
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
    if ! command -v npm >/dev/null; then
        echo "tests/contract needs Node.js 20.19+ and npm (not found)" >&2
        return 1
    fi
    echo "== installing the contract tools (tests/contract/package-lock.json)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || return 1
    echo "$want" >"$stamp"
}
