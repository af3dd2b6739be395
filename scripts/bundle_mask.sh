#!/usr/bin/env bash
# Re-make the bundled underspecification sweep, checkpoints/sweep-mask: the `mask` preset (shape × colour; the colour
# left out of a fraction f of red triangles' prompts, a learned mask token in its place) at f = 0, 0.5 and 1, seeds 0
# and 1, each cell trained, evaluated and elicited (the elicitation pass also draws the masked prompt), packed, README
# numbers regenerated (scripts/pack_sweep_bundle.sh says how; seed 0's cells generate live, masked prompts
# included). About 50 min of 2 cores; resumable.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/pack_sweep_bundle.sh sweep-mask mask_numbers.py --preset mask --grid train.mask_fraction=0,0.5,1 \
    --seeds 0,1
