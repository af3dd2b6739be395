"""The `concept-explorer` command line.

Each subcommand is one `add_<name>(subparsers)` function that registers its parser and sets `handler`, a function
of the parsed arguments that returns the exit code; `SUBCOMMANDS` lists them. Errors a user can cause surface as
`UsageError` or `RunFolderError`, and `main` prints them as one sentence on stderr with exit code 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import torch

from .core.config import PRESETS, RunConfig, field_docs, parse_value, preset, with_overrides
from .core.run import Run, RunFolderError
from .core.training import resolve_device, train

PROG = "concept-explorer"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's code for "stopped by Ctrl-C", so `train && next` does not run `next`


class UsageError(Exception):
    """A command line that cannot be carried out; the message says what was wrong and what to do."""


class Parser(argparse.ArgumentParser):
    """argparse with its errors raised as one-line `UsageError`s instead of a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message[:1].upper()}{message[1:]} (see `{self.prog} --help`).")


# -- config overrides -----------------------------------------------------------------------------------------
def _format_value(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "''"
    return str(value)


def _metavar(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"{typing.get_args(hint)[0].__name__.upper()},..."
    return getattr(hint, "__name__", str(hint)).upper()


def _preset_value(config: RunConfig, key: str) -> Any:
    value: Any = config
    for name in key.split("."):
        value = getattr(value, name)
    return value


def override_fields() -> dict[str, tuple[type, str, Any]]:
    """Every config field the command line can override: all but the top-level `preset`, which `--preset` sets."""
    return {key: doc for key, doc in field_docs().items() if key != "preset"}


def add_config_overrides(parser: argparse.ArgumentParser) -> None:
    """One `--section.field` option per config field, with the field's help and each preset's default."""
    group = parser.add_argument_group(
        "config overrides", "Each option replaces one field of the preset's config; lists are comma-separated."
    )
    presets = {name: make() for name, make in sorted(PRESETS.items())}
    for key, (hint, help_text, _) in override_fields().items():
        defaults = {name: _format_value(_preset_value(config, key)) for name, config in presets.items()}
        if len(set(defaults.values())) == 1:
            shown = f"default: {next(iter(defaults.values()))}"
        else:
            shown = "; ".join(f"{name}: {value}" for name, value in defaults.items())
        group.add_argument(
            f"--{key}", dest=key, metavar=_metavar(hint), default=None,
            help=f"{help_text} ({shown})".replace("%", "%%"),
        )


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The overrides given on the command line, parsed to their fields' types."""
    overrides = {}
    for key, (hint, _, _) in override_fields().items():
        text = getattr(args, key, None)
        if text is not None:
            try:
                overrides[key] = parse_value(hint, text, key)
            except ValueError as error:
                raise UsageError(str(error)) from None
    return overrides


# -- Ctrl-C ---------------------------------------------------------------------------------------------------
class StopRequest:
    """A flag set by the first Ctrl-C; calling it asks "should training stop?" between steps."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def handle(self, signum: int, frame: object) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts at once
        print("\nStopping after this step and saving the state (Ctrl-C again to abort)…", file=sys.stderr)


@contextmanager
def stop_on_sigint() -> Iterator[StopRequest]:
    """While inside, Ctrl-C requests a clean stop instead of raising KeyboardInterrupt."""
    request = StopRequest()
    previous = signal.signal(signal.SIGINT, request.handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)


# -- train ----------------------------------------------------------------------------------------------------
def add_train(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", allow_abbrev=False,
        usage=f"%(prog)s [--preset {{{','.join(sorted(PRESETS))}}}] --out RUN_FOLDER [--device DEVICE] [--resume]"
        " [--threads N] [--SECTION.FIELD VALUE ...]",
        help="train a model, saving a trajectory of checkpoints into a run folder",
        description="Train a conditional VDM on the synthetic concept images, saving checkpoints into --out. "
        "Ctrl-C stops cleanly after the current step; --resume continues to the bit.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="starting configuration (default: cpu for a new run, the stored one with --resume)")
    parser.add_argument("--out", required=True, type=Path, metavar="RUN_FOLDER",
                        help="run folder to create (or to continue with --resume), e.g. runs/demo")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default: auto)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out with its stored config")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads for torch (default: one per core; use 1 when other jobs share the cores)")
    parser.add_argument("--evaluate", action="store_true",
                        help="evaluate each checkpoint as it is saved (as `evaluate` would, 64 samples per class)")
    add_config_overrides(parser)
    parser.set_defaults(handler=run_train)


def train_config(args: argparse.Namespace) -> RunConfig | None:
    """Preset plus overrides for a new run. With --resume: None (the stored config), or, when options are given,
    the stored config with them applied, which `train` then refuses if they change anything."""
    overrides = config_overrides(args)
    if args.resume:
        if not overrides and args.preset is None:
            return None
        base = Run.open(args.out).config
        if args.preset not in (None, base.preset):
            raise UsageError(f"{args.out} was trained from the {base.preset} preset; drop --preset to resume it.")
    else:
        base = preset(args.preset or "cpu")
    try:
        return with_overrides(base, overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _evaluate_checkpoint(device: str) -> Callable[[Run, int], None]:
    from .analysis.evaluate import evaluate_run

    def evaluate(run: Run, step: int) -> None:
        evaluate_run(run, device=resolve_device(device), progress=False, steps=[step])

    return evaluate


def run_train(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be at least 1, got {args.threads}.")
        torch.set_num_threads(args.threads)
    try:
        resolve_device(args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    config = train_config(args)
    resume_command = f"{PROG} train --out {shlex.quote(str(args.out))} --resume"
    try:
        with stop_on_sigint() as stop_request:
            run = train(config, args.out, device=args.device, resume=args.resume, should_stop=stop_request,
                        after_checkpoint=_evaluate_checkpoint(args.device) if args.evaluate else None)
    except KeyboardInterrupt:
        print(f"Aborted; `{resume_command}` continues from the last checkpoint.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FloatingPointError as error:
        print(f"{PROG}: training failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    if run.status != "complete":
        print(f"To continue: {resume_command}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"Done: {run.path} holds {len(run.steps)} checkpoints, the last at step {run.final_step}.")
    return 0


# -- probe, evaluate, elicit, report, serve ---------------------------------------------------------------------
def _device(args: argparse.Namespace) -> torch.device:
    if getattr(args, "threads", None) is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be at least 1, got {args.threads}.")
        torch.set_num_threads(args.threads)
    try:
        return resolve_device(args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _add_common(parser: argparse.ArgumentParser, run: bool = True) -> None:
    if run:
        parser.add_argument("run", type=Path, metavar="RUN_FOLDER", help="a run folder made by `train`")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default: auto)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's choice)")


def add_probe(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe", help="train the classifier probe of a run (or of a preset's geometry) and print its accuracy",
        description="Train the concept probe (one 2-way head per concept plus an object-present head) on fresh "
        "renders of every class over a range of concept signals, and print per-class, per-concept accuracy on "
        "class-mean images. With RUN_FOLDER it is saved as RUN/probe/probe.safetensors (replacing any old one; "
        "`evaluate` then re-scores stored samples); otherwise give --out.",
    )
    parser.add_argument("run", type=Path, nargs="?", metavar="RUN_FOLDER", help="run whose geometry the probe reads")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="geometry when no run is given")
    parser.add_argument("--out", type=Path, help="where to save the probe (default: RUN/probe/probe.safetensors)")
    parser.add_argument("--steps", type=int, default=800, help="training steps (default: 800)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's choice)")
    parser.set_defaults(handler=run_probe, device="cpu")


def run_probe(args: argparse.Namespace) -> int:
    from .analysis.probes import class_mean_accuracy, probe_config_for, train_probe

    _device(args)
    if args.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {args.steps}.")
    run = Run.open(args.run) if args.run else None
    if run is None and args.out is None:
        raise UsageError("Give a RUN_FOLDER or --out for the probe.")
    space = run.config.concept_space if run else preset(args.preset).concept_space
    probe = train_probe(probe_config_for(space, steps=args.steps))
    accuracy = class_mean_accuracy(probe, space)
    concepts = list(space.concepts) + ["present"]
    print("class-mean accuracy  " + "  ".join(f"{c:>8}" for c in concepts))
    for label, values in accuracy.items():
        code = space.parse_class(label)
        print(f"{label} {space.class_name(code):<16}" + "  ".join(f"{v:8.1%}" for v in values))
    worst = min(min(v) for v in accuracy.values())
    out = args.out or run.layout.probe
    probe.save(out)
    print(f"Saved {out}; lowest accuracy {worst:.1%}.")
    if worst < 0.99:
        print(f"{PROG}: warning: below 99 %; train longer with --steps.", file=sys.stderr)
        return EXIT_FAILED
    return 0


def add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="generate and probe samples of every class at every checkpoint (incremental)",
        description="For every checkpoint not yet evaluated: generate N samples per class (training classes "
        "from their training distribution, held-out classes at their class means), score them with the run's "
        "probe (trained first if missing) and store samples, probabilities and per-class summaries in "
        "RUN/evaluation/.",
    )
    _add_common(parser)
    parser.add_argument("--samples", type=int, default=64, help="samples per class (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    import time

    from .analysis.evaluate import EvalConfig, evaluate_run

    device = _device(args)
    try:
        config = EvalConfig(samples_per_class=args.samples, seed=args.seed)
    except ValueError as error:
        raise UsageError(str(error)) from None
    run = Run.open(args.run)
    started = time.perf_counter()
    sampled = evaluate_run(run, config, device=device)
    print(f"Evaluated {len(sampled)} new checkpoint(s) of {run.name} in {time.perf_counter() - started:.1f} s; "
          f"{len(run.steps)} in all.")
    return 0


def add_elicit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "elicit", help="capability curves: held-out accuracy under plain prompting and each elicitation method",
        description="For every checkpoint not yet done: sample the held-out class(es) plainly, overprompted, "
        "with a linear latent intervention and with the final checkpoint's embedding patched in; store samples "
        "and probe verdicts in RUN/elicitation/ and print the learning step per method and the hidden-capability "
        "gap.",
    )
    _add_common(parser)
    parser.add_argument("--concepts", default="color", help="concepts to push, comma-separated (default: color)")
    parser.add_argument("--overprompt", default="1,2", help="overprompt strengths (default: 1,2)")
    parser.add_argument("--intervention", default="0.5,1", help="intervention strengths (default: 0.5,1)")
    parser.add_argument("--no-patch", action="store_true", help="skip embedding patching")
    parser.add_argument("--samples", type=int, default=64, help="samples per method and checkpoint (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    parser.set_defaults(handler=run_elicit)


def run_elicit(args: argparse.Namespace) -> int:
    import time

    from .analysis.capability import ElicitConfig, capability_curves, elicit_run, load_elicitation

    device = _device(args)
    try:
        config = ElicitConfig(
            concepts=tuple(parse_value(tuple[str, ...], args.concepts, "--concepts")),
            overprompt_strengths=parse_value(tuple[float, ...], args.overprompt, "--overprompt"),
            intervention_strengths=parse_value(tuple[float, ...], args.intervention, "--intervention"),
            patch=not args.no_patch, samples=args.samples, seed=args.seed,
        )
        if not 1 <= config.samples <= 4096:
            raise ValueError(f"--samples must be in 1..4096, got {config.samples}")
        run = Run.open(args.run)
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
        print(f"  {'method':<13} {'joint':>12}" + "".join(f" {c:>12}" for c in space.concepts) + "   gap (joint)")
        for family, step in curves.learned.items():
            per_concept = "".join(f" {str(s):>12}" for s in curves.concept_learned[family])
            gap = "" if family == "plain" else f"   {curves.gap(family)}"
            print(f"  {family:<13} {str(step):>12}{per_concept}{gap}")
    return 0


def add_report(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="write a self-contained HTML report with PNGs and a GIF of an evaluated run",
        description="Write RUN/report/report.html (plotly.js inlined, no network needed to view it), PNGs of "
        "the concept-space, accuracy and capability plots and of the generations, and trajectory.gif.",
    )
    parser.add_argument("run", type=Path, metavar="RUN_FOLDER", help="an evaluated run folder")
    parser.add_argument("--out", type=Path, help="output folder (default: RUN/report)")
    parser.add_argument("--step", type=int, help="checkpoint to show (default: the hidden-capability step)")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from .views.report import write_report

    html_path, problems = write_report(args.run, args.out, args.step)
    for problem in problems:
        print(f"{PROG}: warning: {problem}", file=sys.stderr)
    print(f"Wrote {html_path} and its PNGs.")
    return 0


def add_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="start the explorer web app on the bundled runs (and extra run folders)",
        description="Start the Gradio explorer; same as `python app.py`.",
    )
    parser.add_argument("runs", nargs="*", help="extra run folders to offer")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve the local network")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from .ui import serve

    for path in args.runs:
        if not Path(path).is_dir():
            raise UsageError(f"{path} is not a folder; pass a run folder made by `{PROG} train`.")
    serve(args.runs, port=args.port, host=args.host, checkpoints=Path("checkpoints"), runs=Path("runs"))
    return 0


# -- entry point ----------------------------------------------------------------------------------------------
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_train, add_probe, add_evaluate, add_elicit, add_report, add_serve,
]


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG, allow_abbrev=False,
        description="Train conditional diffusion models on synthetic concepts and explore how they learn them.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for add_subcommand in SUBCOMMANDS:
        add_subcommand(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except (UsageError, RunFolderError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
