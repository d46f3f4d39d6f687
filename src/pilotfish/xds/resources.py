"""xDS push order and the immutable, content-versioned `Snapshot` served to one proxy.

Owns the push order of the types (the type URLs and resource names are `pilotfish.type_urls`,
re-exported here) and `Snapshot`, which serialises every resource ONCE into `Any` bytes and
pre-encodes the protobuf wire fragments that responses are assembled from (the pieces of SotW
`resources` entries and delta `Resource` entries around the one copy of each resource's bytes;
`pilotfish.xds.encoding`), so a push to many streams copies bytes and packs nothing.

Versions are content hashes: a resource's version is the hash of its `Any` bytes; a type's version
is the hash of its (name, resource version) pairs. Equal content gives equal versions, so an
unchanged snapshot pushes nothing. Pure: no I/O. Errors: `SnapshotError` (a ValueError) for a
resource stored under a name that is not its own, or a message of the wrong type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import Message

from pilotfish.type_urls import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    SECRET,
    VIRTUAL_HOST,
    resource_name,
    short_name,
)
from pilotfish.xds.encoding import (
    EncodeCache,
    EncodedResource,
    SnapshotError,
    checked_encode,
)

# Push order: secrets before the listeners/clusters using them, clusters before their endpoints,
# listeners before their routes, route configurations before their on-demand virtual hosts
# (Envoy's "make before break" order, as Istio pushes).
PUSH_ORDER: tuple[str, ...] = (SECRET, CLUSTER, ENDPOINT, LISTENER, ROUTE, VIRTUAL_HOST)


def push_rank(type_url: str) -> int:
    """Position of a type in `PUSH_ORDER`; types not listed there come after all of them."""
    return PUSH_ORDER.index(type_url) if type_url in PUSH_ORDER else len(PUSH_ORDER)


WILDCARD_TYPES = frozenset({LISTENER, CLUSTER})
"""Types Envoy subscribes to as a whole (no names); the others are requested by name."""


def _view_version(resources: Iterable[EncodedResource]) -> str:
    return _pairs_version((r.name, r.version) for r in resources)


def _pairs_version(pairs: Iterable[tuple[str, str]]) -> str:
    """The hash of (name, version) pairs: what versions are made of (one digest of the pairs
    written one after the other, as fed to it piece by piece before)."""
    return hashlib.sha256("".join(f"{n}\0{v}\n" for n, v in pairs).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SotwView:
    """The part of one type a SotW stream gets: version, names, and the encoded resources."""

    version: str
    names: tuple[str, ...]
    body: bytes


@dataclass(frozen=True)
class ResourceChanges:
    """From one version of a type's resources to another (`TypeResources.changes_since`)."""

    changed: tuple[EncodedResource, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class TypeResources:
    """All resources of one type in a snapshot, sorted by name, with the type's version."""

    type_url: str
    by_name: Mapping[str, EncodedResource]
    version: str
    _views: dict[frozenset[str] | None, SotwView] = field(
        default_factory=dict, compare=False, repr=False
    )

    _versions: dict[frozenset[str], str] = field(default_factory=dict, compare=False, repr=False)
    _changes: dict[str, ResourceChanges] = field(default_factory=dict, compare=False, repr=False)

    def changes_since(self, old: TypeResources) -> ResourceChanges:
        """What differs from `old` to these resources: the resources that are new or whose
        version changed, and the names that are gone. Computed once per pair of versions, so a
        push to thousands of delta streams compares the two sets once, not once per stream."""
        found = self._changes.get(old.version)
        if found is None:
            before = old.by_name
            changed = tuple(
                r
                for n, r in self.by_name.items()
                if (b := before.get(n)) is None or b.version != r.version
            )
            removed = tuple(sorted(n for n in before if n not in self.by_name))
            found = self._changes[old.version] = ResourceChanges(changed, removed)
        return found

    def view_version(self, names: frozenset[str] | None) -> str:
        """Version of what a subscriber of `names` (None = wildcard) holds: the type version
        for wildcard, else the hash of the subscribed resources present. Cached per name set."""
        if names is None:
            return self.version
        version = self._versions.get(names)
        if version is None:
            version = _view_version(self.by_name[n] for n in sorted(names) if n in self.by_name)
            self._versions[names] = version
        return version

    def sotw_view(self, names: frozenset[str] | None) -> SotwView:
        """The response content for subscribed `names` (None = wildcard), cached per name set
        so that streams with the same subscription share one bytes object."""
        view = self._views.get(names)
        if view is None:
            if names is None:
                chosen = list(self.by_name.values())
            else:
                chosen = [self.by_name[n] for n in sorted(names) if n in self.by_name]
            view = SotwView(
                version=self.view_version(names),
                names=tuple(r.name for r in chosen),
                body=b"".join(piece for r in chosen for piece in r.sotw_pieces),
            )
            self._views[names] = view
        return view


_EMPTY_VERSION = _view_version(())
_NONE = TypeResources(type_url="", by_name={}, version=_EMPTY_VERSION)


class Snapshot:
    """Immutable per-proxy configuration: `{type_url: {name: resource}}`, serialised once.

    Build with `Snapshot({CLUSTER: {"c1": cluster}, ...})`. A name must match the resource's own
    name (`cluster_name` for endpoints) and every message of a type must be that type's message.
    The messages are kept (for config dumps and `updated`) and must not be mutated afterwards.
    `updated({ENDPOINT: {"c1": new_assignment, "c2": None}})` derives a snapshot re-encoding only
    the changed resources (None removes one).
    """

    __slots__ = ("__weakref__", "_messages", "_parts", "_types", "version")

    def __init__(
        self,
        resources: Mapping[str, Mapping[str, Message]],
        _reuse: Mapping[str, TypeResources] | None = None,
        cache: EncodeCache | None = None,
    ) -> None:
        types: dict[str, TypeResources] = {}
        messages: dict[str, dict[str, Message]] = {}
        for type_url, named in resources.items():
            reusable = _reuse.get(type_url) if _reuse else None
            encoded: dict[str, EncodedResource] = {}
            for name in sorted(named):
                message = named[name]
                previous = reusable.by_name.get(name) if reusable else None
                if previous is None:
                    previous = (
                        cache.encode(type_url, name, message)
                        if cache is not None
                        else checked_encode(type_url, name, message)
                    )
                encoded[name] = previous
            messages[type_url] = dict(sorted(named.items()))
            types[type_url] = TypeResources(
                type_url=type_url, by_name=encoded, version=_view_version(encoded.values())
            )
        self._types = types
        self._messages: dict[str, dict[str, Message]] | None = messages
        self._parts: tuple[Snapshot, ...] = ()
        self.version = _pairs_version((t, types[t].version) for t in sorted(types))
        """Version of the whole snapshot (hash of its type versions)."""

    @classmethod
    def compose(cls, parts: Sequence[Snapshot], previous: Snapshot | None = None) -> Snapshot:
        """One snapshot from parts whose names do not overlap (what a proxy shares with others,
        and what is its own), encoding nothing again: a type that only one part has IS that
        part's `TypeResources`, so the views cached on it are shared by every proxy composed
        from it. A type several parts have gets the union (in part order) and, as version: for
        a wildcard type, the hash of the parts' versions (cheap for thousands of clusters); for
        a type requested by name, the version a subscriber of all its names ACKs (so the type
        version `/debug/syncz` compares ACKs with is the same whether or not it was split).
        `previous`: a snapshot composed before of parts mostly the same objects (a proxy's
        last): a type that none of the parts that differ (by position) has is taken from it as
        it is, so a change of one part costs that part's types (`_kept_types`)."""
        if previous is not None and previous._parts and _same_parts(previous._parts, parts):
            return previous
        kept = _kept_types(previous, parts) if previous is not None else {}
        snapshot = cls.__new__(cls)
        types: dict[str, TypeResources] = {}
        for type_url in sorted({t for part in parts for t in part._types}):
            if type_url in kept:
                types[type_url] = kept[type_url]
                continue
            present = [p._types[type_url] for p in parts if p._types.get(type_url, _NONE).by_name]
            if len(present) == 1:
                types[type_url] = present[0]
            elif present:
                by_name: dict[str, EncodedResource] = {}
                for found in present:
                    by_name.update(found.by_name)
                if type_url in WILDCARD_TYPES:
                    version = _pairs_version((str(i), r.version) for i, r in enumerate(present))
                else:  # what a subscriber of every name ACKs (`view_version`), as unsplit
                    version = _view_version(by_name[n] for n in sorted(by_name))
                types[type_url] = TypeResources(type_url, by_name, version)
        snapshot._types = types
        snapshot._messages = None
        snapshot._parts = tuple(parts)
        snapshot.version = _pairs_version((t, types[t].version) for t in sorted(types))
        return snapshot

    def share_types(self, pool: MutableMapping[tuple[str, str], TypeResources]) -> None:
        """Use, for each type, the equal resources (same type and content version) already in
        `pool`, and add the others to it. The content is unchanged; the memory and the
        responses cached on a type's resources are then shared by every snapshot using them
        (`xds.cache.SnapshotCache` does this for what it holds)."""
        for type_url, found in self._types.items():
            key = (type_url, found.version)
            held = pool.get(key)
            if held is None:
                pool[key] = found
            elif held is not found:
                self._types[type_url] = held

    def _all_messages(self) -> dict[str, dict[str, Message]]:
        if self._messages is None:
            merged: dict[str, dict[str, Message]] = {}
            for part in self._parts:
                for type_url, named in part._all_messages().items():
                    merged.setdefault(type_url, {}).update(named)
            self._messages = merged
        return self._messages

    def updated(self, changes: Mapping[str, Mapping[str, Message | None]]) -> Snapshot:
        """A new snapshot with `changes` applied (None deletes); unchanged resources are reused."""
        merged = {t: dict(m) for t, m in self._all_messages().items()}
        reuse = {t: r for t, r in self._types.items() if t not in changes}
        for type_url, named in changes.items():
            target = merged.setdefault(type_url, {})
            old = self._types.get(type_url)
            kept = {n: e for n, e in old.by_name.items() if n not in named} if old else {}
            reuse[type_url] = TypeResources(type_url, kept, "")
            for name, message in named.items():
                if message is None:
                    target.pop(name, None)
                else:
                    target[name] = message
        return Snapshot(merged, reuse)

    def messages(self, type_url: str) -> Mapping[str, Message]:
        """The protobuf messages of one type, by name (read only)."""
        return self._all_messages().get(type_url, {})

    def resources(self, type_url: str) -> TypeResources:
        """The resources of one type (empty if the snapshot has none)."""
        found = self._types.get(type_url)
        if found is None:
            found = TypeResources(type_url=type_url, by_name={}, version=_EMPTY_VERSION)
            self._types[type_url] = found
        return found

    def type_urls(self) -> list[str]:
        """Types that have at least one resource, in push order (unknown types last)."""
        present = [t for t, r in self._types.items() if r.by_name]
        return sorted(present, key=lambda t: (push_rank(t), t))

    def types_with_resources(self) -> set[str]:
        """`type_urls()` unsorted."""
        return {t for t, r in self._types.items() if r.by_name}

    def version_of(self, type_url: str) -> str:
        """Content version of one type (the version a wildcard subscriber is sent)."""
        return self.resources(type_url).version

    def names(self, type_url: str) -> list[str]:
        """Sorted resource names of one type."""
        return list(self.resources(type_url).by_name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Snapshot) and other.version == self.version

    def __hash__(self) -> int:
        return hash(self.version)

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{short_name(t)}={len(self.resources(t).by_name)}" for t in self.type_urls()
        )
        return f"Snapshot(version={self.version}, {counts})"


def _same_parts(parts: Sequence[Snapshot], others: Sequence[Snapshot]) -> bool:
    return len(parts) == len(others) and all(a is b for a, b in zip(parts, others, strict=True))


def _kept_types(previous: Snapshot, parts: Sequence[Snapshot]) -> dict[str, TypeResources]:
    """The types of `previous` (composed) that `parts` compose the same: those that no part
    differing from `previous`'s at its position (as an object) has, non-empty there."""
    before = previous._parts
    if not before or len(before) != len(parts):
        return {}
    touched: set[str] = set()
    for old, new in zip(before, parts, strict=True):
        if old is not new:
            touched.update(t for t, r in old._types.items() if r.by_name)
            touched.update(t for t, r in new._types.items() if r.by_name)
    return {t: r for t, r in previous._types.items() if t not in touched and r.by_name}


__all__ = [
    "CLUSTER",
    "ENDPOINT",
    "LISTENER",
    "PUSH_ORDER",
    "ROUTE",
    "SECRET",
    "VIRTUAL_HOST",
    "WILDCARD_TYPES",
    "Snapshot",
    "SnapshotError",
    "resource_name",
    "short_name",
]
