#!/usr/bin/env bash
# Set up a fresh machine: .venv with the package, its test tools and the `concept-explorer` command, plus Debian's
# Chromium for the browser tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# torch is pinned to 2.13.0, a CPU build that lies on this machine's disk; a looser pin downloads GBs of CUDA.
# Errors only: this machine's pip configuration warns about every absent local index folder.
.venv/bin/python -m pip install --quiet --quiet -e '.[test]'

if command -v chromium >/dev/null 2>&1; then
    :
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the browser tests" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
        echo "setup: apt-get could not install chromium; the browser tests will be skipped." >&2
    fi
else
    echo "setup: chromium is missing and this is not root; run 'sudo apt-get install chromium' for the browser tests." >&2
fi
echo "setup: done; run .venv/bin/concept-explorer --help" >&2
