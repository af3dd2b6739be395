#!/usr/bin/env bash
# Re-make the bundled concept-signal sweep, checkpoints/sweep-color: the cpu preset at six values of Δcolor, seeds 0
# and 1, every cell trained, evaluated and elicited, packed (a few hundred kB a cell without weights), README numbers
# regenerated (scripts/pack_sweep_bundle.sh says how). About 40 min of 2 cores per pair of cells; resumable.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/pack_sweep_bundle.sh sweep-color sweep_numbers.py --preset cpu \
    --grid concept_space.delta_color=0.2,0.3,0.4,0.5,0.6,0.8 --seeds 0,1
