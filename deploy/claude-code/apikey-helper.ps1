<#
.SYNOPSIS
  Claude Code "apiKeyHelper" for the tokentally gateway (PowerShell 5.1 and 7+).

.DESCRIPTION
  Prints an Entra ID access token for the gateway's app (the APIM policy validates it),
  and nothing else on stdout. The token comes from the Azure CLI login
  (az account get-access-token --resource api://...) and is cached in a file readable by
  the current user only, until TALLY_TOKEN_MARGIN_S seconds before it expires.

.PARAMETER Resource
  The gateway app's Application ID URI. Default: $env:TALLY_GATEWAY_RESOURCE, else
  api://tokentally-gateway.

.NOTES
  Environment: TALLY_TOKEN_MARGIN_S (default 600; keep it above
  CLAUDE_CODE_API_KEY_HELPER_TTL_MS / 1000), TALLY_TOKEN_CACHE_DIR (default
  %LOCALAPPDATA%\tokentally on Windows, ~/.cache/tokentally elsewhere).
#>
param(
    [string]$Resource = $(if ($env:TALLY_GATEWAY_RESOURCE) { $env:TALLY_GATEWAY_RESOURCE } else { 'api://tokentally-gateway' })
)

$ErrorActionPreference = 'Stop'

function Fail([string]$Message) {
    [Console]::Error.WriteLine("apikey-helper: $Message")
    exit 1
}

$onWindows = ($PSVersionTable.PSEdition -eq 'Desktop') -or $IsWindows
$margin = if ($env:TALLY_TOKEN_MARGIN_S) { [int64]$env:TALLY_TOKEN_MARGIN_S } else { 600 }
$cacheDir = if ($env:TALLY_TOKEN_CACHE_DIR) { $env:TALLY_TOKEN_CACHE_DIR }
            elseif ($onWindows) { Join-Path $env:LOCALAPPDATA 'tokentally' }
            elseif ($env:XDG_CACHE_HOME) { Join-Path $env:XDG_CACHE_HOME 'tokentally' }
            else { Join-Path $HOME '.cache/tokentally' }
$cache = Join-Path $cacheDir ('token-' + ($Resource -replace '[^A-Za-z0-9._-]', '_'))
$now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()

# cache file: one line "EXPIRES_EPOCH<TAB>TOKEN"
if (Test-Path -LiteralPath $cache -PathType Leaf) {
    $parts = (Get-Content -LiteralPath $cache -TotalCount 1) -split "`t", 2
    if ($parts.Count -eq 2 -and $parts[0] -match '^[0-9]+$' -and $parts[1] -and ([int64]$parts[0] -gt $now + $margin)) {
        [Console]::Out.WriteLine($parts[1])
        exit 0
    }
}

if (-not (Get-Command az -ErrorAction SilentlyContinue)) { Fail 'the Azure CLI (az) is not installed' }

$json = & az account get-access-token --resource $Resource -o json 2>$null
if ($LASTEXITCODE -ne 0 -or -not $json) {
    Fail "could not get a token for ${Resource}: run 'az login' (with your work account), then retry"
}
$t = ($json -join "`n") | ConvertFrom-Json
if (-not $t.accessToken) { Fail "az returned no access token for $Resource" }

# expires_on (epoch seconds) exists in az >= 2.54; expiresOn (local time) in all versions
if ("$($t.expires_on)" -match '^[0-9]+$') {
    $expires = [int64]$t.expires_on
} else {
    try {
        $expires = ([DateTimeOffset][DateTime]::Parse($t.expiresOn)).ToUnixTimeSeconds()
    } catch {
        $expires = $now + $margin + 600
    }
}

New-Item -ItemType Directory -Force -Path $cacheDir | Out-Null
$tmp = Join-Path $cacheDir ('.token.' + [Guid]::NewGuid().ToString('N'))
try {
    # create empty, restrict, then write: the token is never readable by others
    [IO.File]::WriteAllText($tmp, '')
    if ($onWindows) {
        & icacls $tmp /inheritance:r /grant:r "$($env:USERNAME):(R,W,D)" | Out-Null
    } else {
        & chmod 600 $tmp
    }
    if ($LASTEXITCODE -ne 0) { Fail "could not restrict the permissions of $tmp" }
    [IO.File]::WriteAllText($tmp, "$expires`t$($t.accessToken)`n")
    Move-Item -LiteralPath $tmp -Destination $cache -Force
} finally {
    if (Test-Path -LiteralPath $tmp) { Remove-Item -LiteralPath $tmp -Force }
}

[Console]::Out.WriteLine($t.accessToken)
