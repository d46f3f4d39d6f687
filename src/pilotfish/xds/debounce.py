"""Debounce: coalesce bursts of change events into one push (Istio's PILOT_DEBOUNCE_*).

Owns: `Debouncer`, a pure state machine (the caller passes the time), and `run_debounced`, a
small asyncio driver around it for the control plane.

A batch is released when no event came for `quiet` seconds, or when the first event of the batch
is `max_delay` old, whichever is first, so a steady stream of changes still pushes regularly.
Istio's defaults are PILOT_DEBOUNCE_AFTER=100ms and PILOT_DEBOUNCE_MAX=10s; on a laptop mesh
(one machine, few proxies) pilotfish uses 10 ms quiet and 1 s max (`LOCAL_QUIET`, `LOCAL_MAX`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

ISTIO_QUIET = 0.100
ISTIO_MAX = 10.0
LOCAL_QUIET = 0.010
LOCAL_MAX = 1.0

T = TypeVar("T")


class Debouncer(Generic[T]):
    """Collects events; `take(now)` hands the batch back once it is due."""

    def __init__(self, quiet: float = LOCAL_QUIET, max_delay: float = LOCAL_MAX) -> None:
        if quiet < 0 or max_delay < quiet:
            raise ValueError(f"need 0 <= quiet ({quiet}) <= max_delay ({max_delay})")
        self.quiet = quiet
        self.max_delay = max_delay
        self._pending: list[T] = []
        self._first = 0.0
        self._last = 0.0

    def add(self, event: T, now: float) -> None:
        if not self._pending:
            self._first = now
        self._last = now
        self._pending.append(event)

    def deadline(self) -> float | None:
        """When the current batch becomes due (None if nothing is pending)."""
        if not self._pending:
            return None
        return min(self._last + self.quiet, self._first + self.max_delay)

    def take(self, now: float) -> list[T]:
        """The pending batch if it is due at `now` (and forget it), else []."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return []
        batch, self._pending = self._pending, []
        return batch

    def __len__(self) -> int:
        return len(self._pending)


async def run_debounced(
    events: asyncio.Queue[T],
    handle: Callable[[list[T]], Awaitable[None]],
    quiet: float = LOCAL_QUIET,
    max_delay: float = LOCAL_MAX,
) -> None:
    """Forever: read `events`, call `handle(batch)` with each debounced batch. Cancel to stop."""
    loop = asyncio.get_running_loop()
    debouncer: Debouncer[T] = Debouncer(quiet, max_delay)
    while True:
        deadline = debouncer.deadline()
        if deadline is None:
            debouncer.add(await events.get(), loop.time())
            continue
        try:
            event = await asyncio.wait_for(events.get(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            pass
        else:
            debouncer.add(event, loop.time())
        batch = debouncer.take(loop.time())
        if batch:
            await handle(batch)
