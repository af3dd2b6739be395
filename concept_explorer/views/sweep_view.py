"""Figures of a sweep (analysis/sweep_results.py's record): the fan of held-out trajectories coloured by a grid
axis, learning time against that axis, and one axis value's train / test / capability curves over seeds. Pure
functions of the record, drawn from results.json alone (a bundled sweep's cells need not carry weights or samples);
the numbers come from sweep_results, the conventions and helpers from `plots` (same fonts, colours, layout).

The fan's step control is a plotly slider inside the figure whose steps *restyle* the "current point" trace: each
step carries every cell's point at that checkpoint, so scrubbing moves all runs together in the browser with no
server round trip. Not plotly frames: gr.Plot draws a figure with `Plotly.react(data, layout, config)` and drops
`frames`, so an animate slider would have nothing to play. Not the page's shared step control (ui/stepper.py):
that one walks one run's checkpoints and sends the server its settled step; the sweep's cells need not share a
schedule, and a sweep has no server-side work per step. Each cell's held-out line, star and marker carry the cell's
name as customdata, which the page reads when one is clicked to open that cell in Explore (ui/assets/sweep_fan.js).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from plotly.colors import sample_colorscale

from ..analysis.across import RankCorrelation
from ..analysis.sweep_results import LearningTimes, accuracy_bands, axis_of, learning_times
from .concept_space import AXIS_RANGE
from .images import class_colors
from .plots import (
    BAND_STYLES,
    FAMILY_COLORS,
    PHASE_COLOR,
    Spec,
    axis_spec,
    band_traces,
    base_layout,
    font_sizes,
    json_numbers,
    message_spec,
)
from .run_view import CONCEPT_NAMES, axis_title

AXIS_SCALE = [[k / 8, color] for k, color in enumerate(sample_colorscale("Viridis", [0.85 * k / 8 for k in range(9)]))]
"""Viridis without its pale yellow end, which vanishes on white and on projectors: low axis values dark violet,
high ones green."""
SEED_SYMBOLS = ("circle", "diamond", "square", "triangle-up", "pentagon", "hexagon")
CONCEPT_COLORS = {"joint": FAMILY_COLORS["plain"], "color": "#1f77b4", "size": "#d62728", "bg": "#2ca02c",
                  "shape": "#9467bd"}
CURVE_STYLES = {"train": ("training classes (mean)", "#1f77b4", "dash", "rgba(31, 119, 180, 0.15)"),
                "test": ("plain prompt", FAMILY_COLORS["plain"], "solid", BAND_STYLES["plain"][1]),
                "capability": ("best elicitation", "#009688", "solid", BAND_STYLES["elicited"][1])}
"""Curve → (name, line colour, dash, band fill): training classes dashed as in every figure, the held-out class
solid; the best elicitation takes the colour of its seed band in the run's capability figure."""
METHODS = {"plain": "plain prompting", "elicited": "best elicitation"}


def axis_label(field: str) -> str:
    """A grid axis in words: 'concept_space.delta_color' → 'Δcolor', other fields by their last part."""
    name = field.rpartition(".")[2]
    return f"Δ{name[len('delta_'):]}" if name.startswith("delta_") else name


def cell_title(cell: Mapping[str, Any], field: str) -> str:
    """'Δcolor 0.3 · seed 1': which cell a mark belongs to."""
    return f"{axis_label(field)} {float(cell['overrides'][field]):g} · seed {cell['seed']}"


def axis_values(results: Mapping[str, Any], field: str) -> list[float]:
    """The values of the finished cells on the axis, ascending, once each."""
    return sorted({float(cell["overrides"][field]) for cell in results["cells"]})


def _value_colors(results: Mapping[str, Any], field: str) -> tuple[list[str], float, float]:
    """Each cell's colour on AXIS_SCALE, and the scale's ends (the grid's whole range, finished or not)."""
    grid = [float(v) for v in results["grid"][field]]
    low, high = min(grid), max(grid)
    span = high - low or 1.0
    fractions = [(float(cell["overrides"][field]) - low) / span for cell in results["cells"]]
    return (sample_colorscale(AXIS_SCALE, fractions) if fractions else []), low, high


def turn_of(cell: Mapping[str, Any], criterion: str) -> int | None:
    """The step of a cell's turning point, None when it has none (or no phase numbers: a --no-elicit cell)."""
    numbers = cell["criteria"][criterion]["numbers"]
    return None if numbers is None else numbers["turn"]


