"""`concept-explorer report RUN`: one self-contained HTML file (plotly.js inlined, images as data URIs) plus PNGs
and a GIF, written from the run's stored evaluation and capability curves — a slide-ready fallback for talks.

PNG export of plotly figures uses kaleido driving the system Chromium (no download); when that fails the HTML
and the raster PNGs/GIF are still written and the failure is reported, never raised.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
from pathlib import Path

import plotly.io as pio

from ..analysis.definitions import DEFAULT_CRITERION
from ..core.run import atomic_write_bytes
from . import captions, exports, plots
from . import images as raster
from .run_view import RunDashboard

SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _figure_pngs(figures: dict[str, object], out: Path) -> list[str]:
    """Write each plotly figure as PNG through kaleido + system Chromium; returns the problems met."""
    browser = next((p for p in SYSTEM_CHROMIUM if Path(p).exists()), None) or shutil.which("chromium")
    if browser:
        os.environ.setdefault("BROWSER_PATH", browser)
    problems = []
    for name, figure in figures.items():
        try:
            atomic_write_bytes(out / f"{name}.png", pio.to_image(figure, format="png", scale=2))
        except Exception as error:  # kaleido or the browser missing: the HTML still carries the figure
            problems.append(f"{name}.png not written ({type(error).__name__}: {str(error)[:120]})")
    return problems


def write_report(
    run_path: str | Path, out: str | Path | None = None, step: int | None = None, criterion: str = DEFAULT_CRITERION,
) -> tuple[Path, list[str]]:
    """Write the run's report folder (or `out`): report.html, concept_space.png, accuracy.png, capability.png,
    generations.png, elicited.png, trajectory.gif. `step` picks the checkpoint shown (default: the hidden-
    capability step if any, else the last); `criterion` what counts as a class (definitions.CRITERIA). Returns
    the HTML path and a list of non-fatal problems."""
    dashboard = RunDashboard.load(run_path, criterion)
    out = Path(out) if out else dashboard.run.layout.report
    out.mkdir(parents=True, exist_ok=True)
    problems = []
    if step is None:
        step = dashboard.jump_targets.get("hidden capability", dashboard.steps[-1])
    index = dashboard.nearest_index(step)
    if step != dashboard.steps[index]:  # said, not done silently: a typo in --step would otherwise go unseen
        problems.append(f"step {step:,} is not a checkpoint of this run (they run from {dashboard.steps[0]:,} to "
                        f"{dashboard.steps[-1]:,}); showing the nearest, {dashboard.steps[index]:,}.")
    figures = {
        "concept_space": plots.as_figure(dashboard.concept_space(index, smoothing=1.0)),
        "accuracy": plots.as_figure(dashboard.accuracy(index)),
        "capability": plots.as_figure(dashboard.capability(index)),
    }
    problems += _figure_pngs(figures, out)
    rasters = {"generations": raster.png_bytes(dashboard.generations(index))}
    elicited = dashboard.elicited(index)
    if elicited is not None:
        rasters["elicited"] = raster.png_bytes(elicited)
    for name, png in rasters.items():
        atomic_write_bytes(out / f"{name}.png", png)
    atomic_write_bytes(out / "trajectory.gif", exports.animation(dashboard, smoothing=1.0))

    parts = []
    for i, (name, figure) in enumerate(figures.items()):
        parts.append(figure.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False}))
    images = "".join(
        f'<figure><img src="{_data_uri(png)}" alt="{name}"><figcaption>{name} at step {dashboard.steps[index]}'
        f"</figcaption></figure>" for name, png in rasters.items()
    )
    gif = base64.b64encode((out / "trajectory.gif").read_bytes()).decode()
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Concept Explorer report: {html.escape(
        dashboard.run.name)}</title><style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
img{{max-width:100%;image-rendering:pixelated}}figure{{margin:1em 0}}</style></head><body>
<h1>Concept Explorer report: {html.escape(dashboard.run.name)}</h1>
<p>{html.escape(captions.describe(dashboard))}</p>
<p>{html.escape(captions.learning_summary(dashboard))}</p>
<p>Phases: {html.escape(", ".join(f"{k} at step {v}" for k, v in dashboard.jump_targets.items()) or "none found")}.
Memorization: {html.escape(str(dashboard.phases.memorization.to_dict()))}.</p>
{''.join(parts)}{images}
<figure><img src="data:image/gif;base64,{gif}" alt="trajectory animation"><figcaption>Trajectories in concept
space, checkpoint by checkpoint.</figcaption></figure></body></html>"""
    html_path = out / "report.html"
    atomic_write_bytes(html_path, page.encode())
    return html_path, problems
