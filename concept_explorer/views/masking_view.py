"""Figures of the underspecification experiment (analysis/underspecification.py): for one masked fraction f, the
masked concept's coordinate of "blue triangle" samples across training under plain prompting, each elicitation
method and the masked prompt; across f, where each of them ends up. Pure functions of a sweep's results.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..analysis.capability import MASKED
from ..analysis.underspecification import FractionRow, MaskedTrace, by_fraction, intertwining_rho, masked_traces
from ..core.concepts import LEVEL_NAMES
from .plots import FAMILY_COLORS, FAMILY_STYLES, Spec, axis_spec, base_layout, json_numbers, message_spec, method_label

MASKED_STYLE = ("#8c6d31", "dash")
"""The masked prompt: an ochre dashed line, a colour no method or class uses."""


def masked_prompt_name(heldout_name: str, concept: str) -> str:
    """The held-out prompt with `concept` masked, in words: 'triangle-blue', 'color' → 'triangle (color
    unspecified)'."""
    kept = [part for part in heldout_name.split("-") if part not in LEVEL_NAMES[concept]]
    return "-".join(kept) + f" ({concept} unspecified)"


def coordinate_title(concept: str) -> str:
    """'colour of the samples (0 = red, 1 = blue)' for the masked concept's axis."""
    low, high = LEVEL_NAMES[concept]
    name = {"color": "colour", "bg": "background"}.get(concept, concept)
    return f"{name} of the samples (0 = {low}, 1 = {high})"


def _line(name: str, steps: Sequence[int], values: np.ndarray, color: str, dash: str, width: float,
          symbol: str = "circle") -> Spec:
    return dict(type="scatter", mode="lines+markers", name=name, x=list(steps), y=json_numbers(values),
                line=dict(color=color, width=width, dash=dash), marker=dict(size=7, symbol=symbol),
                hovertemplate=f"{name}<br>step %{{x:,}}<br>%{{y:.2f}}<extra></extra>")


def trace_spec(
    trace: MaskedTrace, class_name: str, prompt_name: str, large: bool = False, height: int | None = None
) -> Spec:
    """One cell's masked-concept coordinate per checkpoint: the held-out prompt plainly (thick black), under each
    elicitation method (its family's colour and dash) and the masked prompt (ochre dashed), with the midpoint
    between the two levels dotted; the y-axis reaches past 1 as far as overprompted samples do."""
    data = [_line(f"{class_name}: plain prompt", trace.steps, trace.plain, FAMILY_COLORS["plain"], "solid", 5)]
    for key, values in trace.methods.items():
        if key == MASKED:
            continue
        family = key.partition("@")[0]
        dash, symbol = FAMILY_STYLES.get(family, ("longdash", "x"))
        data.append(_line(method_label(key), trace.elicited_steps, values, FAMILY_COLORS.get(family, "#555"), dash,
                          2.5, symbol))
    if MASKED in trace.methods:
        data.append(_line(f"{prompt_name} (masked prompt)", trace.elicited_steps, trace.methods[MASKED],
                          *MASKED_STYLE, 3))
    layout = base_layout(height or (480 if large else 400), large,
                         f"f = {trace.fraction:g}, seed {trace.seed}: what {class_name} prompts draw", legend_gap=24)
    top = max([1.0, *(v for d in data for v in d["y"] if v is not None)]) + 0.15
    layout.update(xaxis=axis_spec("training step", large), yaxis=axis_spec(coordinate_title(trace.concept), large,
                                                                          range=[-0.15, top]),
                  shapes=[dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=0.5, y1=0.5,
                               line=dict(color="#aaa", width=1, dash="dot"))], uirevision="masking-trace")
    return dict(data=data, layout=layout)


def _errors(rows: Sequence[FractionRow], pick: Any) -> tuple[list, list, list]:
    triples = [pick(r) or (np.nan,) * 3 for r in rows]
    mean = json_numbers([t[0] for t in triples])
    return mean, json_numbers([t[2] - t[0] for t in triples]), json_numbers([t[0] - t[1] for t in triples])


