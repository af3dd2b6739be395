"""The Concept Explorer web app (gradio): `build_app` makes the page, `serve` launches it.

    from concept_explorer.ui import serve
    serve(["checkpoints/my-run"], port=7860)          # or: python app.py checkpoints/my-run --port 7860
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls home, talk-safe

import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from ..analysis.jobs import TrainingJob  # noqa: E402
from ..analysis.live import LiveGenerator  # noqa: E402
from ..views.catalog import RunCatalog  # noqa: E402
from .explorer import Explorer  # noqa: E402
from .layout import build_blocks  # noqa: E402
from .routes import app_options  # noqa: E402
from .serving import ServingPolicy  # noqa: E402

ASSETS = Path(__file__).parent / "assets"


def make_explorer(paths: Iterable[str | Path] = (), checkpoints: str | Path = "checkpoints",
                  runs: str | Path = "runs", default_run: str | None = None, precision: str = "auto",
                  policy: ServingPolicy | None = None) -> Explorer:
    """The server-wide state: runs under `checkpoints` and `runs` plus the folders in `paths` (the first of
    which is shown first, else the first bundled run); `precision` of live sampling (core/precision.py); how the
    server shares itself (serving.py; local unless a Space is detected)."""
    policy = policy or ServingPolicy.detect()
    paths = [Path(p).resolve() for p in paths]
    catalog = RunCatalog(roots=[checkpoints, runs], extra=paths)
    if default_run is None and paths:
        default_run = next((n for n, p in catalog.paths.items() if p == paths[0]), None)

    def probe_sources() -> list[Path]:
        return list(catalog.paths.values())

    job = TrainingJob(runs, probe_sources=probe_sources)
    return Explorer(catalog, LiveGenerator(precision=precision, max_work=policy.work_limit), job,
                    default_run=default_run, policy=policy)


def build_app(paths: Iterable[str | Path] = (), checkpoints: str | Path = "checkpoints", runs: str | Path = "runs",
              default_run: str | None = None, explorer: Explorer | None = None,
              precision: str = "auto", policy: ServingPolicy | None = None) -> gr.Blocks:
    """The gradio Blocks of the explorer (not launched). Queue it with `queue_options()`, launch it with
    `launch_options()`."""
    explorer = explorer or make_explorer(paths, checkpoints, runs, default_run, precision, policy)
    demo = build_blocks(explorer)
    demo.explorer = explorer  # type: ignore[attr-defined]  # for tests and benchmarks
    return demo


def queue_options(policy: ServingPolicy) -> dict[str, Any]:
    """gradio's queue for this policy: its size bounds only the cheap queued events (the live ones wait in the
    fair queue); on a Space the REST routes that skip the queue are closed."""
    return dict(default_concurrency_limit=1, max_size=policy.queue_size, api_open=not policy.space)


def launch_options() -> dict[str, Any]:
    """Page-level settings that gradio 6 takes at launch: theme (local fonts), CSS, and the keyboard script."""
    return dict(
        theme=gr.themes.Default(primary_hue="indigo", secondary_hue="amber"),
        css_paths=[ASSETS / "style.css", ASSETS / "stepper.css"],
        js=(ASSETS / "keys.js").read_text(),
        footer_links=["api", "settings"],
        # gradio 6 records every event's inputs and outputs in the browser's localStorage; with a run's view in
        # the outputs that is megabytes stringified on the main thread, which delayed step changes by hundreds of
        # ms (benchmarks/results-browser.txt). Nothing here needs a replay history.
        run_history=False,
        app_kwargs=app_options(),  # plotly.js without a server path; unused gradio routes closed; one-line errors
        # Only gr.Error (every message this app writes, one sentence, user_errors) reaches a visitor: gradio's own
        # errors (a call with too few inputs) quote component reprs over several lines.
        show_error=False,
    )


def serve(paths: Iterable[str | Path] = (), port: int | None = None, share: bool = False,
          host: str = "127.0.0.1", checkpoints: str | Path = "checkpoints", runs: str | Path = "runs",
          default_run: str | None = None, threads: int | None = 1, block: bool = True,
          quiet: bool = False, precision: str = "auto", space: bool | None = None) -> tuple[gr.Blocks, str]:
    """Build and launch the explorer; returns (app, local URL). With `block=False` it returns at once (tests).

    threads: torch threads for live sampling and training (1 leaves a core for the web server on 2-core hosts).
    space: serve as a public Hugging Face Space (serving.py); None: when the Space environment is detected."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    if threading.current_thread() is threading.main_thread():
        # A termination signal (a Space restarting, `kill`) exits like Ctrl-C, so the exit handlers remove this
        # server's export folder; Python's default would stop the process without running them.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    policy = ServingPolicy.detect(space)
    demo = build_app(paths, checkpoints, runs, default_run, precision=precision, policy=policy)
    catalog = demo.explorer.catalog  # type: ignore[attr-defined]
    for name, problem in catalog.problems.items():
        print(f"Not showing run {name}: {problem}")
    if policy.space:
        print("Serving as a public Space: training capped and cancellable only by its starter, exports and trained "
              "runs deleted by age and disk budget, limits per client address.")
    demo.queue(**queue_options(policy))
    _, url, _ = demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                            quiet=quiet, **launch_options())
    return demo, url
