#!/bin/sh
# Create the project's virtual environment with the given Python (>= 3.11) when it is missing.
# On Debian/Ubuntu the venv module lives in the python3-venv package: installed here when run as root.
set -eu
PY=$1
VENV=$2
[ -x "$VENV/bin/python" ] && exit 0
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "greenhp: $PY not found; install Python >= 3.11 (e.g. apt-get install python3 python3-venv)" >&2
  exit 1
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "greenhp: $PY is $("$PY" --version 2>&1); Python >= 3.11 is needed (set PYTHON=python3.11 ...)" >&2
  exit 1
}
if ! "$PY" -m venv "$VENV" 2>/dev/null; then
  rm -rf "$VENV"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "greenhp: installing python3-venv with apt-get"
    ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt-get update -qq && (apt-get install -y -qq "python$ver-venv" || apt-get install -y -qq python3-venv)
    "$PY" -m venv "$VENV"
  else
    echo "greenhp: '$PY -m venv' failed; install the venv module (sudo apt-get install python3-venv) and retry" >&2
    exit 1
  fi
fi
