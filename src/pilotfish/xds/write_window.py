"""`WriteWindow`: the bytes of responses being written to clients, shared by every stream.

A queued response references encoded resources every stream shares; its wire bytes (a copy
per stream) are made only when its write starts, and a write starts only once its size fits
in the window. So a connect storm holds about the window's worth of copies, not one per
stream, while small responses (listeners, routes, one cluster's endpoints) are never held
back behind a count of big ones, as a fixed number of write slots did (measured: 64 slots
held up to 0.5 s each by clients slow to read capped a storm at ~128 writes a second,
whatever their size). Writers are served in arrival order. Pure asyncio; imports nothing of
pilotfish.
"""

from __future__ import annotations

import asyncio
from collections import deque

DEFAULT_WINDOW_BYTES = 256 * 1024 * 1024


class WriteWindow:
    """At most `budget` bytes of writes in flight (a single response bigger than the whole
    budget goes alone). Use `async with window.hold(size):`."""

    def __init__(self, budget: int = DEFAULT_WINDOW_BYTES) -> None:
        if budget <= 0:
            raise ValueError("a write window needs a positive budget")
        self.budget = budget
        self.used = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    def hold(self, size: int) -> _Held:
        """A context manager holding `size` bytes (capped at the budget) of the window."""
        return _Held(self, min(max(size, 0), self.budget))

    async def _acquire(self, take: int) -> None:
        if not self._waiting and self.used + take <= self.budget:
            self.used += take
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (take, waiter)
        self._waiting.append(entry)
        try:
            await waiter  # `_wake` counted it in `used` before waking it
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(take)  # woken, then cancelled before it ran: give it back
            else:
                if entry in self._waiting:
                    self._waiting.remove(entry)
                self._wake()
            raise

    def _release(self, take: int) -> None:
        self.used -= take
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            take, waiter = self._waiting[0]
            if waiter.done():  # cancelled meanwhile
                self._waiting.popleft()
                continue
            if self.used + take > self.budget:
                return  # in order: the first waiting goes first
            self._waiting.popleft()
            self.used += take
            waiter.set_result(None)


class _Held:
    def __init__(self, window: WriteWindow, take: int) -> None:
        self._window = window
        self._take = take

    async def __aenter__(self) -> None:
        await self._window._acquire(self._take)

    async def __aexit__(self, *_: object) -> None:
        self._window._release(self._take)
