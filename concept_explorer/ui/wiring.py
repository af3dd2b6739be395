"""Events wired by name: the page's components in one mapping, and callbacks that take and give values by name.

Gradio hands a callback its input values by position and takes its outputs by position. `Page.on` keeps the
positions out of sight: inputs and outputs are component names; a settings dataclass among the inputs stands for
the components named by its fields and reaches the callback as one instance; a callback with several outputs may
return a dict by name (outputs it leaves out are unchanged). The API keeps positional parameters, named after the
components, in the order the inputs are listed. gradio's preprocessing is off: each input is checked by the kind of
its control (inputs.py) and refused in one sentence, before the callback runs. A callback may be a coroutine
function (the live generation waits for its turn without holding a thread).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.events import Dependency

from .common import visitor_error
from .inputs import Check, checker

Input = str | type
"""A component's name, or a dataclass whose fields name components (the callback gets one instance)."""


class Page:
    """The page's components by name: the layout adds them, the wiring refers to them."""

    def __init__(self, roots: Callable[[], Iterable[Path]] = tuple) -> None:
        self.components: dict[str, Block] = {}
        self.roots = roots  # the folders whose paths a visitor may see, relative to them (common.public_paths)

    def add(self, components: Mapping[str, Block]) -> None:
        clashes = self.components.keys() & components.keys()
        assert not clashes, f"component names used twice: {sorted(clashes)}"
        self.components.update(components)

    def __getitem__(self, name: str) -> Block:
        return self.components[name]

    def all(self, names: Iterable[str]) -> list[Block]:
        return [self.components[name] for name in names]

    def on(self, trigger: Callable | Sequence[Callable], fn: Callable, inputs: Sequence[Input] = (),
           outputs: Sequence[str] = (), **options: Any) -> Dependency:
        """Wire `fn` to a trigger (an event listener such as `button.click` or `dependency.then`) or to several
        (through gr.on), with inputs and outputs given by name; `options` go to gradio unchanged."""
        names = input_names(inputs)
        listener = listener_of(trigger)
        checks = [checker(name, self.components[name]) for name in names]
        options.setdefault("preprocess", False)
        return listener(fn=bind(fn, inputs, outputs, checks, self.roots), inputs=self.all(names), outputs=self.all(outputs),
                        **options)


def input_names(inputs: Sequence[Input]) -> list[str]:
    """The component names the inputs stand for, with each dataclass expanded to its fields."""
    return [name for item in inputs
            for name in ([item] if isinstance(item, str) else [f.name for f in dataclasses.fields(item)])]


def listener_of(trigger: Callable | Sequence[Callable]) -> Callable[..., Dependency]:
    """The listener to register with: the trigger itself, or gr.on for several triggers."""
    if isinstance(trigger, Sequence):
        return lambda **event: gr.on(triggers=list(trigger), **event)
    return trigger


def bind(fn: Callable, inputs: Sequence[Input], outputs: Sequence[str], checks: Sequence[Check | None] = (),
         roots: Callable[[], Iterable[Path]] = tuple) -> Callable:
    """`fn` as gradio calls it: positional values in, each checked by `checks` (one per input name, None for
    none), positional outputs out (see the module docstring). A callback with a `request` or `event` parameter
    (last, in that order) also gets gr.Request or gr.EventData. Whatever the callback raises reaches the visitor
    as one sentence without the server's paths (common.visitor_error)."""
    wanted = inspect.signature(fn).parameters
    extras = [(name, annotation) for name, annotation in (("request", gr.Request), ("event", gr.EventData))
              if name in wanted]

    def arguments_of(values: Sequence[Any]) -> list[Any]:
        checked = list(values)
        try:
            for index, check in enumerate(checks):
                if check is not None:
                    checked[index] = check(checked[index])
        except ValueError as error:
            raise gr.Error(str(error), print_exception=False) from None
        given = iter(checked)
        arguments = [next(given) if isinstance(item, str)
                     else item(**{f.name: next(given) for f in dataclasses.fields(item)}) for item in inputs]
        return arguments + [next(given) for _ in extras]  # gradio's gr.Request / gr.EventData, after the inputs

    def by_position(result: Any) -> Any:
        if len(outputs) > 1 and isinstance(result, Mapping):
            unknown = result.keys() - set(outputs)
            assert not unknown, f"{call.__name__} returned outputs it was not wired to: {unknown}"
            return [result.get(name, gr.skip()) for name in outputs]
        return result

    if inspect.iscoroutinefunction(fn):
        async def call(*values: Any) -> Any:
            try:
                return by_position(await fn(*arguments_of(values)))
            except Exception as error:
                raise visitor_error(error, roots()) from None
    else:
        def call(*values: Any) -> Any:
            try:
                return by_position(fn(*arguments_of(values)))
            except Exception as error:
                raise visitor_error(error, roots()) from None

    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY) for name in input_names(inputs)]
    for name, annotation in extras:  # gradio fills parameters annotated gr.Request or gr.EventData itself
        parameters.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY, annotation=annotation))
    call.__annotations__ = dict(extras)
    call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    named = fn.func if isinstance(fn, functools.partial) else fn
    call.__name__, call.__doc__ = named.__name__, named.__doc__  # the API page describes the callback
    return call
