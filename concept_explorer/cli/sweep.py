"""`concept-explorer sweep`: a grid of runs over config fields and seeds, each trained, evaluated and elicited,
resumable by running the same command again."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..analysis.sweep import ELICIT_CONCEPTS, SAMPLE_STEPS
from ..core import limits
from ..core.concepts import CONCEPT_ORDER
from ..core.config import PRESETS
from ..core.training import resolve_device
from .common import EXIT_FAILED, UsageError, add_precision_option, check_writable, checked, path_option
from .overrides import add_config_overrides, config_overrides


def add_sweep(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep", allow_abbrev=False, help="train, evaluate and elicit a grid of runs over config fields and seeds",
        description="Every combination of the --grid values and --seeds becomes a run folder inside --out, "
        "trained, evaluated and elicited (one probe is trained for the whole sweep). Run the same command again "
        "to resume: finished cells are skipped, interrupted ones resume, failed ones are retried.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="base configuration (default: cpu)")
    parser.add_argument("--grid", nargs="+", required=True, metavar="FIELD=V1,V2",
                        help="one axis per FIELD=values, e.g. concept_space.delta_color=0.2,0.4,0.6")
    parser.add_argument("--seeds", default="0", help="training seeds, comma-separated (default: 0)")
    parser.add_argument("--out", required=True, type=path_option, metavar="SWEEP_FOLDER", help="e.g. sweeps/color")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                        help="cells trained at once, each in its own process (default: one per core)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker (default: 1)")
    parser.add_argument("--no-elicit", action="store_true", help="train and evaluate only")
    parser.add_argument("--sample-steps", type=int, default=SAMPLE_STEPS,
                        help=f"sampler steps of each cell's evaluation and elicitation (default: {SAMPLE_STEPS}, "
                        "measured: benchmarks/results-sample-steps.txt)")
    parser.add_argument("--elicit-concepts", default=",".join(ELICIT_CONCEPTS), metavar="CONCEPTS",
                        help="concepts each cell's overprompting and intervention push, together, comma-separated "
                        f"(default: {','.join(ELICIT_CONCEPTS)}); changing it re-samples finished cells' elicitation")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA where a worker sees one), cpu or cuda (default: auto)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="local: worker processes on this machine; ray: Ray tasks (pip install ray)")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="a running Ray cluster to use (e.g. ray://head:10001); without it a local Ray instance "
                        "of workers × threads CPUs is started. On a cluster --out must be a path every node sees")
    add_precision_option(parser)
    add_config_overrides(parser)
    parser.set_defaults(handler=run_sweep_command)

    pack = subparsers.add_parser(
        "pack-sweep", allow_abbrev=False, help="copy what a sweep's views need (no weights) into another folder",
        description="Writes the sweep's results.json and copies it, sweep.json and each finished cell's config, "
        "metrics and pass summaries into DEST: megabytes instead of gigabytes, enough for the app's Sweep view "
        "(checkpoints/sweep-color is made this way, with --weights-seed 0). Running the sweep's own command re-makes "
        "the rest.",
    )
    pack.add_argument("sweep", type=Path, metavar="SWEEP_FOLDER")
    pack.add_argument("dest", type=Path, metavar="DEST")
    pack.add_argument("--weights-seed", type=int, metavar="SEED",
                      help="the cells of this seed keep weights and samples of a few checkpoints, so the app opens "
                      "them and generates live (default: no weights)")
    pack.add_argument("--checkpoints", type=int, default=4, help="checkpoints those cells keep (default: 4)")
    pack.set_defaults(handler=pack_sweep_command)


def run_sweep_command(args: argparse.Namespace) -> int:
    from ..analysis.sweep import FAILED, Sweep, parse_grid
    from ..analysis.sweep_runs import run_sweep

    checked(limits.WORKERS, "--workers", args.workers)
    checked(limits.THREADS, "--threads", args.threads)
    if args.backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("The ray backend needs Ray: pip install ray (or use --backend local).") from None
    elif args.ray_address:
        raise UsageError("--ray-address needs --backend ray.")
    try:
        resolve_device(args.device)  # an unknown device fails here, not once per cell
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        grid = parse_grid(args.grid)
        texts = [s.strip() for s in args.seeds.split(",") if s.strip()]
        if not all(t.isdigit() for t in texts):
            raise ValueError(f"Seeds are whole numbers separated by commas, got {args.seeds!r}.")
        limits.SAMPLE_STEPS.check("--sample-steps", args.sample_steps)
        check_writable(args.out, "--out")
        concepts = tuple(c.strip() for c in args.elicit_concepts.split(",") if c.strip())
        unknown = [c for c in concepts if c not in CONCEPT_ORDER]
        if not concepts or unknown:
            raise ValueError(f"--elicit-concepts takes concepts of {list(CONCEPT_ORDER)}, got "
                             f"{limits.shown(args.elicit_concepts)}.")
        sweep = Sweep.create(args.out, args.preset, config_overrides(args), grid, [int(t) for t in texts],
                             args.sample_steps, concepts)
    except ValueError as error:
        raise UsageError(str(error)) from None
    cells = len(sweep.data["cells"])
    print(f"Sweep {args.out}: {cells} cells, {sweep.counts()['complete']} already complete; "
          f"{args.workers} worker(s) × {args.threads} thread(s).")
    counts = run_sweep(sweep, workers=args.workers, threads=args.threads, precision=args.precision,
                       elicit=not args.no_elicit, backend=args.backend, ray_address=args.ray_address,
                       device=args.device)
    print(f"Sweep {args.out}: {counts['complete']} of {cells} cells complete, {counts[FAILED]} failed.")
    return EXIT_FAILED if counts[FAILED] else 0


def pack_sweep_command(args: argparse.Namespace) -> int:
    from ..analysis.sweep import Sweep
    from ..analysis.sweep_results import pack

    sweep = Sweep.open(args.sweep)
    try:
        limits.PASS_SEED.check("--weights-seed", 0 if args.weights_seed is None else args.weights_seed)
        if args.checkpoints < 1:
            raise ValueError(f"--checkpoints must be at least 1, got {args.checkpoints}.")
        destination = pack(sweep, args.dest, args.weights_seed, args.checkpoints)
    except ValueError as error:
        raise UsageError(str(error)) from None
    counts = sweep.counts()
    print(f"Packed {counts['complete']} finished cell(s) of {len(sweep.data['cells'])} into {destination}.")
    return 0