def _at_or_before(steps: Sequence[int], step: int) -> int:
    """Index of the last checkpoint at or before `step` (the first one before the schedule starts)."""
    return max(bisect.bisect_right(list(steps), step) - 1, 0)


# -- the fan -------------------------------------------------------------------------------------------------------
def fan_spec(
    results: Mapping[str, Any], criterion: str = "strict", field: str | None = None, step: int | None = None,
    large: bool = False, height: int | None = None, title: str | None = None,
) -> Spec:
    """Every cell's held-out class mean position over checkpoints in the plane of its first two concepts (0 and 1 at
    the class means), coloured by the cell's axis value, its training classes dashed and faint; a star at each
    cell's turning point under `criterion`; a marker per cell at the slider's step (`step`, default the last)."""
    field = axis_of(results, field)
    cells = results["cells"]
    if not cells:
        return message_spec("No cell of this sweep has finished yet.", height or 600, large)
    fonts = font_sizes(large)
    colors, low, high = _value_colors(results, field)
    concepts = cells[0]["concepts"]
    if len(concepts) < 2:
        return message_spec("The fan needs two concepts; this sweep's classes have one.", height or 600, large)
    titles = [axis_title(concepts[0]), axis_title(concepts[1])]
    data: list[Spec] = []
    stars: list[tuple[float, float, str, str, str]] = []  # (x, y, colour, hover, cell name)
    heldout_xy = []  # per cell: (T, 2) of its first held-out class
    for k, cell in enumerate(cells):
        xy = np.array([[[np.nan if v is None else v for v in point[:2]] for point in row]
                       for row in cell["coordinates"]], dtype=float)  # (T, C, 2)
        name = cell_title(cell, field)
        training = [cell["labels"].index(label) for label in cell["training"]]
        heldout = [cell["labels"].index(label) for label in cell["heldout"]]
        gaps = np.full((1, 2), np.nan)  # a None between classes: one trace draws them all, unjoined
        joined = np.concatenate([part for c in training for part in (xy[:, c], gaps)])
        data.append(dict(
            type="scatter", mode="lines", name="training classes (dashed)", legendgroup="training",
            showlegend=k == 0, x=json_numbers(joined[:, 0]), y=json_numbers(joined[:, 1]), opacity=0.35,
            line=dict(color=colors[k], width=1.5, dash="dash"), hoverinfo="skip",
        ))
        for c in heldout:
            data.append(dict(
                type="scatter", mode="lines+markers", name=f"held-out {cell['names'][c]}", legendgroup="heldout",
                showlegend=k == 0, x=json_numbers(xy[:, c, 0]), y=json_numbers(xy[:, c, 1]),
                text=[f"{s:,}" for s in cell["steps"]], customdata=[cell["name"]] * len(cell["steps"]),
                line=dict(color=colors[k], width=4 if large else 3), marker=dict(size=5, color=colors[k]),
                hovertemplate=f"{name}<br>{cell['names'][c]} at step %{{text}}<br>{concepts[0]} %{{x:.2f}}, "
                              f"{concepts[1]} %{{y:.2f}}<extra></extra>",
            ))
        first = xy[:, heldout[0]]
        heldout_xy.append(first)
        turn = turn_of(cell, criterion)
        if turn is not None:
            t = int(np.argmin(np.abs(np.asarray(cell["steps"]) - turn)))
            if np.isfinite(first[t]).all():
                stars.append((*first[t], colors[k], f"{name}: turns at step {cell['steps'][t]:,}", cell["name"]))
    if stars:
        data.append(dict(
            type="scatter", mode="markers", name="turning point", x=json_numbers([s[0] for s in stars]),
            y=json_numbers([s[1] for s in stars]), text=[s[3] for s in stars], customdata=[s[4] for s in stars],
            hovertemplate="%{text}<extra></extra>",
            marker=dict(symbol="star", size=22 if large else 17, color=[s[2] for s in stars],
                        line=dict(color=PHASE_COLOR, width=2)),
        ))
    steps = sorted({s for cell in cells for s in cell["steps"]})
    shown = steps[-1] if step is None else step

    def points_at(at: int) -> tuple[list, list, list[str]]:
        index = [_at_or_before(cell["steps"], at) for cell in cells]
        points = [xy[i] for xy, i in zip(heldout_xy, index)]
        return (json_numbers([p[0] for p in points]), json_numbers([p[1] for p in points]),
                [f"{cell_title(cell, field)}: step {cell['steps'][i]:,}" for cell, i in zip(cells, index)])

    def restyle(x: list, y: list, text: list[str]) -> Spec:
        return {"x": [x], "y": [y], "text": [text]}  # one list per restyled trace

    x, y, text = points_at(shown)
    current = len(data)
    data.append(dict(
        type="scatter", mode="markers", name="at the slider's step", x=x, y=y, text=text,
        customdata=[cell["name"] for cell in cells],
        hovertemplate="%{text}<extra></extra>",
        marker=dict(size=20 if large else 15, color=colors, line=dict(color="black", width=2.5)),
    ))
    data.append(dict(  # carries the colour bar only: no point of its own
        type="scatter", mode="markers", x=[None], y=[None], showlegend=False, hoverinfo="skip",
        marker=dict(color=[low], cmin=low, cmax=high if high > low else low + 1, colorscale=AXIS_SCALE,
                    showscale=True, colorbar=dict(
                        title=dict(text=axis_label(field), font=dict(size=fonts["base"])), thickness=18 if large else 14,
                        tickvals=[float(v) for v in results["grid"][field]], tickfont=dict(size=fonts["small"]),
                        len=0.75)),
    ))
    height = height or (800 if large else 680)
    gap = 20 if large else 16  # the legend clears the x-axis title; the slider sits under the legend
    layout = base_layout(height, large, title or f"The held-out class across {axis_label(field)} ({criterion})",
                         legend_gap=gap)
    layout["margin"]["b"] += 100 if large else 84
    plot_height = height - layout["margin"]["t"] - layout["margin"]["b"]
    # below two rows of legend: a half-width panel wraps the four entries
    slider_top = ((80 if large else 52) + gap + (64 if large else 54)) / max(plot_height, 1)
    layout["sliders"] = [dict(
        active=steps.index(shown) if shown in steps else len(steps) - 1, x=0.02, len=0.96, y=-slider_top,
        yanchor="top", pad=dict(t=0, b=0), font=dict(size=fonts["small"]),
        currentvalue=dict(prefix="step ", font=dict(size=fonts["base"])),
        steps=[dict(label=f"{s:,}", method="restyle", args=[restyle(*points_at(s)), [current]]) for s in steps],
    )]
    layout.update(
        xaxis=axis_spec(titles[0], large, range=list(AXIS_RANGE), tickvals=[0, 0.25, 0.5, 0.75, 1],
                        constrain="domain"),
        yaxis=axis_spec(titles[1], large, range=list(AXIS_RANGE), tickvals=[0, 0.25, 0.5, 0.75, 1],
                        scaleanchor="x", scaleratio=1),
        shapes=[dict(type="rect", xref="x", yref="y", x0=0, y0=0, x1=1, y1=1, layer="below",
                     line=dict(color="#bbb", width=1))],
        annotations=_corner_names(cells[0], large), uirevision="sweep-fan",
    )
    return dict(data=data, layout=layout)


