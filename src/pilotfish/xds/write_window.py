"""`WriteWindow`: the bytes of responses being written to clients, shared by every stream.

A queued response references encoded resources every stream shares; its wire bytes (a copy
per stream) are made only when its write starts, and a write starts only once its size fits
in the window. So a connect storm holds about the window's worth of copies, not one per
stream, while small responses (listeners, routes, one cluster's endpoints) are never held
back behind a count of big ones, as a fixed number of write slots did (measured: 64 slots
held up to 0.5 s each by clients slow to read capped a storm at ~128 writes a second,
whatever their size). Writers are served in arrival order. A write holds its bytes for
`SLOT_HOLD` at most while others wait: the window gives them back itself (one timer for the
window, armed only while a writer waits), so a write needs no timer of its own (measured:
a task and a timed wait per write were ~30 us of the event loop per response in a storm,
bench/grpc_floor.py). Pure asyncio; imports nothing of pilotfish.
"""

from __future__ import annotations

import asyncio
from collections import deque

DEFAULT_WINDOW_BYTES = 256 * 1024 * 1024
SLOT_HOLD = 0.5  # seconds a write may hold its bytes of the window while others wait


class WriteWindow:
    """At most `budget` bytes of writes in flight (a single response bigger than the whole
    budget goes alone); a write's bytes are given back when it ends, or once it has held them
    `hold_limit` seconds while another writer waits. Use `async with window.hold(size):`."""

    def __init__(self, budget: int = DEFAULT_WINDOW_BYTES, hold_limit: float = SLOT_HOLD) -> None:
        if budget <= 0:
            raise ValueError("a write window needs a positive budget")
        self.budget = budget
        self.hold_limit = hold_limit
        self.used = 0
        self._waiting: deque[tuple[_Held, asyncio.Future[None]]] = deque()
        self._holds: dict[_Held, float] = {}
        """Holds counted in `used`, oldest first -> when they were granted (loop time)."""
        self._expiry: asyncio.TimerHandle | None = None

    def hold(self, size: int) -> _Held:
        """A context manager holding `size` bytes (capped at the budget) of the window."""
        return _Held(self, min(max(size, 0), self.budget))

    async def _acquire(self, held: _Held) -> None:
        if not self._waiting and self.used + held.take <= self.budget:
            self._grant(held)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (held, waiter)
        self._waiting.append(entry)
        self._arm()
        try:
            await waiter  # `_wake` granted it before waking it
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(held)  # woken, then cancelled before it ran: give it back
            else:
                if entry in self._waiting:
                    self._waiting.remove(entry)
                self._wake()
            raise

    def _grant(self, held: _Held) -> None:
        self.used += held.take
        self._holds[held] = asyncio.get_running_loop().time()

    def _release(self, held: _Held) -> None:
        if self._holds.pop(held, None) is not None:  # not given back by `_expire` already
            self.used -= held.take
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            held, waiter = self._waiting[0]
            if waiter.done():  # cancelled meanwhile
                self._waiting.popleft()
                continue
            if self.used + held.take > self.budget:
                self._arm()
                return  # in order: the first waiting goes first
            self._waiting.popleft()
            self._grant(held)
            waiter.set_result(None)

    def _arm(self) -> None:
        """Someone waits: give back the oldest hold's bytes when it reaches the limit."""
        if self._expiry is not None or not self._holds:
            return
        oldest = next(iter(self._holds.values()))
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_at(oldest + self.hold_limit, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        now = asyncio.get_running_loop().time()
        for held, since in list(self._holds.items()):
            if since + self.hold_limit > now:
                break
            del self._holds[held]  # its write goes on; its bytes no longer count
            self.used -= held.take
        self._wake()


class _Held:
    __slots__ = ("_window", "take")

    def __init__(self, window: WriteWindow, take: int) -> None:
        self._window = window
        self.take = take

    async def __aenter__(self) -> None:
        await self._window._acquire(self)

    async def __aexit__(self, *_: object) -> None:
        self._window._release(self)
