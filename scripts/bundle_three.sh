#!/usr/bin/env bash
# Re-make the bundled three-concept run, checkpoints/three-concepts: the cpu3 preset (colour × size × background,
# trained on 000, 001, 010, 100; issue #14) trained, evaluated and elicited by this project's own commands, like
# scripts/bundle.sh makes the 2-concept runs. Explore shows it in three concept planes beside the held-out classes'
# distance against learning time. Expected on 2 cores (not yet measured: scaled from the cpu preset's 17-28 min
# training, 4-6 min evaluation and 10-15 min elicitation per seed, benchmarks/results-bundle-timing.txt): 1.5x the
# steps and twice the classes to sample, so about 30-45 min training, 8-12 min evaluation, 10-15 min elicitation.
# Resumable: run it again after an interruption and every command continues where it stopped. One thread per
# command and bf16, as scripts/bundle.sh (PRECISION=fp32 on a CPU without native bf16).
set -euo pipefail
cd "$(dirname "$0")/.."
precision=${PRECISION:-bf16}
ce=".venv/bin/python -m concept_explorer"
out=checkpoints/three-concepts

if [ -f "$out/run.json" ]; then
    if ! grep -q '"status": "complete"' "$out/run.json"; then
        $ce train --resume --out "$out" --threads 1 --precision "$precision"
    fi
else
    $ce train --preset cpu3 --out "$out" --threads 1 --precision "$precision"
fi
$ce evaluate "$out" --threads 1 --precision "$precision"
$ce elicit "$out" --threads 1 --precision "$precision"
