"""What an event's inputs may be before a callback sees them, checked by the kind of control that sends them.

gradio's own preprocessing is off for every Python event (Page.on passes `preprocess=False`): its refusals are
several lines long and quote Python types ("Could not preprocess input component at index 2 … Original error:
TypeError: type str doesn't define __round__ method"), and an API client can send anything. Here each control
takes only values of its own JSON kind, in one sentence naming the control as the API names it. Ranges and
choices that depend on the run (a checkpoint index, a patch step, a class) are the callbacks' to check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio.blocks import Block

from ..core.limits import shown

TEXT_LIMIT = 200
"""Longest text a choice control takes (a run name, a sweep cell): longer is never a choice of this app."""
LIST_LIMIT = 64
"""Most entries a multiple-choice control takes."""

Check = Callable[[Any], Any]


def _number(name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {shown(value)}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {shown(value)}.")
    return value


def _text(name: str, value: Any) -> Any:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be one of its choices (a name), got {shown(value)}.")
    if len(value) > TEXT_LIMIT:
        raise ValueError(f"{name} must be one of its choices, got a text of {len(value):,} characters.")
    if not value.isprintable():
        raise ValueError(f"{name} must be one of its choices, got a text with control characters.")
    return value


def checker(name: str, component: Block) -> Check | None:
    """The check of one input (None: the value is passed as it comes, as for session state)."""
    if isinstance(component, gr.Checkbox):
        def check_flag(value: Any) -> bool:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {shown(value)}.")
            return value
        return check_flag
    if isinstance(component, gr.Slider):
        low, high = component.minimum, component.maximum

        def check_slider(value: Any) -> float | int:
            number = _number(name, value)
            if not low <= number <= high:
                raise ValueError(f"{name} must be between {low:g} and {high:g}, got {shown(number)}.")
            return number
        return check_slider
    if isinstance(component, gr.Number):
        def check_number(value: Any) -> float | int | None:
            if value is None:
                return None
            number = _number(name, value)
            if component.precision == 0 and isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
                return int(number)
            return number
        return check_number
    if isinstance(component, gr.CheckboxGroup) or (isinstance(component, gr.Dropdown) and component.multiselect):
        def check_choices(value: Any) -> list:
            if value is None:
                return []
            if not isinstance(value, list):
                raise ValueError(f"{name} must be a list of choices, got {shown(value)}.")
            if len(value) > LIST_LIMIT:
                raise ValueError(f"{name} must hold at most {LIST_LIMIT} choices, got {len(value):,}.")
            return [_text(f"each of {name}", entry) for entry in value]
        return check_choices
    if isinstance(component, (gr.Dropdown, gr.Radio, gr.Textbox)):
        return lambda value: _text(name, value)
    return None
