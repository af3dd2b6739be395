"""Torch work shared fairly between visitors: one job at a time, at most one waiting per session and kind, the
least recently served session first, and a bound on how many wait.

Why not gradio's queue alone: its queue is first come, first served and counts every event against one size
limit, so one client posting 80 live generations made a new visitor wait minutes and every cheap event answer
"Queue is full" (issue #13). The live events therefore start at once in gradio (no concurrency limit) and wait
here, on the server's event loop, holding no thread:

- a newer request of the same session and kind (live generation, PNG export) *supersedes* the waiting one, which
  returns SUPERSEDED at once (the page shows the newest settings anyway; gradio's `always_last` does the same in
  the browser, this does it for API clients);
- among the waiting, the session served longest ago goes first (a new visitor before a flood's next request);
- at most `waiting_limit` requests wait server-wide and `client_limit` per client address; beyond that a request
  is refused at once with a one-sentence Busy.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
SERVED_MEMORY = 4096
"""Sessions whose last turn is remembered (the oldest forgotten first: they count as never served)."""


class Superseded:
    """What a request returns when a newer one of its session took its place (compare with `is SUPERSEDED`)."""

    def __repr__(self) -> str:
        return "SUPERSEDED"


SUPERSEDED = Superseded()


class Busy(ValueError):
    """Too many requests are waiting: refused at once, in one sentence."""


@dataclass(eq=False)
class _Ticket:
    session: str
    kind: str
    client: str | None
    order: int
    granted: asyncio.Event = field(default_factory=asyncio.Event)
    entered: float = field(default_factory=time.perf_counter)
    superseded: bool = False


class FairQueue:
    """Runs blocking work (`run`) in a worker thread, `workers` at a time, in the order described above.
    Every method runs on one event loop (the server's), so no lock is needed."""

    def __init__(self, waiting_limit: int, client_limit: int | None = None, workers: int = 1) -> None:
        self.waiting_limit = waiting_limit
        self.client_limit = client_limit
        self.workers = workers
        self._waiting: list[_Ticket] = []
        self._running = 0
        self._served: OrderedDict[str, int] = OrderedDict()  # session → the order of its last turn
        self._order = itertools.count()
        self.counts: Counter[str] = Counter()  # started, superseded, refused (for tests and benchmarks)
        self.timings: deque[tuple[str, float, float]] = deque(maxlen=256)  # (session, waited s, worked s)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def run(self, session: str, kind: str, client: str | None, work: Callable[[], T]) -> T | Superseded:
        """`work()` in a thread once it is this request's turn; SUPERSEDED if a newer request of the session and
        kind came first; Busy (a ValueError) when too many are waiting."""
        ticket = self._enter(session, kind, client)
        try:
            await ticket.granted.wait()
        except asyncio.CancelledError:
            self._leave(ticket)
            raise
        if ticket.superseded:
            return SUPERSEDED
        self.counts["started"] += 1
        started = time.perf_counter()
        future = asyncio.get_running_loop().run_in_executor(None, work)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:  # the visitor left: the slot frees when the work really ends
            future.add_done_callback(lambda _: self._release())
            raise
        except BaseException:
            self._release()
            raise
        self._release()
        self.timings.append((session, started - ticket.entered, time.perf_counter() - started))
        return result

    def _enter(self, session: str, kind: str, client: str | None) -> _Ticket:
        for older in [t for t in self._waiting if t.session == session and t.kind == kind]:
            self._waiting.remove(older)
            older.superseded = True
            older.granted.set()
            self.counts["superseded"] += 1
        if len(self._waiting) >= self.waiting_limit:
            self.counts["refused"] += 1
            raise Busy(f"The server is busy: {len(self._waiting)} generations are waiting; try again in a few "
                       "seconds.")
        if client is not None and self.client_limit is not None:
            if sum(t.client == client for t in self._waiting) >= self.client_limit:
                self.counts["refused"] += 1
                raise Busy(f"Generations from your address are already waiting ({self.client_limit} at most); wait "
                           "for them to finish.")
        ticket = _Ticket(session, kind, client, next(self._order))
        self._waiting.append(ticket)
        self._dispatch()
        return ticket

    def _leave(self, ticket: _Ticket) -> None:
        """A request cancelled while waiting: out of the line, or its turn handed on if it had just got it."""
        if ticket in self._waiting:
            self._waiting.remove(ticket)
        elif ticket.granted.is_set() and not ticket.superseded:
            self._release()

    def _release(self) -> None:
        self._running -= 1
        self._dispatch()

    def _dispatch(self) -> None:
        while self._running < self.workers and self._waiting:
            ticket = min(self._waiting, key=lambda t: (self._served.get(t.session, -1), t.order))
            self._waiting.remove(ticket)
            self._running += 1
            self._served[ticket.session] = next(self._order)
            self._served.move_to_end(ticket.session)
            while len(self._served) > SERVED_MEMORY:
                self._served.popitem(last=False)
            ticket.granted.set()

    def pending(self, session: str) -> int:
        """How many requests of a session wait now (never more than one per kind)."""
        return sum(t.session == session for t in self._waiting)

    def snapshot(self) -> dict[str, Any]:
        """Running and waiting now, and the counts so far."""
        return {"running": self._running, "waiting": len(self._waiting), **self.counts}
