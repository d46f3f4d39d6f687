"""`SnapshotAssembly`: a proxy's snapshot composed of its translated parts, each part checked
(`translate.check_invariants`) before anything is published. What a proxy is sent of a part
several proxies share (the part, or an on-demand sidecar's subset of it) is checked and
serialised once (one the next push context still uses, e.g. an outbound block no change
touched, is not checked again: `rotate` keeps the previous context's checks one more push); a
proxy's own part is checked again only when it, or the names its shared parts give it,
changed (one spliced from a shape, `translate.own_shape`: its shape once after the same shared
parts, and its own names and addresses). A part kept across push contexts (`KeptPart`: what an
on-demand sidecar is sent of its route part) keeps its check and serialised form itself, for as
long as it lives, however many push contexts pass before a proxy is composed with it again;
`notes_about` picks what translation warned of about the objects of a change."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.objects import ConfigObject, Diagnostic
from pilotfish.translate import check_invariants, message_facts
from pilotfish.translate.invariants import Holdings, check_spliced, holdings, pieces_problems
from pilotfish.translate.own_shape import OwnShape, SplicedPart
from pilotfish.translate.resources import KeptPart, ProxyResources
from pilotfish.type_urls import LISTENER, RESOURCE_TYPES
from pilotfish.xds.encoding import EncodeCache, checked_encode, encoded_value
from pilotfish.xds.resources import Snapshot, TypeResources


class _Held:
    """A piece of a part as sent: problems, snapshot, `holdings`, the names it was checked after."""

    __slots__ = ("_holdings", "context", "problems", "snapshot")

    def __init__(
        self,
        problems: list[str],
        snapshot: Snapshot,
        context: tuple[Names, ...],
        found: Holdings | Callable[[], Holdings],
    ) -> None:
        self.problems, self.snapshot, self.context = problems, snapshot, context
        self._holdings = found

    def holdings(self) -> Holdings:
        if callable(self._holdings):
            self._holdings = self._holdings()
        return self._holdings

    def after(self, context: tuple[Names, ...]) -> bool:
        return len(context) == len(self.context) and all(
            a is b for a, b in zip(self.context, context, strict=True)
        )


def _holdings_of(part: ProxyResources) -> Callable[[], Holdings]:
    """`holdings(part)` once asked for, without a reference to `part`: a `KeptPart` holds
    its `_Held`, and one back would be a cycle, which `gc_freeze` freezes with the rest and
    never frees once the carry drops the part (RSS grew ~2.5 MB a DestinationRule change at
    200 services / 400 proxies). Asked for only while the part is in a composition."""
    held = weakref.ref(part)

    def found() -> Holdings:
        alive = held()
        assert alive is not None, "holdings of a part no composition holds"
        return holdings(alive)

    return found


class _Checked:
    """A shared part (or the subset of one an on-demand sidecar is sent), its invariant
    problems, the parts before it that it was checked with (whole: a subset's references may
    name what the sidecar gets on demand), and its snapshot, made when some proxy is first
    sent it. A part only ever sent in subsets is never checked or serialised whole: a change
    of one VirtualService costs its holders' subsets, not their namespaces' whole route
    configurations."""

    __slots__ = ("context", "held", "part", "problems", "snapshot")

    def __init__(
        self, part: ProxyResources, problems: list[str], context: tuple[ProxyResources, ...]
    ) -> None:
        self.part, self.problems, self.context = part, problems, context
        self.snapshot: Snapshot | None = None
        self.held: _Held | None = None  # what is sent of it, one for every proxy sent it


class _Composed:
    """A node's last composition: its shared parts, the pieces sent of each (in order) with
    what was found of them (`_Held`), and the snapshot; the next composition takes from it
    what is the same (`SnapshotAssembly.compose`)."""

    __slots__ = ("held", "pieces", "shared", "snapshot")

    def __init__(
        self,
        shared: tuple[ProxyResources, ...],
        pieces: tuple[tuple[ProxyResources, ...], ...],
        held: tuple[tuple[_Held, ...], ...],
        snapshot: Snapshot,
    ) -> None:
        self.shared, self.pieces, self.held, self.snapshot = shared, pieces, held, snapshot

    def same_context(self, shared: tuple[ProxyResources, ...]) -> int:
        """How many leading shared parts are the very ones of the last composition (the
        parts before a part are what its pieces were checked after)."""
        count = 0
        for old, new in zip(self.shared, shared, strict=False):
            if old is not new:
                break
            count += 1
        return count


Names = tuple[frozenset[str], ...]
"""A part's names of each type (`RESOURCE_TYPES` order): all a check after it reads of it."""
SharedChecks = dict[int, _Checked]
"""id(shared part) -> its check."""


