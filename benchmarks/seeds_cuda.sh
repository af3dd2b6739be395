#!/usr/bin/env bash
# Seed spread of the cpu preset, trained on a GPU in fp32: seeds 1-3 trained, evaluated (with the bundled run's
# probe, so every seed is read by the same probe) and elicited in parallel, then their phases side by side.
# Usage: OUT=/some/dir bash benchmarks/seeds_cuda.sh   (needs torch with CUDA; gradio/plotly are not needed)
set -uo pipefail
OUT=${OUT:-/tmp/seeds-out}
RUNS=${RUNS:-/tmp/seeds}
mkdir -p "$OUT" "$RUNS"
export PYTHONUNBUFFERED=1
nvidia-smi -L
for seed in 1 2 3; do
    run=$RUNS/seed$seed
    mkdir -p "$run/probe" && cp checkpoints/cpu-default/probe/probe.safetensors "$run/probe/"
    (python3 -m concept_explorer train --preset cpu --precision fp32 --device cuda --threads 4 --train.seed "$seed" \
        --out "$run" --evaluate >"$OUT/train$seed.log" 2>&1 &&
     python3 -m concept_explorer elicit "$run" --device cuda --precision fp32 --threads 4 >"$OUT/elicit$seed.log" 2>&1;
     echo "seed $seed finished with $?") &
done
wait
python3 benchmarks/compare_runs.py "$RUNS"/seed1 "$RUNS"/seed2 "$RUNS"/seed3 | tee "$OUT/seeds.txt"
(cd "$RUNS" && tar czf "$OUT/summaries.tgz" seed*/run.json seed*/metrics.jsonl seed*/evaluation/summary.json \
    seed*/elicitation/summary.json)
