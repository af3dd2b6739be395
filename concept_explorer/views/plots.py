"""Plotly figures of analysis results: pure functions of arrays (no files, no torch).

Each figure is built as a plain plotly JSON spec (`*_spec`, a dict) and wrapped by `*_figure` as a validated
`go.Figure`. The UI sends the spec straight to the browser: building it takes about a millisecond, whereas
plotly's validation costs tens of milliseconds per figure, too slow to redraw four panels on every scrub tick.

Conventions shared by every figure: an explicit height (gradio collapses autosized plotly figures to zero height),
a `large` option for projectors, no template (small JSON), one colour per class in every panel, training classes
dashed and held-out classes solid, the current step drawn as a marker or a dotted vertical line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..analysis.definitions import smooth
from .images import class_colors

FAMILY_COLORS = {"plain": "#222222", "overprompt": "#e6550d", "intervention": "#3182bd", "patch": "#31a354"}
FAMILY_NAMES = {"plain": "plain prompt", "overprompt": "overprompting", "intervention": "latent intervention",
                "patch": "embedding patching"}
AXIS_RANGE = (-0.25, 1.25)
GRID_COLOR = "#e3e3e3"
Spec = dict[str, Any]


def as_figure(spec: Spec) -> go.Figure:
    """Validate a spec into a plotly Figure (slow; for tests, notebooks and static export)."""
    figure = go.Figure(spec)
    figure.update_layout(template="none")
    return figure


def _values(array: np.ndarray | Sequence[float], digits: int = 4) -> list[float | None]:
    """JSON-safe numbers: rounded, NaN → None (plotly draws a gap)."""
    return [None if not math.isfinite(v) else round(float(v), digits) for v in np.asarray(array, dtype=float).ravel()]


def _fonts(large: bool) -> dict[str, int]:
    return {"base": 20 if large else 14, "title": 24 if large else 17, "small": 17 if large else 12}


def _layout(height: int, large: bool, title: str | None, bottom_legend: bool = True, legend_gap: int = 0) -> Spec:
    """Shared layout; a bottom legend sits `legend_gap` extra pixels below the x-axis title."""
    fonts = _fonts(large)
    layout: Spec = dict(
        height=height, autosize=True, paper_bgcolor="white", plot_bgcolor="white",
        font=dict(family="Source Sans Pro, Arial, sans-serif", size=fonts["base"], color="#222"),
        margin=dict(l=72 if large else 60, r=20, t=64 if title else 28, b=(150 if large else 100) + legend_gap),
        hoverlabel=dict(font=dict(size=fonts["small"])), hovermode="closest",
        legend=dict(font=dict(size=fonts["small"]), bgcolor="rgba(255,255,255,0.85)"),
    )
    if bottom_legend:  # in pixels below the plot area, converted to the paper fraction plotly wants
        plot_height = height - layout["margin"]["t"] - layout["margin"]["b"]
        offset = (80 if large else 52) + legend_gap
        layout["legend"].update(orientation="h", yanchor="top", y=-offset / max(plot_height, 1), x=0.5,
                                xanchor="center")
    if title:
        layout["title"] = dict(text=title, font=dict(size=fonts["title"]), x=0.01, xanchor="left")
    return layout


def _axis(title: str | None, large: bool, **extra: Any) -> Spec:
    fonts = _fonts(large)
    axis: Spec = dict(gridcolor=GRID_COLOR, zeroline=False, showline=True, linecolor="#999", ticks="outside",
                      tickfont=dict(size=fonts["small"]), **extra)
    if title:
        axis["title"] = dict(text=title, font=dict(size=fonts["base"]))
    return axis


# -- concept space -------------------------------------------------------------------------------------------------
def _corner(bit: int) -> float:
    """Centre of a corner thumbnail: just outside the unit square, inside the [-0.25, 1.25] axis range."""
    return 1.13 if bit else -0.13


def concept_space_spec(
    steps: Sequence[int], labels: Sequence[str], names: Sequence[str], coordinates: np.ndarray,
    heldout: Sequence[bool], axis_titles: Sequence[str], current: int | None = None, smoothing: float = 0.0,
    axes: tuple[int, int] = (0, 1), corner_images: Sequence[str | None] | None = None,
    live_points: np.ndarray | None = None, live_name: str = "live generation", live_faded: bool = False,
    large: bool = False, height: int | None = None, title: str | None = None,
) -> Spec:
    """Trajectories of each class through concept space over checkpoints.

    coordinates: (T, C, K) mean P(level 1) per checkpoint, class and concept (NaN where nothing was drawn);
    `axes` picks the two concepts shown; `current` is the checkpoint index to mark; `live_points` (N, K) are the
    per-sample probe coordinates of a live generation (faded when they belong to another step); `corner_images`
    holds per class a data URI drawn at the class's corner (only classes whose other bits are 0 own a corner).
    """
    coordinates = np.asarray(coordinates, dtype=float)
    if coordinates.ndim != 3 or coordinates.shape[:2] != (len(steps), len(labels)):
        raise ValueError(f"coordinates must be (T={len(steps)}, C={len(labels)}, K), got {coordinates.shape}.")
    ax, ay = axes
    xy = smooth(coordinates, smoothing)[..., [ax, ay]]  # (T, C, 2)
    colors = class_colors(heldout)
    fonts = _fonts(large)
    hover = f"step %{{customdata}}<br>{axis_titles[0]} %{{x:.2f}}<br>{axis_titles[1]} %{{y:.2f}}"
    data: list[Spec] = []
    for c, (label, name) in enumerate(zip(labels, names)):
        data.append(dict(
            type="scatter", mode="lines+markers", name=name + (" (held out)" if heldout[c] else ""),
            x=_values(xy[:, c, 0]), y=_values(xy[:, c, 1]), customdata=list(steps), legendgroup=label,
            line=dict(color=colors[c], width=4.5 if heldout[c] else 2.5, dash="solid" if heldout[c] else "dash"),
            marker=dict(size=7 if heldout[c] else 5, color=colors[c]),
            hovertemplate=f"{name}<br>{hover}<extra></extra>",
        ))
    if current is not None:
        data.append(dict(
            type="scatter", mode="markers", name=f"step {steps[current]}", showlegend=False,
            x=_values(xy[current, :, 0]), y=_values(xy[current, :, 1]), text=list(names),
            marker=dict(size=22 if large else 17, color=colors, line=dict(color="black", width=2.5)),
            hovertemplate=f"%{{text}} at step {steps[current]}<extra></extra>",
        ))
    if live_points is not None and len(live_points):
        live = np.asarray(live_points, dtype=float)[:, [ax, ay]]
        data.append(dict(
            type="scatter", mode="markers", name=live_name, x=_values(live[:, 0]), y=_values(live[:, 1]),
            marker=dict(size=12 if large else 10, color="black", symbol="x-thin", opacity=0.25 if live_faded else 0.8,
                        line=dict(width=2.5, color="black")),
            hovertemplate=f"{live_name}<br>%{{x:.2f}}, %{{y:.2f}}<extra></extra>",
        ))
        if np.isfinite(live).all(axis=1).any():
            mean = np.nanmean(live, axis=0)
            data.append(dict(
                type="scatter", mode="markers", name="live mean", x=_values(mean[:1]), y=_values(mean[1:]),
                marker=dict(size=24 if large else 19, color="gold", symbol="star", opacity=0.45 if live_faded else 1,
                            line=dict(width=1.5, color="black")),
                hovertemplate="live mean<br>%{x:.2f}, %{y:.2f}<extra></extra>",
            ))
    images, annotations = [], []
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
    layout = _layout(height or (700 if large else 600), large, title)
    ticks = [0, 0.25, 0.5, 0.75, 1]
    layout.update(
        xaxis=_axis(axis_titles[0], large, range=list(AXIS_RANGE), tickvals=ticks, constrain="domain"),
        yaxis=_axis(axis_titles[1], large, range=list(AXIS_RANGE), tickvals=ticks, scaleanchor="x", scaleratio=1),
        shapes=[dict(type="rect", xref="x", yref="y", x0=0, y0=0, x1=1, y1=1, layer="below",
                     line=dict(color="#bbb", width=1))],
        images=images, annotations=annotations, uirevision="concept-space",
    )
    return dict(data=data, layout=layout)


def concept_space_figure(*args: Any, **kwargs: Any) -> go.Figure:
    """`concept_space_spec` as a validated Figure."""
    return as_figure(concept_space_spec(*args, **kwargs))


# -- curves --------------------------------------------------------------------------------------------------------
def _vline(step: int | None, xref: str = "x", yref: str = "paper") -> Spec | None:
    if step is None:
        return None
    return dict(type="line", xref=xref, yref=yref, x0=step, x1=step, y0=0, y1=1,
                line=dict(color="#333", width=2, dash="dot"))


def accuracy_spec(
    steps: Sequence[int], names: Sequence[str], heldout: Sequence[bool], concept_accuracy: np.ndarray,
    joint_accuracy: np.ndarray, concept_names: Sequence[str], learning_steps: Mapping[str, Sequence[int | None]],
    current_step: int | None = None, threshold: float = 0.8, large: bool = False, height: int | None = None,
    title: str | None = None,
) -> Spec:
    """Per-class accuracy vs step, side by side: all concepts right (joint), then each concept.

    concept_accuracy: (T, C, K); joint_accuracy: (T, C); learning_steps: panel ('joint' or a concept name) → per
    class its learning step or None, drawn as a star on the curve. A dotted line marks the threshold."""
    panels = ["joint", *concept_names]
    n = len(panels)
    gap = 0.045
    width = (1 - gap * (n - 1)) / n
    colors = class_colors(heldout)
    fonts = _fonts(large)
    step_list = list(steps)
    layout = _layout(height or (460 if large else 370), large, title, legend_gap=10)
    data: list[Spec] = []
    shapes: list[Spec] = []
    annotations: list[Spec] = []
    for p, panel in enumerate(panels):
        suffix = "" if p == 0 else str(p + 1)
        values = np.asarray(joint_accuracy) if panel == "joint" else np.asarray(concept_accuracy)[:, :, p - 1]
        for c, name in enumerate(names):
            data.append(dict(
                type="scatter", mode="lines", xaxis=f"x{suffix}", yaxis=f"y{suffix}", legendgroup=name,
                name=name + (" (held out)" if heldout[c] else ""), showlegend=p == 0, x=step_list,
                y=_values(values[:, c]),
                line=dict(color=colors[c], width=4 if heldout[c] else 2, dash="solid" if heldout[c] else "dash"),
                hovertemplate=f"{name}<br>step %{{x}}<br>{panel} accuracy %{{y:.2f}}<extra></extra>",
            ))
        marks = [(c, s) for c, s in enumerate(learning_steps.get(panel, [])) if s is not None and s in step_list]
        if marks:
            data.append(dict(
                type="scatter", mode="markers", xaxis=f"x{suffix}", yaxis=f"y{suffix}", name="learning step",
                legendgroup="learned", showlegend=p == 0, x=[s for _, s in marks],
                y=_values([values[step_list.index(s), c] for c, s in marks]),
                text=[f"{names[c]}: {panel} learned at step {s}" for c, s in marks],
                marker=dict(symbol="star", size=18 if large else 14, color=[colors[c] for c, _ in marks],
                            line=dict(color="black", width=1)),
                hovertemplate="%{text}<extra></extra>",
            ))
        domain = [p * (width + gap), p * (width + gap) + width]
        layout[f"xaxis{suffix}"] = _axis("training step", large, domain=domain, anchor=f"y{suffix}")
        layout[f"yaxis{suffix}"] = _axis("accuracy" if p == 0 else None, large, range=[-0.03, 1.03],
                                         anchor=f"x{suffix}", **({} if p == 0 else dict(matches="y",
                                                                                          showticklabels=False)))
        shapes.append(dict(type="line", xref=f"x{suffix} domain", yref=f"y{suffix}", x0=0, x1=1, y0=threshold,
                           y1=threshold, line=dict(color="#aaa", width=1, dash="dot")))
        line = _vline(current_step, f"x{suffix}", f"y{suffix} domain")
        if line:
            shapes.append(line)
        annotations.append(dict(text="all concepts right" if panel == "joint" else f"{panel} right", showarrow=False,
                                x=sum(domain) / 2, y=1.0, xref="paper", yref="paper", yanchor="bottom",
                                font=dict(size=fonts["base"])))
    layout.update(shapes=shapes, annotations=annotations, uirevision="accuracy")
    layout["margin"]["t"] = max(layout["margin"]["t"], 44)
    return dict(data=data, layout=layout)


def accuracy_figure(*args: Any, **kwargs: Any) -> go.Figure:
    """`accuracy_spec` as a validated Figure."""
    return as_figure(accuracy_spec(*args, **kwargs))


def capability_spec(
    steps: Sequence[int], joint: Mapping[str, np.ndarray], learned: Mapping[str, int | None], class_name: str,
    current_step: int | None = None, best_key: Mapping[str, Sequence[str]] | None = None, threshold: float = 0.8,
    large: bool = False, height: int | None = None, title: str | None = None,
    step_range: tuple[int, int] | None = None,
) -> Spec:
    """Held-out-class accuracy vs step: plain prompting against each elicitation family (best of its grid).

    joint: family → (T,) accuracy; learned: family → learning step or None. The hidden-capability window, from
    the earliest elicited learning step to the plain learning step (or the last checkpoint while plain
    prompting has not got there), is shaded and labelled with its length. `step_range` fixes the x-axis (e.g. to
    the evaluated checkpoints, so it lines up with the other panels)."""
    fonts = _fonts(large)
    data = []
    for family, values in joint.items():
        keys = list(best_key[family]) if best_key and family in best_key else [family] * len(steps)
        data.append(dict(
            type="scatter", mode="lines+markers", name=FAMILY_NAMES.get(family, family), x=list(steps),
            y=_values(values), customdata=keys,
            line=dict(color=FAMILY_COLORS.get(family, "#555"), width=4.5 if family == "plain" else 2.5,
                      dash="solid" if family == "plain" else "dashdot"),
            marker=dict(size=6 if family == "plain" else 5),
            hovertemplate="%{customdata}<br>step %{x}<br>" + class_name + " correct %{y:.2f}<extra></extra>",
        ))
    shapes: list[Spec] = [dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=threshold, y1=threshold,
                               line=dict(color="#aaa", width=1, dash="dot"))]
    annotations: list[Spec] = []
    window = hidden_window(steps, learned)
    if window is not None:
        start, end, plain_learned = window
        shapes.append(dict(type="rect", xref="x", yref="paper", x0=start, x1=end, y0=0, y1=1, layer="below",
                           fillcolor="rgba(255, 193, 7, 0.25)", line=dict(width=0)))
        length = f"{end - start} steps" if plain_learned else f"≥ {end - start} steps, plain prompt not there yet"
        annotations.append(dict(x=(start + end) / 2, y=1.0, xref="x", yref="paper", yanchor="bottom",
                                showarrow=False, text=f"hidden capability: {length}",
                                font=dict(size=fonts["small"], color="#8a6d00")))
    line = _vline(current_step)
    if line:
        shapes.append(line)
    layout = _layout(height or (460 if large else 370), large, title, legend_gap=10)
    x_extra = {"range": [step_range[0], step_range[1]]} if step_range else {}
    layout.update(
        xaxis=_axis("training step", large, **x_extra), shapes=shapes, annotations=annotations,
        uirevision="capability",
        yaxis=_axis(f"{class_name} correct", large, range=[-0.03, 1.1]),
    )
    layout["margin"]["t"] = max(layout["margin"]["t"], 40)
    return dict(data=data, layout=layout)


def capability_figure(*args: Any, **kwargs: Any) -> go.Figure:
    """`capability_spec` as a validated Figure."""
    return as_figure(capability_spec(*args, **kwargs))


def hidden_window(steps: Sequence[int], learned: Mapping[str, int | None]) -> tuple[int, int, bool] | None:
    """(start, end, plain learned?) of the hidden-capability window, or None when no elicitation succeeded
    before plain prompting did."""
    elicited = [s for f, s in learned.items() if f != "plain" and s is not None]
    if not elicited:
        return None
    start, plain = min(elicited), learned.get("plain")
    end = plain if plain is not None else steps[-1]
    return (start, end, plain is not None) if end > start else None


def message_spec(text: str, height: int = 360, large: bool = False) -> Spec:
    """An empty figure that says why there is nothing to plot (e.g. a run without capability curves)."""
    layout = _layout(height, large, None, bottom_legend=False)
    layout.update(xaxis=dict(visible=False), yaxis=dict(visible=False), annotations=[dict(
        text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
        font=dict(size=_fonts(large)["base"], color="#666"))])
    return dict(data=[], layout=layout)
