#!/usr/bin/env bash
# Sets up and runs the whole test suite on a fresh machine:
#   ./test/run.sh [PYTHON]
# installs Debian's chromium for the browser tests when it is missing,
# makes a virtual environment .venv-<version> with the package and its
# `test` extra, and runs pytest in it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"

if ! [ -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "test: installing Debian chromium for the browser tests" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends chromium >/dev/null
fi

ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
venv=".venv-$ver"
if ! [ -x "$venv/bin/python" ]; then
  "$PY" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
echo "test: Python $ver" >&2
exec "$venv/bin/python" -m pytest -q "${@:2}"
