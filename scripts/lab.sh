#!/usr/bin/env bash
# Open the quickstart notebook in JupyterLab, ready to run on the offline simulator:
#   bash scripts/lab.sh               (uses ./.venv, made on first run)
#   bash scripts/lab.sh --no-browser  (prints the link to open)
# Set AIMLAPI_KEY in your shell first to use the real AI/ML API instead.
# Extra arguments go to `jupyter lab`.
#
# The notebooks open from a working copy in .lab/notebooks (made on first run, new
# notebooks added later, your edits kept), so running them never changes the
# repository's own notebooks/.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
WORK=.lab/notebooks

if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV ..."
  "$PYTHON" -m venv "$VENV"
fi
# Every run, so that a pull that changed the dependencies is picked up (quick when
# everything is already there).
echo "Installing gen3widgets with JupyterLab and the simulator into $VENV ..."
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[lab]'

mkdir -p "$WORK"
cp -Rn notebooks/. "$WORK"/  # -n: never overwrite a notebook you changed

if [ -z "${AIMLAPI_KEY:-}" ]; then
  echo "No AIMLAPI_KEY set: the notebooks run on the built-in offline simulator (nothing is bought)."
fi
extra=()
if [ "$(id -u)" = 0 ]; then
  extra+=(--allow-root)  # containers and CI machines often run as root
fi
port=""
for arg in "$@"; do
  case "$arg" in --port|--port=*|--ServerApp.port*) port="given" ;; esac
done
if [ -z "$port" ]; then
  # A free port and a token of our own, so the link printed below is the one that works.
  port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  token=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(24))')
  extra+=(--port="$port" --ServerApp.port_retries=0 --IdentityProvider.token="$token")
  echo "The quickstart notebook: http://127.0.0.1:$port/lab/tree/01_quickstart.ipynb?token=$token"
fi
cd "$WORK"
exec "../../$VENV/bin/jupyter" lab 01_quickstart.ipynb "${extra[@]}" "$@"