@dataclass
class SnapshotAssembly:
    encoded: EncodeCache = field(default_factory=EncodeCache)  # serialised units, reused
    shared: SharedChecks = field(default_factory=dict)  # for the current push context
    previous: SharedChecks = field(default_factory=dict)  # the one before: reused if the same
    own: dict[str, tuple[ProxyResources, Snapshot, tuple[ProxyResources, ...]]] = field(
        default_factory=dict
    )
    """node id -> its own part and snapshot, as last published, and the shared parts it was
    last checked with."""

    composed: dict[str, _Composed] = field(default_factory=dict)
    """node id -> its last composition (what the next one takes as it is)."""

    shapes: dict[tuple[int, ...], tuple[OwnShape, tuple[ProxyResources, ...], list[str]]] = field(
        default_factory=dict
    )
    """(id(own shape), *ids(shared parts)) -> the shape's template's problems after them."""

    names: dict[int, tuple[ProxyResources, Names]] = field(default_factory=dict)
    """id(part) -> its names (one object for equal names: `interned`), this push context."""
    interned: dict[Names, Names] = field(default_factory=dict)
    interned_before: dict[Names, Names] = field(default_factory=dict)

    def rotate(self) -> None:
        """A new push context: shared parts are mostly new objects; checks and serialised
        units age by one."""
        self.previous, self.shared, self.shapes = self.shared, {}, {}
        self.names, self.interned_before, self.interned = {}, self.interned, {}
        self.encoded.rotate()

    def _names(self, part: ProxyResources) -> Names:
        """`part`'s names, the same object as long as they are the same names (a check after
        a part reads only its names: a new outbound block of the same clusters, e.g. after an
        endpoint change, leaves a `KeptPart`'s check standing)."""
        found = self.names.get(id(part))
        if found is None or found[0] is not part:
            names = tuple(frozenset(part[t]) for t in RESOURCE_TYPES)
            names = self.interned.get(names) or self.interned_before.get(names) or names
            self.interned[names] = names
            found = self.names[id(part)] = (part, names)
        return found[1]

    def _shared_check(self, part: ProxyResources, context: tuple[ProxyResources, ...]) -> _Checked:
        """`part`'s check after `context` (the parts before it)."""
        known = self.shared.get(id(part))
        if known is not None and known.part is part:
            return known
        known = self.previous.get(id(part))
        if not (known is not None and known.part is part and _same(known.context, context)):
            known = _Checked(part, check_invariants(part, context=context), context)
        self.shared[id(part)] = known
        return known

    def _snapshot(self, known: _Checked) -> Snapshot:
        if known.snapshot is None:
            known.snapshot = _piece_snapshot(known.part, self.encoded)
        return known.snapshot

    def _sent(self, part: ProxyResources, context: tuple[ProxyResources, ...]) -> _Held:
        """`part`'s problems after `context`, its snapshot and `holdings`; of a `KeptPart`,
        kept with it (it outlives push contexts: the check stands while the parts of
        `context` have the same names, and it keeps none of them alive)."""
        if not isinstance(part, KeptPart):
            known = self._shared_check(part, context)
            if known.held is None:
                snapshot = self._snapshot(known)
                known.held = _Held(known.problems, snapshot, (), lambda: holdings(part))
            return known.held
        held = part.held
        names = tuple(self._names(p) for p in context)
        if isinstance(held, _Held) and held.after(names):
            return held
        problems = check_invariants(part, context=context)
        snapshot = held.snapshot if isinstance(held, _Held) else _piece_snapshot(part, self.encoded)
        part.held = _Held(problems, snapshot, names, _holdings_of(part))
        return part.held

    def settle(self) -> None:
        """Every proxy's snapshot was composed since the last `rotate`: the checks and
        serialised units of the push context before are no longer needed (dropped now, not at
        the next `rotate`: they hold its parts and their bytes)."""
        self.previous = {}
        self.encoded.forget_previous()

    def compose(
        self,
        node_id: str,
        shared: tuple[ProxyResources, ...],
        own: ProxyResources,
        same_names: bool = False,
        published: tuple[tuple[ProxyResources, ...], ...] | None = None,
    ) -> tuple[Snapshot | None, list[str]]:
        """The node's snapshot of its parts and no problem, or None and the problems found.
        `same_names`: the shared parts name what they named when `own` was last checked and
        published, so its check and serialised form stand. `published`: what is sent instead
        of `shared`, part by part a subset of it in one piece or more (on-demand clusters and
        virtual hosts): it is what is checked, each piece against the whole parts before it,
        and the pieces of one part against each other (`pieces_problems`). What the node's
        last composition holds of the same piece after the same parts (objects) is taken as
        it is: checked then, and its types in the snapshot composed then (`_Composed`)."""
        parts: list[Snapshot] = []
        problems: list[str] = []
        last = self.composed.get(node_id)
        same_before = last.same_context(shared) if last is not None else 0
        all_sent: list[tuple[ProxyResources, ...]] = []
        all_held: list[tuple[_Held, ...]] = []
        for index, part in enumerate(shared):
            sent = (part,) if published is None else published[index]
            same = last is not None and index <= same_before and index < len(last.pieces)
            known = last.pieces[index] if last is not None and same else None
            pieces = tuple(
                last.held[index][at]
                if last is not None and known is not None and at < len(known) and known[at] is p
                else self._sent(p, shared[:index])
                for at, p in enumerate(sent)
            )  # whole or not
            for piece in pieces:
                problems.extend(piece.problems)
                parts.append(piece.snapshot)
            if len(pieces) > 1 and not (known is not None and _same(known, sent)):
                problems.extend(pieces_problems([p.holdings() for p in pieces]))
            all_sent.append(sent)
            all_held.append(pieces)
        known_own = self.own.get(node_id)
        same_own = known_own is not None and known_own[0] is own
        if not same_names and same_own and known_own is not None:
            same_names = _same(known_own[2], shared)  # the very parts it was checked with (an
            # on-demand sidecar asking for more: its parts are as they were)
        if not same_names or not same_own or known_own is None:
            problems.extend(self._own_problems(own, shared))
            if known_own is None or not same_own:  # serialised again only if new
                known_own = (own, _own_snapshot(own, known_own, self.encoded), shared)
        if problems:
            return None, problems
        self.own[node_id] = (own, known_own[1], shared)
        before = last.snapshot if last is not None else None
        snapshot = Snapshot.compose([*parts, known_own[1]], previous=before)
        self.composed[node_id] = _Composed(shared, tuple(all_sent), tuple(all_held), snapshot)
        return snapshot, []

    def _own_problems(self, own: ProxyResources, shared: tuple[ProxyResources, ...]) -> list[str]:
        """`own`'s problems after `shared`. A part spliced from a shape (`own_shape`): its
        shape's template checked once after the same parts, and its own names and addresses
        (`check_spliced`); the whole part if the template has problems (named as its own)."""
        if not isinstance(own, SplicedPart):
            return check_invariants(own, context=shared)
        key = (id(own.shape), *(id(p) for p in shared))
        found = self.shapes.get(key)
        if found is None or found[0] is not own.shape or not _same(found[1], shared):
            problems = check_invariants(own.shape.template(), context=shared)
            found = self.shapes[key] = (own.shape, shared, problems)
        return check_invariants(own, context=shared) if found[2] else check_spliced(own, shared)

    def forget(self, node_id: str) -> None:
        self.own.pop(node_id, None)
        self.composed.pop(node_id, None)