def _corner_names(cell: Mapping[str, Any], large: bool) -> list[Spec]:
    """Each class whose other concepts are at level 0 named at its corner of the plane, in its class colour."""
    colors = class_colors([label in cell["heldout"] for label in cell["labels"]])
    notes = []
    for c, (label, name) in enumerate(zip(cell["labels"], cell["names"])):
        bits = [int(b) for b in label]
        if any(bits[2:]):
            continue
        notes.append(dict(x=bits[0], y=bits[1] + (0.08 if bits[1] else -0.08), xref="x", yref="y", showarrow=False,
                          yanchor="bottom" if bits[1] else "top", text=f"<b>{name}</b>" if label in cell["heldout"]
                          else name, font=dict(size=font_sizes(large)["small"], color=colors[c])))
    return notes


# -- learning time against the axis ---------------------------------------------------------------------------------
def concept_name(concept: str) -> str:
    return "all right (joint)" if concept == "joint" else CONCEPT_NAMES.get(concept, concept)


def rho_text(correlation: RankCorrelation) -> str:
    """'ρ = 0.83 [0.50, 1.00]', or why there is none."""
    if math.isnan(correlation.rho):
        return "ρ undefined (no cell learned)" if correlation.never == correlation.cells else "ρ undefined"
    interval = "" if math.isnan(correlation.low) else f" [{correlation.low:.2f}, {correlation.high:.2f}]"
    return f"ρ = {correlation.rho:.2f}{interval}"


