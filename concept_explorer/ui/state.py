"""The whole view as a small value: what a shared link encodes in its query string, and how to read it back.

Only settings that differ from the defaults are written, so links stay short; a link with a bad value still
opens (that value falls back to its default) and the viewer is told which parameter was ignored. Each setting's
link parameter is declared on its field (link.py), here and in GenerationSettings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ..analysis.definitions import CRITERIA, DEFAULT_CRITERION
from ..core import limits
from .link import Choice, Flag, Number, Step, Text, keys, read_params, setting, write_params
from .settings import GenerationSettings

GRADIO_PARAMS = {"__theme", "view"}
"""Query parameters gradio itself reads: a link may carry them."""


@dataclass(frozen=True)
class ViewState:
    run: str | None = setting(None, Text("run"))
    step: int | None = setting(None, Step("step", limits.STEP))  # a training step, snapped to a checkpoint
    phase: str | None = setting(None, Text("phase"))  # open at a phase: its number (in time order) or name
    compare: str | None = setting(None, Text("vs"))
    smoothing: float = setting(0.0, Number("smooth", limits.SMOOTHING))
    present: bool = setting(False, Flag("present"))
    criterion: str = setting(DEFAULT_CRITERION, Choice("criterion", CRITERIA, " or ".join(CRITERIA)))
    generation: GenerationSettings = field(default_factory=GenerationSettings)

    def to_query(self) -> str:
        """A query string holding every setting that differs from the default (empty for the default view)."""
        return urlencode(write_params(self) | write_params(self.generation.for_link()))

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> tuple[ViewState, list[str]]:
        """The view a query asks for, and one sentence per parameter that was ignored."""
        problems: list[str] = []
        state = cls(**read_params(cls, params, problems.append),
                    generation=GenerationSettings.from_link(params, problems.append))
        known = keys(cls) | keys(GenerationSettings) | GRADIO_PARAMS
        problems += [f"Ignored unknown link parameter {limits.shown(key)}." for key in params if key not in known]
        return state, problems
