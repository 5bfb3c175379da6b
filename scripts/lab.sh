#!/usr/bin/env bash
# Open the quickstart notebook in JupyterLab, ready to run on the offline simulator:
#   bash scripts/lab.sh            (uses ./.venv, made on first run)
# Set AIMLAPI_KEY in your shell first to use the real AI/ML API instead.
# Extra arguments go to `jupyter lab` (e.g. --port 8899).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV ..."
  "$PYTHON" -m venv "$VENV"
fi
# Every run, so that a pull that changed the dependencies is picked up (quick when
# everything is already there).
echo "Installing gen3widgets with JupyterLab and the simulator into $VENV ..."
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[lab]'

if [ -z "${AIMLAPI_KEY:-}" ]; then
  echo "No AIMLAPI_KEY set: the notebooks run on the built-in offline simulator (nothing is bought)."
fi
extra=()
if [ "$(id -u)" = 0 ]; then
  extra+=(--allow-root)  # containers and CI machines often run as root
fi
exec "$VENV/bin/jupyter" lab notebooks/01_quickstart.ipynb "${extra[@]}" "$@"
