"""`Carry`: translation results that outlive one push context, keyed only by what they read.

A change builds a new `PushContext`; most of what translation derived from the old one is still
right. A unit of translation (one service's cluster specs, one cluster, one endpoint assignment,
one virtual host) is stored under a key made of its explicit inputs (the `Service`, the
DestinationRule or VirtualService object that applies, the endpoints...) and is handed back for
a later push context only if, in addition, everything it read that is not in the key is
unchanged:
- every config kind it read through `PushContext.kind` (recorded while it was built, so a
  translator that starts reading a new kind, e.g. PeerAuthentication, is covered without any list
  kept by hand) is the same objects in the same order;
- every mapping it read through `Carry.watch` (e.g. the cluster specs a route looked up) gives
  the same object for every name it asked for.
Config objects are never mutated (a change brings new objects), so identity is content.

Entries live for the push they were used in and the next one (`start` sweeps the others;
`forget_previous` sooner, once a push context was translated for every proxy), so memory
follows the mesh, not its history. A unit asked for as `lasting` (a virtual host: small, and
otherwise built again by the next change that translates every proxy's routes once a few
changes that did not read it came between) lives `LASTING_PUSHES` push contexts after its
last use. A unit handed back keeps the units it was built of (they would be asked for again
with the same keys: its inputs are unchanged), so a whole block reused for several push
contexts still finds its pieces when it is next rebuilt. Results are shared: never mutate
them. Pure: a hit returns what building would have returned;
`tests/.../test_incremental.py` checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import TypeVar, cast, overload

from pilotfish.config.objects import AnyConfig
from pilotfish.model.push_context import PushContext

T = TypeVar("T")
V = TypeVar("V")
Kinds = dict[str, tuple[AnyConfig, ...]]
"""What a unit read through `PushContext.kind`: kind -> the objects it saw."""
Seen = list[tuple[Hashable, dict[str, object]]]
"""What a unit looked up in watched mappings: (name, {key: what it gave})."""


class _Entry:
    __slots__ = ("keep", "kinds", "parts", "value", "watched")

    def __init__(
        self,
        value: object,
        keep: object,
        kinds: Kinds,
        watched: Seen,
        parts: dict[Hashable, _Entry] | None = None,
    ) -> None:
        self.value = value
        self.keep = keep  # objects whose id() is part of the key stay alive with the entry
        self.kinds = kinds
        self.watched = watched
        self.parts = parts or {}
        """The units (and stable mappings) it was built of, theirs included, by key."""


class _Watched(Mapping[str, V]):
    """A mapping that records the names looked up in it (and what they gave)."""

    def __init__(self, inner: Mapping[str, V], seen: dict[str, object]) -> None:
        self.inner, self.seen = inner, seen

    def __getitem__(self, name: str) -> V:
        value = self.inner[name]
        self.seen[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        found = self.inner.get(name) if isinstance(name, str) else None
        if isinstance(name, str):
            self.seen[name] = found
        return found is not None

    @overload
    def get(self, name: str, /) -> V | None: ...
    @overload
    def get(self, name: str, /, default: V | T) -> V | T: ...
    def get(self, name: str, /, default: object = None) -> object:
        found = self.inner.get(name)
        self.seen[name] = found
        return default if found is None else found

    def __iter__(self) -> Iterator[str]:
        raise TypeError("iterating a watched mapping would read all of it: look names up")

    def __len__(self) -> int:
        return len(self.inner)


class _Held:
    """The units of many parts used in one push context, with the parts they were built of
    indexed by key as far as they have been asked for (a key is looked up once, not in each
    unit's parts in turn)."""

    __slots__ = ("holders", "index", "indexed")

    def __init__(self) -> None:
        self.holders: list[_Entry] = []
        self.index: dict[Hashable, _Entry] = {}
        self.indexed = 0

    def get(self, key: Hashable) -> _Entry | None:
        if self.indexed < len(self.holders):
            for holder in self.holders[self.indexed :]:
                self.index.update(holder.parts)  # any of them: equal keys, equal inputs
            self.indexed = len(self.holders)
        return self.index.get(key)


class Carry:
    """Cross-push memo of translation units (see the module docstring)."""

    MANY_PARTS = 8
    """A unit built of more units than this keeps them in its own `parts` (looked up there by
    a rebuild: `_find_previous`) instead of having them copied forward one by one."""
    LASTING_PUSHES = 8
    """How many push contexts a `lasting` unit outlives its last use by, at least (it is
    dropped at the first sweep after that: sweeps come every `LASTING_PUSHES` push contexts)."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._previous: dict[Hashable, _Entry] = {}
        self._holders = _Held()  # units of many parts used in this push context
        self._previous_holders = _Held()  # ... and in the previous one
        self._frames: list[tuple[Kinds, Seen, dict[Hashable, _Entry]]] = []
        self._push: PushContext | None = None
        self._latest: dict[Hashable, object] = {}
        self._lasting: dict[Hashable, tuple[_Entry, int]] = {}  # key -> (entry, push used)
        self._pushes = 0  # push contexts started
        self.hits = 0
        self.builds = 0

    def start(self, push: PushContext) -> None:
        """A new push context: entries not used since the previous one are dropped."""
        if push is self._push:
            return
        self._previous, self._entries = self._entries, {}
        self._previous_holders, self._holders = self._holders, _Held()
        self._push = push
        self._pushes += 1
        oldest = self._pushes - self.LASTING_PUSHES
        if self._lasting and self._pushes % self.LASTING_PUSHES == 0:
            self._lasting = {k: v for k, v in self._lasting.items() if v[1] >= oldest}

    def forget_previous(self, push: PushContext) -> None:
        """`push` has been translated for every proxy: the previous push context's entries it
        did not reuse are dropped now rather than at the next `start` (a proxy that connects
        later builds what it needs of them again)."""
        if push is self._push:
            self._previous = {}

    def unit(
        self,
        push: PushContext,
        key: Hashable,
        build: Callable[[], T],
        keep: object = None,
        lasting: bool = False,
    ) -> T:
        """`build()`'s result for `key`, reused while everything it read is unchanged;
        `lasting`: kept for `LASTING_PUSHES` push contexts after its last use."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._find_previous(key)
            if entry is None and lasting:
                found = self._lasting.get(key)
                entry = found[0] if found is not None else None
            if entry is not None and self._valid(entry, push):
                self._adopt(key, entry)
            else:
                entry = None
        if entry is not None:
            self.hits += 1
            self._record_into_frames(key, entry)
            if lasting:
                self._lasting[key] = (entry, self._pushes)
            return cast(T, entry.value)  # built by the same `build` for this key
        kinds: Kinds = {}
        watched: Seen = []
        parts: dict[Hashable, _Entry] = {}
        self._frames.append((kinds, watched, parts))
        push.record_into(kinds)
        try:
            value = build()
        finally:
            push.stop_recording(kinds)
            self._frames.pop()
        self.builds += 1
        entry = _Entry(value, keep, kinds, watched, parts)
        self._adopt(key, entry)
        self._record_into_frames(key, entry)
        if lasting:
            self._lasting[key] = (entry, self._pushes)
        return value

    def _find_previous(self, key: Hashable) -> _Entry | None:
        """The entry of `key` used in the previous push context, or one a unit of many parts
        used since was built of."""
        found = self._previous.get(key)
        if found is None:
            found = self._holders.get(key) or self._previous_holders.get(key)
        return found

    def _adopt(self, key: Hashable, entry: _Entry) -> None:
        """`entry` is used in this push context; so are the units it was built of (same
        inputs, same keys: still right), kept for its next rebuild."""
        self._entries[key] = entry
        if len(entry.parts) > self.MANY_PARTS:
            self._holders.holders.append(entry)
        elif entry.parts:
            for part_key, part in entry.parts.items():
                self._entries.setdefault(part_key, part)

    def inherit(self, key: Hashable, push: PushContext, max_parts: int) -> bool:
        """Inside a unit being built as the unit `key` (of this push context or the previous
        one) with some of its pieces rebuilt: the new unit read what that one read and is
        built of the units it was built of (kept), besides those it uses itself. False, and
        nothing recorded, if that unit is gone, not valid for `push`, or already built of
        more than `max_parts` units (derived again and again: a full rebuild sheds them)."""
        entry = self._entries.get(key) or self._find_previous(key)
        if entry is None or not self._frames or len(entry.parts) > max_parts:
            return False
        if not self._valid(entry, push):
            return False
        for kinds, watched, _ in self._frames:
            kinds.update(entry.kinds)
            watched.extend(entry.watched)
        self._frames[-1][2].update(entry.parts)
        return True

    @property
    def building(self) -> bool:
        """Whether a unit is being built (the units used now are recorded into it)."""
        return bool(self._frames)

    def latest(self, name: Hashable) -> object:
        """What was last `remember`ed as `name` (None if nothing): kept across push contexts,
        one value per name."""
        return self._latest.get(name)

    def remember(self, name: Hashable, value: object) -> None:
        self._latest[name] = value

    def stable(self, name: Hashable, mapping: Mapping[str, V]) -> Mapping[str, V]:
        """`mapping`, or the one returned for `name` in the previous push context if it holds
        the very same objects: so a mapping whose id() is part of a key stays the same object
        while its content does."""
        key = ("pilotfish.translate.carry.stable", name)
        previous = self._find_previous(key)
        if previous is not None:
            old = cast("Mapping[str, V]", previous.value)  # stored by this method for `name`
            if len(old) == len(mapping) and all(old.get(k) is v for k, v in mapping.items()):
                mapping = old
        entry = self._entries[key] = _Entry(mapping, None, {}, [])
        if self._frames:
            self._frames[-1][2][key] = entry
        return mapping

    @staticmethod
    def provide(push: PushContext, name: Hashable, mapping: Mapping[str, object]) -> None:
        """In `push`, the mapping known as `name` (e.g. a namespace's cluster specs) is
        `mapping`: what units recorded reading from `name` is checked against it."""
        push.memo[("pilotfish.translate.carry.watched", name)] = mapping

    def watch(self, name: Hashable, _values: type[V]) -> Mapping[str, V]:
        """The mapping provided as `name` (of `_values`) for the push context being translated,
        recording what the unit being built looks up in it."""
        assert self._push is not None and self._frames, "watch() belongs inside a unit"
        mapping: Mapping[str, V] = self._push.memo[("pilotfish.translate.carry.watched", name)]
        seen: dict[str, object] = {}
        self._frames[-1][1].append((name, seen))
        return _Watched(mapping, seen)

    def _record_into_frames(self, key: Hashable, entry: _Entry) -> None:
        """A unit used inside another one: the outer one read what the inner one read, and
        is built of it (and of what it is built of)."""
        for kinds, watched, _ in self._frames:
            kinds.update(entry.kinds)
            watched.extend(entry.watched)
        if self._frames:
            parts = self._frames[-1][2]
            parts[key] = entry
            if entry.parts:
                parts.update(entry.parts)

    @staticmethod
    def _valid(entry: _Entry, push: PushContext) -> bool:
        for kind, objects in entry.kinds.items():
            if not push.same_kind(kind, objects):
                return False
        for name, seen in entry.watched:
            current = push.memo.get(("pilotfish.translate.carry.watched", name))
            if current is None:
                return False
            for name, value in seen.items():
                now = current.get(name)
                if now is not value and now != value:
                    return False
        return True


def carry_of(push: PushContext) -> Carry:
    """The push context's `Carry` (a fresh one per push context when it brings none)."""
    found = push.carry
    if not isinstance(found, Carry):
        key = "pilotfish.translate.carry"
        found = push.memo.get(key)
        if found is None:
            found = push.memo[key] = Carry()
    found.start(push)
    return found
