"""The concept-space figure: each class's trajectory through (the position of one concept, of another) over
checkpoints, with the phases of the held-out class, the current step, a live generation and corner thumbnails.
With three or more concepts it is drawn once per pair of concepts (`concept_planes`), beside the distance-vs-time
figure of the held-out classes (reference §4.6).

Pure functions of arrays, built as plain plotly specs like every figure in `plots` (same conventions).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..analysis.definitions import smooth
from ..analysis.distance_time import DistanceTime
from .images import class_colors
from .plots import PHASE_COLOR, Spec, as_figure, axis_spec, base_layout, font_sizes, json_numbers, message_spec

AXIS_RANGE = (-0.45, 1.45)
"""Positions leave [0, 1] when an attribute overshoots a class mean (training classes spread ±1/8 to ±3/8 around
theirs, overprompting goes further): the axes show about -0.3 … 1.3, plus the corner thumbnails."""
MARGIN = 0.3
"""Distance from the unit square of the corner thumbnails' centres and of the live counts."""
LIVE_JITTER = 0.03
"""Half-width of the seeded jitter on live samples: samples of one class often sit on one spot."""


def concept_planes(concepts: int) -> list[tuple[int, int]]:
    """Every pair of concepts as (x, y) axes, in concept order: (0, 1) first, the plane a 2-concept run has."""
    return list(itertools.combinations(range(concepts), 2))


def _corner(bit: int) -> float:
    """Centre of a corner thumbnail: outside the unit square, inside the axis range."""
    return 1 + MARGIN if bit else -MARGIN


def concept_space_spec(
    steps: Sequence[int], labels: Sequence[str], names: Sequence[str], coordinates: np.ndarray,
    heldout: Sequence[bool], axis_titles: Sequence[str], current: int | None = None, smoothing: float = 0.0,
    axes: tuple[int, int] = (0, 1), corner_images: Sequence[str | None] | None = None,
    live_points: np.ndarray | None = None, live_name: str = "live generation", live_faded: bool = False,
    large: bool = False, height: int | None = None, title: str | None = None,
    phases: Mapping[str, int] | None = None, phase_class: int | None = None, turn: int | None = None,
) -> Spec:
    """Trajectories of each class through concept space over checkpoints.

    coordinates: (T, C, K) mean position per checkpoint, class and concept (0 = level 0's class mean, 1 = level
    1's; NaN where nothing was drawn);
    `axes` picks the two concepts shown; `current` is the checkpoint index to mark; `live_points` (N, K) are the
    per-sample probe positions of a live generation (faded when they belong to another step); `corner_images`
    holds per class a data URI drawn at the class's corner (only classes whose other bits are 0 own a corner);
    `phases` (name → step) are labelled on the trajectory of class `phase_class` (default: the first held-out), and
    its sudden turn (the step of analysis/turn.py's turning point) is a labelled star on it.
    """
    coordinates = np.asarray(coordinates, dtype=float)
    if coordinates.ndim != 3 or coordinates.shape[:2] != (len(steps), len(labels)):
        raise ValueError(f"coordinates must be (T={len(steps)}, C={len(labels)}, K), got {coordinates.shape}.")
    ax, ay = axes
    xy = smooth(coordinates, smoothing)[..., [ax, ay]]  # (T, C, 2)
    colors = class_colors(heldout)
    fonts = font_sizes(large)
    hover = f"step %{{customdata}}<br>{axis_titles[0]} %{{x:.2f}}<br>{axis_titles[1]} %{{y:.2f}}"
    data: list[Spec] = []
    for c, (label, name) in enumerate(zip(labels, names)):
        data.append(dict(
            type="scatter", mode="lines+markers", name=name + (" (held out)" if heldout[c] else ""),
            x=json_numbers(xy[:, c, 0]), y=json_numbers(xy[:, c, 1]), customdata=list(steps), legendgroup=label,
            line=dict(color=colors[c], width=4.5 if heldout[c] else 2.5, dash="solid" if heldout[c] else "dash"),
            marker=dict(size=7 if heldout[c] else 5, color=colors[c]),
            hovertemplate=f"{name}<br>{hover}<extra></extra>",
        ))
    annotations: list[Spec] = []
    if phases or turn is not None:
        c = phase_class if phase_class is not None else list(heldout).index(True)
        if phases:
            marks, annotations = _phase_marks(steps, xy[:, c], phases, large)
            data.append(marks)
        if turn is not None:
            data.extend(_turn_mark(steps, xy[:, c], turn, large))
    if current is not None:
        data.append(dict(
            type="scatter", mode="markers", name=f"step {steps[current]}", showlegend=False,
            x=json_numbers(xy[current, :, 0]), y=json_numbers(xy[current, :, 1]), text=list(names),
            marker=dict(size=22 if large else 17, color=colors, line=dict(color="black", width=2.5)),
            hovertemplate=f"%{{text}} at step {steps[current]}<extra></extra>",
        ))
    if live_points is not None and len(live_points):
        data.extend(live_traces(np.asarray(live_points, dtype=float)[:, [ax, ay]], live_name, live_faded,
                                 axis_titles, large))
    images = []
    for c, (label, name) in enumerate(zip(labels, names)):
        bits = [int(b) for b in label]
        if any(b for k, b in enumerate(bits) if k not in axes):
            continue
        cx, cy = _corner(bits[ax]), _corner(bits[ay])
        if corner_images is not None and corner_images[c]:
            images.append(dict(source=corner_images[c], xref="x", yref="y", x=cx, y=cy, sizex=0.2, sizey=0.2,
                               xanchor="center", yanchor="middle", layer="below"))
        annotations.append(dict(
            x=cx, y=cy + (0.11 if bits[ay] else -0.11), xref="x", yref="y", showarrow=False,
            yanchor="bottom" if bits[ay] else "top", font=dict(size=fonts["small"], color=colors[c]),
            text=f"<b>{name}</b>" if heldout[c] else name,
        ))
    layout = base_layout(height or (700 if large else 600), large, title)
    ticks = [0, 0.25, 0.5, 0.75, 1]
    layout.update(
        xaxis=axis_spec(axis_titles[0], large, range=list(AXIS_RANGE), tickvals=ticks, constrain="domain"),
        yaxis=axis_spec(axis_titles[1], large, range=list(AXIS_RANGE), tickvals=ticks, scaleanchor="x", scaleratio=1),
        shapes=[dict(type="rect", xref="x", yref="y", x0=0, y0=0, x1=1, y1=1, layer="below",
                     line=dict(color="#bbb", width=1))],
        images=images, annotations=annotations, uirevision="concept-space",
    )
    return dict(data=data, layout=layout)


