#!/usr/bin/env bash
# apikey-helper.sh - Claude Code "apiKeyHelper" for the tokentally gateway.
#
# Prints an Entra ID access token for the gateway's app (the APIM policy validates it),
# and nothing else on stdout. The token comes from the Azure CLI login
# (`az account get-access-token --resource api://...`) and is cached in a 0600 file until
# TALLY_TOKEN_MARGIN_S seconds before it expires, so Claude Code's frequent calls are cheap.
#
# usage: apikey-helper.sh [RESOURCE]
#   RESOURCE  the gateway app's Application ID URI; default $TALLY_GATEWAY_RESOURCE,
#             else api://tokentally-gateway
# env:  TALLY_TOKEN_MARGIN_S  refresh this many seconds before expiry (default 600; keep
#                             it above CLAUDE_CODE_API_KEY_HELPER_TTL_MS / 1000)
#       TALLY_TOKEN_CACHE_DIR default ${XDG_CACHE_HOME:-~/.cache}/tokentally
set -euo pipefail

resource=${1:-${TALLY_GATEWAY_RESOURCE:-api://tokentally-gateway}}
margin=${TALLY_TOKEN_MARGIN_S:-600}
cache_dir=${TALLY_TOKEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tokentally}
cache="$cache_dir/token-$(printf '%s' "$resource" | tr -c 'A-Za-z0-9._-' '_')"

die() {
    printf 'apikey-helper: %s\n' "$*" >&2
    exit 1
}

now=$(date +%s)

# cache file: one line "EXPIRES_EPOCH<TAB>TOKEN"
if [[ -f $cache && -O $cache ]]; then
    IFS=$'\t' read -r expires token <"$cache" || true
    if [[ ${expires:-} =~ ^[0-9]+$ && -n ${token:-} ]] && ((expires > now + margin)); then
        printf '%s\n' "$token"
        exit 0
    fi
fi

command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed"

# expires_on (epoch seconds) exists in az >= 2.54; expiresOn (local time) in all versions
if ! out=$(az account get-access-token --resource "$resource" \
    --query '[expires_on, expiresOn, accessToken]' -o tsv 2>/dev/null); then
    die "could not get a token for $resource: run 'az login' (with your work account), then retry"
fi
IFS=$'\t' read -r expires_on expires_local token <<<"$out"
[[ -n ${token:-} ]] || die "az returned no access token for $resource"

if [[ ${expires_on:-} =~ ^[0-9]+$ ]]; then
    expires=$expires_on
elif ! expires=$(date -d "$expires_local" +%s 2>/dev/null); then
    # no GNU date (macOS) and an old az: reuse the token for 10 minutes only
    expires=$((now + margin + 600))
fi

umask 077
mkdir -p "$cache_dir"
tmp=$(mktemp "$cache_dir/.token.XXXXXX")
trap 'rm -f "$tmp"' EXIT
printf '%s\t%s\n' "$expires" "$token" >"$tmp"
chmod 600 "$tmp"
mv -f "$tmp" "$cache"
trap - EXIT

printf '%s\n' "$token"
