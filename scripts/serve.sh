#!/usr/bin/env bash
# Start the explorer on the bundled runs, setting the machine up first if .venv is missing. Extra arguments go
# to app.py (e.g. a run folder, --port 7861, --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! .venv/bin/python -c 'import concept_explorer, gradio' 2>/dev/null; then
    bash scripts/setup.sh
fi
exec .venv/bin/python app.py "$@"
