"""Plotly figures of analysis results: pure functions of arrays (no files, no torch). The curves are here, with
the helpers every figure shares; the concept-space figure is `concept_space.py`.

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

from .images import class_colors

FAMILY_COLORS = {"plain": "#222222", "overprompt": "#e6550d", "intervention-pairs": "#9ecae1",
                 "intervention-orthogonal": "#3182bd", "intervention-target": "#08519c", "patch": "#31a354",
                 "guidance": "#756bb1"}
FAMILY_NAMES = {"plain": "plain prompt", "overprompt": "overprompting",
                "intervention-pairs": "intervention (pairs direction)",
                "intervention-orthogonal": "intervention (orthogonal direction)",
                "intervention-target": "intervention (at-target direction)", "patch": "embedding patching",
                "guidance": "guidance (CFG)"}


def method_label(key: str) -> str:
    """A stored method key in words: 'overprompt@1' → 'overprompting 1', 'patch@final' → 'embedding patching
    (final)'."""
    family, _, strength = key.partition("@")
    name = FAMILY_NAMES.get(family, family)
    if not strength:
        return name
    return f"{name} ({strength})" if not strength.replace(".", "").isdigit() else f"{name} {strength}"


FAMILY_STYLES = {"plain": ("solid", "circle"), "overprompt": ("dash", "diamond"),
                 "intervention-pairs": ("dot", "square-open"), "intervention-orthogonal": ("dot", "square"),
                 "intervention-target": ("dot", "cross"), "patch": ("dashdot", "triangle-up"),
                 "guidance": ("longdash", "star")}
"""Family → (dash, marker symbol): methods that agree draw on top of each other, so colour alone cannot tell them
apart; an open marker lets the one beneath show through."""
BAND_STYLES = {"plain": ("plain prompt", "rgba(34, 34, 34, 0.14)"),
               "elicited": ("best elicitation", "rgba(0, 150, 136, 0.18)")}
"""Seed bands of the capability figure: key → (what it spans, fill). The best elicitation has no line of its own
(its family changes between seeds and checkpoints), so its band takes a colour no family uses. The bands stay out
of the legend (already a long one): the caption under the figure names their colours (captions.seed_summary)."""
PHASE_COLOR = "#6d4c41"
"""Phase marks in every figure: brown, a colour no class or method uses."""
GRID_COLOR = "#e3e3e3"
Spec = dict[str, Any]


def as_figure(spec: Spec) -> go.Figure:
    """Validate a spec into a plotly Figure (slow; for tests, notebooks and static export)."""
    figure = go.Figure(spec)
    figure.update_layout(template="none")
    return figure


def json_numbers(array: np.ndarray | Sequence[float], digits: int = 4) -> list[float | None]:
    """JSON-safe numbers: rounded, NaN → None (plotly draws a gap)."""
    return [None if not math.isfinite(v) else round(float(v), digits) for v in np.asarray(array, dtype=float).ravel()]


def font_sizes(large: bool) -> dict[str, int]:
    return {"base": 20 if large else 14, "title": 24 if large else 17, "small": 17 if large else 12}


def base_layout(height: int, large: bool, title: str | None, bottom_legend: bool = True, legend_gap: int = 0) -> Spec:
    """Shared layout; a bottom legend sits `legend_gap` extra pixels below the x-axis title."""
    fonts = font_sizes(large)
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


