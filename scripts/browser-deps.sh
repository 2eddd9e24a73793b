#!/usr/bin/env bash
# Installs what the browser tests of the website chat widget need:
#   - Debian's Chromium (and its driver) at /usr/bin/chromium, used headless by Playwright;
#   - the pinned axe-core accessibility checker from package-lock.json into node_modules.
# Safe to run again: each step is skipped when its result is already present.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

if [ ! -x /usr/bin/chromium ]; then
    echo "browser-deps: installing chromium and chromium-driver"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
else
    echo "browser-deps: chromium already installed"
fi

if [ ! -f "$repo_root/node_modules/axe-core/axe.min.js" ]; then
    echo "browser-deps: installing axe-core"
    cd "$repo_root"
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
else
    echo "browser-deps: axe-core already installed"
fi
