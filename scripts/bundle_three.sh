#!/usr/bin/env bash
# Re-make the bundled three-concept run, checkpoints/three-concepts: the cpu3 preset (colour × size × background,
# trained on 000, 001, 010, 100; issue #14) trained, evaluated and elicited by this project's own commands, like
# scripts/bundle.sh makes the 2-concept runs. Explore shows it in three concept planes beside the held-out classes'
# distance against learning time. Measured for the bundled run (Intel Xeon, bf16, one thread, the other core busy
# with a second training): training 42 min (30,000 steps), evaluation 5 min, elicitation 7 min.
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
# The sweep's measured method set (analysis/sweep.py ELICIT_METHODS), pushing every concept (a held-out class here
# needs two or three of them moved), 32 samples: a quarter of the default pass's sampling for 4 held-out classes.
$ce elicit "$out" --threads 1 --precision "$precision" --samples 32 --concepts color,size,bg --directions target \
    --intervention 0.5 --guidance 4 --no-patch
