"""How the server shares itself between visitors: the serving policy (local or Hugging Face Space) and who a
request comes from.

Local (`python app.py`): one person or a room on one machine; limits that keep one client from starving the
others (fair_queue.py) but nothing that gets in an honest user's way. Space mode (on when the Space environment
is detected, SPACE_ID set, or with `--space`): anyone on the internet, so training is capped and only its starter
can cancel it, exports and trained runs are deleted by age and by a disk budget, and the queue limits apply per
client address too (the Space proxy's x-forwarded-for).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from ..core import limits

MB = 1024 * 1024


@dataclass(frozen=True)
class ServingPolicy:
    space: bool = False
    waiting_limit: int = 32
    """Live generations and PNG exports waiting server-wide (one per session and kind; beyond: 'busy'). A crowd of
    20 honest visitors keeps about 20 waiting (12 refused some of them: benchmarks/results-flood.txt); a new visitor
    still goes first, since the session served longest ago (or never) does."""
    client_limit: int | None = 4
    """Waiting per client address, where the address is known (not loopback, where every local client looks
    alike; on a Space, from the proxy's x-forwarded-for)."""
    work_limit: int = 64 * 25
    """Samples × sampling steps of one live request (five default grids): about 1 s on one core at a cpu-preset
    checkpoint, so a new visitor waits about that long for the generation ahead of theirs (64 × 50 took 2 s idle,
    up to 7 s on a loaded 2-core machine: benchmarks/results-flood.txt)."""
    training: bool = True
    train_steps_limit: int = int(limits.JOB_STEPS.high)
    cancel_by_starter_only: bool = False
    export_age_s: float = 3600.0
    export_budget_bytes: int = 512 * MB
    runs_age_s: float | None = None
    """Trained runs (runs/ui-*) older than this are deleted (None: kept)."""
    runs_budget_bytes: int | None = None
    """Trained runs beyond this much disk are deleted, oldest first (None: no budget)."""
    cache_cleanup: tuple[int, int] = (3600, 7200)
    """gradio's delete_cache: every first seconds, delete its cached files older than second seconds."""
    queue_size: int = 512
    """gradio's own queue bound (cheap queued events; the live events wait in fair_queue.py, not there)."""

    @classmethod
    def for_space(cls, **changes: Any) -> ServingPolicy:
        return replace(cls(space=True, train_steps_limit=1500, cancel_by_starter_only=True, export_age_s=600.0,
                           export_budget_bytes=100 * MB, runs_age_s=6 * 3600.0, runs_budget_bytes=300 * MB,
                           cache_cleanup=(600, 1200)), **changes)

    @classmethod
    def detect(cls, space: bool | None = None) -> ServingPolicy:
        """Space mode when asked for (`space=True`) or, when not said, when the Space environment is there."""
        if space is None:
            space = bool(os.environ.get("SPACE_ID"))
        return cls.for_space() if space else cls()


def session_of(request: gr.Request | None) -> str:
    """The browser tab (gradio's session hash) a request comes from."""
    return str(getattr(request, "session_hash", None) or "no-session")


PROXY_HOPS = 1
"""Proxies in front of a Space that append to x-forwarded-for. Each proxy appends the address it was connected from,
so the entry this many places from the right is the one the visitor's own connection gave; everything left of it
is whatever the visitor's request said (a client can send `X-Forwarded-For: 10.0.0.7, 9.9.9.9` to pose as anyone).
Set CONCEPT_EXPLORER_PROXY_HOPS where more proxies stand in front."""


def proxy_hops() -> int:
    text = os.environ.get("CONCEPT_EXPLORER_PROXY_HOPS", "")
    return int(text) if text.isdigit() and int(text) >= 1 else PROXY_HOPS


def client_of(request: gr.Request | None, policy: ServingPolicy) -> str | None:
    """The client address a request comes from, or None where every client looks alike (loopback) or nothing
    says. On a Space the x-forwarded-for entry its proxy appended is trusted (PROXY_HOPS from the right), never one
    the client could write; elsewhere only the socket's address is, since a client can send any header."""
    if request is None:
        return None
    address = None
    if policy.space:
        entries = [e.strip() for e in (request.headers or {}).get("x-forwarded-for", "").split(",")]
        hops = proxy_hops()
        address = (entries[-hops] or None) if len(entries) >= hops else None
    if address is None:
        address = getattr(getattr(request, "client", None), "host", None)
    try:
        if address is None or ipaddress.ip_address(address).is_loopback:
            return None
    except ValueError:  # not an IP address (a test client's name): still one client
        pass
    return address
