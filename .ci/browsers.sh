#!/usr/bin/env bash
# Set-up for the browser tests (tests/web/test_browser.py): Debian's Chromium and the Python
# Playwright driver. Never runs `playwright install` (no browser downloads): the tests launch
# /usr/bin/chromium through `executable_path`. When something cannot be installed (not root, no
# apt-get, offline) this says why and exits 0: the browser tests then skip with that reason.
set -uo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=${CRMFLOW_CHROMIUM:-/usr/bin/chromium}
PY=${PYTHON_BIN:-.venv/bin/python}

if [ -x "$CHROMIUM" ]; then
    echo "browsers: $CHROMIUM is present ($("$CHROMIUM" --version 2>/dev/null | head -n1))"
elif [ "$(id -u)" -ne 0 ]; then
    echo "browsers: $CHROMIUM is missing and this is not root: browser tests will be skipped"
elif ! command -v apt-get >/dev/null 2>&1; then
    echo "browsers: $CHROMIUM is missing and there is no apt-get: browser tests will be skipped"
else
    echo "browsers: installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; then
        echo "browsers: apt-get could not install chromium: browser tests will be skipped"
    fi
fi

if [ -x "$PY" ] && ! "$PY" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "browsers: installing the Playwright driver into $(dirname "$(dirname "$PY")")"
    "$PY" -m pip install -q "playwright>=1.45" || echo "browsers: pip could not install playwright: browser tests will be skipped"
fi
exit 0
