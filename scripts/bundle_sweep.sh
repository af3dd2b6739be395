#!/usr/bin/env bash
# Re-make the bundled concept-signal sweep, checkpoints/sweep-color, with this project's own commands: every cell of
# the grid is trained, evaluated and elicited in runs/sweep-color (two single-threaded workers: the measured best way
# on 2 cores, benchmarks/results-sweep.txt), what the Sweep view needs is packed into checkpoints/sweep-color (no
# weights: a few hundred kB a cell), and the README's numbers are regenerated. About 40 min of 2 cores per pair of
# cells; run it again after an interruption and it resumes. When runs/ is gone (a fresh clone) the packed sweep is
# copied back first, so its finished cells are kept and only the others are trained.
set -euo pipefail
cd "$(dirname "$0")/.."
ce=".venv/bin/python -m concept_explorer"
work=runs/sweep-color
bundled=checkpoints/sweep-color

if [ ! -d "$work" ] && [ -f "$bundled/sweep.json" ]; then
    mkdir -p runs && cp -r "$bundled" "$work"
fi
set +e
$ce sweep --preset cpu --grid concept_space.delta_color=0.2,0.3,0.4,0.5,0.6,0.8 --seeds 0,1 --out "$work" \
    --workers 2 --threads 1
status=$?
set -e
[ "$status" -le 1 ] || exit "$status"  # 1: some cell failed (named above); the finished ones are still packed
$ce pack-sweep "$work" "$bundled" --weights-seed 0 --checkpoints 4
.venv/bin/python scripts/sweep_numbers.py --write
.venv/bin/python scripts/readme_numbers.py --write  # its storage line counts all of checkpoints/