def concept_space_figure(*args: Any, **kwargs: Any) -> go.Figure:
    """`concept_space_spec` as a validated Figure."""
    return as_figure(concept_space_spec(*args, **kwargs))


def _phase_marks(
    steps: Sequence[int], points: np.ndarray, phases: Mapping[str, int], large: bool
) -> tuple[Spec, list[Spec]]:
    """A ringed marker at one class's point (T, 2) at each phase's checkpoint (the nearest evaluated one), and a
    label whose arrow points at it. Labels lean towards the square's centre, each further out than the last in
    the same quadrant, because several phases often sit on one corner (memorization and hidden capability)."""
    fonts = font_sizes(large)
    xs, ys, texts, annotations = [], [], [], []
    placed: dict[tuple[bool, bool], int] = {}
    for name, step in phases.items():
        t = int(np.argmin(np.abs(np.asarray(steps) - step)))
        x, y = (float(v) for v in points[t])
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        quadrant = (x > 0.5, y > 0.5)
        k = placed[quadrant] = placed.get(quadrant, -1) + 1
        reach = (34 + 30 * k) * (1.3 if large else 1.0)  # pixels; plotly's ay points down
        annotations.append(dict(
            x=round(x, 4), y=round(y, 4), xref="x", yref="y", text=name, showarrow=True, arrowhead=0,
            arrowwidth=1.5, arrowcolor=PHASE_COLOR, ax=-1.5 * reach if quadrant[0] else 1.5 * reach,
            ay=reach if quadrant[1] else -reach, font=dict(size=fonts["small"], color=PHASE_COLOR),
            bgcolor="rgba(255,255,255,0.8)",
        ))
        xs.append(x)
        ys.append(y)
        texts.append(f"{name}: step {steps[t]:,}")
    marks = dict(type="scatter", mode="markers", name="phases", showlegend=False, x=json_numbers(xs),
                 y=json_numbers(ys), text=texts, hovertemplate="%{text}<extra></extra>",
                 marker=dict(size=16 if large else 13, symbol="circle-open", color=PHASE_COLOR, line=dict(width=2.5)))
    return marks, annotations


