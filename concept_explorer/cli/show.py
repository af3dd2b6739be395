"""`report` and `serve`: the commands that show a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core import limits
from .common import PROG, RUN, UsageError, add_precision_option, check_writable, checked, path_option


def add_report(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="write a self-contained HTML report with PNGs and a GIF of an evaluated run",
        description=f"Write {RUN.report}/report.html (plotly.js inlined, no network needed to view it), PNGs of "
        "the concept-space, accuracy and capability plots and of the generations, and trajectory.gif.",
    )
    parser.add_argument("run", type=Path, metavar="RUN_FOLDER", help="an evaluated run folder")
    parser.add_argument("--out", type=path_option, help=f"output folder (default: {RUN.report})")
    parser.add_argument("--step", type=int, help="checkpoint to show (default: the hidden-capability step)")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from ..views.report import write_report

    if args.out is not None:
        check_writable(args.out, "--out")
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
    add_precision_option(parser)
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    checked(limits.PORT, "--port", args.port)
    for path in args.runs:
        if not Path(path).is_dir():
            raise UsageError(f"{path} is not a folder; pass a run folder made by `{PROG} train`.")
    from ..ui import serve  # after the checks: gradio takes seconds to import
    serve(args.runs, port=args.port, host=args.host, checkpoints=Path("checkpoints"), runs=Path("runs"),
          precision=args.precision)
    return 0
