"""Convergence: when each node's newest change started, and waiting for nodes to answer.

Owns `Convergence`: the start of each node's oldest change not yet sent (a change's start is
when it reached the control plane: an apply's arrival, the first event of a debounced batch, as
Istio's `PushRequest.Start`), observed into `pilot_proxy_convergence_time` once the node has
been sent everything, as istiod observes it (the server says when); and `wait`, which waits
until given nodes ACKed (or NACKed) given snapshots.
Nodes are re-checked only when one of their streams answered, so waiting on thousands of nodes
costs O(answers), not O(nodes x answers).

No I/O; asyncio only to wait. Called from the event loop running the xDS server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence

from prometheus_client import Histogram

from pilotfish.xds.messages import ConvergenceReport, ProxySyncStatus
from pilotfish.xds.resources import Snapshot
from pilotfish.xds.stream_state import StreamBase, SyncState


def node_sync_state(streams: Sequence[StreamBase], snapshot: Snapshot) -> tuple[SyncState, str]:
    """A node's state for `snapshot`, from its open streams: NACKED if any rejected it, ACKED if
    one has all of it, else PENDING. (A stream that ACKed it all cannot have rejected it: the
    cheaper `acked` first; `wait` asks this of every answer of a mesh-wide change.)"""
    acked = False
    for stream in streams:
        if stream.acked(snapshot):
            acked = True
            continue
        state = stream.sync_state(snapshot)
        if state[0] is SyncState.NACKED:
            return state
    return (SyncState.ACKED, "") if acked else (SyncState.PENDING, "")


def proxy_status(node_id: str, streams: Sequence[tuple[float, StreamBase]]) -> ProxySyncStatus:
    """A connected node's sync status (`/debug/syncz`): that of its newest stream, given as
    (connected at, stream) pairs."""
    newest = max(streams, key=lambda pair: pair[0])[1]
    return ProxySyncStatus(
        node_id=node_id,
        connected_since=min(at for at, _ in streams),
        streams=len(streams),
        delta=newest.delta,
        types=newest.status(),
    )


SyncOf = Callable[[str, Snapshot], tuple[SyncState, str]]
"""(node id, snapshot) → whether the node's streams hold it (NACKED with the error message)."""


class Convergence:
    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._started: dict[str, float] = {}  # node → monotonic start of its oldest unsent change
        self._unacked: set[str] = set()  # nodes with a change they have not ACKed yet
        self._progress = asyncio.Event()
        self._waiters: dict[int, set[str]] = {}  # wait calls → nodes that answered since
        self._counter = 0

    def changed(self, node_id: str, at: float) -> None:
        """A change that started at `at` gave the node a new snapshot."""
        pending_since = self._started.get(node_id)  # an earlier change not yet sent
        self._started[node_id] = at if pending_since is None else min(pending_since, at)
        self._unacked.add(node_id)

    def converged(self, node_id: str, sent_at: float) -> None:
        """The node has been sent all of its newest snapshot, at `sent_at` (monotonic):
        observe how long that took."""
        started = self._started.pop(node_id, None)
        if started is not None:
            self._histogram.observe(max(0.0, sent_at - started))

    def pending(self, node_id: str) -> bool:
        """The node has a change not sent to it yet."""
        return node_id in self._started

    def unacked(self, node_id: str) -> bool:
        """The node has a change it has not ACKed yet."""
        return node_id in self._unacked

    def acked(self, node_id: str) -> None:
        """The node ACKed all of its newest snapshot."""
        self._unacked.discard(node_id)

    def waiting(self) -> int:
        """How many nodes have a change they have not ACKed yet."""
        return len(self._unacked)

    def forget(self, node_id: str) -> None:
        self._started.pop(node_id, None)
        self._unacked.discard(node_id)

    def answered(self, node_id: str) -> None:
        """A stream of the node ACKed, NACKed or closed: wake the waits concerned (none, most
        of the time: a connect storm's ~16,000 ACKs made as many events for nobody)."""
        if not self._waiters:
            return
        for dirty in self._waiters.values():
            dirty.add(node_id)
        self._progress.set()
        self._progress = asyncio.Event()

    async def wait(
        self,
        expected: Mapping[str, Snapshot],
        timeout: float,
        sync_of: SyncOf,
        newest: Callable[[str], Snapshot | None],
    ) -> ConvergenceReport:
        """Until every node in `expected` ACKed (or NACKed) that snapshot, or `timeout`. A
        snapshot published after the expected one supersedes it (the control plane only moves
        forward): ACKing the `newest` counts."""
        started = time.monotonic()
        pending = set(expected)
        acked: list[str] = []
        nacked: dict[str, str] = {}
        dirty = set(expected)
        key = self._counter = self._counter + 1
        self._waiters[key] = dirty
        try:
            while True:
                for node_id in dirty & pending:
                    state, message = sync_of(node_id, newest(node_id) or expected[node_id])
                    if state is SyncState.NACKED:
                        nacked[node_id] = message
                    elif state is SyncState.ACKED:
                        acked.append(node_id)
                    else:
                        continue
                    pending.discard(node_id)
                dirty.clear()
                remaining = started + timeout - time.monotonic()
                if not pending or remaining <= 0:
                    break
                progress = self._progress
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(progress.wait(), remaining)
        finally:
            del self._waiters[key]
        return ConvergenceReport(
            acked=tuple(sorted(acked)),
            nacked=dict(sorted(nacked.items())),
            missing=tuple(sorted(pending)),
            elapsed=time.monotonic() - started,
        )
