"""Helpers every callback module shares: clear errors and fast plot payloads."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio.components.plot import PlotData

from ..core.run import RunFolderError


def user_errors(fn: Callable) -> Callable:
    """Turn the errors a viewer can cause into a clear message in the page (and in API responses)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, RunFolderError, RuntimeError, KeyError, TypeError) as error:
            message = str(error).strip("'\"") or type(error).__name__
            raise gr.Error(message, print_exception=False) from None

    return wrapper


def plot(spec: dict) -> PlotData:
    """A plotly spec as gr.Plot's payload, serialised once without plotly's slow validation."""
    return PlotData(type="plotly", plot=json.dumps(spec, separators=(",", ":")))