def fraction_spec(rows: Sequence[FractionRow], concept: str, class_name: str, prompt_name: str,
                  large: bool = False, height: int | None = None) -> Spec:
    """Late in training, against f: the held-out prompt plainly, at its best elicitation method, and the masked
    prompt, each the mean over seeds with min–max error bars."""
    fractions = [r.fraction for r in rows]
    best = [max(r.elicited.values(), key=lambda t: t[0] if not np.isnan(t[0]) else -np.inf, default=None)
            for r in rows]
    series = [(f"{class_name}: plain prompt", lambda r: r.plain, FAMILY_COLORS["plain"], "solid", "circle"),
              (f"{class_name}: best elicitation", lambda r: best[rows.index(r)], "#009688", "dot", "diamond"),
              (f"{prompt_name} (masked prompt)", lambda r: r.masked, MASKED_STYLE[0], "dash", "square")]
    data = []
    for name, pick, color, dash, symbol in series:
        mean, plus, minus = _errors(rows, pick)
        data.append(dict(type="scatter", mode="lines+markers", name=name, x=fractions, y=mean,
                         error_y=dict(type="data", array=plus, arrayminus=minus, visible=True, color=color),
                         line=dict(color=color, width=3, dash=dash), marker=dict(size=12, symbol=symbol),
                         hovertemplate=f"{name}<br>f %{{x:g}}<br>%{{y:.2f}}<extra></extra>"))
    rho = intertwining_rho(list(rows))
    title = f"Late in training, against the masked fraction f (ρ plain = {rho:+.2f})" if not np.isnan(rho) else \
        "Late in training, against the masked fraction f"
    layout = base_layout(height or (440 if large else 380), large, title, legend_gap=10)
    layout.update(xaxis=axis_spec("f: fraction of the masked class's prompts without it", large, tickvals=fractions),
                  yaxis=axis_spec(coordinate_title(concept), large, range=[-0.15, max([1.0, *(
                      v + (e or 0) for d in data for v, e in zip(d["y"], d["error_y"]["array"]) if v is not None)])
                      + 0.15]),
                  shapes=[dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=0.5, y1=0.5,
                               line=dict(color="#aaa", width=1, dash="dot"))], uirevision="masking-fraction")
    return dict(data=data, layout=layout)


def masking_specs(
    results: Mapping[str, Any], fraction: float | None, seed: int | None = None, criterion: str = "strict",
    large: bool = False,
) -> tuple[Spec, Spec, list[list[Any]]]:
    """The view's two figures and its table for a sweep: the trace of the cell at (fraction, seed) (the first
    fraction and seed when None), the across-f figure, and one table row per f. A sweep without masked cells
    gets two message figures and no rows."""
    try:
        traces = masked_traces(dict(results))
    except ValueError as error:
        return message_spec(str(error), 380, large), message_spec(str(error), 380, large), []
    cell = next(c for c in results["cells"] if (c.get("mask") or {}).get("concept"))
    concept = traces[0].concept
    held = cell["names"][cell["labels"].index(cell["heldout"][0])]
    prompt = masked_prompt_name(held, concept)
    fraction = traces[0].fraction if fraction is None else fraction
    chosen = [t for t in traces if np.isclose(t.fraction, fraction)] or traces
    trace = next((t for t in chosen if t.seed == seed), chosen[0])
    rows = by_fraction(dict(results), criterion)
    return (trace_spec(trace, held, prompt, large), fraction_spec(rows, concept, held, prompt, large),
            fraction_table(rows))


def fraction_table(rows: Sequence[FractionRow]) -> list[list[Any]]:
    """One row per f (TABLE_HEADERS)."""
    def number(value: float) -> str:
        return "—" if np.isnan(value) else f"{value:.2f}"

    def steps(values: Sequence[int | None]) -> str:
        return ", ".join("never" if s is None else f"{s:,}" for s in values)

    table = []
    for r in rows:
        best = max((t[0] for t in r.elicited.values() if not np.isnan(t[0])), default=float("nan"))
        table.append([f"{r.fraction:g}", ", ".join(map(str, r.seeds)), number(r.plain[0]), number(best),
                      number(r.masked[0]) if r.masked else "—",
                      number(r.drawn_as_masked[0]) if r.drawn_as_masked else "—", number(r.plain_right[0]),
                      number(r.elicited_right[0]) if r.elicited_right else "—",
                      steps(r.plain_steps), steps(r.elicited_steps)])
    return table


TABLE_HEADERS = ["f", "seeds", "colour, plain", "colour, best elicitation", "colour, masked prompt",
                 "drawn as the masked class", "right, plain", "right, best elicitation", "plain learns it at",
                 "elicitation learns it at"]
"""Late in training (mean of the last checkpoints, over seeds): the held-out prompt's colour coordinate under plain
prompting and its best elicitation method, the masked prompt's, the share of the held-out prompt's samples drawn as
the masked class (red triangles), and the share fully right (plain, best elicitation); then learning steps."""


def table_markdown(table: Sequence[Sequence[Any]]) -> str:
    """fraction_table as a Markdown table (legible on a projector, no widget of its own)."""
    lines = ["| " + " | ".join(TABLE_HEADERS) + " |", "|" + "---|" * len(TABLE_HEADERS)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in table])


def fractions_of(results: Mapping[str, Any]) -> list[str]:
    """The masked fractions of a sweep's finished, masked cells as the control shows them ('0.5'); [] if none."""
    try:
        traces = masked_traces(dict(results))  # the one rule of which cells the view reads
    except ValueError:
        return []
    return [f"{f:g}" for f in sorted({t.fraction for t in traces})]