def _turn_mark(steps: Sequence[int], points: np.ndarray, turn: int, large: bool) -> list[Spec]:
    """A star labelled "turn" at one class's point (T, 2) at the turning point's checkpoint (on the trajectory as
    drawn, smoothed or not); nothing when the class drew nothing there."""
    t = int(np.argmin(np.abs(np.asarray(steps) - turn)))
    if not np.isfinite(points[t]).all():
        return []
    return [dict(type="scatter", mode="markers+text", name="sudden turn", showlegend=False,
                 x=json_numbers(points[t, :1]), y=json_numbers(points[t, 1:]), text=["turn"],
                 textposition="top center", textfont=dict(size=font_sizes(large)["small"], color=PHASE_COLOR),
                 marker=dict(size=22 if large else 18, symbol="star", color=PHASE_COLOR,
                             line=dict(color="white", width=1.5)),
                 hovertemplate=f"sudden turn: step {steps[t]:,}<extra></extra>")]


def live_traces(
    live: np.ndarray, name: str, faded: bool, axis_titles: Sequence[str], large: bool, seed: int = 0
) -> list[Spec]:
    """A live generation's samples (N, 2): a × per sample, jittered by a seeded ±LIVE_JITTER so samples on one
    corner do not hide each other (hover shows the true values); per quadrant (the probe's verdict on the two
    shown concepts) a count such as "8 of 16" in the margin beside it; and the mean as a star."""
    shown = live + np.random.default_rng(seed).uniform(-LIVE_JITTER, LIVE_JITTER, live.shape)
    finite = np.isfinite(live).all(axis=1)
    total = int(finite.sum())
    quadrant = np.where(finite, (live > 0.5) @ np.array([1, 2]), -1)  # (N,) 0-3, -1 where a value is missing
    counts = [int((quadrant == q).sum()) for q in quadrant]  # per sample: how many share its quadrant
    where = f"{axis_titles[0]} %{{customdata[0]:.2f}}, {axis_titles[1]} %{{customdata[1]:.2f}}"
    data: list[Spec] = [dict(
        type="scatter", mode="markers", name=name, x=json_numbers(shown[:, 0]), y=json_numbers(shown[:, 1]),
        customdata=[[*json_numbers(point), n] for point, n in zip(live, counts)],
        marker=dict(size=12 if large else 10, color="black", symbol="x-thin", opacity=0.25 if faded else 0.8,
                    line=dict(width=2.5, color="black")),
        hovertemplate=f"{name}<br>{where}<br>%{{customdata[2]}} of {total} samples in this quadrant<extra></extra>",
    )]
    groups = [q for q in np.unique(quadrant) if q >= 0]
    if groups:
        centres = np.array([live[quadrant == q].mean(0) for q in groups])  # (G, 2)
        # In the margin beside the square at the samples' height: clear of the trajectories and the thumbnails.
        label_at = np.stack([np.where(centres[:, 0] > 0.5, 1 + MARGIN, -MARGIN), centres[:, 1].clip(0, 1)], axis=1)
        sizes = [int((quadrant == q).sum()) for q in groups]
        data.append(dict(
            type="scatter", mode="text", name=f"{name}: counts", showlegend=False, x=json_numbers(label_at[:, 0]),
            y=json_numbers(label_at[:, 1]), text=[f"<b>{n} of {total}</b>" for n in sizes],
            textfont=dict(size=font_sizes(large)["base"], color="rgba(0,0,0,0.35)" if faded else "black"),
            hovertext=[f"{n} of {total} samples landed in this quadrant" for n in sizes], hoverinfo="text",
        ))
    if finite.any():
        mean = live[finite].mean(0)
        data.append(dict(
            type="scatter", mode="markers", name="live mean", x=json_numbers(mean[:1]), y=json_numbers(mean[1:]),
            marker=dict(size=24 if large else 19, color="gold", symbol="star", opacity=0.45 if faded else 1,
                        line=dict(width=1.5, color="black")),
            hovertemplate="live mean<br>%{x:.2f}, %{y:.2f}<extra></extra>",
        ))
    return data