def _same(parts: tuple[ProxyResources, ...], others: tuple[ProxyResources, ...]) -> bool:
    return len(parts) == len(others) and all(a is b for a, b in zip(parts, others, strict=True))


def _piece_snapshot(part: ProxyResources, cache: EncodeCache) -> Snapshot:
    """What is sent of a shared part, serialised: its types that hold resources (a type no
    part of a composition holds is left out of it either way: `Snapshot.compose`)."""
    return Snapshot({t: found for t, found in part.items() if found}, cache=cache)


def _own_snapshot(
    own: ProxyResources,
    before: tuple[ProxyResources, Snapshot, object] | None,
    cache: EncodeCache,
) -> Snapshot:
    """`own` serialised, reusing what `before` (the node's last own part and its snapshot)
    serialised of the very same messages (a change that rebuilt a few of them); of a spliced
    part (`own_shape.SplicedPart`), its listeners are their heads and their shape's bytes, and
    the messages it shares with its shape are serialised once (`cache`)."""
    reuse = {}
    for type_url in RESOURCE_TYPES if before is not None else ():
        assert before is not None
        held, now, snapshot = before[0][type_url], own[type_url], before[1]
        same = {
            name: encoded
            for name, encoded in snapshot.resources(type_url).by_name.items()
            if name in now and held.get(name) is now[name]
        }
        reuse[type_url] = TypeResources(type_url, same, "")
    if not isinstance(own, SplicedPart):  # its listeners of the bytes read for their facts
        listeners = dict(reuse[LISTENER].by_name) if LISTENER in reuse else {}
        for name, listener in own[LISTENER].items():
            if name not in listeners:
                value = message_facts.serialised(listener)
                listeners[name] = checked_encode(LISTENER, name, listener, value)
        reuse[LISTENER] = TypeResources(LISTENER, listeners, "")
        return Snapshot(own, reuse)
    listeners = dict(reuse[LISTENER].by_name) if LISTENER in reuse else {}
    for name, (standin, head) in own.heads.items():
        if name not in listeners:
            listeners[name] = encoded_value(LISTENER, name, head + own.shape.rest[standin][1])
    reuse[LISTENER] = TypeResources(LISTENER, listeners, "")
    return Snapshot(own, reuse, cache=cache)


