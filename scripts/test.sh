#!/usr/bin/env bash
# Run the test suite, setting the machine up first if .venv is missing or incomplete. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! .venv/bin/python -c 'import concept_explorer, pytest, gradio_client, playwright, ray' 2>/dev/null \
        || [ ! -x .venv/bin/concept-explorer ]; then
    bash scripts/setup.sh
fi
exec .venv/bin/python -m pytest -q tests "$@"