def axis_spec(title: str | None, large: bool, **extra: Any) -> Spec:
    fonts = font_sizes(large)
    axis: Spec = dict(gridcolor=GRID_COLOR, zeroline=False, showline=True, linecolor="#999", ticks="outside",
                      tickfont=dict(size=fonts["small"]), **extra)
    if title:
        axis["title"] = dict(text=title, font=dict(size=fonts["base"]))
    return axis


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
    fonts = font_sizes(large)
    step_list = list(steps)
    layout = base_layout(height or (460 if large else 370), large, title, legend_gap=10)
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
                y=json_numbers(values[:, c]),
                line=dict(color=colors[c], width=4 if heldout[c] else 2, dash="solid" if heldout[c] else "dash"),
                hovertemplate=f"{name}<br>step %{{x}}<br>{panel} accuracy %{{y:.2f}}<extra></extra>",
            ))
        marks = [(c, s) for c, s in enumerate(learning_steps.get(panel, [])) if s is not None and s in step_list]
        if marks:
            data.append(dict(
                type="scatter", mode="markers", xaxis=f"x{suffix}", yaxis=f"y{suffix}", name="learning step",
                legendgroup="learned", showlegend=p == 0, x=[s for _, s in marks],
                y=json_numbers([values[step_list.index(s), c] for c, s in marks]),
                text=[f"{names[c]}: {panel} learned at step {s}" for c, s in marks],
                marker=dict(symbol="star", size=18 if large else 14, color=[colors[c] for c, _ in marks],
                            line=dict(color="black", width=1)),
                hovertemplate="%{text}<extra></extra>",
            ))
        domain = [p * (width + gap), p * (width + gap) + width]
        layout[f"xaxis{suffix}"] = axis_spec("training step", large, domain=domain, anchor=f"y{suffix}")
        layout[f"yaxis{suffix}"] = axis_spec("accuracy" if p == 0 else None, large, range=[-0.03, 1.03],
                                         anchor=f"x{suffix}", **({} if p == 0 else dict(matches="y",
                                                                                          showticklabels=False)))
        shapes.append(dict(type="line", xref=f"x{suffix} domain", yref=f"y{suffix}", x0=0, x1=1, y0=threshold,
                           y1=threshold, line=dict(color="#aaa", width=1, dash="dot")))
        line = _vline(current_step, f"x{suffix}", f"y{suffix} domain")
        if line:
            shapes.append(line)
        annotations.append(dict(text="all right" if panel == "joint" else panel, showarrow=False,
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
    step_range: tuple[int, int] | None = None, phases: Mapping[str, tuple[int, int]] | None = None,
    bands: Mapping[str, tuple[Sequence[int], np.ndarray, np.ndarray]] | None = None, seeds: int = 0,
) -> Spec:
    """Held-out-class accuracy vs step: plain prompting against each elicitation family (best of its grid).

    joint: family → (T,) accuracy; learned: family → learning step or None. The window from the earliest elicited
    learning step to the plain learning step (or the last checkpoint while plain prompting has not got there) is
    shaded and labelled with its length: the paper's hidden-capability gap. `phases` (name → (start, end)) are
    drawn as a dashed line at the start, labelled, with a band up to the end where end > start. `step_range`
    fixes the x-axis (e.g. to the evaluated checkpoints, so it lines up with the other panels). `bands` ('plain'
    and/or 'elicited' → (steps, min, max) over `seeds` seeds) are drawn as light fills behind the lines."""
    fonts = font_sizes(large)
    data = [trace for key, (band_steps, low, high) in (bands or {}).items()
            for trace in band_traces(band_steps, low, high, *BAND_STYLES[key], seeds)]
    for family, values in joint.items():
        keys = list(best_key[family]) if best_key and family in best_key else [family] * len(steps)
        dash, symbol = FAMILY_STYLES.get(family, ("longdash", "x"))
        plain = family == "plain"
        data.append(dict(
            type="scatter", mode="lines+markers", name=FAMILY_NAMES.get(family, family), x=list(steps),
            y=json_numbers(values), customdata=keys,
            line=dict(color=FAMILY_COLORS.get(family, "#555"), width=5 if plain else 2.5, dash=dash),
            marker=dict(size=7 if plain else 8, symbol=symbol, line=dict(width=1.5)),
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
        length = (f"learned {end - start} steps before plain" if plain_learned
                  else f"learned ≥ {end - start} steps ago, plain not yet")
        annotations.append(dict(x=(start + end) / 2, y=1.0, xref="x", yref="paper", yanchor="bottom",
                                showarrow=False, text=f"elicited {length}",
                                font=dict(size=fonts["small"], color="#8a6d00")))
    for name, (start, end) in (phases or {}).items():
        if end > start:
            shapes.append(dict(type="rect", xref="x", yref="paper", x0=start, x1=end, y0=0, y1=1, layer="below",
                               fillcolor="rgba(109, 76, 65, 0.08)", line=dict(width=0)))
        shapes.append(dict(type="line", xref="x", yref="paper", x0=start, x1=start, y0=0, y1=1,
                           line=dict(color=PHASE_COLOR, width=1.5, dash="dash")))
        annotations.append(dict(x=start, y=0.98, xref="x", yref="paper", xanchor="right", yanchor="top",
                                textangle=-90, showarrow=False, text=name, bgcolor="rgba(255,255,255,0.75)",
                                font=dict(size=fonts["small"], color=PHASE_COLOR)))
    line = _vline(current_step)
    if line:
        shapes.append(line)
    # Method names are long: about two legend entries fit a row of a half-width panel, so each extra row of
    # legend gets its own pixels instead of squeezing the plot (seven methods: four rows).
    gap = 10 + (24 if large else 20) * max(math.ceil(len(joint) / 2) - 1, 0)
    layout = base_layout(height or (460 if large else 370) + gap - 10, large, title, legend_gap=gap)
    x_extra = {"range": [step_range[0], step_range[1]]} if step_range else {}
    layout.update(
        xaxis=axis_spec("training step", large, **x_extra), shapes=shapes, annotations=annotations,
        uirevision="capability",
        yaxis=axis_spec(f"{class_name} correct", large, range=[-0.03, 1.1]),
    )
    layout["margin"]["t"] = max(layout["margin"]["t"], 40)
    return dict(data=data, layout=layout)


def band_traces(steps: Sequence[int], low: np.ndarray, high: np.ndarray, name: str, fill: str,
                seeds: int) -> list[Spec]:
    """A min–max band as two traces: the lower edge, then the upper one filled down to it (plotly's tonexty)."""
    edge = dict(type="scatter", mode="lines", x=list(steps), line=dict(width=0, color=fill), hoverinfo="skip",
                showlegend=False)
    return [edge | dict(name=f"{name}: lowest seed", y=json_numbers(low)),
            edge | dict(name=f"{name}: range over {seeds} seeds", y=json_numbers(high), fill="tonexty",
                        fillcolor=fill)]


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
    layout = base_layout(height, large, None, bottom_legend=False)
    layout.update(xaxis=dict(visible=False), yaxis=dict(visible=False), annotations=[dict(
        text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
        font=dict(size=font_sizes(large)["base"], color="#666"))])
    return dict(data=[], layout=layout)
