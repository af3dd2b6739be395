#!/usr/bin/env bash
# Re-make the bundled trajectories in checkpoints/: three seeds of the cpu preset, each trained, evaluated and
# elicited by this project's own commands, then the README's numbers regenerated from them. Measured for the bundled
# seeds on a 2-core AMD EPYC shared with other jobs: training 17-28 min, evaluation 4-6 min, elicitation 10-15 min
# per seed (benchmarks/results-bundle-timing.txt). Resumable: run it again after an interruption and every
# command continues where it stopped. One thread per command, because the thread count changes float summation
# order; bf16 because the bundled runs were made on a CPU with native bf16 (a CPU without it reproduces them only
# up to that rounding: pass PRECISION=fp32 to train in fp32 instead).
set -euo pipefail
cd "$(dirname "$0")/.."
precision=${PRECISION:-bf16}
ce=".venv/bin/python -m concept_explorer"

for seed in 0 1 2; do
    out=checkpoints/cpu-default$([ "$seed" -eq 0 ] || echo "-seed$seed")
    if [ -f "$out/run.json" ]; then
        if ! grep -q '"status": "complete"' "$out/run.json"; then
            $ce train --resume --out "$out" --threads 1 --precision "$precision"
        fi
    else
        $ce train --preset cpu --out "$out" --threads 1 --precision "$precision" --train.seed "$seed"
    fi
    $ce evaluate "$out" --threads 1 --precision "$precision"
    $ce elicit "$out" --threads 1 --precision "$precision"
done
.venv/bin/python scripts/readme_numbers.py --write
