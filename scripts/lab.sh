#!/usr/bin/env bash
# Set up a virtual environment with gen3widgets and JupyterLab, then open the
# quickstart notebook. With no AIMLAPI_KEY it runs on the built-in simulator.
# Extra arguments go to `jupyter lab` (e.g. --no-browser --port 8899).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[lab]'

if [ -z "${AIMLAPI_KEY:-}" ]; then
  echo "No AIMLAPI_KEY set: the notebooks run on the offline simulator (nothing is bought)."
fi
exec "$VENV/bin/jupyter" lab notebooks/01_quickstart.ipynb "$@"
