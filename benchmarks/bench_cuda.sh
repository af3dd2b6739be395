#!/usr/bin/env bash
# CUDA check and timing on a GPU machine (not part of the tests): trains the cpu preset briefly with --evaluate,
# runs elicit on it, times the paper preset per training step and per 8x50-step sample, all with --device cuda.
# Usage: OUT=/some/dir bash benchmarks/bench_cuda.sh   (needs torch with CUDA and the package importable)
set -euo pipefail
OUT=${OUT:-/tmp/bench_cuda}
mkdir -p "$OUT"
ce() { python3 -m concept_explorer "$@"; }
nvidia-smi -L
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
ce train --preset cpu --out "$OUT/cpu" --device cuda --train.num_steps 600 --train.checkpoint_steps 300,600 \
    --evaluate 2>&1 | tail -n 2
ce elicit "$OUT/cpu" --device cuda --samples 32 --overprompt 1 --intervention 1 2>&1 | tail -n 6
ce train --preset paper --out "$OUT/paper" --device cuda --train.num_steps 400 --train.checkpoint_steps 100,400 \
    --train.heldout_loss_images 64 2>&1 | tail -n 1
python3 - "$OUT" <<'PY'
import json, sys, time, torch
from concept_explorer.run import Run
for name in ("cpu", "paper"):
    run = Run.open(f"{sys.argv[1]}/{name}")
    rows = run.metrics()
    print(name, "train ms/step (after first checkpoint):", round(1000 * rows[-1]["seconds_per_step"], 1))
    model = run.load_model(run.final_step, "cuda")
    h = run.config.concept_space.class_prompt((1, 1))[None].repeat(8, 1)
    for _ in range(2):
        torch.cuda.synchronize(); start = time.perf_counter()
        model.sample(h, 50, torch.Generator().manual_seed(0)); torch.cuda.synchronize()
    print(name, "sample 8 images x 50 steps s:", round(time.perf_counter() - start, 3))
PY
