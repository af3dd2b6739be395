"""How a setting is written in a shared link and read back: each dataclass field declares its `Param`.

A setting's link parameter is declared beside the setting itself (`setting(default, Number("op", ...))`), so a new
control gets a link parameter without any code here changing. Only values that differ from the default are
written, so links stay short; a value that cannot be written (a half-typed number) is left out; reading never
fails, it ignores a bad parameter and says why in one sentence.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from ..core import limits
from ..core.concepts import CONCEPT_ORDER

Warn = Callable[[str], None]
"""Receives one sentence per link parameter that was ignored (or only partly used)."""


@dataclass(frozen=True)
class Param(ABC):
    """A setting's link parameter: its key, how its value is written, and how the text is read back."""

    key: str

    @abstractmethod
    def write(self, value: Any) -> str:
        """The value as link text; ValueError or TypeError when the value cannot be written."""

    @abstractmethod
    def read(self, text: str, warn: Warn) -> Any:
        """The value the text stands for; ValueError (one sentence) to ignore the parameter."""


@dataclass(frozen=True)
class Text(Param):
    """Free text, such as a run name (checked against the runs on the server when the view opens)."""

    def write(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{self.key} needs a name.")
        return value

    def read(self, text: str, warn: Warn) -> str:
        return text


@dataclass(frozen=True)
class Number(Param):
    """A number within one of the user-facing ranges of core/limits.py."""

    range: limits.Range

    def write(self, value: Any) -> str:
        number = self.range.check(self.key, value)
        return f"{number:.4g}" if isinstance(number, float) else str(number)

    def read(self, text: str, warn: Warn) -> float | int:
        try:
            return self.range.check(self.key, float(text))
        except ValueError:
            kind = "a whole number" if self.range.whole else "a number"
            raise ValueError(f"Ignored {self.key}={limits.shown(text)}: it must be {kind} from {self.range.low:g} to "
                             f"{self.range.high:g}.") from None


@dataclass(frozen=True)
class Step(Number):
    """A training step: one past the range (1e30, 2**80, inf) means the end of the run, said in a warning, where
    ignoring it would open the run at its start."""

    def read(self, text: str, warn: Warn) -> float | int:
        try:
            past_the_end = float(text) > self.range.high
        except (ValueError, OverflowError):
            past_the_end = False
        if past_the_end:
            warn(f"{self.key}={limits.shown(text, 24)} is past the end of any run; showing its last checkpoint.")
            return int(self.range.high)
        return super().read(text, warn)


@dataclass(frozen=True)
class StepText(Number):
    """A checkpoint step held as text, the way a dropdown of steps holds it."""

    def write(self, value: Any) -> str:
        return super().write(float(value))

    def read(self, text: str, warn: Warn) -> str:
        return str(super().read(text, warn))


@dataclass(frozen=True)
class Flag(Param):
    """On or off: written as 1 when on."""

    def write(self, value: Any) -> str:
        return "1" if value else "0"

    def read(self, text: str, warn: Warn) -> bool:
        return text.lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Choice(Param):
    """One of a fixed set of words."""

    choices: tuple[str, ...]
    hint: str

    def write(self, value: Any) -> str:
        if value not in self.choices:
            raise ValueError(f"{self.key} must be {self.hint}.")
        return value

    def read(self, text: str, warn: Warn) -> str:
        if text not in self.choices:
            raise ValueError(f"Ignored {self.key}={limits.shown(text)}: use {self.hint}.")
        return text


@dataclass(frozen=True)
class Concepts(Param):
    """Some concepts, comma-separated ('none' for none); unknown names are dropped with a warning."""

    def write(self, value: Any) -> str:
        chosen = list(value or ())
        if not all(isinstance(concept, str) for concept in chosen):
            raise TypeError(f"{self.key} must list concept names.")
        return ",".join(chosen) or "none"

    def read(self, text: str, warn: Warn) -> tuple[str, ...]:
        names = text.split(",")
        chosen = tuple(c for c in names if c in CONCEPT_ORDER)
        if text != "none" and len(chosen) != len(names):
            warn(f"Ignored unknown concepts in {self.key}={limits.shown(text)}; concepts are {list(CONCEPT_ORDER)}.")
        return chosen


def setting(default: Any, param: Param) -> Any:
    """A dataclass field that a link carries under `param`."""
    return field(default=default, metadata={"param": param})


def _linked(cls_or_value: Any) -> list[tuple[Field, Param]]:
    return [(f, f.metadata["param"]) for f in fields(cls_or_value) if "param" in f.metadata]


def keys(cls: type) -> set[str]:
    """The link keys of a dataclass's settings."""
    return {param.key for _, param in _linked(cls)}


def write_params(value: Any) -> dict[str, str]:
    """Link parameters of a dataclass's settings: those whose written text differs from their default's."""
    params = {}
    for f, param in _linked(value):
        try:
            text = param.write(getattr(value, f.name))
        except (TypeError, ValueError):
            continue  # a half-typed value: the link leaves it out
        if text != _written_default(f, param):
            params[param.key] = text
    return params


def read_params(cls: type, params: Mapping[str, str], warn: Warn) -> dict[str, Any]:
    """Field name → value for each of a dataclass's settings that the link holds and that reads cleanly."""
    values = {}
    for f, param in _linked(cls):
        if param.key in params:
            try:
                values[f.name] = param.read(params[param.key], warn)
            except ValueError as problem:
                warn(str(problem))
    return values


def _written_default(f: Field, param: Param) -> str | None:
    default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
    try:
        return param.write(default)
    except (TypeError, ValueError):
        return None