HAMMING_SYMBOLS = ("circle", "diamond", "square", "triangle-up")
"""Marker per Hamming distance from the training classes (1, 2, ...): the held-out classes' kind at a glance."""


def distance_time_spec(
    result: DistanceTime, names: Mapping[str, str], colors: Mapping[str, str], last_step: int, large: bool = False,
    height: int | None = None, title: str | None = None,
) -> Spec:
    """Each held-out class's distance from its corner when training converged (x) against the step it was learned
    (y), the convergence step as a dashed line. A class never learned is an open marker at the top, above the
    run's last step (the legend says "not learned"); markers are labelled by their bit codes, alternately above and
    below in order of distance so that neighbours stay legible, with the class name on hover. A class that drew no
    object at convergence has no distance and is left out (the learning-step table lists it). names, colors: class
    label → name, colour."""
    if not result.convergence.learned:
        return message_spec("The training classes were never all learned within this run,<br>so there is no "
                            "convergence step to measure distances at.", height or 360, large)
    fonts = font_sizes(large)
    top = last_step * 1.06  # where the classes never learned are drawn
    data: list[Spec] = []
    for hamming in sorted({c.hamming for c in result.classes}):
        for learned in (True, False):
            shown = sorted((c for c in result.classes
                            if c.hamming == hamming and c.learning.learned == learned and math.isfinite(c.distance)),
                           key=lambda c: c.distance)  # in x order, so labels alternate between neighbours
            if not shown:
                continue
            symbol = HAMMING_SYMBOLS[(hamming - 1) % len(HAMMING_SYMBOLS)] + ("" if learned else "-open")
            data.append(dict(
                type="scatter", mode="markers+text", x=json_numbers([c.distance for c in shown]),
                y=[c.learning.step if learned else top for c in shown], customdata=[c.learning.step for c in shown],
                name=f"{hamming} bit{'s' if hamming > 1 else ''} from training" + ("" if learned else ", not learned"),
                text=[c.label for c in shown], hovertext=[names[c.label] for c in shown],
                textposition=["top center" if k % 2 == 0 else "bottom center" for k in range(len(shown))],
                textfont=dict(size=fonts["small"]),
                marker=dict(symbol=symbol, size=18 if large else 14, color=[colors[c.label] for c in shown],
                            line=dict(width=2.5, color=[colors[c.label] for c in shown] if not learned else "black")),
                hovertemplate=("%{text} %{hovertext}<br>distance at convergence %{x:.2f}<br>" + (
                    "learned at step %{customdata:,}" if learned else f"not learned by step {last_step:,}")
                    + "<extra></extra>"),
            ))
    converged = result.convergence.step
    shapes = [dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=converged, y1=converged,
                   line=dict(color="#333", width=2, dash="dash")),
              dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=last_step, y1=last_step,
                   line=dict(color="#aaa", width=1, dash="dot"))]
    annotations = [dict(x=1, y=converged, xref="paper", yref="y", xanchor="right", yanchor="bottom", showarrow=False,
                        text=f"training converged (step {converged:,})", font=dict(size=fonts["small"], color="#333")),
                   dict(x=0, y=last_step, xref="paper", yref="y", xanchor="left", yanchor="bottom", showarrow=False,
                        text=f"end of the run (step {last_step:,})", font=dict(size=fonts["small"], color="#888"))]
    distances = [c.distance for c in result.classes if math.isfinite(c.distance)]
    layout = base_layout(height or (460 if large else 380), large, title)
    layout.update(
        xaxis=axis_spec("distance from its corner when training converged", large,
                        range=[-0.05, max([1.0, *distances]) * 1.1]),
        yaxis=axis_spec("learned at step", large, range=[0, top * 1.15]), shapes=shapes, annotations=annotations,
        uirevision="distance-time",
    )
    return dict(data=data, layout=layout)
