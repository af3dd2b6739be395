"""Helpers every callback module shares: clear errors (without the server's paths) and fast plot payloads."""

from __future__ import annotations

import functools
import html
import inspect
import json
import re
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.components.plot import PlotData

from ..core.run import RunFolderError

USER_ERRORS = (ValueError, RunFolderError, RuntimeError, KeyError, TypeError)
"""What a viewer's values can make the layers below raise: shown as they are, in one sentence."""
ABSOLUTE_PATH = re.compile(r"(?:^|(?<=[\s'\"(\[=,`]))/(?:[\w.+@%=~-]+/)*[\w.+@%=~-]*")
"""An absolute path inside a message (not a URL's path, not a relative path)."""


def public_paths(message: str, roots: Iterable[Path] = ()) -> str:
    """`message` with every absolute path shown relative to the folder holding the root it lies under (a run
    folder, checkpoints/, runs/), or as its last part: a visitor never sees where the server keeps its files."""
    roots = sorted((Path(root) for root in roots), key=lambda root: len(str(root)), reverse=True)

    def shorten(match: re.Match) -> str:
        path = Path(match.group(0))
        for root in roots:
            if path == root or root in path.parents:
                return str(path.relative_to(root.parent))
        return path.name or "/"

    return ABSOLUTE_PATH.sub(shorten, message)


MESSAGE_LIMIT = 1000
"""Characters of a message a visitor is shown: enough for a sentence with a reproduce command in it; a 20 kB link
parameter is not echoed whole."""


def page_text(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """A message for the page's toasts, which render HTML: one line, cut to `limit` characters, markup escaped, so a
    crafted link or API value can never put a clickable link or styled text into the page."""
    line = " ".join(message.split())
    return html.escape(line if len(line) <= limit else line[: limit - 1] + "…", quote=False)


def visitor_error(error: BaseException, roots: Iterable[Path] = ()) -> gr.Error:
    """The error as a visitor sees it: a viewer's mistake in its own words, anything else (a bug, a full disk)
    logged here and named in one sentence; both with the server's paths shortened."""
    if isinstance(error, gr.Error):
        message = str(error.message)
    elif isinstance(error, USER_ERRORS):
        message = str(error).strip("'\"") or type(error).__name__
    else:
        traceback.print_exception(error)
        first = (str(error).splitlines() or [""])[0][:200]
        message = f"The server could not do this ({type(error).__name__}{': ' + first if first else ''})."
    message = page_text(public_paths(message, roots))
    if isinstance(error, gr.Error):
        return gr.Error(message, duration=error.duration, visible=error.visible, title=error.title,
                        print_exception=False)
    return gr.Error(message, print_exception=False)


def _roots(args: tuple) -> list[Path]:
    explorer = getattr(args[0], "explorer", None) if args else None
    return explorer.public_roots() if explorer is not None else []


def user_errors(fn: Callable) -> Callable:
    """Turn the errors a viewer can cause into a clear message in the page (and in API responses), with the
    server's paths shortened (a method of a class holding the Explorer gets its roots)."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def waiting(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except (gr.Error, *USER_ERRORS) as error:
                raise visitor_error(error, _roots(args)) from None
        return waiting

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (gr.Error, *USER_ERRORS) as error:
            raise visitor_error(error, _roots(args)) from None

    return wrapper


def plot(spec: dict) -> PlotData:
    """A plotly spec as gr.Plot's payload, serialised once without plotly's slow validation."""
    return PlotData(type="plotly", plot=json.dumps(spec, separators=(",", ":")))
