"""The push queue: nodes waiting for their newest snapshot to be pushed (Istio's `PushQueue`).

A published snapshot does not turn into responses at once: its node joins the queue, and the
server's pusher takes nodes out oldest first, a batch at a time, yielding to the event loop in
between (so reads, ACKs and writes keep flowing during a mesh-wide change).

- Coalescing: a node is queued at most once. A newer snapshot for a queued node replaces the
  older one (the pusher reads the node's snapshot from the cache when it takes the node out);
  the node keeps its place and the time it was first queued, as Istio's queue merges pushes.
- Bounded: at most `max_depth` nodes (by default the server's stream limit, so every node with
  an open stream fits); `add` refuses a new node beyond it, and the caller pushes at once.
- Measured: `pilot_proxy_queue_time` (Istio's: seconds a proxy waits in the push queue before it
  is taken out) and `pilot_push_queue_depth` (pilotfish's: nodes waiting now; istiod has no gauge
  of its queue), in the `XdsMetrics` registry.

`PushQueue` is pure bookkeeping (the caller passes the time); `Pusher` is its small asyncio
driver (as `debounce.run_debounced` is the debouncer's): it takes nodes out and pushes them on
the event loop, and brings calls made from other threads onto that loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Gauge, Histogram

log = logging.getLogger("pilotfish.xds")
DEFAULT_BATCH = 100  # nodes pushed before yielding to the event loop (Istio's PILOT_PUSH_THROTTLE)


class PushQueue:
    """Nodes waiting for a push, oldest first, each at most once."""

    def __init__(
        self,
        max_depth: int,
        queue_time: Histogram | None = None,
        depth: Gauge | None = None,
    ) -> None:
        if max_depth < 1:
            raise ValueError("a push queue holds at least one node")
        self.max_depth = max_depth
        self._queue_time = queue_time
        self._depth = depth
        self._waiting: dict[str, float] = {}  # node id -> when it was first queued, oldest first

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._waiting

    def add(self, node_id: str, now: float) -> bool:
        """Queue a push for `node_id`; a node already queued keeps its place (True). False if
        the queue is full and the node is not in it: the caller pushes without queueing."""
        if node_id in self._waiting:
            return True
        if len(self._waiting) >= self.max_depth:
            return False
        self._waiting[node_id] = now
        self._observe_depth()
        return True

    def take(self, now: float, limit: int = DEFAULT_BATCH) -> list[str]:
        """Up to `limit` nodes, oldest first, out of the queue."""
        taken: list[str] = []
        while self._waiting and len(taken) < limit:
            node_id = next(iter(self._waiting))
            queued = self._waiting.pop(node_id)
            if self._queue_time is not None:
                self._queue_time.observe(max(0.0, now - queued))
            taken.append(node_id)
        self._observe_depth()
        return taken

    def discard(self, node_id: str) -> None:
        """Forget a node that has no stream left to push to."""
        if self._waiting.pop(node_id, None) is not None:
            self._observe_depth()

    def _observe_depth(self) -> None:
        if self._depth is not None:
            self._depth.set(len(self._waiting))


class Pusher:
    """Drives a `PushQueue` on the event loop: `push(node_id)` is called for every node taken
    out, `DEFAULT_BATCH` at a time, yielding to the loop between batches."""

    def __init__(self, queue: PushQueue, push: Callable[[str], None]) -> None:
        self.queue = queue
        self._push = push
        self._queued = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._handed: collections.deque[tuple[Callable[..., None], tuple[Any, ...]]] = (
            collections.deque()
        )  # calls from other threads, waiting for the loop (`on_loop`)
        self._waking = False

    def start(self) -> None:
        """Start pushing (from the event loop that serves the streams)."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def on_loop(self, call: Callable[..., None], *args: Any) -> None:
        """`call(*args)` now if on the pusher's loop (or before `start`), else soon on it, in
        the order of the calls. Calls from another thread are handed over in batches: one
        wake-up of the loop for all that came before it ran (a change publishes thousands of
        snapshots at once; each wake-up is a write to the loop's self-pipe)."""
        loop = self._loop
        if loop is None or _running_in(loop):
            call(*args)
            return
        self._handed.append((call, args))
        if not self._waking:  # else the scheduled `_run_handed` takes this one too
            self._waking = True
            loop.call_soon_threadsafe(self._run_handed)

    def _run_handed(self) -> None:
        self._waking = False  # before taking: a call handed from now on wakes the loop again
        while self._handed:
            call, args = self._handed.popleft()
            try:
                call(*args)
            except Exception:  # as the loop does for a callback: the others still run
                log.exception("callback %r failed", call)

    def schedule(self, node_id: str) -> None:
        """Queue a push for `node_id`; pushed at once if not started or the queue is full."""
        if self._task is None or not self.queue.add(node_id, time.monotonic()):
            self._push(node_id)
        else:
            self._queued.set()

    def discard(self, node_id: str) -> None:
        self.queue.discard(node_id)

    async def _run(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            while batch := self.queue.take(time.monotonic()):
                for node_id in batch:
                    try:
                        self._push(node_id)
                    except Exception:  # one broken push must not stop every later one
                        log.exception("push to %s failed", node_id)
                await asyncio.sleep(0)


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
