#!/usr/bin/env bash
# Installs Debian's headless Chromium for the browser test (tests/test_pages_browser.py) when it is missing, as
# tests/postgres.sh does for PostgreSQL. The test starts the pages' server on loopback and runs Chromium against
# it with a fresh profile and no background networking. Without root or apt-get it only says so: the browser
# test then skips with that reason, and everything else still runs.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done
echo ">>> Chromium is not installed; installing Debian's chromium package (for tests/test_pages_browser.py)"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: cannot install Chromium (not root, or no apt-get): the browser test is skipped." >&2
    exit 0
fi
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || {
    echo "note: FAILED to install Chromium: the browser test is skipped." >&2
    exit 0
}