def learning_times_of(
    results: Mapping[str, Any], label: str, concepts: Sequence[str], field: str | None = None,
    criterion: str = "strict", method: str = "plain",
) -> list[LearningTimes]:
    """learning_times of class `label` for each of `concepts` (names or "joint"), in that order."""
    return [learning_times(dict(results), label, concept, field, criterion, method) for concept in concepts]


def learning_time_spec(
    times: Sequence[LearningTimes], class_name: str, method: str = "plain", criterion: str = "strict",
    large: bool = False, height: int | None = None,
) -> Spec:
    """One class's learning step per cell against the axis, a trace per concept (colour) with a marker per cell
    (its seed's symbol), its Spearman ρ [95 % interval] in the legend; a cell that never learned is an open marker
    on the top edge, "not learned by" its final step."""
    if not times:
        return message_spec("Choose at least one concept.", height or 420, large)
    fonts = font_sizes(large)
    field = times[0].field
    values = sorted({v for t in times for v in t.values})
    span = (values[-1] - values[0]) if len(values) > 1 else 1.0
    final = max(s for t in times for s in t.final_steps)
    top = final * 1.08
    seeds = sorted({s for t in times for s in t.seeds})
    data: list[Spec] = []
    for k, t in enumerate(times):
        dodge = (k - (len(times) - 1) / 2) * 0.012 * span  # concepts side by side at one axis value
        symbols = [SEED_SYMBOLS[seeds.index(seed) % len(SEED_SYMBOLS)] for seed in t.seeds]
        data.append(dict(
            type="scatter", mode="markers", name=f"{concept_name(t.concept)}: {rho_text(t.correlation)}",
            x=json_numbers([v + dodge for v in t.values]), y=[top if s is None else s for s in t.steps],
            text=[f"{axis_label(field)} {v:g} · seed {seed}: " + (f"learned at step {s:,}" if s is not None
                  else f"not learned by step {f:,}") for v, seed, s, f in zip(t.values, t.seeds, t.steps,
                                                                           t.final_steps)],
            hovertemplate=f"{concept_name(t.concept)}<br>%{{text}}<extra></extra>",
            marker=dict(size=15 if large else 12, color=CONCEPT_COLORS.get(t.concept, "#555"),
                        symbol=[f"{sym}-open" if s is None else sym for sym, s in zip(symbols, t.steps)],
                        line=dict(width=2.5, color=CONCEPT_COLORS.get(t.concept, "#555"))),
        ))
    for seed in seeds:  # legend entries for the seeds' symbols (no points)
        data.append(dict(type="scatter", mode="markers", name=f"seed {seed}", x=[None], y=[None], legendgroup="seeds",
                         marker=dict(size=12, color="#888", symbol=SEED_SYMBOLS[seeds.index(seed) % len(SEED_SYMBOLS)])))
    never = any(s is None for t in times for s in t.steps)
    shapes, annotations = [], []
    if never:
        finals = {f for t in times for f in t.final_steps}
        text = f"not learned by step {final:,}" if len(finals) == 1 else "not learned by its final step"
        shapes.append(dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=top, y1=top,
                           line=dict(color="#aaa", width=1, dash="dot")))
        annotations.append(dict(x=1, y=top, xref="paper", yref="y", xanchor="right", yanchor="bottom",
                                showarrow=False, text=text, font=dict(size=fonts["small"], color="#666")))
    gap = (24 if large else 20) * max(math.ceil((len(times) + len(seeds)) / 3) - 1, 0)
    layout = base_layout(height or (480 if large else 400) + gap, large,
                         f"When {class_name} is learned, by {METHODS.get(method, method)} ({criterion})",
                         legend_gap=gap)
    pad = 0.06 * span
    layout.update(xaxis=axis_spec(axis_label(field), large, range=[values[0] - pad, values[-1] + pad],
                                  tickvals=values),
                  yaxis=axis_spec("learning step", large, range=[0, top * 1.06], rangemode="tozero"),
                  shapes=shapes, annotations=annotations, uirevision="sweep-learning")
    return dict(data=data, layout=layout)