class SharedNames:
    """Whether two tuples of a proxy's shared parts name the same resources (what its own part
    may reference), for one change: proxies share the part objects, so each part's names are
    listed once, and a pair of tuples is compared once."""

    def __init__(self) -> None:
        self._parts: dict[int, tuple[ProxyResources, tuple[frozenset[str], ...]]] = {}
        self._same: dict[tuple[tuple[int, ...], tuple[int, ...]], bool] = {}
        self._pairs: dict[tuple[int, int], bool] = {}  # ids of parts `of` holds (alive)
        self._held: list[tuple[ProxyResources, ...]] = []  # no other tuple takes their ids

    def same(self, old: tuple[ProxyResources, ...], new: tuple[ProxyResources, ...]) -> bool:
        """Whether both tuples of parts name the same resources (`compose`'s `same_names`):
        of each type, what the parts the two do not have in common name differs by nothing
        that is not named by the parts they have in common."""
        key = (tuple(id(p) for p in old), tuple(id(p) for p in new))
        found = self._same.get(key)
        if found is None:
            self._held.append(old + new)
            found = len(old) == len(new) and all(  # each part names what it named
                self._same_part(a, b) for a, b in zip(old, new, strict=True)
            )
            self._same[key] = found or self._differ_by_nothing(old, new)
        return self._same[key]

    def _same_part(self, a: ProxyResources, b: ProxyResources) -> bool:
        """Whether two parts name the same resources, compared once per pair of parts (the
        tuples of a namespace's sidecars differ by their route and namespace parts, but share
        the outbound block, whose thousands of names are compared once)."""
        if a is b:
            return True
        key = (id(a), id(b))
        found = self._pairs.get(key)
        if found is None:
            found = self._pairs[key] = self.of(a) == self.of(b)
        return found

    def _differ_by_nothing(
        self, old: tuple[ProxyResources, ...], new: tuple[ProxyResources, ...]
    ) -> bool:
        both = [p for p in old if any(p is q for q in new)]
        only = (
            [p for p in old if not any(p is q for q in both)],
            [p for p in new if not any(p is q for q in both)],
        )
        for index in range(len(RESOURCE_TYPES)):
            before, after = (frozenset().union(*(self.of(p)[index] for p in side)) for side in only)
            differ = before ^ after
            if differ and not all(any(n in self.of(p)[index] for p in both) for n in differ):
                return False
        return True

    def of(self, part: ProxyResources) -> tuple[frozenset[str], ...]:
        """The names of each type (in `RESOURCE_TYPES` order) in one part."""
        found = self._parts.get(id(part))
        if found is None or found[0] is not part:
            found = self._parts[id(part)] = (
                part,
                tuple(frozenset(part[t]) for t in RESOURCE_TYPES),
            )
        return found[1]


def notes_about(
    objects: Sequence[ConfigObject[Any]], notes: Mapping[str, Sequence[Diagnostic]]
) -> list[Diagnostic]:
    """Translation's warnings (`notes`: node id -> what its translation noted, e.g. a subset no
    rule defines) about `objects`, once each, so `apply` can show them."""
    touched = {(o.meta.kind, f"{o.meta.namespace}/{o.meta.name}") for o in objects}
    found: dict[str, Diagnostic] = {}
    for node_id in sorted(notes):
        for note in notes[node_id]:
            if (note.kind, note.name) in touched:
                found.setdefault(str(note), note)
    return list(found.values())
