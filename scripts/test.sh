#!/usr/bin/env bash
# Set up everything the tests need (a virtual environment with gen3widgets[test],
# and Debian's Chromium for the browser tests when apt-get is available), then
# run lint, type checks and the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[test]'

# Browser tests drive Debian's Chromium through Playwright; browser downloads
# are not used (or possible everywhere), so install the distribution package.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" != "none" ]; then
    echo "Installing Debian's chromium for the browser tests..."
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "note: /usr/bin/chromium is missing; browser tests will be skipped." >&2
fi

echo "== ruff"
"$VENV/bin/ruff" check gen3widgets tests benchmarks
"$VENV/bin/ruff" format --check gen3widgets tests benchmarks
echo "== mypy (strict, on the package)"
"$VENV/bin/mypy"
echo "== pytest"
"$VENV/bin/python" -m pytest "$@"
