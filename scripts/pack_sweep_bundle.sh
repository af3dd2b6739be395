#!/usr/bin/env bash
# What the bundled sweeps' scripts share (scripts/bundle_sweep.sh, scripts/bundle_mask.sh): make the sweep NAME in
# runs/NAME with this project's own `sweep` command (two single-threaded workers: the measured best way on 2 cores,
# benchmarks/results-sweep.txt), pack what its views need into checkpoints/NAME (seed 0's cells keep 4
# checkpoints, so they open in Explore and generate live), and regenerate the README's blocks with NUMBERS_SCRIPT
# and scripts/readme_numbers.py. Resumable: run it again after an interruption; when runs/NAME is gone (a fresh
# clone) the packed sweep is copied back first, so its finished cells are kept and only the others are made.
#     bash scripts/pack_sweep_bundle.sh NAME NUMBERS_SCRIPT SWEEP_OPTION...
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 numbers=$2
shift 2
ce=".venv/bin/python -m concept_explorer"
work=runs/$name
bundled=checkpoints/$name

if [ ! -d "$work" ] && [ -f "$bundled/sweep.json" ]; then
    mkdir -p runs && cp -r "$bundled" "$work"
fi
set +e
$ce sweep "$@" --out "$work" --workers 2 --threads 1
status=$?
set -e
[ "$status" -le 1 ] || exit "$status"  # 1: some cell failed (named above); the finished ones are still packed
$ce pack-sweep "$work" "$bundled" --weights-seed 0 --checkpoints 4
.venv/bin/python "scripts/$numbers" --write
.venv/bin/python scripts/readme_numbers.py --write  # its storage line counts all of checkpoints/
