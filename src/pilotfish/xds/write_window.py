"""`WriteWindow`: the bytes of responses being written to clients, shared by every stream.

A queued response references encoded resources every stream shares; its wire bytes (a copy
per stream) are made only when its write starts, and a write starts only once its size fits
in the window. So a connect storm holds about the window's worth of copies, not one per
stream, while small responses (listeners, routes, one cluster's endpoints) are never held
back behind a count of big ones, as a fixed number of write slots did (measured: 64 slots
held up to 0.5 s each by clients slow to read capped a storm at ~128 writes a second,
whatever their size). Writers are served in arrival order. A write holds its bytes for
`SLOT_HOLD` at most while others wait, and may be given a timeout: the window keeps both
itself (a timer for the holds, armed only while a writer waits, and one for the timeouts), so
a write needs no timer of its own (measured, bench/grpc_floor.py: a task and a timed wait per
write cost the event loop ~15-30 us a response in a storm, an `asyncio.timeout` per write
10-20 us). Pure asyncio; imports nothing of pilotfish.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

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
        self._deadlines: dict[_Held, float] = {}
        """Holds with a timeout, while held -> when it runs out (loop time)."""
        self._watchdog: asyncio.TimerHandle | None = None

    def hold(self, size: int, timeout: float | None = None) -> _Held:
        """A context manager holding `size` bytes (capped at the budget) of the window. With a
        `timeout`, the task holding it is cancelled once it has held it that long, and the
        `async with` raises TimeoutError (as `asyncio.timeout` would, with no timer of its
        own; the wait for the window is not counted)."""
        return _Held(self, min(max(size, 0), self.budget), timeout)

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
        self._deadlines.pop(held, None)
        if self._holds.pop(held, None) is not None:  # not given back by `_expire` already
            self.used -= held.take
        self._wake()

    def _time(self, held: _Held, timeout: float) -> None:
        """Cancel the task holding `held` if it still does in `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = self._deadlines[held] = loop.time() + timeout
        if self._watchdog is None or deadline < self._watchdog.when():
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog = loop.call_at(deadline, self._overdue)

    def _overdue(self) -> None:
        self._watchdog = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for held, deadline in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[held]
                held.cancel()
        if self._deadlines:
            self._watchdog = loop.call_at(min(self._deadlines.values()), self._overdue)

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
    __slots__ = ("_cancelling", "_overdue", "_task", "_timeout", "_window", "take")

    def __init__(self, window: WriteWindow, take: int, timeout: float | None) -> None:
        self._window = window
        self.take = take
        self._timeout = timeout
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0
        self._overdue = False

    async def __aenter__(self) -> None:
        await self._window._acquire(self)
        if self._timeout is not None:
            self._task = asyncio.current_task()
            assert self._task is not None, "a timed hold is taken in a task"
            self._cancelling = self._task.cancelling()
            self._window._time(self, self._timeout)

    def cancel(self) -> None:
        """Its timeout ran out (`WriteWindow._overdue`)."""
        assert self._task is not None
        self._overdue = True
        self._task.cancel()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        self._window._release(self)
        if not self._overdue or self._task is None:
            return
        # as `asyncio.timeout`: the cancellation is ours unless another came too
        ours = self._task.uncancel() <= self._cancelling
        if ours and kind is asyncio.CancelledError:
            raise TimeoutError from error