# -- one axis value's curves ---------------------------------------------------------------------------------------
def curves_spec(
    results: Mapping[str, Any], value: float, field: str | None = None, criterion: str = "strict",
    threshold: float = 0.8, large: bool = False, height: int | None = None,
) -> Spec:
    """Train (training classes' mean), test (held-out, plain prompting) and capability (held-out, best
    elicitation) joint accuracy per checkpoint of the cells at one axis value: the mean over seeds as a line, the
    min–max over seeds as a band behind it."""
    field = axis_of(dict(results), field)
    bands = accuracy_bands(dict(results), value, field, criterion)
    cell = next(c for c in results["cells"] if math.isclose(float(c["overrides"][field]), value))
    heldout = cell["names"][cell["labels"].index(cell["heldout"][0])]
    curves = {"train": bands.train, "test": bands.test, "capability": bands.capability}
    data: list[Spec] = []
    for key, series in curves.items():
        if series is not None and len(bands.seeds) > 1:
            name, _, _, fill = CURVE_STYLES[key]
            data += band_traces(bands.steps, series[1], series[2], name, fill, len(bands.seeds))
    for key, series in curves.items():
        if series is None:
            continue
        name, color, dash, _ = CURVE_STYLES[key]
        name = name if key == "train" else f"{heldout}: {name}"
        data.append(dict(type="scatter", mode="lines+markers", name=name, x=list(bands.steps),
                         y=json_numbers(series[0]), line=dict(color=color, width=4 if key == "test" else 2.5,
                                                              dash=dash),
                         marker=dict(size=6), hovertemplate=f"{name}<br>step %{{x:,}}<br>mean over seeds "
                                                            f"%{{y:.2f}}<extra></extra>"))
    seeds = ", ".join(map(str, bands.seeds))
    layout = base_layout(height or (440 if large else 370), large,
                         f"{axis_label(field)} = {value:g}: accuracy over seed{'s' if len(bands.seeds) > 1 else ''} "
                         f"{seeds} ({criterion})", legend_gap=10)
    layout.update(xaxis=axis_spec("training step", large), yaxis=axis_spec("all concepts right", large,
                                                                            range=[-0.03, 1.03]),
                  shapes=[dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=threshold, y1=threshold,
                               line=dict(color="#aaa", width=1, dash="dot"))], uirevision="sweep-curves")
    return dict(data=data, layout=layout)


# -- words -----------------------------------------------------------------------------------------------------------
def sweep_caption(
    results: Mapping[str, Any], times: Sequence[LearningTimes], criterion: str = "strict",
    counts: Mapping[str, int] | None = None,
) -> str:
    """Markdown: cells finished of all, ρ per concept for the held-out class (`times`, plain prompting), and the
    turning points found."""
    cells = results["cells"]
    field = times[0].field if times else axis_of(dict(results))
    total = sum(counts.values()) if counts else len(results["seeds"]) * math.prod(len(v) for v in
                                                                                    results["grid"].values())
    lines = [f"**{len(cells)} of {total} cells finished**"
             + (f", {counts['failed']} failed" if counts and counts.get("failed") else "")
             + (f", {len(results['unreadable'])} unreadable" if results.get("unreadable") else "")
             + f" · {axis_label(field)} ∈ {{{', '.join(f'{v:g}' for v in results['grid'][field])}}}, seeds "
             + ", ".join(map(str, results["seeds"])) + "."]
    if times and cells:
        heldout = cells[0]["names"][cells[0]["labels"].index(times[0].label)]
        rhos = "; ".join(f"{concept_name(t.concept)} {rho_text(t.correlation)}" for t in times)
        lines.append(f"Learning speed of held-out **{heldout}** against {axis_label(field)}, plain prompting "
                     f"({criterion}): {rhos} (Spearman ρ of the axis value and 1 / learning step, a cell that never "
                     "learned counted slowest; 95 % bootstrap interval over seeds).")
    turns = [turn_of(c, criterion) for c in cells if turn_of(c, criterion) is not None]
    lines.append(f"Turning points found in {len(turns)} of {len(cells)} cells ({criterion})"
                 + (": at steps " + ", ".join(f"{t:,}" for t in turns) if turns else "") + ".")
    return "  \n".join(lines)


def reproduce_command(data: Mapping[str, Any], out: str) -> str:
    """The `concept-explorer sweep` command that trains a sweep like the one described by sweep.json `data` into
    `out` (its cells' weights included)."""
    grid = " ".join(f"{key}={','.join(f'{v:g}' if isinstance(v, float) else str(v) for v in values)}"
                    for key, values in data["grid"].items())
    base = "".join(f" --{key} {','.join(map(str, value)) if isinstance(value, list) else value}"
                   for key, value in data.get("base", {}).items() if key not in data["grid"])
    return (f"concept-explorer sweep --preset {data['preset']} --grid {grid} --seeds "
            f"{','.join(map(str, data['seeds']))}{base} --out {out}")
