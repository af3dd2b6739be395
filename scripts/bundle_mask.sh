#!/usr/bin/env bash
# Re-make the bundled underspecification sweep, checkpoints/sweep-mask, with this project's own commands: the `mask`
# preset (shape × colour; the colour left out of a fraction f of red triangles' prompts, a learned mask token in its
# place) at f = 0, 0.5 and 1, seeds 0 and 1, each cell trained, evaluated and elicited (the elicitation pass also
# draws the masked prompt) in runs/sweep-mask by two single-threaded workers; then what the Sweep tab's
# underspecification view needs is packed into checkpoints/sweep-mask (seed 0's cells keep 4 checkpoints, so they
# open in Explore and generate live, masked prompts included) and the README's numbers are regenerated. About 70 min
# of 2 cores; run it again after an interruption and it resumes (a fresh clone copies the packed sweep back first).
set -euo pipefail
cd "$(dirname "$0")/.."
ce=".venv/bin/python -m concept_explorer"
work=runs/sweep-mask
bundled=checkpoints/sweep-mask

if [ ! -d "$work" ] && [ -f "$bundled/sweep.json" ]; then
    mkdir -p runs && cp -r "$bundled" "$work"
fi
set +e
$ce sweep --preset mask --grid train.mask_fraction=0,0.5,1 --seeds 0,1 --out "$work" --workers 2 --threads 1
status=$?
set -e
[ "$status" -le 1 ] || exit "$status"  # 1: some cell failed (named above); the finished ones are still packed
$ce pack-sweep "$work" "$bundled" --weights-seed 0 --checkpoints 4
.venv/bin/python scripts/mask_numbers.py --write
.venv/bin/python scripts/readme_numbers.py --write  # its storage line counts all of checkpoints/
