#!/usr/bin/env bash
# Install what the render stage's real-browser and spam tests need:
#   - Debian's chromium (driven by Playwright with executable_path; Playwright never downloads a browser)
#   - Debian's spamassassin (run locally with network tests off: spamassassin -L -t)
#   - axe-core from npm into .cache/npm (git-ignored), injected into the page by the tests
#     (Debian's npm, and with it nodejs, when npm is missing)
#   - Debian's faketime (libfaketime), for the scheduler's end-to-end runs at a chosen time
# Idempotent and quick when everything is already there. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v spamassassin >/dev/null 2>&1 || need_apt+=(spamassassin)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)  # brings nodejs: axe-core, the bench's mjml
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)  # tests/test_scheduler_e2e.py
if ((${#need_apt[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    sudo_cmd=()
    if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
        "${need_apt[@]}" fonts-dejavu-core >/dev/null
fi

if [ ! -f .cache/npm/node_modules/axe-core/axe.min.js ]; then
    mkdir -p .cache/npm
    npm install --no-save --no-audit --no-fund --silent --prefix .cache/npm axe-core@4 >/dev/null
fi

echo "render deps: $(command -v chromium) $(command -v spamassassin)" \
    "axe-core $(node -p "require('./.cache/npm/node_modules/axe-core/package.json').version")"
