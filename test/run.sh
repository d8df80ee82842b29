#!/usr/bin/env bash
# Sets up and runs the whole test suite on a fresh machine:
#   ./test/run.sh [PYTEST ARGS...]      (PYTHON=python3.12 picks the interpreter)
# installs Debian's chromium and openssl when they are missing,
# makes a virtual environment .venv-<version> with the package and its
# `test` extra, and runs pytest in it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

# Debian packages the tests use: chromium (browser tests), openssl (a
# certificate made at test time for the HTTPS tests), and node with npm
# (the TypeScript checks of the generated clients: npm installs the
# `typescript` compiler once into ~/.cache/quick_server-test)
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "test: installing ${missing[*]} (Debian packages)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
venv=".venv-$ver"
if ! [ -x "$venv/bin/python" ]; then
  "$PY" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
echo "test: Python $ver" >&2
exec "$venv/bin/python" -m pytest -q "$@"
