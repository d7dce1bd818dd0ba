#!/usr/bin/env bash
# Installs what tests/sdk needs: Node.js >= 20.18.1 (the e2b SDK's floor) with
# npm, then the pinned packages of tests/sdk/package-lock.json (npm ci).
# Debian 12's own nodejs is 18: when the node on PATH is missing or older,
# the official Node build published on the npm registry (node-linux-<arch>)
# is installed into /usr/local. Needs root for the installs, like `make deps`.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_MIN=20.18.1
NODE_FALLBACK=22.23.5

version_ok() {
    command -v node >/dev/null || return 1
    local v
    v=$(node -p 'process.versions.node' 2>/dev/null) || return 1
    [ "$(printf '%s\n%s\n' "$NODE_MIN" "$v" | sort -V | head -1)" = "$NODE_MIN" ]
}

if ! command -v npm >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "sdk-deps: need root to apt-get install nodejs npm" >&2; exit 2; }
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
if ! version_ok; then
    [ "$(id -u)" = 0 ] || { echo "sdk-deps: need root to install Node $NODE_FALLBACK" >&2; exit 2; }
    case "$(uname -m)" in
        x86_64) arch=x64 ;;
        aarch64) arch=arm64 ;;
        *) echo "sdk-deps: no Node build for $(uname -m)" >&2; exit 2 ;;
    esac
    echo "sdk-deps: node $(node --version 2>/dev/null || echo none) is older than $NODE_MIN; installing $NODE_FALLBACK"
    tmp=$(mktemp -d)
    npm install --no-audit --no-fund --prefix "$tmp" "node-linux-$arch@$NODE_FALLBACK" >/dev/null
    install -m 0755 "$tmp/node_modules/node-linux-$arch/bin/node" /usr/local/bin/node
    rm -rf "$tmp"
    hash -r
    version_ok || { echo "sdk-deps: node $(node --version) on PATH is still older than $NODE_MIN" >&2; exit 2; }
fi
if [ ! -f tests/sdk/node_modules/.package-lock.json ] ||
   ! cmp -s tests/sdk/package-lock.json tests/sdk/.installed-lock 2>/dev/null; then
    npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error
    cp tests/sdk/package-lock.json tests/sdk/.installed-lock
fi
echo "sdk-deps: node $(node --version), tests/sdk packages installed"
