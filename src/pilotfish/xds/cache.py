"""`SnapshotCache`: the one place per-node snapshots live (go-control-plane's `SnapshotCache`).

The control plane is its only writer: it publishes a node's snapshot once the snapshot has been
checked (`translate.check_invariants`, before `set`) and the change that made it is committed.
The xDS server reads it (what a stream is answered with) and watches it (a published snapshot
is pushed to the node's open streams). Nobody else keeps a per-node copy.

- Versioned: a snapshot's version is its content hash (`Snapshot.version`); publishing an equal
  one changes nothing and notifies nobody. `generation` counts the publishes that changed
  something (`published_at`: the wall-clock time of the last; the two are `/debug/syncz`'s
  push version, as istiod's `PushVersion`), `versions()` is what `/debug/syncz` compares ACKs
  with.
- Shared, not copied: snapshots are immutable, and a snapshot or a type's resources equal to one
  already held (same content version) is replaced by the held one, so proxies that get the same
  bytes hold one object, and the responses cached on it are built once for all of them.
- Bounded: a node whose last stream closed is `release`d: its snapshot stays for a reconnect,
  but only the `max_idle` most recently released are kept (the oldest are dropped).

Thread-safe: the control plane publishes from a worker thread while the event loop reads.
Watchers are called in the publishing thread (the server hops to its loop). Pure: no I/O.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from pilotfish.xds.resources import Snapshot, TypeResources

Watcher = Callable[[str, Snapshot, float], None]
"""(node id, its new snapshot, monotonic time of the change that made it)."""


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds: per-node entries against the distinct objects behind them."""

    nodes: int
    idle: int
    snapshots: int  # distinct snapshot objects
    type_resources: int  # distinct per-type resource sets among them


class SnapshotCache:
    """Per-node immutable snapshots, shared between nodes whose content is equal."""

    def __init__(self, max_idle: int = 1024) -> None:
        self.max_idle = max_idle
        self.generation = 0
        self.published_at = time.time()  # wall clock of the newest generation
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}
        self._idle: dict[str, None] = {}  # released nodes, oldest first
        self._by_version: weakref.WeakValueDictionary[str, Snapshot] = weakref.WeakValueDictionary()
        self._types: weakref.WeakValueDictionary[tuple[str, str], TypeResources] = (
            weakref.WeakValueDictionary()
        )
        self._watchers: list[Watcher] = []

    # ---- reading ----------------------------------------------------------------------------
    def get(self, node_id: str) -> Snapshot | None:
        return self._snapshots.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._snapshots

    def __len__(self) -> int:
        return len(self._snapshots)

    def nodes(self) -> list[str]:
        return sorted(self._snapshots)

    def versions(self, node_id: str) -> dict[str, str]:
        """The node's newest version of each type it has (empty if it has no snapshot)."""
        snapshot = self._snapshots.get(node_id)
        return {t: snapshot.version_of(t) for t in snapshot.type_urls()} if snapshot else {}

    def stats(self) -> CacheStats:
        snapshots = list(self._snapshots.values())
        distinct = {id(s): s for s in snapshots}
        types = {id(s.resources(t)) for s in distinct.values() for t in s.type_urls()}
        return CacheStats(len(snapshots), len(self._idle), len(distinct), len(types))

    # ---- writing (the control plane) --------------------------------------------------------
    def watch(self, watcher: Watcher) -> None:
        """Call `watcher` for every snapshot published from now on that changed its node."""
        self._watchers.append(watcher)

    def set(self, node_id: str, snapshot: Snapshot, changed_at: float | None = None) -> bool:
        """Publish `snapshot` for `node_id`; False (and no notification) if it holds that
        content already. `changed_at` (monotonic) is when the change that made it reached the
        control plane: convergence is counted from there (now if not given)."""
        return bool(self.set_many({node_id: snapshot}, changed_at))

    def set_many(
        self, snapshots: Mapping[str, Snapshot], changed_at: float | None = None
    ) -> list[str]:
        """Publish several snapshots at once (one change); returns the nodes that changed."""
        at = time.monotonic() if changed_at is None else changed_at
        changed: list[tuple[str, Snapshot]] = []
        with self._lock:
            for node_id, snapshot in snapshots.items():
                previous = self._snapshots.get(node_id)
                if previous is not None and previous.version == snapshot.version:
                    continue
                held = self._shared(snapshot)
                self._snapshots[node_id] = held
                changed.append((node_id, held))
            if changed:
                self.generation += 1
                self.published_at = time.time()
        for node_id, held in changed:
            for watcher in self._watchers:
                watcher(node_id, held, at)
        return [node_id for node_id, _ in changed]

    def _shared(self, snapshot: Snapshot) -> Snapshot:
        """The held snapshot of equal content, else `snapshot` with each type's resources
        replaced by an equal set already held (so their cached responses are shared)."""
        held = self._by_version.get(snapshot.version)
        if held is not None:
            return held
        snapshot.share_types(self._types)
        self._by_version[snapshot.version] = snapshot
        return snapshot

    def release(self, node_id: str) -> None:
        """The node has no reader any more: keep its snapshot for a reconnect, up to
        `max_idle` released nodes (the oldest released are dropped)."""
        with self._lock:
            if node_id not in self._snapshots:
                return
            self._idle.pop(node_id, None)
            self._idle[node_id] = None
            while len(self._idle) > self.max_idle:
                oldest = next(iter(self._idle))
                del self._idle[oldest]
                self._snapshots.pop(oldest, None)

    def acquire(self, node_id: str) -> None:
        """The node has a reader again: its snapshot is no longer idle."""
        with self._lock:
            self._idle.pop(node_id, None)

    def clear(self, node_id: str) -> None:
        with self._lock:
            self._idle.pop(node_id, None)
            self._snapshots.pop(node_id, None)


class NodeSnapshots(Mapping[str, Snapshot]):
    """A read-only view of a cache limited to some nodes (e.g. the proxies a control plane
    tracks): `view[node]` is the cache's snapshot if the node is one of them."""

    def __init__(self, cache: SnapshotCache, nodes: Mapping[str, object]) -> None:
        self._cache = cache
        self._nodes = nodes

    def __getitem__(self, node_id: str) -> Snapshot:
        snapshot = self._cache.get(node_id) if node_id in self._nodes else None
        if snapshot is None:
            raise KeyError(node_id)
        return snapshot

    def __iter__(self) -> Iterator[str]:
        return iter([n for n in list(self._nodes) if n in self._cache])

    def __len__(self) -> int:
        return sum(1 for _ in self)
