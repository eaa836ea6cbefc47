#!/usr/bin/env bash
# Install the system tools the tests use, from Debian's packages:
#   - chromium (driven by Playwright with executable_path; Playwright never downloads a browser)
#   - spamassassin (run locally with network tests off: spamassassin -L -t)
#   - faketime (libfaketime), for the scheduler's end-to-end runs at a chosen time
#   - systemd (systemd-analyze verify) and nginx-light (nginx -t), for the files of deploy/
#   - postgresql (Debian's server): the ledger, subscriber and exactly-once tests start a
#     throwaway cluster with its initdb/pg_ctl (tests/pg_cluster.py); Debian's own cluster
#     'main' is left alone
# axe-core comes from the Python package axe-playwright-python (a dev dependency), not npm.
# As root (CI, a fresh machine) the missing ones are installed; otherwise one line says what is
# missing and the command that installs it, and the tests that need it are skipped.
# Idempotent and quick when everything is already there. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v spamassassin >/dev/null 2>&1 || need_apt+=(spamassassin)
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)  # tests/test_scheduler_e2e.py
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)  # tests/test_deploy.py
PATH="$PATH:/usr/sbin" command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)  # idem
pg_initdb() { command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } 2>/dev/null
pg_initdb >/dev/null || need_apt+=(postgresql)  # tests/pg_cluster.py
if ((${#need_apt[@]})); then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need_apt[@]}" fonts-dejavu-core >/dev/null
    else
        echo "system tools missing: ${need_apt[*]} (their tests are skipped);" \
            "install them with: sudo apt-get install ${need_apt[*]}"
        exit 0
    fi
fi
echo "system tools: $(command -v chromium) $(command -v spamassassin)" \
    "$(pg_initdb | tail -n 1)"
