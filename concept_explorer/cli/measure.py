"""`probe`, `evaluate` and `elicit`: the commands that measure a trained run."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from ..core import limits
from ..core.config import PRESETS, parse_value, preset
from ..core.run import Run
from .common import (
    EXIT_FAILED,
    PROG,
    RUN,
    UsageError,
    add_pass_options,
    check_writable,
    checked,
    device_from,
    path_option,
    precision_from,
)


def add_probe(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe", help="train the classifier probe of a run (or of a preset's geometry) and print its accuracy",
        description="Train the concept probe (per concept a reading of the attribute's value, plus an "
        "object-present head) on fresh renders with attribute values along each concept's whole axis, over a range "
        "of concept signals, and print per-class, per-concept accuracy on class-mean images (strict criterion) "
        f"and the position error along each axis. With RUN_FOLDER it is saved as {RUN.probe} (replacing any old one; "
        "`evaluate` then re-scores stored samples); otherwise give --out.",
    )
    parser.add_argument("run", type=Path, nargs="?", metavar="RUN_FOLDER", help="run whose geometry the probe reads")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="geometry when no run is given")
    parser.add_argument("--out", type=path_option, help=f"where to save the probe (default: {RUN.probe})")
    parser.add_argument("--steps", type=int, default=800, help="training steps (default: 800)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's choice)")
    parser.set_defaults(handler=run_probe, device="cpu")


def run_probe(args: argparse.Namespace) -> int:
    from ..analysis.definitions import DEFAULT_CRITERION
    from ..analysis.run_probe import probe_report, train_probe_for

    device_from(args)
    checked(limits.PROBE_STEPS, "--steps", args.steps)
    run = Run.open(args.run) if args.run else None
    if run is None and args.out is None:
        raise UsageError("Give a RUN_FOLDER or --out for the probe.")
    if args.out is not None:
        check_writable(args.out, "--out", folder=False)  # before training, not after
    space = run.config.concept_space if run else preset(args.preset).concept_space
    probe = train_probe_for(space, steps=args.steps)
    report = probe_report(probe, space)
    accuracy = report["class_mean_accuracy"][DEFAULT_CRITERION]
    concepts = list(space.concepts) + ["present"]
    seen = "class-mean accuracy" if space.dataset == "synthetic" else "accuracy on held-out labelled faces"
    print(f"{seen} ({DEFAULT_CRITERION})  " + "  ".join(f"{c:>8}" for c in concepts))
    for label, values in accuracy.items():
        code = space.parse_class(label)
        print(f"{label} {space.class_name(code):<25}" + "  ".join(f"{v:8.1%}" for v in values))
    print_calibration(report["calibration"])
    worst = min(min(v) for v in accuracy.values())
    out = args.out or run.layout.probe
    probe.save(out)
    print(f"Saved {out}; lowest accuracy {worst:.1%}.")
    if worst < 0.99 and space.dataset == "synthetic":  # real faces are never read that surely
        print(f"{PROG}: warning: below 99 %; train longer with --steps.", file=sys.stderr)
        return EXIT_FAILED
    return 0


def print_calibration(calibration: dict[str, dict[str, float]]) -> None:
    """The probe's position error along each concept's whole axis (probes.calibration_error), one line each."""
    for concept, error in calibration.items():
        print(f"calibration {concept:<6} mean |error| {error['mean_abs_error']:.3f}, worst bias "
              f"{error['worst_bias']:+.3f} at position {error['worst_at']:g} (position units: 1 = class-mean gap)")


def add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="generate and probe samples of every class at every checkpoint (incremental)",
        description="For every checkpoint not yet evaluated: generate N samples per class (training classes "
        "from their training distribution, held-out classes at their class means), score them with the run's "
        "probe (trained first if missing) and store samples, positions and per-class summaries in "
        f"{RUN.evaluation_summary.parent}/.",
    )
    add_pass_options(parser, per="class")
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from ..analysis.evaluate import EvalConfig, Evaluation, evaluate_run

    device = device_from(args)
    try:
        config = EvalConfig(samples_per_class=args.samples, seed=args.seed,
                            precision=precision_from(args, device))
    except ValueError as error:
        raise UsageError(str(error)) from None
    run = Run.open(args.run)
    started = time.perf_counter()
    sampled = evaluate_run(run, config, device=device)
    print(f"Evaluated {len(sampled)} new checkpoint(s) of {run.name} in {time.perf_counter() - started:.1f} s; "
          f"{len(run.steps)} in all.")
    print_calibration(Evaluation(run).summary["probe"]["calibration"])
    return 0


def add_elicit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "elicit", help="capability curves: held-out accuracy under plain prompting and each elicitation method",
        description="For every checkpoint not yet done: sample the held-out class(es) plainly, overprompted, "
        "with a linear latent intervention and with the final checkpoint's embedding patched in; store samples "
        f"and probe verdicts in {RUN.elicitation_summary.parent}/ and print the learning step per method and the "
        "hidden-capability gap.",
    )
    add_pass_options(parser, per="method and checkpoint")
    parser.add_argument("--concepts", help="concepts to push, comma-separated (default: color; on CelebA both "
                        "attributes)")
    parser.add_argument("--overprompt", default="1,2", help="overprompt strengths (default: 1,2)")
    parser.add_argument("--intervention", default="0.5,1", help="intervention strengths (default: 0.5,1)")
    parser.add_argument("--directions", default="pairs,orthogonal,target",
                        help="intervention directions, comma-separated (default: all three; README explains them)")
    parser.add_argument("--guidance", default="2,4",
                        help="guidance weights, sampled only for runs trained with a null token (default: 2,4)")
    parser.add_argument("--no-patch", action="store_true", help="skip embedding patching")
    parser.set_defaults(handler=run_elicit)


def run_elicit(args: argparse.Namespace) -> int:
    from ..analysis.capability import ElicitConfig, capability_curves, elicit_run, load_elicitation

    device = device_from(args)
    try:
        config = ElicitConfig(
            concepts=tuple(parse_value(tuple[str, ...], "color" if args.concepts is None else args.concepts,
                                       "--concepts")),
            overprompt_strengths=parse_value(tuple[float, ...], args.overprompt, "--overprompt"),
            intervention_strengths=parse_value(tuple[float, ...], args.intervention, "--intervention"),
            intervention_directions=parse_value(tuple[str, ...], args.directions, "--directions"),
            guidance_weights=parse_value(tuple[float, ...], args.guidance, "--guidance"),
            patch=not args.no_patch, samples=args.samples, seed=args.seed,
            precision=precision_from(args, device),
        )
        run = Run.open(args.run)
        if args.concepts is None and run.config.concept_space.dataset == "celeba":  # no colour: push both attributes
            config = dataclasses.replace(config, concepts=run.config.concept_space.concepts)
        started = time.perf_counter()
        sampled = elicit_run(run, config, device=device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    elapsed = time.perf_counter() - started
    summary = load_elicitation(run)
    space = run.config.concept_space
    print(f"Elicited {len(sampled)} new checkpoint(s) of {run.name} in {elapsed:.1f} s.")
    for code in space.heldout_classes():
        curves = capability_curves(summary, space.class_label(code))
        print(f"{space.class_name(code)}: learning step (accuracy >= 0.8 at 3 checkpoints in a row)")
        print(f"  {'method':<24} {'joint':>12}" + "".join(f" {c:>12}" for c in space.concepts) + "   gap (joint)")
        for family, step in curves.learned.items():
            per_concept = "".join(f" {str(s):>12}" for s in curves.concept_learned[family])
            gap = "" if family == "plain" else f"   {curves.gap(family)}"
            print(f"  {family:<24} {str(step):>12}{per_concept}{gap}")
    return 0
